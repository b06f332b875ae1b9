"""Llama-architecture configs at the sizes people train (Llama 3.2 1B, Llama 3.1 8B and 70B),
for the scale benchmark and tests: built on the meta device, no weights, no network.

    from bench.llama_configs import build
    model = build("8B")        # a LlamaForCausalLM on meta
"""

from __future__ import annotations

import os
from typing import Any

SIZES: dict[str, dict[str, Any]] = {
    "1B": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    "8B": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
               num_attention_heads=32, num_key_value_heads=8),
    "70B": dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                num_attention_heads=64, num_key_value_heads=8),
}  # fmt: skip
COMMON = dict(vocab_size=128256, rope_theta=500000.0, max_position_embeddings=8192)


def build(size: str) -> Any:
    """The model of ``size`` (a key of SIZES) on the meta device."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(**COMMON, **SIZES[size])
    with torch.device("meta"):
        return LlamaForCausalLM(config)


def build_model() -> Any:
    """A target for the CLI: the size in ``$INITPOLICY_LLAMA_SIZE`` (default 8B)."""
    return build(os.environ.get("INITPOLICY_LLAMA_SIZE", "8B"))
