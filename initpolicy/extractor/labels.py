"""Labels: every item's scheme call as policy text, numbers written as expressions.

Items are grouped by law family (scheme, enumeration words, which arguments are numbers);
for each numeric argument the expression is chosen over the whole group at once
(:func:`.expressions.choose`), so equal computations share one text and become one rule.
A per-block rescaling (BEiT's ``1 / sqrt(2 * layer_id)``) is found as
``base / sqrt(alpha * depth + beta)`` over the layers sharing a name pattern.

Each label is a scheme call built as IR and printed by the language's printer in its
short form (:func:`initpolicy.language.printer.short_scheme`), which the catalog's
entries decide; an argument is given when the entry always shows it or its value is not
the entry's default.

>>> from initpolicy.extractor.laws import Law
>>> from initpolicy.extractor.expressions import div, sqrt
>>> from initpolicy.language.ir import Name, Num
>>> bound = div(Num(value=1), sqrt(Name(name="fan_in")))
>>> render_scheme(Law("uniform", {"a": -0.5, "b": 0.5}, None, None, "recorded"), {"b": bound}, True)
'uniform(-1 / sqrt(fan_in), 1 / sqrt(fan_in))'
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import replace
from fractions import Fraction
from typing import Any

from ..catalog import SCHEMES, gain, get
from ..errors import InitPolicyError
from ..language import (
    CONFIG_PREFIX,
    BinOp,
    Call,
    IndexOf,
    Name,
    Neg,
    Num,
    SchemeArg,
    SchemeCall,
    Selector,
    Word,
    evaluate,
    has_count,
    is_type_name,
    names,
    short_scheme,
)
from ..language import expression as printer_expression
from .candidates import CONTAINERS, read_as_fans
from .expressions import (
    Context,
    Expr,
    candidates,
    choose,
    config_forms,
    count_of,
    div,
    is_constant,
    mul,
    negated,
    nice,
    num,
    reads_fan,
    sqrt,
)
from .laws import TORCH_LAYERS, Law, own_default
from .observe import Item
from .source import Op, resolve, sample


def _numeric_args(law: Law) -> list[str]:
    return [
        k for k, v in law.args.items() if isinstance(v, float | int) and not isinstance(v, bool)
    ]


def _enclosing(item: Item) -> list[str]:
    """Types of the modules enclosing the item's layer, innermost first (class names)."""
    out = [t[0] for _, t in reversed(item.layer.ancestors) if t]
    return out


def label_items(
    items: list[Item], ctx: Context, use_depth: bool = True
) -> dict[int, tuple[str, tuple]]:
    """item index -> (label text, lets it needs)."""
    groups: dict[tuple, list[Item]] = {}
    maps = _block_maps(items, ctx)
    for it in items:
        if it.law is None:
            continue
        law = it.law
        if it.index in maps:  # the map's numbers as the block index's law
            law = replace(law, fn=maps[it.index][0])
        words = tuple((k, v) for k, v in sorted(law.args.items()) if isinstance(v, str))
        sym = _symmetric(law)
        key = (law.scheme, words, tuple(_numeric_args(law)), sym, law.fn)
        groups.setdefault(key, []).append(it)
    out: dict[int, tuple[str, tuple]] = {}
    for (_scheme, _words, nums, sym, _fn), members in groups.items():
        chosen: dict[str, list[Expr]] = {}
        for arg in nums:
            if sym and arg == "a":
                continue
            opts = [_options(m, arg, ctx) for m in members]
            for k, e in _index_candidates(members, arg, ctx, use_depth).items():
                opts[k].append(e)
            chosen[arg] = [
                _as_the_code_wrote(m, arg, e, ctx)
                for m, e in zip(members, choose(opts), strict=True)
            ]
        for i, m in enumerate(members):
            texts = {a: chosen[a][i].node for a in chosen}
            texts.update(_cuts_in_stds(m.law, texts))
            lets = tuple(let for a in chosen for let in chosen[a][i].lets)
            lets += maps.get(m.index, ("", ()))[1]
            assert m.law is not None  # grouped items all have a law
            if _size_free(texts, m):
                law = replace(m.law, fn=maps[m.index][0]) if m.index in maps else m.law
                out[m.index] = (render_scheme(law, texts, sym), lets)
            else:
                out[m.index] = ("default", ())
    return out


