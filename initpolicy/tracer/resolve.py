"""The resolution pass: which activation follows each layer, over one torch.fx Graph.

From each layer's output the pass walks forward through ops that do not change the
answer (norms, dropout, reshapes, pooling, residual add, cat, scaling, gating muls) to
the first op that does: an activation (that is the answer), another parameterized layer
or a mixing op (``linear``), or the graph output (``output``). Every path is followed;
when paths or repeated calls of one module disagree the layer is ``mixed``.

It runs once, in reverse topological order, so every node is visited once: the set of
outcomes reachable from a node is the union over its users. How each op counts is
decided by :mod:`initpolicy.tracer.ops` alone.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch.fx as fx

from .ops import (
    ATTENTION_OPS,
    MIXING,
    NORM_FUNCTIONS,
    SLICING,
    STOP,
    TENSOR_ATTRS,
    UNKNOWN_ELEMENTWISE,
    call_activation,
    constant_factor,
    from_name,
    function_name,
    is_composite,
    is_glu,
    is_norm,
    module_activation,
    normalize,
)

#: (activation, sorted args, normalized on the way, residual add on the way)
Outcome = tuple[str, tuple[tuple[str, Any], ...], bool, bool]

#: Output features [start, stop) of a layer along its last dim, and what they reach.
Cut = tuple[int, int, set[Outcome]]


@dataclass
class Use:
    """How one tensor's output is read: the outcomes of its own uses, which dim of the
    stored tensor holds its output features (None where unknown), and, where that output
    is cut into blocks along its last dim (``a, g = W(x).chunk(2, -1)``: a packed GLU
    projection; Mamba2's ``split([d, conv, heads], dim=-1)``), each block's features
    [start, stop) and outcomes, in order."""

    outcomes: set[Outcome] = field(default_factory=set)
    out_dim: int | None = None
    blocks: list[Cut] = field(default_factory=list)


@dataclass
class Resolved:
    """What the pass found for one module (or the owner of a directly used parameter)."""

    name: str
    outcomes: set[Outcome] = field(default_factory=set)
    order: float = 0.0
    previous: str | None = None
    #: Local tensor name -> its own use, for tensors the graph shows used directly (an MoE
    #: experts module's ``gate_up_proj`` and ``down_proj``), and ``""`` for the module's
    #: output where it is cut into blocks (ModernBERT's ``Wi``).
    uses: dict[str, Use] = field(default_factory=dict)


def op_name(node: fx.Node) -> str:
    if node.op == "call_method":
        return normalize(str(node.target))
    if node.op == "call_function":
        return function_name(node.target)
    return node.op


def parametrization_of(name: str) -> tuple[str, str] | None:
    """(owner, ParametrizationList) names for a module inside a parametrization.

    ``lin.parametrizations.weight.0`` (spectral_norm's power iteration) and
    ``lin.parametrizations.weight`` compute ``lin``'s weight: ``("lin",
    "lin.parametrizations.weight")``; None for any other module.

    >>> parametrization_of("lin.parametrizations.weight.0"), parametrization_of("lin")
    (('lin', 'lin.parametrizations.weight'), None)
    """
    head, sep, rest = f".{name}".rpartition(".parametrizations.")
    if not sep or not rest:
        return None
    owner = head[1:]
    key = rest.split(".")[0]
    return owner, f"{owner}.parametrizations.{key}" if owner else f"parametrizations.{key}"


def _owns_params(module: Any) -> bool:
    return bool(module._parameters) and any(p is not None for p in module._parameters.values())


class _Pass:
    def __init__(self, graph: fx.Graph, modules: Mapping[str, Any], params: Mapping[str, str]):
        self.graph = graph
        self.modules = modules
        self.params = params  # qualified parameter name -> owning module name
        self.nodes = list(graph.nodes)
        self.index = {n: i for i, n in enumerate(self.nodes)}
        self.param_derived: set[fx.Node] = set()
        self._residual: dict[fx.Node, bool] = {}
        #: Ops computed from the tensors of a normalization module traced through
        #: (an RMSNorm's ``weight * x``): transparent, and they mark the layer normalized.
        self.norm_nodes: set[fx.Node] = set()
        #: Calls of functions fx cannot see into that consume a weight (a function wrapped
        #: with ``torch.fx.wrap``, e.g. torchvision's ``shifted_window_attention``): mixing.
        self.opaque_mixing: set[fx.Node] = set()
        self.contribs: dict[fx.Node, set[Outcome]] = {}

    # -- what one node does to a walk that reaches it ------------------------------------
    def module_of(self, node: fx.Node) -> Any:
        return self.modules.get(str(node.target)) if node.op == "call_module" else None

    def contrib(self, node: fx.Node, after: set[Outcome]) -> set[Outcome]:
        """Outcomes of a walk that reaches ``node``, given the outcomes beyond it."""
        if node.op == "output":
            return {("output", (), False, False)}
        if node.op == "call_module":
            m = self.module_of(node)
            if m is None:
                return after
            if is_glu(m):
                return {_GLU_GATE} | after
            act = module_activation(m)
            if act is not None:
                return {(act[0], _key(act[1]), False, False)}
            if is_norm(m):
                return {(a, k, True, r) for a, k, _n, r in after}
            if is_composite(m):
                return {("linear", (), False, False)}
            if _owns_params(m):
                # the walk enters another layer: marked, so a layer whose output goes only
                # into layers (Mamba's xBC block into its depthwise conv) knows them
                return {("linear", ((INTO, str(node.target)),), False, False)}
            return after
        if node.op not in ("call_function", "call_method"):
            return set()
        name = op_name(node)
        if name == "getattr":
            attr = node.args[1] if len(node.args) > 1 else None
            return after if attr in TENSOR_ATTRS else set()
        if name == "glu":
            return {_GLU_GATE} | after
        spelled = call_activation(name, tuple(node.args), dict(node.kwargs))
        if spelled is not None and not _soft_cap(node):
            return {(spelled[0], _key(spelled[1]), False, False)}
        if name in MIXING or node in self.opaque_mixing:
            owner = self._weight_layer(node) if name in MIXING else None
            args = ((INTO, owner),) if owner is not None else ()
            return {("linear", args, False, False)}
        if name in STOP:
            return set()
        if name in NORM_FUNCTIONS or node in self.norm_nodes:
            return {(a, k, True, r) for a, k, _n, r in after}
        if name in UNKNOWN_ELEMENTWISE and not _constant_power(node):
            # only where its value goes on to a layer or the output: ``h.abs().sum()`` read
            # by a condition (or a loss term nothing returns) is no activation of the layer
            return {("unknown", (("op", name),), False, False)} if after else set()
        if name in ("add", "sub") and self._sums_signals(node):
            # a factor before a sum with another signal weighs one term against the other:
            # it is no longer the layer's gain (NF-Nets' ``alpha * branch + shortcut``)
            after = {_summed(_entered(o)) for o in after}
            if self.is_residual(node):
                return {(a, k, n, True) for a, k, n, _r in after}
            return after
        if name == "mul" and self._sums_signals(node):
            # a gate (``x * g(x)``: squeeze-excitation) scales the signal by its own value;
            # a constant after it (NF-Nets' ``attn_gain`` = 2 against sigmoid's 1/2) is not
            # the layer's gain either
            return {_summed(_entered(o)) for o in after}
        factor = _factor(node)
        if factor is not None:
            return {_scaled(o, factor) for o in after}
        return after

    def _weight_layer(self, node: fx.Node) -> str | None:
        """The layer whose weight a mixing op applies (``F.conv1d(x, conv.weight)``,
        ``x @ W.t()``): the owner of its one operand computed from a parameter alone,
        followed back through single-input steps to the parameter; None where the op
        mixes two signals (``q @ k.T``) or reads the tensors of several layers. Its bias
        may come with the weight. An attention op applies no weight of the model: a tensor
        it reads (a bias table as ``attn_mask``) is added to its scores."""
        if op_name(node) in ATTENTION_OPS:
            return None
        inputs = node.all_input_nodes
        weights = [a for a in inputs if a in self.param_derived]
        if not weights or len(weights) == len(inputs):
            return None
        owners = {self._param_owner(w) for w in weights}
        return owners.pop() if len(owners) == 1 else None

    def _param_owner(self, node: fx.Node) -> str | None:
        """The module owning the one parameter ``node`` is computed from (through
        single-input steps: a cast, a transpose), else None."""
        while node.op != "get_attr":
            inputs = node.all_input_nodes
            if len(inputs) != 1:
                return None
            node = inputs[0]
        return self.params.get(str(node.target))

    def _sums_signals(self, node: fx.Node) -> bool:
        """An add (or mul) of two signals, not of a signal and the model's own tensor (a
        bias, a gain)."""
        operands = [a for a in node.args if isinstance(a, fx.Node) and a not in self.param_derived]
        return len(operands) >= 2

    # -- residual adds: both operands share an ancestor (x + f(x)) ----------------------
    def is_residual(self, node: fx.Node) -> bool:
        if node in self._residual:
            return self._residual[node]
        operands = [a for a in node.args if isinstance(a, fx.Node) and a not in self.param_derived]
        result = False
        if len(operands) == 2:
            seen = self._ancestors(operands[0], None)
            result = bool(self._ancestors(operands[1], seen))
        self._residual[node] = result
        return result

    def _ancestors(self, start: fx.Node, hit: set[fx.Node] | None) -> set[fx.Node]:
        """Data ancestors of ``start`` (itself included); with ``hit``, stop at the first
        ancestor in ``hit`` and return it alone (empty when there is none)."""
        seen = {start}
        stack = [start]
        while stack:
            n = stack.pop()
            if hit is not None and n in hit:
                return {n}
            for a in n.all_input_nodes:
                if a in seen or a.op == "get_attr" or op_name(a) in STOP:
                    continue
                seen.add(a)
                stack.append(a)
        return set() if hit is not None else seen

    # -- gates: x * g(x) (squeeze-excitation); the branch computing g is not x's consumer --
    def gate_edges(self) -> set[tuple[fx.Node, fx.Node]]:
        """Edges from a tensor into the branch that computes its own multiplicative gate.

        For ``x * g(x)`` where ``x`` reaches the mul through transparent ops only, the
        layers inside ``g`` read ``x`` but do not follow it: ``x`` continues through the mul.
        """
        edges: set[tuple[fx.Node, fx.Node]] = set()
        for m in self.nodes:
            if m.op not in ("call_function", "call_method") or op_name(m) != "mul":
                continue
            operands = [a for a in m.args[:2] if isinstance(a, fx.Node)]
            if len(operands) != 2 or any(a in self.param_derived for a in operands):
                continue
            for main, gate in (operands, operands[::-1]):
                chain = self.transparent_chain(main)
                gate_side = self._ancestors(gate, None)
                joint = next((c for c in chain if c in gate_side), None)
                if joint is None:
                    continue
                on_main = set(chain)
                for u in joint.users:
                    if u is not m and u in gate_side and u not in on_main:
                        edges.add((joint, u))
                break
        return edges

    def transparent_chain(self, node: fx.Node) -> list[fx.Node]:
        """``node`` and its first-input ancestors reached through single-input reshapes,
        dropout and similar ops (nothing that is a layer, activation or mixing op)."""
        chain = [node]
        while True:
            n = chain[-1]
            inputs = [a for a in n.all_input_nodes if a not in self.param_derived]
            if n.op not in ("call_function", "call_method") or len(inputs) != 1:
                return chain
            name = op_name(n)
            if from_name(name) is not None or name in MIXING or name in STOP:
                return chain
            if name in SLICING:
                # two slices of one tensor are not the same x: a packed GLU projection's
                # ``act(h[0]) * h[1]`` is not a gate on h
                return chain
            chain.append(inputs[0])

    # -- the pass -------------------------------------------------------------------------
    def mark_param_derived(self) -> None:
        """Mark the nodes computed from parameters and buffers alone (``W.t()``, a
        parametrization's weight, a position table's lookup): weights, not signal."""
        for n in self.nodes:
            if (
                n.op == "get_attr"
                or self.parametrization(n) is not None
                or (
                    n.op in ("call_function", "call_method")
                    and n.all_input_nodes
                    and all(a in self.param_derived for a in n.all_input_nodes)
                )
            ):
                self.param_derived.add(n)

    def prepare(self) -> None:
        """What every walk over the graph needs first: the nodes computed from tensors
        alone, the ops of norms traced through, the opaque calls that mix."""
        self.mark_param_derived()
        self.norm_nodes = self._norm_nodes()
        self.opaque_mixing = {n for n in self.nodes if self._opaque_mixing(n)}

    def run(self) -> dict[str, Resolved]:
        self.prepare()
        gates = self.gate_edges()
        out: dict[fx.Node, set[Outcome]] = {}
        contrib: dict[fx.Node, set[Outcome]] = {}
        for n in reversed(self.nodes):
            after: set[Outcome] = set()
            for u in n.users:
                if (n, u) not in gates:
                    after |= contrib[u]
            out[n] = after
            contrib[n] = set() if n in self.param_derived else self.contrib(n, after)
        self.contribs = contrib
        return self.collect(out)

    def tensor_owner(self, node: fx.Node) -> Any:
        """The module owning the tensor a ``get_attr`` node reads (None for constants)."""
        return self.modules.get(str(node.target).rpartition(".")[0])

    def _norm_nodes(self) -> set[fx.Node]:
        found: set[fx.Node] = set()
        for n in self.nodes:
            owner = self.tensor_owner(n) if n.op == "get_attr" else None
            if owner is not None and is_norm(owner) and not _param_children("", owner):
                found.update(self._consumers(n))
        return found

    def _opaque_mixing(self, node: fx.Node) -> bool:
        """A call of a plain Python function from outside torch (only fx records those:
        ``torch.fx.wrap``) that takes a weight of 2 or more dimensions."""
        target = node.target
        if node.op != "call_function" or not isinstance(target, types.FunctionType):
            return False
        if target.__module__.startswith(("torch", "_operator", "operator", "builtins")):
            return False
        for a in node.all_input_nodes:
            if a.op == "get_attr":
                t = getattr(self.tensor_owner(a), str(a.target).rpartition(".")[2], None)
                if getattr(t, "ndim", 0) >= 2 and str(a.target) in self.params:
                    return True
        return False

    def parametrization(self, node: fx.Node) -> tuple[str, str] | None:
        """(owner, ParametrizationList) when ``node`` calls a module computing a
        parametrized weight (weight_norm, spectral_norm): a weight, not a layer."""
        return parametrization_of(str(node.target)) if node.op == "call_module" else None

    def layer_nodes(self) -> list[tuple[fx.Node, str]]:
        """(node whose output the layer produces, layer name), in execution order.

        A parametrized weight is computed by its ParametrizationList and used by the op
        that consumes it (``F.linear(x, self.weight)``): that op produces both the
        ParametrizationList's layer and its owner's (``lin``, even when ``lin`` owns no
        parameter of its own).
        """
        found: dict[tuple[fx.Node, str], None] = {}
        for n in self.nodes:
            m = self.module_of(n)
            pz = self.parametrization(n)
            if pz is not None:
                for consumer in self._consumers(n):
                    found.update({(consumer, pz[1]): None, (consumer, pz[0]): None})
            elif m is not None and (m._parameters or m._buffers or is_composite(m)):
                found[(n, str(n.target))] = None
            elif n.op == "get_attr" and str(n.target) in self.params:
                for consumer in self._consumers(n):
                    found[(consumer, self.params[str(n.target)])] = None
        return sorted(found, key=lambda item: self.index[item[0]])

    def _consumers(self, node: fx.Node) -> list[fx.Node]:
        result: list[fx.Node] = []
        stack = [node]
        while stack:
            for u in stack.pop().users:
                if u in self.param_derived:
                    stack.append(u)
                elif u.op != "output":
                    result.append(u)
        return result

    def collect(self, out: dict[fx.Node, set[Outcome]]) -> dict[str, Resolved]:
        layers = self.layer_nodes()
        producing = {n: name for n, name in layers if self._is_layer(n, name)}
        latest: dict[fx.Node, int] = {}
        for n in self.nodes:
            best = max((latest.get(a, -1) for a in n.all_input_nodes), default=-1)
            latest[n] = self.index[n] if n in producing else best
        resolved: dict[str, Resolved] = {}
        for n, name in layers:
            r = resolved.setdefault(name, Resolved(name, order=self.index[n]))
            m = self.module_of(n)
            composite = m is not None and is_composite(m)
            # the weight is used inside; a tensor an attention op reads (a bias table as
            # ``attn_mask``) is added to its scores, before the softmax: it goes into no
            # layer after the attention, which the walk from the op's output would say
            opaque = composite or n in self.opaque_mixing or op_name(n) in ATTENTION_OPS
            r.outcomes |= {("linear", (), False, False)} if opaque else out[n]
            if r.previous is None:
                inputs = [a for a in n.all_input_nodes if a not in self.param_derived]
                prev = max((latest.get(a, -1) for a in inputs), default=-1)
                if prev >= 0:
                    r.previous = producing[self.nodes[prev]]
            self._record_uses(r, n, out)
            if composite:
                for i, (cname, child) in enumerate(_param_children(name, m)):
                    c = resolved.setdefault(
                        cname, Resolved(cname, order=self.index[n] + (i + 1) / 1000)
                    )
                    c.outcomes |= out[n]
                    c.previous = c.previous or name
                    del child
        return resolved

    def _record_uses(self, r: Resolved, n: fx.Node, out: dict[fx.Node, set[Outcome]]) -> None:
        """Per-tensor uses of layer ``r`` at node ``n``: the module's output cut into blocks,
        and each directly used tensor's own outcomes, output dim and blocks."""
        module = self.module_of(n)
        linear = module is not None and any(c.__name__ == "Linear" for c in type(module).__mro__)
        weight = getattr(module, "weight", None) if linear else None
        if weight is not None and getattr(weight, "ndim", 0) == 2:  # features: its rows
            blocks = self.output_blocks(n, int(weight.shape[0]))
            if blocks:
                use = r.uses.setdefault("", Use(out_dim=0))
                use.blocks = _merge_blocks(use.blocks, blocks)
        for a in n.all_input_nodes:
            for source, dim in self._weights_of(a, n):
                use = r.uses.setdefault(str(source.target).rpartition(".")[2], Use())
                use.outcomes |= out[n]
                use.out_dim = dim if use.out_dim is None or use.out_dim == dim else None
                t = getattr(self.tensor_owner(source), str(source.target).rpartition(".")[2])
                size = int(t.shape[dim]) if dim is not None else None
                use.blocks = _merge_blocks(use.blocks, self.output_blocks(n, size))

    def _weights_of(self, operand: fx.Node, consumer: fx.Node) -> list[tuple[fx.Node, int | None]]:
        """The parameters (``get_attr``) ``operand`` is computed from, when it is the weight
        operand of ``consumer``, each with the stored dim holding the output features:
        followed back through transposes (which swap the last two dims) and integer
        indexing (``experts[i]``). ``F.linear(x, W)`` reads W as (out, in); ``x @ W``,
        ``bmm``, ``grouped_mm`` read their second operand as (..., in, out)."""
        if operand not in self.param_derived:
            return []
        name = op_name(consumer)
        if name == "linear" and consumer.args[1:2] == (operand,):
            out_last = False
        elif name in _RIGHT_OPERAND and consumer.args[1:2] == (operand,):
            out_last = True
        else:
            return []
        steps: list[tuple[str, tuple[int, ...]]] = []  # consumer side first
        node = operand
        while node.op != "get_attr":
            step = op_name(node)
            if step in ("transpose", "swapaxes"):
                pair = tuple(a for a in node.args[1:3] if isinstance(a, int))
                if len(pair) != 2:
                    return []
                steps.append(("swap", pair))
            elif step == "t" or (step == "getattr" and node.args[1:2] in (("T",), ("mT",))):
                steps.append(("swap", (-2, -1)))
            elif step == "getitem" and isinstance(node.args[1], int):
                steps.append(("drop", ()))
            elif step not in ("contiguous", "to", "float", "type_as", "clone", "detach"):
                return []
            inputs = node.all_input_nodes
            if len(inputs) != 1:
                return []
            node = inputs[0]
        if str(node.target) not in self.params:
            return []
        t = getattr(self.tensor_owner(node), str(node.target).rpartition(".")[2], None)
        ndim = getattr(t, "ndim", 0)
        # the stored dims, as the consumer sees them: replay the steps from the tensor
        dims = list(range(ndim))
        for kind, swap in reversed(steps):
            if kind == "drop":
                dims = dims[1:]
            elif len(dims) >= 2:
                i, j = (d % len(dims) for d in swap)
                dims[i], dims[j] = dims[j], dims[i]
        if len(dims) < 2:
            return []
        return [(node, dims[-1] if out_last else dims[-2])]

    def output_blocks(self, n: fx.Node, size: int | None) -> list[Cut]:
        """The blocks of ``n``'s output (``size`` features on its last dim) where its uses
        cut it along that dim, each with the outcomes of the uses that read it; else [].
        A cut is read from its arguments alone: ``chunk(k, -1)``, ``split(s, -1)`` with one
        size or a list of them, ``narrow(-1, start, length)`` and ``x[..., a:b]`` (or
        ``x[:, :, a:b]`` where the tensor's dims are known), each
        part read through ``getitem``. A use that does not cut reads every feature. The
        blocks are the pieces between the cuts' bounds; a feature no use reads is in a
        block with no outcome. A sum on the way keeps every feature in its place, so the
        cut of the sum is the output's cut (Zamba2's ``gate_up_proj(x) + adapter(x)``,
        then ``chunk``); a transpose moves the features' dim, where the dynamic trace
        recorded the tensor's dims (Mamba's ``in_proj(x).transpose(1, 2).chunk(2, dim=1)``)."""
        if not size:
            return []
        users, dim = list(n.users), -1
        while len(users) == 1:
            step = users[0]
            if op_name(step) == "transpose":
                moved = _transposed(dim, step.args[1:3], n.meta.get("ndim"))
                if moved is None:
                    return []
                dim = moved
            elif op_name(step) not in _IN_PLACE:
                break
            users = list(step.users)
        pieces: list[Cut] = []
        cuts = 0
        for u in users:
            parts = _cut_parts(u, size, dim, n.meta.get("ndim"))
            if parts is None:
                pieces.append((0, size, self.contribs.get(u, set())))
                continue
            cuts += 1
            for (start, stop), reader in parts:
                pieces.append((start, stop, self.contribs.get(reader, set())))
        return _tiled(pieces, size) if cuts else []

    def _is_layer(self, node: fx.Node, name: str) -> bool:
        m = self.modules.get(name)
        return m is not None and (_owns_params(m) or is_composite(m) or node.op != "call_module")


