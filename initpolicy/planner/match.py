"""Match a policy against a traced model: Policy x ModelGraph -> Plan.

For every parameter (and every buffer a rule names) the last rule that selects it wins,
like .gitignore; a ``[block]`` rule after the winning whole-tensor rule rewrites that
block. The winner's arguments are evaluated with the tensor's bound names and checked,
and the whole plan is validated before anything is written: every problem is reported
at once, as a :class:`~initpolicy.errors.PlanError` with the rule's location and the
tensor's name. Torch-free.

>>> import initpolicy
>>> policy = initpolicy.load("Linear before ReLU -> kaiming_normal(fan_in)")  # doctest: +SKIP
>>> plan = policy.plan(model)                                                  # doctest: +SKIP
>>> plan.entries[0].std                                                        # doctest: +SKIP
0.2
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel

from ..catalog import EXPERT, constant_value, resolve_seed
from ..catalog import problem as seeds_problem
from ..errors import Diagnostic, InitPolicyError, PlanError, UsageError
from ..language import Name, PolicyIR, Rule, Selector, evaluate, evaluate_cond
from ..tracer import Block, ModelGraph, ParamInfo, block_names, block_of
from . import ties
from .entries import ModelNames, diagnostic, evaluate_entry
from .plan import Entry, Output, Plan
from .select import Index, NamedTensor, output_block, selected_blocks

__all__ = ["Entry", "Plan", "build_plan", "needs_trace", "summed_bias"]


def build_plan(
    policy_ir: PolicyIR,
    graph: ModelGraph,
    *,
    seed: int | None = None,
    skip: Mapping[str, Any] | Iterable[str] | None = None,
    include_frozen: bool = False,
    strict: bool = False,
) -> Plan:
    """The plan of ``policy_ir`` on ``graph``; raises PlanError listing every problem.

    ``skip`` (a state_dict or names) leaves those tensors alone, so only what a checkpoint
    lacks is initialized; frozen parameters are skipped unless ``include_frozen``;
    ``strict`` makes parameters no rule matches an error.

    >>> p = build_plan(policy.ir, initpolicy.trace(model), seed=0)   # doctest: +SKIP
    >>> [(e.name, e.scheme, e.std) for e in p.entries][:1]     # doctest: +SKIP
    [('fc1.weight', 'kaiming_normal', 0.2)]
    """
    if seed is not None and (why := seeds_problem(seed)) is not None:
        raise UsageError(why)
    index = plan_index(graph)
    out = Plan(policy=policy_ir, graph=graph, seed=resolve_seed(seed, policy_ir.seed))
    names = ModelNames(graph.width, graph.depth, graph.head_dim, graph.config)
    matcher = _Matcher(policy_ir.rules, index, names, out)
    groups: dict[int, list[NamedTensor]] = {}
    for t in index.targets:
        groups.setdefault(id(t.param), []).append(t)
    skipping = _Skipping(_names(skip), include_frozen)
    for targets in groups.values():
        matcher.plan_tensor(targets, skipping)
    _finish(out, matcher, strict)
    if matcher.diags:
        raise PlanError(_dedupe(matcher.diags))
    return out


def plan_index(graph: ModelGraph) -> Index:
    """The index the planner selects by (``where`` conditions evaluated): what another
    stage needs to select exactly as a plan will (extract's candidate rules)."""
    return Index.from_graph(graph, cond=_cond)


def _cond(c: Any, env: Mapping[str, float], count: Any) -> bool:
    return bool(evaluate_cond(c, env, count=count))


def _value(e: Any, env: Mapping[str, float], count: Any, position: Any = None) -> float:
    return float(evaluate(e, env, count=count, position=position))


#: One name of a tensor with the rules selecting it: whole-tensor ones, block ones by block.
_Matched = tuple[NamedTensor, list[int], dict[str, list[int]]]


@dataclass(frozen=True)
class _Skipping:
    """Which tensors the plan leaves alone: the names to skip, and frozen parameters."""

    names: set[str]
    include_frozen: bool

    def reason(self, p: ParamInfo, originals: list[ParamInfo]) -> str | None:
        """Why ``p`` is skipped (its own reason, else one of its originals'), or None."""
        return _skip_reason(p, self.names, self.include_frozen) or next(
            (r for q in originals if (r := _skip_reason(q, self.names, self.include_frozen))),
            None,
        )


class _Matcher:
    """Plans one tensor at a time into ``out``, and keeps what the whole plan is judged
    on afterwards: the problems, which rules matched (at all, and a tensor that is
    planned), which won, and the layers' output multipliers."""

    def __init__(self, rules: tuple[Rule, ...], index: Index, model: ModelNames, out: Plan):
        self.rules, self.index, self.model_names, self.out = rules, index, model, out
        self.diags: list[Diagnostic] = []
        self.matched_any: set[int] = set()
        #: Per ``[expert]`` rule, the tensors it selects but for its block (their experts).
        self.experts_seen: dict[int, dict[str, int]] = {}
        self.matched_live: set[int] = set()
        self.won: set[int] = set()
        self.outputs: dict[str, Output] = {}
        #: Originals written through their parametrized stand-in.
        self.covered: set[int] = set()

    def plan_tensor(self, targets: list[NamedTensor], skipping: _Skipping) -> None:
        """Plan the tensor whose names are ``targets``. A parametrized weight's stand-in
        comes first: when a rule writes it, its originals are written through it and are
        neither planned on their own nor unmatched."""
        p = targets[0].param
        if id(p) in self.covered:
            return
        per_target: list[_Matched] = []
        for t in targets:
            whole, blocks = _matches(self.rules, self.index, t, self.diags, self.experts_seen)
            self.matched_any.update(whole, *blocks.values())
            per_target.append((t, whole, blocks))
        originals = self.index.originals.get(id(p), [])
        reason = skipping.reason(p, originals)
        if reason is not None:
            # a stand-in's originals are skipped on their own, by name
            if not originals and p.kind == "parameter":
                self.out.skipped.append((p, reason))
            return
        for _, whole, blocks in per_target:
            self.matched_live.update(whole, *blocks.values())
        candidates, won_here = self._candidates(p, per_target)
        for t, whole, _ in per_target:
            self._output_multiplier(t, whole)
        resolved = ties.resolve(p, candidates)
        self.won |= won_here - {r.index for r in resolved.overridden}
        self._settle(p, resolved, originals, per_target)

    def _entry(self, rule: Rule, t: NamedTensor, block: Block | None) -> Entry | None:
        """``rule`` evaluated on ``t`` (or its ``block``); its problems are kept."""
        entry, problems = self._evaluated(rule, t, block)
        self.diags.extend(problems)
        return entry

    def _evaluated(
        self, rule: Rule, t: NamedTensor, block: Block | None
    ) -> tuple[Entry | None, list[Diagnostic]]:
        """``rule`` evaluated on ``t`` (or its ``block``), and its problems."""
        return evaluate_entry(
            rule,
            t,
            block,
            evaluate=_value,
            count=self.index.count,
            n_layers=self.index.n_layers,
            position=self.index.position,
            model=self.model_names,
            n_branches=self.index.n_branches,
            stacks=self.index.stacks,
        )

    def _candidates(
        self, p: ParamInfo, per_target: list[_Matched]
    ) -> tuple[list[ties.Candidate], set[int]]:
        """Each name's winning entries (a name with a rule that cannot be evaluated has
        none), and the rules that won."""
        candidates: list[ties.Candidate] = []
        won_here: set[int] = set()
        for t, whole, blocks in per_target:
            winners = _winners(whole, blocks, p)
            if not winners:
                continue
            entries = []
            for block, win, lost in winners:
                entry = self._entry(self.rules[win], t, block_of(p, block))
                if entry is not None:
                    entry.overridden = tuple(self.rules[i] for i in lost)
                    entries.append(entry)
                    if block is None:
                        self._fused_query_init(t, entry, whole)
                won_here.add(win)
            if len(entries) != len(winners):
                continue
            candidates.append((t, entries))
            if blocks and not whole and len(winners) < len(block_names(p)):
                missing = [b for b in block_names(p) if b not in {w[0] for w in winners}]
                self.out.warnings.append(
                    f"{p.name}: blocks {', '.join(missing)} are matched by no rule and keep their values"
                )
        return candidates, won_here

    def _fused_query_init(self, t: NamedTensor, entry: Entry, whole: list[int]) -> None:
        """Warn where an ``as query`` rule inits a fused qkv projection differently from the
        rule before it: on a fused layer the query is a block of the output, and the rule's
        scheme writes the whole tensor, keys and values included (docs/mup.md)."""
        if output_block(entry.rule.selector, t) is None:
            return
        # the rule it overrides is compared, not planned: its problems are not the plan's
        other = self._evaluated(self.rules[whole[-2]], t, None)[0] if len(whole) > 1 else None
        if other is not None and (other.scheme, other.args) == (entry.scheme, entry.args):
            return
        self.out.warnings.append(
            f"{t.name}: `{entry.rule.loc.text}` ({entry.rule.loc.file}:{entry.rule.loc.line}) "
            f"selects the query block of a fused projection; its {entry.scheme}(...) writes the "
            "whole tensor, keys and values too (only its `output` multiplier is the query's)"
        )

    def _output_multiplier(self, t: NamedTensor, whole: list[int]) -> None:
        """A layer's output multiplier: the last rule matching one of its tensors that sets
        one (a later rule that sets none leaves it; docs/mup.md)."""
        setting = [i for i in whole if self.rules[i].setting("output") is not None]
        have = self.outputs.get(t.layer.name)
        if not setting or (have is not None and have.rule.index >= setting[-1]):
            return
        rule = self.rules[setting[-1]]
        entry = self._entry(rule, t, None)
        if entry is not None and entry.output is not None:
            block = output_block(rule.selector, t)
            self.outputs[t.layer.name] = Output(t.layer.name, entry.output, entry.rule, block)

    def _settle(
        self,
        p: ParamInfo,
        resolved: ties.Resolution,
        originals: list[ParamInfo],
        per_target: list[_Matched],
    ) -> None:
        """Record the tie resolution of ``p``: its entries, or why it has none."""
        if resolved.error is not None:
            self.diags.append(resolved.error)
        if resolved.warning is not None:
            self.out.warnings.append(resolved.warning)
        if resolved.entries is not None:
            self.out.entries.extend(resolved.entries)
            self.covered.update(id(q) for q in originals)
        elif originals:
            return  # no rule for the computed weight: its originals are matched by name
        elif p.kind == "parameter" and not any(w or b for _, w, b in per_target):
            self.out.unmatched.append(p)


def _finish(out: Plan, matcher: _Matcher, strict: bool) -> None:
    """What is judged on the whole plan: output multipliers in layer order, RNN bias
    pairs, rules that never matched or never won, and the warnings and strict error."""
    graph, rules = out.graph, matcher.rules
    order = {lay.name: i for i, lay in enumerate(graph.layers)}
    out.outputs = dict(sorted(matcher.outputs.items(), key=lambda kv: order.get(kv[0], len(order))))
    _rnn_bias_pairs(out.entries)
    matcher.diags.extend(_expert_misuse(rules, matcher.experts_seen, matcher.matched_any))
    out.never_matched = [r for i, r in enumerate(rules) if i not in matcher.matched_any]
    out.always_overridden = [
        r for i, r in enumerate(rules) if i in matcher.matched_live and i not in matcher.won
    ]
    out.warnings.extend(_did_you_mean(out.never_matched, graph, matcher.index))
    if graph.quantized:
        out.warnings.append(_quantized_warning(graph.quantized))
    if strict and out.unmatched:
        names = ", ".join(p.name for p in out.unmatched)
        matcher.diags.append(
            Diagnostic(
                out.policy.source,
                None,
                None,
                f"{len(out.unmatched)} parameter(s) matched by no rule (strict): {names}",
                hint="add a rule for them, or `-> keep` to keep their values on purpose",
            )
        )


#: Bound names whose value depends on the traced activations or execution order.
_TRACED_NAMES = frozenset(
    {"gain", "vp_gain", "slope", "depth", "model_width", "model_depth", "model_head_dim",
     "n_branches",
     "branch_layers", "in_branch", "branch_end", "branch_tail", "attn_query", "attn_key",
     "attn_value", "encoder_blocks", "decoder_blocks", "in_encoder", "in_decoder"}
)  # fmt: skip


def needs_trace(policy_ir: PolicyIR) -> bool:
    """Whether the policy reads what only a trace knows: ``before``/``after``, or
    gain, vp_gain, slope, depth (in arguments, ``where``, or ``count`` selectors). A policy
    that does not (gpt2, llama, keras_default) plans the same on the module structure
    alone, which costs milliseconds instead of a forward pass.

    >>> needs_trace(initpolicy.load("gpt2").ir), needs_trace(initpolicy.load("relu_net").ir)  # doctest: +SKIP
    (False, True)
    """
    stack: list[Any] = list(policy_ir.rules)
    while stack:
        node = stack.pop()
        if isinstance(node, Selector) and (
            node.before is not None
            or node.after is not None
            or node.role is not None
            or node.block == EXPERT  # which tensors stack experts, the trace says
        ):
            return True
        if isinstance(node, Name) and node.name in _TRACED_NAMES:
            return True
        if isinstance(node, BaseModel):
            stack.extend(getattr(node, f) for f in type(node).model_fields)
        elif isinstance(node, tuple | list):
            stack.extend(node)
    return False


# ---------------------------------------------------------------------------- helpers


def _matches(
    rules: tuple[Rule, ...],
    index: Index,
    t: NamedTensor,
    diags: list[Diagnostic],
    experts_seen: dict[int, dict[str, int]],
) -> tuple[list[int], dict[str, list[int]]]:
    """Indices of the rules selecting ``t``: whole-tensor ones, and block ones by block
    (an ``[expert]`` rule under each expert it names). ``experts_seen`` collects, per
    ``[expert]`` rule, the tensors it selects but for its block, with their expert counts."""
    whole: list[int] = []
    blocks: dict[str, list[int]] = {}
    for i, r in enumerate(rules):
        try:
            ok = index.selects(r.selector, t)
            if r.selector.block == EXPERT:
                bare = r.selector.model_copy(update={"block": None, "expert": None})
                if ok or index.selects(bare, t):
                    experts_seen.setdefault(i, {})[t.name] = t.param.experts
        except InitPolicyError as e:
            diags.append(diagnostic(r, f"{t.name}: cannot evaluate the where condition: {e}"))
            continue
        if not ok:
            continue
        if r.selector.block is None:
            whole.append(i)
        else:
            for b in selected_blocks(r.selector, t.param):
                blocks.setdefault(b, []).append(i)
    return whole, blocks


def _expert_misuse(
    rules: tuple[Rule, ...], seen: dict[int, dict[str, int]], matched: set[int]
) -> list[Diagnostic]:
    """An ``[expert]`` rule that selects tensors but no expert of theirs: none of them is
    an experts tensor, or none has the expert it numbers. A located error, not a rule that
    silently matches nothing."""
    out: list[Diagnostic] = []
    for i, tensors in seen.items():
        if i in matched:
            continue
        r, most = rules[i], max(tensors.values())
        names = ", ".join(list(tensors)[:3]) + (", ..." if len(tensors) > 3 else "")
        if most == 0:
            out.append(
                diagnostic(
                    r,
                    f"[{EXPERT}] selects {names}, which is no experts tensor: [{EXPERT}] "
                    "selects a 3-D tensor used one (out, in) slice per expert",
                    hint=f"drop [{EXPERT}], or name the experts module's tensor "
                    f"(Qwen3MoeExperts.gate_up_proj[{EXPERT}])",
                )
            )
        else:
            out.append(
                diagnostic(
                    r,
                    f"[{EXPERT}={r.selector.expert}] is past the last expert: {names} "
                    f"has {most} experts",
                    hint=f"experts are numbered 0 to {most - 1}",
                )
            )
    return out


def _winners(
    whole: list[int], blocks: dict[str, list[int]], p: ParamInfo
) -> list[tuple[str | None, int, tuple[int, ...]]]:
    """(block or None, winning rule, rules it overrode): the whole tensor's last rule,
    then each block whose own rule comes after it."""
    out: list[tuple[str | None, int, tuple[int, ...]]] = []
    top = whole[-1] if whole else None
    if top is not None:
        every = sorted({*whole, *(i for ids in blocks.values() for i in ids)})
        out.append((None, top, tuple(i for i in every if i < top)))
    for b in block_names(p):
        later = [i for i in blocks.get(b, []) if top is None or i > top]
        if later:
            win = later[-1]
            lost = sorted({i for i in (*whole, *blocks[b]) if i < win})
            out.append((b, win, tuple(lost)))
    return out


def _names(skip: Mapping[str, Any] | Iterable[str] | None) -> set[str]:
    if skip is None:
        return set()
    if isinstance(skip, str):
        return {skip}
    return {str(k) for k in (skip.keys() if isinstance(skip, Mapping) else skip)}


def _skip_reason(p: ParamInfo, skip: set[str], include_frozen: bool) -> str | None:
    if skip and ({p.name, p.raw_name, *p.aliases} & skip):
        return "skipped"
    if p.kind == "parameter" and not p.requires_grad and not include_frozen:
        return "frozen"
    return None


def summed_bias(types: Iterable[str], local: str) -> str | None:
    """For an RNN's ``bias_hh*`` (a module of these types), its partner ``bias_ih*``: torch
    adds the two, so one rule writing a constant to both gives bias_hh zero (see
    :func:`_rnn_bias_pairs`); None for any other tensor.

    >>> summed_bias(("LSTM", "RNNBase"), "bias_hh_l1"), summed_bias(("LSTM",), "bias_ih_l0")
    ('bias_ih_l1', None)
    """
    if "bias_hh" not in local or not ({"RNNBase", "RNNCellBase"} & set(types)):
        return None
    return local.replace("bias_hh", "bias_ih")


def _rnn_bias_pairs(entries: list[Entry]) -> None:
    """A constant written by the same rule to both biases of an RNN gate sets the gate's
    bias, which torch computes as bias_ih + bias_hh: bias_ih takes the value and bias_hh
    zero, so ``LSTM.bias*[forget] -> ones()`` gives a forget bias of exactly 1."""
    by_key = {(e.layer.name, e.param.local, e.block): i for i, e in enumerate(entries)}
    for i, e in enumerate(entries):
        if constant_value(e.scheme, e.args) in (None, 0.0):
            continue
        ih = summed_bias(e.layer.types, e.param.local)
        if ih is None:
            continue
        partner = by_key.get((e.layer.name, ih, e.block))
        if partner is None or entries[partner].rule is not e.rule:
            continue
        entries[i] = replace(
            e,
            scheme="zeros",
            args={},
            std=0.0,
            bound=None,
            note=f"{e.scheme} sets the gate bias bias_ih + bias_hh: the value goes to "
            f"{entries[partner].param.name}, this tensor gets 0",
        )


def _did_you_mean(rules: list[Rule], graph: ModelGraph, index: Index) -> list[str]:
    present: set[str] = set()
    for lay in index.layers:
        present.update(lay.types)
    for types in graph.module_types.values():
        present.update(types)
    lowered = {n.lower(): n for n in present}
    out = []
    for r in rules:
        if ties.is_builtin(r):  # a generic library lists types a given model need not have
            continue
        sel = r.selector
        for glob in (*(sel.types or ()), *(sel.inside or ()), *(sel.after or ())):
            if any(fnmatchcase(n, glob) for n in present):
                continue
            close = difflib.get_close_matches(glob.lower(), list(lowered), n=1, cutoff=0.75)
            if close:
                out.append(
                    f"{r.loc.file}:{r.loc.line}: type '{glob}' matches no module of the model; "
                    f"did you mean '{lowered[close[0]]}'?"
                )
    return out


def _quantized_warning(quantized: Mapping[str, str]) -> str:
    """Quantized modules keep their values: say so, and why, rather than report nothing."""
    shown = [f"{name} ({kind})" for name, kind in list(quantized.items())[:5]]
    more = f" and {len(quantized) - 5} more" if len(quantized) > 5 else ""
    return (
        f"{len(quantized)} quantized module(s) not initialized: {', '.join(shown)}{more}; "
        "their weights are packed quantized tensors, not parameters, so no rule can write "
        "them: initialize the float model, then quantize it"
    )


def _dedupe(diags: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per (rule, problem): ``a.weight: msg`` and ``b.weight: msg`` at one
    rule become ``a.weight, b.weight: msg`` (the first three names, then a count)."""
    groups: dict[tuple[object, ...], list[str]] = {}
    first: dict[tuple[object, ...], Diagnostic] = {}
    for d in diags:
        subject, sep, rest = d.message.partition(": ")
        key = (d.file, d.line, d.column, d.hint, rest if sep else d.message)
        names = groups.setdefault(key, [])
        first.setdefault(key, d)
        if sep and subject not in names:
            names.append(subject)
    out = []
    for group, names in groups.items():
        d = first[group]
        if len(names) > 1:
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            d = replace(d, message=f"{shown}: {d.message.partition(': ')[2]}")
        out.append(d)
    return out
