"""The core index plugins (bruteforce, null, faiss, hnswlib) against independent oracles.

The oracle is float64 numpy/scipy brute force on the same float32 data: ``cdist`` for the
dense metrics, ``-Q @ X.T`` for the inner product, unpacked bits for hamming and Python sets
for jaccard. Exact answers are ranked by (distance, id), so ties go to the smaller id.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness import InvalidInputError, SetData, UnknownNameError, VecbenchError
from harness.plugins import get_registry
from harness.validation import check_dense

# --------------------------------------------------------------------------- oracles


def oracle_dense(metric: str, queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    """float64 distances by scipy / numpy, independent of vecbench's metric code."""
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(base, dtype=np.float64)
    if metric == "ip":
        return -(q @ x.T)
    if metric == "angular":
        return cdist(q, x, "cosine")
    if metric.startswith("minkowski"):
        return cdist(q, x, "minkowski", p=float(metric.split("=")[1]))
    scipy_name = {"manhattan": "cityblock"}.get(metric, metric)
    return cdist(q, x, scipy_name)


def oracle_hamming(queries: np.ndarray, base: np.ndarray) -> np.ndarray:
    qb = np.unpackbits(queries, axis=1, bitorder="little").astype(bool)
    xb = np.unpackbits(base, axis=1, bitorder="little").astype(bool)
    return cdist(qb, xb, "hamming") * qb.shape[1]


def oracle_jaccard(queries: list[set[int]], base: list[set[int]]) -> np.ndarray:
    out = np.zeros((len(queries), len(base)))
    for i, a in enumerate(queries):
        for j, b in enumerate(base):
            union = len(a | b)
            out[i, j] = 0.0 if union == 0 else 1.0 - len(a & b) / union
    return out


def exact_topk(dist: np.ndarray, k: int, allowed: np.ndarray | None = None,
               ) -> tuple[np.ndarray, np.ndarray]:
    """Top-k ids by (distance, id) among allowed columns, -1/inf padded."""
    nq, n = dist.shape
    cols = np.arange(n) if allowed is None else np.flatnonzero(allowed)
    ids = np.full((nq, k), -1, dtype=np.int64)
    out = np.full((nq, k), np.inf)
    for i in range(nq):
        order = np.lexsort((cols, dist[i, cols]))[:k]
        ids[i, :len(order)] = cols[order]
        out[i, :len(order)] = dist[i, cols[order]]
    return ids, out


def distance_recall(dist: np.ndarray, ids: np.ndarray, k: int, rtol: float = 1e-5) -> float:
    """Fraction of returned ids whose oracle distance is within the k-th true distance."""
    kth = np.sort(dist, axis=1)[:, k - 1]
    got = np.take_along_axis(dist, np.where(ids < 0, 0, ids), axis=1)
    ok = (ids >= 0) & (got <= kth[:, None] + rtol * np.abs(kth[:, None]) + 1e-9)
    return float(ok.mean())


def same_sets(ids: np.ndarray, want: np.ndarray) -> bool:
    """Row by row, the same ids (order may differ where float32 distances nearly tie)."""
    return all(set(a) == set(b) for a, b in zip(ids.tolist(), want.tolist(), strict=True))


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def registry():
    return get_registry()


def make(registry, name: str, metric: str, **params):
    return registry.indexes.get(name).factory(metric=metric, **params)


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def random_sets(n: int, vocab: int, seed: int) -> list[set[int]]:
    rng = np.random.default_rng(seed)
    return [set(rng.choice(vocab, size=int(rng.integers(0, 12)), replace=False).tolist())
            for _ in range(n)]


# --------------------------------------------------------------------------- bruteforce


DENSE_METRICS = ["euclidean", "sqeuclidean", "angular", "ip", "manhattan", "chebyshev",
                 "minkowski:p=3", "correlation"]


@pytest.mark.parametrize("metric", DENSE_METRICS)
@pytest.mark.parametrize(("n", "d", "nq", "k"), [(1500, 24, 40, 10), (37, 5, 7, 37),
                                                 (300, 130, 1, 1)])
def test_bruteforce_is_exact_on_dense_metrics(registry, metric, n, d, nq, k):
    base = gaussian(n, d, seed=n + d)
    queries = gaussian(nq, d, seed=n + d + 1)
    index = make(registry, "bruteforce", metric)
    index.warmup(base[:8])
    index.build(base)
    ids, dist = index.search(queries, k)
    want_ids, want_dist = exact_topk(oracle_dense(metric, queries, base), k)
    assert ids.dtype == np.int64 and ids.shape == (nq, k)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "ip", "manhattan"])
