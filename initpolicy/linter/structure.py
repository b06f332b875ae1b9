"""The tracer's graph facts (:mod:`initpolicy.tracer.roles`) as the rules read them: where a
weight's scale matters, and how far a scale error can compound.

A scale error compounds along a **chain**: layers linked output-to-input with no
normalization, residual join or gate in between, each with a gain band (not an output
head, not renormalized, not in a residual or gate branch, fed by data). Each layer of a
chain multiplies the signal's variance by its own factor, so a weight too small for its
fan makes the signal vanish only where several such layers follow one another
(docs/lint.md). Torch-free.

>>> import torch
>>> from initpolicy.tracer.tracing import trace
>>> relu, lin = torch.nn.ReLU, torch.nn.Linear
>>> chains(trace(torch.nn.Sequential(lin(4, 8), relu(), lin(8, 8), relu(), lin(8, 2))))
{'0': 2, '2': 2}
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ..tracer import Layer, ModelGraph
from .bands import band
from .families import EMBEDDING_TYPES, NORM_TYPES, RECURRENT_TYPES, is_type

#: Activations that are the link function of a log-loss: a cross-entropy (or BCE) over
#: their output cancels their derivative, so where one ends the model (no parameterized
#: layer after it), as in a detector's scores, it belongs to the loss, not to the network.
LINKS = frozenset({"sigmoid", "softmax", "log_softmax"})


def judged_activation(layer: Layer, roles: bool = True) -> str:
    """The activation the rules judge ``layer`` by: its traced one, except that a link
    function (:data:`LINKS`) with no parameterized layer after it on any path to the
    output makes ``layer`` an ``output`` layer (its pre-activations are the logits the loss
    reads; torchvision's RetinaNet and FCOS set a focal-loss prior bias there, and apply
    the sigmoid only to post-process). A final tanh stays judged: no loss cancels it."""
    if roles and layer.activation in LINKS and layer.roles.to_output == 0:
        return "output"
    return layer.activation


def scale_free(layer: Layer, roles: bool = True) -> bool:
    """Whether ``layer``'s weight scale cannot change what the model computes: every path
    from its output reaches a normalization through positively homogeneous ops
    (``scale_invariant``; a norm right after the layer is the simplest case). Without the
    graph's facts (the ``modules`` tracer), a normalization before its activation."""
    return layer.roles.scale_invariant if roles else layer.resolution.normalized


def scale_matters(
    layer: Layer, activation: str, roles: bool = True, act_args: dict[str, Any] | None = None
) -> bool:
    """Whether the scale rules judge a weight of ``layer`` feeding ``activation`` (with
    ``act_args``, the layer's by default): it has a band, its scale can change what the
    model computes (:func:`scale_free`), and its output reaches a model output (known
    when the graph's ``roles`` are)."""
    args = layer.act_args if act_args is None else act_args
    if band(activation, args) is None or scale_free(layer, roles):
        return False
    # A band assumes an input that carries data at about unit variance; a layer fed only
    # by constants (ConViT's pos_proj over a table of patch offsets, a position-bias MLP)
    # computes a fixed pattern its init sets on purpose.
    return not (roles and (layer.roles.to_output is None or not layer.roles.input_dependent))


def banded(layer: Layer) -> bool:
    """Whether ``layer`` is a link of a chain (see the module docstring)."""
    return (
        band(judged_activation(layer), layer.act_args) is not None
        and not (layer.roles.renormalized or layer.roles.scale_invariant)
        and not (layer.roles.gate or layer.roles.residual_branch)
        and layer.roles.input_dependent
        and layer.roles.to_output is not None
        and not is_type(layer, EMBEDDING_TYPES + RECURRENT_TYPES + NORM_TYPES)
        and any(p.ndim >= 2 and p.role in ("weight", None) for p in layer.parameters)
    )


def chains(graph: ModelGraph) -> dict[str, int]:
    """Banded layer -> how many banded layers its chain holds (its connected component
    over ``GraphRoles.feeds``). Without graph facts (the ``modules`` tracer) every layer is
    taken to be in a long chain: nothing is known to stop a scale error.
    """
    layers = {lay.name: lay for lay in graph.layers}
    if not graph.roles:
        return {name: math.inf for name in layers}  # type: ignore[misc]
    parent = {name: name for name, lay in layers.items() if banded(lay)}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for name in parent:
        for nxt in layers[name].roles.feeds:
            if nxt in parent:
                parent[find(name)] = find(nxt)
    size: dict[str, int] = {}
    for name in parent:
        size[find(name)] = size.get(find(name), 0) + 1
    return {name: size[find(name)] for name in parent}


def reachable(graph: ModelGraph, start: str, goals: Iterable[str]) -> set[str]:
    """Which of ``goals`` the output of layer ``start`` reaches with no normalization and
    no residual join on the way (following ``GraphRoles.feeds``)."""
    layers = {lay.name: lay for lay in graph.layers}
    wanted = set(goals)
    seen = {start}
    stack = [start]
    found: set[str] = set()
    while stack:
        lay = layers.get(stack.pop())
        for nxt in lay.roles.feeds if lay is not None else ():
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in wanted:
                found.add(nxt)
            stack.append(nxt)
    return found
