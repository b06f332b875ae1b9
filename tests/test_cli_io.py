"""What goes in and out of the command line besides files (docs/cli.md): results alone on
stdout, whatever the model prints (its prints go to stderr); a policy read from stdin
(``-``, ``/dev/stdin``), located as ``<stdin>:line:col``; a directory given as a policy;
``--seed`` checked in the one seed range (catalog/seeds.py) before any model is built.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from initpolicy.cli.main import cli
from initpolicy.language.loader import MAX_BYTES

from ._cli_support import MARKER, TOUCH_MARKER, invoke

ROOT = Path(__file__).resolve().parent.parent
#: A model that prints at import, in __init__ and in forward; and leaves a marker.
CHATTY = f"""\
import pathlib

import torch
from torch import nn

print("chatty: imported")
{TOUCH_MARKER}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        print("chatty: built")
        self.fc1 = nn.Linear(8, 8)
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x):
        print("chatty: forward")
        return self.fc2(torch.relu(self.fc1(x)))


def build_model():
    return Net()
"""
POLICY = "Linear before relu -> kaiming_normal(fan_in)\nbias -> zeros()\n"


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"model.py": CHATTY, "init.pol": POLICY})


run = invoke


def console(
    *args: str, input: str | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The installed program, as a user runs it (real file descriptors, a real stdin)."""
    return subprocess.run(
        [sys.executable, "-m", "initpolicy", *args],
        input=input,
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, not another install
        timeout=timeout,
    )


# -- stdout carries results only -----------------------------------------------------------

JSON_COMMANDS = {
    "trace": ["trace", "model.py"],
    "explain": ["explain", "model.py", "--policy", "init.pol"],
    "apply": ["apply", "model.py", "--policy", "init.pol"],
    "lint": ["lint", "model.py", "--exit-zero"],
    "lint-policy": ["lint", "model.py", "--policy", "init.pol", "--exit-zero"],
    "extract": ["extract", "model.py"],
}


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_json_on_stdout_parses_whatever_the_model_prints(repo: Path, command: str) -> None:
    result = run(*JSON_COMMANDS[command], "--format", "json")
    assert result.exit_code == 0, result.output
    assert isinstance(json.loads(result.stdout), dict)
    assert "chatty" not in result.stdout
    for said in ("chatty: imported", "chatty: built"):
        assert said in result.stderr
    if command != "extract":  # extract runs the init code, never forward
        assert "chatty: forward" in result.stderr


def test_sarif_on_stdout_parses_whatever_the_model_prints(repo: Path) -> None:
    result = run("lint", "model.py", "--format", "sarif", "--exit-zero")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["version"] == "2.1.0"
    assert "chatty" not in result.stdout and "chatty: forward" in result.stderr


@pytest.mark.parametrize("command", ["trace", "explain", "apply", "lint", "extract"])
def test_text_results_carry_no_model_prints(repo: Path, command: str) -> None:
    result = run(*JSON_COMMANDS[command])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() and "chatty" not in result.stdout
    assert "chatty: imported" in result.stderr


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_the_console_program_keeps_stdout_clean(repo: Path) -> None:
    proc = console("lint", "model.py", "--format", "json", "--exit-zero", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert set(json.loads(proc.stdout)) == {"findings", "summary"}
    assert "chatty: imported" in proc.stderr and "chatty: forward" in proc.stderr


# -- a policy from stdin ---------------------------------------------------------------------


def test_check_reads_a_policy_from_stdin() -> None:
    result = run("check", "-", input=POLICY)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "<stdin>: 2 rules ok\n", "")


def test_stdin_is_read_once() -> None:
    result = run("check", "-", "-", input=POLICY)
    assert result.exit_code == 2
    assert "standard input ('-') can be read only once" in result.stderr


def test_an_error_on_stdin_is_located_in_stdin() -> None:
    result = run("check", "-", input="bias -> zeros()\nLinear -> (\n")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "<stdin>:2:11: unbalanced parentheses: this '(' is never closed"
    )


def test_binary_data_on_stdin_is_refused_unechoed() -> None:
    result = run("check", "-", input=b"bias -> zeros()\n\xff\xfesecret\n")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "<stdin>:2:1: not valid UTF-8 (byte 0xff)"
    assert "secret" not in result.output


def test_more_than_a_policy_on_stdin_is_refused() -> None:
    result = run("check", "-", input=b"#" * (MAX_BYTES + 1))
    assert result.exit_code == 2
    assert result.stderr.startswith("<stdin>: too large to be a policy")


