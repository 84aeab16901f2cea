"""Built-in measures of the search task: recall variants, throughput, latency, build, memory.

Every function here is pure: arrays in, a float out. Definitions (and where they differ
from ann-benchmarks, big-ann-benchmarks and VectorDBBench) are in ``docs/measures.md``.
Distances are the harness-recomputed float64 distances, never the index's own.
"""

from __future__ import annotations

import numpy as np

from harness import MeasureContext, MeasureInfo, hookimpl

#: relative and absolute slack of the distance-threshold recall
RTOL = 1e-6
ATOL = 1e-12
#: ties in the ground truth (id-based recall) are distances within this of the k-th
TIE_EPS = 1e-6


def distance_threshold(gt_distances: np.ndarray, k: int, rtol: float = RTOL,
                       atol: float = ATOL) -> np.ndarray:
    """Per-query threshold ``delta_k + |delta_k| * rtol + atol`` (delta_k: k-th true distance)."""
    delta = np.asarray(gt_distances, dtype=np.float64)[:, k - 1]
    return delta + np.abs(delta) * rtol + atol


def recall_per_query(result_distances: np.ndarray, gt_distances: np.ndarray, k: int,
                     rtol: float = RTOL, atol: float = ATOL) -> np.ndarray:
    """Fraction of the first k returned items whose true distance is within the threshold.

    Missing results carry distance ``inf`` and count as misses; ties with the k-th
    neighbour count as hits even when their ids are not in the ground truth.
    """
    thr = distance_threshold(gt_distances, k, rtol, atol)
    d = np.asarray(result_distances, dtype=np.float64)[:, :k]
    return (d <= thr[:, None]).sum(axis=1) / k


def epsilon_recall_per_query(result_distances: np.ndarray, gt_distances: np.ndarray, k: int,
                             eps: float) -> np.ndarray:
    """ann-benchmarks' ``epsilon``: hits within ``delta_k * (1 + eps)`` (no absolute slack)."""
    delta = np.asarray(gt_distances, dtype=np.float64)[:, k - 1]
    thr = delta + np.abs(delta) * eps
    d = np.asarray(result_distances, dtype=np.float64)[:, :k]
    return (d <= thr[:, None]).sum(axis=1) / k


def recall_ids_ties_per_query(result_ids: np.ndarray, gt_ids: np.ndarray,
                              gt_distances: np.ndarray, k: int,
                              tie_eps: float = TIE_EPS) -> np.ndarray:
    """big-ann-benchmarks' id-based recall with ties.

    The ground truth is extended past position k while distances stay within ``tie_eps`` of
    the k-th; recall is |returned ∩ extended GT| / k.
    """
    gt_ids = np.asarray(gt_ids)
    depth = gt_ids.shape[1]
    end = np.full(gt_ids.shape[0], k, dtype=np.int64)
    if depth > k:
        gt_d = np.asarray(gt_distances, dtype=np.float64)
        near = np.abs(gt_d[:, k:] - gt_d[:, k - 1:k]) < tie_eps
        end += np.cumprod(near, axis=1).sum(axis=1)  # the run of ties right after k
    truth = np.arange(depth)[None, :] < end[:, None]
    return _hits(result_ids, gt_ids, truth, k) / k


def recall_ids_per_query(result_ids: np.ndarray, gt_ids: np.ndarray, k: int) -> np.ndarray:
    """Plain id recall |returned ∩ GT[:k]| / k (VectorDBBench, faiss intersection), no ties."""
    gt_ids = np.asarray(gt_ids)[:, :k]
    return _hits(result_ids, gt_ids, np.ones(gt_ids.shape, dtype=bool), k) / k


