"""From recorded writes to one law per parameter (and per packed block).

For each parameter of the ModelGraph the recorder's owners say which record wrote each
element last. Then:

- one record owns every element: its law (:func:`.laws.law_of`);
- an Embedding's ``padding_idx`` row zeroed after the fill is dropped, with a note: the
  language zeroes that row after any write;
- rows that are exactly blocks of a packed tensor (LSTM/GRU gates, MHA q/k/v) owned by
  other records become block laws; the whole tensor's law is its main record's, or none
  (any) when every block has its own. A block without a law of its own is *forbidden*:
  no block rule may reach it (it would rewrite the block with the block's fans);
- several records whose fan-free laws are equal are one law;
- values the code computed and copied in (sinusoids, ``log(arange)``) are kept (``keep``);
- anything else (no recorded write, an unrecognised op, mixed writes) is fitted from the
  values (:mod:`.fit`) and says why.

Buffers and a parametrization's computed weight are items too, forbidden to every rule: a
rule whose glob reached them would write them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from ..catalog import moments
from ..planner import Index, NamedTensor
from ..tracer import Layer, ModelGraph, ParamInfo, legacy_weight_norm
from .fit import deterministic, fit_values
from .laws import STRUCTURED, Law, absolute, law_of, torch_moments
from .recorder import Recorder
from .records import COMPUTED, Record, is_zero


@dataclass
class Item:
    """One thing a rule can write: a tensor under one of its names, or one block of it."""

    index: int
    target: NamedTensor
    block: str | None
    #: The law this item must get; None: any (a tensor wholly rewritten by block rules).
    law: Law | None
    #: No rule may select it (a buffer, a parametrization's computed weight, a block
    #: without a law of its own).
    forbidden: bool = False

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def param(self) -> ParamInfo:
        return self.target.param

    @property
    def layer(self) -> Layer:
        return self.target.layer

    @property
    def local(self) -> str:
        return self.target.local

    @property
    def is_alias(self) -> bool:
        return self.target.name != self.target.param.name

    @property
    def fans(self) -> tuple[float, float]:
        if self.block is None:
            return float(self.param.fan_in), float(self.param.fan_out)
        b = self.param.blocks[self.block]
        return float(b.fan_in), float(b.fan_out)

    @property
    def key(self) -> tuple[str, str | None]:
        return (self.param.name, self.block)


@dataclass
class TensorLaws:
    """A parameter's law (None: every block has its own) and its blocks' laws."""

    whole: Law | None
    blocks: dict[str, Law] = field(default_factory=dict)


@dataclass
class Observation:
    items: list[Item]
    #: Per parameter (canonical name): its laws.
    tensors: dict[str, TensorLaws] = field(default_factory=dict)
    records: list[Record] = field(default_factory=list)


def observe(model: torch.nn.Module, graph: ModelGraph, recorder: Recorder) -> Observation:
    """The law of every parameter of ``graph``, under each name the planner reaches it by."""
    index = Index.from_graph(graph)
    obs = Observation(items=[], records=recorder.records)
    snap = _recorded_scales(recorder.records)

    def add(t: NamedTensor, block: str | None, law: Law | None, forbidden: bool) -> None:
        obs.items.append(Item(len(obs.items), t, block, law, forbidden))

    through: set[str] = set()  # originals a rule on their computed weight writes
    for t in index.targets:
        p = t.param
        if p.parametrization is not None and t.name == p.name:
            originals = index.originals.get(id(p), [])
            law = _weight_norm_law(model, p, originals, t.layer, recorder, snap)
            if law is not None:
                through.update(q.name for q in originals)
                for q in originals:  # v has the law, g follows from it
                    obs.tensors[q.name] = TensorLaws(law if q.local.endswith(("1", "v")) else None)
            add(t, None, law, law is None)
            continue
        if p.kind != "parameter" or p.parametrization is not None:
            add(t, None, None, True)
            continue
        if p.name in through:
            add(t, None, None, False)  # written through its computed weight's rule
            continue
        if p.name not in obs.tensors:
            tensor = model.get_parameter(p.raw_name or p.name)
            obs.tensors[p.name] = _param_laws(tensor, p, t.layer, recorder, snap)
        laws = obs.tensors[p.name]
        add(t, None, laws.whole, False)
        if t.name == p.name:  # blocks under the canonical name only
            for b in p.blocks:
                law = laws.blocks.get(b)
                add(t, b, law, law is None)
    return obs


def _weight_norm_law(
    model: torch.nn.Module,
    p: ParamInfo,
    originals: list[ParamInfo],
    layer: Layer,
    rec: Recorder,
    snap: tuple[float, ...],
) -> Law | None:
    """The law of a weight_norm weight whose ``g`` is the norm of its ``v`` (as
    ``weight_norm`` leaves them: the weight is then ``v`` itself): ``v``'s law, which a
    rule on the computed weight writes (the applier sets ``v`` to the draw and ``g`` to its
    norm), so it holds at any size. None otherwise (``g`` written apart: the originals get
    their own rules)."""
    if p.parametrization != "weight_norm" or len(originals) != 2:
        return None
    g_info, v_info = sorted(originals, key=lambda q: q.local)  # original0/1, weight_g/v
    owner: Any = model.get_submodule(p.name.rpartition(".")[0])
    hook = legacy_weight_norm(owner, p.local)
    if hook is None:
        try:
            hook = owner.parametrizations[p.local][0]
        except (AttributeError, KeyError, IndexError):
            return None
    g = model.get_parameter(g_info.raw_name or g_info.name).detach()
    v = model.get_parameter(v_info.raw_name or v_info.name).detach()
    dim = getattr(hook, "dim", None)
    if not isinstance(dim, int) or g.shape != torch.norm_except_dim(v, 2, dim).shape:
        return None
    if not torch.allclose(g, torch.norm_except_dim(v, 2, dim), rtol=1e-6, atol=0.0):
        return None
    laws = _param_laws(v, v_info, layer, rec, snap)
    if laws.whole is None or laws.blocks:
        return None
    return _with_notes(laws.whole, [f"g is the norm of v ({v_info.local}): the weight is v"])


def _recorded_scales(records: list[Record]) -> tuple[float, ...]:
    """Scales the code used literally (std, bounds): what a fitted std may snap to."""
    out: set[float] = set()
    for r in records:
        for k in ("std", "b", "gain"):
            v = r.args.get(k)
            if isinstance(v, float) and v > 0:
                out.add(v)
    return tuple(sorted(out))


def _param_laws(
    tensor: torch.Tensor, p: ParamInfo, layer: Layer, rec: Recorder, snap: tuple[float, ...]
) -> TensorLaws:
    owners = rec.owners(tensor)
    fans = (float(p.fan_in), float(p.fan_out))
    if owners is None:
        return TensorLaws(_fitted(tensor, fans, snap, "no recorded write"))
    notes = _drop_padding_row(owners, p, layer, rec)
    ids = _ids(owners)
    if len(ids) == 1:
        law = _law(rec, ids[0], p.shape, fans)
        if law is None:
            return TensorLaws(_unexplained(tensor, fans, snap, rec, ids, notes))
        return TensorLaws(_with_notes(law, notes))
    if p.blocks:
        found = _block_laws(owners, p, rec)
        if found is not None:
            whole, blocks = found
            return TensorLaws(None if whole is None else _with_notes(whole, notes), blocks)
    # several records: one law if they agree once made fan-free
    recs = [rec.records[i] for i in ids if i >= 0]
    agree = all(r.scheme is not None for r in recs) and len({_free_key(r) for r in recs}) == 1
    if -1 not in ids and agree:
        scheme, args = absolute(recs[0])
        std, bound = torch_moments(recs[0])
        assert scheme is not None  # every record here has a scheme
        law = Law(scheme, args, std, bound, "recorded", tuple(recs))
        note = f"{len(recs)} writes to parts of the tensor, same law"
        return TensorLaws(_with_notes(law, [*notes, note]))
    return TensorLaws(_unexplained(tensor, fans, snap, rec, ids, notes))


def _drop_padding_row(owners: torch.Tensor, p: ParamInfo, layer: Layer, rec: Recorder) -> list[str]:
    """An Embedding's padding row zeroed after the fill takes the fill's owner (in
    ``owners``), since the language zeroes that row after any write."""
    module = layer.module
    pad = getattr(module, "padding_idx", None) if isinstance(module, torch.nn.Embedding) else None
    if pad is None or p.local != "weight" or owners.ndim != 2:
        return []
    row = _ids(owners[pad])
    others = torch.cat([owners[:pad], owners[pad + 1 :]]).reshape(-1)
    if len(row) != 1 or row[0] < 0 or not others.numel():
        return []
    main = int(others.mode().values)
    if main < 0 or not is_zero(rec.records[row[0]]) or is_zero(rec.records[main]):
        return []
    owners[pad] = main
    return [f"padding row {pad} zeroed by {rec.records[row[0]].site} (the language zeroes it)"]


def _block_laws(
    owners: torch.Tensor, p: ParamInfo, rec: Recorder
) -> tuple[Law | None, dict[str, Law]] | None:
    """The whole tensor's law and its blocks' own laws, when every block has one owner."""
    main = int(owners.reshape(-1).mode().values)
    whole = _law(rec, main, p.shape, (float(p.fan_in), float(p.fan_out)))
    blocks: dict[str, Law] = {}
    for name, b in p.blocks.items():
        bids = _ids(owners[b.start : b.stop])
        if len(bids) != 1:
            return None
        if bids[0] == main and whole is not None:
            continue
        shape = (b.stop - b.start, *p.shape[1:])
        law = _law(rec, bids[0], shape, (float(b.fan_in), float(b.fan_out)))
        if law is None:
            return None
        blocks[name] = law
    if whole is not None and set(blocks) == set(p.blocks):
        whole = None  # every block has its own law: the whole rule does not matter
    return whole, blocks


def _law(rec: Recorder, rid: int, shape: tuple[int, ...], fans: tuple[float, float]) -> Law | None:
    if rid < 0:
        return None
    r = rec.records[rid]
    history: list[Record] = []
    parent = r.parent
    while parent is not None:  # a parent's id is smaller: this ends
        history.append(rec.records[parent])
        parent = history[-1].parent
    return law_of(r, tuple(history), shape, fans)


def _ids(owners: torch.Tensor) -> list[int]:
    """The distinct record ids; the common one-writer case first (unique sorts)."""
    flat = owners.reshape(-1)
    if flat.numel() == 0:
        return []
    first = int(flat[0])
    if bool((flat == first).all()):
        return [first]
    return [int(i) for i in flat.unique().tolist()]


def _unexplained(
    tensor: torch.Tensor,
    fans: tuple[float, float],
    snap: tuple[float, ...],
    rec: Recorder,
    ids: list[int],
    notes: list[str],
) -> Law:
    """No recognised law: values the code computed and copied in are kept (``keep``);
    anything else is fitted from the values."""
    recs = [rec.records[i] for i in ids if i >= 0]
    if -1 not in ids and recs and all(r.scheme is None and r.note in COMPUTED for r in recs):
        sites = "; ".join(dict.fromkeys(str(r.site) for r in recs))
        found = deterministic(tensor)
        if found is not None:
            # values a scheme writes by position (copy_(torch.eye(n))): that scheme writes
            # them, also on meta and once the init code is gone
            scheme, args = found
            std, bound = moments(
                scheme, args, fan_in=fans[0], fan_out=fans[1], shape=tuple(tensor.shape)
            )
            note = f"values computed by the code and copied in at {sites} are {scheme}()'s"
            return Law(scheme, args, std, bound, "recorded", tuple(recs), (*notes, note))
        note = f"values computed by the code and copied in at {sites}: kept"
        return Law("keep", {}, None, None, "computed", tuple(recs), (*notes, note))
    return _fitted(tensor, fans, snap, _why(rec, ids), notes)


def _why(rec: Recorder, ids: list[int]) -> str:
    parts = []
    if -1 in ids:
        parts.append("elements no recorded write reached")
    for i in ids:
        r = rec.records[i] if i >= 0 else None
        if r is not None and r.scheme is None:
            parts.append(f"{r.op} at {r.site}" + (f" ({r.note})" if r.note else ""))
    if not parts:
        parts.append(f"{len(ids)} different writes to parts of the tensor")
    return "; ".join(dict.fromkeys(parts))


def _free_key(r: Record) -> tuple[Any, ...]:
    scheme, args = absolute(r)
    if scheme in STRUCTURED:
        return (scheme, r.shape, tuple(sorted(args.items())))
    return Law(scheme or "", args, None, None, "recorded").key()


def _with_notes(law: Law, notes: list[str]) -> Law:
    if notes:
        law.notes = (*law.notes, *notes)
    return law


def _fitted(
    tensor: torch.Tensor,
    fans: tuple[float, float],
    snap: tuple[float, ...],
    why: str,
    notes: list[str] | None = None,
) -> Law:
    f = fit_values(tensor, fan_in=fans[0], fan_out=fans[1], snap=snap)
    return Law(f.scheme, f.args, f.std, f.bound, "fitted", (), (*(notes or ()), why, *f.notes), f)
