"""Static scale rules (IP103-IP107): the weight's std against the gain band of the
activation that follows (:mod:`initpolicy.linter.bands`). The fold order of
:data:`initpolicy.linter.findings.FOLD_ORDER` merges them when they describe one cause."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from ...catalog import TORCH_DEFAULT, facts, moments
from ..bands import Band, Fit, band, expected_std, fit, noise
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..structure import scale_matters
from ..subject import Subject
from .static import fix_scheme, subject_finding


def _scaled(ctx: LintContext) -> Iterator[tuple[Subject, Band]]:
    """The weights whose scale is judged, with their band. Not judged where scale does not
    matter: layers whose weight scale cannot change the model's function (a normalization
    on every path through homogeneous ops), layers whose output reaches no model output,
    layers before ``output`` or ``mixed`` (no band), embeddings and recurrences (not a
    fan-in sum), tensors that are not the weight operand of a mixing op."""
    for s in ctx.subjects:
        if not s.matrix or not s.stats.finite or s.stats.constant:
            continue
        if scale_matters(s.layer, s.activation, ctx.graph.roles, s.act_args):
            b = band(s.activation, s.act_args)
            assert b is not None
            yield s, b


def _floored(s: Subject, ctx: LintContext) -> bool:
    """Whether the band's floor applies: a scale error below it compounds only along an
    unnormalized chain of ``floor-depth`` layers or more, outside residual and gate
    branches (small on purpose) and renormalized layers, and only where another layer
    mixes the signal after this one (the last layer before the output sets the output's
    scale, as an output layer does)."""
    if s.in_branch or s.layer.roles.renormalized or s.layer.roles.to_output == 0:
        return False
    return s.chain >= ctx.t("floor-depth")


def _ceiled(s: Subject, ctx: LintContext) -> bool:
    """Whether gain-mismatch's ceiling applies: always before a saturating activation (one
    layer is enough to saturate it); elsewhere, as the floor, where a scale error
    compounds (range-too-wide's ceiling, twice as far, applies everywhere)."""
    if facts(s.activation).saturating:
        return True
    return s.layer.roles.to_output != 0 and not s.in_branch and s.chain >= ctx.t("floor-depth")


class _Links:
    """The direct chains among the subjects: layers whose output goes into the next one
    with nothing nonlinear between (``Subject.into``: Mamba's xBC block into its depthwise
    ``conv1d``, then SiLU). Such a chain is one linear map: the signal reaching the
    activation at its end has the product of the chain's gains, and that product, not
    each factor, is what the band judges."""

    def __init__(self, subjects: Sequence[Subject]) -> None:
        by_layer: dict[str, list[Subject]] = {}
        for s in subjects:
            if s.matrix and not s.param.outputs:
                by_layer.setdefault(s.layer.name, []).append(s)
        #: a layer's one whole weight, where the signal enters it (several: ambiguous)
        self.entered = {name: found[0] for name, found in by_layer.items() if len(found) == 1}
        self.feeders: dict[str, list[Subject]] = {}
        for s in subjects:
            if s.activation == "linear" and len(s.into) == 1:
                self.feeders.setdefault(s.into[0], []).append(s)

    def chain(self, s: Subject) -> tuple[float, Subject] | None:
        """The product of the forward gains of the other links of ``s``'s chain, and the
        link whose activation ends it; None where ``s`` is in no chain, or a link's gain
        is not known (another part of a streamed model, a constant or non-finite
        tensor)."""
        factor, seen = 1.0, {id(s)}
        end = s
        while end.activation == "linear" and len(end.into) == 1:
            nxt = self.entered.get(end.into[0])
            gain = _forward_gain(nxt)
            if nxt is None or gain is None or id(nxt) in seen:
                return None
            factor, end = factor * gain, nxt
            seen.add(id(nxt))
        head = s
        while self.entered.get(head.layer.name) is head:
            ups = self.feeders.get(head.layer.name, [])
            gain = _forward_gain(ups[0]) if len(ups) == 1 else None
            if gain is None or id(ups[0]) in seen:
                break
            factor, head = factor * gain, ups[0]
            seen.add(id(head))
        return None if len(seen) == 1 else (factor, end)


def _forward_gain(s: Subject | None) -> float | None:
    """The factor a link multiplies the signal's std by: std x scale x sqrt(fan_in)."""
    if s is None or not s.stats.finite or s.stats.constant:
        return None
    return s.stats.std * s.scale * math.sqrt(s.fans[0])


def _fitted(ctx: LintContext) -> Iterator[tuple[Subject, Band, Fit]]:
    """:func:`_scaled`, each with how its std fits the band. A link of a direct chain
    (:class:`_Links`) is judged only where the chain's gain is out of the band of the
    activation that ends it, on the same side as the link's own."""
    tolerance = ctx.t("gain-tolerance")
    links = _Links(ctx.subjects)
    for s, b in _scaled(ctx):
        fan_in, fan_out = s.fans
        floor = not _floored(s, ctx)
        std = s.stats.std * s.scale  # a constant factor before the activation is gain
        f = fit(std, b, fan_in, fan_out, s.stats.numel, tolerance, no_floor=floor)
        chained = None if f.ok else links.chain(s)
        end = None if chained is None else band(chained[1].activation, chained[1].act_args)
        if chained is not None and end is not None:
            whole = fit(
                std * chained[0], end, fan_in, fan_out, s.stats.numel, tolerance, no_floor=floor
            )
            if whole.ok or (whole.best > whole.ceiling) != (f.best > f.ceiling):
                continue
        yield s, b, f


def _describe(s: Subject) -> str:
    fan_in, fan_out = s.fans
    groups = f", {s.groups} groups" if s.groups > 1 else ""
    scaled = f" x {s.scale:g}" if s.scale != 1 else ""
    return (
        f"{s.name} (fan_in {fan_in:g}, fan_out {fan_out:g}{groups}){scaled} before {s.activation}"
    )


def _span(s: Subject) -> str:
    st = s.stats
    return f"values of {_describe(s)} span [{st.min:.3g}, {st.max:.3g}] (std {st.std:.4g})"


class GainMismatch(LintRule):
    """What:
    The weight's std against gain/sqrt(fan) for the activation the tracer found after the
    layer, fan_in, fan_out or fan_avg accepted (a grouped convolution's fan_out counts the
    outputs one input reaches, out/groups x kernel, where torch's counts every output
    channel: on a depthwise conv its fan_avg would pass a weight `groups` times too
    small). Each activation has a band of effective
    gains std·sqrt(fan) covering its established schemes (table below), widened by
    ``gain-tolerance`` and the sampling noise of the std. Judged only on the weight operand
    of a feature-mixing op, and skipped where scale does not matter (see "What a weight
    does, and where its scale matters"): scale-invariant layers, ``output`` layers,
    embeddings. The band's floor applies only on an unnormalized chain of ``floor-depth``
    layers or more, to a layer that another layer follows: residual- and gate-branch
    layers may be small (GPT-2, Fixup, SkipInit, a squeeze-excitation gate), and a lone
    layer between two normalizations, or the last layer before the output (a classifier
    head), only sets a scale that nothing compounds. The ceiling applies there too, and
    also before a saturating activation (tanh, sigmoid, softmax: one layer saturates it);
    elsewhere (a residual branch's last layer at He's gain) range-too-wide's ceiling,
    twice as far, is the one that applies.

    Why:
    Each layer multiplies the signal's variance by fan·Var(w)/gain²; off by a constant
    factor, the signal grows or vanishes geometrically with depth (He et al. 2015;
    Glorot & Bengio 2010). Xavier before ReLU in a square layer gives half of He's
    variance, a factor TheDeepChecker's F-bound of 2.7 misses.

    Anti-pattern:
        Linear before ReLU -> xavier_uniform()

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP103"
    name = "gain-mismatch"
    severity = "warning"
    kind = "static"
    summary = "weight std outside the band of gain/sqrt(fan) for the activation that follows"
    uses = ("gain-tolerance", "floor-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        for s, b, f in _fitted(ctx):
            if f.ok or (f.best > f.ceiling and not _ceiled(s, ctx)):
                continue
            fan = s.fans[1] if f.best_fan == "fan_out" else s.fans[0]
            want = expected_std(b, fan) / s.scale
            hi_txt = f"{f.ceiling:.2f}]" if b.hi == b.lo else f"{f.ceiling:.2f}] ({b.source})"
            yield subject_finding(
                cls,
                s,
                f"std {s.stats.std:.4g} of {_describe(s)}: expected {want:.4g} (effective gain "
                f"{f.best:.2f} with {f.best_fan}, accepted [{f.floor:.2f}, {hi_txt}); "
                f"{fix_scheme(s)} fits {s.activation}",
                measured=s.stats.std,
                expected=want,
            )


class RangeTooWide(LintRule):
    """What:
    The weight is so large for its fan that pre-activations explode or saturate: the
    effective gain std·sqrt(fan) exceeds the activation band's ceiling ``range-factor``
    times (for every fan). Same exemptions as gain-mismatch.

    Why:
    uniform(-1, 1) with 100 inputs gives pre-activations of std ≈ 5.8: tanh and sigmoid
    saturate and their gradients vanish (LeCun et al., Efficient BackProp, 1998, §4.6).

    Anti-pattern:
        Linear before Tanh -> uniform(-1, 1)

    Fix:
        Linear before Tanh -> xavier_uniform(gain=gain)
    """

    code = "IP104"
    name = "range-too-wide"
    severity = "error"
    kind = "static"
    summary = "weights so large for their fan that the signal saturates or explodes"
    uses = ("range-factor", "gain-tolerance")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        k = ctx.t("range-factor")
        for s, b, f in _fitted(ctx):
            if f.best <= f.ceiling * k:
                continue
            want = b.hi / math.sqrt(min(s.fans)) / s.scale
            yield subject_finding(
                cls,
                s,
                f"{_span(s)}: effective gain {f.best:.2f} is over {k:g}x the band's ceiling "
                f"{f.ceiling:.2f}; expected std <= {want:.4g}",
                measured=s.stats.std,
                expected=want,
            )


class RangeTooNarrow(LintRule):
    """What:
    The weight is so small for its fan that the signal vanishes layer after layer: the
    effective gain std·sqrt(fan) is under the band's floor divided by ``range-factor``
    (for every fan), in an unnormalized chain of ``vanish-depth`` layers or more (the
    signal needs depth to vanish). Residual- and gate-branch layers are exempt (small on
    purpose).

    Why:
    uniform(-0.05, 0.05) in a ReLU net 64 units wide multiplies the variance by 0.027 per
    layer; after a few layers activations and gradients are numerically zero (Glorot &
    Bengio 2010; He et al. 2015).

    Anti-pattern:
        Linear before ReLU -> uniform(-0.05, 0.05)

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP105"
    name = "range-too-narrow"
    severity = "error"
    kind = "static"
    summary = "weights so small for their fan that the signal vanishes"
    uses = ("range-factor", "gain-tolerance", "vanish-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        k = ctx.t("range-factor")
        for s, b, f in _fitted(ctx):
            if f.floor == 0 or f.best >= f.floor / k or s.chain < ctx.t("vanish-depth"):
                continue
            want = expected_std(b, s.param.fan_in) / s.scale
            yield subject_finding(
                cls,
                s,
                f"{_span(s)}: effective gain {f.best:.2f} is under 1/{k:g} of the band's floor "
                f"{f.floor:.2f}, the signal vanishes with depth; expected std {want:.4g}",
                measured=s.stats.std,
                expected=want,
            )


class TorchDefaultBeforeRelu(LintRule):
    """What:
    PyTorch's default Linear/Conv init, kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in))
    (std 1/sqrt(3·fan_in)), in front of a ReLU, on an unnormalized chain of
    ``floor-depth`` layers or more (as gain-mismatch's floor). Recognized by its std
    (within ``torch-default-tolerance``) and its uniform shape (max |w| ≈ 1/sqrt(fan_in)).

    Why:
    Its variance 1/(3·fan_in) is six times under He's 2/fan_in: each ReLU layer shrinks
    the signal's variance by 6x (He et al. 2015; pytorch/pytorch#18182).

    Anti-pattern:
        nn.Linear(256, 256) followed by nn.ReLU(), left at its default init

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP106"
    name = "torch-default-before-relu"
    severity = "warning"
    kind = "static"
    summary = "PyTorch's default init (variance 1/(3·fan_in)) in front of a ReLU"
    uses = ("torch-default-tolerance", "floor-depth")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        tolerance = ctx.t("torch-default-tolerance")
        for s, b in _scaled(ctx):
            if not facts(s.activation).rectifier or not _floored(s, ctx):
                continue
            p = s.param
            scheme, args = TORCH_DEFAULT
            std, bound = moments(scheme, args, fan_in=p.fan_in, fan_out=p.fan_out, shape=p.shape)
            if not std or not bound:
                continue
            # its std, and its uniform shape: max |w| just under the bound
            slack = tolerance + noise(s.stats.numel)
            if abs(s.stats.std / std - 1) > slack:
                continue
            if not 0.8 <= s.stats.absmax / bound <= 1.001:
                continue
            want = expected_std(b, s.param.fan_in)
            yield subject_finding(
                cls,
                s,
                f"{_describe(s)} has PyTorch's default init U(±1/sqrt(fan_in)) (std "
                f"{s.stats.std:.4g}), variance six times under He's: expected std {want:.4g}",
                measured=s.stats.std,
                expected=want,
            )


class SeluNeedsLecun(LintRule):
    """What:
    A weight before SELU whose std is not LeCun's 1/sqrt(fan_in) (within
    ``selu-tolerance``).

    Why:
    SELU's self-normalizing fixed point (mean 0, variance 1) holds only for weights of
    variance 1/fan_in (Klambauer et al. 2017, "Self-Normalizing Neural Networks").

    Anti-pattern:
        Linear before SELU -> kaiming_normal(fan_in)

    Fix:
        Linear before SELU -> lecun_normal()
    """

    code = "IP107"
    name = "selu-needs-lecun"
    severity = "warning"
    kind = "static"
    summary = "SELU needs LeCun normal weights, std 1/sqrt(fan_in)"
    uses = ("selu-tolerance",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        tolerance = ctx.t("selu-tolerance")
        for s, _ in _scaled(ctx):
            if s.activation != "selu":
                continue
            want = 1 / math.sqrt(s.param.fan_in)
            if abs(s.stats.std / want - 1) <= tolerance + noise(s.stats.numel):
                continue
            yield subject_finding(
                cls,
                s,
                f"std {s.stats.std:.4g} of {_describe(s)}: SELU self-normalizes only with "
                f"std 1/sqrt(fan_in) = {want:.4g}",
                measured=s.stats.std,
                expected=want,
                fix=s.fix("lecun_normal()"),
            )
