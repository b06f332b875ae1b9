"""Models and data the calibration tests share (also imported by the distributed worker,
tests/calibrate_worlds.py, in fresh processes)."""

from __future__ import annotations

import torch
from torch import nn


def tanh_mlp(depth: int = 40, width: int = 64) -> nn.Sequential:
    """LSUV's hard case: a deep tanh MLP, no normalization."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def vgg_cnn() -> nn.Sequential:
    """A VGG-style CNN without normalization: 3x3 convs and ReLU, pooling, a classifier."""
    torch.manual_seed(0)
    chans = [3, 16, 16, 32, 32, 64]
    layers: list[nn.Module] = []
    for i in range(len(chans) - 1):
        layers += [nn.Conv2d(chans[i], chans[i + 1], 3, padding=1), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def batch(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))
