"""Optimizer parameter groups from a plan's ``with`` multipliers (``Policy.param_groups``).

Each tensor's learning rate, weight decay and (Adam) epsilon are the caller's base values
times the multipliers of the rule that won it (``with lr = ..., wd = ..., eps = ...``;
under SGD ``sgd_lr`` where the rule gives one, else ``lr``). Tensors with the same three
values form one group. Groups are keyed by the tensors' names, sorted, so they are the
same on every rank and after FSDP2's ``fully_shard`` (which keeps the names); nothing is
stored on a tensor. Torch-free.

>>> from initpolicy.planner.groups import GroupSpec
>>> GroupSpec(("fc.weight",), lr=0.01, weight_decay=0.0, eps=None).options()
{'lr': 0.01, 'weight_decay': 0.0}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import UsageError
from .plan import Plan

#: The optimizer families whose per-parameter rules the built-in policies state.
OPTIMIZERS: tuple[str, ...] = ("adamw", "adam", "sgd")


@dataclass(frozen=True)
class GroupSpec:
    """One parameter group: the tensors' names and the optimizer's values for them."""

    names: tuple[str, ...]
    lr: float
    weight_decay: float
    eps: float | None

    def options(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lr": self.lr, "weight_decay": self.weight_decay}
        if self.eps is not None:
            out["eps"] = self.eps
        return out


def check_optimizer(optimizer: str) -> str:
    if not isinstance(optimizer, str) or optimizer.lower() not in OPTIMIZERS:
        raise UsageError(
            f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r} "
            "(another optimizer: take the multipliers from Policy.plan(model).entries)"
        )
    return optimizer.lower()


def _number(what: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UsageError(f"{what} must be a number, got {type(value).__name__}")
    v = float(value)
    if not (v == v and abs(v) != float("inf")) or v < 0 or (positive and v == 0):
        raise UsageError(
            f"{what} must be a finite number {'> 0' if positive else '>= 0'}, got {value!r}"
        )
    return v


def multipliers_by_name(plan: Plan) -> dict[str, dict[str, float]]:
    """Every planned tensor's ``with`` multipliers, under each of its names (a tied
    tensor's names share its one entry's: the rule that writes it decides, once)."""
    out: dict[str, dict[str, float]] = {}
    for e in plan.entries:
        if e.block is not None:
            continue  # a block is a slice of a tensor the whole-tensor rule groups
        for name in (e.param.name, e.param.raw_name, *e.param.aliases):
            if name:
                out[name] = e.multipliers
    return out


def group_specs(
    plan: Plan,
    names: Iterable[str],
    *,
    lr: float,
    optimizer: str,
    weight_decay: float = 0.0,
    eps: float | None = None,
) -> list[GroupSpec]:
    """Groups of the tensors ``names`` (the model's ``named_parameters`` names)."""
    kind = check_optimizer(optimizer)
    base_lr = _number("lr", lr, positive=True)
    base_wd = _number("weight_decay", weight_decay)
    adam = kind != "sgd"
    base_eps = _number("eps", eps if eps is not None else 1e-8, positive=True) if adam else None
    if not adam and eps is not None:
        raise UsageError("eps is Adam's epsilon; SGD has none")
    found = multipliers_by_name(plan)
    keyed: dict[tuple[float, float, float | None], list[str]] = {}
    for name in sorted(set(names)):
        m = found.get(name, {})
        lr_m = m.get("sgd_lr", m.get("lr", 1.0)) if not adam else m.get("lr", 1.0)
        key = (
            base_lr * lr_m,
            base_wd * m.get("wd", 1.0),
            base_eps * m.get("eps", 1.0) if base_eps is not None else None,
        )
        keyed.setdefault(key, []).append(name)
    specs = [GroupSpec(tuple(ns), lr=k[0], weight_decay=k[1], eps=k[2]) for k, ns in keyed.items()]
    return sorted(specs, key=lambda g: g.names[0])
