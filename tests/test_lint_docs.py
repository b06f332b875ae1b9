"""docs/lint.md is generated from the rules' docstrings and must be current; every rule
documents what, why, an anti-pattern and a fix; the lint modules' doctests hold."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

from initpolicy.linter.docs import markdown
from initpolicy.linter.registry import all_rules

DOC = Path(__file__).resolve().parents[1] / "docs" / "lint.md"


def test_docs_lint_md_is_current():
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/lint.md is stale: run `python -m initpolicy.linter.docs > docs/lint.md`"
    )


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_rule_is_documented(rule):
    sections = rule.sections()
    for name in ("What", "Why", "Anti-pattern", "Fix"):
        assert sections.get(name), f"{rule.code} lacks {name}"
    assert rule.code[:3] in ("IP1", "IP2", "IP3") and rule.name == rule.name.lower()
    assert {"static": "IP1", "dynamic": "IP2", "policy": "IP3"}[rule.kind] == rule.code[:3]
    assert f"### {rule.code} {rule.name}" in DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "module",
    [
        "linter.bands",
        "linter.docs",
        "linter.families",
        "linter.findings",
        "linter.fix",
        "linter.output",
        "linter.probe",
        "linter.registry",
        "linter.rule",
        "linter.rules.depth",
        "linter.rules.static",
        "linter.subject",
        "linter.thresholds",
    ],
)
def test_doctests(module):
    mod = importlib.import_module(f"initpolicy.{module}")
    result = doctest.testmod(mod)
    assert result.failed == 0 and result.attempted > 0
