"""Values a tensor's dtype cannot hold are plan errors located at the rule, before any
write (docs/language.md, "Values and dtypes"): never an inf, a nan or a raw RuntimeError."""

from __future__ import annotations

import pytest
import torch

import initpolicy
from initpolicy.catalog import dtypes
from initpolicy.errors import PlanError


def test_the_dtype_table_is_torchs():
    for name, largest in dtypes.FLOAT_MAX.items():
        assert torch.finfo(getattr(torch, name)).max == largest, name
    for name, (lo, hi) in dtypes.INT_RANGE.items():
        if name != "bool":
            info = torch.iinfo(getattr(torch, name))
            assert (info.min, info.max) == (lo, hi), name


def _mlp(dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2)).to(
        dtype
    )


def _refused(model: torch.nn.Module, policy: str) -> str:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(PlanError) as err:
        initpolicy.apply(model, policy)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before), "the model was written"
    return str(err.value).splitlines()[0]


F32 = "beyond float32's largest finite value 3.4e+38"


@pytest.mark.parametrize(
    ("scheme", "message"),
    [
        ("normal(0, 1e300)", f"normal can reach 9e+300 (mean ± 9 std), {F32}"),
        ("normal(1e300, 1)", f"normal can reach 1e+300 (mean ± 9 std), {F32}"),
        ("orthogonal(gain=1e300)", f"orthogonal can reach 1e+300 (gain), {F32}"),
        ("sparse(0.5, std=1e300)", f"sparse can reach 9e+300 (mean ± 9 std), {F32}"),
        (
            "trunc_normal(0, 1e300, -1e300, 1e300)",
            f"trunc_normal can reach 9e+300 (mean ± 9 std), {F32}",
        ),
        ("truncated_normal(0, 1e300)", f"truncated_normal can reach 2e+300 (mean ± 2 std), {F32}"),
        (
            "uniform(-1e300, 1e300)",
            f"uniform can reach 2e+300 (its bounds and their distance), {F32}",
        ),
        (
            "xavier_uniform(gain=1e300)",
            f"xavier_uniform can reach 1.73e+300 (its bounds and their distance), {F32}",
        ),
        (
            "constant(1e300)",
            "constant writes 1e+300, but float32's largest finite value is 3.4e+38",
        ),
    ],
)
def test_a_value_beyond_float32_is_a_located_plan_error(scheme: str, message: str):
    first = _refused(torch.nn.Sequential(torch.nn.Linear(4, 4)), f"Linear -> {scheme}")
    assert first == f"<string>:1:1: 0.weight: {message}"


def test_a_float64_tensor_is_still_drawn_in_float32():
    first = _refused(_mlp(torch.float64), "Linear -> normal(0, 1e300)")
    assert first.endswith(f"{F32} (random values are drawn in float32, then rounded to float64)")


def test_float16_refuses_a_std_that_can_reach_past_65504():
    first = _refused(_mlp(torch.float16), "Linear -> normal(0, 30000)")
    assert first == (
        "<string>:1:1: 0.weight, 2.weight: normal can reach 270,000 (mean ± 9 std), "
        "beyond float16's largest finite value 65,504"
    )


def test_float16_takes_a_std_whose_reach_fits():
    model = _mlp(torch.float16)
    initpolicy.apply(model, "Linear -> normal(0, 7000)")
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e30", "int64 holds -9,223,372,036,854,775,808 to 9,223,372,036,854,775,807"),
        ("0.5", "int64 holds whole numbers only"),
        ("-1", None),
    ],
)
def test_a_constant_must_be_representable_in_an_integer_buffer(value: str, why: str | None):
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.BatchNorm1d(4))
    policy = f"num_batches_tracked -> constant({value})"
    if why is None:
        initpolicy.apply(model, policy)
        assert int(model[1].num_batches_tracked) == int(float(value))
        return
    first = _refused(model, policy)
    assert (
        first == f"<string>:1:1: 1.num_batches_tracked: constant writes {float(value):g}, but {why}"
    )


def test_the_error_carries_a_hint():
    with pytest.raises(PlanError) as err:
        initpolicy.apply(_mlp(torch.float16), "Linear -> normal(0, 30000)")
    assert err.value.diagnostics[0].hint == "smaller arguments, or a wider dtype for this tensor"


def test_the_normal_tail_bound_holds_for_torchs_sampler():
    # the rule assumes torch's CPU normal never draws beyond NORMAL_TAIL std
    from initpolicy.catalog.scheme_spec import NORMAL_TAIL

    g = torch.Generator().manual_seed(0)
    big = torch.empty(1 << 22).normal_(generator=g)
    small = torch.cat([torch.empty(8).normal_(generator=g) for _ in range(20000)])
    assert float(big.abs().max()) < NORMAL_TAIL and float(small.abs().max()) < NORMAL_TAIL
