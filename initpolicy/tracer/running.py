"""What a traced forward is run under, beyond recording it (:mod:`initpolicy.tracer.capture`).

* Uniform random draws take the top of their range (:func:`keep_end`): every ``u < p``
  drop decision of a training-mode regularizer keeps, so the trace sees the whole network
  (transformers' LayerDrop would skip whole layers at random), the same on every run.
* On the meta device a one-element tensor's truth value is unknown: it is taken as true
  (:func:`is_meta_truth`), and where it was asked is located (:func:`caller`), an assertion
  (``torch._check``) told apart from a choice of branch.
* On the meta device an op whose meta kernel rejects a dtype the CPU accepts is retried
  in bfloat16 (:func:`on_meta_in_bfloat16`): only shapes matter there.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import torch
from torch.overrides import TorchFunctionMode


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (tuple, list)):
        return [t for v in value for t in _tensors(v)]
    return []


#: Uniform draws a training-mode forward makes for its regularizers (LayerDrop's
#: ``torch.rand([]) < layerdrop``, stochastic depth): see :func:`keep_end`.
UNIFORM_DRAWS = frozenset({"rand", "rand_like", "uniform_"})


def keep_end(out: torch.Tensor, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
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


def on_meta_in_bfloat16(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Retry an op that failed on meta tensors with its floating inputs in bfloat16, its
    floating results cast back; re-raise the first error if that fails too.

    On the meta device only shapes matter, and some meta kernels accept fewer dtypes than
    the CPU ones: ``torch._grouped_mm`` (MoE experts) takes no float32 there.
    """
    error = sys.exc_info()[1]
    found = [t for t in _tensors((args, kwargs)) if t.is_floating_point()]
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


class KeepDraws(TorchFunctionMode):
    """Uniform draws at the top of their range (:func:`keep_end`), nothing else."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if getattr(func, "__name__", "") in UNIFORM_DRAWS and isinstance(out, torch.Tensor):
            keep_end(out, func, args, kwargs)
        return out


def is_meta_truth(func: Any, args: tuple[Any, ...]) -> bool:
    """A truth value of a meta tensor, whose value is unknown: ``bool(t)`` (``if t:``,
    ``t.item()`` of a bool) of one element, or ``x in t`` (``Tensor.__contains__``, whose
    ``.item()`` torch calls inside the query, out of the tracer's sight)."""
    name = getattr(func, "__name__", "")
    if name not in ("__bool__", "is_nonzero", "item", "__contains__") or not args:
        return False
    t = args[0]
    return (
        isinstance(t, torch.Tensor)
        and t.is_meta
        and (name == "__contains__" or t.numel() == 1)
        and (name != "item" or t.dtype == torch.bool)
    )


def _outside(path: Path) -> bool:
    return not ({"torch", "initpolicy"} & set(path.parts))


def _helper(path: Path) -> bool:
    """A library's shared helpers (``masking_utils.py``, ``utils/import_utils.py``): the
    model file that called them says more."""
    return "utils" in path.stem or "utils" in path.parts[:-1]


def caller() -> tuple[str, bool]:
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
