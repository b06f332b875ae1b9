"""The width and depth of a model, for width/depth transfer (``model_width``,
``model_depth``; docs/mup.md) and its attention head dimension (``model_head_dim``).

The head dimension without a config is the trace's: the last dim of the query a fused
qkv projection feeds, where the cut was replayed (``GraphRoles.attention_blocks``).

A transformers config says them (``hidden_size``, ``num_hidden_layers``, under any of the
config's own spellings: GPT-2's ``n_embd`` and ``n_layer`` map to them). Otherwise the
trace does: the width is the feature size of the residual stream (the output size most
residual branch ends share), or, without residual branches, the output size most hidden
layers share; the depth is the number of residual adds, or, without them, the number of
mixing layers. Reads the model's config and the layers' facts only.
"""

from __future__ import annotations

import dataclasses
import math
import types
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .graph import Layer


@dataclass(frozen=True)
class ModelSize:
    width: int | None
    depth: int | None
    source: str | None  # "config", "trace", "config+trace"
    head_dim: int | None = None


def _config_int(config: Any, name: str) -> int | None:
    try:
        value = getattr(config, name, None)
    except Exception:  # a config property that raises: the config does not say
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        return None
    return value


def _weights(layer: Layer) -> list[float]:
    return [p.fan_out for p in layer.parameters if p.role == "weight" and p.ndim >= 2]


def _most_common(values: list[float]) -> int | None:
    if not values:
        return None
    # the most frequent; among equals the largest (a stream is wider than its heads)
    counts = Counter(int(v) for v in values)
    return max(counts, key=lambda v: (counts[v], v))


def model_size(model: Any, layers: list[Layer], residual_adds: int) -> ModelSize:
    """The width and depth of ``model`` (from its config, else from ``layers``)."""
    config = getattr(model, "config", None)
    width = depth = None
    if config is not None:
        width = _config_int(config, "hidden_size")
        depth = _config_int(config, "num_hidden_layers")
    from_config = width is not None or depth is not None
    traced = False
    if width is None:
        ends = [w for lay in layers if lay.roles.branch_end for w in _weights(lay)]
        inner = [
            w
            for lay in layers
            if lay.resolution.previous is not None and lay.roles.to_output not in (None, 0)
            for w in _weights(lay)
        ]
        width = _most_common(ends) or _most_common(inner)
        traced = traced or width is not None
    if depth is None:
        mixing = sum(1 for lay in layers if _weights(lay))
        depth = residual_adds or mixing or None
        traced = traced or depth is not None
    head_dim = _head_dim(config)
    if head_dim is None:
        head_dim = _most_common(
            [b.head_dim for lay in layers for b in lay.roles.attention_blocks if b.head_dim]
        )
        traced = traced or head_dim is not None
    source = "+".join(s for s, used in (("config", from_config), ("trace", traced)) if used)
    return ModelSize(width, depth, source or None, head_dim)


def _head_dim(config: Any) -> int | None:
    """The attention head dimension a transformers config says: its ``head_dim``, else its
    hidden size over its attention heads (GPT-2's ``n_head`` maps to the latter)."""
    if config is None:
        return None
    explicit = _config_int(config, "head_dim")
    if explicit is not None:
        return explicit
    hidden = _config_int(config, "hidden_size")
    heads = _config_int(config, "num_attention_heads")
    if hidden is None or heads is None or hidden % heads:
        return None
    return hidden // heads


#: Deepest nesting of sub-configs read (a VLM's ``text_config.hidden_size``).
_CONFIG_DEPTH = 3


def config_numbers(model: Any) -> dict[str, float]:
    """The numbers of ``model.config`` (a transformers config, or any object with
    attributes), by dotted path: ``{"d_kv": 64.0, "text_config.hidden_size": 512.0}``.
    What ``config.NAME`` reads in a policy; booleans and non-finite values are left out.

    >>> class M: config = type("C", (), {"d_kv": 64, "tie": True})()
    >>> config_numbers(M())
    {'d_kv': 64.0}
    """
    config = getattr(model, "config", None)
    if config is None:
        return {}
    out: dict[str, float] = {}
    _numbers(config, "", out, 0)
    return out


def _numbers(obj: Any, prefix: str, out: dict[str, float], depth: int) -> None:
    try:
        if isinstance(obj, dict):
            items = list(obj.items())
        elif hasattr(obj, "to_dict"):
            # its fields, and the numbers its class computes from them (RecurrentGemma's
            # final_w_init_variance_scale = 2 / num_hidden_layers)
            props = [k for k, v in vars(type(obj)).items() if isinstance(v, property)]
            items = [*obj.to_dict().items(), *((k, _attr(obj, k)) for k in props)]
        else:  # a plain object: its public attributes, class-level ones included
            items = [(k, _attr(obj, k)) for k in dir(obj) if not k.startswith("_")]
    except Exception:  # a config that cannot be listed: no names
        return
    for key, value in items:
        if not isinstance(key, str) or not key.isidentifier() or key.startswith("_"):
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            if math.isfinite(value) and abs(value) < 2**53:
                out[prefix + key] = float(value)
        elif depth < _CONFIG_DEPTH and _is_config(value):
            _numbers(value, f"{prefix}{key}.", out, depth + 1)


def _is_config(value: Any) -> bool:
    """A sub-config: a dict, a transformers config (``to_dict``), a dataclass instance
    or a ``SimpleNamespace`` (``config.vision.hidden_size``)."""
    if isinstance(value, dict | types.SimpleNamespace) or hasattr(value, "to_dict"):
        return True
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _attr(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name)
    except Exception:  # a property that raises: the config does not say
        return None
