"""Residual branches and attention roles, read from the traced graph (never from names):
the facts depth-stabilizing policies (Fixup, SkipInit, T-Fixup, DeepNorm) select by.

A residual branch is the side of an add ``x + f(x)`` that holds parameterized mixing
layers (:meth:`GraphView.residual_members` finds the same adds); where both sides mix
(a downsampling block's 1x1 projection shortcut), the branch is the side with more mixing
layers, the other is the shortcut. Per layer (innermost branch, where branches nest):

* ``branch`` — the index of its branch, in execution order of the joins;
* ``branch_layers`` — how many mixing layers that branch has (Fixup's ``m``);
* ``branch_end`` — a mixing layer whose output reaches the join through no other mixing
  layer (Fixup's "last layer of the branch"; a norm may follow it);
* ``branch_tail`` — the last parameterized module of the branch (a norm where the branch
  ends in one: SkipInit's gain, torchvision's ``zero_init_residual``), whose output
  reaches the join through no other parameterized module;

and ``ModelGraph.n_branches`` counts the branches (Fixup's ``L``).

A *stack* is a chain of residual branches along one residual stream: a branch follows
the branch whose join is the latest join its shortcut (the stream it adds to) comes from.
An encoder-decoder model has two stacks, and one reads the other only through
cross-attention: a key or value layer that lies on no branch of its own, whose input
comes from one stack (the latest join before it is that stack's) and whose output is read
by the attention of another stack's branch. That layer belongs to the branch reading it
(cross-attention has query, key, value and output layers as self-attention does); the
stack read is the *encoder*, the stack reading it the *decoder*. Each stack has
(branches - cross-attention branches) / 2 blocks (an attention and an FFN branch per
block, plus the decoder's cross-attention): DeepNet's N and M. Per layer ``stack`` says
``encoder`` or ``decoder``; a model with one stack (encoder-only or decoder-only: nothing
in the graph tells them apart, and their formulas agree) has none.

An attention role (``query``, ``key``, ``value``) is that of the layer whose output is an
operand of attention, through reshapes and scalings only: a query or key of the score
product (``q @ kᵀ``, whose result reaches a softmax) or of
``scaled_dot_product_attention``'s first two arguments; a value of the product with the
softmax's output, or its third argument. A query and a key are told apart by their
position in the product.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import torch
import torch.fx as fx

from .ops import FUSED_ATTENTION
from .resolve import op_name
from .roles_nodes import GraphView, bits

#: Products of two activations (the score and the weighted sum of values).
PRODUCTS = frozenset({"matmul", "bmm", "einsum", "baddbmm"})


@dataclass(frozen=True)
class Branch:
    """One residual branch: its layers (all parameterized modules), its mixing layers,
    the mixing layers that end it and the modules that are its tail."""

    members: frozenset[str]
    mixing: frozenset[str]
    ends: frozenset[str]
    tails: frozenset[str]
    #: The add ``x + f(x)``, its stream operand ``x``, and the branch side's nodes (a mask).
    join: fx.Node | None = None
    shortcut: fx.Node | None = None
    side: int = 0


@dataclass(frozen=True)
class BranchFacts:
    """What the branches pass tells the model graph: L, and DeepNet's N and M (blocks of
    the encoder and the decoder stack; 0 where the model has no cross-attention)."""

    n_branches: int = 0
    encoder_blocks: float = 0.0
    decoder_blocks: float = 0.0


def residual_branches(r: GraphView) -> list[Branch]:
    """Every residual branch, in execution order of its join: of the two sides of each
    join (:attr:`GraphView.joins`), the one with more mixing layers."""
    found: list[Branch] = []
    for j in r.joins:
        counts = [_count(r, side) for side in j.sides]
        if max(counts) == 0 or counts[0] == counts[1]:
            continue
        k = counts.index(max(counts))
        branch = _branch(r, j.sides[k])
        found.append(replace(branch, join=j.node, shortcut=j.operands[1 - k], side=j.sides[k]))
    return found


def _layer_nodes(r: GraphView, mask: int) -> list[fx.Node]:
    return [r.nodes[i] for i in bits(mask) if r.nodes[i] in r.names_at]


def _count(r: GraphView, mask: int) -> int:
    return sum(1 for n in _layer_nodes(r, mask) if r.kinds.get(n) == "layer")


def _branch(r: GraphView, side: int) -> Branch:
    nodes = _layer_nodes(r, side)
    mixing = [n for n in nodes if r.kinds.get(n) == "layer"]
    after = {n: r.desc[n] & side & ~(1 << r.index[n]) for n in nodes}
    ends = [n for n in mixing if not any(m in mixing for m in _at(r, after[n]))]
    tails = [n for n in nodes if not any(m in r.names_at for m in _at(r, after[n]))]
    return Branch(
        members=frozenset(name for n in nodes for name in r.names_at[n]),
        mixing=frozenset(name for n in mixing for name in r.names_at[n]),
        ends=frozenset(name for n in ends for name in r.names_at[n]),
        tails=frozenset(name for n in tails for name in r.names_at[n]),
    )


def _at(r: GraphView, mask: int) -> list[fx.Node]:
    return [r.nodes[i] for i in bits(mask)]


@dataclass(frozen=True)
class Stacks:
    """The residual stacks (see the module doc): each branch's stack, each stack's blocks,
    which stacks are encoders and decoders, and the branches with the cross-attention
    layers they read."""

    of: tuple[int, ...]
    blocks: dict[int, float]
    encoders: frozenset[int]
    decoders: frozenset[int]

    def role(self, branch: int) -> str | None:
        stack = self.of[branch]
        if stack in self.decoders:
            return "decoder"
        return "encoder" if stack in self.encoders else None

    def first_blocks(self, stacks: frozenset[int]) -> float:
        return self.blocks[min(stacks)] if stacks else 0.0


def residual_stacks(
    r: GraphView, branches: list[Branch], roles: dict[str, str]
) -> tuple[Stacks, list[Branch]]:
    """The stacks, and the branches with their cross-attention key/value layers added."""
    joins = {r.index[b.join]: k for k, b in enumerate(branches) if b.join is not None}
    join_mask = sum(1 << i for i in joins)

    def latest_join(n: fx.Node) -> int | None:
        mask = r.anc.get(n, 0) & join_mask
        return joins[mask.bit_length() - 1] if mask else None

    parent = list(range(len(branches)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for k, b in enumerate(branches):
        before = latest_join(b.shortcut) if b.shortcut is not None else None
        if before is not None:
            parent[root(k)] = root(before)
    number: dict[int, int] = {}
    of = tuple(number.setdefault(root(k), len(number)) for k in range(len(branches)))
    members = {name for b in branches for name in b.members}
    nodes_of: dict[str, list[fx.Node]] = {}
    for n, names in r.names_at.items():
        for name in names:
            nodes_of.setdefault(name, []).append(n)
    cross: dict[int, set[str]] = {}
    encoders, decoders = set(), set()
    for name, role in roles.items():
        if role not in ("key", "value") or name in members:
            continue
        for n in nodes_of.get(name, []):
            reader = next((k for k, b in enumerate(branches) if r.desc[n] & b.side), None)
            source = latest_join(n)
            if reader is None or source is None or of[source] == of[reader]:
                continue
            cross.setdefault(reader, set()).add(name)
            encoders.add(of[source])
            decoders.add(of[reader])
    counts: dict[int, int] = {}
    for k in range(len(branches)):
        counts[of[k]] = counts.get(of[k], 0) + (0 if k in cross else 1)
    blocks = {stack: c / 2 for stack, c in counts.items()}
    out = [
        replace(b, members=b.members | cross[k], mixing=b.mixing | cross[k]) if k in cross else b
        for k, b in enumerate(branches)
    ]
    return Stacks(of, blocks, frozenset(encoders), frozenset(decoders)), out


@dataclass(frozen=True)
class InBranch:
    """A layer's facts from its innermost residual branch (``GraphRoles``' fields)."""

    branch: int
    branch_layers: int
    branch_end: bool
    branch_tail: bool
    stack: str | None


def branches_of(
    r: GraphView, roles: dict[str, str], names: Iterable[str]
) -> tuple[dict[str, InBranch], BranchFacts]:
    """Layer name -> the facts of its innermost branch (for the layers in a branch), and
    the model's L, N and M. ``roles`` are the attention roles (layer name -> its one operand, from :func:`attention_operands`)."""
    stacks, branches = residual_stacks(r, residual_branches(r), roles)
    out: dict[str, InBranch] = {}
    for name in names:
        inside = [k for k, b in enumerate(branches) if name in b.members]
        if not inside:
            continue
        k = min(inside, key=lambda i: len(branches[i].members))
        b = branches[k]
        out[name] = InBranch(k, len(b.mixing), name in b.ends, name in b.tails, stacks.role(k))
    facts = BranchFacts(
        len(branches),
        stacks.first_blocks(stacks.encoders - stacks.decoders),
        stacks.first_blocks(stacks.decoders),
    )
    return out, facts


