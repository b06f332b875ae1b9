"""The image size a model declares it takes, so inferred inputs need no guessing.

Asked in this order:

1. timm's ``pretrained_cfg`` / ``default_cfg`` ``input_size`` (``(3, 224, 224)``; 331 for
   NASNet, 256 for MaxViT-256, 240 for CrossViT);
2. an ``image_size``/``img_size`` attribute of the model or of its ``patch_embed``
   (torchvision's VisionTransformer, timm's patch embeddings);
3. for a torchvision model, the crop size of the ImageNet weights torchvision documents
   for its class (299 for Inception3, 224 for ResNet; the smallest where several
   builders share a class, as EfficientNet's).

A model that declares nothing gets its input from its first layer
(:mod:`initpolicy.tracer.inputs.infer`).

>>> import torch
>>> class Net(torch.nn.Module):
...     pretrained_cfg = {"input_size": (3, 256, 256)}
>>> declared_image_size(Net())
(3, 256, 256)
>>> declared_image_size(torch.nn.Linear(2, 2)) is None
True
"""

from __future__ import annotations

import functools
import sys
from typing import Any


def _size(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value, value
    if (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, int) and v > 0 for v in value)
    ):
        return int(value[0]), int(value[1])
    return None


def _timm_cfg(model: Any) -> tuple[int, ...] | None:
    for attr in ("pretrained_cfg", "default_cfg"):
        cfg = getattr(model, attr, None)
        size = cfg.get("input_size") if isinstance(cfg, dict) else None
        if (
            isinstance(size, (tuple, list))
            and len(size) == 3
            and all(isinstance(v, int) and v > 0 for v in size)
        ):
            return tuple(int(v) for v in size)
    return None


def _attribute(model: Any) -> tuple[int, int] | None:
    for owner in (model, getattr(model, "patch_embed", None)):
        for attr in ("image_size", "img_size"):
            found = _size(getattr(owner, attr, None)) if owner is not None else None
            if found is not None:
                return found
    return None


@functools.cache
def _torchvision_crops() -> dict[type, int]:
    """Model class -> the smallest crop size of its documented ImageNet weights."""
    from torchvision.models import get_model_builder, get_model_weights, list_models

    crops: dict[type, int] = {}
    for name in list_models():
        cls = get_model_builder(name).__annotations__.get("return")
        if not isinstance(cls, type):
            continue
        for weights in get_model_weights(name):
            preset = weights.transforms
            if getattr(getattr(preset, "func", None), "__name__", "") != "ImageClassification":
                continue
            crop = _size(preset.keywords.get("crop_size"))
            if crop is not None:
                crops[cls] = min(crops.get(cls, crop[0]), crop[0])
    return crops


def _torchvision(model: Any) -> int | None:
    if not type(model).__module__.startswith("torchvision.") or "torchvision" not in sys.modules:
        return None
    crops = _torchvision_crops()
    return next((crops[c] for c in type(model).__mro__ if c in crops), None)


def declared_image_size(model: Any) -> tuple[int, ...] | None:
    """(channels, height, width) of the images ``model`` declares it takes, or None."""
    cfg = _timm_cfg(model)
    if cfg is not None:
        return cfg
    channels = getattr(model, "in_chans", None) or getattr(model, "num_channels", None) or 3
    hw = _attribute(model)
    if hw is None:
        crop = _torchvision(model)
        hw = (crop, crop) if crop is not None else None
    return (int(channels), *hw) if hw is not None else None
