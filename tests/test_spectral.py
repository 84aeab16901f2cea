"""In-house spectral clustering and k-means against independent oracles.

Oracles: scikit-learn (``make_moons``/``make_circles``/``make_blobs``, ``kneighbors_graph``,
``SpectralClustering``, ``KMeans``, ``DBSCAN``, ``PCA``, ``adjusted_rand_score``,
``normalized_mutual_info_score``), scipy (``cdist``, ``csgraph.laplacian``,
``connected_components``, ``minimum_spanning_tree``, dense ``eigh``) and closed forms. The
checks of issue #9 are the first tests; every random choice is seeded.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
import scipy.linalg as la
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.spatial.distance import cdist
from sklearn.cluster import DBSCAN, KMeans
from sklearn.cluster import SpectralClustering as SkSpectral
from sklearn.datasets import make_blobs, make_circles, make_moons
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import StandardScaler

from harness import InvalidInputError, UnknownNameError
from plugins import _spectral_assign as assign
from plugins import _spectral_eigen as eigen
from plugins import _spectral_graph as graph
from plugins._cluster_kmeans import kmeans
from plugins._spectral_scores import adjusted_rand_index, normalized_mutual_information
from plugins.spectral import SpectralClustering

LAPLACIANS = ("random_walk", "symmetric", "unnormalized")
SOLVERS = ("dense", "arpack", "shift-invert", "lobpcg")


def toy(name: str, n: int = 1500) -> tuple[np.ndarray, np.ndarray]:
    """The issue's data sets (n = 1,500), standardised as in scikit-learn's comparison."""
    if name == "moons":
        x, y = make_moons(n, noise=0.05, random_state=0)
    else:
        x, y = make_circles(n, factor=0.5, noise=0.05, random_state=0)
    return StandardScaler().fit_transform(x), y


def sklearn_knn_affinity(x: np.ndarray, k: int = 10) -> sp.csr_matrix:
    """scikit-learn's ``nearest_neighbors`` affinity: 0.5 (C + C^T) with the point itself."""
    c = kneighbors_graph(x, k, include_self=True)
    return sp.csr_matrix(0.5 * (c + c.T))


def dense_laplacian(w: np.ndarray, kind: str) -> np.ndarray:
    """The three Laplacians written out densely from their definitions (no self-loops)."""
    w = w.copy()
    np.fill_diagonal(w, 0.0)
    d = w.sum(axis=1)
    lap = np.diag(d) - w
    if kind == "unnormalized":
        return lap
    inv = np.where(d > 0, 1.0 / d, 0.0)
    if kind == "symmetric":
        return np.diag(np.sqrt(inv)) @ lap @ np.diag(np.sqrt(inv))
    return np.diag(inv) @ lap


def separated_blobs(n: int = 300, k: int = 3, d: int = 2, seed: int = 0) -> tuple[np.ndarray,
                                                                                   np.ndarray]:
    centres = np.array([[0.0] * d, [30.0] + [0.0] * (d - 1), [0.0, 30.0] + [0.0] * (d - 2),
                        [30.0, 30.0] + [0.0] * (d - 2)])[:k]
    return make_blobs(n, centers=centres, cluster_std=1.0, random_state=seed)


# --------------------------------------------------------------------------- the checks


@pytest.mark.parametrize("name", ["moons", "circles"])
def test_spectral_10nn_separates_moons_and_circles_where_kmeans_fails(name):
    x, y = toy(name)
    kmeans_ari = adjusted_rand_score(y, kmeans(x, 2, seed=0).labels)
    assert kmeans_ari < 0.6
    assert adjusted_rand_score(y, KMeans(2, n_init=10, random_state=0).fit_predict(x)) < 0.6
    for laplacian in LAPLACIANS:
        labels = SpectralClustering(2, n_neighbors=10, laplacian=laplacian).fit_predict(x)
        assert adjusted_rand_score(y, labels) >= 0.99, laplacian


