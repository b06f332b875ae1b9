"""Statistics of every random scheme on large tensors: the exact distribution
(Kolmogorov–Smirnov), the std that schemes.moments() promises, and the uniform bound.

Seeds are fixed, so each test is deterministic; the KS tests have the power to tell
the three truncations apart at this size (see the negative controls at the end).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.special import ndtr

from initpolicy.applier import fill as init
from initpolicy.catalog import schemes

C = schemes.TRUNCATION_CORRECTION
SHAPE = (512, 512)


def sample(scheme, values, shape=SHAPE, fans=None, seed=0):
    t = torch.empty(shape)
    fan_in, fan_out = fans if fans is not None else (shape[1], shape[0])
    init.fill_(
        t,
        scheme,
        values,
        fan_in=fan_in,
        fan_out=fan_out,
        generator=torch.Generator().manual_seed(seed),
    )
    return t.double().numpy().ravel()


class truncnorm:
    """scipy's truncnorm (frozen) with a vectorized cdf: scipy's generic one is ~10x slower."""

    def __init__(self, mean: float, std: float, a: float, b: float):
        self.mean_, self.std_ = mean, std
        self.alpha, self.beta = (a - mean) / std, (b - mean) / std
        self.frozen = stats.truncnorm(self.alpha, self.beta, loc=mean, scale=std)
        self.lo, self.z = ndtr(self.alpha), ndtr(self.beta) - ndtr(self.alpha)

    def cdf(self, x):
        return np.clip((ndtr((x - self.mean_) / self.std_) - self.lo) / self.z, 0.0, 1.0)

    def __getattr__(self, name):
        return getattr(self.frozen, name)


def sym_uniform(bound):
    return stats.uniform(loc=-bound, scale=2 * bound)


# (id, scheme, values, fans (fan_in, fan_out), exact distribution[, shape]).
CASES = [
    ("uniform", "uniform", {"a": -0.5, "b": 1.5}, (512, 512), stats.uniform(-0.5, 2.0)),
    ("normal", "normal", {"mean": 0.3, "std": 0.02}, (512, 512), stats.norm(0.3, 0.02)),
    ("trunc_normal", "trunc_normal", {}, (512, 512), truncnorm(0, 1, -2, 2)),
    (
        "trunc_normal_asym",
        "trunc_normal",
        {"mean": 0.5, "std": 2.0, "a": -1.0, "b": 4.0},
        (512, 512),
        truncnorm(0.5, 2.0, -1.0, 4.0),
    ),
    (
        "trunc_normal_tail",
        "trunc_normal",
        {"mean": 0.0, "std": 1.0, "a": 1.0, "b": 3.0},
        (512, 512),
        truncnorm(0, 1, 1, 3),
        (128, 128),  # torch's uniform-proposal rejection sampler is slow
    ),
    ("trunc_normal_timm", "trunc_normal", {"std": 0.02}, (512, 512), truncnorm(0, 0.02, -2, 2)),
    (
        "truncated_normal",
        "truncated_normal",
        {"mean": 1.0, "std": 0.5},
        (512, 512),
        truncnorm(1.0, 0.5, 0.0, 2.0),
    ),
    (
        "xavier_uniform",
        "xavier_uniform",
        {"gain": 2.0},
        (256, 512),
        sym_uniform(2.0 * math.sqrt(6 / 768)),
    ),
    ("xavier_normal", "xavier_normal", {}, (256, 512), stats.norm(0, math.sqrt(2 / 768))),
    (
        "kaiming_uniform",
        "kaiming_uniform",
        {"a": math.sqrt(5)},
        (512, 512),
        sym_uniform(1 / math.sqrt(512)),
    ),
    (
        "kaiming_normal_relu",
        "kaiming_normal",
        {"nonlinearity": "relu"},
        (128, 512),
        stats.norm(0, math.sqrt(2 / 128)),
    ),
    (
        "kaiming_normal_fan_out",
        "kaiming_normal",
        {"a": 0.2, "mode": "fan_out"},
        (128, 1152),
        stats.norm(0, math.sqrt(2 / 1.04 / 1152)),
    ),
    (
        "variance_scaling",
        "variance_scaling",
        {"scale": 2.0},
        (100, 300),
        truncnorm(0, math.sqrt(0.02) / C, -2 * math.sqrt(0.02) / C, 2 * math.sqrt(0.02) / C),
    ),
    (
        "variance_scaling_avg_normal",
        "variance_scaling",
        {"scale": 2.0, "mode": "fan_avg", "distribution": "untruncated_normal"},
        (100, 300),
        stats.norm(0, math.sqrt(0.01)),
    ),
    (
        "variance_scaling_out_uniform",
        "variance_scaling",
        {"scale": 3.0, "mode": "fan_out", "distribution": "uniform"},
        (100, 900),
        sym_uniform(math.sqrt(0.01)),
    ),
    ("lecun_normal", "lecun_normal", {}, (400, 20), truncnorm(0, 0.05 / C, -0.1 / C, 0.1 / C)),
    ("lecun_uniform", "lecun_uniform", {}, (300, 20), sym_uniform(0.1)),
]


@pytest.mark.parametrize(
    ("scheme", "values", "fans", "dist", "shape"),
    [pytest.param(*c[1:5], c[5] if len(c) > 5 else SHAPE, id=c[0]) for c in CASES],
)
def test_samples_follow_the_exact_distribution(scheme, values, fans, dist, shape):
    x = sample(scheme, values, shape=shape, fans=fans)
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3
    std, bound = schemes.moments(scheme, values, fan_in=fans[0], fan_out=fans[1], shape=shape)
    assert std == pytest.approx(dist.std(), rel=1e-9)
    assert x.std() == pytest.approx(std, rel=max(0.01, 4 / math.sqrt(2 * x.size)))
    lo, hi = dist.support()  # truncations stay inside, up to float32 rounding
    assert lo - 1e-6 * (1 + abs(lo)) <= x.min() and x.max() <= hi + 1e-6 * (1 + abs(hi))
    if bound is not None:  # the half-width of a uniform scheme, around its centre
        half_width = np.abs(x - dist.mean()).max()
        assert half_width <= bound
        assert half_width == pytest.approx(bound, rel=1e-3)


@pytest.mark.parametrize(
    ("mean", "std", "a", "b"), [(0, 1, -2, 2), (0.5, 2.0, -1.0, 4.0), (0, 1, 1, 3)]
)
def test_the_fast_truncnorm_cdf_is_scipys(mean, std, a, b):
    grid = np.linspace(a - 1, b + 1, 101)
    exact = stats.truncnorm((a - mean) / std, (b - mean) / std, mean, std)
    np.testing.assert_allclose(truncnorm(mean, std, a, b).cdf(grid), exact.cdf(grid), atol=1e-13)


@pytest.mark.parametrize(
    ("rows", "cols", "gain"), [(128, 512, 1.0), (512, 128, 2.0), (256, 256, 0.5)]
)
def test_orthogonal_entries_are_haar_coordinates(rows, cols, gain):
    w = sample("orthogonal", {"gain": gain}, shape=(rows, cols)).reshape(rows, cols)
    short, long = min(rows, cols), max(rows, cols)
    # each row (or column) is uniform on the unit sphere of R^long, times gain
    half = (long - 1) / 2
    assert (
        stats.kstest(w.ravel(), stats.beta(half, half, loc=-gain, scale=2 * gain).cdf).pvalue > 1e-3
    )
    gram = w @ w.T if rows <= cols else w.T @ w
    np.testing.assert_allclose(gram, gain**2 * np.eye(short), atol=1e-5)
    std, _ = schemes.moments(
        "orthogonal", {"gain": gain}, fan_in=cols, fan_out=rows, shape=(rows, cols)
    )
    assert math.sqrt((w**2).mean()) == pytest.approx(std, rel=1e-6)


@pytest.mark.parametrize(("sparsity", "std"), [(0.1, 0.01), (0.75, 1.0)])
def test_sparse_nonzeros_are_normal_and_std_matches_moments(sparsity, std):
    x = sample("sparse", {"sparsity": sparsity, "std": std})
    assert stats.kstest(x[x != 0], stats.norm(0, std).cdf).pvalue > 1e-3
    expected, _ = schemes.moments(
        "sparse", {"sparsity": sparsity, "std": std}, fan_in=512, fan_out=512, shape=SHAPE
    )
    assert math.sqrt((x**2).mean()) == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize(
    ("scheme", "values", "dist"),
    [
        ("kaiming_normal", {"nonlinearity": "relu"}, stats.norm(0, math.sqrt(2 / 512))),
        (
            "lecun_normal",
            {},
            truncnorm(0, 1 / math.sqrt(512) / C, -2 / math.sqrt(512) / C, 2 / math.sqrt(512) / C),
        ),
        ("xavier_uniform", {}, sym_uniform(math.sqrt(6 / 1024))),
    ],
)
def test_low_precision_samples_keep_their_distribution(scheme, values, dist, dtype):
    t = torch.empty(SHAPE, dtype=dtype)
    init.fill_(
        t, scheme, values, fan_in=512, fan_out=512, generator=torch.Generator().manual_seed(0)
    )
    x = t.double().numpy().ravel()
    # rounding to 8 (bf16) or 11 (fp16) mantissa bits is invisible to KS at this n
    assert stats.kstest(x, dist.cdf).pvalue > 1e-3
    assert x.std() == pytest.approx(dist.std(), rel=0.01)


@pytest.mark.parametrize(
    ("scheme", "values", "wrong"),
    [
        # torch's trunc_normal (absolute bounds ±2, std 1) vs an untruncated normal
        ("trunc_normal", {}, stats.norm(0, 1)),
        # Keras truncated_normal (no correction) vs variance_scaling's corrected one
        (
            "truncated_normal",
            {"std": 1 / math.sqrt(512)},
            truncnorm(0, 1 / math.sqrt(512) / C, -2 / math.sqrt(512) / C, 2 / math.sqrt(512) / C),
        ),
        # lecun_normal (truncated) vs an untruncated normal of the same std
        ("lecun_normal", {}, stats.norm(0, 1 / math.sqrt(512))),
    ],
)
def test_ks_tells_the_truncations_apart(scheme, values, wrong):
    assert stats.kstest(sample(scheme, values), wrong.cdf).pvalue < 1e-10
