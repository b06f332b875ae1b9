"""docs/lint.md, generated from the rules' own docstrings, so the two cannot drift
(tests/test_lint_docs.py asserts the committed file is current). Torch-free.

    python -m initpolicy.linter.docs > docs/lint.md
"""

from __future__ import annotations

import textwrap

from .bands import BANDS, band
from .findings import FOLD_ORDER
from .registry import all_rules
from .rule import LintRule
from .thresholds import THRESHOLDS

#: Where each rule's test cases live, as data (passing and failing examples).
CASES_DIR = "tests/data/lint"

_INTRO = """\
# `initpolicy lint`

`initpolicy lint model.py` answers: what is wrong with this model's initialization, how
do we know, and what should it be? It checks every parameter against the activation the
tracer finds after its layer, runs one forward and backward pass to watch the signal, and,
with `--policy P`, lints the parameters as that policy would initialize them (on a deep
copy) with findings pointing at the policy's lines.

```console
$ initpolicy lint examples/mlp.py                          # the model's weights as they are
$ initpolicy lint examples/mlp.py --policy relu_net.pol    # as the policy would set them
$ initpolicy lint examples/mlp.py --static --select IP1    # no forward pass; static rules only
$ initpolicy lint examples/mlp.py --format sarif -o lint.sarif   # GitHub code scanning
$ initpolicy lint examples/mlp.py --fix-policy fixed.pol   # a policy that resolves the findings
$ initpolicy rules                                         # every rule
$ initpolicy rule IP103                                    # one rule explained
```

```python
import initpolicy
result = initpolicy.lint(model)                  # or lint(model, policy=..., static=True)
for f in result.findings:
    print(f.code, f.name, f.target, f.measured, f.expected, f.fix)
result.layer_stats                               # per-layer activation std and gradient norm
result.to_json()                                 # {"findings": [...], "summary": {...}}
```

## Codes, severities, exit codes

Codes are stable and grouped by prefix: **IP1xx** static checks of the weights (as they
are, or as a policy makes them), **IP2xx** signal propagation from one forward and
backward pass (skipped with `--static`; the model comes back exactly as it was: module
modes, buffers such as BatchNorm's running statistics, `.grad`, the global RNG), **IP3xx**
checks of a policy against the model (only with `--policy`). Every finding has a code, a
kebab-case name, a severity (`error`, `warning`, `info`), the parameter or module, a
message, measured and expected numbers, a location (the policy's `file:line` when a
policy set the value, else the model source line where the module is built, when the
tracer finds it) and a fix written as a policy rule.

Exit codes: 0 when no finding reaches the fail level (default `warning`; `--fail-level`,
or `--exit-zero` to always exit 0), 1 when one does, 2 on a usage, load or plan error.

## Selecting rules and thresholds

`--select`, `--ignore` and `--extend-select` take codes, prefixes (`IP2`) or names
(`gain-mismatch`), comma-separated. As in ruff, the most specific match wins: `--select
IP1 --ignore IP105` drops IP105; `--ignore IP1 --extend-select IP103` keeps IP103. The same
keys live in the nearest `pyproject.toml` (the command line wins; `ignore` and
`extend-select` add up):

```toml
[tool.initpolicy.lint]
select = ["IP1", "IP2"]
ignore = ["IP108"]
extend-select = []
fail-level = "warning"
thresholds = { gain-tolerance = 0.2, drift = 20 }
```

or on the command line: `--threshold gain-tolerance=0.2`.

## Output formats

`--format text` (default: findings, then the per-layer table of the dynamic pass, the same
numbers `--plot FILE.png` draws), `json` (the contract: `{"findings": [{"code", "name",
"severity", "target", "message", "measured", "expected", "location", "related"}],
"summary"}`, the fix at the end of `message`), `sarif` (SARIF 2.1.0 for code-scanning
upload; findings without a source line point at the model file), `github` (workflow
annotations `::warning file=...,line=...::message`). `--statistics` prints counts per
rule instead. `--fix-policy OUT.pol` writes a policy resolving the init findings
(selected or not); linting the model with it comes back clean of them.

## One cause, one finding

When several checks describe one cause on one parameter, the most specific is reported
and the others are listed in its `related` field. The order, most specific first:
"""

