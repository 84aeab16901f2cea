"""Similarity graphs for spectral clustering, from any metric plugin and any index plugin.

- :func:`knn_table`: the ``n_neighbors`` nearest other points of every point, found with an
  index plugin (``bruteforce`` by default, any registered index that supports the metric),
  distances recomputed in float64 through the metric plugin. Memory is O(n k), so the graph
  scales past a dense n x n matrix.
- :func:`knn_graph`: the k-NN graph of such a table, symmetrised (``mean``: 0.5 (C + C^T), as
  scikit-learn; ``max``: an edge when either point lists the other) or mutual (an edge only
  when both do).
- :func:`epsilon_graph`: every pair within ``epsilon`` (blocked, O(n^2) time, O(n) memory
  beyond the edges); :func:`mst_longest_edge` gives the smallest epsilon that keeps the graph
  connected (von Luxburg 2007, section 8.1).
- :func:`full_graph`: every pair, weighted by a kernel (dense; for small n).

Edge weights (``kernel``): ``connectivity`` (1), ``gaussian`` exp(-d^2 / (2 sigma^2)),
``self-tuning`` exp(-d^2 / (sigma_i sigma_j)) with sigma_i the distance of point i to its
``local_scale``-th neighbour (Zelnik-Manor & Perona 2004), and for the cosine (angular) and
correlation distances d = 1 - s: ``clip`` max(s, 0) and ``shift`` (1 + s) / 2, which keep the
similarity s but never let it go negative. Graphs have no self-loops: a point's similarity to
itself carries no information about the partition (scikit-learn's Laplacian ignores it too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.errors import InvalidInputError
from harness.metrics import BoundMetric, get_metric
from plugins._spectral_options import AFFINITIES, KERNELS, SYMMETRIZE

__all__ = ["AFFINITIES", "KERNELS", "SYMMETRIZE", "NeighborTable", "edge_weights",
           "epsilon_graph", "full_graph", "knn_graph", "knn_table", "mst_longest_edge",
           "resolve_kernel"]

#: metrics whose distance is 1 - similarity, so ``clip`` and ``shift`` apply
SIMILARITY_METRICS = ("angular", "correlation")
#: largest dense similarity matrix :func:`full_graph` builds, in bytes
FULL_MAX_BYTES = 2 << 30
#: distances per block of :func:`epsilon_graph`
_PAIR_BLOCK = 1 << 22


@dataclass
class NeighborTable:
    """The nearest other points of every point.

    :param ids: int64 (n, k), -1 where the index found fewer than k.
    :param distances: float64 (n, k) under the metric, ascending per row; inf where missing.
    """

    ids: np.ndarray
    distances: np.ndarray

    def kth_distance(self, rank: int) -> np.ndarray:
        """Distance of every point to its ``rank``-th nearest other point (1-based)."""
        rank = min(rank, self.distances.shape[1])
        return self.distances[:, rank - 1]


def parse_index_params(text: str, info: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``"M=16,ef=64"`` into the index's build and query parameters (by their names)."""
    build: dict[str, str] = {}
    query: dict[str, str] = {}
    if not text:
        return build, query
    build_names = {p.name for p in info.build_params}
    query_names = {p.name for p in info.query_params}
    for item in text.split(","):
        key, eq, value = (part.strip() for part in item.partition("="))
        if not eq or not key or not value:
            raise InvalidInputError(f"index_params {text!r}: cannot read {item.strip()!r}; "
                                    "write 'name=value[,name=value...]'")
        if key in build_names:
            build[key] = value
        elif key in query_names:
            query[key] = value
        else:
            known = sorted(build_names | query_names) or ["(none)"]
            raise InvalidInputError(f"index_params: index {info.name!r} has no parameter "
                                    f"{key!r}; its parameters: {', '.join(known)}")
    return build, query


