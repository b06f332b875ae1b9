"""The training script: the policy is applied in one line, right after the model is built."""

import sys
from pathlib import Path

import torch

import initpolicy

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from model import build_model  # noqa: E402


def main(seed: int = 0, steps: int = 20) -> float:
    model = build_model()
    initpolicy.load(ROOT / "init" / "model.pol").apply(model, seed=seed)

    torch.manual_seed(seed)
    x, y = torch.randn(256, 16), torch.randint(0, 4, (256,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"final loss {loss.item():.4f}")
    return loss.item()


if __name__ == "__main__":
    main()
