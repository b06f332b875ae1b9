"""The words of the tracer's warnings and errors: what went wrong, where, and what to do.

>>> short(ValueError("targets should not be none when in training mode"))
'ValueError: targets should not be none when in training mode'
"""

from __future__ import annotations

import sysconfig
import traceback
from dataclasses import dataclass
from pathlib import Path

import torch

from .graph import Layer
from .inputs import missing_inputs, required_inputs


def short(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text[:300]}" if text else type(e).__name__


def assumed_warning(assumed: list[tuple[str, bool]]) -> str:
    """The warning for the truth values taken on the meta device: conditions (which branch)
    and assertions (``torch._check``: that the input is valid), each with its places."""
    conditions = list(dict.fromkeys(w for w, check in assumed if not check))
    checks = list(dict.fromkeys(w for w, check in assumed if check))
    parts = []
    if conditions:
        n = sum(1 for _w, check in assumed if not check)
        parts.append(
            f"{n} condition(s) on tensor values were taken as true ({', '.join(conditions)}); "
            "the branches traced are those"
        )
    if checks:
        n = sum(1 for _w, check in assumed if check)
        parts.append(
            f"{n} check(s) that the input is valid were assumed to pass ({', '.join(checks)})"
        )
    return "on the meta device tensors have no values: " + "; ".join(parts)


#: Where library code lives: the standard library, installed packages, initpolicy itself.
_LIBRARY = tuple(
    {
        str(Path(p).resolve())
        for key in ("stdlib", "platstdlib", "purelib", "platlib")
        if (p := sysconfig.get_paths().get(key))
    }
    | {str(Path(__file__).resolve().parents[1])}
)


def _library(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen ...>, <string>, generated code
        return True
    path = str(Path(filename).resolve())
    return any(path == root or path.startswith(root + "/") for root in _LIBRARY)


@dataclass(frozen=True)
class RaisedAt:
    """Where a forward's exception comes from, in the user's own code: the innermost frame
    of the traceback outside the standard library, installed packages and initpolicy."""

    #: ``file:line`` of that frame.
    location: str
    #: True when that frame raised it (the model's own ``raise``), False when it called
    #: into a library that raised (torch rejecting an input's shape or dtype).
    by_model: bool


def raised_at(e: BaseException) -> RaisedAt | None:
    """The user frame an exception of a forward comes from, or None when every frame is
    library code (a model from an installed package, torch rejecting a call's arguments
    before any of the model's code ran). tests/test_trace_inputs.py shows both kinds."""
    frames = traceback.extract_tb(e.__traceback__)
    for i in range(len(frames) - 1, -1, -1):
        if not _library(frames[i].filename):
            return RaisedAt(
                f"{_shown(frames[i].filename)}:{frames[i].lineno}", i == len(frames) - 1
            )
    return None


def _shown(filename: str) -> str:
    """A file as errors name it: relative to the working directory when under it."""
    try:
        rel = Path(filename).resolve().relative_to(Path.cwd().resolve())
    except (ValueError, OSError):
        return filename
    return str(rel)


def input_hint(model: torch.nn.Module) -> str:
    """How to give inputs, naming forward's inputs when it needs several."""
    needed = required_inputs(model)
    unknown = missing_inputs(model)
    if len(needed) > 1:
        return (
            f"  hint: forward needs {len(needed)} inputs ({', '.join(needed)}): give one "
            "--input-shape per input, in order (with --input-dtype for each), or define "
            "example_inputs() next to the model returning a tuple or a dict of them"
            + (f"; {', '.join(unknown)} cannot be inferred from the model" if unknown else "")
        )
    return (
        "  hint: give the input shape, e.g. --input-shape 1,3,32,32 --input-dtype float "
        "(or define example_inputs() next to the model, or pass example_inputs=...)"
    )


def not_called_warning(
    unused: list[Layer], layers: list[Layer], modules: dict[str, torch.nn.Module]
) -> str:
    """The warning naming the layers the traced forward never ran: by the outermost module
    none of whose layers ran (``model.vision_tower (21 layers)``), and how to reach them."""
    missed = {lay.name for lay in unused}

    def prefixes(name: str) -> list[str]:
        parts = name.split(".") if name else []
        return [".".join(parts[:i]) for i in range(len(parts) + 1)]

    # every module that holds a layer that ran
    reached = {p for lay in layers if lay.name not in missed for p in prefixes(lay.name)}
    groups: dict[str, list[Layer]] = {}
    for lay in unused:
        # the outermost enclosing module whose layers all were missed, else the layer (a
        # container whose own parameters were not used while its children ran)
        group = next((p for p in prefixes(lay.name) if p in modules and p not in reached), lay.name)
        groups.setdefault(group, []).append(lay)
    names: list[str] = []
    for group, members in groups.items():
        if len(members) == 1 and members[0].name == group and modules[group]._modules:
            # a container's own parameters (a model's mask embedding) read better by name
            names += [p.name for p in members[0].parameters]
        else:
            names.append(group if len(members) == 1 else f"{group} ({len(members)} layers)")
    return (
        f"not called by the traced forward (activation taken as linear): {', '.join(names)}; "
        "to trace them, give inputs that reach them: define example_inputs() next to the "
        "model, or pass example_inputs=..."
    )
