"""Non-metric measures over probability vectors: Kullback-Leibler and Jensen-Shannon.

- ``kl``: ``KL(x ‖ y) = Σ x log(x / y)`` from the query ``x`` to the item ``y`` (natural log;
  ``0 log 0 = 0``; ``inf`` where ``x_k > 0 = y_k``). Not symmetric, no triangle inequality.
- ``js``: ``JS(x, y) = ½ KL(x ‖ m) + ½ KL(y ‖ m)``, ``m = (x + y) / 2``, in ``[0, log 2]``.
  Symmetric, no triangle inequality.
- ``js-distance``: ``sqrt(JS)``, which is a metric (Endres & Schindelin 2003); it is
  ``scipy.spatial.distance.jensenshannon``.

Inputs are dense non-negative rows, meant to be probability vectors; they are used as given
(no renormalisation), so the functions are the generalised forms of scipy's ``rel_entr``. The
optional parameter ``eps`` smooths both sides first: ``(x + eps) / (1 + d eps)``. Distances
are computed directly per pair (no matrix-product shortcut), so ``d(x, x) = 0`` exactly.

Gradients are d/dx of the divergence of the query ``x`` to ``y`` in ``R^d`` (project on
``Σ dx = 0`` to stay on the simplex): ``log(x / y) + 1`` for ``kl``, ``½ log(x / m)`` for ``js``,
and ``log(x / m) / (4 sqrt(JS))`` for ``js-distance`` (0 where JS = 0). Where ``x_k = 0`` the
divergence is not differentiable and the gradient entry is ``-inf`` (unless ``y_k = 0`` too:
0); smooth with ``eps`` to keep gradients finite.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from harness import (
    BaseIndex,
    DataKind,
    Dataset,
    DatasetInfo,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    MetricInfo,
    Param,
    hookimpl,
)
from harness.metrics import check_metric_inputs
from harness.types import VectorData


def _prob(x: Any, y: Any, name: str, eps: float, same_rows: bool = False
          ) -> tuple[np.ndarray, np.ndarray]:
    a, b = check_metric_inputs(x, y, DataKind.DENSE, same_rows=same_rows,
                               owner=f"metric {name!r}")
    for arr, what in ((a, "X"), (b, "Y")):
        if arr.size and arr.min() < 0:
            raise InvalidInputError(
                f"metric {name!r}: {what} has negative entries (minimum {arr.min()!r}); "
                "divergences take non-negative (probability) vectors")
    if eps < 0:
        raise InvalidInputError(f"metric {name!r}: eps must be >= 0, got {eps!r}")
    if eps > 0:
        d = a.shape[1]
        a = (a + eps) / (1.0 + d * eps)
        b = (b + eps) / (1.0 + d * eps)
    return a, b


@numba.njit(cache=True)
def _xlogx_over(x: float, y: float) -> float:
    """``x log(x / y)`` with ``0 log(0 / y) = 0`` and ``x log(x / 0) = inf``."""
    if x == 0.0:
        return 0.0
    if y == 0.0:
        return np.inf
    return x * np.log(x / y)


@numba.njit(cache=True)
def _kl_pairwise(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            s = 0.0
            for k in range(x.shape[1]):
                s += _xlogx_over(x[i, k], y[j, k])
            out[i, j] = s


@numba.njit(cache=True)
def _js_pair(x: np.ndarray, y: np.ndarray) -> float:
    s = 0.0
    for k in range(x.shape[0]):
        m = 0.5 * (x[k] + y[k])
        s += _xlogx_over(x[k], m) + _xlogx_over(y[k], m)
    return max(0.5 * s, 0.0)


@numba.njit(cache=True)
def _js_pairwise(x: np.ndarray, y: np.ndarray, out: np.ndarray) -> None:
    for i in range(x.shape[0]):
        for j in range(y.shape[0]):
            out[i, j] = _js_pair(x[i], y[j])


def _kl_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty(len(x))
    for i in range(len(x)):
        out[i] = _kl_row(x[i], y[i])
    return out


@numba.njit(cache=True)
def _kl_row(x: np.ndarray, y: np.ndarray) -> float:
    s = 0.0
    for k in range(x.shape[0]):
        s += _xlogx_over(x[k], y[k])
    return s


def _js_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.array([_js_pair(x[i], y[i]) for i in range(len(x))], dtype=np.float64)


def _log_ratio(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log(x / y)`` with 0 where both are 0, ``-inf`` where only x is 0, ``inf`` if y is."""
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.log(x) - np.log(y)
    out[(x == 0) & (y == 0)] = 0.0
    return out


# --------------------------------------------------------------------------- public functions


def kl_pairwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """``KL(X[i] ‖ Y[j])`` for every pair, float64 (len(X), len(Y))."""
    x, y = _prob(X, Y, "kl", eps)
    out = np.empty((len(x), len(y)))
    _kl_pairwise(x, y, out)
    return out


