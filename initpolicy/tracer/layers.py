"""Turn a model plus the resolution pass's findings into ModelGraph layers.

Facts that come from the module tree alone live here: parameters and buffers with their
fans and blocks, tied tensors (one entry, the other names as aliases), types (MRO names),
ancestors, and where a module was constructed. The ``modules`` tracer's guesses (used when
no graph can be obtained) are here too.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import torch

from .fans import blocks, fans, legacy_weight_norms, parametrized_stand_in, shape_fans
from .graph import Layer, OutputBlock, Ownership, ParamInfo, Resolution
from .ops import is_norm, module_activation
from .resolve import INTO, Outcome, Resolved, parametrization_of


def type_names(module: Any) -> tuple[str, ...]:
    """The class name and every nn.Module base class name, most derived first.

    Mixins are left out: every transformers model derives from ``EmbeddingAccessMixin``
    and ``PushToHubMixin``, and ``Embedding*`` must not select them.
    """
    mro = type(module).__mro__
    return tuple(c.__name__ for c in mro if c is mro[0] or issubclass(c, torch.nn.Module))


class TensorNames:
    """Every name of every parameter and buffer; the first name of a tensor is canonical."""

    def __init__(self, model: torch.nn.Module):
        self.names: dict[int, list[str]] = {}
        self.params: dict[str, str] = {}  # every parameter name -> owning module name
        for name, p in model.named_parameters(remove_duplicate=False):
            self.names.setdefault(id(p), []).append(name)
            self.params[name] = name.rpartition(".")[0]
        for name, b in model.named_buffers(remove_duplicate=False):
            self.names.setdefault(id(b), []).append(name)

    def canonical(self, t: Any) -> str:
        return self.names[id(t)][0]

    def by_id(self) -> dict[int, str]:
        return {i: names[0] for i, names in self.names.items()}


def _info(
    module: Any, local: str, t: Any, qual: str, names: TensorNames, prefix: str, kind: str
) -> ParamInfo:
    fan_in, fan_out = fans(module, local, t)
    all_names = names.names[id(t)]
    return ParamInfo(
        name=qual,
        local=local,
        shape=tuple(int(s) for s in t.shape),
        fan_in=fan_in,
        fan_out=fan_out,
        kind=kind,  # type: ignore[arg-type]
        dtype=str(t.dtype).replace("torch.", ""),
        requires_grad=bool(t.requires_grad),
        aliases=tuple(n for n in all_names if n != qual),
        blocks=blocks(module, local, t) if kind == "parameter" else {},
        raw_name=prefix + qual,
    )


def is_parametrized(module: Any) -> bool:
    """Whether some tensor of ``module`` is computed by torch.nn.utils.parametrize."""
    return hasattr(getattr(module, "parametrizations", None), "items")


def _layer_fans(
    params: list[ParamInfo], tied: Mapping[str, Any], module: Any, owner: Any = None
) -> tuple[Any, Any]:
    if owner is not None and params:
        # a ParametrizationList: the fans of the weight it computes, by its owner's type
        # (a ConvTranspose keeps its own layout)
        main = max(params, key=lambda q: (q.ndim, q.numel))
        if main.ndim >= 2:
            return shape_fans(owner, main.shape)
    weight = next((p for p in params if p.local == "weight"), None)
    if weight is None and "weight" in tied:
        return fans(module, "weight", tied["weight"])
    stand_in = parametrized_stand_in(module) if weight is None else None
    if stand_in is not None:
        return fans(module, "weight", stand_in)
    weight = weight or next((p for p in params if p.ndim >= 2), None)
    weight = weight or (params[0] if params else None)
    return (weight.fan_in, weight.fan_out) if weight else (None, None)


def make_layer(
    name: str,
    module: Any,
    modules: Mapping[str, Any],
    names: TensorNames,
    prefix: str,
    direct: bool = False,
) -> Layer:
    """A Layer for module ``name`` with its own tensors (activation filled in later)."""
    params: list[ParamInfo] = []
    tied: dict[str, Any] = {}
    for local, p in module._parameters.items():
        if p is None:
            continue
        qual = f"{name}.{local}" if name else local
        if names.canonical(p) != qual:
            tied[local] = p
            continue
        params.append(_info(module, local, p, qual, names, prefix, "parameter"))
    buffers = [
        _info(module, local, b, f"{name}.{local}" if name else local, names, prefix, "buffer")
        for local, b in module._buffers.items()
        if b is not None and names.canonical(b) == (f"{name}.{local}" if name else local)
    ]
    pz = parametrization_of(name)
    owner = modules.get(pz[0]) if pz is not None and pz[1] == name else None
    fan_in, fan_out = _layer_fans(params, tied, module, owner)
    parts = name.split(".") if name else []
    ancestors = tuple(
        (".".join(parts[:i]), type_names(modules[".".join(parts[:i])]))
        for i in range(len(parts))
        if ".".join(parts[:i]) in modules
    )
    computes = None
    if owner is not None:
        computes = computed_weight(pz[0], pz[1], owner, module, params)  # type: ignore[index]
    legacy = legacy_weight_norms(module)
    if legacy:
        key = "weight" if "weight" in legacy else next(iter(legacy))
        computes = legacy_computed_weight(name, key, module, params)
    return Layer(
        name=name,
        type=type(module).__name__,
        types=type_names(module),
        fan_in=fan_in,
        fan_out=fan_out,
        parameters=tuple(params),
        buffers=tuple(buffers),
        ancestors=ancestors,
        module=None if direct else module,
        source=source_of(name, modules),
        ownership=Ownership(
            tied={local: names.canonical(t) for local, t in tied.items()},
            reset=reset_method(module),
            resets_stats=callable(getattr(module, "reset_running_stats", None)),
            init_weights_owner=init_weights_owner(modules, name),
            computes=computes,
        ),
    )


#: Where torch keeps its quantized modules (eager mode: quantize, quantize_dynamic).
QUANTIZED_PACKAGES = (
    "torch.ao.nn.quantized",
    "torch.ao.nn.intrinsic.quantized",
    "torch.ao.nn.sparse.quantized",
    "torch.nn.quantized",
    "torch.nn.intrinsic.quantized",
)


def quantized_modules(modules: Mapping[str, Any]) -> dict[str, str]:
    """The modules holding quantized weights (packed, not parameters): name -> class name,
    the outermost only (a quantized Linear, not its ``_packed_params``).

    >>> import torch, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     q = torch.ao.quantization.quantize_dynamic(
    ...         torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()), {torch.nn.Linear})
    >>> quantized_modules(dict(q.named_modules()))
    {'0': 'Linear'}
    """
    found: dict[str, str] = {}
    for name, m in modules.items():
        kind = type(m)
        if not kind.__module__.startswith(QUANTIZED_PACKAGES):
            continue
        holds = hasattr(m, "_packed_params") or hasattr(m, "_all_weight_values")
        if not (holds or callable(getattr(m, "weight", None))):
            continue  # Quantize, DeQuantize, FloatFunctional: no weights
        if any(name.startswith(f"{outer}.") for outer in found):
            continue
        found[name] = kind.__name__
    return found


#: A module's own init, in order of preference (MultiheadAttention has only the second).
RESET_METHODS = ("reset_parameters", "_reset_parameters")


def reset_method(module: Any) -> str | None:
    """The name of ``module``'s own (re)initialization method, or None."""
    return next((m for m in RESET_METHODS if callable(getattr(module, m, None))), None)


