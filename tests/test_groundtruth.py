"""Exact ground truth against a naive float64 brute force (scipy / numpy / Python sets)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness.errors import InvalidInputError
from harness.groundtruth import GroundTruthError, check_groundtruth, exact_knn
from harness.metrics import get_metric
from harness.types import SetData


def oracle_dense(train: np.ndarray, test: np.ndarray, metric: str) -> np.ndarray:
    """Full float64 distance matrix computed independently of vecbench."""
    a, b = test.astype(np.float64), train.astype(np.float64)
    if metric == "ip":
        return -(a @ b.T)
    if metric == "minkowski:p=3":
        return cdist(a, b, "minkowski", p=3)
    scipy_name = {"euclidean": "euclidean", "sqeuclidean": "sqeuclidean", "angular": "cosine",
                  "manhattan": "cityblock", "chebyshev": "chebyshev",
                  "correlation": "correlation"}[metric]
    return cdist(a, b, scipy_name)


def oracle_topk(dmat: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.broadcast_to(np.arange(dmat.shape[1]), dmat.shape)
    order = np.lexsort((ids, dmat), axis=1)[:, :depth]
    return order, np.take_along_axis(dmat, order, axis=1)


def assert_same_knn(got_ids: np.ndarray, got_d: np.ndarray, want_ids: np.ndarray,
                    want_d: np.ndarray, rtol: float = 1e-9) -> None:
    """Distances equal rank by rank; ids equal wherever the distance is not tied."""
    np.testing.assert_allclose(got_d, want_d, rtol=rtol, atol=1e-12)
    spread = np.abs(np.diff(want_d, axis=1))
    scale = rtol * np.maximum(np.abs(want_d[:, 1:]), 1e-12) + 1e-12
    isolated = np.ones_like(want_d, dtype=bool)
    isolated[:, 1:] &= spread > scale
    isolated[:, :-1] &= spread > scale
    np.testing.assert_array_equal(got_ids[isolated], want_ids[isolated])
    for row in range(len(got_ids)):  # tied groups must hold the same ids
        assert set(got_ids[row]) - set(want_ids[row]) <= set(
            got_ids[row][~isolated[row]])


@pytest.fixture(scope="module")
def gaussian() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    train = rng.standard_normal((3000, 24)).astype(np.float32)
    train *= rng.uniform(0.2, 3.0, size=(3000, 1)).astype(np.float32)  # varied norms for ip
    test = rng.standard_normal((60, 24)).astype(np.float32)
    return train, test


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "angular", "ip", "manhattan",
                                    "chebyshev", "correlation"])
def test_dense_metrics_match_brute_force(gaussian, metric):
    train, test = gaussian
    stats: dict = {}
    ids, dists = exact_knn(train, test, get_metric(metric), 40, stats=stats)
    assert ids.dtype == np.int64 and dists.dtype == np.float64
    assert ids.shape == dists.shape == (60, 40)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, metric), 40)
    assert_same_knn(ids, dists, want_ids, want_d)
    assert stats["path"] == ("blas" if metric in ("euclidean", "sqeuclidean", "angular", "ip")
                             else "generic")


def test_minkowski_small(gaussian):
    train, test = gaussian[0][:400], gaussian[1][:10]
    ids, dists = exact_knn(train, test, "minkowski:p=3", 15)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "minkowski:p=3"), 15)
    assert_same_knn(ids, dists, want_ids, want_d)


@pytest.mark.parametrize("metric", ["euclidean", "ip", "manhattan"])
def test_exact_ties_are_broken_by_id(metric):
    # small integer grid: huge numbers of exactly equal distances
    rng = np.random.default_rng(3)
    train = rng.integers(0, 3, size=(2500, 4)).astype(np.float32)
    test = rng.integers(0, 3, size=(40, 4)).astype(np.float32)
    ids, dists = exact_knn(train, test, metric, 100, block_base=300, margin=5)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, metric), 100)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dists, want_d, rtol=1e-12, atol=1e-12)


def test_angular_ties_from_scaled_copies():
    # rows that are positive multiples of each other have exactly the same angle
    rng = np.random.default_rng(5)
    base = rng.integers(-2, 3, size=(200, 6)).astype(np.float32)
    train = np.concatenate([base, 2 * base, 4 * base])
    train = train[np.abs(train).sum(axis=1) > 0]
    test = rng.integers(-2, 3, size=(20, 6)).astype(np.float32)
    test = test[np.abs(test).sum(axis=1) > 0]
    ids, dists = exact_knn(train, test, "angular", 30)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "angular"), 30)
    assert_same_knn(ids, dists, want_ids, want_d, rtol=1e-7)


def test_block_sizes_do_not_change_the_result(gaussian):
    train, test = gaussian
    ref = exact_knn(train, test, "euclidean", 25)
    for bq, bb in ((1, 700), (13, 100), (4096, 4096)):
        got = exact_knn(train, test, "euclidean", 25, block_queries=bq, block_base=bb)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    gen = exact_knn(train, test, "manhattan", 25, block_queries=7, block_base=333)
    np.testing.assert_array_equal(gen[0], exact_knn(train, test, "manhattan", 25)[0])


def test_float32_preselection_is_certified_or_recomputed():
    # A large common offset makes float32 |x|^2 - 2 q.x useless for ranking: the float32
    # order disagrees with the exact one, so certification must fail and the exact path
    # must take over.
    rng = np.random.default_rng(8)
    train = (1e4 + rng.standard_normal((1500, 8))).astype(np.float32)
    test = (1e4 + rng.standard_normal((30, 8))).astype(np.float32)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "euclidean"), 10)
    q, x = test, train
    f32 = (x * x).sum(1)[None, :] - 2 * (q @ x.T)
    assert (np.argsort(f32, axis=1, kind="stable")[:, :10] != want_ids).any()
    stats: dict = {}
    ids, dists = exact_knn(train, test, "euclidean", 10, margin=4, stats=stats)
    assert stats["fallback_queries"] > 0
    assert_same_knn(ids, dists, want_ids, want_d)


def test_margin_zero_still_exact(gaussian):
    train, test = gaussian
    stats: dict = {}
    ids, dists = exact_knn(train, test, "ip", 20, margin=0, stats=stats)
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "ip"), 20)
    assert_same_knn(ids, dists, want_ids, want_d)


def test_hamming_on_packed_bits():
    rng = np.random.default_rng(2)
    bits_train = rng.random((1200, 40)) < 0.5
    bits_test = rng.random((25, 40)) < 0.5
    train = np.packbits(bits_train, axis=1, bitorder="little")
    test = np.packbits(bits_test, axis=1, bitorder="little")
    dmat = cdist(bits_test, bits_train, "hamming") * 40  # scipy: fraction of bits
    ids, dists = exact_knn(train, test, "hamming", 50)
    want_ids, want_d = oracle_topk(np.round(dmat), 50)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dists, want_d)


def test_jaccard_on_sets():
    rng = np.random.default_rng(4)
    lists = [rng.choice(60, size=rng.integers(1, 12), replace=False) for _ in range(700)]
    queries = [rng.choice(60, size=rng.integers(1, 12), replace=False) for _ in range(20)]
    train, test = SetData.from_lists(lists), SetData.from_lists(queries)
    dmat = np.array([[1 - len(set(a) & set(b)) / len(set(a) | set(b)) for b in lists]
                     for a in queries])
    ids, dists = exact_knn(train, test, "jaccard", 30, block_base=128)
    want_ids, want_d = oracle_topk(dmat, 30)
    assert_same_knn(ids, dists, want_ids, want_d)


def test_depth_equal_to_n_and_bad_depths(gaussian):
    train, test = gaussian[0][:50], gaussian[1][:3]
    ids, _ = exact_knn(train, test, "euclidean", 50)
    assert sorted(ids[0]) == list(range(50))
    with pytest.raises(InvalidInputError, match="larger than the number of base vectors"):
        exact_knn(train, test, "euclidean", 51)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError, match="depth"):
            exact_knn(train, test, "euclidean", bad)


def test_zero_vectors_under_angular_use_the_metric_convention():
    train = np.array([[0, 0], [1, 0], [0, 1], [-1, 0]], dtype=np.float32)
    test = np.array([[0, 0], [1, 0.1]], dtype=np.float32)
    ids, dists = exact_knn(train, test, "angular", 4)
    # zero query: distance 0 to the zero vector, 1 to every other one (cos taken as 0)
    np.testing.assert_array_equal(ids[0], [0, 1, 2, 3])
    np.testing.assert_allclose(dists[0], [0, 1, 1, 1])
    assert list(ids[1]) == [1, 2, 0, 3]


# --------------------------------------------------------------------------- spot check


@pytest.fixture(scope="module")
def small_gt(gaussian):
    train, test = gaussian[0][:800], gaussian[1][:30]
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "euclidean"), 20)
    return train, test, want_ids, want_d


def test_check_accepts_correct_ground_truth_in_float32(small_gt):
    train, test, ids, dists = small_gt
    report = check_groundtruth(train, test, ids.astype(np.int32), dists.astype(np.float32),
                               "euclidean", sample=10)
    assert report["queries_checked"] == 10 and report["depth"] == 20


def test_check_catches_a_wrong_neighbour(small_gt):
    train, test, ids, _ = small_gt
    bad = ids.copy()
    bad[:, 3] = bad[:, 19] + 0  # duplicate a farther neighbour in place of rank 3
    bad[:, 19] = (ids.max() + 1) % len(train)
    with pytest.raises(GroundTruthError, match=r"rank 3"):
        check_groundtruth(train, test, bad, None, "euclidean", sample=30)


def test_check_catches_distances_of_another_definition(small_gt):
    train, test, _, _ = small_gt
    # ann-benchmarks #367: "angular" distances stored as |u - v| of normalised vectors
    want = oracle_dense(train, test, "angular")
    ang_ids, ang_d = oracle_topk(want, 20)
    with pytest.raises(GroundTruthError, match="#367"):
        check_groundtruth(train, test, ang_ids, np.sqrt(2 * ang_d), "angular", sample=5)
    check_groundtruth(train, test, ang_ids, ang_d, "angular", sample=5)


def test_check_catches_normalised_hamming_stored_for_counts():
    rng = np.random.default_rng(9)
    bits = rng.random((300, 64)) < 0.5
    qbits = rng.random((10, 64)) < 0.5
    train = np.packbits(bits, axis=1, bitorder="little")
    test = np.packbits(qbits, axis=1, bitorder="little")
    frac = cdist(qbits, bits, "hamming")
    ids, d = oracle_topk(frac, 10)
    with pytest.raises(GroundTruthError, match="#508"):
        check_groundtruth(train, test, ids, d, "hamming")
    check_groundtruth(train, test, ids, d, "hamming-normalized")
    check_groundtruth(train, test, ids, d * 64, "hamming")


def test_check_rejects_bad_shapes_and_ids(small_gt):
    train, test, ids, dists = small_gt
    with pytest.raises(GroundTruthError, match="shape"):
        check_groundtruth(train, test, ids[:5], None, "euclidean")
    bad = ids.copy()
    bad[0, 0] = len(train)
    with pytest.raises(GroundTruthError, match="outside"):
        check_groundtruth(train, test, bad, None, "euclidean")
    with pytest.raises(GroundTruthError, match="distances have shape"):
        check_groundtruth(train, test, ids, dists[:, :5], "euclidean")
    twice = ids.copy()
    twice[7, 4] = twice[7, 2]
    with pytest.raises(GroundTruthError, match=r"twice.*query 7"):
        check_groundtruth(train, test, twice, None, "euclidean")


def test_integer_input_on_the_blas_path():
    rng = np.random.default_rng(13)
    train = rng.integers(-5, 6, size=(700, 5))
    test = rng.integers(-5, 6, size=(12, 5))
    stats: dict = {}
    ids, dists = exact_knn(train, test, "sqeuclidean", 40, stats=stats)
    assert stats["path"] == "blas"
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "sqeuclidean"), 40)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_array_equal(dists, want_d)


def test_float64_input_on_the_blas_path():
    # values that float32 cannot hold exactly: the float32 scores are only a pre-selection
    rng = np.random.default_rng(12)
    train = rng.standard_normal((900, 10)) * (1 + 1e-9 * rng.standard_normal((900, 10)))
    test = rng.standard_normal((15, 10))
    stats: dict = {}
    ids, dists = exact_knn(train, test, "euclidean", 12, stats=stats)
    assert stats["path"] == "blas"
    want_ids, want_d = oracle_topk(oracle_dense(train, test, "euclidean"), 12)
    assert_same_knn(ids, dists, want_ids, want_d)


def test_zero_query_under_angular_collects_every_tie():
    # a zero query is at distance 1 from every non-zero vector: all 600 tie, and the
    # certified float32 pass cannot cut the tie, so the second pass must take them all
    rng = np.random.default_rng(14)
    train = rng.standard_normal((600, 5)).astype(np.float32)
    train[[250, 400]] = 0.0
    test = np.vstack([np.zeros((1, 5)), rng.standard_normal((3, 5))]).astype(np.float32)
    stats: dict = {}
    ids, dists = exact_knn(train, test, "angular", 6, margin=2, stats=stats)
    assert stats["fallback_queries"] >= 1 and stats["fallback_candidates"] >= 600
    np.testing.assert_array_equal(ids[0], [250, 400, 0, 1, 2, 3])
    np.testing.assert_allclose(dists[0], [0, 0, 1, 1, 1, 1])
    want_ids, want_d = oracle_topk(oracle_dense(train, test[1:], "angular"), 6)
    assert_same_knn(ids[1:], dists[1:], want_ids, want_d, rtol=1e-7)
