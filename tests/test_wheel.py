"""The wheel carries grammar/ and policies/, and `initpolicy check` runs from it without torch.

Builds the wheel, installs it with --no-deps into a fresh virtual environment together
with lark, pydantic and click only (no torch: checking a policy must not need it), then
runs `initpolicy check` there from an unrelated directory, so that the grammar and the
built-in policies can only come from site-packages.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: one worker runs the module (its module fixture is costly): see tests/conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("wheel")]


def _run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(REPO)])
    (path,) = out.glob("initpolicy-*.whl")
    return path


def test_wheel_contains_grammar_and_policies(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "initpolicy/grammar/policy.lark" in names
    shipped = {n.rsplit("/", 1)[1] for n in names if n.startswith("initpolicy/policies/")}
    assert shipped == {p.name for p in (REPO / "policies").glob("*.pol")}


def test_check_runs_from_the_installed_wheel_without_torch(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    pins = [f"{d}=={importlib.metadata.version(d)}" for d in ("lark", "pydantic", "click")]
    pip = [sys.executable, "-m", "pip", "--python", str(py), "install", "-q"]
    _run([*pip, "--no-deps", str(wheel)])
    _run([*pip, *pins])

    work = tmp_path / "elsewhere"
    work.mkdir()
    builtins = {p.stem for p in (REPO / "policies").glob("*.pol")}
    first = "use relu_net\n" if "relu_net" in builtins else ""
    (work / "p.pol").write_text(first + "Linear before ReLU -> kaiming_normal(fan_in)\n")
    proc = _run([str(venv / "bin" / "initpolicy"), "check", "p.pol"], cwd=work)
    assert proc.stdout.startswith("p.pol: ") and " ok" in proc.stdout

    probe = (
        "import sys, initpolicy.language.builtins as r, initpolicy.language.loader as p\n"
        "print(r.grammar_path()); print(r.policies_dir())\n"
        "p.parse('bias -> zeros()')\n"
        "print('torch' in sys.modules)\n"
    )
    grammar, policies, torch_loaded = _run([str(py), "-c", probe], cwd=work).stdout.split()
    site = str(venv / "lib")
    assert grammar.startswith(site) and grammar.endswith("initpolicy/grammar/policy.lark")
    assert policies.startswith(site) and policies.endswith("initpolicy/policies")
    assert torch_loaded == "False"
    no_torch = subprocess.run([str(py), "-c", "import torch"], capture_output=True)
    assert no_torch.returncode != 0  # the environment really has no torch