@pytest.mark.parametrize("kind", LAPLACIANS)
def test_near_zero_eigenvalues_count_the_connected_components(kind):
    moons, _ = toy("moons", 600)
    blobs, _ = separated_blobs(300, 3)
    lonely = np.vstack([blobs, [[500.0, 500.0]]])  # an isolated point: its own component
    for x, links in ((moons, 10), (blobs, 5), (lonely, 5)):
        w = SpectralClustering(2, n_neighbors=links).affinity_of(x)
        n_comp = csgraph.connected_components(w, directed=False)[0]
        oracle = np.linalg.eigvals(dense_laplacian(w.toarray(), kind)).real
        assert int(np.sum(np.abs(oracle) < 1e-9)) == n_comp
        emb = eigen.embed(w, n_comp + 2, kind=kind, solver="auto", seed=0)
        assert emb.n_components == n_comp
        assert int(np.sum(emb.eigenvalues < 1e-9)) == n_comp
        assert emb.eigenvalues[n_comp] > 1e-6


@pytest.mark.parametrize("assign_method", ["kmeans", "discretize", "cluster_qr", "dbscan"])
def test_labels_are_invariant_to_eigenvector_signs(assign_method):
    x, y = toy("circles")
    model = SpectralClustering(2, assign=assign_method)
    model.fit(x)
    vectors = model.embedding_.vectors
    rng = np.random.default_rng(3)
    reference = model.assign_labels(vectors, 2)
    assert adjusted_rand_score(y, reference) >= 0.99
    for _ in range(3):
        signs = rng.choice([-1.0, 1.0], size=vectors.shape[1])
        flipped = model.assign_labels(vectors * signs, 2)
        assert adjusted_rand_score(reference, flipped) == 1.0


def test_labels_are_invariant_to_rotations_within_the_zero_eigenspace():
    x, y = separated_blobs(300, 3)
    model = SpectralClustering(3, n_neighbors=6).fit(x)
    assert model.embedding_.n_components == 3
    zero = model.embedding_.vectors[:, :3]
    q, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((3, 3)))
    rotated = model.assign_labels(zero @ q, 3)
    assert adjusted_rand_score(y, rotated) == 1.0
    assert adjusted_rand_score(model.labels_, rotated) == 1.0


def test_solver_start_vectors_do_not_change_the_labels():
    x, _ = toy("moons")
    labels = [SpectralClustering(2, eigen_solver="arpack", seed=s).fit_predict(x)
              for s in (0, 1, 2)]
    assert all(adjusted_rand_score(labels[0], other) == 1.0 for other in labels[1:])


def test_blobs_agree_with_sklearn_given_the_same_affinity():
    x, y = make_blobs(1500, centers=4, cluster_std=1.0, random_state=0)
    x = StandardScaler().fit_transform(x)
    w = sklearn_knn_affinity(x)
    ours = SpectralClustering(4, affinity="precomputed", normalize_rows=False,
                              eigen_solver="arpack").fit_predict(w)
    theirs = SkSpectral(4, affinity="precomputed", random_state=0).fit_predict(w.toarray())
    assert adjusted_rand_score(ours, theirs) >= 0.99
    # the same affinity built by each library from the points
    ours_nn = SpectralClustering(4, n_neighbors=10, normalize_rows=False).fit_predict(x)
    theirs_nn = SkSpectral(4, affinity="nearest_neighbors", n_neighbors=10,
                           random_state=0).fit_predict(x)
    assert adjusted_rand_score(ours_nn, theirs_nn) >= 0.99
    # the default pipeline (row-normalised embedding) finds the same blobs as well as sklearn
    ours_default = SpectralClustering(4).fit_predict(x)
    assert adjusted_rand_score(y, ours_default) >= adjusted_rand_score(y, theirs_nn) - 0.02


# --------------------------------------------------------------------------- graphs


def test_knn_graph_equals_sklearns_nearest_neighbors_affinity():
    x, _ = toy("moons")
    ours = SpectralClustering(2, n_neighbors=10).affinity_of(x)
    theirs = sklearn_knn_affinity(x).tolil()
    theirs.setdiag(0.0)
    diff = abs(ours - sp.csr_matrix(theirs))
    assert diff.max() < 1e-12
    assert abs(ours - ours.T).max() == 0


@pytest.mark.parametrize("metric,scipy_metric,kwargs", [
    ("euclidean", "euclidean", {}), ("manhattan", "cityblock", {}),
    ("minkowski:p=3", "minkowski", {"p": 3.0}), ("cosine", "cosine", {}),
    ("correlation", "correlation", {})])
