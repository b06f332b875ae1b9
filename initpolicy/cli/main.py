"""The ``initpolicy`` command: a thin click layer over the library.

Results go to stdout, diagnostics to stderr. Two things are decided here, once each:

* the configuration: the group reads the nearest pyproject.toml's ``[tool.initpolicy]``
  before any command's context exists and hands it to click as ``default_map``
  (:mod:`initpolicy.cli.config`); no command reads the file itself;
* the exit code: a command returns an :class:`~initpolicy.cli.options.Outcome` or raises,
  and :meth:`InitPolicyGroup.main` maps that to one of the ``EXIT_*`` codes, the same
  under click's test runner as for the installed program.

Each command lives in the module of its feature (``policy``, ``trace``, ``apply``,
``lint``, ``extract``) and is registered here.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from ..errors import InitPolicyError
from .options import Outcome

EXIT_OK = 0
#: ``lint`` only: a finding reached the fail level.
EXIT_FINDINGS = 1
#: A usage, input, load or plan error, in every command.
EXIT_ERROR = 2
#: Ctrl-C: 128 + SIGINT, what a shell reports for a program the signal ended.
EXIT_INTERRUPTED = 130

EXIT_CODES: dict[Outcome, int] = {
    Outcome.OK: EXIT_OK,
    Outcome.FINDINGS: EXIT_FINDINGS,
    Outcome.INVALID: EXIT_ERROR,
}


def exit_code(run: Callable[[], Any]) -> int:
    """Run a command (click in non-standalone mode) and decide its exit code.

    Errors are reported here, on stderr: click's usage errors as click shows them, an
    InitPolicyError as its message alone (it is written to be read, never a traceback).
    """
    try:
        result = run()
    except click.ClickException as e:
        e.show()
        return EXIT_ERROR  # not click's own 1 for some of them: 1 means lint findings
    except InitPolicyError as e:
        click.echo(str(e), err=True)
        return EXIT_ERROR
    except (click.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort; it also aborts on EOF at a prompt, but no
        # command prompts, so an Abort is always the user's interrupt.
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    if isinstance(result, Outcome):
        return EXIT_CODES[result]
    if isinstance(result, int):  # click's own exits: --help, --version
        return result
    return EXIT_OK


class InitPolicyGroup(click.Group):
    """The ``initpolicy`` group: its :meth:`main` is where every exit code is decided."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run a command; exit with its code (``standalone_mode=False``: return the code).

        click's standalone mode is turned off underneath so that errors, Ctrl-C and
        outcomes all reach :func:`exit_code` instead of click's own handlers.
        """
        code = exit_code(
            lambda: super(InitPolicyGroup, self).main(
                args,
                prog_name,
                complete_var,
                standalone_mode=False,
                windows_expand_args=windows_expand_args,
                **extra,
            )
        )
        if standalone_mode:
            sys.exit(code)
        return code


@click.group(
    cls=InitPolicyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="initpolicy")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Declared, checked and reproducible weight initialization for PyTorch.

    TARGET, --policy and lint's settings default to the nearest pyproject.toml's
    [tool.initpolicy] table.
    """
    from .config import default_map, load_config

    # Read here, once, before the subcommand's context exists: click gives that context
    # default_map[command] and every parameter takes its default from it.
    ctx.default_map = default_map(load_config())


def _register() -> None:
    from . import apply as cli_apply
    from . import calibrate as cli_calibrate
    from . import extract as cli_extract
    from . import lint as cli_lint
    from . import policy as cli_policy
    from . import trace as cli_trace

    for module in (cli_policy, cli_trace, cli_apply, cli_calibrate, cli_lint, cli_extract):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """The ``initpolicy`` console script."""
    cli.main()
