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


# ------------------------------------------------------------------------------ trace facts


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
