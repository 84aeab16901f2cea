"""``sorted-norm``: exact euclidean k-NN that skips items by their norms.

The reverse triangle inequality bounds every distance from below by a norm gap,
``| |x| - |q| | <= |x - q|``. The index keeps the vectors sorted by norm; a query starts at
its own norm and scans outwards, one block of items at a time, always on the side with the
smaller gap, and stops once both gaps exceed its current k-th distance: no item left can be
nearer. Distances are computed in float64 and ties are broken by id, so results are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, InvalidInputError, Param

FORMAT_VERSION = 1


class SortedNormIndex(BaseIndex):
    """Exact euclidean index over vectors sorted by norm (see the module docstring).

    :param metric: only ``"euclidean"``.
    :param block_size: items whose distances are computed in one step.
    """

    def __init__(self, metric: str, block_size: int = 64) -> None:
        if metric != "euclidean":
            raise InvalidInputError(
                f"sorted-norm supports only the euclidean metric, not {metric!r}: its "
                "pruning bound is the triangle inequality of the euclidean norm")
        super().__init__(metric, block_size=block_size)
        self.block_size = int(block_size)
        self._vectors = np.zeros((0, 0), np.float32)  # sorted by norm
        self._norms = np.zeros(0)                      # ascending
        self._ids = np.zeros(0, np.int64)              # original id of each sorted row
        self._alive = np.zeros(0, bool)                # by original id
        self._allowed_sorted = np.zeros(0, bool)       # allowed rows of the current search
        self._distance_computations = 0

    # ------------------------------------------------------------------ contract
    def _build(self, data: np.ndarray) -> None:
        norms = np.linalg.norm(data.astype(np.float64), axis=1)
        order = np.argsort(norms, kind="stable")
        self._vectors = np.ascontiguousarray(data[order])
        self._norms = norms[order]
        self._ids = order.astype(np.int64)
        self._alive = np.ones(len(data), dtype=bool)

    def search(self, queries: Any, k: int, filter: Any = None
               ) -> tuple[np.ndarray, np.ndarray | None]:
        """k nearest ids among the live items, or among ``filter`` (bool mask of length n)."""
        allowed = self._alive
        if filter is not None:
            mask = np.asarray(filter)
            if mask.dtype != bool or mask.shape != (self.n,):
                raise InvalidInputError(
                    f"filter must be a boolean mask of length {self.n}, got dtype "
                    f"{mask.dtype} and shape {mask.shape}")
            allowed = allowed & mask
        self._allowed_sorted = allowed[self._ids]
        return super().search(queries, k)

    def _search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        dists = np.full((len(queries), k), np.inf)
        for row, query in enumerate(queries.astype(np.float64)):
            ids[row], dists[row] = self._search_one(query, k)
        return ids, dists

    def _search_one(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        n, step = len(self._norms), self.block_size
        q_norm = float(np.linalg.norm(query))
        lo = hi = int(np.searchsorted(self._norms, q_norm))  # rows [lo, hi) are scanned
        best_ids = np.full(k, -1, dtype=np.int64)
        best_d = np.full(k, np.inf)
        while lo > 0 or hi < n:
            gap_lo = q_norm - self._norms[lo - 1] if lo > 0 else np.inf
            gap_hi = self._norms[hi] - q_norm if hi < n else np.inf
            if min(gap_lo, gap_hi) > best_d[-1]:
                break  # every item left is farther than the k-th found
            if gap_lo <= gap_hi:
                rows = np.arange(max(0, lo - step), lo)
                lo = int(rows[0])
            else:
                rows = np.arange(hi, min(n, hi + step))
                hi = int(rows[-1]) + 1
            rows = rows[self._allowed_sorted[rows]]
            if len(rows) == 0:
                continue
            diff = self._vectors[rows].astype(np.float64) - query
            d = np.sqrt(np.einsum("ij,ij->i", diff, diff))
            self._distance_computations += len(rows)
            all_ids = np.concatenate([best_ids, self._ids[rows]])
            all_d = np.concatenate([best_d, d])
            keep = np.lexsort((np.where(all_ids < 0, np.iinfo(np.int64).max, all_ids),
                               all_d))[:k]
            best_ids, best_d = all_ids[keep], all_d[keep]
        return best_ids, best_d

    # ------------------------------------------------------------------ capabilities
    def delete(self, ids: Any) -> None:
        """Remove ``ids`` from all later results."""
        ids = np.asarray(ids)
        if ids.size and (not np.issubdtype(ids.dtype, np.integer)
                         or ids.min() < 0 or ids.max() >= self.n):
            raise InvalidInputError(f"delete: ids must be integers in 0..{self.n - 1}")
        self._alive[ids] = False

    def save(self, path: str | Path) -> None:
        """Write the index to one ``.npz`` file (no pickle)."""
        with open(path, "wb") as fh:
            np.savez(fh, format_version=FORMAT_VERSION, vectors=self._vectors,
                     norms=self._norms, ids=self._ids, alive=self._alive)

    def load(self, path: str | Path) -> None:
        """Read an index written by :meth:`save` into this (empty) index."""
        with np.load(path, allow_pickle=False) as z:
            if int(z["format_version"]) != FORMAT_VERSION:
                raise InvalidInputError(f"{path}: unknown format version {z['format_version']}")
            self._vectors, self._norms = z["vectors"], z["norms"]
            self._ids, self._alive = z["ids"], z["alive"]
        self.n, self.dim = self._vectors.shape

    # ------------------------------------------------------------------ reporting
    def query_stats(self) -> dict[str, float]:
        return {"distance_computations": float(self._distance_computations)}

    def _reset_stats(self) -> None:
        self._distance_computations = 0

    def _owned_arrays(self) -> list[Any]:
        return [self._vectors, self._norms, self._ids, self._alive]


SORTED_NORM = IndexInfo(
    name="sorted-norm",
    factory=SortedNormIndex,
    capabilities=IndexCapabilities(metrics=frozenset({"euclidean"}), exact=True,
                                   filter=True, delete=True, save_load=True),
    build_params=(Param("block_size", 64, int, "items whose distances are computed per step",
                        low=1),),
    build_grid={"block_size": [16, 64, 256]},
    description="exact euclidean k-NN, pruned by the norm gap (reverse triangle inequality)",
)
