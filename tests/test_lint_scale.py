"""Lint at scale (docs/lint.md, "Models larger than memory"): the analytic static pass gives
the findings of the sampled one, the streamed dynamic pass the numbers of the whole one,
a meta model is linted by its own init part by part, and the memory budget decides which
path runs (never a parameter count)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.applier.partial import Parts
from initpolicy.errors import UsageError
from initpolicy.linter.memory_budget import budget, parse_memory, tensor_bytes
from initpolicy.linter.stream import partition, sample

transformers = pytest.importorskip("transformers")

DOWN_PROJ_STD_1 = 'use llama\nLinear named "*down_proj" -> normal(0, 1.0)\n'


def llama(layers: int = 4, meta: bool = True, **kw: Any) -> Any:
    cfg = transformers.LlamaConfig(
        vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
        num_attention_heads=4, num_key_value_heads=2, **kw,
    )  # fmt: skip
    if meta:
        with torch.device("meta"):
            return transformers.LlamaForCausalLM(cfg)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg)


def found(result: Any, kinds: Sequence[str] = ("IP1", "IP3")) -> list[tuple[str, str, str]]:
    return sorted(
        (f.code, f.target, f.severity) for f in result.all_findings if f.code.startswith(kinds)
    )


def mlp(depth: int = 6) -> nn.Module:
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(32, 32), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(32, 4))


# -- the analytic static pass: the sampled pass's findings, from the plan alone ------------

POLICIES = [
    "relu_net",
    "tanh_net",
    "llama",
    "Linear -> xavier_uniform()\nbias -> constant(0.5)\n",
    "Linear -> normal(0, 1.0)\n",
    "Linear -> normal(0, 1e-4)\nbias -> zeros()\n",
    "Linear -> uniform(-0.001, 0.001)\n",
    "Linear -> constant(0.1)\n",
    "Linear -> trunc_normal(0, 0.02, -2, 2)\n",
    "Linear -> kaiming_uniform(a=sqrt(5))\n",
]


def zoo_small() -> dict[str, Any]:
    """Zoo-like models small enough to lint both ways in a second."""
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    return {
        "mlp": (mlp(), torch.zeros(1, 32)),
        "resnet18": (tv.models.resnet18(num_classes=10), torch.zeros(1, 3, 64, 64)),
        "lstm": (nn.LSTM(8, 16, num_layers=2), torch.zeros(5, 1, 8)),
        "llama": (llama(meta=False), None),
    }


@pytest.mark.slow
@pytest.mark.parametrize("policy", POLICIES)
def test_analytic_static_findings_are_the_sampled_ones(policy: str) -> None:
    for name, (model, inputs) in zoo_small().items():
        whole = initpolicy.lint(model, policy, example_inputs=inputs, static=True, seed=0)
        # a budget of the model's size: it does not fit whole (a copy, values, gradients)
        parts = initpolicy.lint(
            model, policy, example_inputs=inputs, static=True, seed=0, memory=tensor_bytes(model)
        )
        assert "streamed" in parts.summary and "streamed" not in whole.summary
        assert found(parts) == found(whole), (name, policy)


@pytest.mark.parametrize(
    ("build", "policy", "tensor", "blocks"),
    [
        ("_modernbert", "Linear -> normal(0, 1.0)\n", "model.layers.1.mlp.Wi.weight",
         ["[0:96]", "[96:192]"]),
        ("_qwen3_moe", "Qwen3MoeExperts.gate_up_proj -> normal(0, 1.0)\n",
         "model.layers.1.mlp.experts.gate_up_proj", ["[:, 0:32]", "[:, 32:64]"]),
    ],
)  # fmt: skip
def test_the_analytic_pass_judges_packed_glu_halves_and_expert_blocks_one_by_one(
    build: str, policy: str, tensor: str, blocks: list[str]
) -> None:
    from tests import test_lint_blind

    model = getattr(test_lint_blind, build)()
    whole = initpolicy.lint(model, policy, static=True, seed=0)
    parts = initpolicy.lint(model, policy, static=True, seed=0, memory=tensor_bytes(model))
    assert parts.summary["streamed"]["static"].startswith("analytic")
    # each block is judged by the activation it feeds, from the plan as from the values
    hit = {f.target for f in parts.all_findings if f.code == "IP104"}
    assert {tensor + b for b in blocks} <= hit
    assert tensor not in hit
    assert found(parts) == found(whole)


def test_the_analytic_pass_judges_from_the_plan_and_measures_what_it_does_not_describe() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.LSTM(8, 8))
    memory = tensor_bytes(model)  # not whole, every part
    res = initpolicy.lint(model, "Linear -> kaiming_normal()\n", static=True, memory=memory)
    # the bias (no rule: it keeps its value) and the LSTM (its rules read the tensor) are
    # measured on the model's own values
    assert res.summary["streamed"]["static"] == "analytic (1 tensors), measured (5)"


class _SkipsOnMeta(nn.Module):
    """Its last layer runs only where the input has a zero, which a meta tensor cannot say
    (the condition is taken as true on meta): the meta trace does not reach ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc2(torch.relu(self.fc1(x)))
        return h if bool((x != 0).all()) else self.out(torch.tanh(h))


