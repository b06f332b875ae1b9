"""The memory budget of lint: how much memory the passes may hold at once, measured on this
machine (or given with ``--memory``), and what a model needs.

The budget replaces any parameter-count cut-off: a model whose tensors (twice: a policy
initializes a copy, and the backward pass holds one gradient per weight) fit in the budget
is linted whole; a bigger one, or a model on the meta device, is linted part by part
(:mod:`initpolicy.linter.stream`), which holds the largest part and the activations.

Measured: half of what the kernel says is available now (``MemAvailable`` of
``/proc/meminfo``), capped by the cgroup's limit less its usage where one is set; 4 GiB
where neither can be read.

>>> parse_memory("4G"), parse_memory("512M"), parse_memory("1.5GiB")
(4294967296, 536870912, 1610612736)
>>> Budget(2 ** 30, "--memory 1G").fits(2 ** 29)
True
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

#: The share of available memory the default budget takes (the rest: the process itself,
#: the activations, and everything else running on the machine).
SHARE = 0.5
#: The budget where the machine's memory cannot be read.
FALLBACK = 4 * 2**30
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


@dataclass(frozen=True)
class Budget:
    """Bytes the lint passes may hold at once, and where the number comes from."""

    bytes: int
    source: str

    def fits(self, nbytes: float) -> bool:
        return nbytes <= self.bytes

    @property
    def given(self) -> bool:
        """Given with ``--memory`` (``lint(memory=...)``), not measured: it also caps the
        dynamic pass, which otherwise takes ``memory-budget`` of the memory available."""
        return self.source == "--memory"

    def describe(self) -> str:
        """``3.8 GiB (half of 7.6 GiB available)``, for the summary."""
        return f"{gib(self.bytes)} ({self.source})"


def gib(nbytes: float) -> str:
    """Bytes in GiB, for messages: ``gib(3 * 2**29)`` is ``'1.5 GiB'``."""
    return f"{nbytes / 2**30:.3g} GiB"


def parse_memory(text: str) -> int:
    """Bytes from ``4G``, ``512M``, ``1.5GiB``, ``2e9`` (a UsageError names what is allowed)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([KMGT]?)(?:i?B)?\s*", text, re.I)
    if m is None:
        raise UsageError(
            f"--memory {text!r} is not a size: give bytes with a unit, e.g. 4G, 512M, 1.5GiB"
        )
    value = float(m.group(1)) * _UNITS[m.group(2).upper()]
    if not math.isfinite(value) or value < 2**20:
        raise UsageError(f"--memory {text!r} is under 1M: lint needs at least that")
    return int(value)


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def available() -> tuple[int | None, str]:
    """Bytes available to this process now, and how that was read (None: unreadable)."""
    found: list[tuple[int, str]] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append((int(line.split()[1]) * 1024, "available"))
    except (OSError, ValueError, IndexError):
        pass
    limit = _read_int("/sys/fs/cgroup/memory.max")
    used = _read_int("/sys/fs/cgroup/memory.current")
    if limit is not None and used is not None:
        found.append((max(limit - used, 0), "free under the cgroup's limit"))
    if not found:
        return None, ""
    return min(found)


def budget(memory: Any = None) -> Budget:
    """The budget: ``memory`` (bytes, or text such as ``"4G"``) where given, else measured.

    >>> budget("2G").describe()
    '2 GiB (--memory)'
    """
    if memory is not None:
        nbytes = parse_memory(memory) if isinstance(memory, str) else int(memory)
        return Budget(nbytes, "--memory")
    free, how = available()
    if free is None:
        return Budget(FALLBACK, "the machine's memory could not be read")
    return Budget(int(free * SHARE), f"half of {gib(free)} {how}")


def tensor_bytes(model: Any) -> int:
    """Bytes of every parameter and buffer of ``model`` (meta ones included, as they would
    be materialized), each tensor once."""
    seen: set[int] = set()
    total = 0
    for t in (*model.parameters(), *model.buffers()):
        if id(t) not in seen:
            seen.add(id(t))
            total += t.numel() * t.element_size()
    return total
