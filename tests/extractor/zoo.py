"""The models extract is proven on, each as small as its init code allows (no downloads):
transformers (the 74 small-config architectures of tests/zoo/transformers_models.py),
torchvision and timm (their classes or factories with small arguments; the init code is
the same at any size), and hand-written inits. ``sampled`` marks the representative models on which the policy is
also applied and compared with the code's values by two-sample tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tests.extractor import handwritten


@dataclass(frozen=True)
class Case:
    family: str
    name: str
    build: Callable[[], torch.nn.Module]
    sampled: bool = False


def _hf() -> list[Case]:
    from tests.zoo.transformers_models import MODELS

    sampled = {"gpt2", "llama", "t5", "whisper", "wav2vec2", "mamba"}
    return [Case("transformers", name, build, name in sampled) for name, build in MODELS.items()]


def _tv(factory: Callable[[], torch.nn.Module]) -> Callable[[], torch.nn.Module]:
    return factory


def _resnet() -> torch.nn.Module:
    from torchvision.models import resnet18

    return resnet18(num_classes=10)


def _resnet_zero_residual() -> torch.nn.Module:
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, [1, 1, 1, 1], num_classes=10, zero_init_residual=True)


def _vit() -> torch.nn.Module:
    from torchvision.models import VisionTransformer

    return VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64
    )


def _convnext() -> torch.nn.Module:
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt

    settings = [CNBlockConfig(16, 32, 1), CNBlockConfig(32, None, 1)]
    return ConvNeXt(settings, stochastic_depth_prob=0.1, num_classes=10)


def _efficientnet() -> torch.nn.Module:
    from torchvision.models.efficientnet import EfficientNet, MBConvConfig

    settings = [MBConvConfig(1, 3, 1, 16, 8, 1), MBConvConfig(6, 3, 2, 8, 16, 2)]
    return EfficientNet(settings, dropout=0.2, last_channel=64, num_classes=10)


TORCHVISION = [
    Case("torchvision", "resnet18", _resnet, sampled=True),
    Case("torchvision", "resnet(zero_init_residual)", _resnet_zero_residual),
    Case("torchvision", "vit", _vit, sampled=True),
    Case("torchvision", "convnext", _convnext),
    Case("torchvision", "efficientnet", _efficientnet),
]


def _timm(name: str, **kwargs: Any) -> Callable[[], torch.nn.Module]:
    def build() -> torch.nn.Module:
        import timm

        return timm.create_model(name, pretrained=False, **kwargs)

    return build


def _mixer() -> torch.nn.Module:
    from timm.models.mlp_mixer import MlpMixer  # its factories fix the sizes

    return MlpMixer(img_size=32, patch_size=8, num_blocks=2, embed_dim=32, num_classes=10)


_SMALL_VIT = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)
TIMM = [
    Case("timm", "vit_tiny_patch16_224", _timm("vit_tiny_patch16_224", **_SMALL_VIT), True),
    Case("timm", "deit_tiny_patch16_224", _timm("deit_tiny_patch16_224", **_SMALL_VIT)),
    Case(
        "timm",
        "beit_base_patch16_224",
        _timm("beit_base_patch16_224", **{**_SMALL_VIT, "depth": 4}),
        sampled=True,
    ),
    Case(
        "timm", "convnext_atto", _timm("convnext_atto", depths=(1, 1, 1, 1), dims=(8, 16, 24, 32))
    ),
    Case("timm", "efficientnet_b0", _timm("efficientnet_b0")),
    Case("timm", "mobilenetv3_small_050", _timm("mobilenetv3_small_050")),
    Case("timm", "resnet18", _timm("resnet18", layers=(1, 1, 1, 1))),
    Case("timm", "regnetx_002", _timm("regnetx_002")),
    Case("timm", "mixer (MlpMixer)", _mixer),
    Case("timm", "ghostnet_050", _timm("ghostnet_050")),
    Case(
        "timm",
        "densenet121",
        _timm("densenet121", growth_rate=8, block_config=(1, 1, 1, 1)),
    ),
    Case(
        "timm",
        "swin_tiny_patch4_window7_224",
        _timm(
            "swin_tiny_patch4_window7_224",
            img_size=32,
            window_size=4,
            embed_dim=16,
            depths=(1, 1),
            num_heads=(1, 2),
        ),
    ),
]

HANDWRITTEN = [
    Case("hand-written", "tagger (LSTM)", handwritten.Tagger, sampled=True),
    Case("hand-written", "gatewise_gru", handwritten.GateWiseGRU, sampled=True),
    Case("hand-written", "zero_resnet", handwritten.ZeroResNet, sampled=True),
    Case("hand-written", "odd_init", handwritten.OddInit, sampled=True),
]


def all_cases() -> list[Case]:
    return [*_hf(), *TORCHVISION, *TIMM, *HANDWRITTEN]
