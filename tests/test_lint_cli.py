"""`initpolicy lint`, `rules`, `rule`: exit codes, formats (JSON contract, SARIF 2.1.0,
GitHub annotations), selection and pyproject configuration, --fix-policy, --plot."""

from __future__ import annotations

import json
import textwrap

import pytest
from click.testing import CliRunner

from initpolicy.cli.main import cli
from initpolicy.errors import UsageError
from initpolicy.linter.registry import all_rules, selected
from initpolicy.linter.thresholds import thresholds

MODEL = """\
import torch
from torch import nn


def build_model():
    torch.manual_seed(0)
    layers = []
    for _ in range({depth}):
        layers += [nn.Linear(64, 64), nn.ReLU()]
    layers.append(nn.Linear(64, 10))
    model = nn.Sequential(*layers)
    {init}
    return model
"""
HE = "[nn.init.kaiming_normal_(m.weight) for m in model if isinstance(m, nn.Linear)]"


@pytest.fixture
def repo(make_repo):
    return make_repo(
        {"default.py": MODEL.format(depth=8, init="pass"), "he.py": MODEL.format(depth=8, init=HE)}
    )


def run(*args):
    return CliRunner().invoke(cli, ["lint", *args], catch_exceptions=False)


def test_exit_codes(repo):
    assert run("he.py").exit_code == 0
    assert run("default.py").exit_code == 1
    assert run("default.py", "--exit-zero").exit_code == 0
    assert run("default.py", "--fail-level", "error", "--static").exit_code == 0
    assert run("missing.py").exit_code == 2
    assert run("default.py", "--select", "IP999").exit_code == 2


def test_json_contract(repo):
    r = run("default.py", "--format", "json", "--static")
    data = json.loads(r.stdout)
    assert set(data) == {"findings", "summary"}
    keys = {
        "code",
        "name",
        "severity",
        "target",
        "message",
        "measured",
        "expected",
        "location",
        "related",
    }
    assert data["findings"] and all(set(f) == keys for f in data["findings"])
    first = data["findings"][0]
    assert (first["code"], first["name"], first["target"]) == (
        "IP106",
        "torch-default-before-relu",
        "0.weight",
    )
    assert first["related"] == ["range-too-narrow", "gain-mismatch"]
    assert first["message"].endswith('fix: Linear named "0" -> kaiming_normal(fan_in)')
    assert data["summary"]["warning"] == 8 and data["summary"]["failed"] is True


def test_sarif_is_valid_for_code_scanning(repo):
    log = json.loads(run("default.py", "--format", "sarif", "--static").stdout)
    assert log["version"] == "2.1.0"
    assert log["$schema"].endswith("sarif-2.1.0.json")
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "initpolicy"
    ids = [r["id"] for r in driver["rules"]]
    assert ids == [r.code for r in all_rules()]
    assert all(
        r["shortDescription"]["text"]
        and r["defaultConfiguration"]["level"] in ("error", "warning", "note")
        for r in driver["rules"]
    )
    results = log["runs"][0]["results"]
    assert len(results) == 8
    for res in results:
        assert res["ruleId"] in ids and driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == "warning" and res["message"]["text"]
        phys = res["locations"][0]["physicalLocation"]
        assert phys["artifactLocation"]["uri"] == "default.py"
        assert phys["region"]["startLine"] >= 1


def test_github_annotations(repo):
    lines = run("default.py", "--format", "github", "--static").stdout.splitlines()
    assert len(lines) == 8
    assert lines[0].startswith(
        "::warning file=default.py,title=IP106 torch-default-before-relu::0.weight: "
    )


def test_select_ignore_and_statistics(repo):
    out = run("default.py", "--statistics", "--ignore", "IP106").stdout
    assert "IP106" not in out and "IP201" in out
    out = run("default.py", "--statistics", "--select", "gain-mismatch", "--static").stdout
    assert out.split() == ["8", "IP103", "gain-mismatch", "[warning]"]


