"""Seeded bugs: the classic init mistakes, each injected into one layer of a zoo model (the
model otherwise as its library built it); lint must report it, on that layer.

Where a bug is seeded (``Bug.where``) is part of its definition, stated with the tracer's
graph facts (docs/tracing.md) and never with the rules' thresholds:

* values bugs (a constant weight, identical filters) go into the weight operand of a
  feature-mixing op, the middle one in execution order;
* scale bugs go where the weight's scale reaches the model's output without a
  normalization resetting it (``initpolicy.linter.structure.scale_matters``); the "too
  small" ones (Xavier or PyTorch's default before ReLU, a too-narrow uniform) into a link
  of an unnormalized chain of two or more layers (``structure.chains``: below that, a small
  layer only sets the scale of a head, which nothing compounds).

``run(model, graph, bug)`` seeds one bug, lints statically, and restores the weight.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from initpolicy.linter.families import EMBEDDING_TYPES, RECURRENT_TYPES, UNITS_ON_DIM1, is_type
from initpolicy.linter.structure import chains, scale_matters
from initpolicy.tracer.graph import Layer, ModelGraph, ParamInfo

RELU = ("relu", "relu6", "leaky_relu")
SIGMOID = ("sigmoid", "hardsigmoid")

Site = tuple[Layer, ParamInfo]


def _mixing(lay: Layer, p: ParamInfo) -> bool:
    return p.role == "weight" and p.ndim >= 2 and p.shape[0] >= 2 and p.kind == "parameter"


def _scaled(lay: Layer, p: ParamInfo, graph: ModelGraph) -> bool:
    return (
        _mixing(lay, p)
        and "weight" in p.local
        and not is_type(lay, EMBEDDING_TYPES + RECURRENT_TYPES)
        and scale_matters(lay, lay.activation, graph.roles)
    )


def _in_chain(lay: Layer, p: ParamInfo, graph: ModelGraph, acts: tuple[str, ...] = ()) -> bool:
    return (
        _scaled(lay, p, graph)
        and chains(graph).get(lay.name, 0) >= 2
        and (not acts or lay.activation in acts)
    )


def _near_square(p: ParamInfo) -> bool:
    return max(p.fan_in, p.fan_out) <= 1.5 * min(p.fan_in, p.fan_out)


def _units_equal(t: torch.Tensor, lay: Layer) -> None:
    dim = 1 if is_type(lay, UNITS_ON_DIM1) else 0
    first = t.narrow(dim, 0, 1)
    t.copy_(first.expand_as(t))


def _default(t: torch.Tensor, lay: Layer) -> None:
    torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5))  # nn.Linear/Conv's reset_parameters


@dataclass(frozen=True)
class Bug:
    name: str
    #: The codes that report it (one of them, on the seeded weight, counts as found).
    codes: tuple[str, ...]
    where: Callable[[Layer, ParamInfo, ModelGraph], bool]
    inject: Callable[[torch.Tensor, Layer], None]
    #: Where it is seeded, in words (docs/benchmarks.md).
    site: str
    #: Why the linter, by its documented bands, does not call this a mis-scale (empty
    #: for a bug it must find): the benchmark measures it and reports it apart.
    in_band: str = ""


BUGS: tuple[Bug, ...] = (
    Bug(
        "constant weight in a middle layer",
        ("IP101",),
        lambda lay, p, g: _mixing(lay, p),
        lambda t, lay: t.fill_(float(t.std()) or 0.05),
        "the middle weight operand of a mixing op",
    ),
    Bug(
        "identical filters",
        ("IP102",),
        lambda lay, p, g: _mixing(lay, p),
        _units_equal,
        "the middle weight operand of a mixing op",
    ),
    Bug(
        # Xavier's variance 2/(fan_in + fan_out) is half of He's in a square layer; far from
        # square it approaches He's 2/fan_in (fan_in >> fan_out) or He's equally valid
        # fan_out mode 2/fan_out (fan_out >> fan_in), and is no longer a mistake
        "Xavier before ReLU without normalization",
        ("IP103",),
        lambda lay, p, g: _in_chain(lay, p, g, RELU) and _near_square(p),
        lambda t, lay: torch.nn.init.xavier_uniform_(t),
        "a near-square layer (fans within 1.5x) before ReLU in an unnormalized chain",
    ),
    Bug(
        "too-narrow uniform U(-0.01, 0.01)",
        ("IP105", "IP103"),
        _in_chain,
        lambda t, lay: torch.nn.init.uniform_(t, -0.01, 0.01),
        "a layer in an unnormalized chain",
    ),
    Bug(
        "too-wide uniform U(-1, 1)",
        ("IP104",),
        lambda lay, p, g: _scaled(lay, p, g) and min(p.fan_in, p.fan_out) >= 64,
        lambda t, lay: torch.nn.init.uniform_(t, -1.0, 1.0),
        "a layer whose scale reaches the output, both fans >= 64",
    ),
    Bug(
        "PyTorch's default init before ReLU",
        ("IP106",),
        lambda lay, p, g: _in_chain(lay, p, g, RELU),
        _default,
        "a layer before ReLU in an unnormalized chain",
    ),
    Bug(
        "N(0, 1) on a wide layer",
        ("IP104",),
        lambda lay, p, g: _scaled(lay, p, g) and min(p.fan_in, p.fan_out) >= 256,
        lambda t, lay: torch.nn.init.normal_(t, 0.0, 1.0),
        "a layer whose scale reaches the output, both fans >= 256",
    ),
    Bug(
        "He scale before sigmoid",
        ("IP103", "IP104"),
        lambda lay, p, g: _scaled(lay, p, g) and lay.activation in SIGMOID,
        lambda t, lay: torch.nn.init.kaiming_normal_(t, nonlinearity="relu"),
        "a layer before sigmoid whose scale reaches the output",
        "He's gain sqrt(2) lies inside sigmoid's band [1, 1.85] (docs/lint.md: Glorot's gain "
        "1 to the variance-preserving 1.85; sigmoid's slope at 0 is 1/4, and Glorot & "
        "Bengio's Theano recipe uses 4x the tanh bound); every seeded site is a "
        "squeeze-excitation gate that torchvision and timm themselves initialize with He",
    ),
)


def site(graph: ModelGraph, bug: Bug) -> Site | None:
    """Where ``bug`` goes in ``graph``'s model: the middle eligible weight, or None."""
    found = [(lay, p) for lay in graph.layers for p in lay.parameters if bug.where(lay, p, graph)]
    return found[len(found) // 2] if found else None


def tensor(model: Any, p: ParamInfo) -> torch.Tensor:
    return model.get_parameter(p.raw_name or p.name)


def run(model: Any, graph: ModelGraph, bug: Bug, where: Site) -> tuple[bool, list[str]]:
    """Seed ``bug`` at ``where``, lint statically (the model's graph reused), restore.
    Whether a finding of one of the bug's codes names the seeded weight, and every
    finding on it (``CODE name``)."""
    import initpolicy

    lay, p = where
    t = tensor(model, p)
    saved = t.detach().clone()
    try:
        with torch.no_grad():
            torch.manual_seed(0)
            bug.inject(t, lay)
        result = initpolicy.lint(model, static=True, graph=graph)
    finally:
        with torch.no_grad():
            t.copy_(saved)
    on = [f for f in result.all_findings if f.target == p.name]
    hit = any(f.code in bug.codes for f in on)
    return hit, [f"{f.code} {f.name}" for f in on]