def _cuts_in_stds(law: Law | None, texts: dict[str, Any]) -> dict[str, Any]:
    """A truncated normal cut at a multiple of its std (ModernBERT's ``a=-cutoff * std``)
    as that multiple of the std's expression, so the cut follows the std at any size:
    ``trunc_normal(0, S, -2 * S, 2 * S)``."""
    if law is None or law.scheme != "trunc_normal" or "std" not in texts:
        return {}
    m, s = float(law.args["mean"]), float(law.args["std"])
    if m != 0 or s <= 0 or (float(law.args["a"]), float(law.args["b"])) == (-2.0, 2.0):
        return {}
    out = {}
    for arg in ("a", "b"):
        k = float(law.args[arg]) / s
        times = nice(abs(k))
        if not isinstance(times, Num):
            return {}
        out[arg] = mul(Num(value=math.copysign(times.value, k)), texts["std"])
    return out


def _size_free(texts: dict[str, Any], item: Item) -> bool:
    """Whether the numbers of a law torch's own layer wrote (its reset_parameters, which
    computed no fan) read the same at any size: a literal other than 0 and 1 there is a
    size torch read from the module (an LSTM's 1/sqrt(hidden_size)), which only
    ``default`` (that very method) says at every size."""
    assert item.law is not None
    if item.law.scheme not in _SCALED or item.block is not None:
        return True  # kaiming's and xavier's numbers are not sizes: their fans are
    if not own_default(item.law, item.layer.types):
        return True
    return all(
        not is_constant(t) or abs(float(item.law.args[a])) in (0.0, 1.0)
        for a, t in texts.items()
        if a != "mean"
    )


#: Schemes whose numbers are the scale itself (a std, a bound).
_SCALED = ("normal", "uniform", "trunc_normal")
_DIGITS = re.compile(r"(?<=\.)\d+(?=\.)")


def _index_candidates(
    members: list[Item], arg: str, ctx: Context, use_depth: bool
) -> dict[int, Expr]:
    """``base / sqrt(alpha * index(BLOCK) + beta)`` for layers repeated per block whose
    value changes with the block's index (BEiT's and nanoGPT-style rescaling by
    1/sqrt(2 * (i + 1))): fitted on the members that share a name pattern
    (``blocks.*.attn.proj``) against the index of each enclosing type that repeats, then
    (``use_depth``, a traced model) against the execution depth. Accepted only with alpha,
    beta fractions of denominator <= 64 that reproduce every value to 1e-12. Keys are
    positions in ``members``."""
    by_pattern: dict[str, list[int]] = {}
    for k, m in enumerate(members):
        if m.law is None or m.law.how != "recorded" or m.block is not None:
            continue
        pattern = _DIGITS.sub("*", "." + m.layer.name + ".")
        by_pattern.setdefault(pattern, []).append(k)
    out: dict[int, Expr] = {}
    for ks in by_pattern.values():
        vals = [float(members[k].law.args[arg]) for k in ks]  # type: ignore[union-attr]
        if len(ks) < 3 or len(set(vals)) < 3 or min(vals) <= 0:
            continue
        axes: list[tuple[Any, list[float]]] = []
        # the outermost repeated type first: the block (index(Block)), whose index one
        # rule shares across its attention and MLP projections
        outer = [t for k in ks for t in reversed(_enclosing(members[k]))]
        for t in dict.fromkeys(t for t in outer if t not in CONTAINERS):
            if ctx.counts.get(t, 0) < 2 or ctx.position is None or not is_type_name(t):
                continue
            pos = [ctx.position(t, members[k].layer) for k in ks]
            if all(p is not None for p in pos):
                index = IndexOf(selector=Selector(types=(t,)))
                axes.append((index, [float(p) for p in pos]))  # type: ignore[arg-type]
        if use_depth:
            axes.append((Name(name="depth"), [float(members[k].layer.depth) for k in ks]))
        for axis, xs in axes:
            e = _fit_axis(vals, xs, axis, ctx)
            if e is not None:
                for k in ks:
                    out[k] = e
                break
    return out


