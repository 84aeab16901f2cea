"""Conformance kit for plugin authors: one call runs every applicable check on a plugin.

In the spirit of scikit-learn's ``check_estimator`` / ``parametrize_with_checks``:

- :func:`check_index` / :func:`check_metric` run the checks that apply to an index or a
  metric (chosen from what its info record declares) and return :class:`CheckResult` rows;
- :func:`parametrize_with_checks` turns them into one pytest case per (plugin, metric, check),
  with readable ids (``bruteforce-euclidean-check_results_exact``) that ``-k`` selects, and
  declared expected failures as strict xfails;
- :func:`run_checks` backs ``vecbench check MODULE_OR_NAME``.

Every check runs on small seeded data (by default 500 x 16 Gaussian base vectors and 30
queries; random bit-packed vectors for binary metrics, random token sets for set metrics), so
a failure reproduces exactly. Results are judged against an independent float64 brute force:
scipy's ``cdist`` (or a plain numpy / Python-set computation) for the well-known metrics, the
registered metric's own ``pairwise`` for any other. Exact indexes must return the true k
nearest neighbours, ties included (compared by distance, so any id among tied ones counts).
Approximate indexes must reach a recall floor (default 0.8, distance-based recall@10 as the
leaderboard computes it) at the most generous point of their own default query grid; the
checks of their capabilities (filter, add, delete, ...) run at that point.
"""

from __future__ import annotations

import functools
import importlib.util
import itertools
import math
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import UnknownNameError, VecbenchError
from harness.types import (
    DataKind,
    IndexInfo,
    MetricInfo,
    Param,
    SetData,
    VectorData,
    n_items,
    resolve_params,
)

__all__ = [
    "CheckCase", "CheckFailed", "CheckResult", "ConformanceError", "KitData", "KitSettings",
    "check_index", "check_metric", "index_checks", "iter_check_cases", "make_data",
    "metric_checks", "parametrize_with_checks", "reference_pairwise", "run_checks",
]

#: Exceptions an input check may raise (``InvalidInputError`` is a ``ValueError``).
INPUT_ERRORS: tuple[type[BaseException], ...] = (ValueError, TypeError)


# =========================================================================== records


@dataclass(frozen=True)
class KitSettings:
    """Sizes, seed and thresholds of the kit's data.

    :param n: base vectors per check.
    :param dim: dimension of dense vectors.
    :param n_queries: queries per check.
    :param k: neighbours asked for.
    :param seed: seed of every random choice of the kit.
    :param recall_floor: recall@k an approximate index must reach at the most generous point
        of its default query grid (distance-based recall, ties counted).
    :param binary_bits: bits per vector of binary data (a multiple of 8).
    :param vocabulary: token range of set data.
    :param max_grid_points: query-grid points tried at most when looking for the most
        generous one (the first ones of the grid's cartesian product).
    :param small_n: base vectors of the small index used to check ``k == n``.
    """

    n: int = 500
    dim: int = 16
    n_queries: int = 30
    k: int = 10
    seed: int = 0
    recall_floor: float = 0.8
    binary_bits: int = 64
    vocabulary: int = 200
    max_grid_points: int = 64
    small_n: int = 40


@dataclass
class CheckResult:
    """The outcome of one check on one plugin (and one metric, for indexes).

    :param plugin: the index or metric name.
    :param kind: ``"index"``, ``"metric"`` or ``"plugin"`` (loading a plugin module).
    :param check: the check's name (``"check_results_exact"``).
    :param passed: True when the check passed, or failed as declared in
        ``expected_failures``.
    :param error: why it failed (or why the expected failure did not happen).
    :param seconds: wall seconds the check took.
    :param metric: the metric an index check ran with.
    :param expected_failure: the declared reason, when the check is an expected failure.
    """

    plugin: str
    kind: str
    check: str
    passed: bool
    error: str | None = None
    seconds: float = 0.0
    metric: str | None = None
    expected_failure: str | None = None

    @property
    def status(self) -> str:
        """``passed``, ``failed``, ``xfail`` (failed as expected) or ``xpass``."""
        if self.expected_failure is not None:
            return "xfail" if self.passed else "xpass"
        return "passed" if self.passed else "failed"

    def as_dict(self) -> dict[str, Any]:
        return {
            "plugin": self.plugin, "kind": self.kind, "metric": self.metric,
            "check": self.check, "status": self.status, "passed": self.passed,
            "error": self.error, "seconds": self.seconds,
            "expected_failure": self.expected_failure,
        }


class CheckFailed(AssertionError):
    """A conformance check found the plugin at odds with its contract."""


class ConformanceError(VecbenchError, AssertionError):
    """Raised by :func:`check_index` / :func:`check_metric` when checks fail."""

    def __init__(self, results: Sequence[CheckResult]) -> None:
        failed = [r for r in results if not r.passed]
        lines = [f"{len(failed)} of {len(results)} conformance checks failed:"]
        for r in failed:
            where = f"{r.plugin}[{r.metric}]" if r.metric else r.plugin
            lines.append(f"- {where} {r.check}: {r.error}")
        super().__init__("\n".join(lines))
        self.results = list(results)


# =========================================================================== data


@dataclass(frozen=True)
class KitData:
    """Base vectors and queries of one data kind (see :func:`make_data`)."""

    kind: DataKind
    train: VectorData
    queries: VectorData


