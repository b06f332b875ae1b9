"""Meta-device models: decide how every tensor gets a value, then materialize.

A model built under ``torch.device("meta")`` has shapes but no storage. Before any
memory is allocated, :func:`prepare` checks that every meta tensor will be written:
by a plan entry, by its owner's ``reset_running_stats``/``reset_parameters``, or by a
transformers model's own ``_init_weights(module)`` (which recomputes non-persistent
buffers such as rotary ``inv_freq``). Anything else (a ``keep`` rule, a module with no
way to initialize) is a PlanError and the model stays on meta.

:func:`materialize` then gives each distinct meta tensor one uninitialized tensor on the
target device, shared by all of its names, so ties survive (``Module.to_empty`` would
give each name its own tensor). Peak memory is the model's own size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, PlanError
from ..planner import Entry, Plan
from ..tracer import init_weights_owner as find_init_weights_owner
from ..tracer import reset_method

#: BatchNorm's statistics: reset_running_stats writes them (running_var = 1).
_STATS = ("running_mean", "running_var", "num_batches_tracked")


@dataclass
class Preparation:
    """What the applier runs on a materialized meta model before the plan's entries."""

    #: (module name, module, method name, caller) — caller is the module whose method
    #: runs (the module itself, or the transformers root for ``_init_weights``).
    resets: list[tuple[str, Any, str, Any]] = field(default_factory=list)
    #: Parameters the plan leaves alone (skipped, frozen): materialized as zeros.
    zero: list[str] = field(default_factory=list)
    #: Unmatched parameters initialized by their module's own method, for the report.
    defaulted: list[tuple[str, str]] = field(default_factory=list)


def tensors(model: Any) -> Iterator[tuple[str, Any, str, Any, bool]]:
    """(module name, module, attribute, tensor, is_parameter) for every tensor slot."""
    for mod_name, module in model.named_modules(remove_duplicate=False):
        for key, t in module._parameters.items():
            if t is not None:
                yield mod_name, module, key, t, True
        for key, t in module._buffers.items():
            if t is not None:
                yield mod_name, module, key, t, False


def is_meta(model: Any) -> bool:
    """Whether some parameter or buffer of ``model`` is on the meta device."""
    return any(t.is_meta for *_, t, _ in tensors(model))


def _qual(mod_name: str, key: str) -> str:
    return f"{mod_name}.{key}" if mod_name else key


def init_weights_owner(model: Any, mod_name: str) -> Any:
    """The nearest enclosing module with transformers' ``_init_weights(module)``, or None."""
    name = find_init_weights_owner(dict(model.named_modules()), mod_name)
    return None if name is None else model.get_submodule(name)


def prepare(plan: Plan, model: Any) -> Preparation:
    """How each meta tensor gets its value; PlanError (nothing allocated) if one cannot."""
    writes = _PlanWrites.of(plan)
    prep = Preparation()
    diags: list[Diagnostic] = []
    seen_resets: set[tuple[int, str]] = set()
    seen_tensors: set[int] = set()
    for mod_name, module, key, t, is_param in tensors(model):
        if not t.is_meta or id(t) in seen_tensors:
            continue
        seen_tensors.add(id(t))
        name = _qual(mod_name, key)
        if name in writes.keeps:
            diags.append(_kept_on_meta(name, writes.keeps[name]))
            continue
        if writes.covers(name):
            continue
        if name in writes.skipped:
            prep.zero.append(name)
            continue
        how = _owner_init(model, mod_name, module, key, is_param)
        if how is None:
            diags.append(_no_init(plan, name, module, key, is_param))
            continue
        method, caller = how
        if (id(module), method) not in seen_resets:
            seen_resets.add((id(module), method))
            prep.resets.append((mod_name, module, method, caller))
        if is_param:
            prep.defaulted.append((name, f"{type(caller).__name__}.{method}()"))
    if diags:
        raise PlanError(diags)
    return prep


