"""Statistics of whole tensors whose values are spread over ranks (the Report's measured
std, lint's static statistics), without gathering a tensor.

Each rank reduces the values it holds of each tensor to six float64 numbers (count,
mean, sum of squared deviations, min, max, non-finite count); one ``all_gather`` shares
them, and every rank combines them in rank order (Chan et al.'s parallel update), so
all ranks hold the same numbers whatever order the backend reduces in. Every element
counts once: a replicated shard only where :func:`~initpolicy.shards.dtensor.counted_here`
says so. On a plain model nothing is communicated.

The Report measures a sample: for a tensor above :data:`MEASURE_SAMPLES` elements, 64
runs of 1024 contiguous elements at fixed global flat positions, each rank measuring
the part of the sample it holds, so the result does not depend on the placement. Lint
measures every element.

>>> import numpy as np
>>> whole = combine(local_moments(np.arange(4.0)), local_moments(np.arange(4.0, 10.0)))
>>> bool(Moments.of(whole).std(correction=0) == np.arange(10.0).std())
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import PeerError
from .dtensor import (
    clip,
    counted_here,
    gather_rows,
    index_len,
    is_dtensor,
    local_view,
    matrix_shape,
    mesh_device_type,
    region_matrix,
)

#: Tensors larger than this are measured on a sample: 64 evenly spaced runs of 1024
#: contiguous elements. Contiguous runs touch few pages (a strided sample of the same size
#: touches one page per element), so measuring costs microseconds, not a pass over the
#: model; the std of 2^16 values is within ~0.5% of the tensor's.
MEASURE_SAMPLES = 1 << 16
_RUNS = 64
_RUN = MEASURE_SAMPLES // _RUNS
#: count, mean, M2 (sum of squared deviations), min, max, non-finite values
_FIELDS = 6
_EMPTY = np.array([0.0, 0.0, 0.0, math.inf, -math.inf, 0.0])
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Moments:
    """The moments of a whole tensor (or of its measured sample)."""

    count: int
    mean: float
    m2: float
    min: float
    max: float
    nonfinite: int

    @classmethod
    def of(cls, row: np.ndarray) -> Moments:
        c, mean, m2, lo, hi, bad = (float(x) for x in row)
        return cls(int(c), mean if c else math.nan, m2, lo, hi, int(bad))

    def std(self, correction: int = 0) -> float | None:
        """Population (``correction=0``) or sample (1) std of the finite values; 0 for a
        single value, None for none."""
        if self.count == 0:
            return None
        if self.count <= correction:
            return 0.0
        return math.sqrt(max(0.0, self.m2 / (self.count - correction)))


def local_moments(x: np.ndarray) -> np.ndarray:
    """The six numbers of ``x``'s finite values (and how many are not), in float64,
    chunk by chunk (never a float64 copy of a whole shard)."""
    out = _EMPTY.copy()
    x = x.reshape(-1)
    for a in range(0, x.size, _CHUNK):
        c = x[a : a + _CHUNK].astype(np.float64)
        finite = np.isfinite(c)
        if not finite.all():
            out[5] += c.size - np.count_nonzero(finite)
            c = c[finite]
        if c.size:
            m = c.mean()
            part = np.array([c.size, m, np.square(c - m).sum(), c.min(), c.max(), 0.0])
            out = combine(out, part)
    return out


def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Chan et al.'s combination of two rows of moments."""
    na, nb = a[0], b[0]
    out = a.copy()
    out[5:] = a[5:] + b[5:]
    if nb == 0:
        return out
    if na == 0:
        out[:5] = b[:5]
        return out
    n = na + nb
    delta = b[1] - a[1]
    out[:5] = [
        n,
        a[1] + delta * nb / n,
        a[2] + b[2] + delta * delta * na * nb / n,
        min(a[3], b[3]),
        max(a[4], b[4]),
    ]
    return out


def sample_positions(n: int) -> np.ndarray | None:
    """The global flat positions the Report measures in an ``n``-element tensor (None:
    all of them)."""
    if n <= MEASURE_SAMPLES:
        return None
    step = (n - _RUN) // (_RUNS - 1)
    return (np.arange(_RUNS)[:, None] * step + np.arange(_RUN)[None, :]).reshape(-1)


