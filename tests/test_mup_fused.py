"""μP's attention logits 1/d on a fused qkv projection (docs/mup.md, "Attention logits"):
the trace finds which output features of GPT-2's ``c_attn`` and timm's ``qkv`` are the
query, and ``mup``'s ``as query`` multiplies that block alone. Models unedited, built from
configs."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch

import initpolicy
from initpolicy.applier.multipliers import install, installed, remove
from initpolicy.tracer.graph import OperandBlock
from initpolicy.tracer.multipliers import OutputScale, carried, missing
from initpolicy.tracer.tracing import trace

from . import _transfer_models as tm


def gpt2(width: int, heads: int = 4) -> torch.nn.Module:
    import transformers as T

    T.logging.set_verbosity_error()
    cfg = T.GPT2Config(
        n_embd=width, n_head=heads, n_layer=2, vocab_size=128, n_positions=32,
        bos_token_id=0, eos_token_id=0, attn_implementation="sdpa",
    )  # fmt: skip
    return T.GPT2LMHeadModel(cfg).eval()


def vit(width: int, heads: int = 4) -> torch.nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=16, patch_size=4, embed_dim=width, depth=2, num_heads=heads, num_classes=10
    ).eval()


FACTORIES = {"gpt2": (gpt2, "transformer.h.{}.attn.c_attn"), "vit": (vit, "blocks.{}.attn.qkv")}


def _input(name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    if name == "gpt2":
        return torch.randint(0, 128, (2, 12), generator=g)
    return torch.randn(2, 3, 16, 16, generator=g)


def _randomize_biases(model: torch.nn.Module) -> None:
    """Nonzero biases (μP keeps GPT-2's zeros), so that a bias left out of the query's
    multiplier would show."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("attn.bias") or n.endswith("c_attn.bias") or n.endswith("qkv.bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_trace_finds_the_query_block_of_a_fused_projection():
    g = trace(gpt2(64))
    c_attn = g.layer("transformer.h.0.attn.c_attn")
    # GPT-2's split(embed, dim=2): the query is columns [0:E] of Conv1D's output; the key
    # and value pass through the cache's cat, which the replay does not follow
    assert c_attn.roles.attention is None
    assert c_attn.roles.attention_blocks == (OperandBlock("query", 0, 64, head_dim=16),)
    g = trace(vit(64))
    qkv = g.layer("blocks.1.attn.qkv")
    # timm's reshape(B, N, 3, H, D).permute(2, 0, 3, 1, 4).unbind(0): thirds of the output
    assert qkv.roles.attention is None  # no longer mistaken for a value layer
    assert qkv.roles.attention_blocks == (
        OperandBlock("query", 0, 64, 16), OperandBlock("key", 64, 128, 16),
        OperandBlock("value", 128, 192, 16),
    )  # fmt: skip
    # no config: the head dim is the query's last dim at the attention call
    assert (g.head_dim, g.size_source) == (16, "trace")


def test_a_block_read_by_anything_else_is_no_query_block():
    """The query block must be the query and nothing else: a layer whose query features
    are also read elsewhere (here: added to the output) gets no query block, and ``mup``
    leaves its output alone."""

    class Leaky(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(16, 48)

        def forward(self, x):
            q, k, v = self.qkv(x).split(16, dim=-1)
            a = torch.softmax(q @ k.transpose(-1, -2), -1) @ v
            return a + q  # the query read again

    lay = trace(Leaky(), example_inputs=(torch.randn(2, 5, 16),)).layer("qkv")
    # the key (through its transpose) and the value are theirs alone; the query is not
    # (the key's last dim at the product is the tokens, after its transpose: no head dim)
    assert lay.roles.attention_blocks == (
        OperandBlock("key", 16, 32, 0),
        OperandBlock("value", 32, 48, 16),
    )
    plan = initpolicy.load("mup", base_width=8, width=16, head_dim=16).plan(
        Leaky(), example_inputs=(torch.randn(2, 5, 16),)
    )
    assert "qkv" not in plan.outputs


class Interleaved(torch.nn.Module):
    """BLOOM's layout: the output is (heads, 3, head_dim), so each head's q, k and v sit
    side by side and the query's features are every third run of 8, not one block."""

    def __init__(self, order: str):
        super().__init__()
        self.qkv, self.order = torch.nn.Linear(16, 48), order

    def forward(self, x):
        b, n, _ = x.shape
        if self.order == "heads first":
            q, k, v = self.qkv(x).view(b, n, 2, 3, 8).permute(3, 0, 2, 1, 4).unbind(0)
        else:  # the 3 first, as timm: thirds of the output
            q, k, v = self.qkv(x).view(b, n, 3, 2, 8).permute(2, 0, 3, 1, 4).unbind(0)
        return torch.nn.functional.scaled_dot_product_attention(q, k, v)


@pytest.mark.parametrize(
    ("order", "blocks"),
    [
        ("heads first", ()),
        ("3 first", (OperandBlock("query", 0, 16, 8), OperandBlock("key", 16, 32, 8),
                     OperandBlock("value", 32, 48, 8))),
    ],
)  # fmt: skip
def test_the_replay_finds_the_features_not_thirds(order, blocks):
    lay = trace(Interleaved(order), example_inputs=(torch.randn(2, 5, 16),)).layer("qkv")
    assert lay.roles.attention_blocks == blocks


@pytest.mark.parametrize("name", ["gpt2", "vit"])
def test_mup_scales_fused_attention_logits_as_one_over_head_dim(name):
    """At widths 64, 128, 256 with 4 heads (d = 16, 32, 64; base_width 64, d0 = 16): the
    logits at the model's own attention call are q·k × sqrt(d0)/d (the model's 1/sqrt(d)
    times sqrt(d0/d)) against the same weights without the multiplier, and the keys and
    values are the same tensors, bit for bit."""
    factory, pattern = FACTORIES[name]
    ratios = []
    for width in (64, 128, 256):
        model = factory(width)
        _randomize_biases(model)
        d, d0 = width // 4, 16
        policy = initpolicy.load("mup", base_width=64)
        report = policy.apply(model, seed=0)
        _randomize_biases(model)
        fused = {pattern.format(i) for i in range(2)}
        assert {n: o.block for n, o in report.plan.outputs.items() if n in fused} == {
            n: (0, width) for n in fused
        }
        assert {n: v for n, v in installed(model).items() if n in fused} == {
            n: pytest.approx(math.sqrt(d0 / d)) for n in fused
        }
        x = _input(name)
        scaled = tm.attention_calls(model, x)
        remove(model)
        plain = tm.attention_calls(model, x)  # the same weights, the model's own 1/sqrt(d)
        q, k, v, logits = scaled[0]
        q0, k0, v0, logits0 = plain[0]
        assert torch.equal(k, k0) and torch.equal(v, v0)  # keys and values untouched
        torch.testing.assert_close(q, q0 * math.sqrt(d0 / d), rtol=1e-6, atol=1e-7)
        assert logits0.abs().mean() > 1e-3
        torch.testing.assert_close(logits, logits0 * math.sqrt(d) * math.sqrt(d0) / d)
        ratios.append(float(logits.std() / logits0.std()))
    # the logits' std relative to the model's own: sqrt(d0/d) = 1, 1/sqrt(2), 1/2
    assert ratios == pytest.approx([1.0, 2**-0.5, 0.5], rel=1e-5)


@pytest.mark.parametrize("name", ["gpt2", "vit"])
def test_the_block_multiplier_equals_the_query_scaled_by_hand(name):
    """The hooked model equals the same model with the query's weight rows (Linear) or
    columns (Conv1D) and bias entries multiplied by hand, to 1e-6 (in float64)."""
    factory, pattern = FACTORIES[name]
    width = 128
    model = factory(width)
    initpolicy.load("mup", base_width=64).apply(model, seed=0)
    _randomize_biases(model)
    model.double()  # float64: the two products differ by rounding only, far below 1e-6
    c = math.sqrt(16 / 32)
    by_hand = copy.deepcopy(model)
    remove(by_hand)  # the query blocks' multipliers out, the readout's back
    install(by_hand, {n: v for n, (v, block) in carried(model).items() if block is None})
    with torch.no_grad():
        for i in range(2):
            layer = by_hand.get_submodule(pattern.format(i))
            if name == "gpt2":  # Conv1D stores (in, out)
                layer.weight[:, :width] *= c
            else:
                layer.weight[:width] *= c
            layer.bias[:width] *= c
    unhooked = copy.deepcopy(by_hand)
    with torch.no_grad():
        for i in range(2):
            layer = unhooked.get_submodule(pattern.format(i))
            layer.load_state_dict(model.get_submodule(pattern.format(i)).state_dict())
    x = _input(name)
    x = x if name == "gpt2" else x.double()
    with torch.no_grad():
        out, ref, own = (_features(m, x) for m in (model, by_hand, unhooked))
    assert not torch.allclose(own, ref, rtol=1e-3, atol=1e-4)  # the multiplier matters here
    torch.testing.assert_close(out, ref, rtol=1e-6, atol=1e-6)


def _features(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """GPT-2's logits (its readout is the tied embedding); timm's features before the
    readout, which μP starts at zero."""
    if hasattr(model, "forward_features"):
        return model.forward_features(x)
    return model(x).logits


def test_state_dict_round_trip_and_attach_restore_the_block():
    width = 128
    model = gpt2(width)
    policy = initpolicy.load("mup", base_width=64)
    policy.apply(model, seed=0)
    _randomize_biases(model)
    plain_keys = set(gpt2(width).state_dict())
    assert set(model.state_dict()) == plain_keys  # no key added or renamed
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    buf.seek(0)
    fresh = gpt2(width)
    fresh.load_state_dict(torch.load(buf))
    want = carried(model)
    # loaded without its multipliers: the query blocks are reported missing
    wanted = {n: OutputScale(v, b) for n, (v, b) in want.items()}
    assert set(missing(fresh, wanted)) == set(want)
    policy.attach(fresh)
    assert carried(fresh) == want
    assert missing(fresh, wanted) == {}
    x = _input("gpt2")
    with torch.no_grad():
        torch.testing.assert_close(fresh(x).logits, model(x).logits, rtol=0, atol=0)
    # the whole output multiplied where the block is wanted is reported too
    remove(fresh)
    install(fresh, {n: v for n, (v, _b) in want.items()})
    assert set(missing(fresh, wanted)) == {n for n, (_v, b) in want.items() if b is not None}


def test_a_query_init_on_a_fused_projection_is_said_to_write_the_whole_tensor():
    """`as query -> zeros()` (TP5's zero query) cannot zero a block of a fused tensor: the
    plan says its scheme writes keys and values too; `mup`'s query rule, which inits as the
    hidden rule before it, says nothing."""
    model = gpt2(64)
    assert not [w for w in initpolicy.load("mup").plan(model).warnings if "fused" in w]
    zero = initpolicy.load("as hidden -> normal(0, 0.02)\nas query -> zeros() with output = 0.5")
    plan = zero.plan(model)
    said = [w for w in plan.warnings if "query block of a fused projection" in w]
    assert [w.split(":")[0] for w in said] == [
        f"transformer.h.{i}.attn.c_attn.weight" for i in (0, 1)
    ]
    assert "zeros(...) writes the whole tensor, keys and values too" in said[0]
    assert {o.layer: o.block for o in plan.outputs.values()} == {
        f"transformer.h.{i}.attn.c_attn": (0, 64) for i in (0, 1)
    }


def test_the_rule_a_query_rule_overrides_is_compared_not_planned():
    """The fused-query warning compares the `as query` rule with the rule it overrides; that
    rule lost, so a problem of its own (`slope` unbound on a Linear before no activation)
    is no plan error."""
    text = (
        "* -> keep\nLinear -> normal(0, 0.02)\n"
        'Linear named "*qkv*" -> normal(0, slope)\n'
        "Linear as query -> normal(0, 0.02) with output = 0.5\n"
    )
    plan = initpolicy.load(text).plan(vit(64), example_inputs=(_input("vit"),))
    qkv = [e for e in plan.entries if e.name == "blocks.0.attn.qkv.weight"]
    assert [(e.scheme, e.std) for e in qkv] == [("normal", 0.02)]


def test_multihead_attention_keeps_its_own_scale():
    """nn.MultiheadAttention projects q, k and v inside one fused functional: no node of
    the trace is its query, so ``as query`` selects nothing there and ``mup`` installs no
    multiplier on it (docs/mup.md, Limitations)."""
    model = torch.nn.Sequential(
        torch.nn.Linear(8, 32), torch.nn.TransformerEncoderLayer(32, 4, 64), torch.nn.Linear(32, 4)
    )
    x = (torch.randn(5, 2, 8),)
    g = trace(model, example_inputs=x)
    assert all(not lay.roles.attention_blocks for lay in g.layers)
    plan = initpolicy.load("mup", base_width=16, head_dim=8).plan(model, example_inputs=x)
    assert set(plan.outputs) == {"2"}  # the readout only


@pytest.mark.slow
def test_block_multiplier_under_torch_compile():
    """torch.compile (inductor) traces the block hook: the compiled model equals the eager
    one, which differs from the model without its query multipliers."""
    model = gpt2(64)
    initpolicy.load("mup", base_width=32).apply(model, seed=0)
    _randomize_biases(model)
    x = _input("gpt2")
    unhooked = copy.deepcopy(model)
    remove(unhooked)
    with torch.no_grad():
        eager = model(x).logits
        compiled = torch.compile(model)(x).logits
        own = unhooked(x).logits
    assert installed(model)["transformer.h.0.attn.c_attn"] == pytest.approx(math.sqrt(0.5))
    assert not torch.allclose(own, eager, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(compiled, eager, rtol=1e-6, atol=1e-6)
