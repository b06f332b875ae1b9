"""initpolicy: declared, checked and reproducible weight initialization for PyTorch.

>>> import initpolicy
>>> policy = initpolicy.load("relu_net")                 # doctest: +SKIP
>>> report = policy.apply(model, seed=0)                  # doctest: +SKIP
>>> findings = initpolicy.lint(model, policy=policy)      # doctest: +SKIP

Importing the package does not import torch.
"""

from __future__ import annotations

from typing import Any

from .api import Policy, load
from .errors import InitPolicyError, PlanError, PolicyError, TargetError, TraceError, UsageError

__version__ = "0.1.0"

__all__ = [
    "InitPolicyError",
    "PlanError",
    "Policy",
    "PolicyError",
    "TargetError",
    "TraceError",
    "UsageError",
    "apply",
    "lint",
    "load",
    "trace",
]


def apply(model: Any, policy: Policy | str, **kwargs: Any) -> Any:
    """Shortcut for ``initpolicy.load(policy).apply(model, **kwargs)``."""
    if not isinstance(policy, Policy):
        policy = load(policy)
    return policy.apply(model, **kwargs)


def trace(model: Any, example_inputs: Any = None) -> Any:
    """Trace ``model``: a ModelGraph with the activation that follows each layer."""
    from .tracer.tracing import trace as _trace

    return _trace(model, example_inputs=example_inputs)


def lint(model: Any, policy: Policy | str | None = None, **kwargs: Any) -> Any:
    """Lint ``model``'s initialization (or ``policy``'s, applied to a copy)."""
    from .linter.run import lint as _lint

    if policy is not None and not isinstance(policy, Policy):
        policy = load(policy)
    return _lint(model, policy=policy, **kwargs)
