"""Forward multipliers as a model carries them: the hook class and what a model has.

The applier installs them (:mod:`initpolicy.applier.multipliers`); the linter reads them
(a policy's multipliers missing on a model, IP306). Here because the tracer is the earliest
stage that reads a model, so the two siblings share it. Reading never modifies the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from .tracing import unwrap


class OutputScale:
    """The forward hook: ``output * value`` (the first element of a tuple output)."""

    def __init__(self, value: float):
        self.value = float(value)

    def __call__(self, module: torch.nn.Module, args: Any, output: Any) -> Any:
        if isinstance(output, torch.Tensor):
            return output * self.value
        if isinstance(output, tuple | list) and output and isinstance(output[0], torch.Tensor):
            return type(output)([output[0] * self.value, *output[1:]])
        raise TypeError(
            f"initpolicy's output multiplier on {type(module).__name__} needs a tensor "
            f"output, got {type(output).__name__}"
        )

    def __repr__(self) -> str:
        return f"OutputScale({self.value:g})"


def modules_of(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    """The modules by the names a plan uses (wrapper prefixes such as ``_orig_mod.`` off)."""
    inner, _ = unwrap(model)
    return dict(inner.named_modules())


def ours(module: torch.nn.Module) -> list[int]:
    """The keys of the forward hooks that are initpolicy's multipliers."""
    return [k for k, hook in module._forward_hooks.items() if isinstance(hook, OutputScale)]


def installed(model: torch.nn.Module) -> dict[str, float]:
    """The output multipliers ``model`` carries: module name -> the product of its hooks'."""
    out: dict[str, float] = {}
    for name, module in modules_of(model).items():
        for hook in module._forward_hooks.values():
            if isinstance(hook, OutputScale):
                out[name] = out.get(name, 1.0) * hook.value
    return out


def missing(
    model: torch.nn.Module, wanted: Mapping[str, float]
) -> dict[str, tuple[float, float | None]]:
    """What ``wanted`` asks that ``model`` does not carry: name -> (wanted, carried)."""
    have = installed(model)
    return {
        name: (value, have.get(name))
        for name, value in wanted.items()
        if have.get(name) is None or abs(have[name] - value) > 1e-12 * max(1.0, abs(value))
    }
