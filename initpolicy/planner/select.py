"""Which tensors a selector picks: the predicates behind :mod:`initpolicy.planner.match`.

A *target* is one name under which a tensor can be reached: a parameter or buffer
under its first name, or a tied tensor under one of its aliases (each name matched in
the context of its own module). Torch-free.

>>> from initpolicy.tracer.graph import Layer, ParamInfo, Resolution
>>> from initpolicy.language.ir import Selector
>>> lay = Layer("fc", "Linear", ("Linear", "Module"), Resolution("relu"))
>>> w = ParamInfo("fc.weight", "weight", (3, 4), 4, 3)
>>> Index.of([lay]).selects(Selector(types=("Lin*",), before=("relu",)), NamedTensor(lay, w, "fc.weight", "weight"))
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

from ..catalog import EXPERT, canonical
from ..language import CONFIG_PREFIX, ExprError, Selector, module_only, names
from ..tracer import (
    Block,
    Layer,
    ModelGraph,
    ParamInfo,
    Resolution,
    block_of,
    expert_blocks,
    tensor_facts,
)

#: The default parameters of a type rule that names none (``Linear -> ...``).
WEIGHT_GLOBS: tuple[str, ...] = ("weight", "weight_*", "*_weight")


@dataclass(frozen=True)
class NamedTensor:
    """One tensor reached under one name, in the context of the module holding that name."""

    layer: Layer
    param: ParamInfo
    name: str
    local: str


def _any_glob(names: Iterable[str], globs: Iterable[str]) -> bool:
    globs = tuple(globs)
    return any(fnmatchcase(n, g) for n in names for g in globs)


def is_weight_name(local: str) -> bool:
    return any(fnmatchcase(local, g) for g in WEIGHT_GLOBS)


def branch_env(
    layer: Layer, n_branches: int, stacks: tuple[float, float] = (0.0, 0.0)
) -> dict[str, float]:
    """The residual-branch and attention names of ``layer`` (the trace's roles pass:
    :mod:`initpolicy.tracer.roles_branches`): ``n_branches`` (L), ``branch_layers`` (m,
    0 outside a branch), ``encoder_blocks`` and ``decoder_blocks`` (``stacks``: DeepNet's
    N and M, 0 without cross-attention), and the 0/1 facts ``in_branch``, ``branch_end``,
    ``branch_tail``, ``in_encoder``, ``in_decoder``, ``attn_query``, ``attn_key``,
    ``attn_value``."""
    return {
        "n_branches": float(n_branches),
        "encoder_blocks": float(stacks[0]),
        "decoder_blocks": float(stacks[1]),
        "in_encoder": float(layer.roles.stack == "encoder"),
        "in_decoder": float(layer.roles.stack == "decoder"),
        "branch_layers": float(layer.roles.branch_layers),
        "in_branch": float(layer.roles.branch is not None),
        "branch_end": float(layer.roles.branch_end),
        "branch_tail": float(layer.roles.branch_tail),
        "attn_query": float(layer.roles.attention == "query"),
        "attn_key": float(layer.roles.attention == "key"),
        "attn_value": float(layer.roles.attention == "value"),
    }


def selected_blocks(sel: Selector, p: ParamInfo) -> tuple[str, ...]:
    """The blocks of ``p`` that ``sel``'s ``[block]`` names: that packed block, or its
    experts (``[expert]``: every one; ``[expert=3]``: ``expert3``); () if none.

    >>> w = ParamInfo("experts.up", "up", (4, 64, 32), 32, 64, experts=4)
    >>> selected_blocks(Selector(param="up", block="expert", expert=1), w)
    ('expert1',)
    >>> len(selected_blocks(Selector(param="up", block="expert"), w))
    4
    """
    if sel.block is None:
        return ()
    if sel.block != EXPERT:
        return (sel.block,) if sel.block in p.blocks else ()
    names = expert_blocks(p)
    if sel.expert is None:
        return names
    return names[sel.expert : sel.expert + 1]


def where_env(
    target: NamedTensor,
    block: Block | None,
    n_layers: int,
    n_branches: int = 0,
    stacks: tuple[float, float] = (0.0, 0.0),
) -> dict[str, float]:
    """The names a ``where`` condition sees for ``target`` (a block's own rows and fans)."""
    fan_in, fan_out, shape = tensor_facts(target.param, block)
    numel = 1
    for s in shape:
        numel *= s
    return {
        "fan_in": float(fan_in),
        "fan_out": float(fan_out),
        "fan_avg": (float(fan_in) + float(fan_out)) / 2,
        "ndim": float(len(shape)),
        "numel": float(numel),
        "depth": float(target.layer.depth),
        "n_layers": float(n_layers),
        **branch_env(target.layer, n_branches, stacks),
    }


class Index:
    """The model facts selectors need: layers by name, every target, ``count`` results.

    ``cond`` evaluates a ``where`` condition (the expression evaluator is injected so
    this module stays a plain predicate layer; :mod:`initpolicy.planner.match` passes
    :func:`initpolicy.language.evaluation.evaluate_cond`).
    """

    def __init__(
        self,
        layers: list[Layer],
        targets: list[NamedTensor],
        n_layers: int,
        cond: Callable[[Any, Mapping[str, float], Callable[[Selector], int]], bool] | None = None,
    ):
        self.layers = layers
        self.by_name = {lay.name: lay for lay in layers}
        self.targets = targets
        self.n_layers = n_layers
        #: Residual branches in the model (set from the graph; Fixup's L).
        self.n_branches = 0
        #: The encoder's and decoder's blocks (DeepNet's N and M; set from the graph).
        self.stacks: tuple[float, float] = (0.0, 0.0)
        self._cond = cond
        #: The numbers of the model's config, for ``config.NAME`` in a ``where`` condition.
        self.config: Mapping[str, float] = {}
        #: The config names each where condition reads.
        self._config_names: dict[Any, list[str]] = {}
        self._counts: dict[str, int] = {}
        self._positions: dict[str, dict[str, int]] = {}
        #: Qualified module name -> its position in ``named_modules()`` (model order).
        self.module_order: dict[str, int] = {}
        #: A parametrized weight's stand-in (by id) -> the stored originals it writes.
        self.originals: dict[int, list[ParamInfo]] = {}

    @classmethod
    def of(cls, layers: list[Layer], cond: Any = None) -> Index:
        targets = [
            NamedTensor(lay, p, p.name, p.local)
            for lay in layers
            for p in (*lay.parameters, *lay.buffers)
        ]
        return cls(layers, targets, len(layers), cond)

    @classmethod
    def from_graph(cls, graph: ModelGraph, cond: Any = None) -> Index:
        """Targets of every parameter and buffer, tied tensors under each of their names."""
        layers = [*graph.layers, *graph.buffer_layers]
        by_name = {lay.name: lay for lay in layers}
        targets: list[NamedTensor] = []
        for lay in layers:
            for p in (*lay.parameters, *lay.buffers):
                targets.append(NamedTensor(lay, p, p.name, p.local))
                for alias in p.aliases:
                    mod_name, _, local = alias.rpartition(".")
                    owner = by_name.get(mod_name) or _synthetic_layer(graph, mod_name)
                    targets.append(NamedTensor(owner, p, alias, local))
        index = cls(layers, targets, graph.n_layers, cond)
        index.module_order = {name: i for i, name in enumerate(graph.module_types)}
        index.n_branches = graph.n_branches
        index.stacks = (graph.encoder_blocks, graph.decoder_blocks)
        index.config = graph.config
        for lay in layers:
            if lay.ownership.computes is not None:
                # a parametrized weight is written through its stand-in, as its owner's
                owner_name = lay.ownership.computes.name.rpartition(".")[0]
                owner = by_name.get(owner_name) or _synthetic_layer(graph, owner_name)
                target = NamedTensor(
                    owner,
                    lay.ownership.computes,
                    lay.ownership.computes.name,
                    lay.ownership.computes.local,
                )
                index.targets.insert(0, target)
                stored = lay.ownership.computes.stored
                index.originals[id(lay.ownership.computes)] = [
                    p for p in lay.parameters if not stored or p.local in stored
                ]
        return index

    # ------------------------------------------------------------------ predicates

    def module_selects(self, sel: Selector, layer: Layer) -> bool:
        """The module-level parts of ``sel``: types, named, in, before, after."""
        if sel.types is not None and not _any_glob(layer.types, sel.types):
            return False
        if sel.named is not None and not fnmatchcase(layer.name, sel.named):
            return False
        if sel.inside is not None and not any(
            _any_glob(types, sel.inside) for _, types in layer.ancestors
        ):
            return False
        if sel.before is not None and not _before(layer, sel.before):
            return False
        if sel.after is not None:
            prev = (
                self.by_name.get(layer.resolution.previous) if layer.resolution.previous else None
            )
            prev_types = (
                prev.types
                if prev
                else ((layer.resolution.previous_type,) if layer.resolution.previous_type else ())
            )
            if not _any_glob(prev_types, sel.after):
                return False
        return True

    def role_selects(self, sel: Selector, target: NamedTensor) -> bool:
        """``as ROLE``: one of the tensor's transfer roles (:func:`roles_of`) is wanted."""
        return sel.role is None or bool(roles_of(target) & set(sel.role))

    def tensor_selects(self, sel: Selector, target: NamedTensor) -> bool:
        """The tensor-level parts of ``sel`` (param glob, buffers only when named, block).

        A buffer is selected only by a parameter glob that names it: ``running_var``,
        ``running_*``, but not a bare ``*`` (``Embeddings.*`` must not reach a
        ``position_ids`` buffer that the module recomputes itself).
        """
        p = target.param
        if sel.param is not None:
            if not fnmatchcase(target.local, sel.param):
                return False
            if p.kind == "buffer" and sel.param == "*":
                return False
        elif p.kind == "buffer":
            return False
        elif not is_weight_name(target.local) and (sel.types is not None or sel.role is None):
            return False  # a role names the tensors it means (`as vector`: biases too)
        return sel.block is None or bool(selected_blocks(sel, p))

    def selects(self, sel: Selector, target: NamedTensor) -> bool:
        """Whether ``sel`` picks ``target`` (its block, if it names one)."""
        if not (self.tensor_selects(sel, target) and self.module_selects(sel, target.layer)):
            return False
        if not self.role_selects(sel, target):
            return False
        if sel.where is None:
            return True
        names = selected_blocks(sel, target.param)
        return self.where(sel, target, block_of(target.param, names[0]) if names else None)

    def where(self, sel: Selector, target: NamedTensor, block: Block | None) -> bool:
        if self._cond is None:
            raise RuntimeError("a where condition needs an evaluator")
        env = where_env(target, block, self.n_layers, self.n_branches, self.stacks)
        if sel.where is not None and sel.where not in self._config_names:
            self._config_names[sel.where] = sorted(
                n for n in names(sel.where) if n.startswith(CONFIG_PREFIX)
            )
        for name in self._config_names.get(sel.where, ()):
            if name.removeprefix(CONFIG_PREFIX) not in self.config:
                raise ExprError(
                    f"`{name}` is undefined here: the model has no config number "
                    f"`{name.removeprefix(CONFIG_PREFIX)}`"
                )
            env[name] = float(self.config[name.removeprefix(CONFIG_PREFIX)])
        return self._cond(sel.where, env, self.count)

    def count(self, sel: Selector) -> int:
        """``count(SELECTOR)``: how many modules match.

        A selector of module facts only (types, ``named``, ``in``) counts every module of
        the model that holds parameters itself or inside it, so ``count(Block)`` counts
        transformer blocks although a block owns no tensor of its own; a selector that
        names a tensor or an activation counts the modules holding a tensor it selects.
        """
        key = sel.model_dump_json()
        if key not in self._counts:
            if module_only(sel):
                self._counts[key] = sum(
                    1
                    for name, (types, ancestors) in self._modules().items()
                    if name
                    and (sel.types is None or _any_glob(types, sel.types))
                    and (sel.named is None or fnmatchcase(name, sel.named))
                    and (sel.inside is None or any(_any_glob(t, sel.inside) for t in ancestors))
                )
            else:
                modules = {t.layer.name for t in self.targets if self.selects(sel, t)}
                self._counts[key] = len(modules)
        return self._counts[key]

    def position(self, sel: Selector, layer: Layer) -> int:
        """``index(SELECTOR)`` for a tensor of ``layer``: the 0-based position of the
        module matching ``sel`` that encloses it (``layer`` itself or its nearest
        ancestor), among every module matching ``sel`` in the model's module order.
        A PlanError-worthy ValueError when no enclosing module matches."""
        key = sel.model_dump_json()
        if key not in self._positions:
            modules = self._modules()
            order = sorted(modules, key=lambda n: self.module_order.get(n, len(self.module_order)))
            matching = [
                name
                for name in order
                if name
                and (sel.types is None or _any_glob(modules[name][0], sel.types))
                and (sel.named is None or fnmatchcase(name, sel.named))
                and (sel.inside is None or any(_any_glob(t, sel.inside) for t in modules[name][1]))
            ]
            self._positions[key] = {name: i for i, name in enumerate(matching)}
        where = self._positions[key]
        for name in (layer.name, *(n for n, _ in reversed(layer.ancestors))):
            if name in where:
                return where[name]
        raise ValueError(f"{layer.name or 'the model'} is inside no module that index(...) selects")

    def _modules(self) -> dict[str, tuple[tuple[str, ...], list[tuple[str, ...]]]]:
        """Every module that holds parameters, itself or below: name -> (types, the types
        of its ancestors), from the layers and their ancestor chains."""
        out: dict[str, tuple[tuple[str, ...], list[tuple[str, ...]]]] = {}
        for lay in self.layers:
            chain = [types for _, types in lay.ancestors]
            for i, (name, types) in enumerate(lay.ancestors):
                out.setdefault(name, (types, chain[:i]))
            out.setdefault(lay.name, (lay.types, chain))
        return out


def roles_of(target: NamedTensor) -> frozenset[str]:
    """What a tensor is to width/depth transfer, under this name (docs/mup.md), from the
    trace: ``vector`` (not a mixing weight: a bias, a norm's scale, a token, a position
    table), else ``input`` (no parameterized layer feeds its layer), ``readout`` (nothing
    mixes its layer's output further), or ``hidden``, which a ``branch_end`` and a
    ``query`` (its layer's output is attention's query, on its own, or a fused
    projection's output holds the query as a block of its own: :func:`query_block`) also
    are; and
    ``tied`` under every name of a tensor with several (an embedding tied to a readout).
    Without the roles pass (the ``modules`` tracer) a tensor of one dimension is a vector
    and any other a hidden weight.
    """
    p, layer = target.param, target.layer
    role = p.role if p.role is not None else ("weight" if p.ndim >= 2 else "other")
    tied = {"tied"} if p.aliases else set()
    if role != "weight":
        return frozenset({"vector", *tied})
    out = set(tied)
    if layer.resolution.previous is None:
        out.add("input")
    if layer.roles.to_output == 0 or layer.activation == "output":
        out.add("readout")
    if not out - tied:
        out.add("hidden")
        if layer.roles.branch_end:
            out.add("branch_end")
        if layer.roles.attention == "query" or query_block(layer) is not None:
            out.add("query")
    return frozenset(out)


def query_block(layer: Layer) -> tuple[int, int] | None:
    """The output features [start, stop) of a fused projection that are attention's query
    and nothing else (GPT-2's ``c_attn`` [0:E]; the trace's ``attention_blocks``); None for
    a layer that is not one."""
    return next(
        ((b.start, b.stop) for b in layer.roles.attention_blocks if b.operand == "query"), None
    )


def output_block(sel: Selector, target: NamedTensor) -> tuple[int, int] | None:
    """The part of the layer's output a rule's ``output`` multiplier scales: the query block
    of a fused projection where the rule selects the tensor as ``query`` alone (``as
    query``: what it means on a fused layer is its query block); None: the whole output."""
    if sel.role is None or roles_of(target) & set(sel.role) != {"query"}:
        return None
    return query_block(target.layer)


def _module_only(sel: Selector) -> bool:
    return (
        sel.role is None
        and sel.param is None
        and sel.block is None
        and sel.before is None
        and sel.after is None
        and sel.where is None
    )


def _before(layer: Layer, wanted: tuple[str, ...]) -> bool:
    names = {canonical(w) or w for w in wanted}
    # A mixed layer has no single activation: only `before mixed` may claim it.
    return layer.activation in names


def _synthetic_layer(graph: ModelGraph, mod_name: str) -> Layer:
    """Context for a name whose module the tracer did not list (it owns no tensor of its
    own): its types from the graph, no known activation (``before`` never matches it)."""
    types = graph.module_types.get(mod_name, ())
    return Layer(
        name=mod_name,
        type=types[0] if types else "",
        types=types,
        resolution=Resolution(activation=""),
    )
