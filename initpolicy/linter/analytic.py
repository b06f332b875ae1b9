"""The analytic static pass: a policy's values judged from the plan, with nothing drawn.

A plan entry knows everything the static rules read about the values it writes: the std
(:func:`initpolicy.catalog.schemes.moments`, exact), the bound of a uniform scheme, the one
value of a constant scheme, and that a random draw has no two equal units. So a policy
planned on any model, one on the meta device or of 70B parameters included, is judged
without a tensor: the rules get a :class:`~initpolicy.linter.moments.Stats` made from the
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

>>> from initpolicy.linter.moments import spread
>>> round(spread(0.02, 10**6), 4)
0.1051
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial

from ..planner import Entry, Plan
from ..tracer import Layer, ModelGraph, ParamInfo
from .moments import Stats, blocked_tensors, entry_stats, planned_stats
from .structure import chains
from .subject import Subject, make_subject, output_blocks, plan_entries


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
