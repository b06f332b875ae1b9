"""Signal-propagation rules (IP2xx), read off the per-layer numbers of one forward and
backward pass (:mod:`initpolicy.linter.probe`). Skipped with ``--static``."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from ...tracer import Layer
from ..bands import band
from ..families import NORM_TYPES, is_type
from ..findings import Finding
from ..probe import LayerStat, saturation_edge
from ..rule import LintContext, LintRule
from ..structure import judged_activation
from ..subject import layer_rule, tensor_of
from .depth import by_depth, groups, trend

#: Fewest units for dead-at-init (one unit of two is already 50%), and fewest values per
#: unit (a live unit with a symmetric pre-activation is never active on m independent
#: values with probability 2**-m).
MIN_UNITS = 8
MIN_SAMPLES = 16


def _layer(ctx: LintContext, name: str) -> Layer:
    return ctx.graph.layer(name)


def _weight_fix(ctx: LintContext, name: str) -> str | None:
    lay = _layer(ctx, name)
    b = band(judged_activation(lay, ctx.graph.roles), lay.act_args)
    return layer_rule(lay, b.fix) if b else None


def _layer_finding(
    rule: type[LintRule],
    ctx: LintContext,
    name: str,
    message: str,
    *,
    measured: float | None = None,
    expected: float | None = None,
    fix: str | None = None,
) -> Finding:
    """A finding of ``rule`` on layer ``name``, located where the model builds it; the fix
    defaults to the scheme that fits the activation the layer feeds."""
    return rule.finding(
        name,
        message,
        measured=measured,
        expected=expected,
        location=ctx.located(_layer(ctx, name)),
        fix=fix or _weight_fix(ctx, name),
    )


def _dead_fix(ctx: LintContext, st: LayerStat) -> str | None:
    """The fix for dead units, aimed at their cause: the bias where it alone pushes at
    least half as many units below zero as are dead (by more than half the
    pre-activation's std), else the weight (a bias that is zero, or that explains a few of
    the dead units only, is not the cause)."""
    import torch

    from ...shards import is_dtensor

    lay = _layer(ctx, st.name)
    bias = next((p for p in lay.parameters if p.local == "bias"), None)
    t = tensor_of(ctx.model, lay, bias) if bias is not None else None
    if t is not None and st.out_std and st.dead and not is_dtensor(t):
        pushed = float((t.detach() < -0.5 * st.out_std).to(torch.float64).mean())
        if pushed >= 0.5 * st.dead:
            return layer_rule(lay, "zeros()", "bias")
    return _weight_fix(ctx, st.name)


class VarianceDrift(LintRule):
    """What:
    The output std of layers playing the same role (same type, same name up to numbers)
    grows or shrinks geometrically along depth: the median per-layer ratio, raised to the
    number of steps, is over ``drift`` (or under 1/``drift``). The layers of a group must
    lie on one plain signal path, each reaching the next without a normalization or a
    residual join (parallel heads, the blocks of a normalized or residual network are not
    a depth series); gate branches,
    constant-fed layers and layers a normalization resets are left out. The std is taken
    across examples and positions (per unit, then averaged), so a constant such as the
    bias does not count as signal. Groups of fewer than ``min-depth`` layers are not
    judged. The message lists the per-layer ratios.

    Why:
    A constant per-layer variance factor compounds: xavier before ReLU halves the
    variance at every layer, 20 layers shrink the signal 1000x in std (Glorot & Bengio
    2010; He et al. 2015; Schoenholz et al. 2017, "Deep Information Propagation").

    Anti-pattern:
        Linear before ReLU -> xavier_normal()     # 20 layers deep

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP201"
    name = "variance-drift"
    severity = "warning"
    kind = "dynamic"
    summary = "layer output std grows or shrinks geometrically with depth"
    uses = ("drift", "min-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("drift")
        for group in groups(ctx):
            members = [st for st in group if st.out_std]  # a ratio needs a nonzero std
            if len(members) < max(2, int(ctx.t("min-depth"))):
                continue
            values = [float(m.out_std or 0.0) for m in members]
            factor = trend(values)
            total = factor ** (len(values) - 1)
            if 1 / limit <= total <= limit:
                continue
            ratios = [b / a for a, b in itertools.pairwise(values)]
            shown = ", ".join(f"{r:.2f}" for r in ratios[:12]) + (
                ", ..." if len(ratios) > 12 else ""
            )
            verb = "grows" if total > 1 else "shrinks"
            first, last = members[0], members[-1]
            lay = _layer(ctx, first.name)
            acts = sorted({m.activation for m in members} - {"output"})
            b = band(acts[0], lay.act_args) if len(acts) == 1 else None
            fix = f"{lay.type} before {acts[0]} -> {b.fix}" if b else None
            yield cls.finding(
                f"{first.name}..{last.name}",
                f"output std of {len(members)} {lay.type} layers {verb} {factor:.2f}x per layer: "
                f"{values[0]:.3g} at {first.name} to {values[-1]:.3g} at {last.name} "
                f"({total:.3g}x in all); per-layer ratios {shown}",
                measured=factor,
                expected=1.0,
                location=ctx.located(lay),
                fix=fix,
            )


class DeadAtInit(LintRule):
    """What:
    The share of units of a layer before ReLU that are never active (pre-activation <= 0
    for every example and position of the batch) reaches ``dead-share``. Layers followed
    by a normalization or a residual add are not judged (their pre-activation is not the
    layer's output), nor gate branches (a squeeze-excitation's first layer reads one
    pooled vector per example, so about half of any unbiased layer is "never active" on a
    small batch whatever its init), nor layers of fewer than 8 units (one unit of two is
    50%), nor layers measured on fewer than 16 values per unit (examples x positions: a
    live unit is inactive on all of m independent values with probability 2^-m).

    Why:
    A unit that is never active gets no gradient and never recovers ("dying ReLU"; Lu et
    al. 2019, "Dying ReLU and Initialization"); it usually comes from large negative
    biases or a vanished signal that leaves only the bias.

    Anti-pattern:
        Linear.bias -> constant(-1)

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
        bias -> zeros()

    The finding's fix aims at the cause: the bias where its negative values alone push
    at least half as many units below zero as are dead, else the weight.
    """

    code = "IP202"
    name = "dead-at-init"
    severity = "warning"
    kind = "dynamic"
    summary = "a large share of ReLU units never active on the batch"
    uses = ("dead-share",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("dead-share")
        for st in ctx.stats or ():
            if st.dead is None or st.dead < limit or (st.units or 0) < MIN_UNITS:
                continue
            if (st.samples or 0) < MIN_SAMPLES:
                continue  # two values per unit: a live unit is "never active" 1 time in 4
            if _layer(ctx, st.name).roles.gate:
                continue
            yield _layer_finding(
                cls,
                ctx,
                st.name,
                f"{st.dead:.0%} of the units of {st.name} are never active before "
                f"{st.activation} on the batch (limit {limit:.0%})",
                measured=st.dead,
                expected=limit,
                fix=_dead_fix(ctx, st),
            )


class SaturatedAtInit(LintRule):
    """What:
    The share of pre-activations before tanh or sigmoid where the activation's
    derivative is under ``saturation-derivative`` times its maximum (|x| > 2.18 for tanh,
    > 4.36 for sigmoid at the default 0.05) reaches ``saturated-share``. Layers followed by
    a normalization or a residual add are not judged.

    Why:
    Saturated units pass almost no gradient; a tanh net initialized too wide starts with
    most units stuck at ±1 (LeCun et al. 1998, Efficient BackProp; Glorot & Bengio 2010).

    Anti-pattern:
        Linear before Tanh -> uniform(-1, 1)

    Fix:
        Linear before Tanh -> xavier_uniform(gain=gain)
    """

    code = "IP203"
    name = "saturated-at-init"
    severity = "warning"
    kind = "dynamic"
    summary = "many pre-activations in the flat tails of tanh/sigmoid"
    uses = ("saturation-derivative", "saturated-share")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("saturated-share")
        edge_d = ctx.t("saturation-derivative")
        for st in ctx.stats or ():
            if st.saturated is None or st.saturated < limit:
                continue
            edge = saturation_edge(st.activation, edge_d)
            yield _layer_finding(
                cls,
                ctx,
                st.name,
                f"{st.saturated:.0%} of the pre-activations of {st.name} are beyond ±{edge:.2f}, "
                f"where {st.activation}'s derivative is under {edge_d:g} of its maximum "
                f"(output std {st.out_std:.3g})",
                measured=st.saturated,
                expected=limit,
            )


class NonfiniteAtInit(LintRule):
    """What:
    A NaN or Inf in a layer's output or in a gradient on the first pass.

    Why:
    A non-finite value spreads to every parameter in the first optimizer step; at
    initialization it comes from NaN/Inf weights or an overflowing scale.

    Anti-pattern:
        Linear -> normal(0, 1e30)

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP204"
    name = "nonfinite-at-init"
    severity = "error"
    kind = "dynamic"
    summary = "NaN or Inf in the first forward or backward pass"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        ordered = by_depth(ctx)
        for where, bad in (
            ("output", [st for st in ordered if not st.finite]),
            ("gradient", [st for st in ordered if not st.grad_finite]),
        ):
            if not bad:
                continue
            st = bad[0]
            yield _layer_finding(
                cls,
                ctx,
                st.name,
                f"non-finite values first appear in the {where} of {st.name} "
                f"({len(bad)} layer(s) affected)",
            )
            return


class GradientRatio(LintRule):
    """What:
    Along one depth series of same-role layers (variance-drift's groups: one plain signal
    path, at least ``min-depth`` layers), the gradient of the first
    layer's weight against the last one's, both as rms per element (so layer shapes do not
    matter), is over ``gradient-ratio`` either way. Layers of different roles are not
    compared: a BatchNorm-followed conv's gradient scales with 1/‖W‖, attention's q/k
    gradients are small by construction, and the first layer of an encoder-decoder is
    reached through cross-attention.

    Why:
    Vanishing or exploding gradients: the early layers learn orders of magnitude slower
    (or faster) than the late ones (Hochreiter 1991; Bengio, Simard & Frasconi 1994;
    Glorot & Bengio 2010).

    Anti-pattern:
        Linear before Sigmoid -> normal(0, 0.01)   # 10 layers deep

    Fix:
        Linear before Sigmoid -> xavier_uniform()
    """

    code = "IP205"
    name = "gradient-ratio"
    severity = "warning"
    kind = "dynamic"
    summary = "first vs last layer gradient far from 1 (vanishing or exploding)"
    uses = ("gradient-ratio", "min-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("gradient-ratio")
        for members in groups(ctx):
            usable = [st for st in members if st.grad_rms]
            if len(usable) < max(2, int(ctx.t("min-depth"))):
                continue
            first, last = usable[0], usable[-1]
            ratio = float(first.grad_rms or 0) / float(last.grad_rms or 1)
            if 1 / limit <= ratio <= limit:
                continue
            verb = "vanishes" if ratio < 1 else "explodes"
            yield _layer_finding(
                cls,
                ctx,
                first.name,
                f"gradient {verb} toward the input: rms {first.grad_rms:.3g} at {first.name} "
                f"vs {last.grad_rms:.3g} at {last.name} (ratio {ratio:.3g}, limit {limit:g} "
                "either way)",
                measured=ratio,
                expected=1.0,
            )


def _unnormalized_readers(ctx: LintContext) -> list[tuple[Layer, float]]:
    """The layers that read the residual stream of an unnormalized residual network, in
    execution order, with the stream's std where they read it: none where a reader is a
    normalization or the branches' scale is reset by one (a pre-norm transformer's
    stream is read through its norms)."""
    found: list[tuple[Layer, float]] = []
    for st in by_depth(ctx):
        lay = ctx.graph.layer(st.name)
        if not lay.roles.reads_stream:
            continue
        if lay.roles.renormalized or lay.roles.scale_invariant or is_type(lay, NORM_TYPES):
            return []
        if st.in_std:
            found.append((lay, st.in_std))
    return found


class ResidualStreamDrift(LintRule):
    """What:
    In a residual network without normalization, the std of the residual stream where each
    block's branch reads it (``GraphRoles.reads_stream``: the stream entering the block) grows or
    shrinks by more than ``stream-drift`` from the first block to the last, over
    ``min-depth`` blocks or more. Each block adds its branch's variance to the stream, so a branch
    initialized to preserve variance (He in every layer) doubles it block after block.
    Networks whose stream is read through normalizations (pre-norm transformers) or whose
    branches end in one are not judged.

    Why:
    Without normalization, the stream's variance after L blocks is the product of (1 +
    the branch's gain²) over the blocks: He-initialized branches explode it geometrically.
    Fixup (Zhang, Dauphin & Ma 2019) and SkipInit (De & Smith 2020) start each branch at
    zero (its last layer zero, or a zero scale), so the network starts as the identity and
    the stream keeps its scale; T-Fixup and DeepNet rescale the branches by depth.

    Anti-pattern:
        Conv2d -> kaiming_normal(fan_in)

    Fix:
        Conv2d named "*.conv2" -> zeros()
    """

    code = "IP206"
    name = "residual-stream-drift"
    severity = "warning"
    kind = "dynamic"
    summary = "the residual stream grows or shrinks across the blocks of an unnormalized network"
    uses = ("stream-drift", "min-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        readers = _unnormalized_readers(ctx)
        if len(readers) < max(2, int(ctx.t("min-depth"))):
            return
        limit = ctx.t("stream-drift")
        (first, a), (last, b) = readers[0], readers[-1]
        total = b / a
        if 1 / limit <= total <= limit:
            return
        per = total ** (1 / (len(readers) - 1))
        verb = "grows" if total > 1 else "shrinks"
        shown = ", ".join(f"{std:.3g}" for _, std in readers[:12]) + (
            ", ..." if len(readers) > 12 else ""
        )
        ends = [
            lay
            for lay in ctx.graph.layers
            if lay.roles.residual_branch and lay.resolution.residual and lay.module is not None
            and any(p.ndim >= 2 and p.role in ("weight", None) for p in lay.parameters)
        ]  # fmt: skip
        fix = "\n".join(f'{lay.type} named "{lay.name}" -> zeros()' for lay in ends) or None
        yield cls.finding(
            f"{first.name}..{last.name}",
            f"the residual stream {verb} {per:.2f}x per block over {len(readers)} blocks with no "
            f"normalization: std {a:.3g} into {first.name} to {b:.3g} into {last.name} "
            f"({total:.3g}x in all; {shown}); start each branch at zero (Fixup, SkipInit: its "
            "last layer zero) so that each block starts as the identity",
            measured=per,
            expected=1.0,
            location=ctx.located(first),
            fix=fix,
        )
