"""Fallback: a law fitted from a tensor's values, where no write could be recognised.

Used when the recorder saw no write to (some of) a parameter's elements (values made by
native code, ``param.data = something`` computed out of sight), or saw one it cannot
describe (``clamp_``, a copy of computed values). The answer is always marked
``fitted`` and says why.

Order of the tests (first that holds wins):

1. constant (every element equal) -> ``constant(v)`` / ``zeros()`` / ``ones()``, exact;
2. identity / Dirac / value grid / (semi-)orthogonal patterns -> ``eye()``, ``dirac()``,
   ``linspace(start, end)`` (torch.linspace's values, bit for bit), ``orthogonal(gain=g)``
   (W Wᵀ = g² I to 1e-4), exact up to float error;
3. few distinct values (< half the elements and more than 2), or values evenly spaced
   in another order (a grid: :func:`is_grid`) -> computed, not drawn: ``keep`` (the
   policy leaves the values the model's code computed);
4. a random law: the family by the shape of the distribution (excess kurtosis: normal 0,
   uniform -1.2, a normal truncated at ±c·σ in between; the one nearest in units of the
   kurtosis' standard error sqrt(24/n) wins, with the range as a second test), the
   scale by the spread (std; for uniform the half-range estimate), the mean snapped to 0
   when within 3 standard errors. The std is snapped to a candidate from the model's
   recorded values or to ``1/sqrt(fan_in)``-style forms when within 2 standard errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..catalog import get, moments, truncated_std


@dataclass
class Fit:
    scheme: str
    args: dict[str, Any]
    std: float | None
    bound: float | None
    #: How sure: "exact" (a pattern, a constant) or "sampled" (a random law from n values).
    quality: str
    n: int
    measured_std: float
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "args": self.args,
            "std": self.std,
            "bound": self.bound,
            "quality": self.quality,
            "n": self.n,
            "measured_std": self.measured_std,
            "notes": self.notes,
        }


#: Excess kurtosis of a standard normal truncated to [-c, c].
def _trunc_kurtosis(c: float) -> float:
    phi = math.exp(-c * c / 2) / math.sqrt(2 * math.pi)
    z = math.erf(c / math.sqrt(2))
    m2 = 1 - 2 * c * phi / z
    m4 = 3 - (2 * c**3 * phi + 6 * c * phi) / z
    return m4 / (m2 * m2) - 3


def fit_values(
    values: torch.Tensor,
    *,
    fan_in: float,
    fan_out: float,
    snap: tuple[float, ...] = (),
) -> Fit:
    """The law that best explains ``values`` (see the module docstring)."""
    x = values.detach().to(torch.float64).reshape(-1).cpu()
    n = x.numel()
    shape = tuple(values.shape)
    if n == 0:
        return Fit("keep", {}, None, None, "exact", 0, 0.0, ["empty tensor"])
    first = float(x[0])
    if bool((x == first).all()):
        return Fit("constant", {"val": first}, 0.0, None, "exact", n, 0.0)
    measured = float(x.std(unbiased=n > 1)) if n > 1 else 0.0
    pattern = deterministic(values) or _pattern(values.detach().to(torch.float64).cpu())
    if pattern is not None:
        scheme, args = pattern
        std, bound = moments(scheme, args, fan_in=fan_in, fan_out=fan_out, shape=shape)
        return Fit(scheme, args, std, bound, "exact", n, measured)
    distinct = int(x.unique().numel())
    if n >= 8 and is_grid(x):
        note = "evenly spaced values: a computed grid, not drawn"
        return Fit("keep", {}, None, None, "exact", n, measured, [note])
    if n >= 8 and 2 < distinct < n / 2:
        return Fit(
            "keep",
            {},
            None,
            None,
            "exact",
            n,
            measured,
            [f"{distinct} distinct values in {n}: computed, not drawn"],
        )
    return _random(x, shape, fan_in, fan_out, measured, snap)


def deterministic(w: torch.Tensor) -> tuple[str, dict[str, Any]] | None:
    """The scheme that writes exactly these values by position (``eye``, ``dirac``,
    ``linspace``), compared in the tensor's own dtype; None if none does.

    >>> deterministic(torch.linspace(-1, 1, 5)), deterministic(torch.eye(3))
    (('linspace', {'start': -1.0, 'end': 1.0}), ('eye', {}))
    """
    w = w.detach().cpu()
    if w.ndim == 2 and torch.equal(w, torch.eye(*w.shape, dtype=w.dtype)):
        return "eye", {}
    if w.ndim in (3, 4, 5):
        d = torch.zeros_like(w)
        torch.nn.init.dirac_(d)
        if torch.equal(w, d):
            return "dirac", {"groups": 1}
    flat = w.reshape(-1)
    if flat.numel() >= 3 and w.is_floating_point():
        a, b = float(flat[0]), float(flat[-1])
        if a != b and torch.equal(flat, torch.linspace(a, b, flat.numel(), dtype=w.dtype)):
            return "linspace", {"start": a, "end": b}
    return None


def is_grid(x: torch.Tensor) -> bool:
    """Values evenly spaced once sorted (a computed grid in any order): the gaps between
    sorted draws of a continuous law vary about as much as they average (coefficient of
    variation near 1: uniform spacings are exponential), a grid's not at all."""
    if x.numel() < 8:
        return False
    gaps = x.double().reshape(-1).sort().values.diff()
    mean = float(gaps.mean())
    return mean > 0 and float(gaps.std()) < 0.25 * mean


