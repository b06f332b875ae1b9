"""Example inputs for a forward pass: normalized from what the user gave, or synthesized.

One direction, no module reaching back: :mod:`.calls` (what a call is, and the parts every
way of making one shares) <- :mod:`.vlm` (vision-language placeholders) <- :mod:`.named`
(inputs known by name, transformers') <- :mod:`.infer` (the order to try them in, then
images of a declared size, :mod:`.declared`, then the first layer's input).
"""

from .calls import (
    Call,
    NoInputs,
    as_call,
    batch_size,
    bind,
    describe,
    dtype_names,
    forward_parameters,
    from_shapes,
    model_device_dtype,
    required_inputs,
    to_device,
)
from .declared import declared_image_size
from .infer import infer, synthetic_batch
from .named import PRIMARY, missing_inputs, named_calls

__all__ = [
    "PRIMARY",
    "Call",
    "NoInputs",
    "as_call",
    "batch_size",
    "bind",
    "declared_image_size",
    "describe",
    "dtype_names",
    "forward_parameters",
    "from_shapes",
    "infer",
    "missing_inputs",
    "model_device_dtype",
    "named_calls",
    "required_inputs",
    "synthetic_batch",
    "to_device",
]
