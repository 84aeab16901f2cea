"""In-house KD-tree index: exact and eps-approximate k-NN and radius search, Minkowski metrics.

Build rules follow scipy's ``cKDTree``: leaf size, median (balanced) or sliding-midpoint
splits on the dimension of largest spread, and a node whose points are all identical becomes
a leaf whatever its size. Queries descend to the nearer child first and prune a node by the
distance to its compact bounding box. The numeric kernels are in :mod:`plugins._kdtree_kernels`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, InvalidInputError, Param, hookimpl
from harness.types import VectorData, resolve_params
from harness.validation import check_dense
from plugins import _kdtree_kernels as kern

NAME = "kdtree"

#: Minkowski-family names accepted, with the p they stand for
METRIC_P: dict[str, float] = {
    "euclidean": 2.0, "l2": 2.0,
    "manhattan": 1.0, "cityblock": 1.0, "l1": 1.0,
    "chebyshev": math.inf, "linf": math.inf,
}

BUILD_PARAMS = (
    Param("leaf_size", 16, int, "largest number of points in a leaf", low=1),
    Param("split", "median", str, "split rule: median (balanced) or sliding-midpoint",
          choices=("median", "sliding-midpoint")),
    Param("p", None, float, "Minkowski exponent for metric 'minkowski' (p >= 1, inf allowed)"),
)
QUERY_PARAMS = (
    Param("eps", 0.0, float, "approximation: k-th distance <= (1 + eps) * true k-th", low=0.0),
)


def parse_metric(metric: str, p: float | None = None) -> float:
    """The Minkowski exponent of ``metric``: ``euclidean`` -> 2, ``minkowski:p=3`` -> 3, ...

    ``p`` is the build parameter of the same name; it is required to agree with a ``p`` given
    in the metric string. Raises :class:`InvalidInputError` for metrics outside the family.
    """
    if not isinstance(metric, str):
        raise InvalidInputError(f"kdtree: metric must be a string, got {metric!r}")
    name, _, rest = metric.strip().lower().partition(":")
    spec_p: float | None = None
    if rest:
        key, sep, value = rest.partition("=")
        if name != "minkowski" or key.strip() != "p" or not sep:
            raise InvalidInputError(
                f"kdtree: cannot read metric {metric!r}; write e.g. 'minkowski:p=3'")
        try:
            spec_p = float(value)
        except ValueError:
            raise InvalidInputError(
                f"kdtree: metric {metric!r}: p must be a number, got {value!r}") from None
    if name in METRIC_P:
        if p is not None and float(p) != METRIC_P[name]:
            raise InvalidInputError(
                f"kdtree: metric {name!r} means p={METRIC_P[name]}, but p={p} was given")
        return METRIC_P[name]
    if name != "minkowski":
        raise InvalidInputError(
            f"kdtree: metric {metric!r} is not supported. A KD-tree prunes with axis-aligned "
            "boxes, whose distance bounds hold only for Minkowski norms: use euclidean, "
            "manhattan, chebyshev or minkowski (p >= 1)")
    if spec_p is not None and p is not None and float(p) != spec_p:
        raise InvalidInputError(
            f"kdtree: metric {metric!r} and build parameter p={p} disagree")
    value_p = spec_p if spec_p is not None else (2.0 if p is None else float(p))
    if math.isnan(value_p) or value_p < 1.0:
        raise InvalidInputError(
            f"kdtree: minkowski p must be >= 1 (got {value_p}); for p < 1 it is not a metric "
            "and box pruning would be unsafe")
    return value_p


def _code(p: float) -> int:
    if p == 1.0:
        return kern.L1
    if p == 2.0:
        return kern.L2
    if math.isinf(p):
        return kern.LINF
    return kern.LP


def _reduced(r: float, p: float) -> float:
    """The kernels' reduced form of a distance ``r`` (r^p for finite p)."""
    return r if math.isinf(p) or p == 1.0 else r ** p


