"""``initpolicy check`` and ``initpolicy policies``: the policy language on the command line.

Neither imports torch: checking a policy costs a parse, not a framework start-up.
"""

from __future__ import annotations

import click

from ..errors import Diagnostic, PolicyError
from .options import Outcome


def _describe_ok(name: str, n_rules: int, n_files: int) -> str:
    rules = f"{n_rules} rule{'s' if n_rules != 1 else ''}"
    extra = f" ({n_files - 1} included file{'s' if n_files != 2 else ''})" if n_files > 1 else ""
    return f"{name}: {rules} ok{extra}"


@click.command()
@click.argument("policies", nargs=-1, metavar="POLICY...")
def check(policies: tuple[str, ...]) -> Outcome:
    """Parse and validate policies (files or built-in names); report every error.

    Exit 0 when every policy is valid, 2 otherwise. Without POLICY, checks the
    `policy` named in the nearest pyproject.toml's [tool.initpolicy] table.

    \b
    initpolicy check relu_net.pol init/*.pol
    initpolicy check relu_net            # a built-in policy
    """
    from ..language import parse_any

    if not policies:  # neither given nor configured (cli.config defaults it)
        raise click.UsageError("no POLICY given and no [tool.initpolicy] policy configured")
    if list(policies).count("-") > 1:
        raise click.UsageError("standard input ('-') can be read only once")
    errors: list[Diagnostic] = []
    failed = 0
    for spec in policies:
        try:
            ir = parse_any(spec)
        except PolicyError as e:
            errors.extend(e.diagnostics)
            failed += 1
            continue
        name = "<stdin>" if spec == "-" else spec  # as its errors name it
        click.echo(_describe_ok(name, len(ir.rules), len(ir.files)))
    if errors:
        for d in errors:
            click.echo(d.render(), err=True)
        n = len(errors)
        files = f"{failed} polic{'ies' if failed != 1 else 'y'}"
        click.echo(f"found {n} error{'s' if n != 1 else ''} in {files}", err=True)
        return Outcome.INVALID
    return Outcome.OK


def _summary(path_text: str, name: str) -> str:
    """The first header comment of a policy, without a leading ``name.pol —``."""
    for line in path_text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        if not stripped.startswith("#"):
            return ""
        text = stripped.lstrip("#").strip()
        for prefix in (f"{name}.pol", name):
            if text.startswith(prefix):
                rest = text[len(prefix) :].lstrip()
                if rest[:1] in ("—", "-", ":", "–"):
                    return rest[1:].strip()
        if text:
            return text
    return ""


@click.command()
def policies() -> None:
    """List the built-in policies, one line each: name and what it is for.

    Use one by name (`initpolicy apply model.py --policy relu_net`) or include it in
    a policy file (`use relu_net`).
    """
    from ..language import builtin_policies

    builtins = builtin_policies()
    if not builtins:
        click.echo("no built-in policies", err=True)
        return
    width = max(len(n) for n in builtins)
    for name, path in builtins.items():
        try:
            summary = _summary(path.read_text(encoding="utf-8", errors="replace"), name)
        except OSError:
            summary = ""
        click.echo(f"{name:<{width}}  {summary}".rstrip())


COMMANDS: list[click.Command] = [check, policies]
