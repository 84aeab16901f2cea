"""Numba kernels of the in-house HNSW index (see ``plugins/hnsw.py`` and ``docs/hnsw.md``).

The graph lives in flat arrays so that every kernel takes plain typed arrays:

- ``data``: float32 (n, d), C-contiguous; for cosine the rows are already unit length.
- ``links0``: int32 (n, M_max0 + 1); row ``i`` is node i's layer-0 list, ``row[0]`` the count
  and ``row[1:1 + count]`` the neighbour ids (count and ids share one cache line).
- ``links_up``: int32 (rows, M_max + 1), same row format, for layers >= 1: node i's list on
  layer ``l`` is row ``up_offset[i] + l - 1`` (``up_offset[i] = -1`` when node i has level 0).
- ``state``: int64 [entry point, top level]; the entry point is -1 while the graph is empty.

Distances are "kinds": ``L2`` is the squared euclidean distance, ``DOT`` the negative inner
product (cosine uses it on unit vectors), ``KL`` the Kullback-Leibler divergence
``KL(a || b)`` and ``JS`` the Jensen-Shannon divergence. Smaller is nearer for all. ``KL`` is
not symmetric: every distance is taken from the vector playing the query (the query of a
search, the node being inserted, the node whose list is re-selected) to the item, except in
the heuristic, which follows the paper literally: candidate ``e`` is dropped when
``d(e, r) < d(e, base)`` for a kept ``r`` (on 32-d topic data this gives KL a better graph
than comparing ``d(r, e)`` with ``d(base, e)``: recall 0.932 against 0.909 at ef=64). No kernel
relies on symmetry or on the triangle inequality. Divergences are summed in float64 with
strict IEEE arithmetic (no fastmath) and capped at ``DIV_CAP`` (``KL`` is infinite where the
item has a zero the query has not; the cap keeps the heaps finite).

Names follow the paper (Malkov & Yashunin, arXiv:1603.09320): ``search_layer`` is
SEARCH-LAYER, ``select_neighbors`` is SELECT-NEIGHBORS-SIMPLE/-HEURISTIC, ``insert_range``
runs INSERT for a range of nodes and ``knn_search_batch`` runs K-NN-SEARCH for a batch of
queries. Every kernel is compiled with ``cache=True`` so a second process loads it from disk.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

L2 = 0
DOT = 1
KL = 2
JS = 3
KINDS = {"l2": L2, "dot": DOT, "kl": KL, "js": JS}
#: divergences at or above this (float32) value stand for +inf
DIV_CAP = np.float32(3.0e38)

# The GIL stays held: a search writes the index's visited tags and counters.
_JIT = {"cache": True, "fastmath": True, "boundscheck": False}
_INF = np.float32(np.inf)
_TAG_MAX = 65535


# --------------------------------------------------------------------------- prefetch


@intrinsic
def _prefetch(typingctx: Any, arr: Any, row: Any, col: Any) -> Any:
    """Hint the CPU to fetch the cache line holding ``arr[row, col]`` (a 2-D C array)."""
    if not isinstance(arr, types.Array) or arr.ndim != 2:
        return None
    sig = types.void(arr, row, col)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        arrty = signature.args[0]
        ary = context.make_array(arrty)(context, builder, args[0])
        r = context.cast(builder, args[1], signature.args[1], types.intp)
        c = context.cast(builder, args[2], signature.args[2], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, arrty, ary, [r, c],
                                       wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        # read access, high temporal locality, data cache
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


# --------------------------------------------------------------------------- distance
# Distances index rows of the 2-D ``data`` array instead of taking row views: a view costs a
# reference-count update, which would dominate the inner loops.


@njit(cache=True, fastmath=False, boundscheck=False)
def _div_term(x: float, y: float, kind: int) -> float:
    """One coordinate of KL(x || y) or of JS(x, y), with 0 log 0 = 0 (float64)."""
    if kind == KL:
        if x <= 0.0:
            return 0.0
        if y <= 0.0:
            return np.inf
        return x * np.log(x / y)
    m = 0.5 * (x + y)
    t = 0.0
    if x > 0.0:
        t += x * np.log(x / m)
    if y > 0.0:
        t += y * np.log(y / m)
    return 0.5 * t


@njit(cache=True, fastmath=False, boundscheck=False)
def _div_query(q: np.ndarray, data: np.ndarray, i: int, kind: int) -> float:
    """Divergence of the vector ``q`` to ``data[i]``, capped at ``DIV_CAP``."""
    s = 0.0
    for j in range(q.shape[0]):
        s += _div_term(np.float64(q[j]), np.float64(data[i, j]), kind)
    return np.float32(min(s, 3.0e38))


@njit(cache=True, fastmath=False, boundscheck=False)
def _div_rows(data: np.ndarray, i: int, k: int, kind: int) -> float:
    """Divergence of ``data[i]`` to ``data[k]``, capped at ``DIV_CAP``."""
    s = 0.0
    for j in range(data.shape[1]):
        s += _div_term(np.float64(data[i, j]), np.float64(data[k, j]), kind)
    return np.float32(min(s, 3.0e38))


@njit(inline="always", **_JIT)
def dist_query(q: np.ndarray, data: np.ndarray, i: int, kind: int) -> float:
    """Distance of the vector ``q`` to ``data[i]`` under ``kind``."""
    s = np.float32(0.0)
    if kind == L2:
        for j in range(q.shape[0]):
            t = q[j] - data[i, j]
            s += t * t
        return s
    if kind == DOT:
        for j in range(q.shape[0]):
            s += q[j] * data[i, j]
        return -s
    return _div_query(q, data, i, kind)


@njit(inline="always", **_JIT)
def dist_rows(data: np.ndarray, i: int, k: int, kind: int) -> float:
    """Distance of ``data[i]`` (as the query) to ``data[k]`` under ``kind``."""
    s = np.float32(0.0)
    if kind == L2:
        for j in range(data.shape[1]):
            t = data[i, j] - data[k, j]
            s += t * t
        return s
    if kind == DOT:
        for j in range(data.shape[1]):
            s += data[i, j] * data[k, j]
        return -s
    return _div_rows(data, i, k, kind)


# --------------------------------------------------------------------------- heaps
# Binary min-heaps on preallocated (key float32, value int32) arrays. A max-heap is the same
# heap on negated keys.


@njit(inline="always", **_JIT)
def heap_push(keys: np.ndarray, vals: np.ndarray, size: int, key: float, val: int) -> int:
    """Push (key, val) on a heap of ``size`` items; returns the new size."""
    i = size
    while i > 0:
        parent = (i - 1) >> 1
        if keys[parent] <= key:
            break
        keys[i] = keys[parent]
        vals[i] = vals[parent]
        i = parent
    keys[i] = key
    vals[i] = val
    return size + 1


@njit(inline="always", **_JIT)
def heap_replace_top(keys: np.ndarray, vals: np.ndarray, size: int, key: float,
                     val: int) -> None:
    """Replace the root of a non-empty heap by (key, val) and restore the heap order."""
    i = 0
    while True:
        child = 2 * i + 1
        if child >= size:
            break
        right = child + 1
        if right < size and keys[right] < keys[child]:
            child = right
        if keys[child] >= key:
            break
        keys[i] = keys[child]
        vals[i] = vals[child]
        i = child
    keys[i] = key
    vals[i] = val


@njit(inline="always", **_JIT)
def heap_pop(keys: np.ndarray, vals: np.ndarray, size: int) -> int:
    """Remove the root (read it first at ``keys[0], vals[0]``); returns the new size."""
    size -= 1
    if size > 0:
        heap_replace_top(keys, vals, size, keys[size], vals[size])
    return size


@njit(**_JIT)
def drain_max_heap_sorted(neg_keys: np.ndarray, vals: np.ndarray, size: int,
                          out_keys: np.ndarray, out_vals: np.ndarray) -> int:
    """Empty a max-heap (negated keys) into ``out`` in ascending key order; returns size."""
    n = size
    while size > 0:
        out_keys[size - 1] = -neg_keys[0]
        out_vals[size - 1] = vals[0]
        size = heap_pop(neg_keys, vals, size)
    return n


# --------------------------------------------------------------------------- visited set


@njit(inline="always", **_JIT)
def new_visit_tag(tags: np.ndarray, tag_state: np.ndarray) -> int:
    """A fresh tag: a node is visited iff ``tags[node] == tag``; reset the array on wrap."""
    t = tag_state[0] + 1
    if t > _TAG_MAX:
        tags[:] = 0
        t = 1
    tag_state[0] = t
    return np.uint16(t)


# --------------------------------------------------------------------------- graph access


@njit(inline="always", **_JIT)
def link_pos(node: int, layer: int, up_offset: np.ndarray) -> int:
    """Row of ``node``'s list on ``layer``: in ``links0`` (layer 0) or ``links_up``."""
    if layer == 0:
        return np.int64(node)
    return np.int64(up_offset[node]) + layer - 1


