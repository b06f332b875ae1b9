"""What each op means to the tracer: one table for module, functional and method spellings.

Every fx node the resolution pass walks through is classified here, and nowhere else:

* an **activation** (``nn.ReLU``, ``F.relu``, ``torch.relu``, ``x.relu()`` are one entry),
  with its own arguments (leaky_relu's ``negative_slope``, elu's ``alpha``, ...);
* a **norm** (transparent, but it owns parameters and gets its own entry);
* a **mixing** op (matmul, bmm, einsum, attention, functional linear/conv) that ends
  the walk with ``linear``;
* a **stop** (metadata and comparisons: ``size``, ``shape``, ``gt``) whose result
  carries no activation;
* an **unknown** elementwise function (``sin``, ``exp``, ``pow``: not an activation of the
  catalog) that ends the walk with ``unknown``;
* anything else is **transparent** (dropout, reshapes, pooling, add, cat, mul, ...).

Third-party activation modules are recognized by class name (see
:func:`module_activation`): transformers' ``NewGELUActivation`` is ``gelu``, timm's
``HardSwish`` is ``hardswish``.

>>> from_name("leaky_relu_").name, from_name("__radd__")
('leaky_relu', None)
"""

from __future__ import annotations

import operator
import re
from typing import Any

from ..catalog import ACTIVATIONS, SPELLINGS, Activation, by_name, class_name_tokens, meaning

_BY_MODULE: dict[str, Activation] = {m: a for a in ACTIVATIONS + SPELLINGS for m in a.modules}
_BY_FUNCTION: dict[str, Activation] = {f: a for a in ACTIVATIONS + SPELLINGS for f in a.functions}


#: Ops after which the walk ends with ``linear``: they mix features with other weights.
#: ``grouped_mm`` (``F.grouped_mm``, ``torch._grouped_mm``, transformers' fallback op) is
#: how MoE experts stored as 3-D tensors run: one matmul per expert.
MIXING: frozenset[str] = frozenset(
    {
        "matmul", "mm", "bmm", "baddbmm", "addmm", "addbmm", "addmv", "mv", "einsum",
        "tensordot", "linear", "bilinear", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
        "conv_transpose2d", "conv_transpose3d", "embedding", "embedding_bag",
        "scaled_dot_product_attention", "multi_head_attention_forward", "lstm", "gru", "rnn_tanh",
        "rnn_relu", "flex_attention", "grouped_mm", "grouped_mm_fallback", "scaled_grouped_mm",
    }
)  # fmt: skip

#: The functional spellings of fused attention: (query, key, value) are args 0, 1, 2.
FUSED_ATTENTION = frozenset({"scaled_dot_product_attention", "_scaled_dot_product_attention"})
#: Mixing ops whose tensor of the model among the operands is no weight applied to the
#: signal: an attention bias table passed as ``attn_mask`` (timm's MaxViT) is added to the
#: scores, before the softmax.
ATTENTION_OPS = FUSED_ATTENTION | {"flex_attention"}

#: Elementwise nonlinear functions the catalog has no activation for (SIREN's ``sin``,
#: ``exp``, ``x ** 2``): the walk ends there with the activation ``unknown`` (no gain,
#: no band), never passes through them as if they were the identity.
UNKNOWN_ELEMENTWISE: frozenset[str] = frozenset(
    {
        "sin", "cos", "tan", "sinc", "sinh", "cosh", "asin", "acos", "atan", "asinh", "acosh",
        "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh", "arctanh", "exp", "exp2",
        "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "reciprocal", "abs",
        "square", "pow", "erf", "erfc", "erfinv", "sign", "sgn", "floor", "ceil", "round",
        "trunc", "frac",
    }
)  # fmt: skip

#: Functional normalizations: transparent, and they mark the layer ``normalized``.
NORM_FUNCTIONS: frozenset[str] = frozenset(
    {"layer_norm", "batch_norm", "group_norm", "instance_norm", "rms_norm", "local_response_norm"}
)

