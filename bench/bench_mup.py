"""Bench: width transfer. The coordinate check of the built-in ``mup`` on 5 real
architectures nobody edited (transformers Llama, GPT-2 with tied embeddings, BERT; timm
VisionTransformer; a ReLU MLP), widths 64-512, 3 AdamW steps at lr 1e-2, base_width 64,
against the model's own init (the standard parametrization) in the same run; and the cost
of ``apply`` + ``param_groups`` against a plain ``apply`` of the same policy.

Targets (issue 21): every layer's |slope| <= 0.35 under mup (steps 1-3); the standard's
worst >= 1.0. A depth check of ``completep`` on Llama (depths 2-16 at width 64) prints the
slope of the residual stream (the final norm's input) over depth, next to the standard's.

    .venv/bin/python bench/bench_mup.py [--widths 64,128,256,512] [--models llama,gpt2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import initpolicy  # noqa: E402
from initpolicy.coordcheck import coordcheck  # noqa: E402
from tests import _transfer_models as tm  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--widths", default="64,128,256,512")
    ap.add_argument("--models", default="llama,gpt2,bert,vit,mlp")
    ap.add_argument("--depths", default="2,4,8,16")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    widths = tuple(int(w) for w in args.widths.split(","))
    out: dict[str, object] = {"widths": widths, "load": os.getloadavg()[0]}
    print(f"load average {os.getloadavg()[0]:.2f}; widths {widths}; 3 AdamW steps, lr 1e-2")
    mup = initpolicy.load("mup", base_width=widths[0])
    rows = {}
    for name in args.models.split(","):
        t0 = time.perf_counter()
        r = coordcheck(tm.FACTORIES[name], mup, widths=widths, steps=3, lr=1e-2)
        dt = time.perf_counter() - t0
        pw, sw = r.worst("policy")[0], r.worst("standard")[0]
        ok = pw[1] <= 0.35 and sw[1] >= 1.0
        rows[name] = {"seconds": dt, "mup_worst": pw, "standard_worst": sw, "ok": ok}
        print(
            f"{name:6s} {dt:6.1f}s  mup worst |slope| {pw[1]:.3f} ({pw[0]}, step {pw[2]})  "
            f"standard worst {sw[1]:.3f} ({sw[0]})  {'ok' if ok else 'FAIL'}"
        )
    out["coordcheck"] = rows

    depths = tuple(int(d) for d in args.depths.split(","))
    cp = initpolicy.load("completep", base_width=64, base_depth=depths[0])
    r = coordcheck(tm.llama, cp, depths=depths, width=64, steps=3, lr=1e-2)
    for v in ("policy", "standard"):
        slopes = r.slopes(v)
        stream = [s for s in slopes["model.norm (input)"] if s is not None]
        judged = max(abs(s) for s in stream[1:])
        print(
            f"completep depth check, {v}: residual stream (the final norm's input) slope per "
            f"step {', '.join(f'{s:+.3f}' for s in stream)}; worst |slope| steps 1-3 {judged:.3f}"
        )
        out[f"depth_{v}"] = {"residual_stream_slopes": stream, "worst": judged}

    # apply + param_groups vs plain apply, GPT-2 at width 512, best of 5
    def best(fn, n=5):
        times = []
        for _ in range(n):
            model = tm.gpt2(512, 4)
            t = time.perf_counter()
            fn(model)
            times.append(time.perf_counter() - t)
        return min(times)

    plain = best(lambda m: mup.apply(m, seed=0))
    both = best(lambda m: (mup.apply(m, seed=0), mup.param_groups(m, lr=1e-3)))
    print(f"apply {plain:.3f}s; apply + param_groups {both:.3f}s ({both / plain:.2f}x)")
    out["apply_s"], out["apply_groups_s"] = plain, both
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
