"""The one plain-text table renderer: apply's report, trace's layers, lint's signal table.

>>> print(table(("name", "std"), [("fc1.weight", "0.2"), ("fc2.bias", "0")]))
name        std
fc1.weight  0.2
fc2.bias    0
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import printable


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, trailing spaces removed; "" when no rows.
    A table is for a terminal: a control character in a cell (a policy's ``named "..."``
    string, a rule's text) is shown as a symbol, as in an error message.

    >>> print(table(("rule",), [('Linear named "a\x1b[2J" -> zeros()',)]))
    rule
    Linear named "a␛[2J" -> zeros()
    """
    if not rows:
        return ""
    return columns([[printable(c) for c in r] for r in [header, *rows]])


def columns(rows: Sequence[Sequence[str]]) -> str:
    """The rows as left-aligned columns two spaces apart, without a header (a policy's
    aligned rules and comments).

    >>> print(columns([("bias", "-> zeros()", "# x"), ("weight", "-> ones()", "# y")]))
    bias    -> zeros()  # x
    weight  -> ones()   # y
    """
    cells = [list(r) for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))] if cells else []
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
