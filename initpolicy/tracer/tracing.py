"""``trace(model)``: which activation follows each layer, as a ModelGraph.

One resolution pass (:mod:`initpolicy.tracer.resolve`) runs over one torch.fx Graph, obtained
the cheapest way that works (:mod:`initpolicy.tracer.capture`):

1. ``fx`` — symbolic tracing, no inputs needed;
2. ``dynamic`` — one forward pass on example inputs (given, or inferred by name, e.g.
   transformers' ``input_ids``/``pixel_values``, from the model's declared input size,
   or from the first layer), on the meta device for a model built there (conditions on
   meta values taken as true, with a warning), else a no-grad forward of the model as it
   is, with modes, buffers and the RNG states restored after;
3. ``modules`` — registration order, with a warning that the activations are guesses.

Both graphs are taken in training mode, which initialization is for (auxiliary heads run,
dropout and batch statistics are on); a model that cannot run in training mode (a detector
without targets) is traced in eval mode, with a warning saying why.

>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
>>> g = trace(net)
>>> g.tracer, [(lay.name, lay.activation, lay.fan_in) for lay in g.layers]
('fx', [('0', 'relu', 4.0), ('2', 'output', 8.0)])
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import torch

from ..errors import TraceError
from ..shards import is_sharded
from .capture import dynamic_graph, leaf_modules, self_contained, symbolic_graph
from .graph import Layer, ModelGraph, ParamInfo
from .inputs import (
    NoInputs,
    as_call,
    describe,
    infer,
    model_device_dtype,
    to_device,
)
from .layers import (
    TensorNames,
    guess_outcomes,
    is_parametrized,
    make_layer,
    quantized_modules,
    resolution_of,
    resolved,
    type_names,
)
from .messages import assumed_warning, input_hint, not_called_warning, raised_at, short
from .resolve import Resolved, resolve
from .roles import with_roles
from .roles_branches import BranchFacts
from .size import config_numbers, model_size
from .state import multipliers_off, preserved
from .structure import structure_view

T = TypeVar("T")

#: Wrapper class name -> the attribute holding the wrapped model (its prefix is stripped).
WRAPPERS: dict[str, str] = {
    "DataParallel": "module",
    "DistributedDataParallel": "module",
    "OptimizedModule": "_orig_mod",
    "FullyShardedDataParallel": "_fsdp_wrapped_module",
}

_CONTROL_FLOW = "symbolically traced variables cannot be used as inputs to control flow"


def unwrap(model: torch.nn.Module) -> tuple[torch.nn.Module, str]:
    """The wrapped model and the name prefix its wrappers add (``module.``, ``_orig_mod.``)."""
    prefix = ""
    while type(model).__name__ in WRAPPERS and isinstance(
        getattr(model, WRAPPERS[type(model).__name__], None), torch.nn.Module
    ):
        attr = WRAPPERS[type(model).__name__]
        prefix += attr + "."
        model = getattr(model, attr)
    return model, prefix


def _lazy(model: torch.nn.Module) -> list[str]:
    return [
        name
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.modules.lazy.LazyModuleMixin) and m.has_uninitialized_params()  # type: ignore[misc]
    ]


def preserving_state(model: torch.nn.Module, fn: Callable[[], T], train: bool = True) -> T:
    """Run ``fn`` with ``model`` in training mode (``train=False``: eval mode); restore
    modes, buffers, gradients and the RNG states afterwards, whatever ``fn`` does. The
    policy's own forward multipliers are off meanwhile: the graph is the model's."""
    with preserved(model, train_mode=train, eval_mode=not train), multipliers_off():
        return fn()


class _Run:
    """State of one trace: the model, its names, and the warnings collected on the way."""

    def __init__(self, model: torch.nn.Module, example_inputs: Any):
        self.model = model
        self.example_inputs = example_inputs
        self.leaves = leaf_modules(model)
        self.names = TensorNames(model)
        self.warnings: list[str] = []

    def graph(self, only: str | None = None) -> tuple[Any, str]:
        lazy = _lazy(self.model)
        fx_error: BaseException | None = None
        if only == "modules":
            return None, "modules"
        if only == "fx":
            return self.symbolic(), "fx"
        if not lazy and only is None:
            try:
                return self.symbolic(), "fx"
            except (Exception, SystemExit) as e:
                fx_error = e
        graph = self.dynamic(fx_error, lazy)
        if graph is not None:
            return graph, "dynamic"
        if only == "dynamic":
            raise TraceError(
                "the model could not be run to trace it dynamically: " + self.warnings[-1]
            )
        self.warnings.append(
            "activations are guesses from module registration order (tracer 'modules'); "
            "give example inputs (--input-shape) for a traced answer"
        )
        return None, "modules"

    def symbolic(self) -> Any:
        # Symbolic tracing runs Python code too (a forward may update a buffer in place).
        return preserving_state(self.model, lambda: symbolic_graph(self.model, self.leaves))

    def dynamic(self, fx_error: BaseException | None, lazy: list[str]) -> Any:
        device, _dtype = model_device_dtype(self.model)
        try:
            calls = (
                [as_call(self.example_inputs)]
                if self.example_inputs is not None
                else infer(self.model)
            )
        except NoInputs as e:
            if lazy:
                raise TraceError(
                    f"{', '.join(lazy)}: uninitialized (lazy) parameters, and no example input "
                    f"to materialize them: {e}; give example inputs (--input-shape, or "
                    "example_inputs=...)"
                ) from None
            self.warnings.append(f"cannot run the model to trace it: {e}")
            return None
        calls = [to_device(call, device) for call in calls]
        failures: list[tuple[str, BaseException]] = []
        # training mode first, for every input; eval mode only if none runs in training
        for train in (True, False):
            for args, kwargs in calls:
                graph, assumed = self._run(args, kwargs, device, train, failures)
                if graph is None:
                    continue
                shape = describe(args, kwargs)
                if not train:
                    why = next(e for s, e in failures if s == shape)
                    self.warnings.append(
                        f"traced in eval mode: the model does not run in training mode on "
                        f"{shape} ({short(why)}); what runs only in training is not traced"
                    )
                self._note_dynamic(fx_error, lazy, device, shape)
                if assumed:
                    self.warnings.append(assumed_warning(assumed))
                return graph
        shape, error = failures[0]
        if device.type == "meta":
            self.warnings.append(
                f"the model could not run on the meta device with input {shape} ({short(error)})"
            )
            return None
        tried = "; ".join(dict.fromkeys(s for s, _ in failures))
        errors = list(dict.fromkeys(short(e) for _, e in failures))
        where = raised_at(error)
        if where is not None and where.by_model:
            # The model's own code raised: the input may be fine, so no input hint.
            raise TraceError(
                f"{where.location}: the model's forward raised on the example input {tried}: "
                f"{'; then '.join(errors[:3])}"
            ) from None
        at = f"{where.location}: " if where is not None else ""
        raise TraceError(
            f"{at}the model rejected the example input {tried}: {'; then '.join(errors[:3])}\n"
            + input_hint(self.model)
        ) from None

    def _run(
        self,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        device: torch.device,
        train: bool,
        failures: list[tuple[str, BaseException]],
    ) -> tuple[Any, list[tuple[str, bool]] | None]:
        """One recorded forward in training or eval mode, and the truth values assumed on
        the meta device; None (and a failure noted) when the model raises."""
        assumed: list[tuple[str, bool]] | None = [] if device.type == "meta" else None

        def run() -> Any:
            return dynamic_graph(self.model, self.leaves, self.names.by_id(), args, kwargs, assumed)

        try:
            graph = preserving_state(self.model, run, train=train)
        except (Exception, SystemExit) as e:  # a forward calling sys.exit() is a failure too
            failures.append((describe(args, kwargs), e))
            return None, None
        return graph, assumed

    def _note_dynamic(
        self, fx_error: BaseException | None, lazy: list[str], device: torch.device, shape: str
    ) -> None:
        if lazy:
            self.warnings.append(
                f"materialized lazy parameters of {', '.join(lazy)} by a forward pass on {shape}"
            )
        if fx_error is not None and _CONTROL_FLOW in str(fx_error):
            where = "on the meta device" if device.type == "meta" else f"on {device.type}"
            self.warnings.append(
                "torch.fx cannot trace this model symbolically (control flow on tensors), so it "
                f"was run once {where} on {shape}: only the branches this input takes are traced"
            )


def _via_aliases(
    module: torch.nn.Module, names: TensorNames, resolutions: dict[str, Resolved]
) -> Resolved | None:
    """For a module that was not called but whose parameters are used under other names
    (T5's ``shared``, an LM head's tied bias): their uses, merged."""
    found: list[Resolved] = []
    for p in module._parameters.values():
        if p is None:
            continue
        users = [
            r for r in (resolutions.get(n.rpartition(".")[0]) for n in names.names[id(p)]) if r
        ]
        if not users:
            return None
        found += users
    if not found:
        return None
    merged = Resolved("", order=min(r.order for r in found))
    for r in found:
        merged.outcomes |= r.outcomes
    return merged


_ORIG_MOD = re.compile(r"(^|\.)_orig_mod(?=\.|$)")


def _clean(name: str) -> str:
    return _ORIG_MOD.sub("", name).lstrip(".")


def trace(
    model: Any,
    *,
    example_inputs: Any = None,
    target: str = "<model>",
    tracer: str | None = None,
) -> ModelGraph:
    """Trace ``model`` into a :class:`~initpolicy.tracer.graph.ModelGraph`.

    ``example_inputs`` (a tensor, a tuple of positional inputs or a dict of keyword
    inputs) is used only when symbolic tracing fails; without it inputs are inferred.
    Tracing never modifies the model (lazy parameters excepted: they are materialized).
    A sharded model (FSDP2, tensor parallel) is traced as the model it stands for, with
    global shapes, no hooks and no collectives (:mod:`initpolicy.tracer.structure`); each
    sharded tensor's ``placement`` is recorded.
    ``tracer`` forces one way (``"fx"``, ``"dynamic"``, ``"modules"``) instead of the first
    that works.

    >>> import torch
    >>> g = trace(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4),
    ...                               torch.nn.LeakyReLU(0.2)))
    >>> [(lay.type, lay.activation, lay.act_args, lay.resolution.normalized) for lay in g.layers]
    [('Conv2d', 'leaky_relu', {'negative_slope': 0.2}, True), ('BatchNorm2d', 'leaky_relu', {'negative_slope': 0.2}, False)]
    """
    if not isinstance(model, torch.nn.Module):
        raise TraceError(f"expected a torch.nn.Module to trace, got {type(model).__name__}")
    if is_sharded(model):  # FSDP2 / tensor parallel: trace the model it stands for
        with structure_view(model) as placements:
            graph = _trace(model, example_inputs, target, tracer)

        def placed(layer: Layer) -> Layer:
            return _each_tensor(
                layer, lambda p: replace(p, placement=placements.get(p.raw_name or p.name))
            )

        return replace(
            graph,
            layers=tuple(map(placed, graph.layers)),
            buffer_layers=tuple(map(placed, graph.buffer_layers)),
        )
    return _trace(model, example_inputs, target, tracer)


def unknown_warning(layers: list[Layer]) -> str:
    """The note for layers before an elementwise function the catalog does not know.

    >>> from initpolicy.tracer.graph import Resolution
    >>> sin = Resolution("unknown", act_args={"op": "sin", "scale": 30.0})
    >>> lay = Layer("net.0", "Linear", ("Linear",), sin)
    >>> unknown_warning([lay])
    'an elementwise function the catalog does not know follows 1 layer(s) (sin(30 x) after net.0): activation unknown, no gain and no band; their scale is not judged'
    """

    def shown(lay: Layer) -> str:
        op = lay.act_args.get("op", "?")
        scale = lay.act_args.get("scale")
        return f"{op}({scale:g} x) after {lay.name}" if scale else f"{op} after {lay.name}"

    names = ", ".join(shown(lay) for lay in layers[:3]) + (
        f" and {len(layers) - 3} more" if len(layers) > 3 else ""
    )
    return (
        f"an elementwise function the catalog does not know follows {len(layers)} layer(s) "
        f"({names}): activation unknown, no gain and no band; their scale is not judged"
    )


def _each_tensor(
    layer: Layer, fn: Callable[[ParamInfo], ParamInfo], computed: bool = False
) -> Layer:
    """``layer`` with ``fn`` applied to each of its parameters and buffers (and, where
    ``computed``, to the weight it computes)."""
    out = replace(
        layer,
        parameters=tuple(map(fn, layer.parameters)),
        buffers=tuple(map(fn, layer.buffers)),
    )
    if computed and layer.ownership.computes is not None:
        own = replace(layer.ownership, computes=fn(layer.ownership.computes))
        out = replace(out, ownership=own)
    return out


def _trace(
    model: torch.nn.Module, example_inputs: Any, target: str, tracer: str | None
) -> ModelGraph:
    inner, prefix = unwrap(model)
    if tracer not in (None, "fx", "dynamic", "modules"):
        raise TraceError(f"unknown tracer {tracer!r}; expected fx, dynamic or modules")
    run = _Run(inner, example_inputs)
    try:
        graph, kind = run.graph(tracer)
    except TraceError:
        raise
    except Exception as e:  # only a forced fx trace gets here
        raise TraceError(f"torch.fx cannot trace the model: {short(e)}") from None
    lazy = _lazy(inner)
    if lazy:
        raise TraceError(f"{', '.join(lazy)}: parameters still uninitialized after tracing")
    names = TensorNames(inner)
    modules = dict(inner.named_modules())
    layers, buffer_layers, unused = _resolved_layers(inner, graph, run, modules, names, prefix)
    if unused:
        run.warnings.append(not_called_warning(unused, layers, modules))
    unknown = [lay for lay in layers if lay.activation == "unknown"]
    if unknown:
        run.warnings.append(unknown_warning(unknown))
    counts = BranchFacts()
    if graph is not None:
        layers, counts = with_roles(graph, modules, names.params, layers)
    size = model_size(inner, layers, counts.n_branches)
    if "_orig_mod" in "".join(modules):  # torch.compile's wrapper: names without it
        layers = [_cleaned(lay) for lay in layers]
        buffer_layers = [_cleaned(lay) for lay in buffer_layers]
    return ModelGraph(
        target=target,
        tracer=kind,  # type: ignore[arg-type]
        layers=tuple(layers),
        model=model,
        warnings=tuple(run.warnings),
        buffer_layers=tuple(buffer_layers),
        module_types={_clean(n): type_names(m) for n, m in modules.items()},
        roles=graph is not None,
        n_branches=counts.n_branches,
        encoder_blocks=counts.encoder_blocks,
        decoder_blocks=counts.decoder_blocks,
        quantized={_clean(n): kind for n, kind in quantized_modules(modules).items()},
        width=size.width,
        depth=size.depth,
        head_dim=size.head_dim,
        size_source=size.source,
        config=config_numbers(inner),
    )


def _resolved_layers(
    inner: torch.nn.Module,
    graph: Any,
    run: _Run,
    modules: Mapping[str, torch.nn.Module],
    names: TensorNames,
    prefix: str,
) -> tuple[list[Layer], list[Layer], list[Layer]]:
    """The layers with their resolution, in execution order (registration order for the
    ``modules`` tracer, which also takes the layer before as ``previous``); the modules
    with buffers only; and the layers the traced forward never ran."""
    resolutions = resolve(graph, modules, names.params) if graph is not None else {}
    guesses = guess_outcomes(inner) if graph is None else {}
    own_layers = self_contained(inner)
    ordered: list[tuple[float, int, Layer]] = []
    buffer_layers: list[Layer] = []
    unused: list[Layer] = []
    for index, (name, m) in enumerate(modules.items()):
        # a module whose weight is parametrized owns no weight, but is the layer using it
        has_params = is_parametrized(m) or any(p is not None for p in m._parameters.values())
        if not has_params and not any(b is not None for b in m._buffers.values()):
            continue
        direct = graph is not None and id(m) not in run.leaves and id(m) not in own_layers
        layer = make_layer(name, m, modules, names, prefix, direct=direct)
        order = math.inf
        via = None if name in resolutions or not has_params else _via_aliases(m, names, resolutions)
        if via is not None:
            resolutions[name] = via
        if name in resolutions:
            layer = resolved(layer, resolutions[name], modules)
            order = resolutions[name].order
        elif name in guesses:
            layer = replace(layer, resolution=resolution_of(guesses[name]))
        elif has_params:
            layer = replace(layer, resolution=replace(layer.resolution, called=False))
            unused.append(layer)
        if has_params:
            ordered.append((order if graph is not None else index, index, layer))
        else:
            buffer_layers.append(layer)
    ordered.sort(key=lambda item: (item[0], item[1]))
    layers = [replace(layer, depth=depth) for depth, (_o, _i, layer) in enumerate(ordered)]
    if graph is None:
        layers = layers[:1] + [
            replace(
                lay, resolution=replace(lay.resolution, previous=prev.name, previous_type=prev.type)
            )
            for prev, lay in itertools.pairwise(layers)
        ]
    return layers, buffer_layers, unused


def _cleaned(layer: Layer) -> Layer:
    """``layer`` named without torch.compile's ``_orig_mod`` (its tensors too)."""
    out = _each_tensor(layer, lambda p: replace(p, name=_clean(p.name)), computed=True)
    return replace(out, name=_clean(layer.name))
