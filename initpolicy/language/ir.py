"""The policy IR: what a parsed policy *is*, as frozen pydantic models.

The parser produces it, ``match`` consumes it. Plain facts only: no torch, no
evaluation. ``let`` names are substituted by the parser, so expressions reference
only numbers, bound names (fan_in, gain, ...), ``count(SELECTOR)`` and
``index(SELECTOR)``.

Example::

    Linear before ReLU -> kaiming_normal(fan_in)

is ``Rule(selector=Selector(types=("Linear",), before=("relu",)),
scheme=SchemeCall(name="kaiming_normal", args=(SchemeArg(name="mode",
value=Word(value="fan_in")),)), loc=Loc(file=..., line=1, column=1, text=...))``.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

_FROZEN = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Node(BaseModel):
    model_config = _FROZEN


# --------------------------------------------------------------------------- expressions


class Num(Node):
    kind: Literal["num"] = "num"
    value: float


class Name(Node):
    """A bound name, resolved per parameter at plan time (see ``BOUND_NAMES``), or a
    number of the model's config (``config.d_kv``: ``CONFIG_PREFIX`` and its path)."""

    kind: Literal["name"] = "name"
    name: str


class Neg(Node):
    kind: Literal["neg"] = "neg"
    operand: Expr


class BinOp(Node):
    kind: Literal["bin"] = "bin"
    op: Literal["+", "-", "*", "/", "**"]
    left: Expr
    right: Expr


class Call(Node):
    kind: Literal["call"] = "call"
    fn: Literal["sqrt", "log", "exp", "min", "max", "abs"]
    args: tuple[Expr, ...]


class Count(Node):
    """``count(SELECTOR)``: how many modules of the model the selector matches."""

    kind: Literal["count"] = "count"
    selector: Selector


class IndexOf(Node):
    """``index(SELECTOR)``: the 0-based position, in the model's module order, of the
    module the selector matches that encloses the tensor (its own module or the nearest
    ancestor), among every module the selector matches: a block index (``index(Block)``
    is 0 in the first transformer block, 1 in the second, ...)."""

    kind: Literal["index"] = "index"
    selector: Selector


Expr = Annotated[Num | Name | Neg | BinOp | Call | Count | IndexOf, Field(discriminator="kind")]

#: Names an expression may use; each is evaluated for the parameter being initialized.
BOUND_NAMES: tuple[str, ...] = (
    "fan_in",
    "fan_out",
    "fan_avg",
    "gain",
    "vp_gain",
    "slope",
    "depth",
    "n_layers",
    "model_width",
    "model_depth",
    "model_head_dim",
    "n_branches",
    "branch_layers",
    "encoder_blocks",
    "decoder_blocks",
)

#: The prefix of a config name: ``config.d_kv`` is the model's ``config.d_kv`` (a
#: transformers config, or any ``config`` object the model holds), read at plan time, so
#: a size the code computed from its config holds at every size (docs/language.md).
CONFIG_PREFIX = "config."

#: Names a ``let`` may define although ``depth`` is a bound name: the width and depth of the
#: model and of its base model, which ``initpolicy.load(source, **values)`` and ``--set``
#: override. A file that defines ``let depth`` means the model's depth by ``depth``
#: (docs/mup.md); elsewhere ``depth`` is the layer's execution order.
TRANSFER_NAMES: tuple[str, ...] = ("width", "base_width", "depth", "base_depth")

#: Names a ``where`` condition may use (plus the bound names above).
CONDITION_NAMES: tuple[str, ...] = (
    "fan_in",
    "fan_out",
    "ndim",
    "numel",
    "depth",
    # residual branches and attention, from the trace (1 or 0; docs/language.md)
    "in_branch",
    "branch_end",
    "branch_tail",
    "in_encoder",
    "in_decoder",
    "attn_query",
    "attn_key",
    "attn_value",
)


# --------------------------------------------------------------------------- conditions


class Compare(Node):
    kind: Literal["cmp"] = "cmp"
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    left: Expr
    right: Expr


class And(Node):
    kind: Literal["and"] = "and"
    items: tuple[Cond, ...]


class Or(Node):
    kind: Literal["or"] = "or"
    items: tuple[Cond, ...]


class Not(Node):
    kind: Literal["not"] = "not"
    item: Cond


Cond = Annotated[Union[Compare, And, Or, Not], Field(discriminator="kind")]  # noqa: UP007


# --------------------------------------------------------------------------- selectors


