"""``hnswlib``: a wrapper of hnswlib's HNSW graph index.

Build parameters ``M`` (16), ``ef_construction`` (200) and ``seed`` (100, hnswlib's default);
query parameter ``ef`` (10; hnswlib searches with ``max(ef, k)``). Metrics: euclidean and
sqeuclidean (space ``l2``, which returns squared distances), ip (space ``ip``, which returns
``1 - x.y``; reported here as ``-x.y``) and angular (space ``cosine``: ``1 - cos``). Insertion
and search are pinned to ``threads`` (default 1). Filters (a boolean mask of allowed ids),
deletion (hnswlib's tombstones), additions and save/load are supported.

When fewer than k vectors are reachable (a tight filter, many deletions, a tiny graph),
hnswlib refuses the whole batch ("Cannot return the results in a contiguous 2D array").
Such queries are answered one by one: with ef pinned to ``max(ef, k)`` the search for any
``k' <= k`` explores exactly the same candidates and returns the best ``k'`` of them, so the
largest ``k'`` that succeeds is exactly the set hnswlib found; the rest is padded with -1.
"""

from __future__ import annotations

import json
from pathlib import Path
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
from harness.validation import check_dense
from plugins._threads import check_threads

_SPACES = {"euclidean": "l2", "sqeuclidean": "l2", "ip": "ip", "angular": "cosine"}
INSTALL_HINT = "pip install hnswlib"
_TOO_FEW = "contiguous 2D array"


def _import_hnswlib() -> Any:
    """hnswlib, imported lazily; missing: a clear error with the install hint."""
    try:
        import hnswlib
    except ImportError:
        raise PluginUnavailableError(
            f"index 'hnswlib' needs the hnswlib library; install it with: {INSTALL_HINT}",
        ) from None
    return hnswlib


