"""What an init function's source says about one write: the tests it made on the written
tensor's size, and the expressions of the numbers it wrote.

RWKV's ``_init_weights`` writes every Linear's weight so::

    shape = module.weight.shape
    gain = 1.0
    scale = 1.0  # extra scale for gain
    if shape[0] > shape[1]:
        gain = math.sqrt(shape[0] / shape[1])
    if shape[0] == self.config.vocab_size and shape[1] == self.config.hidden_size:
        scale = 0.5
    gain *= scale
    init.orthogonal_(module.weight, gain=gain)

At one size only the head has the shape ``(vocab_size, hidden_size)``; at another a
feed-forward key may have it too, and the code halves its gain as well. Values cannot
tell the two apart; the source can. The function is read, statement by statement, up to
the write, keeping each local as a symbolic value: an expression over the written
tensor's size, or a *select* between two values where an ``if`` assigned it in one
branch. Then:

- a **guard** is the test of such an ``if`` (each side; an ``elif``'s under the
  negation of the tests before it), or of the branches around the write, as a policy
  condition: ``fan_out == config.vocab_size and fan_in == config.hidden_size``, with the
  types an ``isinstance`` around or beside it names. The extractor selects by it
  (``Linear where ...``, :func:`.greedy.guard_rules`), which holds at every size;
- an **argument** of the write (by keyword, by position, or the scheme's default where
  the call leaves it out) is a symbolic value; for one tensor it resolves into a policy
  expression (:func:`resolve`): a select on an order test that equals the ``max`` or
  ``min`` of its two values on sampled sizes becomes that (``gain = 1.0`` then ``if
  shape[0] > shape[1]: gain = sqrt(...)`` is ``max(1, sqrt(fan_out / fan_in))``), any
  other is decided by its test on that tensor (the head's ``scale`` is 0.5: the rule on
  the guard carries it). RWKV's head is ``max(1, sqrt(fan_out / fan_in)) * 0.5``.

Sizes are the written tensor's shape (``w.shape[0]``, ``w.size(1)``, a local unpacked or
copied from a ``.shape``) and dimensions (``w.dim()``, ``w.ndim``: ``ndim``), a Linear's
``out_features`` and ``in_features``, numbers of the model's config (``self.config.NAME``,
``cfg = self.config`` then ``cfg.NAME``, a sub-config's by its path), numbers,
arithmetic, ``sqrt``, ``log``, ``exp``, ``abs``, ``min`` and ``max``. A test with any
other part (a flag, a name test) is no guard: a conjunction with a part left out would
be wider than the code's test. A shape's first dimension reads as ``fan_out`` and its
second as ``fan_in``: the caller uses these only for a 2-D tensor whose fans are its
shape.

>>> from initpolicy.language import expression
>>> src = '''
... def init(self, w):
...     out, inp = w.shape
...     std = 0.02
...     if out == self.config.vocab_size:
...         std = 0.01
...     torch.nn.init.normal_(w, std=std / math.sqrt(inp))
... '''
>>> guards, arguments = read(src, 7)
>>> [expression(g.cond) for g in guards]
['fan_out == config.vocab_size', 'fan_out != config.vocab_size']
>>> std = {arg: value for _call, arg, value in arguments}["std"]
>>> expression(resolve(std, {"fan_out": 96, "fan_in": 32, "config.vocab_size": 96}))
'0.01 / sqrt(fan_in)'
"""

from __future__ import annotations

import ast
import copy
import linecache
import math
import random
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..catalog import get
from ..errors import InitPolicyError
from ..language import (
    And,
    BinOp,
    Call,
    Compare,
    Name,
    Neg,
    Node,
    Not,
    Num,
    Or,
    evaluate,
    evaluate_cond,
    names,
)
from .calls import INIT_FUNCTIONS, scheme_args


@dataclass(frozen=True)
class Select:
    """The value of a local an ``if`` assigned: ``then`` where ``cond`` holds, else
    ``other`` (None: not known). ``types``: the module types an ``isinstance`` beside the
    test named (``isinstance(m, nn.Linear) and m.out_features == V``: ``("Linear",)``)."""

    cond: Any
    then: Any
    other: Any
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Guard:
    """A test the code made before a write: the condition, as policy IR, and the module
    types it was made on (an ``isinstance`` around or beside it; () where none)."""

    cond: Any
    types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Op:
    """Arithmetic or a function over values of which one holds a :class:`Select`."""

    fn: str  # "+", "-", "*", "/", "**", "neg", or a function of the language
    args: tuple[Any, ...]


