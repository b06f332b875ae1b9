"""Friendly messages for Lark's syntax errors: the common mistakes get their own label,
every message names what was expected in words. Torch-free."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..common import one_of
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
    """A friendly message for a Lark error: the common mistakes get their own label.

    A stray character is judged on its own first (a quote, a lookalike of ASCII syntax);
    then each common mistake in :data:`_MISTAKES` is tried in order, and the fallback
    names the unexpected token and what was expected instead.
    """
    if isinstance(e, UnexpectedCharacters):
        problem = _bad_character(chunk.text, e)
        if problem is not None:
            return problem
    spot = _Spot.of(chunk, e)
    for mistake in _MISTAKES:
        problem = mistake(spot)
        if problem is not None:
            return problem
    return _unexpected(spot)


def _position(e: UnexpectedInput) -> tuple[int, int]:
    return getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1


def _bad_character(text: str, e: UnexpectedCharacters) -> SyntaxProblem | None:
    """A character that is wrong anywhere: a single quote, a backslash inside a line, a
    lookalike of ASCII syntax, a control character."""
    line, column = _position(e)
    pos = e.pos_in_stream or 0
    ch = text[pos] if pos < len(text) else ""
    if ch == "'":
        return SyntaxProblem(line - 1, column, "strings use double quotes", 'write "..." instead')
    if ch == "\\":
        return SyntaxProblem(line - 1, column, "a '\\' continues a rule only at the end of a line")
    if ch in _LOOKALIKES:
        return SyntaxProblem(
            line - 1,
            column,
            f"unexpected character {ch!r} (U+{ord(ch):04X})",
            f"write {_LOOKALIKES[ch]} instead: the language is plain ASCII outside strings",
        )
    if not ch.isprintable():
        return SyntaxProblem(line - 1, column, f"unexpected control character {ch!r}")
    return None


@dataclass(frozen=True)
class _Spot:
    """Where a Lark error points, the same for both of its kinds: the offending token (a
    ``CHAR`` for an unexpected character, ``$END`` for the end of the line), the terminals
    the parser could take there, and the chunk's line, column and width to underline."""

    text: str
    tok: Token
    exp: frozenset[str]
    part: int
    column: int
    width: int

    @classmethod
    def of(cls, chunk: Chunk, e: UnexpectedInput) -> _Spot:
        text = chunk.text
        line, column = _position(e)
        if isinstance(e, UnexpectedCharacters):
            pos = e.pos_in_stream or 0
            ch = text[pos] if pos < len(text) else ""
            tok, names = Token("CHAR", ch, pos, line, column), set(e.allowed or ())
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
        return cls(text, tok, frozenset(exp), part, column, width)

    @property
    def first_word(self) -> str:
        return self.text.split(None, 1)[0] if self.text.split() else ""

    @property
    def is_rule(self) -> bool:
        return self.first_word not in _STATEMENT_WORDS

    @property
    def what(self) -> str:
        """The offending token as the message names it."""
        if self.tok.type == "$END":
            return "end of line"
        if self.tok.type == "STRING":
            return f"string {self.tok.value}"
        return f"'{self.tok.value}'"

    def problem(
        self, message: str, hint: str | None = None, *, underline: bool = True
    ) -> SyntaxProblem:
        """A problem at this spot; ``underline``: mark the whole token, not one column."""
        return SyntaxProblem(self.part, self.column, message, hint, self.width if underline else 1)


def _missing_arrow(s: _Spot) -> SyntaxProblem | None:
    if not s.is_rule or "->" in s.text:
        return None
    return s.problem(
        "missing '->' between the selector and the scheme",
        "a rule reads SELECTOR -> SCHEME, e.g. Linear before ReLU -> kaiming_normal(fan_in)",
    )


def _missing_selector(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type != "_ARROW" or not s.text.lstrip().startswith("->"):
        return None
    return s.problem("missing selector before '->'", "e.g. Linear -> ..., or * -> ...")


def _single_equals(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type != "_EQ" or "COMP_OP" not in s.exp:
        return None
    return s.problem("use '==' to compare")


def _unquoted_path(s: _Spot) -> SyntaxProblem | None:
    if s.first_word != "use" or s.tok.type != "_DOT":
        return None
    return s.problem(
        "quote a file path", 'write use "base.pol" (a built-in is use NAME)', underline=False
    )


def _bare_alternatives(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type != "_VBAR":
        return None
    return s.problem("alternatives go in parentheses", "write (Tanh|Sigmoid)")


def _after_the_end(s: _Spot) -> SyntaxProblem | None:
    # a rule may end after its scheme or go on with `with`: LALR lists only the `with`
    if s.tok.type == "$END" or not ("$END" in s.exp or (s.is_rule and s.exp <= {"WITH", "_LPAR"})):
        return None
    return s.problem(
        f"unexpected {s.what} after the end of the {'rule' if s.is_rule else 'line'}",
        "one rule per line: continue a long rule with a trailing '\\'; comments start with #",
    )


def _missing_scheme(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type != "$END" or not s.text.rstrip("\\ \t\n").endswith("->"):
        return None
    return s.problem("missing scheme after '->'", "e.g. -> zeros()", underline=False)


def _missing_comma(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type not in ("NAME", "GLOB", "NUMBER", "STRING") or "_COMMA" not in s.exp:
        return None
    return s.problem(f"unexpected {s.what}: expected ',' or ')'", "separate arguments with ','")


def _ends_early(s: _Spot) -> SyntaxProblem | None:
    if s.tok.type != "$END":
        return None
    return s.problem(f"the line ends too early: {expected(s.exp)}")


#: The common mistakes, each with its own message, tried in this order.
_MISTAKES = (
    _missing_arrow,
    _missing_selector,
    _single_equals,
    _unquoted_path,
    _bare_alternatives,
    _after_the_end,
    _missing_scheme,
    _missing_comma,
    _ends_early,
)


def _unexpected(s: _Spot) -> SyntaxProblem:
    kind = "character " if s.tok.type == "CHAR" else ""
    return s.problem(f"unexpected {kind}{s.what}: {expected(s.exp)}")


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
