"""From one line's Lark tree to selector IR; the rest of a line is built by its neighbours.

The walk is top-down so each expression knows where it stands (a ``where`` condition may
read ``ndim`` and ``numel``, a scheme argument may not): :class:`Builder` adds selectors
to :class:`~initpolicy.language.expressions.ExprBuilder`; scheme calls are bound in
:mod:`initpolicy.language.binding`. Every problem becomes a :class:`~initpolicy.errors.Diagnostic`
in ``Builder.errors`` and the walk goes on, so one line can report several mistakes; a
line with any error yields no statement.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from lark import Token, Tree

from ..catalog import ALL_BLOCK_NAMES, BLOCKS, CANONICAL, EXPERT, canonical, spellings
from ..common import did_you_mean, one_of
from .expressions import (
    MAX_EXPR_DEPTH,
    WHERE_NAMES,
    ExprBuilder,
    Value,
    as_token,
    as_tree,
    first_token,
)
from .ir import ROLES, Selector

__all__ = ["MAX_EXPR_DEPTH", "WHERE_NAMES", "Builder", "Value", "first_token", "is_type_glob"]


def is_type_glob(glob: str) -> bool:
    """CamelCase (first letter upper case) or letter-free (``*``): a module type."""
    first = next((c for c in glob if c.isalpha()), None)
    return first is None or first.isupper()


class Builder(ExprBuilder):
    """Builds selectors (and, through ExprBuilder, expressions) for one file."""

    def types(self, tree: Tree[Token], clause: str) -> tuple[str, ...] | None:
        globs = [str(t) for t in tree.children]
        for tok in tree.children:
            if not is_type_glob(str(tok)):
                hint = "module types are CamelCase, e.g. Linear"
                if clause == "in":
                    hint = f'to match module names write named "*{tok}*"'
                self.error(tok, f"'{clause}' takes a module type, not '{tok}'", hint)
                return None
        return tuple(globs)

    def head(self, tree: Tree[Token], out: dict[str, object]) -> bool:
        ok = True
        member = block = index = None
        types_tree = as_tree(tree.children[0])
        for child in map(as_tree, tree.children[1:]):
            if child.data == "member":
                member = as_token(child.children[0])
            else:
                block = as_token(child.children[0])
                index = as_token(child.children[1]) if len(child.children) > 1 else None
        globs = types_tree.children
        if member is None and len(globs) == 1 and not is_type_glob(str(globs[0])):
            out["param"] = str(globs[0])  # a bare lowercase name: that parameter, any module
        else:
            for tok in globs:
                if not is_type_glob(str(tok)):
                    msg = f"'{tok}' is not a module type (types are CamelCase)"
                    hint = "one rule per parameter name: bias -> zeros()"
                    if len(globs) > 1:
                        msg = "alternatives in parentheses must all be module types"
                    elif member is not None and is_type_glob(str(member)):
                        hint = f"write the class name alone: {member}"  # nn.Linear
                    self.error(tok, msg, hint)
                    ok = False
                    break
            out["types"] = tuple(str(t) for t in globs)
            if member is not None:
                out["param"] = str(member)
        if block is not None:
            types = out.get("types")
            types = types if isinstance(types, tuple) else None
            if str(block) == EXPERT:
                ok = self.expert(block, index, types, out) and ok
            elif index is not None:
                self.error(
                    index,
                    f"[{block}] takes no number: only [{EXPERT}=N] selects one block by number",
                    f"write [{block}]",
                )
                ok = False
            else:
                ok = self.block(block, types, out) and ok
        return ok

    def expert(
        self,
        tok: Token,
        index: Token | None,
        types: tuple[str, ...] | None,
        out: dict[str, object],
    ) -> bool:
        """``[expert]`` (every expert of an experts tensor) or ``[expert=N]`` (one)."""
        packed = [k for k in BLOCKS if types and any(fnmatchcase(k, t) for t in types)]
        if packed:
            self.error(
                tok,
                f"{one_of(packed)} has no experts: [{EXPERT}] selects an experts tensor "
                "(experts, out, in)",
                f"its blocks are {one_of(tuple(dict.fromkeys(b for k in packed for b in BLOCKS[k])))}",
            )
            return False
        if index is not None:
            text = str(index)
            if not text.isdigit():
                self.error(
                    index,
                    f"[{EXPERT}={text}] needs an expert number, a whole number from 0",
                    f"e.g. [{EXPERT}=0] for the first expert",
                )
                return False
            out["expert"] = int(text)
        out["block"] = EXPERT
        return True

    def block(self, tok: Token, types: tuple[str, ...] | None, out: dict[str, object]) -> bool:
        name = str(tok)
        if name not in ALL_BLOCK_NAMES:
            names = (*ALL_BLOCK_NAMES, EXPERT)
            self.error(
                tok,
                f"unknown block '{name}'",
                did_you_mean(name, names) or f"blocks: {one_of(names)}",
            )
            return False
        if types is not None:
            packed = [k for k in BLOCKS if any(fnmatchcase(k, t) for t in types)]
            if not packed:
                self.error(
                    tok,
                    f"[{name}] needs a packed module type; {one_of(types)} has no blocks",
                    f"blocks exist on {one_of(BLOCKS)}",
                )
                return False
            allowed = tuple(dict.fromkeys(b for k in packed for b in BLOCKS[k]))
            if name not in allowed:
                self.error(
                    tok,
                    f"{one_of(packed)} has no block '{name}'",
                    did_you_mean(name, allowed) or f"its blocks are {one_of(allowed)}",
                )
                return False
        out["block"] = name
        return True

    def acts(self, tree: Tree[Token]) -> tuple[str, ...] | None:
        out = []
        for tok in tree.children:
            name = canonical(str(tok))
            if name is None:
                hint = did_you_mean(str(tok), spellings()) or f"activations: {one_of(CANONICAL)}"
                self.error(tok, f"unknown activation '{tok}'", hint)
                return None
            out.append(name)
        return tuple(dict.fromkeys(out))

    def roles(self, tree: Tree[Token]) -> tuple[str, ...] | None:
        out = []
        for tok in tree.children:
            name = str(tok)
            if name not in ROLES:
                hint = did_you_mean(name, ROLES) or f"roles: {one_of(ROLES)}"
                self.error(tok, f"unknown role '{name}'", hint)
                return None
            out.append(name)
        return tuple(dict.fromkeys(out))

    def selector(self, tree: Tree[Token]) -> Selector | None:
        out: dict[str, object] = {}
        seen: dict[str, Token] = {}
        ok = True
        for child in map(as_tree, tree.children):
            kind = child.data
            if kind == "head":
                ok = self.head(child, out) and ok
                continue
            if kind in seen:
                self.error(first_token(child), f"'{_KEYWORD[kind]}' appears twice in this selector")
                ok = False
                continue
            seen[kind] = first_token(child)
            arg = child.children[0]
            value: object
            if kind == "named":
                value = str(arg)[1:-1]
                if not value:
                    self.error(arg, "named needs a non-empty glob", 'e.g. named "encoder.*"')
            elif kind in ("inside", "after"):
                value = self.types(as_tree(arg), _KEYWORD[kind])
            elif kind == "before":
                value = self.acts(as_tree(arg))
            elif kind == "role":
                value = self.roles(as_tree(arg))
            else:
                v = self.expression(arg, WHERE_NAMES)
                if v is not None and not v.cond:
                    self.error(arg, "where needs a condition", "e.g. where fan_in > 256")
                    v = None
                value = v.node if v is not None else None
            if not value:
                ok = False
            out[kind] = value
        return Selector(**out) if ok else None


_KEYWORD = {
    "named": "named",
    "inside": "in",
    "before": "before",
    "after": "after",
    "where": "where",
    "role": "as",
}
