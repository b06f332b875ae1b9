"""Laws: how one tensor was initialized, as a catalog scheme with numbers.

:func:`law_of` turns a record into a :class:`Law` in the *policy's* terms: a kaiming or
variance_scaling ``mode`` is re-chosen so that the policy's fan (the fan table:
transformers' Conv1D and ConvTranspose differ from torch) equals the fan torch used; xavier
needs the same fan sum; where nothing matches (a write to a bigger tensor later split), the
law is made fan-free with torch's numbers. The law's std/bound are computed from the
record with *torch's* semantics (torch's fans of the view written), so that verification
compares what the policy plans against what the code did, not against our translation.

:func:`absolute` writes a record as a fan-free law (``normal``, ``uniform``,
``trunc_normal``, ``constant`` with numbers), evaluating kaiming, xavier and
variance_scaling with *torch's* fans of the view written; the numbers come from the
catalog's moments, so they are the ones the planner computes. :func:`affine` is the law
of ``x * c`` (``+ c``, ``/ c``, ``- c``, ``-x``) for ``x`` of a known law: BEiT's
``param.div_(sqrt(2 * layer_id))``, timm heads' ``mul_(head_init_scale)``,
``torch.randn(d) * 0.02``.

>>> affine("normal", {"mean": 0.0, "std": 1.0}, "mul", 0.02)
('normal', {'mean': 0.0, 'std': 0.02})
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..catalog import (
    DRAWN,
    SCHEMES,
    TRUNCATION_CORRECTION,
    constant_value,
    distribution,
    mode_fan,
    moments,
)
from ..language import BinOp, Call, Expr, Name, Neg, Num, expression
from ..planner import inner_support, map_std
from .fit import Fit
from .records import Record


@dataclass
class Law:
    """How one tensor (or one block) was initialized, as a policy scheme with numbers.

    ``how``: "recorded" (from a recognised write), "fitted" (from the values, see
    :mod:`.fit`), or "computed" (values the code computed and copied in: ``keep``).
    ``records``: the record, then the records it was derived from.
    """

    scheme: str
    args: dict[str, Any]
    std: float | None
    bound: float | None
    how: str
    records: tuple[Record, ...] = ()
    notes: tuple[str, ...] = ()
    fit: Fit | None = None
    #: The element-wise map of a transformed draw (``mapped(SCHEME, fn)``), as printed.
    fn: str | None = None

    def key(self) -> tuple[Any, ...]:
        """Equality of laws: the scheme and its numbers (12 significant digits), its map."""
        return (self.scheme, tuple(sorted((k, _r(v)) for k, v in self.args.items())), self.fn)


#: Where torch's own layers live: their ``reset_parameters`` is what ``default`` runs.
TORCH_LAYERS = "torch/nn/modules/"


def own_default(law: Law, types: tuple[str, ...]) -> bool:
    """Whether ``law`` is what a module of these types (its class and bases) gets from its
    own torch ``reset_parameters``: every record was written there, untransformed. The
    ``default`` scheme runs that very method, at whatever size the module is built."""
    recs = [r for r in law.records if r.parent is None]
    return (
        bool(recs)
        and len(recs) == len(law.records)
        and all(
            r.site.file.startswith(TORCH_LAYERS)
            and r.site.function.endswith(".reset_parameters")
            and r.site.function.rsplit(".", 1)[0] in types
            for r in recs
        )
    )


def _r(v: Any) -> Any:
    return float(f"{v:.12g}") if isinstance(v, float) else v


def torch_moments(r: Record) -> tuple[float | None, float | None]:
    """std and bound of a record with torch's semantics (torch's fans of the view)."""
    assert r.scheme is not None
    fan_in, fan_out = r.torch_fans
    return moments(r.scheme, r.args, fan_in=fan_in, fan_out=fan_out, shape=r.shape)


def law_of(
    r: Record, history: tuple[Record, ...], shape: tuple[int, ...], fans: tuple[float, float]
) -> Law | None:
    """Record ``r`` as the law of a tensor of ``shape`` with these (policy) fans; None for
    an unrecognised write, or a structured one (orthogonal, ...) of another view."""
    if r.scheme is None:
        return None
    std, bound = torch_moments(r)
    s, a = _in_policy_terms(r, shape, fans)
    if s is None:
        return None
    if r.fn is not None:  # a transformed draw: the std of the map's values
        uniform, normal = inner_support(s, a, std, bound)
        if uniform is None and normal is None and distribution(s, a) is not None:
            return None
        # a grid mapped (linspace: values, not a draw) has no std, as the planner says
        std = None if uniform is None and normal is None else map_std(r.fn, uniform, normal)
        return Law(s, a, std, None, "recorded", (r, *history), fn=expression(r.fn))
    constant = constant_value(s, a)
    if constant is not None:
        s, a = "constant", {"val": constant}
    elif s == "trunc_normal" and _loose(a, a["a"], a["b"]) and _loose(a, -2.0, 2.0):
        # bounds 10 sigma or more away bind nothing (the std agrees to 1e-20): write
        # torch's default bounds, so the same draw reads the same whatever the scaling
        a = {**a, "a": -2.0, "b": 2.0}
    return Law(s, a, std, bound, "recorded", (r, *history))


def _in_policy_terms(
    r: Record, shape: tuple[int, ...], fans: tuple[float, float]
) -> tuple[str | None, dict[str, Any]]:
    s, a = r.scheme, dict(r.args)
    tfi, tfo = r.torch_fans
    if _squeezed(r.shape) != _squeezed(shape):  # (1, 1, n) is the (n,) written into it
        return (None, {}) if s in STRUCTURED else absolute(r)
    if s in ("kaiming_normal", "kaiming_uniform", "variance_scaling"):
        # the mode whose fan in the policy's table is the fan torch used, the code's first
        modes = (
            ("fan_in", "fan_out") if s != "variance_scaling" else ("fan_in", "fan_out", "fan_avg")
        )
        mode = str(a.get("mode", "fan_in"))
        used = mode_fan(mode, tfi, tfo)
        same = [m for m in (mode, *modes) if m in modes and _same(mode_fan(m, *fans), used)]
        if not same:
            return absolute(r)
        a["mode"] = same[0]
    elif s in ("xavier_uniform", "xavier_normal") and not _same(tfi + tfo, sum(fans)):
        return absolute(r)
    elif s == "lecun_normal" and not _same(tfi, fans[0]):
        if not _same(tfi, fans[1]):
            return absolute(r)
        return "variance_scaling", {
            "scale": 1.0,
            "mode": "fan_out",
            "distribution": "truncated_normal",
        }
    return s, a


def _squeezed(shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def _loose(args: dict[str, Any], lo: float, hi: float) -> bool:
    m, s = float(args["mean"]), float(args["std"])
    return s > 0 and (m - lo) >= 10 * s and (hi - m) >= 10 * s


def _same(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0)


#: Schemes whose numbers depend on the fans, by the distribution they draw from.
#: Schemes that are not a distribution of independent elements (the catalog's
#: ``elementwise=False``: orthogonal, sparse, eye, dirac): kept as they are.
STRUCTURED = tuple(name for name, s in SCHEMES.items() if not s.elementwise)


def absolute(rec: Record) -> tuple[str | None, dict[str, Any]]:
    """The record as a fan-free law; orthogonal, eye, dirac, sparse and linspace stay as
    they are;
    (None, {}) for an unrecognised write."""
    s, a = rec.scheme, rec.args
    if s is None:
        return None, {}
    value = constant_value(s, a)
    if value is not None:
        return "constant", {"val": value}
    dist = distribution(s, a)
    if dist is None:
        return s, dict(a)
    fan_in, fan_out = rec.torch_fans
    std, bound = moments(s, a, fan_in=fan_in, fan_out=fan_out, shape=rec.shape)
    assert std is not None  # every fan scheme has a std
    if dist == "uniform":
        b = bound if bound is not None else 3**0.5 * std
        return "uniform", {"a": -b, "b": b}
    if dist == "truncated_normal":
        # Keras' truncated normal: N(0, s0²) cut at ±2 s0, s0 = std / the correction
        s0 = std / TRUNCATION_CORRECTION
        return "trunc_normal", {"mean": 0.0, "std": s0, "a": -2 * s0, "b": 2 * s0}
    return "normal", {"mean": 0.0, "std": std}


def affine(
    scheme: str | None, args: dict[str, Any], op: str, c: float
) -> tuple[str | None, dict[str, Any]]:
    """The law of ``x <op> c`` for ``x`` of law (scheme, args), a fan-free law (see
    :func:`absolute`); (None, {}) where the result is no law the catalog names."""
    if scheme is None:
        return None, {}
    if op == "div":
        if c == 0:
            return None, {}
        op, c = "mul", 1.0 / c
    elif op == "sub":
        op, c = "add", -c
    elif op == "neg":
        op, c = "mul", -1.0
    if scheme == "constant":
        v = args["val"]
        return "constant", {"val": v * c if op == "mul" else v + c}
    if scheme == "normal":
        if op == "mul":
            return "normal", {"mean": args["mean"] * c, "std": abs(c) * args["std"]}
        return "normal", {"mean": args["mean"] + c, "std": args["std"]}
    if scheme == "uniform":
        lo, hi = _map(args["a"], args["b"], op, c)
        return "uniform", {"a": lo, "b": hi}
    if scheme == "trunc_normal":
        m, s = args["mean"], args["std"]
        lo, hi = _map(args["a"], args["b"], op, c)
        if op == "mul":
            return "trunc_normal", {"mean": m * c, "std": abs(c) * s, "a": lo, "b": hi}
        return "trunc_normal", {"mean": m + c, "std": s, "a": lo, "b": hi}
    if scheme == "orthogonal" and op == "mul" and c > 0:
        return "orthogonal", {"gain": float(args.get("gain", 1.0)) * c}
    return None, {}


#: In-place element-wise functions a draw may be written through (``mapped``'s vocabulary).
ELEMENTWISE = ("log", "exp", "sqrt", "abs", "pow")


def mapped(fn: Expr | None, op: str, c: float) -> Expr:
    """The map ``fn`` (None: the drawn value ``x`` itself) followed by ``op`` (``c`` its
    scalar): the expression apply evaluates in the same order as the code.

    >>> from initpolicy.language.printer import expression
    >>> expression(mapped(mapped(mapped(None, "log", 0.0), "mul", 0.5), "neg", 0.0))
    '-(log(x) * 0.5)'
    """
    x: Expr = Name(name=DRAWN) if fn is None else fn
    if op == "pow":
        return BinOp(op="**", left=x, right=Num(value=c))
    if op in ELEMENTWISE:
        return Call(fn=op, args=(x,))
    if op == "neg":
        return Neg(operand=x)
    sign = {"mul": "*", "div": "/", "add": "+", "sub": "-"}[op]
    return BinOp(op=sign, left=x, right=Num(value=c))


def _map(a: float, b: float, op: str, c: float) -> tuple[float, float]:
    lo, hi = (a * c, b * c) if op == "mul" else (a + c, b + c)
    return min(lo, hi), max(lo, hi)


#: How close a literal tensor's values must be to a grid law (float64 values the code
#: computed in Python, so only rounding differs).
_GRID_TOL = 1e-12


def grid(values: list[float]) -> tuple[str, dict[str, Any], Expr | None] | None:
    """The law of a literal tensor's values (a Python list the code computed, turned into
    a tensor) where they are a computed grid: an affine grid ``a + (b - a) * k / (n - 1)``
    is ``linspace(a, b)`` (``[i / hidden for i in range(hidden)]``); an affine map of a
    power of the unit grid, ``a + c * (k / (n - 1)) ** p``, is ``linspace(0, 1)`` mapped by
    ``x ** p * c + a`` (RWKV's decay, ``-5 + 8 * (h / (A - 1)) ** e``). None otherwise.

    >>> grid([i / 4 for i in range(4)])
    ('linspace', {'start': 0.0, 'end': 0.75}, None)
    >>> from initpolicy.language.printer import expression
    >>> s, a, fn = grid([-5 + 8 * (h / 4) ** 1.5 for h in range(5)])
    >>> s, a, expression(fn)
    ('linspace', {'start': 0.0, 'end': 1.0}, 'x ** 1.5 * 8 + -5')
    """
    n = len(values)
    if n < 3 or not all(math.isfinite(v) for v in values):
        return None
    a, b = values[0], values[-1]
    if a == b:
        return None
    scale = max(abs(a), abs(b))
    ts = [k / (n - 1) for k in range(n)]
    if all(
        abs(v - (a + (b - a) * t)) <= _GRID_TOL * scale for v, t in zip(values, ts, strict=True)
    ):
        return "linspace", {"start": a, "end": b}, None
    ys = [(v - a) / (b - a) for v in values]
    k = n // 2
    if not 0 < ys[k] < 1:
        return None
    p = math.log(ys[k]) / math.log(ts[k])
    short = float(f"{p:.12g}")
    p = short if all(abs(y - t**short) <= 1e-11 for y, t in zip(ys, ts, strict=True)) else p
    if not all(abs(y - t**p) <= 1e-11 for y, t in zip(ys, ts, strict=True)):
        return None
    fn = mapped(None, "pow", p)
    if b - a != 1:
        fn = mapped(fn, "mul", b - a)
    if a != 0:
        fn = mapped(fn, "add", a)
    return "linspace", {"start": 0.0, "end": 1.0}, fn
