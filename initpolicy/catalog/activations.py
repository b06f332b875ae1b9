"""The activations: canonical names, every spelling, each one's own arguments, and the
facts about its function that the stages read. Torch-free; the one table the parser, the
tracer, the gains and the linter read.

- The parser maps the words written after ``before`` onto canonical names
  (case-insensitive, ``_`` optional, aliases such as ``Swish``).
- The tracer maps torch modules (``modules``), functions and tensor methods
  (``functions``) onto the same names and reads their arguments (``args``); a torch
  function that is another activation at some arguments (``Hardtanh(0, 6)`` is relu6,
  ``RReLU`` in eval mode a leaky ReLU) is a :data:`SPELLINGS` entry that says which.
- The gains read an activation's arguments with torch's defaults (``args``).
- The tracer's scale-invariance and the linter's rules read the function's shape
  (``homogeneous``, ``rectifier``, ``saturating``, ``dead_region``, ``flat_region``,
  ``slope``) from :func:`facts`, so one function spelled two ways gets one answer.

>>> canonical("LeakyReLU"), canonical("Swish"), canonical("GELU")
('leaky_relu', 'silu', 'gelu')
>>> [a.name for a in by_name("softplus").args]
['beta', 'threshold']
>>> facts("relu").homogeneous, facts("relu6").homogeneous, facts("output").homogeneous
(True, False, False)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Arg:
    """An argument of an activation: its name, its position in the functional form
    (``F.leaky_relu(x, 0.2)``: 1), and torch's default."""

    name: str
    index: int | None
    default: Any


#: What a :data:`SPELLINGS` entry means at the arguments it was called with:
#: (canonical activation, its arguments).
Meaning = Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Activation:
    """One activation: its canonical name, every spelling that means it, and the facts
    about its function phi that more than one stage reads."""

    name: str
    #: torch.nn class names.
    modules: tuple[str, ...]
    #: Function and method names (torch, torch.nn.functional, Tensor), trailing ``_`` removed.
    functions: tuple[str, ...]
    args: tuple[Arg, ...] = ()
    #: Arguments that shape the function (and so its gain); others (``dim``) do not.
    shaping: tuple[str, ...] = ()
    #: Other words for it (lower-case, ``_`` removed): a policy may write them after
    #: ``before``, and the tracer finds them in third-party class names.
    aliases: tuple[str, ...] = ()
    #: phi(c x) = c phi(x) for every c > 0: a positive scale passes through it (the
    #: tracer's scale-invariance). A clip (relu6) is not.
    homogeneous: bool = False
    #: The ReLU family: identity on the positive side, zero or a small slope on the
    #: negative side; where PyTorch's default init is six times under He's variance.
    rectifier: bool = False
    #: Its derivative vanishes for large inputs, so one layer of too-large weights is
    #: enough to saturate it (the scale rules' ceiling).
    saturating: bool = False
    #: Zero with zero derivative on a half-line: a unit whose inputs all fall there is
    #: dead (the probe measures the share).
    dead_region: bool = False
    #: A region a bias can push every unit into: a dead zone, a saturated tail, or a
    #: negative side with a small derivative (the large-bias rule).
    flat_region: bool = False
    #: Computed per element (softmax normalizes over a dimension).
    elementwise: bool = True
    #: Which argument is the slope of the negative side (the policy's ``slope``).
    slope: str | None = None
    #: For a :data:`SPELLINGS` entry: the canonical activation it computes at its arguments.
    means: Meaning | None = None


