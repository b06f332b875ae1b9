"""The analytic static pass: a policy's values judged from the plan, with nothing drawn.

A plan entry knows everything the static rules read about the values it writes: the std
(:func:`initpolicy.catalog.schemes.moments`, exact), the bound of a uniform scheme, the one
value of a constant scheme, and that a random draw has no two equal units. So a policy
planned on any model, one on the meta device or of 70B parameters included, is judged
without a tensor: the rules get a :class:`~initpolicy.linter.subject.Stats` made from the
entry. Where the plan does not say (a ``default`` or ``keep`` rule, a parameter no rule
matched, one block of a packed tensor, a parametrized weight, ``eye``/``dirac``, the
recurrent layers whose rules read the values themselves), the parameter is measured on
its materialized values instead (:mod:`initpolicy.linter.stream` loads its module).
A tensor whose output blocks feed different activations (a packed GLU projection's
halves, an MoE experts tensor) is judged block by block as the sampled pass judges it
(:func:`~initpolicy.linter.subject.output_blocks`): one draw, so each block has the
entry's std, over its own rows.

The extremes of a normal draw are its expected ones, ``mean ± std·sqrt(2 ln n)`` for ``n``
values (within the scheme's reach: a truncated normal stops at its bounds); the rules
read them only to tell a uniform's bound, which is exact, from a normal's tails.

>>> round(spread(0.02, 10**6), 4)
0.1051
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

from ..catalog.scheme_spec import Facts
from ..catalog.schemes import SCHEMES, constant_value
from ..planner.plan import Entry, Plan
from ..tracer.graph import Layer, ModelGraph, ParamInfo
from .families import RECURRENT_TYPES, is_type
from .structure import chains
from .subject import Stats, Subject, make_subject, output_blocks, plan_entries


def spread(std: float, numel: int) -> float:
    """How far the most extreme of ``numel`` normal draws lies from the mean: about
    ``std·sqrt(2 ln numel)``."""
    return std * math.sqrt(2 * math.log(numel)) if numel > 1 else 0.0


def _center(e: Entry) -> float:
    """The scheme's mean: its ``mean`` argument, the middle of a uniform's [a, b], else 0."""
    args = e.args
    if isinstance(args.get("mean"), (int, float)):
        return float(args["mean"])
    a, b = args.get("a"), args.get("b")
    if e.bound is not None and isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (float(a) + float(b)) / 2
    return 0.0


def entry_stats(e: Entry, shape: tuple[int, ...] | None = None) -> Stats | None:
    """What the static rules read about ``e``'s values, from the plan alone (None where the
    plan does not say; see the module docstring); of the ``shape`` rows of its tensor where
    given (one block of its output: the same draw, fewer values)."""
    scheme = SCHEMES.get(e.scheme)
    p = e.param
    if scheme is None or e.block is not None or p.parametrization is not None or e.note:
        return None
    if e.transform is not None:  # mapped: the inner scheme's center and reach say nothing
        return None
    shape = p.shape if shape is None else shape
    numel = math.prod(shape) if shape else 1
    if scheme.kind == "constant":
        v = constant_value(e.scheme, e.args)
        return None if v is None else Stats(0.0, v, v, numel, math.isfinite(v))
    if scheme.kind != "random" or e.std is None or numel == 0:
        return None
    mean = _center(e)
    if e.bound is not None:
        return Stats(e.std, mean - e.bound, mean + e.bound, numel, True)
    facts = Facts(p.fan_in, p.fan_out, tuple(p.shape))
    reach = scheme.reach(e.args, facts)[0] if scheme.reach is not None else math.inf
    half = spread(e.std, numel)
    return Stats(e.std, max(mean - half, -reach), min(mean + half, reach), numel, True)


def blocked_tensors(plan: Plan) -> set[str]:
    """The tensors a plan writes block by block (LSTM gates, q/k/v): no one entry's
    moments describe them."""
    return {e.param.name for e in plan.entries if e.block is not None}


def planned_stats(
    layer: Layer, param: ParamInfo, e: Entry | None, blocked: set[str]
) -> Stats | None:
    """:func:`entry_stats` of the tensor ``param``, where its plan entry ``e`` describes
    it whole (None for a tensor written block by block, a recurrence's, whose rules read
    the values, or an embedding's with a padding row: a value no moment describes, IP124)."""
    padded = getattr(layer.module, "padding_idx", None) is not None
    if e is None or param.name in blocked or is_type(layer, RECURRENT_TYPES) or padded:
        return None
    return entry_stats(e)


@dataclass
class Analytic:
    """Subjects judged from the plan, and the parameters that must be measured."""

    subjects: list[Subject] = field(default_factory=list)
    measure: list[tuple[Layer, ParamInfo]] = field(default_factory=list)


def analytic(graph: ModelGraph, plan: Plan) -> Analytic:
    """Split the graph's floating parameters into those the plan describes (subjects with
    stats from their entry, no tensor) and those to measure."""
    entries = plan_entries(plan)
    blocked = blocked_tensors(plan)
    chain = chains(graph)
    out = Analytic()
    for layer, param in _floating(graph):
        e = entries.get(param.name)
        st = planned_stats(layer, param, e, blocked)
        if e is None or st is None:
            out.measure.append((layer, param))
            continue
        whole = make_subject(graph, layer, param, None, st, e, chain.get(layer.name, 0))
        # a packed GLU projection's halves, an experts tensor's blocks: judged one by one,
        # as the sampled pass judges them
        out.subjects += output_blocks(whole, partial(_block_stats, e))
    return out


def _block_stats(e: Entry, _rows: object, shape: tuple[int, ...]) -> Stats | None:
    return entry_stats(e, shape)


def _floating(graph: ModelGraph) -> Iterator[tuple[Layer, ParamInfo]]:
    for layer, param in graph.parameters():
        if param.kind == "parameter" and param.dtype.startswith(("float", "bfloat")):
            yield layer, param
