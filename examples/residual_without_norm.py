"""Depth without normalization: a 50-layer residual ReLU MLP, three initializations.

Trains the same network (a stem, 24 residual blocks ``x + fc2(relu(fc1(x)))``, a head:
50 Linear layers, no normalization) on scikit-learn's digits, as
``examples/why_init_matters.py`` does, under

1. PyTorch's default init,
2. ``fixup`` (Zhang et al. 2019: each branch's last layer and the classifier zeroed, the
   other branch layers He x L^(-1/(2m-2)), here 24^(-1/2)),
3. ``lsuv`` (Mishkin & Matas 2016: orthogonal, then each layer rescaled on a batch to
   unit output variance), calibrated on 256 training examples; the replay policy it
   writes is applied, so the run is reproducible without the data.

and writes the loss curves as a PNG, the numbers as a Markdown table (docs/calibrate.md).

    python examples/residual_without_norm.py --out out/residual_without_norm
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import initpolicy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from why_init_matters import digits, fit  # the same data, split and training

BLOCKS, WIDTH, EPOCHS, SEED = 24, 64, 30, 0  # trained as why_init_matters.py trains (fit)


class ResidualMLP(nn.Module):
    def __init__(self, in_features: int = 64, classes: int = 10):
        super().__init__()
        self.stem = nn.Linear(in_features, WIDTH)
        self.fc1 = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(BLOCKS))
        self.fc2 = nn.ModuleList(nn.Linear(WIDTH, WIDTH) for _ in range(BLOCKS))
        self.head = nn.Linear(WIDTH, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.stem(x))
        for fc1, fc2 in zip(self.fc1, self.fc2, strict=True):
            x = x + fc2(torch.relu(fc1(x)))
        return self.head(x)


@dataclass
class Run:
    name: str
    losses: list[float] = field(default_factory=list)
    test_accuracy: float = 0.0
    #: The output's std at init over the training set (the trunk's growth shows here).
    logit_std: float = 0.0
    lint: list[str] = field(default_factory=list)
    other_seeds: list[float] = field(default_factory=list)


def initialize(name: str, model: nn.Module, x_train: torch.Tensor, seed: int) -> None:
    if name == "fixup":
        initpolicy.apply(model, "fixup", seed=seed)
    elif name == "lsuv":
        result = initpolicy.calibrate(model, "lsuv", x_train[:256], seed=seed)
        fresh = ResidualMLP()
        initpolicy.load(result.text).apply(fresh)  # the replay: the same weights, no data
        assert all(
            torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True)
        )


def train(name: str, data: tuple[torch.Tensor, ...], seed: int = SEED, epochs: int = EPOCHS) -> Run:
    x_train = data[0]
    torch.manual_seed(seed)
    model = ResidualMLP()
    initialize(name, model, x_train, seed)
    run = Run(name)
    with torch.no_grad():
        run.logit_std = float(model(x_train).std())
    findings = initpolicy.lint(model, example_inputs=(x_train[:128],), static=True).findings
    run.lint = sorted({f.name for f in findings if f.severity in ("error", "warning")})
    run.losses, run.test_accuracy = fit(model, data, seed, epochs)
    return run


def table(runs: list[Run]) -> str:
    rows = [
        "| initialization | output std at init | loss, epoch 1 | "
        f"loss, epoch {len(runs[0].losses)} | test accuracy | other seeds | `lint --static` |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        others = " / ".join(f"{a:.1%}" for a in r.other_seeds) or "-"
        verdict = ", ".join(r.lint) if r.lint else "clean"
        rows.append(
            f"| {r.name} | {r.logit_std:.3g} | {r.losses[0]:.3f} | {r.losses[-1]:.3f} | "
            f"{r.test_accuracy:.1%} | {others} | {verdict} |"
        )
    return "\n".join(rows)


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for r in runs:
        ax.semilogy(range(1, len(r.losses) + 1), r.losses, label=r.name)
    ax.set(
        title=f"{2 * BLOCKS + 2}-layer residual MLP, no normalization, digits",
        xlabel="epoch",
        ylabel="training loss (log)",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


NAMES = ("pytorch default", "fixup", "lsuv")


def main(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/residual_without_norm", help="output path prefix")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seeds", type=int, default=2, help="other seeds (table only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = digits()
    runs = [train(name, data, epochs=args.epochs) for name in NAMES]
    for seed in range(SEED + 1, SEED + 1 + args.seeds):
        other = digits(seed)
        for run in runs:
            run.other_seeds.append(train(run.name, other, seed, args.epochs).test_accuracy)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(table(runs) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps([r.__dict__ for r in runs], indent=1), encoding="utf-8"
    )
    print(table(runs))
    print(f"\nwrote {out.with_suffix('.png')}, {out.with_suffix('.md')}")
    return runs


if __name__ == "__main__":
    main()
