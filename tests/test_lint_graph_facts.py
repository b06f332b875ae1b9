"""The graph facts the rules judge by, each on a model that isolates it, and seen wrong on
a real library model first (docs/lint.md, "What a weight does, and where its scale
matters"): a log-loss link at the end of the model (torchvision's RetinaNet and FCOS), a
layer fed only by constants (timm's ConViT), a second returned head (transformers'
YOLOS)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from initpolicy.api import lint


def _codes(model: nn.Module, target: str, **kw) -> set[str]:
    result = lint(model, **kw)
    return {f.code for f in result.findings if f.target == target}


class Head(nn.Module):
    """A trunk, then a class head whose bias is a prior, then ``final`` on the logits."""

    def __init__(self, final):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(16, 32)
        self.cls = nn.Linear(32, 8)
        nn.init.kaiming_normal_(self.trunk.weight)
        nn.init.normal_(self.cls.weight, std=0.01)
        nn.init.constant_(self.cls.bias, -math.log(99))  # the focal-loss prior
        self.final = final

    def forward(self, x):
        return self.final(self.cls(torch.relu(self.trunk(x))))


@pytest.mark.parametrize("final", [torch.sigmoid, nn.Softmax(dim=-1)], ids=["sigmoid", "softmax"])
def test_a_link_at_the_end_belongs_to_the_loss(final) -> None:
    # The bias is a prior, the small weight gives near-uniform first predictions: no
    # large-bias, no saturation, no gain to match.
    assert _codes(Head(final), "cls.bias") == set()
    assert _codes(Head(final), "cls.weight") == set()


def test_a_final_tanh_stays_judged() -> None:
    # No loss cancels tanh's derivative: a bias of -4.6 before it saturates the output.
    assert "IP109" in _codes(Head(torch.tanh), "cls.bias")


def test_a_link_inside_the_model_stays_judged() -> None:
    # The same sigmoid followed by another layer is an activation of the network.
    model = nn.Sequential(nn.Linear(16, 32), nn.Sigmoid(), nn.Linear(32, 4))
    nn.init.constant_(model[0].bias, -5.0)
    assert "IP109" in _codes(model, "0.bias")


class Table(nn.Module):
    """Attention logits plus a position bias computed by ``pos`` from a constant table (as
    ConViT's pos_proj over patch offsets), or from the data."""

    def __init__(self, from_data: bool):
        super().__init__()
        torch.manual_seed(0)
        self.from_data = from_data
        self.register_buffer("offsets", torch.randn(10, 3))
        self.q = nn.Linear(3, 3)
        self.pos = nn.Linear(3, 4)
        nn.init.normal_(self.pos.weight, std=1.4)  # a deliberate pattern, not a scale
        self.out = nn.Linear(40, 2)

    def forward(self, x):
        source = self.q(x) if self.from_data else self.offsets.expand(x.shape[0], 10, 3)
        return self.out(torch.softmax(self.pos(source), dim=-1).flatten(1))


def test_a_layer_fed_by_constants_has_no_band() -> None:
    x = torch.randn(2, 10, 3)
    assert _codes(Table(from_data=False), "pos.weight", example_inputs=(x,)) == set()
    # the same weight fed by the data is judged: too wide before softmax
    assert "IP103" in _codes(Table(from_data=True), "pos.weight", example_inputs=(x,))


class TwoHeads(nn.Module):
    """Class logits first, then a box head (a 3-layer ReLU MLP) returned beside them."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.trunk = nn.Linear(64, 64)
        self.cls = nn.Linear(64, 10)
        self.box = nn.Sequential(
            nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 4)
        )
        nn.init.kaiming_normal_(self.trunk.weight)
        for m in self.box:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)  # 0.16 of He's std on 64 inputs

    def forward(self, x):
        h = torch.relu(self.trunk(x))
        return self.cls(h), self.box(h)


def test_every_returned_tensor_nothing_reads_is_an_end() -> None:
    # The box head is judged as the class head would be: its chain vanishes.
    found = _codes(TwoHeads(), "box.0.weight")
    assert {"IP103", "IP105"} & found, found


def test_a_returned_tensor_that_is_read_on_is_a_side_output() -> None:
    class Side(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc = nn.Linear(8, 8)
            self.dec = nn.Linear(8, 2)

        def forward(self, x):
            h = self.enc(x)
            return self.dec(torch.relu(h)), h  # h returned for the caller, and read on

    from initpolicy.tracer.tracing import trace

    graph = trace(Side())
    assert graph.layer("enc").activation == "relu"
    assert graph.layer("enc").roles.to_output == 1
