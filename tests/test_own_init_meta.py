"""The model's own init on meta, part by part (issue 23; docs/lint.md, "Models larger than
memory"): a model built under ``initpolicy.on_meta()`` has its construction recorded
(:mod:`initpolicy.applier.journal`), so what its constructor writes outside any module
method (an init loop, a parameter drawn or computed in ``__init__``, a parametrization's
originals) is replayed on each part, and lint finds what it finds on the real build."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.applier.journal import Journal, journal_of
from initpolicy.applier.partial import Parts


def found(result: Any) -> list[tuple[str, str, str]]:
    return sorted(
        (f.code, f.target, f.severity)
        for f in result.all_findings
        if f.code.startswith(("IP1", "IP3"))
    )


class LoopInit(nn.Module):
    """torchvision's VGG: an init loop in ``__init__``, here with std 1.0 on every Linear
    (IP104), and a layer scale computed there (poolformerv2's ``init_value * ones``)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(128, 128) for _ in range(3))
        self.head = nn.Linear(128, 4)
        self.scale = nn.Parameter(0.5 * torch.ones(128))
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 1.0)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = torch.relu(b(x))
        return self.head(x * self.scale)


def test_an_init_loop_in_the_constructor_is_replayed_on_meta() -> None:
    x = torch.zeros(2, 128)
    torch.manual_seed(0)
    real = initpolicy.lint(LoopInit(), example_inputs=x, static=True)
    with initpolicy.on_meta():
        model = LoopInit()
    res = initpolicy.lint(model, example_inputs=x, static=True)
    assert res.summary["streamed"]["static"].startswith("measured")
    assert res.summary["streamed"]["static"].endswith(
        "9 of 9 tensors replayed from the build's record"
    )
    assert found(res) == found(real)
    assert {f.target for f in res.findings if f.code == "IP104"} >= {
        f"blocks.{i}.weight" for i in range(3)
    }
    assert all(p.is_meta for p in model.parameters())  # nothing left behind


def test_without_the_record_the_loop_is_not_known() -> None:
    """A model built under a bare ``torch.device("meta")``: its modules' reset_parameters
    stand for the loop (docs/lint.md says so), so the std 1.0 is not seen."""
    with torch.device("meta"):
        model = LoopInit()
    assert journal_of(model.blocks[0].weight) is None
    res = initpolicy.lint(model, example_inputs=torch.zeros(2, 128), static=True)
    assert not [f for f in res.findings if f.code == "IP104"]
    assert res.summary["streamed"]["static"].endswith(
        "0 of 9 tensors replayed from the build's record"
    )


