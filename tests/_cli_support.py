"""What the command-line tests share: a working directory holding a model file that
leaves a marker when it is imported (so a test can tell whether a refusal came before the
model was built), and a policy."""

from __future__ import annotations

from pathlib import Path

import pytest

#: The file a test model touches next to itself when it is imported.
MARKER = "imported.marker"
#: The model file's line that touches MARKER.
TOUCH_MARKER = f"pathlib.Path(__file__).with_name({MARKER!r}).touch()  # the model was imported"


def repo_with(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str]) -> Path:
    """``tmp_path`` as the working directory, holding ``files`` (name -> text)."""
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path
