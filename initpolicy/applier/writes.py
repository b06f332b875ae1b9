"""The rules' writes: every plan entry as tasks over the values this process holds
(all of a plain tensor; a rank's shard of a DTensor), run concurrently in one pool.

An entry writes its stream (the tensor's, or its block's) at the global indices of the
values held here: a plain tensor is one region, a shard its rows and columns
(:func:`initpolicy.shards.dtensor.local_view`), a block's rows intersected with them. Tasks
of different entries run concurrently, so a tensor rule followed by a block rule on the
same tensor writes only the rows no later entry writes (:func:`visible_rows`): no two
tasks write the same element and the order of completion changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..catalog import SCHEMES
from ..planner import Entry, Plan
from ..shards import as_matrix, clip, index_len, local_view, region_matrix
from ..tracer import block_of, legacy_weight_norm, tensor_facts
from .mapping import elementwise
from .pool import Task, TaskPool
from .regions import draw_region, stream_tasks
from .streams import derive

Rows = tuple[int, int] | None


def write_all(plan: Plan, slots: dict[int, Any], touch: Any, threads: int | None) -> None:
    """Write every entry that has a scheme; ``touch(t)`` is called on each tensor before
    its first write (the rollback copy). Coupled schemes are queued first: a whole-matrix
    QR must not be the last task to start."""
    visible = visible_rows(plan.entries)
    order = sorted(range(len(plan.entries)), key=lambda k: _tiled(plan.entries[k]))
    with TaskPool(threads) as pool:
        for k in order:
            e = plan.entries[k]
            if not e.spec.writes_values:
                continue
            t = slots[id(e)]
            if e.param.parametrization is not None:
                write_parametrized(plan.seed, e, t, touch)
                continue
            touch(t)
            for rows in visible[k]:
                pool.add(entry_tasks(plan.seed, e, t, rows))
    for k, e in enumerate(plan.entries):
        if e.scale is not None:
            for rows in visible[k]:
                scale_entry(e, slots[id(e)], e.scale, rows)
        if e.transform is not None:
            for rows in visible[k]:
                map_entry(e, slots[id(e)], rows)
    for e in plan.entries:
        if e.block is None and e.param.local == "weight" and e.spec.writes_values:
            zero_padding_row(e, slots[id(e)])


def scale_entry(e: Entry, t: Any, factor: float, rows: Rows = None) -> None:
    """Multiply the values of entry ``e`` held here (its rows of ``t``, or ``rows``) by
    ``factor``, in place: ``scaled(SCHEME, factor)``, and what a calibration writes. One
    elementwise multiply in the tensor's dtype, the same on every shard and in every
    replay, so a replayed calibration is bit-identical to the calibrated weights."""
    local, idx = local_view(t)
    if local.dim() == 0:
        local.mul_(factor)
        return
    lo, hi = _span(e) if rows is None else rows
    pos, _ = clip(idx[0], lo, hi)
    local[pos].mul_(factor)


def map_entry(e: Entry, t: Any, rows: Rows = None) -> None:
    """Write the values of entry ``e`` held here (its rows of ``t``, or ``rows``) through
    its element-wise map, in place: ``mapped(SCHEME, fn)``. The map's operations run in the
    order the expression nests them, each in the tensor's dtype, as the model's own code
    ran them in place (``log_().mul_(0.5)...``): the same draw gives the same bits."""
    assert e.transform is not None
    local, idx = local_view(t)
    if local.dim() == 0:
        local.copy_(elementwise(e.transform, local))
        return
    lo, hi = _span(e) if rows is None else rows
    pos, _ = clip(idx[0], lo, hi)
    local[pos] = elementwise(e.transform, local[pos])


def _tiled(e: Entry) -> bool:
    s = SCHEMES.get(e.scheme)
    return s is None or s.elementwise


def entry_tasks(seed: int, e: Entry, t: Any, rows: Rows = None) -> list[Task]:
    """Tasks writing entry ``e`` into the values of ``t`` held here; ``rows``: only these
    global rows of the tensor (None: all the entry covers)."""
    local, idx = local_view(t)
    if not local.is_contiguous():  # a view the (rows, cols) matrix cannot see in place
        return [Task(lambda: local.copy_(_drawn(seed, e, local, idx, rows)))]
    return _tasks(seed, e, as_matrix(local), idx, rows)


def _tasks(seed: int, e: Entry, dest: Any, idx: list[Any], rows: Rows) -> list[Task]:
    block = block_of(e.param, e.block)
    fan_in, fan_out, shape = tensor_facts(e.param, block)
    if rows is not None:
        pos, _ = clip(idx[0], *rows)
        dest, idx = dest[pos], [idx[0][pos], *idx[1:]]
    if block is not None:  # the block is its own stream: its rows, in its coordinates
        pos, rel = clip(idx[0], block.start, block.stop)
        dest, idx = dest[pos], [rel, *idx[1:]]
    if block is not None and block.expert:  # one expert: its own (out, in) matrix
        if index_len(idx[0]) == 0:
            return []
        idx = idx[1:]
        r, c = region_matrix(shape, idx)
        dest = dest.view(index_len(r), index_len(c))
    else:
        r, c = region_matrix(shape, idx)
    return stream_tasks(
        dest, e.scheme, e.args, fan_in=fan_in, fan_out=fan_out, shape=shape, rows=r, cols=c,
        seed=seed, parts=(e.param.name,) if e.block is None else (e.param.name, e.block),
    )  # fmt: skip


def _drawn(seed: int, e: Entry, local: Any, idx: list[Any], rows: Rows) -> Any:
    """For a destination that is not contiguous: the values into a contiguous copy."""
    out = local.contiguous()
    with TaskPool(1) as pool:
        pool.add(_tasks(seed, e, as_matrix(out), idx, rows))
    return out


def visible_rows(entries: Sequence[Entry]) -> list[list[Rows]]:
    """For each entry, the global row spans of its tensor that it writes and no later
    entry of the same tensor writes again: ``[None]`` all it covers, ``[]`` nothing.

    A tensor rule then a ``[forget]`` rule: the tensor rule writes the other gates' rows."""
    out: list[list[Rows]] = []
    for k, e in enumerate(entries):
        if not e.spec.writes_values:
            out.append([])
            continue
        spans = [_span(e)]
        for later in entries[k + 1 :]:
            if later.param.name == e.param.name and later.spec.writes_values:
                a, z = _span(later)
                spans = [
                    p
                    for lo, hi in spans
                    for p in ((lo, min(hi, a)), (max(lo, z), hi))
                    if p[0] < p[1]
                ]
        out.append([None] if spans == [_span(e)] else list(spans))
    return out


