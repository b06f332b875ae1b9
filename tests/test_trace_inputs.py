"""Inputs the tracer makes itself (by name, from transformers' dummy_inputs and configs),
the meta device's unknown conditions, and parametrized weights as layers."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import transformers
from torch import nn

import initpolicy
from initpolicy.errors import TraceError
from initpolicy.tracer.inputs import describe, infer, missing_inputs, named_calls
from initpolicy.tracer.tracing import trace
from tests.models import corpus

# -- inputs by name, without transformers ------------------------------------------------


class TwoTowers(nn.Module):
    """A text tower and an image tower, both inputs required, no config."""

    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(10, 4)
        self.img = nn.Conv2d(1, 4, 3)
        self.head = nn.Linear(4, 2)

    def forward(self, input_ids: torch.Tensor, pixel_values: torch.Tensor) -> torch.Tensor:
        text = torch.tanh(self.tok(input_ids).mean(1))
        image = torch.relu(self.img(pixel_values)).mean((2, 3))
        return self.head(text * image)


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_named_inputs_take_sizes_from_the_first_layers(device: str) -> None:
    with torch.device(device):
        model = TwoTowers()
    (call,) = named_calls(model, torch.device(device))
    assert describe(*call) == "input_ids=(1, 8) int64, pixel_values=(1, 1, 32, 32) float32"
    assert {t.device.type for t in call[1].values()} == {device}
    if device == "cpu":
        assert call[1]["input_ids"].tolist() == [list(range(8))]  # below the vocabulary, 10
    graph = trace(model, tracer="dynamic")
    assert {lay.name: lay.activation for lay in graph.layers} == {
        "tok": "tanh",
        "img": "relu",
        "head": "output",
    }


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.fc(x * keep)


def test_an_input_nothing_can_infer_is_named_in_the_error() -> None:
    assert missing_inputs(Masked()) == ["keep"]
    with pytest.raises(TraceError) as err:
        trace(Masked(), tracer="dynamic")
    message = str(err.value)
    assert message.startswith(
        "the model rejected the example input (1, 4) float32: TypeError: "
        "Masked.forward() missing 1 required positional argument: 'keep'"
    )
    assert message.endswith(
        "forward needs 2 inputs (x, keep): give one --input-shape per input, in order (with "
        "--input-dtype for each), or define example_inputs() next to the model returning a "
        "tuple or a dict of them; keep cannot be inferred from the model"
    )


# -- the input size a model declares; several images -----------------------------------


def _timm(name: str) -> nn.Module:
    return pytest.importorskip("timm").create_model(name)


def _torchvision(name: str) -> nn.Module:
    return pytest.importorskip("torchvision.models").get_model(name)


@pytest.mark.parametrize(
    ("build", "name", "first"),
    [
        # timm's pretrained_cfg input_size (a fixed-size window model; a first Linear)
        (_timm, "maxvit_pico_rw_256", "(2, 3, 256, 256)"),
        (_timm, "gemma4_vit_167m", "(1, 3, 768, 768)"),
        # torchvision's documented crop for the class (its aux head wants 299 in training)
        (_torchvision, "inception_v3", "(2, 3, 299, 299)"),
        # the model's own image_size attribute
        (_torchvision, "vit_b_16", "(1, 3, 224, 224)"),
    ],
)
def test_the_declared_image_size_comes_before_the_first_layers(
    build: Callable[[str], nn.Module], name: str, first: str
) -> None:
    with torch.device("meta"):
        model = build(name)
    assert describe(*infer(model)[0]) == f"{first} float32"  # batch 2 with a BatchNorm


def test_numbered_inputs_each_get_an_input() -> None:
    with torch.device("meta"):
        raft = _torchvision("raft_small")  # forward(image1, image2)
    assert describe(*infer(raft)[0]) == "(1, 3, 32, 32) float32, (1, 3, 32, 32) float32"


def test_batchnorm_models_get_two_examples() -> None:
    # in training mode BatchNorm1d rejects one value per channel
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))
    assert describe(*infer(model)[0]) == "(2, 4) float32"


# -- transformers: dummy_inputs, main_input_name and the config --------------------------

pytest.importorskip("transformers")
from tests.models import hf_zoo  # noqa: E402

HF = {c.name: c for c in hf_zoo.CASES}


@pytest.mark.parametrize(
    ("name", "first"),
    [
        # dummy_inputs (batch cut to 1) completed by the config's vision tower
        ("clip", "input_ids=(1, 5) int64, pixel_values=(1, 3, 32, 32) float32"),
        # dummy_inputs' attention_mask is optional: left out
        ("bart", "input_ids=(1, 5) int64, decoder_input_ids=(1, 4) int64"),
        ("t5", "decoder_input_ids=(1, 5) int64, input_ids=(1, 5) int64"),
        # the generic dummy (input_ids) is not an input of these: config sizes instead
        ("whisper", "input_features=(1, 8, 32) float32, decoder_input_ids=(1, 4) int64"),
        ("wav2vec2", "input_values=(1, 170) float32"),  # 16 frames through kernels 10, 3
        ("vit", "pixel_values=(1, 3, 32, 32) float32"),
        ("convnext", "pixel_values=(1, 3, 224, 224) float32"),  # its config's image_size
        ("gpt2", "input_ids=(1, 5) int64"),
    ],
)
@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_first_inferred_call_of_transformers_models(name: str, first: str, device: str) -> None:
    with torch.device(device):
        model = HF[name].build()
    calls = infer(model)
    assert describe(*calls[0]) == first
    assert {t.device.type for t in calls[0][1].values()} == {device}


@pytest.mark.parametrize("name", ["clip", "bart", "t5", "whisper", "wav2vec2", "vit", "gpt2"])
def test_multi_input_models_trace_on_cpu_without_inputs(name: str) -> None:
    case = HF[name]
    torch.manual_seed(0)
    model = case.build()
    graph = trace(model)
    assert graph.tracer == "dynamic"
    found = {lay.name: lay.activation for lay in graph.layers}
    assert {k: found.get(k) for k in case.expected} == case.expected
    given = trace(model, example_inputs=case.inputs())
    assert found == {lay.name: lay.activation for lay in given.layers}


@pytest.mark.parametrize("name", sorted(HF))
def test_every_transformers_model_traces_on_meta_without_inputs(name: str) -> None:
    case = HF[name]
    with torch.device("meta"):
        model = case.build()
    devices = [p.device for p in model.parameters()]
    graph = trace(model)
    assert graph.tracer == "dynamic"
    found = {lay.name: lay.activation for lay in graph.layers}
    assert {k: found.get(k) for k in case.expected} == case.expected
    assert [p.device for p in model.parameters()] == devices


@pytest.mark.parametrize(
    ("name", "first", "placeholders"),
    [
        # (32 / 8)^2 = 16 patch features (CLS dropped): 16 image tokens and 8 ordinary ones
        ("llava", "input_ids=(1, 24) int64, pixel_values=(1, 3, 32, 32) float32", 16),
        ("paligemma", "input_ids=(1, 24) int64, pixel_values=(1, 3, 32, 32) float32", 16),
        # grid (1, 4, 4) of 8x8x2 patches, merged 2x2: 4 features
        (
            "qwen2_vl",
            "input_ids=(1, 12) int64, pixel_values=(16, 384) float32, "
            "image_grid_thw=(1, 3) int64, mm_token_type_ids=(1, 12) int64",
            4,
        ),
    ],
)
def test_vision_language_models_get_a_placeholder_per_image_feature(
    name: str, first: str, placeholders: int
) -> None:
    from tests.zoo import transformers_models

    model = transformers_models.MODELS[name]()
    args, kwargs = infer(model)[0]
    assert describe(args, kwargs) == first
    assert int((kwargs["input_ids"] == model.config.image_token_id).sum()) == placeholders
    assert trace(model).warnings == ()  # no layer left unreached


def test_clip_lints_without_inputs() -> None:
    result = initpolicy.lint(HF["clip"].build())
    assert result.summary["dynamic"] == "ran"


# -- the meta device: conditions on values ----------------------------------------------


def test_bart_on_meta_traces_like_on_cpu_with_its_mask_condition_named() -> None:
    torch.manual_seed(0)
    cpu = trace(HF["bart"].build())
    with torch.device("meta"):
        meta = trace(HF["bart"].build())
    assert meta.tracer == "dynamic"
    assert [(lay.name, lay.activation) for lay in meta.layers] == [
        (lay.name, lay.activation) for lay in cpu.layers
    ]
    assert cpu.warnings == ()
    # The warning names the line of the condition, in transformers' shared masking helper,
    # and the model file that called it; the numbers are transformers' business, so the
    # test reads those lines instead of hard-coding them.
    (warning,) = meta.warnings
    found = re.fullmatch(
        r"on the meta device tensors have no values: 1 condition\(s\) on tensor values were "
        r"taken as true \((transformers/masking_utils\.py):(\d+) \(from (bart/\w+\.py):(\d+)\)\); "
        r"the branches traced are those",
        warning,
    )
    assert found, warning
    root = Path(transformers.__file__).parent
    lines = (root.parent / found.group(1)).read_text(encoding="utf-8").splitlines()
    condition = lines[int(found.group(2)) - 1]
    assert re.search(r"\bif\b", condition), condition
    lines = (root / "models" / found.group(3)).read_text(encoding="utf-8").splitlines()
    call = lines[int(found.group(4)) - 1]
    assert "mask" in call, call


def test_meta_condition_is_taken_as_true_and_located() -> None:
    with torch.device("meta"):
        model = corpus.DataDependent()
    graph = trace(model)
    assert graph.tracer == "dynamic"
    assert [lay.activation for lay in graph.layers] == ["relu", "output"]  # the true branch
    assert "only the branches this input takes are traced" in graph.warnings[0]
    assert re.fullmatch(
        r"on the meta device tensors have no values: 1 condition\(s\) on tensor values were "
        r"taken as true \(models/corpus\.py:\d+\); the branches traced are those",
        graph.warnings[1],
    )


def test_a_membership_query_on_meta_is_taken_as_true_and_located() -> None:
    # deberta, deberta_v2 and convbert ask ``pad_token_id in input_ids[:, [-1, 0]]``: the
    # .item() torch calls inside __contains__ failed the trace, so their meta copies were
    # traced by the modules tracer (issue 23)
    with torch.device("meta"):
        model = corpus.PaddingCheck()
    graph = trace(model, example_inputs=torch.zeros(2, 4))
    assert graph.tracer == "dynamic"
    assert [lay.activation for lay in graph.layers] == ["relu", "output"]  # the true branch
    assert re.fullmatch(
        r"on the meta device tensors have no values: 1 condition\(s\) on tensor values were "
        r"taken as true \(models/corpus\.py:\d+\); the branches traced are those",
        graph.warnings[-1],
    )


def test_a_size_read_from_values_on_meta_falls_back_to_modules() -> None:
    assert trace(corpus.DataDependentSize()).tracer == "dynamic"  # runs for real on the CPU
    with torch.device("meta"):
        model = corpus.DataDependentSize()
    graph = trace(model)
    assert graph.tracer == "modules"
    assert graph.warnings[0].startswith(
        "the model could not run on the meta device with input (1, 4) float32 "
        "(RuntimeError: Tensor.item() cannot be called on meta tensors)"
    )
    assert "guesses" in graph.warnings[1]


# -- parametrized weights ----------------------------------------------------------------


@pytest.mark.parametrize("tracer", ["fx", "dynamic"])
def test_a_parametrized_module_is_a_layer_with_its_weights_fans(tracer: str) -> None:
    graph = trace(corpus.Parametrized(), tracer=tracer, example_inputs=torch.randn(1, 4))
    rows = {
        lay.name: (lay.fan_in, lay.fan_out, [p.local for p in lay.parameters])
        for lay in graph.layers
    }
    assert rows == {
        "sn": (4.0, 8.0, []),
        "sn.parametrizations.weight": (4.0, 8.0, ["original"]),
        "wn": (8.0, 6.0, []),
        "wn.parametrizations.weight": (8.0, 6.0, ["original0", "original1"]),
        # ConvTranspose1d(6, 3, 2) stores (6, 3, 2): fan_in 6 x 2, fan_out 3 x 2
        "up": (12.0, 6.0, []),
        "up.parametrizations.weight": (12.0, 6.0, ["original0", "original1"]),
        "out": (3.0, 2.0, ["bias"]),
        "out.parametrizations.weight": (3.0, 2.0, ["original0", "original1"]),
    }
    assert graph.layer("wn").resolution.previous == "sn"


def test_before_rules_reach_a_parametrized_weight_without_own_parameters() -> None:
    model = corpus.Parametrized()
    policy = initpolicy.load(
        "Linear -> orthogonal()\n"
        "Linear before relu -> kaiming_normal(fan_in)\n"
        "Linear before tanh -> xavier_normal(gain=gain)\n"
        "ConvTranspose1d before silu -> kaiming_uniform(fan_out)\n"
        "bias -> zeros()"
    )
    report = policy.apply(model, seed=0)
    assert report.unmatched == []
    rows = {
        name: (report[name].scheme, report[name].entry.param.parametrization)
        for name in ("sn.weight", "wn.weight", "up.weight", "out.weight")
    }
    assert rows == {
        "sn.weight": ("kaiming_normal", "spectral_norm"),
        "wn.weight": ("xavier_normal", "weight_norm"),
        "up.weight": ("kaiming_uniform", "weight_norm"),
        "out.weight": ("orthogonal", "weight_norm"),
    }
    assert report["sn.weight"].std == pytest.approx(math.sqrt(2 / 4))
    assert report["wn.weight"].std == pytest.approx(5 / 3 * math.sqrt(2 / 14))


class RaisesItself(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise ValueError("labels are required")  # the model's own raise


class TorchRejects(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.reshape(-1, 3))  # torch rejects the shape, here


def _line_of(cls: type, text: str) -> int:
    import inspect

    lines, start = inspect.getsourcelines(cls)
    return start + next(i for i, line in enumerate(lines) if text in line)


def test_an_exception_the_forward_raises_is_located_without_an_input_hint() -> None:
    with pytest.raises(TraceError) as err:
        trace(RaisesItself(), tracer="dynamic")
    message = str(err.value)
    line = _line_of(RaisesItself, "raise ValueError")
    assert re.match(rf".*test_trace_inputs\.py:{line}: the model's forward raised", message)
    assert message.endswith("ValueError: labels are required")
    assert "hint" not in message


def test_an_input_torch_rejects_is_located_at_the_models_call_and_keeps_the_hint() -> None:
    with pytest.raises(TraceError) as err:
        trace(TorchRejects(), tracer="dynamic")
    message = str(err.value)
    line = _line_of(TorchRejects, "x.reshape(-1, 3)")
    assert re.match(
        rf".*test_trace_inputs\.py:{line}: the model rejected the example input", message
    )
    assert "hint: give the input shape" in message
