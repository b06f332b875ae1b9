"""The blind-spot kinds of issue 18, seeded into real models at real width: MoE experts,
packed GLU projections, token embeddings, residual streams (run by
``bench/bench_seeded.py``; docs/benchmarks.md, "seeded").

Each case is a transformers or torchvision model built from a config at the width its
published model has (hidden sizes, intermediate sizes, heads; fewer layers, fewer experts
and a 32k vocabulary where the published ones would not fit this machine: the width is
what sets every fan). Each bug is injected into one tensor of the model as its library
initialized it; lint must report it with one of the bug's codes, on that tensor (a block
of it counts: ``gate_up_proj[:, 0:768]``). The same model un-injected is linted too: a
warning or error there is a false alarm (the library's own findings that are right and
beside the point, ``BESIDE``, excepted).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

#: Findings of the libraries' own init that are right and beside the point here:
#: ModernBERT's and Qwen's ``_init_weights`` draw the whole token embedding, padding row
#: included (IP124).
BESIDE = {"IP124"}
VOCAB = 32000


def _hf(config: str, model: str, **kw: Any) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import transformers

        torch.manual_seed(0)
        return getattr(transformers, model)(getattr(transformers, config)(**kw))

    return build


def _resnet(name: str) -> Callable[[], nn.Module]:
    """A torchvision ResNet without its BatchNorms (``norm_layer=nn.Identity``): He in
    every branch, as torchvision initializes it, and nothing to hold the stream (Fixup's
    setting without Fixup's rescaling)."""

    def build() -> nn.Module:
        import torchvision

        torch.manual_seed(0)
        return getattr(torchvision.models, name)(norm_layer=nn.Identity, num_classes=10)

    return build


_MOE = dict(vocab_size=VOCAB, num_hidden_layers=2, num_experts_per_tok=2)
#: Qwen3-30B-A3B's widths (hidden 2048, 32 heads of 128, experts of 768), 8 of its 128 experts
QWEN3_MOE = _hf(
    "Qwen3MoeConfig", "Qwen3MoeForCausalLM", hidden_size=2048, intermediate_size=6144,
    moe_intermediate_size=768, num_attention_heads=32, num_key_value_heads=4, head_dim=128,
    num_experts=8, decoder_sparse_step=1, mlp_only_layers=[0], **_MOE,
)  # fmt: skip
#: Qwen1.5-MoE-A2.7B's widths (hidden 2048, experts of 1408, a shared expert of 5632)
QWEN2_MOE = _hf(
    "Qwen2MoeConfig", "Qwen2MoeForCausalLM", hidden_size=2048, intermediate_size=5632,
    moe_intermediate_size=1408, shared_expert_intermediate_size=5632, num_attention_heads=16,
    num_key_value_heads=16, num_experts=8, **_MOE,
)  # fmt: skip
#: OLMoE-1B-7B's widths (hidden 2048, experts of 1024)
OLMOE = _hf(
    "OlmoeConfig", "OlmoeForCausalLM", hidden_size=2048, intermediate_size=1024,
    num_attention_heads=16, num_key_value_heads=16, num_experts=8, **_MOE,
)  # fmt: skip
#: DeepSeek-V2-Lite's widths under the V3 architecture (hidden 2048, experts of 1408, MLA)
DEEPSEEK_V3 = _hf(
    "DeepseekV3Config", "DeepseekV3ForCausalLM", hidden_size=2048, intermediate_size=10944,
    moe_intermediate_size=1408, num_attention_heads=16, num_key_value_heads=16,
    n_routed_experts=8, n_shared_experts=2, first_k_dense_replace=1, q_lora_rank=None,
    kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128, v_head_dim=128, n_group=1,
    topk_group=1, **_MOE,
)  # fmt: skip
#: ModernBERT-base (hidden 768, Wi 768 -> 2 x 1152)
MODERNBERT = _hf(
    "ModernBertConfig", "ModernBertForMaskedLM", vocab_size=50368, hidden_size=768,
    intermediate_size=1152, num_hidden_layers=4, num_attention_heads=12, pad_token_id=50283,
    bos_token_id=50281, eos_token_id=50282, sep_token_id=50282, cls_token_id=50281,
    mask_token_id=50284,
)  # fmt: skip
#: Phi-3-mini's widths (hidden 3072, gate_up_proj 3072 -> 2 x 8192)
PHI3 = _hf(
    "Phi3Config", "Phi3ForCausalLM", vocab_size=VOCAB, hidden_size=3072,
    intermediate_size=8192, num_hidden_layers=2, num_attention_heads=32,
    num_key_value_heads=32, pad_token_id=0,
)  # fmt: skip
#: GLM-4-9B's widths (hidden 4096, gate_up_proj 4096 -> 2 x 13696), one layer and an 8k
#: vocabulary: 2 layers and 32k held 6 GB at the peak
GLM = _hf(
    "GlmConfig", "GlmForCausalLM", vocab_size=8000, hidden_size=4096,
    intermediate_size=13696, num_hidden_layers=1, num_attention_heads=32,
    num_key_value_heads=2, head_dim=128, pad_token_id=0,
)  # fmt: skip
BERT_BASE = _hf("BertConfig", "BertModel")
ROBERTA_BASE = _hf("RobertaConfig", "RobertaModel")
GPT2 = _hf("GPT2Config", "GPT2LMHeadModel")
#: TinyLlama-1.1B's widths (hidden 2048, RMSNorm eps 1e-5)
LLAMA = _hf(
    "LlamaConfig", "LlamaForCausalLM", vocab_size=VOCAB, hidden_size=2048,
    intermediate_size=5632, num_hidden_layers=2, num_attention_heads=32,
    num_key_value_heads=4, rms_norm_eps=1e-5,
)  # fmt: skip
#: Qwen3-0.6B's widths (hidden 1024, RMSNorm eps 1e-6)
QWEN3 = _hf(
    "Qwen3Config", "Qwen3ForCausalLM", vocab_size=VOCAB, hidden_size=1024,
    intermediate_size=3072, num_hidden_layers=2, num_attention_heads=16,
    num_key_value_heads=8, head_dim=128, rms_norm_eps=1e-6,
)  # fmt: skip


def _std(std: float) -> Callable[[torch.Tensor], None]:
    return lambda t: t.normal_(0.0, std)


@dataclass(frozen=True)
class Seed:
    """One bug: ``tensors`` (names in the model) drawn by ``inject``; found when a
    finding of one of ``codes`` names ``target`` (or a block of it)."""

    kind: str
    bug: str
    tensors: tuple[str, ...]
    inject: Callable[[torch.Tensor], None]
    codes: tuple[str, ...]
    target: str = ""
    #: Lint with the dynamic pass (the residual stream is measured, not read off values).
    dynamic: bool = False

    @property
    def judged(self) -> str:
        return self.target or self.tensors[0]


@dataclass(frozen=True)
class Case:
    model: str
    build: Callable[[], nn.Module]
    seeds: tuple[Seed, ...]
    #: Example inputs for the dynamic pass (None: inferred).
    inputs: Callable[[], Any] | None = None
    #: Whether the un-injected model is a clean control (a ResNet without norms is the bug).
    control: bool = True
    notes: tuple[str, ...] = field(default_factory=tuple)


def _experts(layer: int, extra: str = "") -> tuple[Seed, ...]:
    e = f"model.layers.{layer}.mlp.experts"
    a = f"model.layers.{layer}.self_attn.o_proj.weight"
    return (
        Seed("MoE experts", "N(0, 1) on the experts' gate_up_proj", (f"{e}.gate_up_proj",),
             _std(1.0), ("IP104",)),
        Seed("MoE experts", "N(0, 1) on the experts' down_proj", (f"{e}.down_proj",),
             _std(1.0), ("IP104",)),
        Seed("MoE experts", "N(0, 1) on an attention o_proj of an MoE model", (a,),
             _std(1.0), ("IP104",)),
    )  # fmt: skip


def _glu(name: str) -> tuple[Seed, ...]:
    return (
        Seed("packed GLU", "N(0, 1) on a packed GLU projection", (name,), _std(1.0), ("IP104",)),
    )


def _tiny_token(word: str, positions: str) -> Seed:
    return Seed(
        "embeddings", f"token embedding at 1e-5 beside {positions}", (word,), _std(1e-5),
        ("IP113",),
    )  # fmt: skip


def _under_eps(tables: tuple[str, ...], std: float, norm: str) -> Seed:
    return Seed(
        "embeddings", f"every embedding table at {std:g}: {norm} sees its eps", tables,
        _std(std), ("IP114",), target=tables[0],
    )  # fmt: skip


_BERT = ("embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
         "embeddings.token_type_embeddings.weight")  # fmt: skip
_STREAM = Seed(
    "residual streams", "He in every branch, no normalization (Fixup without its rescaling)",
    (), lambda t: None, ("IP206",), target="layer", dynamic=True,
)  # fmt: skip


def _image() -> Any:
    torch.manual_seed(0)
    return torch.randn(2, 3, 64, 64)


CASES: tuple[Case, ...] = (
    Case("Qwen3-MoE (30B-A3B widths)", QWEN3_MOE, _experts(1)),
    Case("Qwen2-MoE (1.5-MoE-A2.7B widths)", QWEN2_MOE, _experts(1)),
    Case("OLMoE (1B-7B widths)", OLMOE, _experts(1)),
    Case("DeepSeek-V3 (V2-Lite widths)", DEEPSEEK_V3, _experts(1)),
    Case("ModernBERT-base", MODERNBERT, _glu("model.layers.2.mlp.Wi.weight")),
    Case("Phi-3-mini widths", PHI3, _glu("model.layers.1.mlp.gate_up_proj.weight")),
    Case("GLM-4-9B widths", GLM, _glu("model.layers.0.mlp.gate_up_proj.weight")),
    Case("BERT-base", BERT_BASE, (
        _tiny_token(_BERT[0], "position and token-type embeddings at 0.02"),
        _under_eps(_BERT, 1e-7, "embeddings.LayerNorm (eps 1e-12)"),
    )),
    Case("RoBERTa-base", ROBERTA_BASE, (
        _tiny_token(_BERT[0], "position and token-type embeddings at 0.02"),
        _under_eps(_BERT, 1e-7, "embeddings.LayerNorm (eps 1e-12)"),
    )),
    Case("GPT-2 124M", GPT2, (
        _tiny_token("transformer.wte.weight", "position embeddings at 0.02"),
        _under_eps(("transformer.wte.weight", "transformer.wpe.weight"), 1e-4,
                   "h.0.ln_1 (eps 1e-5)"),
    )),
    Case("TinyLlama-1.1B widths", LLAMA, (
        _under_eps(("model.embed_tokens.weight",), 1e-4, "input_layernorm (eps 1e-5)"),
    )),
    Case("Qwen3-0.6B widths", QWEN3, (
        _under_eps(("model.embed_tokens.weight",), 1e-4, "input_layernorm (eps 1e-6)"),
    )),
    Case("ResNet-18 without BatchNorm", _resnet("resnet18"), (_STREAM,), _image, False),
    Case("ResNet-34 without BatchNorm", _resnet("resnet34"), (_STREAM,), _image, False),
    Case("ResNet-50 without BatchNorm", _resnet("resnet50"), (_STREAM,), _image, False),
)  # fmt: skip


def _on(findings: list[Any], seed: Seed) -> list[Any]:
    name = seed.judged
    if seed.dynamic:
        return [f for f in findings if f.code in seed.codes]
    return [f for f in findings if f.target == name or f.target.startswith(name + "[")]


def run_case(case: Case) -> tuple[list[tuple[Seed, bool, list[str]]], list[str] | None]:
    """Lint the case's model as its library built it (the control) and with each bug
    injected in turn: (seed, found, its findings on the target) per bug, and the
    control's warnings and errors (None: no control)."""
    import initpolicy

    model = case.build()
    inputs = case.inputs() if case.inputs is not None else None
    graph = initpolicy.trace(model, example_inputs=inputs)
    control = None
    if case.control:
        result = initpolicy.lint(model, static=True, graph=graph)
        control = [
            f"{f.code} {f.target}"
            for f in result.findings
            if f.severity != "info" and f.code not in BESIDE
        ]
    out = []
    for seed in case.seeds:
        saved = {n: model.get_parameter(n).detach().clone() for n in seed.tensors}
        try:
            with torch.no_grad():
                torch.manual_seed(0)
                for n in seed.tensors:
                    seed.inject(model.get_parameter(n))
            result = initpolicy.lint(
                model, static=not seed.dynamic, graph=graph, example_inputs=inputs
            )
        finally:
            with torch.no_grad():
                for n, t in saved.items():
                    model.get_parameter(n).copy_(t)
        on = _on(result.all_findings, seed)
        hit = any(f.code in seed.codes for f in on)
        out.append((seed, hit, [f"{f.code} {f.target}" for f in on]))
    del model, graph
    return out, control