def _block_maps(items: list[Item], ctx: Context) -> dict[int, tuple[str, tuple]]:
    """The numbers of a map that change from block to block (RWKV's exponents ``1 - i / n``
    and ``0.7 + 1.3 * i / (n - 1)``) as a line in the block's index: item index -> (the
    map as text, lets it needs). Fitted over the tensors sharing a name pattern
    (``blocks.*.attention.time_mix_key``) and the map's form, against the index of each
    enclosing type that repeats, and kept only where the line holds on every block.

    At one size ``i / n`` and ``i / (n - 1)`` are both lines in ``i``: the denominator
    whose coefficients the code wrote (its literals) is the one it computed, ``count``
    where both or neither are."""
    groups: dict[tuple[str, str], list[Item]] = {}
    for it in items:
        law = it.law
        if law is None or law.fn is None or law.how != "recorded" or it.block is not None:
            continue
        fn = law.records[0].fn if law.records else None
        if fn is None:
            continue
        skeleton = printer_expression(_with_nums(fn, [0.0] * len(_nums(fn))))
        pattern = _DIGITS.sub("*", "." + it.param.name + ".")
        groups.setdefault((pattern, skeleton), []).append(it)
    out: dict[int, tuple[str, tuple]] = {}
    for members in groups.values():
        fns = [m.law.records[0].fn for m in members]  # type: ignore[union-attr]
        columns = list(zip(*(_nums(f) for f in fns), strict=True))
        varying = [j for j, col in enumerate(columns) if len(set(col)) > 1]
        if len(members) < 2 or not varying:
            continue
        literals = members[0].law.records[0].site.literals or frozenset()  # type: ignore[union-attr]
        found = _block_line(members, [list(columns[j]) for j in varying], literals, ctx)
        if found is None:
            continue
        lines, lets = found
        for m, fn in zip(members, fns, strict=True):
            values: list[Any] = list(_nums(fn))
            for j, line in zip(varying, lines, strict=True):
                values[j] = line
            out[m.index] = (printer_expression(_with_nums(fn, values)), lets)
    return out


def _block_line(
    members: list[Item], columns: list[list[float]], literals: frozenset[float], ctx: Context
) -> tuple[list[Any], tuple] | None:
    """Each column (one number of the map per member) as ``a + b * index(T) / D`` with
    ``D`` ``count(T)`` or ``count(T) - 1``, for the outermost repeated type T whose index
    gives a line through every column; None where none does."""
    # the outermost first; the layer's own type last (a parameter of the block itself)
    outer = [t for m in members for t in [*reversed(_enclosing(m)), m.layer.type]]
    for t in dict.fromkeys(t for t in outer if t not in CONTAINERS):
        n = ctx.counts.get(t, 0)
        if n < 2 or ctx.position is None or not is_type_name(t):
            continue
        pos = [ctx.position(t, m.layer) for m in members]
        if any(p is None for p in pos) or len(set(pos)) < 2:
            continue
        xs = [float(p) for p in pos]  # type: ignore[arg-type]
        count, lets = count_of(t, ctx)
        index = IndexOf(selector=Selector(types=(t,)))
        lines = [_line(col, xs, n, literals, index, count) for col in columns]
        if all(line is not None for line in lines):
            return lines, lets
    return None


