"""Forward multipliers as a model carries them: the hook class and what a model has.

The applier installs them (:mod:`initpolicy.applier.multipliers`); the linter reads them
(a policy's multipliers missing on a model, IP306). Here because the tracer is the earliest
stage that reads a model, so the two siblings share it. Reading never modifies the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from .state import MULTIPLIERS
from .tracing import unwrap


class OutputScale:
    """The forward hook: ``output * value`` (the first element of a tuple output); with a
    ``block`` (start, stop), only the features ``output[..., start:stop]`` are multiplied
    (the query block of a fused qkv projection) and the others are returned as they are."""

    def __init__(self, value: float, block: tuple[int, int] | None = None):
        self.value = float(value)
        self.block = None if block is None else (int(block[0]), int(block[1]))

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if MULTIPLIERS.off:  # a trace records the model's own graph
            return output
        if isinstance(output, torch.Tensor):
            return self._scaled(module, output)
        if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
            return type(output)([self._scaled(module, output[0]), *output[1:]])
        raise TypeError(
            f"initpolicy's output multiplier on {type(module).__name__} needs a tensor "
            f"output, got {type(output).__name__}"
        )

    def _scaled(self, module: torch.nn.Module, t: torch.Tensor) -> torch.Tensor:
        if self.block is None:
            return t * self.value
        start, stop = self.block
        if t.ndim == 0 or t.shape[-1] < stop:
            raise TypeError(
                f"initpolicy's output multiplier on {type(module).__name__} scales features "
                f"{start}:{stop} of the last dim, but the output has shape {tuple(t.shape)}"
            )
        # a cat of slices, not an in-place write: autograd and torch.compile see one op,
        # and the features outside the block are the layer's own, bit for bit
        return torch.cat([t[..., :start], t[..., start:stop] * self.value, t[..., stop:]], -1)

    def __repr__(self) -> str:
        where = "" if self.block is None else f", block={self.block}"
        return f"OutputScale({self.value:g}{where})"


def modules_of(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The modules by the names a plan uses (wrapper prefixes such as ``_orig_mod.`` off)."""
    inner, _ = unwrap(model)
    return dict(inner.named_modules())


def ours(module: torch.nn.Module) -> list[int]:
    """The keys of the forward hooks that are initpolicy's multipliers."""
    return [k for k, hook in module._forward_hooks.items() if isinstance(hook, OutputScale)]


def installed(model: torch.nn.Module) -> dict[str, float]:
    """The output multipliers ``model`` carries: module name -> the product of its hooks'."""
    return {name: value for name, (value, _block) in carried(model).items()}


def carried(model: torch.nn.Module) -> dict[str, tuple[float, tuple[int, int] | None]]:
    """What ``model`` carries: module name -> (the product of its hooks' values, the block
    they multiply: None for the whole output, or where the hooks disagree on one)."""
    out: dict[str, tuple[float, tuple[int, int] | None]] = {}
    for name, module in modules_of(model).items():
        hooks = [h for h in module._forward_hooks.values() if isinstance(h, OutputScale)]
        if hooks:
            blocks = {h.block for h in hooks}
            block = blocks.pop() if len(blocks) == 1 else None
            out[name] = (math.prod(h.value for h in hooks), block)
    return out


def missing(
    model: torch.nn.Module, wanted: Mapping[str, OutputScale]
) -> dict[str, tuple[OutputScale, OutputScale | None]]:
    """What ``wanted`` asks that ``model`` does not carry (another value, or the value on
    another part of the output): name -> (wanted, carried)."""
    have = carried(model)
    out: dict[str, tuple[OutputScale, OutputScale | None]] = {}
    for name, want in wanted.items():
        got = have.get(name)
        if got is None:
            out[name] = (want, None)
        elif abs(got[0] - want.value) > 1e-12 * max(1.0, abs(want.value)) or got[1] != want.block:
            out[name] = (want, OutputScale(*got))
    return out
