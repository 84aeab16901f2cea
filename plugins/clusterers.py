"""Built-in clusterer plugins: in-house ``spectral`` and ``kmeans``, and wrappers of peers.

- ``spectral``: :class:`plugins.spectral.SpectralClustering` (graph from any metric and index
  plugin, three Laplacians, four eigen-solvers, four assignments).
- ``kmeans``: the in-house seeded k-means (:mod:`plugins._cluster_kmeans`).
- ``sklearn-spectral``: scikit-learn's ``SpectralClustering`` (``nearest_neighbors`` or ``rbf``
  affinity).
- ``sklearn-kmeans``: scikit-learn's ``KMeans`` (Lloyd).
- ``faiss-kmeans``: faiss' ``Kmeans`` (labels from its centroid index).

Every factory takes ``n_clusters``; the ``cluster`` task sets it to the number of classes
of the dataset when a suite leaves it at 0. A ``metric`` of ``""`` means the dataset's
metric (the task fills it in too). Heavy modules (scipy, scikit-learn, faiss, the spectral
pipeline) are imported when a clusterer is created or run, not when plugins are loaded.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import ClustererInfo, InvalidInputError, Param, hookimpl
from plugins._spectral_options import (
    AFFINITIES,
    ASSIGN,
    KERNELS,
    LAPLACIANS,
    SOLVERS,
    SYMMETRIZE,
)

N_CLUSTERS = Param("n_clusters", 0, int, low=-1,
                   help="number of clusters; 0: the number of classes of the dataset (set by "
                        "the cluster task)")
SEED = Param("seed", 0, int, help="seed of every random choice")
N_INIT = Param("n_init", 10, int, low=1, help="k-means restarts (the lowest inertia wins)")
MAX_ITER = Param("max_iter", 300, int, low=1, help="k-means iterations per restart")


def _need_clusters(n_clusters: int, who: str, allow_estimate: bool = False) -> int:
    if n_clusters == -1 and allow_estimate:
        return n_clusters
    if n_clusters < 1:
        extra = ", or -1 for the eigengap estimate" if allow_estimate else ""
        raise InvalidInputError(f"{who}: n_clusters must be set to a positive integer{extra}; "
                                f"got {n_clusters}")
    return n_clusters


# --------------------------------------------------------------------------- in-house


def make_spectral(n_clusters: int = 0, metric: str = "", **params: Any) -> Any:
    """The in-house spectral clusterer (``metric`` "" means euclidean outside the task)."""
    from plugins.spectral import SpectralClustering

    _need_clusters(n_clusters, "spectral", allow_estimate=True)
    return SpectralClustering(n_clusters, metric=metric or "euclidean", **params)


class InHouseKMeans:
    """``fit_predict`` of :func:`plugins._cluster_kmeans.kmeans`."""

    def __init__(self, n_clusters: int = 0, n_init: int = 10, max_iter: int = 300,
                 tol: float = 1e-4, seed: int = 0) -> None:
        self.n_clusters = _need_clusters(n_clusters, "kmeans")
        self.n_init, self.max_iter, self.tol, self.seed = n_init, max_iter, tol, seed
        self.inertia_: float | None = None

    def fit_predict(self, x: Any) -> np.ndarray:
        """Labels of the best of ``n_init`` seeded k-means runs."""
        from plugins._cluster_kmeans import kmeans

        fit = kmeans(x, self.n_clusters, n_init=self.n_init, max_iter=self.max_iter,
                     tol=self.tol, seed=self.seed)
        self.inertia_ = fit.inertia
        return fit.labels


# --------------------------------------------------------------------------- wrappers


class SklearnSpectral:
    """scikit-learn's ``SpectralClustering`` with a seeded ``random_state`` and one job."""

    def __init__(self, n_clusters: int = 0, affinity: str = "nearest_neighbors",
                 n_neighbors: int = 10, gamma: float = 1.0, assign_labels: str = "kmeans",
                 eigen_solver: str = "arpack", n_init: int = 10, seed: int = 0) -> None:
        from sklearn.cluster import SpectralClustering

        self.model = SpectralClustering(
            n_clusters=_need_clusters(n_clusters, "sklearn-spectral"), affinity=affinity,
            n_neighbors=n_neighbors, gamma=gamma, assign_labels=assign_labels,
            eigen_solver=eigen_solver, n_init=n_init, random_state=seed, n_jobs=1)

    def fit_predict(self, x: Any) -> np.ndarray:
        """Labels of scikit-learn's spectral clustering (float64 input)."""
        from harness.validation import check_dense

        data = check_dense(x, "sklearn-spectral data", dtype=np.float64)
        return np.asarray(self.model.fit_predict(data), dtype=np.int64)


