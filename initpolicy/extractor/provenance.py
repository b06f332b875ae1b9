"""``initpolicy extract --format json``: the policy, its rules, and per parameter where its
init came from (the recorded call and its source location, or the fit from values).

Schema (version 1)::

    {"version": 1, "target": "gpt2.py", "policy": "<the policy text>",
     "rules": [{"index": 0, "selector": "bias", "scheme": "zeros()", "comment": "...",
                "parameters": ["h.0.attn.c_attn.bias", ...]}],
     "parameters": [{"name": "h.0.attn.c_proj.weight", "block": null, "module": "h.0.attn.c_proj",
                     "type": "Conv1D", "shape": [32, 32], "aliases": [],
                     "how": "recorded" | "fitted" | "computed" | "blocks",
                     "scheme": "normal", "args": {"mean": 0.0, "std": 0.0081},
                     "std": 0.0081, "bound": null, "rule": 1,
                     "source": {"call": "torch.nn.init.normal_(mean=0, std=0.0081)",
                                "function": "GPT2PreTrainedModel._init_weights",
                                "file": "transformers/models/gpt2/modeling_gpt2.py", "line": 449,
                                "via": "PreTrainedModel.post_init"},
                     "history": [...earlier records a derived law came from...],
                     "fit": null | {"scheme": ..., "quality": "sampled", "n": ..., "notes": [...]},
                     "notes": ["padding row 0 zeroed by ... (the language zeroes it)"]}],
     "verification": {"planned_equal": true, "fixups": 0, "mismatches": []},
     "warnings": []}
"""

from __future__ import annotations

import json
from typing import Any

from .laws import Law
from .observe import Item
from .run import ExtractResult


def _law_json(law: Law | None) -> dict[str, Any]:
    if law is None:
        return {
            "how": "blocks",
            "scheme": None,
            "args": {},
            "std": None,
            "bound": None,
            "source": None,
            "history": [],
            "fit": None,
            "notes": ["every block has its own rule; the whole tensor's rule does not matter"],
        }
    source = None
    history: list[dict[str, Any]] = []
    if law.records:
        r = law.records[0]
        source = {"call": r.call_text(), **r.site.to_json()}
        history = [{"call": h.call_text(), **h.site.to_json()} for h in law.records[1:]]
    return {
        "how": law.how,
        "scheme": law.scheme,
        "args": law.args,
        "std": law.std,
        "bound": law.bound,
        "source": source,
        "history": history,
        "fit": law.fit.to_json() if law.fit is not None else None,
        "notes": list(law.notes),
    }


def to_json(result: ExtractResult) -> dict[str, Any]:
    synth = result.synthesis
    rule_of: dict[int, int] = {}
    for k, rule in enumerate(synth.rules):
        for i in rule.items:
            rule_of[i] = k
    rules = [
        {
            "index": k,
            "selector": r.selector,
            "scheme": r.scheme,
            "comment": r.comment,
            "parameters": [
                _display(result.observation.items[i])
                for i in r.items
                if not result.observation.items[i].is_alias
            ],
        }
        for k, r in enumerate(synth.rules)
    ]
    params = []
    for it in result.observation.items:
        if it.is_alias or it.forbidden:
            continue
        entry = {
            "name": it.param.name,
            "block": it.block,
            "module": it.layer.name,
            "type": it.layer.type,
            "shape": list(it.param.shape),
            "aliases": list(it.param.aliases),
            "rule": rule_of.get(it.index),
            **_law_json(it.law),
        }
        params.append(entry)
    return {
        "version": 1,
        "target": result.target,
        "policy": result.text,
        "rules": rules,
        "parameters": params,
        "verification": {
            "planned_equal": not synth.mismatches,
            "fixups": synth.fixups,
            "mismatches": [
                {"name": m.name, "block": m.block, "observed": m.observed, "planned": m.planned}
                for m in synth.mismatches
            ],
        },
        "warnings": list(result.warnings),
    }


def _display(it: Item) -> str:
    return it.param.name + (f"[{it.block}]" if it.block else "")


def dumps(result: ExtractResult) -> str:
    """The JSON document, indented."""
    return json.dumps(to_json(result), indent=2, default=str)
