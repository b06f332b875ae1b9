"""Write an initialized state_dict to disk, atomically.

The file appears complete or not at all: it is written to a temporary file in the same
directory (same filesystem, so the final rename is atomic) and then linked or renamed
into place. Without ``force`` an existing file is never replaced — the check is the
atomic ``os.link`` itself, so a file created meanwhile is not clobbered either.

``.safetensors`` needs the safetensors package; it refuses tensors that share memory, so
a tied tensor is written once per name (cloned), and loading gives untied copies with
equal values — tie them again after loading, as transformers' ``tie_weights`` does.

>>> save_state_dict(model.state_dict(), "init.pt")             # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import UsageError

FORMATS = (".pt", ".pth", ".bin", ".safetensors")


def check_destination(path: str | Path, *, force: bool = False) -> Path:
    """Why ``path`` cannot take a checkpoint, as a UsageError (unknown extension, a
    missing package, an existing file without ``force``, no such directory); the CLI asks
    before any model is built, so a typo costs no trace.

    >>> check_destination("init.ckpt")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    initpolicy.errors.UsageError: init.ckpt: unknown checkpoint format '.ckpt'; ...
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(
            f"{path}: unknown checkpoint format {suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(FORMATS)}"
        )
    if suffix == ".safetensors":
        _safetensors_writer()
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"{path.parent} is not a directory")
    return path


def save_state_dict(state: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write ``state`` to ``path`` (format by extension); UsageError if it exists and not
    ``force``, or if the extension is unknown or needs a missing package."""
    path = check_destination(path, force=force)
    write = _safetensors_writer() if path.suffix.lower() == ".safetensors" else _torch_write
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(state, tmp)
        if force:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise UsageError(f"{path} exists; pass --force to overwrite it") from None
            except OSError:  # a filesystem without hard links
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _torch_write(state: dict[str, Any], tmp: str) -> None:
    import torch

    torch.save(state, tmp)


def _safetensors_writer() -> Any:
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise UsageError(
            "writing .safetensors needs the safetensors package: pip install safetensors"
        ) from None

    def write(state: dict[str, Any], tmp: str) -> None:
        seen: set[int] = set()
        out = {}
        for k, t in state.items():
            t = t.detach()
            key = t.untyped_storage().data_ptr() if t.numel() else id(t)
            if key in seen or not t.is_contiguous():
                t = t.contiguous().clone()
            seen.add(key)
            out[k] = t.cpu()
        save_file(out, tmp)

    return write
