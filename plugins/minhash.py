"""In-house MinHash LSH (``lsh-minhash``): banded MinHash for the Jaccard metric over sets.

MinHash (Broder 1997). Each token t is pre-hashed with splitmix64 (salted by the seed) and
reduced modulo p = 2^61 - 1; then ``num_perm`` universal hashes ``(a_j h + b_j) mod p``
(a_j in [1, p), b_j in [0, p)) are applied and their low 32 bits kept, as datasketch does.
Slot j of a set's signature is the minimum over its tokens; two sets agree in a slot with
probability equal to their Jaccard similarity. The strong pre-hash matters: a linear hash of
raw small integers is biased low (consecutive integers are far from a random permutation).

Banding. The signature is cut into ``bands`` (b) contiguous bands of ``rows`` (r) slots; two
sets are candidates when they agree on a whole band, which happens with probability
``1 - (1 - s^r)^b`` at similarity s. By default (b, r) minimise the weighted false-positive
and false-negative areas below and above ``threshold`` over b * r <= num_perm, as datasketch's
``MinHashLSH`` does (:func:`optimal_bands`; the areas in closed form through the regularised
incomplete beta function instead of numerical quadrature).

Tables. Each band is a lexicographically sorted array of its rows, searched by binary search,
so a query can also match a shorter prefix of a band: with ``min_candidates = m > 0`` the
prefix shrinks (r - 1, ..., 1 slots) until at least m candidates are found, as LSH Forest
does for top-k queries. Candidates are verified with exact Jaccard and cut to k.

Query counters (``query_stats``): ``candidates`` (= ``distance_computations``),
``candidates_above_threshold`` (candidates whose exact similarity is >= threshold) and
``true_above_threshold`` (items of the whole index with similarity >= threshold to the query,
counted exhaustively when ``query_stats()`` is called, outside the timed searches), from which
candidate-set precision and recall at the threshold follow.

Conventions: Jaccard distance ``1 - |A n B| / |A u B|``; two empty sets are at distance 0,
an empty and a non-empty set at distance 1. An empty set's signature keeps every slot at
2^32 - 1, so empty sets share buckets with each other only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import beta, betainc

from harness import BaseIndex, DataKind, IndexCapabilities, IndexInfo, InvalidInputError, Param
from harness.types import SetData, VectorData, resolve_params
from harness.validation import check_sets
from plugins import _lsh_kernels as kern

NAME = "lsh-minhash"
MERSENNE61 = (1 << 61) - 1

BUILD_PARAMS = (
    Param("num_perm", 128, int, "number of MinHash permutations (signature length)",
          low=2, high=8192),
    Param("threshold", 0.5, float, "Jaccard similarity the bands are tuned for; also the "
          "threshold of the candidate precision/recall counters", low=0.0, high=1.0),
    Param("bands", 0, int, "number of bands b (0 = optimal for the threshold)", low=0),
    Param("rows", 0, int, "slots per band r (0 = optimal for the threshold)", low=0),
    Param("fp_weight", 0.5, float, "weight of false positives in the choice of (b, r); "
          "false negatives get 1 - fp_weight", low=0.0, high=1.0),
    Param("seed", 0, int, "seed of the hash functions", low=0),
)
QUERY_PARAMS = (
    Param("min_candidates", 0, int, "0 = plain banding (whole bands must agree); m > 0 = "
          "shorten the band prefix until at least m candidates are found (LSH Forest style)",
          low=0),
)


# --------------------------------------------------------------------------- banding maths


def band_candidate_probability(s: Any, bands: int, rows: int) -> np.ndarray:
    """Probability ``1 - (1 - s^r)^b`` that two sets of Jaccard similarity ``s`` agree on at
    least one of ``b`` bands of ``r`` slots."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s ** rows) ** bands


