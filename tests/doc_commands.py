"""The `$ initpolicy ...` commands that README.md and docs/*.md show, with the output they
show, run for real: the test (tests/test_docs_commands.py) checks every shown line, and

    python -m tests.doc_commands --update

rewrites the shown lines from what the commands print today, so that no number in the
docs is typed by hand.

A console block preceded by `<!-- cwd: DIR -->` runs in DIR (relative to the repo root).
A line `...` in a shown output stands for lines left out; every other shown line must be
printed, in order, with the lines of each stretch between two `...` printed consecutively.
Commands run in a temporary copy of examples/ and tests/models/, so nothing they write
lands in the clone.
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"(?:<!-- cwd: (?P<cwd>\S+) -->\s*\n)?```console\n(?P<body>.*?)```", re.S)
ELLIPSIS = "..."


@dataclass(frozen=True)
class Shown:
    """One `$ initpolicy ...` line of a doc and the output lines it shows under it."""

    doc: Path
    cwd: str
    cmd: str
    lines: tuple[str, ...]
    #: Character offsets in the doc of the shown output (for --update).
    start: int
    end: int

    @property
    def id(self) -> str:
        return f"{self.doc.name}:{self.cmd}"

    @property
    def stretches(self) -> list[list[str]]:
        """The shown lines split at each `...`: each stretch is printed consecutively."""
        out: list[list[str]] = [[]]
        for line in self.lines:
            if line.strip() == ELLIPSIS:
                out.append([])
            else:
                out[-1].append(line)
        return [s for s in out if s]


def commands(docs: list[Path] = DOCS) -> list[Shown]:
    found: list[Shown] = []
    for doc in docs:
        text = doc.read_text(encoding="utf-8")
        for m in BLOCK.finditer(text):
            body_start = m.start("body")
            offset = body_start
            cmd: str | None = None
            lines: list[str] = []
            out_start = offset
            for raw in [*m.group("body").splitlines(keepends=True), "$ END\n"]:
                line = raw.rstrip("\n")
                if line.startswith("$ "):
                    if cmd is not None and cmd.startswith("initpolicy"):
                        found.append(
                            Shown(doc, m.group("cwd") or ".", cmd, tuple(lines), out_start, offset)
                        )
                    cmd, lines = line[2:].split("  #")[0].strip(), []
                    out_start = offset + len(raw)
                elif line.strip():
                    lines.append(line.rstrip())
                offset += len(raw)
    return found


def run(shown: Shown, workdir: Path) -> tuple[int, list[str]]:
    """Run ``shown.cmd`` as the docs do; its exit code and output lines (stdout + stderr)."""
    from click.testing import CliRunner

    from initpolicy.cli.main import cli

    shutil.copytree(ROOT / "examples", workdir / "examples")
    shutil.copytree(ROOT / "tests" / "models", workdir / "tests" / "models")
    here = os.getcwd()
    os.chdir(workdir / shown.cwd)
    try:
        result = CliRunner().invoke(cli, shlex.split(shown.cmd)[1:])
    finally:
        os.chdir(here)
    return result.exit_code, [line.rstrip() for line in result.output.splitlines()]


def missing(shown: Shown, printed: list[str]) -> list[str] | None:
    """The first stretch of shown lines not printed as shown (consecutively, in order), or
    None where every stretch is."""
    at = 0
    for stretch in shown.stretches:
        n = len(stretch)
        for i in range(at, len(printed) - n + 1):
            if printed[i : i + n] == stretch:
                at = i + n
                break
        else:
            return stretch
    return None


def updated(shown: Shown, printed: list[str]) -> list[str]:
    """The shown lines rewritten from ``printed``: each shown line becomes the printed line
    most like it (difflib's ratio), in order, keeping the `...` where they were; a shown
    output without `...` becomes the whole output."""
    if not shown.lines:
        return []
    if ELLIPSIS not in [line.strip() for line in shown.lines]:
        return printed
    out: list[str] = []
    at = 0
    for line in shown.lines:
        if line.strip() == ELLIPSIS or at >= len(printed):
            out.append(line)
            continue
        best = max(
            range(at, len(printed)),
            key=lambda i: difflib.SequenceMatcher(None, line, printed[i]).ratio(),
        )
        out.append(printed[best])
        at = best + 1
    return out


def update(docs: list[Path] = DOCS) -> int:
    """Rewrite every doc's shown output from what its commands print; the number changed."""
    changed = 0
    for doc in docs:
        shown = commands([doc])
        if not shown:
            continue
        text = doc.read_text(encoding="utf-8")
        for s in reversed(shown):  # from the end, so earlier offsets stay valid
            with tempfile.TemporaryDirectory() as tmp:
                _, printed = run(s, Path(tmp))
            new = updated(s, printed)
            if tuple(new) != s.lines:
                changed += 1
                body = "".join(line + "\n" for line in new)
                text = text[: s.start] + body + text[s.end :]
        doc.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":  # python -m tests.doc_commands --update
    if sys.argv[1:] != ["--update"]:
        sys.exit("usage: python -m tests.doc_commands --update")
    print(f"{update()} shown output(s) rewritten")
