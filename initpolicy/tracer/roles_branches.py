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

An attention role (``query``, ``key``, ``value``) is that of the layer whose output is an
operand of attention, through reshapes and scalings only: a query or key of the score
product (``q @ kᵀ``, whose result reaches a softmax) or of
``scaled_dot_product_attention``'s first two arguments; a value of the product with the
softmax's output, or its third argument. A query and a key are told apart by their
position in the product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.fx as fx

from .graph import Layer
from .resolve import op_name
from .roles_nodes import GraphView, bits

#: The functional spellings of fused attention: (query, key, value) are args 0, 1, 2.
FUSED_ATTENTION = frozenset({"scaled_dot_product_attention", "_scaled_dot_product_attention"})
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


def residual_branches(r: GraphView) -> list[Branch]:
    """Every residual branch, in execution order of its join."""
    found: list[Branch] = []
    for j in r.signal:
        if r.kinds[j] != "join":
            continue
        operands = [a for a in j.args if isinstance(a, fx.Node) and a in r.kinds]
        if len(operands) != 2:
            continue
        a, b = (r.anc[x] for x in operands)
        common = a & b
        if not common:
            continue
        fork = r.nodes[common.bit_length() - 1]
        sides = [side & ~common & r.desc[fork] for side in (a, b)]
        counts = [_count(r, side) for side in sides]
        if max(counts) == 0 or counts[0] == counts[1]:
            continue
        side = sides[counts.index(max(counts))]
        found.append(_branch(r, side))
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


def assign_branches(r: GraphView, layers: list[Layer]) -> int:
    """Fill each layer's branch facts; returns the number of residual branches."""
    branches = residual_branches(r)
    for lay in layers:
        inside = [k for k, b in enumerate(branches) if lay.name in b.members]
        if not inside:
            continue
        k = min(inside, key=lambda i: len(branches[i].members))
        b = branches[k]
        lay.branch = k
        lay.branch_layers = len(b.mixing)
        lay.branch_end = lay.name in b.ends
        lay.branch_tail = lay.name in b.tails
    roles = attention_roles(r)
    for lay in layers:
        lay.attention = roles.get(lay.name)
    return len(branches)


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
        if kind.startswith("op:") or kind == "mul" or m in through:
            stack += [(a, d + 1) for a in m.all_input_nodes]
    return out


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


def attention_roles(r: GraphView) -> dict[str, str]:
    """Layer name -> ``query``, ``key`` or ``value`` (see the module doc)."""
    roles: dict[str, set[str]] = {}
    residual = r.residual_branches()
    rotary = frozenset(j for j in r.signal if r.kinds[j] == "join" and j not in residual)

    def put(node: fx.Node, role: str) -> None:
        for name in _sources(r, node, rotary):
            roles.setdefault(name, set()).add(role)

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
    return {name: next(iter(found)) for name, found in roles.items() if len(found) == 1}
