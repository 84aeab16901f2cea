"""Benchmark: in-house KD-tree against scipy ``cKDTree`` and scikit-learn ``KDTree``.

Same data, same leaf size, same split rule (scipy ``balanced_tree=True`` is the median
split, ``False`` the sliding midpoint), one thread, k-NN of a batch of queries. Builds and
batch queries of both are interleaved and repeated; medians and ratios are printed. The
numba compile time of the in-house kernels is measured apart (``jit_s``) and never counted
as build time. Results are checked against each other (same k-th distances) before timing.

    python benchmarks/kdtree.py                      # 100,000 x {8, 16}, 1,000 queries, k=10
    python benchmarks/kdtree.py --n 20000 --reps 3   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np
from scipy.spatial import cKDTree
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from plugins.kdtree import KDTreeIndex


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter_ns()
    out = fn()
    return (time.perf_counter_ns() - t0) / 1e9, out


def run_case(n: int, d: int, nq: int, k: int, leaf: int, split: str, reps: int,
             seed: int, with_sklearn: bool) -> dict:
    """Time one (dimension, split) case; returns medians and ratios."""
    rng = np.random.default_rng(seed)
    base = rng.random((n, d), dtype=np.float32)
    queries = rng.random((nq, d), dtype=np.float32)
    balanced = split == "median"

    jit_s, _ = _timed(lambda: KDTreeIndex("euclidean").warmup(base[:256]))
    ours = KDTreeIndex("euclidean", leaf_size=leaf, split=split)
    ours.build(base)
    _, dist = ours.search(queries, k)
    peer = cKDTree(base, leafsize=leaf, balanced_tree=balanced)
    pd, _ = peer.query(queries, k, workers=1)
    max_err = float(np.abs(dist[:, -1] - pd[:, -1]).max())

    times: dict[str, list[float]] = {key: [] for key in
                                     ("ours_build", "ours_query", "scipy_build", "scipy_query",
                                      "sklearn_build", "sklearn_query")}
    for _ in range(reps):
        t, peer = _timed(lambda: cKDTree(base, leafsize=leaf, balanced_tree=balanced))
        times["scipy_build"].append(t)
        t, _ = _timed(lambda: peer.query(queries, k, workers=1))  # noqa: B023
        times["scipy_query"].append(t)
        index = KDTreeIndex("euclidean", leaf_size=leaf, split=split)
        t, _ = _timed(lambda: index.build(base))  # noqa: B023
        times["ours_build"].append(t)
        t, _ = _timed(lambda: index.search(queries, k))  # noqa: B023
        times["ours_query"].append(t)
        if with_sklearn and balanced:
            from sklearn.neighbors import KDTree

            t, skl = _timed(lambda: KDTree(base, leaf_size=leaf))
            times["sklearn_build"].append(t)
            t, _ = _timed(lambda: skl.query(queries, k))  # noqa: B023
            times["sklearn_query"].append(t)
    med = {key: statistics.median(v) for key, v in times.items() if v}
    out = {
        "n": n, "d": d, "queries": nq, "k": k, "leaf_size": leaf, "split": split,
        "jit_s": jit_s, "max_kth_distance_diff": max_err,
        "ours_build_ms": med["ours_build"] * 1e3, "scipy_build_ms": med["scipy_build"] * 1e3,
        "ours_qps": nq / med["ours_query"], "scipy_qps": nq / med["scipy_query"],
        "build_ratio": med["ours_build"] / med["scipy_build"],
        "qps_ratio": med["scipy_query"] / med["ours_query"],
        "leaves_per_query": ours.query_stats()["leaves_visited"] / nq,
    }
    if "sklearn_build" in med:
        out["sklearn_build_ms"] = med["sklearn_build"] * 1e3
        out["sklearn_qps"] = nq / med["sklearn_query"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[8, 16])
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--leaf-size", type=int, default=16)
    ap.add_argument("--splits", nargs="+", default=["median", "sliding-midpoint"])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sklearn", action="store_true", help="also time sklearn KDTree (median)")
    ap.add_argument("--json", action="store_true", help="print JSON lines only")
    args = ap.parse_args(argv)
    rows = []
    with threadpool_limits(1):
        for d in args.dims:
            for split in args.splits:
                row = run_case(args.n, d, args.queries, args.k, args.leaf_size, split,
                               args.reps, args.seed, args.sklearn)
                rows.append(row)
                if args.json:
                    print(json.dumps(row))
                else:
                    extra = (f"  sklearn build {row['sklearn_build_ms']:.1f} ms qps "
                             f"{row['sklearn_qps']:.0f}" if "sklearn_qps" in row else "")
                    print(f"n={row['n']} d={d:2d} {split:16s} build ms: ours "
                          f"{row['ours_build_ms']:7.1f} scipy {row['scipy_build_ms']:7.1f} "
                          f"(ratio {row['build_ratio']:.2f})  QPS: ours {row['ours_qps']:8.0f} "
                          f"scipy {row['scipy_qps']:8.0f} (ratio {row['qps_ratio']:.2f})  "
                          f"jit {row['jit_s']:.1f} s  kth diff {row['max_kth_distance_diff']:.1e}"
                          + extra, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
