"""Numba kernels of the in-house LSH indexes (:mod:`plugins.lsh`, :mod:`plugins.minhash`).

Three groups:

- hashing of dense vectors: projections onto random directions, turned into one 64-bit bucket
  key per table (sign bits for random hyperplanes, a wrapping linear combination of the
  integer codes ``floor((a.x + b) / w)`` for p-stable LSH);
- table look-up with query-directed multi-probe (Lv et al., VLDB 2007: the shift/expand heap
  over perturbation sets, ordered by the sum of squared distances to the bucket boundaries),
  candidate de-duplication in a bitmap and exact re-ranking of the candidates;
- MinHash: a splitmix64 pre-hash of tokens, universal hashing modulo the Mersenne prime
  2^61 - 1, banded tables as lexicographically sorted rows (so a query can also match a
  shorter prefix of a band, as LSH Forest does), and exact Jaccard verification.

Every function is compiled with ``cache=True``; all integer hashing is done in ``uint64`` with
explicit ``uint64`` constants (numba turns mixed signed/unsigned arithmetic into float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# --------------------------------------------------------------------------- constants

#: the Mersenne prime 2^61 - 1 of the universal hash family
MERSENNE61 = np.uint64((1 << 61) - 1)
_P = MERSENNE61
_MASK32 = np.uint64(0xFFFFFFFF)
_S29 = np.uint64(29)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S32 = np.uint64(32)
_S61 = np.uint64(61)
_S58 = np.uint64(58)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_LOW29 = np.uint64((1 << 29) - 1)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
#: de Bruijn sequence B(2, 6): (x & -x) * DEBRUIJN >> 58 indexes the lowest set bit
_DEBRUIJN = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN_TABLE = np.zeros(64, dtype=np.int64)
for _i in range(64):
    _DEBRUIJN_TABLE[((1 << _i) * 0x03F79D71B4CB0A89 & (2**64 - 1)) >> 58] = _i

#: distance codes of the re-ranking kernels
ANGULAR = 0
EUCLIDEAN = 1

#: hash families of the dense kernels
HYPERPLANE = 0
PSTABLE = 1

#: fast-math flags of the float kernels: re-association (vectorised sums) and fused
#: multiply-add only; no "no-inf/no-nan" assumptions, as the kernels compare with inf
_FAST = {"reassoc", "contract"}


# --------------------------------------------------------------------------- integer hashing


@njit(cache=True)
def splitmix64(x: np.uint64) -> np.uint64:
    """The splitmix64 finaliser (Steele, Lea & Flood 2014): a strong 64-bit mix of ``x``."""
    z = x + _GOLDEN
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def _fold61(x: np.uint64) -> np.uint64:
    """``x mod (2^61 - 1)`` for any uint64 ``x``."""
    x = (x & _P) + (x >> _S61)
    x = (x & _P) + (x >> _S61)
    if x >= _P:
        x -= _P
    return x


@njit(cache=True)
def mulmod61(a: np.uint64, h: np.uint64) -> np.uint64:
    """``a * h mod (2^61 - 1)`` for ``a, h < 2^61``, without 128-bit integers.

    With a = a1 2^32 + a0 and h = h1 2^32 + h0 (a1, h1 < 2^29): 2^64 = 8 and 2^61 = 1 modulo p,
    so the high product folds as ``8 a1 h1`` and the middle one (< 2^62) splits at bit 29.
    """
    a1 = a >> _S32
    a0 = a & _MASK32
    h1 = h >> _S32
    h0 = h & _MASK32
    high = (a1 * h1) << np.uint64(3)
    mid = a1 * h0 + a0 * h1
    mid_folded = (mid >> _S29) + ((mid & _LOW29) << _S32)
    low = a0 * h0
    low_folded = (low & _P) + (low >> _S61)
    return _fold61(high + mid_folded + low_folded)


@njit(cache=True)
def mulmod61_array(a: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Element-wise :func:`mulmod61` (for tests against Python integers)."""
    out = np.empty(a.shape[0], dtype=np.uint64)
    for i in range(a.shape[0]):
        out[i] = mulmod61(a[i], h[i])
    return out