def _line(
    ys: list[float], xs: list[float], n: int, literals: frozenset[float], index: Any, count: Any
) -> Any:
    """``a + b * index / D`` through every (x, y), D the count or the count less one."""
    j = next(k for k in range(len(xs)) if xs[k] != xs[0])
    slope = (ys[j] - ys[0]) / (xs[j] - xs[0])
    a = ys[0] - slope * xs[0]
    if not all(
        math.isclose(a + slope * x, y, rel_tol=1e-9, abs_tol=1e-12)
        for x, y in zip(xs, ys, strict=True)
    ):
        return None
    known = {0.0, 1.0, *literals}

    def wrote(v: float) -> bool:
        return any(math.isclose(abs(v), k, rel_tol=1e-9, abs_tol=1e-12) for k in known)

    less = BinOp(op="-", left=count, right=Num(value=1))
    options = [(slope * n, count), (slope * (n - 1), less)]
    b, d = max(options, key=lambda o: wrote(a) + wrote(o[0]))  # the first (count) on ties
    a, b = float(f"{a:.12g}"), float(f"{b:.12g}")
    term = div(index if abs(b) == 1 else mul(num(abs(b)), index), d)
    if a == 0:
        return term if b > 0 else Neg(operand=term)
    return BinOp(op="+" if b > 0 else "-", left=num(a), right=term)


def _nums(e: Any) -> list[float]:
    """The numbers of an expression, left to right."""
    if isinstance(e, Num):
        return [float(e.value)]
    if isinstance(e, BinOp):
        return _nums(e.left) + _nums(e.right)
    if isinstance(e, Call):
        return [v for a in e.args for v in _nums(a)]
    if isinstance(e, Neg):
        return _nums(e.operand)
    return []


def _with_nums(e: Any, values: list[Any]) -> Any:
    """``e`` with its numbers, left to right, replaced by ``values`` (numbers or
    expressions); ``values`` is consumed."""
    vals = list(values)

    def walk(x: Any) -> Any:
        if isinstance(x, Num):
            v = vals.pop(0)
            return num(v) if isinstance(v, float) else v
        if isinstance(x, BinOp):
            return BinOp(op=x.op, left=walk(x.left), right=walk(x.right))
        if isinstance(x, Call):
            return Call(fn=x.fn, args=tuple(walk(a) for a in x.args))
        if isinstance(x, Neg):
            return Neg(operand=walk(x.operand))
        return x

    return walk(e)


def _fit_axis(vals: list[float], xs: list[float], axis: Any, ctx: Context) -> Expr | None:
    """``base / sqrt(a * axis + b)`` through every (x, value), or None; ``axis`` is the
    expression whose values are ``xs`` (``depth``, ``index(Block)``)."""
    if len(set(xs)) < 2:
        return None
    for base, bexpr in sorted(
        ctx.bases.items(), key=lambda kv: (kv[1].rank, -ctx.uses.get(kv[0], 0))
    ):
        sq = [(base / v) ** 2 for v in vals]
        i, j = 0, next(x for x in range(len(xs)) if xs[x] != xs[0])
        alpha = (sq[j] - sq[i]) / (xs[j] - xs[i])
        beta = sq[i] - alpha * xs[i]
        fa = Fraction(alpha).limit_denominator(64)
        fb = Fraction(beta).limit_denominator(64)
        if fa <= 0 or any(fa * Fraction(x) + fb <= 0 for x in xs):
            continue
        a, b = float(fa), float(fb)
        if not all(
            _close_num(v, base / math.sqrt(a * x + b)) for v, x in zip(vals, xs, strict=True)
        ):
            continue
        if fb == fa:
            inner = BinOp(op="+", left=axis, right=Num(value=1))
            inner = inner if fa == 1 else mul(num(a), inner)
        else:
            inner = axis if fa == 1 else mul(num(a), axis)
            if fb != 0:
                inner = BinOp(op="+" if fb > 0 else "-", left=inner, right=num(abs(b)))
        return Expr(div(bexpr.node, sqrt(inner)), 3, bexpr.lets)
    return None


def _close_num(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0)