def test_knn_table_matches_brute_force_for_every_metric(metric, scipy_metric, kwargs):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((300, 6)).astype(np.float32).astype(np.float64)
    x[5] = x[4]  # a duplicate: point 5 may come before point 4 in 4's own list
    table = graph.knn_table(x, 8, metric)
    true = cdist(x, x, scipy_metric, **kwargs)
    np.fill_diagonal(true, np.inf)
    assert not (table.ids == np.arange(len(x))[:, None]).any()
    np.testing.assert_allclose(table.distances, np.sort(true, axis=1)[:, :8], rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(np.take_along_axis(true, table.ids, axis=1), table.distances,
                               rtol=1e-9, atol=1e-12)
    assert table.ids[4, 0] == 5 and table.ids[5, 0] == 4


def test_knn_graph_from_other_index_plugins_equals_bruteforce():
    x, _ = separated_blobs(400, 3, d=5)
    exact = graph.knn_table(x, 9, "euclidean")
    for index, params in (("faiss", ""), ("hnswlib", "ef=200,ef_construction=200")):
        other = graph.knn_table(x, 9, "euclidean", index=index, index_params=params)
        np.testing.assert_allclose(other.distances, exact.distances, rtol=1e-9)


def test_kernels_match_their_formulas():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((200, 4))
    table = graph.knn_table(x, 10, "euclidean")
    d = cdist(x, x)
    g = graph.knn_graph(table, kernel="gaussian", sigma=0.7, symmetrize="max").toarray()
    edges = g > 0
    np.testing.assert_allclose(g[edges], np.exp(-d[edges] ** 2 / (2 * 0.49)), rtol=1e-12)
    auto = graph.knn_graph(table, kernel="gaussian", symmetrize="max").toarray()
    sigma = np.mean(np.sort(d, axis=1)[:, 10])
    np.testing.assert_allclose(auto[edges], np.exp(-d[edges] ** 2 / (2 * sigma ** 2)),
                               rtol=1e-12)
    tuned = graph.knn_graph(table, kernel="self-tuning", symmetrize="max").toarray()
    scale = np.sort(d, axis=1)[:, 7]
    i, j = np.nonzero(edges)
    np.testing.assert_allclose(tuned[i, j], np.exp(-d[i, j] ** 2 / (scale[i] * scale[j])),
                               rtol=1e-12)
    s = 1.0 - cdist(x, x, "cosine")
    cos = graph.knn_table(x, 10, "cosine")
    clip = graph.knn_graph(cos, kernel="clip", symmetrize="max").toarray()
    shift = graph.knn_graph(cos, kernel="shift", symmetrize="max").toarray()
    both = shift > 0
    np.testing.assert_allclose(shift[both], (1 + s[both]) / 2, rtol=1e-9)
    np.testing.assert_allclose(clip[both], np.maximum(s[both], 0), atol=1e-12)


def test_mutual_graph_keeps_only_reciprocal_links_and_mean_halves_one_sided_ones():
    x = np.random.default_rng(2).standard_normal((150, 3))
    table = graph.knn_table(x, 5, "euclidean")
    c = np.zeros((150, 150))
    c[np.repeat(np.arange(150), 5), table.ids.ravel()] = 1.0
    mutual = graph.knn_graph(table, mutual=True).toarray()
    np.testing.assert_array_equal(mutual, np.minimum(c, c.T))
    np.testing.assert_array_equal(graph.knn_graph(table).toarray(), 0.5 * (c + c.T))
    np.testing.assert_array_equal(graph.knn_graph(table, symmetrize="max").toarray(),
                                  np.maximum(c, c.T))


def test_epsilon_graph_and_its_automatic_radius():
    x, _ = make_moons(300, noise=0.05, random_state=1)
    d = cdist(x, x)
    mst = csgraph.minimum_spanning_tree(d).toarray()
    longest = graph.mst_longest_edge(x, "euclidean")
    assert longest == pytest.approx(mst.max(), rel=1e-12)
    g = graph.epsilon_graph(x, longest, "euclidean")
    expected = (d <= longest) & ~np.eye(len(x), dtype=bool)
    np.testing.assert_array_equal(g.toarray() > 0, expected)
    assert csgraph.connected_components(g, directed=False)[0] == 1
    smaller = graph.epsilon_graph(x, longest * (1 - 1e-9), "euclidean")
    assert csgraph.connected_components(smaller, directed=False)[0] == 2
    model = SpectralClustering(2, affinity="epsilon").fit(x)
    assert model.embedding_.n_components == 1


def test_full_gaussian_graph_matches_the_closed_form():
    x, _ = separated_blobs(120, 2)
    g = graph.full_graph(x, "euclidean", kernel="gaussian", sigma=2.0).toarray()
    expected = np.exp(-cdist(x, x) ** 2 / 8.0)
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(g, expected, rtol=1e-12, atol=1e-300)


# --------------------------------------------------------------------------- Laplacians and solvers


def test_laplacians_match_scipy_and_their_definitions():
    x, _ = toy("moons", 600)
    w = SpectralClustering(2).affinity_of(x)
    lap = eigen.laplacian(w, "unnormalized").toarray()
    np.testing.assert_allclose(lap, csgraph.laplacian(w.toarray()), atol=1e-12)
    sym = eigen.laplacian(w, "symmetric").toarray()
    np.testing.assert_allclose(sym, csgraph.laplacian(w.toarray(), normed=True), atol=1e-12)
    rw = eigen.laplacian(w, "random_walk").toarray()
    np.testing.assert_allclose(rw, dense_laplacian(w.toarray(), "random_walk"), atol=1e-12)
    vals = np.linalg.eigvalsh(sym)
    assert vals.min() > -1e-10 and vals.max() < 2 + 1e-10
    assert np.linalg.eigvalsh(lap).min() > -1e-10
    comp = csgraph.connected_components(w, directed=False)[1]
    for c in range(comp.max() + 1):
        indicator = (comp == c).astype(float)
        np.testing.assert_allclose(lap @ indicator, 0.0, atol=1e-12)
        np.testing.assert_allclose(rw @ indicator, 0.0, atol=1e-12)


@functools.cache
def connected_graph() -> tuple[sp.csr_matrix, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """A connected 10-NN graph with small gaps and the dense reference eigenpairs of its
    three Laplacians (the generalised problem L u = lambda D u for the random walk)."""
    x, _ = make_blobs(800, centers=4, random_state=0)
    w = SpectralClustering(2).affinity_of(StandardScaler().fit_transform(x))
    dense = w.toarray()
    lap = dense_laplacian(dense, "unnormalized")
    refs = {"unnormalized": la.eigh(lap, subset_by_index=[0, 3]),
            "symmetric": la.eigh(dense_laplacian(dense, "symmetric"), subset_by_index=[0, 3]),
            "random_walk": la.eigh(lap, np.diag(dense.sum(axis=1)), subset_by_index=[0, 3])}
    return w, refs


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("kind", LAPLACIANS)
def test_eigenpairs_match_dense_eigh(solver, kind):
    w, refs = connected_graph()
    assert csgraph.connected_components(w, directed=False)[0] == 1
    dense = w.toarray()
    deg = dense.sum(axis=1)
    lap = dense_laplacian(dense, "unnormalized")
    emb = eigen.embed(w, 4, kind=kind, solver=solver, seed=0)
    ref_vals, ref_vecs = refs[kind]
    np.testing.assert_allclose(emb.eigenvalues, ref_vals, rtol=1e-5, atol=1e-9)
    if kind == "random_walk":
        residual = lap @ emb.vectors - (np.diag(deg) @ emb.vectors) * emb.eigenvalues
        assert np.abs(residual).max() < 1e-5
        np.testing.assert_allclose(emb.vectors.T @ np.diag(deg) @ emb.vectors, np.eye(4),
                                   atol=1e-6)
    # same subspaces: |cos| of each eigenvector with its reference is 1
    metric = np.diag(deg) if kind == "random_walk" else np.eye(len(deg))
    cosines = np.abs(np.sum((metric @ emb.vectors) * ref_vecs, axis=0))
    np.testing.assert_allclose(cosines, 1.0, atol=1e-4)
    # the deterministic sign: the largest entry of every eigenvector is positive
    top = emb.vectors[np.argmax(np.abs(emb.vectors), axis=0), np.arange(4)]
    assert (top > 0).all()


def test_eigengap_estimates_the_number_of_clusters():
    x, y = separated_blobs(400, 4)
    x = x + np.random.default_rng(0).normal(scale=0.01, size=x.shape)
    model = SpectralClustering(-1, n_neighbors=8, max_clusters=10)
    labels = model.fit_predict(x)
    assert model.n_clusters_ == 4
    assert adjusted_rand_score(y, labels) == 1.0
    assert eigen.eigengap(np.array([0.0, 0.0, 0.0, 0.5, 0.6]), 4) == 3
    assert eigen.eigengap(np.array([0.0, 0.9, 1.0]), 5) == 1


# --------------------------------------------------------------------------- assignment


def test_discretize_and_cluster_qr_recover_indicator_embeddings():
    labels = np.repeat(np.arange(4), [50, 30, 70, 20])
    rng = np.random.default_rng(0)
    indicators = np.eye(4)[labels] / np.sqrt(np.bincount(labels))[labels, None]
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    noisy = indicators @ q + rng.normal(scale=1e-3, size=indicators.shape)
    assert adjusted_rand_score(labels, assign.discretize(noisy, 4, seed=0)) == 1.0
    assert adjusted_rand_score(labels, assign.cluster_qr(noisy, 4)) == 1.0


def test_dbscan_matches_sklearn():
    x, _ = make_moons(400, noise=0.08, random_state=3)
    x = np.vstack([x, [[3.0, 3.0], [-3.0, 2.0]]])  # two noise points
    for eps, min_samples in ((0.1, 5), (0.2, 10), (0.05, 3)):
        ours = assign.dbscan(x, eps, min_samples)
        ref = DBSCAN(eps=eps, min_samples=min_samples).fit(x)
        core = np.zeros(len(x), dtype=bool)
        core[ref.core_sample_indices_] = True
        np.testing.assert_array_equal(ours == -1, ref.labels_ == -1)
        assert adjusted_rand_score(ref.labels_[core], ours[core]) == 1.0
        # a border point joins a cluster it is within eps of a core point of
        d = cdist(x, x)
        for i in np.flatnonzero((ours >= 0) & ~core):
            near = np.flatnonzero((d[i] <= eps) & core)
            assert ours[i] in set(ours[near])


def test_pca_of_the_embedding_matches_sklearn():
    u = np.random.default_rng(4).standard_normal((200, 5)) * [5, 3, 2, 1, 0.5]
    ours = assign.pca(u, 3)
    theirs = PCA(3).fit_transform(u)
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), atol=1e-9)
    x, y = toy("moons")
    labels = SpectralClustering(2, pca_components=2).fit_predict(x)
    assert adjusted_rand_score(y, labels) >= 0.99


