"""Checks of an extraction that do not use the extractor's own comparison:

- ``planned``: the policy TEXT is parsed afresh and planned on the model as ``apply``
  plans it; every parameter (and block) gets the recorded scheme family and std/bound to
  1e-9; a fitted one, within sampling error of the code's own values;
- ``recorded``: the code's own values agree with each recorded law (std within sampling
  error): the recorder described what really happened;
- ``applied``: ``Policy.apply`` draws from the same distributions as the code did:
  constants exact, ``keep`` untouched, orthogonal still orthogonal, padding rows zero,
  random tensors with the same std and, recorded ones, the same distribution by a
  two-sample Kolmogorov-Smirnov test (p > 1e-6).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from scipy import stats

import initpolicy
from initpolicy.extractor.laws import Law, own_default
from initpolicy.extractor.verify import family
from initpolicy.planner.match import build_plan, needs_trace
from initpolicy.tracer.fans import legacy_weight_norms
from initpolicy.tracer.tracing import trace

#: Sampling error allowed, in standard errors.
K = 6.0


def tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's parameters and the weights its weight_norm layers compute from them
    (``conv.weight`` from ``original0``/``original1``, the legacy hook's from ``weight_g``
    and ``weight_v``): what a rule on a computed weight is about."""
    out = {n: p.detach() for n, p in model.named_parameters()}
    for mod_name, module in model.named_modules():
        prefix = f"{mod_name}." if mod_name else ""
        plist = getattr(module, "parametrizations", None)
        for local in plist.keys() if plist is not None else ():
            out[prefix + local] = getattr(module, local).detach()
        for local, hook in legacy_weight_norms(module).items():
            out[prefix + local] = hook.compute_weight(module).detach()
    return out


def laws(result: Any) -> list[tuple[str, str | None, Law, Any]]:
    """(tensor name, block, law, item) for everything with a law of its own."""
    out = []
    seen = set()
    for it in result.observation.items:
        if it.is_alias or it.law is None or it.key in seen:
            continue
        seen.add(it.key)
        out.append((it.param.name, it.block, it.law, it))
    return out


def _std_close(values: torch.Tensor, std: float) -> bool:
    n = values.numel()
    se = max(std, 1e-30) / math.sqrt(2 * n)
    return abs(float(values.double().std()) - std) <= K * se + 1e-7


def planned(result: Any, model: torch.nn.Module, original: dict[str, torch.Tensor]) -> list[str]:
    policy = initpolicy.load(result.text)
    graph = trace(model, tracer=None if needs_trace(policy.ir) else "modules")
    plan = build_plan(policy.ir, graph, include_frozen=True)
    entries = {(e.param.name, e.block): e for e in plan.entries}
    problems: list[str] = []
    for name, block, law, it in laws(result):
        label = name + (f"[{block}]" if block else "")
        e = entries.get((name, block))
        if law.scheme == "keep":
            if e is not None and e.scheme != "keep":
                problems.append(f"{label}: planned {e.scheme}, the code's values are kept")
            continue
        if e is None:
            problems.append(f"{label}: not planned")
        elif e.scheme == "default":
            # the module's own reset_parameters: right where that method wrote the law
            if not own_default(law, e.layer.types):
                problems.append(f"{label}: default, but {law.scheme} was not written by it")
        elif family(e.scheme, e.args) != family(law.scheme, law.args):
            problems.append(
                f"{label}: {family(e.scheme, e.args)} != {family(law.scheme, law.args)}"
            )
        elif law.how == "fitted":
            x = _code_values(original[name], it, block, result)
            if e.std is not None and x.numel() >= 16 and not _std_close(x, e.std):
                problems.append(f"{label}: planned std {e.std} vs the code's {x.std():.6g}")
        else:
            for what, got, want in (("std", e.std, law.std), ("bound", e.bound, law.bound)):
                if (got is None) != (want is None) or (
                    got is not None and not math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-15)
                ):
                    problems.append(f"{label}: planned {what} {got} != recorded {want}")
    return problems


