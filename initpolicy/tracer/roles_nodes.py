"""The node view of the roles pass (:mod:`initpolicy.tracer.roles`): what each node of the
traced graph is, its ancestors and descendants as bitsets over the node order (Python ints:
the latest common ancestor of two nodes is the highest bit of their ancestors' AND), the
residual and gate branches, and the one backward pass every propagated fact runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import torch.fx as fx

from .ops import (
    MIXING,
    NORM_FUNCTIONS,
    STOP,
    TENSOR_ATTRS,
    call_activation,
    is_composite,
    is_norm,
)
from .ops import module_activation as _module_activation
from .resolve import _Pass, op_name

#: Module classes (or bases) whose forward is one linear map of the input.
LINEAR_MODULES = ("Linear", "Bilinear", "_ConvNd", "Conv1D", "LazyLinear")


def _mro_names(module: Any) -> tuple[str, ...]:
    return tuple(c.__name__ for c in type(module).__mro__)


def is_type(module: Any, names: Iterable[str]) -> bool:
    wanted = set(names)
    return any(n in wanted for n in _mro_names(module))


def normalizes(module: Any) -> bool:
    """A normalization (divides by a statistic of its input): BatchNorm, LayerNorm,
    GroupNorm, RMSNorm, InstanceNorm and third-party ``...Norm`` classes; not an affine-only
    layer scale, which :func:`~initpolicy.tracer.ops.is_norm` also counts as transparent.

    >>> import torch
    >>> normalizes(torch.nn.LayerNorm(4)), normalizes(torch.nn.Linear(2, 2))
    (True, False)
    """
    return is_norm(module) and "scale" not in type(module).__name__.lower()


def bits(mask: int) -> Iterable[int]:
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


@dataclass(frozen=True)
class Join:
    """An add of two signals that share an ancestor: ``fork`` is their latest common
    ancestor (where a residual branch reads the stream), ``sides`` each operand's nodes
    between the fork and the add (bit masks). Whether it is a residual join, and which
    side is the branch, is each reader's rule over the sides
    (:meth:`GraphView.residual_branches`, :func:`~initpolicy.tracer.roles_branches.residual_branches`)."""

    node: fx.Node
    fork: fx.Node
    operands: tuple[fx.Node, fx.Node]
    sides: tuple[int, int]


class GraphView:
    def __init__(self, graph: fx.Graph, modules: Mapping[str, Any], params: Mapping[str, str]):
        self.p = _Pass(graph, modules, params)
        self.p.prepare()  # as the resolution pass prepares it
        self.nodes = self.p.nodes
        self.index = self.p.index
        self.signal = [n for n in self.nodes if n not in self.p.param_derived]
        self.names_at: dict[fx.Node, list[str]] = {}
        for n, name in self.p.layer_nodes():
            self.names_at.setdefault(n, []).append(name)
            m = self.p.module_of(n)
            if m is not None and is_composite(m):
                for child, sub in m.named_modules():
                    if child and any(q is not None for q in sub._parameters.values()):
                        self.names_at[n].append(f"{name}.{child}" if name else child)
        outputs = [n for n in self.nodes if n.op == "output"]
        returned: list[fx.Node] = []
        if outputs:
            fx.node.map_arg(outputs[0].args, returned.append)
        # Where a computation ends: the first returned value (the logits, what the dynamic
        # pass differentiates), and every other returned tensor that nothing in the graph
        # reads (YOLOS's pred_boxes beside its class logits). One that is also read (an
        # encoder's last hidden state, read by the decoder) is a side output.
        self.ends = {
            n for i, n in enumerate(returned) if i == 0 or all(u.op == "output" for u in n.users)
        } - self.p.param_derived
        self.kinds = {n: self._kind(n) for n in self.signal}
        self.anc = self._ancestors()
        self.desc = self._descendants()

    # -- what a node is ------------------------------------------------------------------
    def _kind(self, n: fx.Node) -> str:
        """output, norm, layer, activation:<name>, stop, join, mul, op:<name> or module."""
        if n.op == "output":
            return "output"
        if n.op == "placeholder":
            return "input"
        if n in self.p.norm_nodes:
            owners = [self.p.tensor_owner(a) for a in self._tensors_read(n)]
            # a traced-through norm's own tensors (RMSNorm's ``weight * x``); a layer
            # scale's ``gamma * x`` is only affine
            return "norm" if any(o is not None and normalizes(o) for o in owners) else "op:mul"
        if n in self.p.opaque_mixing:
            return "layer"
        if n.op == "call_module":
            m = self.p.module_of(n)
            if m is None:
                return "module"
            act = _module_activation(m)
            if act is not None:
                return f"activation:{act[0]}"
            if normalizes(m):
                return "norm"
            owns = any(q is not None for q in m._parameters.values())
            if is_composite(m) or (owns and n in self.names_at and not is_norm(m)):
                return "layer"
            return "module"
        name = op_name(n)
        if name == "getattr":
            attr = n.args[1] if len(n.args) > 1 else None
            return "op:getattr" if attr in TENSOR_ATTRS else "stop"
        if name in STOP:
            return "stop"
        spelled = call_activation(name, tuple(n.args), dict(n.kwargs))
        if spelled is not None:
            return f"activation:{spelled[0]}"
        if name in NORM_FUNCTIONS:
            return "norm"
        if name in MIXING:
            return "layer"
        operands = [a for a in n.args if isinstance(a, fx.Node) and a not in self.p.param_derived]
        if name in ("add", "sub") and len(operands) >= 2:
            return "join"
        if name in ("mul", "truediv", "div") and len(operands) >= 2:
            return "mul"
        return f"op:{name}"

    def _tensors_read(self, n: fx.Node) -> list[fx.Node]:
        """The ``get_attr`` nodes ``n`` reads, directly or through ops on parameters alone
        (an RMSNorm's ``weight.reshape(1, -1, 1, 1) * x``)."""
        found, stack = [], list(n.all_input_nodes)
        while stack:
            a = stack.pop()
            if a.op == "get_attr":
                found.append(a)
            elif a in self.p.param_derived:
                stack += a.all_input_nodes
        return found

    def _through(self, n: fx.Node) -> list[fx.Node]:
        """The signal nodes that read ``n``; the graph's output only where ``n`` is one of
        the model's ends (``self.ends``): a tensor also returned for the caller but read on
        (a side output: ``encoder_last_hidden_state``) is not where its computation ends."""
        return [
            u
            for u in n.users
            if u not in self.p.param_derived and (u.op != "output" or n in self.ends)
        ]

    def _ancestors(self) -> dict[fx.Node, int]:
        """Data ancestors (itself included) as bitsets, stopping at parameters and
        metadata, as the resolution pass's ``_ancestors`` does."""
        anc: dict[fx.Node, int] = {}
        for n in self.nodes:
            mask = 0 if n in self.p.param_derived else 1 << self.index[n]
            for a in n.all_input_nodes:
                if a.op != "get_attr" and op_name(a) not in STOP:
                    mask |= anc[a]
            anc[n] = mask
        return anc

    def _descendants(self) -> dict[fx.Node, int]:
        desc: dict[fx.Node, int] = {}
        for n in reversed(self.nodes):
            mask = 1 << self.index[n]
            for u in n.users:
                mask |= desc[u]
            desc[n] = mask
        return desc

    def _layers_in(self, mask: int) -> set[str]:
        return {name for i in bits(mask) for name in self.names_at.get(self.nodes[i], ())}

    def _mixing_in(self, mask: int) -> bool:
        return any(self.kinds.get(self.nodes[i]) == "layer" for i in bits(mask))

    # -- branches --------------------------------------------------------------------------
    @cached_property
    def joins(self) -> list[Join]:
        """Every add of two signals with a common ancestor, in execution order: the one
        enumeration every residual rule reads."""
        found: list[Join] = []
        for j in self.signal:
            if self.kinds[j] != "join":
                continue
            operands = [a for a in j.args if isinstance(a, fx.Node) and a in self.kinds]
            if len(operands) != 2:
                continue
            a, b = (self.anc[x] for x in operands)
            common = a & b
            if not common:
                continue
            fork = self.nodes[common.bit_length() - 1]  # latest in execution order
            sides = (a & ~common & self.desc[fork], b & ~common & self.desc[fork])
            found.append(Join(j, fork, (operands[0], operands[1]), sides))
        return found

    def residual_branches(self) -> dict[fx.Node, tuple[int, fx.Node]]:
        """Every residual join (an add whose one operand reaches the fork with no
        parameterized layer on the way and the other through at least one) -> the branch
        side's nodes (a bit mask) and the fork (where the branch reads the stream)."""
        found: dict[fx.Node, tuple[int, fx.Node]] = {}
        for j in self.joins:
            mixing = [self._mixing_in(side) for side in j.sides]
            if mixing.count(True) == 1:
                found[j.node] = (j.sides[mixing.index(True)], j.fork)
        return found

    def residual_members(self) -> set[str]:
        """Layers between the fork and the join of every residual add."""
        members: set[str] = set()
        for side, _fork in self.residual_branches().values():
            members |= self._layers_in(side)
        return members

    def gate_members(self, data: set[fx.Node]) -> set[str]:
        """Layers computing ``g`` in ``x * g(x)``: between the joint with ``x`` and the mul.
        ``x`` is data (it depends on the model's inputs): ``q * cos`` in a rotary embedding
        reads ``cos``, a function of positions only, and gates nothing."""
        members: set[str] = set()
        for m in self.signal:
            if self.kinds[m] != "mul" or op_name(m) != "mul":
                continue
            operands = [a for a in m.args[:2] if isinstance(a, fx.Node)]
            if len(operands) != 2:
                continue
            for main, gate in (operands, operands[::-1]):
                side = self.anc[gate]
                joint = next(
                    (c for c in self.p.transparent_chain(main) if side >> self.index[c] & 1), None
                )
                if joint is None or joint not in data:
                    continue
                members |= self._layers_in(side & ~self.anc[joint] & self.desc[joint])
                break
        return members

    # -- facts propagated backwards from the output --------------------------------------
    def backward(self, at: dict[str, Any], combine: Any) -> dict[fx.Node, Any]:
        """One reverse-topological pass: ``at[kind]`` is a node's own value (a callable of
        its users' combined value), ``combine`` merges the users' values."""
        value: dict[fx.Node, Any] = {}
        for n in reversed(self.signal):
            after = combine([value[u] for u in self._through(n)])
            kind = self.kinds[n]
            rule = at.get(kind, at.get(kind.split(":")[0], at["default"]))
            value[n] = rule(n, after)
        return value

    def after(self, value: dict[fx.Node, Any], n: fx.Node, combine: Any) -> Any:
        return combine([value[u] for u in self._through(n)])
