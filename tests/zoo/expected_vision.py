"""Expected activation after each spot-checked layer, read from the library source.

Semantics (the tracer's contract, in TRAINING mode, since init is for training): walk
forward from the layer's output through norms, dropout, reshapes, pooling, residual add,
concat, constant scaling and gating multiplications; the first nonlinearity is the answer;
another parameterized layer or a mixing op (matmul/attention) first -> "linear"; the model
output first -> "output"; paths that disagree -> "mixed". Training mode: auxiliary heads
(googlenet aux1/aux2, inception_v3 AuxLogits) run and are model outputs.

Paths are relative to the site-packages directory of the test environment. Layer names are the
module names the tracer reports. A timm ``ConvNormAct``/``BatchNormAct2d`` applies the
activation inside its ``bn`` (timm/layers/norm_act.py:136-148, conv_bn_act.py:105-111);
``act_layer='silu'``/``'swish'`` -> nn.SiLU, ``'hard_sigmoid'`` -> hardsigmoid,
``'leaky_relu'`` -> nn.LeakyReLU(0.01) (timm/layers/create_act.py).
"""

TV = "torchvision/models/"
TM = "timm/models/"

EXPECTED: dict[str, dict[str, str]] = {
    # ---------------------------------------------------------------- torchvision
    "resnet50": {
        "conv1": "relu",  # resnet.py:268-270 conv1 -> bn1 -> relu
        "layer1.0.conv1": "relu",  # resnet.py:146-148
        "layer1.0.conv2": "relu",  # resnet.py:150-152
        "layer1.0.conv3": "relu",  # resnet.py:154-161 bn3 -> += identity -> relu
        "layer1.0.downsample.0": "relu",  # resnet.py:157-161 downsample -> add -> relu
        "layer3.5.conv2": "relu",  # resnet.py:150-152
        "layer4.2.conv3": "relu",  # resnet.py:160-161, then avgpool/fc 278-280
        "fc": "output",  # resnet.py:280
    },
    "resnet18": {
        "conv1": "relu",  # resnet.py:268-270
        "layer1.0.conv1": "relu",  # resnet.py:92-94
        "layer1.0.conv2": "relu",  # resnet.py:96-103 bn2 -> += identity -> relu
        "layer2.0.downsample.0": "relu",  # resnet.py:99-103
        "fc": "output",  # resnet.py:280
    },
    "googlenet": {  # training mode: aux heads run (googlenet.py:131-145) and are outputs (163-168)
        "conv1.conv": "relu",  # googlenet.py:272-275 BasicConv2d: conv -> bn -> F.relu
        "inception3a.branch2.1.conv": "relu",  # googlenet.py:275
        "inception5b.branch4.1.conv": "relu",  # googlenet.py:275
        "aux1.conv.conv": "relu",  # googlenet.py:252 (BasicConv2d) -> 275
        "aux1.fc1": "relu",  # googlenet.py:256 F.relu(self.fc1(x))
        "aux1.fc2": "output",  # googlenet.py:260, returned as aux1 (163, 168)
        "aux2.fc1": "relu",  # googlenet.py:256
        "aux2.fc2": "output",  # googlenet.py:260
        "fc": "output",  # googlenet.py:161
    },
    "inception_v3": {  # training mode: AuxLogits runs (inception.py:136-138), returned (155, 160)
        "Conv2d_1a_3x3.conv": "relu",  # inception.py:404-407 BasicConv2d
        "Mixed_5b.branch1x1.conv": "relu",  # inception.py:407
        "Mixed_6e.branch7x7dbl_5.conv": "relu",  # inception.py:407
        "Mixed_7c.branch_pool.conv": "relu",  # inception.py:407
        "AuxLogits.conv0.conv": "relu",  # inception.py:384 -> 407
        "AuxLogits.conv1.conv": "relu",  # inception.py:386 -> 407
        "AuxLogits.fc": "output",  # inception.py:393, aux output
        "fc": "output",  # inception.py:153
    },
    "mobilenet_v2": {
        "features.0.0": "relu6",  # mobilenetv2.py:126 Conv2dNormActivation(..., ReLU6)
        "features.1.conv.0.0": "relu6",  # mobilenetv2.py:43-49 dw conv + ReLU6
        "features.1.conv.1": "linear",  # mobilenetv2.py:52 project, no act, no residual (32->16)
        "features.2.conv.0.0": "relu6",  # mobilenetv2.py:38 expand + ReLU6
        "features.2.conv.2": "linear",  # mobilenetv2.py:52, stride 2: no residual -> next expand conv
        "features.3.conv.2": "linear",  # mobilenetv2.py:52, 61-62 x + conv(x) -> next block conv
        "features.18.0": "relu6",  # mobilenetv2.py:137-138
        "classifier.1": "output",  # mobilenetv2.py:147
    },
    "mobilenet_v3_small": {
        "features.0.0": "hardswish",  # mobilenetv3.py:162-168
        "features.1.block.0.0": "relu",  # mobilenetv3.py:84-95 dw conv, cfg 254 "RE"
        "features.1.block.1.fc1": "relu",  # ops/misc.py:254-255 SqueezeExcitation activation=ReLU
        "features.1.block.1.fc2": "hardsigmoid",  # ops/misc.py:256-257, mobilenetv3.py:59
        "features.1.block.2.0": "linear",  # mobilenetv3.py:101-105 project, stride 2 no residual
        "features.4.block.0.0": "hardswish",  # mobilenetv3.py:71-80, cfg 257 "HS"
        "features.4.block.1.0": "hardswish",  # mobilenetv3.py:84-95 dw conv (act before SE)
        "features.12.0": "hardswish",  # mobilenetv3.py:180-185
        "classifier.0": "hardswish",  # mobilenetv3.py:192-193
        "classifier.3": "output",  # mobilenetv3.py:195
    },
    "efficientnet_b0": {
        "features.0.0": "silu",  # efficientnet.py:272-281 stem Conv2dNormActivation(SiLU)
        "features.1.0.block.0.0": "silu",  # efficientnet.py:137-145 dw conv + SiLU
        "features.1.0.block.1.fc1": "silu",  # efficientnet.py:151 SE activation SiLU
        "features.1.0.block.1.fc2": "sigmoid",  # ops/misc.py:257 default Sigmoid
        "features.1.0.block.2.0": "linear",  # efficientnet.py:154-158 project, 32->16 no residual
        "features.2.0.block.0.0": "silu",  # efficientnet.py:126-133 expand
        "features.2.1.block.3.0": "linear",  # efficientnet.py:164-168 residual -> next block conv
        "features.8.0": "silu",  # efficientnet.py:303-311
        "classifier.1": "output",  # efficientnet.py:317
    },
    "squeezenet1_0": {
        "features.0": "relu",  # squeezenet.py:43-44 Conv2d, ReLU
        "features.3.squeeze": "relu",  # squeezenet.py:30 squeeze_activation(squeeze(x))
        "features.3.expand1x1": "relu",  # squeezenet.py:32 expand1x1_activation, then cat
        "features.3.expand3x3": "relu",  # squeezenet.py:32 expand3x3_activation
        "classifier.1": "relu",  # squeezenet.py:80 final_conv, then ReLU, AvgPool, flatten
    },
    "densenet121": {
        "features.conv0": "relu",  # densenet.py:170-172 conv0, norm0, relu0
        "features.denseblock1.denselayer1.conv1": "relu",  # densenet.py:90 relu2(norm2(.))
        "features.denseblock1.denselayer1.conv2": "relu",  # cat -> norm1 -> relu1 (48-49), transition relu (130-131)
        "features.transition1.conv": "relu",  # pool -> next dense layers' norm1/relu1 (48-49)
        "features.denseblock4.denselayer16.conv2": "relu",  # cat -> norm5 -> F.relu (214)
        "classifier": "output",  # densenet.py:217
    },
    "shufflenet_v2_x0_5": {
        "conv1.0": "relu",  # shufflenetv2.py:124-126
        "stage2.0.branch1.0": "linear",  # shufflenetv2.py:58-61 dw conv -> BN -> 1x1 conv
        "stage2.0.branch1.2": "relu",  # shufflenetv2.py:61-63
        "stage2.0.branch2.0": "relu",  # shufflenetv2.py:69-78
        "stage2.0.branch2.3": "linear",  # shufflenetv2.py:79-81 dw conv -> BN -> conv
        "stage2.0.branch2.5": "relu",  # shufflenetv2.py:81-83
        "conv5.0": "relu",  # shufflenetv2.py:145-148
        "fc": "output",  # shufflenetv2.py:162
    },
    "mnasnet0_5": {
        "layers.0": "relu",  # mnasnet.py:122-124
        "layers.3": "relu",  # mnasnet.py:126-128
        "layers.6": "linear",  # mnasnet.py:129-130 -> BN -> first stack's 1x1 conv
        "layers.8.0.layers.0": "relu",  # mnasnet.py:47-49
        "layers.8.0.layers.3": "relu",  # mnasnet.py:51-53
        "layers.8.1.layers.6": "linear",  # mnasnet.py:55-56, 61 residual -> next block conv
        "layers.14": "relu",  # mnasnet.py:139-141
        "classifier.1": "output",  # mnasnet.py:144
    },
    "regnet_y_400mf": {
        "stem.0": "relu",  # regnet.py:62-63
        "trunk_output.block1.block1-0.proj.0": "relu",  # regnet.py:129, 145-148 add -> activation
        "trunk_output.block1.block1-0.f.a.0": "relu",  # regnet.py:85-86
        "trunk_output.block1.block1-0.f.b.0": "relu",  # regnet.py:88-89
        "trunk_output.block1.block1-0.f.se.fc1": "relu",  # regnet.py:96-99 SE activation=ReLU
        "trunk_output.block1.block1-0.f.se.fc2": "sigmoid",  # ops/misc.py:257
        "trunk_output.block1.block1-0.f.c.0": "relu",  # regnet.py:102-103, 145-148
        "fc": "output",  # regnet.py:382
    },
    "convnext_tiny": {
        "features.0.0": "linear",  # convnext stem conv -> LayerNorm2d -> block dwconv
        "features.1.0.block.0": "linear",  # convnext.py:52-55 dwconv -> LN -> Linear
        "features.1.0.block.3": "gelu",  # convnext.py:55-56
        "features.1.0.block.5": "linear",  # convnext.py:57, 63-66 layer_scale, add -> next dwconv
        "features.2.1": "linear",  # convnext.py:148-149 downsample conv -> next block dwconv
        "classifier.2": "output",  # convnext.py:160-161
    },
    "swin_t": {
        "features.0.0": "linear",  # swin patch embed conv -> permute -> LN -> attention qkv
        "features.1.0.attn.qkv": "linear",  # swin_transformer.py:116-211 q @ k^T (matmul) first
        "features.1.0.attn.proj": "linear",  # swin_transformer.py:453-454 residual add -> norm2 -> mlp.0
        "features.1.0.mlp.0": "gelu",  # swin_transformer.py:444 MLP(..., GELU)
        "features.1.0.mlp.3": "linear",  # residual add -> next block norm1 -> qkv
        "features.2.reduction": "linear",  # PatchMerging: norm then reduction -> next block
        "head": "output",
    },
    "swin_v2_t": {
        "features.1.0.attn.qkv": "linear",  # F.normalize(q) @ F.normalize(k)^T
        "features.1.0.attn.cpb_mlp.0": "relu",  # cpb_mlp = Linear, ReLU, Linear
        "features.1.0.attn.cpb_mlp.2": "sigmoid",  # swin_transformer.py:373 16 * torch.sigmoid(.)
        "features.1.0.mlp.0": "gelu",
        "features.1.0.mlp.3": "linear",  # swin_transformer.py:503-504 v2: norm2 -> add -> next block
        "head": "output",
    },
    "vit_b_16": {
        "conv_proj": "linear",  # vision_transformer.py:277-298 -> encoder ln_1 -> attention
        "encoder.layers.encoder_layer_0.self_attention.out_proj": "linear",  # 112-119 add -> ln_2 -> mlp.0
        "encoder.layers.encoder_layer_0.mlp.0": "gelu",  # MLPBlock: Linear, GELU, Dropout, Linear
        "encoder.layers.encoder_layer_0.mlp.3": "linear",  # add -> next layer ln_1 -> attention
        "heads.head": "output",  # vision_transformer.py:237
    },
    "maxvit_t": {
        "stem.0.0": "gelu",  # maxvit.py:642-650 Conv2dNormActivation(activation_layer=GELU)
        "stem.1.0": "linear",  # maxvit.py:653-654 no norm/act -> MBConv pre_norm/proj
        "blocks.0.layers.0.layers.MBconv.layers.conv_a.0": "gelu",  # maxvit.py:103-112
        "blocks.0.layers.0.layers.MBconv.layers.conv_b.0": "gelu",  # maxvit.py:113-123
        "blocks.0.layers.0.layers.MBconv.layers.squeeze_excitation.fc1": "silu",  # maxvit.py:124
        "blocks.0.layers.0.layers.MBconv.layers.squeeze_excitation.fc2": "sigmoid",  # ops/misc.py:257
        "blocks.0.layers.0.layers.MBconv.layers.conv_c": "linear",  # maxvit.py:125, 136-138 -> LN -> to_qkv
        "blocks.0.layers.0.layers.window_attention.attn_layer.1.to_qkv": "linear",  # maxvit.py:194-205
        "blocks.0.layers.0.layers.window_attention.attn_layer.1.merge": "linear",  # maxvit.py:210, 379-380
        "blocks.0.layers.0.layers.window_attention.mlp_layer.1": "gelu",  # maxvit.py:348-352
        "classifier.3": "tanh",  # maxvit.py:701-702
        "classifier.5": "output",  # maxvit.py:703
    },
    "alexnet": {
        "features.0": "relu",  # alexnet.py:22-23 Conv2d, ReLU
        "features.10": "relu",  # alexnet.py:32-33
        "classifier.1": "relu",  # alexnet.py:39-40
        "classifier.4": "relu",  # alexnet.py:42-43
        "classifier.6": "output",  # alexnet.py:44
    },
    "vgg11_bn": {
        "features.0": "relu",  # vgg.py:83 conv2d, BatchNorm2d, ReLU
        "features.25": "relu",
        "classifier.0": "relu",  # vgg.py:44-45
        "classifier.3": "relu",
        "classifier.6": "output",
    },
    "lraspp_mobilenet_v3_large": {
        "classifier.cbr.0": "relu",  # segmentation/lraspp.py:57-60 cbr: Conv2d, BN, ReLU
        "classifier.scale.1": "sigmoid",  # lraspp.py:62-65, 76 AvgPool, Conv2d, Sigmoid; x * s
        "classifier.low_classifier": "output",  # lraspp.py:79 low + high -> interpolate -> "out"
        "classifier.high_classifier": "output",
        "backbone.0.0": "hardswish",  # mobilenetv3.py:162-168
    },
    # ---------------------------------------------------------------- timm
    "timm/regnetx_002": {
        "stem.conv": "relu",  # regnet.py:604 ConvNormAct(act ReLU)
        "s1.b1.conv1.conv": "relu",  # regnet.py:324
        "s1.b1.conv2.conv": "relu",  # regnet.py:325
        "s1.b1.conv3.conv": "relu",  # regnet.py:341 apply_act=False, 376-377 add -> act3 ReLU
        "s1.b1.downsample.conv": "relu",  # regnet.py:230, 376-377
        "s4.b5.conv3.conv": "relu",  # regnet.py:376-377
        "head.fc": "output",
    },
    "timm/cspdarknet53": {  # act_layer 'leaky_relu' (cspnet.py:96), ConvNormAct everywhere
        "stem.conv1.conv": "leaky_relu",
        "stages.0.conv_down.conv": "leaky_relu",  # cspnet.py:338
        "stages.0.conv_exp.conv": "leaky_relu",  # cspnet.py:357 (cross_linear False)
        "stages.0.blocks.0.conv1.conv": "leaky_relu",  # cspnet.py:223
        "stages.0.blocks.0.conv2.conv": "leaky_relu",  # cspnet.py:225-245 act inside, then + shortcut
        "stages.0.conv_transition_b.conv": "leaky_relu",  # cspnet.py:382
        "stages.0.conv_transition.conv": "leaky_relu",  # cspnet.py:383
        "head.fc": "output",
    },
    "timm/efficientnet_b0": {
        "conv_stem": "silu",  # efficientnet.py:152-153 bn1 = BatchNormAct(SiLU)
        "blocks.0.0.conv_dw": "silu",  # _efficientnet_blocks.py:192-202, 223-224
        "blocks.0.0.se.conv_reduce": "silu",  # _efficientnet_blocks.py:73-81 act_layer from block (SiLU)
        "blocks.0.0.se.conv_expand": "sigmoid",  # _efficientnet_blocks.py:75-83 gate sigmoid
        "blocks.0.0.conv_pw": "linear",  # _efficientnet_blocks.py:208-209 no pw act, no skip (32->16)
        "blocks.1.0.conv_pw": "silu",  # _efficientnet_blocks.py:292-293
        "blocks.1.0.conv_dw": "silu",  # _efficientnet_blocks.py:296-307
        "blocks.1.1.conv_pwl": "linear",  # _efficientnet_blocks.py:314-315, 337-338 residual -> next conv
        "conv_head": "silu",  # efficientnet.py:174-175
        "classifier": "output",
    },
    "timm/mobilenetv3_small_050": {
        "conv_stem": "hardswish",  # mobilenetv3.py:113-114 bn1 act hard_swish
        "blocks.0.0.conv_dw": "relu",  # 'ds_r1_k3_s2_e1_c16_se0.25_nre' (mobilenetv3.py:630) -> bn1 ReLU
        "blocks.0.0.se.conv_reduce": "relu",  # mobilenetv3.py:680 force_act_layer=nn.ReLU
        "blocks.0.0.se.conv_expand": "hardsigmoid",  # mobilenetv3.py:680 gate 'hard_sigmoid'
        "blocks.0.0.conv_pw": "linear",  # _efficientnet_blocks.py:208-209, stride 2 no skip
        "conv_head": "hardswish",  # mobilenetv3.py:349-352 conv_head -> norm_head -> act2
        "classifier": "output",
    },
    "timm/resnet50": {
        "conv1": "relu",  # resnet.py: conv1 -> bn1 -> act1
        "layer1.0.conv1": "relu",  # Bottleneck.forward conv1, bn1, act1
        "layer1.0.conv2": "relu",  # conv2, bn2, drop_block, act2
        "layer1.0.conv3": "relu",  # conv3, bn3, += shortcut, act3
        "layer1.0.downsample.0": "relu",  # downsample -> += -> act3
        "fc": "output",
    },
    "timm/rexnet_100": {
        "stem.conv": "silu",  # rexnet.py:300 act_layer 'swish'
        "features.0.conv_dw.conv": "relu6",  # rexnet.py:85-92 apply_act=False, 99, 127-130 act_dw relu6
        "features.0.conv_pwl.conv": "linear",  # rexnet.py:101, 131-135 (no shortcut 32->16) -> next conv_exp
        "features.1.conv_exp.conv": "silu",  # rexnet.py:80
        "features.3.conv_dw.conv": "relu6",  # rexnet.py:127-130 dw -> SE gate -> act_dw
        "features.3.se.fc1": "relu",  # rexnet.py:34 SEWithNorm, squeeze_excite.py:60-61 bn -> act ReLU
        "features.3.se.fc2": "sigmoid",  # squeeze_excite.py:62-63 gate sigmoid
        "features.3.conv_pwl.conv": "linear",  # rexnet.py:131-135 partial add + cat -> next conv_exp
        "features.16.conv": "silu",  # rexnet.py:242 final ConvNormAct(act_layer swish)
        "head.fc": "output",
    },
    "timm/gernet_s": {  # act relu (byobnet default), BasicBlock/BottleneckBlock
        "stem.conv": "relu",
        "stages.0.0.conv1_kxk.conv": "relu",  # byobnet.py:388 conv_norm_act
        "stages.0.0.conv2_kxk.conv": "relu",  # byobnet.py:390-397 apply_act=False, 419-420 add -> act
        "stages.0.0.shortcut.conv": "relu",  # byobnet.py:419-420
        "stages.2.0.conv1_1x1.conv": "relu",  # byobnet.py:538
        "stages.2.0.conv2_kxk.conv": "relu",
        "stages.2.0.conv3_1x1.conv": "relu",  # byobnet.py:561, 583-584 add -> act
        "final_conv.conv": "relu",
        "head.fc": "output",
    },
    "timm/coatnet_pico_rw_224": {  # conv act silu (maxxvit.py:1814), SE act silu (136)
        "stem.conv1": "silu",  # maxxvit.py:1403-1404 norm1 = BatchNormAct(silu)
        "stem.conv2": "linear",  # maxxvit.py:1405, stem out -> block pre_norm/shortcut -> conv1_1x1
        "stages.0.blocks.0.conv1_1x1": "silu",  # maxxvit.py:598-599, 640-641
        "stages.0.blocks.0.conv2_kxk": "silu",  # maxxvit.py:601, 644-647 norm2 act
        "stages.0.blocks.0.se.fc1": "silu",  # SEModule act_layer=attn_act_layer silu
        "stages.0.blocks.0.se.fc2": "sigmoid",  # squeeze_excite.py:62-63
        "stages.0.blocks.0.conv3_1x1": "linear",  # maxxvit.py:652-653 + shortcut -> next pre_norm -> conv
    },
    "timm/ghostnet_100": {
        "conv_stem": "relu",  # ghostnet.py:673-676 bn1, act1 ReLU
        "blocks.0.0.ghost1.primary_conv.0": "relu",  # ghostnet.py:59-63
        "blocks.0.0.ghost1.cheap_operation.0": "relu",  # ghostnet.py:65-69
        "blocks.0.0.ghost2.primary_conv.0": "linear",  # act Identity (ghostnet.py:409) -> cheap conv / cat -> add -> conv
        "blocks.0.0.ghost2.cheap_operation.0": "linear",  # ghostnet.py:71-75 cat -> add (449-450) -> next conv
        "blocks.1.0.conv_dw": "linear",  # ghostnet.py:438-441 bn_dw -> ghost2 conv
        "blocks.1.0.shortcut.0": "linear",  # ghostnet.py:415-428 dw conv -> BN -> 1x1 conv
        "blocks.1.0.shortcut.2": "linear",  # BN -> add -> next block conv
        "blocks.3.0.se.conv_reduce": "relu",  # ghostnet.py:37 SqueezeExcite act ReLU
        "blocks.3.0.se.conv_expand": "hardsigmoid",  # ghostnet.py:37 gate 'hard_sigmoid'
        "conv_head": "relu",  # ghostnet.py:857-858
        "classifier": "output",  # ghostnet.py:862
    },
    "timm/mobilevit_xxs": {  # act silu (mobilevit.py:101)
        "stem.conv": "silu",
        "stages.0.0.conv1_1x1.conv": "silu",  # byobnet BottleneckBlock conv_norm_act
        "stages.0.0.conv3_1x1.conv": "linear",  # linear_out=True (mobilevit.py:37) -> next block conv
        "stages.2.1.conv_kxk.conv": "silu",  # mobilevit.py:200, 242
        "stages.2.1.conv_1x1": "linear",  # mobilevit.py:209, 243 -> unfold -> transformer norm1 -> qkv
        "stages.2.1.transformer.0.attn.qkv": "linear",
        "stages.2.1.transformer.0.mlp.fc1": "silu",  # mobilevit.py:220 act_layer=layers.act (silu)
        "stages.2.1.conv_proj.conv": "silu",  # mobilevit.py:228, 275 conv_norm_act
        "stages.2.1.conv_fusion.conv": "silu",  # mobilevit.py:233
        "head.fc": "output",
    },
    "timm/dm_nfnet_f0": {  # gelu with gamma (nfnet.py:799, 822; GammaAct 63-89)
        "stem.conv1": "gelu",  # nfnet.py:313-332 conv, act, conv, act ...
        "stem.conv4": "gelu",  # stem output -> block act1 (nfnet.py:259)
        "stages.0.0.downsample.conv": "gelu",  # shortcut -> add (nfnet.py:280) -> next block act1 (259)
        "stages.0.0.conv1": "gelu",  # nfnet.py:267-268 conv2(act2(.))
        "stages.0.0.conv2b": "gelu",  # nfnet.py:273 conv3(act3(.))
        "stages.0.0.conv3": "gelu",  # nfnet.py:273-280 attn_last gate, alpha, + shortcut -> next act1 (259)
        "stages.0.0.attn_last.fc1": "relu",  # SEModule default act ReLU (squeeze_excite.py:38)
        "stages.0.0.attn_last.fc2": "sigmoid",
        "head.fc": "output",
    },
    "timm/levit_128s": {  # act hardswish
        "stem.conv1.linear": "hardswish",  # levit.py:186-187 conv1, act1
        "stem.conv4.linear": "linear",  # levit.py:192, then blocks' attention qkv
        "stages.0.blocks.0.attn.qkv.linear": "linear",  # levit.py:314-327 q @ k
        "stages.0.blocks.0.attn.proj.ln.linear": "linear",  # residual add -> mlp.ln1
        "stages.0.blocks.0.mlp.ln1.linear": "hardswish",  # levit.py:495-497
        "stages.0.blocks.0.mlp.ln2.linear": "linear",  # residual -> next attn qkv
        "head.linear": "output",  # (x + x_dist) / 2
        "head_dist.linear": "output",
    },
    "timm/vit_tiny_patch16_224": {
        "patch_embed.proj": "linear",  # -> cls cat, pos add -> norm1 -> qkv
        "blocks.0.attn.qkv": "linear",
        "blocks.0.attn.proj": "linear",  # add -> norm2 -> fc1
        "blocks.0.mlp.fc1": "gelu",
        "blocks.0.mlp.fc2": "linear",
        "blocks.11.mlp.fc2": "linear",  # add -> final norm -> head
        "head": "output",
    },
    "timm/convnext_zepto_rms": {
        "stem.0": "linear",  # stem conv -> norm -> block conv_dw
        "stages.0.blocks.0.conv_dw": "linear",  # conv_dw -> norm -> mlp.fc1
        "stages.0.blocks.0.mlp.fc1": "gelu",
        "stages.0.blocks.0.mlp.fc2": "linear",  # gamma, + shortcut -> next conv_dw
        "head.fc": "output",
    },
    "timm/poolformerv2_s12": {  # metaformer.py:167-191 StarReLU = scale * relu(x) ** 2 + bias (params + child ReLU)
        "stages.0.blocks.0.mlp.fc1": "relu",  # layers/mlp.py:48-49 fc1 -> act (StarReLU)
        "stages.0.blocks.1.mlp.fc1": "relu",
        "stages.3.blocks.1.mlp.fc1": "relu",
        "stages.0.blocks.0.mlp.fc2": "linear",  # mlp.py:52, residual add -> next block norm -> mixer
    },
    "timm/starnet_s050": {
        "stem.0.conv": "relu6",  # starnet.py:111-113
        "stages.0.1.dwconv.conv": "linear",  # starnet.py:76-77 -> f1/f2 convs
        "stages.0.1.f1.conv": "relu6",  # starnet.py:78 act(x1)
        "stages.0.1.f2.conv": "linear",  # starnet.py:78-79 gate mul -> g conv
        "stages.0.1.g.conv": "linear",  # starnet.py:79 -> dwconv2
        "stages.0.1.dwconv2.conv": "linear",  # starnet.py:80 + residual -> next conv
        "head": "output",
    },
}
