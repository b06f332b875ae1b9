"""What a model's construction does to its tensors on the meta device, kept so that one
part of the model can be given the values a real build gives it.

On meta every write is a no-op: a constructor's loop (``for m in self.modules():
normal_(m.weight, 0, 0.01)``, torchvision's VGG), a parameter drawn or computed in
``__init__`` (``init_value * torch.ones(dim)``), the originals a parametrization takes
from the weight it wraps (``weight_norm``) leave nothing, and no module method repeats
them. Built under :class:`Journal` (``initpolicy.on_meta()``), every torch call that
touches a meta tensor is kept, a :class:`torch.overrides.TorchFunctionMode` seeing each
call once (an ``nn.init`` function is one call, timm's ``trunc_normal_`` its in-place
steps): for each storage, the call that made it and the in-place writes into it (through
any view of it), in the build's order, with their arguments. A tensor of a part is then
replayed (:meth:`Journal.replay`): its storage is made, then written, call by call; a
tensor a call reads is itself replayed as it was at that moment. Every module's
``reset_parameters``, the constructor's loops, transformers' ``post_init`` and timm's
``init_weights`` are all such calls, so the replay needs no method of the module.

Where the journal cannot say (a storage made before recording, or by a call the mode does
not see; a view of another dtype), :meth:`Journal.covers` is False and the part falls back
to its modules' own methods (:meth:`initpolicy.applier.partial.Parts._own_init`).

>>> import torch
>>> with Journal(), torch.device("meta"):
...     fc = torch.nn.Linear(4, 3)
...     _ = torch.nn.init.constant_(fc.weight, 0.5)
>>> journal_of(fc.weight).replay(fc.weight, "cpu", seed=0)[0, 0].item()
0.5
"""

from __future__ import annotations

import functools
import inspect
import sys
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.overrides import TorchFunctionMode
from torch.utils import _pytree as pytree
from torch.utils.weak import WeakIdKeyDictionary

from .streams import derive

#: In-place methods that change no value (or only metadata): no write.
_NOT_WRITES = frozenset(
    {
        "requires_grad_", "retain_grad", "share_memory_", "detach_", "record_stream",
        "as_strided_", "squeeze_", "unsqueeze_", "t_", "transpose_", "swapdims_",
        "swapaxes_", "resize_", "resize_as_", "set_", "rename_", "refine_names",
    }
)  # fmt: skip
#: Factories whose values are left uninitialized: a storage only they made is unwritten.
_EMPTY = frozenset({"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided"})
#: Modules whose functions write their first argument (``tensor``) in place.
_INIT_MODULES = ("torch.nn.init", "transformers.initialization")

#: How far up the stack of a write an ``_init_weights`` frame is looked for.
_INIT_WEIGHTS_DEPTH = 60

#: Each tensor registered on a module while a journal records: its journal.
_JOURNALS: WeakIdKeyDictionary = WeakIdKeyDictionary()


def journal_of(t: Any) -> Journal | None:
    """The journal of the build that registered ``t`` on its module, or None."""
    return _JOURNALS.get(t)


class Unreplayable(Exception):
    """A tensor whose values the journal cannot reproduce."""


@dataclass(frozen=True)
class _Ref:
    """A meta tensor an op read or wrote: its storage and where it sits in it."""

    key: int
    size: tuple[int, ...]
    stride: tuple[int, ...]
    offset: int
    dtype: Any


@dataclass
class _Op:
    """One call: ``func(*args, **kwargs)`` with each meta tensor as a :class:`_Ref`."""

    seq: int
    func: Any
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    out: tuple[int, ...] = ()  # where the made tensor is in the call's result
    target: _Ref | None = None  # the tensor an in-place call writes


@dataclass
class _Storage:
    """A meta storage: the call that made it, then the calls that wrote into it."""

    numel: int
    dtype: Any
    made: _Op | None = None
    writes: list[_Op] = field(default_factory=list)
    bad: str = ""  # why it cannot be replayed

    @property
    def written(self) -> bool:
        """Whether a call gave it values (a factory other than ``empty``, or a write)."""
        made = self.made is not None and _name(self.made.func) not in _EMPTY
        return made or bool(self.writes)


