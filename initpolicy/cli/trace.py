"""``initpolicy trace [TARGET]``: which activation follows each layer.

Text is a per-layer table for people; ``--format json`` is the contract in PRODUCT.md
(``ModelGraph.to_json``). Warnings (how the graph was obtained, guesses) go to stderr.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ..common import table
from .options import (
    echo_warnings,
    emit,
    format_option,
    load_model,
    results_only,
    target_argument,
    target_options,
)


def _fan(x: float | None) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _activation(layer: Any) -> str:
    if layer.activation == "mixed":
        return "mixed(" + "|".join(layer.resolution.candidates) + ")"
    shown = {k: v for k, v in layer.act_args.items() if k != "module"}
    if not shown or shown == {"approximate": "none"}:
        return str(layer.activation)
    return f"{layer.activation}(" + ", ".join(f"{k}={v}" for k, v in shown.items()) + ")"


def render_text(graph: Any) -> str:
    """The per-layer table of ``initpolicy trace``."""
    rows = [
        (
            str(layer.depth),
            layer.name or "<root>",
            layer.type,
            _activation(layer),
            _fan(layer.fan_in),
            _fan(layer.fan_out),
            "; ".join(f"{k} tied to {v}" for k, v in layer.ownership.tied.items()),
        )
        for layer in graph.layers
    ]
    lines = table(("depth", "name", "type", "activation", "fan_in", "fan_out", ""), rows)
    head = f"{graph.target}: {len(graph.layers)} layers, tracer {graph.tracer}"
    return "\n".join([head, lines]) if lines else head


@click.command("trace")
@target_argument
@target_options
@format_option("text", "json")
@results_only
def trace_command(target: str | None, fmt: str, **target_opts: Any) -> None:
    """Show which activation follows each layer of TARGET, with fans and depth.

    \b
    initpolicy trace model.py
    initpolicy trace model.py:Net --input-shape 1,3,32,32 --format json
    """
    from ..api import trace

    loaded = load_model(target, target_opts)
    graph = trace(loaded.model, example_inputs=loaded.example_inputs, target=loaded.name)
    echo_warnings(graph)
    if fmt == "json":
        emit(json.dumps(graph.to_json(), indent=2))
    else:
        emit(render_text(graph))


COMMANDS: list[click.Command] = [trace_command]
