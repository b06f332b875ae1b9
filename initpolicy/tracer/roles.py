"""The roles pass: what each layer and each parameter *does* in the traced graph, the
facts the linter needs to judge an init (docs/tracing.md, "Graph facts").

It runs once at the end of :func:`initpolicy.tracer.tracing.trace`, over the same torch.fx
Graph as the resolution pass (:mod:`initpolicy.tracer.resolve`), and gives each layer its
:class:`~initpolicy.tracer.graph.GraphRoles` and each parameter its ``role``
(:func:`with_roles` returns new layers: the graph's facts are immutable):

* ``gate`` — the layer computes ``g`` in ``x * g(x)`` (squeeze-excitation);
* ``residual_branch`` — the layer lies between the fork and the join of ``x + f(x)``: an
  add is a residual join only when one operand reaches the fork with no parameterized
  layer on the way and the other through at least one (rotary ``q*cos + rot(q)*sin`` and
  ``(a + b) / 2`` of two heads are not joins); membership is read from the graph, never
  from module nesting;
* ``renormalized`` — every path from the output reaches a normalization before the
  model output;
* ``scale_invariant`` — every path reaches a normalization through positively homogeneous
  ops only (the weight's scale does not change the model's function);
* branch facts (``branch``, ``branch_layers``, ``branch_end``: a last mixing layer of its
  branch, ``branch_tail``; ``stack``: encoder or decoder, found by cross-attention) and
  attention operands — :mod:`initpolicy.tracer.roles_branches`;
* ``to_output`` — the most parameterized layers on a path to the model output;
* ``input_dependent`` — fed by the model's inputs, not only by constant tables;
* ``feeds`` — the layers its output reaches with no normalization in between;
* ``cancelled_by`` — the BatchNorm that cancels the layer's bias on every path;
* per parameter, ``role``: ``weight`` (the weight operand of a feature-mixing op),
  ``bias``, ``scale``, ``table`` or ``other``.

What each node is, ancestors and descendants (as bitsets) and the branches live in
:mod:`initpolicy.tracer.roles_nodes`; parameter roles in :mod:`initpolicy.tracer.roles_params`.

>>> import torch
>>> from initpolicy.tracer.tracing import trace
>>> class SE(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.conv, self.fc1, self.fc2 = torch.nn.Conv2d(3, 8, 1), torch.nn.Linear(8, 2), torch.nn.Linear(2, 8)
...     def forward(self, x):
...         x = self.conv(x)
...         g = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3))))))
...         return x * g[:, :, None, None]
>>> g = trace(SE())
>>> [(lay.name, lay.roles.gate, lay.roles.residual_branch) for lay in g.layers]
[('conv', False, False), ('fc1', True, False), ('fc2', True, False)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import torch
import torch.fx as fx

from ..catalog import facts
from .graph import GraphRoles, Layer
from .ops import MIXING, STOP, constant_factor, is_composite
from .resolve import op_name
from .roles_branches import BranchFacts, attention_operands, branches_of
from .roles_fused import fused_blocks
from .roles_nodes import LINEAR_MODULES, GraphView, is_type
from .roles_params import graph_roles, type_role

#: Functions (other than the catalog's activations, whose ``homogeneous`` fact says) whose
#: output changes shape (not only size) when the input is scaled. Powers (``pow``,
#: ``sqrt``, ``rsqrt``, ``reciprocal``: a norm's statistics, a squared ReLU) scale their
#: output by a positive factor too, so they keep a path scale-invariant.
NONHOMOGENEOUS = frozenset({"exp", "log", "log1p", "expm1", "sin", "cos", "erf", "clamp"})
#: Mixing ops that are linear in each operand (attention and recurrences are not).
LINEAR_MIXING = frozenset(
    {"matmul", "mm", "bmm", "baddbmm", "addmm", "addbmm", "addmv", "mv", "einsum", "tensordot",
     "linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
     "conv_transpose3d"}
)  # fmt: skip
#: Norms that subtract a per-channel mean, so a constant added per channel vanishes.
CANCELLING = ("_BatchNorm", "_InstanceNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
CANCELLING_FUNCTIONS = frozenset({"batch_norm", "instance_norm"})
#: Ops that keep a per-channel constant a per-channel constant (so a norm still cancels it).
PER_CHANNEL = frozenset(
    {"view", "reshape", "flatten", "contiguous", "squeeze", "unsqueeze", "getitem", "chunk",
     "split", "cat", "concat", "add", "sub", "dropout", "avg_pool1d", "avg_pool2d",
     "avg_pool3d", "max_pool1d", "max_pool2d", "max_pool3d", "adaptive_avg_pool1d",
     "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
     "adaptive_max_pool2d", "adaptive_max_pool3d", "interpolate", "upsample", "clone", "to",
     "float", "type_as"}
)  # fmt: skip

_FAIL = object()


def _all_true(values: list[bool | None]) -> bool | None:
    known = [v for v in values if v is not None]
    return all(known) if known else None


def _most(values: list[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def _union(values: list[Any]) -> Any:
    if any(v is _FAIL for v in values):
        return _FAIL
    known = [v for v in values if v is not None]
    return frozenset().union(*known) if known else None


def _homogeneous_layer(r: GraphView, n: fx.Node) -> bool:
    m = r.p.module_of(n)
    if m is not None:
        return is_type(m, LINEAR_MODULES) and not is_composite(m)
    return op_name(n) in LINEAR_MIXING


def _renormalized(r: GraphView) -> dict[fx.Node, Any]:
    return r.backward(
        {
            "output": lambda n, after: False,
            "norm": lambda n, after: True,
            "stop": lambda n, after: None,
            "default": lambda n, after: after,
        },
        _all_true,
    )


def _scale_invariant(r: GraphView) -> dict[fx.Node, Any]:
    def activation(n: fx.Node, after: Any) -> Any:
        return after if facts(r.kinds[n].split(":")[1]).homogeneous else False

    def op(n: fx.Node, after: Any) -> Any:
        return False if op_name(n) in NONHOMOGENEOUS else after

    return r.backward(
        {
            "output": lambda n, after: False,
            "norm": lambda n, after: True,
            "stop": lambda n, after: None,
            "join": lambda n, after: False,
            "layer": lambda n, after: after if _homogeneous_layer(r, n) else False,
            "activation": activation,
            "op": op,
            "default": lambda n, after: after,
        },
        _all_true,
    )


def _to_output(r: GraphView) -> dict[fx.Node, Any]:
    return r.backward(
        {
            "output": lambda n, after: 0,
            "stop": lambda n, after: None,
            "layer": lambda n, after: None if after is None else after + 1,
            "default": lambda n, after: after,
        },
        _most,
    )


def _reach(r: GraphView) -> dict[fx.Node, Any]:
    """Layers reachable from each node with no normalization and no sum with another
    signal in between (its own too): a norm resets the scale, and a sum (a residual join)
    refills the signal with a term of its own scale."""
    return r.backward(
        {
            "output": lambda n, after: None,
            "norm": lambda n, after: None,
            "join": lambda n, after: None,
            "stop": lambda n, after: None,
            "layer": lambda n, after: frozenset(r.names_at.get(n, ())),
            "default": lambda n, after: after,
        },
        lambda values: frozenset().union(*[v for v in values if v]),
    )


def _cancelling(r: GraphView) -> dict[fx.Node, Any]:
    """The BatchNorm-like norms a per-channel constant added at each node reaches."""

    def norm(n: fx.Node, after: Any) -> Any:
        m = r.p.module_of(n)
        if m is not None:
            return frozenset([str(n.target)]) if is_type(m, CANCELLING) else _FAIL
        if op_name(n) not in CANCELLING_FUNCTIONS:
            return _FAIL
        # a norm traced through (timm's BatchNormAct2d): named by its parameters' owner
        owners = [str(a.target).rpartition(".")[0] for a in r._tensors_read(n)]
        return frozenset(owners[:1]) or _FAIL

    def passing(n: fx.Node, after: Any) -> Any:
        m = r.p.module_of(n)
        if m is not None:
            plain = not m._parameters and type(m).__module__.startswith("torch.nn")
            kinds = ("Dropout", "Pool", "Identity", "Flatten", "Upsample")
            return after if plain and any(k in type(m).__name__ for k in kinds) else _FAIL
        name = op_name(n)
        if name in PER_CHANNEL or name in ("mul", "truediv", "div"):
            return after  # a reshape, a pooling, or scaling by a constant (kind "op:mul")
        return _FAIL

    return r.backward(
        {
            "output": lambda n, after: _FAIL,
            "stop": lambda n, after: None,
            "norm": norm,
            "layer": lambda n, after: _FAIL,
            "activation": lambda n, after: _FAIL,
            "mul": lambda n, after: _FAIL,
            "join": lambda n, after: after,
            "default": passing,
        },
        _union,
    )


def _data(r: GraphView) -> set[fx.Node]:
    data: set[fx.Node] = set()
    for n in r.signal:
        if n.op == "placeholder" or any(a in data for a in n.all_input_nodes):
            data.add(n)
    return data


# -- the pass -----------------------------------------------------------------------------
#: Ops a term of a sum passes through as it is (its values up to a constant factor).
_AS_IS = frozenset(
    {"dropout", "view", "reshape", "permute", "transpose", "contiguous", "to", "type_as",
     "expand", "expand_as", "unsqueeze", "squeeze", "flatten", "getitem", "float", "clone",
     "mul", "truediv", "div"}
)  # fmt: skip


#: Ops between a residual stream and the layer reading it that keep it the stream.
_STREAM_AS_IS = frozenset({"view", "reshape", "contiguous", "to", "flatten", "add", "sub", "mul"})


def _reads(r: GraphView, node: fx.Node, forks: set[fx.Node]) -> bool:
    """Whether layer ``node`` reads a residual stream at a fork: its signal input is the
    fork, through reshapes and the model's own tensors added or multiplied (Fixup's
    ``conv1(x + bias1a)``)."""
    if node.op != "call_module" and op_name(node) not in MIXING:
        return False  # a container's own tensor added to the stream is not a reader
    for a in node.all_input_nodes:
        while a not in forks and a not in r.p.param_derived:
            signals = [b for b in a.all_input_nodes if b not in r.p.param_derived]
            if op_name(a) not in _STREAM_AS_IS or len(signals) != 1:
                break
            a = signals[0]
        if a in forks:
            return True
    return False


def _reads_input_values(node: fx.Node) -> bool:
    """Whether ``node``'s first input carries the values of a model input (token ids), not
    only its shape (positions from ``arange(ids.shape[1])``, a buffer sliced to length)."""
    stack, seen = list(node.all_input_nodes[:1]), set()
    while stack:
        n = stack.pop()
        if n in seen or n.op == "get_attr":
            continue
        seen.add(n)
        if n.op == "placeholder":
            return True
        name = op_name(n)
        if name in STOP or (name == "getattr" and n.args[1:2] not in (("T",), ("data",))):
            continue
        stack.extend(n.all_input_nodes)
    return False


def _summed(r: GraphView, joins: set[fx.Node]) -> dict[str, tuple[set[str], float]]:
    """Layer name -> the other terms of each sum its output enters as it is (see
    ``Layer.summed_with``), and the constant factor on its way (``Layer.sum_factor``). A
    residual join (``x + f(x)``) is not such a sum: its terms are the stream and a
    branch, judged by the residual rules."""

    def terms(n: fx.Node, factor: float, seen: set[fx.Node]) -> dict[str, float]:
        if n in seen:
            return {}
        seen.add(n)
        if n in r.names_at:
            return dict.fromkeys(r.names_at[n], factor)
        if n.op == "get_attr":
            return {str(n.target): factor}
        name = op_name(n)
        if name in ("add", "sub"):
            if n in joins:  # x + f(x): the stream, not a term of its own
                return {}
            found: dict[str, float] = {}
            for a in n.all_input_nodes:
                found.update(terms(a, factor, seen))
            return found
        module = r.p.module_of(n)
        dropout = module is not None and "Dropout" in type(module).__name__
        signals = [a for a in n.all_input_nodes if a.op != "get_attr" or name != "getitem"]
        if not (name in _AS_IS or dropout) or not signals:
            return {}
        if name in ("mul", "truediv", "div"):
            c = constant_factor(name, tuple(n.args), signals[0]) if len(signals) == 1 else None
            if c is None:
                return {}
            factor *= abs(c)
        return terms(signals[0], factor, seen)

    out: dict[str, tuple[set[str], float]] = {}
    for n in r.nodes:
        if n.op not in ("call_function", "call_method") or op_name(n) not in ("add", "sub"):
            continue
        if n in r.p.param_derived or n in joins:
            continue
        found = terms(n, 1.0, set())
        if len(found) > 1:
            for name, factor in found.items():
                others, _ = out.get(name, (set(), factor))
                out[name] = (others | set(found) - {name}, factor)
    return out


#: Attributes where a norm module keeps its eps (torch, transformers' ``variance_epsilon``).
_EPS_ATTRS = ("eps", "variance_epsilon", "epsilon", "layer_norm_eps")
#: Modules a term passes on its way to a norm as it is.
_PLAIN_MODULES = ("Dropout", "Identity")


def _eps(module: Any) -> float | None:
    """The eps a norm module adds to its input's variance (torch's RMSNorm with
    ``eps=None`` uses float32's machine eps)."""
    for attr in _EPS_ATTRS:
        if hasattr(module, attr):
            value = getattr(module, attr)
            if value is None:
                return float(torch.finfo(torch.float32).eps)
            return float(value) if isinstance(value, (int, float)) else None
    return None


