"""Every lint rule, in one explicit tuple (no registration side effects): adding a rule
means writing its class and listing it here. Rules are grouped by family, each family in
a module: the values of weights, their scale, recurrences (IP1xx, static), the signal of
one forward and backward pass (IP2xx, dynamic), and a policy's rules (IP3xx)."""

from ..rule import LintRule
from .embedding import EmbeddingDrowned, EmbeddingUnderEps
from .logits import LargeLogits
from .norms import VanishingNormScale
from .policy import (
    MultiplierMissing,
    ParameterUnmatched,
    RuleAlwaysOverridden,
    RuleNeverMatches,
    SchemeMismatch,
    TruncNormalNoOp,
)
from .recurrent import LstmForgetBias, NonOrthogonalRecurrent
from .residual import UnscaledResidualBranches
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
from .values import ExtremeOutlier, IdenticalShards, PaddingRowNotZero, UnwrittenMemory
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
    UnscaledResidualBranches,
    EmbeddingDrowned,
    EmbeddingUnderEps,
    ExtremeOutlier,
    IdenticalShards,
    UnwrittenMemory,
    VanishingNormScale,
    PaddingRowNotZero,
    VarianceDrift,
    DeadAtInit,
    SaturatedAtInit,
    NonfiniteAtInit,
    GradientRatio,
    ResidualStreamDrift,
    LargeLogits,
    SchemeMismatch,
    TruncNormalNoOp,
    RuleNeverMatches,
    RuleAlwaysOverridden,
    ParameterUnmatched,
    MultiplierMissing,
)

__all__ = ["RULES"]
