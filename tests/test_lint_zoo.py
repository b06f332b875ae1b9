"""The zoo, linted as its libraries build it: every model's findings are exactly those of its
golden file (tests/data/lint/zoo/*.toml), each reviewed against the architecture, and the
zoo's table in docs/zoo.md is that of the golden files.

Models over 150M parameters (vit_h_14, regnet_y_128gf, ...) are linted ``--static``: their
forward and backward pass would take gigabytes and minutes (the golden file's ``dynamic``
says so). tests/zoo/lint_run.py says how each model is linted; bench/bench_zoo.py measures
the cost.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from tests.zoo import lint_run

pytest.importorskip("timm")
pytest.importorskip("transformers")

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = lint_run.load_golden()
NAMES = list(lint_run.builders())


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


def test_every_zoo_model_has_a_golden_entry_and_every_finding_a_reason():
    assert sorted(GOLDEN) == sorted(NAMES)
    unexplained = [(n, f[:3]) for n, g in GOLDEN.items() for f in g.findings if not f[3].strip()]
    assert unexplained == []


def test_docs_zoo_md_has_the_golden_table():
    assert lint_run.zoo_table(GOLDEN) in (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model_lints_to_its_golden_findings(name: str) -> None:
    run = lint_run.lint_model(name)
    try:
        assert run.error is None
        want = GOLDEN[name]
        assert lint_run.found(run) == [f[:3] for f in want.findings]
        assert lint_run.dynamic_of(run) == want.dynamic
        assert (run.result.graph.tracer, len(run.result.graph.layers)) == (
            want.tracer,
            want.layers,
        )
    finally:
        del run
        gc.collect()
