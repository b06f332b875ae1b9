"""Small real models built from configs (no weights, no network) at a chosen width and
depth, for the width/depth transfer tests and bench/bench_mup.py: each factory takes
``width`` and ``depth`` keyword arguments, as ``initpolicy coordcheck`` expects."""

from __future__ import annotations

import warnings
from typing import NamedTuple
from unittest import mock

import torch
from torch import nn


class AttentionCall(NamedTuple):
    """One call of scaled_dot_product_attention: its operands, and its logits (q kᵀ times
    the scale the model passes, else torch's 1/sqrt(d))."""

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    logits: torch.Tensor


def attention_calls(model: nn.Module, x: torch.Tensor) -> list[AttentionCall]:
    """Each attention call of ``model(x)`` (no grad), read at the model's own
    ``scaled_dot_product_attention`` call."""
    real = torch.nn.functional.scaled_dot_product_attention
    seen: list[AttentionCall] = []

    def spy(q, k, v, *args, **kwargs):
        scale = kwargs.get("scale") or q.shape[-1] ** -0.5
        logits = q @ k.transpose(-1, -2) * scale
        seen.append(AttentionCall(*(t.detach().clone() for t in (q, k, v, logits))))
        return real(q, k, v, *args, **kwargs)

    with (
        mock.patch.object(torch.nn.functional, "scaled_dot_product_attention", spy),
        torch.no_grad(),
    ):
        model(x)
    return seen


def _quiet() -> None:
    warnings.filterwarnings("ignore", message=".*bos_token_id.*")
    warnings.filterwarnings("ignore", message=".*eos_token_id.*")


def llama(width: int = 64, depth: int = 2) -> nn.Module:
    import transformers as T

    _quiet()
    cfg = T.LlamaConfig(
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=depth,
        num_attention_heads=4,
        num_key_value_heads=4,
        vocab_size=128,
        max_position_embeddings=64,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
    )
    return T.LlamaForCausalLM(cfg)


def gpt2(width: int = 64, depth: int = 2) -> nn.Module:
    import transformers as T

    cfg = T.GPT2Config(
        n_embd=width,
        n_layer=depth,
        n_head=4,
        vocab_size=128,
        n_positions=64,
        bos_token_id=1,
        eos_token_id=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
    )
    return T.GPT2LMHeadModel(cfg)


def bert(width: int = 64, depth: int = 2) -> nn.Module:
    import transformers as T

    cfg = T.BertConfig(
        hidden_size=width,
        intermediate_size=2 * width,
        num_hidden_layers=depth,
        num_attention_heads=4,
        vocab_size=128,
        max_position_embeddings=64,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    return T.BertForMaskedLM(cfg)


def vit(width: int = 64, depth: int = 2) -> nn.Module:
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=16, patch_size=4, embed_dim=width, depth=depth, num_heads=4, num_classes=10
    )


class MLP(nn.Module):
    """A plain ReLU MLP: ``depth`` hidden layers of ``width`` units."""

    def __init__(self, width: int = 64, depth: int = 2, d_in: int = 16, d_out: int = 10):
        super().__init__()
        layers: list[nn.Module] = [nn.Linear(d_in, width), nn.ReLU()]
        for _ in range(depth):
            layers += [nn.Linear(width, width), nn.ReLU()]
        layers.append(nn.Linear(width, d_out))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def mlp(width: int = 64, depth: int = 2) -> nn.Module:
    return MLP(width, depth)


FACTORIES = {"llama": llama, "gpt2": gpt2, "bert": bert, "vit": vit, "mlp": mlp}
