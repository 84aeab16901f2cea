"""The in-house KD-tree against brute force (scipy ``cdist``) and scipy's ``cKDTree``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

from harness import IndexInfo, InvalidInputError, UnknownNameError
from plugins import kdtree
from plugins.kdtree import KDTreeIndex, parse_metric

METRICS = [("euclidean", 2.0), ("manhattan", 1.0), ("chebyshev", math.inf),
           ("minkowski:p=3", 3.0)]
SPLITS = ["median", "sliding-midpoint"]


def brute(base: np.ndarray, queries: np.ndarray, p: float) -> np.ndarray:
    """Exact distances in float64 of the float32 vectors the index sees."""
    return cdist(queries.astype(np.float64), base.astype(np.float32).astype(np.float64),
                 "minkowski", p=p)


def assert_exact(ids: np.ndarray, dists: np.ndarray, true: np.ndarray, k: int) -> None:
    """Returned neighbours are a valid exact top-k, ties resolved any way."""
    n = true.shape[1]
    assert ids.shape == dists.shape == (true.shape[0], k)
    assert ids.min() >= 0 and ids.max() < n
    for i in range(true.shape[0]):
        assert len(set(ids[i])) == k, "duplicate ids"
        ref = np.sort(true[i])[:k]
        np.testing.assert_allclose(dists[i], ref, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(true[i, ids[i]], dists[i], rtol=1e-12, atol=1e-12)
        kth = ref[-1]
        below = set(np.flatnonzero(true[i] < kth))
        tied = set(np.flatnonzero(true[i] == kth))
        got = set(ids[i])
        assert below <= got
        assert got - below <= tied


@pytest.mark.parametrize("metric,p", METRICS)
@pytest.mark.parametrize("split", SPLITS)
@pytest.mark.parametrize("n,d,leaf", [(1500, 3, 8), (800, 9, 1), (1200, 16, 20)])
def test_exact_knn_equals_brute_force(metric: str, p: float, split: str, n: int, d: int,
                                      leaf: int) -> None:
    rng = np.random.default_rng(n + d)
    base = rng.normal(size=(n, d)).astype(np.float32)
    queries = rng.normal(size=(60, d)).astype(np.float32)
    index = KDTreeIndex(metric, leaf_size=leaf, split=split)
    index.build(base)
    ids, dists = index.search(queries, 10)
    assert_exact(ids, dists, brute(base, queries, p), 10)


@pytest.mark.parametrize("metric,p", METRICS)
@pytest.mark.parametrize("split", SPLITS)
def test_exact_with_many_ties_and_duplicates(metric: str, p: float, split: str) -> None:
    rng = np.random.default_rng(7)
    base = rng.integers(0, 4, size=(1000, 4)).astype(np.float32)  # 256 cells: many duplicates
    queries = np.vstack([base[:20], rng.integers(0, 4, size=(20, 4))]).astype(np.float32)
    index = KDTreeIndex(metric, leaf_size=5, split=split)
    index.build(base)
    for k in (1, 7, 30):
        ids, dists = index.search(queries, k)
        assert_exact(ids, dists, brute(base, queries, p), k)


@pytest.mark.parametrize("split", SPLITS)
def test_all_identical_points_make_one_leaf(split: str) -> None:
    base = np.ones((100, 3), np.float32)
    index = KDTreeIndex("euclidean", leaf_size=4, split=split)
    index.build(base)
    assert list(index.leaf_sizes()) == [100]
    ids, dists = index.search(np.zeros((1, 3), np.float32), 100)
    assert sorted(ids[0]) == list(range(100))
    np.testing.assert_allclose(dists, math.sqrt(3.0))


def test_k_equals_n_and_single_point() -> None:
    rng = np.random.default_rng(3)
    base = rng.random((17, 2)).astype(np.float32)
    index = KDTreeIndex("euclidean", leaf_size=2)
    index.build(base)
    ids, dists = index.search(base[:3], 17)
    assert_exact(ids, dists, brute(base, base[:3], 2.0), 17)
    one = KDTreeIndex("manhattan")
    one.build(base[:1])
    ids, dists = one.search(base[1:3], 1)
    assert ids.tolist() == [[0], [0]]
    np.testing.assert_allclose(dists[:, 0], np.abs(base[1:3] - base[0]).sum(1), rtol=1e-6)


@pytest.mark.parametrize("leaf", [1, 3, 16])
def test_sliding_midpoint_leaves_hold_1_to_leaf_size_points(leaf: int) -> None:
    rng = np.random.default_rng(leaf)
    # clustered data with a far outlier: midpoints often have nothing on one side
    base = np.vstack([rng.random((500, 3)) * 1e-3, [[1e3, 1e3, 1e3]]]).astype(np.float32)
    index = KDTreeIndex("euclidean", leaf_size=leaf, split="sliding-midpoint")
    index.build(base)
    sizes = index.leaf_sizes()
    assert sizes.sum() == len(base)
    assert sizes.min() >= 1 and sizes.max() <= leaf


def test_median_split_is_balanced_like_scipy() -> None:
    rng = np.random.default_rng(11)
    base = rng.random((4096, 5)).astype(np.float32)
    index = KDTreeIndex("euclidean", leaf_size=16, split="median")
    index.build(base)
    sizes = index.leaf_sizes()
    # 4096 points halved until <= 16: 256 leaves of 16, as scipy's balanced tree
    assert sizes.tolist() == [16] * 256
    assert cKDTree(base.astype(np.float64), leafsize=16, balanced_tree=True).size == 511
    assert len(index.split_dim) == 511


@pytest.mark.parametrize("metric,p", METRICS)
@pytest.mark.parametrize("eps", [0.1, 0.5, 2.0])
def test_eps_bound_holds_for_every_query(metric: str, p: float, eps: float) -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(size=(3000, 6)).astype(np.float32)
    queries = rng.normal(size=(200, 6)).astype(np.float32)
    k = 10
    index = KDTreeIndex(metric, leaf_size=4, split="sliding-midpoint")
    index.build(base)
    index.set_query_params(eps=eps)
    ids, dists = index.search(queries, k)
    true = brute(base, queries, p)
    true_kth = np.sort(true, axis=1)[:, k - 1]
    assert (dists[:, -1] <= (1 + eps) * true_kth * (1 + 1e-12)).all()
    # the reported distances are the true ones, without duplicates
    np.testing.assert_allclose(np.take_along_axis(true, ids, 1), dists, rtol=1e-12)
    assert all(len(set(row)) == k for row in ids)
    # and approximation really skips work compared with the exact search
    exact = KDTreeIndex(metric, leaf_size=4, split="sliding-midpoint")
    exact.build(base)
    exact.search(queries, k)
    assert (index.query_stats()["distance_computations"]
            < exact.query_stats()["distance_computations"])


def test_eps_results_match_scipy_guarantee_on_scipy_data() -> None:
    """Same data, same eps: both meet the bound; recall is in the same range as scipy's."""
    rng = np.random.default_rng(21)
    base = rng.random((5000, 8)).astype(np.float32)
    queries = rng.random((300, 8)).astype(np.float32)
    true = brute(base, queries, 2.0)
    gt = np.argsort(true, axis=1)[:, :10]
    index = KDTreeIndex("euclidean", leaf_size=16)
    index.build(base)
    index.set_query_params(eps=0.5)
    ids, _ = index.search(queries, 10)
    _, sids = cKDTree(base.astype(np.float64), leafsize=16).query(queries, 10, eps=0.5)
    ours = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, gt, strict=True)])
    theirs = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(sids, gt, strict=True)])
    assert ours >= 0.8 and theirs >= 0.8


