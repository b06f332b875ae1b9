"""The Report's measured std: of the values each entry wrote, of the whole tensor (or
block), even when the tensor is spread over ranks (:mod:`initpolicy.shards.moments`).

Measured on 64 runs of 1024 contiguous elements for a tensor above 2^16 elements
(exactly below), at the same global positions whatever the placement, so a sharded
model reports the numbers a single process does, up to float summation order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..planner import Entry, Plan
from ..shards import gather_moments, is_dtensor, measure_rows, mesh_device_type
from ..tracer import block_of, legacy_weight_norm


def written(e: Entry, t: Any) -> tuple[Any, tuple[int, int] | None]:
    """What an entry wrote, to measure: the tensor and the rows of its block (None: all
    of it); for a parametrization, the weight it computes."""
    if e.param.parametrization is None:
        b = block_of(e.param, e.block)
        return t, (None if b is None else (b.start, b.stop))
    hook = legacy_weight_norm(t, e.param.local)
    if hook is not None:  # the legacy weight_norm: t is the module holding g and v
        return hook.compute_weight(t), None
    if e.param.parametrization == "weight_norm":
        import torch

        return torch._weight_norm(t.original1, t.original0, t[0].dim), None
    # spectral_norm: the stored weight, which is the draw (computing the normalized one in
    # training mode would advance the power iteration)
    stored = (q for q in t._parameters.values() if q is not None)
    return max(stored, key=lambda q: (q.dim(), q.numel())), None


def measure_local(plan: Plan, slots: dict[int, Any]) -> np.ndarray:
    """This rank's part: the moments of the values it holds of each entry's sample."""
    items = [written(e, slots[id(e)]) for e in plan.entries]
    return measure_rows(items, sample=True, reducing=_sharded(slots))


def _sharded(slots: dict[int, Any]) -> bool:
    return any(is_dtensor(t) for t in slots.values())


def measure_whole(
    plan: Plan, slots: dict[int, Any], local: np.ndarray | None
) -> list[float | None]:
    """Each entry's measured std (sample std, ``ddof=1``), from every rank's part;
    ``local`` None: this rank failed (on a sharded model the others learn it here, and
    raise :class:`~initpolicy.errors.PeerError`)."""
    sharded = _sharded(slots)
    if local is None and not sharded:
        return []
    failed = local is None
    rows = np.zeros((len(plan.entries), 6)) if local is None else local  # the others' shape
    device_type = mesh_device_type(list(slots.values()))
    moments = gather_moments(rows, reducing=sharded, failed=failed, device_type=device_type)
    if failed:
        return []
    out: list[float | None] = []
    for e, m in zip(plan.entries, moments, strict=True):
        t, _ = written(e, slots[id(e)])
        if not t.is_floating_point():  # an int buffer a rule kept: no spread to measure
            out.append(0.0 if e.param.numel else None)
        else:
            out.append(m.std(correction=1))
    return out