def make_data(kind: DataKind | str = DataKind.DENSE, *, n: int = 500, dim: int = 16,
              n_queries: int = 30, seed: int = 0, binary_bits: int = 64,
              vocabulary: int = 200, ties: bool = False, domain: str = "real") -> KitData:
    """Small seeded data of one kind: the same arguments always give the same arrays.

    - dense: standard normal float32 (n, dim) base vectors and (n_queries, dim) queries;
      with ``domain="probability"`` (metrics over probability vectors, such as the
      divergences) the softmax of those rows instead, on the open simplex;
    - binary: uniformly random bits, packed LSB-first into uint8 (n, binary_bits / 8);
    - sets: random sets of 3 to 30 tokens out of ``range(vocabulary)``, as :class:`SetData`.

    With ``ties=True`` the base holds every vector twice (in shuffled order) and a third of
    the queries are base vectors, so exact answers have ties at every rank.
    """
    kind = DataKind(kind)
    rng = np.random.default_rng([seed, 7919])
    n_distinct = (n + 1) // 2 if ties else n

    def draw(rows: int) -> Any:
        if kind is DataKind.DENSE:
            z = rng.standard_normal((rows, dim))
            if domain == "probability":
                z = np.exp(z)
                z /= z.sum(axis=1, keepdims=True)
            return z.astype(np.float32)
        if kind is DataKind.BINARY:
            if binary_bits % 8:
                raise ValueError(f"binary_bits must be a multiple of 8, got {binary_bits}")
            return rng.integers(0, 256, size=(rows, binary_bits // 8), dtype=np.uint8)
        sizes = rng.integers(3, 31, size=rows)
        return SetData.from_lists(
            [rng.choice(vocabulary, size=min(int(s), vocabulary), replace=False).tolist()
             for s in sizes])

    base = draw(n_distinct)
    queries = draw(n_queries)
    if ties:
        order = rng.permutation(2 * n_distinct)[:n]
        rows = order % n_distinct
        base = _take(base, rows)
        picked = rng.choice(n, size=n_queries // 3, replace=False)
        queries = _replace_rows(queries, np.arange(len(picked)), _take(base, picked))
    return KitData(kind, base, queries)


def _take(data: VectorData, rows: np.ndarray) -> VectorData:
    if isinstance(data, SetData):
        return data[np.asarray(rows)]
    return np.ascontiguousarray(data[np.asarray(rows)])


def _replace_rows(data: VectorData, at: np.ndarray, new: VectorData) -> VectorData:
    if isinstance(data, SetData):
        assert isinstance(new, SetData)
        rows = [data.row(i).tolist() for i in range(len(data))]
        for j, i in enumerate(at):
            rows[int(i)] = new.row(j).tolist()
        return SetData.from_lists(rows)
    out = np.array(data, copy=True)
    out[at] = new
    return out


def _copy(data: Any) -> Any:
    if isinstance(data, SetData):
        return SetData(np.array(data.indptr, copy=True), np.array(data.indices, copy=True))
    return np.array(data, copy=True)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, SetData) or isinstance(b, SetData):
        return (isinstance(a, SetData) and isinstance(b, SetData)
                and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


# =========================================================================== oracle

PairwiseRef = Callable[[Any, Any], np.ndarray]


def _cdist(name: str) -> PairwiseRef:
    def pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from scipy.spatial.distance import cdist

        return cdist(np.asarray(x, np.float64), np.asarray(y, np.float64), metric=name)
    return pairwise


def _neg_dot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return -(np.asarray(x, np.float64) @ np.asarray(y, np.float64).T)


def _bit_counts(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    diff = np.bitwise_xor(np.asarray(x)[:, None, :], np.asarray(y)[None, :, :])
    return np.unpackbits(diff, axis=2).sum(axis=2).astype(np.float64)


def _bit_fraction(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _bit_counts(x, y) / (8 * np.asarray(x).shape[1])


def _jaccard_sets(x: SetData, y: SetData) -> np.ndarray:
    xs = [set(x.row(i).tolist()) for i in range(len(x))]
    ys = [set(y.row(j).tolist()) for j in range(len(y))]
    out = np.zeros((len(xs), len(ys)))
    for i, a in enumerate(xs):
        for j, b in enumerate(ys):
            union = len(a | b)
            out[i, j] = 1.0 - len(a & b) / union if union else 0.0
    return out


#: Independent reference implementations of the well-known metrics: name -> (kind, pairwise).
REFERENCE_METRICS: dict[str, tuple[DataKind, PairwiseRef]] = {
    "euclidean": (DataKind.DENSE, _cdist("euclidean")),
    "l2": (DataKind.DENSE, _cdist("euclidean")),
    "sqeuclidean": (DataKind.DENSE, _cdist("sqeuclidean")),
    "angular": (DataKind.DENSE, _cdist("cosine")),
    "cosine": (DataKind.DENSE, _cdist("cosine")),
    "ip": (DataKind.DENSE, _neg_dot),
    "inner_product": (DataKind.DENSE, _neg_dot),
    "dot": (DataKind.DENSE, _neg_dot),
    "manhattan": (DataKind.DENSE, _cdist("cityblock")),
    "cityblock": (DataKind.DENSE, _cdist("cityblock")),
    "l1": (DataKind.DENSE, _cdist("cityblock")),
    "chebyshev": (DataKind.DENSE, _cdist("chebyshev")),
    "linf": (DataKind.DENSE, _cdist("chebyshev")),
    "correlation": (DataKind.DENSE, _cdist("correlation")),
    "hamming": (DataKind.BINARY, _bit_counts),
    "hamming-normalized": (DataKind.BINARY, _bit_fraction),
    "jaccard": (DataKind.SETS, _jaccard_sets),
}


def _metric_domain(metric: str, registry: Any = None) -> str:
    """``MetricInfo.domain`` of a registered metric (``"real"`` for the kit's own ones)."""
    if metric in REFERENCE_METRICS:
        return "real"
    reg = registry if registry is not None else _default_registry()
    return str(getattr(reg.metrics.get(metric), "domain", "real"))


def reference_pairwise(metric: str, registry: Any = None) -> tuple[DataKind, PairwiseRef]:
    """The kit's float64 brute-force distance for ``metric``: ``(data kind, pairwise)``.

    Well-known metrics (see ``REFERENCE_METRICS``) use scipy / numpy / Python sets, apart
    from any plugin; other names use the registered metric's ``pairwise`` with its default
    parameters.
    """
    if metric in REFERENCE_METRICS:
        return REFERENCE_METRICS[metric]
    reg = registry if registry is not None else _default_registry()
    info: MetricInfo = reg.metrics.get(metric)
    params = _metric_params(info)
    return DataKind(info.data_kind), functools.partial(_float64_pairwise, info, params)


def _float64_pairwise(info: MetricInfo, params: Mapping[str, Any], x: Any, y: Any
                      ) -> np.ndarray:
    return np.asarray(info.pairwise(x, y, **params), dtype=np.float64)


def _metric_params(info: MetricInfo, given: Mapping[str, Any] | None = None) -> dict:
    if not info.params:
        if given:
            raise UnknownNameError(f"parameter of metric {info.name}", next(iter(given)), ())
        return {}
    return resolve_params(info.params, dict(given or {}), f"metric {info.name}")


def _default_registry() -> Any:
    from harness.plugins import get_registry

    return get_registry()


# =========================================================================== helpers


def _fail(message: str) -> None:
    raise CheckFailed(message)


def _expect_input_error(action: Callable[[], Any], what: str, problems: list[str],
                        allowed: tuple[type[BaseException], ...] = INPUT_ERRORS) -> None:
    """Run ``action``; note a problem unless it raises one of ``allowed`` with a message."""
    try:
        action()
    except allowed as exc:
        if not str(exc).strip():
            problems.append(f"{what}: raised {type(exc).__name__} with an empty message")
        return
    except Exception as exc:
        names = " or ".join(a.__name__ for a in allowed)
        problems.append(f"{what}: raised {type(exc).__name__}({exc}) instead of {names}")
        return
    problems.append(f"{what}: accepted without an error")


def _check_ids(ids: Any, nq: int, k: int, n: int, where: str) -> np.ndarray:
    """Shape, dtype and validity of returned ids (unique, in range, -1 padding at the end)."""
    if not isinstance(ids, np.ndarray):
        _fail(f"{where}: ids must be a numpy array, got {type(ids).__name__}")
    if ids.dtype != np.int64:
        _fail(f"{where}: ids must have dtype int64, got {ids.dtype}")
    if ids.shape != (nq, k):
        _fail(f"{where}: ids must have shape {(nq, k)} (n_queries, k), got {ids.shape}")
    for q in range(nq):
        row = ids[q]
        pad = row == -1
        if ((row < -1) | (row >= n)).any():
            bad = row[(row < -1) | (row >= n)][0]
            _fail(f"{where}: query {q} returned id {bad}, outside 0..{n - 1} (and -1 padding)")
        first_pad = int(np.argmax(pad)) if pad.any() else k
        if not pad[first_pad:].all():
            _fail(f"{where}: query {q} has -1 padding before a real id: {row.tolist()}")
        real = row[:first_pad]
        if len(np.unique(real)) != len(real):
            _fail(f"{where}: query {q} returned an id twice: {row.tolist()}")
    return ids


def _check_distances(dists: Any, nq: int, k: int, where: str) -> None:
    if dists is None:
        return
    if not isinstance(dists, np.ndarray):
        _fail(f"{where}: distances must be a numpy array or None, got {type(dists).__name__}")
    if dists.shape != (nq, k):
        _fail(f"{where}: distances must have shape {(nq, k)}, got {dists.shape}")
    if not (np.issubdtype(dists.dtype, np.floating) or np.issubdtype(dists.dtype, np.integer)):
        _fail(f"{where}: distances must be a real numeric array, got dtype {dists.dtype}")


def _tolerance(true_dists: np.ndarray) -> np.ndarray:
    """Per-query slack for comparing distances: float32 rounding of the index's arithmetic."""
    finite = np.where(np.isfinite(true_dists), np.abs(true_dists), 0.0)
    return 1e-5 * np.maximum(finite.max(axis=1), 1e-3) + 1e-9


def _assert_exact(D: np.ndarray, ids: np.ndarray, k: int, where: str) -> None:
    """``ids`` are the exact k nearest under distances ``D`` (inf = not allowed).

    Ties: any id whose distance equals the true i-th distance (within float32 rounding) is
    accepted at rank i. Rows with fewer than k allowed items must return all of them and pad
    with -1.
    """
    nq = D.shape[0]
    tol = _tolerance(D)
    truth = np.sort(D, axis=1)
    for q in range(nq):
        available = int(np.isfinite(D[q]).sum())
        m = min(k, available)
        row = ids[q]
        if (row[:m] < 0).any():
            _fail(f"{where}: query {q} returned {int((row[:m] >= 0).sum())} ids, "
                  f"expected {m} (exact index)")
        if m < k and (row[m:] != -1).any():
            _fail(f"{where}: query {q}: only {available} items are eligible but it returned "
                  f"{row.tolist()}")
        got = D[q, row[:m]]
        if not np.isfinite(got).all():
            bad = row[:m][~np.isfinite(got)][0]
            _fail(f"{where}: query {q} returned id {bad}, which is not eligible")
        want = truth[q, :m]
        if np.abs(np.sort(got) - want).max(initial=0.0) > tol[q]:
            j = int(np.argmax(np.abs(np.sort(got) - want)))
            _fail(f"{where}: query {q} is not exact: rank {j} has true distance "
                  f"{np.sort(got)[j]:.9g}, the exact answer {want[j]:.9g} "
                  f"(ids {row.tolist()}, true nearest {np.argsort(D[q], kind='stable')[:m]})")
        if (np.diff(got) < -tol[q]).any():
            _fail(f"{where}: query {q}: ids are not sorted by distance: "
                  f"{np.round(got, 6).tolist()}")


def _recall(D: np.ndarray, ids: np.ndarray, k: int) -> float:
    """Mean distance-based recall@k with ties (the leaderboard's ``recall``) under ``D``."""
    tol = _tolerance(D)
    truth = np.sort(D, axis=1)
    scores = []
    for q in range(D.shape[0]):
        available = int(np.isfinite(D[q]).sum())
        m = min(k, available)
        if m == 0:
            continue
        threshold = truth[q, m - 1] + tol[q]
        row = ids[q, :k]
        row = row[row >= 0]
        scores.append(float((D[q, row] <= threshold).sum()) / m)
    return float(np.mean(scores)) if scores else 1.0


# =========================================================================== index checks


class _IndexContext:
    """Everything an index check needs: info, metric, oracle, data and parameters."""

    def __init__(self, info: IndexInfo, metric: str, settings: KitSettings,
                 build_params: Mapping[str, Any] | None, registry: Any) -> None:
        self.info = info
        self.metric = metric
        self.s = settings
        self.registry = registry
        self.owner = f"index {info.name}"
        self.build_params = resolve_params(info.build_params, dict(build_params or {}),
                                           self.owner)
        self.default_query = resolve_params(info.query_params, {}, self.owner)
        self.kind, self._pairwise = reference_pairwise(metric, registry)
        self.domain = _metric_domain(metric, registry)
        self.exact = info.capabilities.exact
        self.k = settings.k

    # ---- data and truth
    def data(self, *, ties: bool = False, n: int | None = None) -> KitData:
        s = self.s
        return _cached_data(self.kind, n or s.n, s.dim, s.n_queries, s.seed, s.binary_bits,
                            s.vocabulary, ties, self.domain)

    def truth(self, data: KitData) -> np.ndarray:
        """Reference float64 distances (n_queries, n) of the kit's data (cached: the data
        objects are cached and never modified)."""
        key = (self.metric, self.registry, id(data))
        if key not in _TRUTH_CACHE:
            D = np.asarray(self._pairwise(_copy(data.queries), _copy(data.train)),
                           dtype=np.float64)
            if D.shape != (n_items(data.queries), n_items(data.train)):
                raise CheckFailed(f"reference metric {self.metric!r} returned shape {D.shape}")
            D.flags.writeable = False
            _TRUTH_CACHE[key] = D
        return _TRUTH_CACHE[key]

    # ---- indexes
    def new_index(self, metric: str | None = None) -> Any:
        return self.info.factory(metric=metric or self.metric, **self.build_params)

    def built(self, train: VectorData) -> Any:
        index = self.new_index()
        index.build(_copy(train))
        return index

    def query_point(self) -> dict[str, Any]:
        """Default query params (exact indexes) or the most generous grid point."""
        if self.exact:
            return dict(self.default_query)
        return dict(_generous_point(self)[0])

    def search(self, index: Any, queries: VectorData, k: int, params: Mapping | None = None,
               **kwargs: Any) -> tuple[np.ndarray, Any]:
        index.set_query_params(**(self.query_point() if params is None else params))
        out = index.search(_copy(queries), k, **kwargs)
        if not isinstance(out, tuple) or len(out) != 2:
            _fail(f"search() must return a tuple (ids, distances), got {type(out).__name__}")
        return out

    def grid_points(self) -> list[dict[str, Any]]:
        grid = {name: list(values) for name, values in self.info.query_grid.items()}
        if not grid:
            return [dict(self.default_query)]
        names = sorted(grid)
        combos = itertools.islice(itertools.product(*(grid[n] for n in names)),
                                  self.s.max_grid_points)
        return [resolve_params(self.info.query_params, dict(zip(names, c, strict=True)),
                               self.owner) for c in combos]

    def judge(self, D: np.ndarray, ids: np.ndarray, where: str, *, k: int | None = None,
              floor: float | None = None) -> None:
        """Exact indexes must be exact; approximate ones must reach the recall floor."""
        k = k or self.k
        if self.exact:
            _assert_exact(D, ids, k, where)
            return
        floor = self.s.recall_floor if floor is None else floor
        recall = _recall(D, ids, k)
        if recall < floor:
            _fail(f"{where}: recall@{k} {recall:.3f} is below the floor {floor} "
                  f"(query params {self.query_point()})")


_DATA_CACHE: dict[tuple[Any, ...], KitData] = {}
_GENEROUS_CACHE: dict[tuple[Any, ...], tuple[IndexInfo, Any]] = {}
_TRUTH_CACHE: dict[tuple[Any, ...], np.ndarray] = {}


def _cached_data(*key: Any) -> KitData:
    """Kit data is generated once per process; checks always receive copies of it."""
    if key not in _DATA_CACHE:
        kind, n, dim, nq, seed, bits, vocab, ties, domain = key
        _DATA_CACHE[key] = make_data(kind, n=n, dim=dim, n_queries=nq, seed=seed,
                                     binary_bits=bits, vocabulary=vocab, ties=ties,
                                     domain=domain)
    return _DATA_CACHE[key]


def _generous_point(ctx: _IndexContext) -> tuple[dict[str, Any], float, list[float]]:
    """The query-grid point with the best recall (ties: the first), its recall, all recalls.

    A grid point whose search raises or returns invalid ids is left out (with recall 0);
    ``check_params`` reports it. If every point fails, so does this.
    """
    point, recall, recalls, _ = _grid_survey(ctx)
    return point, recall, recalls


def _grid_survey(ctx: _IndexContext
                 ) -> tuple[dict[str, Any], float, list[float], list[tuple[dict, str]]]:
    # Keyed by the info's identity; the entry keeps the info alive, so the id stays unique.
    key = (id(ctx.info), ctx.metric, ctx.s, ctx.registry,
           tuple(sorted((k, repr(v)) for k, v in ctx.build_params.items())))
    if key not in _GENEROUS_CACHE:
        data = ctx.data()
        D = ctx.truth(data)
        index = ctx.built(data.train)
        points = ctx.grid_points()
        recalls: list[float] = []
        failures: list[tuple[dict, str]] = []
        for point in points:
            try:
                ids, _ = ctx.search(index, data.queries, ctx.k, params=point)
                _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "search")
            except Exception as exc:
                failures.append((point, _describe(exc)))
                recalls.append(-1.0)
                continue
            recalls.append(_recall(D, ids, ctx.k))
        if len(failures) == len(points):
            _fail(f"every query-grid point fails with metric {ctx.metric!r}; first: "
                  f"{failures[0][0]}: {failures[0][1]}")
        best = int(np.argmax(recalls))
        _GENEROUS_CACHE[key] = (ctx.info, (points[best], recalls[best], recalls, failures))
    return _GENEROUS_CACHE[key][1]


def _check_params(ctx: _IndexContext) -> None:
    """Declared params are unique and coercible; grids name only declared params; the
    factory accepts the defaults and every build-grid point; every query-grid point searches
    without error; unknown names are rejected."""
    info = ctx.info
    for label, params, grid in (("build", info.build_params, info.build_grid),
                                ("query", info.query_params, info.query_grid)):
        names = [p.name for p in params]
        if len(set(names)) != len(names):
            _fail(f"{label} params declare a name twice: {names}")
        for p in params:
            if not isinstance(p, Param):
                _fail(f"{label} params must be harness.Param objects, got {type(p).__name__}")
        table = {p.name: p for p in params}
        for name, values in grid.items():
            if name not in table:
                _fail(f"{label}_grid names {name!r}, which is not a declared {label} param "
                      f"(declared: {sorted(table)})")
            if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
                _fail(f"{label}_grid[{name!r}] must be a list of values, got {values!r}")
            for value in values:
                table[name].coerce(value, ctx.owner)
        bogus = (names[0] + "_typo") if names else "no_such_param"
        try:
            resolve_params(params, {bogus: 1}, ctx.owner)
        except UnknownNameError:
            pass
        else:
            _fail(f"an unknown {label} param {bogus!r} was accepted")
    ctx.new_index()
    build_grid = {n: list(v) for n, v in info.build_grid.items()}
    names = sorted(build_grid)
    for combo in itertools.islice(itertools.product(*(build_grid[n] for n in names)),
                                  ctx.s.max_grid_points):
        point = resolve_params(info.build_params, {**ctx.build_params,
                                                   **dict(zip(names, combo, strict=True))},
                               ctx.owner)
        try:
            info.factory(metric=ctx.metric, **point)
        except Exception as exc:
            _fail(f"the factory rejects build-grid point {point}: {type(exc).__name__}: {exc}")
    failures = _grid_survey(ctx)[3]
    if failures:
        point, error = failures[0]
        _fail(f"{len(failures)} query-grid point(s) fail with metric {ctx.metric!r}, e.g. "
              f"{point}: {error}; the default grid must suit every declared metric")


def _check_declared_metric(ctx: _IndexContext) -> None:
    """The metric's data kind is one the index declares; an unknown metric is refused."""
    kinds = ctx.info.capabilities.data_kinds
    if ctx.kind not in kinds:
        _fail(f"metric {ctx.metric!r} takes {ctx.kind.value} data but the index declares "
              f"data kinds {sorted(k.value for k in kinds)}")
    bogus = "no-such-metric"
    data = ctx.data()
    try:
        index = ctx.new_index(metric=bogus)
        index.build(_copy(data.train))
        index.search(_copy(data.queries), ctx.k)
    except Exception as exc:
        if not str(exc).strip():
            _fail(f"metric {bogus!r} was refused with an empty {type(exc).__name__} message")
        return
    _fail(f"the index accepted metric {bogus!r}: refuse metrics it does not support")


def _check_output_types(ctx: _IndexContext) -> None:
    """search() returns (ids int64 (nq, k), distances None or (nq, k) numeric)."""
    data = ctx.data()
    index = ctx.built(data.train)
    ids, dists = ctx.search(index, data.queries, ctx.k)
    _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "search")
    _check_distances(dists, ctx.s.n_queries, ctx.k, "search")


def _check_ids_valid(ctx: _IndexContext) -> None:
    """Ids are unique per query, in 0..n-1, and -1 only as padding at the end (all k)."""
    data = ctx.data()
    index = ctx.built(data.train)
    for k in sorted({1, ctx.k, min(3 * ctx.k, ctx.s.n)}):
        ids, _ = ctx.search(index, data.queries, k)
        _check_ids(ids, ctx.s.n_queries, k, ctx.s.n, f"search(k={k})")


def _check_results_exact(ctx: _IndexContext) -> None:
    """Exact index: the true k nearest (float64 brute force), sorted by distance."""
    data = ctx.data()
    index = ctx.built(data.train)
    D = ctx.truth(data)
    for k in (1, ctx.k):
        ids, _ = ctx.search(index, data.queries, k)
        _check_ids(ids, ctx.s.n_queries, k, ctx.s.n, f"search(k={k})")
        _assert_exact(D, ids, k, f"search(k={k})")


def _check_exact_with_ties(ctx: _IndexContext) -> None:
    """Exact index on data where every vector occurs twice (ties at every rank)."""
    data = ctx.data(ties=True)
    index = ctx.built(data.train)
    D = ctx.truth(data)
    ids, _ = ctx.search(index, data.queries, ctx.k)
    _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "search on duplicated data")
    _assert_exact(D, ids, ctx.k, "search on duplicated data")


def _check_recall(ctx: _IndexContext) -> None:
    """Approximate index: recall@k >= the floor at the best point of its query grid."""
    point, recall, recalls = _generous_point(ctx)
    if recall < ctx.s.recall_floor:
        _fail(f"best recall@{ctx.k} over the default query grid is {recall:.3f} (at {point}), "
              f"below the floor {ctx.s.recall_floor}; all: {np.round(recalls, 3).tolist()}")


def _check_k_equals_n(ctx: _IndexContext) -> None:
    """k == n works (exact: every item, in distance order)."""
    n = ctx.s.small_n
    data = ctx.data(n=n)
    index = ctx.built(data.train)
    ids, dists = ctx.search(index, data.queries, n)
    _check_ids(ids, ctx.s.n_queries, n, n, f"search(k=n={n})")
    _check_distances(dists, ctx.s.n_queries, n, f"search(k=n={n})")
    if ctx.exact:
        _assert_exact(ctx.truth(data), ids, n, f"search(k=n={n})")


def _check_k_out_of_range(ctx: _IndexContext) -> None:
    """k > n and k < 1 raise a clear input error (ValueError, e.g. InvalidInputError)."""
    n = ctx.s.small_n
    data = ctx.data(n=n)
    index = ctx.built(data.train)
    index.set_query_params(**ctx.query_point())
    problems: list[str] = []
    for k in (n + 1, 0, -1):
        _expect_input_error(functools.partial(index.search, _copy(data.queries), k),
                            f"search(k={k}) with n={n}", problems, (ValueError,))
    if problems:
        _fail("; ".join(problems))


def _check_single_matches_batch(ctx: _IndexContext) -> None:
    """Searching queries one at a time gives the batch's answers (ties may swap ids)."""
    data = ctx.data()
    index = ctx.built(data.train)
    D = ctx.truth(data)
    tol = _tolerance(D)
    batch, _ = ctx.search(index, data.queries, ctx.k)
    for q in range(ctx.s.n_queries):
        one, _ = ctx.search(index, _take(data.queries, np.array([q])), ctx.k)
        _check_ids(one, 1, ctx.k, ctx.s.n, f"search of query {q} alone")
        a, b = batch[q], one[0]
        if np.array_equal(a, b):
            continue
        valid = (a >= 0) & (b >= 0)
        tied = valid & (np.abs(D[q, np.where(valid, a, 0)] - D[q, np.where(valid, b, 0)])
                        <= tol[q])
        if not ((a == b) | tied).all():
            _fail(f"query {q}: alone it returns {b.tolist()}, in the batch {a.tolist()}")


def _check_deterministic(ctx: _IndexContext) -> None:
    """Two builds with the same build params (and seed) give identical results."""
    data = ctx.data()
    first, _ = ctx.search(ctx.built(data.train), data.queries, ctx.k)
    second, _ = ctx.search(ctx.built(data.train), data.queries, ctx.k)
    if not np.array_equal(first, second):
        rows = np.flatnonzero((first != second).any(axis=1))
        _fail(f"two builds with params {ctx.build_params} disagree on {len(rows)} queries "
              f"(first: query {rows[0]}: {first[rows[0]].tolist()} vs "
              f"{second[rows[0]].tolist()}); seed every random choice from a build param")


def _bad_inputs(ctx: _IndexContext, data: KitData) -> tuple[list, list]:
    """(bad build data, bad queries) for the data kind, each as (description, value)."""
    train, queries = data.train, data.queries
    if ctx.kind is DataKind.DENSE:
        nan_train = np.array(train, copy=True)
        nan_train[3, 1] = np.nan
        inf_train = np.array(train, copy=True)
        inf_train[5, 0] = np.inf
        nan_queries = np.array(queries, copy=True)
        nan_queries[1, 2] = np.nan
        wide = np.ones((len(queries), train.shape[1] + 1), np.float32)
        return ([("NaN in build data", nan_train), ("inf in build data", inf_train),
                 ("empty build data (0 rows)", np.zeros((0, train.shape[1]), np.float32)),
                 ("non-numeric build data", np.full(train.shape, "a")),
                 ("1-D build data", np.asarray(train[0]).ravel())],
                [("NaN in queries", nan_queries),
                 (f"queries of dimension {wide.shape[1]} (index: {train.shape[1]})", wide),
                 ("non-numeric queries", np.full(queries.shape, "a"))])
    if ctx.kind is DataKind.BINARY:
        return ([("float build data for a binary index",
                  np.asarray(train, dtype=np.float32)),
                 ("empty build data (0 rows)", np.zeros((0, train.shape[1]), np.uint8))],
                [("float queries for a binary index", np.asarray(queries, dtype=np.float32)),
                 (f"queries of {train.shape[1] + 1} bytes (index: {train.shape[1]})",
                  np.zeros((len(queries), train.shape[1] + 1), np.uint8))])
    empty = SetData(np.zeros(1, np.int64), np.zeros(0, np.int32))
    return ([("dense build data for a set index", np.ones((10, 4), np.float32)),
             ("empty build data (0 sets)", empty)],
            [("dense queries for a set index", np.ones((3, 4), np.float32))])


def _check_bad_input(ctx: _IndexContext) -> None:
    """NaN/inf, empty data, wrong dimension, wrong dtype or kind: clear input errors."""
    data = ctx.data()
    bad_build, bad_queries = _bad_inputs(ctx, data)
    problems: list[str] = []
    for what, value in bad_build:
        _expect_input_error(functools.partial(ctx.new_index().build, value), what, problems)
    _expect_input_error(lambda: ctx.new_index().search(_copy(data.queries), ctx.k),
                        "search() before build()", problems, (Exception,))
    index = ctx.built(data.train)
    index.set_query_params(**ctx.query_point())
    for what, value in bad_queries:
        _expect_input_error(functools.partial(index.search, value, ctx.k), what, problems)
    if ctx.kind is not DataKind.SETS:
        empty = np.zeros((0, *np.asarray(data.queries).shape[1:]),
                         dtype=np.asarray(data.queries).dtype)
        try:
            ids, _ = index.search(empty, ctx.k)
        except INPUT_ERRORS:
            pass
        except Exception as exc:
            problems.append(f"empty queries: raised {type(exc).__name__}({exc}) instead of "
                            "ValueError or an empty result")
        else:
            if np.asarray(ids).shape != (0, ctx.k):
                problems.append(f"empty queries: returned ids of shape {np.shape(ids)}, "
                                f"expected an error or shape (0, {ctx.k})")
    if problems:
        _fail("; ".join(problems))


def _check_inputs_not_mutated(ctx: _IndexContext) -> None:
    """build, search (and add / delete / filter when declared) leave the caller's data as is."""
    caps = ctx.info.capabilities
    data = ctx.data()
    passed: dict[str, Any] = {"build data": _copy(data.train), "queries": _copy(data.queries)}
    if caps.filter:
        mask = np.ones(ctx.s.n, dtype=bool)
        mask[::3] = False
        passed["filter mask"] = mask
    if caps.add:
        passed["added data"] = _copy(_take(data.queries, np.arange(5)))
    if caps.delete:
        passed["deleted ids"] = np.array([1, 4, 9], dtype=np.int64)
    snapshot = {name: _copy(value) for name, value in passed.items()}
    index = ctx.new_index()
    index.build(passed["build data"])
    index.set_query_params(**ctx.query_point())
    index.search(passed["queries"], ctx.k)
    if caps.filter:
        index.search(passed["queries"], ctx.k, filter=passed["filter mask"])
    if caps.add:
        index.add(passed["added data"])
    if caps.delete:
        index.delete(passed["deleted ids"])
    index.search(passed["queries"], ctx.k)
    for name, value in passed.items():
        if not _same(value, snapshot[name]):
            _fail(f"the index modified the caller's {name}; work on a copy")


def _check_index_bytes(ctx: _IndexContext) -> None:
    """index_bytes() is a positive int, and not absurd (<= 100x raw data + 16 MiB)."""
    data = ctx.data()
    index = ctx.built(data.train)
    size = index.index_bytes()
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)):
        _fail(f"index_bytes() must return an int, got {type(size).__name__} ({size!r})")
    raw = int(data.train.nbytes)
    if size <= 0:
        _fail(f"index_bytes() is {size}; report the bytes the index owns (> 0)")
    if size > 100 * raw + 16 * 2**20:
        _fail(f"index_bytes() is {size} for {raw} bytes of data: not plausible")


