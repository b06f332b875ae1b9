"""The depth-stabilizing built-ins (fixup, skipinit, deepnorm, tfixup) on unedited
torchvision, timm and transformers models: every parameter against its paper's formula
(std within sampling error, zeros exact), with L, m, N and the query/key/value roles read
from the architecture here and from the trace by the policy."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initpolicy

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")
transformers = pytest.importorskip("transformers")


def fans(w: torch.Tensor) -> tuple[int, int]:
    return nn.init._calculate_fan_in_and_fan_out(w)


def assert_std(w: torch.Tensor, expected: float, name: str) -> None:
    """The sample std within 6 standard errors of ``expected`` (se = std / sqrt(2n))."""
    got = float(w.detach().double().std())
    se = expected / math.sqrt(2 * w.numel())
    assert abs(got - expected) <= 6 * se + 1e-12, f"{name}: std {got:.6g}, expected {expected:.6g}"


def assert_zero(w: torch.Tensor, name: str) -> None:
    assert not w.detach().any(), name


def he(w: torch.Tensor) -> float:
    return math.sqrt(2 / fans(w)[0])


def glorot(w: torch.Tensor) -> float:
    fi, fo = fans(w)
    return math.sqrt(2 / (fi + fo))


# ------------------------------------------------------------------------------ Fixup


def check_fixup(model: nn.Module, blocks: list[nn.Module], convs: list[str], classifier: nn.Linear):
    """Fixup §3: the last conv of every branch and the classifier 0; the other branch
    convs He x L^(-1/(2m-2)); every other conv He."""
    initpolicy.apply(model, "fixup", seed=0)
    L, m = len(blocks), len(convs)
    in_branch = set()
    for i, block in enumerate(blocks):
        for k, name in enumerate(convs):
            w = getattr(block, name).weight
            in_branch.add(id(w))
            if k == m - 1:
                assert_zero(w, f"block {i} {name}")
            else:
                assert_std(w, he(w) * L ** (-1 / (2 * m - 2)), f"block {i} {name}")
    assert_zero(classifier.weight, "classifier")
    assert_zero(classifier.bias, "classifier bias")
    others = [
        (n, mod.weight)
        for n, mod in model.named_modules()
        if isinstance(mod, nn.Conv2d) and id(mod.weight) not in in_branch
    ]
    assert others  # the stem, the projection shortcuts
    for n, w in others:
        assert_std(w, he(w), n)


def test_fixup_on_torchvision_resnet18():
    model = torchvision.models.resnet18()
    blocks = [
        b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer
    ]
    check_fixup(model, blocks, ["conv1", "conv2"], model.fc)


@pytest.mark.slow
def test_fixup_on_torchvision_resnet50_bottlenecks():
    model = torchvision.models.resnet50()
    blocks = [
        b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer
    ]
    check_fixup(model, blocks, ["conv1", "conv2", "conv3"], model.fc)


def test_fixup_on_timm_resnet18():
    model = timm.create_model("resnet18", pretrained=False, num_classes=10)
    blocks = [
        b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer
    ]
    check_fixup(model, blocks, ["conv1", "conv2"], model.fc)


# ------------------------------------------------------------------------------ SkipInit


def _skipinit(model: nn.Module, tails: list[nn.Module]) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    initpolicy.apply(model, "skipinit", seed=0)
    zeroed = set()
    for t in tails:
        assert_zero(t.weight, type(t).__name__)
        if t.bias is not None:
            assert_zero(t.bias, type(t).__name__)
        zeroed |= {id(t.weight), id(t.bias)}
    params = dict(model.named_parameters())
    for k, v in model.state_dict().items():
        if k in params and id(params[k]) in zeroed:
            continue
        assert torch.equal(v, before[k]), f"{k} changed"


def test_skipinit_zeroes_each_branch_gain_of_torchvision_resnet18():
    model = torchvision.models.resnet18()
    blocks = [
        b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer
    ]
    _skipinit(model, [b.bn2 for b in blocks])


def test_skipinit_zeroes_each_branch_last_layer_of_timm_vit():
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, depth=3)
    _skipinit(model, [t for b in model.blocks for t in (b.attn.proj, b.mlp.fc2)])


def bert(layers: int = 3) -> nn.Module:
    cfg = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=256,
        vocab_size=200,
    )
    return transformers.BertModel(cfg)


def test_skipinit_zeroes_each_branch_last_layer_of_bert():
    model = bert()
    _skipinit(
        model,
        [t for lay in model.encoder.layer for t in (lay.attention.output.dense, lay.output.dense)],
    )


# ------------------------------------------------------------------------------ DeepNorm


@pytest.mark.parametrize("n_layers", [3, 6])
def test_deepnorm_on_bert_encoder(n_layers):
    """DeepNet Fig. 2, encoder-only: xavier_normal with gain β = (8N)^(-1/4) on v, the
    attention output and the FFN; gain 1 on q and k."""
    model = bert(n_layers)
    initpolicy.apply(model, "deepnorm", seed=0)
    beta = (8 * n_layers) ** (-1 / 4)
    for i, lay in enumerate(model.encoder.layer):
        att = lay.attention
        for name, w, gain in [
            ("query", att.self.query.weight, 1.0),
            ("key", att.self.key.weight, 1.0),
            ("value", att.self.value.weight, beta),
            ("out", att.output.dense.weight, beta),
            ("ffn1", lay.intermediate.dense.weight, beta),
            ("ffn2", lay.output.dense.weight, beta),
        ]:
            assert_std(w, gain * glorot(w), f"layer {i} {name}")


@pytest.mark.parametrize("n_layers", [3, 6])
def test_deepnorm_alpha_is_the_branch_ends_output_multiplier(n_layers):
    """DeepNet's residual LN(α·x + G(x)), α = (2N)^(1/4), as a forward multiplier 1/α on
    each branch's last layer: LN(x + G(x)/α) is the same function (LayerNorm is
    invariant to a positive scale), checked on BERT's own modules, not edited."""
    model = bert(n_layers).eval()
    initpolicy.apply(model, "deepnorm", seed=0)
    alpha = (2 * n_layers) ** (1 / 4)
    plan = initpolicy.load("deepnorm").plan(model)
    ends = {
        f"encoder.layer.{i}.{m}"
        for i in range(n_layers)
        for m in ("attention.output.dense", "output.dense")
    }
    assert set(plan.outputs) == ends
    assert all(abs(o.value - 1 / alpha) <= 1e-12 for o in plan.outputs.values())
    block = model.encoder.layer[0].attention.output  # dense -> dropout -> LN(x + G)
    h, x = torch.randn(2, 5, 64), torch.randn(2, 5, 64)
    with torch.no_grad():
        got = block(h, x)  # the multiplier on block.dense: LN(x + G(x)/α)
        want = deepnet_reference(block, h, x, alpha)  # LN(α·x + G(x)), no hooks
    # without α the block computes something else: α is not a no-op here
    assert not torch.allclose(got, deepnet_reference(block, h, x, 1.0), atol=1e-3)
    torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def deepnet_reference(block: nn.Module, h: torch.Tensor, x: torch.Tensor, alpha: float):
    """LN(α·x + G(x)) computed from the block's own weights, without its hooks."""
    dense = block.dense
    g = torch.nn.functional.linear(h, dense.weight, dense.bias)
    ln = block.LayerNorm
    return torch.nn.functional.layer_norm(
        alpha * x + g, ln.normalized_shape, ln.weight, ln.bias, ln.eps
    )


