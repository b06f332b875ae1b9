"""schemes.moments() (the std and bound explain/lint report), against closed forms, scipy
and torch.nn.init's own outputs; and the shape/dtype rule plan validation uses."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from initpolicy.catalog import schemes

C = schemes.TRUNCATION_CORRECTION


def test_truncation_correction_is_the_std_of_a_unit_normal_truncated_at_2():
    assert stats.truncnorm(-2, 2).std() == pytest.approx(C, abs=1e-15)
    assert schemes.truncated_std(1.0, -2.0, 2.0) == pytest.approx(C, abs=1e-15)


@pytest.mark.parametrize(
    ("std", "lo", "hi"),
    [
        (1.0, -2.0, 2.0),
        (0.02, -2.0, 2.0),  # timm's trunc_normal_(std=.02): bounds 100 std away
        (2.0, -1.5, 3.5),
        (1.0, 1.0, 3.0),
        (1.0, -math.inf, 0.5),
        (0.3, -0.1, math.inf),
        (5.0, -0.01, 0.01),  # a narrow window: nearly uniform
    ],
)
def test_truncated_std_matches_scipy(std, lo, hi):
    expected = stats.truncnorm(lo / std, hi / std, scale=std).std()
    assert schemes.truncated_std(std, lo, hi) == pytest.approx(expected, rel=1e-9)


def test_truncated_std_of_a_zero_std_is_zero():
    assert schemes.truncated_std(0.0, -1.0, 1.0) == 0.0


def moments(name, values, fan_in=50, fan_out=10, shape=(10, 50)):
    return schemes.moments(name, values, fan_in=fan_in, fan_out=fan_out, shape=shape)


# (scheme, values, fan_in, fan_out, shape, std, bound), the formulas written out.
CLOSED_FORMS = [
    ("uniform", {"a": -1.0, "b": 3.0}, 1, 1, (4,), 4 / math.sqrt(12), 2.0),
    ("normal", {"mean": 5.0, "std": 0.02}, 1, 1, (4,), 0.02, None),
    (
        "trunc_normal",
        {"mean": 1.0, "std": 2.0, "a": 0.0, "b": 3.0},
        1,
        1,
        (4,),
        stats.truncnorm(-0.5, 1, scale=2).std(),
        None,
    ),
    ("truncated_normal", {"mean": 1.0, "std": 0.5}, 1, 1, (4,), 0.5 * C, None),
    ("constant", {"val": 3.0}, 1, 1, (4,), 0.0, None),
    ("ones", {}, 1, 1, (4,), 0.0, None),
    ("zeros", {}, 1, 1, (4,), 0.0, None),
    ("prior", {"p": 0.01}, 1, 1, (4,), 0.0, None),
    ("eye", {}, 5, 3, (3, 5), math.sqrt(0.2 * 0.8), None),
    ("dirac", {"groups": 3}, 36, 54, (6, 4, 3, 3), math.sqrt(6 / 216 * (1 - 6 / 216)), None),
    ("dirac", {}, 2 * 27, 4 * 27, (4, 2, 3, 3, 3), math.sqrt(2 / 216 * (1 - 2 / 216)), None),
    (
        "xavier_uniform",
        {"gain": 2.0},
        50,
        10,
        (10, 50),
        2 * math.sqrt(2 / 60),
        2 * math.sqrt(6 / 60),
    ),
    ("xavier_normal", {}, 50, 10, (10, 50), math.sqrt(2 / 60), None),
    (
        "kaiming_uniform",
        {"a": math.sqrt(5)},
        50,
        10,
        (10, 50),
        1 / math.sqrt(150),
        1 / math.sqrt(50),
    ),
    ("kaiming_normal", {"nonlinearity": "relu"}, 50, 10, (10, 50), 0.2, None),
    (
        "kaiming_normal",
        {"a": 0.2, "mode": "fan_out"},
        50,
        10,
        (10, 50),
        math.sqrt(2 / 1.04 / 10),
        None,
    ),
    ("kaiming_normal", {"nonlinearity": "tanh"}, 50, 10, (10, 50), 5 / 3 / math.sqrt(50), None),
    ("kaiming_normal", {"nonlinearity": "selu"}, 50, 10, (10, 50), 0.75 / math.sqrt(50), None),
    ("orthogonal", {"gain": 2.0}, 50, 20, (20, 50), 2 * math.sqrt(1 / 50), None),
    ("orthogonal", {}, 4 * 9, 8 * 9, (8, 4, 3, 3), math.sqrt(1 / 36), None),
    ("sparse", {"sparsity": 0.25, "std": 0.1}, 4, 10, (10, 4), 0.1 * math.sqrt(0.7), None),
    ("variance_scaling", {}, 50, 10, (10, 50), math.sqrt(1 / 50), None),
    (
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
        50,
        10,
        (10, 50),
        math.sqrt(2 / 30),
        math.sqrt(6 / 30),
    ),
    (
        "variance_scaling",
        {"mode": "fan_out", "distribution": "untruncated_normal"},
        50,
        10,
        (10, 50),
        math.sqrt(1 / 10),
        None,
    ),
    ("variance_scaling", {"mode": "fan_out"}, 0.5, 0.5, (1, 1), 1.0, None),  # n = max(1, fan)
    ("lecun_normal", {}, 50, 10, (10, 50), math.sqrt(1 / 50), None),
    ("lecun_uniform", {}, 50, 10, (10, 50), math.sqrt(1 / 50), math.sqrt(3 / 50)),
    ("keep", {}, 50, 10, (10, 50), None, None),
    ("default", {}, 50, 10, (10, 50), None, None),
    # 5 points -1, -0.5, 0, 0.5, 1: population variance (1 + 0.25 + 0 + 0.25 + 1) / 5
    ("linspace", {"start": -1.0, "end": 1.0}, 5, 5, (5,), math.sqrt(0.5), None),
]


def test_closed_forms_cover_every_scheme():
    assert {case[0] for case in CLOSED_FORMS} == set(schemes.SCHEMES)


@pytest.mark.parametrize(
    ("name", "values", "fan_in", "fan_out", "shape", "std", "bound"), CLOSED_FORMS
)
def test_moments_match_the_closed_form(name, values, fan_in, fan_out, shape, std, bound):
    got_std, got_bound = moments(name, values, fan_in, fan_out, shape)
    assert got_std == (None if std is None else pytest.approx(std, rel=1e-12, abs=1e-15))
    assert got_bound == (None if bound is None else pytest.approx(bound, rel=1e-12))


@pytest.mark.parametrize("name", [n for n, s in schemes.SCHEMES.items() if s.needs_matrix])
def test_moments_of_an_empty_tensor_do_not_divide_by_its_zero_fan(name):
    values = {"sparsity": 0.5} if name == "sparse" else {}
    assert moments(name, values, fan_in=0, fan_out=0, shape=(0, 5)) == (0.0, None)


# torch.nn.init's own output: (scheme, our values, torch call, shape). Deterministic
# schemes are compared exactly, random ones within sampling error on 512 x 512.
TORCH_OUTPUTS = [
    ("eye", {}, torch.nn.init.eye_, (7, 12), 1e-12),
    (
        "linspace",
        {"start": -2.0, "end": 3.0},
        lambda t: t.copy_(torch.linspace(-2.0, 3.0, t.numel()).reshape(t.shape)),
        (40, 25),
        1e-6,  # the float32 grid
    ),
    ("dirac", {"groups": 2}, lambda t: torch.nn.init.dirac_(t, 2), (8, 3, 5, 5), 1e-12),
    ("orthogonal", {"gain": 3.0}, lambda t: torch.nn.init.orthogonal_(t, 3.0), (64, 256), 1e-6),
    (
        "kaiming_uniform",
        {"a": math.sqrt(5)},
        lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5)),
        (512, 512),
        0.01,
    ),
    (
        "kaiming_normal",
        {"mode": "fan_out", "nonlinearity": "relu"},
        lambda t: torch.nn.init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
        (256, 32, 3, 3),
        0.01,
    ),
    (
        "xavier_normal",
        {"gain": 0.5},
        lambda t: torch.nn.init.xavier_normal_(t, 0.5),
        (512, 256),
        0.01,
    ),
    ("xavier_uniform", {}, torch.nn.init.xavier_uniform_, (512, 256), 0.01),
    (
        "trunc_normal",
        {"std": 0.7, "a": -0.5, "b": 1.0},
        lambda t: torch.nn.init.trunc_normal_(t, 0.0, 0.7, -0.5, 1.0),
        (512, 512),
        0.01,
    ),
    (
        "sparse",
        {"sparsity": 0.3, "std": 0.5},
        lambda t: torch.nn.init.sparse_(t, 0.3, 0.5),
        (512, 512),
        0.01,
    ),
]


@pytest.mark.parametrize(("name", "values", "torch_init", "shape", "rel"), TORCH_OUTPUTS)
def test_moments_match_torch_init_outputs(name, values, torch_init, shape, rel):
    torch.manual_seed(0)
    t = torch.empty(shape)
    torch_init(t)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    std, _ = moments(name, values, fan_in, fan_out, shape)
    measured = (
        t.double().pow(2).mean().sqrt()
        if name in ("orthogonal", "sparse")
        else t.double().std(correction=0)
    )
    assert float(measured) == pytest.approx(std, rel=rel)


# (scheme, shape, values, expected message or None): the rule plan validation and
# init.fill_ share.
SHAPES = [
    ("normal", (), {}, None),
    ("uniform", (7,), {}, None),
    ("trunc_normal", (2, 3, 4, 5, 6, 7), {}, None),
    ("constant", (), {"val": 1.0}, None),
    ("prior", (80,), {"p": 0.01}, None),
    ("kaiming_normal", (8, 4), {}, None),
    (
        "kaiming_uniform",
        (8,),
        {},
        "kaiming_uniform needs a tensor of at least 2 dimensions (fans, a matrix); got shape (8,)",
    ),
    (
        "xavier_normal",
        (),
        {},
        "xavier_normal needs a tensor of at least 2 dimensions (fans, a matrix); got shape ()",
    ),
    ("orthogonal", (8, 4, 3), {}, None),
    (
        "orthogonal",
        (8,),
        {},
        "orthogonal needs a tensor of at least 2 dimensions (fans, a matrix); got shape (8,)",
    ),
    (
        "variance_scaling",
        (8,),
        {},
        "variance_scaling needs a tensor of at least 2 dimensions (fans, a matrix); got shape (8,)",
    ),
    ("lecun_normal", (8, 8, 3, 3), {}, None),
    ("eye", (3, 5), {}, None),
    ("eye", (5,), {}, "eye needs a 2-D tensor; got shape (5,)"),
    ("eye", (3, 3, 3), {}, "eye needs a 2-D tensor; got shape (3, 3, 3)"),
    ("sparse", (3, 5), {"sparsity": 0.5}, None),
    ("sparse", (3, 5, 5), {"sparsity": 0.5}, "sparse needs a 2-D tensor; got shape (3, 5, 5)"),
    ("dirac", (4, 4, 3), {}, None),
    ("dirac", (4, 4, 3, 3, 3), {"groups": 2}, None),
    (
        "dirac",
        (4, 4, 3, 3, 3, 3),
        {},
        "dirac needs a 3-, 4- or 5-D convolution weight; got shape (4, 4, 3, 3, 3, 3)",
    ),
    (
        "dirac",
        (6, 4, 3),
        {"groups": 4.0},
        "dirac: dim 0 (6) is not divisible by groups=4; got shape (6, 4, 3)",
    ),
]


@pytest.mark.parametrize(("name", "shape", "values", "message"), SHAPES)
def test_shape_error(name, shape, values, message):
    assert schemes.shape_error(name, shape, values) == message


@pytest.mark.parametrize(
    ("name", "shape"),
    [
        ("xavier_uniform", (5,)),
        ("kaiming_normal", (5,)),
        ("orthogonal", (5,)),
        ("eye", (2, 2, 2)),
        ("dirac", (3, 3)),
        ("sparse", (9,)),
    ],
)
def test_shape_error_agrees_with_torch(name, shape):
    with pytest.raises(ValueError):
        getattr(torch.nn.init, name + "_")(torch.empty(shape), *([0.5] if name == "sparse" else []))
    expected = {
        "xavier_uniform": "needs a tensor of at least 2 dimensions (fans, a matrix)",
        "kaiming_normal": "needs a tensor of at least 2 dimensions (fans, a matrix)",
        "orthogonal": "needs a tensor of at least 2 dimensions (fans, a matrix)",
        "eye": "needs a 2-D tensor",
        "dirac": "needs a 3-, 4- or 5-D convolution weight",
        "sparse": "needs a 2-D tensor",
    }[name]
    assert schemes.shape_error(name, shape) == f"{name} {expected}; got shape {shape}"


@pytest.mark.parametrize(
    ("name", "dtype", "message"),
    [
        ("normal", "float32", None),
        ("kaiming_normal", "torch.bfloat16", None),
        ("orthogonal", "float16", None),
        (
            "uniform",
            "int64",
            "uniform draws random values and needs a floating-point tensor; got int64",
        ),
        (
            "sparse",
            "torch.bool",
            "sparse draws random values and needs a floating-point tensor; got bool",
        ),
        ("zeros", "int64", None),
        ("constant", "uint8", None),
        ("eye", "bool", None),
    ],
)
def test_dtype_error(name, dtype, message):
    assert schemes.dtype_error(name, dtype) == message
