"""Why initialization matters: one deep ReLU MLP, three initializations, same seed.

Trains a 20-layer ReLU MLP on scikit-learn's digits (ships with the package, no
download) under

1. PyTorch's default init (variance 1/(3·fan_in): six times under He),
2. a mismatched scheme (Glorot/Xavier before ReLU: half of He's variance per layer),
3. the policy that fits the activation (He: ``Linear before ReLU -> kaiming_normal(fan_in)``),

and writes the loss curves and per-layer activation std at init as a PNG, the numbers
as a Markdown table, and the linter's verdict on each initialization.

    python examples/why_init_matters.py --out out/why_init_matters
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import initpolicy

DEPTH, WIDTH, EPOCHS, BATCH, LR, SEED = 20, 64, 30, 64, 0.005, 0

POLICIES = {
    "pytorch default": None,
    "xavier (mismatched)": """
        # Glorot's scheme assumes a linear (or tanh) unit: before ReLU it halves the variance
        Linear -> xavier_normal()
        bias   -> zeros()
    """,
    "he (policy)": """
        Linear before ReLU   -> kaiming_normal(fan_in)
        Linear before output -> xavier_normal()
        bias                 -> zeros()
    """,
}


def deep_mlp(in_features: int = 64, classes: int = 10) -> nn.Sequential:
    layers: list[nn.Module] = []
    d = in_features
    for _ in range(DEPTH):
        layers += [nn.Linear(d, WIDTH), nn.ReLU()]
        d = WIDTH
    layers.append(nn.Linear(d, classes))
    return nn.Sequential(*layers)


def digits(seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    xt = torch.tensor(x, dtype=torch.float32)
    xt = (xt - xt.mean(0)) / (xt.std(0) + 1e-6)
    yt = torch.tensor(y)
    perm = torch.randperm(len(yt), generator=torch.Generator().manual_seed(seed))
    xt, yt = xt[perm], yt[perm]
    n_train = 1400
    return xt[:n_train], yt[:n_train], xt[n_train:], yt[n_train:]


@torch.no_grad()
def activation_stds(model: nn.Sequential, x: torch.Tensor) -> list[float]:
    """Std across examples of each hidden ReLU's output at init (mean over units), in
    depth order: the part of the activation that carries the input, not the biases."""
    stds = []
    for layer in model:
        x = layer(x)
        if isinstance(layer, nn.ReLU):
            stds.append(float(x.std(dim=0).mean()))
    return stds


@dataclass
class Run:
    name: str
    losses: list[float] = field(default_factory=list)
    init_stds: list[float] = field(default_factory=list)
    test_accuracy: float = 0.0
    lint: list[str] = field(default_factory=list)
    #: Test accuracy of the same run under other seeds (data split, init and batches).
    other_seeds: list[float] = field(default_factory=list)


def train(
    name: str,
    policy_text: str | None,
    data: tuple[torch.Tensor, ...],
    seed: int = SEED,
    epochs: int = EPOCHS,
) -> Run:
    x_train = data[0]
    torch.manual_seed(seed)
    model = deep_mlp()
    if policy_text is not None:
        initpolicy.load(policy_text).apply(model, seed=seed)
    run = Run(name)
    run.init_stds = activation_stds(model, x_train)
    findings = initpolicy.lint(model, example_inputs=(x_train[:128],)).findings
    run.lint = sorted({f.name for f in findings if f.severity in ("error", "warning")})
    run.losses, run.test_accuracy = fit(model, data, seed, epochs)
    return run


def fit(
    model: nn.Module, data: tuple[torch.Tensor, ...], seed: int, epochs: int
) -> tuple[list[float], float]:
    """Train ``model`` with SGD (momentum 0.9, ``LR``, batches of ``BATCH`` in an order
    drawn from ``seed``): the loss of each epoch, and the test accuracy at the end."""
    x_train, y_train, x_test, y_test = data
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    gen = torch.Generator().manual_seed(seed)
    loss_fn = nn.CrossEntropyLoss()
    losses: list[float] = []
    for _ in range(epochs):
        perm = torch.randperm(len(y_train), generator=gen)
        total = 0.0
        for i in range(0, len(perm), BATCH):
            idx = perm[i : i + BATCH]
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(perm))
    with torch.no_grad():
        accuracy = float((model(x_test).argmax(1) == y_test).float().mean())
    return losses, accuracy


def table(runs: list[Run]) -> str:
    rows = [
        "| initialization | act. std, layer 1 | act. std, layer 20 | loss, epoch 1 | "
        f"loss, epoch {len(runs[0].losses)} | test accuracy | other seeds | `initpolicy lint` |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        verdict = ", ".join(r.lint) if r.lint else "clean"
        others = " / ".join(f"{a:.1%}" for a in r.other_seeds) or "-"
        rows.append(
            f"| {r.name} | {r.init_stds[0]:.3g} | {r.init_stds[-1]:.3g} | {r.losses[0]:.3f} | "
            f"{r.losses[-1]:.3f} | {r.test_accuracy:.1%} | {others} | {verdict} |"
        )
    return "\n".join(rows)


README_BLOCK = re.compile(
    r"(<!-- BEGIN GENERATED: why-init-matters[^\n]*-->\n).*?(\n<!-- END GENERATED: why-init-matters -->)",
    re.DOTALL,
)


def readme_table(readme: Path) -> str:
    """The table in the README's generated block."""
    found = README_BLOCK.search(readme.read_text(encoding="utf-8"))
    if found is None:
        raise SystemExit(f"{readme} has no why-init-matters block")
    return found.group(0).split("\n", 1)[1].rsplit("\n", 1)[0]


def update_readme(readme: Path, text: str) -> None:
    """Replace the README's generated block with ``text``."""
    readme_table(readme)  # says so if there is no block
    old = readme.read_text(encoding="utf-8")
    readme.write_text(
        README_BLOCK.sub(lambda m: m.group(1) + text + m.group(2), old), encoding="utf-8"
    )


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for r in runs:
        ax1.plot(range(1, len(r.losses) + 1), r.losses, label=r.name)
        ax2.semilogy(range(1, DEPTH + 1), r.init_stds, marker="o", ms=3, label=r.name)
    ax1.set(title=f"Training loss, {DEPTH}-layer ReLU MLP on digits", xlabel="epoch", ylabel="loss")
    ax2.set(title="Activation std across examples, at init", xlabel="layer", ylabel="std (log)")
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out/why_init_matters", help="output path prefix")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--seeds", type=int, default=3, help="also train under this many other seeds (table only)"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="also write the table into this README's generated block, and the plot to "
        "docs/img/ beside it",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # deterministic and fast for a model this small
    data = digits()
    runs = [train(name, text, data, epochs=args.epochs) for name, text in POLICIES.items()]
    for seed in range(SEED + 1, SEED + 1 + args.seeds):
        other = digits(seed)
        for run, (name, text) in zip(runs, POLICIES.items(), strict=True):
            run.other_seeds.append(train(name, text, other, seed, args.epochs).test_accuracy)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(runs, out.with_suffix(".png"))
    out.with_suffix(".md").write_text(table(runs) + "\n", encoding="utf-8")
    out.with_suffix(".json").write_text(
        json.dumps([r.__dict__ for r in runs], indent=1), encoding="utf-8"
    )
    if args.readme is not None:
        update_readme(args.readme, table(runs))
        plot(runs, args.readme.parent / "docs" / "img" / "why_init_matters.png")
    print(table(runs))
    print(
        f"\nwrote {out.with_suffix('.png')}, {out.with_suffix('.md')}, {out.with_suffix('.json')}"
    )
    return runs


if __name__ == "__main__":
    main()