class Journal(TorchFunctionMode):
    """Record a build's calls on meta tensors (``with Journal(): model = build()``); the
    tensors registered on a module meanwhile find it by :func:`journal_of`."""

    def __init__(self) -> None:
        super().__init__()
        self.storages: dict[int, _Storage] = {}
        self._keep: list[Any] = []  # the storages, alive so that their keys stay unique
        self._seq = 0
        self._hooks: list[Any] = []
        self.errors: list[str] = []  # the calls that could not be kept, and why
        #: The code of every ``_init_weights`` a write was made in: transformers runs none
        #: on meta (its ``init_weights`` skips a meta build), so a part applies it after.
        self.init_weights_ran: set[Any] = set()

    def __enter__(self) -> Journal:
        from torch.nn.modules import module as nn_module

        def register(_module: Any, _name: str, t: Any) -> None:
            if isinstance(t, torch.Tensor) and t.is_meta:
                _JOURNALS[t] = self

        self._hooks = [
            nn_module.register_module_parameter_registration_hook(register),
            nn_module.register_module_buffer_registration_hook(register),
        ]
        super().__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        for h in self._hooks:
            h.remove()
        self._hooks = []

    # ------------------------------------------------------------------ recording

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        name = _name(func)
        try:
            if name == "__get__" and _name(getattr(func, "__self__", None)) == "is_meta" and out:
                self._quiet_on_meta(sys._getframe(1))
            elif name not in ("__get__", "__set__"):
                leaves = pytree.tree_leaves((args, kwargs))
                outs = pytree.tree_leaves(out)
                if any(_is_meta(x) for x in (*leaves, *outs)):
                    self._record(func, name, args, kwargs, out)
        except Exception as e:  # never break the model's own code: its tensors are not
            self._unknown(f"{name}: {type(e).__name__}: {e}", (args, kwargs, out))  # replayed
        return out

    def _unknown(self, why: str, values: Any) -> None:
        """The meta tensors of a call the journal could not keep: not replayable."""
        self.errors.append(why)
        for x in pytree.tree_leaves(values):
            if _is_meta(x):
                try:
                    self._storage(x).bad = why
                except Exception:  # no storage to name: it cannot be looked up either
                    continue

    def _record(self, func: Any, name: str, args: tuple, kwargs: dict, out: Any) -> None:
        self._seq += 1
        target = _written(func, name, args, kwargs)
        if target is not None and not _is_meta(target):
            target = None
        # the storages this call reads (its outputs are not made yet when it reads)
        op = _Op(self._seq, func, *pytree.tree_map(self._ref, (args, kwargs)))
        if target is not None:
            op.target = self._ref(target)
            f: Any = sys._getframe(2)
            for _ in range(_INIT_WEIGHTS_DEPTH):
                if f is None:
                    break
                if f.f_code.co_name == "_init_weights":
                    self.init_weights_ran.add(f.f_code)
                f = f.f_back
            st = self._storage(target)
            if target.dtype != st.dtype:
                st.bad = st.bad or f"written through a view of dtype {target.dtype}"
            st.writes.append(op)
            return
        for path, t in _tensor_leaves(out):
            if not _is_meta(t) or _key(t) in self.storages:
                continue  # a view of a storage already known
            st = self._storage(t)
            st.made = _Op(op.seq, func, op.args, op.kwargs, out=path, target=self._ref(t))
            if t.dtype != st.dtype:
                st.bad = f"made as a view of dtype {t.dtype}"

    def _quiet_on_meta(self, frame: Any) -> None:
        """An init function that returns at once on meta, without a torch call the mode
        sees (torch's ``trunc_normal_``, ``orthogonal_``, ``dirac_``, ``sparse_``), is
        found by its frame as it asks ``tensor.is_meta``: one write of the public function
        with the arguments in its frame."""
        quiet = _quiet_functions()
        for _ in range(12):  # above this mode's caller: other modes (torch.device's)
            if frame is None or frame.f_code in quiet:
                break
            frame = frame.f_back
        if frame is None or frame.f_code not in quiet:
            return
        public, t = quiet[frame.f_code], frame.f_locals.get("tensor")
        if not _is_meta(t):
            return
        names = [n for n in inspect.signature(public).parameters if n != "tensor"]
        kwargs = {n: frame.f_locals[n] for n in names if n in frame.f_locals}
        self._record(public, public.__name__, (t,), kwargs, t)

    def _storage(self, t: torch.Tensor) -> _Storage:
        key = _key(t)
        st = self.storages.get(key)
        if st is None:
            storage = t.untyped_storage()
            self._keep.append(storage)
            st = _Storage(storage.nbytes() // max(t.element_size(), 1), t.dtype)
            self.storages[key] = st
            if storage.nbytes() % max(t.element_size(), 1):
                st.bad = "a storage of another dtype"
        return st

    def _ref(self, x: Any) -> Any:
        if not _is_meta(x):
            return x
        self._storage(x)  # known from now on (made before recording: not replayable)
        return _Ref(_key(x), tuple(x.shape), tuple(x.stride()), x.storage_offset(), x.dtype)

    # ------------------------------------------------------------------ replaying

    def covers(self, t: torch.Tensor) -> bool:
        """Whether :meth:`replay` can give ``t``'s values: its storage, and every storage
        a call on it reads, made and written by calls the journal kept."""
        try:
            return self._check(_key(t), set())
        except Exception:  # a tensor without a storage to name
            return False

    def ran(self, init_weights: Any) -> bool:
        """Whether the build wrote anything inside ``init_weights`` (a model's
        ``_init_weights``, as its class defines it)."""
        return getattr(init_weights, "__code__", None) in self.init_weights_ran

    def written(self, t: torch.Tensor) -> bool:
        """Whether the build gave ``t`` values at all (not only ``torch.empty``)."""
        st = self.storages.get(_key(t))
        return st is not None and st.written

    def _check(self, key: int, seen: set[int]) -> bool:
        if key in seen:
            return True
        seen.add(key)
        st = self.storages.get(key)
        if st is None or st.made is None or st.bad:
            return False
        for op in (st.made, *st.writes):
            refs = [x for x in pytree.tree_leaves((op.args, op.kwargs)) if isinstance(x, _Ref)]
            if not all(self._check(r.key, seen) for r in refs):
                return False
        return True

    def replay(self, t: torch.Tensor, device: Any, seed: int, into: Any = None) -> torch.Tensor:
        """``t``'s values as the build left them, on ``device``: its storage made and
        written call by call, under an RNG seeded from ``seed`` and the storage's place in
        the build (so a part replays the same values whatever else is loaded).

        ``into``: a tensor of ``t``'s shape to replay in, in place when ``t`` is its whole
        storage (an embedding is not held twice), else by a copy."""
        if not self.covers(t):
            raise Unreplayable(
                f"the build's calls on this {tuple(t.shape)} tensor were not all kept"
            )
        st = self.storages[_key(t)]
        whole = (
            into is not None
            and t.is_contiguous()
            and t.storage_offset() == 0
            and t.numel() == st.numel
            and into.is_contiguous()
            and into.dtype == st.dtype
            and into.shape == t.shape
        )
        with torch.no_grad():
            run = _Replay(self, torch.device(device), seed)
            buf = run.state(_key(t), None, into.view(-1) if whole else None)
            out = buf.as_strided(tuple(t.shape), tuple(t.stride()), t.storage_offset())
            if into is not None and not whole:
                into.copy_(out)
        return into if into is not None else out


class _Replay:
    """One replay: storages rebuilt on ``device``, each as of a point in the build."""

    def __init__(self, journal: Journal, device: torch.device, seed: int) -> None:
        self.journal = journal
        self.device = device
        self.seed = seed
        self.done: dict[tuple[int, int | None], torch.Tensor] = {}

    def state(self, key: int, before: int | None, buf: Any = None) -> torch.Tensor:
        """The storage ``key`` (flat; in ``buf`` if given) after the calls made before
        call ``before`` (None: after all of them)."""
        found = self.done.get((key, before))
        if found is not None:
            return found
        st = self.journal.storages[key]
        assert st.made is not None and st.made.target is not None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive(self.seed, "own", str(st.made.seq)))
            if buf is None:
                buf = torch.empty(st.numel, dtype=st.dtype, device=self.device)
            if _name(st.made.func) in _EMPTY:
                buf.zero_()  # what nothing writes is zero, as on a materialized part
            else:
                made = self._call(st.made, None)
                for path in st.made.out:
                    made = made[path]
                _view(buf, st.made.target).copy_(made)
            for op in st.writes:
                if before is not None and op.seq >= before:
                    break
                self._call(op, (key, buf))
        self.done[(key, before)] = buf
        return buf

    def _call(self, op: _Op, live: tuple[int, torch.Tensor] | None) -> Any:
        """``op`` run on real tensors: each meta tensor it read as it was then, the
        written storage (``live``) itself, a meta device replaced by ours."""

        def real(x: Any) -> Any:
            if isinstance(x, _Ref):
                if live is not None and x.key == live[0]:
                    return _view(live[1], x)
                return _view(self.state(x.key, op.seq), x)
            if isinstance(x, torch.device) and x.type == "meta":
                return self.device
            if isinstance(x, str) and x == "meta":
                return str(self.device)
            return x

        args, kwargs = pytree.tree_map(real, (op.args, op.kwargs))
        return op.func(*args, **kwargs)


