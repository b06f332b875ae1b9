"""``[expert]`` selection (issue 18): rules that select every expert, or one, of a fused MoE
experts tensor ``(experts, out, in)``, each expert written as its own ``(out, in)`` block
with one expert's fans; tested on transformers' Qwen3-MoE built from a config."""

from __future__ import annotations

import math

import pytest
import torch

import initpolicy
from initpolicy.errors import PlanError
from initpolicy.language import printer
from initpolicy.language.loader import parse
from tests.test_lint_blind import _qwen3_moe

EXPERTS = "model.layers.1.mlp.experts"
POLICY = """\
Qwen3MoeExperts.gate_up_proj            -> normal(0, 0.02)
Qwen3MoeExperts.gate_up_proj[expert]    -> kaiming_normal(fan_in)
Qwen3MoeExperts.gate_up_proj[expert=2]  -> orthogonal()
down_proj[expert=1]                     -> zeros()
"""


@pytest.fixture(scope="module")
def moe():
    return _qwen3_moe()


def test_the_trace_counts_the_experts_of_each_experts_tensor(moe):
    g = initpolicy.trace(moe)
    up = next(p for p in g.layer(EXPERTS).parameters if p.local == "gate_up_proj")
    assert (up.shape, up.experts) == ((4, 64, 64), 4)
    dense = next(p for p in g.layer("model.layers.0.mlp.down_proj").parameters)
    assert dense.experts == 0


def test_every_expert_and_one_expert_are_planned_with_one_experts_fans(moe):
    plan = initpolicy.load(POLICY).plan(moe)
    got = {
        e.name: (e.scheme, e.std, e.rule.loc.line)
        for e in plan.entries
        if e.name.startswith(EXPERTS + ".gate_up_proj") or (e.param.experts and e.block)
    }
    he = math.sqrt(2 / 64)  # fan_in of one expert (64), not torch's 4 * 64 * 64
    assert got == {
        f"{EXPERTS}.gate_up_proj": ("normal", 0.02, 1),
        f"{EXPERTS}.gate_up_proj[expert0]": ("kaiming_normal", pytest.approx(he), 2),
        f"{EXPERTS}.gate_up_proj[expert1]": ("kaiming_normal", pytest.approx(he), 2),
        f"{EXPERTS}.gate_up_proj[expert2]": ("orthogonal", pytest.approx(1 / 8), 3),
        f"{EXPERTS}.gate_up_proj[expert3]": ("kaiming_normal", pytest.approx(he), 2),
        f"{EXPERTS}.down_proj[expert1]": ("zeros", 0.0, 4),
    }
    # explain's JSON: one row per expert block, after the whole tensor's
    rows = [e.to_json() for e in plan.entries if e.name.startswith(f"{EXPERTS}.gate_up_proj")]
    assert [(r["block"], r["scheme"]) for r in rows] == [
        (None, "normal"),
        ("expert0", "kaiming_normal"),
        ("expert1", "kaiming_normal"),
        ("expert2", "orthogonal"),
        ("expert3", "kaiming_normal"),
    ]


def test_apply_writes_each_expert_as_its_own_matrix(moe):
    initpolicy.load(POLICY).apply(moe, seed=0)
    experts = moe.get_submodule(EXPERTS)
    up, down = experts.gate_up_proj.detach(), experts.down_proj.detach()
    for i in (0, 1, 3):  # kaiming over 4096 values: within 5% of sqrt(2 / 64)
        assert float(up[i].std()) == pytest.approx(math.sqrt(2 / 64), rel=0.05)
    q = up[2]  # orthogonal as one (64, 64) matrix, not a row of the stacked tensor
    assert torch.allclose(q @ q.T, torch.eye(64), atol=1e-5)
    assert torch.count_nonzero(down[1]) == 0
    assert all(torch.count_nonzero(down[i]) == down[i].numel() for i in (0, 2, 3))
    # the expert streams are their own: expert 0's values differ from expert 1's
    assert not torch.equal(up[0], up[1])
    again = _qwen3_moe()
    initpolicy.load(POLICY).apply(again, seed=0)
    assert torch.equal(again.get_submodule(EXPERTS).gate_up_proj, experts.gate_up_proj)


def test_a_policy_with_experts_prints_and_parses_back():
    ir = parse(POLICY)
    text = printer.policy(ir)
    assert "gate_up_proj[expert=2] -> orthogonal()" in text
    assert "down_proj[expert=1] -> zeros()" in text
    assert printer.same_rules(parse(text), ir)


@pytest.mark.parametrize(
    ("rule", "message", "hint"),
    [
        (
            "Linear[expert] -> zeros()",
            "[expert] selects model.layers.0.self_attn.q_proj.weight, "
            "model.layers.0.self_attn.k_proj.weight, model.layers.0.self_attn.v_proj.weight, "
            "..., which is no experts tensor",
            "drop [expert]",
        ),
        (
            "gate_up_proj[expert=4] -> zeros()",
            f"[expert=4] is past the last expert: {EXPERTS}.gate_up_proj has 4 experts",
            "experts are numbered 0 to 3",
        ),
    ],
)
def test_an_expert_rule_that_selects_no_expert_is_a_located_error(moe, rule, message, hint):
    with pytest.raises(PlanError) as err:
        initpolicy.load("bias -> zeros()\n" + rule).plan(moe)
    text = str(err.value)
    assert text.startswith("<string>:2:1: " + message)
    assert "hint: " + hint in text


def test_the_linter_judges_a_policy_written_per_expert():
    moe = _qwen3_moe()
    text = "Qwen3MoeExperts.*[expert] -> kaiming_normal(fan_in)\n"
    found = initpolicy.lint(moe, text, static=True)
    assert {(f.code, f.target) for f in found.findings if "experts" in f.target} == set()
    bad = "Qwen3MoeExperts.gate_up_proj[expert=3] -> normal(0, 1.0)\n"
    found = initpolicy.lint(moe, bad, static=True)
    # one expert of four at std 1.0 is reported on the experts tensor (judged whole)
    targets = {f.target for f in found.findings if f.code == "IP104"}
    assert targets == {f"{EXPERTS}.gate_up_proj[:, 32:64]"}
