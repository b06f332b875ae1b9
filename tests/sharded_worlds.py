"""Run every case of tests/sharded_cases.py in gloo worlds of CPU processes on loopback.

    python tests/sharded_worlds.py OUTDIR 1 2 3 4

For each world size, ranks are forked from this process after it has imported torch,
transformers and initpolicy (and before it ran any parallel torch op), which saves the
imports in every rank. Rank 0 writes OUTDIR/w<N>.pt: per case the gathered
``full_tensor()`` of every parameter and buffer and what the tests check on the live
sharded model (collectives while planning, applying and linting; placements; the
Report; explain; lint; elements drawn per shard; ties), and the outcome of an injected
failure. Worlds 2-4 also run the tensor-parallel cases: on a 1 x N (dp x tp) mesh, and
at 4 on 2 x 2 (FSDP x TP).
"""

from __future__ import annotations

import os
import socket
import sys
import time
import warnings
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

_COLLECTIVES = (
    "all_gather",
    "all_gather_into_tensor",
    "all_gather_object",
    "all_reduce",
    "broadcast",
    "reduce_scatter_tensor",
    "all_to_all_single",
    "barrier",
)


class CollectiveSpy:
    """Records the torch.distributed collectives called while active (FSDP2, DTensor and
    tensor parallel call them through the module attributes patched here)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self) -> CollectiveSpy:
        import torch.distributed as dist
        import torch.distributed.distributed_c10d as c10d

        for mod in (dist, c10d):
            for name in _COLLECTIVES:
                real = getattr(mod, name, None)
                if real is None:
                    continue
                self.saved.append((mod, name, real))

                def spy(*a: Any, _n: str = name, _f: Any = real, **k: Any) -> Any:
                    self.calls.append(_n)
                    return _f(*a, **k)

                setattr(mod, name, spy)
        return self

    def __exit__(self, *exc: Any) -> None:
        for mod, name, real in self.saved:
            setattr(mod, name, real)


def _full(t: Any) -> Any:
    from initpolicy.shards.dtensor import is_dtensor

    # clone: on a 1-rank mesh full_tensor() may be the local tensor itself
    return t.full_tensor().clone() if is_dtensor(t) else t.detach().clone()


def _drawn(plan: Any, model: Any) -> list[tuple[Any, ...]]:
    """Per elementwise entry: the shard's global (start, stop) per dim and the elements
    its tasks draw (the tasks are made, not run)."""
    from initpolicy.applier.execution import _tensor
    from initpolicy.applier.writes import entry_tasks
    from initpolicy.catalog.schemes import SCHEMES
    from initpolicy.shards.dtensor import local_view

    out = []
    for e in plan.entries:
        if e.scheme in ("default", "keep") or not SCHEMES[e.scheme].elementwise:
            continue
        if SCHEMES[e.scheme].value is not None:
            continue
        t = _tensor(model, e)
        _, idx = local_view(t)
        block = e.param.blocks[e.block] if e.block else None
        rows = None if block is None else (block.start, block.stop)
        spans = [(i.start, i.stop) if isinstance(i, range) else None for i in idx]
        drawn = sum(task.drawn for task in entry_tasks(plan.seed, e, t))
        out.append((e.name, tuple(e.param.shape), rows, spans, drawn))
    return out


def run_case(name: str, mesh: Any, rank: int) -> dict[str, Any]:
    import torch

    import initpolicy
    from initpolicy.applier.report import plan_json, plan_text
    from tests import sharded_cases as cases

    case = cases.CASES[name]
    model = cases.build(case)
    (cases.shard_tp if case.shard == "tp" else cases.shard_fsdp)(model, mesh)
    meta = case.meta
    if case.to_empty_first:
        model.to_empty(device="cpu")
        meta = False
    policy = initpolicy.load(case.policy)
    info: dict[str, Any] = {}
    with CollectiveSpy() as spy:
        plan = policy.plan(model, seed=cases.SEED)
    info["plan_collectives"] = spy.calls
    info["still_meta"] = all(p.is_meta for p in model.parameters()) if meta else None
    info["explain"] = plan_text(plan)
    info["explain_json"] = {p["name"]: p.get("placement") for p in plan_json(plan)["parameters"]}
    info["drawn"] = _drawn(plan, model)
    with CollectiveSpy() as spy:
        report = policy.apply(model, seed=cases.SEED, threads=2)
    info["apply_collectives"] = spy.calls
    info["report"] = str(report)
    info["measured"] = {e.name: e.measured_std for e in report.entries}
    info["placements"] = {e.name: e.entry.param.placement for e in report.entries}
    with CollectiveSpy() as spy:
        result = initpolicy.lint(model)
    info["lint_collectives"] = spy.calls
    info["lint"] = [(f.code, f.target) for f in result.findings]
    info["lint_dynamic"] = result.summary["dynamic"]
    from initpolicy.linter.subject import subjects

    info["lint_stats"] = {s.name: s.stats for s in subjects(result.graph, model)}
    try:
        initpolicy.lint(model, policy=policy)
    except initpolicy.UsageError as e:
        info["lint_with_policy"] = str(e)
    if hasattr(model, "lm_head"):
        info["tied"] = model.lm_head.weight is model.get_input_embeddings().weight
    full = {n: _full(p) for n, p in model.named_parameters(remove_duplicate=False)}
    full.update({f"buffer:{n}": _full(b) for n, b in model.named_buffers()})
    info["full"] = full if rank == 0 else None
    del model
    torch.distributed.barrier()
    return info


def unsharded_collectives() -> list[str]:
    """A plain model in a process group (DDP's case: any rank may apply or lint it
    alone): the collectives apply and lint call."""
    import initpolicy
    from tests import sharded_cases as cases

    case = cases.CASES["mlp_real"]
    model = cases.build(case)
    with CollectiveSpy() as spy:
        initpolicy.apply(model, case.policy, seed=cases.SEED)
        initpolicy.lint(model)
    return spy.calls


def inject_failure(mesh: Any, rank: int, world: int, meta: bool) -> tuple[str, bool]:
    """Apply with an error on the last rank only: (what this rank raised, whether its
    shards are back to their values before apply, or the model back on meta)."""
    import torch

    import initpolicy
    from initpolicy.applier import writes
    from tests import sharded_cases as cases

    case = cases.CASES["mlp_meta" if meta else "mlp_real"]
    model = cases.shard_fsdp(cases.build(case), mesh)
    before = {n: p._local_tensor.clone() for n, p in model.named_parameters()}
    real = writes.zero_padding_row

    def boom(*a: Any, **k: Any) -> None:
        raise ValueError("injected on the last rank")

    if rank == world - 1:
        writes.zero_padding_row = boom
    try:
        initpolicy.apply(model, case.policy, seed=cases.SEED)
        outcome = "no error"
    except Exception as e:
        outcome = f"{type(e).__name__}: {e}"
    finally:
        writes.zero_padding_row = real
    if meta:
        restored = all(p.is_meta for p in model.parameters())
    else:
        restored = all(torch.equal(p._local_tensor, before[n]) for n, p in model.named_parameters())
    return outcome, restored


# ------------------------------------------------------------------ the process-group harness


def init_rank(rank: int, world: int, port: int) -> None:
    """Join this world's gloo group on loopback as ``rank`` (one torch thread)."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.filterwarnings("ignore")
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)


