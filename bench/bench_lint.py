"""`initpolicy lint --static` of GPT-2 small (124M parameters), as a whole process, against
a script that imports torch, builds the same model and computes every parameter's std.
Target: ratio <= 1.5. Both run in this process's environment, alternately, N times; the
median of each is compared.

    .venv/bin/python bench/bench_lint.py [N]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

MODEL = textwrap.dedent(
    """\
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel


    def build_model():
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config())
    """
)
BASELINE = textwrap.dedent(
    """\
    import torch
    from model import build_model

    model = build_model()
    with torch.no_grad():
        stds = {n: float(p.std()) for n, p in model.named_parameters()}
    print(len(stds), sum(p.numel() for p in model.parameters()))
    """
)


def timed(cmd: list[str], cwd: Path) -> float:
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if r.returncode not in (0, 1):
        sys.exit(f"{' '.join(cmd)} failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return elapsed


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    exe = Path(sys.executable)
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        (root / "model.py").write_text(MODEL)
        (root / "baseline.py").write_text(BASELINE)
        lint_cmd = [str(exe), "-m", "initpolicy", "lint", "model.py", "--static", "--exit-zero"]
        base_cmd = [str(exe), "baseline.py"]
        timed(base_cmd, root)  # warm the file cache for both
        base, lint = [], []
        for _ in range(n):
            base.append(timed(base_cmd, root))
            lint.append(timed(lint_cmd, root))
        out = subprocess.run(lint_cmd, cwd=root, capture_output=True, text=True).stdout
    b, li = statistics.median(base), statistics.median(lint)
    print(
        f"baseline (import torch, build GPT-2 small, std of every parameter): {b:.2f} s  runs {[round(x, 2) for x in base]}"
    )
    print(
        f"initpolicy lint --static model.py:                                  {li:.2f} s  runs {[round(x, 2) for x in lint]}"
    )
    print(f"ratio: {li / b:.2f}x (target <= 1.5x)")
    print("lint said:", out.strip().splitlines()[-1] if out.strip() else "(nothing)")


if __name__ == "__main__":
    main()
