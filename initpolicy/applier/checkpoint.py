"""Write an initialized state_dict to disk, atomically (:func:`initpolicy.common.files.write_atomic`).

The file appears complete or not at all, never over an existing file without ``force``,
never through a symbolic link, with the mode the umask gives a new file; a writer killed
mid-write leaves only a temporary directory of ours, which the next write to that
destination removes. ``torch.save`` and safetensors both write inside it.

``.safetensors`` needs the safetensors package; it refuses tensors that share memory, so
a tied tensor is written once per name (cloned), and loading gives untied copies with
equal values — tie them again after loading, as transformers' ``tie_weights`` does.

>>> save_state_dict(model.state_dict(), "init.pt")             # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..common import check_destination as files_check_destination
from ..common import is_file as files_is_file
from ..common import write_atomic
from ..errors import UsageError

FORMATS = (".pt", ".pth", ".bin", ".safetensors")


def check_destination(path: str | Path, *, force: bool = False) -> Path:
    """Why ``path`` cannot take a checkpoint, as a UsageError (unknown extension, a
    missing package, and what :func:`initpolicy.common.files.check_destination` refuses:
    an existing file without ``force``, a link, a directory, no such directory); the CLI
    asks before any model is built, so a typo costs no trace.

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
    return files_check_destination(path, force=force)


def save_state_dict(state: dict[str, Any], path: str | Path, *, force: bool = False) -> Path:
    """Write ``state`` to ``path`` (format by extension); UsageError if it exists and not
    ``force``, if the extension is unknown or needs a missing package, or if the write
    fails (no space, a read-only file system...), with nothing left behind."""
    path = check_destination(path, force=force)
    write = _safetensors_writer() if path.suffix.lower() == ".safetensors" else _torch_write
    return write_atomic(path, lambda tmp: write(state, tmp), force=force)


def _torch_write(state: dict[str, Any], tmp: str) -> None:
    import torch

    # through a Python file: its OSError (no space left) stays the cause of torch's error
    with open(tmp, "wb") as f:
        torch.save(state, f)


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


#: Formats ``initpolicy calibrate --data`` reads.
INPUT_FORMATS = (".pt", ".pth", ".safetensors")


def load_inputs(path: str | Path) -> Any:
    """Model inputs from a file, as ``example_inputs``: a ``.pt`` holding a tensor, a
    tuple/list of tensors (positional inputs) or a dict of tensors (keyword inputs),
    loaded with ``weights_only=True`` (no code runs); a ``.safetensors`` file's one
    tensor, or its tensors as keyword inputs by name. UsageError for anything else."""
    import torch

    p = Path(path)
    if p.suffix not in INPUT_FORMATS:
        raise UsageError(f"--data {p}: expected one of {', '.join(INPUT_FORMATS)}")
    if not files_is_file(p):
        raise UsageError(f"--data {p}: no such file")
    try:
        if p.suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(p))
            if len(data) == 1:
                data = next(iter(data.values()))
        else:
            data = torch.load(p, map_location="cpu", weights_only=True)
    except ImportError:
        raise UsageError(
            f"--data {p}: reading .safetensors needs the safetensors package"
        ) from None
    except Exception as e:  # torch/safetensors raise many types for a bad file
        kind = "safetensors" if p.suffix == ".safetensors" else "torch.save"
        raise UsageError(
            f"--data {p}: not a readable {kind} file ({type(e).__name__}: {e})"
        ) from None
    _check_inputs(p, data)
    return data


def _check_inputs(p: Path, data: Any) -> None:
    import torch

    values = list(data.values()) if isinstance(data, dict) else data
    values = list(values) if isinstance(values, tuple | list) else [values]
    if not values or not all(isinstance(v, torch.Tensor) for v in values):
        raise UsageError(
            f"--data {p}: expected a tensor, a tuple of tensors or a dict of tensors, "
            f"got {type(data).__name__}"
        )
    if isinstance(data, dict) and not all(isinstance(k, str) for k in data):
        raise UsageError(f"--data {p}: a dict of inputs needs string keys (argument names)")
