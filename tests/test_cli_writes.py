"""Every file a command writes, by every option that writes one, under the same rules
(docs/cli.md, "Files the commands write"; docs/guarantees.md): an existing file only with
--force, keeping its mode; a new file with the umask's mode; never through a link, over a
directory, into a read-only directory, over an input of the command (by any spelling, or
a hard link), or one file for two options. Each refusal is exit 2 with a message naming
the file, comes before the model is built (the model file leaves a marker when it is
imported), and leaves the directory exactly as it was.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from click.testing import Result

import initpolicy

from ._cli_support import MARKER, TOUCH_MARKER, invoke
from .test_checkpoint_writes import _tmpfs, _umask

MODEL = f"""\
import pathlib

from torch import nn

{TOUCH_MARKER}


def build_model():
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))
"""
POLICY = (
    "Linear before relu -> kaiming_normal(fan_in)\nLinear -> xavier_uniform()\nbias -> zeros()\n"
)
OLD = b"old content\n"
#: An mtime no run can give a file by accident.
OLD_MTIME_NS = 1_000_000_000 * 10**9


def _checkpoint(path: Path) -> None:
    assert set(torch.load(path)) == {"0.weight", "0.bias", "2.weight", "2.bias"}


def _json_report(path: Path) -> None:
    assert set(json.loads(path.read_text())) == {"findings", "summary"}


def _policy(path: Path) -> None:
    assert initpolicy.load(path).rules


def _png(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class Writer:
    """One option of one command that writes a file."""

    id: str
    #: The command line, given the destination and the policy file.
    argv: Callable[[str, str], list[str]]
    #: The destination's suffix (a checkpoint needs .pt).
    suffix: str
    #: Asserts the written file is what the option writes.
    valid: Callable[[Path], None]
    reads_policy: bool = True

    def args(self, dest: str | Path, *, policy: str = "init.pol", force: bool = False) -> list[str]:
        return [*self.argv(str(dest), policy), *(["--force"] if force else [])]


def _lint(*extra: str) -> Callable[[str, str], list[str]]:
    return lambda dest, policy: ["lint", "model.py", "--policy", policy, *extra, dest]


def _apply(dest: str, policy: str) -> list[str]:
    return ["apply", "model.py", "--policy", policy, "--out", dest]


def _extract(dest: str, policy: str) -> list[str]:
    return ["extract", "model.py", "-o", dest]


def _calibrate(dest: str, policy: str) -> list[str]:
    return ["calibrate", "model.py", "--policy", policy, "-o", dest]


REPORT = ("--static", "--exit-zero", "--format", "json")
_WRITERS = [
    Writer("apply --out", _apply, ".pt", _checkpoint),
    Writer("lint -o", _lint(*REPORT, "-o"), ".json", _json_report),
    Writer("lint --output-file", _lint(*REPORT, "--output-file"), ".json", _json_report),
    Writer("lint --fix-policy", _lint("--static", "--exit-zero", "--fix-policy"), ".pol", _policy),
    Writer("lint --plot", _lint("--exit-zero", "--plot"), ".png", _png),
    Writer("extract -o", _extract, ".pol", _policy, reads_policy=False),
    Writer("calibrate -o", _calibrate, ".pol", _policy),
]
_NO_MATPLOTLIB = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="--plot needs matplotlib"
)
WRITERS = [
    pytest.param(w, id=w.id.replace(" ", ""), marks=[_NO_MATPLOTLIB] if "--plot" in w.id else [])
    for w in _WRITERS
]


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"model.py": MODEL, "init.pol": POLICY})


def run(args: list[str]) -> Result:
    return invoke(*args)


def listing(directory: Path) -> dict[str, tuple[int, bytes | str | None]]:
    """Every entry of ``directory``: name -> (mtime, content / link target / None)."""
    out: dict[str, tuple[int, bytes | str | None]] = {}
    for entry in os.scandir(directory):
        info = entry.stat(follow_symlinks=False)
        if entry.is_symlink():
            content: bytes | str | None = os.readlink(entry.path)
        elif entry.is_file(follow_symlinks=False):
            content = Path(entry.path).read_bytes()
        else:
            content = None
        out[entry.name] = (info.st_mtime_ns, content)
    return out


def assert_refused(result: Result, before: dict, directory: Path, *named: str) -> None:
    """Exit 2, one message naming ``named`` and no traceback; the model never imported;
    the directory exactly as it was (no temporary file, no file touched)."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    for text in named:
        assert text in result.stderr, result.stderr
    assert not (directory / MARKER).exists(), "refused after the model was built"
    assert listing(directory) == before