def test_spectral_with_dbscan_assignment_separates_moons():
    x, y = toy("moons")
    labels = SpectralClustering(2, assign="dbscan", dbscan_eps=0.3).fit_predict(x)
    assert adjusted_rand_score(y, labels) >= 0.99


def test_cosine_and_correlation_similarities_separate_directions_whatever_the_norms():
    rng = np.random.default_rng(5)
    directions = np.linalg.qr(rng.standard_normal((8, 3)))[0].T
    labels = rng.integers(0, 3, 600)
    x = directions[labels] + rng.normal(scale=0.05, size=(600, 8))
    x *= rng.uniform(0.1, 10.0, size=(600, 1))  # norms spread over two decades
    for metric in ("cosine", "correlation"):
        for kernel in ("auto", "clip", "shift", "gaussian"):
            found = SpectralClustering(3, metric=metric, kernel=kernel).fit_predict(x)
            assert adjusted_rand_score(labels, found) == 1.0, (metric, kernel)


# --------------------------------------------------------------------------- k-means


def test_kmeans_matches_sklearn_on_blobs():
    x, _ = make_blobs(2000, centers=6, n_features=5, cluster_std=1.5, random_state=2)
    ours = kmeans(x, 6, n_init=10, seed=0)
    theirs = KMeans(6, n_init=10, random_state=0).fit(x)
    assert ours.inertia <= theirs.inertia_ * (1 + 1e-9)
    assert adjusted_rand_score(ours.labels, theirs.labels_) >= 0.99
    d2 = cdist(x, ours.centers, "sqeuclidean")
    np.testing.assert_array_equal(ours.labels, np.argmin(d2, axis=1))
    assert ours.inertia == pytest.approx(d2.min(axis=1).sum(), rel=1e-9)
    for c in range(6):
        np.testing.assert_allclose(ours.centers[c], x[ours.labels == c].mean(axis=0),
                                   rtol=1e-6, atol=1e-9)
    again = kmeans(x, 6, n_init=10, seed=0)
    np.testing.assert_array_equal(again.labels, ours.labels)


