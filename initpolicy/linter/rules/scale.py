"""Static scale rules (IP103-IP107): the weight's std against the gain band of the
activation that follows (:mod:`initpolicy.linter.bands`). The fold order of
:data:`initpolicy.linter.core.FOLD_ORDER` merges them when they describe one cause."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ..bands import RELU_FAMILY, Band, Fit, band, expected_std, fit, noise
from ..core import Case, Context, Finding, register
from ..subject import Subject
from .weights import StaticRule, _finding, fix_scheme


def _scale_checked(s: Subject) -> Band | None:
    """The band a scale check uses, or None where scale does not matter here: normalized
    layers (scale-invariant), layers before ``output`` or ``mixed``, embeddings."""
    if not s.matrix or s.layer.normalized or not s.stats.finite or s.stats.constant:
        return None
    return band(s.activation, s.layer.act_args)


def _fit(s: Subject, b: Band, ctx: Context) -> Fit:
    p = s.param
    return fit(
        s.stats.std,
        b,
        p.fan_in,
        p.fan_out,
        s.stats.numel,
        ctx.t("gain-tolerance"),
        no_floor=s.in_branch,
    )


def _describe(s: Subject) -> str:
    p = s.param
    return f"{s.name} (fan_in {p.fan_in:g}, fan_out {p.fan_out:g}) before {s.activation}"


@register
class GainMismatch(StaticRule):
    """What:
    The weight's std against gain/sqrt(fan) for the activation the tracer found after the
    layer, fan_in, fan_out or fan_avg accepted. Each activation has a band of effective
    gains std·sqrt(fan) covering its established schemes (table below), widened by
    ``gain-tolerance`` and the sampling noise of the std. Skipped where scale does not
    matter: a normalization before the activation (scale-invariant), ``output`` layers,
    embeddings. Residual-branch layers may be small (GPT-2, Fixup, SkipInit): their band
    has no floor, only its ceiling.

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
    summary = "weight std outside the band of gain/sqrt(fan) for the activation that follows"
    uses = ("gain-tolerance",)
    cases = (
        Case(
            "xavier before relu, square",
            "mlp:relu:64x64x64x10",
            True,
            (("*.weight", "xavier_uniform()"),),
            "2.weight",
        ),
        Case(
            "he before relu",
            "mlp:relu:64x64x64x10",
            False,
            (("*.weight", "kaiming_normal(fan_in)"),),
            "2.weight",
        ),
        Case(
            "he fan_out before relu",
            "mlp:relu:64x32x64x10",
            False,
            (("*.weight", "kaiming_normal(fan_out)"),),
            "0.weight",
        ),
        Case(
            "glorot before tanh",
            "mlp:tanh:64x64x64x10",
            False,
            (("*.weight", "xavier_uniform()"),),
            "2.weight",
        ),
        Case(
            "5/3 before tanh",
            "mlp:tanh:64x64x64x10",
            False,
            (("*.weight", "xavier_uniform(5/3)"),),
            "2.weight",
        ),
        Case(
            "normalized: scale-invariant",
            "convbn:relu:16",
            False,
            (("0.weight", "normal(0, 0.001)"),),
            "0.weight",
        ),
        Case(
            "output layer has no gain",
            "mlp:relu:64x64x10",
            False,
            (("2.weight", "normal(0, 0.001)"),),
            "2.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        b = _scale_checked(s)
        if b is None:
            return
        f = _fit(s, b, ctx)
        if f.ok:
            return
        fan = {"fan_in": s.param.fan_in, "fan_out": s.param.fan_out}.get(f.best_fan, s.param.fan_in)
        want = expected_std(b, fan)
        hi_txt = f"{f.ceiling:.2f}]" if b.hi == b.lo else f"{f.ceiling:.2f}] ({b.source})"
        yield _finding(
            cls,
            s,
            f"std {s.stats.std:.4g} of {_describe(s)}: expected {want:.4g} "
            f"(effective gain {f.best:.2f} with {f.best_fan}, accepted [{f.floor:.2f}, {hi_txt}); "
            f"{fix_scheme(s)} fits {s.activation}",
            measured=s.stats.std,
            expected=want,
        )


@register
class RangeTooWide(StaticRule):
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
    summary = "weights so large for their fan that the signal saturates or explodes"
    uses = ("range-factor", "gain-tolerance")
    cases = (
        Case(
            "uniform(-1, 1), 100 inputs, tanh",
            "mlp:tanh:100x100x100x10",
            True,
            (("*.weight", "uniform(-1, 1)"),),
            "0.weight",
        ),
        Case(
            "glorot before tanh",
            "mlp:tanh:100x100x100x10",
            False,
            (("*.weight", "xavier_uniform()"),),
            "0.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        b = _scale_checked(s)
        if b is None:
            return
        f = _fit(s, b, ctx)
        k = ctx.t("range-factor")
        if f.best <= f.ceiling * k:
            return
        fan = min(s.param.fan_in, s.param.fan_out)
        want = b.hi / math.sqrt(fan)
        yield _finding(
            cls,
            s,
            f"values of {_describe(s)} span [{s.stats.min:.3g}, {s.stats.max:.3g}] (std "
            f"{s.stats.std:.4g}): effective gain {f.best:.2f} is over {k:g}x the band's ceiling "
            f"{f.ceiling:.2f}; expected std <= {want:.4g}",
            measured=s.stats.std,
            expected=want,
        )


@register
class RangeTooNarrow(StaticRule):
    """What:
    The weight is so small for its fan that the signal vanishes layer after layer: the
    effective gain std·sqrt(fan) is under the band's floor divided by ``range-factor``
    (for every fan). Residual-branch layers are exempt (small on purpose).

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
    summary = "weights so small for their fan that the signal vanishes"
    uses = ("range-factor", "gain-tolerance")
    cases = (
        Case(
            "uniform(-0.05, 0.05), relu, 64 wide",
            "mlp:relu:64x64x64x64x10",
            True,
            (("*.weight", "uniform(-0.05, 0.05)"),),
            "2.weight",
        ),
        Case(
            "he before relu",
            "mlp:relu:64x64x64x64x10",
            False,
            (("*.weight", "kaiming_uniform(fan_in, relu)"),),
            "2.weight",
        ),
        Case(
            "xavier before relu is only a mismatch",
            "mlp:relu:64x64x64x64x10",
            False,
            (("*.weight", "xavier_uniform()"),),
            "2.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        b = _scale_checked(s)
        if b is None:
            return
        f = _fit(s, b, ctx)
        k = ctx.t("range-factor")
        if f.floor == 0 or f.best >= f.floor / k:
            return
        want = expected_std(b, s.param.fan_in)
        yield _finding(
            cls,
            s,
            f"values of {_describe(s)} span [{s.stats.min:.3g}, {s.stats.max:.3g}] (std "
            f"{s.stats.std:.4g}): effective gain {f.best:.2f} is under 1/{k:g} of the band's "
            f"floor {f.floor:.2f}, the signal vanishes with depth; expected std {want:.4g}",
            measured=s.stats.std,
            expected=want,
        )


@register
class TorchDefaultBeforeRelu(StaticRule):
    """What:
    PyTorch's default Linear/Conv init, kaiming_uniform(a=sqrt(5)) = U(±1/sqrt(fan_in))
    (std 1/sqrt(3·fan_in)), in front of a ReLU. Recognized by its std (within
    ``torch-default-tolerance``) and its uniform shape (max |w| ≈ 1/sqrt(fan_in)).

    Why:
    Its variance 1/(3·fan_in) is six times under He's 2/fan_in: each ReLU layer shrinks
    the signal's variance by 3x (He et al. 2015; pytorch/pytorch#18182).

    Anti-pattern:
        nn.Linear(256, 256) followed by nn.ReLU(), left at its default init

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP106"
    name = "torch-default-before-relu"
    severity = "warning"
    summary = "PyTorch's default init (variance 1/(3·fan_in)) in front of a ReLU"
    uses = ("torch-default-tolerance",)
    cases = (
        Case("default init, deep relu", "mlp:relu:64x64x64x64x10", True, (), "2.weight"),
        Case("default init before tanh is fine", "mlp:tanh:64x64x64x64x10", False, (), "2.weight"),
        Case(
            "he before relu",
            "mlp:relu:64x64x64x64x10",
            False,
            (("*.weight", "kaiming_normal(fan_in)"),),
            "2.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.activation not in RELU_FAMILY or _scale_checked(s) is None or s.in_branch:
            return
        fan_in = s.param.fan_in
        g = s.stats.std * math.sqrt(fan_in)
        tol = ctx.t("torch-default-tolerance") + noise(s.stats.numel)
        edge = s.stats.absmax * math.sqrt(fan_in)
        if abs(g * math.sqrt(3) - 1) > tol or not 0.8 <= edge <= 1.001:
            return
        b = band(s.activation, s.layer.act_args)
        want = expected_std(b, fan_in) if b else math.sqrt(2 / fan_in)
        yield _finding(
            cls,
            s,
            f"{_describe(s)} has PyTorch's default init U(±1/sqrt(fan_in)) (std "
            f"{s.stats.std:.4g}), variance six times under He's: expected std {want:.4g}",
            measured=s.stats.std,
            expected=want,
        )


@register
class SeluNeedsLecun(StaticRule):
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
    summary = "SELU needs LeCun normal weights, std 1/sqrt(fan_in)"
    uses = ("selu-tolerance",)
    cases = (
        Case(
            "he before selu",
            "mlp:selu:64x64x64x10",
            True,
            (("*.weight", "kaiming_normal(fan_in)"),),
            "2.weight",
        ),
        Case(
            "lecun before selu",
            "mlp:selu:64x64x64x10",
            False,
            (("*.weight", "normal(0, 0.125)"),),
            "2.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.activation != "selu" or _scale_checked(s) is None:
            return
        want = 1 / math.sqrt(s.param.fan_in)
        if abs(s.stats.std / want - 1) <= ctx.t("selu-tolerance") + noise(s.stats.numel):
            return
        yield _finding(
            cls,
            s,
            f"std {s.stats.std:.4g} of {_describe(s)}: SELU self-normalizes only with "
            f"std 1/sqrt(fan_in) = {want:.4g}",
            measured=s.stats.std,
            expected=want,
            fix=f"{s.selector} -> lecun_normal()",
        )
