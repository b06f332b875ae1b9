"""``mapped(INNER, fn)``: the std of a draw written through an element-wise map, and the
check that the map is defined wherever the inner scheme draws. Torch-free.

The inner draw's distribution is integrated numerically (a midpoint rule over the
uniform's interval, or over mean ± 8 std of a normal weighted by its density), the map
evaluated by the language's own evaluator: explain's std is that of the values apply
writes, and a map undefined on the draw (``log(x)`` of a normal) is a plan error, not NaNs.

>>> from initpolicy.language.ir import BinOp, Name, Num
>>> twice = BinOp(op="*", left=Name(name="x"), right=Num(value=2.0))
>>> round(map_std(twice, (0.0, 1.0), None), 6)  # 2·U(0, 1): std 1/sqrt(3)
0.57735
"""

from __future__ import annotations

import math
from functools import lru_cache

from ..catalog import DRAWN, distribution
from ..language import Expr, ExprError, evaluate

#: Panels of the composite 8-point Gauss-Legendre rule: the std to about 1e-12 relative
#: for smooth maps (RG-LRU's log(u^-1/2 - 1) over U(0.81, 0.998) included).
PANELS = 256
#: A normal's tails beyond this many std weigh less than 1e-15.
TAILS = 8.0
#: Gauss-Legendre nodes and weights on [-1, 1], 8 points (Abramowitz & Stegun 25.4.30).
_GL = (
    (0.1834346424956498, 0.3626837833783620),
    (0.5255324099163290, 0.3137066458778873),
    (0.7966664774136267, 0.2223810344533745),
    (0.9602898564975363, 0.1012285362903763),
)


@lru_cache(maxsize=256)
def map_std(
    fn: Expr, uniform: tuple[float, float] | None, normal: tuple[float, float] | None
) -> float:
    """The std of ``fn(x)`` for x ~ U(a, b) (``uniform``) or N(mean, std) (``normal``);
    ExprError where ``fn`` is undefined at some x the draw reaches."""
    if uniform is not None:
        lo, hi = uniform
        if lo == hi:
            evaluate(fn, {DRAWN: lo})
            return 0.0
        density = None
    else:
        assert normal is not None
        m, s = normal
        if s == 0:
            evaluate(fn, {DRAWN: m})
            return 0.0
        lo, hi = m - TAILS * s, m + TAILS * s
        density = (m, s)
    xs: list[float] = []
    ws: list[float] = []
    h = (hi - lo) / PANELS
    for k in range(PANELS):
        c = lo + (k + 0.5) * h
        for t, w in _GL:
            for x in (c - t * h / 2, c + t * h / 2):
                xs.append(x)
                ws.append(w if density is None else w * math.exp(-0.5 * ((x - m) / s) ** 2))
    total = sum(ws)
    ys = [evaluate(fn, {DRAWN: x}) for x in xs]
    mean = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    var = sum(w * (y - mean) ** 2 for w, y in zip(ws, ys, strict=True)) / total
    return math.sqrt(max(var, 0.0))


def inner_support(
    name: str, args: dict[str, float | str], std: float | None, bound: float | None
) -> tuple[tuple[float, float] | None, tuple[float, float] | None]:
    """The inner draw as (uniform interval, normal (mean, std)); (None, None) where it is
    neither (a truncated normal, a structured scheme): then no std is given."""
    if name == "uniform":
        return (float(args["a"]), float(args["b"])), None
    if name == "normal":
        return None, (float(args["mean"]), float(args["std"]))
    centred = distribution(name, args)
    if centred == "uniform" and bound is not None:
        return (-bound, bound), None
    if centred in ("normal", "untruncated_normal") and std is not None:
        return None, (0.0, std)
    return None, None


__all__ = ["ExprError", "inner_support", "map_std"]
