"""Numbers as the expressions the code computed, by a small documented search.

For each numeric argument of a law (a std, a bound, a gain, a constant) we list every
candidate expression, from this fixed menu, whose value equals the number to 1e-12
relative:

=====  ==========================================  ===========================================
rank   form                                        example
=====  ==========================================  ===========================================
0      a config value (transformers ``config``)    ``initializer_range`` (``let`` from config)
0      config / sqrt(m * count(BLOCK)), m = 1..3    ``initializer_range / sqrt(2 * n_layer)``
1      a short literal (<= 3 significant digits)   ``0.02``, ``1e-06``
1.5    1 / sqrt(FAN), sqrt(k / FAN) (k = 2, 3, 6)   ``1 / sqrt(fan_in)``, ``sqrt(6 / (fan_in + fan_out))``
2      a named constant                            ``sqrt(5)``, ``1 / sqrt(512)``
2.5    literal / sqrt(m * count(BLOCK))            ``0.02 / sqrt(2 * count(Block))``
3      c / sqrt(FAN), base / sqrt(a*depth + b)      ``0.5 / sqrt(fan_in)``, ``0.02 / sqrt(0.25 * depth + 0.75)``
4      the literal                                 ``0.008164965809277261``
=====  ==========================================  ===========================================

``FAN`` is ``fan_in``, ``fan_out``, ``fan_avg`` or ``fan_in + fan_out`` of the tensor (or
block) in the policy's fan table; ``c``/``k`` must themselves be "nice" (a small integer,
a fraction p/q with q <= 12, a decimal of at most 3 significant digits, sqrt of one of
those). ``base`` is a number the model's code used literally elsewhere (0.02) or a config
value; ``BLOCK`` is a module type that encloses the tensor and occurs at least twice.

Which candidate is used is decided over all tensors of a law family at once
(:func:`choose`): the expression shared by the most tensors wins (so a fan-dependent
bias bound becomes one rule, and a coincidental ``1/sqrt(fan_in) == 0.02`` on one layer
does not beat the literal 0.02 shared by all), ties broken by rank, then length.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, get_args

from ..catalog import TRUNCATION_CORRECTION, WORD_TYPE
from ..language import (
    BOUND_NAMES,
    CONDITION_NAMES,
    BinOp,
    Call,
    Count,
    Name,
    Neg,
    Num,
    Selector,
    has_count,
    is_type_name,
    names,
)
from ..language import expression as printer_expression

REL = 1e-12
#: Names a ``let`` may not take: the language's bound and condition names, its functions
#: and keywords, and the catalog's enumeration words (``fan_in``, ``relu``, ...).
RESERVED = frozenset(
    {
        *BOUND_NAMES,
        *CONDITION_NAMES,
        *get_args(Call.model_fields["fn"].annotation),
        *WORD_TYPE,
        *(
            "count",
            "and",
            "or",
            "not",
            "use",
            "let",
            "seed",
            "named",
            "in",
            "before",
            "after",
            "where",
        ),
    }
)


@dataclass(frozen=True)
class Expr:
    """A candidate: its expression IR, printed once by the language's printer into
    ``text`` (what the search compares and the policy shows), its rank, and the ``let``
    definitions it needs: (name, expression text, comment)."""

    node: Any
    rank: float
    lets: tuple[tuple[str, str, str], ...] = ()
    text: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", printer_expression(self.node))


# ---------------------------------------------------------------- IR builders


def num(v: float) -> Num:
    """The literal of ``v`` (:func:`lit`: float noise dropped)."""
    return Num(value=float(lit(v)))


def div(a: Any, b: Any) -> BinOp:
    return BinOp(op="/", left=a, right=b)


def mul(a: Any, b: Any) -> BinOp:
    return BinOp(op="*", left=a, right=b)


def sqrt(x: Any) -> Call:
    return Call(fn="sqrt", args=(x,))


def negated(node: Any) -> Any:
    """``-node`` as a leading minus reads: a product or quotient negates its left factor
    (``-1 / sqrt(fan_in)``), a number its value, anything else is wrapped."""
    if isinstance(node, Num):
        return Num(value=-node.value)
    if isinstance(node, BinOp) and node.op in ("*", "/"):
        return BinOp(op=node.op, left=negated(node.left), right=node.right)
    return Neg(operand=node)


def count_of(block: str, ctx: Context) -> tuple[Any, tuple[tuple[str, str, str], ...]]:
    """``count(BLOCK)``, or the config ``let`` that names it, with the lets it needs."""
    node = Count(selector=Selector(types=(block,)))
    let = ctx.count_lets.get(block)
    if let is None:
        return node, ()
    return Name(name=let[0]), ((let[0], printer_expression(node), f"config.{let[1]}"),)


@dataclass
class Context:
    """Model-wide facts the search may use."""

    #: type name -> count(TYPE), for enclosing types that occur at least twice.
    counts: dict[str, int] = field(default_factory=dict)
    #: numbers used literally by the code: value -> text (or a config let).
    bases: dict[float, Expr] = field(default_factory=dict)
    #: config lets for counts: type -> (let name, config attribute).
    count_lets: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: how often the code used each literal (bases are tried most used first)
    uses: dict[float, int] = field(default_factory=dict)
    #: whether activations were traced (``gain`` may be used)
    traced: bool = False
    #: ``index(TYPE)`` of a layer: the position of its enclosing TYPE (None: none).
    position: Callable[[str, Any], int | None] | None = None
    #: the model's config numbers (``config.NAME`` in a policy), top-level names only
    config: dict[str, float] = field(default_factory=dict)
    #: every config number, a sub-config's by its path (``text_config.hidden_size``)
    numbers: dict[str, float] = field(default_factory=dict)
    #: :func:`config_forms` by its arguments (the same write site and value recur per layer)
    memo: dict[tuple[Any, ...], list[Expr]] = field(default_factory=dict)


def close(x: float, y: float) -> bool:
    return x == y or math.isclose(x, y, rel_tol=REL, abs_tol=0.0)


def lit(v: float) -> str:
    """A number as policy text: integers without a point, else Python's shortest repr."""
    if v < 0:
        return "-" + lit(-v)
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    for digits in range(1, 18):  # the shortest decimal within 1e-12 (drops float noise)
        text = f"{v:.{digits}g}"
        if close(float(text), v):
            return text
    return repr(float(v))


