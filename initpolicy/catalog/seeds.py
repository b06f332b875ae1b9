"""Seeds: the one range every seed lives in, and which seed wins. Torch-free.

A seed is an exact integer in ``[0, 2**63)`` wherever it is given: the policy header
``seed N``, ``--seed`` and ``seed=`` of the API (torch.Generator.manual_seed takes
non-negative int64). Precedence: the caller's seed, else the policy's, else 0.

>>> resolve(None, 7), resolve(3, 7), resolve(None, None)
(7, 3, 0)
>>> problem(2**63), problem(True), problem(12) is None
('seed must be a whole number in [0, 2**63), not 9223372036854775808', 'seed must be a whole number in [0, 2**63), not True', True)
"""

from __future__ import annotations

#: Seeds are in [0, SEED_LIMIT).
SEED_LIMIT = 1 << 63


def problem(value: object) -> str | None:
    """Why ``value`` is not a seed, or None if it is one."""
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value < SEED_LIMIT
    return None if ok else f"seed must be a whole number in [0, 2**63), not {value!r}"


def resolve(argument: int | None, policy_seed: int | None) -> int:
    """Seed precedence: the caller's ``seed=``/``--seed``, else the policy's ``seed N``, else 0."""
    if argument is not None:
        return int(argument)
    if policy_seed is not None:
        return int(policy_seed)
    return 0
