"""Computed grids and per-block curves: a Python list turned into a tensor is a grid law
where its values are one (``linspace``, or ``linspace(0, 1)`` mapped by a power), the
power's exponent changing from block to block is a line in ``index(Block)``, and a
widening layer's gain is ``max(1, sqrt(fan_out / fan_in))``; each extracted at one size
and checked against the code at others (docs/extract.md, "Laws, not instances")."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.extractor import check, extract, record
from initpolicy.extractor.laws import grid
from initpolicy.extractor.recorder import Recorder
from initpolicy.language.printer import expression


def test_an_affine_list_is_a_linspace_and_a_power_of_the_unit_grid_its_map():
    assert grid([i / 8 for i in range(8)]) == ("linspace", {"start": 0.0, "end": 0.875}, None)
    assert grid([2 - 3 * i / 4 for i in range(5)]) == (
        "linspace",
        {"start": 2.0, "end": -1.0},
        None,
    )
    scheme, args, fn = grid([-5 + 8 * (h / 9) ** 1.7 for h in range(10)])  # type: ignore[misc]
    assert (scheme, args, expression(fn)) == (
        "linspace",
        {"start": 0.0, "end": 1.0},
        "x ** 1.7 * 8 + -5",
    )


@pytest.mark.parametrize(
    "values",
    [
        [(i + 1) % 3 - 1 for i in range(9)],  # RWKV's zigzag: no grid
        [1.0, 2.0, 4.0, 8.0],  # a geometric list
        [0.0, 0.5],  # too short to tell
        [3.0, 3.0, 3.0],
    ],
)
def test_a_list_that_is_no_grid_has_no_grid_law(values):
    assert grid([float(v) for v in values]) is None


def test_the_recorder_follows_a_power_of_a_grid_the_code_listed():
    with Recorder() as rec:
        w = torch.tensor([i / 16 for i in range(16)])[None, :]
        out = torch.pow(w, 0.25) + 0.5
    r = rec.records[int(rec.owners(out)[0, 0])]
    assert (r.scheme, r.args, expression(r.fn)) == (
        "linspace",
        {"start": 0.0, "end": 0.9375},
        "x ** 0.25 + 0.5",
    )


class CurveBlock(nn.Module):
    def __init__(self, i: int, n: int, d: int):
        super().__init__()
        self.mix = nn.Parameter(torch.empty(1, d))
        self.proj = nn.Linear(d, 2 * d)
        self.back = nn.Linear(2 * d, d)
        grid_ = torch.tensor([k / d for k in range(d)])
        with torch.no_grad():
            # RWKV-style: the exponent falls with the block, the offset rises to 0.3
            self.mix.copy_(torch.pow(grid_, 1.0 - i / n) + 0.3 * (i / (n - 1)))
        for lin in (self.proj, self.back):
            shape = lin.weight.shape
            gain = math.sqrt(shape[0] / shape[1]) if shape[0] > shape[1] else 1.0
            nn.init.orthogonal_(lin.weight, gain=gain)


class _Curves(nn.Module):
    def __init__(self, n: int = 3, d: int = 8):
        super().__init__()
        self.blocks = nn.ModuleList(CurveBlock(i, n, d) for i in range(n))


def _rules(text: str) -> list[str]:
    return [
        re.sub(r"\s+#.*", "", line)
        for line in text.splitlines()
        if line and not line.startswith(("#", "let"))
    ]


def test_a_per_block_exponent_is_a_line_in_the_block_index_and_holds_at_other_sizes():
    result = extract(record(_Curves))
    assert result.ok, result.warnings
    rules = " ".join(_rules(result.text))
    # i / n and i / (n - 1): the denominator whose coefficients the code wrote
    assert (
        "mapped(linspace(0, 1 - 1 / fan_in), x ** (1 - index(CurveBlock) / count(CurveBlock))"
        " + 0.3 * index(CurveBlock) / (count(CurveBlock) - 1))" in rules
    ), result.text
    assert "orthogonal(gain=max(1, sqrt(fan_out / fan_in)))" in rules, result.text
    for n, d in ((5, 16), (2, 12)):
        k, wrong = check(result.text, record(lambda n=n, d=d: _Curves(n, d)))
        assert k == 5 * n and wrong == [], (n, d, wrong)


def test_layers_that_never_widen_keep_the_plain_gain():
    def build() -> nn.Module:
        m = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 4))
        for lin in m:
            nn.init.orthogonal_(lin.weight)
        return m

    result = extract(record(build))
    assert "max(" not in result.text and "orthogonal()" in result.text, result.text


def _rwkv(hidden: int, layers: int, vocab: int = 100) -> nn.Module:
    import transformers

    cfg = transformers.RwkvConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        num_hidden_layers=layers,
        attention_hidden_size=hidden,
        intermediate_size=2 * hidden,
    )
    return transformers.RwkvForCausalLM(cfg)


@pytest.mark.slow
def test_rwkv_curves_and_gains_extracted_at_one_size_hold_at_two_others():
    result = extract(record(lambda: _rwkv(32, 2)))
    assert result.ok, result.warnings
    assert "keep" not in result.text and "fitted" not in result.text, result.text
    for hidden, layers in ((48, 3), (64, 5)):
        other = record(lambda h=hidden, n=layers: _rwkv(h, n))
        k, wrong = check(result.text, other)
        # per block 6 curves, 7 Linear weights, time_first, 2 LayerNorms x 2; embeddings, head
        assert k > 14 * layers and wrong == [], (hidden, layers, wrong)
    # applied at another size, built on meta: the curves are the code's own numbers
    want = dict(_rwkv(48, 3).named_parameters())
    with torch.device("meta"):
        model = _rwkv(48, 3)
    model = model.to_empty(device="cpu")
    initpolicy.load(result.text).apply(model, seed=0)
    curves = [(k, p) for k, p in model.named_parameters() if "time_mix" in k or "decay" in k]
    assert len(curves) == 6 * 3
    for k, p in curves:
        # the code computes in float64 and rounds once; apply steps in float32
        torch.testing.assert_close(p.detach(), want[k].detach(), rtol=0, atol=1e-6)
