"""faiss-cpu wrappers: the index-factory string (``faiss``) and named structures.

Registered indexes (all single-threaded unless ``threads`` / ``set_threads`` say otherwise;
OpenMP and BLAS pools are pinned at build and before every search):

- ``faiss``: any ``faiss.index_factory`` string (default ``"Flat"``: ``IndexFlatL2`` /
  ``IndexFlatIP``, exact up to float32 rounding, which loses ties and near-ties; the harness
  scores with float64 ground truth). Optional query parameters ``nprobe``, ``efSearch`` and
  ``k_factor`` are passed through ``faiss.ParameterSpace`` when set.
- ``faiss-ivf``: ``IndexIVFFlat`` (``nlist``; query ``nprobe``).
- ``faiss-ivfpq``: ``IndexIVFPQ`` (``nlist``, ``m``, ``nbits``; query ``nprobe``), optionally
  wrapped in ``IndexRefineFlat`` (``refine``; query ``rerank``: candidates re-ranked with
  exact distances).
- ``faiss-hnsw``: ``IndexHNSWFlat`` (``M``, ``ef_construction``, ``seed``; query ``ef``),
  named as hnswlib's parameters so the two can be swept alike: ``ef_construction`` is faiss's
  ``efConstruction`` and ``ef`` its ``efSearch`` (faiss searches with ``max(efSearch, k)``).
- ``faiss-pq``: ``IndexPQ`` (``m``, ``nbits``), exhaustive asymmetric distances, with the
  same optional ``refine`` / ``rerank``.
- ``faiss-lsh``: ``IndexLSH`` (``nbits``, ``rotate_data``, ``train_thresholds``): sign bits
  after an optional random rotation, searched by an exhaustive Hamming scan (no hash tables;
  faiss's "LSH" is a sketch-and-scan), with the same optional ``refine`` / ``rerank``.

Metrics: euclidean and sqeuclidean (``METRIC_L2``, which returns squared distances), ip
(``METRIC_INNER_PRODUCT``, a similarity returned here as ``-x.y``) and angular (inner product
of L2-normalised COPIES of the base and the queries, never the caller's arrays, returned as
``1 - cos``; a zero vector stays zero, so it is at distance 1 from everything). ``faiss-lsh``
takes euclidean and angular only. faiss is imported when an index is created, so this module
loads without it.

Filtered search: ``faiss``, ``faiss-ivf``, ``faiss-ivfpq`` and ``faiss-hnsw`` declare the
``filter`` capability; ``search(queries, k, filter=mask)`` packs the boolean mask least
significant bit first (``numpy.packbits(mask, bitorder="little")``, the layout of vecbench's
dense bitmap) into a faiss ``IDSelectorBitmap`` and passes it in the search parameters
(``SearchParametersIVF`` with ``nprobe``, ``SearchParametersHNSW`` with ``efSearch``, inside
``IndexRefineSearchParameters`` when re-ranking). faiss's ``IndexPQ`` and ``IndexLSH`` take
no selector, so ``faiss-pq`` and ``faiss-lsh`` are post-filtered by the filtered-search task.

``index_bytes`` is the size of ``faiss.serialize_index`` (what ``write_index`` would save:
codes, ids, centroids, graph, raw vectors where kept), or ``ntotal x code_size`` for flat
indexes, which hold nothing else.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from harness import (
    BaseIndex,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    Param,
    PluginUnavailableError,
    VecbenchError,
    hookimpl,
)
from harness.metrics import get_metric
from harness.types import VectorData, resolve_params
from harness.validation import check_data, check_k
from plugins._threads import check_threads, pin_threads

#: metric name -> (faiss metric attribute, normalise vectors first)
_METRICS = {
    "euclidean": ("METRIC_L2", False),
    "sqeuclidean": ("METRIC_L2", False),
    "ip": ("METRIC_INNER_PRODUCT", False),
    "angular": ("METRIC_INNER_PRODUCT", True),
}
#: IndexLSH compares sign bits: euclidean on the raw data, angular on unit vectors.
_LSH_METRICS = {"euclidean": ("METRIC_L2", False), "angular": ("METRIC_L2", True)}
INSTALL_HINT = "pip install faiss-cpu"
LIBRARY = "faiss-cpu"


def _normalized_copy(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length in a new float32 array (zero rows stay zero)."""
    norms = np.sqrt(np.einsum("ij,ij->i", x.astype(np.float64), x.astype(np.float64)))
    safe = np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(x / safe[:, None], dtype=np.float32)