def held_values(
    t: Any, rows: tuple[int, int] | None = None, sample: bool = False, reducing: bool = True
) -> Any:
    """The values of ``t`` (or of its rows ``[start, stop)``: a packed block) that this
    rank counts (:func:`~initpolicy.shards.dtensor.counted_here`), as a float numpy
    array: all of them, or those at the Report's sample positions."""
    import torch

    if not counted_here(t, reducing):
        return np.empty(0, np.float32)
    local, idx = local_view(t)
    shape = tuple(int(s) for s in t.shape)
    if rows is not None:
        pos, rel = clip(idx[0], *rows)
        local = local[pos]
        idx = [rel, *idx[1:]]
        shape = (rows[1] - rows[0], *shape[1:])
    x = local.detach()
    if x.dtype not in (torch.float32, torch.float64):
        x = x.float()
    rows_held = index_len(idx[0]) if idx else 1  # a 0-d tensor: one row of one
    values = x.cpu().numpy().reshape(rows_held, -1) if x.numel() else np.empty((0, 1))
    R, C = matrix_shape(shape)
    flat = sample_positions(R * C) if sample else None
    if flat is None:
        return values.reshape(-1)
    r, c = region_matrix(shape, idx)
    if isinstance(r, range) and c == range(C):  # whole rows: one run of the flat index
        lo = r.start * C
        run = values.reshape(-1)
        starts = flat[::_RUN] - lo
        pieces = [run[max(s, 0) : max(s + _RUN, 0)] for s in starts.tolist()]
        return np.concatenate(pieces) if pieces else run[:0]
    keep_r, at_r = _locate(r, flat // C)
    keep_c, at_c = _locate(c, flat % C)
    keep = keep_r & keep_c
    return values[at_r[keep], at_c[keep]]


def _locate(ix: Any, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which global ``values`` lie in the sorted indices ``ix``, and where."""
    if isinstance(ix, range):
        return (values >= ix.start) & (values < ix.stop), values - ix.start
    arr = ix.numpy()
    if not len(arr):
        return np.zeros(len(values), bool), np.zeros(len(values), np.int64)
    at = np.minimum(np.searchsorted(arr, values), len(arr) - 1)
    return arr[at] == values, at


def measure_rows(
    items: Sequence[tuple[Any, tuple[int, int] | None]], *, sample: bool, reducing: bool
) -> np.ndarray:
    """This rank's moments of each ``(tensor, rows)``: an ``(n, 6)`` array for
    :func:`gather_moments` (``reducing``: over ranks). Non-floating tensors get none."""
    out = np.tile(_EMPTY, (len(items), 1))
    for k, (t, rows) in enumerate(items):
        if t.is_floating_point() and not t.is_meta:
            x = held_values(t, rows, sample, reducing)
            if x.size:
                out[k] = local_moments(x)
    return out


def gather_moments(
    local: np.ndarray, *, reducing: bool, failed: bool = False, device_type: str = "cpu"
) -> list[Moments]:
    """Every rank's ``local`` rows combined, in rank order: the whole tensors' moments,
    the same on every rank. On a sharded model this is the one collective of an apply,
    and it carries ``failed``: when any rank failed, every other rank raises
    :class:`~initpolicy.errors.PeerError` (and the failed one its own error)."""
    flagged = np.vstack([local, np.full((1, _FIELDS), float(failed))])
    parts = gather_rows(flagged, device_type) if reducing else [flagged]
    if any(p[-1, 0] for p in parts) and not failed:
        bad = [r for r, p in enumerate(parts) if p[-1, 0]]
        raise PeerError(f"initialization failed on rank(s) {bad}; this rank's writes were undone")
    rows = []
    for k in range(len(local)):
        acc = _EMPTY.copy()
        for p in parts:
            acc = combine(acc, p[k])
        rows.append(Moments.of(acc))
    return rows


def tensor_moments(
    items: Sequence[tuple[Any, tuple[int, int] | None]], *, sample: bool = False
) -> list[Moments]:
    """The moments of each whole ``(tensor, rows)``, reduced over ranks when some tensor
    is a DTensor (one collective, which every rank must reach)."""
    tensors = [t for t, _ in items]
    reducing = any(is_dtensor(t) for t in tensors)
    local = measure_rows(items, sample=sample, reducing=reducing)
    return gather_moments(local, reducing=reducing, device_type=mesh_device_type(tensors))
