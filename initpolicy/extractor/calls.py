"""What the recorder recognises: init functions, tensor methods, factories.

torch 2.14 facts this table relies on:

* Only four ``torch.nn.init`` functions dispatch through ``handle_torch_function``
  (``uniform_``, ``normal_``, ``constant_``, ``kaiming_uniform_``); the others
  (``xavier_*``, ``kaiming_normal_``, ``trunc_normal_``, ``orthogonal_``, ``eye_``, ...) are
  seen only through their inner Tensor ops (``orthogonal_`` ends in a ``copy_`` of a QR
  result). So every public init function, torch's and timm's, is also recognised by its
  **code object** on the Python stack (:data:`Composite`): robust to
  ``from timm.layers import trunc_normal_`` aliasing, and the writes inside it become one
  record of the outermost such frame, its arguments read from the frame's locals.
* transformers' ``guard_torch_init_functions`` replaces ``torch.nn.init.normal_`` and co.
  by wrappers of the same names in ``transformers.initialization``: accepted by name.

Which torch function is which scheme comes from the catalog (``Scheme.torch_name``), and
the arguments kept are the catalog's parameters of that scheme.

>>> INIT_FUNCTIONS["kaiming_normal_"], scheme_args("kaiming_normal")
('kaiming_normal', ('a', 'mode', 'nonlinearity'))
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from ..catalog import SCHEMES, get

#: torch.nn.init function name -> catalog scheme (torch semantics, same arguments).
INIT_FUNCTIONS: dict[str, str] = {s.torch_name: s.name for s in SCHEMES.values() if s.torch_name}
#: Modules whose functions of those names are init functions (transformers' wrappers).
INIT_MODULES = ("torch.nn.init", "transformers.initialization")


def scheme_args(scheme: str) -> tuple[str, ...]:
    """The arguments a record keeps: the catalog's parameters (torch's extra ones, such as
    ``generator``, are dropped)."""
    return get(scheme).names


#: In-place Tensor methods that are a scalar affine map of what is there.
AFFINE: dict[str, str] = {
    "mul_": "mul",
    "__imul__": "mul",
    "div_": "div",
    "__itruediv__": "div",
    "add_": "add",
    "__iadd__": "add",
    "sub_": "sub",
    "__isub__": "sub",
}
#: In-place element-wise functions of a drawn tensor (RecurrentGemma's
#: ``u.log_().mul_(0.5).neg_().exp_().sub_(1.0).log_()``): the draw written through a map.
ELEMENTWISE_INPLACE: dict[str, str] = {
    "log_": "log",
    "exp_": "exp",
    "sqrt_": "sqrt",
    "abs_": "abs",
    "neg_": "neg",
}
#: The same functions out of place, as Tensor methods and torch functions
#: (``torch.log(u)``, ``u.exp()``): a new tensor, the draw through a map.
ELEMENTWISE_OOP: dict[str, str] = {"log": "log", "exp": "exp", "sqrt": "sqrt", "abs": "abs"}
#: A power with a scalar exponent (``u ** 2``, ``torch.pow(u, 0.5)``, ``u.pow_(3)``).
POWERS = ("pow", "pow_", "__pow__", "__ipow__")
#: Out-of-place scalar arithmetic (a fresh tensor from a tensor with a known law).
AFFINE_OOP: dict[str, str] = {
    "mul": "mul",
    "__mul__": "mul",
    "__rmul__": "mul",
    "div": "div",
    "__truediv__": "div",
    "add": "add",
    "__add__": "add",
    "__radd__": "add",
    "sub": "sub",
    "__sub__": "sub",
    "neg": "neg",
    "__neg__": "neg",
}
#: In-place methods that change metadata or autograd state, not values.
NOT_WRITES = frozenset(
    {
        "requires_grad_",
        "share_memory_",
        "detach_",
        "retain_grad",
        "set_",
        "resize_",
        "resize_as_",
        "as_strided_",
        "squeeze_",
        "unsqueeze_",
        "t_",
        "transpose_",
        "swapdims_",
        "swapaxes_",
        "record_stream",
        "pin_memory",
        "rename_",
        "refine_names",
        "apply_",
        "map_",
        "register_hook",
    }
)
#: Factories whose result carries a law (``torch.zeros``, ``torch.randn(d)``, ...).
FACTORIES = (
    "zeros",
    "ones",
    "full",
    "randn",
    "rand",
    "zeros_like",
    "ones_like",
    "full_like",
    "randn_like",
    "rand_like",
    "tensor",
    "as_tensor",
    "linspace",
)


def is_inplace(name: str) -> bool:
    """A Tensor method that writes its own values (``fill_``, ``__setitem__``, ``mul_``)."""
    return name in AFFINE or name == "__setitem__" or (name.endswith("_") and name[0] != "_")


@dataclass(frozen=True)
class Composite:
    """An init function written in Python, recognised by its code object."""

    label: str
    scheme: str
    #: The record's arguments, from the frame's locals.
    read: Callable[[dict[str, Any]], dict[str, Any]]


def plain(v: Any) -> Any:
    """A number as a float (a 0-d tensor too); anything else as it is."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return float(v)
    return v


