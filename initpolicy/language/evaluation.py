"""Bounded evaluation of policy expressions and conditions. Torch-free; never Python eval.

Arithmetic is float-only and every step is checked: an exponent beyond ``MAX_EXPONENT``,
an overflow, a division by zero or a domain error (``sqrt(-1)``, ``log(0)``) raises
:class:`ExprError` instead of hanging, returning inf/nan or recursing without bound.
The parser folds constant sub-expressions with the same primitives, so a hostile
``9**9**9`` is rejected when the policy is parsed.

>>> from initpolicy.language.ir import BinOp, Name, Num
>>> evaluate(BinOp(op="/", left=Num(value=2.0), right=Name(name="fan_in")), {"fan_in": 8})
0.25
>>> binop("**", 9.0, 387420489.0)
Traceback (most recent call last):
...
initpolicy.language.evaluation.ExprError: exponent 387420489 is too large (the limit is ±1024)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

from ..errors import InitPolicyError
from .ir import (
    And,
    BinOp,
    Call,
    Compare,
    Cond,
    Count,
    Expr,
    IndexOf,
    Name,
    Neg,
    Not,
    Num,
    Or,
    Selector,
)

#: Largest |exponent| allowed in ``a ** b``; far beyond any initialization formula.
MAX_EXPONENT = 1024.0
#: Deepest expression tree evaluated (the parser already rejects half as deep at parse time).
MAX_DEPTH = 200

#: Function name -> (min args, max args); None: no upper bound.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "sqrt": (1, 1),
    "log": (1, 1),
    "exp": (1, 1),
    "abs": (1, 1),
    "min": (2, None),
    "max": (2, None),
}

CountFn = Callable[[Selector], float]
#: ``index(SELECTOR)`` for the tensor being evaluated (see :class:`~.ir.IndexOf`).
PositionFn = Callable[[Selector], float]


class ExprError(InitPolicyError):
    """An expression could not be evaluated (unknown name, overflow, domain error, ...)."""


def _fmt(x: float) -> str:
    if x == int(x) and abs(x) < 1e16:
        return str(int(x))
    return f"{x:g}"


def _finite(x: float, what: str) -> float:
    if not math.isfinite(x):
        raise ExprError(f"{what} is too large (overflow)")
    return x


def binop(op: str, a: float, b: float) -> float:
    """``a op b`` with the language's limits.

    >>> binop("-", 1.0, 3.0), binop("**", 2.0, -1.0)
    (-2.0, 0.5)
    """
    if op == "+":
        return _finite(a + b, f"{_fmt(a)} + {_fmt(b)}")
    if op == "-":
        return _finite(a - b, f"{_fmt(a)} - {_fmt(b)}")
    if op == "*":
        return _finite(a * b, f"{_fmt(a)} * {_fmt(b)}")
    if op == "/":
        if b == 0:
            raise ExprError(f"division by zero ({_fmt(a)} / 0)")
        return _finite(a / b, f"{_fmt(a)} / {_fmt(b)}")
    if op == "**":
        if abs(b) > MAX_EXPONENT:
            raise ExprError(f"exponent {_fmt(b)} is too large (the limit is ±{MAX_EXPONENT:g})")
        if a == 0 and b < 0:
            raise ExprError(f"0 ** {_fmt(b)} divides by zero")
        if a < 0 and b != int(b):
            raise ExprError(f"{_fmt(a)} ** {_fmt(b)}: a negative base needs a whole exponent")
        try:
            return _finite(a**b, f"{_fmt(a)} ** {_fmt(b)}")
        except OverflowError:
            raise ExprError(f"{_fmt(a)} ** {_fmt(b)} is too large (overflow)") from None
    raise ExprError(f"unknown operator {op!r}")


def call(fn: str, args: list[float]) -> float:
    """A built-in function applied to evaluated arguments.

    >>> call("sqrt", [16.0]), call("max", [1.0, 3.0, 2.0])
    (4.0, 3.0)
    """
    if fn not in FUNCTIONS:
        raise ExprError(f"unknown function {fn!r} (functions: {', '.join(FUNCTIONS)})")
    lo, hi = FUNCTIONS[fn]
    if len(args) < lo or (hi is not None and len(args) > hi):
        want = f"{lo}" if lo == hi else f"at least {lo}"
        raise ExprError(f"{fn}() takes {want} argument{'s' if lo > 1 else ''}, got {len(args)}")
    x = args[0]
    if fn == "sqrt":
        if x < 0:
            raise ExprError(f"sqrt of a negative number ({_fmt(x)})")
        return math.sqrt(x)
    if fn == "log":
        if x <= 0:
            raise ExprError(f"log of a number <= 0 ({_fmt(x)})")
        return math.log(x)
    if fn == "exp":
        if x > 709:
            raise ExprError(f"exp({_fmt(x)}) is too large (overflow)")
        return math.exp(x)
    if fn == "abs":
        return abs(x)
    return min(args) if fn == "min" else max(args)


def compare(op: str, a: float, b: float) -> bool:
    """``a op b`` for the comparison operators of ``where``."""
    if op == "<":
        return a < b
    if op == "<=":
        return a <= b
    if op == ">":
        return a > b
    if op == ">=":
        return a >= b
    if op == "==":
        return a == b
    if op == "!=":
        return a != b
    raise ExprError(f"unknown comparison {op!r}")


def evaluate(
    expr: Expr,
    env: Mapping[str, float],
    count: CountFn | None = None,
    _depth: int = 0,
    *,
    position: PositionFn | None = None,
) -> float:
    """The value of ``expr`` given the bound names in ``env``.

    ``count`` answers ``count(SELECTOR)`` (how many modules match), ``position``
    ``index(SELECTOR)`` for the tensor at hand; without them they raise ExprError.

    >>> from initpolicy.language.ir import Call, Name
    >>> evaluate(Call(fn="sqrt", args=(Name(name="fan_in"),)), {"fan_in": 9.0})
    3.0
    """
    if _depth > MAX_DEPTH:
        raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep")
    d = _depth + 1
    if isinstance(expr, Num):
        return _finite(float(expr.value), f"number {expr.value}")
    if isinstance(expr, Name):
        if expr.name not in env:
            known = ", ".join(sorted(env)) or "none"
            raise ExprError(f"name '{expr.name}' has no value here (available: {known})")
        return float(env[expr.name])
    if isinstance(expr, Neg):
        return -evaluate(expr.operand, env, count, d, position=position)
    if isinstance(expr, BinOp):
        a = evaluate(expr.left, env, count, d, position=position)
        return binop(expr.op, a, evaluate(expr.right, env, count, d, position=position))
    if isinstance(expr, Call):
        return call(expr.fn, [evaluate(a, env, count, d, position=position) for a in expr.args])
    if isinstance(expr, Count):
        if count is None:
            raise ExprError("count(...) needs a model to count modules in")
        return float(count(expr.selector))
    if isinstance(expr, IndexOf):
        if position is None:
            raise ExprError("index(...) needs a tensor whose enclosing modules it counts")
        return float(position(expr.selector))
    raise ExprError(f"not a number: {type(expr).__name__}")


def evaluate_cond(
    cond: Cond, env: Mapping[str, float], count: CountFn | None = None, _depth: int = 0
) -> bool:
    """The truth of a ``where`` condition given the names in ``env``.

    >>> from initpolicy.language.ir import Compare, Name, Num
    >>> evaluate_cond(Compare(op=">", left=Name(name="fan_in"), right=Num(value=256)),
    ...               {"fan_in": 512})
    True
    """
    if _depth > MAX_DEPTH:
        raise ExprError(f"condition nested more than {MAX_DEPTH} levels deep")
    d = _depth + 1
    if isinstance(cond, Compare):
        a = evaluate(cond.left, env, count, d)
        return compare(cond.op, a, evaluate(cond.right, env, count, d))
    if isinstance(cond, And):
        return all(evaluate_cond(c, env, count, d) for c in cond.items)
    if isinstance(cond, Or):
        return any(evaluate_cond(c, env, count, d) for c in cond.items)
    if isinstance(cond, Not):
        return not evaluate_cond(cond.item, env, count, d)
    raise ExprError(f"not a condition: {type(cond).__name__}")


def _nodes(node: Expr | Cond) -> Iterator[object]:
    """Every node of an expression or condition (``count`` selectors not entered).
    Iterative: safe on any depth a caller might have built by hand."""
    stack: list[object] = [node]
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, Neg):
            stack.append(n.operand)
        elif isinstance(n, BinOp | Compare):
            stack += [n.left, n.right]
        elif isinstance(n, Call):
            stack += list(n.args)
        elif isinstance(n, And | Or):
            stack += list(n.items)
        elif isinstance(n, Not):
            stack.append(n.item)


def names(node: Expr | Cond) -> set[str]:
    """Every bound name an expression or condition reads (``count`` selectors excluded).

    >>> from initpolicy.language.ir import BinOp, Name, Num
    >>> sorted(names(BinOp(op="*", left=Name(name="gain"), right=Name(name="fan_in"))))
    ['fan_in', 'gain']
    """
    return {n.name for n in _nodes(node) if isinstance(n, Name)}


def has_count(node: Expr | Cond) -> bool:
    """True if the expression or condition contains ``count(...)`` or ``index(...)``
    (needs a model)."""
    return any(isinstance(n, Count | IndexOf) for n in _nodes(node))
