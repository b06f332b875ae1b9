"""``initpolicy.linter.run``: what is wrong with a model's initialization, how we know, and what
it should be.

>>> import torch, initpolicy
>>> model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
>>> result = initpolicy.lint(model, static=True)                          # doctest: +SKIP
>>> [(f.code, f.name, f.target) for f in result.findings]                  # doctest: +SKIP
[('IP106', 'torch-default-before-relu', '0.weight')]

The pipeline: trace the model (which activation follows each layer), optionally plan and
apply a policy to a deep copy, run the static rules on every parameter, the policy rules on
the plan, the dynamic rules on one forward and backward pass; then select, fold and sort.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .findings import SEVERITIES, Finding, fold, severity_rank, sort_findings
from .lint_settings import check_fail_level, settings
from .probe import LayerStat
from .registry import all_rules, selected
from .rule import LintContext, LintRule
from .thresholds import thresholds as make_thresholds

if TYPE_CHECKING:
    from ..common import Progress
    from ..planner import Plan
    from ..tracer import ModelGraph
    from .memory_budget import Budget
    from .stream import Loader

#: Why the dynamic rules do not run on a sharded model (docs/distributed.md).
SHARDED_DYNAMIC = (
    "skipped (sharded model: the probe's forward and backward would have to run on every "
    "rank in lockstep through FSDP2's and tensor parallel's collectives; lint an unsharded "
    "copy built with the same policy and seed for the IP2xx rules)"
)


@dataclass
class LintResult:
    """Findings (selected, folded, errors first), per-layer numbers and a summary."""

    findings: list[Finding]
    layer_stats: list[LayerStat]
    summary: dict[str, Any]
    fail_level: str = "warning"
    #: Every finding before selection and folding (what ``--fix-policy`` resolves).
    all_findings: list[Finding] = field(default_factory=list)
    graph: Any = None

    def failed(self, fail_level: str | None = None) -> bool:
        """True when a finding reaches ``fail_level`` (default: the configured one)."""
        level = severity_rank(fail_level or self.fail_level)
        return any(severity_rank(f.severity) >= level for f in self.findings)

    def to_json(self) -> dict[str, Any]:
        """``{"findings": [...], "summary": {...}}``, the contract of PRODUCT.md."""
        return {"findings": [f.to_json() for f in self.findings], "summary": self.summary}


def _config_table(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    where = str(getattr(config, "path", "lint(config=...)"))
    return settings(getattr(config, "lint", config), where=where)


def _trace(model: Any, example_inputs: Any) -> Any:
    from ..tracer import trace

    return trace(model, example_inputs=example_inputs)


#: What a graph traced by :func:`traced_loaded` says of itself (``graph.warnings``).
LOADED_TRACE = (
    "traced with every part loaded (the forward reads values, which a meta tensor has "
    "not: on meta only the modules tracer ran), then freed"
)


def traced_loaded(
    model: Any, example_inputs: Any, graph: Any, loader: Any, budget: Any, bar: Any = None
) -> Any:
    """``graph`` of a meta ``model``, or one traced again with every part loaded.

    A forward that reads values (a detector's boxes, ``.item()``, ``nonzero``) cannot run
    on meta, so the trace falls back to the modules tracer, which takes each module as
    followed by the next one registered (a squeeze-excitation's ``fc1`` by ``fc2``, its
    ReLU missed), or it does not reach every layer. Where the model fits ``budget`` twice
    over (its values and the trace's activations), its parts are all loaded by ``loader``
    (the model's own init, or a plan's values), it is traced once more, and freed; the
    graph says so in its warnings. Otherwise, or where that trace fails too, ``graph``."""
    if graph.tracer != "modules" and all(x.resolution.called for x in graph.layers):
        return graph
    from .memory_budget import tensor_bytes

    if budget is None or not budget.fits(2 * tensor_bytes(model)):
        return graph
    if bar is not None:
        bar.stage("tracing with the model loaded")
    try:
        with loader.loaded([name for name, _ in model.named_modules()]):
            again = _trace(model, example_inputs)
    except Exception:  # a model the loaded trace cannot run either: the meta trace stands
        return graph
    if again.tracer == "modules":
        return graph
    return replace(again, warnings=(*again.warnings, LOADED_TRACE))


def _sharded(model: Any) -> bool:
    from ..shards import is_sharded

    return is_sharded(model)


def _has_inputs(rule: type[LintRule], ctx: LintContext) -> bool:
    """Whether what ``rule`` reads is there: a dynamic pass that ran, a policy's plan."""
    if rule.kind == "dynamic":
        return ctx.stats is not None
    if rule.kind == "policy":
        return ctx.plan is not None
    return True


def _check_materialized(model: Any) -> None:
    """Values are what lint checks: a model on the meta device has none."""
    meta = [n for n, p in getattr(model, "named_parameters", lambda: [])() if p.is_meta]
    if meta:
        more = f" and {len(meta) - 3} more" if len(meta) > 3 else ""
        raise UsageError(
            f"the model is on the meta device ({', '.join(meta[:3])}{more} have no values), "
            "so there is no initialization to lint\n"
            "  hint: lint a policy's initialization instead (lint --policy P, or "
            "lint(model, policy=...)), which initializes a copy of the model"
        )


def _codes(what: str, value: object) -> list[str] | None:
    """``select``/``ignore``/``extend_select`` as a list of codes or names (one string is
    one code); UsageError for anything else (``select=5``).

    >>> _codes("select", "IP1"), _codes("select", ("IP1", "gain-mismatch"))
    (['IP1'], ['IP1', 'gain-mismatch'])
    """
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else None
    if items is None or not all(isinstance(v, str) for v in items):
        raise UsageError(
            f"{what} takes rule codes or names (e.g. ['IP1', 'gain-mismatch']), not {value!r}"
        )
    return items


def _names(e: Any) -> tuple[str, ...]:
    return (e.param.name, e.param.raw_name, *e.param.aliases)


def lint(
    model: Any,
    *,
    example_inputs: Any = None,
    static: bool = False,
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
    thresholds: Mapping[str, Any] | None = None,
    config: Any = None,
    fail_level: str | None = None,
    strict: bool = False,
    graph: ModelGraph | None = None,
    plan: Plan | None = None,
    loader: Loader | None = None,
    budget: Budget | None = None,
    progress: Progress | bool | None = None,
    written: Mapping[str, str] | None = None,
) -> LintResult:
    """Lint ``model``'s initialization as it is.

    ``plan`` is the Plan that initialized ``model`` (a policy applied to it, see
    :func:`initpolicy.api.lint`): its rules are then checked too (IP3xx) and findings
    point at the rules' lines.
    ``config`` is a :class:`~initpolicy.cli.config.Config` or its ``[tool.initpolicy.lint]``
    table; explicit arguments win over it (``extend_select``/``ignore`` add to it).
    ``graph`` reuses a ModelGraph traced from ``model``.
    ``loader`` (a :class:`~initpolicy.linter.stream.Loader`): the model is judged part by
    part (:mod:`initpolicy.linter.stream`), each part materialized by the loader, within
    ``budget`` (:mod:`initpolicy.linter.memory_budget`); ``progress`` draws the stages.
    ``written``: parameter name -> ``file:line`` of the model's code that wrote its values
    (:meth:`initpolicy.extractor.recorder.Recorder.user_sites`): findings on those values
    point there.

    >>> result = lint(model, select=["IP1"], static=True)          # doctest: +SKIP
    >>> result.failed(), result.to_json()["summary"]["findings"]   # doctest: +SKIP
    (True, 1)
    """
    chosen = _Selection.of(config, select, ignore, extend_select, thresholds, fail_level)

    from ..common import progress_of

    bar = progress_of(progress)
    if plan is None and loader is None:
        _check_materialized(model)
    if graph is None:
        bar.stage("tracing")
        graph = _trace(model, example_inputs)
        if loader is not None:
            graph = traced_loaded(model, example_inputs, graph, loader, budget, bar)
    # a tensor the plan wrote is located at its rule; the model's writes of it were undone
    rewritten = {n for e in (plan.entries if plan is not None else ()) for n in _names(e)}
    sites = {k: v for k, v in (written or {}).items() if k not in rewritten}
    ctx = LintContext(chosen.thresholds, graph, model, plan, strict, (), None, sites)
    wants_dynamic = not static and any(
        r.kind == "dynamic" for r in all_rules() if r.code in chosen.enabled
    )
    if loader is not None:
        passes = _streamed(ctx, example_inputs, loader, wants_dynamic, budget, bar)
    else:
        cap = budget.bytes if budget is not None and budget.given else None
        passes = _in_memory(ctx, example_inputs, static, wants_dynamic, bar, cap)
    # dynamic rules that name a weight (IP220) read its subject (streamed: its statistics)
    ctx = replace(ctx, subjects=passes.subjects, stats=passes.stats)
    # Every rule runs, selected or not: --fix-policy resolves all init findings
    # (LintResult.all_findings); selection decides what is reported.
    raw = passes.findings + [
        f for r in all_rules() if r.kind != "static" and _has_inputs(r, ctx) for f in r.check(ctx)
    ]
    bar.close()
    result = _result(raw, chosen, graph, passes, plan)
    if budget is not None:
        result.summary["memory"] = budget.describe()
    return result


@dataclass(frozen=True)
class _Selection:
    """The rules that are reported, the thresholds and the fail level: the explicit
    arguments over the configured ``[tool.initpolicy.lint]`` table (``ignore`` and
    ``extend_select`` add to it)."""

    enabled: set[str]
    thresholds: Any
    level: str

    @classmethod
    def of(
        cls,
        config: Any,
        select: Sequence[str] | None,
        ignore: Sequence[str] | None,
        extend_select: Sequence[str] | None,
        thresholds: Mapping[str, Any] | None,
        fail_level: str | None,
    ) -> _Selection:
        table = _config_table(config)
        codes = _codes("select", select)
        codes = codes if codes is not None else table.get("select")
        ignored = [*table.get("ignore", []), *(_codes("ignore", ignore) or [])]
        extend = [*table.get("extend-select", []), *(_codes("extend_select", extend_select) or [])]
        enabled = {r.code for r in selected(codes, ignored, extend)}
        th = make_thresholds({**dict(table.get("thresholds", {})), **dict(thresholds or {})})
        level = check_fail_level(fail_level or str(table.get("fail-level", "warning")))
        return cls(enabled, th, level)


@dataclass(frozen=True)
class _Passes:
    """What the static and dynamic passes found: the static findings, the subjects judged
    (kept for the dynamic rules only when in memory), the per-layer statistics (None: no
    dynamic pass) and why not, the inputs probed, the streamed pass if it was one."""

    findings: list[Finding]
    n_subjects: int
    stats: list[LayerStat] | None
    dynamic: str
    probed: str
    subjects: tuple[Any, ...] = ()
    streamed: Any = None


def _judge(ctx: LintContext) -> Callable[[Sequence[Any]], list[Finding]]:
    """The static rules as one judge of a batch of subjects (each rule reads one at a time)."""
    static_rules = [r for r in all_rules() if r.kind == "static"]

    def judge(batch: Sequence[Any]) -> list[Finding]:
        each = replace(ctx, subjects=tuple(batch))
        return [f for r in static_rules for f in r.check(each)]

    return judge


def _streamed(
    ctx: LintContext, example_inputs: Any, loader: Any, dynamic: bool, budget: Any, bar: Any
) -> _Passes:
    """Both passes part by part, each part materialized by ``loader`` within ``budget``."""
    from .memory_budget import budget as measured_budget
    from .stream import stream

    streamed = stream(
        ctx.model, ctx.graph, ctx.plan, loader, _judge(ctx), example_inputs=example_inputs,
        thresholds=ctx.thresholds, dynamic=dynamic, budget=budget or measured_budget(),
        progress=bar, written=ctx.written,
    )  # fmt: skip
    return _Passes(
        streamed.findings,
        streamed.subjects,
        streamed.stats,
        streamed.dynamic,
        streamed.inputs,
        tuple(streamed.judged),  # tensors freed: statistics only
        streamed=streamed,
    )


def _in_memory(
    ctx: LintContext,
    example_inputs: Any,
    static: bool,
    dynamic: bool,
    bar: Any,
    cap: float | None = None,
) -> _Passes:
    """The static pass on every tensor, then the dynamic probe unless ``static``, the model
    is sharded, or no selected rule needs it; the probe holds at most ``cap`` bytes where
    one is given (``--memory``)."""
    from .probe import run_probe
    from .subject import subjects

    graph, model, th = ctx.graph, ctx.model, ctx.thresholds
    bar.stage(
        "static pass: tensors", total=sum(p.kind == "parameter" for _, p in graph.parameters())
    )
    params = tuple(subjects(graph, model, ctx.plan, tick=bar.advance, written=ctx.written))
    found = _judge(ctx)(params)
    if not static and _sharded(model):
        return _Passes(found, len(params), None, SHARDED_DYNAMIC, "", params)
    if not dynamic:
        return _Passes(found, len(params), None, "skipped (--static)", "", params)

    def layer_done() -> None:  # a layer called twice is measured once
        if bar.done < len(graph.layers):
            bar.advance()

    bar.stage("dynamic pass: layers", total=len(graph.layers))
    stats, why, probed = run_probe(
        model, graph, example_inputs, int(th["batch"]), th["saturation-derivative"],
        th["memory-budget"], tick=layer_done, cap=cap,
    )  # fmt: skip
    return _Passes(found, len(params), stats, why, probed, params)


def _result(
    raw: list[Finding], chosen: _Selection, graph: Any, passes: _Passes, plan: Any
) -> LintResult:
    """The selected findings, folded and sorted, and the summary of the run."""
    findings = sort_findings(
        fold([replace(f, related=list(f.related)) for f in raw if f.code in chosen.enabled])
    )
    counts: dict[str, int] = {sev: sum(f.severity == sev for f in findings) for sev in SEVERITIES}
    by_code: dict[str, int] = {}
    for f in findings:
        by_code[f.code] = by_code.get(f.code, 0) + 1
    result = LintResult(findings, passes.stats or [], {}, chosen.level, raw, graph)
    result.summary = {
        "findings": len(findings),
        **counts,
        "by_code": dict(sorted(by_code.items())),
        "fail_level": chosen.level,
        "failed": result.failed(),
        "layers": len(graph.layers),
        "parameters": passes.n_subjects,
        "rules": len(chosen.enabled),
        "dynamic": passes.dynamic,
        "dynamic_inputs": passes.probed,
        "policy": plan.policy.source if plan is not None else None,
    }
    if passes.streamed is not None:
        result.summary["streamed"] = passes.streamed.summary()
    return result