# -- attention ---------------------------------------------------------------------------


def _sources(
    r: GraphView, n: fx.Node, through: frozenset[fx.Node] = frozenset(), depth: int = 12
) -> set[str]:
    """The layers whose output reaches ``n`` through shape and scaling ops only, and
    through the adds in ``through`` (those that are no residual join: a rotary
    ``q*cos + rot(q)*sin``)."""
    out: set[str] = set()
    stack, seen = [(n, 0)], set()
    while stack:
        m, d = stack.pop()
        if m in seen or d > depth or m not in r.kinds:
            continue
        seen.add(m)
        if m in r.names_at and r.kinds[m] == "layer":
            out.update(r.names_at[m])
            continue
        kind = r.kinds[m]
        if kind.startswith("op:") or kind == "mul" or m in through or is_identity(r, m):
            stack += [(a, d + 1) for a in m.all_input_nodes]
    return out


def is_identity(r: GraphView, n: fx.Node) -> bool:
    """A module call that returns its input (``nn.Identity``: timm's ``q_norm`` where
    the model has no qk-norm)."""
    m = r.p.module_of(n) if n.op == "call_module" else None
    return m is not None and isinstance(m, torch.nn.Identity)


def _reaches_softmax(r: GraphView, n: fx.Node, depth: int = 8) -> bool:
    stack, seen = [(n, 0)], set()
    while stack:
        m, d = stack.pop()
        if m in seen or d > depth:
            continue
        seen.add(m)
        for u in m.users:
            kind = r.kinds.get(u, "")
            if kind in ("activation:softmax", "activation:log_softmax"):
                return True
            if kind.startswith("op:") or kind in ("mul", "join"):
                stack.append((u, d + 1))
    return False


