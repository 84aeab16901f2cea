"""Exact k-nearest-neighbour ground truth: blocked BLAS pre-selection, exact float64 re-rank.

:func:`exact_knn` returns, for every query, the ``depth`` nearest base vectors under a metric,
ties broken by the smaller id, with float64 distances. Two paths:

- **BLAS metrics** (``metric.blas`` in ``"l2"``, ``"ip"``, ``"cos"``): a float32 matrix product
  per (query block x base block) scores every pair in the form the metric ranks by
  (``|x|^2 - 2 q.x``, ``-q.x`` or ``-q^.x^`` on unit rows) and keeps the best
  ``depth + margin`` candidates per query. The candidates are then re-ranked with the metric's
  own float64 ``rowwise`` distance, ties by id.

  float32 scores are not exact, so pre-selection could drop a true neighbour or a tied one.
  The rounding error of every score is bounded by E (``|fl(q.x) - q.x| <= d u |q| |x| / (1 -
  d u)`` for any summation order, ``u = 2**-24``, plus one rounding per further operation).
  With ``t`` the ``depth``-th best float32 score of a query, some ``depth`` vectors have an
  exact score ``<= t + E``, so any vector whose float32 score is above ``t + 2E`` is strictly
  worse than them and cannot be in the top ``depth``, not even by a tie. A query is
  *certified* when its worst kept candidate scores above ``t + 2E``: nothing left out can
  matter. The margin only makes this likely. For the queries that fail (ties or near-ties at
  the cut, huge norms) a second pass collects every base vector scoring ``<= t + 2E`` (a
  variable number) and re-ranks all of them, so the result is exact either way.

- **other metrics** (and data beyond float32's safe range): blocked float64 ``pairwise`` over
  (query block x base block) with a running top-``depth`` per query, ties by id.

Memory is bounded by the block sizes, not by the number of base vectors: the BLAS path holds
one float32 (query block x base block) score matrix and the candidates; the generic path one
float64 block. BLAS threads are left as configured (ground truth is preprocessing).

:func:`check_groundtruth` spot-checks ground truth that came with a dataset (ann-benchmarks
HDF5 files) against the metric on a seeded sample of queries.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from harness.errors import InvalidInputError
from harness.types import SetData, VectorData, n_items

#: float32 unit roundoff.
_U32 = 2.0 ** -24
#: Largest |value| for the float32 path: squared norms must stay far from float32 overflow.
_BLAS_SAFE = 1e15


class GroundTruthError(InvalidInputError):
    """Ground truth that disagrees with the dataset's metric (wrong ids or distances)."""


class MetricLike(Protocol):
    """What the ground-truth code needs of a metric (``harness.metrics.BoundMetric``)."""

    @property
    def name(self) -> str: ...

    @property
    def blas(self) -> str | None: ...

    def pairwise(self, x: Any, y: Any) -> np.ndarray: ...

    def rowwise(self, x: Any, y: Any) -> np.ndarray: ...


def _as_metric(metric: MetricLike | str) -> MetricLike:
    if isinstance(metric, str):
        from harness.metrics import get_metric

        return get_metric(metric)
    return metric


# --------------------------------------------------------------------------- top-k merging


