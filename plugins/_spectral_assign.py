"""From a spectral embedding to labels: k-means, discretisation, cluster QR, DBSCAN.

- :func:`normalize_rows`: rows scaled to unit length (Ng, Jordan & Weiss); rows of zeros stay.
- :func:`pca`: the embedding projected on its leading principal axes (optional step).
- ``kmeans``: the in-house seeded k-means (:mod:`plugins._cluster_kmeans`).
- :func:`discretize`: Yu & Shi (2003): the one-hot partition matrix closest to a rotation of
  the row-normalised eigenvectors, by alternating a discrete assignment and an orthogonal
  Procrustes rotation; restarted from another seeding row if an SVD fails.
- :func:`cluster_qr`: Damle, Minden & Ying (2019): a column-pivoted QR of the embedding's
  transpose picks k representative rows; the orthogonal polar factor of those rows rotates
  the embedding, and each point takes the column of its largest entry (no parameters, no
  randomness).
- :func:`dbscan`: density-based clusters in the embedding (Ester et al. 1996): core points have
  at least ``min_samples`` points (themselves included) within ``eps``; core points within
  ``eps`` of each other share a cluster; other points within ``eps`` of a core point join the
  cluster of the nearest one; the rest is noise (-1). Pairs come from scipy's KD-tree, so
  memory grows with the number of pairs within ``eps``.

Every method gives the same partition when columns of the embedding change sign.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.linalg as la
import scipy.sparse as sp
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from harness.errors import InvalidInputError
from plugins._cluster_kmeans import kmeans
from plugins._spectral_options import ASSIGN

__all__ = ["ASSIGN", "assign_kmeans", "cluster_qr", "dbscan", "discretize", "normalize_rows",
           "pca"]


def normalize_rows(u: np.ndarray) -> np.ndarray:
    """Rows scaled to unit euclidean length (zero rows stay zero)."""
    norms = np.linalg.norm(u, axis=1)
    return u / np.where(norms > 0, norms, 1.0)[:, None]


def pca(u: np.ndarray, n_components: int) -> np.ndarray:
    """The rows of ``u`` centred and projected on their ``n_components`` leading principal
    axes (signs fixed so that each axis' entry of largest magnitude is positive)."""
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)) \
            or not 1 <= n_components <= u.shape[1]:
        raise InvalidInputError(f"pca_components must be between 1 and the {u.shape[1]} "
                                f"embedding dimensions, got {n_components!r}")
    centred = u - u.mean(axis=0)
    _, _, vt = la.svd(centred, full_matrices=False)
    axes = vt[:n_components]
    top = np.argmax(np.abs(axes), axis=1)
    signs = np.sign(axes[np.arange(len(axes)), top])
    signs[signs == 0] = 1.0
    return centred @ (axes * signs[:, None]).T


def assign_kmeans(u: np.ndarray, n_clusters: int, *, n_init: int = 10, max_iter: int = 300,
                  seed: int = 0) -> np.ndarray:
    """Labels of the in-house k-means on the rows of ``u``."""
    return kmeans(u, n_clusters, n_init=n_init, max_iter=max_iter, seed=seed).labels


def discretize(u: np.ndarray, n_clusters: int, *, seed: int = 0, max_restarts: int = 30,
               max_iter: int = 20) -> np.ndarray:
    """Yu & Shi's discretisation of the first ``n_clusters`` columns of ``u``."""
    v = normalize_rows(u[:, :n_clusters])
    n, k = v.shape
    rng = np.random.default_rng(seed)
    for _ in range(max_restarts):
        rotation = np.zeros((k, k))
        rotation[:, 0] = v[rng.integers(n)]
        closeness = np.zeros(n)
        for j in range(1, k):
            closeness += np.abs(v @ rotation[:, j - 1])
            rotation[:, j] = v[int(np.argmin(closeness))]
        last = 0.0
        try:
            for _ in range(max_iter):
                labels = np.argmax(v @ rotation, axis=1)
                onehot = sp.csr_matrix((np.ones(n), (np.arange(n), labels)), shape=(n, k))
                left, sing, right_t = la.svd(np.asarray(onehot.T @ v))
                score = float(sing.sum())
                rotation = right_t.T @ left.T
                if abs(score - last) < np.finfo(float).eps * max(1.0, score):
                    break
                last = score
            return np.argmax(v @ rotation, axis=1).astype(np.int64)
        except la.LinAlgError:
            continue
    raise InvalidInputError(f"discretize: no SVD converged in {max_restarts} restarts")


def cluster_qr(u: np.ndarray, n_clusters: int) -> np.ndarray:
    """Labels by column-pivoted QR of the first ``n_clusters`` columns of ``u``."""
    v = u[:, :n_clusters]
    _, _, pivots = la.qr(v.T, pivoting=True, mode="economic")
    picked = v[pivots[:n_clusters]]
    left, _, right_t = la.svd(picked.T)
    return np.argmax(np.abs(v @ (left @ right_t)), axis=1).astype(np.int64)


def dbscan(u: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    """DBSCAN labels of the rows of ``u`` (euclidean; -1 = noise; clusters numbered from 0 in
    order of their first core point)."""
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps > 0):
        raise InvalidInputError(f"dbscan: eps must be a positive number, got {eps!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, (int, np.integer)) \
            or min_samples < 1:
        raise InvalidInputError(f"dbscan: min_samples must be a positive integer, got "
                                f"{min_samples!r}")
    n = len(u)
    pairs = cKDTree(u).query_pairs(float(eps), output_type="ndarray")
    i, j = (pairs[:, 0], pairs[:, 1]) if len(pairs) else (np.zeros(0, int), np.zeros(0, int))
    counts = np.bincount(i, minlength=n) + np.bincount(j, minlength=n) + 1
    core = counts >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    both = core[i] & core[j]
    core_ids = np.flatnonzero(core)
    if len(core_ids):
        slot = np.full(n, -1)
        slot[core_ids] = np.arange(len(core_ids))
        graph = sp.csr_matrix((np.ones(int(both.sum())), (slot[i[both]], slot[j[both]])),
                              shape=(len(core_ids), len(core_ids)))
        _, comp = csgraph.connected_components(graph, directed=False)
        _, first = np.unique(comp, return_index=True)
        renumber = np.argsort(np.argsort(first)).astype(np.int64)
        labels[core_ids] = renumber[comp]
    # border points: within eps of a core point, non-core themselves -> nearest core's cluster
    border_i = np.concatenate([i[core[j] & ~core[i]], j[core[i] & ~core[j]]])
    border_c = np.concatenate([j[core[j] & ~core[i]], i[core[i] & ~core[j]]])
    if len(border_i):
        dist = np.linalg.norm(u[border_i] - u[border_c], axis=1)
        order = np.lexsort((border_c, dist, border_i))
        bi, bc = border_i[order], border_c[order]
        first_of = np.concatenate([[True], bi[1:] != bi[:-1]])
        labels[bi[first_of]] = labels[bc[first_of]]
    return labels
