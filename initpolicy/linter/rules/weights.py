"""Static rules (IP1xx): the weights as they are, against the activation that follows.

Each rule is a class: code, kebab-case name, severity, summary, a docstring with What /
Why (with its source) / Anti-pattern / Fix, and test cases as data (run by
tests/test_lint_cases.py). ``check(subject, ctx)`` yields findings for one parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..bands import band
from ..core import Case, Context, Finding, Rule, register
from ..subject import (
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
    f = cls.finding(s.name, message, location=s.location, param=s.name, **kw)  # type: ignore[arg-type,unused-ignore]
    if f.fix is None:
        f.fix = f"{s.selector} -> {fix_scheme(s)}"
    return f


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
        Case(
            "all ones in a tanh net",
            "mlp:tanh:10x10x10x2",
            True,
            (("*.weight", "ones()"),),
            "2.weight",
        ),
        Case(
            "all zeros in a tanh net",
            "mlp:tanh:10x10x10x2",
            True,
            (("*.weight", "zeros()"),),
            "0.weight",
        ),
        Case(
            "zero output head is deliberate",
            "mlp:tanh:10x10x10x2",
            False,
            (("4.weight", "zeros()"),),
            "4.weight",
        ),
        Case(
            "xavier is not constant",
            "mlp:tanh:10x10x10x2",
            False,
            (("*.weight", "xavier_uniform()"),),
            "0.weight",
        ),
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
        Case(
            "kaiming rows differ",
            "mlp:relu:8x8x2",
            False,
            (("*.weight", "kaiming_normal(fan_in)"),),
            "0.weight",
        ),
    )

    @classmethod
    def check(cls, s: Subject, ctx: Context) -> Iterator[Finding]:
        if s.param.ndim < 2 or s.stats.constant or not s.stats.finite:
            return
        dup = duplicate_rows(units(s))
        if dup:
            n = units(s).shape[0]
            yield _finding(
                cls,
                s,
                f"{dup} of {n} units of {s.name} duplicate another unit",
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
