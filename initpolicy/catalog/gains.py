"""Gains: torch's calculate_gain, and the activation gain tables of PRODUCT.md.

Torch-free. ``gain`` (a policy's bound name) is torch.nn.init.calculate_gain where torch
defines it, except selu = 1; ``vp_gain`` and every other activation's gain is
variance-preserving, 1/sqrt(E[phi(z)^2]) for z ~ N(0, 1).

>>> round(gain("tanh"), 6), round(vp_gain("tanh"), 6)
(1.666667, 1.592537)
>>> round(vp_gain("elu", {"alpha": 0.5}), 6)
1.365595

How the numbers are computed (:mod:`initpolicy.catalog.gains_doc` renders ``docs/gains.md``):

- closed forms where they exist: relu sqrt(2), leaky_relu and prelu sqrt(2 / (1 + s²)),
  linear and output 1;
- every other activation integrates E[phi(z)²] = ∫ phi(z)² N(z; 0, 1) dz by composite
  20-point Gauss–Legendre quadrature on unit panels over [-12, 12], split at the
  activation's kinks (relu6 at 0 and 6, hardswish at ±3, ...), so each panel's integrand
  is smooth. The tails beyond ±12 weigh under 1e-30. Agreement with
  ``scipy.integrate.quad`` over torch's own float64 activations is better than 1e-12
  (tests/test_gains.py checks 1e-9 for every activation and several non-default args).
- the values at torch's default arguments (and gelu's tanh approximation) are cached in
  ``_VP_TABLE``, printed with ``repr`` from that quadrature; other arguments
  (``elu(alpha=0.5)``) are integrated at call time, in about 0.2 ms.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from functools import cache

from ..errors import GainError
from .activations import CANONICAL, by_name, canonical, defaults

_TORCH_LINEAR = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "sigmoid",
)
#: Every nonlinearity torch.nn.init.calculate_gain knows, in torch's order.
TORCH_NONLINEARITIES: tuple[str, ...] = (*_TORCH_LINEAR, "tanh", "relu", "leaky_relu", "selu")


def torch_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain, reimplemented without torch.

    >>> torch_gain("relu") == math.sqrt(2)
    True
    >>> round(torch_gain("leaky_relu", 0.2), 6)
    1.38675
    """
    if nonlinearity in _TORCH_LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


# --- activation arguments -------------------------------------------------------------

#: Other spellings of those arguments: nn.PReLU calls its initial slope ``init``, the
#: policy language calls the traced one ``slope``.
_ARG_ALIASES: dict[str, dict[str, str]] = {
    "leaky_relu": {"slope": "negative_slope"},
    "prelu": {"negative_slope": "init", "slope": "init", "weight": "init"},
}
_GELU_APPROXIMATE = ("none", "tanh")

#: torch's SELU constants (ATen Activation.h).
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946

#: Activations with no gain: softmax's output depends on the size of the dimension it
#: normalizes, not on one unit's pre-activation; a mixed layer has several activations.
NO_GAIN: dict[str, str] = {
    "mixed": "gain of a mixed layer is a plan error: the layer's uses are followed by "
    "different activations, so no single gain fits; write a rule `before mixed` with an "
    "explicit number",
    "unknown": "gain of a layer before an unknown elementwise function (sin, exp, ...) is a "
    "plan error: the catalog has no gain for it; use an explicit number",
    "softmax": "no gain is defined for softmax: it normalizes over a dimension, so "
    "E[phi(z)^2] depends on that dimension's size, not on the unit; use an explicit number",
    "log_softmax": "no gain is defined for log_softmax: it normalizes over a dimension, so "
    "E[phi(z)^2] depends on that dimension's size, not on the unit; use an explicit number",
}


def _name(activation: str) -> str:
    name = canonical(activation)
    if name is None:
        raise GainError(
            f"unknown activation {activation!r}; expected one of {', '.join(CANONICAL)}"
        )
    if name in NO_GAIN:
        raise GainError(NO_GAIN[name])
    return name


def _coerce(name: str, key: str, value: object, default: float | str) -> float | str:
    if isinstance(default, str):
        if value not in _GELU_APPROXIMATE:
            raise GainError(
                f"{name}: {key}={value!r} is not one of {', '.join(map(repr, _GELU_APPROXIMATE))}"
            )
        return str(value)
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, RuntimeError):
        raise GainError(f"{name}: {key}={value!r} is not a number") from None
    if not math.isfinite(number):
        raise GainError(f"{name}: {key}={value!r} is not finite")
    if number == 0 and (name, key) in (("celu", "alpha"), ("softplus", "beta")):
        raise GainError(f"{name}: {key} must not be 0")
    return number


