"""From Lark trees to expression and condition IR: names, calls, operators, folding.

The grammar gives a flat operand/operator list; :class:`ExprBuilder` applies precedence
by precedence climbing, checks that numbers and conditions are used where they belong,
resolves names (``let`` names are substituted, bound names kept, unknown names reported
with a hint) and folds constant sub-expressions with :mod:`initpolicy.language.evaluation`'s checked
primitives, so ``9**9**9`` or ``sqrt(-1)`` fail at parse time, pointing at the operator.
Depth is bounded: no input can exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lark import Token, Tree

from ..common import did_you_mean, one_of
from ..errors import Diagnostic
from . import evaluation as ex
from .ir import (
    BOUND_NAMES,
    CONDITION_NAMES,
    CONFIG_PREFIX,
    And,
    BinOp,
    Call,
    Compare,
    Count,
    IndexOf,
    Name,
    Neg,
    Not,
    Num,
    Or,
    Selector,
    module_only,
)

MAX_EXPR_DEPTH = 100
#: Most nodes an expression may have once its ``let`` names are written out: a let is
#: shared, not copied, in the IR, but evaluating it visits every use, so 24 lines of
#: ``let aN = a(N-1) + a(N-1)`` would be 2**24 nodes to evaluate per tensor.
MAX_EXPR_SIZE = 1000
WHERE_NAMES = tuple(dict.fromkeys(CONDITION_NAMES + BOUND_NAMES))
_CMP = {"<", "<=", ">", ">=", "==", "!="}
# Binary operator -> (left, right) binding power; higher binds tighter. `**` is
# right-associative (its right power is lower); comparisons do not chain.
_INFIX = {
    "or": (1, 2),
    "and": (3, 4),
    **{op: (7, 8) for op in _CMP},
    "+": (9, 10),
    "-": (9, 10),
    "*": (11, 12),
    "/": (11, 12),
    "**": (16, 15),
}
_PREFIX = {"not": 5, "-": 13, "+": 13}
#: The binding powers, read by the printer (initpolicy.language.printer) to write the
#: parentheses a tree needs.
INFIX, PREFIX = _INFIX, _PREFIX


class _TooDeep(Exception):
    pass


@dataclass(frozen=True)
class Value:
    """A built expression: the IR node, whether it is a condition, its depth, where it starts."""

    node: Any  # an Expr, or a Cond when ``cond``
    cond: bool
    depth: int
    tok: Token


def as_tree(node: Tree[Token] | Token | None) -> Tree[Token]:
    assert isinstance(node, Tree)
    return node


def as_token(node: Tree[Token] | Token | None) -> Token:
    assert isinstance(node, Token)
    return node


def first_token(node: Tree[Token] | Token) -> Token:
    """The first token under ``node`` (its position is the node's)."""
    while isinstance(node, Tree):
        node = next(c for c in node.children if c is not None)
    return node


def last_token(node: Tree[Token] | Token) -> Token:
    """The last token kept under ``node`` (closing brackets are filtered out of trees)."""
    while isinstance(node, Tree):
        node = next(c for c in reversed(node.children) if c is not None)
    return node


def span_width(source: str, first: Token, last: Token) -> int:
    """Columns from ``first`` to the end of ``last``, plus the closing brackets they leave
    open; 1 when the span leaves the line or is too long to be a helpful underline."""
    if first.line != last.line or first.column is None or last.end_column is None:
        return 1
    start, end = first.column - 1, last.end_column - 1
    opened = source.count("(", start, end) - source.count(")", start, end)
    opened += source.count("[", start, end) - source.count("]", start, end)
    while opened > 0:
        rest = source[end:]
        stripped = rest.lstrip()
        if not stripped or stripped[0] not in ")]":
            break
        end += len(rest) - len(stripped) + 1
        opened -= 1
    width = end - start
    return width if 0 < width <= 40 else 1


def extent(node: Any) -> tuple[int, int]:
    """(nodes, depth) of an expression or condition with every shared sub-tree (a ``let``)
    counted at each use; linear in the shared graph, not in the expanded tree.

    >>> x = BinOp(op="+", left=Name(name="fan_in"), right=Name(name="fan_in"))
    >>> extent(BinOp(op="*", left=x, right=x))
    (7, 3)
    """
    memo: dict[int, tuple[int, int]] = {}

    def walk(n: Any) -> tuple[int, int]:
        key = id(n)
        if key not in memo:
            kids = _children(n)
            parts = [walk(k) for k in kids]
            memo[key] = (
                1 + sum(p[0] for p in parts),
                1 + max((p[1] for p in parts), default=0),
            )
        return memo[key]

    return walk(node)


def _children(n: Any) -> tuple[Any, ...]:
    if isinstance(n, BinOp | Compare):
        return (n.left, n.right)
    if isinstance(n, Neg):
        return (n.operand,)
    if isinstance(n, Not):
        return (n.item,)
    if isinstance(n, Call):
        return n.args
    if isinstance(n, And | Or):
        return n.items
    if isinstance(n, Count):
        return () if n.selector.where is None else (n.selector.where,)
    return ()


class ExprBuilder:
    """Builds expressions for one file; collects diagnostics; holds the file's ``let`` names.

    Subclassed by :class:`initpolicy.language.selectors.Builder`, which adds selectors (a
    ``count(SELECTOR)`` needs them, a ``where`` clause needs expressions).
    """

    def __init__(self, file: str, lines: Sequence[str]):
        self.file = file
        self.lines = lines
        self.errors: list[Diagnostic] = []
        self.lets: dict[str, tuple[Any, int]] = {}  # name -> (Expr or None if bad, line)
        self.offset = 0  # first line of the current chunk, minus one
        self._depth = 0

    # ------------------------------------------------------------------ diagnostics

    def error(
        self, at: Tree[Token] | Token, message: str, hint: str | None = None, width: int = 0
    ) -> None:
        """Record a problem located at ``at`` (a token, or a tree: its first token)."""
        self.errors.append(self.diagnostic(at, message, hint, width))

    def diagnostic(
        self, at: Tree[Token] | Token, message: str, hint: str | None = None, width: int = 0
    ) -> Diagnostic:
        tok = first_token(at)
        line = self.offset + (tok.line or 1)
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        if not width:
            width = span_width(source or "", tok, last_token(at))
        return Diagnostic(self.file, line, tok.column, message, source, hint, width)

    # ------------------------------------------------------------------ selectors

    def selector(self, tree: Tree[Token]) -> Selector | None:
        raise NotImplementedError  # pragma: no cover - provided by transform.Builder

    def expression(self, tree: Tree[Token] | Token, allowed: Sequence[str]) -> Value | None:
        """Build an expression or condition; None (with errors recorded) if it is bad."""
        saved = self._depth
        try:
            value = self._expr(tree, allowed)
        except _TooDeep:
            self.error(tree, f"expression nested more than {MAX_EXPR_DEPTH} levels deep")
            return None
        finally:
            self._depth = saved
        if value is None:
            return None
        size, depth = extent(value.node)
        if size > MAX_EXPR_SIZE:
            self.error(
                tree,
                f"expression too large: {size:,} nodes once its lets are written out "
                f"(at most {MAX_EXPR_SIZE:,})",
                "each use of a let counts its whole expression",
            )
            return None
        if depth > MAX_EXPR_DEPTH:
            self.error(
                tree,
                f"expression nested more than {MAX_EXPR_DEPTH} levels deep once its lets "
                "are written out",
            )
            return None
        return value

    def number(self, tree: Tree[Token] | Token, allowed: Sequence[str]) -> Value | None:
        v = self.expression(tree, allowed)
        if v is not None and v.cond:
            self.error(tree, "a condition is not a number", "comparisons belong after where")
            return None
        return v

    def _expr(self, tree: Tree[Token] | Token, allowed: Sequence[str]) -> Value | None:
        self._depth += 1
        if self._depth > MAX_EXPR_DEPTH:
            raise _TooDeep
        try:
            return self._dispatch(tree, allowed)
        finally:
            self._depth -= 1

    def _dispatch(self, tree: Tree[Token] | Token, allowed: Sequence[str]) -> Value | None:
        assert isinstance(tree, Tree)
        kind = tree.data
        if kind == "expr" or kind == "prefixed":
            items = list(tree.children) if kind == "expr" else [tree]
            stream: list[Tree[Token] | Token] = []
            for item in items:
                if isinstance(item, Tree) and item.data == "prefixed":
                    stream.extend(item.children)
                else:
                    stream.append(item)
            return self._pratt(stream, allowed)
        tok = first_token(tree)
        if kind == "number":
            return self._num(tok)
        if kind == "name":
            return self._name(tok, allowed)
        if kind == "dotted":
            return self._config(tree, allowed)
        if kind == "group":
            v = self._expr(tree.children[0], allowed)
            return None if v is None else Value(v.node, v.cond, v.depth + 1, tok)
        if kind == "call":
            return self._call(tree, allowed)
        if kind == "count":
            sel = self.selector(as_tree(tree.children[0]))
            return None if sel is None else Value(Count(selector=sel), False, 1, tok)
        if kind == "index":
            sel = self.selector(as_tree(tree.children[0]))
            if sel is not None and not module_only(sel):
                self.error(
                    tree,
                    "index(...) takes module facts only (a type, `named`, `in`): "
                    "it is the position of an enclosing module",
                )
                return None
            return None if sel is None else Value(IndexOf(selector=sel), False, 1, tok)
        if kind == "string":
            self.error(tree, f"a string ({tok}) is not a number")
            return None
        raise AssertionError(f"unexpected tree {kind}")  # pragma: no cover - grammar bug

    def _num(self, tok: Token) -> Value | None:
        value = float(tok)
        if value == float("inf"):
            self.error(tok, f"number {tok} is too large")
            return None
        text = str(tok)
        if text.isdigit() and len(text) <= 400 and int(text) != value:
            # numbers are float64: a whole number past 2**53 that it cannot hold would be
            # written rounded (constant(9007199254740993) as ...992): refused, not rounded
            self.error(
                tok,
                f"whole number {text} cannot be held exactly (policy numbers are float64, "
                f"exact to 2**53 = {2**53:,}); it would be {int(value):,}",
            )
            return None
        return Value(Num(value=value), False, 1, tok)

    def _name(self, tok: Token, allowed: Sequence[str]) -> Value | None:
        name = str(tok)
        if name in self.lets:
            node, _ = self.lets[name]
            return None if node is None else Value(node, False, 1, tok)
        if name in allowed:
            return Value(Name(name=name), False, 1, tok)
        if name in WHERE_NAMES:
            self.error(tok, f"'{name}' can only be used in a where condition")
            return None
        known = [*allowed, *self.lets]
        self.error(
            tok,
            f"unknown name '{name}'",
            did_you_mean(name, known) or f"names: {one_of(known)}",
        )
        return None

    def _config(self, tree: Tree[Token], allowed: Sequence[str]) -> Value | None:
        """``config.d_kv``: a number of the model's config, read when the policy is planned
        (a size the code computed from its config, right at every size of the model); in a
        ``where`` condition too (``fan_out == config.vocab_size``: a test the code made)."""
        parts = [str(t) for t in tree.children]
        tok = first_token(tree)
        text = ".".join(parts)
        if parts[0] != CONFIG_PREFIX.rstrip("."):
            self.error(
                tok,
                f"unknown name '{text}': a dotted name reads the model's config",
                f"write config.{'.'.join(parts[1:])}",
            )
            return None
        return Value(Name(name=text), False, 1, tok)

    def _call(self, tree: Tree[Token], allowed: Sequence[str]) -> Value | None:
        fn_tok = as_token(tree.children[0])
        fn = str(fn_tok)
        if fn not in ex.FUNCTIONS:
            self.error(
                fn_tok,
                f"unknown function '{fn}'",
                did_you_mean(fn, ex.FUNCTIONS) or f"functions: {one_of(ex.FUNCTIONS)}",
            )
            return None
        args = [self._expr(a, allowed) for a in tree.children[1:] if a is not None]
        if any(a is None for a in args):
            return None
        vals = [a for a in args if a is not None]
        for a in vals:
            if a.cond:
                self.error(a.tok, f"{fn}() takes numbers, not a condition")
                return None
        lo, hi = ex.FUNCTIONS[fn]
        if len(vals) < lo or (hi is not None and len(vals) > hi):
            want = f"{lo} argument" if lo == hi else f"at least {lo} arguments"
            self.error(fn_tok, f"{fn}() takes {want}, got {len(vals)}")
            return None
        depth = 1 + max(a.depth for a in vals)
        nodes = [a.node for a in vals]
        if all(isinstance(n, Num) for n in nodes):
            try:
                folded = ex.call(fn, [n.value for n in nodes])
            except ex.ExprError as e:
                self.error(tree, str(e))
                return None
            return Value(Num(value=folded), False, 1, fn_tok)
        return Value(Call(fn=fn, args=tuple(nodes)), False, depth, fn_tok)

    def _pratt(self, stream: list[Tree[Token] | Token], allowed: Sequence[str]) -> Value | None:
        """Precedence climbing over the flat operand/operator list the grammar produces."""
        pos = 0
        bad = False

        def parse(min_bp: int) -> Value | None:
            nonlocal pos, bad
            self._depth += 1
            if self._depth > MAX_EXPR_DEPTH:
                raise _TooDeep
            item = stream[pos]
            pos += 1
            left: Value | None
            if isinstance(item, Token) and str(item) in _PREFIX:
                operand = parse(_PREFIX[str(item)])
                left = None if operand is None else self._prefix(item, operand)
            else:
                left = self._expr(item, allowed)
            while pos < len(stream):
                op = as_token(stream[pos])
                lbp, rbp = _INFIX[str(op)]
                if lbp < min_bp:
                    break
                pos += 1
                right = parse(rbp)
                if left is not None and right is not None:
                    left = self._infix(op, left, right)
                else:
                    left = None
                if left is None:
                    bad = True
            self._depth -= 1
            return left

        value = parse(0)
        return None if bad else value

    def _prefix(self, op: Token, v: Value) -> Value | None:
        if str(op) == "not":
            if not v.cond:
                self.error(op, "'not' needs a condition, e.g. not fan_in > 256")
                return None
            return Value(Not(item=v.node), True, v.depth + 1, op)
        if v.cond:
            self.error(op, f"'{op}' needs a number, not a condition")
            return None
        if str(op) == "+":
            return Value(v.node, False, v.depth, op)
        if isinstance(v.node, Num):
            return Value(Num(value=-v.node.value), False, 1, op)
        return Value(Neg(operand=v.node), False, v.depth + 1, op)

    def _infix(self, op: Token, a: Value, b: Value) -> Value | None:
        o = str(op)
        depth = max(a.depth, b.depth) + 1
        if depth > MAX_EXPR_DEPTH:
            raise _TooDeep
        if o in ("and", "or"):
            for side in (a, b):
                if not side.cond:
                    self.error(side.tok, f"'{o}' joins conditions, e.g. fan_in > 64 {o} ndim == 2")
                    return None
            cls = And if o == "and" else Or
            items: list[Any] = []
            for node in (a.node, b.node):  # flatten a and b and c into one And
                items.extend(node.items if isinstance(node, cls) else (node,))
            return Value(cls(items=tuple(items)), True, depth, a.tok)
        for side in (a, b):
            if side.cond:
                what = "compared" if o in _CMP else "used in arithmetic"
                hint = "comparisons do not chain: write a < b and b < c" if o in _CMP else None
                self.error(op, f"a condition cannot be {what}", hint)
                return None
        if o in _CMP:
            return Value(Compare(op=o, left=a.node, right=b.node), True, depth, a.tok)
        if isinstance(a.node, Num) and isinstance(b.node, Num):
            try:
                return Value(Num(value=ex.binop(o, a.node.value, b.node.value)), False, 1, a.tok)
            except ex.ExprError as e:
                self.error(op, str(e))
                return None
        return Value(BinOp(op=o, left=a.node, right=b.node), False, depth, a.tok)
