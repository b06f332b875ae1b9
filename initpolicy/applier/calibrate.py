"""Calibration: a plan's ``lsuv`` entries rescaled on data, layer by layer in data-flow
order, and the policy that replays the result without data.

LSUV (Mishkin & Matas 2016): after the inner scheme's draw ``W0``, each calibrated layer
in execution order gets ``W = W0 · s`` with ``s`` updated as ``s ← s · sqrt(target / v)``
until the variance ``v`` of the layer's output on the data is within ``tol`` of
``target``, at most ``max_iter`` updates. Every ``W`` is written from ``W0`` by one
multiply (:func:`~initpolicy.applier.writes.scale_entry`), exactly what
``scaled(SCHEME, s)`` does when the replay policy is applied, so the replay is bit for bit.

Cost. A layer's input is captured by a forward that stops at the layer (a pre-hook
raises), and the layer alone is re-run on it for every update: the prefixes add up to
about half a forward per layer, updates cost one layer each. A module called more than
once per forward (shared weights) is measured over all its calls by full forwards.

Distributed. Under ``torch.distributed`` every rank passes its shard of the batch; the
sums behind each variance (``Σx``, ``Σx²``, ``n`` in float64) are all-reduced over the
data-parallel group (DDP's process group, the FSDP2 mesh's; the default group for a plain
model), so every rank takes the same decisions. On an FSDP2 model each factor multiplies
the local shards, every measurement is a full forward (a layer cannot run alone on its
shards), and the all-gathered parameters are freed after each forward so that the next
one gathers the rescaled shards. Factors are rounded to :data:`DIGITS` significant digits,
far finer than any tolerance, so that float64 summation order (world size) cannot change
the written policy.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..planner import Entry, Plan
from ..shards import is_dtensor, local_view, reshard
from ..tracer import Call
from .execution import _tensor, execute
from .report import Report
from .writes import scale_entry, visible_rows

#: Significant digits of a recorded factor.
DIGITS = 6


@dataclass(frozen=True)
class LayerRecord:
    """One calibrated layer: its output variance before and after, the factor, and how
    many updates it took (0: already within tol)."""

    layer: str
    tensors: tuple[str, ...]
    before: float
    after: float
    scale: float
    iterations: int
    converged: bool
    target: float
    tol: float

    def to_json(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "tensors": list(self.tensors),
            "variance_before": self.before,
            "variance_after": self.after,
            "scale": self.scale,
            "iterations": self.iterations,
            "converged": self.converged,
        }


@dataclass
class Calibrated:
    """What :func:`calibrate_plan` did: the records and the factor of every entry."""

    report: Report
    records: list[LayerRecord] = field(default_factory=list)
    #: Per calibrated entry (by ``id``), the factor its draw was multiplied by.
    factors: dict[int, float] = field(default_factory=dict)
    #: Seconds spent drawing the plan (``apply``) and rescaling on data (``lsuv``).
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def not_converged(self) -> list[LayerRecord]:
        return [r for r in self.records if not r.converged]


class _Stop(Exception):
    """Raised by a pre-hook once a layer's input is captured: the rest of the forward is
    not needed."""


def round_factor(x: float) -> float:
    """``x`` to :data:`DIGITS` significant digits.

    >>> round_factor(1.23456789)
    1.23457
    """
    return float(f"{x:.{DIGITS}g}")


def calibrate_plan(
    plan: Plan, model: Any, call: Call, *, threads: int | None = None, group: Any = None
) -> Calibrated:
    """Apply ``plan`` (its calibration entries drawn by their inner scheme), then rescale
    them on ``call`` (this rank's inputs: ``(args, kwargs)``), the statistics summed over
    the process ``group`` (None: the default group). In place; see the module doc."""
    start = time.perf_counter()
    report = execute(plan, model, threads=threads, calibrating=True)
    out = Calibrated(report=report, seconds={"apply": time.perf_counter() - start})
    start = time.perf_counter()
    visible = visible_rows(plan.entries)
    layers: dict[str, list[int]] = {}
    for k, e in enumerate(plan.entries):
        if e.calibration is not None and visible[k]:
            layers.setdefault(e.layer.name, []).append(k)
    if not layers:
        return out
    order = sorted(layers, key=lambda n: plan.entries[layers[n][0]].layer.depth)
    modules = {n: plan.entries[layers[n][0]].layer.module for n in order}
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            calls = _call_counts(model, list(modules.values()), call)
            reshard(model)
            for name in order:
                ks = layers[name]
                entries = [plan.entries[k] for k in ks]
                rows = [visible[k] for k in ks]
                measure = _measure(
                    model, modules[name], call, calls.get(id(modules[name]), 0), group
                )
                record, factor = _lsuv(name, model, entries, rows, measure)
                out.records.append(record)
                for e in entries:
                    out.factors[id(e)] = factor
    finally:
        model.train(was_training)
    out.seconds["lsuv"] = time.perf_counter() - start
    return out


def _lsuv(
    name: str,
    model: Any,
    entries: list[Entry],
    rows: list[list[Any]],
    measure: Callable[[], float],
) -> tuple[LayerRecord, float]:
    opts = entries[0].calibration or {}
    target, tol = float(opts["target"]), float(opts["tol"])
    max_iter = int(opts["max_iter"])
    tensors = [_tensor(model, e) for e in entries]
    originals = {id(t): local_view(t)[0].detach().clone() for t in tensors}
    before = v = measure()
    factor, it = 1.0, 0
    while abs(v - target) > tol and it < max_iter and math.isfinite(v) and v > 0:
        factor = round_factor(factor * math.sqrt(target / v))
        for t in tensors:
            local_view(t)[0].detach().copy_(originals[id(t)])
        for e, t, spans in zip(entries, tensors, rows, strict=True):
            for r in spans:
                scale_entry(e, t, factor, r)
        v = measure()
        it += 1
    record = LayerRecord(
        layer=name,
        tensors=tuple(e.name for e in entries),
        before=before,
        after=v,
        scale=factor,
        iterations=it,
        converged=abs(v - target) <= tol,
        target=target,
        tol=tol,
    )
    return record, factor


def _first_tensor(value: Any) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, tuple | list):
        for v in value:
            t = _first_tensor(v)
            if t is not None:
                return t
    return None


def _sums(outputs: list[Any]) -> torch.Tensor:
    """``[Σx, Σx², n]`` in float64 over the first tensor of each output."""
    acc: torch.Tensor | None = None
    for value in outputs:
        t = _first_tensor(value)
        if t is None:
            continue
        x = t.detach().to(torch.float64)
        s = torch.stack(
            [x.sum(), (x * x).sum(), torch.tensor(float(x.numel()), dtype=x.dtype, device=x.device)]
        )
        acc = s if acc is None else acc + s
    if acc is None:
        raise RuntimeError("the calibrated layer returned no tensor")
    return acc


def _variance(outputs: list[Any], group: Any = None) -> float:
    """The variance of the outputs over this rank's data, or over every rank's of ``group``."""
    s = _sums(outputs)
    if _world(group) > 1:
        torch.distributed.all_reduce(s, group=group)
    total, squares, n = (float(v) for v in s.cpu())
    if n == 0:
        return float("nan")
    mean = total / n
    return squares / n - mean * mean


def _world(group: Any = None) -> int:
    dist = torch.distributed
    return dist.get_world_size(group) if dist.is_available() and dist.is_initialized() else 1


def _call_counts(model: Any, modules: list[Any], call: Call) -> dict[int, int]:
    counts: dict[int, int] = {}

    def hook(m: Any, args: Any) -> None:
        counts[id(m)] = counts.get(id(m), 0) + 1

    handles = [m.register_forward_pre_hook(hook) for m in {id(m): m for m in modules}.values()]
    try:
        model(*call[0], **call[1])
    finally:
        for h in handles:
            h.remove()
    return counts


def _measure(
    model: Any, module: Any, call: Call, calls: int, group: Any = None
) -> Callable[[], float]:
    """How the layer's output variance is measured: on its captured input (called once
    per forward), or over full forwards (called several times, or never, or its
    parameters are shards)."""
    if calls == 1 and not any(is_dtensor(p) for p in module.parameters()):
        captured: list[tuple[Any, dict[str, Any]]] = []

        def grab(m: Any, args: Any, kwargs: Any) -> None:
            captured.append((args, kwargs))
            raise _Stop

        handle = module.register_forward_pre_hook(grab, with_kwargs=True)
        try:
            model(*call[0], **call[1])
        except _Stop:
            pass
        finally:
            handle.remove()
        args, kwargs = captured[0]
        return lambda: _variance([module(*args, **kwargs)], group)

    def full() -> float:
        outs: list[Any] = []
        handle = module.register_forward_hook(lambda m, a, o: outs.append(o))
        try:
            model(*call[0], **call[1])
        finally:
            handle.remove()
            reshard(model)
        return _variance(outs, group)

    return full


# ------------------------------------------------------------------------- data identity


def _samples(call: Call) -> list[torch.Tensor]:
    args, kwargs = call
    tensors = [a for a in args if isinstance(a, torch.Tensor)]
    tensors += [kwargs[k] for k in sorted(kwargs) if isinstance(kwargs[k], torch.Tensor)]
    return tensors


def data_identity(call: Call, group: Any = None) -> tuple[str, str]:
    """``(shapes, sha256)`` of the global calibration batch: the shapes with the batch
    dimension summed over ranks, and the sha256 of the per-sample sha256s in rank order,
    so every world size that splits one batch into contiguous shards names it alike."""
    tensors = _samples(call)
    digests: list[str] = []
    n = int(tensors[0].shape[0]) if tensors and tensors[0].dim() > 0 else 1
    for i in range(n):
        h = hashlib.sha256()
        for t in tensors:
            row = t[i] if t.dim() > 0 else t
            h.update(str(row.dtype).encode() + str(tuple(row.shape)).encode())
            h.update(
                row.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
            )
        digests.append(h.hexdigest())
    total = n
    world = _world(group)
    if world > 1:
        gathered: list[Any] = [None] * world
        torch.distributed.all_gather_object(gathered, digests, group=group)
        digests = [d for part in gathered for d in part]
        total = len(digests)
    shapes = ", ".join(
        f"{str(t.dtype).replace('torch.', '')}{[total, *t.shape[1:]] if t.dim() else []}"
        for t in tensors
    )
    return shapes, hashlib.sha256("".join(digests).encode()).hexdigest()


# ------------------------------------------------------------------------- the replay


def replay_text(plan: Plan, done: Calibrated, data: tuple[str, str], what: str) -> str:
    """The policy that replays ``plan`` as calibrated, without data: one rule per planned
    tensor (evaluated arguments, exact floats), a calibrated one as
    ``scaled(INNER, factor)``; ``seed`` the plan's. ``what`` names the calibration in the
    header (the policy, and where the data came from). Printed by the language's printer."""
    from ..language import Num, SchemeArg, SchemeCall, Selector, Word, is_type_name
    from ..language import comment as printer_comment
    from ..language import literal_glob as printer_literal_glob
    from ..language import rule_text as printer_rule_text

    def call(name: str, values: dict[str, Any]) -> SchemeCall:
        args = tuple(
            SchemeArg(name=k, value=Word(value=v) if isinstance(v, str) else Num(value=float(v)))
            for k, v in values.items()
        )
        return SchemeCall(name=name, args=args)

    shapes, sha = data
    lines = [
        printer_comment(f"Calibrated by initpolicy: {what}"),
        printer_comment(f"data: {shapes}, sha256 {sha}"),
    ]
    if done.records:
        bad = done.not_converged
        lines.append(
            printer_comment(
                f"{len(done.records)} layers rescaled, "
                + (
                    f"{len(bad)} not converged: {', '.join(r.layer for r in bad)}"
                    if bad
                    else "all converged"
                )
            )
        )
    lines += [
        printer_comment("Replays the calibrated weights bit for bit, without data."),
        f"seed {plan.seed}",
    ]
    for e in plan.entries:
        factor = done.factors.get(id(e))
        scheme = call(e.scheme, dict(e.args))
        if factor is not None or e.scale is not None:
            scale = factor if factor is not None else e.scale
            assert scale is not None
            factor_arg = SchemeArg(name="factor", value=Num(value=float(scale)))
            scheme = SchemeCall(name="scaled", args=(factor_arg,), inner=scheme)
        elif e.transform is not None:  # the draw through its map, folded for this tensor
            fn_arg = SchemeArg(name="fn", value=e.transform)
            scheme = SchemeCall(name="mapped", args=(fn_arg,), inner=scheme)
        typ = e.layer.type if is_type_name(e.layer.type or "") else "*"
        sel = Selector(
            types=(typ,),
            param=e.param.local,
            block=e.block,
            named=printer_literal_glob(e.layer.name),
        )
        lines.append(printer_rule_text(sel, scheme))
    return "\n".join(lines) + "\n"