@pytest.mark.parametrize("metric,p", METRICS)
@pytest.mark.parametrize("split", SPLITS)
def test_radius_search_equals_closed_ball(metric: str, p: float, split: str) -> None:
    rng = np.random.default_rng(13)
    # integer grid: distances land exactly on the radius, testing the closed ball
    base = rng.integers(-3, 4, size=(1500, 3)).astype(np.float32)
    queries = rng.integers(-3, 4, size=(40, 3)).astype(np.float32)
    true = brute(base, queries, p)
    # the ball test in exact integer arithmetic: sum |x - y|^p <= r^p (max for chebyshev)
    diff = np.abs(queries[:, None, :].astype(np.int64) - base[None, :, :].astype(np.int64))
    index = KDTreeIndex(metric, leaf_size=6, split=split)
    index.build(base)
    for r in (0, 1, 2, 3):
        inside = (diff.max(axis=2) <= r if math.isinf(p)
                  else (diff ** int(p)).sum(axis=2) <= r ** int(p))
        indptr, ids, dists = index.radius_search(queries, r)
        assert indptr[0] == 0 and len(indptr) == len(queries) + 1
        for i in range(len(queries)):
            row = ids[indptr[i]:indptr[i + 1]]
            want = np.flatnonzero(inside[i])
            assert sorted(row.tolist()) == want.tolist()
            rd = dists[indptr[i]:indptr[i + 1]]
            np.testing.assert_allclose(rd, true[i, row], rtol=1e-12, atol=1e-12)
            assert (np.diff(rd) >= 0).all()


