"""Pure functions behind the measures of the ``attack`` task (definitions: docs/attacks.md).

Exact neighbours and ranks in float64 through the metric plugin, the median 1-NN distance
that budgets are relative to, perturbation statistics, and the running worst case over
budgets that keeps robust accuracy from rising with the budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import InvalidInputError
from harness.metrics import BoundMetric
from plugins._attack_norms import row_norms

#: query rows per block of the exact searches (bounds the (block, n_train) distance matrix)
BLOCK = 256


def median_nn_distance(x: np.ndarray, train: np.ndarray, norm: str) -> float:
    """Median over the rows of ``x`` of the distance to the nearest row of ``train``,
    measured in ``norm`` (``"l2"`` or ``"linf"``).

    Rows that coincide with a row of ``train`` (distance 0) are left out, since a relative
    budget of them would be meaningless; if every row coincides the data cannot scale a
    budget and an error is raised.
    """
    from scipy.spatial.distance import cdist

    kind = {"l2": "euclidean", "linf": "chebyshev"}.get(norm)
    if kind is None:
        raise InvalidInputError(f"unknown norm {norm!r}; known: ['linf', 'l2']")
    best = np.empty(len(x))
    for s in range(0, len(x), BLOCK):
        best[s:s + BLOCK] = cdist(x[s:s + BLOCK], train, kind).min(axis=1)
    positive = best[best > 0]
    if len(positive) == 0:
        raise InvalidInputError("every attacked input coincides with a base vector: the median "
                                "1-NN distance is 0, so relative budgets are undefined; give "
                                "absolute budgets (eps_abs)")
    return float(np.median(positive))


@dataclass
class ExactAnswer:
    """Exact k-NN of some queries, and the rank of chosen items in their full rankings."""

    ids: np.ndarray
    distances: np.ndarray
    ranks: np.ndarray | None = None


def exact_knn(metric: BoundMetric, queries: np.ndarray, train: np.ndarray, k: int,
              items: np.ndarray | None = None) -> ExactAnswer:
    """Exact top-``k`` by ``metric`` in float64, ties broken by the smaller id.

    :param items: optional one item id per query; ``ranks[i]`` is then the number of base
        vectors strictly nearer to ``queries[i]`` than ``items[i]`` (0: it ranks first).
    """
    n = len(queries)
    k = int(min(k, len(train)))
    ids = np.empty((n, k), dtype=np.int64)
    dists = np.empty((n, k))
    ranks = None if items is None else np.empty(n, dtype=np.int64)
    for s in range(0, n, BLOCK):
        d = metric.pairwise(queries[s:s + BLOCK], train)
        part = np.argpartition(d, k - 1, axis=1)[:, :k] if k < d.shape[1] else \
            np.tile(np.arange(d.shape[1]), (len(d), 1))
        # widen to every id tied with the k-th distance, then order by (distance, id)
        kth = np.take_along_axis(d, part, axis=1).max(axis=1)
        for r in range(len(d)):
            pool = np.flatnonzero(d[r] <= kth[r])
            order = np.lexsort((pool, d[r, pool]))[:k]
            ids[s + r] = pool[order]
            dists[s + r] = d[r, pool[order]]
        if ranks is not None and items is not None:
            own = d[np.arange(len(d)), items[s:s + BLOCK]]
            ranks[s:s + BLOCK] = (d < own[:, None]).sum(axis=1)
    return ExactAnswer(ids, dists, ranks)


def distances_of(metric: BoundMetric, queries: np.ndarray, train: np.ndarray,
                 ids: np.ndarray) -> np.ndarray:
    """``d(queries[i], train[ids[i, j]])`` in float64; ``inf`` where ``ids`` is -1."""
    out = np.full(ids.shape, np.inf)
    valid = ids >= 0
    if valid.any():
        rows, cols = np.nonzero(valid)
        out[rows, cols] = metric.rowwise(queries[rows], train[ids[rows, cols]])
    return out


def perturbation_stats(delta: np.ndarray, mask: np.ndarray,
                       scale: dict[str, float]) -> dict[str, float | None]:
    """Mean and median of ``||delta||`` (l2 and linf) over the rows where ``mask`` holds,
    absolute and divided by ``scale[norm]`` (the median 1-NN distance in that norm).
    ``None`` when no row is selected."""
    out: dict[str, float | None] = {}
    for norm in ("l2", "linf"):
        values = row_norms(delta[mask], norm) if mask.any() else np.zeros(0)
        for stat, fn in (("mean", np.mean), ("median", np.median)):
            value = float(fn(values)) if len(values) else None
            out[f"perturbation_{norm}_{stat}"] = value
            out[f"perturbation_{norm}_{stat}_rel"] = (
                None if value is None else value / scale[norm])
    return out


@dataclass
class WorstCase:
    """Running worst case over budgets, fed in increasing order of the budget.

    An input is *robust at eps* when its clean decision is correct and no budget up to eps
    (among those fed so far) changed that. The robust accuracy so reported never rises.
    """

    clean_correct: np.ndarray
    ever_flipped: np.ndarray = field(init=False)
    ever_success: np.ndarray = field(init=False)
    budgets: int = 0

    def __post_init__(self) -> None:
        self.ever_flipped = np.zeros(len(self.clean_correct), dtype=bool)
        self.ever_success = np.zeros(len(self.clean_correct), dtype=bool)

    def update(self, flipped: np.ndarray, success: np.ndarray) -> np.ndarray:
        """Add one budget's outcome; return the robust flags up to it."""
        self.ever_flipped |= flipped
        self.ever_success |= success
        self.budgets += 1
        return self.clean_correct & ~self.ever_flipped


def fraction(values: np.ndarray, mask: np.ndarray | None = None) -> float | None:
    """Mean of a boolean array (over ``mask``); ``None`` when nothing is selected."""
    v = np.asarray(values, dtype=bool)
    if mask is not None:
        v = v[np.asarray(mask, dtype=bool)]
    return float(v.mean()) if len(v) else None


def as_float(value: Any) -> float | None:
    """A JSON-safe measure value: finite float or None."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
