"""``initpolicy lint``, ``initpolicy rules`` and ``initpolicy rule CODE``: a thin click
layer over :mod:`initpolicy.linter.run`.

Exit codes: 0 when no finding reaches the fail level (or ``--exit-zero``), 1 when one does,
2 on any error. ``[tool.initpolicy.lint]`` of the nearest pyproject.toml supplies select,
ignore, extend-select, fail-level and thresholds; the command line wins over it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .options import EXIT_FINDINGS, EXIT_OK, format_option, target_argument, target_options


def _codes(values: Sequence[str]) -> list[str] | None:
    out = [c.strip() for v in values for c in v.split(",") if c.strip()]
    return out or None


def _thresholds(values: Sequence[str]) -> dict[str, float]:
    out = {}
    for v in values:
        name, sep, number = v.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep:
            raise UsageError(f"--threshold expects NAME=NUMBER, got {v!r}")
    return out


def _plot(result: Any, out: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'initpolicy[plot]'") from None
    stats = sorted(result.layer_stats, key=lambda s: s.depth)
    if not stats:
        raise UsageError("--plot needs the dynamic pass (drop --static; check the example inputs)")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for ax, key, label in ((ax1, "out_std", "activation std"), (ax2, "grad_norm", "gradient norm")):
        pts = [(s.depth, getattr(s, key)) for s in stats if getattr(s, key)]
        if pts:
            ax.semilogy([p[0] for p in pts], [p[1] for p in pts], marker="o")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    ax2.set_xlabel("depth (parameterized layers in execution order)")
    fig.suptitle("initpolicy lint: signal by depth")
    fig.tight_layout()
    fig.savefig(out)
    plt.close(fig)


@click.command("lint")
@target_argument
@click.option(
    "--policy",
    "-p",
    "policy_spec",
    metavar="POLICY",
    help="Lint the parameters as this policy would initialize them.",
)
@click.option(
    "--no-policy",
    is_flag=True,
    help="Ignore [tool.initpolicy] policy; lint the model's own weights.",
)
@click.option("--static", is_flag=True, help="Skip the forward/backward pass (IP2xx).")
@click.option(
    "--select",
    multiple=True,
    metavar="CODES",
    help="Rules to enable, by code, prefix or name (comma-separated).",
)
@click.option("--ignore", multiple=True, metavar="CODES", help="Rules to disable.")
@click.option(
    "--extend-select",
    multiple=True,
    metavar="CODES",
    help="Rules to enable on top of the selection.",
)
@click.option(
    "--fail-level",
    type=click.Choice(["error", "warning", "info"]),
    default=None,
    help="Lowest severity that fails (exit 1); default warning.",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings reach the fail level.")
@format_option("text", "json", "sarif", "github")
@click.option("--statistics", is_flag=True, help="Show counts per rule instead of the findings.")
@click.option(
    "--fix-policy",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write a policy that resolves the init findings.",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Draw per-layer activation std and gradient norm (PNG).",
)
@click.option("--strict", is_flag=True, help="With a policy: report parameters no rule matches.")
@click.option(
    "--threshold",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a threshold (see `initpolicy rule CODE`).",
)
@click.option("--seed", type=int, default=None, help="Seed of the policy's sampling.")
@click.option(
    "-o",
    "--output-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the report (any --format) to this file instead of stdout.",
)
@target_options
def lint_command(
    target: str | None,
    policy_spec: str | None,
    no_policy: bool,
    static: bool,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    extend_select: tuple[str, ...],
    fail_level: str | None,
    exit_zero: bool,
    fmt: str,
    statistics: bool,
    fix_policy: Path | None,
    plot: Path | None,
    strict: bool,
    threshold: tuple[str, ...],
    seed: int | None,
    output_file: Path | None,
    **target_opts: Any,
) -> None:
    """Check TARGET's initialization: per layer, with numbers, and a fix as a policy rule.

    \b
    initpolicy lint model.py
    initpolicy lint model.py --policy relu_net.pol --format sarif -o lint.sarif
    initpolicy lint model.py --static --select IP1 --ignore IP108
    initpolicy lint model.py --fix-policy fixed.pol
    """
    from ..api import lint, load_spec
    from ..linter import output as lint_output
    from .config import load_config
    from .targets import load_target

    config = load_config()
    if policy_spec is None and not no_policy and config is not None and config.policy:
        policy_spec = config.resolve(config.policy)
    policy = load_spec(policy_spec) if policy_spec else None
    loaded = load_target(target, **target_opts)
    for note in loaded.notes:
        click.echo(f"note: {note}", err=True)
    result = lint(
        loaded.model,
        policy,
        example_inputs=loaded.example_inputs,
        static=static,
        select=_codes(select),
        ignore=_codes(ignore),
        extend_select=_codes(extend_select),
        thresholds=_thresholds(threshold),
        config=config,
        fail_level=fail_level,
        strict=strict,
        seed=seed,
    )
    default_loc = str(loaded.path) if loaded.path is not None else None
    if statistics:
        report = lint_output.statistics(result.findings)
    elif fmt == "json":
        report = lint_output.to_json(result)
    elif fmt == "sarif":
        from .. import __version__

        report = json.dumps(lint_output.sarif(result, default_loc, __version__), indent=2)
    elif fmt == "github":
        report = lint_output.github(result.findings, default_loc)
    else:
        report = lint_output.text(result)
    if output_file is not None:
        output_file.write_text(report + "\n" if report else "", encoding="utf-8")
        click.echo(f"wrote {output_file}", err=True)
    elif report:
        click.echo(report)
    if result.summary["dynamic"].startswith("skipped:"):
        click.echo(f"note: dynamic checks {result.summary['dynamic']}", err=True)
    if fix_policy is not None:
        from ..linter.fix import fix_policy as make_fix

        fix_policy.write_text(
            make_fix(result.all_findings, result.graph, policy=policy, out=fix_policy),
            encoding="utf-8",
        )
        click.echo(f"wrote {fix_policy}", err=True)
    if plot is not None:
        _plot(result, plot)
        click.echo(f"wrote {plot}", err=True)
    raise SystemExit(EXIT_FINDINGS if result.failed() and not exit_zero else EXIT_OK)


@click.command("rules")
@format_option("text", "json")
def rules_command(fmt: str) -> None:
    """List every lint rule: code, name, severity, kind and summary."""
    from ..linter.registry import all_rules

    rules = all_rules()
    if fmt == "json":
        data = [
            {
                "code": r.code,
                "name": r.name,
                "severity": r.severity,
                "kind": r.kind,
                "summary": r.summary,
            }
            for r in rules
        ]
        click.echo(json.dumps(data, indent=2))
        return
    w = max(len(r.name) for r in rules)
    for r in rules:
        click.echo(
            f"{r.code}  {r.name.ljust(w)}  {r.severity.ljust(7)}  {r.kind.ljust(7)}  {r.summary}"
        )


@click.command("rule")
@click.argument("code")
def rule_command(code: str) -> None:
    """Explain one rule (by code or name): what, why, an anti-pattern and a fix."""
    from ..linter.docs import explain
    from ..linter.registry import get_rule

    click.echo(explain(get_rule(code)))


COMMANDS: list[click.Command] = [lint_command, rules_command, rule_command]
