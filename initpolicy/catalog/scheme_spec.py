"""What a scheme is: its parameters, the checks on their values, and the math every
scheme shares (fans by mode, the truncated normal). Torch-free.

Each scheme is one :class:`Scheme` entry (see :mod:`initpolicy.catalog.schemes`): its
signature, the std/bound it produces (``moments``) and how it draws (``sample``, or
``value`` for a constant), side by side, so a new scheme is one entry.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .gains import TORCH_NONLINEARITIES

#: Enumeration words, by argument type. A word belongs to exactly one type.
ENUMS: dict[str, tuple[str, ...]] = {
    "mode": ("fan_in", "fan_out", "fan_avg"),
    "nonlinearity": TORCH_NONLINEARITIES,
    "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform"),
}
WORD_TYPE: dict[str, str] = {w: t for t, words in ENUMS.items() for w in words}

#: Keras/Flax: std of a unit normal truncated to (-2, 2); variance_scaling divides by it.
TRUNCATION_CORRECTION = 0.87962566103423978

Value = float | str
Values = Mapping[str, Value]


@dataclass(frozen=True)
class Facts:
    """The tensor (or block of a packed tensor) a scheme writes: its fans and shape."""

    fan_in: float
    fan_out: float
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        return math.prod(self.shape) if self.shape else 1


#: (std, bound) a scheme produces; None where not defined (``keep``, ``default``).
Moments = tuple[float | None, float | None]
#: Draw into ``out`` (a CPU float32 tensor of the facts' shape) from ``generator``.
Sampler = Callable[[Any, Values, Facts, Any], None]
#: The largest magnitude a draw reaches, its intermediate values included, and how that
#: number arises ("mean ± 9 std"): checked against the tensor's dtype before any write.
Reach = tuple[float, str]

#: How many std a normal draw can reach. torch's CPU sampler makes normals from uniforms
#: of at most 53 bits by Box-Muller, so none is beyond sqrt(2 · 53 · ln 2) = 8.6 std.
NORMAL_TAIL = 9.0


@dataclass(frozen=True)
class Param:
    """One argument of a scheme. ``type`` is ``"float"``, ``"int"`` or an ENUMS key."""

    name: str
    type: str = "float"
    default: Value | None = None
    required: bool = False
    #: Returns an error message ("must be >= 0") or None; only called on constant values.
    check: Callable[[Value], str | None] | None = None
    #: Restricts an enum argument to a subset of its words for this scheme.
    choices: tuple[str, ...] | None = None
    #: How the short form of a call writes it (:func:`initpolicy.language.printer.short_scheme`,
    #: ``normal(0, 0.02)``): ``"always"`` by position, its default when not given;
    #: ``"trailing"`` by position after those, up to the last one given (trunc_normal's
    #: a, b); ``"changed"`` as ``name=value``, only when given (xavier's gain).
    shown: Literal["always", "trailing", "changed"] = "always"


def _no_moments(v: Values, f: Facts) -> Moments:
    return None, None


@dataclass(frozen=True)
class Scheme:
    """One scheme: signature (torch's positional order), what it draws, and how."""

    name: str
    params: tuple[Param, ...] = ()
    summary: str = ""
    formula: str = ""
    #: Cross-argument check over constant values, e.g. a < b.
    check: Callable[[Mapping[str, Value]], str | None] | None = None
    #: True where the scheme needs a weight of >= 2 dimensions (fans, matrices).
    needs_matrix: bool = False
    #: "random" (drawn from the generator), "constant" (``value``), "special" (eye,
    #: dirac: fixed by position; keep, default: written by the applier, not here).
    kind: str = "random"
    torch_name: str | None = None
    #: (std, bound) for evaluated arguments (defaults filled in) and the tensor's facts.
    moments: Callable[[Values, Facts], Moments] = _no_moments
    #: How to draw; None for constants (see ``value``) and for keep/default.
    sample: Sampler | None = None
    #: The one number a constant scheme writes.
    value: Callable[[Values], float] | None = None
    #: The largest magnitude a random draw reaches (see :data:`Reach`); None for schemes
    #: whose values are 0 and 1 (eye, dirac) or that write no values (keep, default).
    reach: Callable[[Values, Facts], Reach] | None = None
    #: Each element drawn independently of the others' positions (any block of the tensor
    #: can be drawn alone); False where the values couple a whole matrix (orthogonal,
    #: sparse's per-column zeros) or depend on position (eye, dirac).
    elementwise: bool = True
    #: Who writes the tensor's values: ``"scheme"`` (this entry: ``sample``, ``value``, or
    #: position), ``"nobody"`` (``keep``: the tensor stays as it is), ``"module"``
    #: (``default``: the module's own ``reset_parameters()``, run by the applier).
    writer: Literal["scheme", "nobody", "module"] = "scheme"
    #: Transient bytes per element of the whole matrix that drawing it whole costs (each
    #: rank of a sharded model, for a coupled scheme: ``elementwise=False``). Measured on
    #: 4096 x 4096 float32: orthogonal holds the draw, torch's flattened copy, Q and
    #: LAPACK's work; sparse the draw, its (cols, rows) keys and argsort's int64 indices;
    #: any other holds the float32 matrix.
    whole_draw_bytes: int = 4
    #: For a scheme scaled by the fans and centred at 0, the distribution its elements
    #: are drawn from (``"normal"``, ``"uniform"``, ``"truncated_normal"``: cut at ±2 of
    #: the untruncated std); variance_scaling names it in its ``distribution`` argument.
    distribution: str | None = None

    @property
    def keeps(self) -> bool:
        """The tensor keeps its values (``keep``)."""
        return self.writer == "nobody"

    @property
    def runs_module_init(self) -> bool:
        """The module's own ``reset_parameters()`` writes the tensor (``default``)."""
        return self.writer == "module"

    @property
    def writes_values(self) -> bool:
        """The applier writes values this entry defines (every scheme but keep/default)."""
        return self.writer == "scheme"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def signature(self) -> str:
        parts = [p.name if p.required else f"{p.name}={p.default}" for p in self.params]
        return f"{self.name}({', '.join(parts)})"

    def defaults(self) -> dict[str, Value]:
        return {p.name: p.default for p in self.params if p.default is not None}


# --------------------------------------------------------------------------- checks


def nonneg(v: Value) -> str | None:
    return "must be >= 0" if isinstance(v, float | int) and v < 0 else None


def positive(v: Value) -> str | None:
    return "must be > 0" if isinstance(v, float | int) and v <= 0 else None


def sparsity(v: Value) -> str | None:
    return "must be in [0, 1)" if isinstance(v, float | int) and not 0 <= v < 1 else None


def probability(v: Value) -> str | None:
    return "must be in (0, 1)" if isinstance(v, float | int) and not 0 < v < 1 else None


def positive_int(v: Value) -> str | None:
    if isinstance(v, float | int) and (v < 1 or v != int(v)):
        return "must be a positive integer"
    return None


def a_below_b(values: Mapping[str, Value]) -> str | None:
    a, b = values.get("a"), values.get("b")
    if isinstance(a, float | int) and isinstance(b, float | int) and not a < b:
        return f"needs a < b (got a={a:g}, b={b:g})"
    return None


# --------------------------------------------------------------------------- shared math


def f(v: Values, key: str) -> float:
    """An evaluated numeric argument."""
    return float(v[key])


def mode_fan(mode: str, fan_in: float, fan_out: float) -> float:
    """The fan a ``mode`` word names (fan_avg is Keras's (fan_in + fan_out) / 2).

    >>> mode_fan("fan_avg", 4, 8)
    6.0
    """
    if mode == "fan_in":
        return fan_in
    if mode == "fan_out":
        return fan_out
    return (fan_in + fan_out) / 2.0


def _phi(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _Phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def _erfcx(x: float) -> float:
    """exp(x²)·erfc(x) for x >= 0, without underflow (asymptotic series past x = 25)."""
    if x < 25.0:
        return math.exp(x * x) * math.erfc(x)
    inv = 1.0 / (2.0 * x * x)
    return (1.0 - inv + 3.0 * inv * inv - 15.0 * inv**3) / (x * math.sqrt(math.pi))


def _upper_tail_std(alpha: float, beta: float) -> float:
    """Std of N(0, 1) truncated to [alpha, beta] with 0 <= alpha < beta: every term is
    scaled by exp(alpha²/2), so a truncation far in the tail ([100, 101]: std 0.0099)
    is not the 0 that Φ(101) - Φ(100) = 0 in floating point would give."""
    r = math.exp(-0.5 * (beta - alpha) * (beta + alpha)) if math.isfinite(beta) else 0.0
    tail_b = _erfcx(beta / math.sqrt(2.0)) * r if math.isfinite(beta) else 0.0
    z = 0.5 * (_erfcx(alpha / math.sqrt(2.0)) - tail_b)
    if z <= 0:
        return 0.0
    pa, pb = 1.0 / math.sqrt(2 * math.pi), r / math.sqrt(2 * math.pi)
    b_term = beta * pb if math.isfinite(beta) else 0.0
    var = 1.0 + (alpha * pa - b_term) / z - ((pa - pb) / z) ** 2
    return math.sqrt(max(var, 0.0))


def truncated_std(std: float, lo: float, hi: float) -> float:
    """Std of N(0, std²) truncated to [lo, hi] (standardized bounds lo/std, hi/std).

    >>> round(truncated_std(1.0, -2.0, 2.0), 12) == round(TRUNCATION_CORRECTION, 12)
    True
    >>> round(truncated_std(1.0, 100.0, 101.0), 6), round(truncated_std(1.0, -101.0, -100.0), 6)
    (0.009997, 0.009997)
    """
    if std == 0:
        return 0.0
    alpha, beta = lo / std, hi / std
    if beta <= 0:  # the same spread as its mirror image in the upper tail
        alpha, beta = -beta, -alpha
    if alpha >= 0:
        return std * _upper_tail_std(alpha, beta)
    z = _Phi(beta) - _Phi(alpha)
    if z <= 0:
        return 0.0
    pa = _phi(alpha) if math.isfinite(alpha) else 0.0
    pb = _phi(beta) if math.isfinite(beta) else 0.0
    a_term = alpha * pa if math.isfinite(alpha) else 0.0
    b_term = beta * pb if math.isfinite(beta) else 0.0
    var = 1.0 + (a_term - b_term) / z - ((pa - pb) / z) ** 2
    return std * math.sqrt(max(var, 0.0))


def normal_reach(mean: float, std: float) -> Reach:
    """A normal draw's reach: ``|mean| + NORMAL_TAIL · std``."""
    return abs(mean) + NORMAL_TAIL * std, f"mean ± {NORMAL_TAIL:g} std"


def uniform_reach(lo: float, hi: float) -> Reach:
    """U(lo, hi)'s reach: its bounds, and its width, which torch's sampler computes."""
    return max(abs(lo), abs(hi), hi - lo), "its bounds and their distance"


def zero_one_std(ones: int, numel: int) -> float:
    """Std of a tensor of ``numel`` elements, ``ones`` of them 1 and the rest 0."""
    if numel == 0:
        return 0.0
    p = ones / numel
    return math.sqrt(p * (1 - p))