class RenamedEncoder(nn.Module):
    """A Post-LN encoder whose layers have names no name-based tool would find."""

    def __init__(self, d: int = 64, blocks: int = 4):
        super().__init__()
        self.a = nn.ModuleList(nn.Linear(d, d) for _ in range(blocks))
        self.b = nn.ModuleList(nn.Linear(d, d) for _ in range(blocks))
        self.c = nn.ModuleList(nn.Linear(d, d) for _ in range(blocks))
        self.o = nn.ModuleList(nn.Linear(d, d) for _ in range(blocks))
        self.u = nn.ModuleList(nn.Linear(d, 4 * d) for _ in range(blocks))
        self.w = nn.ModuleList(nn.Linear(4 * d, d) for _ in range(blocks))
        self.n1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))
        self.n2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))

    def forward(self, x):
        for i in range(len(self.a)):
            att = torch.softmax(self.b[i](x) @ self.c[i](x).transpose(-1, -2), dim=-1)
            x = self.n1[i](x + self.o[i](att @ self.a[i](x)))
            x = self.n2[i](x + self.w[i](torch.relu(self.u[i](x))))
        return x


def test_deepnorm_finds_query_key_and_value_by_data_flow_not_by_name():
    model = RenamedEncoder()
    initpolicy.apply(model, "deepnorm", seed=0, example_inputs=torch.randn(2, 5, 64))
    beta = (8 * 4) ** (-1 / 4)
    for i in range(4):
        for group, gain in (
            ("b", 1.0),
            ("c", 1.0),
            ("a", beta),
            ("o", beta),
            ("u", beta),
            ("w", beta),
        ):
            w = getattr(model, group)[i].weight
            assert_std(w, gain * glorot(w), f"{group}.{i}")