def nice(c: float) -> Any:
    """``c`` as a short exact expression, or None (see the module docstring)."""
    if c <= 0 or not math.isfinite(c):
        return None
    r = round(c)
    if r >= 1 and r <= 1000 and close(c, r):
        return Num(value=r)
    frac = Fraction(c).limit_denominator(12)
    if frac.numerator <= 1000 and close(c, frac.numerator / frac.denominator):
        return div(Num(value=frac.numerator), Num(value=frac.denominator))
    short = float(f"{c:.3g}")
    if close(c, short):
        return num(short)
    sq = c * c
    r2 = round(sq)
    if 2 <= r2 <= 1000 and close(sq, r2) and close(c, math.sqrt(r2)):
        return sqrt(Num(value=r2))
    if sq > 0:
        inv = 1 / sq
        ri = round(inv)
        if 2 <= ri <= 1000 and close(c, 1 / math.sqrt(ri)):
            return div(Num(value=1), sqrt(Num(value=ri)))
    return None


def _sqrt_k(c: float) -> int | Fraction | None:
    """k such that c == sqrt(k) with k a small integer or fraction."""
    sq = c * c
    r = round(sq)
    if 1 <= r <= 1000 and close(c, math.sqrt(r)):
        return r
    frac = Fraction(sq).limit_denominator(12)
    if frac.numerator <= 100 and close(c, math.sqrt(frac.numerator / frac.denominator)):
        return frac
    return None


