"""init.fill_: bit-identical to torch.nn.init on plain layers, reproducible, dtype- and
view-safe, and failing with the same rule plan validation uses."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn.init import _calculate_fan_in_and_fan_out

from initpolicy.applier import fill as init
from initpolicy.catalog import schemes
from initpolicy.errors import InitError, InitPolicyError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def torch_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """torch's fans; a 1-D tensor takes its own length (it has no module here)."""
    if len(shape) < 2:
        n = math.prod(shape)
        return n, n
    return _calculate_fan_in_and_fan_out(torch.empty(shape))


def fill(shape, scheme, values=None, *, dtype=torch.float32, seed=0, fans=None):
    t = torch.empty(shape, dtype=dtype)
    fan_in, fan_out = fans or torch_fans(shape)
    init.fill_(t, scheme, values or {}, fan_in=fan_in, fan_out=fan_out, generator=gen(seed))
    return t


# (scheme, our values, torch.nn.init call, shape): every scheme torch has.
TORCH_CASES = [
    ("uniform", {}, lambda t, g: torch.nn.init.uniform_(t, generator=g), (64, 32)),
    ("uniform", {"a": -0.3, "b": 0.7}, lambda t, g: torch.nn.init.uniform_(t, -0.3, 0.7, g), (7,)),
    ("normal", {}, lambda t, g: torch.nn.init.normal_(t, generator=g), (64, 32)),
    (
        "normal",
        {"mean": 1.5, "std": 0.02},
        lambda t, g: torch.nn.init.normal_(t, 1.5, 0.02, g),
        (50,),
    ),
    ("trunc_normal", {}, lambda t, g: torch.nn.init.trunc_normal_(t, generator=g), (64, 32)),
    (
        "trunc_normal",
        {"std": 0.02},
        lambda t, g: torch.nn.init.trunc_normal_(t, std=0.02, generator=g),
        (128, 64),
    ),
    (  # a window holding < 30% of the mass: torch's other (uniform-proposal) sampler
        "trunc_normal",
        {"mean": 0.0, "std": 1.0, "a": 1.0, "b": 3.0},
        lambda t, g: torch.nn.init.trunc_normal_(t, 0.0, 1.0, 1.0, 3.0, generator=g),
        (64, 32),
    ),
    ("constant", {"val": 0.25}, lambda t, g: torch.nn.init.constant_(t, 0.25), (8, 3)),
    ("ones", {}, lambda t, g: torch.nn.init.ones_(t), (8,)),
    ("zeros", {}, lambda t, g: torch.nn.init.zeros_(t), (8, 3, 3)),
    ("eye", {}, lambda t, g: torch.nn.init.eye_(t), (5, 9)),
    ("dirac", {}, lambda t, g: torch.nn.init.dirac_(t), (4, 6, 3)),
    ("dirac", {"groups": 3.0}, lambda t, g: torch.nn.init.dirac_(t, 3), (6, 4, 3, 3)),
    ("dirac", {"groups": 2.0}, lambda t, g: torch.nn.init.dirac_(t, 2), (4, 2, 3, 3, 3)),
    ("xavier_uniform", {}, lambda t, g: torch.nn.init.xavier_uniform_(t, generator=g), (64, 32)),
    (
        "xavier_uniform",
        {"gain": 5 / 3},
        lambda t, g: torch.nn.init.xavier_uniform_(t, 5 / 3, g),
        (16, 8, 3, 3),
    ),
    (
        "xavier_normal",
        {"gain": 0.5},
        lambda t, g: torch.nn.init.xavier_normal_(t, 0.5, g),
        (8, 4, 5),
    ),
    ("kaiming_uniform", {}, lambda t, g: torch.nn.init.kaiming_uniform_(t, generator=g), (64, 32)),
    (
        "kaiming_uniform",
        {"a": math.sqrt(5)},  # torch's own Linear/Conv default
        lambda t, g: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5), generator=g),
        (16, 8, 3, 3),
    ),
    (
        "kaiming_normal",
        {"mode": "fan_out", "nonlinearity": "relu"},
        lambda t, g: torch.nn.init.kaiming_normal_(
            t, mode="fan_out", nonlinearity="relu", generator=g
        ),
        (16, 8, 3, 3),
    ),
    (
        "kaiming_normal",
        {"a": 0.2, "mode": "fan_in", "nonlinearity": "leaky_relu"},
        lambda t, g: torch.nn.init.kaiming_normal_(t, a=0.2, generator=g),
        (64, 32),
    ),
    *[
        (
            "kaiming_normal",
            {"nonlinearity": nl},
            lambda t, g, nl=nl: torch.nn.init.kaiming_normal_(t, nonlinearity=nl, generator=g),
            (32, 16),
        )
        for nl in ("tanh", "selu", "linear", "sigmoid", "conv2d")
    ],
]

