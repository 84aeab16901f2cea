"""Numba kernels of the in-house KD-tree: build, k-NN / eps-approximate k-NN, radius search.

The tree is flattened into arrays. Points are reordered so that every node owns a contiguous
block ``[start, end)`` of the reordered data; ``perm`` maps a reordered row back to its
original id. Each node keeps its compact bounding box (the range of its own points), which
gives tighter lower bounds than the split planes alone.

Distances are handled in "reduced" form: ``sum |x - y|^p`` for finite p (no root) and
``max |x - y|`` for chebyshev. The lower bound from a box is computed with the same operations
in the same order as a point distance, so (floating-point rounding being monotone) it never
exceeds the distance of any point inside the box: pruning with ``bound > radius`` is exact.
"""

from __future__ import annotations

import numba
import numpy as np

#: metric codes used by the kernels
L1, L2, LINF, LP = 1, 2, 3, 4


# --------------------------------------------------------------------------- build


@numba.njit(cache=True, nogil=True)
def _select(keys: np.ndarray, lo: int, hi: int, kth: int) -> None:
    """Reorder ``keys[lo:hi]`` so that position ``kth`` holds the value it would hold if
    sorted, smaller-or-equal keys before it, larger-or-equal after (quickselect)."""
    hi -= 1
    while hi > lo:
        mid = (lo + hi) >> 1
        # median of three as pivot
        a, b, c = keys[lo], keys[mid], keys[hi]
        pivot = max(min(a, b), min(max(a, b), c))
        i, j = lo, hi
        while i <= j:
            while keys[i] < pivot:
                i += 1
            while keys[j] > pivot:
                j -= 1
            if i <= j:
                tk = keys[i]
                keys[i] = keys[j]
                keys[j] = tk
                i += 1
                j -= 1
        if kth <= j:
            hi = j
        elif kth >= i:
            lo = i
        else:
            return


@numba.njit(cache=True, nogil=True, inline="always")
def _swap_rows(w: np.ndarray, idx: np.ndarray, a: int, b: int) -> None:
    for j in range(w.shape[1]):
        t = w[a, j]
        w[a, j] = w[b, j]
        w[b, j] = t
    ti = idx[a]
    idx[a] = idx[b]
    idx[b] = ti


