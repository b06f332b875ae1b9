"""The README's demo (examples/why_init_matters.py), shortened: the three initializations
come out as the README says, and the linter's verdict on each is the documented one."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
#: It trains networks: minutes of CPU.
#: one worker runs the module (its module fixture is costly): see tests/conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("demo")]


@pytest.fixture(scope="module")
def demo() -> Iterator[Any]:
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    spec = importlib.util.spec_from_file_location("demo", ROOT / "examples" / "why_init_matters.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setitem(sys.modules, "demo", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    yield module
    monkeypatch.undo()


@pytest.fixture(scope="module")
def runs(demo: Any, tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("demo") / "demo"
    threads = torch.get_num_threads()
    try:
        result = demo.main(["--epochs", "4", "--seeds", "0", "--out", str(out)])
    finally:
        torch.set_num_threads(threads)  # the demo pins one thread for itself
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert "| he (policy) |" in out.with_suffix(".md").read_text()
    return {r.name: r for r in result}


def test_signal_at_depth_20_dies_under_defaults_and_survives_under_the_policy(runs: dict) -> None:
    assert runs["pytorch default"].init_stds[-1] < 1e-4
    assert runs["xavier (mismatched)"].init_stds[-1] < 1e-2
    assert runs["he (policy)"].init_stds[-1] > 0.1


def test_the_policy_trains_first(runs: dict) -> None:
    he, default = runs["he (policy)"], runs["pytorch default"]
    assert he.losses[-1] < 0.8 * default.losses[-1]
    assert he.losses[-1] < runs["xavier (mismatched)"].losses[-1]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("pytorch default", {"torch-default-before-relu", "variance-drift"}),
        ("xavier (mismatched)", {"gain-mismatch", "variance-drift"}),
        ("he (policy)", set()),
    ],
)
def test_the_linter_verdict_on_each_initialization(runs: dict, name: str, expected: set) -> None:
    lint = set(runs[name].lint)
    assert expected <= lint
    if not expected:
        assert lint == set()


def _rows(table: str) -> dict[str, list[str]]:
    """The table's rows by initialization: its cells after the name."""
    rows = [line.split("|")[1:-1] for line in table.splitlines()[2:]]
    return {row[0].strip(): [c.strip() for c in row[1:]] for row in rows}


#: The columns fixed at init (activation std at layers 1 and 20, the epoch-1 loss, the lint
#: verdict): the same on every CPU, so the README's must be what the demo prints.
AT_INIT = (0, 1, 2, 6)


def test_the_readme_table_is_what_the_documented_demo_prints(demo: Any, tmp_path: Path) -> None:
    # the README's numbers come from `python examples/why_init_matters.py` (the quickstart
    # runs it); regenerate them with --readme README.md when this fails
    threads = torch.get_num_threads()
    try:
        runs = {r.name: r for r in demo.main(["--out", str(tmp_path / "demo")])}
    finally:
        torch.set_num_threads(threads)
    printed = _rows(demo.table(list(runs.values())))
    shown = _rows(demo.readme_table(ROOT / "README.md"))
    assert printed.keys() == shown.keys()
    for name in printed:
        assert [printed[name][i] for i in AT_INIT] == [shown[name][i] for i in AT_INIT], name
    # the trained columns differ between CPUs (float32 kernels, thirty epochs): what the
    # README says of them holds on this one
    default, xavier, he = runs["pytorch default"], runs["xavier (mismatched)"], runs["he (policy)"]
    assert max(default.test_accuracy, *default.other_seeds) < 0.15  # never trains
    assert min(he.test_accuracy, *he.other_seeds) > 0.85  # trains at once
    assert he.losses[-1] < xavier.losses[-1] < default.losses[-1]  # xavier trains late
