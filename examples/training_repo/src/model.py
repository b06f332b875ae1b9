"""The training repo's model: a residual ReLU MLP classifier."""

import torch
from torch import nn


class ResidualMLP(nn.Module):
    def __init__(self, dim: int = 32, hidden: int = 64, blocks: int = 3, classes: int = 4):
        super().__init__()
        self.stem = nn.Linear(16, dim)
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)
            )
            for _ in range(blocks)
        )
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def build_model() -> nn.Module:
    return ResidualMLP()


def example_inputs() -> tuple[torch.Tensor]:
    return (torch.randn(8, 16),)
