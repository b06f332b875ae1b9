"""A stage's front door, lazily: each name a stage exports is imported from the module that
defines it on first use, so a front door costs nothing until a name is read and torch-free
callers (parsing a policy) stay torch-free."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """The module ``__getattr__`` of ``package``'s ``__init__``: ``name`` is imported from
    the submodule ``exports[name]`` (relative to ``package``) and kept in the package.

    >>> get = lazy_exports("initpolicy.common", {"one_of": ".suggest"})
    >>> get("one_of").__name__
    'one_of'
    >>> get("nothing")
    Traceback (most recent call last):
    AttributeError: module 'initpolicy.common' has no attribute 'nothing'
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
