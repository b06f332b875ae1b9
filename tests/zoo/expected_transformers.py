"""Expected activation after each spot-checked layer, read from transformers 5.24.0 source.

Semantics (the brief's): walk forward from the layer's output through norms, dropout,
reshapes, residual adds, concat, constant scaling and gating muls; the first nonlinearity
is the answer; another parameterized layer or a mixing op (matmul, attention) first ->
``linear``; the model output -> ``output``; genuinely different answers on different
paths -> ``mixed``.

Two refinements, argued in REPORT.md section 5, are used where they matter:

* a tensor that is *also* returned to the caller (``encoder_last_hidden_state``,
  ``vision_model_output``, ``image_hidden_states``) is a side output; when the layer has a
  real consumer the answer is that consumer's (``linear``), not ``mixed(linear, output)``;
* a *packed* projection whose output is split into blocks that meet different
  nonlinearities (GLU ``Wi``/``gate_up_proj``, mamba ``in_proj``) is ``mixed`` (per block
  the answers differ); it is not ``linear``.

``EXPECTED[model][layer]`` is the answer, ``WHY[model][layer]`` the file:line (paths
relative to ``site-packages/transformers/``) and the reasoning. Layer names are those of
models.py's builders.
"""

from __future__ import annotations

M = "models/"
SDPA = "integrations/sdpa_attention.py:182 (scaled_dot_product_attention: mixing)"

