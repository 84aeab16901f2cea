"""``pynndescent``: a wrapper of PyNNDescent (NN-descent k-NN graph, numba-compiled).

Build parameters ``n_neighbors`` (graph degree before pruning), ``pruning_degree_multiplier``,
``diversify_prob``, ``n_trees`` / ``leaf_size`` of the initial random-projection forest (0:
PyNNDescent's defaults) and ``seed`` (``random_state``); query parameter ``epsilon`` (the
search keeps expanding while a candidate is within ``(1 + epsilon)`` of the current k-th
best; PyNNDescent's default 0.1). ``build`` constructs the graph and ``prepare()``s the search
graph and tree, so that the whole index is built before the first query.

Metrics and PyNNDescent's names: euclidean, angular (``cosine``) and hamming on bit-packed
binary data (``bit_hamming``, which counts differing bits of the uint8 rows, so the packing
order does not matter).

Numba compiles PyNNDescent's kernels on first use; ``warmup`` builds and queries a tiny index
of the same metric, so that the compilation is timed apart (``jit_seconds``). Functions that
PyNNDescent creates per index (its search closure) still compile on the first query of each
index: the harness's untimed warm-up pass absorbs it. Threads: ``n_jobs`` and numba's thread
count. ``index_bytes`` adds up the arrays the index holds after ``prepare`` (its reordered
copy of the data, the search graph, the search tree, the vertex order and the k-NN graph).
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
    PluginUnavailableError,
    hookimpl,
)
from harness.metrics import get_metric
from harness.types import VectorData, resolve_params
from plugins._threads import check_threads

NAME = "pynndescent"
INSTALL_HINT = "pip install 'vecbench[pynndescent]'  (or: pip install pynndescent)"
#: vecbench metric -> PyNNDescent metric name. PyNNDescent takes many more; each one costs
#: tens of seconds of numba compilation per process, so the wrapper offers the three the
#: leaderboard uses.
_METRICS = {"euclidean": "euclidean", "angular": "cosine", "hamming": "bit_hamming"}

BUILD_PARAMS = (
    Param("n_neighbors", 30, int, low=2, help="neighbours per vertex of the k-NN graph"),
    Param("pruning_degree_multiplier", 1.5, float, low=0.1,
          help="search-graph degree after pruning, as a multiple of n_neighbors"),
    Param("diversify_prob", 1.0, float, low=0.0, high=1.0,
          help="probability of pruning a redundant edge (the HNSW-like heuristic)"),
    Param("n_trees", 0, int, low=0,
          help="random-projection trees for initialisation (0: max(3, min(12, 2 log10 n)))"),
    Param("leaf_size", 0, int, low=0, help="leaf size of those trees (0: PyNNDescent's)"),
    Param("seed", 42, int, low=0, help="random_state"),
    Param("threads", 1, int, low=1, help="n_jobs and numba threads"),
)
QUERY_PARAMS = (
    Param("epsilon", 0.1, float, low=0.0,
          help="search slack: expand while within (1 + epsilon) of the k-th best"),
)


def _import_pynndescent() -> Any:
    try:
        import pynndescent
    except ImportError:
        raise PluginUnavailableError(
            f"index {NAME!r} needs the pynndescent library; install it with: {INSTALL_HINT}",
        ) from None
    return pynndescent


def _set_numba_threads(threads: int) -> None:
    try:
        import numba

        numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    except (ImportError, ValueError):
        pass


def _nbytes(value: Any) -> int:
    """Bytes of numpy arrays inside ``value`` (arrays, sparse matrices, tuples, trees)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if hasattr(value, "indptr") and hasattr(value, "indices") and hasattr(value, "data"):
        return int(value.data.nbytes + value.indices.nbytes + value.indptr.nbytes)
    if isinstance(value, (tuple, list)):
        return sum(_nbytes(v) for v in value)
    fields = getattr(value, "_fields", None)
    if fields:
        return sum(_nbytes(getattr(value, f)) for f in fields)
    return 0


