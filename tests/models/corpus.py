"""A corpus of models, each with the activation expected after every layer.

Other test suites reuse it: ``CASES[name].build()`` gives a fresh model,
``CASES[name].expected`` maps each layer (qualified name) to its activation, written
``mixed(a|b)`` for a mixed layer. Models are tiny so that the whole corpus traces fast.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# -- hand-written models ------------------------------------------------------------------


class MLPForms(nn.Module):
    """Module, functional, torch-namespace and method spellings of activations."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(8, 8)
        self.fc3 = nn.Linear(8, 8)
        self.fc4 = nn.Linear(8, 8)
        self.out = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.fc1(x))
        x = F.gelu(self.fc2(x), approximate="tanh")
        x = self.fc3(x).tanh()
        x = torch.sigmoid(self.fc4(x))
        return self.out(x)


def conv_bn_relu() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


class BasicBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int, stride: int = 2) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, mid, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.conv3 = nn.Conv2d(mid, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + self.downsample(x))


class ResNetTiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.block = BasicBlock(8)
        self.down = Bottleneck(8, 4, 16)
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn(self.stem(x)))
        x = self.down(self.block(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2: expand (relu6), depthwise (relu6), linear projection, residual."""

    def __init__(self, c: int, expand: int = 4) -> None:
        super().__init__()
        hidden = c * expand
        self.expand = nn.Sequential(
            nn.Conv2d(c, hidden, 1, bias=False), nn.BatchNorm2d(hidden), nn.ReLU6(inplace=True)
        )
        self.dw = nn.Sequential(
            nn.Conv2d(hidden, hidden, 3, padding=1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
        )
        self.project = nn.Conv2d(hidden, c, 1, bias=False)
        self.project_bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project_bn(self.project(self.dw(self.expand(x))))


class MobileNetTiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(InvertedResidual(4), InvertedResidual(4))
        self.classifier = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.blocks(x).mean(dim=(2, 3)))


class SqueezeExcite(nn.Module):
    def __init__(self, c: int, r: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(s))))


class SENet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8)
        self.se = SqueezeExcite(8)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x))
        y = self.se(self.bn2(self.conv2(x)))
        x = F.relu(x + y)
        return self.head(x.mean((2, 3)))


class Attention(nn.Module):
    def __init__(self, d: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(d, d)
        self.k = nn.Linear(d, d)
        self.v = nn.Linear(d, d)
        self.proj = nn.Linear(d, d)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        h = self.heads
        q = self.q(x).view(b, t, h, d // h).transpose(1, 2)
        k = self.k(x).view(b, t, h, d // h).transpose(1, 2)
        v = self.v(x).view(b, t, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (d // h) ** -0.5
        y = att.softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).reshape(b, t, d))


class TransformerBlock(nn.Module):
    def __init__(self, d: int = 16, heads: int = 2) -> None:
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.attn = Attention(d, heads)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)
        self.drop = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x))
        return x + self.drop(self.fc2(F.gelu(self.fc1(self.ln2(x)))))


class TinyGPT(nn.Module):
    def __init__(self, vocab: int = 32, d: int = 16) -> None:
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList([TransformerBlock(d), TransformerBlock(d)])
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.emb(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln_f(x))


class TorchEncoder(nn.Module):
    """torch's own TransformerEncoderLayer between an input projection and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(6, 16)
        self.layer = nn.TransformerEncoderLayer(
            16, 2, 32, dropout=0.0, activation="gelu", batch_first=True
        )
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layer(self.inp(x)))


class SwiGLU(nn.Module):
    def __init__(self, d: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.w1 = nn.Linear(d, hidden, bias=False)
        self.w3 = nn.Linear(d, hidden, bias=False)
        self.w2 = nn.Linear(hidden, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class LSTMClassifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 6)
        self.lstm = nn.LSTM(6, 5, batch_first=True)
        self.fc = nn.Linear(5, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, (_h, _c) = self.lstm(self.emb(ids))
        return self.fc(out[:, -1])


class LeakyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.act = nn.LeakyReLU(0.2)
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act(self.conv(x)).mean((2, 3))
        return self.out(F.leaky_relu(self.fc(x), 0.1))


class Decoder(nn.Module):
    """Linear -> ConvTranspose stack -> sigmoid image."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 8 * 4 * 4)
        self.up1 = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(4, 1, 4, stride=2, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(z)).view(-1, 8, 4, 4)
        x = F.elu(self.up1(x), alpha=0.5)
        return torch.sigmoid(self.up2(x))


class DataDependent(nn.Module):
    """Control flow on tensor values: torch.fx cannot trace it symbolically."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        h = torch.relu(h) if h.abs().sum() >= 0 else torch.tanh(h)
        return self.fc2(h)


class PaddingCheck(DataDependent):
    """A membership query on the input (``pad in ids``, transformers' padding warning):
    torch answers it with ``.item()`` inside ``Tensor.__contains__``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc1(x)
        h = torch.relu(h) if 0 in x[:, [-1, 0]] else torch.tanh(h)
        return self.fc2(h)


class DataDependentSize(nn.Module):
    """A size read from tensor values (``.item()``): no guess can stand in for it on meta."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        keep = int(x.abs().sum().item()) % 4 + 1
        return self.fc2(torch.relu(self.fc1(x))[..., :keep].repeat(1, 4)[..., :4])


class Parametrized(nn.Module):
    """weight_norm/spectral_norm weights: ``sn`` and ``wn`` own no parameter themselves
    (their tensors live in ``<mod>.parametrizations.weight``), ``out`` owns its bias; the
    transposed conv keeps its own fan layout under weight_norm."""

    def __init__(self) -> None:
        super().__init__()
        from torch.nn.utils.parametrizations import spectral_norm, weight_norm

        self.sn = spectral_norm(nn.Linear(4, 8, bias=False))
        self.wn = weight_norm(nn.Linear(8, 6, bias=False))
        self.up = weight_norm(nn.ConvTranspose1d(6, 3, 2, bias=False))
        self.out = weight_norm(nn.Linear(3, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.tanh(self.wn(torch.relu(self.sn(x))))
        h = F.silu(self.up(h.unsqueeze(-1))).mean(-1)
        return self.out(h)


class CalledTwice(nn.Module):
    """``shared`` runs twice and disagrees (relu, then tanh); ``same`` runs twice, agrees."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(4, 4)
        self.same = nn.Linear(4, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.shared(x))
        x = torch.tanh(self.shared(x))
        x = F.silu(self.same(x))
        x = F.silu(self.same(x))
        return self.out(x)


class DirectParams(nn.Module):
    """Parameters used directly: ``x @ W``, ``F.linear(x, W)``, a layer scale."""

    def __init__(self) -> None:
        super().__init__()
        self.w_in = nn.Parameter(torch.randn(4, 8))
        self.inner = nn.Module()
        self.inner.weight = nn.Parameter(torch.randn(3, 8))
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.gelu(x @ self.w_in)
        h = torch.tanh(F.linear(h, self.inner.weight))
        return self.fc(h)


class HardSwish(nn.Module):
    """A third-party activation (timm-style), recognized by its class name."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0


class ThirdPartyAct(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = HardSwish()
        self.prelu_fc = nn.Linear(4, 4)
        self.prelu = nn.PReLU()
        self.out = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.prelu(self.prelu_fc(self.act(self.fc(x)))))


class NormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: a BatchNorm2d whose forward also runs its activation child."""

    def __init__(self, n: int) -> None:
        super().__init__(n)
        self.act = nn.LeakyReLU(0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(
            x, self.running_mean, self.running_var, self.weight, self.bias, self.training,
            self.momentum or 0.0, self.eps,
        )  # fmt: skip
        return self.act(x)


class StarReLU(nn.Module):
    """metaformer's StarReLU: an activation that owns parameters, ``s * relu(x)**2 + b``."""

    def __init__(self) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.scale = nn.Parameter(torch.ones(1))
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.relu(x) ** 2 + self.bias


class HiddenActivations(nn.Module):
    """Modules that own parameters and run an activation inside: traced through."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, bias=False)
        self.bn = NormAct(8)
        self.fc1 = nn.Linear(8, 8)
        self.act = StarReLU()
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.bn(self.conv(x)).mean((2, 3))
        return self.fc2(self.act(self.fc1(h)))


class AuxHead(nn.Module):
    """An auxiliary head that runs only in training (googlenet's aux1, inception's AuxLogits)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(4, 8)
        self.aux = nn.Linear(8, 2)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> Any:
        h = torch.relu(self.body(x))
        if self.training:
            return self.head(h), self.aux(h)
        return self.head(h)


class SideOutput(nn.Module):
    """An encoder state returned to the caller beside the decoder that reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = nn.Linear(4, 8)
        self.dec = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.enc(x)
        return self.dec(h), h


class Gates(nn.Module):
    """A packed GLU projection split by ``chunk``, ``F.glu`` and ``nn.GLU``, a soft cap."""

    def __init__(self) -> None:
        super().__init__()
        self.packed = nn.Linear(4, 16)
        self.glu_in = nn.Linear(8, 8)
        self.glu_mod_in = nn.Linear(4, 8)
        self.glu = nn.GLU()
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, g = self.packed(x).chunk(2, dim=-1)
        h = F.glu(self.glu_in(F.gelu(a) * g), dim=-1) + self.glu(self.glu_mod_in(x))
        logits = self.head(torch.cat([h, h], dim=-1))
        return torch.tanh(logits / 30.0) * 30.0  # c * tanh(x / c): a soft cap


class InPlaceFill(nn.Module):
    """A preallocated tensor filled by ``out[i] = ...`` (a scan, RoIAlign)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_zeros(2, *x.shape)
        out[0] = self.a(x)
        out[1] = self.b(x)
        return self.head(torch.tanh(out).sum(0))


class LayerDrop(nn.Module):
    """Layers skipped at random in training (transformers' LayerDrop)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(4))
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            if self.training and torch.rand([]) < 0.5:
                continue
            x = torch.relu(layer(x))
        return self.head(x)


class TiedLM(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 6)
        self.fc = nn.Linear(6, 6)
        self.head = nn.Linear(6, 10, bias=False)
        self.head.weight = self.emb.weight

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(torch.tanh(self.fc(self.emb(ids))))


# -- architectures no package provides (torchvision and timm have no U-Net, seq2seq or GAN) --


class DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cin // 2, 2, stride=2)
        self.conv = DoubleConv(cin, cout)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, channels: int = 3, classes: int = 2):
        super().__init__()
        self.inc = DoubleConv(channels, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), DoubleConv(16, 32))
        self.up1 = Up(32, 16)
        self.up2 = Up(16, 8)
        self.outc = nn.Conv2d(8, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x = self.up1(x3, x2)
        x = self.up2(x, x1)
        return self.outc(x)


class Seq2Seq(nn.Module):
    """GRU encoder, LSTM decoder with a projection (proj_size), teacher forcing."""

    def __init__(self, vocab: int = 32, emb: int = 16, hidden: int = 24, proj: int = 12):
        super().__init__()
        self.src_embed = nn.Embedding(vocab, emb)
        self.tgt_embed = nn.Embedding(vocab, emb)
        self.encoder = nn.GRU(emb, hidden, num_layers=2, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.decoder = nn.LSTM(emb, hidden, batch_first=True, proj_size=proj)
        self.out = nn.Linear(proj, vocab)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        enc, _ = self.encoder(self.src_embed(src))
        h0 = torch.tanh(self.bridge(enc[:, -1]))  # (B, hidden) -> decoder cell state
        c0 = h0.unsqueeze(0)
        hz = torch.zeros(1, src.shape[0], self.decoder.proj_size, dtype=h0.dtype, device=h0.device)
        dec, _ = self.decoder(self.tgt_embed(tgt), (hz, c0))
        return F.log_softmax(self.out(dec), dim=-1)


class Generator(nn.Module):
    """DCGAN generator: ConvTranspose + BatchNorm + ReLU, Tanh output."""

    def __init__(self, nz: int = 16, ngf: int = 8, nc: int = 3):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 4, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 4),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))


def meta_mlp() -> nn.Module:
    with torch.device("meta"):
        return mlp()


def data_parallel() -> nn.Module:
    return nn.DataParallel(mlp())


# -- third-party models (transformers, small configs, no download) ------------------------


def gpt2(meta: bool = False) -> nn.Module:
    import transformers

    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=64, n_positions=32)
    cfg.bos_token_id = cfg.eos_token_id = 0
    if meta:
        with torch.device("meta"):
            return transformers.GPT2LMHeadModel(cfg)
    return transformers.GPT2LMHeadModel(cfg)


def bert() -> nn.Module:
    import transformers

    cfg = transformers.BertConfig(
        vocab_size=64,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=32,
    )
    return transformers.BertForSequenceClassification(cfg)


# -- the cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A model builder and the activation expected after each of its layers."""

    build: Callable[[], nn.Module]
    expected: dict[str, str]
    #: Example inputs (None: inferred by the tracer).
    inputs: Callable[[], Any] | None = None
    #: How the graph should be obtained.
    tracer: str = "fx"
    #: Expected act_args for some layers.
    act_args: dict[str, dict[str, Any]] = field(default_factory=dict)


def _gpt2_expected() -> dict[str, str]:
    out = {"transformer.wte": "linear", "transformer.wpe": "linear"}
    for i in range(2):
        p = f"transformer.h.{i}"
        out |= {
            f"{p}.ln_1": "linear",
            f"{p}.attn.c_attn": "linear",
            f"{p}.attn.c_proj": "linear",
            f"{p}.ln_2": "linear",
            f"{p}.mlp.c_fc": "gelu",
            f"{p}.mlp.c_proj": "linear",
        }
    return out | {"transformer.ln_f": "linear", "lm_head": "output"}


def _bert_expected() -> dict[str, str]:
    emb = "bert.embeddings"
    out = {f"{emb}.{n}": "linear" for n in ("word_embeddings", "position_embeddings")}
    out |= {f"{emb}.token_type_embeddings": "linear", f"{emb}.LayerNorm": "linear"}
    for i in range(2):
        p = f"bert.encoder.layer.{i}"
        out |= {
            f"{p}.attention.self.query": "linear",
            f"{p}.attention.self.key": "linear",
            f"{p}.attention.self.value": "linear",
            f"{p}.attention.output.dense": "linear",
            f"{p}.attention.output.LayerNorm": "linear",
            f"{p}.intermediate.dense": "gelu",
            f"{p}.output.dense": "linear",
            f"{p}.output.LayerNorm": "linear",
        }
    return out | {"bert.pooler.dense": "tanh", "classifier": "output"}


CASES: dict[str, Case] = {
    "mlp_forms": Case(
        MLPForms,
        {"fc1": "relu", "fc2": "gelu", "fc3": "tanh", "fc4": "sigmoid", "out": "output"},
        act_args={"fc2": {"approximate": "tanh"}},
    ),
    "conv_bn_relu": Case(conv_bn_relu, {"0": "relu", "1": "relu", "5": "output"}),
    "resnet": Case(
        ResNetTiny,
        {
            "stem": "relu",
            "bn": "relu",
            "block.conv1": "relu",
            "block.bn1": "relu",
            "block.conv2": "relu",
            "block.bn2": "relu",
            "down.conv1": "relu",
            "down.bn1": "relu",
            "down.conv2": "relu",
            "down.bn2": "relu",
            "down.conv3": "relu",
            "down.bn3": "relu",
            "down.downsample.0": "relu",
            "down.downsample.1": "relu",
            "fc": "output",
        },
    ),
    "mobilenet_v2": Case(
        MobileNetTiny,
        {
            "blocks.0.expand.0": "relu6",
            "blocks.0.expand.1": "relu6",
            "blocks.0.dw.0": "relu6",
            "blocks.0.dw.1": "relu6",
            "blocks.0.project": "linear",
            "blocks.0.project_bn": "linear",
            "blocks.1.expand.0": "relu6",
            "blocks.1.expand.1": "relu6",
            "blocks.1.dw.0": "relu6",
            "blocks.1.dw.1": "relu6",
            "blocks.1.project": "linear",
            "blocks.1.project_bn": "linear",
            "classifier": "output",
        },
    ),
    "squeeze_excitation": Case(
        SENet,
        {
            "conv1": "relu",
            "conv2": "relu",
            "bn2": "relu",
            "se.fc1": "relu",
            "se.fc2": "sigmoid",
            "head": "output",
        },
    ),
    "transformer_block": Case(
        TinyGPT,
        {"emb": "linear", "ln_f": "linear", "head": "output"}
        | {
            f"blocks.{i}.{n}": a
            for i in range(2)
            for n, a in [
                ("ln1", "linear"),
                ("attn.q", "linear"),
                ("attn.k", "linear"),
                ("attn.v", "linear"),
                ("attn.proj", "linear"),
                ("ln2", "linear"),
                ("fc1", "gelu"),
                ("fc2", "linear"),
            ]
        },
    ),
    "torch_encoder_layer": Case(
        TorchEncoder,
        {
            "inp": "linear",
            "layer.self_attn": "linear",
            "layer.self_attn.out_proj": "linear",
            "layer.norm1": "linear",
            "layer.linear1": "gelu",
            "layer.linear2": "linear",
            "layer.norm2": "linear",
            "head": "output",
        },
        tracer="dynamic",
    ),
    "swiglu": Case(SwiGLU, {"w1": "silu", "w3": "linear", "w2": "output"}),
    "lstm_classifier": Case(
        LSTMClassifier,
        {"emb": "linear", "lstm": "linear", "fc": "output"},
    ),
    "leaky_relu": Case(
        LeakyNet,
        {"conv": "leaky_relu", "fc": "leaky_relu", "out": "output"},
        act_args={"conv": {"negative_slope": 0.2}, "fc": {"negative_slope": 0.1}},
    ),
    "conv_transpose_decoder": Case(
        Decoder,
        {"fc": "relu", "up1": "elu", "up2": "sigmoid"},
        act_args={"up1": {"alpha": 0.5}},
    ),
    "data_dependent": Case(
        DataDependent,
        {"fc1": "relu", "fc2": "output"},
        inputs=lambda: torch.ones(1, 4),
        tracer="dynamic",
    ),
    "parametrized": Case(
        Parametrized,
        {
            "sn": "relu",
            "sn.parametrizations.weight": "relu",
            "wn": "tanh",
            "wn.parametrizations.weight": "tanh",
            "up": "silu",
            "up.parametrizations.weight": "silu",
            "out": "output",
            "out.parametrizations.weight": "output",
        },
    ),
    "called_twice": Case(
        CalledTwice, {"shared": "mixed(relu|tanh)", "same": "silu", "out": "output"}
    ),
    "direct_params": Case(
        DirectParams,
        {"": "gelu", "inner": "tanh", "fc": "output"},
        inputs=lambda: torch.randn(1, 4),
    ),
    "third_party_activation": Case(
        ThirdPartyAct, {"fc": "hardswish", "prelu_fc": "prelu", "prelu": "linear", "out": "output"}
    ),
    "tied_lm": Case(TiedLM, {"emb": "linear", "fc": "tanh", "head": "output"}),
    "hidden_activations": Case(
        HiddenActivations,
        {"conv": "leaky_relu", "bn": "leaky_relu", "fc1": "relu", "act": "linear", "fc2": "output"},
        act_args={"conv": {"negative_slope": 0.1}},
    ),
    "aux_head": Case(AuxHead, {"body": "relu", "aux": "output", "head": "output"}),
    "side_output": Case(SideOutput, {"enc": "linear", "dec": "output"}),
    "gates": Case(
        Gates,
        {
            "packed": "mixed(gelu|linear)",
            "glu_in": "mixed(linear|sigmoid)",
            "glu_mod_in": "mixed(linear|sigmoid)",
            "head": "output",
        },
    ),
    "in_place_fill": Case(
        InPlaceFill, {"a": "tanh", "b": "tanh", "head": "output"}, tracer="dynamic"
    ),
    "layer_drop": Case(
        LayerDrop,
        {
            "layers.0": "relu",
            "layers.1": "relu",
            "layers.2": "relu",
            "layers.3": "relu",
            "head": "output",
        },
    ),
    "meta_device": Case(meta_mlp, {"0": "relu", "2": "tanh", "4": "output"}),
    "data_parallel": Case(data_parallel, {"0": "relu", "2": "tanh", "4": "output"}),
    "gpt2": Case(gpt2, _gpt2_expected(), tracer="dynamic"),
    "gpt2_meta": Case(lambda: gpt2(meta=True), _gpt2_expected(), tracer="dynamic"),
    "bert": Case(bert, _bert_expected(), tracer="dynamic"),
}

#: Cases that need transformers (skipped where it is not installed).
THIRD_PARTY: frozenset[str] = frozenset({"gpt2", "gpt2_meta", "bert"})
