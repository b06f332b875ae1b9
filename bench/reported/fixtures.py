"""Init bugs reported in public issues, each reproduced on a small model.

Every fixture names the thread that reported the bug (``owner/repo#N``; each was read in
full, and its number checked against the thread), builds the model as the bug leaves it
(``build``) and as the fix the thread settled on leaves it (``fixed``), and says which
parameter a linter must name (``target``) and with which rules (``codes``). A fixture whose
bug lives in a policy carries the policy text (``policy``, and ``fixed_policy``).

Where the reported state depends on the hardware (trunc_normal_'s float32 erfinv outliers
on a GPU) or on memory the allocator hands out (``to_empty``), the fixture writes the
values the thread reported (the clamp bound, NaN, zeros) and says so in ``what``.

Models are small (a few hundred thousand parameters): the whole set lints in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Fixture:
    """One reported bug: where it was reported, the model with and without it, and what a
    linter must say about it."""

    name: str
    #: The public thread, ``owner/repo#N``.
    issue: str
    #: The bug in one sentence, as the thread describes it.
    what: str
    build: Callable[[], nn.Module]
    fixed: Callable[[], nn.Module]
    #: The parameter the finding must be on.
    target: str
    #: Rule codes that name this cause (any of them counts).
    codes: tuple[str, ...]
    policy: str | None = None
    fixed_policy: str | None = None
    example_inputs: Callable[[], Any] | None = field(default=None)

    @property
    def url(self) -> str:
        repo, number = self.issue.split("#")
        return f"https://github.com/{repo}/issues/{number}"


def _seeded(fn: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(0)
        return fn()

    build.__name__ = fn.__name__
    return build


# --- small models -------------------------------------------------------------------------


def mlp(act: type[nn.Module] = nn.ReLU, width: int = 256, depth: int = 6, out: int = 10):
    """``depth`` Linear layers of ``width`` with ``act`` between them, then a head."""
    layers: list[nn.Module] = [nn.Linear(64, width), act()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), act()]
    layers.append(nn.Linear(width, out))
    return nn.Sequential(*layers)


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


class Block(nn.Module):
    """A pre-LN transformer MLP block: ``x + fc2(gelu(fc1(ln(x))))``."""

    def __init__(self, d: int = 128) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(F.gelu(self.fc1(self.ln(x))))


class PreLN(nn.Module):
    """Two pre-LN blocks, a final LayerNorm and a classifier head."""

    def __init__(self, d: int = 128) -> None:
        super().__init__()
        self.inp = nn.Linear(32, d)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.norm(self.blocks(self.inp(x))))


def gpt_init(model: nn.Module, std: float = 0.02) -> nn.Module:
    """GPT-2's init: normal(0, std) weights, zero biases, LayerNorm at (1, 0)."""
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class PostLN(nn.Module):
    """A BERT-style post-LN encoder: ``ln(x + attn(x))``, ``ln(x + ffn(x))``, twice."""

    def __init__(self, d: int = 64, vocab: int = 200) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList(
            nn.TransformerEncoderLayer(d, 4, 4 * d, dropout=0.0, batch_first=True) for _ in range(2)
        )
        self.head = nn.Linear(d, vocab)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)


def bert_init(model: nn.Module, norm: Callable[[nn.LayerNorm], None] | None = None) -> nn.Module:
    """BERT's ``init_bert_weights``: normal(0, 0.02) for Linear and Embedding weights; the
    LayerNorm as ``norm`` leaves it (default: weight 1, bias 0)."""
    for m in model.modules():
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.LayerNorm):
            if norm is None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            else:
                norm(m)
    for m in model.modules():  # nn.MultiheadAttention's packed projection
        if isinstance(m, nn.MultiheadAttention):
            nn.init.normal_(m.in_proj_weight, 0.0, 0.02)
            nn.init.zeros_(m.in_proj_bias)
    return model


def token_ids() -> torch.Tensor:
    return torch.randint(1, 200, (2, 16))


def tiny_llama(**overrides: Any) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=256,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        **overrides,
    )
    return LlamaForCausalLM(config)


