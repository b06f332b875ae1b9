"""How much memory the dynamic pass may use, and how much one example of it takes.

The pass widens the example to ``batch`` examples; a model whose activations are large
(Mamba2's pure-torch scan builds a (batch, chunk, chunk, heads, state) tensor) would take
the whole machine at 64 (Mamba2-130m: killed at 22 GB). So the batch is sized by a
budget, measured rather than guessed:

1. the pass runs on 2 examples while :class:`PeakMeter` records the peak of the memory
   its tensors hold (forward and backward);
2. if that peak times ``batch / 2`` fits the budget, the full batch runs (the estimate
   counts the fixed part, such as the weights' gradients, once per pair of examples: it
   can only be too high);
3. else it grows by doubling (4, 8, ...) while the line through the last two peaks says
   the next size fits: a line through small batches is not enough, since where the peak
   falls moves as the batch grows (at 2 examples, Mamba2's peak is in the LM head's
   backward; from 16 on, in the scan); then the batch is the most examples that line
   puts within the budget, run if it is well over the last size measured (else that
   last run's statistics are used);
4. an allocation failure on the way stops the growth: the largest batch that ran is used.

Every run is metered with the budget as its limit: the meter raises :class:`OverBudget`
after the op that takes the pass over it, so no run outgrows the budget by more than one
op's output (an estimate that is wrong costs a stopped run, never the machine). When 2
examples with backward are stopped, the forward runs alone under no_grad, sized the same
way: the autograd graph kept for backward is what grows with depth (Mamba2-130m, 24
layers: 2.5 GiB of graph on 2 examples, 0.5 GiB for the forward alone), and only the
gradient checks need it.

The budget is ``memory-budget`` (a threshold: the share of the memory available when the
pass starts; the smaller of the system's ``MemAvailable`` and the cgroup's limit, or on
CUDA the device's free memory), and at most ``--memory`` where it is given. The summary's
``dynamic_inputs`` says what was used, ``dynamic`` whether the forward ran alone.
"""

from __future__ import annotations

import math
from pathlib import Path
from types import TracebackType
from typing import Any

from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class OverBudget(MemoryError):
    """A metered run passed its limit: stopped before the operating system is asked for
    more (an allocation failure the pass caused itself)."""


class PeakMeter(TorchDispatchMode):
    """The peak number of bytes held by the tensors that the ops run inside it create
    (every aten op of forward and backward on this thread), above what was held before.
    With a ``limit``, the op after which they hold more raises :class:`OverBudget`: the
    run stops one op's output past the limit, and frees what it held as it unwinds.

    >>> import torch
    >>> with PeakMeter() as meter:
    ...     x = torch.zeros(1000)
    ...     y = x + 1
    ...     del x, y
    >>> meter.peak
    8000
    >>> with PeakMeter(limit=6000) as meter:
    ...     x, y = torch.zeros(1000), torch.zeros(1000)
    Traceback (most recent call last):
    initpolicy.linter.memory.OverBudget: the pass held 8000 bytes, over its limit of 6000
    """

    def __init__(self, limit: float | None = None) -> None:
        super().__init__()
        self.live: dict[int, tuple[Any, int]] = {}
        self.current = 0
        self.peak = 0
        self.limit = limit

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        import torch

        out = func(*args, **(kwargs or {}))
        for key, (weak, size) in list(self.live.items()):
            if torch.UntypedStorage._expired(weak):
                torch.UntypedStorage._free_weak_ref(weak)
                del self.live[key]
                self.current -= size
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type == "meta":
                continue
            storage = t.untyped_storage()
            key = storage.data_ptr()
            if key and key not in self.live:
                self.live[key] = (storage._weak_ref(), storage.nbytes())
                self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        if self.limit is not None and self.current > self.limit:
            raise OverBudget(
                f"the pass held {self.current} bytes, over its limit of {self.limit:.0f}"
            )
        return out

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import torch

        for weak, _size in self.live.values():
            torch.UntypedStorage._free_weak_ref(weak)
        self.live.clear()
        super().__exit__(exc_type, exc, tb)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return int(text) if text.isdigit() else None


def available_bytes(device: Any = None) -> int | None:
    """Memory the pass may still take: a CUDA device's free memory, else the smaller of
    the system's ``MemAvailable`` and what the process's cgroup (v2 or v1) still allows;
    None where neither can be read."""
    import torch

    if device is not None and getattr(device, "type", "cpu") == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    found: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text(encoding="ascii").splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    for limit, used in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        cap, now = _read_int(limit), _read_int(used)
        if cap is not None and now is not None and cap < 1 << 60:
            found.append(max(cap - now, 0))
            break
    return min(found) if found else None


def fitting_batch(peaks: dict[int, int], batch: int, budget: float) -> tuple[int, float, float]:
    """The largest batch (at most ``batch``, at least the smallest measured) whose peak
    the budget holds, from the peaks measured at one or two batch sizes: (batch, bytes
    per example, fixed bytes). With one measurement the cost is taken as all per example.

    >>> fitting_batch({2: 200, 4: 300}, 64, 1000)
    (18, 50.0, 100.0)
    >>> fitting_batch({2: 200}, 64, 10_000)
    (64, 100.0, 0.0)
    """
    sizes = sorted(peaks)
    if len(sizes) >= 2 and peaks[sizes[-1]] > peaks[sizes[0]]:
        a, b = sizes[0], sizes[-1]
        per = (peaks[b] - peaks[a]) / (b - a)
        fixed = max(peaks[a] - per * a, 0.0)
    else:
        per, fixed = peaks[sizes[0]] / sizes[0], 0.0
    if per <= 0:
        return batch, per, fixed
    n = math.floor((budget - fixed) / per)
    return max(sizes[0], min(batch, n)), per, fixed


def is_out_of_memory(e: BaseException) -> bool:
    """An allocation failure (CPU or CUDA), as opposed to the model rejecting its input."""
    text = str(e).lower()
    return isinstance(e, MemoryError) or (
        isinstance(e, RuntimeError)
        and (
            "out of memory" in text
            or "can't allocate memory" in text
            or "not enough memory" in text
        )
    )


def mib(n: float) -> str:
    """Bytes in MiB for the summary.

    >>> mib(3 * 2**20)
    '3 MiB'
    """
    return f"{n / 2**20:.0f} MiB"
