"""What std a weight should have before each activation: the documented gain bands.

A weight of std ``s`` feeding activation ``a`` through fan ``n`` has the *effective gain*
``s·sqrt(n)``. Each activation accepts effective gains in ``[lo, hi]`` (the established
schemes for it), widened by the ``gain-tolerance`` threshold and by the sampling noise of
the measured std; a weight fits if it does so for fan_in, fan_out or fan_avg (He et al.
allow either fan; torchvision uses fan_out; Glorot uses their average). Torch-free.

>>> band("tanh", {})
Band(lo=1.0, hi=1.6666666666666667, fix='xavier_uniform(gain=gain)', source='Glorot & Bengio 2010 (gain 1) to torch.nn.init (5/3)')
>>> round(band("leaky_relu", {"negative_slope": 0.2}).lo, 4)
1.3868
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ..catalog import facts, resolve_args, torch_gain, vp_gain
from ..errors import GainError

SQRT2 = torch_gain("relu")


@dataclass(frozen=True)
class Band:
    """Accepted effective gains ``[lo, hi]`` and the scheme a fix should use."""

    lo: float
    hi: float
    fix: str
    source: str


#: Where each end of a band comes from; every number is computed by
#: :mod:`initpolicy.catalog.gains`, the one gain table (docs/gains.md):
#:
#: - ``unit``: 1, LeCun 1998 / Glorot & Bengio 2010 without a gain;
#: - ``he``: ``torch_gain("relu")`` = sqrt(2), He et al. 2015;
#: - ``torch``: ``torch_gain(activation)``, torch.nn.init.calculate_gain;
#: - ``vp``: ``vp_gain(activation, act_args)``, the variance-preserving gain
#:   1/sqrt(E[phi(z)^2]) with the traced arguments;
#: - ``leaky``: ``torch_gain("leaky_relu", slope)``, He et al.'s sqrt(2/(1+slope²)) with
#:   the traced negative slope (PReLU's initial one).
End = Literal["unit", "he", "torch", "vp", "leaky"]

_LECUN_TO_VP = "LeCun/Glorot to variance-preserving"
_GLOROT_TO_VP = "Glorot & Bengio 2010 to variance-preserving"
_LECUN_GLOROT = "LeCun 1998 / Glorot & Bengio 2010"
#: The fix of the bands that span LeCun to a variance-preserving gain, and the fan_in form
#: of a Glorot fix (for grouped convolutions: initpolicy.linter.rules.static.fix_scheme).
VARIANCE_FIX = "normal(0, gain / sqrt(fan_in))"

#: activation -> (lo, hi, fix scheme, where the band comes from). Documented in docs/lint.md.
BANDS: dict[str, tuple[End, End, str, str]] = {
    "relu": ("he", "he", "kaiming_normal(fan_in)", "He et al. 2015"),
    "relu6": ("he", "he", "kaiming_normal(fan_in)", "He et al. 2015"),
    "leaky_relu": ("leaky", "he", "kaiming_normal(fan_in, a=slope)", "He et al. 2015"),
    "prelu": ("leaky", "he", "kaiming_normal(fan_in, a=slope)", "He et al. 2015"),
    "elu": ("vp", "he", "kaiming_normal(fan_in)", "variance-preserving gain to He"),
    "celu": ("vp", "he", "kaiming_normal(fan_in)", "variance-preserving gain to He"),
    "selu": ("unit", "unit", "lecun_normal()", "Klambauer et al. 2017 (LeCun normal)"),
    "gelu": ("unit", "vp", VARIANCE_FIX, _LECUN_TO_VP),
    "silu": ("unit", "vp", VARIANCE_FIX, _LECUN_TO_VP),
    "mish": ("unit", "vp", VARIANCE_FIX, _LECUN_TO_VP),
    "hardswish": ("unit", "vp", VARIANCE_FIX, _LECUN_TO_VP),
    "softplus": ("unit", "he", VARIANCE_FIX, "LeCun/Glorot to He"),
    "tanh": (
        "unit",
        "torch",
        "xavier_uniform(gain=gain)",
        "Glorot & Bengio 2010 (gain 1) to torch.nn.init (5/3)",
    ),
    "sigmoid": ("unit", "vp", "xavier_uniform()", _GLOROT_TO_VP),
    "hardsigmoid": ("unit", "vp", "xavier_uniform()", _GLOROT_TO_VP),
    "linear": ("unit", "unit", "xavier_uniform()", _LECUN_GLOROT),
    "softmax": ("unit", "unit", "xavier_uniform()", _LECUN_GLOROT),
    "log_softmax": ("unit", "unit", "xavier_uniform()", _LECUN_GLOROT),
}


def _args(activation: str, act_args: Mapping[str, Any] | None) -> dict[str, float | str]:
    try:
        return resolve_args(activation, act_args)
    except GainError:
        # An argument the gain table cannot read (a string where a number belongs) is
        # the model's business, not a lint failure: judge by torch's defaults.
        return resolve_args(activation)


def _gain(end: End, activation: str, act_args: Mapping[str, Any] | None) -> float:
    if end == "unit":
        return 1.0
    if end == "he":
        return SQRT2
    if end == "torch":
        return torch_gain(activation)
    args = _args(activation, act_args)
    if end == "vp":
        return vp_gain(activation, args)
    slope = args[str(facts(activation).slope)]
    return torch_gain("leaky_relu", float(slope))


def band(activation: str, act_args: Mapping[str, Any] | None = None) -> Band | None:
    """The band for ``activation`` with its traced arguments (None for ``output`` and
    ``mixed``: no gain to match).

    >>> round(band("gelu").hi, 4), round(band("elu", {"alpha": 0.5}).lo, 4)
    (1.5335, 1.3656)
    """
    if activation not in BANDS:
        return None
    lo, hi, fix, source = BANDS[activation]
    return Band(_gain(lo, activation, act_args), _gain(hi, activation, act_args), fix, source)


def noise(numel: int) -> float:
    """Relative sampling error of a std measured on ``numel`` values (three sigmas)."""
    return 3.0 / math.sqrt(2.0 * max(numel, 1))


@dataclass(frozen=True)
class Fit:
    """How a std compares with a band: the effective gains per fan and the verdict."""

    gains: dict[str, float]
    floor: float
    ceiling: float

    @property
    def ok(self) -> bool:
        return any(self.floor <= g <= self.ceiling for g in self.gains.values())

    @property
    def best(self) -> float:
        """The effective gain closest to the band (in log distance)."""

        def dist(g: float) -> float:
            if g <= 0:
                return math.inf
            if g < self.floor:
                return math.log(self.floor / g)
            if g > self.ceiling:
                return math.log(g / self.ceiling)
            return 0.0

        return min(self.gains.values(), key=dist)

    @property
    def best_fan(self) -> str:
        return next(k for k, v in self.gains.items() if v == self.best)


def fit(
    std: float,
    b: Band,
    fan_in: float,
    fan_out: float,
    numel: int,
    tolerance: float,
    *,
    no_floor: bool = False,
) -> Fit:
    """Compare ``std`` with band ``b``; ``no_floor`` for residual-branch layers.

    >>> fit(1 / 8, band("relu"), 64, 64, 4096, 0.15).ok   # xavier in a square layer
    False
    >>> fit(SQRT2 / 8, band("relu"), 64, 64, 4096, 0.15).ok
    True
    """
    slack = noise(numel)
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    gains = {k: std * math.sqrt(f) for k, f in fans.items() if f > 0}
    floor = 0.0 if no_floor else b.lo * (1 - tolerance - slack)
    ceiling = b.hi * (1 + tolerance + slack)
    return Fit(gains, floor, ceiling)


def expected_std(b: Band, fan: float) -> float:
    """The std the band's fitting scheme gives through ``fan`` (middle of the band)."""
    return math.sqrt(b.lo * b.hi) / math.sqrt(fan) if fan > 0 else 0.0
