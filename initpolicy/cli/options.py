"""What the commands share: their outcome, the TARGET and --policy options, loading TARGET.

A command returns an :class:`Outcome` (or None for OK) and raises on errors; the exit
code is decided from that in one place, :mod:`initpolicy.cli.main`.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pragma: no cover
    from .targets import LoadedTarget


class Outcome(enum.Enum):
    """What a command found, beyond success; :mod:`initpolicy.cli.main` maps it to the exit
    code. Errors are not outcomes: they are raised (InitPolicyError, click's UsageError)."""

    OK = "ok"
    #: ``lint``: a finding reached the fail level.
    FINDINGS = "findings"
    #: ``check``: a policy did not validate; its diagnostics are already on stderr.
    INVALID = "invalid"


def format_option(*choices: str) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


def file_option(*names: str, help: str) -> Any:
    """An option naming a file the command writes (``--out``, ``-o/--output-file``, ...)."""
    return click.option(
        *names, type=click.Path(dir_okay=False, path_type=Path), default=None, help=help
    )


def policy_option(help: str) -> Any:
    """``--policy/-p POLICY``: a policy file or a built-in name. The command receives
    ``policy_spec``, which ``[tool.initpolicy] policy`` defaults (see cli.config)."""
    return click.option("--policy", "-p", "policy_spec", metavar="POLICY", help=help)


# -- TARGET and its example inputs (shared by trace, apply, explain, lint) ----------------
#: Accepted --input-dtype words (kept torch-free so that the CLI starts fast).
INPUT_DTYPES: tuple[str, ...] = (
    "float",
    "float32",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "long",
    "int64",
    "int",
    "int32",
    "bool",
)


def _parse_shapes(ctx: Any, param: Any, values: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    shapes = []
    for text in values:
        parts = [p.strip() for p in text.replace("x", ",").split(",") if p.strip()]
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            shape = ()
        if not shape or any(s <= 0 for s in shape):
            raise click.BadParameter(
                f"{text!r} is not a shape; expected positive integers like 1,3,32,32"
            )
        shapes.append(shape)
    return tuple(shapes)


def target_argument(fn: Any) -> Any:
    """The optional TARGET argument (model.py, model.py:NAME, package.module:NAME); its
    default is ``[tool.initpolicy] model`` (see cli.config)."""
    return click.argument("target", required=False, metavar="[TARGET]")(fn)


def target_options(fn: Any) -> Any:
    """``--input-shape`` (repeatable, one per positional input) and ``--input-dtype``.

    The command receives ``input_shape`` and ``input_dtype`` (tuples), which
    :func:`load_model` accepts as they are::

        @click.command()
        @target_argument
        @target_options
        def cmd(target, **opts):
            loaded = load_model(target, opts)
    """
    fn = click.option(
        "--input-dtype",
        "input_dtype",
        multiple=True,
        type=click.Choice(INPUT_DTYPES),
        help="dtype of the example input(s): one for all, or one per --input-shape "
        "(default float32; long for token ids).",
    )(fn)
    return click.option(
        "--input-shape",
        "input_shape",
        multiple=True,
        callback=_parse_shapes,
        metavar="1,3,32,32",
        help="Shape of an example input (repeat for several positional inputs). Used when "
        "the model's file has no example_inputs(); otherwise inferred (by forward's input "
        "names and the model's config, or from the first layer).",
    )(fn)


def load_model(target: str | None, target_opts: dict[str, Any]) -> LoadedTarget:
    """The model TARGET names, with its example inputs; the loader's notes go to stderr."""
    from .targets import load_target

    loaded = load_target(target, **target_opts)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    return loaded


def echo_warnings(graph: Any) -> None:
    """What the tracer had to guess or work around: diagnostics, so stderr."""
    for message in graph.warnings:
        click.echo(f"warning: {message}", err=True)
