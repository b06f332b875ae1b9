"""Forward multipliers: a layer's output scaled by a constant, without editing its code.

``with output = EXPR`` in a rule makes the plan carry, per layer, the number its output
is multiplied by (μP's readout 1/m, CompleteP's residual-branch L^-α, DeepNorm's α: any
layer, any expression; a fused qkv projection's query block alone, ``output[..., a:b]``).
:func:`install` puts them on a model as forward hooks:

- the state_dict is unchanged (no key added or renamed), so checkpoints load either way;
- a hook is a small picklable object, so ``copy.deepcopy`` and pickling keep it, and
  :func:`install` replaces the hooks it finds rather than stacking a second one;
- ``torch.compile`` traces module hooks, and FSDP2's own hooks wrap the parameters, not
  the output, so both run the multiplier.

Hooks are not in the state_dict: a model built fresh and loaded from a checkpoint has
none until ``Policy.attach(model)`` (or ``apply``) installs them. :func:`installed` reads
what a model carries, which ``lint --policy`` compares with what the policy wants.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import torch

from ..errors import UsageError
from ..planner import Output
from ..tracer import OutputScale, installed, missing, modules_of, ours

__all__ = ["OutputScale", "install", "installed", "missing", "remove", "scales"]


def install(model: torch.nn.Module, outputs: Mapping[str, float | OutputScale]) -> dict[str, float]:
    """Install ``outputs`` (module name -> multiplier, or an :class:`OutputScale` that
    multiplies one block of the output) on ``model``, replacing any multiplier initpolicy
    installed before on those modules; returns module name -> the value installed.
    Raises UsageError, installing nothing, when a name is not a module of the model."""
    modules = modules_of(model)
    absent = [name for name in outputs if name not in modules]
    if absent:
        raise UsageError(f"no module named {', '.join(absent)} to put an output multiplier on")
    out: dict[str, float] = {}
    for name, value in outputs.items():
        module = modules[name]
        for key in ours(module):
            del module._forward_hooks[key]
        hook = value if isinstance(value, OutputScale) else OutputScale(value)
        module.register_forward_hook(OutputScale(hook.value, hook.block))
        out[name] = hook.value
    return out


def scales(outputs: Iterable[Output]) -> dict[str, OutputScale]:
    """A plan's forward multipliers as :func:`install` takes them."""
    return {o.layer: OutputScale(o.value, o.block) for o in outputs}


def remove(model: torch.nn.Module) -> int:
    """Remove every output multiplier initpolicy installed; returns how many."""
    n = 0
    for module in modules_of(model).values():
        for key in ours(module):
            del module._forward_hooks[key]
            n += 1
    return n
