"""What an example call is, and the parts every way of making one shares: normalizing what
the user gave (a tensor, a tuple, a dict), describing it, moving it, the model's device and
dtype, its batch, the inputs its ``forward`` names, and tensors for ``--input-shape``.

>>> describe(*as_call(torch.zeros(1, 3)))
'(1, 3) float32'
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

import torch

from ...catalog import DTYPES
from ...errors import UsageError

Call = tuple[tuple[Any, ...], dict[str, Any]]


class NoInputs(Exception):
    """No input could be inferred (the message says why)."""


def as_call(example_inputs: Any) -> Call:
    """A tensor, a tuple/list of positional inputs, or a dict of keyword inputs."""
    if isinstance(example_inputs, torch.Tensor):
        return (example_inputs,), {}
    if isinstance(example_inputs, dict):
        return (), dict(example_inputs)
    if isinstance(example_inputs, (tuple, list)):
        return tuple(example_inputs), {}
    return (example_inputs,), {}


def _desc(t: Any) -> str:
    if isinstance(t, torch.Tensor):
        return f"{tuple(t.shape)} {str(t.dtype).replace('torch.', '')}"
    return type(t).__name__


def describe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """``(1, 3, 32, 32) float32`` for each input, comma-separated."""
    parts = [_desc(a) for a in args] + [f"{k}={_desc(v)}" for k, v in kwargs.items()]
    return ", ".join(parts) if parts else "no inputs"


def to_device(call: Call, device: torch.device) -> Call:
    """Inputs moved to ``device`` (only the inputs, never the model)."""
    args, kwargs = call

    def move(v: Any) -> Any:
        return v.to(device) if isinstance(v, torch.Tensor) and v.device != device else v

    return tuple(move(a) for a in args), {k: move(v) for k, v in kwargs.items()}


def model_device_dtype(model: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """Where most of the model's parameters live, and its first floating dtype.

    By element count, not the first parameter: transformers builds a few parameters on
    the CPU even under ``torch.device("meta")`` (wav2vec2's ``masked_spec_embed``).
    """
    sizes: dict[torch.device, int] = {}
    dtype: torch.dtype | None = None
    for p in model.parameters():
        if isinstance(p, torch.nn.parameter.UninitializedParameter):
            continue
        sizes[p.device] = sizes.get(p.device, 0) + p.numel()
        if dtype is None and p.is_floating_point():
            dtype = p.dtype
    device = max(sizes, key=lambda d: sizes[d]) if sizes else torch.device("cpu")
    return device, dtype or torch.float32


def generator() -> torch.Generator:
    """A private generator: making inputs never touches the global RNG state."""
    return torch.Generator().manual_seed(0)


def batch_size(model: torch.nn.Module) -> int:
    """2 for a model with a BatchNorm (in training mode it needs more than one value per
    channel: a pooled ``(1, C)`` feature fails), else 1."""
    bn = torch.nn.modules.batchnorm._BatchNorm
    return 2 if any(isinstance(m, bn) for m in model.modules()) else 1


def forward_parameters(model: torch.nn.Module) -> list[inspect.Parameter]:
    """The named parameters of ``model.forward`` (no ``*args``/``**kwargs``), or []."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return []
    return [
        p
        for p in sig.parameters.values()
        if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    ]


def required_inputs(model: torch.nn.Module) -> list[str]:
    """Names of the inputs ``model.forward`` requires (no default value)."""
    return [p.name for p in forward_parameters(model) if p.default is inspect.Parameter.empty]


def _stem(name: str) -> str:
    return name.rstrip("0123456789_")


def bind(model: torch.nn.Module, x: torch.Tensor) -> Call:
    """The call that passes the inferred input ``x`` to ``model``.

    A keyword-only first input gets ``x`` by name. Required inputs numbered like the first
    (``image1, image2``) get inputs like it. An encoder-decoder (a forward with
    ``decoder_input_ids``, the transformers convention) also gets decoder ids, which it
    needs to run at all.
    """
    params = forward_parameters(model)
    kwargs: dict[str, Any] = {}
    if any(p.name == "decoder_input_ids" for p in params):
        kwargs["decoder_input_ids"] = torch.zeros(
            (x.shape[0], 4), dtype=torch.long, device=x.device
        )
    if params and params[0].kind == inspect.Parameter.KEYWORD_ONLY:
        return (), {params[0].name: x, **kwargs}
    args = [x]
    for i, p in enumerate(params[1:], start=1):
        twin = p.default is inspect.Parameter.empty and p.name != params[0].name
        if not (twin and _stem(p.name) == _stem(params[0].name) and _stem(p.name)):
            break
        # a second image of the pair (different values: a flow model compares them)
        g = torch.Generator().manual_seed(i)
        args.append(torch.randn(x.shape, dtype=x.dtype, generator=g).to(x.device))
    return tuple(args), kwargs


_DTYPES = {name: getattr(torch, torch_name) for name, torch_name in DTYPES.items()}


def dtype_names() -> tuple[str, ...]:
    return tuple(_DTYPES)


def from_shapes(shapes: list[tuple[int, ...]], dtypes: list[str]) -> tuple[torch.Tensor, ...]:
    """Tensors for ``--input-shape``/``--input-dtype`` (integers are zeros, floats randn).

    >>> [tuple(t.shape) for t in from_shapes([(1, 3), (1, 8)], ["float", "long"])]
    [(1, 3), (1, 8)]
    """
    if dtypes and len(dtypes) not in (1, len(shapes)):
        raise ValueError(f"give one --input-dtype, or one per --input-shape ({len(shapes)})")
    out = []
    for i, shape in enumerate(shapes):
        name = (dtypes[i] if len(dtypes) > 1 else dtypes[0]) if dtypes else "float32"
        dtype = _DTYPES[name]
        shown = f"--input-shape {','.join(str(s) for s in shape)}"
        needs = math.prod(shape) * dtype.itemsize
        memory = _physical_memory()
        if memory is not None and needs > memory:
            raise UsageError(
                f"{shown}: the example input needs {_gib(needs)} ({name}), more than this "
                f"machine's {_gib(memory)} of memory"
            )
        try:
            if dtype.is_floating_point:
                out.append(torch.randn(shape, dtype=dtype, generator=generator()))
            else:
                out.append(torch.zeros(shape, dtype=dtype))
        except (RuntimeError, MemoryError) as e:  # the allocator's refusal
            why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UsageError(f"{shown}: cannot allocate the example input: {why}") from None
    return tuple(out)


def _physical_memory() -> int | None:
    """Bytes of physical memory, where the platform says (Linux, macOS)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def _gib(n: int) -> str:
    return f"{n / 2**30:,.1f} GiB"