def test_a_policy_on_stdin_includes_files_from_the_working_directory(repo: Path) -> None:
    result = run("check", "-", input='use "init.pol"\nLinear -> zeros()\n')
    assert (result.exit_code, result.stdout) == (0, "<stdin>: 3 rules ok (1 included file)\n")


def test_apply_and_explain_take_the_policy_from_stdin(repo: Path) -> None:
    result = run("explain", "model.py", "--policy", "-", "--format", "json", input=POLICY)
    assert result.exit_code == 0, result.output
    rules = {p["name"]: p["rule"] for p in json.loads(result.stdout)["parameters"]}
    assert rules["fc1.weight"] == {"file": "<stdin>", "line": 1, "text": POLICY.splitlines()[0]}
    result = run("apply", "model.py", "--policy", "-", "--out", "init.pt", input=POLICY)
    assert result.exit_code == 0, result.output
    assert (repo / "init.pt").is_file()


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_the_console_program_reads_dev_stdin(tmp_path: Path) -> None:
    ok = console("check", "/dev/stdin", input=POLICY)
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "/dev/stdin: 2 rules ok\n", "")
    bad = console("check", "-", input="Linear before ReLU kaiming_normal(fan_in)\n")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.splitlines()[0] == (
        "<stdin>:1:20: missing '->' between the selector and the scheme"
    )


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_the_console_program_reads_a_pipe_of_its_own(tmp_path: Path) -> None:
    """``check <(git show main:init.pol)``: the shell passes a pipe as ``/dev/fd/N``."""
    read, write = os.pipe()
    os.write(write, POLICY.encode())
    os.close(write)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "initpolicy", "check", f"/dev/fd/{read}"],
            pass_fds=(read,),
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            timeout=60,
        )
    finally:
        os.close(read)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"/dev/fd/{read}: 2 rules ok\n", "")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["f.pol", "fifo"])
def test_a_named_fifo_is_refused_without_blocking(tmp_path: Path, name: str) -> None:
    """Only the process's own descriptors are streams: a FIFO that a policy or a
    pyproject.toml names, which no one writes to, must not hang the command."""
    os.mkfifo(tmp_path / name)
    proc = console("check", name, cwd=tmp_path, timeout=30)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    why = (
        "cannot read: not a regular file"
        if name.endswith(".pol")
        else ("policies are files named *.pol: 'fifo' is not one")
    )
    assert proc.stderr.split("\n")[0] == f"{name}: {why}"


# -- a directory given as a policy -----------------------------------------------------------


@pytest.mark.parametrize("name", ["policies", "policies/", "init.pol.d", "dir.pol"])
def test_a_directory_is_not_a_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).mkdir()
    result = run("check", name)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{name}: a directory, not a policy file",
        "found 1 error in 1 policy",
    ]


@pytest.mark.parametrize("command", ["apply", "explain", "lint"])
def test_a_directory_as_policy_is_refused_before_the_model_is_built(
    repo: Path, command: str
) -> None:
    (repo / "rules").mkdir()
    result = run(command, "model.py", "--policy", "rules")
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0] == "rules: a directory, not a policy file"
    assert not (repo / MARKER).exists()


# -- --seed ----------------------------------------------------------------------------------

SEED_COMMANDS = {
    "apply": ["apply", "model.py", "--policy", "init.pol"],
    "explain": ["explain", "model.py", "--policy", "init.pol"],
    "lint": ["lint", "model.py", "--policy", "init.pol", "--exit-zero"],
}


@pytest.mark.parametrize(
    "seed", ["-1", str(2**63), "9.3e18", "1.5", "1e400", "abc", "0x10", "", " "]
)
@pytest.mark.parametrize("command", SEED_COMMANDS)
def test_a_seed_out_of_range_is_a_usage_error(repo: Path, command: str, seed: str) -> None:
    result = run(*SEED_COMMANDS[command], "--seed", seed)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and result.stdout == ""
    assert (
        "Invalid value for '--seed': seed must be a whole number in [0, 2**63), not "
        in result.stderr
    )
    assert not (repo / MARKER).exists()  # refused while the command line is read


