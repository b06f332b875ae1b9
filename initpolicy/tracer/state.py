"""Running a model without changing it: what trace and lint restore after a forward pass.

>>> import torch
>>> bn = torch.nn.BatchNorm1d(3).train()
>>> with preserved(bn, eval_mode=False):
...     _ = bn(torch.randn(4, 3))          # updates the running statistics
>>> bn.running_mean.abs().sum().item(), bn.training
(0.0, True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def preserved(model: Any, *, eval_mode: bool) -> Iterator[None]:
    """Restore train/eval flags, buffer values (BatchNorm statistics), ``.grad`` of every
    parameter and the global RNG state (CPU, and CUDA where present) on exit, whatever
    happens inside. ``eval_mode`` puts the model in eval mode for the duration."""
    import torch

    modes = [(m, m.training) for m in model.modules()]
    buffers = [
        (b, b.detach().clone())
        for b in model.buffers()
        if not b.is_meta and not isinstance(b, torch.nn.parameter.UninitializedBuffer)
    ]
    grads = [(p, p.grad) for p in model.parameters()]
    if eval_mode:
        model.eval()
    # fork_rng restores the CPU generator and those of the CUDA devices named (all of them:
    # a forward may draw on any device it runs on)
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    try:
        with torch.random.fork_rng(devices=devices):
            yield
    finally:
        for m, mode in modes:
            m.training = mode
        with torch.no_grad():
            for b, saved in buffers:
                if b.shape == saved.shape:  # a lazy module may have materialized it
                    b.copy_(saved)
        for p, g in grads:
            p.grad = g