@numba.njit(cache=True, nogil=True)
def build_tree(data: np.ndarray, leaf_size: int, median: bool) -> tuple:
    """Build the tree over ``data`` (n, d) float32.

    :param leaf_size: a node with at most this many points is a leaf.
    :param median: split at the median (balanced); otherwise the sliding-midpoint rule.
    :returns: ``(points, perm, start, end, left, right, split_dim, split_val, box_lo, box_hi,
        depth)``: ``points`` are the rows of ``data`` in tree order, ``perm[i]`` the original
        id of ``points[i]``; ``split_dim[i] == -1`` marks a leaf.

    Rules (as scipy's cKDTree): the split dimension is the one of largest spread of the
    node's points; a node whose points are all identical becomes a leaf whatever its size;
    the sliding midpoint moves the split onto the lowest point when no point lies below it
    (onto the highest when none lies at or above it), so no child is ever empty. Rows are
    moved physically while partitioning, so every pass reads memory sequentially.
    """
    n, d = data.shape
    cap = 2 * n + 1
    w = data.copy()
    idx = np.arange(n).astype(np.int64)
    start = np.empty(cap, np.int64)
    end = np.empty(cap, np.int64)
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    split_dim = np.full(cap, -1, np.int64)
    split_val = np.zeros(cap, np.float64)
    box_lo = np.empty((cap, d), np.float32)
    box_hi = np.empty((cap, d), np.float32)
    node_depth = np.zeros(cap, np.int64)
    keys = np.empty(n, np.float32)
    lo = np.empty(d, np.float32)
    hi = np.empty(d, np.float32)

    stack = np.empty(cap, np.int64)
    start[0] = 0
    end[0] = n
    nnodes = 1
    stack[0] = 0
    top = 1
    max_depth = 0
    while top > 0:
        top -= 1
        node = stack[top]
        s = start[node]
        e = end[node]
        if node_depth[node] > max_depth:
            max_depth = node_depth[node]
        # compact bounding box of the node's points
        for j in range(d):
            lo[j] = w[s, j]
            hi[j] = w[s, j]
        for i in range(s + 1, e):
            for j in range(d):
                v = w[i, j]
                lo[j] = min(lo[j], v)
                hi[j] = max(hi[j], v)
        for j in range(d):
            box_lo[node, j] = lo[j]
            box_hi[node, j] = hi[j]
        if e - s <= leaf_size:
            continue
        dim = 0
        spread = np.float32(-1.0)
        for j in range(d):
            width = hi[j] - lo[j]
            if width > spread:
                spread = width
                dim = j
        if spread <= 0:
            continue  # all points identical: a leaf whatever its size
        if median:
            # the median key by selection on a scratch copy, then two in-place partitions
            # of the rows: below the median, equal to it, above it
            cnt = e - s
            for i in range(cnt):
                keys[i] = w[s + i, dim]
            half = cnt // 2
            _select(keys, 0, cnt, half)
            m = s + half
            split32 = keys[half]
            split = np.float64(split32)
            i = s
            j = e - 1
            while i <= j:
                if w[i, dim] < split32:
                    i += 1
                elif w[j, dim] >= split32:
                    j -= 1
                else:
                    _swap_rows(w, idx, i, j)
                    i += 1
                    j -= 1
            j = e - 1
            while i <= j:
                if w[i, dim] == split32:
                    i += 1
                elif w[j, dim] > split32:
                    j -= 1
                else:
                    _swap_rows(w, idx, i, j)
                    i += 1
                    j -= 1
        else:
            split = (np.float64(lo[dim]) + np.float64(hi[dim])) * 0.5
            i = s
            j = e - 1
            while i <= j:
                if w[i, dim] < split:
                    i += 1
                elif w[j, dim] >= split:
                    j -= 1
                else:
                    _swap_rows(w, idx, i, j)
                    i += 1
                    j -= 1
            m = i
            if m == s:
                # nothing below the midpoint: slide it onto the lowest point
                jmin = s
                for t in range(s + 1, e):
                    if w[t, dim] < w[jmin, dim]:
                        jmin = t
                _swap_rows(w, idx, s, jmin)
                m = s + 1
                split = np.float64(lo[dim])
            elif m == e:
                # nothing at or above the midpoint: slide it onto the highest point
                jmax = s
                for t in range(s + 1, e):
                    if w[t, dim] > w[jmax, dim]:
                        jmax = t
                _swap_rows(w, idx, e - 1, jmax)
                m = e - 1
                split = np.float64(hi[dim])
        split_dim[node] = dim
        split_val[node] = split
        lc = nnodes
        rc = nnodes + 1
        nnodes += 2
        left[node] = lc
        right[node] = rc
        start[lc] = s
        end[lc] = m
        start[rc] = m
        end[rc] = e
        node_depth[lc] = node_depth[node] + 1
        node_depth[rc] = node_depth[node] + 1
        stack[top] = rc
        top += 1
        stack[top] = lc
        top += 1
    return (w, idx, start[:nnodes].copy(), end[:nnodes].copy(), left[:nnodes].copy(),
            right[:nnodes].copy(), split_dim[:nnodes].copy(), split_val[:nnodes].copy(),
            box_lo[:nnodes].copy(), box_hi[:nnodes].copy(), max_depth)


# --------------------------------------------------------------------------- distances


@numba.njit(cache=True, nogil=True, inline="always")
def _point_dist(data: np.ndarray, row: int, q: np.ndarray, code: int, p: float) -> float:
    d = q.shape[0]
    acc = 0.0
    if code == L2:
        for j in range(d):
            t = np.float64(data[row, j]) - q[j]
            acc += t * t
    elif code == L1:
        for j in range(d):
            acc += abs(np.float64(data[row, j]) - q[j])
    elif code == LINF:
        for j in range(d):
            t = abs(np.float64(data[row, j]) - q[j])
            if t > acc:
                acc = t
    else:
        for j in range(d):
            acc += abs(np.float64(data[row, j]) - q[j]) ** p
    return acc


