"""``initpolicy lint``, ``initpolicy rules`` and ``initpolicy rule CODE``: a thin click
layer over :func:`initpolicy.api.lint`.

``lint`` returns whether a finding reached the fail level (cli.main makes that exit 1).
``[tool.initpolicy.lint]`` of the nearest pyproject.toml supplies the defaults of
--select, --ignore, --extend-select, --fail-level and --threshold (cli.config); the command
line replaces --select and --fail-level, adds to --ignore and --extend-select, and wins per
name for --threshold.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from .. import __version__
from ..errors import UsageError
from ..linter import SEVERITIES
from .options import (
    Destinations,
    Outcome,
    emit,
    file_option,
    force_option,
    format_option,
    load_model,
    policy_option,
    results_only,
    say,
    seed_option,
    target_argument,
    target_options,
)
from .targets import target_source

if TYPE_CHECKING:  # pragma: no cover
    from ..linter import LintResult
    from .targets import LoadedTarget


def _configured_first(ctx: click.Context, param: click.Parameter, values: Any) -> Any:
    """Values of a repeatable option, the configured ones first when the command line adds
    some: ``--ignore``/``--extend-select`` add to ``[tool.initpolicy.lint]`` (as in ruff),
    and a later ``--threshold NAME=`` wins over the configured one. Without this, click
    would let the command line replace the configured default."""
    if ctx.get_parameter_source(str(param.name)) is ParameterSource.COMMANDLINE:
        return (*(ctx.lookup_default(str(param.name)) or ()), *values)
    return values


def _split(values: Sequence[str]) -> list[str]:
    return [c.strip() for v in values for c in v.split(",") if c.strip()]


def _select(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> list[str] | None:
    """--select CODES; None when given nowhere: the linter's default selection. A configured
    ``select = []`` selects nothing, as in ruff."""
    codes = _split(values)
    if codes or ctx.get_parameter_source(str(param.name)) is ParameterSource.DEFAULT_MAP:
        return codes
    return None


def _more_codes(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """--ignore / --extend-select CODES, added to the configured ones."""
    return _split(_configured_first(ctx, param, values))


def _codes_option(name: str, callback: Any, help: str) -> Any:
    return click.option(name, multiple=True, callback=callback, metavar="CODES", help=help)


def _thresholds(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, float]:
    out = {}
    for v in _configured_first(ctx, param, values):
        name, sep, number = v.partition("=")
        try:
            out[name.strip()] = float(number)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(f"expected NAME=NUMBER, got {v!r}")
    return out


def _pyplot() -> Any:
    """matplotlib's pyplot (headless), or the UsageError that --plot cannot be drawn."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib: pip install 'initpolicy[plot]'") from None
    return plt


_PLOT_NEEDS_DYNAMIC = "--plot needs the dynamic pass (drop --static; check the example inputs)"


def _plot(result: Any) -> Any:
    """The figure of per-layer activation std and gradient norm (not yet saved)."""
    plt = _pyplot()
    stats = sorted(result.layer_stats, key=lambda s: s.depth)
    if not stats:
        raise UsageError(_PLOT_NEEDS_DYNAMIC)
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
    return fig


