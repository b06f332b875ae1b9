"""`initpolicy extract` on real models at their default sizes: rules per model against
parameters per model, and the seconds a record + extract takes. Target: at most 30 rules
for every model, and every policy plans what the code did.

Models: the 74 transformers architectures of tests/zoo/transformers_models.py (small
configs: the init code is the same at any size), torchvision's and timm's factories with
their default arguments (no weights), and the hand-written inits of
tests/extractor/handwritten.py.

    .venv/bin/python bench/bench_extract.py
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MAX_RULES = 30
TORCHVISION = (
    "resnet18",
    "resnet50",
    "vit_b_16",
    "convnext_tiny",
    "efficientnet_b0",
)
TIMM = (
    "vit_tiny_patch16_224",
    "deit_tiny_patch16_224",
    "beit_base_patch16_224",
    "swin_tiny_patch4_window7_224",
    "convnext_atto",
    "efficientnet_b0",
    "mobilenetv3_small_100",
    "resnet18",
    "regnetx_002",
    "mixer_s16_224",
    "levit_128s",
    "ghostnet_100",
    "densenet121",
    "coat_lite_tiny",
    "poolformer_s12",
)


def models() -> list[tuple[str, str, Callable[[], torch.nn.Module]]]:
    import timm
    import torchvision

    from tests.extractor import handwritten
    from tests.zoo.transformers_models import MODELS

    out: list[tuple[str, str, Callable[[], torch.nn.Module]]] = [
        ("transformers", name, build) for name, build in MODELS.items()
    ]
    for name in TORCHVISION:
        kwargs = {"zero_init_residual": True} if name == "resnet50" else {}
        label = f"{name}(zero_init_residual)" if kwargs else name
        out.append(
            ("torchvision", label, lambda n=name, k=kwargs: getattr(torchvision.models, n)(**k))
        )
    for name in TIMM:
        out.append(("timm", name, lambda n=name: timm.create_model(n, pretrained=False)))
    for name, build in (
        ("tagger (LSTM)", handwritten.Tagger),
        ("gatewise_gru", handwritten.GateWiseGRU),
        ("zero_resnet", handwritten.ZeroResNet),
        ("odd_init", handwritten.OddInit),
    ):
        out.append(("hand-written", name, build))
    return out


def main() -> int:
    warnings.filterwarnings("ignore")
    import transformers

    from initpolicy.extractor import extract, record

    transformers.logging.set_verbosity_error()
    rows = []
    for family, name, build in models():
        start = time.perf_counter()
        result = extract(record(build), target=name)
        seconds = time.perf_counter() - start
        rows.append(
            (
                family,
                name,
                result.n_params,
                result.n_rules,
                result.count("fitted"),
                sum(
                    1
                    for t in result.observation.tensors.values()
                    if t.whole and t.whole.scheme == "keep"
                ),
                "exact" if result.ok else f"{len(result.synthesis.mismatches)} differ",
                seconds,
            )
        )
    header = "| family | model | parameters | rules | fitted | kept | planned | seconds |"
    print(header)
    print("|---|---|---:|---:|---:|---:|---|---:|")
    for family, name, params, rules, fitted, kept, planned, seconds in rows:
        print(
            f"| {family} | {name} | {params} | {rules} | {fitted} | {kept} | {planned} "
            f"| {seconds:.1f} |"
        )
    worst = max(rows, key=lambda r: r[3])
    exact = sum(1 for r in rows if r[6] == "exact")
    ok = worst[3] <= MAX_RULES and exact == len(rows)
    print()
    print(
        f"{len(rows)} models: most rules {worst[3]} ({worst[1]}), planned exactly {exact}/"
        f"{len(rows)} (target <= {MAX_RULES} rules, all exact) {'ok' if ok else 'NOT MET'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
