"""``bruteforce``: the in-house exact index, vecbench's oracle among the indexes.

Every query is compared with every indexed vector. Two paths:

- **BLAS metrics** (dense data, ``metric.blas`` in ``l2``/``ip``/``cos``: euclidean,
  sqeuclidean, ip, angular). Per block of queries and block of base vectors one float32
  matrix product (numpy ``@``: single-threaded sgemm when BLAS is pinned) gives ``q.x``; a
  numba kernel folds ``|x|^2 - 2 q.x`` (or ``-q.x``, ``-q.x / (|q| |x|)``) into a per-query
  top-``k + margin`` heap, checking each value against the row's threshold instead of
  partitioning (blocks are sized to stay in cache). The candidates are then re-ranked exactly
  in float64, ties broken by the smaller id, and each query is *certified*: the float32 error
  of any score is bounded (``|fl(q.x) - q.x| <= d u |q| |x|`` for any summation order,
  ``u = 2**-24``, plus one rounding per further operation), and the k-th exact distance must
  lie below the worst kept float32 score minus that bound, so no vector left out can enter
  the top-k or tie with it. A query that fails (heavy ties, duplicates) is recomputed over
  every vector whose float32 score is within the bound of its k-th exact distance. The
  answer is exact either way.
- **every other metric** (manhattan, chebyshev, minkowski, correlation, hamming on packed
  bits, jaccard on sets, ...): blocked float64 ``metric.pairwise`` and a running exact
  top-k per query in (distance, id) order.

``search(queries, k, filter=mask)`` returns only ids whose ``mask`` entry is True; ``add``
appends vectors (ids continue from ``n``); ``delete`` hides ids from later results. When
fewer than k vectors are allowed the answer is padded with -1 (distance +inf).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import (
    BaseIndex,
    DataKind,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    Param,
    SetData,
    VecbenchError,
    hookimpl,
)
from harness.metrics import get_metric
from harness.types import VectorData, n_items
from harness.validation import check_data, check_k
from plugins import _bruteforce_kernels as kern
from plugins._threads import check_threads, pin_threads

#: Metrics served: the BLAS forms fast, every other built-in through its ``pairwise``.
METRICS = frozenset({
    "euclidean", "sqeuclidean", "angular", "ip", "manhattan", "chebyshev", "minkowski",
    "correlation", "hamming", "hamming-normalized", "jaccard",
})

_KIND_CODES = {"l2": kern.KIND_L2, "ip": kern.KIND_IP, "cos": kern.KIND_COS}
_U32 = 2.0 ** -24
#: Smallest float32 subnormal: the absolute error of a product that underflows.
_TINY32 = 2.0 ** -149
#: Scores must stay well inside float32's range (3.4e38) for the error bound to hold.
_F32_SAFE = 1e37

#: Queries per block on the BLAS path, and float32 products per (query x base) block:
#: 512 KiB, about this machine's L2 cache per core.
QUERY_BLOCK = 256
BLOCK_PRODUCTS = 1 << 17
#: Queries and distances per block on the generic path (float64, so 8 MiB).
GENERIC_QUERY_BLOCK = 256
#: float32 scores per block when uncertified queries are rescored (16 MiB).
FALLBACK_PRODUCTS = 1 << 22
GENERIC_PRODUCTS = 1 << 20


def default_margin(k: int) -> int:
    """Extra float32 candidates per query kept for the exact re-rank."""
    return max(16, k)


def _row_norms64(x: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """Euclidean norms of the rows of a float32 array, accumulated in float64."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], chunk):
        part = x[s:s + chunk].astype(np.float64)
        out[s:s + chunk] = np.sqrt(np.einsum("ij,ij->i", part, part))
    return out


def _set_rows(data: SetData, start: int, stop: int) -> SetData:
    """Rows ``start:stop`` of CSR sets without a Python loop (indices are a view)."""
    lo, hi = int(data.indptr[start]), int(data.indptr[stop])
    indptr = np.asarray(data.indptr[start:stop + 1], dtype=np.int64) - lo
    return SetData(indptr, data.indices[lo:hi])


def _rows(data: VectorData, start: int, stop: int) -> VectorData:
    if isinstance(data, SetData):
        return _set_rows(data, start, stop)
    return data[start:stop]


