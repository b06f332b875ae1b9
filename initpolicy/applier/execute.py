"""Execute a plan: write every tensor, reproducibly and atomically, and report.

Order of work: trace, plan (validates everything; raises before any write), on a meta
model check that every tensor will get a value and only then allocate it, run the
module-level inits (``default`` rules; on meta also buffers and unmatched parameters),
then the rules' writes, each tensor from its own generator.

Atomicity. A plan error leaves the model untouched because validation is complete
before the first write. Against an unexpected failure while writing, a real model keeps
a copy of each tensor just before its first write (lazily, so the extra memory is the
tensors written so far, at most the model's size) and copies them back; a meta model
needs no copy: the materialized tensors are swapped back for the original meta ones.
Compute-then-swap would cost the same memory on real models and would replace the
Parameter objects an optimizer may already hold, so in-place writes it is.

>>> import initpolicy
>>> report = initpolicy.apply(model, "relu_net", seed=0)   # doctest: +SKIP
>>> print(report)                                          # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..planner.plan import Entry, Plan
from ..tracer.graph import tensor_facts
from ..tracer.layers import reset_method
from . import streams as seeding
from .meta import Preparation, init_weights_owner, is_meta, materialize, prepare
from .report import Report, ReportEntry

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["Report", "execute"]


def execute(plan: Plan, model: Any, *, device: Any = None) -> Report:
    """Write ``plan`` into ``model`` (the Plan must come from this model's trace)."""
    import torch

    meta = is_meta(model)
    prep = prepare(plan, model) if meta else Preparation()
    slots = {id(e): _tensor(model, e) for e in plan.entries}
    writer = _Writer(keep_originals=not meta)
    done = None
    try:
        with torch.no_grad():
            if meta:
                done = materialize(model, torch.device(device or "cpu"), prep.zero)
                slots = {k: done.new.get(id(t), t) for k, t in slots.items()}
            elif device is not None:
                model.to(device)
                slots = {id(e): _tensor(model, e) for e in plan.entries}
            _module_inits(plan, model, prep, slots, writer)
            for e in plan.entries:
                if e.scheme not in ("default", "keep"):
                    _write(plan.seed, e, slots[id(e)], writer)
            entries = [ReportEntry(e, _measure(_written(e, slots[id(e)]))) for e in plan.entries]
    except BaseException:
        if done is not None:
            done.undo()
        writer.rollback()
        raise
    dev = str(torch.device(device or "cpu")) if meta else None
    return Report(plan=plan, entries=entries, defaulted=prep.defaulted, materialized_on=dev)


# ---------------------------------------------------------------------------- writes


class _Writer:
    """Keeps each tensor's value from before its first write, to restore on failure."""

    def __init__(self, keep_originals: bool):
        self.keep = keep_originals
        self.originals: dict[int, tuple[Any, Any]] = {}

    def touch(self, t: Any) -> None:
        if self.keep and id(t) not in self.originals:
            self.originals[id(t)] = (t, t.detach().clone())

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
        return model.get_submodule(mod_name).parametrizations[local]
    try:
        module = model.get_submodule(mod_name)
        return getattr(module, local)
    except AttributeError:
        module = e.layer.module
        if module is None:
            raise
        return getattr(module, e.param.local)


def _written(e: Entry, t: Any) -> Any:
    """What an entry wrote, to measure: the computed weight of a parametrization."""
    if e.param.parametrization is None:
        return _region(e, t)
    if e.param.parametrization == "weight_norm":
        import torch

        return torch._weight_norm(t.original1, t.original0, t[0].dim)
    # spectral_norm: the stored weight, which is the draw (computing the normalized one in
    # training mode would advance the power iteration)
    return max(
        (q for q in t._parameters.values() if q is not None), key=lambda q: (q.dim(), q.numel())
    )


def _region(e: Entry, t: Any) -> Any:
    if e.block is None:
        return t
    b = e.param.blocks[e.block]
    return t.narrow(0, b.start, b.stop - b.start)


def _generator(seed: int, e: Entry) -> torch.Generator:
    import torch

    # init.fill_ samples on the CPU, so a tensor gets the same values on any device
    g = torch.Generator()
    parts = (e.param.name,) if e.block is None else (e.param.name, e.block)
    g.manual_seed(seeding.derive(seed, *parts))
    return g


def _write(seed: int, e: Entry, t: Any, writer: _Writer) -> None:
    from .fill import fill_

    if e.param.parametrization is not None:
        _write_parametrized(seed, e, t, writer)
        return
    writer.touch(t)
    fan_in, fan_out, _ = tensor_facts(e.param, e.param.blocks[e.block] if e.block else None)
    fill_(
        _region(e, t),
        e.scheme,
        e.args,
        fan_in=fan_in,
        fan_out=fan_out,
        generator=_generator(seed, e),
    )
    if e.block is None and e.param.local == "weight":
        _zero_padding_row(e, t)


def _write_parametrized(seed: int, e: Entry, plist: Any, writer: _Writer) -> None:
    """Draw the weight by the rule with the owner's fans, then store it through the
    parametrization's right_inverse: weight_norm gets v = the draw and g = ||v|| along its
    dim (so the computed weight is the draw); spectral_norm's ``original`` is the draw (the
    computed weight is the draw over its largest singular value), and its power-iteration
    vectors u, v restart from the rule's generator, so the result is reproducible."""
    import torch

    from .fill import fill_

    stored = [t for t in plist._parameters.values() if t is not None]
    for t in stored:
        writer.touch(t)
    main = max(stored, key=lambda t: (t.dim(), t.numel()))
    draw = torch.empty_like(main)
    generator = _generator(seed, e)
    fill_(
        draw, e.scheme, e.args, fan_in=e.param.fan_in, fan_out=e.param.fan_out, generator=generator
    )
    value: Any = draw
    for m in reversed(plist):
        value = m.right_inverse(value)
    for i, part in enumerate((value,) if isinstance(value, torch.Tensor) else value):
        name = "original" if isinstance(value, torch.Tensor) else f"original{i}"
        getattr(plist, name).copy_(part)
    sn = plist[0]
    if e.param.parametrization == "spectral_norm" and hasattr(sn, "_u"):
        writer.touch(sn._u)
        writer.touch(sn._v)
        for vec in (sn._u, sn._v):
            fresh = torch.randn(vec.shape, generator=generator, dtype=torch.float32)
            vec.copy_(torch.nn.functional.normalize(fresh, dim=0, eps=sn.eps))
        sn._power_method(sn._reshape_weight_to_matrix(plist.original), 15)


def _zero_padding_row(e: Entry, t: Any) -> None:
    """nn.Embedding's padding_idx row is zero by contract (its gradient is always 0)."""
    module = e.layer.module
    idx = getattr(module, "padding_idx", None)
    if idx is None or "Embedding" not in " ".join(e.layer.types) or t.ndim != 2:
        return
    t[idx].zero_()


def _module_inits(
    plan: Plan, model: Any, prep: Preparation, slots: dict[int, Any], writer: _Writer
) -> None:
    """The modules' own methods: ``default`` rules, and on meta what no rule writes.
    Each runs under a forked RNG seeded from (seed, module name); tensors of the module
    that must keep their values are put back afterwards."""
    import torch

    runs: dict[int, tuple[str, Any, str, Any]] = {}
    for e in plan.entries:
        if e.scheme == "default" and e.layer.module is not None:
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
    rewritten = {id(slots[id(e)]) for e in plan.entries if e.block is None and e.scheme != "keep"}
    for mod_name, module, method, caller in runs.values():
        own = [
            t for t in (*module._parameters.values(), *module._buffers.values()) if t is not None
        ]
        for t in own:
            writer.touch(t)
        # fork (and so restore) the RNG of every CUDA device the module lives on, too
        cuda = sorted({t.device.index or 0 for t in own if t.device.type == "cuda"})
        with torch.random.fork_rng(devices=cuda):
            torch.manual_seed(seeding.derive(plan.seed, mod_name, "default"))
            if method == "_init_weights":
                caller._init_weights(module)
            else:
                getattr(module, method)()
        if writer.keep:  # a real model: what no rule writes keeps its value
            for t in own:
                if id(t) not in rewritten:
                    t.copy_(writer.originals[id(t)][1])


#: Tensors larger than this are measured on a sample: 64 evenly spaced runs of 1024
#: contiguous elements. Contiguous runs touch few pages (a strided sample of the same size
#: touches one page per element), so measuring costs microseconds, not a pass over the
#: model; the std of 2^16 values is within ~0.5% of the tensor's.
MEASURE_SAMPLES = 1 << 16
_RUNS = 64


def _measure(t: Any) -> float | None:
    """The std of the values written (0 for a single element, None for an empty tensor)."""
    n = t.numel()
    if n < 2 or not t.is_floating_point():
        return 0.0 if n else None
    import numpy as np

    flat = t.detach().reshape(-1)
    if n > MEASURE_SAMPLES:
        size = MEASURE_SAMPLES // _RUNS
        flat = flat.unfold(0, size, (n - size) // (_RUNS - 1))[:_RUNS]
    # numpy, single-threaded: torch would split this small reduction over its thread pool,
    # whose barrier costs more than the arithmetic on a busy machine
    values = flat.float().cpu().numpy()
    return float(np.std(values, ddof=1, dtype=np.float64))