def _hardtanh(args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    # Hardtanh(0, 6) is relu6 (nn.ReLU6 is that subclass); any other is closest to tanh.
    if args.get("min_val") == 0 and args.get("max_val") == 6:
        return "relu6", {}
    return "tanh", {}


def _rrelu(args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    # In eval mode RReLU is a leaky ReLU with the mean of its slope range.
    return "leaky_relu", {"negative_slope": (args["lower"] + args["upper"]) / 2}


ACTIVATIONS: tuple[Activation, ...] = (
    Activation(
        "relu",
        ("ReLU",),
        ("relu",),
        dead_region=True,
        homogeneous=True,
        rectifier=True,
        flat_region=True,
    ),
    # a clip at 6: not homogeneous, saturated above 6
    Activation("relu6", ("ReLU6",), ("relu6",), rectifier=True, dead_region=True, flat_region=True),
    Activation(
        "leaky_relu",
        ("LeakyReLU",),
        ("leaky_relu",),
        (Arg("negative_slope", 1, 0.01),),
        ("negative_slope",),
        slope="negative_slope",
        homogeneous=True,
        rectifier=True,
        flat_region=True,
    ),
    # nn.PReLU's slope is a parameter, initialized to ``init``
    Activation(
        "prelu",
        ("PReLU",),
        ("prelu",),
        (Arg("init", None, 0.25),),
        ("init",),
        slope="init",
        homogeneous=True,
        rectifier=True,
        flat_region=True,
    ),
    Activation("elu", ("ELU",), ("elu",), (Arg("alpha", 1, 1.0),), ("alpha",), flat_region=True),
    Activation("selu", ("SELU",), ("selu",), flat_region=True),
    Activation("celu", ("CELU",), ("celu",), (Arg("alpha", 1, 1.0),), ("alpha",), flat_region=True),
    Activation(
        "gelu",
        ("GELU",),
        ("gelu",),
        (Arg("approximate", None, "none"),),
        ("approximate",),
        flat_region=True,
    ),
    Activation("silu", ("SiLU",), ("silu",), aliases=("swish",), flat_region=True),
    Activation("mish", ("Mish",), ("mish",), flat_region=True),
    Activation("hardswish", ("Hardswish",), ("hardswish",), aliases=("hswish",), flat_region=True),
    Activation(
        "hardsigmoid",
        ("Hardsigmoid",),
        ("hardsigmoid",),
        aliases=("hsigmoid",),
        saturating=True,
        flat_region=True,
    ),
    # LogSigmoid and GLU are sigmoids of their input; Softsign is tanh-shaped.
    Activation(
        "sigmoid",
        ("Sigmoid", "LogSigmoid", "GLU"),
        ("sigmoid", "logsigmoid", "glu"),
        saturating=True,
        flat_region=True,
    ),
    Activation(
        "tanh", ("Tanh", "Softsign"), ("tanh", "softsign"), saturating=True, flat_region=True
    ),
    Activation(
        "softmax",
        ("Softmax", "Softmin", "Softmax2d"),
        ("softmax", "softmin"),
        (Arg("dim", 1, None),),
        saturating=True,
        elementwise=False,
    ),
    Activation(
        "log_softmax",
        ("LogSoftmax",),
        ("log_softmax",),
        (Arg("dim", 1, None),),
        saturating=True,
        elementwise=False,
    ),
    Activation(
        "softplus",
        ("Softplus",),
        ("softplus",),
        (Arg("beta", 1, 1.0), Arg("threshold", 2, 20.0)),
        ("beta", "threshold"),
    ),
)

#: torch functions that are one of :data:`ACTIVATIONS` at the arguments they are called
#: with (``means``); not policy words, and not facts of their own.
SPELLINGS: tuple[Activation, ...] = (
    Activation(
        "hardtanh",
        ("Hardtanh",),
        ("hardtanh",),
        (Arg("min_val", 1, -1.0), Arg("max_val", 2, 1.0)),
        means=_hardtanh,
    ),
    Activation(
        "rrelu",
        ("RReLU",),
        ("rrelu",),
        (Arg("lower", 1, 1 / 8), Arg("upper", 2, 1 / 3)),
        means=_rrelu,
    ),
)

#: What the tracer calls a layer's "activation" besides the functions above.
#: ``unknown``: an elementwise function the table does not know (SIREN's ``sin``); it has
#: no gain and no band.
OUTCOMES: tuple[str, ...] = ("linear", "output", "mixed", "unknown")

CANONICAL: tuple[str, ...] = (*(a.name for a in ACTIVATIONS), *OUTCOMES)

_BY_NAME: dict[str, Activation] = {a.name: a for a in ACTIVATIONS}


def _key(word: str) -> str:
    return word.lower().replace("_", "").replace("-", "")


#: Extra spellings (lower-cased, with ``_`` removed) beyond the canonical names themselves.
ALIASES: dict[str, str] = {
    **{alias: a.name for a in ACTIVATIONS for alias in a.aliases},
    "identity": "linear",
    "none": "linear",
}

_TABLE: dict[str, str] = {_key(n): n for n in CANONICAL} | ALIASES


def canonical(word: str) -> str | None:
    """The canonical activation name for ``word`` (any case, ``_`` optional), or None."""
    return _TABLE.get(_key(word))


def by_name(name: str) -> Activation:
    """The table entry of a canonical activation name (KeyError for linear/output/mixed)."""
    return _BY_NAME[name]


_NO_FACTS: dict[str, Activation] = {n: Activation(n, (), ()) for n in OUTCOMES}


def facts(name: str) -> Activation:
    """The entry of a canonical name, or for ``linear``/``output``/``mixed`` (and a name
    the catalog does not know) an entry with every fact False: no function to judge.

    >>> facts("leaky_relu").slope, facts("tanh").saturating, facts("mixed").rectifier
    ('negative_slope', True, False)
    """
    return _BY_NAME.get(name) or _NO_FACTS.get(name) or Activation(name, (), ())


def meaning(act: Activation, args: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The canonical activation and arguments that ``act`` called with ``args`` computes.

    >>> hardtanh = SPELLINGS[0]
    >>> meaning(hardtanh, {"min_val": 0, "max_val": 6}), meaning(hardtanh, {"min_val": -1})
    (('relu6', {}), ('tanh', {}))
    >>> meaning(by_name("elu"), {"alpha": 0.5})
    ('elu', {'alpha': 0.5})
    """
    if act.means is None:
        return act.name, dict(args)
    return act.means(args)


def class_name_tokens() -> tuple[tuple[str, str], ...]:
    """(word, canonical name) for every name and alias of an activation, longest first
    (ties in table order): the first found in a third-party class name decides, so
    ``leakyrelu`` wins over ``relu``, ``relu`` over ``elu``, ``gelu`` over ``tanh``.

    >>> class_name_tokens()[:2]
    (('hardsigmoid', 'hardsigmoid'), ('logsoftmax', 'log_softmax'))
    """
    words = [(_key(w), a.name) for a in ACTIVATIONS for w in (a.name, *a.aliases)]
    order = {w: i for i, w in enumerate(words)}
    return tuple(sorted(dict.fromkeys(words), key=lambda w: (-len(w[0]), order[w])))


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
