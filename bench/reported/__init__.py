"""Init bugs people reported in public issues, each as a small model that reproduces it
(bench/bench_reported.py, tests/test_lint_reported.py)."""

from .fixtures import FIXTURES, Fixture

__all__ = ["FIXTURES", "Fixture"]