def test_radius_search_against_scipy_query_ball_point() -> None:
    rng = np.random.default_rng(17)
    base = rng.random((3000, 4)).astype(np.float32)
    queries = rng.random((50, 4)).astype(np.float32)
    tree = cKDTree(base.astype(np.float64))
    index = KDTreeIndex("chebyshev", leaf_size=10)
    index.build(base)
    indptr, ids, _ = index.radius_search(queries, 0.15)
    ref = tree.query_ball_point(queries.astype(np.float64), 0.15, p=np.inf)
    for i in range(len(queries)):
        assert sorted(ids[indptr[i]:indptr[i + 1]].tolist()) == sorted(ref[i])


@pytest.mark.parametrize("metric", ["angular", "cosine", "ip", "jaccard", "hamming",
                                    "mahalanobis"])
def test_non_minkowski_metrics_are_refused_with_the_reason(metric: str) -> None:
    with pytest.raises(InvalidInputError, match="axis-aligned"):
        KDTreeIndex(metric)


@pytest.mark.parametrize("p", [0.5, 0.0, -1.0, float("nan")])
def test_minkowski_below_one_is_refused(p: float) -> None:
    with pytest.raises(InvalidInputError, match="p must be >= 1"):
        KDTreeIndex("minkowski", p=p)
    with pytest.raises(InvalidInputError, match="p must be >= 1"):
        KDTreeIndex(f"minkowski:p={p}")


def test_metric_strings_and_p_parameter() -> None:
    assert parse_metric("euclidean") == 2.0
    assert parse_metric("minkowski:p=3") == 3.0
    assert parse_metric("minkowski", 1.5) == 1.5
    assert parse_metric("minkowski") == 2.0
    assert parse_metric("minkowski:p=inf") == math.inf
    assert parse_metric("chebyshev", math.inf) == math.inf
    with pytest.raises(InvalidInputError, match="disagree"):
        parse_metric("minkowski:p=3", 4.0)
    with pytest.raises(InvalidInputError, match="means p=2"):
        parse_metric("euclidean", 3.0)
    with pytest.raises(InvalidInputError, match="minkowski:p=3"):
        parse_metric("minkowski:q=3")
    rng = np.random.default_rng(2)
    base = rng.random((400, 3)).astype(np.float32)
    a = KDTreeIndex("minkowski", p=3)
    b = KDTreeIndex("minkowski:p=3")
    a.build(base)
    b.build(base)
    ia, da = a.search(base[:5], 4)
    ib, db = b.search(base[:5], 4)
    np.testing.assert_array_equal(da, db)
    np.testing.assert_array_equal(ia, ib)
    assert_exact(ia, da, brute(base, base[:5], 3.0), 4)


def test_bad_parameters_and_inputs_are_clear_errors() -> None:
    with pytest.raises(InvalidInputError, match="leaf_size"):
        KDTreeIndex("euclidean", leaf_size=0)
    with pytest.raises(InvalidInputError, match="split"):
        KDTreeIndex("euclidean", split="middle")
    with pytest.raises(UnknownNameError, match="leafsize"):
        KDTreeIndex("euclidean", leafsize=4)
    index = KDTreeIndex("euclidean")
    with pytest.raises(InvalidInputError, match="NaN"):
        index.build(np.array([[0.0, np.nan]], np.float32))
    index.build(np.zeros((5, 2), np.float32))
    with pytest.raises(InvalidInputError, match="eps"):
        index.set_query_params(eps=-0.1)
    with pytest.raises(UnknownNameError):
        index.set_query_params(ef=10)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.search(np.zeros((1, 3), np.float32), 1)
    with pytest.raises(InvalidInputError, match="larger than"):
        index.search(np.zeros((1, 2), np.float32), 6)
    with pytest.raises(InvalidInputError, match="radius"):
        index.radius_search(np.zeros((1, 2), np.float32), -1.0)


def test_build_does_not_modify_input_and_is_deterministic() -> None:
    rng = np.random.default_rng(9)
    base = rng.random((700, 5)).astype(np.float32)
    copy = base.copy()
    runs = []
    for _ in range(2):
        index = KDTreeIndex("euclidean", leaf_size=3, split="median")
        index.build(base)
        runs.append(index.search(base[:20], 5))
    np.testing.assert_array_equal(base, copy)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert index.index_bytes() >= base.nbytes


def test_hook_registers_kdtree() -> None:
    infos: list[IndexInfo] = []
    kdtree.register_indexes(infos.append)
    (info,) = infos
    assert info.name == "kdtree"
    assert info.capabilities.metrics == {"euclidean", "manhattan", "chebyshev", "minkowski"}
    assert not info.capabilities.exact and info.capabilities.jit
    index = info.factory(metric="euclidean", leaf_size=4)
    rng = np.random.default_rng(1)
    base = rng.random((50, 2)).astype(np.float32)
    index.warmup(base)
    index.build(base)
    ids, _ = index.search(base[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]
