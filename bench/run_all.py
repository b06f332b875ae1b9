"""Run every benchmark under bench/ and write docs/benchmarks.md.

Each ``bench/bench_*.py`` measures its target against a baseline *in the same run* (the
machine is noisy, so only ratios are comparable) and prints its table; this runner runs
them one after another in fresh processes, echoes their output and records it, with the
machine it ran on, in docs/benchmarks.md.

    .venv/bin/python bench/run_all.py                 # all of them
    .venv/bin/python bench/run_all.py parse trace     # a subset
    .venv/bin/python bench/run_all.py --no-write      # print only

A subset rewrites its own sections (and summary lines) and keeps the others' as they were
last run; each section says when it ran and on what.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = (
    "parse", "trace", "apply", "sharded", "lint", "lint_scale", "zoo", "seeded", "reported",
    "extract",
)  # fmt: skip
TARGETS = {
    "parse": "≥ 2,000 rules/s parse; `initpolicy check` of 1,000 rules incl. start-up "
    '< 0.6× `python -c "import torch"` in the same run',
    "trace": "12-layer GPT-2 on meta and a 150-layer CNN each traced in < 1 s",
    "apply": "GPT-2 small on meta: trace+plan+init ≤ 0.75× a plain to_empty + torch.nn.init "
    "loop on this 2-core machine; peak RSS < 1.2× parameter bytes + interpreter baseline",
    "sharded": "GPT-2 small on meta, FSDP2 over 2 and 4 gloo processes: each rank's peak RSS "
    "≤ 1.2× its shard bytes + its baseline; wall time falling with the world size (up to the "
    "core count; past it the CPU time per rank)",
    "lint": "`initpolicy lint --static` of GPT-2 small ≤ 1.5× a script that builds it and "
    "computes every parameter's std",
    "lint_scale": "Llama-architecture 8B and 70B on meta: `lint` (own init) and `lint "
    "--policy llama` within 2 min (8B) / 5 min (70B) at a peak RSS < 4 GiB (8B) / 6 GiB "
    "(70B); std 1.0 on every down_proj reported on every down_proj",
    "zoo": "the zoo (191 torchvision/timm models, 74 transformers configs) as the libraries "
    "initialize it: 0 error-severity findings, at most 1 model in 10 with a warning (each "
    "reviewed in its golden file); the normal suite's part in ≤ 8 minutes on 2 cores",
    "seeded": "each classic init bug seeded into ≥ 10 zoo models is reported on the seeded "
    "layer: recall ≥ 95% (He before sigmoid, inside sigmoid's band, reported apart)",
    "reported": "25 or more init bugs from public issues, each reproduced on a small model "
    "(bench/reported/fixtures.py): reported on the right parameter, the finding's own fix "
    "clears it, and the model as the thread fixed it lints clean: recall ≥ 95%",
    "extract": "`initpolicy extract` on 108 real models: ≤ 30 rules for any of them, every "
    "policy planning exactly what the code did, and the policy extracted at one size "
    "reproducing the model's own init at two other sizes of every architecture that can be "
    "resized (100%)",
}


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; torch {torch.__version__}; "
        f"load average at the start {load} (1, 5, 15 min)"
    )


def run(name: str) -> tuple[str, float, int]:
    script = ROOT / "bench" / f"bench_{name}.py"
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    elapsed = time.perf_counter() - start
    out = proc.stdout + (f"\n[stderr]\n{proc.stderr}" if proc.returncode else "")
    return out.rstrip(), elapsed, proc.returncode


def _previous(path: Path) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The sections and summary lines of the benchmarks last written, by benchmark name."""
    if not path.is_file():
        return {}, {}
    text = path.read_text(encoding="utf-8")
    # a section written before sections carried their own run says the file's run
    run = re.search(r"^Run (.+) on: (.+)\.$", text, re.M)
    sections: dict[str, str] = {}
    for part in text.split("\n## ")[1:]:
        name = part.split("\n", 1)[0].strip()
        if name in BENCHES:
            if run is not None:
                part = re.sub(r"\(exit (\d+)\):", rf"(exit \1; {run[1]}, {run[2]}):", part, count=1)
            sections[name] = "## " + part.rstrip("\n") + "\n"
    verdicts: dict[str, list[str]] = {}
    for line in text.splitlines():
        name = line[2:].split(":", 1)[0] if line.startswith("- ") else ""
        if name in BENCHES:
            verdicts.setdefault(name, []).append(line)
    return sections, verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHES)} (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; expected {', '.join(BENCHES)}")
    where = machine()  # before the runs: the load they start under
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    sections: dict[str, str] = {}
    verdicts: dict[str, list[str]] = {}
    failed = 0
    for name in names:
        print(f"== bench_{name}.py  (target: {TARGETS[name]})", flush=True)
        out, elapsed, rc = run(name)
        print(out, flush=True)
        print(f"-- {elapsed:.1f} s, exit {rc}\n", flush=True)
        failed += rc != 0
        # Each bench states its verdict on the lines that name the target.
        verdicts[name] = [
            f"- {name}: `{line.strip()}`" for line in out.splitlines() if "target" in line
        ]
        sections[name] = (
            f"## {name}\n\nTarget: {TARGETS[name]}.\n\n"
            f"`python bench/bench_{name}.py` (exit {rc}; {stamp}, {where}):\n\n"
            f"```text\n{out}\n```\n"
        )
    if not args.no_write:
        path = ROOT / "docs" / "benchmarks.md"
        old_sections, old_verdicts = _previous(path)
        sections = {**old_sections, **sections}
        verdicts = {**old_verdicts, **verdicts}
        order = [n for n in BENCHES if n in sections]
        text = (
            "# Benchmarks\n\n"
            "Generated by `python bench/run_all.py`. Each benchmark compares against a "
            "baseline measured in the same run, so read the ratios, not the seconds.\n\n"
            f"Last run {stamp} ({', '.join(names)}) on: {where}.\n\n"
            "## Summary: the targets\n\n"
            + "\n".join(line for n in order for line in verdicts.get(n, []))
            + "\n\n"
            + "\n".join(sections[n] for n in order)
        )
        path.write_text(text, encoding="utf-8")
        print("wrote docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
