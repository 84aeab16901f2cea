"""The in-house HNSW index (Malkov & Yashunin), numba-compiled, registered as ``hnsw``.

The Python class keeps the parameters, the arrays and the checks; the work runs in
``plugins._hnsw_kernels`` (one numba call per build, per ``add`` and per search batch).
``docs/hnsw.md`` describes the design, the parameters and how it differs from hnswlib/faiss.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from harness import (
    BaseIndex,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    Param,
    UnknownNameError,
    VecbenchError,
    hookimpl,
)
from harness.types import VectorData, resolve_params
from harness.validation import check_data, check_dense, check_k
from plugins import _hnsw_io

__all__ = ["BUILD_PARAMS", "METRICS", "QUERY_PARAMS", "HNSWIndex", "load_index"]

#: metric name -> distance the kernels search by (cosine: negative dot of unit vectors;
#: js-distance: the JS divergence, whose square root it is)
METRICS: dict[str, str] = {"euclidean": "l2", "sqeuclidean": "l2", "angular": "dot",
                           "ip": "dot", "kl": "kl", "js": "js", "js-distance": "js"}
#: metrics over probability vectors (non-negative entries, used as given)
DIVERGENCES = frozenset({"kl", "js", "js-distance"})

BUILD_PARAMS: tuple[Param, ...] = (
    Param("M", 16, int, "links a new node gets on every layer", low=2, high=10000),
    Param("M_max", None, int, "most links per node on layers >= 1 (default M)", low=1),
    Param("M_max0", None, int, "most links per node on layer 0 (default 2*M)", low=1),
    Param("ef_construction", 200, int, "candidate list size while inserting (raised to M)",
          low=1),
    Param("mL", None, float, "level normaliser: level = floor(-ln U * mL) (default 1/ln M)",
          low=0.0, high=100.0),
    Param("seed", 100, int, "seed of the level generator", low=0),
    Param("selection", "heuristic", str, "neighbour selection",
          choices=("heuristic", "simple")),
    Param("extend_candidates", False, bool,
          "heuristic: add the candidates' neighbours to the pool (paper's extendCandidates)"),
    Param("keep_pruned_connections", False, bool,
          "heuristic: refill up to M from discarded candidates (keepPrunedConnections)"),
    Param("reorder", True, bool,
          "after build, store nodes in breadth-first order of layer 0 (memory locality; "
          "ids and results do not change)"),
)
QUERY_PARAMS: tuple[Param, ...] = (
    Param("ef", 10, int, "candidate list size while searching (effective max(ef, k))", low=1),
)
_OWNER = "index 'hnsw'"
_ARRAYS = ("vectors", "levels", "links0", "links_up", "up_offset", "deleted", "labels")


class HNSWIndex(BaseIndex):
    """Hierarchical Navigable Small World graph (arXiv:1603.09320) with numba kernels.

    :param metric: ``euclidean``, ``sqeuclidean``, ``angular`` (1 - cos), ``ip`` (-dot), or
        the divergences ``kl`` (``KL(query || item)``, not symmetric), ``js`` and
        ``js-distance`` over non-negative (probability) vectors; the graph assumes neither
        symmetry nor the triangle inequality.
    :param params: build parameters, see :data:`BUILD_PARAMS`.

    Ids are row numbers: 0..n-1 for ``build``, then consecutive for each ``add``.
    ``search`` returns distances under ``metric`` (float32, ``inf`` where no id was found).

    Internally a node may sit at another position than its id (``reorder``); ``_labels``
    maps internal positions to ids, and every public method speaks ids.
    """

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        metric_name, eps = _parse_metric(metric)
        p = resolve_params(BUILD_PARAMS, params, _OWNER)
        p["M_max"] = p["M"] if p["M_max"] is None else p["M_max"]
        p["M_max0"] = 2 * p["M"] if p["M_max0"] is None else p["M_max0"]
        p["mL"] = 1.0 / math.log(p["M"]) if p["mL"] is None else p["mL"]
        for name in ("M_max", "M_max0"):
            if p[name] < p["M"]:
                raise InvalidInputError(
                    f"{_OWNER} parameter {name!r}: {p[name]} is below M={p['M']}; a new node "
                    "takes M links, so every list must have room for M")
        super().__init__(metric, **p)
        self._name = metric_name
        self._eps = eps
        self._kind = METRICS[metric_name]
        self._stats = np.zeros(2, np.int64)
        self._tag_state = np.zeros(1, np.int64)
        self._state = np.array([-1, -1], np.int64)
        self._alive: np.ndarray | None = None
        self._vectors = np.zeros((0, 0), np.float32)
        self._levels = np.zeros(0, np.int32)
        self._links0 = np.zeros((0, p["M_max0"] + 1), np.int32)
        self._links_up = np.zeros((0, p["M_max"] + 1), np.int32)
        self._up_offset = np.zeros(0, np.int32)
        self._deleted = np.zeros(0, np.bool_)
        self._labels = np.zeros(0, np.int32)
        self._tags = np.zeros(0, np.uint16)

    # ------------------------------------------------------------------ build / add
    def _build(self, data: VectorData) -> None:
        self._vectors = np.zeros((0, data.shape[1]), np.float32)
        self._levels = np.zeros(0, np.int32)
        self._links0 = np.zeros((0, self.params["M_max0"] + 1), np.int32)
        self._links_up = np.zeros((0, self.params["M_max"] + 1), np.int32)
        self._up_offset = np.zeros(0, np.int32)
        self._deleted = np.zeros(0, np.bool_)
        self._labels = np.zeros(0, np.int32)
        self._tags = np.zeros(0, np.uint16)
        self._state[:] = -1
        self._alive = None
        self.n = 0
        self._append(data)
        if self.params["reorder"]:
            self._relabel(_kernels().bfs_order(self._links0, int(self._state[0])))

    def add(self, data: VectorData) -> None:
        """Insert more vectors; they get ids ``n, n+1, ...`` (``build`` if nothing is built)."""
        if self.n == 0:
            self.build(data)
            return
        self._append(check_data(data, self.kind, "add data", dim=self.dim))

    def _append(self, data: np.ndarray) -> None:
        """Grow the arrays by the rows of ``data`` and INSERT them in one kernel call."""
        start, count = self.n, int(data.shape[0])
        vectors = np.array(data, dtype=np.float32, order="C", copy=True)
        if self._name == "angular":
            _normalise_rows(vectors)
        self._check_domain(vectors, "data")
        vectors = self._smooth(vectors)
        levels = self._draw_levels(count, start)
        offsets = np.full(count, -1, np.int32)
        upper = levels > 0
        first_row = self._links_up.shape[0]
        offsets[upper] = first_row + np.cumsum(levels[upper]) - levels[upper]
        rows_up = int(levels[upper].sum())
        p = self.params
        self._vectors = np.concatenate([self._vectors, vectors])
        self._levels = np.concatenate([self._levels, levels])
        self._links0 = np.concatenate(
            [self._links0, np.zeros((count, p["M_max0"] + 1), np.int32)])
        self._links_up = np.concatenate(
            [self._links_up, np.zeros((rows_up, p["M_max"] + 1), np.int32)])
        self._up_offset = np.concatenate([self._up_offset, offsets])
        self._deleted = np.concatenate([self._deleted, np.zeros(count, np.bool_)])
        self._labels = np.concatenate(
            [self._labels, np.arange(start, start + count, dtype=np.int32)])
        self._tags = np.concatenate([self._tags, np.zeros(count, np.uint16)])
        self._alive = None
        self.n = start + count
        kern = _kernels()
        kern.insert_range(
            self._vectors, kern.KINDS[self._kind], self._levels, self._links0, self._links_up,
            self._up_offset, self._state, int(start), int(start + count), int(p["M"]),
            int(p["M_max"]), int(p["M_max0"]), int(p["ef_construction"]),
            p["selection"] == "heuristic", bool(p["extend_candidates"]),
            bool(p["keep_pruned_connections"]), self._tags, self._tag_state)

    def _relabel(self, order: np.ndarray) -> None:
        """Move node ``order[i]`` to position i (the graph is unchanged, only relabelled)."""
        position = np.empty_like(order)
        position[order] = np.arange(order.size, dtype=order.dtype)
        self._vectors = np.ascontiguousarray(self._vectors[order])
        self._levels = self._levels[order]
        self._up_offset = self._up_offset[order]
        self._deleted = self._deleted[order]
        self._labels = self._labels[order]
        links0 = self._links0[order]
        links0[:, 1:] = position[links0[:, 1:]]
        self._links0 = links0
        self._links_up[:, 1:] = position[self._links_up[:, 1:]]
        self._state[0] = position[self._state[0]]
        self._alive = None

    def _positions(self, ids: np.ndarray) -> np.ndarray:
        """Internal positions of (checked, in-range) ids."""
        position = np.empty(self.n, np.int64)
        position[self._labels] = np.arange(self.n)
        return position[ids]

    def _draw_levels(self, count: int, start: int) -> np.ndarray:
        """Levels floor(-ln U * mL), U ~ U(0, 1], from a generator seeded by (seed, start)."""
        rng = np.random.default_rng([int(self.params["seed"]), int(start)])
        u = rng.random(count)  # in [0, 1): -log1p(-u) = -ln(1 - u) is finite
        return np.floor(-np.log1p(-u) * self.params["mL"]).astype(np.int32)

    # ------------------------------------------------------------------ delete
    def delete(self, ids: Any) -> None:
        """Tombstone ``ids``: they stay in the graph for routing but are never returned.

        Deleting an already deleted id is a no-op; ids outside 0..n-1 are an error.
        """
        arr = np.asarray(ids)
        if arr.size == 0:
            return
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"delete: ids must be integers, got dtype {arr.dtype}")
        arr = arr.reshape(-1).astype(np.int64)
        bad = arr[(arr < 0) | (arr >= self.n)]
        if bad.size:
            raise InvalidInputError(
                f"delete: id {int(bad[0])} is out of range (the index holds ids 0..{self.n - 1})")
        self._deleted[self._positions(arr)] = True
        self._alive = None

    # ------------------------------------------------------------------ search
    def set_query_params(self, **params: Any) -> None:
        """Set ``ef`` (checked) and reset the query counters."""
        super().set_query_params(**resolve_params(QUERY_PARAMS, params, _OWNER))

    def search(self, queries: VectorData, k: int,
               filter: Any = None) -> tuple[np.ndarray, np.ndarray | None]:
        """K-NN-SEARCH: ids int64 (nq, k), -1 padded, and float32 distances under the metric.

        :param filter: optional boolean mask of length n; only ids where it is True are
            returned (like deletions, filtered nodes are still walked through).
        """
        if self.n == 0:
            raise VecbenchError("search() called before build()")
        allowed = None if filter is None else self._check_filter(filter)
        queries = check_data(queries, self.kind, "queries", dim=self.dim)
        k = check_k(k, self.n)
        return self._knn(queries, k, allowed)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self._knn(queries, k, None)

    def _check_filter(self, filter: Any) -> np.ndarray:
        mask = np.asarray(filter)
        if mask.dtype != np.bool_ or mask.shape != (self.n,):
            raise InvalidInputError(
                f"filter: expected a boolean mask of shape ({self.n},), got dtype "
                f"{mask.dtype} and shape {mask.shape}")
        return mask

    def _knn(self, queries: np.ndarray, k: int,
             allowed: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        if self._name == "angular":
            queries = queries.copy()
            _normalise_rows(queries)
        self._check_domain(queries, "queries")
        queries = self._smooth(queries)
        mask = self._alive_mask()
        if allowed is not None:
            allowed = allowed[self._labels]
            mask = allowed if mask is None else (mask & allowed)
        use_mask = mask is not None
        if mask is None:
            mask = np.ones(1, np.bool_)
        ef = int(self.query_params.get("ef", QUERY_PARAMS[0].default))
        nq = queries.shape[0]
        ids = np.empty((nq, k), np.int64)
        dist = np.empty((nq, k), np.float32)
        kern = _kernels()
        kern.knn_search_batch(
            queries, int(k), ef, self._vectors, kern.KINDS[self._kind], self._links0,
            self._links_up, self._up_offset, self._state, self._tags, self._tag_state,
            np.ascontiguousarray(mask, dtype=np.bool_), bool(use_mask), self._labels, ids, dist,
            self._stats)
        return ids, self._to_metric(dist)

    def _check_domain(self, x: np.ndarray, what: str) -> None:
        """Divergences take non-negative vectors: refuse negative entries with the fix."""
        if self._name in DIVERGENCES and x.size and float(x.min()) < 0:
            raise InvalidInputError(
                f"{_OWNER} metric {self._name!r}: {what} has negative entries (minimum "
                f"{float(x.min())!r}); divergences take non-negative (probability) vectors, "
                "e.g. normalised histograms")

    def _smooth(self, x: np.ndarray) -> np.ndarray:
        """The divergences' ``eps`` smoothing ``(x + eps) / (1 + d eps)``, on a copy."""
        if self._eps <= 0:
            return x
        return ((x + self._eps) / (1.0 + x.shape[1] * self._eps)).astype(np.float32)

    def _alive_mask(self) -> np.ndarray | None:
        if self._alive is None and self._deleted.any():
            self._alive = ~self._deleted
        return self._alive

    def _to_metric(self, d: np.ndarray) -> np.ndarray:
        """Kernel distances (squared L2 / -dot / divergence) -> distances under the metric."""
        if self._name in DIVERGENCES:
            d[d >= _kernels().DIV_CAP] = np.inf
            if self._name == "js-distance":
                np.sqrt(np.maximum(d, 0, out=d), out=d)
            return d
        if self._name == "euclidean":
            return np.sqrt(np.maximum(d, 0, out=d), out=d)
        if self._name == "sqeuclidean":
            return np.maximum(d, 0, out=d)
        if self._name == "angular":
            return np.add(d, 1, out=d)
        return d

    # ------------------------------------------------------------------ stats / memory
    def query_stats(self) -> dict[str, float]:
        """Counters since the last ``set_query_params``: ``distance_computations`` (all
        layers) and ``visited_nodes`` (nodes whose neighbour list was read, all layers)."""
        return {"distance_computations": float(self._stats[0]),
                "visited_nodes": float(self._stats[1])}

    def _reset_stats(self) -> None:
        self._stats[:] = 0

    def _owned_arrays(self) -> list[Any]:
        return [self._vectors, self._levels, self._links0, self._links_up, self._up_offset,
                self._deleted, self._labels, self._tags, self._state]

    def warmup(self, sample: VectorData) -> None:
        """Compile (or load from numba's cache) every kernel on a tiny index of ``sample``."""
        sample = check_dense(sample, "warmup sample", dim=self.dim)[:32]
        tiny = HNSWIndex(self.metric, **self._user_params())
        tiny.build(sample)
        tiny.search(sample[:2], 1)
        tiny.delete([0])
        tiny.search(sample[:2], 1)

    # ------------------------------------------------------------------ inspection
    @property
    def entry_point(self) -> int:
        """Id of the entry point (-1 before build)."""
        return -1 if self._state[0] < 0 else int(self._labels[self._state[0]])

    @property
    def max_level(self) -> int:
        """Top layer of the graph (-1 before build)."""
        return int(self._state[1])

    @property
    def levels(self) -> np.ndarray:
        """Level of every id."""
        out = np.empty(self.n, np.int32)
        out[self._labels] = self._levels
        return out

    @property
    def deleted(self) -> np.ndarray:
        """Boolean tombstone mask, by id."""
        out = np.empty(self.n, np.bool_)
        out[self._labels] = self._deleted
        return out

    def neighbors(self, node: int, layer: int = 0) -> np.ndarray:
        """The ids linked from id ``node`` on ``layer``, in list order."""
        if not 0 <= node < self.n:
            raise InvalidInputError(f"node {node} is out of range 0..{self.n - 1}")
        pos = int(self._positions(np.array([node]))[0])
        level = int(self._levels[pos])
        if not 0 <= layer <= level:
            raise InvalidInputError(f"layer {layer}: node {node} lives on layers 0..{level}")
        row = (self._links0[pos] if layer == 0
               else self._links_up[self._up_offset[pos] + layer - 1])
        return self._labels[row[1:1 + row[0]]].astype(np.int64)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the whole index to one file (``.npz`` without pickle, format-versioned)."""
        if self.n == 0:
            raise VecbenchError("save() called before build()")
        arrays = {"vectors": self._vectors, "levels": self._levels, "links0": self._links0,
                  "links_up": self._links_up, "up_offset": self._up_offset,
                  "deleted": self._deleted, "labels": self._labels}
        meta = {"metric": self.metric, "params": self._user_params(),
                "derived": {k: self.params[k] for k in ("M_max", "M_max0", "mL")},
                "entry_position": int(self._state[0]), "max_level": self.max_level}
        _hnsw_io.save_index_file(path, arrays, meta)

    def load(self, path: str | os.PathLike[str]) -> None:
        """Replace this index by the one saved at ``path`` (its metric must match)."""
        other = load_index(path)
        if other.metric != self.metric:
            raise InvalidInputError(
                f"{str(path)!r} holds an index for metric {other.metric!r}, not {self.metric!r}")
        self.__dict__.update(other.__dict__)

    def _user_params(self) -> dict[str, Any]:
        return dict(self.params)


def load_index(path: str | os.PathLike[str]) -> HNSWIndex:
    """Read an index written by :meth:`HNSWIndex.save`."""
    arrays, meta = _hnsw_io.load_index_file(path, _ARRAYS)
    index = HNSWIndex(meta["metric"], **meta["params"])
    vectors = arrays["vectors"]
    n = int(vectors.shape[0])
    shapes_ok = (vectors.ndim == 2 and arrays["levels"].shape == (n,)
                 and arrays["links0"].shape == (n, index.params["M_max0"] + 1)
                 and arrays["links_up"].ndim == 2
                 and arrays["links_up"].shape[1] == index.params["M_max"] + 1
                 and arrays["up_offset"].shape == (n,) and arrays["deleted"].shape == (n,)
                 and arrays["labels"].shape == (n,))
    if not shapes_ok or n == 0:
        raise InvalidInputError(f"{str(path)!r}: array shapes do not agree: the file is damaged")
    index._vectors = vectors.astype(np.float32, copy=False)
    index._levels = arrays["levels"].astype(np.int32, copy=False)
    index._links0 = arrays["links0"].astype(np.int32, copy=False)
    index._links_up = arrays["links_up"].astype(np.int32, copy=False)
    index._up_offset = arrays["up_offset"].astype(np.int32, copy=False)
    index._deleted = arrays["deleted"].astype(np.bool_, copy=False)
    index._labels = arrays["labels"].astype(np.int32, copy=False)
    index._tags = np.zeros(n, np.uint16)
    index._state[:] = (int(meta["entry_position"]), int(meta["max_level"]))
    index.n = n
    index.dim = int(vectors.shape[1])
    return index


def _parse_metric(metric: str) -> tuple[str, float]:
    """``"js:eps=1e-6"`` -> ``("js", 1e-6)``; only the divergences take a parameter."""
    from harness.metrics import parse_metric_spec

    name, raw = parse_metric_spec(metric)
    if name not in METRICS:
        raise UnknownNameError(f"metric of {_OWNER}", name, METRICS)
    eps = 0.0
    for key, value in raw.items():
        if name not in DIVERGENCES or key != "eps":
            raise InvalidInputError(
                f"{_OWNER}: metric {name!r} takes no parameter {key!r}"
                + (" (the divergences take 'eps')" if name in DIVERGENCES else ""))
        try:
            eps = float(value)
        except ValueError:
            raise InvalidInputError(f"{_OWNER}: eps must be a number, got {value!r}") from None
        if not eps >= 0:
            raise InvalidInputError(f"{_OWNER}: eps must be >= 0, got {value!r}")
    return name, eps


def _kernels() -> Any:
    """The numba kernels, imported on first use so listing plugins does not import numba."""
    from plugins import _hnsw_kernels

    return _hnsw_kernels


def _normalise_rows(x: np.ndarray) -> None:
    """Scale rows of ``x`` to unit length in place; zero rows stay zero."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    np.divide(x, norms, out=x, where=norms > 0)


INFO = IndexInfo(
    name="hnsw",
    factory=HNSWIndex,
    capabilities=IndexCapabilities(metrics=frozenset(METRICS), filter=True, add=True,
                                   delete=True, save_load=True, jit=True),
    build_params=BUILD_PARAMS,
    query_params=QUERY_PARAMS,
    build_grid={"M": [8, 16, 32], "ef_construction": [200]},
    query_grid={"ef": [10, 20, 40, 80, 120, 200, 400, 800]},
    description="in-house HNSW (Malkov & Yashunin), numba kernels; faithful to the paper",
    requires=("numba",),
    install_hint="pip install numba",
)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the in-house ``hnsw`` index."""
    register(INFO)
