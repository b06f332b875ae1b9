"""``mapped(SCHEME, fn)``: a draw written through an element-wise map over ``x``, as data.

RecurrentGemma's RG-LRU draws ``u ~ U(0.81, 0.998)`` and transforms it in place
(``log_().mul_(0.5).neg_().exp_().sub_(1.0).log_()``); the policy says the same thing as
``mapped(uniform(0.81, 0.998), log(exp(-(log(x) * 0.5)) - 1))`` and apply runs the same
kernels in the same order on its own draw, so the values are those bits, on meta too."""

from __future__ import annotations

import math

import pytest
import torch

import initpolicy
from initpolicy.errors import PlanError, PolicyError
from initpolicy.language.printer import policy as print_policy
from initpolicy.planner.match import build_plan
from initpolicy.tracer.tracing import trace

RG_LRU = "log(exp(-(log(x) * 0.5)) - 1)"
LO, HI = 0.9**2 + 1e-8, 0.999**2 + 1e-8


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.Linear(256, 8))


def _weights(text: str, seed: int = 5, meta: bool = False) -> torch.Tensor:
    if meta:
        with torch.device("meta"):
            m = _model()
        initpolicy.load(text).apply(m, seed=seed, device="cpu")
    else:
        m = _model()
        initpolicy.load(text).apply(m, seed=seed)
    return m[0].weight.detach().clone()


def test_it_parses_to_the_inner_scheme_and_the_map_and_prints_back():
    ir = initpolicy.load(
        f"let c = 0.5\nLinear -> mapped(uniform({LO!r}, {HI!r}), fn=exp(x) * c)"
    ).ir
    call = ir.rules[0].scheme
    assert (call.name, call.inner.name, [a.name for a in call.args]) == (
        "mapped",
        "uniform",
        ["fn"],
    )
    text = print_policy(ir)
    assert f"mapped(uniform({LO!r}, {HI!r}), fn=exp(x) * 0.5)" in text
    again = initpolicy.load(text).ir.rules
    assert [(r.selector, r.scheme) for r in again] == [(r.selector, r.scheme) for r in ir.rules]


@pytest.mark.parametrize("meta", [False, True], ids=["cpu", "meta"])
def test_apply_writes_the_inner_draw_through_the_map_bit_for_bit(meta):
    u = _weights(f"Linear -> uniform({LO!r}, {HI!r})")
    w = _weights(f"Linear -> mapped(uniform({LO!r}, {HI!r}), {RG_LRU})", meta=meta)
    assert torch.equal(w, u.clone().log_().mul_(0.5).neg_().exp_().sub_(1.0).log_())
    assert not torch.equal(w, _weights(f"Linear -> mapped(uniform({LO!r}, {HI!r}), {RG_LRU})", 6))


def test_explain_std_is_the_std_of_the_values_apply_writes():
    plan = build_plan(
        initpolicy.load(f"Linear -> mapped(uniform({LO!r}, {HI!r}), {RG_LRU})").ir,
        trace(_model(), tracer="modules"),
    )
    e = next(e for e in plan.entries if e.param.name == "0.weight")
    # the law's own std, from u's density: E and E[.^2] of log(u^-1/2 - 1), u ~ U(LO, HI)
    n = 1_000_000
    ys = [math.log((LO + (HI - LO) * (k + 0.5) / n) ** -0.5 - 1) for k in range(n)]
    mean = sum(ys) / n
    assert e.std == pytest.approx(math.sqrt(sum((y - mean) ** 2 for y in ys) / n), rel=1e-8)
    assert e.bound is None
    w = _weights(f"Linear -> mapped(uniform({LO!r}, {HI!r}), {RG_LRU})")
    assert abs(w.std().item() - e.std) < 6 * e.std / math.sqrt(2 * w.numel())


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("mapped(uniform(0, 1), 2)", r"1:33: the map never reads x, the drawn value"),
        ("mapped(uniform(0, 1), y)", r"1:33: unknown name 'y'"),
        ("mapped(uniform(0, 1), ndim * x)", r"1:33: .ndim. can only be used in a where condition"),
        ("mapped(uniform(0, 1))", r"1:11: mapped takes a scheme and one map over x"),
        ("mapped(uniform(0, 1), x, 2)", r"1:36: mapped takes a scheme and one map over x"),
        ("mapped(uniform(0, 1), g=x)", r"1:33: mapped has no argument 'g'"),
        ("mapped(x * 2)", r"1:18: the first argument of mapped must be a scheme"),
        ("mapped(scaled(normal(0, 1), 2), x)", r"cannot wrap the wrapper scaled"),
    ],
)
def test_misuse_is_a_located_parse_error(rule, message):
    with pytest.raises(PolicyError, match=message):
        initpolicy.load(f"Linear -> {rule}")


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("mapped(normal(0, 1), log(x))", r"the map is undefined on normal's draw.*log of a number"),
        (
            "mapped(zeros(), sqrt(x - 1))",
            r"the map is undefined on zeros's draw.*sqrt of a negative",
        ),
        ("mapped(keep, exp(x))", r"mapped needs values to map, and keep draws none"),
    ],
)
def test_a_map_the_draw_cannot_take_is_a_plan_error(rule, message):
    with pytest.raises(PlanError, match=message):
        build_plan(initpolicy.load(f"Linear -> {rule}").ir, trace(_model(), tracer="modules"))


