"""Obtain a torch.fx Graph of a model, two ways, with the same leaves and node shapes.

* :func:`symbolic_graph` — ``torch.fx`` symbolic tracing with a Tracer whose leaves are
  :func:`leaf_modules` (no inputs needed; fails on data-dependent control flow and on
  most transformers models).
* :func:`dynamic_graph` — runs forward once on example inputs under a TorchFunctionMode
  and global module hooks, recording every torch function/method called outside leaf
  modules as ``call_function``/``call_method`` nodes, each leaf call as a
  ``call_module`` node, and parameters used directly as ``get_attr`` nodes. Only the
  branches the inputs take are recorded.

Both graphs feed the same resolution pass (:mod:`initpolicy.tracer.resolve`).
"""

from __future__ import annotations

import dataclasses
import operator
import weakref
from typing import Any

import torch
import torch.fx as fx
from torch.fx.node import map_aggregate
from torch.overrides import TorchFunctionMode

from .ops import is_composite, module_activation
from .running import (
    UNIFORM_DRAWS,
    KeepDraws,
    caller,
    is_meta_truth,
    keep_end,
    on_meta_in_bfloat16,
)


def _owns(m: torch.nn.Module) -> bool:
    return any(t is not None for t in (*m._parameters.values(), *m._buffers.values()))


def _is_torch_class(m: torch.nn.Module) -> bool:
    """Whether ``m``'s own class (not a base) is defined by torch (``nn.Linear``, and
    ``ParametrizedLinear``, which torch.nn.utils.parametrize creates)."""
    return type(m).__module__.startswith("torch.")


def leaf_modules(model: torch.nn.Module) -> dict[int, str]:
    """id(module) -> qualified name of every module traced as one opaque call.

    A leaf is a module whose meaning the tracer knows without looking inside:

    * a registered composite (MultiheadAttention: one fused functional);
    * an activation module (torch's, or a third-party one recognized by class name);
    * a torch.nn class itself (its exact type defined by torch) without children
      (Linear, Conv2d, BatchNorm2d, Dropout, pooling), or owning tensors while no
      descendant does (a ParametrizationList).

    Every other module is traced through, whatever its base class: Sequential, blocks,
    TransformerEncoderLayer, and third-party modules that own parameters (timm's
    ``BatchNormAct2d``, a ``BatchNorm2d`` that runs its ``act`` child; ``StarReLU``;
    transformers' ``Conv1D`` and RMSNorms). Their own parameters become ``get_attr`` nodes
    of the graph, and the module stays the layer of those parameters
    (:func:`self_contained`).
    """
    leaves: dict[int, str] = {}

    def visit(name: str, m: torch.nn.Module) -> bool:
        """Whether ``m`` or a descendant owns tensors (records leaves on the way)."""
        below = False
        for cname, child in m._modules.items():
            if child is not None:
                below |= visit(f"{name}.{cname}" if name else cname, child)
        owns = _owns(m)
        torch_leaf = _is_torch_class(m) and (not m._modules or (owns and not below))
        if is_composite(m) or module_activation(m) is not None or torch_leaf:
            leaves[id(m)] = name
        return owns or below

    visit("", model)
    return leaves


def self_contained(model: torch.nn.Module) -> set[int]:
    """ids of the modules that own tensors while no descendant does (a Linear, timm's
    BatchNormAct2d, transformers' Conv1D), and of composites: each is the layer of its own
    parameters, with ``Layer.module`` set, whether it is a leaf or traced through. (A
    container's own parameters, used directly by its forward, are not: ConvNeXt's
    ``layer_scale`` on a block.)"""
    found: set[int] = set()

    def visit(m: torch.nn.Module) -> bool:
        below = False
        for child in m._modules.values():
            if child is not None:
                below |= visit(child)
        owns = _owns(m)
        if is_composite(m) or (owns and not below):
            found.add(id(m))
        return owns or below

    visit(model)
    return found


class _Tracer(fx.Tracer):
    def __init__(self, leaves: dict[int, str]):
        super().__init__()
        self._leaves = leaves

    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return id(m) in self._leaves


def _trivial_graph(name: str) -> fx.Graph:
    graph = fx.Graph()
    x = graph.placeholder("input")
    graph.output(graph.call_module(name, (x,)))
    return graph


