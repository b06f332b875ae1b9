"""Hand-built policies and graphs for the matcher's tests (no parser, no tracer, no torch).

``graph()`` is a small model with one layer of each kind the selectors care about; the
layers' facts are written out so each test states exactly what it depends on.
"""

from __future__ import annotations

from typing import Any

from initpolicy.language.ir import (
    BinOp,
    Call,
    Compare,
    Count,
    Loc,
    Name,
    Num,
    PolicyIR,
    Rule,
    SchemeArg,
    SchemeCall,
    Selector,
    Word,
)
from initpolicy.tracer.graph import Block, Layer, ModelGraph, ParamInfo, Resolution


def num(v: float) -> Num:
    return Num(value=v)


def name(n: str) -> Name:
    return Name(name=n)


def div(a: Any, b: Any) -> BinOp:
    return BinOp(op="/", left=a, right=b)


def minus(a: Any, b: Any) -> BinOp:
    return BinOp(op="-", left=a, right=b)


def sqrt(a: Any) -> Call:
    return Call(fn="sqrt", args=(a,))


def count(**kw: Any) -> Count:
    return Count(selector=Selector(**kw))


def gt(n: str, v: float) -> Compare:
    return Compare(op=">", left=name(n), right=num(v))


def scheme(scheme_name: str, **args: Any) -> SchemeCall:
    out = []
    for k, v in args.items():
        if isinstance(v, str):
            v = Word(value=v)
        elif isinstance(v, int | float):
            v = num(float(v))
        out.append(SchemeArg(name=k, value=v))
    return SchemeCall(name=scheme_name, args=tuple(out))


def policy(*rules: tuple[Selector, SchemeCall], seed: int | None = None) -> PolicyIR:
    """Rule i sits on line i + 1 of ``p.pol``; its text is a readable stand-in."""
    built = []
    for i, (sel, sch) in enumerate(rules):
        text = f"{_sel_text(sel)} -> {sch.name}(...)"
        built.append(
            Rule(selector=sel, scheme=sch, loc=Loc(file="p.pol", line=i + 1, text=text), index=i)
        )
    return PolicyIR(source="p.pol", rules=tuple(built), seed=seed, files=("p.pol",))


def _sel_text(sel: Selector) -> str:
    parts = []
    if sel.types:
        parts.append("|".join(sel.types))
    if sel.param:
        parts.append(("." if sel.types else "") + sel.param)
    if sel.block:
        parts.append(f"[{sel.block}]")
    return "".join(parts) or "*"


def S(**kw: Any) -> Selector:
    return Selector(**kw)


def _p(qual: str, shape: tuple[int, ...], fan_in: float, fan_out: float, **kw: Any) -> ParamInfo:
    return ParamInfo(
        name=qual,
        local=qual.rpartition(".")[2],
        shape=shape,
        fan_in=fan_in,
        fan_out=fan_out,
        raw_name=qual,
        **kw,
    )


def _layer(
    lname: str, types: tuple[str, ...], act: str, params: list[ParamInfo], depth: int, **kw: Any
) -> Layer:
    resolution = Resolution(
        act,
        **{
            k: kw.pop(k) for k in ("act_args", "candidates", "previous", "previous_type") if k in kw
        },
    )
    return Layer(
        name=lname,
        type=types[0],
        types=(*types, "Module"),
        resolution=resolution,
        depth=depth,
        parameters=tuple(p for p in params if p.kind == "parameter"),
        buffers=tuple(p for p in params if p.kind == "buffer"),
        **kw,
    )


def _lstm_blocks(rows: int, fan_in: float) -> dict[str, Block]:
    h = rows // 4
    return {
        g: Block(g, i * h, (i + 1) * h, fan_in=fan_in, fan_out=h)
        for i, g in enumerate(("input", "forget", "cell", "output"))
    }


def graph(*, frozen: bool = False, tie: bool = False) -> ModelGraph:
    """fc1 (relu) -> conv (leaky_relu 0.2) -> mix (mixed relu|tanh) -> rnn (LSTM) ->
    attn.out_proj (NonDynamicallyQuantizableLinear in MultiheadAttention) -> bn
    (BatchNorm2d) -> emb (Embedding) -> head (Linear, output)."""
    fc1 = _layer(
        "fc1", ("Linear",), "relu", [_p("fc1.weight", (8, 4), 4, 8), _p("fc1.bias", (8,), 4, 8)], 0
    )
    conv = _layer(
        "blocks.0.conv",
        ("Conv2d", "_ConvNd"),
        "leaky_relu",
        [_p("blocks.0.conv.weight", (6, 8, 3, 3), 72, 54), _p("blocks.0.conv.bias", (6,), 72, 54)],
        1,
        act_args={"negative_slope": 0.2},
        previous="fc1",
        previous_type="Linear",
        ancestors=(
            ("", ("Net", "Module")),
            ("blocks", ("ModuleList", "Module")),
            ("blocks.0", ("ConvBlock", "Module")),
        ),
    )
    mix = _layer(
        "mix",
        ("Linear",),
        "mixed",
        [_p("mix.weight", (6, 6), 6, 6, requires_grad=not frozen)],
        2,
        candidates=("relu", "tanh"),
        previous="blocks.0.conv",
        previous_type="Conv2d",
    )
    rnn = _layer(
        "rnn",
        ("LSTM", "RNNBase"),
        "tanh",
        [
            _p("rnn.weight_ih_l0", (16, 6), 6, 16, blocks=_lstm_blocks(16, 6)),
            _p("rnn.weight_hh_l0", (16, 4), 4, 16, blocks=_lstm_blocks(16, 4)),
            _p("rnn.bias_ih_l0", (16,), 6, 16, blocks=_lstm_blocks(16, 6)),
            _p("rnn.bias_hh_l0", (16,), 4, 16, blocks=_lstm_blocks(16, 4)),
        ],
        3,
    )
    out_proj = _layer(
        "attn.out_proj",
        ("NonDynamicallyQuantizableLinear", "Linear"),
        "linear",
        [_p("attn.out_proj.weight", (4, 4), 4, 4)],
        4,
        ancestors=(("", ("Net", "Module")), ("attn", ("MultiheadAttention", "Module"))),
    )
    bn = _layer(
        "bn",
        ("BatchNorm2d", "_BatchNorm", "_NormBase"),
        "linear",
        [
            _p("bn.weight", (4,), 4, 4),
            _p("bn.running_var", (4,), 4, 4, kind="buffer"),
            _p("bn.num_batches_tracked", (), 1, 1, kind="buffer", dtype="int64"),
        ],
        5,
    )
    emb_w = _p("emb.weight", (10, 4), 4, 10, aliases=("head.weight",) if tie else ())
    emb = _layer("emb", ("Embedding",), "linear", [emb_w], 6)
    head_params = [] if tie else [_p("head.weight", (10, 4), 4, 10)]
    head = _layer("head", ("Linear",), "output", head_params, 7)
    layers = [fc1, conv, mix, rnn, out_proj, bn, emb] + ([head] if head_params else [])
    # the module holding a tied alias owns no tensor of its own: only its types are known
    modules = {"head": ("Linear", "Module")} if tie else {}
    return ModelGraph(target="test", tracer="modules", layers=tuple(layers), module_types=modules)