def resolve_args(
    activation: str, act_args: Mapping[str, object] | None = None
) -> dict[str, float | str]:
    """The arguments that determine ``activation``'s gain: torch's defaults, overridden
    by the traced ``act_args`` (aliases mapped, irrelevant keys dropped).

    >>> resolve_args("LeakyReLU", {"negative_slope": 0.2, "inplace": True})
    {'negative_slope': 0.2}
    """
    name = _name(activation)
    out = defaults(name)
    aliases = _ARG_ALIASES.get(name, {})
    for key, value in (act_args or {}).items():
        key = aliases.get(key, key)
        if key in out and value is not None:  # None: the tracer could not read it
            out[key] = _coerce(name, key, value, out[key])
    return out


def label(activation: str, act_args: Mapping[str, object] | None = None) -> str:
    """The activation with the arguments that differ from torch's defaults.

    >>> label("gelu", {"approximate": "tanh"}), label("elu", {"alpha": 1.0})
    ("gelu(approximate='tanh')", 'elu')
    """
    name = _name(activation)
    args = resolve_args(name, act_args)
    base = defaults(name)
    changed = [f"{k}={v!r}" for k, v in args.items() if v != base[k]]
    return f"{name}({', '.join(changed)})" if changed else name


# --- the activations, as torch defines them --------------------------------------------


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _softplus(x: float, beta: float = 1.0, threshold: float = 20.0) -> float:
    # torch reverts to the identity above the threshold
    bx = beta * x
    if bx > threshold:
        return x
    return (max(bx, 0.0) + math.log1p(math.exp(-abs(bx)))) / beta


def _elu(x: float, alpha: float) -> float:
    return x if x > 0 else alpha * math.expm1(x)


def _function(
    name: str, args: Mapping[str, float | str]
) -> tuple[Callable[[float], float], tuple[float, ...]]:
    """phi and the points where it is not smooth (the quadrature splits there)."""

    def num(key: str) -> float:
        return float(args[key])

    if name == "relu6":
        return (lambda x: min(max(x, 0.0), 6.0)), (0.0, 6.0)
    if name in ("leaky_relu", "prelu"):
        slope = num(str(by_name(name).slope))
        return (lambda x: x if x >= 0 else slope * x), (0.0,)
    if name == "relu":
        return (lambda x: max(x, 0.0)), (0.0,)
    if name == "elu":
        alpha = num("alpha")
        return (lambda x: _elu(x, alpha)), (0.0,)
    if name == "celu":
        alpha = num("alpha")
        return (lambda x: x if x > 0 else alpha * math.expm1(x / alpha)), (0.0,)
    if name == "selu":
        return (lambda x: SELU_SCALE * _elu(x, SELU_ALPHA)), (0.0,)
    if name == "gelu":
        if args["approximate"] == "tanh":
            k = math.sqrt(2.0 / math.pi)
            return (lambda x: 0.5 * x * (1.0 + math.tanh(k * (x + 0.044715 * x**3)))), ()
        return (lambda x: 0.5 * x * math.erfc(-x / math.sqrt(2.0))), ()
    if name == "silu":
        return (lambda x: x * _sigmoid(x)), ()
    if name == "mish":
        return (lambda x: x * math.tanh(_softplus(x))), (20.0,)
    if name == "hardswish":
        return (lambda x: x * min(max(x + 3.0, 0.0), 6.0) / 6.0), (-3.0, 3.0)
    if name == "hardsigmoid":
        return (lambda x: min(max(x + 3.0, 0.0), 6.0) / 6.0), (-3.0, 3.0)
    if name == "sigmoid":
        return _sigmoid, ()
    if name == "tanh":
        return math.tanh, ()
    if name == "softplus":
        beta, threshold = num("beta"), num("threshold")
        return (lambda x: _softplus(x, beta, threshold)), (threshold / beta,)
    if name in ("linear", "output"):
        return (lambda x: x), ()
    raise GainError(f"no gain is defined for {name}")  # pragma: no cover - CANONICAL is covered


# --- quadrature ------------------------------------------------------------------------

_NODES = 20
_HALF_WIDTH = 12