class Writes(nn.Module):
    """Writes a replay must keep in order: a copy of another parameter as it was then,
    a write through a view, a value computed from a factory, a constant buffer."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Parameter(torch.empty(4, 3))
        self.b = nn.Parameter(torch.empty(4, 3))
        nn.init.constant_(self.a, 2.0)
        self.b.data.copy_(self.a)  # b takes a's values now ...
        self.a.data.mul_(3.0)  # ... not these
        with torch.no_grad():
            self.a[:, :1].fill_(-1.0)  # a view of a: only its first column
        self.register_buffer("steps", torch.arange(4, dtype=torch.float32) / 2)
        self.register_buffer("never", torch.empty(2))


def test_a_replay_gives_each_tensor_its_values_as_the_build_left_them() -> None:
    with initpolicy.on_meta():
        m = Writes()
    values = {
        n: journal_of(t).replay(t, "cpu", seed=0)  # type: ignore[union-attr]
        for n, t in [*m.named_parameters(), *m.named_buffers()]
        if n != "never"
    }
    assert values["b"].eq(2.0).all()
    assert values["a"][:, 0].eq(-1.0).all() and values["a"][:, 1:].eq(6.0).all()
    assert values["steps"].tolist() == [0.0, 0.5, 1.0, 1.5]
    journal = journal_of(m.never)
    assert journal is not None and journal.covers(m.never) and not journal.written(m.never)


def test_a_part_replays_the_same_values_whatever_else_is_loaded() -> None:
    with initpolicy.on_meta():
        model = LoopInit()
    parts = Parts(model, None, seed=3)
    with parts.loaded(["blocks.1"]) as one:
        alone = one.tensors["blocks.1.weight"].clone()
    with parts.loaded(["blocks.0", "blocks.1", "head"]) as many:
        together = many.tensors["blocks.1.weight"].clone()
    assert torch.equal(alone, together)
    assert alone.std().item() == pytest.approx(1.0, rel=0.05)


def test_a_tensor_made_before_recording_is_initialized_by_its_module() -> None:
    with torch.device("meta"):
        fc = nn.Linear(64, 64)
    with Journal(), torch.device("meta"):
        model = nn.Sequential(fc, nn.ReLU(), nn.Linear(64, 64))
    assert journal_of(model[0].weight) is None
    journal = journal_of(model[2].weight)
    assert journal is not None and journal.covers(model[2].weight)
    with Parts(model, None).loaded(["0", "2"]) as loaded:
        bound = 1 / 64**0.5  # kaiming_uniform(a=sqrt(5)): U(-1/sqrt(fan_in), +)
        for name in ("0.weight", "2.weight"):
            w = loaded.tensors[name]
            assert w.abs().max().item() <= bound and w.std().item() > bound / 2


class QuietOnMeta(nn.Module):
    """torch's ``trunc_normal_``, ``orthogonal_``: they return at once on a meta tensor,
    with no call the recorder sees; their frames are."""

    def __init__(self) -> None:
        super().__init__()
        self.pos = nn.Parameter(torch.zeros(1, 4096))
        self.rot = nn.Parameter(torch.empty(32, 32))
        nn.init.trunc_normal_(self.pos, std=0.02)
        nn.init.orthogonal_(self.rot)


def test_init_functions_that_skip_meta_tensors_are_replayed() -> None:
    with initpolicy.on_meta():
        m = QuietOnMeta()
    with Parts(m, None).loaded([""]) as loaded:
        pos, rot = loaded.tensors["pos"], loaded.tensors["rot"]
        assert pos.std().item() == pytest.approx(0.02, rel=0.05)
        assert torch.allclose(rot @ rot.T, torch.eye(32), atol=1e-5)


class FailsForReal(nn.Module):
    """A parameter whose constructor call runs on meta (shapes only) and fails on values
    (a Cholesky factor of a zero matrix)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        nn.init.constant_(self.fc.weight, 0.25)
        self.chol = nn.Parameter(torch.linalg.cholesky(torch.zeros(4, 4)))


def test_a_call_that_fails_on_values_leaves_its_tensor_to_the_modules_methods() -> None:
    with initpolicy.on_meta():
        m = FailsForReal()
    assert journal_of(m.chol).covers(m.chol)  # type: ignore[union-attr]
    with Parts(m, None).loaded(["", "fc"]) as loaded:
        assert loaded.tensors["fc.weight"].eq(0.25).all()
        assert loaded.tensors["chol"].eq(0).all()  # no method writes it: zero, and said
        assert loaded.unwritten == ["chol"]


def test_a_call_the_journal_cannot_keep_never_breaks_the_build(monkeypatch) -> None:
    from initpolicy.applier import journal as journal_module

    def broken(func: Any, name: str, *rest: Any) -> Any:
        if name == "normal_":
            raise ValueError("cannot keep it")
        return written(func, name, *rest)

    written = journal_module._written
    monkeypatch.setattr(journal_module, "_written", broken)
    with initpolicy.on_meta():
        model = LoopInit()  # its loop's normal_ is not kept
    journal = journal_of(model.blocks[0].weight)
    assert journal is not None and not journal.covers(model.blocks[0].weight)
    assert journal.covers(model.scale) and journal.errors[0].startswith("normal_: ValueError")
    with Parts(model, None).loaded(["blocks.0"]) as loaded:  # its reset_parameters, then
        assert loaded.tensors["blocks.0.bias"].eq(0).all()  # the replayed constant_
        assert loaded.tensors["blocks.0.weight"].abs().max().item() <= 1 / 128**0.5