def drawn_like(
    values: torch.Tensor, scheme: str, args: dict[str, Any], std: float | None
) -> str | None:
    """Why ``values`` (the code's own) are not a draw of the planned ``scheme``, or None:
    a computed grid, a std off by more than 6 standard errors, or a one-sample
    Kolmogorov-Smirnov distance beyond its 1e-6 level against the planned normal or
    uniform. What verification asks of a law fitted from values: the plan must
    reproduce the code's values, not the fit."""
    if get(scheme).kind != "random":
        return None  # a constant or a pattern (linspace, eye) was matched exactly
    x = values.detach().double().reshape(-1).cpu()
    n = x.numel()
    if n < 16 or std is None:
        return None
    if is_grid(x):
        return "the code's values are an evenly spaced grid, not a draw"
    measured = float(x.std())
    if abs(measured - std) > 6 * max(std, 1e-30) / math.sqrt(2 * n) + 1e-7:
        return f"the code's values have std {measured:.6g}, the plan {std:.6g}"
    xs = x.sort().values
    if scheme == "normal" and std > 0:
        cdf = 0.5 * (1 + torch.erf((xs - float(args.get("mean", 0.0))) / (std * math.sqrt(2))))
    elif scheme == "uniform" and float(args.get("b", 1.0)) > float(args.get("a", 0.0)):
        a, b = float(args.get("a", 0.0)), float(args.get("b", 1.0))
        cdf = ((xs - a) / (b - a)).clamp(0, 1)
    else:
        return None
    i = torch.arange(1, n + 1, dtype=torch.float64)
    d = float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max())
    if d > math.sqrt(-math.log(0.5e-6) / (2 * n)):
        return f"the code's values are not {scheme} (Kolmogorov-Smirnov distance {d:.3g})"
    return None


def _pattern(w: torch.Tensor) -> tuple[str, dict[str, Any]] | None:
    if w.ndim >= 2 and w.shape[0] > 1:
        m = w.reshape(w.shape[0], -1)
        rows, cols = m.shape
        g = m @ m.T if rows <= cols else m.T @ m
        diag = g.diagonal()
        gain2 = float(diag.mean())
        if gain2 > 0:
            eye = torch.eye(g.shape[0], dtype=g.dtype) * gain2
            if float((g - eye).abs().max()) <= 1e-4 * gain2:
                return "orthogonal", {"gain": _nice(math.sqrt(gain2), 1e-5)}
    return None


