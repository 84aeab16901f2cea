"""The choices of the in-house spectral clustering, in a module that imports nothing.

Kept apart so that registering the clusterer plugins (which lists these choices as parameter
values) does not import scipy.
"""

from __future__ import annotations

#: similarity graphs (``precomputed`` is accepted by the class, not by the plugin)
AFFINITIES = ("knn", "mutual-knn", "epsilon", "full")
#: edge weights
KERNELS = ("auto", "connectivity", "gaussian", "self-tuning", "clip", "shift")
#: how the directed k-NN relation becomes a symmetric graph
SYMMETRIZE = ("mean", "max")
#: graph Laplacians
LAPLACIANS = ("random_walk", "symmetric", "unnormalized")
#: eigen-solvers
SOLVERS = ("auto", "dense", "arpack", "shift-invert", "lobpcg")
#: label assignment from the embedding
ASSIGN = ("kmeans", "discretize", "cluster_qr", "dbscan")