class InitThenFix(nn.Module):
    """timm's BEiT: ``self.apply(self._init_weights)`` in the constructor, then a fix-up
    that rescales (``fix_init_weight``): the build ran ``_init_weights``, so a part does
    not run it again after the replay (it would undo the fix-up)."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(nn.Linear(256, 256) for _ in range(2))
        self.apply(self._init_weights)
        for b in self.blocks:
            b.weight.data.mul_(0.01)

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 1.0)


def test_an_init_weights_the_build_ran_is_not_run_again() -> None:
    with initpolicy.on_meta():
        m = InitThenFix()
    with Parts(m, None).loaded(["blocks.0"]) as loaded:
        assert loaded.tensors["blocks.0.weight"].std().item() == pytest.approx(0.01, rel=0.05)


META_MODEL = """\
import torch
from torch import nn


def build_model():
    with torch.device("meta"):
        layers = []
        for _ in range(4):
            layers += [nn.Linear(64, 64), nn.ReLU()]
        model = nn.Sequential(*layers, nn.Linear(64, 10))
        for m in model.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 1.0)
    return model
"""


def test_the_cli_replays_the_init_loop_of_a_model_file_that_builds_on_meta(make_repo) -> None:
    from click.testing import CliRunner

    from initpolicy.cli.main import cli

    make_repo({"model.py": META_MODEL})
    r = CliRunner().invoke(cli, ["lint", "model.py", "--static", "--format", "json"])
    assert r.exit_code == 1, r.output
    data = json.loads(r.stdout)
    assert data["summary"]["streamed"]["static"].startswith("measured")
    assert {f["target"] for f in data["findings"] if f["code"] == "IP104"} >= {
        f"{i}.weight" for i in (0, 2, 4, 6)
    }


# -- weight norm: the originals a real build leaves ------------------------------------------

transformers = pytest.importorskip("transformers")


def wav2vec2(meta: str | None) -> Any:
    cfg = transformers.Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3), num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=4, vocab_size=16,
    )  # fmt: skip
    torch.manual_seed(0)
    if meta == "recorded":
        with initpolicy.on_meta():
            return transformers.Wav2Vec2ForCTC(cfg)
    if meta == "bare":
        with torch.device("meta"):
            return transformers.Wav2Vec2ForCTC(cfg)
    return transformers.Wav2Vec2ForCTC(cfg)


def test_an_init_weights_transformers_skips_on_meta_runs_after_the_replay() -> None:
    """transformers' ``init_weights`` does nothing under ``torch.device("meta")``; a real
    build runs ``_init_weights`` last (``post_init``): a part replays the constructor's
    calls (the Linear's kaiming_uniform), then ``_init_weights`` (normal, std 0.02)."""
    cfg = transformers.LlamaConfig(
        vocab_size=64, hidden_size=256, intermediate_size=512, num_hidden_layers=1,
        num_attention_heads=4, num_key_value_heads=2,
    )  # fmt: skip
    with initpolicy.on_meta():
        model = transformers.LlamaForCausalLM(cfg)
    q = "model.layers.0.self_attn.q_proj"
    journal = journal_of(model.get_parameter(f"{q}.weight"))
    assert journal is not None and not journal.init_weights_ran
    with Parts(model, None).loaded([q]) as loaded:
        w = loaded.tensors[f"{q}.weight"]
        assert w.std().item() == pytest.approx(0.02, rel=0.05)  # kaiming's would be 0.036


POS_CONV = "wav2vec2.encoder.pos_conv_embed.conv"


@pytest.mark.parametrize("meta", ["recorded", "bare"])
def test_weight_norm_originals_are_those_of_the_initialized_weight(meta: str) -> None:
    """A real build applies ``weight_norm`` to an initialized conv: ``original1`` is its
    kaiming_uniform weight, ``original0`` that weight's norm; on a bare meta build the
    conv's reset_parameters writes the computed weight, so the originals are set from
    what it wrote (before: ``original1`` stayed zero, IP101)."""
    model = wav2vec2(meta)
    conv = model.get_submodule(POS_CONV)
    with Parts(model, None).loaded([POS_CONV, f"{POS_CONV}.parametrizations.weight"]) as loaded:
        g = loaded.tensors[f"{POS_CONV}.parametrizations.weight.original0"]
        v = loaded.tensors[f"{POS_CONV}.parametrizations.weight.original1"]
        fan_in = v.shape[1] * v.shape[2]
        assert v.abs().max().item() <= 1 / fan_in**0.5
        assert v.std().item() == pytest.approx((1 / (3 * fan_in)) ** 0.5, rel=0.1)
        assert torch.allclose(g, torch.norm_except_dim(v, 2, 2))
        assert torch.allclose(conv.weight, v)  # the computed weight is v again: g / |v| = 1
    x = torch.zeros(1, 400)
    real = initpolicy.lint(wav2vec2(None), example_inputs=x, static=True)
    res = initpolicy.lint(model, example_inputs=x, static=True)
    assert found(res) == found(real)
    assert not [f for f in res.findings if f.code == "IP101"]


# -- real models of the zoo: part by part on meta == whole, for real -------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "vgg11",
        "squeezenet1_0",
        "timm/nf_regnet_b0",
        "timm/sam2_hiera_tiny",
        "timm/hgnetv2_b0",
        "transformers/hubert",
    ],
)
def test_zoo_models_with_constructor_writes_agree_on_meta(name: str) -> None:
    from tests.zoo import lint_run

    build = lint_run.builders()[name]
    torch.manual_seed(0)
    model = build()
    inputs = lint_run.example_inputs(name, model)
    real = found(initpolicy.lint(model, example_inputs=inputs, static=True, memory="64G"))
    del model
    with initpolicy.on_meta():
        meta = build()
    parts = found(initpolicy.lint(meta, example_inputs=inputs, static=True))
    # a finding of timm's trunc_normal_ clamp (IP120) depends on the draw (docs/benchmarks.md)
    assert [f for f in parts if f[0] != "IP120"] == [f for f in real if f[0] != "IP120"]


