"""Policy rules (IP3xx): a policy's choices against the model it is applied to. They read
the Plan (which rule won each parameter, with its evaluated scheme) and point at the
policy's lines. Run only with ``--policy``."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ...catalog import facts
from ...errors import PrintError
from ...language import Num, SchemeArg, SchemeCall, short_scheme
from ...language import Rule as PolicyRule
from ...language import selector as printer_selector
from ...planner import Entry, Plan, is_builtin
from ..bands import band
from ..families import EMBEDDING_TYPES, RECURRENT_TYPES, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import fix_rule


def _where(rule: PolicyRule) -> str:
    return f"{rule.loc.file}:{rule.loc.line}"


def _own(plan: Plan, rules: list[PolicyRule]) -> list[PolicyRule]:
    """The rules written in the linted policy itself: an included policy's rule that
    matches nothing, or that the includer overrides, is the point of including it. A
    built-in is general-purpose whether included or named directly (``--policy
    relu_net``): its rules are never the user's own."""
    return [r for r in rules if r.loc.file == plan.policy.source and not is_builtin(r)]


def _fix(rule: PolicyRule, scheme: str | SchemeCall) -> str | None:
    """``rule``'s selector with another scheme (a table's scheme text, or a call in its
    short form), by the printer; None where the selector cannot be written."""
    try:
        text = scheme if isinstance(scheme, str) else short_scheme(scheme)
        return f"{printer_selector(rule.selector)} -> {text}"
    except PrintError:
        return None


def _by_rule(entries: list[Entry]) -> dict[int, list[Entry]]:
    out: dict[int, list[Entry]] = {}
    for e in entries:
        out.setdefault(e.rule.index, []).append(e)
    return out


def _names(entries: list[Entry], n: int = 3) -> str:
    shown = ", ".join(e.name for e in entries[:n])
    return shown + (f" and {len(entries) - n} more" if len(entries) > n else "")


def family_problem(e: Entry) -> str | None:
    """Why the entry's scheme family does not suit its activation, or None."""
    act = e.layer.activation
    if e.block is not None or e.param.ndim < 2 or e.layer.resolution.normalized:
        return None
    if is_type(e.layer, EMBEDDING_TYPES + RECURRENT_TYPES):
        return None
    scheme, args = e.scheme, e.args
    relu_gain = str(args.get("nonlinearity", "leaky_relu")) in ("relu", "leaky_relu")
    if act in ("tanh", "sigmoid") and scheme.startswith("kaiming") and relu_gain:
        return f"{scheme} uses ReLU's gain, but {act} follows"
    unit_gain = float(args.get("gain", 1.0)) == 1.0
    if facts(act).rectifier and scheme.startswith(("xavier", "lecun")) and unit_gain:
        return f"{scheme} without gain keeps half of the variance ReLU needs"
    if act == "selu" and scheme not in ("lecun_normal", "lecun_uniform"):
        lecun = 1 / math.sqrt(e.param.fan_in) if e.param.fan_in else None
        if e.std is None or lecun is None or abs(e.std / lecun - 1) > 0.01:
            return f"SELU self-normalizes only with LeCun init, not {scheme}"
    return None


class SchemeMismatch(LintRule):
    """What:
    A policy rule whose scheme family does not suit the activation the tracer found after
    the layers it initializes: kaiming (ReLU's gain) before tanh or sigmoid, xavier or
    lecun without a gain before ReLU, anything but lecun before SELU. Reported once per
    rule and activation, at the rule's line.

    Why:
    Each family is derived for one kind of activation: He et al. 2015 for ReLU, Glorot &
    Bengio 2010 for symmetric saturating ones, Klambauer et al. 2017 (LeCun) for SELU.

    Anti-pattern:
        Linear before Tanh -> kaiming_normal(fan_in)

    Fix:
        Linear before Tanh -> xavier_uniform(gain=gain)
    """

    code = "IP301"
    name = "scheme-mismatch"
    severity = "warning"
    kind = "policy"
    summary = "a policy's scheme family does not suit the activation that follows"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None:
            return
        for entries in _by_rule(plan.entries).values():
            by_act: dict[str, list[tuple[Entry, str]]] = {}
            for e in entries:
                why = family_problem(e)
                if why is not None:
                    by_act.setdefault(e.layer.activation, []).append((e, why))
            for act, bad in by_act.items():
                first, why = bad[0]
                b = band(act, first.layer.act_args)
                rule = first.rule
                yield cls.finding(
                    first.name,
                    f"{why}: rule `{rule.loc.text}` initializes {len(bad)} weight(s) before "
                    f"{act} ({_names([e for e, _ in bad])})",
                    measured=first.std,
                    location=_where(rule),
                    fix=_fix(rule, b.fix) if b else None,
                    param=first.name,
                )


