"""Exit codes, decided in one place (cli.main): 0 ok, 1 lint findings, 2 usage/input/load/plan
error, 130 interrupted; the same under click's test runner and as the installed program."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from initpolicy.cli import trace as cli_trace
from initpolicy.cli.main import (
    EXIT_CODES,
    EXIT_ERROR,
    EXIT_FINDINGS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    cli,
)
from initpolicy.cli.options import Outcome

ROOT = Path(__file__).resolve().parent.parent
#: What click calls the program run as ``python -m initpolicy`` (usage lines, --version).
PROG = "python -m initpolicy"
# two ReLU layers at PyTorch's default init, then a head: torch-default-before-relu
MLP = (
    "import torch\nfrom torch import nn\n"
    "model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))\n"
)


def in_process(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args, prog_name=PROG)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def installed(args: list[str], cwd: Path) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, not another install
        capture_output=True,
        text=True,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_the_codes() -> None:
    assert (EXIT_OK, EXIT_FINDINGS, EXIT_ERROR, EXIT_INTERRUPTED) == (0, 1, 2, 130)
    assert set(EXIT_CODES) == set(Outcome)
    assert EXIT_CODES[Outcome.FINDINGS] == 1 and EXIT_CODES[Outcome.INVALID] == 2


@pytest.mark.slow  # a subprocess, or megabytes of input
@pytest.mark.parametrize(
    ("args", "code", "stderr"),
    [
        # an InitPolicyError: its message alone
        (
            ["lint", "m.py", "--policy", "nosuch.pol"],
            EXIT_ERROR,
            "nosuch.pol: no such file\n",
        ),
        # a policy that does not validate: check's diagnostics, then exit 2
        (["check", "bad.pol"], EXIT_ERROR, None),
        # click's own usage errors
        (["lint", "--no-such-option"], EXIT_ERROR, None),
        (["no-such-command"], EXIT_ERROR, None),
        (["check", "relu_net"], EXIT_OK, ""),
        (["--version"], EXIT_OK, ""),
    ],
    ids=["initpolicy-error", "check-invalid", "bad-option", "bad-command", "ok", "version"],
)
def test_the_test_runner_and_the_program_agree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int, stderr: str | None
) -> None:
    (tmp_path / "m.py").write_text(MLP)
    (tmp_path / "bad.pol").write_text("Linear -> kaiming(fan_in)\n")
    monkeypatch.chdir(tmp_path)
    ours = in_process(args)
    theirs = installed(args, tmp_path)
    assert ours[0] == theirs[0] == code
    assert ours[1:] == theirs[1:]
    if stderr is not None:
        assert ours[2] == stderr
    assert "Traceback" not in theirs[2]


def test_click_usage_errors_exit_2_with_clicks_message() -> None:
    code, out, err = in_process(["apply", "--seed", "x"])
    assert (code, out) == (EXIT_ERROR, "")
    assert "Invalid value for '--seed': seed must be a whole number in [0, 2**63), not x" in err


def test_lint_findings_exit_1_and_exit_zero_makes_them_0(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MLP)
    assert in_process(["lint", "m.py", "--static", "--select", "IP106"])[0] == EXIT_FINDINGS
    assert in_process(["lint", "m.py", "--static", "--select", "IP106", "--exit-zero"])[0] == 0


def test_ctrl_c_exits_130_with_a_short_message(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_trace, "load_model", interrupted)
    code, out, err = in_process(["trace", "m.py"])
    assert (code, out) == (EXIT_INTERRUPTED, "")
    assert err.strip() == "interrupted"


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_ctrl_c_in_the_program_exits_130(tmp_path: Path) -> None:
    # A model file interrupted while it imports (the loader lets KeyboardInterrupt through).
    (tmp_path / "slow.py").write_text("raise KeyboardInterrupt\n")
    code, out, err = installed(["trace", "slow.py"], tmp_path)
    assert (code, out) == (EXIT_INTERRUPTED, "")
    assert err.strip() == "interrupted"
    assert "Aborted" not in err and "Traceback" not in err


def test_apply_has_no_dash_o(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # -o means "this command's report to a file" (lint -o/--output-file); apply's
    # checkpoint is --out only.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.py").write_text(MLP)
    code, _, err = in_process(["apply", "m.py", "--policy", "relu_net", "-o", "x.pt"])
    assert code == EXIT_ERROR and "No such option '-o'" in err
    assert not (tmp_path / "x.pt").exists()
    assert in_process(["apply", "m.py", "--policy", "relu_net", "--out", "x.pt"])[0] == 0
    assert (tmp_path / "x.pt").is_file()
