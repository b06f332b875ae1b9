"""Schemes whose scale is given, not derived from fans: uniform, normal and the truncated
normals, the constants, eye and dirac, and keep/default (written by the applier).

Each entry: signature, std/bound (``moments``) and the draw (``sample``/``value``).
Samplers write a CPU float32 tensor from the caller's generator; torch's own functions
are imported only inside them, so the catalog loads without torch.
"""

from __future__ import annotations

import math
from typing import Any

from .scheme_spec import (
    TRUNCATION_CORRECTION,
    Facts,
    Moments,
    Param,
    Scheme,
    Values,
    a_below_b,
    f,
    nonneg,
    normal_reach,
    positive_int,
    probability,
    truncated_std,
    uniform_reach,
    zero_one_std,
)

#: P(|z| < 2) for z ~ N(0, 1) = 2·Phi(2) - 1.
_WITHIN_TWO = math.erf(2.0 / math.sqrt(2.0))


def unit_truncated(out: Any, g: Any) -> Any:
    """A unit normal truncated to [-2, 2], by inverse CDF: exactly one uniform per element,
    so ~20x faster than torch's rejection-sampling trunc_normal_ and independent of how a
    torch version implements it."""
    out.uniform_(-_WITHIN_TWO, _WITHIN_TWO, generator=g)
    return out.erfinv_().mul_(math.sqrt(2.0)).clamp_(-2.0, 2.0)


# --- uniform -----------------------------------------------------------------------------
def _uniform_moments(v: Values, t: Facts) -> Moments:
    width = f(v, "b") - f(v, "a")
    return width / math.sqrt(12), width / 2


def _uniform(out: Any, v: Values, t: Facts, g: Any) -> None:
    out.uniform_(f(v, "a"), f(v, "b"), generator=g)


UNIFORM = Scheme(
    "uniform",
    (Param("a", default=0.0), Param("b", default=1.0)),
    "U(a, b)",
    "bound = (b - a) / 2, std = (b - a) / sqrt(12)",
    check=a_below_b,
    torch_name="uniform_",
    moments=_uniform_moments,
    sample=_uniform,
    reach=lambda v, t: uniform_reach(f(v, "a"), f(v, "b")),
)


# --- normal ------------------------------------------------------------------------------
def _normal(out: Any, v: Values, t: Facts, g: Any) -> None:
    out.normal_(f(v, "mean"), f(v, "std"), generator=g)


NORMAL = Scheme(
    "normal",
    (Param("mean", default=0.0), Param("std", default=1.0, check=nonneg)),
    "N(mean, std²)",
    "std = std",
    torch_name="normal_",
    moments=lambda v, t: (f(v, "std"), None),
    sample=_normal,
    reach=lambda v, t: normal_reach(f(v, "mean"), f(v, "std")),
)


# --- trunc_normal (torch) ----------------------------------------------------------------
def _trunc_normal_moments(v: Values, t: Facts) -> Moments:
    mean = f(v, "mean")
    return truncated_std(f(v, "std"), f(v, "a") - mean, f(v, "b") - mean), None


def _trunc_normal(out: Any, v: Values, t: Facts, g: Any) -> None:
    import torch

    mean, std, a, b = f(v, "mean"), f(v, "std"), f(v, "a"), f(v, "b")
    if std == 0:  # torch divides by std
        out.fill_(min(max(mean, a), b))
        return
    torch.nn.init.trunc_normal_(out, mean, std, a, b, generator=g)


TRUNC_NORMAL = Scheme(
    "trunc_normal",
    (
        Param("mean", default=0.0),
        Param("std", default=1.0, check=nonneg),
        Param("a", default=-2.0, shown="trailing"),
        Param("b", default=2.0, shown="trailing"),
    ),
    "N(mean, std²) truncated to the absolute interval [a, b] (torch)",
    "std = std of the truncated normal: std·sqrt(1 + (αφ(α) - βφ(β))/Z - ((φ(α) - φ(β))/Z)²)",
    check=a_below_b,
    torch_name="trunc_normal_",
    moments=_trunc_normal_moments,
    sample=_trunc_normal,
    # torch computes mean + std · sqrt(2) · erfinv(u) before it clamps to [a, b]
    reach=lambda v, t: normal_reach(f(v, "mean"), f(v, "std")),
)


# --- truncated_normal (Keras/JAX) --------------------------------------------------------
def _truncated_normal(out: Any, v: Values, t: Facts, g: Any) -> None:
    unit_truncated(out, g).mul_(f(v, "std")).add_(f(v, "mean"))