@numba.njit(cache=True, nogil=True, inline="always")
def _box_dist(lo: np.ndarray, hi: np.ndarray, node: int, q: np.ndarray, code: int,
              p: float) -> float:
    """Reduced distance from ``q`` to the node's box (0 inside); never above a point's."""
    d = q.shape[0]
    acc = 0.0
    for j in range(d):
        t = np.float64(lo[node, j]) - q[j]
        if t <= 0.0:
            t = q[j] - np.float64(hi[node, j])
            if t <= 0.0:
                t = 0.0
        if code == L2:
            acc += t * t
        elif code == L1:
            acc += t
        elif code == LINF:
            if t > acc:
                acc = t
        else:
            acc += t ** p
    return acc


@numba.njit(cache=True, nogil=True)
def _finish(reduced: float, code: int, p: float) -> float:
    if code == L2:
        return np.sqrt(reduced)
    if code == LP:
        return reduced ** (1.0 / p)
    return reduced


# --------------------------------------------------------------------------- k-NN


@numba.njit(cache=True, nogil=True)
def knn_query(queries: np.ndarray, data: np.ndarray, perm: np.ndarray, start: np.ndarray,
              end: np.ndarray, left: np.ndarray, right: np.ndarray, split_dim: np.ndarray,
              box_lo: np.ndarray, box_hi: np.ndarray, max_depth: int, k: int, code: int,
              p: float, eps: float) -> tuple:
    """k nearest neighbours of every query (one call for the whole batch).

    With ``eps > 0`` a node is skipped when its lower bound times (1 + eps) exceeds the
    current k-th distance, so the k-th returned distance is at most (1 + eps) times the true
    one. Returns ``(ids int64 (nq, k), distances float64 (nq, k), n_distances, n_leaves)``.
    """
    nq, d = queries.shape
    out_ids = np.empty((nq, k), np.int64)
    out_d = np.empty((nq, k), np.float64)
    if code == LINF:
        shrink = 1.0 / (1.0 + eps)
    elif code == L2:
        shrink = 1.0 / ((1.0 + eps) * (1.0 + eps))
    elif code == L1:
        shrink = 1.0 / (1.0 + eps)
    else:
        shrink = 1.0 / (1.0 + eps) ** p
    best_d = np.empty(k, np.float64)
    best_i = np.empty(k, np.int64)
    stack_node = np.empty(max_depth + 2, np.int64)
    stack_dist = np.empty(max_depth + 2, np.float64)
    q = np.empty(d, np.float64)
    n_dist = 0
    n_leaves = 0
    for qi in range(nq):
        for j in range(d):
            q[j] = queries[qi, j]
        for t in range(k):
            best_d[t] = np.inf
            best_i[t] = -1
        bound = np.inf  # current k-th reduced distance, times shrink
        top = 0
        stack_node[0] = 0
        stack_dist[0] = _box_dist(box_lo, box_hi, 0, q, code, p)
        top = 1
        while top > 0:
            top -= 1
            node = stack_node[top]
            if stack_dist[top] > bound:
                continue
            # descend towards the nearer child, keeping the farther one for later
            while split_dim[node] >= 0:
                lc = left[node]
                rc = right[node]
                dl = _box_dist(box_lo, box_hi, lc, q, code, p)
                dr = _box_dist(box_lo, box_hi, rc, q, code, p)
                if dl <= dr:
                    near = lc
                    far = rc
                    dnear = dl
                    dfar = dr
                else:
                    near = rc
                    far = lc
                    dnear = dr
                    dfar = dl
                if dfar <= bound:
                    stack_node[top] = far
                    stack_dist[top] = dfar
                    top += 1
                if dnear > bound:
                    node = -1
                    break
                node = near
            if node < 0:
                continue
            n_leaves += 1
            s = start[node]
            e = end[node]
            n_dist += e - s
            worst = best_d[k - 1]
            for row in range(s, e):
                dist = _point_dist(data, row, q, code, p)
                if dist < worst:
                    # insert into the sorted list of the k best
                    pos = k - 1
                    while pos > 0 and best_d[pos - 1] > dist:
                        best_d[pos] = best_d[pos - 1]
                        best_i[pos] = best_i[pos - 1]
                        pos -= 1
                    best_d[pos] = dist
                    best_i[pos] = row
                    worst = best_d[k - 1]
            bound = worst * shrink
        for t in range(k):
            out_ids[qi, t] = perm[best_i[t]] if best_i[t] >= 0 else -1
            out_d[qi, t] = _finish(best_d[t], code, p)
    return out_ids, out_d, n_dist, n_leaves


