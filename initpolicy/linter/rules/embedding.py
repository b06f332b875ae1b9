"""Static rule for token embeddings (IP113): judged against the terms they are summed
with, since an embedding has no fan-in sum for a gain band to judge."""

from __future__ import annotations

from collections.abc import Iterator

from ..families import EMBEDDING_TYPES, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject
from .static import subject_finding


def _weights(ctx: LintContext) -> dict[str, Subject]:
    """Every judged tensor by its name, and each layer's table (``weight``) by the layer's."""
    found: dict[str, Subject] = {}
    for s in ctx.subjects:
        found.setdefault(s.name, s)
        if s.param.local == "weight":
            found.setdefault(s.layer.name, s)
    return found


class EmbeddingDrowned(LintRule):
    """What:
    A token embedding (an embedding table looked up by the values of a model input, not
    by positions computed from its shape: ``GraphRoles.indexed_by_input``) whose values
    are ``embedding-ratio`` times or more smaller than another term of the sum it enters
    (position and token-type embeddings, a ViT's ``pos_embed``), constant factors on the
    way counted (Marian's sqrt(d_model)). The sum is found in the graph
    (``GraphRoles.summed_with``, docs/tracing.md), not by names.

    Why:
    The sum is what the first layer (and the norm after it) sees: with the word embedding
    at std 1e-5 beside position embeddings at 0.0175, every token reads as its position,
    and the normalization that follows scales the sum, not the tokens back up. Tokens
    are invisible at init and the model learns them only once the gradient has grown the
    table (GPT-2 and BERT draw both tables at 0.01 to 0.02; Radford et al. 2019; Devlin et
    al. 2019).

    Anti-pattern:
        Embedding named "*word*" -> normal(0, 1e-5)

    Fix:
        Embedding -> normal(0, 0.02)
    """

    code = "IP113"
    name = "embedding-drowned"
    severity = "warning"
    kind = "static"
    summary = "a token embedding far smaller than the position embeddings it is summed with"
    uses = ("embedding-ratio",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        ratio = ctx.t("embedding-ratio")
        tensors = _weights(ctx)
        for s in _token_tables(ctx):
            lay = s.layer
            if not lay.roles.summed_with or s.stats.constant:
                continue
            mine = s.stats.std * lay.roles.sum_factor
            others = list(_summed_terms(s, tensors))
            if not others:
                continue
            big, name = max(others)
            if big <= ratio * mine:
                continue
            want = big / lay.roles.sum_factor
            yield subject_finding(
                cls,
                s,
                f"std {s.stats.std:.3g} of {s.name} is {big / mine:.0f}x under {name} "
                f"({big:.3g}) it is summed with: tokens are invisible at init; expected std "
                f"about {want:.3g}",
                measured=s.stats.std,
                expected=want,
                fix=f"{s.selector} -> normal(0, {want:.3g})",
            )


class EmbeddingUnderEps(LintRule):
    """What:
    A token embedding whose output, summed with the terms it enters (position and
    token-type embeddings, constant factors counted), has a variance ``norm-eps-ratio``
    times or more under the eps of the normalization that reads the sum
    (``GraphRoles.normed_by``: BERT's ``embeddings.LayerNorm``, a Llama's first
    ``input_layernorm``; the eps is the module's own).

    Why:
    A norm divides by sqrt(var + eps): where var is far under eps it divides by sqrt(eps)
    and its output is the embedding scaled down by sqrt(var / eps), not a unit-scale
    signal. The first block sees almost nothing, and the stream starts at a fraction of
    the scale every later layer was initialized for (at var = eps / 10 the norm's output
    std is 0.3 of its weight). The analogue of a norm seeing only its eps at every token.

    Anti-pattern:
        Embedding -> normal(0, 1e-4)    # a Llama, RMSNorm eps 1e-5

    Fix:
        Embedding -> normal(0, 0.02)
    """

    code = "IP114"
    name = "embedding-under-eps"
    severity = "warning"
    kind = "static"
    summary = "a token embedding whose sum is so small that the norm after it sees its eps"
    uses = ("norm-eps-ratio",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        ratio = ctx.t("norm-eps-ratio")
        tensors = _weights(ctx)
        for s in _token_tables(ctx):
            lay = s.layer
            if not lay.roles.normed_by:
                continue
            var = (s.stats.std * lay.roles.sum_factor) ** 2
            var += sum(std**2 for std, _ in _summed_terms(s, tensors))
            norm, eps = max(lay.roles.normed_by, key=lambda item: item[1])
            if var * ratio > eps:
                continue
            least = (ratio * eps) ** 0.5 / lay.roles.sum_factor
            want = max(0.02, least)
            yield subject_finding(
                cls,
                s,
                f"std {s.stats.std:.3g} of {s.name}: the sum it enters has variance "
                f"{var:.3g}, {eps / max(var, 1e-300):.3g}x under the eps {eps:.3g} of "
                f"{norm} that reads it, so {norm} outputs {(var / (var + eps)) ** 0.5:.2f} "
                f"of its scale; expected std at least {least:.3g}",
                measured=s.stats.std,
                expected=least,
                fix=f"{s.selector} -> normal(0, {want:.3g})",
            )


def _token_tables(ctx: LintContext) -> Iterator[Subject]:
    """The weights of the embeddings the input indexes (token tables), with finite values."""
    for s in ctx.subjects:
        lay = s.layer
        if (
            is_type(lay, EMBEDDING_TYPES)
            and s.param.local == "weight"
            and lay.roles.indexed_by_input
            and s.stats.finite
        ):
            yield s


def _summed_terms(s: Subject, tensors: dict[str, Subject]) -> Iterator[tuple[float, str]]:
    """The std of each other term of the sum ``s``'s embedding enters (a constant factor
    counted), with its name."""
    for name in s.layer.roles.summed_with:
        o = tensors.get(name)
        if o is not None and o is not s and o.stats.finite:
            f = o.layer.roles.sum_factor if o.layer.name == name else 1.0
            yield o.stats.std * f, name
