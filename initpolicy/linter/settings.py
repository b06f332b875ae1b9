"""The linter's settings table (``[tool.initpolicy.lint]``, or ``lint(config=...)``):
its keys and the one check of its values. Torch-free.

>>> settings({"ignore": "IP105", "fail_level": "error"}, where="pyproject.toml")
{'ignore': ['IP105'], 'fail-level': 'error'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import UsageError
from .findings import SEVERITIES

#: The keys of the table, kebab-case (snake_case is accepted).
KEYS: tuple[str, ...] = ("select", "ignore", "extend-select", "fail-level", "thresholds")


def settings(raw: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``raw`` checked, with kebab-case keys and code lists as lists; UsageError naming
    ``where`` (the file and table) and the key for anything else."""
    table = {str(k).replace("_", "-"): v for k, v in raw.items()}
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise UsageError(
            f"{where}: unknown key(s) in [tool.initpolicy.lint]: {', '.join(unknown)} "
            f"(expected one of {', '.join(KEYS)})"
        )
    at = f"{where}: [tool.initpolicy.lint]"
    for key in ("select", "ignore", "extend-select"):
        value = table.get(key)
        if isinstance(value, str):
            table[key] = [value]
        elif value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise UsageError(f"{at} {key} must be a list of codes, got {value!r}")
    level = table.get("fail-level")
    if level is not None and level not in SEVERITIES:
        levels = ", ".join(reversed(SEVERITIES))
        raise UsageError(f"{at} fail-level must be one of {levels}, got {level!r}")
    thresholds = table.get("thresholds", {})
    if not isinstance(thresholds, Mapping):
        raise UsageError(f"{at} thresholds must be a table, got {thresholds!r}")
    for name, number in thresholds.items():
        # bool is an int to Python, never a threshold
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise UsageError(f"{at} thresholds.{name} must be a number, got {number!r}")
    return table
