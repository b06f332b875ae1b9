"""Which ranks hold the other shards of a batch: the module a data-parallel wrapper runs
and the process group its ranks form (DDP's ``process_group``, the device mesh of an
FSDP2 model's DTensors). Calibration sums its statistics over that group
(docs/calibrate.md#distributed)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UsageError
from .dtensor import is_dtensor


@dataclass(frozen=True)
class DataParallel:
    """The module to run and write (a DDP's ``.module``; the model itself otherwise), the
    group over which per-rank sums are reduced (None: the default group), and whether its
    parameters are DTensors (FSDP2: a layer cannot run alone on its shards)."""

    module: torch.nn.Module
    group: Any = None
    sharded: bool = False


def data_parallel(model: torch.nn.Module) -> DataParallel:
    """The :class:`DataParallel` view of ``model``.

    >>> data_parallel(torch.nn.Linear(2, 2)).group is None
    True
    """
    ddp = getattr(torch.nn.parallel, "DistributedDataParallel", None)
    if ddp is not None and isinstance(model, ddp):
        return DataParallel(model.module, model.process_group, _sharded(model.module))
    meshes: dict[tuple[Any, ...], Any] = {}  # equal meshes (fully_shard makes one per call)
    for p in model.parameters():
        if is_dtensor(p):
            mesh = p.device_mesh  # type: ignore[attr-defined]
            meshes.setdefault(
                (mesh.device_type, tuple(mesh.mesh.shape), *mesh.mesh.flatten().tolist()), mesh
            )
    if not meshes:
        return DataParallel(model)
    if len(meshes) > 1:
        raise UsageError(
            "the model's parameters are sharded over several device meshes; calibrate "
            "sums statistics over one: shard the model over one mesh (fully_shard(model, "
            "mesh=...)) or calibrate it before sharding"
        )
    mesh = next(iter(meshes.values()))
    if mesh.ndim == 1:
        return DataParallel(model, mesh.get_group(), True)
    world = torch.distributed.get_world_size()
    if mesh.size() != world:
        raise UsageError(
            f"the model is sharded over a {tuple(mesh.shape)} mesh of {mesh.size()} of the "
            f"{world} ranks; calibrate sums statistics over a 1-D mesh or one spanning every "
            "rank"
        )
    return DataParallel(model, None, True)


def _sharded(model: torch.nn.Module) -> bool:
    return any(is_dtensor(p) for p in model.parameters())


def reshard(model: torch.nn.Module) -> None:
    """Free the parameters FSDP2 all-gathered for a forward (the root keeps them after
    one), so the module's parameters are the sharded DTensors again: what is written
    into their local shards is what the next forward gathers."""
    fsdp = sys.modules.get("torch.distributed.fsdp")  # none unless FSDP2 was imported
    if fsdp is None:
        return
    for m in model.modules():
        if isinstance(m, fsdp.FSDPModule):
            m.reshard()