def _random(
    x: torch.Tensor,
    shape: tuple[int, ...],
    fan_in: float,
    fan_out: float,
    measured: float,
    snap: tuple[float, ...],
) -> Fit:
    n = x.numel()
    notes: list[str] = []
    mean = float(x.mean())
    se_mean = measured / math.sqrt(n) if n > 1 else 0.0
    if abs(mean) <= 3 * se_mean:
        mean = 0.0
    elif se_mean > 0:
        mean = _nice(mean, se_mean / abs(mean))
    c = x - float(x.mean())
    s = measured
    lo, hi = float(x.min()), float(x.max())
    if n < 16 or s == 0:
        notes.append(f"only {n} values: normal assumed")
        std = _snap(
            s,
            2 * s / math.sqrt(2 * max(n, 2)),
            _candidates(fan_in, fan_out, snap, (1, 2, 3), 1.0),
            notes,
        )
        return Fit("normal", {"mean": mean, "std": std}, std, None, "sampled", n, measured, notes)
    kurt = float((c**4).mean() / (c**2).mean() ** 2) - 3.0
    se_k = math.sqrt(24.0 / n)
    reach = max(abs(lo - mean), abs(hi - mean)) / s
    # candidates: (distance in standard errors, family)
    uni = abs(kurt + 1.2) / se_k
    nor = abs(kurt) / se_k
    # a normal truncated at ±c sigma (c from the reach in units of the truncated std)
    c_est = _trunc_c(reach)
    tru = abs(kurt - _trunc_kurtosis(c_est)) / se_k if c_est is not None else math.inf
    best = min((nor, "normal"), (uni, "uniform"), (tru, "trunc"))
    # the range of n draws falls short of a bounded law's bounds by about width / n
    edge_se = (hi - lo) / n
    if best[1] == "uniform" and reach < 1.9:
        center = (hi + lo) / 2
        if abs(center) <= 3 * se_mean:
            center = 0.0
        half = (hi - lo) / 2 * (n + 1) / (n - 1)
        by_std = math.sqrt(3) * s
        if abs(half - by_std) > 4 * by_std / math.sqrt(2 * n):
            # the range and the spread disagree: not quite uniform; keep the spread
            notes.append(
                f"range half-width {half:.4g} disagrees with sqrt(3)*std {by_std:.4g}: bound from the std"
            )
            half, edge_se = by_std, by_std / math.sqrt(2 * n)
        bound = _snap(
            half, 2 * edge_se, _candidates(fan_in, fan_out, snap, (1, 3, 6), math.sqrt(3)), notes
        )
        notes.insert(0, f"uniform: excess kurtosis {kurt:.2f} (uniform -1.2, se {se_k:.2f})")
        return Fit(
            "uniform",
            {"a": center - bound, "b": center + bound},
            bound / math.sqrt(3),
            bound,
            "sampled",
            n,
            measured,
            notes,
        )
    if best[1] == "trunc" and c_est is not None and c_est < 3.5:
        a = _snap(lo, 2 * edge_se, (), notes)
        b = _snap(hi, 2 * edge_se, (), notes)
        if mean == 0.0 and abs(a + b) <= 2 * edge_se:
            a = -b
        sigma = _solve_sigma(s, a - mean, b - mean)
        sigma = _snap(
            sigma,
            2 * sigma / math.sqrt(2 * n),
            _candidates(fan_in, fan_out, snap, (1, 2, 3), 1.0),
            notes,
        )
        notes.insert(
            0,
            f"truncated normal: excess kurtosis {kurt:.2f}, cut at {(b - mean) / sigma:.2f} sigma",
        )
        args = {"mean": mean, "std": sigma, "a": a, "b": b}
        t_std, _ = moments("trunc_normal", args, fan_in=fan_in, fan_out=fan_out, shape=shape)
        return Fit("trunc_normal", args, t_std, None, "sampled", n, measured, notes)
    notes.insert(0, f"normal: excess kurtosis {kurt:.2f} (se {se_k:.2f})")
    std = _snap(
        s, 2 * s / math.sqrt(2 * n), _candidates(fan_in, fan_out, snap, (1, 2, 3), 1.0), notes
    )
    return Fit("normal", {"mean": mean, "std": std}, std, None, "sampled", n, measured, notes)


def _solve_sigma(s: float, lo: float, hi: float) -> float:
    """The sigma whose normal truncated to [lo, hi] has std ``s``."""
    a, b = s, 50 * s
    for _ in range(100):
        mid = (a + b) / 2
        if truncated_std(mid, lo, hi) < s:
            a = mid
        else:
            b = mid
    return (a + b) / 2


def _candidates(
    fan_in: float, fan_out: float, snap: tuple[float, ...], ks: tuple[int, ...], factor: float
) -> list[tuple[float, str]]:
    out: list[tuple[float, str]] = [
        (v * factor, f"{v:g}" + (" * sqrt(3)" if factor != 1 else "")) for v in snap
    ]
    for fan, label in ((fan_in, "fan_in"), (fan_out, "fan_out")):
        if fan and fan > 0:
            for k in ks:
                out.append((math.sqrt(k / fan), f"sqrt({k}/{label})"))
    for v in (0.02, 0.01, 0.001, 1e-6, 0.1, 0.05, 1.0):
        out.append((v, f"{v:g}"))
    return out


def _trunc_c(reach: float) -> float | None:
    """The cut c (in underlying sigmas) whose truncated std makes ``reach`` = c / ratio."""
    lo, hi = 0.5, 6.0
    f = lambda c: c / truncated_std(1.0, -c, c) - reach  # noqa: E731
    if f(lo) > 0 or f(hi) < 0:
        return None
    for _ in range(60):
        mid = (lo + hi) / 2
        if f(mid) < 0:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _snap(v: float, tol: float, cands: Any, notes: list[str]) -> float:
    """``v`` moved to the nearest candidate within 3 standard errors (``tol`` is 2), else
    rounded to the shortest decimal within ``tol``. A draw's spread lies beyond 2 standard
    errors of its law's in 1 draw in 22, beyond 3 in 1 in 370: at 2 the law of one tensor
    in 22 became a literal (a number that breaks when the model is resized)."""
    if v == 0 or tol <= 0:
        return v
    near = [(abs(c - v), c, label) for c, label in cands if abs(c - v) <= 1.5 * tol]
    if near:
        d, c, label = min(near)
        notes.append(f"{v:.6g} snapped to {label} (off by {d / tol * 2:.1f} se)")
        return c
    return _nice(v, tol / abs(v))


def _nice(v: float, rel: float) -> float:
    """The shortest decimal within ``rel`` of ``v``."""
    if v == 0:
        return 0.0
    for digits in range(1, 17):
        r = float(f"{v:.{digits}g}")
        if abs(r - v) <= rel * abs(v):
            return r
    return v