@cache
def _gauss_legendre(n: int = _NODES) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Nodes and weights on [-1, 1] (numpy's Gauss-Legendre; numpy loads only here)."""
    from numpy.polynomial.legendre import leggauss

    nodes, weights = leggauss(n)
    return tuple(float(x) for x in nodes), tuple(float(w) for w in weights)


def second_moment(fn: Callable[[float], float], kinks: tuple[float, ...] = ()) -> float:
    """E[fn(z)²] for z ~ N(0, 1): composite Gauss–Legendre on unit panels over [-12, 12],
    split at ``kinks``.

    >>> round(second_moment(math.tanh), 9)
    0.39429449
    """
    cuts = {float(k) for k in range(-_HALF_WIDTH, _HALF_WIDTH + 1)}
    cuts |= {k for k in kinks if -_HALF_WIDTH < k < _HALF_WIDTH}
    points = sorted(cuts)
    nodes, weights = _gauss_legendre()
    terms = []
    for lo, hi in itertools.pairwise(points):
        mid, half = (lo + hi) / 2, (hi - lo) / 2
        for x, w in zip(nodes, weights, strict=True):
            z = mid + half * x
            y = fn(z)
            terms.append(w * half * y * y * math.exp(-0.5 * z * z))
    return math.fsum(terms) / math.sqrt(2 * math.pi)


def _integrate(name: str, args: Mapping[str, float | str]) -> float:
    return _integrate_once(name, tuple(sorted(args.items())))


@cache
def _integrate_once(name: str, args: tuple[tuple[str, float | str], ...]) -> float:
    # Memoized: a plan asks for the same layer's gain once per parameter.
    fn, kinks = _function(name, dict(args))
    return 1.0 / math.sqrt(second_moment(fn, kinks))


# --- the tables ------------------------------------------------------------------------

#: vp_gain at torch's default arguments, keyed by :func:`label`: the repr of
#: ``_integrate`` (see the module docstring), confirmed by scipy in tests/test_gains.py.
_VP_TABLE: dict[str, float] = {
    "relu6": 1.4142135650950736,
    "elu": 1.2451983007007066,
    "selu": 1.0,
    "celu": 1.2451983007007066,
    "gelu": 1.5335304411955353,
    "gelu(approximate='tanh')": 1.533580521666147,
    "silu": 1.6765324703310913,
    "mish": 1.486847581273208,
    "hardswish": 1.7366572127665416,
    "hardsigmoid": 1.8978404247295588,
    "sigmoid": 1.8462285453386054,
    "tanh": 1.5925374197228312,
    "softplus": 1.0418668355353016,
}


def closed_form(name: str, args: Mapping[str, float | str]) -> float | None:
    """vp_gain in closed form (relu, leaky_relu, prelu, linear, output), else None.

    >>> closed_form("prelu", {"init": 0.25}) == math.sqrt(2 / 1.0625)
    True
    """
    if name == "relu":
        return torch_gain("relu")
    if name in ("leaky_relu", "prelu"):
        return torch_gain("leaky_relu", float(args[str(by_name(name).slope)]))
    if name in ("linear", "output"):
        return 1.0
    return None


def vp_gain(activation: str, act_args: Mapping[str, object] | None = None) -> float:
    """The variance-preserving gain 1/sqrt(E[phi(z)²]), z ~ N(0, 1), of ``activation``
    with the traced arguments ``act_args`` (torch's defaults where absent).

    Raises :class:`GainError` for ``mixed``, ``softmax`` and ``log_softmax``.

    >>> round(vp_gain("relu"), 6), round(vp_gain("selu"), 6), vp_gain("output")
    (1.414214, 1.0, 1.0)
    """
    name = _name(activation)
    args = resolve_args(name, act_args)
    exact = closed_form(name, args)
    if exact is not None:
        return exact
    cached = _VP_TABLE.get(label(name, args))
    return cached if cached is not None else _integrate(name, args)


#: Activations whose ``gain`` is torch's calculate_gain (selu excepted, see :func:`gain`).
TORCH_GAIN_ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")


def gain(activation: str, act_args: Mapping[str, object] | None = None) -> float:
    """The gain a policy's ``gain`` name binds to for a layer followed by ``activation``.

    torch.nn.init.calculate_gain where torch defines it (relu sqrt(2), leaky_relu
    sqrt(2 / (1 + slope²)) with the traced ``negative_slope``, tanh 5/3, sigmoid 1,
    linear 1), except selu = 1: torch's 3/4 is a compromise for training SELU nets with
    dropout, while torch's own documentation advises ``kaiming_normal_(...,
    nonlinearity="linear")`` (gain 1) for self-normalizing networks (Klambauer et al. 2017:
    LeCun normal, std 1/sqrt(fan_in)). Every other activation gets :func:`vp_gain`.

    >>> gain("ReLU") == math.sqrt(2), gain("selu"), round(gain("gelu"), 6)
    (True, 1.0, 1.53353)
    """
    name = _name(activation)
    if name == "selu":
        return 1.0
    if name in TORCH_GAIN_ACTIVATIONS:
        slope = resolve_args(name, act_args).get("negative_slope")
        return torch_gain(name, None if slope is None else float(slope))
    return vp_gain(name, act_args)