@functools.cache
def _quiet_functions() -> dict[Any, Any]:
    """The code objects of torch's init functions that return at once on a meta tensor
    (the frame that asks ``is_meta``), each with the public function it runs for."""
    init = torch.nn.init
    found = {
        getattr(init, "_no_grad_trunc_normal_", None): init.trunc_normal_,
        init.orthogonal_: init.orthogonal_,
        init.dirac_: init.dirac_,
        init.sparse_: init.sparse_,
    }
    return {fn.__code__: public for fn, public in found.items() if fn is not None}


def _view(buf: torch.Tensor, ref: _Ref) -> torch.Tensor:
    return buf.as_strided(ref.size, ref.stride, ref.offset)


def _written(func: Any, name: str, args: tuple, kwargs: dict) -> Any:
    """The tensor a call writes in place (``t.normal_()``, ``t[i] = v``, ``t += 1``,
    ``nn.init.X_(t)``, ``out=t``), or None."""
    if isinstance(kwargs.get("out"), torch.Tensor):
        return kwargs["out"]
    if getattr(func, "__module__", None) in _INIT_MODULES:
        return kwargs.get("tensor", args[0] if args else None)
    first = args[0] if args else None
    if not isinstance(first, torch.Tensor) or name in _NOT_WRITES:
        return None
    inplace = name.endswith("_") and not name.startswith("_")
    if inplace or name == "__setitem__" or (name.startswith("__i") and name.endswith("__")):
        return first
    return None


def _name(func: Any) -> str:
    return getattr(func, "__name__", "") or ""


def _is_meta(x: Any) -> bool:
    return isinstance(x, torch.Tensor) and x.is_meta


def _key(t: torch.Tensor) -> int:
    return t.untyped_storage()._cdata


def _tensor_leaves(out: Any) -> list[tuple[tuple[int, ...], torch.Tensor]]:
    """The tensors of a call's result with their index paths (a tensor, or a tuple or
    list of them: ``torch.linalg.qr``)."""
    if isinstance(out, torch.Tensor):
        return [((), out)]
    if isinstance(out, tuple | list):
        return [((i,), t) for i, t in enumerate(out) if isinstance(t, torch.Tensor)]
    return []
