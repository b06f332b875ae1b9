"""Rule lines of a policy text, found without the parser: what a parsed policy's rules
must be, one for one (the docs' examples are checked against it)."""

from __future__ import annotations

import re

_COMMENT = re.compile(r'#(?=(?:[^"]*"[^"]*")*[^"]*$)')  # a '#' outside double quotes


def rule_lines(text: str) -> list[str]:
    """Each rule's text on one line: comments dropped, continuations joined, statements
    (use, let, seed) skipped.

    >>> rule_lines('seed 1\\nLinear -> zeros()  # c\\nbias \\\\\\n  -> ones()\\nConv2d\\n  -> keep')
    ['Linear -> zeros()', 'bias -> ones()', 'Conv2d -> keep']
    """
    logical: list[str] = []
    joining = False
    for raw in text.splitlines():
        code = _COMMENT.split(raw, maxsplit=1)[0].rstrip()
        if not code.strip():
            continue
        piece = code.strip().removesuffix("\\").strip()
        if logical and (joining or code.lstrip().startswith("->")):
            logical[-1] = f"{logical[-1]} {piece}".strip()
        else:
            logical.append(piece)
        joining = code.endswith("\\")
    return [line for line in logical if line.split()[0] not in ("use", "let", "seed")]