def _import_faiss(owner: str = "faiss") -> Any:
    """faiss, imported lazily; missing: a clear error with the install hint."""
    try:
        import faiss
    except ImportError:
        raise PluginUnavailableError(
            f"index {owner!r} needs the faiss library; install it with: {INSTALL_HINT}",
        ) from None
    return faiss


def _last_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


class _FaissBase(BaseIndex):
    """What every faiss wrapper shares: metric mapping, normalised copies, thread pinning,
    distance conversion and the serialized size.

    Subclasses set ``NAME``, ``BUILD_PARAMS``, ``QUERY_PARAMS`` and implement
    :meth:`_create` (make, train and fill the faiss index) and :meth:`_apply_query_params`.
    """

    NAME: ClassVar[str] = "faiss"
    METRICS: ClassVar[dict[str, tuple[str, bool]]] = _METRICS
    BUILD_PARAMS: ClassVar[tuple[Param, ...]] = ()
    QUERY_PARAMS: ClassVar[tuple[Param, ...]] = ()
    #: whether the base index returns distances in the metric's units
    OWN_DISTANCES: ClassVar[bool] = True
    #: whether ``search(..., filter=mask)`` runs natively (faiss ``IDSelectorBitmap``)
    FILTER: ClassVar[bool] = False

    def __init__(self, metric: str = "euclidean", threads: int = 1, **params: Any) -> None:
        faiss = _import_faiss(self.NAME)
        name = get_metric(metric).info.name
        if name not in self.METRICS:
            raise InvalidInputError(
                f"{self.NAME}: metric {metric!r} is not supported; use one of "
                f"{sorted(self.METRICS)}")
        resolved = resolve_params(self.BUILD_PARAMS, {**params, "threads": threads},
                                  f"index {self.NAME!r} (build)")
        super().__init__(name, **resolved)
        self._faiss = faiss
        self.threads = check_threads(resolved["threads"], self.NAME)
        attr, self._normalize = self.METRICS[name]
        self._metric_type = getattr(faiss, attr)
        self._index: Any = None
        self._base: Any = None
        self._refined = False

    # ------------------------------------------------------------------ threads
    def set_threads(self, threads: int) -> None:
        """Use ``threads`` OpenMP/BLAS threads from now on."""
        self.threads = check_threads(threads, self.NAME)
        self._pin(refresh=True)

    def _pin(self, refresh: bool = False) -> None:
        self._faiss.omp_set_num_threads(self.threads)
        pin_threads(self.threads, refresh=refresh)

    # ------------------------------------------------------------------ building
    def _create(self, x: np.ndarray) -> Any:
        """Return a trained and filled faiss index for the (possibly normalised) data."""
        raise NotImplementedError

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        self._pin(refresh=True)
        x = _normalized_copy(data) if self._normalize else data
        try:
            self._index = self._create(x)
        except RuntimeError as exc:  # faiss's C++ exceptions
            raise InvalidInputError(f"{self.NAME}: faiss refused to build: {_last_line(exc)}"
                                    ) from None
        if self._base is None:
            self._base = self._index
        self._apply_query_params()

    def _train_add(self, index: Any, x: np.ndarray) -> Any:
        if not index.is_trained:
            index.train(x)
        index.add(x)
        return index

    def _refine_train_add(self, base: Any, x: np.ndarray) -> Any:
        """Train and fill ``base``, inside an ``IndexRefineFlat`` (which also keeps the raw
        vectors) when ``refine``; returns the outer index."""
        self._base = base
        if not self.params.get("refine", False):
            return self._train_add(base, x)
        refined = self._faiss.IndexRefineFlat(base)  # faiss wants an empty base here
        self._refined = True
        return self._train_add(refined, x)

    # ------------------------------------------------------------------ searching
    def set_query_params(self, **params: Any) -> None:
        """Named query parameters (see the index's ``query_params``); unknown names and
        bad values are errors."""
        resolved = resolve_params(self.QUERY_PARAMS, params, f"index {self.NAME!r} (query)")
        if resolved.get("rerank", 0) and not self.params.get("refine", False):
            raise InvalidInputError(
                f"{self.NAME}: rerank={resolved['rerank']} needs the raw vectors; build with "
                "refine=true (or search with rerank=0)")
        super().set_query_params(**resolved)
        if self._index is not None:
            self._apply_query_params()

    def _apply_query_params(self) -> None:
        """Push ``self.query_params`` into the faiss objects."""

    def search(self, queries: VectorData, k: int, filter: Any = None,
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """Top-``k`` of each query; with ``filter`` (a boolean mask of length ``n``) only ids
        where it is True, searched natively through a faiss ``IDSelectorBitmap`` (the mask
        packed least-significant bit first). Fewer than k allowed ids: the rest is -1."""
        if filter is None:
            return super().search(queries, k)
        if self._index is None:
            raise VecbenchError("search() called before build()")
        if not self.FILTER:
            raise InvalidInputError(
                f"{self.NAME}: faiss cannot filter this index natively; post-filter instead "
                "(the filtered-search task does so for indexes without the filter capability)")
        mask = np.asarray(filter)
        if mask.dtype != np.bool_ or mask.shape != (self.n,):
            raise InvalidInputError(
                f"filter must be a boolean mask of shape ({self.n},) (True = allowed), got "
                f"dtype {mask.dtype} and shape {mask.shape}")
        queries = check_data(queries, self.kind, "queries", dim=self.dim)
        k = check_k(k, self.n)
        packed = np.packbits(mask, bitorder="little")  # faiss reads it, must outlive search
        selector = self._faiss.IDSelectorBitmap(self.n, self._faiss.swig_ptr(packed))
        try:
            return self._run_search(queries, k, self._search_parameters(selector))
        except RuntimeError as exc:
            raise InvalidInputError(
                f"{self.NAME}: faiss refused the filtered search: {_last_line(exc)}") from None

    def _search_parameters(self, selector: Any) -> Any:
        """faiss search parameters carrying ``selector`` and this index's query params."""
        return self._faiss.SearchParameters(sel=selector)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        return self._run_search(queries, k, None)

    def _run_search(self, queries: VectorData, k: int, params: Any
                    ) -> tuple[np.ndarray, np.ndarray | None]:
        assert isinstance(queries, np.ndarray)
        self._pin()
        q = _normalized_copy(queries) if self._normalize else queries
        rerank = int(self.query_params.get("rerank", 0) or 0)
        extra = {} if params is None else {"params": params}
        if self._refined and rerank > 0:
            # IndexRefine searches the base for int(k * k_factor) candidates
            k_factor = (max(rerank, k) + 0.5) / k
            self._index.k_factor = k_factor
            if params is not None:
                extra = {"params": self._faiss.IndexRefineSearchParameters(
                    k_factor=k_factor, base_index_params=params)}
            raw_d, ids = self._index.search(q, k, **extra)
            own = True
        else:
            raw_d, ids = self._base.search(q, k, **extra)
            own = self.OWN_DISTANCES
        ids = ids.astype(np.int64, copy=False)
        if not own:
            return ids, None
        return ids, self._to_metric(ids, raw_d)

    def _to_metric(self, ids: np.ndarray, raw: np.ndarray) -> np.ndarray:
        dist = raw.astype(np.float64)
        if self.metric == "euclidean":
            np.sqrt(np.maximum(dist, 0.0, out=dist), out=dist)
        elif self.metric == "angular" and self._metric_type == self._faiss.METRIC_L2:
            dist /= 2.0  # |u - v|^2 / 2 = 1 - cos on unit vectors
        elif self.metric == "ip":
            np.negative(dist, out=dist)
        elif self.metric == "angular":
            np.subtract(1.0, dist, out=dist)
        dist[ids < 0] = np.inf
        return dist

    # ------------------------------------------------------------------ the rest
    def index_bytes(self) -> int:
        """Vector storage for a flat index (``ntotal x code_size``), else the serialized size."""
        if self._index is None:
            return 0
        if isinstance(self._index, self._faiss.IndexFlatCodes) and \
                type(self._index).__name__.startswith("IndexFlat"):
            return int(self._index.ntotal * self._index.code_size)
        return len(self._faiss.serialize_index(self._index))


# =========================================================================== faiss (factory)


class FaissIndex(_FaissBase):
    """A faiss index built by ``faiss.index_factory(d, factory, metric)``.

    :param metric: euclidean, sqeuclidean, ip or angular.
    :param factory: faiss index_factory string (``"Flat"``, ``"IVF1024,Flat"``, ...).
    :param threads: OpenMP/BLAS threads for build and search.
    """

    NAME = "faiss"
    FILTER = True  # flat, IVF and HNSW factories; faiss refuses the others (a clear error)
    BUILD_PARAMS = (
        Param("factory", "Flat", str, help="faiss index_factory string"),
        Param("threads", 1, int, low=1, help="OpenMP/BLAS threads"),
    )
    QUERY_PARAMS = (
        Param("nprobe", None, int, low=1, help="IVF lists scanned (IVF factories; unset: "
              "faiss's default 1)"),
        Param("efSearch", None, int, low=1, help="HNSW candidate list (HNSW factories; "
              "unset: faiss's default 16)"),
        Param("k_factor", None, float, low=1.0, help="re-rank depth as a multiple of k "
              "(factories ending in ',RFlat' / ',Refine(...)')"),
    )

    def __init__(self, metric: str = "euclidean", factory: str = "Flat",
                 threads: int = 1) -> None:
        super().__init__(metric, threads=threads, factory=factory)
        self.factory = str(factory)

    def _create(self, x: np.ndarray) -> Any:
        try:
            index = self._faiss.index_factory(x.shape[1], self.factory, self._metric_type)
        except RuntimeError as exc:
            raise InvalidInputError(
                f"faiss: cannot build index_factory string {self.factory!r}: "
                f"{_last_line(exc)}") from None
        return self._train_add(index, x)

    def set_query_params(self, **params: Any) -> None:
        """Set faiss search parameters by name through ``faiss.ParameterSpace``: the declared
        ``nprobe``, ``efSearch``, ``k_factor`` (None: leave faiss's value), or any other name
        ParameterSpace knows; a name this index does not have is an error."""
        known = {p.name for p in self.QUERY_PARAMS}
        declared = resolve_params(self.QUERY_PARAMS,
                                  {k: v for k, v in params.items() if k in known},
                                  "index 'faiss' (query)")
        extra = {k: v for k, v in params.items() if k not in known}
        BaseIndex.set_query_params(self, **{**declared, **extra})
        if self._index is not None:
            self._apply_query_params()

    def _apply_query_params(self) -> None:
        space = self._faiss.ParameterSpace()
        for name, value in self.query_params.items():
            if value is None:
                continue
            try:
                space.set_index_parameter(self._index, name, float(value))
            except RuntimeError:
                raise InvalidInputError(
                    f"faiss: index {self.factory!r} has no search parameter {name!r}") from None

    def _search_parameters(self, selector: Any) -> Any:
        faiss = self._faiss
        if isinstance(self._index, faiss.IndexIVF):
            return faiss.SearchParametersIVF(sel=selector, nprobe=int(self._index.nprobe))
        if isinstance(self._index, faiss.IndexHNSW):
            return faiss.SearchParametersHNSW(sel=selector,
                                              efSearch=int(self._index.hnsw.efSearch))
        return faiss.SearchParameters(sel=selector)


def make_faiss(metric: str = "euclidean", factory: str = "Flat", threads: int = 1) -> FaissIndex:
    """Factory of :class:`FaissIndex`."""
    return FaissIndex(metric, factory=factory, threads=threads)


# =========================================================================== named structures

_THREADS = Param("threads", 1, int, low=1, help="OpenMP/BLAS threads")
_SEED = Param("seed", 1234, int, low=0, help="seed of faiss's k-means (ClusteringParameters)")
_NLIST = Param("nlist", 0, int, low=0,
               help="inverted lists (coarse k-means centroids); 0: round(4 sqrt(n))")
_NPROBE = Param("nprobe", 1, int, low=1, help="lists scanned per query (capped at nlist)")
_REFINE = Param("refine", True, bool,
                help="keep the raw vectors (IndexRefineFlat) so queries can re-rank exactly")
_RERANK = Param("rerank", 0, int, low=0,
                help="re-rank this many best candidates with exact distances (needs refine); "
                     "0: the codes' own ranking")


#: Defaults equal the in-house ``pq`` / ``ivfpq`` ones (m=8, nbits=4), so that the two compare
#: at equal settings out of the box; the default grids use faiss's usual nbits=8.
PQ_PARAMS = (
    Param("m", 8, int, low=1, help="sub-quantizers (must divide the dimension)"),
    Param("nbits", 4, int, low=1, high=16, help="bits per sub-quantizer code"),
)


def auto_nlist(n: int) -> int:
    """The default number of IVF lists for ``n`` vectors: ``round(4 sqrt(n))``, at most n."""
    return max(1, min(n, round(4 * math.sqrt(n))))


class _IVFMixin:
    """nlist resolution, the k-means seed and the filtered search's parameters shared by
    the IVF wrappers."""

    params: dict[str, Any]
    query_params: dict[str, Any]
    _faiss: Any
    NAME: ClassVar[str]
    FILTER: ClassVar[bool] = True

    def _nlist(self, n: int) -> int:
        nlist = int(self.params["nlist"]) or auto_nlist(n)
        if nlist > n:
            raise InvalidInputError(
                f"{self.NAME}: nlist={nlist} is more than the {n} vectors to index; use "
                "nlist <= n (0 picks round(4 sqrt(n)))")
        return nlist

    def _search_parameters(self, selector: Any) -> Any:
        return self._faiss.SearchParametersIVF(
            sel=selector, nprobe=int(self.query_params.get("nprobe", 1)))

    def _seed_ivf(self, index: Any) -> None:
        index.cp.seed = int(self.params["seed"])


def _check_pq_shape(owner: str, d: int, m: int, nbits: int, n: int) -> None:
    if d % m:
        raise InvalidInputError(f"{owner}: m={m} does not divide the dimension {d}; choose a "
                                "divisor of d")
    if n < (1 << nbits):
        raise InvalidInputError(f"{owner}: nbits={nbits} needs at least {1 << nbits} training "
                                f"vectors (2**nbits centroids per sub-quantizer), got {n}")


class FaissIVFFlat(_IVFMixin, _FaissBase):
    """``IndexIVFFlat``: k-means coarse lists holding the raw vectors."""

    NAME = "faiss-ivf"
    BUILD_PARAMS = (_NLIST, _SEED, _THREADS)
    QUERY_PARAMS = (_NPROBE,)

    def _create(self, x: np.ndarray) -> Any:
        nlist = self._nlist(len(x))
        index = self._faiss.index_factory(x.shape[1], f"IVF{nlist},Flat", self._metric_type)
        self._seed_ivf(index)
        return self._train_add(index, x)

    def _apply_query_params(self) -> None:
        self._base.nprobe = int(self.query_params.get("nprobe", 1))


class FaissIVFPQ(_IVFMixin, _FaissBase):
    """``IndexIVFPQ`` (residual PQ codes in coarse lists), optionally refined."""

    NAME = "faiss-ivfpq"
    BUILD_PARAMS = (_NLIST, *PQ_PARAMS, _REFINE, _SEED, _THREADS)
    QUERY_PARAMS = (_NPROBE, _RERANK)

    def _create(self, x: np.ndarray) -> Any:
        m, nbits = int(self.params["m"]), int(self.params["nbits"])
        _check_pq_shape(self.NAME, x.shape[1], m, nbits, len(x))
        nlist = self._nlist(len(x))
        index = self._faiss.index_factory(x.shape[1], f"IVF{nlist},PQ{m}x{nbits}",
                                          self._metric_type)
        self._seed_ivf(index)
        index.pq.cp.seed = int(self.params["seed"])
        # index_factory turns on polysemous training (for a Hamming pre-filter that is not
        # used here): it is most of the training time and changes no result
        index.do_polysemous_training = False
        return self._refine_train_add(index, x)

    def _apply_query_params(self) -> None:
        self._base.nprobe = int(self.query_params.get("nprobe", 1))


class FaissHNSW(_FaissBase):
    """``IndexHNSWFlat``: faiss's HNSW graph over the raw vectors."""

    NAME = "faiss-hnsw"
    BUILD_PARAMS = (
        Param("M", 32, int, low=2, high=10000,
              help="links per node on the upper layers (2M on layer 0); faiss's default 32"),
        Param("ef_construction", 40, int, low=1,
              help="faiss efConstruction: candidate list while inserting (default 40)"),
        Param("seed", 12345, int, low=0, help="seed of the level generator (faiss: 12345)"),
        _THREADS,
    )
    QUERY_PARAMS = (
        Param("ef", 16, int, low=1,
              help="faiss efSearch: candidate list while searching (uses max(ef, k))"),
    )

    def _create(self, x: np.ndarray) -> Any:
        index = self._faiss.IndexHNSWFlat(x.shape[1], int(self.params["M"]), self._metric_type)
        index.hnsw.efConstruction = int(self.params["ef_construction"])
        index.hnsw.rng = self._faiss.RandomGenerator(int(self.params["seed"]))
        index.add(x)
        return index

    FILTER = True

    def _apply_query_params(self) -> None:
        self._base.hnsw.efSearch = int(self.query_params.get("ef", 16))

    def _search_parameters(self, selector: Any) -> Any:
        return self._faiss.SearchParametersHNSW(
            sel=selector, efSearch=int(self.query_params.get("ef", 16)))


class FaissPQ(_FaissBase):
    """``IndexPQ``: exhaustive asymmetric (ADC) distances over PQ codes, optionally refined."""

    NAME = "faiss-pq"
    BUILD_PARAMS = (*PQ_PARAMS, _REFINE, _SEED, _THREADS)
    QUERY_PARAMS = (_RERANK,)

    def _create(self, x: np.ndarray) -> Any:
        m, nbits = int(self.params["m"]), int(self.params["nbits"])
        _check_pq_shape(self.NAME, x.shape[1], m, nbits, len(x))
        index = self._faiss.IndexPQ(x.shape[1], m, nbits, self._metric_type)
        index.pq.cp.seed = int(self.params["seed"])
        return self._refine_train_add(index, x)


class FaissLSH(_FaissBase):
    """``IndexLSH``: sign bits (after a random rotation) and an exhaustive Hamming scan."""

    NAME = "faiss-lsh"
    METRICS = _LSH_METRICS
    OWN_DISTANCES = False  # Hamming counts between sketches, not the metric's units
    BUILD_PARAMS = (
        Param("nbits", 256, int, low=1, help="bits per sketch"),
        Param("rotate_data", True, bool,
              help="apply a random rotation first (needed when nbits > d)"),
        Param("train_thresholds", True, bool,
              help="threshold each projection at its median instead of 0"),
        _REFINE, _THREADS,
    )
    QUERY_PARAMS = (_RERANK,)

    def _create(self, x: np.ndarray) -> Any:
        nbits = int(self.params["nbits"])
        if nbits > x.shape[1] and not self.params["rotate_data"]:
            raise InvalidInputError(
                f"faiss-lsh: nbits={nbits} exceeds the dimension {x.shape[1]}; use "
                "rotate_data=true or nbits <= d")
        index = self._faiss.IndexLSH(x.shape[1], nbits, bool(self.params["rotate_data"]),
                                     bool(self.params["train_thresholds"]))
        return self._refine_train_add(index, x)


def _factory(cls: type[_FaissBase]) -> Any:
    def make(metric: str = "euclidean", **params: Any) -> _FaissBase:
        return cls(metric, **params)
    make.__name__ = f"make_{cls.NAME.replace('-', '_')}"
    make.__doc__ = f"Factory of :class:`{cls.__name__}`."
    return make


def _info(cls: type[_FaissBase], build_grid: dict[str, list[Any]],
          query_grid: dict[str, list[Any]], description: str) -> IndexInfo:
    return IndexInfo(
        name=cls.NAME, factory=_factory(cls),
        capabilities=IndexCapabilities(metrics=frozenset(cls.METRICS), threads=True,
                                       filter=cls.FILTER),
        build_params=cls.BUILD_PARAMS, query_params=cls.QUERY_PARAMS,
        build_grid=build_grid, query_grid=query_grid, description=description,
        library=LIBRARY, requires=("faiss",), install_hint=INSTALL_HINT)


#: Query grids from few to many candidates, so each traces its whole recall-QPS curve.
NPROBES = [1, 2, 4, 8, 16, 32, 64, 128, 256]
EFS = [10, 20, 40, 80, 120, 200, 400, 800]


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the faiss wrappers."""
    register(IndexInfo(
        name="faiss",
        factory=make_faiss,
        capabilities=IndexCapabilities(metrics=frozenset(_METRICS), threads=True,
                                       filter=True),
        build_params=FaissIndex.BUILD_PARAMS,
        query_params=FaissIndex.QUERY_PARAMS,
        description="faiss-cpu index_factory indexes (default Flat: exact up to float32)",
        library=LIBRARY,
        requires=("faiss",),
        install_hint=INSTALL_HINT,
    ))
    register(_info(FaissIVFFlat, {"nlist": [256, 1024]}, {"nprobe": NPROBES},
                   "faiss IndexIVFFlat (nlist; query nprobe)"))
    register(_info(FaissIVFPQ, {"nlist": [1024], "m": [16], "nbits": [8], "refine": [True]},
                   {"nprobe": [1, 4, 16, 64, 256], "rerank": [0, 100]},
                   "faiss IndexIVFPQ (nlist, m, nbits; query nprobe, exact rerank)"))
    register(_info(FaissHNSW, {"M": [16, 32], "ef_construction": [200]}, {"ef": EFS},
                   "faiss IndexHNSWFlat (M, ef_construction; query ef = efSearch)"))
    register(_info(FaissPQ, {"m": [8, 16], "nbits": [8], "refine": [True]},
                   {"rerank": [0, 10, 50, 200]},
                   "faiss IndexPQ, exhaustive ADC (m, nbits; query exact rerank)"))
    register(_info(FaissLSH, {"nbits": [128, 512], "refine": [True]},
                   {"rerank": [0, 10, 50, 200, 1000]},
                   "faiss IndexLSH sign sketches, exhaustive Hamming scan (query exact rerank)"))
