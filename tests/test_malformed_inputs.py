"""Malformed policies and awkward model files: every command answers with a clean error
(exit 2, the problem named, no traceback) or works.

Runs the click command in-process (one subprocess test checks the real entry point).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from initpolicy.cli.main import cli

MLP = """
import torch
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
"""


def run(*args: str) -> tuple[int, str]:
    """Exit code and stdout + stderr (JSON commands: :func:`run_json`)."""
    result = CliRunner().invoke(cli, list(args))
    out = result.stdout + result.stderr
    # An exception that escaped the commands would be held here, not printed.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in out
    return result.exit_code, out


def run_json(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, json.loads(result.stdout)


def _write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# -- policies ----------------------------------------------------------------------------

BAD_POLICIES: list[tuple[str, str | bytes, str]] = [
    ("garbage", '])-> ->*|(\n"a=.\n', "p.pol:1:1:"),
    # \r (0x0d) ends a line as \n (0x0a) does: 0x80 is on line 3
    ("binary", bytes(range(256)) * 4, "p.pol:3:115: not valid UTF-8 (byte 0x80)"),
    ("latin1", "# caf\xe9\n".encode("latin-1"), "p.pol:1:6: not valid UTF-8 (byte 0xe9)"),
    ("parens", "Linear -> normal(0, " + "(" * 500 + "1" + ")" * 500 + ")\n", "nested more than"),
    ("unary", "Linear -> normal(0, " + "-" * 5000 + "1)\n", "nested more than 100 levels"),
    ("power", "Linear -> normal(0, 1" + "**2" * 3000 + ")\n", "nested more than 100 levels"),
    ("overflow", "Linear -> normal(0, 10**400)\n", "p.pol:1:23: 10 ** 400 is too large"),
    ("long line", 'Linear named "' + "a" * 20000 + '" -> zeros()\n', "rule is too long"),
    ("arrow", "Linear \u2192 zeros()\n", "p.pol:1:8: unexpected character '\u2192' (U+2192)"),
    ("quotes", "Linear named \u201c*.fc\u201d -> zeros()\n", "write '\"' instead"),
    ("nul", "Linear -> zeros()\x00\n", "p.pol:1:18: not a policy: a NUL byte (binary data)"),
    ("cycle", 'use "p.pol"\n', "p.pol:1:5: include cycle: p.pol -> p.pol"),
    ("use dir", 'use "."\n', "p.pol:1:5: use includes policy files, named *.pol: '.' is not one"),
    ("use dir.pol", 'use "d.pol"\n', "p.pol:1:5: cannot read included file d.pol: is a directory"),
    ("too many", "Linear -> zeros()\n" * 10_001, "p.pol:10001:1: too many rules"),
]


@pytest.mark.slow  # a subprocess, or megabytes of input
@pytest.mark.parametrize(
    ("content", "message"), [c[1:] for c in BAD_POLICIES], ids=[c[0] for c in BAD_POLICIES]
)
def test_malformed_policy_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.pol", content)
    (tmp_path / "d.pol").mkdir()
    code, out = run("check", "p.pol")
    assert code == 2 and message in out, out
    _write(tmp_path / "m.py", MLP)
    code, out = run("apply", "m.py", "--policy", "p.pol", "--out", "o.pt")
    assert code == 2 and message in out, out
    assert not (tmp_path / "o.pt").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("adir.pol", "adir.pol: a directory, not a policy file"), ("none.pol", "none.pol")],
)
def test_policy_path_that_is_not_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "adir.pol").mkdir()
    code, out = run("check", name)
    assert code == 2 and message in out


def test_oversized_policy_file_is_refused_before_parsing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "big.pol", b"#" * (17 * 1024 * 1024))
    code, out = run("check", "big.pol")
    assert code == 2 and "big.pol: too large to be a policy (17,825,792 bytes" in out


@pytest.mark.parametrize(
    "content",
    [
        b"Linear before ReLU -> kaiming_normal(fan_in)\r\nbias -> constant(0.01)\r\n",
        b"Linear before ReLU -> kaiming_normal(fan_in)\rbias -> constant(0.01)\r",
        b"\xef\xbb\xbfLinear before ReLU -> kaiming_normal(fan_in)\nbias -> constant(0.01)\n",
        b"Linear\tbefore\tReLU\t->\tkaiming_normal(fan_in)\n\tbias -> constant(0.01)\n",
        "Linear before ReLU -> kaiming_normal(fan_in)  # \u00fcn\u00efc\u00f6d\u00e9 \U0001f600\n"
        'bias -> constant(0.01)  # "\u00e9"\n'.encode(),
    ],
    ids=["crlf", "cr", "bom", "tabs", "unicode comments"],
)
def test_harmless_encodings_parse_like_plain_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "p.pol", content)
    _write(tmp_path / "m.py", MLP)
    code, plan = run_json("explain", "m.py", "--policy", "p.pol", "--format", "json")
    assert code == 0
    rules = {p["name"]: (p["scheme"], (p["rule"] or {}).get("line")) for p in plan["parameters"]}
    assert rules["0.weight"] == ("kaiming_normal", 1)
    assert rules["0.bias"] == rules["2.bias"] == ("constant", 2)


# -- model files -------------------------------------------------------------------------

NET = """
import torch
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a = torch.nn.Linear(4, 4)
        self.b = torch.nn.Linear(4, 2)