# --------------------------------------------------------------------------- MinHash


@njit(cache=True)
def minhash_signatures(indptr: np.ndarray, indices: np.ndarray, a: np.ndarray, b: np.ndarray,
                       salt: np.uint64) -> np.ndarray:
    """MinHash signatures of CSR sets: ``out[i, j] = min over tokens t of set i of
    ((a_j h(t) + b_j) mod (2^61 - 1)) & (2^32 - 1)``, h the salted splitmix64 pre-hash.

    An empty set keeps every slot at ``2^32 - 1`` (as datasketch leaves an empty MinHash).
    """
    n = indptr.shape[0] - 1
    m = a.shape[0]
    out = np.empty((n, m), dtype=np.uint32)
    acc = np.empty(m, dtype=np.uint64)
    for i in range(n):
        for j in range(m):
            acc[j] = _MASK32
        for t in range(indptr[i], indptr[i + 1]):
            h = _fold61(splitmix64(np.uint64(np.int64(indices[t])) ^ salt))
            for j in range(m):
                v = mulmod61(a[j], h) + b[j]
                if v >= _P:
                    v -= _P
                v &= _MASK32
                if v < acc[j]:
                    acc[j] = v
        for j in range(m):
            out[i, j] = np.uint32(acc[j])
    return out


@njit(cache=True)
def lex_argsort(rows: np.ndarray) -> np.ndarray:
    """Stable argsort of the rows of a 2-D uint32 array in lexicographic order.

    An LSD radix sort (four 16-bit digits) on a 64-bit key made of the first two columns,
    then an insertion sort of each run of equal keys on the remaining columns (such runs are
    near-duplicate rows: short, or already in order when the rows are equal)."""
    n = rows.shape[0]
    width = rows.shape[1]
    key = np.empty(n, dtype=np.uint64)
    for i in range(n):
        high = np.uint64(rows[i, 0]) << _S32
        low = np.uint64(rows[i, 1]) if width > 1 else _ZERO
        key[i] = high | low
    order = np.arange(n).astype(np.int32)
    buf = np.empty(n, dtype=np.int32)
    kbuf = np.empty(n, dtype=np.uint64)
    count = np.empty(65537, dtype=np.int64)
    digit_mask = np.uint64(0xFFFF)
    for shift in range(0, 64, 16):
        sh = np.uint64(shift)
        count[:] = 0
        for i in range(n):
            count[np.int64((key[i] >> sh) & digit_mask) + 1] += 1
        for v in range(65536):
            count[v + 1] += count[v]
        for i in range(n):
            dgt = np.int64((key[i] >> sh) & digit_mask)
            pos = count[dgt]
            buf[pos] = order[i]
            kbuf[pos] = key[i]
            count[dgt] = pos + 1
        order, buf = buf, order
        key, kbuf = kbuf, key
    if width > 2:
        start = 0
        while start < n:
            end = start + 1
            while end < n and key[end] == key[start]:
                end += 1
            for i in range(start + 1, end):
                item = order[i]
                pos = i
                while pos > start:
                    prev = order[pos - 1]
                    less = False
                    for c in range(2, width):
                        if rows[item, c] != rows[prev, c]:
                            less = rows[item, c] < rows[prev, c]
                            break
                    if not less:
                        break
                    order[pos] = prev
                    pos -= 1
                order[pos] = item
            start = end
    return order