def candidates(
    v: float, fans: tuple[float, float], enclosing: Iterable[str], ctx: Context
) -> list[Expr]:
    """Every menu expression equal to ``v`` for a tensor with these fans inside these types."""
    out: list[Expr] = []
    if v < 0:
        # no candidate has a top-level + or -, so a leading minus negates the whole
        return [Expr(negated(e.node), e.rank, e.lets) for e in candidates(-v, fans, enclosing, ctx)]
    if v == 0:
        return [Expr(Num(value=0), 2)]
    # rank 0: config values and base / sqrt(m * count(BLOCK))
    for base, bexpr in ctx.bases.items():
        if close(v, base) and bexpr.rank == 0:
            out.append(bexpr)
    # the outermost repeated type first (GPT2Block, not GPT2Attention): the block a
    # count or an index means; the layer's own type last
    *ancestors, own = list(enclosing) or [""]
    enclosing = [*reversed(ancestors), own]
    inside = set(enclosing)
    # every repeated block type: a config base over the block count is what the code
    # computed also for a layer outside the blocks (ModernBERT's head: num_hidden_layers)
    for t in dict.fromkeys([*enclosing, *ctx.counts]):
        n = ctx.counts.get(t)
        if not n or n < 2 or not is_type_name(t):
            continue
        count, nlets = count_of(t, ctx)
        for base, bexpr in ctx.bases.items():
            if close(v, base) or (t not in inside and bexpr.rank != 0):
                continue
            for m in (1, 2, 3):
                if close(v, base / math.sqrt(m * n)):
                    inner = count if m == 1 else mul(Num(value=m), count)
                    # a config base (initializer_range) makes it what the code computed; a
                    # bare literal base ranks after the named constants (1 / sqrt(512))
                    rank = 0 if bexpr.rank == 0 else 2.5
                    out.append(Expr(div(bexpr.node, sqrt(inner)), rank, bexpr.lets + nlets))
    # rank 1: the textbook fan forms; rank 3: other small multiples of them
    fan_in, fan_out = fans
    total = BinOp(op="+", left=Name(name="fan_in"), right=Name(name="fan_out"))
    forms = (
        (Name(name="fan_in"), fan_in),
        (Name(name="fan_out"), fan_out),
        (Name(name="fan_avg"), (fan_in + fan_out) / 2),
        (total, fan_in + fan_out),
    )
    short_v = close(v, float(f"{v:.3g}"))
    for fan, f in forms:
        if not f or f <= 0:
            continue
        c = v * math.sqrt(f)
        if close(c, 1.0):
            out.append(Expr(div(Num(value=1), sqrt(fan)), 1.5))
            continue
        k = round(c * c)
        if k in TEXTBOOK_K and close(c, math.sqrt(k)):
            out.append(Expr(sqrt(div(Num(value=k), fan)), 1.5))
            continue
        out += _scaled_fan_forms(c, fan, enclosing, ctx)
        if close(
            c * TRUNCATION_CORRECTION, 1.0
        ):  # transformers' lecun_normal_: trunc_normal_(std=...)
            lecun = div(div(Num(value=1), sqrt(fan)), Num(value=TRUNCATION_CORRECTION))
            out.append(Expr(lecun, 1.5))
            continue
        short = float(f"{c:.2g}")
        if close(c, short) and fan is not total and not short_v:
            # (a short literal, 0.02, is what a person wrote, not 0.32 / sqrt(fan_in)
            # because fan_in is 256 in this model)
            out.append(Expr(div(num(short), sqrt(fan)), 3))
        if close(v * f, 1.0) and fan is not total:
            out.append(Expr(div(Num(value=1), fan), 1.5))
        if 0 < v < 1 and close((1 - v) * f, 1.0) and fan is not total:
            # the last point of the grid k / n (RWKV's [i / hidden for i in range(hidden)])
            out.append(Expr(BinOp(op="-", left=Num(value=1), right=div(Num(value=1), fan)), 1.5))
    # rank 2: named constants and short literals; rank 4: the literal
    for base, bexpr in ctx.bases.items():
        if close(v, base) and bexpr.rank != 0:
            out.append(bexpr)
    named = nice(v)
    if named is not None and not isinstance(named, Num):
        out.append(Expr(named, 2))
    short = float(f"{v:.3g}")
    # a short literal (0.1, 0.02) is what a person wrote: it beats a fan form that
    # happens to equal it on one layer (1 / sqrt(fan_out) with fan_out = 100)
    out.append(Expr(num(v), 1 if close(v, short) else 4))
    if any(e.rank <= 2 and not is_constant(e.node) for e in out):
        # a textbook form or a config value explains it: c / sqrt(fan) with an odd c
        # is then a coincidence of this size
        out = [e for e in out if not (e.rank == 3 and reads_fan(e.node))]
    return out


def is_constant(node: Any) -> bool:
    """An expression of numbers only (``0.0625``, ``1 / 8``, ``1 / sqrt(512)``)."""
    return not names(node) and not has_count(node)


