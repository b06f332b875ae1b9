"""Static rules (IP1xx): the weights as they are, against the activation that follows.

Each rule is a class: code, kebab-case name, severity, summary, a docstring with What /
Why (with its source) / Anti-pattern / Fix, and test cases as data (run by
tests/test_lint_cases.py). ``check(subject, ctx)`` yields findings for one parameter.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .lint_bands import RELU_FAMILY, Band, band, expected_std, fit, noise
from .lint_core import Case, Context, Finding, Rule, register
from .lint_subject import (
    CANCELLING_NORMS,
    EMBEDDING_TYPES,
    NORM_TYPES,
    RECURRENT_TYPES,
    Subject,
    is_type,
    units,
    zero_role,
)


class StaticRule(Rule):
    kind = "static"

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        raise NotImplementedError


def fix_scheme(s: Subject) -> str:
    """The scheme that fits the subject's activation (for fix rules)."""
    b = band(s.activation, s.layer.act_args)
    if b is not None:
        return b.fix
    if is_type(s.layer, EMBEDDING_TYPES):
        return "normal(0, 0.02)"
    return "xavier_uniform()"


def _finding(cls: type[Rule], s: Subject, message: str, **kw: object) -> Finding:
    f = cls.finding(s.name, message, location=s.location, param=s.name, **kw)  # type: ignore[arg-type]
    if f.fix is None:
        f.fix = f"{s.selector} -> {fix_scheme(s)}"
    return f


def _scale_checked(s: Subject) -> Band | None:
    """The band a scale check uses, or None where scale does not matter here: normalized
    layers (scale-invariant), layers before ``output`` or ``mixed``, embeddings."""
    if not s.matrix or s.layer.normalized or not s.stats.finite or s.stats.constant:
        return None
    return band(s.activation, s.layer.act_args)


def _fit(s: Subject, b: Band, ctx: Context):  # type: ignore[no-untyped-def]
    p = s.param
    return fit(
        s.stats.std, b, p.fan_in, p.fan_out, s.stats.numel, ctx.t("gain-tolerance"),
        no_floor=s.in_branch,
    )


def _describe(s: Subject) -> str:
    p = s.param
    return f"{s.name} (fan_in {p.fan_in:g}, fan_out {p.fan_out:g}) before {s.activation}"


