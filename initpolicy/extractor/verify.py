"""Verify: the synthesized policy, planned by the real planner, gives every item its law.

Compared per parameter (and block): the scheme *family* with its location (normal with its
mean, uniform with its center, a truncated normal with its cuts in sigmas, a constant with
its value, or the structured scheme itself), and the std/bound to 1e-9 relative, where the
observed std/bound are torch's own numbers for the recorded call.

>>> family("kaiming_normal", {"a": 0.0, "mode": "fan_in", "nonlinearity": "relu"})
('normal', 0.0)
>>> family("trunc_normal", {"mean": 0.0, "std": 0.02, "a": -2.0, "b": 2.0})
('normal', 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..catalog import DRAWN, constant_value, distribution, get
from ..language import ExprError, evaluate, expression
from ..planner import Plan
from .fit import drawn_like
from .laws import own_default
from .observe import Item

#: The family of each distribution a fan-scaled scheme draws from (centred at 0; the
#: catalog's ``distribution``).
_CENTRED = {
    "uniform": ("uniform", 0.0),
    "truncated_normal": ("trunc", -2.0, 2.0, 0.0),
    "untruncated_normal": ("normal", 0.0),
    "normal": ("normal", 0.0),
}
#: Beyond this many sigmas a truncation cuts nothing a float32 draw can reach.
_NO_CUT = 6.0


def family(scheme: str, args: dict[str, Any]) -> tuple[Any, ...]:
    """The distribution family of a scheme with evaluated arguments, with its location."""

    def f(k: str, d: float = 0.0) -> float:
        v = args.get(k, d)
        return float(v) if isinstance(v, float | int) else d

    def r(x: float) -> float:
        return float(f"{x:.9g}")

    value = constant_value(scheme, args)
    if value is not None:
        return ("constant", r(value))
    centred = distribution(scheme, args)
    if centred is not None:
        return _CENTRED[centred]
    if scheme == "normal":
        return ("normal", r(f("mean")))
    if scheme == "uniform":
        return ("uniform", r((f("a") + f("b", 1.0)) / 2))
    if scheme == "truncated_normal":
        return ("trunc", -2.0, 2.0, r(f("mean")))
    if scheme == "linspace":
        return ("linspace", r(f("start")), r(f("end", 1.0)))
    if scheme == "trunc_normal":
        m, s = f("mean"), f("std", 1.0)
        lo, hi = (f("a", -2.0) - m) / s, (f("b", 2.0) - m) / s
        if lo <= -_NO_CUT and hi >= _NO_CUT:
            return ("normal", r(m))
        return ("trunc", r(lo), r(hi), r(m))
    return (scheme,)


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15)


def _same_map(planned: Any, law: Any) -> bool:
    """Whether the planned map is the code's where its inner scheme writes: both evaluated
    on points of the law's support (a grid's span, a uniform's interval, a normal's mean
    +- 2 std), to 1e-9 relative: the code's ``0.3 * (i / (n - 1))`` and the policy's
    ``0.3 * i / (n - 1)`` round differently, and a printed map drops digits."""
    recorded = law.records[0].fn if law.records else None
    if planned is None or recorded is None:
        return False
    a = law.args
    if law.scheme == "linspace":
        lo, hi = float(a.get("start", 0.0)), float(a.get("end", 1.0))
    elif law.scheme == "uniform":
        lo, hi = float(a["a"]), float(a["b"])
    elif law.scheme == "normal":
        lo, hi = float(a["mean"]) - 2 * float(a["std"]), float(a["mean"]) + 2 * float(a["std"])
    else:
        return False
    try:
        for k in range(9):
            x = {DRAWN: lo + (hi - lo) * k / 8}
            if not math.isclose(evaluate(planned, x), evaluate(recorded, x), rel_tol=1e-9):
                return False
    except ExprError:
        return False
    return True


def compare(
    plan: Plan, items: list[Item], values: Callable[[Item], Any] | None = None
) -> list[tuple[int, str, bool]]:
    """Items whose planned scheme family or std/bound differ from the observed law. A law
    fitted from values is also checked against ``values(item)``, the code's own values
    (:func:`.fit.drawn_like`): what apply would draw must be what the code made, which
    the fit agreeing with itself does not show.

    Each difference is (item index, what was planned, whether a rule could fix it): no
    rule fixes a fitted law that the code's values contradict."""
    planned = {(e.param.name, e.block): e for e in plan.entries}
    unmatched = {p.name for p in plan.unmatched}
    bad: list[tuple[int, str, bool]] = []
    seen: set[tuple[str, str | None]] = set()
    for it in items:
        if it.law is None or it.key in seen:
            continue
        seen.add(it.key)
        law = it.law
        e = planned.get(it.key)
        if e is None and it.block is not None:
            e = planned.get((it.param.name, None))  # a block rule did not fire
            if e is not None:
                bad.append((it.index, f"{e.scheme} (whole tensor, no block rule)", True))
                continue
        if e is None:
            if get(law.scheme).keeps and (it.param.name in unmatched or it.block is None):
                continue
            bad.append((it.index, "unmatched", True))
            continue
        if get(law.scheme).keeps:
            if not e.spec.keeps:
                bad.append((it.index, f"{e.scheme} (expected keep)", True))
            continue
        if e.spec.runs_module_init:
            # the module's own reset_parameters: right where that is what wrote the law
            if not own_default(law, e.layer.types):
                bad.append((it.index, "default (not what the code did)", True))
            continue
        planned_map = None if e.transform is None else expression(e.transform)
        if planned_map != law.fn and not _same_map(e.transform, law):
            bad.append((it.index, f"{e.scheme} mapped by {planned_map} (expected {law.fn})", True))
            continue
        if family(e.scheme, e.args) != family(law.scheme, law.args):
            bad.append((it.index, f"{e.scheme}{family(e.scheme, e.args)}", True))
            continue
        if not (_close(e.std, law.std) and _close(e.bound, law.bound)):
            bad.append((it.index, f"{e.scheme} std={e.std} bound={e.bound}", True))
            continue
        x = values(it) if values is not None and law.how == "fitted" else None
        why = None if x is None else drawn_like(x, e.scheme, e.args, e.std)
        if why is not None:
            bad.append((it.index, f"{e.scheme} std={e.std}: {why}", False))
    return bad
