"""Dynamic rule IP220 on the model's output layer: logits so large at initialization that
the softmax starts saturated (an unscaled readout)."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject


def _weight_of(ctx: LintContext, name: str) -> Subject | None:
    """The subject of layer ``name``'s weight, following a tie to the tensor that owns it
    (a readout tied to the input embedding)."""
    lay = ctx.graph.layer(name)
    wanted = lay.ownership.tied.get("weight") or next(
        (p.name for p in lay.parameters if p.role == "weight" and p.ndim >= 2), None
    )
    return next((s for s in ctx.subjects if s.name == wanted), None)


class LargeLogits(LintRule):
    """What:
    An output layer (its output is the model's output, as the tracer saw it) whose output
    std on the dynamic pass exceeds ``output-std``. The finding names the weight that sets
    that scale (for a readout tied to the input embedding, the embedding's weight) and
    the std that would give unit logits.

    Why:
    Logits of std σ over a vocabulary of V put the initial cross-entropy far above
    log V and the softmax in saturation: T5's untied ``lm_head`` drawn at std 1 gives
    logits of variance ``d_model`` and an initial loss near 110 instead of 11
    (huggingface/transformers#16749); a readout tied to an embedding left at
    ``nn.Embedding``'s N(0, 1) does the same (microsoft/mup#55). μP scales the readout
    by 1/width for this reason.

    Anti-pattern:
        nn.init.normal_(model.lm_head.weight, std=1.0)

    Fix:
        Linear named "lm_head" -> normal(0, 1 / sqrt(fan_in))   # or smaller, or zeros()
    """

    code = "IP220"
    name = "large-logits"
    severity = "warning"
    kind = "dynamic"
    summary = "model outputs (logits) far above unit scale at initialization"
    uses = ("output-std",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("output-std")
        for st in ctx.stats or ():
            if st.activation != "output" or st.out_std is None or st.out_std <= limit:
                continue
            s = _weight_of(ctx, st.name)
            if s is None or not s.stats.finite or s.stats.std == 0:
                continue
            want = s.stats.std / st.out_std
            via = "" if s.layer.name == st.name else f" (tied to {s.name})"
            yield cls.finding(
                s.name,
                f"outputs of {st.name}{via} have std {st.out_std:.3g} at initialization, "
                f"over {limit:g}: the softmax starts saturated; std {want:.3g} for "
                f"{s.name} (now {s.stats.std:.3g}) gives unit logits",
                measured=st.out_std,
                expected=1.0,
                location=s.location,
                param=s.name,
                fix=f"{s.selector} -> normal(0, {want:.3g})",
            )
