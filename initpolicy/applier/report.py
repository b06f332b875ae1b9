"""What apply did and what explain would do: JSON (the explain contract) and text.

``Report`` (returned by ``Policy.apply``) is the plan with the std measured on each
written tensor; :func:`plan_json`/:func:`plan_text` render a plan for ``explain``.
Torch-free.

>>> report = policy.apply(model, seed=0)          # doctest: +SKIP
>>> report.entries[0].to_json()["measured_std"]   # doctest: +SKIP
0.2013
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from ..catalog import SCHEMES
from ..common import table
from ..language import expression
from ..planner import Entry, Plan, rule_json
from ..tracer import block_of
from .streams import STREAM_LAYOUT_VERSION, whole_draw_bytes


@dataclass
class ReportEntry:
    """One write of the plan, and the std of the values actually written."""

    entry: Entry
    measured_std: float | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def scheme(self) -> str:
        return self.entry.scheme

    @property
    def args(self) -> dict[str, float | str]:
        return self.entry.args

    @property
    def module(self) -> str:
        return self.entry.layer.name

    @property
    def rule(self) -> Any:
        return self.entry.rule

    @property
    def std(self) -> float | None:
        return self.entry.std

    @property
    def bound(self) -> float | None:
        return self.entry.bound

    def to_json(self) -> dict[str, Any]:
        out = self.entry.to_json()
        out["measured_std"] = self.measured_std
        return out


@dataclass
class Report:
    """The outcome of ``apply``: per-tensor entries, and what was left alone and why."""

    plan: Plan
    entries: list[ReportEntry] = field(default_factory=list)
    #: Parameters initialized by their module's own method because the model was on meta
    #: and no rule matched them: (name, method).
    defaulted: list[tuple[str, str]] = field(default_factory=list)
    #: Device the model was materialized on, when it was on meta.
    materialized_on: str | None = None
    #: ``apply(..., data=)``'s calibration (``initpolicy.Calibration``: its ``.text``
    #: replays the weights without data); None otherwise.
    calibration: Any = None

    @property
    def seed(self) -> int:
        return self.plan.seed

    @property
    def stream_layout(self) -> int:
        """The layout version of the values drawn (docs/distributed.md)."""
        return STREAM_LAYOUT_VERSION

    @property
    def unmatched(self) -> list[str]:
        return [p.name for p in self.plan.unmatched]

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [(p.name, reason) for p, reason in self.plan.skipped]

    @property
    def warnings(self) -> list[str]:
        return list(self.plan.warnings)

    def __getitem__(self, name: str) -> ReportEntry:
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def __len__(self) -> int:
        return len(self.entries)

    def to_json(self) -> dict[str, Any]:
        """The explain JSON (PRODUCT.md), each entry with its ``measured_std``."""
        out = plan_json(self.plan, [e.to_json() for e in self.entries])
        out["defaulted"] = [{"name": n, "by": how} for n, how in self.defaulted]
        out["materialized_on"] = self.materialized_on
        out["stream_layout"] = self.stream_layout
        return out

    def __str__(self) -> str:
        """The same text on every rank of a sharded model (see :meth:`print_once`)."""
        lines = [f"initialized {len(self.entries)} tensor(s), seed {self.seed}"]
        if self.materialized_on:
            lines[0] += f", materialized on {self.materialized_on}"
        sharded = any(e.entry.param.placement for e in self.entries)
        rows: list[tuple[str, ...]] = []
        for e in self.entries:
            measured = "-" if e.measured_std is None else f"{e.measured_std:.4g}"
            where = (e.entry.param.placement or "-",) if sharded else ()
            rows.append((e.name, _scheme(e.entry), _num(e.std), measured, *where, _loc(e.entry)))
        where_head = ("placement",) if sharded else ()
        rendered = table(("name", "scheme", "std", "measured", *where_head, "rule"), rows)
        lines += [rendered] if rendered else []
        lines += [f"  {e.name}: {note}" for e in self.entries if (note := whole_note(e.entry))]
        lines += _tail(self.plan)
        for n, how in self.defaulted:
            lines.append(f"  {n}: no rule; initialized by {how} (model was on meta)")
        return "\n".join(lines)

    def print_once(self) -> None:
        """Print the Report on rank 0 only: every rank of a sharded model holds the same
        Report (its statistics already reduced over ranks)."""
        from ..shards import rank

        if rank() == 0:
            print(self)


# ---------------------------------------------------------------------------- rendering


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _loc(e: Entry) -> str:
    return f"{e.rule.loc.file}:{e.rule.loc.line}"


def _args(values: dict[str, float | str]) -> str:
    return ", ".join(
        f"{k}={v:g}" if isinstance(v, float | int) else f"{k}={v}" for k, v in values.items()
    )


def _scheme(e: Entry) -> str:
    """The scheme as explain shows it, inside its wrapper when it has one."""
    inner = f"{e.scheme}({_args(e.args)})"
    if e.scale is not None:
        return f"scaled({inner}, {e.scale:g})"
    if e.calibration is not None:
        return f"{e.rule.scheme.name}({inner}, {_args(e.calibration)})"
    if e.transform is not None:
        return f"mapped({inner}, {expression(e.transform)})"
    return inner


def whole_note(e: Entry) -> str | None:
    """How a sharded tensor's scheme is computed when it is not drawn tile by tile (a
    coupled or positional scheme, or the module's own init): whole on every rank."""
    scheme = SCHEMES[e.scheme]
    tiled = scheme.sample is not None and scheme.elementwise
    if e.param.placement is None or scheme.keeps or tiled or scheme.value is not None:
        return None
    numel = e.param.numel
    b = block_of(e.param, e.block)
    if b is not None:
        numel = numel // max(1, e.param.shape[0]) * (b.stop - b.start)
    size = whole_draw_bytes(e.scheme, numel)
    return f"computed whole on every rank, then sliced (~{_bytes(size)} transient per rank)"


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.3g} {unit}"
        n /= 1024
    return f"{n:.3g} TiB"


