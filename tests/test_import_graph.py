"""No import cycle at any level (docs/architecture.md, "The import rule, checked").

import-linter checks the layers between stages, but only for module-level imports and
only where a contract names them. This test reads every ``import`` statement of the
package with :mod:`ast`, those inside functions included (a function-level import is
how a cycle hides: it runs later, but the two modules still need each other), and
checks that the graph has no cycle between modules, nor between the top-level parts (the
stages, ``shards``, ``api``, ``errors``, ...: a module counted as the part that holds it).
A sub-package may use its parent package's modules (``linter.rules`` reads
``linter.bands``; ``tracer.inputs`` reads ``tracer.state``) as long as no module cycle
results.

Only written imports count. Importing ``a.b.c`` also runs ``a/b/__init__.py`` first; a
package's ``__init__`` re-exporting its own modules is not a cycle with them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "initpolicy"


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _targets(name: str, is_package: bool, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The dotted names one import statement asks for (a ``from`` import's names may be
    modules or attributes: both are given, the caller keeps what exists)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join([*base, node.module] if node.module else base)
    else:
        prefix = node.module or ""
    return [prefix] + [f"{prefix}.{a.name}" for a in node.names]


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its file."""
    files = module_files(root)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            wanted = _targets(name, path.name == "__init__.py", node)
            # ``from .x import y``: the module x.y if there is one, else x itself
            found = [t for t in wanted[1:] if t in files] if len(wanted) > 1 else []
            if not found and isinstance(node, ast.ImportFrom):
                found = [wanted[0]] if wanted[0] in files else []
            if isinstance(node, ast.Import):
                found = [t for t in wanted if t in files]
            deps.update(found)
        deps.discard(name)
        graph[name] = deps
    return graph


def collapse(graph: dict[str, set[str]], group: dict[str, str]) -> dict[str, set[str]]:
    """The graph between groups of modules (an edge inside one group is dropped)."""
    out: dict[str, set[str]] = {group[m]: set() for m in graph}
    for m, deps in graph.items():
        out[group[m]].update(group[d] for d in deps if group[d] != group[m])
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _part_of(graph: dict[str, set[str]]) -> dict[str, str]:
    return {m: ".".join(m.split(".")[:2]) for m in graph}


def _levels(root: Path) -> dict[str, dict[str, set[str]]]:
    graph = import_graph(root)
    return {
        "module": graph,
        "part": collapse(graph, _part_of(graph)),
    }


@pytest.mark.parametrize("level", ["module", "part"])
def test_the_package_has_no_import_cycle(level: str) -> None:
    graph = _levels(PACKAGE)[level]
    assert len(graph) > (3 if level == "part" else 10)
    assert cycles(graph) == []


def test_function_level_imports_are_in_the_graph() -> None:
    graph = import_graph(PACKAGE)
    # initpolicy/linter/probe.py imports the memory meter only inside run_probe()
    assert "initpolicy.linter.memory" in graph["initpolicy.linter.probe"]


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


def test_a_cycle_through_a_function_level_import_is_found(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "from .b import g\n",
            "pkg/b.py": "def g():\n    from . import a\n    return a\n",
            "pkg/c.py": "import pkg.a\n",
        },
    )
    assert cycles(_levels(root)["module"]) == [["pkg.a", "pkg.b"]]


def test_a_cycle_between_parts_is_found(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/one/__init__.py": "",
            "pkg/one/x.py": "from ..two.y import f\n",
            "pkg/two/__init__.py": "",
            "pkg/two/y.py": "def f():\n    return 1\n",
            "pkg/two/z.py": "from ..one import x\n",
        },
    )
    levels = _levels(root)
    assert cycles(levels["module"]) == []
    assert cycles(levels["part"]) == [["pkg.one", "pkg.two"]]


def test_a_package_init_reexporting_its_modules_is_not_a_cycle(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from .a import f\nfrom .b import g\n",
            "pkg/a.py": "def f():\n    return 1\n",
            "pkg/b.py": "from .a import f\ng = f\n",
        },
    )
    assert all(cycles(graph) == [] for graph in _levels(root).values())


def test_every_import_of_the_package_names_a_module_that_exists() -> None:
    """A function-level import of a module that moved fails only when the function runs
    (and mypy's ``ignore_missing_imports`` keeps quiet about it): every ``from
    initpolicy.X import`` / ``import initpolicy.X``, at any level, names a module of the
    package."""
    files = module_files(PACKAGE)
    missing = []
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            if (
                isinstance(node, ast.ImportFrom)
                and not node.level
                and not (node.module or "").startswith("initpolicy")
            ):
                continue
            asked = _targets(name, is_package, node)
            head = asked[0] if isinstance(node, ast.ImportFrom) else None
            wanted = (
                [head] if head is not None else [a for a in asked if a.startswith("initpolicy")]
            )
            for target in wanted:
                if target.startswith("initpolicy") and target not in files:
                    missing.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {target}")
    assert missing == []