# --------------------------------------------------------------------------- search


@njit(**_JIT)
def greedy_closest(q: np.ndarray, ep: int, d_ep: float, top: int, stop: int,
                   data: np.ndarray, kind: int, links0: np.ndarray, links_up: np.ndarray,
                   up_offset: np.ndarray, stats: np.ndarray) -> tuple[int, float]:
    """SEARCH-LAYER with ef = 1 on layers ``top`` down to ``stop + 1``: greedy descent.

    Returns the closest node found and its distance. ``stats`` gets
    [distance computations, expanded nodes] added.
    """
    for layer in range(top, stop, -1):
        links = links0 if layer == 0 else links_up
        changed = True
        while changed:
            changed = False
            r = link_pos(ep, layer, up_offset)
            cnt = links[r, 0]
            stats[1] += 1
            for j in range(1, cnt + 1):
                _prefetch(data, links[r, j], 0)
            for j in range(1, cnt + 1):
                e = links[r, j]
                d = dist_query(q, data, e, kind)
                if d < d_ep:
                    d_ep = d
                    ep = e
                    changed = True
            stats[0] += cnt
    return ep, d_ep


@njit(**_JIT)
def search_layer(q: np.ndarray, entry_ids: np.ndarray, entry_d: np.ndarray, n_entry: int,
                 ef: int, layer: int, data: np.ndarray, kind: int, links0: np.ndarray,
                 links_up: np.ndarray, up_offset: np.ndarray, tags: np.ndarray,
                 tag_state: np.ndarray, cand_k: np.ndarray, cand_v: np.ndarray,
                 res_k: np.ndarray, res_v: np.ndarray, mask: np.ndarray, use_mask: bool,
                 stats: np.ndarray) -> int:
    """SEARCH-LAYER(q, ep, ef, layer): the ef nearest elements found from the entry set.

    The result W is left as a max-heap in ``res_k`` (negated distances) / ``res_v``; the
    return value is its size. ``cand_*`` is the candidate min-heap C (capacity n).
    With ``use_mask``, nodes where ``mask`` is False (deleted or filtered out) are traversed
    but never enter W, and the search goes on until W holds ef allowed nodes (or the
    reachable graph is exhausted), so a mask cannot starve the result.
    """
    links = links0 if layer == 0 else links_up
    tag = new_visit_tag(tags, tag_state)
    nc = np.int64(0)  # np.int64(...) keeps numba from compiling literal-typed variants
    nr = np.int64(0)
    for i in range(n_entry):
        e = entry_ids[i]
        d = entry_d[i]
        if tags[e] == tag:
            continue
        tags[e] = tag
        nc = heap_push(cand_k, cand_v, nc, d, e)
        if not use_mask or mask[e]:
            if nr < ef:
                nr = heap_push(res_k, res_v, nr, -d, e)
            elif d < -res_k[0]:
                heap_replace_top(res_k, res_v, nr, -d, e)
    lower = -res_k[0] if nr > 0 else _INF
    n_dist = np.int64(0)
    n_expanded = np.int64(0)
    while nc > 0:
        c_d = cand_k[0]
        c = cand_v[0]
        if c_d > lower and nr >= ef:
            break
        nc = heap_pop(cand_k, cand_v, nc)
        r = link_pos(c, layer, up_offset)
        cnt = links[r, 0]
        n_expanded += 1
        # Prefetch one step ahead: the list of the next candidate, the next neighbour's vector.
        if nc > 0:
            _prefetch(links, link_pos(cand_v[0], layer, up_offset), 0)
        if cnt > 0:
            _prefetch(data, links[r, 1], 0)
        for j in range(1, cnt + 1):
            e = links[r, j]
            if j < cnt:
                _prefetch(data, links[r, j + 1], 0)
            if tags[e] == tag:
                continue
            tags[e] = tag
            d = dist_query(q, data, e, kind)
            n_dist += 1
            if nr < ef or d < lower:
                nc = heap_push(cand_k, cand_v, nc, d, e)
                if not use_mask or mask[e]:
                    if nr < ef:
                        nr = heap_push(res_k, res_v, nr, -d, e)
                    else:
                        heap_replace_top(res_k, res_v, nr, -d, e)
                    lower = -res_k[0]
    stats[0] += n_dist
    stats[1] += n_expanded
    return nr