@pytest.mark.parametrize("build", ["DataDependentSize", "_SkipsOnMeta"])
def test_a_model_whose_meta_copy_cannot_run_is_planned_on_its_own_trace(build: str) -> None:
    # the meta copy fails its forward (a size read with .item()) or does not reach a layer:
    # the real model, in memory, is traced instead of guessing from registration order
    from tests.models import corpus

    torch.manual_seed(0)
    model = getattr(corpus, build, None) or globals()[build]
    model = model()
    inputs = torch.zeros(2, model.fc1.in_features)
    policy = "Linear -> normal(0, 10.0)\n"
    whole = initpolicy.lint(model, policy, example_inputs=inputs, static=True, seed=0)
    parts = initpolicy.lint(
        model, policy, example_inputs=inputs, static=True, seed=0, memory=tensor_bytes(model)
    )
    assert parts.summary["streamed"]["static"].startswith("analytic")
    assert parts.graph.tracer == "dynamic"
    assert all(x.resolution.called for x in parts.graph.layers)
    assert found(parts) == found(whole) != []


# -- the streamed dynamic pass ------------------------------------------------------------


def test_streamed_forward_measures_what_the_whole_forward_measures() -> None:
    model = llama(layers=4, meta=False)
    whole = initpolicy.lint(model, "llama", seed=0)
    parts = initpolicy.lint(model, "llama", seed=0, memory="1M")
    assert parts.summary["streamed"]["blocks"] == {"model.layers": {"ran": [0, 1, 2, 3], "of": 4}}
    a = {s.name: s.out_std for s in whole.layer_stats}
    b = {s.name: s.out_std for s in parts.layer_stats}
    assert a.keys() == b.keys()
    for name, std in a.items():
        if name == "lm_head":  # the streamed head computes its first HEAD_UNITS units only
            continue
        assert b[name] == pytest.approx(std, rel=1e-5), name
    assert found(parts, ("IP2",)) == [
        f for f in found(whole, ("IP2",)) if not f[0].startswith("IP205")
    ]


def test_the_streamed_pass_names_the_weight_behind_large_logits() -> None:
    # IP220 names the output layer's weight: the streamed pass keeps each judged subject's
    # statistics (its tensor is freed with its part) for the dynamic rules to read
    model = llama(layers=2, meta=False)
    policy = 'use llama\nLinear named "lm_head" -> normal(0, 10.0)\n'
    whole = initpolicy.lint(model, policy, seed=0)
    parts = initpolicy.lint(model, policy, seed=0, memory="1M")
    assert parts.summary["dynamic"].startswith("ran (streamed")
    assert (
        found(parts, ("IP220",))
        == found(whole, ("IP220",))
        == [("IP220", "lm_head.weight", "warning")]
    )


def test_bart_streams_its_forward_on_the_meta_copy() -> None:
    # its dummy ids live on the meta copy (no values: the other inputs are used), and its
    # learned positions add an offset to the ids they are called with (loaded whole)
    cfg = transformers.BartConfig(
        vocab_size=64, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64,
        max_position_embeddings=64,
    )  # fmt: skip
    torch.manual_seed(0)
    model = transformers.BartModel(cfg)
    res = initpolicy.lint(model, "relu_net", seed=0, memory=tensor_bytes(model))
    assert res.summary["dynamic"].startswith("ran (streamed"), res.summary["dynamic"]


