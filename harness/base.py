"""``BaseIndex``: defaults for index plugins (input checks, query params, memory, stats)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from harness.types import DataKind, SetData, VectorData, n_items
from harness.validation import check_data, check_k


class BaseIndex(ABC):
    """Convenient base for index plugins.

    Subclasses implement ``_build(data)`` and ``_search(queries, k)``; the base checks inputs
    (shape, dtype, NaN, k > n) with clear errors, remembers query parameters, and reports
    ``index_bytes`` as the bytes of the numpy arrays listed in ``_owned_arrays()``.
    """

    kind: DataKind = DataKind.DENSE

    def __init__(self, metric: str, **params: Any) -> None:
        self.metric = metric
        self.params = params
        self.query_params: dict[str, Any] = {}
        self.n = 0
        self.dim: int | None = None

    # ---- contract
    def build(self, data: VectorData) -> None:
        data = check_data(data, self.kind, "build data")
        self.n = n_items(data)
        self.dim = None if isinstance(data, SetData) else int(data.shape[1])
        self._build(data)

    def set_query_params(self, **params: Any) -> None:
        self.query_params = dict(params)
        self._reset_stats()

    def search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        if self.n == 0:
            from harness.errors import VecbenchError

            raise VecbenchError("search() called before build()")
        queries = check_data(queries, self.kind, "queries", dim=self.dim)
        k = check_k(k, self.n)
        return self._search(queries, k)

    def index_bytes(self) -> int:
        total = 0
        for arr in self._owned_arrays():
            if isinstance(arr, SetData):
                total += arr.nbytes
            elif arr is not None:
                total += int(arr.nbytes)
        return total

    def warmup(self, sample: VectorData) -> None:  # noqa: B027 - optional hook
        """Default: nothing to compile."""

    def query_stats(self) -> dict[str, float]:
        return {}

    # ---- for subclasses
    @abstractmethod
    def _build(self, data: VectorData) -> None:
        """Index checked data."""

    @abstractmethod
    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Search checked queries; k is already validated against n."""

    def _owned_arrays(self) -> list[Any]:
        return []

    def _reset_stats(self) -> None:  # noqa: B027 - optional hook
        """Reset query counters (called by ``set_query_params``)."""