# DeepNet Table 1, encoder-decoder (N encoder, M decoder blocks), and decoder-only.


def deepnet_encoder_decoder(n: int, m: int) -> dict[str, tuple[float, float]]:
    """(α, β) of each side (Wang et al. 2022, Figure 2 / Table 1)."""
    return {
        "encoder": (0.81 * (n**4 * m) ** (1 / 16), 0.87 * (n**4 * m) ** (-1 / 16)),
        "decoder": ((3 * m) ** (1 / 4), (12 * m) ** (-1 / 4)),
    }


def bart(encoder: int = 2, decoder: int = 3) -> nn.Module:
    cfg = transformers.BartConfig(
        d_model=64,
        encoder_layers=encoder,
        decoder_layers=decoder,
        encoder_attention_heads=4,
        decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
        vocab_size=100,
        max_position_embeddings=64,
    )
    return transformers.BartModel(cfg)


def t5(encoder: int = 2, decoder: int = 3) -> nn.Module:
    cfg = transformers.T5Config(
        d_model=64,
        d_kv=16,
        d_ff=128,
        num_layers=encoder,
        num_decoder_layers=decoder,
        num_heads=4,
        vocab_size=100,
    )
    return transformers.T5Model(cfg)


def bart_sides(model: nn.Module) -> dict[str, list[tuple[str, nn.Linear, str]]]:
    """Every Linear of BART's blocks by side: (name, module, role), role one of
    query, key, beta (value, attention output, FFN)."""
    out: dict[str, list[tuple[str, nn.Linear, str]]] = {"encoder": [], "decoder": []}
    for side in ("encoder", "decoder"):
        for i, lay in enumerate(getattr(model, side).layers):
            attns = [("self_attn", lay.self_attn)]
            if side == "decoder":
                attns.append(("encoder_attn", lay.encoder_attn))
            for a, att in attns:
                for proj, role in (("q_proj", "query"), ("k_proj", "key")):
                    out[side].append((f"{side}.layers.{i}.{a}.{proj}", getattr(att, proj), role))
                for proj in ("v_proj", "out_proj"):
                    out[side].append((f"{side}.layers.{i}.{a}.{proj}", getattr(att, proj), "beta"))
            for fc in ("fc1", "fc2"):
                out[side].append((f"{side}.layers.{i}.{fc}", getattr(lay, fc), "beta"))
    return out


def t5_sides(model: nn.Module) -> dict[str, list[tuple[str, nn.Linear, str]]]:
    out: dict[str, list[tuple[str, nn.Linear, str]]] = {"encoder": [], "decoder": []}
    for side in ("encoder", "decoder"):
        for i, block in enumerate(getattr(model, side).block):
            for j, sub in enumerate(block.layer):
                kind = next(k for k in ("SelfAttention", "EncDecAttention", "DenseReluDense")
                            if hasattr(sub, k))  # fmt: skip
                prefix = f"{side}.block.{i}.layer.{j}.{kind}"
                roles = (("wi", "beta"), ("wo", "beta")) if kind == "DenseReluDense" else (
                    ("q", "query"), ("k", "key"), ("v", "beta"), ("o", "beta"))  # fmt: skip
                for proj, role in roles:
                    out[side].append((f"{prefix}.{proj}", getattr(getattr(sub, kind), proj), role))
    return out


