"""The scheme catalogue: one entry per scheme, each with its signature, the exact std and
bound it produces, and how it draws (:mod:`initpolicy.catalog.schemes_plain`,
:mod:`initpolicy.catalog.schemes_fans`). The parser validates against it, the planner
computes std/bound from it, the applier samples through it. Torch-free to import.

Signatures follow torch.nn.init's positional order where torch has the scheme.
Enumeration words bind by type: ``kaiming_normal(fan_in)`` sets ``mode`` because
``fan_in`` is a mode word, wherever it stands.

>>> get("kaiming_normal").names
('a', 'mode', 'nonlinearity')
>>> moments("kaiming_normal", {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"},
...         fan_in=50, fan_out=10, shape=(10, 50))
(0.2, None)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from . import dtypes
from . import schemes_fans as fans
from . import schemes_plain as plain
from .dtypes import is_floating
from .scheme_spec import (
    ENUMS,
    TRUNCATION_CORRECTION,
    WORD_TYPE,
    Facts,
    Moments,
    Param,
    Scheme,
    Value,
    mode_fan,
    truncated_std,
)

__all__ = [
    "ENUMS",
    "SCHEMES",
    "TORCH_DEFAULT",
    "TRUNCATION_CORRECTION",
    "WORD_TYPE",
    "Facts",
    "Param",
    "Scheme",
    "Value",
    "constant_value",
    "distribution",
    "dtype_error",
    "get",
    "mode_fan",
    "moments",
    "range_error",
    "resolve_values",
    "shape_error",
    "truncated_std",
]

#: PyTorch's own init of a Linear/Conv weight (their ``reset_parameters``):
#: ``kaiming_uniform_(w, a=sqrt(5))``, which is U(±1/sqrt(fan_in)), std 1/sqrt(3·fan_in).
TORCH_DEFAULT: tuple[str, dict[str, Value]] = ("kaiming_uniform", {"a": math.sqrt(5)})

#: Every scheme, in the catalogue's order (the order of docs/language.md).
SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        plain.UNIFORM,
        plain.NORMAL,
        plain.TRUNC_NORMAL,
        plain.TRUNCATED_NORMAL,
        plain.CONSTANT,
        plain.ONES,
        plain.ZEROS,
        plain.EYE,
        plain.DIRAC,
        plain.LINSPACE,
        fans.XAVIER_UNIFORM,
        fans.XAVIER_NORMAL,
        fans.KAIMING_UNIFORM,
        fans.KAIMING_NORMAL,
        fans.ORTHOGONAL,
        fans.SPARSE,
        fans.VARIANCE_SCALING,
        fans.LECUN_NORMAL,
        fans.LECUN_UNIFORM,
        plain.PRIOR,
        plain.KEEP,
        plain.DEFAULT,
    )
}


def get(name: str) -> Scheme:
    """The scheme called ``name``; KeyError if there is none (the parser adds a hint)."""
    return SCHEMES[name]


def resolve_values(name: str, values: Mapping[str, Value]) -> dict[str, Value]:
    """The evaluated arguments with the scheme's defaults filled in."""
    out = dict(get(name).defaults())
    out.update(values)
    return out


def distribution(name: str, values: Mapping[str, Value]) -> str | None:
    """The distribution a fan-scaled, centred scheme draws from (the entry's, or
    variance_scaling's ``distribution`` argument); None for any other scheme.

    >>> distribution("lecun_normal", {}), distribution("variance_scaling", {})
    ('truncated_normal', 'truncated_normal')
    >>> distribution("normal", {}) is None
    True
    """
    scheme = get(name)
    if "distribution" in scheme.names:
        return str(resolve_values(name, values)["distribution"])
    return scheme.distribution


def moments(
    name: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    shape: tuple[int, ...],
) -> Moments:
    """The (std, bound) the scheme produces for a tensor of ``shape`` with these fans.

    ``values`` are the evaluated arguments (defaults are filled in here). ``bound`` is the
    half-width of a uniform scheme, else None; ``std`` is None where it is not defined
    (``keep``, ``default``).
    """
    scheme = get(name)
    facts = Facts(fan_in, fan_out, tuple(shape))
    if scheme.needs_matrix and math.prod(shape) == 0:
        return 0.0, None  # an empty tensor gets no values (and its fans may be 0)
    return scheme.moments(resolve_values(name, values), facts)


def constant_value(name: str, values: Mapping[str, Value]) -> float | None:
    """The number a constant scheme writes (``zeros`` -> 0.0), None for other schemes.

    >>> constant_value("constant", {"val": 0.5}), constant_value("normal", {})
    (0.5, None)
    """
    scheme = get(name)
    return None if scheme.value is None else scheme.value(resolve_values(name, values))


