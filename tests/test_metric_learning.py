"""Learned Mahalanobis metric, hard-negative mining, triplet and HCL losses.

Oracles: central finite differences (gradients), closed forms (InfoNCE, metric-learn's
M = LᵀL identity), exact search (mining), kNN accuracy under euclidean (sklearn).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.neighbors import KNeighborsClassifier

from harness.errors import InvalidInputError
from harness.metrics import get_metric
from plugins.metric_learning import (
    MahalanobisLearner,
    hcl_loss,
    hcl_weights,
    mahalanobis_transform,
    mine_hard_negatives,
    mining_fidelity,
    triplet_loss,
)

RNG = np.random.default_rng(3)


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = h
        g[idx] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def test_triplet_gradient_matches_finite_differences():
    L = RNG.standard_normal((3, 4))
    a, p, n = (RNG.standard_normal((40, 4)) for _ in range(3))
    loss, grad = triplet_loss(L, a, p, n, margin=2.0)
    assert loss > 0
    # some triplets active, some not: the hinge is exercised
    lu, lv = (a - p) @ L.T, (a - n) @ L.T
    slack = 2.0 + (lu ** 2).sum(1) - (lv ** 2).sum(1)
    assert (slack > 0).any() and (slack < 0).any()
    np.testing.assert_allclose(grad, _fd(lambda m: triplet_loss(m, a, p, n, 2.0)[0], L),
                               rtol=1e-5, atol=1e-7)


def test_learned_metric_identity_and_plugin(tmp_path):
    L = RNG.standard_normal((3, 5))
    X, Y = RNG.standard_normal((10, 5)), RNG.standard_normal((7, 5))
    M = L.T @ L
    want = cdist(X, Y, "mahalanobis", VI=M)
    np.testing.assert_allclose(cdist(mahalanobis_transform(X, L), mahalanobis_transform(Y, L)),
                               want, rtol=1e-9)
    learner = MahalanobisLearner(L=L)
    learner.L = L
    spec = learner.save(tmp_path / "L.npy")
    metric = get_metric(spec)
    np.testing.assert_allclose(metric.pairwise(X, Y), want, rtol=1e-9, atol=1e-12)
    grad = metric.gradient(X[:7], Y)
    np.testing.assert_allclose(
        grad, _fd(lambda q: metric.rowwise(q, Y).sum(), X[:7].copy()), rtol=1e-5, atol=1e-7)
    with pytest.raises(InvalidInputError, match="columns"):
        metric.pairwise(X[:, :4], Y[:, :4])


def test_hcl_reduces_to_infonce_and_weights_sum_to_n():
    a, p = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 4))
    neg = RNG.standard_normal((6, 9, 4))
    t = 0.5
    res = hcl_loss(a, p, neg, beta=0.0, tau_plus=0.0, t=t)
    sp = np.exp((a * p).sum(1) / t)
    sn = np.exp(np.einsum("bne,be->bn", neg, a) / t).sum(1)
    assert res.loss == pytest.approx(np.mean(-np.log(sp / (sp + sn))), abs=1e-12)
    w = hcl_weights(np.einsum("bne,be->bn", neg, a), beta=2.0, t=t)
    np.testing.assert_allclose(w.sum(axis=1), 9.0, rtol=1e-12)
    # beta -> infinity: the reweighted term tends to N max_i neg_i
    s = np.einsum("bne,be->bn", neg, a)
    big = (hcl_weights(s, beta=400.0, t=t) * np.exp(s / t)).sum(1)
    np.testing.assert_allclose(big, 9 * np.exp(s.max(1) / t), rtol=1e-3)
    # a large tau_plus makes the clamp active
    assert hcl_loss(a, 3 * a, neg, beta=1.0, tau_plus=0.9, t=t).clamped.any()


@pytest.mark.parametrize("beta,tau_plus", [(0.0, 0.0), (1.0, 0.1), (2.0, 0.3)])
def test_hcl_gradients_match_finite_differences(beta, tau_plus):
    a, p = RNG.standard_normal((4, 3)) * 0.5, RNG.standard_normal((4, 3)) * 0.5
    neg = RNG.standard_normal((4, 5, 3)) * 0.5
    res = hcl_loss(a, p, neg, beta, tau_plus)
    assert not res.clamped.any()
    np.testing.assert_allclose(
        res.grad_anchor, _fd(lambda x: hcl_loss(x, p, neg, beta, tau_plus).loss, a),
        rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        res.grad_positive, _fd(lambda x: hcl_loss(a, x, neg, beta, tau_plus).loss, p),
        rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(
        res.grad_negatives, _fd(lambda x: hcl_loss(a, p, x, beta, tau_plus).loss, neg),
        rtol=1e-5, atol=1e-8)


def test_mining_returns_nearest_other_class_rows():
    x = RNG.standard_normal((300, 6))
    y = RNG.integers(0, 3, 300)
    exact = mine_hard_negatives(x, y, 4)
    d = cdist(x, x)
    for i in range(0, 300, 17):
        other = np.flatnonzero(y != y[i])
        want = other[np.argsort(d[i, other], kind="stable")[:4]]
        np.testing.assert_array_equal(exact[i], want)
    ann = mine_hard_negatives(x, y, 4, index="hnswlib", build_params={"M": 8},
                              query_params={"ef": 64})
    assert mining_fidelity(ann, exact) > 0.9
    assert mining_fidelity(exact, exact) == 1.0


def test_learned_metric_beats_euclidean_when_a_noisy_dimension_dominates():
    rng = np.random.default_rng(0)
    n, classes = 600, 3
    y = rng.integers(0, classes, n)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.9]])
    signal = centres[y] + 0.12 * rng.standard_normal((n, 2))
    noise = 1000.0 * rng.standard_normal((n, 1))  # one dimension dominates every distance
    x = np.hstack([signal, noise, 0.1 * rng.standard_normal((n, 2))])
    tr, te = slice(0, 400), slice(400, n)

    def knn_accuracy(a, b):
        clf = KNeighborsClassifier(5).fit(a, y[tr])
        return clf.score(b, y[te])

    base = knn_accuracy(x[tr], x[te])
    learner = MahalanobisLearner(epochs=80, learning_rate=0.05).fit(x[tr], y[tr])
    learned = knn_accuracy(learner.transform(x[tr]), learner.transform(x[te]))
    assert base < 0.6, base
    assert learned > 0.9 and learned > base + 0.3, (base, learned)
    assert learner.history[-1] < learner.history[0]
    np.testing.assert_allclose(learner.mahalanobis_matrix, learner.L.T @ learner.L)


def test_knn_scores_match_sklearn():
    from plugins.metric_learning_task import knn_scores

    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((200, 4)), rng.integers(0, 3, 200)
    t, ty = rng.standard_normal((50, 4)), rng.integers(0, 3, 50)
    acc, recall = knn_scores(x, y, t, ty, 1)
    assert acc == pytest.approx(KNeighborsClassifier(1).fit(x, y).score(t, ty))
    assert recall == pytest.approx(acc)  # with one neighbour both are the same share


def test_metric_learning_task_worker_records_every_measure(tmp_path):
    from harness.config import Spec
    from harness.runner import GroupJob
    from plugins.metric_learning_task import metric_learning_worker

    specs = [Spec(task="metric-learning", dataset="digits", index="bruteforce",
                  build={"margin": -1}, query={}, k=10, seed=0,
                  extra={"epochs": 3, "fit_samples": 300, "pca_dims": 16})]
    job = GroupJob(specs=specs, dataset="digits", metric="euclidean", data_dir=str(tmp_path),
                   extra_modules=[], index_name="bruteforce", task="metric-learning")
    events = list(metric_learning_worker(job))
    assert events[0][0] == "built" and events[0][1]["n_points"] == 300
    kind, payload = events[1]
    assert kind == "point", payload
    m = payload["measures"]
    assert m["mining_fidelity"] == 1.0  # the exact index mines exactly the exact negatives
    assert m["knn_accuracy_before"] > 0.8 and 0 <= m["same_class_recall_after"] <= 1
    assert payload["arrays"]["L"].shape == (16, 16)
    bad = [Spec(task="metric-learning", dataset="digits", index="bruteforce", build={},
                query={}, k=10, seed=0, extra={"loss": "nope"})]
    job.specs = bad
    assert list(metric_learning_worker(job))[1][0] == "point_error"
