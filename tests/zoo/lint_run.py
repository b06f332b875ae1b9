"""How the zoo is linted: each model as its library builds it, with its declared input size
and a small batch, in one process with one torch thread.

Used by tests/test_lint_zoo.py (every model against its golden file), bench/lint_zoo.py (the
seeded-bug benchmark, the zoo table of docs/zoo.md, timings).

Inputs (the "declared input size"):

* timm: ``model.pretrained_cfg["input_size"]``;
* torchvision classification, video, segmentation: the crop size of the model's default
  weights' transforms (``torchvision.models.get_model_weights(name).DEFAULT.transforms()``;
  nothing is downloaded), segmentation at 224 (its transforms only resize);
* torchvision detection: one image of the size its name declares (320), as a list;
* RAFT: two images of its weights' minimum size (128 x 128);
* transformers: inferred by the tracer from the config (nothing given).

A model that accepts any size (timm's ``fixed_input_size`` false; a torchvision model whose
weights' ``min_size`` is under its crop size) and declares more than ``MAX_SIDE`` pixels
runs at ``MAX_SIDE``: EfficientNet-B7's 600 px or Qwen3-ViT's 768 px cost 25 and 50 CPU
seconds and find nothing a 320 px input does not (the CI budget, docs/zoo.md).

The dynamic pass widens the one example to ``BATCH`` examples.
"""

from __future__ import annotations

import json
import resource
import time
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import transformers_models, vision

#: Examples in the dynamic pass's batch.
BATCH = 2
#: Largest image side for models that accept any size.
MAX_SIDE = 320
#: Models with more parameters than this are linted --static only (memory and time: see
#: docs/zoo.md); their dynamic checks are left to a nightly run.
GIANT = 150_000_000


def _capped(size: tuple[int, ...], fixed: bool) -> tuple[int, ...]:
    c, *sides = size
    return tuple(size) if fixed else (c, *(min(s, MAX_SIDE) for s in sides))


def _timm_size(model: Any) -> tuple[int, ...]:
    cfg = model.pretrained_cfg
    return _capped(tuple(cfg["input_size"]), bool(cfg.get("fixed_input_size", True)))


def _tv_size(name: str) -> tuple[int, ...]:
    import torchvision

    weights = torchvision.models.get_model_weights(name).DEFAULT
    crop = getattr(weights.transforms(), "crop_size", None)
    side = int(crop[0]) if crop else 224
    if name == "s3d":
        return (3, 16, side, side)  # its final AvgPool3d((2, 7, 7)) needs 16 frames
    smallest = weights.meta.get("min_size", (side, side))[0]
    return _capped((3, side, side), fixed=smallest >= side)


def example_inputs(name: str, model: Any) -> Any:
    """One example in the model's declared input size (None: let the tracer infer it)."""
    torch.manual_seed(0)
    if name.startswith(HF):
        return None
    source = vision.SOURCE[name]
    if source.startswith("timm"):
        return torch.randn(1, *_timm_size(model))
    task = source.split("/")[1]
    if task == "detection":
        return ([torch.rand(3, 320, 320)],)
    if task == "optical_flow":
        return (torch.rand(1, 3, 128, 128), torch.rand(1, 3, 128, 128))
    if task == "segmentation":
        return torch.randn(1, 3, 224, 224)
    return torch.randn(1, *_tv_size(name))


#: The prefix of transformers models (torchvision and transformers both have a
#: ``mobilenet_v2``; timm's names already carry ``timm/``).
HF = "transformers/"


def builders() -> dict[str, Callable[[], Any]]:
    """Every zoo model: name -> zero-argument builder."""
    return {**vision.MODELS, **{HF + n: b for n, b in transformers_models.MODELS.items()}}


def source_of(name: str) -> str:
    if name.startswith(HF):
        return f"transformers/{transformers_models.FAMILY[name.removeprefix(HF)]}"
    return vision.SOURCE[name]


def giant(name: str) -> bool:
    """Over :data:`GIANT` parameters (counted on the meta device by the zoo's survey)."""
    return vision.PARAMS.get(name, 0) > GIANT


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


