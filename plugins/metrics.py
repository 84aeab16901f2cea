"""Built-in metrics: dense (euclidean, sqeuclidean, angular, ip, manhattan, chebyshev,
minkowski, correlation), binary (hamming, hamming-normalized) and sets (jaccard).

Every function upcasts to float64 and returns float64. Conventions (scipy's semantics unless
said otherwise):

- ``angular`` is ``1 − cos`` (as ann-benchmarks), in [0, 2]. A zero vector has no direction:
  its cosine with any non-zero vector is taken as 0 (distance 1, as faiss and hnswlib get by
  normalising it to zero), and two zero vectors are at distance 0, so ``d(x, x) = 0`` holds
  for every x. ``correlation`` is angular on row-centred vectors, with the same convention
  for constant vectors (detected exactly, as ``max == min``).
- ``ip`` is ``−x·y``, so smaller is nearer; it is signed and not a metric.
- ``hamming`` is the COUNT of differing bits of bit-packed uint8 vectors (as faiss and annoy
  return it); ``hamming-normalized`` divides by the number of bits, ``8 × bytes``.
- ``jaccard`` is ``1 − |A∩B| / |A∪B|`` on :class:`SetData`. Two empty sets are at distance 0
  (scipy's convention; it keeps ``d(x, x) = 0`` and the triangle inequality); an empty and a
  non-empty set are at distance 1 (as in ann-benchmarks).
- Gradients are d/dq of ``dist(Q[i], X[i])``. Where the distance is not differentiable they
  return a subgradient: ``sign(0) = 0`` (manhattan, minkowski: no pull along a coordinate that
  already agrees), 0 at ``q = x`` (euclidean, minkowski), the first coordinate of largest
  ``|q − x|`` (chebyshev), and 0 when q or x is a zero vector (angular) or a constant vector
  (correlation), where the distance is constant in the direction of q.

Numerics of the BLAS forms. ``euclidean`` and ``sqeuclidean`` pairwise use
``|x−c|² + |y−c|² − 2 (x−c)·(y−c)`` with c the mean of Y (translation-invariant, and the
centring removes the cancellation a common offset would cause). Wherever the result is below
``TAU × (|x−c|² + |y−c|²)``, it may have lost digits to cancellation, and it is recomputed as
the direct sum of squared differences of the original rows: so near neighbours get full
precision, identical rows get exactly 0, and the rest keep the speed of a matrix product.
``angular`` does the same on unit vectors (``1 − cos = |u − v|² / 2``). Rowwise forms are
always direct.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import DataKind, InvalidInputError, MetricInfo, Param, SetData, hookimpl
from harness.metrics import check_metric_inputs
from plugins import _metric_kernels as kernels

#: Relative threshold below which a BLAS-form squared distance is recomputed directly.
TAU = 1.0 / 32.0

_POPCOUNT8 = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)


def _dense(x: Any, y: Any, name: str, same_rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
    return check_metric_inputs(x, y, DataKind.DENSE, same_rows=same_rows,
                               owner=f"metric {name!r}")


# --------------------------------------------------------------------------- euclidean


def _sq_l2_blas(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Squared euclidean distances, BLAS form on centred data plus exact refinement."""
    centre = y.mean(axis=0)
    xc = x - centre
    yc = y - centre
    xx = np.einsum("ij,ij->i", xc, xc)
    yy = np.einsum("ij,ij->i", yc, yc)
    out = xc @ yc.T
    out *= -2.0
    out += xx[:, None]
    out += yy[None, :]
    kernels.refine_sq_l2(out, x, y, TAU * xx, TAU * yy, 1.0)
    return out


def _sq_l2_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    diff = x - y
    return np.einsum("ij,ij->i", diff, diff)


def sqeuclidean_pairwise(X: Any, Y: Any) -> np.ndarray:
    """Squared euclidean distances, float64 (len(X), len(Y))."""
    return _sq_l2_blas(*_dense(X, Y, "sqeuclidean"))


