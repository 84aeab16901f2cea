"""datasketch wrappers for Jaccard k-NN over sets: MinHash LSH and MinHash LSH Forest.

Both take :class:`~harness.types.SetData` (one set of integer tokens per row). Each token is
given to ``datasketch.MinHash`` as its 8-byte little-endian encoding, so datasketch's own
pre-hash (sha1) and permutations apply, as for any datasketch user. Candidates are re-ranked
by exact Jaccard distance (``1 - |A n B| / |A u B|``, two empty sets at 0) and cut to k, ties
by id; fewer than k candidates leave the rest of the row at -1.

- ``datasketch-lsh``: ``MinHashLSH`` answers "every indexed set whose similarity may be at
  least ``threshold``": the union of the buckets the query shares on some band. Bands and
  rows are datasketch's optimum for the threshold (weights ``fp_weight`` / 1 - fp_weight)
  unless ``bands`` and ``rows`` are given. The k-NN answer is its candidates re-ranked. Query
  counters (``query_stats``): ``candidates`` (also ``distance_computations``: exact
  similarities computed), ``candidates_above_threshold`` (candidates whose exact similarity is
  >= threshold) and ``true_above_threshold`` (indexed sets with similarity >= threshold to
  the query, counted exhaustively when ``query_stats()`` is read, outside any timed search).
  The measures ``candidate_precision`` and ``candidate_recall`` registered here turn them
  into the candidate set's precision and recall at the threshold.
- ``datasketch-forest``: ``MinHashLSHForest`` (``l`` prefix trees over ``num_perm`` hash
  values): its top-k query, asked for ``k * k_factor`` keys, re-ranked and cut to k.

Both are single-threaded pure Python (datasketch has no threads). ``index_bytes`` counts what
the index keeps: the MinHash signatures (``num_perm`` uint64 values per set, as
``LeanMinHash`` stores them), the bucket keys of every band or prefix tree (bytes) and the
sets themselves (CSR arrays, needed for the exact re-ranking). datasketch is imported when an
index is created: this module loads without it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from harness import (
    BaseIndex,
    DataKind,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    MeasureContext,
    MeasureInfo,
    Param,
    PluginUnavailableError,
    SetData,
    hookimpl,
)
from harness.metrics import get_metric
from harness.types import VectorData, resolve_params

INSTALL_HINT = "pip install 'vecbench[datasketch]'  (or: pip install datasketch)"
_NUM_PERM = Param("num_perm", 128, int, low=2, high=8192,
                  help="MinHash permutations (signature length)")
_SEED = Param("seed", 1, int, low=0, help="seed of the MinHash permutations (datasketch: 1)")


def _import_datasketch(owner: str) -> Any:
    try:
        import datasketch
    except ImportError:
        raise PluginUnavailableError(
            f"index {owner!r} needs the datasketch library; install it with: {INSTALL_HINT}",
        ) from None
    return datasketch


def token_bytes(sets: SetData) -> list[list[bytes]]:
    """Each set's tokens as 8-byte little-endian strings (what MinHash.update hashes)."""
    raw = np.ascontiguousarray(sets.indices, dtype="<i8").tobytes()
    indptr = np.asarray(sets.indptr, dtype=np.int64)
    return [[raw[8 * t:8 * t + 8] for t in range(int(indptr[i]), int(indptr[i + 1]))]
            for i in range(len(sets))]


