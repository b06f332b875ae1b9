"""Where the applied model lives: the ``device=`` argument, checked up front, and a move
that is part of the apply transaction (undone if anything after it fails).

A real model moved by ``apply(model, device=...)`` keeps its Parameter objects (their
``.data`` moves, as ``Module.to`` does), so an optimizer built on them stays valid; the
tensors it had before are kept until the apply succeeds, so undoing the move gives the
model back exactly as it was, values and devices. ``meta`` is refused as a target: it
holds no values, and apply writes values.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .meta import tensors


def target_device(device: Any) -> Any:
    """``device`` as a torch.device (None stays None); UsageError for what is not a
    device, and for ``meta``."""
    import torch

    if device is None:
        return None
    try:
        target = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as e:
        raise UsageError(f"device={device!r} is not a torch device: {e}") from None
    if target.type == "meta":
        raise UsageError(
            "device='meta' cannot hold the values apply writes: build the model on meta, "
            "then apply with device='cpu' or 'cuda' to materialize it there"
        )
    return target


class Moved:
    """A model's tensors moved to another device, with the means to move them back."""

    def __init__(self) -> None:
        #: (Parameter, its data before) and (module, buffer name, buffer before).
        self.params: list[tuple[Any, Any, Any]] = []
        self.buffers: list[tuple[Any, str, Any]] = []

    def undo(self) -> None:
        for p, data, grad in reversed(self.params):
            p.data = data
            if grad is not None:
                p.grad = grad
        for module, key, old in reversed(self.buffers):
            module._buffers[key] = old


def move(model: Any, device: Any) -> Moved:
    """Move every parameter and buffer of ``model`` to ``device``; UsageError (and the
    model as it was) if the device cannot take it."""
    import torch

    done = Moved()
    seen: dict[int, Any] = {}
    try:
        with torch.no_grad():
            for _, module, key, t, is_param in list(tensors(model)):
                if is_param:
                    if id(t) in seen:
                        continue
                    seen[id(t)] = t
                    grad = t.grad
                    done.params.append((t, t.data, grad))
                    t.data = t.data.to(device)
                    if grad is not None:
                        t.grad = grad.to(device)
                else:
                    new = seen.get(id(t))
                    if new is None:
                        new = seen[id(t)] = t.to(device)
                    done.buffers.append((module, key, t))
                    module._buffers[key] = new
    except Exception as e:  # no such device, out of memory, a kernel the device lacks
        done.undo()
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UsageError(f"cannot move the model to {device}: {why}") from None
    return done
