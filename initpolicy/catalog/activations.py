"""Canonical activation names and their case-insensitive aliases. Torch-free.

The tracer maps torch modules/functions/methods onto these names; the parser maps the
words written after ``before`` onto them.

>>> canonical("LeakyReLU"), canonical("Swish"), canonical("GELU")
('leaky_relu', 'silu', 'gelu')
"""

from __future__ import annotations

CANONICAL: tuple[str, ...] = (
    "relu",
    "relu6",
    "leaky_relu",
    "prelu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "mish",
    "hardswish",
    "hardsigmoid",
    "sigmoid",
    "tanh",
    "softmax",
    "log_softmax",
    "softplus",
    "linear",
    "output",
    "mixed",
)

#: Extra spellings (lower-cased, with ``_`` removed) beyond the canonical names themselves.
_ALIASES: dict[str, str] = {
    "leakyrelu": "leaky_relu",
    "swish": "silu",
    "hardswish": "hardswish",
    "hswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "hsigmoid": "hardsigmoid",
    "logsoftmax": "log_softmax",
    "identity": "linear",
    "none": "linear",
}


def _key(word: str) -> str:
    return word.lower().replace("_", "").replace("-", "")


_TABLE: dict[str, str] = {_key(n): n for n in CANONICAL} | _ALIASES


def canonical(word: str) -> str | None:
    """The canonical activation name for ``word`` (any case, ``_`` optional), or None."""
    return _TABLE.get(_key(word))


def spellings() -> tuple[str, ...]:
    """All accepted spellings, for did-you-mean hints."""
    return tuple(
        sorted(set(CANONICAL) | {"LeakyReLU", "ReLU", "GELU", "SiLU", "Swish", "Tanh", "Sigmoid"})
    )