def init_weights_owner(modules: Mapping[str, Any], name: str) -> str | None:
    """The nearest enclosing module of ``name`` (itself included, the root last) with
    transformers' ``_init_weights(module)``, or None."""
    parts = name.split(".") if name else []
    for n in range(len(parts), -1, -1):
        owner = modules.get(".".join(parts[:n]))
        if owner is not None and _per_module(getattr(owner, "_init_weights", None)):
            return ".".join(parts[:n])
    return None


def _per_module(init: Any) -> bool:
    """An ``_init_weights`` applied to one module at a time (it takes the module), not a
    method that initializes the whole model in a loop (torchvision's MaxViT)."""
    if not callable(init):
        return False
    try:
        params = inspect.signature(init).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params
    )


#: torch.nn.utils.parametrizations' classes, by the name initpolicy gives them.
PARAMETRIZATIONS = {"_WeightNorm": "weight_norm", "_SpectralNorm": "spectral_norm"}


def computed_weight(
    owner_name: str, plist_name: str, owner: Any, plist: Any, stored: list[ParamInfo]
) -> ParamInfo | None:
    """The weight a ParametrizationList computes (``conv.weight`` under weight_norm), as a
    parameter of its owner: the owner's fans for the stored full-shape original, and the
    parametrization's name, so type rules (``Conv* -> ...``) reach it."""
    if not stored:
        return None
    main = max(stored, key=lambda q: (q.ndim, q.numel))
    kinds = [type(m).__name__ for m in plist]
    kind = PARAMETRIZATIONS.get(kinds[0], kinds[0]) if len(kinds) == 1 else "+".join(kinds)
    fan_in, fan_out = shape_fans(owner, main.shape) if main.ndim >= 2 else (1.0, 1.0)
    local = plist_name.rpartition(".")[2]
    prefix = main.raw_name[: len(main.raw_name) - len(main.name)]
    qual = f"{owner_name}.{local}" if owner_name else local
    return ParamInfo(
        name=qual,
        local=local,
        shape=main.shape,
        fan_in=fan_in,
        fan_out=fan_out,
        dtype=main.dtype,
        requires_grad=all(q.requires_grad for q in stored),
        raw_name=prefix + qual,
        parametrization=kind,
        stored=tuple(q.local for q in stored),
    )


