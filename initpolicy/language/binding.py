"""Binding a scheme call's arguments to its signature in the catalogue, with checks.

Enumeration words bind by type (``kaiming_normal(fan_in)`` sets ``mode`` wherever the
word stands); other positional arguments fill the scheme's numeric parameters in torch's
order; keywords bind by name. Constant values are checked now, each error naming the
argument: ``argument 'std' of normal must be >= 0 (got -1)``.
"""

from __future__ import annotations

from lark import Token, Tree

from ..catalog import DRAWN, ENUMS, MAPPED, SCHEMES, WORD_TYPE, WRAPPERS, Param, Scheme
from ..common import did_you_mean, one_of
from .evaluation import names
from .ir import BOUND_NAMES, Expr, Num, SchemeArg, SchemeCall, Word
from .selectors import Builder, first_token


def _bare_name(tree: Tree[Token] | Token) -> Token | None:
    if isinstance(tree, Tree) and tree.data == "name":
        tok = tree.children[0]
        assert isinstance(tok, Token)
        return tok
    return None


def _string(tree: Tree[Token] | Token) -> str | None:
    if isinstance(tree, Tree) and tree.data == "string":
        return str(tree.children[0])[1:-1]
    return None


class _Binder:
    def __init__(self, b: Builder, scheme: Scheme):
        self.b, self.s = b, scheme
        self.bound: dict[str, SchemeArg] = {}
        self.ok = True

    def fail(self, at: Tree[Token] | Token, message: str, hint: str | None = None) -> None:
        self.b.error(at, message, hint)
        self.ok = False

    def arg_name(self, p: Param) -> str:
        return f"argument '{p.name}' of {self.s.name}"

    def words(self, p: Param) -> tuple[str, ...]:
        return p.choices or ENUMS[p.type]

    def put(self, p: Param, at: Tree[Token] | Token, value: Tree[Token] | Token) -> None:
        if p.name in self.bound:
            self.fail(at, f"{self.arg_name(p)} is given twice")
            return
        if p.type in ENUMS:
            self.put_word(p, value)
        else:
            self.put_number(p, value)

    def put_word(self, p: Param, value: Tree[Token] | Token) -> None:
        words = self.words(p)
        text = _string(value)
        if text is not None:
            hint = f"write {p.name}={text}" if text in words else None
            self.fail(value, f"{self.arg_name(p)} takes a word, not a string", hint)
            return
        tok = _bare_name(value)
        if tok is None:
            self.fail(value, f"{self.arg_name(p)} must be {one_of(words)}")
            return
        word = str(tok)
        if word not in words:
            hint = None if word in ENUMS[p.type] else did_you_mean(word, words)
            if hint is None and word in WORD_TYPE and WORD_TYPE[word] != p.type:
                hint = f"'{word}' is a {WORD_TYPE[word]} word"
            self.fail(tok, f"{self.arg_name(p)} must be {one_of(words)}, not '{word}'", hint)
            return
        self.bound[p.name] = SchemeArg(name=p.name, value=Word(value=word))

    def put_number(self, p: Param, value: Tree[Token] | Token) -> None:
        text = _string(value)
        if text is not None:
            hint = f"write {text} without quotes" if text in WORD_TYPE else None
            self.fail(value, f"{self.arg_name(p)} must be a number, not a string", hint)
            return
        tok = _bare_name(value)
        if tok is not None and str(tok) not in self.b.lets and str(tok) not in BOUND_NAMES:
            word = str(tok)
            if word in WORD_TYPE:
                self.fail(tok, f"{self.arg_name(p)} must be a number, not the word '{word}'")
                return
        v = self.b.number(value, BOUND_NAMES)
        if v is None:
            self.ok = False
            return
        if isinstance(v.node, Num) and p.check is not None:
            problem = p.check(v.node.value)
            if problem:
                self.fail(value, f"{self.arg_name(p)} {problem} (got {v.node.value:g})")
                return
        self.bound[p.name] = SchemeArg(name=p.name, value=v.node)

    def positional(self, value: Tree[Token] | Token, seen_keyword: bool) -> None:
        tok = _bare_name(value)
        word = str(tok) if tok is not None else None
        if word is not None and word in WORD_TYPE:
            p = next((q for q in self.s.params if q.type == WORD_TYPE[word]), None)
            if p is not None:
                self.put(p, value, value)
                return
            if word not in BOUND_NAMES and word not in self.b.lets:
                takes = (
                    f"its arguments: {', '.join(self.s.names)}"
                    if self.s.params
                    else "it takes no arguments"
                )
                self.fail(
                    value,
                    f"'{word}' is a {WORD_TYPE[word]} word, but {self.s.name} takes no {WORD_TYPE[word]}",
                    takes,
                )
                return
        if seen_keyword:
            self.fail(value, "a positional argument cannot follow a keyword argument")
            return
        free = [q for q in self.s.params if q.type not in ENUMS and q.name not in self.bound]
        if not free:
            numeric = [q.name for q in self.s.params if q.type not in ENUMS]
            self.fail(
                value,
                f"too many arguments: {self.s.name} takes "
                + (
                    f"{len(numeric)} number{'s' if len(numeric) != 1 else ''} ({', '.join(numeric)})"
                    if numeric
                    else "no numbers"
                ),
                f"signature: {self.s.signature()}",
            )
            return
        self.put(free[0], value, value)

    def keyword(self, name_tok: Token, value: Tree[Token] | Token) -> None:
        p = self.s.param(str(name_tok))
        if p is None:
            hint = did_you_mean(str(name_tok), self.s.names) or f"signature: {self.s.signature()}"
            self.fail(name_tok, f"{self.s.name} has no argument '{name_tok}'", hint)
            return
        self.put(p, name_tok, value)

    def finish(self, at: Token, inner: SchemeCall | None = None) -> SchemeCall | None:
        for p in self.s.params:
            if p.required and p.name not in self.bound and self.ok:
                self.fail(
                    at,
                    f"{self.s.name} is missing its required argument '{p.name}'",
                    f"signature: {self.s.signature()}",
                )
        if not self.ok:
            return None
        args = tuple(self.bound[p.name] for p in self.s.params if p.name in self.bound)
        if self.s.check is not None:
            consts: dict[str, float | str] = dict(self.s.defaults())
            for a in args:
                if isinstance(a.value, Num | Word):
                    consts[a.name] = a.value.value
                else:
                    consts.pop(a.name, None)
            problem = self.s.check(consts)
            if problem:
                self.fail(at, f"{self.s.name} {problem}")
                return None
        return SchemeCall(name=self.s.name, args=args, inner=inner)