def shape_error(
    name: str, shape: tuple[int, ...], values: Mapping[str, Value] | None = None
) -> str | None:
    """Why scheme ``name`` cannot write a tensor of ``shape``, or None if it can.

    The one rule shared by plan validation (before any tensor is touched) and the
    applier's fill. ``values`` (evaluated arguments) are only needed for dirac's
    ``groups``.

    >>> shape_error("orthogonal", (64,))
    'orthogonal needs a tensor of at least 2 dimensions (fans, a matrix); got shape (64,)'
    >>> shape_error("eye", (3, 3, 3))
    'eye needs a 2-D tensor; got shape (3, 3, 3)'
    >>> shape_error("kaiming_normal", (64, 32)) is None
    True
    """
    ndim = len(shape)
    shown = f"got shape {tuple(shape)}"
    if name in ("eye", "sparse"):
        return None if ndim == 2 else f"{name} needs a 2-D tensor; {shown}"
    if name == "dirac":
        if ndim not in (3, 4, 5):
            return f"dirac needs a 3-, 4- or 5-D convolution weight; {shown}"
        groups = (values or {}).get("groups", 1)
        if isinstance(groups, float | int) and groups >= 1 and shape[0] % int(groups):
            return f"dirac: dim 0 ({shape[0]}) is not divisible by groups={int(groups)}; {shown}"
        return None
    if get(name).needs_matrix and ndim < 2:
        return f"{name} needs a tensor of at least 2 dimensions (fans, a matrix); {shown}"
    return None


def range_error(
    name: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    shape: tuple[int, ...],
    dtype: str,
) -> str | None:
    """Why scheme ``name`` with these evaluated arguments could write a value a tensor of
    ``dtype`` cannot hold, or None. The rule (docs/language.md, "Values and dtypes"):

    - a constant (``constant``, ``ones``, ``zeros``, ``prior``) must be representable in
      the tensor's dtype: finite and within its range, and a whole number for an integer
      dtype;
    - a random draw is made in float32 and then rounded to the tensor's dtype, so every
      value it can reach, intermediates included (:data:`scheme_spec.Reach`: mean ± 9 std
      of a normal, a uniform's bounds and their distance, ± 2 std truncated, gain for
      orthogonal), must be finite in float32 and in the dtype.

    >>> range_error("normal", {"std": 30000.0}, fan_in=4, fan_out=4, shape=(4, 4), dtype="float16")
    "normal can reach 270,000 (mean ± 9 std), beyond float16's largest finite value 65,504"
    >>> range_error("constant", {"val": 1e30}, fan_in=1, fan_out=1, shape=(), dtype="int64")
    'constant writes 1e+30, but int64 holds -9,223,372,036,854,775,808 to 9,223,372,036,854,775,807'
    """
    scheme = get(name)
    v = resolve_values(name, values)
    if scheme.value is not None:
        number = scheme.value(v)
        why = dtypes.representable(dtype, number)
        return None if why is None else f"{name} writes {number:g}, but {why}"
    if scheme.reach is None:
        return None
    reach, how = scheme.reach(v, Facts(fan_in, fan_out, tuple(shape)))
    own = dtypes.largest(dtype)
    if own is None:
        return None  # not a floating dtype: dtype_error says why a draw cannot go there
    sampled = dtypes.largest(SAMPLE_DTYPE)
    assert sampled is not None
    limit = min(own, sampled)
    if math.isfinite(reach) and reach <= limit:
        return None
    dtype = dtype.removeprefix("torch.")
    which = dtype if own <= sampled else SAMPLE_DTYPE
    message = f"{name} can reach {dtypes.show(reach)} ({how}), beyond {which}'s largest finite value {dtypes.show(limit)}"
    if own > sampled:
        message += f" (random values are drawn in {SAMPLE_DTYPE}, then rounded to {dtype})"
    return message


#: The dtype random values are drawn in, before they are rounded to the tensor's.
SAMPLE_DTYPE = "float32"


def dtype_error(name: str, dtype: str) -> str | None:
    """Why scheme ``name`` cannot write a tensor of ``dtype`` (torch's name without the
    ``torch.`` prefix: ``"float32"``, ``"bfloat16"``, ``"int64"``), or None if it can.

    Random schemes need a floating-point tensor; constants, eye and dirac write any dtype.

    >>> dtype_error("normal", "int64")
    'normal draws random values and needs a floating-point tensor; got int64'
    >>> dtype_error("zeros", "int64") is None
    True
    """
    dtype = dtype.removeprefix("torch.")
    if get(name).kind == "random" and not is_floating(dtype):
        return f"{name} draws random values and needs a floating-point tensor; got {dtype}"
    return None
