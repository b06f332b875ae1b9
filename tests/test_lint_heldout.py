"""Regressions from the held-out sweep (docs/benchmarks.md, "Held-out sweep"): real
architectures outside the zoo, built from small configs of their own families."""

from __future__ import annotations

import pytest
import torch

import initpolicy


def _qwen3_next():
    from transformers import Qwen3NextConfig, Qwen3NextForCausalLM

    torch.manual_seed(0)
    cfg = Qwen3NextConfig(
        vocab_size=128, hidden_size=64, intermediate_size=96, moe_intermediate_size=32,
        shared_expert_intermediate_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, head_dim=16, num_experts=4, num_experts_per_tok=2,
        linear_num_value_heads=4, linear_num_key_heads=2, linear_key_head_dim=16,
        linear_value_head_dim=16, layer_types=["linear_attention", "full_attention"],
    )  # fmt: skip
    return Qwen3NextForCausalLM(cfg)


def _warnings(model):
    result = initpolicy.lint(model, static=True)
    return {(f.code, f.target) for f in result.findings if f.severity != "info"}


@pytest.mark.parametrize("scale", [0.0, 0.01])
def test_a_gated_norm_probed_with_its_gate_reports_a_silencing_weight(scale):
    # Qwen3NextRMSNormGated.forward(x, gate) takes the gate as a second required input:
    # the probe that ran it on x alone failed, and a zeroed weight went unreported
    m = _qwen3_next()
    assert _warnings(m) == set()
    with torch.no_grad():
        m.model.layers[0].linear_attn.norm.weight.fill_(scale)
    assert _warnings(m) == {("IP123", "model.layers.0.linear_attn.norm.weight")}
