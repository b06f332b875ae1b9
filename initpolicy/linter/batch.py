"""The dynamic pass's batch: the one example the tracer runs, widened to ``n`` examples that
stand for data, the same ``n`` for every input of the call.

* images and other float inputs with 1 to 3 spatial dimensions (``(1, C, H, W)``, video,
  spectrograms): smooth noise, upsampled from 1/8 resolution, with a per-example offset
  and contrast, scaled to the example's mean and std. Real images are spatially
  correlated: the 2x2 average pool of a downsampling shortcut halves the std of white
  noise but not of an image, and global pooling averages white noise away, so white
  noise would make statistics after pooling measure the generator, not the init;
* other float inputs (feature vectors, waveforms): Gaussian, with the example's mean and
  std;
* integer inputs that vary (token ids): resampled in the example's range, except at
  positions holding one of the model's special tokens (``config.*_token_id``), which are
  kept, and never resampled into one; inputs of at most two dimensions that do not vary
  (attention masks, token type ids) are repeated;
* a list of tensors (a detector's images): ``n`` items of the kind above.

The batch is capped at about 2M values per input. A call with an input whose first
dimension is not a batch of one (a flat patch sequence) is run as given.
"""

from __future__ import annotations

import math
from typing import Any

Call = tuple[tuple[Any, ...], dict[str, Any]]
#: Largest number of values of one input in the batch.
MAX_VALUES = 2_000_000


#: Config attribute names that hold special token ids.
_TOKEN_NAMES = ("token_id", "token_index", "token_ids")


def special_tokens(model: Any) -> frozenset[int]:
    """The token ids a config names (``pad_token_id``, ``image_token_index``, ...), in it
    and its sub-configs (a multimodal model's ``text_config``).

    >>> class Cfg:
    ...     pad_token_id, eos_token_id, vocab_size = 0, 2, 96
    ...     text_config = type("T", (), {"image_token_id": 95})()
    >>> sorted(special_tokens(type("M", (), {"config": Cfg()})()))
    [0, 2, 95]
    """
    found: set[int] = set()

    def visit(cfg: Any, depth: int) -> None:
        # Only the names that can hold ids or sub-configs are read: reading every attribute
        # trips transformers' deprecated properties (``torch_dtype``, ``use_return_dict``),
        # each of which prints a warning.
        names = [
            n
            for n in dir(cfg)
            if not n.startswith("_")
            and (n.endswith(_TOKEN_NAMES) or (depth < 1 and n.endswith("_config")))
        ]
        for name in names:
            try:
                value = getattr(cfg, name)
            except Exception:  # a config property may raise
                continue
            if name.endswith(_TOKEN_NAMES):
                values = value if isinstance(value, (list, tuple)) else [value]
                found.update(v for v in values if isinstance(v, int) and not isinstance(v, bool))
            elif depth < 1 and name.endswith("_config") and hasattr(value, "__dict__"):
                visit(value, depth + 1)

    cfg = getattr(model, "config", None)
    if cfg is not None:
        visit(cfg, 0)
    return frozenset(found)


