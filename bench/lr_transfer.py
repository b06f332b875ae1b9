"""Learning-rate transfer, measured (issue 21; not a test), the way Tensor Programs V
(Fig. 1, Fig. 3) and microsoft/mup's examples show it: train the same model at several
widths over a x2 grid of learning rates, several seeds, and read off where each width's
loss-vs-log2(lr) curve has its minimum.

The task has a real signal: a character-level language model of the project's own
documentation (docs/*.md, sorted, concatenated; the last tenth held out). The model is a
plain ReLU MLP (tests/_transfer_models.MLP: an input layer, 2 hidden layers of ``width``
units, a readout over the characters) that reads the one-hot codes of the previous
CONTEXT characters and predicts the next one. AdamW, a linear warm-up over the first
tenth of the steps, then a linear decay to zero (as the μP papers train). The measure is
the cross-entropy on a fixed held-out set after training, averaged over seeds (each seed
draws its own init and its own batches).

Under ``mup`` (``base_width`` 64: the policy's init, ``param_groups`` and the readout's
output multiplier) the best learning rate should stay put as the width grows and, at a
fixed learning rate, wider should be better; under the standard parametrization (the
model's own init, one learning rate for every tensor) the best learning rate moves down
as the width grows.

    .venv/bin/python bench/lr_transfer.py [--steps 300] [--seeds 2] [--widths 64,128,256,512]
                                          [--lrs=-10,-2] [--rev 6628087] [--plot FILE]

Measured results: docs/mup.md, "Learning-rate transfer".
"""

from __future__ import annotations

import argparse
import itertools
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import initpolicy  # noqa: E402
from tests._transfer_models import MLP  # noqa: E402

#: Characters of context the model reads, the batch size, and the held-out set's size.
CONTEXT, BATCH, N_EVAL = 8, 128, 4096
BASE_WIDTH = 64


def docs_text(rev: str | None) -> str:
    """docs/*.md, sorted by name and concatenated: as checked out, or at the git ``rev``
    (the docs change; a measurement names the commit whose docs it read)."""
    if rev is None:
        return "".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "docs").glob("*.md")))
    git = ["git", "-C", str(ROOT)]
    names = subprocess.run(
        [*git, "ls-tree", "--name-only", rev, "docs/"], capture_output=True, text=True, check=True
    ).stdout.split()
    md = sorted(n for n in names if n.endswith(".md"))
    return "".join(
        subprocess.run(
            [*git, "show", f"{rev}:{n}"], capture_output=True, check=True
        ).stdout.decode()
        for n in md
    )


