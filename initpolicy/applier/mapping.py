"""The element-wise map of ``mapped(SCHEME, fn)`` evaluated on a tensor.

The language's expression IR, read as torch operations on the drawn tensor ``x``: the
numbers stay Python floats (a scalar operand, as ``t.mul_(0.5)`` has it), so each step is
the kernel the model's in-place code ran, in the same order. Nothing is evaluated as
Python: the IR's node kinds are the vocabulary.

>>> import torch
>>> from initpolicy.language.ir import BinOp, Call, Name, Num
>>> fn = Call(fn="log", args=(BinOp(op="-", left=Name(name="x"), right=Num(value=1.0)),))
>>> elementwise(fn, torch.tensor([2.0, 3.0])).tolist() == torch.tensor([2.0, 3.0]).sub_(1).log_().tolist()
True
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from ..catalog import DRAWN
from ..language import BinOp, Call, Expr, Name, Neg, Num, binop, call

_BINOPS = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}
_UNARY = {"sqrt": torch.sqrt, "log": torch.log, "exp": torch.exp, "abs": torch.abs}


def elementwise(fn: Expr, x: torch.Tensor) -> Any:
    """``fn`` over ``x`` element by element: a tensor of ``x``'s shape and dtype (or a
    float where ``fn`` does not depend on ``x`` at that node)."""
    if isinstance(fn, Num):
        return float(fn.value)
    if isinstance(fn, Name):
        if fn.name != DRAWN:
            raise ValueError(f"a map of {DRAWN} cannot read '{fn.name}'")
        return x
    if isinstance(fn, Neg):
        v = elementwise(fn.operand, x)
        return -v if isinstance(v, float) else v.neg()
    if isinstance(fn, BinOp):
        a, b = elementwise(fn.left, x), elementwise(fn.right, x)
        if isinstance(a, float) and isinstance(b, float):
            return binop(fn.op, a, b)
        return _BINOPS[fn.op](a, b)
    if isinstance(fn, Call):
        args = [elementwise(a, x) for a in fn.args]
        if all(isinstance(a, float) for a in args):
            return call(fn.fn, args)
        if fn.fn in _UNARY:
            (v,) = args
            return _UNARY[fn.fn](v)
        out = args[0] if not isinstance(args[0], float) else torch.full_like(x, args[0])
        pick = torch.minimum if fn.fn == "min" else torch.maximum
        for v in args[1:]:
            out = pick(out, v if not isinstance(v, float) else torch.full_like(x, v))
        return out
    raise ValueError(f"not an element-wise map: {type(fn).__name__}")


__all__ = ["elementwise"]
