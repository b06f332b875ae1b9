"""Built-in policies and rules on the layouts real architectures use: tied LM heads,
torchvision/transformers ViTs, LSTM projections, weight_norm/spectral_norm weights."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import orthogonal, spectral_norm, weight_norm

import initpolicy
from initpolicy.applier.fill import fill_
from initpolicy.applier.report import plan_text
from initpolicy.applier.streams import derive
from initpolicy.errors import PlanError
from initpolicy.tracer.layers import type_names as module_types
from tests.models import corpus

pytest.importorskip("transformers")
from tests.models import hf_zoo

#: It builds real third-party models.
pytestmark = pytest.mark.slow

HF = {c.name: c for c in hf_zoo.CASES}


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(400, 64)
        self.head = nn.Linear(64, 400, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(ids))


class GlobNamedTiedLM(nn.Module):
    """TiedLM whose head's name holds glob characters (a ModuleDict key may)."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(400, 64)
        self.heads = nn.ModuleDict({"out[1]": nn.Linear(64, 400, bias=False)})
        self.heads["out[1]"].weight = self.emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.heads["out[1]"](self.emb(ids))


# -- tied tensors under built-in policies -----------------------------------------------


def test_pytorch_default_on_a_tied_head_is_what_torch_builds():
    # torch: the Embedding creates and initializes the tensor, the head is tied to it
    # afterwards, so the tensor holds Embedding.reset_parameters' N(0, 1).
    torch.manual_seed(0)
    built = TiedLM().emb.weight.detach().clone()
    m = TiedLM()
    report = initpolicy.load("pytorch_default").apply(m, seed=3)
    torch.manual_seed(derive(3, "emb", "default"))
    expected = torch.empty(400, 64).normal_()
    assert torch.equal(m.emb.weight, expected) and m.head.weight is m.emb.weight
    assert abs(float(built.std()) - float(expected.std())) < 0.02
    (e,) = report.plan.entries
    assert (e.name, e.scheme, e.layer.name) == ("emb.weight", "default", "emb")
    assert [r.loc.line for r in e.overridden] == [14]
    (w,) = report.warnings
    assert w.startswith(
        "emb.weight is tied with head.weight: built-in rules disagree; emb.weight: default() by "
        "<builtin>/pytorch_default:17 wins over head.weight: kaiming_uniform("
    )
    text = plan_text(report.plan)
    assert "    note  tied with head.weight: built-in rules disagree and the later one wins" in text


TIED = {
    "t5": (
        "shared.weight",
        ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight", "lm_head.weight"),
    ),
    "bart": (
        "model.shared.weight",
        (
            "model.encoder.embed_tokens.weight",
            "model.decoder.embed_tokens.weight",
            "lm_head.weight",
        ),
    ),
    "roberta": ("roberta.embeddings.word_embeddings.weight", ("lm_head.decoder.weight",)),
    "gpt2": ("transformer.wte.weight", ("lm_head.weight",)),
}


@pytest.mark.parametrize("name", sorted(TIED))
@pytest.mark.parametrize("meta", [False, True])
def test_pytorch_default_applies_to_tied_language_models(name, meta):
    case = HF[name]
    if meta:
        with torch.device("meta"):
            model = case.build()
    else:
        model = case.build()
    report = initpolicy.load("pytorch_default").apply(
        model, seed=0, example_inputs=None if meta else case.inputs()
    )
    tied = [e for e in report.plan.entries if e.param.aliases and e.param.local == "weight"]
    # the embedding's own init (the built-in's later rule) writes the one tensor, once
    assert [(e.param.name, e.param.aliases, e.scheme) for e in tied] == [(*TIED[name], "default")]
    assert "Embedding" in tied[0].layer.types
    first, aliases = TIED[name]
    assert [w for w in report.warnings if "built-in rules disagree" in w] == [
        f"{first} is tied with {', '.join(aliases)}: built-in rules disagree; {first}: "
        f"default() by <builtin>/pytorch_default:17 wins over {aliases[-1]}: "
        "kaiming_uniform(a=2.23607, mode=fan_in, nonlinearity=leaky_relu) by "
        "<builtin>/pytorch_default:14"
    ]
    for e in tied:  # every name of the tensor is still one tensor
        first = model.get_parameter(e.param.name)
        assert all(model.get_parameter(a) is first for a in e.param.aliases)


