"""Record every write a model's own init code makes, element by element.

``with Recorder() as rec: model = build()`` runs the construction (and the init code it
calls: ``reset_parameters``, transformers' ``post_init``, timm's ``init_weights`` and
``named_apply``, torchvision's loops in ``__init__``) under a
:class:`torch.overrides.TorchFunctionMode`. While the mode's handler runs, the mode is
popped: the calls made *inside* the function forwarded to are not seen again, so a
dispatching init function (``kaiming_uniform_``) is one event. The mode sees:

- ``torch.nn.init.X_(t, ...)`` (and transformers' guarded wrappers of the same names);
  a tensor flagged ``_is_hf_initialized`` is skipped (the wrapper writes nothing to it);
- init functions that do not dispatch, torch's and timm's, by their code object on the
  stack (:mod:`.calls`): one record of the outermost such frame;
- Tensor methods: ``normal_``, ``uniform_``, ``fill_``, ``zero_``, ``copy_``,
  ``__setitem__``, scalar ``mul_``/``div_``/``add_``/``sub_`` (the law is transformed),
  and any other in-place method (an unrecognised write); metadata-only ones are ignored;
- factories (``torch.zeros``, ``ones``, ``full``, ``randn``, ``rand``, ``*_like``,
  ``torch.tensor``, ``torch.linspace``) and scalar arithmetic on tracked tensors (``torch.randn(d) * .02``),
  and value-preserving copies (``clone``, ``to``, a zero-width ``F.pad``: any new tensor
  equal to a tracked input), so a parameter made from values has a law too.

Who wrote each element last is kept by the :class:`~.ledger.Ledger`. The recorder never
changes what the code does: a failure to record is kept in :attr:`Recorder.errors` and
the op's own result is returned. Only the thread that entered the mode is recorded.

>>> import torch
>>> with Recorder() as rec:
...     fc = torch.nn.Linear(3, 4)
...     _ = torch.nn.init.zeros_(fc.bias)
>>> [r.op for r in rec.records]
['torch.nn.init.kaiming_uniform_', 'torch.nn.init.uniform_', 'torch.nn.init.zeros_']
>>> rec.records[int(rec.owners(fc.bias)[0])].scheme
'zeros'
"""

from __future__ import annotations

import inspect
import sys
import threading
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

from .calls import (
    AFFINE,
    AFFINE_OOP,
    ELEMENTWISE_INPLACE,
    ELEMENTWISE_OOP,
    FACTORIES,
    INIT_FUNCTIONS,
    INIT_MODULES,
    NOT_WRITES,
    POWERS,
    TIMM_FUNCTIONS,
    TIMM_INIT,
    Composite,
    composites,
    is_inplace,
    plain,
    scheme_args,
    timm_composites,
)
from .laws import grid
from .ledger import Ledger, Source, is_number, trackable
from .records import Record
from .sites import in_library, is_machinery, site_of

#: How far up the stack a composite init function is looked for.
_COMPOSITE_DEPTH = 60