#: Ops after which each output feature stays where it was (a sum with another signal of
#: that width, a cast): a cut after them cuts the layer's own output the same way.
_IN_PLACE = frozenset({"add", "sub", "to", "float", "type_as", "contiguous"})

#: Mixing ops whose second operand is a weight read as (..., in, out).
_RIGHT_OPERAND = frozenset({"matmul", "mm", "bmm", "grouped_mm", "grouped_mm_fallback"})


def _merge_blocks(old: list[Cut], new: list[Cut]) -> list[Cut]:
    """Blocks of two uses of one tensor, merged; a use that cuts differently (or not at
    all) leaves no blocks."""
    if not old:
        return [(a, b, set(o)) for a, b, o in new]
    if [(a, b) for a, b, _o in old] != [(a, b) for a, b, _o in new]:
        return []
    return [(a, b, x | y) for (a, b, x), (_a, _b, y) in zip(old, new, strict=True)]


def _tiled(pieces: list[Cut], size: int) -> list[Cut]:
    """[0, size) cut at every bound of ``pieces``, each block with the outcomes of the
    pieces covering it.

    >>> r, g = {("relu", (), False, False)}, {("linear", (), False, False)}
    >>> [(a, b, len(o)) for a, b, o in _tiled([(0, 4, r), (4, 6, g), (0, 6, g)], 6)]
    [(0, 4, 2), (4, 6, 1)]
    """
    bounds = sorted({0, size} | {b for a, z, _o in pieces for b in (a, z) if 0 < b < size})
    blocks: list[Cut] = []
    for start, stop in itertools.pairwise(bounds):
        reached: set[Outcome] = set()
        for a, z, o in pieces:
            if a <= start and stop <= z:
                reached |= o
        blocks.append((start, stop, reached))
    return blocks