def _options(item: Item, arg: str, ctx: Context) -> list[Expr]:
    v = float(item.law.args[arg])  # type: ignore[union-attr]
    if item.law.how == "fitted":  # type: ignore[union-attr]
        return [Expr(num(v), 2)]  # a fitted number is no computation of the code's
    if arg == "mean" or (arg in ("a", "b") and item.law.scheme == "trunc_normal"):  # type: ignore[union-attr]
        return [Expr(num(v), 2)]
    found = candidates(v, item.fans, [*_enclosing(item), item.layer.type], ctx)
    if arg == "gain" and ctx.traced and item.layer.activation and item.layer.activation != "mixed":
        try:
            g = float(gain(item.layer.activation, item.layer.act_args))
        except Exception:
            g = math.nan
        if math.isclose(g, v, rel_tol=1e-12):
            found.append(Expr(Name(name="gain"), 1.2))  # the traced activation's gain
    if arg == "gain":
        found += _widening_gain(v, item.fans)
    records = item.law.records  # type: ignore[union-attr]
    # a mapped draw's numbers are its first record's (the root of the chain of maps)
    first = records[-1:] if item.law.fn is not None else records[:1]  # type: ignore[union-attr]
    typed = [r.site.typed(v) for r in first if r.parent is None]
    if records and not any(typed) and records[0].parent is None:
        # a size the code read from its config near the write (T5's d_model * d_kv): a
        # constant or a scaled fan form equal to it is a coincidence of this size
        # (RecurrentGemma's 1 / sqrt(48) is final_w_init_variance_scale / lru_width)
        site = records[0].site
        sized = config_forms(v, site.near(ctx.config), ctx, site.literals or ())
        if sized:
            found = [e for e in found if e.rank <= 1.5 and not is_constant(e.node)] + sized
    if typed and typed[0] is False:
        found += _literal_times_fan(v, item.fans, first[0].site.literals or frozenset())
        # the code computed this number (it is written nowhere in the function): a short
        # literal equal to it is a coincidence of this size, after what the code computes
        found = [
            Expr(e.node, 3.9, e.lets) if isinstance(e.node, Num) and e.rank < 3.9 else e
            for e in found
        ]
    if records and all(r.site.file.startswith(TORCH_LAYERS) for r in records):
        if all(r.site.fans for r in records):
            # torch's own layers that compute a fan (Linear's, Conv's reset_parameters):
            # the fan form is what the code computed, even where a short literal equals it
            found = [
                Expr(e.node, 0.9, e.lets) if reads_fan(e.node) and e.rank == 1.5 else e
                for e in found
            ]
        else:
            # one that computed none (an LSTM's 1/sqrt(hidden_size)): a fan form that
            # equals its number is a coincidence of this size
            found = [e for e in found if not reads_fan(e.node)]
    return found


def _literal_times_fan(
    v: float, fans: tuple[float, float], literals: frozenset[float]
) -> list[Expr]:
    """``c * sqrt(fan)`` for a number ``c`` the code wrote (RWKV's embedding gain
    ``1e-4 * sqrt(max(shape))``): it grows with the width, where ``c' / sqrt(fan)`` with a
    ``c'`` the code never wrote would shrink."""
    out = []
    for name, f in zip(("fan_in", "fan_out"), fans, strict=True):
        for c in sorted(literals):
            if f > 0 and c > 0 and c != 1 and math.isclose(v, c * math.sqrt(f), rel_tol=1e-12):
                out.append(Expr(mul(num(c), sqrt(Name(name=name))), 2.5))
    return out


def _widening_gain(v: float, fans: tuple[float, float]) -> list[Expr]:
    """``max(1, sqrt(fan_out / fan_in))``, the gain that keeps a widening layer's outputs
    at the scale of its inputs (RWKV's ``sqrt(shape[0] / shape[1])`` where the weight
    widens, else 1), where it equals ``v``. It ranks after the literal 1 (also one the code
    computed), so it is chosen
    only where it explains more layers than 1 does (some widen, others do not)."""
    fan_in, fan_out = fans
    if fan_in <= 0 or fan_out <= 0:
        return []
    if not math.isclose(v, max(1.0, math.sqrt(fan_out / fan_in)), rel_tol=1e-12):
        return []
    form = Call(fn="max", args=(Num(value=1), sqrt(div(Name(name="fan_out"), Name(name="fan_in")))))
    return [Expr(form, 3.95)]


def _symmetric(law: Law) -> bool:
    a, b = law.args.get("a"), law.args.get("b")
    return law.scheme == "uniform" and isinstance(a, float) and isinstance(b, float) and a == -b