def kl_rowwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """``KL(X[i] ‖ Y[i])``."""
    return _kl_rows(*_prob(X, Y, "kl", eps, True))


def kl_gradient(Q: Any, X: Any, eps: float = 0.0) -> np.ndarray:
    """d/dq ``KL(q ‖ x)`` = ``log(q / x) + 1`` (times the smoothing factor when eps > 0)."""
    q, x = _prob(Q, X, "kl", eps, True)
    grad = _log_ratio(q, x) + 1.0
    grad[(q == 0) & (x == 0)] = 0.0
    return grad / (1.0 + q.shape[1] * eps)


def js_pairwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """Jensen-Shannon divergence for every pair (natural log, in [0, log 2])."""
    x, y = _prob(X, Y, "js", eps)
    out = np.empty((len(x), len(y)))
    _js_pairwise(x, y, out)
    return out


def js_rowwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """``JS(X[i], Y[i])``."""
    return _js_rows(*_prob(X, Y, "js", eps, True))


def js_gradient(Q: Any, X: Any, eps: float = 0.0) -> np.ndarray:
    """d/dq ``JS(q, x)`` = ``½ log(q / m)``, ``m = (q + x) / 2``."""
    q, x = _prob(Q, X, "js", eps, True)
    return 0.5 * _log_ratio(q, 0.5 * (q + x)) / (1.0 + q.shape[1] * eps)


def js_distance_pairwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """``sqrt(JS)`` for every pair (scipy's ``jensenshannon``, natural log)."""
    x, y = _prob(X, Y, "js-distance", eps)
    out = np.empty((len(x), len(y)))
    _js_pairwise(x, y, out)
    return np.sqrt(out, out=out)


def js_distance_rowwise(X: Any, Y: Any, eps: float = 0.0) -> np.ndarray:
    """``sqrt(JS(X[i], Y[i]))``."""
    return np.sqrt(_js_rows(*_prob(X, Y, "js-distance", eps, True)))


def js_distance_gradient(Q: Any, X: Any, eps: float = 0.0) -> np.ndarray:
    """``½ log(q / m) / (2 sqrt(JS))``; 0 where JS = 0."""
    q, x = _prob(Q, X, "js-distance", eps, True)
    dist = np.sqrt(_js_rows(q, x))
    half = 0.5 * _log_ratio(q, 0.5 * (q + x)) / (1.0 + q.shape[1] * eps)
    safe = np.where(dist > 0, dist, 1.0)[:, None]
    return np.where((dist > 0)[:, None], half / (2.0 * safe), 0.0)


def normalize_rows(X: Any) -> np.ndarray:
    """Non-negative rows scaled to sum 1 (float64); a clear error for negative or zero rows."""
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        raise InvalidInputError(f"expected a 2-D array, got shape {x.shape}")
    if x.size and x.min() < 0:
        raise InvalidInputError("histograms must be non-negative")
    sums = x.sum(axis=1, keepdims=True)
    if np.any(sums <= 0):
        raise InvalidInputError(f"{int((sums <= 0).sum())} rows sum to 0: no distribution")
    return x / sums


_EPS = Param("eps", 0.0, float, low=0.0,
             help="smoothing added to every entry before renormalising (0: none)")

