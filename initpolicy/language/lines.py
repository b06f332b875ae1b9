"""Policy text as logical lines, and the checks made before Lark sees one.

A *logical line* is a physical line plus its continuations: a line whose code ends in
``\\`` continues on the next line, and a line whose first token is ``->`` continues the
line before it. Comments (``#`` outside a string) and blank lines are dropped here.
Parsing line by line lets the parser report every bad line of a file, not only the
first, and bounds the work any one line can cause: before Lark sees a line it is checked
for length, unterminated strings, unbalanced and too deeply nested brackets. Torch-free.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

#: Longest logical line (one rule with its continuations), in characters.
MAX_LINE_CHARS = 10_000
#: Deepest nesting of parentheses and brackets in one rule.
MAX_NESTING = 32


@dataclass(frozen=True)
class Chunk:
    """One logical line: its first line number and the code of each physical line."""

    line: int
    parts: tuple[str, ...]

    @property
    def text(self) -> str:
        """What Lark parses: the code parts joined by newlines, so columns stay exact."""
        return "\n".join(self.parts)

    @property
    def column(self) -> int:
        first = self.parts[0]
        return len(first) - len(first.lstrip()) + 1

    @property
    def source(self) -> str:
        """The rule's text on one line: continuations joined, comments dropped."""
        pieces = (p.strip().removesuffix("\\").strip() for p in self.parts)
        return " ".join(p for p in pieces if p)


_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    r"""The physical lines of ``text`` as editors count them: ``\n``, ``\r\n`` and ``\r``
    end a line. Form feed, ``\x1c``-``\x1e``, ``\x85`` and U+2028/U+2029, which
    ``str.splitlines`` also breaks at, do not: they stay inside the line (and are reported
    there, with the line number an editor shows).

    >>> split_lines("a\x0cb\r\nc\rd\n"), split_lines("")
    (['a\x0cb', 'c', 'd'], [])
    """
    lines = _BREAK.split(text)
    if lines[-1] == "":  # a final line break ends the last line; it starts none
        lines.pop()
    return lines


def position(text: str, offset: int) -> tuple[int, int]:
    r"""The 1-based (line, column) of character ``offset`` of ``text``, lines counted by
    :func:`split_lines`.

    >>> position("ab\r\ncd", 5)
    (2, 2)
    """
    before = split_lines(text[:offset] + "x")  # "x" stands for the character itself
    return len(before), len(before[-1])


_CODE_CHARS = re.compile(r'["#]')


def code_of(line: str) -> str:
    """``line`` without its comment (a ``#`` outside a double-quoted string)."""
    if "#" not in line:
        return line.rstrip()
    if '"' not in line:
        return line[: line.index("#")].rstrip()
    in_string = False
    for m in _CODE_CHARS.finditer(line):
        if m.group() == '"':
            in_string = not in_string
        elif not in_string:
            return line[: m.start()].rstrip()
    return line.rstrip()


def chunks(text: str) -> Iterator[Chunk]:
    """The logical lines of ``text``, skipping blank and comment-only lines.

    >>> [c.source for c in chunks("a -> b()  # c\\n\\nx \\\\\\n  -> y()\\nz\\n  -> w()")]
    ['a -> b()', 'x -> y()', 'z -> w()']
    """
    codes = [code_of(line) for line in split_lines(text)]
    i, n = 0, len(codes)
    while i < n:
        if not codes[i].strip():
            i += 1
            continue
        start = i
        while i + 1 < n and (codes[i].endswith("\\") or codes[i + 1].lstrip().startswith("->")):
            i += 1
        yield Chunk(start + 1, tuple(codes[start : i + 1]))
        i += 1


@dataclass(frozen=True)
class SyntaxProblem:
    """A syntax error inside a chunk: 0-based part index, 1-based column, width."""

    part: int
    column: int
    message: str
    hint: str | None = None
    width: int = 1


BRACKETS = re.compile(r'[()\[\]"]')
_PAIRS = {")": "(", "]": "["}
_KIND = {"(": "parentheses", ")": "parentheses", "[": "brackets", "]": "brackets"}


def precheck(chunk: Chunk) -> SyntaxProblem | None:
    """Problems found without parsing: length, strings, bracket balance and depth."""
    stack: list[tuple[str, int, int]] = []  # (bracket, part, column)
    for k, part in enumerate(chunk.parts):
        quote: int | None = None
        for m in BRACKETS.finditer(part):
            ch, col = m.group(), m.start() + 1
            if ch == '"':
                quote = None if quote is not None else col
            elif quote is not None:
                continue
            elif ch in "([":
                stack.append((ch, k, col))
                if len(stack) > MAX_NESTING:
                    return SyntaxProblem(k, col, f"parentheses nested more than {MAX_NESTING} deep")
            elif not stack:
                return SyntaxProblem(
                    k, col, f"unbalanced {_KIND[ch]}: this '{ch}' has no matching '{_PAIRS[ch]}'"
                )
            elif stack[-1][0] != _PAIRS[ch]:
                opening, _, ocol = stack[-1]
                return SyntaxProblem(
                    k,
                    col,
                    f"unbalanced parentheses: '{opening}' at column {ocol} is closed by '{ch}'",
                )
            else:
                stack.pop()
        if quote is not None:
            return SyntaxProblem(
                k,
                quote,
                "unterminated string: no closing '\"' on this line",
                'strings are written in double quotes on one line: named "*.c_proj"',
            )
    if stack:
        opening, k, col = stack[-1]
        closing = ")" if opening == "(" else "]"
        return SyntaxProblem(
            k,
            col,
            f"unbalanced {_KIND[opening]}: this '{opening}' is never closed",
            f"add a '{closing}'",
        )
    length = sum(len(p) for p in chunk.parts)
    if length > MAX_LINE_CHARS:
        return SyntaxProblem(
            0,
            chunk.column,
            f"rule is too long ({length:,} characters; the limit is {MAX_LINE_CHARS:,})",
            "split it into several rules, or name parts of it with let",
        )
    return None
