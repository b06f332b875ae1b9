"""The linter's settings table (``[tool.initpolicy.lint]``, or ``lint(config=...)``): one
pydantic model, :class:`LintSettings`, holds its keys and the check of each value; errors
read as every settings table's do (:mod:`initpolicy.common.tables`). Torch-free.

>>> settings({"ignore": "IP105", "fail_level": "error"}, where="pyproject.toml")
{'ignore': ['IP105'], 'fail-level': 'error'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, StrictStr, ValidationError

from ..common import must_be, table_error
from ..errors import UsageError
from .findings import SEVERITIES

#: The fail levels, most severe first (as the messages list them).
FAIL_LEVELS: tuple[str, ...] = tuple(reversed(SEVERITIES))


def _codes(value: Any) -> Any:
    # one code may be written without the list
    return [value] if isinstance(value, str) else value


def _number(value: Any) -> Any:
    # bool is an int to Python, never a threshold; nor is "20"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return value


Codes = Annotated[list[StrictStr], BeforeValidator(_codes)]
Number = Annotated[int | float, BeforeValidator(_number)]


class LintSettings(BaseModel):
    """``[tool.initpolicy.lint]``: kebab-case keys (snake_case accepted)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=lambda name: name.replace("_", "-"),
    )

    select: Codes | None = None
    ignore: Codes | None = None
    extend_select: Codes | None = None
    fail_level: Literal["error", "warning", "info"] | None = None
    thresholds: dict[str, Number] = {}

    #: What each key must be, in the words of its error message.
    EXPECTED: ClassVar[dict[str, str]] = {
        "select": "a list of codes",
        "ignore": "a list of codes",
        "extend-select": "a list of codes",
        "fail-level": f"one of {', '.join(FAIL_LEVELS)}",
        "thresholds": "a table",
        "thresholds.*": "a number",
    }


#: The keys of the table, kebab-case (snake_case is accepted).
KEYS: tuple[str, ...] = tuple(f.alias or n for n, f in LintSettings.model_fields.items())


def settings(raw: Mapping[str, Any], *, where: str) -> dict[str, Any]:
    """``raw`` checked, with kebab-case keys and code lists as lists; UsageError naming
    ``where`` (the file and table) and the key for anything else."""
    table = "[tool.initpolicy.lint]"
    if not isinstance(raw, Mapping):
        raise UsageError(f"{where}: " + must_be(table, "a table", raw))
    try:
        checked = LintSettings.model_validate({str(k).replace("_", "-"): v for k, v in raw.items()})
    except ValidationError as e:
        errors = e.errors(include_url=False)
        message = table_error(where, table, errors, LintSettings.EXPECTED, KEYS, raw)
        raise UsageError(message) from None
    return checked.model_dump(by_alias=True, exclude_unset=True)


def check_fail_level(level: str) -> str:
    """``level`` if it is a fail level, else the settings' own error.

    >>> check_fail_level("info")
    'info'
    """
    if level not in FAIL_LEVELS:
        raise UsageError(must_be("fail-level", LintSettings.EXPECTED["fail-level"], level))
    return level
