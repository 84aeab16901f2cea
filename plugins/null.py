"""``null``: an index that returns precomputed answers, to measure the harness's own cost.

Every query gets the ids ``0, 1, ..., k-1`` (valid and unique, far from correct). The answer
is a slice of an array prepared once, ``answers[:nq, :k]``, so a search allocates nothing
and copies nothing; it checks only what it must to answer (the number of queries and k).
Timing the harness's measuring loop around this index gives the harness's floor.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import (
    DataKind,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    SetData,
    VecbenchError,
    hookimpl,
)
from harness.types import VectorData, n_items
from harness.validation import check_k

#: Metrics it claims: whatever it is asked for among the common ones (it never computes any).
METRICS = frozenset({
    "euclidean", "sqeuclidean", "angular", "ip", "manhattan", "chebyshev", "minkowski",
    "correlation", "hamming", "hamming-normalized", "jaccard",
})


class NullIndex:
    """Answers ``ids[i] = 0..k-1`` for every query, from a prepared array (no distances)."""

    def __init__(self, metric: str = "euclidean") -> None:
        self.metric = metric
        self.n = 0
        self._answers = np.zeros((0, 0), dtype=np.int64)

    def build(self, data: VectorData) -> None:
        """Remember how many vectors there are (nothing else is kept)."""
        if not isinstance(data, SetData) and np.ndim(data) != 2:
            raise InvalidInputError(
                f"build data: expected a 2-D array or SetData, got shape {np.shape(data)}")
        self.n = n_items(data)
        if self.n == 0:
            raise InvalidInputError("build data: is empty (0 rows)")
        self._answers = np.zeros((0, 0), dtype=np.int64)

    def set_query_params(self, **params: Any) -> None:
        """Accepted and ignored."""

    def search(self, queries: VectorData, k: int) -> tuple[np.ndarray, None]:
        """``(answers[:nq, :k], None)``: a view, prepared on first use and grown as needed."""
        if self.n == 0:
            raise VecbenchError("search() called before build()")
        if isinstance(queries, np.ndarray) and queries.ndim == 2:
            nq = queries.shape[0]
        elif isinstance(queries, SetData):
            nq = len(queries)
        else:
            raise InvalidInputError(
                f"queries: expected a 2-D array or SetData, got {type(queries).__name__} "
                f"of shape {np.shape(queries)}")
        answers = self._answers
        if type(k) is not int or not 0 < k <= answers.shape[1] or nq > answers.shape[0]:
            k = check_k(k, self.n)
            if nq > answers.shape[0] or k > answers.shape[1]:
                rows = max(nq, 2 * answers.shape[0], 1024)
                width = max(k, answers.shape[1])
                answers = np.broadcast_to(np.arange(width, dtype=np.int64), (rows, width)).copy()
                self._answers = answers
        return answers[:nq, :k], None

    def index_bytes(self) -> int:
        """The prepared answer array."""
        return int(self._answers.nbytes)

    def warmup(self, sample: VectorData) -> None:
        """Nothing to compile."""

    def query_stats(self) -> dict[str, float]:
        return {}


def make_null(metric: str = "euclidean") -> NullIndex:
    """Factory of :class:`NullIndex`."""
    return NullIndex(metric)


@hookimpl
def register_indexes(register: Any) -> None:
    """Register the null index."""
    register(IndexInfo(
        name="null",
        factory=make_null,
        capabilities=IndexCapabilities(
            metrics=METRICS,
            data_kinds=frozenset({DataKind.DENSE, DataKind.BINARY, DataKind.SETS}),
            exact=False),
        description="returns precomputed ids 0..k-1 (measures the harness's own overhead)",
    ))
