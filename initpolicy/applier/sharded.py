"""What the applier does differently on a sharded model (FSDP2, tensor parallel):
materialize through ``to_empty``, and run a module's own init on whole stand-ins.

Writes need nothing special: every rank writes its shard's region of each stream
(:mod:`initpolicy.applier.writes`), so the gathered tensor is the single-process one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..shards import is_dtensor, local_tensor, local_view
from .meta import Materialized, tensors


class MaterializedShards(Materialized):
    """A sharded meta model after ``to_empty``; :meth:`undo` puts it back on meta."""

    def __init__(self, model: Any, kept: list[tuple[Any, str, bool, Any]]):
        super().__init__()
        self.model = model
        self.kept = kept

    def undo(self) -> None:
        _retie(self.model, lambda: self.model.to_empty(device="meta"))
        for module, key, is_param, t in self.kept:
            (module._parameters if is_param else module._buffers)[key] = t


def materialize_sharded(model: Any, device: Any, zero: list[str]) -> MaterializedShards:
    """``model.to_empty(device)``: FSDP2 re-pads each rank's shard in its own storage
    (per-tensor replacement would take the parameters away from FSDP2 and allocate them
    whole on every rank); DTensors keep their identity (``swap_tensors``), so a tied
    DTensor stays one tensor, and plain tensors tied under several names are re-tied.
    Tensors that already had values keep them; ``zero`` names are zero-filled."""
    slots = list(tensors(model))
    kept = [(m, k, p, t) for _, m, k, t, p in slots if not t.is_meta and not is_dtensor(t)]
    done = MaterializedShards(model, kept)
    _retie(model, lambda: model.to_empty(device=device))
    for module, key, is_param, t in kept:
        (module._parameters if is_param else module._buffers)[key] = t
    zero_set = set(zero)
    for (_, _, _, old, _), (mod_name, _, key, new, _) in zip(slots, tensors(model), strict=True):
        done.new[id(old)] = new
        if (f"{mod_name}.{key}" if mod_name else key) in zero_set:
            local_tensor(new).zero_()
    return done


def _retie(model: Any, move: Any) -> None:
    """Run ``move`` (a ``to_empty``), then give every slot that shared a tensor before
    the one tensor its first slot has now (``to_empty`` unties plain tensors)."""
    groups: dict[int, list[tuple[Any, str, bool]]] = {}
    for _, module, key, t, is_param in tensors(model):
        groups.setdefault(id(t), []).append((module, key, is_param))
    move()
    for slots in groups.values():
        m0, k0, p0 = slots[0]
        first = (m0._parameters if p0 else m0._buffers)[k0]
        for m, k, p in slots[1:]:
            (m._parameters if p else m._buffers)[k] = first


@contextmanager
def whole_stand_ins(module: Any) -> Iterator[list[Any]]:
    """While the block runs, each DTensor of ``module`` is a plain CPU tensor of its
    global shape (a module's own init draws from the global RNG and couples the whole
    tensor: computed whole, identically on every rank); afterwards each rank copies its
    shard out of it. Yields the DTensors swapped. Costs the module's full size."""
    import torch

    swapped: list[tuple[dict[str, Any], str, Any, Any]] = []
    for store in (module._parameters, module._buffers):
        for key, t in list(store.items()):
            if is_dtensor(t):
                full = torch.empty(tuple(t.shape), dtype=t.dtype)
                if store is module._parameters:
                    full = torch.nn.Parameter(full, requires_grad=t.requires_grad)
                swapped.append((store, key, t, full))
                store[key] = full
    try:
        yield [t for _, _, t, _ in swapped]
    finally:
        for store, key, t, _ in swapped:
            store[key] = t
    for _, _, t, full in swapped:
        local, idx = local_view(t)
        part = full.detach()
        for d, ix in enumerate(idx):
            part = (
                part.narrow(d, ix.start, len(ix))
                if isinstance(ix, range)
                else part.index_select(d, ix)
            )
        local.copy_(part)
