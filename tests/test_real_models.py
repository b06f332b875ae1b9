"""Real architectures end to end: torchvision/timm-style re-implementations (tests/models/
zoo.py) and transformers models from tiny configs (tests/models/hf_zoo.py).

Per model: trace finds the activation that really follows its key layers (read off the
architecture), on the CPU and on the meta device; a built-in policy applies reproducibly;
lint runs its dynamic checks and leaves the model exactly as it was.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

import initpolicy
from initpolicy.errors import UsageError
from initpolicy.tracer.tracing import trace
from tests.models import zoo

pytest.importorskip("transformers")
from tests.models import hf_zoo


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


# -- the zoo ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_zoo_traces_the_real_activations_on_cpu_and_meta(name: str) -> None:
    torch.manual_seed(0)
    model = zoo.BUILDERS[name]()
    inputs = zoo.INPUTS[name]()
    found = _activations(model, inputs)
    assert {k: found.get(k) for k in zoo.EXPECTED[name]} == zoo.EXPECTED[name]
    with torch.device("meta"):
        meta_model = zoo.BUILDERS[name]()
    assert _activations(meta_model, _meta(inputs)) == found


@pytest.mark.parametrize("name", sorted(zoo.BUILDERS))
def test_zoo_apply_is_reproducible_and_lint_restores_the_model(name: str) -> None:
    policy = initpolicy.load(zoo.POLICIES[name])
    states = []
    for _ in range(2):
        torch.manual_seed(123)  # a different global state must not change the result
        model = zoo.BUILDERS[name]()
        model.train()
        policy.apply(model, seed=7, example_inputs=zoo.INPUTS[name]())
        states.append(_snapshot(model)[0])
        torch.manual_seed(456)
    assert _same(states[0], states[1])
    before, flags = _snapshot(model)
    result = initpolicy.lint(model, example_inputs=zoo.INPUTS[name]())
    assert result.summary["dynamic"] == "ran"
    assert result.summary["parameters"] == sum(
        1 for p in model.parameters() if p.is_floating_point()
    )
    after, flags_after = _snapshot(model)
    assert _same(before, after) and flags == flags_after


def test_densenet_concatenation_reaches_the_relu_after_the_block() -> None:
    graph = trace(zoo.DenseNet())
    assert {lay.name: lay.activation for lay in graph.layers if "conv2" in lay.name} == {
        "features.denseblock1.denselayer1.conv2": "relu",
        "features.denseblock1.denselayer2.conv2": "relu",
        "features.denseblock1.denselayer3.conv2": "relu",
    }


def test_convnext_layer_scale_is_a_directly_used_parameter() -> None:
    layer = trace(zoo.ConvNeXt()).layer("features.1.0")
    assert [p.local for p in layer.parameters] == ["layer_scale"]
    assert layer.activation == "linear"  # gamma * block(x) + x, then the next block's conv


def test_vit_bare_parameters_belong_to_their_owners() -> None:
    graph = trace(zoo.VisionTransformer())
    assert graph.layer("").parameters[0].name == "class_token"
    assert graph.layer("encoder").parameters[0].name == "encoder.pos_embedding"


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
    assert (shared.activation, shared.candidates, shared.depth, shared.called) == (
        "linear",
        (),
        0,
        True,
    )
    assert graph.layer("lm_head").activation == "output"
    assert graph.warnings == []


def test_lint_of_a_meta_model_says_there_is_nothing_to_lint() -> None:
    with torch.device("meta"):
        model = HF["llama"].build()
    with pytest.raises(UsageError, match="the model is on the meta device"):
        initpolicy.lint(model)
    assert initpolicy.lint(model, policy="llama").summary["dynamic"] == "ran"


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
