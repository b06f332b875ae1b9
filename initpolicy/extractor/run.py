"""``record`` a model's construction, ``extract`` the policy its init code follows.

>>> import torch
>>> class Net(torch.nn.Module):
...     def __init__(self):
...         super().__init__()
...         self.fc = torch.nn.Linear(8, 4)
...         torch.nn.init.normal_(self.fc.weight, std=0.02)
...         torch.nn.init.zeros_(self.fc.bias)
>>> result = extract(record(Net))
>>> print(result.text)  # doctest: +NORMALIZE_WHITESPACE
# extracted by initpolicy.extract: the init its own code ran
# 2 parameters, 4 recorded writes
weight  -> normal(0, 0.02)  # Net.__init__ (<doctest initpolicy.extractor.run[1]>:5)
bias    -> zeros()          # Net.__init__ (<doctest initpolicy.extractor.run[1]>:6)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import InitPolicyError, TargetError, UsageError
from ..language import Word, names, parse
from ..planner import build_plan, needs_trace
from ..tracer import ModelGraph, trace
from .observe import Observation, observe
from .recorder import Recorder
from .sites import user_location
from .synthesize import Mismatch, Synthesis, observed, synthesize, values_of
from .verify import compare

Build = Callable[[], torch.nn.Module]


@dataclass
class Recording:
    """A model built under the recorder, and what it recorded."""

    model: torch.nn.Module
    recorder: Recorder


@dataclass
class ExtractResult:
    """The policy a model's init code follows, and how it was found.

    ``text`` is the policy; ``warnings`` what the user should know (writes that could not
    be recorded, parameters the policy does not plan as the code did). ``ok`` is False
    when some parameter's plan differs from what was recorded (``warnings`` lists them).
    """

    text: str
    observation: Observation
    synthesis: Synthesis
    graph: ModelGraph
    warnings: list[str]
    target: str | None = None

    @property
    def n_rules(self) -> int:
        return len(self.synthesis.rules)

    @property
    def n_params(self) -> int:
        return len(self.observation.tensors)

    def count(self, how: str) -> int:
        """Parameters whose law was ``how``: "recorded", "fitted" or "computed" (kept)."""
        laws = self.observation.tensors.values()
        return sum(1 for t in laws if t.whole is not None and t.whole.how == how)

    @property
    def ok(self) -> bool:
        return not self.synthesis.mismatches


def record(build: Build | torch.nn.Module, *, call: Sequence[str] = (), seed: int = 0) -> Recording:
    """Build the model under the recorder (torch's RNG seeded with ``seed``, the caller's
    state kept), then run ``model.METHOD()`` for each ``call`` (init code the constructor
    does not run). A model already built records only its ``call`` methods.

    Raises TargetError when the model cannot be built, a method is missing or raises, or
    the model has no parameters.
    """
    if isinstance(build, torch.nn.Module) and not call:
        raise UsageError(
            f"extract runs the model's init code, so it needs to build the model: pass the "
            f"class or a factory (e.g. lambda: {type(build).__name__}(...)), or name the "
            "init method to run with call=[...]"
        )
    with torch.random.fork_rng(devices=[]), _other_rngs_kept():
        torch.manual_seed(seed)
        with Recorder() as rec:
            model = (
                build if isinstance(build, torch.nn.Module) else _run(build, "building the model")
            )
            if not isinstance(model, torch.nn.Module):
                raise TargetError(f"the build returned a {type(model).__name__}, not an nn.Module")
            for method in call:
                fn = getattr(model, method, None)
                if not callable(fn):
                    raise TargetError(f"the model has no method {method}()")
                _run(fn, f"{method}()")
    problem = _unrecordable(model)
    if problem:
        rec.close()
        raise TargetError(problem)
    return Recording(model, rec)


@contextlib.contextmanager
def _other_rngs_kept() -> Iterator[None]:
    """Python's and numpy's global RNG as they were before the build (init code may draw
    from them; torch's is forked separately): extract changes nothing in its caller."""
    import random

    import numpy as np

    python, legacy = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(legacy)


def _unrecordable(model: torch.nn.Module) -> str | None:
    """Why the recorded build of ``model`` holds nothing to extract, or None."""
    name = type(model).__name__
    if isinstance(model, torch.jit.ScriptModule):
        return (
            f"{name} is a TorchScript model: extract reads an eager nn.Module's init code; "
            "extract the model before torch.jit.script or torch.jit.trace"
        )
    params = list(model.parameters())
    if not params:
        return f"{name} has no parameters; nothing to extract"
    if any(p.is_meta for p in params):
        return (
            f"{name} was built on the meta device: its init code wrote no values to "
            "extract; build it on the CPU"
        )
    return None


def _run(fn: Callable[[], Any], what: str) -> Any:
    try:
        return fn()
    except InitPolicyError:
        raise
    except (Exception, SystemExit) as e:  # the user's code failed (or called sys.exit):
        # a located one-line error, not a traceback, and never the end of the caller
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        where = user_location(e)
        raise TargetError(
            f"{what} raised: {type(e).__name__}"
            + (f": {first}" if first else "")
            + (f"\n  at {where}" if where else "")
        ) from None


def extract(
    recording: Recording,
    *,
    target: str | None = None,
    example_inputs: Any = None,
    activations: bool = False,
) -> ExtractResult:
    """The policy the recorded init follows, verified against the planner. The recording
    is closed afterwards (its storages released).

    ``activations``: trace the model (a forward pass) so ``before ACT`` selectors may be
    used; by default the module structure is enough (code decides by type and name, so
    the policy needs no trace either). ``target`` names the model in the header.
    """
    model, rec = recording.model, recording.recorder
    try:
        warnings: list[str] = []
        tracer = None if activations else "modules"
        graph = trace(model, example_inputs=example_inputs, tracer=tracer)
        if activations:
            warnings += graph.warnings
        obs = observe(model, graph, rec)
        header = _header(target, obs, len(rec.records))
        synth = synthesize(obs, graph, model, use_activations=activations, header=header)
        if "depth" in synth.text and not activations:
            # depth is execution order, which only a real trace knows: redo it on one, and
            # keep it only if that policy plans exactly what was recorded
            traced = _traced(model, example_inputs, warnings)
            if traced is not None:
                obs_t = observe(model, traced, rec)
                synth_t = synthesize(obs_t, traced, model, header=header)
            if traced is not None and not synth_t.mismatches:
                graph, obs, synth = traced, obs_t, synth_t
            else:
                synth = synthesize(obs, graph, model, header=header, use_depth=False)
        if rec.errors:
            warnings.append(f"{len(rec.errors)} write(s) could not be recorded: {rec.errors[0]}")
        warnings += [str(m) for m in synth.mismatches]
        return ExtractResult(synth.text, obs, synth, graph, warnings, target)
    finally:
        rec.close()


def check(
    text: str, recording: Recording, *, example_inputs: Any = None
) -> tuple[int, list[Mismatch]]:
    """Does policy ``text`` give what the recorded init code did, on the model of
    ``recording`` (another build: another size, another instance)? The number of tensors
    (and blocks) with a law, and the ones the policy's plan gets wrong, compared as
    extract's own verification does (scheme family, std/bound, a fitted law against the
    code's values). A policy that does not parse or plan is one mismatch, ``<policy>``.
    The recording is closed afterwards.

    >>> n, wrong = check(extract(record(small)).text, record(large))   # doctest: +SKIP
    """
    model, rec = recording.model, recording.recorder
    try:
        try:
            ir = parse(text)
            needs = needs_trace(ir) or any(
                "depth" in names(a.value)
                for r in ir.rules
                for a in r.scheme.args
                if not isinstance(a.value, Word)
            )
            graph = trace(model, example_inputs=example_inputs, tracer=None if needs else "modules")
            plan = build_plan(ir, graph, include_frozen=True)
        except InitPolicyError as e:
            return 0, [Mismatch("<policy>", None, "a plan", str(e).splitlines()[0])]
        obs = observe(model, graph, rec)
        bad = compare(plan, obs.items, values_of(obs, model))
        n = len({it.key for it in obs.items if it.law is not None})
        items = obs.items
        return n, [
            Mismatch(items[i].name, items[i].block, observed(items[i]), got) for i, got, _ in bad
        ]
    finally:
        rec.close()


def _traced(model: torch.nn.Module, example_inputs: Any, warnings: list[str]) -> ModelGraph | None:
    try:
        graph = trace(model, example_inputs=example_inputs)
    except InitPolicyError as e:
        warnings.append(f"depth-scaled init not expressed: the model cannot be traced ({e})")
        return None
    if graph.tracer == "modules":
        warnings.append("depth-scaled init not expressed: the model could not be run to trace it")
        return None
    return graph


def _header(target: str | None, obs: Observation, n_records: int) -> str:
    fitted = sum(1 for t in obs.tensors.values() if t.whole is not None and t.whole.how == "fitted")
    by = f"`initpolicy extract {target}`" if target else "initpolicy.extract"
    counts = f"# {len(obs.tensors)} parameters, {n_records} recorded writes"
    return (
        f"# extracted by {by}: the init its own code ran\n"
        + counts
        + (f", {fitted} fitted from values" if fitted else "")
        + "\n"
    )
