"""The example plugin's own tests: the vecbench conformance kit, plus a peer comparison."""

import numpy as np
from scipy.spatial.distance import cdist

from harness.testing import parametrize_with_checks


@parametrize_with_checks(["sorted-norm", "braycurtis"])
def test_vecbench_conformance(check):
    check()


def test_braycurtis_matches_scipy(vecbench_data, vecbench_registry):
    data = vecbench_data(n=50, dim=8, n_queries=7, seed=3)
    braycurtis = vecbench_registry.metrics.get("braycurtis")
    expected = cdist(data.queries.astype(np.float64), data.train.astype(np.float64),
                     "braycurtis")
    np.testing.assert_allclose(braycurtis.pairwise(data.queries, data.train), expected,
                               rtol=1e-12)


def test_sorted_norm_prunes_and_stays_exact(vecbench_data, vecbench_registry):
    # In 3 dimensions norms spread out, so the norm-gap bound skips most items.
    data = vecbench_data(n=2000, dim=3, n_queries=20, seed=1)
    index = vecbench_registry.indexes.get("sorted-norm").factory(metric="euclidean")
    index.build(data.train)
    index.set_query_params()
    ids, _ = index.search(data.queries, 10)
    distances = cdist(data.queries.astype(np.float64), data.train.astype(np.float64))
    np.testing.assert_array_equal(ids, np.argsort(distances, axis=1, kind="stable")[:, :10])
    assert index.query_stats()["distance_computations"] < 0.5 * 2000 * 20
