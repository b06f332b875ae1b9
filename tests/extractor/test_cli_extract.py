"""`initpolicy extract` on the command line: stdout, -o, --format json, --call, exit codes."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pytest

import initpolicy
from tests._cli_support import invoke
from tests._policy_text import rule_lines

ROOT = Path(__file__).resolve().parents[2]

LATE = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(8, 8)

        def init_weights(self):
            torch.nn.init.normal_(self.fc.weight, std=0.01)
            torch.nn.init.zeros_(self.fc.bias)
    """
)
BROKEN = textwrap.dedent(
    """
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 4)
            torch.nn.init.orthogonal_(self.fc.bias)  # a 1-D tensor: raises
    """
)


@pytest.fixture
def repo(make_repo):
    gpt2 = (ROOT / "examples" / "gpt2_small.py").read_text(encoding="utf-8")
    return make_repo({"gpt2_small.py": gpt2, "late.py": LATE, "broken.py": BROKEN})


run = invoke


def test_the_policy_on_stdout_is_the_committed_example(repo):
    result = run("extract", "gpt2_small.py")
    assert result.exit_code == 0, result.output
    committed = (ROOT / "examples" / "gpt2_small.pol").read_text(encoding="utf-8")
    # the rules and lets (the comments name transformers' line numbers, which move)
    assert rule_lines(result.stdout) == rule_lines(committed)
    assert [x for x in result.stdout.splitlines() if x.startswith("let ")] == [
        x for x in committed.splitlines() if x.startswith("let ")
    ]


def test_output_file_is_written_once_unless_forced(repo):
    result = run("extract", "gpt2_small.py", "-o", "init.pol")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr == "wrote init.pol: 4 rules for 40 parameters\n"
    assert len(initpolicy.load(repo / "init.pol").rules) == 4
    again = run("extract", "gpt2_small.py", "-o", "init.pol")
    assert again.exit_code == 2
    assert again.stderr == "init.pol exists; pass --force to overwrite it\n"
    assert run("extract", "gpt2_small.py", "-o", "init.pol", "--force").exit_code == 0
    assert sorted(p.name for p in repo.iterdir() if p.name.startswith(".")) == []


def test_an_existing_output_is_refused_before_the_model_is_built(repo):
    (repo / "init.pol").write_text("keep me")
    result = run("extract", "broken.py", "-o", "init.pol")
    assert result.exit_code == 2
    assert result.stderr == "init.pol exists; pass --force to overwrite it\n"
    assert (repo / "init.pol").read_text() == "keep me"


def test_the_written_file_gets_the_mode_of_a_new_file(repo):
    mask = os.umask(0o022)
    try:
        assert run("extract", "gpt2_small.py", "-o", "init.pol").exit_code == 0
    finally:
        os.umask(mask)
    assert (repo / "init.pol").stat().st_mode & 0o777 == 0o644


def test_json_has_per_parameter_provenance(repo):
    result = run("extract", "gpt2_small.py", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["verification"] == {"planned_equal": True, "fixups": 0, "mismatches": []}
    proj = next(p for p in data["parameters"] if p["name"] == "transformer.h.0.attn.c_proj.weight")
    assert proj["how"] == "recorded"
    assert proj["source"]["function"] == "GPT2PreTrainedModel._init_weights"
    assert proj["source"]["file"] == "transformers/models/gpt2/modeling_gpt2.py"
    assert proj["source"]["call"].startswith("torch.nn.init.normal_(mean=0, std=0.0")
    assert data["rules"][proj["rule"]]["selector"] == 'named "*.c_proj"'


def test_call_runs_an_init_method_under_the_recorder(repo):
    result = run("extract", "late.py:Net", "--call", "init_weights")
    assert result.exit_code == 0, result.output
    assert [" ".join(r.split()) for r in rule_lines(result.stdout)] == [
        "weight -> normal(0, 0.01)",
        "bias -> zeros()",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("broken.py",),
            "broken.py: Net() raised: ValueError: Only tensors with 2 or more dimensions are supported",
        ),
        (("no_such_file.py",), "no_such_file.py: file not found"),
        (("torch.nn:Identity",), "Identity has no parameters; nothing to extract"),
        (("late.py:Net", "--call", "init_everything"), "the model has no method init_everything()"),
    ],
)
def test_exit_2_when_the_target_cannot_be_built_or_its_init_cannot_run(repo, args, message):
    result = run("extract", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message), result.stderr


def test_target_from_pyproject(repo):
    (repo / "pyproject.toml").write_text('[tool.initpolicy]\nmodel = "late.py:Net"\n')
    result = run("extract", "--call", "init_weights")
    assert result.exit_code == 0, result.output
    assert "`initpolicy extract late.py:Net`" in result.stdout


def test_a_policy_that_plans_differently_is_written_and_exits_1(repo, monkeypatch):
    # never a silent success: the policy is written (the best description there is), each
    # difference is a warning on stderr, the count an error, and the exit status 1
    from initpolicy.extractor import synthesize

    monkeypatch.setattr(
        synthesize,
        "compare",
        lambda plan, items, values=None: [(0, "zeros std=0 bound=None", False)],
    )
    result = run("extract", "late.py:Net", "--call", "init_weights", "-o", "init.pol")
    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == [
        "warning: fc.weight: planned zeros std=0 bound=None, observed normal std=0.01 bound=None",
        "wrote init.pol: 2 rules for 2 parameters",
        "error: the policy does not plan what the code did for 1 tensor(s) (listed above)",
    ]
    assert (repo / "init.pol").exists()
