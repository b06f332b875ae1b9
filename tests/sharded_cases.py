"""The models, policies and meshes of the distributed tests; shared by the single-process
reference (tests/test_distributed.py) and the gloo worlds (tests/sharded_worlds.py).

The dimensions are chosen to cut layout v1's tiles: 70 and 33 rows split unevenly over
3 and 4 ranks (an empty shard at 4), 1100 columns make 64 x 1024 tiles that a
tensor-parallel column shard cuts, a 3000-row embedding and a 2000-row GPT-2 vocabulary
span several full-row tiles.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

MLP_POLICY = """
use relu_net
Linear before tanh   -> orthogonal()
Linear before output -> xavier_uniform()
Linear named "0"     -> trunc_normal(0, 0.05)
bias                 -> uniform(-0.1, 0.1)
Linear named "5"     -> default
"""

EMB_POLICY = """
Embedding -> normal(0, 1)
Linear    -> variance_scaling(2.0, fan_avg, truncated_normal)
bias      -> constant(0.01)
"""

TP_POLICY = """
Embedding          -> normal(0, 1)
Linear             -> kaiming_uniform(fan_in, relu)
Linear named "out" -> lecun_normal()
Linear named "mid" -> orthogonal()
bias               -> uniform(-0.1, 0.1)
"""


class MLP(nn.Sequential):
    """70, 33 and 5 rows; the first weight (70 x 1100) has 2 x 2 tiles; BatchNorm buffers."""

    def __init__(self) -> None:
        super().__init__(
            nn.Linear(1100, 70),
            nn.BatchNorm1d(70),
            nn.ReLU(),
            nn.Linear(70, 33),
            nn.Tanh(),
            nn.Linear(33, 5),
        )


class Emb(nn.Module):
    """A 3000 x 40 embedding (two full-row tiles) with a padding row."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(3000, 40, padding_idx=3)
        self.proj = nn.Linear(40, 40)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.emb(x))


class TPNet(nn.Module):
    """For tensor parallel: colwise layers (Shard(0)), a rowwise one (Shard(1) of a
    70 x 1100 weight: columns cut inside 1024-wide tiles), an uneven colwise layer (33
    rows), an orthogonal layer TP leaves alone, an embedding sharded on dim 1."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(1000, 70)
        self.up = nn.Linear(70, 1100)
        self.down = nn.Linear(1100, 70)
        self.mid = nn.Linear(70, 70)
        self.out = nn.Linear(70, 33)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x)
        h = self.down(torch.relu(self.up(h)))
        return self.out(torch.relu(self.mid(h)))


def lstm() -> nn.Module:
    return nn.LSTM(20, 30, num_layers=2)


def gpt2() -> nn.Module:
    from transformers import GPT2Config, GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=2000, n_positions=64)
    return GPT2LMHeadModel(cfg)


def llama() -> nn.Module:
    """For RoPE's ``inv_freq`` (a non-persistent buffer transformers' _init_weights sets)."""
    from transformers.utils import logging

    from tests.models.hf_zoo import _llama

    logging.set_verbosity_error()
    return _llama()


@dataclass(frozen=True)
class Case:
    build: Callable[[], nn.Module]
    policy: str
    meta: bool = True
    #: "fsdp" (fully_shard per block and the root), "tp" (tensor parallel on mesh["tp"],
    #: then FSDP on mesh["dp"] where it has more than one rank)
    shard: str = "fsdp"
    #: The user materializes first (torchtitan's meta -> shard -> to_empty -> apply).
    to_empty_first: bool = False


CASES: dict[str, Case] = {
    "mlp_meta": Case(MLP, MLP_POLICY),
    "mlp_real": Case(MLP, MLP_POLICY, meta=False),
    "lstm": Case(lstm, "lstm"),
    "emb": Case(Emb, EMB_POLICY),
    "gpt2": Case(gpt2, "gpt2"),
    "gpt2_titan": Case(gpt2, "gpt2", to_empty_first=True),
    "llama": Case(llama, "llama"),
    "tp_meta": Case(TPNet, TP_POLICY, shard="tp"),
    "tp_real": Case(TPNet, TP_POLICY, meta=False, shard="tp"),
}
SEED = 7


def build(case: Case) -> nn.Module:
    torch.manual_seed(1234)  # a materialized model starts from the same (overwritten) values
    if case.meta:
        with torch.device("meta"):
            return case.build()
    return case.build()


def shard_fsdp(model: nn.Module, mesh: Any) -> nn.Module:
    """fully_shard the repeated blocks (if any), then the root, as torchtitan does."""
    from torch.distributed.fsdp import fully_shard

    inner = getattr(model, "transformer", None) or getattr(model, "model", None)
    blocks = getattr(inner, "h", None) or getattr(inner, "layers", None)
    for block in blocks or ():
        fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def shard_tp(model: nn.Module, mesh: Any) -> nn.Module:
    """Tensor parallel on mesh["tp"], then FSDP2 on mesh["dp"] (torchtitan's order)."""
    from torch.distributed.fsdp import fully_shard
    from torch.distributed.tensor.parallel import (
        ColwiseParallel,
        RowwiseParallel,
        parallelize_module,
    )

    plan = {
        "emb": ColwiseParallel(),  # an Embedding's weight: Shard(1)
        "up": ColwiseParallel(),  # Shard(0)
        "down": RowwiseParallel(),  # weight Shard(1), bias Replicate
        "out": ColwiseParallel(),  # 33 rows: uneven
    }
    parallelize_module(model, mesh["tp"], plan)
    if mesh["dp"].size() > 1:
        fully_shard(model, mesh=mesh["dp"])
    return model
