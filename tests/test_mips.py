"""MIPS reductions (Xbox, SIMPLE-LSH) and the ``mips-{n}x{d}`` dataset.

Oracle: brute-force inner products in float64 (numpy), and scipy's Kendall tau.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import kendalltau

from harness.errors import InvalidInputError, UnknownNameError
from harness.plugins import get_registry
from plugins.mips import (
    SimpleLshIndex,
    XboxIndex,
    simple_lsh_items,
    simple_lsh_queries,
    xbox_items,
    xbox_queries,
)
from plugins.mips_datasets import make_mips, parse_mips_name


def _data(seed: int = 0, n: int = 1500, d: int = 12, nq: int = 40):
    rng = np.random.default_rng(seed)
    items = rng.standard_normal((n, d)) * rng.lognormal(0.0, 0.7, (n, 1))
    queries = rng.standard_normal((nq, d))
    return items.astype(np.float32), queries.astype(np.float32)


def _ip_topk(items, queries, k):
    scores = queries.astype(np.float64) @ items.astype(np.float64).T
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(scores, order, axis=1), scores


@pytest.mark.parametrize("cls", [XboxIndex, SimpleLshIndex])
@pytest.mark.parametrize("base_metric", ["euclidean", "angular"])
def test_reduction_with_exact_base_gives_exact_ip_topk(cls, base_metric):
    items, queries = _data()
    k = 10
    index = cls("ip", base="bruteforce", base_metric=base_metric)
    index.build(items)
    index.set_query_params()
    ids, _ = index.search(queries, k)
    want, want_scores, scores = _ip_topk(items, queries, k)
    got_scores = np.take_along_axis(scores, ids, axis=1)
    # the same inner products (float32 rounding of the transformed vectors only)
    np.testing.assert_allclose(got_scores, want_scores, rtol=1e-5, atol=1e-5)
    # and the same ids wherever the k-th and (k+1)-th scores are not a near tie
    sorted_scores = -np.sort(-scores, axis=1)
    clear = (sorted_scores[:, k - 1] - sorted_scores[:, k]) > 1e-3
    assert clear.mean() > 0.9
    for row in np.flatnonzero(clear):
        assert set(ids[row]) == set(want[row])


@pytest.mark.parametrize("transform", ["xbox", "simple-lsh"])
def test_transform_preserves_the_full_ranking(transform):
    items, queries = _data(seed=1, n=300)
    items = items.astype(np.float64)
    queries = queries.astype(np.float64)
    if transform == "xbox":
        p, phi = xbox_items(items)
        q = xbox_queries(queries)
        assert np.allclose(np.linalg.norm(p, axis=1), phi)
    else:
        p, phi = simple_lsh_items(items)
        q = simple_lsh_queries(queries)
        assert np.allclose(np.linalg.norm(p, axis=1), 1.0)
    assert phi == pytest.approx(np.linalg.norm(items, axis=1).max())
    for row in range(5):
        ip = queries[row] @ items.T
        l2 = np.linalg.norm(p - q[row], axis=1)
        tau = kendalltau(ip, -l2).statistic
        assert tau == pytest.approx(1.0, abs=1e-12)


def test_wrapper_passes_build_and_query_params_to_the_base():
    items, queries = _data(seed=2, n=3000, d=16, nq=50)
    index = XboxIndex("ip", base="hnswlib", base_params="M=16,ef_construction=200,seed=3")
    assert index.base_build["M"] == 16 and index.base_build["ef_construction"] == 200
    index.build(items)
    want, _, _ = _ip_topk(items, queries, 10)
    recalls = []
    for ef in (10, 800):
        index.set_query_params(ef=ef)
        assert index.base_index.query_params == {"ef": ef}
        ids, _ = index.search(queries, 10)
        recalls.append(np.mean([len(set(a) & set(b)) / 10
                                for a, b in zip(ids, want, strict=True)]))
    # a graph over the transformed items is approximate, and a wider search finds more
    assert recalls[1] > recalls[0] + 0.2 and recalls[1] > 0.8
    index.set_query_params(base_query="ef=12")
    assert index.base_index.query_params == {"ef": 12}


def test_wrapper_errors_name_the_problem():
    with pytest.raises(InvalidInputError, match="'ip' only"):
        XboxIndex("euclidean")
    with pytest.raises(UnknownNameError):
        XboxIndex("ip", base="no-such-index")
    with pytest.raises(UnknownNameError, match="Mx"):
        XboxIndex("ip", base="hnswlib", base_params="Mx=3")
    with pytest.raises(InvalidInputError, match="cannot read"):
        XboxIndex("ip", base="hnswlib", base_params="M")
    with pytest.raises(InvalidInputError, match="does not serve"):
        XboxIndex("ip", base="kdtree", base_metric="angular")
    index = XboxIndex("ip")
    index.build(_data()[0])
    with pytest.raises(InvalidInputError, match="no query parameter 'ef'"):
        index.set_query_params(ef=10)


def test_mips_dataset_is_seeded_with_skewed_norms():
    a = make_mips("mips-2000x16")
    b = make_mips("mips-2000x16")
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    assert a.metric == "ip" and a.train.shape == (2000, 16) and a.test.shape == (200, 16)
    norms = np.linalg.norm(a.train, axis=1)
    assert norms.max() / np.median(norms) > 3.0  # skewed norms
    # MIPS differs from cosine search on it: the top-1 by ip is often not the top-1 by cosine
    ip = a.test @ a.train.T
    cos = ip / norms[None, :]
    assert np.mean(ip.argmax(1) != cos.argmax(1)) > 0.3
    with pytest.raises(InvalidInputError, match="mips-"):
        parse_mips_name("mips-10")


def test_mips_family_is_registered_with_ip_ground_truth():
    from harness.data import load_dataset

    registry = get_registry()
    assert "mips-xbox" in registry.indexes.names()
    ds = load_dataset("mips-1000x8")
    want, _, _ = _ip_topk(ds.train, ds.test, 10)
    assert ds.metric == "ip"
    np.testing.assert_array_equal(ds.neighbors[:, :10], want)