def _after_softmax(r: GraphView, n: fx.Node, depth: int = 12) -> bool:
    """Whether ``n`` is a softmax's output through shape ops, scalings and dropout only
    (the attention probabilities), not merely downstream of some earlier softmax."""
    stack, seen = [(n, 0)], set()
    while stack:
        m, d = stack.pop()
        if m in seen or d > depth or m not in r.kinds:
            continue
        seen.add(m)
        kind = r.kinds[m]
        if kind in ("activation:softmax", "activation:log_softmax"):
            return True
        if kind.startswith("op:") or kind in ("mul", "module"):
            stack += [(a, d + 1) for a in m.all_input_nodes]
    return False


def attention_operands(r: GraphView) -> dict[str, dict[str, list[fx.Node]]]:
    """Layer name -> each attention operand its output is (``query``, ``key``, ``value``)
    -> the operand nodes (the arguments of the score product or of the fused attention)
    it reaches. A layer with several is a fused projection."""
    roles: dict[str, dict[str, list[fx.Node]]] = {}
    residual = r.residual_branches()
    rotary = frozenset(j for j in r.signal if r.kinds[j] == "join" and j not in residual)

    def put(node: fx.Node, role: str) -> None:
        for name in _sources(r, node, rotary):
            roles.setdefault(name, {}).setdefault(role, []).append(node)

    for n in r.signal:
        name = op_name(n)
        operands = [a for a in n.args if isinstance(a, fx.Node)]
        if name in FUSED_ATTENTION:
            qkv = [
                n.args[i] if len(n.args) > i else n.kwargs.get(k)
                for i, k in enumerate(("query", "key", "value"))
            ]
            for node, role in zip(qkv, ("query", "key", "value"), strict=True):
                if isinstance(node, fx.Node):
                    put(node, role)
        elif name in PRODUCTS and len(operands) == 2:
            left, right = operands
            if _after_softmax(r, left) and not _after_softmax(r, right):
                put(right, "value")
            elif _reaches_softmax(r, n) and not any(_after_softmax(r, o) for o in operands):
                put(left, "query")
                put(right, "key")
    return roles