_FP = """\
## False positives on well-initialized architectures

Measured by tests/test_lint_archs.py (static and dynamic runs, warning level and above):

| architecture | init | parameters linted | findings |
|---|---|---|---|
| ResNet-18 layout (width 16) | torchvision's: kaiming_normal(fan_out) convs + BatchNorm(1, 0) | 62 | 0 |
| pre-norm transformer (6 layers, d 256, GELU) | N(0, 0.02), residual projections N(0, 0.02/sqrt(2·6)) | 76 | 0 |
| GPT-2 (transformers, 4 layers, d 128) | its own `_init_weights` | 52 | 0 |

False-positive rate: **0 of 190 parameters** (0 %) on these models. Info-level findings
(IP108, IP110, IP111, IP302) are advice and do not count. Known limits: the dynamic pass of
very deep plain ReLU nets (50+ layers, no normalization or residuals) reports dead-at-init
even under He init, because the batch's representations correlate with depth; residual
branches are recognized by the tracer's `residual` flag and the module that holds the
branch's last layer.
"""


def _bands_table() -> str:
    rows = [
        "| activation | accepted effective gain std·sqrt(fan) | fix scheme | source |",
        "|---|---|---|---|",
    ]
    for act, (lo_end, _, _, _) in BANDS.items():
        b = band(act)
        assert b is not None
        lo = "sqrt(2/(1+slope²))" if lo_end == "leaky" else f"{b.lo:.4g}"
        rng = lo if b.lo == b.hi else f"{lo} – {b.hi:.4g}"
        rows.append(f"| {act} | {rng} | `{b.fix}` | {b.source} |")
    rows.append("| output, mixed | no band (no gain to match) | | |")
    return "\n".join(rows)


def explain(rule: type[LintRule]) -> str:
    """What ``initpolicy rule CODE`` prints.

    >>> from initpolicy.linter.registry import get_rule
    >>> print(explain(get_rule("IP109")).splitlines()[0])
    IP109 large-bias (warning, static)
    """
    r = rule
    out = [f"{r.code} {r.name} ({r.severity}, {r.kind})", r.summary, ""]
    for title, body in r.sections().items():
        if not body:
            continue
        if title in ("Anti-pattern", "Fix"):
            out += [f"{title}:", textwrap.indent(textwrap.dedent(body), "    "), ""]
        else:
            out += [f"{title}:", textwrap.fill(" ".join(body.split()), 88), ""]
    if r.uses:
        out.append("Thresholds:")
        out += [f"    {n} = {THRESHOLDS[n][0]:g}  ({THRESHOLDS[n][1]})" for n in r.uses]
    return "\n".join(out).rstrip() + "\n"


def markdown() -> str:
    """The whole of docs/lint.md.

    >>> "| relu | 1.414 | `kaiming_normal(fan_in)` | He et al. 2015 |" in markdown()
    True
    """
    rules = all_rules()
    out = [_INTRO]
    out += [f"{i}. `{name}`" for i, name in enumerate(FOLD_ORDER, 1)]
    out += [
        "",
        "## Rules",
        "",
        "| code | name | severity | kind | summary |",
        "|---|---|---|---|---|",
    ]
    out += [
        f"| [{r.code}](#{r.code.lower()}-{r.name}) | {r.name} | {r.severity} | {r.kind} | {r.summary} |"
        for r in rules
    ]
    out += ["", "## Thresholds", "", "| name | default | meaning |", "|---|---|---|"]
    out += [f"| `{k}` | {v:g} | {doc} |" for k, (v, doc) in THRESHOLDS.items()]
    out += ["", "## Gain bands (IP103, IP104, IP105)", "", _bands_table(), ""]
    for r in rules:
        out += [f"### {r.code} {r.name}", "", f"*{r.severity}, {r.kind}* — {r.summary}", ""]
        for title, body in r.sections().items():
            if not body:
                continue
            if title in ("Anti-pattern", "Fix"):
                out += [f"**{title}**", "", "```", textwrap.dedent(body), "```", ""]
            else:
                out += [f"**{title}.** " + " ".join(body.split()), ""]
        if r.uses:
            out += [
                "**Thresholds:** " + ", ".join(f"`{n}` = {THRESHOLDS[n][0]:g}" for n in r.uses),
                "",
            ]
        path = f"{CASES_DIR}/{r.code}.toml"
        out += [f"**Test cases:** passing and failing examples in [{path}](../{path}).", ""]
    out.append(_FP)
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":  # pragma: no cover
    print(markdown(), end="")
