"""Write the observed laws as a short policy whose plan reproduces them.

1. **Labels** (:mod:`.labels`): each item's scheme call as text, numbers as expressions.
2. **Candidates** (:mod:`.candidates`): selectors from the graph facts, as bitmasks.
3. **Rules** (:mod:`.greedy`): a reverse decision list, then tidied. Block rules come after
   every whole-tensor rule (the planner writes a block after the whole tensor's winner).
4. **Render**: ``let``s with their config origin, then the rules, each with a comment
   naming the sites of the writes it stands for (two, then "+k more"), or "fitted from
   values".
5. **Verify** (:mod:`.verify`): the text is parsed and planned by the real planner on the
   same graph; a mismatch gets an exact rule (``TYPE.param named "full.name"``) appended
   and the plan is checked again. A policy that cannot be planned is a mismatch too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..common import columns
from ..errors import InitPolicyError
from ..language import Selector, parse
from ..language import comment as printer_comment
from ..language import let as printer_let
from ..planner import Index, Plan, build_plan, plan_index
from ..tracer import ModelGraph
from .candidates import Atoms, Cand, candidates_for
from .expressions import Context, config_context
from .greedy import RuleDraft, correct, greedy, guard_rules, tidy
from .labels import label_items
from .observe import Item, Observation
from .verify import compare

#: How often a mismatch is fixed with exact rules before giving up.
_ROUNDS = 3
#: ``let name = expression  # why``.
Let = tuple[str, str, str]


@dataclass
class Rule:
    selector: str
    scheme: str
    comment: str
    #: The items this rule wins.
    items: list[int] = field(default_factory=list)


@dataclass
class Mismatch:
    """An item the policy does not plan as the code initialized it."""

    name: str
    block: str | None
    observed: str
    planned: str

    def __str__(self) -> str:
        block = f"[{self.block}]" if self.block else ""
        return f"{self.name}{block}: planned {self.planned}, observed {self.observed}"


@dataclass
class Synthesis:
    text: str
    rules: list[Rule]
    lets: list[Let]
    labels: dict[int, str]
    mismatches: list[Mismatch]
    #: Exact rules appended because the plan differed.
    fixups: int
    plan: Plan | None = None


def synthesize(
    obs: Observation,
    graph: ModelGraph,
    model: Any,
    *,
    use_activations: bool = False,
    header: str = "",
    use_depth: bool = True,
) -> Synthesis:
    """The policy for ``obs`` on ``graph`` (see the module docstring)."""
    items = obs.items
    index = plan_index(graph)
    labelled = label_items(items, _context(obs, graph, index, model), use_depth)
    labels = {i: lab for i, (lab, _lets) in labelled.items()}
    lets: dict[str, Let] = {}
    for _lab, needed in labelled.values():
        for let in needed:
            lets.setdefault(let[0], let)
    atoms = Atoms(items, index, use_activations)
    drafts: list[RuleDraft] = []
    for part in (
        {i: lab for i, lab in labels.items() if items[i].block is None},
        {i: lab for i, lab in labels.items() if items[i].block is not None},
    ):
        if part:
            pool = list(dict.fromkeys(c for i in part for c in candidates_for(items[i], atoms)))
            drafts += _rules(items, part, atoms, pool)
    rules = _finish(drafts, items, labels)
    return _verify(rules, list(lets.values()), header, graph, items, labels, values_of(obs, model))


def _rules(
    items: list[Item], labels: dict[int, str], atoms: Atoms, pool: list[Cand]
) -> list[RuleDraft]:
    """The rules for ``labels``: those on the code's own tests first (written last), then
    the greedy list for the rest; without the tests' rules where that list would not be
    right (it always is: their items are left out of it, and they override it)."""
    first = guard_rules(items, labels, atoms)
    covered = 0
    for d in first:
        covered |= d.mask
    rest = {i: lab for i, lab in labels.items() if not covered >> i & 1}
    out = tidy(greedy(items, rest, atoms, pool), rest, atoms) if rest else []
    out += first
    if not correct(out, labels, atoms.n):
        out = tidy(greedy(items, labels, atoms, pool), labels, atoms)
    return out


def _verify(
    rules: list[Rule],
    lets: list[Let],
    header: str,
    graph: ModelGraph,
    items: list[Item],
    labels: dict[int, str],
    values: Callable[[Item], Any] | None = None,
) -> Synthesis:
    fixups = 0
    mismatches: list[Mismatch] = []
    plan = None
    for _ in range(_ROUNDS):
        try:
            plan = build_plan(parse(render(rules, lets, header)), graph, include_frozen=True)
        except InitPolicyError as e:
            mismatches = [Mismatch("<policy>", None, "a plan", str(e).splitlines()[0])]
            break
        bad = compare(plan, items, values)
        mismatches = [
            Mismatch(items[i].name, items[i].block, observed(items[i]), got)
            for i, got, _fixable in bad
        ]
        fixable = [i for i, _got, ok in bad if ok]
        if not fixable:
            break
        fixups += len(fixable)
        for i in fixable:
            it = items[i]
            named = ("named", it.layer.name) if it.layer.name else None
            exact = Cand((it.layer.type,), it.local, named, it.block)
            rules.append(Rule(exact.text(), labels[i], "exact: " + _comment_for([it]), [i]))
    return Synthesis(render(rules, lets, header), rules, lets, labels, mismatches, fixups, plan)


def values_of(obs: Observation, model: Any) -> Callable[[Item], Any]:
    """The code's own values of an item (a whole tensor no block law divides; without an
    Embedding's padding row), for verifying a law fitted from them; None otherwise."""

    def get(it: Item) -> Any:
        laws = obs.tensors.get(it.param.name)
        if it.block is not None or laws is None or laws.blocks:
            return None
        t = model.get_parameter(it.param.raw_name or it.param.name).detach()
        pad = getattr(it.layer.module, "padding_idx", None) if it.local == "weight" else None
        if isinstance(pad, int) and t.ndim == 2 and 0 <= pad < t.shape[0]:
            t = t[[i for i in range(t.shape[0]) if i != pad]]
        return t

    return get


