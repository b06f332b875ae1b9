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
from typing import Any

SQRT2 = math.sqrt(2.0)


@dataclass(frozen=True)
class Band:
    """Accepted effective gains ``[lo, hi]`` and the scheme a fix should use."""

    lo: float
    hi: float
    fix: str
    source: str


def _leaky(slope: float) -> float:
    return math.sqrt(2.0 / (1.0 + slope * slope))


# Variance-preserving gains 1/sqrt(E[phi(z)^2]), z ~ N(0, 1) (measured to 3 digits).
_VP = {
    "elu": 1.246,
    "celu": 1.246,
    "gelu": 1.535,
    "silu": 1.678,
    "mish": 1.488,
    "hardswish": 1.738,
    "softplus": 1.042,
    "sigmoid": 1.847,
    "hardsigmoid": 1.898,
}

#: activation -> (lo, hi, fix scheme, where the band comes from). Documented in docs/lint.md.
BANDS: dict[str, tuple[float, float, str, str]] = {
    "relu": (SQRT2, SQRT2, "kaiming_normal(fan_in)", "He et al. 2015"),
    "relu6": (SQRT2, SQRT2, "kaiming_normal(fan_in)", "He et al. 2015"),
    "elu": (_VP["elu"], SQRT2, "kaiming_normal(fan_in)", "variance-preserving gain to He"),
    "celu": (_VP["celu"], SQRT2, "kaiming_normal(fan_in)", "variance-preserving gain to He"),
    "selu": (1.0, 1.0, "lecun_normal()", "Klambauer et al. 2017 (LeCun normal)"),
    "gelu": (
        1.0,
        _VP["gelu"],
        "normal(0, gain / sqrt(fan_in))",
        "LeCun/Glorot to variance-preserving",
    ),
    "silu": (
        1.0,
        _VP["silu"],
        "normal(0, gain / sqrt(fan_in))",
        "LeCun/Glorot to variance-preserving",
    ),
    "mish": (
        1.0,
        _VP["mish"],
        "normal(0, gain / sqrt(fan_in))",
        "LeCun/Glorot to variance-preserving",
    ),
    "hardswish": (
        1.0,
        _VP["hardswish"],
        "normal(0, gain / sqrt(fan_in))",
        "LeCun/Glorot to variance-preserving",
    ),
    "softplus": (1.0, SQRT2, "normal(0, gain / sqrt(fan_in))", "LeCun/Glorot to He"),
    "tanh": (
        1.0,
        5.0 / 3.0,
        "xavier_uniform(gain=gain)",
        "Glorot & Bengio 2010 (gain 1) to torch.nn.init (5/3)",
    ),
    "sigmoid": (
        1.0,
        _VP["sigmoid"],
        "xavier_uniform()",
        "Glorot & Bengio 2010 to variance-preserving",
    ),
    "hardsigmoid": (
        1.0,
        _VP["hardsigmoid"],
        "xavier_uniform()",
        "Glorot & Bengio 2010 to variance-preserving",
    ),
    "linear": (1.0, 1.0, "xavier_uniform()", "LeCun 1998 / Glorot & Bengio 2010"),
    "softmax": (1.0, 1.0, "xavier_uniform()", "LeCun 1998 / Glorot & Bengio 2010"),
    "log_softmax": (1.0, 1.0, "xavier_uniform()", "LeCun 1998 / Glorot & Bengio 2010"),
}

#: The ReLU family: where PyTorch's default init is six times under He's variance.
RELU_FAMILY = frozenset({"relu", "relu6", "leaky_relu", "prelu"})


def band(activation: str, act_args: Mapping[str, Any] | None = None) -> Band | None:
    """The band for ``activation`` (None for ``output`` and ``mixed``: no gain to match)."""
    args = act_args or {}
    if activation == "leaky_relu":
        slope = float(args.get("negative_slope", 0.01))
        return Band(_leaky(slope), SQRT2, "kaiming_normal(fan_in, a=slope)", "He et al. 2015")
    if activation == "prelu":
        slope = float(args.get("init", args.get("negative_slope", 0.25)))
        return Band(_leaky(slope), SQRT2, "kaiming_normal(fan_in, a=slope)", "He et al. 2015")
    if activation not in BANDS:
        return None
    lo, hi, fix, source = BANDS[activation]
    return Band(lo, hi, fix, source)


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
