"""identical-shards (IP121) on a sharded tensor: every rank hashes its own shard and one
all_gather compares them (allenai/OLMo-core#307: each rank seeded alike draws the same
values for its slice). Two gloo processes on loopback."""

from __future__ import annotations

import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rank(rank: int, world: int, port: int, out: dict) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import DTensor, Replicate, Shard

    from initpolicy.linter.sharded import identical_shards

    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    try:
        mesh = init_device_mesh("cpu", (world,))
        torch.manual_seed(1234)  # the same seed on every rank: the bug
        same = torch.randn(8, 16)
        torch.manual_seed(rank)  # a seed per rank: distinct shards
        own = torch.randn(8, 16)
        result = {}
        for dim in (0, 1):
            result[f"same S({dim})"] = identical_shards(
                DTensor.from_local(same, mesh, [Shard(dim)])
            )
            result[f"own S({dim})"] = identical_shards(DTensor.from_local(own, mesh, [Shard(dim)]))
        result["replicated"] = identical_shards(DTensor.from_local(same, mesh, [Replicate()]))
        if rank == 0:
            out.update(result)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_identical_shards_are_found_across_ranks_and_replicas_are_not():
    with mp.Manager() as manager:
        out = manager.dict()
        mp.start_processes(_rank, args=(2, _port(), out), nprocs=2, start_method="fork")
        got = dict(out)
    assert got == {
        "same S(0)": 2,
        "own S(0)": 0,
        "same S(1)": 2,
        "own S(1)": 0,
        "replicated": 0,
    }