def build_index(data: np.ndarray, metric: BoundMetric, index: str = "bruteforce",
                index_params: str | Mapping[str, Any] = "", registry: Any = None) -> Any:
    """Build index plugin ``index`` over ``data`` under ``metric``; ready to search."""
    from harness.types import resolve_params

    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    info = registry.indexes.get(index)
    if metric.info.name not in info.capabilities.metrics:
        raise InvalidInputError(
            f"spectral graph: index {info.name!r} does not support metric {metric.name!r} (it "
            f"supports {', '.join(sorted(info.capabilities.metrics))}); use index='bruteforce'")
    missing = info.missing_requirements()
    if missing:
        raise InvalidInputError(f"spectral graph: index {info.name!r} needs "
                                f"{', '.join(missing)}; {info.install_hint}".rstrip("; "))
    if isinstance(index_params, str):
        given_build, given_query = parse_index_params(index_params, info)
    else:
        names = {p.name for p in info.query_params}
        given_build = {k: v for k, v in index_params.items() if k not in names}
        given_query = {k: v for k, v in index_params.items() if k in names}
    build = resolve_params(info.build_params, given_build, f"index {info.name!r} (build)")
    query = resolve_params(info.query_params, given_query, f"index {info.name!r} (query)")
    idx = info.factory(metric=metric.name, **build)
    idx.build(np.ascontiguousarray(data, dtype=np.float32))
    idx.set_query_params(**query)
    return idx


