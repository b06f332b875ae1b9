"""The bounded evaluator: values, limits and messages."""

from __future__ import annotations

import math

import pytest

from initpolicy.errors import InitPolicyError
from initpolicy.language.evaluation import (
    MAX_DEPTH,
    ExprError,
    binop,
    call,
    evaluate,
    evaluate_cond,
    has_count,
    names,
)
from initpolicy.language.ir import (
    And,
    BinOp,
    Call,
    Compare,
    Count,
    Name,
    Neg,
    Not,
    Num,
    Or,
    Selector,
)
from initpolicy.language.loader import parse

ENV = {"fan_in": 64.0, "fan_out": 16.0, "gain": math.sqrt(2), "n_layers": 12.0, "ndim": 2.0}


def arg(text: str) -> object:
    """The parsed ``std`` of ``normal(0, TEXT)`` (constant parts are already folded)."""
    return parse(f"Linear -> normal(0, {text})").rules[0].scheme.arg("std")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("gain / sqrt(fan_in)", math.sqrt(2) / 8),
        ("2 * fan_in + fan_out", 144.0),
        ("fan_in - fan_out - 1", 47.0),
        ("fan_in / fan_out / 2", 2.0),
        ("fan_out ** 0.5 ** 2", 16.0**0.25),
        ("-fan_out ** 2", -256.0),
        ("min(fan_in, fan_out, 100) + max(1, n_layers)", 28.0),
        ("abs(fan_out - fan_in) + exp(log(fan_in))", 48.0 + 64.0),
        ("0.02 / sqrt(2 * n_layers)", 0.02 / math.sqrt(24)),
    ],
)
def test_evaluate_parsed_expressions(text: str, value: float) -> None:
    assert evaluate(arg(text), ENV) == pytest.approx(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        ("fan_in > 32", True),
        ("fan_in > 32 and fan_out > 32", False),
        ("fan_in > 32 and fan_out > 32 or ndim == 2", True),
        ("not (fan_in > 32 or ndim != 2)", False),
        ("fan_in >= 64 and fan_in <= 64 and fan_in == 64", True),
        ("fan_out * 4 == fan_in", True),
    ],
)
def test_evaluate_cond(cond: str, expected: bool) -> None:
    where = parse(f"Linear where {cond} -> keep").rules[0].selector.where
    assert where is not None and evaluate_cond(where, ENV) is expected


def test_count_is_answered_by_the_callback() -> None:
    sel = Selector(types=("Linear",), named="*.c_proj")
    seen: list[Selector] = []
    expr = BinOp(op="/", left=Num(value=1.0), right=Count(selector=sel))
    assert evaluate(expr, {}, count=lambda s: seen.append(s) or 4.0) == 0.25
    assert seen == [sel]
    with pytest.raises(ExprError, match=r"count\(\.\.\.\) needs a model"):
        evaluate(expr, {})


@pytest.mark.parametrize(
    ("op", "a", "b", "message"),
    [
        ("**", 9.0, 387420489.0, "exponent 387420489 is too large (the limit is ±1024)"),
        ("**", 10.0, 400.0, "10 ** 400 is too large (overflow)"),
        ("**", 0.0, -1.0, "0 ** -1 divides by zero"),
        ("**", -8.0, 1 / 3, "-8 ** 0.333333: a negative base needs a whole exponent"),
        ("/", 1.0, 0.0, "division by zero (1 / 0)"),
        ("*", 1e300, 1e300, "1e+300 * 1e+300 is too large (overflow)"),
    ],
)
def test_binop_limits(op: str, a: float, b: float, message: str) -> None:
    with pytest.raises(ExprError) as info:
        binop(op, a, b)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("fn", "args", "message"),
    [
        ("sqrt", [-1.0], "sqrt of a negative number (-1)"),
        ("log", [0.0], "log of a number <= 0 (0)"),
        ("exp", [1000.0], "exp(1000) is too large (overflow)"),
        ("min", [1.0], "min() takes at least 2 arguments, got 1"),
        ("sqrt", [1.0, 2.0], "sqrt() takes 1 argument, got 2"),
        ("tanh", [1.0], "unknown function 'tanh' (functions: sqrt, log, exp, abs, min, max)"),
    ],
)
def test_call_limits(fn: str, args: list[float], message: str) -> None:
    with pytest.raises(ExprError) as info:
        call(fn, args)
    assert str(info.value) == message


def test_missing_name_lists_what_is_available() -> None:
    with pytest.raises(ExprError) as info:
        evaluate(Name(name="gain"), {"fan_in": 1.0, "fan_out": 2.0})
    assert str(info.value) == "name 'gain' has no value here (available: fan_in, fan_out)"
    assert isinstance(info.value, InitPolicyError)


def test_hand_built_deep_trees_fail_cleanly_not_with_recursion_error() -> None:
    expr: object = Num(value=1.0)
    cond: object = Compare(op=">", left=Name(name="fan_in"), right=Num(value=0.0))
    for _ in range(5000):  # model construction does not recurse; evaluation must not either
        expr = Neg(operand=expr)  # type: ignore[arg-type]
        cond = Not(item=cond)  # type: ignore[arg-type]
    with pytest.raises(ExprError, match=f"more than {MAX_DEPTH} levels"):
        evaluate(expr, {})  # type: ignore[arg-type]
    with pytest.raises(ExprError, match=f"more than {MAX_DEPTH} levels"):
        evaluate_cond(cond, ENV)  # type: ignore[arg-type]
    assert names(expr) == set()  # type: ignore[arg-type]
    assert names(cond) == {"fan_in"}  # type: ignore[arg-type]


def test_names_and_has_count() -> None:
    expr = Call(
        fn="max",
        args=(
            Name(name="gain"),
            BinOp(op="*", left=Name(name="fan_in"), right=Count(selector=Selector())),
        ),
    )
    cond = Or(items=(And(items=(Compare(op="<", left=Name(name="depth"), right=expr),)),))
    assert names(cond) == {"depth", "gain", "fan_in"}
    assert has_count(cond) and not has_count(Name(name="gain"))
