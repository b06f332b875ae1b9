"""Scheme wrappers: a scheme applied to another scheme's draw. Torch-free.

``lsuv(orthogonal(), target=1, tol=0.05, max_iter=10)`` draws ``orthogonal()`` and then
rescales each layer's weight, in data-flow order, until the layer's output variance on
calibration data is within ``tol`` of ``target`` (Mishkin & Matas, "All you need is a good
init", 2016). It needs data: :func:`initpolicy.calibrate` runs it and writes the policy
that replays the result without data, each calibrated tensor as
``scaled(orthogonal(), 1.2345)``: the inner scheme's draw times the recorded factor.

``mapped(uniform(0.81, 0.998), log(1 / sqrt(x) - 1))`` draws the inner scheme and writes
each element ``x`` of the draw through the element-wise map ``fn``: an expression over ``x``
and numbers with the language's operators and functions (+ - * / **, sqrt, log, exp, abs,
min, max), evaluated in that order on the tensor, so that a draw transformed in place by
the model's code (RecurrentGemma's RG-LRU ``recurrent_param``) is data, not Python.

A wrapper is written like a scheme whose first argument is a scheme; its other arguments
bind as a scheme's do (signature below). The inner scheme takes positional arguments only
(``orthogonal(2)``, ``kaiming_normal(fan_in)``), and is not itself a wrapper.

>>> WRAPPERS["lsuv"].signature()
'lsuv(target=1.0, tol=0.05, max_iter=10)'
"""

from __future__ import annotations

from collections.abc import Mapping

from .scheme_spec import Param, Scheme, Value, positive, positive_int

#: LSUV's defaults (Mishkin & Matas): unit variance, 5 % tolerance, 10 passes per layer.
LSUV = Scheme(
    name="lsuv",
    params=(
        Param("target", default=1.0, check=positive),
        Param("tol", default=0.05, check=positive),
        Param("max_iter", "int", default=10, check=positive_int),
    ),
    summary="the inner scheme, then rescaled per layer until its output variance on "
    "calibration data is within tol of target (needs data: initpolicy calibrate)",
    formula="W ← W·sqrt(target / Var[layer(x)]), repeated up to max_iter times per layer",
    kind="calibration",
)

#: What calibration records: the inner scheme's draw times a fixed factor.
SCALED = Scheme(
    name="scaled",
    params=(Param("factor", required=True),),
    summary="the inner scheme's draw multiplied by factor (what a calibration replays as)",
    formula="W = factor · draw(inner)",
    kind="scale",
)

#: A draw written through an element-wise map: ``fn`` is an expression over ``x``.
MAPPED = Scheme(
    name="mapped",
    params=(Param("fn", required=True),),
    summary="each element x of the inner scheme's draw written as fn(x), an expression over "
    "x (+ - * / **, sqrt, log, exp, abs, min, max), evaluated element-wise in that order",
    formula="W = fn(draw(inner)), element-wise",
    kind="map",
)

#: The name of the drawn value in ``mapped``'s map.
DRAWN = "x"

#: Every wrapper, by name.
WRAPPERS: dict[str, Scheme] = {s.name: s for s in (LSUV, SCALED, MAPPED)}


def is_calibration(name: str) -> bool:
    """Whether the wrapper ``name`` needs data (a calibration) rather than numbers."""
    w = WRAPPERS.get(name)
    return w is not None and w.kind == "calibration"


def resolve_wrapper(name: str, values: Mapping[str, Value]) -> dict[str, Value]:
    """A wrapper's evaluated arguments with its defaults filled in."""
    out = dict(WRAPPERS[name].defaults())
    out.update(values)
    return out
