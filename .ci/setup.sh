#!/usr/bin/env bash
# Creates .venv (if needed) and installs initpolicy with its test extras, pinned.
#
# torch and torchvision are installed first and explicitly, so that pip never resolves a
# bare `torch` to whatever build it likes: torch==2.14.1 with torchvision==0.29.1 (the
# zoo tests build torchvision's and timm's real models). Override with
# INITPOLICY_TORCH="torch==X.Y.Z torchvision==A.B.C" (any pip requirements). Every other
# third-party package is pinned by .ci/constraints.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${INITPOLICY_VENV:-.venv}"
TORCH_REQ="${INITPOLICY_TORCH:-torch==2.14.1 torchvision==0.29.1}"
EXTRAS="${1:-test}"
say() { printf '==> %s\n' "$*" >&2; }
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV"
    python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
stamp="$VENV/.initpolicy-setup-$(echo "$TORCH_REQ $EXTRAS" | cksum | cut -d' ' -f1)-$(cat pyproject.toml .ci/constraints.txt | cksum | cut -d' ' -f1)"
if [ ! -f "$stamp" ]; then
    pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
    say "first run in $VENV: installing $TORCH_REQ (a few GB; minutes)"
    pip_install --upgrade pip
    # shellcheck disable=SC2086  # TORCH_REQ is a list of requirements
    pip_install $TORCH_REQ numpy -c .ci/constraints.txt
    say "installing initpolicy[$EXTRAS] with pinned dependencies"
    pip_install -e ".[$EXTRAS]" -c .ci/constraints.txt
    touch "$stamp"
    say "$VENV is ready"
fi
