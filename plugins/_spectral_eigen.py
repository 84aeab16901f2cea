"""Graph Laplacians and their smallest eigenvectors, one connected component at a time.

Laplacians (von Luxburg 2007, section 3), for a symmetric non-negative affinity ``A`` without
self-loops and degrees ``d = A 1``:

- ``unnormalized``: ``L = D - A``;
- ``symmetric``: ``L_sym = I - D^-1/2 A D^-1/2`` (Ng, Jordan & Weiss);
- ``random_walk``: ``L_rw = I - D^-1 A`` (Shi & Malik). Its eigenvectors solve
  ``L u = lambda D u``; they are computed as ``u = D^-1/2 v`` from those of ``L_sym``, which
  has the same eigenvalues and is symmetric.

The spectrum of a graph is the union of the spectra of its connected components, so each
component is solved apart and the smallest eigenvalues of all of them are merged. Each
component's smallest eigenvalue is 0 in exact arithmetic, with a known eigenvector (constant
for ``L`` and ``L_rw``, ``D^1/2 1`` for ``L_sym``): it is set exactly, and the other
eigenvectors are made orthogonal to it. Hence a graph with c components has exactly c zero
eigenvalues whatever the solver, and a 0-eigenspace of dimension > 1 (where an iterative
solver would return an arbitrary, possibly incomplete basis) is spanned by the component
indicators. Ties between components are broken by size (largest first), then by the
smallest point index.

Solvers (per component): ``dense`` (LAPACK ``eigh``), ``arpack`` (Lanczos on the largest
eigenvalues of ``c I - L``, ``c`` bounding the spectrum: ``c = 1`` on ``D^-1/2 A D^-1/2`` for
the normalised Laplacians, twice the largest degree for ``L``), ``shift-invert`` (ARPACK on
``(L + s I)^-1``, ``s`` a small positive shift, which needs a sparse LU factorisation and
falls back to ``lobpcg`` when it fails), ``lobpcg`` (with the known 0-eigenvector as a
constraint), and ``auto`` (dense up to :data:`DENSE_MAX` points, else ``arpack``). Starting
vectors come from the seed. Each eigenvector's sign is fixed so that its entry of largest
magnitude is positive.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse import csgraph

from harness.errors import InvalidInputError
from plugins._spectral_options import LAPLACIANS, SOLVERS

__all__ = ["LAPLACIANS", "SOLVERS", "Embedding", "check_affinity", "eigengap", "embed",
           "laplacian"]

#: components up to this many points are solved densely by ``auto``
DENSE_MAX = 500
#: largest component the ``dense`` solver accepts (its matrix is n x n float64)
DENSE_LIMIT = 20_000
#: relative shift of ``shift-invert`` (times the spectrum's upper bound)
SHIFT = 1e-3
#: convergence tolerance of the iterative solvers
TOL = 1e-8
LOBPCG_MAXITER = 2000


@dataclass
class Embedding:
    """Smallest eigenpairs of a graph Laplacian.

    :param vectors: float64 (n, m): eigenvectors of the chosen Laplacian, ascending. For
        ``random_walk`` they are D-orthonormal (``u^T D u = 1``); otherwise orthonormal.
    :param eigenvalues: float64 (m,), ascending; exactly 0 once per connected component.
    :param n_components: number of connected components of the graph.
    :param component_labels: int (n,), the component of each point.
    :param solver: the solver used for the largest component.
    """

    vectors: np.ndarray
    eigenvalues: np.ndarray
    n_components: int
    component_labels: np.ndarray
    solver: str


def check_affinity(a: object, *, tol: float = 1e-10) -> sp.csr_matrix:
    """A square, symmetric, finite, non-negative affinity as float64 CSR without self-loops."""
    if sp.issparse(a):
        mat = sp.csr_matrix(a, dtype=np.float64)
    else:
        arr = np.asarray(a)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise InvalidInputError(f"affinity: dtype {arr.dtype} is not numeric")
        mat = sp.csr_matrix(arr.astype(np.float64))
    if mat.ndim != 2 or mat.shape[0] != mat.shape[1]:
        raise InvalidInputError(f"affinity: must be a square matrix, got shape {mat.shape}")
    if mat.shape[0] == 0:
        raise InvalidInputError("affinity: is empty (0 points)")
    if not np.isfinite(mat.data).all():
        raise InvalidInputError("affinity: contains NaN or inf")
    if (mat.data < 0).any():
        raise InvalidInputError("affinity: has negative entries; similarities must be >= 0 "
                                "(clip cosine similarities at 0, or map s to (1 + s) / 2)")
    diff = abs(mat - mat.T)
    top = float(abs(mat).max()) if mat.nnz else 0.0
    if diff.nnz and float(diff.max()) > tol * max(top, 1.0):
        raise InvalidInputError("affinity: is not symmetric; symmetrise it, e.g. "
                                "0.5 * (A + A.T)")
    mat = mat.copy()
    mat.setdiag(0.0)
    mat.eliminate_zeros()
    return mat


def laplacian(a: object, kind: str = "unnormalized") -> sp.csr_matrix:
    """The Laplacian of an affinity (self-loops ignored; isolated points get a zero row)."""
    if kind not in LAPLACIANS:
        raise InvalidInputError(f"laplacian must be one of {list(LAPLACIANS)}, got {kind!r}")
    mat = check_affinity(a)
    deg = np.asarray(mat.sum(axis=1)).ravel()
    if kind == "unnormalized":
        return sp.csr_matrix(sp.diags(deg) - mat)
    with np.errstate(divide="ignore"):
        inv = np.where(deg > 0, 1.0 / deg, 0.0)
    has_edges = (deg > 0).astype(np.float64)
    if kind == "symmetric":
        half = np.sqrt(inv)
        return sp.csr_matrix(sp.diags(has_edges) - sp.diags(half) @ mat @ sp.diags(half))
    return sp.csr_matrix(sp.diags(has_edges) - sp.diags(inv) @ mat)


def _sign_fix(vectors: np.ndarray) -> np.ndarray:
    """Make the entry of largest magnitude of every column positive."""
    if vectors.size == 0:
        return vectors
    rows = np.argmax(np.abs(vectors), axis=0)
    signs = np.sign(vectors[rows, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def _trivial(deg: np.ndarray, kind: str) -> np.ndarray:
    """The unit 0-eigenvector of a connected component (before the random-walk rescaling)."""
    v = np.ones(len(deg)) if kind == "unnormalized" else np.sqrt(deg)
    return v / np.linalg.norm(v)


def _operator(a: sp.csr_matrix, deg: np.ndarray, kind: str) -> tuple[sp.csr_matrix, float]:
    """The Laplacian to solve (``L`` or ``L_sym``) and an upper bound of its spectrum."""
    if kind == "unnormalized":
        return sp.csr_matrix(sp.diags(deg) - a), 2.0 * float(deg.max())
    half = 1.0 / np.sqrt(deg)
    return sp.csr_matrix(sp.identity(len(deg)) - sp.diags(half) @ a @ sp.diags(half)), 2.0


def _solve(lap: sp.csr_matrix, bound: float, m: int, solver: str, trivial: np.ndarray,
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``m`` smallest eigenpairs of the symmetric PSD ``lap`` (one connected component)."""
    s = lap.shape[0]
    if solver == "dense" or m >= s - 1:
        vals, vecs = la.eigh(lap.toarray(), subset_by_index=[0, m - 1])
        return vals, vecs
    v0 = rng.uniform(-1.0, 1.0, s)
    ncv = min(s, max(2 * m + 1, 20))
    if solver == "arpack":
        # the spectrum of lap lies in [0, bound]: the top of bound I - lap is lap's low end
        shifted = sp.csr_matrix(sp.identity(s) * bound - lap)
        vals, vecs = sla.eigsh(shifted, k=m, which="LA", v0=v0, ncv=ncv, tol=TOL)
        vals = bound - vals
        order = np.argsort(vals, kind="stable")
        return vals[order], vecs[:, order]
    if solver == "shift-invert":
        try:
            vals, vecs = sla.eigsh(lap.tocsc(), k=m, sigma=-SHIFT * bound, which="LM", v0=v0,
                                   ncv=ncv, tol=TOL)
            order = np.argsort(vals, kind="stable")
            return vals[order], vecs[:, order]
        except (RuntimeError, sla.ArpackError):
            solver = "lobpcg"  # a singular or failed factorisation: fall back
    if m == 1:
        return np.zeros(1), trivial[:, None]
    if s < 5 * m:
        vals, vecs = la.eigh(lap.toarray(), subset_by_index=[0, m - 1])
        return vals, vecs
    x0 = rng.standard_normal((s, m - 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        vals, vecs = sla.lobpcg(lap, x0, Y=trivial[:, None], largest=False, tol=TOL,
                                maxiter=LOBPCG_MAXITER)
    order = np.argsort(vals, kind="stable")
    return (np.concatenate([[0.0], vals[order]]),
            np.column_stack([trivial, vecs[:, order]]))


def embed(a: object, n_eigen: int, *, kind: str = "random_walk", solver: str = "auto",
          seed: int = 0) -> Embedding:
    """The ``n_eigen`` smallest eigenpairs of the Laplacian ``kind`` of affinity ``a``."""
    if kind not in LAPLACIANS:
        raise InvalidInputError(f"laplacian must be one of {list(LAPLACIANS)}, got {kind!r}")
    if solver not in SOLVERS:
        raise InvalidInputError(f"eigen_solver must be one of {list(SOLVERS)}, got {solver!r}")
    mat = check_affinity(a)
    n = mat.shape[0]
    if isinstance(n_eigen, bool) or not isinstance(n_eigen, (int, np.integer)) \
            or not 1 <= n_eigen <= n:
        raise InvalidInputError(f"spectral embedding: the number of eigenvectors must be "
                                f"between 1 and the {n} points, got {n_eigen!r}")
    rng = np.random.default_rng(seed)
    n_comp, comp = csgraph.connected_components(mat, directed=False)
    sizes = np.bincount(comp, minlength=n_comp)
    first = np.full(n_comp, n)
    np.minimum.at(first, comp, np.arange(n))
    comp_order = np.lexsort((first, -sizes))  # largest first, then by first point
    perm = np.argsort(comp, kind="stable")
    starts = np.concatenate([[0], np.cumsum(sizes)])
    permuted = sp.csr_matrix(mat[perm][:, perm])
    deg_all = np.asarray(mat.sum(axis=1)).ravel()
    pieces: list[tuple[float, int, int, np.ndarray]] = []  # (value, rank, slot, vector)
    used_solver = "dense"
    for rank, c in enumerate(comp_order):
        lo, hi = int(starts[c]), int(starts[c + 1])
        members = perm[lo:hi]
        size = hi - lo
        m = min(n_eigen, size)
        if size == 1:
            pieces.append((0.0, rank, 0, np.ones(1)))
            continue
        block = sp.csr_matrix(permuted[lo:hi, lo:hi])
        deg = deg_all[members]
        lap, bound = _operator(block, deg, kind)
        trivial = _trivial(deg, kind)
        chosen = solver if solver != "auto" else ("dense" if size <= DENSE_MAX else "arpack")
        if chosen == "dense" and size > DENSE_LIMIT:
            raise InvalidInputError(
                f"eigen_solver 'dense' on a connected component of {size} points needs a "
                f"{size} x {size} matrix (limit {DENSE_LIMIT}); use 'arpack' or 'auto'")
        if rank == 0:
            used_solver = chosen
        vals, vecs = _solve(lap, bound, m, chosen, trivial, rng)
        vecs = np.array(vecs, dtype=np.float64)
        vals = np.maximum(np.array(vals, dtype=np.float64), 0.0)
        vecs[:, 0] = trivial
        vals[0] = 0.0
        if m > 1:  # orthogonalise the rest against the exact 0-eigenvector
            rest = vecs[:, 1:] - np.outer(trivial, trivial @ vecs[:, 1:])
            rest /= np.maximum(np.linalg.norm(rest, axis=0), 1e-300)
            vecs[:, 1:] = rest
        if kind == "random_walk":
            vecs = vecs / np.sqrt(deg)[:, None]
        for j in range(m):
            pieces.append((float(vals[j]), rank, j, vecs[:, j]))
    pieces.sort(key=lambda p: (p[0], p[1], p[2]))
    chosen_pieces = pieces[:n_eigen]
    vectors = np.zeros((n, len(chosen_pieces)))
    ranked_comps = comp_order
    for col, (_, rank, _, vec) in enumerate(chosen_pieces):
        c = ranked_comps[rank]
        members = perm[starts[c]:starts[c + 1]]
        vectors[members, col] = vec
    values = np.array([p[0] for p in chosen_pieces])
    return Embedding(vectors=_sign_fix(vectors), eigenvalues=values, n_components=int(n_comp),
                     component_labels=comp, solver=used_solver)


def eigengap(eigenvalues: np.ndarray, max_clusters: int) -> int:
    """Number of clusters by the eigengap heuristic: the k in 1..max_clusters with the largest
    gap ``lambda_(k+1) - lambda_k`` (the first such k on ties)."""
    vals = np.asarray(eigenvalues, dtype=np.float64)
    top = min(max_clusters, len(vals) - 1)
    if top < 1:
        return 1
    gaps = np.diff(vals[:top + 1])
    return int(np.argmax(gaps)) + 1