def knn_table(x: np.ndarray, n_neighbors: int, metric: str | BoundMetric = "euclidean", *,
              index: str = "bruteforce", index_params: str | Mapping[str, Any] = "",
              registry: Any = None) -> NeighborTable:
    """The ``n_neighbors`` nearest *other* points of every row of ``x``.

    The index is searched for ``n_neighbors + 1`` neighbours of every point; the point itself
    is dropped wherever it appears (with duplicates it need not come first), else the last
    one. Distances are recomputed in float64 by the metric and each row is sorted by
    (distance, id), so an approximate index cannot misorder the table.
    """
    bound = get_metric(metric, registry)
    n = len(x)
    if isinstance(n_neighbors, bool) or not isinstance(n_neighbors, (int, np.integer)) \
            or n_neighbors < 1:
        raise InvalidInputError(f"spectral graph: n_neighbors must be a positive integer, got "
                                f"{n_neighbors!r}")
    if n_neighbors > n - 1:
        raise InvalidInputError(f"spectral graph: n_neighbors={n_neighbors} needs at least "
                                f"{n_neighbors + 1} points, got {n}")
    idx = build_index(x, bound, index, index_params, registry)
    raw = idx.search(np.ascontiguousarray(x, dtype=np.float32), n_neighbors + 1)
    ids = np.asarray(raw[0] if isinstance(raw, tuple) else raw)
    if ids.shape != (n, n_neighbors + 1) or not np.issubdtype(ids.dtype, np.integer):
        raise InvalidInputError(f"spectral graph: index {index!r} returned ids of shape "
                                f"{ids.shape} and dtype {ids.dtype}, expected "
                                f"({n}, {n_neighbors + 1}) integers")
    ids = ids.astype(np.int64)
    if ((ids < -1) | (ids >= n)).any():
        raise InvalidInputError(f"spectral graph: index {index!r} returned ids out of range")
    drop = (ids == np.arange(n)[:, None]) | (ids < 0)
    no_self = ~drop.any(axis=1)
    drop[no_self, -1] = True  # the point is not in its own list: drop the farthest instead
    order = np.argsort(drop, axis=1, kind="stable")  # kept entries first, in index order
    ids = np.take_along_axis(ids, order, axis=1)[:, :n_neighbors]
    kept = ~np.take_along_axis(drop, order, axis=1)[:, :n_neighbors]
    ids[~kept] = -1
    dist = np.full(ids.shape, np.inf)
    rows, cols = np.nonzero(kept)
    x64 = np.asarray(x, dtype=np.float64)
    step = max(1, _PAIR_BLOCK // max(1, x64.shape[1]))  # pairs per block: bounded memory
    for s in range(0, len(rows), step):
        r, c = rows[s:s + step], cols[s:s + step]
        dist[r, c] = bound.rowwise(x64[r], x64[ids[r, c]])
    order = np.lexsort((np.where(ids < 0, n, ids), dist), axis=1)
    return NeighborTable(np.take_along_axis(ids, order, axis=1),
                         np.take_along_axis(dist, order, axis=1))


def resolve_kernel(kernel: str, affinity: str, metric: BoundMetric) -> str:
    """The kernel to use (``auto`` resolved), or a clear error for a bad combination."""
    if kernel not in KERNELS:
        raise InvalidInputError(f"spectral graph: kernel must be one of {list(KERNELS)}, got "
                                f"{kernel!r}")
    if kernel == "auto":
        kernel = "gaussian" if affinity == "full" else "connectivity"
    if kernel == "connectivity" and affinity == "full":
        raise InvalidInputError("spectral graph: kernel 'connectivity' on the full graph "
                                "weighs every pair 1; use 'gaussian' or 'self-tuning'")
    if kernel in ("clip", "shift") and metric.info.name not in SIMILARITY_METRICS:
        raise InvalidInputError(
            f"spectral graph: kernel {kernel!r} turns a distance 1 - s back into the "
            f"similarity s; it applies to {' and '.join(SIMILARITY_METRICS)} (cosine), not to "
            f"metric {metric.name!r}; use 'gaussian'")
    return kernel


def edge_weights(d: np.ndarray, kernel: str, *, sigma: float = 1.0,
                 scale_i: np.ndarray | None = None,
                 scale_j: np.ndarray | None = None) -> np.ndarray:
    """Similarities of pairs at distances ``d`` (see the module docstring)."""
    d = np.asarray(d, dtype=np.float64)
    if kernel == "connectivity":
        return np.ones_like(d)
    if kernel == "gaussian":
        return np.exp(-(d * d) / (2.0 * sigma * sigma))
    if kernel == "self-tuning":
        assert scale_i is not None and scale_j is not None
        denom = scale_i * scale_j
        with np.errstate(divide="ignore", invalid="ignore"):
            out = np.exp(-(d * d) / denom)
        return np.where(denom > 0, out, np.where(d == 0, 1.0, 0.0))
    if kernel == "clip":
        return np.maximum(1.0 - d, 0.0)
    if kernel == "shift":
        return np.clip(1.0 - d / 2.0, 0.0, 1.0)
    raise InvalidInputError(f"spectral graph: unknown kernel {kernel!r}")


def _check_scale(sigma: float, what: str) -> float:
    if not (math.isfinite(sigma) and sigma > 0):
        raise InvalidInputError(f"spectral graph: {what} is {sigma!r}; the data has duplicate "
                                "points only at this scale: give sigma explicitly")
    return float(sigma)


def knn_graph(table: NeighborTable, *, n_edges: int | None = None, mutual: bool = False,
              symmetrize: str = "mean", kernel: str = "connectivity", sigma: float = 0.0,
              local_scale: int = 7) -> sp.csr_matrix:
    """The symmetric k-NN graph (CSR, no self-loops) of a neighbour table.

    :param n_edges: link each point to its first ``n_edges`` neighbours (default: all of
        the table; a longer table can serve the self-tuning scales).
    :param mutual: keep an edge only when each point is among the other's neighbours.
    :param symmetrize: otherwise ``mean`` (0.5 (C + C^T), scikit-learn's) or ``max``.
    :param kernel: edge weights (``connectivity``, ``gaussian``, ``self-tuning``, ``clip``,
        ``shift``).
    :param sigma: scale of the ``gaussian`` kernel; 0 = the mean distance of a point to its
        k-th neighbour.
    :param local_scale: neighbour rank of the ``self-tuning`` scales.
    """
    if symmetrize not in SYMMETRIZE:
        raise InvalidInputError(f"spectral graph: symmetrize must be one of "
                                f"{list(SYMMETRIZE)}, got {symmetrize!r}")
    n = table.ids.shape[0]
    k = table.ids.shape[1] if n_edges is None else min(n_edges, table.ids.shape[1])
    ids, dist = table.ids[:, :k], table.distances[:, :k]
    valid = ids >= 0
    rows = np.repeat(np.arange(n), k)[valid.ravel()]
    cols = ids[valid]
    d = dist[valid]
    if kernel == "gaussian" and not sigma:
        sigma = _check_scale(float(np.mean(table.kth_distance(k))), "the mean k-th distance")
    scale = table.kth_distance(local_scale) if kernel == "self-tuning" else None
    w = edge_weights(d, kernel, sigma=sigma,
                     scale_i=None if scale is None else scale[rows],
                     scale_j=None if scale is None else scale[cols])
    directed = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    directed.sum_duplicates()
    if mutual:
        graph = directed.minimum(directed.T)
    elif symmetrize == "max":
        graph = directed.maximum(directed.T)
    else:
        graph = (directed + directed.T) * 0.5
    graph = sp.csr_matrix(graph)
    graph.setdiag(0.0)
    graph.eliminate_zeros()
    return graph


def mst_longest_edge(x: np.ndarray, metric: str | BoundMetric = "euclidean",
                     registry: Any = None) -> float:
    """Longest edge of a minimum spanning tree of the complete graph (Prim, O(n^2) time,
    O(n) memory): the smallest epsilon whose epsilon-graph is connected."""
    bound = get_metric(metric, registry)
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x64)
    if n < 2:
        return 0.0
    in_tree = np.zeros(n, dtype=bool)
    best = np.full(n, np.inf)
    current, longest = 0, 0.0
    for _ in range(n - 1):
        in_tree[current] = True
        row = bound.pairwise(x64[current:current + 1], x64)[0]
        np.minimum(best, row, out=best)
        best[in_tree] = np.inf
        current = int(np.argmin(best))
        longest = max(longest, float(best[current]))
    return longest