def sqeuclidean_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``|X[i] − Y[i]|²``."""
    return _sq_l2_rows(*_dense(X, Y, "sqeuclidean", True))


def sqeuclidean_gradient(Q: Any, X: Any) -> np.ndarray:
    """``2 (q − x)``."""
    q, x = _dense(Q, X, "sqeuclidean", True)
    return 2.0 * (q - x)


def euclidean_pairwise(X: Any, Y: Any) -> np.ndarray:
    """Euclidean distances, float64 (len(X), len(Y)); exactly 0 for identical rows."""
    out = _sq_l2_blas(*_dense(X, Y, "euclidean"))
    return np.sqrt(out, out=out)


def euclidean_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``|X[i] − Y[i]|``."""
    return np.sqrt(_sq_l2_rows(*_dense(X, Y, "euclidean", True)))


def _euclidean_grad(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    u = q - x
    norm = np.sqrt(np.einsum("ij,ij->i", u, u))
    safe = np.where(norm > 0, norm, 1.0)
    return np.where((norm > 0)[:, None], u / safe[:, None], 0.0)


def euclidean_gradient(Q: Any, X: Any) -> np.ndarray:
    """``(q − x) / |q − x|``; 0 where q == x."""
    return _euclidean_grad(*_dense(Q, X, "euclidean", True))


# --------------------------------------------------------------------------- angular, correlation


def _unit_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows scaled to unit norm (zero rows stay zero), their norms, and a non-zero mask."""
    scale = np.abs(x).max(axis=1)
    nonzero = scale > 0
    safe = np.where(nonzero, scale, 1.0)[:, None]
    scaled = x / safe  # avoids overflow of the squares for huge entries
    norm = np.sqrt(np.einsum("ij,ij->i", scaled, scaled))
    unit = scaled / np.where(nonzero, norm, 1.0)[:, None]
    return unit, norm * np.where(nonzero, scale, 0.0), nonzero


def _cos_pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ux, _, nzx = _unit_rows(x)
    uy, _, nzy = _unit_rows(y)
    out = ux @ uy.T
    np.subtract(1.0, out, out=out)
    # refine near-parallel pairs (1 − cos <= TAU) as |u − v|² / 2; zero rows never qualify
    half = TAU / 2.0
    kernels.refine_sq_l2(out, ux, uy, np.where(nzx, half, -np.inf),
                         np.where(nzy, half, -np.inf), 0.5)
    if not (nzx.all() and nzy.all()):
        out[np.ix_(~nzx, ~nzy)] = 0.0
    return np.clip(out, 0.0, 2.0, out=out)


def _cos_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    ux, _, nzx = _unit_rows(x)
    uy, _, nzy = _unit_rows(y)
    diff = ux - uy
    out = 0.5 * np.einsum("ij,ij->i", diff, diff)
    out[nzx != nzy] = 1.0
    return np.clip(out, 0.0, 2.0, out=out)


def _cos_grad(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    uq, nq, nzq = _unit_rows(q)
    ux, _, nzx = _unit_rows(x)
    cos = np.einsum("ij,ij->i", uq, ux)
    ok = nzq & nzx
    grad = -(ux - cos[:, None] * uq) / np.where(ok, nq, 1.0)[:, None]
    grad[~ok] = 0.0
    return grad


def angular_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − cos`` for every pair, in [0, 2] (zero vectors: see the module docstring)."""
    return _cos_pairwise(*_dense(X, Y, "angular"))


def angular_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − cos(X[i], Y[i])``."""
    return _cos_rows(*_dense(X, Y, "angular", True))


def angular_gradient(Q: Any, X: Any) -> np.ndarray:
    """``−(x̂ − cos · q̂) / |q|``; 0 if q or x is zero."""
    return _cos_grad(*_dense(Q, X, "angular", True))


def _centre_rows(x: np.ndarray) -> np.ndarray:
    out = x - x.mean(axis=1, keepdims=True)
    out[x.max(axis=1) == x.min(axis=1)] = 0.0  # constant rows centre to exact zeros
    return out


def correlation_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − Pearson correlation`` for every pair (constant rows: see the module docstring)."""
    x, y = _dense(X, Y, "correlation")
    return _cos_pairwise(_centre_rows(x), _centre_rows(y))


def correlation_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − corr(X[i], Y[i])``."""
    x, y = _dense(X, Y, "correlation", True)
    return _cos_rows(_centre_rows(x), _centre_rows(y))


def correlation_gradient(Q: Any, X: Any) -> np.ndarray:
    """Angular gradient of the centred vectors (centring is a projection that fixes it)."""
    q, x = _dense(Q, X, "correlation", True)
    return _cos_grad(_centre_rows(q), _centre_rows(x))


# --------------------------------------------------------------------------- inner product


def ip_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``−x·y`` for every pair."""
    x, y = _dense(X, Y, "ip")
    out = x @ y.T
    return np.negative(out, out=out)


def ip_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``−X[i]·Y[i]``."""
    x, y = _dense(X, Y, "ip", True)
    return -np.einsum("ij,ij->i", x, y)


def ip_gradient(Q: Any, X: Any) -> np.ndarray:
    """``−x``."""
    _, x = _dense(Q, X, "ip", True)
    return -x


# --------------------------------------------------------------------------- minkowski family


def manhattan_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``Σ |x − y|`` for every pair."""
    x, y = _dense(X, Y, "manhattan")
    out = np.empty((len(x), len(y)))
    kernels.pairwise_l1(x, y, out)
    return out


def manhattan_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``Σ |X[i] − Y[i]|``."""
    x, y = _dense(X, Y, "manhattan", True)
    return np.abs(x - y).sum(axis=1)


def manhattan_gradient(Q: Any, X: Any) -> np.ndarray:
    """``sign(q − x)`` with ``sign(0) = 0``."""
    q, x = _dense(Q, X, "manhattan", True)
    return np.sign(q - x)


def chebyshev_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``max |x − y|`` for every pair."""
    x, y = _dense(X, Y, "chebyshev")
    out = np.empty((len(x), len(y)))
    kernels.pairwise_linf(x, y, out)
    return out


def chebyshev_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``max |X[i] − Y[i]|``."""
    x, y = _dense(X, Y, "chebyshev", True)
    return np.abs(x - y).max(axis=1)


def _chebyshev_grad(q: np.ndarray, x: np.ndarray) -> np.ndarray:
    u = q - x
    top = np.abs(u).argmax(axis=1)
    rows = np.arange(len(u))
    grad = np.zeros_like(u)
    grad[rows, top] = np.sign(u[rows, top])
    return grad


def chebyshev_gradient(Q: Any, X: Any) -> np.ndarray:
    """``sign(u_k) e_k`` at the first k of largest ``|u_k|``, ``u = q − x``."""
    return _chebyshev_grad(*_dense(Q, X, "chebyshev", True))


def _check_p(p: Any) -> float:
    p = float(p)
    if not p > 0:
        raise InvalidInputError(f"metric 'minkowski': parameter 'p' must be > 0, got {p!r}")
    return p


def _minkowski_rows(x: np.ndarray, y: np.ndarray, p: float) -> np.ndarray:
    u = np.abs(x - y)
    top = u.max(axis=1)
    if p == np.inf:
        return top
    safe = np.where(top > 0, top, 1.0)
    return top * ((u / safe[:, None]) ** p).sum(axis=1) ** (1.0 / p)


def minkowski_pairwise(X: Any, Y: Any, p: float = 2.0) -> np.ndarray:
    """``(Σ |x − y|^p)^(1/p)`` for every pair; p = inf is chebyshev."""
    p = _check_p(p)
    x, y = _dense(X, Y, "minkowski")
    if p == 2.0:
        out = _sq_l2_blas(x, y)
        return np.sqrt(out, out=out)
    out = np.empty((len(x), len(y)))
    if p == 1.0:
        kernels.pairwise_l1(x, y, out)
    elif p == np.inf:
        kernels.pairwise_linf(x, y, out)
    elif p.is_integer() and p <= 64:
        kernels.pairwise_minkowski(x, y, int(p), out)
    else:
        kernels.pairwise_minkowski(x, y, p, out)
    return out


def minkowski_rowwise(X: Any, Y: Any, p: float = 2.0) -> np.ndarray:
    """``(Σ |X[i] − Y[i]|^p)^(1/p)``."""
    p = _check_p(p)
    return _minkowski_rows(*_dense(X, Y, "minkowski", True), p)


def minkowski_gradient(Q: Any, X: Any, p: float = 2.0) -> np.ndarray:
    """``sign(u) (|u| / d)^(p−1)``, ``u = q − x``; 0 where u_k = 0 or q = x."""
    p = _check_p(p)
    q, x = _dense(Q, X, "minkowski", True)
    if p == np.inf:
        return _chebyshev_grad(q, x)
    u = q - x
    if p == 1.0:
        return np.sign(u)
    dist = _minkowski_rows(q, x, p)
    safe = np.where(dist > 0, dist, 1.0)[:, None]
    ratio = np.abs(u) / safe
    nonzero = ratio > 0
    grad = np.zeros_like(u)
    grad[nonzero] = np.sign(u[nonzero]) * ratio[nonzero] ** (p - 1.0)
    return grad


def _minkowski_bind(p: float) -> dict[str, Any]:
    p = _check_p(p)
    return {"triangle_inequality": p >= 1.0, "blas": "l2" if p == 2.0 else None}


# --------------------------------------------------------------------------- hamming


def _binary(x: Any, y: Any, name: str, same_rows: bool = False
            ) -> tuple[np.ndarray, np.ndarray]:
    return check_metric_inputs(x, y, DataKind.BINARY, same_rows=same_rows,
                               owner=f"metric {name!r}")


def _as_words(x: np.ndarray) -> np.ndarray:
    """Copy packed bytes into zero-padded uint64 words (padding bits never differ)."""
    n, nbytes = x.shape
    words = np.zeros((n, -(-nbytes // 8)), dtype=np.uint64)
    words.view(np.uint8)[:, :nbytes] = x
    return words


def _hamming_pairwise(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    out = np.empty((len(x), len(y)))
    kernels.pairwise_hamming(_as_words(x), _as_words(y), out)
    return out


def _hamming_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return _POPCOUNT8[x ^ y].sum(axis=1).astype(np.float64)


def hamming_pairwise(X: Any, Y: Any) -> np.ndarray:
    """Number of differing bits for every pair of bit-packed uint8 vectors."""
    return _hamming_pairwise(*_binary(X, Y, "hamming"))


def hamming_rowwise(X: Any, Y: Any) -> np.ndarray:
    """Number of differing bits of ``X[i]`` and ``Y[i]``."""
    return _hamming_rows(*_binary(X, Y, "hamming", True))


def hamming_normalized_pairwise(X: Any, Y: Any) -> np.ndarray:
    """Fraction of differing bits (count / (8 × bytes per vector)) for every pair."""
    x, y = _binary(X, Y, "hamming-normalized")
    out = _hamming_pairwise(x, y)
    out /= 8 * x.shape[1]
    return out


def hamming_normalized_rowwise(X: Any, Y: Any) -> np.ndarray:
    """Fraction of differing bits of ``X[i]`` and ``Y[i]``."""
    x, y = _binary(X, Y, "hamming-normalized", True)
    return _hamming_rows(x, y) / (8 * x.shape[1])


# --------------------------------------------------------------------------- jaccard


def _sets(x: Any, y: Any, same_rows: bool = False) -> tuple[SetData, SetData]:
    return check_metric_inputs(x, y, DataKind.SETS, same_rows=same_rows,
                               owner="metric 'jaccard'")


def jaccard_pairwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − |A∩B| / |A∪B|`` for every pair of sets, via an inverted index of ``Y``."""
    x, y = _sets(X, Y)
    x_indptr = np.asarray(x.indptr, dtype=np.int64)
    y_indptr = np.asarray(y.indptr, dtype=np.int64)
    y_sizes = np.diff(y_indptr)
    x_tokens = np.asarray(x.indices, dtype=np.int64)
    y_tokens = np.asarray(y.indices, dtype=np.int64)
    order = np.argsort(y_tokens, kind="stable")
    post_rows = np.repeat(np.arange(len(y), dtype=np.int64), y_sizes)[order]
    sorted_tokens = y_tokens[order]
    is_first = np.ones(len(sorted_tokens), dtype=bool)
    is_first[1:] = sorted_tokens[1:] != sorted_tokens[:-1]
    first = np.flatnonzero(is_first)
    vocab, counts = sorted_tokens[first], np.diff(first, append=len(sorted_tokens))
    post_start = np.zeros(len(x_tokens), dtype=np.int64)
    post_end = np.zeros(len(x_tokens), dtype=np.int64)
    if len(vocab):
        slot = np.minimum(np.searchsorted(vocab, x_tokens), len(vocab) - 1)
        found = vocab[slot] == x_tokens
        post_start[found] = first[slot[found]]
        post_end[found] = post_start[found] + counts[slot[found]]
    out = np.zeros((len(x), len(y)))
    kernels.pairwise_jaccard(x_indptr, np.diff(x_indptr), post_start, post_end, post_rows,
                             y_sizes, out)
    return out


def jaccard_rowwise(X: Any, Y: Any) -> np.ndarray:
    """``1 − |X[i]∩Y[i]| / |X[i]∪Y[i]|``."""
    x, y = _sets(X, Y, True)
    out = np.empty(len(x))
    kernels.rowwise_jaccard(np.asarray(x.indptr, dtype=np.int64),
                            np.asarray(x.indices, dtype=np.int64),
                            np.asarray(y.indptr, dtype=np.int64),
                            np.asarray(y.indices, dtype=np.int64), out)
    return out


# --------------------------------------------------------------------------- registration

METRICS: tuple[MetricInfo, ...] = (
    MetricInfo("euclidean", euclidean_pairwise, euclidean_rowwise, gradient=euclidean_gradient,
               aliases=("l2",), blas="l2", description="|x − y|₂"),
    MetricInfo("sqeuclidean", sqeuclidean_pairwise, sqeuclidean_rowwise,
               gradient=sqeuclidean_gradient, triangle_inequality=False, blas="l2",
               description="|x − y|₂² (ranks as euclidean; not a metric)"),
    MetricInfo("angular", angular_pairwise, angular_rowwise, gradient=angular_gradient,
               triangle_inequality=False, aliases=("cosine",), blas="cos",
               description="1 − cos(x, y), in [0, 2] (ann-benchmarks' angular)"),
    MetricInfo("ip", ip_pairwise, ip_rowwise, gradient=ip_gradient, triangle_inequality=False,
               signed=True, aliases=("inner_product", "dot"), blas="ip",
               description="−x·y: maximum inner product as a distance (signed)"),
    MetricInfo("manhattan", manhattan_pairwise, manhattan_rowwise, gradient=manhattan_gradient,
               aliases=("cityblock", "l1"), description="Σ |x − y|"),
    MetricInfo("chebyshev", chebyshev_pairwise, chebyshev_rowwise, gradient=chebyshev_gradient,
               aliases=("linf",), description="max |x − y|"),
    MetricInfo(
        "minkowski", minkowski_pairwise, minkowski_rowwise, gradient=minkowski_gradient,
        params=(Param("p", 2.0, float, low=0.0,
                      help="exponent, > 0 (inf: chebyshev); a metric only for p >= 1"),),
        bind=_minkowski_bind, description="(Σ |x − y|^p)^(1/p)"),
    MetricInfo("correlation", correlation_pairwise, correlation_rowwise,
               gradient=correlation_gradient, triangle_inequality=False,
               description="1 − Pearson correlation (angular of row-centred vectors)"),
    MetricInfo("hamming", hamming_pairwise, hamming_rowwise, data_kind=DataKind.BINARY,
               description="number of differing bits (bit-packed uint8, LSB first)"),
    MetricInfo("hamming-normalized", hamming_normalized_pairwise, hamming_normalized_rowwise,
               data_kind=DataKind.BINARY, description="fraction of differing bits"),
    MetricInfo("jaccard", jaccard_pairwise, jaccard_rowwise, data_kind=DataKind.SETS,
               description="1 − |A∩B| / |A∪B| on sets; two empty sets: 0"),
)


@hookimpl
def register_metrics(register: Any) -> None:
    """Register the built-in metrics."""
    for info in METRICS:
        register(info)
