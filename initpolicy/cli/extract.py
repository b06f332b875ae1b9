"""``initpolicy extract``: the policy a model's own init code follows, on stdout or to a
file; a thin click layer over :func:`initpolicy.api.extract`.

Exit 0 when the policy was written and plans what the code did for every tensor. Exit 1
when it was written but some tensor's plan differs from what the code did: each one is
listed on stderr (and in ``verification`` in the JSON); the policy is still the best
description of the init there is, to review, never a silent success. Exit 2 when nothing
could be written: the target cannot be built, its init code (or a ``--call`` method)
raised, the model has no parameters, or ``-o`` names an existing file without
``--force``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .options import (
    Destinations,
    Outcome,
    emit,
    file_option,
    force_option,
    format_option,
    load_model,
    results_only,
    say,
    target_argument,
    target_options,
)
from .targets import target_source


@click.command("extract")
@target_argument
@file_option(
    "-o",
    "--output-file",
    help="Write the policy (or the JSON) to this file instead of stdout (atomically; an "
    "existing file only with --force).",
)
@force_option("--output-file")
@format_option("text", "json")
@click.option(
    "--call",
    "calls",
    multiple=True,
    metavar="METHOD",
    help="Also run this method of the built model under the recorder (init code the "
    "constructor does not run, e.g. init_weights). Repeatable.",
)
@click.option(
    "--activations",
    is_flag=True,
    help="Trace the model (a forward pass) so rules may use `before ACT`.",
)
@target_options
@results_only
def extract_command(
    target: str | None,
    output_file: Path | None,
    force: bool,
    fmt: str,
    calls: tuple[str, ...],
    activations: bool,
    **target_opts: Any,
) -> Outcome:
    """Write the policy TARGET's own init code follows: every write it makes is recorded
    (torch.nn.init, in-place fills, partial writes, timm and transformers helpers), the
    last write to each element wins, and the policy is checked to plan the same.

    \b
    initpolicy extract model.py                      # the policy on stdout
    initpolicy extract model.py -o init/model.pol    # to a file
    initpolicy extract model.py --format json        # with per-parameter provenance
    initpolicy extract model.py:Net --call init_weights
    """
    from ..api import extract, record
    from ..extractor import dumps

    files = Destinations(force=force, inputs=(target_source(target),))
    files.check(output_file, "-o")
    loaded: list[Any] = []

    def build() -> Any:
        loaded.append(load_model(target, target_opts))
        return loaded[0].model

    recording = record(build, call=calls)
    files.protect(loaded[0].source)
    result = extract(
        recording,
        target=loaded[0].name,
        example_inputs=loaded[0].example_inputs,
        activations=activations,
    )
    text = dumps(result) if fmt == "json" else result.text
    for warning in result.warnings:
        say(f"warning: {warning}")
    if output_file is None:
        emit(text.rstrip("\n"))
    else:
        files.write(
            output_file,
            text if text.endswith("\n") else text + "\n",
            "-o",
            f"{result.n_rules} rules for {result.n_params} parameters",
        )
    if result.ok:
        return Outcome.OK
    n = len(result.synthesis.mismatches)
    click.echo(
        f"error: the policy does not plan what the code did for {n} tensor(s) (listed above)",
        err=True,
    )
    return Outcome.DIFFERS


COMMANDS: list[click.Command] = [extract_command]