METRICS = (
    MetricInfo("kl", kl_pairwise, kl_rowwise, gradient=kl_gradient, triangle_inequality=False,
               symmetric=False, aliases=("kullback-leibler",), params=(_EPS,),
               domain="probability",
               description="KL(x ‖ y) = Σ x log(x/y), query to item (not symmetric)"),
    MetricInfo("js", js_pairwise, js_rowwise, gradient=js_gradient, triangle_inequality=False,
               aliases=("jensen-shannon",), params=(_EPS,), domain="probability",
               description="Jensen-Shannon divergence, in [0, log 2] (not a metric)"),
    MetricInfo("js-distance", js_distance_pairwise, js_distance_rowwise,
               gradient=js_distance_gradient, params=(_EPS,), domain="probability",
               description="sqrt of the Jensen-Shannon divergence (a metric)"),
)


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``kl``, ``js`` and ``js-distance``."""
    for info in METRICS:
        register(info)


# --------------------------------------------------------------------------- exact scan index


class DivergenceScan(BaseIndex):
    """Exact k-NN by a blocked scan with the metric's own ``pairwise`` (any dense metric).

    Ties are broken by the smaller id. Needs neither symmetry nor the triangle inequality.
    """

    def __init__(self, metric: str = "js", block: int = 256, **params: Any) -> None:
        from harness.metrics import get_metric

        super().__init__(metric, block=block, **params)
        self.bound = get_metric(metric)
        if self.bound.data_kind is not DataKind.DENSE:
            raise InvalidInputError(f"divergence-scan takes dense metrics, not {metric!r}")
        self.block = int(block)
        self.data: np.ndarray | None = None

    def _build(self, data: VectorData) -> None:
        self.data = np.asarray(data)

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray]:
        assert self.data is not None
        q = np.asarray(queries)
        ids = np.empty((len(q), k), dtype=np.int64)
        dist = np.empty((len(q), k))
        for s in range(0, len(q), self.block):
            block = self.bound.pairwise(q[s:s + self.block], self.data)
            order = np.argsort(block, axis=1, kind="stable")[:, :k]
            ids[s:s + self.block] = order
            dist[s:s + self.block] = np.take_along_axis(block, order, axis=1)
        return ids, dist

    def _owned_arrays(self) -> list[Any]:
        return [self.data]


@hookimpl
def register_indexes(register: Any) -> None:
    """Register ``divergence-scan``."""
    register(IndexInfo(
        name="divergence-scan", factory=DivergenceScan,
        capabilities=IndexCapabilities(
            metrics=frozenset({"kl", "js", "js-distance", "euclidean", "manhattan"}),
            exact=True),
        build_params=(Param("block", 256, int, low=1, help="queries per block"),),
        description="exact blocked scan with the metric's own pairwise (non-metric measures)"))


# --------------------------------------------------------------------------- datasets

_TOPICS = r"topics-(?P<n>\d+)x(?P<d>\d+)"
#: Topics of the ``topics-*`` generator, and the Dirichlet concentrations.
N_TOPICS, WORD_ALPHA, DOC_ALPHA = 20, 0.1, 0.3


def make_topics(name: str, _data_dir: Any = None) -> Dataset:
    """Seeded topic mixtures: ``theta @ phi`` with Dirichlet topics and document weights."""
    import re

    from plugins.datasets import n_queries_for, name_seed

    m = re.fullmatch(_TOPICS, name)
    if m is None:
        raise InvalidInputError(f"dataset name {name!r} does not match 'topics-{{n}}x{{d}}'")
    n, d = int(m["n"]), int(m["d"])
    if n < 2 or d < 2:
        raise InvalidInputError(f"dataset {name!r}: need n >= 2 and d >= 2")
    rng_topics, rng_train, rng_test = (
        np.random.default_rng(s) for s in np.random.SeedSequence(name_seed(name)).spawn(3))
    phi = rng_topics.dirichlet(np.full(d, WORD_ALPHA), size=N_TOPICS)
    phi = 0.99 * phi + 0.01 / d  # every word has some mass: KL stays finite

    def docs(rng: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        theta = rng.dirichlet(np.full(N_TOPICS, DOC_ALPHA), size=count)
        x = theta @ phi
        return (x / x.sum(axis=1, keepdims=True)).astype(np.float32), theta.argmax(1)

    train, train_labels = docs(rng_train, n)
    test, test_labels = docs(rng_test, n_queries_for(n))
    return Dataset(name=name, metric="js", kind=DataKind.DENSE, train=train, test=test,
                   train_labels=train_labels, test_labels=test_labels,
                   meta={"generator": "topics", "seed": name_seed(name), "topics": N_TOPICS})


def load_digits_hist(data_dir: Any = None) -> Dataset:
    """scikit-learn's digits, each image's intensities normalised to sum 1 (metric js)."""
    from plugins.datasets import load_digits_dataset

    ds = load_digits_dataset(data_dir)
    return Dataset(name="digits-hist", metric="js", kind=DataKind.DENSE,
                   train=normalize_rows(ds.train).astype(np.float32),
                   test=normalize_rows(ds.test).astype(np.float32),
                   train_labels=ds.train_labels, test_labels=ds.test_labels,
                   meta={**ds.meta, "normalised": "rows sum to 1"})


def _topics_info(name: str) -> DatasetInfo:
    import re

    from plugins.datasets import n_queries_for

    m = re.fullmatch(_TOPICS, name)
    if m is None:
        raise InvalidInputError(f"dataset name {name!r} does not match 'topics-{{n}}x{{d}}'")
    n, d = int(m["n"]), int(m["d"])
    from functools import partial

    return DatasetInfo(
        name=name, load=partial(make_topics, name), metric="js", n_train=n,
        n_test=n_queries_for(n), dim=d, available=lambda _data_dir: None,
        description=f"synthetic topic mixtures, {n} x {d}, {N_TOPICS} topics; metric js",
        source="generated by vecbench", license="CC0-1.0")


@hookimpl
def register_datasets(register: Any) -> None:
    """Register ``topics-{n}x{d}`` and ``digits-hist``."""
    register(DatasetInfo(
        name="topics-{n}x{d}", load=None, metric="js", available=lambda _data_dir: None,
        description="synthetic topic-mixture family (probability vectors); e.g. "
                    "topics-20000x64", source="generated by vecbench", license="CC0-1.0",
        pattern=_TOPICS, make=_topics_info))
    register(DatasetInfo(
        name="digits-hist", load=load_digits_hist, metric="js", n_train=1597, n_test=200,
        dim=64, available=lambda _data_dir: None,
        description="scikit-learn digits as normalised intensity histograms; metric js",
        source="scikit-learn load_digits",
        license="BSD-3-Clause (scikit-learn); UCI data CC BY 4.0"))