#: Ops whose result is metadata or a mask, not the layer's signal: the walk stops there.
STOP: frozenset[str] = frozenset(
    {
        "size", "dim", "numel", "len", "shape", "dtype", "device", "gt", "ge", "lt", "le", "eq",
        "ne", "argmax", "argmin", "any", "all", "isnan", "isinf", "isfinite", "nonzero",
        "logical_not", "logical_and", "logical_or", "is_floating_point", "ones_like",
        "zeros_like", "empty_like", "new_zeros", "new_ones", "new_empty", "new_full",
        "full_like", "rand_like", "randn_like", "item", "tolist", "detach_",
    }
)  # fmt: skip

#: Ops that take a part of a tensor: transparent for the walk, but two slices of one
#: tensor are different signals (the gate heuristic stops there).
SLICING: frozenset[str] = frozenset(
    {"getitem", "chunk", "split", "split_with_sizes", "tensor_split", "narrow", "unbind",
     "select", "index_select"}
)  # fmt: skip

#: Attributes read with ``getattr`` in fx graphs that are still the tensor's values.
TENSOR_ATTRS: frozenset[str] = frozenset({"T", "mT", "H", "mH", "data", "real"})

_BINARY = frozenset(
    {"add", "sub", "mul", "truediv", "div", "matmul", "floordiv", "pow", "and", "or"}
)
_OPERATOR_NAMES = {
    operator.add: "add",
    operator.iadd: "add",
    operator.sub: "sub",
    operator.mul: "mul",
}


def normalize(name: str) -> str:
    """One spelling per op: ``__radd__``/``add_``/``iadd`` -> ``add``, ``relu_`` -> ``relu``.

    >>> normalize("__rmatmul__"), normalize("relu_"), normalize("__getitem__")
    ('matmul', 'relu', 'getitem')
    """
    name = name.strip("_")
    if name[:1] in ("r", "i") and name[1:] in _BINARY:
        name = name[1:]
    return name


def from_name(name: str) -> Activation | None:
    """The catalog entry spelled ``name`` in functional or method form, or None (a
    :data:`~initpolicy.catalog.activations.SPELLINGS` entry such as ``hardtanh`` too:
    :func:`call_activation` says what it computes)."""
    return _BY_FUNCTION.get(normalize(name))


def call_activation(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, dict[str, Any]] | None:
    """The canonical activation and arguments a functional/method call computes, or None.

    >>> call_activation("hardtanh", ("x", 0, 6), {}), call_activation("rrelu", ("x",), {})
    (('relu6', {}), ('leaky_relu', {'negative_slope': 0.22916666666666666}))
    """
    act = from_name(name)
    if act is None:
        return None
    return meaning(act, call_args(act, args, kwargs))