def _miss_area(t: Any, b: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``int_0^t (1 - s^r)^b ds`` = (1/r) B(1/r, b+1) I_{t^r}(1/r, b+1) (u = s^r)."""
    inv_r = 1.0 / r
    return inv_r * beta(inv_r, b + 1.0) * betainc(inv_r, b + 1.0, t ** r)


def false_positive_area(threshold: float, bands: Any, rows: Any) -> np.ndarray:
    """``int_0^threshold (1 - (1 - s^r)^b) ds``: candidates below the threshold."""
    b = np.asarray(bands, dtype=np.float64)
    r = np.asarray(rows, dtype=np.float64)
    return threshold - _miss_area(np.float64(threshold), b, r)


def false_negative_area(threshold: float, bands: Any, rows: Any) -> np.ndarray:
    """``int_threshold^1 (1 - s^r)^b ds``: misses above the threshold."""
    b = np.asarray(bands, dtype=np.float64)
    r = np.asarray(rows, dtype=np.float64)
    return _miss_area(np.float64(1.0), b, r) - _miss_area(np.float64(threshold), b, r)


def optimal_bands(threshold: float, num_perm: int, fp_weight: float = 0.5,
                  fn_weight: float | None = None) -> tuple[int, int]:
    """The (bands, rows) with b * r <= num_perm minimising
    ``fp_weight * false_positive_area + fn_weight * false_negative_area``.

    Candidates are scanned by increasing b, then r, and the first minimum is kept (the order
    datasketch uses). ``fn_weight`` defaults to ``1 - fp_weight``; the weights must sum to 1.
    """
    if not 0.0 <= threshold <= 1.0:
        raise InvalidInputError(f"threshold must lie in [0, 1], got {threshold}")
    if int(num_perm) != num_perm or num_perm < 2:
        raise InvalidInputError(f"num_perm must be an integer >= 2, got {num_perm}")
    fn_weight = 1.0 - fp_weight if fn_weight is None else fn_weight
    if abs(fp_weight + fn_weight - 1.0) > 1e-9 or fp_weight < 0 or fn_weight < 0:
        raise InvalidInputError(
            f"weights must be >= 0 and sum to 1, got ({fp_weight}, {fn_weight})")
    num_perm = int(num_perm)
    bs = np.concatenate([np.full(num_perm // b, b) for b in range(1, num_perm + 1)])
    rs = np.concatenate([np.arange(1, num_perm // b + 1) for b in range(1, num_perm + 1)])
    error = (fp_weight * false_positive_area(threshold, bs, rs)
             + fn_weight * false_negative_area(threshold, bs, rs))
    best = int(np.argmin(error))  # first minimum in (b, r) scan order
    return int(bs[best]), int(rs[best])


# --------------------------------------------------------------------------- hashing


def check_sorted_sets(sets: Any, name: str = "sets") -> SetData:
    """Check CSR sets and return them with int64 ``indptr`` and int32 ``indices``.

    Each row's tokens must be strictly increasing (sorted and unique, as
    :meth:`SetData.from_lists` builds them): exact Jaccard is computed by merging rows.
    """
    sets = check_sets(sets, name)
    indptr = np.asarray(sets.indptr)
    indices = np.asarray(sets.indices)
    for part, arr in (("indptr", indptr), ("indices", indices)):
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(
                f"{name}: {part} must be a 1-D integer array, got {arr.dtype} {arr.shape}")
    if indices.size and (indices.min() < np.iinfo(np.int32).min
                         or indices.max() > np.iinfo(np.int32).max):
        raise InvalidInputError(f"{name}: tokens must fit in int32")
    indptr = np.ascontiguousarray(indptr, dtype=np.int64)
    indices = np.ascontiguousarray(indices, dtype=np.int32)
    if indices.size > 1:
        step = np.diff(indices.astype(np.int64)) > 0
        boundary = indptr[1:-1]
        boundary = boundary[(boundary > 0) & (boundary < indices.size)]
        step[boundary - 1] = True
        if not step.all():
            at = int(np.flatnonzero(~step)[0]) + 1
            row = int(np.searchsorted(indptr, at, side="right") - 1)
            raise InvalidInputError(
                f"{name}: the tokens of set {row} are not sorted and unique; build set data "
                "with SetData.from_lists")
    return SetData(indptr, indices)


class MinHasher:
    """``num_perm`` MinHash functions: salted splitmix64 pre-hash, then ``(a h + b) mod
    (2^61 - 1)``, low 32 bits; all drawn from ``seed``."""

    def __init__(self, num_perm: int = 128, seed: int = 0) -> None:
        if int(num_perm) != num_perm or num_perm < 1:
            raise InvalidInputError(f"num_perm must be a positive integer, got {num_perm}")
        rng = np.random.default_rng([seed, 0x4D48])
        self.num_perm = int(num_perm)
        self.a = rng.integers(1, MERSENNE61, size=self.num_perm, dtype=np.uint64)
        self.b = rng.integers(0, MERSENNE61, size=self.num_perm, dtype=np.uint64)
        self.salt = np.uint64(rng.integers(0, 2**64, dtype=np.uint64))

    def signatures(self, sets: Any) -> np.ndarray:
        """MinHash signatures, uint32 (n, num_perm), of CSR sets."""
        sets = check_sorted_sets(sets)
        return kern.minhash_signatures(sets.indptr, sets.indices, self.a, self.b, self.salt)

    def arrays(self) -> list[np.ndarray]:
        return [self.a, self.b]


def estimate_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """The MinHash estimate of Jaccard similarity: the fraction of equal slots (row-wise)."""
    sig_a = np.atleast_2d(sig_a)
    sig_b = np.atleast_2d(sig_b)
    return (sig_a == sig_b).mean(axis=1)


# --------------------------------------------------------------------------- index


class MinHashLSHIndex(BaseIndex):
    """Banded MinHash LSH over sets with exact Jaccard re-ranking; see the module docstring."""

    kind = DataKind.SETS

    def __init__(self, metric: str = "jaccard", **params: Any) -> None:
        if metric != "jaccard":
            raise InvalidInputError(
                f"{NAME}: metric {metric!r} is not supported; MinHash estimates Jaccard "
                "similarity of sets, so the metric must be 'jaccard'")
        resolved = resolve_params(BUILD_PARAMS, params, NAME)
        super().__init__(metric, **resolved)
        self.num_perm = int(resolved["num_perm"])
        self.threshold = float(resolved["threshold"])
        bands, rows = int(resolved["bands"]), int(resolved["rows"])
        if (bands == 0) != (rows == 0):
            raise InvalidInputError(
                f"{NAME}: give both 'bands' and 'rows', or neither (then they are chosen "
                f"for the threshold); got bands={bands}, rows={rows}")
        if bands == 0:
            bands, rows = optimal_bands(self.threshold, self.num_perm,
                                        float(resolved["fp_weight"]))
        if bands * rows > self.num_perm:
            raise InvalidInputError(
                f"{NAME}: bands * rows = {bands} * {rows} = {bands * rows} exceeds "
                f"num_perm = {self.num_perm}")
        self.bands, self.rows = bands, rows
        self.hasher = MinHasher(self.num_perm, int(resolved["seed"]))
        self.min_candidates = 0
        self.sets: SetData | None = None
        self._stats = np.zeros(3, dtype=np.int64)
        self._pending: list[SetData] = []
        self._true_above = 0
        self._inverted: tuple[np.ndarray, np.ndarray] | None = None

    def _build(self, data: VectorData) -> None:
        self.sets = check_sorted_sets(data, "build data")
        sig = kern.minhash_signatures(self.sets.indptr, self.sets.indices, self.hasher.a,
                                      self.hasher.b, self.hasher.salt)
        self.band_rows, self.band_ids = kern.build_bands(sig, self.bands, self.rows)
        self._inverted = None

    def set_query_params(self, **params: Any) -> None:
        resolved = resolve_params(QUERY_PARAMS, params, NAME)
        super().set_query_params(**params)
        self.min_candidates = int(resolved["min_candidates"])

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.sets is not None
        q = check_sorted_sets(queries, "queries")
        sig = kern.minhash_signatures(q.indptr, q.indices, self.hasher.a, self.hasher.b,
                                      self.hasher.salt)
        ids, dists, stats = kern.minhash_search(
            sig, q.indptr, q.indices, self.band_rows, self.band_ids, self.rows,
            self.sets.indptr, self.sets.indices, k, self.min_candidates, self.threshold)
        self._stats += stats
        self._pending.append(q)
        return ids, dists

    def warmup(self, sample: Any) -> None:
        """Compile (or load from numba's cache) the hashing, band and search kernels."""
        x = check_sorted_sets(sample, "warmup sample")
        x = x[np.arange(min(len(x), 64))]
        other = MinHashLSHIndex("jaccard", **{**self.params, "bands": 2, "rows": 1,
                                              "num_perm": 2})
        other.build(x)
        other.set_query_params(min_candidates=1)
        other.search(x[np.arange(min(2, len(x)))], 1)
        other.query_stats()

    def query_stats(self) -> dict[str, float]:
        if self._pending and self.sets is not None:
            inv_indptr, inv_items = self._inverted_index()
            for q in self._pending:
                self._true_above += int(kern.count_at_least(
                    q.indptr, q.indices, self.sets.indptr, inv_indptr, inv_items,
                    self.threshold))
            self._pending = []
        cand, above, steps = (float(v) for v in self._stats)
        return {"distance_computations": cand, "candidates": cand,
                "candidates_above_threshold": above,
                "true_above_threshold": float(self._true_above),
                "prefix_shortenings": steps}

    def _inverted_index(self) -> tuple[np.ndarray, np.ndarray]:
        """token -> items (CSR), built on first use for the exhaustive threshold count; a
        diagnostic structure, not part of the index proper (not in ``index_bytes``)."""
        if self._inverted is None:
            assert self.sets is not None
            tokens = self.sets.indices.astype(np.int64)
            lowest = int(tokens.min()) if tokens.size else 0
            if lowest < 0:
                raise InvalidInputError(
                    f"{NAME}: threshold counters need non-negative tokens, found {lowest}")
            n_tok = int(tokens.max()) + 1 if tokens.size else 0
            items = np.repeat(np.arange(len(self.sets), dtype=np.int32),
                              np.diff(self.sets.indptr))
            order = np.argsort(tokens, kind="stable")
            indptr = np.zeros(n_tok + 1, dtype=np.int64)
            np.cumsum(np.bincount(tokens, minlength=n_tok), out=indptr[1:])
            self._inverted = (indptr, items[order])
        return self._inverted

    def _reset_stats(self) -> None:
        self._stats[:] = 0
        self._pending = []
        self._true_above = 0

    def _owned_arrays(self) -> list[Any]:
        if self.sets is None:
            return []
        return [self.sets, self.band_rows, self.band_ids, *self.hasher.arrays()]


def register_minhash(register: Callable[[IndexInfo], None]) -> None:
    """Register ``lsh-minhash`` (called by :func:`plugins.lsh.register_indexes`)."""
    register(IndexInfo(
        name=NAME,
        factory=MinHashLSHIndex,
        capabilities=IndexCapabilities(metrics=frozenset({"jaccard"}),
                                       data_kinds=frozenset({DataKind.SETS}), jit=True),
        build_params=BUILD_PARAMS,
        query_params=QUERY_PARAMS,
        build_grid={"num_perm": [128], "threshold": [0.5]},
        query_grid={"min_candidates": [0, 20, 100, 500]},
        description="in-house MinHash LSH (numba): splitmix64 pre-hash, Mersenne-prime "
                    "universal hashing, optimal bands, exact Jaccard re-ranking",
    ))
