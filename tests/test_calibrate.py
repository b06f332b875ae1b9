"""Calibration (docs/calibrate.md): the ``lsuv``/``scaled`` wrappers, ``initpolicy.calibrate``
and its replay policy, ``initpolicy calibrate``, and world sizes 1 and 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.cli.main import cli
from initpolicy.errors import PlanError, PolicyError

from . import calibrate_models as models

ROOT = Path(__file__).resolve().parents[1]


def output_variances(model: nn.Module, data: torch.Tensor, types=(nn.Linear, nn.Conv2d)):
    """Each layer's output variance on ``data`` (float64, eval mode), measured here with
    plain forward hooks: independent of the calibrator's own measurement."""
    out: dict[str, float] = {}
    hooks = [
        m.register_forward_hook(
            lambda mod, a, o, n=n: out.__setitem__(n, float(o.double().var(unbiased=False)))
        )
        for n, m in model.named_modules()
        if isinstance(m, types)
    ]
    model.eval()
    with torch.no_grad():
        model(data)
    for h in hooks:
        h.remove()
    return out


# ------------------------------------------------------------------------------ language


@pytest.mark.parametrize(
    ("text", "wrapper", "inner", "args"),
    [
        ("lsuv(orthogonal(), target=1, tol=0.05, max_iter=10)", "lsuv", "orthogonal", 3),
        ("lsuv(orthogonal)", "lsuv", "orthogonal", 0),
        ("lsuv(kaiming_normal(fan_in), tol=0.1)", "lsuv", "kaiming_normal", 1),
        ("scaled(normal(0, 0.02), 0.5)", "scaled", "normal", 1),
        ("scaled(orthogonal(1.0), 1 / sqrt(n_layers))", "scaled", "orthogonal", 1),
    ],
)
def test_a_wrapper_is_a_scheme_whose_first_argument_is_a_scheme(text, wrapper, inner, args):
    call = initpolicy.load(f"Linear -> {text}").rules[0].scheme
    assert (call.name, call.inner.name, len(call.args)) == (wrapper, inner, args)
    assert call.inner.inner is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("lsuv()", "1:11: lsuv wraps a scheme, and none is given"),
        ("lsuv(3)", "1:16: the first argument of lsuv must be a scheme"),
        ("lsuv(orthognal())", "1:16: unknown scheme 'orthognal'"),
        ("lsuv(lsuv(orthogonal()))", "1:16: lsuv cannot wrap the wrapper lsuv"),
        ("lsuv(orthogonal(), tol=-1)", "argument 'tol' of lsuv must be > 0 (got -1)"),
        (
            "lsuv(orthogonal(), max_iter=0)",
            "argument 'max_iter' of lsuv must be a positive integer",
        ),
        ("lsuv(orthogonal(), steps=3)", "lsuv has no argument 'steps'"),
        ("scaled(orthogonal())", "scaled is missing its required argument 'factor'"),
    ],
)
def test_wrapper_mistakes_are_located_policy_errors(text, message):
    with pytest.raises(PolicyError) as e:
        initpolicy.load(f"Linear -> {text}")
    assert message in str(e.value)


def test_scaled_is_the_inner_draw_times_the_factor_bit_for_bit():
    def net():
        return nn.Sequential(nn.Linear(20, 30), nn.Tanh(), nn.Linear(30, 5))

    a, b = net(), net()
    report = initpolicy.apply(a, "Linear -> scaled(orthogonal(), 2.5)\nbias -> zeros()", seed=3)
    initpolicy.apply(b, "Linear -> orthogonal()\nbias -> zeros()", seed=3)
    assert torch.equal(a[0].weight, b[0].weight * 2.5)
    entry = report.plan.entries[0]
    assert entry.scale == 2.5 and entry.std == pytest.approx(2.5 / 30**0.5)