class Recorder(TorchFunctionMode):
    """Record the writes of everything run inside ``with Recorder():``.

    After the block, :meth:`owners` gives for any tensor (a parameter) the record id of
    the last write to each element (-1: no recorded write), and :attr:`records` the
    records by id. :meth:`close` releases the storages kept alive while recording.
    """

    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger(lambda: site_of(sys._getframe(1)))
        self.errors: list[str] = []
        self._composites = composites()
        self._timm = False  # timm's functions: recognised once its module is imported
        self._open: dict[int, tuple[Any, int]] = {}  # id(frame) -> (frame, record id)
        self._thread = threading.get_ident()

    @property
    def records(self) -> list[Record]:
        return self.ledger.records

    def owners(self, t: torch.Tensor) -> torch.Tensor | None:
        """Record ids, one per element of ``t`` (its own shape), or None if untracked."""
        return self.ledger.owners(t)

    def user_sites(self, model: torch.nn.Module) -> dict[str, str]:
        """``file:line`` of the user's own code that wrote most of each parameter's values
        (by qualified name, as ``named_parameters`` gives it), for the linter to point a
        finding on those values at; a parameter a library wrote (transformers'
        ``_init_weights``, torch's ``reset_parameters``) or nobody wrote is left out.

        >>> with Recorder() as rec:
        ...     fc = torch.nn.Linear(3, 4)
        ...     _ = torch.nn.init.normal_(fc.weight, std=5.0)
        >>> site = rec.user_sites(torch.nn.Sequential(fc))["0.weight"]
        >>> site.rsplit(":", 1)[1].isdigit()
        True
        """
        out: dict[str, str] = {}
        for name, p in model.named_parameters(remove_duplicate=False):
            owners = self.owners(p) if trackable(p) else None
            if owners is None:
                continue
            ids = owners.reshape(-1)
            ids = ids[ids >= 0]
            if not ids.numel():
                continue
            site = self.records[int(ids.mode().values)].site
            if (
                site.path
                and site.line
                and not in_library(site.path)
                and not is_machinery(site.path)
            ):
                out[name] = f"{site.path}:{site.line}"
        return out

    def close(self) -> None:
        """Drop the storages kept alive while recording (owners() no longer works)."""
        self.ledger.close()
        self._open.clear()

    # ------------------------------------------------------------------ dispatch

    def __torch_function__(
        self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None
    ) -> Any:
        kwargs = kwargs or {}
        if threading.get_ident() != self._thread:
            return func(*args, **kwargs)
        name = getattr(func, "__name__", "")
        objclass = getattr(func, "__objclass__", None)
        is_method = objclass is torch._C.TensorBase or objclass is torch.Tensor
        # Tensor.__pow__ and __ipow__ are Python functions of torch._tensor, not C methods
        is_method = is_method or (
            name in POWERS and getattr(func, "__module__", None) == "torch._tensor"
        )
        pre: Source = None
        try:
            if is_method and name == "copy_" and len(args) >= 2:
                pre = self.ledger.source(args[1])
            elif is_method and name == "__setitem__" and len(args) >= 3:
                pre = self.ledger.source(args[2])
        except Exception as e:  # never break the model's own code
            self.errors.append(f"{name}: {type(e).__name__}: {e}")
        out = func(*args, **kwargs)
        try:
            self._seen(func, name, objclass, is_method, args, kwargs, out, pre)
        except Exception as e:  # never break the model's own code
            self.errors.append(f"{name}: {type(e).__name__}: {e}")
        return out

    def _seen(
        self,
        func: Any,
        name: str,
        objclass: Any,
        is_method: bool,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        out: Any,
        pre: Source,
    ) -> None:
        if name in INIT_FUNCTIONS and getattr(func, "__module__", None) in INIT_MODULES:
            self._on_init(func, name, args, kwargs)
        elif is_method:
            self._on_method(name, args, kwargs, out, pre)
        elif getattr(func, "__module__", None) == "torch" and (
            name in ELEMENTWISE_OOP or name in POWERS
        ):
            if args and trackable(args[0]):
                self._on_function(f"torch.{name}", name, args[0], list(args[1:]), out)
        elif getattr(func, "__module__", None) == "torch" or (
            name in FACTORIES and objclass is None
        ):
            self._on_factory(name, args, kwargs, out)
        dest = kwargs.get("out")
        if isinstance(dest, torch.Tensor) and trackable(dest) and not self._in_composite(dest):
            self.ledger.write(dest, f"torch.{name}", None, {}, note=f"torch.{name}(out=...)")
        self._same_values(args, out)

    # ------------------------------------------------------------------ handlers

    def _on_init(self, func: Any, name: str, args: tuple[Any, ...], kwargs: dict) -> None:
        bound = inspect.signature(func).bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        t = values.pop("tensor")
        # transformers' guarded wrappers write nothing to a tensor flagged as loaded
        if not trackable(t) or getattr(t, "_is_hf_initialized", False) or self._in_composite(t):
            return
        scheme = INIT_FUNCTIONS[name]
        kept = {k: plain(values[k]) for k in scheme_args(scheme) if k in values}
        self.ledger.write(t, f"torch.nn.init.{name}", scheme, kept)

    def _on_method(
        self, name: str, args: tuple[Any, ...], kwargs: dict, out: Any, pre: Source
    ) -> None:
        if not args or name in ("__get__", "__set__") or not trackable(args[0]):
            return
        t = args[0]
        if is_inplace(name) and self._in_composite(t):
            return
        rest = list(args[1:])

        def arg(i: int, key: str, default: Any) -> Any:
            if key in kwargs:
                return kwargs[key]
            return rest[i] if i < len(rest) else default

        write = self.ledger.write
        if name == "normal_":
            law = {"mean": float(arg(0, "mean", 0.0)), "std": float(arg(1, "std", 1.0))}
            write(t, "Tensor.normal_", "normal", law)
        elif name == "uniform_":
            law = {"a": float(arg(0, "from", 0.0)), "b": float(arg(1, "to", 1.0))}
            write(t, "Tensor.uniform_", "uniform", law)
        elif name == "fill_":
            write(t, "Tensor.fill_", "constant", {"val": float(arg(0, "value", 0.0))})
        elif name == "zero_":
            write(t, "Tensor.zero_", "constant", {"val": 0.0})
        elif name == "copy_":
            self.ledger.copy_into(t, pre, "Tensor.copy_")
        elif name == "__setitem__":
            self.ledger.setitem(t, args[1], pre)
        elif name in AFFINE:
            other, alpha = arg(0, "other", None), kwargs.get("alpha", 1)
            if is_number(other) and is_number(alpha):
                c = float(other) * float(alpha)
                self.ledger.transform(t, t, AFFINE[name], c, f"Tensor.{name}", fresh=False)
            else:
                write(t, f"Tensor.{name}", None, {}, note="in-place arithmetic with a tensor")
        elif name in ELEMENTWISE_INPLACE:
            op = ELEMENTWISE_INPLACE[name]
            self.ledger.transform(t, t, op, 0.0, f"Tensor.{name}", fresh=False)
        elif name in ELEMENTWISE_OOP or name in POWERS:
            self._on_function(f"Tensor.{name}", name, t, rest, out)
        elif name in AFFINE_OOP:
            negate = name in ("neg", "__neg__")
            other = rest[0] if rest else None
            if trackable(out) and out.shape == t.shape and (negate or is_number(other)):
                c = -1.0 if negate else float(other)  # type: ignore[arg-type]
                self.ledger.transform(t, out, AFFINE_OOP[name], c, f"Tensor.{name}", fresh=True)
        elif name in NOT_WRITES:
            return
        elif is_inplace(name):
            write(t, f"Tensor.{name}", None, {}, note=f"in-place {name} is not a known fill")

    def _on_function(self, label: str, name: str, t: Any, rest: list[Any], out: Any) -> None:
        """``log``/``exp``/``sqrt``/``abs`` of a tensor, or a scalar power of it, in place
        (``pow_``) or into a new tensor: each owner's law is mapped (:func:`.laws.mapped`)."""
        inplace = name.endswith("_") or name.startswith("__i")
        if name in POWERS:
            if not rest or not is_number(rest[0]):
                if inplace:
                    self.ledger.write(t, label, None, {}, note="a power with a tensor exponent")
                return
            op, c = "pow", float(rest[0])
        else:
            op, c = ELEMENTWISE_OOP[name], 0.0
        if inplace:
            self.ledger.transform(t, t, op, c, label, fresh=False)
        elif trackable(out) and out.shape == t.shape:
            self.ledger.transform(t, out, op, c, label, fresh=True)

    def _on_factory(self, name: str, args: tuple[Any, ...], kwargs: dict, out: Any) -> None:
        if name not in FACTORIES or not trackable(out):
            return
        base = name.removesuffix("_like")
        law: tuple[str, dict[str, Any]]
        if base in ("zeros", "ones"):
            law = ("constant", {"val": 0.0 if base == "zeros" else 1.0})
        elif base == "full":
            v = kwargs.get("fill_value", args[1] if len(args) > 1 else None)
            if not is_number(v):
                return
            law = ("constant", {"val": float(v)})  # type: ignore[arg-type]
        elif base in ("tensor", "as_tensor"):
            flat = out.reshape(-1)
            if not bool((flat == flat[0]).all()):
                data = args[0] if args else kwargs.get("data")
                found = _literal_grid(data) if out.ndim == 1 else None
                if found is None:
                    note = "literal values"
                    self.ledger.write(out, f"torch.{name}", None, {}, note=note, fresh=True)
                    return
                scheme, found_args, fn = found
                rid = self.ledger.new(out, f"torch.{name}", scheme, found_args)
                self.ledger.records[rid].fn = fn
                self.ledger.assign(out, rid, fresh=True)
                return
            law = ("constant", {"val": float(flat[0])})
        elif base == "linspace":
            start = kwargs.get("start", args[0] if args else None)
            end = kwargs.get("end", args[1] if len(args) > 1 else None)
            if out.ndim != 1 or not (is_number(start) and is_number(end)):
                return
            law = ("linspace", {"start": float(start), "end": float(end)})  # type: ignore[arg-type]
        elif base == "randn":
            law = ("normal", {"mean": 0.0, "std": 1.0})
        else:  # rand
            law = ("uniform", {"a": 0.0, "b": 1.0})
        self.ledger.write(out, f"torch.{name}", *law, fresh=True)

    def _same_values(self, args: tuple[Any, ...], out: Any) -> None:
        """A new tensor equal to a tracked input (clone, to, contiguous, a zero-width pad,
        ...) takes the input's owners: its values have the same laws."""
        if not args or not trackable(out):
            return
        x = args[0]
        if not trackable(x) or x.shape != out.shape or x.dtype != out.dtype:
            return
        # an in-place op returns its own (tracked) tensor: no comparison of values then
        if self.ledger.tracked(x) and not self.ledger.tracked(out) and torch.equal(x, out):
            self.ledger.propagate(x, out)

    # ------------------------------------------------------------------ composites

    def _in_composite(self, t: torch.Tensor) -> bool:
        """A write inside a recognised Python init function: part of its one record."""
        found = self._composite_frame()
        if found is None:
            self._open.clear()
            return False
        frame, composite = found
        open_ = self._open.get(id(frame))
        if open_ is not None and open_[0] is frame:
            rid = open_[1]
        else:
            loc = frame.f_locals
            target = loc.get("tensor", t)
            if not isinstance(target, torch.Tensor):
                target = t
            rid = self.ledger.new(target, composite.label, composite.scheme, composite.read(loc))
            self._open[id(frame)] = (frame, rid)
        self.ledger.assign(t, rid)
        return True

    def _composite_frame(self) -> tuple[Any, Composite] | None:
        """The outermost frame on the stack running a recognised init function."""
        if not self._timm and TIMM_INIT in sys.modules:  # imported by the model's code
            found_timm = timm_composites()
            self._composites.update(found_timm)
            self._timm = len(found_timm) == TIMM_FUNCTIONS
        found = None
        f: Any = sys._getframe(2)
        for _ in range(_COMPOSITE_DEPTH):
            if f is None:
                break
            comp = self._composites.get(f.f_code)
            if comp is not None:
                found = (f, comp)  # keep going: the outermost one wins
            f = f.f_back
        return found


def _literal_grid(data: Any) -> tuple[str, dict[str, Any], Any] | None:
    """:func:`.laws.grid` of a flat Python list of numbers (the values the code computed,
    before rounding to the tensor's dtype); None for anything else."""
    if not isinstance(data, list | tuple) or not all(is_number(v) for v in data):
        return None
    return grid([float(v) for v in data])