#: orthogonal draws what torch draws, but through a QR of its own (the same bits for any
#: thread count; LAPACK's are not): equal to torch's up to float32 rounding.
ORTHOGONAL_CASES = [
    ({}, lambda t, g: torch.nn.init.orthogonal_(t, generator=g), (20, 50)),
    ({"gain": 2.0}, lambda t, g: torch.nn.init.orthogonal_(t, 2.0, g), (50, 20)),
    ({}, lambda t, g: torch.nn.init.orthogonal_(t, generator=g), (8, 4, 3, 3)),
]


@pytest.mark.parametrize(("scheme", "values", "torch_init", "shape"), TORCH_CASES)
def test_plain_layers_are_bit_identical_to_torch(scheme, values, torch_init, shape):
    ours = fill(shape, scheme, values, seed=1234)
    ref = torch.empty(shape)
    torch_init(ref, gen(1234))
    assert torch.equal(ours, ref)


@pytest.mark.parametrize(("values", "torch_init", "shape"), ORTHOGONAL_CASES)
def test_orthogonal_is_torchs_up_to_float32_rounding(values, torch_init, shape):
    ours = fill(shape, "orthogonal", values, seed=1234)
    ref = torch.empty(shape)
    torch_init(ref, gen(1234))
    assert torch.allclose(ours, ref, rtol=0, atol=2e-6 * values.get("gain", 1.0))


def test_every_torch_scheme_is_compared_with_torch():
    compared = {case[0] for case in TORCH_CASES} | {"orthogonal"}
    torch_schemes = {n for n, s in schemes.SCHEMES.items() if s.torch_name} - {"sparse"}
    assert compared == torch_schemes


def test_fillable_is_every_scheme_but_keep_and_default():
    assert set(init.FILLABLE) == set(schemes.SCHEMES) - {"keep", "default"}


def test_sparse_keeps_torch_values_and_zeroes_exactly_ceil_sparsity_rows_per_column():
    rows, cols, sparsity = 50, 40, 0.3
    ours = fill((rows, cols), "sparse", {"sparsity": sparsity, "std": 0.1}, seed=5)
    normal = torch.empty(rows, cols).normal_(0, 0.1, generator=gen(5))
    kept = ours != 0
    assert torch.equal(ours[kept], normal[kept])
    assert ((ours == 0).sum(dim=0) == math.ceil(sparsity * rows)).all()


@pytest.mark.parametrize(
    ("shape", "sparsity", "zeros"),
    [((512, 512), 0.1, 52), ((100, 7), 0.5, 50), ((3, 1000), 0.9, 3), ((10, 10), 0.0, 0)],
)
def test_sparse_zero_count_per_column(shape, sparsity, zeros):
    w = fill(shape, "sparse", {"sparsity": sparsity})
    assert (w == 0).sum(dim=0).tolist() == [zeros] * shape[1]


def test_sparse_is_reproducible_and_its_zero_pattern_comes_from_the_generator():
    args = {"sparsity": 0.25}
    a, b = fill((64, 64), "sparse", args, seed=3), fill((64, 64), "sparse", args, seed=3)
    c = fill((64, 64), "sparse", args, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a == 0, c == 0)
    # columns do not share one pattern
    zero_rows = {tuple((a[:, j] == 0).nonzero().flatten().tolist()) for j in range(64)}
    assert len(zero_rows) == 64


RANDOM_CASES = [
    (name, values, shape)
    for name, values, shape in [
        ("uniform", {}, (33, 17)),
        ("normal", {"std": 0.5}, (33, 17)),
        ("trunc_normal", {"std": 0.5}, (33, 17)),
        ("truncated_normal", {"std": 0.5}, (33, 17)),
        ("xavier_uniform", {}, (33, 17)),
        ("xavier_normal", {}, (33, 17)),
        ("kaiming_uniform", {}, (33, 17)),
        ("kaiming_normal", {}, (33, 17)),
        ("orthogonal", {}, (33, 17)),
        ("sparse", {"sparsity": 0.2}, (33, 17)),
        ("variance_scaling", {}, (33, 17)),
        ("variance_scaling", {"distribution": "uniform"}, (33, 17)),
        ("variance_scaling", {"distribution": "normal"}, (33, 17)),
        ("lecun_normal", {}, (33, 17)),
        ("lecun_uniform", {}, (33, 17)),
    ]
]


def test_random_cases_cover_every_random_scheme():
    random = {n for n, s in schemes.SCHEMES.items() if s.kind == "random"}
    assert {case[0] for case in RANDOM_CASES} == random