def test_a_calibration_applied_without_data_is_a_located_plan_error():
    with pytest.raises(PlanError) as e:
        initpolicy.apply(models.tanh_mlp(2), "lsuv")
    text = str(e.value)
    assert text.startswith("<builtin>/lsuv:7:1: lsuv calibrates")
    assert "and none was given" in text and "initpolicy calibrate" in text


# ------------------------------------------------------------------------------ LSUV


@pytest.mark.parametrize(
    ("build", "shape"),
    [(models.tanh_mlp, (256, 64)), (models.vgg_cnn, (64, 3, 16, 16))],
    ids=["tanh_mlp_40", "vgg_cnn"],
)
def test_lsuv_gives_every_layer_unit_variance_on_the_batch_and_held_out(build, shape):
    model = build()
    data, held_out = models.batch(shape, 1), models.batch(shape, 2)
    result = initpolicy.calibrate(model, "lsuv", data, seed=0)
    on_batch, on_held = output_variances(model, data), output_variances(model, held_out)
    assert [r.layer for r in result.records] == list(on_batch)  # data-flow order, all layers
    assert all(0.95 <= v <= 1.05 for v in on_batch.values()), on_batch
    assert all(0.85 <= v <= 1.15 for v in on_held.values()), on_held
    for r in result.records:
        assert r.converged and r.after == pytest.approx(on_batch[r.layer], rel=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("build", "data"),
    [
        (models.resnet18_without_norms, lambda seed: models.batch((32, 3, 32, 32), seed)),
        (models.timm_vit, lambda seed: models.batch((32, 3, 32, 32), seed)),
        (models.bert, lambda seed: models.token_ids((16, 32), seed)),
    ],
    ids=["torchvision_resnet18_without_norms", "timm_vit", "transformers_bert"],
)
def test_lsuv_on_real_architectures(build, data):
    import transformers

    types = (nn.Linear, nn.Conv2d, transformers.pytorch_utils.Conv1D)
    model = build()
    result = initpolicy.calibrate(model, "lsuv", data(1), seed=0)
    on_batch = output_variances(model, data(1), types)
    on_held = output_variances(model, data(2), types)
    assert len(result.records) == len(on_batch) and not result.not_converged
    assert all(0.95 <= v <= 1.05 for v in on_batch.values()), on_batch
    assert all(0.85 <= v <= 1.15 for v in on_held.values()), on_held


def test_a_layer_that_cannot_converge_is_reported_not_hidden():
    model = models.tanh_mlp(3)
    policy = "Linear -> lsuv(orthogonal(), tol=1e-9, max_iter=1)\nbias -> zeros()"
    result = initpolicy.calibrate(model, policy, models.batch((64, 64), 1))
    assert result.not_converged and all(r.iterations <= 1 for r in result.records)
    assert "not converged" in result.text.splitlines()[2]


def test_lsuv_runs_about_one_truncated_forward_per_layer():
    model = models.tanh_mlp(10)
    calls = []
    model.register_forward_pre_hook(lambda m, a: calls.append(1))
    result = initpolicy.calibrate(model, "lsuv", models.batch((64, 64), 1))
    iterations = sum(r.iterations for r in result.records)
    assert iterations >= len(result.records) - 1  # the layers were rescaled
    # the trace, one call count, one (truncated) capture per layer; no forward per iteration
    assert len(calls) <= len(result.records) + 3


def test_the_replay_names_the_data_and_writes_each_calibrated_tensor_as_scaled():
    data = models.batch((32, 64), 1)
    result = initpolicy.calibrate(models.tanh_mlp(2), "lsuv", data, seed=5)
    lines = result.text.splitlines()
    assert lines[1] == f"# data: float32[32, 64], sha256 {result.sha256}"
    assert "seed 5" in lines
    assert 'Linear.weight named "2" -> scaled(orthogonal(1), factor=' in result.text
    assert 'Linear.bias named "2" -> zeros()' in lines


