"""Width transfer under FSDP2: ``mup`` applied to a Llama (or a GPT-2, whose fused
``c_attn`` gets a query-block multiplier) sharded by ``fully_shard`` in gloo worlds of CPU
processes on loopback (as tests/sharded_worlds.py runs its cases).

    python tests/mup_worlds.py OUT.pt WORLD [llama|gpt2]

Rank 0 writes OUT.pt: the gathered ``full_tensor()`` of every parameter, the param
groups (names, lr, eps), the installed multipliers (value and block), and the logits of
a forward pass.
Every rank checks that its groups equal rank 0's (gathered as objects).
"""

from __future__ import annotations

import os
import socket
import sys
import warnings
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [ROOT]

WIDTH, DEPTH, BASE = 64, 2, 16


def groups_summary(groups: list[dict[str, Any]]) -> list[tuple[tuple[str, ...], float, float]]:
    return [(tuple(g["param_names"]), g["lr"], g["eps"]) for g in groups]


def run(model: Any) -> dict[str, Any]:
    import torch

    import initpolicy
    from initpolicy.tracer.multipliers import carried

    policy = initpolicy.load("mup", base_width=BASE)
    policy.apply(model, seed=0)
    groups = policy.param_groups(model, lr=1e-3)
    x = torch.arange(16).reshape(2, 8) % 100
    with torch.no_grad():
        logits = model(x).logits
    full = {
        n: (p.full_tensor() if hasattr(p, "full_tensor") else p).detach().clone()
        for n, p in model.named_parameters()
    }
    return {
        "params": full,
        "groups": groups_summary(groups),
        "multipliers": carried(model),
        "logits": logits.detach().clone(),
    }


def build(name: str = "llama") -> Any:
    import torch

    from tests import _transfer_models as tm

    torch.manual_seed(0)
    return tm.FACTORIES[name](WIDTH, DEPTH).eval()


def blocks(model: Any) -> Any:
    """The transformer blocks ``fully_shard`` wraps one by one."""
    return model.model.layers if hasattr(model, "model") else model.transformer.h


def worker(rank: int, world: int, port: int, out: str, name: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    warnings.filterwarnings("ignore")
    import torch
    import torch.distributed as dist
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        mesh = init_device_mesh("cpu", (world,), mesh_dim_names=("dp",))
        model = build(name)
        for block in blocks(model):
            fully_shard(block, mesh=mesh)
        fully_shard(model, mesh=mesh)
        result = run(model)
        every: list[Any] = [None] * world
        dist.all_gather_object(every, (result["groups"], result["multipliers"]))
        result["same_on_every_rank"] = all(e == every[0] for e in every)
        if rank == 0:
            torch.save(result, out)
    finally:
        dist.destroy_process_group()


def main() -> None:
    import torch.multiprocessing as mp

    out, world = sys.argv[1], int(sys.argv[2])
    name = sys.argv[3] if len(sys.argv) > 3 else "llama"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.start_processes(worker, args=(world, port, out, name), nprocs=world, start_method="fork")


if __name__ == "__main__":
    main()
