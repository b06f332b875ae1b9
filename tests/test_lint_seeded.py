"""Seeded bugs, the small version of bench/bench_seeded.py: each classic init bug injected
into one layer of a real model (tests/zoo/seeded.py says where) is reported, on that layer,
by the rule that names it."""

from __future__ import annotations

import functools

import pytest
import torch

from initpolicy.tracer.tracing import trace
from tests.zoo import lint_run, seeded

#: It builds real third-party models and seeds bugs in them.
pytestmark = pytest.mark.slow

pytest.importorskip("timm")
pytest.importorskip("transformers")

#: Small models that hold a site for every bug below (ReLU stacks without normalization:
#: squeezenet, alexnet; a transformer; a timm net with depthwise convs).
MODELS = ("squeezenet1_1", "alexnet", "transformers/bert", "timm/starnet_s050")
#: He's gain sqrt(2) before sigmoid lies inside sigmoid's documented band [1, 1.85]
#: (docs/lint.md), and it is torchvision's and timm's own init of every squeeze-excitation
#: gate: bench/bench_seeded.py measures it, nothing reports it.
BUGS = [b for b in seeded.BUGS if not b.in_band]


@functools.cache
def traced(name: str):
    torch.manual_seed(0)
    model = lint_run.builders()[name]()
    return model, trace(model, example_inputs=lint_run.example_inputs(name, model))


@pytest.mark.parametrize("bug", BUGS, ids=[b.name for b in BUGS])
def test_seeded_bug_is_reported_on_its_layer(bug: seeded.Bug) -> None:
    for name in MODELS:
        model, graph = traced(name)
        where = seeded.site(graph, bug)
        if where is None:
            continue
        hit, on = seeded.run(model, graph, bug, where)
        assert hit, f"{bug.name} in {name} at {where[1].name}: {on}"
        return
    pytest.fail(f"no model of {MODELS} has a site for {bug.name}")


def test_seeding_restores_the_model() -> None:
    model, graph = traced("squeezenet1_1")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for bug in BUGS:
        where = seeded.site(graph, bug)
        if where is not None:
            seeded.run(model, graph, bug, where)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
