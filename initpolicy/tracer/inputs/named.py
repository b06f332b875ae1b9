"""Example inputs by name, for models whose ``forward`` takes several (transformers').

A transformers model says what it takes: ``forward``'s parameter names (``input_ids``,
``pixel_values``, ``input_values``, ``input_features``, ``decoder_input_ids``),
``main_input_name``, ``dummy_inputs`` (a dict of tensors on many architectures) and its
``config`` (``vocab_size``, ``image_size``, ``num_channels``, ``num_mel_bins``, the conv
front-end of speech models), in sub-configs for composite models (CLIP's ``text_config``
and ``vision_config``). From these we build a small call: batch 1, 8 tokens (4 decoder
tokens), the configured image size, about 16 frames of audio. Models without a config
take sizes from their first ``Embedding``/``Conv*`` instead. A vision-language model whose
ids carry placeholders for image features gets them (:mod:`initpolicy.tracer.inputs.vlm`).

>>> import torch
>>> class TwoTowers(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.tok = torch.nn.Embedding(10, 4)
...         self.img = torch.nn.Conv2d(1, 4, 3)
...     def forward(self, input_ids, pixel_values):
...         return self.tok(input_ids).mean(1) + self.img(pixel_values).mean((2, 3))
>>> from initpolicy.tracer.inputs import describe
>>> [describe(*c) for c in named_calls(TwoTowers())]
['input_ids=(1, 8) int64, pixel_values=(1, 1, 32, 32) float32']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import torch

from .calls import Call, forward_parameters, required_inputs
from .vlm import vlm_call

#: Inputs we know how to make, by name; forward's other parameters keep their defaults.
PRIMARY = ("input_ids", "pixel_values", "input_values", "input_features", "decoder_input_ids")
#: Where each kind of input finds its sizes in a composite config.
_SUB = {
    "ids": ("text_config", "encoder", "text_encoder"),
    "decoder": ("decoder", "text_config", "decoder_config"),
    "pixels": ("vision_config", "encoder", "backbone_config", "image_encoder"),
    "audio": ("audio_config", "speech_config", "encoder", "audio_encoder"),
}


def _configs(model: torch.nn.Module, kind: str) -> Iterator[Any]:
    """The model's config, then its sub-configs, the ones meant for ``kind`` first."""
    config = getattr(model, "config", None)
    if config is None:
        return
    yield config
    subs = {
        k: v
        for k, v in vars(config).items()
        if hasattr(v, "to_dict") and (k.endswith("config") or k in ("encoder", "decoder"))
    }
    for key in _SUB[kind]:
        if key in subs:
            yield subs.pop(key)
    yield from subs.values()


