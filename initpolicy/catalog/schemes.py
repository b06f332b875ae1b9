"""The scheme catalogue: every scheme's signature, argument checks, and the exact std
and bound it produces. Torch-free (the parser validates against it); sampling lives in
:mod:`initpolicy.applier.fill`.

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from .gains import TORCH_NONLINEARITIES, torch_gain

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


@dataclass(frozen=True)
class Scheme:
    name: str
    params: tuple[Param, ...] = ()
    summary: str = ""
    formula: str = ""
    #: Cross-argument check over constant values, e.g. a < b.
    check: Callable[[Mapping[str, Value]], str | None] | None = None
    #: True where the scheme needs a weight of >= 2 dimensions (fans, matrices).
    needs_matrix: bool = False
    #: Kind of the result, for the linter and explain: "random", "constant", "special".
    kind: str = "random"
    torch_name: str | None = None
    aliases: tuple[str, ...] = field(default=())

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def signature(self) -> str:
        parts = []
        for p in self.params:
            if p.required:
                parts.append(p.name)
            else:
                parts.append(f"{p.name}={p.default}")
        return f"{self.name}({', '.join(parts)})"

    def defaults(self) -> dict[str, Value]:
        return {p.name: p.default for p in self.params if p.default is not None}


def _nonneg(v: Value) -> str | None:
    return "must be >= 0" if isinstance(v, float | int) and v < 0 else None


def _positive(v: Value) -> str | None:
    return "must be > 0" if isinstance(v, float | int) and v <= 0 else None


def _sparsity(v: Value) -> str | None:
    return "must be in [0, 1)" if isinstance(v, float | int) and not 0 <= v < 1 else None


def _probability(v: Value) -> str | None:
    return "must be in (0, 1)" if isinstance(v, float | int) and not 0 < v < 1 else None


def _groups(v: Value) -> str | None:
    if isinstance(v, float | int) and (v < 1 or v != int(v)):
        return "must be a positive integer"
    return None


def _a_below_b(values: Mapping[str, Value]) -> str | None:
    a, b = values.get("a"), values.get("b")
    if isinstance(a, float | int) and isinstance(b, float | int) and not a < b:
        return f"needs a < b (got a={a:g}, b={b:g})"
    return None


_GAIN = Param("gain", default=1.0, check=_nonneg)
_KAIMING = (
    Param("a", default=0.0, check=_nonneg),
    Param("mode", "mode", default="fan_in", choices=("fan_in", "fan_out")),
    Param("nonlinearity", "nonlinearity", default="leaky_relu"),
)

SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        Scheme(
            "uniform",
            (Param("a", default=0.0), Param("b", default=1.0)),
            "U(a, b)",
            "bound = (b - a) / 2, std = (b - a) / sqrt(12)",
            check=_a_below_b,
            torch_name="uniform_",
        ),
        Scheme(
            "normal",
            (Param("mean", default=0.0), Param("std", default=1.0, check=_nonneg)),
            "N(mean, std²)",
            "std = std",
            torch_name="normal_",
        ),
        Scheme(
            "trunc_normal",
            (
                Param("mean", default=0.0),
                Param("std", default=1.0, check=_nonneg),
                Param("a", default=-2.0),
                Param("b", default=2.0),
            ),
            "N(mean, std²) truncated to the absolute interval [a, b] (torch)",
            "std = std of the truncated normal: std·sqrt(1 + (αφ(α) - βφ(β))/Z - ((φ(α) - φ(β))/Z)²)",
            check=_a_below_b,
            torch_name="trunc_normal_",
        ),
        Scheme(
            "truncated_normal",
            (Param("mean", default=0.0), Param("std", default=1.0, check=_nonneg)),
            "Keras/JAX TruncatedNormal: N(mean, std²) truncated at ±2 std, no correction",
            f"std = std · {TRUNCATION_CORRECTION}",
        ),
        Scheme(
            "constant",
            (Param("val", required=True),),
            "every element = val",
            "std = 0",
            kind="constant",
            torch_name="constant_",
        ),
        Scheme("ones", (), "every element = 1", "std = 0", kind="constant", torch_name="ones_"),
        Scheme("zeros", (), "every element = 0", "std = 0", kind="constant", torch_name="zeros_"),
        Scheme(
            "eye",
            (),
            "identity matrix (2-D only)",
            "std of the 0/1 tensor",
            needs_matrix=True,
            kind="special",
            torch_name="eye_",
        ),
        Scheme(
            "dirac",
            (Param("groups", "int", default=1, check=_groups),),
            "Dirac delta (3-5-D conv weights): preserves the input's identity",
            "std of the 0/1 tensor",
            needs_matrix=True,
            kind="special",
            torch_name="dirac_",
        ),
        Scheme(
            "xavier_uniform",
            (_GAIN,),
            "Glorot & Bengio 2010, uniform",
            "bound = gain · sqrt(6 / (fan_in + fan_out)), std = bound / sqrt(3)",
            needs_matrix=True,
            torch_name="xavier_uniform_",
        ),
        Scheme(
            "xavier_normal",
            (_GAIN,),
            "Glorot & Bengio 2010, normal",
            "std = gain · sqrt(2 / (fan_in + fan_out))",
            needs_matrix=True,
            torch_name="xavier_normal_",
        ),
        Scheme(
            "kaiming_uniform",
            _KAIMING,
            "He et al. 2015, uniform",
            "bound = sqrt(3) · calculate_gain(nonlinearity, a) / sqrt(fan_mode)",
            needs_matrix=True,
            torch_name="kaiming_uniform_",
        ),
        Scheme(
            "kaiming_normal",
            _KAIMING,
            "He et al. 2015, normal",
            "std = calculate_gain(nonlinearity, a) / sqrt(fan_mode)",
            needs_matrix=True,
            torch_name="kaiming_normal_",
        ),
        Scheme(
            "orthogonal",
            (_GAIN,),
            "Saxe et al. 2013: a (semi-)orthogonal matrix times gain",
            "std = gain · sqrt(min(rows, cols) / (rows · cols))",
            needs_matrix=True,
            torch_name="orthogonal_",
        ),
        Scheme(
            "sparse",
            (
                Param("sparsity", required=True, check=_sparsity),
                Param("std", default=0.01, check=_nonneg),
            ),
            "Martens 2010: N(0, std²), ceil(sparsity · rows) zeros per column (2-D only)",
            "std = std · sqrt(1 - ceil(sparsity · rows) / rows)",
            needs_matrix=True,
            torch_name="sparse_",
        ),
        Scheme(
            "variance_scaling",
            (
                Param("scale", default=1.0, check=_positive),
                Param("mode", "mode", default="fan_in"),
                Param("distribution", "distribution", default="truncated_normal"),
            ),
            "Keras/Flax VarianceScaling",
            "std = sqrt(scale / fan_mode); truncated_normal samples N(0, (std/0.8796…)²) "
            "truncated at ±2 of its std; uniform bound = sqrt(3) · std",
            needs_matrix=True,
        ),
        Scheme(
            "lecun_normal",
            (),
            "LeCun 1998 / Klambauer 2017: variance_scaling(1, fan_in, truncated_normal)",
            "std = 1 / sqrt(fan_in)",
            needs_matrix=True,
        ),
        Scheme(
            "lecun_uniform",
            (),
            "variance_scaling(1, fan_in, uniform)",
            "bound = sqrt(3 / fan_in)",
            needs_matrix=True,
        ),
        Scheme(
            "prior",
            (Param("p", required=True, check=_probability),),
            "Lin et al. 2017 (focal loss): a bias whose sigmoid is p",
            "every element = -log((1 - p) / p), std = 0",
            kind="constant",
        ),
        Scheme("keep", (), "leave the tensor as it is", "", kind="special"),
        Scheme(
            "default",
            (),
            "the module's own reset_parameters(), under a seeded RNG",
            "",
            kind="special",
        ),
    )
}


def names() -> tuple[str, ...]:
    return tuple(SCHEMES)


def get(name: str) -> Scheme:
    """The scheme called ``name``; KeyError if there is none (the parser adds a hint)."""
    return SCHEMES[name]


def resolve_values(name: str, values: Mapping[str, Value]) -> dict[str, Value]:
    """Fill in defaults and expand the derived schemes' fixed arguments."""
    out = dict(get(name).defaults())
    out.update(values)
    return out