def test_kmeans_handles_duplicates_and_k_equal_n():
    x = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0]]), 10, axis=0)
    fit = kmeans(x, 3, seed=1)
    assert fit.inertia == 0.0
    assert len(np.unique(fit.labels)) >= 2
    small = np.arange(10.0).reshape(5, 2)
    assert sorted(kmeans(small, 5).labels.tolist()) == [0, 1, 2, 3, 4]


# --------------------------------------------------------------------------- scores


def test_ari_and_nmi_match_sklearn():
    rng = np.random.default_rng(6)
    for _ in range(30):
        n = int(rng.integers(2, 300))
        a = rng.integers(0, int(rng.integers(1, 8)), n)
        b = np.where(rng.random(n) < 0.6, a, rng.integers(-1, 6, n))
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
        assert normalized_mutual_information(a, b) == pytest.approx(
            normalized_mutual_info_score(a, b), abs=1e-12)
    same = np.zeros(10, dtype=int)
    for a, b in ((same, same), (np.arange(10), np.arange(10)), (same, np.arange(10))):
        assert adjusted_rand_index(a, b) == pytest.approx(adjusted_rand_score(a, b))
        assert normalized_mutual_information(a, b) == pytest.approx(
            normalized_mutual_info_score(a, b))
    with pytest.raises(InvalidInputError, match="lengths differ"):
        adjusted_rand_index([0, 1], [0, 1, 2])
    with pytest.raises(InvalidInputError, match="integers"):
        normalized_mutual_information([0.5, 1.0], [0, 1])


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs,x,match", [
    ({"affinity": "dense"}, None, "affinity must be one of"),
    ({"laplacian": "normalized"}, None, "laplacian must be one of"),
    ({"kernel": "clip"}, None, "applies to angular and correlation"),
    ({"kernel": "connectivity", "affinity": "full"}, None, "weighs every pair 1"),
    ({"n_neighbors": 2000}, None, "needs at least 2000 points"),
    ({"index": "kdtree", "metric": "cosine"}, None, "does not support metric"),
    ({"index_params": "ef"}, None, "cannot read"),
    ({"index": "hnswlib", "index_params": "nprobe=3"}, None, "has no parameter 'nprobe'"),
    ({}, np.array([[0.0, np.nan], [1.0, 1.0]]), "NaN"),
    ({"n_neighbors": 3}, np.vstack([np.zeros((3, 2)), [[1.0, 1.0]]]), "more than the 4 points"),
])
def test_bad_input_is_a_clear_error(kwargs, x, match):
    data = toy("moons")[0] if x is None else x
    n_clusters = 5 if match.startswith("more than") else 2
    with pytest.raises(InvalidInputError, match=match):
        SpectralClustering(n_clusters, **kwargs).fit(data)


