"""Seeded Lloyd k-means (numpy + numba), shared by the in-house quantizers.

Follows the conventions of faiss's ``Clustering`` where they matter for comparisons: the
training set is subsampled to ``max_points_per_centroid * k`` points, centroids start on
``k`` distinct random training points, a fixed number of iterations runs, and an empty
cluster takes over half of the largest one (its centroid split in two by a tiny symmetric
perturbation). Too few points is an error that says what to change; fewer than 39 points per
centroid only warns, as in faiss.

Nearest-centroid assignment uses a numba kernel for short vectors (where a matrix product
is mostly overhead) and blocked BLAS products for long ones.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numba
import numpy as np

from harness.errors import InvalidInputError

#: below this dimension the direct kernel beats BLAS for nearest-centroid search
DIRECT_MAX_DIM = 24
#: faiss warns below this many training points per centroid
WARN_POINTS_PER_CENTROID = 39
_BLOCK = 8192
_SPLIT_EPS = 1.0 / 1024.0


@dataclass
class KMeansResult:
    """Trained centroids and the k-means objective after each iteration.

    :param centroids: float32 (k, d).
    :param objective: sum of squared distances of the (sampled) training points to their
        centroid, one value per iteration (before the update of that iteration).
    :param n_train: number of training points actually used (after subsampling).
    """

    centroids: np.ndarray
    objective: list[float]
    n_train: int


@numba.njit(cache=True, nogil=True, fastmath=True)
def _assign_direct(x: np.ndarray, ct: np.ndarray, cnorm: np.ndarray,
                   labels: np.ndarray, dist: np.ndarray) -> None:
    """labels[i] = argmin_c ||x_i - c||^2 with centroids transposed ``ct`` (d, k); ``dist``
    gets ``||c||^2 - 2 <x_i, c>`` at the minimum (add ``||x_i||^2`` for the distance)."""
    n, d = x.shape
    k = ct.shape[1]
    buf = np.empty(k, np.float32)
    m2 = np.float32(-2.0)
    for i in range(n):
        for c in range(k):
            buf[c] = cnorm[c]
        for j in range(d):
            v = m2 * x[i, j]
            for c in range(k):
                buf[c] += v * ct[j, c]
        best = 0
        bv = buf[0]
        for c in range(1, k):
            if buf[c] < bv:
                bv = buf[c]
                best = c
        labels[i] = best
        dist[i] = bv


@numba.njit(cache=True, nogil=True, fastmath=True)
def _assign_d8(x: np.ndarray, ct: np.ndarray, cnorm: np.ndarray,
               labels: np.ndarray, dist: np.ndarray) -> None:
    """:func:`_assign_direct` unrolled for 8-d vectors (the usual PQ sub-space, d = 8m): the
    coordinates stay in registers and the loop over centroids vectorizes."""
    n = x.shape[0]
    k = ct.shape[1]
    buf = np.empty(k, np.float32)
    r0, r1, r2, r3 = ct[0], ct[1], ct[2], ct[3]
    r4, r5, r6, r7 = ct[4], ct[5], ct[6], ct[7]
    m2 = np.float32(-2.0)
    for i in range(n):
        x0, x1, x2, x3 = m2 * x[i, 0], m2 * x[i, 1], m2 * x[i, 2], m2 * x[i, 3]
        x4, x5, x6, x7 = m2 * x[i, 4], m2 * x[i, 5], m2 * x[i, 6], m2 * x[i, 7]
        for c in range(k):
            buf[c] = (cnorm[c] + x0 * r0[c] + x1 * r1[c] + x2 * r2[c] + x3 * r3[c]
                      + x4 * r4[c] + x5 * r5[c] + x6 * r6[c] + x7 * r7[c])
        best = 0
        bv = buf[0]
        for c in range(1, k):
            if buf[c] < bv:
                bv = buf[c]
                best = c
        labels[i] = best
        dist[i] = bv


@numba.njit(cache=True, nogil=True)
def _row_argmin(scores: np.ndarray, labels: np.ndarray, dist: np.ndarray) -> None:
    """labels[i], dist[i] = argmin and min of row i (first index on ties)."""
    n, k = scores.shape
    for i in range(n):
        best = 0
        bv = scores[i, 0]
        for c in range(1, k):
            if scores[i, c] < bv:
                bv = scores[i, c]
                best = c
        labels[i] = best
        dist[i] = bv


def assign(x: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid (squared L2) of every row of ``x``.

    :returns: ``(labels int64 (n,), squared distances float32 (n,), clipped at 0)``.
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    c = np.ascontiguousarray(centroids, dtype=np.float32)
    n, d = x.shape
    labels = np.empty(n, np.int64)
    dist = np.empty(n, np.float32)
    cnorm = np.einsum("ij,ij->i", c, c)
    if d == 8:
        _assign_d8(x, np.ascontiguousarray(c.T), cnorm, labels, dist)
    elif d <= DIRECT_MAX_DIM:
        _assign_direct(x, np.ascontiguousarray(c.T), cnorm, labels, dist)
    else:
        # one product gives ||c||^2 - 2 <x, c> directly: rows [x, 1] times [-2 c^T; ||c||^2]
        caug = np.empty((d + 1, len(c)), np.float32)
        caug[:d] = -2.0 * c.T
        caug[d] = cnorm
        xaug = np.empty((min(_BLOCK, n), d + 1), np.float32)
        xaug[:, d] = 1.0
        for s in range(0, n, _BLOCK):
            rows = min(_BLOCK, n - s)
            xaug[:rows, :d] = x[s:s + rows]
            _row_argmin(xaug[:rows] @ caug, labels[s:s + rows], dist[s:s + rows])
    dist += np.einsum("ij,ij->i", x, x)
    np.maximum(dist, 0.0, out=dist)
    return labels, dist


@numba.njit(cache=True, nogil=True)
def _update(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n, d = x.shape
    sums = np.zeros((k, d), np.float64)
    counts = np.zeros(k, np.int64)
    for i in range(n):
        c = labels[i]
        counts[c] += 1
        for j in range(d):
            sums[c, j] += x[i, j]
    return sums, counts


def _split_empty(centroids: np.ndarray, counts: np.ndarray) -> int:
    """Give every empty cluster half of the currently largest one; returns how many."""
    n_split = 0
    for c in np.flatnonzero(counts == 0):
        big = int(np.argmax(counts))
        if counts[big] <= 1:
            break
        sign = np.where(np.arange(centroids.shape[1]) % 2 == 0, 1.0, -1.0).astype(np.float32)
        base = centroids[big].copy()
        centroids[c] = base * (1 + sign * _SPLIT_EPS)
        centroids[big] = base * (1 - sign * _SPLIT_EPS)
        half = counts[big] // 2
        counts[c] = half
        counts[big] -= half
        n_split += 1
    return n_split


def check_training_size(n: int, k: int, min_points_per_centroid: int, what: str,
                        warn: bool = True) -> None:
    """Raise a clear error when ``n`` points cannot train ``k`` centroids; warn when thin."""
    need = k * max(1, min_points_per_centroid)
    if n < need:
        raise InvalidInputError(
            f"{what}: {n} training points for {k} centroids; at least {need} are needed "
            f"({max(1, min_points_per_centroid)} per centroid). Train on more points or use "
            "fewer centroids (lower nbits or nlist)")
    if warn and n < WARN_POINTS_PER_CENTROID * k:
        warnings.warn(
            f"{what}: {n} training points for {k} centroids is fewer than "
            f"{WARN_POINTS_PER_CENTROID} per centroid; the centroids may be poor",
            RuntimeWarning, stacklevel=3)


def kmeans(x: np.ndarray, k: int, *, niter: int = 25, seed: int = 1234,
           max_points_per_centroid: int = 256, min_points_per_centroid: int = 1,
           what: str = "k-means", warn: bool = True) -> KMeansResult:
    """Lloyd's k-means with squared L2, seeded and deterministic.

    :param x: training points, (n, d); converted to float32.
    :param k: number of centroids.
    :param niter: iterations (a fixed number, as faiss).
    :param seed: seeds both the subsample and the initial centroids.
    :param max_points_per_centroid: subsample to at most this many points per centroid.
    :param min_points_per_centroid: fewer training points per centroid is an error.
    :param what: name used in error messages (e.g. "pq sub-space 3").
    :param warn: warn below 39 points per centroid (callers that checked already pass False).
    """
    x = np.ascontiguousarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidInputError(f"{what}: expected 2-D training data, got shape {x.shape}")
    if k < 1:
        raise InvalidInputError(f"{what}: k must be >= 1, got {k}")
    if niter < 0:
        raise InvalidInputError(f"{what}: niter must be >= 0, got {niter}")
    n = x.shape[0]
    check_training_size(n, k, min_points_per_centroid, what, warn)
    rng = np.random.default_rng(seed)
    cap = max_points_per_centroid * k
    if max_points_per_centroid > 0 and n > cap:
        x = x[np.sort(rng.choice(n, size=cap, replace=False))]
        n = cap
    centroids = x[rng.choice(n, size=k, replace=False)].copy()
    objective: list[float] = []
    for _ in range(niter):
        labels, dist = assign(x, centroids)
        objective.append(float(dist.sum(dtype=np.float64)))
        sums, counts = _update(x, labels, k)
        filled = counts > 0
        centroids[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        _split_empty(centroids, counts)
    return KMeansResult(centroids, objective, n)
