"""In-house LSH indexes: random hyperplanes (angular), p-stable (euclidean), MinHash (jaccard).

Dense families (this module). Each of ``tables`` (L) hash tables concatenates
``hashes_per_table`` (k) hash functions into one bucket key:

- ``lsh-hyperplane`` (Charikar 2002): bit j is ``r_j . x > 0``, r_j ~ N(0, I) (unit-normed;
  the sign is unchanged). Two vectors at angle theta share a bit with probability
  ``1 - theta / pi``.
- ``lsh-pstable`` (Datar, Immorlica, Indyk & Mirrokni 2004): code j is
  ``floor((a_j . x + b_j) / w)``, a_j ~ N(0, I), b_j ~ U[0, w). Collision probability: see
  :func:`pstable_collision_probability`. ``w`` is a length, so it is set relative to the data:
  ``w = width * r``, r the median distance of up to 100 sampled points to their 10th nearest
  neighbour (exact, over all the data), unless ``bucket_width`` gives w directly.

Tables are sorted arrays (the item ids of each table sorted by bucket key, the distinct keys
and the bucket bounds), searched by binary search. A query probes its own bucket and, with
``probes > 1``, the ``probes - 1`` neighbouring buckets of each table most likely to hold its
neighbours (query-directed multi-probe, Lv et al. 2007: flip the bits of smallest margin, move
the codes whose projection lies nearest a bucket boundary). The union of the buckets is
verified with exact distances (float32 direct sums) and cut to k, so every returned distance
is a true one; recall is what the hashing finds.

``hashes_per_table = 0`` chooses k from the data (E2LSH's rule): the largest k for which a
point at the data's neighbour scale (the median angle or distance of sampled points to their
10th nearest neighbour) still shares a bucket with the query in at least one of the L tables
with probability ``AUTO_RECALL`` (0.9), by the closed-form collision probability
``1 - (1 - p^k)^L``; multi-probe then raises recall further.

Numba kernels: :mod:`plugins._lsh_kernels`. MinHash: :mod:`plugins.minhash`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import ndtr

from harness import BaseIndex, IndexCapabilities, IndexInfo, InvalidInputError, Param, hookimpl
from harness.types import VectorData, resolve_params
from harness.validation import check_dense
from plugins import _lsh_kernels as kern
from plugins import minhash

#: probability with which the automatic k keeps a neighbour at the data's scale findable
AUTO_RECALL = 0.9
#: points sampled to estimate the data's neighbour scale
SCALE_SAMPLE = 100
#: the neighbour rank whose distance sets the p-stable scale
SCALE_RANK = 10
#: rows per leaf of the random-projection tree that orders the stored rows
LEAF_SIZE = 64
#: rows hashed per block at build (bounds the temporary memory)
BUILD_BLOCK = 65536

_COMMON_BUILD = (
    Param("tables", 16, int, "number of hash tables L (results are the union over tables)",
          low=1, high=1024),
    Param("seed", 0, int, "seed of the random projections", low=0),
)
_QUERY = (
    Param("probes", 1, int, "buckets probed per table: 1 = the query's own bucket, more = "
          "query-directed multi-probe of the nearest buckets", low=1, high=4096),
)


# --------------------------------------------------------------------------- closed forms


def hyperplane_collision_probability(theta: Any) -> np.ndarray:
    """Pr[sign(r.x) = sign(r.y)] = 1 - theta / pi for vectors at angle ``theta`` (radians)."""
    theta = np.asarray(theta, dtype=np.float64)
    if np.any((theta < 0) | (theta > math.pi)):
        raise InvalidInputError("angle theta must lie in [0, pi]")
    return 1.0 - theta / math.pi


def pstable_collision_probability(distance: Any, w: float) -> np.ndarray:
    """Collision probability of one Gaussian p-stable hash of bucket width ``w`` for two points
    at euclidean ``distance`` c (Datar et al. 2004): with t = w / c,
    ``1 - 2 Phi(-t) - 2 / (sqrt(2 pi) t) (1 - exp(-t^2 / 2))``; 1 at c = 0."""
    c = np.asarray(distance, dtype=np.float64)
    if not w > 0:
        raise InvalidInputError(f"bucket width w must be > 0, got {w}")
    if np.any(c < 0):
        raise InvalidInputError("distances must be >= 0")
    with np.errstate(divide="ignore", invalid="ignore"):
        t = w / c
        p = (1.0 - 2.0 * ndtr(-t)
             - 2.0 / (math.sqrt(2.0 * math.pi) * t) * (1.0 - np.exp(-0.5 * t * t)))
    return np.where(c == 0, 1.0, p)


def amplified_probability(p: Any, hashes_per_table: int, tables: int) -> np.ndarray:
    """Probability that two items share a bucket in at least one of L tables of k hashes:
    ``1 - (1 - p^k)^L``."""
    p = np.asarray(p, dtype=np.float64)
    return 1.0 - (1.0 - p ** hashes_per_table) ** tables


def auto_hashes(p_near: float, tables: int, max_hashes: int,
                target: float = AUTO_RECALL) -> int:
    """Largest k in [1, max_hashes] with ``1 - (1 - p_near^k)^tables >= target``: a point whose
    per-hash collision probability is ``p_near`` is found with probability ``target``."""
    if not 0.0 < target < 1.0:
        raise InvalidInputError(f"target probability must lie in (0, 1), got {target}")
    p_near = float(np.clip(p_near, 0.0, 1.0))
    if p_near >= 1.0:
        return max_hashes
    if p_near <= 0.0:
        return 1
    per_table = 1.0 - (1.0 - target) ** (1.0 / tables)  # needed p_near^k
    k = math.floor(math.log(per_table) / math.log(p_near))
    return int(min(max(k, 1), max_hashes))


# --------------------------------------------------------------------------- hashers


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float64))
    safe = np.where(norms > 0, norms, 1.0)
    return np.ascontiguousarray(x / safe[:, None], dtype=np.float32), norms.astype(np.float32)


class DenseHasher:
    """The hash functions of a dense LSH index: ``n_hashes`` projections with a family rule.

    :param family: ``"hyperplane"`` or ``"pstable"``.
    :param dim: vector dimension.
    :param n_hashes: number of hash functions (k * L for an index).
    :param w: bucket width (p-stable only).
    :param seed: seed of the projections, offsets and key multipliers.
    """

    def __init__(self, family: str, dim: int, n_hashes: int, w: float = 1.0,
                 seed: int = 0) -> None:
        if family not in ("hyperplane", "pstable"):
            raise InvalidInputError(f"family must be 'hyperplane' or 'pstable', got {family!r}")
        if family == "pstable" and not w > 0:
            raise InvalidInputError(f"p-stable bucket width must be > 0, got {w}")
        rng = np.random.default_rng(seed)
        proj = rng.standard_normal((n_hashes, dim))
        self.family = family
        self.code = kern.HYPERPLANE if family == "hyperplane" else kern.PSTABLE
        if family == "hyperplane":
            proj /= np.linalg.norm(proj, axis=1, keepdims=True)
            self.offsets = np.zeros(n_hashes, dtype=np.float64)
        else:
            self.offsets = rng.uniform(0.0, w, n_hashes)
        self.proj_t = np.ascontiguousarray(proj, dtype=np.float32)
        self.mult = rng.integers(0, 2**64, size=n_hashes, dtype=np.uint64) | np.uint64(1)
        self.w = float(w)
        self.inv_w = 1.0 / self.w

    def hash_values(self, x: Any) -> np.ndarray:
        """Per-function hash values of the rows of ``x``: bits (uint8) for hyperplanes,
        integer codes (int64) for p-stable; shape (n, n_hashes)."""
        x = check_dense(x, "vectors", dim=self.proj_t.shape[1])
        if self.code == kern.HYPERPLANE:
            return (kern.dense_projections(x, self.proj_t) > 0).astype(np.uint8)
        return kern.pstable_codes(x, self.proj_t, self.offsets, self.inv_w)

    def table_keys(self, x: np.ndarray, k_hash: int, n_tables: int) -> np.ndarray:
        """Bucket keys (n_tables, n) uint64 of float32 rows ``x`` (checked by the caller)."""
        out = np.empty((n_tables, x.shape[0]), dtype=np.uint64)
        for s in range(0, x.shape[0], BUILD_BLOCK):
            proj = x[s:s + BUILD_BLOCK] @ self.proj_t.T  # BLAS; queries use a row kernel
            out[:, s:s + BUILD_BLOCK] = kern.keys_from_projections(
                np.ascontiguousarray(proj), self.offsets, self.inv_w, self.mult, k_hash,
                n_tables, self.code)
        return out

    def arrays(self) -> list[np.ndarray]:
        return [self.proj_t, self.offsets, self.mult]


# --------------------------------------------------------------------------- indexes


class _DenseLSHIndex(BaseIndex):
    """Shared build and search of the dense LSH families (see the module docstring)."""

    name = ""
    family = ""
    metric_name = ""
    max_hashes = 64
    build_params: tuple[Param, ...] = ()

    def __init__(self, metric: str | None = None, **params: Any) -> None:
        metric = self.metric_name if metric is None else metric
        if metric != self.metric_name:
            raise InvalidInputError(
                f"{self.name}: metric {metric!r} is not supported; this index hashes for "
                f"{self.metric_name!r} only")
        resolved = resolve_params(self.build_params, params, self.name)
        super().__init__(metric, **resolved)
        self.tables = int(resolved["tables"])
        self.seed = int(resolved["seed"])
        self.k_hash = int(resolved["hashes_per_table"])
        self.probes = 1
        self.hasher: DenseHasher | None = None
        self._stats = np.zeros(3, dtype=np.int64)

    # ---- build
    def _prepare(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The stored form of the data (unit rows for angular) and the row norms."""
        raise NotImplementedError

    def _choose_width_and_k(self, data: np.ndarray, rng: np.random.Generator,
                            ) -> tuple[float, int]:
        raise NotImplementedError

    def _build(self, data: VectorData) -> None:
        assert isinstance(data, np.ndarray)  # dense data, checked by BaseIndex.build
        rng = np.random.default_rng([self.seed, 1])
        stored, norms = self._prepare(data)
        # store the rows in the leaf order of a random-projection tree, so that a query's
        # candidates (near one another) are read from nearby memory; ids are mapped back
        self.order = locality_order(stored, self.seed)
        self.data = np.ascontiguousarray(stored[self.order])
        self.norms = norms[self.order]
        w, k_hash = self._choose_width_and_k(data, rng)
        self.k_hash = k_hash
        self.hasher = DenseHasher(self.family, data.shape[1], k_hash * self.tables, w,
                                  self.seed)
        keys = self.hasher.table_keys(self.data, k_hash, self.tables)
        n = data.shape[0]
        sorted_ids = np.empty((self.tables, n), dtype=np.int32)
        uniq, starts, ends, ptr = [], [], [], [0]
        for t in range(self.tables):
            order = np.argsort(keys[t], kind="stable")
            sk = keys[t][order]
            first = np.flatnonzero(np.concatenate(([True], sk[1:] != sk[:-1])))
            uniq.append(sk[first])
            starts.append(first.astype(np.int32))
            ends.append(np.append(first[1:], n).astype(np.int32))
            ptr.append(ptr[-1] + len(first))
            sorted_ids[t] = order
        self.sorted_ids = sorted_ids
        self.table_keys = np.concatenate(uniq)
        self.bucket_start = np.concatenate(starts)
        self.bucket_end = np.concatenate(ends)
        self.table_ptr = np.asarray(ptr, dtype=np.int64)

    # ---- search
    def set_query_params(self, **params: Any) -> None:
        resolved = resolve_params(_QUERY, params, self.name)
        super().set_query_params(**params)
        self.probes = int(resolved["probes"])

    def _query_form(self, queries: np.ndarray) -> np.ndarray:
        return queries

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.hasher is not None and isinstance(queries, np.ndarray)
        h = self.hasher
        code = kern.ANGULAR if self.metric_name == "angular" else kern.EUCLIDEAN
        ids, dists, stats = kern.dense_search(
            self._query_form(queries), self.data, self.norms, h.proj_t, h.offsets, h.inv_w,
            h.mult, self.k_hash, self.tables, h.code, self.table_keys, self.bucket_start,
            self.bucket_end, self.table_ptr, self.sorted_ids, self.probes, k, code)
        self._stats += stats
        found = ids >= 0
        ids[found] = self.order[ids[found]]
        return ids, dists

    def warmup(self, sample: Any) -> None:
        """Compile (or load from numba's cache) the hashing and search kernels."""
        x = check_dense(sample, "warmup sample")[:64]
        params = dict(self.params)
        params.update(tables=2, hashes_per_table=min(4, self.max_hashes))
        other = type(self)(self.metric, **params)
        other.build(x)
        for probes in (1, 3):
            other.set_query_params(probes=probes)
            other.search(x[:2], 1)
        assert other.hasher is not None
        other.hasher.hash_values(x[:2])

    def query_stats(self) -> dict[str, float]:
        cand, probed, non_empty = (float(v) for v in self._stats)
        return {"distance_computations": cand, "candidates": cand,
                "buckets_probed": probed, "non_empty_buckets": non_empty}

    def _reset_stats(self) -> None:
        self._stats[:] = 0

    def _owned_arrays(self) -> list[Any]:
        if self.hasher is None:
            return []
        return [self.data, self.norms, self.order, self.sorted_ids, self.table_keys,
                self.bucket_start, self.bucket_end, self.table_ptr, *self.hasher.arrays()]

    # ---- introspection
    @property
    def bucket_width(self) -> float:
        """The bucket width w in data units (p-stable; 1.0 for hyperplanes)."""
        return 1.0 if self.hasher is None else self.hasher.w


