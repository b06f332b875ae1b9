"""The orthogonal factor of a QR decomposition, the same bits for any thread count.

``torch.linalg.qr`` calls LAPACK's ``geqrf``, whose blocking depends on the number of
threads: the same matrix gives different last bits with 1, 2 or 4 threads (torchrun sets
``OMP_NUM_THREADS=1``), so ``torch.nn.init.orthogonal_`` is not reproducible across
machines or launchers. This is a blocked Householder QR (compact WY form, LAPACK's own
algorithm) in float64 built from two kinds of operation only:

- matrix products, which the BLAS splits over the *output*, so each element is one dot
  product summed in the same order whatever the thread count;
- column sums whose work is split the same way: :func:`_col_sums` sums fixed chunks of
  rows (one output per chunk, each summed in one thread), then the chunks' sums.

No setting of the thread pool is read or changed, so several Python threads can draw at
once. ``tests/test_orthogonal_threads.py`` checks the bits under ``torch.set_num_threads``
1, 2 and 4 and ``OMP_NUM_THREADS``. Torch is imported inside the functions (the catalog
loads without torch).

>>> import torch
>>> a = torch.randn(6, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
>>> q = orthonormal_columns(a)
>>> bool(torch.allclose(q.T @ q, torch.eye(4, dtype=torch.float64)))
True
>>> r = q.T @ a  # upper triangular, positive diagonal: q is the QR factor torch's would be
>>> bool((torch.diagonal(r) > 0).all()), bool(torch.allclose(r.tril(-1), torch.zeros(4, 4, dtype=torch.float64), atol=1e-12))
(True, True)
"""

from __future__ import annotations

import math
from typing import Any

#: Columns per Householder panel (LAPACK's usual block size).
_PANEL = 32
#: Rows per chunk of a column sum: far below torch's parallel grain (32,768 elements), so
#: a chunk is always summed by one thread.
_CHUNK = 4096


def _col_sums(x: Any) -> Any:
    """Column sums of a 2-D tensor, each in a fixed order (see the module docstring)."""
    rows, cols = x.shape
    if rows <= _CHUNK:
        # at most _CHUNK * cols elements with cols outputs: torch either sums serially or
        # gives each output column to one thread
        return x.sum(0) if cols > 1 else x.reshape(1, rows).sum(1)
    pad = (-rows) % _CHUNK
    if pad:
        x = _cat_zeros(x, pad)
    parts = x.reshape(-1, _CHUNK, cols).sum(1)  # one output per (chunk, column)
    return _col_sums(parts)


def _cat_zeros(x: Any, pad: int) -> Any:
    import torch

    return torch.cat([x, x.new_zeros(pad, x.shape[1])])


def orthonormal_columns(a: Any) -> Any:
    """``Q`` of ``a = QR`` (``a`` float64, rows >= cols) with ``R``'s diagonal positive:
    Q · diag(sign(diag R)) of LAPACK's QR, the sign correction that makes ``Q`` of a
    Gaussian matrix Haar-distributed (Mezzadri 2007)."""
    import torch

    a = a.clone()
    m, n = a.shape
    panels = []
    for j0 in range(0, n, _PANEL):
        j1 = min(j0 + _PANEL, n)
        v, t = _factor_panel(a[j0:, j0:j1])
        if j1 < n:  # apply the panel's reflectors I - V T V^T to the columns right of it
            c = a[j0:, j1:]
            c -= v @ (t.T @ (v.T @ c))
        panels.append((j0, v, t))
    signs = torch.where(torch.diagonal(a) < 0, -1.0, 1.0).to(a.dtype)
    q = a.new_zeros(m, n)
    q[:n].copy_(torch.eye(n, dtype=a.dtype))
    for j0, v, t in reversed(panels):  # Q = H_1 ... H_n applied to the first n columns of I
        c = q[j0:, j0:]
        c -= v @ (t @ (v.T @ c))
    return q.mul_(signs)


def _factor_panel(p: Any) -> tuple[Any, Any]:
    """Householder-reduce the panel ``p`` in place (R on and above its diagonal); returns
    its reflectors V (unit columns below the diagonal) and the triangular T of
    H_1 ... H_b = I - V T V^T."""
    rows, b = p.shape
    v = p.new_zeros(rows, b)
    tau = [0.0] * b
    for k in range(b):
        x = p[k:, k]
        norm = math.sqrt(float(_col_sums((x * x)[:, None])[0]))
        if norm == 0.0:
            continue  # a zero column: no reflection (probability zero for a normal draw)
        x0 = float(x[0])
        alpha = -norm if x0 >= 0 else norm
        h = x.clone()
        h[0] = x0 - alpha
        tau[k] = 2.0 / float(_col_sums((h * h)[:, None])[0])
        if k + 1 < b:
            rest = p[k:, k + 1 :]
            w = _col_sums(h[:, None] * rest)
            rest -= (tau[k] * h)[:, None] * w[None, :]
        x.zero_()
        x[0] = alpha
        v[k:, k] = h
    t = p.new_zeros(b, b)
    for i in range(b):
        t[i, i] = tau[i]
        if i and tau[i]:
            z = _col_sums(v[:, i : i + 1] * v[:, :i])
            t[:i, i] = -tau[i] * (t[:i, :i] @ z)
    return v, t