class PyNNDescentIndex(BaseIndex):
    """A PyNNDescent index.

    :param metric: euclidean, angular or hamming.
    """

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        self._lib = _import_pynndescent()
        name = get_metric(metric).info.name
        if name not in _METRICS:
            raise InvalidInputError(f"pynndescent: metric {metric!r} is not supported; use "
                                    f"one of {sorted(_METRICS)}")
        super().__init__(name, **resolve_params(BUILD_PARAMS, params,
                                                "index 'pynndescent' (build)"))
        self.kind = DataKind.BINARY if name == "hamming" else DataKind.DENSE
        self.threads = check_threads(self.params["threads"], NAME)
        self.query_params = resolve_params(QUERY_PARAMS, {}, "index 'pynndescent' (query)")
        self._nnd: Any = None

    def _make(self, data: np.ndarray) -> Any:
        p = self.params
        _set_numba_threads(self.threads)
        nnd = self._lib.NNDescent(
            data, metric=_METRICS[self.metric], n_neighbors=min(int(p["n_neighbors"]),
                                                              len(data) - 1),
            pruning_degree_multiplier=float(p["pruning_degree_multiplier"]),
            diversify_prob=float(p["diversify_prob"]),
            n_trees=int(p["n_trees"]) or None, leaf_size=int(p["leaf_size"]) or None,
            random_state=int(p["seed"]), n_jobs=self.threads, low_memory=True,
            verbose=False)
        nnd.prepare()
        return nnd

    def warmup(self, sample: VectorData) -> None:
        """Compile PyNNDescent's kernels for this metric on a tiny index (timed apart)."""
        if self.kind is DataKind.BINARY:
            rows = np.asarray(sample, dtype=np.uint8)
        else:
            rows = np.asarray(sample, dtype=np.float32)
        if rows.ndim != 2 or len(rows) < 8:
            return
        tiny = self._make(np.ascontiguousarray(rows))
        tiny.query(rows[:2], k=2, epsilon=0.1)

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        if len(data) < 3:
            raise InvalidInputError(f"pynndescent: needs at least 3 vectors, got {len(data)}")
        self._nnd = self._make(data)

    def set_threads(self, threads: int) -> None:
        """numba threads (and n_jobs of the next build) from now on."""
        self.threads = check_threads(threads, NAME)
        _set_numba_threads(self.threads)

    def set_query_params(self, **params: Any) -> None:
        """``epsilon``: search slack (0: stop at the first non-improving expansion)."""
        super().set_query_params(**resolve_params(QUERY_PARAMS, params,
                                                  "index 'pynndescent' (query)"))

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        ids, dist = self._nnd.query(queries, k=k,
                                    epsilon=float(self.query_params.get("epsilon", 0.1)))
        ids = np.asarray(ids, dtype=np.int64)
        dist = np.asarray(dist, dtype=np.float64)
        missing = ids < 0
        dist[missing] = np.inf
        return ids, dist

    def index_bytes(self) -> int:
        """Arrays the prepared index holds (data copy, search graph and tree, k-NN graph)."""
        if self._nnd is None:
            return 0
        state = vars(self._nnd)
        return sum(_nbytes(state[key]) for key in (
            "_raw_data", "_search_graph", "_search_forest", "_vertex_order",
            "_neighbor_graph") if key in state)


def make_pynndescent(metric: str = "euclidean", **params: Any) -> PyNNDescentIndex:
    """Factory of :class:`PyNNDescentIndex`."""
    return PyNNDescentIndex(metric, **params)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the PyNNDescent wrapper."""
    register(IndexInfo(
        name=NAME,
        factory=make_pynndescent,
        capabilities=IndexCapabilities(
            metrics=frozenset(_METRICS),
            data_kinds=frozenset({DataKind.DENSE, DataKind.BINARY}),
            threads=True, jit=True),
        build_params=BUILD_PARAMS,
        query_params=QUERY_PARAMS,
        build_grid={"n_neighbors": [15, 30], "pruning_degree_multiplier": [1.5]},
        query_grid={"epsilon": [0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]},
        description="PyNNDescent NN-descent graph (n_neighbors; query epsilon)",
        library="pynndescent",
        requires=("pynndescent",),
        install_hint=INSTALL_HINT,
    ))
