"""A deep ReLU MLP, as a user would write it: `initpolicy lint examples/mlp.py`.

With PyTorch's default init (variance 1/(3·fan_in), six times under He's 2/fan_in) the
signal shrinks layer by layer; `examples/mlp.pol` (He init) fixes it.
"""

import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, in_features: int = 64, width: int = 128, depth: int = 12, classes: int = 10):
        super().__init__()
        layers: list[nn.Module] = []
        d = in_features
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def build_model() -> nn.Module:
    return MLP()


def example_inputs() -> tuple[torch.Tensor]:
    return (torch.randn(32, 64),)
