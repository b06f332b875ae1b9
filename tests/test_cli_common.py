"""What every command shares: errors reach the user as one clean message."""

from __future__ import annotations

from click.testing import CliRunner

from initpolicy.cli.main import EXIT_ERROR, cli


def test_an_initpolicy_error_is_one_message_and_exit_2_for_every_command(tmp_path) -> None:
    missing = str(tmp_path / "missing.py")
    for args in (
        ["trace", missing],
        ["lint", missing],
        ["explain", missing, "--policy", "relu_net"],
        ["apply", missing, "--policy", "relu_net"],
        ["check", str(tmp_path / "missing.pol")],
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == EXIT_ERROR, args
        assert "Traceback" not in result.output
        assert "missing." in result.output, (args, result.output)
