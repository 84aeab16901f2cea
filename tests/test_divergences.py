"""KL and Jensen-Shannon divergences: values against scipy, flags, gradients vs finite
differences, exact search, and refusal by indexes that need the triangle inequality."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from harness.errors import InvalidInputError, UnknownNameError
from harness.groundtruth import exact_knn
from harness.metrics import get_metric
from harness.plugins import get_registry
from plugins.divergences import make_topics, normalize_rows

RNG = np.random.default_rng(11)
P = RNG.dirichlet(np.full(6, 0.7), size=25)
Q = RNG.dirichlet(np.full(6, 0.7), size=15)


def _kl(p, q):
    return rel_entr(p, q).sum()


def _js(p, q):
    m = 0.5 * (p + q)
    return 0.5 * _kl(p, m) + 0.5 * _kl(q, m)


def test_kl_and_js_equal_scipy():
    kl, js, jsd = (get_metric(n) for n in ("kl", "js", "js-distance"))
    want_kl = np.array([[_kl(p, q) for q in Q] for p in P])
    want_js = np.array([[_js(p, q) for q in Q] for p in P])
    want_jsd = np.array([[jensenshannon(p, q) for q in Q] for p in P])
    np.testing.assert_allclose(kl.pairwise(P, Q), want_kl, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(js.pairwise(P, Q), want_js, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(jsd.pairwise(P, Q), want_jsd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kl.rowwise(P[:15], Q), np.diag(want_kl), rtol=1e-12)
    np.testing.assert_allclose(js.rowwise(P[:15], Q), np.diag(want_js), rtol=1e-12)


def test_zero_entries_and_identity():
    kl = get_metric("kl")
    p = np.array([[0.5, 0.5, 0.0]])
    q = np.array([[0.5, 0.0, 0.5]])
    assert kl.pairwise(p, q)[0, 0] == np.inf  # p_2 > 0 = q_2
    assert kl.pairwise(p, p)[0, 0] == 0.0
    assert np.all(np.diag(get_metric("js").pairwise(P, P)) == 0.0)
    assert get_metric("js").pairwise(p, q)[0, 0] == pytest.approx(_js(p[0], q[0]))
    smooth = get_metric("kl:eps=0.01")
    assert np.isfinite(smooth.pairwise(p, q)[0, 0])


def test_flags_declare_what_holds():
    kl, js, jsd = (get_metric(n) for n in ("kl", "js", "js-distance"))
    assert not kl.symmetric and not kl.triangle_inequality
    assert js.symmetric and not js.triangle_inequality
    assert jsd.symmetric and jsd.triangle_inequality
    # and the flags are right: KL is asymmetric, JS breaks the triangle inequality
    assert not np.allclose(kl.pairwise(P, Q), kl.pairwise(Q, P).T)
    a, b, c = np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]), np.array([[0.0, 1.0]])
    assert js.pairwise(a, c)[0, 0] > js.pairwise(a, b)[0, 0] + js.pairwise(b, c)[0, 0]


@pytest.mark.parametrize("name", ["kl", "js", "js-distance", "kl:eps=0.05"])
def test_gradient_matches_finite_differences(name):
    m = get_metric(name)
    q, x = P[:8], Q[:8]
    grad = m.gradient(q, x)
    h = 1e-7
    for j in range(q.shape[1]):
        e = np.zeros(q.shape[1])
        e[j] = h
        fd = (m.rowwise(q + e, x) - m.rowwise(q - e, x)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-5, atol=1e-7)


def test_bad_input_is_refused():
    with pytest.raises(InvalidInputError, match="negative"):
        get_metric("kl").pairwise(-P, Q)
    with pytest.raises(InvalidInputError, match="dimension mismatch"):
        get_metric("js").pairwise(P, Q[:, :4])
    with pytest.raises(InvalidInputError, match="sum to 0"):
        normalize_rows(np.zeros((2, 3)))
    with pytest.raises(InvalidInputError):
        get_metric("kl:eps=-1")


def test_exact_scan_index_and_ground_truth_agree_with_scipy():
    ds = make_topics("topics-600x16")
    train, test = ds.train.astype(np.float64), ds.test.astype(np.float64)
    np.testing.assert_allclose(train.sum(1), 1.0, atol=1e-6)
    for name in ("kl", "js"):
        brute = np.array([[_kl(q, t) if name == "kl" else _js(q, t) for t in train]
                          for q in test])
        want = np.argsort(brute, axis=1, kind="stable")[:, :10]
        ids, _ = exact_knn(ds.train, ds.test, get_metric(name), 10)
        np.testing.assert_array_equal(ids, want)
        index = get_registry().indexes.get("divergence-scan").factory(metric=name)
        index.build(ds.train)
        got, _ = index.search(ds.test, 10)
        np.testing.assert_array_equal(got, want)


def test_pruning_index_refuses_non_metric_measures():
    kdtree = get_registry().indexes.get("kdtree")
    for name in ("kl", "js"):
        assert name not in kdtree.capabilities.metrics
        with pytest.raises((InvalidInputError, UnknownNameError)):
            kdtree.factory(metric=name)


def test_nmslib_peer_answers_js_queries_or_reports_itself_unavailable():
    import importlib.util

    info = get_registry().indexes.get("nmslib-hnsw")
    assert "kl" not in info.capabilities.metrics  # nmslib's KL is item-to-query
    if importlib.util.find_spec("nmslib") is None:
        assert info.missing_requirements() == ["nmslib"]
        assert "pip install nmslib" in info.install_hint
        return
    ds = make_topics("topics-2000x16")
    want, _ = exact_knn(ds.train, ds.test, get_metric("js"), 10)
    index = info.factory(metric="js", M=16, efConstruction=100)
    index.build(ds.train)
    index.set_query_params(efSearch=200)
    got, dist = index.search(ds.test, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall > 0.95
    # its distances are the Jensen-Shannon divergence of the query and the item
    js = get_metric("js").rowwise(ds.test, ds.train[got[:, 0]])
    np.testing.assert_allclose(dist[:, 0], js, rtol=1e-3, atol=1e-6)
