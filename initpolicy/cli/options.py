"""What the commands share: their outcome, the TARGET and --policy options, loading TARGET.

A command returns an :class:`Outcome` (or None for OK) and raises on errors; the exit
code is decided from that in one place, :mod:`initpolicy.cli.main`.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from ..catalog import DTYPES

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
    #: ``extract``: the policy written does not plan what the model's code did.
    DIFFERS = "differs"


F = TypeVar("F", bound=Callable[..., Any])

#: Where a command's results go while it runs: the real standard output (see results_only).
_RESULTS: list[IO[str]] = []


def say(text: str) -> None:
    """Print a diagnostic (a note, a warning, what was written) on stderr, its control
    characters shown as symbols: a warning may quote a model's own exception text."""
    from ..errors import printable

    click.echo(printable(text), err=True)


def emit(text: str) -> None:
    """Print a command's result on standard output (the real one, see :func:`results_only`).
    Text for a terminal: a control character from a policy or a model (a rule's
    ``named "..."`` string) is shown as a symbol, as in an error message."""
    from ..errors import printable

    click.echo(printable(text), file=_RESULTS[-1] if _RESULTS else None)


def results_only(command: F) -> F:
    """Run ``command`` with the model's own prints (at import, in ``forward``) sent to
    stderr: standard output carries only what the command emits, so ``--format json`` is
    JSON a tool can parse whatever the model prints."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        _RESULTS.append(sys.stdout)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                return command(*args, **kwargs)
        finally:
            _RESULTS.pop()

    return run  # type: ignore[return-value]


#: ``ctx.meta`` key of the pyproject.toml the group read (shared by every context).
CONFIG_READ = "initpolicy.config_read"


class Destinations:
    """The files a command writes (``--out``, ``-o``, ``--fix-policy``, ``--plot``): each
    is checked when the command starts, before any model is built, and written at the end
    atomically, by the rules of :mod:`initpolicy.common.files` (never over an existing file
    without ``--force``, never through a link, never over the command's own inputs, never
    one file for two options).

    >>> Destinations(force=False).check(Path("out.pol"), "--fix-policy")
    """

    def __init__(self, *, force: bool, inputs: tuple[str | Path | None, ...] = ()):
        self.force = force
        # the pyproject.toml the group read is an input of every command too
        ctx = click.get_current_context(silent=True)
        config = ctx.meta.get(CONFIG_READ) if ctx is not None else None
        self.inputs = [Path(p) for p in (*inputs, config) if p is not None]
        #: The destinations checked so far, with the option that names each.
        self.claimed: list[tuple[Path, str]] = []

    def check(self, path: Path | None, option: str) -> None:
        """Refuse ``path`` now if it cannot be written (UsageError, exit 2).

        An input is refused first, so that the message never advises a ``--force`` that
        would not help."""
        from ..common import check_destination
        from ..errors import UsageError

        if path is None:
            return
        for source in self.inputs:
            if _same_file(path, source):
                raise UsageError(f"{option} {path} is {source}, an input of this command")
        for other, other_option in self.claimed:
            if other_option != option and _same_file(path, other):
                raise UsageError(f"{option} {path} is also {other_option} {other}")
        check_destination(path, force=self.force)
        if (path, option) not in self.claimed:
            self.claimed.append((path, option))

    def protect(self, *sources: str | Path | None) -> None:
        """Also never write over ``sources`` (the model's source file once it is imported,
        the files a policy included once it is parsed); the destinations already checked
        are checked against them now, before any work."""
        from ..errors import UsageError

        new = [Path(s) for s in sources if s is not None and not str(s).startswith("<")]
        self.inputs += new
        for path, option in self.claimed:
            for source in new:
                if _same_file(path, source):
                    raise UsageError(f"{option} {path} is {source}, an input of this command")

    def protect_policy(self, policy: Any) -> None:
        """:meth:`protect` every file a loaded policy read (itself and its ``use``s)."""
        if policy is not None:
            self.protect(*policy.ir.files)

    def write(self, path: Path, content: Any, option: str, what: str = "") -> None:
        """Write ``content`` (text, bytes, or a writer given the temporary path) to ``path``;
        say so on stderr, with ``what`` was written after a colon when given."""
        from ..common import write_atomic

        self.check(path, option)
        write_atomic(path, content, force=self.force)
        say(f"wrote {path}: {what}" if what else f"wrote {path}")


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: the same inode where both exist (so a hard
    link, ``./x`` or another case on a case-insensitive file system are caught; ``a``
    itself not followed, a link there is refused as a link), else the same resolved path."""
    try:
        if os.path.lexists(a) and os.path.exists(b):
            return os.path.samestat(os.lstat(a), os.stat(b))
        return a.resolve() == b.resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def force_option(*written: str) -> Any:
    """``--force``: overwrite the files the command writes when they exist."""
    return click.option(
        "--force", is_flag=True, help=f"Overwrite {' / '.join(written)} if it exists."
    )


def seed_option(help: str) -> Any:
    """``--seed N``: an exact integer in the one seed range, written as the policy header's
    ``seed N`` is (``7``, ``7.0``, ``1e3``; :func:`initpolicy.catalog.seeds.parse_seed`)."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
        from ..catalog import parse_seed

        try:
            return None if value is None else parse_seed(value)
        except ValueError as e:
            raise click.BadParameter(str(e)) from None

    return click.option("--seed", metavar="N", default=None, callback=check, help=help)


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
    """``--policy/-p POLICY``: a policy file or a built-in name, and ``--set NAME=VALUE``
    (repeatable): a value for one of its ``let`` names. The command receives
    ``policy_spec``, which ``[tool.initpolicy] policy`` defaults (see cli.config), and
    ``policy_values`` (a dict, for :func:`initpolicy.api.load_spec`)."""

    def decorate(fn: Any) -> Any:
        fn = click.option(
            "--set",
            "policy_values",
            multiple=True,
            metavar="NAME=VALUE",
            callback=_parse_values,
            help="Give the policy's `let NAME` this value (repeatable): --set base_width=256.",
        )(fn)
        return click.option("--policy", "-p", "policy_spec", metavar="POLICY", help=help)(fn)

    return decorate


def _parse_values(ctx: Any, param: Any, items: tuple[str, ...]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise click.BadParameter(f"{item!r} is not NAME=VALUE (e.g. base_width=256)")
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not math.isfinite(value):
            raise click.BadParameter(f"{name}={text.strip()!r}: the value must be a finite number")
        if name in out:
            raise click.BadParameter(f"{name} is set twice")
        out[name] = value
    return out


# -- TARGET and its example inputs (shared by trace, apply, explain, lint) ----------------
#: Accepted --input-dtype words (kept torch-free so that the CLI starts fast).
INPUT_DTYPES: tuple[str, ...] = tuple(DTYPES)


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
    """The model TARGET names, with its example inputs; the loader's notes go to stderr.
    What importing it added to ``sys.path``/``sys.modules`` is undone when the command
    ends."""
    from .targets import load_target

    loaded = load_target(target, **target_opts)
    ctx = click.get_current_context(silent=True)
    if ctx is not None:  # the command's end undoes the import's sys.path/sys.modules
        ctx.call_on_close(loaded.restore)
    for note in loaded.notes:
        say(f"note: {note}")
    return loaded


def echo_warnings(graph: Any) -> None:
    """What the tracer had to guess or work around: diagnostics, so stderr."""
    for message in graph.warnings:
        say(f"warning: {message}")
