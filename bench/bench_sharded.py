"""Bench: sharded apply of GPT-2 small (124M, built on meta, gpt2 policy) in gloo worlds
of 1, 2 and 4 CPU processes on this machine: meta -> fully_shard (per block, then the
root) -> ``initpolicy.apply``. Per rank: its shard bytes, the RSS baseline (everything
imported, the model built and sharded on meta; peak reset via /proc/self/clear_refs),
the peak RSS of the apply, its wall and CPU time. The baseline path, in the same run:
``to_empty`` + ``torch.nn.init`` on each DTensor (each rank draws its shard from the
global RNG, so its values depend on the world size: not reproducible).

Targets: each rank's peak <= 1.2 x its shard bytes + its baseline; wall time falling
with the world size (up to the machine's core count: past it, ranks share cores, and the
CPU time per rank is printed instead). Every rank draws with one thread, as under torchrun
(OMP_NUM_THREADS=1), so world N uses N cores: on a machine with fewer cores than ranks
the wall time cannot fall, and the CPU time per rank shows the work each rank does.

    .venv/bin/python bench/bench_sharded.py [--worlds 1,2,4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from typing import Any

MEMORY_TARGET = 1.2
POLICY: Any = None


def build() -> Any:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    with torch.device("meta"):
        return GPT2LMHeadModel(GPT2Config())


def plain_dtensor(model: Any) -> None:
    """What torchtitan-style code does: materialize, then torch.nn.init on each DTensor
    (a tied DTensor stays tied through to_empty)."""
    from bench_apply import init_loop  # this folder is on sys.path: the script's own

    model.to_empty(device="cpu")
    init_loop(model)


def _kib(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rank_main(rank: int, world: int, port: int, out: str, mode: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.filterwarnings("ignore")
    import gc

    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    threads = 1
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    mesh = init_device_mesh("cpu", (world,))
    model = build()
    for block in model.transformer.h:
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    shard = sum(
        p._local_tensor.numel() * p._local_tensor.element_size() for p in model.parameters()
    )
    gc.collect()
    dist.barrier()
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # the peak RSS from here on
    base = _kib("VmRSS") * 1024
    cpu, start = time.process_time(), time.perf_counter()
    if mode == "initpolicy":
        POLICY.apply(model, seed=0, threads=threads)
    else:
        plain_dtensor(model)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    res = {"shard": shard, "base": base, "peak": _kib("VmHWM") * 1024, "wall": wall, "cpu": cpu}
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, res)
    if rank == 0:
        with open(out, "w", encoding="utf-8") as f:
            json.dump({"threads": threads, "ranks": gathered}, f)
    dist.destroy_process_group()


def launcher(out_dir: str, worlds: list[int], rounds: int) -> None:
    """A fresh process: import once, then fork every world (the ranks inherit imports)."""
    import torch.distributed.fsdp  # noqa: F401
    import torch.multiprocessing as mp
    import transformers.models.gpt2.modeling_gpt2  # noqa: F401

    import initpolicy
    import initpolicy.applier.execution
    import initpolicy.tracer.tracing

    global POLICY
    POLICY = initpolicy.load("gpt2")  # loaded once, as a training script does; ranks inherit it
    for r in range(rounds):
        for world in worlds:
            for mode in ("initpolicy", "plain"):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", 0))
                    port = s.getsockname()[1]
                out = os.path.join(out_dir, f"{mode}_w{world}_r{r}.json")
                mp.start_processes(
                    rank_main, args=(world, port, out, mode), nprocs=world, start_method="fork"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worlds", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each world; best kept")
    parser.add_argument("--launcher", help=argparse.SUPPRESS)
    args = parser.parse_args()
    worlds = [int(w) for w in args.worlds.split(",")]
    if args.launcher:
        launcher(args.launcher, worlds, args.rounds)
        return
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        cmd = [sys.executable, __file__, "--launcher", d, "--worlds", args.worlds]
        cmd += ["--rounds", str(args.rounds)]
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        subprocess.run(cmd, check=True, env=env, capture_output=True, text=True)
        runs = {}
        for name in os.listdir(d):
            mode, w, _r = name[: -len(".json")].split("_")
            with open(os.path.join(d, name), encoding="utf-8") as f:
                runs.setdefault((mode, int(w[1:])), []).append(json.load(f))
    mib = 1 << 20
    print(
        f"GPT-2 small (124M) built on meta, fully_shard, apply; gloo, {os.cpu_count()} cores; "
        f"load average before {load[0]:.1f}, after {os.getloadavg()[0]:.1f}"
    )
    print("  per rank, the worst rank of the best of the rounds (by wall time):")
    print("  path        world thr  shard MiB  peak-base MiB  mem ratio  wall s  cpu s/rank")
    best: dict[tuple[str, int], dict[str, Any]] = {}
    for mode in ("initpolicy", "plain"):
        for w in worlds:
            run = min(runs[(mode, w)], key=lambda x: max(r["wall"] for r in x["ranks"]))
            ranks = run["ranks"]
            ratio = max(r["peak"] / (MEMORY_TARGET * r["shard"] + r["base"]) for r in ranks)
            worst = max(ranks, key=lambda r: r["peak"] - r["base"])
            best[(mode, w)] = {
                "ratio": ratio,
                "wall": max(r["wall"] for r in ranks),
                "cpu": max(r["cpu"] for r in ranks),
            }
            print(
                f"  {mode:10} {w:5} {run['threads']:3} {worst['shard'] / mib:10.1f} "
                f"{(worst['peak'] - worst['base']) / mib:14.1f} {ratio:10.2f} "
                f"{best[(mode, w)]['wall']:7.3f} {max(r['cpu'] for r in ranks):10.3f}"
            )
    for w in worlds[1:]:
        ratio = best[("initpolicy", w)]["ratio"]
        verdict = "ok" if ratio <= 1 else "OVER TARGET"
        print(f"  world {w}: peak / (1.2 x shard + baseline) = {ratio:.2f} (target <= 1) {verdict}")
    # Ranks beyond the machine's cores share them: there the wall time cannot fall, and
    # the work each rank does (its CPU time) is what shows the scaling.
    cores = os.cpu_count() or 1
    fit = [w for w in worlds if w <= cores]
    walls = [best[("initpolicy", w)]["wall"] for w in fit]
    falling = all(b < a for a, b in itertools.pairwise(walls))
    shown = " > ".join(f"{t:.3f}" for t in walls)
    verdict = "ok" if falling else "NOT FALLING"
    print(
        f"  wall time by world size {', '.join(map(str, fit))} (ranks <= {cores} cores): "
        f"{shown} s (target: falling) {verdict}"
    )
    over = [w for w in worlds if w > cores]
    if over:
        cpus = " > ".join(f"{best[('initpolicy', w)]['cpu']:.3f}" for w in worlds)
        print(
            f"  worlds {', '.join(map(str, over))} put more ranks than cores on this machine: "
            f"their wall time is the cores' share; CPU s per rank by world size {cpus}"
        )


if __name__ == "__main__":
    main()
