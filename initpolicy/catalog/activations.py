"""The activations: canonical names, every spelling, and each one's own arguments.
Torch-free; the one table the parser, the tracer and the gains read.

- The parser maps the words written after ``before`` onto canonical names
  (case-insensitive, ``_`` optional, aliases such as ``Swish``).
- The tracer maps torch modules (``modules``), functions and tensor methods
  (``functions``) onto the same names and reads their arguments (``args``).
- The gains read an activation's arguments with torch's defaults (``args``).

>>> canonical("LeakyReLU"), canonical("Swish"), canonical("GELU")
('leaky_relu', 'silu', 'gelu')
>>> [a.name for a in by_name("softplus").args]
['beta', 'threshold']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Arg:
    """An argument of an activation: its name, its position in the functional form
    (``F.leaky_relu(x, 0.2)``: 1), and torch's default."""

    name: str
    index: int | None
    default: Any


@dataclass(frozen=True)
class Activation:
    """One activation: its canonical name and every spelling that means it."""

    name: str
    #: torch.nn class names.
    modules: tuple[str, ...]
    #: Function and method names (torch, torch.nn.functional, Tensor), trailing ``_`` removed.
    functions: tuple[str, ...]
    args: tuple[Arg, ...] = ()
    #: Arguments that shape the function (and so its gain); others (``dim``) do not.
    shaping: tuple[str, ...] = ()


ACTIVATIONS: tuple[Activation, ...] = (
    Activation("relu", ("ReLU",), ("relu",)),
    Activation("relu6", ("ReLU6",), ("relu6",)),
    Activation(
        "leaky_relu",
        ("LeakyReLU",),
        ("leaky_relu",),
        (Arg("negative_slope", 1, 0.01),),
        ("negative_slope",),
    ),
    # nn.PReLU's slope is a parameter, initialized to ``init``
    Activation("prelu", ("PReLU",), ("prelu",), (Arg("init", None, 0.25),), ("init",)),
    Activation("elu", ("ELU",), ("elu",), (Arg("alpha", 1, 1.0),), ("alpha",)),
    Activation("selu", ("SELU",), ("selu",)),
    Activation("celu", ("CELU",), ("celu",), (Arg("alpha", 1, 1.0),), ("alpha",)),
    Activation("gelu", ("GELU",), ("gelu",), (Arg("approximate", None, "none"),), ("approximate",)),
    Activation("silu", ("SiLU",), ("silu",)),
    Activation("mish", ("Mish",), ("mish",)),
    Activation("hardswish", ("Hardswish",), ("hardswish",)),
    Activation("hardsigmoid", ("Hardsigmoid",), ("hardsigmoid",)),
    # LogSigmoid and GLU are sigmoids of their input; Softsign is tanh-shaped.
    Activation("sigmoid", ("Sigmoid", "LogSigmoid", "GLU"), ("sigmoid", "logsigmoid", "glu")),
    Activation("tanh", ("Tanh", "Softsign"), ("tanh", "softsign")),
    Activation(
        "softmax",
        ("Softmax", "Softmin", "Softmax2d"),
        ("softmax", "softmin"),
        (Arg("dim", 1, None),),
    ),
    Activation("log_softmax", ("LogSoftmax",), ("log_softmax",), (Arg("dim", 1, None),)),
    Activation(
        "softplus",
        ("Softplus",),
        ("softplus",),
        (Arg("beta", 1, 1.0), Arg("threshold", 2, 20.0)),
        ("beta", "threshold"),
    ),
)

#: What the tracer calls a layer's "activation" besides the functions above.
#: ``unknown``: an elementwise function the table does not know (SIREN's ``sin``); it has
#: no gain and no band.
OUTCOMES: tuple[str, ...] = ("linear", "output", "mixed", "unknown")

CANONICAL: tuple[str, ...] = (*(a.name for a in ACTIVATIONS), *OUTCOMES)

_BY_NAME: dict[str, Activation] = {a.name: a for a in ACTIVATIONS}

#: Extra spellings (lower-cased, with ``_`` removed) beyond the canonical names themselves.
ALIASES: dict[str, str] = {
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


_TABLE: dict[str, str] = {_key(n): n for n in CANONICAL} | ALIASES


def canonical(word: str) -> str | None:
    """The canonical activation name for ``word`` (any case, ``_`` optional), or None."""
    return _TABLE.get(_key(word))


def by_name(name: str) -> Activation:
    """The table entry of a canonical activation name (KeyError for linear/output/mixed)."""
    return _BY_NAME[name]


def defaults(name: str) -> dict[str, Any]:
    """The arguments that shape ``name``, with torch's defaults (``{}`` for none).

    >>> defaults("leaky_relu"), defaults("softmax"), defaults("linear")
    ({'negative_slope': 0.01}, {}, {})
    """
    act = _BY_NAME.get(name)
    if act is None:
        return {}
    return {a.name: a.default for a in act.args if a.name in act.shaping}


def spellings() -> tuple[str, ...]:
    """All accepted spellings, for did-you-mean hints."""
    return tuple(
        sorted(set(CANONICAL) | {"LeakyReLU", "ReLU", "GELU", "SiLU", "Swish", "Tanh", "Sigmoid"})
    )
