"""The stage rule, checked beyond what import-linter sees (docs/architecture.md).

import-linter (pyproject.toml, run by the README's test command) checks that each stage
imports only earlier ones. It cannot tell an import at module level from one inside a
function, and "parsing a policy never imports torch" is about what gets *loaded*; these
tests check both, and that the planner reads the ModelGraph, never the live model.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "initpolicy"


def _modules(stage: str) -> list[Path]:
    return sorted((PACKAGE / stage).rglob("*.py"))


def _torch_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level?) of every ``import torch...``/``from torch... import``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n == "torch" or n.startswith("torch.") for n in names):
            found.append((node.lineno, id(node) in top))
    return found


@pytest.mark.parametrize("path", _modules("language"), ids=lambda p: p.name)
def test_the_language_never_imports_torch(path: Path) -> None:
    assert _torch_imports(path) == []


@pytest.mark.parametrize("path", _modules("catalog") + _modules("common"), ids=lambda p: p.name)
def test_the_catalog_imports_torch_only_inside_the_functions_that_draw(path: Path) -> None:
    assert [line for line, top in _torch_imports(path) if top] == []


@pytest.mark.slow  # a subprocess, or megabytes of input
def test_parsing_every_builtin_policy_and_checking_one_loads_no_torch() -> None:
    code = (
        "import sys, pkgutil, importlib, initpolicy\n"
        "for stage in ('common', 'catalog', 'language'):\n"
        "    pkg = importlib.import_module('initpolicy.' + stage)\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'initpolicy.{stage}.{m.name}')\n"
        "from initpolicy.language.builtins import builtin_policies\n"
        "for name in builtin_policies():\n"
        "    initpolicy.load(name)\n"
        "from click.testing import CliRunner\n"
        "from initpolicy.cli.main import cli\n"
        "result = CliRunner().invoke(cli, ['check', 'relu_net'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def _attribute_reads(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}


@pytest.mark.parametrize("path", _modules("planner"), ids=lambda p: p.name)
def test_the_planner_reads_the_graph_not_the_live_model(path: Path) -> None:
    # ModelGraph is the contract between tracer and planner: Layer.module and
    # ModelGraph.model are handles for the applier and the linter, not facts to match on.
    live = {"module", "model", "get_submodule", "named_modules", "modules", "get_parameter"}
    assert _attribute_reads(path) & live == set()