def corpus(rev: str | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The docs as character codes (anything outside printable ASCII is one code), split
    into a training and a held-out part, and the number of codes."""
    text = docs_text(rev)
    chars = sorted({c for c in text if 32 <= ord(c) < 127 or c == "\n"})
    index = {c: i for i, c in enumerate(chars)}
    other = len(chars)
    codes = torch.tensor([index.get(c, other) for c in text], dtype=torch.long)
    cut = len(codes) * 9 // 10
    return codes[:cut], codes[cut:], other + 1


def windows(codes: torch.Tensor, starts: torch.Tensor, vocab: int):
    """One-hot inputs of CONTEXT characters (flattened) and the next character."""
    idx = starts[:, None] + torch.arange(CONTEXT)
    x = F.one_hot(codes[idx], vocab).flatten(1).float()
    return x, codes[starts + CONTEXT]


def train(width: int, lr: float, variant: str, steps: int, seed: int, data) -> float:
    """Train one model; its held-out cross-entropy (inf where it diverged)."""
    train_codes, (x_eval, y_eval), vocab = data
    torch.manual_seed(seed)
    model = MLP(width, 2, d_in=CONTEXT * vocab, d_out=vocab)
    if variant == "mup":
        policy = initpolicy.load("mup", base_width=BASE_WIDTH)
        policy.apply(model, seed=seed)
        groups = policy.param_groups(model, lr=lr, optimizer="adamw")
    else:
        groups = [{"params": list(model.parameters()), "lr": lr}]
    opt = torch.optim.AdamW(groups, weight_decay=0.0)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: min((t + 1) / warm, (steps - t) / (steps - warm))
    )
    gen = torch.Generator().manual_seed(1000 + seed)
    for _ in range(steps):
        starts = torch.randint(0, len(train_codes) - CONTEXT, (BATCH,), generator=gen)
        x, y = windows(train_codes, starts, vocab)
        loss = F.cross_entropy(model(x), y)
        if not torch.isfinite(loss):
            return float("inf")
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        value = float(F.cross_entropy(model(x_eval), y_eval))
    return value if math.isfinite(value) else float("inf")


def best_step(losses: list[float]) -> int:
    return min(range(len(losses)), key=lambda i: losses[i])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--widths", default="64,128,256,512")
    ap.add_argument("--lrs", default="-10,-2", help="log2 of the first and last learning rate")
    ap.add_argument("--variants", default="mup,standard")
    ap.add_argument("--plot", default=None)
    ap.add_argument("--rev", default=None, help="read docs/*.md at this git commit")
    args = ap.parse_args()
    torch.set_num_threads(1)
    train_codes, eval_codes, vocab = corpus(args.rev)
    starts = torch.randint(
        0, len(eval_codes) - CONTEXT, (N_EVAL,), generator=torch.Generator().manual_seed(7)
    )
    data = (train_codes, windows(eval_codes, starts, vocab), vocab)
    widths = [int(w) for w in args.widths.split(",")]
    lo, hi = (int(k) for k in args.lrs.split(","))
    ks = list(range(lo, hi + 1))
    print(
        f"char-level LM of docs/*.md: {len(train_codes)} training characters, vocab {vocab}, "
        f"context {CONTEXT}; {args.steps} AdamW steps of {BATCH}; {args.seeds} seeds; "
        f"held-out cross-entropy (nats)",
        flush=True,
    )
    t0 = time.perf_counter()
    results: dict[str, dict[int, list[float]]] = {}
    for variant in args.variants.split(","):
        results[variant] = {}
        for w in widths:
            losses = []
            for k in ks:
                runs = [train(w, 2.0**k, variant, args.steps, s, data) for s in range(args.seeds)]
                losses.append(sum(runs) / len(runs))
            results[variant][w] = losses
            b = best_step(losses)
            shown = " ".join(f"{v:.3f}" if math.isfinite(v) else "  inf" for v in losses)
            print(
                f"{variant:8s} width {w:5d}: best lr 2^{ks[b]}  loss {losses[b]:.4f}  [{shown}]",
                flush=True,
            )
    print(f"lr grid 2^{lo} .. 2^{hi}; {time.perf_counter() - t0:.0f} s")
    summary(results, widths, ks)
    if args.plot:
        plot(results, widths, ks, args.steps, args.plot)


def summary(results: dict[str, dict[int, list[float]]], widths: list[int], ks: list[int]) -> None:
    """Where each width's curve has its minimum, and at how many learning rates the loss
    falls with every doubling of the width."""
    for variant, by_width in results.items():
        bests = [ks[best_step(by_width[w])] for w in widths]
        print(
            f"{variant}: best log2(lr) per width {bests}; moves {max(bests) - min(bests)} "
            f"grid step(s)"
        )
        ordered = sum(
            all(by_width[a][i] > by_width[b][i] for a, b in itertools.pairwise(widths))
            for i in range(len(ks))
        )
        print(f"{variant}: wider is better at {ordered} of {len(ks)} learning rates")


def plot(results, widths, ks, steps: int, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4.6 * len(results), 3.6), sharey=True)
    axes = list(axes) if len(results) > 1 else [axes]
    finite = [v for r in results.values() for ls in r.values() for v in ls if math.isfinite(v)]
    top = min(max(finite), min(finite) + 2.0)
    for ax, (variant, by_width) in zip(axes, results.items(), strict=True):
        for w in widths:
            ax.plot(ks, [min(v, top) for v in by_width[w]], marker=".", label=f"width {w}")
            b = best_step(by_width[w])
            ax.plot([ks[b]], [by_width[w][b]], marker="*", color="black", markersize=7)
        ax.set_title(variant)
        ax.set_xlabel("log2 learning rate (AdamW)")
        ax.set_ylim(top=top)
    axes[0].set_ylabel(f"held-out loss after {steps} steps")
    axes[-1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