def test_bruteforce_breaks_ties_by_smaller_id(registry, metric):
    # points of a small integer grid, each repeated: hundreds of exactly equal distances
    # (integer sums, so the oracle's float64 ties are exact too)
    rng = np.random.default_rng(3)
    grid = rng.integers(-2, 3, size=(200, 3)).astype(np.float32)
    base = np.concatenate([grid, grid[::-1], grid[:50]])
    queries = np.concatenate([grid[:10], rng.integers(-2, 3, size=(10, 3)).astype(np.float32)])
    index = make(registry, "bruteforce", metric)
    index.build(base)
    dist = oracle_dense(metric, queries, base)
    for k in (1, 7, 30):
        ids, _ = index.search(queries, k)
        np.testing.assert_array_equal(ids, exact_topk(dist, k)[0])


def test_bruteforce_breaks_angular_ties_by_smaller_id(registry):
    # duplicated directions: identical rows give identical distances in any computation
    rng = np.random.default_rng(4)
    rows = rng.standard_normal((40, 6)).astype(np.float32)
    base = rows[rng.integers(0, 40, size=300)]
    queries = np.concatenate([rows[:5], rng.standard_normal((5, 6)).astype(np.float32)])
    index = make(registry, "bruteforce", "angular")
    index.build(base)
    dist = oracle_dense("angular", queries, base)
    same = (base[None, :, :] == queries[:, None, :]).all(axis=2)
    dist[same] = 0.0  # cdist leaves ~1e-16 for identical rows; the distance is 0
    for k in (1, 9, 25):
        ids, _ = index.search(queries, k)
        np.testing.assert_array_equal(ids, exact_topk(dist, k)[0])


def test_bruteforce_exact_where_float32_expansion_cancels(registry):
    # a far offset makes |x|^2 - 2 q.x + |q|^2 lose every digit of the tiny differences in
    # float32; the certified re-rank must still return the float64 answer
    rng = np.random.default_rng(5)
    base = (1000.0 + 1e-2 * rng.standard_normal((800, 16))).astype(np.float32)
    queries = (1000.0 + 1e-2 * rng.standard_normal((12, 16))).astype(np.float32)
    for margin in (-1, 0):
        index = make(registry, "bruteforce", "euclidean", margin=margin)
        index.build(base)
        ids, dist = index.search(queries, 10)
        want_ids, want_dist = exact_topk(oracle_dense("euclidean", queries, base), 10)
        np.testing.assert_array_equal(ids, want_ids)
        np.testing.assert_allclose(dist, want_dist, rtol=1e-9)


def test_bruteforce_margin_changes_nothing_but_speed(registry):
    base = gaussian(3000, 8, seed=11)
    base[1000:1100] = base[5]  # a cluster of duplicates straddling the k-th neighbour
    queries = np.concatenate([base[5:6] + 1e-3, gaussian(20, 8, seed=12)])
    want_ids, _ = exact_topk(oracle_dense("sqeuclidean", queries, base), 50)
    for margin in (0, 3, 100, 5000):
        index = make(registry, "bruteforce", "sqeuclidean", margin=margin)
        index.build(base)
        ids, _ = index.search(queries, 50)
        np.testing.assert_array_equal(ids, want_ids)


def test_bruteforce_angular_zero_vectors_follow_the_metric_convention(registry):
    # angular: a zero vector is at distance 1 from non-zero vectors and 0 from a zero vector
    base = gaussian(60, 6, seed=2)
    base[[3, 17, 40]] = 0.0
    queries = np.concatenate([np.zeros((1, 6), np.float32), gaussian(4, 6, seed=4)])
    index = make(registry, "bruteforce", "angular")
    index.build(base)
    ids, dist = index.search(queries, 5)
    np.testing.assert_array_equal(ids[0], [3, 17, 40, 0, 1])
    np.testing.assert_array_equal(dist[0], [0.0, 0.0, 0.0, 1.0, 1.0])
    nonzero = np.ones(60, dtype=bool)
    nonzero[[3, 17, 40]] = False
    d = oracle_dense("angular", queries[1:], base)
    d[:, ~nonzero] = 1.0
    want_ids, want_dist = exact_topk(d, 5)
    np.testing.assert_array_equal(ids[1:], want_ids)
    np.testing.assert_allclose(dist[1:], want_dist, atol=1e-12)


