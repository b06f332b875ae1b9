"""Run ``initpolicy.calibrate`` at world size N (gloo, forked CPU ranks), each rank on its
contiguous shard of one batch; rank 0 writes the replay policies to ``OUT/wN.pt``.

    python tests/calibrate_worlds.py OUT 1 2
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def cases() -> dict[str, tuple[Any, Any]]:
    from tests import calibrate_models as m

    return {
        "tanh_mlp": (lambda: m.tanh_mlp(12), m.batch((128, 64), 1)),
        "vgg_cnn": (m.vgg_cnn, m.batch((32, 3, 16, 16), 2)),
    }


def worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.filterwarnings("ignore")
    import torch
    import torch.distributed as dist

    import initpolicy

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results: dict[str, Any] = {}
    try:
        for name, (build, data) in cases().items():
            shard = data.chunk(world)[rank]
            result = initpolicy.calibrate(build(), "lsuv", shard, seed=0)
            results[name] = {"text": result.text, "records": [r.to_json() for r in result.records]}
    finally:
        if rank == 0:
            torch.save(results, out)
        dist.destroy_process_group()


def main() -> None:
    import torch.multiprocessing as mp

    import initpolicy.api  # noqa: F401  (imported once, before the fork)

    out = sys.argv[1]
    for spec in sys.argv[2:]:
        world = int(spec)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        path = os.path.join(out, f"w{world}.pt")
        mp.start_processes(worker, args=(world, port, path), nprocs=world, start_method="fork")


if __name__ == "__main__":
    main()
