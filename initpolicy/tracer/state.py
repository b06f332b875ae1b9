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
def preserved(model: Any, *, eval_mode: bool = False, train_mode: bool = False) -> Iterator[None]:
    """Restore train/eval flags, buffer values (BatchNorm statistics), the values and ``.grad`` of
    every parameter and the global RNG states (torch's CPU and CUDA generators, and Python's and
    numpy's, which some forwards draw from) on exit, whatever happens inside.
    ``eval_mode``/``train_mode`` put the model in that mode for the duration.

    A forward may write its own parameters in place (a weight renormalized in ``forward``):
    their values are copied first, so that costs the model's parameter bytes while the
    forward runs, and only a parameter whose version counter moved is written back."""
    import random
    import sys

    import torch

    modes = [(m, m.training) for m in model.modules()]
    numpy = sys.modules.get("numpy")
    states = (random.getstate(), numpy.random.get_state() if numpy is not None else None)
    buffers = [
        (b, b.detach().clone())
        for b in model.buffers()
        if not b.is_meta and not isinstance(b, torch.nn.parameter.UninitializedBuffer)
    ]
    grads = [(p, p.grad) for p in model.parameters()]
    values = [
        (p, p._version, p.detach().clone())
        for p in dict.fromkeys(model.parameters())
        if not p.is_meta and not isinstance(p, torch.nn.parameter.UninitializedParameter)
    ]
    if eval_mode or train_mode:
        model.train(train_mode)
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
            for p, version, saved in values:
                if p._version != version and p.shape == saved.shape:
                    p.copy_(saved)
        for p, g in grads:
            p.grad = g
        random.setstate(states[0])
        if numpy is not None:
            numpy.random.set_state(states[1])


class _Multipliers:
    """Whether initpolicy's own forward multipliers run: off while a trace records the model
    (the graph is the model's; a block multiplier's ``cat`` would hide a fused qkv's cut from
    the trace, so a model traced after ``apply`` would lose its query block)."""

    off = 0


MULTIPLIERS = _Multipliers()


@contextmanager
def multipliers_off() -> Iterator[None]:
    """Run with initpolicy's output multipliers passing outputs through unchanged."""
    MULTIPLIERS.off += 1
    try:
        yield
    finally:
        MULTIPLIERS.off -= 1
