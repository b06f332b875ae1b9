"""A tensor's statistics (:class:`Stats`), measured or known from its plan entry: the
moments of the scheme that wrote it, where one entry describes it whole. What the sampled
pass (:mod:`initpolicy.linter.subject`) and the analytic pass
(:mod:`initpolicy.linter.analytic`) both judge."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..catalog import SCHEMES, Facts, constant_value
from ..planner import Entry, Plan
from ..tracer import Layer, ParamInfo
from .families import RECURRENT_TYPES, is_type


@dataclass
class Stats:
    """Measured over the tensor (population std, as an init scheme defines it)."""

    std: float
    min: float
    max: float
    numel: int
    finite: bool

    @property
    def absmax(self) -> float:
        return max(abs(self.min), abs(self.max))

    @property
    def constant(self) -> bool:
        return self.finite and self.numel > 1 and self.min == self.max

    @property
    def zero(self) -> bool:
        """Every value exactly 0 (the one zero-weight test of the rules)."""
        return self.constant and self.max == 0.0


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
