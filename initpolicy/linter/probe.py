"""The dynamic pass: inputs for the model (given, else inferred, widened to a batch) and one
forward and backward pass that measures each layer at initialization, leaving the
model exactly as it was (module modes, buffers such as BatchNorm's running statistics,
``.grad`` of every parameter, and torch's global RNG).

The pass runs in training mode (BatchNorm uses batch statistics, as in the first training
step) with dropout switched off so the numbers are deterministic; a model that cannot run
in training mode without more than its inputs (a detector wants targets) runs in eval
mode with its normalization layers on batch statistics, and the summary says so
(``dynamic_inputs``). Gradients come from
``torch.autograd.grad``, which never touches ``.grad``; the loss is the model's first
floating output projected on a fixed random direction.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from ..catalog import facts
from ..tracer import Layer, ModelGraph
from .structure import judged_activation

#: Set while the streamed pass judges a part's tensors in the middle of the forward pass
#: (:mod:`initpolicy.linter.stream`): a static rule calls a module on inputs of its own (a
#: norm's output scale, IP111), which the pass's hooks must not take for the model's.
_QUIET = [False]


@contextmanager
def unobserved() -> Iterator[None]:
    """Module calls inside are not the dynamic pass's: its hooks let them pass."""
    was, _QUIET[0] = _QUIET[0], True
    try:
        yield
    finally:
        _QUIET[0] = was


def observed() -> bool:
    """Whether a module call is the dynamic pass's own (not inside :func:`unobserved`)."""
    return not _QUIET[0]


def saturation_edge(activation: str, d: float) -> float:
    """|x| beyond which the activation's derivative is under ``d`` times its maximum.

    >>> round(saturation_edge("tanh", 0.05), 3)
    2.178
    """
    if activation == "tanh":
        return math.atanh(math.sqrt(1 - d))
    if activation == "sigmoid":
        s = (1 + math.sqrt(1 - d)) / 2
        return math.log(s / (1 - s))
    return 3.0  # hard variants: derivative 0 outside [-3, 3]


@dataclass
class LayerStat:
    """Per-layer numbers of the dynamic pass (the text table and ``--plot`` draw these)."""

    name: str
    type: str
    activation: str
    depth: int
    out_std: float | None = None
    grad_norm: float | None = None
    grad_rms: float | None = None
    dead: float | None = None
    saturated: float | None = None
    #: Output units (channels or features) the dead and saturated shares are taken over,
    #: and the values per unit (examples x positions) they are taken from.
    units: int | None = None
    samples: int | None = None
    #: NaN/Inf in the layer's output (forward) or in its weight's gradient (backward).
    finite: bool = True
    grad_finite: bool = True
    #: Std of the layer's input, for a layer that reads a residual stream
    #: (``GraphRoles.reads_stream``): the stream entering its block.
    in_std: float | None = None


def preserved(model: Any) -> AbstractContextManager[None]:
    """Restore modes, buffers, gradients and the global RNG state on exit."""
    from ..tracer import preserved as _preserved

    return _preserved(model, eval_mode=False)


def first_tensor(out: Any) -> Any:
    """The first floating tensor in a (nested) model output (the tracer's walk of it)."""
    from ..tracer import tensors_in

    return next((t for t in tensors_in(out) if t.is_floating_point()), None)


def _unit_dim(layer: Layer, ndim: int) -> int:
    if ndim >= 3 and any(t.startswith(("Conv", "_Conv")) and t != "Conv1D" for t in layer.types):
        return 1
    return ndim - 1


def _measure(layer: Layer, out: Any, st: LayerStat, d: float) -> None:
    import torch

    x = out.detach()
    if not x.is_floating_point() or x.numel() == 0:
        return
    x = x.double()
    st.finite = bool(torch.isfinite(x).all())
    if not st.finite:
        return
    by_unit = x.reshape(1, -1) if x.ndim < 2 else x.transpose(_unit_dim(layer, x.ndim), -1)
    by_unit = by_unit.reshape(-1, by_unit.shape[-1])
    # Variation across examples only: a constant (the bias) carries no information, and
    # would hide a vanishing signal under its floor.
    st.out_std = float(by_unit.var(dim=0, correction=0).mean().sqrt())
    st.units, st.samples = int(by_unit.shape[-1]), int(by_unit.shape[0])
    plain = not layer.resolution.normalized and not layer.resolution.residual
    act = facts(st.activation)
    if plain and act.dead_region and x.ndim >= 2:
        st.dead = float(1 - (by_unit > 0).any(dim=0).double().mean())
    if plain and act.saturating and act.elementwise:
        st.saturated = float((x.abs() > saturation_edge(st.activation, d)).double().mean())