def on_the_same_examples(model: Any, policy: str, inputs: Any = None) -> tuple[Any, Any]:
    """The streamed pass, then the whole one asked for the streamed pass's batch (the same
    seed-0 widening then draws the same examples)."""
    parts = initpolicy.lint(
        model, policy, example_inputs=inputs, seed=0, memory=tensor_bytes(model)
    )
    assert parts.summary["dynamic"].startswith("ran (streamed"), parts.summary["dynamic"]
    n = int(re.search(r"(\d+) examples?", parts.summary["dynamic_inputs"]).group(1))
    whole = initpolicy.lint(
        model, policy, example_inputs=inputs, seed=0, memory="64G", thresholds={"batch": n}
    )
    assert whole.summary["dynamic"] == "ran"
    return parts, whole


def assert_same_stats(parts: Any, whole: Any, layers: Any = None) -> None:
    """Every layer's output std in the streamed pass is the whole pass's (``layers``: only
    those, where some blocks were not sampled)."""
    a = {s.name: s.out_std for s in whole.layer_stats if layers is None or s.name in layers}
    b = {s.name: s.out_std for s in parts.layer_stats if layers is None or s.name in layers}
    assert a.keys() == b.keys() and sum(v is not None for v in a.values()) >= 2
    assert {k: v for k, v in b.items() if v is not None} == pytest.approx(
        {k: v for k, v in a.items() if v is not None}, rel=1e-6
    )


@pytest.mark.parametrize("build", ["DataDependentSize", "_SkipsOnMeta"])
def test_a_model_traced_in_memory_streams_its_forward_on_the_meta_copy(build: str) -> None:
    # the trace of the model in memory names its modules; the streamed forward runs the
    # meta copy, so the layers are its modules (else no layer was measured: no IP2xx)
    from tests.models import corpus

    torch.manual_seed(0)
    model = (getattr(corpus, build, None) or globals()[build])()
    inputs = torch.randn(2, model.fc1.in_features)
    parts, whole = on_the_same_examples(model, "Linear -> normal(0, 10.0)\n", inputs)
    assert parts.graph.tracer == "dynamic"
    assert_same_stats(parts, whole)
    assert found(parts, ("IP2",)) == [f for f in found(whole, ("IP2",)) if f[0] != "IP205"]


@pytest.mark.slow
def test_a_detector_streams_in_eval_mode_as_the_whole_pass_does() -> None:
    # torchvision's detectors ask for targets in training mode: both passes fall back to
    # eval mode with normalization on batch statistics (its meta copy's trace fails too)
    tv = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = tv.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None, num_classes=5
    )
    parts, whole = on_the_same_examples(model, "relu_net", ([torch.rand(3, 320, 320)],))
    assert parts.summary["dynamic_inputs"].startswith("eval mode")
    assert_same_stats(parts, whole)


@pytest.mark.slow
def test_a_module_list_the_parent_indexes_loads_each_module_at_its_own_call() -> None:
    # timm's EfficientViM calls ``self.norm[i](h)``: a ModuleList has no forward, so its
    # modules are parts of their own; and IP111's own calls of a norm (its output scale,
    # while the part is loaded mid-forward) are not measured as the model's forward
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("efficientvim_m1", num_classes=10)
    names = [p.name for p in partition(model)]
    assert "norm" not in names and {"norm.0", "norm.3"} <= set(names)
    parts, whole = on_the_same_examples(
        model, "Linear -> normal(0, 1.0)\n", torch.randn(1, 3, 128, 128)
    )
    assert_same_stats(parts, whole)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "kwargs", "kept"),
    [
        # timm's EVA (DINOv3) reads its rope's buffer through ``self.rope.get_embed()``, a
        # method, not the rope's forward: the parts outside stacks are loaded throughout
        ("vit_tiny_patch16_dinov3_qkvb", {"depth": 4}, "the parts outside stacks"),
        # HRNet calls ``down.forward(y)``, past the hooks of its stack's blocks
        ("hrnet_w18_small", {}, "every part that runs"),
    ],
)
def test_a_part_read_outside_its_forward_is_loaded_for_the_whole_pass(
    name: str, kwargs: dict[str, Any], kept: str
) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model(name, num_classes=10, **kwargs)
    parts, whole = on_the_same_examples(model, "relu_net", torch.randn(1, 3, 64, 64))
    assert f"; {kept} loaded throughout;" in parts.summary["dynamic"]
    assert all(len(b["ran"]) == b["of"] for b in parts.summary["streamed"]["blocks"].values())
    assert_same_stats(parts, whole)


