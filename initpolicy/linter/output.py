"""Rendering a LintResult: text (with the per-layer table), JSON, SARIF 2.1.0 for GitHub
code scanning, GitHub workflow annotations, and ``--statistics``. Torch-free.

>>> from initpolicy.linter.findings import Finding
>>> f = Finding("IP103", "gain-mismatch", "warning", "fc.weight", "std 0.1", location="m.py:3")
>>> github([f])
'::warning file=m.py,line=3,title=IP103 gain-mismatch::fc.weight: std 0.1'
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from typing import Any

from ..common import table
from .findings import Finding
from .registry import all_rules

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}
_GITHUB_LEVEL = {"error": "error", "warning": "warning", "info": "notice"}


def split_location(location: str | None) -> tuple[str | None, int | None]:
    """``"model.py:12"`` -> ``("model.py", 12)``; a bare path -> ``(path, None)``."""
    if not location:
        return None, None
    head, sep, tail = location.rpartition(":")
    if sep and tail.isdigit():
        return head, int(tail)
    return location, None


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith("..") else rel


def _where(f: Finding, default: str | None) -> tuple[str | None, int | None]:
    path, line = split_location(f.location)
    if path is None or path.startswith("<"):
        path, line = default, None
    return (_relative(path) if path else None), line


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0:
        return "0"
    return f"{x:.3g}" if 1e-3 <= abs(x) < 1e4 else f"{x:.2e}"


def signal_table(stats: Sequence[Any]) -> str:
    """The per-layer numbers of the dynamic pass (what ``--plot`` draws)."""
    header = ("depth", "layer", "type", "activation", "out std", "grad norm", "grad rms")
    rows = [
        (
            str(st.depth),
            st.name,
            st.type,
            st.activation,
            _num(st.out_std),
            _num(st.grad_norm),
            _num(st.grad_rms),
            "-" if st.dead is None else f"{st.dead:.0%}",
            "-" if st.saturated is None else f"{st.saturated:.0%}",
        )
        for st in sorted(stats, key=lambda s: s.depth)
    ]
    return table((*header, "dead", "saturated"), rows)


#: Findings of one cause fold into one text block from this many on (``fold_cause``).
FOLD_AT = 3
#: Names a folded block lists before "and N more".
_LISTED = 8
_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?%?")


def cause(f: Finding) -> tuple[str, str, str, str]:
    """What a finding says once its own names and numbers are set aside: its code,
    severity, message shape and fix scheme. Findings with one cause share it (every weight
    of a model left at zero, every norm drawn like a weight).

    >>> a = Finding("IP101", "constant-weight", "error", "a.weight", "all 4 values of a.weight "
    ...             "equal 0", fix='Linear named "a" -> kaiming_normal(fan_in)')
    >>> b = Finding("IP101", "constant-weight", "error", "b.weight", "all 9 values of b.weight "
    ...             "equal 0", fix='Linear named "b" -> kaiming_normal(fan_in)')
    >>> cause(a) == cause(b)
    True
    """
    # Numbers first (in names too: "layers.3.fc"), then the names; a layer name that is
    # all digits ("0" of a Sequential) would match numbers, so only the target is replaced.
    message = _NUMBER.sub("#", f.message)
    layer = f.target.rsplit(".", 1)[0]
    names = [f.target, *([layer] if re.search("[A-Za-z_]", layer) else [])]
    for name in sorted({_NUMBER.sub("#", n) for n in names}, key=len, reverse=True):
        message = re.sub(rf"(?<![\w.#]){re.escape(name)}(?![\w#])", "<name>", message)
    scheme = f.fix or ""
    if "->" in scheme and "\n" not in scheme:
        scheme = scheme.split("->", 1)[1].strip()
    return f.code, f.severity, message, scheme


def fold_cause(findings: Sequence[Finding]) -> list[list[Finding]]:
    """The findings in order, those of one :func:`cause` gathered at the first of them
    when there are :data:`FOLD_AT` or more (each other finding alone)."""
    groups: dict[tuple[str, str, str, str], list[Finding]] = {}
    for f in findings:
        groups.setdefault(cause(f), []).append(f)
    out: list[list[Finding]] = []
    seen: set[tuple[str, str, str, str]] = set()
    for f in findings:
        key = cause(f)
        group = groups[key]
        if len(group) < FOLD_AT:
            out.append([f])
        elif key not in seen:
            seen.add(key)
            out.append(group)
    return out


def text(result: Any, *, show_table: bool = False) -> str:
    """Findings one per block (location, code, severity, name, message, fix, related),
    findings of one cause folded into one block that lists the others, the per-layer
    table where asked (``lint --table``), and a one-line verdict: a clean model is that
    one line."""
    out = []
    for group in fold_cause(result.findings):
        f = group[0]
        path, line = _where(f, None)
        head = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        what = f.message if f.target in f.message else f"{f.target}: {f.message}"
        out.append(f"{head}{f.code} {f.severity} [{f.name}] {what}")
        if len(group) > 1:
            others = [g.target for g in group[1:]]
            more = len(others) - _LISTED
            listed = ", ".join(others[:_LISTED]) + (f" and {more} more" if more > 0 else "")
            out.append(f"    and {len(others)} more of the same cause: {listed}")
        same = "; the same scheme for each" if len(group) > 1 else ""
        out += [f"    fix: {rule}{same}" for rule in f.fixes]
        if f.related:
            out.append(f"    related: {', '.join(f.related)}")
    if show_table and result.layer_stats:
        out += [
            "",
            "Per-layer signal (one forward/backward pass):",
            signal_table(result.layer_stats),
        ]
    s = result.summary
    if not result.findings:
        out.append(
            f"No findings ({s['parameters']} parameters, {s['rules']} rules; dynamic: {s['dynamic']})."
        )
    else:
        out.append(
            f"Found {s['findings']} finding(s): {s['error']} error(s), {s['warning']} warning(s), "
            f"{s['info']} info; fail level {s['fail_level']} (dynamic: {s['dynamic']})."
        )
    return "\n".join(out)


def statistics(findings: Sequence[Finding]) -> str:
    """ruff-style counts per code, most frequent first."""
    counts: dict[tuple[str, str, str], int] = {}
    for f in findings:
        key = (f.code, f.name, f.severity)
        counts[key] = counts.get(key, 0) + 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    return "\n".join(f"{n:5d}  {code}  {name}  [{sev}]" for (code, name, sev), n in rows)


def to_json(result: Any) -> str:
    return json.dumps(result.to_json(), indent=2, allow_nan=False, default=_jsonable)


def _jsonable(x: Any) -> Any:
    return float(x) if isinstance(x, int | float) else str(x)


def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def github(findings: Sequence[Finding], default_location: str | None = None) -> str:
    """GitHub workflow commands: ``::warning file=...,line=...,title=...::message``."""
    lines = []
    for f in findings:
        path, line = _where(f, default_location)
        props = []
        if path:
            props.append(f"file={_escape_prop(path)}")
        if line:
            props.append(f"line={line}")
        props.append(f"title={_escape_prop(f'{f.code} {f.name}')}")
        msg = _escape_data(f"{f.target}: {f.full_message}")
        lines.append(f"::{_GITHUB_LEVEL[f.severity]} {','.join(props)}::{msg}")
    return "\n".join(lines)


def sarif(result: Any, default_location: str | None, version: str) -> dict[str, Any]:
    """A SARIF 2.1.0 log GitHub code scanning accepts: every rule in the driver, every
    result with ruleId, level, message and a physical location (the model file when the
    finding has none of its own)."""
    rules = all_rules()
    index = {r.code: i for i, r in enumerate(rules)}
    driver_rules = []
    for r in rules:
        sec = r.sections()
        help_md = "\n\n".join(
            f"**{k}**\n\n{v}" if k in ("What", "Why", "Exempt") else f"**{k}**\n\n```\n{v}\n```"
            for k, v in sec.items()
            if v
        )
        driver_rules.append(
            {
                "id": r.code,
                "name": "".join(w.capitalize() for w in r.name.split("-")),
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": " ".join(sec.get("What", r.summary).split())},
                "help": {"text": r.doc(), "markdown": help_md},
                "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
                "properties": {"tags": [r.kind, r.name]},
            }
        )
    results = []
    for f in result.findings:
        path, line = _where(f, default_location)
        entry: dict[str, Any] = {
            "ruleId": f.code,
            "ruleIndex": index[f.code],
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.target}: {f.full_message}"},
            "locations": [],
            "properties": {
                "target": f.target,
                "measured": f.measured,
                "expected": f.expected,
                "related": list(f.related),
            },
        }
        if path:
            physical: dict[str, Any] = {"artifactLocation": {"uri": path.replace(os.sep, "/")}}
            physical["region"] = {"startLine": line or 1}
            entry["locations"].append(
                {
                    "physicalLocation": physical,
                    "logicalLocations": [{"name": f.target, "kind": "member"}],
                }
            )
        results.append(entry)
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "initpolicy",
                        "version": version,
                        "informationUri": "https://github.com/initpolicy/initpolicy",
                        "rules": driver_rules,
                    }
                },
                "results": results,
            }
        ],
    }
