"""Numba kernels of the exact brute-force index (``plugins.bruteforce``).

Three jobs, all on C-contiguous arrays of fixed dtypes so each kernel compiles once and is
cached on disk (``cache=True``):

- ``scan_add`` / ``scan_scaled``: fold one float32 block of BLAS products into a running
  per-query top-``c`` (a max-heap per row). The score of base vector ``j`` is
  ``add[j] + prod[i, j]`` (squared euclidean and inner product) or
  ``add[j] + scale[j] * prod[i, j]`` (cosine). Most values lose against the row's current
  threshold, so each chunk of a row is first checked by a vectorised count of the values
  below it; only a chunk with a hit is walked element by element.
  ``add[j] = +inf`` excludes ``j`` (filtered or deleted): it never beats a threshold.
- ``scan_exact``: the same for float64 distances computed by a metric's ``pairwise`` (the
  generic path), with a heap ordered by (distance, id) so ties go to the smaller id, NaN
  ranked after every number.
- ``rerank``: exact float64 distances of the float32 candidates, the top-k by (distance, id),
  and a certificate that no vector outside the candidates can enter the top-k.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Width of the chunks checked (vectorised) for any value below the threshold before a row
#: is walked element by element.
CHUNK = 64

#: Codes of the dense BLAS forms (``BoundMetric.blas``) understood by ``rerank``.
KIND_L2, KIND_IP, KIND_COS = 0, 1, 2

#: Id of an empty slot in an exact heap: larger than any real id, so (inf, id) beats it.
EMPTY_ID = np.iinfo(np.int64).max


# --------------------------------------------------------------------------- float32 heaps


@njit(cache=True, inline="always", boundscheck=False)
def _replace_top32(hd: np.ndarray, hi: np.ndarray, row: int, value: np.float32,
                   idx: int) -> None:
    """Replace the largest entry of the max-heap ``hd[row]`` by ``value`` and sift down."""
    size = hd.shape[1]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and hd[row, right] > hd[row, child]:
            child = right
        if hd[row, child] <= value:
            break
        hd[row, pos] = hd[row, child]
        hi[row, pos] = hi[row, child]
        pos = child
    hd[row, pos] = value
    hi[row, pos] = idx


@njit(cache=True, nogil=True, boundscheck=False)
def scan_add(prod: np.ndarray, add: np.ndarray, first_id: int, hd: np.ndarray,
             hi: np.ndarray) -> None:
    """Fold scores ``add[j] + prod[i, j]`` of ids ``first_id + j`` into the heaps ``hd, hi``.

    ``prod`` is (m, b) float32, ``add`` (b,) float32, ``hd``/``hi`` (m, c) float32/int64
    max-heaps (``hd[i, 0]`` is row i's current threshold). Only strictly smaller scores enter.
    """
    m, b = prod.shape
    for i in range(m):
        thr = hd[i, 0]
        for s in range(0, b, CHUNK):
            e = min(s + CHUNK, b)
            hits = 0
            for j in range(s, e):  # vectorised: count the values below the threshold
                hits += add[j] + prod[i, j] < thr
            if hits:
                for j in range(s, e):
                    v = add[j] + prod[i, j]
                    if v < thr:
                        _replace_top32(hd, hi, i, v, first_id + j)
                        thr = hd[i, 0]


@njit(cache=True, nogil=True, boundscheck=False)
def scan_scaled(prod: np.ndarray, scale: np.ndarray, add: np.ndarray, first_id: int,
                hd: np.ndarray, hi: np.ndarray) -> None:
    """As :func:`scan_add` with scores ``add[j] + scale[j] * prod[i, j]``."""
    m, b = prod.shape
    for i in range(m):
        thr = hd[i, 0]
        for s in range(0, b, CHUNK):
            e = min(s + CHUNK, b)
            hits = 0
            for j in range(s, e):
                hits += add[j] + scale[j] * prod[i, j] < thr
            if hits:
                for j in range(s, e):
                    v = add[j] + scale[j] * prod[i, j]
                    if v < thr:
                        _replace_top32(hd, hi, i, v, first_id + j)
                        thr = hd[i, 0]


# --------------------------------------------------------------------------- exact heaps


@njit(cache=True, inline="always")
def _worse(d1: float, i1: int, d2: float, i2: int) -> bool:
    """(d1, i1) ranks after (d2, i2): larger distance, or equal distance and larger id."""
    return d1 > d2 or (d1 == d2 and i1 > i2)


@njit(cache=True, nogil=True, boundscheck=False)
def scan_exact(dist: np.ndarray, allowed: np.ndarray, first_id: int, hd: np.ndarray,
               hi: np.ndarray) -> None:
    """Fold float64 distances ``dist`` (m, b) of ids ``first_id + j`` into exact heaps.

    ``hd``/``hi`` (m, k) are max-heaps in (distance, id) order, empty slots holding
    ``(inf, EMPTY_ID)``. ``allowed`` (b,) uint8 marks the ids that may be returned. NaN
    distances are treated as +inf (ranked after every number, ties by id).
    """
    m, b = dist.shape
    size = hd.shape[1]
    for i in range(m):
        top_d = hd[i, 0]
        top_i = hi[i, 0]
        for j in range(b):
            if allowed[j] == 0:
                continue
            v = dist[i, j]
            if v != v:
                v = np.inf
            idx = first_id + j
            if not _worse(top_d, top_i, v, idx):
                continue
            pos = 0
            while True:
                child = 2 * pos + 1
                if child >= size:
                    break
                right = child + 1
                if right < size and _worse(hd[i, right], hi[i, right], hd[i, child],
                                           hi[i, child]):
                    child = right
                if not _worse(hd[i, child], hi[i, child], v, idx):
                    break
                hd[i, pos] = hd[i, child]
                hi[i, pos] = hi[i, child]
                pos = child
            hd[i, pos] = v
            hi[i, pos] = idx
            top_d = hd[i, 0]
            top_i = hi[i, 0]


@njit(cache=True, inline="always", boundscheck=False)
def _sort_row(dist: np.ndarray, ids: np.ndarray, count: int) -> None:
    """Sort ``dist[:count], ids[:count]`` in place by (distance, id) (insertion sort: rows
    are short and mostly heap-ordered)."""
    for a in range(1, count):
        v = dist[a]
        idx = ids[a]
        p = a - 1
        while p >= 0 and _worse(dist[p], ids[p], v, idx):
            dist[p + 1] = dist[p]
            ids[p + 1] = ids[p]
            p -= 1
        dist[p + 1] = v
        ids[p + 1] = idx


@njit(cache=True, nogil=True)
def sort_pairs(dist: np.ndarray, ids: np.ndarray) -> None:
    """Sort each row of ``(dist, ids)`` (m, c) in place by (distance, id)."""
    for i in range(dist.shape[0]):
        _sort_row(dist[i], ids[i], dist.shape[1])


# --------------------------------------------------------------------------- exact re-rank


@njit(cache=True, nogil=True, fastmath={"reassoc"}, boundscheck=False)
def exact_distance(kind: int, queries: np.ndarray, i: int, base: np.ndarray, j: int,
                   q_norm: float, x_norm: float) -> float:
    """Float64 distance of ``queries[i]`` and ``base[j]`` (float32 rows) for a BLAS kind.

    l2: squared euclidean, direct sum of squared differences. ip: ``-q.x``. cos: ``1 - cos``
    as ``|q/|q| - x/|x||^2 / 2`` clipped to [0, 2]; a zero vector is at distance 1 from any
    non-zero vector and 0 from another zero vector. Only the order of the float64 additions
    is left to the compiler (so they vectorise); each term is computed as written.
    """
    d = queries.shape[1]
    s = 0.0
    if kind == KIND_L2:
        for t in range(d):
            u = np.float64(queries[i, t]) - np.float64(base[j, t])
            s += u * u
        return s
    if kind == KIND_IP:
        for t in range(d):
            s += np.float64(queries[i, t]) * np.float64(base[j, t])
        return -s
    if q_norm == 0.0 or x_norm == 0.0:
        return 0.0 if q_norm == x_norm else 1.0
    for t in range(d):
        u = np.float64(queries[i, t]) / q_norm - np.float64(base[j, t]) / x_norm
        s += u * u
    return min(max(0.5 * s, 0.0), 2.0)


@njit(cache=True, nogil=True, boundscheck=False)
def rerank(kind: int, queries: np.ndarray, q_norms: np.ndarray, base: np.ndarray,
           x_norms: np.ndarray, cand: np.ndarray, heap_top: np.ndarray, offset: np.ndarray,
           bound: np.ndarray, out_ids: np.ndarray, out_dist: np.ndarray,
           certified: np.ndarray) -> None:
    """Exact top-k of each query among its float32 candidates, and its certificate.

    :param cand: (m, c) candidate ids from the float32 scan (-1: empty slot).
    :param heap_top: (m,) the worst kept float32 score (+inf if the heap is not full).
    :param offset: (m,) exact distance = score + offset (``|q|^2`` for l2, 0 for ip, 1 for
        cos).
    :param bound: (m,) bound on ``|float32 score - exact score|`` of any base vector.
    :param out_ids: (m, k) int64 filled with the best ids by (distance, id), -1 padded.
    :param out_dist: (m, k) float64 their exact distances (+inf where padded).
    :param certified: (m,) set to 1 where no vector outside ``cand`` can enter the top-k:
        the k-th exact distance is below ``heap_top + offset - bound``; else 0.
    """
    m, c = cand.shape
    k = out_ids.shape[1]
    buf_d = np.empty(c, dtype=np.float64)
    buf_i = np.empty(c, dtype=np.int64)
    for i in range(m):
        filled = 0
        for a in range(c):
            j = cand[i, a]
            if j < 0:
                continue
            buf_d[filled] = exact_distance(kind, queries, i, base, j, q_norms[i], x_norms[j])
            buf_i[filled] = j
            filled += 1
        _sort_row(buf_d, buf_i, filled)
        for a in range(k):
            if a < filled:
                out_ids[i, a] = buf_i[a]
                out_dist[i, a] = buf_d[a]
            else:
                out_ids[i, a] = -1
                out_dist[i, a] = np.inf
        if filled < c:
            certified[i] = 1  # the heap never filled: every allowed vector is a candidate
            continue
        kth = buf_d[k - 1]
        limit = np.float64(heap_top[i]) + offset[i] - bound[i]
        certified[i] = 1 if kth + 1e-12 * (abs(kth) + abs(offset[i])) < limit else 0


@njit(cache=True, nogil=True, boundscheck=False)
def exact_rows(kind: int, queries: np.ndarray, i: int, q_norm: float, base: np.ndarray,
               x_norms: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:
    """``out[a]`` = exact float64 distance of ``queries[i]`` to ``base[ids[a]]``."""
    for a in range(ids.shape[0]):
        j = ids[a]
        out[a] = exact_distance(kind, queries, i, base, j, q_norm, x_norms[j])
