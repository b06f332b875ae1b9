"""Property: no input, however malformed, makes the parser raise anything but PolicyError.

Valid policies from the golden corpus are mutated (spans deleted, duplicated or swapped,
characters of the language's own alphabet inserted) and parsed; the result is either a
policy or a PolicyError whose every diagnostic renders.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from initpolicy.errors import PolicyError
from initpolicy.language.ir import PolicyIR
from initpolicy.language.loader import parse

#: It fuzzes the parser (the Hypothesis profile sets how long).
pytestmark = pytest.mark.slow

GOOD = Path(__file__).parent / "data" / "policies" / "good"
SEEDS = [p.read_text(encoding="utf-8") for p in sorted(GOOD.glob("*.pol")) if p.stat().st_size]
_SNIPPETS = ["->", "**", "9**9**9", "((((", "))))", "use ", "let ", "seed ", "where ", "before "]
_SNIPPETS += ["named ", "in ", "after ", "count(", "not ", " and ", " or ", "fan_in", "\u00e9"]
_SNIPPETS += ["\x00", "\ufeff", "1e999", "[forget]", "\\\n", "\n->"]
ALPHABET = st.sampled_from([*"()[]\"'#\\-><=!*/+|.,:; \t\n\r0123456789eE_aZ", *_SNIPPETS])


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        n = len(text)
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 40)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "replace", "swap"]))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "insert":
            text = text[:i] + "".join(draw(st.lists(ALPHABET, min_size=1, max_size=5))) + text[i:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "replace":
            text = text[:i] + draw(ALPHABET) + text[j:]
        else:
            k = draw(st.integers(0, n))
            a, b = sorted((j, k))
            text = text[:i] + text[a:b] + text[j:a] + text[i:j] + text[b:] if j <= a else text
    return text


# examples: the Hypothesis profile's (tests/conftest.py: ci 300, thorough 5000)
@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_policies_raise_only_policy_error(text: str) -> None:
    try:
        ir = parse(text, "fuzz.pol", base_dir=GOOD)
    except PolicyError as e:
        assert e.diagnostics
        for d in e.diagnostics:
            assert d.render().startswith("fuzz.pol") or d.file != "fuzz.pol"
        return
    assert isinstance(ir, PolicyIR)
    assert [r.index for r in ir.rules] == list(range(len(ir.rules)))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_raises_only_policy_error(text: str) -> None:
    try:
        parse(text, "fuzz.pol", base_dir=GOOD)
    except PolicyError as e:
        assert all(d.render() for d in e.diagnostics)