def _span(e: Entry) -> tuple[int, int]:
    b = block_of(e.param, e.block)
    if b is not None:
        return b.start, b.stop
    return 0, e.param.shape[0] if e.param.shape else 1


def write_parametrized(seed: int, e: Entry, plist: Any, touch: Any) -> None:
    """Draw the weight by the rule with the owner's fans, then store it through the
    parametrization's right_inverse: weight_norm gets v = the draw and g = ||v|| along its
    dim (so the computed weight is the draw); spectral_norm's ``original`` is the draw (the
    computed weight is the draw over its largest singular value), and its power-iteration
    vectors u, v restart from their own key (seed, name, "power_iteration"), so the
    result is reproducible."""
    import torch

    if legacy_weight_norm(plist, e.param.local) is not None:
        write_legacy_weight_norm(seed, e, plist, touch)
        return
    stored = [t for t in plist._parameters.values() if t is not None]
    for t in stored:
        touch(t)
    main = max(stored, key=lambda t: (t.dim(), t.numel()))
    draw = draw_region(
        e.scheme, e.args, fan_in=e.param.fan_in, fan_out=e.param.fan_out,
        shape=tuple(main.shape), seed=seed, name=e.param.name,
    )  # fmt: skip
    value: Any = draw
    for m in reversed(plist):
        value = m.right_inverse(value)
    for i, part in enumerate((value,) if isinstance(value, torch.Tensor) else value):
        name = "original" if isinstance(value, torch.Tensor) else f"original{i}"
        getattr(plist, name).copy_(part)
    sn = plist[0]
    if e.param.parametrization == "spectral_norm" and hasattr(sn, "_u"):
        touch(sn._u)
        touch(sn._v)
        g = torch.Generator().manual_seed(derive(seed, e.param.name, "power_iteration"))
        for vec in (sn._u, sn._v):
            fresh = torch.randn(vec.shape, generator=g, dtype=torch.float32)
            vec.copy_(torch.nn.functional.normalize(fresh, dim=0, eps=sn.eps))
        sn._power_method(sn._reshape_weight_to_matrix(plist.original), 15)


def write_legacy_weight_norm(seed: int, e: Entry, module: Any, touch: Any) -> None:
    """The legacy torch.nn.utils.weight_norm: v = the draw and g = ||v|| along its dim, as
    its own WeightNorm.apply does, so the computed weight (refreshed here, and by the hook
    before each forward) is the draw."""
    import torch

    hook = legacy_weight_norm(module, e.param.local)
    g, v = (getattr(module, f"{e.param.local}_{part}") for part in ("g", "v"))
    touch(g)
    touch(v)
    draw = draw_region(
        e.scheme, e.args, fan_in=e.param.fan_in, fan_out=e.param.fan_out,
        shape=tuple(v.shape), seed=seed, name=e.param.name,
    )  # fmt: skip
    v.copy_(draw)
    g.copy_(torch.norm_except_dim(draw, 2, hook.dim))
    setattr(module, e.param.local, hook.compute_weight(module))


def zero_padding_row(e: Entry, t: Any) -> None:
    """nn.Embedding's padding_idx row is zero by contract (its gradient is always 0);
    on a shard, wherever this rank holds it."""
    idx = getattr(e.layer.module, "padding_idx", None)
    if idx is None or "Embedding" not in " ".join(e.layer.types) or len(e.param.shape) != 2:
        return
    local, where = local_view(t)
    pos, _ = clip(where[0], idx, idx + 1)
    local[pos].zero_()