def _main_weight(layer: Layer) -> Any:
    mod = layer.module
    if mod is None:
        return None
    found = [getattr(mod, p.local, None) for p in layer.parameters if p.kind == "parameter"]
    params = [p for p in found if p is not None and p.requires_grad]
    mats = [p for p in params if p.ndim >= 2]
    return (mats or params or [None])[0]


#: How the pass sets module modes, in the order it tries them.
MODES = {
    "training": "training mode",
    "eval": "eval mode with normalization on batch statistics",
}


def _set_modes(model: Any, mode: str) -> None:
    from ..tracer import normalizes

    for m in model.modules():
        if mode == "training":
            # training-mode BatchNorm as in the first step, but no random dropout masks
            m.training = "Dropout" not in type(m).__name__
        else:
            m.training = normalizes(m)


def probe(
    model: Any,
    graph: ModelGraph,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    saturation: float,
    mode: str = "training",
    backward: bool = True,
    tick: Any = None,
) -> list[LayerStat]:
    """Run ``model(*args, **kwargs)`` and backward; per-layer statistics in execution
    order. The model is restored (see :func:`preserved`). ``mode`` is a key of
    :data:`MODES`. ``backward=False``: the forward alone, under no_grad (a model streamed
    part by part cannot keep every weight for a backward pass)."""
    import torch

    stats = {
        lay.name: LayerStat(lay.name, lay.type, judged_activation(lay, graph.roles), lay.depth)
        for lay in graph.layers
    }
    handles = []

    def hook_for(layer: Layer) -> Any:
        seen = [False]

        def hook(_m: Any, inputs: Any, out: Any) -> None:
            if seen[0] or _QUIET[0]:
                return
            seen[0] = True
            t = first_tensor(out)
            if t is not None:
                _measure(layer, t, stats[layer.name], saturation)
            x = first_tensor(inputs) if layer.roles.reads_stream else None
            if x is not None and x.is_floating_point() and x.numel() > 1:
                stats[layer.name].in_std = float(x.detach().double().std())
            if tick is not None:
                tick()

        return hook

    with preserved(model), torch.set_grad_enabled(backward):
        _set_modes(model, mode)
        try:
            for lay in graph.layers:
                if lay.module is not None:
                    handles.append(lay.module.register_forward_hook(hook_for(lay)))
            out = first_tensor(model(*args, **kwargs))
        finally:
            for h in handles:
                h.remove()
        if out is None or not out.requires_grad or not backward:
            return [stats[lay.name] for lay in graph.layers]
        g = torch.Generator().manual_seed(0)
        direction = torch.randn(out.shape, generator=g, dtype=torch.float64).to(out)
        loss = (out * direction).sum() / math.sqrt(max(out.numel(), 1))
        weights = [(lay, _main_weight(lay)) for lay in graph.layers]
        pairs = [(lay, w) for lay, w in weights if w is not None]
        grads = torch.autograd.grad(loss, [w for _, w in pairs], allow_unused=True)
        for (lay, _w), gr in zip(pairs, grads, strict=True):
            if gr is None:
                continue
            gd = gr.detach().double()
            st = stats[lay.name]
            if not bool(torch.isfinite(gd).all()):
                st.grad_finite = False
                continue
            st.grad_norm = float(gd.norm())
            st.grad_rms = st.grad_norm / math.sqrt(max(gd.numel(), 1))
    return [stats[lay.name] for lay in graph.layers]


