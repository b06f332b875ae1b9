"""LSUV's cost against its physical floor: torchvision ResNet-50 with its BatchNorms removed
(``norm_layer`` an Identity), resnet50-sized input (224 x 224).

The LSUV phase (after the trace and the draw of the inner scheme, which ``apply`` costs
as well) is what is compared. A data-flow-ordered LSUV must see each layer's input after every layer before it has been
rescaled: done naively, one full forward per layer and pass. That floor, measured here as
(calibrated layers) x (one forward in eval mode, best of 3), is what calibrate beats by
capturing each layer's input with a forward that stops at the layer (half a forward per
layer on average) and re-running only the layer for each pass. Prints seconds, the floor
and the ratio (target: under 1), and the load average (a loaded machine inflates all).

    .venv/bin/python bench/bench_calibrate.py                  # batch 8, 224 x 224
    .venv/bin/python bench/bench_calibrate.py --batch 4 --size 112
"""

from __future__ import annotations

import argparse
import os
import time

import torch
import torchvision
from torch import nn

import initpolicy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    data = torch.randn(args.batch, 3, args.size, args.size, generator=g)

    def build() -> nn.Module:
        torch.manual_seed(0)
        return torchvision.models.resnet50(norm_layer=lambda c: nn.Identity())

    model = build().eval()
    forwards = []
    with torch.no_grad():
        for _ in range(3):
            start = time.perf_counter()
            model(data)
            forwards.append(time.perf_counter() - start)
    forward = min(forwards)

    model = build()
    start = time.perf_counter()
    result = initpolicy.calibrate(model, "lsuv", data, seed=0)
    seconds = time.perf_counter() - start
    layers = len(result.records)
    passes = sum(r.iterations for r in result.records)
    floor = layers * forward
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"resnet50 (no norms), input {tuple(data.shape)}, {args.threads} threads, load {load:.1f}"
    )
    print(f"  one forward (eval, best of 3):  {forward:.3f} s")
    print(f"  floor: {layers} layers x 1 forward: {floor:.2f} s")
    t = result.seconds
    print(
        f"  calibrate: {seconds:.2f} s = trace {t['trace']:.2f} + draw the orthogonal "
        f"weights {t['apply']:.2f} + LSUV {t['lsuv']:.2f} ({passes} passes, "
        f"{len(result.not_converged)} not converged)"
    )
    ratio = t["lsuv"] / floor
    print(f"  LSUV / floor: {ratio:.2f}  ({'ok' if ratio < 1 else 'over'}; target < 1)")
    print(f"  (whole calibrate / floor: {seconds / floor:.2f})")
    return 0 if ratio < 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
