"""In-house spectral clustering: vecbench's reference, built on its metric and index plugins.

The textbook pipeline (von Luxburg, "A tutorial on spectral clustering", 2007):

1. a similarity graph of the points (:mod:`plugins._spectral_graph`): a k-NN graph found with
   any index plugin (symmetrised or mutual), an epsilon graph, or the full graph, weighted by
   a kernel of any metric plugin's distance;
2. a graph Laplacian (unnormalised, symmetric or random-walk) and its smallest eigenvectors
   (:mod:`plugins._spectral_eigen`), dense for small components and sparse (Lanczos,
   shift-invert or LOBPCG) for large ones; with ``n_clusters=-1`` the eigengap heuristic
   picks the number of clusters;
3. labels from the embedding (:mod:`plugins._spectral_assign`): the in-house seeded k-means on
   the row-normalised embedding (optionally after PCA), Yu & Shi's discretisation, cluster
   QR, or DBSCAN.

``SpectralClustering(n_clusters=2).fit_predict(X)`` returns the labels; the fitted object
keeps the affinity, the eigenvalues, the embedding, the number of connected components and
the seconds of each stage.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from harness.errors import InvalidInputError
from harness.metrics import get_metric
from harness.validation import check_dense
from plugins._spectral_assign import (
    ASSIGN,
    assign_kmeans,
    cluster_qr,
    dbscan,
    discretize,
    normalize_rows,
    pca,
)
from plugins._spectral_eigen import LAPLACIANS, SOLVERS, Embedding, eigengap, embed
from plugins._spectral_graph import (
    AFFINITIES,
    SYMMETRIZE,
    epsilon_graph,
    full_graph,
    knn_graph,
    knn_table,
    mst_longest_edge,
    resolve_kernel,
)

__all__ = ["SpectralClustering", "spectral_clustering"]


def _choice(value: Any, name: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidInputError(f"spectral: {name} must be one of {list(allowed)}, got "
                                f"{value!r}")
    return str(value)


def _integer(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"spectral: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not math.isfinite(value) or value < 0:
        raise InvalidInputError(f"spectral: {name} must be a finite number >= 0 (0: automatic),"
                                f" got {value!r}")
    return float(value)


class SpectralClustering:
    """Spectral clustering with every choice of the textbook pipeline as a parameter.

    :param n_clusters: number of clusters; -1 estimates it by the eigengap heuristic (up to
        ``max_clusters``).
    :param affinity: ``knn`` (default), ``mutual-knn``, ``epsilon``, ``full``, or
        ``precomputed`` (``X`` is then the symmetric non-negative affinity itself).
    :param metric: any metric spec of a metric plugin (``euclidean``, ``manhattan``,
        ``minkowski:p=3``, ``cosine``, ``correlation``, ...).
    :param n_neighbors: neighbours of the k-NN graphs, the point itself included when
        ``include_self`` (scikit-learn's convention, so the default links each point to its
        9 nearest others).
    :param include_self: count the point as one of its own ``n_neighbors``.
    :param symmetrize: ``mean`` (0.5 (C + C^T), as scikit-learn) or ``max`` for ``knn``.
    :param kernel: edge weights: ``auto`` (``connectivity`` for graphs, ``gaussian`` for the
        full graph), ``connectivity``, ``gaussian``, ``self-tuning``, ``clip``, ``shift``.
    :param sigma: scale of the gaussian kernel; 0 = automatic (mean distance to the k-th
        neighbour, or mean edge length of the epsilon graph).
    :param local_scale: neighbour rank of the self-tuning scales (7, Zelnik-Manor & Perona).
    :param epsilon: radius of the epsilon graph; 0 = the longest edge of a minimum spanning
        tree (the smallest radius keeping the graph connected).
    :param index: index plugin that finds the k-NN graph (``bruteforce`` is exact).
    :param index_params: its parameters as ``"name=value,..."`` (build or query).
    :param laplacian: ``random_walk`` (default, Shi & Malik), ``symmetric`` (Ng, Jordan &
        Weiss) or ``unnormalized``.
    :param eigen_solver: ``auto``, ``dense``, ``arpack``, ``shift-invert`` or ``lobpcg``.
    :param assign: ``kmeans`` (default), ``discretize``, ``cluster_qr`` or ``dbscan``.
    :param normalize_rows: scale the embedding's rows to unit length before k-means / DBSCAN.
    :param pca_components: project the embedding on this many principal axes first (0: no).
    :param n_init: k-means restarts.
    :param max_iter: k-means iterations per restart.
    :param dbscan_eps: DBSCAN radius in the (row-normalised) embedding.
    :param dbscan_min_samples: DBSCAN core-point threshold.
    :param max_clusters: largest number of clusters the eigengap heuristic considers.
    :param seed: seed of the eigen-solver's start vectors and of the assignment.
    """

    def __init__(self, n_clusters: int = 2, *, affinity: str = "knn", metric: str = "euclidean",
                 n_neighbors: int = 10, include_self: bool = True, symmetrize: str = "mean",
                 kernel: str = "auto", sigma: float = 0.0, local_scale: int = 7,
                 epsilon: float = 0.0, index: str = "bruteforce", index_params: str = "",
                 laplacian: str = "random_walk", eigen_solver: str = "auto",
                 assign: str = "kmeans", normalize_rows: bool = True, pca_components: int = 0,
                 n_init: int = 10, max_iter: int = 300, dbscan_eps: float = 0.3,
                 dbscan_min_samples: int = 10, max_clusters: int = 20, seed: int = 0,
                 registry: Any = None) -> None:
        if isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) \
                or (n_clusters < 1 and n_clusters != -1):
            raise InvalidInputError(f"spectral: n_clusters must be a positive integer, or -1 "
                                    f"for the eigengap estimate; got {n_clusters!r}")
        self.n_clusters = int(n_clusters)
        self.affinity = _choice(affinity, "affinity", (*AFFINITIES, "precomputed"))
        self.metric = metric
        self.n_neighbors = _integer(n_neighbors, "n_neighbors", 1)
        self.include_self = bool(include_self)
        if self.include_self and self.n_neighbors < 2 and affinity in ("knn", "mutual-knn"):
            raise InvalidInputError("spectral: with include_self, n_neighbors must be >= 2 "
                                    "(the point itself is one of them)")
        self.symmetrize = _choice(symmetrize, "symmetrize", SYMMETRIZE)
        self.kernel = kernel
        self.sigma = _number(sigma, "sigma")
        self.local_scale = _integer(local_scale, "local_scale", 1)
        self.epsilon = _number(epsilon, "epsilon")
        self.index = index
        self.index_params = index_params
        self.laplacian = _choice(laplacian, "laplacian", LAPLACIANS)
        self.eigen_solver = _choice(eigen_solver, "eigen_solver", SOLVERS)
        self.assign = _choice(assign, "assign", ASSIGN)
        self.normalize_rows = bool(normalize_rows)
        self.pca_components = _integer(pca_components, "pca_components", 0)
        self.n_init = _integer(n_init, "n_init", 1)
        self.max_iter = _integer(max_iter, "max_iter", 1)
        self.dbscan_eps = _number(dbscan_eps, "dbscan_eps")
        self.dbscan_min_samples = _integer(dbscan_min_samples, "dbscan_min_samples", 1)
        self.max_clusters = _integer(max_clusters, "max_clusters", 1)
        self.seed = int(seed)
        self.registry = registry
        self.affinity_matrix_: sp.csr_matrix | None = None
        self.embedding_: Embedding | None = None
        self.labels_: np.ndarray | None = None
        self.n_clusters_: int | None = None
        self.timings_: dict[str, float] = {}

    # ------------------------------------------------------------------ graph
    def affinity_of(self, x: Any) -> sp.csr_matrix:
        """The similarity graph of the rows of ``x`` (CSR, symmetric, no self-loops)."""
        if self.affinity == "precomputed":
            return sp.csr_matrix(x) if sp.issparse(x) else sp.csr_matrix(np.asarray(x))
        data = check_dense(x, "spectral clustering data", dtype=np.float64)
        if len(data) < 2:
            raise InvalidInputError("spectral clustering data: needs at least 2 points")
        metric = get_metric(self.metric, self.registry)
        kernel = resolve_kernel(self.kernel, self.affinity, metric)
        if self.affinity in ("knn", "mutual-knn"):
            links = self.n_neighbors - 1 if self.include_self else self.n_neighbors
            if links > len(data) - 1:
                raise InvalidInputError(
                    f"spectral: n_neighbors={self.n_neighbors} needs at least {links + 1} "
                    f"points, got {len(data)}")
            depth = max(links, self.local_scale) if kernel == "self-tuning" else links
            table = knn_table(data, min(depth, len(data) - 1), metric, index=self.index,
                              index_params=self.index_params, registry=self.registry)
            return knn_graph(table, n_edges=links, mutual=self.affinity == "mutual-knn",
                             symmetrize=self.symmetrize, kernel=kernel, sigma=self.sigma,
                             local_scale=self.local_scale)
        if self.affinity == "epsilon":
            eps = self.epsilon or mst_longest_edge(data, metric, self.registry)
            if eps <= 0:
                raise InvalidInputError("spectral: every point coincides; the epsilon graph "
                                        "has no scale")
            return epsilon_graph(data, eps, metric, kernel=kernel, sigma=self.sigma,
                                 local_scale=self.local_scale, registry=self.registry)
        return full_graph(data, metric, kernel=kernel, sigma=self.sigma,
                          n_neighbors=self.n_neighbors, local_scale=self.local_scale,
                          registry=self.registry)

    # ------------------------------------------------------------------ fitting
    def fit(self, x: Any) -> SpectralClustering:
        """Build the graph, solve the eigenproblem and assign labels (see the class doc)."""
        t0 = time.perf_counter()
        graph = self.affinity_of(x)
        t1 = time.perf_counter()
        n = graph.shape[0]
        if self.n_clusters == -1:
            n_eigen = min(self.max_clusters + 1, n)
        else:
            if self.n_clusters > n:
                raise InvalidInputError(f"spectral: n_clusters={self.n_clusters} is more than "
                                        f"the {n} points")
            n_eigen = min(self.n_clusters + 1, n)
        emb = embed(graph, n_eigen, kind=self.laplacian, solver=self.eigen_solver,
                    seed=self.seed)
        t2 = time.perf_counter()
        k = (eigengap(emb.eigenvalues, self.max_clusters) if self.n_clusters == -1
             else self.n_clusters)
        self.labels_ = self.assign_labels(emb.vectors[:, :k], k)
        t3 = time.perf_counter()
        self.affinity_matrix_ = graph
        self.embedding_ = emb
        self.n_clusters_ = k
        self.timings_ = {"graph_seconds": t1 - t0, "eigen_seconds": t2 - t1,
                         "assign_seconds": t3 - t2}
        return self

    def assign_labels(self, vectors: np.ndarray, n_clusters: int) -> np.ndarray:
        """Labels from the first ``n_clusters`` eigenvectors (the pipeline's last stage)."""
        u = vectors[:, :n_clusters]
        if self.assign == "discretize":
            return discretize(u, n_clusters, seed=self.seed)
        if self.assign == "cluster_qr":
            return cluster_qr(u, n_clusters)
        if self.normalize_rows:
            u = normalize_rows(u)
        if self.pca_components:
            u = pca(u, min(self.pca_components, u.shape[1]))
        if self.assign == "dbscan":
            return dbscan(u, self.dbscan_eps, self.dbscan_min_samples)
        return assign_kmeans(u, n_clusters, n_init=self.n_init, max_iter=self.max_iter,
                             seed=self.seed)

    def fit_predict(self, x: Any) -> np.ndarray:
        """Fit and return the labels (int64, one per row; -1 = DBSCAN noise)."""
        labels = self.fit(x).labels_
        assert labels is not None
        return labels

    @property
    def eigenvalues_(self) -> np.ndarray:
        """The smallest Laplacian eigenvalues computed (ascending)."""
        if self.embedding_ is None:
            raise InvalidInputError("spectral: call fit() first")
        return self.embedding_.eigenvalues


def spectral_clustering(x: Any, n_clusters: int = 2, **params: Any) -> np.ndarray:
    """Labels of :class:`SpectralClustering` with these parameters (a functional shortcut)."""
    return SpectralClustering(n_clusters, **params).fit_predict(x)
