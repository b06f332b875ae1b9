"""ModelGraph: what the tracer found out about a model, as plain data.

Produced by :func:`initpolicy.tracer.tracing.trace`, consumed by ``match`` and ``lint``.
Defined without importing torch (fields that hold torch objects are typed ``Any``).
The JSON form (``to_json``) is the contract of ``initpolicy trace --format json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..catalog import EXPERT

TracerKind = Literal["fx", "dynamic", "modules"]
ParamRole = Literal["weight", "bias", "scale", "table", "other"]


@dataclass(frozen=True)
class Block:
    """One block of a packed tensor (an LSTM gate, an MHA q/k/v): rows [start, stop)."""

    name: str
    start: int
    stop: int
    fan_in: float
    fan_out: float
    #: One expert of an experts tensor (row ``start`` of dim 0): its values are the
    #: ``(out, in)`` matrix of that expert, not a row chunk of the stacked tensor.
    expert: bool = False


@dataclass(frozen=True)
class OutputBlock:
    """Output features [start, stop) of a tensor along its stored dim ``dim``, and the
    activation they feed: a packed GLU projection's two halves (``mixed(gelu, linear)``
    as a whole), or an MoE experts tensor whose module holds tensors feeding different
    activations (``gate_up_proj`` before SiLU and the gate, ``down_proj`` before the
    residual stream)."""

    dim: int
    start: int
    stop: int
    activation: str
    act_args: dict[str, Any] = field(default_factory=dict)
    #: The layers these features go into directly (``Resolution.into``).
    into: tuple[str, ...] = ()


@dataclass(frozen=True)
class OperandBlock:
    """Output features [start, stop) (the last dim) of a fused attention projection that
    are one attention operand (``query``, ``key`` or ``value``) and nothing else."""

    operand: str
    start: int
    stop: int
    #: The size of the operand's last dim at the attention call, where that dim is
    #: features of this layer (the head dim: timm's ``D`` of ``(B, H, N, D)``); else 0.
    head_dim: int = 0


@dataclass(frozen=True)
class ParamInfo:
    """A parameter (or buffer) of a layer.

    ``name`` is the canonical qualified name (wrapper prefixes such as ``module.`` and
    ``_orig_mod.`` stripped); ``local`` the attribute name on its module (``weight``).
    A tied tensor appears once, under its first name, with the others in ``aliases``.
    """

    name: str
    local: str
    shape: tuple[int, ...]
    fan_in: float
    fan_out: float
    kind: Literal["parameter", "buffer"] = "parameter"
    dtype: str = "float32"
    requires_grad: bool = True
    aliases: tuple[str, ...] = ()
    #: Packed blocks by name (LSTM/GRU gates, MHA q/k/v); empty for ordinary tensors.
    blocks: dict[str, Block] = field(default_factory=dict)
    #: Name of the original attribute on the model (with wrapper prefixes), for lookups.
    raw_name: str = ""
    #: Set on a tensor computed by torch.nn.utils.parametrize (``conv.weight`` under
    #: weight_norm): "weight_norm", "spectral_norm", or the parametrizations' class names.
    #: Such an entry is made by the matcher, not the tracer; the stored tensors are the
    #: ParametrizationList's ``original*``.
    parametrization: str | None = None
    #: What the tensor does in the forward (the roles pass, :mod:`initpolicy.tracer.roles`):
    #: ``weight`` (the weight operand of a feature-mixing op: linear, conv, matmul, einsum,
    #: embedding, recurrence; its rows are units), ``bias`` (added to the signal),
    #: ``scale`` (multiplies it elementwise: a norm's weight, LayerScale, a gain, a
    #: temperature), ``table`` (indexed by position and added: relative-position biases),
    #: ``other``; None where the pass did not run or the tensor is not used.
    role: ParamRole | None = None
    #: How a sharded tensor is laid out over ranks (``S(0)@dp=4``: a DTensor's placements
    #: on its mesh dims); None for a tensor every process holds whole.
    placement: str | None = None
    #: For such a computed tensor: the local names of the stored tensors it is computed
    #: from, on the module holding them (a ParametrizationList's ``original0``/``original1``
    #: or ``original``; the legacy torch.nn.utils.weight_norm's ``weight_g``/``weight_v`` on
    #: the layer itself). A rule on the computed tensor writes these.
    stored: tuple[str, ...] = ()
    #: What its output features feed, where the layer's one activation does not say it:
    #: one block per piece of the output its uses cut apart along the last dim (a packed
    #: GLU projection's halves, Mamba2's z / xBC / dt), or one block for
    #: a tensor used apart from its module's others (an MoE experts tensor). Empty
    #: otherwise. Set by the resolution pass (docs/tracing.md, "Packed GLU and experts").
    outputs: tuple[OutputBlock, ...] = ()
    #: How many experts an experts tensor stacks along dim 0 (a 3-D tensor used one
    #: ``(out, in)`` slice per expert: ``grouped_mm``, ``bmm``), each a block ``expert<i>``
    #: that ``[expert]`` rules select (:func:`block_of`); 0 for an ordinary tensor.
    experts: int = 0

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def numel(self) -> int:
        n = 1
        for s in self.shape:
            n *= s
        return n

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "shape": list(self.shape),
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
        }
        if self.placement is not None:  # a sharded model's: additive to the contract
            out["placement"] = self.placement
        return out


def expert_blocks(p: ParamInfo) -> tuple[str, ...]:
    """The block names of ``p``'s experts (``expert0``, ``expert1``, ...)."""
    return tuple(f"{EXPERT}{i}" for i in range(p.experts))


