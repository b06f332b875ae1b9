"""Building zoo models for tests that only trace them: tracing needs shapes, not values, so
the models are built without memory where that is faithful.

* ``on_meta(builder)``: the library builds the model under ``torch.device("meta")`` (no
  storage, init skipped): every parameter and buffer is a meta tensor, every module is
  the library's own.
* ``parameters_on_meta(builder)``: for a model whose construction computes with tensor
  values (torchvision's RegNets derive their stage widths with torch ops and
  ``.tolist()``), the constructor runs on the CPU and each parameter and buffer moves to
  the meta device as it is registered, so the init that follows costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch


def on_meta(builder: Callable[[], Any]) -> Any:
    with torch.device("meta"):
        return builder()


@contextmanager
def _registered_on_meta() -> Iterator[None]:
    module = torch.nn.Module
    register_parameter, register_buffer = module.register_parameter, module.register_buffer

    def parameter(self: Any, name: str, param: Any) -> None:
        if param is not None and not param.is_meta:
            param = torch.nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(self, name, param)

    def buffer(self: Any, name: str, tensor: Any, persistent: bool = True) -> None:
        register_buffer(self, name, None if tensor is None else tensor.to("meta"), persistent)

    module.register_parameter = parameter  # type: ignore[method-assign]
    module.register_buffer = buffer  # type: ignore[method-assign]
    try:
        yield
    finally:
        module.register_parameter = register_parameter  # type: ignore[method-assign]
        module.register_buffer = register_buffer  # type: ignore[method-assign]


def parameters_on_meta(builder: Callable[[], Any]) -> Any:
    with _registered_on_meta():
        return builder()
