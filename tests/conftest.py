"""What the tests share: the fast and slow tiers, Hypothesis profiles, and the fixtures more
than one test file uses.

Tiers: ``pytest -m "not slow"`` (``bash .ci/fast``) is the edit loop, under two minutes on
two cores; ``pytest`` (``bash .ci/test``, CI) runs everything. A test is slow when it builds
real third-party models (the zoo), fuzzes, starts subprocesses or process groups, or builds
environments: its module says ``pytestmark = pytest.mark.slow``, or the test carries the
mark itself.

CI runs the tests on every core (pytest-xdist, ``-n auto --dist loadgroup``): each test
must stand alone (its own ``tmp_path``, a free port), and a module whose module-scoped
fixture is costly (a trained demo, a built wheel, a process group) carries
``pytest.mark.xdist_group(NAME)`` so that one worker runs it once.

Hypothesis profiles (``--hypothesis-profile NAME``): ``ci`` (the default: the example counts
CI runs), ``dev`` (a tenth of them, for a quick look at a fuzz test), ``thorough`` (5,000
examples, the fault-injection runs docs/guarantees.md describes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", max_examples=300, **_COMMON)
settings.register_profile("dev", max_examples=30, **_COMMON)
settings.register_profile("thorough", max_examples=5000, **_COMMON)
settings.load_profile("ci")


def pytest_configure(config: pytest.Config) -> None:
    # the plugin loads a profile named on the command line; ours is the default otherwise
    if not config.getoption("hypothesis_profile", default=None):
        settings.load_profile("ci")


@pytest.fixture(scope="module")
def one_thread() -> Iterator[None]:
    """One intra-op thread for a module of small or meta tensors: on a loaded two-core
    machine threads only compete with each other. Use as
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def make_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``make_repo({"model.py": text, "init/model.pol": text})``: ``tmp_path`` holding those
    files (folders made as needed), as the working directory (``cwd`` names a subfolder
    to work from instead)."""

    def make(files: dict[str, str], cwd: str = ".") -> Path:
        for name, text in files.items():
            path = tmp_path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        monkeypatch.chdir(tmp_path / cwd)
        return tmp_path

    return make
