"""The Plan: for every parameter (or buffer, or block of a packed tensor), the rule that
won, the scheme with its evaluated arguments, and the std/bound it will produce.

Produced by :mod:`initpolicy.planner.match`, executed by :mod:`initpolicy.applier.execution`, read by
``explain`` and the linter. Torch-free data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..catalog import Scheme, get
from ..language import Expr, PolicyIR, Rule, expression
from ..tracer import Layer, ModelGraph, ParamInfo


def rule_json(rule: Rule) -> dict[str, Any]:
    """A rule as explain JSON shows it: ``{"file", "line", "text"}``."""
    return {"file": rule.loc.file, "line": rule.loc.line, "text": rule.loc.text}


@dataclass
class Entry:
    """One write: a whole tensor, or one ``block`` of a packed tensor."""

    layer: Layer
    param: ParamInfo
    rule: Rule
    scheme: str
    #: Evaluated arguments, defaults filled in (numbers, or enumeration words).
    args: dict[str, float | str]
    std: float | None
    bound: float | None
    block: str | None = None
    #: Rules that matched this tensor too but lost to ``rule`` (earlier ones).
    overridden: tuple[Rule, ...] = ()
    #: Why the applier writes something other than the rule says (the RNN bias pair).
    note: str | None = None
    #: The rule's ``with`` multipliers of the optimizer's settings for this tensor (lr,
    #: sgd_lr, eps, wd), and of its layer's output (``output``); empty / None: unset.
    multipliers: dict[str, float] = field(default_factory=dict)
    output: float | None = None
    #: ``scaled(SCHEME, factor)``: the applier multiplies the scheme's draw by this.
    scale: float | None = None
    #: A calibration wrapper's evaluated arguments (``lsuv``: target, tol, max_iter): the
    #: scheme's draw is rescaled on data by :func:`initpolicy.calibrate`.
    calibration: dict[str, float | str] | None = None
    #: ``mapped(SCHEME, fn)``: the applier writes each drawn value x as fn(x), an
    #: expression over ``x`` (:mod:`initpolicy.catalog.wrappers`), element-wise.
    transform: Expr | None = None

    @property
    def name(self) -> str:
        return self.param.name if self.block is None else f"{self.param.name}[{self.block}]"

    @property
    def spec(self) -> Scheme:
        """The catalog's entry of :attr:`scheme` (what it writes, whether it keeps)."""
        return get(self.scheme)

    def to_json(self) -> dict[str, Any]:
        out = {
            "name": self.param.name,
            "block": self.block,
            "module": self.layer.name,
            "type": self.layer.type,
            "activation": self.layer.activation,
            "scheme": self.scheme,
            "args": self.args,
            "std": self.std,
            "bound": self.bound,
            "rule": rule_json(self.rule),
            "overridden": [rule_json(r) for r in self.overridden],
            "note": self.note,
        }
        if self.multipliers:  # a rule's `with` clause: additive to the contract
            out["multipliers"] = dict(self.multipliers)
        if self.scale is not None:  # additive to the contract, as placement
            out["scale"] = self.scale
        if self.transform is not None:  # additive to the contract, as scale
            out["map"] = expression(self.transform)
        if self.calibration is not None:
            out["calibration"] = {"wrapper": self.rule.scheme.name, **self.calibration}
        if self.param.placement is not None:  # a sharded tensor: additive to the contract
            out["placement"] = self.param.placement
        return out


@dataclass
class Output:
    """A forward multiplier: the output of the module named ``layer`` is multiplied by ``value``
    (set by ``rule``'s ``with output = ...``), installed by apply and attach."""

    layer: str
    value: float
    rule: Rule
    #: Only the output features [start, stop) (the last dim) are multiplied: the query
    #: block of a fused qkv projection (``as query``; docs/mup.md); None: the whole output.
    block: tuple[int, int] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"module": self.layer, "value": self.value}
        if self.block is not None:  # additive to the contract
            out["block"] = list(self.block)
        out["rule"] = rule_json(self.rule)
        return out

    @property
    def where(self) -> str:
        """The multiplied part as explain prints it: ``output`` or ``output[..., 0:64]``."""
        return "output" if self.block is None else f"output[..., {self.block[0]}:{self.block[1]}]"


@dataclass
class Plan:
    policy: PolicyIR
    graph: ModelGraph
    seed: int
    entries: list[Entry] = field(default_factory=list)
    #: Parameters no rule matched (they keep their values).
    unmatched: list[ParamInfo] = field(default_factory=list)
    #: Frozen (requires_grad=False) or explicitly skipped parameters, with the reason.
    skipped: list[tuple[ParamInfo, str]] = field(default_factory=list)
    #: Rules that matched nothing, and rules all of whose matches later rules override.
    never_matched: list[Rule] = field(default_factory=list)
    always_overridden: list[Rule] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: Forward multipliers by module name (``with output = ...``), in model order.
    outputs: dict[str, Output] = field(default_factory=dict)
