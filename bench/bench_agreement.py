"""Agreement on the whole zoo (issue 23): for every zoo model (tests/zoo, 265 models, the
giants included where they fit in about 3 GiB), the passes lint uses on a model larger than
memory give the findings of the whole passes.

For each model, built as its library builds it (seed 0, tests/zoo/lint_run.py's inputs):

* **static, two policies** (those of tests/test_lint_scale.py: ``relu_net`` and
  ``Linear -> normal(0, 1.0)``): the analytic static pass (the policy judged from its
  plan, a budget of the model's size forcing the part-by-part path) against the sampled
  static pass (the policy applied to a copy, every tensor measured), codes IP1xx/IP3xx;
* **static, the model's own init**: the model built on the meta device and linted by its
  own init part by part against the model built for real and measured whole;
* **dynamic, two policies** (models of at most :data:`DYNAMIC_MAX` parameters): the
  streamed forward pass (the same budget) against the whole forward and backward pass,
  codes IP2xx, on what the streamed pass ran: IP205 (gradients) is not computed by a
  forward-only pass, and a finding on a block of a repeated stack that was not sampled
  is not expected (``summary["streamed"]["blocks"]`` names those that ran). Both run on
  the same examples: the streamed pass sizes its batch by a block's cost, the whole one
  by memory, so the whole pass is asked for the streamed pass's batch (``--only-dynamic``
  runs these checks alone, ``--families`` one model per source family).

Each model's result is one JSON line appended to the output (``--out``); models already
there are skipped, so the sweep runs in pieces under ``timeout``:

    OMP_NUM_THREADS=1 timeout 1800 .venv/bin/python bench/bench_agreement.py --part 1/8
    .venv/bin/python bench/bench_agreement.py --report     # the table, every disagreement
    .venv/bin/python bench/bench_agreement.py NAME ...     # only these models (rerun them)
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

import initpolicy  # noqa: E402
from initpolicy.linter.memory_budget import tensor_bytes  # noqa: E402
from tests.zoo import lint_run  # noqa: E402

POLICIES = {"relu_net": "relu_net", "normal1": "Linear -> normal(0, 1.0)\n"}
#: A whole static lint holds the model and its copy: models up to this fit in about 3 GiB.
STATIC_MAX = 470_000_000
#: The whole dynamic pass also holds activations and a gradient per weight.
DYNAMIC_MAX = 200_000_000
#: Enough memory for the whole passes to run whole (the default budget is half of what is
#: free, which on a shared machine would stream them too).
WHOLE = "64G"
OUT = ROOT / "bench" / "agreement.jsonl"


def found(result: Any, kinds: tuple[str, ...]) -> list[tuple[str, str, str]]:
    return sorted(
        (f.code, f.target, f.severity) for f in result.all_findings if f.code.startswith(kinds)
    )


def build(name: str, meta: bool = False) -> Any:
    """The zoo model, or its meta build: under ``initpolicy.on_meta()`` (its construction
    recorded, so that its own init is replayed part by part), or, for a constructor that
    reads tensor values (RegNet's stage widths: ``.tolist()``), with each parameter moved
    to meta as it is registered (tests/zoo/build.py), recorded the same way."""
    torch.manual_seed(0)
    if meta:
        try:
            with initpolicy.on_meta():
                return lint_run.builders()[name]()
        except (RuntimeError, NotImplementedError):
            from initpolicy.api import meta_recorder
            from tests.zoo.build import parameters_on_meta

            with meta_recorder():
                return parameters_on_meta(lint_run.builders()[name])
    return lint_run.builders()[name]()


def diff(a: list[Any], b: list[Any]) -> dict[str, list[Any]]:
    """What only ``a`` (the part-by-part pass) and only ``b`` (the whole pass) found."""
    return {
        "only_parts": sorted(set(map(tuple, a)) - set(map(tuple, b))),
        "only_whole": sorted(set(map(tuple, b)) - set(map(tuple, a))),
    }


def not_run(summary: dict[str, Any]) -> list[str]:
    """The blocks of repeated stacks the streamed pass did not run (their module names)."""
    out = []
    for stack, b in summary.get("streamed", {}).get("blocks", {}).items():
        out += [f"{stack}.{i}" for i in range(b["of"]) if i not in b["ran"]]
    return out


def on_blocks_that_ran(found_whole: list[Any], skipped: list[str]) -> list[Any]:
    """The whole pass's findings the streamed pass is expected to give: none on a block it
    did not run, no IP205 (gradients)."""
    pat = re.compile("|".join(re.escape(s) + r"(\.|$|\[)" for s in skipped)) if skipped else None
    return [f for f in found_whole if f[0] != "IP205" and not (pat is not None and pat.match(f[1]))]


def compare(
    name: str, dynamic: bool = True, only_dynamic: bool = False, only_own: bool = False
) -> dict[str, Any]:
    if only_dynamic:
        return compare_dynamic(name)
    if only_own:
        return compare_own(name)
    t0 = time.perf_counter()
    row: dict[str, Any] = {"name": name, "checks": {}, "errors": {}}
    model = build(name)
    params = sum(p.numel() for p in model.parameters())
    row["params"] = params
    inputs = lint_run.example_inputs(name, model)
    small = tensor_bytes(model)  # the model does not fit whole: the part-by-part path
    static_kinds = ("IP1", "IP3")
    fits = params <= STATIC_MAX
    analytic: dict[str, Any] = {}
    for key, policy in POLICIES.items():
        # the part-by-part (analytic) passes first: they read the model, never write it
        try:
            parts = initpolicy.lint(
                model, policy, example_inputs=inputs, static=True, seed=0, memory=small
            )
            assert "streamed" in parts.summary
            analytic[key] = found(parts, static_kinds)
            row.setdefault("how", {})[key] = parts.summary["streamed"]["static"]
        except Exception as e:  # reported, the sweep goes on
            row["errors"][f"static/{key}"] = f"{type(e).__name__}: {e}"[:300]
    if not fits:  # no room for a copy: fresh builds, each policy applied in place
        del model
        gc.collect()
    for key, policy in POLICIES.items():
        if key not in analytic:
            continue
        try:
            if fits:
                whole = initpolicy.lint(
                    model, policy, example_inputs=inputs, static=True, seed=0, memory=WHOLE
                )
            else:
                whole = _in_place(name, policy, inputs)
            row["checks"][f"static/{key}"] = diff(analytic[key], found(whole, static_kinds))
            del whole
        except Exception as e:
            row["errors"][f"static/{key}"] = f"{type(e).__name__}: {e}"[:300]
        gc.collect()
        if not (dynamic and params <= DYNAMIC_MAX):
            continue
        try:
            row["checks"][f"dynamic/{key}"] = _dynamic(row, model, policy, inputs, small)
        except Exception as e:
            row["errors"][f"dynamic/{key}"] = f"{type(e).__name__}: {e}"[:300]
        gc.collect()
    _own(row, name, model if fits else None, inputs)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _own(row: dict[str, Any], name: str, model: Any, inputs: Any) -> None:
    """The model's own init: on meta part by part, against the real build measured whole."""
    static_kinds = ("IP1", "IP3")
    try:
        model = model if model is not None else build(name)
        whole = initpolicy.lint(model, example_inputs=inputs, static=True, memory=WHOLE)
        w = found(whole, static_kinds)
        del whole, model
        gc.collect()
        meta = build(name, meta=True)
        parts = initpolicy.lint(meta, example_inputs=inputs, static=True)
        p = found(parts, static_kinds)
        row["checks"]["static/own"] = diff(p, w)
        row.setdefault("how", {})["own"] = parts.summary["streamed"]["static"]
        row.setdefault("found", {})["own"] = {"parts": p, "whole": w}
    except Exception as e:
        row["errors"]["static/own"] = f"{type(e).__name__}: {e}"[:300]


def _started(name: str) -> tuple[dict[str, Any], Any, Any]:
    """A model's row, the model built as its library builds it, and its inputs."""
    row: dict[str, Any] = {"name": name, "checks": {}, "errors": {}}
    model = build(name)
    row["params"] = sum(p.numel() for p in model.parameters())
    return row, model, lint_run.example_inputs(name, model)


def compare_own(name: str) -> dict[str, Any]:
    """Only the own-init comparison (``--only-own``: the policies' were swept)."""
    t0 = time.perf_counter()
    row, model, inputs = _started(name)
    _own(row, name, model, inputs)
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def compare_dynamic(name: str) -> dict[str, Any]:
    """Only the dynamic comparisons (``--only-dynamic``: the static ones were swept)."""
    t0 = time.perf_counter()
    row, model, inputs = _started(name)
    small = tensor_bytes(model)
    if row["params"] <= DYNAMIC_MAX:
        for key, policy in POLICIES.items():
            try:
                row["checks"][f"dynamic/{key}"] = _dynamic(row, model, policy, inputs, small, key)
            except Exception as e:
                row["errors"][f"dynamic/{key}"] = f"{type(e).__name__}: {e}"[:300]
            gc.collect()
    row["seconds"] = round(time.perf_counter() - t0, 1)
    return row


def _dynamic(
    row: dict[str, Any], model: Any, policy: str, inputs: Any, small: int, key: str = ""
) -> Any:
    """The streamed forward pass against the whole one, on the blocks that ran, both on the
    same examples: the streamed pass sizes its batch by a block's cost, the whole one by
    memory, so the whole pass is asked for the streamed pass's batch (the same seed-0
    widening then draws the same inputs)."""
    sp = initpolicy.lint(model, policy, example_inputs=inputs, seed=0, memory=small)
    n = re.search(r"(\d+) examples?", sp.summary["dynamic_inputs"])
    th = {"batch": int(n.group(1))} if n else None
    wh = initpolicy.lint(model, policy, example_inputs=inputs, seed=0, memory=WHOLE, thresholds=th)
    ran = [r.summary["dynamic"] for r in (sp, wh)]
    row.setdefault("inputs", {})[key] = [r.summary["dynamic_inputs"][:200] for r in (sp, wh)]
    if not all(d.startswith("ran") for d in ran):
        raise RuntimeError(f"streamed: {ran[0][:150]} | whole: {ran[1][:150]}")
    expect = on_blocks_that_ran(found(wh, ("IP2",)), not_run(sp.summary))
    row.setdefault("blocks", sp.summary["streamed"]["blocks"])
    # what was compared, and what the whole pass found that is not expected of the other
    row.setdefault("found", {})[key] = {
        "streamed": found(sp, ("IP2",)),
        "whole": found(wh, ("IP2",)),
        "expected": expect,
    }
    return diff(found(sp, ("IP2",)), expect)


def _in_place(name: str, policy: str, inputs: Any) -> Any:
    from initpolicy.applier.execution import execute
    from initpolicy.linter.run import lint as run_lint
    from initpolicy.planner.match import build_plan
    from initpolicy.tracer.tracing import trace

    model = build(name)
    graph = trace(model, example_inputs=inputs)
    plan = build_plan(initpolicy.load(policy).ir, graph, seed=0)
    execute(plan, model)
    return run_lint(model, example_inputs=inputs, graph=graph, plan=plan, static=True)


def load(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return {r["name"]: r for r in rows}


def disagreements(row: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    return {k: v for k, v in row["checks"].items() if v["only_parts"] or v["only_whole"]}


def by_draw(row: dict[str, Any]) -> bool:
    """Whether the own-init disagreement is only where IP120 (a value on a trunc_normal_
    clamp bound) fell: both passes report IP120 on the model, every differing finding is
    IP120. The part-by-part pass draws with per-tensor seeds, the real build from one
    stream, so which tensor gets such a value differs; what each reports does not."""
    f = row.get("found", {}).get("own")
    d = row["checks"].get("static/own")
    if not f or not d:
        return False
    differ = d["only_parts"] + d["only_whole"]
    on_both = all(any(x[0] == "IP120" for x in f[k]) for k in ("parts", "whole"))
    return on_both and all(x[0] == "IP120" for x in differ)


def report(rows: dict[str, dict[str, Any]]) -> str:
    names = list(lint_run.builders())
    done = [rows[n] for n in names if n in rows]
    kinds: dict[str, int] = {}
    for r in done:
        for k in r["checks"]:
            kinds[k] = kinds.get(k, 0) + 1
    bad = {r["name"]: disagreements(r) for r in done if disagreements(r)}
    drawn = {n for n, d in bad.items() if set(d) == {"static/own"} and by_draw(rows[n])}
    errors = {r["name"]: r["errors"] for r in done if r["errors"]}
    lines = [
        f"models: {len(done)} of {len(names)} compared; "
        f"{sum(r['seconds'] for r in done):.0f} s in all",
        "comparisons: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())),
        f"disagreements: {sum(len(v) for v in bad.values())} (in {len(bad)} models)",
        f"  of which own init, the same IP120 on both sides but on other tensors (a random "
        f"draw on the clamp bound): {len(drawn)} models {sorted(drawn)}",
    ]
    for name, d in bad.items():
        for k, v in d.items():
            lines.append(f"  {name} {k}: only part by part {v['only_parts'][:4]} "
                         f"({len(v['only_parts'])}), only whole {v['only_whole'][:4]} "
                         f"({len(v['only_whole'])})")  # fmt: skip
    lines.append(f"not compared (errors): {sum(len(v) for v in errors.values())}")
    for name, e in errors.items():
        for k, v in e.items():
            lines.append(f"  {name} {k}: {v}")
    missing = [n for n in names if n not in rows]
    if missing:
        lines.append(f"not yet run: {len(missing)}")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--part", help="I/N: the I-th of N equal slices of the zoo")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--report", action="store_true")
    ap.add_argument("--no-dynamic", action="store_true")
    ap.add_argument("--reverse", action="store_true", help="the last models first")
    ap.add_argument("--only-dynamic", action="store_true", help="the dynamic checks alone")
    ap.add_argument("--only-own", action="store_true", help="the own-init check alone")
    ap.add_argument("--families", action="store_true", help="one model per source family")
    ap.add_argument("--names-from", type=Path, help="a file of names, one a line (resumable)")
    ap.add_argument("--only", help="a prefix: only the models named so (transformers/)")
    args = ap.parse_args()
    if args.report:
        rows: dict[str, dict[str, Any]] = {}
        for path in sorted(args.out.parent.glob(args.out.name)):  # pieces: --out 'dir/p*'
            for name, row in load(path).items():  # the row with the most checks wins
                if len(row["checks"]) >= len(rows.get(name, {"checks": ()})["checks"]):
                    rows[name] = row
        print(report(rows))
        return
    torch.set_num_threads(1)
    names = args.names or list(lint_run.builders())
    if args.names_from:
        names = [n for n in args.names_from.read_text().split() if n]
    if args.only:
        names = [n for n in names if n.startswith(args.only)]
    if args.families:
        first: dict[str, str] = {}
        for n in names:
            first.setdefault(lint_run.source_of(n), n)
        names = list(first.values())
    if args.reverse:
        names = names[::-1]
    if args.part:
        i, n = map(int, args.part.split("/"))
        names = names[i - 1 :: n]
    done = set() if args.names else set(load(args.out))
    for name in names:
        if name in done:
            continue
        row = compare(
            name, dynamic=not args.no_dynamic, only_dynamic=args.only_dynamic,
            only_own=args.only_own,
        )  # fmt: skip
        with args.out.open("a") as f:
            f.write(json.dumps(row) + "\n")
        d = disagreements(row)
        print(f"{name}: {row['seconds']} s, {len(row['checks'])} checks, "
              f"{len(d)} disagree {sorted(d)}, errors {sorted(row['errors'])}", flush=True)  # fmt: skip
        gc.collect()


if __name__ == "__main__":
    main()