def epsilon_graph(x: np.ndarray, epsilon: float, metric: str | BoundMetric = "euclidean", *,
                  kernel: str = "connectivity", sigma: float = 0.0, local_scale: int = 7,
                  registry: Any = None) -> sp.csr_matrix:
    """Every pair of distinct points within ``epsilon`` (inclusive), weighted by ``kernel``.

    ``sigma`` 0 means the mean edge length; self-tuning scales come from the same pass.
    """
    bound = get_metric(metric, registry)
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise InvalidInputError(f"spectral graph: epsilon must be a positive number, got "
                                f"{epsilon!r}")
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    n = len(x64)
    rows_all, cols_all, d_all = [], [], []
    scale = np.zeros(n)
    rank = min(local_scale, n - 1)
    step = max(1, _PAIR_BLOCK // max(1, n))
    for s in range(0, n, step):
        block = bound.pairwise(x64[s:s + step], x64)
        idx = np.arange(s, s + len(block))
        block[np.arange(len(block)), idx] = np.inf
        if kernel == "self-tuning" and rank >= 1:
            scale[idx] = np.partition(block, rank - 1, axis=1)[:, rank - 1]
        r, c = np.nonzero(block <= epsilon)
        rows_all.append(r + s)
        cols_all.append(c)
        d_all.append(block[r, c])
    rows, cols = np.concatenate(rows_all), np.concatenate(cols_all)
    d = np.concatenate(d_all)
    if kernel == "gaussian" and not sigma:
        sigma = _check_scale(float(d.mean()) if len(d) else 0.0, "the mean edge length")
    w = edge_weights(d, kernel, sigma=sigma, scale_i=scale[rows], scale_j=scale[cols])
    graph = sp.csr_matrix((w, (rows, cols)), shape=(n, n))
    graph.eliminate_zeros()
    return graph


def full_graph(x: np.ndarray, metric: str | BoundMetric = "euclidean", *,
               kernel: str = "gaussian", sigma: float = 0.0, n_neighbors: int = 10,
               local_scale: int = 7, registry: Any = None) -> sp.csr_matrix:
    """The fully connected similarity graph (every pair weighted by ``kernel``).

    ``sigma`` 0 means the mean distance of a point to its ``n_neighbors``-th neighbour.
    """
    bound = get_metric(metric, registry)
    n = len(x)
    need = 3 * 8 * n * n
    if need > FULL_MAX_BYTES:
        raise InvalidInputError(
            f"spectral graph: the full graph of {n} points needs about {need / 2**30:.1f} GiB "
            f"(limit {FULL_MAX_BYTES / 2**30:.0f} GiB); use affinity='knn'")
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    d = bound.pairwise(x64, x64)
    np.fill_diagonal(d, 0.0)
    ranked = None
    if (kernel == "gaussian" and not sigma) or kernel == "self-tuning":
        ranked = np.sort(d, axis=1)  # column 0 is the point itself
    if kernel == "gaussian" and not sigma:
        assert ranked is not None
        sigma = _check_scale(float(np.mean(ranked[:, min(n_neighbors, n - 1)])),
                             "the mean k-th distance")
    scale = ranked[:, min(local_scale, n - 1)] if ranked is not None else None
    w = edge_weights(d, kernel, sigma=sigma,
                     scale_i=None if scale is None else scale[:, None],
                     scale_j=None if scale is None else scale[None, :])
    np.fill_diagonal(w, 0.0)
    graph = sp.csr_matrix(w)
    graph.eliminate_zeros()
    return graph
