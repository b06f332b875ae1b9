"""Run ``initpolicy.calibrate`` at world size N (gloo, forked CPU ranks; the harness of
tests/sharded_worlds.py), each rank on its contiguous shard of one batch, on the plain
model, the model wrapped in DistributedDataParallel and the model sharded by FSDP2's
``fully_shard`` (every calibrated layer and the root), through ``calibrate`` and through
``apply(..., data=)``. Rank 0 writes the replay policies, the records and every
parameter's full values after calibration to ``OUT/wN.pt``. To show that DDP's own
process group is the one reduced over: at world size 1, ``NAME/half`` calibrates the first
half of the batch; at world size 2, ``NAME/ddp_own_group`` is rank 0's DDP over a group of
rank 0 alone, on that half.

    python tests/calibrate_worlds.py OUT 1 2
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.sharded_worlds import init_rank, run_worlds

#: How each model is wrapped, and the call that calibrates it (``fsdp_kept``: FSDP2 with
#: ``reshard_after_forward=False``, whose modules keep their gathered parameters after a
#: forward: calibration must write the shards, not those).
VARIANTS = ("plain", "ddp", "fsdp", "fsdp_kept", "ddp_apply", "fsdp_apply")


def cases() -> dict[str, tuple[Any, Any]]:
    from tests import calibrate_models as m

    return {
        "tanh_mlp": (lambda: m.tanh_mlp(12), m.batch((128, 64), 1)),
        "vgg_cnn": (m.vgg_cnn, m.batch((32, 3, 16, 16), 2)),
    }


def wrap(model: Any, how: str) -> Any:
    import torch
    from torch.distributed.fsdp import fully_shard

    if how.startswith("ddp"):
        return torch.nn.parallel.DistributedDataParallel(model)
    if how.startswith("fsdp"):
        kept = how == "fsdp_kept"
        for m in model.modules():
            if isinstance(m, torch.nn.Linear | torch.nn.Conv2d):
                fully_shard(m, reshard_after_forward=not kept)
        return fully_shard(model, reshard_after_forward=not kept)
    return model


def full_values(model: Any) -> dict[str, Any]:
    """Every parameter's full values, from the shards an FSDP2 model keeps between
    forwards (what training starts from)."""
    from torch.distributed.fsdp import FSDPModule

    from initpolicy.shards.dtensor import is_dtensor

    inner = getattr(model, "module", model)
    for m in inner.modules():
        if isinstance(m, FSDPModule):
            m.reshard()
    return {
        n: (p.full_tensor() if is_dtensor(p) else p.detach()).clone()
        for n, p in inner.named_parameters()
    }


def outcome(result: Any, model: Any) -> dict[str, Any]:
    return {
        "text": result.text,
        "records": [r.to_json() for r in result.records],
        "values": full_values(model),
    }


def worker(rank: int, world: int, port: int, out: str) -> None:
    import torch

    import initpolicy

    init_rank(rank, world, port)
    results: dict[str, Any] = {}
    try:
        for name, (build, data) in cases().items():
            shard = data.chunk(world)[rank]
            for how in VARIANTS:
                model = wrap(build(), how)
                if how.endswith("_apply"):
                    result = initpolicy.apply(model, "lsuv", seed=0, data=shard).calibration
                else:
                    result = initpolicy.calibrate(model, "lsuv", shard, seed=0)
                results[f"{name}/{how}"] = outcome(result, model)
            if world == 1:
                half = build()
                result = initpolicy.calibrate(half, "lsuv", data.chunk(2)[0], seed=0)
                results[f"{name}/half"] = outcome(result, half)
            elif world == 2:
                alone = [torch.distributed.new_group([r]) for r in range(world)][rank]
                model = torch.nn.parallel.DistributedDataParallel(build(), process_group=alone)
                result = initpolicy.calibrate(model, "lsuv", shard, seed=0)
                results[f"{name}/ddp_own_group"] = outcome(result, model)
    finally:
        if rank == 0:
            torch.save(results, out)
        torch.distributed.destroy_process_group()


def main() -> None:
    import torch.distributed.fsdp  # noqa: F401  (imported once, before the fork)

    import initpolicy.api  # noqa: F401

    run_worlds(worker, sys.argv[1], sys.argv[2:])


if __name__ == "__main__":
    main()
