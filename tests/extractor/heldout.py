"""The init code of issue 19, written as training repos write it, each buildable at several
sizes (``SIZES[name]``: keyword arguments of the constructor, the first the default):
SIREN, a value grid, an identity copy, nanoGPT (with its residual scaling by n_layer and
by block index), Fixup, the word language model, an LSTM with torch's default init and
one whose forget-gate bias is set by slices, a Reformer-like ParameterList, DCGAN's
``weights_init``, T5-like sizes read from a config, wav2vec2-like weight_norm layers,
RWKV-like gains that test a Linear's shape against the config, and a transformers-style init
through a config alias and positional arguments."""

from __future__ import annotations

import dataclasses
import itertools
import math
import warnings
from typing import Any

import torch
from torch import nn


class Siren(nn.Module):
    """SIREN (Sitzmann et al. 2020): sine layers, the first uniform(-1/in, 1/in), the
    others uniform(-sqrt(6/in)/w0, sqrt(6/in)/w0); torch's default biases."""

    def __init__(self, d_in: int = 2, hidden: int = 256, layers: int = 3, w0: float = 30.0):
        super().__init__()
        dims = [d_in] + [hidden] * layers
        self.net = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(dims))
        self.out = nn.Linear(hidden, 1)
        self.w0 = w0
        with torch.no_grad():
            for i, layer in enumerate([*self.net, self.out]):
                n = layer.in_features
                bound = 1 / n if i == 0 else math.sqrt(6 / n) / w0
                layer.weight.uniform_(-bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = torch.sin(self.w0 * layer(x))
        return self.out(x)


class Grid(nn.Module):
    """A learned value grid (``torch.linspace``) next to a plain Linear."""

    def __init__(self, n: int = 256):
        super().__init__()
        self.grid = nn.Parameter(torch.linspace(0, 1, n))
        self.fc = nn.Linear(n, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x * self.grid)


class Identity(nn.Module):
    """A square layer started at the identity by ``copy_(torch.eye(n))``."""

    def __init__(self, n: int = 32):
        super().__init__()
        self.mix = nn.Linear(n, n, bias=False)
        self.head = nn.Linear(n, 4)
        with torch.no_grad():
            self.mix.weight.copy_(torch.eye(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.mix(x))


class _Attn(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_attn = nn.Linear(d, 3 * d)
        self.c_proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.c_attn(x).chunk(3, dim=-1)
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1)
        return self.c_proj(a @ v)


class _Mlp(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.c_fc = nn.Linear(d, 4 * d)
        self.c_proj = nn.Linear(4 * d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(nn.functional.gelu(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d)
        self.attn = _Attn(d)
        self.ln_2 = nn.LayerNorm(d)
        self.mlp = _Mlp(d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class NanoGPT(nn.Module):
    """nanoGPT's ``_init_weights`` (every Linear and Embedding N(0, 0.02), biases 0) and its
    residual projections N(0, 0.02/sqrt(2 * n_layer)); ``by_index``: scaled by the block
    index instead, 0.02/sqrt(2 * (i + 1))."""

    def __init__(self, vocab: int = 96, d: int = 64, n_layer: int = 4, by_index: bool = False):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(32, d)
        self.h = nn.ModuleList(Block(d) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.apply(self._init_weights)
        for i, block in enumerate(self.h):
            for proj in (block.attn.c_proj, block.mlp.c_proj):
                std = 0.02 / math.sqrt(2 * (i + 1)) if by_index else 0.02 / math.sqrt(2 * n_layer)
                nn.init.normal_(proj.weight, mean=0.0, std=std)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        return self.lm_head(self.ln_f(x))


class DepthIndexedGPT(NanoGPT):
    def __init__(self, vocab: int = 96, d: int = 64, n_layer: int = 4):
        super().__init__(vocab, d, n_layer, by_index=True)


class FixupBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.bias1a = nn.Parameter(torch.zeros(1))
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bias1b = nn.Parameter(torch.zeros(1))
        self.bias2a = nn.Parameter(torch.zeros(1))
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.scale = nn.Parameter(torch.ones(1))
        self.bias2b = nn.Parameter(torch.zeros(1))
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.relu(self.conv1(x + self.bias1a) + self.bias1b)
        out = self.conv2(out + self.bias2a) * self.scale + self.bias2b
        skip = x if self.down is None else self.down(x + self.bias1a)
        return torch.relu(out + skip)


class FixupResNet(nn.Module):
    """Fixup (Zhang et al. 2019), as its reference code initializes it: each block's first
    conv He-normal (fan_out) scaled by L^-1/2 (L blocks), its second conv and the
    classifier zero, scalar biases 0 and scales 1."""

    def __init__(self, blocks: tuple[int, ...] = (2, 2, 2), width: int = 16, classes: int = 10):
        super().__init__()
        self.num_layers = sum(blocks)
        self.conv1 = nn.Conv2d(3, width, 3, padding=1, bias=False)
        self.bias1 = nn.Parameter(torch.zeros(1))
        layers: list[nn.Module] = []
        cin = width
        for stage, n in enumerate(blocks):
            cout = width * 2**stage
            for k in range(n):
                layers.append(FixupBlock(cin, cout, 2 if stage and k == 0 else 1))
                cin = cout
        self.layers = nn.Sequential(*layers)
        self.bias2 = nn.Parameter(torch.zeros(1))
        self.fc = nn.Linear(cin, classes)
        for m in self.modules():
            if isinstance(m, FixupBlock):
                w = m.conv1.weight
                std = math.sqrt(2 / (w.shape[0] * math.prod(w.shape[2:])))
                nn.init.normal_(w, mean=0, std=std * self.num_layers**-0.5)
                nn.init.constant_(m.conv2.weight, 0)
                if m.down is not None:
                    d = m.down.weight
                    nn.init.normal_(
                        d, mean=0, std=math.sqrt(2 / (d.shape[0] * d.shape[2] * d.shape[3]))
                    )
            elif isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 0)
                nn.init.constant_(m.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x) + self.bias1)
        x = self.layers(x).mean((2, 3))
        return self.fc(x + self.bias2)


class WordLM(nn.Module):
    """pytorch/examples' word language model: the embedding and decoder uniform(-0.1, 0.1),
    the decoder bias 0, the LSTM as torch builds it (uniform(-1/sqrt(nhid), ...))."""

    def __init__(self, ntoken: int = 100, ninp: int = 64, nhid: int = 64, nlayers: int = 2):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers)
        self.decoder = nn.Linear(nhid, ntoken)
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.encoder(x))
        return self.decoder(out)


class DefaultLSTM(nn.Module):
    """An LSTM left as torch initializes it, a Linear head."""

    def __init__(self, d: int = 128, hidden: int = 256, layers: int = 2):
        super().__init__()
        self.lstm = nn.LSTM(d, hidden, layers, batch_first=True)
        self.head = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.lstm(x)[0])


class ForgetGateLSTM(DefaultLSTM):
    """torch's default LSTM, then every bias's forget-gate slice set to 1 (the common
    snippet: ``bias.data[n // 4 : n // 2].fill_(1.0)``)."""

    def __init__(self, d: int = 128, hidden: int = 256, layers: int = 2):
        super().__init__(d, hidden, layers)
        for names in self.lstm._all_weights:
            for name in filter(lambda n: "bias" in n, names):
                bias = getattr(self.lstm, name)
                n = bias.size(0)
                bias.data[n // 4 : n // 2].fill_(1.0)


class AxialEmbeddings(nn.Module):
    """Reformer's axial position embeddings: a ParameterList drawn N(0, std)."""

    def __init__(self, d: int = 32, shape: tuple[int, int] = (8, 8), std: float = 1.0):
        super().__init__()
        half = d // 2
        self.weights = nn.ParameterList(
            nn.Parameter(torch.empty(1, shape[0], 1, half)) for _ in range(2)
        )
        self.weights[1] = nn.Parameter(torch.empty(1, 1, shape[1], d - half))
        for w in self.weights:
            nn.init.normal_(w, std=std)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pos = self.weights[0] + self.weights[1].sum()
        return self.proj(x + pos.reshape(-1)[: x.shape[-1]])


def dcgan_weights_init(m: nn.Module) -> None:
    """pytorch/examples' DCGAN ``weights_init``, applied with ``net.apply``: dispatch on the
    class name, convolutions N(0, 0.02), BatchNorm weights N(1, 0.02) and biases 0."""
    classname = m.__class__.__name__
    if classname.find("Conv") != -1:
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif classname.find("BatchNorm") != -1:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """pytorch/examples' DCGAN generator (transposed convolutions, BatchNorm, ReLU, Tanh)
    initialized by ``apply(weights_init)``."""

    def __init__(self, nz: int = 32, ngf: int = 16, nc: int = 3):
        super().__init__()
        chans = [nz, ngf * 8, ngf * 4, ngf * 2, ngf]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(chans)):
            layers += [
                nn.ConvTranspose2d(a, b, 4, 1 if i == 0 else 2, 0 if i == 0 else 1, bias=False),
                nn.BatchNorm2d(b),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)
        self.apply(dcgan_weights_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


@dataclasses.dataclass
class SizedConfig:
    """A model config as training repos keep one: sizes the init code reads."""

    d_model: int = 32
    d_head: int = 16
    n_heads: int = 2
    n_buckets: int = 32


class ConfigSized(nn.Module):
    """T5's attention init with a config: the query N(0, (d_model * d_head) ** -0.5) and a
    relative-position table (buckets x heads) N(0, d_model ** -0.5), sizes no fan of
    theirs carries (the table's fan_out is the bucket count, 32 like d_model here)."""

    def __init__(self, d_model: int = 32, d_head: int = 16, n_buckets: int = 32):
        super().__init__()
        self.config = SizedConfig(d_model, d_head, 2, n_buckets)
        c = self.config
        self.q = nn.Linear(c.d_model, c.n_heads * c.d_head, bias=False)
        self.k = nn.Linear(c.d_model, c.n_heads * c.d_head, bias=False)
        self.table = nn.Embedding(c.n_buckets, c.n_heads)
        self._init_weights()

    def _init_weights(self) -> None:
        c = self.config
        nn.init.normal_(self.q.weight, std=(c.d_model * c.d_head) ** -0.5)
        nn.init.normal_(self.k.weight, std=c.d_model**-0.5)
        nn.init.normal_(self.table.weight, std=c.d_model**-0.5)


class WeightNormConv(nn.Module):
    """wav2vec2's positional convolution: a Conv1d under weight_norm (the
    parametrization and the legacy hook) left as torch made it, so g is the norm of v."""

    def __init__(self, d: int = 32, k: int = 8, groups: int = 2):
        super().__init__()
        conv = nn.Conv1d(d, d, k, padding=k // 2, groups=groups)
        self.conv = nn.utils.parametrizations.weight_norm(conv, name="weight", dim=2)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy weight_norm is deprecated
            self.proj = nn.utils.weight_norm(nn.Linear(d, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.conv(x).transpose(1, 2))


class RGLRU(nn.Module):
    """RecurrentGemma's RG-LRU gate: ``recurrent_param`` is ``log(1 / sqrt(u) - 1)`` with
    u ~ U(0.81, 0.998), drawn into a scratch tensor, transformed in place and copied in
    (transformers' ``_init_weights``), next to a Linear N(0, 0.02)."""

    def __init__(self, width: int = 64, heads: int = 4):
        super().__init__()
        self.recurrent_param = nn.Parameter(torch.empty(width))
        self.gate = nn.Linear(width, width // heads)
        nn.init.normal_(self.gate.weight, std=0.02)
        nn.init.zeros_(self.gate.bias)
        with torch.no_grad():
            u = torch.empty_like(self.recurrent_param).uniform_(0.9**2 + 1e-8, 0.999**2 + 1e-8)
            u.log_().mul_(0.5).neg_().exp_().sub_(1.0).log_()
            self.recurrent_param.copy_(u)


@dataclasses.dataclass
class LMConfig:
    """A language model's sizes, as its init code reads them."""

    vocab_size: int = 96
    hidden_size: int = 32
    intermediate_size: int = 64
    initializer_range: float = 0.02


class ShapeTested(nn.Module):
    """RWKV's init, written out: every Linear orthogonal with gain ``sqrt(out / in)`` where
    it widens (1 elsewhere), halved where its shape is the head's ``(vocab, hidden)``; the
    embedding's gain ``1e-4 * sqrt(max(shape))``. At the default size only the head has
    the head's shape and the vocabulary is the wider side of the embedding; at size 1 the
    feed-forward's up projection has it too (intermediate == vocab), at size 2 the
    vocabulary is narrower than the width."""

    def __init__(self, vocab: int = 96, hidden: int = 32, inter: int = 64, layers: int = 2):
        super().__init__()
        self.config = LMConfig(vocab, hidden, inter)
        self.emb = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, inter), nn.ReLU(), nn.Linear(inter, hidden))
            for _ in range(layers)
        )
        self.head = nn.Linear(hidden, vocab, bias=False)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            out_features, in_features = module.weight.shape
            gain = 1.0
            if out_features > in_features:
                gain = math.sqrt(out_features / in_features)
            if (out_features, in_features) == (self.config.vocab_size, self.config.hidden_size):
                gain *= 0.5  # the head, by its shape
            nn.init.orthogonal_(module.weight, gain=gain)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            shape = module.weight.shape
            nn.init.orthogonal_(module.weight, gain=1e-4 * math.sqrt(max(shape[0], shape[1])))


class VocabScaled(nn.Module):
    """A transformers-style ``_init_weights`` through a config alias, a tensor method's
    positional arguments, and a test on the shape: embeddings and Linears N(0,
    initializer_range), those with the vocabulary's rows N(0, 0.02 / sqrt(2)). At size 1
    the up projection has the vocabulary's rows (intermediate == vocab) and is scaled
    too; at size 2 initializer_range is another number."""

    def __init__(self, vocab: int = 100, hidden: int = 32, inter: int = 64, init: float = 0.02):
        super().__init__()
        self.config = LMConfig(vocab, hidden, inter, init)
        self.emb = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden, inter), nn.GELU(), nn.Linear(inter, hidden))
            for _ in range(2)
        )
        self.head = nn.Linear(hidden, vocab)
        self.apply(self._init_weights)

    def _init_weights(self, module: nn.Module) -> None:
        cfg = self.config
        if isinstance(module, (nn.Linear, nn.Embedding)):
            std = cfg.initializer_range
            if module.weight.shape[0] == cfg.vocab_size:
                std = 0.02 / math.sqrt(2)
            module.weight.data.normal_(0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                module.bias.data.zero_()


#: name -> (class, its sizes: keyword arguments, the first the default one)
SIZES: dict[str, tuple[type[nn.Module], tuple[dict[str, Any], ...]]] = {
    "siren": (Siren, ({}, {"hidden": 128, "layers": 4}, {"hidden": 96, "layers": 2})),
    "grid": (Grid, ({}, {"n": 100}, {"n": 64})),
    "identity": (Identity, ({}, {"n": 48}, {"n": 20})),
    "nanogpt": (NanoGPT, ({}, {"d": 96, "n_layer": 6}, {"d": 48, "n_layer": 3})),
    "depth_indexed_gpt": (
        DepthIndexedGPT,
        ({}, {"d": 96, "n_layer": 8}, {"d": 48, "n_layer": 3}),
    ),
    "fixup": (
        FixupResNet,
        ({}, {"blocks": (3, 3, 3), "width": 8}, {"blocks": (1, 2), "width": 24}),
    ),
    "word_lm": (WordLM, ({}, {"ninp": 48, "nhid": 96}, {"ninp": 80, "nhid": 40, "nlayers": 3})),
    "default_lstm": (DefaultLSTM, ({}, {"d": 64, "hidden": 96}, {"hidden": 40, "layers": 3})),
    "forget_gate_lstm": (
        ForgetGateLSTM,
        ({}, {"d": 64, "hidden": 96}, {"hidden": 40, "layers": 3}),
    ),
    "axial": (AxialEmbeddings, ({}, {"d": 48}, {"d": 16, "std": 1.0})),
    "dcgan": (DCGANGenerator, ({}, {"nz": 64, "ngf": 32}, {"nz": 16, "ngf": 8, "nc": 1})),
    "config_sized": (
        ConfigSized,
        ({}, {"d_model": 64, "d_head": 8}, {"d_model": 48, "d_head": 32, "n_buckets": 16}),
    ),
    "weight_norm_conv": (WeightNormConv, ({}, {"d": 64, "k": 4}, {"d": 48, "groups": 4})),
    "rg_lru": (RGLRU, ({}, {"width": 256, "heads": 8}, {"width": 32, "heads": 2})),
    "shape_tested": (
        ShapeTested,
        ({}, {"hidden": 48, "inter": 96, "layers": 3}, {"vocab": 40, "hidden": 64, "inter": 128}),
    ),
    "vocab_scaled": (VocabScaled, ({}, {"hidden": 48, "inter": 100}, {"init": 0.05})),
}


def build(name: str, size: int = 0) -> nn.Module:
    cls, sizes = SIZES[name]
    return cls(**sizes[size])