def reads_fan(node: Any) -> bool:
    """Whether the expression reads a fan of the tensor."""
    return any(n.startswith("fan_") for n in names(node))


#: k of the textbook forms sqrt(k / fan): He (2), LeCun uniform (3), Glorot/He uniform (6).
TEXTBOOK_K = (2, 3, 6)


def _scaled_fan_forms(c: float, fan: Any, enclosing: Iterable[str], ctx: Context) -> list[Expr]:
    """A textbook fan form divided by a number: ``sqrt(6 / fan_in) / 30`` (SIREN's
    ``sqrt(6 / n) / w0``), ``sqrt(2 / fan_out) / sqrt(count(Block))`` (Fixup's He init
    scaled by L^-1/2), where ``c = v * sqrt(fan)``."""
    out: list[Expr] = []
    for k in (1, *TEXTBOOK_K):
        form = div(Num(value=1), sqrt(fan)) if k == 1 else sqrt(div(Num(value=k), fan))
        d = math.sqrt(k) / c
        r = round(d)
        if 2 <= r <= 1000 and close(d, r):
            out.append(Expr(div(form, Num(value=r)), 3))
        for t in dict.fromkeys(enclosing):
            n = ctx.counts.get(t)
            if not n or n < 2 or not is_type_name(t):
                continue
            count, nlets = count_of(t, ctx)
            for m in (1, 2):
                if close(d * d, m * n):
                    inner = count if m == 1 else mul(Num(value=m), count)
                    out.append(Expr(div(form, sqrt(inner)), 2.5, nlets))
    return out


#: Most config numbers one expression multiplies (T5's ``d_model * d_kv``, RecurrentGemma's
#: ``w_init_variance_scale * num_attention_heads / lru_width``).
MAX_CONFIG_FACTORS = 3
#: The rank of a config form: what the code computed from its config, right at every size;
#: before the textbook fan forms (1.5), which may equal it at one size only (T5's
#: ``relative_attention_bias``: fan_out is the bucket count, d_model the std's size).
CONFIG_RANK = 1.4


def config_forms(
    v: float, near: dict[str, int], ctx: Context, literals: Iterable[float] = ()
) -> list[Expr]:
    """``v`` as ``sqrt(k * A * B / C)`` over the config numbers the code named near the
    write (``near``: name -> lines above it), ``k`` 1 or a fraction p/q (p, q <= 12) that
    the function wrote (``literals``: k, 1/k, sqrt(k) or 1/sqrt(k), as RWKV's ``scale =
    0.5`` is k = 1/4), or a config number itself. Only the forms with the plainest ``k``
    are kept, and of those the ones whose names are nearest the write: a std computed on
    the line above from ``lru_width`` is not ``hidden_size`` although both are 32 here.

    >>> ctx = Context(config={"d_model": 32.0, "d_kv": 16.0, "num_heads": 2.0})
    >>> [e.text for e in config_forms((32 * 16) ** -0.5, {"d_model": 4, "d_kv": 3, "num_heads": 2}, ctx)]
    ['1 / sqrt(config.d_kv * config.d_model)']
    """
    names = sorted(n for n in near if ctx.config.get(n, 0) > 0)
    if v <= 0 or not names:
        return []
    typed = sorted(x for x in literals if x > 0)
    key = (v, tuple((n, near[n]) for n in names), tuple(typed))
    if key not in ctx.memo:
        ctx.memo[key] = _config_forms(v, names, near, ctx, typed)
    return ctx.memo[key]


