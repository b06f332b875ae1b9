"""From policy text to Lark trees, one logical line at a time, with labelled syntax errors.

A *logical line* is a physical line plus its continuations: a line whose code ends in
``\\`` continues on the next line, and a line whose first token is ``->`` continues the
line before it. Comments (``#`` outside a string) and blank lines are dropped here.
Parsing line by line lets the parser report every bad line of a file, not only the
first, and bounds the work any one line can cause: before Lark sees a line it is checked
for length, unterminated strings, unbalanced and too deeply nested brackets.

Torch-free. The Lark parser is built once per process (and cached on disk by Lark).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..catalog import suggest as hints
from .builtins import grammar_path

#: Longest logical line (one rule with its continuations), in characters.
MAX_LINE_CHARS = 10_000
#: Deepest nesting of parentheses and brackets in one rule.
MAX_NESTING = 32

_PARSER: Lark | None = None


def _cache_path() -> str | bool:
    # A per-user cache directory, not the shared temp dir: Lark's cache is a pickle.
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(root) / "initpolicy"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return str(path / "policy-grammar.lark-cache")


def parser() -> Lark:
    """The policy parser (LALR, contextual lexer), built on first use."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            # Tokens carry their line and column, which is all a diagnostic needs (see
            # expr_build.span_width); propagating positions to every tree node costs 40%
            # of the parse, measured by bench/bench_parse.py.
            propagate_positions=False,
            maybe_placeholders=True,
            cache=_cache_path(),
        )
    return _PARSER


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
    codes = [code_of(line) for line in text.splitlines()]
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


_BRACKETS = re.compile(r'[()\[\]"]')
_PAIRS = {")": "(", "]": "["}
_KIND = {"(": "parentheses", ")": "parentheses", "[": "brackets", "]": "brackets"}


def precheck(chunk: Chunk) -> SyntaxProblem | None:
    """Problems found without parsing: length, strings, bracket balance and depth."""
    stack: list[tuple[str, int, int]] = []  # (bracket, part, column)
    for k, part in enumerate(chunk.parts):
        quote: int | None = None
        for m in _BRACKETS.finditer(part):
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


def parse_chunk(chunk: Chunk) -> Tree[Token] | SyntaxProblem:
    """The Lark tree of one logical line, or the labelled problem that stops it."""
    problem = precheck(chunk)
    if problem is not None:
        return problem
    try:
        return parser().parse(chunk.text)
    except UnexpectedInput as e:
        return label(chunk, e)


_STATEMENT_WORDS = ("use", "let", "seed")


def _depth_at(text: str, pos: int) -> int:
    """How many brackets are open at ``pos`` (strings skipped)."""
    depth, in_string = 0, False
    for m in _BRACKETS.finditer(text, 0, pos):
        ch = m.group()
        if ch == '"':
            in_string = not in_string
        elif not in_string:
            depth += 1 if ch in "([" else -1
    return depth


#: Terminals LALR's merged states may list as acceptable where they cannot be.
_OUTSIDE_ONLY = {"_ARROW", "NAMED", "IN", "BEFORE", "AFTER", "WHERE", "$END"}
_INSIDE_ONLY = {"_RPAR", "_RSQB", "_COMMA"}


#: Characters that word processors and chat tools put in place of ASCII syntax.
_LOOKALIKES = {
    "\u2192": "'->'",  # →
    "\u27f6": "'->'",  # ⟶
    "\u21d2": "'->'",  # ⇒
    "\u2212": "'-'",  # − minus sign
    "\u2013": "'-'",  # – en dash
    "\u2014": "'-'",  # — em dash
    "\u00d7": "'*'",  # ×
    "\u2217": "'*'",  # ∗
    "\u201c": "'\"'",  # “
    "\u201d": "'\"'",  # ”
    "\u2018": "'\"'",  # ‘
    "\u2019": "'\"'",  # ’
    "\u00a0": "a plain space",  # no-break space
}


