"""The coordinate check: does a parametrization keep every layer's activations the same
size as the model grows (docs/mup.md)?

For each size (widths, or depths at one width) the model is built by its factory, set up
two ways in the same run: ``policy`` (the policy applied, its param_groups and forward
multipliers) and ``standard`` (the model's own init, one learning rate for everything).
Each trains a few steps of the same optimizer on one fixed synthetic batch (inputs
inferred for the model; an MSE loss against a fixed random target of the output's
shape), recording every layer's mean |output| at each step (step 0 is the initial model,
step t the model after t updates). Per layer and step, the slope of log mean |output|
over log size is fitted by least squares; a layer's slope is its largest |slope| over
steps 1..steps. Under μP the judged slopes stay near 0; under the standard
parametrization the readout and the updates grow with width. A depth check also records
every layer's mean |input| (``"NAME (input)"``): the final norm's input is the residual
stream, whose growth with depth CompleteP's branch multipliers stop.

A query layer's output (the trace's attention query, or the query block of a fused qkv
projection) is recorded before the policy's multiplier on it: that multiplier stands for μP's attention scale 1/d, which
microsoft/mup applies inside attention, after the query projection; the query vector
itself is what must stay Θ(1), and the logits it scales shrink at init on purpose.

>>> result = coordcheck(build, initpolicy.load("mup"), widths=(64, 128, 256))  # doctest: +SKIP
>>> result.worst("policy")[0]                                                   # doctest: +SKIP
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .api import Policy
from .errors import UsageError

if TYPE_CHECKING:
    from .tracer import OutputScale

VARIANTS = ("policy", "standard")


@dataclass
class CoordResult:
    """Per variant, layer and step: mean |output| per size; the fitted slopes."""

    axis: str  # "width" or "depth"
    sizes: tuple[int, ...]
    steps: int
    #: variant -> layer -> step -> [mean |output| per size]
    values: dict[str, dict[str, list[list[float]]]] = field(default_factory=dict)
    threshold: float = 0.35

    def slopes(self, variant: str) -> dict[str, list[float | None]]:
        """Layer -> slope of log mean |output| over log size, per step (None: a zero)."""
        xs = [math.log(s) for s in self.sizes]
        out: dict[str, list[float | None]] = {}
        for layer, per_step in self.values[variant].items():
            out[layer] = [_slope(xs, ys) for ys in per_step]
        return out

    def worst(self, variant: str) -> list[tuple[str, float, int]]:
        """(layer, |slope|, step) over the judged steps 1..steps, worst first."""
        rows = []
        for layer, slopes in self.slopes(variant).items():
            judged = [(abs(s), t) for t, s in enumerate(slopes) if t >= 1 and s is not None]
            if judged:
                v, t = max(judged)
                rows.append((layer, v, t))
        return sorted(rows, key=lambda r: -r[1])

    def passed(self) -> bool:
        worst = self.worst("policy")
        return not worst or worst[0][1] <= self.threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "axis": self.axis,
            "sizes": list(self.sizes),
            "steps": self.steps,
            "threshold": self.threshold,
            "passed": self.passed(),
            "variants": {
                v: {
                    "worst": [
                        {"layer": n, "slope": s, "step": t} for n, s, t in self.worst(v)[:10]
                    ],
                    "layers": {
                        n: {"values": vals, "slopes": self.slopes(v)[n]}
                        for n, vals in self.values[v].items()
                    },
                }
                for v in self.values
            },
        }


def _slope(xs: list[float], ys: list[float]) -> float | None:
    if any(y <= 0 or not math.isfinite(y) for y in ys):
        return None
    ly = [math.log(y) for y in ys]
    mx, my = sum(xs) / len(xs), sum(ly) / len(ly)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ly, strict=True)) / var


def _optimizer(kind: str, groups: list[dict[str, Any]]) -> Any:
    import torch

    if kind == "sgd":
        return torch.optim.SGD(groups)
    return (torch.optim.AdamW if kind == "adamw" else torch.optim.Adam)(groups)


def _first_tensor(x: Any) -> Any:
    import torch

    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, tuple | list) and x:
        return _first_tensor(x[0])
    if isinstance(x, dict) and x:
        return _first_tensor(next(iter(x.values())))
    if hasattr(x, "to_tuple"):  # transformers' ModelOutput
        return _first_tensor(x.to_tuple())
    return None


def _run_one(
    model: Any,
    groups: list[dict[str, Any]],
    optimizer: str,
    steps: int,
    seed: int,
    keep: Callable[[str], bool],
    inputs: bool = False,
    before: dict[str, OutputScale] | None = None,
) -> dict[str, list[float]]:
    """Train ``steps`` steps on one synthetic batch; layer -> mean |output| per step (and
    ``"layer (input)"`` -> mean |input| with ``inputs``: a depth check's residual stream
    is the input of the final norm). ``before``: layer -> the inverse of the multiplier on
    its output (a query's, or a fused qkv's query block), so that it is read before it."""
    import torch

    from .tracer import infer

    torch.manual_seed(seed)
    args, kwargs = infer(model)[0]
    record: dict[str, float] = {}
    handles = []
    for name, module in model.named_modules():
        if not name or not keep(name) or not any(True for _ in module.parameters(recurse=False)):
            continue

        def hook(m: Any, inp: Any, out: Any, name: str = name) -> None:
            t = _first_tensor(out)
            if t is not None and t.is_floating_point():
                undo = (before or {}).get(name)
                t = t.detach() if undo is None else undo(m, inp, t.detach())
                record[name] = float(t.abs().mean())
            t = _first_tensor(inp) if inputs else None
            if t is not None and t.is_floating_point():
                record[f"{name} (input)"] = float(t.detach().abs().mean())

        handles.append(module.register_forward_hook(hook))
    opt = _optimizer(optimizer, groups)
    per_layer: dict[str, list[float]] = {}
    target = None
    try:
        model.train()
        for _ in range(steps + 1):
            record.clear()
            out = _first_tensor(model(*args, **kwargs))
            for name, v in record.items():
                per_layer.setdefault(name, []).append(v)
            if target is None:
                gen = torch.Generator().manual_seed(seed + 1)
                target = torch.randn(out.shape, generator=gen, dtype=out.dtype)
            loss = (out - target).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    finally:
        for h in handles:
            h.remove()
    return per_layer


def coordcheck(
    factory: Callable[..., Any],
    policy: Policy,
    *,
    widths: Sequence[int] = (64, 128, 256, 512),
    depths: Sequence[int] | None = None,
    width: int | None = None,
    steps: int = 3,
    optimizer: str = "adamw",
    lr: float = 1e-2,
    seed: int = 0,
    threshold: float = 0.35,
    variants: Sequence[str] = VARIANTS,
) -> CoordResult:
    """Run the coordinate check over ``widths`` (or over ``depths`` at ``width``, default
    the smallest of ``widths``); see the module docstring."""
    from .planner import check_optimizer

    optimizer = check_optimizer(optimizer)
    if steps < 1:
        raise UsageError(f"steps must be at least 1, got {steps}")
    if depths:
        axis, sizes = "depth", tuple(int(d) for d in depths)
        at = width or min(widths)
        build = [(lambda d=d: factory(width=at, depth=d)) for d in sizes]
    else:
        axis, sizes = "width", tuple(int(w) for w in widths)
        build = [(lambda w=w: factory(width=w)) for w in sizes]
    if len(sizes) < 2 or len(set(sizes)) != len(sizes) or min(sizes) <= 0:
        raise UsageError(f"coordcheck needs two or more distinct positive {axis}s, got {sizes}")
    result = CoordResult(axis, sizes, steps, threshold=threshold)
    for variant in variants:
        runs = []
        for make in build:
            import torch

            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = make()
            before: dict[str, OutputScale] = {}
            if variant == "policy":
                from .tracer import OutputScale

                plan = policy.apply(model, seed=seed).plan
                queries = {lay.name for lay in plan.graph.layers if lay.roles.attention == "query"}
                # a query layer's multiplier, or a fused qkv's on its query block
                before = {
                    n: OutputScale(1 / o.value, o.block)
                    for n, o in plan.outputs.items()
                    if n in queries or o.block is not None
                }
                groups = policy.param_groups(model, lr=lr, optimizer=optimizer)
            else:
                groups = [{"params": list(model.parameters()), "lr": lr}]
            runs.append(
                _run_one(
                    model, groups, optimizer, steps, seed, lambda n: True, axis == "depth", before
                )
            )
        common = set.intersection(*(set(r) for r in runs))
        result.values[variant] = {
            name: [[r[name][t] for r in runs] for t in range(steps + 1)]
            for name in runs[0]
            if name in common and all(len(r[name]) == steps + 1 for r in runs)
        }
    return result


def plot(result: CoordResult, path: Any) -> None:
    """The classic coordinate-check figure: per variant and step, every layer's mean
    |output| against size on log-log axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    variants = list(result.values)
    fig, axes = plt.subplots(
        len(variants), result.steps + 1, figsize=(3 * (result.steps + 1), 2.6 * len(variants)),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for i, v in enumerate(variants):
        for t in range(result.steps + 1):
            ax = axes[i][t]
            for per_step in result.values[v].values():
                ax.plot(result.sizes, per_step[t], marker=".", linewidth=0.8)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_title(f"{v}, step {t}", fontsize=9)
            if i == len(variants) - 1:
                ax.set_xlabel(result.axis)
        axes[i][0].set_ylabel("mean |output|")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
