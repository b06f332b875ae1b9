"""A training repo that keeps its policy beside its model (examples/training_repo): the
commands work with no arguments from [tool.initpolicy], the design card's
`initpolicy apply --policy relu_net.pol` works as written, and the training script applies
the policy in one line."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from initpolicy.cli.main import cli

REPO = Path(__file__).resolve().parent.parent / "examples" / "training_repo"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private copy of the example repo, as the working directory (a subdirectory of it,
    to prove the nearest pyproject.toml is found from below)."""
    dest = tmp_path / "repo"
    shutil.copytree(REPO, dest)
    monkeypatch.chdir(dest / "src")
    return dest


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_lint_with_no_arguments_uses_the_repo_model_and_policy(repo: Path) -> None:
    code, out = run("lint", "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["findings"] == []


def test_explain_with_no_arguments_points_at_the_repo_policy(repo: Path) -> None:
    code, out = run("explain", "--format", "json")
    assert code == 0, out
    params = {p["name"]: p for p in json.loads(out)["parameters"]}
    head = params["head.weight"]
    assert head["scheme"] == "normal"
    assert head["std"] == pytest.approx(0.01)
    assert head["rule"]["line"] == 3
    assert Path(head["rule"]["file"]).name == "model.pol"
    assert params["blocks.0.1.weight"]["activation"] == "relu"
    assert params["blocks.0.1.weight"]["std"] == pytest.approx((2 / 32) ** 0.5)


def test_design_card_apply_command_works_as_written(repo: Path) -> None:
    # relu_net.pol is no file of the repo: the built-in policy of that name is used.
    code, out = run("apply", "--policy", "relu_net.pol")
    assert code == 0, out
    assert "relu_net" in out


def test_apply_writes_once_and_refuses_to_overwrite(repo: Path) -> None:
    out_file = repo / "init.pt"
    assert run("apply", "--out", str(out_file))[0] == 0
    first = torch.load(out_file)
    assert first["head.weight"].std().item() == pytest.approx(0.01, rel=0.3)
    code, out = run("apply", "--out", str(out_file))
    assert code == 2
    assert "--force" in out
    assert torch.equal(torch.load(out_file)["head.weight"], first["head.weight"])


def test_training_script_applies_the_policy_in_one_line(repo: Path) -> None:
    spec = importlib.util.spec_from_file_location("train", repo / "src" / "train.py")
    assert spec is not None and spec.loader is not None
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    first = train.main(seed=0, steps=3)
    assert first == train.main(seed=0, steps=3)  # the policy's init is reproducible
    assert first < 1.386  # below the loss of a uniform guess over 4 classes, log(4)


def test_pre_commit_hooks_run_in_a_training_repo(repo: Path) -> None:
    yaml = pytest.importorskip("yaml")
    hooks = yaml.safe_load((REPO.parent.parent / ".pre-commit-hooks.yaml").read_text())
    assert {h["id"] for h in hooks} == {"initpolicy-check", "initpolicy-lint"}
    for hook in hooks:
        assert hook["language"] == "system"
        argv = hook["entry"].split()
        assert argv[0] == "initpolicy"
        # pre-commit appends the staged files that match `files` unless pass_filenames is false
        files = [] if hook.get("pass_filenames") is False else [str(repo / "init" / "model.pol")]
        code, out = run(*argv[1:], *files)
        assert code == 0, f"{hook['id']}: {out}"