def render_scheme(law: Law, texts: dict[str, Any], sym: bool = False) -> str:
    """The law as policy text: its scheme (:func:`_plain_scheme`), through its map where
    the code transformed the draw (``mapped(SCHEME, fn)``)."""
    if law.fn is not None:
        return f"mapped({_plain_scheme(law, texts, sym)}, {law.fn})"
    return _plain_scheme(law, texts, sym)


def _plain_scheme(law: Law, texts: dict[str, Any], sym: bool = False) -> str:
    """The law as a scheme call in the printer's short form: ``texts`` holds the chosen
    expression of each numeric argument; the others are the law's own values. An argument
    is given when the catalog's entry always shows it or it is not the entry's default; a
    symmetric uniform's ``a`` is ``-b``; a constant that a parameterless constant scheme
    writes is that scheme (``zeros()``); a count (an ``int`` parameter) is its number."""
    spec = get(law.scheme)
    named = _named_constant(law)
    if named is not None:
        return short_scheme(SchemeCall(name=named))
    args = []
    for p in spec.params:
        v = law.args.get(p.name)
        sized = p.name in texts and not is_constant(texts[p.name])  # a default at this size
        if v is None or (p.shown != "always" and _same(v, p.default) and not sized):
            continue
        if isinstance(v, str):
            value: Any = Word(value=v)
        elif p.type == "int":
            value = Num(value=int(v))
        elif sym and p.name == "a":
            value = negated(texts["b"]) if "b" in texts else num(float(v))
        else:
            value = texts.get(p.name, num(float(v)))
        args.append(SchemeArg(name=p.name, value=value))
    return short_scheme(SchemeCall(name=law.scheme, args=tuple(args)))


def _same(v: float | str, default: object) -> bool:
    if isinstance(v, str) or default is None or isinstance(default, str):
        return v == default
    return float(v) == float(default)  # type: ignore[arg-type]


def _named_constant(law: Law) -> str | None:
    """The parameterless constant scheme (``zeros``, ``ones``) that writes what a
    ``constant`` law writes, or None."""
    spec = get(law.scheme)
    if spec.kind != "constant" or spec.value is None or not spec.params:
        return None
    try:
        value = spec.value(law.args)
    except (KeyError, TypeError, ValueError):
        return None
    return next(
        (
            other.name
            for other in SCHEMES.values()
            if other.kind == "constant"
            and not other.params
            and other.value is not None
            and other.value({}) == value
        ),
        None,
    )


# ---------------------------------------------------------------- what the source says


def _as_the_code_wrote(item: Item, arg: str, chosen: Expr, ctx: Context) -> Expr:
    """``chosen``, or the expression the code wrote ``arg`` with (read from its source,
    :mod:`.source`) where the two are different laws: the code's holds at every size,
    another equal to it at this one may be a coincidence (RWKV's embedding gain ``1e-4 *
    sqrt(max(shape))`` is ``0.0001 * sqrt(fan_out)`` while the vocabulary is the wider
    side; a Qwen3-Next ``uniform_(0.01, 16)`` is ``initializer_range / sqrt(2 *
    num_hidden_layers)`` with two layers). Where they are the same law (equal at random
    sizes and config numbers), ``chosen`` stays: it is written as the policy's other
    rules are (``initializer_range``, a ``let`` of ``config.initializer_range``)."""
    source = _source_expression(item, arg, ctx)
    if source is None or source.text == chosen.text:
        return chosen
    g = _traced_gain(item)
    return chosen if _same_law(chosen, source.node, g) else source


def _source_expression(item: Item, arg: str, ctx: Context) -> Expr | None:
    """What the source says ``arg`` of the item's write was, where it resolves for the
    item and equals the recorded number (None otherwise)."""
    law = item.law
    if law is None or not law.records or item.block is not None or law.how != "recorded":
        return None
    v = law.args.get(arg)
    if not isinstance(v, float | int) or isinstance(v, bool):
        return None
    # a mapped draw's numbers are its first record's (the root of the chain of maps)
    r = law.records[-1] if law.fn is not None else law.records[0]
    value = _written(r, arg)
    if r.parent is not None and law.fn is None and len(law.records) == 2:
        value = _scaled(law.records[0], law.records[1], arg)  # a draw, then `w.mul_(c)`
    elif r.parent is not None or not math.isclose(r.args.get(arg, math.nan), v, rel_tol=1e-12):
        return None  # a number derived or converted after the call: not the one written
    if value is None:
        return None
    env = _source_env(item, ctx)
    node = resolve(value, env, item.layer.types)
    if node is None or (reads_fan(node) and not read_as_fans(item)):
        return None
    try:
        if not math.isclose(evaluate(node, env), float(v), rel_tol=1e-9, abs_tol=1e-300):
            return None
    except (InitPolicyError, ArithmeticError, ValueError):
        return None
    return Expr(node, 0.1)