def test_a_user_conflict_on_a_tied_head_names_the_keep_rule_that_resolves_it():
    text = "Embedding -> normal(0, 0.02)\nLinear -> zeros()\n"
    with pytest.raises(PlanError) as info:
        initpolicy.load(text).apply(TiedLM())
    (d,) = info.value.diagnostics
    assert d.message == (
        "tied tensor emb.weight (also head.weight) is one tensor, but its names get different "
        "inits: emb.weight: normal(mean=0, std=0.02) by <string>:1; head.weight: zeros() by "
        "<string>:2"
    )
    assert d.hint == (
        'to let emb.weight\'s rule initialize it, add `Linear.weight named "head" -> keep` '
        '(or `Embedding.weight named "emb" -> keep` for head.weight\'s rule)'
    )
    fix = d.hint.split("`")[1]
    assert fix == 'Linear.weight named "head" -> keep'
    m = TiedLM()
    initpolicy.load(text + fix).apply(m, seed=0)
    assert float(m.emb.weight.detach().std()) == pytest.approx(0.02, rel=0.05)
    assert torch.equal(m.head.weight, m.emb.weight)


# -- types are nn.Module classes; `*` does not select buffers ----------------------------


def test_module_types_leave_mixins_out():
    model = HF["wav2vec2"].build()
    assert module_types(model) == (
        "Wav2Vec2ForCTC",
        "Wav2Vec2PreTrainedModel",
        "PreTrainedModel",
        "Module",
    )


class Embeddings(nn.Module):  # DistilBERT's container name
    def __init__(self) -> None:
        super().__init__()
        self.word = nn.Embedding(16, 8)
        self.register_buffer("position_ids", torch.arange(8)[None], persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.word(ids)


class EmbNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embeddings = Embeddings()
        self.out = nn.Linear(8, 2)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.out(self.embeddings(ids))


def test_pytorch_default_selects_torch_classes_only_and_no_buffer_by_star():
    m = EmbNet()
    report = initpolicy.load("pytorch_default").apply(m, seed=0)
    assert [e.name for e in report.entries] == ["embeddings.word.weight", "out.weight", "out.bias"]
    assert torch.equal(m.embeddings.position_ids, torch.arange(8)[None])
    p = initpolicy.load("Embeddings.* -> zeros()\nEmbeddings.position_* -> keep").plan(m)
    assert [e.name for e in p.entries] == ["embeddings.position_ids"]


def test_pytorch_default_resets_batchnorm_statistics_by_name():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    m[1].running_var.fill_(7.0)
    m[1].num_batches_tracked.fill_(5)
    initpolicy.load("pytorch_default").apply(m, seed=0)
    assert torch.equal(m[1].running_var, torch.ones(4))
    assert int(m[1].num_batches_tracked) == 0


@pytest.mark.parametrize("meta", [False, True])
def test_distilbert_under_pytorch_default(meta):
    case = HF["distilbert"]
    if meta:
        with torch.device("meta"):
            model = case.build()
    else:
        model = case.build()
    report = initpolicy.load("pytorch_default").apply(model, seed=0)
    assert report.unmatched == []
    assert not any(e.layer.type == "Embeddings" for e in report.plan.entries)


# -- vit_jax on torchvision's and transformers' ViT -------------------------------------


def _build(builder, meta):
    if not meta:
        return builder()
    with torch.device("meta"):
        return builder()


def _torchvision_vit():
    tv = pytest.importorskip("torchvision.models")
    return tv.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    )


@pytest.mark.parametrize("meta", [False, True])
def test_vit_jax_on_torchvision_vit(meta):
    m = _build(_torchvision_vit, meta)
    report = initpolicy.load("vit_jax").apply(m, seed=0)
    assert report.unmatched == []
    schemes = {e.name: (e.scheme, e.args.get("std")) for e in report.entries}
    assert schemes["encoder.pos_embedding"] == ("trunc_normal", 0.02)
    assert schemes["class_token"] == ("normal", 1e-6)
    assert float(m.encoder.pos_embedding.std()) == pytest.approx(0.02, rel=0.15)
    assert torch.equal(m.heads.head.weight, torch.zeros_like(m.heads.head.weight))


@pytest.mark.parametrize("meta", [False, True])
def test_vit_jax_on_transformers_vit(meta):
    m = _build(HF["vit"].build, meta)
    report = initpolicy.load("vit_jax").apply(m, seed=0)
    assert report.unmatched == []
    schemes = {e.name: (e.scheme, e.args.get("std")) for e in report.entries}
    assert schemes["vit.embeddings.position_embeddings"] == ("trunc_normal", 0.02)
    assert schemes["vit.embeddings.cls_token"] == ("normal", 1e-6)
    pos = m.vit.embeddings.position_embeddings
    assert float(pos.std()) == pytest.approx(0.02, rel=0.15)


def test_vit_jax_covers_timm_token_names():
    names = {r.loc.text.split()[0]: r.scheme for r in initpolicy.load("vit_jax").ir.rules}
    for tok in ("cls_token", "class_token", "reg_token"):
        assert (names[tok].name, names[tok].args[1].value.value) == ("normal", 1e-6)
    for pos in ("pos_embed", "pos_embedding", "position_embeddings", "dist_token"):
        assert names[pos].name == "trunc_normal"