class TruncNormalNoOp(LintRule):
    """What:
    ``trunc_normal(mean, std, a, b)`` whose absolute bounds lie more than
    ``trunc-sigmas`` standard deviations from the mean: nothing is ever truncated.

    Why:
    torch's ``trunc_normal_`` takes absolute bounds (default ±2), not multiples of std;
    with std 0.02 they sit at 100 std (a common mix-up with Keras/JAX ±2 std, see
    pytorch/pytorch#66245), so the "truncated" normal is a plain normal.

    Anti-pattern:
        Linear -> trunc_normal(0, 0.02)

    Fix:
        Linear -> trunc_normal(0, 0.02, -0.04, 0.04)    # or truncated_normal(0, 0.02)
    """

    code = "IP302"
    name = "trunc-normal-no-op"
    severity = "info"
    kind = "policy"
    summary = "trunc_normal bounds so wide that nothing is truncated"
    uses = ("trunc-sigmas",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None:
            return
        k = ctx.t("trunc-sigmas")
        for entries in _by_rule(plan.entries).values():
            wide = []
            for e in entries:
                if e.scheme != "trunc_normal":
                    continue
                mean, std = float(e.args.get("mean", 0.0)), float(e.args.get("std", 1.0))
                a, b = float(e.args.get("a", -2.0)), float(e.args.get("b", 2.0))
                if std > 0 and min(b - mean, mean - a) / std > k:
                    wide.append((e, mean, std, a, b))
            if not wide:
                continue
            e, mean, std, a, b = wide[0]
            sig = min(b - mean, mean - a) / std
            yield cls.finding(
                e.name,
                f"trunc_normal bounds [{a:g}, {b:g}] are absolute: {sig:.3g} std from the mean "
                f"for std {std:g}, so nothing is truncated ({len(wide)} tensor(s))",
                measured=sig,
                expected=k,
                location=_where(e.rule),
                fix=_fix(e.rule, _two_std(mean, std)),
                param=e.name,
            )


def _two_std(mean: float, std: float) -> SchemeCall:
    """``trunc_normal`` cut at ±2 std, its numbers to 6 significant digits as findings
    show them."""
    values = {"mean": mean, "std": std, "a": mean - 2 * std, "b": mean + 2 * std}
    return SchemeCall(
        name="trunc_normal",
        args=tuple(SchemeArg(name=k, value=Num(value=float(f"{v:g}"))) for k, v in values.items()),
    )


class RuleNeverMatches(LintRule):
    """What:
    A policy rule that selects no parameter of the model.

    Why:
    Usually a misspelt type or name, or an activation the tracer does not find after the
    layer; the rule silently does nothing. Only the linted policy's own rules are checked:
    a built-in, included (``use relu_net``) or named as the policy (``--policy relu_net``),
    is general-purpose and has rules for layers a given model lacks.

    Anti-pattern:
        Conv2d before ReLU -> kaiming_normal(fan_out)    # the model has no Conv2d

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP303"
    name = "rule-never-matches"
    severity = "warning"
    kind = "policy"
    summary = "a policy rule that selects nothing in the model"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None:
            return
        for rule in _own(plan, plan.never_matched):
            yield cls.finding(
                rule.loc.text,
                f"rule `{rule.loc.text}` matches no parameter of the model; remove it or fix "
                "its selector (`initpolicy trace` shows types, names and activations)",
                location=_where(rule),
            )


class RuleAlwaysOverridden(LintRule):
    """What:
    A policy rule that matches parameters, every one of which a later rule overrides.

    Why:
    Later rules win (like .gitignore); a rule that never wins is dead text, often a sign
    that the order of two rules is reversed. Only the linted policy's own rules are
    checked: overriding an included policy's rules is what including it is for.

    Anti-pattern:
        Linear named "head" -> zeros()
        Linear -> kaiming_normal(fan_in)

    Fix:
        Linear -> kaiming_normal(fan_in)
        Linear named "head" -> zeros()
    """

    code = "IP304"
    name = "rule-always-overridden"
    severity = "warning"
    kind = "policy"
    summary = "a policy rule that later rules always override"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None:
            return
        for rule in _own(plan, plan.always_overridden):
            winners = sorted(
                {
                    e.rule.loc.line
                    for e in plan.entries
                    if any(r.index == rule.index for r in e.overridden)
                }
            )
            by = f" (by line {', '.join(map(str, winners))})" if winners else ""
            yield cls.finding(
                rule.loc.text,
                f"rule `{rule.loc.text}` is overridden by later rules for every parameter it "
                f"matches{by}; move it after them or remove it",
                location=_where(rule),
            )


class ParameterUnmatched(LintRule):
    """What:
    Under ``--strict``: a parameter that no rule of the policy matches (it keeps the value
    it had). Write ``-> keep`` to keep a value on purpose.

    Why:
    A declared init should say what happens to every tensor; an unmatched one keeps
    whatever the constructor left, often PyTorch's default.

    Anti-pattern:
        Linear.weight -> kaiming_normal(fan_in)    # biases left to chance

    Fix:
        Linear.bias -> zeros()
    """

    code = "IP305"
    name = "parameter-unmatched"
    severity = "warning"
    kind = "policy"
    summary = "a parameter no policy rule matches (--strict)"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None or not ctx.strict:
            return
        owners = {p.name: lay for lay, p in plan.graph.parameters()}
        for p in plan.unmatched:
            lay = owners.get(p.name)
            fix = fix_rule(lay, p, "keep") if lay is not None else None
            yield cls.finding(
                p.name,
                f"{p.name} is matched by no rule of the policy and keeps its current value",
                location=lay.source if lay is not None else None,
                fix=fix,
                param=p.name,
            )


class MultiplierMissing(LintRule):
    """What:
    The policy sets forward multipliers (``with output = ...``: μP's readout, CompleteP's
    residual branches) that the linted model does not carry. Hooks are not part of a
    state_dict: a model built fresh and loaded from a checkpoint has none until
    ``Policy.attach(model)`` installs them.

    Why:
    A model trained with multipliers and run without them computes another function from
    the same weights, silently: the readout of a μP model comes out width/base_width times
    too large, and no error is raised anywhere.

    Anti-pattern:
        model.load_state_dict(torch.load("mup.pt"))    # multipliers not attached

    Fix:
        initpolicy.load("mup", base_width=256).attach(model)
    """

    code = "IP306"
    name = "multiplier-missing"
    severity = "warning"
    kind = "policy"
    summary = "a forward multiplier of the policy that the model does not carry"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        plan = ctx.plan
        if plan is None or not plan.outputs or ctx.model is None:
            return
        from ...tracer import OutputScale, missing

        wanted = {o.layer: OutputScale(o.value, o.block) for o in plan.outputs.values()}
        for name, (want, have) in missing(ctx.model, wanted).items():
            out = plan.outputs[name]
            carried = "none" if have is None else f"×{have.value:g}" + _part(have.block)
            yield cls.finding(
                name,
                f"{name or 'the model'}: the policy multiplies this layer's {out.where} by "
                f"{want.value:g} ({_where(out.rule)}), but the model carries {carried}; a "
                "model loaded from a checkpoint needs Policy.attach(model) (hooks are not in "
                "a state_dict)",
                location=_where(out.rule),
                measured=None if have is None else have.value,
                expected=want.value,
            )


def _part(block: tuple[int, int] | None) -> str:
    return "" if block is None else f" on output[..., {block[0]}:{block[1]}]"
