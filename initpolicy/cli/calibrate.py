"""``initpolicy calibrate``: run a policy's calibrations (``lsuv``) on data and write the
policy that replays the result without data; a thin click layer over
:func:`initpolicy.api.calibrate`.

Exit 0 when the policy was written (layers that did not converge are warnings on
stderr, and listed in the policy's header and the JSON); 2 when nothing could be
written (a bad --data file, a plan error, ``-o`` over an existing file without --force).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    Destinations,
    emit,
    file_option,
    force_option,
    format_option,
    load_model,
    policy_option,
    results_only,
    seed_option,
    target_argument,
    target_options,
)
from .targets import target_source


@click.command("calibrate")
@target_argument
@policy_option("Policy file or built-in name (e.g. lsuv).")
@seed_option("Overrides the policy's `seed N` (default 0).")
@file_option(
    "--data",
    help="The calibration batch: a .pt (a tensor, a tuple or a dict of tensors) or a "
    ".safetensors file. Without it, 64 synthetic examples (as lint infers inputs).",
)
@file_option(
    "-o",
    "--output-file",
    help="Write the replay policy to this file instead of stdout (atomically; an existing "
    "file only with --force).",
)
@force_option("--output-file")
@format_option("text", "json")
@target_options
@results_only
def calibrate_command(
    target: str | None,
    policy_spec: str | None,
    policy_values: dict[str, float],
    seed: int | None,
    data: Path | None,
    output_file: Path | None,
    force: bool,
    fmt: str,
    **target_opts: Any,
) -> None:
    """Calibrate TARGET by a policy on data (LSUV: each layer rescaled in data-flow order
    until its output variance is 1) and write the policy that replays the calibrated
    weights bit for bit, without data.

    \b
    initpolicy calibrate model.py --policy lsuv --data batch.pt -o calibrated.pol
    initpolicy apply model.py --policy calibrated.pol --out init.pt
    """
    from ..api import calibrate, load_spec, synthetic_inputs
    from ..applier import dumps, load_inputs
    from .apply import _policy_spec

    spec = _policy_spec(policy_spec)
    files = Destinations(force=force, inputs=(spec, target_source(target), data))
    files.check(output_file, "-o")
    inputs = load_inputs(data) if data is not None else None
    policy = load_spec(spec, policy_values)
    files.protect_policy(policy)
    loaded = load_model(target, target_opts)
    files.protect(loaded.source)
    source = str(data) if data is not None else "synthetic inputs"
    if inputs is None:
        inputs = synthetic_inputs(loaded.model, loaded.example_inputs)
        click.echo(
            "note: no --data: calibrating on 64 synthetic examples (N(0, 1) inputs, as lint "
            "infers them); pass --data with real inputs for a calibration that means something",
            err=True,
        )
    result = calibrate(loaded.model, policy, inputs, seed=seed, source=source)
    for r in result.not_converged:
        click.echo(
            f"warning: {r.layer}: output variance {r.after:.4g} after {r.iterations} "
            f"passes, not within {r.tol:g} of {r.target:g}",
            err=True,
        )
    if fmt == "json":
        data_json = result.to_json()
        data_json["policy"] = result.text
        text = dumps(data_json)
    else:
        text = result.text
    if output_file is None:
        emit(text.rstrip("\n"))
        return
    files.write(
        output_file,
        text if text.endswith("\n") else text + "\n",
        "-o",
        f"{len(result.records)} layers calibrated",
    )


COMMANDS: list[click.Command] = [calibrate_command]
