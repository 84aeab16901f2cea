"""The in-house HNSW index against numpy/scipy brute force, closed forms and the paper's rules.

Oracles: exact k-NN from ``scipy.spatial.distance.cdist`` / numpy in float64; the geometric
level law P(level >= l) = exp(-l / mL) (chi-square); neighbour sets of hand-made 2-D points
worked out on paper; counts that follow from the algorithm when every node is visited.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial.distance import cdist
from scipy.stats import chisquare

from harness import InvalidInputError, UnknownNameError, VecbenchError
from plugins import _hnsw_kernels as kern
from plugins import hnsw
from plugins.hnsw import HNSWIndex, load_index

METRICS = ["euclidean", "sqeuclidean", "angular", "ip"]
DIVERGENCES = ["kl", "js", "js-distance"]


def brute(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Float64 distances (nq, n) under ``metric``."""
    x = np.asarray(base, np.float64)
    q = np.asarray(queries, np.float64)
    if metric == "ip":
        return -(q @ x.T)
    return cdist(q, x, {"angular": "cosine"}.get(metric, metric))


def recall(ids: np.ndarray, D: np.ndarray, k: int) -> float:
    """Share of returned ids whose true distance is within the true k-th distance."""
    kth = np.sort(D, axis=1)[:, k - 1:k]
    rows = np.arange(len(D))[:, None]
    found = np.where(ids[:, :k] >= 0, D[rows, np.maximum(ids[:, :k], 0)], np.inf)
    return float(np.mean(found <= kth + 1e-6 * np.abs(kth) + 1e-9))