def _config_forms(
    v: float, names: list[str], near: dict[str, int], ctx: Context, typed: list[float]
) -> list[Expr]:

    def written(k: Fraction) -> bool:
        q = float(k)
        forms = (q, 1 / q, math.sqrt(q), 1 / math.sqrt(q))
        return k == 1 or any(close(f, x) for f in forms for x in typed)

    found: list[tuple[int, int, int, Any]] = []  # (cost of k, lines above, factors, IR)
    for r in range(1, MAX_CONFIG_FACTORS + 1):
        for combo in itertools.combinations(names, r):
            far = max(near[n] for n in combo)
            if r == 1 and close(v, ctx.config[combo[0]]):
                found.append((2, far, r, Name(name=f"config.{combo[0]}")))
            for signs in itertools.product((1, -1), repeat=r):
                p = math.prod(ctx.config[n] ** sgn for n, sgn in zip(combo, signs, strict=True))
                k = Fraction(v * v / p).limit_denominator(12)
                if k <= 0 or k.numerator > 12 or not close(v, math.sqrt(k * p)):
                    continue
                if not written(k):
                    continue  # 2 / 3 that no number of the code's says: a coincidence
                up = [f"config.{n}" for n, sgn in zip(combo, signs, strict=True) if sgn > 0]
                down = [f"config.{n}" for n, sgn in zip(combo, signs, strict=True) if sgn < 0]
                found.append((k.numerator + k.denominator, far, r, _sqrt_node(k, up, down)))
    if not found:
        return []
    # the plainest factor (d_model * d_kv, not 8 * d_model * num_heads, which equals it
    # at one size), then the names nearest the write
    best = min(f[:2] for f in found)
    return [Expr(t, CONFIG_RANK + 0.01 * r) for *key, r, t in found if tuple(key) == best]


def _sqrt_node(k: Fraction, up: list[str], down: list[str]) -> Any:
    """``sqrt(k * UP / DOWN)`` over config names: ``1 / sqrt(config.a * config.b)``,
    ``sqrt(2 / (3 * config.a))``, ``sqrt(config.s * config.h / config.w)``."""
    top: list[Any] = [Num(value=k.numerator)] if k.numerator != 1 or not up else []
    top += [Name(name=n) for n in up]
    bottom: list[Any] = [Num(value=k.denominator)] if k.denominator != 1 else []
    bottom += [Name(name=n) for n in down]
    if len(top) == 1 and isinstance(top[0], Num) and top[0].value == 1:
        return div(Num(value=1), sqrt(_product(bottom)))
    if not bottom:
        return sqrt(_product(top))
    return sqrt(div(_product(top), _product(bottom)))


def _product(factors: list[Any]) -> Any:
    out = factors[0]
    for f in factors[1:]:
        out = mul(out, f)
    return out


def choose(options: list[list[Expr]]) -> list[Expr]:
    """One expression per item: greedy cover by the expression shared by most items, ties
    by rank, then length (see the module docstring)."""
    chosen: list[Expr | None] = [None] * len(options)
    todo = set(range(len(options)))
    while todo:
        score: dict[str, tuple[int, float, int, Expr]] = {}
        for i in todo:
            first: dict[str, Expr] = {}
            for e in options[i]:  # one text, several lets: the first (outermost block)
                first.setdefault(e.text, e)
            for e in first.values():
                n, _, _, kept = score.get(e.text, (0, 0, 0, e))
                score[e.text] = (n + 1, -e.rank, -len(e.text), kept)
        best = max(score.values(), key=lambda s: s[:3])[3]
        for i in list(todo):
            if any(e.text == best.text for e in options[i]):
                chosen[i] = best
                todo.discard(i)
    return [c for c in chosen if c is not None]


def config_context(model: Any, counts: dict[str, int], literals: Iterable[float]) -> Context:
    """The search context: repeated enclosing types, literal bases, and config names."""
    ctx = Context(counts={t: n for t, n in counts.items() if n >= 2})
    floats: dict[float, str] = {}
    ints: dict[int, str] = {}
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "to_dict"):
        try:
            items = config.to_dict().items()
        except Exception:  # a config that cannot be listed: no names
            items = ()
        for key, value in items:
            if not isinstance(key, str) or not key.isidentifier() or key in RESERVED:
                continue
            low = key.lower()
            if isinstance(value, float) and any(
                w in low for w in ("init", "std", "range", "factor")
            ):
                floats.setdefault(value, key)
            elif isinstance(value, int) and not isinstance(value, bool) and "layer" in low:
                ints.setdefault(value, key)
    for v in literals:
        if v <= 0:
            continue
        name = floats.get(v)
        if name is not None:
            let = (name, printer_expression(num(v)), f"config.{name}")
            ctx.bases[v] = Expr(Name(name=name), 0, (let,))
        else:
            ctx.bases.setdefault(v, Expr(num(v), 1 if close(v, float(f"{v:.3g}")) else 4))
    for t, n in ctx.counts.items():
        name = ints.get(n)
        if name is not None and name not in floats.values():
            ctx.count_lets[t] = (name, name)
    return ctx
