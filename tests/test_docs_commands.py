"""Every `$ initpolicy ...` command shown in README.md and docs/*.md runs, exits as a
user would expect (0; lint may say 1 for findings), and prints what the docs show (the
first word of each shown output line, so numbers may vary but the shape may not).

A console block preceded by `<!-- cwd: DIR -->` runs in DIR (relative to the repo root).
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from initpolicy.cli.main import cli
from tests._policy_text import rule_lines

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- cwd: (?P<cwd>\S+) -->\s*\n)?```console\n(?P<body>.*?)```", re.S)


def commands() -> list[tuple[str, str, str, list[str]]]:
    found = []
    for doc in DOCS:
        for m in BLOCK.finditer(doc.read_text(encoding="utf-8")):
            cmd, shown = None, []
            lines = m.group("body").splitlines()
            for line in [*lines, "$ END"]:
                if line.startswith("$ "):
                    if cmd and cmd.startswith("initpolicy"):
                        found.append((doc.name, m.group("cwd") or ".", cmd, shown))
                    cmd, shown = line[2:].split("  #")[0].strip(), []
                elif line.strip() and line.strip() != "...":
                    shown.append(line)
    return found


CASES = commands()


def test_the_docs_show_commands() -> None:
    assert len(CASES) >= 15
    docs = {doc for doc, *_ in CASES}
    assert {"README.md", "tutorial.md", "integrations.md", "lint.md", "tracing.md"} <= docs


@pytest.mark.parametrize(
    ("doc", "cwd", "cmd", "shown"), CASES, ids=[f"{c[0]}:{c[2]}" for c in CASES]
)
def test_documented_command_runs(
    doc: str, cwd: str, cmd: str, shown: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    shutil.copytree(ROOT / "tests" / "models", tmp_path / "tests" / "models")
    monkeypatch.chdir(tmp_path / cwd)
    args = shlex.split(cmd)[1:]
    result = CliRunner().invoke(cli, args)
    allowed = (0, 1) if args[0] == "lint" else (0,)
    assert result.exit_code in allowed, (
        f"{doc}: `{cmd}` exited {result.exit_code}:\n{result.output}"
    )
    for line in shown:
        head = line.split()[0]
        assert head in result.output, f"{doc}: `{cmd}` printed no {head!r}:\n{result.output}"


POLICY_BLOCK = re.compile(r"```text\n(?P<body>.*?)```", re.S)
POLICY_CASES = [
    (doc.name, i, m.group("body"))
    for doc in DOCS
    for i, m in enumerate(POLICY_BLOCK.finditer(doc.read_text(encoding="utf-8")))
    if "->" in m.group("body")
]


def test_the_docs_show_policies() -> None:
    assert {"README.md", "tutorial.md"} <= {doc for doc, *_ in POLICY_CASES}


@pytest.mark.parametrize(("doc", "index", "text"), POLICY_CASES)
def test_documented_policy_parses(doc: str, index: int, text: str) -> None:
    import initpolicy

    policy = initpolicy.load(text)  # raises PolicyError, with the location, if it does not parse
    own = [r.loc.text for r in policy.rules if r.loc.file == "<string>"]
    assert own == rule_lines(text)