def _hits(result_ids: np.ndarray, gt_ids: np.ndarray, truth: np.ndarray, k: int) -> np.ndarray:
    """Per query, how many distinct returned ids (of the first k, -1 = none) are among the
    ground-truth ids where ``truth`` is set. Vectorised over blocks of queries."""
    res = np.asarray(result_ids)[:, :k]
    nq, depth = gt_ids.shape
    out = np.zeros(nq)
    if nq == 0 or res.shape[1] == 0:
        return out
    # duplicates among the returned ids count once (the runner refuses them anyway)
    ordered = np.sort(res, axis=1)
    first = np.ones(ordered.shape, dtype=bool)
    first[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    keep = first & (ordered >= 0)
    step = max(1, (1 << 22) // max(1, res.shape[1] * depth))
    for lo in range(0, nq, step):
        hi = min(nq, lo + step)
        match = ordered[lo:hi, :, None] == gt_ids[lo:hi, None, :]
        match &= truth[lo:hi, None, :]
        out[lo:hi] = (match.any(axis=2) & keep[lo:hi]).sum(axis=1)
    return out


def queries_with_ties(gt_distances: np.ndarray, k: int, tie_eps: float = TIE_EPS) -> int:
    """Number of queries whose (k+1)-th true distance ties the k-th."""
    if gt_distances.shape[1] <= k:
        return 0
    return int((np.abs(gt_distances[:, k] - gt_distances[:, k - 1]) < tie_eps).sum())


def rel(result_distances: np.ndarray, gt_distances: np.ndarray, k: int) -> float:
    """Sum of found distances over sum of true distances, both truncated to k.

    ``inf`` when any result is missing or the denominator is below 0.01 (as ann-benchmarks).
    """
    num = float(np.asarray(result_distances, dtype=np.float64)[:, :k].sum())
    den = float(np.asarray(gt_distances, dtype=np.float64)[:, :k].sum())
    if den < 0.01 or not np.isfinite(num):
        return float("inf")
    return num / den


def _percentile_ms(latencies: np.ndarray, p: float, min_calls: int = 1) -> float | None:
    if latencies.size < max(min_calls, 1):
        return None
    return float(np.percentile(latencies, p) * 1e3)


def _qps(ctx: MeasureContext) -> float | None:
    if ctx.batch_seconds.size == 0:
        return None
    return float(ctx.n_queries / np.median(ctx.batch_seconds))


def _qps_mean_latency(ctx: MeasureContext) -> float | None:
    if ctx.latencies_seconds.size == 0:
        return None
    return float(1.0 / np.mean(ctx.latencies_seconds))


def _extra(name: str):
    def compute(ctx: MeasureContext) -> float | None:
        value = ctx.extra.get(name)
        return None if value is None else float(value)

    return compute


def _per_query_stat(name: str):
    def compute(ctx: MeasureContext) -> float | None:
        stats = ctx.extra.get("query_stats") or {}
        if name not in stats:
            return None
        return float(stats[name]) / max(ctx.n_queries, 1)

    return compute


def _k(ctx: MeasureContext) -> int:
    return ctx.k


MEASURES: tuple[MeasureInfo, ...] = (
    MeasureInfo("recall", lambda c: float(recall_per_query(
        c.result_distances, c.gt_distances, c.k).mean()),
        "distance-based recall@k: returned items within delta_k + |delta_k|*1e-6 + 1e-12",
        deterministic=True),
    MeasureInfo("recall_std", lambda c: float(recall_per_query(
        c.result_distances, c.gt_distances, c.k).std()),
        "standard deviation over queries of the distance-based recall", deterministic=True),
    MeasureInfo("recall_ids_ties", lambda c: float(recall_ids_ties_per_query(
        c.result_ids, c.gt_ids, c.gt_distances, c.k).mean()),
        "id-based recall@k with ties (big-ann-benchmarks)", deterministic=True),
    MeasureInfo("recall_ids", lambda c: float(recall_ids_per_query(
        c.result_ids, c.gt_ids, c.k).mean()),
        "id-based recall@k without ties (VectorDBBench)", deterministic=True),
    MeasureInfo("epsilon_recall", lambda c: float(epsilon_recall_per_query(
        c.result_distances, c.gt_distances, c.k, 0.01).mean()),
        "hits within delta_k*(1+0.01) (ann-benchmarks 'epsilon')", deterministic=True),
    MeasureInfo("largeepsilon_recall", lambda c: float(epsilon_recall_per_query(
        c.result_distances, c.gt_distances, c.k, 0.1).mean()),
        "hits within delta_k*(1+0.1) (ann-benchmarks 'largeepsilon')", deterministic=True),
    MeasureInfo("rel", lambda c: None if c.signed else rel(
        c.result_distances, c.gt_distances, c.k),
        "sum of found / sum of true distances, truncated to k; undefined for signed metrics",
        higher_is_better=False, deterministic=True),
    MeasureInfo("queries_with_ties", lambda c: float(queries_with_ties(c.gt_distances, c.k)),
        "queries whose (k+1)-th true distance ties the k-th", deterministic=True),
    MeasureInfo("candidates", lambda c: float((c.result_ids[:, :c.k] >= 0).sum(axis=1).mean()),
        "mean number of ids returned per query", deterministic=True),
    MeasureInfo("qps", _qps, "median over repetitions of queries / batch wall seconds",
        unit="1/s"),
    MeasureInfo("qps_spread", lambda c: None if c.batch_seconds.size == 0 else float(
        c.n_queries / c.batch_seconds.min() - c.n_queries / c.batch_seconds.max()),
        "max - min batch throughput over repetitions", unit="1/s", higher_is_better=False),
    MeasureInfo("qps_mean_latency", _qps_mean_latency,
        "1 / mean single-query latency (ann-benchmarks' qps)", unit="1/s"),
    MeasureInfo("p50_ms", lambda c: _percentile_ms(c.latencies_seconds, 50),
        "median single-query latency", unit="ms", higher_is_better=False),
    MeasureInfo("p95_ms", lambda c: _percentile_ms(c.latencies_seconds, 95),
        "95th percentile single-query latency", unit="ms", higher_is_better=False),
    MeasureInfo("p99_ms", lambda c: _percentile_ms(c.latencies_seconds, 99),
        "99th percentile single-query latency", unit="ms", higher_is_better=False),
    MeasureInfo("p999_ms", lambda c: _percentile_ms(c.latencies_seconds, 99.9, 10_000),
        "99.9th percentile single-query latency (only from >= 10,000 timed calls)",
        unit="ms", higher_is_better=False),
    MeasureInfo("build_seconds", _extra("build_seconds"),
        "wall seconds of build(), excluding one-off JIT compilation", unit="s",
        higher_is_better=False),
    MeasureInfo("jit_seconds", _extra("jit_seconds"),
        "wall seconds of warmup() (JIT compilation), reported apart", unit="s",
        higher_is_better=False),
    MeasureInfo("index_bytes", _extra("index_bytes"),
        "bytes the index owns (its own report), vectors included", unit="B",
        higher_is_better=False),
    MeasureInfo("rss_growth_bytes", _extra("rss_growth_bytes"),
        "RSS growth over build() in a fresh process", unit="B", higher_is_better=False),
    MeasureInfo("peak_rss_bytes", _extra("peak_rss_bytes"),
        "peak RSS of the build process", unit="B", higher_is_better=False),
    MeasureInfo("cpu_wall_ratio_build", _extra("cpu_wall_ratio_build"),
        "CPU seconds / wall seconds of build (about the thread count when undisturbed)"),
    MeasureInfo("cpu_wall_ratio_search", _extra("cpu_wall_ratio_search"),
        "CPU seconds / wall seconds of the timed batch searches"),
    MeasureInfo("distance_computations", _per_query_stat("distance_computations"),
        "distance computations per query, as the index counts them", higher_is_better=False,
        deterministic=True),
    MeasureInfo("visited_nodes", _per_query_stat("visited_nodes"),
        "graph nodes visited per query, as the index counts them", higher_is_better=False,
        deterministic=True),
)


@hookimpl
def register_measures(register) -> None:
    """Register the built-in search measures."""
    for info in MEASURES:
        register(info)
