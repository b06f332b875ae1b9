"""The Lark parser of one logical line (grammar/policy.lark), built once per process.

Torch-free.
"""

from __future__ import annotations

import os
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .builtins import grammar_path
from .lines import Chunk, SyntaxProblem, precheck
from .syntax_errors import label

_PARSER: Lark | None = None


def _cache_path() -> str | bool:
    # A per-user cache directory, not the shared temp dir: Lark's cache is a pickle.
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(root) / "initpolicy"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return str(path / "policy-grammar.lark-cache")


def parser() -> Lark:
    """The policy parser (LALR, contextual lexer), built on first use."""
    global _PARSER
    if _PARSER is None:
        _PARSER = Lark(
            grammar_path().read_text(encoding="utf-8"),
            parser="lalr",
            lexer="contextual",
            # Tokens carry their line and column, which is all a diagnostic needs (see
            # expr_build.span_width); propagating positions to every tree node costs 40%
            # of the parse, measured by bench/bench_parse.py.
            propagate_positions=False,
            maybe_placeholders=True,
            cache=_cache_path(),
        )
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
