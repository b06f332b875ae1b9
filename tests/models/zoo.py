"""Small, faithful re-implementations of torchvision/timm-style architectures.

torchvision and timm cannot be installed beside the pinned torch, so these follow their
code structure (module nesting, attribute names, forward data flow) at toy widths: what
the tracer, applier and linter see is what they would see on the real thing.

Each model has an ``example_inputs()``-style input in :data:`INPUTS` and the activation
that really follows its key layers in :data:`EXPECTED` (read off the architecture, not
off our tracer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------- ResNet


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)


def conv1x1(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 1, stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv3x3(cin, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = conv1x1(cin, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """torchvision.models.resnet.ResNet, widths divided by 8."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int], classes: int = 10):
        super().__init__()
        self.inplanes = 8
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 8, layers[0])
        self.layer2 = self._make_layer(block, 16, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 32, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 64, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(64 * block.expansion, classes)

    def _make_layer(self, block: Any, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)


def resnet18() -> ResNet:
    return ResNet(BasicBlock, [2, 2, 2, 2])


def resnet50() -> ResNet:
    return ResNet(Bottleneck, [1, 1, 1, 1])


# --------------------------------------------------------------------------- MobileNetV3


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class Conv2dNormActivation(nn.Sequential):
    def __init__(
        self,
        cin: int,
        cout: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        activation: Callable[..., nn.Module] | None = nn.ReLU,
    ):
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
        ]
        if activation is not None:
            layers.append(activation(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation (scale_activation=Hardsigmoid in MobileNetV3)."""

    def __init__(self, c: int, squeeze: int, scale: Callable[..., nn.Module] = nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(c, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, c, 1)
        self.activation = nn.ReLU()
        self.scale_activation = scale()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(s) * x


class InvertedResidualV3(nn.Module):
    def __init__(self, cin: int, exp: int, cout: int, k: int, se: bool, hs: bool, stride: int):
        super().__init__()
        act = nn.Hardswish if hs else nn.ReLU
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(Conv2dNormActivation(cin, exp, 1, activation=act))
        layers.append(Conv2dNormActivation(exp, exp, k, stride, groups=exp, activation=act))
        if se:
            layers.append(SqueezeExcitation(exp, _make_divisible(exp // 4), nn.Hardsigmoid))
        layers.append(Conv2dNormActivation(exp, cout, 1, activation=None))
        self.block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return out + x if self.use_res_connect else out


class MobileNetV3(nn.Module):
    """torchvision.models.MobileNetV3 (small), three inverted-residual settings."""

    def __init__(self, classes: int = 10):
        super().__init__()
        settings = [  # cin, exp, cout, k, se, hardswish, stride
            (16, 16, 16, 3, True, False, 2),
            (16, 72, 24, 3, False, False, 2),
            (24, 96, 24, 5, True, True, 1),
        ]
        layers: list[nn.Module] = [Conv2dNormActivation(3, 16, 3, 2, activation=nn.Hardswish)]
        layers += [InvertedResidualV3(*s) for s in settings]
        layers.append(Conv2dNormActivation(24, 144, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            nn.Linear(144, 64),
            nn.Hardswish(inplace=True),
            nn.Dropout(0.2, inplace=True),
            nn.Linear(64, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier(x)


# --------------------------------------------------------------------------- EfficientNet


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth, row mode (identity in eval)."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty([x.shape[0]] + [1] * (x.ndim - 1), dtype=x.dtype, device=x.device)
        keep = keep.bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int, sd: float):
        super().__init__()
        self.use_res_connect = stride == 1 and cin == cout
        exp = cin * expand
        layers: list[nn.Module] = []
        if exp != cin:
            layers.append(Conv2dNormActivation(cin, exp, 1, activation=nn.SiLU))
        layers.append(Conv2dNormActivation(exp, exp, k, stride, groups=exp, activation=nn.SiLU))
        sq = max(1, cin // 4)
        se = SqueezeExcitation(exp, sq, nn.Sigmoid)
        se.activation = nn.SiLU()
        layers.append(se)
        layers.append(Conv2dNormActivation(exp, cout, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        if self.use_res_connect:
            out = self.stochastic_depth(out) + x
        return out


class EfficientNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            Conv2dNormActivation(3, 8, 3, 2, activation=nn.SiLU),
            MBConv(8, 8, 1, 3, 1, 0.0),
            MBConv(8, 16, 6, 3, 2, 0.05),
            MBConv(16, 16, 6, 5, 1, 0.1),
            Conv2dNormActivation(16, 64, 1, activation=nn.SiLU),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(0.2, inplace=True), nn.Linear(64, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


# --------------------------------------------------------------------------- ConvNeXt


class LayerNorm2d(nn.LayerNorm):
    """torchvision's channels-first LayerNorm: permute, layer_norm, permute back."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    def __init__(self, dim: int, layer_scale: float = 1e-6):
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(dim, dim, 7, padding=3, groups=dim, bias=True),
            Permute([0, 2, 3, 1]),
            nn.LayerNorm(dim, eps=1e-6),
            nn.Linear(dim, 4 * dim),
            nn.GELU(),
            nn.Linear(4 * dim, dim),
            Permute([0, 3, 1, 2]),
        )
        self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) * layer_scale)
        self.stochastic_depth = StochasticDepth(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.layer_scale * self.block(x)
        return self.stochastic_depth(result) + x


class Permute(nn.Module):
    def __init__(self, dims: list[int]):
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


class ConvNeXt(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 16, 4, 4), LayerNorm2d(16, eps=1e-6)),
            nn.Sequential(CNBlock(16), CNBlock(16)),
            nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Conv2d(16, 32, 2, 2)),
            nn.Sequential(CNBlock(32)),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(
            LayerNorm2d(32, eps=1e-6), nn.Flatten(1), nn.Linear(32, classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


# --------------------------------------------------------------------------- ViT


class MLPBlock(nn.Sequential):
    def __init__(self, dim: int, hidden: int):
        super().__init__(
            nn.Linear(dim, hidden),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(hidden, dim),
            nn.Dropout(0.0),
        )


class EncoderBlock(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.ln_1(x)
        y, _ = self.self_attention(y, y, y, need_weights=False)
        x = self.dropout(y) + x
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(nn.Module):
    """torchvision.models.VisionTransformer: conv_proj, class_token, pos_embedding."""

    def __init__(
        self, image: int = 32, patch: int = 8, dim: int = 32, depth: int = 2, classes: int = 10
    ):
        super().__init__()
        self.patch, self.dim = patch, dim
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        n = (image // patch) ** 2 + 1
        self.encoder = nn.Module()
        self.encoder.pos_embedding = nn.Parameter(torch.empty(1, n, dim).normal_(std=0.02))
        self.encoder.layers = nn.Sequential(*[EncoderBlock(dim, 2, 4 * dim) for _ in range(depth)])
        self.encoder.ln = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.Sequential(nn.Linear(dim, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x)
        x = x.reshape(x.shape[0], self.dim, -1).permute(0, 2, 1)
        cls = self.class_token.expand(x.shape[0], -1, -1)
        x = torch.cat([cls, x], dim=1) + self.encoder.pos_embedding
        x = self.encoder.ln(self.encoder.layers(x))
        return self.heads(x[:, 0])


# --------------------------------------------------------------------------- DenseNet


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int, bn_size: int = 2):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(inputs, 1)
        x = self.conv1(self.relu1(self.norm1(x)))
        return self.conv2(self.relu2(self.norm2(x)))


class DenseBlock(nn.ModuleDict):
    def __init__(self, n: int, cin: int, growth: int):
        super().__init__()
        for i in range(n):
            self.add_module(f"denselayer{i + 1}", DenseLayer(cin + i * growth, growth))

    def forward(self, init: torch.Tensor) -> torch.Tensor:
        features = [init]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class DenseNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential()
        self.features.add_module("conv0", nn.Conv2d(3, 16, 3, padding=1, bias=False))
        self.features.add_module("norm0", nn.BatchNorm2d(16))
        self.features.add_module("relu0", nn.ReLU(inplace=True))
        self.features.add_module("denseblock1", DenseBlock(3, 16, 8))
        self.features.add_module("norm5", nn.BatchNorm2d(40))
        self.classifier = nn.Linear(40, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# --------------------------------------------------------------------------- U-Net


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


# --------------------------------------------------------------------------- RNN seq2seq


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


# --------------------------------------------------------------------------- GAN generator


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


# --------------------------------------------------------------------------- catalogue


def _img() -> torch.Tensor:
    return torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))


BUILDERS: dict[str, Callable[[], nn.Module]] = {
    "resnet18": resnet18,
    "resnet50": resnet50,
    "mobilenet_v3": MobileNetV3,
    "efficientnet": EfficientNet,
    "convnext": ConvNeXt,
    "vit": VisionTransformer,
    "densenet": DenseNet,
    "unet": UNet,
    "seq2seq": Seq2Seq,
    "generator": Generator,
}

INPUTS: dict[str, Callable[[], Any]] = {
    "resnet18": _img,
    "resnet50": _img,
    "mobilenet_v3": _img,
    "efficientnet": _img,
    "convnext": _img,
    "vit": _img,
    "densenet": _img,
    "unet": _img,
    "seq2seq": lambda: (torch.arange(6).reshape(1, 6), torch.arange(5).reshape(1, 5)),
    "generator": lambda: torch.randn(1, 16, 1, 1, generator=torch.Generator().manual_seed(0)),
}

#: Built-in policy that suits each architecture.
POLICIES: dict[str, str] = {
    "resnet18": "resnet",
    "resnet50": "resnet",
    "mobilenet_v3": "relu_net",
    "efficientnet": "relu_net",
    "convnext": "pytorch_default",
    "vit": "vit_jax",
    "densenet": "relu_net",
    "unet": "relu_net",
    "seq2seq": "lstm",
    "generator": "relu_net",
}

#: Activation that really follows key layers (read off the architecture).
EXPECTED: dict[str, dict[str, str]] = {
    "resnet18": {
        "conv1": "relu",
        "layer1.0.conv1": "relu",
        "layer1.0.conv2": "relu",  # bn2, residual add, then ReLU
        "layer2.0.downsample.0": "relu",  # add, then ReLU
        "fc": "output",
    },
    "resnet50": {
        "layer1.0.conv1": "relu",
        "layer1.0.conv3": "relu",
        "layer3.0.downsample.0": "relu",
        "fc": "output",
    },
    "mobilenet_v3": {
        "features.0.0": "hardswish",
        "features.1.block.0.0": "relu",  # depthwise conv, before the SE block
        "features.1.block.1.fc1": "relu",
        "features.1.block.1.fc2": "hardsigmoid",
        "features.2.block.0.0": "relu",
        "features.3.block.1.0": "hardswish",
        "features.3.block.2.fc2": "hardsigmoid",
        "classifier.0": "hardswish",
        "classifier.3": "output",
    },
    "efficientnet": {
        "features.0.0": "silu",
        "features.2.block.0.0": "silu",
        "features.2.block.2.fc1": "silu",
        "features.2.block.2.fc2": "sigmoid",
        "classifier.1": "output",
    },
    "convnext": {
        "features.1.0.block.3": "gelu",
        "features.3.0.block.3": "gelu",
        "classifier.2": "output",
    },
    "vit": {
        "encoder.layers.0.mlp.0": "gelu",
        "encoder.layers.0.self_attention": "linear",
        "heads.0": "output",
    },
    "densenet": {
        "features.conv0": "relu",
        "features.denseblock1.denselayer1.conv1": "relu",
        "features.denseblock1.denselayer3.conv2": "relu",  # cat, norm5, F.relu
        "classifier": "output",
    },
    "unet": {
        "inc.0": "relu",
        "up1.up": "linear",  # cat, then the DoubleConv conv
        "outc": "output",
    },
    "seq2seq": {
        "bridge": "tanh",
        "out": "log_softmax",
    },
    "generator": {
        "main.0": "relu",
        "main.6": "tanh",
    },
}