class HnswlibIndex(BaseIndex):
    """An hnswlib HNSW index.

    :param metric: euclidean, sqeuclidean, ip or angular.
    :param M: links per node (2M on the bottom layer).
    :param ef_construction: candidate list size while inserting.
    :param seed: hnswlib's random seed (level assignment).
    :param threads: threads for insertion and search.
    """

    def __init__(self, metric: str = "euclidean", M: int = 16, ef_construction: int = 200,
                 seed: int = 100, threads: int = 1) -> None:
        self._lib = _import_hnswlib()
        name = get_metric(metric).info.name
        if name not in _SPACES:
            raise InvalidInputError(
                f"hnswlib: metric {metric!r} is not supported; use one of {sorted(_SPACES)}")
        super().__init__(name, M=M, ef_construction=ef_construction, seed=seed,
                         threads=threads)
        for pname, value, low in (("M", M, 2), ("ef_construction", ef_construction, 1),
                                  ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise InvalidInputError(
                    f"hnswlib: {pname} must be an integer >= {low}, got {value!r}")
        self.M, self.ef_construction, self.seed = M, ef_construction, seed
        self.threads = check_threads(threads, "hnswlib")
        self.space = _SPACES[name]
        self._index: Any = None
        self._deleted = np.zeros(0, dtype=bool)
        self._file_bytes: int | None = None
        self._reset_stats()

    # ------------------------------------------------------------------ building
    def _new_index(self, dim: int) -> Any:
        return self._lib.Index(space=self.space, dim=dim)

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        index = self._new_index(data.shape[1])
        index.init_index(max_elements=len(data), ef_construction=self.ef_construction,
                         M=self.M, random_seed=self.seed)
        index.set_num_threads(self.threads)
        index.add_items(data, np.arange(len(data)), num_threads=self.threads)
        self._index = index
        self._deleted = np.zeros(len(data), dtype=bool)
        self._file_bytes = None

    def add(self, data: VectorData) -> np.ndarray:
        """Append vectors; they get ids ``n, n+1, ...`` (returned)."""
        if self._index is None:
            self.build(data)
            return np.arange(self.n, dtype=np.int64)
        x = check_dense(data, "added data", dim=self.dim)
        first = self.n
        ids = np.arange(first, first + len(x))
        self._index.resize_index(first + len(x))
        self._index.add_items(x, ids, num_threads=self.threads)
        self.n = first + len(x)
        self._deleted = np.concatenate([self._deleted, np.zeros(len(x), dtype=bool)])
        self._file_bytes = None
        return ids.astype(np.int64)

    def delete(self, ids: Any) -> None:
        """Mark ``ids`` deleted (hnswlib tombstones: never returned, still traversed).
        Deleting an id twice is harmless."""
        arr = np.atleast_1d(np.asarray(ids))
        if arr.size and not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"hnswlib.delete: ids must be integers, got {arr.dtype}")
        arr = arr.astype(np.int64).ravel()
        bad = arr[(arr < 0) | (arr >= self.n)]
        if len(bad):
            raise InvalidInputError(
                f"hnswlib.delete: id {int(bad[0])} is out of range [0, {self.n})")
        for label in np.unique(arr):
            if not self._deleted[label]:
                self._index.mark_deleted(int(label))
                self._deleted[label] = True
        self._file_bytes = None

    def set_threads(self, threads: int) -> None:
        """Use ``threads`` threads from now on."""
        self.threads = check_threads(threads, "hnswlib")
        if self._index is not None:
            self._index.set_num_threads(self.threads)

    # ------------------------------------------------------------------ searching
    def set_query_params(self, **params: Any) -> None:
        """``ef``: size of the candidate list while searching (effective ``max(ef, k)``)."""
        unknown = sorted(set(params) - {"ef"})
        if unknown:
            raise InvalidInputError(f"hnswlib: unknown query parameter {unknown[0]!r}; "
                                    "the only one is 'ef'")
        ef = params.get("ef", 10)
        if isinstance(ef, bool) or not isinstance(ef, (int, np.integer)) or ef < 1:
            raise InvalidInputError(f"hnswlib: ef must be an integer >= 1, got {ef!r}")
        super().set_query_params(ef=int(ef))

    def search(self, queries: VectorData, k: int, filter: Any = None,
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Approximate top-``k``: ids int64 (nq, k), -1 padded, and distances.

        :param filter: optional boolean mask of length ``n``; only ids where it is True are
            returned.
        """
        if filter is None:
            return super().search(queries, k)
        mask = np.asarray(filter)
        if mask.dtype != bool or mask.shape != (self.n,):
            raise InvalidInputError(
                f"filter must be a boolean mask of shape ({self.n},) (True = allowed), got "
                f"dtype {mask.dtype} and shape {mask.shape}")
        self._filter = mask.tolist().__getitem__  # a Python bool per label, fast to call
        try:
            return super().search(queries, k)
        finally:
            self._filter = None

    _filter: Any = None

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        index = self._index
        index.set_ef(max(self.query_params.get("ef", 10), k))
        try:
            labels, raw = index.knn_query(queries, k, num_threads=self.threads,
                                          filter=self._filter)
            ids = labels.astype(np.int64)
            dist = raw.astype(np.float64)
        except RuntimeError as exc:
            if _TOO_FEW not in str(exc):
                raise
            ids, dist = self._search_one_by_one(queries, k)
        self._stats["queries"] += len(queries)
        return ids, self._to_metric(ids, dist)

    def _search_one_by_one(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Queries that find fewer than k: the largest k' <= k hnswlib can return (same
        search, since ef stays ``max(ef, k)``), padded with -1."""
        nq = len(queries)
        ids = np.full((nq, k), -1, dtype=np.int64)
        dist = np.full((nq, k), np.inf)
        for i in range(nq):
            q = queries[i:i + 1]
            lo, hi = 0, k  # lo: largest k' known to succeed (0 trivially); hi: largest untried
            found: tuple[np.ndarray, np.ndarray] | None = None
            mid = k  # most queries of a failed batch succeed: try k itself first
            while lo < hi:
                try:
                    labels, raw = self._index.knn_query(q, mid, num_threads=1,
                                                        filter=self._filter)
                except RuntimeError as exc:
                    if _TOO_FEW not in str(exc):
                        raise
                    hi = mid - 1
                else:
                    lo, found = mid, (labels[0], raw[0])
                mid = (lo + hi + 1) // 2
            if found is not None:
                ids[i, :lo] = found[0].astype(np.int64)
                dist[i, :lo] = found[1]
            if lo < k:
                self._stats["short_queries"] += 1
        return ids, dist

    def _to_metric(self, ids: np.ndarray, dist: np.ndarray) -> np.ndarray:
        """hnswlib's distances in the metric's units (inf where no id was found)."""
        if self.metric == "euclidean":
            np.sqrt(np.maximum(dist, 0.0, out=dist), out=dist)
        elif self.metric == "ip":
            dist -= 1.0  # hnswlib's ip space is 1 - x.y
        dist[ids < 0] = np.inf
        return dist

    # ------------------------------------------------------------------ the rest
    def save(self, path: str | Path) -> None:
        """Write the index to directory ``path`` (hnswlib's file plus a small JSON header)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self._index.save_index(str(folder / "index.hnsw"))
        meta = {"metric": self.metric, "dim": self.dim, "n": self.n, "M": self.M,
                "ef_construction": self.ef_construction, "seed": self.seed,
                "deleted": np.flatnonzero(self._deleted).tolist()}
        (folder / "meta.json").write_text(json.dumps(meta))

    def load(self, path: str | Path) -> None:
        """Read an index written by :meth:`save` (same metric required)."""
        folder = Path(path)
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"hnswlib.load: {folder} holds no saved index ({exc})"
                                    ) from None
        if meta.get("metric") != self.metric:
            raise InvalidInputError(
                f"hnswlib.load: the index in {folder} uses metric {meta.get('metric')!r}, "
                f"this one {self.metric!r}")
        index = self._new_index(int(meta["dim"]))
        index.load_index(str(folder / "index.hnsw"), max_elements=int(meta["n"]))
        index.set_num_threads(self.threads)
        self._index = index
        self.n, self.dim = int(meta["n"]), int(meta["dim"])
        self.M, self.ef_construction, self.seed = (int(meta["M"]), int(meta["ef_construction"]),
                                                   int(meta["seed"]))
        self._deleted = np.zeros(self.n, dtype=bool)
        self._deleted[np.asarray(meta.get("deleted", []), dtype=np.int64)] = True
        self._file_bytes = None

    def index_bytes(self) -> int:
        """Size of the file hnswlib would save (graph links and vectors)."""
        if self._index is None:
            return 0
        if self._file_bytes is None:
            self._file_bytes = int(self._index.index_file_size())
        return self._file_bytes

    def query_stats(self) -> dict[str, float]:
        """``short_queries``: queries that found fewer than k (answered -1 padded)."""
        return {"short_queries": self._stats["short_queries"]}

    def _reset_stats(self) -> None:
        self._stats = {"queries": 0.0, "short_queries": 0.0}


def make_hnswlib(metric: str = "euclidean", M: int = 16, ef_construction: int = 200,
                 seed: int = 100, threads: int = 1) -> HnswlibIndex:
    """Factory of :class:`HnswlibIndex`."""
    return HnswlibIndex(metric, M=M, ef_construction=ef_construction, seed=seed,
                        threads=threads)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the hnswlib wrapper."""
    register(IndexInfo(
        name="hnswlib",
        factory=make_hnswlib,
        capabilities=IndexCapabilities(
            metrics=frozenset(_SPACES), filter=True, add=True, delete=True, save_load=True,
            threads=True),
        build_params=(
            Param("M", 16, int, low=2, help="links per node (2M on the bottom layer)"),
            Param("ef_construction", 200, int, low=1,
                  help="candidate list size while inserting"),
            Param("seed", 100, int, low=0, help="random seed of level assignment"),
            Param("threads", 1, int, low=1, help="threads for insertion and search"),
        ),
        query_params=(
            Param("ef", 10, int, low=1,
                  help="candidate list size while searching (hnswlib uses max(ef, k))"),
        ),
        build_grid={"M": [8, 16, 32], "ef_construction": [200]},
        query_grid={"ef": [10, 20, 40, 80, 120, 200, 400, 800]},
        description="hnswlib HNSW graph (M, ef_construction; query ef)",
        library="hnswlib",
        requires=("hnswlib",),
        install_hint=INSTALL_HINT,
    ))
