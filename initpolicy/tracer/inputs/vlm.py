"""Inputs for vision-language models whose text carries placeholders for image features.

A transformers VLM (LLaVA, PaliGemma, Qwen2-VL, ...) splices the features of
``pixel_values`` into the token stream where ``input_ids`` holds the config's
``image_token_id`` (alias ``image_token_index``), and checks that there is one placeholder
per feature vector: ids without them leave the vision tower unreached or fail. Two
transformers conventions give a valid call without a per-architecture formula:

* the number of feature vectors is what the model's ``get_image_features(pixel_values)``
  returns (asked under no_grad, model state restored; on the meta device only shapes are
  needed);
* a vision tower that takes a flat patch sequence with ``image_grid_thw`` (Qwen2-VL) gets
  the grid ``(1, 2m, 2m)`` and ``(2m)^2`` patches of ``in_channels x temporal_patch_size x
  patch_size^2`` values, from its ``vision_config`` (``m`` the ``spatial_merge_size``);
  its features number ``(2m)^2 / m^2``, read off the grid (asking would read the grid's
  values, which meta tensors lack).

The ids are ``n`` placeholders and 8 ordinary tokens (none of the config's special
tokens); ``mm_token_type_ids`` (which tokens are image tokens), where forward takes it.
"""

from __future__ import annotations

from typing import Any

import torch

from ..state import preserved
from .calls import forward_parameters


def _int(config: Any, *keys: str) -> int | None:
    for key in keys:
        value = getattr(config, key, None)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _special_tokens(config: Any) -> set[int]:
    configs = [config, getattr(config, "get_text_config", lambda: None)()]
    return {
        v
        for c in configs
        if c is not None
        for k, v in vars(c).items()
        if (k.endswith("_token_id") or k.endswith("_token_index"))
        and isinstance(v, int)
        and not isinstance(v, bool)
    }


def _count(features: Any) -> int:
    """Feature vectors in what ``get_image_features`` returned (a ModelOutput with
    ``pooler_output``, a tensor, or a tuple/list of per-image tensors)."""
    out = getattr(features, "pooler_output", None)
    if out is None and isinstance(features, (tuple, list)) and features:
        out = features
    if out is None:
        out = features
    if isinstance(out, torch.Tensor):
        return int(out.reshape(-1, out.shape[-1]).shape[0])
    return sum(int(t.reshape(-1, t.shape[-1]).shape[0]) for t in out)


def _grid(vision: Any, dtype: torch.dtype, device: torch.device) -> tuple[dict[str, Any], int]:
    p, t = vision.patch_size, vision.temporal_patch_size
    m = vision.spatial_merge_size
    channels = _int(vision, "in_channels", "num_channels") or 3
    side = 2 * m
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn((side * side, channels * t * p * p), dtype=dtype, generator=g)
    grid = torch.tensor([[1, side, side]], device=device)
    return {"pixel_values": pixels.to(device), "image_grid_thw": grid}, side * side // (m * m)


def vlm_call(
    model: torch.nn.Module, pixels: torch.Tensor | None, device: torch.device, dtype: torch.dtype
) -> dict[str, Any] | None:
    """A keyword call with images and matching placeholders, or None when ``model`` is not
    a placeholder-token VLM (or its features cannot be counted)."""
    config: Any = getattr(model, "config", None)
    token = _int(config, "image_token_id", "image_token_index")
    params = {p.name for p in forward_parameters(model)}
    if config is None or token is None or "pixel_values" not in params:
        return None
    vision = getattr(config, "vision_config", None)
    if "image_grid_thw" in params and vision is not None:
        try:
            images, n = _grid(vision, dtype, device)
        except (AttributeError, TypeError):
            return None
    else:
        features = getattr(model, "get_image_features", None)
        if pixels is None or not callable(features):
            return None
        images = {"pixel_values": pixels[:1]}
        try:
            with preserved(model), torch.no_grad():
                n = _count(features(pixel_values=images["pixel_values"]))
        except Exception:
            return None
    vocab = config.get_text_config().vocab_size
    special = _special_tokens(config)
    ordinary = [i for i in range(vocab) if i not in special][:8]
    ids = torch.tensor([[token] * n + ordinary], device=device)
    call: dict[str, Any] = {"input_ids": ids, **images}
    if "mm_token_type_ids" in params:
        call["mm_token_type_ids"] = (ids == token).long()
    return call
