"""Learned Mahalanobis metrics from labels, hard-negative mining through any index plugin,
and the hard-negative contrastive loss of Robinson et al. (ICLR 2021), in numpy.

- ``d_M(x, y) = sqrt((x − y)ᵀ M (x − y))`` with ``M = LᵀL``, i.e. ``|Lx − Ly|₂``: any
  euclidean index over ``transform(X) = X Lᵀ`` serves the learned metric.
- :func:`triplet_loss`: ``mean max(0, margin + |L(a − p)|² − |L(a − n)|²)`` over triplets,
  with its analytic gradient ``(2/T) Σ_active L (u uᵀ − v vᵀ)``, ``u = a − p``, ``v = a − n``.
- :func:`mine_hard_negatives`: for each anchor, its nearest neighbours of other classes,
  found with any registered index plugin (or exactly), under the current metric.
- :func:`hcl_loss`: InfoNCE with importance weights ``exp(beta s / t)`` over the negatives and
  the debiasing prior ``tau_plus`` (clamped at ``N e^(−1/t)``), with analytic gradients with
  respect to the anchor, positive and negative embeddings; ``beta = tau_plus = 0`` is InfoNCE.
- :class:`MahalanobisLearner`: fits ``L`` with either loss (Adam), re-mining hard negatives
  every ``remine_every`` epochs.
- The metric plugin ``learned-mahalanobis:L=@file.npy`` (``L`` saved by
  :meth:`MahalanobisLearner.save`); without ``L`` it is the identity (euclidean).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import DataKind, InvalidInputError, MetricInfo, Param, hookimpl
from harness.metrics import check_dense_float64, check_metric_inputs

# --------------------------------------------------------------------------- the metric


def _check_l(L: Any, dim: int | None = None) -> np.ndarray:
    mat = np.asarray(L, dtype=np.float64)
    if mat.ndim != 2:
        raise InvalidInputError(f"L must be a 2-D (r, d) matrix, got shape {mat.shape}")
    if not np.all(np.isfinite(mat)):
        raise InvalidInputError("L has NaN or infinite entries")
    if dim is not None and mat.shape[1] != dim:
        raise InvalidInputError(
            f"L has {mat.shape[1]} columns but the data has {dim} (no broadcasting)")
    return mat


def mahalanobis_transform(X: Any, L: Any) -> np.ndarray:
    """``X Lᵀ``: the space where the learned metric is euclidean (float64)."""
    x = check_dense_float64(X, "X")
    return x @ _check_l(L, x.shape[1]).T


def _load_l(spec: Any) -> np.ndarray:
    if isinstance(spec, str):
        if not spec.startswith("@"):
            raise InvalidInputError(
                "metric 'learned-mahalanobis': parameter 'L' must be '@path.npy' (a matrix "
                "saved by MahalanobisLearner.save)")
        try:
            return _check_l(np.load(spec[1:], allow_pickle=False))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"metric 'learned-mahalanobis': cannot read {spec[1:]!r}: "
                                    f"{exc}") from None
    return _check_l(spec)


def _pair(X: Any, Y: Any, L: Any, same_rows: bool = False
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    a, b = check_metric_inputs(X, Y, DataKind.DENSE, same_rows=same_rows,
                               owner="metric 'learned-mahalanobis'")
    # no L given: the identity, i.e. plain euclidean (the learner's starting point)
    mat = np.eye(a.shape[1]) if isinstance(L, str) and not L.strip() else _load_l(L)
    _check_l(mat, a.shape[1])
    return a, b, mat


def learned_pairwise(X: Any, Y: Any, L: Any = "") -> np.ndarray:
    """``|L(x − y)|`` for every pair."""
    from plugins.metrics import euclidean_pairwise

    a, b, mat = _pair(X, Y, L)
    return euclidean_pairwise(a @ mat.T, b @ mat.T)


def learned_rowwise(X: Any, Y: Any, L: Any = "") -> np.ndarray:
    """``|L(X[i] − Y[i])|``."""
    a, b, mat = _pair(X, Y, L, True)
    u = (a - b) @ mat.T
    return np.sqrt(np.einsum("ij,ij->i", u, u))


def learned_gradient(Q: Any, X: Any, L: Any = "") -> np.ndarray:
    """``M (q − x) / d``; 0 where d = 0."""
    q, x, mat = _pair(Q, X, L, True)
    u = (q - x) @ mat.T
    dist = np.sqrt(np.einsum("ij,ij->i", u, u))
    grad = u @ mat
    safe = np.where(dist > 0, dist, 1.0)[:, None]
    return np.where((dist > 0)[:, None], grad / safe, 0.0)


def _bind(L: str) -> dict[str, Any]:
    if L.strip():
        _load_l(L)
    return {}


# --------------------------------------------------------------------------- triplet loss


def triplet_loss(L: Any, anchors: Any, positives: Any, negatives: Any, margin: float = 1.0
                 ) -> tuple[float, np.ndarray]:
    """Mean hinge ``max(0, margin + |L(a − p)|² − |L(a − n)|²)`` and its gradient wrt ``L``.

    ``anchors``, ``positives``, ``negatives`` are (T, d) arrays: row t is one triplet.
    """
    mat = _check_l(L)
    a = check_dense_float64(anchors, "anchors", dim=mat.shape[1])
    p = check_dense_float64(positives, "positives", dim=mat.shape[1])
    n = check_dense_float64(negatives, "negatives", dim=mat.shape[1])
    if not len(a) == len(p) == len(n):
        raise InvalidInputError(f"triplets need as many anchors, positives and negatives, got "
                                f"{len(a)}, {len(p)}, {len(n)}")
    u, v = a - p, a - n
    lu, lv = u @ mat.T, v @ mat.T
    slack = margin + np.einsum("ij,ij->i", lu, lu) - np.einsum("ij,ij->i", lv, lv)
    active = slack > 0
    loss = float(np.where(active, slack, 0.0).mean())
    ua, va = u[active], v[active]
    # d/dL |L u|² = 2 L u uᵀ
    grad = 2.0 * (mat @ (ua.T @ ua) - mat @ (va.T @ va)) / len(a)
    return loss, grad


# --------------------------------------------------------------------------- HCL loss


def hcl_weights(sims: Any, beta: float, t: float = 0.5) -> np.ndarray:
    """Importance weights ``exp(beta s_i / t) / mean_j exp(beta s_j / t)`` per row (sum N)."""
    s = np.atleast_2d(np.asarray(sims, dtype=np.float64)) * (beta / t)
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    return e / e.mean(axis=1, keepdims=True)


@dataclass
class HclResult:
    """Loss (mean over anchors) and its gradients with respect to each embedding."""

    loss: float
    grad_anchor: np.ndarray
    grad_positive: np.ndarray
    grad_negatives: np.ndarray
    clamped: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def hcl_loss(anchor: Any, positive: Any, negatives: Any, beta: float = 1.0,
             tau_plus: float = 0.1, t: float = 0.5) -> HclResult:
    """Robinson et al.'s hard-negative contrastive loss, with analytic gradients.

    :param anchor: (B, e) anchor embeddings ``f(x)``.
    :param positive: (B, e) positive embeddings ``f(x+)``.
    :param negatives: (B, N, e) negative embeddings per anchor.
    :param beta: hardness (0: no reweighting). :param tau_plus: class prior (0: no debiasing).
    :param t: temperature. Similarities are dot products ``f(x)·f(y)`` (normalise first for
        cosine similarity).
    """
    a = np.asarray(anchor, dtype=np.float64)
    p = np.asarray(positive, dtype=np.float64)
    neg = np.asarray(negatives, dtype=np.float64)
    if a.ndim != 2 or p.shape != a.shape or neg.ndim != 3 or neg.shape[0] != a.shape[0] \
            or neg.shape[2] != a.shape[1]:
        raise InvalidInputError(
            f"hcl_loss: need anchor (B, e), positive (B, e), negatives (B, N, e); got "
            f"{a.shape}, {p.shape}, {neg.shape}")
    if not 0 <= tau_plus < 1 or t <= 0 or beta < 0:
        raise InvalidInputError(
            f"hcl_loss: need 0 <= tau_plus < 1, t > 0, beta >= 0; got {tau_plus}, {t}, {beta}")
    n_neg = neg.shape[1]
    sp = np.einsum("be,be->b", a, p) / t                     # s+ / t
    sn = np.einsum("bne,be->bn", neg, a) / t                 # s_i / t
    shift = np.maximum(sp, sn.max(axis=1))
    pos = np.exp(sp - shift)
    ng = np.exp(sn - shift[:, None])
    w = hcl_weights(sn * t, beta, t)
    reweighted = (w * ng).sum(axis=1)
    big_ng = (-tau_plus * n_neg * pos + reweighted) / (1.0 - tau_plus)
    floor = n_neg * np.exp(-1.0 / t - shift)
    clamped = big_ng < floor
    big_ng = np.where(clamped, floor, big_ng)
    denom = pos + big_ng
    loss = np.log(denom) - np.log(pos)
    # derivatives with respect to s+/t and s_i/t (the shift cancels in every ratio)
    d_ng_dsp = np.where(clamped, 0.0, -tau_plus * n_neg * pos / (1.0 - tau_plus))
    # R = Σ w_i ng_i with w_i = N e^{beta x_i} / Σ e^{beta x_j}:
    # dR/dx_k = (beta + 1) w_k ng_k − beta (w_k / N) R
    d_r = (beta + 1.0) * w * ng - beta * (w / n_neg) * reweighted[:, None]
    d_ng_dsn = np.where(clamped[:, None], 0.0, d_r / (1.0 - tau_plus))
    g_sp = ((pos + d_ng_dsp) / denom - 1.0) / t
    g_sn = d_ng_dsn / denom[:, None] / t
    b = len(a)
    grad_a = (g_sp[:, None] * p + np.einsum("bn,bne->be", g_sn, neg)) / b
    grad_p = g_sp[:, None] * a / b
    grad_n = g_sn[:, :, None] * a[:, None, :] / b
    return HclResult(float(loss.mean()), grad_a, grad_p, grad_n, clamped)


# --------------------------------------------------------------------------- mining


def mine_hard_negatives(data: Any, labels: Any, n_negatives: int, *, index: str | None = None,
                        build_params: dict[str, Any] | None = None,
                        query_params: dict[str, Any] | None = None, depth: int | None = None,
                        registry: Any = None) -> np.ndarray:
    """For each row, its ``n_negatives`` nearest rows of another class (euclidean).

    :param index: a registered index plugin name searched for ``depth`` neighbours
        (default ``4 n_negatives + 10``); None: exact search.
    :returns: int64 (n, n_negatives), -1 where fewer were found within ``depth``.
    """
    x = check_dense_float64(data, "data")
    y = np.asarray(labels)
    if y.shape != (len(x),):
        raise InvalidInputError(f"labels must have shape ({len(x)},), got {y.shape}")
    if n_negatives < 1:
        raise InvalidInputError(f"n_negatives must be >= 1, got {n_negatives}")
    depth = min(len(x), depth or 4 * n_negatives + 10)
    if index is None:
        from harness.groundtruth import exact_knn

        ids, _ = exact_knn(x.astype(np.float32), x.astype(np.float32), "euclidean", depth)
    else:
        if registry is None:
            from harness.plugins import get_registry

            registry = get_registry()
        info = registry.indexes.get(index)
        idx = info.factory(metric="euclidean", **(build_params or {}))
        idx.build(x.astype(np.float32))
        idx.set_query_params(**(query_params or {}))
        ids, _ = idx.search(x.astype(np.float32), depth)
        ids = np.asarray(ids, dtype=np.int64)
    out = np.full((len(x), n_negatives), -1, dtype=np.int64)
    for i in range(len(x)):
        row = ids[i]
        row = row[(row >= 0)]
        row = row[y[row] != y[i]][:n_negatives]
        out[i, :len(row)] = row
    return out


def mining_fidelity(mined: np.ndarray, exact: np.ndarray) -> float:
    """Mean overlap of two sets of mined negatives (rows compared as sets, -1 ignored)."""
    if mined.shape != exact.shape:
        raise InvalidInputError(f"shapes differ: {mined.shape} vs {exact.shape}")
    scores = []
    for a, b in zip(mined, exact, strict=True):
        want = set(b[b >= 0].tolist())
        if want:
            scores.append(len(want & set(a[a >= 0].tolist())) / len(want))
    return float(np.mean(scores)) if scores else float("nan")


# --------------------------------------------------------------------------- learner


@dataclass
class MahalanobisLearner:
    """Fit ``L`` (hence ``M = LᵀL``) from labels by Adam on a triplet or HCL loss.

    Positives are each anchor's ``k_pos`` nearest same-class rows (target neighbours, under
    the euclidean metric at the start); negatives are mined hard negatives under the current
    metric, through ``mining_index`` (an index plugin name; None: exact).
    """

    loss: str = "triplet"
    margin: float = 1.0
    k_pos: int = 3
    n_negatives: int = 5
    epochs: int = 60
    learning_rate: float = 0.01
    remine_every: int = 10
    beta: float = 1.0
    tau_plus: float = 0.1
    temperature: float = 0.5
    mining_index: str | None = None
    mining_build: dict[str, Any] = field(default_factory=dict)
    mining_query: dict[str, Any] = field(default_factory=dict)
    L: np.ndarray | None = None
    history: list[float] = field(default_factory=list)

    def fit(self, X: Any, labels: Any) -> MahalanobisLearner:
        """Learn ``L`` (d x d, starting at the identity); returns self."""
        if self.loss not in ("triplet", "hcl"):
            raise InvalidInputError(f"loss must be 'triplet' or 'hcl', got {self.loss!r}")
        x = check_dense_float64(X, "X")
        y = np.asarray(labels)
        if y.shape != (len(x),):
            raise InvalidInputError(f"labels must have shape ({len(x)},), got {y.shape}")
        d = x.shape[1]
        mat = np.eye(d) if self.L is None else _check_l(self.L, d).copy()
        pos = self._positives(x, y)
        m1, m2 = np.zeros_like(mat), np.zeros_like(mat)
        negs = None
        self.history = []
        for epoch in range(self.epochs):
            if negs is None or epoch % self.remine_every == 0:
                negs = mine_hard_negatives(x @ mat.T, y, self.n_negatives,
                                           index=self.mining_index,
                                           build_params=self.mining_build,
                                           query_params=self.mining_query)
            loss, grad = self._loss_grad(mat, x, pos, negs)
            self.history.append(loss)
            m1 = 0.9 * m1 + 0.1 * grad
            m2 = 0.999 * m2 + 0.001 * grad * grad
            step = (m1 / (1 - 0.9 ** (epoch + 1))) / (
                np.sqrt(m2 / (1 - 0.999 ** (epoch + 1))) + 1e-8)
            mat = mat - self.learning_rate * step
        self.L = mat
        return self

    def _positives(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        from harness.groundtruth import exact_knn

        out = np.full((len(x), self.k_pos), -1, dtype=np.int64)
        for c in np.unique(y):
            members = np.flatnonzero(y == c)
            if len(members) < 2:
                continue
            depth = min(self.k_pos + 1, len(members))
            ids, _ = exact_knn(x[members].astype(np.float32), x[members].astype(np.float32),
                               "euclidean", depth)
            for row, i in enumerate(members):
                others = members[ids[row][ids[row] != row]][:self.k_pos]
                out[i, :len(others)] = others
        return out

    def _loss_grad(self, mat: np.ndarray, x: np.ndarray, pos: np.ndarray, negs: np.ndarray
                   ) -> tuple[float, np.ndarray]:
        if self.loss == "triplet":
            ai, pi, ni = [], [], []
            for j in range(pos.shape[1]):
                for k in range(negs.shape[1]):
                    ok = (pos[:, j] >= 0) & (negs[:, k] >= 0)
                    rows = np.flatnonzero(ok)
                    ai.append(rows)
                    pi.append(pos[rows, j])
                    ni.append(negs[rows, k])
            a, p, n = (np.concatenate(v) for v in (ai, pi, ni))
            return triplet_loss(mat, x[a], x[p], x[n], self.margin)
        ok = (pos[:, 0] >= 0) & np.all(negs >= 0, axis=1)
        rows = np.flatnonzero(ok)
        e_a, e_p = x[rows] @ mat.T, x[pos[rows, 0]] @ mat.T
        e_n = x[negs[rows]] @ mat.T
        res = hcl_loss(e_a, e_p, e_n, self.beta, self.tau_plus, self.temperature)
        # f = L x, so dℓ/dL = Σ g xᵀ over every embedding
        grad = (res.grad_anchor.T @ x[rows] + res.grad_positive.T @ x[pos[rows, 0]]
                + np.einsum("bne,bnd->ed", res.grad_negatives, x[negs[rows]]))
        return res.loss, grad

    def transform(self, X: Any) -> np.ndarray:
        """``X Lᵀ`` with the fitted ``L``."""
        if self.L is None:
            raise InvalidInputError("MahalanobisLearner.transform() called before fit()")
        return mahalanobis_transform(X, self.L)

    @property
    def mahalanobis_matrix(self) -> np.ndarray:
        """``M = LᵀL`` (positive semi-definite by construction)."""
        if self.L is None:
            raise InvalidInputError("not fitted")
        return self.L.T @ self.L

    def save(self, path: Any) -> str:
        """Save ``L`` as ``.npy``; returns the metric spec ``learned-mahalanobis:L=@path``."""
        if self.L is None:
            raise InvalidInputError("not fitted")
        np.save(path, self.L, allow_pickle=False)
        return f"learned-mahalanobis:L=@{path}"


@hookimpl
def register_metrics(register: Any) -> None:
    """Register ``learned-mahalanobis`` (``L`` from a ``.npy`` file)."""
    register(MetricInfo(
        "learned-mahalanobis", learned_pairwise, learned_rowwise, gradient=learned_gradient,
        params=(Param("L", "", str, help="@path.npy of the (r, d) matrix L, M = LᵀL"),),
        bind=_bind, description="|L(x − y)|₂: Mahalanobis with a learned M = LᵀL"))
