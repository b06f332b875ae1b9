"""Small transformers architectures (no downloads): built from tiny configs.

Each entry builds a model and gives an example input that its forward accepts, so tests
can trace, apply and lint real transformers code paths (ModelOutput results, kwargs-only
forwards, attention masks, shared layers, conv front-ends) in well under a second each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class HFCase:
    name: str
    build: Callable[[], torch.nn.Module]
    inputs: Callable[[], Any]
    #: qualified layer name -> the activation that really follows it
    expected: dict[str, str] = field(default_factory=dict)
    policy: str = "pytorch_default"


def _ids(n: int = 8, vocab: int = 64) -> torch.Tensor:
    return (torch.arange(n) % vocab).reshape(1, n)


def _tf() -> Any:
    import transformers

    return transformers


_TXT = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2)
_LLAMA = dict(_TXT, intermediate_size=64, num_key_value_heads=1, max_position_embeddings=64)


def _gpt2() -> torch.nn.Module:
    t = _tf()
    return t.GPT2LMHeadModel(
        t.GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=32, vocab_size=64)
    )


def _bert() -> torch.nn.Module:
    t = _tf()
    return t.BertModel(t.BertConfig(**_TXT, intermediate_size=64, max_position_embeddings=32))


def _roberta() -> torch.nn.Module:
    t = _tf()
    return t.RobertaForMaskedLM(
        t.RobertaConfig(**_TXT, intermediate_size=64, max_position_embeddings=40, pad_token_id=1)
    )


def _llama() -> torch.nn.Module:
    t = _tf()
    return t.LlamaForCausalLM(t.LlamaConfig(**_LLAMA))


def _mistral() -> torch.nn.Module:
    t = _tf()
    return t.MistralForCausalLM(t.MistralConfig(**_LLAMA))


def _qwen2() -> torch.nn.Module:
    t = _tf()
    return t.Qwen2ForCausalLM(t.Qwen2Config(**_LLAMA))


def _neox() -> torch.nn.Module:
    t = _tf()
    return t.GPTNeoXForCausalLM(
        t.GPTNeoXConfig(**_TXT, intermediate_size=64, max_position_embeddings=64)
    )


def _t5() -> torch.nn.Module:
    t = _tf()
    cfg = t.T5Config(
        vocab_size=64,
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_heads=2,
        decoder_start_token_id=0,
    )
    return t.T5ForConditionalGeneration(cfg)


def _bart() -> torch.nn.Module:
    t = _tf()
    cfg = t.BartConfig(
        vocab_size=64,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=32,
    )
    return t.BartForConditionalGeneration(cfg)


def _distilbert() -> torch.nn.Module:
    t = _tf()
    return t.DistilBertModel(
        t.DistilBertConfig(
            vocab_size=64, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=32
        )
    )


def _albert() -> torch.nn.Module:
    t = _tf()
    return t.AlbertModel(
        t.AlbertConfig(
            vocab_size=64,
            embedding_size=16,
            hidden_size=32,
            num_hidden_layers=3,
            num_attention_heads=2,
            intermediate_size=64,
            max_position_embeddings=32,
        )
    )


def _vit() -> torch.nn.Module:
    t = _tf()
    return t.ViTForImageClassification(
        t.ViTConfig(
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            image_size=32,
            patch_size=8,
            num_labels=3,
        )
    )


def _clip() -> torch.nn.Module:
    t = _tf()
    text = dict(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=16,
    )
    vision = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        image_size=32,
        patch_size=8,
    )
    return t.CLIPModel(t.CLIPConfig(text_config=text, vision_config=vision, projection_dim=16))


def _whisper() -> torch.nn.Module:
    t = _tf()
    cfg = t.WhisperConfig(
        vocab_size=64,
        num_mel_bins=8,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=16,
        max_target_positions=16,
        decoder_start_token_id=0,
        pad_token_id=0,
    )
    return t.WhisperModel(cfg)


def _wav2vec2() -> torch.nn.Module:
    t = _tf()
    cfg = t.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(16, 16),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_feat_extract_layers=2,
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        vocab_size=16,
    )
    return t.Wav2Vec2ForCTC(cfg)


def _mamba() -> torch.nn.Module:
    t = _tf()
    return t.MambaForCausalLM(
        t.MambaConfig(
            vocab_size=64,
            hidden_size=32,
            state_size=4,
            num_hidden_layers=2,
            expand=2,
            conv_kernel=4,
        )
    )


def _convnext() -> torch.nn.Module:
    t = _tf()
    return t.ConvNextForImageClassification(
        t.ConvNextConfig(
            num_channels=3, hidden_sizes=[8, 16], depths=[1, 1], num_labels=3, num_stages=2
        )
    )


def _resnet() -> torch.nn.Module:
    t = _tf()
    return t.ResNetForImageClassification(
        t.ResNetConfig(
            embedding_size=8,
            hidden_sizes=[8, 16],
            depths=[1, 1],
            layer_type="bottleneck",
            num_labels=3,
        )
    )


def _mobilenetv2() -> torch.nn.Module:
    t = _tf()
    return t.MobileNetV2ForImageClassification(
        t.MobileNetV2Config(depth_multiplier=0.25, image_size=32, num_labels=3)
    )


def _efficientnet() -> torch.nn.Module:
    t = _tf()
    return t.EfficientNetForImageClassification(
        t.EfficientNetConfig(
            width_coefficient=0.1,
            depth_coefficient=0.1,
            image_size=32,
            hidden_dim=128,
            num_labels=3,
        )
    )


def _swin() -> torch.nn.Module:
    t = _tf()
    return t.SwinForImageClassification(
        t.SwinConfig(
            image_size=32,
            patch_size=4,
            embed_dim=8,
            depths=[1, 1],
            num_heads=[1, 2],
            window_size=4,
            num_labels=3,
        )
    )


def _img(size: int = 32) -> Callable[[], torch.Tensor]:
    return lambda: torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))


CASES: list[HFCase] = [
    HFCase(
        "gpt2",
        _gpt2,
        _ids,
        {
            "transformer.h.0.mlp.c_fc": "gelu",
            "transformer.h.0.attn.c_attn": "linear",
            "lm_head": "output",
        },
        "gpt2",
    ),
    HFCase(
        "bert",
        _bert,
        _ids,
        {
            "encoder.layer.0.intermediate.dense": "gelu",
            "encoder.layer.0.attention.self.query": "linear",
            "pooler.dense": "tanh",
        },
    ),
    HFCase(
        "roberta",
        lambda: _roberta(),
        lambda: _ids() + 2,
        {
            "roberta.encoder.layer.0.intermediate.dense": "gelu",
            "lm_head.dense": "gelu",
            "lm_head.decoder": "output",
            "lm_head": "output",
        },  # lm_head owns the tied bias
        "gpt2",
    ),
    HFCase(
        "llama",
        _llama,
        _ids,
        {
            "model.layers.0.mlp.gate_proj": "silu",
            "model.layers.0.mlp.up_proj": "linear",
            "model.layers.0.self_attn.q_proj": "linear",
            "lm_head": "output",
        },
        "llama",
    ),
    HFCase(
        "mistral",
        _mistral,
        _ids,
        {"model.layers.0.mlp.gate_proj": "silu", "lm_head": "output"},
        "llama",
    ),
    HFCase(
        "qwen2",
        _qwen2,
        _ids,
        {"model.layers.1.mlp.gate_proj": "silu", "lm_head": "output"},
        "llama",
    ),
    HFCase(
        "gpt_neox",
        _neox,
        _ids,
        {"gpt_neox.layers.0.mlp.dense_h_to_4h": "gelu", "lm_head": "output"},
    ),
    HFCase(
        "t5",
        _t5,
        lambda: {"input_ids": _ids(), "decoder_input_ids": _ids(4)},
        {
            "encoder.block.0.layer.1.DenseReluDense.wi": "relu",
            "decoder.block.1.layer.2.DenseReluDense.wi": "relu",
            "lm_head": "output",
        },
        "llama",
    ),
    HFCase(
        "bart",
        _bart,
        lambda: {"input_ids": _ids(), "decoder_input_ids": _ids(4)},
        {
            "model.encoder.layers.0.fc1": "gelu",
            "model.decoder.layers.0.fc1": "gelu",
            "lm_head": "output",
        },
        "gpt2",
    ),
    HFCase("distilbert", _distilbert, _ids, {"transformer.layer.0.ffn.lin1": "gelu"}),
    HFCase(
        "albert",
        _albert,
        _ids,  # one shared layer called three times: one entry, one answer
        {"encoder.albert_layer_groups.0.albert_layers.0.ffn": "gelu", "pooler": "tanh"},
    ),
    HFCase(
        "vit", _vit, _img(), {"vit.layers.0.mlp.fc1": "gelu", "classifier": "output"}, "vit_jax"
    ),
    HFCase(
        "clip",
        _clip,
        lambda: {"input_ids": _ids(), "pixel_values": _img()()},
        {
            "vision_model.encoder.layers.0.mlp.fc1": "gelu",
            "text_model.encoder.layers.0.mlp.fc1": "gelu",
        },
    ),
    HFCase(
        "whisper",
        _whisper,
        lambda: {"input_features": torch.randn(1, 8, 32), "decoder_input_ids": _ids(4)},
        {"encoder.conv1": "gelu", "encoder.conv2": "gelu", "encoder.layers.0.fc1": "gelu"},
    ),
    HFCase(
        "wav2vec2",
        _wav2vec2,
        lambda: torch.randn(1, 400, generator=torch.Generator().manual_seed(0)),
        {
            "wav2vec2.feature_extractor.conv_layers.0.conv": "gelu",
            "wav2vec2.encoder.layers.0.feed_forward.intermediate_dense": "gelu",
            "lm_head": "output",
        },
    ),
    HFCase(
        "mamba",
        _mamba,
        _ids,
        {
            "backbone.layers.0.mixer.conv1d": "silu",
            "backbone.layers.0.mixer.dt_proj": "softplus",
            "lm_head": "output",
        },
        "llama",
    ),
    HFCase(
        "convnext",
        _convnext,
        _img(),
        {"convnext.encoder.stages.0.layers.0.pwconv1": "gelu", "classifier": "output"},
        "resnet",
    ),
    HFCase(
        "resnet",
        _resnet,
        _img(),
        {
            "resnet.embedder.embedder.convolution": "relu",
            "resnet.encoder.stages.0.layers.0.layer.2.convolution": "relu",  # residual add, then ReLU
            "resnet.encoder.stages.1.layers.0.shortcut.convolution": "relu",
            "classifier.1": "output",
        },
        "resnet",
    ),
    HFCase(
        "mobilenetv2",
        _mobilenetv2,
        _img(),
        {
            "mobilenet_v2.conv_stem.first_conv.convolution": "relu6",
            "mobilenet_v2.layer.0.conv_3x3.convolution": "relu6",
            "classifier": "output",
        },
        "relu_net",
    ),
    HFCase(
        "efficientnet",
        _efficientnet,
        _img(),
        {
            "efficientnet.embeddings.convolution": "silu",
            "efficientnet.encoder.blocks.0.depthwise_conv.depthwise_conv": "silu",  # bn, SiLU, SE
            "efficientnet.encoder.blocks.0.squeeze_excite.reduce": "silu",
            "efficientnet.encoder.blocks.0.squeeze_excite.expand": "sigmoid",
            "efficientnet.encoder.blocks.1.projection.project_conv": "linear",
            "classifier": "output",
        },
        "relu_net",
    ),
    HFCase(
        "swin",
        _swin,
        _img(),
        {"swin.encoder.layers.0.blocks.0.mlp.fc1": "gelu", "classifier": "output"},
        "vit_jax",
    ),
]
