"""The ``initpolicy`` command: a thin click layer over the library.

Results go to stdout, diagnostics to stderr; exit codes are decided in one place
(:mod:`initpolicy.cli.options`). Each command lives in the module of its feature
(``cli_policy``, ``cli_trace``, ``cli_apply``, ``cli_lint``) and is registered here.
"""

from __future__ import annotations

from typing import Any

import click

from ..errors import InitPolicyError
from .options import EXIT_ERROR, run_main


class _Group(click.Group):
    """Every command's InitPolicyError becomes its message on stderr and exit 2, in one
    place, whether run as ``initpolicy`` or under click's test runner."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except InitPolicyError as e:
            click.echo(str(e), err=True)
            ctx.exit(EXIT_ERROR)


@click.group(
    cls=_Group,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="initpolicy")
def cli() -> None:
    """Declared, checked and reproducible weight initialization for PyTorch."""


def _register() -> None:
    from . import apply as cli_apply
    from . import lint as cli_lint
    from . import policy as cli_policy
    from . import trace as cli_trace

    for module in (cli_policy, cli_trace, cli_apply, cli_lint):
        for command in module.COMMANDS:
            cli.add_command(command)


_register()


def main() -> None:
    run_main(cli)
