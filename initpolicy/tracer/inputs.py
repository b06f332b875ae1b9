"""Example inputs for a forward pass: normalized from what the user gave, or inferred.

Inputs known by name come first (:mod:`initpolicy.tracer.named_inputs`: transformers'
``dummy_inputs`` and ``input_ids``/``pixel_values``/... sized from the config), then
images of the size the model declares (:mod:`initpolicy.tracer.declared`: timm's
``input_size``, torchvision's documented crop). Then inference looks at the first module
(in registration order) whose input it understands: ``Embedding`` -> integer ids
``(1, 8)``; ``Linear`` -> ``(1, in_features)``; ``ConvNd`` -> ``(1, in_channels,
*spatial)`` with a small spatial size (then larger ones if the model rejects it);
LSTM/GRU/RNN and MultiheadAttention -> a length-8 sequence; transformers' ``Conv1D`` ->
``(1, 8, in)``. The batch is 2 where the model has a BatchNorm (training-mode batch
statistics need two values per channel), else 1. A forward whose required inputs are
numbered alike (RAFT's ``image1, image2``) gets one such input for each. Inputs live on
the model's device (``meta`` for a model built on the meta device) with its floating dtype.

>>> import torch

>>> [describe(*c) for c in infer(torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3)))]
['(1, 3, 32, 32) float32', '(1, 3, 64, 64) float32', '(1, 3, 224, 224) float32']
"""

from __future__ import annotations

import inspect
import math
import os
from typing import Any

import torch

from ..catalog.dtypes import DTYPES
from ..errors import UsageError

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


def _generator() -> torch.Generator:
    """A private generator: making inputs never touches the global RNG state."""
    return torch.Generator().manual_seed(0)


_SPATIAL = {1: (32, 64, 256), 2: (32, 64, 224), 3: (8, 16, 32)}


def batch_size(model: torch.nn.Module) -> int:
    """2 for a model with a BatchNorm (in training mode it needs more than one value per
    channel: a pooled ``(1, C)`` feature fails), else 1."""
    bn = torch.nn.modules.batchnorm._BatchNorm
    return 2 if any(isinstance(m, bn) for m in model.modules()) else 1


def _candidates(m: torch.nn.Module) -> list[tuple[tuple[int, ...], bool]] | None:
    """(shape, integer ids?) candidates for a first module ``m``, or None if unknown."""
    names = {c.__name__ for c in type(m).__mro__}
    if isinstance(m, torch.nn.Embedding):
        return [((1, 8), True)]
    if "Conv1D" in names and not type(m).__module__.startswith("torch."):
        weight: Any = m.weight
        return [((1, 8, int(weight.shape[0])), False)]
    if isinstance(m, (torch.nn.Linear, torch.nn.Bilinear)):
        n = getattr(m, "in_features", 0) or getattr(m, "in1_features", 0)
        return [((1, int(n)), False)] if n else None
    if isinstance(m, (torch.nn.modules.conv._ConvNd)):
        nd = len(m.kernel_size)
        sizes = _SPATIAL.get(nd, (32,))
        found = [((1, m.in_channels, *((s,) * nd)), False) for s in sizes]
        if nd == 1 and m.in_channels == 1:
            # Waveform models (wav2vec2, HuBERT) take (batch, samples) and add the channel.
            found += [((1, s), False) for s in (*sizes, 1024)]
        return found
    if isinstance(m, torch.nn.RNNBase):
        first = m.batch_first
        return [(((1, 8) if first else (8, 1)) + (m.input_size,), False)]
    if isinstance(m, torch.nn.MultiheadAttention):
        return [(((1, 8) if m.batch_first else (8, 1)) + (m.embed_dim,), False)]
    return None


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


def infer(model: torch.nn.Module, device: torch.device | None = None) -> list[Call]:
    """Candidate inputs, in the order to try them; raises :class:`NoInputs` when none can
    be inferred. ``device``: where to make them (default: where the model is; a model on
    the meta device that is run part by part wants them on the CPU).

    Inputs known by name come first (:mod:`initpolicy.tracer.named_inputs`: transformers'
    ``dummy_inputs``, ``input_ids``/``pixel_values``/... sized from the config), then the
    input of the first layer, smallest first.
    """
    from .named_inputs import named_calls

    found, dtype = model_device_dtype(model)
    device = device or found
    batch = batch_size(model)
    named = named_calls(model, device, dtype, batch=batch) + _declared_calls(
        model, device, dtype, batch
    )
    try:
        by_layer = _layer_calls(model, device, dtype, batch)
    except NoInputs:
        if named:
            return named
        raise
    seen = {describe(*c) for c in named}
    return named + [c for c in by_layer if describe(*c) not in seen]


def _declared_calls(
    model: torch.nn.Module, device: torch.device, dtype: torch.dtype, batch: int
) -> list[Call]:
    """An image of the size the model declares, for a forward that takes one tensor first
    (not by name: named inputs are :mod:`named_inputs`' business)."""
    from .declared import declared_image_size
    from .named_inputs import PRIMARY

    size = declared_image_size(model)
    if size is None or {p.name for p in forward_parameters(model)} & set(PRIMARY):
        return []
    x = torch.randn((batch, *size), dtype=dtype, generator=_generator()).to(device)
    return [bind(model, x)]


def _layer_calls(
    model: torch.nn.Module, device: torch.device, dtype: torch.dtype, batch: int = 1
) -> list[Call]:
    """Inputs of the first module (registration order) whose input we understand."""
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params():  # type: ignore[misc]
            raise NoInputs(
                f"its first layer {name or type(m).__name__!r} ({type(m).__name__}) has "
                "uninitialized parameters, so no input shape can be inferred"
            )
        found = _candidates(m)
        if found is None:
            continue
        calls: list[Call] = []
        for found_shape, ids in found:
            shape = _batched(found_shape, batch, m)
            if ids:
                n = max(1, int(getattr(m, "num_embeddings", 1)))
                x = (torch.arange(shape[-1], device=device) % n).expand(shape).contiguous()
            else:
                x = torch.randn(shape, dtype=dtype, generator=_generator()).to(device)
            calls.append(bind(model, x))
        return calls
    raise NoInputs("no Embedding, Linear, ConvNd, RNN or attention layer to infer it from")


def _batched(shape: tuple[int, ...], batch: int, m: torch.nn.Module) -> tuple[int, ...]:
    """``shape`` with ``batch`` examples (on the batch axis: 1 for a sequence-first RNN)."""
    axis = 1 if getattr(m, "batch_first", True) is False and len(shape) == 3 else 0
    return (*shape[:axis], shape[axis] * batch, *shape[axis + 1 :])


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
                out.append(torch.randn(shape, dtype=dtype, generator=_generator()))
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
