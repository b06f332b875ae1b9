"""``[tool.initpolicy]`` on the command line: read once per command into click's default_map,
every value a parameter's default (the command line wins), a malformed table a clean
usage error (exit 2) in every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from initpolicy.cli import config as cli_config
from initpolicy.cli.main import EXIT_ERROR
from tests._cli_support import outcome

ROOT = Path(__file__).resolve().parent.parent

MODEL = """\
import torch
from torch import nn


def build_model():
    layers = []
    for _ in range(4):
        layers += [nn.Linear(16, 16), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(16, 2))
"""


@pytest.fixture
def repo(make_repo) -> Path:
    """A repo whose pyproject.toml names a model and a policy, worked in from src/."""
    return make_repo(
        {
            "src/model.py": MODEL,
            "init/model.pol": "Linear before relu -> kaiming_normal(fan_in)\n",
            "pyproject.toml": '[tool.initpolicy]\nmodel = "src/model.py:build_model"\n'
            'policy = "init/model.pol"\n',
        },
        cwd="src",
    )


run = outcome


def lint_codes(*args: str) -> set[str]:
    code, out, err = run("lint", "--static", "--format", "json", "--exit-zero", *args)
    assert code == 0, err
    return {f["code"] for f in json.loads(out)["findings"]}


# -- read once, by the group ---------------------------------------------------------------

COMMANDS = [
    ["check"],
    ["trace", "--format", "json"],
    ["explain", "--format", "json"],
    ["apply", "--format", "json"],
    ["lint", "--static", "--format", "json"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_each_command_reads_the_pyproject_once(
    repo: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    reads: list[Path | None] = []
    find = cli_config.find_pyproject

    def counting(start: Path | None = None) -> Path | None:
        reads.append(find(start))
        return reads[-1]

    monkeypatch.setattr(cli_config, "find_pyproject", counting)
    code, _, err = run(*args)
    assert code in (0, 1), err
    assert reads == [repo / "pyproject.toml"]


def test_configured_paths_are_relative_to_the_pyproject(repo: Path) -> None:
    code, out, _ = run("trace", "--format", "json")
    assert code == 0
    # shown relative to the working directory (src/), a TARGET the user could type here
    assert json.loads(out)["target"] == "model.py:build_model"
    assert run("check") == (0, "../init/model.pol: 1 rule ok\n", "")


def test_the_command_line_wins_over_the_configured_target_and_policy(repo: Path) -> None:
    (repo / "src" / "other.py").write_text("import torch\nmodel = torch.nn.Linear(3, 5)\n")
    code, out, _ = run("trace", "other.py", "--format", "json")
    assert (code, json.loads(out)["target"]) == (0, "other.py")
    code, out, _ = run("explain", "--policy", "relu_net", "--format", "json")
    assert code == 0
    assert json.loads(out)["parameters"][0]["rule"]["file"].endswith("relu_net")


def test_no_policy_drops_only_the_configured_policy(repo: Path) -> None:
    (repo / "init" / "model.pol").write_text("Linear -> zeros()\n")  # IP101 constant-weight
    assert "IP101" in lint_codes()
    assert "IP101" not in lint_codes("--no-policy")
    assert "IP101" in lint_codes("--no-policy", "--policy", "../init/model.pol")


def test_ignore_and_extend_select_add_to_the_lint_table(repo: Path) -> None:
    # torch's default init before ReLU: IP106, which folds IP103 in when both are selected
    (repo / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [tool.initpolicy]
            model = "src/model.py:build_model"
            [tool.initpolicy.lint]
            select = ["IP1"]
            ignore = ["IP106", "IP103"]
            """
        )
    )
    assert lint_codes() == set()
    # had --ignore replaced the table's ignore, IP106 would be back
    assert lint_codes("--ignore", "IP105") == set()


def test_select_replaces_the_lint_tables_select(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[tool.initpolicy]\nmodel = "src/model.py:build_model"\n'
        '[tool.initpolicy.lint]\nselect = ["IP103"]\n'
    )
    assert lint_codes() == {"IP103"}
    assert lint_codes("--select", "IP101") == set()  # added, IP103 would still be reported
    assert lint_codes("--select", "IP101", "--extend-select", "IP103") == {"IP103"}


def test_a_configured_empty_select_selects_nothing(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[tool.initpolicy]\nmodel = "src/model.py:build_model"\n'
        '[tool.initpolicy.lint]\nselect = []\nextend-select = ["IP106"]\n'
    )
    assert lint_codes() == {"IP106"}


def test_thresholds_from_the_table_and_the_command_line_win_per_name(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[tool.initpolicy]\nmodel = "src/model.py:build_model"\n'
        "[tool.initpolicy.lint]\nthresholds = { torch-default-tolerance = -1 }\n"
    )
    # a negative tolerance is a band nothing falls in: IP106 is never reported
    assert "IP106" not in lint_codes()
    assert "IP106" in lint_codes("--threshold", "torch-default-tolerance=0.1")


