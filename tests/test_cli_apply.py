"""`initpolicy apply` and `initpolicy explain` on the command line."""

from __future__ import annotations

import json
import textwrap

import pytest
import torch

import initpolicy
from initpolicy.errors import UsageError
from tests._cli_support import invoke

MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn


    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 6)
            self.fc = nn.Linear(6, 6)
            self.head = nn.Linear(6, 10, bias=False)
            self.head.weight = self.emb.weight

        def forward(self, ids):
            return self.head(torch.relu(self.fc(self.emb(ids))))


    def build_model():
        torch.manual_seed(123)
        return TiedLM()


    def example_inputs():
        return torch.zeros(1, 5, dtype=torch.long)
    """
)

POLICY = """(Linear|Embedding) -> normal(0, 0.02)
Linear before relu -> kaiming_normal(fan_in)
bias               -> zeros()
Transformr         -> zeros()
"""


@pytest.fixture
def repo(make_repo):
    return make_repo({"model.py": MODEL, "init.pol": POLICY})


run = invoke


def reference_state(repo, seed=0):
    import importlib.util

    spec = importlib.util.spec_from_file_location("ref_model", repo / "model.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    model = mod.build_model()
    initpolicy.apply(model, initpolicy.load(repo / "init.pol"), seed=seed)
    return model.state_dict()


def test_apply_reports_in_text(repo):
    result = run("apply", "model.py", "--policy", "init.pol")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "initialized 3 tensor(s), seed 0"  # head.weight is emb.weight
    assert lines[2].split() == [
        "emb.weight",
        "normal(mean=0,",
        "std=0.02)",
        "0.02",
        lines[2].split()[4],
        "init.pol:1",
    ]
    assert float(lines[2].split()[4]) == pytest.approx(0.02, rel=0.5)


def test_apply_json_is_the_explain_shape_plus_measurements(repo):
    result = run("apply", "model.py", "--policy", "init.pol", "--seed", "3", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["seed"] == 3 and data["unmatched"] == [] and data["out"] is None
    fc = next(p for p in data["parameters"] if p["name"] == "fc.weight")
    assert fc["measured_std"] > 0
    assert fc["rule"] == {
        "file": "init.pol",
        "line": 2,
        "text": "Linear before relu -> kaiming_normal(fan_in)",
    }


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_out_writes_the_initialized_state_dict_with_tied_tensors(repo, suffix):
    result = run("apply", "model.py", "--policy", "init.pol", "--out", f"init{suffix}")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == f"wrote init{suffix}"
    if suffix == ".pt":
        saved = torch.load(repo / "init.pt")
    else:
        from safetensors.torch import load_file

        saved = load_file(repo / "init.safetensors")
    expected = reference_state(repo)
    assert (
        sorted(saved) == sorted(expected) == ["emb.weight", "fc.bias", "fc.weight", "head.weight"]
    )
    assert all(torch.equal(saved[k], expected[k]) for k in expected)
    assert [p.name for p in repo.iterdir() if p.name.endswith(".tmp")] == []


def test_out_refuses_to_overwrite_without_force(repo):
    (repo / "init.pt").write_bytes(b"precious")
    result = run("apply", "model.py", "--policy", "init.pol", "--out", "init.pt")
    assert result.exit_code == 2
    assert result.stderr.strip() == "init.pt exists; pass --force to overwrite it"
    assert (repo / "init.pt").read_bytes() == b"precious"
    result = run("apply", "model.py", "--policy", "init.pol", "--out", "init.pt", "--force")
    assert result.exit_code == 0, result.output
    assert sorted(torch.load(repo / "init.pt")) == [
        "emb.weight",
        "fc.bias",
        "fc.weight",
        "head.weight",
    ]


def test_out_with_an_unknown_extension_is_a_usage_error(repo):
    result = run("apply", "model.py", "--policy", "init.pol", "--out", "init.npz")
    assert result.exit_code == 2
    assert (
        "unknown checkpoint format '.npz'; expected one of .pt, .pth, .bin, .safetensors"
        in result.stderr
    )
    assert not (repo / "init.npz").exists()
    # checked before the model is looked for: a typo in --out costs no trace
    result = run("apply", "missing.py", "--policy", "init.pol", "--out", "init.npz")
    assert result.stderr.startswith("init.npz: unknown checkpoint format '.npz'")


def test_explain_json_contract(repo):
    result = run("explain", "model.py", "--policy", "init.pol", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["unmatched"] == []
    keys = {"name", "module", "type", "activation", "scheme", "args", "std", "bound", "rule"}
    assert all(keys <= set(p) for p in data["parameters"])
    rows = {p["name"]: p for p in data["parameters"]}
    assert sorted(rows) == ["emb.weight", "fc.bias", "fc.weight"]  # head.weight is emb.weight
    assert rows["fc.weight"]["std"] == pytest.approx(2**0.5 / 6**0.5)
    assert rows["fc.weight"]["activation"] == "relu"
    assert rows["fc.weight"]["rule"]["line"] == 2
    assert [r["line"] for r in rows["fc.weight"]["overridden"]] == [1]
    assert data["never_matched"] == [
        {"file": "init.pol", "line": 4, "text": "Transformr         -> zeros()"}
    ]


def test_explain_text_shows_winners_overrides_and_dead_rules(repo):
    (repo / "init.pol").write_text(
        POLICY + 'Linear.weight named "fc" -> keep\nLinear named "fc" -> xavier_uniform()\n'
    )
    result = run("explain", "model.py", "--policy", "init.pol")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert (
        "fc.weight  (Linear before relu)  xavier_uniform(gain=1)  std=0.4082  bound=0.7071\n" in out
    )
    assert (
        '    over  init.pol:5  Linear.weight named "fc" -> keep\n'
        "    over  init.pol:2  Linear before relu -> kaiming_normal(fan_in)\n"
        "    over  init.pol:1  (Linear|Embedding) -> normal(0, 0.02)\n"
    ) in out
    assert "rules that matched nothing:\n  init.pol:4  Transformr         -> zeros()\n" in out
    assert out.endswith(
        "rules whose every match a later rule overrides:\n"
        "  init.pol:2  Linear before relu -> kaiming_normal(fan_in)\n"
        '  init.pol:5  Linear.weight named "fc" -> keep\n'
    )


def test_unmatched_and_strict(repo):
    (repo / "init.pol").write_text("Linear -> zeros()\n")
    assert run("apply", "model.py", "--policy", "init.pol").exit_code == 0
    result = run("apply", "model.py", "--policy", "init.pol", "--strict")
    assert result.exit_code == 2
    # `Linear` also matches emb.weight through its other name, head.weight
    assert result.stderr.startswith(
        "init.pol: 1 parameter(s) matched by no rule (strict): fc.bias\n"
    )


def test_plan_error_exits_2_with_the_rule_location(repo):
    (repo / "init.pol").write_text("Linear -> zeros()\nbias -> orthogonal()\n")
    result = run("apply", "model.py", "--policy", "init.pol", "--out", "x.pt")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "init.pol:2:1: fc.bias: orthogonal needs a tensor of at least 2 dimensions"
    )
    assert not (repo / "x.pt").exists()


def test_target_and_policy_from_pyproject(repo):
    (repo / "pyproject.toml").write_text('[tool.initpolicy]\nmodel = "model.py:build_model"\n')
    # the design card's command: relu_net.pol is the built-in when there is no such file
    result = run("apply", "--policy", "relu_net.pol", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"][0]["rule"]["file"].endswith("relu_net")
    (repo / "pyproject.toml").write_text(
        '[tool.initpolicy]\nmodel = "model.py"\npolicy = "init.pol"\n'
    )
    result = run("explain", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["parameters"][0]["rule"]["file"].endswith("init.pol")


def test_missing_policy_is_a_usage_error(repo):
    result = run("apply", "model.py")
    assert result.exit_code == 2
    assert "no --policy given and no [tool.initpolicy] policy in pyproject.toml" in result.stderr


def test_save_leaves_no_temporary_file_when_writing_fails(repo, monkeypatch):
    from initpolicy.applier import checkpoint as save

    def broken(state, tmp):
        raise OSError("disk full")

    monkeypatch.setattr(save, "_torch_write", broken)
    with pytest.raises(UsageError, match=r"cannot write .*x\.pt: disk full"):
        save.save_state_dict({"w": torch.zeros(2)}, repo / "x.pt")
    assert sorted(p.name for p in repo.iterdir()) == ["init.pol", "model.py"]


def test_explain_lists_unmatched_by_name_and_as_rows_without_a_rule(repo):
    (repo / "init.pol").write_text("Linear -> zeros()\n")
    data = json.loads(run("explain", "model.py", "--policy", "init.pol", "--format", "json").stdout)
    assert data["unmatched"] == ["fc.bias"]
    row = next(p for p in data["parameters"] if p["name"] == "fc.bias")
    assert (row["rule"], row["scheme"], row["std"], row["module"], row["type"]) == (
        None,
        None,
        None,
        "fc",
        "Linear",
    )