def locality_order(x: np.ndarray, seed: int, leaf_size: int = LEAF_SIZE) -> np.ndarray:
    """Row order of the leaves of a random-projection tree over ``x`` (int64 permutation).

    Each node splits its rows at the median of their projections onto the difference of two
    of its rows picked at random, until at most ``leaf_size`` rows remain; leaves are laid
    out depth first, so nearby rows end up close in the order (as pynndescent reorders its
    graph by search-tree leaves).
    """
    return kern.rp_tree_order(np.ascontiguousarray(x, dtype=np.float32), int(leaf_size),
                              int(seed) % (2**31))


def _sample_rows(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.sort(rng.choice(n, size=min(SCALE_SAMPLE, n), replace=False))


class HyperplaneLSHIndex(_DenseLSHIndex):
    """Random-hyperplane LSH for the angular metric (1 - cos); see the module docstring."""

    name = "lsh-hyperplane"
    family = "hyperplane"
    metric_name = "angular"
    max_hashes = 64
    build_params = (
        Param("hashes_per_table", 0, int, "bits per table key k (0 = automatic from the "
              "data, at most 64)", low=0, high=64),
        *_COMMON_BUILD,
    )

    def _prepare(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _unit_rows(data)

    def _query_form(self, queries: np.ndarray) -> np.ndarray:
        return _unit_rows(queries)[0]

    def _choose_width_and_k(self, data: np.ndarray, rng: np.random.Generator,
                            ) -> tuple[float, int]:
        if self.k_hash > 0:
            return 1.0, self.k_hash
        rows = _sample_rows(len(self.data), rng)
        neg_cos = -(self.data[rows] @ self.data.T)  # smaller is nearer
        cos_near = -neighbour_scale(neg_cos, rows)
        theta = math.acos(min(max(cos_near, -1.0), 1.0))
        p_near = float(hyperplane_collision_probability(theta))
        return 1.0, auto_hashes(p_near, self.tables, self.max_hashes)


class PStableLSHIndex(_DenseLSHIndex):
    """Gaussian p-stable LSH for the euclidean metric; see the module docstring."""

    name = "lsh-pstable"
    family = "pstable"
    metric_name = "euclidean"
    max_hashes = 32
    build_params = (
        Param("hashes_per_table", 0, int, "codes per table key k (0 = automatic from the "
              "data, at most 32)", low=0, high=32),
        *_COMMON_BUILD,
        Param("width", 4.0, float, "bucket width w as a multiple of the data's scale (the "
              "median distance of sampled points to their 10th nearest neighbour)", low=1e-6),
        Param("bucket_width", 0.0, float, "bucket width w in data units; 0 = use 'width'",
              low=0.0),
    )

    def _prepare(self, data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return data, np.sqrt(np.einsum("ij,ij->i", data, data, dtype=np.float64)
                             ).astype(np.float32)

    def _choose_width_and_k(self, data: np.ndarray, rng: np.random.Generator,
                            ) -> tuple[float, int]:
        fixed_w = float(self.params["bucket_width"])
        if fixed_w > 0 and self.k_hash > 0:
            return fixed_w, self.k_hash
        rows = _sample_rows(len(data), rng)
        centred = data - data.mean(axis=0, dtype=np.float64).astype(np.float32)
        sample = centred[rows]
        sq = (np.einsum("ij,ij->i", sample, sample)[:, None]
              + np.einsum("ij,ij->i", centred, centred)[None, :] - 2.0 * (sample @ centred.T))
        scale = math.sqrt(max(neighbour_scale(sq, rows), 0.0))
        if not scale > 0:
            scale = 1.0
        w = fixed_w if fixed_w > 0 else float(self.params["width"]) * scale
        if self.k_hash > 0:
            return w, self.k_hash
        p_near = float(pstable_collision_probability(scale, w))
        return w, auto_hashes(p_near, self.tables, self.max_hashes)


def neighbour_scale(dist: np.ndarray, self_cols: np.ndarray) -> float:
    """Median over sampled points of the ``SCALE_RANK``-th smallest value of their row of
    ``dist`` (samples, n), a point's own column excluded (``dist[i, self_cols[i]]``); the
    array is modified. With fewer than ``SCALE_RANK`` other points, the largest is used."""
    dist[np.arange(len(self_cols)), self_cols] = np.inf
    others = dist.shape[1] - 1
    if others < 1:
        return 0.0
    rank = min(SCALE_RANK, others) - 1
    kth = np.partition(dist, rank, axis=1)[:, rank]
    return float(np.median(kth.astype(np.float64)))


# --------------------------------------------------------------------------- registration


@hookimpl
def register_indexes(register: Any) -> None:
    """Register ``lsh-hyperplane``, ``lsh-pstable`` and ``lsh-minhash``."""
    register(IndexInfo(
        name=HyperplaneLSHIndex.name,
        factory=HyperplaneLSHIndex,
        capabilities=IndexCapabilities(metrics=frozenset({"angular"}), jit=True),
        build_params=HyperplaneLSHIndex.build_params,
        query_params=_QUERY,
        build_grid={"hashes_per_table": [0], "tables": [8, 16, 32]},
        query_grid={"probes": [1, 2, 4, 8, 16, 32, 64]},
        description="in-house random-hyperplane LSH (numba): k bits x L tables, "
                    "multi-probe, exact re-ranking (angular)",
    ))
    register(IndexInfo(
        name=PStableLSHIndex.name,
        factory=PStableLSHIndex,
        capabilities=IndexCapabilities(metrics=frozenset({"euclidean"}), jit=True),
        build_params=PStableLSHIndex.build_params,
        query_params=_QUERY,
        build_grid={"hashes_per_table": [0], "tables": [8, 16, 32], "width": [4.0]},
        query_grid={"probes": [1, 2, 4, 8, 16, 32, 64]},
        description="in-house p-stable (Gaussian) LSH (numba): k codes x L tables, "
                    "multi-probe, exact re-ranking (euclidean)",
    ))
    minhash.register_minhash(register)