def legacy_computed_weight(
    name: str, key: str, module: Any, params: list[ParamInfo]
) -> ParamInfo | None:
    """The weight ``key`` the legacy ``torch.nn.utils.weight_norm`` computes on ``module``
    from ``key_g`` and ``key_v``: like the parametrization's, with ``v``'s shape and fans,
    so ``weight_*`` globs reach the weight, not ``g`` drawn as if it were one."""
    stored = [q for q in params if q.local in (f"{key}_g", f"{key}_v")]
    v = next((q for q in stored if q.local == f"{key}_v"), None)
    if v is None:
        return None
    qual = f"{name}.{key}" if name else key
    return ParamInfo(
        name=qual,
        local=key,
        shape=v.shape,
        fan_in=v.fan_in,
        fan_out=v.fan_out,
        dtype=v.dtype,
        requires_grad=all(q.requires_grad for q in stored),
        raw_name=v.raw_name[: len(v.raw_name) - len(v.name)] + qual,
        parametrization="weight_norm",
        stored=tuple(q.local for q in stored),
    )


def resolution_of(
    outcomes: set[Outcome], previous: str | None = None, previous_type: str | None = None
) -> Resolution:
    """The Resolution of a layer whose walks ended in ``outcomes``.

    ``output`` is a fallback: a layer whose output is also returned to the caller (an
    encoder's ``last_hidden_state`` beside the decoder that reads it) takes the answer
    of its other paths, the ones training flows through; it is ``output`` only when the
    model output is all it reaches.
    """
    entered = {dict(k).get(INTO) for a, k, n, _r in outcomes if a == "linear" and not n}
    # private marks of the walk (``_summed``, ``_into``) are not the activation's arguments
    outcomes = {
        (a, tuple(kv for kv in k if not kv[0].startswith("_")), n, r) for a, k, n, r in outcomes
    }
    inside = {o for o in outcomes if o[0] != "output"}
    outcomes = inside or outcomes
    acts = sorted({(a, k) for a, k, _n, _r in outcomes}, key=lambda x: (x[0], repr(x[1])))
    activation, act_args = "linear", {}
    candidates: tuple[str, ...] = ()
    if len(acts) == 1:
        activation, act_args = acts[0][0], dict(acts[0][1])
    elif acts:
        activation, candidates = "mixed", tuple(sorted({a for a, _k in acts}))
    normalized = any(n for _a, _k, n, _r in outcomes)
    into: tuple[str, ...] = ()
    if activation == "linear" and not normalized and entered and None not in entered:
        into = tuple(sorted(str(e) for e in entered))
    return Resolution(
        activation=activation,
        candidates=candidates,
        act_args=act_args,
        previous=previous,
        previous_type=previous_type,
        normalized=normalized,
        residual=any(r for _a, _k, _n, r in outcomes),
        into=into,
    )


def resolved(layer: Layer, r: Resolved, modules: Mapping[str, Any]) -> Layer:
    """``layer`` with what the resolution pass found: its Resolution, and the per-tensor
    facts of its uses."""
    prev_type = None
    if r.previous is not None and r.previous in modules:
        prev_type = type(modules[r.previous]).__name__
    return replace(
        layer,
        resolution=resolution_of(r.outcomes, r.previous, prev_type),
        parameters=tuple(_with_uses(p, r) for p in layer.parameters),
    )


