"""``faiss``: a wrapper of faiss-cpu indexes built from an ``index_factory`` string.

The default ``factory="Flat"`` is faiss's exhaustive index (``IndexFlatL2`` / ``IndexFlatIP``),
vecbench's exact peer: exact up to float32 rounding, which loses ties and near-ties (the
harness scores it with float64 ground truth). Metrics: euclidean and sqeuclidean
(``METRIC_L2``, which returns squared distances), ip (``METRIC_INNER_PRODUCT``, a similarity
returned here as ``-x.y``) and angular (inner product of L2-normalised COPIES of the base and
the queries, returned as ``1 - cos``; a zero vector stays zero, so it is at distance 1 from
everything). OpenMP and BLAS threads are pinned to ``threads`` (default 1) at build and
before every search. faiss is imported only when an index is created, so this module loads
without it.
"""

from __future__ import annotations

from typing import Any

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
from harness.types import VectorData
from plugins._threads import check_threads, pin_threads

#: metric name -> (faiss metric attribute, normalise vectors first)
_METRICS = {
    "euclidean": ("METRIC_L2", False),
    "sqeuclidean": ("METRIC_L2", False),
    "ip": ("METRIC_INNER_PRODUCT", False),
    "angular": ("METRIC_INNER_PRODUCT", True),
}
INSTALL_HINT = "pip install faiss-cpu"


def _normalized_copy(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in a new float32 array (zero rows stay zero)."""
    norms = np.sqrt(np.einsum("ij,ij->i", x.astype(np.float64), x.astype(np.float64)))
    safe = np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(x / safe[:, None], dtype=np.float32)


def _import_faiss() -> Any:
    """faiss, imported lazily; missing: a clear error with the install hint."""
    try:
        import faiss
    except ImportError:
        raise PluginUnavailableError(
            f"index 'faiss' needs the faiss library; install it with: {INSTALL_HINT}") from None
    return faiss


class FaissIndex(BaseIndex):
    """A faiss index built by ``faiss.index_factory(d, factory, metric)``.

    :param metric: euclidean, sqeuclidean, ip or angular.
    :param factory: faiss index_factory string (``"Flat"``, ``"IVF1024,Flat"``, ...).
    :param threads: OpenMP/BLAS threads for build and search.
    """

    def __init__(self, metric: str = "euclidean", factory: str = "Flat",
                 threads: int = 1) -> None:
        faiss = _import_faiss()
        name = get_metric(metric).info.name
        if name not in _METRICS:
            raise InvalidInputError(
                f"faiss: metric {metric!r} is not supported; use one of {sorted(_METRICS)}")
        super().__init__(name, factory=factory, threads=threads)
        self._faiss = faiss
        self.factory = str(factory)
        self.threads = check_threads(threads, "faiss")
        attr, self._normalize = _METRICS[name]
        self._metric_type = getattr(faiss, attr)
        self._index: Any = None

    def set_threads(self, threads: int) -> None:
        """Use ``threads`` OpenMP/BLAS threads from now on."""
        self.threads = check_threads(threads, "faiss")
        self._pin(refresh=True)

    def _pin(self, refresh: bool = False) -> None:
        self._faiss.omp_set_num_threads(self.threads)
        pin_threads(self.threads, refresh=refresh)

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        self._pin(refresh=True)
        x = _normalized_copy(data) if self._normalize else data
        try:
            index = self._faiss.index_factory(x.shape[1], self.factory, self._metric_type)
        except RuntimeError as exc:
            raise InvalidInputError(
                f"faiss: cannot build index_factory string {self.factory!r}: "
                f"{str(exc).strip().splitlines()[-1]}") from None
        if not index.is_trained:
            index.train(x)
        index.add(x)
        self._index = index
        self._apply_query_params()

    def set_query_params(self, **params: Any) -> None:
        """Set faiss search parameters by name (``nprobe``, ``efSearch``...) through
        ``faiss.ParameterSpace``; an unknown name for this index is an error."""
        super().set_query_params(**params)
        if self._index is not None:
            self._apply_query_params()

    def _apply_query_params(self) -> None:
        space = self._faiss.ParameterSpace()
        for name, value in self.query_params.items():
            try:
                space.set_index_parameter(self._index, name, float(value))
            except RuntimeError:
                raise InvalidInputError(
                    f"faiss: index {self.factory!r} has no search parameter {name!r}") from None

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        self._pin()
        q = _normalized_copy(queries) if self._normalize else queries
        raw_d, ids = self._index.search(q, k)
        dist = raw_d.astype(np.float64)
        if self.metric == "euclidean":
            np.sqrt(np.maximum(dist, 0.0, out=dist), out=dist)
        elif self.metric == "ip":
            np.negative(dist, out=dist)
        elif self.metric == "angular":
            np.subtract(1.0, dist, out=dist)
        ids = ids.astype(np.int64, copy=False)
        dist[ids < 0] = np.inf
        return ids, dist

    def index_bytes(self) -> int:
        """Vector storage for a flat index (``ntotal x code_size``), else the serialized size."""
        if self._index is None:
            return 0
        if isinstance(self._index, self._faiss.IndexFlatCodes):
            return int(self._index.ntotal * self._index.code_size)
        return len(self._faiss.serialize_index(self._index))


def make_faiss(metric: str = "euclidean", factory: str = "Flat", threads: int = 1) -> FaissIndex:
    """Factory of :class:`FaissIndex`."""
    return FaissIndex(metric, factory=factory, threads=threads)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the faiss wrapper."""
    register(IndexInfo(
        name="faiss",
        factory=make_faiss,
        capabilities=IndexCapabilities(metrics=frozenset(_METRICS), threads=True),
        build_params=(
            Param("factory", "Flat", str, help="faiss index_factory string"),
            Param("threads", 1, int, low=1, help="OpenMP/BLAS threads"),
        ),
        description="faiss-cpu index_factory indexes (default Flat: exact up to float32)",
        library="faiss-cpu",
        requires=("faiss",),
        install_hint=INSTALL_HINT,
    ))