@pytest.mark.parametrize("metric", ["hamming", "hamming-normalized"])
def test_bruteforce_hamming_on_packed_bits(registry, metric):
    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2, size=(400, 70)).astype(np.uint8)
    bits[200:220] = bits[0]  # ties
    base = np.packbits(bits, axis=1, bitorder="little")
    queries = np.packbits(rng.integers(0, 2, size=(15, 70)).astype(np.uint8), axis=1,
                          bitorder="little")
    index = make(registry, "bruteforce", metric)
    index.build(base)
    ids, dist = index.search(queries, 25)
    want = oracle_hamming(queries, base)
    if metric == "hamming-normalized":
        want = want / (8 * base.shape[1])
    want_ids, want_dist = exact_topk(want, 25)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist)


def test_bruteforce_jaccard_on_sets(registry):
    base_sets = random_sets(300, 40, seed=8)
    query_sets = [*random_sets(12, 40, seed=9), set()]
    index = make(registry, "bruteforce", "jaccard")
    index.build(SetData.from_lists([sorted(s) for s in base_sets]))
    ids, dist = index.search(SetData.from_lists([sorted(s) for s in query_sets]), 10)
    want_ids, want_dist = exact_topk(oracle_jaccard(query_sets, base_sets), 10)
    np.testing.assert_array_equal(ids, want_ids)
    np.testing.assert_allclose(dist, want_dist, atol=1e-12)


@pytest.mark.parametrize("metric", ["euclidean", "angular", "ip", "manhattan"])
def test_bruteforce_filter_returns_only_allowed_ids(registry, metric):
    base = gaussian(500, 12, seed=13)
    queries = gaussian(9, 12, seed=14)
    index = make(registry, "bruteforce", metric)
    index.build(base)
    dist = oracle_dense(metric, queries, base)
    rng = np.random.default_rng(15)
    for allowed in (rng.random(500) < 0.3, np.arange(500) % 97 == 0, np.zeros(500, bool)):
        ids, got = index.search(queries, 10, filter=allowed)
        want_ids, want_dist = exact_topk(dist, 10, allowed)
        np.testing.assert_array_equal(ids, want_ids)  # -1 padded when fewer than k allowed
        assert np.isinf(got[ids < 0]).all()
        np.testing.assert_allclose(got[ids >= 0], want_dist[ids >= 0], rtol=1e-9, atol=1e-12)
    ids, _ = index.search(queries, 10, filter=None)
    np.testing.assert_array_equal(ids, exact_topk(dist, 10)[0])


def test_bruteforce_filter_on_sets(registry):
    base_sets = random_sets(120, 30, seed=16)
    query_sets = random_sets(5, 30, seed=17)
    index = make(registry, "bruteforce", "jaccard")
    index.build(SetData.from_lists([sorted(s) for s in base_sets]))
    allowed = np.arange(120) % 3 == 1
    ids, _ = index.search(SetData.from_lists([sorted(s) for s in query_sets]), 8,
                          filter=allowed)
    want_ids, _ = exact_topk(oracle_jaccard(query_sets, base_sets), 8, allowed)
    np.testing.assert_array_equal(ids, want_ids)


@pytest.mark.parametrize("metric", ["euclidean", "chebyshev"])
def test_bruteforce_delete_and_add(registry, metric):
    base = gaussian(400, 10, seed=18)
    extra = gaussian(50, 10, seed=19)
    queries = np.concatenate([base[:5], extra[:3]])
    index = make(registry, "bruteforce", metric)
    index.build(base)
    gone = np.array([0, 1, 2, 3, 4, 77, 399])
    index.delete(gone)
    index.delete(gone[:2])  # deleting twice is harmless
    alive = np.ones(400, dtype=bool)
    alive[gone] = False
    ids, _ = index.search(queries, 12)
    np.testing.assert_array_equal(ids, exact_topk(oracle_dense(metric, queries, base), 12,
                                                  alive)[0])
    assert not np.isin(ids, gone).any()

    new_ids = index.add(extra)
    np.testing.assert_array_equal(new_ids, np.arange(400, 450))
    both = np.concatenate([base, extra])
    alive = np.concatenate([alive, np.ones(50, dtype=bool)])
    ids, _ = index.search(queries, 12)
    np.testing.assert_array_equal(ids, exact_topk(oracle_dense(metric, queries, both), 12,
                                                  alive)[0])
    mask = np.zeros(450, dtype=bool)
    mask[[0, 1, 5, 420, 449]] = True  # 0 and 1 are deleted: a filter cannot revive them
    ids, _ = index.search(queries, 4, filter=mask)
    assert set(ids.ravel().tolist()) <= {5, 420, 449, -1}
    assert (ids[:, 3] == -1).all()


