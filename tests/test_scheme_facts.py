"""Scheme facts live on the scheme's catalog entry (initpolicy/catalog/scheme_spec.py):
who writes the values (``writer``: keep and default write none of their own), how much a
whole draw costs (``whole_draw_bytes``), and one std formula per family, whose numbers are
torch's own, checked on real tensors."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch
from torch import nn

from initpolicy.applier.streams import whole_draw_bytes
from initpolicy.catalog.schemes import SCHEMES, TORCH_DEFAULT, get, moments

PACKAGE = Path(__file__).resolve().parents[1] / "initpolicy"


def test_only_keep_and_default_leave_the_values_to_someone_else() -> None:
    assert {n for n, s in SCHEMES.items() if not s.writes_values} == {"keep", "default"}
    assert get("keep").keeps and not get("keep").runs_module_init
    assert get("default").runs_module_init and not get("default").keeps
    for name, s in SCHEMES.items():
        if s.writes_values:
            # it writes something: drawn, a constant, or by position (eye, dirac)
            assert s.sample is not None or s.value is not None, name


def test_no_stage_compares_scheme_names_for_what_the_entry_says() -> None:
    pattern = re.compile(
        r"""(scheme|\bs|name)\s*[!=]=\s*["'](keep|default)["']|\(["']default["'], ["']keep["']\)"""
    )
    found = [
        f"{path.relative_to(PACKAGE)}:{i}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "catalog" not in path.parts
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


@pytest.mark.parametrize(
    ("scheme", "per_element"), [("orthogonal", 17), ("sparse", 20), ("eye", 4), ("normal", 4)]
)
def test_whole_draw_bytes_come_from_the_entry(scheme: str, per_element: int) -> None:
    assert get(scheme).whole_draw_bytes == per_element
    assert whole_draw_bytes(scheme, 1000) == per_element * 1000


def _facts(shape: tuple[int, int]) -> dict[str, object]:
    out_f, in_f = shape
    return {"fan_in": in_f, "fan_out": out_f, "shape": shape}


@pytest.mark.parametrize(
    ("scheme", "args", "draw"),
    [
        ("xavier_uniform", {"gain": 1.7}, lambda w: nn.init.xavier_uniform_(w, gain=1.7)),
        ("xavier_normal", {"gain": 0.5}, lambda w: nn.init.xavier_normal_(w, gain=0.5)),
        (
            "kaiming_uniform",
            {"a": 0.2, "mode": "fan_out", "nonlinearity": "leaky_relu"},
            lambda w: nn.init.kaiming_uniform_(w, a=0.2, mode="fan_out"),
        ),
        (
            "kaiming_normal",
            {"nonlinearity": "relu"},
            lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        ),
    ],
)
def test_fan_scheme_moments_are_torch_draws(scheme: str, args: dict, draw) -> None:
    shape = (300, 700)
    std, bound = moments(scheme, args, **_facts(shape))  # type: ignore[arg-type]
    w = torch.empty(shape, dtype=torch.float64)
    torch.manual_seed(0)
    draw(w)
    n = w.numel()
    # the sample std of n draws is within 5 standard errors of the true one
    assert abs(float(w.std()) / std - 1) < 5 * math.sqrt(0.5 / n)
    if bound is not None:
        assert float(w.abs().max()) <= bound
        assert float(w.abs().max()) > bound * (1 - 10 / n)  # the draw reaches its bound
        assert bound == pytest.approx(math.sqrt(3) * std, rel=1e-15)


def test_torch_default_is_what_a_linear_layer_draws() -> None:
    torch.manual_seed(0)
    layer = nn.Linear(512, 384)
    scheme, args = TORCH_DEFAULT
    std, bound = moments(scheme, args, **_facts((384, 512)))  # type: ignore[arg-type]
    assert std == pytest.approx(1 / math.sqrt(3 * 512), rel=1e-12)
    assert bound == pytest.approx(1 / math.sqrt(512), rel=1e-12)
    w = layer.weight.detach().double()
    assert abs(float(w.std()) / std - 1) < 5 * math.sqrt(0.5 / w.numel())
    assert bound * 0.999 < float(w.abs().max()) <= bound