# -- lstm: the projection of LSTM(proj_size) ---------------------------------------------


def test_lstm_policy_gives_the_projection_orthonormal_rows():
    m = corpus.Seq2Seq()
    report = initpolicy.load("lstm").apply(m, seed=0)
    assert "decoder.weight_hr_l0" not in report.unmatched
    w = m.decoder.weight_hr_l0.detach()  # (proj 12, hidden 24)
    assert torch.allclose(w @ w.T, torch.eye(12), atol=1e-5)
    assert report["decoder.weight_hr_l0"].scheme == "orthogonal"


# -- parametrized weights ----------------------------------------------------------------


class WN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = weight_norm(nn.Conv1d(4, 64, 3, padding=1, groups=2), dim=2)
        self.lin = spectral_norm(nn.Linear(64, 32, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(torch.relu(self.conv(x)).mean(-1))


X = (torch.randn(2, 4, 5, generator=torch.Generator().manual_seed(0)),)
POLICY = "Conv1d before relu -> kaiming_normal(fan_in)\nLinear -> orthogonal()\nbias -> zeros()"


def _draw(shape, scheme, args, fan_in, fan_out, seed, name):
    t = torch.empty(shape)
    g = torch.Generator().manual_seed(derive(seed, name))
    fill_(t, scheme, args, fan_in=fan_in, fan_out=fan_out, generator=g)
    return t


def test_weight_norm_weight_is_the_rules_draw_with_the_convs_fans():
    m = WN()
    report = initpolicy.load(POLICY).apply(m, seed=5, example_inputs=X)
    e = report["conv.weight"]
    assert (e.entry.param.fan_in, e.entry.param.fan_out) == (6.0, 192.0)
    expected = _draw((64, 2, 3), "kaiming_normal", e.args, 6.0, 192.0, 5, "conv.weight")
    assert torch.allclose(m.conv.weight, expected, atol=1e-6)
    wn = m.conv.parametrizations.weight
    assert torch.allclose(wn.original0, torch.norm_except_dim(expected, 2, 2))
    assert report.unmatched == [] and e.std == pytest.approx(math.sqrt(2 / 6))


def test_spectral_norm_original_is_the_draw_and_power_iteration_is_reproducible():
    a, b = WN(), WN()
    b.lin.parametrizations.weight[0]._u.normal_()  # other state before: same result after
    for m in (a, b):
        initpolicy.load(POLICY).apply(m, seed=5, example_inputs=X)
    sn = a.lin.parametrizations.weight
    expected = _draw((32, 64), "orthogonal", {"gain": 1.0}, 64.0, 32.0, 5, "lin.weight")
    assert torch.equal(sn.original, expected)
    assert torch.equal(sn[0]._u, b.lin.parametrizations.weight[0]._u)
    # orthogonal rows: the largest singular value is 1, so the normalized weight is the draw
    assert torch.allclose(a.lin.weight, expected, atol=1e-5)


def test_parametrized_weights_on_meta_equal_the_cpu_path():
    with torch.device("meta"):
        meta = WN()
    initpolicy.load(POLICY).apply(meta, seed=1, example_inputs=X)
    cpu = WN()
    initpolicy.load(POLICY).apply(cpu, seed=1, example_inputs=X)
    a, b = meta.state_dict(), cpu.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Conv1d -> zeros()", "a zero weight has no direction, so weight_norm cannot represent it"),
        ("Conv1d -> default", "default would run ParametrizedConv1d.reset_parameters()"),
    ],
)
def test_what_a_parametrized_weight_cannot_take_is_a_plan_error(text, message):
    m = WN()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    with pytest.raises(
        PlanError,
        match="conv.weight: conv's weight is computed by the "
        "parametrization weight_norm; " + message.replace("(", r"\(").replace(")", r"\)"),
    ):
        initpolicy.load(text).apply(m, example_inputs=X)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def _legacy_weight_norm(module: nn.Module, **kwargs) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deprecated in favour of the parametrization
        return nn.utils.weight_norm(module, **kwargs)


def _legacy_net() -> nn.Module:
    return nn.Sequential(_legacy_weight_norm(nn.Linear(30, 50)), nn.ReLU(), nn.Linear(50, 2))


def test_legacy_weight_norm_weight_is_the_rules_draw_not_g_drawn_as_a_weight():
    m = _legacy_net()
    report = initpolicy.apply(m, "relu_net", seed=5)
    assert [e.name for e in report.entries] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    e = report["0.weight"]
    assert (e.scheme, e.entry.param.fan_in, e.entry.param.fan_out) == ("kaiming_normal", 30, 50)
    expected = _draw((50, 30), "kaiming_normal", e.args, 30.0, 50.0, 5, "0.weight")
    assert torch.equal(m[0].weight_v, expected)
    assert torch.allclose(m[0].weight_g, torch.norm_except_dim(expected, 2, 0))
    assert torch.allclose(m[0].weight, expected, atol=1e-6)  # refreshed, and so after forward
    m(torch.zeros(1, 30))
    assert torch.allclose(m[0].weight, expected, atol=1e-6) and report.unmatched == []