def _old_file(path: Path, mode: int = 0o644) -> None:
    path.write_bytes(OLD)
    path.chmod(mode)
    os.utime(path, ns=(OLD_MTIME_NS, OLD_MTIME_NS))


# -- (a) an existing file ---------------------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
def test_an_existing_file_is_refused_without_force(repo: Path, writer: Writer) -> None:
    dest = repo / f"out{writer.suffix}"
    _old_file(dest)
    before = listing(repo)
    result = run(writer.args(dest.name))
    assert_refused(result, before, repo, dest.name, "exists; pass --force")
    assert dest.stat().st_mtime_ns == OLD_MTIME_NS and dest.read_bytes() == OLD


# -- (b) --force, and the mode of what is written -----------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
def test_force_replaces_the_file_and_keeps_its_mode(repo: Path, writer: Writer) -> None:
    dest = repo / f"out{writer.suffix}"
    _old_file(dest, mode=0o604)  # a mode neither the umask nor a default would give
    before = set(os.listdir(repo))
    with _umask(0o077):
        result = run(writer.args(dest.name, force=True))
    assert result.exit_code == 0, result.output
    assert dest.read_bytes() != OLD
    writer.valid(dest)
    assert stat.S_IMODE(os.lstat(dest).st_mode) == 0o604
    assert set(os.listdir(repo)) == before | {MARKER}  # no temporary file left


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
@pytest.mark.parametrize("writer", WRITERS)
def test_a_new_file_gets_the_mode_of_the_umask(
    repo: Path, writer: Writer, umask: int, mode: int
) -> None:
    dest = repo / f"new{writer.suffix}"
    before = set(os.listdir(repo))
    with _umask(umask):
        result = run(writer.args(dest.name))
    assert result.exit_code == 0, result.output
    writer.valid(dest)
    assert stat.S_IMODE(dest.stat().st_mode) == mode
    assert f"wrote {dest.name}" in result.output
    assert set(os.listdir(repo)) == before | {MARKER, dest.name}


# -- (c) a symbolic link ------------------------------------------------------------------


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("writer", WRITERS)
def test_a_link_is_refused_and_what_it_points_to_untouched(
    repo: Path, writer: Writer, force: bool, dangling: bool
) -> None:
    target = repo / f"precious{writer.suffix}"
    if not dangling:
        _old_file(target)
    dest = repo / f"out{writer.suffix}"
    dest.symlink_to(target.name)
    before = listing(repo)
    result = run(writer.args(dest.name, force=force))
    assert_refused(result, before, repo, dest.name, "symbolic link")
    assert os.readlink(dest) == target.name
    assert target.exists() is not dangling  # a dangling link's target is not created


# -- (d) a directory, (e) a read-only directory, a missing one ---------------------------


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("writer", WRITERS)
def test_a_directory_is_refused(repo: Path, writer: Writer, force: bool) -> None:
    dest = repo / f"out{writer.suffix}"
    dest.mkdir()
    (dest / "inside").write_bytes(OLD)
    before = listing(repo)
    result = run(writer.args(dest.name, force=force))
    assert_refused(result, before, repo, dest.name, "is a directory")
    assert os.listdir(dest) == ["inside"]


@pytest.fixture
def read_only_dir(repo: Path):
    """A directory no one may write in: mode 0555, or, for root (who ignores modes), a
    read-only tmpfs (skipped where root cannot mount one)."""
    if os.geteuid() == 0:
        with _tmpfs("ro", "size=64k") as where:
            yield where
        return
    where = repo / "read-only"
    where.mkdir()
    where.chmod(0o555)
    try:
        yield where
    finally:
        where.chmod(0o755)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_read_only_directory_is_refused(repo: Path, read_only_dir: Path, writer: Writer) -> None:
    dest = read_only_dir / f"out{writer.suffix}"
    before = listing(repo)
    result = run(writer.args(dest, force=True))
    assert_refused(result, before, repo, str(dest), "not writable")
    assert os.listdir(read_only_dir) == []


@pytest.mark.parametrize("writer", WRITERS)
def test_a_missing_directory_is_refused(repo: Path, writer: Writer) -> None:
    before = listing(repo)
    result = run(writer.args(f"no-such-dir/out{writer.suffix}"))
    assert_refused(result, before, repo, "no-such-dir is not a directory")


# -- (f) an input of the command ----------------------------------------------------------