def test_configured_fail_level_and_the_command_line_over_it(repo: Path) -> None:
    (repo / "pyproject.toml").write_text(
        '[tool.initpolicy]\nmodel = "src/model.py:build_model"\n'
        '[tool.initpolicy.lint]\nselect = ["IP106"]\nfail-level = "error"\n'
    )
    assert run("lint", "--static")[0] == 0  # IP106 is a warning
    assert run("lint", "--static", "--fail-level", "warning")[0] == 1


# -- malformed pyproject: exit 2 in every command -------------------------------------------

MALFORMED: list[tuple[str, str, str]] = [
    ("tool not a table", "tool = 5\n", "`tool` must be a table, got 5"),
    ("table not a table", "[tool]\ninitpolicy = 5\n", "[tool.initpolicy] must be a table, got 5"),
    ("toml syntax", "[tool.initpolicy\n", "cannot read [tool.initpolicy]: "),
    (
        "unknown key",
        "[tool.initpolicy]\nmodle = 'm.py'\n",
        "unknown key(s) in [tool.initpolicy]: modle (expected one of model, policy, lint)",
    ),
    (
        "model type",
        "[tool.initpolicy]\nmodel = 3\n",
        "[tool.initpolicy] model must be a string, got 3",
    ),
    (
        "policy type",
        "[tool.initpolicy]\npolicy = []\n",
        "[tool.initpolicy] policy must be a string, got []",
    ),
    ("lint type", "[tool.initpolicy]\nlint = 1\n", "[tool.initpolicy] lint must be a table, got 1"),
    (
        "lint key",
        "[tool.initpolicy.lint]\nselct = ['IP1']\n",
        "unknown key(s) in [tool.initpolicy.lint]: selct "
        "(expected one of select, ignore, extend-select, fail-level, thresholds)",
    ),
    (
        "codes type",
        "[tool.initpolicy.lint]\nignore = 5\n",
        "[tool.initpolicy.lint] ignore must be a list of codes, got 5",
    ),
    (
        "fail level",
        "[tool.initpolicy.lint]\nfail-level = 'bogus'\n",
        "[tool.initpolicy.lint] fail-level must be one of error, warning, info, got 'bogus'",
    ),
    (
        "thresholds type",
        "[tool.initpolicy.lint]\nthresholds = 3\n",
        "[tool.initpolicy.lint] thresholds must be a table, got 3",
    ),
    (
        "threshold value",
        "[tool.initpolicy.lint]\nthresholds = { drift = true }\n",
        "[tool.initpolicy.lint] thresholds.drift must be a number, got True",
    ),
    (
        "threshold text",
        "[tool.initpolicy.lint]\nthresholds = { drift = '20' }\n",
        "[tool.initpolicy.lint] thresholds.drift must be a number, got '20'",
    ),
    (
        "a code not a string",
        "[tool.initpolicy.lint]\nselect = ['IP1', 3]\n",
        "[tool.initpolicy.lint] select must be a list of codes, got ['IP1', 3]",
    ),
    (
        "several unknown keys",
        "[tool.initpolicy]\nmodle = 1\npolicies = 2\n",
        "unknown key(s) in [tool.initpolicy]: modle, policies (expected one of model, policy, lint)",
    ),
]
EVERY_COMMAND = [
    ["check"],
    ["check", "relu_net"],
    ["policies"],
    ["rules"],
    ["rule", "IP101"],
    ["trace", "m.py"],
    ["explain", "m.py", "--policy", "relu_net"],
    ["apply", "m.py", "--policy", "relu_net"],
    ["lint", "m.py"],
]


@pytest.mark.parametrize(
    ("content", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
@pytest.mark.parametrize("args", EVERY_COMMAND, ids=lambda a: "-".join(a[:2]))
def test_a_malformed_pyproject_is_a_usage_error_in_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, message: str, args: list[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(content)
    monkeypatch.chdir(tmp_path)
    code, out, err = run(*args)
    assert (code, out) == (EXIT_ERROR, "")
    assert err.startswith(f"{tmp_path / 'pyproject.toml'}: "), err
    assert message in err
    assert "Traceback" not in err


def test_the_installed_program_reports_a_malformed_pyproject_the_same_way(
    tmp_path: Path,
) -> None:
    (tmp_path / "pyproject.toml").write_text("tool = 5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", "check"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},  # this checkout, not another install
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stdout) == (EXIT_ERROR, "")
    assert proc.stderr == f"{tmp_path / 'pyproject.toml'}: `tool` must be a table, got 5\n"


def test_a_bad_fail_level_reads_the_same_in_python_as_in_pyproject() -> None:
    from torch import nn

    from initpolicy.api import lint
    from initpolicy.errors import UsageError

    rule = "fail-level must be one of error, warning, info, got 'bogus'"
    with pytest.raises(UsageError) as given:
        lint(nn.Linear(2, 2), fail_level="bogus")
    with pytest.raises(UsageError) as configured:
        lint(nn.Linear(2, 2), config={"fail_level": "bogus"})
    assert str(given.value) == rule
    assert str(configured.value) == f"lint(config=...): [tool.initpolicy.lint] {rule}"