def candidate_calls(model: Any, example_inputs: Any, device: Any = None) -> list[Any]:
    """The given inputs, else every input the tracer can infer (made on ``device``)."""
    from ..tracer import NoInputs, as_call, infer

    if example_inputs is not None:
        return [as_call(example_inputs)]
    try:
        return infer(model, device)
    except NoInputs:
        return []


def run_probe(
    model: Any,
    graph: ModelGraph,
    example_inputs: Any,
    batch: int,
    saturation: float,
    budget: float = 0.5,
    tick: Any = None,
    cap: float | None = None,
) -> tuple[list[LayerStat] | None, str, str]:
    """:func:`probe` on ``example_inputs`` (else on each input the tracer can infer, until
    one runs), widened to ``batch`` examples that stand for data
    (:mod:`initpolicy.linter.batch`); the stats (None when it could not run), what
    happened (``ran``, ``ran (forward only: why)`` or why it was skipped) and what it ran
    on.

    Training mode first, on every candidate input; when the model rejects all of them
    there (a detector asks for targets), once more in eval mode with the normalization
    layers still on batch statistics (as in the first training step).

    The pass is held to a memory budget: ``budget`` (a share of the memory available),
    and at most ``cap`` bytes where one is given (``--memory``). Every run is metered and
    stops itself past the budget; the batch is measured on 2 examples, then grown; when 2
    examples with backward do not fit, the forward pass runs alone (no autograd graph:
    its memory no longer grows with depth); when that does not fit either, the pass is
    skipped (:mod:`initpolicy.linter.memory`).

    >>> import torch
    >>> from initpolicy.tracer.tracing import trace
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> stats, what, inputs = run_probe(model, trace(model), None, 64, 0.05)
    >>> what, inputs, [st.name for st in stats]
    ('ran', 'training mode, 64 examples: input_0 (64, 4) noise', ['0', '2'])
    """
    from ..tracer import raised_at
    from .batch import special_tokens
    from .memory import is_out_of_memory

    calls = candidate_calls(model, example_inputs)
    if not calls:
        return None, "skipped: no example inputs could be inferred (pass --input-shape)", ""
    special = special_tokens(model)
    errors: dict[str, str] = {}
    for mode in MODES:
        for call in calls:
            try:
                stats, what, alone = _budgeted(
                    model, graph, call, batch, special, saturation, mode, budget, tick, cap
                )
            except NoRoom as e:
                return None, f"skipped: {e}", ""
            except (Exception, SystemExit) as e:  # a model rejecting a shape is not a lint failure
                if is_out_of_memory(e):
                    return None, f"skipped: out of memory ({str(e).splitlines()[0][:200]})", ""
                where = raised_at(e)
                at = f" at {where.location}" if where is not None else ""
                errors.setdefault(mode, f"{type(e).__name__}{at}: {e}".splitlines()[0][:300])
                continue
            ran = "ran" if alone is None else f"ran ({alone})"
            if mode == "training":
                return stats, ran, f"training mode, {what}"
            return (
                stats,
                ran,
                f"{MODES[mode]} (training mode failed: {errors['training']}), {what}",
            )
    return None, f"skipped: the forward pass failed ({errors['training']})", ""


class NoRoom(Exception):
    """Not even the smallest pass, the forward alone on 2 examples, fits the budget."""


def _device(model: Any) -> Any:
    return next((p.device for p in model.parameters()), None)


#: What the summary says when only the forward pass ran, and why.
FORWARD_ONLY = (
    "forward only: the gradient checks (IP205, IP204 on gradients) did not run, since the "
    "backward pass on {examples} held more than {budget}, the memory budget"
)
#: The hint of a pass that does not fit its budget.
RAISE_IT = "raise it with --memory or --threshold memory-budget"