def test_bruteforce_add_to_sets(registry):
    first, second = random_sets(50, 20, seed=20), random_sets(30, 20, seed=21)
    queries = random_sets(4, 20, seed=22)
    index = make(registry, "bruteforce", "jaccard")
    index.build(SetData.from_lists([sorted(s) for s in first]))
    index.add(SetData.from_lists([sorted(s) for s in second]))
    ids, _ = index.search(SetData.from_lists([sorted(s) for s in queries]), 6)
    want_ids, _ = exact_topk(oracle_jaccard(queries, first + second), 6)
    np.testing.assert_array_equal(ids, want_ids)


def test_bruteforce_bad_inputs_give_clear_errors(registry):
    base = gaussian(20, 4, seed=23)
    index = make(registry, "bruteforce", "euclidean")
    with pytest.raises(VecbenchError, match="before build"):
        index.search(base[:2], 3)
    index.build(base)
    with pytest.raises(InvalidInputError, match="larger than the number of indexed items"):
        index.search(base[:2], 21)
    with pytest.raises(InvalidInputError, match="k must be >= 1"):
        index.search(base[:2], 0)
    with pytest.raises(InvalidInputError, match="dimension 4"):
        index.search(gaussian(2, 5, seed=1), 3)
    for value in (np.nan, np.inf, -np.inf):  # float32 C-contiguous: the fast path
        bad = base[:2].copy()
        bad[1, 2] = value
        with pytest.raises(InvalidInputError, match="NaN or inf"):
            index.search(bad, 3)
    # finite values whose squares overflow float32 are still valid queries
    huge = np.full((1, 4), 1e30, np.float32)
    assert check_dense(huge, "q", dim=4) is huge
    assert index.search(huge, 3)[0].shape == (1, 3)
    with pytest.raises(InvalidInputError, match="boolean mask"):
        index.search(base[:2], 3, filter=np.ones(20, dtype=int))
    with pytest.raises(InvalidInputError, match=r"shape \(20,\)"):
        index.search(base[:2], 3, filter=np.ones(19, dtype=bool))
    with pytest.raises(InvalidInputError, match="out of range"):
        index.delete([20])
    with pytest.raises(InvalidInputError, match="integers"):
        index.delete([1.5])
    with pytest.raises(UnknownNameError, match="no-such-metric"):
        make(registry, "bruteforce", "no-such-metric")
    hamming = make(registry, "bruteforce", "hamming")
    with pytest.raises(InvalidInputError, match="uint8"):
        hamming.build(base)


def test_bruteforce_reports_owned_bytes_and_stats(registry):
    base = gaussian(1000, 32, seed=24)
    index = make(registry, "bruteforce", "euclidean")
    index.build(base)
    assert index.index_bytes() >= base.nbytes
    index.set_query_params()
    index.search(base[:10], 5)
    assert index.query_stats()["distance_computations"] == 10 * 1000


# --------------------------------------------------------------------------- null


def test_null_returns_valid_unique_ids_without_copying(registry):
    base = gaussian(50, 8, seed=25)
    index = make(registry, "null", "euclidean")
    index.build(base)
    ids, dist = index.search(gaussian(3000, 8, seed=26), 7)
    assert dist is None and ids.shape == (3000, 7)
    assert ((ids >= 0) & (ids < 50)).all()
    assert all(len(set(row)) == 7 for row in ids.tolist())
    again, _ = index.search(base[:4], 3)
    assert np.shares_memory(ids, again)  # both are views of one prepared array
    with pytest.raises(InvalidInputError, match="larger than"):
        index.search(base[:1], 51)
    with pytest.raises(InvalidInputError, match="NaN"):
        index.search(np.full((1, 8), np.nan, np.float32), 3)
    with pytest.raises(UnknownNameError):
        make(registry, "null", "no-such-metric")


def test_null_takes_sets_and_bits(registry):
    sets = SetData.from_lists([[1, 2], [3], []])
    index = make(registry, "null", "jaccard")
    index.build(sets)
    ids, _ = index.search(sets, 3)
    np.testing.assert_array_equal(ids, np.tile(np.arange(3), (3, 1)))
    bits = np.zeros((10, 4), dtype=np.uint8)
    index = make(registry, "null", "hamming")
    index.build(bits)
    assert index.search(bits[:2], 10)[0].shape == (2, 10)


