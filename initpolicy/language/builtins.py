"""Where the grammar and the built-in policies live: inside the installed package
(the wheel force-includes them as ``initpolicy/grammar`` and ``initpolicy/policies``),
else at the top of a source checkout. Torch-free.
"""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent.parent  # the initpolicy package


def _dir(name: str) -> Path:
    for candidate in (_PKG / name, _PKG.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"initpolicy is installed without its {name}/ directory")


def grammar_path() -> Path:
    """The policy grammar (``grammar/policy.lark``)."""
    return _dir("grammar") / "policy.lark"


def policies_dir() -> Path:
    """The directory of built-in policies (``policies/*.pol``)."""
    return _dir("policies")


def builtin_policies() -> dict[str, Path]:
    """Built-in policy name -> path, sorted by name."""
    return {p.stem: p for p in sorted(policies_dir().glob("*.pol"))}
