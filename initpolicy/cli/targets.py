"""TARGET: how a command finds the model (and its example inputs).

``path/to/model.py``
    a module-level ``model``, else a factory ``build_model()``/``create_model()``/
    ``get_model()``, else the single nn.Module subclass defined there that is
    constructible without arguments.
``path/to/model.py:NAME`` / ``package.module:NAME``
    NAME is a module instance, an nn.Module class, or a factory called without arguments.
nothing
    an error; the CLI passes ``[tool.initpolicy] model`` as TARGET when the command line
    names none (cli.config), so this module never reads a pyproject.toml.

Example inputs come from ``example_inputs()`` (or a value of that name) in the same file.
Every failure is a :class:`~initpolicy.errors.TargetError` with a one-screen message.

>>> load_target("no/such/model.py")  # doctest: +IGNORE_EXCEPTION_DETAIL
Traceback (most recent call last):
initpolicy.errors.TargetError: no/such/model.py: file not found
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import TargetError

FACTORIES: tuple[str, ...] = ("build_model", "create_model", "get_model")
HINT = "hint: name it explicitly, e.g. model.py:Net or model.py:build_model"


@dataclass
class LoadedTarget:
    """A model found from a TARGET, with what came with it."""

    model: Any
    #: How the target is shown (``model.py:Net``); the ``target`` of trace JSON.
    name: str
    example_inputs: Any = None
    #: The file the model came from (None for ``package.module:NAME``).
    path: Path | None = None
    #: Things the user should know (e.g. --input-shape ignored); the CLI prints them.
    notes: list[str] = field(default_factory=list)
    #: Undoes what loading added to ``sys.path`` and ``sys.modules``; call it once the
    #: model is no longer run (its forward may still import a neighbour lazily). The CLI
    #: calls it when the command ends.
    restore: Callable[[], None] = lambda: None
    #: The source file of the module the model came from (``package/module.py`` for
    #: ``package.module:NAME``): an input of the command, never a destination.
    source: Path | None = None


class ImportState:
    """``sys.path`` and the modules loaded, as they were before a target was imported.

    :meth:`restore` puts ``sys.path`` back and forgets the modules the target brought in
    through a folder that was not on the path before (the target itself, its neighbours):
    a second target in another folder with a neighbour of the same name (``layers.py``)
    gets its own, not the first one's. Modules found on the old path (torch, torchvision
    imported by the target) stay loaded.
    """

    def __init__(self) -> None:
        self.path = list(sys.path)
        self.modules = set(sys.modules)
        self.own: set[str] = set()

    def restore(self) -> None:
        old = [Path(p or ".").resolve() for p in self.path]
        for name in set(sys.modules) - self.modules:
            if name in self.own or _found_outside(sys.modules.get(name), name, old):
                sys.modules.pop(name, None)
        sys.path[:] = self.path


def _found_outside(module: ModuleType | None, name: str, old: list[Path]) -> bool:
    """Whether ``module`` was found on a path entry that is not one of ``old``."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    if not origin or not Path(origin).is_absolute():
        return False
    file = Path(origin).resolve()
    depth = name.count(".") + (2 if file.stem == "__init__" else 1)
    entry = file.parents[depth - 1] if depth <= len(file.parents) else None
    return entry is not None and entry not in old


def _split(spec: str) -> tuple[str, str | None]:
    head, sep, name = spec.rpartition(":")
    if not sep or not name.isidentifier() or len(head) == 1:  # "C:\\..." is a drive, not NAME
        return spec, None
    return head, name


def _looks_like_file(head: str) -> bool:
    return head.endswith(".py") or "/" in head or "\\" in head


def _user_location(e: BaseException, root: Path | None) -> str | None:
    """``file:line`` of the innermost frame in the user's code (under ``root``)."""
    if isinstance(e, SyntaxError) and e.filename:
        return f"{e.filename}:{e.lineno}"
    frames = traceback.extract_tb(e.__traceback__)
    keep = [
        f
        for f in frames
        if "initpolicy" not in Path(f.filename).parts[-2:-1]
        and (root is None or Path(f.filename).resolve().is_relative_to(root))
    ]
    chosen = keep[-1] if keep else (frames[-1] if frames else None)
    return f"{chosen.filename}:{chosen.lineno}" if chosen else None


def _user_error(what: str, e: BaseException, root: Path | None) -> TargetError:
    message = str(e).strip().splitlines()[0] if str(e).strip() else ""
    if isinstance(e, SyntaxError):
        message = e.msg
    where = _user_location(e, root)
    text = f"{what}: {type(e).__name__}" + (f": {message}" if message else "")
    return TargetError(text + (f"\n  at {where}" if where else ""))


