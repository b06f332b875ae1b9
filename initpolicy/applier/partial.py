"""One part of a meta model at a time: materialize a part (a block of layers, an
embedding), write exactly the values a whole :func:`~initpolicy.applier.execution.execute`
would write there, and put the meta tensors back to free it.

This is what lets lint judge an 8B or 70B model on a laptop (docs/lint.md, "Models
larger than memory"): the linter's streaming pass holds one part at a time. The values
are the whole run's because every tensor's stream is keyed by its name and every
module's own init runs under an RNG seeded from its name (:func:`derive`).

Two sources of values:

* a Plan (``lint --policy``): the entries of the part, and for what no entry writes the
  module's own method, as :func:`~initpolicy.applier.meta.prepare` decides;
* the model's own init (``plan=None``): every module of the part initialized as a real
  build does, by its ``reset_parameters`` (what its constructor runs), then by the
  model's ``_init_weights`` where it has one (what ``from_config``'s ``post_init`` runs);
  tensors neither writes stay zero (and are reported in :attr:`Loaded.unwritten`).

>>> parts = Parts(model, plan)                      # doctest: +SKIP
>>> with parts.loaded(["model.layers.0.mlp.down_proj"]) as loaded:  # doctest: +SKIP
...     model.model.layers[0].mlp.down_proj(hidden)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from ..planner import Plan
from ..tracer import init_weights_owner as owner_of
from ..tracer import reset_method
from .execution import _module_inits, _Writer
from .journal import Journal, journal_of
from .meta import _STATS, Materialized, Preparation, prepare, tensors
from .pool import gc_paused
from .streams import derive
from .writes import write_all


@dataclass
class Loaded:
    """A materialized part: its tensors by qualified name, and what nothing wrote."""

    tensors: dict[str, Any] = field(default_factory=dict)
    unwritten: list[str] = field(default_factory=list)


class Parts:
    """Materializes parts of a meta ``model`` with ``plan``'s values (or its own init)."""

    def __init__(self, model: Any, plan: Plan | None = None, *, seed: int = 0, source: Any = None):
        """``source``: the real model ``model`` is a meta copy of
        (:func:`~initpolicy.applier.meta.meta_copy`): what the plan does not write keeps
        its value there, as on a copy of the model."""
        self.model = model
        self.plan = plan
        self.source = source
        self.seed = plan.seed if plan is not None else seed
        # validates once, before anything is allocated: a tensor no rule and no module
        # method writes is a PlanError, as in execute
        self.prep = None
        #: How each tensor's own init was given (``plan=None``): ``"replayed"`` from the
        #: build's record, or ``"methods"`` (the modules' own), by qualified name.
        self.how: dict[str, str] = {}
        if plan is not None:
            # with a source, what no rule writes is copied from it: nothing to decide
            self.prep = prepare(plan, model) if source is None else Preparation()

    @contextmanager
    def loaded(
        self, modules: Sequence[str], rows: int | None = None, device: Any = "cpu"
    ) -> Iterator[Loaded]:
        """The own tensors of the modules named in ``modules`` (qualified names; ``""``
        the root) materialized on ``device`` and initialized; on exit their meta tensors
        are back and the storage is freed.

        ``rows``: only the first ``rows`` rows of every longer tensor (the rows of an
        embedding that the ids read, the units of an output head that are measured):
        a plan writes exactly those rows of its streams; the own init runs on them."""
        import torch

        names = frozenset(modules)
        done = Materialized()
        out = Loaded()
        metas: dict[str, tuple[str, Any, bool]] = {}  # name: module, meta tensor, cut to rows
        zero = set(self.prep.zero) if self.prep is not None else set()
        try:
            with torch.no_grad(), gc_paused():
                for mod_name, module, key, t, is_param in list(tensors(self.model)):
                    if not t.is_meta or mod_name not in names:
                        continue
                    name = f"{mod_name}.{key}" if mod_name else key
                    new = done.new.get(id(t))
                    if new is None:
                        shape = tuple(t.shape)
                        metas[name] = (mod_name, t, bool(rows is not None and shape[:1] > (rows,)))
                        if rows is not None and shape and shape[0] > rows:
                            shape = (rows, *shape[1:])
                        data = torch.empty(shape, dtype=t.dtype, device=device)
                        if name in zero or self.plan is None:
                            data.zero_()
                        new = (
                            torch.nn.Parameter(data, requires_grad=t.requires_grad)
                            if is_param
                            else data
                        )
                        done.new[id(t)] = new
                    (module._parameters if is_param else module._buffers)[key] = new
                    done.replaced.append((module, key, is_param, t))
                    out.tensors[name] = new
                if self.source is not None:
                    self._copy_source(out)
                if self.plan is None:
                    out.unwritten = self._own_init(names, metas, out)
                else:
                    self._write(names, out)
            yield out
        finally:
            done.undo()
            out.tensors.clear()

    def _write(self, names: frozenset[str], out: Loaded) -> None:
        assert self.plan is not None and self.prep is not None
        slots: dict[int, Any] = {}
        entries = []
        for e in self.plan.entries:
            aliases = [n for n in (e.param.name, e.param.raw_name, *e.param.aliases) if n]
            here = next((n for n in aliases if n in out.tensors), None)
            if here is None and e.param.parametrization is None:
                continue
            if here is None:  # parametrized: written through its module, if it is here
                mod_name = (e.param.raw_name or e.param.name).rpartition(".")[0]
                if mod_name not in names:
                    continue
                from .execution import _tensor

                slots[id(e)] = _tensor(self.model, e)
            else:
                slots[id(e)] = out.tensors[here]
            entries.append(e)
        sub = replace(self.plan, entries=entries)
        resets = [r for r in self.prep.resets if r[0] in names and self.source is None]
        prep = Preparation(resets=resets, zero=self.prep.zero, defaulted=self.prep.defaulted)
        _module_inits(sub, self.model, prep, slots, _Writer(keep_originals=False))
        write_all(sub, slots, lambda t: None, None)

    def _copy_source(self, out: Loaded) -> None:
        """The source model's values (their first rows where only those are loaded)."""
        held = dict(self.source.named_parameters(remove_duplicate=False))
        held.update(self.source.named_buffers(remove_duplicate=False))
        for name, t in out.tensors.items():
            if name in held:
                t.copy_(held[name][: t.shape[0]] if t.ndim else held[name])

    def _own_init(
        self, names: frozenset[str], metas: dict[str, tuple[str, Any, bool]], out: Loaded
    ) -> list[str]:
        """Each tensor of the part as the model's own init leaves it; the names nothing
        wrote. A model built under a :class:`~.journal.Journal` (``initpolicy.on_meta()``)
        replays its build's calls on each tensor, in the build's order: the constructor's
        loops and computed parameters included. A tensor the journal cannot give (a model
        built without one; a tensor loaded on its first rows only, which the journal would
        build whole) gets its module's ``reset_parameters`` (:meth:`_resets`). Then the
        model's ``_init_weights`` (:meth:`_init_weights_over`) on those modules, and on the
        replayed ones whose build did not run it (transformers skips it on meta: a real
        build runs it last, in ``post_init``)."""
        modules = dict(self.model.named_modules())
        replayed: dict[str, Journal] = {}
        for name, (_, t, cut) in metas.items():
            journal = journal_of(t)
            if journal is not None and not cut and journal.covers(t):
                replayed[name] = journal
        rest = {mod for name, (mod, _, _) in metas.items() if name not in replayed}
        unwritten = self._resets(rest, modules)
        failed = self._replay(replayed, metas, out, unwritten)
        if failed:  # a call that does not run on real tensors: those modules' methods
            for name in failed:
                del replayed[name]
            rest |= {metas[n][0] for n in failed}
            unwritten += self._resets({metas[n][0] for n in failed}, modules)
        late = set()
        for name, (mod, _, _) in metas.items():
            init = _owner_init(modules, mod)
            if name in replayed and init is not None and not replayed[name].ran(init):
                late.add(mod)
        self._init_weights_over(rest | late, modules)
        for name in metas:
            self.how[name] = "replayed" if name in replayed else "methods"
        return [n for n in unwritten if n not in replayed or metas[n][0] not in late]

    def _replay(
        self,
        replayed: dict[str, Journal],
        metas: dict[str, tuple[str, Any, bool]],
        out: Loaded,
        unwritten: list[str],
    ) -> list[str]:
        """Each tensor of ``replayed`` by its journal; the names whose replay failed."""
        failed = []
        for name, journal in replayed.items():
            t, new = metas[name][1], out.tensors[name]
            if not journal.written(t):  # torch.empty and nothing after: zero, as a part
                new.zero_()  # nothing writes
                unwritten.append(name)
                continue
            try:
                journal.replay(t, new.device, self.seed, into=new)
            except Exception:  # the model's own code: any error
                failed.append(name)
        return failed

    def _resets(self, names: set[str], modules: dict[str, Any]) -> list[str]:
        """Each module named by its own method, as its constructor ran it
        (``reset_parameters``, a norm's ``reset_running_stats``); the names of the tensors
        neither it nor the model's ``_init_weights`` writes."""
        import torch

        unwritten: list[str] = []
        for mod_name, module in modules.items():
            if mod_name not in names:
                continue
            own = [*module._parameters.items(), *module._buffers.items()]
            own = [(k, t) for k, t in own if t is not None]
            if not own:
                continue
            method = reset_method(module)
            if not method and callable(getattr(module, "reset_running_stats", None)):
                method = "reset_running_stats"
            if method:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(derive(self.seed, mod_name, "default"))
                    reset_through_parametrizations(module, method)
            elif owner_of(modules, mod_name) is None:
                unwritten.extend(
                    f"{mod_name}.{k}" if mod_name else k for k, _ in own if k not in _STATS
                )
        return unwritten

    def _init_weights_over(self, names: set[str], modules: dict[str, Any]) -> None:
        """The model's ``_init_weights`` applied children before parents
        (``nn.Module.apply``'s order) on the modules named and their ancestors (T5's
        attention writes its q, k, v, o; what is not loaded stays on meta, where a write
        is a no-op)."""
        import torch

        applied: dict[str, int] = {}  # the modules _init_weights is applied on: depth
        for mod_name in names:
            module = modules.get(mod_name)
            if module is None or not [
                t
                for t in (*module._parameters.values(), *module._buffers.values())
                if t is not None
            ]:
                continue
            parts = mod_name.split(".") if mod_name else []
            for n in range(len(parts), -1, -1):
                applied[".".join(parts[:n])] = n
        for mod_name in sorted(applied, key=lambda n: -applied[n]):
            owner = owner_of(modules, mod_name)
            if owner is not None:
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(derive(self.seed, mod_name, "default"))
                    _init_weights(modules[owner], owner, modules[mod_name], mod_name)