@click.command("lint")
@target_argument
@policy_option("Lint the parameters as this policy would initialize them.")
@click.option(
    "--no-policy",
    is_flag=True,
    help="Ignore [tool.initpolicy] policy; lint the model's own weights.",
)
@click.option("--static", is_flag=True, help="Skip the forward/backward pass (IP2xx).")
@click.option(
    "--memory",
    metavar="SIZE",
    help="Memory budget (e.g. 4G; default: half of the memory available now). A model "
    "that does not fit it, or one on meta, is linted part by part; the dynamic pass holds "
    "at most this much.",
)
@click.option(
    "--table", "show_table", is_flag=True, help="Text format: show the per-layer signal table."
)
@_codes_option("--select", _select, "Rules to enable, by code, prefix or name (comma-separated).")
@_codes_option(
    "--ignore", _more_codes, "Rules to disable (added to [tool.initpolicy.lint] ignore)."
)
@_codes_option(
    "--extend-select",
    _more_codes,
    "Rules to enable on top of the selection (added to the configured ones).",
)
@click.option(
    "--fail-level",
    type=click.Choice(SEVERITIES[::-1]),
    default="warning",
    show_default=True,
    help="Lowest severity that fails (exit 1).",
)
@click.option("--exit-zero", is_flag=True, help="Exit 0 even when findings reach the fail level.")
@format_option("text", "json", "sarif", "github")
@click.option("--statistics", is_flag=True, help="Show counts per rule instead of the findings.")
@file_option("--fix-policy", help="Write a policy that resolves the init findings.")
@file_option("--plot", help="Draw per-layer activation std and gradient norm (PNG).")
@click.option("--strict", is_flag=True, help="With a policy: report parameters no rule matches.")
@click.option(
    "--threshold",
    multiple=True,
    callback=_thresholds,
    metavar="NAME=VALUE",
    help="Override a threshold (see `initpolicy rule CODE`).",
)
@seed_option("Seed of the policy's sampling.")
@file_option(
    "-o", "--output-file", help="Write the report (any --format) to this file instead of stdout."
)
@force_option("-o", "--fix-policy", "--plot")
@target_options
@click.pass_context
@results_only
def lint_command(
    ctx: click.Context,
    target: str | None,
    policy_spec: str | None,
    policy_values: dict[str, float],
    no_policy: bool,
    static: bool,
    memory: str | None,
    show_table: bool,
    select: list[str] | None,
    ignore: list[str],
    extend_select: list[str],
    fail_level: str,
    exit_zero: bool,
    fmt: str,
    statistics: bool,
    fix_policy: Path | None,
    plot: Path | None,
    strict: bool,
    threshold: dict[str, float],
    seed: int | None,
    output_file: Path | None,
    force: bool,
    **target_opts: Any,
) -> Outcome:
    """Check TARGET's initialization: per layer, with numbers, and a fix as a policy rule.

    Exit 1 when a finding reaches the fail level (unless --exit-zero), 0 otherwise.

    \b
    initpolicy lint model.py
    initpolicy lint model.py --policy relu_net.pol --format sarif -o lint.sarif
    initpolicy lint model.py --static --select IP1 --ignore IP108
    initpolicy lint model.py --fix-policy fixed.pol
    """
    from ..api import load_spec
    from ..linter import parse_memory

    # --no-policy drops the configured policy only: an explicit --policy still counts.
    if no_policy and ctx.get_parameter_source("policy_spec") is ParameterSource.DEFAULT_MAP:
        policy_spec = None
    files = Destinations(force=force, inputs=(policy_spec, target_source(target)))
    outputs = _Outputs(output_file, fix_policy, plot)
    outputs.refuse_early(files, static)
    nbytes = parse_memory(memory) if memory is not None else None
    if policy_values and not policy_spec:
        raise UsageError("--set gives values to a policy's lets: it needs --policy")
    policy = load_spec(policy_spec, policy_values) if policy_spec else None
    files.protect_policy(policy)
    loaded, result = _lint_target(
        target,
        target_opts,
        files,
        policy,
        static=static,
        select=select,
        ignore=ignore,
        extend_select=extend_select,
        thresholds=threshold,
        fail_level=fail_level,
        strict=strict,
        seed=seed,
        memory=nbytes,
    )
    default_loc = str(loaded.path) if loaded.path is not None else None
    report = _report(result, fmt, statistics, show_table, default_loc)
    outputs.write(files, result, policy, report)
    return Outcome.FINDINGS if result.failed() and not exit_zero else Outcome.OK


