"""Friendly messages for Lark's syntax errors: the common mistakes get their own label,
every message names what was expected in words. Torch-free."""

from __future__ import annotations

from collections.abc import Iterable

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..common.suggest import one_of
from .lines import BRACKETS, Chunk, SyntaxProblem

_STATEMENT_WORDS = ("use", "let", "seed")


def _depth_at(text: str, pos: int) -> int:
    """How many brackets are open at ``pos`` (strings skipped)."""
    depth, in_string = 0, False
    for m in BRACKETS.finditer(text, 0, pos):
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
    # a rule may end after its scheme or go on with `with`: LALR lists only the `with`
    if tok.type != "$END" and ("$END" in exp or (is_rule and exp <= {"WITH", "_LPAR"})):
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
        return SyntaxProblem(part, column, f"the line ends too early: {expected(exp)}", None, width)
    kind = "character" if tok.type == "CHAR" else ""
    return SyntaxProblem(
        part,
        column,
        f"unexpected {kind + ' ' if kind else ''}{what}: {expected(exp)}",
        None,
        width,
    )


#: How a grammar terminal reads in an error message.
TERMINALS: dict[str, str] = {
    "$END": "the end of the line",
    "_ARROW": "'->'",
    "_EQ": "'='",
    "_DOT": "'.'",
    "_COMMA": "','",
    "_VBAR": "'|'",
    "_LPAR": "'('",
    "_RPAR": "')'",
    "_LSQB": "'['",
    "_RSQB": "']'",
    "GLOB": "a module type or parameter name",
    "MEMBER": "a parameter name",
    "NAME": "a name",
    "NUMBER": "a number",
    "STRING": 'a quoted string ("...")',
    "COMP_OP": "a comparison",
    "POW": "'**'",
    "STAR": "'*'",
    "SLASH": "'/'",
    "PLUS": "'+'",
    "MINUS": "'-'",
    "OR": "'or'",
    "AND": "'and'",
    "NOT": "'not'",
}

#: Terminals left out of an "expected ..." list because they would only add noise.
_NOISE = {"OR", "AND", "COMP_OP", "POW", "STAR", "SLASH", "PLUS", "MINUS", "NOT"}


def terminal(name: str) -> str:
    """How the terminal ``name`` reads (keywords read as themselves)."""
    if name in TERMINALS:
        return TERMINALS[name]
    return f"'{name.lower()}'" if name.isalpha() else name


def expected(names: Iterable[str]) -> str:
    """``"expected '->' or a name"`` for a set of acceptable terminals."""
    names = set(names)
    if names - _NOISE:
        names -= _NOISE
    words = sorted({terminal(n) for n in names}, key=lambda w: (w.startswith("a"), w))
    return "expected " + one_of(words)