@register
class ConstantWeight(StaticRule):
    """What:
    A weight of two or more dimensions whose values are all equal (zeros and ones
    included): every unit computes the same function and receives the same gradient, so
    training never breaks the symmetry.

    Why:
    Symmetry breaking is the first requirement of any initialization (Rumelhart, Hinton
    & Williams 1986; Goodfellow et al., Deep Learning, §8.4).

    Exempt:
    Deliberate zero roles (all values exactly 0): the last layer of a residual branch
    (Fixup, SkipInit, zero-init-residual), a zero-initialized output head, LoRA's B matrix.

    Anti-pattern:
        Linear -> ones()

    Fix:
        Linear before Tanh -> xavier_uniform(gain=gain)
    """

    code = "IP101"
    name = "constant-weight"
    severity = "error"
    summary = "a weight whose values are all equal never breaks symmetry"
    cases = (
        Case("all ones in a tanh net", "mlp:tanh:10x10x10x2", True, (("*.weight", "ones()"),), "2.weight"),
        Case("all zeros in a tanh net", "mlp:tanh:10x10x10x2", True, (("*.weight", "zeros()"),), "0.weight"),
        Case("zero output head is deliberate", "mlp:tanh:10x10x10x2", False, (("4.weight", "zeros()"),), "4.weight"),
        Case("xavier is not constant", "mlp:tanh:10x10x10x2", False, (("*.weight", "xavier_uniform()"),), "0.weight"),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.param.ndim < 2 or not s.stats.constant or zero_role(s):
            return
        value = s.stats.max
        yield _finding(
            cls,
            s,
            f"all {s.stats.numel} values of {s.name} equal {value:g}: every unit computes "
            "the same function and gets the same gradient, so symmetry is never broken",
            measured=0.0,
        )


@register
class DuplicateUnits(StaticRule):
    """What:
    Two or more output units (rows of a Linear weight, filters of a convolution) are
    identical although the weight is not constant.

    Why:
    Identical units stay identical as long as their outgoing weights are too; they waste
    capacity from the first step (Goodfellow et al., Deep Learning, §8.4: "units with the
    same inputs must have different initial parameters").

    Anti-pattern:
        weight.data = row.repeat(out_features, 1)

    Fix:
        Linear before ReLU -> kaiming_normal(fan_in)
    """

    code = "IP102"
    name = "duplicate-units"
    severity = "warning"
    summary = "identical rows/filters in a weight that is not constant"
    cases = (
        Case("repeated row", "mlp:relu:8x8x2", True, (("0.weight", "repeat_row()"),), "0.weight"),
        Case("kaiming rows differ", "mlp:relu:8x8x2", False, (("*.weight", "kaiming_normal(fan_in)"),), "0.weight"),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.param.ndim < 2 or s.stats.constant or not s.stats.finite:
            return
        dup = duplicate_rows(units(s))
        if dup:
            n = units(s).shape[0]
            yield _finding(
                cls, s, f"{dup} of {n} units of {s.name} duplicate another unit", measured=float(dup), expected=0.0
            )


def duplicate_rows(m) -> int:  # type: ignore[no-untyped-def]
    """How many rows of matrix ``m`` equal an earlier row (hash by projection, then confirm)."""
    import torch

    if m.shape[0] < 2:
        return 0
    g = torch.Generator().manual_seed(0)
    # float64 where cheap; large matrices hash in their own dtype (equal rows give equal
    # keys either way; every key collision is confirmed exactly below).
    dtype = torch.float64 if m.numel() < 1_000_000 else m.dtype
    probe = torch.randn(m.shape[1], dtype=torch.float64, generator=g).to(dtype)
    keys = torch.mv(m.detach().to(dtype), probe)
    order = torch.argsort(keys)
    ks = keys[order]
    same = (ks[1:] == ks[:-1]).nonzero().flatten()
    count = 0
    for i in same.tolist():
        a, b = order[i].item(), order[i + 1].item()
        if torch.equal(m[a], m[b]):
            count += 1
    return count


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
        Case("xavier before relu, square", "mlp:relu:64x64x64x10", True, (("*.weight", "xavier_uniform()"),), "2.weight"),
        Case("he before relu", "mlp:relu:64x64x64x10", False, (("*.weight", "kaiming_normal(fan_in)"),), "2.weight"),
        Case("he fan_out before relu", "mlp:relu:64x32x64x10", False, (("*.weight", "kaiming_normal(fan_out)"),), "0.weight"),
        Case("glorot before tanh", "mlp:tanh:64x64x64x10", False, (("*.weight", "xavier_uniform()"),), "2.weight"),
        Case("5/3 before tanh", "mlp:tanh:64x64x64x10", False, (("*.weight", "xavier_uniform(5/3)"),), "2.weight"),
        Case("normalized: scale-invariant", "convbn:relu:16", False, (("0.weight", "normal(0, 0.001)"),), "0.weight"),
        Case("output layer has no gain", "mlp:relu:64x64x10", False, (("2.weight", "normal(0, 0.001)"),), "2.weight"),
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
        Case("uniform(-1, 1), 100 inputs, tanh", "mlp:tanh:100x100x100x10", True, (("*.weight", "uniform(-1, 1)"),), "0.weight"),
        Case("glorot before tanh", "mlp:tanh:100x100x100x10", False, (("*.weight", "xavier_uniform()"),), "0.weight"),
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
        Case("uniform(-0.05, 0.05), relu, 64 wide", "mlp:relu:64x64x64x64x10", True, (("*.weight", "uniform(-0.05, 0.05)"),), "2.weight"),
        Case("he before relu", "mlp:relu:64x64x64x64x10", False, (("*.weight", "kaiming_uniform(fan_in, relu)"),), "2.weight"),
        Case("xavier before relu is only a mismatch", "mlp:relu:64x64x64x64x10", False, (("*.weight", "xavier_uniform()"),), "2.weight"),
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
        Case("he before relu", "mlp:relu:64x64x64x64x10", False, (("*.weight", "kaiming_normal(fan_in)"),), "2.weight"),
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
        Case("he before selu", "mlp:selu:64x64x64x10", True, (("*.weight", "kaiming_normal(fan_in)"),), "2.weight"),
        Case("lecun before selu", "mlp:selu:64x64x64x10", False, (("*.weight", "normal(0, 0.125)"),), "2.weight"),
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


@register
class BiasBeforeNorm(StaticRule):
    """What:
    A layer with a bias directly followed by BatchNorm (or InstanceNorm), which subtracts
    the per-channel mean and so cancels the bias exactly.

    Why:
    The bias is a wasted parameter whatever its init (Ioffe & Szegedy 2015, §3.2: "the
    bias b can be ignored since its effect will be canceled by the subsequent mean
    subtraction").

    Anti-pattern:
        nn.Conv2d(64, 64, 3)  # bias=True by default
        nn.BatchNorm2d(64)

    Fix:
        nn.Conv2d(64, 64, 3, bias=False); in a policy, declare it: Conv2d.bias -> zeros()
    """

    code = "IP108"
    name = "bias-before-norm"
    severity = "info"
    summary = "a bias that the following BatchNorm cancels"
    cases = (
        Case("conv bias before batchnorm", "convbn:relu:8", True, (), "0.bias"),
        Case("conv without bias", "convbn-nobias:relu:8", False, (), "0.weight"),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.param.local != "bias" or not s.layer.normalized or ctx.graph is None:
            return
        norm = next(
            (
                lay
                for lay in ctx.graph.layers
                if lay.previous == s.layer.name and is_type(lay, CANCELLING_NORMS)
            ),
            None,
        )
        if norm is None:
            return
        yield _finding(
            cls,
            s,
            f"{s.name} is cancelled by {norm.name} ({norm.type}); build the layer with bias=False",
            fix=f"{s.selector} -> zeros()",
        )


@register
class LargeBias(StaticRule):
    """What:
    A bias with an entry larger in magnitude than ``large-bias`` in front of an
    activation (output layers, recurrent and normalization layers excluded: a focal-loss
    prior or an LSTM forget bias is deliberate).

    Why:
    Pre-activations of a well-initialized layer have std ≈ 1; a bias of that size shifts
    units into ReLU's dead zone or tanh's saturation before any input arrives (Glorot &
    Bengio 2010 and most references initialize biases at 0).

    Anti-pattern:
        bias -> uniform(-3, 3)

    Fix:
        bias -> zeros()
    """

    code = "IP109"
    name = "large-bias"
    severity = "warning"
    summary = "a bias larger than the signal it is added to"
    uses = ("large-bias",)
    cases = (
        Case("bias of 3", "mlp:relu:16x16x2", True, (("*.bias", "constant(3)"),), "0.bias"),
        Case("zero bias", "mlp:relu:16x16x2", False, (("*.bias", "zeros()"),), "0.bias"),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if not s.param.local.endswith("bias") or s.param.ndim != 1 or not s.stats.finite:
            return
        if s.layer.activation == "output" or is_type(s.layer, RECURRENT_TYPES + NORM_TYPES):
            return
        limit = ctx.t("large-bias")
        if s.stats.absmax <= limit:
            return
        yield _finding(
            cls,
            s,
            f"|{s.name}| reaches {s.stats.absmax:.3g} before {s.activation}, over {limit:g}",
            measured=s.stats.absmax,
            expected=limit,
            fix=f"{s.selector} -> zeros()",
        )
