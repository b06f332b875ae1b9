"""Models and data the calibration tests share (also imported by the distributed worker,
tests/calibrate_worlds.py, in fresh processes)."""

from __future__ import annotations

import torch
from torch import nn


def tanh_mlp(depth: int = 40, width: int = 64) -> nn.Sequential:
    """LSUV's hard case: a deep tanh MLP, no normalization."""
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.Tanh()]
    return nn.Sequential(*layers, nn.Linear(width, 10))


def vgg_cnn() -> nn.Sequential:
    """A VGG-style CNN without normalization: 3x3 convs and ReLU, pooling, a classifier."""
    torch.manual_seed(0)
    chans = [3, 16, 16, 32, 32, 64]
    layers: list[nn.Module] = []
    for i in range(len(chans) - 1):
        layers += [nn.Conv2d(chans[i], chans[i + 1], 3, padding=1), nn.ReLU()]
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


def batch(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


def resnet18_without_norms() -> nn.Module:
    """torchvision's ResNet-18 with every BatchNorm an Identity (norm_layer is its own
    argument: the model is otherwise unedited)."""
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.resnet18(norm_layer=lambda channels: nn.Identity())


def timm_vit() -> nn.Module:
    import timm

    torch.manual_seed(0)
    return timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=4, depth=4
    )


def bert() -> nn.Module:
    import transformers

    torch.manual_seed(0)
    cfg = transformers.BertConfig(
        hidden_size=64,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=256,
        vocab_size=1000,
    )
    return transformers.BertModel(cfg)


def token_ids(shape: tuple[int, ...], seed: int, vocab: int = 1000) -> torch.Tensor:
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))