def test_repeated_blocks_are_sampled_at_both_ends_and_evenly_between() -> None:
    assert sample(80) == [0, 1, 27, 52, 78, 79]
    assert sample(32) == [0, 1, 11, 20, 30, 31]
    assert sample(3) == [0, 1, 2]
    res = initpolicy.lint(llama(layers=12), "llama")
    ran = res.summary["streamed"]["blocks"]["model.layers"]
    assert ran == {"ran": [0, 1, 4, 7, 10, 11], "of": 12}
    measured = {s.name for s in res.layer_stats if s.out_std is not None}
    blocks = {n.split(".")[2] for n in measured if n.startswith("model.layers.")}
    assert blocks == {"0", "1", "4", "7", "10", "11"}
    assert {"model.embed_tokens", "lm_head"} <= measured
    assert "blocks model.layers [0, 1, 4, 7, 10, 11]" in res.summary["dynamic"]


def test_a_std_1_down_proj_is_reported_on_every_down_proj_of_a_meta_llama() -> None:
    res = initpolicy.lint(llama(layers=6), DOWN_PROJ_STD_1)
    hit = {f.target for f in res.all_findings if f.code == "IP104"}
    assert hit == {f"model.layers.{i}.mlp.down_proj.weight" for i in range(6)}
    assert res.failed()


# -- the model's own init, on meta, one part at a time ------------------------------------


class BadInit(nn.Module):
    """A model whose own init puts std 1 on a 256-wide ReLU layer (16x too large)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(256, 256) for _ in range(4))
        self.head = nn.Linear(256, 2)
        for b in self.blocks:
            b.reset_parameters = lambda b=b: nn.init.normal_(b.weight, 0, 1.0)  # type: ignore[method-assign]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = torch.relu(b(x))
        return self.head(x)


def test_a_meta_model_is_linted_by_its_own_init() -> None:
    with torch.device("meta"):
        model = BadInit()
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 256))
    assert {f.target for f in res.findings if f.code == "IP104"} == {
        f"blocks.{i}.weight" for i in range(4)
    }
    assert res.summary["streamed"]["static"].startswith("measured")
    assert all(p.is_meta for p in model.parameters())  # nothing left behind


class NormsOnly(nn.Module):
    """timm's PiT: an ``_init_weights`` that writes only the norms; its Linears keep what
    their constructor drew (``reset_parameters``)."""

    def __init__(self, std: float | None = None) -> None:
        super().__init__()
        self.std = std
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 64)) for _ in range(3)
        )
        self.apply(self._init_weights)

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        if (
            isinstance(m, nn.Sequential) and self.std
        ):  # T5's attention: the parent writes its Linears
            nn.init.normal_(m[1].weight, 0, self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = torch.relu(b(x))
        return x


@pytest.mark.parametrize("std", [None, 1.0])
def test_a_meta_model_is_initialized_by_its_modules_then_its_init_weights(std: Any) -> None:
    torch.manual_seed(0)
    real = initpolicy.lint(NormsOnly(std), example_inputs=torch.zeros(1, 64), static=True)
    with torch.device("meta"):
        model = NormsOnly(std)
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 64), static=True)
    assert res.summary["streamed"]["static"].startswith("measured")
    # _init_weights alone left the Linears zero (IP101 on each); applied only on modules
    # with tensors of their own, it missed the parent's std 1.0 (IP104 on each)
    assert found(res) == found(real)
    assert {f.code for f in res.findings if f.target.endswith("1.weight")} == (
        {"IP104"} if std else set()
    )


class NamedInit(nn.Module):
    """timm's ``_init_weights(module, name)``, called by ``named_apply`` (MaxxViT)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 64)) for _ in range(3)
        )
        for name, m in self.named_modules():
            self._init_weights(m, name=name)

    def _init_weights(self, m: nn.Module, name: str = "") -> None:
        if name == "blocks.2.1":  # the last: no norm after it
            nn.init.normal_(m.weight, 0, 1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = torch.relu(b(x))
        return x


def test_an_init_weights_that_takes_the_name_gets_it_on_meta() -> None:
    torch.manual_seed(0)
    real = initpolicy.lint(NamedInit(), example_inputs=torch.zeros(1, 64), static=True)
    with torch.device("meta"):
        model = NamedInit()
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 64), static=True)
    assert found(res) == found(real)
    assert [f.target for f in res.findings if f.code == "IP104"] == ["blocks.2.1.weight"]


