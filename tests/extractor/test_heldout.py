"""Issue 19's cases (tests/extractor/heldout.py): the policy extract writes parses, plans
what the code did, draws it (on a real model and on meta), and says the law the code
follows, so that the same policy reproduces the model's own init at two other sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import initpolicy
from initpolicy.extractor import check, extract, record
from tests.extractor import checks, heldout
from tests.extractor.test_policy_text import rules

NAMES = list(heldout.SIZES)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _extract(name: str, size: int = 0):
    recording = record(lambda: heldout.build(name, size))
    model = recording.model
    original = {n: t.clone() for n, t in checks.tensors(model).items()}
    return extract(recording, target=name), model, original


@pytest.mark.parametrize("name", NAMES)
def test_the_policy_plans_and_draws_what_the_code_did(name):
    result, model, original = _extract(name)
    assert result.ok, result.warnings
    assert checks.planned(result, model, original) == []
    assert checks.recorded(result, original) == []
    assert checks.applied(result, model, original) == []


@pytest.mark.parametrize("name", NAMES)
def test_the_policy_materializes_a_meta_model_as_the_code_did(name):
    result, _model, original = _extract(name)
    with torch.device("meta"):
        meta = heldout.build(name)
    assert checks.applied(result, meta, original) == []
    assert all(p.device.type == "cpu" for p in meta.parameters())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("size", [1, 2])
def test_the_policy_extracted_at_one_size_holds_at_another(name, size):
    text = _extract(name)[0].text
    n, wrong = check(text, record(lambda: heldout.build(name, size)))
    assert n > 0 and wrong == [], text


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("siren", "weight -> uniform(-sqrt(6 / fan_in) / 30, sqrt(6 / fan_in) / 30)"),
        ("grid", "Grid.grid -> linspace(0, 1)"),
        ("identity", 'named "mix" -> eye()'),
        ("nanogpt", 'named "*.c_proj" -> normal(0, 0.02 / sqrt(2 * count(Block)))'),
        ("depth_indexed_gpt", "weight -> normal(0, 0.02)"),
        (
            "depth_indexed_gpt",
            'named "*.c_proj" -> normal(0, 0.02 / sqrt(2 * (index(Block) + 1)))',
        ),
        ("fixup", 'named "*.conv1" -> normal(0, sqrt(2 / fan_out) / sqrt(count(FixupBlock)))'),
        ("fixup", "bias* -> zeros()"),
        ("word_lm", "weight -> uniform(-0.1, 0.1)"),
        ("word_lm", "LSTM.weight* -> default"),
        ("default_lstm", "LSTM.weight* -> default"),
        ("axial", "ParameterList.* -> normal(0, 1)"),
        ("dcgan", "BatchNorm2d -> normal(1, 0.02)"),
        ("dcgan", "ConvTranspose2d -> normal(0, 0.02)"),
        ("config_sized", 'named "q" -> normal(0, 1 / sqrt(config.d_head * config.d_model))'),
        ("config_sized", "weight -> normal(0, 1 / sqrt(config.d_model))"),
        # g is the norm of v: the weight is v, so one rule writes the weight (both forms)
        ("weight_norm_conv", "weight -> kaiming_uniform(fan_in, leaky_relu, a=sqrt(5))"),
        # a test the code made on the shape (read from its source): a rule on that test,
        # and the gains as the code computed them, not as they happen to equal here
        (
            "shape_tested",
            "Linear where fan_out == config.vocab_size and fan_in == config.hidden_size"
            " -> orthogonal(gain=max(1, sqrt(fan_out / fan_in)) * 0.5)",
        ),
        ("shape_tested", "Embedding -> orthogonal(gain=0.0001 * sqrt(max(fan_out, fan_in)))"),
        (
            "vocab_scaled",
            "(Linear|Embedding) where fan_out == config.vocab_size -> normal(0, 0.02 / sqrt(2))",
        ),
        # a draw transformed in place: the draw, through the map in the code's order
        (
            "rg_lru",
            "RGLRU.recurrent* -> mapped(uniform(0.81000001, 0.99800101), "
            "log(exp(-(log(x) * 0.5)) - 1))",
        ),
    ],
)
def test_the_rule_says_what_the_code_computed(name, rule):
    assert rule in rules(_extract(name)[0].text)


def test_forget_gate_slices_are_the_two_plain_block_rules():
    # one rule over bias_ih and bias_hh would give the gate a summed bias of 1 (the
    # planner writes it to bias_ih and zeroes bias_hh); the code set both to 1
    got = rules(_extract("forget_gate_lstm")[0].text)
    assert [r for r in got if "[" in r] == [
        "LSTM.bias_hh*[forget] -> ones()",
        "LSTM.bias_ih*[forget] -> ones()",
    ]


def test_a_container_member_has_a_selector_that_parses():
    policy = initpolicy.load("ParameterList.1 -> zeros()")
    assert policy.ir.rules[0].selector.param == "1"


def test_an_identity_copy_is_written_by_eye_and_works_on_meta():
    result = _extract("identity")[0]
    law = result.observation.tensors["mix.weight"].whole
    assert (law.scheme, law.how) == ("eye", "recorded")
    assert law.notes[-1].endswith("are eye()'s")


class _NumpyGrid(torch.nn.Module):
    """A grid made out of the recorder's sight (numpy), in order and shuffled."""

    def __init__(self) -> None:
        super().__init__()
        grid = np.linspace(0, 1, 256, dtype=np.float64).astype(np.float32)
        self.grid = torch.nn.Parameter(torch.from_numpy(grid))
        rng = np.random.default_rng(0)
        self.shuffled = torch.nn.Parameter(torch.from_numpy(rng.permutation(grid)))
        self.fc = torch.nn.Linear(4, 4)


def test_a_grid_made_out_of_sight_is_computed_not_drawn():
    result = extract(record(_NumpyGrid))
    assert result.ok, result.warnings
    for name in ("grid", "shuffled"):
        law = result.observation.tensors[name].whole
        assert law.how == "fitted" and law.scheme in ("linspace", "keep"), law
    assert "uniform(0, 1)" not in result.text


class _Tanh(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 64)
        self.fc.weight.data = torch.randn(64, 64).tanh() * 0.1  # no law the catalog names


def test_verification_compares_the_plan_with_the_code_values_not_with_the_fit():
    result = extract(record(_Tanh))
    assert not result.ok
    (wrong,) = result.synthesis.mismatches
    assert wrong.name == "fc.weight"
    assert "the code's values are not uniform (Kolmogorov-Smirnov distance" in wrong.planned
    assert result.synthesis.fixups == 0  # no rule can fix a law the values contradict


@pytest.mark.slow
def test_reformer_axial_position_embeddings():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()

    def reformer(d: int = 32) -> torch.nn.Module:
        config = transformers.ReformerConfig(
            vocab_size=64,
            hidden_size=d,
            num_attention_heads=2,
            attention_head_size=d // 2,
            feed_forward_size=2 * d,
            axial_pos_shape=(4, 8),
            axial_pos_embds_dim=(d // 2, d // 2),
            max_position_embeddings=32,
            attn_layers=["local", "lsh"],
            num_buckets=4,
            local_attn_chunk_length=8,
            lsh_attn_chunk_length=8,
            is_decoder=True,
        )
        return transformers.ReformerModelWithLMHead(config)

    result = extract(record(reformer))
    assert result.ok, result.warnings
    assert "ParameterList.* -> normal(0, axial_norm_std)" in rules(result.text)
    n, wrong = check(result.text, record(lambda: reformer(48)))
    assert n == 31 and wrong == []