"""

BAD_MODELS: list[tuple[str, str, str]] = [
    (
        "import raises",
        'raise RuntimeError("boom")\n',
        "raised an error on import: RuntimeError: boom",
    ),
    ("syntax error", "def f(:\n", "raised an error on import: SyntaxError"),
    ("sys.exit at import", "import sys\nsys.exit(3)\n", "raised an error on import: SystemExit: 3"),
    ("nothing", "x = 1\n", "no model found: define a module-level `model`"),
    ("not a module", 'model = "hello"\n', "no model found"),
    (
        "needs args",
        "import torch\nclass M(torch.nn.Module):\n    def __init__(self, n):\n        super().__init__()\n",
        "every nn.Module class needs arguments: M(n)",
    ),
    (
        "factory raises",
        "def build_model():\n    raise ValueError('nope')\n",
        "build_model() raised: ValueError: nope",
    ),
    ("factory returns int", "def build_model():\n    return 42\n", "build_model() returned a int"),
    (
        "forward raises",
        NET + "    def forward(self, x):\n        raise ValueError('bad input')\nmodel = Net()\n",
        # located at the model's own raise, with no input hint: the input was fine
        "m.py:9: the model's forward raised on the example input (1, 4) float32: "
        "ValueError: bad input\n",
    ),
    (
        "forward calls sys.exit",
        NET + "    def forward(self, x):\n        raise SystemExit(1)\nmodel = Net()\n",
        "m.py:9: the model's forward raised on the example input (1, 4) float32: SystemExit: 1\n",
    ),
    (
        "several inputs",
        NET + "    def forward(self, x, mask):\n"
        "        if mask.sum() > 0: x = x * mask\n"
        "        return self.b(self.a(x))\nmodel = Net()\n",
        "forward needs 2 inputs (x, mask): give one --input-shape per input",
    ),
]


@pytest.mark.parametrize("command", ["trace", "lint", "explain"])
@pytest.mark.parametrize(
    ("source", "message"), [c[1:] for c in BAD_MODELS], ids=[c[0] for c in BAD_MODELS]
)
def test_bad_model_file_is_a_clean_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, source: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "m.py", source)
    args = [command, "m.py"] + (["--policy", "relu_net"] if command == "explain" else [])
    code, out = run(*args)
    assert code == 2, out
    assert message in out, out


OUTPUTS = {
    "dict": 'return {"logits": self.b(h), "hidden": h}',
    "tuple": "return self.b(h), h",
    "dataclass": "return Out(self.b(h), h)",
    "modeloutput": "return ModelOutput(logits=self.b(h), hidden=h)",
}


@pytest.mark.parametrize("kind", sorted(OUTPUTS))
def test_structured_outputs_resolve_to_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    pytest.importorskip("transformers")
    monkeypatch.chdir(tmp_path)
    source = (
        textwrap.dedent(
            """
        import dataclasses, torch
        from transformers.utils import ModelOutput
        @dataclasses.dataclass
        class Out:
            logits: torch.Tensor
            hidden: torch.Tensor
        """
        )
        + NET
        + (
            "    def forward(self, x):\n"
            "        h = torch.tanh(self.a(x))\n"
            "        if h.sum() > 1e9: h = h * 2\n"  # data-dependent: the dynamic tracer runs
            f"        {OUTPUTS[kind]}\nmodel = Net()\n"
        )
    )
    _write(tmp_path / "m.py", source)
    code, graph = run_json("trace", "m.py", "--format", "json")
    assert code == 0
    assert graph["tracer"] == "dynamic"
    assert {lay["name"]: lay["activation"] for lay in graph["layers"]} == {
        "a": "tanh",
        "b": "output",
    }


def test_keyword_only_forward_gets_its_input_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # two ReLU layers at PyTorch's default init, then a head
    src = (
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a, self.b, self.c = (torch.nn.Linear(4, 4) for _ in range(3))\n"
        "    def forward(self, *, x):\n"
        "        return self.c(torch.relu(self.b(torch.relu(self.a(x)))))\n"
        "model = Net()\n"
    )
    _write(tmp_path / "m.py", src)
    code, result = run_json("lint", "m.py", "--format", "json")
    assert code == 1  # findings (torch's default init before ReLU), dynamic checks ran
    assert result["summary"]["dynamic"] == "ran"


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_real_entry_point_exits_2_without_traceback(tmp_path: Path) -> None:
    _write(tmp_path / "p.pol", bytes(range(256)))
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", "check", str(tmp_path / "p.pol")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not valid UTF-8 (byte 0x80)" in proc.stderr and "Traceback" not in proc.stderr
