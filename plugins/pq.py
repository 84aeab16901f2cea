"""In-house product quantization: the ``pq`` and ``ivfpq`` index plugins.

- :class:`ProductQuantizer`: ``m`` sub-spaces of ``d / m`` dimensions, each with ``2**nbits``
  centroids trained by seeded k-means (:mod:`plugins._kmeans`); asymmetric (ADC: the query
  stays exact) and symmetric (SDC: the query is quantized too) distances via look-up tables.
- :class:`PQIndex`: every vector encoded, queries scan all codes (faiss ``IndexPQ``).
- :class:`IVFPQIndex`: a k-means coarse quantizer with ``nlist`` lists, residuals encoded
  by PQ, ``nprobe`` lists scanned per query with the three-term L2 decomposition
  ``||x - y_C - y_R||^2 = ||x - y_C||^2 + (||y_R||^2 + 2<y_C, y_R>) - 2<x, y_R>``, whose
  middle term is precomputed per (list, sub-space, centroid) (faiss ``IndexIVFPQ``).

Both optionally keep the raw vectors (``refine``) to re-rank the best ``rerank`` candidates
with exact distances. Metrics: ``euclidean`` (returned distances are true L2, the square
root of the table sums) and ``ip`` (returned distances are ``-<q, x>`` estimates).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, InvalidInputError, Param, hookimpl
from harness.types import VectorData, resolve_params
from plugins import _pq_kernels as kern
from plugins._kmeans import assign, check_training_size, kmeans

#: metric names accepted, mapped to the two kinds of tables
METRICS = {"euclidean": "l2", "l2": "l2", "sqeuclidean": "l2",
           "ip": "ip", "inner_product": "ip", "dot": "ip"}
#: the per-list IVF-PQ table is precomputed only below this size
PRECOMPUTED_TABLE_MAX_BYTES = 512 * 2 ** 20
#: SDC needs an m x ksub x ksub table: refused above this nbits
SDC_MAX_NBITS = 12
_RERANK_BLOCK = 256


def parse_metric(metric: str, owner: str) -> str:
    """``"l2"`` or ``"ip"`` for a metric name, or a clear error for anything else."""
    key = metric.strip().lower() if isinstance(metric, str) else metric
    if key not in METRICS:
        raise InvalidInputError(
            f"{owner}: metric {metric!r} is not supported; product quantization tables "
            "decompose euclidean (squared L2) and inner-product ('ip') scores only")
    return METRICS[key]


# =========================================================================== quantizer


class ProductQuantizer:
    """A product quantizer: ``m`` codebooks of ``2**nbits`` centroids of ``d / m`` dims.

    :param d: vector dimension; must be a multiple of ``m``.
    :param m: number of sub-spaces (bytes per code when nbits <= 8).
    :param nbits: bits per sub-space code, 1..16.
    :param niter: k-means iterations per sub-space.
    :param seed: seed of the k-means subsample and initial centroids.
    :param max_points_per_centroid: k-means trains on at most this many points per centroid.
    :param min_points_per_centroid: fewer training points per centroid is an error.
    """

    def __init__(self, d: int, m: int, nbits: int = 8, *, niter: int = 25, seed: int = 1234,
                 max_points_per_centroid: int = 256, min_points_per_centroid: int = 1) -> None:
        if m < 1 or d < 1:
            raise InvalidInputError(f"pq: m and d must be >= 1, got m={m}, d={d}")
        if d % m != 0:
            divisors = [v for v in range(1, d + 1) if d % v == 0]
            raise InvalidInputError(
                f"pq: dimension d={d} is not a multiple of m={m}; sub-spaces must split the "
                f"vector evenly. Divisors of {d}: {divisors}")
        if not 1 <= nbits <= 16:
            raise InvalidInputError(f"pq: nbits must be in 1..16, got {nbits}")
        self.d, self.m, self.nbits = int(d), int(m), int(nbits)
        self.ksub = 1 << self.nbits
        self.dsub = self.d // self.m
        self.niter, self.seed = int(niter), int(seed)
        self.max_points_per_centroid = int(max_points_per_centroid)
        self.min_points_per_centroid = int(min_points_per_centroid)
        self.code_dtype = np.uint8 if self.nbits <= 8 else np.uint16
        self.codebooks = np.zeros((self.m, self.ksub, self.dsub), np.float32)
        self.trained = False
        self._sdc: dict[str, np.ndarray] = {}

    def _check(self, x: Any, name: str) -> np.ndarray:
        arr = np.ascontiguousarray(x, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[1] != self.d:
            raise InvalidInputError(f"pq: {name} must have shape (n, {self.d}), got {arr.shape}")
        return arr

    def train(self, x: Any) -> ProductQuantizer:
        """Train one k-means codebook per sub-space on ``x`` (n, d)."""
        x = self._check(x, "training data")
        check_training_size(len(x), self.ksub, self.min_points_per_centroid, "pq")
        for sub in range(self.m):
            part = np.ascontiguousarray(x[:, sub * self.dsub:(sub + 1) * self.dsub])
            self.codebooks[sub] = kmeans(
                part, self.ksub, niter=self.niter, seed=self.seed,
                max_points_per_centroid=self.max_points_per_centroid,
                min_points_per_centroid=self.min_points_per_centroid,
                what=f"pq sub-space {sub}", warn=False).centroids
        self.trained = True
        self._sdc = {}
        return self

    def _ready(self) -> None:
        if not self.trained:
            from harness.errors import VecbenchError

            raise VecbenchError("pq: the quantizer is not trained; call train() first")

    def encode(self, x: Any) -> np.ndarray:
        """Codes (n, m): the nearest centroid of each sub-vector (uint8, or uint16 if
        nbits > 8)."""
        self._ready()
        x = self._check(x, "vectors")
        codes = np.empty((len(x), self.m), self.code_dtype)
        for sub in range(self.m):
            part = np.ascontiguousarray(x[:, sub * self.dsub:(sub + 1) * self.dsub])
            codes[:, sub] = assign(part, self.codebooks[sub])[0]
        return codes

    def decode(self, codes: Any) -> np.ndarray:
        """Reconstructions (n, d) float32: the concatenated centroids of each code."""
        self._ready()
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] != self.m:
            raise InvalidInputError(f"pq: codes must have shape (n, {self.m}), got {codes.shape}")
        if codes.size and (codes.min() < 0 or codes.max() >= self.ksub):
            raise InvalidInputError(f"pq: codes must lie in 0..{self.ksub - 1}")
        parts = [self.codebooks[sub][codes[:, sub]] for sub in range(self.m)]
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def distance_tables(self, queries: Any, kind: str = "l2") -> np.ndarray:
        """ADC tables (nq, m, ksub): ``||q_m - c_mj||^2`` (``"l2"``) or ``-<q_m, c_mj>``
        (``"ip"``)."""
        self._ready()
        q = self._check(queries, "queries")
        if kind == "l2":
            return kern.l2_tables(q, self.codebooks)
        return kern.dot_tables(q, self.codebooks, -1.0)

    def sdc_table(self, kind: str = "l2") -> np.ndarray:
        """Centroid-to-centroid tables (m, ksub, ksub): squared distances (``"l2"``) or
        ``-<c_ma, c_mb>`` (``"ip"``); computed once per kind."""
        self._ready()
        if self.nbits > SDC_MAX_NBITS:
            raise InvalidInputError(
                f"pq: SDC needs an m x 2^nbits x 2^nbits table; nbits={self.nbits} is above "
                f"{SDC_MAX_NBITS}. Use ADC (search_type='adc')")
        if kind not in self._sdc:
            table = np.empty((self.m, self.ksub, self.ksub), np.float32)
            for sub in range(self.m):
                c = self.codebooks[sub].astype(np.float64)
                dots = c @ c.T
                if kind == "l2":
                    sq = np.diag(dots)
                    table[sub] = np.maximum(sq[:, None] + sq[None, :] - 2.0 * dots, 0.0)
                else:
                    table[sub] = -dots
            self._sdc[kind] = table
        return self._sdc[kind]

    def sdc_tables(self, queries: Any, kind: str = "l2") -> np.ndarray:
        """SDC tables (nq, m, ksub): rows of :meth:`sdc_table` picked by the query's code."""
        qcodes = self.encode(queries)
        table = self.sdc_table(kind)
        out = np.empty((len(qcodes), self.m, self.ksub), np.float32)
        for sub in range(self.m):
            out[:, sub, :] = table[sub][qcodes[:, sub]]
        return out

    def adc_distances(self, queries: Any, codes: Any, kind: str = "l2") -> np.ndarray:
        """(nq, n) table distances: ``||q - decode(code)||^2`` or ``-<q, decode(code)>``."""
        tables = self.distance_tables(queries, kind)
        return kern.adc_distances(tables, np.ascontiguousarray(codes, self.code_dtype))

    def sdc_distances(self, queries: Any, codes: Any, kind: str = "l2") -> np.ndarray:
        """(nq, n) ``||q' - decode(code)||^2`` or ``-<q', decode(code)>`` via the SDC table,
        ``q' = decode(encode(q))`` (the query quantized too)."""
        tables = self.sdc_tables(queries, kind)
        return kern.adc_distances(tables, np.ascontiguousarray(codes, self.code_dtype))

    def nbytes(self) -> int:
        return int(self.codebooks.nbytes + sum(t.nbytes for t in self._sdc.values()))