# --------------------------------------------------------------------------- faiss


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "ip", "angular"])
def test_faiss_flat_matches_the_oracle(registry, metric):
    pytest.importorskip("faiss")
    base = gaussian(1200, 20, seed=27)
    queries = gaussian(30, 20, seed=28)
    index = make(registry, "faiss", metric)
    index.build(base)
    ids, dist = index.search(queries, 10)
    oracle = oracle_dense(metric, queries, base)
    assert distance_recall(oracle, ids, 10) == 1.0
    np.testing.assert_allclose(dist, np.take_along_axis(oracle, ids, axis=1), rtol=1e-4,
                               atol=1e-4)
    assert index.index_bytes() == base.nbytes


def test_faiss_angular_does_not_touch_the_callers_arrays(registry):
    pytest.importorskip("faiss")
    base = gaussian(300, 8, seed=29) * 5
    queries = gaussian(6, 8, seed=30) * 3
    base_before, queries_before = base.copy(), queries.copy()
    index = make(registry, "faiss", "angular")
    index.build(base)
    index.search(queries, 4)
    np.testing.assert_array_equal(base, base_before)
    np.testing.assert_array_equal(queries, queries_before)


def test_faiss_ivf_factory_and_its_search_parameter(registry):
    pytest.importorskip("faiss")
    base = gaussian(2000, 8, seed=31)
    queries = gaussian(20, 8, seed=32)
    index = make(registry, "faiss", "euclidean", factory="IVF16,Flat")
    index.build(base)
    oracle = oracle_dense("euclidean", queries, base)
    index.set_query_params(nprobe=16)  # every list probed: exhaustive
    assert distance_recall(oracle, index.search(queries, 5)[0], 5) == 1.0
    index.set_query_params(nprobe=1)
    assert distance_recall(oracle, index.search(queries, 5)[0], 5) < 1.0
    with pytest.raises(InvalidInputError, match="efSearch"):
        index.set_query_params(efSearch=3)
    assert index.index_bytes() > 0


def test_faiss_bad_inputs(registry):
    pytest.importorskip("faiss")
    with pytest.raises(InvalidInputError, match="not supported"):
        make(registry, "faiss", "manhattan")
    with pytest.raises(InvalidInputError, match="threads"):
        make(registry, "faiss", "euclidean", threads=0)
    index = make(registry, "faiss", "euclidean", factory="NoSuchThing")
    with pytest.raises(InvalidInputError, match="NoSuchThing"):
        index.build(gaussian(10, 4, seed=1))
    index = make(registry, "faiss", "euclidean")
    index.build(gaussian(10, 4, seed=1))
    with pytest.raises(InvalidInputError, match="larger than"):
        index.search(gaussian(1, 4, seed=2), 11)


# --------------------------------------------------------------------------- hnswlib


@pytest.fixture(scope="module")
def hnsw_data():
    return gaussian(2000, 16, seed=33), gaussian(50, 16, seed=34)


@pytest.mark.parametrize("metric", ["euclidean", "ip", "angular"])
def test_hnswlib_recall_at_high_ef(registry, hnsw_data, metric):
    pytest.importorskip("hnswlib")
    base, queries = hnsw_data
    index = make(registry, "hnswlib", metric, M=16, ef_construction=100, seed=1)
    index.build(base)
    index.set_query_params(ef=200)
    ids, dist = index.search(queries, 10)
    oracle = oracle_dense(metric, queries, base)
    assert distance_recall(oracle, ids, 10) >= 0.9
    found = ids >= 0
    np.testing.assert_allclose(dist[found], np.take_along_axis(oracle, ids, axis=1)[found],
                               rtol=1e-4, atol=1e-4)
    index.set_query_params(ef=1)  # effective ef is max(ef, k): still k valid answers
    ids, _ = index.search(queries, 10)
    assert (ids >= 0).all() and all(len(set(r)) == 10 for r in ids.tolist())


