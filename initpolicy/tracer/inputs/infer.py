"""Example inputs for a forward pass: normalized from what the user gave, or inferred.

Inputs known by name come first (:mod:`initpolicy.tracer.inputs.named`: transformers'
``dummy_inputs`` and ``input_ids``/``pixel_values``/... sized from the config), then
images of the size the model declares (:mod:`initpolicy.tracer.inputs.declared`: timm's
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

from typing import Any

import torch

from .calls import (
    Call,
    NoInputs,
    as_call,
    batch_size,
    bind,
    describe,
    forward_parameters,
    generator,
    model_device_dtype,
)
from .declared import declared_image_size
from .named import PRIMARY, named_calls

_SPATIAL = {1: (32, 64, 256), 2: (32, 64, 224), 3: (8, 16, 32)}


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


def infer(model: torch.nn.Module, device: torch.device | None = None) -> list[Call]:
    """Candidate inputs, in the order to try them; raises :class:`NoInputs` when none can
    be inferred. ``device``: where to make them (default: where the model is; a model on
    the meta device that is run part by part wants them on the CPU).

    Inputs known by name come first (:mod:`initpolicy.tracer.inputs.named`: transformers'
    ``dummy_inputs``, ``input_ids``/``pixel_values``/... sized from the config), then the
    input of the first layer, smallest first.
    """
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
    (not by name: named inputs are :mod:`.named`'s business)."""
    size = declared_image_size(model)
    if size is None or {p.name for p in forward_parameters(model)} & set(PRIMARY):
        return []
    x = torch.randn((batch, *size), dtype=dtype, generator=generator()).to(device)
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
                # torch draws normals only in the usual float types (not float8): draw in
                # float32 and round to the model's dtype
                draw = dtype if dtype in _DRAWABLE else torch.float32
                x = torch.randn(shape, dtype=draw, generator=generator()).to(device, dtype)
            calls.append(bind(model, x))
        return calls
    raise NoInputs("no Embedding, Linear, ConvNd, RNN or attention layer to infer it from")


#: The dtypes torch.randn draws in directly.
_DRAWABLE = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _batched(shape: tuple[int, ...], batch: int, m: torch.nn.Module) -> tuple[int, ...]:
    """``shape`` with ``batch`` examples (on the batch axis: 1 for a sequence-first RNN)."""
    axis = 1 if getattr(m, "batch_first", True) is False and len(shape) == 3 else 0
    return (*shape[:axis], shape[axis] * batch, *shape[axis + 1 :])


def synthetic_batch(model: torch.nn.Module, batch: int = 64, example: Any = None) -> Any:
    """``batch`` examples shaped as ``example`` (``example_inputs``), else as the inputs
    :func:`infer` finds first: floating inputs drawn N(0, 1) (seeded), others (token ids)
    repeated along the batch. Raises :class:`NoInputs` when no input can be inferred."""
    args, kwargs = as_call(example) if example is not None else infer(model)[0]
    g = generator()

    def grow(v: Any) -> Any:
        if not isinstance(v, torch.Tensor) or v.dim() == 0:
            return v
        shape = (batch, *v.shape[1:])
        if v.is_floating_point():
            return torch.randn(shape, dtype=v.dtype, generator=g).to(v.device)
        return v[:1].expand(shape).contiguous()

    if kwargs and not args:
        return {k: grow(v) for k, v in kwargs.items()}
    return tuple(grow(a) for a in args)
