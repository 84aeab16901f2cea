"""``null``: an index that returns precomputed answers, to measure the harness's own cost.

Every query gets the ids ``0, 1, ..., k-1`` (valid and unique, far from correct). The answer
is a slice of an array prepared once, ``answers[:nq, :k]``, so a search allocates nothing
and copies nothing. Build data are checked like any index's; queries get checks that cost
next to nothing (type, shape, dtype, finiteness).
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
from harness.metrics import get_metric
from harness.types import VectorData, n_items
from harness.validation import check_data, check_k

#: Metrics it claims: whatever it is asked for among the common ones (it never computes any).
METRICS = frozenset({
    "euclidean", "sqeuclidean", "angular", "ip", "manhattan", "chebyshev", "minkowski",
    "correlation", "hamming", "hamming-normalized", "jaccard",
})


#: Shape of the answer table prepared at build (grown on demand by larger searches).
PREPARED_QUERIES = 1024
PREPARED_K = 100


def _answer_table(rows: int, k: int) -> np.ndarray:
    """``rows`` copies of ``0..k-1`` (int64)."""
    return np.broadcast_to(np.arange(k, dtype=np.int64), (rows, k)).copy()


class NullIndex:
    """Answers ``ids[i] = 0..k-1`` for every query, from a prepared array (no distances)."""

    def __init__(self, metric: str = "euclidean") -> None:
        bound = get_metric(metric)  # unknown names raise UnknownNameError
        if bound.info.name not in METRICS:
            raise InvalidInputError(
                f"null: metric {metric!r} is not supported; use one of {sorted(METRICS)}")
        self.metric = bound.info.name
        self.kind = bound.data_kind
        self.n = 0
        self.width: int | None = None  # columns of dense/binary rows
        self._answers = np.zeros((0, 0), dtype=np.int64)

    def build(self, data: VectorData) -> None:
        """Check the data like any index, keep only its size, prepare the answers."""
        data = check_data(data, self.kind, "build data")
        self.n = n_items(data)
        self.width = None if isinstance(data, SetData) else int(data.shape[1])
        self._answers = _answer_table(PREPARED_QUERIES, min(self.n, PREPARED_K))

    def set_query_params(self, **params: Any) -> None:
        """Accepted and ignored."""

    def search(self, queries: VectorData, k: int) -> tuple[np.ndarray, None]:
        """``(answers[:nq, :k], None)``: a view of the prepared array (grown when needed).

        Queries get the cheap checks only (type, shape, dtype, finiteness): a few
        microseconds for a single query, and nothing is allocated but the finiteness mask.
        """
        if self.n == 0:
            raise VecbenchError("search() called before build()")
        nq = self._count_queries(queries)
        answers = self._answers
        if type(k) is not int or not 0 < k <= answers.shape[1] or nq > answers.shape[0]:
            k = check_k(k, self.n)
            if nq > answers.shape[0] or k > answers.shape[1]:
                answers = _answer_table(max(nq, answers.shape[0]), max(k, answers.shape[1]))
                self._answers = answers
        return answers[:nq, :k], None

    def _count_queries(self, queries: Any) -> int:
        """Number of queries, after checks that cost next to nothing."""
        if self.kind is DataKind.SETS:
            if not isinstance(queries, SetData):
                raise InvalidInputError(
                    f"queries: expected SetData (CSR sets), got {type(queries).__name__}")
            return len(queries)
        if not isinstance(queries, np.ndarray):
            queries = np.asarray(queries)
        if queries.ndim == 1 and queries.shape[0] == self.width:
            queries = queries[None, :]
        if queries.ndim != 2 or queries.shape[1] != self.width:
            raise InvalidInputError(f"queries: expected shape (nq, {self.width}), got "
                                    f"{queries.shape}")
        if self.kind is DataKind.BINARY:
            if queries.dtype != np.uint8:
                raise InvalidInputError(f"queries: binary vectors must be bit-packed uint8, "
                                        f"got dtype {queries.dtype}")
        elif queries.dtype.kind not in "fiub":
            raise InvalidInputError(f"queries: dtype {queries.dtype} is not numeric")
        elif queries.dtype.kind == "f" and not np.isfinite(queries).all():
            raise InvalidInputError("queries: contain NaN or inf")
        return int(queries.shape[0])

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
        expected_check_failures={
            "check_recall": "returns precomputed ids 0..k-1 to measure harness overhead"},
    ))