def _lint_target(
    target: str | None,
    target_opts: dict[str, Any],
    files: Destinations,
    policy: Any,
    **options: Any,
) -> tuple[LoadedTarget, LintResult]:
    """TARGET loaded (its source protected from the outputs) and linted, with a progress bar
    on stderr when it is a terminal."""
    from ..api import lint, meta_recorder, write_recorder
    from ..common import Progress

    bar = Progress()
    bar.stage("loading the model")
    # built under the recorder: a finding on values the model's own code wrote points at
    # the line that wrote them, not where the module was built; and a model the file
    # builds on meta keeps its construction, replayed part by part as its own init (that
    # journal entered first: the write recorder, on top, sees the model's frames only)
    with meta_recorder(), write_recorder() as recorder:
        loaded = load_model(target, target_opts)
    written = recorder.user_sites(loaded.model)
    recorder.close()
    files.protect(loaded.source)
    result = lint(
        loaded.model,
        policy,
        example_inputs=loaded.example_inputs,
        progress=bar,
        written=written,
        **options,
    )
    bar.close()
    return loaded, result


def _report(
    result: LintResult, fmt: str, statistics: bool, show_table: bool, default_loc: str | None
) -> str:
    """The report in --format (or --statistics' counts per rule)."""
    from ..linter import github as lint_output_github
    from ..linter import sarif as lint_output_sarif
    from ..linter import statistics as lint_output_statistics
    from ..linter import text as lint_output_text
    from ..linter import to_json as lint_output_to_json

    if statistics:
        return lint_output_statistics(result.findings)
    if fmt == "json":
        return lint_output_to_json(result)
    if fmt == "sarif":
        return json.dumps(lint_output_sarif(result, default_loc, __version__), indent=2)
    if fmt == "github":
        return lint_output_github(result.findings, default_loc)
    return lint_output_text(result, show_table=show_table)


@dataclass(frozen=True)
class _Outputs:
    """The files lint writes: the report (-o; stdout without it), --fix-policy, --plot."""

    output_file: Path | None
    fix_policy: Path | None
    plot: Path | None

    def refuse_early(self, files: Destinations, static: bool) -> None:
        """Refuse what cannot be written before the work: a destination, or --plot with
        nothing to draw (--static) or no matplotlib."""
        for path, option in (
            (self.output_file, "-o"),
            (self.fix_policy, "--fix-policy"),
            (self.plot, "--plot"),
        ):
            files.check(path, option)
        if self.plot is not None:
            if static:
                raise UsageError(_PLOT_NEEDS_DYNAMIC)
            _pyplot()

    def write(self, files: Destinations, result: LintResult, policy: Any, report: str) -> None:
        """Write the report, the fixed policy and the plot. Everything is made before the
        first file is written: an error (no layer statistics to plot) leaves no file."""
        fixed = None
        if self.fix_policy is not None:
            from ..linter import fix_policy as make_fix

            fixed = make_fix(result.all_findings, result.graph, policy=policy, out=self.fix_policy)
        figure = _plot(result) if self.plot is not None else None
        try:
            if self.output_file is not None:
                files.write(self.output_file, report + "\n" if report else "", "-o")
            elif report:
                emit(report)
            if result.summary["dynamic"].startswith("skipped:"):
                say(f"note: dynamic checks {result.summary['dynamic']}")
            if self.fix_policy is not None and fixed is not None:
                files.write(self.fix_policy, fixed, "--fix-policy")
            if self.plot is not None and figure is not None:
                files.write(self.plot, lambda tmp: figure.savefig(tmp, format="png"), "--plot")
        finally:
            if figure is not None:
                _pyplot().close(figure)


@click.command("rules")
@format_option("text", "json")
def rules_command(fmt: str) -> None:
    """List every lint rule: code, name, severity, kind and summary."""
    from ..linter import all_rules

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
        emit(json.dumps(data, indent=2))
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
    from ..linter import explain, get_rule

    click.echo(explain(get_rule(code)))


COMMANDS: list[click.Command] = [lint_command, rules_command, rule_command]
