"""Policy text for one tensor's rule, printed so that it parses back to exactly that rule:
what :func:`initpolicy.calibrate` writes (a replay policy), one line per tensor. Torch-free.

>>> tensor_rule("Linear", "weight", None, "encoder.0", "scaled(orthogonal(gain=1.0), 0.5)")
'Linear.weight named "encoder.0" -> scaled(orthogonal(gain=1.0), 0.5)'
>>> scheme_text("kaiming_normal", {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"})
'kaiming_normal(a=0.0, mode=fan_in, nonlinearity=relu)'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ..errors import UsageError

_GLOB_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def number(value: float | int) -> str:
    """A number that parses back to exactly ``value`` (``repr`` round-trips a float)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"not a number: {value!r}")
    return repr(value)


def scheme_text(name: str, values: Mapping[str, float | int | str]) -> str:
    """``name(k=v, ...)``: keywords, so no argument depends on positional order. The inner
    scheme of a wrapper takes positional arguments only: see :func:`inner_text`."""
    parts = [f"{k}={v if isinstance(v, str) else number(v)}" for k, v in values.items()]
    return f"{name}({', '.join(parts)})"


def inner_text(name: str, values: Mapping[str, float | int | str], order: tuple[str, ...]) -> str:
    """A scheme as a wrapper's first argument: positional, in the signature's ``order``
    (the grammar reads it as an expression call, which has no keywords); words bind by
    type wherever they stand."""
    parts = [
        v if isinstance(v, str) else number(v) for k in order if (v := values.get(k)) is not None
    ]
    return f"{name}({', '.join(parts)})"


def _glob_literal(text: str) -> str:
    """A selector glob (type or parameter name) that matches ``text``: characters the
    grammar cannot hold become ``?``."""
    return _GLOB_UNSAFE.sub("?", text) or "?"


def _named_literal(name: str) -> str:
    """An fnmatch pattern matching exactly ``name``: ``*``, ``?`` and ``[`` bracketed."""
    if '"' in name or "\n" in name or "\r" in name:
        raise UsageError(f"module name {name!r} cannot be written in a policy string")
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def tensor_rule(type_name: str, local: str, block: str | None, module: str, scheme: str) -> str:
    """One rule selecting exactly one tensor (or one block of it) of one module."""
    head = f"{_glob_literal(type_name)}.{_glob_literal(local)}"
    if block is not None:
        head += f"[{block}]"
    return f'{head} named "{_named_literal(module)}" -> {scheme}'