def symbolic_graph(model: torch.nn.Module, leaves: dict[int, str]) -> fx.Graph:
    """fx symbolic tracing (raises whatever torch.fx raises when it cannot trace)."""
    if id(model) in leaves:
        return _trivial_graph("")
    with KeepDraws():  # a concrete draw decides a branch at trace time (LayerDrop)
        return inplace_dataflow(_Tracer(leaves).trace(model))


def _plain(value: Any) -> Any:
    """Arguments kept in the recorded graph: plain Python values, else a type tag."""
    if value is None or isinstance(value, (bool, int, float, str, torch.dtype, torch.device)):
        return value
    if value is Ellipsis:
        return value
    return f"<{type(value).__name__}>"


def tensors_in(value: Any) -> list[torch.Tensor]:
    """Tensors in a forward's (nested) result: torch.fx's own walk of tuples, lists, dicts
    (ModelOutput is one) and slices, plus dataclass instances as containers of their fields.

    >>> [tuple(t.shape) for t in tensors_in({"a": (torch.zeros(1), [torch.zeros(2)])})]
    [(1,), (2,)]
    """
    found: list[torch.Tensor] = []

    def visit(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            found.append(x)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type):
            for f in dataclasses.fields(x):
                map_aggregate(getattr(x, f.name, None), visit)
        return x

    map_aggregate(value, visit)
    return found


