"""docs/language.md stays current with the catalogue, and its examples parse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from initpolicy.catalog.schemes import SCHEMES
from initpolicy.language import reference as langdoc
from initpolicy.language.loader import parse
from tests._policy_text import rule_lines

DOC = Path(__file__).resolve().parents[1] / "docs" / "language.md"


def test_generated_parts_are_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text == langdoc.render(text), (
        "regenerate: python -m initpolicy.language.reference docs/language.md"
    )
    for part in langdoc.PARTS:
        assert f"<!-- BEGIN GENERATED: {part} -->" in text


def test_every_scheme_is_documented_with_its_signature() -> None:
    text = DOC.read_text(encoding="utf-8")
    for scheme in SCHEMES.values():
        assert f"`{scheme.signature()}`" in text


BLOCKS = re.findall(r"```\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


@pytest.mark.parametrize("block", [b for b in BLOCKS if "->" in b and "^" not in b])
def test_code_examples_parse(block: str) -> None:
    if "use relu_net" in block:
        block = block.replace("use relu_net", "")  # the built-in library is tested elsewhere
    assert [r.loc.text for r in parse(block).rules] == rule_lines(block)
