"""Schemes whose scale comes from the tensor's fans: Glorot (xavier), He (kaiming),
Keras/Flax variance scaling and LeCun, orthogonal and sparse.

Each entry: signature, std/bound (``moments``) and the draw (``sample``). The std is
computed with torch's own expressions, operation for operation, so the draws agree with
torch.nn.init bit for bit, except orthogonal: its QR is our own (:mod:`.qr`), the same
bits for any thread count, where LAPACK's are not; it agrees with torch's to float32
rounding. Samplers import torch only inside, so the catalog loads without torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import InitError
from .gains import torch_gain
from .scheme_spec import (
    TRUNCATION_CORRECTION,
    Facts,
    Moments,
    Param,
    Reach,
    Scheme,
    Values,
    f,
    mode_fan,
    nonneg,
    normal_reach,
    positive,
    sparsity,
    uniform_reach,
)
from .schemes_plain import unit_truncated

_GAIN = Param("gain", default=1.0, check=nonneg, shown="changed")
_KAIMING = (
    Param("a", default=0.0, check=nonneg, shown="changed"),
    Param("mode", "mode", default="fan_in", choices=("fan_in", "fan_out")),
    Param("nonlinearity", "nonlinearity", default="leaky_relu"),
)


def positive_fan(scheme: str, fan: float, what: str) -> float:
    """``fan``, or InitError when it is not > 0 (a fan of 0 divides by zero)."""
    if not fan > 0:
        raise InitError(f"{scheme}: {what} is {fan:g}; it must be > 0")
    return fan


def _symmetric(bound: float | None) -> Reach:
    """U(-bound, bound)'s reach (its width, which torch's sampler computes)."""
    assert bound is not None
    return uniform_reach(-bound, bound)


def _std_moments(std: Callable[[Values, Facts], float], uniform: bool) -> Any:
    """(std, bound) of a scheme whose draw is N(0, std²) or U(±sqrt(3)·std), from its one
    std formula: the sampler draws from the same number (torch computes the bound so)."""

    def moments(v: Values, t: Facts) -> Moments:
        s = std(v, t)
        return s, (math.sqrt(3.0) * s if uniform else None)

    return moments


# --- xavier (Glorot & Bengio 2010) -------------------------------------------------------
def _xavier(v: Values, t: Facts) -> float:
    """The one xavier formula: gain · sqrt(2 / (fan_in + fan_out)), as torch computes it."""
    return f(v, "gain") * math.sqrt(2.0 / float(t.fan_in + t.fan_out))


def xavier_std(v: Values, t: Facts, scheme: str) -> float:
    positive_fan(scheme, t.fan_in + t.fan_out, "fan_in + fan_out")
    return _xavier(v, t)


def _xavier_uniform(out: Any, v: Values, t: Facts, g: Any) -> None:
    a = math.sqrt(3.0) * xavier_std(v, t, "xavier_uniform")
    out.uniform_(-a, a, generator=g)


def _xavier_normal(out: Any, v: Values, t: Facts, g: Any) -> None:
    out.normal_(0.0, xavier_std(v, t, "xavier_normal"), generator=g)


XAVIER_UNIFORM = Scheme(
    "xavier_uniform",
    (_GAIN,),
    "Glorot & Bengio 2010, uniform",
    "bound = gain · sqrt(6 / (fan_in + fan_out)), std = bound / sqrt(3)",
    needs_matrix=True,
    distribution="uniform",
    torch_name="xavier_uniform_",
    moments=_std_moments(_xavier, uniform=True),
    sample=_xavier_uniform,
    reach=lambda v, t: _symmetric(_std_moments(_xavier, uniform=True)(v, t)[1]),
)
XAVIER_NORMAL = Scheme(
    "xavier_normal",
    (_GAIN,),
    "Glorot & Bengio 2010, normal",
    "std = gain · sqrt(2 / (fan_in + fan_out))",
    needs_matrix=True,
    distribution="normal",
    torch_name="xavier_normal_",
    moments=_std_moments(_xavier, uniform=False),
    sample=_xavier_normal,
    reach=lambda v, t: normal_reach(0.0, xavier_std(v, t, "xavier_normal")),
)


# --- kaiming (He et al. 2015) ------------------------------------------------------------
def _kaiming(v: Values, t: Facts) -> float:
    """The one kaiming formula: calculate_gain(nonlinearity, a) / sqrt(fan_mode)."""
    fan = mode_fan(str(v["mode"]), t.fan_in, t.fan_out)
    return torch_gain(str(v["nonlinearity"]), f(v, "a")) / math.sqrt(fan)


def kaiming_std(v: Values, t: Facts, scheme: str) -> float:
    mode = str(v["mode"])
    positive_fan(scheme, mode_fan(mode, t.fan_in, t.fan_out), mode)
    return _kaiming(v, t)


def _kaiming_uniform(out: Any, v: Values, t: Facts, g: Any) -> None:
    bound = math.sqrt(3.0) * kaiming_std(v, t, "kaiming_uniform")
    out.uniform_(-bound, bound, generator=g)


def _kaiming_normal(out: Any, v: Values, t: Facts, g: Any) -> None:
    out.normal_(0, kaiming_std(v, t, "kaiming_normal"), generator=g)


KAIMING_UNIFORM = Scheme(
    "kaiming_uniform",
    _KAIMING,
    "He et al. 2015, uniform",
    "bound = sqrt(3) · calculate_gain(nonlinearity, a) / sqrt(fan_mode)",
    needs_matrix=True,
    distribution="uniform",
    torch_name="kaiming_uniform_",
    moments=_std_moments(_kaiming, uniform=True),
    sample=_kaiming_uniform,
    reach=lambda v, t: _symmetric(_std_moments(_kaiming, uniform=True)(v, t)[1]),
)
KAIMING_NORMAL = Scheme(
    "kaiming_normal",
    _KAIMING,
    "He et al. 2015, normal",
    "std = calculate_gain(nonlinearity, a) / sqrt(fan_mode)",
    needs_matrix=True,
    distribution="normal",
    torch_name="kaiming_normal_",
    moments=_std_moments(_kaiming, uniform=False),
    sample=_kaiming_normal,
    reach=lambda v, t: normal_reach(0.0, kaiming_std(v, t, "kaiming_normal")),
)


# --- orthogonal (Saxe et al. 2013) -------------------------------------------------------
def _orthogonal_moments(v: Values, t: Facts) -> Moments:
    rows = t.shape[0] if t.shape else 1
    cols = t.numel // rows if rows else 0
    if rows == 0 or cols == 0:
        return 0.0, None
    return f(v, "gain") * math.sqrt(min(rows, cols) / (rows * cols)), None


def _orthogonal(out: Any, v: Values, t: Facts, g: Any) -> None:
    # torch.nn.init.orthogonal_'s draw and sign correction, with a QR whose bits do not
    # depend on the thread count (LAPACK's do; see catalog/qr.py)
    import torch

    from .qr import orthonormal_columns

    rows = out.shape[0]
    cols = out.numel() // rows
    flat = torch.empty(rows, cols).normal_(0, 1, generator=g)
    wide = rows < cols
    q = orthonormal_columns((flat.T if wide else flat).double())
    out.copy_((q.T if wide else q).reshape(out.shape))
    out.mul_(f(v, "gain"))


ORTHOGONAL = Scheme(
    "orthogonal",
    (_GAIN,),
    "Saxe et al. 2013: a (semi-)orthogonal matrix times gain",
    "std = gain · sqrt(min(rows, cols) / (rows · cols))",
    needs_matrix=True,
    torch_name="orthogonal_",
    moments=_orthogonal_moments,
    sample=_orthogonal,
    # an orthonormal matrix's entries are at most 1 in magnitude
    reach=lambda v, t: (f(v, "gain"), "gain"),
    elementwise=False,
    whole_draw_bytes=17,
)


# --- sparse (Martens 2010) ---------------------------------------------------------------
def _sparse_moments(v: Values, t: Facts) -> Moments:
    rows = t.shape[0]
    zeros = math.ceil(f(v, "sparsity") * rows)
    return f(v, "std") * math.sqrt(1 - zeros / rows), None


def _sparse(out: Any, v: Values, t: Facts, g: Any) -> None:
    # torch's sparse_ draws its zero pattern without the generator; here the pattern comes
    # from the generator too: per column, the rows of the smallest uniform keys are zeroed
    import torch

    rows, cols = out.shape
    num_zeros = math.ceil(f(v, "sparsity") * rows)
    out.normal_(0, f(v, "std"), generator=g)
    if num_zeros:
        keys = torch.rand((cols, rows), generator=g)
        zero_rows = keys.argsort(dim=1, stable=True)[:, :num_zeros]
        out.t().scatter_(1, zero_rows, 0.0)


SPARSE = Scheme(
    "sparse",
    (Param("sparsity", required=True, check=sparsity), Param("std", default=0.01, check=nonneg)),
    "Martens 2010: N(0, std²), ceil(sparsity · rows) zeros per column (2-D only)",
    "std = std · sqrt(1 - ceil(sparsity · rows) / rows)",
    needs_matrix=True,
    torch_name="sparse_",
    moments=_sparse_moments,
    sample=_sparse,
    reach=lambda v, t: normal_reach(0.0, f(v, "std")),
    elementwise=False,
    whole_draw_bytes=20,
)


# --- variance scaling (Keras/Flax) and LeCun ---------------------------------------------
def _scale(v: Values) -> tuple[float, str, str]:
    """(scale, mode, distribution): lecun_* are variance_scaling with fixed arguments."""
    return f(v, "scale"), str(v["mode"]), str(v["distribution"])


def _scaling(fixed: tuple[float, str, str] | None) -> tuple[Any, Any, Any]:
    """The moments, sampler and reach of variance_scaling, or of one fixing its arguments."""

    def args(v: Values) -> tuple[float, str, str]:
        return fixed if fixed is not None else _scale(v)

    def variance(v: Values, t: Facts) -> tuple[float, str]:
        scale, mode, distribution = args(v)
        return scale / max(1.0, mode_fan(mode, t.fan_in, t.fan_out)), distribution

    def moments(v: Values, t: Facts) -> Moments:
        var, distribution = variance(v, t)
        std = math.sqrt(var)
        return std, (math.sqrt(3) * std if distribution == "uniform" else None)

    def reach(v: Values, t: Facts) -> Reach:
        var, distribution = variance(v, t)
        if distribution == "truncated_normal":
            return 2 * math.sqrt(var) / TRUNCATION_CORRECTION, "± 2 std of its normal"
        if distribution in ("untruncated_normal", "normal"):
            return normal_reach(0.0, math.sqrt(var))
        return _symmetric(math.sqrt(3.0 * var))

    def sample(out: Any, v: Values, t: Facts, g: Any) -> None:
        var, distribution = variance(v, t)
        if distribution == "truncated_normal":
            unit_truncated(out, g).mul_(math.sqrt(var) / TRUNCATION_CORRECTION)
        elif distribution in ("untruncated_normal", "normal"):
            out.normal_(0.0, math.sqrt(var), generator=g)
        else:
            limit = math.sqrt(3.0 * var)
            out.uniform_(-limit, limit, generator=g)

    return moments, sample, reach


_VS = _scaling(None)
VARIANCE_SCALING = Scheme(
    "variance_scaling",
    (
        Param("scale", default=1.0, check=positive),
        Param("mode", "mode", default="fan_in"),
        Param("distribution", "distribution", default="truncated_normal"),
    ),
    "Keras/Flax VarianceScaling",
    "std = sqrt(scale / fan_mode); truncated_normal samples N(0, (std/0.8796…)²) "
    "truncated at ±2 of its std; uniform bound = sqrt(3) · std",
    needs_matrix=True,
    moments=_VS[0],
    sample=_VS[1],
    reach=_VS[2],
)
_LN = _scaling((1.0, "fan_in", "truncated_normal"))
LECUN_NORMAL = Scheme(
    "lecun_normal",
    (),
    "LeCun 1998 / Klambauer 2017: variance_scaling(1, fan_in, truncated_normal)",
    "std = 1 / sqrt(fan_in)",
    needs_matrix=True,
    distribution="truncated_normal",
    moments=_LN[0],
    sample=_LN[1],
    reach=_LN[2],
)
_LU = _scaling((1.0, "fan_in", "uniform"))
LECUN_UNIFORM = Scheme(
    "lecun_uniform",
    (),
    "variance_scaling(1, fan_in, uniform)",
    "bound = sqrt(3 / fan_in)",
    needs_matrix=True,
    distribution="uniform",
    moments=_LU[0],
    sample=_LU[1],
    reach=_LU[2],
)
