"""Hugging Face transformers integration: a policy in place of ``_init_weights``.

Two recipes (docs/integrations.md):

*From a config* (pre-training): build the model, then let the policy initialize it all.

    >>> model = GPT2LMHeadModel(GPT2Config(n_layer=2))          # doctest: +SKIP
    >>> report = initpolicy.apply(model, "gpt2", seed=0)         # doctest: +SKIP

*From a checkpoint* (fine-tuning with a new head): initialize only what the checkpoint
did not provide, never clobbering loaded weights.

    >>> model, info = AutoModelForSequenceClassification.from_pretrained(
    ...     path, output_loading_info=True)                          # doctest: +SKIP
    >>> report = init_missing(model, "gpt2", loading_info=info)   # doctest: +SKIP

transformers itself is not imported here: the functions work on any nn.Module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .api import Policy, as_policy, tensor_names
from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    from .applier import Report


def init_missing(
    model: Any,
    policy: Policy | str | Path,
    *,
    loading_info: Mapping[str, Any] | None = None,
    missing_keys: Iterable[str] | None = None,
    seed: int | None = None,
    **kwargs: Any,
) -> Report:
    """Initialize by ``policy`` only the tensors a checkpoint did not provide.

    Give either ``loading_info`` (what ``from_pretrained(..., output_loading_info=True)``
    returns; its ``missing_keys`` are used) or ``missing_keys`` directly. Every other
    tensor of ``model.state_dict()`` is passed to ``apply(skip=...)`` and keeps its
    loaded value. Returns the Report of what was initialized.
    """
    if (loading_info is None) == (missing_keys is None):
        raise UsageError("init_missing needs exactly one of loading_info= or missing_keys=")
    if not hasattr(model, "state_dict"):
        raise UsageError(f"init_missing needs a torch.nn.Module, got {type(model).__name__}")
    if loading_info is not None:
        if not isinstance(loading_info, Mapping):
            raise UsageError(
                "loading_info is the dict from_pretrained(..., output_loading_info=True) "
                f"returns, not {type(loading_info).__name__}"
            )
        if "missing_keys" not in loading_info:
            raise UsageError(
                "loading_info has no 'missing_keys': pass what "
                "from_pretrained(..., output_loading_info=True) returns"
            )
        missing_keys = loading_info["missing_keys"]
    missing = set(tensor_names("missing_keys", missing_keys) or ())
    policy = as_policy(policy)
    state = model.state_dict(keep_vars=True)
    unknown = sorted(missing - set(state))
    if unknown:
        raise UsageError(
            f"missing key(s) not in the model's state_dict: {', '.join(unknown[:5])}"
            + (" ..." if len(unknown) > 5 else "")
        )
    loaded = [k for k in state if k not in missing]
    return policy.apply(model, seed=seed, skip=loaded, **kwargs)