def observed(it: Item) -> str:
    law = it.law
    return "-" if law is None else f"{law.scheme} std={law.std} bound={law.bound}"


def _context(obs: Observation, graph: ModelGraph, index: Index, model: Any) -> Context:
    """What the expression search may use: counts of the enclosing types, the numbers the
    code used literally, the model's config."""
    types = {ts[0] for it in obs.items for _, ts in it.layer.ancestors if ts}
    counts = {t: index.count(Selector(types=(t,))) for t in sorted(types)}
    literals: list[float] = []
    for r in obs.records:
        if r.parent is not None:
            continue  # a derived number (x * c) is no literal of the code's
        for k in ("std", "val", "b", "gain"):
            v = r.args.get(k)
            if isinstance(v, float):
                literals.append(abs(v))
    ctx = config_context(model, counts, sorted(set(literals)))
    ctx.uses = dict(Counter(literals))
    ctx.traced = graph.tracer != "modules"
    ctx.config = {k: v for k, v in graph.config.items() if "." not in k}
    ctx.numbers = dict(graph.config)

    def position(t: str, layer: Any) -> int | None:
        try:
            return index.position(Selector(types=(t,)), layer)
        except ValueError:  # no enclosing module of that type
            return None

    ctx.position = position
    return ctx


def _finish(drafts: list[RuleDraft], items: list[Item], labels: dict[int, str]) -> list[Rule]:
    """Rules with comments naming where the writes they stand for came from."""
    winners: dict[int, int] = {}
    for k, d in enumerate(drafts):
        m = d.mask
        while m:
            low = m & -m
            winners[low.bit_length() - 1] = k
            m ^= low
    out = []
    for k, d in enumerate(drafts):
        mine = [items[i] for i, w in winners.items() if w == k and i in labels]
        out.append(Rule(d.cand.text(), d.label, _comment_for(mine), [it.index for it in mine]))
    return out


def _comment_for(items: list[Item]) -> str:
    sites: Counter[str] = Counter()
    fitted = 0
    for it in items:
        if it.is_alias or it.law is None:
            continue
        if it.law.how == "fitted":
            fitted += 1
            continue
        if it.law.records:
            # a derived law (x * c) is named by the site of the draw it came from
            first, last = it.law.records[0], it.law.records[-1]
            sites[str(first.site) if first.parent is None else str(last.site)] += 1
    parts = []
    if sites:
        top = [s for s, _ in sites.most_common(2)]
        parts.append("; ".join(top) + (f" (+{len(sites) - 2} more)" if len(sites) > 2 else ""))
    if fitted:
        parts.append("fitted from values" + (f" ({fitted})" if fitted > 1 else ""))
    return "; ".join(parts) if parts else "tied alias"


def render(rules: list[Rule], lets: list[Let], header: str) -> str:
    """The policy text: the header, the ``let``s, the rules, comments aligned."""
    # comments carry the model's own names and file paths: printed so none ends its line
    blocks = [printer_comment(line.removeprefix("#").strip()) for line in header.splitlines()]
    if lets:
        blocks += [
            columns([(printer_let(n, e), printer_comment(why)) for n, e, why in lets]),
            "",
        ]
    if rules:
        blocks.append(
            columns([(r.selector, f"-> {r.scheme}", printer_comment(r.comment)) for r in rules])
        )
    return "\n".join(blocks) + "\n"
