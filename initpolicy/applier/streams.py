"""The per-tensor seed derived from the run's seed (which seed wins: catalog.seeds).

Each tensor draws from its own generator, seeded from a stable hash of (seed, canonical
qualified name[, block]). Python's ``hash()`` is salted per process, so blake2b is used:
the same seed gives the same tensors in every run, and adding, removing or reordering
other layers changes nothing else. Torch-free.

>>> derive(0, "fc1.weight") == derive(0, "fc1.weight")
True
>>> derive(0, "fc1.weight") != derive(1, "fc1.weight")
True
"""

from __future__ import annotations

import hashlib

#: torch.Generator.manual_seed accepts [-2**63, 2**64); keep to non-negative int64.
_MASK = (1 << 63) - 1


def derive(seed: int, *parts: str) -> int:
    """A 63-bit seed from ``seed`` and name parts (``"fc1.weight"``, ``"forget"``)."""
    h = hashlib.blake2b(digest_size=8, person=b"initpolicy")
    h.update(str(int(seed)).encode())
    for part in parts:
        h.update(b"\x00")
        h.update(part.encode("utf-8"))
    return int.from_bytes(h.digest(), "little") & _MASK