class SklearnKMeans:
    """scikit-learn's ``KMeans`` (Lloyd, k-means++ seeding, seeded)."""

    def __init__(self, n_clusters: int = 0, n_init: int = 10, max_iter: int = 300,
                 seed: int = 0) -> None:
        from sklearn.cluster import KMeans

        self.model = KMeans(n_clusters=_need_clusters(n_clusters, "sklearn-kmeans"),
                            n_init=n_init, max_iter=max_iter, random_state=seed,
                            algorithm="lloyd")

    def fit_predict(self, x: Any) -> np.ndarray:
        """Labels of scikit-learn's k-means (float64 input)."""
        from harness.validation import check_dense

        data = check_dense(x, "sklearn-kmeans data", dtype=np.float64)
        return np.asarray(self.model.fit_predict(data), dtype=np.int64)


class FaissKMeans:
    """faiss' ``Kmeans``: ``nredo`` restarts of ``niter`` iterations, seeded."""

    def __init__(self, n_clusters: int = 0, niter: int = 25, nredo: int = 10,
                 max_points_per_centroid: int = 256, seed: int = 0) -> None:
        self.n_clusters = _need_clusters(n_clusters, "faiss-kmeans")
        self.niter, self.nredo, self.seed = niter, nredo, seed
        self.max_points_per_centroid = max_points_per_centroid

    def fit_predict(self, x: Any) -> np.ndarray:
        """Train on ``x`` (float32) and label every row by its nearest centroid."""
        import faiss

        from harness.validation import check_dense

        data = check_dense(x, "faiss-kmeans data")
        if self.n_clusters > len(data):
            raise InvalidInputError(f"faiss-kmeans: n_clusters={self.n_clusters} is more than "
                                    f"the {len(data)} points")
        km = faiss.Kmeans(data.shape[1], self.n_clusters, niter=self.niter, nredo=self.nredo,
                          seed=self.seed, verbose=False,
                          max_points_per_centroid=self.max_points_per_centroid)
        km.train(data)
        _, ids = km.index.search(data, 1)
        return ids[:, 0].astype(np.int64)


# --------------------------------------------------------------------------- registration