class _Shape:
    """The written tensor's ``.shape`` (or ``.size()``)."""


_SHAPE = _Shape()


class _Config:
    """The model's config object (``self.config``, ``cfg = self.config``)."""


_CONFIG = _Config()
#: Where init functions live: ``init.normal_(w, ...)`` is such a function, ``w.normal_(...)``
#: a tensor's method.
_NAMESPACES = frozenset({"init", "nn.init", "torch.nn.init", "torch.init", "weight_init"})
#: A tensor method's positional arguments, by the catalog's names.
_METHOD_ARGS = {
    "normal_": ("mean", "std"),
    "uniform_": ("a", "b"),
    "fill_": ("val",),
    "mul_": ("factor",),
    "div_": ("divisor",),
}
#: What the reader says of one write: its guards, and its init calls' arguments' values
#: (the call's name, the argument's, the value).
Reading = tuple[tuple[Any, ...], tuple[tuple[str, str, Any], ...]]

_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_ARITH = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}
#: A dimension of the written 2-D tensor, by index, as a fan.
_DIMS = {0: "fan_out", -2: "fan_out", 1: "fan_in", -1: "fan_in"}
#: Attributes of a layer that are its fans (a Linear's).
_FAN_ATTRS = {"out_features": "fan_out", "in_features": "fan_in"}
#: Functions of the language, by the name the code calls (``math.sqrt``, ``max``).
_FUNCTIONS = {"sqrt": "sqrt", "log": "log", "exp": "exp", "abs": "abs", "fabs": "abs"}
_FUNCTIONS_BUILTIN = {"max": "max", "min": "min", "abs": "abs"}
_CACHE: dict[tuple[Any, int], Reading] = {}


def read_site(code: Any, line: int) -> Reading:
    """The guards and arguments of the write at ``line`` of the function whose code
    object is ``code`` (once per code object and line; nothing when the source cannot be
    read)."""
    key = (code, line)
    if key not in _CACHE:
        try:
            func = _function(code)
            _CACHE[key] = ((), ()) if func is None else _read(func, line)
        except Exception:  # reading the source is a help, never a failure of the record
            _CACHE[key] = ((), ())
    return _CACHE[key]


_TREES: dict[str, ast.Module | None] = {}


