"""gain and vp_gain: recomputed by scipy.integrate.quad over torch's own activation
functions, and checked against torch.nn.init.calculate_gain where torch defines it."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import quad

from initpolicy.catalog import gains, gains_doc
from initpolicy.catalog.activations import CANONICAL
from initpolicy.errors import GainError, InitPolicyError

DOCS = Path(__file__).resolve().parents[1] / "docs" / "gains.md"


def second_moment(fn, kinks=()):
    """E[fn(z)^2], z ~ N(0, 1), by adaptive quadrature split at the kinks."""

    def integrand(z):
        y = fn(torch.tensor(z, dtype=torch.float64)).item()
        return y * y * math.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)

    points = [-math.inf, *sorted({0.0, *kinks}), math.inf]
    return sum(
        quad(integrand, a, b, epsabs=1e-13, epsrel=1e-13, limit=200)[0]
        for a, b in itertools.pairwise(points)
    )


# (activation, act_args, torch's function, kinks). Defaults first, then other arguments.
TORCH_FUNCTIONS = [
    ("relu", {}, F.relu, ()),
    ("relu6", {}, F.relu6, (6.0,)),
    ("leaky_relu", {}, F.leaky_relu, ()),
    ("leaky_relu", {"negative_slope": 0.2}, lambda x: F.leaky_relu(x, 0.2), ()),
    ("prelu", {}, lambda x: F.prelu(x, torch.tensor([0.25], dtype=torch.float64)), ()),
    ("prelu", {"init": 0.1}, lambda x: F.prelu(x, torch.tensor([0.1], dtype=torch.float64)), ()),
    ("elu", {}, F.elu, ()),
    ("elu", {"alpha": 0.5}, lambda x: F.elu(x, 0.5), ()),
    ("elu", {"alpha": 2.5}, lambda x: F.elu(x, 2.5), ()),
    ("selu", {}, F.selu, ()),
    ("celu", {}, F.celu, ()),
    ("celu", {"alpha": 0.3}, lambda x: F.celu(x, 0.3), ()),
    ("celu", {"alpha": 3.0}, lambda x: F.celu(x, 3.0), ()),
    ("gelu", {}, F.gelu, ()),
    ("gelu", {"approximate": "tanh"}, lambda x: F.gelu(x, approximate="tanh"), ()),
    ("silu", {}, F.silu, ()),
    ("mish", {}, F.mish, (20.0,)),
    ("hardswish", {}, F.hardswish, (-3.0, 3.0)),
    ("hardsigmoid", {}, F.hardsigmoid, (-3.0, 3.0)),
    ("sigmoid", {}, torch.sigmoid, ()),
    ("tanh", {}, torch.tanh, ()),
    ("softplus", {}, F.softplus, (20.0,)),
    ("softplus", {"beta": 2.0, "threshold": 3.0}, lambda x: F.softplus(x, 2.0, 3.0), (1.5,)),
    ("softplus", {"beta": 0.5}, lambda x: F.softplus(x, 0.5), (40.0,)),
    ("linear", {}, lambda x: x, ()),
    ("output", {}, lambda x: x, ()),
]


def test_every_activation_with_a_gain_is_integrated():
    covered = {case[0] for case in TORCH_FUNCTIONS}
    assert covered == set(CANONICAL) - {"mixed", "unknown", "softmax", "log_softmax"}


@pytest.mark.parametrize(("activation", "act_args", "fn", "kinks"), TORCH_FUNCTIONS)
def test_vp_gain_matches_scipy_quadrature_of_torchs_function(activation, act_args, fn, kinks):
    expected = 1 / math.sqrt(second_moment(fn, kinks))
    assert gains.vp_gain(activation, act_args) == pytest.approx(expected, abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("key", sorted(gains._VP_TABLE))
def test_the_default_table_is_what_the_runtime_quadrature_computes(key):
    name, _, rest = key.partition("(")
    act_args = {"approximate": "tanh"} if rest else {}
    assert gains.label(name, act_args) == key
    runtime = gains._integrate(name, gains.resolve_args(name, act_args))
    assert gains._VP_TABLE[key] == pytest.approx(runtime, abs=1e-14)


@pytest.mark.parametrize(
    ("activation", "act_args", "torch_args"),
    [
        ("relu", {}, ("relu",)),
        ("leaky_relu", {}, ("leaky_relu",)),
        ("leaky_relu", {"negative_slope": 0.2}, ("leaky_relu", 0.2)),
        ("leaky_relu", {"negative_slope": 0.0}, ("leaky_relu", 0.0)),
        ("tanh", {}, ("tanh",)),
        ("sigmoid", {}, ("sigmoid",)),
        ("linear", {}, ("linear",)),
    ],
)
def test_gain_is_torchs_calculate_gain_where_torch_defines_it(activation, act_args, torch_args):
    assert gains.gain(activation, act_args) == torch.nn.init.calculate_gain(*torch_args)


@pytest.mark.parametrize(
    "nonlinearity",
    [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "selu",
    ],
)
@pytest.mark.parametrize("param", [None, 0.2])
def test_torch_gain_is_calculate_gain(nonlinearity, param):
    assert gains.torch_gain(nonlinearity, param) == torch.nn.init.calculate_gain(
        nonlinearity, param
    )


def test_selu_gain_is_one_not_torchs_three_quarters():
    assert torch.nn.init.calculate_gain("selu") == 0.75
    assert gains.gain("selu") == 1.0
    assert gains.vp_gain("selu") == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize(
    ("activation", "act_args"),
    [
        (a, args)
        for a, args, _, _ in TORCH_FUNCTIONS
        if a not in (*gains.TORCH_GAIN_ACTIVATIONS, "selu")
    ],
)
def test_every_other_activations_gain_is_its_vp_gain(activation, act_args):
    assert gains.gain(activation, act_args) == gains.vp_gain(activation, act_args)


@pytest.mark.parametrize(
    ("word", "act_args", "expected"),
    [
        ("LeakyReLU", {"negative_slope": 0.2, "inplace": True}, math.sqrt(2 / 1.04)),
        ("leaky_relu", {"slope": 0.2}, math.sqrt(2 / 1.04)),
        ("PReLU", {"num_parameters": 1, "init": 0.5}, math.sqrt(2 / 1.25)),
        ("prelu", {"weight": torch.tensor([0.5])}, math.sqrt(2 / 1.25)),
        ("ReLU", {"inplace": True}, math.sqrt(2)),
        ("Identity", {}, 1.0),
        ("leaky_relu", {"negative_slope": None}, math.sqrt(2 / 1.0001)),
    ],
)
def test_aliases_and_arguments(word, act_args, expected):
    assert gains.gain(word, act_args) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize(
    ("activation", "act_args", "message"),
    [
        (
            "mixed",
            {},
            "gain of a mixed layer is a plan error: the layer's uses are followed by different activations, so no single gain fits; write a rule `before mixed` with an explicit number",
        ),
        (
            "softmax",
            {"dim": -1},
            "no gain is defined for softmax: it normalizes over a dimension, so E[phi(z)^2] depends on that dimension's size, not on the unit; use an explicit number",
        ),
        (
            "LogSoftmax",
            {},
            "no gain is defined for log_softmax: it normalizes over a dimension, so E[phi(z)^2] depends on that dimension's size, not on the unit; use an explicit number",
        ),
        ("relu7", {}, "unknown activation 'relu7'; expected one of " + ", ".join(CANONICAL)),
        ("gelu", {"approximate": "fast"}, "gelu: approximate='fast' is not one of 'none', 'tanh'"),
        ("elu", {"alpha": "big"}, "elu: alpha='big' is not a number"),
        ("elu", {"alpha": math.inf}, "elu: alpha=inf is not finite"),
        ("celu", {"alpha": 0}, "celu: alpha must not be 0"),
        (
            "prelu",
            {"weight": torch.tensor([0.1, 0.2])},
            "prelu: init=tensor([0.1000, 0.2000]) is not a number",
        ),
    ],
)
@pytest.mark.parametrize("fn", [gains.gain, gains.vp_gain])
def test_errors(fn, activation, act_args, message):
    with pytest.raises(GainError) as err:
        fn(activation, act_args)
    assert str(err.value) == message
    assert isinstance(err.value, InitPolicyError)


def test_docs_gains_md_is_current():
    assert DOCS.read_text(encoding="utf-8") == gains_doc.markdown(), (
        "docs/gains.md is stale: python -m initpolicy.catalog.gains_doc > docs/gains.md"
    )


@pytest.mark.parametrize(
    "row",
    [
        "| relu |  | 1.414214 | 1.414214 |",
        "| leaky_relu | negative_slope=0.01 | 1.414143 | 1.414143 |",
        "| selu |  | 1.000000 | 1.000000 |",
        "| tanh |  | 1.666667 | 1.592537 |",
        "| sigmoid |  | 1.000000 | 1.846229 |",
        "| mixed | | error | error |",
    ],
)
def test_docs_table_rows(row):
    assert row in gains_doc.markdown()


def test_gains_do_not_import_torch():
    code = "import sys, initpolicy.catalog.gains, initpolicy.catalog.gains_doc as d; d.markdown(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
