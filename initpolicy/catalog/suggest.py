"""Did-you-mean hints and readable names for grammar terminals. Torch-free.

>>> did_you_mean("kaiming", ["kaiming_normal", "kaiming_uniform", "normal"])
'did you mean kaiming_normal?'
>>> did_you_mean("xyz", ["normal"]) is None
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(word: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidates closest to ``word`` (case-insensitive, difflib ratio >= 0.6)."""
    cands = list(dict.fromkeys(candidates))
    by_lower: dict[str, str] = {}
    for c in cands:
        by_lower.setdefault(c.lower(), c)
    if word.lower() in by_lower and by_lower[word.lower()] != word:
        return [by_lower[word.lower()]]
    matches = difflib.get_close_matches(word.lower(), list(by_lower), n=n, cutoff=0.6)
    out = [by_lower[m] for m in matches]
    if not out:
        # A prefix ("kaiming" for "kaiming_normal") is as telling as a near-spelling.
        out = [c for c in cands if c.lower().startswith(word.lower()) and len(word) >= 3][:n]
    return out


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """``"did you mean X?"`` for the closest candidate, or None if nothing is close."""
    best = closest(word, candidates)
    return f"did you mean {best[0]}?" if best else None


def one_of(words: Iterable[str], conj: str = "or") -> str:
    """``"a, b or c"``."""
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {conj} {items[-1]}"


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