def gaussian(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


# --------------------------------------------------------------------------- levels


def _chi_square_levels(levels: np.ndarray, mL: float, top_bin: int) -> float:
    """p-value of the level counts against P(level = l) = e^(-l/mL) (1 - e^(-1/mL))."""
    counts = np.bincount(np.minimum(levels, top_bin), minlength=top_bin + 1)
    tail = np.exp(-np.arange(top_bin + 1) / mL)  # P(level >= l)
    probs = np.append(tail[:-1] - tail[1:], tail[-1])
    return float(chisquare(counts, probs * len(levels)).pvalue)


def test_level_distribution_is_geometric_for_default_mL():
    # Levels do not depend on the data or ef_construction: a cheap build shows the law.
    index = HNSWIndex("euclidean", M=16, ef_construction=16, seed=3)
    index.build(gaussian(20_000, 2, 1))
    levels = index.levels
    # M = 16, mL = 1/ln 16: P(level >= 1) = 1/16, >= 2: 1/256; bins 0, 1, >= 2 (78 expected)
    assert _chi_square_levels(levels, 1 / math.log(16), top_bin=2) > 1e-3
    assert index.max_level == levels.max()
    assert levels[index.entry_point] == index.max_level


def test_level_distribution_follows_a_given_mL():
    index = HNSWIndex("euclidean", M=4, ef_construction=8, mL=1.0, seed=5)
    index.build(gaussian(6000, 2, 1))
    levels = index.levels
    assert _chi_square_levels(levels, 1.0, top_bin=6) > 1e-3
    # mL = 0 puts every node on layer 0 (a flat navigable small world graph)
    flat = HNSWIndex("euclidean", M=4, mL=0.0)
    flat.build(gaussian(300, 2, 1))
    assert flat.max_level == 0 and not flat.levels.any()


# --------------------------------------------------------------------------- structure

VARIANTS = {
    "heuristic": {},
    "keep-pruned": {"keep_pruned_connections": True},
    "extend": {"extend_candidates": True},
    "extend+keep": {"extend_candidates": True, "keep_pruned_connections": True},
    "simple": {"selection": "simple"},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_structural_invariants(variant):
    M = 6
    data = gaussian(1500, 8, 3)
    data[700:] = data[700:] * 0.05 + 3.0  # a tight cluster next to a wide one
    index = HNSWIndex("euclidean", M=M, ef_construction=40, seed=11, **VARIANTS[variant])
    index.build(data)
    n, levels = index.n, index.levels
    indegree0 = np.zeros(n, int)
    short0 = 0
    for node in range(n):
        for layer in range(levels[node] + 1):
            nbrs = index.neighbors(node, layer)
            cap = 2 * M if layer == 0 else M
            assert len(nbrs) <= cap, f"node {node} has {len(nbrs)} links on layer {layer}"
            assert node not in nbrs, f"self-link at node {node}, layer {layer}"
            assert len(set(nbrs.tolist())) == len(nbrs), f"duplicate link at node {node}"
            assert ((nbrs >= 0) & (nbrs < n)).all()
            assert (levels[nbrs] >= layer).all(), "link to a node missing from the layer"
            if layer == 0:
                indegree0[nbrs] += 1
                # ids are inserted in order: node i saw min(i, ef_construction) candidates
                short0 += len(nbrs) < M and node > M
    assert levels[index.entry_point] == index.max_level == levels.max()
    if variant != "simple":  # simple selection may cut every link to a node (hence the heuristic)
        assert (indegree0 > 0).all(), "a node nobody links to on layer 0"
    if variant in ("keep-pruned", "extend+keep", "simple"):
        assert short0 == 0, "lists must be refilled up to M"
    else:
        assert short0 > 0, "the heuristic should leave some lists below M"


# --------------------------------------------------------------------------- heuristic
# Hand-made points (squared distances to q = origin in brackets):
# a (1, 0) [1], f (0.3, -1) [1.09], c (0, 1.1) [1.21], b (1.2, 0.1) [1.45], d (-1.3, 0) [1.69],
# e (2.5, 0) [6.25]. b is nearer to a than to q (0.05 < 1.45), e too (2.25 < 6.25): the
# heuristic drops both and keeps a, c, d; f is no candidate, only a's neighbour.
POINTS = np.array([[1, 0], [1.2, 0.1], [0, 1.1], [-1.3, 0], [2.5, 0], [0.3, -1], [0, 0]],
                  np.float32)
A, B, C, D, E, F, Q = range(7)


def _select(candidates, m, *, heuristic=True, extend=False, keep=False):
    q = POINTS[Q]
    cand = np.array(candidates, np.int32)
    dist = ((POINTS[cand] - q) ** 2).sum(1).astype(np.float32)
    order = np.argsort(dist, kind="stable")
    cand, dist = cand[order], dist[order]
    links0 = np.zeros((len(POINTS), 4), np.int32)
    links0[A, :3] = (2, E, F)  # a's layer-0 list: e and f
    big = 64
    out = np.zeros(big, np.int32)
    n_out = kern.select_neighbors(
        np.int64(Q), cand, dist, np.int64(len(cand)), np.int64(m), np.int64(0), heuristic,
        extend, keep, POINTS, kern.L2, links0, np.zeros((0, 4), np.int32),
        np.full(len(POINTS), -1, np.int32), np.zeros(len(POINTS), np.uint16),
        np.zeros(1, np.int64), np.zeros(big, np.int32), np.zeros(big, np.float32),
        np.zeros(big, np.int32), np.zeros(big, np.float32), np.zeros(big, np.int32), out,
        np.zeros(big, np.float32))
    return out[:n_out].tolist()


def test_heuristic_keeps_only_diverse_neighbours():
    assert _select([A, B, C, D, E], 5) == [A, C, D]
    assert _select([A, B, C, D, E], 2) == [A, C]
    assert _select([A, B, C, D, E], 5, keep=True) == [A, C, D, B, E]
    assert _select([A, B, C, D, E], 4, keep=True) == [A, C, D, B]
    assert _select([A, B, C, D, E], 4, heuristic=False) == [A, C, B, D]
    # extendCandidates adds a's neighbours e and f to the pool; f survives, e does not
    assert _select([A, C, D], 5) == [A, C, D]
    assert _select([A, C, D], 5, extend=True) == [A, F, C, D]


# --------------------------------------------------------------------------- search


def strongly_connected_layer0(index: HNSWIndex) -> bool:
    """Every node reaches every other on layer 0 (scipy's strong components)."""
    rows, cols = [], []
    for node in range(index.n):
        nbrs = index.neighbors(node, 0)
        rows += [node] * len(nbrs)
        cols += nbrs.tolist()
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(index.n, index.n))
    return connected_components(graph, directed=True, connection="strong")[0] == 1


@pytest.mark.parametrize("metric", METRICS)
def test_exact_when_ef_covers_every_node(metric):
    data = gaussian(400, 8, 7)
    queries = gaussian(25, 8, 8)
    if metric == "ip":
        # Inner product is no metric: a short vector is nobody's nearest neighbour and the
        # heuristic may cut every link to it, so the graph need not be connected. With equal
        # norms (2) the ranking is the cosine one and the graph is connected.
        data = (2 * data / np.linalg.norm(data, axis=1, keepdims=True)).astype(np.float32)
    index = HNSWIndex(metric, M=5, ef_construction=30, seed=2)
    index.build(data)
    assert index.max_level >= 1, "the test wants several layers"
    assert strongly_connected_layer0(index), "precondition: layer 0 is connected"
    index.set_query_params(ef=index.n)
    ids, dists = index.search(queries, 10)
    D = brute(data, queries, metric)
    true_ids = np.argsort(D, axis=1)[:, :10]
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(true_ids, 1))
    np.testing.assert_allclose(dists, np.take_along_axis(D, true_ids, 1), rtol=1e-5,
                               atol=1e-5)