#: RWKV's time-mix and decay curves (transformers' RwkvPreTrainedModel._init_weights): powers
#: of a grid whose exponent depends on the block index, as data over the tensor's numbers.
RWKV = """
let i = index(RwkvBlock)
let n = count(RwkvBlock)
RwkvSelfAttention.time_mix_key -> mapped(linspace(0, 1 - 1 / fan_in), x ** (1 - i / n))
RwkvSelfAttention.time_mix_value -> \\
    mapped(linspace(0, 1 - 1 / fan_in), x ** (1 - i / n) + 0.3 * i / (n - 1))
RwkvSelfAttention.time_mix_receptance -> \\
    mapped(linspace(0, 1 - 1 / fan_in), x ** (0.5 * (1 - i / n)))
RwkvFeedForward.time_mix_* -> mapped(linspace(0, 1 - 1 / fan_in), x ** (1 - i / n))
RwkvSelfAttention.time_decay -> \\
    mapped(linspace(0, 1), -5 + 8 * x ** (0.7 + 1.3 * i / (n - 1)))
"""


@pytest.mark.parametrize(("hidden", "layers"), [(32, 2), (48, 5)])
def test_the_map_reads_the_tensors_numbers_rwkv_curves_at_any_size(hidden, layers):
    import transformers

    cfg = transformers.RwkvConfig(
        vocab_size=64,
        hidden_size=hidden,
        num_hidden_layers=layers,
        attention_hidden_size=hidden,
        intermediate_size=2 * hidden,
    )
    torch.manual_seed(0)
    model = transformers.RwkvModel(cfg)
    curves = [k for k, _ in model.named_parameters() if "time_mix" in k or "time_decay" in k]
    want = {k: p.detach().clone() for k, p in model.named_parameters() if k in curves}
    assert len(want) == 6 * layers  # per block: decay, three attention mixes, two feed-forward
    initpolicy.load(RWKV).apply(model, seed=1)
    got = dict(model.named_parameters())
    for k in curves:
        # the code computes in float64 and rounds once; apply steps in float32
        scale = float(want[k].abs().max())
        torch.testing.assert_close(got[k].detach(), want[k], rtol=0, atol=2e-7 * scale)


def test_a_calibration_replay_keeps_the_map_and_replays_bit_for_bit():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    policy = initpolicy.load(
        "Linear -> lsuv(kaiming_normal(fan_in))\n"
        f"bias -> mapped(uniform(0.81, 0.998), {RG_LRU} * (index(Linear) + 1))"
    )
    replay = initpolicy.calibrate(model, policy, torch.randn(32, 8), seed=3).text
    assert f"-> mapped(uniform(0.81, 0.998), fn={RG_LRU} * 2)" in replay  # index folded
    again = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    initpolicy.load(replay).apply(again, seed=3)
    for (k, want), got in zip(model.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(got, want), k