def _rows(t: torch.Tensor, it: Any, block: str | None, result: Any) -> torch.Tensor:
    """The rows a law is about: a block's own rows; for the whole tensor, the rows no
    block law of its own covers."""
    if block is not None:
        b = it.param.blocks[block]
        return t[b.start : b.stop]
    laws = result.observation.tensors.get(it.param.name)  # none for a computed weight
    own = laws.blocks if laws is not None else {}
    if not own:
        return t
    keep = torch.ones(t.shape[0], dtype=torch.bool)
    for name in own:
        b = it.param.blocks[name]
        keep[b.start : b.stop] = False
    return t[keep]


def _padding(it: Any) -> int | None:
    module = it.layer.module
    if isinstance(module, torch.nn.Embedding) and it.param.local == "weight":
        return module.padding_idx
    return None


def _code_values(t: torch.Tensor, it: Any, block: str | None, result: Any) -> torch.Tensor:
    """The law's rows as a flat tensor, without an Embedding's padding row."""
    rows = _rows(t, it, block, result)
    pad = _padding(it) if block is None else None
    if pad is None:
        return rows.reshape(-1)
    keep = torch.ones(rows.shape[0], dtype=torch.bool)
    keep[pad] = False
    return rows[keep].reshape(-1)


def recorded(result: Any, original: dict[str, torch.Tensor]) -> list[str]:
    """The code's values agree with the recorded laws (std within sampling error)."""
    problems = []
    for name, block, law, it in laws(result):
        drawn = family(law.scheme, law.args)[0] in ("normal", "uniform", "trunc")
        if law.how != "recorded" or law.std is None or not drawn:
            continue
        x = _code_values(original[name], it, block, result)
        if x.numel() >= 64 and not _std_close(x, law.std):
            problems.append(
                f"{name}: the code's std {float(x.double().std()):.5g} vs {law.std:.5g}"
            )
    return problems


def applied(result: Any, model: torch.nn.Module, original: dict[str, torch.Tensor]) -> list[str]:
    """Apply the policy to ``model``; compare with the code's values (``original``)."""
    initpolicy.load(result.text).apply(model, seed=0, include_frozen=True)
    now = tensors(model)
    problems: list[str] = []
    for name, block, law, it in laws(result):
        label = name + (f"[{block}]" if block else "")
        x = _code_values(original[name], it, block, result)
        y = _code_values(now[name].detach(), it, block, result)
        pad = _padding(it) if block is None else None
        if pad is not None and not bool((now[name][pad] == 0).all()):
            problems.append(f"{label}: padding row {pad} not zero")
        fam = family(law.scheme, law.args)
        if law.scheme == "keep" or law.scheme in ("eye", "dirac", "linspace"):
            if not torch.equal(x, y):
                problems.append(f"{label}: {law.scheme} changed the values")
        elif fam[0] == "constant":
            if not bool((y == fam[1]).all()):
                problems.append(f"{label}: not all {fam[1]}")
        elif law.scheme == "orthogonal":
            problems += _orthogonal(label, _rows(now[name].detach(), it, block, result), law)
        elif y.numel() >= 32 and law.std is not None:
            if not _std_close(y, law.std):
                problems.append(f"{label}: applied std {float(y.std()):.5g} vs {law.std:.5g}")
            if law.how == "recorded" and y.numel() >= 256:
                p = stats.ks_2samp(x.double().numpy(), y.double().numpy()).pvalue
                if p < 1e-6:
                    problems.append(f"{label}: two-sample KS p = {p:.2g}: not the code's law")
    return problems


def _orthogonal(label: str, w: torch.Tensor, law: Law) -> list[str]:
    m = w.reshape(w.shape[0], -1).double()
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    gain2 = float(law.args.get("gain", 1.0)) ** 2
    if float((g - gain2 * torch.eye(g.shape[0], dtype=g.dtype)).abs().max()) > 1e-4 * max(gain2, 1):
        return [f"{label}: not orthogonal with gain {law.args.get('gain', 1.0)}"]
    return []
