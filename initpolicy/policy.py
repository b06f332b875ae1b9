"""The user-facing Policy: a parsed policy plus the verbs a training repo calls.

>>> import initpolicy
>>> policy = initpolicy.load("Linear before ReLU -> kaiming_normal(fan_in)\nbias -> constant(0.01)")
>>> len(policy.rules)
2

Loading and checking never import torch; ``apply``/``explain``/``lint`` import the
torch-side modules lazily.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .ir import PolicyIR, Rule
from .resources import builtin_policies

if TYPE_CHECKING:  # pragma: no cover
    from .apply import Report
    from .match import Plan


class Policy:
    """A loaded, validated policy. Immutable; cheap to share."""

    def __init__(self, ir: PolicyIR):
        self.ir = ir

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self.ir.rules

    @property
    def seed(self) -> int | None:
        return self.ir.seed

    @property
    def source(self) -> str:
        return self.ir.source

    def __repr__(self) -> str:
        return f"Policy({self.ir.source!r}, {len(self.ir.rules)} rules)"

    def plan(self, model: Any, *, example_inputs: Any = None, seed: int | None = None) -> Plan:
        """Match this policy against ``model``: the per-parameter plan, nothing written."""
        from .match import plan_model

        return plan_model(self, model, example_inputs=example_inputs, seed=seed)

    def apply(
        self,
        model: Any,
        seed: int | None = None,
        example_inputs: Any = None,
        strict: bool = False,
        device: Any = None,
        skip: Any = None,
        include_frozen: bool = False,
    ) -> Report:
        """Initialize every parameter of ``model`` by this policy; returns the Report.

        >>> report = policy.apply(model, seed=0)          # doctest: +SKIP
        """
        from .apply import apply_policy

        return apply_policy(
            self,
            model,
            seed=seed,
            example_inputs=example_inputs,
            strict=strict,
            device=device,
            skip=skip,
            include_frozen=include_frozen,
        )


def load(source: str | Path) -> Policy:
    """Load a policy from a path, a built-in name (``"relu_net"``) or policy text.

    A ``Path``, an existing file, or a string ending in ``.pol`` is a file; a single word
    is a built-in policy; anything else is policy text. A ``NAME.pol`` that does not exist
    where NAME is a built-in loads the built-in, so the design card's
    ``--policy relu_net.pol`` works anywhere.

    >>> load("relu_net").source
    '<builtin>/relu_net'
    """
    from .parser import parse, parse_any, parse_builtin

    text = str(source)
    if not isinstance(source, Path) and ("\n" in text or "->" in text):
        return Policy(parse(text, "<string>"))
    path = Path(text)
    if not isinstance(source, Path) and text in builtin_policies() and not path.is_file():
        return Policy(parse_builtin(text))
    if path.suffix == ".pol" and not path.exists() and path.stem in builtin_policies():
        return Policy(parse_builtin(path.stem))
    if isinstance(source, Path) or path.is_file() or path.suffix == ".pol" or text.isidentifier():
        return Policy(parse_any(source))
    return Policy(parse(text, "<string>"))
