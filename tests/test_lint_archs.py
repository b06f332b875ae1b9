"""Well-initialized real architectures: the linter must find nothing at warning level
(the false-positive measurement of docs/lint.md)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initpolicy.api import lint

#: It builds real third-party models.
pytestmark = pytest.mark.slow


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.down is None else self.down(x)
        return self.relu(out + idt)


class ResNet(nn.Module):
    """ResNet-18's layout (narrower), initialized as torchvision does."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        blocks, cin = [], width
        for i, mult in enumerate((1, 2, 4, 8)):
            cout = width * mult
            blocks += [BasicBlock(cin, cout, 1 if i == 0 else 2), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layers(x)
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


class PreNormTransformer(nn.Module):
    """A GPT-style pre-norm transformer, every weight N(0, 0.02), residual projections
    N(0, 0.02/sqrt(2·n_layers))."""

    def __init__(self, vocab: int = 1000, d: int = 256, layers: int = 6, heads: int = 4):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(
            nn.TransformerEncoderLayer(
                d, heads, 4 * d, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        for name, p in self.named_parameters():
            if p.ndim >= 2:
                std = (
                    0.02 / math.sqrt(2 * layers)
                    if name.endswith(("out_proj.weight", "linear2.weight"))
                    else 0.02
                )
                nn.init.normal_(p, 0.0, std)
            elif "norm" not in name:
                nn.init.zeros_(p)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for b in self.blocks:
            x = b(x)
        return self.head(self.norm(x))


def gpt2(n_layer: int = 4, n_embd: int = 128) -> nn.Module:
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(
        n_layer=n_layer, n_embd=n_embd, n_head=4, vocab_size=1000, n_positions=128
    )
    return transformers.GPT2LMHeadModel(cfg)


def resnet() -> nn.Module:
    torch.manual_seed(0)
    return ResNet()


def prenorm() -> nn.Module:
    torch.manual_seed(0)
    return PreNormTransformer()


ARCHS = {"resnet": resnet, "prenorm-transformer": prenorm, "gpt2": gpt2}
#: Parameters linted per architecture, as documented in docs/lint.md (false positives).
DOCUMENTED = {"resnet": 62, "prenorm-transformer": 76, "gpt2": 52}


@pytest.mark.parametrize("arch", list(ARCHS))
@pytest.mark.parametrize("static", [True, False], ids=["static", "dynamic"])
def test_no_warnings_on_well_initialized_architectures(arch, static):
    model = ARCHS[arch]()
    result = lint(model, static=static)
    assert [f.full_message for f in result.findings if f.severity != "info"] == []
    assert not result.failed()
    assert result.summary["parameters"] == DOCUMENTED[arch]
    if not static:
        assert result.summary["dynamic"] == "ran"
