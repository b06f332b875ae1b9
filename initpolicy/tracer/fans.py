"""The one fan table: fan_in/fan_out of every parameter, and the blocks of packed tensors.

* Default: torch's ``_calculate_fan_in_and_fan_out`` on the stored tensor
  (dim 1 x receptive field, dim 0 x receptive field), so plain layers agree with
  torch.nn.init exactly.
* ConvTranspose stores ``(in, out/groups, *k)``: each output sees in/groups channels, so
  fan_in = in/groups x receptive field and fan_out = out/groups x receptive field
  (torch's formula swaps them, and ignores groups).
* transformers' ``Conv1D`` stores ``(in, out)``: fan_in = size(0), fan_out = size(1).
* A 1-D (or 0-D) parameter takes the fans of its module's weight (``bias_ih_l0`` those of
  ``weight_ih_l0``, ``in_proj_bias`` those of ``in_proj_weight``), as torch's default bias
  init does, or its own length when the module has no such weight.
* A ``[block]`` of a packed tensor (LSTM/GRU gates, MHA q/k/v): fan_out = the block's
  rows, fan_in = the input dim of the (weight) tensor.

>>> import torch
>>> fans(torch.nn.ConvTranspose2d(8, 4, 3), "weight")
(72.0, 36.0)
>>> fans(torch.nn.ConvTranspose2d(64, 64, 4, groups=64), "weight")
(16.0, 16.0)
>>> fans(torch.nn.Linear(3, 5), "bias")
(3.0, 5.0)
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from ..catalog import BLOCKS, PACKED_PARAMS
from .graph import Block


def _mro_names(module: Any) -> tuple[str, ...]:
    return tuple(c.__name__ for c in type(module).__mro__)


def _receptive(shape: tuple[int, ...]) -> int:
    n = 1
    for s in shape[2:]:
        n *= s
    return n


def shape_fans(module: Any, shape: tuple[int, ...]) -> tuple[float, float]:
    """Fans of a weight of ``shape`` (ndim >= 2) stored by ``module``, by the table."""
    names = _mro_names(module)
    if "Conv1D" in names and len(shape) == 2 and not _is_torch(module):
        return float(shape[0]), float(shape[1])
    rf = _receptive(shape)
    if any(n.startswith("ConvTranspose") or n == "_ConvTransposeNd" for n in names):
        groups = int(getattr(module, "groups", 1) or 1)
        return float(shape[0] // groups * rf), float(shape[1] * rf)
    return float(shape[1] * rf), float(shape[0] * rf)


def _is_torch(module: Any) -> bool:
    return type(module).__module__.startswith("torch.")


def parametrized_stand_in(module: Any, key: str = "weight") -> Any:
    """The stored tensor that stands for ``module``'s parametrized tensor ``key``, or None.

    A weight under weight_norm/spectral_norm is computed from the originals of a
    ParametrizationList; the full-shape original (weight_norm's ``v``, spectral_norm's
    ``original``) has the computed weight's shape, so its shape gives the fans. The legacy
    ``torch.nn.utils.weight_norm`` keeps ``weight_g`` and ``weight_v`` on the module itself.

    >>> import torch
    >>> from torch.nn.utils.parametrizations import weight_norm
    >>> tuple(parametrized_stand_in(weight_norm(torch.nn.Linear(3, 5))).shape)
    (5, 3)
    """
    if legacy_weight_norm(module, key) is not None:
        return module._parameters.get(f"{key}_v")
    plist = None
    if _has_plist(module) and key in module.parametrizations:  # a ModuleDict: no .get()
        plist = module.parametrizations[key]
    stored = [t for t in plist._parameters.values() if t is not None] if plist else []
    return max(stored, key=lambda t: (t.dim(), t.numel())) if stored else None


def legacy_weight_norms(module: Any) -> dict[str, Any]:
    """The tensors of ``module`` under the legacy ``torch.nn.utils.weight_norm`` (a forward
    pre-hook computing ``name`` from the parameters ``name_g`` and ``name_v``): name -> hook.

    >>> import torch, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     lin = torch.nn.utils.weight_norm(torch.nn.Linear(3, 5))
    >>> {name: hook.dim for name, hook in legacy_weight_norms(lin).items()}
    {'weight': 0}
    """
    found = {}
    for hook in getattr(module, "_forward_pre_hooks", {}).values():
        kind = type(hook)
        if kind.__name__ != "WeightNorm" or not kind.__module__.startswith("torch.nn.utils"):
            continue
        name = hook.name
        if (
            module._parameters.get(f"{name}_g") is not None
            and module._parameters.get(f"{name}_v") is not None
        ):
            found[name] = hook
    return found


def legacy_weight_norm(module: Any, key: str) -> Any:
    """The legacy weight_norm hook computing ``module``'s ``key``, or None."""
    return legacy_weight_norms(module).get(key)


def _has_plist(module: Any) -> bool:
    return hasattr(getattr(module, "parametrizations", None), "items")


def _weight_for(module: Any, local: str) -> Any:
    """The >= 2-D tensor whose fans a 1-D parameter ``local`` takes, or None."""
    tensors = {**module._parameters, **module._buffers}
    keys = [*(module.parametrizations if _has_plist(module) else ()), *legacy_weight_norms(module)]
    for key in keys:
        stand_in = parametrized_stand_in(module, key)
        if stand_in is not None:
            tensors.setdefault(key, stand_in)
    candidates = []
    if "bias" in local:
        candidates.append(local.replace("bias", "weight"))
    candidates.append("weight")
    for name in candidates:
        t = tensors.get(name)
        if t is not None and t.dim() >= 2:
            return t
    return None


def fans(module: Any, local: str, tensor: Any = None) -> tuple[float, float]:
    """fan_in, fan_out of ``module``'s tensor ``local`` by the fan table."""
    if tensor is None:
        tensor = getattr(module, local)
    shape = tuple(tensor.shape)
    if len(shape) >= 2:
        return shape_fans(module, shape)
    weight = _weight_for(module, local)
    if weight is not None:
        return shape_fans(module, tuple(weight.shape))
    n = float(shape[0]) if shape else 1.0
    return n, n


def blocks(module: Any, local: str, tensor: Any = None) -> dict[str, Block]:
    """The blocks of a packed tensor (``{}`` for an ordinary one), each with its own fans.

    >>> import torch
    >>> b = blocks(torch.nn.LSTM(3, 5), "weight_ih_l0")["forget"]
    >>> (b.start, b.stop, b.fan_in, b.fan_out)
    (5, 10, 3.0, 5.0)
    """
    # torch's own class in the MRO, so a user's ``class MyLSTM(nn.LSTM)`` has gates too,
    # while a third-party class that merely shares the name does not
    kind = next(
        (
            c.__name__
            for c in type(module).__mro__
            if c.__name__ in BLOCKS and c.__module__.startswith("torch.")
        ),
        None,
    )
    if kind is None or not any(fnmatchcase(local, g) for g in PACKED_PARAMS[kind]):
        return {}
    if tensor is None:
        tensor = getattr(module, local)
    shape = tuple(tensor.shape)
    if not shape:
        return {}
    names_ = BLOCKS[kind]
    rows = shape[0] // len(names_)
    if rows * len(names_) != shape[0]:
        return {}
    source = tensor if len(shape) >= 2 else _weight_for(module, local)
    fan_in = (
        float(source.shape[1] * _receptive(tuple(source.shape))) if source is not None else rows
    )
    return {
        name: Block(name, i * rows, (i + 1) * rows, float(fan_in), float(rows))
        for i, name in enumerate(names_)
    }
