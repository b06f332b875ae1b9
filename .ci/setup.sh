#!/usr/bin/env bash
# Creates .venv (if needed) and installs initpolicy with its test extras.
# torch is installed first, pinned, so that pip never pulls a multi-GB CUDA build;
# override with INITPOLICY_TORCH="torch==2.x.y" (or any pip requirement).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${INITPOLICY_VENV:-.venv}"
TORCH_REQ="${INITPOLICY_TORCH:-torch==2.13.0}"
EXTRAS="${1:-test}"
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.initpolicy-setup-$(echo "$TORCH_REQ $EXTRAS" | cksum | cut -d' ' -f1)-$(cksum < pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
    "$PY" -m pip install -q --disable-pip-version-check "$TORCH_REQ" numpy
    "$PY" -m pip install -q --disable-pip-version-check -e ".[$EXTRAS]"
    touch "$stamp"
fi