def batch_size(call: Call, batch: int) -> int:
    """How many examples the widened call holds (1: run as given): ``batch``, capped so
    that no input holds more than :data:`MAX_VALUES` values, and at least 2."""
    args, kwargs = call
    values = [*args, *kwargs.values()]
    tensors = [v for v in values if hasattr(v, "ndim") and v.ndim > 0]
    items = [t for v in values if isinstance(v, (list, tuple)) for t in v if hasattr(t, "ndim")]
    if any(t.shape[0] != 1 for t in tensors) or not (tensors or items):
        return 1
    per = max([1, *(t[0].numel() for t in tensors), *(t.numel() for t in items)])
    return max(2, min(batch, MAX_VALUES // per))


def _smooth(shape: tuple[int, ...], g: Any) -> Any:
    """Unit-variance noise over ``(n, C, *spatial)``, correlated over the spatial dims."""
    import torch
    import torch.nn.functional as F

    n, spatial = shape[0], shape[2:]
    low = [max(1, s // 8) for s in spatial]
    z = torch.randn((n, shape[1], *low), generator=g, dtype=torch.float64)
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(spatial)]
    x = F.interpolate(z, size=tuple(spatial), mode=mode, align_corners=False)
    per = (n,) + (1,) * (len(shape) - 1)
    contrast = torch.exp(0.25 * torch.randn(per, generator=g, dtype=torch.float64))
    x = x * contrast + 0.5 * torch.randn(per, generator=g, dtype=torch.float64)
    return (x - x.mean()) / x.std().clamp_min(1e-12)


def widen_tensor(x: Any, n: int, g: Any, special: frozenset[int]) -> tuple[Any, str]:
    """One input as ``n`` examples, and how they were made (for the summary)."""
    import torch

    constant = x.numel() > 1 and bool((x == x.flatten()[0]).all())
    if x.is_floating_point() and not (constant and x.ndim <= 2):
        wide = x.detach().to(torch.float64)  # float8 has no std or mean of its own
        std = float(wide.std()) if x.numel() > 1 else 0.0
        scale = std if std > 0 and math.isfinite(std) else 1.0
        mean = float(wide.mean()) if x.numel() > 1 else 0.0
        if 3 <= x.ndim <= 5:
            z, how = _smooth((n, *x.shape[1:]), g), "smooth noise"
        else:
            z, how = torch.randn((n, *x.shape[1:]), generator=g, dtype=torch.float64), "noise"
        return (z * scale + mean).to(dtype=x.dtype, device=x.device), how
    tiled = x.expand(n, *x.shape[1:]).clone()
    if constant or x.dtype == torch.bool or x.is_floating_point():
        return tiled, "repeated"
    high = max(int(x.max()) + 1, 2)
    pool = torch.tensor([i for i in range(high) if i not in special] or [0], dtype=x.dtype)
    picks = pool[torch.randint(0, len(pool), tiled.shape, generator=g)].to(x.device)
    keep = torch.isin(tiled, torch.tensor(sorted(special), dtype=x.dtype, device=x.device))
    how = "ids resampled" + (", special tokens kept" if bool(keep.any()) else "")
    return torch.where(keep, tiled, picks), how


def widen(call: Call, batch: int, special: frozenset[int] = frozenset()) -> tuple[Call, str]:
    """``call`` with every input widened to the same number of examples (module
    docstring), and a description of the batch for the summary.

    >>> import torch
    >>> (args, _), what = widen(((torch.zeros(1, 3, 16, 16),), {"mask": torch.ones(1, 4)}), 4)
    >>> tuple(args[0].shape), what
    ((4, 3, 16, 16), '4 examples: input_0 (4, 3, 16, 16) smooth noise, mask (4, 4) repeated')
    """
    import torch

    n = batch_size(call, batch)
    args, kwargs = call
    if n == 1:
        return call, "1 example as given (an input has no batch dimension of 1)"
    g = torch.Generator().manual_seed(0)
    parts: list[str] = []

    def one(name: str, v: Any) -> Any:
        if isinstance(v, torch.Tensor) and v.ndim > 0:
            out, how = widen_tensor(v, n, g, special)
            parts.append(f"{name} {tuple(out.shape)} {how}")
            return out
        if isinstance(v, (list, tuple)) and v and all(isinstance(t, torch.Tensor) for t in v):
            items = [widen_tensor(v[i % len(v)][None], 1, g, special) for i in range(n)]
            parts.append(f"{name} {n} x {tuple(v[0].shape)} {items[0][1]}")
            return type(v)(t[0][0] for t in items)
        return v

    new_args = tuple(one(f"input_{i}", a) for i, a in enumerate(args))
    new_kwargs = {k: one(k, v) for k, v in kwargs.items()}
    return (new_args, new_kwargs), f"{n} examples: " + ", ".join(parts)