class ExactJaccard:
    """Exact Jaccard similarity of query sets to indexed sets, for re-ranking and counting.

    Holds the indexed sets (CSR) and an inverted index (token -> rows) built once.
    """

    def __init__(self, sets: SetData) -> None:
        self.indptr = np.asarray(sets.indptr, dtype=np.int64)
        self.indices = np.asarray(sets.indices, dtype=np.int64)
        self.sizes = np.diff(self.indptr)
        self.vocab = int(self.indices.max()) + 1 if len(self.indices) else 0
        order = np.argsort(self.indices, kind="stable")
        self.post_rows = np.repeat(np.arange(len(self.sizes)), self.sizes)[order]
        self.post_start = np.searchsorted(self.indices[order], np.arange(self.vocab + 1))

    @property
    def nbytes(self) -> int:
        """Bytes of the indexed sets (the inverted index is re-derivable and not counted)."""
        return int(self.indptr.nbytes + self.indices.nbytes)

    def _known(self, tokens: np.ndarray) -> np.ndarray:
        return tokens[tokens < self.vocab]

    def similarity(self, tokens: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Similarities of the set ``tokens`` to indexed ``rows``."""
        rows = np.asarray(rows, dtype=np.int64)
        mark = np.zeros(self.vocab + 1, dtype=bool)
        mark[self._known(tokens)] = True
        lens = self.sizes[rows]
        total = int(lens.sum())
        ends = np.cumsum(lens)
        offsets = np.repeat(self.indptr[rows] - (ends - lens), lens) + np.arange(total)
        hits = mark[self.indices[offsets]]
        inter = np.bincount(np.repeat(np.arange(len(rows)), lens), weights=hits,
                            minlength=len(rows))
        union = len(tokens) + lens - inter
        return np.where(union > 0, inter / np.maximum(union, 1), 1.0)

    def count_at_least(self, tokens: np.ndarray, threshold: float) -> int:
        """How many indexed sets have similarity >= ``threshold`` to the set ``tokens``."""
        known = self._known(tokens)
        starts, stops = self.post_start[known], self.post_start[known + 1]
        lens = stops - starts
        ends = np.cumsum(lens)
        offsets = np.repeat(starts - (ends - lens), lens) + np.arange(int(lens.sum()))
        inter = np.bincount(self.post_rows[offsets], minlength=len(self.sizes))
        union = len(tokens) + self.sizes - inter
        sim = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
        return int((sim >= threshold).sum())

    def top_k(self, tokens: np.ndarray, candidates: np.ndarray, k: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids, distances, similarities of all candidates) of the k best candidates."""
        cand = np.unique(np.asarray(candidates, dtype=np.int64))
        sim = self.similarity(tokens, cand)
        order = np.lexsort((cand, -sim))[:k]
        return cand[order], 1.0 - sim[order], sim


class _MinHashIndex(BaseIndex):
    """MinHash signatures, exact re-ranking and the counters shared by both wrappers."""

    kind = DataKind.SETS
    NAME: ClassVar[str] = ""
    BUILD_PARAMS: ClassVar[tuple[Param, ...]] = ()
    QUERY_PARAMS: ClassVar[tuple[Param, ...]] = ()

    def __init__(self, metric: str = "jaccard", **params: Any) -> None:
        self._ds = _import_datasketch(self.NAME)
        name = get_metric(metric).info.name
        if name != "jaccard":
            raise InvalidInputError(f"{self.NAME}: metric {metric!r} is not supported; "
                                    "MinHash estimates the jaccard metric only")
        super().__init__(name, **resolve_params(self.BUILD_PARAMS, params,
                                                f"index {self.NAME!r} (build)"))
        self._check_params()
        self.query_params = resolve_params(self.QUERY_PARAMS, {},
                                           f"index {self.NAME!r} (query)")
        self._exact: ExactJaccard | None = None
        self._key_bytes = 0
        self._reset_stats()

    def _check_params(self) -> None:
        """Reject parameter combinations before any data is seen."""

    def minhashes(self, sets: SetData) -> list[Any]:
        """datasketch ``LeanMinHash`` signatures of ``sets`` (this index's num_perm, seed)."""
        lean = self._ds.LeanMinHash
        return [lean(m) for m in self._ds.MinHash.bulk(
            token_bytes(sets), num_perm=int(self.params["num_perm"]),
            seed=int(self.params["seed"]))]

    def set_query_params(self, **params: Any) -> None:
        """Named query parameters (see ``query_params``); unknown names are errors."""
        super().set_query_params(**resolve_params(self.QUERY_PARAMS, params,
                                                  f"index {self.NAME!r} (query)"))

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, SetData) and self._exact is not None
        nq = len(queries)
        ids = np.full((nq, k), -1, dtype=np.int64)
        dist = np.full((nq, k), np.inf)
        signatures = self.minhashes(queries)
        for i in range(nq):
            tokens = np.asarray(queries.row(i), dtype=np.int64)
            cand = np.fromiter(self._candidates(signatures[i], k), dtype=np.int64)
            if len(cand) == 0:
                continue
            top, d, sim = self._exact.top_k(tokens, cand, k)
            ids[i, :len(top)] = top
            dist[i, :len(top)] = d
            self._count(tokens, sim)
        return ids, dist

    def _candidates(self, signature: Any, k: int) -> Any:
        raise NotImplementedError

    def _count(self, tokens: np.ndarray, sim: np.ndarray) -> None:
        self._stats["candidates"] += float(len(sim))

    def query_stats(self) -> dict[str, float]:
        """``candidates`` / ``distance_computations``: exact similarities computed."""
        return {"candidates": self._stats["candidates"],
                "distance_computations": self._stats["candidates"]}

    def _reset_stats(self) -> None:
        self._stats = {"candidates": 0.0}

    def index_bytes(self) -> int:
        """Signatures (num_perm uint64 per set), bucket keys, and the sets kept for
        re-ranking."""
        if self._exact is None:
            return 0
        return int(self.n * int(self.params["num_perm"]) * 8 + self._key_bytes
                   + self._exact.nbytes)


