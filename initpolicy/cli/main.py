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

from .. import __version__
from ..errors import InitPolicyError, printable
from .options import Outcome

EXIT_OK = 0
#: ``lint``: a finding reached the fail level; ``extract``: the policy it wrote does not
#: plan what the model's own code did (the differences are listed on stderr).
EXIT_FINDINGS = 1
#: A usage, input, load or plan error, in every command.
EXIT_ERROR = 2
#: An unexpected error: a bug in initpolicy (sysexits' EX_SOFTWARE), never 0, 1 or 2, so
#: that a crash is not read as "no findings", "findings" or "bad input".
EXIT_BUG = 70
#: Ctrl-C: 128 + SIGINT, what a shell reports for a program the signal ended.
EXIT_INTERRUPTED = 130
#: Where a crash is to be reported.
BUG_REPORTS = "https://github.com/initpolicy/initpolicy/issues"

EXIT_CODES: dict[Outcome, int] = {
    Outcome.OK: EXIT_OK,
    Outcome.FINDINGS: EXIT_FINDINGS,
    Outcome.DIFFERS: EXIT_FINDINGS,
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
        # the message may quote a model's own exception or names: shown, never obeyed
        click.echo(printable(str(e)), err=True)
        return EXIT_ERROR
    except (click.Abort, KeyboardInterrupt):
        # click turns Ctrl-C into Abort; it also aborts on EOF at a prompt, but no
        # command prompts, so an Abort is always the user's interrupt.
        click.echo("interrupted", err=True)
        return EXIT_INTERRUPTED
    except Exception as e:  # anything else is a bug: said so, with its own exit code
        click.echo(printable(crash_report(e)), err=True)
        return EXIT_BUG
    if isinstance(result, Outcome):
        return EXIT_CODES[result]
    if isinstance(result, int):  # click's own exits: --help, --version
        return result
    return EXIT_OK


def crash_report(e: BaseException) -> str:
    """What a user sees for an unexpected error: that it is a bug, where it happened, and
    where to report it (``INITPOLICY_TRACEBACK=1`` adds the traceback).

    >>> try:
    ...     {}["x"]
    ... except KeyError as e:
    ...     print(crash_report(e).splitlines()[0])
    initpolicy: internal error: KeyError: 'x'
    """
    import os
    import traceback

    frames = traceback.extract_tb(e.__traceback__)
    ours = [f for f in frames if "initpolicy" in f.filename.replace("\\", "/").split("/")]
    where = (ours or frames)[-1] if frames else None
    lines = [f"initpolicy: internal error: {type(e).__name__}: {e}".rstrip(": ")]
    if where is not None:
        lines.append(f"  at {where.filename}:{where.lineno} in {where.name}")
    lines.append(
        "this is a bug in initpolicy: please report it at "
        f"{BUG_REPORTS} with the command you ran (INITPOLICY_TRACEBACK=1 shows the traceback)"
    )
    if os.environ.get("INITPOLICY_TRACEBACK") == "1":
        lines.append("".join(traceback.format_exception(e)).rstrip())
    return "\n".join(lines)


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
@click.version_option(__version__, prog_name="initpolicy")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Declared, checked and reproducible weight initialization for PyTorch.

    TARGET, --policy and lint's settings default to the nearest pyproject.toml's
    [tool.initpolicy] table.
    """
    from .config import default_map, load_config
    from .options import CONFIG_READ

    # Read here, once, before the subcommand's context exists: click gives that context
    # default_map[command] and every parameter takes its default from it.
    config = load_config()
    params = {name: [p.name for p in c.params] for name, c in cli.commands.items()}
    ctx.default_map = default_map(config, params)
    if config is not None:  # an input: no command may write over it
        ctx.meta[CONFIG_READ] = config.path


def _register() -> None:
    from . import apply as cli_apply
    from . import calibrate as cli_calibrate
    from . import coordcheck as cli_coordcheck
    from . import extract as cli_extract
    from . import lint as cli_lint
    from . import policy as cli_policy
    from . import trace as cli_trace

    for module in (
        cli_policy,
        cli_trace,
        cli_apply,
        cli_calibrate,
        cli_lint,
        cli_extract,
        cli_coordcheck,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    """The ``initpolicy`` console script."""
    cli.main()
