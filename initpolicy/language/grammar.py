"""The Lark parser of one logical line (grammar/policy.lark), built once per process.

Built from the grammar in every process, with no disk cache: building the LALR tables
takes ~20 ms (bench/bench_parse.py, docs/benchmarks.md), and Lark's ``cache=`` is a
pickle in a user-writable directory, which a planted file with the right hash line would
turn into code run by ``initpolicy check``. Torch-free.
"""

from __future__ import annotations

from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .builtins import grammar_path
from .lines import Chunk, SyntaxProblem, precheck
from .syntax_errors import label

_PARSER: Lark | None = None

#: Lark's options for the policy grammar (and nothing read from disk but the grammar).
OPTIONS: dict[str, Any] = {
    "parser": "lalr",
    "lexer": "contextual",
    # Tokens carry their line and column, which is all a diagnostic needs (see
    # expr_build.span_width); propagating positions to every tree node costs 40% of the
    # parse, measured by bench/bench_parse.py.
    "propagate_positions": False,
    "maybe_placeholders": True,
}


def parser() -> Lark:
    """The policy parser (LALR, contextual lexer), built on first use."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(grammar_path().read_text(encoding="utf-8"), **OPTIONS)
    return _PARSER


def parse_chunk(chunk: Chunk) -> Tree[Token] | SyntaxProblem:
    """The Lark tree of one logical line, or the labelled problem that stops it."""
    problem = precheck(chunk)
    if problem is not None:
        return problem
    try:
        return parser().parse(chunk.text)
    except UnexpectedInput as e:
        return label(chunk, e)
