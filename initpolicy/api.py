r"""The library's front door: load a policy, then plan, apply or lint with it.

>>> import initpolicy
>>> policy = initpolicy.load("Linear before ReLU -> kaiming_normal(fan_in)\nbias -> constant(0.01)")
>>> len(policy.rules)
2

This is the one module that composes the stages (language -> tracer -> planner ->
applier / linter / extractor); the stages themselves never import each other upwards. Loading and
checking a policy never import torch; ``plan``/``apply``/``lint`` import the torch-side
stages when they are called.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import InitPolicyError, UsageError
from .language import PolicyIR, Rule

if TYPE_CHECKING:  # pragma: no cover
    from torch.nn import Module

    from .applier import LayerRecord, Report
    from .extractor import Build, ExtractResult, Recording
    from .linter import LintResult
    from .planner import Plan
    from .tracer import ModelGraph

Skip = Mapping[str, Any] | Iterable[str] | None


class Policy:
    """A loaded, validated policy. Immutable; cheap to share."""

    def __init__(self, ir: PolicyIR):
        self.ir = ir

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.ir.rules

    @property
    def seed(self) -> int | None:
        return self.ir.seed

    @property
    def source(self) -> str:
        return self.ir.source

    def __repr__(self) -> str:
        return f"Policy({self.ir.source!r}, {len(self.ir.rules)} rules)"

    def plan(
        self,
        model: Any,
        *,
        example_inputs: Any = None,
        seed: int | None = None,
        skip: Skip = None,
        include_frozen: bool = False,
        strict: bool = False,
    ) -> Plan:
        """Match this policy against ``model``: the per-parameter plan, nothing written.

        >>> plan = policy.plan(model)          # doctest: +SKIP
        >>> plan.entries[0].std                # doctest: +SKIP
        0.2
        """
        from .planner import build_plan

        _check_module(model, "plan")
        names = tensor_names("skip", skip)
        graph = self._graph(model, example_inputs, full=True)
        return build_plan(
            self.ir, graph, seed=seed, skip=names, include_frozen=include_frozen, strict=strict
        )

    def _graph(self, model: Any, example_inputs: Any, *, full: bool) -> ModelGraph:
        """The ModelGraph this policy is planned on. A policy that reads no activation (no
        before/after, gain, slope, depth) needs only the module structure, not a forward
        pass: apply builds just that, and ``plan`` (explain) traces fully for the
        activation column but falls back to the structure when the forward fails, so that
        explain and apply refuse exactly the same models."""
        from .planner import needs_trace
        from .tracer import trace as run_trace

        if needs_trace(self.ir) or _has_lazy(model):
            return run_trace(model, example_inputs=example_inputs)
        if not full:
            return run_trace(model, example_inputs=example_inputs, tracer="modules")
        try:
            return run_trace(model, example_inputs=example_inputs)
        except InitPolicyError as e:
            graph = run_trace(model, example_inputs=example_inputs, tracer="modules")
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            note = f"activations not traced ({first}); this policy does not read them"
            return replace(graph, warnings=(*graph.warnings, note))

    def apply(
        self,
        model: Any,
        seed: int | None = None,
        example_inputs: Any = None,
        strict: bool = False,
        device: Any = None,
        skip: Skip = None,
        include_frozen: bool = False,
        threads: int | None = None,
        data: Any = None,
    ) -> Report:
        """Initialize every parameter of ``model`` by this policy; returns the Report.

        Raises PlanError, with the model untouched, when the policy cannot be applied.
        ``seed``: over the policy's ``seed N``, over 0. ``device``: where a meta model is
        materialized (default cpu). ``skip``: a state_dict or names left alone (initialize
        only what a checkpoint lacks). ``threads``: how many threads draw (default: torch's
        intra-op thread count). A sharded model (FSDP2, tensor parallel) is applied by
        every rank, each writing its shards (docs/distributed.md). ``data``: this rank's
        calibration inputs, for a policy with ``lsuv`` rules: the same as
        :func:`calibrate` (a DDP- or FSDP2-wrapped model too), whose result is the
        Report's ``calibration`` (its ``.text`` replays the weights without data).

        >>> report = policy.apply(model, seed=0)          # doctest: +SKIP
        """
        from .applier import execute
        from .planner import build_plan

        _check_module(model, "apply")
        names = tensor_names("skip", skip)
        if data is not None:
            if device is not None or example_inputs is not None:
                raise UsageError(
                    "apply with data= calibrates on the data: it takes neither device= "
                    "(calibrate a model that is not on meta) nor example_inputs= (the data "
                    "are the inputs)"
                )
            options = {"skip": names, "strict": strict, "include_frozen": include_frozen}
            result = _calibrate(model, self, data, seed, threads=threads, plan_options=options)
            result.report.calibration = result
            if result.report.plan.outputs:
                from .applier import install, scales
                from .shards import data_parallel

                outputs = result.report.plan.outputs.values()
                install(data_parallel(model).module, scales(outputs))
            return result.report
        graph = self._graph(model, example_inputs, full=False)
        the_plan = build_plan(
            self.ir, graph, seed=seed, skip=names, include_frozen=include_frozen, strict=strict
        )
        report = execute(the_plan, model, device=device, threads=threads)
        if the_plan.outputs:
            from .applier import install, scales

            install(model, scales(the_plan.outputs.values()))
        return report

    def attach(self, model: Any, *, example_inputs: Any = None) -> dict[str, float]:
        """Install this policy's forward multipliers (``with output = ...``) on ``model``,
        weights untouched: what a model loaded from a checkpoint needs, because hooks are
        not in a state_dict. Returns module name -> multiplier (empty: the policy sets
        none). Replaces multipliers installed before, so attaching twice is harmless.

        >>> model.load_state_dict(torch.load("ckpt.pt"))                  # doctest: +SKIP
        >>> initpolicy.load("mup", base_width=256).attach(model)            # doctest: +SKIP
        {'lm_head': 0.25}
        """
        from .applier import install, scales

        _check_module(model, "attach")
        the_plan = self.plan(model, example_inputs=example_inputs, include_frozen=True)
        return install(model, scales(the_plan.outputs.values()))

    def param_groups(
        self,
        model: Any,
        *,
        lr: float,
        optimizer: str = "adamw",
        weight_decay: float = 0.0,
        eps: float | None = None,
        example_inputs: Any = None,
    ) -> list[dict[str, Any]]:
        """The parameter groups to hand to ``torch.optim`` as they are: each parameter's
        ``lr``, ``weight_decay`` (and Adam's ``eps``, default 1e-8) are these base values
        times the multipliers of the rule that won it (``with lr = ...``; docs/mup.md).
        Groups are keyed by parameter name (``param_names``), so they are identical on
        every rank and after FSDP2 ``fully_shard``; nothing is stored on the tensors.

        >>> groups = initpolicy.load("mup").param_groups(model, lr=1e-3)   # doctest: +SKIP
        >>> opt = torch.optim.AdamW(groups)                                 # doctest: +SKIP
        """
        from .planner import build_plan, check_optimizer, group_specs
        from .tracer import trace as run_trace

        _check_module(model, "param_groups")
        check_optimizer(optimizer)
        graph = run_trace(model, example_inputs=example_inputs)
        the_plan = build_plan(self.ir, graph, include_frozen=True)
        params = dict(model.named_parameters())
        specs = group_specs(
            the_plan, params, lr=lr, optimizer=optimizer, weight_decay=weight_decay, eps=eps
        )
        return [
            {"params": [params[n] for n in g.names], "param_names": list(g.names), **g.options()}
            for g in specs
        ]


@dataclass
class Calibration:
    """What :func:`calibrate` did. ``text``: a policy that replays the calibrated weights
    bit for bit without data; ``records``: per calibrated layer, its output variance
    before and after, the factor and the iterations; ``report``: the apply Report (before
    rescaling: its std is the inner scheme's)."""

    text: str
    records: list[LayerRecord]
    report: Report
    data: str
    sha256: str
    #: Seconds spent: ``trace``, ``apply`` (drawing the inner schemes), ``lsuv``.
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def not_converged(self) -> list[LayerRecord]:
        return [r for r in self.records if not r.converged]

    def to_json(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "sha256": self.sha256,
            "layers": [r.to_json() for r in self.records],
            "not_converged": [r.layer for r in self.not_converged],
        }


def calibrate(
    model: Any,
    policy: Policy | str | Path,
    data: Any,
    seed: int | None = 0,
    *,
    threads: int | None = None,
    source: str | None = None,
) -> Calibration:
    """Apply ``policy`` to ``model`` and run its calibrations (``lsuv``) on ``data``, in
    place (docs/calibrate.md). ``data``: the model's inputs, as ``example_inputs`` (a
    tensor, a tuple of positional inputs, a dict of keyword inputs); under
    torch.distributed, this rank's shard of the batch. ``source`` names the data in the
    replay's header. ``model`` may be wrapped in DistributedDataParallel (its ``.module``
    is calibrated, the statistics summed over its process group) or sharded by FSDP2's
    ``fully_shard`` (each factor multiplies the local shards, the statistics are summed
    over the mesh): the policy written is the plain model's.

    >>> result = initpolicy.calibrate(model, "lsuv", torch.randn(256, 784), seed=0)  # doctest: +SKIP
    >>> initpolicy.load(result.text).apply(fresh_model)   # the same weights, bit for bit  # doctest: +SKIP
    """
    return _calibrate(model, policy, data, seed, threads=threads, source=source)


def _calibrate(
    model: Any,
    policy: Policy | str | Path,
    data: Any,
    seed: int | None,
    *,
    threads: int | None = None,
    source: str | None = None,
    plan_options: Mapping[str, Any] | None = None,
) -> Calibration:
    """:func:`calibrate`, with ``build_plan``'s options (``apply(..., data=)``'s skip,
    strict, include_frozen)."""
    from .applier import calibrate_plan, data_identity, replay_text
    from .planner import build_plan
    from .shards import data_parallel
    from .tracer import as_call
    from .tracer import trace as run_trace

    _check_module(model, "calibrate")
    if data is None:
        raise UsageError("calibrate needs data: the model's inputs (a tensor, tuple or dict)")
    the_policy = as_policy(policy)
    call = as_call(data)
    wrapped = data_parallel(model)
    model = wrapped.module
    start = time.perf_counter()
    graph = run_trace(model, example_inputs=data)
    traced = time.perf_counter() - start
    the_plan = build_plan(the_policy.ir, graph, seed=seed, **(plan_options or {}))
    done = calibrate_plan(the_plan, model, call, threads=threads, group=wrapped.group)
    shapes, sha = data_identity(call, wrapped.group)
    what = f"{the_policy.source}" + (f" on {source}" if source else "")
    text = replay_text(the_plan, done, (shapes, sha), what)
    return Calibration(
        text=text,
        records=done.records,
        report=done.report,
        data=shapes,
        sha256=sha,
        seconds={"trace": traced, **done.seconds},
    )


def synthetic_inputs(model: Any, example_inputs: Any = None, batch: int = 64) -> Any:
    """``batch`` synthetic examples for ``model`` (N(0, 1) floats, repeated token ids): of
    the shape of ``example_inputs`` when given, else of the inputs lint infers."""
    from .tracer import synthetic_batch

    _check_module(model, "calibrate")
    return synthetic_batch(model, batch, example_inputs)


def _check_module(model: Any, what: str) -> None:
    if not hasattr(model, "named_modules") or not hasattr(model, "state_dict"):
        raise UsageError(f"{what} needs a torch.nn.Module, got {type(model).__name__}")


def tensor_names(what: str, value: Any) -> list[str] | None:
    """The tensor names an argument such as ``skip=`` or ``missing_keys=`` gives: a
    state_dict's (any mapping's) keys, or an iterable of strings; UsageError otherwise,
    for a bare string too (it would be read one character at a time).

    >>> tensor_names("skip", {"fc.weight": 0}), tensor_names("skip", None)
    (['fc.weight'], None)
    >>> tensor_names("missing_keys", "score.weight")
    Traceback (most recent call last):
    initpolicy.errors.UsageError: missing_keys takes a list of state_dict keys, not one string: pass ['score.weight']
    """
    if value is None:
        return None
    if isinstance(value, str | bytes):
        raise UsageError(
            f"{what} takes a list of state_dict keys, not one string: pass [{value!r}]"
        )
    if isinstance(value, Mapping):
        names = list(value)
    else:
        try:
            names = list(value)
        except TypeError:
            raise UsageError(
                f"{what} takes a state_dict or a list of its keys, not {type(value).__name__}"
            ) from None
    bad = next((n for n in names if not isinstance(n, str)), None)
    if bad is not None:
        raise UsageError(
            f"{what} takes state_dict keys, which are strings; got {bad!r} ({type(bad).__name__})"
        )
    return names


def _has_lazy(model: Any) -> bool:
    """Lazy parameters get their shapes from a forward pass, which only a trace runs."""
    from torch.nn.parameter import is_lazy

    return any(is_lazy(p) for p in model.parameters())


def load_spec(spec: str | Path, values: Mapping[str, float] | None = None) -> Policy:
    """A policy file or a built-in policy's name (never policy text): what ``--policy``
    takes. ``NAME.pol`` with no such file, where NAME is a built-in, is the built-in, so
    the design card's ``--policy relu_net.pol`` works in any directory.

    >>> load_spec("relu_net.pol").source
    '<builtin>/relu_net'
    """
    from .language import parse_any

    return Policy(parse_any(spec, values))


def load(source: str | Path, **values: float) -> Policy:
    """Load a policy from a path, a built-in name (``"relu_net"``) or policy text.

    A ``Path``, an existing file, a string ending in ``.pol`` or a single word is a file or
    a built-in (see :func:`load_spec`); anything else is policy text. ``values`` replace
    the policy's ``let`` of each name (in every file it includes); a name the policy has no
    ``let`` for is a UsageError: ``load("mup", base_width=128)``.

    >>> load("relu_net").source
    '<builtin>/relu_net'
    >>> len(load("Linear before ReLU -> kaiming_normal(fan_in)").rules)
    1
    """
    from .common import is_file
    from .language import parse

    if isinstance(source, Path):
        return load_spec(source, values)
    if not isinstance(source, str):
        raise UsageError(
            f"load takes policy text, a file path or a built-in policy's name, "
            f"not {type(source).__name__}"
        )
    one_line = "\n" not in source and "\r" not in source and "->" not in source
    if one_line and (source.isidentifier() or source.endswith(".pol") or is_file(source)):
        return load_spec(source, values)
    return Policy(parse(source, "<string>", values=values))


def as_policy(policy: Policy | str | Path) -> Policy:
    """``policy`` itself, or loaded (see :func:`load`)."""
    if isinstance(policy, Policy):
        return policy
    if not isinstance(policy, str | Path):
        raise UsageError(
            "a policy is a Policy, policy text, a file path or a built-in policy's name, "
            f"not {type(policy).__name__}"
        )
    return load(policy)


def apply(model: Any, policy: Policy | str | Path, **kwargs: Any) -> Report:
    """Shortcut for ``initpolicy.load(policy).apply(model, **kwargs)``."""
    return as_policy(policy).apply(model, **kwargs)


def trace(model: Any, example_inputs: Any = None, **kwargs: Any) -> ModelGraph:
    """Trace ``model``: a ModelGraph with the activation that follows each layer.

    >>> import torch
    >>> g = trace(torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU()))
    >>> [(lay.name, lay.activation) for lay in g.layers]
    [('0', 'relu')]
    """
    from .tracer import trace as run_trace

    return run_trace(model, example_inputs=example_inputs, **kwargs)


def lint(
    model: Any,
    policy: Policy | str | Path | None = None,
    *,
    example_inputs: Any = None,
    seed: int | None = None,
    memory: int | str | None = None,
    progress: Any = None,
    **options: Any,
) -> LintResult:
    """Lint ``model``'s initialization as it is, or ``policy``'s: the policy is applied to
    a deep copy of the model and the copy is linted (the model is never touched).

    ``options`` are those of :func:`initpolicy.linter.run.lint` (``static``, ``select``,
    ``ignore``, ``extend_select``, ``thresholds``, ``config``, ``fail_level``, ``strict``).
    ``memory``: the memory budget (bytes, or ``"4G"``; default: measured,
    :mod:`initpolicy.linter.memory_budget`). A model that does not fit it whole, or one on the
    meta device, is linted part by part (:mod:`initpolicy.linter.stream`): with a policy
    the values are judged from the plan, without one the model's own init runs one part
    at a time. ``progress``: a :class:`initpolicy.common.progress.Progress` to draw on.

    >>> result = lint(model, select=["IP1"], static=True)          # doctest: +SKIP
    >>> result.failed(), result.to_json()["summary"]["findings"]   # doctest: +SKIP
    (True, 1)
    """
    from .applier import is_meta
    from .linter import budget as make_budget
    from .linter import gib, tensor_bytes
    from .linter import lint as run_lint
    from .shards import is_sharded

    limit = make_budget(memory)
    meta = not is_sharded(model) and is_meta(model)
    size = tensor_bytes(model)
    if policy is None:
        if meta:
            from .applier import Parts

            return run_lint(
                model, example_inputs=example_inputs, loader=Parts(model, None),
                budget=limit, progress=progress, **options,
            )  # fmt: skip
        # the dynamic pass keeps a copy of the values and one gradient per weight
        if options.get("static") or is_sharded(model) or limit.fits(2 * size):
            return run_lint(
                model, example_inputs=example_inputs, budget=limit, progress=progress, **options
            )
        result = run_lint(
            model, example_inputs=example_inputs, budget=limit, progress=progress,
            **{**options, "static": True},
        )  # fmt: skip
        result.summary["dynamic"] = (
            f"skipped: its forward and backward pass would hold {gib(2 * size)}, over the "
            f"memory budget {limit.describe()} (raise it with --memory)"
        )
        return result
    from .applier import execute
    from .planner import build_plan
    from .shards import is_sharded
    from .tracer import trace as run_trace

    ir = as_policy(policy).ir
    if is_sharded(model):
        raise UsageError(
            "lint with a policy initializes a copy of the model, and a sharded model cannot "
            "be copied (FSDP2 forbids deepcopy)\n"
            "  hint: apply the policy to the model on every rank, then lint it: "
            "initpolicy.lint(model) (see docs/distributed.md)"
        )
    bar = _progress(progress)
    # a copy, a copy of its values while the probe runs, and the gradients
    if not meta and limit.fits(3 * size):
        subject = copy.deepcopy(model)
        bar.stage("tracing")
        graph = run_trace(subject, example_inputs=example_inputs)
        the_plan = build_plan(ir, graph, seed=seed)
        bar.stage("applying the policy")
        execute(the_plan, subject)
        return run_lint(
            subject, example_inputs=example_inputs, graph=graph, plan=the_plan,
            budget=limit, progress=bar, **options,
        )  # fmt: skip
    from .applier import Parts, meta_copy

    subject = model if meta else meta_copy(model)
    bar.stage("tracing")
    graph = run_trace(subject, example_inputs=example_inputs)
    if not meta and (
        graph.tracer == "modules" or not all(x.resolution.called for x in graph.layers)
    ):
        # the meta copy could not run its forward (a value read from a tensor) or did not
        # reach every layer (a size read from an input's values): the model is in memory,
        # so its own forward is traced (no gradients: the activations of one example), and
        # the trace's layers are pointed at the copy's modules, which the passes run
        graph = _retargeted(run_trace(model, example_inputs=example_inputs), subject)
    elif meta:
        from .linter import traced_loaded

        # no model in memory: where the meta model fits the budget, it is traced again
        # with its own init loaded (the plan is made from the trace)
        graph = traced_loaded(subject, example_inputs, graph, Parts(subject, None), limit, bar)
    the_plan = build_plan(ir, graph, seed=seed)
    return run_lint(
        subject, example_inputs=example_inputs, graph=graph, plan=the_plan,
        loader=Parts(subject, the_plan, source=None if meta else model), budget=limit,
        progress=bar, **options,
    )  # fmt: skip


def _retargeted(graph: Any, model: Any) -> Any:
    """``graph`` traced from another build of ``model`` (the model in memory for its meta
    copy), with every layer's module (and the graph's model) the module of the same name in
    ``model``: the dynamic pass hooks the layers' modules and runs ``model``."""
    named = dict(model.named_modules())

    def moved(lay: Any) -> Any:
        return lay if lay.module is None else replace(lay, module=named.get(lay.name))

    return replace(
        graph,
        model=model,
        layers=tuple(map(moved, graph.layers)),
        buffer_layers=tuple(map(moved, graph.buffer_layers)),
    )


def _progress(progress: Any) -> Any:
    from .common import progress_of

    return progress_of(progress)


@contextlib.contextmanager
def on_meta() -> Iterator[None]:
    """A context in which a model is built on the meta device with its construction
    recorded, so that :func:`lint` judges the model's own init as a real build leaves it:
    what the constructor writes outside any module method (an init loop in ``__init__``,
    a parameter drawn or computed there, a parametrization's originals) is replayed on
    each part (:mod:`initpolicy.applier.journal`). A model built under a bare
    ``torch.device("meta")`` has no such record: its own init is its modules'
    ``reset_parameters`` and the model's ``_init_weights`` (docs/lint.md).

    >>> with initpolicy.on_meta():                        # doctest: +SKIP
    ...     model = torchvision.models.vgg11()
    >>> initpolicy.lint(model, static=True)                # doctest: +SKIP
    """
    import torch

    with meta_recorder(), torch.device("meta"):
        yield


def meta_recorder() -> Any:
    """The recorder :func:`on_meta` builds under, without moving the build to meta: a
    model file that builds on meta itself is recorded too (``initpolicy lint TARGET``
    loads every model under it). Calls on tensors that are not on meta are not kept."""
    from .applier import Journal

    return Journal()


def write_recorder() -> Any:
    """The extractor's recorder, to build a model under (``with write_recorder() as rec:``)
    so that :func:`lint` can point a finding on values the model's own code wrote at the
    line that wrote them: ``lint(model, written=rec.user_sites(model))``, then
    ``rec.close()``. ``initpolicy lint TARGET`` does this."""
    from .extractor import Recorder

    return Recorder()


def record(build: Build | Module, *, call: Iterable[str] = (), seed: int = 0) -> Recording:
    """Build a model under the extractor's recorder: every write its init code makes is
    recorded (``build`` is the class or a factory; ``call`` names methods of the built
    model to run as well, for init code the constructor does not run). Then
    :func:`extract` the policy from it.

    >>> recording = record(lambda: Net(hidden=64), call=["init_weights"])   # doctest: +SKIP
    """
    from .extractor import record as run_record

    return run_record(build, call=tuple(call), seed=seed)


def extract(
    build: Build | Module | Recording,
    *,
    call: Iterable[str] = (),
    example_inputs: Any = None,
    activations: bool = False,
    target: str | None = None,
) -> ExtractResult:
    """The policy the model's own init code follows (docs/extract.md): its text, per
    parameter where the init came from, and whether the policy plans exactly that.

    ``build`` is the model's class or a factory (the init code runs when it is called),
    or a :func:`record` of it. ``activations`` traces the model so rules may use
    ``before ACT``; ``target`` names the model in the policy's header.

    >>> result = initpolicy.extract(lambda: GPT2LMHeadModel(config))   # doctest: +SKIP
    >>> print(result.text)                                              # doctest: +SKIP
    >>> initpolicy.load(result.text).apply(GPT2LMHeadModel(config))     # doctest: +SKIP
    """
    from .extractor import Recording
    from .extractor import extract as run_extract

    recording = build if isinstance(build, Recording) else record(build, call=call)
    return run_extract(
        recording, target=target, example_inputs=example_inputs, activations=activations
    )