#: The module whose init functions are recognised once it is imported (never imported here:
#: a model that does not use timm does not pay for importing it).
TIMM_INIT = "timm.layers.weight_init"


def composites() -> dict[Any, Composite]:
    """Code object -> composite, for torch.nn.init's init functions and, if it has been
    imported, timm's."""
    return {**_torch_composites(), **timm_composites()}


def _torch_composites() -> dict[Any, Composite]:
    out: dict[Any, Composite] = {}
    for name, scheme in INIT_FUNCTIONS.items():
        code = getattr(getattr(torch.nn.init, name, None), "__code__", None)
        if code is None:
            continue
        keys = scheme_args(scheme)

        def read(loc: dict[str, Any], keys: tuple[str, ...] = keys) -> dict[str, Any]:
            return {k: plain(loc[k]) for k in keys if k in loc}

        out[code] = Composite(f"torch.nn.init.{name}", scheme, read)
    return out


def _trunc_normal(loc: dict[str, Any]) -> dict[str, Any]:
    return {k: float(loc[k]) for k in ("mean", "std", "a", "b")}


def _trunc_normal_tf(loc: dict[str, Any]) -> dict[str, Any]:
    # the bounds apply to the unit normal before "* std + mean": absolute [mean + a*std, ...]
    m, s = float(loc["mean"]), float(loc["std"])
    return {"mean": m, "std": s, "a": m + float(loc["a"]) * s, "b": m + float(loc["b"]) * s}


def _variance_scaling(loc: dict[str, Any]) -> dict[str, Any]:
    dist = str(loc["distribution"])
    return {
        "scale": float(loc["scale"]),
        "mode": str(loc["mode"]),
        "distribution": "untruncated_normal" if dist == "normal" else dist,
    }


#: timm's init functions: name, scheme, how the arguments read from the frame's locals.
_TIMM: tuple[tuple[str, str, Callable[[dict[str, Any]], dict[str, Any]]], ...] = (
    ("trunc_normal_", "trunc_normal", _trunc_normal),
    ("trunc_normal_tf_", "trunc_normal", _trunc_normal_tf),
    ("variance_scaling_", "variance_scaling", _variance_scaling),
    ("lecun_normal_", "lecun_normal", lambda _loc: {}),
)


TIMM_FUNCTIONS = len(_TIMM)


def timm_composites() -> dict[Any, Composite]:
    """timm's init functions, if ``timm.layers.weight_init`` is imported (all of them, or
    those defined so far while it is being imported)."""
    weight_init = sys.modules.get(TIMM_INIT)
    if weight_init is None:
        return {}
    out: dict[Any, Composite] = {}
    for name, scheme, read in _TIMM:
        code = getattr(getattr(weight_init, name, None), "__code__", None)
        if code is not None:
            out[code] = Composite(f"timm.layers.{name}", scheme, read)
    return out
