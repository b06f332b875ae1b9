r"""The user-facing Policy: a parsed policy plus the verbs a training repo calls.

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

from .language.ir import PolicyIR, Rule

if TYPE_CHECKING:  # pragma: no cover
    from .applier.execute import Report
    from .planner.match import Plan


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
        from .planner.match import plan_model

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
        from .applier.execute import apply_policy

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


def load_spec(spec: str | Path) -> Policy:
    """A policy file or a built-in policy's name (never policy text): what ``--policy``
    takes. ``NAME.pol`` with no such file, where NAME is a built-in, is the built-in, so
    the design card's ``--policy relu_net.pol`` works in any directory.

    >>> load_spec("relu_net.pol").source
    '<builtin>/relu_net'
    """
    from .language.loader import parse_any

    return Policy(parse_any(spec))


def load(source: str | Path) -> Policy:
    """Load a policy from a path, a built-in name (``"relu_net"``) or policy text.

    A ``Path``, an existing file, a string ending in ``.pol`` or a single word is a file or
    a built-in (see :func:`load_spec`); anything else is policy text.

    >>> load("relu_net").source
    '<builtin>/relu_net'
    >>> len(load("Linear before ReLU -> kaiming_normal(fan_in)").rules)
    1
    """
    from .language.loader import parse

    if isinstance(source, Path):
        return load_spec(source)
    text = str(source)
    one_word = "\n" not in text and "->" not in text
    if one_word and (text.isidentifier() or text.endswith(".pol") or Path(text).is_file()):
        return load_spec(text)
    return Policy(parse(text, "<string>"))