@pytest.mark.parametrize(("scheme", "values", "shape"), RANDOM_CASES)
def test_same_seed_same_bits_other_seed_other_values(scheme, values, shape):
    a, b = fill(shape, scheme, values, seed=7), fill(shape, scheme, values, seed=7)
    assert torch.equal(a, b)
    assert not torch.equal(a, fill(shape, scheme, values, seed=8))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
@pytest.mark.parametrize(("scheme", "values", "shape"), RANDOM_CASES)
def test_low_precision_tensors_get_the_float32_sample_cast(scheme, values, shape, dtype):
    low = fill(shape, scheme, values, dtype=dtype, seed=11)
    assert low.dtype == dtype
    assert torch.equal(low, fill(shape, scheme, values, seed=11).to(dtype))


def test_orthogonal_works_on_bf16_where_torch_does_not():
    with pytest.raises(NotImplementedError):
        torch.nn.init.orthogonal_(torch.empty(8, 8, dtype=torch.bfloat16))
    w = fill((8, 8), "orthogonal", dtype=torch.bfloat16).float()
    assert torch.allclose(w @ w.T, torch.eye(8), atol=0.02)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int64])
@pytest.mark.parametrize(
    ("scheme", "values", "expected"),
    [
        ("constant", {"val": 0.1}, 0.1),
        ("zeros", {}, 0.0),
        ("ones", {}, 1.0),
        ("prior", {"p": 0.01}, -math.log(99)),
    ],
)
def test_constants_are_written_in_the_tensors_own_dtype(scheme, values, expected, dtype):
    assert torch.equal(
        fill((3, 4), scheme, values, dtype=dtype), torch.full((3, 4), expected, dtype=dtype)
    )


def test_prior_bias_has_sigmoid_p():
    b = fill((10,), "prior", {"p": 0.01}, dtype=torch.float64)
    assert torch.allclose(
        torch.sigmoid(b), torch.full((10,), 0.01, dtype=torch.float64), rtol=1e-14
    )


def test_explicit_fans_are_used_instead_of_torchs():
    # ConvTranspose2d(16, 8, 3) stores (16, 8, 3, 3); the fan table says fan_in = 16 * 9,
    # which is torch's fan_in of the (8, 16, 3, 3) layout: same draws, same std.
    ours = fill((16, 8, 3, 3), "kaiming_normal", {"nonlinearity": "relu"}, fans=(144, 72))
    ref = torch.nn.init.kaiming_normal_(
        torch.empty(8, 16, 3, 3), nonlinearity="relu", generator=gen()
    )
    assert torch.equal(ours, ref.reshape(16, 8, 3, 3))
    ours = fill((10, 30), "xavier_uniform", {}, fans=(10, 30))
    ref = torch.nn.init.xavier_uniform_(torch.empty(30, 10), generator=gen())
    assert torch.equal(ours, ref.reshape(10, 30))


def test_a_block_view_writes_only_its_rows_with_the_whole_tensor_values():
    packed = torch.zeros(4 * 6, 5)
    init.fill_(packed[6:12], "orthogonal", {}, fan_in=5, fan_out=6, generator=gen(2))
    assert torch.equal(packed[6:12], fill((6, 5), "orthogonal", seed=2))
    assert not packed[:6].any() and not packed[12:].any()


def test_a_non_contiguous_view_gets_the_contiguous_values():
    base = torch.zeros(5, 9)
    init.fill_(base.t(), "normal", {}, fan_in=5, fan_out=9, generator=gen(3))
    assert torch.equal(base.t(), fill((9, 5), "normal", seed=3))


def test_trunc_normal_with_zero_std_is_the_clamped_mean():
    assert torch.equal(fill((4,), "trunc_normal", {"mean": 3.0, "std": 0.0}), torch.full((4,), 2.0))
    assert torch.equal(
        fill((4,), "truncated_normal", {"mean": 0.5, "std": 0.0}), torch.full((4,), 0.5)
    )


