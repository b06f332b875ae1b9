"""The bugs people report (bench/reported/fixtures.py): each fixture reproduces an init bug
from a public issue on a small model. Lint must name the fixture's parameter with one of
its rules, the finding's own fix must clear it, and the model as the thread fixed it must
lint clean (bench/bench_reported.py runs the same check and prints the table of
docs/benchmarks.md)."""

from __future__ import annotations

import re

import pytest

from bench.bench_reported import run
from bench.reported import FIXTURES, Fixture
from initpolicy.linter.batch import special_tokens
from initpolicy.linter.registry import get_rule

#: Fixtures that build transformers models (the import alone takes seconds).
_SLOW = {"meta-init-skips-rmsnorm", "hf-initialized-flag-leaves-zeros"}


def _params() -> list[object]:
    return [
        pytest.param(f, id=f.name, marks=[pytest.mark.slow] if f.name in _SLOW else [])
        for f in FIXTURES
    ]


def test_there_are_at_least_25_fixtures_each_citing_a_thread():
    assert len(FIXTURES) >= 25
    assert len({f.name for f in FIXTURES}) == len(FIXTURES)
    for f in FIXTURES:
        assert re.fullmatch(r"[\w.-]+/[\w.-]+#\d+", f.issue), f.issue
        assert f.url.startswith("https://github.com/")
        for code in f.codes:
            get_rule(code)  # every code names a rule


@pytest.mark.parametrize("fixture", _params())
def test_reported_bug_is_found_on_its_layer_and_its_fix_works(fixture: Fixture):
    outcome = run(fixture)
    assert outcome.found, f"{fixture.issue}: nothing of {fixture.codes} on {fixture.target}"
    assert outcome.fix_works, outcome.after_fix
    assert outcome.clean, outcome.fixed_findings


def test_special_token_scan_reads_no_other_config_attribute():
    """transformers' configs warn when a deprecated property (``torch_dtype``,
    ``use_return_dict``) is read: the scan reads only the names that can hold token ids
    or sub-configs, so lint of a transformers model prints no warning of its config."""
    read: list[str] = []

    class Config:
        pad_token_id = 0
        text_config = type("Text", (), {"image_token_index": 7})()

        @property
        def torch_dtype(self) -> str:
            read.append("torch_dtype")
            return "float32"

        @property
        def use_return_dict(self) -> bool:
            read.append("use_return_dict")
            return True

    model = type("Model", (), {"config": Config()})()
    assert special_tokens(model) == frozenset({0, 7})
    assert read == []
