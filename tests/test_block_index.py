"""``index(SELECTOR)``: the position of the enclosing matched module (a block index)."""

from __future__ import annotations

import math

import pytest
import torch

import initpolicy
from initpolicy.errors import PlanError, PolicyError
from initpolicy.language.ir import IndexOf
from initpolicy.planner.match import build_plan
from initpolicy.tracer.tracing import trace
from tests.extractor.heldout import NanoGPT

RESIDUAL = 'named "*.c_proj" -> normal(0, 0.02 / sqrt(2 * (index(Block) + 1)))'


def _stds(policy: str, model: torch.nn.Module) -> dict[str, float]:
    plan = build_plan(initpolicy.load(policy).ir, trace(model, tracer="modules"))
    return {e.param.name: e.std for e in plan.entries}


def test_index_parses_to_its_selector():
    std = initpolicy.load(RESIDUAL).ir.rules[0].scheme.args[1].value
    inner = std.right.args[0].right.left  # 0.02 / sqrt(2 * (index(Block) + 1))
    assert isinstance(inner, IndexOf)
    assert inner.selector.types == ("Block",)


@pytest.mark.parametrize("n_layer", [3, 12])
def test_each_block_gets_its_own_index_in_model_order(n_layer):
    stds = _stds(RESIDUAL, NanoGPT(n_layer=n_layer))
    for i in range(n_layer):  # h.10 follows h.9: module order, not name order
        want = 0.02 / math.sqrt(2 * (i + 1))
        assert stds[f"h.{i}.attn.c_proj.weight"] == pytest.approx(want, rel=1e-15)
        assert stds[f"h.{i}.mlp.c_proj.weight"] == pytest.approx(want, rel=1e-15)


def test_index_takes_module_facts_only():
    with pytest.raises(PolicyError, match=r"index\(\.\.\.\) takes module facts only"):
        initpolicy.load("weight -> normal(0, index(Linear.bias))")


def test_a_parameter_inside_no_matched_module_is_a_plan_error():
    with pytest.raises(
        PlanError,
        match=r"lm_head.weight: argument std of normal cannot be "
        r"evaluated: lm_head is inside no module that index\(\.\.\.\) selects",
    ):
        _stds("weight -> normal(0, 0.02 / sqrt(index(Block) + 1))", NanoGPT())