@dataclass
class ZooRun:
    """One model linted: the result and what it cost."""

    name: str
    result: Any = None
    error: str | None = None
    static: bool = False
    build_cpu: float = 0.0
    lint_cpu: float = 0.0
    lint_wall: float = 0.0
    params: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def lint_model(name: str, model: Any = None, **kw: Any) -> ZooRun:
    """Build ``name`` (unless given) and lint it as the zoo test does."""
    import initpolicy

    run = ZooRun(name)
    c = _cpu()
    if model is None:
        torch.manual_seed(0)
        model = builders()[name]()
    run.build_cpu = _cpu() - c
    run.params = sum(p.numel() for p in model.parameters())
    run.static = run.params > GIANT or kw.pop("static", False)
    inputs = example_inputs(name, model)
    c, t = _cpu(), time.perf_counter()
    try:
        run.result = initpolicy.lint(
            model,
            example_inputs=inputs,
            static=run.static,
            thresholds={"batch": BATCH, **kw.pop("thresholds", {})},
            **kw,
        )
    except Exception as e:  # the caller reports it
        run.error = f"{type(e).__name__}: {e}".splitlines()[0][:300]
    run.lint_cpu = _cpu() - c
    run.lint_wall = time.perf_counter() - t
    return run


# -- agreement: the analytic static pass gives the sampled pass's findings ---------------
#: The policies the agreement is checked under (tests/test_lint_zoo.py, bench/bench_agreement.py):
#: one that plans every layer of a ReLU net, one that puts std 1 on every Linear (errors on
#: most layers: the findings the analytic pass must reproduce).
AGREEMENT_POLICIES = ("relu_net", "Linear -> normal(0, 1.0)\n")


def build(name: str) -> Any:
    """``name`` built as the zoo test builds it (seed 0)."""
    torch.manual_seed(0)
    return builders()[name]()


def static_found(result: Any) -> list[tuple[str, str, str]]:
    """(code, target, severity) of every static and policy finding (IP1xx, IP3xx), sorted."""
    return sorted(
        (f.code, f.target, f.severity)
        for f in result.all_findings
        if f.code.startswith(("IP1", "IP3"))
    )


def disagreements(name: str, model: Any, graph: Any, policy: str) -> dict[str, list[Any]]:
    """Where the analytic static pass (the policy judged from its plan, on a meta copy of
    ``model``: what lint does with a model larger than memory) and the sampled one (the
    policy applied to ``model`` in place, every tensor measured) disagree: the findings
    only each found (both empty: they agree).

    ``graph`` is ``model``'s trace (the zoo lint's), so the sampled pass costs no trace and
    no copy; the model's values are overwritten with the policy's. Tensors the policy
    does not write keep the values they have now, in both passes."""
    import initpolicy
    from initpolicy.applier.execution import execute
    from initpolicy.linter.memory_budget import tensor_bytes
    from initpolicy.linter.run import lint as run_lint
    from initpolicy.planner.match import build_plan

    inputs = example_inputs(name, model)
    # a budget of the model's size: it does not fit whole, so lint goes part by part
    parts = initpolicy.lint(
        model, policy, example_inputs=inputs, static=True, seed=0, memory=tensor_bytes(model)
    )
    assert parts.summary["streamed"]["static"].startswith("analytic"), parts.summary
    plan = build_plan(initpolicy.load(policy).ir, graph, seed=0)
    execute(plan, model)
    whole = run_lint(model, example_inputs=inputs, graph=graph, plan=plan, static=True)
    a, b = set(static_found(parts)), set(static_found(whole))
    return {"only_analytic": sorted(a - b), "only_sampled": sorted(b - a)}