# =========================================================================== indexes


def _pq_params(default_m: int, default_nbits: int) -> tuple[Param, ...]:
    return (
        Param("m", default_m, int, "sub-spaces (d must be a multiple of m)", low=1),
        Param("nbits", default_nbits, int, "bits per sub-space code (2**nbits centroids)",
              low=1, high=16),
        Param("niter", 25, int, "k-means iterations", low=0),
        Param("seed", 1234, int, "seed of every k-means"),
        Param("max_points_per_centroid", 256, int,
              "k-means trains on at most this many points per centroid", low=1),
        Param("min_points_per_centroid", 1, int,
              "fewer training points per centroid is an error", low=1),
        Param("refine", True, bool,
              "keep the raw vectors so queries can re-rank candidates exactly (rerank)"),
    )


PQ_BUILD_PARAMS = _pq_params(8, 4)
PQ_QUERY_PARAMS = (
    Param("search_type", "adc", str, "adc: exact query; sdc: the query quantized too",
          choices=("adc", "sdc")),
    Param("rerank", 0, int, "re-rank this many best candidates with exact distances "
          "(needs refine); 0: no re-ranking", low=0),
)
IVFPQ_BUILD_PARAMS = (
    Param("nlist", 16, int, "inverted lists (coarse k-means centroids)", low=1),
    *_pq_params(8, 4),
)
IVFPQ_QUERY_PARAMS = (
    Param("nprobe", 8, int, "lists scanned per query (capped at nlist)", low=1),
    Param("rerank", 0, int, "re-rank this many best candidates with exact distances "
          "(needs refine); 0: no re-ranking", low=0),
)


