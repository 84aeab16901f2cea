"""In-house PQ / IVF-PQ and k-means against closed forms, brute force, scipy and faiss."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from threadpoolctl import threadpool_limits

from harness import IndexInfo, InvalidInputError, UnknownNameError
from plugins import _kmeans, pq
from plugins.pq import IVFPQIndex, PQIndex, ProductQuantizer


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


def sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cdist(a.astype(np.float64), b.astype(np.float64), "sqeuclidean")


@pytest.fixture(autouse=True)
def _quiet_thin_training() -> None:
    warnings.simplefilter("ignore", RuntimeWarning)


# --------------------------------------------------------------------------- k-means


@pytest.mark.parametrize("d", [3, 8, 40])  # the direct kernel, its 8-d form, BLAS
def test_assign_is_the_nearest_centroid(d: int) -> None:
    x = gaussian(2000, d, 1)
    c = gaussian(37, d, 2)
    labels, dist = _kmeans.assign(x, c)
    ref = sq_dist(x, c)
    best = ref.min(axis=1)
    # the chosen centroid is a nearest one (float32 scores: ties within rounding)
    np.testing.assert_allclose(ref[np.arange(len(x)), labels], best, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dist, best, rtol=1e-4, atol=1e-4)


def test_kmeans_is_seeded_and_lloyd_objective_never_increases() -> None:
    x = gaussian(3000, 6, 3)
    a = _kmeans.kmeans(x, 20, niter=15, seed=5)
    b = _kmeans.kmeans(x, 20, niter=15, seed=5)
    np.testing.assert_array_equal(a.centroids, b.centroids)
    obj = np.array(a.objective)
    assert (np.diff(obj) <= 1e-6 * obj[:-1]).all()
    # quality comparable to scikit-learn's Lloyd from the same start
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(5)
    init = x[rng.choice(len(x), 20, replace=False)]
    with threadpool_limits(1):  # OpenMP spinning on a busy machine costs seconds
        sk = KMeans(20, init=init, n_init=1, max_iter=15, tol=0, algorithm="lloyd").fit(x)
    ours = sq_dist(x, a.centroids).min(axis=1).sum()
    assert ours <= sk.inertia_ * 1.02


def test_kmeans_converged_centroids_are_the_means_of_their_points() -> None:
    rng = np.random.default_rng(4)
    centres = rng.normal(scale=10, size=(5, 3))
    x = (centres[rng.integers(0, 5, 1000)] + rng.normal(size=(1000, 3))).astype(np.float32)
    res = _kmeans.kmeans(x, 5, niter=50, seed=1)
    labels = sq_dist(x, res.centroids).argmin(axis=1)
    for c in range(5):
        np.testing.assert_allclose(res.centroids[c], x[labels == c].mean(axis=0), atol=1e-4)


def test_kmeans_subsamples_and_refills_empty_clusters() -> None:
    x = gaussian(5000, 2, 6)
    res = _kmeans.kmeans(x, 8, niter=3, seed=0, max_points_per_centroid=10)
    assert res.n_train == 80
    # duplicated points leave clusters empty at the start; they are refilled by splits
    dup = np.repeat(gaussian(3, 2, 7), 50, axis=0)
    res = _kmeans.kmeans(dup, 6, niter=5, seed=0)
    assert len(np.unique(res.centroids, axis=0)) == 6


def test_kmeans_too_few_points_is_a_clear_error_and_thin_training_warns() -> None:
    with pytest.raises(InvalidInputError, match=r"10 training points for 16 centroids"):
        _kmeans.kmeans(gaussian(10, 2, 0), 16)
    with pytest.raises(InvalidInputError, match="at least 64"):
        _kmeans.kmeans(gaussian(40, 2, 0), 16, min_points_per_centroid=4)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _kmeans.kmeans(gaussian(100, 2, 0), 16, niter=1)
    assert any("fewer than 39" in str(w.message) for w in caught)


# --------------------------------------------------------------------------- quantizer


@pytest.mark.parametrize("d,m,nbits", [(32, 8, 6), (12, 4, 4), (10, 1, 5), (16, 16, 3)])
def test_adc_equals_distance_to_the_reconstruction(d: int, m: int, nbits: int) -> None:
    x = gaussian(2000, d, d + m)
    q = gaussian(25, d, 99)
    quant = ProductQuantizer(d, m, nbits).train(x)
    codes = quant.encode(x)
    recon = quant.decode(codes)
    adc = quant.adc_distances(q, codes)
    ref = sq_dist(q, recon)
    np.testing.assert_allclose(adc, ref, rtol=2e-5, atol=2e-5)
    ip = quant.adc_distances(q, codes, "ip")
    np.testing.assert_allclose(ip, -(q.astype(np.float64) @ recon.T.astype(np.float64)),
                               rtol=2e-5, atol=2e-5)


def test_sdc_equals_distance_between_reconstructions() -> None:
    x = gaussian(3000, 24, 8)
    q = gaussian(30, 24, 9)
    quant = ProductQuantizer(24, 6, 6).train(x)
    codes = quant.encode(x)
    sdc = quant.sdc_distances(q, codes)
    qhat = quant.decode(quant.encode(q)).astype(np.float64)
    xhat = quant.decode(codes).astype(np.float64)
    np.testing.assert_allclose(sdc, sq_dist(qhat, xhat), rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(quant.sdc_distances(q, codes, "ip"), -(qhat @ xhat.T),
                               rtol=2e-5, atol=2e-5)


def test_encoding_is_the_argmin_and_centroids_encode_to_themselves() -> None:
    x = gaussian(1500, 16, 10)
    quant = ProductQuantizer(16, 4, 5).train(x)
    codes = quant.encode(x)
    for sub in range(4):
        part = x[:, sub * 4:(sub + 1) * 4]
        ref = sq_dist(part, quant.codebooks[sub])
        np.testing.assert_allclose(ref[np.arange(len(x)), codes[:, sub]], ref.min(axis=1),
                                   rtol=1e-5, atol=1e-6)
    every = np.stack([np.arange(32)] * 4, axis=1)
    np.testing.assert_array_equal(quant.encode(quant.decode(every)), every)


def test_reconstruction_error_close_to_faiss_and_shrinks_with_nbits() -> None:
    faiss = pytest.importorskip("faiss")
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # OpenMP spinning on a busy machine costs seconds
    try:
        _compare_with_faiss(faiss)
    finally:
        faiss.omp_set_num_threads(threads)


def _compare_with_faiss(faiss: Any) -> None:
    x = gaussian(4000, 32, 11)
    errors = []
    for nbits in (3, 5, 7):
        quant = ProductQuantizer(32, 8, nbits).train(x)
        err = float(((quant.decode(quant.encode(x)) - x) ** 2).sum())
        errors.append(err)
        peer = faiss.ProductQuantizer(32, 8, nbits)
        peer.train(x)
        peer_err = float(((peer.decode(peer.compute_codes(x)) - x) ** 2).sum())
        assert abs(err - peer_err) <= 0.05 * peer_err
    assert errors[0] > errors[1] > errors[2]


def test_sixteen_bit_codes() -> None:
    x = gaussian(700, 4, 12)
    quant = ProductQuantizer(4, 2, 9, niter=3).train(x)
    codes = quant.encode(x)
    assert codes.dtype == np.uint16 and codes.max() < 512
    np.testing.assert_allclose(quant.adc_distances(x[:5], codes),
                               sq_dist(x[:5], quant.decode(codes)), rtol=2e-5, atol=2e-5)


def test_quantizer_argument_errors() -> None:
    with pytest.raises(InvalidInputError, match=r"d=30 is not a multiple of m=8"):
        ProductQuantizer(30, 8)
    with pytest.raises(InvalidInputError, match="nbits"):
        ProductQuantizer(8, 2, 17)
    quant = ProductQuantizer(8, 2, 8)
    with pytest.raises(InvalidInputError, match="100 training points for 256 centroids"):
        quant.train(gaussian(100, 8, 0))
    with pytest.raises(InvalidInputError, match=r"shape \(n, 8\)"):
        quant.train(gaussian(300, 6, 0))


# --------------------------------------------------------------------------- PQ index


def test_pq_index_returns_the_adc_top_k() -> None:
    x = gaussian(2500, 16, 13)
    q = gaussian(40, 16, 14)
    index = PQIndex("euclidean", m=4, nbits=6, refine=False)
    index.build(x)
    ids, dists = index.search(q, 10)
    recon = index.pq.decode(index.pq.encode(x))
    ref = sq_dist(q, recon)
    np.testing.assert_allclose(dists ** 2, np.sort(ref, axis=1)[:, :10], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dists ** 2, np.take_along_axis(ref, ids, 1), rtol=1e-4,
                               atol=1e-4)
    assert index.index_bytes() < x.nbytes  # codes + codebooks, no raw vectors


def test_pq_sdc_search_ranks_by_sdc() -> None:
    x = gaussian(2500, 16, 15)
    q = gaussian(20, 16, 16)
    index = PQIndex("euclidean", m=4, nbits=5, refine=False)
    index.build(x)
    index.set_query_params(search_type="sdc")
    _, dists = index.search(q, 5)
    ref = sq_dist(index.pq.decode(index.pq.encode(q)), index.pq.decode(index.codes))
    np.testing.assert_allclose(dists ** 2, np.sort(ref, axis=1)[:, :5], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["euclidean", "ip"])
@pytest.mark.parametrize("cls,extra", [(PQIndex, {}), (IVFPQIndex, {"nlist": 8})])
def test_full_rerank_is_exact(metric: str, cls: type, extra: dict) -> None:
    x = gaussian(600, 8, 17)
    q = gaussian(20, 8, 18)
    index = cls(metric, m=4, nbits=4, **extra)
    index.build(x)
    params = {"rerank": 600}
    if cls is IVFPQIndex:
        params["nprobe"] = 8
    index.set_query_params(**params)
    ids, dists = index.search(q, 7)
    if metric == "euclidean":
        ref = np.sqrt(sq_dist(q, x))
    else:
        ref = -(q.astype(np.float64) @ x.T.astype(np.float64))
    np.testing.assert_allclose(dists, np.sort(ref, axis=1)[:, :7], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.take_along_axis(ref, ids, 1), dists, rtol=1e-9, atol=1e-9)
    assert index.query_stats()["exact_distances"] == 20 * 600


def test_rerank_improves_recall_on_clustered_data() -> None:
    rng = np.random.default_rng(19)
    centres = rng.normal(scale=3, size=(20, 32))
    x = (centres[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 32))).astype(np.float32)
    q = (centres[rng.integers(0, 20, 50)] + rng.normal(size=(50, 32))).astype(np.float32)
    truth = np.argsort(sq_dist(q, x), axis=1)[:, :10]
    index = PQIndex("euclidean", m=8, nbits=6)
    index.build(x)
    recalls = []
    for rerank in (0, 100):
        index.set_query_params(rerank=rerank)
        ids, _ = index.search(q, 10)
        recalls.append(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(ids, truth,
                                                                              strict=True)]))
    assert recalls[1] >= 0.9 and recalls[1] > recalls[0]


# --------------------------------------------------------------------------- IVF-PQ


@pytest.mark.parametrize("nbits", [5, 8])  # lists longer / shorter than 2**nbits codes
def test_ivfpq_three_term_identity_and_reconstruction_distance(
        monkeypatch: pytest.MonkeyPatch, nbits: int) -> None:
    x = gaussian(3000, 16, 20)
    q = gaussian(30, 16, 21)
    index = IVFPQIndex("euclidean", nlist=12, m=4, nbits=nbits, refine=False)
    index.build(x)
    assert index.list_sizes().sum() == 3000
    if nbits == 8:
        sizes = index.list_sizes()
        assert sizes.min() < 256 <= sizes.max()  # both scan paths are taken
    lists = np.empty(3000, np.int64)
    for lst in range(12):
        lists[index.list_ids[index.offsets[lst]:index.offsets[lst + 1]]] = lst
    codes = np.empty_like(index.codes)
    codes[index.list_ids] = index.codes
    y_c = index.coarse[lists].astype(np.float64)
    y_r = index.pq.decode(codes).astype(np.float64)
    qd = q.astype(np.float64)
    direct = sq_dist(qd, y_c + y_r)
    # the three terms, each computed independently in float64
    term1 = sq_dist(qd, y_c)
    term2 = (y_r ** 2).sum(1) + 2 * (y_c * y_r).sum(1)
    term3 = -2 * qd @ y_r.T
    np.testing.assert_allclose(term1 + term2[None, :] + term3, direct, rtol=1e-9, atol=1e-9)
    # the index's precomputed middle term equals term2, per vector
    t2 = index.term2
    from_table = sum(t2[lists, sub, codes[:, sub]].astype(np.float64) for sub in range(4))
    np.testing.assert_allclose(from_table, term2, rtol=1e-5, atol=1e-4)
    # scanning every list ranks by the distance to the reconstruction, precomputed or not
    index.set_query_params(nprobe=12)
    _, dists = index.search(q, 10)
    ref = np.sort(direct, axis=1)[:, :10]
    np.testing.assert_allclose(dists ** 2, ref, rtol=1e-4, atol=1e-4)
    monkeypatch.setattr(pq, "PRECOMPUTED_TABLE_MAX_BYTES", 0)
    plain = IVFPQIndex("euclidean", nlist=12, m=4, nbits=nbits, refine=False)
    plain.build(x)
    assert plain.term2.shape[0] == 0
    plain.set_query_params(nprobe=12)
    _, dists2 = plain.search(q, 10)
    np.testing.assert_allclose(dists2 ** 2, ref, rtol=1e-4, atol=1e-4)


def test_ivfpq_nprobe_limits_the_scan_and_ip_uses_max_inner_product_lists() -> None:
    x = gaussian(2000, 8, 22)
    q = gaussian(10, 8, 23)
    index = IVFPQIndex("ip", nlist=10, m=2, nbits=4, refine=False)
    index.build(x)
    index.set_query_params(nprobe=1)
    ids, dists = index.search(q, 3)
    best_list = np.argmax(q @ index.coarse.T, axis=1)
    lists = np.empty(2000, np.int64)
    for lst in range(10):
        lists[index.list_ids[index.offsets[lst]:index.offsets[lst + 1]]] = lst
    assert (lists[ids[ids >= 0]].reshape(-1) == np.repeat(best_list, 3)[ids.reshape(-1) >= 0]
            ).all()
    assert index.query_stats()["codes_scanned"] == index.list_sizes()[best_list].sum()
    # inner-product distances are -<q, y_C + y_R>
    codes = np.empty_like(index.codes)
    codes[index.list_ids] = index.codes
    recon = index.coarse[lists] + index.pq.decode(codes)
    ref = -(q.astype(np.float64) @ recon.T.astype(np.float64))
    got = np.take_along_axis(ref, np.where(ids >= 0, ids, 0), 1)
    np.testing.assert_allclose(dists[ids >= 0], got[ids >= 0], rtol=1e-4, atol=1e-4)


def test_ivfpq_too_few_points_for_the_lists_is_a_clear_error() -> None:
    index = IVFPQIndex("euclidean", nlist=64, m=2, nbits=2)
    with pytest.raises(InvalidInputError, match="50 training points for 64 centroids"):
        index.build(gaussian(50, 4, 0))


# --------------------------------------------------------------------------- contract


@pytest.mark.parametrize("cls", [PQIndex, IVFPQIndex])
def test_index_errors_are_clear(cls: type) -> None:
    with pytest.raises(InvalidInputError, match="euclidean"):
        cls("angular")
    with pytest.raises(UnknownNameError):
        cls("euclidean", nbit=4)
    with pytest.raises(InvalidInputError, match="not a multiple of m=8"):
        cls("euclidean").build(gaussian(300, 12, 0))
    index = cls("euclidean", m=2, nbits=3, refine=False, **(
        {"nlist": 4} if cls is IVFPQIndex else {}))
    index.build(gaussian(200, 4, 1))
    with pytest.raises(InvalidInputError, match="refine"):
        index.set_query_params(rerank=10)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.search(gaussian(1, 5, 0), 1)


def test_sdc_beyond_twelve_bits_is_refused() -> None:
    index = PQIndex("euclidean", m=2, nbits=13, niter=0, refine=False)
    index.build(gaussian(8200, 2, 3))
    index.set_query_params(search_type="sdc")
    with pytest.raises(InvalidInputError, match="SDC needs"):
        index.search(gaussian(1, 2, 4), 1)


@pytest.mark.parametrize("cls", [PQIndex, IVFPQIndex])
def test_builds_are_deterministic_and_leave_input_alone(cls: type) -> None:
    x = gaussian(800, 8, 24)
    copy = x.copy()
    runs = []
    for _ in range(2):
        index = cls("euclidean", m=4, nbits=4)
        index.build(x)
        runs.append(index.search(x[:15], 5))
    np.testing.assert_array_equal(x, copy)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_hook_registers_pq_and_ivfpq() -> None:
    infos: list[IndexInfo] = []
    pq.register_indexes(infos.append)
    assert [i.name for i in infos] == ["pq", "ivfpq"]
    for info in infos:
        assert info.capabilities.metrics == {"euclidean", "ip"}
        assert not info.capabilities.exact
        index = info.factory(metric="euclidean")
        x = gaussian(60, 16, 25)
        index.warmup(x)
        index.build(x)
        index.set_query_params()
        ids, dists = index.search(x[:2], 60)
        real = ids[0][ids[0] >= 0]
        assert len(set(real)) == len(real) >= 10
        assert (ids[0][len(real):] == -1).all() and np.isinf(dists[0][len(real):]).all()
        if info.name == "pq":  # scans every code
            assert sorted(ids[0]) == list(range(60))
