"""The linter's vocabulary: findings, severities, the rule registry, thresholds,
rule selection (ruff-style ``select``/``ignore`` by code or prefix) and folding.

Torch-free: ``initpolicy rules`` and ``initpolicy rule CODE`` only need this module.

Codes are stable and grouped by prefix:

- ``IP1xx`` static checks on the weights as they are (or as a policy would make them),
- ``IP2xx`` signal propagation, from one forward and backward pass,
- ``IP3xx`` checks of a policy against the model it is applied to.

>>> get_rule("IP103").name
'gain-mismatch'
>>> sorted(r.code for r in selected(select=["IP2"], ignore=["IP205"]))
['IP201', 'IP202', 'IP203', 'IP204']
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from ..errors import UsageError

Severity = Literal["info", "warning", "error"]
Kind = Literal["static", "dynamic", "policy"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")


def severity_rank(severity: str) -> int:
    return ("info", "warning", "error").index(severity)


@dataclass
class Finding:
    """One problem. ``target`` is a parameter or module name; ``location`` is the policy's
    ``file:line`` where a policy set the value, else the model source line that built the
    module, else None. ``related`` names the checks folded into this one (same cause)."""

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
    def full_message(self) -> str:
        return f"{self.message}; fix: {self.fix}" if self.fix else self.message

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of PRODUCT.md (the fix is part of ``message``)."""
        return {
            "code": self.code,
            "name": self.name,
            "severity": self.severity,
            "target": self.target,
            "message": self.full_message,
            "measured": self.measured,
            "expected": self.expected,
            "location": self.location,
            "related": list(self.related),
        }


@dataclass(frozen=True)
class Case:
    """A test case as data: a model spec, how its weights are set, and whether ``rule``
    fires on ``target``. See tests/test_lint_cases.py for the spec language.

    ``model`` is ``"mlp:ACT:W0xW1x..."`` (Linear layers with ACT between them) or another
    builder name the test knows; ``init`` maps a parameter glob to a scheme call applied
    in order (``"*.weight": "uniform(-1, 1)"``); ``policy`` lints with that policy text.
    """

    title: str
    model: str
    fires: bool
    init: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    policy: str | None = None
    static: bool = True
    strict: bool = False


@dataclass
class Context:
    """What the checks share: thresholds, the traced graph, the model, the plan."""

    thresholds: dict[str, float]
    graph: Any = None
    model: Any = None
    plan: Any = None
    strict: bool = False

    def t(self, name: str) -> float:
        return self.thresholds[name]


class Rule:
    """Base of every lint rule; subclasses set the class attributes and a docstring with
    the sections What, Why, Anti-pattern and Fix (docs/lint.md is generated from them)."""

    code: ClassVar[str]
    name: ClassVar[str]
    severity: ClassVar[Severity]
    kind: ClassVar[Kind]
    summary: ClassVar[str]
    #: Threshold names the rule reads (documented in docs/lint.md).
    uses: ClassVar[tuple[str, ...]] = ()
    cases: ClassVar[tuple[Case, ...]] = ()

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def sections(cls) -> dict[str, str]:
        """The docstring split at its ``Section:`` headers (What, Why, Anti-pattern, Fix)."""
        out: dict[str, list[str]] = {"What": []}
        current = "What"
        for line in cls.doc().splitlines():
            head = line.rstrip(":").strip()
            if line.endswith(":") and head in ("What", "Why", "Anti-pattern", "Fix", "Exempt"):
                current = head
                out[current] = []
                continue
            out[current].append(line)
        return {k: "\n".join(v).strip("\n") for k, v in out.items()}

    @classmethod
    def finding(cls, target: str, message: str, **kw: Any) -> Finding:
        return Finding(cls.code, cls.name, cls.severity, target, message, **kw)


REGISTRY: dict[str, type[Rule]] = {}


def register(cls: type[Rule]) -> type[Rule]:
    """Class decorator: add a rule to the registry (codes and names must be unique)."""
    if cls.code in REGISTRY or any(r.name == cls.name for r in REGISTRY.values()):
        raise ValueError(f"duplicate lint rule {cls.code} {cls.name}")
    REGISTRY[cls.code] = cls
    return cls


def _load_rules() -> None:
    from .rules import policy, recurrent, scale, signal, weights  # noqa: F401


def all_rules() -> list[type[Rule]]:
    _load_rules()
    return [REGISTRY[c] for c in sorted(REGISTRY)]


def get_rule(code_or_name: str) -> type[Rule]:
    """A rule by code (``IP103``) or name (``gain-mismatch``); UsageError with a hint."""
    rules = all_rules()
    key = code_or_name.strip()
    for r in rules:
        if key.upper() == r.code or key.lower() == r.name:
            return r
    known = [r.code for r in rules] + [r.name for r in rules]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    raise UsageError(f"unknown lint rule {key!r}{hint}; `initpolicy rules` lists them")


