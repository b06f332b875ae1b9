"""Sharded tensors as the other stages see them: where a rank's shard sits in the global
tensor, how its placement reads, and the one collective the stages share.

A ``DTensor`` (FSDP2, tensor parallel) knows its global shape, its mesh and its
placements; everything here is computed from those, locally, without communication.
The applier writes each rank's shard through :func:`local_view`; the Report and lint
reduce statistics over shards (:mod:`initpolicy.shards.moments`); explain prints
:func:`placement_text`. ``torch.distributed`` is imported only when a tensor is a
DTensor, so a process that never shards pays nothing for this module.

Coordinates. A tensor of global shape ``S`` is seen as the matrix ``(S[0], prod(S[1:]))``
(:func:`matrix_shape`); a shard is the rows and the columns of that matrix it holds
(:func:`region_matrix`), each a ``range`` when contiguous, else a sorted int64 index
tensor (a ``_StridedShard``, a shard of a dim >= 2).

>>> import torch
>>> region_matrix((6, 4, 3), [range(2, 4), range(1, 3), range(3)])
(range(2, 4), range(3, 9))
>>> local_view(torch.zeros(5, 2))[1]
[range(0, 5), range(0, 2)]
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Sequence
from typing import Any

import torch

#: The global indices of one dim that a shard holds: a contiguous ``range``, or a sorted
#: 1-D int64 tensor where the shard is not contiguous.
Index = range | torch.Tensor


def is_dtensor(t: Any) -> bool:
    """Whether ``t`` is a ``torch.distributed.tensor.DTensor`` (no DTensor exists unless
    that module was imported, so nothing is imported here)."""
    module = sys.modules.get("torch.distributed.tensor")
    return module is not None and isinstance(t, module.DTensor)


def is_sharded(model: torch.nn.Module) -> bool:
    """Whether ``model`` holds DTensors or modules that FSDP2 wrapped."""
    if any(is_dtensor(p) for p in model.parameters()):
        return True
    wrappers = wrapper_classes()
    return bool(wrappers) and any(type(m) in wrappers for m in model.modules())


def wrapper_classes() -> dict[type, type]:
    """Wrapper class -> the class it wraps, for every class ``fully_shard`` made
    (``FSDPGPT2Block(FSDPModule, GPT2Block)``). Empty when FSDP2 was never imported."""
    module = sys.modules.get("torch.distributed.fsdp._fully_shard._fully_shard")
    if module is None:
        return {}
    return {w: c for c, w in module.get_cls_to_fsdp_cls().items()}


# ------------------------------------------------------------------------ coordinates


def matrix_shape(shape: Sequence[int]) -> tuple[int, int]:
    """The ``(dim 0, the rest)`` matrix a tensor of ``shape`` is seen as (0-d: (1, 1)).

    >>> matrix_shape((768, 3, 3)), matrix_shape((5,)), matrix_shape(())
    ((768, 9), (5, 1), (1, 1))
    """
    if len(shape) == 0:
        return 1, 1
    return int(shape[0]), math.prod(int(s) for s in shape[1:])


def as_matrix(t: torch.Tensor) -> torch.Tensor:
    """The :func:`matrix_shape` view of a contiguous tensor (explicit sizes: a shard may
    be empty, and an empty tensor cannot infer a ``-1``)."""
    return t.view(*matrix_shape(t.shape))


def index_len(ix: Index) -> int:
    return len(ix) if isinstance(ix, range) else int(ix.numel())


def as_index(ix: Any, size: int) -> Index:
    """A slice, range, None (all of ``size``) or sorted indices, as an :data:`Index`:
    a range whenever the indices are contiguous."""
    if ix is None:
        return range(size)
    if isinstance(ix, slice):
        ix = range(*ix.indices(size))
    if isinstance(ix, range) and ix.step == 1:
        return ix
    t = torch.as_tensor(list(ix) if isinstance(ix, range) else ix, dtype=torch.int64).reshape(-1)
    n = t.numel()
    if n == 0:
        return range(0)
    if int(t[-1]) - int(t[0]) == n - 1 and bool((t[1:] > t[:-1]).all()):
        return range(int(t[0]), int(t[0]) + n)
    return t


def region_matrix(shape: Sequence[int], idx: Sequence[Index]) -> tuple[Index, Index]:
    """Per-dim global indices of an N-D region -> its (rows, columns) in the
    :func:`matrix_shape` view. Columns are the row-major flat indices over dims 1..,
    sorted (each dim's indices are sorted, so their row-major combination is too); a
    region that cuts only one dim >= 1 into one contiguous run has contiguous columns."""
    if len(shape) == 0:
        return range(1), range(1)
    rows = idx[0]
    if len(shape) == 1:
        return rows, range(1)
    whole = [
        isinstance(ix, range) and ix.start == 0 and len(ix) == s
        for ix, s in zip(idx, shape, strict=True)
    ]
    last = max((d for d in range(1, len(shape)) if not whole[d]), default=0)
    if last == 0:
        return rows, range(math.prod(shape[1:]))
    run = math.prod(shape[last + 1 :])
    first = idx[last]
    if all(whole[1:last]) and isinstance(first, range):
        return rows, range(first.start * run, first.stop * run)
    cols = torch.zeros(1, dtype=torch.int64)
    for d in range(1, last + 1):
        ix = idx[d]
        t = torch.arange(ix.start, ix.stop, dtype=torch.int64) if isinstance(ix, range) else ix
        cols = (cols[:, None] * shape[d] + t[None, :]).reshape(-1)
    cols = (cols[:, None] * run + torch.arange(run, dtype=torch.int64)[None, :]).reshape(-1)
    return rows, as_index(cols, math.prod(shape[1:]))


def clip(ix: Index, start: int, stop: int) -> tuple[slice, Index]:
    """The global indices of ``ix`` within ``[start, stop)``: their positions in ``ix``
    (a slice: ``ix`` is sorted) and the indices themselves, relative to ``start``."""
    if isinstance(ix, range):
        lo, hi = max(ix.start, start), min(ix.stop, stop)
        if hi <= lo:
            return slice(0, 0), range(0)
        return slice(lo - ix.start, hi - ix.start), range(lo - start, hi - start)
    a = int(torch.searchsorted(ix, torch.tensor(start)))
    b = int(torch.searchsorted(ix, torch.tensor(stop)))
    return slice(a, b), as_index(ix[a:b] - start, stop - start)


# -------------------------------------------------------------------------- the shard


def local_tensor(t: Any) -> torch.Tensor:
    """The tensor holding this rank's values of ``t``, written in place: a DTensor's
    local shard (FSDP2's view into its padded storage; ``to_local()`` under no_grad is
    this very tensor), or ``t`` itself."""
    return t._local_tensor if is_dtensor(t) else t


def local_view(t: Any) -> tuple[torch.Tensor, list[Index]]:
    """This rank's values of ``t`` and, per dim, the global indices they sit at (all of
    them for a plain tensor)."""
    if not is_dtensor(t):
        return t, [range(int(s)) for s in t.shape]
    local = t._local_tensor
    idx = list(_local_indices(tuple(int(s) for s in t.shape), t.device_mesh, tuple(t.placements)))
    want = tuple(index_len(i) for i in idx)
    if tuple(local.shape) != want:  # torch's chunking changed under us: refuse, never guess
        raise RuntimeError(
            f"the local shard has shape {tuple(local.shape)}, but its placements "
            f"{t.placements} on mesh {tuple(t.device_mesh.shape)} give {want}"
        )
    return local, idx


@functools.lru_cache(maxsize=4096)
def _local_indices(shape: tuple[int, ...], mesh: Any, placements: tuple[Any, ...]) -> tuple:
    """Replays torch's ``_compute_local_shape_and_global_offset`` (torch 2.14,
    distributed/tensor/_utils.py) keeping every dim's whole index list, where torch
    returns only the first offset (wrong for a ``_StridedShard``: FSDP2 over a
    tensor-parallel colwise layer). Uneven shards follow ``torch.chunk`` (trailing ranks
    may be empty). Cached: a model's blocks share a few (shape, mesh, placements)."""
    from torch.distributed.tensor import Partial, Replicate, Shard, _utils
    from torch.distributed.tensor.placement_types import _StridedShard

    coord = mesh.get_coordinate()
    if coord is None:  # this rank is outside the mesh: it holds nothing
        return tuple(range(0) for _ in shape)
    offsets: dict[int, torch.Tensor] = {}
    local = list(shape)
    for mesh_dim, placement in enumerate(placements):
        if isinstance(placement, Replicate):
            continue
        if isinstance(placement, Partial) or not isinstance(placement, Shard | _StridedShard):
            raise ValueError(f"a parameter cannot be initialized with placement {placement}")
        d = placement.dim
        size, index = _utils._get_shard_size_and_offsets(
            local[d],
            mesh.size(mesh_dim),
            coord[mesh_dim],
            placement,
            offsets.get(d),
            shape[d],
            False,
        )
        local[d] = int(size)
        assert index is not None  # asked with skip_offset=False
        offsets[d] = index[: int(size)]  # an empty shard reports one index for 0 elements
    return tuple(as_index(offsets[d], s) if d in offsets else range(s) for d, s in enumerate(shape))


