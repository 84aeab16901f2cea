"""A local plugin module (loaded with -p) whose indexes misbehave on purpose.

Each fault is chosen by the build parameter ``fault`` so one suite can exercise them all;
the query parameter ``point`` lets a fault strike only one query point.
"""

from __future__ import annotations

import os
import time

import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, Param, hookimpl

FAULTS = ("none", "build-error", "query-error", "hang", "abort", "memory", "bad-shape",
          "out-of-range", "duplicates", "float-ids", "jit")  # jit: compiles with numba, no fault


class FaultyIndex(BaseIndex):
    """Exact search (numpy) that fails in the way its ``fault`` parameter asks."""

    def __init__(self, metric: str, fault: str = "none", strike_at: int = 1) -> None:
        super().__init__(metric)
        self.fault = fault
        self.strike_at = strike_at

    def _build(self, data):
        if self.fault == "jit":  # a fresh numba compilation in the group's process
            import numba

            numba.njit(cache=False)(lambda x: x + 1)(1)
        if self.fault == "build-error":
            raise RuntimeError("injected failure at build")
        if self.fault == "abort" and self.strike_at < 0:
            os.abort()
        self.data = data.astype(np.float64)

    def _search(self, queries, k):
        point = self.query_params.get("point", 0)
        strike = point == self.strike_at
        if strike and self.fault == "query-error":
            raise ValueError("injected failure at query")
        if strike and self.fault == "hang":
            time.sleep(3600)
        if strike and self.fault == "abort":
            os.abort()
        if strike and self.fault == "memory":
            hog = []
            while True:  # touch pages until the runner's memory limit kills us
                hog.append(np.ones(2**24))
        d = ((queries[:, None, :].astype(np.float64) - self.data[None]) ** 2).sum(-1)
        ids = np.argsort(d, axis=1, kind="stable")[:, :k]
        if strike and self.fault == "bad-shape":
            return ids[:, :-1][:-1], None
        if strike and self.fault == "out-of-range":
            ids[:, 0] = len(self.data) + 5
        if strike and self.fault == "duplicates":
            ids[:, 1] = ids[:, 0]
        if strike and self.fault == "float-ids":
            return ids.astype(np.float32), None
        return ids, None

    def _owned_arrays(self):
        return [self.data]

    def query_stats(self):
        """What the group's process sees of its environment (tests of the runner)."""
        import numba

        stats = {name: float(os.environ.get(var, "nan")) for name, var in
                 (("env_omp_threads", "OMP_NUM_THREADS"), ("env_probe", "VECBENCH_TEST_PROBE"))}
        stats["numba_threads"] = float(numba.get_num_threads())
        return stats


@hookimpl
def register_indexes(register):
    register(IndexInfo(
        name="faulty",
        factory=lambda metric, fault="none", strike_at=1: FaultyIndex(metric, fault, strike_at),
        capabilities=IndexCapabilities(metrics={"euclidean"}, exact=True),
        build_params=(Param("fault", "none", str, choices=FAULTS),
                      Param("strike_at", 1, int)),
        query_params=(Param("point", 0, int),),
        query_grid={"point": [0, 1, 2]},
        description="test-only index that fails on purpose",
    ))
