"""The API checks its arguments' types where they come in (api.py, hf.py): a clear
UsageError, never a string read one character at a time or a traceback from deep inside."""

from __future__ import annotations

import pytest
import torch

import initpolicy
from initpolicy.errors import UsageError


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))


@pytest.mark.parametrize("source", [3, None, b"bias -> zeros()", ["relu_net"]])
def test_load_takes_text_a_path_or_a_name(source):
    with pytest.raises(UsageError, match="load takes policy text, a file path or a built-in"):
        initpolicy.load(source)


@pytest.mark.parametrize("policy", [3, None, ["relu_net"]])
def test_apply_takes_a_policy(policy):
    with pytest.raises(UsageError, match="a policy is a Policy, policy text, a file path"):
        initpolicy.apply(_net(), policy)


@pytest.mark.parametrize("how", ["apply", "plan"])
def test_apply_and_plan_take_a_module(how):
    policy = initpolicy.load("relu_net")
    with pytest.raises(UsageError, match=f"{how} needs a torch.nn.Module, got str"):
        getattr(policy, how)("model.py")


@pytest.mark.parametrize(
    ("skip", "message"),
    [
        ("0.weight", "skip takes a list of state_dict keys, not one string: pass ['0.weight']"),
        (5, "skip takes a state_dict or a list of its keys, not int"),
        (
            [("0", "weight")],
            "skip takes state_dict keys, which are strings; got ('0', 'weight') (tuple)",
        ),
    ],
)
def test_skip_takes_a_state_dict_or_names(skip, message):
    model = _net()
    before = model[0].weight.detach().clone()
    with pytest.raises(UsageError) as err:
        initpolicy.apply(model, "relu_net", skip=skip)
    assert str(err.value) == message and torch.equal(model[0].weight, before)


def test_skip_takes_a_state_dict():
    model = _net()
    before = model[0].weight.detach().clone()
    report = initpolicy.apply(model, "relu_net", skip={"0.weight": before})
    assert torch.equal(model[0].weight, before) and ("0.weight", "skipped") in report.skipped
