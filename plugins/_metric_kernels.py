"""Numba kernels of the built-in metrics (``plugins.metrics``): loops that numpy cannot express
without large temporaries.

Every kernel takes C-contiguous arrays of one fixed dtype (float64, uint64, int64) and writes
into a caller-allocated output, so each compiles once and is cached on disk (``cache=True``).
Loops over the second operand are tiled by blocks of first-operand rows so a large ``Y`` is
streamed from memory ``len(X) / BLOCK`` times rather than ``len(X)`` times.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

BLOCK = 16
# Reassociation lets LLVM vectorise the reductions; no flag that assumes finite values is
# used, because the callers guarantee finite inputs but pow() may still produce inf.
_FAST = {"reassoc", "nsz", "contract"}


@intrinsic
def _popcount64(typingctx, x):  # type: ignore[no-untyped-def]
    """Population count of a uint64 (LLVM ``ctpop``: the POPCNT instruction where present)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):  # type: ignore[no-untyped-def]
        return builder.ctpop(args[0])

    return sig, codegen


@njit(cache=True)
def refine_sq_l2(out: np.ndarray, a: np.ndarray, b: np.ndarray, thr_a: np.ndarray,
                 thr_b: np.ndarray, factor: float) -> None:
    """Replace suspicious entries of a BLAS-form squared distance matrix by the direct sum.

    ``out[i, j]`` came from ``|a_i|² + |b_j|² − 2 a_i·b_j`` (or an equivalent form). Where
    ``out[i, j] <= thr_a[i] + thr_b[j]`` cancellation may have eaten its digits, so it is
    recomputed as ``factor * Σ (a_i − b_j)²``, which is exactly 0 for identical rows.
    """
    nx, d = a.shape
    ny = b.shape[0]
    for i in range(nx):
        for j in range(ny):
            if out[i, j] <= thr_a[i] + thr_b[j]:
                s = 0.0
                for k in range(d):
                    t = a[i, k] - b[j, k]
                    s += t * t
                out[i, j] = factor * s


@njit(cache=True, fastmath=_FAST)
def pairwise_l1(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = Σ_k |x[i, k] − y[j, k]|``."""
    nx, d = x.shape
    ny = y.shape[0]
    for i0 in range(0, nx, BLOCK):
        i1 = min(i0 + BLOCK, nx)
        for j in range(ny):
            for i in range(i0, i1):
                s = 0.0
                for k in range(d):
                    s += abs(x[i, k] - y[j, k])
                out[i, j] = s


@njit(cache=True, fastmath=_FAST)
def pairwise_linf(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = max_k |x[i, k] − y[j, k]|``."""
    nx, d = x.shape
    ny = y.shape[0]
    for i0 in range(0, nx, BLOCK):
        i1 = min(i0 + BLOCK, nx)
        for j in range(ny):
            for i in range(i0, i1):
                s = 0.0
                for k in range(d):
                    s = max(s, abs(x[i, k] - y[j, k]))
                out[i, j] = s


@njit(cache=True, fastmath=_FAST)
def pairwise_minkowski(x: np.ndarray, y: np.ndarray, p: float, out: np.ndarray) -> None:
    """``out[i, j] = (Σ_k |x[i, k] − y[j, k]|^p)^(1/p)``, 0 < p < inf.

    Computed as ``m · (Σ (|u_k|/m)^p)^(1/p)`` with ``m = max |u_k|`` so that neither a large
    p nor a tiny difference overflows or underflows. Called with an integer ``p`` it compiles
    a second version whose power is a few multiplications instead of a ``pow`` call.
    """
    nx, d = x.shape
    ny = y.shape[0]
    inv_p = 1.0 / p
    for i0 in range(0, nx, BLOCK):
        i1 = min(i0 + BLOCK, nx)
        for j in range(ny):
            for i in range(i0, i1):
                m = 0.0
                for k in range(d):
                    m = max(m, abs(x[i, k] - y[j, k]))
                if m == 0.0:
                    out[i, j] = 0.0
                    continue
                inv_m = 1.0 / m
                s = 0.0
                for k in range(d):
                    s += (abs(x[i, k] - y[j, k]) * inv_m) ** p
                out[i, j] = m * s ** inv_p


@njit(cache=True)
def pairwise_hamming(xw: np.ndarray, yw: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j]`` = number of differing bits of the uint64 words ``xw[i]`` and ``yw[j]``."""
    nx, w = xw.shape
    ny = yw.shape[0]
    for i0 in range(0, nx, BLOCK):
        i1 = min(i0 + BLOCK, nx)
        for j in range(ny):
            for i in range(i0, i1):
                s = 0
                for k in range(w):
                    s += _popcount64(xw[i, k] ^ yw[j, k])
                out[i, j] = s


@njit(cache=True)
def pairwise_jaccard(x_indptr: np.ndarray, x_sizes: np.ndarray, post_start: np.ndarray,
                     post_end: np.ndarray, post_rows: np.ndarray, y_sizes: np.ndarray,
                     out: np.ndarray) -> None:
    """Jaccard distances through an inverted index of the ``Y`` sets.

    For the t-th token of the ``X`` sets (CSR order), ``post_rows[post_start[t]:post_end[t]]``
    lists the ``Y`` rows holding that token. ``out`` must arrive zeroed; it first counts
    intersections, then becomes ``1 − |A∩B| / |A∪B|`` (0 when both sets are empty).
    """
    nx = x_sizes.shape[0]
    ny = y_sizes.shape[0]
    for i in range(nx):
        for t in range(x_indptr[i], x_indptr[i + 1]):
            for q in range(post_start[t], post_end[t]):
                out[i, post_rows[q]] += 1.0
        a = x_sizes[i]
        for j in range(ny):
            inter = out[i, j]
            union = a + y_sizes[j] - inter
            out[i, j] = 1.0 - inter / union if union > 0 else 0.0


@njit(cache=True)
def rowwise_jaccard(x_indptr: np.ndarray, x_idx: np.ndarray, y_indptr: np.ndarray,
                    y_idx: np.ndarray, out: np.ndarray) -> None:
    """``out[i]`` = Jaccard distance of sorted token rows ``X[i]`` and ``Y[i]`` (merge count)."""
    for i in range(out.shape[0]):
        p, pe = x_indptr[i], x_indptr[i + 1]
        q, qe = y_indptr[i], y_indptr[i + 1]
        union = (pe - p) + (qe - q)
        inter = 0
        while p < pe and q < qe:
            if x_idx[p] == y_idx[q]:
                inter += 1
                p += 1
                q += 1
            elif x_idx[p] < y_idx[q]:
                p += 1
            else:
                q += 1
        union -= inter
        out[i] = 1.0 - inter / union if union > 0 else 0.0
