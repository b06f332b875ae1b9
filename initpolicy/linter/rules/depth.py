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


def _strict_key(st: LayerStat) -> tuple[str, str]:
    return st.type, re.sub(r"(?:(?<=\.)|^)\d+(?=\.|$)", "*", st.name)


def _loose_key(st: LayerStat) -> tuple[str, str]:
    return st.type, re.sub(r"\d+$", "*", _strict_key(st)[1])


def by_depth(ctx: LintContext) -> list[LayerStat]:
    """The layers of the dynamic pass in execution order (none when it did not run)."""
    return sorted(ctx.stats or (), key=lambda st: st.depth)


def groups(ctx: LintContext) -> dict[tuple[str, str], list[LayerStat]]:
    """Layers that play the same role at different depths, in execution order: same type
    and the same name up to indices (``h.*.mlp.c_fc``); a layer alone in its group joins
    those named alike up to a trailing number (``fc1``, ``fc2``, ...). Norms, embeddings
    and layers followed by a normalization (scale-invariant) are left out."""
    usable = []
    for st in by_depth(ctx):
        lay = ctx.graph.layer(st.name)
        if is_type(lay, NORM_TYPES + EMBEDDING_TYPES) or lay.normalized or not st.out_std:
            continue
        usable.append(st)
    strict: dict[tuple[str, str], list[LayerStat]] = {}
    for st in usable:
        strict.setdefault(_strict_key(st), []).append(st)
    out: dict[tuple[str, str], list[LayerStat]] = {}
    for st in usable:
        key = _strict_key(st) if len(strict[_strict_key(st)]) > 1 else _loose_key(st)
        out.setdefault(key, []).append(st)
    return out


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
