"""Fused attention projections: which output features each attention operand reads.

GPT-2's ``c_attn`` computes q, k and v in one layer and cuts its output with
``.split(embed, dim=2)``; timm's ``qkv`` reshapes its output to ``(B, N, 3, H, D)``,
permutes it and ``unbind``\\ s the 3. The roles pass (:func:`~initpolicy.tracer.roles_branches.attention_operands`)
finds that such a layer feeds several operands; this module finds *which features* of
its output each one reads, by replaying the chain of shape ops from the layer's output
to the operand on a description of where the output's feature axis went (never by
names, never by running the model).

The description (:class:`_Layout`) is the tensor's dims, each either a *feature* dim (a
size and a stride over the layer's output features) or another dim (batch, tokens), and
the offset of the first feature; a cut (``getitem`` of ``split``/``chunk``/``unbind``) on
a feature dim moves the offset and shrinks the dim. At the operand, the features read are
``offset + Σ index × stride``: a block [start, stop) where the feature dims tile it.

A block is recorded only where that operand is all that reads it: from the cut on, each
node of the chain has one user (the next), and before the cut each has one user too (the
cut's siblings read the other blocks). Anything else on the way (a sum, a rotary
embedding, a norm, an op this module does not know) leaves the layer without blocks.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import torch.fx as fx

from .graph import OperandBlock
from .resolve import op_name
from .roles_branches import is_identity
from .roles_nodes import GraphView, is_type

#: Layers whose output features are the last dim of their output (a block of them is a
#: slice ``[..., start:stop]``): ``Linear`` and transformers' ``Conv1D``.
LAST_DIM_FEATURES = ("Linear", "Conv1D")

#: Ops that keep every feature where it is (and scalings, which keep the feature set).
_KEEP = frozenset(
    {"contiguous", "to", "float", "half", "bfloat16", "type_as", "clone", "detach", "dropout"}
)
_RESHAPE = frozenset({"view", "reshape"})
_CUTS = frozenset({"split", "chunk", "unbind"})


@dataclass(frozen=True)
class _Layout:
    """Dims of a tensor on the chain: None (not features) or (size, stride) over the
    layer's output features; ``known`` False while the leading non-feature dims are not
    counted yet (before the first reshape); ``offset`` the first feature's index."""

    dims: tuple[tuple[int, int] | None, ...]
    known: bool
    offset: int = 0

    def at(self, d: object) -> tuple[_Layout, int] | None:
        """Dim ``d`` as an index into ``dims``, with the layout it indexes (a negative dim
        past the counted ones, while the leading dims are not counted, is one of them: a
        non-feature dim); None where it cannot be told."""
        if not isinstance(d, int):
            return None
        if d >= 0:
            return (self, d) if self.known and d < len(self.dims) else None
        if -d <= len(self.dims):
            return self, len(self.dims) + d
        if self.known:
            return None
        grown = replace(self, dims=(None,) * (-d - len(self.dims)) + self.dims)
        return grown, 0

    @property
    def features(self) -> list[tuple[int, int]]:
        return [f for f in self.dims if f is not None]

    def block(self) -> tuple[int, int] | None:
        """The features read, as [start, stop), where the feature dims tile them."""
        size, stride = 1, 1
        for n, s in sorted(self.features, key=lambda f: f[1]):
            if s != stride:
                return None
            size, stride = size * n, stride * n
        return self.offset, self.offset + size

    @property
    def last(self) -> int:
        """The size of the last dim where it is features (the head dim at an attention
        operand); else 0."""
        last = self.dims[-1] if self.dims else None
        return 0 if last is None else last[0]