def _owner_init(modules: dict[str, Any], mod_name: str) -> Any:
    """The ``_init_weights`` function of ``mod_name``'s owner (as its class defines it),
    or None where no owner has one."""
    owner = owner_of(modules, mod_name)
    return None if owner is None else type(modules[owner])._init_weights


def reset_through_parametrizations(module: Any, method: str) -> None:
    """``module.<method>()`` as it ran before a parametrization wrapped the weight it
    writes (``weight_norm`` is applied to an initialized conv: wav2vec2's positional
    conv): on a parametrized module the method writes a computed weight, which is lost,
    so it writes a cached one instead, and the parametrization's originals are set from it
    through its ``right_inverse`` (``original0``, ``original1``: the norm and the weight)."""
    from torch.nn.utils import parametrize

    if not parametrize.is_parametrized(module):
        getattr(module, method)()
        return
    with parametrize.cached():
        getattr(module, method)()
        written = {n: getattr(module, n) for n in module.parametrizations}
    for n, value in written.items():
        module.parametrizations[n].right_inverse(value)


def _init_weights(owner: Any, owner_name: str, module: Any, name: str) -> None:
    """``owner._init_weights(module)``: transformers' signature, or timm's, which
    ``named_apply`` calls with the module's name under the owner as well (MaxxViT)."""
    import inspect

    init = owner._init_weights
    if "name" in inspect.signature(init).parameters:
        init(module, name=name[len(owner_name) + 1 :] if owner_name else name)
    else:
        init(module)
