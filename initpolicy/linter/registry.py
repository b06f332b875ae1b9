"""Finding rules: by code or name, and the enabled set for ruff-style ``select`` /
``ignore`` / ``extend-select`` (codes, prefixes or kebab-case names).

The rules themselves are the explicit tuple :data:`initpolicy.linter.rules.RULES`.

Codes are stable and grouped by prefix:

- ``IP1xx`` static checks on the weights as they are (or as a policy would make them),
- ``IP2xx`` signal propagation, from one forward and backward pass,
- ``IP3xx`` checks of a policy against the model it is applied to.

>>> get_rule("IP103").name
'gain-mismatch'
>>> sorted(r.code for r in selected(select=["IP20"], ignore=["IP205"]))
['IP201', 'IP202', 'IP203', 'IP204', 'IP206']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..common import did_you_mean
from ..errors import UsageError
from .rule import LintRule
from .rules import RULES


def all_rules() -> list[type[LintRule]]:
    """Every rule, by code.

    >>> [r.code for r in all_rules()][:3]
    ['IP101', 'IP102', 'IP103']
    """
    return sorted(RULES, key=lambda r: r.code)


def _hint(word: str) -> str:
    rules = all_rules()
    hint = did_you_mean(word, [r.code for r in rules] + [r.name for r in rules])
    return f" ({hint})" if hint else ""


def get_rule(code_or_name: str) -> type[LintRule]:
    """A rule by code (``IP103``) or name (``gain-mismatch``); UsageError with a hint.

    >>> get_rule("gain-mismatch").code
    'IP103'
    """
    key = code_or_name.strip()
    for r in all_rules():
        if key.upper() == r.code or key.lower() == r.name:
            return r
    raise UsageError(f"unknown lint rule {key!r}{_hint(key)}; `initpolicy rules` lists them")


def _check_codes(values: Iterable[str], what: str) -> list[str]:
    """Codes or code prefixes for ``values`` (``ALL`` is every code; a name is its code)."""
    rules = all_rules()
    out = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        if v.upper() == "ALL":
            out.append("IP")
            continue
        named = next((r.code for r in rules if r.name == v.lower()), None)
        if named:
            out.append(named)
            continue
        code = v.upper()
        if not any(r.code.startswith(code) for r in rules):
            raise UsageError(f"{what}: no lint rule matches {v!r}{_hint(v)}")
        out.append(code)
    return out


def selected(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
) -> list[type[LintRule]]:
    """The enabled rules. Like ruff, the most specific matching code wins: ``select IP1``
    with ``ignore IP105`` drops IP105; ``ignore IP1`` with ``select IP103`` keeps IP103.
    A rule's kebab-case name works wherever a code does.

    >>> [r.code for r in selected(["IP1"], ["IP1"], ["gain-mismatch"])]
    ['IP103']
    """
    positive = _check_codes(select if select is not None else ["IP"], "select")
    positive += _check_codes(extend_select or (), "extend-select")
    negative = _check_codes(ignore or (), "ignore")
    out = []
    for r in all_rules():
        pos = max((len(p) for p in positive if r.code.startswith(p)), default=-1)
        neg = max((len(n) for n in negative if r.code.startswith(n)), default=-1)
        if pos > neg:
            out.append(r)
    return out
