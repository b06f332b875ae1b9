"""``initpolicy extract``: the policy a model's own init code follows, on stdout or to a
file; a thin click layer over :func:`initpolicy.api.extract`.

Exit 0 when the policy was written, also when some parameter's plan differs from what the
code did (each one is a warning on stderr, and ``verification`` in the JSON): exit 1 is
lint's alone (findings at the fail level), and the policy is still the best description
of the init there is. Exit 2 when nothing could be written: the target cannot be built,
its init code (or a ``--call`` method) raised, the model has no parameters, or ``-o``
names an existing file without ``--force``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .options import file_option, format_option, load_model, target_argument, target_options


@click.command("extract")
@target_argument
@file_option(
    "-o",
    "--output-file",
    help="Write the policy (or the JSON) to this file instead of stdout (atomically; an "
    "existing file only with --force).",
)
@click.option("--force", is_flag=True, help="Overwrite --output-file if it exists.")
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
def extract_command(
    target: str | None,
    output_file: Path | None,
    force: bool,
    fmt: str,
    calls: tuple[str, ...],
    activations: bool,
    **target_opts: Any,
) -> None:
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
    from ..extractor.provenance import dumps

    if output_file is not None:
        _check_destination(output_file, force=force)
    loaded: list[Any] = []

    def build() -> Any:
        loaded.append(load_model(target, target_opts))
        return loaded[0].model

    recording = record(build, call=calls)
    result = extract(
        recording,
        target=loaded[0].name,
        example_inputs=loaded[0].example_inputs,
        activations=activations,
    )
    text = dumps(result) if fmt == "json" else result.text
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if output_file is None:
        click.echo(text.rstrip("\n"))
        return
    _write_new(output_file, text if text.endswith("\n") else text + "\n", force=force)
    click.echo(
        f"wrote {output_file}: {result.n_rules} rules for {result.n_params} parameters", err=True
    )


# TODO(common/files.py): write through initpolicy.common.files.write_atomic (one safe write
# for every file initpolicy writes) once it is on main; until then these two keep its rules.
def _check_destination(path: Path, *, force: bool) -> None:
    """Asked before the model is built: an existing file needs ``force``; never a
    directory or a link."""
    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link; initpolicy never writes through a link")
    if path.is_dir():
        raise UsageError(f"{path} is a directory")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")


def _write_new(path: Path, text: str, *, force: bool) -> None:
    """Atomically: a temporary file in the same directory, then linked into place (a file
    created meanwhile is never replaced) or, with ``force``, renamed over the old one."""
    _check_destination(path, force=force)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        # mkstemp's file is private (0600): give it the mode a new file gets, or the
        # replaced file's
        mode = path.stat().st_mode & 0o7777 if force and path.exists() else 0o666 & ~_umask()
        os.chmod(tmp, mode)
        if force:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError:
        raise UsageError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


COMMANDS: list[click.Command] = [extract_command]
