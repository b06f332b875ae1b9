"""Lint a model larger than memory, or on the meta device, one part at a time.

A **part** is a block of a repeated stack (each child of a ``ModuleList`` of two or more
modules of one class: an LLM's decoder layers) or a module outside any stack with its
submodules (the embedding, the final norm, the head). A loader (the applier's
:class:`~initpolicy.applier.partial.Parts`, passed in by :func:`initpolicy.api.lint`)
materializes one part with the values a whole run would give it and frees it after.

* **Static pass.** With a policy, every planned tensor is judged from the plan
  (:mod:`initpolicy.linter.analytic`); the few the plan does not describe are measured
  on their module, loaded alone. Without one (the model's own init), each part that runs
  is measured while it is loaded.
* **Dynamic pass.** One forward pass (no backward: it would need every weight at once),
  each part loaded just before its forward and freed right after; the inputs are the
  usual widened batch, fewer examples where a block is big (about
  :data:`BLOCK_FLOPS` floating-point operations per block). An embedding is loaded on
  the rows its ids read; with a policy, an output head on its first :data:`HEAD_UNITS`
  units (drawn exactly as a whole run draws them). Repeated blocks are
  **sampled**: :data:`SAMPLED` of each stack, both ends and evenly between
  (:func:`sample`); a block that is not sampled passes its input through unchanged, so
  the depth-series rules see the sampled depths. The summary names the blocks that ran.

Peak memory is the largest part, the activations and the process, not the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from ..common import Progress
from ..tracer import ModelGraph
from .findings import Finding
from .memory_budget import Budget, gib
from .probe import LayerStat

#: Repeated blocks the passes run per stack (all of a stack no longer than this).
SAMPLED = 6
#: Output units of a policy's output head the dynamic pass computes (its rows drawn exactly
#: as the whole run draws them; the per-unit statistics are means over units).
HEAD_UNITS = 4096
#: Floating-point operations one block's forward may cost: the batch shrinks to fit.
BLOCK_FLOPS = 1.5e11
#: What the dynamic rules that read gradients learn from a streamed pass.
FORWARD_ONLY = "forward only: the gradient rules (IP205) need the whole model at once"

Judge = Callable[[Sequence[Any]], list[Finding]]


class Loader(Protocol):
    """Materializes the own tensors of the modules named, initialized, until exit."""

    def loaded(
        self, modules: Sequence[str], rows: int | None = None
    ) -> AbstractContextManager[Any]: ...


@dataclass
class Part:
    """One unit of memory: ``name`` the top module, ``modules`` every module it holds."""

    name: str
    modules: tuple[str, ...]
    nbytes: int
    numel: int
    #: The stack this block repeats in, and its index there (None outside a stack).
    stack: str | None = None
    index: int = 0


@dataclass
class Streamed:
    """What the streamed passes found, and how they ran (for the summary)."""

    findings: list[Finding] = field(default_factory=list)
    stats: list[LayerStat] | None = None
    dynamic: str = ""
    inputs: str = ""
    subjects: int = 0
    #: Every subject judged, without its tensor (freed with its part): what the dynamic
    #: rules that name a weight read (IP220 names the output layer's).
    judged: list[Any] = field(default_factory=list)
    #: How the static pass judged: ``analytic`` (from the plan) or ``measured``.
    static: str = ""
    #: The blocks that ran, per stack: ``{"model.layers": [0, 1, 11, ...]}``.
    blocks: dict[str, list[int]] = field(default_factory=dict)
    stacks: dict[str, int] = field(default_factory=dict)
    largest: str = ""

    def summary(self) -> dict[str, Any]:
        return {
            "static": self.static,
            "blocks": {k: {"ran": v, "of": self.stacks[k]} for k, v in self.blocks.items()},
            "largest_part": self.largest,
        }


def sample(n: int, k: int = SAMPLED) -> list[int]:
    """``k`` of ``n`` block indices: both ends (two at each) and evenly between.

    >>> sample(80)
    [0, 1, 27, 52, 78, 79]
    >>> sample(5)
    [0, 1, 2, 3, 4]
    """
    if n <= k:
        return list(range(n))
    ends = [0, 1, n - 2, n - 1]
    inner = k - len(ends)
    between = [round(1 + (n - 3) * (i + 1) / (inner + 1)) for i in range(inner)]
    return sorted(set(ends + between))


def partition(model: Any) -> list[Part]:
    """The model's parts, in registration order (see the module docstring)."""
    import torch

    named = dict(model.named_modules())
    parts: list[Part] = []

    def size(names: Sequence[str]) -> tuple[int, int]:
        seen: dict[int, Any] = {}
        for n in names:
            m = named[n]
            for t in (*m._parameters.values(), *m._buffers.values()):
                if t is not None:
                    seen[id(t)] = t
        return (
            sum(t.numel() * t.element_size() for t in seen.values()),
            sum(t.numel() for t in seen.values()),
        )

    def under(prefix: str) -> tuple[str, ...]:
        return tuple(n for n in named if n == prefix or n.startswith(prefix + "."))

    def add(name: str, modules: tuple[str, ...], stack: str | None = None, i: int = 0) -> None:
        nbytes, numel = size(modules)
        if numel:
            parts.append(Part(name, modules, nbytes, numel, stack, i))

    def called(m: Any) -> bool:
        """Whether the module is called itself: a ``ModuleList`` or ``ModuleDict`` has no
        forward, its parent calls its children (timm's EfficientViM: ``self.norm[i](x)``),
        so its children are parts, never the container."""
        return type(m).forward is not torch.nn.Module.forward

    def stacked(m: Any) -> bool:
        """Blocks of one class that are called (HRNet's fuse layers, a ModuleList of
        ModuleLists, are no stack: their modules are called one by one)."""
        kids = list(m.children())
        return (
            isinstance(m, (torch.nn.ModuleList, torch.nn.Sequential))
            and len(kids) >= 2
            and len({type(c) for c in kids}) == 1
            and called(kids[0])
        )

    def visit(name: str, m: Any) -> None:
        if stacked(m):
            for i, (child, _) in enumerate(m.named_children()):
                full = f"{name}.{child}" if name else child
                add(full, under(full), name, i)
            return
        inside = under(name) if name else tuple(named)
        if called(m) and not any(stacked(named[n]) for n in inside):
            add(name, inside)
            return
        add(name, (name,))  # its own tensors; its children are parts of their own
        for child, sub in m.named_children():
            visit(f"{name}.{child}" if name else child, sub)

    visit("", model)
    return parts