@pytest.mark.parametrize("dim", [0, 1, None])
def test_legacy_weight_norm_on_meta_equals_the_cpu_path(dim):
    with torch.device("meta"):
        meta = nn.Sequential(_legacy_weight_norm(nn.Conv2d(3, 8, 3), dim=dim), nn.ReLU())
    cpu = nn.Sequential(_legacy_weight_norm(nn.Conv2d(3, 8, 3), dim=dim), nn.ReLU())
    for m in (meta, cpu):
        initpolicy.apply(m, "relu_net", seed=2, example_inputs=torch.zeros(1, 3, 8, 8))
    a, b = meta.state_dict(), cpu.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_legacy_weight_norm_refuses_a_zero_weight_and_names_its_tensors():
    m = _legacy_net()
    with pytest.raises(PlanError) as info:
        initpolicy.apply(m, "Linear -> zeros()")
    d = info.value.diagnostics[0]
    assert d.message.startswith("0.weight: 0's weight is computed by the legacy weight_norm; ")
    assert (
        d.hint
        == 'remove the weight_norm, or write its originals: `Linear.weight_? named "0" -> ...`'
    )


def test_other_parametrizations_point_at_their_stored_tensors():
    m = nn.Sequential(orthogonal(nn.Linear(4, 4)))
    with pytest.raises(PlanError) as info:
        initpolicy.load("Linear -> xavier_uniform()").apply(m)
    (d,) = info.value.diagnostics
    assert d.message == (
        "0.weight: 0's weight is computed by the parametrization _Orthogonal; "
        "a rule can write only a weight_norm or spectral_norm weight"
    )
    assert d.hint == (
        "write rules for its stored tensors: `ParametrizationList.original* named "
        '"0.parametrizations.*" -> ...`'
    )
    # without a rule for the computed weight, the stored tensor is matched by its own name
    p = initpolicy.load("ParametrizationList.original -> keep").plan(m)
    assert [e.name for e in p.entries] == ["0.parametrizations.weight.original"]


def test_wav2vec2_positional_conv_is_reached_by_a_conv_rule():
    m = HF["wav2vec2"].build()
    report = initpolicy.load("relu_net").apply(m, seed=0, example_inputs=HF["wav2vec2"].inputs())
    name = "wav2vec2.encoder.pos_conv_embed.conv.weight"
    assert report[name].entry.param.parametrization == "weight_norm"
    assert not any("pos_conv_embed.conv.parametrizations" in n for n in report.unmatched)


def test_the_keep_rule_a_tied_conflict_suggests_names_a_glob_name_literally():
    # `named "heads.out[1]"` would be the glob class [1]: it matches "heads.out1", not the
    # head, so the suggested rule must escape the bracket to do what it says
    text = "Embedding -> normal(0, 0.02)\nLinear -> zeros()\n"
    with pytest.raises(PlanError) as info:
        initpolicy.load(text).apply(GlobNamedTiedLM())
    (d,) = info.value.diagnostics
    fix = d.hint.split("`")[1]
    assert fix == 'Linear.weight named "heads.out[[]1]" -> keep'
    m = GlobNamedTiedLM()
    initpolicy.load(text + fix).apply(m, seed=0)
    assert float(m.emb.weight.detach().std()) == pytest.approx(0.02, rel=0.05)


class _Tied(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = torch.nn.Embedding(10, 8)
        self.head = torch.nn.Linear(8, 10, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.emb(x))


@pytest.mark.parametrize(
    "wrapped", ["scaled(normal(0, 1), 3)", "mapped(normal(0, 1), exp(x))", "lsuv(normal(0, 1))"]
)
def test_names_of_a_tied_tensor_that_differ_only_by_a_wrapper_disagree(wrapped):
    """A wrapper changes what is written (a factor, a map, a calibration): a tied tensor
    whose other name has the bare scheme gets two inits, a plan error naming both."""
    text = f"Embedding -> normal(0, 1)\nLinear -> {wrapped}\n"
    with pytest.raises(PlanError) as info:
        initpolicy.load(text).plan(_Tied(), example_inputs=(torch.zeros(2, 3, dtype=torch.long),))
    (d,) = info.value.diagnostics
    assert "get different inits" in d.message and d.message.endswith("by <string>:2")
    assert f"head.weight: {wrapped.split('(')[0]}(normal(0, 1)" in d.message
