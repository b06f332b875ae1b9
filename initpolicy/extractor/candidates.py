"""Candidate selectors for the items, and which items each one matches, as bitmasks.

A candidate (:class:`Cand`) is built from the ModelGraph facts of an item: a head (a type
name of the module or of a base class; a parameter name or glob; ``TYPE.param``; none
meaning the weights), at most one clause (a ``named`` glob, ``in TYPE``, ``before ACT``),
and the item's ``[block]``. Its match set is the AND of atom masks (bit i = item i), each
atom computed once with the planner's own predicates
(:meth:`~initpolicy.planner.select.Index.module_selects` and ``tensor_selects``): the
synthesized rules select exactly what the planner will select.

>>> Cand(("LSTM",), "weight_hh*", None, None).text()
'LSTM.weight_hh*'
>>> Cand(None, None, ("named", "*.c_proj"), None).text()
'named "*.c_proj"'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..catalog import CANONICAL
from ..errors import InitPolicyError, PrintError
from ..language import Selector, is_type_name
from ..language import literal_glob as printer_literal_glob
from ..language import selector as printer_selector
from ..language import string as printer_string
from ..planner import Index, is_weight_name
from .observe import Item
from .source import Guard

#: Activations a ``before`` clause may name (not the outcomes linear and mixed).
_BEFORE = frozenset(CANONICAL) - {"linear", "mixed"}
_LAYER_INDEX = re.compile(r"_l\d+(_reverse)?$")
_NUMBERED = re.compile(r"([a-z]{3,})\d\w*")
#: Containers: a poor ``in`` clause and no block whose index means anything.
CONTAINERS = frozenset({"ModuleList", "ModuleDict", "Sequential", "ParameterList", "ParameterDict"})
#: How many type names of a module (its class, then its bases) a head may use.
_TYPES = 6
#: What each clause adds to a candidate's cost (a clause says more, so reads heavier).
_CLAUSE_COST = {"named": 1.0, "in": 1.0, "before": 0.8}


@dataclass(frozen=True)
class Cand:
    """A selector: ``types`` alternatives, a parameter glob, one clause, a block, and a
    ``where`` condition (a test the init code made, :mod:`.source`; never with a clause)."""

    types: tuple[str, ...] | None
    param: str | None
    clause: tuple[str, str] | None  # ("named"|"in"|"before", value)
    block: str | None
    where: Any = None

    def selector(self) -> Selector:
        """The candidate as selector IR (a capitalised bare parameter is ``*.W_q``: a bare
        name is lowercase)."""
        types = self.types
        if types is None and self.param is not None and self.param != self.param.lower():
            types = ("*",)
        kind, value = self.clause if self.clause is not None else ("", "")
        return Selector(
            types=types,
            param=self.param,
            block=self.block,
            named=value if kind == "named" else None,
            inside=(value,) if kind == "in" else None,
            before=(value,) if kind == "before" else None,
            where=self.where,
        )

    def text(self) -> str:
        """The selector as policy text, by the language's printer."""
        return printer_selector(self.selector())

    def cost(self) -> float:
        """How heavy the selector reads (lower is simpler)."""
        c = 1.0
        if self.types is not None and self.param is not None:
            # Linear.bias says more than bias; LSTM.weight_hh* reads better than weight_hh*
            if self.param in ("weight", "bias"):
                c += 0.3
            elif self.param.startswith("*"):
                c += 0.4  # a suffix glob is a last resort
            else:
                c -= 0.05
        elif self.param is not None and self.param.startswith("*"):
            c += 0.2
        if self.types is not None:
            if any(t.startswith("_") for t in self.types):
                c += 0.5  # a private base class (_NormBase) is a poor name for a type
            c += 0.1 * (len(self.types) - 1)
        if self.clause is not None:
            kind, value = self.clause
            c += _CLAUSE_COST[kind] + (0.5 if kind == "named" and "*" not in value else 0.0)
        return c


class Atoms:
    """Bitmasks of the items each selector part matches, by the planner's predicates."""

    def __init__(self, items: list[Item], index: Index, use_activations: bool):
        self.items = items
        self.n = len(items)
        self.index = index
        self.use_activations = use_activations
        self._cache: dict[tuple[str, Any], int] = {}

    def _mask(self, key: tuple[str, Any], test: Any) -> int:
        if key not in self._cache:
            m = 0
            for it in self.items:
                if test(it):
                    m |= 1 << it.index
            self._cache[key] = m
        return self._cache[key]

    def _module(self, key: tuple[str, Any], sel: Selector) -> int:
        return self._mask(key, lambda it: self.index.module_selects(sel, it.layer))

    def mask(self, c: Cand) -> int:
        """The items ``c`` selects."""
        m = self._mask(("block", c.block), lambda it: it.block == c.block)
        param = Selector(param=c.param)
        m &= self._mask(("param", c.param), lambda it: self.index.tensor_selects(param, it.target))
        if c.types is not None:
            t = 0
            for name in c.types:
                t |= self._module(("type", name), Selector(types=(name,)))
            m &= t
        if c.clause is not None:
            kind, value = c.clause
            if kind == "named":
                sel = Selector(named=value)
            elif kind == "in":
                sel = Selector(inside=(value,))
            else:
                sel = Selector(before=(value,))
            m &= self._module((kind, value), sel)
        if c.where is not None:
            m &= self._mask(("where", c.where), lambda it: self._holds(c.where, it))
        return m

    def _holds(self, cond: Any, it: Item) -> bool:
        """Whether ``cond`` holds for the item, as the planner evaluates it; False where
        the planner could not evaluate it (a config number the model lacks: a plan error
        there, so no rule on it is written)."""
        block = it.param.blocks.get(it.block) if it.block else None
        try:
            return self.index.where(Selector(where=cond), it.target, block)
        except InitPolicyError:
            return False


