"""The module types the rules treat alike, by class name (a layer matches a family when
its class or any base class is in it, so subclasses and torch's private bases count).
Torch-free.

>>> from initpolicy.tracer.graph import Layer, Resolution
>>> lstm = Layer("rnn", "MyLSTM", ("MyLSTM", "LSTM", "RNNBase"), Resolution("linear"))
>>> is_type(lstm, RECURRENT_TYPES)
True
"""

from __future__ import annotations

from ..tracer import Layer

EMBEDDING_TYPES = ("Embedding", "EmbeddingBag")
RECURRENT_TYPES = ("RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell")
NORM_TYPES = ("_NormBase", "_BatchNorm", "LayerNorm", "GroupNorm", "RMSNorm", "_InstanceNorm")
#: Norms that remove a per-channel constant, so a bias right before them is cancelled.
CANCELLING_NORMS = ("_BatchNorm", "_InstanceNorm", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d")
#: Layouts whose output units are along dim 1: transformers' Conv1D, ConvTranspose*.
UNITS_ON_DIM1 = (
    "Conv1D",
    "_ConvTransposeNd",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
)


def is_type(layer: Layer, names: tuple[str, ...]) -> bool:
    """Whether ``layer``'s class or one of its bases is named in ``names``."""
    return any(t in names for t in (layer.type, *layer.types))
