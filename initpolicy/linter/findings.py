"""What the linter reports: a Finding, its severity, and the two passes over a list of
them that every lint run makes (fold one cause into one finding, then sort). Torch-free.

>>> a = Finding("IP103", "gain-mismatch", "warning", "fc.weight", "std 0.1", param="fc.weight")
>>> b = Finding("IP106", "torch-default-before-relu", "warning", "fc.weight", "default",
...             param="fc.weight")
>>> [(f.name, f.related) for f in fold([a, b])]
[('torch-default-before-relu', ['gain-mismatch'])]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["info", "warning", "error"]
#: Least to most severe: the order ``--fail-level`` compares in.
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}

#: The keys of a finding in ``lint --format json`` (PRODUCT.md's contract), in order.
JSON_KEYS = (
    "code",
    "name",
    "severity",
    "target",
    "message",
    "measured",
    "expected",
    "location",
    "related",
)


def severity_rank(severity: str) -> int:
    """0 for info, 1 for warning, 2 for error.

    >>> severity_rank("error") > severity_rank("warning")
    True
    """
    return _RANK[severity]


@dataclass
class Finding:
    """One problem. ``target`` is a parameter or module name; ``location`` is the policy's
    ``file:line`` where a policy set the value, else the model source line that built the
    module, else None. ``related`` names the checks folded into this one (same cause).

    >>> Finding("IP109", "large-bias", "warning", "0.bias", "|0.bias| reaches 3",
    ...         fix='Linear.bias named "0" -> zeros()').full_message
    '|0.bias| reaches 3; fix: Linear.bias named "0" -> zeros()'
    """

    code: str
    name: str
    severity: Severity
    target: str
    message: str
    measured: float | None = None
    expected: float | None = None
    location: str | None = None
    related: list[str] = field(default_factory=list)
    #: A policy rule that fixes it, e.g. ``Linear named "fc1" -> kaiming_normal(fan_in)``.
    fix: str | None = None
    #: The parameter the finding is about (None for module-, model- or policy-level ones).
    param: str | None = None

    @property
    def fixes(self) -> list[str]:
        """The policy rules of the fix, one per line (several for a per-gate fix).

        >>> Finding("IP111", "n", "info", "t", "m", fix="A -> x()\\nB -> y()").fixes
        ['A -> x()', 'B -> y()']
        """
        return [line for line in (self.fix or "").splitlines() if line.strip()]

    @property
    def full_message(self) -> str:
        return f"{self.message}; fix: {'; '.join(self.fixes)}" if self.fix else self.message

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of PRODUCT.md (the fix is part of ``message``)."""
        out = {key: getattr(self, key) for key in JSON_KEYS}
        out.update(message=self.full_message, related=list(self.related))
        return out


#: One cause, several symptoms on one parameter: the first of these names that fired is
#: reported, the rest go to its ``related`` list (most specific first).
FOLD_ORDER: tuple[str, ...] = (
    "torch-default-before-relu",
    "selu-needs-lecun",
    "range-too-wide",
    "range-too-narrow",
    "gain-mismatch",
)


def specificity(name: str) -> int:
    """A finding name's place in :data:`FOLD_ORDER` (lower is more specific; names
    outside it come last).

    >>> specificity("range-too-wide") < specificity("gain-mismatch") < specificity("large-bias")
    True
    """
    return FOLD_ORDER.index(name) if name in FOLD_ORDER else len(FOLD_ORDER)


def fold(findings: list[Finding]) -> list[Finding]:
    """Merge the scale findings of each parameter into its most specific one."""
    by_param: dict[str, list[Finding]] = {}
    for f in findings:
        if f.param is not None and f.name in FOLD_ORDER:
            by_param.setdefault(f.param, []).append(f)
    dropped: set[int] = set()
    for group in by_param.values():
        if len(group) < 2:
            continue
        group.sort(key=lambda f: specificity(f.name))
        head = group[0]
        head.related = [*head.related, *(f.name for f in group[1:])]
        if head.fix is None:
            head.fix = next((f.fix for f in group[1:] if f.fix), None)
        dropped.update(id(f) for f in group[1:])
    return [f for f in findings if id(f) not in dropped]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by code; stable, so within a code the findings keep the order
    the rule gave them (execution order of the layers).

    >>> [f.code for f in sort_findings([Finding("IP109", "large-bias", "warning", "b", ""),
    ...                                Finding("IP101", "constant-weight", "error", "w", "")])]
    ['IP101', 'IP109']
    """
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.code))
