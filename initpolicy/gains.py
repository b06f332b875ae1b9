"""Gains: torch's calculate_gain, and the activation gain tables of PRODUCT.md.

Torch-free. ``gain`` (a policy's bound name) is torch.nn.init.calculate_gain where torch
defines it, except selu = 1; ``vp_gain`` and every other activation's gain is
variance-preserving, 1/sqrt(E[phi(z)^2]) for z ~ N(0, 1).
"""

from __future__ import annotations

import math

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


def torch_gain(nonlinearity: str, param: float | None = None) -> float:
    """torch.nn.init.calculate_gain, reimplemented without torch.

    >>> torch_gain("relu") == math.sqrt(2)
    True
    >>> round(torch_gain("leaky_relu", 0.2), 6)
    1.386750
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