def untouched(model: nn.Module, before: dict[str, torch.Tensor], mine: set[str]) -> None:
    """Every parameter the policy does not set keeps its values, exactly."""
    for name, p in model.named_parameters():
        if name not in mine:
            assert torch.equal(p.detach(), before[name]), name


@pytest.mark.slow  # real transformers encoder-decoder models
@pytest.mark.parametrize(
    ("build", "sides", "n", "m"), [(bart, bart_sides, 2, 3), (t5, t5_sides, 3, 2)]
)
def test_deepnorm_on_encoder_decoder(build, sides, n, m):
    """DeepNet Table 1, encoder-decoder: encoder β = 0.87 (N^4 M)^(-1/16), decoder
    β = (12M)^(-1/4) on v, the attention output (self- and cross-attention) and the FFN,
    gain 1 on q and k; α as the branch ends' output multiplier 1/α; biases of the blocks'
    Linears zero; nothing else changed. N and M come from the trace."""
    model = build(n, m)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    graph = initpolicy.trace(model)
    assert (graph.encoder_blocks, graph.decoder_blocks) == (n, m)
    plan = initpolicy.load("deepnorm").plan(model)
    initpolicy.apply(model, "deepnorm", seed=0)
    coef = deepnet_encoder_decoder(n, m)
    mine = set()
    for side, layers in sides(model).items():
        alpha, beta = coef[side]
        for name, lin, role in layers:
            w = lin.weight
            assert_std(w, (beta if role == "beta" else 1.0) * glorot(w), name)
            mine.add(f"{name}.weight")
            if lin.bias is not None:
                assert_zero(lin.bias, f"{name}.bias")
                mine.add(f"{name}.bias")
        ends = {name for name, _, role in layers if role == "beta"} & set(plan.outputs)
        assert ends, side
        for end in ends:
            assert plan.outputs[end].value == pytest.approx(1 / alpha, rel=1e-12), end
    # the branch ends are each attention's output and each FFN's second Linear, no others
    expected_ends = {
        name
        for layers in sides(model).values()
        for name, _, _ in layers
        if name.rsplit(".", 1)[-1] in ("out_proj", "fc2", "o", "wo")
    }
    assert set(plan.outputs) == expected_ends
    untouched(model, before, mine)


def test_deepnorm_on_decoder_only_opt():
    """DeepNet Table 1, decoder-only (M blocks): β = (8M)^(-1/4), α = (2M)^(1/4), on
    OPT in its Post-LN form (do_layer_norm_before=False)."""
    m = 3
    cfg = transformers.OPTConfig(
        hidden_size=64,
        num_hidden_layers=m,
        ffn_dim=128,
        num_attention_heads=4,
        vocab_size=100,
        max_position_embeddings=64,
        word_embed_proj_dim=64,
        do_layer_norm_before=False,
    )
    model = transformers.OPTModel(cfg)
    graph = initpolicy.trace(model)
    assert (graph.encoder_blocks, graph.decoder_blocks) == (0, 0)  # one stack
    plan = initpolicy.load("deepnorm").plan(model)
    initpolicy.apply(model, "deepnorm", seed=0)
    beta, alpha = (8 * m) ** (-1 / 4), (2 * m) ** (1 / 4)
    for i, lay in enumerate(model.decoder.layers):
        att = lay.self_attn
        for name, lin, gain in [
            ("q_proj", att.q_proj, 1.0),
            ("k_proj", att.k_proj, 1.0),
            ("v_proj", att.v_proj, beta),
            ("out_proj", att.out_proj, beta),
            ("fc1", lay.fc1, beta),
            ("fc2", lay.fc2, beta),
        ]:
            assert_std(lin.weight, gain * glorot(lin.weight), f"layer {i} {name}")
            assert_zero(lin.bias, f"layer {i} {name}.bias")
    assert set(plan.outputs) == {
        f"decoder.layers.{i}.{e}" for i in range(m) for e in ("self_attn.out_proj", "fc2")
    }
    assert all(o.value == pytest.approx(1 / alpha, rel=1e-12) for o in plan.outputs.values())


