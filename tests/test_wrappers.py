"""Library wrappers (faiss, hnswlib, annoy, datasketch, scipy, scikit-learn, pynndescent).

1. The recall the harness records equals the recall computed by hand from the library's own
   answers: a tiny suite runs through ``Session`` (isolated worker processes), and each
   library is then called directly, without the wrapper, on the same data; distances for
   the hand count come from scipy / numpy / Python sets, not from vecbench.
2. faiss's HNSW and hnswlib at equal M / ef_construction / ef reach recall within a few
   points of each other.
3. Conventions: the distances each wrapper reports are the metric's (annoy's angular chord,
   faiss's squared L2, inner products as -x.y), index sizes are what the library saves,
   counters of the threshold LSH agree with exhaustive counts, and bad parameters are clear
   errors.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness import InvalidInputError, MeasureContext, PluginUnavailableError, SetData
from harness import results as records
from harness.data import load_dataset
from harness.executors import LocalExecutor
from harness.plugins import get_registry
from harness.session import Session

K = 10
RTOL, ATOL = 1e-6, 1e-12  # the leaderboard recall's slack (docs/measures.md)


# =========================================================================== oracles


def _unpack(bits: np.ndarray) -> np.ndarray:
    return np.unpackbits(bits, axis=1, bitorder="little")


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _as_sets(data: SetData) -> list[set[int]]:
    return [set(data.indices[data.indptr[i]:data.indptr[i + 1]].tolist())
            for i in range(len(data.indptr) - 1)]


def _jaccard(a: set[int], b: set[int]) -> float:
    union = len(a | b)
    return 1.0 - len(a & b) / union if union else 0.0


def true_distances(metric: str, queries: Any, train: Any) -> np.ndarray:
    """Float64 (nq, n) distances, computed without vecbench."""
    if metric == "euclidean":
        return cdist(np.asarray(queries, np.float64), np.asarray(train, np.float64))
    if metric == "angular":
        return cdist(np.asarray(queries, np.float64), np.asarray(train, np.float64), "cosine")
    if metric == "ip":
        return -(np.asarray(queries, np.float64) @ np.asarray(train, np.float64).T)
    if metric == "hamming":
        return (_unpack(queries)[:, None, :] != _unpack(train)[None, :, :]).sum(2) * 1.0
    if metric == "jaccard":
        qs, ts = _as_sets(queries), _as_sets(train)
        return np.array([[_jaccard(a, b) for b in ts] for a in qs])
    raise AssertionError(metric)


def recall_by_hand(D: np.ndarray, ids: np.ndarray, k: int = K) -> float:
    """Mean over queries of |returned ids within the k-th true distance (plus slack)| / k."""
    scores = []
    for q in range(len(D)):
        kth = np.sort(D[q])[k - 1]
        limit = kth + abs(kth) * RTOL + ATOL
        row = [i for i in ids[q, :k] if i >= 0]
        scores.append(sum(D[q, i] <= limit for i in row) / k)
    return float(np.mean(scores))


def rerank_jaccard(query: set[int], candidates: Any, train: list[set[int]], k: int
                   ) -> list[int]:
    """The k candidates nearest by exact Jaccard distance, ties by id."""
    return sorted(set(candidates), key=lambda i: (_jaccard(query, train[i]), i))[:k]


def _pad(rows: list[list[int]], k: int = K) -> np.ndarray:
    out = np.full((len(rows), k), -1, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row[:k]
    return out


# =========================================================================== direct library calls


def _faiss() -> Any:
    import faiss

    faiss.omp_set_num_threads(1)
    return faiss


def _faiss_search(index: Any, queries: np.ndarray) -> np.ndarray:
    return index.search(np.ascontiguousarray(queries, np.float32), K)[1].astype(np.int64)


def direct_faiss_flat(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    index = faiss.IndexFlatL2(ds.train.shape[1])
    index.add(ds.train)
    return _faiss_search(index, ds.test)


def direct_faiss_flat_angular(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    index = faiss.IndexFlatIP(ds.train.shape[1])
    index.add(_unit(ds.train).astype(np.float32))
    return _faiss_search(index, _unit(ds.test))


def direct_faiss_ivf(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    index = faiss.index_factory(ds.train.shape[1], f"IVF{b['nlist']},Flat")
    index.cp.seed = b["seed"]
    index.train(ds.train)
    index.add(ds.train)
    index.nprobe = q["nprobe"]
    return _faiss_search(index, ds.test)


def direct_faiss_ivfpq(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    base = faiss.index_factory(ds.train.shape[1], f"IVF{b['nlist']},PQ{b['m']}x{b['nbits']}")
    base.cp.seed = base.pq.cp.seed = b["seed"]
    base.do_polysemous_training = False
    index = faiss.IndexRefineFlat(base)
    index.train(ds.train)
    index.add(ds.train)
    base.nprobe = q["nprobe"]
    index.k_factor = q["rerank"] / K + 0.01
    return _faiss_search(index, ds.test)


def direct_faiss_hnsw(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    index = faiss.IndexHNSWFlat(ds.train.shape[1], b["M"])
    index.hnsw.efConstruction = b["ef_construction"]
    index.hnsw.rng = faiss.RandomGenerator(b["seed"])
    index.add(ds.train)
    index.hnsw.efSearch = q["ef"]
    return _faiss_search(index, ds.test)


def direct_faiss_pq(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    index = faiss.IndexPQ(ds.train.shape[1], b["m"], b["nbits"])
    index.pq.cp.seed = b["seed"]
    index.train(ds.train)
    index.add(ds.train)
    return _faiss_search(index, ds.test)


def direct_faiss_lsh(ds: Any, b: dict, q: dict) -> np.ndarray:
    faiss = _faiss()
    base = faiss.IndexLSH(ds.train.shape[1], b["nbits"], True, True)
    index = faiss.IndexRefineFlat(base)
    index.train(ds.train)
    index.add(ds.train)
    index.k_factor = q["rerank"] / K + 0.01
    return _faiss_search(index, ds.test)


def direct_hnswlib(ds: Any, b: dict, q: dict) -> np.ndarray:
    import hnswlib

    index = hnswlib.Index(space="cosine" if ds.metric == "angular" else "l2",
                          dim=ds.train.shape[1])
    index.init_index(max_elements=len(ds.train), M=b["M"],
                     ef_construction=b["ef_construction"], random_seed=b["seed"])
    index.set_num_threads(1)
    index.add_items(ds.train, np.arange(len(ds.train)))
    index.set_ef(max(q["ef"], K))
    return index.knn_query(ds.test, K)[0].astype(np.int64)


def direct_annoy(ds: Any, b: dict, q: dict) -> np.ndarray:
    import annoy

    binary = ds.metric == "hamming"
    train = _unpack(ds.train) if binary else ds.train
    test = _unpack(ds.test) if binary else ds.test
    index = annoy.AnnoyIndex(train.shape[1], ds.metric)
    index.set_seed(b["seed"])
    for i, row in enumerate(train):
        index.add_item(i, row.tolist())
    index.build(b["n_trees"], n_jobs=1)
    return _pad([index.get_nns_by_vector(row.tolist(), K, search_k=q["search_k"])
                 for row in test])


def direct_ckdtree(ds: Any, b: dict, q: dict) -> np.ndarray:
    from scipy.spatial import cKDTree

    tree = cKDTree(np.asarray(ds.train, np.float64), leafsize=b["leafsize"],
                   balanced_tree=b["balanced_tree"], compact_nodes=b["compact_nodes"])
    return tree.query(np.asarray(ds.test, np.float64), k=K, eps=q["eps"])[1].astype(np.int64)


def direct_sklearn_kdtree(ds: Any, b: dict, q: dict) -> np.ndarray:
    from sklearn.neighbors import KDTree

    tree = KDTree(np.asarray(ds.train, np.float64), leaf_size=b["leaf_size"])
    return tree.query(np.asarray(ds.test, np.float64), k=K)[1].astype(np.int64)


def direct_sklearn_balltree_angular(ds: Any, b: dict, q: dict) -> np.ndarray:
    from sklearn.neighbors import BallTree

    tree = BallTree(_unit(ds.train), leaf_size=b["leaf_size"])
    return tree.query(_unit(ds.test), k=K)[1].astype(np.int64)


def direct_pynndescent(ds: Any, b: dict, q: dict) -> np.ndarray:
    import numba
    import pynndescent

    numba.set_num_threads(1)
    index = pynndescent.NNDescent(ds.train, metric="euclidean", n_neighbors=b["n_neighbors"],
                                  random_state=b["seed"], n_jobs=1, low_memory=True)
    index.prepare()
    return index.query(ds.test, k=K, epsilon=q["epsilon"])[0].astype(np.int64)


def _minhashes(data: SetData, b: dict) -> list[Any]:
    from datasketch import MinHash

    out = []
    for tokens in _as_sets(data):
        m = MinHash(num_perm=b["num_perm"], seed=b["seed"])
        for t in sorted(tokens):
            m.update(int(t).to_bytes(8, "little", signed=True))
        out.append(m)
    return out


def direct_datasketch_lsh(ds: Any, b: dict, q: dict) -> np.ndarray:
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=b["threshold"], num_perm=b["num_perm"])
    for i, m in enumerate(_minhashes(ds.train, b)):
        lsh.insert(i, m)
    train = _as_sets(ds.train)
    return _pad([rerank_jaccard(query, lsh.query(m), train, K)
                 for query, m in zip(_as_sets(ds.test), _minhashes(ds.test, b), strict=True)])


def direct_datasketch_forest(ds: Any, b: dict, q: dict) -> np.ndarray:
    from datasketch import MinHashLSHForest

    forest = MinHashLSHForest(num_perm=b["num_perm"], l=b["l"])
    for i, m in enumerate(_minhashes(ds.train, b)):
        forest.add(i, m)
    forest.index()
    train = _as_sets(ds.train)
    return _pad([rerank_jaccard(query, forest.query(m, K * q["k_factor"]), train, K)
                 for query, m in zip(_as_sets(ds.test), _minhashes(ds.test, b), strict=True)])


DENSE = "gmm-2000x16"
ANGULAR = "gmm-2000x16-angular"
BITS = "bits-2000x64"
SETS = "sets-1500x400"

#: (dataset, index, build params, query params, direct call). Query points are chosen so that
#: recall is well below 1 wherever the index is approximate: equal recalls then mean
#: equal answers, not two saturated curves.
CASES: list[tuple[str, str, dict, dict, Any]] = [
    # first: its worker spends about a minute compiling numba kernels while the other
    # worker runs the rest
    (DENSE, "pynndescent", {"n_neighbors": 4}, {"epsilon": 0.0}, direct_pynndescent),
    (DENSE, "faiss", {}, {}, direct_faiss_flat),
    (ANGULAR, "faiss", {}, {}, direct_faiss_flat_angular),
    (DENSE, "faiss-ivf", {"nlist": 64}, {"nprobe": 2}, direct_faiss_ivf),
    (DENSE, "faiss-ivfpq", {"nlist": 32, "m": 4, "nbits": 4}, {"nprobe": 4, "rerank": 20},
     direct_faiss_ivfpq),
    (DENSE, "faiss-hnsw", {"M": 4, "ef_construction": 16}, {"ef": 10}, direct_faiss_hnsw),
    (DENSE, "faiss-pq", {"m": 4, "nbits": 4, "refine": False}, {"rerank": 0}, direct_faiss_pq),
    (DENSE, "faiss-lsh", {"nbits": 32}, {"rerank": 20}, direct_faiss_lsh),
    (DENSE, "hnswlib", {"M": 4, "ef_construction": 16}, {"ef": 10}, direct_hnswlib),
    (ANGULAR, "hnswlib", {"M": 4, "ef_construction": 16}, {"ef": 10}, direct_hnswlib),
    (DENSE, "annoy", {"n_trees": 3}, {"search_k": 60}, direct_annoy),
    (BITS, "annoy", {"n_trees": 3}, {"search_k": 60}, direct_annoy),
    (DENSE, "scipy-ckdtree", {"leafsize": 8}, {"eps": 2.0}, direct_ckdtree),
    (DENSE, "sklearn-kdtree", {"leaf_size": 20}, {}, direct_sklearn_kdtree),
    (ANGULAR, "sklearn-balltree", {"leaf_size": 20}, {}, direct_sklearn_balltree_angular),
    (SETS, "datasketch-lsh", {"threshold": 0.6, "num_perm": 64}, {}, direct_datasketch_lsh),
    (SETS, "datasketch-forest", {"num_perm": 64, "l": 4}, {"k_factor": 1},
     direct_datasketch_forest),
]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _table(params: dict) -> str:
    return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in params.items()) + " }"


@pytest.fixture(scope="module")
def session_run(tmp_path_factory):
    """The tiny suite of CASES, run once through Session with two workers."""
    root = tmp_path_factory.mktemp("wrappers")
    runs = "".join(textwrap.dedent(f"""
        [[run]]
        dataset = "{dataset}"
        index = "{index}"
        build = {_table(build)}
        query = {_table(query)}
        """) for dataset, index, build, query, _ in CASES)
    suite = root / "wrappers.toml"
    suite.write_text('name = "wrappers"\n[defaults]\nk = 10\nrepetitions = 1\n'
                     'latency_queries = 0\ntimeout = 600\n' + runs)
    report = Session(suite, results_dir=root / "results", data_dir=root / "data").run(
        LocalExecutor(jobs=2))
    found: dict[tuple[str, str], list[tuple[dict, dict]]] = {}
    for folder in records.iter_record_dirs(root / "results"):
        rec = records.read_record(folder)
        key = (rec["spec"]["dataset"], rec["spec"]["index"])
        found.setdefault(key, []).append((rec, records.read_arrays(folder)))
    return report, found, root / "data"


@pytest.mark.parametrize(("dataset", "index", "build", "query", "direct"), CASES,
                         ids=[f"{c[1]}-{c[0]}" for c in CASES])
def test_harness_recall_equals_the_library_recall(session_run, dataset, index, build, query,
                                                  direct):
    _report, found, data_dir = session_run
    (rec, arrays), = found[(dataset, index)]
    assert rec["status"] == "ok", rec.get("error")
    ds = load_dataset(dataset, data_dir)
    # the record's resolved parameters, defaults included, drive the direct call
    lib_ids = direct(ds, rec["spec"]["build"], rec["spec"]["query"])
    D = true_distances(ds.metric, ds.test, ds.train)
    by_hand = recall_by_hand(D, lib_ids)
    assert rec["measures"]["recall"] == pytest.approx(by_hand, abs=1e-12)
    assert recall_by_hand(D, arrays["ids"]) == pytest.approx(by_hand, abs=1e-12)
    exact = index in ("faiss", "sklearn-kdtree", "sklearn-balltree")
    assert (by_hand == pytest.approx(1.0)) if exact else (0.1 < by_hand < 0.99)
    # same answers, not just the same score (ties may swap equal-distance ids)
    same = (arrays["ids"] == lib_ids) | np.isclose(
        np.take_along_axis(D, np.maximum(arrays["ids"], 0), 1),
        np.take_along_axis(D, np.maximum(lib_ids, 0), 1), rtol=1e-6)
    assert same.mean() >= 0.999


def test_the_session_wrote_every_case(session_run):
    report, found, _ = session_run
    assert report.exit_code == 0
    assert {(d, i) for d, i, *_ in CASES} == set(found)
    rec, _ = found[(DENSE, "faiss-hnsw")][0]
    assert rec["plugin"]["library"] == "faiss-cpu" and rec["plugin"]["library_version"]
    assert rec["measures"]["index_bytes"] > 2000 * 16 * 4  # it holds the vectors


# =========================================================================== HNSW peers


def test_faiss_hnsw_and_hnswlib_agree_at_equal_parameters():
    from plugins.datasets import make_gmm

    ds = make_gmm("gmm-8000x32", 8000, 32, "euclidean")
    test = ds.test[:200]
    D = true_distances("euclidean", test, ds.train)
    registry = get_registry()
    recalls: dict[str, list[float]] = {}
    for name in ("faiss-hnsw", "hnswlib"):
        index = registry.indexes.get(name).factory(metric="euclidean", M=8, ef_construction=40)
        index.build(ds.train)
        for ef in (10, 20, 40):
            index.set_query_params(ef=ef)
            recalls.setdefault(name, []).append(recall_by_hand(D, index.search(test, K)[0]))
    a, b = np.array(recalls["faiss-hnsw"]), np.array(recalls["hnswlib"])
    assert a[0] < 0.97 and b[0] < 0.97  # not saturated: the comparison means something
    assert np.abs(a - b).max() <= 0.05, recalls
    assert (np.diff(a) >= -0.01).all() and (np.diff(b) >= -0.01).all()


# =========================================================================== faiss filters

FILTERED = [  # name, build, query, exact
    ("faiss", {}, {}, True),
    ("faiss-ivf", {"nlist": 16}, {"nprobe": 16}, True),
    ("faiss-ivfpq", {"nlist": 16, "m": 8, "nbits": 6, "refine": True},
     {"nprobe": 16, "rerank": 400}, False),
    ("faiss-hnsw", {"M": 16, "ef_construction": 100}, {"ef": 400}, False),
]


@pytest.mark.parametrize(("name", "build", "query", "exact"), FILTERED,
                         ids=[f[0] for f in FILTERED])
@pytest.mark.parametrize("selectivity", [0.5, 0.02, 0.002])
def test_faiss_filters_natively_with_an_id_selector_bitmap(name, build, query, exact,
                                                           selectivity):
    """Only allowed ids come back, ranked as numpy ranks the allowed items; fewer allowed
    items than k leave -1 (distance inf)."""
    rng = np.random.default_rng(5)
    train = rng.standard_normal((3000, 16)).astype(np.float32)
    test = rng.standard_normal((30, 16)).astype(np.float32)
    mask = rng.random(len(train)) < selectivity
    info = get_registry().indexes.get(name)
    assert info.capabilities.filter
    index = info.factory(metric="euclidean", **build)
    index.build(train)
    index.set_query_params(**query)
    ids, dist = index.search(test, K, filter=mask)
    D = true_distances("euclidean", test, train)
    D[:, ~mask] = np.inf
    allowed = int(mask.sum())
    found = ids >= 0
    assert mask[ids[found]].all(), "an id outside the filter came back"
    assert np.isinf(dist[~found]).all() and (ids[:, allowed:] == -1).all()
    got = ids[:, :min(K, allowed)]
    truth = np.argsort(D, axis=1, kind="stable")[:, :min(K, allowed)]
    if exact:
        np.testing.assert_array_equal(got, truth)
        np.testing.assert_allclose(dist[:, :got.shape[1]], np.take_along_axis(D, truth, 1),
                                   rtol=1e-4)
    elif allowed >= 50:  # a graph cannot reach a handful of scattered items (faiss's HNSW)
        hits = [len(set(a) & set(b)) for a, b in zip(got.tolist(), truth.tolist(), strict=True)]
        assert np.mean(hits) / truth.shape[1] >= 0.9
    np.testing.assert_array_equal(index.search(test, K)[0], index.search(test, K)[0])


def test_faiss_indexes_without_a_native_filter_say_so():
    train, test = _data()
    index = get_registry().indexes.get("faiss-pq").factory(metric="euclidean", m=4, nbits=6)
    index.build(train)
    assert not get_registry().indexes.get("faiss-pq").capabilities.filter
    with pytest.raises(InvalidInputError, match="post-filter"):
        index.search(test, K, filter=np.ones(len(train), bool))
    flat = get_registry().indexes.get("faiss").factory(metric="euclidean")
    flat.build(train)
    with pytest.raises(InvalidInputError, match="boolean mask of shape"):
        flat.search(test, K, filter=np.ones(len(train) - 1, bool))


# =========================================================================== conventions


def _data(seed: int = 0, n: int = 600, d: int = 16) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)).astype(np.float32),
            rng.standard_normal((25, d)).astype(np.float32))


REPORTED = [
    ("faiss", "euclidean", {}, {}), ("faiss", "angular", {}, {}), ("faiss", "ip", {}, {}),
    ("faiss", "sqeuclidean", {}, {}),
    ("faiss-hnsw", "ip", {}, {"ef": 100}), ("faiss-ivf", "angular", {"nlist": 8},
                                             {"nprobe": 8}),
    ("faiss-pq", "euclidean", {}, {"rerank": 50}), ("faiss-lsh", "angular", {}, {"rerank": 50}),
    ("hnswlib", "ip", {}, {"ef": 100}), ("hnswlib", "euclidean", {}, {"ef": 100}),
    ("annoy", "angular", {}, {}), ("annoy", "euclidean", {}, {}), ("annoy", "ip", {}, {}),
    ("annoy", "manhattan", {}, {}),
    ("scipy-ckdtree", "chebyshev", {}, {}), ("scipy-ckdtree", "manhattan", {}, {}),
    ("sklearn-balltree", "angular", {}, {}), ("sklearn-kdtree", "manhattan", {}, {}),
]


@pytest.mark.parametrize(("name", "metric", "build", "query"), REPORTED,
                         ids=[f"{r[0]}-{r[1]}" for r in REPORTED])
def test_reported_distances_are_the_metric(name, metric, build, query):
    train, test = _data()
    oracle = {"sqeuclidean": lambda q, t: cdist(q, t, "sqeuclidean"),
              "manhattan": lambda q, t: cdist(q, t, "cityblock"),
              "chebyshev": lambda q, t: cdist(q, t, "chebyshev")}
    D = (oracle[metric](test.astype(np.float64), train.astype(np.float64)) if metric in oracle
         else true_distances(metric, test, train))
    index = get_registry().indexes.get(name).factory(metric=metric, **build)
    before = train.copy()
    index.build(train)
    index.set_query_params(**query)
    ids, dist = index.search(test, K)
    assert np.array_equal(train, before)
    np.testing.assert_allclose(dist, np.take_along_axis(D, ids, 1), rtol=2e-4, atol=2e-4)


def test_annoy_hamming_counts_bits_and_sizes_are_the_saved_files(tmp_path):
    import annoy
    import faiss
    import hnswlib

    rng = np.random.default_rng(1)
    bits = rng.integers(0, 256, size=(400, 8), dtype=np.uint8)
    index = get_registry().indexes.get("annoy").factory(metric="hamming", n_trees=4)
    index.build(bits)
    ids, dist = index.search(bits[:20], K)
    D = true_distances("hamming", bits[:20], bits)
    np.testing.assert_array_equal(dist, np.take_along_axis(D, ids, 1))
    assert (ids[:, 0] == np.arange(20)).all()
    # annoy: the size of the file annoy itself writes for the same forest
    own = annoy.AnnoyIndex(64, "hamming")
    own.set_seed(42)
    for i, row in enumerate(_unpack(bits)):
        own.add_item(i, row.tolist())
    own.build(4, n_jobs=1)
    own.save(str(tmp_path / "own.ann"))
    assert index.index_bytes() == (tmp_path / "own.ann").stat().st_size
    # faiss: what write_index writes; hnswlib: what save_index writes
    train, _ = _data()
    fh = get_registry().indexes.get("faiss-hnsw").factory(metric="euclidean", M=8)
    fh.build(train)
    faiss.write_index(fh._index, str(tmp_path / "f.index"))
    assert fh.index_bytes() == (tmp_path / "f.index").stat().st_size
    hl = get_registry().indexes.get("hnswlib").factory(metric="euclidean", M=8)
    hl.build(train)
    raw = hnswlib.Index(space="l2", dim=train.shape[1])
    raw.init_index(len(train), M=8, ef_construction=200, random_seed=100)
    raw.add_items(train)
    raw.save_index(str(tmp_path / "h.bin"))
    assert hl.index_bytes() == (tmp_path / "h.bin").stat().st_size


def test_threshold_lsh_counters_match_exhaustive_counts():
    from plugins.set_datasets import make_sets

    ds = make_sets("sets-1200x300")
    test = ds.test[np.arange(40)]
    threshold = 0.45
    index = get_registry().indexes.get("datasketch-lsh").factory(threshold=threshold,
                                                                  num_perm=64)
    index.build(ds.train)
    index.set_query_params()
    ids, dist = index.search(test, K)
    stats = index.query_stats()
    sims = np.array([[len(a & b) / len(a | b) for b in _as_sets(ds.train)]
                     for a in _as_sets(test)])  # no empty sets here
    true_above = int((sims >= threshold).sum())
    assert stats["true_above_threshold"] == true_above > 0
    # every candidate was re-ranked: the returned ones are the best of them, and each
    # returned id above the threshold counts; the candidate total bounds the returned ones
    assert stats["candidates"] >= (ids >= 0).sum()
    above_returned = sum(int((sims[q, ids[q][ids[q] >= 0]] >= threshold).sum())
                         for q in range(len(ids)))
    assert above_returned <= stats["candidates_above_threshold"] <= true_above
    np.testing.assert_allclose(dist[ids >= 0], 1.0 - sims[np.nonzero(ids >= 0)[0], ids[ids >= 0]])
    measures = {name: e.info for name, e in get_registry().measures}
    ctx = MeasureContext(k=K, result_ids=ids, result_distances=dist, gt_ids=ids,
                         gt_distances=dist, signed=False, batch_seconds=np.ones(1),
                         latencies_seconds=np.ones(1), n_queries=len(ids),
                         extra={"query_stats": stats})
    precision = measures["candidate_precision"].compute(ctx)
    recall = measures["candidate_recall"].compute(ctx)
    assert precision == stats["candidates_above_threshold"] / stats["candidates"]
    assert recall == stats["candidates_above_threshold"] / true_above
    assert 0.5 < recall <= 1.0  # banding tuned for the threshold finds most of them
    ctx.extra = {"query_stats": {"candidates": 3.0}}
    assert measures["candidate_recall"].compute(ctx) is None  # not a threshold index


# =========================================================================== bad input


def _factory(name: str) -> Any:
    return get_registry().indexes.get(name).factory


@pytest.mark.parametrize(("name", "metric", "build", "query", "message"), [
    ("faiss-pq", "euclidean", {"refine": False}, {"rerank": 10}, "needs the raw vectors"),
    ("faiss-pq", "euclidean", {"m": 5}, None, "m=5 does not divide the dimension 16"),
    ("faiss-pq", "euclidean", {"nbits": 12}, None, "needs at least 4096 training vectors"),
    ("faiss-ivf", "euclidean", {"nlist": 5000}, None, "nlist=5000 is more than the 600"),
    ("faiss-lsh", "euclidean", {"nbits": 64, "rotate_data": False}, None,
     "exceeds the dimension 16"),
    ("faiss-lsh", "ip", {}, None, "metric 'ip' is not supported"),
    ("faiss", "euclidean", {"factory": "IVF4,Nonsense"}, None, "cannot build index_factory"),
    ("faiss-hnsw", "euclidean", {}, {"efSearch": 10}, "unknown parameter"),
    ("annoy", "chebyshev", {}, None, "metric 'chebyshev' is not supported"),
    ("annoy", "euclidean", {"n_trees": 0}, None, "below the minimum"),
    ("scipy-ckdtree", "euclidean", {}, {"eps": -1.0}, "below the minimum"),
    ("sklearn-kdtree", "angular", {}, None, "metric 'angular' is not supported"),
    ("sklearn-balltree", "js", {}, None, "prunes with the triangle inequality, which 'js'"),
    ("scipy-ckdtree", "kl", {}, None, "prunes with the triangle inequality, which 'kl'"),
    ("datasketch-lsh", "jaccard", {"bands": 4}, None, "give both bands and rows"),
    ("datasketch-lsh", "jaccard", {"bands": 20, "rows": 20}, None, "exceeds num_perm"),
    ("datasketch-forest", "euclidean", {}, None, "estimates the jaccard metric only"),
    ("pynndescent", "manhattan", {}, None, "metric 'manhattan' is not supported"),
])
def test_bad_parameters_are_clear_errors(name, metric, build, query, message):
    train, _ = _data()
    with pytest.raises((InvalidInputError, KeyError)) as caught:
        index = _factory(name)(metric=metric, **build)
        index.build(train)
        index.set_query_params(**(query or {}))
    assert message in str(caught.value)


@pytest.mark.parametrize(("name", "module"), [
    ("annoy", "annoy"), ("datasketch-forest", "datasketch"), ("pynndescent", "pynndescent"),
    ("faiss-hnsw", "faiss"), ("scipy-ckdtree", "scipy.spatial"),
    ("sklearn-balltree", "sklearn.neighbors")])
def test_a_missing_library_is_a_clear_unavailable_error(monkeypatch, name, module):
    info = get_registry().indexes.get(name)
    monkeypatch.setitem(sys.modules, module, None)  # "import module" now fails
    with pytest.raises(PluginUnavailableError) as caught:
        info.factory(metric=next(iter(info.capabilities.metrics)))
    assert "install it with" in str(caught.value) and "pip install" in str(caught.value)
    assert info.install_hint and info.requires and info.library


def test_wrappers_are_listed_with_their_libraries():
    indexes = get_registry().indexes
    for name in ("faiss", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw", "faiss-pq", "faiss-lsh",
                 "hnswlib", "annoy", "datasketch-lsh", "datasketch-forest", "scipy-ckdtree",
                 "sklearn-kdtree", "sklearn-balltree", "pynndescent"):
        info = indexes.get(name)
        assert info.missing_requirements() == []
        assert info.capabilities.threads or name.startswith(("sklearn", "datasketch"))
        grid_size = int(np.prod([len(v) for v in info.query_grid.values()] or [1]))
        # a curve, not a point (the factory-string wrapper's parameters depend on the string)
        assert grid_size >= 4 or not info.query_params or name == "faiss", name


def test_standard_suite_expands_and_covers_every_wrapper():
    from harness.config import expand, load_suite

    groups = expand(load_suite("standard"), get_registry())
    specs = [s for g in groups for s in g.specs]
    assert {s.k for s in specs} == {10}
    datasets = {s.dataset for s in specs}
    assert datasets == {"fashion-mnist-1k", "minilm-tokens", "gmm-100000x128", "words-3grams",
                        "minilm-tokens-bits"}
    indexes = {s.index for s in specs}
    wrappers = {"faiss", "faiss-ivf", "faiss-ivfpq", "faiss-hnsw", "faiss-pq", "faiss-lsh",
                "hnswlib", "annoy", "datasketch-lsh", "datasketch-forest", "scipy-ckdtree",
                "sklearn-kdtree", "sklearn-balltree", "pynndescent"}
    assert wrappers <= indexes
    assert {"bruteforce", "hnsw", "kdtree", "pq", "ivfpq", "lsh-pstable", "lsh-hyperplane",
            "lsh-minhash"} <= indexes
    # every spec pairs an index with a metric it supports
    registry = get_registry()
    metrics = {"fashion-mnist-1k": "euclidean", "gmm-100000x128": "euclidean",
               "minilm-tokens": "angular", "words-3grams": "jaccard",
               "minilm-tokens-bits": "hamming"}
    for s in specs:
        assert metrics[s.dataset] in registry.indexes.get(s.index).capabilities.metrics, s
        assert s.settings.timeout <= 900


def test_saved_annoy_index_reloads_with_the_same_answers(tmp_path):
    train, test = _data()
    make = _factory("annoy")
    index = make(metric="euclidean", n_trees=5)
    index.build(train)
    index.set_query_params(search_k=200)
    ids, _ = index.search(test, K)
    index.save(tmp_path / "forest")
    again = make(metric="euclidean", n_trees=5)
    again.load(Path(tmp_path / "forest"))
    again.set_query_params(search_k=200)
    assert np.array_equal(again.search(test, K)[0], ids)
    with pytest.raises(InvalidInputError, match="uses metric 'euclidean'"):
        make(metric="angular").load(tmp_path / "forest")
