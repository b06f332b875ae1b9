"""Choose the rules: a reverse decision list, then tidy.

"Later rules override earlier ones", so the rule that comes LAST is chosen FIRST: a
candidate is admissible when every not-yet-covered item it matches has the same label
(items already covered are overridden by the rules after it). Greedy by coverage, then the
most specific selector (fewest items reached at all), then the simplest; with a one-step
look-ahead: an impure broad candidate (``Conv1D``) is taken together with the one to three
pure rules that cover its exceptions (``named "*.c_proj"``) when that covers more items
per rule than any pure candidate alone.

*Tidy*: rules that differ only in their type are merged into ``(A|B)``; rules whose
removal changes no outcome are dropped (both checked by simulating the list).

>>> outcome([RuleDraft(Cand(None, "bias", None, None), "zeros()", 0b011),
...          RuleDraft(Cand(None, "weight", None, None), "ones()", 0b110)], 3)
['zeros()', 'ones()', 'ones()']
"""

from __future__ import annotations

from dataclasses import dataclass

from ..catalog import constant_value
from ..language import And
from ..planner import is_weight_name, summed_bias
from .candidates import Atoms, Cand, guards
from .observe import Item
from .source import Guard, negate


@dataclass
class RuleDraft:
    cand: Cand
    label: str
    mask: int


def _bits(m: int) -> list[int]:
    out = []
    while m:
        low = m & -m
        out.append(low.bit_length() - 1)
        m ^= low
    return out


#: A pure candidate: (items it covers now, -cost, candidate, label, all items it matches).
_Pure = tuple[int, float, Cand, str, int]
#: How many pure rules may fix an impure broad candidate's exceptions.
_MAX_FIXES = 3


def greedy(
    items: list[Item], labels: dict[int, str], atoms: Atoms, pool: list[Cand]
) -> list[RuleDraft]:
    """Rules in FILE order for the ``labels`` (item index -> scheme text), from ``pool``."""
    label_mask: dict[str, int] = {}
    for i, lab in labels.items():
        label_mask[lab] = label_mask.get(lab, 0) | (1 << i)
    remaining = sum(1 << i for i in labels)
    forbidden = sum(1 << it.index for it in items if it.forbidden)
    pairs = _summed_pairs(items, labels)
    masks = [
        (c, m)
        for c in pool
        if (m := atoms.mask(c)) and not m & forbidden and not any(m & p == p for p in pairs)
    ]
    rev: list[RuleDraft] = []
    while remaining:
        pure: list[_Pure] = []
        impure: list[tuple[Cand, int, int]] = []
        for c, m in masks:
            live = m & remaining
            if not live:
                continue
            lab = labels[(live & -live).bit_length() - 1]
            if live & ~label_mask[lab]:
                impure.append((c, m, live))
            else:
                pure.append((live.bit_count(), -c.cost(), c, lab, m))
        if not pure:
            break  # cannot happen: an exact candidate exists for every item
        # most covered; then the most specific selector that does it (fewest items it
        # reaches at all), then the simplest, then the shortest
        pure.sort(key=lambda x: (x[0], -x[4].bit_count(), x[1], -len(x[2].text())), reverse=True)
        choice = [(pure[0][2], pure[0][3], pure[0][4])]
        best = (float(pure[0][0]), pure[0][1])
        for c, m, live in impure:
            found = _with_fixes(c, m, live, pure, label_mask, remaining, best, pure[0][0])
            if found is not None:
                best, choice = found
        for c, lab, m in choice:
            rev.append(RuleDraft(c, lab, m))
            remaining &= ~m
    return list(reversed(rev))


def _summed_pairs(items: list[Item], labels: dict[int, str]) -> list[int]:
    """Masks of an RNN's bias_ih and bias_hh (same layer, same block) that the code gave
    the same nonzero constant: one rule over both would give bias_hh zero (the planner
    writes the gate's summed bias once), so no rule may cover both."""
    by_key = {(it.layer.name, it.local, it.block): it.index for it in items}
    out = []
    for it in items:
        ih = summed_bias(it.layer.types, it.local)
        j = None if ih is None else by_key.get((it.layer.name, ih, it.block))
        if j is None or it.index not in labels or labels.get(j) != labels[it.index]:
            continue
        law = it.law
        if law is not None and constant_value(law.scheme, law.args) not in (None, 0.0):
            out.append((1 << it.index) | (1 << j))
    return out


def _with_fixes(
    c: Cand,
    m: int,
    live: int,
    pure: list[_Pure],
    label_mask: dict[str, int],
    remaining: int,
    best: tuple[float, float],
    floor: int,
) -> tuple[tuple[float, float], list[tuple[Cand, str, int]]] | None:
    """The impure candidate ``c`` for its majority label, with the pure rules (after it)
    that cover its exceptions, if that covers more items per rule than ``best``; only
    tried where the majority alone beats the best pure candidate's ``floor``."""
    gain, lab = max(((live & lm).bit_count(), lab) for lab, lm in label_mask.items() if live & lm)
    if gain <= floor:
        return None
    left = live & ~label_mask[lab]
    fixes: list[tuple[Cand, str, int]] = []
    covered = 0
    while left and len(fixes) < _MAX_FIXES:
        hits = [((pm & left).bit_count(), pc, plab, pm) for _g, _c, pc, plab, pm in pure]
        hit, pc, plab, pm = max(hits, key=lambda h: h[0])
        if not hit:
            return None
        fixes.append((pc, plab, pm))
        covered |= pm & remaining
        left &= ~pm
    if left:
        return None
    total = (covered | live).bit_count()
    score = (total / (1 + len(fixes)), -c.cost() - sum(f[0].cost() for f in fixes))
    if score <= best:
        return None
    return score, [*fixes, (c, lab, m)]


