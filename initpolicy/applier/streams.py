"""The random stream: which generator draws which element of a tensor (layout v1).

Every tensor (or packed block: an LSTM gate, MHA's q/k/v, its own stream with its own
shape) is seen as the matrix ``(R, C) = (S[0], prod(S[1:]))`` of its global shape ``S``
(:func:`initpolicy.shards.dtensor.matrix_shape`; 1-D: ``(n, 1)``, 0-d: ``(1, 1)``), cut
into a grid of tiles. A tile's values are one draw of the rule's scheme into a
contiguous float32 CPU buffer of exactly the tile's size, in row-major order, from a
``torch.Generator`` seeded with the tile's key (:func:`tile_key`)::

    tile (0, 0):  derive(seed, name[, block])                  # 0.1.0's per-tensor key
    tile (i, j):  derive(seed, name[, block], "tile:i:j")

So an element's value depends only on (seed, name, block, its global index, the global
shape, the scheme and its evaluated arguments): never on the world size, the mesh, the
placement, the thread that draws it or the other layers of the model. Any shard is
drawn alone: a region is the union of its overlaps with the tiles it touches, each tile
drawn whole (the CPU generator, mt19937, cannot skip ahead, and ``normal_`` fills in
chunks whose tail depends on the numel, so a prefix of a draw is not the draw of a
prefix). A tensor that fits in one tile keeps 0.1.0's values exactly.

Tile shapes (:meth:`Layout.tile_shape`) depend on the global shape only:

=====================  =====================================================
``R*C <= 65536``       one tile: the whole stream
``C <= 1024``          full rows: ``TC = C``, ``TR = 2**floor(log2(65536 // C))``
``C > 1024``           ``TC = 1024``, ``TR = 64``: 64 x 1024 tiles
=====================  =====================================================

(edge tiles are smaller). Schemes that couple a whole matrix (orthogonal, sparse) or
depend on position (eye, dirac) are not tiled: they are drawn whole from the tile (0, 0)
key, as in 0.1.0, and a shard is sliced from that (see :func:`whole_draw_bytes`).

A change to anything above is a reproducibility break and bumps
:data:`STREAM_LAYOUT_VERSION` (docs/distributed.md, "Stream layout"). Torch-free.

>>> derive(0, "fc1.weight") == derive(0, "fc1.weight") != derive(1, "fc1.weight")
True
>>> V1.tile_shape(768, 2304), V1.tile_shape(50257, 768), V1.tile_shape(100, 100)
((64, 1024), (64, 768), (100, 100))
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

from ..catalog import get

#: The layout of the values: bumped by any change to the tile shapes, keys or draw order.
STREAM_LAYOUT_VERSION = 1

#: torch.Generator.manual_seed accepts [-2**63, 2**64); keep to non-negative int64.
_MASK = (1 << 63) - 1


def derive(seed: int, *parts: str) -> int:
    """A 63-bit seed from ``seed`` and name parts (``"fc1.weight"``, ``"forget"``).

    blake2b, not Python's ``hash()`` (salted per process): the same seed gives the same
    tensors in every run."""
    h = hashlib.blake2b(digest_size=8, person=b"initpolicy")
    h.update(str(int(seed)).encode())
    for part in parts:
        h.update(b"\x00")
        h.update(part.encode("utf-8"))
    return int.from_bytes(h.digest(), "little") & _MASK


def tile_key(seed: int, parts: tuple[str, ...], i: int, j: int) -> int:
    """The key of tile ``(i, j)`` of the stream ``parts`` (``(name,)`` or
    ``(name, block)``). Block names are identifiers, so ``tile:i:j`` never collides."""
    if i == 0 and j == 0:
        return derive(seed, *parts)
    return derive(seed, *parts, f"tile:{i}:{j}")


@dataclass(frozen=True)
class Layout:
    """The constants of a stream layout; :data:`V1` is the one the library uses (tests
    pass smaller ones to get many tiles on small tensors; their values differ)."""

    version: int
    #: The most elements a tile has (each drawing thread reuses one buffer of this size).
    tile_numel: int
    #: The widest tile, in columns of the matrix view.
    tile_cols: int

    def tile_shape(self, rows: int, cols: int) -> tuple[int, int]:
        """``(TR, TC)`` for an ``(rows, cols)`` stream: one tile when it fits; else
        ``TC = min(cols, tile_cols)`` and ``TR`` the largest power of two with
        ``TR * TC <= tile_numel`` (so row shards of 64·k rows align with tiles)."""
        rows, cols = max(rows, 1), max(cols, 1)
        if rows * cols <= self.tile_numel:
            return rows, cols
        tc = min(cols, self.tile_cols)
        tr = 1 << int(math.log2(max(1, self.tile_numel // tc)))
        return min(tr, rows), tc


#: Layout v1: tiles of at most 65536 elements (256 KiB of float32), at most 1024 wide.
V1 = Layout(version=STREAM_LAYOUT_VERSION, tile_numel=1 << 16, tile_cols=1024)


@dataclass(frozen=True)
class Grid:
    """The tiles of one ``(rows, cols)`` stream under a layout."""

    rows: int
    cols: int
    tr: int
    tc: int

    @classmethod
    def of(cls, rows: int, cols: int, layout: Layout = V1) -> Grid:
        return cls(rows, cols, *layout.tile_shape(rows, cols))

    @property
    def single(self) -> bool:
        return self.rows <= self.tr and self.cols <= self.tc

    def tile(self, i: int, j: int) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)`` of tile ``(i, j)``."""
        r0, c0 = i * self.tr, j * self.tc
        return r0, min(self.rows, r0 + self.tr), c0, min(self.cols, c0 + self.tc)


def whole_draw_bytes(scheme: str, numel: int) -> int:
    """The transient memory of drawing ``numel`` elements of ``scheme`` whole (the
    scheme entry's ``whole_draw_bytes`` per element). A tiled draw holds one tile per
    thread."""
    return get(scheme).whole_draw_bytes * numel
