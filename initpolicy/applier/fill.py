"""Sampling: write one scheme's values into a tensor, reproducibly, from one generator.

This is one draw: the applier draws each tensor as tiles of its stream
(:mod:`initpolicy.applier.regions`), each tile one such draw from its own generator, so
a tensor that fits in one tile gets exactly what ``fill_`` gives it.

Covers every scheme of :data:`initpolicy.catalog.schemes.SCHEMES` except ``keep`` and
``default``, which the applier handles; each scheme's draw is its catalogue entry's
``sample`` (or ``value``, for a constant). Random values are drawn in float32 on the CPU
from the caller's generator, then copied into the tensor. Hence:

- on a float32 tensor of a plain layer (the fans passed are torch's own) the result is
  bit-identical to ``torch.nn.init.<scheme>_(t, ..., generator=g)`` with an identically
  seeded generator, except ``orthogonal``: the same normal draw and sign correction, but
  a QR of our own whose bits do not depend on the thread count (LAPACK's do), equal to
  torch's to float32 rounding;
- a bf16/fp16 tensor gets that float32 sample rounded to its dtype (torch's own
  ``orthogonal_`` fails on bf16: its QR has no bf16 kernel), and a parameter gets the
  same values on any device.

Fans are explicit: the applier passes the fan table's fans, which differ from torch's
for ConvTranspose, transformers' Conv1D and packed blocks.

Where the schemes depart from torch:

- ``sparse`` draws its zero pattern from the generator too (torch's ``sparse_`` calls
  ``randperm`` without it, so its zeros are not reproducible from a seed): for each column,
  the rows of the ``ceil(sparsity · rows)`` smallest of ``rows`` uniform keys (a
  stable sort breaks ties) are zeroed;
- ``truncated_normal(mean, std)`` is Keras/JAX: ``mean + std · z`` with z a unit normal
  truncated to [-2, 2] (drawn by inverse CDF, one uniform per element), no correction,
  so its std is ``0.8796… · std``;
- ``variance_scaling(scale, mode, distribution)`` is Keras/Flax with ``n = max(1, fan)``:
  ``truncated_normal`` is ``z · sqrt(scale / n) / 0.87962566103423978`` (z as above, so
  the std is exactly ``sqrt(scale / n)``), ``untruncated_normal`` and ``normal`` (JAX's
  name; Keras 3 calls it untruncated_normal) are N(0, scale / n), ``uniform`` is
  U(-limit, limit) with ``limit = sqrt(3 · scale / n)``;
- ``lecun_normal`` / ``lecun_uniform`` are variance_scaling(1, fan_in,
  truncated_normal / uniform); ``prior(p)`` is the constant ``-log((1 - p) / p)``.

>>> import torch
>>> w = torch.empty(3, 5)
>>> fill_(w, "kaiming_normal", {"mode": "fan_in", "nonlinearity": "relu"},
...       fan_in=5, fan_out=3, generator=torch.Generator().manual_seed(0))
>>> ref = torch.empty(3, 5)
>>> _ = torch.nn.init.kaiming_normal_(ref, nonlinearity="relu",
...                                   generator=torch.Generator().manual_seed(0))
>>> torch.equal(w, ref)
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from ..catalog import SCHEMES, Facts, Value, dtype_error, resolve_values, shape_error
from ..errors import InitError

#: The schemes :func:`fill_` writes (all but ``keep`` and ``default``), catalogue order.
FILLABLE: tuple[str, ...] = tuple(
    n for n, s in SCHEMES.items() if s.sample is not None or s.value is not None
)


def fill_(
    tensor: torch.Tensor,
    scheme: str,
    values: Mapping[str, Value],
    *,
    fan_in: float,
    fan_out: float,
    generator: torch.Generator,
) -> None:
    """Write ``scheme`` with evaluated arguments ``values`` (defaults filled in here) into
    ``tensor`` in place, drawing from the CPU ``generator``.

    Raises :class:`~initpolicy.errors.InitError` for a shape or dtype the scheme cannot
    take (the rule of :func:`initpolicy.catalog.schemes.shape_error`), an unknown scheme,
    a zero fan, or a generator that is not on the CPU.

    >>> b = torch.empty(4, dtype=torch.bfloat16)
    >>> fill_(b, "prior", {"p": 0.01}, fan_in=4, fan_out=4, generator=torch.Generator())
    >>> b
    tensor([-4.5938, -4.5938, -4.5938, -4.5938], dtype=torch.bfloat16)
    """
    v = checked_values(scheme, values, tuple(tensor.shape), tensor.dtype)
    if generator.device.type != "cpu":
        raise InitError(
            f"fill_ samples on the CPU: pass a CPU torch.Generator, not {generator.device}"
        )
    if tensor.numel() == 0 or tensor.is_meta:
        return
    with torch.no_grad():
        sample_into(
            tensor, scheme, v, Facts(float(fan_in), float(fan_out), tuple(tensor.shape)), generator
        )


def checked_values(
    scheme: str, values: Mapping[str, Value], shape: tuple[int, ...], dtype: torch.dtype
) -> dict[str, Value]:
    """``values`` with the scheme's defaults, after the checks every write makes: a
    scheme :func:`fill_` draws, a shape and dtype it can take (InitError otherwise)."""
    if scheme not in FILLABLE:
        if scheme in SCHEMES:
            raise InitError(f"{scheme}: handled by the applier, not by fill_")
        raise InitError(f"unknown scheme {scheme!r}; expected one of {', '.join(FILLABLE)}")
    v = resolve_values(scheme, values)
    problem = shape_error(scheme, shape, v) or dtype_error(scheme, str(dtype))
    if problem is not None:
        raise InitError(problem)
    return v


def sample_into(
    tensor: torch.Tensor, scheme: str, v: Mapping[str, Value], facts: Facts, generator: Any
) -> None:
    """One draw of ``scheme`` (checked values ``v``) filling all of ``tensor``: in float32
    on the CPU, straight into the tensor when it is such a contiguous tensor (the same
    values, one copy fewer), else into a buffer copied (cast, moved) into it. A constant
    is written in the tensor's own dtype."""
    entry = SCHEMES[scheme]
    if entry.value is not None:
        tensor.fill_(entry.value(v))
        return
    assert entry.sample is not None
    direct = (
        tensor.dtype == torch.float32 and tensor.device.type == "cpu" and tensor.is_contiguous()
    )
    out = tensor if direct else torch.empty(tuple(tensor.shape), dtype=torch.float32)
    entry.sample(out, v, facts, generator)
    if out is not tensor:
        tensor.copy_(out)
