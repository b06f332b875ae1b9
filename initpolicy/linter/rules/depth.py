"""The dynamic rules' view along depth: the layers of the pass in execution order, which
of them play the same role (``h.0.mlp.c_fc``, ``h.1.mlp.c_fc``, ...), and the trend of a
series over such a group.

>>> from initpolicy.linter.probe import LayerStat
>>> _strict_key(LayerStat("h.3.mlp.c_fc", "Linear", "gelu", 7))
('Linear', 'h.*.mlp.c_fc')
"""

from __future__ import annotations

import itertools
import math
import re

from ..families import EMBEDDING_TYPES, NORM_TYPES, is_type
from ..probe import LayerStat
from ..rule import LintContext
from ..structure import reachable


def _strict_key(st: LayerStat) -> tuple[str, str]:
    return st.type, re.sub(r"(?:(?<=\.)|^)\d+(?=\.|$)", "*", st.name)


def _loose_key(st: LayerStat) -> tuple[str, str]:
    return st.type, re.sub(r"\d+$", "*", _strict_key(st)[1])


def by_depth(ctx: LintContext) -> list[LayerStat]:
    """The layers of the dynamic pass in execution order (none when it did not run)."""
    return sorted(ctx.stats or (), key=lambda st: st.depth)


def groups(ctx: LintContext) -> list[list[LayerStat]]:
    """Layers that play the same role at successive depths of one signal path, in
    execution order: same type and the same name up to indices (``h.*.mlp.c_fc``; a layer
    alone in its group joins those named alike up to a trailing number, ``fc1``, ``fc2``),
    split wherever a member's output does not reach the next member without a
    normalization or a residual join (parallel heads, the stages of a normalized network,
    the blocks of a residual network are not one plain path). Left out: norms, embeddings, layers whose
    scale a normalization resets (normalized, renormalized, scale-invariant), gate
    branches, layers fed by constants only (a position-bias MLP)."""
    usable = []
    for st in by_depth(ctx):
        lay = ctx.graph.layer(st.name)
        if is_type(lay, NORM_TYPES + EMBEDDING_TYPES) or st.out_std is None:
            continue
        if (
            lay.resolution.normalized
            or lay.roles.renormalized
            or lay.roles.scale_invariant
            or lay.roles.gate
        ):
            continue
        if not lay.roles.input_dependent:
            continue
        usable.append(st)
    strict: dict[tuple[str, str], list[LayerStat]] = {}
    for st in usable:
        strict.setdefault(_strict_key(st), []).append(st)
    keyed: dict[tuple[str, str], list[LayerStat]] = {}
    for st in usable:
        key = _strict_key(st) if len(strict[_strict_key(st)]) > 1 else _loose_key(st)
        keyed.setdefault(key, []).append(st)
    out: list[list[LayerStat]] = []
    for members in keyed.values():
        out += _paths(ctx, members)
    return out


def _paths(ctx: LintContext, members: list[LayerStat]) -> list[list[LayerStat]]:
    """``members`` split into runs in which each reaches the next without a normalization
    or a residual join (without the graph's facts, one run)."""
    if not ctx.graph.roles:
        return [members]
    runs = [[members[0]]]
    for prev, st in itertools.pairwise(members):
        if reachable(ctx.graph, prev.name, [st.name]):
            runs[-1].append(st)
        else:
            runs.append([st])
    return runs


def trend(values: list[float]) -> float:
    """Median per-step growth factor of a positive series: a geometric drift keeps it away
    from 1, while a one-off jump (the raw input at the first layer) or a slow power law
    (deep ReLU nets' correlating inputs) leave it near 1.

    >>> round(trend([1.0, 0.5, 0.25, 0.125]), 3)
    0.5
    """
    logs = sorted(math.log(b / a) for a, b in itertools.pairwise(values))
    if not logs:
        return 1.0
    mid = len(logs) // 2
    median = logs[mid] if len(logs) % 2 else (logs[mid - 1] + logs[mid]) / 2
    return math.exp(median)
