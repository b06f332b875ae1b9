"""Static rule IP123 on normalization layers: a scale that silences the layer's output
(a zero or near-zero LayerNorm/RMSNorm/BatchNorm weight where the layer computes
``x̂ · weight``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject
from .static import subject_finding


def _inputs(width: int) -> list[tuple[int, ...]]:
    """Input shapes a norm over ``width`` features or channels accepts, most common first:
    (batch, features) for LayerNorm/RMSNorm/BatchNorm1d, then channel-first images and
    volumes for BatchNorm2d/3d, GroupNorm and InstanceNorm."""
    return [(4, width), (4, width, 8), (4, width, 4, 4), (4, width, 2, 2, 2)]


def _gates(module: Any) -> int:
    """How many tensors a norm's forward needs beside its input: a gated norm (Mamba2's
    and Qwen3-Next's ``RMSNormGated``: ``norm(x) · weight · act(gate)``) needs the gate."""
    import inspect

    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return 0
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    required = [p for p in params if p.kind in positional and p.default is p.empty]
    return max(len(required) - 1, 0)


def output_scale(module: Any, width: int) -> float | None:
    """How much of the normalized signal a norm module lets through: the rms of
    ``module(x) - module(0)`` for x ~ N(0, 1) (the shift cancels; ``x̂`` has rms ≈ 1, so
    a standard norm gives ≈ rms(weight), and a ``(1 + weight)`` norm ≈ rms(1 + weight)).
    A gated norm's gate is held at ones, a constant factor act(1) of the same order
    (silu(1) ≈ 0.73). None when the module accepts none of the probe shapes.

    >>> import torch
    >>> ln = torch.nn.LayerNorm(16)
    >>> round(output_scale(ln, 16), 3)
    1.0
    >>> _ = torch.nn.init.zeros_(ln.weight)
    >>> output_scale(ln, 16)
    0.0
    """
    import torch

    from ..probe import preserved

    g = torch.Generator().manual_seed(0)
    with preserved(module), torch.no_grad():
        module.eval()
        for shape in _inputs(width):
            param = next(iter(module.parameters()), None)
            dtype = param.dtype if param is not None else torch.float32
            x = torch.randn(shape, generator=g).to(dtype)
            gates = [torch.ones_like(x)] * _gates(module)
            try:
                out, zero = module(x, *gates), module(torch.zeros_like(x), *gates)
            except Exception:  # a shape this norm does not take
                continue
            if not (isinstance(out, torch.Tensor) and out.shape == x.shape):
                continue
            return float((out - zero).double().pow(2).mean().sqrt())
    return None


def _with_unit_scale(s: Subject) -> float | None:
    """:func:`output_scale` of the subject's module with this scale at 1 (restored after):
    how much the module passes when its init is not the cause."""
    import torch

    from ..probe import preserved

    with preserved(s.layer.module), torch.no_grad():
        s.tensor.fill_(1.0)
        return output_scale(s.layer.module, s.param.shape[0])


def _norm_scales(ctx: LintContext) -> Iterator[Subject]:
    """The scale parameters of layers that normalize (a 1-D ``scale`` role, no weight
    operand of a mixing op beside it), except where every path from the layer meets a
    sum with another signal (a residual join) before any other layer but a gate's (a
    squeeze-excitation on the way), through activations or not: the end of a residual
    branch, whose zero silences the branch, not
    the stream (zero-init-residual, Goyal et al. 2017; timm's
    ``zero_init_last``; LeViT)."""
    from .values import _local

    for s in ctx.subjects:
        if s.param.role != "scale" or s.param.ndim != 1 or _local(s) is None:
            continue
        lay = s.layer
        if lay.module is None or any(p.role == "weight" for p in lay.parameters):
            continue
        gates_only = all(ctx.graph.layer(n).roles.gate for n in lay.roles.feeds)
        if gates_only and (lay.roles.to_output or 0) > 0:
            continue  # every path meets a sum with another signal first: it zeroes a branch
        yield s


class VanishingNormScale(LintRule):
    """What:
    A normalization layer whose scale (``weight``, gamma) silences it: the layer's output
    for a normalized input has rms below ``norm-scale`` (measured by running the module on
    a standard-normal probe, so a ``(1 + weight)`` norm such as Gemma's RMSNorm, whose
    zero weight is right, passes). Not judged at the end of a residual branch (every path
    from it meets a residual join before any other layer, through an activation or not),
    where a zero gamma is a deliberate zero-init of the branch.

    Why:
    A norm's weight multiplies a unit-variance signal: at 0 (or drawn like a weight,
    N(0, 0.02)) everything after the norm starts at zero scale, and on a post-LN stack the
    whole signal is lost (huggingface/transformers#143, google/objax#94). A warning, not an
    error: the scale gets a gradient and can grow back, at the cost of the first steps.

    Anti-pattern:
        LayerNorm.weight -> normal(0, 0.02)

    Fix:
        LayerNorm.weight -> ones()
    """

    code = "IP123"
    name = "vanishing-norm-scale"
    severity = "warning"
    kind = "static"
    summary = "a normalization scale (gamma) that silences the layer's output"
    uses = ("norm-scale",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("norm-scale")
        for s in _norm_scales(ctx):
            if not s.stats.finite:
                continue  # unwritten-memory reports it
            scale = output_scale(s.layer.module, s.param.shape[0])
            if scale is None or scale >= limit:
                continue
            unit = _with_unit_scale(s)
            if unit is None or unit < limit:
                continue  # silent by construction (a LayerNorm over one feature), not by init
            yield subject_finding(
                cls,
                s,
                f"{s.layer.name} ({s.layer.type}) passes {scale:.3g} of a normalized signal "
                f"(its {s.param.local} spans [{s.stats.min:.3g}, {s.stats.max:.3g}]): "
                "everything after it starts silenced",
                measured=scale,
                expected=1.0,
                fix=f"{s.selector} -> ones()",
            )