def on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build on the meta device and materialize with ``to_empty`` (values unwritten)."""
    with torch.device("meta"):
        model = build()
    return model.to_empty(device="cpu")


def llama_ids() -> torch.Tensor:
    return torch.randint(0, 256, (2, 16))


# --- the reported bugs --------------------------------------------------------------------


@_seeded
def trunc_outliers() -> nn.Module:
    model = gpt_init(PreLN())
    w = model.blocks[0].fc1.weight
    nn.init.trunc_normal_(w, mean=0.0, std=0.02, a=-2.0, b=2.0)
    # What the thread measured on a GPU (float32 erfinv at the clamp): a few values at the
    # bound, thousands of std out. CPU draws do not show it, so the values are written.
    with torch.no_grad():
        w.view(-1)[[7, 1031, 20011, 40000]] = torch.tensor([2.0, -2.0, 2.0, -2.0])
    return model


@_seeded
def trunc_fixed() -> nn.Module:
    model = gpt_init(PreLN())
    nn.init.trunc_normal_(model.blocks[0].fc1.weight, 0.0, 0.02, -0.04, 0.04)
    return model


def _per_shard(weight: torch.Tensor, dim: int, tp: int, init: Callable[[torch.Tensor], Any]):
    """Megatron's ``_initialize_affine_weight_gpu``: the init function runs on each
    rank's shard, so fan-dependent schemes read the shard's fans."""
    with torch.no_grad():
        for shard in weight.chunk(tp, dim=dim):
            block = torch.empty_like(shard)
            init(block)
            shard.copy_(block)


def _kaiming(t: torch.Tensor) -> None:
    nn.init.kaiming_normal_(t, nonlinearity="relu")


@_seeded
def shard_fans() -> nn.Module:
    model = mlp(width=512, depth=4)
    for i, lin in enumerate(linears(model)[:-1]):
        if i % 2 == 1:  # row-parallel: in_features split over 8 ranks
            _per_shard(lin.weight, 1, 8, _kaiming)
        else:
            _kaiming(lin.weight)
        nn.init.zeros_(lin.bias)
    return model


@_seeded
def he_mlp_512() -> nn.Module:
    model = mlp(width=512, depth=4)
    for lin in linears(model)[:-1]:
        _kaiming(lin.weight)
        nn.init.zeros_(lin.bias)
    return model


def _same_seed_shards(weight: torch.Tensor, dim: int, tp: int) -> None:
    """Every rank seeds its generator alike and draws its own shard: the shards agree."""
    with torch.no_grad():
        for shard in weight.chunk(tp, dim=dim):
            torch.manual_seed(1234)
            block = torch.empty_like(shard)
            _kaiming(block)
            shard.copy_(block)


def _identical(dim: int) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        model = he_mlp_512()
        _same_seed_shards(linears(model)[1].weight, dim, 4)
        return model

    return build


@_seeded
def norm_nan() -> nn.Module:
    model = on_meta(tiny_llama)
    for m in model.modules():  # HF's _init_weights as llm-foundry called it: no norms
        if isinstance(m, nn.Linear | nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
    with torch.no_grad():  # never written: the thread saw NaN there
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.fill_(float("nan"))
    return model


@_seeded
def llama_fixed() -> nn.Module:
    return tiny_llama()


@_seeded
def all_zero_llama() -> nn.Module:
    # to_empty, then init_weights() returns at once (_is_hf_initialized already set):
    # "a from scratch model with weights like just the result of to_empty (usually all
    # zero weights)".
    model = on_meta(tiny_llama)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


class PadLM(nn.Module):
    """An embedding with a padding row, RMSNorm blocks and a head (a Kimi-style layout)."""

    def __init__(self, vocab: int = 256, d: int = 64) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d, padding_idx=0)
        self.norm1 = nn.RMSNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.SiLU(), nn.Linear(4 * d, d))
        self.norm2 = nn.RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embed(ids)
        x = x + self.mlp(self.norm1(x))
        return self.head(self.norm2(x))


def _padlm_init(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, 0.0, 0.02)
            with torch.no_grad():
                m.weight[m.padding_idx].zero_()
    return model


@_seeded
def padlm_zero() -> nn.Module:
    # The sharded embedding with a padding_idx made the Checkpointer skip the whole
    # init: every parameter stayed as to_empty left it (all zero on every rank).
    model = on_meta(PadLM)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model


@_seeded
def padlm_fixed() -> nn.Module:
    return _padlm_init(PadLM())


class SepConv(nn.Module):
    """Depthwise-separable convolutions without normalization."""

    def __init__(self, c: int = 32, blocks: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, c, 3, padding=1), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(c, c, 3, padding=1, groups=c), nn.ReLU()]
            layers += [nn.Conv2d(c, c, 1), nn.ReLU()]
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


def _sepconv(mode: str) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        model = SepConv()
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return model

    return build


def image() -> torch.Tensor:
    return torch.randn(2, 3, 16, 16)


@_seeded
def bound_is_std() -> nn.Module:
    model = mlp()
    for lin in linears(model)[:-1]:
        std = math.sqrt(2.0 / lin.in_features)
        nn.init.uniform_(lin.weight, -std, std)  # the std passed as the bound
        nn.init.zeros_(lin.bias)
    return model


@_seeded
def he_mlp() -> nn.Module:
    model = mlp()
    for lin in linears(model)[:-1]:
        _kaiming(lin.weight)
        nn.init.zeros_(lin.bias)
    return model


@_seeded
def torch_default_relu() -> nn.Module:
    return mlp()


class Bag(nn.Module):
    def __init__(self, padding_idx: int | None = 0) -> None:
        super().__init__()
        self.embed = nn.Embedding(200, 64, padding_idx=padding_idx)
        self.fc = nn.Linear(64, 64)
        self.head = nn.Linear(64, 5)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.fc(self.embed(ids).mean(1))))


@_seeded
def padding_overwritten() -> nn.Module:
    model = Bag()
    model.embed.weight.data.normal_(0, 0.1)  # after the constructor zeroed the padding row
    return model


@_seeded
def padding_kept() -> nn.Module:
    model = Bag()
    model.embed.weight.data.normal_(0, 0.1)
    with torch.no_grad():
        model.embed.weight[0].zero_()
    return model


@_seeded
def fairseq_none_padding() -> nn.Module:
    model = Bag(padding_idx=None)
    w = model.embed.weight
    nn.init.normal_(w, mean=0, std=64**-0.5)
    nn.init.constant_(w[None], 0)  # padding_idx is None: w[None] is the whole table
    return model


@_seeded
def fairseq_fixed() -> nn.Module:
    model = Bag(padding_idx=None)
    nn.init.normal_(model.embed.weight, mean=0, std=64**-0.5)
    return model


def _bert_norm_normal(m: nn.LayerNorm) -> None:
    m.weight.data.normal_(mean=0.0, std=0.02)  # gamma drawn like a weight
    m.bias.data.normal_(mean=0.0, std=0.02)


def _objax_swap(m: nn.LayerNorm) -> None:
    nn.init.zeros_(m.weight)  # g and b swapped
    nn.init.ones_(m.bias)


def _bert(norm: Callable[[nn.LayerNorm], None] | None) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        return bert_init(PostLN(), norm)

    return build


class LMHead(nn.Module):
    """Embedding, two pre-LN blocks, a final norm and an untied vocabulary projection."""

    def __init__(self, vocab: int = 512, d: int = 256) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.norm = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.norm(self.blocks(self.embed(ids))))


def lm_ids() -> torch.Tensor:
    return torch.randint(0, 512, (2, 16))


def _t5_head(std: Callable[[int], float]) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        model = gpt_init(LMHead())
        nn.init.normal_(model.embed.weight, 0.0, 1.0)  # T5 scales its embedding by 1.0
        d = model.lm_head.in_features
        nn.init.normal_(model.lm_head.weight, 0.0, std(d))
        return model

    return build


class TiedLM(nn.Module):
    """mup's Transformer example: the readout shares the input embedding's weight."""

    def __init__(self, vocab: int = 512, d: int = 256) -> None:
        super().__init__()
        self.encoder = nn.Embedding(vocab, d)
        self.blocks = nn.Sequential(Block(d), Block(d))
        self.norm = nn.LayerNorm(d)
        self.decoder = nn.Linear(d, vocab, bias=False)
        self.decoder.weight = self.encoder.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.norm(self.blocks(self.encoder(ids))))


@_seeded
def tied_embedding_default() -> nn.Module:
    model = gpt_init(TiedLM())
    nn.init.normal_(model.encoder.weight, 0.0, 1.0)  # nn.Embedding's N(0, 1), now the readout
    return model


@_seeded
def tied_embedding_fixed() -> nn.Module:
    return gpt_init(TiedLM()).apply(
        lambda m: nn.init.normal_(m.weight, 0.0, 0.02) if isinstance(m, nn.Embedding) else None
    )


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(64, 128, batch_first=True)
        self.head = nn.Linear(128, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0][:, -1])


def _lstm(init: Callable[[nn.LSTM], None]) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        model = Recurrent()
        init(model.lstm)
        return model

    return build


def _orthogonal_whole(lstm: nn.LSTM) -> None:
    nn.init.orthogonal_(lstm.weight_ih_l0, 1.0)
    nn.init.orthogonal_(lstm.weight_hh_l0, 1.0)  # one 4H x H matrix: no gate is orthogonal


def _xavier_whole(lstm: nn.LSTM) -> None:
    nn.init.xavier_uniform_(lstm.weight_ih_l0)
    nn.init.xavier_uniform_(lstm.weight_hh_l0)  # Glorot over the packed 4H x H


def _orthogonal_gates(lstm: nn.LSTM) -> None:
    h = lstm.hidden_size
    with torch.no_grad():
        for name in ("weight_ih_l0", "weight_hh_l0"):
            w = getattr(lstm, name)
            for k in range(4):
                nn.init.orthogonal_(w[k * h : (k + 1) * h], 1.0)


def sequence() -> torch.Tensor:
    return torch.randn(2, 12, 64)


def selu_mlp() -> nn.Module:
    return mlp(act=nn.SELU, width=256, depth=6)


def _selu(init: Callable[[nn.Linear], None] | None) -> Callable[[], nn.Module]:
    @_seeded
    def build() -> nn.Module:
        model = selu_mlp()
        if init is not None:
            for lin in linears(model):
                init(lin)
        return model

    return build


def _dcgan_normal(lin: nn.Linear) -> None:
    nn.init.normal_(lin.weight, 0.0, 0.02)
    nn.init.zeros_(lin.bias)


def _selu_gain(lin: nn.Linear) -> None:
    nn.init.kaiming_normal_(lin.weight, nonlinearity="selu")  # torch's SELU gain is 3/4
    nn.init.zeros_(lin.bias)


def _lecun(lin: nn.Linear) -> None:
    nn.init.kaiming_normal_(lin.weight, nonlinearity="linear")
    nn.init.zeros_(lin.bias)


def features() -> torch.Tensor:
    return torch.randn(8, 64)


def tokens32() -> torch.Tensor:
    return torch.randn(4, 32)


#: Bound on a fixture's example inputs where the tracer's inference is not wanted.
FIXTURES: tuple[Fixture, ...] = (
    Fixture(
        "trunc-normal-outliers",
        "pytorch/pytorch#155588",
        "trunc_normal_(std=0.001..0.02, a=-2, b=2) in float32 puts values at the clamp "
        "bound, thousands of std out (values written as the thread measured them on a GPU)",
        trunc_outliers,
        trunc_fixed,
        "blocks.0.fc1.weight",
        ("IP120",),
        example_inputs=tokens32,
    ),
    Fixture(
        "trunc-normal-absolute-bounds",
        "huggingface/pytorch-image-models#1286",
        "trunc_normal_(std=.02) with the default a=-2, b=2: the bounds are absolute, so "
        "nothing is truncated (TF truncates at 2 std)",
        _seeded(PreLN),
        _seeded(PreLN),
        "inp.weight",
        ("IP302",),
        policy="Linear -> trunc_normal(0, 0.02)\nbias -> zeros()",
        fixed_policy="Linear -> trunc_normal(0, 0.02, -0.04, 0.04)\nbias -> zeros()",
        example_inputs=tokens32,
    ),
    Fixture(
        "trunc-normal-default-bounds-fms",
        "foundation-model-stack/foundation-model-stack#289",
        "FeedForwardBlock's trunc_normal_ at std 0.02 without a, b: values may reach ±2",
        _seeded(PreLN),
        _seeded(PreLN),
        "blocks.0.fc1.weight",
        ("IP302",),
        policy='Linear named "blocks.*" -> trunc_normal(0, 0.02, -2, 2)\nbias -> zeros()',
        fixed_policy=(
            'Linear named "blocks.*" -> trunc_normal(0, 0.02, -0.04, 0.04)\nbias -> zeros()'
        ),
        example_inputs=tokens32,
    ),
    Fixture(
        "fans-from-tensor-parallel-shard",
        "NVIDIA-NeMo/Megatron-Bridge#5840",
        "the init function runs on each rank's shard, so kaiming reads fan_in/TP: std "
        "grows by sqrt(TP) (√8 here) on row-parallel layers",
        shard_fans,
        he_mlp_512,
        "2.weight",
        ("IP103", "IP104"),
        example_inputs=features,
    ),
    Fixture(
        "same-shard-on-every-rank-rows",
        "allenai/OLMo-core#307",
        "every rank seeds alike and draws its own shard: a column-parallel weight is 4 "
        "identical row blocks",
        _identical(0),
        he_mlp_512,
        "2.weight",
        ("IP121",),
        example_inputs=features,
    ),
    Fixture(
        "same-shard-on-every-rank-columns",
        "allenai/OLMo-core#307",
        "the same, row-parallel: the weight is 4 identical column blocks (each input "
        "quarter sees the same weights)",
        _identical(1),
        he_mlp_512,
        "2.weight",
        ("IP121",),
        example_inputs=features,
    ),
    Fixture(
        "meta-init-skips-rmsnorm",
        "mosaicml/llm-foundry#1745",
        "meta-device FSDP init: _init_weights skips RMSNorm, which keeps to_empty's memory "
        "(NaN, as the thread reports)",
        norm_nan,
        llama_fixed,
        "model.layers.0.input_layernorm.weight",
        ("IP122",),
        example_inputs=llama_ids,
    ),
    Fixture(
        "hf-initialized-flag-leaves-zeros",
        "ByteDance-Seed/VeOmni#163",
        "post_init set _is_hf_initialized, so init_weights after to_empty did nothing: "
        "all weights zero",
        all_zero_llama,
        llama_fixed,
        "model.layers.0.self_attn.q_proj.weight",
        ("IP101",),
        example_inputs=llama_ids,
    ),
    Fixture(
        "padding-idx-skips-whole-init",
        "NVIDIA-NeMo/Automodel#3808",
        "an embedding with padding_idx made the init skip every parameter: all zero, "
        "every RMSNorm weight 0",
        padlm_zero,
        padlm_fixed,
        "norm1.weight",
        ("IP123",),
        example_inputs=llama_ids,
    ),
    Fixture(
        "depthwise-fan-out",
        "pytorch/pytorch#23854",
        "_calculate_fan_in_and_fan_out counts every output channel of a depthwise conv: "
        "kaiming fan_out draws it sqrt(groups) too small",
        _sepconv("fan_out"),
        _sepconv("fan_in"),
        "features.2.weight",
        ("IP103", "IP105"),
        example_inputs=image,
    ),
    Fixture(
        "uniform-bound-is-std",
        "keras-team/keras#372",
        "the standard deviation passed as the uniform bound: std off by sqrt(3)",
        bound_is_std,
        he_mlp,
        "2.weight",
        ("IP103", "IP105"),
        example_inputs=features,
    ),
    Fixture(
        "torch-default-before-relu",
        "pytorch/pytorch#1667",
        "Linear's reset_parameters draws uniform(-1/sqrt(fan_in), ..): std 1/sqrt(3 fan_in), "
        "below He's before ReLU",
        torch_default_relu,
        he_mlp,
        "2.weight",
        ("IP106", "IP103"),
        example_inputs=features,
    ),
    Fixture(
        "padding-row-overwritten",
        "pytorch/pytorch#6495",
        "a custom normal_ on an Embedding with padding_idx overwrites the zero padding row",
        padding_overwritten,
        padding_kept,
        "embed.weight",
        ("IP124",),
        example_inputs=token_ids,
    ),
    Fixture(
        "padding-none-zeroes-table",
        "facebookresearch/fairseq#4076",
        "constant_(weight[padding_idx], 0) with padding_idx None zeroes the whole table",
        fairseq_none_padding,
        fairseq_fixed,
        "embed.weight",
        ("IP101",),
        example_inputs=token_ids,
    ),
    Fixture(
        "bert-layernorm-gamma-normal",
        "huggingface/transformers#143",
        "init_bert_weights drew LayerNorm gamma and beta from normal(0, 0.02)",
        _bert(_bert_norm_normal),
        _bert(None),
        "layers.0.norm1.weight",
        ("IP123",),
        example_inputs=token_ids,
    ),
    Fixture(
        "layernorm-gain-and-bias-swapped",
        "google/objax#94",
        "LayerNorm g initialized with zeros and b with ones: the layer outputs 1, not x",
        _bert(_objax_swap),
        _bert(None),
        "layers.0.norm1.weight",
        ("IP123",),
        example_inputs=token_ids,
    ),
    Fixture(
        "t5-lm-head-unit-std",
        "huggingface/transformers#16749",
        "T5's untied lm_head drawn at std 1: logits of variance d_model, initial loss ~110",
        _t5_head(lambda d: 1.0),
        _t5_head(lambda d: d**-0.5),
        "lm_head.weight",
        ("IP220",),
        example_inputs=lm_ids,
    ),
    Fixture(
        "nanot5-lm-head-unit-std",
        "PiotrNawrot/nanoT5#25",
        "nanoT5 copied HF's lm_head init: std 1, 768x too much variance",
        _t5_head(lambda d: 1.0),
        _t5_head(lambda d: d**-0.5),
        "lm_head.weight",
        ("IP220",),
        example_inputs=lm_ids,
    ),
    Fixture(
        "tied-readout-embedding-scale",
        "microsoft/mup#55",
        "the readout tied to an embedding left at nn.Embedding's N(0, 1): logits of std sqrt(d)",
        tied_embedding_default,
        tied_embedding_fixed,
        "encoder.weight",
        ("IP220",),
        example_inputs=lm_ids,
    ),
    Fixture(
        "lstm-orthogonal-packed",
        "vwxyzjn/cleanrl#358",
        "orthogonal_ on the packed 4H x H weight_hh: no gate's block is orthogonal",
        _lstm(_orthogonal_whole),
        _lstm(_orthogonal_gates),
        "lstm.weight_hh_l0",
        ("IP111",),
        example_inputs=sequence,
    ),
    Fixture(
        "lstm-glorot-packed",
        "clab/dynet#348",
        "Glorot over the packed 4H x H matrices instead of per gate",
        _lstm(_xavier_whole),
        _lstm(_orthogonal_gates),
        "lstm.weight_hh_l0",
        ("IP111",),
        example_inputs=sequence,
    ),
    Fixture(
        "selu-dcgan-normal",
        "AlexiaJM/Deep-learning-with-cats#11",
        "SELU layers drawn at DCGAN's normal(0, 0.02) instead of lecun's 1/sqrt(fan_in)",
        _selu(_dcgan_normal),
        _selu(_lecun),
        "2.weight",
        ("IP107", "IP103", "IP105"),
        example_inputs=features,
    ),
    Fixture(
        "selu-torch-default",
        "cchallu/nbeatsx#1",
        "'lecun_normal' mapped to pass: SELU layers keep torch's uniform default",
        _selu(None),
        _selu(_lecun),
        "2.weight",
        ("IP107",),
        example_inputs=features,
    ),
    Fixture(
        "selu-gain-three-quarters",
        "pytorch/pytorch#53694",
        "kaiming_normal_(nonlinearity='selu') uses torch's SELU gain 3/4, not the paper's 1",
        _selu(_selu_gain),
        _selu(_lecun),
        "2.weight",
        ("IP107",),
        example_inputs=features,
    ),
    Fixture(
        "bert-layernorm-init-pr",
        "huggingface/transformers#171",
        "LayerNorm gamma and beta re-initialized as weights (gamma ~ 0): fixed by fill_(1), "
        "zero_() (second model: the last norm of the stack)",
        _bert(_bert_norm_normal),
        _bert(None),
        "layers.1.norm2.weight",
        ("IP123",),
        example_inputs=token_ids,
    ),
)