def test_hnswlib_filter_and_delete(registry, hnsw_data):
    pytest.importorskip("hnswlib")
    base, queries = hnsw_data
    base, queries = base[:500], queries[:10]
    oracle = oracle_dense("euclidean", queries, base)
    index = make(registry, "hnswlib", "euclidean", M=16, ef_construction=100, seed=2)
    index.build(base)
    index.set_query_params(ef=500)  # ef >= n: the search is exhaustive on a connected graph
    allowed = np.arange(500) % 4 == 0
    ids, _ = index.search(queries, 10, filter=allowed)
    assert allowed[ids].all()
    assert same_sets(ids, exact_topk(oracle, 10, allowed)[0])

    tight = np.zeros(500, dtype=bool)
    tight[[7, 99, 321]] = True  # fewer than k allowed: the three, then -1
    ids, dist = index.search(queries, 10, filter=tight)
    assert [set(r[:3]) for r in ids.tolist()] == [{7, 99, 321}] * len(queries)
    assert (ids[:, 3:] == -1).all() and np.isinf(dist[:, 3:]).all()
    assert index.query_stats()["short_queries"] >= len(queries)

    gone = exact_topk(oracle, 3)[0].ravel()
    index.delete(gone)
    index.delete(gone)  # deleting twice is harmless
    alive = np.ones(500, dtype=bool)
    alive[gone] = False
    ids, _ = index.search(queries, 10)
    assert not np.isin(ids, gone).any()
    assert same_sets(ids, exact_topk(oracle, 10, alive)[0])
    with pytest.raises(InvalidInputError, match="out of range"):
        index.delete([500])
    with pytest.raises(InvalidInputError, match="boolean mask"):
        index.search(queries, 3, filter=np.ones(500))


def test_hnswlib_add_and_save_load_round_trip(registry, hnsw_data, tmp_path):
    pytest.importorskip("hnswlib")
    base, queries = hnsw_data
    index = make(registry, "hnswlib", "angular", M=8, ef_construction=50, seed=3)
    index.build(base[:1500])
    np.testing.assert_array_equal(index.add(base[1500:]), np.arange(1500, 2000))
    index.delete([0, 1999])
    index.set_query_params(ef=100)
    ids, dist = index.search(queries, 10)
    oracle = oracle_dense("angular", queries, base)
    assert distance_recall(oracle, ids, 10) >= 0.85
    assert not np.isin(ids, [0, 1999]).any()
    index.save(tmp_path / "saved")
    again = make(registry, "hnswlib", "angular")
    again.load(tmp_path / "saved")
    again.set_query_params(ef=100)
    ids2, dist2 = again.search(queries, 10)
    np.testing.assert_array_equal(ids, ids2)
    np.testing.assert_allclose(dist, dist2)
    assert again.index_bytes() == index.index_bytes() > base.nbytes
    with pytest.raises(InvalidInputError, match="metric"):
        make(registry, "hnswlib", "euclidean").load(tmp_path / "saved")


def test_hnswlib_is_deterministic_under_a_seed(registry, hnsw_data):
    pytest.importorskip("hnswlib")
    base, queries = hnsw_data
    answers = []
    for _ in range(2):
        index = make(registry, "hnswlib", "euclidean", M=8, ef_construction=40, seed=5)
        index.build(base[:800])
        index.set_query_params(ef=10)
        answers.append(index.search(queries, 5)[0])
    np.testing.assert_array_equal(answers[0], answers[1])


def test_hnswlib_bad_inputs(registry):
    pytest.importorskip("hnswlib")
    with pytest.raises(InvalidInputError, match="not supported"):
        make(registry, "hnswlib", "jaccard")
    with pytest.raises(InvalidInputError, match="M must be"):
        make(registry, "hnswlib", "euclidean", M=0)
    index = make(registry, "hnswlib", "euclidean")
    index.build(gaussian(30, 4, seed=1))
    with pytest.raises(InvalidInputError, match="ef"):
        index.set_query_params(ef=0)
    with pytest.raises(InvalidInputError, match="unknown query parameter"):
        index.set_query_params(nprobe=3)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.search(gaussian(1, 5, seed=2), 3)


def test_registered_capabilities_and_grids(registry):
    brute = registry.indexes.get("bruteforce").capabilities
    assert brute.exact and brute.filter and brute.add and brute.delete and brute.jit
    assert {"euclidean", "hamming", "jaccard", "minkowski"} <= brute.metrics
    hnsw = registry.indexes.get("hnswlib")
    assert hnsw.build_grid["M"] == [8, 16, 32]
    assert hnsw.query_grid["ef"][0] == 10 and hnsw.query_grid["ef"][-1] == 800
    faiss_info = registry.indexes.get("faiss")
    assert faiss_info.library == "faiss-cpu" and faiss_info.requires == ("faiss",)
