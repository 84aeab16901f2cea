"""``annoy``: a wrapper of Spotify's Annoy (random-projection forest, mmap-able index).

Build parameters ``n_trees`` (more trees: better recall, bigger index) and ``seed``
(``AnnoyIndex.set_seed``); query parameter ``search_k`` (the number of tree nodes inspected;
``-1`` is Annoy's default ``k * n_trees``). Metrics and their Annoy names:

- euclidean -> ``euclidean`` (true L2);
- angular -> ``angular`` (Annoy returns ``sqrt(2 - 2 cos)``, the L2 distance of the
  normalised vectors; reported here as ``1 - cos``);
- manhattan -> ``manhattan``;
- ip -> ``dot`` (Annoy adds one component to make the inner product a distance; it returns
  the dot product, reported here as ``-x.y``);
- hamming -> ``hamming`` on binary data: Annoy takes one 0/1 value per bit, so the
  bit-packed rows are unpacked (least significant bit first); it returns the bit count.

Annoy answers one query vector per call; a batch is a loop over ``get_nns_by_vector``, as an
Annoy user would write it. Threads apply to the build (``build(n_trees, n_jobs)``).
``index_bytes`` is the size of the file ``AnnoyIndex.save`` writes (Annoy's in-memory layout
is that file). Annoy is imported when an index is created: this module loads without it.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
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

NAME = "annoy"
INSTALL_HINT = "pip install 'vecbench[annoy]'  (or: pip install annoy)"
#: vecbench metric -> Annoy metric name
_METRICS = {"euclidean": "euclidean", "angular": "angular", "manhattan": "manhattan",
            "ip": "dot", "hamming": "hamming"}

BUILD_PARAMS = (
    Param("n_trees", 50, int, low=1, help="trees in the forest (recall and size grow with it)"),
    Param("seed", 42, int, low=0, help="Annoy's random seed (set_seed)"),
    Param("threads", 1, int, low=1, help="threads for build (n_jobs)"),
)
QUERY_PARAMS = (
    Param("search_k", -1, int, low=-1,
          help="tree nodes inspected per query; -1: Annoy's default k * n_trees"),
)


def _import_annoy() -> Any:
    try:
        import annoy
    except ImportError:
        raise PluginUnavailableError(
            f"index {NAME!r} needs the annoy library; install it with: {INSTALL_HINT}",
        ) from None
    return annoy


class AnnoyIndex(BaseIndex):
    """An Annoy forest.

    :param metric: euclidean, angular, manhattan, ip or hamming.
    :param n_trees: number of trees.
    :param seed: Annoy's random seed.
    :param threads: build threads.
    """

    def __init__(self, metric: str = "angular", **params: Any) -> None:
        self._lib = _import_annoy()
        name = get_metric(metric).info.name
        if name not in _METRICS:
            raise InvalidInputError(
                f"annoy: metric {metric!r} is not supported; use one of {sorted(_METRICS)}")
        super().__init__(name, **resolve_params(BUILD_PARAMS, params, "index 'annoy' (build)"))
        self.kind = DataKind.BINARY if name == "hamming" else DataKind.DENSE
        self.threads = check_threads(self.params["threads"], NAME)
        self._index: Any = None
        self._width = 0  # Annoy's f: the dimension, or the number of bits
        self._file_bytes: int | None = None
        self.query_params = resolve_params(QUERY_PARAMS, {}, "index 'annoy' (query)")

    # ------------------------------------------------------------------ building
    def _rows(self, data: np.ndarray) -> np.ndarray:
        """What Annoy takes: float32 rows, binary data unpacked to one 0/1 per bit."""
        if self.kind is DataKind.BINARY:
            return np.unpackbits(data, axis=1, bitorder="little").astype(np.float32)
        return data

    def _new(self) -> Any:
        index = self._lib.AnnoyIndex(self._width, _METRICS[self.metric])
        index.set_seed(int(self.params["seed"]))
        return index

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        rows = self._rows(data)
        self._width = int(rows.shape[1])
        index = self._new()
        add = index.add_item
        for i, row in enumerate(rows):
            add(i, row)
        index.build(int(self.params["n_trees"]), n_jobs=self.threads)
        self._index = index
        self._file_bytes = None

    def set_threads(self, threads: int) -> None:
        """Threads for the next build (queries are one call per vector)."""
        self.threads = check_threads(threads, NAME)

    # ------------------------------------------------------------------ searching
    def set_query_params(self, **params: Any) -> None:
        """``search_k``: tree nodes inspected per query (-1: k * n_trees)."""
        super().set_query_params(**resolve_params(QUERY_PARAMS, params,
                                                  "index 'annoy' (query)"))

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        rows = self._rows(queries)
        search_k = int(self.query_params.get("search_k", -1))
        ids = np.full((len(rows), k), -1, dtype=np.int64)
        dist = np.full((len(rows), k), np.inf)
        get = self._index.get_nns_by_vector
        for i, row in enumerate(rows):
            found, d = get(row, k, search_k, True)
            m = len(found)
            ids[i, :m] = found
            dist[i, :m] = d
        return ids, self._to_metric(ids, dist)

    def _to_metric(self, ids: np.ndarray, dist: np.ndarray) -> np.ndarray:
        if self.metric == "angular":
            dist = dist * dist / 2.0  # sqrt(2 - 2cos) -> 1 - cos
        elif self.metric == "ip":
            dist = -dist
        dist[ids < 0] = np.inf
        return dist

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | Path) -> None:
        """Write the forest (Annoy's file) and a small JSON header to directory ``path``."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        self._index.save(str(folder / "index.ann"))
        meta = {"metric": self.metric, "width": self._width, "dim": self.dim, "n": self.n,
                "params": self.params}
        (folder / "meta.json").write_text(json.dumps(meta))

    def load(self, path: str | Path) -> None:
        """Read (memory-map) a forest written by :meth:`save`; same metric required."""
        folder = Path(path)
        try:
            meta = json.loads((folder / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"annoy.load: {folder} holds no saved index ({exc})"
                                    ) from None
        if meta.get("metric") != self.metric:
            raise InvalidInputError(f"annoy.load: the index in {folder} uses metric "
                                    f"{meta.get('metric')!r}, this one {self.metric!r}")
        self._width, self.dim, self.n = int(meta["width"]), int(meta["dim"]), int(meta["n"])
        index = self._new()
        index.load(str(folder / "index.ann"))
        self._index = index
        self._file_bytes = None

    def index_bytes(self) -> int:
        """Size of the file Annoy saves (its whole index).

        Annoy's ``save`` also re-opens the index from the saved file (memory-mapped,
        prefaulted here), as an Annoy user's index would be after saving; the temporary file
        is unlinked at once and its pages stay mapped until the index is dropped.
        """
        if self._index is None:
            return 0
        if self._file_bytes is None:
            fd, tmp = tempfile.mkstemp(prefix="vecbench-annoy-", suffix=".ann")
            os.close(fd)
            try:
                self._index.save(tmp, True)
                self._file_bytes = os.path.getsize(tmp)
            finally:
                os.unlink(tmp)
        return self._file_bytes


def make_annoy(metric: str = "angular", **params: Any) -> AnnoyIndex:
    """Factory of :class:`AnnoyIndex`."""
    return AnnoyIndex(metric, **params)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the Annoy wrapper."""
    register(IndexInfo(
        name=NAME,
        factory=make_annoy,
        capabilities=IndexCapabilities(
            metrics=frozenset(_METRICS),
            data_kinds=frozenset({DataKind.DENSE, DataKind.BINARY}),
            save_load=True, threads=True),
        build_params=BUILD_PARAMS,
        query_params=QUERY_PARAMS,
        build_grid={"n_trees": [10, 50, 100]},
        query_grid={"search_k": [100, 300, 1000, 3000, 10000, 30000, 100000]},
        description="Annoy random-projection forest (n_trees; query search_k)",
        library="annoy",
        requires=("annoy",),
        install_hint=INSTALL_HINT,
    ))
