"""Run every benchmark under bench/ and write docs/benchmarks.md.

Each ``bench/bench_*.py`` measures its target against a baseline *in the same run* (the
machine is noisy, so only ratios are comparable) and prints its table; this runner runs
them one after another in fresh processes, echoes their output and records it, with the
machine it ran on, in docs/benchmarks.md.

    .venv/bin/python bench/run_all.py                 # all of them
    .venv/bin/python bench/run_all.py parse trace     # a subset
    .venv/bin/python bench/run_all.py --no-write      # print only
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHES = ("parse", "trace", "apply", "lint", "zoo", "seeded")
TARGETS = {
    "parse": "≥ 2,000 rules/s parse; `initpolicy check` of 1,000 rules incl. start-up < 0.5 s",
    "trace": "12-layer GPT-2 on meta and a 150-layer CNN each traced in < 1 s",
    "apply": "GPT-2 small on meta: trace+plan+init ≤ 1.25× a plain to_empty + torch.nn.init "
    "loop; peak RSS < 1.2× parameter bytes + interpreter baseline",
    "lint": "`initpolicy lint --static` of GPT-2 small ≤ 1.5× a script that builds it and "
    "computes every parameter's std",
    "zoo": "the zoo (191 torchvision/timm models, 74 transformers configs) as the libraries "
    "initialize it: 0 error-severity findings, at most 1 model in 10 with a warning (each "
    "reviewed in its golden file); the normal suite's part in ≤ 8 minutes on 2 cores",
    "seeded": "each classic init bug seeded into ≥ 10 zoo models is reported on the seeded "
    "layer: recall ≥ 95%",
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
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; torch {torch.__version__}"
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


def _kept(running: set[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """The verdict lines and sections of docs/benchmarks.md for the benchmarks not run now
    (a subset run keeps the others' last results)."""
    path = ROOT / "docs" / "benchmarks.md"
    if not path.exists():
        return {}, {}
    text = path.read_text(encoding="utf-8")
    verdicts: dict[str, list[str]] = {}
    for line in text.splitlines():
        for name in BENCHES:
            if line.startswith(f"- {name}: `"):
                verdicts.setdefault(name, []).append(line)
    sections: dict[str, str] = {}
    parts = text.split("\n## ")
    for part in parts[1:]:
        name = part.split("\n", 1)[0].strip()
        if name in BENCHES and name not in running:
            sections[name] = "## " + part.rstrip() + "\n"
    return verdicts, sections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(BENCHES)} (default: all)")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args(argv)
    names = args.names or list(BENCHES)
    unknown = sorted(set(names) - set(BENCHES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; expected {', '.join(BENCHES)}")
    sections = []
    verdicts = []
    failed = 0
    for name in names:
        print(f"== bench_{name}.py  (target: {TARGETS[name]})", flush=True)
        out, elapsed, rc = run(name)
        print(out, flush=True)
        print(f"-- {elapsed:.1f} s, exit {rc}\n", flush=True)
        failed += rc != 0
        # Each bench states its verdict on the lines that name the target.
        verdicts += [f"- {name}: `{line.strip()}`" for line in out.splitlines() if "target" in line]
        sections.append(
            f"## {name}\n\nTarget: {TARGETS[name]}.\n\n"
            f"`python bench/bench_{name}.py` (exit {rc}):\n\n```text\n{out}\n```\n"
        )
    if not args.no_write:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        kept_verdicts, kept_sections = _kept(set(names))
        run_on = f"Run {stamp} on: {machine()}."
        if kept_sections:
            run_on += (
                f" The sections of {', '.join(sorted(kept_sections))} are from an earlier run."
            )
        order = [n for n in BENCHES if n in kept_sections or n in names]
        by_name = {**kept_sections, **dict(zip(names, sections, strict=True))}
        all_verdicts = [v for n in order for v in (kept_verdicts.get(n) or []) if n not in names]
        all_verdicts += verdicts
        text = (
            "# Benchmarks\n\n"
            "Generated by `python bench/run_all.py`. Each benchmark compares against a "
            "baseline measured in the same run, so read the ratios, not the seconds.\n\n"
            f"{run_on}\n\n"
            "## Summary: the targets\n\n"
            + "\n".join(all_verdicts)
            + "\n\n"
            + "\n".join(by_name[n] for n in order)
        )
        (ROOT / "docs" / "benchmarks.md").write_text(text, encoding="utf-8")
        print("wrote docs/benchmarks.md")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