class DatasketchLSH(_MinHashIndex):
    """``datasketch.MinHashLSH``: threshold candidates, re-ranked to the exact top k."""

    NAME = "datasketch-lsh"
    BUILD_PARAMS = (
        _NUM_PERM,
        Param("threshold", 0.5, float, low=0.0, high=1.0,
              help="Jaccard similarity the bands are tuned for; also the threshold of the "
                   "candidate precision / recall counters"),
        Param("bands", 0, int, low=0, help="bands b (0: datasketch's optimum)"),
        Param("rows", 0, int, low=0, help="hash values per band r (0: datasketch's optimum)"),
        Param("fp_weight", 0.5, float, low=0.0, high=1.0,
              help="weight of false positives in the optimum (false negatives: 1 - it)"),
        _SEED,
    )

    def _check_params(self) -> None:
        b, r = int(self.params["bands"]), int(self.params["rows"])
        if (b == 0) != (r == 0):
            raise InvalidInputError(f"{self.NAME}: give both bands and rows (or neither), "
                                    f"got bands={b}, rows={r}")
        if b * r > int(self.params["num_perm"]):
            raise InvalidInputError(f"{self.NAME}: bands x rows = {b * r} exceeds num_perm="
                                    f"{self.params['num_perm']}")

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, SetData)
        p = self.params
        fp = float(p["fp_weight"])
        b, r = int(p["bands"]), int(p["rows"])
        try:
            lsh = self._ds.MinHashLSH(threshold=float(p["threshold"]), num_perm=int(p["num_perm"]),
                                      weights=(fp, 1.0 - fp), params=(b, r) if b else None)
        except ValueError as exc:
            raise InvalidInputError(f"{self.NAME}: datasketch refused the parameters: {exc}"
                                    ) from None
        with lsh.insertion_session() as session:
            for i, m in enumerate(self.minhashes(data)):
                session.insert(i, m, check_duplication=False)
        self._lsh = lsh
        self.bands, self.rows = int(lsh.b), int(lsh.r)
        self._key_bytes = sum(len(key) for table in lsh.hashtables for key in table)
        self._exact = ExactJaccard(data)
        self._pending: list[SetData] = []
        self._true_above = 0.0

    def _candidates(self, signature: Any, k: int) -> Any:
        return self._lsh.query(signature)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        out = super()._search(queries, k)
        assert isinstance(queries, SetData)
        self._pending.append(queries)
        return out

    def _count(self, tokens: np.ndarray, sim: np.ndarray) -> None:
        super()._count(tokens, sim)
        self._stats["candidates_above_threshold"] += float(
            (sim >= float(self.params["threshold"])).sum())

    def query_stats(self) -> dict[str, float]:
        """Adds ``candidates_above_threshold`` and ``true_above_threshold`` (the exhaustive
        count over the queries searched since ``set_query_params``)."""
        if self._exact is not None:
            threshold = float(self.params["threshold"])
            for batch in self._pending:
                for i in range(len(batch)):
                    self._true_above += self._exact.count_at_least(
                        np.asarray(batch.row(i), dtype=np.int64), threshold)
            self._pending = []
        return {**super().query_stats(),
                "candidates_above_threshold": self._stats["candidates_above_threshold"],
                "true_above_threshold": float(getattr(self, "_true_above", 0.0))}

    def _reset_stats(self) -> None:
        self._stats = {"candidates": 0.0, "candidates_above_threshold": 0.0}
        self._pending = []
        self._true_above = 0.0