def call_args(act: Activation, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """The activation's own arguments from a functional/method call (defaults filled in).

    >>> call_args(by_name("leaky_relu"), ("x", 0.2), {})
    {'negative_slope': 0.2}
    """
    out: dict[str, Any] = {}
    for pname, index, default in ((a.name, a.index, a.default) for a in act.args):
        if pname in kwargs:
            value = kwargs[pname]
        elif index is not None and index < len(args):
            value = args[index]
        else:
            value = default
        if isinstance(value, (int, float, str, type(None))) and not isinstance(value, bool):
            out[pname] = value
        else:
            out[pname] = default
    return out


# Third-party activations by class name: suffixes removed, lower-cased, then the first
# catalog name or alias found in the name decides (longest first).
_SUFFIXES = re.compile(r"(activation|act|layer|module|fn)$")
_GELU_TANH_HINTS = ("tanh", "new", "fast", "accurate")


def class_name_activation(class_name: str) -> tuple[str, dict[str, Any]] | None:
    """The documented class-name rule for third-party activation modules.

    >>> class_name_activation("NewGELUActivation"), class_name_activation("QuickGELU")
    (('gelu', {'approximate': 'tanh'}), ('gelu', {'approximate': 'none'}))
    >>> class_name_activation("LinearActivation") is None
    True
    """
    key = _SUFFIXES.sub("", class_name.lower().replace("_", ""))
    for token, name in class_name_tokens():
        if token in key:
            if name == "gelu":
                approx = "tanh" if any(h in key for h in _GELU_TANH_HINTS) else "none"
                return name, {"approximate": approx}
            return name, {}
    return None


def _is_torch_class(cls: type) -> bool:
    return cls.__module__.startswith("torch.")


def module_activation(module: Any) -> tuple[str, dict[str, Any]] | None:
    """The activation a module computes, or None: torch classes (and their subclasses)
    by the table, third-party ones without parameters or children by the class-name rule.

    >>> import torch
    >>> module_activation(torch.nn.LeakyReLU(0.2))
    ('leaky_relu', {'negative_slope': 0.2})
    """
    for cls in type(module).__mro__:
        if not _is_torch_class(cls):
            continue
        act = _BY_MODULE.get(cls.__name__)
        if act is not None:
            return meaning(act, _module_args(act, module))
    if _is_torch_class(type(module)) or module._parameters or module._modules:
        return None
    found = class_name_activation(type(module).__name__)
    if found is None:
        return None
    name, args = found
    act = by_name(name)
    return name, {**args, **_module_args(act, module, only_present=True)}


def _module_args(act: Activation, module: Any, only_present: bool = False) -> dict[str, Any]:
    if act.name == "prelu":
        return {"module": module}
    out: dict[str, Any] = {}
    for pname, default in ((a.name, a.default) for a in act.args):
        value = getattr(module, pname, None if only_present else default)
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            out[pname] = value
        elif not only_present:
            out[pname] = default
    return out


_NORM_CLASS = re.compile(r"(norm(\d+d)?|layerscale|scale)$")
_NORM_TORCH = ("_NormBase", "LayerNorm", "GroupNorm", "RMSNorm", "LocalResponseNorm")


def is_norm(module: Any) -> bool:
    """Normalization and affine-only layers (BatchNorm, LayerNorm, GroupNorm, RMSNorm,
    InstanceNorm, layer scale), torch's and third-party ones by class name
    (``...Norm``, ``...Norm2d``, ``LayerScale``).

    >>> import torch
    >>> is_norm(torch.nn.BatchNorm2d(3)), is_norm(torch.nn.Linear(2, 2))
    (True, False)
    """
    for cls in type(module).__mro__:
        if cls.__name__ in _NORM_TORCH:
            return True
        if not _is_torch_class(cls) and _NORM_CLASS.search(cls.__name__.lower()):
            return True
    return False


def constant_factor(name: str, args: Any, source: Any) -> float | None:
    """The constant an op multiplies ``source`` by (``x / 30`` -> 1/30, ``30 * x`` -> 30),
    or None when it does something else.

    >>> constant_factor("truediv", ("x", 30.0), "x"), constant_factor("mul", (2, "x"), "x")
    (0.03333333333333333, 2.0)
    """
    if len(args) != 2 or source not in args:
        return None
    other = args[1] if args[0] is source else args[0]
    if not isinstance(other, (int, float)) or isinstance(other, bool) or other == 0:
        return None
    if name == "mul":
        return float(other)
    if name in ("truediv", "div") and args[0] is source:
        return 1.0 / float(other)
    return None


def is_glu(module: Any) -> bool:
    """torch's GLU (or a subclass): a gate over two halves, not an elementwise activation
    (the catalog files it under sigmoid, the half that meets one)."""
    return any(c.__name__ == "GLU" and _is_torch_class(c) for c in type(module).__mro__)


def is_composite(module: Any) -> bool:
    """Modules traced as one leaf although they hold parameterized children.

    MultiheadAttention's forward is one fused functional over in_proj and out_proj;
    its own packed in_proj feeds attention (``linear``), and out_proj resolves from the
    module's output.
    """
    return any(cls.__name__ == "MultiheadAttention" for cls in type(module).__mro__)


def function_name(target: Any) -> str:
    """The op name of an fx ``call_function`` target (``operator.add`` -> ``add``)."""
    if target in _OPERATOR_NAMES:
        return _OPERATOR_NAMES[target]
    return normalize(getattr(target, "__name__", str(target)))