def _int(model: torch.nn.Module, kind: str, *keys: str) -> int | None:
    for config in _configs(model, kind):
        for key in keys:
            value = getattr(config, key, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _first(model: torch.nn.Module, cls: type) -> Any:
    return next((m for m in model.modules() if isinstance(m, cls)), None)


def _ids(
    model: torch.nn.Module, kind: str, n: int, device: torch.device, batch: int = 1
) -> torch.Tensor:
    vocab = _int(model, kind, "vocab_size")
    if vocab is None:
        emb = _first(model, torch.nn.Embedding)
        vocab = int(emb.num_embeddings) if emb is not None else 2
    return (torch.arange(n, device=device) % vocab).expand(batch, n).contiguous()


def _floats(shape: tuple[int, ...], dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(shape, dtype=dtype, generator=g).to(device)


def _pixels(model: torch.nn.Module, batch: int = 1) -> tuple[int, ...] | None:
    channels = _int(model, "pixels", "num_channels")
    size: Any = None
    for config in _configs(model, "pixels"):
        size = getattr(config, "image_size", None)
        if size:
            break
    if isinstance(size, (tuple, list)) and len(size) == 2:
        hw = (int(size[0]), int(size[1]))
    elif isinstance(size, int) and size > 0:
        hw = (size, size)
    else:
        hw = (32, 32)
    if channels is None:
        conv = _first(model, torch.nn.Conv2d)
        if conv is None and getattr(model, "config", None) is None:
            return None
        channels = int(conv.in_channels) if conv is not None else 3
    return (batch, channels, *hw)


def _waveform_length(model: torch.nn.Module) -> int:
    """Samples for ~16 frames of a conv feature extractor (wav2vec2, HuBERT), else 1 s."""
    for config in _configs(model, "audio"):
        kernels, strides = (
            getattr(config, "conv_kernel", None),
            getattr(config, "conv_stride", None),
        )
        if kernels and strides and len(kernels) == len(strides):
            n = 16
            for k, s in zip(reversed(kernels), reversed(strides), strict=True):
                n = (n - 1) * int(s) + int(k)
            return n
    return 16000


def _features(model: torch.nn.Module, batch: int = 1) -> tuple[int, ...] | None:
    """Whisper's (1, mel bins, 2 x source positions); Speech2Text's (1, frames, features)."""
    mels = _int(model, "audio", "num_mel_bins")
    positions = _int(model, "audio", "max_source_positions")
    if mels and positions:
        return (batch, mels, 2 * positions)
    per_channel = _int(model, "audio", "input_feat_per_channel")
    if per_channel:
        return (batch, 16, per_channel * (_int(model, "audio", "input_channels") or 1))
    size = mels or _int(model, "audio", "feature_size")
    return (batch, size, 64) if size else None


def _make(
    model: torch.nn.Module, name: str, device: torch.device, dtype: torch.dtype, batch: int = 1
) -> torch.Tensor | None:
    """A small input named ``name`` for ``model``, or None if we do not know its shape."""
    if name == "input_ids":
        return _ids(model, "ids", 8, device, batch)
    if name == "decoder_input_ids":
        return _ids(model, "decoder", 4, device, batch)
    if name == "pixel_values":
        shape = _pixels(model, batch)
        return _floats(shape, dtype, device) if shape else None
    if name == "input_values":
        return _floats((batch, _waveform_length(model)), dtype, device)
    if name == "input_features":
        shape = _features(model, batch)
        return _floats(shape, dtype, device) if shape else None
    return None


def _dummy(
    model: torch.nn.Module,
    accepted: set[str],
    required: set[str],
    device: torch.device,
    batch: int = 1,
) -> dict[str, Any]:
    """transformers' ``dummy_inputs``, cut to ``batch`` examples, for the names forward takes.

    Their generic default is ``input_ids`` even for vision models: names forward does not
    declare (it may still take ``**kwargs``) are dropped, and so are optional masks, which
    only choose how attention is masked (and on the meta device, a mask has no values to
    choose by).
    """
    try:
        dummy = model.dummy_inputs
    except Exception:
        return {}
    if not isinstance(dummy, dict):
        return {}
    found = {}
    for k, v in dummy.items():
        if k.endswith("attention_mask") and k not in required:
            continue
        if not (k in accepted and isinstance(v, torch.Tensor) and v.ndim >= 1):
            continue
        if v.is_meta and device.type != "meta":
            continue  # made on a meta model's device (BART's ids): no values to copy
        found[k] = v[:1].expand(batch, *v.shape[1:]).contiguous().to(device)
    return found


def named_calls(
    model: torch.nn.Module,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    batch: int = 1,
) -> list[Call]:
    """Keyword calls for a forward whose inputs we know by name, fullest first; [] if none.

    First, for a vision-language model, images with their placeholder ids
    (:func:`~initpolicy.tracer.inputs.vlm.vlm_call`); then transformers' ``dummy_inputs``
    completed with every primary input forward declares (CLIP: ``input_ids`` and
    ``pixel_values``), then the primary inputs alone, then ``main_input_name`` alone (with
    decoder ids for an encoder-decoder). A call missing an input forward requires is not
    offered.
    """
    params = forward_parameters(model)
    names = {p.name for p in params}
    if not names & set(PRIMARY):
        return []
    device = device or torch.device("cpu")
    required = {p.name for p in params if p.default is inspect.Parameter.empty}
    made: dict[str, torch.Tensor | None] = {}

    def make(name: str) -> torch.Tensor | None:
        if name not in made:
            made[name] = _make(model, name, device, dtype, batch)
        return made[name]

    def complete(base: dict[str, Any], wanted: list[str]) -> dict[str, Any] | None:
        call = dict(base)
        for name in wanted:
            if name not in call and (t := make(name)) is not None:
                call[name] = t
        missing = required - call.keys()
        if "attention_mask" in missing and "input_ids" in call:
            call["attention_mask"] = torch.ones_like(call["input_ids"])
            missing.discard("attention_mask")
        return call if call and not missing else None

    primary = [n for n in PRIMARY if n in names]
    main = getattr(model, "main_input_name", None)
    alone = [n for n in (main, "decoder_input_ids") if isinstance(n, str) and n in names]
    tries: list[Callable[[], dict[str, Any] | None]] = [
        lambda: complete(vlm_call(model, make("pixel_values"), device, dtype) or {}, []),
        lambda: complete(_dummy(model, names, required, device, batch), primary),
        lambda: complete({}, primary),
        lambda: complete({}, alone),
    ]
    calls: list[Call] = []
    seen: set[tuple[tuple[str, tuple[int, ...]], ...]] = set()
    for attempt in tries:
        call = attempt()
        if not call:
            continue
        key = tuple(sorted((k, tuple(v.shape)) for k, v in call.items()))
        if key not in seen:
            seen.add(key)
            calls.append(((), call))
    return calls


def missing_inputs(model: torch.nn.Module) -> list[str]:
    """Required inputs of forward that inference cannot make (for error messages): not
    known by name, and not the first one (the first layer's input goes there).

    >>> import torch
    >>> class Masked(torch.nn.Linear):
    ...     def forward(self, x, mask, input_ids):
    ...         return super().forward(x * mask)
    >>> missing_inputs(Masked(2, 2))
    ['mask']
    """
    known = {"attention_mask", *PRIMARY}
    needed = required_inputs(model)
    return [n for i, n in enumerate(needed) if n not in known and i > 0]