def _norms_after(r: GraphView, node: fx.Node, joins: set[fx.Node]) -> dict[str, float]:
    """The norms ``node``'s output reaches as a term of a sum (see ``GraphRoles.normed_by``),
    with their eps: through reshapes, dropout, constant factors, other terms added and a
    traced-through norm's own ops; not past a residual join (a branch adds its own
    scale), a layer or an activation."""
    found: dict[str, float] = {}
    stack, seen = list(r._through(node)), set()
    while stack:
        n = stack.pop()
        if n in seen or n in joins:
            continue
        seen.add(n)
        kind = r.kinds.get(n, "stop")
        if kind == "norm":
            m = r.p.module_of(n)
            owners = (
                [str(n.target)]
                if m is not None
                else [str(a.target).rpartition(".")[0] for a in r._tensors_read(n)]
            )
            for name in owners[:1]:
                eps = _eps(r.p.modules.get(name))
                if eps is not None:
                    found[name] = eps
            continue
        module = r.p.module_of(n)
        plain = module is not None and any(k in type(module).__name__ for k in _PLAIN_MODULES)
        if kind in ("join", "mul") or plain or (kind.startswith("op:") and op_name(n) in _AS_IS):
            stack.extend(r._through(n))
    return found


def with_roles(
    graph: fx.Graph,
    modules: Mapping[str, Any],
    params: Mapping[str, str],
    layers: list[Layer],
) -> tuple[list[Layer], BranchFacts]:
    """``layers`` (traced into ``graph``) with their graph facts and their parameters'
    roles; and the model's branch counts (L, and DeepNet's N and M). ``modules`` maps qualified names to
    modules, ``params`` every parameter name (aliases included) to its owner's name."""
    r = GraphView(graph, modules, params)
    shapes = {
        name: p.shape for lay in layers for p in lay.parameters for name in (p.name, *p.aliases)
    }
    data = _data(r)
    param_roles = graph_roles(r, shapes, data)
    facts_of = _layer_facts(r, data)
    operands = attention_operands(r)
    attention = {name: next(iter(ops)) for name, ops in operands.items() if len(ops) == 1}
    fused = fused_blocks(r, operands)
    in_branch, counts = branches_of(r, attention, (lay.name for lay in layers))
    out: list[Layer] = []
    for lay in layers:
        params_ = tuple(
            replace(
                p,
                role=next(
                    (param_roles[n] for n in (p.name, *p.aliases) if n in param_roles),
                    type_role(lay, p),
                ),
            )
            for p in lay.parameters
        )
        roles = facts_of(lay.name)
        if roles is not None:
            b = in_branch.get(lay.name)
            if b is not None:
                roles = replace(roles, **vars(b))
            roles = replace(
                roles,
                attention=attention.get(lay.name),
                attention_blocks=fused.get(lay.name, ()),
            )
            out.append(replace(lay, parameters=params_, roles=roles))
        else:
            out.append(replace(lay, parameters=params_))
    return out, counts