def block_names(p: ParamInfo) -> tuple[str, ...]:
    """Every block of ``p`` a rule can write: its packed blocks, then its experts."""
    return (*p.blocks, *expert_blocks(p))


def block_of(p: ParamInfo, name: str | None) -> Block | None:
    """Block ``name`` of ``p`` (None for None): a packed block, or one expert.

    >>> w = ParamInfo("experts.up", "up", (4, 64, 32), 32, 64, experts=4)
    >>> b = block_of(w, "expert2")
    >>> (b.start, b.stop, b.fan_in, b.expert), tensor_facts(w, b)
    ((2, 3, 32, True), (32, 64, (64, 32)))
    """
    if name is None:
        return None
    if name in p.blocks:
        return p.blocks[name]
    index = name.removeprefix(EXPERT)
    if name.startswith(EXPERT) and index.isdigit() and int(index) < p.experts:
        i = int(index)
        return Block(name, i, i + 1, p.fan_in, p.fan_out, expert=True)
    raise KeyError(name)


def tensor_facts(p: ParamInfo, block: Block | None) -> tuple[float, float, tuple[int, ...]]:
    """fan_in, fan_out and shape of ``p``, or of one ``block`` of it (its own rows).

    >>> w = ParamInfo("lstm.weight_ih_l0", "weight_ih_l0", (16, 3), 3, 16,
    ...               blocks={"forget": Block("forget", 4, 8, 3, 4)})
    >>> tensor_facts(w, None), tensor_facts(w, w.blocks["forget"])
    ((3, 16, (16, 3)), (3, 4, (4, 3)))
    """
    if block is None:
        return p.fan_in, p.fan_out, p.shape
    if block.expert:
        return block.fan_in, block.fan_out, p.shape[1:]
    return block.fan_in, block.fan_out, (block.stop - block.start, *p.shape[1:])


@dataclass(frozen=True)
class Resolution:
    """What follows a layer in the forward: the resolution pass's answer
    (:mod:`initpolicy.tracer.resolve`; the ``modules`` tracer guesses it).

    ``activation`` is a canonical name (see :mod:`initpolicy.catalog.activations`), ``mixed``
    with ``candidates`` when uses disagree. ``act_args`` are the activation's own arguments
    (``{"negative_slope": 0.2}`` for leaky_relu, ``{"alpha": 1.0}`` for elu,
    ``{"approximate": "tanh"}`` for gelu).
    """

    activation: str = "linear"
    candidates: tuple[str, ...] = ()
    act_args: dict[str, Any] = field(default_factory=dict)
    #: The parameterized module whose output this layer reads, and its class name.
    previous: str | None = None
    previous_type: str | None = None
    #: Its output reaches a residual add on the way to its activation.
    residual: bool = False
    #: A normalization layer sits between this layer and its activation.
    normalized: bool = False
    #: False for a layer the traced forward never ran (its activation is then ``linear``
    #: by default, not traced): a branch the example input does not take, a tower whose
    #: input was not given. True where the graph does not say (the ``modules`` tracer).
    called: bool = True
    #: The layers its output goes into directly, with only reshapes, cuts, casts and
    #: dropout on the way (no activation, normalization, mixing op, or sum with another
    #: signal): Mamba's xBC block into the depthwise ``conv1d``, a factorized projection's
    #: first factor into its second. Set only where every path of an ``activation ==
    #: "linear"`` layer does so; the chain's gain is the product of its layers' gains.
    into: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ownership:
    """Who owns a layer's tensors and their initialization: read from the modules, no graph
    needed (:func:`initpolicy.tracer.layers.make_layer`)."""

    #: Parameters of this module tied to a tensor listed under another layer:
    #: local name -> canonical name (GPT-2's ``lm_head.weight`` -> ``transformer.wte.weight``).
    tied: dict[str, str] = field(default_factory=dict)
    #: The module's own (re)initialization method (``reset_parameters``), if it has one.
    reset: str | None = None
    #: Whether the module can reset its buffers itself (BatchNorm's ``reset_running_stats``).
    resets_stats: bool = False
    #: The nearest enclosing module (or the root, ``""``) with transformers'
    #: ``_init_weights(module)``, which can initialize this module; None if there is none.
    init_weights_owner: str | None = None
    #: The weight this layer computes, as a parameter of its owner (``conv.weight``, with
    #: ``parametrization`` set, the owner's fans, and ``stored``): for a
    #: ParametrizationList (``conv.parametrizations.weight``), or for a layer under the
    #: legacy ``torch.nn.utils.weight_norm`` (its ``weight_g``, ``weight_v``).
    computes: ParamInfo | None = None