def shape_error(
    name: str, shape: tuple[int, ...], values: Mapping[str, Value] | None = None
) -> str | None:
    """Why scheme ``name`` cannot write a tensor of ``shape``, or None if it can.

    The one rule shared by plan validation (before any tensor is touched) and
    :func:`initpolicy.applier.fill.fill_`. ``values`` (evaluated arguments) are only needed for
    dirac's ``groups``.

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
    floating = dtype.startswith("float") or dtype in ("bfloat16", "half", "double")
    if get(name).kind == "random" and not floating:
        return f"{name} draws random values and needs a floating-point tensor; got {dtype}"
    return None


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


def truncated_std(std: float, lo: float, hi: float) -> float:
    """Std of N(0, std²) truncated to [lo, hi] (standardized bounds lo/std, hi/std)."""
    if std == 0:
        return 0.0
    alpha, beta = lo / std, hi / std
    z = _Phi(beta) - _Phi(alpha)
    if z <= 0:
        return 0.0
    pa = _phi(alpha) if math.isfinite(alpha) else 0.0
    pb = _phi(beta) if math.isfinite(beta) else 0.0
    a_term = alpha * pa if math.isfinite(alpha) else 0.0
    b_term = beta * pb if math.isfinite(beta) else 0.0
    var = 1.0 + (a_term - b_term) / z - ((pa - pb) / z) ** 2
    return std * math.sqrt(max(var, 0.0))


def _zero_one_std(ones: int, numel: int) -> float:
    if numel == 0:
        return 0.0
    p = ones / numel
    return math.sqrt(p * (1 - p))


def moments(
    name: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    shape: tuple[int, ...],
) -> tuple[float | None, float | None]:
    """The (std, bound) the scheme produces for a tensor of ``shape`` with these fans.

    ``values`` are the evaluated arguments (defaults are filled in here). ``bound`` is the
    half-width of a uniform scheme, else None; ``std`` is None where it is not defined
    (``keep``, ``default``).
    """
    v = resolve_values(name, values)

    def f(key: str) -> float:
        return float(v[key])

    if name == "uniform":
        width = f("b") - f("a")
        return width / math.sqrt(12), width / 2
    if name == "normal":
        return f("std"), None
    if name == "trunc_normal":
        return truncated_std(f("std"), f("a") - f("mean"), f("b") - f("mean")), None
    if name == "truncated_normal":
        return f("std") * TRUNCATION_CORRECTION, None
    if name in ("constant", "ones", "zeros", "prior"):
        return 0.0, None
    numel = math.prod(shape) if shape else 1
    if numel == 0 and get(name).needs_matrix:
        return 0.0, None  # an empty tensor gets no values (and its fans may be 0)
    if name == "eye":
        return _zero_one_std(min(shape[0], shape[1]) if len(shape) == 2 else 0, numel), None
    if name == "dirac":
        if len(shape) < 3:
            return None, None
        groups = int(f("groups"))
        out_per_group = shape[0] // groups
        ones = groups * min(out_per_group, shape[1])
        return _zero_one_std(ones, numel), None
    if name == "xavier_uniform":
        bound = f("gain") * math.sqrt(6.0 / (fan_in + fan_out))
        return bound / math.sqrt(3), bound
    if name == "xavier_normal":
        return f("gain") * math.sqrt(2.0 / (fan_in + fan_out)), None
    if name in ("kaiming_normal", "kaiming_uniform"):
        gain = torch_gain(str(v["nonlinearity"]), f("a"))
        std = gain / math.sqrt(mode_fan(str(v["mode"]), fan_in, fan_out))
        if name == "kaiming_uniform":
            return std, math.sqrt(3) * std
        return std, None
    if name == "orthogonal":
        rows = shape[0] if shape else 1
        cols = numel // rows if rows else 0
        if rows == 0 or cols == 0:
            return 0.0, None
        return f("gain") * math.sqrt(min(rows, cols) / (rows * cols)), None
    if name == "sparse":
        rows = shape[0]
        zeros = math.ceil(f("sparsity") * rows)
        return f("std") * math.sqrt(1 - zeros / rows), None
    if name in ("variance_scaling", "lecun_normal", "lecun_uniform"):
        if name == "lecun_normal":
            scale, mode, dist = 1.0, "fan_in", "truncated_normal"
        elif name == "lecun_uniform":
            scale, mode, dist = 1.0, "fan_in", "uniform"
        else:
            scale, mode, dist = f("scale"), str(v["mode"]), str(v["distribution"])
        std = math.sqrt(scale / max(1.0, mode_fan(mode, fan_in, fan_out)))
        if dist == "uniform":
            return std, math.sqrt(3) * std
        return std, None
    return None, None  # keep, default
