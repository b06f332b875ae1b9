"""What every command shares: exit codes, error printing, the target options."""

from __future__ import annotations

import sys
from typing import Any

import click

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def run_main(group: click.Group) -> None:
    """Run the click group as the ``initpolicy`` program: click's own errors exit 2.

    InitPolicyError is turned into its message and exit 2 by the group itself
    (``cli._Group``), so that click's test runner sees the same as a user.
    """
    try:
        rc = group.main(standalone_mode=False)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    sys.exit(rc if isinstance(rc, int) else EXIT_OK)


def fail(message: str) -> None:
    """Raise a usage error from inside a command (exit 2)."""
    raise click.UsageError(message)


def emit(text: str) -> None:
    click.echo(text)


def warn(text: str) -> None:
    click.echo(text, err=True)


def format_option(*choices: str) -> Any:
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(choices),
        default=choices[0],
        show_default=True,
        help="Output format.",
    )


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
    """The optional TARGET argument (model.py, model.py:NAME, package.module:NAME)."""
    return click.argument("target", required=False, metavar="[TARGET]")(fn)


def target_options(fn: Any) -> Any:
    """``--input-shape`` (repeatable, one per positional input) and ``--input-dtype``.

    The command receives ``input_shape`` and ``input_dtype`` (tuples), which
    :func:`initpolicy.cli.targets.load_target` accepts as keyword arguments as they are::

        @click.command()
        @target_argument
        @target_options
        def cmd(target, **opts):
            loaded = load_target(target, **opts)
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
