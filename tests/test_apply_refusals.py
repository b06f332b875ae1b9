"""Apply's transaction includes the device move, and what apply cannot do is a clear
error before anything changes: ``device="meta"`` for a real model, a device that does not
exist, a TorchScript module, an example input too large to allocate."""

from __future__ import annotations

import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

import initpolicy
from initpolicy.applier import execution as execute_module
from initpolicy.cli.main import cli
from initpolicy.errors import UsageError
from initpolicy.tracer.inputs import from_shapes


def _net() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _same(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> bool:
    after = model.state_dict()
    return all(
        after[k].device == v.device and torch.equal(after[k].cpu(), v.cpu())
        for k, v in before.items()
    )


def test_meta_as_the_target_of_a_real_model_is_refused_up_front():
    model = _net()
    before = _state(model)
    with pytest.raises(UsageError, match=r"device='meta' cannot hold the values apply writes"):
        initpolicy.apply(model, "relu_net", device="meta")
    assert _same(model, before) and not any(p.is_meta for p in model.parameters())


def test_meta_as_the_target_of_a_meta_model_is_refused_too():
    with torch.device("meta"):
        model = _net()
    with pytest.raises(UsageError, match=r"device='meta'"):
        initpolicy.apply(model, "relu_net", device="meta")


@pytest.mark.parametrize("device", ["gpu", "cuda:x", 3.5])
def test_what_is_not_a_device_is_a_usage_error(device):
    model = _net()
    before = _state(model)
    with pytest.raises(UsageError, match=r"is not a torch device"):
        initpolicy.apply(model, "relu_net", device=device)
    assert _same(model, before)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_device_the_machine_lacks_is_a_usage_error_and_the_model_stays():
    model = _net()
    before = _state(model)
    with pytest.raises(UsageError, match=r"cannot move the model to cuda"):
        initpolicy.apply(model, "relu_net", device="cuda")
    assert _same(model, before)


def _failing_after_the_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    real = execute_module.write_all

    def write_all(*args, **kwargs):
        real(*args, **kwargs)  # every tensor written, then something fails
        raise RuntimeError("boom")

    monkeypatch.setattr(execute_module, "write_all", write_all)


def test_a_failure_after_the_move_restores_values_devices_and_parameter_objects(monkeypatch):
    model = _net()
    before = _state(model)
    params = [id(p) for p in model.parameters()]
    _failing_after_the_writes(monkeypatch)
    with pytest.raises(RuntimeError, match="boom"):
        initpolicy.apply(model, "relu_net", device="cpu")
    assert _same(model, before) and [id(p) for p in model.parameters()] == params


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_failure_after_a_move_to_cuda_gives_the_model_back_on_the_cpu(monkeypatch):
    model = _net()
    before = _state(model)
    _failing_after_the_writes(monkeypatch)
    with pytest.raises(RuntimeError, match="boom"):
        initpolicy.apply(model, "relu_net", device="cuda")
    assert _same(model, before)


def test_a_successful_move_keeps_the_parameter_objects():
    model = _net()
    params = [id(p) for p in model.parameters()]
    initpolicy.apply(model, "relu_net", device="cpu")
    assert [id(p) for p in model.parameters()] == params


@pytest.mark.parametrize("how", ["script", "trace"])
def test_a_torchscript_module_is_refused_with_what_to_do(how: str):
    net = _net()
    before = _state(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = (
            torch.jit.script(net) if how == "script" else torch.jit.trace(net, torch.zeros(1, 4))
        )
    with pytest.raises(UsageError, match=r"is a TorchScript module .* apply the policy to the"):
        initpolicy.apply(scripted, "relu_net")
    assert _same(net, before)


def test_an_example_input_larger_than_memory_is_a_usage_error():
    with pytest.raises(UsageError) as err:
        from_shapes([(1, 3, 100000, 100000)], [])
    assert str(err.value).startswith(
        "--input-shape 1,3,100000,100000: the example input needs 111.8 GiB (float32), "
        "more than this machine's"
    )


def test_the_cli_reports_an_input_too_large_without_a_traceback(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(
        textwrap.dedent(
            """
            import torch
            model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
            """
        )
    )
    result = CliRunner().invoke(
        cli, ["apply", "m.py", "--policy", "relu_net", "--input-shape", "4000000,4000000"]
    )
    assert result.exit_code == 2
    assert "--input-shape 4000000,4000000: the example input needs" in result.stderr
    assert "Traceback" not in result.output + result.stderr
