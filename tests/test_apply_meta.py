"""Meta-device models: materialized on a device and fully initialized, or a clear error."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.errors import PlanError

transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()


def gpt2(meta: bool):
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=4, vocab_size=64, n_positions=16)
    if meta:
        with torch.device("meta"):
            return transformers.GPT2LMHeadModel(cfg)
    return transformers.GPT2LMHeadModel(cfg)


def test_gpt2_on_meta_is_materialized_tied_and_equal_to_the_real_path():
    m = gpt2(meta=True)
    report = initpolicy.apply(m, "gpt2", seed=4)
    assert report.materialized_on == "cpu"
    assert not any(t.is_meta for t in [*m.parameters(), *m.buffers()])
    assert m.lm_head.weight is m.transformer.wte.weight
    assert all(torch.isfinite(p).all() for p in m.parameters())
    real = gpt2(meta=False)
    initpolicy.apply(real, "gpt2", seed=4)
    for (k, a), (_, b) in zip(m.state_dict().items(), real.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).mean((2, 3)))


def test_batchnorm_statistics_on_meta_are_reset_not_garbage():
    with torch.device("meta"):
        m = ConvBN()
    initpolicy.apply(m, "resnet")
    assert torch.equal(m.bn.running_var, torch.ones(8))
    assert torch.equal(m.bn.running_mean, torch.zeros(8))
    assert m.bn.num_batches_tracked.item() == 0


def test_unmatched_parameter_on_meta_gets_its_modules_own_init():
    with torch.device("meta"):
        m = ConvBN()
    report = initpolicy.apply(
        m, "Conv2d -> kaiming_normal(fan_out, relu)\nBatchNorm2d -> ones()\nbias -> zeros()"
    )
    assert report.defaulted == [("fc.weight", "Linear.reset_parameters()")]
    bound = 1 / 8**0.5
    assert 0 < float(m.fc.weight.detach().abs().max()) <= bound


def test_rotary_inv_freq_is_recomputed_by_the_models_own_init():
    cfg = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
    )
    with torch.device("meta"):
        m = transformers.LlamaForCausalLM(cfg)
    initpolicy.apply(m, "llama", seed=0)
    fresh = transformers.LlamaForCausalLM(cfg)
    assert torch.equal(m.model.rotary_emb.inv_freq, fresh.model.rotary_emb.inv_freq)
    assert torch.equal(
        m.model.rotary_emb.original_inv_freq, fresh.model.rotary_emb.original_inv_freq
    )


def test_keep_on_meta_is_an_error_before_anything_is_allocated():
    with torch.device("meta"):
        m = ConvBN()
    with pytest.raises(PlanError) as info:
        initpolicy.apply(m, "use resnet\nConv2d -> keep")
    assert "conv.weight: keep cannot leave a meta tensor as it is: it has no value yet" in str(
        info.value
    )
    assert all(t.is_meta for t in m.parameters())


class Masked(nn.Module):
    """A buffer computed in __init__ and nothing to recompute it."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("mask", torch.tril(torch.ones(4, 4)), persistent=False)

    def forward(self, x):
        return self.fc(x) @ self.mask


def test_a_buffer_nothing_can_initialize_is_a_clear_error_and_a_rule_fixes_it():
    with torch.device("meta"):
        m = Masked()
    with pytest.raises(PlanError) as info:
        initpolicy.apply(m, "Linear -> eye()\nbias -> zeros()")
    assert str(info.value).startswith(
        "<string>: mask: the model is on the meta device and this buffer of Masked has no rule, "
        "and Masked has no reset_parameters() to give it a value"
    )
    assert m.mask.is_meta and m.fc.weight.is_meta
    initpolicy.apply(m, "Linear -> eye()\nbias -> zeros()\nMasked.mask -> ones()")
    assert torch.equal(m.mask, torch.ones(4, 4))


def test_failure_while_writing_puts_the_meta_tensors_back(monkeypatch):
    from initpolicy.applier import writes

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(writes, "entry_tasks", broken)
    m = gpt2(meta=True)
    with pytest.raises(RuntimeError, match="boom"):
        initpolicy.apply(m, "gpt2")
    assert all(t.is_meta for t in m.parameters())
    assert m.lm_head.weight is m.transformer.wte.weight


def test_only_meta_tensors_are_materialized():
    m = ConvBN()
    m.bn.running_mean.fill_(3.0)
    m.conv.weight = nn.Parameter(m.conv.weight.to("meta"))
    initpolicy.apply(m, "resnet", device="cpu")
    assert torch.equal(m.bn.running_mean, torch.full((8,), 3.0))  # real buffer kept
    assert m.conv.weight.device.type == "cpu" and m.conv.weight.std() > 0


def test_default_on_a_transformers_module_runs_the_models_own_init_weights():
    a, b = gpt2(meta=False), gpt2(meta=True)
    for m in (a, b):
        report = initpolicy.apply(m, "use gpt2\nConv1D.* -> default", seed=1)
        assert report["transformer.h.0.mlp.c_fc.weight"].scheme == "default"
    w = a.transformer.h[0].mlp.c_fc.weight
    assert torch.equal(w, b.transformer.h[0].mlp.c_fc.weight)  # seeded from (seed, module name)
    assert float(w.detach().std()) == pytest.approx(
        0.02, rel=0.1
    )  # GPT2PreTrainedModel: N(0, 0.02)


def test_a_meta_copy_takes_a_model_that_kept_tensors_its_forward_computed():
    """A forward may leave computed tensors on a module (RAFT keeps them in a list); they
    are no graph leaves, which deepcopy refuses: the meta copy holds meta tensors of their
    shapes and the model keeps its own."""
    from initpolicy.applier import meta_copy

    class Keeps(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)
            self.kept: list[torch.Tensor] = []

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = self.fc(x)
            self.kept = [y * 2]
            return y

    model = Keeps()
    model(torch.randn(2, 4))
    copy = meta_copy(model)
    assert copy.fc.weight.is_meta and copy.kept[0].is_meta
    assert copy.kept[0].shape == (2, 4) and not model.kept[0].is_meta
