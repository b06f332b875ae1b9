"""The tracer's per-layer facts: fans, blocks, tied tensors, wrappers, order, flags, and
that tracing never modifies the model."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.errors import TraceError
from initpolicy.tracer.fans import blocks, fans
from initpolicy.tracer.ops import class_name_activation, normalize
from initpolicy.tracer.tracing import trace
from tests.models import corpus

# -- fans and blocks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "module, local",
    [
        (nn.Linear(3, 5), "weight"),
        (nn.Conv2d(3, 8, 3), "weight"),
        (nn.Conv1d(4, 2, 5, groups=2), "weight"),
        (nn.Embedding(10, 6), "weight"),
        (nn.Bilinear(3, 4, 5), "weight"),
    ],
)
def test_default_fans_are_torchs(module: nn.Module, local: str) -> None:
    expected = nn.init._calculate_fan_in_and_fan_out(getattr(module, local))
    assert fans(module, local) == tuple(float(x) for x in expected)


@pytest.mark.parametrize(
    "module, local, expected",
    [
        (nn.ConvTranspose2d(8, 4, 3), "weight", (72.0, 36.0)),
        # each output of a grouped ConvTranspose sees in/groups channels
        (nn.ConvTranspose1d(6, 4, 5, groups=2), "weight", (15.0, 10.0)),
        (nn.ConvTranspose2d(64, 64, 4, groups=64), "weight", (16.0, 16.0)),
        (nn.Linear(3, 5), "bias", (3.0, 5.0)),
        (nn.BatchNorm2d(7), "weight", (7.0, 7.0)),
        (nn.LayerNorm(9), "bias", (9.0, 9.0)),
        (nn.LSTM(3, 5), "bias_hh_l0", (5.0, 20.0)),
        (nn.MultiheadAttention(8, 2), "in_proj_bias", (8.0, 24.0)),
        (nn.PReLU(), "weight", (1.0, 1.0)),
    ],
)
def test_fan_table_exceptions(module: nn.Module, local: str, expected: tuple[float, float]) -> None:
    assert fans(module, local) == expected


def test_transformers_conv1d_fans_are_stored_in_out() -> None:
    pytest.importorskip("transformers")
    from transformers.pytorch_utils import Conv1D

    graph = trace(corpus.gpt2())
    c_fc = graph.layer("transformer.h.0.mlp.c_fc")
    assert isinstance(c_fc.module, Conv1D)
    assert c_fc.parameters[0].shape == (32, 128)
    assert (c_fc.fan_in, c_fc.fan_out) == (32.0, 128.0)
    assert (c_fc.parameters[1].fan_in, c_fc.parameters[1].fan_out) == (32.0, 128.0)


@pytest.mark.parametrize(
    "module, local, block, expected",
    [
        (nn.LSTM(3, 5), "weight_ih_l0", "forget", (5, 10, 3.0, 5.0)),
        (nn.LSTM(3, 5), "weight_hh_l0", "output", (15, 20, 5.0, 5.0)),
        (nn.LSTM(3, 5), "bias_ih_l0", "cell", (10, 15, 3.0, 5.0)),
        (nn.LSTM(3, 5, bidirectional=True), "weight_ih_l0_reverse", "input", (0, 5, 3.0, 5.0)),
        (nn.GRU(4, 6), "weight_ih_l0", "new", (12, 18, 4.0, 6.0)),
        (nn.LSTMCell(3, 5), "weight_hh", "forget", (5, 10, 5.0, 5.0)),
        (nn.MultiheadAttention(8, 2), "in_proj_weight", "v", (16, 24, 8.0, 8.0)),
        (nn.MultiheadAttention(8, 2), "in_proj_bias", "k", (8, 16, 8.0, 8.0)),
    ],
)
def test_blocks_have_their_own_fans(
    module: nn.Module, local: str, block: str, expected: tuple[int, int, float, float]
) -> None:
    b = blocks(module, local)[block]
    assert (b.start, b.stop, b.fan_in, b.fan_out) == expected


def test_ordinary_tensors_have_no_blocks() -> None:
    assert blocks(nn.Linear(3, 4), "weight") == {}
    assert blocks(nn.MultiheadAttention(8, 2), "out_proj.weight") == {}


class _UserLSTM(nn.LSTM):
    pass


class LSTM(nn.Module):  # a third-party class that only shares torch's name
    def __init__(self) -> None:
        super().__init__()
        self.weight_ih = nn.Parameter(torch.ones(8, 2))


def test_blocks_follow_torchs_class_not_the_name() -> None:
    assert list(blocks(_UserLSTM(3, 5), "weight_ih_l0")) == ["input", "forget", "cell", "output"]
    assert blocks(LSTM(), "weight_ih") == {}


def test_traced_lstm_parameters_carry_blocks() -> None:
    graph = trace(corpus.LSTMClassifier())
    weight = next(p for p in graph.layer("lstm").parameters if p.local == "weight_ih_l0")
    assert list(weight.blocks) == ["input", "forget", "cell", "output"]
    assert (weight.fan_in, weight.fan_out) == (6.0, 20.0)


# -- names: tied tensors, wrappers --------------------------------------------------------


def test_tied_parameter_is_listed_once_with_its_alias() -> None:
    graph = trace(corpus.TiedLM())
    emb_weight = graph.layer("emb").parameters[0]
    assert (emb_weight.name, emb_weight.aliases) == ("emb.weight", ("head.weight",))
    head = graph.layer("head")
    assert head.parameters == ()
    assert head.ownership.tied == {"weight": "emb.weight"}
    assert (head.fan_in, head.fan_out) == (6.0, 10.0)
    names = [p.name for _lay, p in graph.parameters()]
    assert names == ["emb.weight", "fc.weight", "fc.bias"]


def test_gpt2_lm_head_is_tied_to_wte() -> None:
    pytest.importorskip("transformers")
    graph = trace(corpus.gpt2())
    assert graph.layer("lm_head").ownership.tied == {"weight": "transformer.wte.weight"}
    assert graph.layer("transformer.wte").parameters[0].aliases == ("lm_head.weight",)


def test_data_parallel_prefix_is_stripped() -> None:
    graph = trace(corpus.data_parallel())
    p = graph.layer("0").parameters[0]
    assert (p.name, p.raw_name) == ("0.weight", "module.0.weight")


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_compiled_model_is_unwrapped_without_compiling() -> None:
    compiled = torch.compile(corpus.mlp())
    graph = trace(compiled)
    p = graph.layer("2").parameters[1]
    assert (p.name, p.raw_name) == ("2.bias", "_orig_mod.2.bias")
    assert graph.model is compiled


def test_directly_used_parameters_are_layers_of_their_owner() -> None:
    graph = trace(corpus.DirectParams(), example_inputs=torch.randn(1, 4))
    root = graph.layer("")
    assert (root.type, root.module, [p.name for p in root.parameters]) == (
        "DirectParams",
        None,
        ["w_in"],
    )
    assert graph.layer("inner").activation == "tanh"


# -- order and flags ----------------------------------------------------------------------


def test_previous_residual_and_normalized() -> None:
    graph = trace(corpus.ResNetTiny())
    conv2 = graph.layer("block.conv2")
    assert (conv2.resolution.previous, conv2.resolution.previous_type) == (
        "block.bn1",
        "BatchNorm2d",
    )
    assert (conv2.resolution.residual, conv2.resolution.normalized) == (True, True)
    stem = graph.layer("stem")
    assert (stem.resolution.previous, stem.resolution.residual, stem.resolution.normalized) == (
        None,
        False,
        True,
    )
    assert graph.layer("down.downsample.0").resolution.previous == "block.bn2"
    assert graph.layer("fc").resolution.normalized is False


def test_types_and_ancestors() -> None:
    graph = trace(corpus.TorchEncoder())
    out_proj = graph.layer("layer.self_attn.out_proj")
    assert out_proj.types[:2] == ("NonDynamicallyQuantizableLinear", "Linear")
    assert out_proj.ancestors[0] == ("", ("TorchEncoder", "Module"))
    assert out_proj.ancestors[1] == ("layer", ("TransformerEncoderLayer", "Module"))
    assert out_proj.ancestors[2][0] == "layer.self_attn"


def test_buffers_and_buffer_only_layers() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, affine=False), nn.ReLU())
    graph = trace(model)
    assert [b.name for b in graph.buffer_layers[0].buffers] == [
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]
    assert graph.buffer_layers[0].buffers[0].kind == "buffer"
    assert [lay.name for lay in graph.layers] == ["0"]
    assert (graph.layers[0].activation, graph.layers[0].resolution.normalized) == ("relu", True)


def test_source_points_at_the_assignment() -> None:
    graph = trace(corpus.MLPForms())
    path, line = graph.layer("fc2").source.rsplit(":", 1)
    assert path.endswith("corpus.py")
    with open(path) as f:
        assert "self.fc2 = nn.Linear(8, 8)" in f.readlines()[int(line) - 1]


def test_unused_layer_is_reported() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.spare = nn.Linear(3, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.relu(self.fc(x))

    graph = trace(Net())
    spare = graph.layer("spare")
    assert (spare.activation, spare.resolution.called, graph.layer("fc").resolution.called) == (
        "linear",
        False,
        True,
    )
    assert list(graph.warnings) == [
        "not called by the traced forward (activation taken as linear): spare; to trace them, "
        "give inputs that reach them: define example_inputs() next to the model, or pass "
        "example_inputs=..."
    ]


class _Tower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(3, 3)
        self.b = nn.Linear(3, 3)


def test_not_called_layers_are_named_by_the_outermost_module_none_of_whose_layers_ran() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(3, 3)
            self.tower = _Tower()  # no input of ours reaches it
            self.mask = nn.Parameter(torch.zeros(3))  # the model's own, unused

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x)

    graph = trace(Net())
    assert [(lay.name, lay.resolution.called) for lay in graph.layers] == [
        ("fc", True),
        ("", False),
        ("tower.a", False),
        ("tower.b", False),
    ]
    assert graph.warnings[0].startswith(
        "not called by the traced forward (activation taken as linear): mask, tower (2 layers);"
    )


class _RMSNorm(nn.Module):
    """A third-party norm (transformers' LlamaRMSNorm): traced through, still a norm."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6))


def test_a_third_party_norm_traced_through_is_the_layer_of_its_weight_and_normalizes() -> None:
    model = nn.Sequential(nn.Linear(4, 8), _RMSNorm(8), nn.SiLU(), nn.Linear(8, 2))
    graph = trace(model)
    fc, norm = graph.layer("0"), graph.layer("1")
    assert (fc.activation, fc.resolution.normalized) == ("silu", True)
    assert (norm.type, norm.activation, norm.module) == ("_RMSNorm", "silu", model[1])


def _attend(x: torch.Tensor, w_qkv: torch.Tensor, w_out: torch.Tensor) -> torch.Tensor:
    q, k, v = torch.nn.functional.linear(x, w_qkv).chunk(3, dim=-1)
    return torch.nn.functional.linear(torch.softmax(q @ k.mT, -1) @ v, w_out)


torch.fx.wrap("_attend")


class _WrappedAttention(nn.Module):
    """torchvision's Swin calls ``shifted_window_attention(x, qkv.weight, proj.weight)``,
    wrapped with torch.fx.wrap: one opaque call in the symbolic graph."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4)
        self.qkv = nn.Linear(4, 12)
        self.proj = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(_attend(self.norm(x), self.qkv.weight, self.proj.weight)))


def test_a_wrapped_function_taking_a_weight_is_a_mixing_op() -> None:
    graph = trace(_WrappedAttention())
    assert graph.tracer == "fx"
    found = {lay.name: lay.activation for lay in graph.layers}
    # not relu: the call mixes its input with the weights it takes
    assert found == {"norm": "linear", "qkv": "linear", "proj": "linear", "head": "output"}


# -- how the graph is obtained ------------------------------------------------------------


def test_data_dependent_control_flow_says_so() -> None:
    graph = trace(corpus.DataDependent())
    assert graph.tracer == "dynamic"
    assert len(graph.warnings) == 1
    assert "only the branches this input takes are traced" in graph.warnings[0]
    assert "(1, 4) float32" in graph.warnings[0]


def test_meta_model_traces_without_materializing() -> None:
    pytest.importorskip("transformers")
    model = corpus.gpt2(meta=True)
    graph = trace(model)
    assert graph.tracer == "dynamic"
    assert all(p.is_meta for p in model.parameters())
    assert graph.layer("transformer.h.1.mlp.c_fc").activation == "gelu"


# (the meta device's conditions on values: tests/test_trace_inputs.py)


class _NeedsTargets(nn.Module):
    """A detector: in training mode its forward wants targets."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor, targets: Any = None) -> torch.Tensor:
        if self.training and targets is None:
            raise ValueError("targets should not be none when in training mode")
        return torch.relu(self.fc(x))


def test_a_model_that_cannot_run_in_training_mode_is_traced_in_eval_mode_with_a_warning() -> None:
    model = _NeedsTargets().train()
    graph = trace(model, tracer="dynamic")
    assert (graph.tracer, graph.layer("fc").activation, model.training) == ("dynamic", "relu", True)
    assert graph.warnings[0] == (
        "traced in eval mode: the model does not run in training mode on (1, 4) float32 "
        "(ValueError: targets should not be none when in training mode); what runs only in "
        "training is not traced"
    )


def test_modules_tracer_guesses_from_registration_order() -> None:
    graph = trace(corpus.conv_bn_relu(), tracer="modules")
    assert [(lay.name, lay.activation) for lay in graph.layers] == [
        ("0", "relu"),
        ("1", "relu"),
        ("5", "output"),
    ]
    assert graph.layers[1].resolution.previous == "0"


def test_rejected_input_names_the_shape_and_how_to_give_one() -> None:
    with pytest.raises(TraceError) as err:
        trace(corpus.DataDependent(), example_inputs=torch.randn(2, 7))
    message = str(err.value)
    assert "the model rejected the example input (2, 7) float32: RuntimeError:" in message
    assert "--input-shape" in message


def test_inferred_input_ladder_for_convnets() -> None:
    # 32x32 is too small for three stride-2 7x7 convolutions without padding; 64 works.
    model = nn.Sequential(*[nn.Conv2d(3, 3, 7, stride=2) for _ in range(3)], nn.ReLU())
    graph = trace(model, tracer="dynamic")
    assert [lay.activation for lay in graph.layers] == ["linear", "linear", "relu"]


def test_lazy_modules_are_materialized_by_the_example_forward() -> None:
    model = nn.Sequential(nn.LazyLinear(4), nn.ReLU(), nn.Linear(4, 2))
    graph = trace(model, example_inputs=torch.randn(1, 3))
    assert graph.layer("0").parameters[0].shape == (4, 3)
    assert graph.layer("0").activation == "relu"
    assert list(graph.warnings) == [
        "materialized lazy parameters of 0 by a forward pass on (1, 3) float32"
    ]


def test_lazy_modules_without_inputs_are_a_clear_error() -> None:
    with pytest.raises(TraceError, match=r"^0: uninitialized \(lazy\) parameters"):
        trace(nn.Sequential(nn.LazyLinear(4), nn.ReLU()))


def test_not_a_module() -> None:
    with pytest.raises(TraceError, match=r"expected a torch\.nn\.Module to trace, got int"):
        trace(3)


# -- tracing never modifies the model -----------------------------------------------------


class _Stateful(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.bn = nn.BatchNorm1d(4)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(4, 2)
        self.register_buffer("calls", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.add_(1)  # a forward that mutates a buffer: restored after tracing
        h = self.drop(torch.relu(self.bn(self.fc(x))))
        if h.sum() > -1e9:  # data-dependent: forces a real forward
            h = h * 2
        return self.out(h)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("tracer", [None, "dynamic", "fx"])
def test_tracing_never_modifies_the_model(train: bool, tracer: str | None) -> None:
    model = _Stateful().train(train)
    model.bn.running_mean.fill_(0.5)
    model.fc.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    inputs = torch.randn(3, 4)
    rng = torch.get_rng_state()
    if tracer == "fx":
        with pytest.raises(TraceError, match=r"torch\.fx cannot trace the model"):
            trace(model, tracer="fx")
    else:
        trace(model, tracer=tracer, example_inputs=inputs)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [m.training for m in model.modules()] == [train] * 5
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [False, True, True, True, True, True]
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# -- the activation table -----------------------------------------------------------------


@pytest.mark.parametrize(
    "class_name, expected",
    [
        ("GELUActivation", ("gelu", {"approximate": "none"})),
        ("NewGELUActivation", ("gelu", {"approximate": "tanh"})),
        ("GELUTanh", ("gelu", {"approximate": "tanh"})),
        ("SiLUActivation", ("silu", {})),
        ("Swish", ("silu", {})),
        ("HardSwish", ("hardswish", {})),
        ("MishActivation", ("mish", {})),
        ("LeakyReLUAct", ("leaky_relu", {})),
        ("ReLUSquaredActivation", ("relu", {})),
        ("QuickGELUActivation", ("gelu", {"approximate": "none"})),
        ("LinearActivation", None),
        ("LaplaceActivation", None),
    ],
)
def test_third_party_class_name_rule(class_name: str, expected: object) -> None:
    assert class_name_activation(class_name) == expected


def test_transformers_activation_modules_are_recognized() -> None:
    pytest.importorskip("transformers")
    from transformers.activations import ACT2FN

    from initpolicy.tracer.ops import module_activation

    found = {k: module_activation(ACT2FN[k]) for k in ("gelu", "gelu_new", "silu", "relu", "tanh")}
    assert {k: v[0] for k, v in found.items() if v} == {
        "gelu": "gelu",
        "gelu_new": "gelu",
        "silu": "silu",
        "relu": "relu",
        "tanh": "tanh",
    }


@pytest.mark.parametrize(
    "spelling, expected",
    [("__radd__", "add"), ("__iadd__", "add"), ("relu_", "relu"), ("__matmul__", "matmul")],
)
def test_op_spellings_normalize(spelling: str, expected: str) -> None:
    assert normalize(spelling) == expected


def test_json_contract() -> None:
    data = json.loads(json.dumps(trace(corpus.conv_bn_relu(), target="m.py").to_json()))
    assert set(data) >= {"target", "tracer", "layers"}
    assert (data["target"], data["tracer"]) == ("m.py", "fx")
    first = data["layers"][0]
    assert set(first) >= {
        "name",
        "type",
        "activation",
        "candidates",
        "fan_in",
        "fan_out",
        "parameters",
    }
    assert first["parameters"] == [
        {"name": "0.weight", "shape": [8, 3, 3, 3], "fan_in": 27.0, "fan_out": 72.0}
    ]


def test_json_carries_the_activation_arguments_and_the_warnings() -> None:
    net = nn.Sequential(nn.Linear(4, 4), nn.LeakyReLU(0.2), nn.Linear(4, 4), nn.GELU("tanh"))
    data = json.loads(json.dumps(trace(net).to_json()))
    assert [lay["activation_args"] for lay in data["layers"]] == [
        {"negative_slope": 0.2},
        {"approximate": "tanh"},
    ]
    assert data["warnings"] == []


class _Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(x)) if x.sum() > 0 else self.fc(x)


def test_json_carries_the_trace_warnings() -> None:
    data = json.loads(json.dumps(trace(_Branchy()).to_json()))
    assert data["tracer"] == "dynamic"
    assert [w.split(" (")[0] for w in data["warnings"]] == [
        "torch.fx cannot trace this model symbolically"
    ]


class _RenormalizesItsWeight(nn.Module):
    """A forward that writes its own parameter in place (weight renormalization)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.fc.weight.div_(self.fc.weight.norm())
        return torch.relu(self.fc(x)) if x.sum() > 0 else self.fc(x)


def test_trace_and_lint_give_back_a_parameter_the_forward_wrote_in_place() -> None:
    model = _RenormalizesItsWeight()
    before = model.fc.weight.detach().clone()
    trace(model)
    assert torch.equal(model.fc.weight, before)
    initpolicy.lint(model)
    assert torch.equal(model.fc.weight, before)


def test_graph_facts_are_immutable_and_grouped_by_the_pass_that_found_them() -> None:
    import dataclasses

    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.ReLU(), nn.Linear(8, 2))
    graph = trace(model)
    fc = graph.layer("0")
    assert (fc.activation, fc.resolution.normalized, fc.roles.renormalized) == ("relu", True, True)
    assert fc.ownership.reset == "reset_parameters"
    for obj, name in [
        (fc, "depth"),
        (fc.resolution, "activation"),
        (fc.roles, "to_output"),
        (fc.ownership, "reset"),
        (fc.parameters[0], "fan_in"),
        (graph, "layers"),
    ]:
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, name, None)
    assert isinstance(graph.layers, tuple) and isinstance(fc.parameters, tuple)