@pytest.mark.parametrize(
    ("text", "seed"),
    [
        ("0", 0),
        (str(2**63 - 1), 2**63 - 1),
        ("123456789012345678", 123456789012345678),
        ("7.0", 7),
        ("1e3", 1000),
    ],
)
def test_a_seed_is_the_exact_integer_it_writes(repo: Path, text: str, seed: int) -> None:
    result = run("apply", "model.py", "--policy", "init.pol", "--seed", text, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["seed"] == seed
    result = run("explain", "model.py", "--policy", "init.pol", "--seed", text, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["seed"] == seed


def test_the_extreme_seeds_draw_different_weights(repo: Path) -> None:
    """The largest seed is used as itself, not wrapped or clipped onto another one."""
    import torch

    states = []
    for seed in ("0", str(2**63 - 1), str(2**63 - 2)):
        out = f"s{len(states)}.pt"
        assert (
            run("apply", "model.py", "--policy", "init.pol", "--seed", seed, "--out", out).exit_code
            == 0
        )
        states.append(torch.load(repo / out)["fc1.weight"])
    assert not torch.equal(states[0], states[1]) and not torch.equal(states[1], states[2])


# -- what an error shows of a policy ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "shown"),
    [
        ("Linear -> zeros() \x1b]0;pwned\x07 ]", "Linear -> zeros() \u241b]0;pwned\u2407 ]"),
        ("Linear -> \x1b[2Jzeros() ]", "Linear -> \u241b[2Jzeros() ]"),
        ('Linear named "\u202ea" -> zeros() ]', 'Linear named "\ufffda" -> zeros() ]'),
        ("Linear -> zeros()\x9b ]", "Linear -> zeros()\ufffd ]"),
        ('Linear named "a\u2028b" -> zeros() ]', 'Linear named "a\ufffdb" -> zeros() ]'),
        ('Linear named "a\u2029b" -> zeros() ]', 'Linear named "a\ufffdb" -> zeros() ]'),
        ('Linear named "\u200ea\u200f" -> zeros() ]', 'Linear named "\ufffda\ufffd" -> zeros() ]'),
        ('Linear named "\u061ca" -> zeros() ]', 'Linear named "\ufffda" -> zeros() ]'),
    ],
    ids=[
        "osc-title",
        "csi-clear",
        "bidi-override",
        "c1-csi",
        "line-sep",
        "para-sep",
        "lrm-rlm",
        "alm",
    ],
)
def test_an_error_shows_control_characters_never_sends_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str, shown: str
) -> None:
    """A policy may come from a pull request: its escape sequences must not reach the
    terminal or the CI log. Each is shown as one symbol, so the caret stays in place."""
    monkeypatch.chdir(tmp_path)
    Path("evil.pol").write_text(line + "\n", encoding="utf-8")
    result = run("check", "evil.pol")
    assert result.exit_code == 2
    located, source, caret = result.stderr.split("\n")[:3]
    assert re.fullmatch(r"evil\.pol:1:\d+: .+", located)
    column = int(located.split(":")[2])
    assert source == "    " + shown
    # one symbol for one character: the caret is under the character the error names
    assert caret.startswith(" " * (4 + column - 1) + "^")
    assert not re.search(_UNSHOWN, result.stderr)


#: What a terminal or a log viewer acts on instead of showing.
_UNSHOWN = r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"


@pytest.mark.parametrize("where", ["build", "warning"])
def test_a_models_exception_text_is_shown_never_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """A model's own exception text (here with an OSC title sequence, BEL, a bidi override
    and a line separator) is quoted in the error, as symbols."""
    monkeypatch.chdir(tmp_path)
    evil = "\x1b]0;pwned\x07 \u202e \u2028 x"
    body = (
        f"def build_model():\n    raise RuntimeError({evil!r})\n"
        if where == "build"
        else "import torch\n\n\nclass M(torch.nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n"
        "        self.fc = torch.nn.Linear(2, 2)\n\n"
        f"    def forward(self, x):\n        raise RuntimeError({evil!r})\n\n\n"
        "def build_model():\n    return M()\n"
    )
    Path("model.py").write_text(body, encoding="utf-8")
    result = run("trace", "model.py")
    assert "pwned" in result.stderr, result.stderr
    assert not re.search(_UNSHOWN, result.stderr), ascii(result.stderr)


def test_explain_shows_a_control_character_of_a_policy_as_a_symbol(repo: Path) -> None:
    # A valid policy whose name pattern holds an escape sequence (clear the screen): the
    # plan's table shows it, as an error message would, and never passes it on.
    (repo / "esc.pol").write_text('Linear named "*\x1b[2J" -> zeros()\nLinear -> zeros()\n')
    # color=True: as on a terminal (click strips escape sequences only from a pipe)
    result = CliRunner().invoke(cli, ["explain", "model.py", "--policy", "esc.pol"], color=True)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output
    assert "␛[2J" in result.stdout
