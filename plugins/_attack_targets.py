"""Targets the built-in attacks can attack: what they perturb inputs against.

Every target follows :class:`harness.AttackTarget` (``predict`` logits, ``loss_gradient``,
``class_gradient``) and adds ``decide(x)``: the decision the attack is judged by, one class
per row. Three targets are built in:

- :class:`SoftmaxClassifier`, a multinomial logistic regression trained in numpy/scipy
  (:func:`train_softmax`, the objective of scikit-learn's ``LogisticRegression``).
- :class:`SoftKNNClassifier`, a soft k-NN over an index: class logits
  ``z_c = log sum_{j in N(x), y_j = c} exp(-d(x, x_j) / T)`` over the index's ``M`` nearest
  neighbours ``N(x)``, gradient through the metric plugin's gradient. It *decides* by the
  real index's hard k-NN vote, so the surrogate only guides the attack.
- :class:`RetrievalTarget`, the ranking itself: every database item is a class with logit
  ``-d(x, x_j) / T`` (the index's ``M`` nearest items; ``-inf`` for the rest), the label of a
  query is its clean exact top-k (column 0, the top-1, is the reference class), the loss is
  ``-log`` of the softmax mass on the clean top-k (ascending it pushes the clean top-k out of
  the results) and the decision is the index's top-1 id.

Labels are class ids (n,), or for the retrieval target id sets (n, m) whose column 0 is the
reference class. :func:`decisions` and :func:`is_adversarial` judge any target, including
third-party ones with only ``predict`` (argmax). :class:`CountingTarget` counts the rows
each method saw (gradient evaluations, predictions, decisions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness.errors import InvalidInputError
from harness.metrics import BoundMetric

# --------------------------------------------------------------------------- helpers


@runtime_checkable
class Decider(Protocol):
    """A target with its own decision rule (otherwise the argmax of ``predict`` decides)."""

    def decide(self, x: np.ndarray) -> np.ndarray:
        """One class id per row of ``x``."""


def reference_labels(y: np.ndarray) -> np.ndarray:
    """The reference class of each row: ``y`` itself, or column 0 of an id-set label."""
    y = np.asarray(y)
    return y if y.ndim == 1 else y[:, 0]


def decisions(target: Any, x: np.ndarray) -> np.ndarray:
    """The target's decision per row: ``target.decide(x)`` or the argmax of its logits."""
    if isinstance(target, Decider):
        return np.asarray(target.decide(x))
    return np.argmax(np.asarray(target.predict(x)), axis=1)


def is_adversarial(target: Any, x: np.ndarray, y: np.ndarray, targeted: bool) -> np.ndarray:
    """Boolean per row: untargeted, the decision differs from the reference label;
    targeted, it equals the target label."""
    d = decisions(target, x)
    ref = reference_labels(y)
    return d == ref if targeted else d != ref


