"""Fuzz of the real command line: mutated policies through ``initpolicy check``,
``initpolicy explain MODEL --policy P --format json`` and
``initpolicy apply MODEL --policy P --out OUT``; mutated model files (hostile module
names, init code that raises or exits, dtypes) through the commands that generate
policies (``lint --fix-policy``, ``extract -o``) and print names (``trace``, ``explain``).

The shipped policies (policies/*.pol, examples/*.pol) are mutated: characters deleted,
inserted or replaced, lines spliced in from other policies, duplicated or dropped,
unicode, huge numbers, unbalanced parentheses and very long lines inserted, rules that
parse but cannot be planned, bytes that are not UTF-8. Whatever comes out, each command

* exits 0 or 2, never 1 (lint's alone) nor a crash, and prints no traceback;
* on exit 2 reports every error as ``file:line:col: message``, and passes no control
  character of the policy on to the terminal;
* agrees with the other: a policy ``check`` refuses, ``apply`` refuses with the same
  first message (``apply`` alone may refuse a valid policy: a plan error), and
  ``explain`` refuses exactly what ``apply`` refuses, and otherwise prints JSON only;
* and ``apply`` leaves OUT whole on success, and no OUT and no temporary file on failure.

Most cases run in process (click's runner, the code path of the installed program); a
sample runs ``python -m initpolicy`` in a subprocess. Reproducible (derandomized);
``--hypothesis-profile thorough`` runs 5,000 (tests/conftest.py, docs/guarantees.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from initpolicy.cli.main import cli

#: It fuzzes the command line, in process and as a program: minutes.
#: one worker runs the module (its module fixture is costly): see tests/conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cli_fuzz")]

ROOT = Path(__file__).resolve().parent.parent
#: The Hypothesis profile's example count (tests/conftest.py: ci 300, dev 30, thorough 5000).
EXAMPLES = settings.default.max_examples
#: A subprocess costs a Python (and, for a valid policy, a torch) start-up, about a second:
#: a sample, a fifteenth of the cases and at most 100.
SUBPROCESS_EXAMPLES = max(1, min(EXAMPLES // 15, 100))

SOURCES = [
    p.read_text(encoding="utf-8")
    for p in sorted([*ROOT.glob("policies/*.pol"), *ROOT.glob("examples/*.pol")])
]
#: Lines that parse but cannot be planned for MODEL (apply's own refusals).
PLAN_ERRORS = [
    "Linear -> normal(0, 1 / (fan_in - 8))",
    "Embedding -> constant(1e39)",
    "(Linear|Conv1d) -> uniform(-2**200, 2**200)",
    "Linear before tanh -> normal(0, 1 / (gain - 5 / 3))",
]
LINES = sorted({line for text in SOURCES for line in text.splitlines() if line.strip()})

#: A model with a layer of each kind the shipped policies name (LSTM gates, convolutions,
#: embeddings, norms, attention), small enough to trace and write in milliseconds.
MODEL = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(16, 8)
        self.conv = nn.Conv1d(8, 8, 3, padding=1)
        self.norm = nn.LayerNorm(8)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 8)
        self.head = nn.Linear(8, 16)

    def forward(self, ids):
        x = self.emb(ids)
        x = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        x = self.norm(x)
        x = x + self.attn(x, x, x, need_weights=False)[0]
        x, _ = self.lstm(x)
        return self.head(torch.tanh(self.fc(x)))


def build_model():
    return Net()


def example_inputs():
    return torch.zeros(1, 4, dtype=torch.long)
"""

NUMBERS = ["1e308", "1e309", "-1e999", "9" * 400, "0.0000000001e-400", str(2**64), "nan", "inf"]
NUMBERS += ["-0", "1e-320", "2**1023", "10**10**10", "0x10", "1_000"]
PIECES = ["(", ")", "((((((((", "))", "[", "]", "[forget]", '"', "'", "#", "->", ",", "=", "*"]
PIECES += ["use ", 'use "x.pol"', "use relu_net", "let ", "seed ", "where ", " before ", " named "]
PIECES += [" in ", " after ", "count(Linear)", "sqrt(", "gain", "fan_in", "\\", "\t", "\r", "\n"]
PIECES += ["\x00", "\x0c", "\ufeff", "\u200b", "\u202e", "é", "Linéar", "ℒinear", "𝐋", "日本", "🙂"]
CHARS = st.characters(blacklist_categories=("Cs",))


