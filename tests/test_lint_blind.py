"""Blind spots of the linter (issue 18): each injected bug is reported on the right layer,
and the clean model stays clean."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import initpolicy
from initpolicy.linter.fix import fix_policy


def _codes(result, code):
    return {f.target: f for f in result.all_findings if f.code == code}


class LSTMNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(16, 32, num_layers=2)
        self.head = nn.Linear(32, 4)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out)


def test_forget_bias_minus_ten_is_a_warning_and_the_per_gate_fix_resolves_it():
    torch.manual_seed(0)
    m = LSTMNet()
    with torch.no_grad():
        m.rnn.bias_ih_l1[32:64].fill_(-10.0)
        m.rnn.bias_hh_l1[32:64].zero_()
    result = initpolicy.lint(m, static=True, select=["IP110", "IP111"])
    found = _codes(result, "IP110")
    assert found["rnn.bias_ih_l1"].severity == "warning"
    assert found["rnn.bias_ih_l1"].measured == pytest.approx(-10.0, abs=0.2)
    # torch's default biases (about 0) stay info: a half-open gate, not a closed one
    assert found["rnn.bias_ih_l0"].severity == "info"
    fixes = _codes(result, "IP111")["rnn.weight_hh_l0"].fixes
    assert fixes == [
        f'LSTM.weight_hh_l0[{g}] named "rnn" -> orthogonal()'
        for g in ("input", "forget", "cell", "output")
    ]
    text = fix_policy(result.all_findings, result.graph)
    fixed = initpolicy.lint(m, text, static=True, select=["IP110", "IP111"])
    assert fixed.all_findings == []
    # the fixed policy writes each gate block orthogonal, and the forget gate's sum to 1
    copy = LSTMNet()
    initpolicy.apply(copy, text)
    w = copy.rnn.weight_hh_l1.detach()
    for gate in range(4):
        block = w[gate * 32 : (gate + 1) * 32]
        assert torch.allclose(block @ block.T, torch.eye(32), atol=1e-5)
    gate_sum = copy.rnn.bias_ih_l1 + copy.rnn.bias_hh_l1
    assert torch.equal(gate_sum[32:64], torch.ones(32))
