"""Seeded-bug recall: each classic init bug (tests/zoo/seeded.py) injected into one layer of
at least 10 zoo models (the models otherwise as their libraries built them); lint (static)
must report it with one of the bug's codes, on the seeded weight.

Models are taken in a fixed order, alternating torchvision, timm and transformers models,
smallest first; each model is built and traced once, and each bug is seeded, linted and
undone in turn. Target: recall >= 95% over the bugs the bands call mis-scaled; He scale
before sigmoid (inside sigmoid's band) is measured and reported apart, with why.

Then the blind-spot kinds of issue 18 (bench/seeded_blind.py): MoE experts, packed GLU
projections, token embeddings and residual streams, each bug injected into real models at
real width, with the same models un-injected as controls (false alarms). Target: every
bug found on its tensor, no false alarm.

    .venv/bin/python bench/bench_seeded.py [MODELS_PER_BUG] [--blind-only | --no-blind]
"""

from __future__ import annotations

import gc
import itertools
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import seeded_blind  # noqa: E402
from tests.zoo import lint_run, seeded  # noqa: E402


def order() -> list[str]:
    """Zoo models, alternating sources (torchvision, timm, transformers), smallest first."""
    from tests.zoo import transformers_models, vision

    tv = sorted((n for n in vision.MODELS if not n.startswith("timm/")), key=vision.PARAMS.get)
    tm = sorted((n for n in vision.MODELS if n.startswith("timm/")), key=vision.PARAMS.get)
    hf = [lint_run.HF + n for n in transformers_models.MODELS]
    mixed = itertools.chain.from_iterable(itertools.zip_longest(tv, tm, hf))
    return [n for n in mixed if n is not None and not lint_run.giant(n)]


def blind() -> bool:
    """The blind-spot kinds (bench/seeded_blind.py): whether every bug was found on its
    tensor and no control raised a warning."""
    start = time.perf_counter()
    rows: list[tuple[str, seeded_blind.Seed, bool, list[str]]] = []
    alarms: list[tuple[str, list[str]]] = []
    controls = 0
    for case in seeded_blind.CASES:
        t0 = time.perf_counter()
        found, control = seeded_blind.run_case(case)
        gc.collect()
        for seed, hit, on in found:
            rows.append((case.model, seed, hit, on))
            mark = "found" if hit else "MISSED"
            print(f"{seed.kind:17s} {case.model:33s} {seed.bug:58s} {mark} {on[:2]}", flush=True)
        if control is not None:
            controls += 1
            alarms += [(case.model, control)] if control else []
            print(f"{'control':17s} {case.model:33s} {'as its library built it':58s} "
                  f"{control or 'clean'} ({time.perf_counter() - t0:.0f} s)",
                  flush=True)  # fmt: skip
    print()
    print("| kind | model | bug | found on the seeded tensor |")
    print("|---|---|---|---|")
    for model, seed, hit, _on in rows:
        print(f"| {seed.kind} | {model} | {seed.bug} | {'yes' if hit else 'no'} |")
    print()
    kinds = dict.fromkeys(seed.kind for _, seed, _, _ in rows)
    for kind in kinds:
        mine = [r for r in rows if r[1].kind == kind]
        hits = sum(1 for r in mine if r[2])
        print(f"blind-spot kind {kind}: {hits} of {len(mine)} found ({hits / len(mine):.0%})")
    hits = sum(1 for r in rows if r[2])
    print(
        f"blind-spot bugs: {len(rows)}, found {hits}: recall {hits / len(rows):.1%} "
        f"(target 100%); controls: {controls} models, false alarms on {len(alarms)}"
    )
    for model, control in alarms:
        print(f"false alarm: {model}: {control}")
    print(f"time: {time.perf_counter() - start:.0f} s")
    return hits == len(rows) and not alarms


def main() -> int:
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if "--blind-only" in sys.argv:
        return 0 if blind() else 1
    ok = zoo(int(args[0]) if args else 12)
    if "--no-blind" not in sys.argv:
        print()
        ok = blind() and ok
    return 0 if ok else 1


def zoo(per_bug: int) -> bool:
    """The classic bugs seeded into the zoo: whether recall reaches the target."""
    import torch

    from initpolicy.tracer.tracing import trace

    results: dict[str, list[tuple[str, str, bool, list[str]]]] = {b.name: [] for b in seeded.BUGS}
    start = time.perf_counter()
    for name in order():
        wanted = [b for b in seeded.BUGS if len(results[b.name]) < per_bug]
        if not wanted:
            break
        torch.manual_seed(0)
        model = lint_run.builders()[name]()
        try:
            graph = trace(model, example_inputs=lint_run.example_inputs(name, model))
        except Exception as e:  # a model the tracer cannot run is reported
            print(f"{name}: not traced ({type(e).__name__})", flush=True)
            continue
        for bug in wanted:
            where = seeded.site(graph, bug)
            if where is None:
                continue
            hit, on = seeded.run(model, graph, bug, where)
            results[bug.name].append((name, where[1].name, hit, on))
            mark = "found" if hit else "MISSED"
            print(f"{bug.name:42s} {name:35s} {where[1].name:50s} {mark} {on}", flush=True)
        del model, graph
        gc.collect()
    print()
    total = found = 0
    print("| bug | seeded where | models | found on the seeded weight | recall |")
    print("|---|---|---|---|---|")
    for bug in seeded.BUGS:
        rows = results[bug.name]
        hits = sum(1 for r in rows if r[2])
        total, found = total + len(rows), found + hits
        recall = hits / len(rows) if rows else 0.0
        print(f"| {bug.name} | {bug.site} | {len(rows)} | {hits} | {recall:.0%} |")
    print()
    missed = [(b, r) for b, rows in results.items() for r in rows if not r[2]]
    for bug_name, (model, target, _hit, on) in missed:
        print(f"missed: {bug_name} in {model} at {target}; findings there: {on or 'none'}")
    overall = found / total if total else 0.0
    short = [b.name for b in seeded.BUGS if len(results[b.name]) < 10]
    print(
        f"all seeded bugs, He before sigmoid included: {total}, found {found}: recall "
        f"{overall:.1%} (the target counts the bugs the bands call mis-scaled, below)"
    )
    for bug in seeded.BUGS:
        if bug.in_band:
            print(f"not a mis-scale by the bands: {bug.name}: {bug.in_band}")
    banded = [r for b in seeded.BUGS if not b.in_band for r in results[b.name]]
    recall = sum(1 for r in banded if r[2]) / len(banded) if banded else 0.0
    print(
        f"seeded bugs the bands call mis-scaled: {len(banded)}, "
        f"found {sum(1 for r in banded if r[2])}: recall {recall:.1%} (target >= 95%)"
    )
    if short:
        print(f"fewer than 10 models for: {', '.join(short)}")
    print(f"time: {time.perf_counter() - start:.0f} s")
    return recall >= 0.95 and not short


if __name__ == "__main__":
    sys.exit(main())
