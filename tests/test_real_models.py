"""Real architectures end to end: torchvision's and timm's own classes (at small widths
where their constructors allow it), hand-written architectures no package provides
(tests/models/corpus.py: U-Net, seq2seq, DCGAN), and transformers models from tiny configs
(tests/models/hf_zoo.py).

Per model: trace finds the activation that really follows its key layers (read off the
library's source), on the CPU and on the meta device; a built-in policy applies
reproducibly; lint runs its dynamic checks and leaves the model exactly as it was.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import torch

import initpolicy
from initpolicy.tracer.tracing import trace
from tests.models import corpus

pytest.importorskip("transformers")
tv = pytest.importorskip("torchvision.models")
timm = pytest.importorskip("timm")
from tests.models import hf_zoo  # noqa: E402

#: It builds real third-party models.
pytestmark = pytest.mark.slow


def _meta(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to("meta")
    if isinstance(x, tuple):
        return tuple(_meta(v) for v in x)
    return {k: _meta(v) for k, v in x.items()}


def _snapshot(model: torch.nn.Module) -> tuple[dict[str, torch.Tensor], list[bool]]:
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return state, [m.training for m in model.modules()]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _activations(model: torch.nn.Module, inputs: Any) -> dict[str, str]:
    return {lay.name: lay.activation for lay in trace(model, example_inputs=inputs).layers}


# -- the architectures -----------------------------------------------------------------


def _img() -> torch.Tensor:
    return torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def _resnet50() -> torch.nn.Module:
    # torchvision's ResNet with Bottleneck blocks, one per stage (resnet50 has 3, 4, 6, 3)
    return tv.resnet.ResNet(tv.resnet.Bottleneck, [1, 1, 1, 1], num_classes=10)


def _convnext() -> torch.nn.Module:
    cfg = tv.convnext.CNBlockConfig
    return tv.convnext.ConvNeXt([cfg(16, 32, 2), cfg(32, 64, 2), cfg(64, None, 2)], num_classes=10)


def _vit() -> torch.nn.Module:
    return tv.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
        num_classes=10,
    )  # fmt: skip


def _densenet() -> torch.nn.Module:
    return tv.DenseNet(growth_rate=8, block_config=(3, 3), num_init_features=16, bn_size=2,
                       num_classes=10)  # fmt: skip


BUILDERS: dict[str, Callable[[], torch.nn.Module]] = {
    "resnet18": lambda: tv.resnet18(num_classes=10),
    "resnet50": _resnet50,
    "mobilenet_v3": lambda: tv.mobilenet_v3_small(num_classes=10),
    "efficientnet": lambda: tv.efficientnet_b0(num_classes=10),
    "convnext": _convnext,
    "vit": _vit,
    "densenet": _densenet,
    # timm's BatchNormAct2d runs the activation inside the norm (timm/layers/norm_act.py)
    "timm_regnet": lambda: timm.create_model("regnetx_002", num_classes=10),
    "unet": corpus.UNet,
    "seq2seq": corpus.Seq2Seq,
    "generator": corpus.Generator,
}

INPUTS: dict[str, Callable[[], Any]] = {
    **{name: _img for name in BUILDERS},
    "seq2seq": lambda: (torch.arange(6).reshape(1, 6), torch.arange(5).reshape(1, 5)),
    "generator": lambda: torch.randn(2, 16, 1, 1, generator=torch.Generator().manual_seed(0)),
}

#: Built-in policy that suits each architecture.
POLICIES: dict[str, str] = {
    "resnet18": "resnet",
    "resnet50": "resnet",
    "mobilenet_v3": "relu_net",
    "efficientnet": "relu_net",
    "convnext": "pytorch_default",
    "vit": "vit_jax",
    "densenet": "relu_net",
    "timm_regnet": "resnet",
    "unet": "relu_net",
    "seq2seq": "lstm",
    "generator": "relu_net",
}

TV = "torchvision/models/"

#: Activation that really follows key layers (read off the library's source).
EXPECTED: dict[str, dict[str, str]] = {
    "resnet18": {
        "conv1": "relu",  # resnet.py:268-270 conv1 -> bn1 -> relu
        "layer1.0.conv1": "relu",  # resnet.py:92-94
        "layer1.0.conv2": "relu",  # resnet.py:96-103 bn2, residual add, then relu
        "layer2.0.downsample.0": "relu",  # resnet.py:99-103 add, then relu
        "fc": "output",  # resnet.py:280
    },
    "resnet50": {
        "layer1.0.conv1": "relu",  # resnet.py:146-148
        "layer1.0.conv3": "relu",  # resnet.py:154-161 bn3 -> += identity -> relu
        "layer3.0.downsample.0": "relu",  # resnet.py:157-161
        "fc": "output",
    },
    "mobilenet_v3": {
        "features.0.0": "hardswish",  # mobilenetv3.py:162-168
        "features.1.block.0.0": "relu",  # depthwise conv, before the SE block (cfg "RE")
        "features.1.block.1.fc1": "relu",  # ops/misc.py:254-255
        "features.1.block.1.fc2": "hardsigmoid",  # ops/misc.py:256-257
        "features.1.block.2.0": "linear",  # project, stride 2: no residual
        "features.4.block.0.0": "hardswish",  # expand, cfg "HS"
        "features.4.block.1.0": "hardswish",  # dw conv (activation before the SE)
        "classifier.0": "hardswish",  # mobilenetv3.py:192-193
        "classifier.3": "output",
    },
    "efficientnet": {
        "features.0.0": "silu",  # efficientnet.py:272-281 stem Conv2dNormActivation(SiLU)
        "features.2.0.block.0.0": "silu",  # efficientnet.py:126-133 expand
        "features.2.0.block.2.fc1": "silu",  # efficientnet.py:151 SE activation SiLU
        "features.2.0.block.2.fc2": "sigmoid",  # ops/misc.py:257 default Sigmoid
        "features.2.1.block.3.0": "linear",  # efficientnet.py:164-168 residual -> next conv
        "classifier.1": "output",  # efficientnet.py:317
    },
    "convnext": {
        "features.1.0.block.3": "gelu",  # convnext.py CNBlock: Linear -> GELU -> Linear
        "features.3.0.block.3": "gelu",
        "classifier.2": "output",
    },
    "vit": {
        "encoder.layers.encoder_layer_0.mlp.0": "gelu",  # vision_transformer.py MLPBlock
        "encoder.layers.encoder_layer_0.self_attention": "linear",
        "heads.head": "output",
    },
    "densenet": {
        "features.conv0": "relu",  # densenet.py:170-172 conv0, norm0, relu0
        "features.denseblock1.denselayer1.conv1": "relu",  # densenet.py:90 relu2(norm2(.))
        "features.transition1.conv": "relu",  # pool -> next dense layers' norm1/relu1 (48-49)
        "features.denseblock2.denselayer3.conv2": "relu",  # cat -> norm5 -> F.relu (214)
        "classifier": "output",  # densenet.py:217
    },
    "timm_regnet": {  # timm/models/regnet.py
        "stem.conv": "relu",  # :604 ConvNormAct(act ReLU): BatchNormAct2d runs the ReLU
        "s1.b1.conv1.conv": "relu",  # :324
        "s1.b1.conv3.conv": "relu",  # :341 apply_act=False, 376-377 add -> act3 ReLU
        "s1.b1.downsample.conv": "relu",  # :230, 376-377
        "head.fc": "output",
    },
    "unet": {
        "inc.0": "relu",
        "up1.up": "linear",  # cat, then the DoubleConv conv
        "outc": "output",
    },
    "seq2seq": {
        "bridge": "tanh",
        "out": "log_softmax",
    },
    "generator": {
        "main.0": "relu",
        "main.6": "tanh",
    },
}


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_architecture_traces_the_real_activations_on_cpu_and_meta(name: str) -> None:
    torch.manual_seed(0)
    model = BUILDERS[name]()
    inputs = INPUTS[name]()
    found = _activations(model, inputs)
    assert {k: found.get(k) for k in EXPECTED[name]} == EXPECTED[name]
    with torch.device("meta"):
        meta_model = BUILDERS[name]()
    assert _activations(meta_model, _meta(inputs)) == found


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_apply_is_reproducible_and_lint_restores_the_model(name: str) -> None:
    policy = initpolicy.load(POLICIES[name])
    states = []
    for _ in range(2):
        torch.manual_seed(123)  # a different global state must not change the result
        model = BUILDERS[name]()
        model.train()
        policy.apply(model, seed=7, example_inputs=INPUTS[name]())
        states.append(_snapshot(model)[0])
        torch.manual_seed(456)
    assert _same(states[0], states[1])
    before, flags = _snapshot(model)
    result = initpolicy.lint(model, example_inputs=INPUTS[name]())
    assert result.summary["dynamic"] == "ran"
    assert result.summary["parameters"] == sum(
        1 for p in model.parameters() if p.is_floating_point()
    )
    after, flags_after = _snapshot(model)
    assert _same(before, after) and flags == flags_after


def test_densenet_concatenation_reaches_the_relu_after_the_block() -> None:
    graph = trace(_densenet())
    assert {lay.name: lay.activation for lay in graph.layers if "conv2" in lay.name} == {
        f"features.denseblock{b}.denselayer{i}.conv2": "relu" for b in (1, 2) for i in (1, 2, 3)
    }


def test_convnext_layer_scale_is_a_directly_used_parameter() -> None:
    layer = trace(_convnext()).layer("features.1.0")
    assert [p.local for p in layer.parameters] == ["layer_scale"]
    assert (layer.activation, layer.module) == ("linear", None)  # gamma * block(x) + x -> conv


def test_vit_bare_parameters_belong_to_their_owners() -> None:
    graph = trace(_vit())
    assert graph.layer("").parameters[0].name == "class_token"
    assert graph.layer("encoder").parameters[0].name == "encoder.pos_embedding"


def test_timm_norm_act_is_the_layer_of_its_parameters() -> None:
    # traced through (its forward runs the activation), BatchNormAct2d stays a layer
    graph = trace(BUILDERS["timm_regnet"]())
    bn = graph.layer("stem.bn")
    assert (bn.type, bn.activation, type(bn.module).__name__) == (
        "BatchNormAct2d",
        "relu",
        "BatchNormAct2d",
    )
    assert [p.local for p in bn.parameters] == ["weight", "bias"]
    assert graph.layer("stem.conv").resolution.normalized


# -- transformers ----------------------------------------------------------------------

HF = {c.name: c for c in hf_zoo.CASES}


@pytest.mark.parametrize("name", sorted(HF))
def test_transformers_trace_apply_lint(name: str) -> None:
    case = HF[name]
    torch.manual_seed(0)
    model = case.build()
    graph = trace(model, example_inputs=case.inputs())
    assert graph.tracer == "dynamic"
    found = {lay.name: lay.activation for lay in graph.layers}
    assert {k: found.get(k) for k in case.expected} == case.expected
    assert not [w for w in graph.warnings if "not called" in w and name != "wav2vec2"]

    policy = initpolicy.load(case.policy)
    states = []
    for _ in range(2):
        m = copy.deepcopy(model)
        policy.apply(m, seed=3, example_inputs=case.inputs())
        states.append(_snapshot(m)[0])
    assert _same(states[0], states[1])

    before, flags = _snapshot(model)
    result = initpolicy.lint(model, example_inputs=case.inputs())
    assert result.summary["dynamic"] == "ran"
    after, flags_after = _snapshot(model)
    assert _same(before, after) and flags == flags_after


@pytest.mark.parametrize(
    "name", ["gpt2", "llama", "t5", "whisper", "wav2vec2", "convnext", "mobilenetv2"]
)
def test_transformers_on_meta_trace_without_inputs(name: str) -> None:
    # Inputs are inferred: ids, decoder ids for encoder-decoders, a waveform for wav2vec2.
    case = HF[name]
    with torch.device("meta"):
        model = case.build()
    graph = trace(model)
    assert graph.tracer == "dynamic"
    found = {lay.name: lay.activation for lay in graph.layers}
    assert {k: found.get(k) for k in case.expected} == case.expected


def test_t5_shared_embedding_takes_the_uses_of_its_tied_names() -> None:
    # never called itself: its tensor's uses are the two embed_tokens (-> linear) and
    # lm_head (-> output), and output is a fallback (docs/tracing.md)
    graph = trace(HF["t5"].build(), example_inputs=HF["t5"].inputs())
    shared = graph.layer("shared")
    assert (
        shared.activation,
        shared.resolution.candidates,
        shared.depth,
        shared.resolution.called,
    ) == (
        "linear",
        (),
        0,
        True,
    )
    assert graph.layer("lm_head").activation == "output"
    assert graph.warnings == ()


def test_lint_of_a_meta_model_runs_its_own_init_part_by_part() -> None:
    """A model built on meta has no values: lint runs the model's own init one part at a
    time (docs/lint.md, models larger than memory), and with a policy judges the plan
    analytically; both say so."""
    with torch.device("meta"):
        model = HF["llama"].build()
    own = initpolicy.lint(model).summary
    assert own["streamed"]["static"].startswith("measured (the model's own init")
    assert own["dynamic"].startswith("ran (streamed part by part")
    with_policy = initpolicy.lint(model, policy="llama").summary
    assert with_policy["streamed"]["static"] == "analytic"
    assert with_policy["findings"] == 0
    assert all(p.is_meta for p in model.parameters())  # the model itself is untouched


def test_mixins_are_not_module_types() -> None:
    # Every transformers model derives from EmbeddingAccessMixin: `Embedding*` must not
    # select the model itself.
    graph = trace(HF["wav2vec2"].build(), example_inputs=HF["wav2vec2"].inputs())
    assert graph.layer("wav2vec2").types == (
        "Wav2Vec2Model",
        "Wav2Vec2PreTrainedModel",
        "PreTrainedModel",
        "Module",
    )


def test_pytorch_default_applies_to_a_tied_language_model() -> None:
    # T5's shared embedding is lm_head's weight: the built-in's later Embedding rule wins
    # over its Linear rule, says so, and the one tensor stays tied and is written once.
    model = HF["t5"].build()
    report = initpolicy.load("pytorch_default").apply(
        model, seed=0, example_inputs=HF["t5"].inputs()
    )
    entry = report["shared.weight"]
    assert entry.scheme == "default"
    assert "lm_head.weight" in entry.entry.param.aliases
    assert entry.entry.note is not None and entry.entry.note.startswith(
        "tied with lm_head.weight: built-in rules disagree and the later one wins"
    )
    assert [w.split(":")[0] for w in report.warnings] == [
        "shared.weight is tied with encoder.embed_tokens.weight, decoder.embed_tokens.weight, "
        "lm_head.weight"
    ]
    assert model.lm_head.weight is model.shared.weight
    assert "lm_head.weight" not in {e.name for e in report.entries}
    # nn.Embedding.reset_parameters draws N(0, 1)
    assert float(model.shared.weight.detach().std()) == pytest.approx(1.0, rel=0.05)