WHY: dict[str, dict[str, tuple[str, str]]] = {
    "bert": {
        "bert.encoder.layer.0.attention.self.query": (
            "linear",
            M + "bert/modeling_bert.py:126 q@k^T (eager) / " + SDPA,
        ),
        "bert.encoder.layer.0.attention.self.key": (
            "linear",
            M + "bert/modeling_bert.py:126 q@k^T",
        ),
        "bert.encoder.layer.0.attention.self.value": (
            "linear",
            M + "bert/modeling_bert.py:134 probs@v",
        ),
        "bert.encoder.layer.0.attention.output.dense": (
            "linear",
            M + "bert/modeling_bert.py:293 LayerNorm(x+res) -> intermediate.dense",
        ),
        "bert.encoder.layer.0.intermediate.dense": (
            "gelu",
            M + "bert/modeling_bert.py:338 intermediate_act_fn (hidden_act gelu)",
        ),
        "bert.encoder.layer.1.output.dense": (
            "linear",
            M + "bert/modeling_bert.py:352 LayerNorm(x+res) -> pooler.dense",
        ),
        "bert.pooler.dense": ("tanh", M + "bert/modeling_bert.py:466 nn.Tanh"),
        "classifier": ("output", M + "bert/modeling_bert.py:1222 logits"),
        "bert.embeddings.word_embeddings": (
            "linear",
            M + "bert/modeling_bert.py embeddings sum -> LayerNorm -> query/key/value",
        ),
    },
    "roberta": {
        "roberta.encoder.layer.0.intermediate.dense": (
            "gelu",
            M + "roberta intermediate_act_fn (as bert:338)",
        ),
        "roberta.encoder.layer.0.attention.self.value": (
            "linear",
            M + "roberta/modeling_roberta.py:179 probs@v",
        ),
        "lm_head.dense": ("gelu", M + "roberta/modeling_roberta.py:888 gelu(x)"),
        "lm_head.decoder": ("output", M + "roberta/modeling_roberta.py:892,777 logits"),
    },
    "distilbert": {
        "distilbert.transformer.layer.0.attention.q_lin": (
            "linear",
            M + "distilbert/modeling_distilbert.py:135 q@k^T",
        ),
        "distilbert.transformer.layer.0.ffn.lin1": (
            "gelu",
            M + "distilbert/modeling_distilbert.py:219-220",
        ),
        "distilbert.transformer.layer.0.ffn.lin2": (
            "linear",
            M + "distilbert/modeling_distilbert.py:221 -> output_layer_norm(x+res) -> next q_lin",
        ),
        "pre_classifier": ("relu", M + "distilbert/modeling_distilbert.py:582-583 nn.ReLU()"),
        "classifier": ("output", M + "distilbert/modeling_distilbert.py:585"),
    },
    "albert": {
        "albert.encoder.embedding_hidden_mapping_in": (
            "linear",
            M + "albert/modeling_albert.py:272 -> layer q/k/v",
        ),
        "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn": (
            "gelu",
            M + "albert/modeling_albert.py:236",
        ),
        "albert.encoder.albert_layer_groups.0.albert_layers.0.ffn_output": (
            "linear",
            M
            + "albert/modeling_albert.py:237 -> LayerNorm(x+res) -> shared layer's query (called 2x)",
        ),
        "albert.pooler": ("tanh", M + "albert/modeling_albert.py:402 pooler_activation Tanh"),
        "classifier": ("output", M + "albert/modeling_albert.py:541"),
    },
    "electra": {
        "electra.encoder.layer.0.intermediate.dense": ("gelu", M + "electra intermediate_act_fn"),
        "discriminator_predictions.dense": (
            "gelu",
            M + "electra/modeling_electra.py:482 activation (hidden_act gelu)",
        ),
        "discriminator_predictions.dense_prediction": (
            "output",
            M + "electra/modeling_electra.py:483",
        ),
    },
    "deberta_v2": {
        "deberta.encoder.layer.0.intermediate.dense": (
            "gelu",
            M + "deberta_v2/modeling_deberta_v2.py:389",
        ),
        "pooler.dense": (
            "gelu",
            M + "deberta_v2/modeling_deberta_v2.py:978-979 ACT2FN[pooler_hidden_act='gelu']",
        ),
        "classifier": ("output", M + "deberta_v2/modeling_deberta_v2.py:1049"),
    },
    "modernbert": {
        "model.layers.0.mlp.Wi": (
            "mixed",
            M
            + "modernbert/modeling_modernbert.py:89-90 Wi(x).chunk(2): input->act(gelu), gate->*gate (linear): packed GLU",
        ),
        "model.layers.0.mlp.Wo": (
            "linear",
            M + "modernbert/modeling_modernbert.py:90 -> residual -> next attn_norm -> Wqkv",
        ),
        "head.dense": ("gelu", M + "modernbert head: dense -> act -> norm"),
        "decoder": ("output", M + "modernbert ForMaskedLM logits"),
    },
    "gpt2": {
        "transformer.h.0.attn.c_attn": (
            "linear",
            M + "gpt2/modeling_gpt2.py:187 split -> attention",
        ),
        "transformer.h.0.attn.c_proj": (
            "linear",
            M + "gpt2/modeling_gpt2.py:225 -> residual -> ln_2 -> c_fc",
        ),
        "transformer.h.0.mlp.c_fc": ("gelu", M + "gpt2/modeling_gpt2.py:241-242 act (gelu_new)"),
        "transformer.h.0.mlp.c_proj": (
            "linear",
            M + "gpt2/modeling_gpt2.py:243 -> residual -> next ln_1 -> c_attn",
        ),
        "lm_head": ("output", M + "gpt2/modeling_gpt2.py:820"),
    },
    "gpt_neox": {
        "gpt_neox.layers.0.attention.query_key_value": (
            "linear",
            M + "gpt_neox/modeling_gpt_neox.py:195",
        ),
        "gpt_neox.layers.0.attention.dense": (
            "linear",
            M + "gpt_neox/modeling_gpt_neox.py:223 -> residual",
        ),
        "gpt_neox.layers.0.mlp.dense_h_to_4h": ("gelu", M + "gpt_neox/modeling_gpt_neox.py:47"),
        "gpt_neox.layers.0.mlp.dense_4h_to_h": (
            "linear",
            M + "gpt_neox/modeling_gpt_neox.py:48 -> residual",
        ),
        "lm_head": ("output", M + "gpt_neox ForCausalLM logits"),
    },
    "llama": {
        "model.layers.0.self_attn.q_proj": (
            "linear",
            M + "llama/modeling_llama.py:147 rotary (mul by constants, add) then :193 q@k^T",
        ),
        "model.layers.0.self_attn.k_proj": ("linear", M + "llama/modeling_llama.py:148,193"),
        "model.layers.0.self_attn.v_proj": ("linear", M + "llama/modeling_llama.py:199 probs@v"),
        "model.layers.0.self_attn.o_proj": (
            "linear",
            M
            + "llama/modeling_llama.py:270,308 -> residual -> post_attention_layernorm -> gate/up",
        ),
        "model.layers.0.mlp.gate_proj": (
            "silu",
            M + "llama/modeling_llama.py:164 act_fn(gate_proj(x)) (silu)",
        ),
        "model.layers.0.mlp.up_proj": (
            "linear",
            M + "llama/modeling_llama.py:164 * gate (gating mul, linear in up) -> down_proj",
        ),
        "model.layers.0.mlp.down_proj": (
            "linear",
            M + "llama/modeling_llama.py:314 -> residual -> next input_layernorm",
        ),
        "model.embed_tokens": (
            "linear",
            M + "llama/modeling_llama.py:297 input_layernorm -> q/k/v",
        ),
        "lm_head": ("output", M + "llama/modeling_llama.py:471"),
    },
    "gemma": {
        "model.layers.0.mlp.gate_proj": (
            "gelu",
            M + "gemma/modeling_gemma.py:96 act_fn = gelu_pytorch_tanh",
        ),
        "model.layers.0.mlp.up_proj": ("linear", M + "gemma/modeling_gemma.py:96 gating mul"),
        "lm_head": ("output", M + "gemma ForCausalLM logits"),
    },
    "gemma2": {
        "model.layers.0.mlp.gate_proj": ("gelu", M + "gemma2 MLP act_fn gelu_pytorch_tanh"),
        "lm_head": (
            "output",
            M
            + "gemma2/modeling_gemma2.py:520-523 logits/30 -> tanh -> *30: a soft cap on the output, tanh(x/30) ~ x/30 in the init range; literal first nonlinearity is tanh",
        ),
    },
    "phi": {
        "model.layers.0.mlp.fc1": ("gelu", M + "phi/modeling_phi.py:247-248 activation gelu_new"),
        "model.layers.0.mlp.fc2": ("linear", M + "phi/modeling_phi.py:249 -> parallel residual"),
        "lm_head": ("output", M + "phi logits"),
    },
    "phi3": {
        "model.layers.0.mlp.gate_up_proj": (
            "mixed",
            M
            + "phi3/modeling_phi3.py:61-62 chunk(2): gate->silu, up->gating mul (linear): packed GLU",
        ),
        "model.layers.0.mlp.down_proj": ("linear", M + "phi3/modeling_phi3.py:64 -> residual"),
    },
    "opt": {
        "model.decoder.layers.0.fc1": (
            "relu",
            M + "opt/modeling_opt.py:245 activation_function relu",
        ),
        "model.decoder.layers.0.fc2": ("linear", M + "opt/modeling_opt.py:247 -> residual"),
        "lm_head": ("output", M + "opt/modeling_opt.py:515"),
    },
    "bloom": {
        "transformer.h.0.mlp.dense_h_to_4h": (
            "gelu",
            M + "bloom/modeling_bloom.py:327 gelu_impl (tanh approx)",
        ),
        "transformer.h.0.mlp.dense_4h_to_h": (
            "linear",
            M + "bloom/modeling_bloom.py:338 -> dropout_add residual",
        ),
    },
    "falcon": {
        "transformer.h.0.mlp.dense_h_to_4h": ("gelu", M + "falcon/modeling_falcon.py:526"),
        "transformer.h.0.mlp.dense_4h_to_h": (
            "linear",
            M + "falcon/modeling_falcon.py:527 -> parallel residual",
        ),
    },
    "t5": {
        "encoder.block.0.layer.1.DenseReluDense.wi": (
            "relu",
            M + "t5/modeling_t5.py:86 act (relu)",
        ),
        "encoder.block.0.layer.1.DenseReluDense.wo": (
            "linear",
            M + "t5/modeling_t5.py:94 -> residual -> next layer_norm -> q/k/v",
        ),
        "encoder.block.1.layer.1.DenseReluDense.wo": (
            "linear",
            M
            + "t5/modeling_t5.py:745 final_layer_norm -> decoder cross-attention k/v (:720); also returned as encoder_last_hidden_state (:1066): side output",
        ),
        "decoder.block.0.layer.2.DenseReluDense.wi": ("relu", M + "t5/modeling_t5.py:86"),
        "lm_head": ("output", M + "t5/modeling_t5.py:1048-1050 (scaled by d_model^-0.5, constant)"),
    },
    "t5_gated": {
        "encoder.block.0.layer.1.DenseReluDense.wi_0": (
            "gelu",
            M + "t5/modeling_t5.py:108 act(wi_0) gelu_new",
        ),
        "encoder.block.0.layer.1.DenseReluDense.wi_1": (
            "linear",
            M + "t5/modeling_t5.py:109-110 gating mul -> wo",
        ),
        "encoder.block.0.layer.1.DenseReluDense.wo": (
            "linear",
            M + "t5/modeling_t5.py:123 -> residual",
        ),
    },
    "bart": {
        "model.encoder.layers.0.fc1": ("gelu", M + "bart/modeling_bart.py:297"),
        "model.encoder.layers.0.fc2": (
            "linear",
            M + "bart/modeling_bart.py:299 -> residual -> final_layer_norm -> next self_attn q/k/v",
        ),
        "model.encoder.layers.1.fc2": (
            "linear",
            M
            + "bart/modeling_bart.py:299 -> LN -> decoder encoder_attn k/v; the returned encoder_last_hidden_state is a side output",
        ),
        "model.decoder.layers.0.fc1": ("gelu", M + "bart/modeling_bart.py:384"),
        "model.decoder.layers.0.self_attn.out_proj": (
            "linear",
            M + "bart/modeling_bart.py:255 -> residual -> LN -> encoder_attn.q_proj",
        ),
        "lm_head": ("output", M + "bart ForConditionalGeneration logits"),
    },
    "whisper": {
        "model.encoder.conv1": ("gelu", M + "whisper/modeling_whisper.py:617 F.gelu(conv1)"),
        "model.encoder.conv2": ("gelu", M + "whisper/modeling_whisper.py:618 F.gelu(conv2)"),
        "model.encoder.layers.0.fc1": ("gelu", M + "whisper/modeling_whisper.py:407"),
        "model.encoder.layers.0.fc2": (
            "linear",
            M + "whisper/modeling_whisper.py:409 -> residual -> next layer LN",
        ),
        "model.decoder.layers.0.fc1": ("gelu", M + "whisper/modeling_whisper.py:504"),
        "proj_out": ("output", M + "whisper/modeling_whisper.py:1122"),
    },
    "speech_to_text": {
        "model.encoder.conv.conv_layers.0": (
            "mixed",
            M
            + "speech_to_text/modeling_speech_to_text.py:99 F.glu(dim=1): first half of the channels is gated (linear), second half goes through sigmoid",
        ),
        "model.encoder.layers.0.fc1": (
            "relu",
            M + "speech_to_text/modeling_speech_to_text.py:360 activation_function relu",
        ),
        "lm_head": ("output", M + "speech_to_text logits"),
    },
    "wav2vec2": {
        "wav2vec2.feature_extractor.conv_layers.0.conv": (
            "gelu",
            M + "wav2vec2/modeling_wav2vec2.py:296-302 conv -> GroupNorm -> gelu",
        ),
        "wav2vec2.feature_extractor.conv_layers.1.conv": (
            "gelu",
            M + "wav2vec2/modeling_wav2vec2.py:274-275 (no-norm layer) conv -> gelu",
        ),
        "wav2vec2.feature_projection.projection": (
            "linear",
            M
            + "wav2vec2/modeling_wav2vec2.py:436 -> dropout -> encoder (+pos_conv) -> LN -> q/k/v",
        ),
        "wav2vec2.encoder.pos_conv_embed.conv": (
            "gelu",
            M + "wav2vec2/modeling_wav2vec2.py:367-369 conv -> pad -> gelu",
        ),
        "wav2vec2.encoder.layers.0.feed_forward.intermediate_dense": (
            "gelu",
            M + "wav2vec2/modeling_wav2vec2.py:571",
        ),
        "wav2vec2.encoder.layers.0.feed_forward.output_dense": (
            "linear",
            M + "wav2vec2/modeling_wav2vec2.py:574 -> residual",
        ),
        "lm_head": ("output", M + "wav2vec2 ForCTC logits"),
    },
    "vit": {
        "vit.embeddings.patch_embeddings.projection": (
            "linear",
            M + "vit/modeling_vit.py:69 -> +pos -> layernorm_before -> q/k/v",
        ),
        "vit.layers.0.attention.q_proj": ("linear", M + "vit/modeling_vit.py:178"),
        "vit.layers.0.attention.o_proj": (
            "linear",
            M + "vit/modeling_vit.py:236 -> residual -> layernorm_after -> fc1",
        ),
        "vit.layers.0.mlp.fc1": ("gelu", M + "vit/modeling_vit.py:250-251"),
        "vit.layers.0.mlp.fc2": ("linear", M + "vit/modeling_vit.py:252 -> residual"),
        "classifier": ("output", M + "vit/modeling_vit.py:546"),
    },
    "deit": {
        "deit.layers.0.mlp.fc1": ("gelu", M + "deit/modeling_deit.py:255"),
        "deit.layers.0.mlp.fc2": ("linear", M + "deit/modeling_deit.py:257"),
        "cls_classifier": ("output", M + "deit WithTeacher: (cls + distillation)/2 -> logits"),
    },
    "beit": {
        "beit.layers.0.mlp.fc1": ("gelu", M + "beit/modeling_beit.py:353"),
        "beit.layers.0.mlp.fc2": (
            "linear",
            M + "beit/modeling_beit.py:355, :441 lambda_2 * x (layer scale) -> residual",
        ),
        "classifier": ("output", M + "beit classifier"),
    },
    "dinov2": {
        "dinov2.encoder.layer.0.mlp.fc1": ("gelu", M + "dinov2/modeling_dinov2.py:247"),
        "dinov2.encoder.layer.0.mlp.fc2": (
            "linear",
            M + "dinov2/modeling_dinov2.py:249 -> layer_scale2 -> residual",
        ),
        "classifier": ("output", M + "dinov2 classifier"),
    },
    "swin": {
        "swin.encoder.layers.0.blocks.0.mlp.fc1": ("gelu", M + "swin/modeling_swin.py:479"),
        "swin.encoder.layers.0.blocks.0.mlp.fc2": (
            "linear",
            M + "swin/modeling_swin.py:481 -> residual",
        ),
        "swin.encoder.layers.0.downsample.reduction": (
            "linear",
            M + "swin patch merging: norm -> reduction -> next block LN -> q/k/v",
        ),
        "classifier": ("output", M + "swin/modeling_swin.py:1036"),
    },
    "convnext": {
        "convnext.encoder.stages.0.layers.0.dwconv": (
            "linear",
            M + "convnext/modeling_convnext.py:144-147 dwconv -> LayerNorm -> pwconv1 (normalized)",
        ),
        "convnext.encoder.stages.0.layers.0.pwconv1": (
            "gelu",
            M + "convnext/modeling_convnext.py:147-148",
        ),
        "convnext.encoder.stages.0.layers.0.pwconv2": (
            "linear",
            M + "convnext/modeling_convnext.py:149-151 -> layer scale -> residual",
        ),
        "classifier": ("output", M + "convnext/modeling_convnext.py:317"),
    },
    "resnet": {
        "resnet.embedder.embedder.convolution": (
            "relu",
            M + "resnet/modeling_resnet.py:65-68 conv -> BN -> relu",
        ),
        "resnet.encoder.stages.0.layers.0.layer.0.convolution": (
            "relu",
            M + "resnet/modeling_resnet.py:68",
        ),
        "resnet.encoder.stages.0.layers.0.layer.2.convolution": (
            "relu",
            M + "resnet/modeling_resnet.py:169 activation=None, :175-176 += residual -> relu",
        ),
        "resnet.encoder.stages.1.layers.0.shortcut.convolution": (
            "relu",
            M + "resnet/modeling_resnet.py:174-176 shortcut -> += -> relu",
        ),
        "classifier.1": ("output", M + "resnet classifier (Flatten, Linear)"),
    },
    "regnet": {
        "regnet.encoder.stages.0.layers.0.layer.2.attention.0": (
            "relu",
            M + "regnet/modeling_regnet.py:117 SE reduce -> ReLU",
        ),
        "regnet.encoder.stages.0.layers.0.layer.2.attention.2": (
            "sigmoid",
            M + "regnet/modeling_regnet.py:119 SE expand -> Sigmoid",
        ),
        "classifier.1": ("output", M + "regnet/modeling_regnet.py:364"),
    },
    "mobilenet_v2": {
        "mobilenet_v2.conv_stem.first_conv.convolution": (
            "relu6",
            M + "mobilenet_v2/modeling_mobilenet_v2.py:151 conv -> BN -> relu6",
        ),
        "mobilenet_v2.layer.0.expand_1x1.convolution": (
            "relu6",
            M + "mobilenet_v2/modeling_mobilenet_v2.py:151",
        ),
        "mobilenet_v2.layer.0.conv_3x3.convolution": (
            "relu6",
            M + "mobilenet_v2/modeling_mobilenet_v2.py:151 (depthwise)",
        ),
        "mobilenet_v2.layer.0.reduce_1x1.convolution": (
            "linear",
            M
            + "mobilenet_v2/modeling_mobilenet_v2.py:189 use_activation=False, :199 (+residual) -> next expand_1x1",
        ),
        "classifier": ("output", M + "mobilenet_v2/modeling_mobilenet_v2.py:411"),
    },
    "efficientnet": {
        "efficientnet.embeddings.convolution": (
            "silu",
            M + "efficientnet/modeling_efficientnet.py:91 conv -> BN -> swish",
        ),
        "efficientnet.encoder.blocks.0.depthwise_conv.depthwise_conv": (
            "silu",
            M
            + "efficientnet/modeling_efficientnet.py:182 (SE gate is transparent: x*g(x) at :221)",
        ),
        "efficientnet.encoder.blocks.0.squeeze_excite.reduce": (
            "silu",
            M + "efficientnet/modeling_efficientnet.py:217",
        ),
        "efficientnet.encoder.blocks.0.squeeze_excite.expand": (
            "sigmoid",
            M + "efficientnet/modeling_efficientnet.py:220",
        ),
        "efficientnet.encoder.blocks.0.projection.project_conv": (
            "linear",
            M + "efficientnet/modeling_efficientnet.py:250 BN, no act -> next block expand_conv",
        ),
        "classifier": ("output", M + "efficientnet/modeling_efficientnet.py:543"),
    },
    "segformer": {
        "segformer.stages.0.blocks.0.mlp.fc1": (
            "linear",
            M + "segformer/modeling_segformer.py:216 fc1 -> dwconv (a layer) -> gelu",
        ),
        "segformer.stages.0.blocks.0.mlp.dwconv.dwconv": (
            "gelu",
            M + "segformer Mix-FFN: dwconv -> intermediate_act_fn",
        ),
        "decode_head.linear_projections.0.proj": (
            "linear",
            M + "segformer/modeling_segformer.py:468 -> cat (:518) -> linear_fuse",
        ),
        "decode_head.linear_fuse": (
            "relu",
            M + "segformer/modeling_segformer.py:518-520 conv -> BN -> ReLU",
        ),
        "decode_head.classifier": ("output", M + "segformer/modeling_segformer.py:524"),
    },
    "mamba": {
        "backbone.layers.0.mixer.in_proj": (
            "mixed",
            M
            + "mamba/modeling_mamba.py:378,402 chunk: hidden half -> conv1d (linear); gate half -> silu(z) in the scan",
        ),
        "backbone.layers.0.mixer.conv1d": (
            "silu",
            M + "mamba/modeling_mamba.py:421-426 causal_conv1d_fn(activation=silu)",
        ),
        "backbone.layers.0.mixer.x_proj": (
            "linear",
            M + "mamba/modeling_mamba.py:434-440 split -> dt_proj.weight @ dt, B/C -> scan",
        ),
        "backbone.layers.0.mixer.dt_proj": (
            "softplus",
            M
            + "mamba/modeling_mamba.py:440 weight used directly, :205-207 +delta_bias -> F.softplus",
        ),
        "backbone.layers.0.mixer.out_proj": (
            "linear",
            M + "mamba/modeling_mamba.py:483,530 -> residual -> next norm",
        ),
        "lm_head": ("output", M + "mamba/modeling_mamba.py:794"),
    },
    "rwkv": {
        "rwkv.blocks.0.feed_forward.key": (
            "relu",
            M + "rwkv/modeling_rwkv.py:315 square(relu(key))",
        ),
        "rwkv.blocks.0.feed_forward.receptance": ("sigmoid", M + "rwkv/modeling_rwkv.py:317"),
        "rwkv.blocks.0.feed_forward.value": (
            "linear",
            M + "rwkv/modeling_rwkv.py:316 value * receptance (gate) -> residual",
        ),
        "rwkv.blocks.0.attention.receptance": ("sigmoid", M + "rwkv/modeling_rwkv.py:262"),
        "rwkv.blocks.0.attention.output": ("linear", M + "rwkv/modeling_rwkv.py:284 -> residual"),
        "head": ("output", M + "rwkv/modeling_rwkv.py:735"),
    },
    "clip": {
        "vision_model.encoder.layers.0.mlp.fc1": (
            "gelu",
            M + "clip/modeling_clip.py:348 quick_gelu",
        ),
        "text_model.encoder.layers.0.mlp.fc1": ("gelu", M + "clip/modeling_clip.py:348"),
        "vision_model.encoder.layers.1.mlp.fc2": (
            "linear",
            M
            + "clip: -> residual -> post_layernorm -> visual_projection (:741); last_hidden_state also returned (side output)",
        ),
        "text_model.encoder.layers.1.mlp.fc2": (
            "linear",
            M + "clip: -> final_layer_norm -> text_projection (:703); side output",
        ),
    },
    "llava": {
        "model.multi_modal_projector.linear_1": (
            "gelu",
            M + "llava/modeling_llava.py:81-85 projector linear_1 -> act (gelu) -> linear_2",
        ),
        "model.multi_modal_projector.linear_2": (
            "linear",
            M
            + "llava/modeling_llava.py:236 masked_scatter into inputs_embeds -> llama layers; image_hidden_states also returned (side output)",
        ),
        "model.vision_tower.encoder.layers.0.mlp.fc1": (
            "gelu",
            M + "clip/modeling_clip.py:348 (vision tower)",
        ),
    },
}

EXPECTED: dict[str, dict[str, str]] = {m: {k: v[0] for k, v in d.items()} for m, d in WHY.items()}