def _check_warmup_and_stats(ctx: _IndexContext) -> None:
    """warmup(sample) runs; query_stats() is a mapping of counter name -> finite number."""
    data = ctx.data()
    index = ctx.new_index()
    index.warmup(_copy(_take(data.train, np.arange(min(16, ctx.s.n)))))
    index.build(_copy(data.train))
    index.warmup(_copy(_take(data.queries, np.arange(3))))
    ctx.search(index, data.queries, ctx.k)
    stats = index.query_stats()
    if not isinstance(stats, Mapping):
        _fail(f"query_stats() must return a dict, got {type(stats).__name__}")
    for name, value in stats.items():
        if not isinstance(name, str):
            _fail(f"query_stats() keys must be str, got {name!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                or not math.isfinite(float(value)):
            _fail(f"query_stats()[{name!r}] must be a finite number, got {value!r}")


def _nearest(D: np.ndarray, m: int) -> np.ndarray:
    return np.argsort(D, axis=1, kind="stable")[:, :m]


def _check_filter(ctx: _IndexContext) -> None:
    """search(..., filter=mask) returns only allowed ids (exact: the exact allowed k-NN)."""
    data = ctx.data()
    D = ctx.truth(data)
    rng = np.random.default_rng([ctx.s.seed, 17])
    allowed = rng.random(ctx.s.n) < 0.35
    allowed[_nearest(D, 2).ravel()] = False  # an index ignoring the filter cannot pass
    index = ctx.built(data.train)
    ids, _ = ctx.search(index, data.queries, ctx.k, filter=allowed.copy())
    _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "filtered search")
    returned = ids[ids >= 0]
    if (~allowed[returned]).any():
        _fail(f"filtered search returned id {returned[~allowed[returned]][0]}, "
              "which the filter excludes")
    ctx.judge(np.where(allowed[None, :], D, np.inf), ids, "filtered search")
    if ctx.exact:
        few = np.zeros(ctx.s.n, dtype=bool)
        few[rng.choice(ctx.s.n, size=ctx.k // 2, replace=False)] = True
        ids, _ = ctx.search(index, data.queries, ctx.k, filter=few.copy())
        _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "search with few allowed ids")
        _assert_exact(np.where(few[None, :], D, np.inf), ids, ctx.k,
                      f"search with {int(few.sum())} allowed ids")


def _check_delete(ctx: _IndexContext) -> None:
    """delete(ids): deleted ids are never returned; the rest are still found."""
    data = ctx.data()
    D = ctx.truth(data)
    rng = np.random.default_rng([ctx.s.seed, 23])
    doomed = np.union1d(_nearest(D, 3).ravel(),
                        rng.choice(ctx.s.n, size=ctx.s.n // 4, replace=False))
    index = ctx.built(data.train)
    index.delete(doomed[: len(doomed) // 2].copy())
    index.delete(doomed[len(doomed) // 2:].copy())
    ids, _ = ctx.search(index, data.queries, ctx.k)
    _check_ids(ids, ctx.s.n_queries, ctx.k, ctx.s.n, "search after delete")
    hit = np.intersect1d(ids[ids >= 0], doomed)
    if len(hit):
        _fail(f"search after delete returned deleted id {hit[0]}")
    alive = np.ones(ctx.s.n, dtype=bool)
    alive[doomed] = False
    ctx.judge(np.where(alive[None, :], D, np.inf), ids, "search after delete")


def _check_add(ctx: _IndexContext) -> None:
    """add(data) after build: added items get the next ids and are found."""
    data = ctx.data()
    n = ctx.s.n
    first = int(n * 0.6)
    second = (n - first) // 2
    index = ctx.built(_take(data.train, np.arange(first)))
    index.add(_copy(_take(data.train, np.arange(first, first + second))))
    index.add(_copy(_take(data.train, np.arange(first + second, n))))
    D = ctx.truth(data)
    ids, _ = ctx.search(index, data.queries, ctx.k)
    _check_ids(ids, ctx.s.n_queries, ctx.k, n, "search after add")
    ctx.judge(D, ids, "search after add")
    if not ctx.exact:
        truth = _nearest(D, ctx.k)
        added = truth >= first
        found = np.array([np.isin(truth[q][added[q]], ids[q]).sum()
                          for q in range(len(truth))]).sum()
        share = found / max(int(added.sum()), 1)
        if share < ctx.s.recall_floor:
            _fail(f"only {share:.2f} of the true neighbours that were added after build "
                  f"are found (floor {ctx.s.recall_floor})")


def _check_save_load(ctx: _IndexContext) -> None:
    """save(path) then load(path) into a fresh index gives identical results."""
    data = ctx.data()
    index = ctx.built(data.train)
    before_ids, before_d = ctx.search(index, data.queries, ctx.k)
    with tempfile.TemporaryDirectory(prefix="vecbench-kit-") as tmp:
        path = str(Path(tmp) / "index.bin")
        index.save(path)
        fresh = ctx.new_index()
        loaded = fresh.load(path)
        restored = loaded if loaded is not None else fresh
        after_ids, after_d = ctx.search(restored, data.queries, ctx.k)
    if not np.array_equal(before_ids, after_ids):
        rows = np.flatnonzero((before_ids != after_ids).any(axis=1))
        _fail(f"after save/load {len(rows)} queries differ (query {rows[0]}: "
              f"{before_ids[rows[0]].tolist()} vs {after_ids[rows[0]].tolist()})")
    if (before_d is None) != (after_d is None) or (
            before_d is not None and not np.allclose(before_d, after_d, equal_nan=True)):
        _fail("after save/load the distances differ")


def _check_threads(ctx: _IndexContext) -> None:
    """set_threads(1) and set_threads(2) both work and give the same results."""
    data = ctx.data()
    index = ctx.built(data.train)
    index.set_threads(1)
    one, _ = ctx.search(index, data.queries, ctx.k)
    index.set_threads(2)
    two, _ = ctx.search(index, data.queries, ctx.k)
    index.set_threads(1)
    if not np.array_equal(one, two):
        _fail("results with 1 and 2 threads differ")


IndexCheckFn = Callable[[_IndexContext], None]


def _index_check_table(info: IndexInfo) -> list[tuple[str, IndexCheckFn]]:
    caps = info.capabilities
    table: list[tuple[str, IndexCheckFn]] = [
        ("check_params", _check_params),
        ("check_declared_metric", _check_declared_metric),
        ("check_output_types", _check_output_types),
        ("check_ids_valid", _check_ids_valid),
    ]
    if caps.exact:
        table += [("check_results_exact", _check_results_exact),
                  ("check_exact_with_ties", _check_exact_with_ties)]
    else:
        table.append(("check_recall", _check_recall))
    table += [
        ("check_k_equals_n", _check_k_equals_n),
        ("check_k_out_of_range", _check_k_out_of_range),
        ("check_single_matches_batch", _check_single_matches_batch),
        ("check_deterministic", _check_deterministic),
        ("check_bad_input", _check_bad_input),
        ("check_inputs_not_mutated", _check_inputs_not_mutated),
        ("check_index_bytes", _check_index_bytes),
        ("check_warmup_and_stats", _check_warmup_and_stats),
    ]
    optional = [("filter", "check_filter", _check_filter),
                ("delete", "check_delete", _check_delete),
                ("add", "check_add", _check_add),
                ("save_load", "check_save_load", _check_save_load),
                ("threads", "check_threads", _check_threads)]
    table += [(name, fn) for flag, name, fn in optional if getattr(caps, flag)]
    return table


def index_checks(info: IndexInfo) -> list[tuple[str, Callable[..., None]]]:
    """The checks that apply to ``info``, chosen from its declared capabilities.

    Each is ``(check_name, check)`` where ``check(metric, *, settings=None,
    build_params=None, registry=None)`` raises :class:`CheckFailed` (an AssertionError) or
    the plugin's own exception when the index does not conform.
    """
    return [(name, functools.partial(_run_index_check, fn, info))
            for name, fn in _index_check_table(info)]


def _run_index_check(fn: IndexCheckFn, info: IndexInfo, metric: str, *,
                     settings: KitSettings | None = None,
                     build_params: Mapping[str, Any] | None = None,
                     registry: Any = None) -> None:
    fn(_IndexContext(info, metric, settings or KitSettings(), build_params, registry))


# =========================================================================== metric checks


class _MetricContext:
    """A metric with its parameters bound, and seeded data of its kind."""

    def __init__(self, info: MetricInfo, settings: KitSettings,
                 params: Mapping[str, Any] | None) -> None:
        self.info = info
        self.s = settings
        self.kind = DataKind(info.data_kind)
        self.params = _metric_params(info, params)
        flags = {"triangle_inequality": info.triangle_inequality,
                 "symmetric": info.symmetric, "signed": info.signed, "blas": info.blas}
        bind = getattr(info, "bind", None)
        if callable(bind):
            flags.update(bind(**self.params))
        self.flags = flags
        self.rng = np.random.default_rng([settings.seed, 31])

    def sample(self, rows: int, salt: int = 0) -> VectorData:
        data = make_data(self.kind, n=rows, dim=self.s.dim, n_queries=1,
                         seed=self.s.seed * 1000 + salt, binary_bits=self.s.binary_bits,
                         vocabulary=self.s.vocabulary).train
        if getattr(self.info, "domain", "real") == "probability":
            # rows on the open simplex: the softmax of the seeded normal draws
            z = np.exp(np.asarray(data, dtype=np.float64))
            data = z / z.sum(axis=1, keepdims=True)
        return data

    def pairwise(self, x: Any, y: Any) -> Any:
        return self.info.pairwise(x, y, **self.params)

    def rowwise(self, x: Any, y: Any) -> Any:
        return self.info.rowwise(x, y, **self.params)

    def gradient(self, q: Any, x: Any) -> Any:
        assert self.info.gradient is not None
        return self.info.gradient(q, x, **self.params)


def _as_float64(out: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    if not isinstance(out, np.ndarray):
        _fail(f"{what} must return a numpy array, got {type(out).__name__}")
    if out.dtype != np.float64:
        _fail(f"{what} must return float64, got {out.dtype}")
    if out.shape != shape:
        _fail(f"{what} must return shape {shape}, got {out.shape}")
    if not np.isfinite(out).all():
        _fail(f"{what} returned NaN or inf on ordinary data")
    return out


def _check_metric_info(ctx: _MetricContext) -> None:
    """The record is coherent: callables, data kind, blas form, flags that fit together."""
    info, f = ctx.info, ctx.flags
    if not isinstance(info.name, str) or not info.name.strip():
        _fail("a metric needs a non-empty name")
    if not callable(info.pairwise) or not callable(info.rowwise):
        _fail("pairwise and rowwise must be callables")
    if info.gradient is not None and not callable(info.gradient):
        _fail("gradient must be a callable or None")
    if info.gradient is not None and ctx.kind is not DataKind.DENSE:
        _fail("only dense metrics can have a gradient")
    if f["blas"] not in (None, "l2", "ip", "cos"):
        _fail(f"blas must be 'l2', 'ip', 'cos' or None, got {f['blas']!r}")
    if f["signed"] and f["triangle_inequality"]:
        _fail("a signed measure (negative distances) cannot satisfy the triangle inequality")
    if f["triangle_inequality"] and not f["symmetric"]:
        _fail("triangle_inequality is declared (a metric) but symmetric is not")
    if info.name in info.aliases or len(set(info.aliases)) != len(info.aliases):
        _fail(f"aliases repeat a name: {info.aliases}")


def _check_pairwise_output(ctx: _MetricContext) -> None:
    """pairwise(X, Y) is a finite float64 (len(X), len(Y)) array, also for single rows."""
    x, y = ctx.sample(7, 1), ctx.sample(5, 2)
    _as_float64(ctx.pairwise(x, y), (7, 5), "pairwise(X[7], Y[5])")
    _as_float64(ctx.pairwise(_take(x, np.array([0])), _take(y, np.array([0]))), (1, 1),
                "pairwise(X[1], Y[1])")


def _check_non_negative(ctx: _MetricContext) -> None:
    """An unsigned measure never returns a negative distance."""
    x, y = ctx.sample(20, 3), ctx.sample(15, 4)
    D = _as_float64(ctx.pairwise(x, y), (20, 15), "pairwise")
    if (D < 0).any():
        _fail(f"negative distance {D.min()!r} from a metric not declared signed")


def _check_rowwise_matches_pairwise(ctx: _MetricContext) -> None:
    """rowwise(X, Y)[i] == pairwise(X, Y)[i, i]."""
    x, y = ctx.sample(9, 5), ctx.sample(9, 6)
    rows = _as_float64(ctx.rowwise(x, y), (9,), "rowwise(X[9], Y[9])")
    diag = np.diag(_as_float64(ctx.pairwise(x, y), (9, 9), "pairwise"))
    scale = max(float(np.abs(diag).max()), 1e-12)
    if not np.allclose(rows, diag, rtol=1e-6, atol=1e-9 * scale):
        i = int(np.argmax(np.abs(rows - diag)))
        _fail(f"rowwise[{i}] = {rows[i]!r} but pairwise[{i}, {i}] = {diag[i]!r}")


def _check_symmetric(ctx: _MetricContext) -> None:
    """Declared symmetric: pairwise(X, Y) == pairwise(Y, X).T."""
    x, y = ctx.sample(8, 7), ctx.sample(6, 8)
    a = _as_float64(ctx.pairwise(x, y), (8, 6), "pairwise(X, Y)")
    b = _as_float64(ctx.pairwise(y, x), (6, 8), "pairwise(Y, X)")
    scale = max(float(np.abs(a).max()), 1e-12)
    if not np.allclose(a, b.T, rtol=1e-6, atol=1e-9 * scale):
        _fail(f"declared symmetric, but d(x, y) - d(y, x) reaches {np.abs(a - b.T).max():.3g}")


def _check_identity(ctx: _MetricContext) -> None:
    """A metric (triangle inequality declared): d(x, x) == 0 and d(x, y) > 0 for x != y."""
    x = ctx.sample(10, 9)
    same = _as_float64(ctx.rowwise(x, _copy(x)), (10,), "rowwise(X, X)")
    D = _as_float64(ctx.pairwise(x, x), (10, 10), "pairwise(X, X)")
    scale = max(float(np.abs(D).max()), 1e-12)
    if np.abs(same).max() > 1e-9 * scale:
        _fail(f"d(x, x) = {np.abs(same).max()!r} from rowwise; a metric gives 0")
    if np.abs(np.diag(D)).max() > 1e-6 * scale:
        _fail(f"d(x, x) = {np.abs(np.diag(D)).max()!r} on the diagonal of pairwise")
    off = D[~np.eye(10, dtype=bool)]
    if (off <= 0).any():
        _fail("d(x, y) = 0 for distinct x and y")


def _check_triangle_inequality(ctx: _MetricContext) -> None:
    """Declared: d(x, z) <= d(x, y) + d(y, z) on random triples (and, for dense data, with y
    the midpoint of x and z, or the corner taking half its coordinates from each)."""
    m = 300
    x, y, z = ctx.sample(m, 10), ctx.sample(m, 11), ctx.sample(m, 12)
    triples = [(x, y, z)]
    if ctx.kind is DataKind.DENSE:
        # Adversarial middles: the midpoint (catches squared distances) and the point with
        # x's first half of coordinates and z's second half (catches p < 1 "norms").
        mid = ((np.asarray(x, np.float64) + np.asarray(z, np.float64)) / 2).astype(np.float32)
        corner = np.array(x, copy=True)
        corner[:, ctx.s.dim // 2:] = np.asarray(z)[:, ctx.s.dim // 2:]
        triples += [(x, mid, z), (x, corner, z)]
    for a, b, c in triples:
        ab = _as_float64(ctx.rowwise(a, b), (m,), "rowwise")
        bc = _as_float64(ctx.rowwise(b, c), (m,), "rowwise")
        ac = _as_float64(ctx.rowwise(a, c), (m,), "rowwise")
        slack = 1e-9 * max(float(np.abs(ac).max()), 1.0)
        bad = ac > ab + bc + slack
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            _fail(f"triangle inequality fails: d(x, z) = {ac[i]!r} > d(x, y) + d(y, z) = "
                  f"{ab[i]!r} + {bc[i]!r}")


def _check_gradient(ctx: _MetricContext) -> None:
    """gradient(Q, X) matches central finite differences of rowwise (away from kinks)."""
    m, d = 12, ctx.s.dim
    q = np.asarray(ctx.sample(m, 13), np.float64)
    x = np.asarray(ctx.sample(m, 14), np.float64)
    grad = ctx.gradient(q.copy(), x.copy())
    if not isinstance(grad, np.ndarray) or grad.shape != (m, d):
        _fail(f"gradient must return an array of shape {(m, d)}, got {np.shape(grad)}")
    grad = np.asarray(grad, np.float64)

    def central(h: float) -> np.ndarray:
        out = np.empty((m, d))
        for j in range(d):
            up, down = q.copy(), q.copy()
            up[:, j] += h
            down[:, j] -= h
            out[:, j] = (np.asarray(ctx.rowwise(up, x), np.float64)
                         - np.asarray(ctx.rowwise(down, x), np.float64)) / (2 * h)
        return out

    coarse, fine = central(1e-3), central(5e-4)
    scale = max(float(np.abs(fine).max()), 1e-12)
    smooth = np.abs(coarse - fine) <= 1e-4 * scale + 1e-3 * np.abs(fine)
    if smooth.mean() < 0.8:
        _fail(f"rowwise is not smooth at {100 * (1 - smooth.mean()):.0f}% of the sampled "
              "coordinates; cannot compare the gradient")
    err = np.abs(grad - fine)
    bad = smooth & (err > 1e-4 * scale + 1e-3 * np.abs(fine))
    if bad.any():
        i, j = (int(v[0]) for v in np.nonzero(bad))
        _fail(f"gradient[{i}, {j}] = {grad[i, j]!r} but finite differences give "
              f"{fine[i, j]!r}")


def _check_blas_form(ctx: _MetricContext) -> None:
    """Declared blas form: sorting by that matrix-product form sorts by the distance."""
    x, y = ctx.sample(12, 15), ctx.sample(40, 16)
    D = _as_float64(ctx.pairwise(x, y), (12, 40), "pairwise")
    a, b = np.asarray(x, np.float64), np.asarray(y, np.float64)
    form = ctx.flags["blas"]
    if form == "l2":
        score = (a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :]
    elif form == "ip":
        score = -(a @ b.T)
    else:
        score = -(a @ b.T) / np.linalg.norm(a, axis=1)[:, None] / np.linalg.norm(b, axis=1)
    scale = max(float(np.abs(D).max()), 1e-12)
    for i in range(len(D)):
        ranked = D[i, np.argsort(score[i], kind="stable")]
        if (np.diff(ranked) < -1e-7 * scale).any():
            _fail(f"declared blas={form!r}, but ranking by it does not rank by distance "
                  f"(row {i})")


def _check_metric_bad_input(ctx: _MetricContext) -> None:
    """Dimension mismatch, NaN, wrong data kind, rowwise length mismatch: clear errors."""
    problems: list[str] = []
    x, y = ctx.sample(4, 17), ctx.sample(4, 18)
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("rowwise with 4 and 3 rows", lambda: ctx.rowwise(x, _take(y, np.arange(3)))),
    ]
    if ctx.kind is DataKind.DENSE:
        wide = np.ones((4, ctx.s.dim + 1), np.float32)
        nan = np.array(x, copy=True)
        nan[0, 0] = np.nan
        cases += [
            ("pairwise with dimensions d and d+1", lambda: ctx.pairwise(x, wide)),
            ("rowwise with dimensions d and d+1", lambda: ctx.rowwise(x, wide)),
            ("NaN in X", lambda: ctx.pairwise(nan, y)),
            ("set data for a dense metric", lambda: ctx.pairwise(
                SetData.from_lists([[1, 2], [3]]), SetData.from_lists([[1]]))),
        ]
    elif ctx.kind is DataKind.BINARY:
        cases += [
            ("X and Y of different byte widths",
             lambda: ctx.pairwise(x, np.zeros((2, x.shape[1] + 1), np.uint8))),
            ("float data for a binary metric",
             lambda: ctx.pairwise(np.asarray(x, np.float32), np.asarray(y, np.float32))),
        ]
    else:
        cases += [("dense data for a set metric",
                   lambda: ctx.pairwise(np.ones((3, 4)), np.ones((2, 4))))]
    for what, action in cases:
        _expect_input_error(action, what, problems)
    if problems:
        _fail("; ".join(problems))


def _check_metric_inputs_not_mutated(ctx: _MetricContext) -> None:
    """pairwise, rowwise and gradient leave their inputs as they were."""
    x, y = ctx.sample(6, 19), ctx.sample(6, 20)
    keep_x, keep_y = _copy(x), _copy(y)
    ctx.pairwise(x, y)
    ctx.rowwise(x, y)
    if ctx.info.gradient is not None:
        ctx.gradient(x, y)
    if not (_same(x, keep_x) and _same(y, keep_y)):
        _fail("the metric modified its input arrays; work on copies")


MetricCheckFn = Callable[[_MetricContext], None]


def _metric_check_table(info: MetricInfo, params: Mapping[str, Any] | None = None
                        ) -> list[tuple[str, MetricCheckFn]]:
    flags = _MetricContext(info, KitSettings(), params).flags
    table: list[tuple[str, MetricCheckFn]] = [
        ("check_metric_info", _check_metric_info),
        ("check_pairwise_output", _check_pairwise_output),
        ("check_rowwise_matches_pairwise", _check_rowwise_matches_pairwise),
    ]
    if not flags["signed"]:
        table.append(("check_non_negative", _check_non_negative))
    if flags["symmetric"]:
        table.append(("check_symmetric", _check_symmetric))
    if flags["triangle_inequality"]:
        table += [("check_identity", _check_identity),
                  ("check_triangle_inequality", _check_triangle_inequality)]
    if info.gradient is not None:
        table.append(("check_gradient", _check_gradient))
    if flags["blas"] is not None:
        table.append(("check_blas_form", _check_blas_form))
    table += [("check_metric_bad_input", _check_metric_bad_input),
              ("check_metric_inputs_not_mutated", _check_metric_inputs_not_mutated)]
    return table


def metric_checks(info: MetricInfo, params: Mapping[str, Any] | None = None
                  ) -> list[tuple[str, Callable[..., None]]]:
    """The checks that apply to metric ``info`` (bound to ``params``, default values
    otherwise), chosen from its declared flags. Each is ``(check_name, check)`` with
    ``check(*, settings=None)`` raising :class:`CheckFailed` on a violation."""
    return [(name, functools.partial(_run_metric_check, fn, info, params))
            for name, fn in _metric_check_table(info, params)]


def _run_metric_check(fn: MetricCheckFn, info: MetricInfo, params: Mapping | None, *,
                      settings: KitSettings | None = None) -> None:
    fn(_MetricContext(info, settings or KitSettings(), params))


# =========================================================================== running


@dataclass(frozen=True)
class CheckCase:
    """One runnable check of one plugin: what :func:`parametrize_with_checks` yields.

    Calling it runs the check and raises on failure.
    """

    plugin: str
    kind: str
    check: str
    metric: str | None
    run: Callable[[], None] = field(repr=False, compare=False)
    expected_failure: str | None = None

    @property
    def id(self) -> str:
        """Readable test id: ``index-metric-check`` or ``metric-check``."""
        parts = [self.plugin] + ([self.metric] if self.metric else []) + [self.check]
        return "-".join(parts)

    def __call__(self) -> None:
        self.run()

    def result(self) -> CheckResult:
        """Run the check and record the outcome (never raises for a failed check)."""
        start = time.perf_counter()
        error = None
        try:
            self.run()
        except Exception as exc:
            error = _describe(exc)
        seconds = time.perf_counter() - start
        if self.expected_failure is not None:
            passed = error is not None
            error = error if passed else (
                f"declared as an expected failure ({self.expected_failure}) but passed; "
                "remove it from expected_failures")
        else:
            passed = error is None
        return CheckResult(self.plugin, self.kind, self.check, passed, error, seconds,
                           self.metric, self.expected_failure)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, CheckFailed):
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _unavailable_case(info: IndexInfo, missing: list[str]) -> CheckCase:
    hint = info.install_hint or f"pip install {' '.join(missing)}"

    def run() -> None:
        _fail(f"unavailable here: missing {', '.join(missing)}; install with: {hint}")
    return CheckCase(info.name, "index", "check_requirements", None, run)


def _xfail_reason(expected: Mapping[str, str], check: str, metric: str | None) -> str | None:
    if metric is not None and f"{check}[{metric}]" in expected:
        return expected[f"{check}[{metric}]"]
    return expected.get(check)


def _resolve(target: str | IndexInfo | MetricInfo, registry: Any
             ) -> list[tuple[str, str, Any, dict[str, Any] | None]]:
    """(kind, display name, info, metric params) of each index or metric ``target`` names.

    A metric may be given with parameters, ``"minkowski:p=3"``.
    """
    if isinstance(target, IndexInfo):
        return [("index", target.name, target, None)]
    if isinstance(target, MetricInfo):
        return [("metric", target.name, target, None)]
    if not isinstance(target, str):
        raise TypeError(f"expected an index or metric name or info, got {type(target)}")
    reg = registry if registry is not None else _default_registry()
    if ":" in target:
        from harness.metrics import parse_metric_spec

        name, given = parse_metric_spec(target)
        info = reg.metrics.get(name)
        return [("metric", target, info, _metric_params(info, given))]
    found: list[tuple[str, str, Any, dict[str, Any] | None]] = []
    if target in reg.indexes:
        info = reg.indexes.get(target)
        found.append(("index", info.name, info, None))
    if target in reg.metrics:
        info = reg.metrics.get(target)
        found.append(("metric", info.name, info, None))
    if not found:
        raise UnknownNameError("index or metric", target,
                               [*reg.indexes.names(), *reg.metrics.names()])
    return found


def iter_check_cases(targets: Iterable[str | IndexInfo | MetricInfo] | str | IndexInfo
                     | MetricInfo, *,
                     expected_failures: Mapping[str, Mapping[str, str]] | None = None,
                     metric: str | None = None, settings: KitSettings | None = None,
                     build_params: Mapping[str, Mapping[str, Any]] | None = None,
                     registry: Any = None) -> Iterator[CheckCase]:
    """Every (plugin, metric, check) case of ``targets`` (names or info records).

    A metric may be named with parameter values, ``"minkowski:p=3"``; its cases are then
    labelled with that spec.

    :param expected_failures: ``{plugin: {check: reason}}``; a check key may name a metric,
        ``"check_recall[angular]"``, to expect the failure with that metric only.
    :param metric: check indexes with this metric only (default: every declared one).
    :param build_params: ``{index: {param: value}}`` overriding default build params.
    """
    if isinstance(targets, (str, IndexInfo, MetricInfo)):
        targets = [targets]
    settings = settings or KitSettings()
    for target in targets:
        for kind, label, info, metric_params in _resolve(target, registry):
            expected = {**dict(getattr(info, "expected_check_failures", {})),
                        **dict((expected_failures or {}).get(label, {}))}
            if kind == "metric":
                for name, check in metric_checks(info, metric_params):
                    yield CheckCase(label, "metric", name, None,
                                    functools.partial(check, settings=settings),
                                    _xfail_reason(expected, name, None))
                continue
            assert isinstance(info, IndexInfo)
            missing = info.missing_requirements()
            if missing:
                yield _unavailable_case(info, missing)
                continue
            declared = sorted(info.capabilities.metrics)
            if metric is not None and metric not in declared:
                raise UnknownNameError(f"metric of index {info.name}", metric, declared)
            params = (build_params or {}).get(info.name)
            for m in [metric] if metric else declared:
                for name, check in index_checks(info):
                    yield CheckCase(
                        info.name, "index", name, m,
                        functools.partial(check, m, settings=settings, build_params=params,
                                          registry=registry),
                        _xfail_reason(expected, name, m))


def parametrize_with_checks(targets: Iterable[str | IndexInfo | MetricInfo] | str
                            | IndexInfo | MetricInfo, *,
                            expected_failures: Mapping[str, Mapping[str, str]] | None = None,
                            metric: str | None = None, settings: KitSettings | None = None,
                            build_params: Mapping[str, Mapping[str, Any]] | None = None,
                            registry: Any = None) -> Any:
    """A ``pytest.mark.parametrize`` with one case per (plugin, metric, check)::

        @parametrize_with_checks(["my-index", "my-metric"],
                                 expected_failures={"my-index": {"check_threads": "why"}})
        def test_conformance(check):
            check()

    Test ids read ``my-index-euclidean-check_results_exact``, so ``-k`` selects plugins,
    metrics and checks. Expected failures become strict xfails (a check that starts passing
    fails the run until its entry is removed). Arguments as in :func:`iter_check_cases`.
    """
    import pytest

    cases = iter_check_cases(targets, expected_failures=expected_failures, metric=metric,
                             settings=settings, build_params=build_params, registry=registry)
    params = []
    for case in cases:
        marks = [pytest.mark.vecbench_check]
        if case.expected_failure is not None:
            marks.append(pytest.mark.xfail(reason=case.expected_failure, strict=True))
        params.append(pytest.param(case, id=case.id, marks=marks))
    return pytest.mark.parametrize("check", params)


def _finish(results: list[CheckResult], raise_on_fail: bool) -> list[CheckResult]:
    if raise_on_fail and not all(r.passed for r in results):
        raise ConformanceError(results)
    return results


def check_index(name_or_info: str | IndexInfo, *, metric: str | None = None,
                raise_on_fail: bool = True, expected_failures: Mapping[str, str] | None = None,
                build_params: Mapping[str, Any] | None = None,
                settings: KitSettings | None = None, registry: Any = None
                ) -> list[CheckResult]:
    """Run every applicable check on an index, for each declared metric (or ``metric``).

    :param name_or_info: a registered index name or an :class:`IndexInfo`.
    :param raise_on_fail: raise :class:`ConformanceError` listing the failures.
    :param expected_failures: ``{check: reason}`` (or ``{"check[metric]": reason}``) for
        known failures; such a check passes when it fails, and fails when it passes.
    :param build_params: overrides of the default build params (e.g. for more data).
    :param settings: data sizes, seed and recall floor (:class:`KitSettings`).
    :param registry: registry to resolve names in (default: the process-wide one).
    """
    info = name_or_info
    if isinstance(info, str):
        reg = registry if registry is not None else _default_registry()
        info = reg.indexes.get(info)
    if not isinstance(info, IndexInfo):
        raise TypeError(f"check_index takes an index name or IndexInfo, got {type(info)}")
    cases = iter_check_cases([info], expected_failures={info.name: expected_failures or {}},
                             metric=metric, settings=settings,
                             build_params={info.name: build_params or {}}, registry=registry)
    return _finish([case.result() for case in cases], raise_on_fail)


def check_metric(name_or_info: str | MetricInfo, *, raise_on_fail: bool = True,
                 expected_failures: Mapping[str, str] | None = None,
                 params: Mapping[str, Any] | None = None, settings: KitSettings | None = None,
                 registry: Any = None) -> list[CheckResult]:
    """Run every applicable check on a metric (see :func:`check_index` for the arguments).

    :param name_or_info: a registered name, a spec with parameters (``"minkowski:p=3"``) or
        a :class:`MetricInfo`.
    :param params: metric parameter values (default: each parameter's default).
    """
    info, label = name_or_info, getattr(name_or_info, "name", name_or_info)
    if isinstance(info, str):
        reg = registry if registry is not None else _default_registry()
        if ":" in info:
            ((_, label, info, spec_params),) = _resolve(info, reg)
            params = {**(spec_params or {}), **(params or {})}
        else:
            info = reg.metrics.get(info)
    if not isinstance(info, MetricInfo):
        raise TypeError(f"check_metric takes a metric name or MetricInfo, got {type(info)}")
    settings = settings or KitSettings()
    expected = dict(expected_failures or {})
    results = [
        CheckCase(str(label), "metric", name, None,
                  functools.partial(check, settings=settings), expected.get(name)).result()
        for name, check in metric_checks(info, params)
    ]
    return _finish(results, raise_on_fail)


def run_checks(target: str, *, extra_modules: Sequence[str] = (),
               settings: KitSettings | None = None) -> list[CheckResult]:
    """Check a plugin for ``vecbench check TARGET``; never raises for a failed check.

    ``target`` is, in this order: a registered index or metric name (or alias); the name or
    module of a loaded plugin (all its indexes and metrics are checked); an importable
    module or a ``.py`` file of a plugin, which is then loaded besides the installed ones.
    A plugin that fails to load gives one failed ``load`` result.

    :raises UnknownNameError: when ``target`` is none of these (with suggestions).
    :raises VecbenchError: when the plugin provides no index or metric to check.
    """
    from harness.plugins import get_host

    host = get_host(extra_modules)
    reg = host.registry
    if target in reg.indexes or target in reg.metrics:
        return [case.result() for case in iter_check_cases(target, settings=settings,
                                                           registry=reg)]
    plugin = next((s.name for s in host.status.values()
                   if target in (s.name, s.module)), None)
    if plugin is None:
        if not _importable(target):
            known = {*reg.indexes.names(), *reg.metrics.names(), *host.status}
            raise UnknownNameError("index, metric or plugin module", target, known,
                                   hint="a registered name, a module or a .py file")
        host = get_host([*extra_modules, target], reload=True)
        reg = host.registry
        plugin = Path(target).stem if target.endswith(".py") else target
    status = host.status[plugin]
    if status.error and not status.hooks:
        return [CheckResult(plugin, "plugin", "load", False, status.error)]
    provided = reg.provided_by(plugin)
    results = []
    if status.error:
        results.append(CheckResult(plugin, "plugin", "load", False, status.error))
    targets = [reg.indexes.get(n) for n in provided.get("index", [])]
    targets += [reg.metrics.get(n) for n in provided.get("metric", [])]
    if not targets and not results:
        raise VecbenchError(
            f"plugin {plugin!r} provides no index or metric to check "
            f"(it provides: {provided or 'nothing'})")
    results += [case.result() for case in iter_check_cases(targets, settings=settings,
                                                           registry=reg)]
    return results


def _importable(target: str) -> bool:
    if target.endswith(".py"):
        return Path(target).is_file()
    try:
        return importlib.util.find_spec(target) is not None
    except (ImportError, ValueError):
        return False