def bind(b: Builder, tree: Tree[Token]) -> SchemeCall | None:
    """The SchemeCall of a ``scheme`` tree, or None with the problems recorded in ``b``."""
    name_tok = tree.children[0]
    assert isinstance(name_tok, Token)
    args = [a for a in tree.children[1:] if a is not None]
    wrapper = WRAPPERS.get(str(name_tok))
    if wrapper is not None:
        return _bind_wrapper(b, tree, wrapper, args)
    scheme = SCHEMES.get(str(name_tok))
    if scheme is None:
        known = [*SCHEMES, *WRAPPERS]
        hint = did_you_mean(str(name_tok), known) or f"schemes: {', '.join(known)}"
        b.error(name_tok, f"unknown scheme '{name_tok}'", hint)
        return None
    return _bind_args(b, tree, scheme, args)


def _bind_args(
    b: Builder,
    tree: Tree[Token],
    scheme: Scheme,
    args: list[Tree[Token] | Token],
    inner: SchemeCall | None = None,
) -> SchemeCall | None:
    binder = _Binder(b, scheme)
    seen_keyword = False
    for arg in args:
        assert isinstance(arg, Tree)
        if arg.data == "kwarg":
            key, value = arg.children
            assert isinstance(key, Token)
            binder.keyword(key, value)
            seen_keyword = True
        else:
            binder.positional(arg.children[0], seen_keyword)
    return binder.finish(first_token(tree), inner)