def stream(
    model: Any,
    graph: ModelGraph,
    plan: Any,
    loader: Loader,
    judge: Judge,
    *,
    example_inputs: Any,
    thresholds: Any,
    dynamic: bool,
    budget: Budget,
    progress: Progress,
    written: Mapping[str, str] | None = None,
) -> Streamed:
    """The static and dynamic passes, part by part (see the module docstring); ``written``
    locates a tensor at the line of the model's code that wrote it."""
    parts = partition(model)
    out = Streamed()
    stacks: dict[str, list[Part]] = {}
    for p in parts:
        if p.stack is not None:
            stacks.setdefault(p.stack, []).append(p)
    run = {id(p) for p in parts if p.stack is None}
    named = dict(model.named_modules())
    for name, members in stacks.items():
        out.stacks[name] = len(members)
        # only blocks of one shape repeat: a stack whose blocks differ runs whole
        shapes = {_shapes(named[p.name]) for p in members}
        n = len(members)
        out.blocks[name] = sample(n) if len(shapes) == 1 else list(range(n))
        run |= {id(members[i]) for i in out.blocks[name]}
    held = _held(model, graph, plan, parts)
    largest = max(parts, key=lambda p: held[id(p)], default=None)
    out.largest = f"{largest.name or '(root)'} {gib(held[id(largest)])}" if largest else ""
    judged: set[str] = set()
    only: set[str] | None = None  # with a plan: the parameters it does not describe

    def measure(layers: set[str]) -> None:
        from .probe import unobserved
        from .subject import subjects

        found = list(
            subjects(graph, model, plan, layers=layers - judged, names=only, written=written)
        )
        judged.update(layers)
        out.subjects += len(found)
        with unobserved():  # a rule's own module calls are not the forward pass's
            out.findings += judge(found)
        out.judged += [replace(s, tensor=None) for s in found]

    measured_layers: dict[str, set[str]] = {}
    if plan is not None:
        from .analytic import analytic

        progress.stage("static pass: from the plan")
        an = analytic(graph, plan)
        out.static = "analytic"
        out.subjects += len(an.subjects)
        out.findings += judge(an.subjects)
        out.judged += an.subjects
        only = {param.name for _, param in an.measure}
        for layer, _ in an.measure:
            measured_layers.setdefault(layer.name, set()).add(layer.name)
        if an.measure:
            out.static = f"analytic ({len(an.subjects)} tensors), measured ({len(an.measure)})"
    else:
        out.static = "measured (the model's own init, on the parts that ran)"
        layer_names = {lay.name for lay in graph.layers}
        for p in parts:
            if id(p) in run:
                measured_layers[p.name] = {n for n in p.modules if n in layer_names}

    too_big = largest is not None and not budget.fits(held[id(largest)])
    if dynamic and too_big:
        assert largest is not None
        out.dynamic = (
            f"skipped: the largest part ({out.largest}) does not fit the memory budget "
            f"{budget.describe()} (raise it with --memory)"
        )
    elif dynamic:
        _forward(model, graph, plan, parts, run, loader, measure, measured_layers,
                 example_inputs, thresholds, progress, out, budget)  # fmt: skip
    else:
        out.dynamic = "skipped (--static)"
    # what the forward did not load (a failed or skipped pass, or a policy's tensors the
    # plan does not describe): measured module by module
    left = {k: v - judged for k, v in measured_layers.items() if v - judged}
    unmeasured: list[str] = []
    if left:
        progress.stage("static pass: measuring", total=len(left))
        for names in left.values():
            fits = budget.fits(_layers_bytes(graph, names))
            for group in [names] if fits else [{n} for n in sorted(names)]:
                if not budget.fits(_layers_bytes(graph, group)):
                    unmeasured += sorted(group)
                    continue
                with loader.loaded(tuple(sorted(group))):
                    measure(group)
            progress.advance()
    how = getattr(loader, "how", None)  # the own init's source, per tensor (Parts.how)
    if plan is None and how:
        n = sum(v == "replayed" for v in how.values())
        out.static += f"; {n} of {len(how)} tensors replayed from the build's record"
    if unmeasured:
        out.static += f"; not measured, over the memory budget: {', '.join(unmeasured)}"
    return out