class KDTreeIndex(BaseIndex):
    """KD-tree over dense vectors; see the module docstring."""

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        params = resolve_params(BUILD_PARAMS, params, NAME)
        super().__init__(metric, **params)
        self.p = parse_metric(metric, params["p"])
        self.code = _code(self.p)
        self.leaf_size = int(params["leaf_size"])
        self.median = params["split"] == "median"
        self.eps = 0.0
        self._tree: tuple[np.ndarray, ...] = ()
        self._max_depth = 0
        self._n_dist = 0
        self._n_leaves = 0
        self._n_queries = 0

    # ---- contract
    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        (points, perm, start, end, left, right, split_dim, _split_val, lo, hi,
         depth) = kern.build_tree(data, self.leaf_size, self.median)
        self.data = points
        self.perm = perm
        self.start, self.end, self.left, self.right = start, end, left, right
        self.split_dim, self.box_lo, self.box_hi = split_dim, lo, hi
        self._max_depth = int(depth)

    def set_query_params(self, **params: Any) -> None:
        resolved = resolve_params(QUERY_PARAMS, params, NAME)
        super().set_query_params(**params)
        self.eps = float(resolved["eps"])

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        ids, dists, n_dist, n_leaves = kern.knn_query(
            queries, self.data, self.perm, self.start, self.end, self.left, self.right,
            self.split_dim, self.box_lo, self.box_hi, self._max_depth, k, self.code,
            self.p, self.eps)
        self._n_dist += int(n_dist)
        self._n_leaves += int(n_leaves)
        self._n_queries += len(queries)
        return ids, dists

    def radius_search(self, queries: Any, r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every indexed point within distance ``r`` (closed ball: ``d <= r``) of each query.

        :returns: CSR ``(indptr, ids, distances)``: the neighbours of query ``i`` are
            ``ids[indptr[i]:indptr[i+1]]``, sorted by distance (then id).
        """
        if self.n == 0:
            from harness.errors import VecbenchError

            raise VecbenchError("radius_search() called before build()")
        queries = check_dense(queries, "queries", dim=self.dim)
        try:
            r = float(r)
        except (TypeError, ValueError):
            raise InvalidInputError(f"kdtree: radius must be a number, got {r!r}") from None
        if not r >= 0.0:
            raise InvalidInputError(f"kdtree: radius must be >= 0, got {r}")
        return kern.radius_query(
            queries, self.data, self.perm, self.start, self.end, self.left, self.right,
            self.split_dim, self.box_lo, self.box_hi, self._max_depth, _reduced(r, self.p),
            self.code, self.p)

    def warmup(self, sample: Any) -> None:
        """Compile (or load from numba's cache) the build and query kernels."""
        x = check_dense(sample, "warmup sample")[:64]
        tree = KDTreeIndex(self.metric, leaf_size=2, split="median", p=self.params["p"])
        tree.build(x)
        tree.search(x[:2], 1)
        tree.radius_search(x[:2], 0.0)
        other = KDTreeIndex(self.metric, leaf_size=2, split="sliding-midpoint",
                            p=self.params["p"])
        other.build(x)

    def query_stats(self) -> dict[str, float]:
        return {"distance_computations": float(self._n_dist),
                "leaves_visited": float(self._n_leaves)}

    def leaf_sizes(self) -> np.ndarray:
        """Number of points in each leaf (for checks of the build rules)."""
        leaf = self.split_dim < 0
        return (self.end - self.start)[leaf]

    def _owned_arrays(self) -> list[Any]:
        if self.n == 0:
            return []
        return [self.data, self.perm, self.start, self.end, self.left, self.right,
                self.split_dim, self.box_lo, self.box_hi]

    def _reset_stats(self) -> None:
        self._n_dist = 0
        self._n_leaves = 0
        self._n_queries = 0


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the ``kdtree`` index."""
    register(IndexInfo(
        name=NAME,
        factory=KDTreeIndex,
        capabilities=IndexCapabilities(
            metrics=frozenset({"euclidean", "manhattan", "chebyshev", "minkowski"}),
            exact=False, jit=True),
        build_params=BUILD_PARAMS,
        query_params=QUERY_PARAMS,
        build_grid={"leaf_size": [8, 16, 32], "split": ["median", "sliding-midpoint"]},
        query_grid={"eps": [0.0, 0.5, 1.0]},
        description="in-house KD-tree (numba): exact / eps-approximate k-NN, radius search",
    ))
