"""The one plain-text table renderer: apply's report, trace's layers, lint's signal table.

>>> print(table(("name", "std"), [("fc1.weight", "0.2"), ("fc2.bias", "0")]))
name        std
fc1.weight  0.2
fc2.bias    0
"""

from __future__ import annotations

from collections.abc import Sequence


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Left-aligned columns two spaces apart, trailing spaces removed; "" when no rows."""
    if not rows:
        return ""
    cells = [list(header), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )
