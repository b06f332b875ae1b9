"""The bugs people report, as a benchmark: each fixture of bench/reported/fixtures.py is an
init bug from a public issue, reproduced on a small model. For each one:

1. lint the model as the bug leaves it (or the fixture's policy applied to it): a finding
   with one of the fixture's codes must name the fixture's target parameter (*found*);
2. apply that finding's own fix (a policy rule) to the buggy model and lint again: no
   finding of those codes may remain on the target (*fix works*);
3. lint the model as the thread's fix leaves it: no warning or error anywhere (*clean*).

A fixture counts toward recall when all three hold. Target: recall >= 95%.

    .venv/bin/python bench/bench_reported.py [NAME ...]
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.reported import FIXTURES, Fixture  # noqa: E402


@dataclass
class Outcome:
    """What the linter said about one fixture."""

    fixture: Fixture
    #: The finding on the target (code, severity, message), or None.
    finding: Any
    #: Findings of the fixture's codes left on the target after the finding's fix.
    after_fix: list[str]
    #: Warnings and errors on the model as the thread's fix leaves it.
    fixed_findings: list[str]
    seconds: float

    @property
    def found(self) -> bool:
        return self.finding is not None

    @property
    def fix_works(self) -> bool:
        return self.found and not self.after_fix

    @property
    def clean(self) -> bool:
        return not self.fixed_findings

    @property
    def ok(self) -> bool:
        return self.found and self.fix_works and self.clean


def _lint(model: Any, fixture: Fixture, policy: str | None) -> Any:
    import initpolicy

    inputs = fixture.example_inputs() if fixture.example_inputs else None
    return initpolicy.lint(model, policy, example_inputs=inputs, seed=0)


def _on_target(result: Any, fixture: Fixture) -> list[Any]:
    return [
        f
        for f in result.all_findings
        if f.code in fixture.codes and fixture.target in (f.target, f.param)
    ]


def _apply_fix(model: Any, fix: str) -> None:
    import initpolicy

    initpolicy.load(fix).apply(model, seed=0)


def run(fixture: Fixture) -> Outcome:
    """Lint one fixture: found, fixed by its own fix, clean once the thread's fix is in."""
    start = time.perf_counter()
    result = _lint(fixture.build(), fixture, fixture.policy)
    hits = _on_target(result, fixture)
    finding = hits[0] if hits else None
    after: list[str] = []
    if finding is not None:
        model = fixture.build()
        policy = fixture.policy
        if finding.fix is None:
            after = ["(no fix)"]
        elif fixture.policy is not None:
            policy = f"{fixture.policy}\n{finding.fix}"
        else:
            _apply_fix(model, finding.fix)
        if finding.fix is not None:
            after = [
                f"{f.code} {f.message}" for f in _on_target(_lint(model, fixture, policy), fixture)
            ]
    clean = _lint(fixture.fixed(), fixture, fixture.fixed_policy)
    noisy = [f"{f.code} {f.target}: {f.message}" for f in clean.findings if f.severity != "info"]
    return Outcome(fixture, finding, after, noisy, time.perf_counter() - start)


def main(argv: list[str]) -> int:
    import torch

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    chosen = [f for f in FIXTURES if not argv or f.name in argv]
    outcomes = []
    for fixture in chosen:
        o = run(fixture)
        outcomes.append(o)
        code = f"{o.finding.code} {o.finding.severity}" if o.finding else "-"
        print(
            f"{fixture.name:36s} {fixture.issue:45s} found={o.found!s:5s} "
            f"fix={o.fix_works!s:5s} clean={o.clean!s:5s} {code} ({o.seconds:.1f} s)",
            flush=True,
        )
        for line in o.after_fix:
            print(f"    still after the fix: {line}")
        for line in o.fixed_findings:
            print(f"    on the fixed model: {line}")
    print()
    print("| bug | reported in | layer | found by | fix works | fixed model clean |")
    print("|---|---|---|---|---|---|")
    for o in outcomes:
        f = o.fixture
        by = f"{o.finding.code} ({o.finding.severity})" if o.finding else "missed"
        print(
            f"| {f.name} | [{f.issue}]({f.url}) | `{f.target}` | {by} | "
            f"{'yes' if o.fix_works else 'no'} | {'yes' if o.clean else 'no'} |"
        )
    ok = sum(o.ok for o in outcomes)
    recall = ok / len(outcomes) if outcomes else 0.0
    print()
    print(
        f"fixtures: {len(outcomes)}; found on the right layer: {sum(o.found for o in outcomes)}; "
        f"fix works: {sum(o.fix_works for o in outcomes)}; fixed model clean: "
        f"{sum(o.clean for o in outcomes)}; recall (all three): {ok}/{len(outcomes)} = "
        f"{recall:.1%} (target >= 95%)"
    )
    print(f"time: {sum(o.seconds for o in outcomes):.0f} s")
    return 0 if recall >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
