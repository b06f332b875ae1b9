"""Draw any region of a tensor's stream (layout v1, :mod:`initpolicy.applier.streams`),
as tasks a :class:`~initpolicy.applier.pool.TaskPool` runs.

A region is given in the stream's matrix view: the global ``rows`` and ``cols`` it
covers (:data:`~initpolicy.shards.dtensor.Index`: ranges, or sorted index tensors), and
``dest``, a 2-D tensor of shape ``(len(rows), len(cols))`` of any dtype and device that
receives it (a whole tensor, a shard, a block's rows of a shard). How a region is
computed depends on the scheme's catalogue entry:

- a constant (``value``): the region is filled, in the destination's dtype;
- an elementwise scheme (``elementwise=True``): every tile the region overlaps is drawn
  whole by the scheme's sampler, with the tensor's global fans, and the overlap copied
  out; a tile that is one contiguous float32 CPU run of the destination is drawn in place;
- any other (orthogonal and sparse couple a whole matrix, eye and dirac depend on
  position): the whole stream is drawn once from the tile (0, 0) key, as 0.1.0 drew it,
  and the region copied out of it: identical on every rank, at the cost of the whole
  matrix in transient memory per rank (:func:`~initpolicy.applier.streams.whole_draw_bytes`).

Hence any region equals the same slice of the whole draw:

>>> normal = {"mean": 0.0, "std": 1.0}
>>> whole = draw_region("normal", normal, fan_in=1, fan_out=1, shape=(300, 300), seed=0, name="w")
>>> part = draw_region("normal", normal, fan_in=1, fan_out=1, shape=(300, 300), seed=0, name="w",
...                    region=(slice(10, 290), slice(5, 7)))
>>> bool(torch.equal(whole[10:290, 5:7], part))
True
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..catalog import SCHEMES, Facts, Value
from ..shards import Index, as_index, as_matrix, index_len, matrix_shape, region_matrix
from .fill import checked_values, sample_into
from .pool import Task, TaskPool
from .streams import V1, Grid, Layout, tile_key

Cut = slice | torch.Tensor


def stream_tasks(
    dest: torch.Tensor,
    scheme: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    shape: tuple[int, ...],
    rows: Index,
    cols: Index,
    seed: int,
    parts: tuple[str, ...],
    layout: Layout = V1,
) -> list[Task]:
    """Tasks writing the region ``rows`` x ``cols`` of the stream ``parts`` (``(name,)``
    or ``(name, block)``) of global ``shape`` into ``dest``. Validates first
    (InitError for a scheme that cannot take the shape or dtype)."""
    v = checked_values(scheme, values, shape, dest.dtype)
    if dest.numel() == 0:
        return []
    entry = SCHEMES[scheme]
    if entry.value is not None:
        value = entry.value(v)
        return [Task(lambda: dest.fill_(value))]
    facts = Facts(float(fan_in), float(fan_out), shape)
    R, C = matrix_shape(shape)
    if not entry.elementwise:
        key = tile_key(seed, parts, 0, 0)
        return [Task(lambda: _whole(dest, scheme, v, facts, rows, cols, key), R * C)]
    grid = Grid.of(R, C, layout)
    return [
        _tile_task(dest, scheme, v, facts, grid, tile_key(seed, parts, i, j), i, j, cuts)
        for i, dst_r, src_r in bands(rows, grid.tr)
        for j, dst_c, src_c in bands(cols, grid.tc)
        for cuts in [(dst_r, dst_c, src_r, src_c)]
    ]


def bands(ix: Index, width: int) -> list[tuple[int, slice, Cut]]:
    """Split sorted global indices by band ``k = index // width``: for each band holding
    some, ``(k, their positions in ix, their indices within the band)``.

    >>> [(k, pos) for k, pos, _ in bands(range(5, 70), 64)]
    [(0, slice(0, 59, None)), (1, slice(59, 65, None))]
    """
    out: list[tuple[int, slice, Cut]] = []
    if isinstance(ix, range):
        for k in range(ix.start // width, (ix.stop - 1) // width + 1) if len(ix) else ():
            lo, hi = max(ix.start, k * width), min(ix.stop, (k + 1) * width)
            out.append(
                (k, slice(lo - ix.start, hi - ix.start), slice(lo - k * width, hi - k * width))
            )
        return out
    ks, counts = torch.unique_consecutive(ix // width, return_counts=True)
    a = 0
    for k, c in zip(ks.tolist(), counts.tolist(), strict=True):
        within = as_index(ix[a : a + c] - k * width, width)
        out.append(
            (
                k,
                slice(a, a + c),
                slice(within.start, within.stop) if isinstance(within, range) else within,
            )
        )
        a += c
    return out


def _take(t: torch.Tensor, r: Cut, c: Cut) -> torch.Tensor:
    t = t[r] if isinstance(r, slice) else t.index_select(0, r)
    return t[:, c] if isinstance(c, slice) else t.index_select(1, c)


class _Scratch(threading.local):
    """Per thread: one float32 buffer reused by every tile the thread draws (a fresh
    256 KiB allocation per tile is an mmap and page faults each time), and one generator,
    reseeded per tile (``manual_seed`` resets the whole state: the same as a fresh one)."""

    def __init__(self) -> None:
        self.buf = torch.empty(0, dtype=torch.float32)
        self.gen = torch.Generator()

    def get(self, n: int) -> torch.Tensor:
        if self.buf.numel() < n:
            self.buf = torch.empty(n, dtype=torch.float32)
        return self.buf[:n]


_SCRATCH = _Scratch()


def _tile_task(
    dest: torch.Tensor,
    scheme: str,
    v: Mapping[str, Value],
    facts: Facts,
    grid: Grid,
    key: int,
    i: int,
    j: int,
    cuts: tuple[slice, slice, Cut, Cut],
) -> Task:
    dst_r, dst_c, src_r, src_c = cuts
    r0, r1, c0, c1 = grid.tile(i, j)
    h, w = r1 - r0, c1 - c0
    sample = SCHEMES[scheme].sample
    assert sample is not None
    whole = (
        isinstance(src_r, slice)
        and isinstance(src_c, slice)
        and src_r.stop - src_r.start == h
        and src_c.stop - src_c.start == w
    )

    def run() -> None:
        g = _SCRATCH.gen
        g.manual_seed(key)
        piece = dest[dst_r, dst_c]
        if (
            whole
            and piece.dtype == torch.float32
            and piece.device.type == "cpu"
            and piece.is_contiguous()
        ):
            sample(piece, v, facts, g)  # same kernel, numel and contiguity as the buffer
            return
        tile = _SCRATCH.get(h * w)
        sample(tile, v, facts, g)
        tile = tile.view(h, w)
        piece.copy_(tile if whole else _take(tile, src_r, src_c))

    return Task(run, h * w)


def _whole(
    dest: torch.Tensor,
    scheme: str,
    v: Mapping[str, Value],
    facts: Facts,
    rows: Index,
    cols: Index,
    key: int,
) -> None:
    """An untiled scheme: the whole stream drawn from its (0, 0) key, then sliced.

    Every pool thread runs torch (and MKL) at one thread (:class:`TaskPool`): that is
    what makes orthogonal's QR give the same bits on every rank, whatever the process's
    thread count (LAPACK's QR differs in the last bits between thread counts)."""
    g = torch.Generator()
    g.manual_seed(key)
    R, C = matrix_shape(facts.shape)
    if index_len(rows) == R and index_len(cols) == C and dest.is_contiguous():
        sample_into(dest.view(facts.shape), scheme, v, facts, g)  # all of it: in place
        return
    full = torch.empty(facts.shape, dtype=torch.float32)
    sample_into(full, scheme, v, facts, g)
    r = slice(rows.start, rows.stop) if isinstance(rows, range) else rows
    c = slice(cols.start, cols.stop) if isinstance(cols, range) else cols
    dest.copy_(_take(full.view(R, C), r, c))


def draw_region(
    scheme: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    shape: Sequence[int],
    seed: int,
    name: str,
    block: str | None = None,
    region: Sequence[Any] | None = None,
    dtype: torch.dtype = torch.float32,
    layout: Layout = V1,
    threads: int = 1,
) -> torch.Tensor:
    """The values the stream ``(seed, name[, block])`` of a tensor of global ``shape``
    gets under ``scheme`` at ``region`` (one entry per dim, missing trailing dims meaning
    all of it: a slice, a range, None, or sorted global indices), as a new CPU tensor of
    the region's shape: the same as that slice of the whole draw.

    ``values`` are the evaluated arguments; ``fan_in``/``fan_out`` the tensor's (the
    block's) fans, as the plan has them."""
    shape = tuple(int(s) for s in shape)
    dims = [*(region or ()), *[None] * (len(shape) - len(region or ()))]
    idx = [as_index(d, s) for d, s in zip(dims, shape, strict=True)]
    out = torch.empty(tuple(index_len(i) for i in idx), dtype=dtype)
    rows, cols = region_matrix(shape, idx)
    parts = (name,) if block is None else (name, block)
    tasks = stream_tasks(
        as_matrix(out), scheme, values, fan_in=fan_in, fan_out=fan_out, shape=shape,
        rows=rows, cols=cols, seed=seed, parts=parts, layout=layout,
    )  # fmt: skip
    with torch.no_grad(), TaskPool(threads) as pool:
        pool.add(tasks)
    return out