def fused_blocks(
    r: GraphView, operands: Mapping[str, Mapping[str, list[fx.Node]]]
) -> dict[str, tuple[OperandBlock, ...]]:
    """Layer name -> the block of its output each operand reads, for every layer that
    feeds several operands and whose output features are its last dim (see the module
    doc); a layer whose cut cannot be replayed, or whose operands' blocks overlap, has
    none. ``operands`` is :func:`~initpolicy.tracer.roles_branches.attention_operands`."""
    starts = {name: n for n, names in r.names_at.items() for name in names}
    out: dict[str, tuple[OperandBlock, ...]] = {}
    for name, roles in operands.items():
        node, module = starts.get(name), r.p.modules.get(name)
        if len(roles) < 2 or node is None or not is_type(module, LAST_DIM_FEATURES):
            continue
        features = _out_features(module)
        found: list[OperandBlock] = []
        for role, nodes in roles.items():
            blocks = {_block(r, node, features, operand) for operand in nodes}
            if len(blocks) == 1 and (b := blocks.pop()) is not None:
                found.append(OperandBlock(role, *b))
        found.sort(key=lambda b: b.start)
        if found and all(a.stop <= b.start for a, b in itertools.pairwise(found)):
            out[name] = tuple(found)
    return out


def _out_features(module: object) -> int:
    """The output features of a ``Linear`` (weight ``(out, in)``) or ``Conv1D`` (``(in, out)``)."""
    weight = getattr(module, "weight", None)
    shape = tuple(getattr(weight, "shape", ()))
    if len(shape) != 2:
        return 0
    return int(shape[1] if is_type(module, ("Conv1D",)) else shape[0])


def _data(n: fx.Node) -> fx.Node | None:
    """The tensor an op on the chain transforms (its first argument, else its one node
    argument: ``scale * q``)."""
    if n.args and isinstance(n.args[0], fx.Node):
        return n.args[0]
    nodes = [a for a in n.args if isinstance(a, fx.Node)]
    return nodes[0] if len(nodes) == 1 else None


def _chain(r: GraphView, start: fx.Node, operand: fx.Node) -> list[fx.Node] | None:
    """The nodes from ``start`` (excluded) to ``operand``, each the data input of the
    next; None where the operand is reached otherwise."""
    path: list[fx.Node] = []
    n: fx.Node | None = operand
    while n is not None and n is not start and len(path) < 32:
        path.append(n)
        n = _data(n)
    return path[::-1] if n is start else None


def _block(
    r: GraphView, start: fx.Node, features: int, operand: fx.Node
) -> tuple[int, int, int] | None:
    """(start, stop, head dim) of the features of ``start``'s output that ``operand`` reads
    alone (see the module doc), or None."""
    path = _chain(r, start, operand)
    if not path or features <= 0:
        return None
    layout: _Layout | None = _Layout(((features, 1),), known=False)
    cut = False
    prev = start
    for n in path:
        if layout is None:
            return None
        name = op_name(n)
        if name == "getitem" and op_name(prev) in _CUTS:
            layout, cut = _after_cut(prev, n, layout), True
        elif not _exclusive(prev, n):
            return None
        else:
            layout = _step(r, n, name, layout)
        prev = n
    if layout is None or not cut or len(operand.users) != 1:
        return None
    block = layout.block()
    return None if block is None else (*block, layout.last)


def _exclusive(prev: fx.Node, n: fx.Node) -> bool:
    """Whether ``n`` is all that reads ``prev``: its one user (a cut's users are its
    pieces, each read by one ``getitem`` of its own index)."""
    if op_name(prev) in _CUTS:
        return False  # a cut is read through getitem only
    return list(prev.users) == [n]


def _step(r: GraphView, n: fx.Node, name: str, layout: _Layout) -> _Layout | None:
    """``layout`` after op ``n`` (None where it cannot be followed)."""
    if name in _CUTS:
        return layout  # the piece is taken by the getitem that follows
    if name in _KEEP or is_identity(r, n) or r.kinds.get(n) == "op:mul":
        return layout
    if name in ("truediv", "div") and not isinstance(n.args[1], fx.Node):
        return layout
    if name in _RESHAPE:
        return _reshape(n, layout)
    if name in ("transpose", "swapaxes") and len(n.args) == 3:
        first = layout.at(min(n.args[1:3], key=lambda d: d if isinstance(d, int) else 0))
        if first is None:
            return None
        layout = first[0]
        a, b = (layout.at(d) for d in n.args[1:3])
        if a is None or b is None:
            return None
        dims = list(layout.dims)
        dims[a[1]], dims[b[1]] = dims[b[1]], dims[a[1]]
        return replace(layout, dims=tuple(dims))
    if name == "permute" and layout.known:
        order = (
            n.args[1] if len(n.args) == 2 and isinstance(n.args[1], tuple | list) else n.args[1:]
        )
        axes = [layout.at(d) for d in order]
        if any(a is None for a in axes) or len(axes) != len(layout.dims):
            return None
        return replace(layout, dims=tuple(layout.dims[a[1]] for a in axes if a is not None))
    return None


