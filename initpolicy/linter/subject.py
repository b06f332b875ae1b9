"""What a static rule looks at: one parameter with its layer, measured statistics, the
plan entry that set it (with a policy), and the selector a fix rule should use.

Torch is imported inside the functions that read tensors, so rule listings stay fast.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from ..errors import PrintError
from ..language import Selector
from ..language import literal_glob as printer_literal_glob
from ..language import selector as printer_selector
from ..planner import Entry, Plan
from ..tracer import Layer, ModelGraph, ParamInfo
from .families import EMBEDDING_TYPES, RECURRENT_TYPES, UNITS_ON_DIM1, is_type
from .moments import Stats, blocked_tensors, planned_stats
from .structure import chains, judged_activation

#: Deliberate all-zero weights (LoRA's B matrix), by module or parameter name.
ZERO_ROLE_NAMES = ("*lora_b*", "*lora_B*")


@dataclass
class Subject:
    """One floating parameter as the static rules see it: its layer, the live tensor, its
    measured statistics, and where to point a finding (the policy line that set it, else
    the model line that built the layer)."""

    layer: Layer
    param: ParamInfo
    tensor: Any
    stats: Stats
    #: The activation this tensor's output meets (``linear`` for packed q/k/v projections).
    activation: str
    location: str | None = None
    #: Banded layers in the unnormalized chain of this tensor's layer (0 when the layer is
    #: no link of one; see :mod:`initpolicy.linter.structure`): how far a scale error
    #: compounds.
    chain: float = 0
    #: The activation's arguments where they are the block's own (``ParamInfo.outputs``),
    #: else None (the layer's).
    block_args: dict[str, Any] | None = None
    #: The layers this tensor's output goes into directly, where its activation is
    #: ``linear`` for that reason (``Resolution.into``, or its block's).
    into: tuple[str, ...] = ()

    @property
    def act_args(self) -> dict[str, Any]:
        return self.layer.act_args if self.block_args is None else self.block_args

    @property
    def scale(self) -> float:
        """The constant between the layer and its activation (SIREN's ``sin(30 * Wx)``):
        part of the gain, so the band judges ``std * scale``."""
        value = self.act_args.get("scale", 1.0)
        return abs(float(value)) if isinstance(value, (int, float)) and value else 1.0

    @property
    def name(self) -> str:
        return self.param.name

    @property
    def in_branch(self) -> bool:
        """A layer of a residual or gate branch: small on purpose (GPT-2, Fixup, SkipInit;
        a squeeze-excitation gate starting near sigmoid(0))."""
        return self.layer.roles.residual_branch or self.layer.roles.gate

    @property
    def mixing(self) -> bool:
        """The weight operand of a feature-mixing op (its rows are units), as the tracer
        saw it used; by shape where the tracer did not see it."""
        return self.param.ndim >= 2 and self.param.role in ("weight", None)

    @property
    def matrix(self) -> bool:
        """A weight with fans that a gain band applies to (not embeddings or recurrences)."""
        return (
            self.mixing
            and not is_type(self.layer, EMBEDDING_TYPES + RECURRENT_TYPES)
            and ("weight" in self.param.local or bool(self.param.outputs))
        )

    @property
    def groups(self) -> int:
        """The layer's convolution groups (1 for every other layer)."""
        module = self.layer.module
        groups = getattr(module, "groups", 1) if module is not None else 1
        return groups if isinstance(groups, int) and groups > 1 else 1

    @property
    def fans(self) -> tuple[float, float]:
        """(fan_in, fan_out) as the signal sees them: how many inputs feed one output and
        how many outputs one input feeds. torch's fan_out of a grouped convolution
        (``out_channels`` x kernel) counts every output channel although each input reaches
        only ``out_channels / groups`` of them; a depthwise conv's fan_out is the kernel's
        size, not ``channels`` times it. The plan keeps torch's fans (schemes match
        torch.nn.init); the rules judge a scale by these. (A transposed convolution's fans
        already count its groups: :func:`initpolicy.tracer.fans.shape_fans`.)"""
        p = self.param
        if self.groups == 1 or self.layer.type.startswith("ConvTranspose"):
            return p.fan_in, p.fan_out
        return p.fan_in, p.fan_out / self.groups

    @property
    def selector(self) -> str | None:
        """The policy selector of exactly this tensor, for fix rules (None where its names
        cannot be written in a policy)."""
        return selector(self.layer, self.param)

    def fix(self, scheme: str) -> str | None:
        """The rule ``SELECTOR -> scheme`` for exactly this tensor, or None."""
        return fix_rule(self.layer, self.param, scheme)


def selector(layer: Layer, param: ParamInfo, block: str | None = None) -> str | None:
    """``Linear named "fc1"`` for a layer's weight, ``Linear.bias named "fc1"`` otherwise;
    ``block`` selects one block of a packed tensor. Printed by the language's printer: the
    module's name is a quoted glob matching only it, and a name or class the policy
    language cannot write (a quote, a line break, a control character) gives None, never
    a rule that reads differently.

    >>> from initpolicy.tracer.graph import Layer, ParamInfo, Resolution
    >>> p = ParamInfo("fc1.bias", "bias", (4,), 3, 4)
    >>> selector(Layer("fc1", "Linear", ("Linear",), Resolution("relu")), p)
    'Linear.bias named "fc1"'
    >>> lstm = Layer("rnn", "LSTM", ("LSTM",), Resolution("linear"))
    >>> selector(lstm, ParamInfo("rnn.bias_ih_l0", "bias_ih_l0", (64,), 16, 64), "forget")
    'LSTM.bias_ih_l0[forget] named "rnn"'
    >>> print(selector(Layer('x" -> zeros()', "Linear", ("Linear",), Resolution("relu")), p))
    None
    """
    return layer_selector(layer, param.local, block)


def layer_selector(layer: Layer, local: str = "weight", block: str | None = None) -> str | None:
    """:func:`selector` of the parameter ``local`` of ``layer``."""
    typ = layer.type if layer.module is not None or layer.type else "Parameter"
    sel = Selector(
        types=(typ,),
        param=None if local == "weight" and block is None else local,
        block=block,
        named=printer_literal_glob(layer.name),
    )
    try:
        return printer_selector(sel)
    except PrintError:
        return None


def fix_rule(layer: Layer, param: ParamInfo, scheme: str, block: str | None = None) -> str | None:
    """``SELECTOR -> scheme`` for exactly this tensor, or None where the selector cannot
    be written (:func:`selector`)."""
    return layer_rule(layer, scheme, param.local, block)


def layer_rule(
    layer: Layer, scheme: str, local: str = "weight", block: str | None = None
) -> str | None:
    """:func:`fix_rule` of the parameter ``local`` of ``layer``."""
    sel = layer_selector(layer, local, block)
    return None if sel is None else f"{sel} -> {scheme}"


def stats_of(tensor: Any) -> Stats | None:
    """Population std, min and max of a floating tensor (None for other dtypes).

    Two passes over the data (std, aminmax); a NaN or Inf anywhere shows in them, so
    finiteness needs no pass of its own (this keeps GPT-2-sized models fast).

    >>> import torch
    >>> st = stats_of(torch.tensor([[0.0, 2.0], [0.0, 2.0]]))
    >>> (st.std, st.min, st.max, st.constant)
    (1.0, 0.0, 2.0, False)
    >>> stats_of(torch.zeros(3, 3)).zero
    True
    """
    import torch

    x = tensor.detach()
    if not x.is_floating_point() or x.numel() == 0:
        return None
    if x.numel() < 65536:
        x = x.to(torch.float64)
    elif x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    lo, hi = torch.aminmax(x)
    values = (float(torch.std(x, correction=0)), float(lo), float(hi))
    if not all(math.isfinite(v) for v in values):
        nan = float("nan")
        return Stats(nan, nan, nan, x.numel(), False)
    return Stats(*values, x.numel(), True)


def units(subject: Subject) -> Any:
    """The weight as a (units, inputs) matrix: one row per output unit (filter)."""
    t = subject.tensor.detach()
    if is_type(subject.layer, UNITS_ON_DIM1):
        t = t.transpose(0, 1)
    return t.reshape(t.shape[0], -1)


def tensor_of(model: Any, layer: Layer, param: ParamInfo) -> Any:
    """The live tensor of ``param`` (module attribute, else looked up on the model)."""
    if layer.module is not None and hasattr(layer.module, param.local):
        return getattr(layer.module, param.local)
    for name in (param.raw_name, param.name):
        if name and model is not None:
            try:
                return model.get_parameter(name)
            except AttributeError:
                try:
                    return model.get_buffer(name)
                except AttributeError:
                    continue
    return None


def plan_entries(plan: Plan | None) -> dict[str, Entry]:
    """The plan entry that sets each tensor (its whole-tensor entry, else its first block's)."""
    entries: dict[str, Entry] = {}
    if plan is not None:
        for e in plan.entries:
            if e.block is None or e.param.name not in entries:
                entries[e.param.name] = e
    return entries


def make_subject(
    graph: ModelGraph,
    layer: Layer,
    param: ParamInfo,
    tensor: Any,
    stats: Stats,
    entry: Entry | None,
    chain: float,
    written: str | None = None,
) -> Subject:
    """The Subject of one parameter: its judged activation and where a finding points
    (the policy rule that set it, else the line of the model's code that ``written`` its
    values, else where its module was built)."""
    activation = judged_activation(layer, graph.roles)
    if fnmatch.fnmatchcase(param.local, "*in_proj*") or param.local in (
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
    ):
        activation = "linear"  # attention mixes q/k/v before any nonlinearity
    location = (
        f"{entry.rule.loc.file}:{entry.rule.loc.line}"
        if entry is not None
        else written or layer.source
    )
    return Subject(
        layer=layer,
        param=param,
        tensor=tensor,
        stats=stats,
        activation=activation,
        chain=chain,
        location=location,
        into=layer.resolution.into if activation == "linear" else (),
    )


def subjects(
    graph: ModelGraph,
    model: Any,
    plan: Plan | None = None,
    layers: Any = None,
    names: Any = None,
    tick: Any = None,
    written: Mapping[str, str] | None = None,
) -> Iterator[Subject]:
    """Every floating parameter of the graph (of the layers named in ``layers``, and
    named in ``names``, where given), with its statistics and plan entry; ``tick()`` after
    each tensor is measured (progress)."""
    entries = plan_entries(plan)
    blocked = blocked_tensors(plan) if plan is not None else set()
    chain = chains(graph)
    found = [
        (layer, param, tensor)
        for layer, param in graph.parameters()
        if param.kind == "parameter"
        and (layers is None or layer.name in layers)
        and (names is None or param.name in names)
        and (tensor := tensor_of(model, layer, param)) is not None
        and tensor.is_floating_point()
    ]
    for (layer, param, tensor), st in zip(
        found, _statistics([t for _, _, t in found], tick), strict=True
    ):
        if st is None:
            continue
        e = entries.get(param.name)
        # a scheme's std is the plan's (exact), not the draw's: a verdict on a policy does
        # not depend on its seed, and is the analytic pass's (initpolicy.linter.analytic)
        planned = planned_stats(layer, param, e, blocked)
        exact = planned.std if planned is not None and st.finite else None
        st = st if exact is None else replace(st, std=exact)
        whole = make_subject(
            graph, layer, param, tensor, st, e, chain.get(layer.name, 0),
            (written or {}).get(param.raw_name or param.name),
        )  # fmt: skip
        yield from output_blocks(whole, partial(_measured, exact))


def _measured(std: float | None, rows: Any, _shape: tuple[int, ...]) -> Stats | None:
    """A block's statistics measured on its ``rows``, with the plan's ``std`` where the
    plan gives one."""
    st = stats_of(rows)
    return st if st is None or std is None else replace(st, std=std)


def output_blocks(
    s: Subject, block_stats: Callable[[Any, tuple[int, ...]], Stats | None]
) -> Iterator[Subject]:
    """``s`` as the rules judge it: whole, or one subject per block of its output where
    the blocks feed different activations (``ParamInfo.outputs``: a packed GLU
    projection's halves, an MoE experts tensor), each with its own rows, statistics,
    fans and activation. A block's name is the tensor's with its index
    (``mlp.Wi.weight[0:1152]``, ``experts.gate_up_proj[:, 0:768]``).

    ``block_stats(rows, shape)`` gives a block's statistics: measured on its rows (a view
    of the tensor), or, where the subject has no tensor (the analytic pass,
    :mod:`initpolicy.linter.analytic`), from the block's shape alone (``rows`` None)."""
    from ..shards import is_dtensor

    blocks = s.param.outputs
    if not blocks or is_dtensor(s.tensor):
        yield s
        return
    if len(blocks) == 1:
        b = blocks[0]
        act = judged_activation(_as(s.layer, b.activation))
        yield replace(
            s, activation=act, block_args=b.act_args, into=b.into if act == "linear" else ()
        )
        return
    for b in blocks:
        part = None if s.tensor is None else s.tensor.narrow(b.dim, b.start, b.stop - b.start)
        shape = tuple(b.stop - b.start if i == b.dim else n for i, n in enumerate(s.param.shape))
        st = block_stats(part, shape)
        if st is None:
            continue
        index = ":, " * b.dim + f"{b.start}:{b.stop}"
        param = replace(
            s.param, name=f"{s.param.name}[{index}]", shape=shape, fan_out=float(b.stop - b.start)
        )
        act = judged_activation(_as(s.layer, b.activation))
        yield replace(
            s,
            param=param,
            tensor=part,
            stats=st,
            activation=act,
            block_args=b.act_args,
            into=b.into if act == "linear" else (),
        )


def _as(layer: Layer, activation: str) -> Layer:
    """``layer`` as if its activation were ``activation`` (for :func:`judged_activation`)."""
    return replace(layer, resolution=replace(layer.resolution, activation=activation))


def _statistics(tensors: list[Any], tick: Any = None) -> list[Stats | None]:
    """:func:`stats_of` each tensor; on a sharded model, from one reduction of every
    shard's moments over the ranks (:mod:`initpolicy.shards.moments`), no tensor gathered."""
    from ..shards import is_dtensor

    if not any(is_dtensor(t) for t in tensors):
        out_plain = []
        for t in tensors:
            out_plain.append(stats_of(t))
            if tick is not None:
                tick()
        return out_plain
    from ..shards import tensor_moments

    out: list[Stats | None] = []
    for m in tensor_moments([(t, None) for t in tensors]):
        std = m.std(correction=0)
        if m.count + m.nonfinite == 0 or std is None:
            out.append(None)
        elif m.nonfinite:
            nan = float("nan")
            out.append(Stats(nan, nan, nan, m.count + m.nonfinite, False))
        else:
            out.append(Stats(std, m.min, m.max, m.count, True))
    return out


def zero_role(subject: Subject) -> str | None:
    """Why an all-zero weight is deliberate, or None (the documented exemption list)."""
    lay = subject.layer
    if not subject.stats.zero:
        return None
    if lay.resolution.residual:
        return "last layer of a residual branch"
    if subject.activation == "output":
        return "zero-initialized output head"
    names = (subject.param.name, lay.name)
    if any(fnmatch.fnmatchcase(n, pat) for n in names for pat in ZERO_ROLE_NAMES):
        return "LoRA B matrix"
    return None