def run_worlds(worker: Any, out: str, worlds: list[str]) -> None:
    """For each world size, fork that many ranks of ``worker(rank, world, port, path)``
    (``path`` is ``out/w<N>.pt``, which rank 0 writes) on a free loopback port. Import
    what the ranks need before calling: the forks inherit it."""
    import torch.multiprocessing as mp

    for spec in worlds:
        world = int(spec)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        start = time.perf_counter()
        path = os.path.join(out, f"w{world}.pt")
        mp.start_processes(worker, args=(world, port, path), nprocs=world, start_method="fork")
        print(f"world {world}: {time.perf_counter() - start:.1f} s", flush=True)


# ------------------------------------------------------------------------------ the worker


def worker(rank: int, world: int, port: int, out: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh

    from tests import sharded_cases as cases

    init_rank(rank, world, port)
    results: dict[str, Any] = {}
    start = time.perf_counter()
    try:
        mesh1 = init_device_mesh("cpu", (world,), mesh_dim_names=("dp",))
        dp = 2 if world == 4 else 1
        mesh2 = init_device_mesh("cpu", (dp, world // dp), mesh_dim_names=("dp", "tp"))
        for name, case in cases.CASES.items():
            if case.shard == "tp" and world == 1:
                continue
            results[name] = run_case(name, mesh2 if case.shard == "tp" else mesh1, rank)
        results["_unsharded_collectives"] = unsharded_collectives()
        for meta in (False, True):
            outcome = inject_failure(mesh1, rank, world, meta)
            gathered: list[Any] = [None] * world
            dist.all_gather_object(gathered, outcome)
            results[f"_failure_{'meta' if meta else 'real'}"] = gathered
    finally:
        results["_seconds"] = time.perf_counter() - start
        if rank == 0:
            torch.save(results, out)
        dist.destroy_process_group()


def main() -> None:
    import torch.distributed.fsdp
    import torch.distributed.tensor.parallel  # noqa: F401
    import transformers.models.gpt2.modeling_gpt2
    import transformers.models.llama.modeling_llama  # noqa: F401

    import initpolicy.api
    import initpolicy.applier.execution
    import initpolicy.linter.run
    import initpolicy.tracer.tracing  # noqa: F401

    run_worlds(worker, sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
