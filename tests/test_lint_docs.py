"""docs/lint.md is generated from the rules' docstrings and must be current; every rule
documents what, why, an anti-pattern and a fix. (The modules' doctests run once, collected by
pytest's --doctest-modules.)"""

from __future__ import annotations

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