@st.composite
def _piece(draw: st.DrawFn) -> str:
    """Something to insert: the language's own tokens, numbers, any unicode, or a lot."""
    kind = draw(st.sampled_from(["piece", "number", "unicode", "long", "deep"]))
    if kind == "piece":
        return draw(st.sampled_from(PIECES))
    if kind == "number":
        return draw(st.sampled_from(NUMBERS))
    if kind == "unicode":
        return draw(st.text(CHARS, min_size=1, max_size=8))
    if kind == "long":  # a very long line: a name, a sum, or one repeated token
        unit = draw(st.sampled_from(["x", "1+", "Linear|", " ", "-(", "a"]))
        return unit * draw(st.integers(1_000, 20_000))
    depth = draw(st.integers(50, 2_000))  # nesting, balanced or not
    return "(" * depth + "1" + ")" * draw(st.sampled_from([0, depth, depth // 2]))


def _char_edit(draw: st.DrawFn, text: str) -> str:
    i = draw(st.integers(0, len(text)))
    j = min(len(text), i + draw(st.integers(0, 12)))
    how = draw(st.sampled_from(["delete", "insert", "replace"]))
    if how == "delete":
        return text[:i] + text[j:]
    new = draw(_piece())
    return text[:i] + new + (text[i:] if how == "insert" else text[j:])


def _line_edit(draw: st.DrawFn, text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines)))
    how = draw(st.sampled_from(["splice", "plan", "duplicate", "drop", "join"]))
    if how == "splice":  # a line of another policy
        lines.insert(at, draw(st.sampled_from(LINES)) + "\n")
    elif how == "plan":  # a rule that parses but cannot be planned
        lines.insert(at, draw(st.sampled_from(PLAN_ERRORS)) + "\n")
    elif lines and how == "duplicate":
        lines.insert(at, lines[min(at, len(lines) - 1)])
    elif lines and how == "drop":
        del lines[min(at, len(lines) - 1)]
    elif lines:  # two lines made one
        k = min(at, len(lines) - 1)
        lines[k] = lines[k].rstrip("\n")
    return "".join(lines)


@st.composite
def policies(draw: st.DrawFn) -> bytes:
    """A shipped policy, mutated 1 to 6 times; sometimes with bytes that are not UTF-8."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 6))):
        edit = draw(st.sampled_from([_char_edit, _char_edit, _line_edit]))
        text = edit(draw, text)
    data = text.encode("utf-8")
    if draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(data)))
        data = (
            data[:i]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x80"]))
            + data[i:]
        )
    return data


#: One command line: its arguments -> (exit code, stdout, stderr).
Runner = Callable[[list[str]], tuple[int, str, str]]


def in_process(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        tb = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"initpolicy {' '.join(args)} raised:\n{tb}")
    return result.exit_code, result.stdout, result.stderr


def console(args: list[str]) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", *args],
        capture_output=True,
        text=True,
        errors="replace",
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, not another install
        timeout=300,
    )
    return proc.returncode, proc.stdout, proc.stderr


#: What a message must never pass on to a terminal or a CI log: control characters (an
#: escape sequence can retitle a window, write the clipboard, hide text) and the bidi
#: controls that reorder what is shown.
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

#: The first line of a diagnostic: ``file:line:col: message``.
LOCATED = re.compile(r"(?P<file>.+?):(?P<line>\d+):(?P<col>\d+): \S")


def _assert_located(stderr: str, policy: Path) -> None:
    """Every diagnostic (a line that is not a shown source line, a caret, a hint or the
    count) is located, and the first one in the policy given."""
    heads = [
        line
        for line in stderr.split("\n")  # not splitlines(): a shown line may hold \x1c-\x1e
        if line and not line.startswith(" ") and not re.fullmatch(r"found \d+ errors? in .*", line)
    ]
    assert heads, stderr
    assert not CONTROLS.search(stderr), f"a control character reaches the terminal: {stderr!r}"
    for line in heads:
        assert LOCATED.match(line), f"not located: {line!r}\n{stderr}"
    assert heads[0].startswith(f"{policy}:"), stderr


def _assert_nothing_left(out_dir: Path, expected: set[str]) -> None:
    assert set(os.listdir(out_dir)) == expected


def check_one(run: Runner, model: Path, data: bytes) -> tuple[int, int]:
    """Run ``check``, ``explain`` and ``apply`` on the policy ``data``; assert the
    contract; return the exit codes of check and apply."""
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        policy = where / "fuzz.pol"
        policy.write_bytes(data)
        out = where / "init.pt"

        code, stdout, stderr = run(["check", str(policy)])
        assert code in (0, 2), (code, stderr)
        assert "Traceback" not in stderr
        if code == 0:
            assert stdout.startswith(f"{policy}: ") and stderr == ""
        else:
            assert stdout == ""
            _assert_located(stderr, policy)

        explained, stdout_e, stderr_e = run(
            ["explain", str(model), "--policy", str(policy), "--format", "json"]
        )
        assert explained in (0, 2), (explained, stderr_e)
        assert "Traceback" not in stderr_e
        if explained == 0:  # the plan, as JSON on stdout and nothing else
            assert {e["name"] for e in json.loads(stdout_e)["parameters"]} >= {"fc.weight"}
        else:
            assert stdout_e == ""
            _assert_located(stderr_e, policy)

        applied, stdout_a, stderr_a = run(
            ["apply", str(model), "--policy", str(policy), "--out", str(out)]
        )
        assert applied in (0, 2), (applied, stderr_a)
        assert "Traceback" not in stderr_a
        # explain plans what apply writes: both refuse a policy, or neither; except that
        # apply refuses a calibration (lsuv) without data, which explain shows
        calibration = applied == 2 and "on data, and none was given" in stderr_a
        assert explained == applied or (explained == 0 and calibration), (stderr_e, stderr_a)
        if code == 2:  # the same loader refuses it, with the same first message
            assert applied == 2
            assert stderr_a.split("\n")[0] == stderr.split("\n")[0]
        if applied == 2:
            assert stdout_a == ""
            _assert_located(stderr_a, policy)
            _assert_nothing_left(where, {"fuzz.pol"})
        else:
            assert stdout_a.splitlines()[-1] == f"wrote {out}"
            _assert_nothing_left(where, {"fuzz.pol", "init.pt"})
            assert set(torch.load(out)) >= {"fc.weight", "lstm.weight_hh_l0"}
        return code, applied


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz-model") / "model.py"
    path.write_text(MODEL)
    return path


FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@settings(FUZZ, max_examples=EXAMPLES)
@given(data=policies())
def test_mutated_policies_through_check_and_apply(model: Path, data: bytes) -> None:
    event("check {}, apply {}".format(*check_one(in_process, model, data)))


@settings(FUZZ, max_examples=SUBPROCESS_EXAMPLES)
@given(data=policies())
def test_mutated_policies_through_the_console_program(model: Path, data: bytes) -> None:
    event("check {}, apply {}".format(*check_one(console, model, data)))


def test_the_model_takes_the_shipped_policies(model: Path) -> None:
    """The fuzz starts from valid policies that the model takes: each checks and applies."""
    for text in SOURCES:
        applied = 2 if "lsuv(" in text else 0  # a calibration needs data: apply refuses it
        assert check_one(in_process, model, text.encode("utf-8")) == (0, applied), text


# -- mutated model files and generated names ---------------------------------------------
#
# The commands that generate policy text (``lint --fix-policy``, ``extract -o``) and the
# ones that print a model's names (``trace``, ``explain``) on model files whose module
# names are anything torch accepts (quotes, line breaks, escape sequences, globs, comment
# marks, a rule's arrow), whose init code raises or exits, and whose dtype varies. Each
# command exits 0, 1 (lint) or 2, never crashes; nothing it prints holds a control
# character; every policy it writes holds none either, parses, reads back the same through
# the printer, and each of its ``named`` globs matches a module of the model: a name never
# becomes syntax.

HOSTILE = [
    'x" -> zeros()\nLinear -> constant(1000)\n#',
    "fc\x1b]0;title\x07",
    "a*b",
    "fc[1]",
    "w?",
    "line\u2028sep",
    "#comment",
    " -> ones()",
    '"',
    "\u202eevil",
    "é日本🙂",
]
NAME = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="."),
        min_size=1,
        max_size=12,
    ),
)
INITS = [
    "pass",
    "[nn.init.zeros_(m.bias) for m in self.children()]",
    "[nn.init.constant_(m.weight, 0.3) for m in self.children()]",
    "raise RuntimeError('init failed \\x1b[2J\\u202e')",
    "sys.exit(3)",
]
MODEL_FILE = """\
import sys

import torch
from torch import nn

NAMES = {names!r}


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        for name, layer in zip(NAMES, [nn.Linear(8, 8), nn.Linear(8, 8), nn.Linear(8, 4)]):
            self.add_module(name, layer)
        {init}

    def forward(self, x):
        for m in self.children():
            x = {act}(m(x))
        return x


def build_model():
    return Net(){dtype}
"""


@st.composite
def model_files(draw: st.DrawFn) -> tuple[str, list[str]]:
    names = [f"{n}{i}" for i, n in enumerate(draw(st.lists(NAME, min_size=3, max_size=3)))]
    text = MODEL_FILE.format(
        names=names,
        init=draw(st.sampled_from(INITS)),
        act=draw(st.sampled_from(["torch.relu", "torch.tanh", ""])),
        dtype=draw(st.sampled_from(["", ".double()", ".half()"])),
    )
    return text, names


def _assert_written_policy(path: Path, names: list[str]) -> None:
    import fnmatch

    from initpolicy.language import printer
    from initpolicy.language.loader import parse

    text = path.read_text(encoding="utf-8")
    assert not CONTROLS.search(text.replace("\n", "")), f"control character written: {text!r}"
    assert not re.search("[\u2028\u2029\x85]", text), text
    ir = parse(text, str(path))
    assert printer.same_rules(parse(printer.policy(ir)), ir)
    for rule in ir.rules:
        glob = rule.selector.named
        if glob is not None:
            assert any(fnmatch.fnmatchcase(n, glob) for n in names), (glob, names, text)


def check_model(run: Runner, source: str, names: list[str]) -> tuple[int, ...]:
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        model = where / "net.py"
        model.write_text(source, encoding="utf-8")
        (where / "p.pol").write_text("Linear -> normal(0, 0.02)\nbias -> zeros()\n")
        commands = [
            ["lint", str(model), "--static", "--fix-policy", str(where / "fixed.pol")],
            ["extract", str(model), "-o", str(where / "ext.pol")],
            ["trace", str(model)],
            ["explain", str(model), "--policy", str(where / "p.pol")],
        ]
        codes = []
        for args in commands:
            code, stdout, stderr = run(args)
            allowed = (0, 1, 2) if args[0] == "lint" else (0, 2)
            assert code in allowed, (args, code, stderr)
            assert "Traceback" not in stderr and "internal error" not in stderr, stderr
            for text in (stdout, stderr):
                assert not CONTROLS.search(text.replace("\n", "")), (args, text)
            codes.append(code)
        for written in ("fixed.pol", "ext.pol"):
            if (where / written).exists():
                _assert_written_policy(where / written, names)
        return tuple(codes)


MODEL_EXAMPLES = max(10, EXAMPLES // 10)


@pytest.mark.slow
@settings(FUZZ, max_examples=MODEL_EXAMPLES)
@given(case=model_files())
def test_mutated_model_files_and_generated_names(case: tuple[str, list[str]]) -> None:
    source, names = case
    event(
        "lint {}, extract {}, trace {}, explain {}".format(*check_model(in_process, source, names))
    )
