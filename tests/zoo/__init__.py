"""The zoo: real torchvision, timm and transformers models, built as their libraries build
them (no weights), and the activations expected after their spot-checked layers, each read
from the library's source (file:line in a comment).

- ``vision.MODELS``: every torchvision classification model, the smallest of each of
  detection, segmentation, video and optical flow, and the smallest model of each timm
  model module (the selection rule is in vision.py's docstring);
- ``transformers_models.MODELS``: 74 transformers architectures from small configs;
- ``expected_vision.EXPECTED`` / ``expected_transformers.EXPECTED``: model -> {layer: activation}.
"""