def counted_here(t: Any, reducing: bool = True) -> bool:
    """Whether this rank's copy of ``t`` is the one a reduction over all ranks counts:
    each element exactly once. A DTensor counts at coordinate 0 of every mesh dim it is
    replicated over, and only on the sub-mesh holding rank 0 (FSDP on ``mesh["dp"]`` of a
    2-D mesh is silently replicated over ``tp``: each tp coordinate has its own dp
    sub-mesh, and the sub-meshes of one mesh dim partition the ranks). A plain tensor is
    a full copy: counted by rank 0 when ``reducing`` over ranks, else here."""
    if not is_dtensor(t):
        return not reducing or rank() == 0
    return _counted(t.device_mesh, tuple(t.placements))


@functools.lru_cache(maxsize=1024)
def _counted(mesh: Any, placements: tuple[Any, ...]) -> bool:
    from torch.distributed.tensor import Replicate

    coord = mesh.get_coordinate()
    if coord is None or not bool((mesh.mesh == 0).any()):
        return False
    return all(c == 0 for c, p in zip(coord, placements, strict=True) if isinstance(p, Replicate))


def placement_text(t: Any) -> str | None:
    """``S(0)@dp=4, R@tp=2`` (torch's short placement names, then the mesh dim's name and
    size), or None for a plain tensor."""
    if not is_dtensor(t):
        return None
    mesh = t.device_mesh
    names = mesh.mesh_dim_names or tuple(f"d{i}" for i in range(mesh.ndim))
    return ", ".join(f"{p}@{names[i]}={mesh.size(i)}" for i, p in enumerate(t.placements))


