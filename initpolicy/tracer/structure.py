"""Trace a sharded model as the model it stands for: no hooks, no collectives, global
shapes, nothing materialized.

Everything planning needs is on a sharded model already: a DTensor's ``shape`` is
global, FSDP2 keeps parameter names (no prefix), and a ``fully_shard``-ed module is its
own class with ``FSDPModule`` mixed in (``FSDPGPT2Block(FSDPModule, GPT2Block)``). What
must not happen while tracing: FSDP2's forward hooks (all-gather, reshard) or tensor
parallel's (redistribute) running, a DTensor op dispatching (a collective, or a view
that uneven shards refuse), a ``deepcopy`` (FSDP2 forbids it). So, for the duration of
the trace and in place (restored in ``finally``), :func:`structure_view`:

1. puts back each wrapped module's own class, so types and MRO names are the model's
   (``GPT2Block``), and transformers' ``Conv1D`` is not taken for a torch class (its
   wrapper class's ``__module__`` is torch's);
2. empties every module's forward hooks (first resharding any FSDP2 module a forward
   left unsharded: local, no collective);
3. replaces every parameter and buffer with a plain meta tensor of its global shape,
   dtype and ``requires_grad``, one per distinct tensor (ties stay ties).

The tracer and the planner then run exactly as on a model built on meta, so fans,
gains, ``count()`` and ``n_layers`` come from the whole model on every rank.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from ..shards import placement_text, wrapper_classes

_HOOKS = (
    "_forward_pre_hooks",
    "_forward_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
)


@contextmanager
def structure_view(model: torch.nn.Module) -> Iterator[dict[str, str]]:
    """The model, temporarily unwrapped, hook-free and on meta (see the module doc).
    Yields the placement of every DTensor (:func:`~initpolicy.shards.dtensor.placement_text`)
    by each of its qualified names."""
    wrappers = wrapper_classes()
    classes: list[tuple[torch.nn.Module, type]] = []
    hooks: list[tuple[torch.nn.Module, str, Any]] = []
    slots: list[tuple[dict[str, Any], str, Any]] = []  # (module._parameters or _buffers, ...)
    stand_ins: dict[int, Any] = {}
    named = (*model.named_parameters(remove_duplicate=False), *model.named_buffers())
    placements = {n: p for n, p in ((n, placement_text(t)) for n, t in named) if p is not None}
    for m in model.modules():
        if type(m) in wrappers:
            # FSDP2 leaves a root unsharded after forward (reshard_after_forward=False):
            # put its shards back in the module (local, no collective), so the tensors
            # seen and then written are the sharded ones
            m.reshard()  # type: ignore[operator]
    try:
        for m in model.modules():
            cls = type(m)
            if cls in wrappers:
                classes.append((m, cls))
                while cls in wrappers:
                    cls = wrappers[cls]
                m.__class__ = cls
            for attr in _HOOKS:
                d = m.__dict__.get(attr)
                if d:
                    hooks.append((m, attr, d))
                    object.__setattr__(m, attr, type(d)())
            stores: tuple[tuple[dict[str, Any], bool], ...] = (
                (m._parameters, True),
                (m._buffers, False),
            )
            for store, is_param in stores:
                for key, t in list(store.items()):
                    if t is None:
                        continue
                    new = stand_ins.get(id(t))
                    if new is None:
                        new = torch.empty(tuple(t.shape), dtype=t.dtype, device="meta")
                        if is_param:
                            new = torch.nn.Parameter(new, requires_grad=t.requires_grad)
                        stand_ins[id(t)] = new
                    slots.append((store, key, t))
                    store[key] = new
        yield placements
    finally:
        for store, key, t in reversed(slots):
            store[key] = t
        for m, attr, d in hooks:
            object.__setattr__(m, attr, d)
        for m, cls in classes:
            m.__class__ = cls
