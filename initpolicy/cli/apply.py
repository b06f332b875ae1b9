"""``initpolicy apply`` and ``initpolicy explain``: a thin click layer over match/apply.

TARGET and ``--policy`` may come from the nearest pyproject.toml's ``[tool.initpolicy]``
(``model = ...``, ``policy = ...``), so ``initpolicy apply --policy relu_net.pol`` works
in such a repo. Results go to stdout, errors to stderr; exit 2 on any error, including
``--strict`` with unmatched parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import UsageError
from .options import (
    Destinations,
    echo_warnings,
    emit,
    file_option,
    force_option,
    format_option,
    load_model,
    policy_option,
    results_only,
    seed_option,
    target_argument,
    target_options,
)
from .targets import target_source


def _policy_spec(policy: str | None) -> str:
    """--policy, which ``[tool.initpolicy] policy`` defaults; one of them is needed."""
    if policy is None:
        raise UsageError("no --policy given and no [tool.initpolicy] policy in pyproject.toml")
    return policy


def _echo_json(data: dict[str, Any]) -> None:
    from ..applier import dumps

    emit(dumps(data))


@click.command("apply")
@target_argument
@policy_option("Policy file or built-in name.")
@seed_option("Overrides the policy's `seed N` (default 0).")
@file_option("--out", help="Write the initialized state_dict (.pt, or .safetensors).")
@click.option("--strict", is_flag=True, help="Fail (exit 2) if a parameter matches no rule.")
@force_option("--out")
@format_option("text", "json")
@target_options
@results_only
def apply_command(
    target: str | None,
    policy_spec: str | None,
    policy_values: dict[str, float],
    seed: int | None,
    out: Path | None,
    strict: bool,
    force: bool,
    fmt: str,
    **target_opts: Any,
) -> None:
    """Initialize TARGET's parameters by a policy; report what was done.

    Without --out only the report is printed; with it the initialized state_dict is
    written atomically (never over an existing file without --force).

    \b
    initpolicy apply model.py --policy relu_net.pol --out init.pt
    initpolicy apply --policy relu_net.pol        # TARGET from pyproject.toml
    """
    from ..api import load_spec
    from ..applier import check_destination, save_state_dict

    spec = _policy_spec(policy_spec)
    files = Destinations(force=force, inputs=(spec, target_source(target)))
    if out is not None:
        files.check(out, "--out")  # the file rules, an input first
        check_destination(out, force=force)  # the format
    policy = load_spec(spec, policy_values)
    files.protect_policy(policy)
    loaded = load_model(target, target_opts)
    files.protect(loaded.source)
    model = loaded.model
    report = policy.apply(model, seed=seed, example_inputs=loaded.example_inputs, strict=strict)
    echo_warnings(report.plan.graph)
    if out is not None:
        files.check(out, "--out")
        save_state_dict(model.state_dict(), out, force=force)
    if fmt == "json":
        data = report.to_json()
        data["out"] = str(out) if out is not None else None
        _echo_json(data)
    else:
        emit(str(report))
        if out is not None:
            emit(f"wrote {out}")


@click.command("explain")
@target_argument
@policy_option("Policy file or built-in name.")
@seed_option("Seed shown in the plan.")
@format_option("text", "json")
@target_options
@results_only
def explain_command(
    target: str | None,
    policy_spec: str | None,
    policy_values: dict[str, float],
    seed: int | None,
    fmt: str,
    **target_opts: Any,
) -> None:
    """Show the plan: per parameter the winning rule, what it overrode, the scheme, std
    and bound, the activation; then rules that matched nothing or always lost.

    \b
    initpolicy explain model.py --policy relu_net.pol
    initpolicy explain model.py --policy gpt2 --format json
    """
    from ..api import load_spec
    from ..applier import plan_json, plan_text

    policy = load_spec(_policy_spec(policy_spec), policy_values)
    loaded = load_model(target, target_opts)
    the_plan = policy.plan(loaded.model, example_inputs=loaded.example_inputs, seed=seed)
    echo_warnings(the_plan.graph)
    if fmt == "json":
        _echo_json(plan_json(the_plan))
    else:
        emit(plan_text(the_plan))


COMMANDS: list[click.Command] = [apply_command, explain_command]
