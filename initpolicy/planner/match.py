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
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from pydantic import BaseModel

from ..catalog import seeds
from ..catalog.schemes import constant_value
from ..errors import Diagnostic, InitPolicyError, PlanError, UsageError
from ..language.ir import Name, PolicyIR, Rule, Selector
from ..tracer.graph import ModelGraph, ParamInfo
from . import ties
from .entries import ModelNames, diagnostic, evaluate_entry
from .plan import Entry, Output, Plan
from .select import Index, NamedTensor

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
    from ..language.evaluate import evaluate, evaluate_cond

    def cond(c: Any, env: Mapping[str, float], count: Any) -> bool:
        return bool(evaluate_cond(c, env, count=count))

    def value(e: Any, env: Mapping[str, float], count: Any, position: Any = None) -> float:
        return float(evaluate(e, env, count=count, position=position))

    if seed is not None and (why := seeds.problem(seed)) is not None:
        raise UsageError(why)
    index = Index.from_graph(graph, cond=cond)
    rules = policy_ir.rules
    out = Plan(policy=policy_ir, graph=graph, seed=seeds.resolve(seed, policy_ir.seed))
    skip_names = _names(skip)
    diags: list[Diagnostic] = []
    matched_any: set[int] = set()
    matched_live: set[int] = set()
    won: set[int] = set()

    model_names = ModelNames(graph.width, graph.depth, graph.config)
    outputs: dict[str, Output] = {}
    groups: dict[int, list[NamedTensor]] = {}
    for t in index.targets:
        groups.setdefault(id(t.param), []).append(t)

    # a parametrized weight's stand-in comes first: when a rule writes it, its originals
    # are written through it and are neither planned on their own nor unmatched
    covered: set[int] = set()
    for targets in groups.values():
        p = targets[0].param
        if id(p) in covered:
            continue
        per_target = []
        for t in targets:
            whole, blocks = _matches(rules, index, t, diags)
            matched_any.update(whole, *blocks.values())
            per_target.append((t, whole, blocks))
        originals = index.originals.get(id(p), [])
        reason = _skip_reason(p, skip_names, include_frozen) or next(
            (r for q in originals if (r := _skip_reason(q, skip_names, include_frozen))), None
        )
        if originals and reason is not None:
            continue  # its originals are skipped on their own, by name
        if reason is not None:
            if p.kind == "parameter":
                out.skipped.append((p, reason))
            continue
        for _, whole, blocks in per_target:
            matched_live.update(whole, *blocks.values())

        candidates: list[ties.Candidate] = []
        won_here: set[int] = set()
        for t, whole, blocks in per_target:
            winners = _winners(whole, blocks, p)
            if not winners:
                continue
            entries = []
            for block, win, lost in winners:
                entry, problems = evaluate_entry(
                    rules[win],
                    t,
                    p.blocks[block] if block else None,
                    evaluate=value,
                    count=index.count,
                    n_layers=index.n_layers,
                    position=index.position,
                    model=model_names,
                    n_branches=index.n_branches,
                )
                diags.extend(problems)
                if entry is not None:
                    entry.overridden = tuple(rules[i] for i in lost)
                    entries.append(entry)
                won_here.add(win)
            if len(entries) != len(winners):
                continue
            candidates.append((t, entries))
            if blocks and not whole and len(winners) < len(p.blocks):
                missing = [b for b in p.blocks if b not in {w[0] for w in winners}]
                out.warnings.append(
                    f"{p.name}: blocks {', '.join(missing)} are matched by no rule and keep their values"
                )
        for t, whole, _ in per_target:
            # a layer's output multiplier: the last rule matching one of its tensors that
            # sets one (a later rule that sets none leaves it; docs/mup.md)
            setting = [i for i in whole if rules[i].setting("output") is not None]
            have = outputs.get(t.layer.name)
            if not setting or (have is not None and have.rule.index >= setting[-1]):
                continue
            entry, problems = evaluate_entry(
                rules[setting[-1]],
                t,
                None,
                evaluate=value,
                count=index.count,
                n_layers=index.n_layers,
                position=index.position,
                model=model_names,
                n_branches=index.n_branches,
            )
            diags.extend(problems)
            if entry is not None and entry.output is not None:
                outputs[t.layer.name] = Output(t.layer.name, entry.output, entry.rule)
        resolved = ties.resolve(p, candidates)
        won |= won_here - {r.index for r in resolved.overridden}
        if resolved.error is not None:
            diags.append(resolved.error)
        if resolved.warning is not None:
            out.warnings.append(resolved.warning)
        if resolved.entries is not None:
            out.entries.extend(resolved.entries)
            covered.update(id(q) for q in originals)
        elif originals:
            continue  # no rule for the computed weight: its originals are matched by name
        elif p.kind == "parameter" and not any(w or b for _, w, b in per_target):
            out.unmatched.append(p)

    order = {lay.name: i for i, lay in enumerate(graph.layers)}
    out.outputs = dict(sorted(outputs.items(), key=lambda kv: order.get(kv[0], len(order))))
    _rnn_bias_pairs(out.entries)
    out.never_matched = [r for i, r in enumerate(rules) if i not in matched_any]
    out.always_overridden = [r for i, r in enumerate(rules) if i in matched_live and i not in won]
    out.warnings.extend(_did_you_mean(out.never_matched, graph, index))
    if graph.quantized:
        out.warnings.append(_quantized_warning(graph.quantized))
    if strict and out.unmatched:
        names = ", ".join(p.name for p in out.unmatched)
        diags.append(
            Diagnostic(
                policy_ir.source,
                None,
                None,
                f"{len(out.unmatched)} parameter(s) matched by no rule (strict): {names}",
                hint="add a rule for them, or `-> keep` to keep their values on purpose",
            )
        )
    if diags:
        raise PlanError(_dedupe(diags))
    return out


#: Bound names whose value depends on the traced activations or execution order.
_TRACED_NAMES = frozenset(
    {"gain", "vp_gain", "slope", "depth", "model_width", "model_depth", "n_branches",
     "branch_layers", "in_branch", "branch_end", "branch_tail", "attn_query", "attn_key",
     "attn_value"}
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
            node.before is not None or node.after is not None or node.role is not None
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
    rules: tuple[Rule, ...], index: Index, t: NamedTensor, diags: list[Diagnostic]
) -> tuple[list[int], dict[str, list[int]]]:
    """Indices of the rules selecting ``t``: whole-tensor ones, and block ones by block."""
    whole: list[int] = []
    blocks: dict[str, list[int]] = {}
    for i, r in enumerate(rules):
        try:
            ok = index.selects(r.selector, t)
        except InitPolicyError as e:
            diags.append(diagnostic(r, f"{t.name}: cannot evaluate the where condition: {e}"))
            continue
        if not ok:
            continue
        if r.selector.block is None:
            whole.append(i)
        else:
            blocks.setdefault(r.selector.block, []).append(i)
    return whole, blocks


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
    for b in p.blocks:
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
