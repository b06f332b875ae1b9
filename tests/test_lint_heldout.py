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


def _zamba2():
    from transformers import Zamba2Config, Zamba2ForCausalLM

    torch.manual_seed(0)
    cfg = Zamba2Config(
        vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=4,
        num_attention_heads=4, num_key_value_heads=4, mamba_d_state=16, mamba_headdim=16,
        n_mamba_heads=8, mamba_ngroups=1, chunk_size=16, pad_token_id=0,
        layers_block_type=["mamba", "hybrid", "mamba", "hybrid"], hybrid_layer_ids=[1, 3],
    )  # fmt: skip
    return Zamba2ForCausalLM(cfg)


def test_a_packed_glu_summed_with_its_adapter_before_the_cut_is_judged_by_half():
    # Zamba2's shared MLP: chunk(gate_up_proj(x) + adapter(x), 2, dim=-1); the sum keeps
    # each feature in its place, so the halves feed gelu and the product as without it
    m = _zamba2()
    name = "model.layers.1.shared_transformer.feed_forward.gate_up_proj"
    (w,) = initpolicy.trace(m).layer(name).parameters
    assert [(b.start, b.stop, b.activation) for b in w.outputs] == [
        (0, 96, "gelu"),
        (96, 192, "linear"),
    ]
    assert _warnings(m) == set()
    with torch.no_grad():
        m.get_submodule(name).weight.normal_(0, 1.0)
    assert _warnings(m) == {
        ("IP104", f"{name}.weight[0:96]"),
        ("IP104", f"{name}.weight[96:192]"),
    }