SPECTRAL = ClustererInfo(
    name="spectral",
    factory=make_spectral,
    build_params=(
        Param("n_clusters", 0, int, low=-1,
              help="number of clusters; 0: the dataset's number of classes (set by the cluster "
                   "task); -1: eigengap estimate"),
        Param("metric", "", str, help="metric spec of the similarity; '': the dataset's"),
        Param("affinity", "knn", str, choices=AFFINITIES, help="similarity graph"),
        Param("n_neighbors", 10, int, low=1, help="k of the k-NN graph (itself included)"),
        Param("include_self", True, bool, help="count a point among its own n_neighbors"),
        Param("symmetrize", "mean", str, choices=SYMMETRIZE,
              help="k-NN graph: 0.5 (C + C^T) or max(C, C^T)"),
        Param("kernel", "auto", str, choices=KERNELS, help="edge weights"),
        Param("sigma", 0.0, float, low=0.0, help="gaussian scale; 0: automatic"),
        Param("local_scale", 7, int, low=1, help="neighbour rank of self-tuning scales"),
        Param("epsilon", 0.0, float, low=0.0,
              help="epsilon-graph radius; 0: longest minimum-spanning-tree edge"),
        Param("index", "bruteforce", str, help="index plugin that finds the k-NN graph"),
        Param("index_params", "", str, help="its parameters, 'name=value,...'"),
        Param("laplacian", "random_walk", str, choices=LAPLACIANS, help="graph Laplacian"),
        Param("eigen_solver", "auto", str, choices=SOLVERS, help="eigen-solver"),
        Param("assign", "kmeans", str, choices=ASSIGN, help="labels from the embedding"),
        Param("normalize_rows", True, bool, help="unit-length embedding rows"),
        Param("pca_components", 0, int, low=0, help="PCA of the embedding first (0: no)"),
        N_INIT, MAX_ITER,
        Param("dbscan_eps", 0.3, float, low=0.0, help="DBSCAN radius in the embedding"),
        Param("dbscan_min_samples", 10, int, low=1, help="DBSCAN core threshold"),
        Param("max_clusters", 20, int, low=1, help="largest k the eigengap considers"),
        SEED,
    ),
    description="in-house spectral clustering: any metric and index plugin, 3 Laplacians, "
                "dense/Lanczos/shift-invert/LOBPCG, k-means/discretize/cluster QR/DBSCAN",
)

KMEANS = ClustererInfo(
    name="kmeans", factory=InHouseKMeans,
    build_params=(N_CLUSTERS, N_INIT, MAX_ITER,
                  Param("tol", 1e-4, float, low=0.0, help="relative centre-shift tolerance"),
                  SEED),
    description="in-house k-means: greedy k-means++ seeding, Lloyd, best of n_init",
)

SKLEARN_SPECTRAL = ClustererInfo(
    name="sklearn-spectral", factory=SklearnSpectral,
    build_params=(
        N_CLUSTERS,
        Param("affinity", "nearest_neighbors", str, choices=("nearest_neighbors", "rbf"),
              help="scikit-learn affinity"),
        Param("n_neighbors", 10, int, low=1, help="k of the nearest_neighbors graph"),
        Param("gamma", 1.0, float, low=0.0, help="rbf kernel coefficient"),
        Param("assign_labels", "kmeans", str, choices=("kmeans", "discretize", "cluster_qr"),
              help="label assignment"),
        Param("eigen_solver", "arpack", str, choices=("arpack", "lobpcg"), help="eigen-solver"),
        N_INIT, SEED,
    ),
    description="scikit-learn SpectralClustering (peer)", library="scikit-learn",
    requires=("sklearn",), install_hint="pip install scikit-learn",
)

SKLEARN_KMEANS = ClustererInfo(
    name="sklearn-kmeans", factory=SklearnKMeans,
    build_params=(N_CLUSTERS, N_INIT, MAX_ITER, SEED),
    description="scikit-learn KMeans, Lloyd (peer)", library="scikit-learn",
    requires=("sklearn",), install_hint="pip install scikit-learn",
)

FAISS_KMEANS = ClustererInfo(
    name="faiss-kmeans", factory=FaissKMeans,
    build_params=(
        N_CLUSTERS,
        Param("niter", 25, int, low=1, help="iterations per run"),
        Param("nredo", 10, int, low=1, help="runs (the best objective wins)"),
        Param("max_points_per_centroid", 256, int, low=1,
              help="training subsample per centroid (faiss' default)"),
        SEED,
    ),
    description="faiss Kmeans (peer)", library="faiss-cpu", requires=("faiss",),
    install_hint="pip install faiss-cpu",
)

CLUSTERERS = (SPECTRAL, KMEANS, SKLEARN_SPECTRAL, SKLEARN_KMEANS, FAISS_KMEANS)


@hookimpl
def register_clusterers(register: Any) -> None:
    """Register the built-in clusterers."""
    for info in CLUSTERERS:
        register(info)
