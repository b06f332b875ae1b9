"""Every lint rule, in one explicit tuple (no registration side effects): adding a rule
means writing its class and listing it here. Rules are grouped by family, each family in
a module: the values of weights, their scale, recurrences (IP1xx, static), the signal of
one forward and backward pass (IP2xx, dynamic), and a policy's rules (IP3xx)."""

from ..rule import LintRule
from .embedding import EmbeddingDrowned
from .policy import (
    ParameterUnmatched,
    RuleAlwaysOverridden,
    RuleNeverMatches,
    SchemeMismatch,
    TruncNormalNoOp,
)
from .recurrent import LstmForgetBias, NonOrthogonalRecurrent
from .scale import (
    GainMismatch,
    RangeTooNarrow,
    RangeTooWide,
    SeluNeedsLecun,
    TorchDefaultBeforeRelu,
)
from .signal import (
    DeadAtInit,
    GradientRatio,
    NonfiniteAtInit,
    ResidualStreamDrift,
    SaturatedAtInit,
    VarianceDrift,
)
from .weights import BiasBeforeNorm, ConstantWeight, DuplicateUnits, LargeBias

RULES: tuple[type[LintRule], ...] = (
    ConstantWeight,
    DuplicateUnits,
    GainMismatch,
    RangeTooWide,
    RangeTooNarrow,
    TorchDefaultBeforeRelu,
    SeluNeedsLecun,
    BiasBeforeNorm,
    LargeBias,
    LstmForgetBias,
    NonOrthogonalRecurrent,
    EmbeddingDrowned,
    VarianceDrift,
    DeadAtInit,
    SaturatedAtInit,
    NonfiniteAtInit,
    GradientRatio,
    ResidualStreamDrift,
    SchemeMismatch,
    TruncNormalNoOp,
    RuleNeverMatches,
    RuleAlwaysOverridden,
    ParameterUnmatched,
)

__all__ = ["RULES"]
