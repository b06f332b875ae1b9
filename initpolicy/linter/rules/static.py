"""What the static rules (IP1xx) share: a finding about one parameter, and the scheme
that fits the activation its layer feeds (the default fix).

>>> from initpolicy.tracer.graph import Layer, ParamInfo, Resolution
>>> from initpolicy.linter.subject import Stats, Subject
>>> from initpolicy.linter.rules.scale import GainMismatch
>>> weight = ParamInfo("fc.weight", "weight", (4, 4), 4, 4)
>>> s = Subject(Layer("fc", "Linear", ("Linear",), Resolution("relu")), weight, None,
...             Stats(0.1, -0.2, 0.2, 16, True), "relu")
>>> fix_scheme(s)
'kaiming_normal(fan_in)'
>>> subject_finding(GainMismatch, s, "std 0.1 of fc.weight").fix
'Linear named "fc" -> kaiming_normal(fan_in)'
"""

from __future__ import annotations

from ..bands import VARIANCE_FIX, band
from ..families import EMBEDDING_TYPES, is_type
from ..findings import Finding
from ..rule import LintRule
from ..subject import Subject


def fix_scheme(s: Subject) -> str:
    """The scheme that fits the subject's activation (for fix rules)."""
    b = band(s.activation, s.act_args)
    if b is not None:
        if s.groups > 1 and b.fix.startswith("xavier_"):
            # Glorot's fan_avg through torch's fan_out of a grouped conv (channels x kernel)
            # would draw it `groups` times too small: the fan_in form of the same gain.
            return VARIANCE_FIX
        return b.fix
    if is_type(s.layer, EMBEDDING_TYPES):
        return "normal(0, 0.02)"
    return "xavier_uniform()"


def subject_finding(
    rule: type[LintRule],
    s: Subject,
    message: str,
    *,
    measured: float | None = None,
    expected: float | None = None,
    fix: str | None = None,
) -> Finding:
    """A finding of ``rule`` on parameter ``s``, located where ``s`` was set; the fix
    defaults to the scheme that fits ``s``'s activation, for exactly this tensor."""
    return rule.finding(
        s.name,
        message,
        measured=measured,
        expected=expected,
        location=s.location,
        param=s.name,
        fix=fix if fix is not None else s.fix(fix_scheme(s)),
    )