TRUNCATED_NORMAL = Scheme(
    "truncated_normal",
    (Param("mean", default=0.0), Param("std", default=1.0, check=nonneg)),
    "Keras/JAX TruncatedNormal: N(mean, std²) truncated at ±2 std, no correction",
    f"std = std · {TRUNCATION_CORRECTION}",
    moments=lambda v, t: (f(v, "std") * TRUNCATION_CORRECTION, None),
    sample=_truncated_normal,
    reach=lambda v, t: (abs(f(v, "mean")) + 2 * f(v, "std"), "mean ± 2 std"),
)


# --- constants ---------------------------------------------------------------------------
def _constant_moments(v: Values, t: Facts) -> Moments:
    return 0.0, None


CONSTANT = Scheme(
    "constant",
    (Param("val", required=True),),
    "every element = val",
    "std = 0",
    kind="constant",
    torch_name="constant_",
    moments=_constant_moments,
    value=lambda v: f(v, "val"),
)
ONES = Scheme(
    "ones",
    (),
    "every element = 1",
    "std = 0",
    kind="constant",
    torch_name="ones_",
    moments=_constant_moments,
    value=lambda v: 1.0,
)
ZEROS = Scheme(
    "zeros",
    (),
    "every element = 0",
    "std = 0",
    kind="constant",
    torch_name="zeros_",
    moments=_constant_moments,
    value=lambda v: 0.0,
)
PRIOR = Scheme(
    "prior",
    (Param("p", required=True, check=probability),),
    "Lin et al. 2017 (focal loss): a bias whose sigmoid is p",
    "every element = -log((1 - p) / p), std = 0",
    kind="constant",
    moments=_constant_moments,
    value=lambda v: -math.log((1 - f(v, "p")) / f(v, "p")),
)


# --- eye and dirac: fixed by position ----------------------------------------------------
def _eye_moments(v: Values, t: Facts) -> Moments:
    ones = min(t.shape[0], t.shape[1]) if len(t.shape) == 2 else 0
    return zero_one_std(ones, t.numel), None


def _eye(out: Any, v: Values, t: Facts, g: Any) -> None:
    out.zero_().diagonal().fill_(1.0)  # torch.nn.init.eye_'s values


EYE = Scheme(
    "eye",
    (),
    "identity matrix (2-D only)",
    "std of the 0/1 tensor",
    needs_matrix=True,
    kind="special",
    torch_name="eye_",
    moments=_eye_moments,
    sample=_eye,
    elementwise=False,
)


def _dirac_moments(v: Values, t: Facts) -> Moments:
    if len(t.shape) < 3:
        return None, None
    groups = int(f(v, "groups"))
    ones = groups * min(t.shape[0] // groups, t.shape[1])
    return zero_one_std(ones, t.numel), None


def _dirac(out: Any, v: Values, t: Facts, g: Any) -> None:
    import torch

    torch.nn.init.dirac_(out, int(f(v, "groups")))


DIRAC = Scheme(
    "dirac",
    (Param("groups", "int", default=1, check=positive_int, shown="changed"),),
    "Dirac delta (3-5-D conv weights): preserves the input's identity",
    "std of the 0/1 tensor",
    needs_matrix=True,
    kind="special",
    torch_name="dirac_",
    moments=_dirac_moments,
    sample=_dirac,
    elementwise=False,
)


# --- linspace: a value grid, fixed by position ---------------------------------------------
def _linspace_moments(v: Values, t: Facts) -> Moments:
    n = t.numel
    if n < 2:
        return 0.0, None
    step = (f(v, "end") - f(v, "start")) / (n - 1)
    return abs(step) * math.sqrt((n * n - 1) / 12), None  # evenly spaced: (n²-1)/12 steps²


def _linspace(out: Any, v: Values, t: Facts, g: Any) -> None:
    import torch

    # torch.linspace's own values (a grid the code made with it is reproduced bit for bit)
    grid = torch.linspace(f(v, "start"), f(v, "end"), out.numel(), dtype=out.dtype)
    out.copy_(grid.reshape(out.shape))


LINSPACE = Scheme(
    "linspace",
    (Param("start", default=0.0), Param("end", default=1.0)),
    "evenly spaced values from start to end, in storage order (torch.linspace)",
    "std of the grid: |end - start| / (n - 1) * sqrt((n² - 1) / 12)",
    kind="special",
    moments=_linspace_moments,
    sample=_linspace,
    elementwise=False,
)


# --- written by the applier --------------------------------------------------------------
KEEP = Scheme("keep", (), "leave the tensor as it is", "", kind="special", writer="nobody")
DEFAULT = Scheme(
    "default",
    (),
    "the module's own reset_parameters(), under a seeded RNG",
    "",
    kind="special",
    writer="module",
)
