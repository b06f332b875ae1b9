"""A quantized model (torch.ao's quantize_dynamic) has no parameters to initialize: the
plan says so, and why, instead of "initialized 0 tensor(s)" and nothing else."""

from __future__ import annotations

import warnings

import pytest
import torch

import initpolicy


def _quantized() -> torch.nn.Module:
    net = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2), torch.nn.LayerNorm(2)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)


def test_the_tracer_lists_the_quantized_modules_outermost_only():
    assert initpolicy.trace(_quantized()).quantized == {"0": "Linear", "2": "Linear"}


def test_the_plan_warns_that_quantized_modules_are_not_initialized_and_why():
    report = initpolicy.apply(_quantized(), "relu_net")
    assert [e.name for e in report.entries] == ["3.weight", "3.bias"]  # the float LayerNorm
    assert report.warnings == [
        "2 quantized module(s) not initialized: 0 (Linear), 2 (Linear); their weights are "
        "packed quantized tensors, not parameters, so no rule can write them: initialize "
        "the float model, then quantize it"
    ]
    assert "warning: 2 quantized module(s) not initialized" in str(report)


@pytest.mark.parametrize("policy", ["relu_net", "Linear -> zeros()"])
def test_a_float_model_has_no_such_warning(policy):
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
    assert not any("quantized" in w for w in initpolicy.apply(net, policy).warnings)
