"""The zoo, linted as its libraries build it: every model's findings are exactly those of its
golden file (tests/data/lint/zoo/*.toml), each reviewed against the architecture, and the
zoo's table in docs/zoo.md is that of the golden files.

Models over 150M parameters (vit_h_14, regnet_y_128gf, ...) are linted ``--static``: their
forward and backward pass would take gigabytes and minutes (the golden file's ``dynamic``
says so). tests/zoo/lint_run.py says how each model is linted; bench/bench_zoo.py measures
the cost.

Each model is then linted under two policies both ways: the analytic static pass (the
policy judged from its plan, what lint does with a model larger than memory) must give
exactly the sampled pass's findings (bench/bench_agreement.py adds the model's own init
on the meta device and the streamed dynamic pass).
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

#: Models where the analytic static pass does not find what the sampled one finds, and why
#: (issue 23; bench/bench_agreement.py lists them): the policies it differs under. None
#: now: the meta copy's trace failed on deberta, deberta_v2, convbert (a membership query,
#: now a truth value) and left qwen2_vl's vision tower uncalled (now the model in memory
#: is traced when its meta copy's trace is not whole).
KNOWN_DISAGREEMENTS: dict[str, tuple[str, list[str]]] = {}

#: The models whose disagreement was found and fixed (issue 23): checked under both policies.
_REGRESSIONS = {
    "transformers/deberta",
    "transformers/deberta_v2",
    "transformers/convbert",
    "transformers/qwen2_vl",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
    "ssdlite320_mobilenet_v3_large",
    "raft_small",
}
_BY_SOURCE: dict[str, list[str]] = {}
for _name in NAMES:
    _BY_SOURCE.setdefault(lint_run.source_of(_name), []).append(_name)
#: Where the suite checks agreement, to keep CI's time: the first model of each source
#: family (110 of 265) under ``Linear -> normal(0, 1.0)``, which gives findings everywhere,
#: and the regressions under both policies. The whole zoo under both is
#: bench/bench_agreement.py's sweep (docs/benchmarks.md: 265 of 265 agree).
AGREEMENT_CHECKS: dict[str, tuple[str, ...]] = {
    **{names[0]: lint_run.AGREEMENT_POLICIES[1:] for names in _BY_SOURCE.values()},
    **{n: lint_run.AGREEMENT_POLICIES for n in _REGRESSIONS},
}


def test_the_agreement_sample_names_zoo_models():
    assert set(AGREEMENT_CHECKS) <= set(NAMES) and len(AGREEMENT_CHECKS) > 100


def test_every_zoo_model_has_a_golden_entry_and_every_finding_a_reason():
    assert sorted(GOLDEN) == sorted(NAMES)
    unexplained = [(n, f[:3]) for n, g in GOLDEN.items() for f in g.findings if not f[3].strip()]
    assert unexplained == []


def test_docs_zoo_md_has_the_golden_table():
    assert lint_run.zoo_table(GOLDEN) in (ROOT / "docs" / "zoo.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", NAMES)
def test_zoo_model_lints_to_its_golden_findings(name: str) -> None:
    model = lint_run.build(name)
    run = lint_run.lint_model(name, model)
    try:
        assert run.error is None
        want = GOLDEN[name]
        assert lint_run.found(run) == [f[:3] for f in want.findings]
        assert lint_run.dynamic_of(run) == want.dynamic
        assert (run.result.graph.tracer, len(run.result.graph.layers)) == (
            want.tracer,
            want.layers,
        )
        # the same model, judged from a policy's plan as lint judges a model larger than
        # memory (issue 23): the analytic static pass finds what the sampled one finds
        agree = {"only_analytic": [], "only_sampled": []}
        differs = [
            p
            for p in AGREEMENT_CHECKS.get(name, ())
            if lint_run.disagreements(name, model, run.result.graph, p) != agree
        ]
        # pinned: fails once the cause is fixed, so the entry is removed then
        assert differs == KNOWN_DISAGREEMENTS.get(name, ("", []))[1]
    finally:
        del run, model
        gc.collect()