class DatasketchForest(_MinHashIndex):
    """``datasketch.MinHashLSHForest``: its top-k query (``k * k_factor`` keys), re-ranked."""

    NAME = "datasketch-forest"
    BUILD_PARAMS = (
        _NUM_PERM,
        Param("l", 16, int, low=1,
              help="prefix trees, each over num_perm // l hash values (datasketch's default "
                   "8 runs out of candidates when similarities are low)"),
        _SEED,
    )
    QUERY_PARAMS = (
        Param("k_factor", 1, int, low=1,
              help="ask the forest for k * k_factor keys, re-rank them exactly, keep k"),
    )

    def _check_params(self) -> None:
        if int(self.params["l"]) > int(self.params["num_perm"]):
            raise InvalidInputError(f"{self.NAME}: l={self.params['l']} trees need num_perm >= "
                                    f"l, got num_perm={self.params['num_perm']}")

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, SetData)
        forest = self._ds.MinHashLSHForest(num_perm=int(self.params["num_perm"]),
                                           l=int(self.params["l"]))
        for i, m in enumerate(self.minhashes(data)):
            forest.add(i, m)
        forest.index()
        self._forest = forest
        self._key_bytes = sum(len(key) for tree in forest.sorted_hashtables for key in tree)
        self._exact = ExactJaccard(data)

    def _candidates(self, signature: Any, k: int) -> Any:
        return self._forest.query(signature, k * int(self.query_params.get("k_factor", 1)))


def _factory(cls: type[_MinHashIndex]) -> Any:
    def make(metric: str = "jaccard", **params: Any) -> _MinHashIndex:
        return cls(metric, **params)
    make.__name__ = f"make_{cls.NAME.replace('-', '_')}"
    make.__doc__ = f"Factory of :class:`{cls.__name__}`."
    return make


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the datasketch wrappers."""
    caps = IndexCapabilities(metrics=frozenset({"jaccard"}),
                             data_kinds=frozenset({DataKind.SETS}))
    register(IndexInfo(
        name=DatasketchLSH.NAME, factory=_factory(DatasketchLSH), capabilities=caps,
        build_params=DatasketchLSH.BUILD_PARAMS,
        build_grid={"num_perm": [128], "threshold": [0.2, 0.3, 0.5, 0.7]},
        description="datasketch MinHashLSH: threshold candidates re-ranked by exact Jaccard",
        library="datasketch", requires=("datasketch",), install_hint=INSTALL_HINT,
        expected_check_failures={
            "check_recall": "MinHash LSH returns only sets that may reach its threshold "
                            "(0.5); the kit's random sets are all below it, so there is "
                            "nothing to re-rank. Its recall is measured against the "
                            "threshold instead (candidate_recall)."}))
    register(IndexInfo(
        name=DatasketchForest.NAME, factory=_factory(DatasketchForest), capabilities=caps,
        build_params=DatasketchForest.BUILD_PARAMS, query_params=DatasketchForest.QUERY_PARAMS,
        build_grid={"num_perm": [128, 256], "l": [8, 16, 32]},
        query_grid={"k_factor": [1, 2, 5, 10, 20, 50]},
        description="datasketch MinHashLSHForest: top-k query re-ranked by exact Jaccard",
        library="datasketch", requires=("datasketch",), install_hint=INSTALL_HINT))


# --------------------------------------------------------------------------- measures


def _ratio(numerator: str, denominator: str) -> Any:
    def compute(ctx: MeasureContext) -> float | None:
        stats = ctx.extra.get("query_stats") or {}
        if numerator not in stats or denominator not in stats:
            return None
        den = float(stats[denominator])
        return float(stats[numerator]) / den if den > 0 else None
    return compute


@hookimpl
def register_measures(register: Any) -> None:
    """Candidate-set precision and recall at a threshold, from threshold-LSH counters."""
    register(MeasureInfo(
        "candidate_precision", _ratio("candidates_above_threshold", "candidates"),
        "threshold LSH: share of candidates whose exact similarity reaches the threshold "
        "(sum over queries / sum over queries)", deterministic=True))
    register(MeasureInfo(
        "candidate_recall", _ratio("candidates_above_threshold", "true_above_threshold"),
        "threshold LSH: share of the indexed sets reaching the threshold that are candidates "
        "(sum over queries / sum over queries)", deterministic=True))
