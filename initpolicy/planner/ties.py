"""One tensor under several names (a tied LM head): which names' rule initializes it.

A tied tensor is initialized once and seeded by its first name. Each name is matched in
the context of its own module, so its names can win different rules:

- a ``keep`` winner does not disagree: the other names' rule writes the tensor. This is
  how a user resolves a conflict (``Linear.weight named "head" -> keep``);
- when the disagreeing winners all come from built-in policies (which are generic and
  cannot know a model's ties), the later rule wins, as everywhere else in a policy; the
  entry carries a note and the plan a warning naming the overridden rule;
- otherwise the plan has an error, whose hint is the ``keep`` rule to add.

Torch-free.

>>> resolve(p, [(target_emb, [entry_normal]), (target_head, [entry_zeros])])  # doctest: +SKIP
Resolution(entries=None, error=Diagnostic(...), ...)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import Diagnostic, PrintError
from ..language import Num, Rule, SchemeArg, SchemeCall, Selector, Word, short_rule
from ..language import expression as printer_expression
from ..language import literal_glob as printer_literal_glob
from ..language import scheme as printer_scheme
from ..tracer import ParamInfo
from .entries import diagnostic
from .plan import Entry
from .select import NamedTensor

#: Where the rules of a built-in policy say they come from (``<builtin>/pytorch_default``).
BUILTIN_PREFIX = "<builtin>/"

Candidate = tuple[NamedTensor, list[Entry]]


@dataclass
class Resolution:
    """The entries that write the tensor (None: it cannot be planned), and what to tell."""

    entries: list[Entry] | None
    error: Diagnostic | None = None
    warning: str | None = None
    #: Rules that won a name but were overridden by another name's rule.
    overridden: list[Rule] = field(default_factory=list)


def is_builtin(rule: Rule) -> bool:
    return rule.loc.file.startswith(BUILTIN_PREFIX)


def resolve(p: ParamInfo, candidates: list[Candidate]) -> Resolution:
    """The writes for tensor ``p`` from its names' winning entries, in name order (the
    first is the canonical name)."""
    if not candidates:
        return Resolution(None)
    writing = [c for c in candidates if not _is_keep(c[1])]
    if not writing:
        return Resolution(candidates[0][1])
    distinct: list[Candidate] = []
    for c in writing:
        if all(_signature(c[1]) != _signature(d[1]) for d in distinct):
            distinct.append(c)
    if len(distinct) == 1:
        return Resolution(writing[0][1])
    if all(is_builtin(e.rule) for _, entries in distinct for e in entries):
        return _by_precedence(p, distinct)
    first, other = distinct[0], distinct[-1]
    return Resolution(None, error=_conflict(p, first, other))


def _by_precedence(p: ParamInfo, distinct: list[Candidate]) -> Resolution:
    def last(c: Candidate) -> int:
        return max(e.rule.index for e in c[1])

    win = max(distinct, key=last)  # max keeps the first of equals: the canonical name
    lost = [c for c in distinct if c is not win]
    lost_rules = [e.rule for _, entries in lost for e in entries]
    names = ", ".join(t.name for t, _ in lost)
    over = "; ".join(f"{t.name}: {_describe(entries)}" for t, entries in lost)
    note = f"tied with {names}: built-in rules disagree and the later one wins; overridden {over}"
    entries = [replace(e, note=_join(e.note, note)) for e in win[1]]
    entries[0].overridden = (*entries[0].overridden, *lost_rules)
    warning = (
        f"{p.name} is tied with {', '.join(p.aliases)}: built-in rules disagree; "
        f"{win[0].name}: {_describe(win[1])} wins over {over}"
    )
    return Resolution(entries, warning=warning, overridden=lost_rules)


def _conflict(p: ParamInfo, a: Candidate, b: Candidate) -> Diagnostic:
    (ta, ea), (tb, eb) = a, b
    rule = eb[-1].rule
    mine, theirs = keep_rule(tb), keep_rule(ta)
    hint = None
    if mine is not None and theirs is not None:
        hint = (
            f"to let {ta.name}'s rule initialize it, add `{mine}` "
            f"(or `{theirs}` for {tb.name}'s rule)"
        )
    return diagnostic(
        rule,
        f"tied tensor {p.name} (also {', '.join(p.aliases)}) is one tensor, but its names "
        f"get different inits: {ta.name}: {_describe(ea)}; {tb.name}: {_describe(eb)}",
        hint=hint,
    )


def keep_rule(t: NamedTensor) -> str | None:
    """The rule that makes name ``t`` of a tied tensor step aside: ``keep`` on that name,
    by the printer; None where the name cannot be written in a policy."""
    sel = Selector(
        types=(t.layer.type,) if t.layer.type else None,
        param=t.local,
        named=printer_literal_glob(t.layer.name) if t.layer.name else None,
    )
    try:
        return short_rule(sel, SchemeCall(name="keep"))
    except PrintError:
        return None


def _is_keep(entries: list[Entry]) -> bool:
    return all(e.spec.keeps for e in entries)


def _signature(entries: list[Entry]) -> list[tuple[Any, ...]]:
    """What a write does: two names of one tied tensor agree when these are equal (a
    wrapper's factor, calibration and map included)."""
    return [
        (
            e.block,
            e.scheme,
            sorted(e.args.items()),
            sorted(e.multipliers.items()),
            e.scale,
            sorted((e.calibration or {}).items()),
            None if e.transform is None else printer_expression(e.transform),
        )
        for e in entries
    ]


def _describe(entries: list[Entry]) -> str:
    """Each entry's evaluated call (every argument by name, numbers to 6 significant
    digits, as messages show numbers) and the rule it comes from."""
    parts = []
    for e in entries:
        args = tuple(
            SchemeArg(
                name=k, value=Word(value=v) if isinstance(v, str) else Num(value=float(f"{v:g}"))
            )
            for k, v in e.args.items()
        )
        call = printer_scheme(SchemeCall(name=e.scheme, args=args))
        if e.rule.scheme.inner is not None:  # scaled(...), lsuv(...), mapped(...): as written
            call = printer_scheme(e.rule.scheme)
        parts.append(f"{call} by {e.rule.loc.file}:{e.rule.loc.line}")
    return "; ".join(parts)


def _join(a: str | None, b: str) -> str:
    return b if not a else f"{a}; {b}"
