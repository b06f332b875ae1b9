"""The one printer from IR to policy text: every generated rule goes through it.

``extract -o``, ``lint --fix-policy``, the fix rules of findings and the golden tests
print selectors, expressions and scheme calls here, never by string formatting. A module
name is data, not syntax: it is written as a glob that matches exactly that name
(:func:`literal_glob`) inside a quoted string (:func:`string`), and what cannot be written
safely (a double quote, a line break, any control or format character, a type name that
is not an identifier) is refused with :class:`~initpolicy.errors.PrintError`, never
written. A printed rule always parses back to the IR it was printed from:
:func:`rule` and :func:`policy` parse what they print and refuse it otherwise.

>>> from initpolicy.language.ir import Selector
>>> selector(Selector(types=("Linear",), param="bias", named=literal_glob("h.0.fc[1]")))
'Linear.bias named "h.0.fc[[]1]"'
>>> string('x" -> zeros()')
Traceback (most recent call last):
...
initpolicy.errors.PrintError: cannot write 'x" -> zeros()' as a policy string: it holds a double quote
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

from ..errors import PrintError, printable
from .expressions import INFIX, PREFIX
from .ir import (
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
    PolicyIR,
    SchemeCall,
    Selector,
    Setting,
    Word,
)

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_GLOB = re.compile(r"[A-Za-z_*?][A-Za-z0-9_*?]*")
#: A ``.member`` after a type may start with a digit (a ParameterList's ``0``, ``1``).
_MEMBER = re.compile(r"[A-Za-z0-9_*?]+")
#: How tightly each operation binds, from the parser's own binding powers.
_POWER = {op: min(powers) for op, powers in INFIX.items()}
_CMP_POWER = _POWER["<"]
_NEG_POWER = PREFIX["-"]
_FLAT_RULE = re.compile(r"\s+")


def _unsafe(text: str) -> str | None:
    """Why ``text`` cannot stand in a policy string, or None."""
    if '"' in text:
        return "it holds a double quote"
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"):
            return f"it holds the control character U+{ord(ch):04X}"
    return None


def string(text: str) -> str:
    """``text`` as a policy string literal (``"..."``); refused where the language has no
    way to write it (a double quote, a line break, a control or format character)."""
    why = _unsafe(text) if text else "it is empty"
    if why:
        raise PrintError(f"cannot write {printable(repr(text))} as a policy string: {why}")
    return f'"{text}"'


def literal_glob(name: str) -> str:
    """A ``named`` glob matching exactly ``name``: fnmatch's ``*``, ``?`` and ``[`` in it
    are written as the one-character classes ``[*]``, ``[?]``, ``[[]``.

    >>> literal_glob("blocks.0.attn")
    'blocks.0.attn'
    >>> literal_glob("a*b?")
    'a[*]b[?]'
    """
    return re.sub(r"([*?\[])", r"[\1]", name)


def _glob(text: str, what: str, *, type_glob: bool) -> str:
    from .selectors import is_type_glob

    if not _GLOB.fullmatch(text) or is_type_glob(text) != type_glob:
        kind = "a module type" if type_glob else "a parameter name"
        raise PrintError(f"cannot write {printable(repr(text))} as {kind} in a policy ({what})")
    return text


def is_type_name(text: str) -> bool:
    """Whether ``text`` can be written as a module type (a CamelCase identifier glob)."""
    from .selectors import is_type_glob

    return bool(_GLOB.fullmatch(text)) and is_type_glob(text)


def _types(globs: tuple[str, ...], what: str) -> str:
    names = [_glob(t, what, type_glob=True) for t in globs]
    return names[0] if len(names) == 1 else "(" + "|".join(names) + ")"


def _ident(text: str, what: str) -> str:
    if not _IDENT.fullmatch(text):
        raise PrintError(f"cannot write {printable(repr(text))} as {what} in a policy")
    return text


def selector(sel: Selector, *, explicit: bool = False) -> str:
    """A selector as policy text: head (types, ``.param``, ``[block]``), then its clauses
    in the grammar's order."""
    head = ""
    if sel.types is not None:
        head = _types(sel.types, "type")
        if sel.param is not None:
            if not _MEMBER.fullmatch(sel.param):
                raise PrintError(f"cannot write {printable(repr(sel.param))} as a parameter")
            head += "." + sel.param
    elif sel.param is not None:
        head = _glob(sel.param, "parameter", type_glob=False)
    if sel.block is not None:
        if not head:
            raise PrintError("a [block] needs a type or parameter before it")
        head += f"[{_ident(sel.block, 'a block')}]"
        if sel.expert is not None:
            head = f"{head[:-1]}={sel.expert}]"
    parts = [head] if head else []
    if sel.named is not None:
        parts.append("named " + string(sel.named))
    if sel.inside is not None:
        parts.append("in " + _types(sel.inside, "in"))
    if sel.before is not None:
        acts = [_ident(a, "an activation") for a in sel.before]
        parts.append("before " + (acts[0] if len(acts) == 1 else "(" + "|".join(acts) + ")"))
    if sel.after is not None:
        parts.append("after " + _types(sel.after, "after"))
    if sel.role is not None:
        roles = [_ident(r, "a role") for r in sel.role]
        parts.append("as " + (roles[0] if len(roles) == 1 else "(" + "|".join(roles) + ")"))
    if sel.where is not None:
        parts.append("where " + expression(sel.where, explicit=explicit))
    if not parts:
        raise PrintError("an empty selector cannot be written")
    return " ".join(parts)


def number(value: float) -> str:
    """A number as the parser reads it back bit for bit (Python's shortest repr).

    >>> number(0.02), number(3.0), number(1e-05), number(-2.5), number(1e300)
    ('0.02', '3', '1e-05', '-2.5', '1e+300')
    """
    if not math.isfinite(value):
        raise PrintError(f"cannot write the number {value} in a policy")
    if value.is_integer() and abs(value) < 2**53 and (value or math.copysign(1, value) > 0):
        return str(int(value))
    return repr(float(value))


def _power(node: Any) -> int:
    """How tightly ``node`` binds as an operand (higher: needs fewer parentheses)."""
    if isinstance(node, Or | And):
        return _POWER["or" if isinstance(node, Or) else "and"]
    if isinstance(node, Not):
        return PREFIX["not"]
    if isinstance(node, Compare):
        return _CMP_POWER
    if isinstance(node, BinOp):
        return _POWER[node.op]
    if isinstance(node, Neg) or (isinstance(node, Num) and math.copysign(1, node.value) < 0):
        return _NEG_POWER
    return 100


def _operand(node: Any, at_least: int, explicit: bool) -> str:
    text = expression(node, explicit=explicit)
    if _power(node) < at_least or (explicit and isinstance(node, BinOp | Compare | And | Or)):
        return f"({text})"
    return text


def expression(node: Any, *, explicit: bool = False) -> str:
    """An expression or ``where`` condition, with the parentheses the parser needs to
    build the same tree (``explicit``: around every operation, as the golden tests show
    the tree).

    >>> from initpolicy.language.ir import BinOp, Name, Num
    >>> expression(BinOp(op="/", left=Num(value=1.0), right=BinOp(op="*", left=Num(value=2.0), right=Name(name="fan_in"))))
    '1 / (2 * fan_in)'
    """
    if isinstance(node, Num):
        return number(node.value)
    if isinstance(node, Name):
        if node.name.startswith(CONFIG_PREFIX):  # config.d_kv: each part an identifier
            return ".".join(_ident(part, "a name") for part in node.name.split("."))
        return _ident(node.name, "a name")
    if isinstance(node, Word):
        return _ident(node.value, "a word")
    if isinstance(node, Neg):
        return "-" + _operand(node.operand, _NEG_POWER + 1, explicit)
    if isinstance(node, BinOp):
        p = _POWER[node.op]
        # left-associative operators: a right operand of the same power needs parentheses;
        # ** is right-associative, so its left one does (and any negative base: -2 ** x is
        # -(2 ** x))
        left_min, right_min = (p + 1, p) if node.op == "**" else (p, p + 1)
        left = _operand(node.left, left_min, explicit)
        right = _operand(node.right, right_min, explicit)
        return f"{left} {node.op} {right}"
    if isinstance(node, Call):
        args = ", ".join(expression(a, explicit=explicit) for a in node.args)
        return f"{_ident(node.fn, 'a function')}({args})"
    if isinstance(node, Count):
        return f"count({selector(node.selector, explicit=explicit)})"
    if isinstance(node, IndexOf):
        return f"index({selector(node.selector, explicit=explicit)})"
    if isinstance(node, Compare):
        left = _operand(node.left, _CMP_POWER + 1, explicit)
        right = _operand(node.right, _CMP_POWER + 1, explicit)
        return f"{left} {node.op} {right}"
    if isinstance(node, And | Or):
        word = "and" if isinstance(node, And) else "or"
        return f" {word} ".join(_operand(c, _POWER[word] + 1, explicit) for c in node.items)
    if isinstance(node, Not):
        return "not " + _operand(node.item, PREFIX["not"] + 1, explicit)
    raise PrintError(f"cannot write {type(node).__name__} in a policy")


def scheme(call: SchemeCall, *, explicit: bool = False) -> str:
    """A scheme call with every argument by its name (``normal(mean=0.0, std=0.02)``), so
    the binding does not depend on positions.

    >>> from initpolicy.language.ir import SchemeArg
    >>> scheme(SchemeCall(name="normal", args=(SchemeArg(name="std", value=Num(value=0.02)),)))
    'normal(std=0.02)'
    """
    name = _ident(call.name, "a scheme")
    args = [
        f"{_ident(a.name, 'an argument')}={expression(a.value, explicit=explicit)}"
        for a in call.args
    ]
    if call.inner is not None:
        args.insert(0, _inner(call.inner, explicit))
    return f"{name}({', '.join(args)})"


def short_scheme(call: SchemeCall) -> str:
    """A scheme call as a person writes it, by its catalog entry's ``shown`` facts: the
    arguments it always shows by position (``normal(0, 0.02)``, their defaults where not
    given), then its trailing positional ones up to the last given, then the others given
    as ``name=value`` (``kaiming_normal(fan_in, relu, a=0.1)``); a scheme that writes no
    values and takes no arguments is its bare name (``keep``). A wrapper is written in full
    (:func:`scheme`). The caller gives only the arguments it means to show.

    >>> from initpolicy.language.ir import SchemeArg
    >>> short_scheme(SchemeCall(name="normal", args=(SchemeArg(name="std", value=Num(value=0.02)),)))
    'normal(0, 0.02)'
    >>> short_scheme(SchemeCall(name="keep"))
    'keep'
    """
    from ..catalog import get

    if call.inner is not None:
        return scheme(call)
    spec = get(call.name)
    name = _ident(call.name, "a scheme")
    given = {a.name: a.value for a in call.args}
    unknown = sorted(set(given) - set(spec.names))
    if unknown:
        raise PrintError(f"{call.name} has no argument {unknown[0]}")
    if not spec.writes_values and not spec.params:
        return name
    parts = [
        expression(given[p.name]) if p.name in given else _default(call.name, p)
        for p in _positional(spec.params, given)
    ]
    parts += [
        f"{p.name}={expression(given[p.name])}"
        for p in spec.params
        if p.shown == "changed" and p.name in given
    ]
    return f"{name}({', '.join(parts)})"


def _positional(params: tuple[Any, ...], given: dict[str, Any]) -> list[Any]:
    """The parameters the short form writes by position: every ``always`` one, then the
    ``trailing`` ones up to the last that is given."""
    trailing = [p for p in params if p.shown == "trailing"]
    last = max((i for i, p in enumerate(trailing) if p.name in given), default=-1)
    return [*(p for p in params if p.shown == "always"), *trailing[: last + 1]]


def _default(scheme_name: str, param: Any) -> str:
    """A parameter's default as the short form shows it in place of a missing argument."""
    if param.default is None:
        raise PrintError(f"{scheme_name} needs its argument {param.name}")
    if isinstance(param.default, str):
        return _ident(param.default, "a word")
    return number(float(param.default))


def _inner(call: SchemeCall, explicit: bool) -> str:
    """A wrapper's scheme (``lsuv(orthogonal(), ...)``): its arguments positional, in the
    signature's order, as the grammar reads a call there (an expression call has no
    keywords); refused where an argument is missing before a number that follows it."""
    from ..catalog import get

    given = {a.name: a.value for a in call.args}
    order = [p.name for p in get(call.name).params]
    parts: list[str] = []
    gap = None
    for name in order:
        value = given.pop(name, None)
        if value is None:
            gap = gap or name
            continue
        if gap is not None and not isinstance(value, Word):
            raise PrintError(
                f"cannot write {call.name} inside a wrapper: {name} is given and {gap}, "
                "before it, is not (a wrapped scheme takes its arguments in order)"
            )
        parts.append(expression(value, explicit=explicit))
    if given:
        raise PrintError(f"{call.name} has no argument {sorted(given)[0]}")
    return f"{_ident(call.name, 'a scheme')}({', '.join(parts)})"


def settings(items: tuple[Setting, ...], *, explicit: bool = False) -> str:
    """A rule's ``with`` clause (``with lr = 1 / width, output = 0.5``), or ""."""
    if not items:
        return ""
    body = ", ".join(
        f"{_ident(x.name, 'a setting')} = {expression(x.value, explicit=explicit)}" for x in items
    )
    return f" with {body}"


def comment(text: str) -> str:
    """``text`` as a one-line comment (``# ...``): line breaks become spaces, control and
    format characters are shown as symbols, so a comment cannot end early.

    >>> comment("from init.py:3\\nLinear -> ones()")
    '# from init.py:3 Linear -> ones()'
    """
    flat = _FLAT_RULE.sub(" ", printable(text)).strip()
    flat = "".join(
        "\ufffd" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in flat
    )
    return f"# {flat}" if flat else "#"


def let(name: str, text: str) -> str:
    """A ``let`` line from a name and an expression's text (generated ``let``s: a model
    config's field); refused where the name is not an identifier or the text spans lines.

    >>> let("n_layer", "count(Block)")
    'let n_layer = count(Block)'
    """
    if _unsafe(text) or "#" in text:
        raise PrintError(f"cannot write {printable(repr(text))} as a let expression")
    return f"let {_ident(name, 'a let name')} = {text}"


def rule_text(
    sel: Selector, call: SchemeCall, *, explicit: bool = False, with_: tuple[Setting, ...] = ()
) -> str:
    """``SELECTOR -> SCHEME [with ...]`` without the parse-back check (see :func:`rule`):
    for a rule whose arguments name ``let``s printed elsewhere."""
    head = f"{selector(sel, explicit=explicit)} -> {scheme(call, explicit=explicit)}"
    return head + settings(with_, explicit=explicit)


def short_rule(sel: Selector, call: SchemeCall) -> str:
    """One rule line with the scheme in its short form (:func:`short_scheme`), checked: it
    parses back to ``sel`` and to the scheme with the arguments ``call`` gives.

    >>> short_rule(Selector(types=("Linear",), param="weight", named="head"), SchemeCall(name="keep"))
    'Linear.weight named "head" -> keep'
    """
    from ..errors import PolicyError
    from .loader import parse

    text = f"{selector(sel)} -> {short_scheme(call)}"
    try:
        (back,) = parse(text, "<printed>").rules
    except PolicyError as e:
        raise PrintError(f"the printed rule does not parse back: {e}") from None
    given = {a.name: a.value for a in call.args}
    got = {a.name: a.value for a in back.scheme.args}
    if (
        back.selector != sel
        or back.scheme.name != call.name
        or any(got.get(k) != v for k, v in given.items())
    ):
        raise PrintError(f"the printed rule does not read back as written: {printable(text)}")
    return text


def rule(sel: Selector, call: SchemeCall) -> str:
    """One rule line, checked: it parses back to exactly ``sel`` and ``call``.

    >>> rule(Selector(types=("Linear",), named="fc"), SchemeCall(name="zeros"))
    'Linear named "fc" -> zeros()'
    """
    text = rule_text(sel, call)
    _check(text, ((sel, call, ()),), None)
    return text


def policy(ir: PolicyIR, header: str | None = None) -> str:
    """A whole policy (includes and ``let``s already flattened in the IR): the seed, then
    one line per rule. Checked: it parses back to the same rules and seed."""
    lines = [comment(line) for line in (header or "").splitlines()]
    if ir.seed is not None:
        lines.append(f"seed {ir.seed}")
    lines += [rule_text(r.selector, r.scheme, with_=r.settings) for r in ir.rules]
    text = "\n".join(lines) + "\n"
    _check(text, tuple((r.selector, r.scheme, r.settings) for r in ir.rules), ir.seed)
    return text


def same_rules(a: PolicyIR, b: PolicyIR) -> bool:
    """Whether two policies have the same seed and the same rules (selector and scheme, in
    order), wherever and however they were written."""
    return a.seed == b.seed and [(r.selector, r.scheme, r.settings) for r in a.rules] == [
        (r.selector, r.scheme, r.settings) for r in b.rules
    ]


def _check(
    text: str,
    rules: tuple[tuple[Selector, SchemeCall, tuple[Setting, ...]], ...],
    seed: int | None,
) -> None:
    from ..errors import PolicyError
    from .loader import parse

    try:
        back = parse(text, "<printed>")
    except PolicyError as e:
        raise PrintError(f"the printed policy does not parse back: {e}") from None
    if back.seed != seed or [(r.selector, r.scheme, r.settings) for r in back.rules] != list(rules):
        raise PrintError(f"the printed policy does not read back as written: {printable(text)}")