def _with_uses(p: ParamInfo, r: Resolved) -> ParamInfo:
    """Per-tensor facts of the resolution (:class:`~initpolicy.tracer.resolve.Use`): an
    experts tensor of 3 or more dims used slice by slice (``grouped_mm``, ``bmm``,
    ``F.linear(x, W[e])``) has the fans of one slice (its output dim and the input dim
    beside it), not torch's over the stacked experts; a tensor whose output is cut into
    blocks, or whose module's tensors feed different activations, records the activation
    of each block (``ParamInfo.outputs``)."""
    use = r.uses.get(p.local) or (r.uses.get("") if p.local == "weight" else None)
    if use is None or use.out_dim is None or p.ndim < 2:
        return p
    dim = use.out_dim
    if p.ndim >= 3 and dim >= p.ndim - 2 and p.local in r.uses:
        in_dim = (p.ndim - 1) if dim == p.ndim - 2 else p.ndim - 2
        p = replace(
            p,
            fan_in=float(p.shape[in_dim]),
            fan_out=float(p.shape[dim]),
            experts=p.shape[0] if p.ndim == 3 else p.experts,
        )
    size = p.shape[dim]

    def block(start: int, stop: int, outcomes: set[Outcome]) -> OutputBlock:
        res = resolution_of(outcomes)
        return OutputBlock(dim, start, stop, res.activation, res.act_args, res.into)

    if len(use.blocks) > 1 and use.blocks[-1][1] == size:
        # neighbours that feed the same activation are one block (Mamba's x_proj: dt, B
        # and C all feed linear ops); one block left is no cut at all
        joined: list[OutputBlock] = []
        for a, z, b in use.blocks:
            o = block(a, z, b or use.outcomes)
            last = joined[-1] if joined else None
            # two blocks both ``mixed`` may mix different activations: kept apart
            if (
                last is not None
                and o.activation != "mixed"
                and (last.activation, last.act_args) == (o.activation, o.act_args)
            ):
                # into different layers (x_proj's dt part into dt_proj, B and C into the
                # scan): still one block, but no longer a chain's link
                into = last.into if last.into == o.into else ()
                joined[-1] = replace(last, stop=z, into=into)
            else:
                joined.append(o)
        if len(joined) > 1:
            return replace(p, outputs=tuple(joined))
    if sum(1 for k in r.uses if k) > 1 and use.outcomes:
        return replace(p, outputs=(block(0, size, use.outcomes),))
    return p


# -- where a module was constructed ------------------------------------------------------
_SOURCES: dict[Any, tuple[str, int, tuple[str, ...]] | None] = {}


def _init_source(cls: Any) -> tuple[str, int, tuple[str, ...]] | None:
    if cls in _SOURCES:
        return _SOURCES[cls]
    _SOURCES[cls] = None
    try:
        lines, start = inspect.getsourcelines(cls.__init__)
        path = inspect.getsourcefile(cls.__init__)
    except (OSError, TypeError):
        return None
    _SOURCES[cls] = (path or "?", start, tuple(lines))
    return _SOURCES[cls]


def source_of(name: str, modules: Mapping[str, Any]) -> str | None:
    """``file:line`` of the ``self.<attr> = ...`` in the parent's ``__init__``, if found.

    Numbered children (Sequential, ModuleList) point at their container's assignment.
    """
    parts = name.split(".") if name else []
    while parts and parts[-1].isdigit():
        parts.pop()
    if not parts:
        return None
    parent = modules.get(".".join(parts[:-1]))
    if parent is None:
        return None
    found = _init_source(type(parent))
    if found is None:
        return None
    path, start, lines = found
    pattern = re.compile(rf"\bself\.{re.escape(parts[-1])}\s*(:[^=]*)?=(?!=)")
    for i, line in enumerate(lines):
        if pattern.search(line):
            return f"{path}:{start + i}"
    return None


# -- the "modules" tracer: registration order, activations guessed ------------------------
def guess_outcomes(model: torch.nn.Module) -> dict[str, set[Outcome]]:
    """For each module owning tensors: the next activation in registration order, ``linear``
    if another parameterized layer comes first, ``output`` if nothing does."""
    # a parametrization belongs to its owner's weight: the owner stands where it is
    seq = [
        (n, m)
        for n, m in model.named_modules()
        if (not m._modules or m._parameters or is_parametrized(m)) and parametrization_of(n) is None
    ]
    guesses: dict[str, set[Outcome]] = {}
    for i, (name, m) in enumerate(seq):
        if not (m._parameters or m._buffers or is_parametrized(m)):
            continue
        outcome: Outcome = ("output", (), False, False)
        normalized = False
        for _n2, nxt in seq[i + 1 :]:
            act = module_activation(nxt)
            if act is not None:
                outcome = (act[0], tuple(sorted(act[1].items())), normalized, False)
                break
            if is_norm(nxt):
                normalized = True
                continue
            if is_parametrized(nxt) or any(p is not None for p in nxt._parameters.values()):
                outcome = ("linear", (), normalized, False)
                break
        guesses[name] = {outcome}
    for name, m in model.named_modules():
        pz = parametrization_of(name)
        if pz is not None and pz[0] in guesses and (m._parameters or m._buffers):
            guesses[name] = guesses[pz[0]]
    return guesses
