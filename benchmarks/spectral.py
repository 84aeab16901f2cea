"""In-house spectral clustering against scikit-learn's, on a seeded Gaussian mixture.

    python benchmarks/spectral.py [--n 20000 --d 50 --clusters 10 --n-neighbors 10 --reps 1]
    python benchmarks/spectral.py --scale 100000 [--index bruteforce]

The data is ``blobs-{n}x{d}-c{clusters}`` (:mod:`plugins.cluster_datasets`: equally likely
unit-variance clusters with centres drawn from N(0, I), seeded by the name). One process, one
thread for everything (BLAS, OpenMP, numba). Four methods, interleaved repetition by
repetition so a noisy neighbour hurts all alike:

- ``vecbench``: ``SpectralClustering(n_clusters, n_neighbors=10)`` from the points (k-NN graph
  by the ``bruteforce`` index, random-walk Laplacian, Lanczos, k-means on unit rows);
- ``sklearn``: ``sklearn.cluster.SpectralClustering(affinity="nearest_neighbors",
  n_neighbors=10)`` from the points: the same affinity, 0.5 (C + C^T) with the point itself;
- ``vecbench-pre`` / ``sklearn-pre``: both on the same precomputed sparse affinity (the
  in-house k-NN graph), timing the eigen-solver and the assignment alone.

Printed per method: median wall and CPU seconds, the CPU/wall ratio (far below 1: the machine
interfered), ARI against the mixture's classes, and ratios to scikit-learn from the same run.
``--scale N`` runs the in-house method alone on N points and prints its stage timings and the
process' peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pin_one_thread() -> None:
    """BLAS, OpenMP and numba pools to one thread."""
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    numba.set_num_threads(1)
    try:
        import faiss

        faiss.omp_set_num_threads(1)
    except ImportError:
        pass


def mixture(n: int, d: int, clusters: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The seeded ``blobs-{n}x{d}-c{clusters}`` points, their classes and the name."""
    from plugins.cluster_datasets import load_mixture

    name = f"blobs-{n}x{d}-c{clusters}"
    ds = load_mixture(name)
    return np.asarray(ds.train), np.asarray(ds.train_labels), name


def timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of one call."""
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def compare(args: argparse.Namespace) -> int:
    from sklearn.cluster import SpectralClustering as SkSpectral

    from plugins._spectral_scores import adjusted_rand_index
    from plugins.spectral import SpectralClustering

    x, truth, name = mixture(args.n, args.d, args.clusters)
    k, nn = args.clusters, args.n_neighbors
    print(f"data {name}: {len(x)} x {x.shape[1]}, {k} clusters; {nn}-NN graph; one thread")
    SpectralClustering(k, n_neighbors=nn).fit(x[:500])  # compile the kernels (not timed)
    affinity = SpectralClustering(k, n_neighbors=nn).affinity_of(x)
    methods: dict[str, Callable[[], np.ndarray]] = {
        "vecbench": lambda: SpectralClustering(k, n_neighbors=nn, seed=0).fit_predict(x),
        "sklearn": lambda: SkSpectral(k, affinity="nearest_neighbors", n_neighbors=nn,
                                      random_state=0, n_jobs=1).fit_predict(x),
        "vecbench-pre": lambda: SpectralClustering(k, affinity="precomputed",
                                                   seed=0).fit_predict(affinity),
        "sklearn-pre": lambda: SkSpectral(k, affinity="precomputed", random_state=0,
                                          n_jobs=1).fit_predict(affinity),
    }
    order = list(methods)
    if args.skip_sklearn:
        order = [m for m in order if not m.startswith("sklearn")]
    wall: dict[str, list[float]] = {m: [] for m in order}
    cpu: dict[str, list[float]] = {m: [] for m in order}
    ari: dict[str, float] = {}
    for rep in range(args.reps):
        for method in order[rep % len(order):] + order[:rep % len(order)]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                labels, w, c = timed(methods[method])
            wall[method].append(w)
            cpu[method].append(c)
            ari[method] = adjusted_rand_index(truth, labels)
            print(f"  rep {rep + 1} {method:<13} {w:8.2f} s wall {c:8.2f} s cpu  "
                  f"ARI {ari[method]:.4f}", flush=True)
    print(f"\n{'method':<14}{'wall s':>10}{'cpu s':>10}{'cpu/wall':>10}{'ARI':>9}"
          f"{'wall/sklearn':>14}{'cpu/sklearn':>13}")
    for method in order:
        mw, mc = float(np.median(wall[method])), float(np.median(cpu[method]))
        peer = "sklearn-pre" if method.endswith("-pre") else "sklearn"
        rw = rc = "-"
        if peer in wall and peer != method:
            rw = f"{mw / float(np.median(wall[peer])):.3f}"
            rc = f"{mc / float(np.median(cpu[peer])):.3f}"
        print(f"{method:<14}{mw:>10.2f}{mc:>10.2f}{mc / mw:>10.2f}{ari[method]:>9.4f}"
              f"{rw:>14}{rc:>13}")
    if "sklearn" in ari:
        print(f"\nARI difference vecbench - sklearn: {ari['vecbench'] - ari['sklearn']:+.4f}")
    print(f"peak RSS of this process: {peak_rss_gib():.2f} GiB")
    return 0


def scale(args: argparse.Namespace) -> int:
    from plugins._spectral_scores import adjusted_rand_index
    from plugins.spectral import SpectralClustering

    x, truth, name = mixture(args.scale, args.d, args.clusters)
    print(f"data {name}: {len(x)} x {x.shape[1]}, {args.clusters} clusters; "
          f"{args.n_neighbors}-NN graph by index {args.index!r}; one thread", flush=True)
    model = SpectralClustering(args.clusters, n_neighbors=args.n_neighbors, index=args.index,
                               index_params=args.index_params, seed=0)
    labels, w, c = timed(lambda: model.fit_predict(x))
    emb = model.embedding_
    assert emb is not None
    print(f"wall {w:.1f} s, cpu {c:.1f} s; stages: "
          + ", ".join(f"{k} {v:.1f}" for k, v in model.timings_.items()))
    print(f"graph: {model.affinity_matrix_.nnz} edges, {emb.n_components} component(s); "
          f"solver {emb.solver}; eigenvalues {np.array2string(emb.eigenvalues, precision=5)}")
    print(f"ARI {adjusted_rand_index(truth, labels):.4f}")
    print(f"peak RSS: {peak_rss_gib():.2f} GiB")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="points")
    parser.add_argument("--d", type=int, default=50, help="dimension")
    parser.add_argument("--clusters", type=int, default=10, help="mixture components")
    parser.add_argument("--n-neighbors", type=int, default=10, help="k of the k-NN graph")
    parser.add_argument("--reps", type=int, default=1, help="timed repetitions per method")
    parser.add_argument("--skip-sklearn", action="store_true", help="in-house methods only")
    parser.add_argument("--scale", type=int, default=0,
                        help="run the in-house method alone on this many points")
    parser.add_argument("--index", default="bruteforce", help="index plugin of the k-NN graph "
                        "(--scale only)")
    parser.add_argument("--index-params", default="", help="its parameters, 'name=value,...'")
    args = parser.parse_args(argv)
    pin_one_thread()
    return scale(args) if args.scale else compare(args)


if __name__ == "__main__":
    raise SystemExit(main())
