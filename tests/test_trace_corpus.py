"""Every corpus model resolves to the expected activation per layer, by every tracer
that can trace it (the fx and the dynamic graph feed one resolution pass)."""

from __future__ import annotations

import pytest

from initpolicy.tracer.tracing import trace
from tests.models.corpus import CASES, THIRD_PARTY


def described(layer) -> str:
    if layer.activation == "mixed":
        return "mixed(" + "|".join(layer.resolution.candidates) + ")"
    return layer.activation


def _needs(name: str) -> None:
    if name in THIRD_PARTY:
        pytest.importorskip("transformers")


@pytest.mark.parametrize("name", sorted(CASES))
def test_activation_per_layer(name: str) -> None:
    _needs(name)
    case = CASES[name]
    graph = trace(case.build(), example_inputs=case.inputs() if case.inputs else None)
    assert {lay.name: described(lay) for lay in graph.layers} == case.expected
    assert graph.tracer == case.tracer
    for layer, args in case.act_args.items():
        assert graph.layer(layer).act_args == args


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c.tracer == "fx"))
def test_dynamic_tracer_agrees_with_fx(name: str) -> None:
    case = CASES[name]
    graph = trace(
        case.build(), example_inputs=case.inputs() if case.inputs else None, tracer="dynamic"
    )
    assert graph.tracer == "dynamic"
    assert {lay.name: described(lay) for lay in graph.layers} == case.expected
    for layer, args in case.act_args.items():
        assert graph.layer(layer).act_args == args


@pytest.mark.parametrize("name", sorted(CASES))
def test_depth_is_execution_order(name: str) -> None:
    _needs(name)
    case = CASES[name]
    graph = trace(case.build(), example_inputs=case.inputs() if case.inputs else None)
    assert [lay.depth for lay in graph.layers] == list(range(len(graph.layers)))
    assert graph.n_layers == len(case.expected)