class Selector(Node):
    """Which parameters (or buffers) a rule targets. Every field that is set must match.

    - ``types``: glob alternatives over the module's class name *or any base class name*
      (``("Conv*",)``, ``("Tanh", "Sigmoid")`` is ``(Tanh|Sigmoid)``); ``None``: any module.
    - ``param``: glob over the parameter's local name (``"weight_hh*"``, ``"bias"``);
      ``None`` with ``types`` set: the module's ``weight``, ``weight_*`` and ``*_weight``.
    - ``block``: one block of a packed tensor (``"forget"``, ``"q"``), validated against
      the block table of the parser; ``"expert"``: the experts of a 3-D experts tensor
      (``(experts, out, in)``), each written as its own block, all of them or the one
      numbered ``expert``.
    - ``expert``: with ``block == "expert"``, the one expert selected (``[expert=3]``);
      None: every expert.
    - ``named``: fnmatch glob over the module's qualified name (``*`` crosses dots).
    - ``inside``: glob alternatives; some *ancestor* module has a matching type.
    - ``before``: canonical activation names (``"relu"``, ``"output"``, ``"linear"``,
      ``"mixed"``), alternatives.
    - ``after``: glob alternatives over the type of the previous parameterized layer.
    - ``where``: a condition over fan_in, fan_out, ndim, numel, depth.
    - ``role``: transfer roles from the trace (:data:`ROLES`), alternatives.
    """

    types: tuple[str, ...] | None = None
    param: str | None = None
    block: str | None = None
    expert: int | None = None
    named: str | None = None
    inside: tuple[str, ...] | None = None
    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None
    where: Cond | None = None
    role: tuple[str, ...] | None = None


#: What a tensor is to width and depth transfer (μP), read from the trace, never from names
#: (docs/mup.md): ``input`` (a weight no parameterized layer feeds: embeddings, a patch
#: embedding, a first layer), ``readout`` (a weight whose output nothing mixes further),
#: ``hidden`` (every other weight), ``branch_end`` (a weight whose output reaches a residual
#: join with no other layer between; also ``hidden``), ``vector`` (biases, norm scales,
#: tokens, position tables: not a mixing weight), ``tied`` (a tensor with several names: an
#: embedding tied to a readout, under each name), ``query`` (a hidden weight whose layer's
#: output is attention's query operand, on its own: not a fused qkv projection).
ROLES: tuple[str, ...] = ("input", "hidden", "readout", "branch_end", "vector", "tied", "query")


def module_only(sel: Selector) -> bool:
    """Whether ``sel`` reads module facts only (types, ``named``, ``in``): no tensor, block,
    activation, neighbour or condition. Such a selector matches modules that own no tensor
    (a transformer block), which ``count`` and ``index`` rely on."""
    return (
        sel.param is None
        and sel.block is None
        and sel.before is None
        and sel.after is None
        and sel.where is None
    )


# --------------------------------------------------------------------------- schemes


class Word(Node):
    """An enumeration word bound to an argument (``fan_in``, ``relu``, ``uniform``)."""

    kind: Literal["word"] = "word"
    value: str


ArgValue = Annotated[
    Num | Name | Neg | BinOp | Call | Count | IndexOf | Word, Field(discriminator="kind")
]


class SchemeArg(Node):
    name: str
    value: ArgValue


class SchemeCall(Node):
    """A scheme with its arguments bound to the signature's names (defaults not filled in).

    Use :func:`initpolicy.catalog.schemes.get` for the signature and defaults.
    """

    name: str
    args: tuple[SchemeArg, ...] = ()
    #: For a wrapper (``lsuv``, ``scaled``; :mod:`initpolicy.catalog.wrappers`): the scheme
    #: it wraps, which draws the values; ``name`` and ``args`` are then the wrapper's.
    inner: SchemeCall | None = None

    def arg(self, name: str) -> ArgValue | None:
        for a in self.args:
            if a.name == name:
                return a.value
        return None


# --------------------------------------------------------------------------- rules and policy


class Loc(Node):
    """Where a rule was written: file (path as given, or ``<string>``), 1-based line and
    column, and the rule's source text (continuation lines joined)."""

    file: str
    line: int
    column: int = 1
    text: str


#: What a rule's ``with`` clause may set: multipliers of the optimizer's learning rate (``lr``;
#: ``sgd_lr`` under SGD where given, else ``lr``), Adam's epsilon (``eps``) and weight decay
#: (``wd``) for the tensors the rule wins, and of the output of their layer (``output``).
SETTINGS: tuple[str, ...] = ("lr", "sgd_lr", "eps", "wd", "output")


class Setting(Node):
    """``name = value`` in a rule's ``with`` clause (a multiplier; see :data:`SETTINGS`)."""

    name: Literal["lr", "sgd_lr", "eps", "wd", "output"]
    value: Expr


class Rule(Node):
    selector: Selector
    scheme: SchemeCall
    loc: Loc
    #: The ``with`` clause: multipliers the rule sets besides the init.
    settings: tuple[Setting, ...] = ()
    #: Position in the flattened policy (includes expanded in place); later wins.
    index: int = 0

    def setting(self, name: str) -> Expr | None:
        """The value of the ``with`` setting ``name``, or None where the rule sets none."""
        return next((s.value for s in self.settings if s.name == name), None)


class PolicyIR(Node):
    """A whole policy, includes flattened in place, rules in precedence order (last wins)."""

    source: str
    rules: tuple[Rule, ...] = ()
    seed: int | None = None
    #: Every file that contributed rules (the policy itself first, then includes).
    files: tuple[str, ...] = ()
    #: The values given for ``let`` names when the policy was loaded (``--set``, ``load``).
    values: tuple[tuple[str, float], ...] = ()