def _tail(plan: Plan) -> list[str]:
    lines = []
    if plan.unmatched:
        lines.append(f"unmatched ({len(plan.unmatched)}, values kept):")
        lines += [f"  {p.name}" for p in plan.unmatched]
    if plan.skipped:
        lines.append(f"skipped ({len(plan.skipped)}):")
        lines += [f"  {p.name} ({reason})" for p, reason in plan.skipped]
    for w in plan.warnings:
        lines.append(f"warning: {w}")
    return lines


def _unmatched_json(plan: Plan) -> list[dict[str, Any]]:
    """Unmatched parameters as rows of the parameters list, with rule null."""
    owner = {id(p): lay for lay in plan.graph.layers for p in lay.parameters}
    rows: list[dict[str, Any]] = []
    for p in plan.unmatched:
        lay = owner.get(id(p))
        rows.append(
            {
                "name": p.name,
                "block": None,
                "module": lay.name if lay else None,
                "type": lay.type if lay else None,
                "activation": lay.activation if lay else None,
                "scheme": None,
                "args": {},
                "std": None,
                "bound": None,
                "rule": None,
                "overridden": [],
                "note": None,
            }
        )
    return rows


def plan_json(plan: Plan, entries: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{"parameters": [...], "unmatched": [names], ...}`` — the explain JSON contract.

    Unmatched parameters are listed by name in ``unmatched`` and also appear in
    ``parameters`` with ``rule`` (and ``scheme``) null.
    """
    rows: list[dict[str, Any]] = (
        entries if entries is not None else [e.to_json() for e in plan.entries]
    )
    return {
        "seed": plan.seed,
        # "modules": the activations are registration-order guesses (the policy reads none)
        "tracer": plan.graph.tracer,
        "parameters": rows + _unmatched_json(plan),
        "unmatched": [p.name for p in plan.unmatched],
        "skipped": [{"name": p.name, "reason": r} for p, r in plan.skipped],
        "never_matched": [rule_json(r) for r in plan.never_matched],
        "always_overridden": [rule_json(r) for r in plan.always_overridden],
        "warnings": list(plan.warnings),
        # forward multipliers (`with output = ...`) and the size they read: additive
        "outputs": [o.to_json() for o in plan.outputs.values()],
        "values": dict(plan.policy.values),
        "model_size": {
            "width": plan.graph.width,
            "depth": plan.graph.depth,
            "head_dim": plan.graph.head_dim,
            "source": plan.graph.size_source,
        },
    }


def plan_text(plan: Plan) -> str:
    """The explain text: per tensor the winner, what it overrode, scheme, std, bound."""
    lines = []
    for e in plan.entries:
        act = e.layer.activation or "?"
        lines.append(
            f"{e.name}  ({e.layer.type} before {act})  {_scheme(e)}  "
            f"std={_num(e.std)}  bound={_num(e.bound)}"
        )
        lines.append(f"    rule  {_loc(e)}  {e.rule.loc.text}")
        for r in reversed(e.overridden):
            lines.append(f"    over  {r.loc.file}:{r.loc.line}  {r.loc.text}")
        if e.multipliers:
            shown = ", ".join(f"{k} ×{v:.6g}" for k, v in e.multipliers.items())
            lines.append(f"    with  {shown}")
        if e.note:
            lines.append(f"    note  {e.note}")
        if e.param.placement:
            note = whole_note(e)
            lines.append(f"    shard {e.param.placement}" + (f"; {note}" if note else ""))
    lines += _tail(plan)
    if plan.outputs:
        g = plan.graph
        lines.append(
            f"forward multipliers (installed by apply and attach; model width={g.width}, "
            f"depth={g.depth}"
            + (f", head dim {g.head_dim}" if g.head_dim else "")
            + f" from the {g.size_source or 'nowhere'}):"
        )
        if plan.policy.values:
            given = ", ".join(f"{k}={v:g}" for k, v in plan.policy.values)
            lines.append(f"  (lets given at load time: {given})")
        for o in plan.outputs.values():
            where = f"{o.rule.loc.file}:{o.rule.loc.line}"
            part = o.where + (" (the query block of a fused projection)" if o.block else "")
            lines.append(f"  {o.layer or '(model)'}  {part} ×{o.value:.6g}  {where}")
    if plan.never_matched:
        lines.append("rules that matched nothing:")
        lines += [f"  {r.loc.file}:{r.loc.line}  {r.loc.text}" for r in plan.never_matched]
    if plan.always_overridden:
        lines.append("rules whose every match a later rule overrides:")
        lines += [f"  {r.loc.file}:{r.loc.line}  {r.loc.text}" for r in plan.always_overridden]
    return "\n".join(lines)


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, allow_nan=False)
