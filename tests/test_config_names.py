"""``config.NAME``: a number of the model's config, read when the policy is planned, so a
size the init code read from its config (T5's ``d_kv``) holds at every size of the model."""

from __future__ import annotations

import math

import pytest
import torch

import initpolicy
from initpolicy.errors import PlanError, PolicyError
from initpolicy.language.ir import Name
from initpolicy.language.printer import policy as print_policy
from initpolicy.planner.match import build_plan
from initpolicy.tracer.size import config_numbers
from initpolicy.tracer.tracing import trace
from tests.extractor.heldout import ConfigSized

QUERY = 'named "q" -> normal(0, 1 / sqrt(config.d_model * config.d_head))'


def _stds(policy: str, model: torch.nn.Module) -> dict[str, float]:
    plan = build_plan(initpolicy.load(policy).ir, trace(model, tracer="modules"))
    return {e.param.name: e.std for e in plan.entries}


def test_a_config_name_parses_to_a_name_and_prints_back():
    ir = initpolicy.load(f"let d = config.d_head\n{QUERY}\nweight -> normal(0, d)").ir
    assert ir.rules[1].scheme.args[1].value == Name(name="config.d_head")
    again = initpolicy.load(print_policy(ir)).ir.rules
    assert [(r.selector, r.scheme) for r in again] == [(r.selector, r.scheme) for r in ir.rules]


@pytest.mark.parametrize(("d_model", "d_head"), [(32, 16), (64, 8)])
def test_it_is_the_config_value_of_the_model_planned(d_model, d_head):
    stds = _stds(QUERY, ConfigSized(d_model=d_model, d_head=d_head))
    assert stds["q.weight"] == pytest.approx(1 / math.sqrt(d_model * d_head), rel=1e-15)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("weight -> normal(0, cfg.d_kv)", r"1:21: unknown name 'cfg.d_kv': a dotted name reads"),
        ("weight where cfg.d_kv > 2 -> zeros()", r"1:14: unknown name 'cfg.d_kv'"),
    ],
)
def test_misuse_is_a_located_parse_error(text, message):
    with pytest.raises(PolicyError, match=message):
        initpolicy.load(text)


def test_a_name_the_config_lacks_is_a_plan_error_naming_it():
    with pytest.raises(PlanError, match=r"`config.d_kv` is undefined here: the model has no"):
        _stds("weight -> normal(0, config.d_kv)", ConfigSized())
    with pytest.raises(PlanError, match=r"no config number `d_model`"):
        _stds("weight -> normal(0, config.d_model)", torch.nn.Linear(4, 4))
    with pytest.raises(PlanError, match=r"1:1: .*where condition: `config.d_kv` is undefined"):
        _stds("weight where fan_in == config.d_kv -> zeros()", ConfigSized())


# a test the init code made on a tensor's shape and its config (RWKV's "final projection?"
# `shape == (vocab_size, hidden_size)`): the condition is read again at every size
GUARD = (
    "weight -> normal(0, 1)\n"
    "Linear where fan_in == config.d_model and fan_out == config.n_heads * config.d_head"
    " -> zeros()"
)


@pytest.mark.parametrize(("d_model", "d_head"), [(32, 16), (64, 8)])
def test_a_where_condition_reads_the_config_of_the_model_planned(d_model, d_head):
    stds = _stds(GUARD, ConfigSized(d_model=d_model, d_head=d_head))
    assert stds == {"q.weight": 0.0, "k.weight": 0.0, "table.weight": 1.0}
    # the same fans against another config: the condition fails, the broad rule stands
    other = ConfigSized(d_model=d_model, d_head=d_head)
    other.config.d_head = d_head * 2
    assert _stds(GUARD, other)["q.weight"] == 1.0


def test_config_numbers_are_numbers_of_a_transformers_config_and_its_sub_configs():
    import transformers

    config = transformers.LlavaConfig(
        text_config=transformers.LlamaConfig(hidden_size=64, num_hidden_layers=2)
    )
    found = config_numbers(type("M", (), {"config": config})())
    assert found["text_config.hidden_size"] == 64.0
    assert "tie_word_embeddings" not in found  # booleans are no sizes
    assert all(isinstance(v, float) and math.isfinite(v) for v in found.values())


def test_a_sub_config_may_be_a_namespace_or_a_dataclass():
    import dataclasses
    import types

    @dataclasses.dataclass
    class Vision:
        hidden_size: int = 48

    config = types.SimpleNamespace(
        vision=Vision(), text=types.SimpleNamespace(hidden_size=32, initializer_range=0.02)
    )
    found = config_numbers(type("M", (), {"config": config})())
    assert found == {
        "text.hidden_size": 32.0,
        "text.initializer_range": 0.02,
        "vision.hidden_size": 48.0,
    }
