"""The nearest pyproject.toml's ``[tool.initpolicy]`` table. Torch-free.

::

    [tool.initpolicy]
    model = "src/model.py:build"      # TARGET when a command is given none
    policy = "init/relu_net.pol"      # --policy when a command is given none
    [tool.initpolicy.lint]
    select = ["IP1"]
    ignore = ["IP105"]
    fail-level = "warning"

Paths in the table are relative to the directory holding the pyproject.toml.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError


@dataclass(frozen=True)
class Config:
    path: Path
    model: str | None = None
    policy: str | None = None
    lint: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, value: str) -> str:
        """A path-like value from the table, made relative to the pyproject's directory.

        ``package.module:NAME`` targets (no ``/`` and no ``.py``) are returned unchanged.
        """
        head = value.split(":", 1)[0]
        if head.endswith((".py", ".pol")) or "/" in head:
            rest = value[len(head) :]
            # Relative to the working directory when that is shorter: diagnostics then
            # show `init/model.pol:3`, not an absolute path.
            path = str(self.root / head)
            try:
                rel = os.path.relpath(path)
            except ValueError:  # another drive (Windows)
                rel = path
            return (rel if len(rel) < len(path) else path) + rest
        return value


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml at or above ``start`` (default: the working directory)."""
    here = (start or Path.cwd()).resolve()
    for d in (here, *here.parents):
        candidate = d / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(start: Path | None = None) -> Config | None:
    """The ``[tool.initpolicy]`` of the nearest pyproject.toml, or None if there is none."""
    path = find_pyproject(start)
    if path is None:
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path}: cannot read [tool.initpolicy]: {e}") from None
    table = data.get("tool", {}).get("initpolicy")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.initpolicy] must be a table")
    known = {"model", "policy", "lint"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) in [tool.initpolicy]: {', '.join(unknown)} "
            f"(expected one of {', '.join(sorted(known))})"
        )
    for key in ("model", "policy"):
        if key in table and not isinstance(table[key], str):
            raise UsageError(f"{path}: [tool.initpolicy] {key} must be a string")
    lint = table.get("lint", {})
    if not isinstance(lint, dict):
        raise UsageError(f"{path}: [tool.initpolicy.lint] must be a table")
    return Config(path=path, model=table.get("model"), policy=table.get("policy"), lint=dict(lint))