def _exact_rerank(vectors: np.ndarray, queries: np.ndarray, cand: np.ndarray, k: int,
                  kind: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Top-k of the candidate ids (-1 = none) by exact float64 distance, ties by id.

    Distances returned are squared L2 or ``-<q, x>``; also the number of exact distances.
    """
    nq = len(queries)
    out_i = np.full((nq, k), -1, np.int64)
    out_d = np.full((nq, k), np.inf, np.float64)
    n_exact = 0
    for s in range(0, nq, _RERANK_BLOCK):
        ids = cand[s:s + _RERANK_BLOCK]
        valid = ids >= 0
        n_exact += int(valid.sum())
        x = vectors[np.where(valid, ids, 0)].astype(np.float64)
        q = queries[s:s + _RERANK_BLOCK, None, :].astype(np.float64)
        if kind == "l2":
            diff = x - q
            dist = np.einsum("qrd,qrd->qr", diff, diff)
        else:
            dist = -np.einsum("qrd,qrd->qr", x, q)
        dist[~valid] = np.inf
        order = np.lexsort((np.where(valid, ids, np.iinfo(np.int64).max), dist), axis=1)[:, :k]
        out_i[s:s + _RERANK_BLOCK] = np.take_along_axis(np.where(valid, ids, -1), order, 1)
        out_d[s:s + _RERANK_BLOCK] = np.take_along_axis(dist, order, 1)
    return out_i, out_d, n_exact


def _final_distances(dist: np.ndarray, ids: np.ndarray, kind: str) -> np.ndarray:
    """Table or exact scores -> returned distances (true L2, or -<q, x>); inf where no id."""
    out = dist.astype(np.float64)
    if kind == "l2":
        out = np.sqrt(np.maximum(out, 0.0))
    out[ids < 0] = np.inf
    return out


class _PQBase(BaseIndex):
    """What PQ and IVF-PQ share: parameters, the quantizer, re-ranking, stats, warmup."""

    NAME = ""
    BUILD_PARAMS: tuple[Param, ...] = ()
    QUERY_PARAMS: tuple[Param, ...] = ()

    def __init__(self, metric: str = "euclidean", **params: Any) -> None:
        params = resolve_params(self.BUILD_PARAMS, params, self.NAME)
        super().__init__(metric, **params)
        self.score = parse_metric(metric, self.NAME)
        self.q = resolve_params(self.QUERY_PARAMS, {}, self.NAME)
        self.pq: ProductQuantizer | None = None
        self.vectors: np.ndarray | None = None
        self.codes: np.ndarray | None = None
        self._stats = {"codes_scanned": 0.0, "exact_distances": 0.0}
        #: seconds of the last build spent training (k-means), the rest being encoding
        self.train_seconds = 0.0

    def _new_quantizer(self, d: int) -> ProductQuantizer:
        p = self.params
        return ProductQuantizer(
            d, p["m"], p["nbits"], niter=p["niter"], seed=p["seed"],
            max_points_per_centroid=p["max_points_per_centroid"],
            min_points_per_centroid=p["min_points_per_centroid"])

    def set_query_params(self, **params: Any) -> None:
        resolved = resolve_params(self.QUERY_PARAMS, params, self.NAME)
        if resolved["rerank"] > 0 and not self.params["refine"]:
            raise InvalidInputError(
                f"{self.NAME}: rerank={resolved['rerank']} needs the raw vectors; build with "
                "refine=true (or search with rerank=0)")
        super().set_query_params(**params)
        self.q = resolved

    def _candidates(self, k: int) -> int:
        return min(self.n, max(k, int(self.q["rerank"])))

    def _finish(self, queries: np.ndarray, ids: np.ndarray, dist: np.ndarray,
                k: int) -> tuple[np.ndarray, np.ndarray]:
        if self.q["rerank"] > 0 and self.vectors is not None:
            ids, dist, n_exact = _exact_rerank(self.vectors, queries, ids, k, self.score)
            self._stats["exact_distances"] += n_exact
        else:
            ids, dist = ids[:, :k], dist[:, :k]
        return ids, _final_distances(dist, ids, self.score)

    def query_stats(self) -> dict[str, float]:
        return dict(self._stats)

    def _reset_stats(self) -> None:
        self._stats = {"codes_scanned": 0.0, "exact_distances": 0.0}

    def warmup(self, sample: Any) -> None:
        """Compile (or load from numba's cache) every kernel this index's searches use."""
        rng = np.random.default_rng(0)
        code_dtype = np.uint8 if self.params["nbits"] <= 8 else np.uint16
        x = rng.standard_normal((40, 4)).astype(np.float32)
        cb = rng.standard_normal((2, 4, 2)).astype(np.float32)
        codes = rng.integers(0, 4, size=(40, 2)).astype(code_dtype)
        tables = kern.l2_tables(x[:3], cb)
        kern.adc_scan(tables, codes, 2)
        kern.adc_distances(tables, codes)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for width in (1, 2, 8):  # direct kernel, its 8-d form, BLAS
                kmeans(np.tile(x, (1, width)), 4, niter=1, seed=0)
        coarse = x[:2].copy()
        term2 = kern.ivf_l2_term2(coarse, cb)
        probes = kern.smallest_per_row(tables[:, 0, :2].copy(), 1)  # lists 0 or 1
        term1 = np.zeros((3, 1), np.float32)
        offsets = np.array([0, 40, 40], np.int64)
        ivf_tables = np.ascontiguousarray(tables.transpose(1, 0, 2))  # (m, nq, ksub)
        for mode in (kern.IVF_L2_PRECOMPUTED, kern.IVF_L2_RESIDUAL, kern.IVF_IP):
            kern.ivf_scan(x[:3], ivf_tables, probes, term1, term2, mode, coarse, cb, offsets,
                          codes, np.arange(40, dtype=np.int64), 2)


class PQIndex(_PQBase):
    """Product quantization over all vectors (exhaustive code scan); see the module doc."""

    NAME = "pq"
    BUILD_PARAMS = PQ_BUILD_PARAMS
    QUERY_PARAMS = PQ_QUERY_PARAMS

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        t0 = time.perf_counter()
        self.pq = self._new_quantizer(data.shape[1]).train(data)
        self.train_seconds = time.perf_counter() - t0
        self.codes = self.pq.encode(data)
        self.vectors = data.copy() if self.params["refine"] else None

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        assert self.pq is not None and self.codes is not None
        if self.q["search_type"] == "sdc":
            tables = self.pq.sdc_tables(queries, self.score)
        else:
            tables = self.pq.distance_tables(queries, self.score)
        ids, dist = kern.adc_scan(tables, self.codes, self._candidates(k))
        self._stats["codes_scanned"] += float(len(queries) * self.n)
        return self._finish(queries, ids, dist, k)

    def _owned_arrays(self) -> list[Any]:
        if self.pq is None:
            return []
        return [self.pq.codebooks, self.codes, self.vectors, *self.pq._sdc.values()]


class IVFPQIndex(_PQBase):
    """IVF-PQ: coarse k-means lists, residuals encoded by PQ; see the module doc."""

    NAME = "ivfpq"
    BUILD_PARAMS = IVFPQ_BUILD_PARAMS
    QUERY_PARAMS = IVFPQ_QUERY_PARAMS

    def _coarse_scores(self, x: np.ndarray) -> np.ndarray:
        """Smaller is nearer: squared L2 (up to a per-row constant) or -<x, c>."""
        dots = x @ self.coarse.T
        if self.score == "ip":
            return -dots
        return self._coarse_norms[None, :] - 2.0 * dots

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)
        p = self.params
        nlist = int(p["nlist"])
        t0 = time.perf_counter()
        self.coarse = kmeans(
            data, nlist, niter=p["niter"], seed=p["seed"],
            max_points_per_centroid=p["max_points_per_centroid"],
            min_points_per_centroid=p["min_points_per_centroid"],
            what="ivfpq coarse quantizer").centroids
        self._coarse_norms = np.einsum("ij,ij->i", self.coarse, self.coarse)
        if self.score == "l2":
            lists = assign(data, self.coarse)[0]
        else:
            lists = np.concatenate([self._coarse_scores(data[s:s + 8192]).argmin(axis=1)
                                    for s in range(0, len(data), 8192)])
        residuals = data - self.coarse[lists]
        self.pq = self._new_quantizer(data.shape[1]).train(residuals)
        self.train_seconds = time.perf_counter() - t0
        codes = self.pq.encode(residuals)
        order = np.argsort(lists, kind="stable")
        self.list_ids = order.astype(np.int64)
        self.codes = np.ascontiguousarray(codes[order])
        self.offsets = np.zeros(nlist + 1, np.int64)
        np.cumsum(np.bincount(lists, minlength=nlist), out=self.offsets[1:])
        self.vectors = data.copy() if p["refine"] else None
        table_bytes = nlist * self.pq.m * self.pq.ksub * 4
        if self.score == "l2" and table_bytes <= PRECOMPUTED_TABLE_MAX_BYTES:
            self.term2 = kern.ivf_l2_term2(self.coarse, self.pq.codebooks)
            self.mode = kern.IVF_L2_PRECOMPUTED
        else:
            self.term2 = np.zeros((0, self.pq.m, self.pq.ksub), np.float32)
            self.mode = kern.IVF_L2_RESIDUAL if self.score == "l2" else kern.IVF_IP
        scale = -2.0 if self.score == "l2" else -1.0
        self._scaled_codebooks_t = np.ascontiguousarray(
            scale * self.pq.codebooks.transpose(0, 2, 1), dtype=np.float32)

    def list_sizes(self) -> np.ndarray:
        """Number of vectors in each inverted list."""
        return np.diff(self.offsets)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert isinstance(queries, np.ndarray)
        assert self.pq is not None and self.codes is not None
        nprobe = min(int(self.q["nprobe"]), len(self.coarse))
        scores = self._coarse_scores(queries)
        if nprobe < scores.shape[1]:
            probes = kern.smallest_per_row(np.ascontiguousarray(scores, np.float32), nprobe)
        else:
            probes = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
        m_sub, ksub, dsub = self.pq.codebooks.shape
        if self.score == "l2":
            # ||x - y_C||^2 from the coarse scores (||y_C||^2 - 2 <x, y_C>) plus ||x||^2, as
            # faiss takes it from its coarse search: no (nq, nprobe, d) temporary
            qnorm = np.einsum("ij,ij->i", queries, queries)
            term1 = np.take_along_axis(scores, probes, 1) + qnorm[:, None]
            term1 = np.ascontiguousarray(np.maximum(term1, 0.0), np.float32)
        else:
            term1 = np.ascontiguousarray(np.take_along_axis(scores, probes, 1), np.float32)
        if self.mode == kern.IVF_L2_RESIDUAL:
            tables = np.zeros((m_sub, 1, ksub), np.float32)
        else:
            # (m, nq, ksub) = -2 <x_m, c_mj> (l2) or -<x_m, c_mj> (ip), one batched product
            sub = queries.reshape(len(queries), m_sub, dsub).transpose(1, 0, 2)
            tables = np.matmul(sub, self._scaled_codebooks_t)
        ids, dist, n_codes = kern.ivf_scan(
            queries, tables, probes, term1, self.term2, self.mode, self.coarse,
            self.pq.codebooks, self.offsets, self.codes, self.list_ids, self._candidates(k))
        self._stats["codes_scanned"] += float(n_codes)
        return self._finish(queries, ids, dist, k)

    def _owned_arrays(self) -> list[Any]:
        if self.pq is None:
            return []
        return [self.pq.codebooks, self.codes, self.vectors, self.coarse, self.list_ids,
                self.offsets, self.term2]


def _info(name: str, factory: Any, build: tuple[Param, ...], query: tuple[Param, ...],
          build_grid: dict, query_grid: dict, description: str) -> IndexInfo:
    return IndexInfo(
        name=name, factory=factory,
        capabilities=IndexCapabilities(metrics=frozenset({"euclidean", "ip"}), jit=True),
        build_params=build, query_params=query, build_grid=build_grid,
        query_grid=query_grid, description=description)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the ``pq`` and ``ivfpq`` indexes."""
    register(_info(
        "pq", PQIndex, PQ_BUILD_PARAMS, PQ_QUERY_PARAMS,
        {"m": [8, 16], "nbits": [4, 8]},
        {"search_type": ["adc", "sdc"], "rerank": [0, 16, 64, 256]},
        "in-house product quantization (numba): ADC / SDC tables, optional exact re-rank"))
    register(_info(
        "ivfpq", IVFPQIndex, IVFPQ_BUILD_PARAMS, IVFPQ_QUERY_PARAMS,
        {"nlist": [16, 64], "m": [8, 16], "nbits": [4, 8]},
        {"nprobe": [1, 4, 16, 64], "rerank": [0, 16, 64, 256]},
        "in-house IVF-PQ (numba): coarse lists, residual PQ, precomputed L2 term, re-rank"))


__all__ = ["IVFPQIndex", "PQIndex", "ProductQuantizer", "parse_metric"]
