"""The scenarios of the field's teaching material: each names the checks it must contain
(not an exact set), and the restoration guarantees of the dynamic pass."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.api import lint

from ._lint_support import deep_mlp, he_init, model_for

SCENARIOS = [
    (
        "all ones, small tanh net",
        lambda: model_for("mlp:tanh:10x10x10x2", (("*.weight", "ones()"),)),
        {"constant-weight"},
    ),
    (
        "all zeros, small tanh net",
        lambda: model_for("mlp:tanh:10x10x10x2", (("*.weight", "zeros()"),)),
        {"constant-weight"},
    ),
    (
        "uniform(-1, 1), 100 inputs, tanh",
        lambda: model_for("mlp:tanh:100x100x100x10", (("*.weight", "uniform(-1, 1)"),)),
        {"range-too-wide", "saturated-at-init"},
    ),
    (
        "uniform(-0.05, 0.05), deep relu 64 wide",
        lambda: deep_mlp("relu", 64, 10, "uniform(-0.05, 0.05)"),
        {"range-too-narrow", "variance-drift"},
    ),
    (
        "xavier, 20-layer relu mlp",
        lambda: deep_mlp("relu", 64, 20, "xavier_normal()"),
        {"gain-mismatch", "variance-drift"},
    ),
    (
        "pytorch defaults, deep relu mlp",
        lambda: deep_mlp("relu", 64, 10, None),
        {"torch-default-before-relu"},
    ),
]


@pytest.mark.parametrize(("title", "make", "names"), SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_scenario_contains(title, make, names):
    result = lint(make())
    assert names <= {f.name for f in result.findings}
    assert result.failed()


def test_he_init_mlp_is_clean():
    result = lint(he_init(deep_mlp("relu", 64, 10, None)))
    assert result.findings == []
    assert result.summary["dynamic"] == "ran"
    assert not result.failed()


def test_torch_default_folds_the_other_scale_checks():
    result = lint(deep_mlp("relu", 64, 4, None), static=True)
    f = next(f for f in result.findings if f.target == "2.weight")
    assert (f.name, f.related) == (
        "torch-default-before-relu",
        ["range-too-narrow", "gain-mismatch"],
    )
    assert f.measured == pytest.approx(1 / (3 * 64) ** 0.5, rel=0.05)
    assert f.expected == pytest.approx((2 / 64) ** 0.5)
    assert f.fix == 'Linear named "2" -> kaiming_normal(fan_in)'


def test_xavier_before_relu_message_names_numbers_and_scheme():
    result = lint(deep_mlp("relu", 64, 3, "xavier_normal()"), static=True)
    f = next(f for f in result.findings if f.target == "2.weight")
    assert f.name == "gain-mismatch"
    assert f.expected == pytest.approx((2 / 64) ** 0.5)
    assert "before relu" in f.message and "kaiming_normal(fan_in) fits relu" in f.message
    assert f"std {f.measured:.4g}" in f.message


def test_policy_kaiming_before_tanh_points_at_its_line():
    policy = initpolicy.load("bias -> zeros()\nLinear before tanh -> kaiming_normal(fan_in)\n")
    result = lint(model_for("mlp:tanh:32x32x32x4"), policy=policy, static=True)
    f = next(f for f in result.findings if f.name == "scheme-mismatch")
    assert f.location == "<string>:2"
    assert f.fix == "Linear before tanh -> xavier_uniform(gain=gain)"


def test_policy_does_not_touch_the_model():
    model = deep_mlp("relu", 16, 3, None)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lint(model, policy="Linear -> zeros()")
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_dynamic_pass_restores_the_model_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(8, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 2)
    )
    model.eval()
    model[0].weight.grad = torch.ones_like(model[0].weight)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    result = lint(model)
    assert result.summary["dynamic"] == "ran"
    assert all(not m.training for m in model.modules())
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.equal(model[0].weight.grad, torch.ones_like(model[0].weight))
    assert model[4].weight.grad is None
    assert torch.equal(torch.get_rng_state(), rng)


def test_layer_stats_cover_every_layer_with_numbers():
    result = lint(he_init(deep_mlp("relu", 32, 4, None)))
    assert [s.name for s in result.layer_stats] == ["0", "2", "4", "6", "8"]
    assert all(s.out_std > 0 and s.grad_norm > 0 for s in result.layer_stats)
    assert result.layer_stats[0].dead == 0.0


def test_static_skips_the_forward_pass():
    result = lint(deep_mlp("relu", 64, 10, "xavier_normal()"), static=True)
    assert result.layer_stats == []
    assert "variance-drift" not in {f.name for f in result.findings}
    assert result.summary["dynamic"] == "skipped (--static)"
