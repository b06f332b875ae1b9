"""What the static rules read of a sharded tensor (a DTensor: FSDP2, tensor parallel),
as reductions over ranks: no rank ever holds a whole tensor.

- statistics (std, min, max, finiteness): the moments of every shard, one
  ``all_gather`` for all tensors (:func:`initpolicy.shards.moments.tensor_moments`);
- the mean of a block of rows (an LSTM's forget gate): the same, for that block;
- duplicate units (IP102): each unit (row) hashed by two seeded probe vectors; a rank
  holding part of a row computes the part of its keys from its columns, one
  ``all_gather`` per tensor sums the parts in rank order (equal rows get equal keys),
  and two units are duplicates when both keys agree;
- the Gram matrix of a recurrent weight or block (IP111): summed over the shards that
  hold whole rows (``MᵀM`` of a tall matrix cut by rows, ``MMᵀ`` of a wide one cut by
  columns), one ``all_reduce``; a shard that cuts the other way gives no Gram (the rule
  then says nothing of that tensor).

Every rank must lint, in lockstep: each rule visits the tensors in the same order and
decides from statistics that are the same on every rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..shards import (
    clip,
    counted_here,
    gather_rows,
    index_len,
    is_dtensor,
    local_view,
    region_matrix,
    sum_rows,
    tensor_moments,
)

#: Independent hashes per unit: a false duplicate needs both to collide.
_PROBES = 2


def block_mean(t: Any, rows: tuple[int, int]) -> float:
    """The mean of rows ``[start, stop)`` of ``t`` (reduced over ranks for a DTensor)."""
    return tensor_moments([(t, rows)])[0].mean


def _unit_view(t: Any, units_on_dim1: bool) -> tuple[Any, tuple[int, ...], list[Any]]:
    """This rank's values of ``t`` with the unit dim first, the global shape and indices
    in that order."""
    local, idx = local_view(t)
    shape = tuple(int(s) for s in t.shape)
    if units_on_dim1:
        local = local.transpose(0, 1)
        idx = [idx[1], idx[0], *idx[2:]]
        shape = (shape[1], shape[0], *shape[2:])
    return local, shape, idx


def duplicate_units(t: Any, units_on_dim1: bool = False) -> int:
    """How many units (rows; filters on dim 1 for a transposed convolution) of DTensor
    ``t`` equal an earlier one, by two probe keys per unit."""
    import torch

    local, shape, idx = _unit_view(t, units_on_dim1)
    n_units, width = shape[0], int(np.prod(shape[1:]))
    rows, cols = region_matrix(shape, idx)
    keys = np.zeros((n_units, _PROBES))
    if counted_here(t) and local.numel():
        g = torch.Generator().manual_seed(0)
        probe = torch.randn(width, _PROBES, dtype=torch.float64, generator=g)
        probe = probe[cols.start : cols.stop] if isinstance(cols, range) else probe[cols]
        part = local.detach().reshape(index_len(rows), -1).double() @ probe
        at = np.arange(rows.start, rows.stop) if isinstance(rows, range) else rows.numpy()
        keys[at] = part.cpu().numpy()
    total = np.zeros_like(keys)
    for p in gather_rows(keys, t.device_mesh.device_type):  # rank order: equal rows, equal keys
        total += p
    _, first = np.unique(total, axis=0, return_index=True)
    return n_units - len(first)


def gram(t: Any, rows: tuple[int, int] | None = None) -> Any:
    """The Gram matrix over the longer side of ``t`` (or of its rows ``[start, stop)``) in
    the ``(rows, columns)`` view, float64: ``MᵀM`` for a tall matrix, ``MMᵀ`` for a wide
    one. Reduced over ranks for a DTensor; None when its shards do not hold whole
    lines of the side summed over."""
    import torch

    local, idx = local_view(t)
    shape = tuple(int(s) for s in t.shape)
    r, c = region_matrix(shape, idx)
    m = local.detach().reshape(index_len(r), -1).double()
    n_rows, n_cols = shape[0], int(np.prod(shape[1:]))
    if rows is not None:
        pos, _ = clip(r, *rows)
        m, n_rows = m[pos], rows[1] - rows[0]
    tall = n_rows >= n_cols
    whole = index_len(c) == n_cols if tall else m.shape[0] == n_rows
    reducing = is_dtensor(t)
    counted = counted_here(t, reducing) and m.numel() > 0
    if reducing:
        cut = np.array([float(counted and not whole)])
        if sum_rows(cut, t.device_mesh.device_type)[0]:
            return None
    side = n_cols if tall else n_rows
    g = (m.T @ m if tall else m @ m.T).cpu().numpy() if counted else np.zeros((side, side))
    if reducing:
        g = sum_rows(g, t.device_mesh.device_type)
    return torch.from_numpy(g)


def _first(ix: Any) -> float:
    """The first global index of a dim's :data:`~initpolicy.shards.dtensor.Index`."""
    if isinstance(ix, range):
        return float(ix.start) if len(ix) else -1.0
    return float(ix[0]) if ix.numel() else -1.0


def identical_shards(t: Any) -> int:
    """How many ranks hold the same values for *different* slices of DTensor ``t`` (each
    rank drew its shard with the same random state), or 0. Each rank hashes its shard
    (its size, two seeded projections) with where it sits (the first global index of
    each dim); one ``all_gather`` over the default group compares them: ranks at the same
    place hold a replica (HSDP, Replicate), which is no fault; 2 or more places, all with
    one hash, are identical shards. Every rank must call it, in lockstep."""
    import torch

    local, idx = local_view(t)
    x = local.detach().reshape(-1).to(torch.float64).cpu()
    g = torch.Generator().manual_seed(0)
    keys = [float(x.numel())]
    for _ in range(_PROBES):
        keys.append(float(x @ torch.randn(x.numel(), generator=g, dtype=torch.float64)))
    rows = np.array([*keys, *(_first(ix) for ix in idx)], dtype=np.float64)
    gathered = gather_rows(rows, t.device_mesh.device_type)
    by_place = {tuple(r[len(keys) :]): tuple(r[: len(keys)]) for r in gathered}
    if len(by_place) < 2 or len(set(by_place.values())) != 1 or keys[0] == 0:
        return 0
    return len(by_place)
