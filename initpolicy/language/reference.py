"""The generated parts of ``docs/language.md``: scheme table, words, activations, limits.

Each part sits between ``<!-- BEGIN GENERATED: name -->`` and ``<!-- END GENERATED: name
-->`` markers; the prose around them is written by hand. Regenerate in place with
``python -m initpolicy.language.reference docs/language.md``; tests/test_parser_doc.py fails when
the file is out of date. Torch-free.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..catalog import ALIASES, BLOCKS, CANONICAL, ENUMS, SCHEMES
from . import evaluation as expr
from . import lines as syntax
from . import loader as parser
from . import selectors as transform


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def schemes_table() -> str:
    rows = ["| scheme | signature | what it draws | std / bound |", "|---|---|---|---|"]
    for s in SCHEMES.values():
        rows.append(
            f"| `{s.name}` | `{_cell(s.signature())}` | {_cell(s.summary)} | {_cell(s.formula) or '—'} |"
        )
    return "\n".join(rows)


def words_table() -> str:
    rows = ["| argument type | words |", "|---|---|"]
    for kind, words in ENUMS.items():
        rows.append(f"| `{kind}` | {', '.join(f'`{w}`' for w in words)} |")
    return "\n".join(rows)


def activations_table() -> str:
    extra: dict[str, list[str]] = {}
    for alias, name in ALIASES.items():
        if alias != name.replace("_", ""):
            extra.setdefault(name, []).append(alias)
    rows = ["| canonical name | also accepted |", "|---|---|"]
    for name in CANONICAL:
        rows.append(f"| `{name}` | {', '.join(f'`{a}`' for a in extra.get(name, [])) or ''} |")
    return "\n".join(rows)


def blocks_table() -> str:
    rows = ["| module type | blocks, in storage order |", "|---|---|"]
    rows += [f"| `{m}` | {', '.join(f'`{b}`' for b in bs)} |" for m, bs in BLOCKS.items()]
    return "\n".join(rows)


def limits_table() -> str:
    rows = [
        ("characters in one rule (continuations included)", f"{syntax.MAX_LINE_CHARS:,}"),
        ("nested parentheses and brackets", f"{syntax.MAX_NESTING}"),
        ("expression depth (operators, calls, parentheses)", f"{transform.MAX_EXPR_DEPTH}"),
        ("absolute value of an exponent in `a ** b`", f"{expr.MAX_EXPONENT:g}"),
        ("rules in one policy, includes expanded", f"{parser.MAX_RULES:,}"),
        ("errors reported for one policy", f"{parser.MAX_ERRORS}"),
    ]
    return "\n".join(
        ["| limit | value |", "|---|---|", *(f"| {what} | {value} |" for what, value in rows)]
    )


PARTS = {
    "schemes": schemes_table,
    "words": words_table,
    "activations": activations_table,
    "blocks": blocks_table,
    "limits": limits_table,
}

_MARKED = re.compile(
    r"(<!-- BEGIN GENERATED: (\w+) -->\n).*?(\n<!-- END GENERATED: \2 -->)", re.DOTALL
)


def render(text: str) -> str:
    """``text`` with every generated part replaced by its current content.

    >>> render("<!-- BEGIN GENERATED: words -->\\nold\\n<!-- END GENERATED: words -->")[:60]
    '<!-- BEGIN GENERATED: words -->\\n| argument type | words |\\n|-'
    """
    return _MARKED.sub(lambda m: m.group(1) + PARTS[m.group(2)]() + m.group(3), text)


def main(argv: list[str]) -> None:
    path = Path(argv[0] if argv else "docs/language.md")
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
