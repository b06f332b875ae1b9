"""Tensor dtypes by name: the words ``--input-dtype`` accepts, which dtypes are floating,
and the values each can hold. Torch-free (the CLI validates options before torch is
loaded, the planner checks values against dtypes without it); tests/test_value_ranges.py
checks the ranges against ``torch.finfo``/``torch.iinfo``.

>>> DTYPES["half"], is_floating("bfloat16"), is_floating("int64")
('float16', True, False)
>>> representable("float16", 70000.0), representable("int64", 0.5), representable("int64", 3.0)
("float16's largest finite value is 65,504", 'int64 holds whole numbers only', None)
"""

from __future__ import annotations

import math

#: Accepted name -> torch's name of the dtype (``torch.<name>``).
DTYPES: dict[str, str] = {
    "float": "float32",
    "float32": "float32",
    "float64": "float64",
    "double": "float64",
    "float16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "long": "int64",
    "int64": "int64",
    "int": "int32",
    "int32": "int32",
    "bool": "bool",
}

#: The largest finite value of each floating dtype (``torch.finfo(dtype).max``).
FLOAT_MAX: dict[str, float] = {
    "float64": 1.7976931348623157e308,
    "float32": 3.4028234663852886e38,
    "bfloat16": 3.3895313892515355e38,
    "float16": 65504.0,
    "float8_e4m3fn": 448.0,
    "float8_e4m3fnuz": 240.0,
    "float8_e5m2": 57344.0,
    "float8_e5m2fnuz": 57344.0,
}

#: The values of each integer dtype (``torch.iinfo``); bool holds 0 and 1.
INT_RANGE: dict[str, tuple[int, int]] = {
    "bool": (0, 1),
    "uint8": (0, 2**8 - 1),
    "uint16": (0, 2**16 - 1),
    "uint32": (0, 2**32 - 1),
    "uint64": (0, 2**64 - 1),
    "int8": (-(2**7), 2**7 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "int64": (-(2**63), 2**63 - 1),
}


def _name(dtype: str) -> str:
    bare = dtype.removeprefix("torch.")
    return DTYPES.get(bare, bare)


def is_floating(dtype: str) -> bool:
    """Whether the dtype named ``dtype`` (``float32``, ``torch.bfloat16``, ``half``) is floating."""
    name = _name(dtype)
    return name.startswith("float") or name == "bfloat16"


def largest(dtype: str) -> float | None:
    """The largest finite value of a floating dtype; None for any other (or unknown) one."""
    return FLOAT_MAX.get(_name(dtype))


def show(x: float) -> str:
    """A bound as a person reads it: ``65,504``, ``3.4e+38``."""
    return f"{x:,.0f}" if abs(x) < 1e7 else f"{x:.3g}"


def representable(dtype: str, value: float) -> str | None:
    """Why ``value`` cannot be stored in a tensor of ``dtype`` as it is (overflow, or a
    fraction in an integer dtype), or None if it can. Rounding to the dtype's precision
    is not a problem; unknown dtypes (complex, quantized) are not checked."""
    name = _name(dtype)
    if name in FLOAT_MAX:
        if math.isfinite(value) and abs(value) <= FLOAT_MAX[name]:
            return None
        return f"{name}'s largest finite value is {show(FLOAT_MAX[name])}"
    if name in INT_RANGE:
        lo, hi = INT_RANGE[name]
        if not (math.isfinite(value) and value == int(value)):
            return f"{name} holds whole numbers only"
        if not lo <= int(value) <= hi:
            return f"{name} holds {lo:,} to {hi:,}" if name != "bool" else "bool holds 0 and 1"
    return None
