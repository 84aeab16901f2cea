"""nmslib (the Non-Metric Space Library) as the peer for search under non-metric measures.

Serves ``js`` and ``js-distance`` (nmslib space ``jsdivfast``, whose ranking is the same: the
square root is monotone) with nmslib's HNSW (``M``, ``efConstruction``, ``post``; query
``efSearch``). Not ``kl``: nmslib's ``kldivgenfast`` is KL(item ‖ query), the reverse of
vecbench's ``kl`` (query to item), so its answers would be for another measure.

The PyPI wheel (2.1.2) installs on Python 3.11 here but is built without SSE4/AVX, so its
speed is a lower bound for nmslib built from source.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, InvalidInputError, Param, hookimpl
from harness.types import VectorData

_SPACES = {"js": "jsdivfast", "js-distance": "jsdivfast"}
INSTALL_HINT = "pip install 'vecbench[nmslib]' (or build nmslib from source for SIMD: " \
               "pip install --no-binary :all: nmslib)"


class NmslibHnsw(BaseIndex):
    """nmslib HNSW over a non-metric space (see the module docstring)."""

    def __init__(self, metric: str = "js", M: int = 16, efConstruction: int = 200,
                 post: int = 0, **params: Any) -> None:
        name = metric.split(":")[0]
        if name not in _SPACES:
            raise InvalidInputError(f"nmslib-hnsw serves {sorted(_SPACES)}, not {metric!r}")
        super().__init__(metric, M=M, efConstruction=efConstruction, post=post, **params)
        self.space = _SPACES[name]
        self._index: Any = None
        self._data: np.ndarray | None = None

    def _build(self, data: VectorData) -> None:
        import nmslib

        x = np.ascontiguousarray(data, dtype=np.float32)
        if x.size and x.min() < 0:
            raise InvalidInputError("nmslib-hnsw: divergences take non-negative vectors")
        self._data = x
        self._index = nmslib.init(method="hnsw", space=self.space)
        self._index.addDataPointBatch(x)
        self._index.createIndex({"M": int(self.params["M"]),
                                 "efConstruction": int(self.params["efConstruction"]),
                                 "post": int(self.params["post"]),
                                 # one thread: timings comparable, graph reproducible
                                 "indexThreadQty": 1}, print_progress=False)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        self._index.setQueryTimeParams({"efSearch": int(self.query_params.get("efSearch", 10))})
        ids = np.full((len(q), k), -1, dtype=np.int64)
        dist = np.full((len(q), k), np.inf, dtype=np.float32)
        for row, (found, d) in enumerate(self._index.knnQueryBatch(q, k=k, num_threads=1)):
            ids[row, :len(found)] = found
            dist[row, :len(found)] = d
        return ids, dist

    def _owned_arrays(self) -> list[Any]:
        return [self._data]


@hookimpl
def register_indexes(register: Any) -> None:
    """Register ``nmslib-hnsw`` (unavailable without the nmslib package)."""
    register(IndexInfo(
        name="nmslib-hnsw", factory=NmslibHnsw,
        capabilities=IndexCapabilities(metrics=frozenset(_SPACES)),
        build_params=(Param("M", 16, int, low=2, help="links per node"),
                      Param("efConstruction", 200, int, low=1, help="build candidate list"),
                      Param("post", 0, int, low=0, high=2, help="graph post-processing")),
        query_params=(Param("efSearch", 10, int, low=1, help="search candidate list"),),
        build_grid={"M": [16], "efConstruction": [200]},
        query_grid={"efSearch": [10, 20, 40, 80, 160, 320]},
        description="nmslib HNSW in the Jensen-Shannon space (non-metric peer)",
        library="nmslib", requires=("nmslib",), install_hint=INSTALL_HINT))