@dataclass(frozen=True)
class GraphRoles:
    """What a layer does in the traced graph: the roles pass's facts
    (:mod:`initpolicy.tracer.roles`; docs/tracing.md, "Graph facts"). The defaults are what
    a layer gets where the pass did not run (the ``modules`` tracer) or never reached it."""

    #: Computes the gate ``g`` of a multiplicative gate ``x * g(x)`` (squeeze-excitation):
    #: its output reaches the trunk only as the gate operand of the mul.
    gate: bool = False
    #: Lies between the fork and the join of a residual add ``x + f(x)``: the join's other
    #: operand reaches the fork with no parameterized layer on the way.
    residual_branch: bool = False
    #: Every path from its output reaches a normalization before the model output (layers,
    #: activations, mixing ops and sums on the way): whatever scale the path has, the
    #: norm resets it; a sum on the way only weighs this term against the other.
    renormalized: bool = False
    #: Every path from its output reaches a normalization through positively homogeneous
    #: ops (the ReLU family, linear layers, products, reshapes, pooling, concatenation):
    #: the weight's scale does not change the function the model computes.
    scale_invariant: bool = False
    #: The most parameterized (mixing) layers on a path from its output to the model
    #: output (0: nothing mixes its output further); None when its output reaches no output.
    to_output: int | None = None
    #: Some input of the layer depends on the model's inputs (not only on constants such as
    #: a coordinate table).
    input_dependent: bool = True
    #: The parameterized layers its output reaches with no normalization and no sum with
    #: another signal (a residual join) in between: the next links of its chain.
    feeds: tuple[str, ...] = ()
    #: The BatchNorm/InstanceNorm that every path from its output reaches through
    #: per-channel-constant-preserving ops only (so the norm cancels its bias); else None.
    cancelled_by: str | None = None
    #: Residual branch facts (:mod:`initpolicy.tracer.roles_branches`): the index of its
    #: innermost residual branch (None: in none), that branch's count of mixing layers,
    #: whether it is a last mixing layer of the branch, and whether it is the branch's last
    #: parameterized module (a norm, where the branch ends in one).
    branch: int | None = None
    branch_layers: int = 0
    branch_end: bool = False
    branch_tail: bool = False
    #: ``encoder`` or ``decoder``: the role of its branch's stack in an encoder-decoder
    #: model (the stack another reads by cross-attention, or the one reading it); None
    #: outside a branch and in a model with one stack.
    stack: str | None = None
    #: ``query``, ``key`` or ``value``: the attention operand its output is; else None.
    attention: str | None = None
    #: A fused projection's output cut by operand (GPT-2's ``c_attn``, timm's ``qkv``): the
    #: output features (last dim) that each operand it feeds reads and nothing else does,
    #: found by replaying the graph's cuts (:mod:`initpolicy.tracer.roles_fused`); empty
    #: for a layer that feeds one operand or none.
    attention_blocks: tuple[OperandBlock, ...] = ()
    #: The layers whose outputs are added to this layer's output as they are (through
    #: reshapes, dropout and constant factors only): a token embedding's position and
    #: token-type embeddings. A term that is a model's own tensor (ViT's ``pos_embed``)
    #: is named by the tensor.
    summed_with: tuple[str, ...] = ()
    #: The constant factor its output is multiplied by before that sum (Marian's
    #: ``embed_scale`` = sqrt(d_model)); 1 where there is none.
    sum_factor: float = 1.0
    #: The normalizations a token embedding's output reaches as a term of its sum (see
    #: ``summed_with``; not past a residual join), each with the eps it adds to the
    #: variance: BERT's ``embeddings.LayerNorm``, a Llama's first ``input_layernorm``.
    normed_by: tuple[tuple[str, float], ...] = ()
    #: Its first input carries the values of a model input, not only its shape: an
    #: embedding looked up by token ids (a position embedding reads ``arange(len)``).
    indexed_by_input: bool = False
    #: It reads a residual stream where a residual branch forks from it (Fixup's
    #: ``conv1``, a pre-norm block's first norm): its input is the stream entering a block.
    reads_stream: bool = False


