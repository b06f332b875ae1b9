"""What the command-line tests share: running the command in-process as a user would (an
escaped exception is a failure of the test, never an outcome), and a model file that leaves
a marker when it is imported (so a test can tell whether a refusal came before the model was
built). The working-directory fixture is ``make_repo`` in conftest.py."""

from __future__ import annotations

from click.testing import CliRunner, Result

#: The file a test model touches next to itself when it is imported.
MARKER = "imported.marker"
#: The model file's line that touches MARKER.
TOUCH_MARKER = f"pathlib.Path(__file__).with_name({MARKER!r}).touch()  # the model was imported"


def invoke(*args: str, input: str | bytes | None = None) -> Result:
    """``initpolicy ARGS`` in this process; click's Result (``exit_code``, ``stdout``,
    ``stderr``, ``output`` both interleaved). An exception that escaped the command (a bug:
    the command must turn every error into a message and an exit code) fails the test."""
    from initpolicy.cli.main import cli

    result = CliRunner().invoke(cli, list(args), input=input)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result


def outcome(*args: str) -> tuple[int, str, str]:
    """``invoke(*args)`` as (exit code, stdout, stderr)."""
    result = invoke(*args)
    return result.exit_code, result.stdout, result.stderr
