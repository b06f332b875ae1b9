"""Every `$ initpolicy ...` command shown in README.md and docs/*.md runs, exits as a
user would expect (0; lint may say 1 for findings), and prints every line the docs show
under it, exactly (tests/doc_commands.py; `python -m tests.doc_commands --update` rewrites
the shown output after a change that moves it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from tests._policy_text import rule_lines
from tests.doc_commands import DOCS, ROOT, Shown, commands, missing, run

CASES = commands()


def test_the_docs_show_commands() -> None:
    assert len(CASES) >= 15
    docs = {s.doc.name for s in CASES}
    assert {"README.md", "tutorial.md", "integrations.md", "lint.md", "tracing.md"} <= docs


@pytest.mark.parametrize("shown", CASES, ids=[s.id for s in CASES])
def test_documented_command_prints_what_the_docs_show(shown: Shown, tmp_path: Path) -> None:
    code, printed = run(shown, tmp_path)
    allowed = (0, 1) if shlex.split(shown.cmd)[1] == "lint" else (0,)
    output = "\n".join(printed)
    assert code in allowed, f"{shown.doc.name}: `{shown.cmd}` exited {code}:\n{output}"
    gone = missing(shown, printed)
    assert gone is None, (
        f"{shown.doc.name}: `{shown.cmd}` no longer prints\n"
        + "\n".join(gone)
        + f"\n\nit printed:\n{output}\n(python -m tests.doc_commands --update rewrites the docs)"
    )


def test_a_changed_line_is_caught() -> None:
    """The check reads whole lines: one changed number fails it."""
    shown = Shown(Path("x.md"), ".", "initpolicy x", ("a 0.40x", "...", "z"), 0, 0)
    assert missing(shown, ["a 0.40x", "b", "z"]) is None
    assert missing(shown, ["a 0.42x", "b", "z"]) == ["a 0.40x"]
    assert missing(shown, ["z", "a 0.40x"]) == ["z"]  # in order


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


WRITES = ("-o", "--output-file", "--out", "--fix-policy", "--plot")
WRITTEN = [
    (shown, args[i + 1])
    for shown in CASES
    for args in [shlex.split(shown.cmd)]
    for i, a in enumerate(args[:-1])
    if a in WRITES
]


def test_the_docs_show_commands_that_write_files() -> None:
    assert len(WRITTEN) >= 4


@pytest.mark.parametrize(("shown", "name"), WRITTEN, ids=[f"{s.id}:{n}" for s, n in WRITTEN])
def test_a_documented_command_run_in_the_clone_writes_only_ignored_files(
    shown: Shown, name: str
) -> None:
    """Run verbatim in a clone, the docs' commands leave nothing that git would pick up."""
    import subprocess

    path = (ROOT / shown.cwd / name).resolve().relative_to(ROOT)
    check = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT)
    if check.returncode == 128:
        pytest.skip("not a git checkout")
    assert check.returncode == 0, f"{shown.id} writes {path}, which git does not ignore"
