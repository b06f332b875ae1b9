"""Parameter roles for the roles pass (:mod:`initpolicy.tracer.roles`): what a parameter
does in the forward, from the op that consumes it and the operand position, or, for a
tensor the graph does not show being used, from its module's type and its shape.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch.fx as fx

from .graph import Layer, ParamInfo, ParamRole
from .ops import MIXING, NORM_FUNCTIONS
from .resolve import op_name
from .roles_nodes import LINEAR_MODULES, GraphView

#: Module classes whose ``weight*`` tensors are the weight operand of a mixing op.
MIXING_MODULES = (*LINEAR_MODULES, "Embedding", "EmbeddingBag", "RNNBase", "RNNCellBase",
                  "MultiheadAttention")  # fmt: skip
#: Ops that index into a tensor: a parameter read through one is a table.
INDEXING = frozenset({"index_select", "gather", "take", "index", "take_along_dim"})
#: Mixing ops whose operands at these positions are multiplied (the others are added).
_PRODUCT_ARGS: dict[str, tuple[int, ...]] = {
    "linear": (0, 1), "bilinear": (0, 1, 2), "embedding": (0, 1), "embedding_bag": (0, 1),
    "addmm": (1, 2), "addbmm": (1, 2), "baddbmm": (1, 2), "addmv": (1, 2),
    "scaled_dot_product_attention": (0, 1, 2), "flex_attention": (0, 1, 2),
    **{c: (0, 1) for c in ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                           "conv_transpose3d")},
}  # fmt: skip
_ADDED_KWARGS = frozenset({"bias", "attn_mask", "input", "beta"})


def _use(
    consumer: fx.Node, operand: fx.Node, indexed: bool, param: str, big: int, data: set[fx.Node]
) -> ParamRole:
    """The role of ``operand`` (derived from parameter ``param``, with ``big`` dimensions
    over 1, and ``indexed`` by a tensor of positions on the way) as an input of
    ``consumer``. A tensor gathered by position is a table whatever consumes it: its rows
    are positions, not units (SAM's ``rel_pos_h`` enters an einsum with the queries); one
    gathered by the model's inputs (``weight[input_ids]``) is an embedding's weight."""
    if consumer.op == "call_module":
        return "other"
    name = op_name(consumer)
    if (name == "getitem" or name in INDEXING) and consumer.args[:1] == (operand,):
        index = [a for a in consumer.all_input_nodes if a is not operand]
        return "weight" if any(a in data for a in index) else "table"
    if name in NORM_FUNCTIONS:
        return "bias" if "bias" in param.rpartition(".")[2] else "scale"
    if name in ("mul", "truediv", "div") and not indexed:
        return "scale"
    if indexed and (name in MIXING or name in ("add", "sub", "mul")):
        return "table"
    positions = [i for i, a in enumerate(consumer.args) if a is operand]
    keys = [k for k, v in consumer.kwargs.items() if v is operand]
    if name in MIXING:
        product = _PRODUCT_ARGS.get(name)
        if (
            product is None
            or any(i in product for i in positions)
            or any(k not in _ADDED_KWARGS for k in keys)
        ):
            return "weight"
        return "bias"
    if name in ("add", "sub"):
        return "bias"
    return "weight" if big >= 2 else "other"


def _indexes(node: fx.Node) -> bool:
    """Whether ``node`` gathers rows by a tensor of indices (``table[rel_index]``), not by
    an int or a slice (``experts[i]``, ``w[:n]``)."""
    name = op_name(node)
    if name == "getitem":
        index = node.args[1] if len(node.args) > 1 else None
        items = index if isinstance(index, (tuple, list)) else (index,)
        return any(isinstance(i, fx.Node) for i in items)
    return name in INDEXING


def _affine_of_weight(node: fx.Node, operand: fx.Node, param: str) -> ParamRole | None:
    """The role of ``operand`` where parameters combine before meeting the signal: the
    affine arguments of a normalization applied to another weight (timm's
    ``ScaledStdConv2d`` standardizes its weight with ``F.batch_norm(w, weight=gain)``)."""
    if op_name(node) in NORM_FUNCTIONS and node.args[:1] != (operand,):
        return "bias" if "bias" in param.rpartition(".")[2] else "scale"
    return None


def graph_roles(
    r: GraphView, shapes: Mapping[str, tuple[int, ...]], data: set[fx.Node]
) -> dict[str, ParamRole]:
    """Role of every parameter the graph reads (``get_attr``), by name: followed through
    the ops computed from parameters alone to the ops that meet the signal. A tensor with
    at most one dimension over 1 is never a weight (a gain shaped ``(C, 1, 1, 1)``)."""
    roles: dict[str, ParamRole] = {}
    for n in r.nodes:
        target = str(n.target)
        if n.op != "get_attr" or target not in shapes:
            continue
        big = sum(1 for s in shapes[target] if s > 1)
        found: list[ParamRole] = []
        stack: list[tuple[fx.Node, bool]] = [(n, False)]
        while stack:
            node, indexed = stack.pop()
            for u in node.users:
                affine = _affine_of_weight(u, node, target)
                if affine is not None:
                    found.append(affine)
                elif u in r.p.param_derived:
                    stack.append((u, indexed or _indexes(u)))
                elif u.op != "output":
                    found.append(_use(u, node, indexed, target, big, data))
        if found:
            role: ParamRole = "weight" if "weight" in found else found[0]
            if role == "weight" and big < 2:
                role = "scale"
            previous = roles.get(target)
            roles[target] = "weight" if "weight" in (role, previous) else previous or role
    return roles


def type_role(layer: Layer, p: ParamInfo) -> ParamRole:
    """A parameter's role from its module's type and its own shape, for tensors the graph
    does not show being used (inside a leaf module, or never called).

    >>> from initpolicy.tracer.graph import Layer, ParamInfo, Resolution
    >>> lin = Layer("fc", "Linear", ("Linear", "Module"), Resolution("relu"))
    >>> type_role(lin, ParamInfo("fc.weight", "weight", (4, 3), 3, 4))
    'weight'
    >>> types = ("ScaledStdConv2d", "Conv2d", "_ConvNd")
    >>> gain = Layer("conv", "ScaledStdConv2d", types, Resolution("relu"))
    >>> type_role(gain, ParamInfo("conv.gain", "gain", (8, 1, 1, 1), 1, 1))
    'scale'
    """
    local = p.local.lower()
    big = sum(1 for s in p.shape if s > 1)
    if "bias" in local or local in ("beta", "shift"):
        return "bias"
    if any(t in ("_NormBase", "LayerNorm", "GroupNorm", "RMSNorm") for t in layer.types):
        return "scale"
    if any(t in MIXING_MODULES for t in layer.types) and "weight" in local and p.ndim >= 2:
        return "weight"
    return "weight" if big >= 2 else "scale"
