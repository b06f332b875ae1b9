"""The policy IR: what a parsed policy *is*, as frozen pydantic models.

The parser produces it, ``match`` consumes it. Plain facts only: no torch, no
evaluation. ``let`` names are substituted by the parser, so expressions reference
only numbers, bound names (fan_in, gain, ...) and ``count(SELECTOR)``.

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
    """A bound name, resolved per parameter at plan time (see ``BOUND_NAMES``)."""

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


Expr = Annotated[Union[Num, Name, Neg, BinOp, Call, Count], Field(discriminator="kind")]  # noqa: UP007

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
    "n_branches",
    "branch_layers",
)

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
      the block table of the parser.
    - ``named``: fnmatch glob over the module's qualified name (``*`` crosses dots).
    - ``inside``: glob alternatives; some *ancestor* module has a matching type.
    - ``before``: canonical activation names (``"relu"``, ``"output"``, ``"linear"``,
      ``"mixed"``), alternatives.
    - ``after``: glob alternatives over the type of the previous parameterized layer.
    - ``where``: a condition over fan_in, fan_out, ndim, numel, depth.
    """

    types: tuple[str, ...] | None = None
    param: str | None = None
    block: str | None = None
    named: str | None = None
    inside: tuple[str, ...] | None = None
    before: tuple[str, ...] | None = None
    after: tuple[str, ...] | None = None
    where: Cond | None = None


# --------------------------------------------------------------------------- schemes


class Word(Node):
    """An enumeration word bound to an argument (``fan_in``, ``relu``, ``uniform``)."""

    kind: Literal["word"] = "word"
    value: str


ArgValue = Annotated[Union[Num, Name, Neg, BinOp, Call, Count, Word], Field(discriminator="kind")]  # noqa: UP007


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


class Rule(Node):
    selector: Selector
    scheme: SchemeCall
    loc: Loc
    #: Position in the flattened policy (includes expanded in place); later wins.
    index: int = 0


class PolicyIR(Node):
    """A whole policy, includes flattened in place, rules in precedence order (last wins)."""

    source: str
    rules: tuple[Rule, ...] = ()
    seed: int | None = None
    #: Every file that contributed rules (the policy itself first, then includes).
    files: tuple[str, ...] = ()
