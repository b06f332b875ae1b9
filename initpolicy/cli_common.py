"""What every command shares: exit codes, error printing, the target options."""

from __future__ import annotations

import sys
from typing import Any

import click

from .errors import InitPolicyError

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_ERROR = 2


def run_main(group: click.Group) -> None:
    """Run the click group; any InitPolicyError becomes a clean message and exit 2."""
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
    except InitPolicyError as e:
        click.echo(f"error: {e}" if "\n" not in str(e) and ":" not in str(e)[:200] else str(e), err=True)
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