def _function(code: Any) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The ``def`` of ``code`` in its file's syntax tree (the file parsed once), or None
    (no file, a lambda, source that does not parse)."""
    path = code.co_filename
    if path not in _TREES:
        try:
            _TREES[path] = ast.parse("".join(linecache.getlines(path)) or "\n")
        except (SyntaxError, ValueError):
            _TREES[path] = None
    tree = _TREES[path]
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == code.co_name:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if first == code.co_firstlineno:
                return node
    return None


def read(source: str, line: int) -> Reading:
    """The guards and arguments of the write at ``line`` (1-based, in ``source``) of the
    function whose source is ``source``."""
    try:
        tree = ast.parse(textwrap.dedent(source))
    except (SyntaxError, ValueError):
        return (), ()
    func = next(
        (n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)), None
    )
    return ((), ()) if func is None else _read(func, line)


def _read(func: ast.FunctionDef | ast.AsyncFunctionDef, line: int) -> Reading:
    stmts = [n for n in ast.walk(func) if isinstance(n, ast.stmt) and n is not func]
    around = [s for s in stmts if s.lineno <= line <= (s.end_lineno or s.lineno)]
    # the innermost statement on the line (`if c: init.normal_(w)` is the call, not the if)
    inner = [s for s in around if not any(o is not s and _holds(s, o) for o in around)]
    if len(inner) != 1:
        return (), ()  # no statement, or two on one line: which one wrote is not known
    write = inner[0]
    reader = _Reader(write, _ancestors(func, write))
    try:
        arguments = reader.read(func, write)
        found = [g for g in reader.guards() if {"fan_in", "fan_out"} & names(g.cond)]
    except (RecursionError, OverflowError, ValueError):  # deep nesting, a huge number
        return (), ()
    return tuple(dict.fromkeys(found)), arguments


def _holds(outer: ast.stmt, inner: ast.stmt) -> bool:
    """Whether statement ``outer`` holds ``inner``."""
    return any(n is inner for n in ast.walk(outer))


def _conds(
    value: Any, above: tuple[Any, ...] = (), outer: tuple[str, ...] = ()
) -> list[tuple[tuple[Any, ...], tuple[str, ...]]]:
    """The tests of the selects in a value, each with the tests it is under (an ``elif``'s
    test holds only where the tests before it failed), and its types (an inner select's
    are its outer one's where it names none)."""
    if isinstance(value, Select):
        types = value.types or outer
        here, there = (*above, value.cond), (*above, negate(value.cond))
        return [
            (here, types),
            (there, types),
            *_conds(value.then, here, types),
            *_conds(value.other, there, types),
        ]
    if isinstance(value, Op):
        return [c for a in value.args for c in _conds(a, above, outer)]
    return []


_OPPOSITE = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", ">": "<=", "<=": ">"}


def negate(cond: Any) -> Any:
    """``not cond``, a comparison flipped (``fan_out != V``, not ``not fan_out == V``)."""
    if isinstance(cond, Compare):
        return Compare(op=_OPPOSITE[cond.op], left=cond.left, right=cond.right)
    if isinstance(cond, Not):
        return cond.item
    return Not(item=cond)


def _all(conds: Any) -> Any:
    conds = tuple(dict.fromkeys(conds))
    return conds[0] if len(conds) == 1 else And(items=conds)


def _isinstance_types(node: ast.expr) -> tuple[str, ...] | None:
    """The type names of ``isinstance(x, nn.Linear)`` (a tuple of types: each), or None
    where ``node`` is no isinstance test."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
        return None
    if node.func.id != "isinstance" or len(node.args) != 2:
        return None
    kinds = node.args[1]
    elts = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    out = []
    for e in elts:
        if isinstance(e, ast.Name):
            out.append(e.id)
        elif isinstance(e, ast.Attribute):
            out.append(e.attr)
        else:
            return None
    return tuple(out)


def _split(test: ast.expr) -> tuple[tuple[str, ...], list[ast.expr]]:
    """An ``if``'s test as the types its ``isinstance`` conjuncts name and its other
    conjuncts (``isinstance(m, nn.Linear) and m.out_features == V``)."""
    parts = test.values if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And) else [test]
    types: list[str] = []
    rest = []
    for p in parts:
        t = _isinstance_types(p)
        if t is None:
            rest.append(p)
        else:
            types += t
    return tuple(types), rest


def _ends(stmts: list[ast.stmt]) -> bool:
    """Whether a branch leaves the function's straight line (its values never reach on)."""
    return bool(stmts) and isinstance(stmts[-1], ast.Return | ast.Raise | ast.Continue | ast.Break)


def _stored(node: ast.AST) -> set[str]:
    return {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


class _Reader:
    """Reads statements up to the write, keeping each local's symbolic value."""

    def __init__(self, write: ast.stmt, holders: list[ast.AST]):
        self.write = write
        self.path = {id(n) for n in holders}
        #: The write's call, the tensor it writes as the code names it (``module.weight``),
        #: the module that holds it (a shape or a fan of anything else is not the written
        #: tensor's), and the names of its positional arguments.
        calls = _init_calls(write)
        self.written = calls[0][1] if calls else None
        self.calls = calls
        self.owner = self.written.rpartition(".")[0] if self.written else None
        #: The tests of the branches the write is in, and the types their isinstance named.
        self.path_conds: list[tuple[Any, tuple[str, ...]]] = []
        self.path_types: tuple[str, ...] = ()
        #: The tests of the selects in the write's arguments.
        self.selects: list[tuple[tuple[Any, ...], tuple[str, ...]]] = []

    def read(
        self, func: ast.FunctionDef | ast.AsyncFunctionDef, write: ast.stmt
    ) -> tuple[tuple[str, str, Any], ...]:
        """Read ``func`` up to the write: each init call's arguments' values, by the
        call's name and the catalog's argument names (one not given: its default)."""
        store: dict[str, Any] = {}
        self.block(func.body, store)
        arguments: list[tuple[str, str, Any]] = []
        named = [c[0] for c in self.calls]
        for name, _tensor, call, given, defaults in self.calls:
            if named.count(name) > 1:
                continue  # two calls of one name (`a if c else b`): which one wrote is not known
            passed = [(k, n) for k, n in given] + [(kw.arg, kw.value) for kw in call.keywords]
            for arg, node in passed:
                value = self.expr(node, store) if arg else None
                if arg and value is not None and not isinstance(value, _Shape | _Config | tuple):
                    arguments.append((name, arg, value))
                    self.selects += _conds(value)
            seen = {k for k, _ in passed}
            arguments += [(name, k, Num(value=v)) for k, v in defaults if k not in seen]
        return tuple(arguments)

    def guards(self) -> list[Guard]:
        """Every test: the branches' around the write (all together), and each select's
        under them."""
        path = [c for c, _types in self.path_conds]
        around = self.path_types or next((t for _c, t in self.path_conds if t), ())
        out = [Guard(_all(path), around)] if path else []
        for conds, types in self.selects:
            out.append(Guard(_all((*path, *conds)), types or around))
        return out

    def block(self, stmts: list[ast.stmt], store: dict[str, Any]) -> bool:
        """Read ``stmts`` into ``store``; True where the write was reached."""
        for s in stmts:
            if s is self.write:
                return True
            if id(s) in self.path:
                return self.enter(s, store)
            self.stmt(s, store)
        return False

    def enter(self, s: ast.stmt, store: dict[str, Any]) -> bool:
        """Read into the compound statement ``s`` that holds the write."""
        if isinstance(s, ast.If):
            for name in _stored(s.test):
                store[name] = None  # a walrus in the test
            inside = any(id(n) in self.path or n is self.write for n in s.body)
            types, rest = _split(s.test)
            if inside:
                if types and types != self.path_types:
                    # a test made on other types than this isinstance names: not this one's
                    self.path_conds = [(c, t) for c, t in self.path_conds if not t or t == types]
                self.path_types = types or self.path_types
                cond = self.cond(_joined(rest), store) if rest else None
                if cond is not None:
                    self.path_conds.append((cond, types))
            elif rest and (cond := self.cond(_joined(rest), store)) is not None:
                # the else of `isinstance(m, T) and REST`: for a T, REST failed (a rule
                # on it names T, so the layers of other types it reached do not count)
                self.path_conds.append((negate(cond), types))
            return self.block(s.body if inside else s.orelse, store)
        parts: list[list[ast.stmt]] = []
        if isinstance(s, ast.For | ast.AsyncFor | ast.While):
            parts = [s.body, s.orelse]
        elif isinstance(s, ast.With | ast.AsyncWith):
            parts = [s.body]
        elif isinstance(s, ast.Try | ast.TryStar):
            parts = [s.body, *[h.body for h in s.handlers], s.orelse, s.finalbody]
        for name in _stored(s) if not isinstance(s, ast.With | ast.AsyncWith) else ():
            store[name] = None  # a value carried round a loop, or set where it raised
        for part in parts:
            if any(id(n) in self.path or n is self.write for n in part):
                return self.block(part, store)
        return True  # another statement (a match): what it set is not known

    def stmt(self, s: ast.stmt, store: dict[str, Any]) -> None:
        if isinstance(s, ast.Assign):
            value = self.expr(s.value, store)
            for name in _stored(s.value):
                store[name] = None  # a walrus in the value
            for target in s.targets:
                self.assign(target, value, s.value, store)
        elif isinstance(s, ast.AnnAssign) and s.value is not None:
            self.assign(s.target, self.expr(s.value, store), s.value, store)
        elif isinstance(s, ast.AugAssign):
            op = _ARITH.get(type(s.op))
            if isinstance(s.target, ast.Name):
                old = store.get(s.target.id)
                new = self.expr(s.value, store)
                store[s.target.id] = None if op is None else _combine(op, (old, new))
        elif isinstance(s, ast.If):
            self.branches(s, store)
        elif isinstance(s, ast.With | ast.AsyncWith):
            self.block(s.body, store)
        else:  # a loop, a try, a match, a walrus in a call: what it set is not known
            for name in _stored(s):
                store[name] = None

    def assign(self, target: ast.expr, value: Any, node: ast.expr, store: dict[str, Any]) -> None:
        if isinstance(target, ast.Name):
            store[target.id] = value
            return
        if isinstance(target, ast.Tuple | ast.List) and all(
            isinstance(e, ast.Name) for e in target.elts
        ):
            elts: list[ast.Name] = target.elts  # type: ignore[assignment]
            if isinstance(value, _Shape) and len(elts) == 2:  # out, inp = w.shape
                for i, e in enumerate(elts):
                    store[e.id] = Name(name=_DIMS[i])
                return
            if isinstance(node, ast.Tuple | ast.List) and len(node.elts) == len(elts):
                values = [self.expr(v, store) for v in node.elts]
                for e, v in zip(elts, values, strict=True):
                    store[e.id] = v
                return
        for name in _stored(target):
            store[name] = None

    def branches(self, s: ast.If, store: dict[str, Any]) -> None:
        """An ``if`` the write is not in: each local it assigns becomes a select."""
        for name in _stored(s.test):
            store[name] = None  # a walrus in the test
        a, b = copy.copy(store), copy.copy(store)
        self.block(s.body, a)
        self.block(s.orelse, b)
        if _ends(s.body) or _ends(s.orelse):
            store.update(b if _ends(s.body) else a)
            return
        types, rest = _split(s.test)
        cond = self.cond(_joined(rest), store) if rest else None
        for name in set(a) | set(b):
            x, y = a.get(name), b.get(name)
            if x is y or x == y:
                store[name] = x
            elif cond is None or isinstance(x, _Shape | _Config) or isinstance(y, _Shape | _Config):
                store[name] = None
            else:
                store[name] = Select(cond, x, y, types)

    def cond(self, node: ast.expr, store: dict[str, Any]) -> Any:
        """``node`` as a policy condition, or None where a part of it is not a size test."""
        if isinstance(node, ast.BoolOp):
            items = [self.cond(v, store) for v in node.values]
            if any(i is None for i in items):
                return None
            kind = And if isinstance(node.op, ast.And) else Or
            return kind(items=tuple(items))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            item = self.cond(node.operand, store)
            return None if item is None else Not(item=item)
        if not isinstance(node, ast.Compare):
            return None
        parts: list[Any] = []
        left = node.left
        for op, right in zip(node.ops, node.comparators, strict=True):
            symbol = _COMPARE.get(type(op))
            a, b = self.expr(left, store), self.expr(right, store)
            if symbol is None:
                return None
            if isinstance(a, _Shape) or isinstance(b, _Shape):  # shape == (V, H)
                part = self.pair_test(
                    symbol,
                    (Name(name="fan_out"), Name(name="fan_in")),
                    b if isinstance(a, _Shape) else a,
                )
            elif isinstance(a, tuple):  # (out, in) == (V, H)
                part = self.pair_test(symbol, a, b)
            elif isinstance(a, Node) and isinstance(b, Node):
                part = Compare(op=symbol, left=a, right=b)
            else:
                part = None
            if part is None:
                return None
            parts.append(part)
            left = right
        return parts[0] if len(parts) == 1 else And(items=tuple(parts))

    def pair_test(self, symbol: str, pair: tuple[Any, ...], other: Any) -> Any:
        """``(a, b) == (c, d)`` as ``a == c and b == d`` (``!=``: its negation)."""
        if symbol not in ("==", "!=") or not isinstance(other, tuple) or len(other) != 2:
            return None
        if not all(isinstance(v, Node) for v in (*pair, *other)):
            return None
        both = And(
            items=tuple(Compare(op="==", left=x, right=y) for x, y in zip(pair, other, strict=True))
        )
        return both if symbol == "==" else Not(item=both)

    def expr(self, node: ast.expr, store: dict[str, Any]) -> Any:
        """``node``'s value: a policy expression, a :class:`Select` or :class:`Op` over
        them, the shape, a pair (a tuple of two values), or None (not a size)."""
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v):
                return Num(value=float(v))
            return None
        if isinstance(node, ast.Name):
            if node.id == "config" and node.id not in store:
                return _CONFIG  # a function's argument named config
            return store.get(node.id)
        if isinstance(node, ast.Tuple) and len(node.elts) == 2:
            return tuple(self.expr(e, store) for e in node.elts)
        if isinstance(node, ast.UnaryOp):
            inner = self.expr(node.operand, store)
            if isinstance(node.op, ast.UAdd):
                return inner
            return _combine("neg", (inner,)) if isinstance(node.op, ast.USub) else None
        if isinstance(node, ast.BinOp):
            op = _ARITH.get(type(node.op))
            if op is None:
                return None
            return _combine(op, (self.expr(node.left, store), self.expr(node.right, store)))
        if isinstance(node, ast.IfExp):
            types, rest = _split(node.test)
            cond = self.cond(_joined(rest), store) if rest else None
            a, b = self.expr(node.body, store), self.expr(node.orelse, store)
            return None if cond is None else Select(cond, a, b, types)
        if isinstance(node, ast.Subscript):
            if isinstance(self.expr(node.value, store), _Shape):
                return _dim(node.slice)
            return None
        if isinstance(node, ast.Attribute):
            if node.attr == "shape":
                return _SHAPE if _text(node.value) == self.written else None
            if node.attr == "ndim":
                return Name(name="ndim") if _text(node.value) == self.written else None
            if node.attr in _FAN_ATTRS:
                if self.owner and _text(node.value) == self.owner:
                    return Name(name=_FAN_ATTRS[node.attr])
                return None
            if node.attr == "config":
                # self.config, module.config: a bare name's (a submodule's may be another)
                return _CONFIG if isinstance(node.value, ast.Name) else None
            base = self.expr(node.value, store)
            if isinstance(base, _Config):
                return Name(name=f"config.{node.attr}")
            if isinstance(base, Name) and base.name.startswith("config."):
                return Name(name=f"{base.name}.{node.attr}")  # a sub-config's number
            return None
        if isinstance(node, ast.Call):
            return self.call(node, store)
        return None

    def call(self, node: ast.Call, store: dict[str, Any]) -> Any:
        f = node.func
        if node.keywords:
            return None
        if isinstance(f, ast.Attribute) and f.attr == "dim" and not node.args:
            return Name(name="ndim") if _text(f.value) == self.written else None
        if isinstance(f, ast.Attribute) and f.attr == "size":
            if _text(f.value) != self.written or len(node.args) > 1:
                return None
            return _dim(node.args[0]) if node.args else _SHAPE
        fn = None
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
            if f.value.id in ("math", "np", "numpy"):
                fn = _FUNCTIONS.get(f.attr)
        elif isinstance(f, ast.Name):
            fn = _FUNCTIONS_BUILTIN.get(f.id) or ("float" if f.id == "float" else None)
        if fn is None:
            return None
        args = [self.expr(a, store) for a in node.args]
        if fn == "float":
            return args[0] if len(args) == 1 else None
        if len(args) < 2 if fn in ("max", "min") else len(args) != 1:
            return None
        return _combine(fn, tuple(args))


def _joined(parts: list[ast.expr]) -> ast.expr:
    """Conjuncts as one test."""
    return parts[0] if len(parts) == 1 else ast.BoolOp(op=ast.And(), values=parts)


def _combine(fn: str, args: tuple[Any, ...]) -> Any:
    """``fn`` over ``args``: a policy expression where every argument is one, an
    :class:`Op` where one holds a select, None where one is not a size."""
    if any(a is None or isinstance(a, _Shape | _Config | tuple) for a in args):
        return None
    if not all(isinstance(a, Node) for a in args):
        return Op(fn, args)
    return _build(fn, args)


def _build(fn: str, args: tuple[Any, ...]) -> Any:
    if fn == "neg":
        a = args[0]
        return Num(value=-a.value) if isinstance(a, Num) else Neg(operand=a)
    if fn in _ARITH.values():
        a, b = args
        if fn == "*" and isinstance(b, Num) and b.value == 1:
            return a
        if fn == "*" and isinstance(a, Num) and a.value == 1:
            return b
        if fn == "/" and isinstance(b, Num) and b.value == 1:
            return a
        return BinOp(op=fn, left=a, right=b)
    if fn in ("max", "min") and isinstance(args[-1], Num) and not isinstance(args[0], Num):
        args = (args[-1], *args[:-1])  # max(1, sqrt(...)): the constant first
    return Call(fn=fn, args=args)


def _dim(index: ast.expr) -> Any:
    at: Any = None
    if isinstance(index, ast.UnaryOp) and isinstance(index.op, ast.USub):
        inner = index.operand
        if isinstance(inner, ast.Constant) and isinstance(inner.value, int):
            at = -inner.value
    elif isinstance(index, ast.Constant) and isinstance(index.value, int):
        at = index.value
    return Name(name=_DIMS[at]) if at in _DIMS else None


def _text(node: ast.expr) -> str:
    """A tensor as the code names it, without ``.data`` (``module.weight.data``:
    ``module.weight``)."""
    while isinstance(node, ast.Attribute) and node.attr == "data":
        node = node.value
    return ast.unparse(node)


#: An init call in a write: its name (``normal_``), the tensor it writes, the call, its
#: positional arguments after the tensor by the catalog's names, and the catalog's
#: numeric defaults of its scheme.
_InitCall = tuple[str, str | None, ast.Call, list[tuple[str, ast.expr]], list[tuple[str, float]]]
#: A tensor method's scheme.
_METHOD_SCHEMES = {"normal_": "normal", "uniform_": "uniform", "fill_": "constant"}


def _init_calls(write: ast.stmt) -> list[_InitCall]:
    """The init calls in the write, outermost first: an init function (``init.normal_(w,
    0, 0.02)``: the tensor is its first argument, then mean and std) or a tensor's method
    (``w.data.normal_(0, 0.02)``); ``init.copy_(p, torch.empty(n).uniform_(0.01, 16))``
    has two, and the first names the tensor the statement writes."""
    out: list[_InitCall] = []
    for call in (n for n in ast.walk(write) if isinstance(n, ast.Call)):
        f = call.func
        if isinstance(f, ast.Attribute):
            receiver = _text(f.value)
            name = f.attr
            method = receiver not in _NAMESPACES and not receiver.endswith(".init")
        elif isinstance(f, ast.Name):
            name, method, receiver = f.id, False, ""
        else:
            continue
        scheme = _METHOD_SCHEMES.get(name) if method else INIT_FUNCTIONS.get(name)
        if method:
            tensor: str | None = receiver
            args = list(zip(_METHOD_ARGS.get(name, ()), call.args, strict=False))
        elif call.args:
            tensor = _text(call.args[0])
            names_ = scheme_args(scheme) if scheme else ()
            args = list(zip(names_, call.args[1:], strict=False))
        else:
            tensor, args = None, []
        if scheme is None and not (name.endswith("_") and tensor):
            continue  # no write (math.sqrt, torch.empty)
        defaults = [
            (p.name, float(p.default))
            for p in (get(scheme).params if scheme else ())
            if isinstance(p.default, int | float) and not isinstance(p.default, bool)
        ]
        out.append((name, tensor, call, args, defaults))
    return out


def _numbers(node: Any) -> list[Num]:
    """The numbers written in a condition or expression."""
    if isinstance(node, Num):
        return [node]
    out: list[Num] = []
    for child in (
        getattr(node, k, None) for k in ("items", "item", "left", "right", "operand", "args")
    ):
        if isinstance(child, tuple):
            for c in child:
                out += _numbers(c)
        elif child is not None:
            out += _numbers(child)
    return out


def _conditions(cond: Any) -> list[Any]:
    """The comparisons of a condition."""
    if isinstance(cond, And | Or):
        return [c for item in cond.items for c in _conditions(item)]
    if isinstance(cond, Not):
        return _conditions(cond.item)
    return [cond]


def _ancestors(func: ast.AST, write: ast.stmt) -> list[ast.AST]:
    """The statements of ``func`` that hold ``write`` (an ``if``, a loop, ...)."""
    parent: dict[int, ast.AST] = {}
    for above in ast.walk(func):
        for child in ast.iter_child_nodes(above):
            parent[id(child)] = above
    out: list[ast.AST] = []
    node = parent.get(id(write))
    while node is not None and node is not func:
        if isinstance(node, ast.stmt):
            out.append(node)
        node = parent.get(id(node))
    return out


# ---------------------------------------------------------------- resolving for one tensor


def resolve(value: Any, env: dict[str, float], types: Iterable[str] = ()) -> Any:
    """``value`` as a policy expression for the tensor whose names are ``env`` (its fans,
    its model's config numbers), of a module of ``types`` (its class and bases); None
    where it cannot be. A select whose isinstance names none of ``types`` is its other
    value; one that is the ``max`` or ``min`` of its values wherever its names take
    (:func:`_extremum`) is that; any other is decided by its test on this tensor."""
    if value is None or isinstance(value, Node):
        return value
    if isinstance(value, Op):
        args = tuple(resolve(a, env, types) for a in value.args)
        return None if any(a is None for a in args) else _build(value.fn, args)
    if isinstance(value, Select):
        if value.types and not set(value.types) & set(types):
            return resolve(value.other, env, types)
        a, b = resolve(value.then, env, types), resolve(value.other, env, types)
        if a is not None and b is not None and (m := _extremum(value.cond, a, b)) is not None:
            return m
        try:
            holds = evaluate_cond(value.cond, env)
        except (InitPolicyError, ArithmeticError, ValueError):
            return None
        return a if holds else b
    return None


#: How many random sizes a select is compared with ``max``/``min`` on.
_SAMPLES = 96


_TIES = (1.0, 2.0, 3.0, 4.0, 8.0, 16.0, 64.0)


def sample(rng: random.Random, name: str, ties: bool = False) -> float:
    """A random value of a name in an expression: a fan is a whole number (from a few,
    so that two names often tie, with ``ties``); a config number may also be a small
    fraction (``initializer_range``, ``min_std``)."""
    if ties:
        return rng.choice(_TIES)
    if name.startswith("config.") and rng.random() < 0.5:
        return 10 ** rng.uniform(-4, 1)
    return float(round(2 ** rng.uniform(0, 20)))  # up to a million: vocabularies too


_EXTREMA: dict[tuple[Any, Any, Any], Any] = {}


def _extremum(cond: Any, a: Any, b: Any) -> Any:
    """:func:`_find_extremum`, once per select (every layer of a model asks again)."""
    key = (cond, a, b)
    if key not in _EXTREMA:
        _EXTREMA[key] = _find_extremum(cond, a, b)
    return _EXTREMA[key]


def _find_extremum(cond: Any, a: Any, b: Any) -> Any:
    """``max(a, b)`` or ``min(a, b)`` where it equals ``a if cond else b`` at random sizes
    (whole numbers, often equal to one another so that ties are tried; a config number
    may be a small fraction) with the test both holding and failing, else None. ``gain =
    1.0; if fan_out > fan_in: gain = sqrt(fan_out / fan_in)`` is ``max(1, sqrt(fan_out /
    fan_in))``. A test of equality (``fan_out == config.vocab_size``) picks no extremum:
    it is decided for each tensor."""
    if any(isinstance(n, Compare) and n.op in ("==", "!=") for n in _conditions(cond)):
        return None
    free = sorted(names(cond) | names(a) | names(b))
    rng = random.Random(0)
    forms = [_build(fn, (a, b)) for fn in ("max", "min")]
    ok = [True, True]
    seen = {True: 0, False: 0}
    marks = sorted({n.value for n in _numbers(cond)})
    for k in range(_SAMPLES):
        env = {n: sample(rng, n, ties=k % 2 == 1) for n in free}
        if marks and k % 3 == 2:  # at and beside the numbers the test names (out < 5000)
            env = {n: max(1.0, rng.choice(marks) + rng.choice((-1, 0, 1))) for n in free}
        try:
            holds = evaluate_cond(cond, env)
            want = evaluate(a if holds else b, env)
            got = [evaluate(f, env) for f in forms]
        except (InitPolicyError, ArithmeticError, ValueError):
            continue
        seen[holds] += 1
        for i, g in enumerate(got):
            ok[i] = ok[i] and math.isclose(g, want, rel_tol=1e-12, abs_tol=0.0)
    if min(seen.values()) < _SAMPLES // 8:
        return None
    return next((f for f, good in zip(forms, ok, strict=True) if good), None)
