"""The example plugin's own tests: the vecbench conformance kit, plus a peer comparison."""

import numpy as np
from scipy.spatial.distance import cdist

from harness.testing import check_index, parametrize_with_checks


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


def test_sorted_norm_on_more_data():
    # The kit's default data is small; run the exactness checks once on more of it.
    from harness.testing import KitSettings

    check_index("sorted-norm", settings=KitSettings(n=3000, dim=24, n_queries=50))
