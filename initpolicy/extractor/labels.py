"""Labels: every item's scheme call as policy text, numbers written as expressions.

Items are grouped by law family (scheme, enumeration words, which arguments are numbers);
for each numeric argument the expression is chosen over the whole group at once
(:func:`.expressions.choose`), so equal computations share one text and become one rule.
A per-block rescaling (BEiT's ``1 / sqrt(2 * layer_id)``) is found as
``base / sqrt(alpha * depth + beta)`` over the layers sharing a name pattern.

>>> from initpolicy.extractor.laws import Law
>>> render_scheme(Law("uniform", {"a": -0.5, "b": 0.5}, None, None, "recorded"), {"b": "1 / sqrt(fan_in)"}, True)
'uniform(-1 / sqrt(fan_in), 1 / sqrt(fan_in))'
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

from ..catalog.gains import gain
from .expressions import Context, Expr, candidates, choose, lit
from .laws import Law
from .observe import Item


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
    for it in items:
        if it.law is None:
            continue
        law = it.law
        words = tuple((k, v) for k, v in sorted(law.args.items()) if isinstance(v, str))
        sym = _symmetric(law)
        groups.setdefault((law.scheme, words, tuple(_numeric_args(law)), sym), []).append(it)
    out: dict[int, tuple[str, tuple]] = {}
    for (_scheme, _words, nums, sym), members in groups.items():
        chosen: dict[str, list[Expr]] = {}
        for arg in nums:
            if sym and arg == "a":
                continue
            opts = [_options(m, arg, ctx) for m in members]
            if use_depth:
                for k, e in _depth_candidates(members, arg, ctx).items():
                    opts[k].append(e)
            chosen[arg] = choose(opts)
        for i, m in enumerate(members):
            texts = {a: chosen[a][i].text for a in chosen}
            lets = tuple(let for a in chosen for let in chosen[a][i].lets)
            assert m.law is not None  # grouped items all have a law
            out[m.index] = (render_scheme(m.law, texts, sym), lets)
    return out


_DIGITS = re.compile(r"(?<=\.)\d+(?=\.)")


def _depth_candidates(members: list[Item], arg: str, ctx: Context) -> dict[int, Expr]:
    """``base / sqrt(alpha * depth + beta)`` for layers repeated per block whose value
    shrinks with the block index (BEiT's and others' rescale by 1/sqrt(2 * layer_id)):
    fitted on the members that share a name pattern (``blocks.*.attn.proj``), accepted
    only with alpha, beta fractions of denominator <= 64 that reproduce every value to
    1e-12. Keys are positions in ``members``."""
    by_pattern: dict[str, list[int]] = {}
    for k, m in enumerate(members):
        if m.law is None or m.law.how != "recorded" or m.block is not None:
            continue
        pattern = _DIGITS.sub("*", "." + m.layer.name + ".")
        by_pattern.setdefault(pattern, []).append(k)
    out: dict[int, Expr] = {}
    for ks in by_pattern.values():
        vals = [float(members[k].law.args[arg]) for k in ks]  # type: ignore[union-attr]
        depths = [members[k].layer.depth for k in ks]
        if len(ks) < 3 or len(set(vals)) < 3 or len(set(depths)) < 2 or min(vals) <= 0:
            continue
        for base, bexpr in sorted(
            ctx.bases.items(), key=lambda kv: (kv[1].rank, -ctx.uses.get(kv[0], 0))
        ):
            sq = [(base / v) ** 2 for v in vals]
            i, j = 0, next(x for x in range(len(ks)) if depths[x] != depths[0])
            alpha = (sq[j] - sq[i]) / (depths[j] - depths[i])
            beta = sq[i] - alpha * depths[i]
            fa = Fraction(alpha).limit_denominator(64)
            fb = Fraction(beta).limit_denominator(64)
            if fa <= 0:
                continue
            a, b = float(fa), float(fb)
            if not all(
                _close_num(v, base / math.sqrt(a * d + b))
                for v, d in zip(vals, depths, strict=True)
            ):
                continue
            inner = ("depth" if fa == 1 else f"{lit(a)} * depth") + (
                "" if fb == 0 else f" + {lit(b)}" if fb > 0 else f" - {lit(-b)}"
            )
            e = Expr(f"{bexpr.text} / sqrt({inner})", 3, bexpr.lets)
            for k in ks:
                out[k] = e
            break
    return out


def _close_num(x: float, y: float) -> bool:
    return math.isclose(x, y, rel_tol=1e-12, abs_tol=0.0)


def _options(item: Item, arg: str, ctx: Context) -> list[Expr]:
    v = float(item.law.args[arg])  # type: ignore[union-attr]
    if item.law.how == "fitted":  # type: ignore[union-attr]
        return [Expr(lit(v), 2)]  # a fitted number is no computation of the code's
    if arg == "mean" or (arg in ("a", "b") and item.law.scheme == "trunc_normal"):  # type: ignore[union-attr]
        return [Expr(lit(v), 2)]
    found = candidates(v, item.fans, [*_enclosing(item), item.layer.type], ctx)
    if arg == "gain" and ctx.traced and item.layer.activation and item.layer.activation != "mixed":
        try:
            g = float(gain(item.layer.activation, item.layer.act_args))
        except Exception:
            g = math.nan
        if math.isclose(g, v, rel_tol=1e-12):
            found.append(Expr("gain", 1.2))  # the traced activation's gain
    if any(r.site.file.startswith(TORCH_LAYERS) for r in item.law.records):  # type: ignore[union-attr]
        # torch's own layers compute their bounds from fans (their reset_parameters):
        # the fan form is what the code computed, even where a short literal equals it
        found = [
            Expr(e.text, 0.9, e.lets) if "fan_" in e.text and e.rank == 1.5 else e for e in found
        ]
    return found


TORCH_LAYERS = ("torch/nn/modules/",)


def _symmetric(law: Law) -> bool:
    a, b = law.args.get("a"), law.args.get("b")
    return law.scheme == "uniform" and isinstance(a, float) and isinstance(b, float) and a == -b


def render_scheme(law: Law, texts: dict[str, str], sym: bool = False) -> str:
    s, a = law.scheme, law.args

    def t(k: str) -> str:
        if k in texts:
            return texts[k]
        v = a[k]
        return lit(float(v)) if isinstance(v, float | int) else str(v)

    if s == "keep":
        return "keep"
    if s == "constant":
        v = float(a["val"])
        return "zeros()" if v == 0 else "ones()" if v == 1 else f"constant({t('val')})"
    if s == "normal":
        return f"normal({t('mean')}, {t('std')})"
    if s == "uniform":
        if sym:
            b = t("b")
            return f"uniform(-{b}, {b})"
        return f"uniform({t('a')}, {t('b')})"
    if s == "trunc_normal":
        if float(a["a"]) == -2.0 and float(a["b"]) == 2.0:
            return f"trunc_normal({t('mean')}, {t('std')})"
        return f"trunc_normal({t('mean')}, {t('std')}, {t('a')}, {t('b')})"
    if s in ("kaiming_normal", "kaiming_uniform"):
        extra = "" if float(a.get("a", 0.0)) == 0 else f", a={t('a')}"
        return f"{s}({a.get('mode', 'fan_in')}, {a.get('nonlinearity', 'leaky_relu')}{extra})"
    if s in ("xavier_uniform", "xavier_normal", "orthogonal"):
        g = float(a.get("gain", 1.0))
        return f"{s}()" if g == 1 else f"{s}(gain={t('gain')})"
    if s == "dirac":
        g = int(a.get("groups", 1))
        return "dirac()" if g == 1 else f"dirac(groups={g})"
    if s == "sparse":
        return f"sparse({t('sparsity')}, {t('std')})"
    if s == "variance_scaling":
        return f"variance_scaling({t('scale')}, {a['mode']}, {a['distribution']})"
    if s == "linspace":
        return f"linspace({t('start')}, {t('end')})"
    if s in ("eye", "lecun_normal", "lecun_uniform"):
        return f"{s}()"
    args = ", ".join(f"{k}={t(k)}" for k in a)
    return f"{s}({args})"