@njit(**_JIT)
def knn_search_batch(queries: np.ndarray, k: int, ef: int, data: np.ndarray, kind: int,
                     links0: np.ndarray, links_up: np.ndarray, up_offset: np.ndarray,
                     state: np.ndarray, tags: np.ndarray, tag_state: np.ndarray,
                     mask: np.ndarray, use_mask: bool, labels: np.ndarray,
                     out_ids: np.ndarray, out_d: np.ndarray, stats: np.ndarray) -> None:
    """K-NN-SEARCH for every row of ``queries``; writes ``out_ids`` (-1 padded) and ``out_d``.

    ``ef`` is raised to k. ``out_ids`` holds ``labels[node]`` (the caller's ids of the
    internal nodes). Distances are the kernel's kind (squared L2 / negative dot).
    """
    n = data.shape[0]
    nq = queries.shape[0]
    ef = max(ef, k)
    cand_k = np.empty(n, np.float32)
    cand_v = np.empty(n, np.int32)
    res_k = np.empty(ef + 1, np.float32)
    res_v = np.empty(ef + 1, np.int32)
    srt_k = np.empty(ef + 1, np.float32)
    srt_v = np.empty(ef + 1, np.int32)
    entry_id = np.empty(1, np.int32)
    entry_d = np.empty(1, np.float32)
    ep0 = state[0]
    top = state[1]
    one = np.int64(1)
    bottom = np.int64(0)
    for qi in range(nq):
        q = queries[qi]
        d0 = dist_query(q, data, ep0, kind)
        stats[0] += 1
        ep, d_ep = greedy_closest(q, ep0, d0, top, bottom, data, kind, links0, links_up,
                                  up_offset, stats)
        entry_id[0] = ep
        entry_d[0] = d_ep
        nr = search_layer(q, entry_id, entry_d, one, ef, bottom, data, kind, links0, links_up,
                          up_offset, tags, tag_state, cand_k, cand_v, res_k, res_v, mask,
                          use_mask, stats)
        drain_max_heap_sorted(res_k, res_v, nr, srt_k, srt_v)
        for j in range(k):
            if j < nr:
                out_ids[qi, j] = labels[srt_v[j]]
                out_d[qi, j] = srt_k[j]
            else:
                out_ids[qi, j] = -1
                out_d[qi, j] = _INF


