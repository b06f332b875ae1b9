"""Sizes the init code read from its config: written ``config.NAME`` only where the code
read that name for the write (its block, a factor it wrote), so the policy holds at other
sizes (docs/extract.md, "Laws, not instances")."""

from __future__ import annotations

import dataclasses
import math

import pytest
from torch import nn

from initpolicy.extractor import check, extract, record
from initpolicy.extractor.expressions import Context, config_forms
from tests.extractor.test_policy_text import rules


@dataclasses.dataclass
class _Config:
    d_model: int = 32


class _TwoBranches(nn.Module):
    """One branch reads ``config.d_model``; the other computes from the module's own
    width, equal to d_model at the default size only."""

    def __init__(self, d_model: int = 32, dim: int = 32):
        super().__init__()
        self.config = _Config(d_model)
        self.proj = nn.Linear(d_model, 8, bias=False)
        self.emb = nn.Embedding(10, dim)
        for m in self.modules():
            self._init_weights(m)

    def _init_weights(self, m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=self.config.d_model**-0.5)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=1 / math.sqrt(m.embedding_dim))


def test_a_config_name_of_another_branch_is_no_size_of_this_write():
    result = extract(record(_TwoBranches))
    assert result.ok, result.warnings
    # the Linear's std is what its code wrote (config.d_model, read from the source);
    # config.d_model would be wrong for the Embedding, whose width is its own
    assert rules(result.text) == [
        "Embedding -> normal(0, 1 / sqrt(fan_in))",
        "Linear -> normal(0, config.d_model ** (-0.5))",
    ]
    for d_model, dim in ((64, 16), (16, 48)):
        n, wrong = check(result.text, record(lambda a=d_model, b=dim: _TwoBranches(a, b)))
        assert n == 2 and wrong == [], result.text


@pytest.mark.parametrize(
    ("value", "literals", "want"),
    [
        # RWKV's head: 0.5 * sqrt(vocab / hidden), its code wrote the 0.5
        (0.5 * math.sqrt(3), [0.5], ["sqrt(config.vocab_size / (4 * config.hidden_size))"]),
        (0.5 * math.sqrt(3), [], []),  # k = 1/4 written nowhere: no size of the code's
        # sqrt(2) = sqrt(2/3 * vocab / hidden) at this size only: 2/3 is no number it wrote
        (math.sqrt(2), [2.0, 3.0], []),
    ],
)
def test_a_factor_is_one_or_a_number_the_code_wrote(value, literals, want):
    ctx = Context(config={"vocab_size": 96.0, "hidden_size": 32.0})
    near = {"vocab_size": 1, "hidden_size": 1}
    assert [e.text for e in config_forms(value, near, ctx, literals)] == want


#: A write in a lambda: its source line is an expression, no statement to parse.
_LAMBDA_INITS = {
    "w": lambda w: nn.init.normal_(w, 0.0, 0.037),
}


def test_a_lambda_keeps_the_numbers_it_wrote_although_its_line_does_not_parse():
    """The numbers and names of a write's source are read from its tokens; the statement
    blocks from its parse, which a lambda's line (a dict entry) fails: no blocks, the
    numbers stand (``Site.literals``: which values the code typed)."""
    from initpolicy.extractor.sites import _source

    literals, names, bodies = _source(_LAMBDA_INITS["w"].__code__)
    assert literals == frozenset({0.0, 0.037})
    assert ("normal_", _LAMBDA_INITS["w"].__code__.co_firstlineno) in names
    assert bodies == ()