@njit(cache=True)
def build_bands(signatures: np.ndarray, n_bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted band tables: ``band_rows[b]`` is band b of every signature in lexicographic order
    and ``band_ids[b]`` the item of each sorted row."""
    n = signatures.shape[0]
    blocks = np.empty((n_bands, n, rows), dtype=np.uint32)
    for i in range(n):  # one sequential pass over the signatures
        for band in range(n_bands):
            c0 = band * rows
            for c in range(rows):
                blocks[band, i, c] = signatures[i, c0 + c]
    band_rows = np.empty((n_bands, n, rows), dtype=np.uint32)
    band_ids = np.empty((n_bands, n), dtype=np.int32)
    for band in range(n_bands):
        order = lex_argsort(blocks[band])
        for i in range(n):
            item = order[i]
            band_ids[band, i] = item
            for c in range(rows):
                band_rows[band, i, c] = blocks[band, item, c]
    return band_rows, band_ids


@njit(cache=True)
def _prefix_cmp(table: np.ndarray, i: int, q: np.ndarray, c0: int, width: int) -> int:
    """Compare sorted row ``table[i, :width]`` with ``q[c0:c0 + width]``."""
    for c in range(width):
        u = table[i, c]
        v = q[c0 + c]
        if u < v:
            return -1
        if u > v:
            return 1
    return 0


@njit(cache=True)
def _prefix_range(table: np.ndarray, q: np.ndarray, c0: int, width: int) -> tuple[int, int]:
    """Rows of a lexicographically sorted band whose first ``width`` values equal the query's."""
    n = table.shape[0]
    lo = 0
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if _prefix_cmp(table, mid, q, c0, width) < 0:
            lo = mid + 1
        else:
            hi = mid
    start = lo
    hi = n
    while lo < hi:
        mid = (lo + hi) >> 1
        if _prefix_cmp(table, mid, q, c0, width) <= 0:
            lo = mid + 1
        else:
            hi = mid
    return start, lo


# ---- a bounded max-heap of (distance, id): the k best candidates, ties kept by lower id


@njit(cache=True)
def _heap_push(hd: np.ndarray, hi: np.ndarray, size: int, k: int, d: float, idx: int) -> int:
    """Offer ``(d, idx)`` to a max-heap of at most ``k`` entries; returns the new size.

    Candidates arrive in increasing id order, so an equal distance never displaces an entry."""
    if size < k:
        pos = size
        size += 1
        while pos > 0:
            parent = (pos - 1) >> 1
            if hd[parent] < d or (hd[parent] == d and hi[parent] < idx):
                hd[pos] = hd[parent]
                hi[pos] = hi[parent]
                pos = parent
            else:
                break
        hd[pos] = d
        hi[pos] = idx
        return size
    if d >= hd[0]:
        return size
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        right = child + 1
        if right < size and (hd[right] > hd[child]
                             or (hd[right] == hd[child] and hi[right] > hi[child])):
            child = right
        if hd[child] > d or (hd[child] == d and hi[child] > idx):
            hd[pos] = hd[child]
            hi[pos] = hi[child]
            pos = child
        else:
            break
    hd[pos] = d
    hi[pos] = idx
    return size


@njit(cache=True)
def _heap_emit(hd: np.ndarray, hi: np.ndarray, size: int, out_ids: np.ndarray,
               out_d: np.ndarray, row: int) -> None:
    """Write the heap's entries sorted by (distance, id) into row ``row`` of the outputs
    (insertion sort: k is small, and it keeps the kernels quick to compile)."""
    for r in range(size):
        d = hd[r]
        idx = hi[r]
        pos = r
        while pos > 0 and (out_d[row, pos - 1] > d
                           or (out_d[row, pos - 1] == d and out_ids[row, pos - 1] > idx)):
            out_d[row, pos] = out_d[row, pos - 1]
            out_ids[row, pos] = out_ids[row, pos - 1]
            pos -= 1
        out_d[row, pos] = d
        out_ids[row, pos] = idx


@njit(cache=True)
def _argsort_small(values: np.ndarray, m: int, order: np.ndarray) -> None:
    """``order[:m]`` = stable argsort of ``values[:m]`` (insertion sort, m <= 64)."""
    for i in range(m):
        v = values[i]
        pos = i
        while pos > 0 and values[order[pos - 1]] > v:
            order[pos] = order[pos - 1]
            pos -= 1
        order[pos] = i


@njit(cache=True)
def _find_key(keys: np.ndarray, lo: int, hi: int, key: np.uint64) -> int:
    """Position of ``key`` in the sorted ``keys[lo:hi]``, or -1."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if keys[mid] < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def minhash_search(q_sig: np.ndarray, q_indptr: np.ndarray, q_indices: np.ndarray,
                   band_rows: np.ndarray, band_ids: np.ndarray, rows: int,
                   x_indptr: np.ndarray, x_indices: np.ndarray, k: int, min_candidates: int,
                   threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Banded MinHash look-up, exact Jaccard re-ranking, cut to ``k``.

    Candidates are the items that share all ``rows`` values of some band with the query. While
    fewer than ``min_candidates`` are found, the matched prefix is shortened (rows - 1, ...,
    1 values), LSH-Forest style. Returns ids (nq, k) int64 padded with -1, Jaccard distances
    (inf where padded) and counters ``[candidates, candidates_above_threshold, prefix_steps]``.
    """
    nq = q_sig.shape[0]
    n = x_indptr.shape[0] - 1
    n_bands = band_rows.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float64)
    stats = np.zeros(3, dtype=np.int64)
    seen = np.zeros((n + 63) // 64, dtype=np.uint64)
    cand = np.empty(n, dtype=np.int32)
    hd = np.empty(k, dtype=np.float64)
    hi = np.empty(k, dtype=np.int64)
    for qi in range(nq):
        n_cand = 0
        width = rows
        while True:
            for band in range(n_bands):
                lo, up = _prefix_range(band_rows[band], q_sig[qi], band * rows, width)
                for pos in range(lo, up):
                    item = band_ids[band, pos]
                    word = item >> 6
                    bit = _ONE << np.uint64(item & 63)
                    if (seen[word] & bit) == _ZERO:
                        seen[word] |= bit
                        cand[n_cand] = item
                        n_cand += 1
            if n_cand >= min_candidates or width == 1:
                break
            width -= 1
            stats[2] += 1
        size = 0
        above = 0
        worst = np.inf
        a0 = q_indptr[qi]
        a1 = q_indptr[qi + 1]
        na = a1 - a0
        for c in range(n_cand):
            item = cand[c]
            seen[item >> 6] = _ZERO
            # exact Jaccard by merging the sorted rows, written out (see dense_search)
            b0 = x_indptr[item]
            b1 = x_indptr[item + 1]
            nb = b1 - b0
            if na == 0 or nb == 0:
                sim = 1.0 if na == nb else 0.0
            else:
                i = a0
                j = b0
                inter = 0
                while i < a1 and j < b1:
                    u = q_indices[i]
                    v = x_indices[j]
                    if u == v:
                        inter += 1
                        i += 1
                        j += 1
                    elif u < v:
                        i += 1
                    else:
                        j += 1
                sim = inter / (na + nb - inter)
            if sim >= threshold:
                above += 1
            dist = 1.0 - sim
            if size < k or dist < worst:
                size = _heap_push(hd, hi, size, k, dist, item)
                if size == k:
                    worst = hd[0]
        stats[0] += n_cand
        stats[1] += above
        _heap_emit(hd, hi, size, out_ids, out_d, qi)
    return out_ids, out_d, stats


@njit(cache=True)
def count_at_least(q_indptr: np.ndarray, q_indices: np.ndarray, x_indptr: np.ndarray,
                   inv_indptr: np.ndarray, inv_items: np.ndarray, threshold: float) -> int:
    """Number of (query, item) pairs with exact Jaccard >= ``threshold`` (an exhaustive count
    through an inverted index ``token -> items``; tokens must be in ``[0, len(inv_indptr) - 1)``
    or absent from every item)."""
    n = x_indptr.shape[0] - 1
    n_tok = inv_indptr.shape[0] - 1
    inter = np.zeros(n, dtype=np.int32)
    touched = np.empty(n, dtype=np.int32)
    n_empty = 0
    for i in range(n):
        if x_indptr[i + 1] == x_indptr[i]:
            n_empty += 1
    total = 0
    for qi in range(q_indptr.shape[0] - 1):
        a0 = q_indptr[qi]
        a1 = q_indptr[qi + 1]
        na = a1 - a0
        if na == 0:
            total += n_empty  # J(empty, empty) = 1; J(empty, non-empty) = 0
            continue
        nt = 0
        for t in range(a0, a1):
            tok = q_indices[t]
            if tok < 0 or tok >= n_tok:
                continue
            for p in range(inv_indptr[tok], inv_indptr[tok + 1]):
                item = inv_items[p]
                if inter[item] == 0:
                    touched[nt] = item
                    nt += 1
                inter[item] += 1
        for c in range(nt):
            item = touched[c]
            common = inter[item]
            inter[item] = 0
            nb = x_indptr[item + 1] - x_indptr[item]
            if common / (na + nb - common) >= threshold:
                total += 1
    return total


# --------------------------------------------------------------------------- dense hashing


@njit(cache=True, fastmath=_FAST)
def _project_row(x: np.ndarray, i: int, proj_t: np.ndarray, out: np.ndarray) -> None:
    """``out[j] = proj_t[j] . x[i]`` with a fixed summation order (same result in any batch)."""
    d = x.shape[1]
    for j in range(proj_t.shape[0]):
        s = np.float32(0.0)
        for c in range(d):
            s += proj_t[j, c] * x[i, c]
        out[j] = s


@njit(cache=True)
def _pstable_code(p: float, offset: float, inv_w: float) -> np.int64:
    return np.int64(np.floor((np.float64(p) + offset) * inv_w))


@njit(cache=True)
def dense_projections(x: np.ndarray, proj_t: np.ndarray) -> np.ndarray:
    """All projections ``x @ proj_t.T`` as float32 (n, h), computed row by row."""
    out = np.empty((x.shape[0], proj_t.shape[0]), dtype=np.float32)
    buf = np.empty(proj_t.shape[0], dtype=np.float32)
    for i in range(x.shape[0]):
        _project_row(x, i, proj_t, buf)
        for j in range(buf.shape[0]):
            out[i, j] = buf[j]
    return out


@njit(cache=True)
def pstable_codes(x: np.ndarray, proj_t: np.ndarray, offsets: np.ndarray,
                  inv_w: float) -> np.ndarray:
    """Integer p-stable codes ``floor((a_j . x + b_j) / w)``, int64 (n, h)."""
    h = proj_t.shape[0]
    out = np.empty((x.shape[0], h), dtype=np.int64)
    buf = np.empty(h, dtype=np.float32)
    for i in range(x.shape[0]):
        _project_row(x, i, proj_t, buf)
        for j in range(h):
            out[i, j] = _pstable_code(buf[j], offsets[j], inv_w)
    return out


@njit(cache=True)
def keys_from_projections(proj: np.ndarray, offsets: np.ndarray, inv_w: float,
                          mult: np.ndarray, k_hash: int, n_tables: int,
                          family: int) -> np.ndarray:
    """Bucket keys (n_tables, n) uint64 from projections ``proj`` (n, k_hash * n_tables).

    Hyperplane: bit j of table t's key is ``proj_{t,j} > 0`` (a zero projection gives 0).
    p-stable: the key is ``sum_j code_j * mult_{t,j}`` modulo 2^64 (random odd multipliers),
    so moving one code by +-1 adds +-mult to the key.
    """
    n = proj.shape[0]
    keys = np.empty((n_tables, n), dtype=np.uint64)
    for i in range(n):
        for t in range(n_tables):
            key = _ZERO
            base = t * k_hash
            if family == HYPERPLANE:
                for j in range(k_hash):
                    if proj[i, base + j] > 0.0:
                        key |= _ONE << np.uint64(j)
            else:
                for j in range(k_hash):
                    code = _pstable_code(proj[i, base + j], offsets[base + j], inv_w)
                    key += np.uint64(code) * mult[base + j]
            keys[t, i] = key
    return keys


@njit(cache=True)
def _select(vals: np.ndarray, perm: np.ndarray, lo: int, hi: int, nth: int) -> None:
    """Reorder ``vals[lo:hi]`` and ``perm[lo:hi]`` together so that position ``nth`` holds
    the value it would hold if sorted, smaller-or-equal values before it (quickselect with
    a median-of-three pivot)."""
    while hi - lo > 1:
        mid = (lo + hi - 1) >> 1
        a = vals[lo]
        b = vals[mid]
        c = vals[hi - 1]
        pivot = max(min(a, b), min(max(a, b), c))
        i = lo
        j = hi - 1
        while i <= j:
            while vals[i] < pivot:
                i += 1
            while vals[j] > pivot:
                j -= 1
            if i <= j:
                tv = vals[i]
                vals[i] = vals[j]
                vals[j] = tv
                tp = perm[i]
                perm[i] = perm[j]
                perm[j] = tp
                i += 1
                j -= 1
        if nth <= j:
            hi = j + 1
        elif nth >= i:
            lo = i
        else:
            return


@njit(cache=True, fastmath=_FAST)
def rp_tree_order(x: np.ndarray, leaf_size: int, seed: int) -> np.ndarray:
    """Leaf order (depth first) of a random-projection tree: each node's rows are split at
    the median of their projections onto the difference of two of them picked at random
    (a splitmix64 stream of ``seed`` picks them; numpy's generators are slow to compile)."""
    state = np.uint64(seed)
    n = x.shape[0]
    d = x.shape[1]
    perm = np.arange(n).astype(np.int64)
    vals = np.empty(n, dtype=np.float32)
    direction = np.empty(d, dtype=np.float32)
    stack_lo = np.empty(128, dtype=np.int64)
    stack_hi = np.empty(128, dtype=np.int64)
    stack_lo[0] = 0
    stack_hi[0] = n
    top = 1
    while top > 0:
        top -= 1
        lo = stack_lo[top]
        hi = stack_hi[top]
        size = hi - lo
        if size <= leaf_size:
            continue
        nonzero = False
        for _attempt in range(8):  # two distinct rows, if the node has them
            state += _GOLDEN
            a = perm[lo + np.int64(splitmix64(state) % np.uint64(size))]
            state += _GOLDEN
            b = perm[lo + np.int64(splitmix64(state) % np.uint64(size))]
            for c in range(d):
                direction[c] = x[a, c] - x[b, c]
                if direction[c] != 0.0:
                    nonzero = True
            if nonzero:
                break
        if not nonzero:  # (nearly) all rows of the node are equal: keep their order
            continue
        for i in range(lo, hi):
            row = perm[i]
            acc = np.float32(0.0)
            for c in range(d):
                acc += direction[c] * x[row, c]
            vals[i] = acc
        half = lo + size // 2
        _select(vals, perm, lo, hi, half)
        stack_lo[top] = half
        stack_hi[top] = hi
        stack_lo[top + 1] = lo
        stack_hi[top + 1] = half
        top += 2
    return perm


# ---- multi-probe: the shift/expand min-heap over perturbation sets (bitmasks of options)


@njit(cache=True)
def _pheap_push(hs: np.ndarray, hm: np.ndarray, hx: np.ndarray, size: int, s: float,
                mask: np.uint64, mx: int) -> int:
    pos = size
    while pos > 0:
        parent = (pos - 1) >> 1
        if hs[parent] > s:
            hs[pos] = hs[parent]
            hm[pos] = hm[parent]
            hx[pos] = hx[parent]
            pos = parent
        else:
            break
    hs[pos] = s
    hm[pos] = mask
    hx[pos] = mx
    return size + 1


@njit(cache=True)
def _pheap_pop(hs: np.ndarray, hm: np.ndarray, hx: np.ndarray, size: int) -> int:
    size -= 1
    s = hs[size]
    m = hm[size]
    x = hx[size]
    pos = 0
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and hs[child + 1] < hs[child]:
            child += 1
        if hs[child] < s:
            hs[pos] = hs[child]
            hm[pos] = hm[child]
            hx[pos] = hx[child]
            pos = child
        else:
            break
    hs[pos] = s
    hm[pos] = m
    hx[pos] = x
    return size


@njit(cache=True)
def _lowest_bit(w: np.uint64) -> int:
    low = w & (~w + _ONE)
    return _DEBRUIJN_TABLE[(low * _DEBRUIJN) >> _S58]


@njit(cache=True)
def _probe_keys(buf: np.ndarray, t: int, k_hash: int, family: int, offsets: np.ndarray,
                inv_w: float, mult: np.ndarray, probes: int, keys_out: np.ndarray,
                scores: np.ndarray, deltas: np.ndarray, coords: np.ndarray, order: np.ndarray,
                z: np.ndarray, hs: np.ndarray, hm: np.ndarray, hx: np.ndarray) -> int:
    """The home key of table ``t`` and up to ``probes - 1`` perturbed keys, best first.

    Options: hyperplane, flip bit j (score: squared margin); p-stable, move code j down or up
    (score: squared distance of the scaled projection to that boundary). A perturbation set
    with both moves of one coordinate is skipped (still expanded), as in Lv et al.
    """
    base = t * k_hash
    home = _ZERO
    m = 0
    if family == HYPERPLANE:
        for j in range(k_hash):
            v = buf[base + j]
            bit = _ONE << np.uint64(j)
            if v > 0.0:
                home |= bit
                deltas[m] = ~bit + _ONE  # -bit modulo 2^64: clears the bit
            else:
                deltas[m] = bit
            scores[m] = np.float64(v) * np.float64(v)
            coords[m] = j
            m += 1
    else:
        for j in range(k_hash):
            f = (np.float64(buf[base + j]) + offsets[base + j]) * inv_w
            code = np.int64(np.floor(f))
            frac = f - np.floor(f)
            mu = mult[base + j]
            home += np.uint64(code) * mu
            scores[m] = frac * frac
            deltas[m] = ~mu + _ONE
            coords[m] = j
            m += 1
            scores[m] = (1.0 - frac) * (1.0 - frac)
            deltas[m] = mu
            coords[m] = j
            m += 1
    keys_out[0] = home
    n_keys = 1
    if probes <= 1 or m == 0:
        return n_keys
    _argsort_small(scores, m, order)
    for i in range(m):
        z[i] = scores[order[i]]
    size = _pheap_push(hs, hm, hx, 0, z[0], _ONE, 0)
    while n_keys < probes and size > 0:
        s = hs[0]
        mask = hm[0]
        mx = hx[0]
        size = _pheap_pop(hs, hm, hx, size)
        if mx + 1 < m and size + 2 <= hs.shape[0]:
            nxt = _ONE << np.uint64(mx + 1)
            cur = _ONE << np.uint64(mx)
            size = _pheap_push(hs, hm, hx, size, s - z[mx] + z[mx + 1], (mask ^ cur) | nxt,
                               mx + 1)
            size = _pheap_push(hs, hm, hx, size, s + z[mx + 1], mask | nxt, mx + 1)
        key = home
        used = _ZERO
        valid = True
        w = mask
        while w != _ZERO:
            pos = _lowest_bit(w)
            w &= w - _ONE
            opt = order[pos]
            cbit = _ONE << np.uint64(coords[opt])
            if used & cbit:
                valid = False
                break
            used |= cbit
            key += deltas[opt]
        if valid:
            keys_out[n_keys] = key
            n_keys += 1
    return n_keys


@njit(cache=True, fastmath=_FAST)
def dense_search(queries: np.ndarray, data: np.ndarray, norms: np.ndarray, proj_t: np.ndarray,
                 offsets: np.ndarray, inv_w: float, mult: np.ndarray, k_hash: int,
                 n_tables: int, family: int, table_keys: np.ndarray, bucket_start: np.ndarray,
                 bucket_end: np.ndarray, table_ptr: np.ndarray, sorted_ids: np.ndarray,
                 probes: int, k: int, code: int,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Multi-probe LSH look-up and exact re-ranking of the candidates, cut to ``k``.

    ``queries`` must already be in the form the distance code expects (unit rows for
    ANGULAR). Table t's distinct keys are ``table_keys[table_ptr[t]:table_ptr[t+1]]``
    (sorted), the bucket of its u-th key is ``sorted_ids[t, bucket_start[u]:bucket_end[u]]``.
    Returns ids (nq, k) int64 padded with -1, distances (angular: 1 - cos, euclidean:
    L2) and counters ``[candidates, buckets_probed, non_empty_buckets]``.
    """
    nq = queries.shape[0]
    n = data.shape[0]
    d = data.shape[1]
    h = proj_t.shape[0]
    out_ids = np.full((nq, k), -1, dtype=np.int64)
    out_d = np.full((nq, k), np.inf, dtype=np.float64)
    stats = np.zeros(3, dtype=np.int64)
    seen = np.zeros((n + 63) // 64, dtype=np.uint64)
    buf = np.empty(h, dtype=np.float32)
    n_opt = 2 * k_hash
    scores = np.empty(n_opt, dtype=np.float64)
    deltas = np.empty(n_opt, dtype=np.uint64)
    coords = np.empty(n_opt, dtype=np.int64)
    order = np.empty(n_opt, dtype=np.int64)
    z = np.empty(n_opt, dtype=np.float64)
    cap = 4 * max(probes, 1) + 8
    hs = np.empty(cap, dtype=np.float64)
    hm = np.empty(cap, dtype=np.uint64)
    hx = np.empty(cap, dtype=np.int64)
    keys = np.empty(max(probes, 1), dtype=np.uint64)
    hd = np.empty(k, dtype=np.float64)
    hi = np.empty(k, dtype=np.int64)
    for qi in range(nq):
        _project_row(queries, qi, proj_t, buf)
        q = queries[qi]
        q_zero = True
        for c in range(q.shape[0]):
            if q[c] != 0.0:
                q_zero = False
                break
        lo_word = seen.shape[0]
        hi_word = -1
        for t in range(n_tables):
            n_keys = _probe_keys(buf, t, k_hash, family, offsets, inv_w, mult, probes, keys,
                                 scores, deltas, coords, order, z, hs, hm, hx)
            t0 = table_ptr[t]
            t1 = table_ptr[t + 1]
            for p in range(n_keys):
                stats[1] += 1
                u = _find_key(table_keys, t0, t1, keys[p])
                if u < t1 and table_keys[u] == keys[p]:
                    stats[2] += 1
                    ids_t = sorted_ids[t]
                    for pos in range(bucket_start[u], bucket_end[u]):
                        item = ids_t[pos]
                        word = item >> 6
                        seen[word] |= _ONE << np.uint64(item & 63)
                        if word < lo_word:
                            lo_word = word
                        if word > hi_word:
                            hi_word = word
        # scan the bitmap in id order: de-duplicated candidates, memory read forwards.
        # The distance and the heap test are written out here: calls taking arrays cost
        # reference counting per candidate.
        size = 0
        n_cand = 0
        worst = np.inf
        for word in range(lo_word, hi_word + 1):
            w = seen[word]
            if w == _ZERO:
                continue
            seen[word] = _ZERO
            while w != _ZERO:
                item = (word << 6) + _DEBRUIJN_TABLE[((w & (~w + _ONE)) * _DEBRUIJN) >> _S58]
                w &= w - _ONE
                n_cand += 1
                if code == ANGULAR:
                    if q_zero:
                        dist = 0.0 if norms[item] == 0.0 else 1.0
                    else:
                        acc = np.float32(0.0)
                        for c in range(d):
                            acc += q[c] * data[item, c]
                        dist = 1.0 - np.float64(acc)
                else:
                    acc = np.float32(0.0)
                    for c in range(d):
                        diff = q[c] - data[item, c]
                        acc += diff * diff
                    dist = np.float64(acc)
                if size < k or dist < worst:
                    size = _heap_push(hd, hi, size, k, dist, item)
                    if size == k:
                        worst = hd[0]
        stats[0] += n_cand
        _heap_emit(hd, hi, size, out_ids, out_d, qi)
        for r in range(size):
            if code == EUCLIDEAN:
                out_d[qi, r] = np.sqrt(max(out_d[qi, r], 0.0))
            else:
                out_d[qi, r] = min(max(out_d[qi, r], 0.0), 2.0)
    return out_ids, out_d, stats
