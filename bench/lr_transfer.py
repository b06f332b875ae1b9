"""Learning-rate transfer, measured (issue 21; not a test): a ReLU MLP (2 hidden layers)
learns a fixed random teacher (tanh network, 32 -> 8) from fresh synthetic batches with
Adam, at widths 64-512, over a x2 grid of learning rates. Under ``mup`` (base_width 64,
param_groups and the readout multiplier) the best learning rate should stay put as the
width grows; under the standard parametrization (the model's own init, one learning
rate) it moves. Prints the loss table and the best grid step per width; draws the plot
in docs/img/mup_lr_transfer.png.

    .venv/bin/python bench/lr_transfer.py [--steps 300] [--plot docs/img/mup_lr_transfer.png]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import initpolicy  # noqa: E402
from tests._transfer_models import MLP  # noqa: E402

BATCH = 128
#: The task: inputs of D_IN features, a tanh teacher of TEACHER hidden units, D_OUT outputs.
TASK = {"d_in": 32, "teacher": 64, "d_out": 8}


def teacher_batch(gen: torch.Generator, w1: torch.Tensor, w2: torch.Tensor):
    x = torch.randn(BATCH, TASK["d_in"], generator=gen)
    return x, torch.tanh(x @ w1) @ w2


def train(width: int, lr: float, variant: str, steps: int) -> float:
    torch.manual_seed(0)
    d_in, hidden, d_out = TASK["d_in"], TASK["teacher"], TASK["d_out"]
    model = MLP(width, 2, d_in=d_in, d_out=d_out)
    if variant == "mup":
        policy = initpolicy.load("mup", base_width=64)
        policy.apply(model, seed=0)
        groups = policy.param_groups(model, lr=lr, optimizer="adam")
    else:
        groups = [{"params": list(model.parameters()), "lr": lr}]
    opt = torch.optim.Adam(groups)
    g = torch.Generator().manual_seed(1)
    w1 = torch.randn(d_in, hidden, generator=g) / math.sqrt(d_in)
    w2 = torch.randn(hidden, d_out, generator=g) / math.sqrt(hidden)
    data = torch.Generator().manual_seed(2)
    losses = []
    for _ in range(steps):
        x, y = teacher_batch(data, w1, w2)
        loss = (model(x) - y).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    tail = losses[-20:]
    value = sum(tail) / len(tail)
    return value if math.isfinite(value) else float("inf")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--widths", default="64,128,256,512")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--task", default="32,64,8", help="d_in,teacher hidden units,d_out")
    ap.add_argument("--lrs", default="-14,-4", help="log2 of the first and last learning rate")
    args = ap.parse_args()
    torch.set_num_threads(1)
    TASK.update(zip(("d_in", "teacher", "d_out"), map(int, args.task.split(",")), strict=True))
    widths = [int(w) for w in args.widths.split(",")]
    lo, hi = (int(k) for k in args.lrs.split(","))
    lrs = [2.0**k for k in range(lo, hi + 1)]
    results: dict[str, dict[int, list[float]]] = {}
    for variant in ("mup", "standard"):
        results[variant] = {}
        for w in widths:
            results[variant][w] = [train(w, lr, variant, args.steps) for lr in lrs]
            losses = results[variant][w]
            best = min(range(len(lrs)), key=lambda i: losses[i])
            print(
                f"{variant:8s} width {w:4d}: best lr 2^{int(math.log2(lrs[best]))}  "
                f"loss {losses[best]:.4f}  all {' '.join(f'{v:.4f}' for v in losses)}",
                flush=True,
            )
    for variant in results:
        bests = [min(range(len(lrs)), key=lambda i: results[variant][w][i]) for w in widths]
        print(f"{variant}: best lr grid step per width {bests}; moves {max(bests) - min(bests)}")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
        for ax, variant in zip(axes, results, strict=True):
            for w in widths:
                ys = [min(v, 10.0) for v in results[variant][w]]
                ax.plot(lrs, ys, marker=".", label=f"width {w}")
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(variant)
            ax.set_xlabel("learning rate (Adam)")
        axes[0].set_ylabel(f"train loss (mean of last 20 of {args.steps} steps)")
        axes[1].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)


if __name__ == "__main__":
    main()