def softmax(z: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable under large logits; ``-inf`` logits get probability 0."""
    z = np.asarray(z, dtype=np.float64)
    top = np.max(z, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    e = np.exp(z - top)
    return e / e.sum(axis=1, keepdims=True)


def logsumexp_rows(z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``log sum exp`` of each row over the entries where ``mask`` holds (``-inf`` if none)."""
    zz = np.where(mask, z, -np.inf)
    top = np.max(zz, axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(zz - safe[:, None]).sum(axis=1)) + safe


def _check_x(x: Any, dim: int, owner: str) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise InvalidInputError(f"{owner}: inputs must have shape (n, {dim}), got {arr.shape}")
    return arr


def _check_labels(y: Any, n: int, n_classes: int, owner: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidInputError(f"{owner}: labels must be {n} integers, got shape {arr.shape} "
                                f"and dtype {arr.dtype}")
    if len(arr) and (arr.min() < 0 or arr.max() >= n_classes):
        raise InvalidInputError(f"{owner}: labels must lie in [0, {n_classes}), got "
                                f"[{arr.min()}, {arr.max()}]")
    return arr.astype(np.int64)


# --------------------------------------------------------------------------- softmax


@dataclass(frozen=True)
class SoftmaxClassifier:
    """Linear softmax classifier: logits ``x @ weights + bias``.

    :param weights: (d, C) float64.
    :param bias: (C,) float64.
    """

    weights: np.ndarray
    bias: np.ndarray

    @property
    def n_classes(self) -> int:
        return int(self.weights.shape[1])

    @property
    def dim(self) -> int:
        return int(self.weights.shape[0])

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (n, C)."""
        return _check_x(x, self.dim, "softmax target") @ self.weights + self.bias

    def loss_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d/dx of the cross-entropy ``-log softmax(z)_y``: ``(p - onehot(y)) @ W.T``."""
        x = _check_x(x, self.dim, "softmax target")
        y = _check_labels(y, len(x), self.n_classes, "softmax target")
        p = softmax(x @ self.weights + self.bias)
        p[np.arange(len(x)), y] -= 1.0
        return p @ self.weights.T

    def class_gradient(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """d/dx of logit ``label[i]`` at ``x[i]``: column ``label[i]`` of the weights."""
        x = _check_x(x, self.dim, "softmax target")
        label = _check_labels(label, len(x), self.n_classes, "softmax target")
        return self.weights[:, label].T.copy()

    def decide(self, x: np.ndarray) -> np.ndarray:
        """The most likely class."""
        return np.argmax(self.predict(x), axis=1)


def train_softmax(x: Any, y: Any, *, C: float = 1.0, max_iter: int = 200,
                  tol: float = 1e-8) -> SoftmaxClassifier:
    """Fit multinomial logistic regression by Newton-CG (scipy), deterministically.

    Minimises ``C * sum_i CE(x_i, y_i) + ||W||^2 / 2`` (the intercept is not penalised),
    scikit-learn's ``LogisticRegression(C=C)`` objective, from zero weights, with exact
    Hessian-vector products; ``tol`` is scipy's ``xtol``.

    :param y: integer labels 0..C-1, every class present.
    :raises InvalidInputError: bad shapes, NaN, labels not 0..n_classes-1, C <= 0.
    """
    from scipy.optimize import minimize

    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0 or not np.isfinite(x).all():
        raise InvalidInputError(f"train_softmax: x must be a finite non-empty 2-D array, got "
                                f"shape {x.shape}")
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
        raise InvalidInputError(f"train_softmax: y must be {len(x)} integer labels")
    if not (isinstance(C, (int, float)) and C > 0):
        raise InvalidInputError(f"train_softmax: C must be > 0, got {C!r}")
    n_classes = int(y.max()) + 1 if len(y) else 0
    present = np.unique(y)
    if n_classes < 2 or y.min() < 0 or len(present) != n_classes:
        raise InvalidInputError("train_softmax: labels must be 0..n_classes-1 with every class "
                                f"present and at least 2 classes; got classes {present[:20]}")
    n, d = x.shape
    onehot = np.zeros((n, n_classes))
    onehot[np.arange(n), y] = 1.0
    # the objective divided by C * n: the same minimiser, a tolerance independent of n and C
    scale = 1.0 / (C * n)
    split = d * n_classes
    memo: dict[str, Any] = {}

    def probabilities(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if memo.get("theta") is not None and np.array_equal(memo["theta"], theta):
            return memo["z"], memo["lse"], memo["p"]
        z = x @ theta[:split].reshape(d, n_classes) + theta[split:]
        top = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - top).sum(axis=1)) + top[:, 0]
        p = np.exp(z - lse[:, None])
        memo.update(theta=theta.copy(), z=z, lse=lse, p=p)
        return z, lse, p

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w = theta[:split].reshape(d, n_classes)
        z, lse, p = probabilities(theta)
        loss = float(np.sum(lse - (z * onehot).sum(axis=1))) / n \
            + 0.5 * scale * float(np.sum(w * w))
        r = (p - onehot) / n
        return loss, np.concatenate([(x.T @ r + scale * w).ravel(), r.sum(axis=0)])

    def hessian_times(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        p = probabilities(theta)[2]
        vw = v[:split].reshape(d, n_classes)
        zd = x @ vw + v[split:]
        r = (p * zd - p * (p * zd).sum(axis=1, keepdims=True)) / n
        return np.concatenate([(x.T @ r + scale * vw).ravel(), r.sum(axis=0)])

    res = minimize(objective, np.zeros(split + n_classes), jac=True, hessp=hessian_times,
                   method="Newton-CG", options={"maxiter": int(max_iter), "xtol": tol})
    theta = res.x
    return SoftmaxClassifier(theta[:split].reshape(d, n_classes).copy(), theta[split:].copy())


# --------------------------------------------------------------------------- index-backed


class _IndexBacked:
    """Shared machinery: neighbours from the index, distances and gradients from the metric."""

    def __init__(self, index: Any, train: np.ndarray, metric: BoundMetric, *,
                 temperature: float, candidates: int, owner: str) -> None:
        if not metric.has_gradient:
            raise InvalidInputError(
                f"{owner}: metric {metric.name!r} has no gradient; gradient attacks need a "
                "dense metric that provides one")
        if not (np.isfinite(temperature) and temperature > 0):
            raise InvalidInputError(f"{owner}: temperature must be > 0, got {temperature!r}")
        if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) \
                or candidates < 1:
            raise InvalidInputError(f"{owner}: candidates must be an integer >= 1, got "
                                    f"{candidates!r}")
        self.index = index
        self.train = np.ascontiguousarray(train, dtype=np.float64)
        self.metric = metric
        self.temperature = float(temperature)
        self.candidates = int(min(candidates, len(self.train)))
        self.owner = owner
        #: rows sent to ``index.search`` so far
        self.index_queries = 0

    @property
    def dim(self) -> int:
        return int(self.train.shape[1])

    def search(self, x: np.ndarray, k: int) -> np.ndarray:
        """The index's top-``k`` ids of each row (int64, -1 where none)."""
        from harness.runner import validate_ids

        k = int(min(k, len(self.train)))
        raw = self.index.search(np.ascontiguousarray(x, dtype=np.float32), k)
        self.index_queries += len(x)
        return validate_ids(raw, len(x), k, len(self.train))

    def distances(self, x: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """``d(x[i], train[ids[i, j]])`` (float64; +inf where ``ids`` is -1)."""
        n, m = ids.shape
        out = np.full((n, m), np.inf)
        valid = ids >= 0
        if valid.any():
            rows, cols = np.nonzero(valid)
            out[rows, cols] = self.metric.rowwise(x[rows], self.train[ids[rows, cols]])
        return out

    def weighted_gradient(self, x: np.ndarray, ids: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``sum_j w[i, j] * grad_x d(x[i], train[ids[i, j]])`` per row (zero weights skipped)."""
        out = np.zeros_like(x)
        use = (ids >= 0) & (w != 0)
        if use.any():
            rows, cols = np.nonzero(use)  # rows come out sorted: sum each run of equal rows
            g = self.metric.gradient(x[rows], self.train[ids[rows, cols]])
            g *= w[rows, cols][:, None]
            first, starts = np.unique(rows, return_index=True)
            out[first] = np.add.reduceat(g, starts, axis=0)
        return out


class SoftKNNClassifier(_IndexBacked):
    """Soft k-NN classifier over an index (see the module docstring).

    :param index: a built index over ``train`` (``search(x, k) -> (ids, distances)``).
    :param train: the indexed vectors (n, d).
    :param labels: class of every indexed vector, integers 0..C-1.
    :param metric: the bound metric the index searches by (it must have a gradient).
    :param k: neighbours of the hard vote that decides.
    :param temperature: ``T`` of the soft logits, in distance units.
    :param candidates: ``M``, neighbours the soft logits are taken over (at least ``k``).
    """

    def __init__(self, index: Any, train: np.ndarray, labels: np.ndarray, metric: BoundMetric,
                 *, k: int, temperature: float, candidates: int = 50) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise InvalidInputError(f"soft-knn target: k must be an integer >= 1, got {k!r}")
        super().__init__(index, train, metric, temperature=temperature,
                         candidates=max(candidates, k), owner="soft-knn target")
        labels = np.asarray(labels)
        if labels.shape != (len(self.train),) or not np.issubdtype(labels.dtype, np.integer) \
                or labels.min() < 0:
            raise InvalidInputError("soft-knn target: labels must be one non-negative integer "
                                    "per indexed vector")
        self.labels = labels.astype(np.int64)
        self.n_classes = int(self.labels.max()) + 1
        self.k = int(min(k, len(self.train)))

    def _soft(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Candidate ids, their classes, scaled scores ``-d/T`` and the class logits."""
        ids = self.search(x, self.candidates)
        s = -self.distances(x, ids) / self.temperature
        cls = np.where(ids >= 0, self.labels[np.maximum(ids, 0)], -1)
        z = np.full((len(x), self.n_classes), -np.inf)
        for c in np.unique(cls[cls >= 0]):
            z[:, c] = logsumexp_rows(s, cls == c)
        return ids, cls, s, z

    def _within_class(self, cls: np.ndarray, s: np.ndarray, z: np.ndarray) -> np.ndarray:
        """``pi_{j|c}``: each candidate's softmax weight within its own class."""
        zc = np.take_along_axis(z, np.maximum(cls, 0), axis=1)
        with np.errstate(invalid="ignore"):
            pi = np.exp(s - zc)
        return np.where((cls >= 0) & np.isfinite(s), pi, 0.0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class logits (n, C); ``-inf`` for classes absent from the candidates."""
        return self._soft(_check_x(x, self.dim, self.owner))[3]

    def loss_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d/dx of the cross-entropy of ``softmax(z)`` at labels ``y``."""
        x = _check_x(x, self.dim, self.owner)
        y = _check_labels(y, len(x), self.n_classes, self.owner)
        ids, cls, s, z = self._soft(x)
        p = softmax(z)
        p[np.arange(len(x)), y] -= 1.0  # dCE/dz_c
        coef = np.take_along_axis(p, np.maximum(cls, 0), axis=1)
        # dz_c/dx = -(1/T) sum_{j in c} pi_{j|c} grad d_j
        w = -coef * self._within_class(cls, s, z) / self.temperature
        return self.weighted_gradient(x, ids, w)

    def class_gradient(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """d/dx of logit ``label[i]``; zero where that class has no candidate."""
        x = _check_x(x, self.dim, self.owner)
        label = _check_labels(label, len(x), self.n_classes, self.owner)
        ids, cls, s, z = self._soft(x)
        w = np.where(cls == label[:, None], -self._within_class(cls, s, z) / self.temperature,
                     0.0)
        return self.weighted_gradient(x, ids, w)

    def decide(self, x: np.ndarray) -> np.ndarray:
        """Hard k-NN vote of the index's top-k; a tie goes to the tied class met first."""
        x = _check_x(x, self.dim, self.owner)
        return knn_vote(self.search(x, self.k), self.labels, self.n_classes)


def knn_vote(ids: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Majority class of each row's neighbour ids (-1 ignored); ties go to the class whose
    first neighbour ranks highest. Rows without neighbours get -1."""
    n, k = ids.shape
    counts = np.zeros((n, n_classes), dtype=np.int64)
    first = np.full((n, n_classes), k, dtype=np.int64)
    rows = np.arange(n)
    for j in range(k - 1, -1, -1):
        valid = ids[:, j] >= 0
        c = labels[np.maximum(ids[:, j], 0)]
        np.add.at(counts, (rows[valid], c[valid]), 1)
        first[rows[valid], c[valid]] = j
    score = counts * (k + 1) - first
    out = np.argmax(score, axis=1)
    return np.where(counts.max(axis=1) > 0, out, -1)


class RetrievalTarget(_IndexBacked):
    """The ranking of an index as a target: database items are the classes.

    :param index: a built index over ``train``.
    :param train: the indexed vectors (n, d).
    :param metric: the bound metric the index searches by.
    :param temperature: ``T`` of the logits ``-d/T``, in distance units.
    :param candidates: ``M``, the index's nearest items given finite logits.
    """

    def __init__(self, index: Any, train: np.ndarray, metric: BoundMetric, *,
                 temperature: float, candidates: int = 50) -> None:
        super().__init__(index, train, metric, temperature=temperature,
                         candidates=candidates, owner="retrieval target")
        self.n_classes = len(self.train)

    def _labels(self, y: Any, n: int) -> np.ndarray:
        arr = np.asarray(y)
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2 or len(arr) != n or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"{self.owner}: labels must be item ids, shape ({n},) or "
                                    f"({n}, m), got shape {np.shape(y)}")
        if arr.min() < 0 or arr.max() >= self.n_classes:
            raise InvalidInputError(f"{self.owner}: item ids must lie in [0, "
                                    f"{self.n_classes})")
        return arr.astype(np.int64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits (n, N): ``-d(x, x_j)/T`` for the index's ``M`` nearest items, else ``-inf``."""
        x = _check_x(x, self.dim, self.owner)
        ids = self.search(x, self.candidates)
        s = -self.distances(x, ids) / self.temperature
        z = np.full((len(x), self.n_classes), -np.inf)
        rows, cols = np.nonzero(ids >= 0)
        z[rows, ids[rows, cols]] = s[rows, cols]
        return z

    def loss_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """d/dx of ``-log sum_{c in y[i]} softmax(z)_c`` over the index's ``M`` nearest items
        and the items of ``y[i]`` (which always take part, found by the index or not)."""
        x = _check_x(x, self.dim, self.owner)
        sets = self._labels(y, len(x))
        top = self.search(x, self.candidates)
        # items of the label set already among the candidates are counted once
        dup = (sets[:, :, None] == top[:, None, :]).any(axis=2)
        ids = np.concatenate([top, np.where(dup, -1, sets)], axis=1)
        in_set = np.concatenate([(top[:, :, None] == sets[:, None, :]).any(axis=2),
                                 ~dup], axis=1) & (ids >= 0)
        s = -self.distances(x, ids) / self.temperature
        valid = ids >= 0
        p = np.exp(s - logsumexp_rows(s, valid)[:, None]) * valid
        q = np.exp(s - logsumexp_rows(s, in_set)[:, None]) * in_set
        # loss = lse(all) - lse(set); dz_j/dx = -grad d_j / T
        w = -(p - q) / self.temperature
        return self.weighted_gradient(x, ids, np.where(valid, w, 0.0))

    def class_gradient(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """d/dx of the logit of item ``label[i]``: ``-grad_x d(x, x_label) / T``."""
        x = _check_x(x, self.dim, self.owner)
        label = self._labels(label, len(x))[:, 0]
        return -self.metric.gradient(x, self.train[label]) / self.temperature

    def decide(self, x: np.ndarray) -> np.ndarray:
        """The index's top-1 id."""
        x = _check_x(x, self.dim, self.owner)
        return self.search(x, 1)[:, 0]


# --------------------------------------------------------------------------- counting


class CountingTarget:
    """A proxy that counts what an attack asks of its target.

    ``gradient_rows``: rows of ``loss_gradient`` plus ``class_gradient`` calls (gradient
    evaluations); ``predict_rows`` and ``decide_rows`` likewise. Everything else is passed on.
    """

    def __init__(self, target: Any) -> None:
        self.target = target
        self.gradient_rows = 0
        self.predict_rows = 0
        self.decide_rows = 0

    def _count(self, attr: str, x: np.ndarray) -> None:
        setattr(self, attr, getattr(self, attr) + len(x))

    def predict(self, x: np.ndarray) -> np.ndarray:
        self._count("predict_rows", x)
        return self.target.predict(x)

    def loss_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        self._count("gradient_rows", x)
        return self.target.loss_gradient(x, y)

    def class_gradient(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        self._count("gradient_rows", x)
        return self.target.class_gradient(x, label)

    def decide(self, x: np.ndarray) -> np.ndarray:
        self._count("decide_rows", x)
        return decisions(self.target, x)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)

