"""Lint every zoo model (tests/zoo: 191 torchvision/timm models, 74 transformers configs) as
its library builds it, in one process with one torch thread, the way tests/test_lint_zoo.py
does; report the targets and what it cost (CPU and wall seconds).

Targets: no error-severity finding on a library-initialized model; at most 1 model in 10
with a warning, each warning reviewed (its reason in the golden file); all of it (as
tests/test_lint_zoo.py runs it in the normal suite) in at most 8 minutes on a 2-core
machine.

    .venv/bin/python bench/bench_zoo.py             # measure, compare with the golden files
    .venv/bin/python bench/bench_zoo.py --update    # rewrite the golden files (keeps reasons)
    .venv/bin/python bench/bench_zoo.py --docs      # rewrite docs/zoo.md from the golden files
    .venv/bin/python bench/bench_zoo.py NAME ...    # only these models
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.zoo import lint_run  # noqa: E402

BUDGET_S = 8 * 60

DOCS_INTRO = """\
# The zoo, linted

Every model of the zoo (tests/zoo: every torchvision classification model, the smallest
detection, segmentation, video and optical-flow models, the smallest model of each timm
module plus the models the issue names, and 74 transformers architectures from small
configs) linted as its library builds it, with its library's own initialization.

How (tests/zoo/lint_run.py): one process, one torch thread; each model's declared input
size (timm's `pretrained_cfg["input_size"]`, the crop size of a torchvision model's default
weights, 320 for the detectors, two 128 x 128 images for RAFT, the config's sizes for
transformers), one example widened by the dynamic pass to 2 examples that stand for data
(docs/lint.md, "The dynamic pass's inputs"). Models over 150M parameters are linted
`--static` (their forward and backward pass would take gigabytes and minutes); the table
says so in the dynamic-pass column.

`tests/test_lint_zoo.py` checks that each model's findings are exactly those of its golden
file (tests/data/lint/zoo/vision.toml, transformers.toml), where each finding carries the
reason it is right, and that the table below is the golden files' (regenerate with
`python bench/bench_zoo.py --docs`).
"""


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def docs(entries: dict[str, lint_run.Golden]) -> str:
    errors = sum(g.counts()["error"] for g in entries.values())
    warned = [g for g in entries.values() if g.counts()["warning"]]
    info = sum(g.counts()["info"] for g in entries.values())
    lines = [
        DOCS_INTRO,
        "## Summary",
        "",
        f"- models: {len(entries)}",
        f"- error-severity findings: {errors}",
        f"- models with a warning: {len(warned)} of {len(entries)} "
        f"({len(warned) / max(len(entries), 1):.1%})",
        f"- info findings (advice, not counted): {info}",
        "",
        "## Every warning, and why it is right",
        "",
        "| model | code | target | reason |",
        "|---|---|---|---|",
    ]
    for g in warned:
        for code, target, sev, why in g.findings:
            if sev == "warning":
                lines.append(f"| {g.name} | {code} | `{target}` | {why} |")
    lines += ["", "## Every model", "", lint_run.zoo_table(entries), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*")
    parser.add_argument("--update", action="store_true", help="rewrite the golden files")
    parser.add_argument("--docs", action="store_true", help="rewrite docs/zoo.md and exit")
    args = parser.parse_args(argv)
    golden = lint_run.load_golden()
    if args.docs:
        (ROOT / "docs" / "zoo.md").write_text(docs(golden), encoding="utf-8")
        print("wrote docs/zoo.md")
        return 0
    torch.set_num_threads(1)
    names = args.names or list(lint_run.builders())
    start_cpu, start = _cpu(), time.perf_counter()
    mismatched, errors, warned, entries = [], 0, 0, dict(golden)
    for name in names:
        c, t = _cpu(), time.perf_counter()
        run = lint_run.lint_model(name)
        cpu, wall = _cpu() - c, time.perf_counter() - t
        if run.error is not None:
            print(f"{name}: lint failed: {run.error}", flush=True)
            mismatched.append(name)
            continue
        entry = lint_run.golden_of(run, golden.get(name))
        counts = entry.counts()
        errors += counts["error"]
        warned += counts["warning"] > 0
        same = name in golden and [f[:3] for f in golden[name].findings] == lint_run.found(run)
        same = same and golden[name].dynamic == entry.dynamic
        if not same:
            mismatched.append(name)
        entries[name] = entry
        print(
            f"{name:45s} {cpu:6.1f} cpu-s {wall:6.1f} s  E{counts['error']} W{counts['warning']} "
            f"I{counts['info']}  {'ok' if same else 'CHANGED'}  {entry.dynamic[:60]}",
            flush=True,
        )
        del run
        gc.collect()
    total_cpu, total_wall = _cpu() - start_cpu, time.perf_counter() - start
    print(f"models linted: {len(names)}; changed against the golden files: {len(mismatched)}")
    if mismatched:
        print("changed: " + ", ".join(mismatched))
    print(f"error-severity findings: {errors} (target 0)")
    print(f"models with a warning: {warned} of {len(names)} (target <= {len(names) // 10})")
    print(
        f"build + trace + lint of {len(names)} models: {total_cpu:.0f} CPU s, {total_wall:.0f} s "
        f"wall, one process, one thread (target <= {BUDGET_S} s on 2 cores)"
    )
    if args.update:
        lint_run.save_golden(entries)
        print("wrote tests/data/lint/zoo/*.toml")
    return 1 if errors or warned > len(names) // 10 else 0


if __name__ == "__main__":
    sys.exit(main())