def _reshape(n: fx.Node, layout: _Layout) -> _Layout | None:
    """A reshape keeps the feature axis whole where the features are the trailing dims
    in storage order: the new trailing sizes whose product is the feature count are the
    new feature dims (a -1 among them takes what is left)."""
    feats = layout.features
    tail = layout.dims[-len(feats) :] if feats else ()
    strides = [s for _, s in feats]
    if not feats or tuple(feats) != tuple(tail) or strides != sorted(strides, reverse=True):
        return None
    total = math.prod(size for size, _ in feats)
    if _Layout(tuple(feats), True).block() != (0, total):
        return None
    sizes = n.args[1] if len(n.args) == 2 and isinstance(n.args[1], tuple | list) else n.args[1:]
    new: list[int] = []
    for s in reversed(sizes):
        product = math.prod(new)
        if product == total:
            break
        if s == -1 and total % product == 0:
            new.insert(0, total // product)
        elif isinstance(s, int) and s > 0:
            new.insert(0, s)
        else:
            return None
    if math.prod(new) != total:
        return None
    dims: list[tuple[int, int] | None] = [None] * (len(sizes) - len(new))
    stride = total
    for size in new:
        stride //= size
        dims.append((size, stride))
    return _Layout(tuple(dims), known=True, offset=layout.offset)


def _after_cut(cut: fx.Node, item: fx.Node, layout: _Layout) -> _Layout | None:
    """``layout`` of piece ``item`` (``getitem(cut, i)``) of ``cut``: ``split(size, dim)``,
    ``chunk(k, dim)`` or ``unbind(dim)``."""
    i = item.args[1] if len(item.args) > 1 else None
    if not isinstance(i, int):
        return None
    name = op_name(cut)
    pieces = [u.args[1] if len(u.args) > 1 and op_name(u) == "getitem" else None for u in cut.users]
    if None in pieces or len(set(pieces)) != len(pieces):
        return None  # a piece read twice, or the cut read whole
    dim_at = 1 if name == "unbind" else 2
    d = cut.args[dim_at] if len(cut.args) > dim_at else cut.kwargs.get("dim", 0)
    found = layout.at(d)
    if found is None:
        return None
    layout, axis = found
    dims = list(layout.dims)
    here = dims[axis]
    if name == "unbind":
        del dims[axis]
        offset = layout.offset + (i * here[1] if here is not None else 0)
        return _Layout(tuple(dims), layout.known, offset)
    if here is None:
        return layout  # a cut across tokens or batch keeps the features
    size, stride = here
    key = "chunks" if name == "chunk" else "split_size"
    arg = cut.args[1] if len(cut.args) > 1 else cut.kwargs.get(key)
    if name == "chunk" and isinstance(arg, int) and arg > 0:
        arg = -(-size // arg)
    if isinstance(arg, int) and arg > 0:
        bounds = [*range(0, size, arg), size]
    elif isinstance(arg, tuple | list) and all(isinstance(a, int) for a in arg):
        bounds = [0, *itertools.accumulate(arg)]
    else:
        return None
    if not -len(bounds) + 1 <= i < len(bounds) - 1:
        return None
    i %= len(bounds) - 1
    lo, hi = bounds[i], min(bounds[i + 1], size)
    dims[axis] = (hi - lo, stride)
    return _Layout(tuple(dims), layout.known, layout.offset + lo * stride)