class ReadsValues(nn.Module):
    """A detector's shape: the forward reads a value (``.item()``), so it cannot run on
    meta, and a squeeze-excitation registers ``fc2`` before the ReLU that follows ``fc1``
    (torchvision's ``SqueezeExcitation``). ``fc1`` at std 0.02 with its fan_in of 64 is
    right for nothing; its gain is the question: before ReLU it wants He's."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Linear(64, 64)
        self.fc1, self.fc2 = nn.Linear(64, 64), nn.Linear(64, 64)
        self.act, self.gate = nn.ReLU(), nn.Sigmoid()
        self.head = nn.Linear(64, 4)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")

    def forward(self, x):
        h = self.stem(x)
        if float(h.abs().max().item()) > 1e6:  # a value read: no meta forward
            h = h / 2
        s = self.gate(self.fc2(self.act(self.fc1(h))))
        return self.head(h * s)


def test_a_meta_model_whose_forward_reads_values_is_traced_loaded_where_it_fits():
    """On meta only the modules tracer runs, and it takes ``fc1`` as followed by ``fc2``;
    where the model fits the budget, it is traced again with every part loaded (its own
    init replayed), and finds what the real build's lint finds."""
    from initpolicy.linter.run import LOADED_TRACE

    x = torch.randn(4, 64)
    torch.manual_seed(0)
    real = initpolicy.lint(ReadsValues(), example_inputs=x, static=True, memory="64G")
    with initpolicy.on_meta():
        meta = ReadsValues()
    parts = initpolicy.lint(meta, example_inputs=x, static=True)
    assert real.graph.layer("fc1").activation == "relu"
    assert parts.graph.tracer != "modules" and LOADED_TRACE in parts.graph.warnings
    assert parts.graph.layer("fc1").activation == "relu"
    assert found(parts) == found(real)
    assert all(p.is_meta for p in meta.parameters())  # freed after the trace
    # with a policy, the plan is made from that trace
    planned = initpolicy.lint(meta, "relu_net", example_inputs=x, static=True)
    assert LOADED_TRACE in planned.graph.warnings
    assert planned.graph.layer("fc1").activation == "relu"
    # a budget the model does not fit: the meta trace stands, and says which tracer ran
    tight = initpolicy.lint(meta, example_inputs=x, static=True, memory=1000)
    assert tight.graph.tracer == "modules" and LOADED_TRACE not in tight.graph.warnings