# --------------------------------------------------------------------------- selection


@njit(**_JIT)
def _sort_pairs(keys: np.ndarray, vals: np.ndarray, n: int) -> None:
    """Insertion sort of the first n (key, val) pairs by key (stable; n is small)."""
    for i in range(1, n):
        k = keys[i]
        v = vals[i]
        j = i - 1
        while j >= 0 and keys[j] > k:
            keys[j + 1] = keys[j]
            vals[j + 1] = vals[j]
            j -= 1
        keys[j + 1] = k
        vals[j + 1] = v


@njit(**_JIT)
def select_neighbors(base: int, c_ids: np.ndarray, c_d: np.ndarray, n_c: int, m: int,
                     layer: int, heuristic: bool, extend: bool, keep_pruned: bool,
                     data: np.ndarray, kind: int, links0: np.ndarray, links_up: np.ndarray,
                     up_offset: np.ndarray, tags: np.ndarray, tag_state: np.ndarray,
                     w_ids: np.ndarray, w_d: np.ndarray, p_ids: np.ndarray, p_d: np.ndarray,
                     disc: np.ndarray, out_ids: np.ndarray, out_d: np.ndarray) -> int:
    """SELECT-NEIGHBORS for node ``base`` among candidates sorted by ascending distance.

    Simple selection keeps the m nearest. The heuristic scans candidates nearest first and
    keeps e unless an already kept r is strictly nearer to e than ``base`` is
    (d(e, r) < d(e, base), both from e; ``c_d`` holds d(base, e), the same for symmetric
    kinds); ``extend`` first adds the candidates' neighbours on ``layer``
    to the pool; ``keep_pruned`` refills up to m from the discarded ones, nearest first.
    Writes ``out_ids``/``out_d`` and returns how many were kept; ``base`` itself is never
    selected. ``w_*``, ``p_*`` and ``disc`` are scratch arrays.
    """
    if not heuristic:
        n_out = min(m, n_c)
        for i in range(n_out):
            out_ids[i] = c_ids[i]
            out_d[i] = c_d[i]
        return n_out
    if extend:
        links = links0 if layer == 0 else links_up
        tag = new_visit_tag(tags, tag_state)
        tags[base] = tag
        nw = np.int64(0)
        for i in range(n_c):
            e = c_ids[i]
            if tags[e] != tag:
                tags[e] = tag
                w_ids[nw] = e
                w_d[nw] = c_d[i]
                nw += 1
        for i in range(n_c):
            r = link_pos(c_ids[i], layer, up_offset)
            for j in range(1, links[r, 0] + 1):
                e = links[r, j]
                if tags[e] != tag:
                    tags[e] = tag
                    w_ids[nw] = e
                    w_d[nw] = dist_rows(data, base, e, kind)
                    nw += 1
        # heap sort: heapify in place, then pop into the sorted pool
        for i in range(nw):
            heap_push(w_d, w_ids, i, w_d[i], w_ids[i])
        size = nw
        for i in range(nw):
            p_ids[i] = w_ids[0]
            p_d[i] = w_d[0]
            size = heap_pop(w_d, w_ids, size)
        pool_ids = p_ids
        pool_d = p_d
    else:
        nw = n_c
        pool_ids = c_ids
        pool_d = c_d
    n_out = np.int64(0)
    n_disc = np.int64(0)
    for i in range(nw):
        if n_out >= m:
            break
        e = pool_ids[i]
        de = pool_d[i]
        # the paper's test d(e, r) < d(e, base); pool_d holds d(base, e), the same value
        # unless the kind is not symmetric
        de_back = dist_rows(data, e, base, kind) if kind == KL else de
        good = True
        for r in range(n_out):
            if dist_rows(data, e, out_ids[r], kind) < de_back:
                good = False
                break
        if good:
            out_ids[n_out] = e
            out_d[n_out] = de
            n_out += 1
        else:
            disc[n_disc] = i
            n_disc += 1
    if keep_pruned:
        for i in range(n_disc):
            if n_out >= m:
                break
            out_ids[n_out] = pool_ids[disc[i]]
            out_d[n_out] = pool_d[disc[i]]
            n_out += 1
    return n_out


