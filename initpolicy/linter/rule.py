"""The one interface of a lint rule, and the one context every rule reads.

A rule is a class with a stable code, a kebab-case name, a severity, a kind, a one-line
summary and a docstring with the sections What, Why, Anti-pattern and Fix (docs/lint.md
and ``initpolicy rule CODE`` are generated from them). ``check(ctx)`` yields its findings
from the inputs its kind needs:

- ``static`` rules loop over ``ctx.subjects`` (one per parameter, with measured stats),
- ``dynamic`` rules over ``ctx.stats`` (per layer, from one forward and backward pass),
- ``policy`` rules read ``ctx.plan`` (which policy rule set each parameter).

Torch-free.

>>> class Demo(LintRule):
...     '''What:
...     A parameter called ``scale``.'''
...     code, name, severity, kind, summary = "IP199", "demo", "info", "static", "a demo"
...     @classmethod
...     def check(cls, ctx):
...         for s in ctx.subjects:
...             yield cls.finding(s, f"{s} is here")
>>> [f.message for f in Demo.check(LintContext({}, graph=None, subjects=["scale"]))]
['scale is here']
>>> Demo.sections()["What"]
'A parameter called ``scale``.'
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from .findings import Finding, Severity

if TYPE_CHECKING:
    from ..planner import Plan
    from ..tracer import Layer, ModelGraph
    from .probe import LayerStat
    from .subject import Subject

Kind = Literal["static", "dynamic", "policy"]
#: The docstring sections a rule may have, in the order docs/lint.md shows them.
SECTIONS = ("What", "Why", "Exempt", "Anti-pattern", "Fix")


@dataclass(frozen=True)
class LintContext:
    """Everything a rule may read. ``stats`` is None when the dynamic pass did not run
    (``--static``, no inputs, or a forward pass that failed); ``plan`` is None without a
    policy."""

    thresholds: Mapping[str, float]
    graph: ModelGraph
    model: Any = None
    plan: Plan | None = None
    strict: bool = False
    subjects: Sequence[Subject] = ()
    stats: Sequence[LayerStat] | None = None
    #: Where the model's own code wrote each parameter's values (``file:line``, by
    #: parameter name; the extractor's recorder knows it when the CLI builds the model):
    #: a finding on those values points there rather than where the module was built.
    written: Mapping[str, str] = field(default_factory=dict)

    def located(self, layer: Layer) -> str | None:
        """Where a finding on ``layer`` points: the line that wrote its weight's values,
        else where the module was built."""
        for p in layer.parameters:
            if p.ndim >= 2 and (site := self.written.get(p.raw_name or p.name)) is not None:
                return site
        return layer.source

    def t(self, name: str) -> float:
        """The value of threshold ``name`` (see :mod:`initpolicy.linter.thresholds`)."""
        return self.thresholds[name]


class LintRule:
    """Base of every lint rule: subclasses set the class attributes, write the docstring
    sections and implement :meth:`check`."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    kind: ClassVar[Kind]
    summary: ClassVar[str]
    #: Threshold names the rule reads (documented in docs/lint.md).
    uses: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        """The rule's findings on the inputs in ``ctx``."""
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The docstring split at its ``Section:`` headers (What, Why, Anti-pattern, Fix)."""
        out: dict[str, list[str]] = {"What": []}
        current = "What"
        for line in cls.doc().splitlines():
            head = line.rstrip(":").strip()
            if line.endswith(":") and head in SECTIONS:
                current = head
                out[current] = []
                continue
            out[current].append(line)
        return {k: "\n".join(v).strip("\n") for k, v in out.items()}

    @classmethod
    def finding(cls, target: str, message: str, **kw: Any) -> Finding:
        """A Finding of this rule (its code, name and severity) on ``target``."""
        return Finding(cls.code, cls.name, cls.severity, target, message, **kw)