def test_the_replay_is_bit_identical_in_process():
    data = models.batch((64, 3, 16, 16), 1)
    model = models.vgg_cnn()
    result = initpolicy.calibrate(model, "lsuv", data, seed=0)
    fresh = models.vgg_cnn()
    initpolicy.apply(fresh, result.text)
    for (name, a), b in zip(model.state_dict().items(), fresh.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


@pytest.mark.slow
def test_the_replay_is_bit_identical_in_a_fresh_process(tmp_path):
    data = models.batch((64, 64), 1)
    model = models.tanh_mlp(40)
    result = initpolicy.calibrate(model, "lsuv", data, seed=0)
    (tmp_path / "calibrated.pol").write_text(result.text)
    torch.save(model.state_dict(), tmp_path / "calibrated.pt")
    script = (
        "import sys, torch, initpolicy\n"
        "from tests.calibrate_models import tanh_mlp\n"
        "m = tanh_mlp(40)\n"
        f"initpolicy.apply(m, initpolicy.load({str(tmp_path / 'calibrated.pol')!r}))\n"
        f"ref = torch.load({str(tmp_path / 'calibrated.pt')!r})\n"
        "sys.exit(0 if all(torch.equal(ref[k], v) for k, v in m.state_dict().items()) else 3)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 0


def test_apply_with_data_is_calibrate_in_one_call():
    """``apply(..., data=)`` calibrates as ``calibrate`` does: the same weights, and the
    calibration (its replay text) on the Report."""
    batch = models.batch((64, 64), 1)
    one, two = models.tanh_mlp(6), models.tanh_mlp(6)
    result = initpolicy.calibrate(one, "lsuv", batch, seed=0)
    report = initpolicy.apply(two, "lsuv", seed=0, data=batch)
    assert report.calibration is not None and report.calibration.text == result.text
    assert [r.scale for r in report.calibration.records] == [r.scale for r in result.records]
    for (n, a), (_, b) in zip(one.state_dict().items(), two.state_dict().items(), strict=True):
        assert torch.equal(a, b), n
    assert initpolicy.apply(models.tanh_mlp(6), "pytorch_default").calibration is None


def test_apply_with_data_refuses_what_calibration_cannot_use():
    with pytest.raises(initpolicy.UsageError, match="takes neither device="):
        initpolicy.apply(models.tanh_mlp(2), "lsuv", data=models.batch((8, 64), 1), device="cpu")


@pytest.mark.slow
def test_world_sizes_1_and_2_and_ddp_and_fsdp2_write_the_same_policy(tmp_path):
    """World sizes 1 and 2, each rank on its shard of one batch; the plain model, DDP and
    FSDP2 (default and ``reshard_after_forward=False``), through ``calibrate`` and
    ``apply(..., data=)``: the same policy text and bit-identical calibrated weights; the
    sums go over DDP's own process group."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "calibrate_worlds.py"), str(tmp_path), "1", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    from tests.calibrate_worlds import VARIANTS

    one, two = (torch.load(tmp_path / f"w{w}.pt", weights_only=False) for w in (1, 2))
    cases = ("tanh_mlp", "vgg_cnn")
    runs = {f"{c}/{v}" for c in cases for v in VARIANTS}
    assert set(one) == runs | {f"{c}/half" for c in cases}
    assert set(two) == runs | {f"{c}/ddp_own_group" for c in cases}
    for case in cases:
        # the plain model at world size 1 is the reference for every world and wrapper
        base = one[f"{case}/plain"]
        assert base["records"] and all(r["converged"] for r in base["records"])
        for world, results in ((1, one), (2, two)):
            for how in VARIANTS:
                got, where = results[f"{case}/{how}"], f"{case}, {how}, world {world}"
                assert got["text"] == base["text"], where
                for a, b in zip(base["records"], got["records"], strict=True):
                    assert b["variance_after"] == pytest.approx(a["variance_after"], rel=1e-6)
                # the calibrated values themselves, from the shards FSDP2 keeps
                assert set(got["values"]) == set(base["values"]), where
                for n, v in base["values"].items():
                    assert torch.equal(got["values"][n], v), f"{where}: {n}"
        # DDP's own process group is the one summed over: a DDP over rank 0 alone
        # calibrates on rank 0's half of the batch, as one process on that half does
        half, alone = one[f"{case}/half"], two[f"{case}/ddp_own_group"]
        assert alone["text"] == half["text"] != base["text"]


# ------------------------------------------------------------------------------ CLI

MODEL = """\
from torch import nn

def build_model():
    layers = []
    for _ in range(6):
        layers += [nn.Linear(32, 32), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(32, 4))
"""


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "model.py").write_text(MODEL)
    (tmp_path / "model.pt").write_text("not a checkpoint")
    torch.save(models.batch((128, 32), 1), tmp_path / "batch.pt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str):
    from click.testing import CliRunner

    return CliRunner().invoke(cli, list(args), standalone_mode=False)


def _build(path):
    """``build_model()`` of the model file (the command forgot the module it imported)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("calibrate_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_model()


def test_cli_writes_the_replay_policy_and_apply_reproduces_it(repo):
    result = run("calibrate", "model.py", "--policy", "lsuv", "--data", "batch.pt", "-o", "c.pol")
    assert result.return_value == 0, result.output
    text = (repo / "c.pol").read_text()
    assert text.startswith("# Calibrated by initpolicy: <builtin>/lsuv on batch.pt\n")
    model = _build(repo / "model.py")
    calibrated = initpolicy.load(text)
    initpolicy.apply(model, calibrated)
    again = _build(repo / "model.py")
    initpolicy.apply(again, calibrated)
    assert torch.equal(model[2].weight, again[2].weight)
    variances = output_variances(model, models.batch((128, 32), 1), (nn.Linear,))
    assert all(0.95 <= v <= 1.05 for v in variances.values())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--data", "model.py"), "--data model.py: expected one of .pt, .pth, .safetensors"),
        (("--data", "none.pt"), "--data none.pt: no such file"),
        (("--data", "batch.pt", "-o", "batch.pt"), "-o batch.pt is batch.pt, an input"),
        (("--data", "model.pt"), "--data model.pt: not a readable torch.save file"),
    ],
)
def test_cli_refuses_bad_data_and_destinations_with_exit_2(repo, args, message):
    result = run("calibrate", "model.py", "--policy", "lsuv", *args)
    assert result.return_value == 2 and message in result.output


def test_cli_without_data_says_it_uses_synthetic_inputs(repo):
    result = run("calibrate", "model.py", "--policy", "lsuv")
    assert result.return_value == 0
    assert "note: no --data: calibrating on 64 synthetic examples" in result.output
    assert "# Calibrated by initpolicy: <builtin>/lsuv on synthetic inputs" in result.output


def test_cli_json_has_the_records_and_the_policy(repo):
    import json

    result = run(
        "calibrate", "model.py", "--policy", "lsuv", "--data", "batch.pt", "--format", "json"
    )
    assert result.return_value == 0
    data = json.loads(result.stdout)
    assert [r["layer"] for r in data["layers"]] == [str(2 * k) for k in range(7)]
    assert data["not_converged"] == [] and data["data"] == "float32[128, 32]"
    assert initpolicy.load(data["policy"]).rules


def test_explain_shows_the_wrapper():
    plan = initpolicy.load("lsuv").plan(models.tanh_mlp(1))
    from initpolicy.applier.report import plan_text

    assert "lsuv(orthogonal(gain=1), target=1, tol=0.05, max_iter=10)" in plan_text(plan)


def test_cli_apply_of_a_calibration_policy_exits_2(repo):
    result = run("apply", "model.py", "--policy", "lsuv")
    assert result.return_value == 2
    assert "lsuv calibrates" in result.output
