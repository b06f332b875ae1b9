"""The public API: what `import initpolicy` offers, and that it stays so whatever
submodules get imported later (a submodule named like a function would rebind it)."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import initpolicy

PUBLIC_FUNCTIONS = ("load", "apply", "lint", "trace", "extract")


def test_public_functions_survive_importing_every_submodule() -> None:
    for info in pkgutil.iter_modules(initpolicy.__path__):
        if info.name != "__main__":
            importlib.import_module(f"initpolicy.{info.name}")
    for name in PUBLIC_FUNCTIONS:
        assert callable(getattr(initpolicy, name)), name
        assert not isinstance(getattr(initpolicy, name), type(initpolicy)), name
    assert set(initpolicy.__all__) >= set(PUBLIC_FUNCTIONS)


def test_importing_the_package_does_not_import_torch() -> None:
    code = "import sys, initpolicy; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