# --------------------------------------------------------------------------- insert


@njit(**_JIT)
def insert_range(data: np.ndarray, kind: int, levels: np.ndarray, links0: np.ndarray,
                 links_up: np.ndarray, up_offset: np.ndarray, state: np.ndarray, start: int,
                 end: int, m: int, m_max: int, m_max0: int, ef_c: int, heuristic: bool,
                 extend: bool, keep_pruned: bool, tags: np.ndarray,
                 tag_state: np.ndarray) -> None:
    """INSERT nodes ``start..end-1`` (their vectors and levels are already in place).

    The new node gets at most m links per layer; a neighbour whose list would exceed M_max
    (M_max0 on layer 0) is shrunk by re-running the selection over its links plus the new node.
    The entry set of each lower layer is the whole result W of the layer above.
    """
    n = data.shape[0]
    ef_c = max(ef_c, m)
    mm = max(m_max, m_max0)
    width = max(ef_c, mm + 1)
    cand_k = np.empty(n, np.float32)
    cand_v = np.empty(n, np.int32)
    res_k = np.empty(ef_c + 1, np.float32)
    res_v = np.empty(ef_c + 1, np.int32)
    w_sorted_k = np.empty(ef_c + 1, np.float32)
    w_sorted_v = np.empty(ef_c + 1, np.int32)
    pool = width * (mm + 2) + 1 if extend else width + 1
    w_ids = np.empty(pool, np.int32)
    w_d = np.empty(pool, np.float32)
    p_ids = np.empty(pool, np.int32)
    p_d = np.empty(pool, np.float32)
    disc = np.empty(pool, np.int32)
    out_ids = np.empty(max(m, mm) + 1, np.int32)
    out_d = np.empty(max(m, mm) + 1, np.float32)
    s_ids = np.empty(mm + 2, np.int32)
    s_d = np.empty(mm + 2, np.float32)
    no_mask = np.zeros(1, np.bool_)
    use_mask = np.bool_(False)
    stats = np.zeros(2, np.int64)
    entry_id = np.empty(1, np.int32)
    entry_d = np.empty(1, np.float32)
    for node in range(start, end):
        level = np.int64(levels[node])
        q = data[node]
        links0[node, 0] = 0
        for lc in range(1, level + 1):
            links_up[link_pos(node, lc, up_offset), 0] = 0
        ep = state[0]
        top = state[1]
        if ep < 0:
            state[0] = node
            state[1] = level
            continue
        d_ep = dist_rows(data, node, ep, kind)
        ep, d_ep = greedy_closest(q, ep, d_ep, top, level, data, kind, links0, links_up,
                                  up_offset, stats)
        entry_id[0] = ep
        entry_d[0] = d_ep
        e_ids = entry_id
        e_d = entry_d
        n_entry = np.int64(1)
        for lc in range(min(top, level), -1, -1):
            links = links0 if lc == 0 else links_up
            cap = m_max0 if lc == 0 else m_max
            nr = search_layer(q, e_ids, e_d, n_entry, ef_c, lc, data, kind, links0, links_up,
                              up_offset, tags, tag_state, cand_k, cand_v, res_k, res_v,
                              no_mask, use_mask, stats)
            nr = drain_max_heap_sorted(res_k, res_v, nr, w_sorted_k, w_sorted_v)
            n_sel = select_neighbors(node, w_sorted_v, w_sorted_k, nr, m, lc, heuristic,
                                     extend, keep_pruned, data, kind, links0, links_up,
                                     up_offset, tags, tag_state, w_ids, w_d, p_ids, p_d, disc,
                                     out_ids, out_d)
            r_new = link_pos(node, lc, up_offset)
            links[r_new, 0] = n_sel
            for i in range(n_sel):
                links[r_new, i + 1] = out_ids[i]
            # out_ids is reused by the shrinks below: walk the new node's own list instead.
            for i in range(n_sel):
                e = np.int64(links[r_new, i + 1])
                r = link_pos(e, lc, up_offset)
                cnt = links[r, 0]
                if cnt < cap:
                    links[r, cnt + 1] = node
                    links[r, 0] = cnt + 1
                    continue
                for j in range(cnt):
                    s_ids[j] = links[r, j + 1]
                    s_d[j] = dist_rows(data, e, links[r, j + 1], kind)
                s_ids[cnt] = node
                s_d[cnt] = dist_rows(data, e, node, kind)
                _sort_pairs(s_d, s_ids, cnt + 1)
                n_keep = select_neighbors(e, s_ids, s_d, cnt + 1, cap, lc, heuristic, extend,
                                          keep_pruned, data, kind, links0, links_up, up_offset,
                                          tags, tag_state, w_ids, w_d, p_ids, p_d, disc,
                                          out_ids, out_d)
                links[r, 0] = n_keep
                for j in range(n_keep):
                    links[r, j + 1] = out_ids[j]
            e_ids = w_sorted_v
            e_d = w_sorted_k
            n_entry = nr
        if level > top:
            state[0] = node
            state[1] = level


# --------------------------------------------------------------------------- layout


@njit(**_JIT)
def bfs_order(links0: np.ndarray, start: int) -> np.ndarray:
    """Node ids in breadth-first order of layer 0 from ``start`` (unreached ones appended).

    Relabelling nodes in this order puts graph neighbours close together in memory, so a
    search touches fewer cache lines and pages; the graph itself is unchanged.
    """
    n = links0.shape[0]
    order = np.empty(n, np.int32)
    seen = np.zeros(n, np.bool_)
    head = 0
    tail = 0
    next_unseen = 0
    order[0] = start
    seen[start] = True
    tail = 1
    while tail < n:
        if head == tail:  # the rest is not reachable from start: continue from the next one
            while seen[next_unseen]:
                next_unseen += 1
            order[tail] = next_unseen
            seen[next_unseen] = True
            tail += 1
        c = order[head]
        head += 1
        for j in range(1, links0[c, 0] + 1):
            e = links0[c, j]
            if not seen[e]:
                seen[e] = True
                order[tail] = e
                tail += 1
    return order
