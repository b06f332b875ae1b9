"""Tensor dtypes by name: the words ``--input-dtype`` accepts and which ones are floating.
Torch-free (the CLI validates options before torch is loaded).

>>> DTYPES["half"], is_floating("bfloat16"), is_floating("int64")
('float16', True, False)
"""

from __future__ import annotations

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


def is_floating(dtype: str) -> bool:
    """Whether the dtype named ``dtype`` (``float32``, ``torch.bfloat16``, ``half``) is floating."""
    name = DTYPES.get(dtype.removeprefix("torch."), dtype.removeprefix("torch."))
    return name.startswith("float") or name == "bfloat16"
