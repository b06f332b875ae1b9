"""Static residual rule (IP112): an unnormalized residual network whose branches are
neither zeroed nor scaled down, judged from the weights alone (no forward pass). The
dynamic view of the same cause, the measured growth over depth, is variance-drift's."""

from __future__ import annotations

import math
from collections.abc import Iterator

from ...catalog import vp_gain
from ...errors import InitPolicyError
from ..families import NORM_TYPES, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject


def branch_gains(ctx: LintContext) -> dict[int, tuple[float, Subject]]:
    """Per residual branch: the factor its weights put on the variance of what it adds
    to the trunk, relative to a variance-preserving layer (1 for He init before a ReLU,
    0 for a zeroed layer), the product over its mixing layers of (std·sqrt(fan_in)·g)²
    with g = 1/vp_gain of the activation after the layer; and its last weight."""
    out: dict[int, tuple[float, Subject]] = {}
    for s in ctx.subjects:
        lay = s.layer
        if lay.roles.branch is None or not s.matrix or not s.mixing or not s.stats.finite:
            continue
        if is_type(lay, NORM_TYPES):
            continue
        try:
            g = 1.0 / vp_gain(s.activation, lay.act_args)
        except (InitPolicyError, ValueError):
            g = 1.0  # linear, output, mixed: no activation to preserve through
        factor = (s.stats.std * math.sqrt(s.fans[0]) * g) ** 2
        product, last = out.get(lay.roles.branch, (1.0, s))
        out[lay.roles.branch] = (product * factor, s if lay.roles.branch_end else last)
    return out


def normalized(ctx: LintContext) -> bool:
    graph = ctx.graph
    return any(
        is_type(lay, NORM_TYPES) or lay.resolution.normalized or lay.roles.renormalized
        for lay in [*graph.layers, *graph.buffer_layers]
    )


class UnscaledResidualBranches(LintRule):
    """What:
    A residual network without normalization whose branches are neither zeroed nor
    scaled down: each residual add x + f(x) adds the branch's variance to the trunk's, so
    at init the variance grows by about the product over branches of (1 + gain of the
    branch), where a branch's gain is the product over its layers of (std·sqrt(fan_in) /
    vp_gain)² (1 for He init before a ReLU). Fires when that growth exceeds
    ``branch-growth``. The branches, their layers and their activations come from the
    trace; a model with any normalization layer or normalizing function is not judged.

    Why:
    Without normalization, L residual branches at standard init multiply the output
    variance by about 2^L: the forward signal and the gradients explode with depth
    (Zhang, Dauphin & Ma 2019, Fixup, §2). Zeroing the last layer of each branch and
    scaling the others by L^(-1/(2m-2)) keeps the growth O(1) (Fixup); zeroing a gain at
    the end of each branch does too (SkipInit, De & Smith 2020).

    Anti-pattern:
        Conv2d -> kaiming_normal(fan_in)     # 16 residual blocks, no BatchNorm

    Fix:
        use fixup
    """

    code = "IP112"
    name = "unscaled-residual-branches"
    severity = "warning"
    kind = "static"
    summary = "an unnormalized residual network whose branches are not zeroed or scaled"
    uses = ("branch-growth",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        if not ctx.graph.roles or ctx.graph.n_branches < 2 or normalized(ctx):
            return
        gains = branch_gains(ctx)
        if not gains:
            return
        growth = math.prod(1.0 + g for g, _ in gains.values())
        limit = ctx.t("branch-growth")
        if not growth > limit:
            return
        worst = max(g for g, _ in gains.values())
        s = gains[max(gains)][1]  # the last branch's last layer: where the growth is whole
        yield cls.finding(
            s.name,
            f"{len(gains)} residual branches and no normalization: at init the variance "
            f"grows about {growth:.3g}x through them (largest branch gain {worst:.3g}; "
            f"none is zeroed or scaled by L^(-1/(2m-2))), over {limit:g}",
            measured=growth,
            expected=limit,
            location=s.location,
            param=s.name,
            fix="use fixup",
        )