# --------------------------------------------------------------------------- radius


@numba.njit(cache=True, nogil=True)
def radius_query(queries: np.ndarray, data: np.ndarray, perm: np.ndarray, start: np.ndarray,
                 end: np.ndarray, left: np.ndarray, right: np.ndarray,
                 split_dim: np.ndarray, box_lo: np.ndarray, box_hi: np.ndarray,
                 max_depth: int, reduced_r: float, code: int, p: float) -> tuple:
    """All points with reduced distance <= ``reduced_r`` (closed ball), as CSR.

    Returns ``(indptr int64 (nq+1,), ids int64, distances float64)``; each row sorted by
    distance, then id.
    """
    nq, d = queries.shape
    indptr = np.zeros(nq + 1, np.int64)
    cap = 1024
    ids = np.empty(cap, np.int64)
    dists = np.empty(cap, np.float64)
    count = 0
    stack = np.empty(max_depth + 2, np.int64)
    q = np.empty(d, np.float64)
    for qi in range(nq):
        for j in range(d):
            q[j] = queries[qi, j]
        row_start = count
        top = 0
        if _box_dist(box_lo, box_hi, 0, q, code, p) <= reduced_r:
            stack[0] = 0
            top = 1
        while top > 0:
            top -= 1
            node = stack[top]
            while split_dim[node] >= 0:
                lc = left[node]
                rc = right[node]
                keep_l = _box_dist(box_lo, box_hi, lc, q, code, p) <= reduced_r
                keep_r = _box_dist(box_lo, box_hi, rc, q, code, p) <= reduced_r
                if keep_l and keep_r:
                    stack[top] = rc
                    top += 1
                    node = lc
                elif keep_l:
                    node = lc
                elif keep_r:
                    node = rc
                else:
                    node = -1
                    break
            if node < 0:
                continue
            for row in range(start[node], end[node]):
                dist = _point_dist(data, row, q, code, p)
                if dist <= reduced_r:
                    if count == cap:
                        cap *= 2
                        new_ids = np.empty(cap, np.int64)
                        new_d = np.empty(cap, np.float64)
                        new_ids[:count] = ids[:count]
                        new_d[:count] = dists[:count]
                        ids = new_ids
                        dists = new_d
                    ids[count] = perm[row]
                    dists[count] = dist
                    count += 1
        # sort the row by (distance, id)
        if count - row_start > 1:
            seg_d = dists[row_start:count].copy()
            seg_i = ids[row_start:count].copy()
            order = np.argsort(seg_i, kind="mergesort")
            seg_d = seg_d[order]
            seg_i = seg_i[order]
            order = np.argsort(seg_d, kind="mergesort")
            for t in range(order.shape[0]):
                ids[row_start + t] = seg_i[order[t]]
                dists[row_start + t] = seg_d[order[t]]
        for t in range(row_start, count):
            dists[t] = _finish(dists[t], code, p)
        indptr[qi + 1] = count
    return indptr, ids[:count].copy(), dists[:count].copy()