def test_bad_affinities_and_parameters_are_clear_errors():
    with pytest.raises(InvalidInputError, match="negative entries"):
        SpectralClustering(2, affinity="precomputed").fit(np.array([[0, -1.0], [-1.0, 0]]))
    with pytest.raises(InvalidInputError, match="not symmetric"):
        SpectralClustering(2, affinity="precomputed").fit(np.array([[0, 1.0], [0.5, 0]]))
    with pytest.raises(InvalidInputError, match="square"):
        eigen.laplacian(np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="n_clusters must be a positive integer"):
        SpectralClustering(0)
    with pytest.raises(InvalidInputError, match="eigen_solver must be one of"):
        SpectralClustering(2, eigen_solver="amg")
    with pytest.raises(UnknownNameError, match="metric"):
        SpectralClustering(2, metric="euclidian").fit(np.eye(3))
    path = sp.diags([np.ones(20_000), np.ones(20_000)], [1, -1], shape=(20_001, 20_001))
    with pytest.raises(InvalidInputError, match="use 'arpack' or 'auto'"):
        eigen.embed(path, 2, solver="dense")
    with pytest.raises(InvalidInputError, match="more than the 3 points"):
        kmeans(np.eye(3), 4)
    with pytest.raises(InvalidInputError, match="n_init must be an integer"):
        kmeans(np.eye(3), 2, n_init=0)
