"""Policy text -> :class:`~initpolicy.language.ir.PolicyIR`: statements, includes, lets, seed.

>>> ir = parse("Linear before ReLU -> kaiming_normal(fan_in)\\nbias -> constant(0.01)")
>>> [(r.index, r.selector.types, r.selector.param, r.scheme.name) for r in ir.rules]
[(0, ('Linear',), None, 'kaiming_normal'), (1, None, 'bias', 'constant')]

Every error of every file is collected (one per bad line, several where a line has
several mistakes) and raised together as one :class:`~initpolicy.errors.PolicyError`.
Includes are expanded in place: the included file's rules stand where its ``use`` line
stands, so rules written after the ``use`` override them. ``let`` names are local to
their file. Torch-free.
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lark import Token, Tree

from ..catalog import parse_seed
from ..common import TooLarge, did_you_mean, is_file, one_of, read_limited
from ..errors import Diagnostic, PolicyError, UsageError
from .binding import bind
from .builtins import builtin_policies
from .grammar import parse_chunk
from .ir import (
    BOUND_NAMES,
    SETTINGS,
    TRANSFER_NAMES,
    Loc,
    Num,
    PolicyIR,
    Rule,
    SchemeCall,
    Selector,
    Setting,
)
from .lines import Chunk, SyntaxProblem, chunks, position, split_lines
from .selectors import WHERE_NAMES, Builder, first_token

#: Most rules one policy may hold, includes expanded.
MAX_RULES = 10_000
#: Most diagnostics reported for one policy; the rest are counted, not shown.
MAX_ERRORS = 100
BUILTIN_PREFIX = "<builtin>/"


@dataclass
class _File:
    """What one file contributes: its rules (includes expanded), its seed, its files."""

    rules: list[tuple[Selector, SchemeCall, Loc, tuple[Setting, ...]]] = field(default_factory=list)
    seed: int | None = None
    files: list[str] = field(default_factory=list)
    own_seed: bool = False


class _TooManyErrors(Exception):
    pass


#: A policy is a page of rules; a file this big is a wrong path (a checkpoint, a log).
MAX_BYTES = 16 * 1024 * 1024
#: Deepest chain of includes (a uses b uses c ...), the first file not counted.
MAX_INCLUDE_DEPTH = 64
#: What an included policy file is named.
POLICY_SUFFIX = ".pol"


class _Loader:
    def __init__(self, values: dict[str, float] | None = None) -> None:
        #: ``let`` values given by the caller (``load(source, **values)``, ``--set``): they
        #: replace the ``let`` of that name in every file; ``used`` says which had one.
        self.values = dict(values or {})
        self.used: set[str] = set()
        self.errors: list[Diagnostic] = []
        self.cache: dict[str, _File] = {}
        self.stack: list[tuple[str, str]] = []  # (resolved key, display name)

    def report(self, diags: list[Diagnostic]) -> None:
        self.errors.extend(diags)
        if len(self.errors) > MAX_ERRORS:
            raise _TooManyErrors

    # ------------------------------------------------------------------ sources

    def read(self, path: Path, display: str, at: Diagnostic | None) -> str | None:
        """The text of the policy file at ``path``, or None with the problem reported.

        Only a regular file is read, and never past :data:`MAX_BYTES` (a wrong path to a
        checkpoint costs nothing). An error about the file never shows its content: only
        a file that decodes as a policy has lines to show.
        """
        try:
            data = read_limited(path, MAX_BYTES)
        except FileNotFoundError:
            if at is None:
                self.report([Diagnostic(display, None, None, "no such file")])
            else:
                hint = "a path in use is relative to the file that includes it"
                self.report([_at(at, f"included file not found: {display}", hint)])
            return None
        except TooLarge as e:
            size = f"{e.size:,} bytes" if e.size is not None else f"more than {MAX_BYTES:,} bytes"
            msg = f"too large to be a policy ({size}; the limit is {MAX_BYTES:,})"
            self.report([Diagnostic(display, None, None, msg)])
            return None
        except OSError as e:
            why = e.strerror or str(e)
            if at is None:
                self.report([Diagnostic(display, None, None, f"cannot read: {why}")])
            else:
                self.report([_at(at, f"cannot read included file {display}: {why}")])
            return None
        text, problem = decode(data, display)
        if problem is not None:
            self.report([problem])
        elif text is not None and not looks_like_policy(text):
            msg = "not a policy: no rule (SELECTOR -> SCHEME) and no use, let or seed line"
            self.report(
                [
                    Diagnostic(display, None, None, msg)
                    if at is None
                    else _at(at, f"{display}: {msg}")
                ]
            )
            return None
        return text

    def load(self, key: str, display: str, path: Path, at: Diagnostic | None) -> _File | None:
        if key in self.cache:
            return self.cache[key]
        if any(k == key for k, _ in self.stack):
            chain = " -> ".join([d for _, d in self.stack] + [display])
            assert at is not None
            self.report([_at(at, f"include cycle: {chain}")])
            return None
        if len(self.stack) > MAX_INCLUDE_DEPTH:
            assert at is not None
            shown = [d for _, d in self.stack]
            chain = " -> ".join([*shown[:2], "...", *shown[-2:], display])
            msg = f"includes nested more than {MAX_INCLUDE_DEPTH} deep: {chain}"
            self.report([_at(at, msg)])
            return None
        text = self.read(path, display, at)
        if text is None:
            return None
        self.stack.append((key, display))
        try:
            result = self.text(text, display, path.parent)
        finally:
            self.stack.pop()
        self.cache[key] = result
        return result

    # ------------------------------------------------------------------ one file

    def text(self, text: str, display: str, base: Path) -> _File:
        text = text.removeprefix("\ufeff")
        lines = split_lines(text)
        builder = Builder(display, lines)
        out = _File(files=[display])
        for chunk in chunks(text):
            builder.offset = chunk.line - 1
            tree = parse_chunk(chunk)
            if isinstance(tree, SyntaxProblem):
                self.report([_syntax_diagnostic(display, lines, chunk, tree)])
                continue
            n_errors = len(builder.errors)
            stmt = tree.children[0]
            assert isinstance(stmt, Tree)
            if stmt.data == "rule":
                self.rule(builder, stmt, chunk, display, out)
            elif stmt.data == "use":
                self.use(builder, stmt, base, out)
            elif stmt.data == "let":
                self.let(builder, stmt, chunk)
            else:
                self.seed(builder, stmt, out)
            self.report(builder.errors[n_errors:])
        return out

    def rule(self, b: Builder, tree: Tree[Token], chunk: Chunk, display: str, out: _File) -> None:
        sel_tree, scheme_tree, settings_tree = tree.children
        assert isinstance(sel_tree, Tree) and isinstance(scheme_tree, Tree)
        selector = b.selector(sel_tree)
        scheme = bind(b, scheme_tree)
        settings = self.settings(b, settings_tree) if settings_tree is not None else ()
        if selector is None or scheme is None or settings is None:
            return
        if len(out.rules) >= MAX_RULES:
            self.too_many(b, tree)
        loc = Loc(file=display, line=chunk.line, column=chunk.column, text=chunk.source)
        out.rules.append((selector, scheme, loc, settings))

    def settings(self, b: Builder, tree: Tree[Token] | Token) -> tuple[Setting, ...] | None:
        """The ``with`` clause: each setting a known name, once, with a number."""
        assert isinstance(tree, Tree)
        out: dict[str, Setting] = {}
        ok = True
        for item in tree.children:
            assert isinstance(item, Tree)
            name_tok, value = item.children
            assert isinstance(name_tok, Token)
            name = str(name_tok)
            if name not in SETTINGS:
                hint = did_you_mean(name, SETTINGS) or f"settings: {one_of(SETTINGS)}"
                b.error(name_tok, f"unknown setting '{name}'", hint)
                ok = False
                continue
            if name in out:
                b.error(name_tok, f"'{name}' is set twice in this rule")
                ok = False
                continue
            v = b.number(value, BOUND_NAMES)
            if v is None:
                ok = False
                continue
            out[name] = Setting(name=name, value=v.node)
        return tuple(out.values()) if ok else None

    def too_many(self, b: Builder, tree: Tree[Token]) -> None:
        b.error(
            first_token(tree), f"too many rules (the limit is {MAX_RULES:,}, includes expanded)"
        )
        self.report(b.errors[-1:])
        raise _TooManyErrors

    def use(self, b: Builder, tree: Tree[Token], base: Path, out: _File) -> None:
        target = tree.children[0]
        assert isinstance(target, Token)
        at = b.diagnostic(target, "")  # the use line's location, for errors in the include
        if target.type == "STRING":
            rel = str(target)[1:-1]
            if not rel:
                b.error(target, "use needs a file path", 'e.g. use "base.pol"')
                return
            path = base / rel
            display = rel if b.file.startswith("<") else os.path.join(os.path.dirname(b.file), rel)
            display = os.path.normpath(display)
            key = _resolved(path)
            if key is None:
                b.error(target, f"invalid file path: {rel}")
                return
            # a policy from a pull request must not read /proc/self/environ or ~/.ssh: an
            # include is a *.pol file, by the name written and by the file it leads to
            if not (rel.endswith(POLICY_SUFFIX) and key.endswith(POLICY_SUFFIX)):
                b.error(
                    target,
                    f"use includes policy files, named *{POLICY_SUFFIX}: {rel!r} is not one",
                    hint='use a built-in by name (use relu_net), or a file: use "base.pol"',
                )
                return
        else:
            builtins = builtin_policies()
            name = str(target)
            if name not in builtins:
                hint = did_you_mean(name, builtins)
                hint = hint or (f"built-in policies: {one_of(builtins)}" if builtins else None)
                b.error(target, f"unknown built-in policy '{name}'", hint)
                if not hint:
                    b.errors[-1] = _with_hint(
                        b.errors[-1], f'a file is included as use "{name}.pol"'
                    )
                return
            path, display = builtins[name], BUILTIN_PREFIX + name
            key = str(path.resolve())
        included = self.load(key, display, path, at)
        if included is None:
            return
        if len(out.rules) + len(included.rules) > MAX_RULES:  # includes can multiply rules
            self.too_many(b, tree)
        out.rules.extend(included.rules)
        out.files.extend(f for f in included.files if f not in out.files)
        if included.seed is not None and out.seed is None:
            out.seed = included.seed

    def let(self, b: Builder, tree: Tree[Token], chunk: Chunk) -> None:
        name_tok, value = tree.children
        assert isinstance(name_tok, Token)
        name = str(name_tok)
        if name in WHERE_NAMES and name not in TRANSFER_NAMES:
            b.error(name_tok, f"'{name}' is a bound name and cannot be redefined")
            return
        if name in b.lets:
            b.error(name_tok, f"'{name}' is already defined on line {b.lets[name][1]}")
            return
        if name in self.values:  # given by the caller: the policy's expression is not read
            self.used.add(name)
            b.lets[name] = (Num(value=self.values[name]), chunk.line)
            return
        v = b.number(value, BOUND_NAMES)
        # a let whose expression is wrong is still defined (as nothing), so that its uses
        # add no "unknown name" errors to the one already reported
        b.lets[name] = (v.node if v is not None else None, chunk.line)

    def seed(self, b: Builder, tree: Tree[Token], out: _File) -> None:
        tok = tree.children[0]
        assert isinstance(tok, Token)
        if out.rules or len(out.files) > 1 or b.lets:
            b.error(tok, "seed must come first, before any rule, use or let (it is a header)")
            return
        if out.own_seed:
            b.error(tok, "seed is given twice")
            return
        try:
            value = parse_seed(str(tok))
        except ValueError as e:
            b.error(tok, str(e))
            return
        out.seed, out.own_seed = value, True


def _not_a_policy_name(path: Path, key: str) -> str | None:
    """Why the file at ``path`` (leading to ``key``) is not read as a policy, or None: the
    rule ``use`` follows holds for every policy file, the one a command names too (a
    pull request's ``init/model.pol -> ~/.aws/credentials`` is refused unread). A link
    to another ``*.pol`` file is read."""
    if not path.name.endswith(POLICY_SUFFIX):
        return f"policies are files named *{POLICY_SUFFIX}: {path.name!r} is not one"
    if not key.endswith(POLICY_SUFFIX):
        return (
            f"policies are files named *{POLICY_SUFFIX}: {path.name!r} is a link to "
            f"{os.path.basename(key)!r}, which is not one"
        )
    return None


def looks_like_policy(text: str) -> bool:
    """Whether ``text`` has a statement at all (a rule's ``->``, or a line beginning with
    use, let or seed), or nothing but comments and blank lines. A file that has neither
    (a credentials file, a config) is not shown line by line as syntax errors: one error
    names it, quoting nothing of it.

    >>> looks_like_policy("# base\\nLinear -> zeros("), looks_like_policy("Linear before ReLU")
    (True, True)
    >>> looks_like_policy("[default]\\naws_secret_access_key = AKIA"), looks_like_policy("API_KEY=x")
    (False, False)
    """
    code = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return (
        not code
        or "->" in text
        or any(_STATEMENT.match(ln) or _RULE_START.match(ln) for ln in code)
        or any(_scheme_call().search(ln) for ln in code)
    )


#: A statement's keyword; the start of a rule written without its arrow (``Linear before
#: ReLU``, ``Linear: zeros()``, ``LSTM.weight_hh*``, ``(Linear|Conv2d)``).
_STATEMENT = re.compile(r"(use|let|seed)\b")
_RULE_START = re.compile(
    r"\(?[A-Z*][A-Za-z0-9_*?]*(\s*[.(|\[:]|\s+(before|after|named|in|where)\b)"
)


def _scheme_call() -> re.Pattern[str]:
    """A scheme's name and its parenthesis (``kaiming_normal(``)."""
    from ..catalog import SCHEMES

    return re.compile(r"\b(" + "|".join(map(re.escape, SCHEMES)) + r")\s*\(")


def _resolved(path: Path) -> str | None:
    """The absolute path ``path`` leads to (links followed): the key a file is known by;
    None for a path that cannot lead anywhere (a NUL character)."""
    try:
        return os.path.realpath(path)  # a link loop or a name too long: read() says so
    except (OSError, ValueError):
        return None


def decode(data: bytes, display: str) -> tuple[str | None, Diagnostic | None]:
    """The policy text in ``data``, or the located problem that makes it not one (not
    UTF-8, or binary). An error never shows the data: only a policy has lines to show."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line, col = position(data[: e.start].decode("utf-8-sig"), e.start)
        bad = data[e.start : e.start + 1].hex()
        msg = f"not valid UTF-8 (byte 0x{bad})"
        return None, Diagnostic(display, line, col, msg, hint="save the policy as UTF-8")
    if "\0" in text:  # binary data (a checkpoint, /proc/self/environ): not a policy
        line, col = position(text, text.index("\0"))
        return None, Diagnostic(display, line, col, "not a policy: a NUL byte (binary data)")
    return text, None


def parse_stream(stream: BinaryIO, display: str = "<stdin>", values: Values = None) -> PolicyIR:
    """Parse a policy read from ``stream`` (standard input, a pipe), never past
    :data:`MAX_BYTES`; ``use "..."`` paths are relative to the working directory.

    >>> import io
    >>> len(parse_stream(io.BytesIO(b"bias -> zeros()")).rules)
    1
    """
    data = stream.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        msg = f"too large to be a policy (more than {MAX_BYTES:,} bytes)"
        raise PolicyError(Diagnostic(display, None, None, msg))
    text, problem = decode(data, display)
    if problem is None and text is not None and not looks_like_policy(text):
        msg = "not a policy: no rule (SELECTOR -> SCHEME) and no use, let or seed line"
        problem = Diagnostic(display, None, None, msg)
    if problem is not None or text is None:
        raise PolicyError(problem or Diagnostic(display, None, None, "not a policy"))
    return parse(text, display, values=values)


#: The names of this process's own open descriptors: ``/dev/stdin``, and ``/dev/fd/N`` as a
#: shell's ``<(git show main:init.pol)`` gives.
_OWN_DESCRIPTOR = re.compile(r"/dev/(stdin|fd/\d+)|/proc/self/fd/\d+")


def _is_stream(path: Path) -> bool:
    """One of this process's own descriptors that is a pipe or a character device:
    readable once, as a stream. A FIFO or a device by any other name is refused unread,
    without blocking (:func:`parse_file`): a policy named in a pull request's
    pyproject.toml must not hang the check that reads it."""
    if not _OWN_DESCRIPTOR.fullmatch(str(path)):
        return False
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except (OSError, ValueError):
        return False


def _exists(path: Path) -> bool:
    try:
        return os.path.lexists(path)
    except ValueError:
        return False


def _at(d: Diagnostic, message: str, hint: str | None = None) -> Diagnostic:
    return Diagnostic(d.file, d.line, d.column, message, d.source_line, hint, d.width)


def _with_hint(d: Diagnostic, hint: str) -> Diagnostic:
    return Diagnostic(d.file, d.line, d.column, d.message, d.source_line, hint, d.width)


def _syntax_diagnostic(file: str, lines: list[str], chunk: Chunk, p: SyntaxProblem) -> Diagnostic:
    line = chunk.line + p.part
    source = lines[line - 1] if 0 < line <= len(lines) else None
    return Diagnostic(file, line, p.column, p.message, source, p.hint, p.width)


def _finish(loader: _Loader, result: _File | None, source: str) -> PolicyIR:
    if loader.errors or result is None:
        errors = loader.errors[:MAX_ERRORS]
        if len(loader.errors) > MAX_ERRORS:
            errors.append(
                Diagnostic(
                    errors[-1].file, None, None, f"too many errors; stopped after {MAX_ERRORS}"
                )
            )
        raise PolicyError(errors)
    unknown = [n for n in loader.values if n not in loader.used]
    if unknown:
        raise UsageError(
            f"{source} has no let named {', '.join(repr(n) for n in unknown)}: a value can "
            "only replace a let of the policy (initpolicy.load(source, **values), --set)"
        )
    rules = tuple(
        Rule(selector=s, scheme=c, loc=loc, index=i, settings=st)
        for i, (s, c, loc, st) in enumerate(result.rules)
    )
    return PolicyIR(
        source=source,
        rules=rules,
        seed=result.seed,
        files=tuple(result.files),
        values=tuple(sorted(loader.values.items())),
    )


#: Values for a policy's ``let`` names, given when it is loaded.
Values = Mapping[str, float] | None


def _checked(values: Values) -> dict[str, float]:
    """``values`` as finite floats keyed by valid names; UsageError naming a bad one."""
    out: dict[str, float] = {}
    for name, value in (values or {}).items():
        if not isinstance(name, str) or not name.isidentifier():
            raise UsageError(f"{name!r} is not a let name")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UsageError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise UsageError(f"{name} must be a finite number, got {value!r}")
        out[name] = number
    return out


def _run(fn: Callable[[], _File | None]) -> _File | None:
    try:
        return fn()
    except _TooManyErrors:  # the errors so far are reported; the rest is not parsed
        return None


def parse(
    text: str,
    file: str = "<string>",
    *,
    base_dir: str | Path | None = None,
    values: Values = None,
) -> PolicyIR:
    """Parse policy ``text``; ``file`` names it in messages, ``base_dir`` anchors ``use "..."``.

    >>> parse("seed 7\\nuse relu_net\\nbias -> zeros()").seed    # doctest: +SKIP
    7
    """
    loader = _Loader(_checked(values))
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    loader.stack.append((file, file))
    result = _run(lambda: loader.text(text, file, base))
    return _finish(loader, result, file)


def parse_file(path: str | Path, display: str | None = None, values: Values = None) -> PolicyIR:
    """Parse the policy file at ``path`` (shown as ``display``, default the path as given)."""
    path = Path(path)
    display = display or str(path)
    key = _resolved(path)
    if key is None:
        raise PolicyError(Diagnostic(display, None, None, "invalid file path")) from None
    problem = _not_a_policy_name(path, key)
    if problem:
        raise PolicyError(Diagnostic(display, None, None, problem))
    loader = _Loader(_checked(values))
    result = _run(lambda: loader.load(key, display, path, None))
    return _finish(loader, result, display)


def parse_builtin(name: str, values: Values = None) -> PolicyIR:
    """Parse the built-in policy ``name`` (see ``initpolicy policies``)."""
    builtins = builtin_policies()
    if name not in builtins:
        hint = did_you_mean(name, builtins) or f"built-in policies: {one_of(builtins) or 'none'}"
        raise PolicyError(Diagnostic(name, None, None, "no such built-in policy", hint=hint))
    return parse_file(builtins[name], BUILTIN_PREFIX + name, values)


def parse_any(spec: str | Path, values: Values = None) -> PolicyIR:
    """A policy file if ``spec`` names one, else a built-in policy of that name; ``-`` (or
    a pipe or terminal of this process's own: ``/dev/stdin``, ``/dev/fd/N``) is read as a
    stream. A FIFO or a device by any other name is refused unread.

    ``NAME.pol`` with no such file, where NAME is a built-in, is the built-in, so the
    design card's ``--policy relu_net.pol`` works in any directory.
    """
    if str(spec) == "-":
        return parse_stream(sys.stdin.buffer, values=values)
    path = Path(spec)
    builtins = builtin_policies()
    # a file is a policy only if named *.pol: a stray file named like a built-in is not one
    if is_file(path) and (path.name.endswith(POLICY_SUFFIX) or str(spec) not in builtins):
        return parse_file(path, str(spec), values)
    if _is_stream(path):
        with open(path, "rb") as stream:
            return parse_stream(stream, str(spec), values)
    if str(spec) in builtins:
        return parse_builtin(str(spec), values)
    if path.suffix == POLICY_SUFFIX and not _exists(path) and path.stem in builtins:
        return parse_builtin(path.stem, values)
    if _is_dir(path):
        raise PolicyError(Diagnostic(str(spec), None, None, "a directory, not a policy file"))
    if str(spec).endswith(POLICY_SUFFIX) or isinstance(spec, Path) or _exists(path):
        return parse_file(path, str(spec), values)  # says why the file cannot be read
    hint = did_you_mean(str(spec), builtins)
    hint = hint or (f"built-in policies: {one_of(builtins)}" if builtins else None)
    raise PolicyError(
        Diagnostic(str(spec), None, None, "no such policy file or built-in policy", hint=hint)
    )


__all__ = [
    "MAX_BYTES",
    "MAX_ERRORS",
    "MAX_INCLUDE_DEPTH",
    "MAX_RULES",
    "parse",
    "parse_any",
    "parse_builtin",
    "parse_file",
    "parse_stream",
]