@pytest.mark.parametrize(
    ("derived", "base"),
    [
        (
            ("lecun_normal", {}),
            (
                "variance_scaling",
                {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
            ),
        ),
        (
            ("lecun_uniform", {}),
            ("variance_scaling", {"scale": 1.0, "mode": "fan_in", "distribution": "uniform"}),
        ),
        (
            ("variance_scaling", {"distribution": "normal"}),
            ("variance_scaling", {"distribution": "untruncated_normal"}),
        ),
    ],
)
def test_derived_schemes_are_their_definitions(derived, base):
    assert torch.equal(fill((40, 30), *derived), fill((40, 30), *base))


def test_keras_truncations_scale_one_unit_truncated_draw():
    unit = fill((40, 30), "truncated_normal", {"mean": 0.0, "std": 1.0})
    assert unit.abs().max() <= 2.0
    assert torch.equal(
        fill((40, 30), "truncated_normal", {"mean": 1.0, "std": 0.1}), unit * 0.1 + 1.0
    )
    # variance_scaling(2, fan_avg) on fans (30, 40): std sqrt(2 / 35), drawn as z · std / 0.8796…
    vs = fill((40, 30), "variance_scaling", {"scale": 2.0, "mode": "fan_avg"})
    assert torch.equal(vs, unit * (math.sqrt(2.0 / 35.0) / schemes.TRUNCATION_CORRECTION))


def test_variance_scaling_uses_at_least_one_for_the_fan():
    small = fill((3, 4), "variance_scaling", {"distribution": "uniform"}, fans=(0.5, 0.5))
    assert torch.equal(
        small, torch.empty(3, 4).uniform_(-math.sqrt(3.0), math.sqrt(3.0), generator=gen())
    )


@pytest.mark.parametrize(
    ("scheme", "values", "shape", "dtype", "message"),
    [
        (
            "orthogonal",
            {},
            (64,),
            torch.float32,
            "orthogonal needs a tensor of at least 2 dimensions (fans, a matrix); got shape (64,)",
        ),
        (
            "xavier_uniform",
            {},
            (64,),
            torch.float32,
            "xavier_uniform needs a tensor of at least 2 dimensions (fans, a matrix); got shape (64,)",
        ),
        (
            "kaiming_normal",
            {},
            (),
            torch.float32,
            "kaiming_normal needs a tensor of at least 2 dimensions (fans, a matrix); got shape ()",
        ),
        ("eye", {}, (3, 3, 3), torch.float32, "eye needs a 2-D tensor; got shape (3, 3, 3)"),
        (
            "sparse",
            {"sparsity": 0.1},
            (4, 4, 4),
            torch.float32,
            "sparse needs a 2-D tensor; got shape (4, 4, 4)",
        ),
        (
            "dirac",
            {},
            (4, 4),
            torch.float32,
            "dirac needs a 3-, 4- or 5-D convolution weight; got shape (4, 4)",
        ),
        (
            "dirac",
            {"groups": 3.0},
            (4, 4, 3),
            torch.float32,
            "dirac: dim 0 (4) is not divisible by groups=3; got shape (4, 4, 3)",
        ),
        (
            "normal",
            {},
            (4, 4),
            torch.int64,
            "normal draws random values and needs a floating-point tensor; got int64",
        ),
    ],
)
def test_impossible_shapes_fail_with_the_plan_rule_and_touch_nothing(
    scheme, values, shape, dtype, message
):
    t = torch.full(shape, 7, dtype=dtype)
    with pytest.raises(InitError) as err:
        init.fill_(t, scheme, values, fan_in=4, fan_out=4, generator=gen())
    assert str(err.value) == message
    assert message in {
        schemes.shape_error(scheme, shape, values),
        schemes.dtype_error(scheme, str(dtype)),
    }
    assert isinstance(err.value, InitPolicyError) and isinstance(err.value, ValueError)
    assert (t == 7).all()


@pytest.mark.parametrize(
    ("scheme", "message"),
    [
        ("keep", "keep: handled by the applier, not by fill_"),
        ("default", "default: handled by the applier, not by fill_"),
        ("kaiming", "unknown scheme 'kaiming'; expected one of " + ", ".join(init.FILLABLE)),
    ],
)
def test_schemes_fill_cannot_write(scheme, message):
    with pytest.raises(InitError) as err:
        init.fill_(torch.empty(2, 2), scheme, {}, fan_in=2, fan_out=2, generator=gen())
    assert str(err.value) == message


def test_a_zero_fan_is_an_error_not_a_division_by_zero():
    with pytest.raises(InitError, match=r"^kaiming_normal: fan_out is 0; it must be > 0$"):
        init.fill_(
            torch.empty(2, 2),
            "kaiming_normal",
            {"mode": "fan_out"},
            fan_in=2,
            fan_out=0,
            generator=gen(),
        )


@pytest.mark.parametrize("scheme", ["orthogonal", "kaiming_normal", "normal", "sparse"])
def test_empty_and_meta_tensors_are_left_alone(scheme):
    values = {"sparsity": 0.5} if scheme == "sparse" else {}
    init.fill_(torch.empty(0, 5), scheme, values, fan_in=0, fan_out=0, generator=gen())
    meta = torch.empty(4, 5, device="meta")
    g = gen()
    init.fill_(meta, scheme, values, fan_in=5, fan_out=4, generator=g)
    assert g.get_state().equal(gen().get_state())