# --------------------------------------------------------------------------- divergences


def simplex(n: int, d: int, seed: int, alpha: float = 0.3) -> np.ndarray:
    """Dirichlet rows (probability vectors with many near-zero entries)."""
    rows = np.random.default_rng(seed).dirichlet(np.full(d, alpha), size=n)
    return np.maximum(rows, 1e-12).astype(np.float32)


def divergence(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Float64 divergences (nq, n) of each query to each item, from scipy's ``rel_entr``
    (KL(q || x) = sum rel_entr(q, x); JS from KL to the midpoint)."""
    from scipy.special import rel_entr

    x = np.asarray(base, np.float64)[None, :, :]
    q = np.asarray(queries, np.float64)[:, None, :]
    if metric == "kl":
        return rel_entr(q, x).sum(-1)
    m = (q + x) / 2
    js = 0.5 * rel_entr(q, m).sum(-1) + 0.5 * rel_entr(x, m).sum(-1)
    return np.sqrt(js) if metric == "js-distance" else js


@pytest.mark.parametrize("metric", DIVERGENCES)
def test_divergences_exact_when_ef_covers_every_node(metric):
    data, queries = simplex(400, 12, 31), simplex(25, 12, 32)
    index = HNSWIndex(metric, M=8, ef_construction=60, seed=2)
    index.build(data)
    assert strongly_connected_layer0(index), "precondition: layer 0 is connected"
    index.set_query_params(ef=index.n)
    ids, dists = index.search(queries, 10)
    D = divergence(data, queries, metric)
    true_ids = np.argsort(D, axis=1)[:, :10]
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(true_ids, 1))
    np.testing.assert_allclose(dists, np.take_along_axis(D, true_ids, 1), rtol=1e-5,
                               atol=1e-6)


def test_kl_searches_from_the_query_to_the_item():
    """KL is not symmetric: the index ranks by KL(query || item), as the kl metric plugin
    does, and its ranking differs from the reversed one on this data."""
    data, queries = simplex(500, 10, 41, alpha=0.2), simplex(40, 10, 42, alpha=0.2)
    index = HNSWIndex("kl", M=8, ef_construction=60, seed=5)
    index.build(data)
    index.set_query_params(ef=500)
    ids, _ = index.search(queries, 5)
    forward = np.argsort(divergence(data, queries, "kl"), axis=1)[:, :5]
    backward = np.argsort(divergence(queries, data, "kl").T, axis=1)[:, :5]
    assert not np.array_equal(np.sort(forward, 1), np.sort(backward, 1))
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(forward, 1))


@pytest.mark.parametrize("metric", ["kl", "js"])
def test_divergence_recall_at_moderate_ef(metric):
    data, queries = simplex(5000, 32, 51), simplex(200, 32, 52)
    index = HNSWIndex(metric, M=12, ef_construction=100, seed=1)
    index.build(data)
    index.set_query_params(ef=128)
    ids, _ = index.search(queries, 10)
    # measured: kl 0.981, js 0.9995 (32-d Dirichlet data is hard: high intrinsic dimension)
    assert recall(ids, divergence(data, queries, metric), 10) >= 0.96


def test_kl_is_infinite_where_the_item_lacks_the_query_support():
    data = np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.5, 0.5]], np.float32)
    index = HNSWIndex("kl", M=2, seed=0)
    index.build(data)
    index.set_query_params(ef=3)
    ids, dists = index.search(np.array([[0.4, 0.4, 0.2]], np.float32), 3)
    assert ids[0, 0] == 1 and np.isinf(dists[0, 1:]).all()
    np.testing.assert_allclose(dists[0, 0], divergence(data[1:2], [[0.4, 0.4, 0.2]], "kl")[0, 0],
                               rtol=1e-6)


def test_divergence_specs_with_eps_smooth_like_the_metric_plugin():
    """'kl:eps=...' (the spec the harness passes) smooths (x + eps) / (1 + d eps) as the kl
    plugin does; exact at ef >= n against the plugin's own pairwise on the raw data."""
    from harness.metrics import get_metric

    data, queries = simplex(300, 8, 61, alpha=0.1), simplex(20, 8, 62, alpha=0.1)
    data[:, 0] = 0.0  # zeros: KL is infinite without smoothing
    for spec in ("kl:eps=0.001", "js:eps=0"):
        index = HNSWIndex(spec, M=8, ef_construction=60, seed=1)
        index.build(data)
        index.set_query_params(ef=index.n)
        ids, dists = index.search(queries, 5)
        D = get_metric(spec).pairwise(queries.astype(np.float64), data.astype(np.float64))
        truth = np.argsort(D, axis=1, kind="stable")[:, :5]
        np.testing.assert_array_equal(np.sort(ids, 1), np.sort(truth, 1))
        np.testing.assert_allclose(dists, np.take_along_axis(D, truth, 1), rtol=1e-5)
    with pytest.raises(InvalidInputError, match="takes no parameter 'p'"):
        HNSWIndex("euclidean:p=2")
    with pytest.raises(InvalidInputError, match="eps must be >= 0"):
        HNSWIndex("kl:eps=-1")


def test_divergences_refuse_negative_entries():
    index = HNSWIndex("js", M=4)
    with pytest.raises(InvalidInputError, match="negative entries"):
        index.build(gaussian(50, 4, 1))
    index.build(simplex(50, 4, 1))
    with pytest.raises(InvalidInputError, match="queries has negative entries"):
        index.search(-simplex(2, 4, 2), 1)


@pytest.mark.slow  # about a minute of single-core build (hnswlib itself needs as long)
def test_recall_on_uniform_100k_like_hnswlib(tmp_path):
    """hnswlib's own recall test: 100,000 x 32 uniform, M=16, ef_construction=200, ef=200."""
    rng = np.random.default_rng(2024)
    base = rng.random((100_000, 32), dtype=np.float32)
    queries = rng.random((100, 32), dtype=np.float32)
    index = HNSWIndex("euclidean", M=16, ef_construction=200, seed=0)
    index.build(base)
    D = cdist(queries.astype(np.float64), base.astype(np.float64), "sqeuclidean")
    index.set_query_params(ef=200)
    ids, _ = index.search(queries, 10)
    assert recall(ids, D, 10) > 0.95
    path = tmp_path / "big.hnsw"
    index.save(path)
    again = load_index(path)
    again.set_query_params(ef=200)
    np.testing.assert_array_equal(again.search(queries, 10)[0], ids)


def test_ef_below_k_is_raised_to_k():
    data, queries = gaussian(500, 8, 1), gaussian(10, 8, 2)
    index = HNSWIndex("euclidean", M=8, seed=1)
    index.build(data)
    index.set_query_params(ef=1)
    low = index.search(queries, 20)
    index.set_query_params(ef=20)
    np.testing.assert_array_equal(low[0], index.search(queries, 20)[0])
    assert (low[0] >= 0).all()


def test_same_seed_same_graph_other_seed_other_levels():
    data = gaussian(1000, 8, 4)

    def graph(seed: int) -> tuple[np.ndarray, list[list[int]]]:
        index = HNSWIndex("euclidean", M=6, ef_construction=50, seed=seed)
        index.build(data.copy())
        lists = [index.neighbors(i, layer).tolist()
                 for i in range(index.n) for layer in range(index.levels[i] + 1)]
        return index.levels, lists

    levels_a, lists_a = graph(9)
    levels_b, lists_b = graph(9)
    np.testing.assert_array_equal(levels_a, levels_b)
    assert lists_a == lists_b
    assert not np.array_equal(graph(10)[0], levels_a)


def test_reorder_changes_layout_not_results():
    data, queries = gaussian(1500, 8, 5), gaussian(40, 8, 6)
    plain = HNSWIndex("euclidean", M=8, seed=4, reorder=False)
    moved = HNSWIndex("euclidean", M=8, seed=4, reorder=True)
    plain.build(data)
    moved.build(data)
    assert not np.array_equal(plain._labels, moved._labels)  # the layout did change
    for node in (0, 1, 777, 1499):
        assert sorted(plain.neighbors(node).tolist()) == sorted(moved.neighbors(node).tolist())
    for index in (plain, moved):
        index.set_query_params(ef=30)
    np.testing.assert_array_equal(plain.search(queries, 10)[0], moved.search(queries, 10)[0])


def test_visited_tags_survive_wrap_around():
    # 70,000 queries in one batch use more visited tags than uint16 holds: the tag array must
    # be reset on wrap, or stale tags would hide nodes and results would go missing.
    data, queries = gaussian(40, 4, 14), gaussian(100, 4, 15)
    index = HNSWIndex("euclidean", M=6, seed=2)
    index.build(data)
    assert strongly_connected_layer0(index)
    index.set_query_params(ef=40)
    ids, _ = index.search(np.tile(queries, (700, 1)), 3)
    true_ids = np.argsort(brute(data, queries, "euclidean"), axis=1)[:, :3]
    np.testing.assert_array_equal(ids, np.tile(true_ids, (700, 1)))


def test_query_stats_count_every_node_when_ef_covers_all():
    # One layer (mL = 0) and ef >= n on a connected graph: each query computes the distance
    # to every node exactly once and reads every node's list exactly once.
    data, queries = gaussian(300, 4, 12), gaussian(7, 4, 13)
    index = HNSWIndex("euclidean", M=6, mL=0.0, seed=1)
    index.build(data)
    assert strongly_connected_layer0(index)
    index.set_query_params(ef=300)
    index.search(queries, 5)
    index.search(queries[:3], 5)
    assert index.query_stats() == {"distance_computations": 3000.0, "visited_nodes": 3000.0}
    index.set_query_params(ef=300)
    assert index.query_stats() == {"distance_computations": 0.0, "visited_nodes": 0.0}


def test_distances_follow_the_metric_and_inputs_are_not_modified():
    data, queries = gaussian(600, 12, 21), gaussian(15, 12, 22)
    data[3] = 0.0  # a zero vector: cosine distance 1 to everything
    keep_data, keep_queries = data.copy(), queries.copy()
    for metric in METRICS:
        index = HNSWIndex(metric, M=8, seed=3)
        index.build(data)
        index.set_query_params(ef=60)
        ids, dists = index.search(queries, 8)
        D = brute(data, queries, metric)
        expect = np.take_along_axis(D, ids, 1)
        if metric == "angular":
            expect[ids == 3] = 1.0  # scipy gives nan for the zero vector
        np.testing.assert_allclose(dists, expect, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(data, keep_data)
    np.testing.assert_array_equal(queries, keep_queries)
    zero = HNSWIndex("angular", M=8)
    zero.build(data)
    _, d0 = zero.search(np.zeros((1, 12), np.float32), 3)
    np.testing.assert_allclose(d0, 1.0)


# --------------------------------------------------------------------------- add / delete / filter


def test_add_after_build_finds_old_and_new_items():
    data, queries = gaussian(2000, 8, 30), gaussian(40, 8, 31)
    index = HNSWIndex("euclidean", M=8, seed=6)
    index.build(data[:1200])
    index.add(data[1200:1700])
    index.add(data[1700:])
    assert index.n == 2000
    index.set_query_params(ef=60)
    ids, _ = index.search(queries, 10)
    assert recall(ids, brute(data, queries, "euclidean"), 10) > 0.95
    own, dist = index.search(data[1200:1300], 1)
    np.testing.assert_array_equal(own[:, 0], np.arange(1200, 1300))
    np.testing.assert_allclose(dist[:, 0], 0.0, atol=1e-6)


def test_add_on_empty_index_builds():
    index = HNSWIndex("euclidean", M=4)
    index.add(gaussian(50, 3, 1))
    assert index.n == 50
    assert index.search(gaussian(1, 3, 1), 1)[0].shape == (1, 1)


def test_deleted_ids_are_never_returned_and_search_does_not_starve():
    data, queries = gaussian(2000, 8, 40), gaussian(30, 8, 41)
    D = brute(data, queries, "euclidean")
    rng = np.random.default_rng(3)
    doomed = np.union1d(np.argsort(D, 1)[:, :3].ravel(), rng.choice(2000, 1700, replace=False))
    index = HNSWIndex("euclidean", M=8, seed=7)
    index.build(data)
    index.delete(doomed[:100])
    index.delete(doomed[100:].tolist())
    index.delete(doomed[:10])  # deleting again is harmless
    assert index.deleted.sum() == len(doomed)
    index.set_query_params(ef=20)
    ids, dists = index.search(queries, 10)
    assert not np.isin(ids, doomed).any()
    assert (ids >= 0).all(), "with 85% deleted the search must still fill k results"
    alive = np.ones(2000, bool)
    alive[doomed] = False
    assert recall(ids, np.where(alive, D, np.inf), 10) > 0.9
    # everything deleted: nothing to return
    index.delete(np.arange(2000))
    ids, dists = index.search(queries, 5)
    assert (ids == -1).all() and np.isinf(dists).all()


def test_filter_returns_only_allowed_ids():
    data, queries = gaussian(2000, 8, 50), gaussian(30, 8, 51)
    D = brute(data, queries, "euclidean")
    allowed = np.random.default_rng(4).random(2000) < 0.2
    allowed[np.argsort(D, 1)[:, 0]] = False
    index = HNSWIndex("euclidean", M=8, seed=8)
    index.build(data)
    index.set_query_params(ef=40)
    ids, _ = index.search(queries, 10, filter=allowed)
    assert (ids >= 0).all() and allowed[ids].all()
    assert recall(ids, np.where(allowed, D, np.inf), 10) > 0.9
    index.delete(np.flatnonzero(allowed)[:50])
    ids, _ = index.search(queries, 10, filter=allowed)
    assert allowed[ids].all() and not np.isin(ids, np.flatnonzero(allowed)[:50]).any()
    unfiltered, _ = index.search(queries, 10)
    assert not (allowed[unfiltered]).all()  # the filter, not the data, did it


# --------------------------------------------------------------------------- persistence


def test_save_load_round_trip_then_same_adds(tmp_path):
    data, queries = gaussian(1500, 8, 60), gaussian(30, 8, 61)
    index = HNSWIndex("angular", M=8, seed=9, keep_pruned_connections=True)
    index.build(data[:1000])
    index.delete([1, 2, 3])
    path = tmp_path / "index.hnsw"
    index.save(path)
    assert path.exists() and not list(tmp_path.glob(".*tmp"))
    loaded = load_index(path)
    fresh = HNSWIndex("angular")
    assert fresh.load(path) is None
    for other in (loaded, fresh):
        assert other.params == index.params
    for other in (index, loaded, fresh):
        other.add(data[1000:])
        other.set_query_params(ef=25)
    ids, dists = index.search(queries, 10)
    for other in (loaded, fresh):
        other_ids, other_dists = other.search(queries, 10)
        np.testing.assert_array_equal(other_ids, ids)
        np.testing.assert_array_equal(other_dists, dists)
    assert loaded.index_bytes() == index.index_bytes()


def test_load_rejects_bad_files(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_index(tmp_path / "missing.hnsw")
    junk = tmp_path / "junk.hnsw"
    junk.write_bytes(b"not a zip file")
    with pytest.raises(InvalidInputError, match="not an HNSW index file"):
        load_index(junk)
    index = HNSWIndex("euclidean", M=4)
    index.build(gaussian(30, 3, 1))
    good = tmp_path / "good.hnsw"
    index.save(good)
    with np.load(good) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = bytes(arrays["meta"]).decode().replace('"format_version": 1', '"format_version": 99')
    arrays["meta"] = np.frombuffer(meta.encode(), np.uint8)
    future = tmp_path / "future.hnsw"
    with open(future, "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(InvalidInputError, match="format version 99"):
        load_index(future)
    with pytest.raises(InvalidInputError, match="metric 'euclidean'"):
        HNSWIndex("ip").load(good)


# --------------------------------------------------------------------------- errors


def test_bad_parameters_and_inputs_are_clear_errors():
    with pytest.raises(UnknownNameError, match="hamming"):
        HNSWIndex("hamming")
    with pytest.raises(UnknownNameError, match="ef_construction"):
        HNSWIndex("euclidean", ef_constrution=100)
    with pytest.raises(InvalidInputError, match="M_max0"):
        HNSWIndex("euclidean", M=16, M_max0=8)
    with pytest.raises(InvalidInputError, match="'M'"):
        HNSWIndex("euclidean", M=1)
    with pytest.raises(InvalidInputError, match="selection"):
        HNSWIndex("euclidean", selection="random")
    index = HNSWIndex("euclidean", M=4)
    with pytest.raises(VecbenchError, match="before build"):
        index.search(gaussian(2, 3, 1), 1)
    data = gaussian(40, 3, 1)
    index.build(data)
    with pytest.raises(InvalidInputError, match="'ef'"):
        index.set_query_params(ef=0)
    with pytest.raises(UnknownNameError, match="ef"):
        index.set_query_params(ef_search=10)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.search(gaussian(2, 4, 1), 1)
    bad = data[:2].copy()
    bad[1, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        index.search(bad, 1)
    with pytest.raises(InvalidInputError, match="larger than"):
        index.search(data[:2], 41)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.add(gaussian(2, 4, 1))
    with pytest.raises(InvalidInputError, match="out of range"):
        index.delete([40])
    with pytest.raises(InvalidInputError, match="integers"):
        index.delete([0.5])
    with pytest.raises(InvalidInputError, match="boolean mask"):
        index.search(data[:2], 1, filter=np.ones(39, bool))
    with pytest.raises(InvalidInputError, match="boolean mask"):
        index.search(data[:2], 1, filter=np.arange(40))


def test_registration_declares_what_the_index_does():
    got = []
    hnsw.register_indexes(got.append)
    (info,) = got
    caps = info.capabilities
    assert info.name == "hnsw" and info.factory is HNSWIndex
    assert caps.metrics == frozenset(METRICS + DIVERGENCES)
    assert caps.add and caps.delete and caps.filter and caps.save_load and caps.jit
    assert not caps.exact
    assert {p.name for p in info.build_params} >= {"M", "M_max", "M_max0", "ef_construction",
                                                    "mL", "seed", "extend_candidates",
                                                    "keep_pruned_connections"}
    assert [p.name for p in info.query_params] == ["ef"]


def test_warmup_compiles_and_index_bytes_counts_owned_arrays():
    data = gaussian(500, 16, 70)
    index = HNSWIndex("euclidean", M=8)
    index.warmup(data[:16])
    assert index.n == 0  # warmup does not build this index
    index.build(data)
    per_node = 16 * 4 + (2 * 8 + 1) * 4  # vector + layer-0 list with its count
    assert index.index_bytes() >= 500 * per_node
    assert index.index_bytes() <= 500 * (per_node + 32) + (index.levels.sum() * 9 * 4)
