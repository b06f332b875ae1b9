"""The one wording of a settings table's errors (``[tool.initpolicy]``, its ``lint``
table, ``lint(config=...)``), from the errors pydantic reports. Torch-free and
pydantic-free: it reads the plain dicts of ``ValidationError.errors()``.

>>> errors = [{"type": "extra_forbidden", "loc": ("modle",), "input": "m.py"}]
>>> table_error("pyproject.toml", "[tool.initpolicy]", errors, {}, ("model", "policy"), {})
'pyproject.toml: unknown key(s) in [tool.initpolicy]: modle (expected one of model, policy)'
>>> errors = [{"type": "string_type", "loc": ("model",), "input": 3}]
>>> table_error("p.toml", "[tool.initpolicy]", errors, {"model": "a string"}, (), {"model": 3})
'p.toml: [tool.initpolicy] model must be a string, got 3'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def must_be(what: str, expected: str, value: Any) -> str:
    """``"<what> must be <expected>, got <value>"``: every settings error reads so.

    >>> must_be("fail-level", "one of error, warning, info", "bogus")
    "fail-level must be one of error, warning, info, got 'bogus'"
    """
    return f"{what} must be {expected}, got {value!r}"


def table_error(
    where: str,
    table: str,
    errors: Iterable[Mapping[str, Any]],
    expected: Mapping[str, str],
    known: Sequence[str],
    raw: Mapping[str, Any],
) -> str:
    """The message for the first problem of ``table`` in ``where``: its unknown keys (all
    of them, with the ``known`` ones), else the first key whose value is wrong, with what
    ``expected`` says it must be (``"key.*"``: each entry of a table-valued key)."""
    errors = list(errors)
    unknown = [str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden"]
    if unknown:
        return (
            f"{where}: unknown key(s) in {table}: {', '.join(sorted(unknown))} "
            f"(expected one of {', '.join(known)})"
        )
    first = errors[0]
    loc = [str(p) for p in first["loc"]]
    key = loc[0]
    if f"{key}.*" in expected and len(loc) > 1:
        return f"{where}: {table} " + must_be(
            f"{key}.{loc[1]}", expected[f"{key}.*"], first["input"]
        )
    value = _raw_value(raw, key, first["input"])
    return f"{where}: {table} " + must_be(key, expected.get(key, "valid"), value)


def _raw_value(raw: Mapping[str, Any], key: str, default: Any) -> Any:
    """The value as written (``ignore = ["a", 3]``, not its bad item ``3``)."""
    for k, v in raw.items():
        if str(k).replace("_", "-") == key:
            return v
    return default
