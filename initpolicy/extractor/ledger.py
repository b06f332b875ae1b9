"""Who wrote each element last: the records, and one owner id per element of every storage
written.

Each written storage gets a shadow ``int32`` tensor ``owners``, one entry per element; a
write to a view ``v`` assigns its record id to ``owners.as_strided(v.size(), v.stride(),
v.storage_offset())``. So the last write to each element wins, for views of any shape
(``w[pad].zero_()``, ``b[h:2h].fill_(1)``, ``w.data.normal_()``, transposes, advanced
indexing). Tensors are matched by **storage** (data pointer and element size), not by
object identity: a write before the tensor became a parameter, through ``.data``, or
before ``tie_weights`` is attributed correctly. Every recorded storage is kept alive until
:meth:`Ledger.close`, so no address is reused by another tensor while recording (about
one int32 per written element).

>>> import torch
>>> ledger = Ledger(lambda: Site("f", "m.py", 1))
>>> w = torch.zeros(3, 2)
>>> ledger.write(w, "Tensor.normal_", "normal", {"mean": 0.0, "std": 1.0})
>>> ledger.write(w[1], "Tensor.zero_", "constant", {"val": 0.0})
>>> ledger.owners(w).tolist()
[[0, 0], [1, 1], [0, 0]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .laws import ELEMENTWISE, absolute, affine, mapped
from .records import Record, Site, show


def trackable(x: Any) -> bool:
    """A tensor whose values the ledger can follow (floating, materialized, dense)."""
    return (
        isinstance(x, torch.Tensor)
        and x.device.type != "meta"
        and x.is_floating_point()
        and x.numel() > 0
        and not x.is_sparse
    )


def is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


class _Store:
    """Owners of one storage's elements (in units of ``itemsize``)."""

    __slots__ = ("itemsize", "owners", "storage")

    def __init__(self, t: torch.Tensor):
        self.storage = t.untyped_storage()  # kept alive: its address is never reused
        self.itemsize = t.element_size()
        self.owners = torch.full((self.storage.nbytes() // self.itemsize,), -1, dtype=torch.int32)

    def view(self, t: torch.Tensor) -> torch.Tensor:
        return self.owners.as_strided(t.size(), t.stride(), t.storage_offset())


#: What a copy's source is, taken before the copy runs: ("const", value),
#: ("owners", ids), ("values", None), or None.
Source = tuple[str, Any] | None


class Ledger:
    """The records and the owners of every element written (see the module docstring)."""

    def __init__(self, site: Callable[[], Site]):
        self.records: list[Record] = []
        self._site = site
        self._stores: dict[tuple[int, int], _Store] = {}
        self._derived: dict[tuple[int, str, float], int] = {}

    # ------------------------------------------------------------------ reading

    def owners(self, t: torch.Tensor) -> torch.Tensor | None:
        """Record ids, one per element of ``t`` (its own shape), or None if untracked."""
        if not trackable(t):
            return None
        store = self._stores.get(_key(t))
        return None if store is None else store.view(t).clone()

    def tracked(self, t: torch.Tensor) -> bool:
        return _key(t) in self._stores

    def close(self) -> None:
        """Drop the storages kept alive while recording (``owners`` no longer works)."""
        self._stores.clear()

    # ------------------------------------------------------------------ writes

    def new(
        self,
        t: torch.Tensor,
        op: str,
        scheme: str | None,
        args: dict[str, Any],
        *,
        parent: int | None = None,
        note: str | None = None,
    ) -> int:
        """A new record for a write to ``t`` (its shape and geometry); its id."""
        rid = len(self.records)
        geometry = (int(t.storage_offset()), tuple(t.size()), tuple(t.stride()))
        self.records.append(
            Record(rid, op, scheme, args, tuple(t.shape), geometry, self._site(), parent, note)
        )
        return rid

    def assign(self, t: torch.Tensor, rid: int, *, fresh: bool = False) -> None:
        """Every element of ``t`` is now owned by record ``rid``."""
        self._store(t, fresh).view(t).fill_(rid)

    def write(
        self,
        t: torch.Tensor,
        op: str,
        scheme: str | None,
        args: dict[str, Any],
        *,
        note: str | None = None,
        fresh: bool = False,
    ) -> None:
        """A write of the whole of ``t``: a new record owning all its elements."""
        self.assign(t, self.new(t, op, scheme, args, note=note), fresh=fresh)

    def source(self, src: Any) -> Source:
        """Before a copy: a constant, or the source's owners (``copy_``, ``__setitem__``)."""
        if is_number(src):
            return ("const", float(src))
        if not isinstance(src, torch.Tensor):
            return None
        flat = src.reshape(-1)
        if src.numel() == 1 or (src.numel() > 0 and bool((src == flat[0]).all())):
            return ("const", float(flat[0]))
        if trackable(src):
            store = self._stores.get(_key(src))
            if store is not None:
                return ("owners", store.view(src).clone())
        return ("values", None)

    def copy_into(self, t: torch.Tensor, src: Source, op: str) -> None:
        if src is None or src[0] == "values":
            self.write(t, op, None, {}, note="copy of computed values")
        elif src[0] == "const":
            self.write(t, op, "constant", {"val": src[1]})
        else:
            try:
                self._store(t).view(t).copy_(src[1].expand(t.shape))
            except RuntimeError:  # not broadcastable to the destination
                self.write(t, op, None, {}, note="copy of computed values")

    def setitem(self, t: torch.Tensor, key: Any, src: Source) -> None:
        view = self._store(t).view(t)
        if src is not None and src[0] == "const":
            target = t[key] if _basic(key) else t
            rid = self.new(target, "Tensor.__setitem__", "constant", {"val": src[1]})
        elif src is not None and src[0] == "owners":
            try:
                view[key] = src[1]
                return
            except RuntimeError:
                rid = self.new(t, "Tensor.__setitem__", None, {}, note="copy of computed values")
        else:
            rid = self.new(t, "Tensor.__setitem__", None, {}, note="assignment of computed values")
        view[key] = rid

    def propagate(self, src: torch.Tensor, dst: torch.Tensor) -> None:
        """``dst`` (a new storage) holds ``src``'s values: it takes ``src``'s owners."""
        store = self._stores.get(_key(src))
        if store is not None:
            self._store(dst, fresh=True).view(dst).copy_(store.view(src))

    def transform(
        self, src: torch.Tensor, dst: torch.Tensor, op: str, c: float, label: str, fresh: bool
    ) -> None:
        """``dst = src <op> c``: each owner of ``src`` becomes a derived record of ``dst``."""
        store = self._stores.get(_key(src))
        if store is None:
            if not fresh:  # an affine op on values nobody recorded: unknown
                self.write(dst, label, None, {}, note=f"{op} of unrecorded values")
            return
        ids = store.view(src).clone()
        mapping = {
            u: -1 if u < 0 else self._derive(u, op, c, label, dst) for u in ids.unique().tolist()
        }
        table = torch.full((max(mapping) + 2,), -1, dtype=torch.int32)
        for u, v in mapping.items():
            table[u + 1] = v
        self._store(dst, fresh=fresh).view(dst).copy_(table[(ids + 1).long()])

    # ------------------------------------------------------------------ helpers

    def _store(self, t: torch.Tensor, fresh: bool = False) -> _Store:
        key = _key(t)
        store = self._stores.get(key)
        if store is None or fresh:
            store = self._stores[key] = _Store(t)
        return store

    def _derive(self, parent: int, op: str, c: float, label: str, dst: torch.Tensor) -> int:
        key = (parent, op, c)
        if key in self._derived:
            return self._derived[key]
        base = self.records[parent]
        fn = None
        if base.fn is not None or op in ELEMENTWISE:
            # a draw through a function no law names: the draw, and the map in the code's order
            scheme, args = (base.scheme, dict(base.args)) if base.fn is not None else absolute(base)
            fn = mapped(base.fn, op, c) if scheme is not None else None
        elif base.scheme in GAINED and op in ("mul", "div") and c > 0:
            # xavier's draw scaled is xavier with that gain (T-Fixup's `mul_(0.67 * N **
            # -0.25)` after `xavier_uniform_`): the fans stay the law's
            scheme = base.scheme
            args = {
                **base.args,
                "gain": float(base.args.get("gain", 1.0)) * (c if op == "mul" else 1 / c),
            }
        else:
            scheme, args = affine(*absolute(base), op, c)
        note = None if scheme else f"{op} {c:g} of {base.op} is not a known law"
        shown = show(c) if op in ("mul", "div", "add", "sub", "pow") else ""
        rid = self.new(dst, f"{label}({shown})", scheme, args, parent=parent, note=note)
        self.records[rid].fn = fn
        # the law follows the parent's geometry (its fans), not the new view's
        rec = self.records[rid]
        rec.shape, rec.geometry = base.shape, base.geometry
        self._derived[key] = rid
        return rid


#: Schemes whose draw times a positive number is the same scheme with that gain.
GAINED = ("xavier_uniform", "xavier_normal")


def _key(t: torch.Tensor) -> tuple[int, int]:
    return (t.untyped_storage().data_ptr(), t.element_size())


def _basic(key: Any) -> bool:
    """Basic indexing (ints, slices, None, ...): ``t[key]`` is a view."""
    items = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, int | slice) or k is None or k is Ellipsis for k in items)