# ---------------------------------------------------------------------- communication


def rank() -> int:
    """This process's rank in the default group (0 without torch.distributed)."""
    d = torch.distributed
    return d.get_rank() if d.is_available() and d.is_initialized() else 0


def gather_rows(rows: Any, device_type: str = "cpu") -> list[Any]:
    """Every rank's float64 array ``rows`` (the same shape on every rank), in rank order,
    from one ``all_gather`` over the default group, which every rank must reach
    (``[rows]`` in a single process). The arrays travel on ``device_type`` (the mesh's:
    NCCL moves no CPU tensor). Only for tensors that are DTensors: a process never
    communicates about a plain model (DDP ranks lint it alone)."""
    d = torch.distributed
    if not (d.is_available() and d.is_initialized()) or d.get_world_size() == 1:
        return [rows]
    mine = torch.from_numpy(rows).to(device_type)
    out = [torch.empty_like(mine) for _ in range(d.get_world_size())]
    d.all_gather(out, mine)
    return [o.cpu().numpy() for o in out]


def sum_rows(rows: Any, device_type: str = "cpu") -> Any:
    """The sum over ranks of a float64 array (an ``all_reduce``; rules as
    :func:`gather_rows`), for sums whose last bits do not matter (a Gram matrix)."""
    d = torch.distributed
    if not (d.is_available() and d.is_initialized()) or d.get_world_size() == 1:
        return rows
    mine = torch.from_numpy(rows).to(device_type)
    d.all_reduce(mine)
    return mine.cpu().numpy()


def mesh_device_type(tensors: Sequence[Any]) -> str:
    """The device type of the first DTensor's mesh (where collectives over them run)."""
    return next((t.device_mesh.device_type for t in tensors if is_dtensor(t)), "cpu")