class _Recorder:
    def __init__(self, leaves: dict[int, str], tensor_names: dict[int, str]):
        self.graph = fx.Graph()
        self.leaves = leaves
        self.tensor_names = tensor_names
        self.nodes: dict[int, fx.Node] = {}
        self.attrs: dict[str, fx.Node] = {}
        self.depth = 0

    def node_for(self, t: torch.Tensor) -> fx.Node | None:
        node = self.nodes.get(id(t))
        if node is not None:
            return node
        name = self.tensor_names.get(id(t))
        if name is None:
            return None
        node = self.attrs.get(name)
        if node is None:
            node = self.attrs[name] = self.graph.get_attr(name)
        return node

    def map(self, value: Any) -> Any:
        """``value`` with each tensor replaced by its node, other leaves made plain."""
        return map_aggregate(
            value, lambda x: self.node_for(x) if isinstance(x, torch.Tensor) else _plain(x)
        )

    def bind(self, out: Any, node: fx.Node) -> None:
        """Map the tensors of ``out`` to ``node`` (tuple results through getitem nodes)."""
        if isinstance(out, torch.Tensor):
            node.meta["ndim"] = out.ndim  # where a cut's dims are (resolve.output_blocks)
            # Keyed by id(): the entry goes when the tensor does, before its id can be
            # reused. Keeping every tensor alive instead held all the activations of the
            # forward at once (Mamba2-130m: 1.9 GiB on one example, growing with depth).
            if id(out) not in self.nodes:
                weakref.finalize(out, self.nodes.pop, id(out), None)
            self.nodes[id(out)] = node
        elif isinstance(out, (tuple, list)):
            for i, v in enumerate(out):
                if isinstance(v, torch.Tensor):
                    self.bind(v, self.graph.call_function(operator.getitem, (node, i)))
                elif isinstance(v, (tuple, list, dict)):
                    for t in tensors_in(v):
                        self.bind(t, node)

    def record(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if getattr(func, "__name__", "") == "__setitem__" and _written(args):
            # t[i] = v writes v into t: t's later readers depend on v too, so t is rebound
            # to a node that reads both (recurrent scans, RoIAlign fill a preallocated tensor)
            node = self.graph.call_function(operator.setitem, self.map(tuple(args)))
            self.bind(args[0], node)
            return
        if not tensors_in(out):
            return  # metadata (sizes, dtypes, bools) carries no activation
        owner = getattr(func, "__self__", None)
        name = getattr(func, "__name__", "")
        if name == "__get__" and owner is not None:  # a property such as Tensor.T
            node = self.graph.call_method(
                getattr(owner, "__name__", "getattr"), (self.map(args[0]),)
            )
        elif (
            getattr(torch.Tensor, name, None) is func
            or getattr(torch._C.TensorBase, name, None) is func
        ):
            node = self.graph.call_method(name, self.map(tuple(args)), self.map(dict(kwargs)))
        else:
            node = self.graph.call_function(func, self.map(tuple(args)), self.map(dict(kwargs)))
        self.bind(out, node)

    def pre_hook(self, module: torch.nn.Module, args: Any) -> None:
        if id(module) in self.leaves:
            self.depth += 1

    def post_hook(self, module: torch.nn.Module, args: Any, kwargs: Any, out: Any) -> None:
        if id(module) not in self.leaves:
            return
        self.depth -= 1
        if self.depth == 0:
            name = self.leaves[id(module)]
            node = self.graph.call_module(name, self.map(tuple(args)), self.map(dict(kwargs)))
            self.bind(out, node)


def _written(args: tuple[Any, ...]) -> bool:
    """Whether ``t.__setitem__(index, value)`` writes a tensor value into a tensor."""
    return (
        len(args) == 3 and isinstance(args[0], torch.Tensor) and isinstance(args[2], torch.Tensor)
    )


def inplace_dataflow(graph: fx.Graph) -> fx.Graph:
    """Make in-place writes visible as dataflow in a symbolic graph, as the dynamic
    recorder does: the readers of ``x`` after ``x.add_(y)`` / ``x[i] = y`` read that node.

    (fx keeps them reading ``x``'s node, so ``y`` would seem to reach nothing.)
    """
    order = {n: i for i, n in enumerate(graph.nodes)}
    for n in list(graph.nodes):
        name = str(n.target) if n.op == "call_method" else getattr(n.target, "__name__", "")
        inplace = name == "setitem" or (name.endswith("_") and not name.endswith("__"))
        if n.op not in ("call_method", "call_function") or not inplace or not n.args:
            continue
        target = n.args[0]
        if not isinstance(target, fx.Node):
            continue
        for user in list(target.users):
            if user is not n and order[user] > order[n]:
                user.replace_input_with(target, n)
    return graph


class _Mode(TorchFunctionMode):
    def __init__(self, recorder: _Recorder, assumed: list[tuple[str, bool]] | None):
        super().__init__()
        self.recorder = recorder
        self.assumed = assumed

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.assumed is not None and is_meta_truth(func, args):
            # A meta tensor has no value to branch on. Such conditions in real models
            # check masks and inputs ("no padding", "ids in range"), where true is the
            # answer for our inputs; the branch only changes which mask is built. An
            # assertion (torch._check) holds for a valid input, which inference builds.
            self.assumed.append(caller())
            return True
        try:
            out = func(*args, **kwargs)
        except RuntimeError:
            if self.assumed is None:  # not on the meta device
                raise
            out = on_meta_in_bfloat16(func, args, kwargs)
        if getattr(func, "__name__", "") in UNIFORM_DRAWS and isinstance(out, torch.Tensor):
            keep_end(out, func, args, kwargs)
        if self.recorder.depth == 0:
            self.recorder.record(func, args, kwargs, out)
        return out


def dynamic_graph(
    model: torch.nn.Module,
    leaves: dict[int, str],
    tensor_names: dict[int, str],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    assumed: list[tuple[str, bool]] | None = None,
) -> fx.Graph:
    """Run ``model(*args, **kwargs)`` once (no grad) and record it as an fx Graph.

    The caller restores modes and buffers; this function only adds hooks that it removes.
    With ``assumed`` (a list), the truth value of a meta tensor (``if mask.all():``) is
    taken as true instead of failing, and where it was asked (``file.py:line``, and
    whether it was an assertion) is appended to the list.
    """
    from torch.nn.modules.module import (
        register_module_forward_hook,
        register_module_forward_pre_hook,
    )

    rec = _Recorder(leaves, tensor_names)
    for i, t in enumerate(args):
        if isinstance(t, torch.Tensor):
            rec.bind(t, rec.graph.placeholder(f"input_{i}"))
    for k, t in kwargs.items():
        if isinstance(t, torch.Tensor):
            rec.bind(t, rec.graph.placeholder(str(k)))
    pre = register_module_forward_pre_hook(rec.pre_hook)
    post = register_module_forward_hook(rec.post_hook, with_kwargs=True)
    try:
        with torch.no_grad(), _Mode(rec, assumed):
            out = model(*args, **kwargs)
    finally:
        pre.remove()
        post.remove()
    results = [rec.node_for(t) for t in tensors_in(out)]
    rec.graph.output(tuple(n for n in results if n is not None))
    return rec.graph