def _as_negative(dim: Any, ndim: int | None) -> int | None:
    """``dim`` counted from the end (-1 the last), where it can be told."""
    if not isinstance(dim, int) or isinstance(dim, bool):
        return None
    if dim < 0:
        return dim
    return dim - ndim if ndim is not None and dim < ndim else None


def _transposed(dim: int, pair: Any, ndim: int | None) -> int | None:
    """Where the features' ``dim`` (from the end) goes through ``transpose(a, b)``; None
    where the transpose's dims cannot be told apart from it."""
    a, b = (_as_negative(d, ndim) for d in (*pair, None, None)[:2])
    if a is None or b is None:
        return None
    return b if dim == a else a if dim == b else dim


def _cut_parts(
    node: fx.Node, size: int, features: int = -1, ndim: int | None = None
) -> list[tuple[tuple[int, int], fx.Node]] | None:
    """The features [start, stop) of the ``size`` features on dim ``features`` (from the
    end) that each part of the cut ``node`` holds, with the node reading that part (a
    ``getitem`` of a split, or the slice itself); None where ``node`` is no cut of that
    dim with constant bounds."""
    name, args, kwargs = op_name(node), node.args, node.kwargs

    def _last_dim(dim: Any) -> bool:
        return _as_negative(dim, ndim) == features

    if name == "getitem":
        return _slice_parts(node, size, features, ndim)
    if name == "narrow":
        dim, start, length = (list(args[1:4]) + [None] * 3)[:3]
        dim = kwargs.get("dim", dim)
        start, length = kwargs.get("start", start), kwargs.get("length", length)
        if not _last_dim(dim) or not isinstance(start, int) or not isinstance(length, int):
            return None
        start = start % size if start < 0 else start
        return [((start, min(start + length, size)), node)] if start + length <= size else None
    if name not in ("chunk", "split", "split_with_sizes"):
        return None
    how = args[1] if len(args) > 1 else kwargs.get("chunks", kwargs.get("split_size_or_sections"))
    how = kwargs.get("split_size", kwargs.get("split_sizes", how))
    dim = args[2] if len(args) > 2 else kwargs.get("dim", 0)
    if not _last_dim(dim):
        return None
    if name == "chunk":
        if not isinstance(how, int) or how < 2:
            return None
        how = -(-size // how)  # torch.chunk: parts of ceil(size / k)
    if isinstance(how, int):
        if how < 1:
            return None
        sizes = [min(how, size - s) for s in range(0, size, how)]
    elif isinstance(how, (list, tuple)) and all(isinstance(k, int) and k >= 0 for k in how):
        sizes = list(how)
    else:
        return None
    if sum(sizes) != size:
        return None
    starts = list(itertools.accumulate([0, *sizes]))
    parts: list[tuple[tuple[int, int], fx.Node]] = []
    for u in node.users:
        i = u.args[1] if op_name(u) == "getitem" and len(u.args) > 1 else None
        if not isinstance(i, int) or not -len(sizes) <= i < len(sizes):
            return None
        i %= len(sizes)
        parts.append(((starts[i], starts[i + 1]), u))
    return parts


def _slice_parts(
    node: fx.Node, size: int, features: int = -1, ndim: int | None = None
) -> list[tuple[tuple[int, int], fx.Node]] | None:
    """A slice of the features' dim (``features``, from the end) with constant bounds and
    step 1, every other dim taken whole: ``x[..., a:b]``, or ``x[:, :, a:b]`` where the
    tensor's ``ndim`` is known (the dynamic trace records it). The features [a, b) read
    by ``node``."""
    index = node.args[1] if len(node.args) > 1 else None
    if not isinstance(index, tuple) or not index:
        return None
    whole = slice(None)
    if index[0] is Ellipsis:
        rest = index[1:]
        dims = [j - len(rest) for j in range(len(rest))]  # from the end
    elif ndim is not None and len(index) == ndim:
        rest = index
        dims = [j - ndim for j in range(ndim)]
    else:
        return None
    cut = [(d, k) for d, k in zip(dims, rest, strict=True) if k != whole]
    if len(cut) != 1 or cut[0][0] != features:
        return None
    last = cut[0][1]
    if not isinstance(last, slice) or last.step not in (None, 1):
        return None
    if not all(b is None or isinstance(b, int) for b in (last.start, last.stop)):
        return None
    start, stop, _step = last.indices(size)
    return [((start, stop), node)] if start < stop else None


def _param_children(prefix: str, module: Any) -> list[tuple[str, Any]]:
    return [
        (f"{prefix}.{n}" if prefix else n, m)
        for n, m in module.named_modules()
        if n and _owns_params(m)
    ]


#: ``F.glu(x)`` is ``a * sigmoid(b)`` for the two halves of x: the half b meets a
#: sigmoid, the half a passes through the gate to whatever follows.
_GLU_GATE: Outcome = ("sigmoid", (), False, False)


def _soft_cap(node: fx.Node) -> bool:
    """``c * tanh(x / c)`` (gemma2's logit soft cap): the identity up to the cap c, so
    transparent. A bounded activation whose input is divided by a constant that its single
    user multiplies back."""
    if op_name(node) != "tanh" or len(node.users) != 1 or not node.args:
        return False
    source = node.args[0]
    if not isinstance(source, fx.Node):
        return False
    signal = next((a for a in source.args if isinstance(a, fx.Node)), None)
    inside = constant_factor(op_name(source), source.args, signal)
    (user,) = node.users
    outside = constant_factor(op_name(user), user.args, node)
    return (
        inside is not None
        and outside is not None
        and 0 < inside < 1
        and abs(inside * outside - 1) < 1e-6
    )


def _constant_power(node: fx.Node) -> bool:
    """``c ** x`` or ``x ** 1``: a power whose base is a constant (a frequency table) or
    whose exponent is 1 is not a nonlinearity of the signal ``x``."""
    if op_name(node) != "pow" or len(node.args) < 2:
        return False
    base, exponent = node.args[0], node.args[1]
    return not isinstance(base, fx.Node) or (isinstance(exponent, (int, float)) and exponent == 1)


#: Outcomes a constant factor on the way changes: the ones with a gain to scale.
_UNSCALED = frozenset({"linear", "output", "mixed"})


def _factor(node: fx.Node) -> float | None:
    """The constant ``node`` multiplies its one signal operand by (``30 * x``, ``x / 2``)."""
    name = op_name(node)
    if name not in ("mul", "truediv", "div"):
        return None
    signals = [a for a in node.args if isinstance(a, fx.Node)]
    if len(signals) != 1:
        return None
    return constant_factor(name, tuple(node.args), signals[0])


#: The argument that marks an outcome reached through a sum or a product with another
#: signal, after which a constant factor is no longer the layer's gain (a private key:
#: :func:`initpolicy.tracer.layers.resolution_of` drops it).
SUMMED = "_summed"


#: The argument that names the layer a walk entered with nothing but reshapes, cuts and
#: casts on the way (a private key: :func:`initpolicy.tracer.layers.resolution_of` turns
#: it into ``Resolution.into``). A sum or product with another signal drops it.
INTO = "_into"


def _entered(o: Outcome) -> Outcome:
    """Outcome ``o`` without the layer it entered (reached through another signal, the
    next layer's input is no longer this layer's output alone)."""
    act, args, normalized, residual = o
    if not any(k == INTO for k, _v in args):
        return o
    return (act, tuple((k, v) for k, v in args if k != INTO), normalized, residual)


def _summed(o: Outcome) -> Outcome:
    """Outcome ``o`` reached through a sum or product with another signal: no factor on
    either side of it is the layer's gain alone (a gate's own value scales the signal
    too), so a ``scale`` found beyond it is dropped and none is added before it."""
    act, args, normalized, residual = o
    if act in _UNSCALED:
        return o
    given = {k: v for k, v in args if k != "scale"}
    given[SUMMED] = True
    return (act, _key(given), normalized, residual)


def _scaled(o: Outcome, factor: float) -> Outcome:
    """Outcome ``o`` reached through a constant ``factor``: the factor is part of the
    layer's gain (SIREN's ``sin(30 * linear(x))``), kept as the ``scale`` argument; not
    where a sum with another signal comes between (the factor weighs one term of it)."""
    act, args, normalized, residual = o
    if act in _UNSCALED or normalized or factor == 1 or any(k == SUMMED for k, _v in args):
        return o
    given = dict(args)
    given["scale"] = float(given.get("scale", 1.0)) * factor
    return (act, _key(given), normalized, residual)


def _key(args: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(args.items()))


def resolve(
    graph: fx.Graph, modules: Mapping[str, Any], params: Mapping[str, str]
) -> dict[str, Resolved]:
    """Resolve every layer of ``graph``.

    ``modules`` maps qualified names to modules, ``params`` every qualified parameter
    name (aliases included) to the name of the module that owns it.

    >>> import torch
    >>> from initpolicy.tracer.capture import leaf_modules, symbolic_graph
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    >>> g = symbolic_graph(net, leaf_modules(net))
    >>> {k: sorted(r.outcomes) for k, r in resolve(g, dict(net.named_modules()), {}).items()}
    {'0': [('relu', (), False, False)], '2': [('output', (), False, False)]}
    """
    return _Pass(graph, modules, params).run()
