"""Execute a plan: write every tensor, reproducibly and atomically, and report.

Order of work: trace, plan (validates everything; raises before any write), on a meta
model check that every tensor will get a value and only then allocate it, run the
module-level inits (``default`` rules; on meta also buffers and unmatched parameters),
then the rules' writes: each tensor's stream (layout v1, :mod:`initpolicy.applier.streams`)
drawn tile by tile on a pool of threads (:mod:`initpolicy.applier.writes`), then the
Report's measurement (:mod:`initpolicy.applier.measure`).

Atomicity. A plan error leaves the model untouched because validation is complete
before the first write. Against an unexpected failure while writing, a real model keeps
a copy of each tensor just before its first write (lazily, so the extra memory is the
tensors written so far, at most the model's size) and copies them back; a meta model
needs no copy: the materialized tensors are swapped back for the original meta ones.
Compute-then-swap would cost the same memory on real models and would replace the
Parameter objects an optimizer may already hold, so in-place writes it is. On a sharded
model every rank does the same, for its shards; the Report's one collective also tells
every rank whether another failed, and then all undo and raise.

>>> import initpolicy
>>> report = initpolicy.apply(model, "relu_net", seed=0)   # doctest: +SKIP
>>> print(report)                                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any

from ..errors import PlanError, TargetError, UsageError
from ..planner import Entry, Plan, diagnostic
from ..shards import is_sharded, local_tensor
from ..tracer import legacy_weight_norm, reset_method
from .devices import move, target_device
from .measure import measure_local, measure_whole
from .meta import Preparation, init_weights_owner, is_meta, materialize, prepare
from .pool import check_threads, gc_paused
from .report import Report, ReportEntry
from .sharded import materialize_sharded, whole_stand_ins
from .streams import derive
from .writes import write_all

__all__ = ["Report", "execute"]


def execute(
    plan: Plan,
    model: Any,
    *,
    device: Any = None,
    threads: int | None = None,
    calibrating: bool = False,
) -> Report:
    """Write ``plan`` into ``model`` (the Plan must come from this model's trace).

    ``device``: where a meta model is materialized (default cpu), or where a real model is
    moved first; the move is undone if anything after it fails, and ``meta`` is refused.
    ``threads``: how many threads draw tiles (default: torch's intra-op thread count).
    On a sharded model every rank calls this with the same plan; see docs/distributed.md."""
    import torch

    threads = check_threads(threads)
    if not calibrating:
        _refuse_calibrations(plan)
    _check_writable(model)
    target = target_device(device)
    meta = is_meta(model)
    prep = prepare(plan, model) if meta else Preparation()
    slots = {id(e): _tensor(model, e) for e in plan.entries}
    writer = _Writer(keep_originals=not meta)
    done = moved = None
    local = None
    error: BaseException | None = None
    try:
        with torch.no_grad(), gc_paused():
            if meta:
                fill = materialize_sharded if is_sharded(model) else materialize
                done = fill(model, target or torch.device("cpu"), prep.zero)
                slots = {k: done.new.get(id(t), t) for k, t in slots.items()}
            elif target is not None:
                moved = move(model, target)
                slots = {id(e): _tensor(model, e) for e in plan.entries}
            _module_inits(plan, model, prep, slots, writer)
            write_all(plan, slots, writer.touch, threads)
            local = measure_local(plan, slots)
    except BaseException as e:
        error = e
    try:  # on a sharded model, the one collective: every rank learns who failed
        measured = measure_whole(plan, slots, local)
    except BaseException as e:
        error = error or e
    if error is not None:
        if done is not None:
            done.undo()
        writer.rollback()
        if moved is not None:
            moved.undo()
        raise error
    entries = [ReportEntry(e, std) for e, std in zip(plan.entries, measured, strict=True)]
    dev = str(target or torch.device("cpu")) if meta else None
    return Report(plan=plan, entries=entries, defaulted=prep.defaulted, materialized_on=dev)


def _refuse_calibrations(plan: Plan) -> None:
    """A calibration (``lsuv``) rescales on data; applied without data, its weights would
    silently be the inner scheme's. Refused, at each rule, with the two ways to give data."""
    rules = {id(e.rule): e for e in plan.entries if e.calibration is not None}
    if not rules:
        return
    diags = [
        diagnostic(
            e.rule,
            f"{e.rule.scheme.name} calibrates {e.name} on data, and none was given",
            "initpolicy calibrate TARGET --policy P --data FILE -o calibrated.pol, or "
            "initpolicy.calibrate(model, policy, data); then apply calibrated.pol "
            "(it replays the calibration without data)",
        )
        for e in rules.values()
    ]
    raise PlanError(diags)


def _check_writable(model: Any) -> None:
    """A TorchScript module has no get_submodule, parametrizations or reset_parameters to
    write through: refused with what to do instead."""
    import torch

    if isinstance(model, torch.jit.ScriptModule):
        raise UsageError(
            f"{type(model).__name__} is a TorchScript module (torch.jit.script or trace), "
            "which initpolicy cannot write: apply the policy to the nn.Module before "
            "scripting it (the scripted module shares its tensors)"
        )


# ---------------------------------------------------------------------------- writes


class _Writer:
    """Keeps each tensor's value from before its first write, to restore on failure."""

    def __init__(self, keep_originals: bool):
        self.keep = keep_originals
        self.originals: dict[int, tuple[Any, Any]] = {}

    def touch(self, t: Any) -> None:
        t = local_tensor(t)  # a shard is restored in place, where FSDP2 keeps it
        if self.keep and id(t) not in self.originals:
            self.originals[id(t)] = (t, t.detach().clone())

    def restore(self, t: Any) -> None:
        t = local_tensor(t)
        t.copy_(self.originals[id(t)][1])

    def rollback(self) -> None:
        import torch

        with torch.no_grad():
            for t, old in self.originals.values():
                t.copy_(old)
        self.originals.clear()


def _tensor(model: Any, e: Entry) -> Any:
    """The tensor an entry writes, found by its attribute path on the model (for a
    parametrized weight: its ParametrizationList, which holds the stored originals)."""
    path = e.param.raw_name or e.param.name
    mod_name, _, local = path.rpartition(".")
    if e.param.parametrization is not None:
        owner = model.get_submodule(mod_name)
        # the legacy weight_norm keeps its g and v on the module itself
        return owner if legacy_weight_norm(owner, local) else owner.parametrizations[local]
    try:
        module = model.get_submodule(mod_name)
        return getattr(module, local)
    except AttributeError:
        module = e.layer.module
        if module is None:
            raise
        return getattr(module, e.param.local)


def _module_inits(
    plan: Plan, model: Any, prep: Preparation, slots: dict[int, Any], writer: _Writer
) -> None:
    """The modules' own methods: ``default`` rules, and on meta what no rule writes.
    Each runs under a forked RNG seeded from (seed, module name); tensors of the module
    that must keep their values are put back afterwards. A module's DTensors are whole
    stand-ins while its method runs (:func:`~initpolicy.applier.sharded.whole_stand_ins`)."""
    import torch

    runs: dict[int, tuple[str, Any, str, Any]] = {}
    for e in plan.entries:
        if e.spec.runs_module_init and e.layer.module is not None:
            module = e.layer.module
            method = reset_method(module)
            if method:
                runs[id(module)] = (e.layer.name, module, method, module)
            elif e.param.kind == "buffer" and hasattr(module, "reset_running_stats"):
                runs[id(module)] = (e.layer.name, module, "reset_running_stats", module)
            else:
                owner = init_weights_owner(model, e.layer.name) or model
                runs[id(module)] = (e.layer.name, module, "_init_weights", owner)
    for mod_name, module, method, caller in prep.resets:
        runs.setdefault(id(module), (mod_name, module, method, caller))
    if not runs:
        return
    rewritten = {id(slots[id(e)]) for e in plan.entries if e.block is None and not e.spec.keeps}
    for mod_name, module, method, caller in runs.values():
        own = [
            t for t in (*module._parameters.values(), *module._buffers.values()) if t is not None
        ]
        for t in own:
            writer.touch(t)
        # fork (and so restore) the RNG of every CUDA device the module lives on, too
        cuda = sorted({t.device.index or 0 for t in own if t.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda), whole_stand_ins(module):
            torch.manual_seed(derive(plan.seed, mod_name, "default"))
            try:
                if method == "_init_weights":
                    caller._init_weights(module)
                else:
                    getattr(module, method)()
            except Exception as e:  # the model's own code: its error, not initpolicy's
                what = f"_init_weights({mod_name})" if method == "_init_weights" else method
                raise TargetError(
                    f"{mod_name or 'the model'}'s own {what}() raised {type(e).__name__}: {e} "
                    "(a default() rule runs it); nothing was changed"
                ) from None
        if writer.keep:  # a real model: what no rule writes keeps its value
            for t in own:
                if id(t) not in rewritten:
                    writer.restore(t)
