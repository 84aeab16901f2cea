"""The conformance kit (harness.testing).

1. Every built-in index and metric passes it (one pytest case per plugin, metric and check).
2. Each check can fail: a correct reference index and metric pass every check, and a copy
   with one defect fails exactly the check meant to catch it.
3. The kit's plumbing: expected failures, raising, pytest ids and marks, ``run_checks``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness import BaseIndex, IndexCapabilities, IndexInfo, MetricInfo, Param
from harness.errors import InvalidInputError, UnknownNameError
from harness.plugins import get_host
from harness.testing import (
    CheckFailed,
    ConformanceError,
    KitSettings,
    check_index,
    check_metric,
    index_checks,
    iter_check_cases,
    make_data,
    metric_checks,
    parametrize_with_checks,
    run_checks,
)
from harness.validation import check_dense

# --------------------------------------------------------------------------- built-ins

#: Known, deliberate departures of built-in plugins from the kit, with the reason.
BUILTIN_EXPECTED_FAILURES: dict[str, dict[str, str]] = {}  # declared on the plugins instead


def _builtin(kind: str) -> list[str]:
    """Names of the built-in (vecbench's own distribution) plugins of one kind whose
    libraries are importable here."""
    host = get_host()
    table = host.registry.table(kind)
    names = []
    for name, entry in table:
        status = host.status.get(entry.provider)
        if status is None or status.distribution != "vecbench":
            continue
        if kind == "index" and entry.info.missing_requirements():
            continue
        names.append(name)
    return names


def _builtin_targets() -> list[str]:
    metrics = _builtin("metric")
    # minkowski's flags depend on p: check it on both sides of p = 1 too.
    extra = ["minkowski:p=0.5", "minkowski:p=1", "minkowski:p=3"] if "minkowski" in metrics else []
    return _builtin("index") + metrics + extra


@parametrize_with_checks(_builtin_targets(), expected_failures=BUILTIN_EXPECTED_FAILURES)
def test_builtin_conformance(check):
    check()


# --------------------------------------------------------------------------- a reference


class RefIndex(BaseIndex):
    """A plain correct brute-force index (scipy cdist) with every capability.

    With ``exact=False`` in its info and the query param ``fraction`` it searches the first
    ``fraction`` of the items only: an honest approximate index.
    """

    def __init__(self, metric: str, seed: int = 0) -> None:
        if metric not in ("euclidean", "angular"):
            raise InvalidInputError(f"RefIndex: unsupported metric {metric!r}")
        super().__init__(metric, seed=seed)
        self._filter: np.ndarray | None = None
        self.threads = 1

    def _build(self, data: np.ndarray) -> None:
        self.data = data.copy()
        self.alive = np.ones(len(data), dtype=bool)

    def add(self, data: Any) -> None:
        data = check_dense(data, "added data", dim=self.dim)
        self.data = np.concatenate([self.data, data])
        self.alive = np.concatenate([self.alive, np.ones(len(data), dtype=bool)])
        self.n = len(self.data)

    def delete(self, ids: Any) -> None:
        self.alive[np.asarray(ids)] = False

    def search(self, queries: Any, k: int, filter: Any = None) -> tuple[np.ndarray, Any]:
        self._filter = None if filter is None else np.asarray(filter, dtype=bool)
        return super().search(queries, k)

    def _distances(self, queries: np.ndarray) -> np.ndarray:
        name = "cosine" if self.metric == "angular" else "euclidean"
        D = cdist(queries.astype(np.float64), self.data.astype(np.float64), name)
        D[:, ~self.alive] = np.inf
        if self._filter is not None:
            D[:, ~self._filter] = np.inf
        fraction = self.query_params.get("fraction", 1.0)
        D[:, int(np.ceil(fraction * self.n)):] = np.inf
        return D

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        D = self._distances(queries)
        ids = np.argsort(D, axis=1, kind="stable")[:, :k]
        dists = np.take_along_axis(D, ids, axis=1)
        return np.where(np.isfinite(dists), ids, -1).astype(np.int64), dists

    def save(self, path: str) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, data=self.data, alive=self.alive)

    def load(self, path: str) -> None:
        with np.load(path) as z:
            self.data, self.alive = z["data"], z["alive"]
        self.n, self.dim = self.data.shape

    def set_threads(self, n: int) -> None:
        self.threads = n

    def _owned_arrays(self) -> list[Any]:
        return [self.data, self.alive]


ALL_CAPS = IndexCapabilities(metrics=frozenset({"euclidean", "angular"}), exact=True,
                             filter=True, add=True, delete=True, save_load=True, threads=True)


def _info(factory: Any = RefIndex, name: str = "ref", **changes: Any) -> IndexInfo:
    caps = dataclasses.replace(ALL_CAPS, **changes.pop("caps", {}))
    base = IndexInfo(name, factory, caps, build_params=(Param("seed", 0, int),),
                     query_params=(Param("fraction", 1.0, float, low=0.0, high=1.0),),
                     query_grid={"fraction": [0.25, 1.0]})
    return dataclasses.replace(base, **changes)


def test_reference_index_passes_every_check():
    results = check_index(_info())
    names = {r.check for r in results}
    assert {"check_filter", "check_delete", "check_add", "check_save_load",
            "check_threads", "check_results_exact", "check_exact_with_ties"} <= names
    assert {r.metric for r in results} == {"euclidean", "angular"}


def test_approximate_index_is_judged_at_its_most_generous_grid_point():
    # At fraction 0.25 recall is about 0.25; at 1.0 it is 1: the kit must pick 1.0.
    info = _info(caps={"exact": False})
    results = check_index(info, metric="euclidean")
    assert "check_recall" in {r.check for r in results}
    assert "check_results_exact" not in {r.check for r in results}
    stingy = dataclasses.replace(info, query_grid={"fraction": [0.25, 0.5]})
    failed = {r.check: r.error for r in check_index(stingy, metric="euclidean",
                                                    raise_on_fail=False) if not r.passed}
    assert "check_recall" in failed
    assert "below the floor 0.8" in failed["check_recall"]
    assert "fraction" in failed["check_recall"]


def test_a_failing_grid_point_is_reported_once():
    results = check_index(_info(RefusesSmallFractions, caps={"exact": False}),
                          metric="euclidean", raise_on_fail=False)
    assert [r.check for r in results if not r.passed] == ["check_params"]


def test_checks_follow_declared_capabilities():
    bare = _info(caps={"filter": False, "add": False, "delete": False, "save_load": False,
                       "threads": False})
    names = [name for name, _ in index_checks(bare)]
    assert not {"check_filter", "check_add", "check_delete", "check_save_load",
                "check_threads"} & set(names)
    assert "check_results_exact" in names and "check_recall" not in names


# --------------------------------------------------------------------------- defects


class DuplicateIds(RefIndex):
    def _search(self, queries, k):
        ids, d = super()._search(queries, k)
        if k > 1:
            ids[:, 1] = ids[:, 0]
        return ids, d


class Int32Ids(RefIndex):
    def _search(self, queries, k):
        ids, d = super()._search(queries, k)
        return ids.astype(np.int32), d


class SkipsNearest(RefIndex):
    def _search(self, queries, k):
        D = self._distances(queries)
        ids = np.argsort(D, axis=1, kind="stable")[:, 1:k + 1]
        if ids.shape[1] < k:
            ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
        return ids.astype(np.int64), None


class DropsDuplicateVectors(RefIndex):
    """Exact on distinct data, but returns only one of identical vectors (ties lost)."""

    def _search(self, queries, k):
        D = self._distances(queries)
        _, first = np.unique(self.data, axis=0, return_index=True)
        keep = np.zeros(self.n, dtype=bool)
        keep[first] = True
        D[:, ~keep] = np.inf
        ids = np.argsort(D, axis=1, kind="stable")[:, :k]
        return np.where(np.isfinite(np.take_along_axis(D, ids, 1)), ids, -1), None


class ClampsK(RefIndex):
    def search(self, queries, k, filter=None):
        self._filter = None
        return self._search(check_dense(queries, "queries"), max(1, min(k, self.n)))


class BatchDependent(RefIndex):
    def _search(self, queries, k):
        ids, d = super()._search(queries, k + 1)
        return (ids[:, 1:], d) if len(queries) == 1 else (ids[:, :k], d[:, :k])


class Unseeded(RefIndex):
    def _build(self, data):
        super()._build(data)
        self.alive = np.random.default_rng().random(len(data)) < 0.9


class AcceptsNaN(RefIndex):
    def build(self, data):
        data = np.asarray(data, dtype=np.float32)
        self.n, self.dim = data.shape
        self._build(data)


class NormalisesInPlace(RefIndex):
    def _build(self, data):
        data /= np.linalg.norm(data, axis=1, keepdims=True)  # the caller's array
        super()._build(data)


class ZeroBytes(RefIndex):
    def index_bytes(self):
        return 0


class IgnoresFilter(RefIndex):
    def search(self, queries, k, filter=None):
        return super().search(queries, k)


class ForgetsDeletes(RefIndex):
    def delete(self, ids):
        pass


class LosesAdds(RefIndex):
    def add(self, data):
        self.n += len(data)

    def _search(self, queries, k):
        return super()._search(queries, min(k, len(self.data)))


class LossySave(RefIndex):
    def save(self, path):
        with open(path, "wb") as fh:
            np.savez(fh, data=self.data.astype(np.float16), alive=self.alive)


class AnyMetric(RefIndex):
    def __init__(self, metric, seed=0):
        super().__init__("euclidean", seed=seed)


class ThreadsChangeResults(RefIndex):
    def _search(self, queries, k):
        ids, d = super()._search(queries, k)
        return (ids[:, ::-1].copy(), None) if self.threads > 1 else (ids, d)


class BadStats(RefIndex):
    def query_stats(self):
        return {"distance_computations": "many"}


class MissesLastAtKEqualsN(RefIndex):
    def _search(self, queries, k):
        ids, d = super()._search(queries, k)
        if k == self.n:
            ids[:, -1] = -1
        return ids, d


class RefusesSmallFractions(RefIndex):
    """Its own default query grid (0.25 and 1.0) holds a point it refuses."""

    def _search(self, queries, k):
        if self.query_params.get("fraction", 1.0) < 0.5:
            raise InvalidInputError("fraction below 0.5 is not supported")
        return super()._search(queries, k)


INDEX_DEFECTS = [
    (_info(DuplicateIds), "check_ids_valid", "returned an id twice"),
    (_info(Int32Ids), "check_output_types", "int64"),
    (_info(SkipsNearest), "check_results_exact", "not exact"),
    (_info(DropsDuplicateVectors), "check_exact_with_ties", "duplicated data"),
    (_info(ClampsK), "check_k_out_of_range", "accepted without an error"),
    (_info(BatchDependent), "check_single_matches_batch", "alone it returns"),
    (_info(Unseeded, caps={"exact": False}), "check_deterministic", "disagree"),
    (_info(AcceptsNaN), "check_bad_input", "NaN in build data: accepted"),
    (_info(NormalisesInPlace), "check_inputs_not_mutated", "build data"),
    (_info(ZeroBytes), "check_index_bytes", "index_bytes() is 0"),
    (_info(IgnoresFilter), "check_filter", "filter excludes"),
    (_info(ForgetsDeletes), "check_delete", "deleted id"),
    (_info(LosesAdds), "check_add", "not exact"),
    (_info(LossySave), "check_save_load", "after save/load"),
    (_info(AnyMetric), "check_declared_metric", "accepted metric 'no-such-metric'"),
    (_info(query_grid={"fraktion": [1.0]}), "check_params", "'fraktion'"),
    (_info(RefusesSmallFractions, caps={"exact": False}), "check_params",
     "query-grid point(s) fail with metric 'euclidean', e.g. {'fraction': 0.25}"),
    (_info(ThreadsChangeResults), "check_threads", "1 and 2 threads"),
    (_info(BadStats), "check_warmup_and_stats", "finite number"),
    (_info(MissesLastAtKEqualsN), "check_k_equals_n", "expected 40"),
    (_info(caps={"exact": False}, query_grid={"fraction": [0.1, 0.3]}), "check_recall",
     "below the floor"),
]


@pytest.mark.parametrize(("info", "check", "message"), INDEX_DEFECTS,
                         ids=[f"{c}-{i.factory.__name__}" for i, c, _ in INDEX_DEFECTS])
def test_index_check_catches_its_defect(info, check, message):
    checks = dict(index_checks(info))
    with pytest.raises(CheckFailed) as caught:
        checks[check]("euclidean")
    assert message in str(caught.value)


# --------------------------------------------------------------------------- metrics


def _l2(x, y):
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise InvalidInputError(f"dimension mismatch: {x.shape} and {y.shape}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InvalidInputError("NaN or inf in the input")
    return x, y


def l2_pairwise(X, Y):
    x, y = _l2(X, Y)
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))


def l2_rowwise(X, Y):
    x, y = _l2(X, Y)
    if len(x) != len(y):
        raise InvalidInputError(f"row counts differ: {len(x)} and {len(y)}")
    return np.sqrt(((x - y) ** 2).sum(axis=1))


def l2_gradient(Q, X):
    q, x = _l2(Q, X)
    diff = q - x
    return diff / np.linalg.norm(diff, axis=1, keepdims=True)


REF_METRIC = MetricInfo("ref-l2", l2_pairwise, l2_rowwise, gradient=l2_gradient, blas="l2")


def test_reference_metric_passes_every_check():
    names = {r.check for r in check_metric(REF_METRIC)}
    assert {"check_identity", "check_triangle_inequality", "check_gradient",
            "check_blas_form", "check_symmetric"} <= names


def _asym_pairwise(X, Y):
    return l2_pairwise(X, Y) * (1.5 + np.tanh(np.asarray(X, np.float64)[:, :1]))


def _asym_rowwise(X, Y):
    return l2_rowwise(X, Y) * (1.5 + np.tanh(np.asarray(X, np.float64)[:, 0]))


def _squared(fn):
    return lambda X, Y: fn(X, Y) ** 2


def _mutating_pairwise(X, Y):
    X /= 2.0
    return l2_pairwise(X, Y) * 2.0


def _no_checks_pairwise(X, Y):
    x, y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    return np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(axis=2))


METRIC_DEFECTS = [
    (dataclasses.replace(REF_METRIC, pairwise=lambda X, Y: l2_pairwise(X, Y)
                         .astype(np.float32)), "check_pairwise_output", "float64"),
    (dataclasses.replace(REF_METRIC, rowwise=_squared(l2_rowwise)),
     "check_rowwise_matches_pairwise", "rowwise["),
    (dataclasses.replace(REF_METRIC, pairwise=_asym_pairwise, rowwise=_asym_rowwise,
                         triangle_inequality=False, gradient=None, blas=None),
     "check_symmetric", "declared symmetric"),
    (dataclasses.replace(REF_METRIC, pairwise=lambda X, Y: l2_pairwise(X, Y) + 1.0,
                         rowwise=lambda X, Y: l2_rowwise(X, Y) + 1.0),
     "check_identity", "d(x, x)"),
    (dataclasses.replace(REF_METRIC, pairwise=_squared(l2_pairwise),
                         rowwise=_squared(l2_rowwise), gradient=None),
     "check_triangle_inequality", "triangle inequality fails"),
    (dataclasses.replace(REF_METRIC, gradient=lambda Q, X: 2 * l2_gradient(Q, X)),
     "check_gradient", "finite differences"),
    (dataclasses.replace(REF_METRIC, pairwise=lambda X, Y: -l2_pairwise(X, Y),
                         rowwise=lambda X, Y: -l2_rowwise(X, Y), triangle_inequality=False,
                         gradient=None, blas=None),
     "check_non_negative", "negative distance"),
    (dataclasses.replace(REF_METRIC, pairwise=lambda X, Y: cdist(X, Y, "cityblock"),
                         rowwise=lambda X, Y: np.abs(np.asarray(X, float) - Y).sum(1),
                         gradient=None),
     "check_blas_form", "blas='l2'"),
    (dataclasses.replace(REF_METRIC, pairwise=_no_checks_pairwise),
     "check_metric_bad_input", "NaN in X: accepted"),
    (dataclasses.replace(REF_METRIC, pairwise=_mutating_pairwise),
     "check_metric_inputs_not_mutated", "modified"),
    (dataclasses.replace(REF_METRIC, signed=True), "check_metric_info", "signed"),
]


@pytest.mark.parametrize(("info", "check", "message"), METRIC_DEFECTS,
                         ids=[c for _, c, _ in METRIC_DEFECTS])
def test_metric_check_catches_its_defect(info, check, message):
    checks = dict(metric_checks(info))
    with pytest.raises(CheckFailed) as caught:
        checks[check]()
    assert message in str(caught.value)


def _minkowski_pairwise(X, Y, p=2.0):
    x, y = _l2(X, Y)
    return (np.abs(x[:, None, :] - y[None, :, :]) ** p).sum(axis=2) ** (1 / p)


def _minkowski_rowwise(X, Y, p=2.0):
    x, y = _l2(X, Y)
    return (np.abs(x - y) ** p).sum(axis=1) ** (1 / p)


def test_metric_params_from_a_spec_reach_the_functions_and_the_flags():
    from harness.registry import Registry

    info = MetricInfo(
        "ref-minkowski", _minkowski_pairwise, _minkowski_rowwise,
        params=(Param("p", 2.0, float, low=0.01),),
        bind=lambda p: {"triangle_inequality": p >= 1})
    registry = Registry()
    registry.metrics.add(info.name, info, "test")
    low = list(iter_check_cases("ref-minkowski:p=0.5", registry=registry))
    assert {c.plugin for c in low} == {"ref-minkowski:p=0.5"}
    assert "check_triangle_inequality" not in {c.check for c in low}
    assert all(c.result().passed for c in low)
    # Declaring the triangle inequality at p = 0.5 is caught: it does not hold there.
    lying = dataclasses.replace(info, bind=lambda p: {"triangle_inequality": True})
    with pytest.raises(CheckFailed, match="triangle inequality fails"):
        dict(metric_checks(lying, {"p": 0.5}))["check_triangle_inequality"]()
    results = check_metric("ref-minkowski:p=3", registry=registry)
    assert "check_triangle_inequality" in {r.check for r in results}


def test_metric_checks_follow_declared_flags():
    loose = dataclasses.replace(REF_METRIC, triangle_inequality=False, symmetric=False,
                                signed=True, gradient=None, blas=None)
    names = {name for name, _ in metric_checks(loose)}
    assert not {"check_identity", "check_triangle_inequality", "check_symmetric",
                "check_non_negative", "check_gradient", "check_blas_form"} & names


# --------------------------------------------------------------------------- plumbing


def test_failures_raise_conformance_error_listing_them():
    with pytest.raises(ConformanceError) as caught:
        check_index(_info(ZeroBytes), metric="euclidean")
    assert "check_index_bytes" in str(caught.value)
    assert [r.check for r in caught.value.results if not r.passed] == ["check_index_bytes"]


def test_expected_failures_pass_when_failing_and_fail_when_passing():
    results = check_index(_info(ZeroBytes), metric="euclidean",
                          expected_failures={"check_index_bytes": "reports nothing"})
    row = next(r for r in results if r.check == "check_index_bytes")
    assert (row.status, row.passed) == ("xfail", True)
    stale = check_index(_info(), metric="euclidean", raise_on_fail=False,
                        expected_failures={"check_index_bytes[euclidean]": "fixed long ago"})
    row = next(r for r in stale if r.check == "check_index_bytes")
    assert (row.status, row.passed) == ("xpass", False)
    assert "remove it" in row.error


def test_parametrize_ids_and_marks():
    mark = parametrize_with_checks([_info(), REF_METRIC],
                                   expected_failures={"ref": {"check_threads": "slow"}})
    argnames, params = mark.args
    assert argnames == "check"
    ids = [p.id for p in params]
    assert "ref-euclidean-check_results_exact" in ids
    assert "ref-angular-check_filter" in ids
    assert "ref-l2-check_gradient" in ids
    assert len(ids) == len(set(ids))
    xfails = [p for p in params if any(m.name == "xfail" for m in p.marks)]
    assert {p.id for p in xfails} == {"ref-euclidean-check_threads", "ref-angular-check_threads"}
    assert all(m.kwargs["strict"] for p in xfails for m in p.marks if m.name == "xfail")
    assert all(any(m.name == "vecbench_check" for m in p.marks) for p in params)


def test_unavailable_index_gives_a_failing_case_with_the_install_hint():
    info = _info(requires=("no_such_module_for_vecbench",), install_hint="pip install it")
    (case,) = list(iter_check_cases(info))
    assert case.check == "check_requirements"
    result = case.result()
    assert not result.passed and "pip install it" in result.error


def test_unknown_names_and_metrics_are_clear_errors():
    with pytest.raises(UnknownNameError, match="did you mean"):
        list(iter_check_cases(_info(), metric="euclidian"))
    with pytest.raises(UnknownNameError):
        check_index("no-such-index-anywhere")


def test_kit_data_is_seeded_and_has_the_requested_ties():
    a = make_data("dense", n=40, dim=4, n_queries=6, seed=5)
    b = make_data("dense", n=40, dim=4, n_queries=6, seed=5)
    assert np.array_equal(a.train, b.train) and np.array_equal(a.queries, b.queries)
    assert not np.array_equal(a.train, make_data("dense", n=40, dim=4, seed=6).train)
    tied = make_data("dense", n=40, dim=4, n_queries=6, seed=5, ties=True)
    assert len(np.unique(tied.train, axis=0)) == 20
    assert all((tied.train == q).all(axis=1).any() for q in tied.queries[:2])
    bits = make_data("binary", n=10, binary_bits=64)
    assert bits.train.dtype == np.uint8 and bits.train.shape == (10, 8)
    sets = make_data("sets", n=10, vocabulary=50)
    assert len(sets.train) == 10 and sets.train.indices.max() < 50


def test_kit_oracle_agrees_with_plain_python_for_sets_and_bits():
    from harness.testing import reference_pairwise

    sets = make_data("sets", n=12, n_queries=3, vocabulary=30, seed=2)
    _, jaccard = reference_pairwise("jaccard")
    D = jaccard(sets.queries, sets.train)
    a, b = set(sets.queries.row(1).tolist()), set(sets.train.row(7).tolist())
    assert D[1, 7] == pytest.approx(1 - len(a & b) / len(a | b))
    bits = make_data("binary", n=5, n_queries=2, binary_bits=16, seed=2)
    _, hamming = reference_pairwise("hamming")
    ones = bin(int.from_bytes((bits.queries[0] ^ bits.train[3]).tobytes(), "little"))
    assert hamming(bits.queries, bits.train)[0, 3] == ones.count("1")


def test_run_checks_on_a_plugin_file(tmp_path, vecbench_plugin_host):
    # vecbench_plugin_host puts the process-wide plugin host back afterwards.
    path = tmp_path / "kit_target_plugin.py"
    path.write_text(
        "from harness import hookimpl\n"
        "from test_conformance import REF_METRIC, _info, ZeroBytes\n"
        "@hookimpl\n"
        "def register_indexes(register):\n"
        "    register(_info(ZeroBytes, name='zero-bytes-index',\n"
        "                   caps={'metrics': frozenset({'euclidean'})}))\n"
        "@hookimpl\n"
        "def register_metrics(register):\n"
        "    register(REF_METRIC)\n")
    results = run_checks(str(path), settings=KitSettings(n=200, n_queries=10))
    failed = [(r.plugin, r.check) for r in results if not r.passed]
    assert failed == [("zero-bytes-index", "check_index_bytes")]
    assert {r.plugin for r in results} == {"zero-bytes-index", "ref-l2"}
    # Once loaded, the same plugin can be named by its module name.
    again = run_checks("kit_target_plugin", extra_modules=[str(path)],
                       settings=KitSettings(n=200, n_queries=10))
    assert [(r.plugin, r.check) for r in again if not r.passed] == failed


def test_run_checks_reports_a_plugin_that_fails_to_load(tmp_path, vecbench_plugin_host):
    path = tmp_path / "kit_broken_plugin.py"
    path.write_text("raise ImportError('needs libfoo')\n")
    (result,) = run_checks(str(path))
    assert (result.kind, result.check, result.passed) == ("plugin", "load", False)
    assert "needs libfoo" in result.error


def test_run_checks_unknown_target_suggests_names():
    with pytest.raises(UnknownNameError) as caught:
        run_checks("euclidian")
    assert "euclidean" in str(caught.value)