def _merge_topk(dists: np.ndarray, ids: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``depth`` smallest ``dists`` ordered by (distance, id).

    ``np.argpartition`` alone picks arbitrarily among values tied at the cut, so rows where
    ties straddle the cut are finished with an exact (distance, id) sort of the few values
    at or below it.
    """
    width = dists.shape[1]
    if width <= depth:
        order = np.lexsort((ids, dists), axis=1)
        return (np.take_along_axis(dists, order, axis=1),
                np.take_along_axis(ids, order, axis=1))
    part = np.argpartition(dists, depth - 1, axis=1)[:, :depth]
    sel_d = np.take_along_axis(dists, part, axis=1)
    sel_i = np.take_along_axis(ids, part, axis=1)
    cut = sel_d.max(axis=1)
    at_or_below = (dists <= cut[:, None]).sum(axis=1)
    for row in np.flatnonzero(at_or_below > depth):
        cols = np.flatnonzero(dists[row] <= cut[row])
        order = np.lexsort((ids[row, cols], dists[row, cols]))[:depth]
        sel_d[row] = dists[row, cols[order]]
        sel_i[row] = ids[row, cols[order]]
    order = np.lexsort((sel_i, sel_d), axis=1)
    return np.take_along_axis(sel_d, order, axis=1), np.take_along_axis(sel_i, order, axis=1)


def _rows(data: VectorData, start: int, stop: int) -> VectorData:
    if isinstance(data, SetData):
        return data[start:stop]
    return data[start:stop]


def _take(data: VectorData, idx: np.ndarray) -> VectorData:
    if isinstance(data, SetData):
        return data[idx]
    return data[idx]


# --------------------------------------------------------------------------- generic path


def _exact_generic(train: VectorData, test: VectorData, metric: MetricLike, depth: int,
                   block_queries: int, block_base: int) -> tuple[np.ndarray, np.ndarray]:
    n_base, n_query = n_items(train), n_items(test)
    out_i = np.empty((n_query, depth), dtype=np.int64)
    out_d = np.empty((n_query, depth), dtype=np.float64)
    for q0 in range(0, n_query, block_queries):
        q1 = min(q0 + block_queries, n_query)
        queries = _rows(test, q0, q1)
        best_d = np.empty((q1 - q0, 0), dtype=np.float64)
        best_i = np.empty((q1 - q0, 0), dtype=np.int64)
        for b0 in range(0, n_base, block_base):
            b1 = min(b0 + block_base, n_base)
            block = np.asarray(metric.pairwise(queries, _rows(train, b0, b1)), dtype=np.float64)
            if block.shape != (q1 - q0, b1 - b0):
                raise InvalidInputError(
                    f"metric {metric.name!r}: pairwise returned shape {block.shape}, "
                    f"expected {(q1 - q0, b1 - b0)}")
            if np.isnan(block).any():
                row, col = np.argwhere(np.isnan(block))[0]
                raise InvalidInputError(
                    f"metric {metric.name!r} gave NaN for query {q0 + row} and base vector "
                    f"{b0 + col}; check the data (zero vectors under a cosine metric?)")
            ids = np.broadcast_to(np.arange(b0, b1, dtype=np.int64), block.shape)
            best_d, best_i = _merge_topk(np.concatenate([best_d, block], axis=1),
                                         np.concatenate([best_i, ids], axis=1), depth)
        out_d[q0:q1] = best_d
        out_i[q0:q1] = best_i
    return out_i, out_d


# --------------------------------------------------------------------------- BLAS path


def _row_norms64(x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Euclidean norms of the rows of a float32 array, accumulated in float64, in chunks."""
    out = np.empty(x.shape[0], dtype=np.float64)
    for s in range(0, x.shape[0], chunk):
        part = x[s:s + chunk].astype(np.float64)
        out[s:s + chunk] = np.sqrt(np.einsum("ij,ij->i", part, part))
    return out


def _normalized32(x: np.ndarray, norms: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Rows scaled to unit length in float64, then rounded to float32 (zero rows stay zero)."""
    out = np.empty(x.shape, dtype=np.float32)
    safe = np.where(norms == 0, 1.0, norms)
    for s in range(0, x.shape[0], chunk):
        out[s:s + chunk] = x[s:s + chunk] / safe[s:s + chunk, None]
    return out


class _Scorer:
    """float32 scores in the BLAS form of a metric, with a bound on their rounding error.

    Scores: ``|x|^2 - 2 q.x`` (l2), ``-q.x`` (ip), ``-q^.x^`` (cos, unit rows). Queries are
    scaled by -2 or -1 before the product; scaling by a power of two is exact, so the error
    analysis is that of a plain float32 dot product.
    """

    def __init__(self, kind: str, train: np.ndarray, test: np.ndarray) -> None:
        self.kind = kind
        n_base, dim = train.shape
        gamma = dim * _U32 / (1.0 - dim * _U32)
        base_norm = _row_norms64(train)
        query_norm = _row_norms64(test)
        # train/test may be float64: their rounding to float32 adds at most 2.01 u |q| |x|
        # to a dot product, covered by the extra terms below.
        if kind == "cos":
            self.base = _normalized32(train, base_norm)
            queries = _normalized32(test, query_norm)
            self.base_sq: np.ndarray | None = None
            # rounding the unit rows to float32 (2u), the product (gamma), margin (2u)
            self.bound = np.full(len(test), gamma + 4 * _U32)
        else:
            self.base = train.astype(np.float32, copy=False)
            queries = test.astype(np.float32, copy=False)
            max_norm = float(base_norm.max()) if n_base else 0.0
            if kind == "l2":
                self.base_sq = (base_norm ** 2).astype(np.float32)
                # 2 gamma |q||x| (product), u |x|^2 (rounded |x|^2), u |s| (final addition)
                self.bound = ((2 * gamma + 8 * _U32) * query_norm * max_norm
                              + 3 * _U32 * max_norm ** 2)
            else:
                self.base_sq = None
                self.bound = (gamma + 4 * _U32) * query_norm * max_norm
        self.bound = self.bound * 1.05
        self.queries = queries * np.float32(-2.0 if kind == "l2" else -1.0)

    def scores(self, q0: int, q1: int, b0: int, b1: int,
               rows: np.ndarray | None = None) -> np.ndarray:
        """float32 scores of queries ``q0:q1`` (or ``rows``) against base ``b0:b1``."""
        queries = self.queries[rows] if rows is not None else self.queries[q0:q1]
        out = queries @ self.base[b0:b1].T
        if self.base_sq is not None:
            out += self.base_sq[b0:b1]
        return out


def _rerank(train: np.ndarray, test: np.ndarray, metric: MetricLike, rows: np.ndarray,
            ids: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact float64 distances of (query ``rows[i]``, base ``ids[i]``) pairs; per query the
    ``depth`` best by (distance, id). ``rows`` must be non-decreasing and every query must
    have at least ``depth`` pairs. Returns (query rows, ids (m, depth), distances)."""
    dist = np.empty(len(ids), dtype=np.float64)
    step = max(1, (32 << 20) // (8 * train.shape[1]))
    for s in range(0, len(ids), step):
        e = min(s + step, len(ids))
        dist[s:e] = metric.rowwise(test[rows[s:e]], train[ids[s:e]])
    if np.isnan(dist).any():
        raise InvalidInputError(f"metric {metric.name!r} gave NaN distances")
    order = np.lexsort((ids, dist, rows))
    rows, ids, dist = rows[order], ids[order], dist[order]
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    take = (starts[:, None] + np.arange(depth)[None, :])
    return rows[starts], ids[take], dist[take]


def _exact_blas(train: np.ndarray, test: np.ndarray, metric: MetricLike, depth: int,
                margin: int, block_queries: int, block_base: int,
                stats: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    kind = str(metric.blas)
    n_base = train.shape[0]
    n_query = test.shape[0]
    n_cand = min(n_base, depth + margin)
    scorer = _Scorer(kind, train, test)
    out_i = np.empty((n_query, depth), dtype=np.int64)
    out_d = np.empty((n_query, depth), dtype=np.float64)
    failed: list[np.ndarray] = []
    thresholds = np.empty(n_query, dtype=np.float64)

    for q0 in range(0, n_query, block_queries):
        q1 = min(q0 + block_queries, n_query)
        cand_s = np.empty((q1 - q0, 0), dtype=np.float32)
        cand_i = np.empty((q1 - q0, 0), dtype=np.int64)
        for b0 in range(0, n_base, block_base):
            b1 = min(b0 + block_base, n_base)
            scores = scorer.scores(q0, q1, b0, b1)
            # the best n_cand of each block, then of (kept so far + those)
            if scores.shape[1] > n_cand:
                keep = np.argpartition(scores, n_cand - 1, axis=1)[:, :n_cand]
                blk_s = np.take_along_axis(scores, keep, axis=1)
                blk_i = keep.astype(np.int64) + b0
            else:
                blk_s = scores
                blk_i = np.broadcast_to(np.arange(b0, b1, dtype=np.int64), scores.shape)
            cand_s = np.concatenate([cand_s, blk_s], axis=1)
            cand_i = np.concatenate([cand_i, blk_i], axis=1)
            if cand_s.shape[1] > n_cand:
                keep = np.argpartition(cand_s, n_cand - 1, axis=1)[:, :n_cand]
                cand_s = np.take_along_axis(cand_s, keep, axis=1)
                cand_i = np.take_along_axis(cand_i, keep, axis=1)

        # Certification (module docstring): everything left out must score above
        # t + 2E, t the depth-th best float32 score and E the error bound of one score.
        kth = np.partition(cand_s, depth - 1, axis=1)[:, depth - 1].astype(np.float64)
        bound = scorer.bound[q0:q1]
        limit = kth + 2 * bound + 1e-12 * (np.abs(kth) + bound)
        thresholds[q0:q1] = limit
        worst = cand_s.max(axis=1).astype(np.float64)
        ok = (worst > limit) | (cand_s.shape[1] >= n_base)
        if ok.any():
            # only candidates within the limit can be in the top depth: re-rank just those
            r, c = np.nonzero(ok[:, None] & (cand_s <= limit[:, None]))
            got_rows, ids, dists = _rerank(train, test, metric, r + q0, cand_i[r, c], depth)
            out_i[got_rows], out_d[got_rows] = ids, dists
        if not ok.all():
            failed.append(np.flatnonzero(~ok) + q0)

    # Queries whose kept candidates could not be certified (ties or near-ties at the cut,
    # extreme norms): a second pass collects *every* base vector scoring within the limit.
    bad = np.concatenate(failed) if failed else np.zeros(0, dtype=np.int64)
    stats["fallback_queries"] = len(bad)
    collected = 0
    # a query may collect every base vector (a zero query under cos, huge tie groups):
    # keep the pairs of one chunk of queries within ~8M
    chunk = max(1, min(block_queries, (8 << 20) // max(1, n_base)))
    for s in range(0, len(bad), chunk):
        rows = bad[s:s + chunk]
        pair_rows: list[np.ndarray] = []
        pair_ids: list[np.ndarray] = []
        for b0 in range(0, n_base, block_base):
            b1 = min(b0 + block_base, n_base)
            scores = scorer.scores(0, 0, b0, b1, rows=rows)
            r, c = np.nonzero(scores <= thresholds[rows][:, None])
            pair_rows.append(rows[r])
            pair_ids.append(c.astype(np.int64) + b0)
        all_rows = np.concatenate(pair_rows)
        all_ids = np.concatenate(pair_ids)
        order = np.argsort(all_rows, kind="stable")
        collected += len(all_rows)
        got_rows, ids, dists = _rerank(train, test, metric, all_rows[order], all_ids[order],
                                       depth)
        out_i[got_rows], out_d[got_rows] = ids, dists
    stats["fallback_candidates"] = collected
    return out_i, out_d


# --------------------------------------------------------------------------- public API


def exact_knn(train: VectorData, test: VectorData, metric: MetricLike | str, depth: int, *,
              margin: int | None = None, block_queries: int | None = None,
              block_base: int | None = None,
              stats: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``depth`` neighbours of every query, ties broken by the smaller id.

    :param train: base vectors (dense float32 (n, d), bit-packed uint8, or SetData).
    :param test: queries, same kind as ``train``.
    :param metric: a bound metric (``harness.metrics.get_metric(...)``) or its spec string.
    :param depth: neighbours per query; at most the number of base vectors.
    :param margin: extra float32 candidates per query on the BLAS path (default
        ``max(depth, 32)``); only speed depends on it, never the result.
    :param block_queries: queries per block (memory bound).
    :param block_base: base vectors per block (memory bound).
    :param stats: if given, filled with ``path``, ``candidates`` and ``fallback_queries``.
    :returns: ``(ids int64 (nq, depth), distances float64 (nq, depth))``, ascending.
    """
    bound_metric = _as_metric(metric)
    n_base, n_query = n_items(train), n_items(test)
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 1:
        raise InvalidInputError(f"depth must be a positive integer, got {depth!r}")
    if depth > n_base:
        raise InvalidInputError(
            f"depth={depth} is larger than the number of base vectors ({n_base})")
    depth = int(depth)
    info = stats if stats is not None else {}
    if n_query == 0:
        info.update(path="empty", candidates=0, fallback_queries=0)
        return np.zeros((0, depth), np.int64), np.zeros((0, depth), np.float64)

    dense = not isinstance(train, SetData) and not isinstance(test, SetData)
    blas = getattr(bound_metric, "blas", None)
    use_blas = dense and blas in ("l2", "ip", "cos")
    if use_blas:
        train_arr = np.ascontiguousarray(train)
        test_arr = np.ascontiguousarray(test)
        if train_arr.ndim != 2 or test_arr.ndim != 2 or train_arr.shape[1] != test_arr.shape[1]:
            raise InvalidInputError(f"train has shape {train_arr.shape} and test "
                                    f"{test_arr.shape}; expected (n, d) and (m, d)")
        use_blas = (_real(train_arr.dtype) and _real(test_arr.dtype)
                    and _max_abs(train_arr) < _BLAS_SAFE and _max_abs(test_arr) < _BLAS_SAFE)
    if use_blas:
        marg = max(depth, 32) if margin is None else int(margin)
        if marg < 0:
            raise InvalidInputError(f"margin must be >= 0, got {marg}")
        bq = block_queries or 1024
        bb = block_base or max(1024, (64 << 20) // (4 * bq))
        info.update(path="blas", candidates=min(n_base, depth + marg))
        ids, dists = _exact_blas(train_arr, test_arr, bound_metric, depth, marg, bq, bb, info)
        return ids, dists
    bq = block_queries or 256
    bb = block_base or 8192
    info.update(path="generic", candidates=n_base, fallback_queries=0)
    return _exact_generic(train, test, bound_metric, depth, bq, bb)


def _max_abs(a: np.ndarray) -> float:
    """Largest |value| without an |a| temporary (NaN counts as unsafe)."""
    if a.size == 0:
        return 0.0
    top = max(abs(float(a.max())), abs(float(a.min())))
    return top if top == top else math.inf


def _real(dtype: np.dtype) -> bool:
    return bool(np.issubdtype(dtype, np.floating) or np.issubdtype(dtype, np.integer))


def check_groundtruth(train: VectorData, test: VectorData, ids: np.ndarray,
                      dists: np.ndarray | None, metric: MetricLike | str, *,
                      sample: int = 100, seed: int = 0, rtol: float = 1e-4,
                      atol: float = 1e-5) -> dict[str, Any]:
    """Spot-check ground truth against the metric on a seeded sample of queries.

    For each sampled query: the distances of the given ids, recomputed in float64, must be
    the exact top-G distances rank by rank (so near-ties may be in either order), and the
    given distances (if any) must equal the recomputed ones. Tolerance:
    ``|a - b| <= atol + rtol * |b|`` (ann-benchmarks stores float32).

    :raises GroundTruthError: naming the query, rank and both values on the first mismatch.
    :returns: a summary: queries checked, largest id-rank and distance deviations.
    """
    bound_metric = _as_metric(metric)
    ids = np.asarray(ids)
    n_base, n_query = n_items(train), n_items(test)
    if ids.ndim != 2 or ids.shape[0] != n_query:
        raise GroundTruthError(
            f"ground-truth neighbors have shape {ids.shape}; expected ({n_query}, depth)")
    depth = ids.shape[1]
    if depth == 0:
        raise GroundTruthError("ground-truth neighbors have depth 0")
    if not np.issubdtype(ids.dtype, np.integer):
        raise GroundTruthError(f"ground-truth neighbors must be integers, got {ids.dtype}")
    if ids.min() < 0 or ids.max() >= n_base:
        raise GroundTruthError(
            f"ground-truth neighbors hold ids outside [0, {n_base}): "
            f"min {int(ids.min())}, max {int(ids.max())}")
    if dists is not None and np.shape(dists) != ids.shape:
        raise GroundTruthError(f"ground-truth distances have shape {np.shape(dists)}, "
                               f"neighbors {ids.shape}")
    if depth > n_base:
        raise GroundTruthError(f"ground truth depth {depth} exceeds the base size {n_base}")
    ordered = np.sort(ids, axis=1)
    repeated = np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1))
    if len(repeated):
        raise GroundTruthError(
            f"ground-truth neighbors list an id twice (first in query {int(repeated[0])}; "
            f"{len(repeated)} queries affected)")
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(n_query, size=min(sample, n_query), replace=False))
    queries = _take(test, picked)
    given = ids[picked].astype(np.int64)
    recomputed = _rowwise_many(bound_metric, queries, train, given)
    _, true_d = exact_knn(train, queries, bound_metric, depth)

    def _compare(got: np.ndarray, want: np.ndarray, what: Callable[[int, int], str]) -> float:
        err = np.abs(got - want)
        allowed = atol + rtol * np.abs(want)
        bad = np.argwhere(~(err <= allowed))
        if len(bad):
            row, col = (int(v) for v in bad[0])
            raise GroundTruthError(what(row, col))
        scaled = err / np.maximum(allowed, 1e-300)
        return float(scaled.max()) if scaled.size else 0.0

    rank_dev = _compare(recomputed, true_d, lambda r, c: (
        f"ground truth disagrees with metric {bound_metric.name!r}: query {int(picked[r])}, "
        f"rank {c}: the listed neighbour {int(given[r, c])} is at distance "
        f"{recomputed[r, c]:.9g}, but the exact rank-{c} distance is {true_d[r, c]:.9g} "
        f"({int((~np.isclose(recomputed, true_d, rtol=rtol, atol=atol)).any(axis=1).sum())} "
        f"of {len(picked)} sampled queries differ)"))
    dist_dev = 0.0
    if dists is not None:
        stored = np.asarray(dists, dtype=np.float64)[picked]
        dist_dev = _compare(stored, recomputed, lambda r, c: (
            f"ground-truth distances disagree with metric {bound_metric.name!r}: query "
            f"{int(picked[r])}, rank {c}, neighbour {int(given[r, c])}: stored "
            f"{stored[r, c]:.9g}, recomputed {recomputed[r, c]:.9g} (is the distance defined "
            "differently? cf. ann-benchmarks issues #367 (angular) and #508 (hamming))"))
    return {"queries_checked": len(picked), "depth": depth,
            "max_rank_deviation": rank_dev, "max_distance_deviation": dist_dev}


def _rowwise_many(metric: MetricLike, queries: VectorData, train: VectorData,
                  ids: np.ndarray) -> np.ndarray:
    """float64 distances of ``queries[i]`` to ``train[ids[i, j]]``, shape of ``ids``."""
    nq, depth = ids.shape
    out = np.empty((nq, depth), dtype=np.float64)
    step = max(1, (32 << 20) // max(1, depth * 8 * _width(train)))
    for s in range(0, nq, step):
        e = min(s + step, nq)
        rep = np.repeat(np.arange(s, e), depth)
        out[s:e] = np.asarray(metric.rowwise(_take(queries, rep), _take(train, ids[s:e].ravel())),
                              dtype=np.float64).reshape(e - s, depth)
    return out


def recompute_distances(train: VectorData, test: VectorData, ids: np.ndarray,
                        metric: MetricLike | str) -> np.ndarray:
    """float64 distances of each query to its listed neighbours: ``d(test[i], train[ids[i,j]])``."""
    return _rowwise_many(_as_metric(metric), test, train, np.asarray(ids, dtype=np.int64))


def _width(data: VectorData) -> int:
    if isinstance(data, SetData):
        return max(1, math.ceil(len(data.indices) / max(1, len(data))))
    return int(np.asarray(data).shape[1]) if np.asarray(data).ndim == 2 else 1
