"""The rule registry is the explicit tuple ``initpolicy.linter.rules.RULES``: codes and
names unique, every rule implements the one interface, and listing rules stays torch-free."""

from __future__ import annotations

import subprocess
import sys

import pytest

from initpolicy.errors import UsageError
from initpolicy.linter.registry import all_rules, get_rule
from initpolicy.linter.rule import LintRule
from initpolicy.linter.rules import RULES


def test_codes_and_names_are_unique():
    codes = [r.code for r in RULES]
    names = [r.name for r in RULES]
    assert len(set(codes)) == len(codes) == 32
    assert len(set(names)) == len(names)


def test_all_rules_are_the_tuple_sorted_by_code():
    assert all_rules() == sorted(RULES, key=lambda r: r.code)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.code)
def test_every_rule_implements_check(rule):
    assert issubclass(rule, LintRule)
    assert rule.check.__func__ is not LintRule.check.__func__


def test_unknown_rule_suggests_the_closest():
    with pytest.raises(UsageError, match=r"unknown lint rule 'IP1O3' \(did you mean IP103\?\)"):
        get_rule("IP1O3")


def test_listing_rules_does_not_import_torch():
    code = "import sys; import initpolicy.linter.registry as r; r.all_rules(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
