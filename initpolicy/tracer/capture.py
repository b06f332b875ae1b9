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
import math
import operator
import sys
from pathlib import Path
from typing import Any

import torch
import torch.fx as fx
from torch.fx.node import map_aggregate
from torch.overrides import TorchFunctionMode

from .ops import is_composite, module_activation


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
    with _KeepDraws():  # a concrete draw decides a branch at trace time (LayerDrop)
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
        # Tensors are keyed by id(); keeping them alive keeps the ids unique.
        self.keep: list[Any] = []
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
            self.nodes[id(out)] = node
            self.keep.append(out)
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


#: Uniform draws a training-mode forward makes for its regularizers (LayerDrop's
#: ``torch.rand([]) < layerdrop``, stochastic depth): see :func:`_keep_end`.
_UNIFORM_DRAWS = frozenset({"rand", "rand_like", "uniform_"})


def _keep_end(out: torch.Tensor, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Put a uniform draw at the top of its range, so that every ``u < p`` drop decision
    keeps: the trace sees the whole network, the same on every run (the values of dropout
    masks do not change which ops run)."""
    if not out.is_floating_point():
        return
    top = 1.0
    if getattr(func, "__name__", "") == "uniform_":
        top = float(kwargs.get("to", args[2] if len(args) > 2 else 1.0))
    with torch.no_grad():
        below = torch.nextafter(torch.tensor(top, dtype=out.dtype), torch.tensor(-math.inf))
        out.fill_(float(below))


def _on_meta_in_bfloat16(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Retry an op that failed on meta tensors with its floating inputs in bfloat16, its
    floating results cast back; re-raise the first error if that fails too.

    On the meta device only shapes matter, and some meta kernels accept fewer dtypes than
    the CPU ones: ``torch._grouped_mm`` (MoE experts) takes no float32 there.
    """
    error = sys.exc_info()[1]
    found = [t for t in tensors_in((args, kwargs)) if t.is_floating_point()]
    inplace = getattr(func, "__name__", "").endswith("_")  # would write into a copy
    if inplace or not found or not all(t.is_meta for t in found):
        raise error  # type: ignore[misc]
    dtype = found[0].dtype

    def cast(x: Any, to: torch.dtype) -> Any:
        if isinstance(x, torch.Tensor):
            return x.to(to) if x.is_floating_point() else x
        if isinstance(x, (tuple, list)):
            items = [cast(v, to) for v in x]
            return type(x)(*items) if hasattr(x, "_fields") else type(x)(items)
        return x

    try:
        out = func(
            *cast(args, torch.bfloat16), **{k: cast(v, torch.bfloat16) for k, v in kwargs.items()}
        )
    except Exception:
        raise error from None  # type: ignore[misc]
    return cast(out, dtype)


class _KeepDraws(TorchFunctionMode):
    """Uniform draws at the top of their range (:func:`_keep_end`), nothing else."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if getattr(func, "__name__", "") in _UNIFORM_DRAWS and isinstance(out, torch.Tensor):
            _keep_end(out, func, args, kwargs)
        return out


def _is_meta_truth(func: Any, args: tuple[Any, ...]) -> bool:
    """``bool(t)`` (``if t:``, ``t.item()`` of a bool) on a meta tensor, whose value is unknown."""
    name = getattr(func, "__name__", "")
    if name not in ("__bool__", "is_nonzero", "item") or not args:
        return False
    t = args[0]
    return (
        isinstance(t, torch.Tensor)
        and t.is_meta
        and t.numel() == 1
        and (name != "item" or t.dtype == torch.bool)
    )


def _outside(path: Path) -> bool:
    return not ({"torch", "initpolicy"} & set(path.parts))


def _helper(path: Path) -> bool:
    """A library's shared helpers (``masking_utils.py``, ``utils/import_utils.py``): the
    model file that called them says more."""
    return "utils" in path.stem or "utils" in path.parts[:-1]


def _caller() -> tuple[str, bool]:
    """Where a truth query on a meta tensor was asked, and whether it is an assertion.

    The place is ``package/file.py:line`` of the innermost frame outside torch and
    initpolicy, followed by ``(from model/file.py:line)`` when that frame is a shared
    helper. An assertion is a query made by ``torch._check*``/``torch._assert``: a check
    that the input is valid, not a choice of branch.
    """
    frame: Any = sys._getframe(2)
    check = False
    inner = None
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if not _outside(path):
            check |= frame.f_code.co_name.startswith(("_check", "_assert"))
        elif inner is None:
            inner = f"{'/'.join(path.parts[-2:])}:{frame.f_lineno}"
            if not _helper(path):
                return inner, check
        elif not _helper(path):
            return f"{inner} (from {'/'.join(path.parts[-2:])}:{frame.f_lineno})", check
        frame = frame.f_back
    return inner or "?", check


class _Mode(TorchFunctionMode):
    def __init__(self, recorder: _Recorder, assumed: list[tuple[str, bool]] | None):
        super().__init__()
        self.recorder = recorder
        self.assumed = assumed

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.assumed is not None and _is_meta_truth(func, args):
            # A meta tensor has no value to branch on. Such conditions in real models
            # check masks and inputs ("no padding", "ids in range"), where true is the
            # answer for our inputs; the branch only changes which mask is built. An
            # assertion (torch._check) holds for a valid input, which inference builds.
            self.assumed.append(_caller())
            return True
        try:
            out = func(*args, **kwargs)
        except RuntimeError:
            if self.assumed is None:  # not on the meta device
                raise
            out = _on_meta_in_bfloat16(func, args, kwargs)
        if getattr(func, "__name__", "") in _UNIFORM_DRAWS and isinstance(out, torch.Tensor):
            _keep_end(out, func, args, kwargs)
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
