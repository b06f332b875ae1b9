"""extract on real models: 74 transformers architectures, torchvision's resnet, vit, convnext
and efficientnet, 12 timm models, and hand-written inits (tests/extractor/zoo.py).

On every model: the extracted policy, parsed afresh and planned as ``apply`` plans it,
gives every parameter the recorded scheme family and std/bound (exact where recorded,
within sampling error where fitted), the code's own values agree with what was recorded,
and it has at most 30 rules, and the language's printer prints it back to the same rules. On the representative ``sampled`` models the policy is also
applied and each tensor compared with the code's values by a two-sample test.
"""

from __future__ import annotations

import pytest

from initpolicy.extractor import extract, record
from initpolicy.language import printer
from initpolicy.language.loader import parse
from tests.extractor import checks
from tests.extractor.zoo import all_cases

CASES = all_cases()
MAX_RULES = 30
#: Where the policy cannot be what the code did, and verification says so: OddInit's
#: tanh(randn) * 0.1 is no law the catalog names (fitted uniform, not the code's values).
DIFFERS = {"odd_init": ["b.weight"]}


pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.family}:{c.name}" for c in CASES])
def test_the_extracted_policy_plans_what_the_code_did(case):
    recording = record(case.build)
    model = recording.model
    result = extract(recording, target=case.name)
    original = {n: t.clone() for n, t in checks.tensors(model).items()}
    assert [m.name for m in result.synthesis.mismatches] == DIFFERS.get(case.name, [])
    assert checks.planned(result, model, original) == []
    assert checks.recorded(result, original) == []
    assert result.n_rules <= MAX_RULES, result.text
    ir = parse(result.text)  # the printer's round trip, on every generated policy
    assert printer.same_rules(parse(printer.policy(ir)), ir), result.text
    if case.sampled:
        assert checks.applied(result, model, original) == []


def test_the_zoo_has_the_required_models():
    families = [c.family for c in CASES]
    assert families.count("transformers") >= 15
    assert families.count("timm") >= 10
    assert {"resnet18", "vit", "convnext", "efficientnet"} <= {
        c.name for c in CASES if c.family == "torchvision"
    }
    assert families.count("hand-written") >= 3
