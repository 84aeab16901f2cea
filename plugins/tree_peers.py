"""Space-partitioning trees of scipy and scikit-learn: the peers of the in-house ``kdtree``.

- ``scipy-ckdtree``: ``scipy.spatial.cKDTree`` (``leafsize``, ``balanced_tree`` = median
  splits, else the sliding-midpoint rule, ``compact_nodes``). Query ``eps``: the k-th
  returned distance is at most ``(1 + eps)`` times the true k-th (0: exact). Threads are the
  query's ``workers``.
- ``sklearn-kdtree``: ``sklearn.neighbors.KDTree`` (``leaf_size``), always exact.
- ``sklearn-balltree``: ``sklearn.neighbors.BallTree`` (``leaf_size``), always exact; also
  takes angular, as euclidean distance between L2-normalised COPIES of the vectors (it ranks
  as ``1 - cos``: ``|u - v|^2 = 2 - 2 cos`` on unit vectors).

Metrics: euclidean, manhattan and chebyshev (Minkowski p = 2, 1, inf). Both libraries build
and search in float64, so the float32 data is copied to float64 (that copy is what the tree
owns). ``index_bytes``: the pickled size of the cKDTree (its data and node buffer), or the
bytes of the arrays the sklearn tree holds (``get_arrays``: data, index, node data, bounds).
scipy and scikit-learn are imported when an index is created.
"""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import numpy as np

