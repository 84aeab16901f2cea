"""Exact brute-force throughput: vecbench ``bruteforce`` against faiss ``IndexFlatL2``.

    python benchmarks/bruteforce.py [--n 100000 --d 128 --nq 1000 --k 10 --reps 5]

One process, one thread for everything (BLAS, OpenMP, numba pinned to 1), the same seeded
float32 Gaussian data for every method. After a warm-up search each, repetitions are
interleaved (the order rotates every repetition) so a noisy neighbour on the machine hurts
every method alike. Prints the median QPS of each method, its spread, the CPU/wall ratio of
its timed calls (far below 1: the machine interfered) and the ratio to faiss measured in the
same run, by wall time and by CPU time (the latter is steadier when other processes compete
for the cores). ``numpy`` is the textbook baseline: one matrix product per block of queries and
``argpartition``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def pin_one_thread() -> None:
    """BLAS, OpenMP (faiss) and numba pools to one thread."""
    import faiss
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)
    numba.set_num_threads(1)


def numpy_search(base: np.ndarray, base_sq: np.ndarray, queries: np.ndarray, k: int,
                 block: int = 128) -> np.ndarray:
    """Top-k ids by ``|x|^2 - 2 q.x`` with one matrix product and argpartition per block."""
    out = np.empty((len(queries), k), dtype=np.int64)
    for s in range(0, len(queries), block):
        scores = queries[s:s + block] @ base.T
        scores *= -2.0
        scores += base_sq
        part = np.argpartition(scores, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(scores, part, axis=1), axis=1)
        out[s:s + block] = np.take_along_axis(part, order, axis=1)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=100_000, help="base vectors")
    parser.add_argument("--d", type=int, default=128, help="dimension")
    parser.add_argument("--nq", type=int, default=1000, help="queries")
    parser.add_argument("--k", type=int, default=10, help="neighbours per query")
    parser.add_argument("--reps", type=int, default=5, help="timed repetitions per method")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-numpy", action="store_true", help="skip the numpy baseline")
    args = parser.parse_args(argv)

    pin_one_thread()
    import faiss

    from harness.plugins import get_registry

    rng = np.random.default_rng(args.seed)
    base = rng.standard_normal((args.n, args.d), dtype=np.float32)
    queries = rng.standard_normal((args.nq, args.d), dtype=np.float32)

    brute = get_registry().indexes.get("bruteforce").factory(metric="euclidean")
    t0 = time.perf_counter()
    brute.warmup(base[:64])
    jit = time.perf_counter() - t0
    brute.build(base)
    flat = faiss.IndexFlatL2(args.d)
    flat.add(base)
    base_sq = np.einsum("ij,ij->i", base, base)

    methods: dict[str, Callable[[], Any]] = {
        "bruteforce": lambda: brute.search(queries, args.k),
        "faiss-flat": lambda: flat.search(queries, args.k),
    }
    if not args.no_numpy:
        methods["numpy"] = lambda: numpy_search(base, base_sq, queries, args.k)

    # warm-up, and a sanity check that the exact answers agree with faiss's
    answers = {name: fn() for name, fn in methods.items()}
    ids_brute = answers["bruteforce"][0]
    ids_flat = answers["faiss-flat"][1]
    agree = float((ids_brute == ids_flat).mean())

    wall: dict[str, list[float]] = {name: [] for name in methods}
    cpu: dict[str, list[float]] = {name: [] for name in methods}
    names = list(methods)
    for rep in range(args.reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            c0, w0 = time.process_time_ns(), time.perf_counter_ns()
            methods[name]()
            w1, c1 = time.perf_counter_ns(), time.process_time_ns()
            wall[name].append((w1 - w0) / 1e9)
            cpu[name].append((c1 - c0) / 1e9)

    print(f"n={args.n} d={args.d} nq={args.nq} k={args.k} reps={args.reps} one thread; "
          f"numpy {np.__version__}, faiss {faiss.__version__}; bruteforce JIT/cache load "
          f"{jit:.2f} s")
    print(f"ids equal to faiss IndexFlatL2: {agree:.4f} (float32 ties and near-ties differ)")
    flat_qps = args.nq / float(np.median(wall["faiss-flat"]))
    flat_cpu_qps = args.nq / float(np.median(cpu["faiss-flat"]))
    for name in names:
        qps = args.nq / np.asarray(wall[name])
        ratio = float(np.sum(cpu[name]) / np.sum(wall[name]))
        cpu_qps = args.nq / float(np.median(cpu[name]))
        print(f"{name:11s} median {np.median(qps):8.0f} QPS  (min {qps.min():6.0f}, max "
              f"{qps.max():6.0f})  vs faiss {np.median(qps) / flat_qps:.2f}x  |  per CPU "
              f"second {cpu_qps:6.0f} QPS, vs faiss {cpu_qps / flat_cpu_qps:.2f}x  "
              f"(cpu/wall {ratio:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
