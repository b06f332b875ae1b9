"""Files: read no more than asked, write nothing half-done, never through a link.

Every file initpolicy writes (a checkpoint, a report, a fixed policy, a plot) goes through
:func:`write_atomic`; every policy it reads, through :func:`read_limited`. Torch-free.

Writing, step by step (docs/guarantees.md says what is promised):

1. The destination is checked (:func:`check_destination`): a symbolic link is refused,
   even with ``force`` (a link planted where a checkpoint goes must not turn the write
   into an overwrite of the file it points at; write to the target's own path instead); so
   are a directory and anything else that is not a regular file; an existing file needs
   ``force``.
2. Temporary directories of our naming left for that destination by a killed writer are
   removed: ``.NAME.XXXXXXXX.initpolicy-tmp`` next to the destination (the name's blake2b
   digest for NAME where the full name would pass the file system's 255-byte limit). A
   live writer holds a lock (``flock``) on its directory, so it is never removed under it.
3. The content is written inside a fresh such directory (``0700``) as ``payload``; a writer
   callback that makes files of its own (safetensors writes ``.tmpXXXXXX`` and renames it)
   makes them there too, so a kill leaves nothing outside it. The data is flushed to disk.
4. ``payload`` gets its final mode: the one a new file gets in that directory (the umask,
   and a default ACL, applied: ``0644`` under umask 022), or, when ``force`` replaces a
   file, that file's permission bits. Then it is linked into place (without ``force``: a
   file created meanwhile is never replaced) or renamed over the old file (with
   ``force``); both are atomic, so a reader sees the old file or the new one, never a part.
5. The directory is removed. An OSError anywhere (no space, a read-only file system,
   permissions, a name too long) is a :class:`~initpolicy.errors.UsageError` naming the
   destination, and nothing is left behind.

>>> import tempfile, os
>>> d = tempfile.mkdtemp()
>>> write_atomic(os.path.join(d, "report.txt"), "ok\\n").read_text()
'ok\\n'
>>> write_atomic(os.path.join(d, "report.txt"), "again")  # doctest: +ELLIPSIS
Traceback (most recent call last):
initpolicy.errors.UsageError: .../report.txt exists; pass --force to overwrite it
>>> sorted(os.listdir(d))
['report.txt']
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import secrets
import shutil
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..errors import UsageError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

#: Writes the content into the path it is given (a file that does not exist yet).
Writer = Callable[[str], None]

#: The suffix of our temporary directories; ``.initpolicy-new`` while one is being made.
TEMP_SUFFIX = ".initpolicy-tmp"
_NEW_SUFFIX = ".initpolicy-new"
#: An unlocked directory still named ``-new`` is a writer killed between ``mkdir`` and
#: taking its lock (microseconds); one this old is stale.
_NEW_STALE_SECONDS = 600
_PAYLOAD = "payload"


# ---------------------------------------------------------------------------- reading


class TooLarge(Exception):
    """A file holds more than the limit; ``size`` is its size where the file system knows
    it (``/proc`` files report 0), else None."""

    def __init__(self, size: int | None):
        super().__init__(size)
        self.size = size


def is_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a regular file (following links); False, never an error, for
    a name too long, a link loop, a NUL character or a missing file.

    >>> is_file("x" * 300), is_file("no\\0such")
    (False, False)
    """
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_limited(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of the regular file at ``path``, reading no more than ``limit + 1``.

    Raises IsADirectoryError for a directory, OSError(EINVAL, "not a regular file") for a
    FIFO, a device or a socket (opened without blocking, so a FIFO cannot hang the
    reader), :class:`TooLarge` beyond ``limit`` bytes, and the OSError of the open.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        if info.st_size > limit:
            raise TooLarge(info.st_size)
        chunks, left = [], limit + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise TooLarge(None)
    return data


# ---------------------------------------------------------------------------- writing


def check_destination(path: str | os.PathLike[str], *, force: bool = False) -> Path:
    """``path`` as a Path if a file can be written there, else a UsageError saying why:
    a symbolic link (never written through), a directory or other non-regular file, an
    existing file without ``force``, a missing or unwritable directory, a name too long.

    Cheap: a command asks before it does the work whose result it will write.
    """
    path = Path(path)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as e:
        raise _usage(path, e) from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise UsageError(
                f"{path} is a symbolic link (to {os.readlink(path)}); initpolicy never writes "
                "through a link: remove it, or give the path of the file it points to"
            )
        if stat.S_ISDIR(info.st_mode):
            raise UsageError(f"{path} is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise UsageError(f"{path} exists and is not a regular file")
        if not force:
            raise UsageError(f"{path} exists; pass --force to overwrite it")
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(f"{parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: {parent} is not writable")
    return path


def write_atomic(
    path: str | os.PathLike[str], content: bytes | str | Writer, *, force: bool = False
) -> Path:
    """Write ``content`` (bytes, UTF-8 text, or a :data:`Writer` given the path to write) to
    ``path`` atomically, as the module docstring says; returns ``path`` as a Path.

    >>> write_atomic("init.pt", lambda tmp: torch.save(state, tmp), force=True)  # doctest: +SKIP
    """
    path = check_destination(path, force=force)
    remove_stale(path)
    try:
        with _temp_dir(path) as tmp:
            payload = os.path.join(tmp, _PAYLOAD)
            mode = _create(payload, content)
            if callable(content):
                content(payload)
            _fsync(payload)
            if force:
                with contextlib.suppress(FileNotFoundError):
                    mode = stat.S_IMODE(os.stat(path).st_mode)
            os.chmod(payload, mode)
            _publish(payload, path, force)
            _fsync_dir(path.parent)
    except UsageError:
        raise
    except Exception as e:  # OSError, or a writer's own type (torch's, safetensors')
        if _interrupted(e):
            # Ctrl-C inside torch's zip writer surfaces as the writer's RuntimeError, raised
            # while the interrupt was being handled: it is still the user's interrupt
            raise KeyboardInterrupt from None
        # from None: the traceback would keep the writer's open file, and with it the space
        # of a full disk, alive as long as the error is
        raise _usage(path, e) from None
    return path


def _interrupted(e: BaseException) -> bool:
    """Whether ``e`` was raised from, or while handling, a KeyboardInterrupt."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, KeyboardInterrupt):
            return True
        seen.add(id(cause))
        cause = cause.__cause__ or cause.__context__
    return False


def temp_name_pattern(path: str | os.PathLike[str]) -> re.Pattern[str]:
    """The names of our temporary directories for ``path`` (in its directory).

    >>> bool(temp_name_pattern("out/init.pt").fullmatch(".init.pt.0a1b2c3d.initpolicy-tmp"))
    True
    """
    tag = re.escape(_tag(Path(path)))
    return re.compile(rf"\.{tag}\.[0-9a-f]{{8}}({re.escape(TEMP_SUFFIX)}|{re.escape(_NEW_SUFFIX)})")


def remove_stale(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary directories of our naming that a killed writer left for
    ``path``; a live writer's (locked) are kept. Returns the names removed."""
    path = Path(path)
    pattern = temp_name_pattern(path)
    removed: list[str] = []
    try:
        names = [n for n in os.listdir(path.parent) if pattern.fullmatch(n)]
    except OSError:
        return removed
    for name in names:
        full = path.parent / name
        with contextlib.suppress(OSError), _locked(full, wait=False) as locked:
            young = time.time() - os.lstat(full).st_mtime < _NEW_STALE_SECONDS
            if not locked or (name.endswith(_NEW_SUFFIX) and young):
                continue
            shutil.rmtree(full)
            removed.append(name)
    return removed


def _tag(path: Path) -> str:
    """The destination's name in its temporary names, or its digest where the longest
    temporary name would pass the file system's limit on a name."""
    name = path.name
    longest = len(os.fsencode(f".{name}.00000000{TEMP_SUFFIX}"))
    if longest <= _name_max(path.parent):
        return name
    return hashlib.blake2b(os.fsencode(name), digest_size=8).hexdigest()


def _name_max(directory: Path) -> int:
    try:
        return int(os.pathconf(directory, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


@contextlib.contextmanager
def _temp_dir(path: Path) -> Iterator[str]:
    """A fresh locked temporary directory of our naming next to ``path``; removed after."""
    tag = _tag(path)
    while True:
        token = secrets.token_hex(4)
        new = path.parent / f".{tag}.{token}{_NEW_SUFFIX}"
        final = path.parent / f".{tag}.{token}{TEMP_SUFFIX}"
        try:
            os.mkdir(new, 0o700)
            break
        except FileExistsError:
            continue
    try:
        with _locked(new, wait=True):
            # renamed only once locked: a directory with the final name is either locked by
            # a live writer or left by a dead one, never both unlocked and in use
            os.rename(new, final)
            try:
                yield str(final)
            finally:
                shutil.rmtree(final, ignore_errors=True)
    finally:
        with contextlib.suppress(OSError):
            os.rmdir(new)  # only if the rename never happened


@contextlib.contextmanager
def _locked(directory: Path, *, wait: bool) -> Iterator[bool]:
    """Hold an flock on ``directory`` while the block runs; yields whether it is held
    (``wait``: block until it is; else give up at once if another process holds it).
    Where a directory cannot be locked (Windows: no flock, no directory handles) it yields
    True when waiting and, for a stale check, whether the directory is older than
    ten minutes."""
    fd = None
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fd = os.open(directory, os.O_RDONLY)
    if fd is None:
        yield wait or time.time() - os.lstat(directory).st_mtime > _NEW_STALE_SECONDS
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            held = True
        except BlockingIOError:
            held = False
        yield held
    finally:
        os.close(fd)


def _create(payload: str, content: bytes | str | Writer) -> int:
    """Create ``payload`` (with the content, unless a writer will write it); returns the
    permission bits the file system gave a new file (umask and default ACL applied)."""
    fd = os.open(payload, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        if not callable(content):
            data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        return stat.S_IMODE(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def _fsync(file: str) -> None:
    fd = os.open(file, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # the rename's durability; not every platform can open a directory
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _publish(payload: str, path: Path, force: bool) -> None:
    if force:
        os.replace(payload, path)  # replaces a link itself, never what it points at
        return
    try:
        os.link(payload, path)
    except FileExistsError:
        raise UsageError(f"{path} exists; pass --force to overwrite it") from None
    except OSError as e:
        if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a file system without hard links: check, then rename (not atomic against a
        # file created in between, which is the best such a file system allows)
        if os.path.lexists(path):
            raise UsageError(f"{path} exists; pass --force to overwrite it") from None
        os.rename(payload, path)


def _usage(path: Path, e: BaseException) -> UsageError:
    """``cannot write PATH: why``; why is the operating system's word where the error,
    or one it was raised from (torch's writer wraps ENOSPC in a RuntimeError), has one."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return UsageError(f"cannot write {path}: {cause.strerror}")
        cause = cause.__cause__ or cause.__context__
    why = str(e).strip()
    return UsageError(f"cannot write {path}: {why.splitlines()[0] if why else type(e).__name__}")