class RenamedEncoderDecoder(nn.Module):
    """A Post-LN encoder-decoder whose layers have names no name-based tool would find:
    the encoder's stack is ``e*``, the decoder's ``d*``, cross-attention ``x*``; the
    decoder is declared (and registered) first."""

    def __init__(self, d: int = 64, n: int = 3, m: int = 2):
        super().__init__()

        def lin(count: int, i: int = d, o: int = d) -> nn.ModuleList:
            return nn.ModuleList(nn.Linear(i, o) for _ in range(count))

        self.dq, self.dk, self.dv, self.do, self.du, self.dw = (
            lin(m), lin(m), lin(m), lin(m), lin(m, d, 2 * d), lin(m, 2 * d, d)
        )  # fmt: skip
        self.xq, self.xk, self.xv, self.xo = lin(m), lin(m), lin(m), lin(m)
        self.eq, self.ek, self.ev, self.eo, self.eu, self.ew = (
            lin(n), lin(n), lin(n), lin(n), lin(n, d, 2 * d), lin(n, 2 * d, d)
        )  # fmt: skip
        self.norms = nn.ModuleList(nn.LayerNorm(d) for _ in range(2 * n + 3 * m))

    @staticmethod
    def attend(q, k, v):
        return torch.softmax(q @ k.transpose(-1, -2), dim=-1) @ v

    def forward(self, src, tgt):
        x, norms = src, iter(self.norms)
        for i in range(len(self.eq)):
            x = next(norms)(
                x + self.eo[i](self.attend(self.eq[i](x), self.ek[i](x), self.ev[i](x)))
            )
            x = next(norms)(x + self.ew[i](torch.relu(self.eu[i](x))))
        y = tgt
        for i in range(len(self.dq)):
            y = next(norms)(
                y + self.do[i](self.attend(self.dq[i](y), self.dk[i](y), self.dv[i](y)))
            )
            y = next(norms)(
                y + self.xo[i](self.attend(self.xq[i](y), self.xk[i](x), self.xv[i](x)))
            )
            y = next(norms)(y + self.dw[i](torch.relu(self.du[i](y))))
        return y


def test_deepnorm_finds_encoder_and_decoder_by_data_flow_not_by_name():
    n, m = 3, 2
    model = RenamedEncoderDecoder(n=n, m=m)
    inputs = (torch.randn(2, 5, 64), torch.randn(2, 4, 64))
    plan = initpolicy.load("deepnorm").plan(model, example_inputs=inputs)
    initpolicy.apply(model, "deepnorm", seed=0, example_inputs=inputs)
    coef = deepnet_encoder_decoder(n, m)
    groups = {
        "encoder": {"eq": 1, "ek": 1, "ev": 0, "eo": 0, "eu": 0, "ew": 0},
        "decoder": {"dq": 1, "dk": 1, "dv": 0, "do": 0, "du": 0, "dw": 0,
                    "xq": 1, "xk": 1, "xv": 0, "xo": 0},
    }  # fmt: skip
    for side, members in groups.items():
        alpha, beta = coef[side]
        for group, unit in members.items():
            for i, lin in enumerate(getattr(model, group)):
                assert_std(lin.weight, (1.0 if unit else beta) * glorot(lin.weight), f"{group}.{i}")
                if group in ("eo", "ew", "do", "dw", "xo"):
                    assert plan.outputs[f"{group}.{i}"].value == pytest.approx(1 / alpha)


# ------------------------------------------------------------------------------ T-Fixup


