"""``initpolicy coordcheck``: the coordinate check of a policy on a model factory.

Exit 1 when a layer's |slope| under the policy exceeds the threshold, 0 otherwise, 2 on
a usage or load error (as every command).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .options import (
    Destinations,
    Outcome,
    emit,
    file_option,
    force_option,
    format_option,
    policy_option,
    results_only,
    target_argument,
)


def _sizes(ctx: Any, param: Any, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        sizes = ()
    if len(sizes) < 2 or min(sizes) <= 0:
        raise click.BadParameter(f"{text!r}: give two or more positive integers, e.g. 64,128,256")
    return sizes


@click.command("coordcheck")
@target_argument
@policy_option("Policy to check (default mup).")
@click.option("--widths", callback=_sizes, default="64,128,256,512", show_default=True)
@click.option("--depths", callback=_sizes, default=None, help="Check over depths instead.")
@click.option("--width", type=int, default=None, help="The width of a depth check.")
@click.option("--steps", type=click.IntRange(1, 100), default=3, show_default=True)
@click.option(
    "--optimizer", type=click.Choice(["adamw", "adam", "sgd"]), default="adamw", show_default=True
)
@click.option("--lr", type=float, default=1e-2, show_default=True)
@click.option("--threshold", type=float, default=0.35, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@format_option("text", "json")
@file_option("--plot", help="Draw the coordinate-check figure here (PNG; needs matplotlib).")
@force_option("--plot")
@results_only
def coordcheck_command(
    target: str | None,
    policy_spec: str | None,
    policy_values: dict[str, float],
    widths: tuple[int, ...],
    depths: tuple[int, ...] | None,
    width: int | None,
    steps: int,
    optimizer: str,
    lr: float,
    threshold: float,
    seed: int,
    fmt: str,
    plot: Path | None,
    force: bool,
) -> Outcome:
    """Train TARGET at several widths (or depths) a few steps under the policy and under
    the model's own init, and fit how each layer's mean |output| scales with size.

    TARGET is a factory taking width= (and depth=) keyword arguments. Exit 1 when a
    layer's |slope| under the policy exceeds --threshold.

    \b
    initpolicy coordcheck model.py:build --policy mup --widths 64,128,256,512
    initpolicy coordcheck model.py:build --policy completep --depths 2,4,8 --width 64
    """
    from ..api import load_spec
    from ..coordcheck import coordcheck
    from ..coordcheck import plot as draw
    from .targets import load_factory, target_file

    if not (lr > 0 and lr < float("inf")):
        raise UsageError(f"--lr must be a finite number > 0, got {lr}")
    files = Destinations(force=force, inputs=(policy_spec, target_file(target)))
    files.check(plot, "--plot")
    if plot is not None:
        import importlib.util

        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("--plot needs matplotlib (pip install matplotlib)")
    policy = load_spec(policy_spec or "mup", policy_values)
    factory, _ = load_factory(target)
    result = coordcheck(
        factory, policy, widths=widths, depths=depths, width=width, steps=steps,
        optimizer=optimizer, lr=lr, seed=seed, threshold=threshold,
    )  # fmt: skip
    if plot is not None:
        files.check(plot, "--plot")
        draw(result, plot)
    if fmt == "json":
        emit(json.dumps(result.to_json(), indent=2, allow_nan=False))
    else:
        emit(_text(result))
    return Outcome.OK if result.passed() else Outcome.FINDINGS


def _text(result: Any) -> str:
    lines = [
        f"coordinate check over {result.axis}s {', '.join(map(str, result.sizes))}, "
        f"steps 1-{result.steps} judged (|slope| of log mean |output| vs log {result.axis})"
    ]
    for variant in result.values:
        worst = result.worst(variant)
        top = worst[0][1] if worst else 0.0
        lines.append(f"{variant}: worst |slope| {top:.3f}")
        for name, s, t in worst[:5]:
            lines.append(f"  {s:6.3f}  step {t}  {name}")
    verdict = "ok" if result.passed() else "FAILED"
    lines.append(f"{verdict}: policy's worst layer vs threshold {result.threshold}")
    return "\n".join(lines)


COMMANDS: list[click.Command] = [coordcheck_command]
