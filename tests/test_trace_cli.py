"""``initpolicy trace``: the text table, the JSON contract, errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests._cli_support import outcome

MODEL = """
import torch.nn as nn

def build_model():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.LeakyReLU(0.2),
                         nn.Flatten(), nn.LazyLinear(10))
"""


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.py"
    path.write_text(textwrap.dedent(MODEL))
    return path


run = outcome


def test_text_table(model_file: Path) -> None:
    code, out, err = run("trace", str(model_file), "--input-shape", "1,3,8,8")
    assert code == 0
    assert out.splitlines() == [
        f"{model_file}: 3 layers, tracer dynamic",
        "depth  name  type         activation                      fan_in  fan_out",
        "0      0     Conv2d       leaky_relu(negative_slope=0.2)  27      72",
        "1      1     BatchNorm2d  leaky_relu(negative_slope=0.2)  8       8",
        "2      4     Linear       output                          288     10",
    ]
    assert (
        err
        == "warning: materialized lazy parameters of 4 by a forward pass on (1, 3, 8, 8) float32\n"
    )


def test_json_contract(model_file: Path) -> None:
    code, out, _err = run("trace", str(model_file), "--format", "json", "--input-shape", "1x3x8x8")
    assert code == 0
    data = json.loads(out)
    assert (data["target"], data["tracer"]) == (str(model_file), "dynamic")
    assert [(lay["name"], lay["activation"], lay["candidates"]) for lay in data["layers"]] == [
        ("0", "leaky_relu", []),
        ("1", "leaky_relu", []),
        ("4", "output", []),
    ]
    assert data["layers"][2]["parameters"][0] == {
        "name": "4.weight",
        "shape": [10, 288],
        "fan_in": 288.0,
        "fan_out": 10.0,
    }


def test_mixed_layers_show_their_candidates() -> None:
    code, out, _err = run("trace", "tests.models.corpus:CalledTwice")
    assert code == 0
    assert "mixed(relu|tanh)" in out


def test_bad_input_shape_is_a_usage_error(model_file: Path) -> None:
    code, _out, err = run("trace", str(model_file), "--input-shape", "1,a")
    assert code == 2
    assert "'1,a' is not a shape; expected positive integers like 1,3,32,32" in err


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "initpolicy", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_errors_exit_2_without_traceback(tmp_path: Path, model_file: Path) -> None:
    missing = _cli("trace", "missing.py", cwd=tmp_path)
    assert (missing.returncode, missing.stdout, missing.stderr) == (
        2,
        "",
        "missing.py: file not found\n",
    )
    rejected = _cli("trace", str(model_file), "--input-shape", "1,4,8,8", cwd=tmp_path)
    assert rejected.returncode == 2
    assert "Traceback" not in rejected.stderr
    assert rejected.stderr.startswith("the model rejected the example input (1, 4, 8, 8) float32")