def _written(r: Any, arg: str) -> Any:
    """What the source says ``arg`` of record ``r``'s call was (None: nothing)."""
    call = r.op.split("(")[0].rsplit(".", 1)[-1]
    return next((x for c, a, x in r.site.arguments if c == call and a == arg), None)


def _scaled(scale: Any, root: Any, arg: str) -> Any:
    """``arg`` of a draw scaled in place once (``xavier_uniform_(w)`` then
    ``w.data.mul_(0.67 * N ** -0.25)``): the draw's, times (or over) the number the code
    scaled by, as the source says both; None where either is not read."""
    name = scale.op.split("(")[0].rsplit(".", 1)[-1]
    how = {"mul_": ("factor", "*"), "div_": ("divisor", "/")}.get(name)
    if how is None or arg not in ("gain", "std"):
        return None
    base = _written(root, arg)
    by = next((x for c, a, x in scale.site.arguments if c == name and a == how[0]), None)
    if base is None or by is None:
        return None
    return Op(how[1], (base, by))


def _source_env(item: Item, ctx: Context) -> dict[str, float]:
    env = {"fan_in": float(item.param.fan_in), "fan_out": float(item.param.fan_out)}
    env.update((CONFIG_PREFIX + k, float(x)) for k, x in (ctx.numbers or ctx.config).items())
    return env


#: Random sizes two expressions are compared on.
_LAW_SAMPLES = 24


def _traced_gain(item: Item) -> float | None:
    """The gain of the activation traced after the item's layer (None: none)."""
    act = item.layer.activation
    if not act or act == "mixed":
        return None
    try:
        return float(gain(act, item.layer.act_args))
    except Exception:  # an activation torch gives no gain
        return None


_SAME: dict[tuple[Any, ...], bool] = {}


def _same_law(chosen: Expr, source: Any, traced_gain: float | None = None) -> bool:
    """:func:`_find_same_law`, once per pair (every layer of a model asks again)."""
    key = (chosen.node, chosen.lets, source, traced_gain)
    if key not in _SAME:
        _SAME[key] = _find_same_law(chosen, source, traced_gain)
    return _SAME[key]


def _find_same_law(chosen: Expr, source: Any, traced_gain: float | None = None) -> bool:
    """Whether ``chosen`` (its ``let``s of config numbers read as those numbers; ``gain``,
    the activation traced after the layer, as its value) equals ``source`` at random fans
    and config numbers. An expression with anything else in it (a count of blocks, a
    block index) is not the same law."""
    subst = {
        name: comment for name, _text, comment in chosen.lets if comment.startswith(CONFIG_PREFIX)
    }
    fixed = {"gain": traced_gain} if traced_gain is not None else {}
    free = names(chosen.node) | names(source)
    allowed = {"fan_in", "fan_out"}
    if any(
        n not in allowed and not n.startswith(CONFIG_PREFIX) and n not in subst | fixed
        for n in free
    ):
        return False
    if has_count(chosen.node) or has_count(source):
        return False
    rng = random.Random(1)
    for _ in range(_LAW_SAMPLES):
        env = {n: sample(rng, n) for n in free | set(subst.values())}
        env.update((n, env[c]) for n, c in subst.items())
        env.update(fixed)
        try:
            a, b = evaluate(chosen.node, env), evaluate(source, env)
        except (InitPolicyError, ArithmeticError, ValueError):
            return False
        if not math.isclose(a, b, rel_tol=1e-9):
            return False
    return True
