"""Static rules (IP120-IP124) on values no init scheme writes: extreme outliers, shards
that repeat, never-written memory, a padding row that is not zero. Each is a bug people
reported (bench/reported/fixtures.py names the threads)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..families import EMBEDDING_TYPES, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject
from .static import subject_finding

#: Values sampled for the robust scale of a large tensor (median absolute deviation).
_SAMPLE = 100_000
#: MAD of a normal distribution, in standard deviations.
_MAD_SIGMA = 0.6744897501960817


def robust_std(t: Any) -> float:
    """The std a tensor's bulk was drawn with: 1.4826·MAD (median absolute deviation from
    the median), on a fixed sample of large tensors. 0 when most values are equal (an
    identity, a Dirac kernel, a sparse init): such a tensor has no bulk to judge against.

    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> round(robust_std(torch.randn(10_000, generator=g) * 0.02), 3)
    0.02
    >>> robust_std(torch.eye(64))
    0.0
    """
    import torch

    x = t.detach().reshape(-1)
    if x.numel() > _SAMPLE:
        g = torch.Generator().manual_seed(0)
        x = x[torch.randint(0, x.numel(), (_SAMPLE,), generator=g)]
    x = x.to(torch.float64)
    med = x.median()
    return float((x - med).abs().median()) / _MAD_SIGMA


def _local(s: Subject) -> Any:
    """The subject's values on this process (None for a sharded tensor: the rules of this
    module read values, and a DTensor's are only its shard's; None where the subject has
    no values, judged from the plan alone by the analytic pass)."""
    from ...shards import is_dtensor

    if s.tensor is None or is_dtensor(s.tensor) or s.tensor.is_meta:
        return None
    return s.tensor


class ExtremeOutlier(LintRule):
    """What:
    A tensor whose bulk was drawn at some std, with a few values more than
    ``outlier-sigmas`` of that std from the median (the bulk's std is read robustly, from
    the median absolute deviation, so the outliers cannot hide themselves). No scheme
    draws such values: a normal draw of a billion values stays within 6.5 std. Tensors
    whose values are mostly equal (identity, Dirac, sparse inits) have no bulk and are not
    judged.

    Why:
    ``torch.nn.init.trunc_normal_`` with a small std and the default absolute bounds ±2
    computes its inverse CDF in float32: on a GPU some values land on the clamp bound, a
    2000-sigma event (pytorch/pytorch#155588). On a CPU too: timm's models built with
    ``trunc_normal_(std=.02)`` hold single values of exactly ±2 (100 std) in their largest
    weights. One such weight dominates its unit's output and its gradient.

    Anti-pattern:
        nn.init.trunc_normal_(w, std=0.001)        # a=-2, b=2: values at ±2

    Fix:
        nn.init.trunc_normal_(w, std=0.001, a=-0.002, b=0.002); in a policy,
        Linear -> truncated_normal(0, 0.001)
    """

    code = "IP120"
    name = "extreme-outlier"
    severity = "warning"
    kind = "static"
    summary = "a few values thousands of std from the bulk of the tensor"
    uses = ("outlier-sigmas",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        import torch

        k = ctx.t("outlier-sigmas")
        for s in ctx.subjects:
            t = _local(s)
            if t is None or not s.stats.finite or s.stats.numel < 64 or s.stats.constant:
                continue
            scale = robust_std(t)
            if scale <= 0 or s.stats.absmax <= k * scale:
                continue
            x = t.detach()
            med = float(x.reshape(-1).to(torch.float64).median())
            far = (x.to(torch.float64) - med).abs() > k * scale
            n = int(far.sum())
            worst = float((x.to(torch.float64) - med).abs().max()) / scale
            if n == 0:
                continue
            yield subject_finding(
                cls,
                s,
                f"{n} of {s.stats.numel} values of {s.name} lie {worst:.0f} std from the "
                f"bulk (std {scale:.3g}, values up to {s.stats.absmax:.3g}); no init scheme "
                "draws these (trunc_normal_'s float32 clamp at its absolute bounds does)",
                measured=worst,
                expected=k,
                fix=f"{s.selector} -> normal({med if abs(med) > scale else 0:.3g}, {scale:.3g})",
            )


def _repeat(t: Any) -> tuple[int, int] | None:
    """``(dim, k)`` when ``t`` is ``k`` >= 2 identical blocks along dim 0 or 1 (the smallest
    block that repeats), else None."""
    import torch

    for dim in (0, 1):
        n = t.shape[dim]
        for k in range(n, 1, -1):  # most blocks first: the smallest block that repeats
            if n % k or n // k < 1:
                continue
            blocks = t.chunk(k, dim=dim)
            if all(torch.equal(blocks[0], b) for b in blocks[1:]):
                return dim, k
    return None


class IdenticalShards(LintRule):
    """What:
    A weight made of identical blocks along its first or second dimension (2 or more
    copies of one block), although its values are not constant. That is the mark of a
    weight initialized per shard with the same random state on every rank: each
    tensor-parallel or FSDP rank drew the same values for its own slice. On a sharded
    model (DTensors) every rank hashes its own shard with where it sits, and one
    ``all_gather`` compares them: shards at different places with one hash are identical
    (replicas of one place, HSDP's, are not).

    Why:
    Identical row blocks are duplicated units; identical column blocks make each slice of
    the input meet the same weights, so the layer sees only the sum of the slices. Either
    way the layer has ``1/k`` of its capacity at the start (allenai/OLMo-core#307; DTensor's
    random ops offset each shard's stream for this reason).

    Anti-pattern:
        torch.manual_seed(seed); init(local_shard)        # the same seed on every rank

    Fix:
        Initialize through DTensor (its RNG tracker gives each shard its own offset), or
        draw the whole tensor and slice it; with a policy, ``apply`` does either.
    """

    code = "IP121"
    name = "identical-shards"
    severity = "error"
    kind = "static"
    summary = "a weight made of identical blocks: the same shard drawn on every rank"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        from .static import fix_scheme

        for s in ctx.subjects:
            if not s.mixing or s.stats.constant or not s.stats.finite:
                continue
            if s.param.placement is not None:  # hashed on every rank, never gathered
                from ..sharded import identical_shards

                ranks = identical_shards(s.tensor)
                if ranks:
                    yield subject_finding(
                        cls,
                        s,
                        f"the {ranks} shards of {s.name} ({s.param.placement}) are identical: "
                        "every rank drew its shard with the same random state; the layer "
                        f"starts with 1/{ranks} of its capacity",
                        measured=float(ranks),
                        expected=1.0,
                        fix=f"{s.selector} -> {fix_scheme(s)}",
                    )
                continue
            t = _local(s)
            if t is None:
                continue
            found = _repeat(t.detach())
            if found is None:
                continue
            dim, k = found
            side = "row" if dim == 0 else "column"
            yield subject_finding(
                cls,
                s,
                f"{s.name} {tuple(s.param.shape)} is {k} identical {side} blocks of "
                f"{s.param.shape[dim] // k}: each shard was drawn with the same random "
                f"state (one per rank); the layer starts with 1/{k} of its capacity",
                measured=float(k),
                expected=1.0,
                fix=f"{s.selector} -> {fix_scheme(s)}",
            )


class UnwrittenMemory(LintRule):
    """What:
    A parameter with NaN or infinite values. No init scheme writes them: the memory was
    never written (``to_empty`` after building on the meta device, with an init that
    skipped this module), or a scheme overflowed its dtype.

    Why:
    One NaN reaches every output and every gradient on the first step. Meta-device
    initialization that runs ``_init_weights`` only on Linear and Embedding leaves norms
    with whatever the allocator returned (mosaicml/llm-foundry#1745).

    Anti-pattern:
        model.to_empty(device="cuda"); model.apply(init_linear_and_embedding_only)

    Fix:
        Initialize every parameter after ``to_empty`` (``reset_parameters()`` of the
        modules the init skipped), or apply a policy that covers all of them.
    """

    code = "IP122"
    name = "unwritten-memory"
    severity = "error"
    kind = "static"
    summary = "NaN or infinite values: memory that no init wrote"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        import torch

        for s in ctx.subjects:
            if s.stats.finite:
                continue
            t = _local(s)
            bad = "" if t is None else f"{int((~torch.isfinite(t.detach())).sum())} of "
            yield subject_finding(
                cls,
                s,
                f"{bad}{s.stats.numel} values of {s.name} are NaN or infinite: memory no "
                "init wrote (to_empty without an init for this module) or an overflow",
                fix=f"{s.selector} -> {_default_for(s)}",
            )


def _default_for(s: Subject) -> str:
    """What a parameter's own module would write: ones for a norm's scale, zeros for a
    bias, the band's scheme for a weight."""
    from .static import fix_scheme

    if s.param.role == "scale":
        return "ones()"
    if s.param.ndim < 2:
        return "zeros()"
    return fix_scheme(s)


class PaddingRowNotZero(LintRule):
    """What:
    An embedding built with ``padding_idx`` whose padding row is not zero. The
    constructor zeroes that row, and its gradient is always zero; a custom init written
    after the constructor (``weight.data.normal_()``) overwrites it, and the padding token
    then adds a fixed random vector to every padded position, forever.

    Why:
    pytorch/pytorch#6495: "custom init with padding_idx fails to zero out padding_idx".
    The row never trains, so the error is permanent.

    Anti-pattern:
        emb = nn.Embedding(n, d, padding_idx=0); emb.weight.data.normal_(0, 0.1)

    Fix:
        Zero the row after the init (``emb.weight.data[emb.padding_idx].zero_()``); a
        policy's ``apply`` does it for every embedding with a padding_idx.
    """

    code = "IP124"
    name = "padding-row-not-zero"
    severity = "warning"
    kind = "static"
    summary = "an embedding's padding row is not zero after the init"

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        for s in ctx.subjects:
            module = s.layer.module
            idx = getattr(module, "padding_idx", None)
            t = _local(s)
            if t is None or idx is None or s.param.local != "weight":
                continue
            if not is_type(s.layer, EMBEDDING_TYPES) or not s.stats.finite:
                continue
            row = t.detach()[idx]
            if not bool(row.any()):
                continue
            yield subject_finding(
                cls,
                s,
                f"row {idx} of {s.name} (its padding_idx) has |values| up to "
                f"{float(row.abs().max()):.3g}: a custom init overwrote the zero row the "
                "constructor wrote, and the row never trains",
                measured=float(row.abs().max()),
                expected=0.0,
                fix=f"{s.selector} -> normal(0, {s.stats.std:.3g})",
            )
