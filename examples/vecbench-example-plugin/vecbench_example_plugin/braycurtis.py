"""The Bray-Curtis dissimilarity ``sum |x - y| / sum |x + y|``, with its gradient.

It is symmetric and non-negative but not a metric (no triangle inequality). It is meant for
non-negative data (abundances, histograms); two zero vectors are at distance 0, and where
``x == -y != 0`` the denominator vanishes and the distance is ``inf``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import DataKind, MetricInfo
from harness.metrics import check_metric_inputs

#: Rows x columns x dims handled per block of ``pairwise`` (bounds its temporary memory).
_BLOCK_ELEMENTS = 1 << 20


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.inf)
    np.divide(num, den, out=out, where=den > 0)
    out[(den == 0) & (num == 0)] = 0.0
    return out


def pairwise(X: Any, Y: Any) -> np.ndarray:
    """Bray-Curtis of every row of ``X`` to every row of ``Y``: float64 (len(X), len(Y))."""
    x, y = check_metric_inputs(X, Y, DataKind.DENSE, owner="metric 'braycurtis'")
    out = np.empty((len(x), len(y)))
    rows = max(1, _BLOCK_ELEMENTS // max(1, y.size))
    for start in range(0, len(x), rows):
        block = x[start:start + rows, None, :]
        num = np.abs(block - y[None]).sum(axis=2)
        den = np.abs(block + y[None]).sum(axis=2)
        out[start:start + rows] = _ratio(num, den)
    return out


def rowwise(X: Any, Y: Any) -> np.ndarray:
    """Bray-Curtis of ``X[i]`` to ``Y[i]``: float64 (n,)."""
    x, y = check_metric_inputs(X, Y, DataKind.DENSE, same_rows=True,
                               owner="metric 'braycurtis'")
    return _ratio(np.abs(x - y).sum(axis=1), np.abs(x + y).sum(axis=1))


def gradient(Q: Any, X: Any) -> np.ndarray:
    """d/dq of braycurtis(Q[i], X[i]); the subgradient takes sign(0) = 0."""
    q, x = check_metric_inputs(Q, X, DataKind.DENSE, same_rows=True,
                               owner="metric 'braycurtis'", names=("Q", "X"))
    num = np.abs(q - x).sum(axis=1, keepdims=True)
    den = np.abs(q + x).sum(axis=1, keepdims=True)
    safe = np.where(den > 0, den, 1.0)
    grad = (np.sign(q - x) * safe - num * np.sign(q + x)) / safe**2
    return np.where(den > 0, grad, 0.0)


BRAYCURTIS = MetricInfo(
    name="braycurtis",
    pairwise=pairwise,
    rowwise=rowwise,
    gradient=gradient,
    triangle_inequality=False,
    symmetric=True,
    description="sum |x - y| / sum |x + y| (Bray-Curtis dissimilarity)",
)