def _writable(glob: str) -> bool:
    """Whether a ``named`` glob can be written in a policy (no quote, no line break)."""
    try:
        printer_string(glob)
    except PrintError:
        return False
    return True


def _printable(cand: Cand) -> bool:
    """Whether the language can write the candidate (a bare ``0``, a container's member
    without its type, cannot be)."""
    try:
        cand.text()
    except PrintError:
        return False
    return True


def _types(it: Item) -> list[str]:
    """The type names a head may use: the class, then its bases, without a private base
    (``_ConvNd``: ``(Conv1d|Conv2d)`` reads plainer) or a library's model base class
    (``PreTrainedModel``: the model's own class says which model); only names the policy
    language can write."""
    own, *bases = [t for t in it.layer.types if t != "Module"] or [""]
    plain = [t for t in bases if not t.startswith("_") and not t.endswith(_MODEL_BASES)]
    return [t for t in ([own, *plain] if own else plain) if is_type_name(t)]


#: Base classes of whole models in the libraries (transformers' ``PreTrainedModel`` and
#: ``GPT2PreTrainedModel``, ...): a rule on them reads as if it were about every model.
_MODEL_BASES = ("PreTrainedModel", "ModuleUtilsMixin", "GenerationMixin")


def _param_globs(local: str) -> list[str]:
    """The local name, its layer-index glob (``weight_hh*``), its prefix glob (``bias*``
    for bias_ih_l0) and suffix glob (``*bias`` for bias, q_bias, in_proj_bias)."""
    if local.isdigit():
        return [local, "*"]  # a container's members (ParameterList.0): all of them
    out = [local]
    g = _LAYER_INDEX.sub("*", local)
    if g != local:
        out.append(g)
    numbered = _NUMBERED.fullmatch(local)
    if numbered and "_" not in local:
        out.append(numbered.group(1) + "*")  # bias1a, bias2b: bias*
    if "_" in local:
        out.append(local.split("_", 1)[0] + "*")
        tail = local.rsplit("_", 1)[-1]
        if g == local and len(tail) >= 3 and tail.isalpha() and tail.islower():
            out.append("*" + tail)
    elif local == "bias":
        out.append("*bias")
    return list(dict.fromkeys(out))


def _name_globs(name: str) -> list[str]:
    """``*.c_proj``, ``*.attn.c_proj``, ``h.*.attn.c_proj``, ``h.*``, the exact name."""
    if not name:
        return []
    # a name's own *, ? and [ are written as one-character classes: a glob of the name
    # matches the name, not its look-alikes
    parts = [printer_literal_glob(p) for p in name.split(".")]
    out: list[str] = []
    last = parts[-1]
    if len(parts) > 1 and not last.isdigit():
        out.append(f"*.{last}")
    if len(parts) > 2:
        out.append("*." + ".".join(parts[-2:]))
    gen = ".".join("*" if p.isdigit() else p for p in parts)
    if gen != ".".join(parts):
        out.append(gen)
    if len(parts) > 1:
        out.append(parts[0] + ".*")
    out.append(".".join(parts))
    return list(dict.fromkeys(out))


def candidates_for(it: Item, atoms: Atoms) -> list[Cand]:
    """Every candidate selector built from the facts of ``it``."""
    types: list[str | None] = [None, *_types(it)[:_TYPES]]
    params: list[str | None] = [None] if is_weight_name(it.local) else []
    params += _param_globs(it.local)
    clauses: list[tuple[str, str] | None] = [None]
    clauses += [("named", g) for g in _name_globs(it.layer.name) if _writable(g)]
    enclosing = [ts[0] for _, ts in it.layer.ancestors[1:] if ts and ts[0] not in CONTAINERS]
    clauses += [("in", t) for t in dict.fromkeys(enclosing)]
    if atoms.use_activations and it.layer.activation in _BEFORE:
        clauses.append(("before", it.layer.activation))
    out = []
    for t in types:
        for p in params:
            for c in clauses:
                if t is None and p is None and c is None:
                    continue
                if t is None and p is not None and c is not None and c[0] == "before":
                    continue
                if t is None and p == "*":
                    continue  # a bare * is every tensor: no rule from one container
                cand = Cand(None if t is None else (t,), p, c, it.block)
                if _printable(cand):
                    out.append(cand)
    return out


def read_as_fans(it: Item) -> bool:
    """Whether what the source says of the item's size holds for it in fans
    (:mod:`.source` reads a shape's first dimension as fan_out, its second as fan_in):
    a whole 2-D tensor whose fans are its shape (out, in)."""
    p = it.param
    return it.block is None and len(p.shape) == 2 and (p.fan_out, p.fan_in) == tuple(p.shape)


def guards(it: Item) -> list[Guard]:
    """The tests the code made on the item's size before writing it (:mod:`.source`)."""
    if it.law is None or not read_as_fans(it):
        return []
    return list(dict.fromkeys(g for r in it.law.records for g in r.site.guards))
