"""``initpolicy check`` and ``initpolicy policies``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from initpolicy.language import builtins as resources
from tests._cli_support import outcome

GOOD = Path(__file__).parent / "data" / "policies" / "good"
STAND_INS = Path(__file__).parent / "data" / "policies" / "builtin"


run = outcome


@pytest.fixture
def library(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test stand-ins as the built-in library (the real one grows independently)."""
    monkeypatch.setattr(resources, "policies_dir", lambda: STAND_INS)
    return STAND_INS


def test_check_clean_files_prints_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(GOOD)
    code, out, err = run("check", "design_card.pol", "includes.pol", "empty.pol")
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        "design_card.pol: 2 rules ok",
        "includes.pol: 7 rules ok (2 included files)",
        "empty.pol: 0 rules ok",
    ]


def test_check_reports_every_error_of_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.pol").write_text("Linear -> kaiming(fan_in)\nbias -> zeros()\nLinear ->\n")
    Path("b.pol").write_text("Embedding -> normal(0, -1)\n")
    Path("ok.pol").write_text("bias -> zeros()\n")
    code, out, err = run("check", "a.pol", "ok.pol", "b.pol", "missing.pol")
    assert code == 2
    assert out == "ok.pol: 1 rule ok\n"
    assert err == (
        "a.pol:1:11: unknown scheme 'kaiming'\n"
        "    Linear -> kaiming(fan_in)\n"
        "              ^^^^^^^\n"
        "  hint: did you mean kaiming_normal?\n"
        "a.pol:3:10: missing scheme after '->'\n"
        "    Linear ->\n"
        "             ^\n"
        "  hint: e.g. -> zeros()\n"
        "b.pol:1:24: argument 'std' of normal must be >= 0 (got -1)\n"
        "    Embedding -> normal(0, -1)\n"
        "                           ^^\n"
        "missing.pol: no such file\n"
        "found 4 errors in 3 policies\n"
    )


def test_check_accepts_builtin_names(library: Path) -> None:
    code, out, _ = run("check", "relu_net", "tanh_net")
    assert code == 0
    assert out.splitlines() == ["relu_net: 2 rules ok", "tanh_net: 1 rule ok"]
    code, _, err = run("check", "relu_nett")
    assert code == 2
    assert err.splitlines() == [
        "relu_nett: no such policy file or built-in policy",
        "  hint: did you mean relu_net?",
        "found 1 error in 1 policy",
    ]


def test_check_takes_the_design_cards_pol_name_like_apply(
    library: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no relu_net.pol here: the built-in of that name
    assert run("check", "relu_net.pol")[:2] == (0, "relu_net.pol: 2 rules ok\n")
    code, _, err = run("check", "nosuch.pol")
    assert (code, err.splitlines()[0]) == (2, "nosuch.pol: no such file")


def test_check_without_argument_uses_the_configured_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "p.pol").write_text("bias -> zeros()\n")
    (tmp_path / "pyproject.toml").write_text('[tool.initpolicy]\npolicy = "init/p.pol"\n')
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    code, out, _ = run("check")
    assert code == 0
    assert out == "../init/p.pol: 1 rule ok\n"  # relative to the working directory


def test_check_without_argument_or_config_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, _, err = run("check")
    assert code == 2
    assert "no POLICY given and no [tool.initpolicy] policy configured" in err


def test_policies_lists_name_and_first_header_line(library: Path) -> None:
    code, out, _ = run("policies")
    assert code == 0
    assert out.splitlines() == [
        "relu_net  a stand-in for the built-in, used by the parser tests",
        "tanh_net  Glorot init for tanh networks (test stand-in)",
    ]


def test_policies_with_an_empty_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(resources, "policies_dir", lambda: tmp_path)
    code, out, err = run("policies")
    assert (code, out, err) == (0, "", "no built-in policies\n")


@pytest.mark.parametrize("name", sorted(resources.builtin_policies()))
def test_every_shipped_builtin_policy_checks_clean(name: str) -> None:
    code, out, err = run("check", name)
    assert (code, err) == (0, ""), err
    assert out.startswith(f"{name}: ")


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_the_console_command_exits_2_with_located_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pol"
    bad.write_text("Linear before ReLU kaiming_normal(fan_in)\n")
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", "check", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines()[0] == (
        f"{bad}:1:20: missing '->' between the selector and the scheme"
    )