def test_pyproject_lint_table(repo):
    (repo / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.initpolicy]
            model = "default.py"
            [tool.initpolicy.lint]
            select = ["IP1"]
            ignore = ["IP106"]
            fail-level = "error"
            thresholds = { range-factor = 100 }
            """
        )
    )
    r = run("--format", "json", "--static")
    data = json.loads(r.stdout)
    assert {f["code"] for f in data["findings"]} == {"IP103"}
    assert r.exit_code == 0  # warnings only, fail level error
    assert run("--fail-level", "warning", "--static").exit_code == 1
    (repo / "pyproject.toml").write_text("[tool.initpolicy.lint]\nselct = ['IP1']\n")
    r = CliRunner().invoke(cli, ["lint", "default.py"])
    assert r.exit_code == 2 and "unknown key(s) in [tool.initpolicy.lint]: selct" in r.output


def test_fix_policy_resolves_the_findings(repo):
    assert run("default.py", "--fix-policy", "fixed.pol").exit_code == 1
    text = (repo / "fixed.pol").read_text()
    assert "Linear before relu -> kaiming_normal(fan_in)" in text
    r = run("default.py", "--policy", "fixed.pol", "--format", "json")
    assert json.loads(r.stdout)["findings"] == []
    assert r.exit_code == 0


def test_fix_policy_rewrites_a_bad_policy_in_place(repo):
    (repo / "bad.pol").write_text(
        "Linear before relu -> xavier_uniform()\nbias -> zeros()\nConv2d -> zeros()\n"
    )
    assert run("default.py", "--policy", "bad.pol", "--fix-policy", "fixed.pol").exit_code == 1
    lines = (repo / "fixed.pol").read_text().splitlines()
    assert lines[1].startswith(
        "Linear before relu -> kaiming_normal(fan_in)     # was: Linear before relu -> xavier_uniform()"
    )
    assert lines[3] == "# Conv2d -> zeros()    # IP303 rule-never-matches"
    r = run("default.py", "--policy", "fixed.pol", "--format", "json")
    assert json.loads(r.stdout)["findings"] == [] and r.exit_code == 0


def test_plot_and_table(repo):
    r = run("default.py", "--plot", "signal.png", "--exit-zero", "--table")
    assert (repo / "signal.png").read_bytes()[:4] == b"\x89PNG"
    assert "depth  layer  type    activation  out std" in r.stdout
    r = run("default.py", "--exit-zero")  # the table is behind --table
    assert "out std" not in r.stdout and r.stdout.splitlines()[-1].startswith("Found 11 finding")
    r = CliRunner().invoke(cli, ["lint", "default.py", "--static", "--plot", "x.png"])
    assert r.exit_code == 2 and "--plot needs the dynamic pass" in r.output


def test_rules_and_rule():
    r = CliRunner().invoke(cli, ["rules"])
    assert r.exit_code == 0 and len(r.stdout.splitlines()) == len(all_rules())
    assert r.stdout.splitlines()[0].split()[:4] == ["IP101", "constant-weight", "error", "static"]
    r = CliRunner().invoke(cli, ["rule", "IP106"])
    assert r.stdout.startswith("IP106 torch-default-before-relu (warning, static)")
    for section in ("What:", "Why:", "Anti-pattern:", "Fix:", "Thresholds:"):
        assert section in r.stdout
    r = CliRunner().invoke(cli, ["rule", "gain-mismach"])
    assert r.exit_code == 2 and "did you mean gain-mismatch?" in r.output


@pytest.mark.parametrize(
    ("select", "ignore", "extend", "codes"),
    [
        (
            ["IP1"],
            ["IP105"],
            [],
            {
                "IP101",
                "IP102",
                "IP103",
                "IP104",
                "IP106",
                "IP107",
                "IP108",
                "IP109",
                "IP110",
                "IP111",
                "IP120",
                "IP121",
                "IP122",
                "IP123",
                "IP124",
                "IP112",
                "IP113",
                "IP114",
            },
        ),
        (["IP2"], ["IP205"], [], {"IP201", "IP202", "IP203", "IP204", "IP206", "IP220"}),
        (["IP3"], ["IP3"], ["IP301"], {"IP301"}),
        (["gain-mismatch"], [], ["IP204"], {"IP103", "IP204"}),
        (["ALL"], ["IP1", "IP2"], [], {"IP301", "IP302", "IP303", "IP304", "IP305", "IP306"}),
    ],
)
def test_selection_most_specific_wins(select, ignore, extend, codes):
    assert {r.code for r in selected(select, ignore, extend)} == codes


def test_threshold_errors():
    with pytest.raises(
        UsageError,
        match=r"unknown lint threshold 'gain-tolerence' \(did you mean gain-tolerance\?\)",
    ):
        thresholds({"gain-tolerence": 1})
    with pytest.raises(UsageError, match="must be a number"):
        thresholds({"drift": "big"})


@pytest.mark.parametrize("fmt", ["json", "sarif", "text"])
def test_output_file_holds_exactly_what_stdout_would(repo, fmt):
    # a stated budget: the default one is measured (half of available memory) each run
    args = ("default.py", "--static", "--memory", "2G", "--format", fmt)
    to_stdout = run(*args)
    to_file = run(*args, "-o", "report.out")
    assert to_file.exit_code == to_stdout.exit_code == 1
    assert to_file.stdout == ""
    assert (repo / "report.out").read_text() == to_stdout.stdout


def test_text_folds_findings_of_one_cause_into_one_block_listing_the_layers(repo):
    """Every hidden layer at torch's default before ReLU is one cause: one block names the
    first layer, lists the others and gives the fix once; JSON keeps every finding."""
    r = run("default.py", "--static", "--select", "IP106")
    data = json.loads(run("default.py", "--static", "--select", "IP106", "--format", "json").stdout)
    targets = [f["target"] for f in data["findings"]]
    assert len(targets) >= 3
    lines = r.stdout.splitlines()
    assert sum("IP106 warning [torch-default-before-relu]" in line for line in lines) == 1
    assert f"    and {len(targets) - 1} more of the same cause: {', '.join(targets[1:])}" in lines
    assert any(line.endswith("; the same scheme for each") for line in lines)
    assert lines[-1].startswith(f"Found {len(targets)} finding(s)")


def test_a_clean_model_is_one_verdict_line(repo):
    r = run("he.py")
    assert r.exit_code == 0
    assert r.stdout.splitlines() == [r.stdout.strip()]
    assert r.stdout.startswith("No findings (")


def test_memory_option(repo):
    r = CliRunner().invoke(cli, ["lint", "he.py", "--memory", "lots"])
    assert r.exit_code == 2 and "--memory 'lots' is not a size" in r.output
    # a budget nothing fits whole: linted part by part, the same verdict
    r = run("he.py", "--memory", "1M", "--format", "json")
    summary = json.loads(r.stdout)["summary"]
    assert r.exit_code == 0 and summary["memory"] == "0.000977 GiB (--memory)"
