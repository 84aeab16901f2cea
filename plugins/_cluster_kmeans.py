"""Seeded k-means for the clustering plugins: greedy k-means++ seeding, Lloyd, best of n_init.

The in-house ``kmeans`` clusterer and the k-means assignment step of spectral clustering use
it. Seeding is greedy k-means++ (Arthur & Vassilvitskii 2007; each new centre is the best of
``2 + ln k`` candidates drawn with probability proportional to the squared distance to the
nearest chosen centre). Lloyd iterations run until no label changes or the centres move by
less than ``tol`` times the mean per-feature variance of the data (squared, summed over
centres), and the run with the smallest inertia of ``n_init`` restarts wins. All random draws
come from one ``numpy.random.Generator`` seeded by ``seed``, and only distances enter the
draws, so reflecting or rotating the data gives the same partition.

Squared distances use ``|x|^2 - 2 x.c + |c|^2`` in float64 (clipped at 0), in row blocks so
that memory stays ``O(block * k)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from harness.errors import InvalidInputError
from harness.validation import check_dense

#: entries of the (rows x centres) distance block computed at once
_BLOCK_ENTRIES = 1 << 21


@dataclass
class KMeansFit:
    """Result of :func:`kmeans`.

    :param labels: int64 (n,), the index of each point's centre.
    :param centers: float64 (k, d).
    :param inertia: sum of squared distances of the points to their centre.
    :param n_iter: Lloyd iterations of the winning run.
    """

    labels: np.ndarray
    centers: np.ndarray
    inertia: float
    n_iter: int


def _check_int(value: object, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"k-means: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def sq_distances(x: np.ndarray, x_sq: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Squared euclidean distances (n, k) of the rows of ``x`` to ``centers``, clipped at 0."""
    c_sq = np.einsum("ij,ij->i", centers, centers)
    out = np.empty((len(x), len(centers)))
    step = max(1, _BLOCK_ENTRIES // max(1, len(centers)))
    for s in range(0, len(x), step):
        block = out[s:s + step]
        np.matmul(x[s:s + step], centers.T, out=block)
        block *= -2.0
        block += x_sq[s:s + step, None]
        block += c_sq[None, :]
    np.maximum(out, 0.0, out=out)
    return out


def _nearest(x: np.ndarray, x_sq: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    """(label, squared distance) of each row's nearest centre, ties to the smaller index."""
    labels = np.empty(len(x), dtype=np.int64)
    best = np.empty(len(x))
    step = max(1, _BLOCK_ENTRIES // max(1, len(centers)))
    for s in range(0, len(x), step):
        d2 = sq_distances(x[s:s + step], x_sq[s:s + step], centers)
        lab = np.argmin(d2, axis=1)
        labels[s:s + step] = lab
        best[s:s + step] = d2[np.arange(len(lab)), lab]
    return labels, best


def kmeans_plusplus(x: np.ndarray, k: int, rng: np.random.Generator,
                    x_sq: np.ndarray | None = None) -> np.ndarray:
    """Indices of ``k`` seeding points chosen by greedy k-means++."""
    n = len(x)
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", x, x)
    trials = 2 + int(math.log(k)) if k > 1 else 1
    chosen = np.empty(k, dtype=np.int64)
    chosen[0] = rng.integers(n)
    closest = sq_distances(x, x_sq, x[chosen[:1]])[:, 0]
    for c in range(1, k):
        total = float(closest.sum())
        if total <= 0.0:  # every point sits on a chosen centre: any point will do
            chosen[c] = rng.integers(n)
            continue
        cumulative = np.cumsum(closest)
        draws = rng.random(trials) * cumulative[-1]
        candidates = np.minimum(np.searchsorted(cumulative, draws, side="right"), n - 1)
        d2 = sq_distances(x, x_sq, x[candidates])
        potentials = np.minimum(d2, closest[:, None]).sum(axis=0)
        best = int(np.argmin(potentials))
        chosen[c] = candidates[best]
        closest = np.minimum(closest, d2[:, best])
    return chosen


def _update(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums (k, d) and counts (k,) by one sparse one-hot product."""
    n = len(x)
    onehot = sp.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))
    return np.asarray(onehot @ x), np.bincount(labels, minlength=k).astype(np.float64)


def lloyd(x: np.ndarray, centers: np.ndarray, *, max_iter: int, tol_abs: float,
          x_sq: np.ndarray | None = None) -> KMeansFit:
    """Lloyd iterations from ``centers``; empty clusters take the farthest points."""
    if x_sq is None:
        x_sq = np.einsum("ij,ij->i", x, x)
    k = len(centers)
    centers = np.array(centers, dtype=np.float64)
    labels, best = _nearest(x, x_sq, centers)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        sums, counts = _update(x, labels, k)
        empty = np.flatnonzero(counts == 0)
        new = centers.copy()
        full = counts > 0
        new[full] = sums[full] / counts[full, None]
        if len(empty):
            far = np.argsort(-best, kind="stable")[:len(empty)]
            new[empty] = x[far]
        shift = float(((new - centers) ** 2).sum())
        centers = new
        new_labels, best = _nearest(x, x_sq, centers)
        unchanged = np.array_equal(new_labels, labels) and not len(empty)
        labels = new_labels
        if unchanged or shift <= tol_abs:
            break
    return KMeansFit(labels=labels, centers=centers, inertia=float(best.sum()), n_iter=n_iter)


def kmeans(x: object, n_clusters: int, *, n_init: int = 10, max_iter: int = 300,
           tol: float = 1e-4, seed: int = 0) -> KMeansFit:
    """Cluster the rows of ``x`` into ``n_clusters`` groups; best of ``n_init`` seeded runs.

    :param x: dense (n, d) data (any float or int dtype; computed in float64).
    :param n_clusters: number of clusters, 1 <= n_clusters <= n.
    :param n_init: restarts with fresh k-means++ seeds; the lowest inertia wins.
    :param max_iter: Lloyd iterations per run, at most.
    :param tol: relative tolerance on the centre shift (times the mean feature variance).
    :param seed: seed of every random draw.
    :raises InvalidInputError: bad data or parameter values, or fewer points than clusters.
    """
    data = check_dense(x, "k-means data", dtype=np.float64)
    k = _check_int(n_clusters, "n_clusters", 1)
    n_init = _check_int(n_init, "n_init", 1)
    max_iter = _check_int(max_iter, "max_iter", 1)
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        raise InvalidInputError(f"k-means: tol must be a finite number >= 0, got {tol!r}")
    if k > len(data):
        raise InvalidInputError(f"k-means: n_clusters={k} is more than the {len(data)} points")
    rng = np.random.default_rng(seed)
    x_sq = np.einsum("ij,ij->i", data, data)
    tol_abs = float(tol) * float(np.mean(np.var(data, axis=0)))
    best: KMeansFit | None = None
    for _ in range(n_init):
        start = data[kmeans_plusplus(data, k, rng, x_sq)]
        fit = lloyd(data, start, max_iter=max_iter, tol_abs=tol_abs, x_sq=x_sq)
        if best is None or fit.inertia < best.inertia:
            best = fit
    assert best is not None
    return best