from harness import (
    BaseIndex,
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

#: metric -> Minkowski p
_P = {"euclidean": 2.0, "manhattan": 1.0, "chebyshev": np.inf}
_SKLEARN_NAMES = {"euclidean": "euclidean", "manhattan": "manhattan",
                  "chebyshev": "chebyshev", "angular": "euclidean"}


def _normalized64(x: np.ndarray) -> np.ndarray:
    """Rows of ``x`` scaled to unit length, float64, in a new array (zero rows stay zero)."""
    out = np.array(x, dtype=np.float64)
    norms = np.linalg.norm(out, axis=1)
    out /= np.where(norms > 0, norms, 1.0)[:, None]
    return out


class _TreeBase(BaseIndex):
    """Metric check, float64 copies and parameter resolution shared by the tree wrappers."""

    NAME: ClassVar[str] = ""
    METRICS: ClassVar[frozenset[str]] = frozenset(_P)
    BUILD_PARAMS: ClassVar[tuple[Param, ...]] = ()
    QUERY_PARAMS: ClassVar[tuple[Param, ...]] = ()
    MODULE: ClassVar[str] = ""
    INSTALL: ClassVar[str] = ""

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        try:
            __import__(self.MODULE)
        except ImportError:
            raise PluginUnavailableError(
                f"index {self.NAME!r} needs {self.MODULE}; install it with: {self.INSTALL}",
            ) from None
        info = get_metric(metric).info
        name = info.name
        if name not in self.METRICS:
            why = ("; a space-partitioning tree prunes with the triangle inequality, which "
                   f"{name!r} does not satisfy" if not info.triangle_inequality else "")
            raise InvalidInputError(f"{self.NAME}: metric {metric!r} is not supported{why}; "
                                    f"use one of {sorted(self.METRICS)}")
        super().__init__(name, **resolve_params(self.BUILD_PARAMS, params,
                                                f"index {self.NAME!r} (build)"))
        self.query_params = resolve_params(self.QUERY_PARAMS, {},
                                           f"index {self.NAME!r} (query)")
        self._tree: Any = None

    def _prepare(self, x: np.ndarray) -> np.ndarray:
        """The float64 array the tree works on (normalised for angular)."""
        if self.metric == "angular":
            return _normalized64(x)
        return np.array(x, dtype=np.float64)

    def set_query_params(self, **params: Any) -> None:
        """Named query parameters (see ``query_params``); unknown names are errors."""
        super().set_query_params(**resolve_params(self.QUERY_PARAMS, params,
                                                  f"index {self.NAME!r} (query)"))

    def _to_metric(self, dist: np.ndarray) -> np.ndarray:
        if self.metric == "angular":
            return dist * dist / 2.0  # chord length of unit vectors -> 1 - cos
        return dist


class ScipyCKDTree(_TreeBase):
    """``scipy.spatial.cKDTree``, exact or (1 + eps)-approximate."""

    NAME = "scipy-ckdtree"
    MODULE = "scipy.spatial"
    INSTALL = "pip install scipy"
    BUILD_PARAMS = (
        Param("leafsize", 16, int, low=1, help="most points in a leaf"),
        Param("balanced_tree", True, bool,
              help="split at the median (else the sliding-midpoint rule)"),
        Param("compact_nodes", True, bool, help="shrink node boxes to the data they hold"),
        Param("threads", 1, int, low=1, help="query workers"),
    )
    QUERY_PARAMS = (
        Param("eps", 0.0, float, low=0.0,
              help="k-th returned distance <= (1 + eps) * true k-th; 0: exact"),
    )

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        super().__init__(metric, **params)
        self.threads = check_threads(self.params["threads"], self.NAME)
        self._bytes = 0

    def set_threads(self, threads: int) -> None:
        """Query workers from now on."""
        self.threads = check_threads(threads, self.NAME)

    def _build(self, data: VectorData) -> None:
        from scipy.spatial import cKDTree

        assert isinstance(data, np.ndarray)
        self._tree = cKDTree(self._prepare(data), leafsize=int(self.params["leafsize"]),
                             balanced_tree=bool(self.params["balanced_tree"]),
                             compact_nodes=bool(self.params["compact_nodes"]),
                             copy_data=False)
        self._bytes = 0

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        dist, ids = self._tree.query(self._prepare(queries), k=[*range(1, k + 1)],
                                     eps=float(self.query_params.get("eps", 0.0)),
                                     p=_P.get(self.metric, 2.0), workers=self.threads)
        ids = np.asarray(ids, dtype=np.int64)
        dist = np.asarray(dist, dtype=np.float64)
        missing = ids >= self.n  # scipy marks "no neighbour" with index n and distance inf
        ids[missing] = -1
        return ids, self._to_metric(dist)

    def index_bytes(self) -> int:
        """Pickled size of the tree: its float64 data, index array and node buffer."""
        if self._tree is None:
            return 0
        if not self._bytes:
            self._bytes = len(pickle.dumps(self._tree, protocol=pickle.HIGHEST_PROTOCOL))
        return self._bytes


class _SklearnTree(_TreeBase):
    """``sklearn.neighbors.KDTree`` / ``BallTree`` (always exact)."""

    MODULE = "sklearn.neighbors"
    INSTALL = "pip install scikit-learn"
    CLASS: ClassVar[str] = ""
    BUILD_PARAMS = (
        Param("leaf_size", 40, int, low=1,
              help="leaf_size <= points per leaf <= 2 leaf_size (scikit-learn's rule)"),
    )

    def _build(self, data: VectorData) -> None:
        import sklearn.neighbors

        assert isinstance(data, np.ndarray)
        cls = getattr(sklearn.neighbors, self.CLASS)
        self._tree = cls(self._prepare(data), leaf_size=int(self.params["leaf_size"]),
                         metric=_SKLEARN_NAMES[self.metric])

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        dist, ids = self._tree.query(self._prepare(queries), k=k, return_distance=True,
                                     sort_results=True)
        return np.asarray(ids, dtype=np.int64), self._to_metric(np.asarray(dist, np.float64))

    def index_bytes(self) -> int:
        """Bytes of the arrays the tree holds (data, index, node data, node bounds)."""
        if self._tree is None:
            return 0
        return int(sum(np.asarray(a).nbytes for a in self._tree.get_arrays()))


class SklearnKDTree(_SklearnTree):
    """``sklearn.neighbors.KDTree``."""

    NAME = "sklearn-kdtree"
    CLASS = "KDTree"


class SklearnBallTree(_SklearnTree):
    """``sklearn.neighbors.BallTree`` (angular through normalised copies)."""

    NAME = "sklearn-balltree"
    CLASS = "BallTree"
    METRICS = frozenset({*_P, "angular"})


def _factory(cls: type[_TreeBase]) -> Any:
    def make(metric: str = "euclidean", **params: Any) -> _TreeBase:
        return cls(metric, **params)
    make.__name__ = f"make_{cls.NAME.replace('-', '_')}"
    make.__doc__ = f"Factory of :class:`{cls.__name__}`."
    return make


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the scipy and scikit-learn trees."""
    register(IndexInfo(
        name=ScipyCKDTree.NAME, factory=_factory(ScipyCKDTree),
        capabilities=IndexCapabilities(metrics=ScipyCKDTree.METRICS, threads=True),
        build_params=ScipyCKDTree.BUILD_PARAMS, query_params=ScipyCKDTree.QUERY_PARAMS,
        build_grid={"leafsize": [16], "balanced_tree": [True, False]},
        query_grid={"eps": [0.0, 0.5, 1.0, 2.0]},
        description="scipy cKDTree: exact or (1+eps)-approximate k-NN (leafsize; query eps)",
        library="scipy", requires=("scipy",), install_hint=ScipyCKDTree.INSTALL))
    for cls in (SklearnKDTree, SklearnBallTree):
        register(IndexInfo(
            name=cls.NAME, factory=_factory(cls),
            capabilities=IndexCapabilities(metrics=cls.METRICS, exact=True),
            build_params=cls.BUILD_PARAMS, query_params=cls.QUERY_PARAMS,
            build_grid={"leaf_size": [10, 40]},
            description=f"scikit-learn {cls.CLASS}: exact k-NN (leaf_size)",
            library="scikit-learn", requires=("sklearn",), install_hint=cls.INSTALL))
