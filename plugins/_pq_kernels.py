"""Kernels of the in-house product quantizer: look-up tables (batched BLAS) and top-k code
scans (numba).

A code is one byte (nbits <= 8) or two (nbits <= 16) per sub-space. A distance table holds,
for one query, one float32 per (sub-space, centroid); the distance to a code is the sum of
its M table entries. Top-k selection keeps a bounded max-heap per query; results come out
sorted by (distance, id), padded with id -1 and distance +inf.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _replace_top(hd: np.ndarray, hi: np.ndarray, k: int, d: float | np.floating,
                 i: int) -> None:
    """Replace the root of the max-heap (hd, hi) by (d, i) and restore the heap."""
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= k:
            break
        other = child + 1
        if other < k and hd[other] > hd[child]:
            child = other
        if hd[child] > d:
            hd[pos] = hd[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hd[pos] = d
    hi[pos] = i


@numba.njit(cache=True, nogil=True)
def _sorted_out(hd: np.ndarray, hi: np.ndarray, out_d: np.ndarray, out_i: np.ndarray) -> None:
    """Write the heap's entries sorted by (distance, id); empty slots (id -1) go last."""
    k = hd.shape[0]
    for t in range(k):
        out_d[t] = hd[t]
        out_i[t] = hi[t]
    for t in range(1, k):
        dv = out_d[t]
        iv = out_i[t]
        s = t
        while s > 0 and (out_d[s - 1] > dv or (out_d[s - 1] == dv and (
                (out_i[s - 1] > iv and iv >= 0) or out_i[s - 1] < 0))):
            out_d[s] = out_d[s - 1]
            out_i[s] = out_i[s - 1]
            s -= 1
        out_d[s] = dv
        out_i[s] = iv


@numba.njit(cache=True, nogil=True)
def smallest_per_row(scores: np.ndarray, count: int) -> np.ndarray:
    """Column indices of the ``count`` smallest scores of every row (in no set order): the
    lists to probe. A bounded heap per row; numpy's argpartition costs more on short rows."""
    nq, ncol = scores.shape
    out = np.empty((nq, count), np.int64)
    hd = np.empty(count, np.float32)
    hi = np.empty(count, np.int64)
    for q in range(nq):
        hd[:] = np.inf
        hi[:] = -1
        for c in range(ncol):
            v = scores[q, c]
            if v < hd[0] or hi[0] < 0:
                _replace_top(hd, hi, count, v, c)
        for t in range(count):
            out[q, t] = hi[t]
    return out


# --------------------------------------------------------------------------- tables