@dataclass(frozen=True)
class _PlanWrites:
    """What the plan does to each tensor by name: writes it (whole, or through a
    parametrization whose stored tensors start with one of ``parametrized``), keeps it
    (the keeping entry), or skips it."""

    written: set[str]
    parametrized: list[str]
    keeps: dict[str, Entry]
    skipped: set[str]

    @classmethod
    def of(cls, plan: Plan) -> _PlanWrites:
        written: set[str] = set()
        parametrized: list[str] = []
        keeps: dict[str, Entry] = {}
        for e in plan.entries:
            names = {e.param.name, e.param.raw_name, *e.param.aliases} - {""}
            if e.spec.keeps:
                if e.block is None:
                    keeps.update(dict.fromkeys(names, e))
                continue
            if e.block is None:
                written |= names
            if e.param.parametrization is not None:
                # the stored originals (and spectral_norm's u, v) are written through it
                mod_name, _, local = (e.param.raw_name or e.param.name).rpartition(".")
                parametrized.append(f"{mod_name}.parametrizations.{local}." if mod_name else "")
                # the legacy weight_norm's g and v sit on the module itself
                written |= {f"{mod_name}.{s}" if mod_name else s for s in e.param.stored}
        skipped = {n for p, _ in plan.skipped for n in (p.name, p.raw_name, *p.aliases) if n}
        return cls(written, parametrized, keeps, skipped)

    def covers(self, name: str) -> bool:
        """Whether an entry writes the tensor ``name``."""
        return name in self.written or any(name.startswith(pre) for pre in self.parametrized if pre)


def _kept_on_meta(name: str, entry: Entry) -> Diagnostic:
    """A ``keep`` rule on a meta tensor: there is no value to keep."""
    loc = entry.rule.loc
    return Diagnostic(
        loc.file,
        loc.line,
        loc.column,
        f"{name}: keep cannot leave a meta tensor as it is: it has no value yet",
        " " * (loc.column - 1) + loc.text,
        hint="give it a scheme, or `default` for the module's own init",
    )


def _no_init(plan: Plan, name: str, module: Any, key: str, is_param: bool) -> Diagnostic:
    """A meta tensor that no rule writes and whose module has no init of its own."""
    what = "parameter" if is_param else "buffer"
    kind = type(module).__name__
    return Diagnostic(
        plan.policy.source,
        None,
        None,
        f"{name}: the model is on the meta device and this {what} of {kind} has no rule, "
        f"and {kind} has no reset_parameters() to give it a value",
        hint=f"add a rule for it, e.g. `{kind}.{key} -> zeros()`",
    )


def _owner_init(
    model: Any, mod_name: str, module: Any, key: str, is_param: bool
) -> tuple[str, Any] | None:
    if not is_param and key in _STATS and callable(getattr(module, "reset_running_stats", None)):
        return "reset_running_stats", module
    method = reset_method(module)
    if method:
        return method, module
    owner = init_weights_owner(model, mod_name)
    if owner is not None:
        return "_init_weights", owner
    return None


class Materialized:
    """Meta tensors replaced by real ones, with the means to put the meta ones back."""

    def __init__(self) -> None:
        self.replaced: list[tuple[Any, str, bool, Any]] = []
        self.new: dict[int, Any] = {}

    def undo(self) -> None:
        for module, key, is_param, old in self.replaced:
            (module._parameters if is_param else module._buffers)[key] = old


def materialize(model: Any, device: Any, zero: list[str]) -> Materialized:
    """Give every meta tensor uninitialized storage on ``device``; one per tensor, so a
    tensor tied under several names stays tied. ``zero`` names are zero-filled. A sharded
    model goes through ``to_empty`` instead
    (:func:`initpolicy.applier.sharded.materialize_sharded`; :mod:`.execute` chooses)."""
    import torch

    done = Materialized()
    zero_set = set(zero)
    for mod_name, module, key, t, is_param in list(tensors(model)):
        if not t.is_meta:
            continue
        new = done.new.get(id(t))
        if new is None:
            data = torch.empty_like(t, device=device)
            if _qual(mod_name, key) in zero_set:
                data.zero_()
            new = torch.nn.Parameter(data, requires_grad=t.requires_grad) if is_param else data
            done.new[id(t)] = new
        (module._parameters if is_param else module._buffers)[key] = new
        done.replaced.append((module, key, is_param, t))
    return done


def meta_copy(model: Any) -> Any:
    """A deep copy of ``model`` whose parameters and buffers are on the meta device: the
    structure of a model too large to copy, at no memory cost (a policy's values are then
    materialized one part at a time, :mod:`initpolicy.applier.partial`)."""
    import copy

    import torch

    memo: dict[int, Any] = {}
    for *_, t, is_param in tensors(model):
        if id(t) in memo:
            continue
        data = torch.empty_like(t, device="meta")
        memo[id(t)] = torch.nn.Parameter(data, requires_grad=t.requires_grad) if is_param else data
    # a tensor a forward left on a module (RAFT keeps computed tensors in a list) is no
    # graph leaf, which deepcopy refuses: on the copy it is a meta tensor of its shape
    for m in model.modules():
        for value in vars(m).values():
            for t in value if isinstance(value, list | tuple) else (value,):
                if isinstance(t, torch.Tensor) and id(t) not in memo and not t.is_leaf:
                    memo[id(t)] = torch.empty_like(t.detach(), device="meta")
    return copy.deepcopy(model, memo)
