"""What a policy may read, and how much (docs/guarantees.md): only regular files, never past
16 MiB; ``use`` only ``*.pol`` files and built-ins; an error shows at most the offending
line of a file that decoded as a policy. Odd paths (too long, a link loop, a deep chain of
includes) are clean errors, never a traceback. Lines are counted as editors count them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import initpolicy
from initpolicy.common import files
from initpolicy.errors import PolicyError
from initpolicy.language.loader import MAX_BYTES, MAX_INCLUDE_DEPTH, parse_any

SECRET = "AWS_SECRET_ACCESS_KEY=hunter2"


def _message(fn, *args) -> str:
    with pytest.raises(PolicyError) as err:
        fn(*args)
    return str(err.value)


# -- use reads policy files only -----------------------------------------------------------


def test_use_refuses_a_file_not_named_pol_without_reading_it():
    msg = _message(initpolicy.load, 'use "/proc/self/environ"')
    assert msg.splitlines()[0] == (
        "<string>:1:5: use includes policy files, named *.pol: '/proc/self/environ' is not one"
    )
    assert "PATH=" not in msg and "HOME=" not in msg


def test_use_refuses_a_pol_link_to_another_file(tmp_path: Path):
    (tmp_path / "secret.env").write_text(f"{SECRET}\n")
    (tmp_path / "base.pol").symlink_to(tmp_path / "secret.env")
    (tmp_path / "p.pol").write_text('use "base.pol"\n')
    msg = _message(initpolicy.load, str(tmp_path / "p.pol"))
    assert "use includes policy files, named *.pol: 'base.pol' is not one" in msg
    assert SECRET not in msg


# -- the policy a command names follows the same rules ----------------------------------------

CREDENTIALS = f"[default]\naws_access_key_id = AKIAEXAMPLE\n{SECRET}\n"


@pytest.mark.parametrize("how", ["command", "pyproject"])
def test_a_named_pol_link_to_a_file_that_is_not_a_policy_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from click.testing import CliRunner

    from initpolicy.cli.main import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "credentials").write_text(CREDENTIALS)
    (tmp_path / "init").mkdir()
    (tmp_path / "init" / "model.pol").symlink_to("../credentials")
    args = ["check", "init/model.pol"]
    if how == "pyproject":
        (tmp_path / "pyproject.toml").write_text('[tool.initpolicy]\npolicy = "init/model.pol"\n')
        args = ["check"]
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 2
    assert r.stderr.splitlines()[0] == (
        "init/model.pol: policies are files named *.pol: 'model.pol' is a link to "
        "'credentials', which is not one"
    )
    assert "AKIA" not in r.output and SECRET not in r.output and "default" not in r.output


def test_a_named_file_not_called_pol_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text(CREDENTIALS)
    msg = _message(parse_any, tmp_path / "credentials")
    assert (
        msg
        == f"{tmp_path / 'credentials'}: policies are files named *.pol: 'credentials' is not one"
    )


def test_a_pol_link_to_another_policy_is_read(tmp_path: Path) -> None:
    (tmp_path / "shared.pol").write_text("Linear -> zeros()\n")
    (tmp_path / "model.pol").symlink_to("shared.pol")
    assert len(parse_any(tmp_path / "model.pol").rules) == 1


@pytest.mark.parametrize("where", ["named", "included"])
def test_a_pol_file_that_is_no_policy_at_all_is_not_echoed(tmp_path: Path, where: str) -> None:
    """A .pol file holding something else (credentials committed under a policy's name)
    is one error that quotes nothing of it, not its lines as syntax errors."""
    (tmp_path / "creds.pol").write_text(CREDENTIALS)
    (tmp_path / "p.pol").write_text('use "creds.pol"\n')
    msg = _message(parse_any, tmp_path / ("creds.pol" if where == "named" else "p.pol"))
    assert "not a policy: no rule (SELECTOR -> SCHEME) and no use, let or seed line" in msg
    assert len(msg.splitlines()) <= 3
    assert "AKIA" not in msg and SECRET not in msg and "default" not in msg


def test_a_policy_with_a_typo_on_every_line_still_shows_its_lines(tmp_path: Path) -> None:
    (tmp_path / "p.pol").write_text("Linear before ReLU kaiming_normal(fan_in)\n")
    msg = _message(parse_any, tmp_path / "p.pol")
    assert "    Linear before ReLU kaiming_normal(fan_in)" in msg


def test_a_policy_file_holding_binary_data_is_refused_without_showing_it(tmp_path: Path):
    (tmp_path / "environ.pol").write_bytes(f"HOME=/root\0{SECRET}\0".encode())
    msg = _message(initpolicy.load, str(tmp_path / "environ.pol"))
    assert msg == f"{tmp_path / 'environ.pol'}:1:11: not a policy: a NUL byte (binary data)"


def test_an_error_shows_only_the_offending_line(tmp_path: Path):
    (tmp_path / "p.pol").write_text(f"# {SECRET}\nLinear -> nosuch()\n")
    msg = _message(initpolicy.load, str(tmp_path / "p.pol"))
    assert SECRET not in msg and "Linear -> nosuch()" in msg


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("how", ["direct", "use"])
def test_a_fifo_is_refused_without_blocking(tmp_path: Path, how: str):
    os.mkfifo(tmp_path / "f.pol")
    (tmp_path / "p.pol").write_text('use "f.pol"\n')
    target = tmp_path / ("f.pol" if how == "direct" else "p.pol")
    assert "not a regular file" in _message(initpolicy.load, str(target))


# -- how much is read --------------------------------------------------------------------


def test_a_huge_policy_file_is_refused_by_its_size_before_reading(tmp_path: Path):
    big = tmp_path / "big.pol"
    with big.open("wb") as f:
        f.truncate(3 * 1024**3)  # sparse: 3 GB on paper, nothing on disk
    start = time.perf_counter()
    msg = _message(initpolicy.load, str(big))
    assert time.perf_counter() - start < 1.0
    assert msg == f"{big}: too large to be a policy (3,221,225,472 bytes; the limit is 16,777,216)"


def test_read_limited_never_reads_past_the_limit(tmp_path: Path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    reads: list[int] = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    with pytest.raises(files.TooLarge) as err:
        files.read_limited(path, 10)
    assert err.value.size == 100 and reads == []  # refused by fstat alone
    # a file whose size the file system does not know (/proc) is read to limit + 1 at most
    monkeypatch.setattr(
        os, "fstat", lambda fd: os.stat_result((0o100644, 0, 0, 1, 0, 0, 0, 0, 0, 0))
    )
    with pytest.raises(files.TooLarge) as err:
        files.read_limited(path, 10)
    assert err.value.size is None and sum(reads) == 11


def test_the_limit_is_16_mib():
    assert MAX_BYTES == 16 * 1024 * 1024


# -- odd paths and chains ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["# " + "x" * 300, "let " + "x" * 300 + " = 1", "   " + "#" * 400],
    ids=["long comment", "long let", "indented comment"],
)
def test_one_long_line_of_policy_text_is_text_not_a_path(text: str):
    assert initpolicy.load(text).rules == ()


@pytest.mark.parametrize("name", ["a" * 300 + ".pol", "a" * 300])
def test_a_policy_name_too_long_is_a_clean_error(name: str):
    msg = _message(parse_any, name)
    assert msg.startswith(name) and (
        "File name too long" in msg or "no such policy file or built-in policy" in msg
    )


def test_a_symlink_loop_is_a_clean_error_checked_directly_or_through_use(tmp_path: Path):
    (tmp_path / "loop.pol").symlink_to(tmp_path / "loop.pol")
    (tmp_path / "p.pol").write_text('use "loop.pol"\n')
    direct = _message(parse_any, str(tmp_path / "loop.pol"))
    assert direct == f"{tmp_path / 'loop.pol'}: cannot read: Too many levels of symbolic links"
    used = _message(parse_any, str(tmp_path / "p.pol"))
    assert "p.pol:1:5: cannot read included file" in used
    assert used.splitlines()[0].endswith("loop.pol: Too many levels of symbolic links")


def _chain(tmp_path: Path, n: int) -> Path:
    """c0.pol uses c1.pol ... uses c{n}.pol, which holds one rule."""
    for i in range(n):
        (tmp_path / f"c{i}.pol").write_text(f'use "c{i + 1}.pol"\n')
    (tmp_path / f"c{n}.pol").write_text("bias -> zeros()\n")
    return tmp_path / "c0.pol"


def test_includes_nest_up_to_the_documented_depth(tmp_path: Path):
    assert len(parse_any(str(_chain(tmp_path, MAX_INCLUDE_DEPTH))).rules) == 1


def test_a_deeper_chain_of_includes_is_a_located_error(tmp_path: Path):
    msg = _message(parse_any, str(_chain(tmp_path, 295)))
    first = msg.splitlines()[0]
    assert first.startswith(f"{tmp_path / f'c{MAX_INCLUDE_DEPTH}.pol'}:1:5: includes nested more")
    assert f"more than {MAX_INCLUDE_DEPTH} deep" in first


# -- line numbers ------------------------------------------------------------------------


@pytest.mark.parametrize("sep", ["\x0c", "\x1c", "\x1d", "\x1e", "\u2028", "\x85"])
def test_only_newline_and_carriage_return_end_a_line(sep: str):
    msg = _message(initpolicy.load, f"bias -> zeros(){sep}bias -> nosuch()")
    assert msg.splitlines()[0].startswith("<string>:1:")


@pytest.mark.parametrize("sep", ["\n", "\r\n", "\r"])
def test_editors_line_breaks_count_as_one(sep: str):
    msg = _message(initpolicy.load, f"bias -> zeros(){sep}{sep}bias -> nosuch()")
    assert msg.splitlines()[0] == "<string>:3:9: unknown scheme 'nosuch'"
