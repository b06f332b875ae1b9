"""Packed tensors and the names of their blocks. Torch-free (the parser validates
``[block]`` against it; the tracer lays the blocks out on the tensors).

Blocks are equal row-chunks of the packed tensor, in torch's storage order:
LSTM gates (i, f, g, o), GRU gates (r, z, n), MultiheadAttention's in_proj (q, k, v).

>>> BLOCKS["LSTM"]
('input', 'forget', 'cell', 'output')
"""

from __future__ import annotations

_LSTM = ("input", "forget", "cell", "output")
_GRU = ("reset", "update", "new")
_MHA = ("q", "k", "v")

#: Module type -> block names, in storage order.
BLOCKS: dict[str, tuple[str, ...]] = {
    "LSTM": _LSTM,
    "LSTMCell": _LSTM,
    "GRU": _GRU,
    "GRUCell": _GRU,
    "MultiheadAttention": _MHA,
}

#: Which parameters of each type are packed (globs over the local name).
PACKED_PARAMS: dict[str, tuple[str, ...]] = {
    "LSTM": ("weight_ih*", "weight_hh*", "bias_ih*", "bias_hh*"),
    "LSTMCell": ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
    "GRU": ("weight_ih*", "weight_hh*", "bias_ih*", "bias_hh*"),
    "GRUCell": ("weight_ih", "weight_hh", "bias_ih", "bias_hh"),
    "MultiheadAttention": ("in_proj_weight", "in_proj_bias"),
}

#: The block that names the experts of an experts tensor (``[expert]``, ``[expert=3]``):
#: any module's 3-D tensor used one ``(out, in)`` slice per expert, found by the tracer
#: (not by type); one expert's block is named ``expert3``.
EXPERT = "expert"

#: Every block name, for did-you-mean hints.
ALL_BLOCK_NAMES: tuple[str, ...] = tuple(sorted({b for names in BLOCKS.values() for b in names}))
