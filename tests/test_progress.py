"""Progress on a terminal's stderr (issue 18, item 8): the stage, a bar where the work is
countable, the line erased at the end; nothing at all where stderr is not a terminal."""

from __future__ import annotations

import io

import torch
from torch import nn

import initpolicy
from initpolicy.common.progress import Progress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def test_a_terminal_sees_the_stages_and_counted_bars_then_a_clean_line() -> None:
    tty = Tty()
    initpolicy.lint(model(), progress=Progress(tty))
    text = tty.getvalue()
    assert "static pass: tensors [" in text and "6/6" in text
    assert "dynamic pass: layers [" in text and "3/3" in text
    assert text.endswith("\r")  # the last write erases the line


def test_the_streamed_passes_count_blocks() -> None:
    tty = Tty()
    initpolicy.lint(model(), "relu_net", memory=1, progress=Progress(tty))  # streamed
    assert "static pass: from the plan" in tty.getvalue()


def test_nothing_is_drawn_where_stderr_is_not_a_terminal() -> None:
    pipe = io.StringIO()
    initpolicy.lint(model(), progress=Progress(pipe))
    assert pipe.getvalue() == ""
