"""Regression tests of the second fault-injection run (issue 20): each test fails on the
code before the fix. Writers and policy reads are in tests/test_cli_writes.py and
tests/test_policy_files.py; the printer in tests/test_printer.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import initpolicy
from initpolicy.cli.main import cli
from initpolicy.errors import PolicyError
from initpolicy.language.expressions import MAX_EXPR_SIZE

MLP = """\
import torch
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
"""


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlp.py").write_text(MLP)
    return tmp_path


# -- 5: no policy can make the plan exponential ------------------------------------------


def _doubling(n: int) -> str:
    lets = [f"let a{i} = a{i - 1} + a{i - 1}" for i in range(1, n + 1)]
    return "\n".join(["let a0 = fan_in", *lets, f"Linear -> normal(0, 1 / a{n})"]) + "\n"


def test_a_doubling_let_chain_is_a_located_error_not_a_hang(repo: Path) -> None:
    (repo / "big.pol").write_text(_doubling(24))  # 600 bytes, 2**25 nodes written out
    start = time.perf_counter()
    for command in (["check", "big.pol"], ["explain", "mlp.py", "--policy", "big.pol"]):
        r = invoke(*command)
        assert r.exit_code == 2, r.output
        assert (
            "big.pol:10:10: expression too large: 1,023 nodes once its lets are written out"
            in r.stderr
        )
        assert r.stderr.count("big.pol:") == 1  # the uses of the refused let add no errors
    assert time.perf_counter() - start < 20


def test_an_expression_within_the_size_bound_plans() -> None:
    n = 8  # 2**9 - 1 = 511 nodes written out
    assert 2 ** (n + 1) - 1 <= MAX_EXPR_SIZE
    policy = initpolicy.load(_doubling(n))
    assert len(policy.ir.rules) == 1


def test_lets_cannot_nest_past_the_depth_bound() -> None:
    lets = [f"let a{i} = a{i - 1} + 1" for i in range(1, 120)]  # each let one level deeper
    with pytest.raises(PolicyError, match="nested more than 100 levels deep once its lets"):
        initpolicy.load("\n".join(["let a0 = fan_in", *lets, "Linear -> normal(0, a119)"]))
