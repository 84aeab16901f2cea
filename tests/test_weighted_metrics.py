"""Hadamard-weighted metrics against scipy's closed forms, and euclidean after ``transform``.

Oracles: ``scipy.spatial.distance.cdist`` (weighted euclidean, mahalanobis with a diagonal
VI), numpy on the selected columns (gating), central finite differences (gradients).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness.errors import InvalidInputError
from harness.groundtruth import exact_knn
from harness.metrics import get_metric
from harness.plugins import get_registry
from plugins.weighted_metrics import (
    diag_mahalanobis,
    gated_euclidean,
    transform,
    weighted_euclidean,
)

RNG = np.random.default_rng(7)
X = RNG.standard_normal((30, 5))
Y = RNG.standard_normal((20, 5))
W = np.array([0.5, -2.0, 1.0, 0.0, 3.0])
V = np.array([0.25, 4.0, 1.0, 0.0, 9.0])
G = np.array([1.0, 0.0, 1.0, 1.0, 0.0])


def _spec(name: str, vec: np.ndarray) -> str:
    key = {"weighted-euclidean": "w", "diag-mahalanobis": "v", "gated-euclidean": "g"}[name]
    return f"{name}:{key}=" + ";".join(repr(float(x)) for x in vec)


def test_weighted_euclidean_equals_scipy_weighted_form():
    m = get_metric(_spec("weighted-euclidean", W))
    # scipy weights the squares: sqrt(Σ w_i (x_i − y_i)²), so pass w²
    np.testing.assert_allclose(m.pairwise(X, Y), cdist(X, Y, "euclidean", w=W ** 2),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.rowwise(X[:20], Y), np.diag(cdist(X[:20], Y, "euclidean",
                                                                   w=W ** 2)), rtol=1e-12)


def test_diag_mahalanobis_equals_scipy_mahalanobis():
    m = get_metric(_spec("diag-mahalanobis", V))
    np.testing.assert_allclose(m.pairwise(X, Y), cdist(X, Y, "mahalanobis", VI=np.diag(V)),
                               rtol=1e-10, atol=1e-12)
    unit = get_metric(_spec("diag-mahalanobis", np.ones(5)))
    np.testing.assert_allclose(unit.pairwise(X, Y), cdist(X, Y), rtol=1e-12)


def test_gated_euclidean_is_euclidean_on_open_columns():
    m = get_metric(_spec("gated-euclidean", G))
    keep = G == 1
    np.testing.assert_allclose(m.pairwise(X, Y), cdist(X[:, keep], Y[:, keep]), rtol=1e-12,
                               atol=1e-12)
    assert gated_euclidean(G).transform(X).shape == (30, 3)


@pytest.mark.parametrize("name,vec", [("weighted-euclidean", W), ("diag-mahalanobis", V),
                                      ("gated-euclidean", G)])
def test_transform_then_euclidean_gives_the_same_neighbours(name, vec):
    spec = _spec(name, vec)
    m = get_metric(spec)
    tx, ty = transform(spec, X), transform(spec, Y)
    np.testing.assert_allclose(cdist(ty, tx), m.pairwise(Y, X), rtol=1e-10, atol=1e-12)
    # an exact euclidean index over the transformed data answers the weighted k-NN
    base = np.random.default_rng(1).standard_normal((400, 5)).astype(np.float32)
    queries = np.random.default_rng(2).standard_normal((15, 5)).astype(np.float32)
    _, dist = exact_knn(base, queries, m, 5)
    index = get_registry().indexes.get("bruteforce").factory(metric="euclidean")
    index.build(transform(spec, base).astype(np.float32))
    got, _ = index.search(transform(spec, queries).astype(np.float32), 5)
    got_dist = np.sort(m.pairwise(queries, base)[np.arange(15)[:, None], got], axis=1)
    np.testing.assert_allclose(got_dist, dist, rtol=1e-5)


@pytest.mark.parametrize("name,vec", [("weighted-euclidean", W), ("diag-mahalanobis", V)])
def test_gradient_matches_finite_differences(name, vec):
    m = get_metric(_spec(name, vec))
    q, x = X[:6], Y[:6]
    grad = m.gradient(q, x)
    h = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        fd = (m.rowwise(q + e, x) - m.rowwise(q - e, x)) / (2 * h)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-6, atol=1e-8)
    assert np.all(m.gradient(x, x) == 0)


def test_strict_shape_checks():
    with pytest.raises(InvalidInputError, match="1-D"):
        weighted_euclidean(W[None, :])
    with pytest.raises(InvalidInputError, match="1-D"):
        weighted_euclidean(W[:, None])
    metric = weighted_euclidean(W)
    with pytest.raises(InvalidInputError, match="no broadcasting"):
        metric.pairwise(X[:, :4], Y[:, :4])
    with pytest.raises(InvalidInputError, match="no broadcasting"):
        metric.transform(X[:, :1])
    with pytest.raises(InvalidInputError, match="dimension mismatch"):
        metric.pairwise(X, Y[:, :4])
    with pytest.raises(InvalidInputError, match="same number of rows"):
        metric.rowwise(X, Y)
    with pytest.raises(InvalidInputError, match=">= 0"):
        diag_mahalanobis([1.0, -1.0])
    with pytest.raises(InvalidInputError, match="only 0 and 1"):
        gated_euclidean([1.0, 0.5])
    # left out, the weights are all ones: plain euclidean
    np.testing.assert_allclose(get_metric("weighted-euclidean").pairwise(X, Y), cdist(X, Y),
                               rtol=1e-12)
    with pytest.raises(InvalidInputError, match="separated"):
        get_metric("weighted-euclidean:w=1;x")
    with pytest.raises(InvalidInputError, match="NaN"):
        weighted_euclidean([1.0, np.nan])


def test_weights_from_a_npy_file(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, W)
    m = get_metric(f"weighted-euclidean:w=@{path}")
    np.testing.assert_allclose(m.pairwise(X, Y), cdist(X, Y, "euclidean", w=W ** 2),
                               rtol=1e-12, atol=1e-12)
