"""The zoo: every torchvision classifier, the smallest detection, segmentation, video and
optical-flow models, the smallest model of every timm module (tests/zoo/vision.py), and 74
transformers architectures (tests/zoo/transformers_models.py) trace with no input given,
and the tracer finds the activation read from the library's source after each of 434
spot-checked layers (tests/zoo/expected_*.py).

Cost: one process, one torch thread. Vision models are built on the meta device (the
trace needs shapes, not values; fx tracing runs no forward at all) except those listed
below with the reason; transformers models are tiny and built on the CPU, and traced
again on the meta device, where they must agree. So the giants cost what the small ones
do (vit_h_14 632M parameters, regnet_y_128gf 645M, deepseek_vit_412m, vit_l_16/32,
convnext_large: under a second each, nothing allocated): the whole file takes about 50
CPU seconds and 1.5 GB on a 2-core machine.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from initpolicy.tracer.tracing import trace
from tests.zoo import build

pytest.importorskip("timm")
pytest.importorskip("torchvision")
pytest.importorskip("transformers")
from tests.zoo import expected_transformers, expected_vision, transformers_models, vision

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


#: Built on the CPU: the forward reads tensor values (anchor generation, box decoding,
#: NMS), which meta tensors do not have.
ON_CPU = {"ssdlite320_mobilenet_v3_large", "fasterrcnn_mobilenet_v3_large_320_fpn"}
#: Built with parameters moved to meta as they are registered: RegNet's constructor derives
#: its stage widths from tensors (``BlockParams``: torch ops, then ``.tolist()``).
PARAMETERS_ON_META = {n for n in vision.MODELS if n.startswith("regnet_")}

#: Detectors need targets in training mode: traced in eval mode, and the warning says why.
EVAL_FALLBACK = (
    "traced in eval mode: the model does not run in training mode on (2, 3, 32, 32) float32 "
    "(AssertionError: targets should not be none when in training mode); what runs only in "
    "training is not traced"
)
VISION_WARNINGS = {name: [EVAL_FALLBACK] for name in ON_CPU}

#: The documented limits of the meta device (docs/tracing.md): Qwen2-VL's vision tower
#: reads its image grid's values (``.tolist()``), so on meta it is not reached and the
#: warning names it. Built on the CPU, it traces fully.
META_LIMITS = {
    "qwen2_vl": "not called by the traced forward (activation taken as linear): model.visual (",
}


def _vision(name: str) -> Any:
    builder = vision.MODELS[name]
    if name in ON_CPU:
        torch.manual_seed(0)
        return builder()
    if name in PARAMETERS_ON_META:
        return build.parameters_on_meta(builder)
    return build.on_meta(builder)


def _activations(graph: Any) -> dict[str, str]:
    return {lay.name: lay.activation for lay in graph.layers}


#: Element-wise functions the catalog does not know, each a real part of its model (the
#: layer before it reads activation ``unknown``, and the trace says so): RWKV's WKV reads
#: exp(key); the detectors decode boxes with exp(dw), clamped, in eval mode.
UNKNOWN_FUNCTIONS = {
    "rwkv": "(exp after rwkv.blocks.0.attention.key, exp after rwkv.blocks.1.attention.key)",
    "ssdlite320_mobilenet_v3_large": "(exp(0.2 x) after head.regression_head.module_list.0.1",
    "fasterrcnn_mobilenet_v3_large_320_fpn": "(exp(0.2 x) after roi_heads.box_predictor.bbox_pred)",
}
UNKNOWN_WARNING = "an elementwise function the catalog does not know follows"


def _unexpected(graph: Any, name: str) -> list[str]:
    """The warnings other than the two informational ones: fx could not trace, so the
    model ran once (only the branches taken are traced); a condition on meta values; and
    the model's own unknown functions (:data:`UNKNOWN_FUNCTIONS`), which must be named."""
    out = [w for w in graph.warnings if "only the branches" not in w and "meta device" not in w]
    if name in UNKNOWN_FUNCTIONS:
        unknown = [w for w in out if w.startswith(UNKNOWN_WARNING)]
        assert len(unknown) == 1 and UNKNOWN_FUNCTIONS[name] in unknown[0], graph.warnings
        out.remove(unknown[0])
    return out


@pytest.mark.parametrize("name", sorted(vision.MODELS))
def test_vision_model_traces_with_the_activations_of_its_source(name: str) -> None:
    graph = trace(_vision(name))
    assert graph.tracer in ("fx", "dynamic")
    assert all(lay.resolution.called for lay in graph.layers), [
        x.name for x in graph.layers if not x.resolution.called
    ]
    assert _unexpected(graph, name) == VISION_WARNINGS.get(name, [])
    expected = expected_vision.EXPECTED.get(name, {})
    found = _activations(graph)
    assert {k: found.get(k) for k in expected} == expected


@pytest.mark.parametrize("name", sorted(transformers_models.MODELS))
def test_transformers_model_traces_with_the_activations_of_its_source(name: str) -> None:
    builder = transformers_models.MODELS[name]
    torch.manual_seed(0)
    graph = trace(builder())
    assert graph.tracer == "dynamic"
    assert all(lay.resolution.called for lay in graph.layers), [
        x.name for x in graph.layers if not x.resolution.called
    ]
    assert _unexpected(graph, name) == []
    expected = expected_transformers.EXPECTED.get(name, {})
    found = _activations(graph)
    assert {k: found.get(k) for k in expected} == expected

    meta = trace(build.on_meta(builder))
    if name in META_LIMITS:
        assert any(META_LIMITS[name] in w for w in meta.warnings), meta.warnings
    else:
        assert meta.tracer == "dynamic"
        assert _activations(meta) == found


def test_the_spot_checks_cover_the_zoo() -> None:
    assert len(vision.MODELS) == 191 and len(transformers_models.MODELS) == 74
    checked = sum(map(len, expected_vision.EXPECTED.values())) + sum(
        map(len, expected_transformers.EXPECTED.values())
    )
    assert checked == 434
    assert set(expected_vision.EXPECTED) <= set(vision.MODELS)
    assert set(expected_transformers.EXPECTED) <= set(transformers_models.MODELS)