def _shapes(module: Any) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """The names and shapes of a block's tensors: blocks that repeat share them."""
    return tuple(
        (n, tuple(t.shape)) for n, t in (*module.named_parameters(), *module.named_buffers())
    )


def _held(model: Any, graph: ModelGraph, plan: Any, parts: list[Part]) -> dict[int, int]:
    """Bytes each part holds while loaded: an embedding the rows its ids read (at most
    about :data:`HEAD_UNITS` for the batch's ids), a policy's output head its first
    :data:`HEAD_UNITS` units; any other part all of its tensors."""

    named = dict(model.named_modules())
    heads = {lay.name for lay in graph.layers if lay.activation == "output"}
    out = {}
    for p in parts:
        module = named[p.name]
        rows = getattr(module, "num_embeddings", None) if _lookup(
            module
        ) else (getattr(module, "out_features", None) if plan is not None and p.name in heads
                else None)  # fmt: skip
        share = min(1.0, HEAD_UNITS / rows) if rows else 1.0
        out[id(p)] = int(p.nbytes * share)
    return out


def _lookup(module: Any) -> bool:
    """An embedding whose forward looks up the ids it is called with, so the rows it reads
    are known before it runs (a subclass may compute other ids: BART's learned positions
    add an offset to the positions of its input)."""
    import torch

    return (
        isinstance(module, torch.nn.Embedding)
        and type(module).forward is torch.nn.Embedding.forward
    )


def _layers_bytes(graph: ModelGraph, names: set[str]) -> int:
    return sum(
        math.prod(p.shape) * 4 for lay in graph.layers if lay.name in names for p in lay.parameters
    )


