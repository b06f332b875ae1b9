"""The parser is built from the grammar in every process: no pickle is ever loaded from
the user's cache directory (Lark's ``cache=`` was one, so a planted file with the right
hash line ran its code at ``initpolicy check``)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from lark import Lark

from initpolicy.language import grammar

#: It starts Python subprocesses.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


class _Planted:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['PLANTED_MARKER']}",))


@pytest.mark.parametrize("var", ["XDG_CACHE_HOME", "HOME"])
def test_a_planted_grammar_cache_is_never_loaded(tmp_path: Path, var: str):
    marker = tmp_path / "ran"
    os.environ["PLANTED_MARKER"] = str(marker)
    try:
        payload = pickle.dumps(_Planted())
    finally:
        del os.environ["PLANTED_MARKER"]
    # Lark's cache file: the hash line of this grammar and these options, then a pickle
    probe = tmp_path / "probe"
    Lark(grammar.grammar_path().read_text(encoding="utf-8"), **grammar.OPTIONS, cache=str(probe))
    hash_line = probe.read_bytes().split(b"\n", 1)[0] + b"\n"
    cache = tmp_path / ("" if var == "XDG_CACHE_HOME" else ".cache") / "initpolicy"
    cache.mkdir(parents=True)
    (cache / "policy-grammar.lark-cache").write_bytes(hash_line + payload)
    env = {**os.environ, var: str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("XDG_CACHE_HOME" if var == "HOME" else "HOME", None)
    proc = subprocess.run(
        [sys.executable, "-m", "initpolicy", "check", "relu_net"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