def _budgeted(
    model: Any,
    graph: ModelGraph,
    call: Any,
    batch: int,
    special: frozenset[int],
    saturation: float,
    mode: str,
    budget: float,
    tick: Any = None,
    cap: float | None = None,
) -> tuple[list[LayerStat], str, str | None]:
    """:func:`probe` on ``call`` widened to as many of ``batch`` examples as the memory
    budget holds, forward and backward, else the forward alone
    (:func:`run_probe`); the stats, the description of what ran, and why only the forward
    ran (None: both ran). :class:`NoRoom` when neither fits 2 examples."""
    from .batch import batch_size, widen
    from .memory import PeakMeter, available_bytes, mib

    full = batch_size(call, batch)
    free = available_bytes(_device(model)) if budget > 0 else None
    limits = [*([budget * free] if free is not None else []), *([cap] if cap else [])]
    if not limits:
        widened, what = widen(call, batch, special)
        return (
            probe(model, graph, *widened, saturation=saturation, mode=mode, tick=tick),
            what,
            None,
        )
    allowed = min(limits)
    source = " given with --memory" if allowed == cap else f" of {mib(free or 0)} available"

    def run(n: int, backward: bool, peaks: dict[int, int]) -> tuple[list[LayerStat], str]:
        widened, what = widen(call, n, special)
        with PeakMeter(limit=allowed) as meter:
            stats = probe(
                model, graph, *widened, saturation=saturation, mode=mode, backward=backward,
                tick=tick,
            )  # fmt: skip
        peaks[n] = meter.peak
        return stats, what

    floor = "1 example" if full == 1 else "2 examples"
    try:
        stats, what = _grow(run, full, allowed, source, backward=True)
        return stats, what, None
    except MemoryError:  # the floor with backward does not fit: the forward alone
        gc.collect()
    why = FORWARD_ONLY.format(examples=floor, budget=mib(allowed))
    try:
        stats, what = _grow(run, full, allowed, source, backward=False)
    except MemoryError:
        raise NoRoom(
            f"the forward pass alone on {floor} held more than {mib(allowed)}, the memory "
            f"budget{source}; {RAISE_IT}"
        ) from None
    return stats, what, why


def _grow(
    run: Any, full: int, allowed: float, source: str, *, backward: bool
) -> tuple[list[LayerStat], str]:
    """Run on the floor of the batch (2 examples, or the call as given), then grow toward
    ``full`` examples within ``allowed`` bytes: the stats and what ran. A MemoryError (the
    meter's :class:`~initpolicy.linter.memory.OverBudget`, or a failed allocation) when
    the floor does not fit; past the floor, one stops the growth at the last batch that
    ran (:mod:`initpolicy.linter.memory`)."""
    from .memory import OverBudget, fitting_batch, is_out_of_memory, mib

    def failed(e: BaseException, n: int) -> str:
        if isinstance(e, OverBudget):
            return f"over the memory budget at {n}"
        if is_out_of_memory(e):
            return f"out of memory at {n}"
        raise e

    peaks: dict[int, int] = {}
    n = min(2, full)
    try:
        done = run(n, backward, peaks)
    except RuntimeError as e:
        if is_out_of_memory(e):
            raise MemoryError(str(e)) from e
        raise
    if n >= full:
        return done
    if peaks[n] * full / n <= allowed:  # all of it per example, and still fits
        try:
            return run(full, backward, {})
        except (RuntimeError, MemoryError) as e:
            stats, what = done
            return stats, what + f" ({failed(e, full)} examples; {full} asked)"
    # grow by doubling while the line through the last two peaks says the next fits
    while 2 * n < full:
        grown, _per, _fixed = fitting_batch(peaks, 2 * n, allowed)
        if grown < 2 * n:
            break
        try:
            attempt = run(2 * n, backward, peaks)
        except (RuntimeError, MemoryError) as e:
            failed(e, 2 * n)
            break
        n, done = 2 * n, attempt
    last = dict(sorted(peaks.items())[-2:])
    target, per, fixed = fitting_batch(last, full, allowed)
    note = (
        f" (memory budget {mib(allowed)}{source}: {mib(per)} per example, "
        f"{mib(fixed)} fixed, measured on {', '.join(map(str, sorted(peaks)))}; {full} asked)"
    )
    if target >= full or target > n * 5 // 4:
        try:
            stats, what = run(min(target, full), backward, {})
            return stats, what + (note if target < full else "")
        except (RuntimeError, MemoryError) as e:
            note += f"; {failed(e, min(target, full))}"
    stats, what = done
    return stats, what + note