def test_tfixup_on_bert_encoder():
    """T-Fixup Algorithm 1, encoder: xavier_uniform everywhere; v, attention output and FFN
    scaled by 0.67 N^(-1/4); word embeddings N(0, d^(-1/2))."""
    n = 3
    model = bert(n)
    initpolicy.apply(model, "tfixup", seed=0)
    scale = 0.67 * n ** (-1 / 4)
    for i, lay in enumerate(model.encoder.layer):
        att = lay.attention
        for name, w, s in [
            ("query", att.self.query.weight, 1.0),
            ("key", att.self.key.weight, 1.0),
            ("value", att.self.value.weight, scale),
            ("out", att.output.dense.weight, scale),
            ("ffn1", lay.intermediate.dense.weight, scale),
            ("ffn2", lay.output.dense.weight, scale),
        ]:
            assert_std(w, s * glorot(w), f"layer {i} {name}")
            bound = s * math.sqrt(3) * glorot(w)
            assert float(w.detach().abs().max()) <= bound * (1 + 1e-6), f"layer {i} {name}: bound"
    emb = model.embeddings.word_embeddings.weight
    assert_std(emb, 64 ** (-1 / 2), "word embeddings")


def test_tfixup_on_encoder_decoder_bart():
    """T-Fixup Algorithm 1 with a decoder: encoder v, attention output and FFN scaled by
    0.67 N^(-1/4); the decoder's (self- and cross-attention) by (9M)^(-1/4); q and k
    plain xavier_uniform; input embeddings N(0, d^(-1/2)) times (9M)^(-1/4)."""
    n, m = 2, 3
    model = bart(n, m)
    initpolicy.apply(model, "tfixup", seed=0)
    scale = {"encoder": 0.67 * n ** (-1 / 4), "decoder": (9 * m) ** (-1 / 4)}
    for side, layers in bart_sides(model).items():
        for name, lin, role in layers:
            s = scale[side] if role == "beta" else 1.0
            w = lin.weight
            assert_std(w, s * glorot(w), name)
            bound = s * math.sqrt(3) * glorot(w)
            assert float(w.detach().abs().max()) <= bound * (1 + 1e-6), f"{name}: bound"
            assert_zero(lin.bias, f"{name}.bias")
    d = 64
    for name, emb in [
        ("shared (tokens, tied to both stacks)", model.shared.weight),
        ("encoder positions", model.encoder.embed_positions.weight),
        ("decoder positions", model.decoder.embed_positions.weight),
    ]:
        assert_std(emb, d ** (-1 / 2) * (9 * m) ** (-1 / 4), name)


# ------------------------------------------------------------------------------ trace facts


def _zoo() -> dict:
    from tests.zoo.transformers_models import FAMILY, MODELS

    return {name: (MODELS[name], FAMILY.get(name)) for name in MODELS}


#: The zoo's models with cross-attention from one stack to another: the encoder-decoder
#: family, the speech seq2seq models, and BLIP (its text encoder reads the vision tower).
CROSS = {"whisper", "speech_to_text", "blip"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(_zoo()))
def test_the_zoo_has_an_encoder_and_a_decoder_exactly_where_it_cross_attends(name):
    """Every transformers zoo model (2 layers per stack): N = M = 2 where a stack reads
    another's output by cross-attention; no stack role elsewhere (encoder-only,
    decoder-only, vision, audio encoders, LLaVA-style multimodal, SSMs)."""
    build, family = _zoo()[name]
    graph = initpolicy.trace(build())
    if family == "enc-dec" or name in CROSS:
        assert (graph.encoder_blocks, graph.decoder_blocks) == (2, 2)
        kv = [lay for lay in graph.layers if lay.roles.stack == "decoder" and lay.roles.attention]
        assert {lay.roles.attention for lay in kv} == {"query", "key", "value"}
    else:
        assert (graph.encoder_blocks, graph.decoder_blocks) == (0, 0)
        assert not any(lay.roles.stack for lay in graph.layers)


def test_the_trace_counts_residual_branches_and_their_layers():
    g = initpolicy.trace(torchvision.models.resnet18())
    assert g.n_branches == 8
    by = {lay.name: lay for lay in g.layers}
    assert (by["layer2.0.conv1"].roles.branch_layers, by["layer2.0.conv2"].roles.branch_end) == (
        2,
        True,
    )
    assert by["layer2.0.bn2"].roles.branch_tail and not by["layer2.0.conv2"].roles.branch_tail
    assert by["layer2.0.downsample.0"].roles.branch is None  # the shortcut, not the branch
    assert by["conv1"].roles.branch is None and by["fc"].roles.branch is None
