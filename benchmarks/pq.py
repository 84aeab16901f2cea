"""Benchmark: in-house PQ / IVF-PQ against faiss ``IndexPQ`` / ``IndexIVFPQ``.

Equal m / nbits / nlist / nprobe, one thread (faiss OpenMP and BLAS pinned to 1), k = 10.
Data: vecbench's seeded Gaussian mixture ``gmm-100000x128`` (its 1,000 queries) and
Fashion-MNIST when the Debian package ``dataset-fashion-mnist`` is installed (60,000 x 784,
the first 1,000 test images as queries). Training (k-means) and adding (encoding) are
timed once per side; batch searches are interleaved and repeated, medians and ratios
printed. recall@10 is the fraction of the exact top 10 (float64 re-ranked brute force)
returned. The numba compile
time of the in-house kernels is measured apart (``jit``).

    python benchmarks/pq.py                       # GMM 100k x 128 (+ Fashion-MNIST)
    python benchmarks/pq.py --n 20000 --reps 3    # quicker
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

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from harness.errors import DatasetUnavailableError
from plugins.datasets import load_fashion_mnist, make_gmm
from plugins.pq import IVFPQIndex, PQIndex


def exact_top(base: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Exact top-k ids: float32 products pick 4k candidates, float64 re-ranks them."""
    norms = np.einsum("ij,ij->i", base, base)
    out = np.empty((len(queries), k), np.int64)
    for s in range(0, len(queries), 256):
        q = queries[s:s + 256]
        approx = norms[None, :] - 2.0 * (q @ base.T)
        cand = np.argpartition(approx, 4 * k, axis=1)[:, :4 * k]
        diff = base[cand].astype(np.float64) - q[:, None, :].astype(np.float64)
        exact = np.einsum("qcd,qcd->qc", diff, diff)
        order = np.lexsort((cand, exact), axis=1)[:, :k]
        out[s:s + 256] = np.take_along_axis(cand, order, 1)
    return out


def recall(ids: np.ndarray, truth: np.ndarray) -> float:
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(ids, truth,
                                                                          strict=True)]))


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter_ns()
    out = fn()
    return (time.perf_counter_ns() - t0) / 1e9, out


def bench_pq(name: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray,
             m: int, nbits: int, reps: int, k: int, emit: Callable[[dict], None]) -> None:
    d = base.shape[1]
    theirs = faiss.IndexPQ(d, m, nbits)
    f_train, _ = _timed(lambda: theirs.train(base))
    f_add, _ = _timed(lambda: theirs.add(base))
    ours = PQIndex("euclidean", m=m, nbits=nbits, refine=False)
    jit, _ = _timed(lambda: ours.warmup(base[:64]))
    o_build, _ = _timed(lambda: ours.build(base))
    o_train = ours.train_seconds
    ours.set_query_params(search_type="adc", rerank=0)
    ft, ot = [], []
    for _ in range(reps):
        t, (_, fi) = _timed(lambda: theirs.search(queries, k))
        ft.append(t)
        t, (oi, _) = _timed(lambda: ours.search(queries, k))
        ot.append(t)
    emit({"data": name, "index": "pq", "m": m, "nbits": nbits, "jit_s": jit,
          "ours_train_s": o_train, "faiss_train_s": f_train,
          "ours_add_s": o_build - o_train, "faiss_add_s": f_add,
          "ours_recall": recall(oi, truth), "faiss_recall": recall(fi, truth),
          "ours_qps": len(queries) / statistics.median(ot),
          "faiss_qps": len(queries) / statistics.median(ft)})


def bench_ivfpq(name: str, base: np.ndarray, queries: np.ndarray, truth: np.ndarray,
                nlist: int, m: int, nbits: int, nprobes: list[int], reps: int, k: int,
                emit: Callable[[dict], None]) -> None:
    d = base.shape[1]
    quantizer = faiss.IndexFlatL2(d)
    theirs = faiss.IndexIVFPQ(quantizer, d, nlist, m, nbits)
    f_train, _ = _timed(lambda: theirs.train(base))
    f_add, _ = _timed(lambda: theirs.add(base))
    ours = IVFPQIndex("euclidean", nlist=nlist, m=m, nbits=nbits, refine=False)
    jit, _ = _timed(lambda: ours.warmup(base[:64]))
    o_build, _ = _timed(lambda: ours.build(base))
    o_train = ours.train_seconds
    for nprobe in nprobes:
        theirs.nprobe = nprobe
        ours.set_query_params(nprobe=nprobe, rerank=0)
        ft, ot = [], []
        for _ in range(reps):
            t, (_, fi) = _timed(lambda: theirs.search(queries, k))
            ft.append(t)
            t, (oi, _) = _timed(lambda: ours.search(queries, k))
            ot.append(t)
        emit({"data": name, "index": "ivfpq", "nlist": nlist, "m": m, "nbits": nbits,
              "nprobe": nprobe, "jit_s": jit,
              "ours_train_s": o_train, "faiss_train_s": f_train,
              "ours_add_s": o_build - o_train, "faiss_add_s": f_add,
              "ours_recall": recall(oi, truth), "faiss_recall": recall(fi, truth),
              "ours_qps": len(queries) / statistics.median(ot),
              "faiss_qps": len(queries) / statistics.median(ft)})


def _printer(as_json: bool) -> Callable[[dict], None]:
    def emit(row: dict) -> None:
        row["recall_diff"] = row["ours_recall"] - row["faiss_recall"]
        row["qps_ratio"] = row["ours_qps"] / row["faiss_qps"]
        row["train_ratio"] = row["ours_train_s"] / row["faiss_train_s"]
        if as_json:
            print(json.dumps(row), flush=True)
            return
        where = f"nlist={row['nlist']} nprobe={row['nprobe']:3d} " if "nprobe" in row else ""
        print(f"{row['data']:8s} {row['index']:5s} m={row['m']} nbits={row['nbits']} {where}"
              f"recall ours {row['ours_recall']:.3f} faiss {row['faiss_recall']:.3f} "
              f"({row['recall_diff']:+.3f})  QPS ours {row['ours_qps']:8.0f} faiss "
              f"{row['faiss_qps']:8.0f} (x{row['qps_ratio']:.2f})  train s ours "
              f"{row['ours_train_s']:6.2f} faiss {row['faiss_train_s']:6.2f} "
              f"(x{row['train_ratio']:.2f})  add s ours {row['ours_add_s']:.2f} faiss "
              f"{row['faiss_add_s']:.2f}", flush=True)
    return emit


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--nbits", type=int, default=8)
    ap.add_argument("--nlist", type=int, default=256)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[1, 4, 16, 64])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--data", nargs="+", default=["gmm", "fashion-mnist"])
    ap.add_argument("--index", nargs="+", default=["pq", "ivfpq"])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    emit = _printer(args.json)
    faiss.omp_set_num_threads(1)
    with threadpool_limits(1):
        for name in args.data:
            if name == "gmm":
                data = make_gmm(f"gmm-{args.n}x{args.dim}", args.n, args.dim, "euclidean")
            else:
                try:
                    data = load_fashion_mnist()
                except DatasetUnavailableError as exc:
                    print(f"{exc}; skipped", flush=True)
                    continue
            base, queries = data.train, data.test[:args.queries]
            truth = exact_top(base, queries, args.k)
            if "pq" in args.index:
                bench_pq(name, base, queries, truth, args.m, args.nbits, args.reps, args.k,
                         emit)
            if "ivfpq" in args.index:
                bench_ivfpq(name, base, queries, truth, args.nlist, args.m, args.nbits,
                            args.nprobe, args.reps, args.k, emit)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
