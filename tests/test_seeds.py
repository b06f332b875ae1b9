"""Seeds are exact integers in [0, 2**63), the same wherever they are given: the policy
header ``seed N``, ``--seed`` (``catalog.seeds.parse_seed``) and the API's ``seed=``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import initpolicy
from initpolicy.catalog import seeds
from initpolicy.errors import PolicyError, UsageError

LARGEST = str(2**63 - 1)


@pytest.mark.parametrize(
    ("text", "seed"),
    [
        ("0", 0),
        ("7", 7),
        ("7.0", 7),
        ("1e3", 1000),
        ("123456789012345678", 123456789012345678),  # a float would make it ...680
        (LARGEST, 2**63 - 1),
    ],
)
def test_a_header_seed_is_the_exact_integer_it_writes(text, seed):
    assert initpolicy.load(f"seed {text}\nbias -> zeros()").seed == seed
    assert seeds.parse_seed(text) == seed


@pytest.mark.parametrize("text", ["1.5", str(2**63), "1e400", "1e999999999", "9.3e18"])
def test_a_header_seed_out_of_range_is_a_located_error(text):
    with pytest.raises(PolicyError) as err:
        initpolicy.load(f"seed {text}\nbias -> zeros()")
    assert str(err.value).splitlines()[0] == (
        f"<string>:1:6: seed must be a whole number in [0, 2**63), not {text}"
    )


@pytest.mark.parametrize("text", ["-1", "abc", "", "inf", "nan", "1/2", "0x10"])
def test_parse_refuses_what_is_not_a_decimal_whole_number(text):
    with pytest.raises(ValueError, match=r"seed must be a whole number in \[0, 2\*\*63\)"):
        seeds.parse_seed(text)


def _model() -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(3, 2))


@pytest.mark.parametrize("seed", [2**63 - 1, np.int64(5), 0])
def test_the_api_takes_every_seed_of_the_range(seed):
    report = initpolicy.apply(_model(), "Linear -> normal(0, 1)", seed=seed)
    assert report.plan.seed == int(seed)


@pytest.mark.parametrize("seed", [2**63, -1, 1.0, True, "7"])
def test_the_api_refuses_other_seeds_with_a_usage_error(seed):
    with pytest.raises(UsageError, match=r"seed must be a whole number in \[0, 2\*\*63\)"):
        initpolicy.apply(_model(), "Linear -> normal(0, 1)", seed=seed)


def test_the_header_and_the_api_give_the_same_tensors_for_a_large_seed():
    big = 123456789012345678
    a, b = _model(), _model()
    initpolicy.apply(a, f"seed {big}\nLinear -> normal(0, 1)")
    initpolicy.apply(b, "Linear -> normal(0, 1)", seed=big)
    assert torch.equal(a[0].weight, b[0].weight)