def _first_tensor(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    import torch

    if isinstance(kwargs.get("hidden_states"), torch.Tensor):
        return kwargs["hidden_states"]
    return next(
        (v for v in (*args, *kwargs.values()) if isinstance(v, torch.Tensor)),
        None,
    )


def _forward(
    model: Any,
    graph: ModelGraph,
    plan: Any,
    parts: list[Part],
    run: set[int],
    loader: Loader,
    measure: Callable[[set[str]], None],
    measured_layers: dict[str, set[str]],
    example_inputs: Any,
    thresholds: Any,
    progress: Progress,
    out: Streamed,
    budget: Budget,
) -> None:
    """The dynamic pass, forward only, each part loaded around its own forward."""
    import torch

    from .batch import special_tokens, widen
    from .probe import MODES, candidate_calls, probe

    calls = candidate_calls(model, example_inputs, torch.device("cpu"))
    if not calls:
        out.dynamic = "skipped: no example inputs could be inferred (pass --input-shape)"
        return
    named = dict(model.named_modules())
    heads = {lay.name for lay in graph.layers if lay.activation == "output"}
    biggest = max((p.numel for p in parts if id(p) in run), default=1)

    def rows_for(part: Part, args: tuple[Any, ...]) -> int | None:
        module = named[part.name]
        if _lookup(module) and args and isinstance(args[0], torch.Tensor):
            pad = module.padding_idx if module.padding_idx is not None else -1
            return max(int(args[0].max()) + 1, pad + 1, 1)
        if plan is not None and part.name in heads:
            return HEAD_UNITS
        return None

    stack_out: dict[str, Any] = {}
    total = sum(id(p) in run for p in parts)

    # where a part's tensors are read outside its own forward (timm's EVA reads
    # ``self.rope.get_embed()``, a method; HRNet calls ``down.forward(y)``, past the
    # hooks), the parts outside stacks, then every part that runs, are loaded for the
    # whole pass, as far as the budget holds them
    outside = [p for p in parts if p.stack is None and id(p) in run]
    blocks = max((p.nbytes for p in parts if p.stack is not None and id(p) in run), default=0)
    keeps: list[tuple[str, list[Part]]] = [("", [])]
    if budget.fits(sum(p.nbytes for p in outside) + blocks):
        keeps.append(("the parts outside stacks", outside))
    if any(p.stack is not None for p in parts if id(p) in run):
        every = [p for p in parts if id(p) in run]
        if budget.fits(sum(p.nbytes for p in every)):
            keeps.append(("every part that runs", every))

    def hooks(stack: ExitStack, keep: list[Part]) -> None:
        for p in keep:
            stack.enter_context(loader.loaded(p.modules))
        for p in parts:
            module = named[p.name]
            if id(p) not in run:
                stack.enter_context(_passthrough(module, p, stack_out))
                continue
            stack.enter_context(_loading(module, p, loader, measure, measured_layers,
                                         stack_out, progress, rows_for))  # fmt: skip

    def attempt(
        widened: Any, mode: str, errors: dict[str, str]
    ) -> tuple[list[LayerStat], str] | None:
        """The forward on ``widened``; on a meta tensor in it (a part read outside its own
        forward), once more with more parts loaded throughout, where they fit."""
        for kept, keep in keeps:
            progress.stage("dynamic pass: blocks", total=total)
            try:
                with ExitStack() as stack:
                    hooks(stack, keep)
                    stats = probe(
                        model, graph, *widened,
                        saturation=thresholds["saturation-derivative"], mode=mode,
                        backward=False,
                    )  # fmt: skip
                return stats, kept
            except (Exception, SystemExit) as e:  # a model rejecting a shape: no failure
                errors.setdefault(mode, f"{type(e).__name__}: {e}".splitlines()[0][:200])
                stack_out.clear()
                if "meta" not in str(e):
                    return None
        return None

    special = special_tokens(model)
    errors: dict[str, str] = {}
    # training mode first; where the model rejects every input there (a detector asks
    # for targets), eval mode with normalization on batch statistics, as the whole pass
    for mode in MODES:
        for call in calls:
            (args, kwargs), _ = widen(call, 1, special)
            per = max(
                [1, *(t[0].numel() for t in (*args, *kwargs.values())
                      if isinstance(t, torch.Tensor))]
            )  # fmt: skip
            n = max(2, min(int(thresholds["batch"]), int(BLOCK_FLOPS // (2 * biggest * per))))
            widened, what = widen(call, n, special)
            tried = attempt(widened, mode, errors)
            if tried is None:
                continue
            stats, kept = tried
            ran = ", ".join(f"{k} {v}" for k, v in out.blocks.items())
            out.stats = stats
            whole = f"; {kept} loaded throughout" if kept else ""
            out.dynamic = f"ran (streamed part by part{whole}; blocks {ran}; {FORWARD_ONLY})"
            failed = f" (training mode failed: {errors['training']})" if mode != "training" else ""
            out.inputs = f"{MODES[mode]}{failed}, {what}"
            return
    out.dynamic = f"skipped: the streamed forward pass failed ({errors['training']})"


class _loading(AbstractContextManager[None]):
    """Hooks that load a part before its forward and free it after (measuring its
    tensors while they are there, the first time)."""

    def __init__(
        self,
        module: Any,
        part: Part,
        loader: Loader,
        measure: Callable[[set[str]], None],
        measured_layers: dict[str, set[str]],
        stack_out: dict[str, Any],
        progress: Progress,
        rows_for: Callable[[Part, tuple[Any, ...]], int | None],
    ):
        self.module, self.part, self.loader, self.rows_for = module, part, loader, rows_for
        self.measure, self.layers = measure, measured_layers.get(part.name, set())
        self.stack_out, self.progress = stack_out, progress
        self.open: list[AbstractContextManager[Any]] = []
        self.handles: list[Any] = []
        self.seen = False

    def __enter__(self) -> None:
        from torch.utils import _pytree as pytree

        from .probe import observed

        def pre(_m: Any, args: Any, kwargs: Any) -> None:
            if not observed():  # a static rule calls the module while it is loaded
                return
            if any(getattr(t, "is_meta", False) for t in pytree.tree_leaves((args, kwargs))):
                # a tensor of a part not loaded, read outside its forward (ConvBERT reads
                # ``self.embeddings.token_type_ids`` in the model's forward): torch would
                # look up a meta index in a real table and return uninitialized values
                raise RuntimeError(
                    f"a meta tensor reached the forward of {self.part.name or 'the model'}: "
                    "a part's tensor was read outside its own forward"
                )
            ctx = self.loader.loaded(self.part.modules, self.rows_for(self.part, args))
            ctx.__enter__()
            self.open.append(ctx)
            if self.layers and not self.seen:
                self.measure(self.layers)

        def post(_m: Any, _args: Any, result: Any) -> None:
            if not observed():
                return
            if self.open:
                self.open.pop().__exit__(None, None, None)
            if self.part.stack is not None and self.part.stack not in self.stack_out:
                self.stack_out[self.part.stack] = result
            if not self.seen:
                self.seen = True
                self.progress.advance(what=self.part.name)

        self.handles = [
            self.module.register_forward_pre_hook(pre, with_kwargs=True),
            self.module.register_forward_hook(post, always_call=True),
        ]

    def __exit__(self, *exc: Any) -> None:
        for h in self.handles:
            h.remove()
        while self.open:
            self.open.pop().__exit__(None, None, None)


class _passthrough(AbstractContextManager[None]):
    """A block that is not sampled: its forward returns its input, shaped as the first
    block of its stack returned (a tensor, or a tuple led by one)."""

    def __init__(self, module: Any, part: Part, stack_out: dict[str, Any]):
        self.module, self.part, self.stack_out = module, part, stack_out

    def __enter__(self) -> None:
        stack = self.part.stack

        def forward(*args: Any, **kwargs: Any) -> Any:
            x = _first_tensor(args, kwargs)
            ref = self.stack_out.get(stack or "")
            if x is None or ref is None:
                raise RuntimeError(f"cannot pass {self.part.name} through (no input or shape)")
            if isinstance(ref, tuple):
                return (x, *ref[1:])
            return x

        self.module.forward = forward

    def __exit__(self, *exc: Any) -> None:
        del self.module.forward