# --------------------------------------------------------------------------- thresholds

#: Every threshold with its default and meaning (keys of ``[tool.initpolicy.lint.thresholds]``).
THRESHOLDS: dict[str, tuple[float, str]] = {
    "gain-tolerance": (0.15, "relative slack on each side of an activation's gain band"),
    "range-factor": (2.0, "how far outside the band (in std) range-too-wide/-narrow start"),
    "torch-default-tolerance": (0.1, "relative slack around std = 1/sqrt(3·fan_in)"),
    "selu-tolerance": (0.1, "relative slack around lecun's std = 1/sqrt(fan_in)"),
    "large-bias": (1.0, "largest |bias| accepted before an activation"),
    "forget-bias": (0.5, "mean LSTM forget-gate bias below which lstm-forget-bias fires"),
    "orthogonality": (0.1, "largest |WᵀW/c - I| entry still called orthogonal"),
    "trunc-sigmas": (4.0, "bounds further than this many std from the mean truncate nothing"),
    "drift": (10.0, "total growth (or 1/shrink) of a layer group's output std over depth"),
    "min-depth": (4.0, "fewest layers in a group for variance-drift"),
    "dead-share": (0.5, "share of never-active ReLU units that makes a layer dead"),
    "saturation-derivative": (0.05, "derivative (relative to its maximum) called saturated"),
    "saturated-share": (0.3, "share of saturated pre-activations that fires"),
    "gradient-ratio": (100.0, "first/last layer gradient rms ratio (either way) that fires"),
    "batch": (64.0, "synthetic batch size of the dynamic pass"),
}


def thresholds(overrides: Mapping[str, Any] | None = None) -> dict[str, float]:
    """Defaults updated by ``overrides`` (kebab or snake case keys); UsageError on bad ones.

    >>> thresholds({"gain_tolerance": 0.2})["gain-tolerance"]
    0.2
    """
    out = {k: v for k, (v, _) in THRESHOLDS.items()}
    for key, value in (overrides or {}).items():
        name = str(key).replace("_", "-")
        if name not in THRESHOLDS:
            close = difflib.get_close_matches(name, list(THRESHOLDS), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(
                f"unknown lint threshold {key!r}{hint}; expected one of {', '.join(THRESHOLDS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"lint threshold {name} must be a number, got {value!r}")
        out[name] = float(value)
    return out


# --------------------------------------------------------------------------- selection


def _check_codes(values: Iterable[str], what: str) -> list[str]:
    rules = all_rules()
    out = []
    for v in values:
        v = v.strip()
        if not v:
            continue
        if v.upper() == "ALL":
            out.append("IP")
            continue
        named = next((r.code for r in rules if r.name == v.lower()), None)
        if named:
            out.append(named)
            continue
        code = v.upper()
        if not any(r.code.startswith(code) for r in rules):
            known = [r.code for r in rules] + [r.name for r in rules]
            close = difflib.get_close_matches(v, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"{what}: no lint rule matches {v!r}{hint}")
        out.append(code)
    return out


def selected(
    select: Sequence[str] | None = None,
    ignore: Sequence[str] | None = None,
    extend_select: Sequence[str] | None = None,
) -> list[type[Rule]]:
    """The enabled rules. Like ruff, the most specific matching code wins: ``select IP1``
    with ``ignore IP105`` drops IP105; ``ignore IP1`` with ``select IP103`` keeps IP103.
    A rule's kebab-case name works wherever a code does."""
    positive = _check_codes(select if select is not None else ["IP"], "select")
    positive += _check_codes(extend_select or (), "extend-select")
    negative = _check_codes(ignore or (), "ignore")
    out = []
    for r in all_rules():
        pos = max((len(p) for p in positive if r.code.startswith(p)), default=-1)
        neg = max((len(n) for n in negative if r.code.startswith(n)), default=-1)
        if pos > neg:
            out.append(r)
    return out


# --------------------------------------------------------------------------- folding

#: One cause, several symptoms on one parameter: the first of these names that fired is
#: reported, the rest go to its ``related`` list (most specific first).
FOLD_ORDER: tuple[str, ...] = (
    "torch-default-before-relu",
    "selu-needs-lecun",
    "range-too-wide",
    "range-too-narrow",
    "gain-mismatch",
)


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
        group.sort(key=lambda f: FOLD_ORDER.index(f.name))
        head = group[0]
        head.related = [*head.related, *(f.name for f in group[1:])]
        if head.fix is None:
            head.fix = next((f.fix for f in group[1:] if f.fix), None)
        dropped.update(id(f) for f in group[1:])
    return [f for f in findings if id(f) not in dropped]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by code, then by target (stable, so depth order survives)."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.code))
