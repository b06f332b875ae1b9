"""Static rules for recurrent layers (informational): the LSTM forget-gate bias and
orthogonal recurrent weights."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from ...catalog import BLOCKS
from ..families import RECURRENT_TYPES, is_type
from ..findings import Finding
from ..rule import LintContext, LintRule
from ..subject import Subject, fix_rule, layer_rule, tensor_of
from .static import subject_finding

#: The recurrent types with a forget gate.
_LSTM = ("LSTM", "LSTMCell")


def _block_rows(s: Subject, block: str) -> tuple[int, int] | None:
    if block in s.param.blocks:
        b = s.param.blocks[block]
        return b.start, b.stop
    names = next((v for k, v in BLOCKS.items() if is_type(s.layer, (k,))), None)
    if names is None or block not in names:
        return None
    size = s.param.shape[0] // len(names)
    i = names.index(block)
    return i * size, (i + 1) * size


class LstmForgetBias(LintRule):
    """What:
    An LSTM whose forget-gate bias (bias_ih + bias_hh, forget block) averages under
    ``forget-bias``.

    Below ``forget-closed`` (default -2: the gate keeps sigmoid(-2) = 12% of the cell's
    memory per step, 10^-9 after ten steps) the LSTM forgets everything at every step from
    the start: a warning. The fix writes the forget block of both biases (the gate sees
    their sum): ``LSTM.bias*[forget] -> ones()`` puts 1 in ``bias_ih`` and 0 in
    ``bias_hh``.

    Why:
    With a forget bias near 0 the gate starts half closed and gradients through the cell
    state decay quickly; a bias of 1 keeps memory open at the start (Gers et al. 2000;
    Jozefowicz, Zaremba & Sutskever 2015).

    Anti-pattern:
        LSTM.bias* -> zeros()

    Fix:
        LSTM.bias*[forget] -> ones()
    """

    code = "IP110"
    name = "lstm-forget-bias"
    severity = "info"
    kind = "static"
    summary = "LSTM forget-gate bias near 0 (1 keeps the memory open)"
    uses = ("forget-bias", "forget-closed")

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit, closed = ctx.t("forget-bias"), ctx.t("forget-closed")
        for s in ctx.subjects:
            if not s.param.local.startswith("bias_ih") or not is_type(s.layer, _LSTM):
                continue
            mean = _forget_bias(s, ctx)
            if mean is None or mean >= limit:
                continue
            suffix = s.param.local[len("bias_ih") :]
            f = subject_finding(
                cls,
                s,
                f"forget-gate bias of {s.layer.name} averages {mean:.3g} (bias_ih + bias_hh); "
                + (
                    f"the gate keeps {_sigmoid(mean):.2g} of the cell's memory per step: the "
                    "LSTM forgets everything at every step; "
                    if mean < closed
                    else ""
                )
                + "a bias of 1 keeps the cell's memory open at the start of training",
                measured=mean,
                expected=1.0,
                fix=layer_rule(s.layer, "ones()", f"bias*{suffix}", "forget"),
            )
            if mean < closed:
                f.severity = "warning"
            yield f


def _per_block(s: Subject, scheme: str, blocks: list[str]) -> str | None:
    """One rule per block of a packed tensor (each gate its own matrix), or None where a
    selector cannot be written."""
    rules = [fix_rule(s.layer, s.param, scheme, b) for b in blocks]
    return None if None in rules else "\n".join(r for r in rules if r)


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0


def _forget_bias(s: Subject, ctx: LintContext) -> float | None:
    """Mean forget-gate bias of an LSTM's ``bias_ih*`` plus its ``bias_hh*`` twin (the
    gate sees their sum), or None when the forget block cannot be found."""
    from ..sharded import block_mean

    rows = _block_rows(s, "forget")
    if rows is None:
        return None
    mean = block_mean(s.tensor, rows)
    hh_local = "bias_hh" + s.param.local[len("bias_ih") :]
    hh = next((p for p in s.layer.parameters if p.local == hh_local), None)
    if hh is not None:
        t = tensor_of(ctx.model, s.layer, hh)
        if t is not None:  # the mean of the sum, over the block's rows
            mean += block_mean(t, rows)
    return mean


def _orthogonal_error(t: Any, rows: tuple[int, int] | None = None) -> float | None:
    """Largest |MᵀM/c - I| entry for the best scale c (0 for a scaled orthogonal matrix)
    of ``t`` (or its rows), over its shorter side; None where a sharded tensor's shards
    cut the side the Gram matrix sums over (:func:`initpolicy.linter.sharded.gram`)."""
    import torch

    from ..sharded import gram

    g = gram(t, rows)
    if g is None:
        return None
    c = float(torch.diagonal(g).mean())
    if c <= 0:
        return float("inf")
    return float((g / c - torch.eye(g.shape[0], dtype=g.dtype)).abs().max())


class NonOrthogonalRecurrent(LintRule):
    """What:
    A recurrent weight (RNN/LSTM/GRU ``weight_hh*``) that is not orthogonal up to scale,
    neither as a whole nor gate block by gate block (largest |WᵀW/c - I| entry over
    ``orthogonality``).

    Why:
    The recurrent matrix is applied once per time step, so the network is as deep as the
    sequence is long; an orthogonal matrix keeps all singular values at 1 and the
    signal's norm over time (Saxe, McClelland & Ganguli 2013; Le, Jaitly & Hinton 2015).

    The fix is one rule per gate block (``LSTM.weight_hh_l0[input] -> orthogonal()``, ...):
    each gate multiplies the hidden state by its own block, and one orthogonal 4H x H
    matrix is only semi-orthogonal, its blocks not orthogonal.

    Anti-pattern:
        LSTM.weight_hh* -> default

    Fix:
        LSTM.weight_hh*[forget] -> orthogonal()
    """

    code = "IP111"
    name = "non-orthogonal-recurrent"
    severity = "info"
    kind = "static"
    summary = "recurrent weights that are not orthogonal (deep in time)"
    uses = ("orthogonality",)

    @classmethod
    def check(cls, ctx: LintContext) -> Iterator[Finding]:
        limit = ctx.t("orthogonality")
        for s in ctx.subjects:
            if not is_type(s.layer, RECURRENT_TYPES) or not s.param.local.startswith("weight_hh"):
                continue
            if s.param.ndim != 2 or not s.stats.finite:
                continue
            worst = _recurrent_error(s, limit)
            if worst is None:
                continue
            gates = [b for b in _gate_names(s) if _block_rows(s, b) is not None]
            yield subject_finding(
                cls,
                s,
                f"{s.name} is not orthogonal (largest |WᵀW/c - I| entry {worst:.2f}): the "
                "recurrence multiplies the hidden state by it at every time step"
                + (
                    "; each gate block gets its own orthogonal matrix (one orthogonal "
                    f"{s.param.shape[0]}x{s.param.shape[1]} would leave the blocks "
                    "non-orthogonal)"
                    if gates
                    else ""
                ),
                measured=worst,
                expected=0.0,
                fix=_per_block(s, "orthogonal()", gates) if gates else s.fix("orthogonal()"),
            )


def _gate_names(s: Subject) -> tuple[str, ...]:
    """The gate blocks of a packed recurrent tensor (LSTM/GRU), () for a plain RNN."""
    return next((v for k, v in BLOCKS.items() if is_type(s.layer, (k,))), ())


def _recurrent_error(s: Subject, limit: float) -> float | None:
    """The orthogonality error of the weight: block by block for packed gates (each gate
    multiplies the hidden state by its own block, so a 4H x H matrix orthogonal as a whole,
    whose blocks are not, is not orthogonal where it matters: vwxyzjn/cleanrl#358), whole
    otherwise; None when it is within ``limit``."""
    names = _gate_names(s)
    whole = _orthogonal_error(s.tensor)
    if whole is None or (whole <= limit and not names):
        return None
    errors = [
        _orthogonal_error(s.tensor, r) for r in (_block_rows(s, b) for b in names) if r is not None
    ]
    per_block = [e for e in errors if e is not None]
    if len(per_block) < len(errors) or (per_block and max(per_block) <= limit):
        return None
    return max(per_block) if per_block else whole
