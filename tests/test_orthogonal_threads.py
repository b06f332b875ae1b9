"""orthogonal gives the same bits whatever the thread count (docs/guarantees.md).

LAPACK's QR does not (torchrun sets OMP_NUM_THREADS=1, a laptop uses every core), so the
sampler uses initpolicy.catalog.qr. Each count runs in its own process, as a launcher
would set it: ``torch.set_num_threads(n)`` and ``OMP_NUM_THREADS=n``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
import torch

from initpolicy.applier.fill import fill_
from initpolicy.catalog.qr import orthonormal_columns

#: Square, tall, wide, a conv weight, panels that do not divide the columns, and rows
#: beyond one chunk of a column sum (4,096).
SHAPES = [(64, 64), (100, 37), (37, 100), (16, 8, 3, 3), (300, 300), (9000, 70)]

PROBE = """
import hashlib, sys, torch
from initpolicy.applier.fill import fill_
if sys.argv[1] != "env":
    torch.set_num_threads(int(sys.argv[1]))
for shape in {shapes}:
    t = torch.empty(shape)
    fill_(t, "orthogonal", {{}}, fan_in=1, fan_out=1, generator=torch.Generator().manual_seed(3))
    print(hashlib.sha256(t.numpy().tobytes()).hexdigest())
"""


#: It starts Python subprocesses.
pytestmark = pytest.mark.slow


def _digests(threads: str, env: dict[str, str] | None = None) -> list[str]:
    code = PROBE.format(shapes=SHAPES)
    out = subprocess.run(
        [sys.executable, "-c", code, threads],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    return out.stdout.split()


@pytest.mark.slow
def test_orthogonal_is_bit_identical_for_1_2_and_4_threads_and_omp_num_threads_1():
    runs = {n: _digests(n) for n in ("1", "2", "4")}
    runs["OMP_NUM_THREADS=1"] = _digests("env", {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"})
    assert len(runs["1"]) == len(SHAPES)
    assert all(d == runs["1"] for d in runs.values()), runs


def test_orthogonal_is_bit_identical_when_python_threads_draw_at_once():
    def draw() -> torch.Tensor:
        t = torch.empty(300, 200)
        fill_(t, "orthogonal", {}, fan_in=1, fan_out=1, generator=torch.Generator().manual_seed(9))
        return t

    alone = draw()
    results: list[torch.Tensor] = []
    workers = [threading.Thread(target=lambda: results.append(draw())) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(results) == 4 and all(torch.equal(r, alone) for r in results)


@pytest.mark.parametrize("shape", [(50, 50), (200, 33), (5000, 40)])
def test_the_qr_factor_is_orthonormal_with_a_positive_r_diagonal(shape):
    a = torch.randn(shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    q = orthonormal_columns(a)
    r = q.T @ a
    eye = torch.eye(shape[1], dtype=torch.float64)
    assert torch.allclose(q.T @ q, eye, atol=1e-12)
    assert (torch.diagonal(r) > 0).all()
    assert torch.allclose(r.tril(-1), torch.zeros_like(r), atol=1e-10)


def test_orthogonal_keeps_its_haar_sign_correction():
    # without the sign correction the diagonal of Q would be biased; with it, E[q_ii] = 0
    draws = [torch.empty(4, 4) for _ in range(400)]
    for i, t in enumerate(draws):
        fill_(t, "orthogonal", {}, fan_in=4, fan_out=4, generator=torch.Generator().manual_seed(i))
    diag = torch.stack([torch.diagonal(t) for t in draws])
    assert abs(float(diag.mean())) < 0.06
