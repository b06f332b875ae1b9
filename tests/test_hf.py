"""transformers integration: a policy in place of _init_weights, without clobbering
weights loaded from a checkpoint (a real save_pretrained/from_pretrained round trip)."""

from __future__ import annotations

import re

import pytest
import torch

import initpolicy
from initpolicy.errors import UsageError
from initpolicy.hf import init_missing

#: It builds real transformers models.
#: one worker runs the module (its module fixture is costly): see tests/conftest.py
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("hf")]

transformers = pytest.importorskip("transformers")


def _config() -> object:
    return transformers.GPT2Config(
        n_layer=2, n_embd=32, n_head=2, n_positions=32, vocab_size=64, num_labels=3, pad_token_id=0
    )


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    base = transformers.GPT2Model(_config())
    path = tmp_path_factory.mktemp("gpt2") / "ckpt"
    base.save_pretrained(path)
    return str(path)


def test_init_missing_initializes_only_the_new_head(checkpoint: str) -> None:
    model, info = transformers.GPT2ForSequenceClassification.from_pretrained(
        checkpoint, output_loading_info=True
    )
    assert info["missing_keys"], "the classification head must be missing from the checkpoint"
    saved = transformers.GPT2Model.from_pretrained(checkpoint).state_dict()
    head_before = model.score.weight.detach().clone()

    report = init_missing(model, "gpt2", loading_info=info, seed=0)

    written = {e.name for e in report.entries}
    assert written == set(info["missing_keys"])
    assert not torch.equal(model.score.weight, head_before)
    assert model.score.weight.std().item() == pytest.approx(0.02, rel=0.2)
    for name, value in saved.items():
        assert torch.equal(model.transformer.state_dict()[name], value), name


def test_init_missing_is_reproducible(checkpoint: str) -> None:
    heads = []
    for _ in range(2):
        model, info = transformers.GPT2ForSequenceClassification.from_pretrained(
            checkpoint, output_loading_info=True
        )
        init_missing(model, initpolicy.load("gpt2"), loading_info=info, seed=7)
        heads.append(model.score.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one of loading_info= or missing_keys="),
        ({"loading_info": {}}, "loading_info has no 'missing_keys'"),
        ({"missing_keys": ["nope.weight"]}, "not in the model's state_dict: nope.weight"),
        (
            {"missing_keys": "weight"},
            "missing_keys takes a list of state_dict keys, not one string: pass ['weight']",
        ),
        (
            {"missing_keys": [1]},
            "missing_keys takes state_dict keys, which are strings; got 1 (int)",
        ),
        ({"missing_keys": 3}, "missing_keys takes a state_dict or a list of its keys, not int"),
        ({"loading_info": ["weight"]}, "loading_info is the dict from_pretrained("),
        (
            {"loading_info": {"missing_keys": "weight"}},
            "missing_keys takes a list of state_dict keys, not one string",
        ),
    ],
)
def test_init_missing_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    model = torch.nn.Linear(2, 2)
    with pytest.raises(UsageError, match=re.escape(message)):
        init_missing(model, "relu_net", **kwargs)


def test_init_missing_rejects_what_is_not_a_policy_or_a_model() -> None:
    with pytest.raises(UsageError, match="a policy is a Policy, policy text, a file path"):
        init_missing(torch.nn.Linear(2, 2), 3, missing_keys=["weight"])  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"init_missing needs a torch\.nn\.Module, got str"):
        init_missing("model", "relu_net", missing_keys=["weight"])
