"""initpolicy: declared, checked and reproducible weight initialization for PyTorch.

>>> import initpolicy
>>> policy = initpolicy.load("relu_net")                 # doctest: +SKIP
>>> report = policy.apply(model, seed=0)                  # doctest: +SKIP
>>> findings = initpolicy.lint(model, policy=policy)      # doctest: +SKIP

Importing the package does not import torch.
"""

from .api import Calibration, Policy, apply, calibrate, extract, lint, load, on_meta, trace
from .errors import InitPolicyError, PlanError, PolicyError, TargetError, TraceError, UsageError

#: The one place the version is written (pyproject.toml reads it: ``[tool.hatch.version]``).
__version__ = "0.1.0"

__all__ = [
    "Calibration",
    "InitPolicyError",
    "PlanError",
    "Policy",
    "PolicyError",
    "TargetError",
    "TraceError",
    "UsageError",
    "__version__",
    "apply",
    "calibrate",
    "extract",
    "lint",
    "load",
    "on_meta",
    "trace",
]
