"""Golden policy cases as data: tests/data/policies/{good,bad}/*.pol.

Each good ``X.pol`` has ``X.out``: its rules printed one per line by the language's
printer, every argument by name and every operation in parentheses, so precedence,
binding and folding are visible (and each line is itself a policy rule). Each bad ``X.pol`` has ``X.err``: the
exact error text a user sees. After a deliberate language change, regenerate with
``INITPOLICY_REGOLD=1 pytest tests/test_parser_golden.py`` and review the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from initpolicy.errors import PolicyError
from initpolicy.language import printer
from initpolicy.language.ir import PolicyIR
from initpolicy.language.loader import parse_file

DATA = Path(__file__).parent / "data" / "policies"
BUILTINS = {p.stem: p for p in sorted((DATA / "builtin").glob("*.pol"))}
GOOD = sorted((DATA / "good").glob("*.pol"))
BAD = sorted((DATA / "bad").glob("*.pol"))
REGOLD = os.environ.get("INITPOLICY_REGOLD") == "1"


def render(ir: PolicyIR) -> str:
    lines = [f"seed: {ir.seed}", f"files: {', '.join(ir.files)}"]
    for r in ir.rules:
        where = f"{r.loc.file}:{r.loc.line}:{r.loc.column}"
        lines.append(
            f"{r.index} {where} | {printer.rule_text(r.selector, r.scheme, explicit=True)}"
        )
        lines.append(f"    text: {r.loc.text}")
    return "\n".join(lines) + "\n"


@pytest.fixture(autouse=True)
def _stand_in_builtins(monkeypatch: pytest.MonkeyPatch) -> None:
    # The built-in library grows; the golden messages must not change with it.
    monkeypatch.setattr("initpolicy.language.loader.builtin_policies", lambda: dict(BUILTINS))


def _compare(path: Path, actual: str) -> None:
    if REGOLD:
        path.write_text(actual, encoding="utf-8")
    assert path.exists(), f"missing golden file {path.name}; run with INITPOLICY_REGOLD=1"
    assert actual == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("path", GOOD, ids=[p.stem for p in GOOD])
def test_good_policy(path: Path) -> None:
    ir = parse_file(path, path.name)
    _compare(path.with_suffix(".out"), render(ir))


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_bad_policy(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(path.parent)  # file names in messages are relative, as a user types them
    with pytest.raises(PolicyError) as info:
        parse_file(path.name)
    _compare(path.with_suffix(".err"), str(info.value) + "\n")


def test_every_golden_case_has_its_expected_file() -> None:
    missing = [p.name for p in GOOD if not p.with_suffix(".out").exists()]
    missing += [p.name for p in BAD if not p.with_suffix(".err").exists()]
    assert missing == []
    assert len(GOOD) >= 10 and len(BAD) >= 25
