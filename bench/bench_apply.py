"""Bench: ``initpolicy.apply`` on GPT-2 small (124M parameters, built on meta) with the
gpt2 policy, against a plain loop over the same model, measured in the same run.

Time: trace + plan + init (materialization included; tiles drawn by torch's intra-op
thread count of threads, 2 here) vs ``to_empty`` + re-tie + ``torch.nn.init`` per
parameter, alternating runs on fresh meta models: the best of N of each, and the median
of the per-round ratios; also with one drawing thread, and the CPU time (the part of a
run the machine's other load does not stretch). The load average is printed: on a
loaded machine the drawing threads find no free core and the wall time says little.
Memory: in a fresh subprocess per path, the RSS once everything is imported and the meta
model is built (the baseline), then the peak RSS of the path. Building a model under
transformers has a transient peak of its own, so the peak is reset first (Linux:
``/proc/self/clear_refs``; elsewhere ru_maxrss, which includes that transient).

Targets: time at most 0.75x the plain loop (the sharded-init issue; 1.25x before tiles
were drawn concurrently); peak RSS of the meta path under 1.2x the parameter bytes plus
the baseline.

    .venv/bin/python bench/bench_apply.py [--repeats 5] [--small]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

TIME_TARGET = 0.75
MEMORY_TARGET = 1.2


def _config(small: bool) -> Any:
    from transformers import GPT2Config

    if small:
        return GPT2Config(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=64)
    return GPT2Config()  # GPT-2 small: 12 layers, 768 wide, 124M parameters


def build(small: bool) -> Any:
    import torch
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging

    logging.set_verbosity_error()
    with torch.device("meta"):
        return GPT2LMHeadModel(_config(small))


#: The gpt2 policy plus a rule that reads the traced activation: the same values, but
#: planning it needs a forward pass (a policy like gpt2 needs only the module structure).
TRACED = "use gpt2\n(Linear|Conv1D) before gelu -> normal(0, 0.02)\n"


def ours(model: Any, policy: str = "gpt2", threads: int | None = None) -> None:
    import initpolicy

    initpolicy.apply(model, policy, seed=0, threads=threads)


def ours_traced(model: Any) -> None:
    ours(model, TRACED)


def ours_one_thread(model: Any) -> None:
    ours(model, threads=1)


def plain(model: Any) -> None:
    """What a hand-written init does: materialize, re-tie, one torch.nn.init per tensor."""
    model.to_empty(device="cpu")
    model.lm_head.weight = model.transformer.wte.weight  # to_empty unties them
    init_loop(model)


def init_loop(model: Any) -> None:
    """GPT-2's init by hand: one torch.nn.init call per parameter, in place."""
    import torch

    residual = 0.02 / math.sqrt(2 * model.config.n_layer)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, 0.0, residual)
            elif ".ln_" in name and name.endswith("weight"):
                torch.nn.init.ones_(p)
            elif name.endswith("bias"):
                torch.nn.init.zeros_(p)
            else:
                torch.nn.init.normal_(p, 0.0, 0.02)


def param_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())  # unique tensors


def _status_kib(key: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return None


def reset_peak() -> bool:
    """Set the peak RSS to the current RSS (Linux), so it measures what follows."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


def rss_now() -> int:
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else peak_rss()


def peak_rss() -> int:
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux/BSD: KiB


def child(mode: str, small: bool) -> None:
    import gc

    import initpolicy.applier.execution
    import initpolicy.applier.fill
    import initpolicy.planner.match
    import initpolicy.tracer.tracing  # noqa: F401

    model = build(small)
    nbytes = param_bytes(model)
    gc.collect()
    reset = reset_peak()
    baseline = rss_now()
    if mode == "meta":
        ours(model)
    else:
        plain(model)
    peak = peak_rss()
    print(json.dumps({"baseline": baseline, "peak": peak, "param_bytes": nbytes, "reset": reset}))


def measure_memory(small: bool) -> dict[str, dict[str, int]]:
    out = {}
    for mode in ("meta", "plain"):
        cmd = [sys.executable, __file__, "--child", mode] + (["--small"] if small else [])
        result = subprocess.run(cmd, capture_output=True, text=True, check=True)
        out[mode] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def measure_time(small: bool, repeats: int) -> dict[str, Any]:
    """Alternating rounds on fresh meta models: per path the best wall time, the median
    wall time and the least CPU time (all threads); the median of the rounds' ratios."""
    ours(build(small=True))  # warm-up: imports, lazy initialization of torch and transformers
    plain(build(small=True))
    ours_traced(build(small=True))
    paths = (
        ("initpolicy", ours),
        ("one thread", ours_one_thread),
        ("traced", ours_traced),
        ("plain", plain),
    )
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in paths}
    for _ in range(repeats):
        for name, fn in paths:
            model = build(small)
            cpu, start = time.process_time(), time.perf_counter()
            fn(model)
            runs[name].append((time.perf_counter() - start, time.process_time() - cpu))
            del model
    out: dict[str, Any] = {
        name: {
            "best": min(w for w, _ in v),
            "median": statistics.median(w for w, _ in v),
            "cpu": min(c for _, c in v),
        }
        for name, v in runs.items()
    }
    ratios = [a[0] / b[0] for a, b in zip(runs["initpolicy"], runs["plain"], strict=True)]
    out["median ratio"] = statistics.median(ratios)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="a 2-layer GPT-2 (smoke test)")
    parser.add_argument("--child", choices=("meta", "plain"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.small)
        return

    load = os.getloadavg()[0]
    t = measure_time(args.small, args.repeats)
    ratio = t["initpolicy"]["best"] / t["plain"]["best"]
    print(f"GPT-2{' (small config)' if args.small else ' small (124M)'} on meta, gpt2 policy")
    print(
        f"  {os.cpu_count()} cores; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print(f"  wall s, best (median) of {args.repeats}; least CPU s:")
    labels = {
        "initpolicy": "initpolicy (trace+plan+init)",
        "one thread": "initpolicy, one drawing thread",
        "traced": "with a full trace (a policy reading activations)",
        "plain": "plain loop (to_empty+init)",
    }
    for key, label in labels.items():
        r = t[key]
        print(f"  time  {label:50} {r['best']:.3f} ({r['median']:.3f})  cpu {r['cpu']:.3f}")
    verdict = "ok" if ratio <= TIME_TARGET else "OVER TARGET"
    print(
        f"  ratio {ratio:.2f}x best/best, {t['median ratio']:.2f}x median of the rounds "
        f"(target <= {TIME_TARGET}x) {verdict}"
    )

    m = measure_memory(args.small)
    nbytes = m["meta"]["param_bytes"]
    mib = 1 << 20
    print(f"  parameter bytes:        {nbytes / mib:8.1f} MiB")
    for mode in ("meta", "plain"):
        base, peak = m[mode]["baseline"], m[mode]["peak"]
        over = (peak - base) / nbytes
        print(
            f"  {mode:5} path: baseline {base / mib:7.1f} MiB, peak {peak / mib:7.1f} MiB "
            f"= baseline + {over:.2f} x params"
        )
    base, peak = m["meta"]["baseline"], m["meta"]["peak"]
    mem_ratio = peak / (MEMORY_TARGET * nbytes + base)
    verdict = "ok" if mem_ratio < 1 else "OVER TARGET"
    note = "" if m["meta"]["reset"] else " (ru_maxrss: includes the build's transient peak)"
    print(f"  meta peak / (1.2 x params + baseline) = {mem_ratio:.2f} (target < 1) {verdict}{note}")


if __name__ == "__main__":
    main()
