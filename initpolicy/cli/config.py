"""The nearest pyproject.toml's ``[tool.initpolicy]``, as click's ``default_map``. Torch-free.

::

    [tool.initpolicy]
    model = "src/model.py:build"      # TARGET of trace, explain, apply, lint and extract
    policy = "init/relu_net.pol"      # --policy of explain, apply and lint; POLICY of check
    [tool.initpolicy.lint]
    select = ["IP1"]                  # --select (the command line replaces it)
    ignore = ["IP105"]                # --ignore (the command line adds to it, as in ruff)
    extend-select = []                # --extend-select (likewise added to)
    fail-level = "warning"            # --fail-level
    thresholds = { drift = 20 }       # --threshold NAME=VALUE (the command line wins per name)

The group reads the table once, before any command's context exists, and hands it to
click as ``default_map`` (black's pattern): each value is the default of one parameter, so
the command line wins by click's own rules and no command opens the file again. Paths in
the table are relative to the directory holding the pyproject.toml.

>>> config = Config(Path("repo/pyproject.toml"), model="src/model.py:build")
>>> default_map(config)["trace"]
{'target': 'repo/src/model.py:build'}
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError

#: ``[tool.initpolicy.lint]`` key -> the ``lint`` parameter it is the default of.
LINT_KEYS: dict[str, str] = {
    "select": "select",
    "ignore": "ignore",
    "extend-select": "extend_select",
    "fail-level": "fail_level",
    "thresholds": "threshold",
}
#: The commands whose TARGET ``model`` names, and whose --policy ``policy`` names.
TARGET_COMMANDS: tuple[str, ...] = ("trace", "explain", "apply", "lint", "extract")
POLICY_COMMANDS: tuple[str, ...] = ("explain", "apply", "lint")


@dataclass(frozen=True)
class Config:
    """A validated ``[tool.initpolicy]`` table; ``lint`` with kebab-case keys."""

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

        >>> Config(Path("/repo/pyproject.toml")).resolve("torch.nn:Identity")
        'torch.nn:Identity'
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
    """The ``[tool.initpolicy]`` of the nearest pyproject.toml, or None if there is none.

    Every malformed value is a UsageError naming the file and the key, so that each
    command fails the same way (exit 2) instead of tripping over it later.
    """
    path = find_pyproject(start)
    if path is None:
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path}: cannot read [tool.initpolicy]: {e}") from None
    tool = data.get("tool", {})
    if not isinstance(tool, dict):
        raise UsageError(f"{path}: `tool` must be a table, got {tool!r}")
    table = tool.get("initpolicy")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: [tool.initpolicy] must be a table")
    _check_keys(path, "[tool.initpolicy]", table, ("model", "policy", "lint"))
    for key in ("model", "policy"):
        if key in table and not isinstance(table[key], str):
            raise UsageError(f"{path}: [tool.initpolicy] {key} must be a string")
    lint = table.get("lint", {})
    if not isinstance(lint, dict):
        raise UsageError(f"{path}: [tool.initpolicy.lint] must be a table")
    return Config(
        path=path,
        model=table.get("model"),
        policy=table.get("policy"),
        lint=_lint_table(path, lint),
    )


def _check_keys(path: Path, where: str, table: dict[str, Any], known: tuple[str, ...]) -> None:
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise UsageError(
            f"{path}: unknown key(s) in {where}: {', '.join(unknown)} "
            f"(expected one of {', '.join(known)})"
        )


def _lint_table(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``[tool.initpolicy.lint]`` checked by the linter's own rule (kebab-case keys)."""
    from ..linter.settings import settings

    return settings(raw, where=str(path))


def default_map(config: Config | None) -> dict[str, dict[str, Any]]:
    """click's ``default_map`` for the ``initpolicy`` group: per command, the defaults of its
    parameters, as they would be written on the command line (paths resolved, thresholds as
    ``NAME=VALUE``).

    >>> config = Config(Path("pyproject.toml"), policy="p.pol", lint={"ignore": ["IP105"]})
    >>> default_map(config)["lint"]
    {'policy_spec': 'p.pol', 'ignore': ['IP105']}
    >>> default_map(config)["check"]
    {'policies': ('p.pol',)}
    """
    if config is None:
        return {}
    out: dict[str, dict[str, Any]] = {}
    if config.model:
        target = config.resolve(config.model)
        for command in TARGET_COMMANDS:
            out.setdefault(command, {})["target"] = target
    if config.policy:
        policy = config.resolve(config.policy)
        for command in POLICY_COMMANDS:
            out.setdefault(command, {})["policy_spec"] = policy
        out["check"] = {"policies": (policy,)}
    for key, value in config.lint.items():
        if key == "thresholds":
            value = [f"{name}={number!r}" for name, number in value.items()]
        out.setdefault("lint", {})[LINT_KEYS[key]] = value
    return out