def outcome(rules: list[RuleDraft], n: int) -> list[str | None]:
    """The label each item ends up with when the rules run in order."""
    out: list[str | None] = [None] * n
    for r in rules:
        for i in _bits(r.mask):
            out[i] = r.label
    return out


def correct(rules: list[RuleDraft], labels: dict[int, str], n: int) -> bool:
    got = outcome(rules, n)
    return all(got[i] == lab for i, lab in labels.items())


def tidy(rules: list[RuleDraft], labels: dict[int, str], atoms: Atoms) -> list[RuleDraft]:
    """Merge rules that differ only in type; drop rules that change no outcome."""
    merged = _merge_once(rules, labels, atoms)
    while merged is not None:
        rules = merged
        merged = _merge_once(rules, labels, atoms)
    i = 0
    while i < len(rules):
        trial = rules[:i] + rules[i + 1 :]
        if correct(trial, labels, atoms.n):
            rules = trial
        else:
            i += 1
    return rules


def _merge_once(
    rules: list[RuleDraft], labels: dict[int, str], atoms: Atoms
) -> list[RuleDraft] | None:
    """The rules with one pair of same-label rules merged into ``(A|B)``, or None."""
    for i, a in enumerate(rules):
        for j in range(i + 1, len(rules)):
            b = rules[j]
            if a.label != b.label or a.cand.types is None or b.cand.types is None:
                continue
            if (a.cand.param, a.cand.clause, a.cand.block, a.cand.where) != (
                b.cand.param,
                b.cand.clause,
                b.cand.block,
                b.cand.where,
            ):
                continue
            types = tuple(dict.fromkeys((*a.cand.types, *b.cand.types)))
            cand = Cand(types, a.cand.param, a.cand.clause, a.cand.block, a.cand.where)
            merged = RuleDraft(cand, a.label, atoms.mask(cand))
            for pos in (j - 1, i):  # where the later one stood, else the earlier one
                trial = [r for k, r in enumerate(rules) if k not in (i, j)]
                trial.insert(pos, merged)
                if correct(trial, labels, atoms.n):
                    return trial
    return None


def guard_rules(items: list[Item], labels: dict[int, str], atoms: Atoms) -> list[RuleDraft]:
    """Rules on the tests the code made (:mod:`.source`), chosen before any other: a test
    whose holding side, among the items written where it was made, has one label that
    none of its failing side has *explains* that split, whatever the sizes. Its rule
    (``(Linear|Embedding) where fan_out == config.vocab_size``, the types the code's
    isinstance named) selects exactly those items here and goes after the others, as the
    code's ``if`` overrides what it does otherwise. Of a test and its negation the side
    with fewer items is written (the head, not every other layer)."""
    # where a test was made: the items written under it or under its negation, alone or
    # with other tests (an if's two branches writing with two calls, an elif's)
    by_guard: dict[Guard, dict[int, None]] = {}
    for i in labels:
        for g in guards(items[i]):
            parts = g.cond.items if isinstance(g.cond, And) else (g.cond,)
            for c in {g.cond, *parts}:
                for key in (c, negate(c)):
                    by_guard.setdefault(Guard(key, g.types), {})[i] = None
    wanted = {g for i in labels for g in guards(items[i])}
    sites = {g: list(site) for g, site in by_guard.items() if g in wanted}
    out: list[tuple[int, RuleDraft]] = []
    taken = sum(1 << it.index for it in items if it.forbidden)  # no rule may select those
    done: set[int] = set()
    for g, site in sites.items():
        cand = _guard_cand(g, [items[i] for i in site])
        holds = atoms.mask(cand)
        inside = sum(1 << i for i in site)
        hold, fail = holds & inside, inside & ~holds
        if not hold or not fail or hold.bit_count() > fail.bit_count() or fail in done:
            continue  # no split; the larger side; the other side of a split written
        label = {labels[i] for i in _bits(hold)}
        if len(label) != 1 or any(labels.get(i) in label for i in _bits(fail)):
            continue
        if any(labels.get(i) not in label for i in _bits(holds) if i in labels) or holds & taken:
            continue  # it would also select others, or what another test's rule selects
        taken |= holds
        done.add(hold)
        out.append((hold.bit_count(), RuleDraft(cand, label.pop(), holds)))
    return [d for _n, d in sorted(out, key=lambda x: -x[0])]


def _guard_cand(g: Guard, site: list[Item]) -> Cand:
    """The rule's selector: the test's types (or none), the items' parameter where it is
    no weight."""
    locals_ = {it.local for it in site}
    param = None
    if len(locals_) == 1 and not is_weight_name(next(iter(locals_))):
        param = next(iter(locals_))
    return Cand(g.types or None, param, None, None, g.cond)