#: (writer, input): every input of every writer; extract reads no policy.
INPUTS = [
    pytest.param(w.values[0], which, id=f"{w.id}-{which}", marks=w.marks)
    for w in WRITERS
    for which in ("model", "policy")
    if which == "model" or w.values[0].reads_policy
]


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("spelling", ["same", "dot", "detour", "absolute", "hardlink"])
@pytest.mark.parametrize(("writer", "which"), INPUTS)
def test_an_input_is_never_written_over(
    repo: Path, writer: Writer, which: str, spelling: str, force: bool
) -> None:
    (repo / "sub").mkdir()
    # the policy file has the destination's suffix, so that only its being an input refuses
    policy = f"policy{writer.suffix}"
    (repo / policy).write_text(POLICY)
    source = "model.py" if which == "model" else policy
    alias = f"alias{writer.suffix}"
    os.link(repo / source, repo / alias)
    dest = {
        "same": source,
        "dot": f"./{source}",
        "detour": f"sub/../{source}",
        "absolute": str(repo / source),
        "hardlink": alias,
    }[spelling]
    before = listing(repo)
    result = run(writer.args(dest, policy=policy, force=force))
    assert_refused(result, before, repo, f"is {source}, an input of this command")


#: Writers whose option takes a file named *.pol (only a *.pol file can be used).
_POL_OK = {"lint -o", "lint --output-file", "lint --fix-policy"}


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("writer", WRITERS)
def test_the_source_of_a_module_target_is_never_written_over(
    repo: Path, writer: Writer, force: bool
) -> None:
    """``package.module:NAME`` reads package/module.py: an input, found without importing."""
    args = writer.args("model.py")
    assert args[1] == "model.py"
    args[1] = "model:build_model"  # the TARGET; the destination stays model.py
    before = listing(repo)
    result = run([*args, *(["--force"] if force else [])])
    assert_refused(result, before, repo, "is ", "model.py, an input of this command")


@pytest.mark.parametrize("force", [False, True], ids=["", "force"])
@pytest.mark.parametrize("writer", [w for w in WRITERS if w.values[0].id in _POL_OK])
def test_a_policy_included_with_use_is_never_written_over(
    repo: Path, writer: Writer, force: bool
) -> None:
    (repo / "base.pol").write_text(POLICY)
    (repo / "init.pol").write_text('use "base.pol"\nbias -> zeros()\n')
    before = listing(repo)
    result = run(writer.args("base.pol", force=force))
    # the includes are known once the policy is read, after the destinations' first check:
    # without --force the file is refused as existing, with it as an input
    why = "base.pol is base.pol, an input of this command" if force else "base.pol exists"
    assert_refused(result, before, repo, why)


@pytest.mark.parametrize(
    "spelling", ["pyproject.toml", "./pyproject.toml", "sub/../pyproject.toml"]
)
@pytest.mark.parametrize("writer", WRITERS)
def test_the_pyproject_the_command_read_is_never_written_over(
    repo: Path, writer: Writer, spelling: str
) -> None:
    (repo / "sub").mkdir()
    (repo / "pyproject.toml").write_text('[tool.initpolicy]\nmodel = "model.py"\n')
    before = listing(repo)
    result = run(writer.args(spelling, force=True))
    assert_refused(result, before, repo, "pyproject.toml, an input of this command")


# -- one file for two options -------------------------------------------------------------


@pytest.mark.parametrize("second", ["--fix-policy", "--plot"])
@pytest.mark.parametrize("spelling", ["report.txt", "./report.txt", "alias.txt"])
def test_two_options_never_name_one_file(repo: Path, second: str, spelling: str) -> None:
    if second == "--plot" and importlib.util.find_spec("matplotlib") is None:
        pytest.skip("--plot needs matplotlib")
    if spelling == "alias.txt":
        _old_file(repo / "report.txt")
        os.link(repo / "report.txt", repo / "alias.txt")
    before = listing(repo)
    result = run(["lint", "model.py", "-o", "report.txt", second, spelling, "--force"])
    assert_refused(result, before, repo, f"{second} {Path(spelling)} is also -o report.txt")


def test_plot_with_static_is_refused_before_the_model_is_built(repo: Path) -> None:
    before = listing(repo)
    result = run(["lint", "model.py", "--static", "-o", "report.txt", "--plot", "x.png"])
    assert_refused(result, before, repo, "--plot needs the dynamic pass")


# -- (e') a full disk -------------------------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
def test_a_full_disk_is_refused_and_leaves_nothing(repo: Path, writer: Writer) -> None:
    """The write itself fails (ENOSPC, after all the work): exit 2 with a message, the
    disk as it was: no destination, no temporary file."""
    with _tmpfs("size=64k") as where:
        filler = where / "filler"
        # fill the disk to its last block
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 4096)
        dest = where / f"out{writer.suffix}"
        result = run(writer.args(dest))
        assert result.exit_code == 2, (result.output, result.exception)
        assert "Traceback" not in result.output
        assert str(dest) in result.stderr
        assert sorted(os.listdir(where)) == ["filler"]
