"""Progress of a long run on a terminal: the stage, and a bar where the work is countable
(layers, blocks, models, widths). Written to stderr only when it is a terminal, so pipes,
files, ``--format json`` and tests see nothing; the line is erased when the run ends.

>>> import io
>>> p = Progress(io.StringIO())       # not a terminal: silent
>>> p.stage("dynamic pass", total=4); p.advance(); p.close()
>>> p.stream.getvalue()
''
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

#: Width of the bar in characters, and the least time between two redraws.
BAR = 24
REDRAW_S = 0.1


class Progress:
    """One status line on ``stream`` (default stderr), drawn only on a terminal."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None):
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty()) if enabled is None else enabled
        self.name = ""
        self.total: int | None = None
        self.done = 0
        self._drawn = 0.0
        self._width = 0

    def stage(self, name: str, total: int | None = None) -> None:
        """Start stage ``name``; ``total``: how many units it counts (None: no bar)."""
        self.name, self.total, self.done = name, total, 0
        self._draw(force=True)

    def advance(self, n: int = 1, what: str = "") -> None:
        """``n`` more units of the stage done (``what``: the unit just finished)."""
        self.done += n
        self._draw(force=self.total is not None and self.done >= self.total, what=what)

    def close(self) -> None:
        """Erase the line (the report follows on a clean screen)."""
        if self.enabled and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    def _draw(self, *, force: bool = False, what: str = "") -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_S:
            return
        self._drawn = now
        line = f"{self.name}..."
        if self.total:
            full = min(BAR, BAR * self.done // self.total)
            line = f"{self.name} [{'#' * full}{'.' * (BAR - full)}] {self.done}/{self.total}"
        if what:
            line += f" {what}"
        line = line[:100]
        pad = max(self._width - len(line), 0)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._width = len(line)


class Silent(Progress):
    """A Progress that draws nothing (the library's default)."""

    def __init__(self) -> None:
        super().__init__(enabled=False)


def progress_of(value: Any) -> Progress:
    """``value`` if it is a Progress, else a silent one."""
    return value if isinstance(value, Progress) else Silent()