def _layer_facts(r: GraphView, data: set[fx.Node]) -> Callable[[str], GraphRoles | None]:
    """The graph facts of the layer named so (None for a layer no node computes), from
    the propagated facts, computed once."""
    gate = r.gate_members(data)
    residual = r.residual_members()
    ren, sinv = _renormalized(r), _scale_invariant(r)
    down, reach, canc = _to_output(r), _reach(r), _cancelling(r)
    nodes_of: dict[str, list[fx.Node]] = {}
    for n, names in r.names_at.items():
        for name in names:
            nodes_of.setdefault(name, []).append(n)
    joins = r.residual_branches()
    summed = _summed(r, set(joins))
    forks = {fork for _side, fork in joins.values()}

    def of(name: str) -> GraphRoles | None:
        ns = nodes_of.get(name, [])
        if not ns:
            return None
        fed: set[str] = set()
        for n in ns:
            for u in r._through(n):
                fed |= reach[u] or set()
        others, factor = summed.get(name, (set(), 1.0))
        indexed = any(_reads_input_values(n) for n in ns)
        normed: dict[str, float] = {}
        for n in ns if indexed else ():
            normed.update(_norms_after(r, n, set(joins)))
        norms = [r.after(canc, n, _union) for n in ns]
        cancelled = norms and all(v is not None and v is not _FAIL and v for v in norms)
        return GraphRoles(
            gate=name in gate,
            residual_branch=name in residual,
            renormalized=all(r.after(ren, n, _all_true) is True for n in ns),
            scale_invariant=all(r.after(sinv, n, _all_true) is True for n in ns),
            to_output=_most([r.after(down, n, _most) for n in ns]),
            input_dependent=any(
                a in data for n in ns for a in n.all_input_nodes if a not in r.p.param_derived
            ),
            feeds=tuple(sorted(fed - {name})),
            cancelled_by=min(frozenset().union(*norms)) if cancelled else None,
            summed_with=tuple(sorted(others - {name})),
            sum_factor=factor,
            indexed_by_input=indexed,
            normed_by=tuple(sorted(normed.items())),
            reads_stream=any(_reads(r, n, forks) for n in ns),
        )

    return of