class WholeInit(NamedInit):
    """torchvision's MaxViT: an ``_init_weights(self)`` that loops over the whole model,
    no per-module init: the modules' own ``reset_parameters`` stand for it on meta."""

    def __init__(self) -> None:
        nn.Module.__init__(self)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(64), nn.Linear(64, 64)) for _ in range(3)
        )
        self._init_weights()

    def _init_weights(self) -> None:  # type: ignore[override]
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.02)


def test_an_init_weights_of_the_whole_model_is_not_applied_per_module() -> None:
    with torch.device("meta"):
        model = WholeInit()
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 64), static=True)
    assert res.summary["streamed"]["static"].startswith("measured")


def test_a_clean_meta_llama_is_clean_under_its_own_init() -> None:
    res = initpolicy.lint(llama(layers=4))
    assert [f.code for f in res.findings if f.severity != "info"] == []
    assert res.summary["dynamic"].startswith("ran (streamed")


def test_parts_write_exactly_the_values_of_a_whole_apply() -> None:
    from initpolicy.applier.execution import execute
    from initpolicy.planner.match import build_plan
    from initpolicy.tracer.tracing import trace

    model = llama(layers=2)
    plan = build_plan(initpolicy.load("llama").ir, trace(model), seed=3)
    whole = llama(layers=2)
    execute(build_plan(initpolicy.load("llama").ir, trace(whole), seed=3), whole)
    block = [n for n, _ in model.named_modules() if n.startswith("model.layers.1")]
    with Parts(model, plan).loaded(block) as loaded:
        assert loaded.tensors
        for name, t in loaded.tensors.items():
            assert torch.equal(t, whole.get_parameter(name)), name
    with Parts(model, plan).loaded(["model.embed_tokens"], rows=10) as loaded:
        t = loaded.tensors["model.embed_tokens.weight"]
        assert torch.equal(t, whole.model.embed_tokens.weight[:10])
    assert all(p.is_meta for p in model.parameters())


# -- memory ---------------------------------------------------------------------------------


class Watched:
    """A loader that records the most bytes it holds at once."""

    def __init__(self, inner: Parts):
        self.inner, self.now, self.peak = inner, 0, 0

    @contextmanager
    def loaded(self, modules: Sequence[str], rows: int | None = None) -> Iterator[Any]:
        with self.inner.loaded(modules, rows) as got:
            held = sum(t.numel() * t.element_size() for t in got.tensors.values())
            self.now += held
            self.peak = max(self.peak, self.now)
            try:
                yield got
            finally:
                self.now -= held


def test_the_streamed_passes_hold_one_part_at_a_time() -> None:
    from initpolicy.linter.run import lint as run_lint

    model = llama(layers=8)
    watched = Watched(Parts(model, None))
    res = run_lint(model, loader=watched, budget=budget("1G"))
    parts = partition(model)
    assert res.summary["dynamic"].startswith("ran")
    assert 0 < watched.peak <= max(p.nbytes for p in parts)
    assert watched.peak < sum(p.nbytes for p in parts) / 4


def test_a_part_over_the_budget_skips_the_dynamic_pass_and_says_why() -> None:
    res = initpolicy.lint(llama(layers=2), "llama", memory=100_000)
    assert res.summary["dynamic"].startswith("skipped: the largest part (model.layers.0 ")
    assert "--memory" in res.summary["dynamic"]


@pytest.mark.parametrize(
    ("text", "nbytes"),
    [("4G", 4 * 2**30), ("512M", 512 * 2**20), ("1.5GiB", 3 * 2**29), ("2e9", 2 * 10**9)],
)
def test_memory_sizes(text: str, nbytes: int) -> None:
    assert parse_memory(text) == nbytes


@pytest.mark.parametrize("text", ["lots", "4X", "-1G", "10K"])
def test_bad_memory_sizes_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="--memory"):
        parse_memory(text)