def _concat(a: VectorData, b: VectorData) -> VectorData:
    if isinstance(a, SetData) and isinstance(b, SetData):
        tail = np.asarray(b.indptr[1:], dtype=np.int64) + int(a.indptr[-1])
        indptr = np.concatenate([np.asarray(a.indptr, dtype=np.int64), tail])
        indices = np.concatenate([np.asarray(a.indices), np.asarray(b.indices)])
        return SetData(indptr, indices.astype(np.int32, copy=False))
    return np.concatenate([a, b])


class BruteForceIndex(BaseIndex):
    """Exact k-NN by exhaustive comparison (see the module docstring).

    :param metric: a metric spec (``"euclidean"``, ``"minkowski:p=3"``, ``"jaccard"``...).
    :param margin: extra float32 candidates per query on the BLAS path (default
        ``max(16, k)``); only speed depends on it, never the result.
    """

    def __init__(self, metric: str = "euclidean", margin: int | None = None) -> None:
        bound = get_metric(metric)
        super().__init__(bound.name)
        self.bound_metric = bound
        self.kind = bound.data_kind
        self.margin = margin
        if margin is not None and (isinstance(margin, bool) or not isinstance(margin, int)
                                   or margin < 0):
            raise InvalidInputError(f"bruteforce: margin must be an int >= 0, got {margin!r}")
        blas = bound.blas if bound.data_kind is DataKind.DENSE else None
        self._kind_code: int | None = _KIND_CODES.get(blas) if blas else None
        self._data: VectorData | None = None
        self._alive: np.ndarray | None = None  # None: nothing deleted
        self._norms64: np.ndarray | None = None
        self._add32: np.ndarray | None = None
        self._scale32: np.ndarray | None = None
        self._reset_stats()

    # ------------------------------------------------------------------ building
    def _build(self, data: VectorData) -> None:
        self._data = data
        self._alive = None
        self._prepare(data, append=False)

    def _prepare(self, new: VectorData, append: bool) -> None:
        """Per-vector arrays of the BLAS path for ``new`` rows (appended if ``append``)."""
        if self._kind_code is None:
            return
        assert isinstance(new, np.ndarray)
        norms = _row_norms64(new)
        if self._kind_code == kern.KIND_L2:
            add = (norms ** 2).astype(np.float32)
        else:
            add = np.zeros(len(new), dtype=np.float32)
        scale = None
        if self._kind_code == kern.KIND_COS:
            with np.errstate(divide="ignore", over="ignore"):
                scale = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0),
                                 0.0).astype(np.float32)
        if append:
            assert self._norms64 is not None and self._add32 is not None
            norms = np.concatenate([self._norms64, norms])
            add = np.concatenate([self._add32, add])
            if scale is not None:
                assert self._scale32 is not None
                scale = np.concatenate([self._scale32, scale])
        self._norms64, self._add32, self._scale32 = norms, add, scale

    def add(self, data: VectorData) -> np.ndarray:
        """Append vectors; they get ids ``n, n+1, ...`` (returned)."""
        if self._data is None:
            self.build(data)
            return np.arange(self.n, dtype=np.int64)
        data = check_data(data, self.kind, "added data", dim=self.dim)
        first = self.n
        self._data = _concat(self._data, data)
        self.n = n_items(self._data)
        if self._alive is not None:
            self._alive = np.concatenate([self._alive, np.ones(self.n - first, dtype=bool)])
        self._prepare(data, append=True)
        return np.arange(first, self.n, dtype=np.int64)

    def delete(self, ids: Any) -> None:
        """Hide ``ids`` from every later search (deleting an id twice is harmless)."""
        idx = _check_ids(ids, self.n, "bruteforce.delete")
        if self._alive is None:
            self._alive = np.ones(self.n, dtype=bool)
        self._alive[idx] = False

    def set_threads(self, threads: int) -> None:
        """Pin the BLAS pools this index's matrix products run on."""
        pin_threads(check_threads(threads, "bruteforce"), refresh=True)

    # ------------------------------------------------------------------ searching
    def search(self, queries: VectorData, k: int, filter: Any = None,
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Exact top-``k`` of each query: ids int64 (nq, k), distances float64 (nq, k).

        :param filter: optional boolean mask of length ``n``; only ids where it is True are
            returned. Fewer than k allowed ids: the rest is -1 (distance +inf).
        """
        if self._data is None:
            raise VecbenchError("search() called before build()")
        queries = check_data(queries, self.kind, "queries", dim=self.dim)
        k = check_k(k, self.n)
        allowed = self._allowed(filter)
        return self._search_allowed(queries, k, allowed)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self._search_allowed(queries, k, self._allowed(None))

    def _allowed(self, mask: Any) -> np.ndarray | None:
        """The allowed-id mask (filter and deletions combined), or None when all are."""
        if mask is None:
            return self._alive
        arr = np.asarray(mask)
        if arr.dtype != bool:
            raise InvalidInputError(
                f"filter must be a boolean mask of length {self.n} (True = allowed), got "
                f"dtype {arr.dtype}")
        if arr.shape != (self.n,):
            raise InvalidInputError(
                f"filter must be a boolean mask of shape ({self.n},), got shape {arr.shape}")
        return arr if self._alive is None else arr & self._alive

    def _search_allowed(self, queries: VectorData, k: int, allowed: np.ndarray | None,
                        ) -> tuple[np.ndarray, np.ndarray]:
        if self._kind_code is not None:
            assert isinstance(queries, np.ndarray)
            out = self._search_blas(queries, k, allowed)
            if out is not None:
                return out
        return self._search_generic(queries, k, allowed)

    # ---- BLAS path
    def _search_blas(self, queries: np.ndarray, k: int, allowed: np.ndarray | None,
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        base = self._data
        assert isinstance(base, np.ndarray)
        assert self._norms64 is not None and self._add32 is not None
        kind = self._kind_code
        assert kind is not None
        n, dim = base.shape
        nq = queries.shape[0]
        q_norms = _row_norms64(queries)
        x_max = float(self._norms64.max())
        q_max = float(q_norms.max())
        gamma = dim * _U32 / (1.0 - dim * _U32)
        tiny = (2 * dim + 8) * _TINY32
        if kind == kern.KIND_L2:
            if 2.0 * (x_max + q_max) ** 2 > _F32_SAFE:
                return None  # scores would overflow float32: exact float64 path instead
            scaled = queries * np.float32(-2.0)
            offset = q_norms ** 2
            bound = 1.05 * ((2 * gamma + 3 * _U32) * q_norms * x_max
                            + 3 * _U32 * x_max ** 2) + tiny
        elif kind == kern.KIND_IP:
            if 2.0 * x_max * q_max > _F32_SAFE:
                return None
            scaled = -queries
            offset = np.zeros(nq)
            bound = 1.05 * (gamma + _U32) * q_norms * x_max + tiny
        else:
            assert self._scale32 is not None
            scale_max = float(self._scale32.max())
            if not np.isfinite(self._scale32).all() or scale_max * x_max > _F32_SAFE:
                return None
            safe = np.where(q_norms > 0, q_norms, 1.0)
            scaled = (-(queries.astype(np.float64) / safe[:, None])).astype(np.float32)
            offset = np.ones(nq)
            bound = np.full(nq, 1.05 * (gamma + 6 * _U32) + tiny * max(scale_max, 1.0))

        add = self._add32
        if allowed is not None:
            add = np.where(allowed, add, np.float32(np.inf))
        n_cand = min(n, k + (default_margin(k) if self.margin is None else self.margin))
        heap_d = np.full((nq, n_cand), np.inf, dtype=np.float32)
        heap_i = np.full((nq, n_cand), -1, dtype=np.int64)
        q_block = min(nq, QUERY_BLOCK)
        b_block = min(n, max(4 * kern.CHUNK, BLOCK_PRODUCTS // q_block))
        buf = np.empty(q_block * b_block, dtype=np.float32)
        scale = self._scale32
        for q0 in range(0, nq, q_block):
            q1 = min(q0 + q_block, nq)
            qs = scaled[q0:q1]
            hd, hi = heap_d[q0:q1], heap_i[q0:q1]
            for b0 in range(0, n, b_block):
                b1 = min(b0 + b_block, n)
                prod = buf[:(q1 - q0) * (b1 - b0)].reshape(q1 - q0, b1 - b0)
                np.matmul(qs, base[b0:b1].T, out=prod)
                if scale is None:
                    kern.scan_add(prod, add[b0:b1], b0, hd, hi)
                else:
                    kern.scan_scaled(prod, scale[b0:b1], add[b0:b1], b0, hd, hi)
        self._stats["distance_computations"] += float(nq) * n

        ids = np.empty((nq, k), dtype=np.int64)
        dist = np.empty((nq, k), dtype=np.float64)
        certified = np.empty(nq, dtype=np.uint8)
        heap_top = heap_d[:, 0].copy() if nq else np.zeros(0, np.float32)
        kern.rerank(kind, queries, q_norms, base, self._norms64, heap_i, heap_top, offset,
                    bound, ids, dist, certified)
        if kind == kern.KIND_COS:
            for i in np.flatnonzero(q_norms == 0):
                ids[i], dist[i] = self._zero_query_cos(k, allowed)
                certified[i] = 1
        failed = np.flatnonzero(certified == 0)
        self._stats["fallback_queries"] += float(len(failed))
        if len(failed):
            thresholds = dist[:, k - 1] - offset + bound
            self._fallback(failed, queries, q_norms, scaled, add, thresholds, ids, dist)
        return ids, self._report(queries, ids, dist)

    def _fallback(self, rows: np.ndarray, queries: np.ndarray, q_norms: np.ndarray,
                  scaled: np.ndarray, add: np.ndarray, thresholds: np.ndarray,
                  ids: np.ndarray, dist: np.ndarray) -> None:
        """Exact top-k of the queries ``rows`` among every vector whose float32 score may be
        within their k-th exact distance (``thresholds``, in score units, error bound
        included); fills ``ids[rows]`` and ``dist[rows]``."""
        base = self._data
        kind = self._kind_code
        assert isinstance(base, np.ndarray) and self._norms64 is not None and kind is not None
        k = ids.shape[1]
        step = max(1, FALLBACK_PRODUCTS // self.n)
        for c0 in range(0, len(rows), step):
            chunk = rows[c0:c0 + step]
            scores = scaled[chunk] @ base.T
            if self._scale32 is not None:
                scores *= self._scale32
            scores += add
            for r, i in enumerate(chunk):
                near = np.flatnonzero(scores[r].astype(np.float64) <= thresholds[i])
                exact = np.empty(len(near), dtype=np.float64)
                kern.exact_rows(kind, queries, int(i), q_norms[i], base, self._norms64, near,
                                exact)
                order = np.lexsort((near, exact))[:k]
                ids[i] = -1
                dist[i] = np.inf
                ids[i, :len(order)] = near[order]
                dist[i, :len(order)] = exact[order]

    def _zero_query_cos(self, k: int, allowed: np.ndarray | None,
                        ) -> tuple[np.ndarray, np.ndarray]:
        """A zero query under the angular convention: zero vectors at 0, the rest at 1."""
        assert self._norms64 is not None
        pool = np.arange(self.n) if allowed is None else np.flatnonzero(allowed)
        zero = self._norms64[pool] == 0
        order = np.concatenate([pool[zero], pool[~zero]])[:k]
        ids = np.full(k, -1, dtype=np.int64)
        dist = np.full(k, np.inf)
        ids[:len(order)] = order
        dist[:len(order)] = np.where(self._norms64[order] == 0, 0.0, 1.0)
        return ids, dist

    def _report(self, queries: np.ndarray, ids: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """Distances in the metric's own units (the kernels rank by squared euclidean)."""
        name = self.bound_metric.info.name
        if name in ("sqeuclidean", "ip", "angular"):
            return dist
        if name == "euclidean":
            return np.sqrt(dist)
        out = np.full(ids.shape, np.inf)  # another metric that ranks like a BLAS form
        found = ids >= 0
        if found.any():
            rows = np.nonzero(found)[0]
            assert isinstance(self._data, np.ndarray)
            out[found] = self.bound_metric.rowwise(queries[rows], self._data[ids[found]])
        return out

    # ---- generic path
    def _search_generic(self, queries: VectorData, k: int, allowed: np.ndarray | None,
                        ) -> tuple[np.ndarray, np.ndarray]:
        data = self._data
        assert data is not None
        n, nq = self.n, n_items(queries)
        mask = (np.ones(n, dtype=np.uint8) if allowed is None
                else np.ascontiguousarray(allowed, dtype=np.uint8))
        heap_d = np.full((nq, k), np.inf)
        heap_i = np.full((nq, k), kern.EMPTY_ID, dtype=np.int64)
        q_block = min(nq, GENERIC_QUERY_BLOCK)
        b_block = min(n, max(256, GENERIC_PRODUCTS // q_block))
        metric = self.bound_metric
        for b0 in range(0, n, b_block):
            b1 = min(b0 + b_block, n)
            if not mask[b0:b1].any():
                continue
            block = _rows(data, b0, b1)
            for q0 in range(0, nq, q_block):
                q1 = min(q0 + q_block, nq)
                dist = np.ascontiguousarray(metric.pairwise(_rows(queries, q0, q1), block),
                                            dtype=np.float64)
                kern.scan_exact(dist, mask[b0:b1], b0, heap_d[q0:q1], heap_i[q0:q1])
        self._stats["distance_computations"] += float(nq) * n
        kern.sort_pairs(heap_d, heap_i)
        empty = heap_i == kern.EMPTY_ID
        heap_i[empty] = -1
        heap_d[empty] = np.inf
        return heap_i, heap_d

    # ------------------------------------------------------------------ the rest
    def warmup(self, sample: VectorData) -> None:
        """Compile (or load from numba's cache) every kernel this metric's searches use."""
        rng = np.random.default_rng(0)
        if self._kind_code is not None:
            x = rng.standard_normal((40, 4)).astype(np.float32)
            q = x[:3].copy()
            prod = np.ascontiguousarray(q @ x.T)
            hd = np.full((3, 5), np.inf, dtype=np.float32)
            hi = np.full((3, 5), -1, dtype=np.int64)
            add = np.zeros(40, dtype=np.float32)
            kern.scan_add(prod, add, 0, hd, hi)
            kern.scan_scaled(prod, add + 1, add, 0, hd, hi)
            norms = np.ones(40)
            ids = np.empty((3, 2), dtype=np.int64)
            dist = np.empty((3, 2))
            kern.rerank(self._kind_code, q, norms[:3], x, norms, hi, hd[:, 0].copy(),
                        np.zeros(3), np.zeros(3), ids, dist, np.empty(3, dtype=np.uint8))
            kern.exact_rows(self._kind_code, q, 0, 1.0, x, norms, np.arange(3),
                            np.empty(3))
        d = rng.random((3, 6))
        hd64 = np.full((3, 2), np.inf)
        hi64 = np.full((3, 2), kern.EMPTY_ID, dtype=np.int64)
        kern.scan_exact(d, np.ones(6, dtype=np.uint8), 0, hd64, hi64)
        kern.sort_pairs(hd64, hi64)

    def query_stats(self) -> dict[str, float]:
        """``distance_computations`` (query x vector pairs scored) and ``fallback_queries``
        (queries the float32 candidates could not certify, recomputed)."""
        return dict(self._stats)

    def _reset_stats(self) -> None:
        self._stats = {"distance_computations": 0.0, "fallback_queries": 0.0}

    def _owned_arrays(self) -> list[Any]:
        return [self._data, self._alive, self._norms64, self._add32, self._scale32]


def _check_ids(ids: Any, n: int, owner: str) -> np.ndarray:
    """Ids as an int64 array within [0, n), or a clear error."""
    arr = np.atleast_1d(np.asarray(ids))
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{owner}: ids must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64).ravel()
    bad = arr[(arr < 0) | (arr >= n)]
    if len(bad):
        raise InvalidInputError(f"{owner}: id {int(bad[0])} is out of range [0, {n})")
    return arr


def make_bruteforce(metric: str = "euclidean", margin: int = -1) -> BruteForceIndex:
    """Factory of :class:`BruteForceIndex` (``margin=-1``: the default ``max(16, k)``)."""
    return BruteForceIndex(metric, margin=None if margin < 0 else margin)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the exact brute-force index."""
    register(IndexInfo(
        name="bruteforce",
        factory=make_bruteforce,
        capabilities=IndexCapabilities(
            metrics=METRICS,
            data_kinds=frozenset({DataKind.DENSE, DataKind.BINARY, DataKind.SETS}),
            exact=True, filter=True, add=True, delete=True, threads=True, jit=True),
        build_params=(
            Param("margin", -1, int, low=-1,
                  help="extra float32 candidates per query before the exact re-rank "
                       "(-1: max(16, k)); affects speed only"),
        ),
        description="exact k-NN: blocked sgemm + numba top-k, float64 re-rank (the oracle)",
    ))
