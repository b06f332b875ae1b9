"""Tracing speed: a 12-layer GPT-2-size model built on the meta device (dynamic tracer)
and a 150-layer residual CNN (fx tracer). Prints seconds, layers/s and the ratio to a
baseline measured in the same run (a plain forward on meta; plain torch.fx tracing).

    .venv/bin/python bench/bench_trace.py          # target: each trace under 1 s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from initpolicy.tracer.tracing import trace


class Block(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.bn1(self.conv1(x)))
        return torch.relu(x + self.bn2(self.conv2(out)))


def cnn150() -> nn.Module:
    """stem conv+bn, 37 basic blocks (4 layers each), a head: 151 parameterized layers."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False),
        nn.BatchNorm2d(16),
        nn.ReLU(),
        *[Block(16) for _ in range(37)],
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def gpt2_meta() -> nn.Module:
    import transformers

    with torch.device("meta"):
        return transformers.GPT2LMHeadModel(transformers.GPT2Config())


def best_of(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    cnn = cnn150()
    trace(cnn)  # warm-up: imports, first-call caches
    t_cnn = best_of(lambda: trace(cnn))
    n_cnn = len(trace(cnn).layers)
    t_fx = best_of(lambda: torch.fx.symbolic_trace(cnn))
    print(
        f"cnn150   tracer=fx       layers={n_cnn:4d}  {t_cnn:.3f} s  {n_cnn / t_cnn:8.0f} layers/s"
        f"  ({t_cnn / t_fx:.1f}x plain torch.fx.symbolic_trace {t_fx:.3f} s)"
    )

    gpt = gpt2_meta()
    trace(gpt)
    t_gpt = best_of(lambda: trace(gpt))
    graph = trace(gpt)
    ids = torch.zeros(1, 8, dtype=torch.long, device="meta")

    def forward() -> None:
        with torch.no_grad():
            gpt(ids)

    t_fwd = best_of(forward)
    n_gpt = len(graph.layers)
    print(
        f"gpt2     tracer={graph.tracer}  layers={n_gpt:4d}  {t_gpt:.3f} s  {n_gpt / t_gpt:8.0f} layers/s"
        f"  ({t_gpt / t_fwd:.1f}x a plain meta forward {t_fwd:.3f} s)"
    )
    cold = gpt2_meta()
    start = time.perf_counter()
    trace(cold)
    t_cold = time.perf_counter() - start
    print(f"gpt2     first trace of a fresh model (cold caches): {t_cold:.3f} s")
    for name, t in (("cnn150", t_cnn), ("gpt2 (cold)", t_cold)):
        verdict = "ok" if t < 1.0 else "MISSED"
        print(f"{name:12s} {t:.3f} s (target < 1 s) {verdict}")


if __name__ == "__main__":
    main()
