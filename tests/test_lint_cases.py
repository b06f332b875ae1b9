"""Every rule's test cases, as data: tests/data/lint/CODE.toml holds passing and failing
examples for the rule CODE (as ruff keeps fixtures per code and sqlfluff test cases per
rule). Each ``[[case]]`` lints one small model and says whether the rule fires on
``target``; where it fires, the finding must match exactly.

Keys of a case (the model-spec and init-spec languages are in tests/_lint_support.py):

- ``title``, ``model`` (``"mlp:tanh:10x10x2"``, ``"convbn:relu:8"``, ``"lstm:16:1"``),
  ``init`` (``[[glob, call], ...]`` applied in order), ``policy`` (policy text: the model
  is linted as the policy initializes it), ``static`` (default true: no forward pass),
  ``strict`` (default false);
- ``target``: the parameter, module, layer group (``"0..38"``) or policy rule text;
- ``fires``: whether the rule reports ``target``;
- where it fires: ``severity``; ``measured``, ``expected`` (compared to 1e-3; a key left
  out means the finding reports no number) and ``fix`` (left out: no fix) exactly;
  ``message``: substrings of the message; ``location``, where given.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from initpolicy.linter.findings import severity_rank
from initpolicy.linter.registry import all_rules, get_rule

from ._lint_support import run_case

CASES_DIR = Path(__file__).parent / "data" / "lint"
CASE_KEYS = {"title", "model", "init", "policy", "static", "strict", "target", "fires"}
FIRING_KEYS = {"severity", "measured", "expected", "fix", "message", "location"}


def _load(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        return tomllib.load(f)


FILES = {path.stem: _load(path) for path in sorted(CASES_DIR.glob("*.toml"))}
CASES = [(code, case) for code, data in FILES.items() for case in data["case"]]


def test_every_rule_has_one_fixture_file_and_every_file_names_its_rule():
    assert sorted(FILES) == [r.code for r in all_rules()]
    for code, data in FILES.items():
        assert set(data) == {"name", "case"}, code
        assert data["name"] == get_rule(code).name, code


@pytest.mark.parametrize("code", sorted(FILES))
def test_every_rule_has_a_failing_and_a_passing_case(code):
    fires = [case["fires"] for case in FILES[code]["case"]]
    assert True in fires and False in fires


@pytest.mark.parametrize(("code", "case"), CASES, ids=[f"{c}-{case['title']}" for c, case in CASES])
def test_case_keys_are_known(code, case):
    allowed = CASE_KEYS | (FIRING_KEYS if case["fires"] else set())
    assert set(case) <= allowed, sorted(set(case) - allowed)
    assert {"title", "model", "target", "fires"} <= set(case)
    assert not case["fires"] or "severity" in case


@pytest.mark.parametrize(("code", "case"), CASES, ids=[f"{c}-{case['title']}" for c, case in CASES])
def test_case(code, case):
    rule = get_rule(code)
    result = run_case(case)
    hits = [f for f in result.all_findings if f.code == code]
    on_target = [f for f in hits if f.target == case["target"]]
    if not case["fires"]:
        assert on_target == [], [f.message for f in on_target]
        return
    assert len(on_target) == 1, f"{rule.name} on {case['target']}: {[f.target for f in hits]}"
    f = on_target[0]
    assert (f.code, f.name, f.severity) == (code, rule.name, case["severity"])
    # a rule reports at its own severity, or above it past a documented threshold
    # (lstm-forget-bias: a forget gate closed from the start is a warning)
    assert severity_rank(f.severity) >= severity_rank(rule.severity)
    for key in ("measured", "expected"):
        want = case.get(key)
        got = getattr(f, key)
        assert got == (None if want is None else pytest.approx(want, rel=1e-3)), key
    assert f.fix == case.get("fix")
    for part in case.get("message", ()):
        assert part in f.message
    if "location" in case:
        assert f.location == case["location"]
