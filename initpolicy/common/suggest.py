"""The one did-you-mean: every "did you mean X?" of initpolicy comes from here.

>>> did_you_mean("kaiming", ["kaiming_normal", "kaiming_uniform", "normal"])
'did you mean kaiming_normal?'
>>> did_you_mean("xyz", ["normal"]) is None
True
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Letters read as the digit they look like: o -> 0, l -> 1 (on lower-cased text).
_LOOKALIKE = str.maketrans("ol", "01")


def _look(word: str) -> str:
    return word.lower().translate(_LOOKALIKE)


def closest(word: str, candidates: Iterable[str], n: int = 1) -> list[str]:
    """The candidates closest to ``word`` (case-insensitive, difflib ratio >= 0.6; a
    letter typed for the digit it looks like first).

    >>> closest("IP1O3", ["IP103", "IP123"])
    ['IP103']
    """
    cands = list(dict.fromkeys(candidates))
    by_lower: dict[str, str] = {}
    for c in cands:
        by_lower.setdefault(c.lower(), c)
    if word.lower() in by_lower and by_lower[word.lower()] != word:
        return [by_lower[word.lower()]]
    # A letter typed for the digit it looks like ("IP1O3") is the closest miss of all.
    alike = [c for low, c in by_lower.items() if low.translate(_LOOKALIKE) == _look(word)]
    if len(alike) == 1 and alike[0] != word:
        return alike
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
