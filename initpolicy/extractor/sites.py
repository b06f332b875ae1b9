"""Where a write came from: the innermost frame of the model's own code.

A record's site is the innermost frame outside the init machinery (torch.nn.init,
transformers.initialization, timm's weight_init, torch internals, this package), e.g.
``GPT2PreTrainedModel._init_weights (transformers/models/gpt2/modeling_gpt2.py:449)``,
plus ``via``: the outermost init entry point on the stack (``post_init``,
``reset_parameters``, ``named_apply``, ...).
"""

from __future__ import annotations

import ast
import inspect
import io
import os
import sys
import sysconfig
import textwrap
import tokenize
import traceback
from typing import Any

from .records import Site
from .source import read_site


def _roots() -> list[str]:
    paths = sysconfig.get_paths()
    roots = {paths["purelib"], paths["platlib"]}
    roots |= {p for p in sys.path if p.endswith("site-packages")}
    return sorted(roots, key=len, reverse=True)


_ROOTS = _roots()
#: This package: its frames (the recorder) are never a site.
_HERE = os.path.dirname(os.path.abspath(__file__))

#: Files whose frames are init machinery, not the site of a write.
_MACHINERY = (
    os.path.join("torch", "nn", "init.py"),
    os.path.join("torch", "overrides.py"),
    os.path.join("torch", "_tensor.py"),
    os.path.join("torch", "nn", "parameter.py"),
    os.path.join("torch", "utils", "_contextlib.py"),
    os.path.join("torch", "utils", "_device.py"),
    os.path.join("torch", "autograd", "grad_mode.py"),
    os.path.join("transformers", "initialization.py"),
    os.path.join("timm", "layers", "weight_init.py"),
    "contextlib.py",
)
#: Entry points worth naming as ``via`` (the outermost on the stack wins).
_VIA = frozenset(
    {
        "post_init",
        "init_weights",
        "initialize_weights",
        "reset_parameters",
        "_reset_parameters",
        "named_apply",
        "apply",
        "_init_weights",
    }
)
#: How far up the stack a site is looked for.
_DEPTH = 200


def short_path(path: str) -> str:
    """A file as people read it: relative to site-packages, else to the working directory
    (absolute when it lies outside it)."""
    for root in _ROOTS:
        if path.startswith(root + os.sep):
            return path[len(root) + 1 :]
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive
        return path
    return path if rel.startswith("..") else rel


def in_library(filename: str) -> bool:
    """Whether ``filename`` is an installed package's (under site-packages), not the
    user's own code."""
    return any(filename.startswith(root + os.sep) for root in _ROOTS)


def is_machinery(filename: str) -> bool:
    return filename.startswith(_HERE) or filename.endswith(_MACHINERY)


def user_location(e: BaseException) -> str | None:
    """``file:line`` of the innermost frame of ``e``'s traceback in the user's own code
    (not a library, not the init machinery), for an error message."""
    frames = [
        f
        for f in traceback.extract_tb(e.__traceback__)
        if not is_machinery(f.filename) and not any(f.filename.startswith(r) for r in _ROOTS)
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def site_of(frame: Any) -> Site:
    """The site of a write made with ``frame`` innermost on the stack."""
    site = None
    via = None
    f = frame
    for _ in range(_DEPTH):
        if f is None:
            break
        if site is None and not is_machinery(f.f_code.co_filename):
            site = f
        if site is not None and f.f_code.co_name in _VIA:
            via = f.f_code.co_qualname
        f = f.f_back
    if site is None:
        return Site("<unknown>", "<unknown>", 0, via)
    code = site.f_code
    fans = any(name.startswith("fan") for name in code.co_varnames)
    literals, names, bodies = _source(code)
    return Site(
        code.co_qualname,
        short_path(code.co_filename),
        site.f_lineno or 0,
        via,
        fans,
        literals,
        code.co_filename,
        names,
        bodies,
        *read_site(code, site.f_lineno or 0),
    )


Source = tuple[frozenset[float] | None, tuple[tuple[str, int], ...], tuple[tuple[int, int], ...]]
_SOURCE: dict[Any, Source] = {}


def _source(code: Any) -> Source:
    """What a function's source says, once per code object: the numbers written in it (its
    NUMBER tokens; None when the source cannot be read), its identifiers with their lines
    (``self.config.d_kv`` names ``d_kv``: a size the code read), and the line spans of its
    statement blocks (a branch's body: which names a write can see)."""
    if code in _SOURCE:
        return _SOURCE[code]
    found: frozenset[float] | None
    names: tuple[tuple[str, int], ...] = ()
    bodies: tuple[tuple[int, int], ...] = ()
    try:
        lines, start = inspect.getsourcelines(code)
        text = textwrap.dedent("".join(lines))
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
        found = frozenset(
            abs(float(t.string.replace("_", "")))
            for t in tokens
            if t.type == tokenize.NUMBER and not t.string.lower().endswith("j")
        )
        first = max(start, 1) - 1
        names = tuple((t.string, first + t.start[0]) for t in tokens if t.type == tokenize.NAME)
    except (OSError, TypeError, SyntaxError, tokenize.TokenError, ValueError):
        found = None
    else:
        try:  # a lambda's lines are no statement: its numbers and names stand, no blocks
            bodies = tuple((first + a, first + b) for a, b in _bodies(ast.parse(text)))
        except (SyntaxError, ValueError):
            bodies = ()
    _SOURCE[code] = (found, names, bodies)
    return _SOURCE[code]


def _bodies(tree: ast.AST) -> list[tuple[int, int]]:
    """The line span of every statement list (a function's body, an ``if``'s and its
    ``else``'s, a loop's, ...)."""
    out = []
    for node in ast.walk(tree):
        for key in ("body", "orelse", "finalbody"):
            stmts = getattr(node, key, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                end = stmts[-1].end_lineno or stmts[-1].lineno
                out.append((stmts[0].lineno, end))
    return out
