"""Applying a plan: reproducibility, atomicity, module defaults, layer-aware writes, dtypes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.applier.execution import execute
from initpolicy.applier.streams import derive
from initpolicy.errors import PlanError


class Net(nn.Module):
    """fc1 -> relu -> [extra -> relu] -> fc2 -> tanh -> head; `extra` optional, `swap`
    registers fc2 before fc1 (registration order differs, names do not)."""

    def __init__(self, extra: bool = False, swap: bool = False):
        super().__init__()
        if swap:
            self.fc2 = nn.Linear(16, 16)
            self.fc1 = nn.Linear(8, 16)
        else:
            self.fc1 = nn.Linear(8, 16)
            self.fc2 = nn.Linear(16, 16)
        self.extra = nn.Linear(16, 16) if extra else None
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.fc1(x))
        if self.extra is not None:
            x = torch.relu(self.extra(x))
        return self.head(torch.tanh(self.fc2(x)))


POLICY = """
Linear before relu   -> kaiming_normal(fan_in)
Linear before tanh   -> xavier_uniform(gain=gain)
Linear before output -> xavier_normal()
bias                 -> uniform(-0.1, 0.1)
"""


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def same(a, b, keys=None):
    keys = keys if keys is not None else a.keys()
    return all(torch.equal(a[k], b[k]) for k in keys)


def test_same_seed_gives_bit_identical_tensors_and_other_seeds_do_not():
    runs = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed + 100)  # the global RNG plays no part
        m = Net()
        initpolicy.apply(m, POLICY, seed=seed)
        runs.append(state(m))
    assert same(runs[0], runs[1])
    assert not any(
        torch.equal(runs[0][k], runs[2][k]) for k in ("fc1.weight", "fc2.weight", "head.weight")
    )


def test_policy_seed_is_used_when_no_seed_is_given():
    a, b, c = Net(), Net(), Net()
    initpolicy.apply(a, "seed 7\n" + POLICY)
    initpolicy.apply(b, POLICY, seed=7)
    initpolicy.apply(c, "seed 7\n" + POLICY, seed=0)
    assert same(state(a), state(b))
    assert not torch.equal(a.fc1.weight, c.fc1.weight)


@pytest.mark.parametrize("variant", [{"extra": True}, {"swap": True}])
def test_adding_or_reordering_layers_changes_no_other_parameter(variant):
    base, other = Net(), Net(**variant)
    initpolicy.apply(base, POLICY, seed=3)
    initpolicy.apply(other, POLICY, seed=3)
    assert same(state(base), state(other), base.state_dict().keys())


def test_each_tensor_draws_from_its_own_seeded_generator():
    m = Net()
    initpolicy.apply(m, "Linear -> normal(0, 0.5)", seed=11)
    g = torch.Generator().manual_seed(derive(11, "fc2.weight"))
    expected = torch.empty(16, 16).normal_(0, 0.5, generator=g)
    assert torch.equal(m.fc2.weight, expected)


def test_plan_error_leaves_the_model_bit_identical():
    m = Net()
    before = state(m)
    with pytest.raises(PlanError) as info:
        initpolicy.apply(m, "Linear -> kaiming_normal(fan_in)\nbias -> orthogonal()")
    assert "fc1.bias, fc2.bias: orthogonal needs a tensor of at least 2 dimensions" in str(
        info.value
    )
    assert same(before, state(m))


def test_an_unexpected_failure_while_writing_restores_every_tensor(monkeypatch):
    from initpolicy.applier import writes
    from initpolicy.applier.pool import Task

    calls = []
    real = writes.entry_tasks

    def fire() -> None:
        raise RuntimeError("disk on fire")

    def flaky(*args, **kwargs):  # the 4th entry's write fails in a drawing thread
        calls.append(1)
        return [Task(fire)] if len(calls) == 4 else real(*args, **kwargs)

    monkeypatch.setattr(writes, "entry_tasks", flaky)
    m = Net()
    before = state(m)
    with pytest.raises(RuntimeError, match="disk on fire"):
        initpolicy.apply(m, POLICY)
    assert len(calls) >= 4  # later entries may have been queued while it ran
    assert same(before, state(m))


def test_default_runs_reset_parameters_under_a_seeded_fork_and_keeps_the_rest():
    m = Net()
    weight = m.fc1.weight.detach().clone()
    rng = torch.get_rng_state()
    initpolicy.apply(m, 'Linear.bias named "fc1" -> default', seed=5)
    assert torch.equal(torch.get_rng_state(), rng)  # the global RNG is untouched
    assert torch.equal(m.fc1.weight, weight)  # reset_parameters rewrote it; no rule: restored
    ref = nn.Linear(8, 16)
    torch.manual_seed(derive(5, "fc1", "default"))
    ref.reset_parameters()
    assert torch.equal(m.fc1.bias, ref.bias)


def test_embedding_keeps_its_padding_row_zero():
    m = nn.Sequential(nn.Embedding(10, 4, padding_idx=3), nn.Linear(4, 2))
    report = initpolicy.apply(m, "Embedding -> normal(0, 1)\nLinear -> zeros()\nbias -> zeros()")
    w = m[0].weight
    assert torch.equal(w[3], torch.zeros(4))
    assert w[torch.arange(10) != 3].abs().min() > 0
    assert report["0.weight"].scheme == "normal"


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(6, 8, num_layers=2)
        self.head = nn.Linear(8, 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


@pytest.mark.parametrize(
    "policy",
    [
        "lstm",  # bias* -> zeros(); bias_ih*[forget] -> ones()
        "LSTM -> orthogonal()\nbias* -> zeros()\nLSTM.bias*[forget] -> ones()",  # one rule, both biases
    ],
)
def test_lstm_forget_gate_bias_sums_to_one(policy):
    m = LSTMNet()
    initpolicy.apply(m, policy)
    for layer in (0, 1):
        total = getattr(m.rnn, f"bias_ih_l{layer}") + getattr(m.rnn, f"bias_hh_l{layer}")
        assert torch.equal(total[8:16], torch.ones(8))
        assert torch.equal(total[:8], torch.zeros(8)) and torch.equal(total[16:], torch.zeros(16))


def test_block_rules_write_each_gate_with_its_own_fans():
    m = LSTMNet()
    initpolicy.apply(m, "lstm")
    w = m.rnn.weight_hh_l1.detach()
    for gate in range(4):
        block = w[gate * 8 : (gate + 1) * 8]
        assert torch.allclose(block @ block.T, torch.eye(8), atol=1e-5)
    whole = w.T @ w  # four orthogonal blocks stacked: W^T W = 4 I, not I
    assert torch.allclose(whole, 4 * torch.eye(8), atol=1e-4)


def test_bf16_model_is_sampled_in_float32_and_cast():
    m = Net().to(torch.bfloat16)
    report = initpolicy.apply(m, "Linear -> orthogonal()\nbias -> zeros()", seed=0)
    assert m.fc1.weight.dtype == torch.bfloat16
    ref = Net()
    initpolicy.apply(ref, "Linear -> orthogonal()\nbias -> zeros()", seed=0)
    assert torch.equal(m.fc1.weight, ref.fc1.weight.to(torch.bfloat16))
    assert report["fc1.weight"].measured_std == pytest.approx(report["fc1.weight"].std, rel=0.02)


def test_skip_initializes_only_what_a_checkpoint_lacks():
    m = Net()
    checkpoint = {k: v for k, v in state(m).items() if k.startswith("fc1.")}
    report = initpolicy.apply(m, POLICY, skip=checkpoint)
    assert same(checkpoint, state(m), checkpoint.keys())
    assert report.skipped == [("fc1.weight", "skipped"), ("fc1.bias", "skipped")]
    assert "fc2.weight" in {e.name for e in report.entries}


def test_frozen_parameters_are_skipped_and_reported():
    m = Net()
    m.fc1.requires_grad_(False)
    before = state(m)
    report = initpolicy.apply(m, POLICY)
    assert same(before, state(m), ["fc1.weight", "fc1.bias"])
    assert report.skipped == [("fc1.weight", "frozen"), ("fc1.bias", "frozen")]


def test_strict_fails_on_unmatched_parameters_and_writes_nothing():
    m = Net()
    before = state(m)
    with pytest.raises(PlanError, match=r"3 parameter\(s\) matched by no rule \(strict\)"):
        initpolicy.apply(m, "Linear -> zeros()", strict=True)
    assert same(before, state(m))
    report = initpolicy.apply(m, "Linear -> zeros()")
    assert report.unmatched == ["fc1.bias", "fc2.bias", "head.bias"]


def test_report_measures_what_was_written_and_renders():
    m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 10))
    report = initpolicy.apply(
        m, "Linear -> normal(0, 0.1)\nLinear before relu -> kaiming_normal(fan_in)\nbias -> zeros()"
    )
    e = report["0.weight"]
    assert e.std == pytest.approx(2**0.5 / 16)
    # up to 2^16 elements measured exactly, larger tensors on a 2^16-element sample
    assert report["2.weight"].measured_std == pytest.approx(
        float(m[2].weight.detach().std()), rel=1e-6
    )
    assert e.measured_std == pytest.approx(float(m[0].weight.detach().std()), rel=0.01)
    assert abs(e.measured_std - e.std) / e.std < 0.02
    row = e.to_json()
    assert set(row) >= {
        "name",
        "module",
        "type",
        "activation",
        "scheme",
        "args",
        "std",
        "bound",
        "rule",
        "measured_std",
    }
    assert row["rule"] == {
        "file": "<string>",
        "line": 2,
        "text": "Linear before relu -> kaiming_normal(fan_in)",
    }
    text = str(report)
    assert text.splitlines()[0] == "initialized 4 tensor(s), seed 0"
    assert "0.weight  kaiming_normal(a=0, mode=fan_in, nonlinearity=leaky_relu)  0.08839  " in text


def test_apply_rejects_a_non_module():
    with pytest.raises(initpolicy.UsageError, match=r"apply needs a torch\.nn\.Module, got dict"):
        initpolicy.apply({}, POLICY)


def test_execute_is_the_applier_without_tracing():
    m = Net()
    plan = initpolicy.load(POLICY).plan(m, seed=2)
    report = execute(plan, m)
    again = Net()
    initpolicy.apply(again, POLICY, seed=2)
    assert [e.name for e in report.entries][:2] == ["fc1.weight", "fc1.bias"]
    assert same(state(again), state(m))


def test_a_wrapped_model_gets_the_same_values_as_the_bare_one():
    bare, inner = Net(), Net()
    initpolicy.apply(bare, POLICY, seed=1)
    wrapped = nn.DataParallel(inner)  # names gain a "module." prefix; seeds use canonical names
    report = initpolicy.apply(wrapped, POLICY, seed=1)
    assert report.entries[0].name == "fc1.weight"
    assert same(state(bare), state(inner))


@pytest.mark.parametrize(
    ("policy", "traced"),
    [
        ("gpt2", False),
        ("llama", False),
        ("keras_default", False),
        ("relu_net", True),  # before
        ("Linear -> xavier_uniform(gain=gain)", True),
        ("Linear -> normal(0, 1 / (depth + 1))", True),
        ("Linear where depth > 1 -> zeros()", True),
        ("Linear -> normal(0, 1 / count(Linear after Linear))", True),
        ('Linear -> normal(0, 1 / count(Linear named "fc*"))', False),
    ],
)
def test_only_policies_that_read_activations_need_a_forward_pass(policy, traced):
    from initpolicy.planner.match import needs_trace

    assert needs_trace(initpolicy.load(policy).ir) is traced


def test_structure_only_planning_writes_what_a_full_trace_would():
    from initpolicy.planner.match import build_plan as plan
    from initpolicy.tracer.tracing import trace

    policy = initpolicy.load(
        'Linear -> normal(0, 0.1)\nLinear named "head" -> zeros()\nbias -> ones()'
    )
    a, b = Net(), Net()
    initpolicy.apply(a, policy, seed=8)  # plans on the module structure
    execute(plan(policy.ir, trace(b, tracer="fx"), seed=8), b)
    assert same(state(a), state(b))


def test_a_buffer_is_written_when_a_rule_names_it():
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU())
    report = initpolicy.apply(
        m, "use resnet\nBatchNorm2d.running_var -> constant(2)\nbias -> zeros()"
    )
    assert torch.equal(m[1].running_var, torch.full((4,), 2.0))
    assert torch.equal(m[1].running_mean, torch.zeros(4))  # not named: kept
    assert report["1.running_var"].scheme == "constant"


def test_lazy_layers_are_materialized_by_a_trace_even_when_the_policy_reads_no_activation():
    m = nn.Sequential(nn.LazyLinear(8), nn.ReLU(), nn.Linear(8, 2))
    initpolicy.apply(
        m, "Linear -> normal(0, 0.1)\nbias -> zeros()", example_inputs=torch.zeros(1, 5)
    )
    assert m[0].weight.shape == (8, 5)
    assert torch.equal(m[0].bias, torch.zeros(8))


def test_a_depthwise_transposed_conv_gets_the_std_of_its_real_fan_in():
    # ConvTranspose2d(64, 64, 4, groups=64): each output sees 1 channel x 4 x 4 inputs, so
    # He's std is sqrt(2 / 16) = 0.354 (not sqrt(2 / 1024) = 0.044 for groups=1's table)
    model = nn.Sequential(nn.ConvTranspose2d(64, 64, 4, groups=64), nn.ReLU())
    report = initpolicy.load("ConvTranspose2d before ReLU -> kaiming_normal(fan_in)").apply(model)
    assert report["0.weight"].std == pytest.approx(math.sqrt(2 / 16))
    assert float(model[0].weight.std()) == pytest.approx(math.sqrt(2 / 16), rel=0.05)
