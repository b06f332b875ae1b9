#!/usr/bin/env bash
# The README's main job, from a fresh clone: set up .venv, lint an example model, apply a
# policy to it, lint it again under that policy, and run the "why init matters" demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/setup.sh test
export PATH="$PWD/${INITPOLICY_VENV:-.venv}/bin:$PATH"
mkdir -p out

step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

step initpolicy trace examples/mlp.py
initpolicy trace examples/mlp.py

# PyTorch's default init before ReLU: the linter finds it (exit 1 means "findings").
step initpolicy lint examples/mlp.py
initpolicy lint examples/mlp.py || [ $? -eq 1 ]

step initpolicy explain examples/mlp.py --policy examples/mlp.pol
initpolicy explain examples/mlp.py --policy examples/mlp.pol

step initpolicy apply examples/mlp.py --policy examples/mlp.pol --out out/mlp.pt --force
initpolicy apply examples/mlp.py --policy examples/mlp.pol --out out/mlp.pt --force

# The same model, linted as the policy initializes it: clean.
step initpolicy lint examples/mlp.py --policy examples/mlp.pol
initpolicy lint examples/mlp.py --policy examples/mlp.pol

step python examples/why_init_matters.py --out out/why_init_matters
python examples/why_init_matters.py --out out/why_init_matters
