"""Agreement between two labellings: the contingency table, ARI and NMI (pure functions).

- Adjusted Rand index (Hubert & Arabie 1985): the Rand index corrected for chance,
  ``(index - expected) / (max - expected)`` with ``index = sum_ij C(n_ij, 2)``,
  ``expected = sum_i C(a_i, 2) sum_j C(b_j, 2) / C(n, 2)`` and
  ``max = (sum_i C(a_i, 2) + sum_j C(b_j, 2)) / 2``; 1 for identical partitions, about 0 for
  independent ones, and 1 when the denominator vanishes (both labellings trivial alike).
- Normalised mutual information: ``MI / mean(H(a), H(b))`` (arithmetic mean, natural log);
  1 when both labellings have a single class.

Both are invariant to renaming the labels; ``-1`` (noise) is just one more label.
"""

from __future__ import annotations

import numpy as np

from harness.errors import InvalidInputError


def _labels(values: object, name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"{name}: labels must be 1-D, got shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.integer)
                                   or np.issubdtype(arr.dtype, np.bool_)):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) \
                and np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise InvalidInputError(f"{name}: labels must be integers, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def contingency(a: object, b: object) -> np.ndarray:
    """Counts (classes of a x classes of b) of points with each pair of labels (int64)."""
    la, lb = _labels(a, "labels_true"), _labels(b, "labels_pred")
    if len(la) != len(lb):
        raise InvalidInputError(f"labels: lengths differ ({len(la)} and {len(lb)})")
    if len(la) == 0:
        raise InvalidInputError("labels: empty")
    _, ia = np.unique(la, return_inverse=True)
    _, ib = np.unique(lb, return_inverse=True)
    table = np.zeros((int(ia.max()) + 1, int(ib.max()) + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)
    return table


def _pairs(counts: np.ndarray) -> float:
    c = counts.astype(np.float64)
    return float((c * (c - 1.0) / 2.0).sum())


def adjusted_rand_index(labels_true: object, labels_pred: object) -> float:
    """Adjusted Rand index of two labellings of the same points."""
    table = contingency(labels_true, labels_pred)
    n = int(table.sum())
    index = _pairs(table)
    rows, cols = _pairs(table.sum(axis=1)), _pairs(table.sum(axis=0))
    total = n * (n - 1) / 2.0
    expected = rows * cols / total if total > 0 else 0.0
    top = (rows + cols) / 2.0
    if top == expected:
        return 1.0
    return float((index - expected) / (top - expected))


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0].astype(np.float64)
    p /= p.sum()
    return float(-(p * np.log(p)).sum())


def normalized_mutual_information(labels_true: object, labels_pred: object) -> float:
    """Mutual information over the arithmetic mean of the two entropies."""
    table = contingency(labels_true, labels_pred)
    n = float(table.sum())
    ha, hb = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    if table.shape[0] == 1 and table.shape[1] == 1:
        return 1.0
    nz = table > 0
    pij = table[nz] / n
    pi = (table.sum(axis=1) / n)[np.nonzero(nz)[0]]
    pj = (table.sum(axis=0) / n)[np.nonzero(nz)[1]]
    mi = float((pij * np.log(pij / (pi * pj))).sum())
    mean_h = (ha + hb) / 2.0
    if mean_h <= 0:
        return 1.0
    return float(min(max(mi / mean_h, 0.0), 1.0))