def sub_products(vectors: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """``out[i, m, j] = <vectors[i, sub m], codebooks[m, j]>`` in float64 (batched BLAS)."""
    m_sub, _, dsub = codebooks.shape
    v = vectors.astype(np.float64).reshape(len(vectors), m_sub, dsub).transpose(1, 0, 2)
    out = np.matmul(v, codebooks.astype(np.float64).transpose(0, 2, 1))
    return out.transpose(1, 0, 2)


def l2_tables(queries: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """``t[q, m, j] = ||queries[q, sub m] - codebooks[m, j]||^2`` (float64 math, float32 out)."""
    m_sub, _, dsub = codebooks.shape
    q = queries.astype(np.float64).reshape(len(queries), m_sub, dsub)
    cb = codebooks.astype(np.float64)
    out = (np.einsum("qmd,qmd->qm", q, q)[:, :, None] + np.einsum("mjd,mjd->mj", cb, cb)[None]
           - 2.0 * sub_products(queries, codebooks))
    return np.ascontiguousarray(np.maximum(out, 0.0), dtype=np.float32)


def dot_tables(queries: np.ndarray, codebooks: np.ndarray, scale: float) -> np.ndarray:
    """``t[q, m, j] = scale * <queries[q, sub m], codebooks[m, j]>`` (float32 out)."""
    return np.ascontiguousarray(scale * sub_products(queries, codebooks), dtype=np.float32)


def ivf_l2_term2(coarse: np.ndarray, codebooks: np.ndarray) -> np.ndarray:
    """The query-independent middle term of the IVF-PQ L2 distance, per (list, m, j):
    ``||c_mj||^2 + 2 <coarse[list, sub m], c_mj>`` (float32 out)."""
    cb = codebooks.astype(np.float64)
    out = np.einsum("mjd,mjd->mj", cb, cb)[None] + 2.0 * sub_products(coarse, codebooks)
    return np.ascontiguousarray(out, dtype=np.float32)


# --------------------------------------------------------------------------- scans


@numba.njit(cache=True, nogil=True)
def adc_scan(tables: np.ndarray, codes: np.ndarray, k: int) -> tuple:
    """Top-k smallest ``sum_m tables[q, m, codes[i, m]]`` over all codes, for every query.

    Returns ``(ids int64 (nq, k), distances float32 (nq, k))``.
    """
    nq, m_sub, _ = tables.shape
    n = codes.shape[0]
    out_i = np.empty((nq, k), np.int64)
    out_d = np.empty((nq, k), np.float32)
    hd = np.empty(k, np.float32)
    hi = np.empty(k, np.int64)
    for q in range(nq):
        tab = tables[q]
        hd[:] = np.inf
        hi[:] = -1
        top = hd[0]
        for i in range(n):
            acc = np.float32(0.0)
            for m in range(m_sub):
                acc += tab[m, codes[i, m]]
            if acc < top:
                _replace_top(hd, hi, k, acc, i)
                top = hd[0]
        _sorted_out(hd, hi, out_d[q], out_i[q])
    return out_i, out_d


@numba.njit(cache=True, nogil=True)
def adc_distances(tables: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """All table distances: ``out[q, i] = sum_m tables[q, m, codes[i, m]]`` (float64 sums)."""
    nq, m_sub, _ = tables.shape
    n = codes.shape[0]
    out = np.empty((nq, n), np.float64)
    for q in range(nq):
        for i in range(n):
            acc = 0.0
            for m in range(m_sub):
                acc += tables[q, m, codes[i, m]]
            out[q, i] = acc
    return out


#: ways ``ivf_scan`` builds a list's table
IVF_L2_PRECOMPUTED, IVF_L2_RESIDUAL, IVF_IP = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def ivf_scan(queries: np.ndarray, tables: np.ndarray, probes: np.ndarray, term1: np.ndarray,
             term2: np.ndarray, mode: int, coarse: np.ndarray, codebooks: np.ndarray,
             offsets: np.ndarray, codes: np.ndarray, list_ids: np.ndarray, k: int) -> tuple:
    """Top-k over the probed inverted lists of every query.

    Codes and ids are stored list after list, list l in ``offsets[l]:offsets[l+1]``. For
    query q and probed list l = ``probes[q, p]`` the table of the list is

    - ``IVF_L2_PRECOMPUTED``: ``term2[l] + tables[:, q]`` with ``tables[m, q, j] =
      -2 <x_m, c_mj>`` and base ``term1[q, p] = ||x - y_C||^2`` (the three-term decomposition);
    - ``IVF_L2_RESIDUAL``: ``||(x - y_C)_m - c_mj||^2`` computed for the list, base 0;
    - ``IVF_IP``: ``tables[m, q, j] = -<x_m, c_mj>``, base ``term1[q, p] = -<x, y_C>``.

    ``tables`` is laid out (m, nq, ksub), as one batched matrix product gives it.

    Returns ``(ids int64 (nq, k), distances float32 (nq, k), codes scanned)``.
    """
    nq = queries.shape[0]
    m_sub, ksub, dsub = codebooks.shape
    nprobe = probes.shape[1]
    out_i = np.empty((nq, k), np.int64)
    out_d = np.empty((nq, k), np.float32)
    hd = np.empty(k, np.float32)
    hi = np.empty(k, np.int64)
    lut = np.empty((m_sub, ksub), np.float32)
    n_codes = 0
    for q in range(nq):
        hd[:] = np.inf
        hi[:] = -1
        top = hd[0]
        for p in range(nprobe):
            lst = probes[q, p]
            if lst < 0:
                continue
            s = offsets[lst]
            e = offsets[lst + 1]
            if e == s:
                continue
            base = term1[q, p]
            n_codes += e - s
            if mode == IVF_L2_RESIDUAL:
                for m in range(m_sub):
                    off = m * dsub
                    for j in range(ksub):
                        acc = 0.0
                        for t in range(dsub):
                            diff = (np.float64(queries[q, off + t]) - coarse[lst, off + t]
                                    - codebooks[m, j, t])
                            acc += diff * diff
                        lut[m, j] = acc
                base = np.float32(0.0)
            elif mode == IVF_L2_PRECOMPUTED and e - s >= ksub:
                # a long list: one table for the list, then one look-up per sub-code
                for m in range(m_sub):
                    for j in range(ksub):
                        lut[m, j] = term2[lst, m, j] + tables[m, q, j]
            elif mode == IVF_L2_PRECOMPUTED:
                # a short list: two look-ups per sub-code cost less than building the table
                for i in range(s, e):
                    acc32 = base
                    for m in range(m_sub):
                        c = codes[i, m]
                        acc32 += term2[lst, m, c] + tables[m, q, c]
                    if acc32 < top:
                        _replace_top(hd, hi, k, acc32, list_ids[i])
                        top = hd[0]
                continue
            else:
                for i in range(s, e):
                    acc32 = base
                    for m in range(m_sub):
                        acc32 += tables[m, q, codes[i, m]]
                    if acc32 < top:
                        _replace_top(hd, hi, k, acc32, list_ids[i])
                        top = hd[0]
                continue
            for i in range(s, e):
                acc32 = base
                for m in range(m_sub):
                    acc32 += lut[m, codes[i, m]]
                if acc32 < top:
                    _replace_top(hd, hi, k, acc32, list_ids[i])
                    top = hd[0]
        _sorted_out(hd, hi, out_d[q], out_i[q])
    return out_i, out_d, n_codes
