"""The checkpoint writer's safety, case by case (docs/guarantees.md): an existing file, a
symbolic link, a directory, a read-only directory, a full disk, a name near the limit,
the umask, and a writer killed mid-write whose leftovers the next write removes.

A read-only directory and a full disk are small tmpfs mounts, made where the tests run as
root and may mount; elsewhere those cases are skipped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from initpolicy.applier.checkpoint import save_state_dict
from initpolicy.common import files
from initpolicy.errors import UsageError

FORMATS = [".pt", ".safetensors"]
STATE = {"w": torch.arange(6.0).reshape(2, 3), "b": torch.zeros(3)}


def _load(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    return torch.load(path)


def _leftovers(directory: Path) -> list[str]:
    """Anything a write may leave: our temporary directories, safetensors' .tmpXXXXXX."""
    return sorted(n for n in os.listdir(directory) if n.startswith("."))


@contextlib.contextmanager
def _umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextlib.contextmanager
def _tmpfs(*options: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs")
    where = Path(tempfile.mkdtemp())
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)],
        capture_output=True,
    )
    if proc.returncode != 0:
        where.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)
        where.rmdir()


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_checkpoint_is_written_whole_and_nothing_else_is_left(tmp_path: Path, suffix: str):
    out = save_state_dict(STATE, tmp_path / f"init{suffix}")
    assert torch.equal(_load(out)["w"], STATE["w"])
    assert os.listdir(tmp_path) == [f"init{suffix}"]


@pytest.mark.parametrize("suffix", FORMATS)
def test_an_existing_file_is_never_replaced_without_force(tmp_path: Path, suffix: str):
    out = tmp_path / f"init{suffix}"
    out.write_bytes(b"precious")
    with pytest.raises(UsageError, match=r"init\.\w+ exists; pass --force to overwrite it"):
        save_state_dict(STATE, out)
    assert out.read_bytes() == b"precious" and _leftovers(tmp_path) == []


def test_a_file_created_during_the_write_is_not_replaced(tmp_path: Path):
    out = tmp_path / "report.txt"

    def writer(tmp: str) -> None:
        Path(tmp).write_text("new")
        out.write_text("someone else's")  # appears between the check and the link

    with pytest.raises(UsageError, match="exists; pass --force"):
        files.write_atomic(out, writer)
    assert out.read_text() == "someone else's" and _leftovers(tmp_path) == []


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
@pytest.mark.parametrize("suffix", FORMATS)
def test_a_new_checkpoint_gets_the_mode_of_the_umask(
    tmp_path: Path, suffix: str, umask: int, mode: int
):
    with _umask(umask):
        out = save_state_dict(STATE, tmp_path / f"init{suffix}")
    assert stat.S_IMODE(out.stat().st_mode) == mode


@pytest.mark.parametrize("old_mode", [0o644, 0o640])
@pytest.mark.parametrize("suffix", FORMATS)
def test_force_replaces_a_file_keeping_its_mode(tmp_path: Path, suffix: str, old_mode: int):
    out = tmp_path / f"init{suffix}"
    out.write_bytes(b"old")
    out.chmod(old_mode)
    with _umask(0o077):
        save_state_dict(STATE, out, force=True)
    assert stat.S_IMODE(out.stat().st_mode) == old_mode
    assert torch.equal(_load(out)["b"], STATE["b"]) and _leftovers(tmp_path) == []


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("dangling", [False, True])
def test_a_symbolic_link_is_never_written_through(tmp_path: Path, force: bool, dangling: bool):
    target = tmp_path / "bashrc"
    if not dangling:
        target.write_text("export PATH=...\n")
    link = tmp_path / "init.pt"
    link.symlink_to(target)
    with pytest.raises(UsageError, match=r"init\.pt is a symbolic link \(to .*bashrc\); "):
        save_state_dict(STATE, link, force=force)
    assert link.is_symlink()
    assert target.read_text() == "export PATH=...\n" if not dangling else not target.exists()


@pytest.mark.parametrize("force", [False, True])
def test_a_directory_is_refused(tmp_path: Path, force: bool):
    (tmp_path / "init.pt").mkdir()
    with pytest.raises(UsageError, match=r"init\.pt is a directory"):
        save_state_dict(STATE, tmp_path / "init.pt", force=force)


