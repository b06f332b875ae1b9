"""The numbers the rules compare against: every threshold with its default and meaning
(the keys of ``[tool.initpolicy.lint.thresholds]`` and ``--threshold NAME=VALUE``), and
the one function that validates overrides. Torch-free.

>>> thresholds({"gain_tolerance": 0.2})["gain-tolerance"]
0.2
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..common import did_you_mean
from ..errors import UsageError

#: Every threshold with its default and meaning (documented in docs/lint.md).
THRESHOLDS: dict[str, tuple[float, str]] = {
    "gain-tolerance": (0.15, "relative slack on each side of an activation's gain band"),
    "range-factor": (2.0, "how far outside the band (in std) range-too-wide/-narrow start"),
    "floor-depth": (
        2.0,
        "fewest layers of an unnormalized chain for a band's floor (gain-mismatch below the "
        "band, torch-default-before-relu)",
    ),
    "vanish-depth": (3.0, "fewest layers of an unnormalized chain for range-too-narrow"),
    "torch-default-tolerance": (0.1, "relative slack around std = 1/sqrt(3·fan_in)"),
    "selu-tolerance": (0.1, "relative slack around lecun's std = 1/sqrt(fan_in)"),
    "large-bias": (1.0, "largest |bias| accepted before an activation"),
    "forget-bias": (0.5, "mean LSTM forget-gate bias below which lstm-forget-bias fires"),
    "forget-closed": (
        -2.0,
        "mean LSTM forget-gate bias below which lstm-forget-bias is a warning "
        "(sigmoid(-2) = 0.12 of the memory kept per step)",
    ),
    "embedding-ratio": (
        10.0,
        "how many times smaller than a term it is summed with a token embedding may be",
    ),
    "norm-eps-ratio": (
        10.0,
        "how many times a norm's eps may exceed the variance of the token-embedding sum it "
        "reads before embedding-under-eps fires (10: the norm outputs 0.3 of its scale)",
    ),
    "orthogonality": (0.1, "largest |WᵀW/c - I| entry still called orthogonal"),
    "trunc-sigmas": (4.0, "bounds further than this many std from the mean truncate nothing"),
    "branch-growth": (4.0, "variance growth through unnormalized residual branches that fires"),
    "drift": (10.0, "total growth (or 1/shrink) of a layer group's output std over depth"),
    "stream-drift": (
        4.0,
        "total growth (or 1/shrink) of an unnormalized residual stream over its blocks "
        "(1/sqrt(depth)-scaled branches give e^0.5 = 1.65)",
    ),
    "min-depth": (
        4.0,
        "fewest layers in a group for variance-drift (blocks: residual-stream-drift)",
    ),
    "dead-share": (0.5, "share of never-active ReLU units that makes a layer dead"),
    "saturation-derivative": (0.05, "derivative (relative to its maximum) called saturated"),
    "saturated-share": (0.3, "share of saturated pre-activations that fires"),
    "gradient-ratio": (100.0, "first/last layer gradient rms ratio (either way) that fires"),
    "outlier-sigmas": (
        50.0,
        "distance from a tensor's bulk (in its robust std) that makes a value an outlier",
    ),
    "norm-scale": (0.1, "rms of a norm's output for a normalized input below which it is silenced"),
    "output-std": (10.0, "std of the model's output (logits) at init above which it is too large"),
    "batch": (64.0, "synthetic batch size of the dynamic pass"),
    "memory-budget": (
        0.5,
        "share of the available memory the dynamic pass may take: the batch is measured "
        "on 2 examples, then sized to fit; a run past it stops itself (0: no budget)",
    ),
}


def thresholds(overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Defaults updated by ``overrides`` (kebab or snake case keys); UsageError on bad ones.

    >>> thresholds({"drift": 20})["drift"], thresholds()["drift"]
    (20.0, 10.0)
    """
    out = {k: v for k, (v, _) in THRESHOLDS.items()}
    for key, value in (overrides or {}).items():
        name = str(key).replace("_", "-")
        if name not in THRESHOLDS:
            hint = did_you_mean(name, THRESHOLDS)
            raise UsageError(
                f"unknown lint threshold {key!r}{f' ({hint})' if hint else ''}; "
                f"expected one of {', '.join(THRESHOLDS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"lint threshold {name} must be a number, got {value!r}")
        out[name] = float(value)
    return out
