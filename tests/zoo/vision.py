"""The vision zoo for the initpolicy survey: name -> zero-arg builder returning the model
exactly as its library builds it, with no pretrained weights (no network).

Selection rule
--------------
torchvision (0.29.1):
  * every classification model: ``torchvision.models.list_models(module=torchvision.models)``
    (80 models);
  * the smallest model by parameter count of each of detection, segmentation, video and
    optical flow (``ssdlite320_mobilenet_v3_large``, ``lraspp_mobilenet_v3_large``, ``s3d``,
    ``raft_small``), plus ``fasterrcnn_mobilenet_v3_large_320_fpn`` (the smallest two-stage
    detector; the issue reports Faster R-CNN's train-mode failure).
  Detection/segmentation builders get ``weights=None, weights_backbone=None`` (their default
  backbone weights would be downloaded).
timm (1.0.31):
  * for every module of ``timm.list_modules()`` (98), the model of ``timm.list_models(module=m)``
    with the fewest parameters, counted on the meta device (``with torch.device('meta')``),
    ignoring ``test_*`` models (synthetic tiny configs made for timm's own CI, not published
    architectures). Every module had a model that builds (0 skipped). 98 models.
  * plus TIMM_EXTRA: models the product owner's issue names, not picked by the rule.
  Built with ``timm.create_model(name, pretrained=False)``.

Parameter counts (PARAMS) were counted on the meta device (torchvision's RegNets cannot be
built on meta -- ``BlockParams`` reads tensor values -- and were counted on the CPU with
init skipped). ``select_timm()`` recomputes the timm rule (about 3 min on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

TIMM_SMALLEST = {  # timm module -> (model, params): smallest non-test_ model of the module
    "beit": ("beit_base_patch16_224", 86530984),
    "byoanet": ("halonet_h1", 8100056),
    "byobnet": ("mobileone_s1", 4825192),
    "cait": ("cait_xxs24_224", 11956264),
    "coat": ("coat_tiny", 5498540),
    "convit": ("convit_tiny", 5710512),
    "convmixer": ("convmixer_768_32", 21110248),
    "convnext": ("convnext_zepto_rms", 2155656),
    "cpubone": ("cpubone_nano", 6519700),
    "crossvit": ("crossvit_tiny_240", 7014800),
    "csatv2": ("csatv2", 11103444),
    "cspnet": ("cs3darknet_focus_s", 3274728),
    "cspnext": ("cspnext_tiny", 2733700),
    "davit": ("davit_tiny", 28360168),
    "deepseek_vit": ("deepseek_vit_412m", 411842560),
    "deit": ("deit_tiny_patch16_224", 5717416),
    "densenet": ("densenet121", 7978856),
    "dla": ("dla46x_c", 1068440),
    "dpn": ("dpn48b", 9126226),
    "edgenext": ("edgenext_xx_small", 1327216),
    "efficientformer": ("efficientformer_l1", 12289928),
    "efficientformer_v2": ("efficientformerv2_s0", 3600256),
    "efficientnet": ("mobilenetv2_035", 1677128),
    "efficientvim": ("efficientvim_m1", 6679458),
    "efficientvit_mit": ("efficientvit_b0", 3410008),
    "efficientvit_msra": ("efficientvit_m0", 2349436),
    "eva": ("vit_tiny_patch16_dinov3_qkvb", 5489664),
    "fasternet": ("fasternet_t0", 3905500),
    "fastvit": ("fastvit_t8", 4026232),
    "focalnet": ("focalnet_tiny_srf", 28427116),
    "gcvit": ("gcvit_xxtiny", 11995428),
    "gemma4_vit": ("gemma4_vit_167m", 167364608),
    "ghostnet": ("ghostnet_050", 2587292),
    "hardcorenas": ("hardcorenas_b", 5176544),
    "hgnet": ("hgnetv2_b0", 5996550),
    "hiera": ("hiera_tiny_224", 27910216),
    "hieradet_sam2": ("sam2_hiera_tiny", 26851008),
    "hrnet": ("hrnet_w18_small", 13187464),
    "iformer": ("iformer_t", 2886456),
    "inception_next": ("inception_next_atto", 4156520),
    "inception_resnet_v2": ("inception_resnet_v2", 55843464),
    "inception_v3": ("inception_v3", 23834568),
    "inception_v4": ("inception_v4", 42679816),
    "lcnetv2": ("lcnetv2_small", 4128552),
    "levit": ("levit_128s", 7777058),
    "lowformer": ("lowformer_b0", 14100472),
    "mambaout": ("mambaout_femto", 7304536),
    "maxxvit": ("maxvit_pico_rw_256", 7457996),
    "metaformer": ("poolformerv2_s12", 11891712),
    "mlp_mixer": ("gmlp_ti16_224", 5867328),
    "mobilenetv3": ("mobilenetv3_small_050", 1593224),
    "mobilenetv5": ("mobilenetv5_base", 82647976),
    "mobilevit": ("mobilevit_xxs", 1272024),
    "mvitv2": ("mvitv2_tiny", 24173320),
    "naflexvit": ("naflexvit_base_patch16_parfac_gap", 86461672),
    "nasnet": ("nasnetalarge", 88753150),
    "nest": ("nest_tiny", 17057608),
    "nextvit": ("nextvit_small", 31763368),
    "nfnet": ("nf_regnet_b0", 8764288),
    "pit": ("pit_ti_224", 4847272),
    "pnasnet": ("pnasnet5large", 86057668),
    "pvt_v2": ("pvt_v2_b0", 3666760),
    "qwen3_vit": ("qwen3_vit_88m", 87414528),
    "rdnet": ("rdnet_tiny", 23863008),
    "regnet": ("regnetx_002", 2684792),
    "repghost": ("repghostnet_050", 2313968),
    "repvit": ("repvit_m1", 5485248),
    "res2net": ("res2next50", 24671464),
    "resnest": ("resnest14d", 10611688),
    "resnet": ("resnet10t", 5435488),
    "resnetv2": ("resnetv2_18", 11687720),
    "rexnet": ("rexnet_100", 4796873),
    "selecsls": ("selecsls42", 30354952),
    "senet": ("legacy_seresnet18", 11778592),
    "sequencer": ("sequencer2d_s", 27651688),
    "shvit": ("shvit_s1", 6330808),
    "sknet": ("skresnet18", 11958056),
    "starnet": ("starnet_s050", 542728),
    "swiftformer": ("swiftformer_xs", 3475360),
    "swin_transformer": ("swin_tiny_patch4_window7_224", 28288354),
    "swin_transformer_v2": ("swinv2_tiny_window16_256", 28347154),
    "swin_transformer_v2_cr": ("swinv2_cr_tiny_224", 28332124),
    "tiny_vit": ("tiny_vit_5m_224", 12082725),
    "tnt": ("tnt_s_legacy_patch16_224", 23755336),
    "tresnet": ("tresnet_m", 31389032),
    "twins": ("twins_svt_small", 24060776),
    "vgg": ("vgg11", 132863336),
    "visformer": ("visformer_tiny", 10321368),
    "vision_transformer": ("vit_tiny_patch16_224", 5717416),
    "vision_transformer_hybrid": ("vit_tiny_r_s16_p8_224", 6337704),
    "vision_transformer_relpos": ("vit_srelpos_small_patch16_224", 21973486),
    "vision_transformer_sam": ("samvit_base_patch16_224", 86457064),
    "vitamin": ("vitamin_small_224", 22173376),
    "volo": ("volo_d1_224", 26632040),
    "vovnet": ("ese_vovnet19b_slim_dw", 1897752),
    "xception": ("legacy_xception", 22855952),
    "xception_aligned": ("xception41p", 26907752),
    "xcit": ("xcit_nano_12_p8_224", 3049016),
}
TIMM_EXTRA = {  # models the issue names (reproductions) that the rule did not pick
    "cspdarknet53": 27642184,
    "gernet_s": 8173761,
    "efficientnet_b0": 5288548,
    "coatnet_pico_rw_224": 10851364,
    "dm_nfnet_f0": 71489284,
    "rexnet_100": 4796873,
    "ghostnet_100": 5182508,
    "mobilevit_s": 5578632,
    "resnet50": 25557032,
}
TV_PARAMS = {  # torchvision model -> (task, params)
    "alexnet": ("classification", 61100840),
    "convnext_base": ("classification", 88591464),
    "convnext_large": ("classification", 197767336),
    "convnext_small": ("classification", 50223688),
    "convnext_tiny": ("classification", 28589128),
    "densenet121": ("classification", 7978856),
    "densenet161": ("classification", 28681000),
    "densenet169": ("classification", 14149480),
    "densenet201": ("classification", 20013928),
    "efficientnet_b0": ("classification", 5288548),
    "efficientnet_b1": ("classification", 7794184),
    "efficientnet_b2": ("classification", 9109994),
    "efficientnet_b3": ("classification", 12233232),
    "efficientnet_b4": ("classification", 19341616),
    "efficientnet_b5": ("classification", 30389784),
    "efficientnet_b6": ("classification", 43040704),
    "efficientnet_b7": ("classification", 66347960),
    "efficientnet_v2_l": ("classification", 118515272),
    "efficientnet_v2_m": ("classification", 54139356),
    "efficientnet_v2_s": ("classification", 21458488),
    "googlenet": ("classification", 13004888),
    "inception_v3": ("classification", 27161264),
    "maxvit_t": ("classification", 30919624),
    "mnasnet0_5": ("classification", 2218512),
    "mnasnet0_75": ("classification", 3170208),
    "mnasnet1_0": ("classification", 4383312),
    "mnasnet1_3": ("classification", 6282256),
    "mobilenet_v2": ("classification", 3504872),
    "mobilenet_v3_large": ("classification", 5483032),
    "mobilenet_v3_small": ("classification", 2542856),
    "regnet_x_16gf": ("classification", 54278536),
    "regnet_x_1_6gf": ("classification", 9190136),
    "regnet_x_32gf": ("classification", 107811560),
    "regnet_x_3_2gf": ("classification", 15296552),
    "regnet_x_400mf": ("classification", 5495976),
    "regnet_x_800mf": ("classification", 7259656),
    "regnet_x_8gf": ("classification", 39572648),
    "regnet_y_128gf": ("classification", 644812894),
    "regnet_y_16gf": ("classification", 83590140),
    "regnet_y_1_6gf": ("classification", 11202430),
    "regnet_y_32gf": ("classification", 145046770),
    "regnet_y_3_2gf": ("classification", 19436338),
    "regnet_y_400mf": ("classification", 4344144),
    "regnet_y_800mf": ("classification", 6432512),
    "regnet_y_8gf": ("classification", 39381472),
    "resnet101": ("classification", 44549160),
    "resnet152": ("classification", 60192808),
    "resnet18": ("classification", 11689512),
    "resnet34": ("classification", 21797672),
    "resnet50": ("classification", 25557032),
    "resnext101_32x8d": ("classification", 88791336),
    "resnext101_64x4d": ("classification", 83455272),
    "resnext50_32x4d": ("classification", 25028904),
    "shufflenet_v2_x0_5": ("classification", 1366792),
    "shufflenet_v2_x1_0": ("classification", 2278604),
    "shufflenet_v2_x1_5": ("classification", 3503624),
    "shufflenet_v2_x2_0": ("classification", 7393996),
    "squeezenet1_0": ("classification", 1248424),
    "squeezenet1_1": ("classification", 1235496),
    "swin_b": ("classification", 87768224),
    "swin_s": ("classification", 49606258),
    "swin_t": ("classification", 28288354),
    "swin_v2_b": ("classification", 87930848),
    "swin_v2_s": ("classification", 49737442),
    "swin_v2_t": ("classification", 28351570),
    "vgg11": ("classification", 132863336),
    "vgg11_bn": ("classification", 132868840),
    "vgg13": ("classification", 133047848),
    "vgg13_bn": ("classification", 133053736),
    "vgg16": ("classification", 138357544),
    "vgg16_bn": ("classification", 138365992),
    "vgg19": ("classification", 143667240),
    "vgg19_bn": ("classification", 143678248),
    "vit_b_16": ("classification", 86567656),
    "vit_b_32": ("classification", 88224232),
    "vit_h_14": ("classification", 632045800),
    "vit_l_16": ("classification", 304326632),
    "vit_l_32": ("classification", 306535400),
    "wide_resnet101_2": ("classification", 126886696),
    "wide_resnet50_2": ("classification", 68883240),
    "fasterrcnn_mobilenet_v3_large_320_fpn": ("detection", 19410754),
    "fasterrcnn_mobilenet_v3_large_fpn": ("detection", 19410754),
    "fasterrcnn_resnet50_fpn": ("detection", 41808406),
    "fasterrcnn_resnet50_fpn_v2": ("detection", 43712278),
    "fcos_resnet50_fpn": ("detection", 32322720),
    "keypointrcnn_resnet50_fpn": ("detection", 59190378),
    "maskrcnn_resnet50_fpn": ("detection", 44454513),
    "maskrcnn_resnet50_fpn_v2": ("detection", 46359409),
    "retinanet_resnet50_fpn": ("detection", 34068119),
    "retinanet_resnet50_fpn_v2": ("detection", 38198935),
    "ssd300_vgg16": ("detection", 35641826),
    "ssdlite320_mobilenet_v3_large": ("detection", 3440060),
    "deeplabv3_mobilenet_v3_large": ("segmentation", 11025477),
    "deeplabv3_resnet101": ("segmentation", 58630997),
    "deeplabv3_resnet50": ("segmentation", 39638869),
    "fcn_resnet101": ("segmentation", 51949141),
    "fcn_resnet50": ("segmentation", 32957013),
    "lraspp_mobilenet_v3_large": ("segmentation", 3221538),
    "mc3_18": ("video", 11695440),
    "mvit_v1_b": ("video", 36610672),
    "mvit_v2_s": ("video", 34537744),
    "r2plus1d_18": ("video", 31505325),
    "r3d_18": ("video", 33371472),
    "s3d": ("video", 8320048),
    "swin3d_b": ("video", 88048984),
    "swin3d_s": ("video", 49816678),
    "swin3d_t": ("video", 28158070),
    "raft_large": ("optical_flow", 5257536),
    "raft_small": ("optical_flow", 990162),
}


TV_EXTRA_TASKS = {
    "ssdlite320_mobilenet_v3_large": "detection",  # smallest detection model
    "fasterrcnn_mobilenet_v3_large_320_fpn": "detection",  # smallest two-stage detector
    "lraspp_mobilenet_v3_large": "segmentation",  # smallest segmentation model
    "s3d": "video",  # smallest video model
    "raft_small": "optical_flow",  # smallest optical flow model
}


def _tv(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torchvision

        kwargs: dict[str, Any] = {"weights": None}
        if TV_PARAMS[name][0] in ("detection", "segmentation"):
            kwargs["weights_backbone"] = None
        return torchvision.models.get_model(name, **kwargs)

    build.__name__ = f"torchvision_{name}"
    return build


def _timm(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import timm

        return timm.create_model(name, pretrained=False)

    build.__name__ = f"timm_{name}"
    return build


def select_timm() -> dict[str, tuple[str, int]]:
    """Recompute TIMM_SMALLEST: per timm module, the smallest non-test_ model (meta count)."""
    import timm
    import torch

    out: dict[str, tuple[str, int]] = {}
    for module in timm.list_modules():
        best = None
        for name in timm.list_models(module=module):
            if name.startswith("test_"):
                continue
            try:
                with torch.device("meta"):
                    m = timm.create_model(name, pretrained=False)
            except Exception:
                continue
            n = sum(p.numel() for p in m.parameters())
            if best is None or n < best[1]:
                best = (name, n)
        if best is not None:
            out[module] = best
    return out


MODELS: dict[str, Callable[[], Any]] = {}
PARAMS: dict[str, int] = {}
SOURCE: dict[str, str] = {}  # name -> "torchvision/<task>" or "timm/<module>"
for _n, (_task, _p) in TV_PARAMS.items():
    if _task == "classification" or _n in TV_EXTRA_TASKS:
        MODELS[_n] = _tv(_n)
        PARAMS[_n] = _p
        SOURCE[_n] = f"torchvision/{_task}"
for _m, (_n, _p) in TIMM_SMALLEST.items():
    key = f"timm/{_n}"
    MODELS[key] = _timm(_n)
    PARAMS[key] = _p
    SOURCE[key] = f"timm/{_m}"
for _n, _p in TIMM_EXTRA.items():
    key = f"timm/{_n}"
    MODELS[key] = _timm(_n)
    PARAMS[key] = _p
    SOURCE[key] = "timm/extra (issue)"

if __name__ == "__main__":
    for k in MODELS:
        print(f"{k:50s} {SOURCE[k]:35s} {PARAMS[k] / 1e6:9.2f}M")
    print(len(MODELS), "models")
