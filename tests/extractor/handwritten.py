"""Hand-written models with hand-written init code, as training repos have them: an LSTM
tagger (orthogonal recurrent weights, a forget-gate bias, a zeroed padding row), a GRU
initialized gate by gate, a ResNet whose residual ends start at zero, and writes no law
names (a clamp, values assigned through ``.data``)."""

from __future__ import annotations

import math

import torch
from torch import nn

from tests.models.corpus import BasicBlock


class Tagger(nn.Module):
    """Embedding with a zeroed padding row, a 2-layer LSTM with orthogonal recurrent
    weights and forget-gate bias 1, a linear head."""

    def __init__(self, vocab: int = 100, d: int = 32, hidden: int = 48, layers: int = 2) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d, padding_idx=0)
        self.lstm = nn.LSTM(d, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, 10)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.emb.weight, std=0.1)
        with torch.no_grad():
            self.emb.weight[self.emb.padding_idx].zero_()
        h = self.lstm.hidden_size
        for name, p in self.lstm.named_parameters():
            if "weight_ih" in name:
                nn.init.xavier_uniform_(p)
            elif "weight_hh" in name:
                nn.init.orthogonal_(p)
            else:
                p.data.zero_()
                if "bias_ih" in name:
                    p.data[h : 2 * h].fill_(1.0)  # forget gate
        nn.init.kaiming_normal_(self.head.weight, nonlinearity="linear")
        nn.init.zeros_(self.head.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.emb(ids))
        return self.head(out)


class GateWiseGRU(nn.Module):
    """A GRU whose recurrent weight is orthogonal per gate (three square blocks)."""

    def __init__(self, d: int = 16, hidden: int = 24) -> None:
        super().__init__()
        self.gru = nn.GRU(d, hidden)
        self.out = nn.Linear(hidden, 4)
        h = hidden
        with torch.no_grad():
            for i in range(3):
                nn.init.orthogonal_(self.gru.weight_hh_l0[i * h : (i + 1) * h])
            nn.init.xavier_normal_(self.gru.weight_ih_l0)
            self.gru.bias_ih_l0.zero_()
            self.gru.bias_hh_l0.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        return self.out(y)


class ZeroResNet(nn.Module):
    """Residual blocks whose last conv starts at zero (each block is the identity)."""

    def __init__(self, c: int = 16, blocks: int = 3, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, c, 3, padding=1)
        self.blocks = nn.Sequential(*[BasicBlock(c) for _ in range(blocks)])
        self.fc = nn.Linear(c, classes)
        self.scale = nn.Parameter(torch.ones(1) * 0.5)
        self.pos = nn.Parameter(torch.randn(1, c, 1, 1) * 0.02)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        for b in self.blocks:
            nn.init.zeros_(b.conv2.weight)  # zero-initialized residual end
        bound = 1 / math.sqrt(self.fc.in_features)
        nn.init.uniform_(self.fc.weight, -bound, bound)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x)) * self.scale + self.pos
        x = self.blocks(x)
        return self.fc(x.mean((2, 3)))


class OddInit(nn.Module):
    """Writes the recorder cannot name: a clamped uniform, values assigned via .data."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.b = nn.Linear(64, 64)
        with torch.no_grad():
            self.a.weight.uniform_(-1, 1)
            self.a.weight.clamp_(-0.5, 0.5)  # not a law we can name
        self.b.weight.data = torch.randn(64, 64).tanh() * 0.1  # made out of sight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


BUILDERS = {
    "tagger": Tagger,
    "gatewise_gru": GateWiseGRU,
    "zero_resnet": ZeroResNet,
    "odd_init": OddInit,
}