def test_the_measured_budget_says_where_it_comes_from() -> None:
    b = budget()
    assert b.bytes > 0 and ("available" in b.source or "could not be read" in b.source)


def test_a_layer_over_the_budget_is_named_not_measured() -> None:
    with torch.device("meta"):
        model = BadInit()
    # 300 KB: one 256 x 256 block (263 KB) at a time fits
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 256), memory=300_000)
    assert res.summary["dynamic"].startswith("ran (streamed")
    assert {f.target for f in res.findings if f.code == "IP104"} == {
        f"blocks.{i}.weight" for i in range(4)
    }
    # 200 KB: no block fits; the head (2 KB) is still measured
    res = initpolicy.lint(model, example_inputs=torch.zeros(1, 256), memory=200_000)
    assert res.summary["dynamic"].startswith("skipped: the largest part (blocks.0 ")
    assert res.summary["streamed"]["static"].endswith(
        "not measured, over the memory budget: blocks.0, blocks.1, blocks.2, blocks.3"
    )


def test_a_real_model_over_the_budget_is_linted_statically_and_says_why() -> None:
    res = initpolicy.lint(mlp(), example_inputs=torch.zeros(1, 32), memory=1)
    assert res.summary["dynamic"].startswith("skipped: its forward and backward pass would hold")
    assert res.summary["memory"] == "9.31e-10 GiB (--memory)"
    assert {f.code for f in res.findings} == {"IP106"}  # the static pass ran whole


def test_a_stack_of_blocks_of_different_shapes_runs_whole() -> None:
    class Widening(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            widths = [8, 16, 16, 32, 32, 64, 64, 64, 8]
            self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(widths))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            for layer in self.layers:
                x = torch.relu(layer(x))
            return x

    model = Widening()
    res = initpolicy.lint(
        model, "relu_net", example_inputs=torch.zeros(1, 8), memory=tensor_bytes(model)
    )
    assert res.summary["streamed"]["blocks"] == {"layers": {"ran": list(range(8)), "of": 8}}
    assert res.summary["dynamic"].startswith("ran (streamed")


# The analytic pass on every zoo model: tests/test_lint_zoo.py (two policies per model);
# bench/bench_agreement.py adds the own init on meta and the streamed dynamic pass.


class ReadsAChildsBuffer(nn.Module):
    """ConvBERT's shape: the model's forward reads its embeddings' buffer of token types
    (outside the embeddings' forward) and hands it to them by keyword."""

    class Embeddings(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.words, self.types = nn.Embedding(50, 32), nn.Embedding(2, 32)
            self.register_buffer("type_ids", torch.zeros(1, 8, dtype=torch.long), False)

        def forward(self, ids: torch.Tensor, type_ids: torch.Tensor) -> torch.Tensor:
            return self.words(ids) + self.types(type_ids)

    def __init__(self) -> None:
        super().__init__()
        self.embeddings = ReadsAChildsBuffer.Embeddings()
        self.blocks = nn.ModuleList(nn.Linear(32, 32) for _ in range(3))
        self.head = nn.Linear(32, 4)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        types = self.embeddings.type_ids[:, : ids.shape[1]].expand(ids.shape[0], -1)
        h = self.embeddings(ids=ids, type_ids=types)
        for block in self.blocks:
            h = torch.relu(block(h))
        return self.head(h)


def test_a_meta_tensor_reaching_a_loaded_part_loads_the_parts_outside_stacks() -> None:
    """On the meta copy, the buffer the model reads before the embeddings are loaded is a
    meta tensor; a real table looked up at meta indices gives uninitialized values (NaN
    at random: IP204 that the model does not have). A meta tensor reaching a loaded part's
    forward, by position or keyword, is a part read outside its forward: the pass runs
    again with the parts outside stacks loaded throughout."""
    torch.manual_seed(0)
    model = ReadsAChildsBuffer()
    parts, whole = on_the_same_examples(model, "relu_net", torch.randint(0, 50, (4, 8)))
    assert "; the parts outside stacks loaded throughout;" in parts.summary["dynamic"]
    assert_same_stats(parts, whole)
    assert found(parts, ("IP2",)) == [f for f in found(whole, ("IP2",)) if f[0] != "IP205"]
