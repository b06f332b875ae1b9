"""What the extracted policy says: the rules, their expressions, their comments."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

import initpolicy
from initpolicy.cli.targets import load_target
from initpolicy.errors import TargetError, UsageError
from initpolicy.extractor import extract, record
from tests.extractor import handwritten

ROOT = Path(__file__).resolve().parents[2]


def rules(text: str) -> list[str]:
    """The rules of a policy, ``selector -> scheme`` with single spaces, comments dropped."""
    out = []
    for line in text.splitlines():
        code = line.split("#", 1)[0].strip()
        if code and not code.startswith("let "):
            out.append(" ".join(code.split()))
    return out


def lets(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.startswith("let ")]


def gpt2() -> torch.nn.Module:
    """The worked example of docs/extract.md (a 3-layer GPT-2 from a config)."""
    return load_target(str(ROOT / "examples" / "gpt2_small.py")).model


def test_gpt2_residual_projections_are_the_expression_the_code_computed():
    text = extract(record(gpt2)).text
    assert lets(text) == [
        "let initializer_range = 0.02 # config.initializer_range",
        "let n_layer = count(GPT2Block) # config.n_layer",
    ]
    assert rules(text) == [
        "weight -> normal(0, initializer_range)",
        'named "*.c_proj" -> normal(0, initializer_range / sqrt(2 * n_layer))',
        "LayerNorm -> ones()",
        "bias -> zeros()",
    ]


def test_a_comment_names_the_function_file_and_line_of_the_writes():
    text = extract(record(gpt2)).text
    proj = next(line for line in text.splitlines() if line.startswith('named "*.c_proj"'))
    assert proj.endswith(
        "# GPT2PreTrainedModel._init_weights (transformers/models/gpt2/modeling_gpt2.py:449)"
    )


def test_lstm_orthogonal_recurrent_weights_forget_gate_and_padding_row():
    result = extract(record(handwritten.Tagger))
    assert rules(result.text) == [
        "Embedding -> normal(0, 0.1)",
        "Linear -> kaiming_normal(fan_in, linear)",
        "LSTM.weight_hh* -> orthogonal()",
        "LSTM.weight_ih* -> xavier_uniform()",
        "bias* -> zeros()",
        "LSTM.bias_ih*[forget] -> ones()",
    ]
    # the zeroed padding row needs no rule: the language zeroes it after any write
    (note,) = result.observation.tensors["emb.weight"].whole.notes
    assert re.fullmatch(
        r"padding row 0 zeroed by Tagger.reset_parameters \(tests/extractor/handwritten.py:\d+\) "
        r"\(the language zeroes it\)",
        note,
    )


def test_zero_initialized_residual_ends_are_one_rule_after_the_conv_rule():
    got = rules(extract(record(handwritten.ZeroResNet)).text)
    assert (
        got.index('named "*.conv2" -> zeros()')
        == got.index("Conv2d -> kaiming_normal(fan_out, relu)") + 1
    )


def test_per_gate_writes_are_block_rules():
    got = rules(extract(record(handwritten.GateWiseGRU)).text)
    assert [r for r in got if "[" in r] == [
        "GRU.weight_hh*[update] -> orthogonal()",
        "GRU.weight_hh*[reset] -> orthogonal()",
        "GRU.weight_hh*[new] -> orthogonal()",
    ]


def test_unrecognised_writes_are_fitted_from_values_and_say_why():
    result = extract(record(handwritten.OddInit))
    a = result.observation.tensors["a.weight"].whole
    b = result.observation.tensors["b.weight"].whole
    assert a.how == "fitted" and "Tensor.clamp_ at OddInit.__init__" in a.notes[0]
    assert b.how == "fitted" and b.notes[0] == "no recorded write"
    assert 'named "b" -> uniform(-0.11, 0.11) # fitted from values' in [
        " ".join(line.split()) for line in result.text.splitlines()
    ]
    assert "2 fitted from values" in result.text.splitlines()[1]


def test_torch_default_layers_give_the_fan_forms_torch_computes():
    def build():
        return torch.nn.Sequential(
            torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Linear(8, 10)
        )

    assert rules(extract(record(build)).text) == [
        "weight -> kaiming_uniform(fan_in, leaky_relu, a=sqrt(5))",
        "bias -> uniform(-1 / sqrt(fan_in), 1 / sqrt(fan_in))",
    ]


def _mlp() -> torch.nn.Module:
    m = torch.nn.Sequential(
        torch.nn.Linear(8, 16),
        torch.nn.ReLU(),
        torch.nn.Linear(16, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 2),
    )
    torch.nn.init.kaiming_normal_(m[0].weight, nonlinearity="relu")
    torch.nn.init.xavier_uniform_(m[2].weight, gain=5 / 3)
    torch.nn.init.xavier_normal_(m[4].weight)
    for layer in (m[0], m[2], m[4]):
        torch.nn.init.zeros_(layer.bias)
    return m


def test_activations_give_before_selectors_and_the_traced_gain():
    got = rules(extract(record(_mlp), activations=True).text)
    assert "before relu -> kaiming_normal(fan_in, relu)" in got
    assert "before tanh -> xavier_uniform(gain=gain)" in got


def test_without_activations_the_gain_is_the_number_the_code_used():
    assert "xavier_uniform(gain=5 / 3)" in extract(record(_mlp)).text


def test_a_per_block_rescaling_becomes_a_block_index_expression():
    # BEiT's param.div_(sqrt(2 * layer_id)), layer_id = i + 1: the block's index, which
    # holds at any depth (the execution depth would count the layers inside a block)
    timm = pytest.importorskip("timm")

    def beit() -> torch.nn.Module:
        return timm.create_model(
            "beit_base_patch16_224", img_size=32, patch_size=8, embed_dim=32, depth=4, num_heads=2
        )

    got = rules(extract(record(beit)).text)
    law = "trunc_normal(0, 0.02 / sqrt(2 * (index(Block) + 1)))"
    assert f'named "*.attn.proj" -> {law}' in got
    assert f'named "*.fc2" -> {law}' in got


def test_the_library_entry_point_builds_and_extracts():
    result = initpolicy.extract(handwritten.Tagger)
    assert result.ok and result.n_rules == 6 and result.n_params == 11
    assert initpolicy.load(result.text).rules[2].loc.text.startswith("LSTM.weight_hh*")


def test_a_built_model_needs_the_init_method_to_run():
    with pytest.raises(
        UsageError, match=r"pass the class or a factory \(e.g. lambda: Tagger\(...\)\)"
    ):
        initpolicy.extract(handwritten.Tagger())
    late = handwritten.Tagger()
    assert initpolicy.extract(late, call=["reset_parameters"]).n_rules == 6


@pytest.mark.parametrize(
    ("build", "call", "message"),
    [
        (handwritten.Tagger, ["init_everything"], "the model has no method init_everything()"),
        (torch.nn.Identity, [], "Identity has no parameters; nothing to extract"),
        (lambda: torch.zeros(2), [], "the build returned a Tensor, not an nn.Module"),
        (
            lambda: torch.nn.init.orthogonal_(torch.nn.Linear(4, 4).bias),
            [],
            "building the model raised: ValueError: Only tensors with 2 or more dimensions are supported",
        ),
    ],
)
def test_what_cannot_be_extracted_is_a_target_error(build, call, message):
    with pytest.raises(TargetError, match=re.escape(message)):
        initpolicy.extract(build, call=call)


def test_the_caller_rng_is_untouched_and_extraction_is_deterministic():
    state = torch.random.get_rng_state()
    first = extract(record(handwritten.ZeroResNet)).text
    assert torch.equal(torch.random.get_rng_state(), state)
    assert extract(record(handwritten.ZeroResNet)).text == first