def _bind_wrapper(
    b: Builder, tree: Tree[Token], wrapper: Scheme, args: list[Tree[Token] | Token]
) -> SchemeCall | None:
    """``lsuv(orthogonal(), target=1)``: the first argument is the wrapped scheme, written
    as a call (an expression call to the grammar) or a bare scheme name."""
    first = args[0] if args else None
    rest = wrapper.signature().split("(", 1)[1]
    usage = f"signature: {wrapper.name}(SCHEME, {rest}, e.g. {wrapper.name}(orthogonal(), ...)"
    if not isinstance(first, Tree) or first.data != "posarg":
        b.error(first_token(tree), f"{wrapper.name} wraps a scheme, and none is given", usage)
        return None
    inner_tree = _as_scheme_tree(first.children[0])
    if inner_tree is None:
        b.error(first_token(first), f"the first argument of {wrapper.name} must be a scheme", usage)
        return None
    inner_name = str(inner_tree.children[0])
    if inner_name in WRAPPERS:
        b.error(first_token(first), f"{wrapper.name} cannot wrap the wrapper {inner_name}")
        return None
    inner = bind(b, inner_tree)
    if inner is None:
        return None
    if wrapper is MAPPED:
        usage = (
            "signature: mapped(SCHEME, fn), e.g. mapped(uniform(0.81, 0.998), log(1 / sqrt(x) - 1))"
        )
        return _bind_map(b, tree, inner, args[1:], usage)
    return _bind_args(b, tree, wrapper, args[1:], inner)


def _bind_map(
    b: Builder,
    tree: Tree[Token],
    inner: SchemeCall,
    args: list[Tree[Token] | Token],
    usage: str,
) -> SchemeCall | None:
    """``mapped(uniform(0.81, 0.998), log(1 / sqrt(x) - 1))``: the map is an expression
    over the drawn value ``x`` and numbers: ``let`` names are substituted, and the tensor's
    numbers (bound names, ``count``, ``index``, ``config.NAME``) are evaluated per tensor
    when the policy is planned (RWKV's ``x ** (1 - index(Block) / count(Block))``), so
    that what the applier evaluates element-wise is ``x`` and numbers only."""
    if len(args) != 1:
        at = args[1] if len(args) > 1 else tree
        b.error(first_token(at), f"mapped takes a scheme and one map over {DRAWN}", usage)
        return None
    arg = args[0]
    assert isinstance(arg, Tree)
    if arg.data == "kwarg":
        key, value = arg.children
        assert isinstance(key, Token)
        if str(key) != "fn":
            b.error(key, f"mapped has no argument '{key}'", usage)
            return None
    else:
        value = arg.children[0]
    v = b.number(value, (DRAWN, *BOUND_NAMES))
    if v is None:
        return None
    problem = map_problem(v.node)
    if problem:
        b.error(first_token(value), problem, usage)
        return None
    return SchemeCall(name=MAPPED.name, args=(SchemeArg(name="fn", value=v.node),), inner=inner)


def map_problem(node: Expr) -> str | None:
    """Why ``node`` is no map of ``x``: it never reads ``x``."""
    if DRAWN not in names(node):
        return f"the map never reads {DRAWN}, the drawn value (a constant is constant(...))"
    return None


def _as_scheme_tree(value: Tree[Token] | Token) -> Tree[Token] | None:
    """A scheme tree for ``orthogonal()``/``normal(0, 0.02)`` (parsed as an expression
    call) or ``orthogonal`` (a name); None for anything else (a number, a sum)."""
    if not isinstance(value, Tree) or value.data not in ("call", "name"):
        return None
    name = value.children[0]
    assert isinstance(name, Token)
    if value.data == "name" and str(name) not in SCHEMES and str(name) not in WRAPPERS:
        return None
    posargs = [Tree("posarg", [c]) for c in value.children[1:] if c is not None]
    return Tree("scheme", [name, *posargs])
