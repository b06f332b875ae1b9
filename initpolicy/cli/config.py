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
the table are relative to the directory holding the pyproject.toml. The table is checked
by one pydantic model (:class:`ToolTable`; its ``lint`` by the linter's
:class:`~initpolicy.linter.lint_settings.LintSettings`), and every error reads alike
(:mod:`initpolicy.common.tables`). Which commands take TARGET and ``--policy`` is read off
the commands' own parameters (``target``, ``policy_spec``), not listed here.

>>> config = Config(Path("repo/pyproject.toml"), model="src/model.py:build")
>>> default_map(config, {"trace": ("target", "json_output")})["trace"]
{'target': 'repo/src/model.py:build'}
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from ..common import must_be, table_error
from ..errors import UsageError

#: ``[tool.initpolicy.lint]`` key -> the ``lint`` parameter it is the default of.
LINT_KEYS: dict[str, str] = {
    "select": "select",
    "ignore": "ignore",
    "extend-select": "extend_select",
    "fail-level": "fail_level",
    "thresholds": "threshold",
}


class ToolTable(BaseModel):
    """``[tool.initpolicy]`` as written: its keys and the type of each."""

    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    model: StrictStr | None = None
    policy: StrictStr | None = None
    lint: dict[str, Any] = {}

    #: What each key must be, in the words of its error message.
    EXPECTED: ClassVar[dict[str, str]] = {
        "model": "a string",
        "policy": "a string",
        "lint": "a table",
    }


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
        raise UsageError(f"{path}: " + must_be("`tool`", "a table", tool))
    table = tool.get("initpolicy")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise UsageError(f"{path}: " + must_be("[tool.initpolicy]", "a table", table))
    try:
        checked = ToolTable.model_validate(table)
    except ValidationError as e:
        errors = e.errors(include_url=False)
        known = tuple(ToolTable.model_fields)
        where, name = str(path), "[tool.initpolicy]"
        raise UsageError(
            table_error(where, name, errors, ToolTable.EXPECTED, known, table)
        ) from None
    return Config(
        path=path,
        model=checked.model,
        policy=checked.policy,
        lint=_lint_table(path, checked.lint),
    )


def _lint_table(path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """``[tool.initpolicy.lint]`` checked by the linter's own rule (kebab-case keys)."""
    from ..linter import settings

    return settings(raw, where=str(path))


def default_map(
    config: Config | None, commands: Mapping[str, Iterable[str | None]]
) -> dict[str, dict[str, Any]]:
    """click's ``default_map`` for the ``initpolicy`` group: per command, the defaults of its
    parameters, as they would be written on the command line (paths resolved, thresholds as
    ``NAME=VALUE``). ``commands`` names each command's parameters: ``model`` is the
    default of every ``target``, ``policy`` of every ``policy_spec`` (and of ``check``'s
    ``policies``).

    >>> config = Config(Path("pyproject.toml"), policy="p.pol", lint={"ignore": ["IP105"]})
    >>> commands = {"lint": ("target", "policy_spec"), "check": ("policies",)}
    >>> default_map(config, commands)["lint"]
    {'policy_spec': 'p.pol', 'ignore': ['IP105']}
    >>> default_map(config, commands)["check"]
    {'policies': ('p.pol',)}
    """
    if config is None:
        return {}
    values: dict[str, Any] = {}
    if config.model:
        values["target"] = config.resolve(config.model)
    if config.policy:
        values["policy_spec"] = config.resolve(config.policy)
        values["policies"] = (values["policy_spec"],)
    out: dict[str, dict[str, Any]] = {}
    for command, params in commands.items():
        for param in params:
            if param in values:
                out.setdefault(command, {})[param] = values[param]
    for key, value in config.lint.items():
        if key == "thresholds":
            value = [f"{name}={number!r}" for name, number in value.items()]
        out.setdefault("lint", {})[LINT_KEYS[key]] = value
    return out