def _import_file(path: Path, state: ImportState) -> ModuleType:
    if not path.is_file():
        raise TargetError(f"{path}: file not found")
    name = f"_initpolicy_target_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"{path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # so that the file can import its neighbours
        sys.path.insert(0, folder)
    sys.modules[name] = module
    state.own.add(name)
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise _user_error(f"{path}: raised an error on import", e, path.resolve().parent) from None
    return module


def _import_module(dotted: str) -> ModuleType:
    cwd = str(Path.cwd())
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as e:
        if e.name and dotted.startswith(e.name):
            raise TargetError(
                f"{dotted}: not a file and not an importable module ({e})\n"
                "  hint: a TARGET is path/to/model.py, path/to/model.py:NAME or package.module:NAME"
            ) from None
        raise _user_error(f"{dotted}: raised an error on import", e, None) from None
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise _user_error(f"{dotted}: raised an error on import", e, None) from None


def _required_params(obj: Any) -> list[str]:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def _is_module_class(obj: Any) -> bool:
    import torch

    return inspect.isclass(obj) and issubclass(obj, torch.nn.Module)


def _materialize(where: str, name: str, obj: Any, root: Path | None) -> Any:
    """An nn.Module from an instance, a class or a factory called without arguments."""
    import torch

    if isinstance(obj, torch.nn.Module):
        return obj
    if not callable(obj):
        raise TargetError(
            f"{where}: {name} is a {type(obj).__name__}, not an nn.Module or a factory"
        )
    kind = "class" if _is_module_class(obj) else "factory"
    missing = _required_params(obj)
    if missing:
        raise TargetError(
            f"{where}: {kind} {name} needs arguments ({', '.join(missing)}); TARGET must build "
            "the model without arguments\n  hint: add a factory, e.g. "
            f"def build_model(): return {name}(...), and use {where}:build_model"
        )
    try:
        made = obj()
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise _user_error(f"{where}: {name}() raised", e, root) from None
    if not isinstance(made, torch.nn.Module):
        raise TargetError(f"{where}: {name}() returned a {type(made).__name__}, not an nn.Module")
    return made


def _candidates(module: ModuleType) -> list[str]:
    return [
        n
        for n, obj in vars(module).items()
        if _is_module_class(obj) and obj.__module__ == module.__name__
    ]


def _pick(where: str, module: ModuleType, root: Path | None) -> tuple[str, Any]:
    """The model of a file given without NAME, by the documented order."""
    import torch

    found = vars(module)
    if isinstance(found.get("model"), torch.nn.Module):
        return "model", found["model"]
    for factory in FACTORIES:
        if callable(found.get(factory)):
            return factory, _materialize(where, factory, found[factory], root)
    classes = _candidates(module)
    buildable = [c for c in classes if not _required_params(found[c])]
    if len(buildable) == 1:
        return buildable[0], _materialize(where, buildable[0], found[buildable[0]], root)
    if not classes:
        raise TargetError(
            f"{where}: no model found: define a module-level `model`, a factory "
            f"{'/'.join(f'{f}()' for f in FACTORIES)}, or an nn.Module subclass"
        )
    if not buildable:
        listed = ", ".join(f"{c}({', '.join(_required_params(found[c]))})" for c in classes)
        raise TargetError(
            f"{where}: no model found: every nn.Module class needs arguments: {listed}\n"
            "  hint: add def build_model(): return Net(...)"
        )
    raise TargetError(
        f"{where}: several nn.Module classes could be the model: {', '.join(buildable)}\n"
        f"  {HINT.replace('Net', buildable[-1])}"
    )


def _example_inputs(where: str, module: ModuleType, root: Path | None) -> Any:
    value = vars(module).get("example_inputs")
    if value is None:
        return None
    if not callable(value):
        return value
    if _required_params(value):
        raise TargetError(f"{where}: example_inputs() must take no arguments")
    try:
        return value()
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        raise _user_error(f"{where}: example_inputs() raised", e, root) from None


def target_file(spec: str | None) -> Path | None:
    """The file a TARGET names (``path/to/model.py``, ``path/to/model.py:NAME``), known
    without importing it, so a command can protect it before any model is built; None for
    ``package.module:NAME`` and for no TARGET.

    >>> target_file("src/model.py:build").as_posix(), target_file("torch.nn:Identity")
    ('src/model.py', None)
    """
    if spec is None:
        return None
    head, _ = _split(spec)
    return Path(head) if _looks_like_file(head) or Path(head).is_file() else None


def target_source(spec: str | None) -> Path | None:
    """The source file of the model TARGET names, found without importing anything of it:
    the file of ``model.py[:NAME]``, the module's file of ``package.module:NAME`` (through
    the import path, as the import would find it). None where it cannot be known now.

    >>> target_source("src/model.py:build").as_posix(), target_source("no_such_module:X")
    ('src/model.py', None)
    """
    path = target_file(spec)
    if path is not None or spec is None:
        return path
    head, _ = _split(spec)
    parts = head.split(".")
    search: list[str] | None = [str(Path.cwd()), *sys.path]
    found = None
    try:
        for i in range(len(parts)):
            if search is None:  # a module, not a package, has no submodules
                return None
            found = importlib.machinery.PathFinder.find_spec(".".join(parts[: i + 1]), search)
            if found is None:
                return None
            locations = found.submodule_search_locations
            search = list(locations) if locations is not None else None
    except (ImportError, ValueError, OSError):
        return None
    if found is None or not found.has_location or not found.origin:
        return None
    return Path(found.origin)


def load_target(
    spec: str | None,
    *,
    input_shape: Sequence[Sequence[int]] = (),
    input_dtype: Sequence[str] = (),
) -> LoadedTarget:
    """Find, import and build the model TARGET ``spec`` names.

    The file is imported and the model built under torch's RNG seeded with 0 (forked: the
    caller's RNG state is left as it was), so a model file without a seed of its own gives
    the same weights every time.

    Example inputs: the file's ``example_inputs()``, else tensors of ``input_shape``
    (``--input-shape``; ``input_dtype`` one for all or one per shape), else None (the
    tracer infers them from the first layer).

    What importing adds to ``sys.path`` and ``sys.modules`` is undone by the result's
    ``restore()`` (:class:`ImportState`), and at once when loading fails.

    >>> t = load_target("torch.nn:Identity")
    >>> type(t.model).__name__, t.name
    ('Identity', 'torch.nn:Identity')
    """
    if spec is None:  # the CLI's TARGET, when neither given nor configured
        raise TargetError(
            "no TARGET given, and no pyproject.toml with [tool.initpolicy] model = ... "
            f"at or above {Path.cwd().resolve()}\n"
            "  hint: initpolicy <command> path/to/model.py"
        )
    if input_dtype and not input_shape:
        raise TargetError("--input-dtype needs --input-shape (the shape of each input)")
    state = ImportState()
    try:
        loaded = _load(spec, state)
        if input_shape and loaded.example_inputs is not None:
            where = _split(spec)[0]
            loaded.notes.append(f"{where} defines example_inputs(); --input-shape is not used")
        elif input_shape:
            loaded.example_inputs = _from_shapes(input_shape, input_dtype)
    except BaseException:
        state.restore()
        raise
    loaded.restore = state.restore
    return loaded


def _from_shapes(input_shape: Sequence[Sequence[int]], input_dtype: Sequence[str]) -> Any:
    from ..tracer import from_shapes

    shapes = [tuple(int(s) for s in shape) for shape in input_shape]
    try:
        return from_shapes(shapes, list(input_dtype))
    except (ValueError, KeyError) as e:
        raise TargetError(f"--input-dtype: {e}") from None


def _load(spec: str, state: ImportState) -> LoadedTarget:
    # The model is built (and its example inputs drawn) under torch's RNG seeded with 0,
    # forked so the caller's RNG state is untouched: the same file gives the same weights
    # and the same lint numbers on every run.
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        head, name = _split(spec)
        path = target_file(spec)
        if path is not None:
            module = _import_file(path, state)
            root: Path | None = path.resolve().parent
        else:
            module = _import_module(head)
            root = None
        where = head
        if name is None:
            name, model = _pick(where, module, root)
        else:
            if name not in vars(module):
                options = _candidates(module) + [f for f in FACTORIES if f in vars(module)]
                listed = f"; found: {', '.join(options)}" if options else ""
                raise TargetError(
                    f"{where}: no {name!r} in this {'file' if path else 'module'}{listed}"
                )
            model = _materialize(where, name, vars(module)[name], root)
        origin = getattr(module, "__file__", None)
        return LoadedTarget(
            model=model,
            name=spec,
            example_inputs=_example_inputs(where, module, root),
            path=path,
            source=path if path is not None else Path(origin) if origin else None,
        )


def load_factory(spec: str | None) -> tuple[Any, str]:
    """The factory TARGET names, not called: a callable taking ``width`` (and ``depth``)
    keyword arguments, as ``initpolicy coordcheck`` builds a model per size. Without NAME,
    the file's ``build_model``/``create_model``/``get_model``, else its single nn.Module
    class.

    >>> factory, name = load_factory("torch.nn:Linear")
    >>> factory.__name__
    'Linear'
    """
    if spec is None:
        raise TargetError("no TARGET given: coordcheck needs a factory taking width=...")
    head, name = _split(spec)
    path = target_file(spec)
    # the factory is called once per size after this returns: what it imports stays
    module = _import_file(path, ImportState()) if path is not None else _import_module(head)
    found = vars(module)
    if name is None:
        name = next((f for f in FACTORIES if callable(found.get(f))), None)
        if name is None:
            classes = _candidates(module)
            if len(classes) != 1:
                raise TargetError(
                    f"{head}: name the factory: {head}:NAME (a callable taking width=...)"
                )
            name = classes[0]
    if not callable(found.get(name)):
        raise TargetError(f"{head}: no callable {name!r} (a factory taking width=...)")
    return found[name], f"{head}:{name}"