def label(chunk: Chunk, e: UnexpectedInput) -> SyntaxProblem:
    """A friendly message for a Lark error: the common mistakes get their own label."""
    text = chunk.text
    line, column = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    first_word = text.split(None, 1)[0] if text.split() else ""
    is_rule = first_word not in _STATEMENT_WORDS
    if isinstance(e, UnexpectedCharacters):
        pos = e.pos_in_stream or 0
        ch = text[pos] if pos < len(text) else ""
        tok = Token("CHAR", ch, pos, line, column)
        names = set(e.allowed or ())
        if ch == "'":
            return SyntaxProblem(
                line - 1, column, "strings use double quotes", 'write "..." instead'
            )
        if ch == "\\":
            return SyntaxProblem(
                line - 1, column, "a '\\' continues a rule only at the end of a line"
            )
        if ch in _LOOKALIKES:
            return SyntaxProblem(
                line - 1,
                column,
                f"unexpected character {ch!r} (U+{ord(ch):04X})",
                f"write {_LOOKALIKES[ch]} instead: the language is plain ASCII outside strings",
            )
        if not ch.isprintable():
            return SyntaxProblem(line - 1, column, f"unexpected control character {ch!r}")
    else:
        assert isinstance(e, UnexpectedToken)
        tok, names = e.token, set(e.expected)
        pos = tok.start_pos if tok.type != "$END" and tok.start_pos is not None else len(text)
    if tok.type == "$END":  # no position of its own: point just past the last character
        line, column = len(chunk.parts), len(chunk.parts[-1].rstrip("\\ \t")) + 1
    part = min(max(line, 1), len(chunk.parts)) - 1
    exp = {"$END" if x == "<END-OF-FILE>" else x for x in names}
    exp -= _OUTSIDE_ONLY if _depth_at(text, pos) > 0 else _INSIDE_ONLY
    width = max(1, len(tok.value)) if tok.type != "$END" else 1
    what = "end of line" if tok.type == "$END" else f"'{tok.value}'"
    if tok.type == "STRING":
        what = f"string {tok.value}"
    if is_rule and "->" not in text:
        return SyntaxProblem(
            part,
            column,
            "missing '->' between the selector and the scheme",
            "a rule reads SELECTOR -> SCHEME, e.g. Linear before ReLU -> kaiming_normal(fan_in)",
            width,
        )
    if tok.type == "_ARROW" and text.lstrip().startswith("->"):
        return SyntaxProblem(
            part, column, "missing selector before '->'", "e.g. Linear -> ..., or * -> ...", width
        )
    if tok.type == "_EQ" and "COMP_OP" in exp:
        return SyntaxProblem(part, column, "use '==' to compare", None, width)
    if first_word == "use" and tok.type == "_DOT":
        return SyntaxProblem(
            part, column, "quote a file path", 'write use "base.pol" (a built-in is use NAME)'
        )
    if tok.type == "_VBAR":
        return SyntaxProblem(
            part, column, "alternatives go in parentheses", "write (Tanh|Sigmoid)", width
        )
    if tok.type != "$END" and "$END" in exp:
        return SyntaxProblem(
            part,
            column,
            f"unexpected {what} after the end of the {'rule' if is_rule else 'line'}",
            "one rule per line: continue a long rule with a trailing '\\'; comments start with #",
            width,
        )
    if tok.type == "$END" and text.rstrip("\\ \t\n").endswith("->"):
        return SyntaxProblem(part, column, "missing scheme after '->'", "e.g. -> zeros()")
    if tok.type in ("NAME", "GLOB", "NUMBER", "STRING") and "_COMMA" in exp:
        return SyntaxProblem(
            part,
            column,
            f"unexpected {what}: expected ',' or ')'",
            "separate arguments with ','",
            width,
        )
    if tok.type == "$END":
        return SyntaxProblem(
            part, column, f"the line ends too early: {hints.expected(exp)}", None, width
        )
    kind = "character" if tok.type == "CHAR" else ""
    return SyntaxProblem(
        part,
        column,
        f"unexpected {kind + ' ' if kind else ''}{what}: {hints.expected(exp)}",
        None,
        width,
    )
