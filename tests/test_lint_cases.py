"""Every rule's own test cases (``Rule.cases``): each must fire, or stay silent, on its
target. The cases are data in initpolicy/lint_*.py, so docs and tests cannot drift."""

from __future__ import annotations

import importlib.util

import pytest

from initpolicy.linter.core import all_rules

from .test_lint_helpers import run_case

CASES = [(r, c) for r in all_rules() for c in r.cases]
HAVE_PARSER = importlib.util.find_spec("initpolicy.language.loader") is not None


def test_every_rule_has_a_failing_and_a_passing_case():
    for r in all_rules():
        assert any(c.fires for c in r.cases), r.code
        assert any(not c.fires for c in r.cases), r.code


@pytest.mark.parametrize(("rule", "case"), CASES, ids=[f"{r.code}-{c.title}" for r, c in CASES])
def test_case(rule, case):
    if case.policy is not None and not HAVE_PARSER:
        pytest.skip("parser not available yet")
    result = run_case(case)
    hits = [f for f in result.all_findings if f.code == rule.code]
    on_target = [f for f in hits if case.target is None or f.target == case.target]
    if case.fires:
        assert on_target, f"{rule.name} did not fire on {case.target}: {[f.target for f in hits]}"
        f = on_target[0]
        assert (f.code, f.name, f.severity) == (rule.code, rule.name, rule.severity)
    else:
        assert not on_target, [f.message for f in on_target]