def test_a_missing_directory_is_refused(tmp_path: Path):
    with pytest.raises(UsageError, match=r"nope is not a directory"):
        save_state_dict(STATE, tmp_path / "nope" / "init.pt")


def test_a_read_only_directory_is_a_usage_error():
    with _tmpfs("ro", "size=1m") as ro:
        with pytest.raises(UsageError, match=r"init\.pt"):
            save_state_dict(STATE, ro / "init.pt")
        assert os.listdir(ro) == []


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_full_disk_is_a_usage_error_that_leaves_nothing(suffix: str):
    big = {"w": torch.zeros(1024, 1024)}  # 4 MiB into 1 MiB
    with _tmpfs("size=1m") as small:
        out = small / f"init{suffix}"
        with pytest.raises(UsageError) as err:
            save_state_dict(big, out)
        message = str(err.value)
        del err  # a traceback holding the writer's file would keep the mount busy
        assert message.startswith(f"cannot write {out}: ")
        assert "No space left on device" in message
        assert os.listdir(small) == []


def test_a_name_near_the_limit_gets_a_shorter_temporary_name(tmp_path: Path):
    name = "a" * 245 + ".pt"  # 248 bytes: valid, but ".NAME.XXXXXXXX.initpolicy-tmp" is not
    out = save_state_dict(STATE, tmp_path / name)
    assert out.name == name and os.listdir(tmp_path) == [name]


def test_a_name_over_the_limit_is_a_usage_error(tmp_path: Path):
    out = tmp_path / ("a" * 260 + ".pt")
    with pytest.raises(UsageError, match="File name too long"):
        save_state_dict(STATE, out)


# -- a writer killed mid-write -------------------------------------------------------------

HOLD = """
import sys, time
from pathlib import Path
from initpolicy.common.files import write_atomic

def writer(tmp):
    Path(tmp).write_bytes(b"half a checkpoint")
    (Path(tmp).parent / ".tmpA1b2C3").write_bytes(b"a writer's own temporary (safetensors)")
    Path(sys.argv[2]).touch()  # ready
    time.sleep(600)

write_atomic(sys.argv[1], writer, force=True)
"""


@contextlib.contextmanager
def _writer_holding(out: Path, ready: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(HOLD), str(out), str(ready)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the writer never started"
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_writer_killed_mid_write_leaves_a_temporary_that_the_next_write_removes(
    tmp_path: Path,
):
    out = tmp_path / "init.pt"
    with _writer_holding(out, tmp_path / "ready") as proc:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = _leftovers(tmp_path)
    assert len(left) == 1 and files.temp_name_pattern(out).fullmatch(left[0]), left
    assert not out.exists()
    save_state_dict(STATE, out)
    assert _leftovers(tmp_path) == [] and torch.equal(_load(out)["w"], STATE["w"])


def test_a_live_writers_temporary_is_left_alone(tmp_path: Path):
    out = tmp_path / "init.pt"
    with _writer_holding(out, tmp_path / "ready"):
        (live,) = _leftovers(tmp_path)
        save_state_dict(STATE, out)  # a second writer of the same destination
        assert _leftovers(tmp_path) == [live]
        assert torch.equal(_load(out)["w"], STATE["w"])


def test_only_our_naming_is_cleaned(tmp_path: Path):
    out = tmp_path / "init.pt"
    keep = [".init.pt.tmp", ".init.pt.1234.tmp", ".other.pt.0a1b2c3d.initpolicy-tmp", ".tmpA1b2C3"]
    for name in keep:
        (tmp_path / name).mkdir()
    save_state_dict(STATE, out)
    assert _leftovers(tmp_path) == sorted(keep)


def test_without_flock_a_stale_temporary_is_known_by_its_age(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(files, "fcntl", None)  # as on Windows
    young, old = (tmp_path / f".init.pt.{t}.initpolicy-tmp" for t in ("0000aaaa", "0000bbbb"))
    young.mkdir()
    old.mkdir()
    os.utime(old, (0, 0))
    save_state_dict(STATE, tmp_path / "init.pt")
    assert _leftovers(tmp_path) == [young.name]