@dataclass(frozen=True)
class Layer:
    """A module that owns parameters (or a parameter used directly, ``x @ W``).

    Immutable: each pass of the tracer computes one group of facts and the layer is built
    (or rebuilt with :func:`dataclasses.replace`) with it. ``resolution`` says what follows
    the layer, ``ownership`` who owns its tensors and their init, ``roles`` what it does
    in the graph. ``depth`` is the 0-based execution order among parameterized layers.
    ``types`` is the class name and every base class name (MRO), ``ancestors`` the
    qualified names and types of the enclosing modules, outermost first.
    """

    name: str
    type: str
    types: tuple[str, ...]
    resolution: Resolution = field(default_factory=Resolution)
    depth: int = 0
    fan_in: float | None = None
    fan_out: float | None = None
    parameters: tuple[ParamInfo, ...] = ()
    buffers: tuple[ParamInfo, ...] = ()
    ancestors: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: The nn.Module itself (None for a directly used parameter).
    module: Any = None
    #: "file:line" where the module was constructed, when it can be found.
    source: str | None = None
    ownership: Ownership = field(default_factory=Ownership)
    roles: GraphRoles = field(default_factory=GraphRoles)

    @property
    def activation(self) -> str:
        """The activation after the layer (``resolution.activation``): the fact nearly
        every reader wants, so it has a short name."""
        return self.resolution.activation

    @property
    def act_args(self) -> dict[str, Any]:
        """The activation's own arguments (``resolution.act_args``)."""
        return self.resolution.act_args

    def to_json(self) -> dict[str, Any]:
        r = self.resolution
        return {
            "name": self.name,
            "type": self.type,
            "activation": r.activation,
            "called": r.called,
            "candidates": list(r.candidates),
            # the activation's own arguments (leaky_relu's negative_slope, gelu's
            # approximate); PReLU's module handle is not data
            "activation_args": {k: v for k, v in r.act_args.items() if k != "module"},
            "fan_in": self.fan_in,
            "fan_out": self.fan_out,
            "depth": self.depth,
            "parameters": [p.to_json() for p in self.parameters],
        }


@dataclass(frozen=True)
class ModelGraph:
    """Per-layer facts about a model, in execution order where the tracer knows it.
    Immutable, as its layers are: :func:`dataclasses.replace` makes a changed copy."""

    target: str
    tracer: TracerKind
    layers: tuple[Layer, ...]
    model: Any = None
    warnings: tuple[str, ...] = ()
    #: Modules that own buffers but no parameters (BatchNorm(affine=False)); not in JSON.
    buffer_layers: tuple[Layer, ...] = ()
    #: Every module of the model, qualified name -> its type names (class and nn.Module
    #: bases, as ``Layer.types``): what selectors may name, for modules that own no tensor.
    module_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Whether the roles pass ran (it needs a graph: not for the ``modules`` tracer), so
    #: the layers' graph facts and the parameters' roles are known.
    roles: bool = False
    #: How many residual branches the roles pass found (Fixup's L).
    n_branches: int = 0
    #: DeepNet's N and M: the blocks of the encoder and of the decoder stack of an
    #: encoder-decoder model (:mod:`initpolicy.tracer.roles_branches`); 0 where it has none.
    encoder_blocks: float = 0.0
    decoder_blocks: float = 0.0
    #: Modules whose weights are quantized (torch.ao's packed tensors, not parameters, as
    #: ``quantize_dynamic`` leaves them): qualified name -> class name. Nothing initializes
    #: them; not in JSON.
    quantized: dict[str, str] = field(default_factory=dict)
    #: The model's width and depth for width/depth transfer (docs/mup.md): a transformers
    #: config's hidden size and layer count; else the residual stream's feature size and
    #: the number of residual adds, from the trace; None where neither says.
    width: int | None = None
    depth: int | None = None
    #: The attention head dimension (μP's logits 1/d): a transformers config's ``head_dim``,
    #: else its hidden size over its attention heads; None where the config does not say.
    head_dim: int | None = None
    #: Where ``width`` and ``depth`` come from ("config", "trace"), for explain.
    size_source: str | None = None
    #: The numbers of the model's config by dotted path (``d_kv``, ``text_config.hidden_size``):
    #: what a policy's ``config.NAME`` reads (tracer/size.py ``config_numbers``).
    config: dict[str, float] = field(default_factory=dict)

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    def layer(self, name: str) -> Layer:
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(name)

    def parameters(self) -> list[tuple[Layer, ParamInfo]]:
        return [(lay, p) for lay in self.layers for p in lay.parameters]

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "tracer": self.tracer,
            "layers": [lay.to_json() for lay in self.layers],
            "warnings": list(self.warnings),
        }