# -- golden files: each model's exact findings, each with the reason it is right ----------
GOLDEN_DIR = Path(__file__).resolve().parents[1] / "data" / "lint" / "zoo"
FAMILIES: dict[str, list[str]] = {
    "vision": list(vision.MODELS),
    "transformers": [HF + n for n in transformers_models.MODELS],
}
GOLDEN_HEADER = """\
# The zoo's lint results, one table per model, as its library builds it (tests/zoo/lint_run.py
# says how: declared input size, batch of 2). tests/test_lint_zoo.py checks that lint reports
# exactly these findings (code, target, severity); each carries the reason it is right,
# reviewed against the architecture. Regenerate with `python bench/bench_zoo.py --update`:
# reasons of findings that remain are kept, new findings get an empty reason (the test
# fails until one is written).
"""


@dataclass
class Golden:
    """One model's expected lint result."""

    name: str
    source: str
    tracer: str
    layers: int
    params: int
    dynamic: str
    #: (code, target, severity, why), sorted by code and target.
    findings: list[tuple[str, str, str, str]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {
            sev: sum(1 for f in self.findings if f[2] == sev)
            for sev in ("error", "warning", "info")
        }


def family_of(name: str) -> str:
    return next(f for f, models in FAMILIES.items() if name in models)


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def load_golden() -> dict[str, Golden]:
    out: dict[str, Golden] = {}
    for family in FAMILIES:
        path = GOLDEN_DIR / f"{family}.toml"
        if not path.exists():
            continue
        with path.open("rb") as f:
            data = tomllib.load(f)
        for name, e in data.items():
            findings = [(c, t, s, w) for c, t, s, w in e.get("findings", [])]
            out[name] = Golden(
                name, e["source"], e["tracer"], e["layers"], e["params"], e["dynamic"], findings
            )
    return out


def save_golden(entries: Mapping[str, Golden]) -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for family, models in FAMILIES.items():
        lines = [GOLDEN_HEADER]
        for name in models:
            g = entries.get(name)
            if g is None:
                continue
            lines += [
                f"[{_toml_str(name)}]",
                f"source = {_toml_str(g.source)}",
                f"tracer = {_toml_str(g.tracer)}",
                f"layers = {g.layers}",
                f"params = {g.params}",
                f"dynamic = {_toml_str(g.dynamic)}",
            ]
            if g.findings:
                lines.append("findings = [")
                lines += [f"    [{', '.join(map(_toml_str, f))}]," for f in g.findings]
                lines.append("]")
            lines.append("")
        (GOLDEN_DIR / f"{family}.toml").write_text("\n".join(lines), encoding="utf-8")


def dynamic_of(run: ZooRun) -> str:
    """What the dynamic pass did, as the golden file records it."""
    if run.static:
        return f"static only: {run.params / 1e6:.0f}M parameters (over {GIANT / 1e6:.0f}M)"
    s = run.result.summary
    return f"{s['dynamic']}: {s['dynamic_inputs']}" if s["dynamic"] == "ran" else s["dynamic"]


def found(run: ZooRun) -> list[tuple[str, str, str]]:
    """(code, target, severity) of every finding, sorted."""
    return sorted((f.code, f.target, f.severity) for f in run.result.findings)


def golden_of(run: ZooRun, previous: Golden | None = None) -> Golden:
    """The golden entry for ``run``, keeping ``previous``'s reasons where findings remain."""
    why = {f[:3]: f[3] for f in previous.findings} if previous else {}
    g = run.result.graph
    return Golden(
        run.name,
        source_of(run.name),
        g.tracer,
        len(g.layers),
        run.params,
        dynamic_of(run),
        [(*f, why.get(f, "")) for f in found(run)],
    )


def zoo_table(entries: Mapping[str, Golden]) -> str:
    """docs/zoo.md's table: one row per model."""
    rows = [
        "| model | source | params | tracer | layers | errors | warnings | info | dynamic pass |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for family, models in FAMILIES.items():
        del family
        for name in models:
            g = entries.get(name)
            if g is None:
                continue
            c = g.counts()
            dyn = g.dynamic.split(":")[0]
            rows.append(
                f"| {name} | {g.source} | {g.params / 1e6:.1f}M | {g.tracer} | {g.layers} | "
                f"{c['error']} | {c['warning']} | {c['info']} | {dyn} |"
            )
    return "\n".join(rows)
