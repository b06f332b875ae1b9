"""What the recorder keeps of one write: the call, in the catalog's terms, and its site.

A :class:`Record` is one recognised (or unrecognised) write: ``torch.nn.init.normal_(w,
std=0.02)``, ``w[pad].zero_()``, ``torch.randn(d) * 0.02``. Its ``scheme`` is the catalog
scheme whose *torch semantics* describe the write, with the arguments torch received; its
``site`` is where the model's code issued it.

>>> r = Record(0, "torch.nn.init.normal_", "normal", {"mean": 0.0, "std": 0.02}, (4, 8),
...            (0, (4, 8), (8, 1)), Site("Net.reset", "model.py", 12))
>>> r.call_text(), str(r.site), r.torch_fans
('torch.nn.init.normal_(mean=0, std=0.02)', 'Net.reset (model.py:12)', (8.0, 4.0))
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..tracer import shape_fans

#: (storage offset, size, stride) of the view a write went to.
Geometry = tuple[int, tuple[int, ...], tuple[int, ...]]


@dataclass(frozen=True)
class Site:
    """Where a write was issued: the function, its file (shortened) and line."""

    function: str
    file: str
    line: int
    #: The outermost init entry point on the stack (post_init, reset_parameters, ...).
    via: str | None = None
    #: The function had computed a fan (a local named ``fan_in``, ``fan_out``, ...) when
    #: it wrote: a number equal to a fan form there is that form, not a coincidence.
    fans: bool = False
    #: The numbers written literally in the function's source (None: no source): a value
    #: that is none of them was computed, not typed (``1 / math.sqrt(in_features)``).
    literals: frozenset[float] | None = None
    #: The file as Python has it (absolute), for a location people can open; "" unknown.
    path: str = ""
    #: The identifiers of the function's source with the line of each (a name may repeat):
    #: which config sizes the code read, and how far above the write (:meth:`near`).
    names: tuple[tuple[str, int], ...] = ()
    #: The line spans of the function's statement blocks (bodies of its branches, loops).
    bodies: tuple[tuple[int, int], ...] = ()
    #: The tests the function made on the written tensor's size before the write, as
    #: policy conditions (:mod:`.source`: RWKV's ``fan_out == config.vocab_size and ...``).
    guards: tuple[Any, ...] = ()
    #: The write's init calls' arguments as the source computed them (:mod:`.source`:
    #: call, argument, value; :func:`.source.resolve` makes a value a policy expression
    #: for one tensor).
    arguments: tuple[tuple[str, str, Any], ...] = ()

    def near(self, candidates: Iterable[str]) -> dict[str, int]:
        """How many lines above the write each of ``candidates`` was last named where the
        write can see it (0: on the write's line): in a block that encloses the write, not
        in another branch; names only below it, or not at all, are left out.

        >>> site = Site("f", "m.py", 12, names=(("d_kv", 9), ("d_kv", 11), ("d_ff", 14), ("h", 6)),
        ...             bodies=((2, 14), (5, 6), (8, 12)))
        >>> site.near(["d_kv", "d_ff", "h"])  # h is in another branch (lines 5-6)
        {'d_kv': 1}
        """
        want = set(candidates)
        around = {b for b in self.bodies if b[0] <= self.line <= b[1]}
        out: dict[str, int] = {}
        for name, line in self.names:
            if name not in want or line > self.line:
                continue
            inner = min(
                (b for b in self.bodies if b[0] <= line <= b[1]),
                key=lambda b: b[1] - b[0],
                default=None,
            )
            if inner is not None and inner not in around:
                continue  # named in another branch
            d = self.line - line
            out[name] = min(d, out.get(name, d))
        return out

    def typed(self, v: float) -> bool | None:
        """Whether ``|v|`` is written literally in the function (None: unknown)."""
        if self.literals is None:
            return None
        return any(math.isclose(abs(v), x, rel_tol=1e-9) for x in self.literals)

    def __str__(self) -> str:
        return f"{self.function} ({self.file}:{self.line})"

    def to_json(self) -> dict[str, Any]:
        return {"function": self.function, "file": self.file, "line": self.line, "via": self.via}


@dataclass
class Record:
    """One write.

    ``scheme`` is the catalog scheme name whose torch semantics describe the write
    (``normal``, ``uniform``, ``trunc_normal``, ``constant``, ``kaiming_uniform``, ...,
    ``variance_scaling``/``lecun_normal`` for timm), with ``args`` as torch received
    them; None when the write is not recognised (``clamp_``, a copy of computed values,
    said in ``note``). ``shape`` and ``geometry`` are those of the view written, so
    ``torch_fans`` are the fans torch computed (what kaiming/xavier used). ``parent`` is
    the record a scalar map (``x * c``, ``w.div_(c)``) was derived from.
    """

    id: int
    op: str
    scheme: str | None
    args: dict[str, Any]
    shape: tuple[int, ...]
    geometry: Geometry
    site: Site
    parent: int | None = None
    note: str | None = None
    #: A draw transformed element-wise (``u.log_().mul_(0.5)...``): the map of the drawn
    #: value ``x`` (a language expression, the ops in the code's order); ``scheme`` and
    #: ``args`` are then the draw's. Written ``mapped(SCHEME, fn)``.
    fn: Any = None

    @property
    def torch_fans(self) -> tuple[float, float]:
        return torch_fans(self.shape)

    def call_text(self) -> str:
        shown = ", ".join(f"{k}={show(v)}" for k, v in self.args.items())
        return f"{self.op}({shown})"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "op": self.op,
            "scheme": self.scheme,
            "args": dict(self.args),
            "shape": list(self.shape),
            "site": self.site.to_json(),
            "parent": self.parent,
            "note": self.note,
            **({"map": printed(self.fn)} if self.fn is not None else {}),
        }


def printed(fn: Any) -> str:
    """A record's element-wise map as the policy writes it (``log(x) * 0.5``)."""
    from ..language import expression

    return expression(fn)


def show(v: Any) -> str:
    """An argument as a call shows it: ``0.02``, ``'fan_out'``, ``True``."""
    if isinstance(v, float):
        return f"{v:g}"
    return repr(v) if isinstance(v, str) else str(v)


def torch_fans(shape: tuple[int, ...]) -> tuple[float, float]:
    """torch.nn.init's ``_calculate_fan_in_and_fan_out`` on a shape (1-D: its length twice,
    as the recorder needs a fan for any write; torch refuses 1-D there).

    >>> torch_fans((16, 3, 3, 3)), torch_fans((5,))
    ((27.0, 144.0), (5.0, 5.0))
    """
    if len(shape) < 2:
        n = float(shape[0]) if shape else 1.0
        return n, n
    return shape_fans(None, shape)  # no module: torch's own formula, not the policy's table


#: Notes of records that copy values the code computed (no law can name them: ``keep``).
COMPUTED = ("copy of computed values", "assignment of computed values", "literal values")


def is_zero(r: Record) -> bool:
    return r.scheme == "zeros" or (r.scheme == "constant" and r.args.get("val") == 0.0)
