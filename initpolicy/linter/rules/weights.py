"""Static rules (IP1xx) on the values of a weight or bias, whatever its scale: constant
weights, duplicate units, a bias that a norm cancels, a bias too large for its signal."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...catalog import facts
from ..families import CANCELLING_NORMS, NORM_TYPES, RECURRENT_TYPES, UNITS_ON_DIM1, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject, units, zero_role
from .static import subject_finding


class ConstantWeight(LintRule):
    """What:
    A weight whose values are all equal (zeros and ones included), where the weight is
    the weight operand of a feature-mixing op (linear, conv, matmul, einsum, embedding,
    recurrence: its rows are units): every unit computes the same function and receives
    the same gradient, so training never breaks the symmetry. Parameters that scale,
    shift or index the signal elementwise (LayerScale, a norm's weight, NF-Net gains,
    temperatures, logit scales, zero-initialized position-bias tables, Mamba's A_log) have
    no interchangeable units and are not judged: each entry gets its own gradient.

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
    kind = "static"
    summary = "a weight whose values are all equal never breaks symmetry"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        mixing = [s for s in ctx.subjects if s.mixing]
        # A zero role is deliberate against an initialized model; where every weight is
        # zero, the init never ran (to_empty, then an init that returned early).
        never_ran = len(mixing) > 1 and all(s.stats.zero for s in mixing)
        for s in mixing:
            if not s.stats.constant or (zero_role(s) and not never_ran):
                continue
            why = (
                f"; every weight of the model ({len(mixing)} tensors) is zero: the init never ran"
                if never_ran
                else ""
            )
            yield subject_finding(
                cls,
                s,
                f"all {s.stats.numel} values of {s.name} equal {s.stats.max:g}: every unit "
                "computes the same function and gets the same gradient, so symmetry is never "
                f"broken{why}",
                measured=0.0,
            )


class DuplicateUnits(LintRule):
    """What:
    Two or more output units (rows of a Linear weight, filters of a convolution) are
    identical although the weight is not constant. Judged on the weight operand of a
    feature-mixing op only, as constant-weight (a table repeated per channel, such as
    Mamba's A_log, has no units).

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
    kind = "static"
    summary = "identical rows/filters in a weight that is not constant"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.subjects:
            if not s.mixing or s.stats.constant or not s.stats.finite:
                continue
            if s.tensor is None:  # judged from the plan: a random draw has no equal units
                continue
            on_dim1 = is_type(s.layer, UNITS_ON_DIM1)
            if s.param.placement is not None:  # hashed over the shards, never gathered
                from ..sharded import duplicate_units

                dup = duplicate_units(s.tensor, on_dim1)
            else:
                dup = duplicate_rows(units(s))
            if dup:
                yield subject_finding(
                    cls,
                    s,
                    f"{dup} of {s.param.shape[1 if on_dim1 else 0]} units of {s.name} "
                    "duplicate another unit",
                    measured=float(dup),
                    expected=0.0,
                )


def duplicate_rows(m: Any) -> int:
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


class BiasBeforeNorm(LintRule):
    """What:
    A layer's bias that BatchNorm (or InstanceNorm) cancels: every path from the layer's
    output reaches that norm through ops that keep a per-channel constant a per-channel
    constant (reshapes, pooling, concatenation, sums), so the norm's mean subtraction
    removes the bias exactly. Not reported where the bias also reaches anything else (a
    shortcut carries it past the norm), nor for a normalization's own shift.

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
    kind = "static"
    summary = "a bias that the following BatchNorm cancels"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.subjects:
            norm = _cancelling_norm(ctx, s)
            if s.param.local != "bias" or norm is None:
                continue
            kind = ctx.graph.module_types.get(norm, ("norm",))[0]
            yield subject_finding(
                cls,
                s,
                f"{s.name} is cancelled by {norm} ({kind}); build the layer with bias=False",
                fix=s.fix("zeros()"),
            )


def _cancelling_norm(ctx: LintContext, s: Subject) -> str | None:
    """The norm that cancels ``s`` (a bias), from the graph's facts; without them (the
    ``modules`` tracer) the cancelling norm that directly follows the layer."""
    if is_type(s.layer, NORM_TYPES) or s.param.role not in ("bias", None):
        return None
    if ctx.graph.roles:
        return s.layer.roles.cancelled_by
    follows = [
        lay.name
        for lay in ctx.graph.layers
        if lay.resolution.previous == s.layer.name and is_type(lay, CANCELLING_NORMS)
    ]
    return follows[0] if follows and s.layer.resolution.normalized else None


class LargeBias(LintRule):
    """What:
    A bias with an entry larger in magnitude than ``large-bias`` in front of an
    activation with a region a bias can push units into: the ReLU family's dead zone, the
    flat tails of tanh, sigmoid and their hard variants, the negative side of
    GELU/SiLU/Mish/ELU/CELU/SELU. Not judged before softplus (a softplus bias sets a
    positive scale on purpose, as Mamba's ``dt_proj.bias`` = softplus⁻¹(Δt), and its
    log-derivative stays near 1 on the left), ``linear``, ``mixed`` or ``output`` (a
    focal-loss prior), nor in recurrent and normalization layers (an LSTM forget bias, a
    norm's shift).

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
    kind = "static"
    summary = "a bias larger than the signal it is added to"
    uses = ("large-bias",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("large-bias")
        for s in ctx.subjects:
            if not s.param.local.endswith("bias") or s.param.ndim != 1 or not s.stats.finite:
                continue
            if not facts(s.activation).flat_region or is_type(
                s.layer, RECURRENT_TYPES + NORM_TYPES
            ):
                continue  # a focal-loss prior, an LSTM forget bias, a softplus scale
            if s.stats.absmax <= limit:
                continue
            yield subject_finding(
                cls,
                s,
                f"|{s.name}| reaches {s.stats.absmax:.3g} before {s.activation}, over {limit:g}",
                measured=s.stats.absmax,
                expected=limit,
                fix=s.fix("zeros()"),
            )
