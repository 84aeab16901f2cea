"""Benchmark the in-house HNSW against hnswlib and faiss ``IndexHNSWFlat``, one thread each.

    python benchmarks/hnsw.py [--datasets gmm-100000x128,fashion-mnist] [--seeds 5]
                              [--M 16] [--ef-construction 200] [--k 10] [--reps 3]
                              [--ef 10,20,40,80,120,200,400] [--target 0.9] [--json out.json]

For each dataset and build seed, every library builds the same data with the same M and
ef_construction (the in-house kernels are compiled before, so build seconds exclude JIT),
then every library answers the same batch of queries at every ef of the same grid; the
repetitions of the libraries are interleaved. Throughput is queries per wall second
(``perf_counter_ns``), the median of the repetitions; CPU seconds are kept beside it (a
CPU/wall ratio far from 1 means the machine interfered). Recall@k counts returned ids whose
true distance is within the true k-th distance (ties are not penalised).

Per seed and library, the QPS at the target recall is read off the recall/QPS Pareto
frontier (interpolated linearly in recall and logarithmically in QPS between the two
frontier points around the target; never extrapolated). The report gives the median over
seeds, the min-max spread and the ratio in-house / hnswlib of the seed medians (and of the
same-seed pairs). Memory: the bytes the in-house index owns against the size of hnswlib's
saved index file (and faiss's serialised index). Compile: numba compile seconds with an empty
cache and load-from-cache seconds, each in a fresh process. faiss has no level seed, so it is
built once per dataset. Data: ``gmm-100000x128`` is vecbench's seeded Gaussian mixture,
generated here; Fashion-MNIST is read from the Debian package ``dataset-fashion-mnist`` when
installed (the first ``--nq`` of its 10,000 test images are the queries).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.errors import DatasetUnavailableError  # noqa: E402
from harness.groundtruth import exact_knn  # noqa: E402
from plugins.datasets import load_fashion_mnist, make_gmm, parse_synthetic_name  # noqa: E402
from plugins.hnsw import HNSWIndex  # noqa: E402

LIBS = ("hnsw", "hnswlib", "faiss")


# --------------------------------------------------------------------------- data


def load_data(name: str, nq: int) -> tuple[np.ndarray, np.ndarray]:
    """Base vectors and queries (float32, C order) of a dataset name."""
    if name == "fashion-mnist":
        ds = load_fashion_mnist()
    else:
        family, n, d, metric = parse_synthetic_name(name)
        if family != "gmm" or metric != "euclidean":
            raise SystemExit(f"only gmm-{{n}}x{{d}} and fashion-mnist are benchmarked, not {name}")
        ds = make_gmm(name, n, d, "euclidean")
    train = np.ascontiguousarray(ds.train, dtype=np.float32)
    test = np.ascontiguousarray(ds.test[:nq], dtype=np.float32)
    return train, test


def recall_at_k(train: np.ndarray, queries: np.ndarray, ids: np.ndarray,
                kth: np.ndarray) -> float:
    """Mean share of returned ids whose true (float64) distance is <= the true k-th."""
    valid = ids >= 0
    rows = train[np.where(valid, ids, 0)].astype(np.float64)
    dist = np.sqrt(((rows - queries[:, None, :].astype(np.float64)) ** 2).sum(-1))
    ok = valid & (dist <= kth[:, None] * (1 + 1e-6) + 1e-9)
    return float(ok.mean())


# --------------------------------------------------------------------------- libraries


class InHouse:
    """vecbench's numba HNSW."""

    name = "hnsw"

    def __init__(self, M: int, ef_construction: int) -> None:
        self.M, self.efc = M, ef_construction
        self.index: HNSWIndex | None = None

    def build(self, train: np.ndarray, seed: int) -> None:
        self.index = HNSWIndex("euclidean", M=self.M, ef_construction=self.efc, seed=seed)
        self.index.build(train)

    def search(self, queries: np.ndarray, k: int, ef: int) -> np.ndarray:
        assert self.index is not None
        self.index.set_query_params(ef=ef)
        return self.index.search(queries, k)[0]

    def nbytes(self) -> int:
        assert self.index is not None
        return self.index.index_bytes()


class Hnswlib:
    """nmslib/hnswlib, one thread."""

    name = "hnswlib"

    def __init__(self, M: int, ef_construction: int) -> None:
        self.M, self.efc = M, ef_construction
        self.index: Any = None

    def build(self, train: np.ndarray, seed: int) -> None:
        import hnswlib

        self.index = hnswlib.Index(space="l2", dim=train.shape[1])
        self.index.init_index(max_elements=len(train), M=self.M, ef_construction=self.efc,
                              random_seed=seed)
        self.index.set_num_threads(1)
        self.index.add_items(train, num_threads=1)

    def search(self, queries: np.ndarray, k: int, ef: int) -> np.ndarray:
        self.index.set_ef(ef)
        return self.index.knn_query(queries, k=k, num_threads=1)[0].astype(np.int64)

    def nbytes(self) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "index.bin")
            self.index.save_index(path)
            return os.path.getsize(path)


class FaissHNSW:
    """faiss IndexHNSWFlat, one thread (its level generator has a fixed seed)."""

    name = "faiss"

    def __init__(self, M: int, ef_construction: int) -> None:
        self.M, self.efc = M, ef_construction
        self.index: Any = None

    def build(self, train: np.ndarray, seed: int) -> None:
        import faiss

        faiss.omp_set_num_threads(1)
        self.index = faiss.IndexHNSWFlat(train.shape[1], self.M)
        self.index.hnsw.efConstruction = self.efc
        self.index.add(train)

    def search(self, queries: np.ndarray, k: int, ef: int) -> np.ndarray:
        self.index.hnsw.efSearch = ef
        return self.index.search(queries, k)[1].astype(np.int64)

    def nbytes(self) -> int:
        import faiss

        return int(faiss.serialize_index(self.index).size)


# --------------------------------------------------------------------------- frontier


def qps_at_recall(recalls: list[float], qps: list[float], target: float) -> float:
    """QPS at ``target`` recall on the Pareto frontier of the (recall, QPS) points.

    Linear in recall, logarithmic in QPS between the frontier points around the target;
    if even the fastest frontier point reaches the target its QPS is returned (no
    extrapolation); NaN if no point reaches it.
    """
    pts = sorted(zip(recalls, qps, strict=True), key=lambda p: (-p[0], -p[1]))
    frontier: list[tuple[float, float]] = []
    for r, q in pts:  # by recall descending: keep points faster than every better one
        if not frontier or q > frontier[-1][1]:
            frontier.append((r, q))
    frontier.reverse()  # recall ascending, QPS descending
    for i, (r, q) in enumerate(frontier):
        if r >= target:
            if i == 0:
                return q
            r0, q0 = frontier[i - 1]
            t = (target - r0) / (r - r0)
            return float(math.exp(math.log(q0) + t * (math.log(q) - math.log(q0))))
    return float("nan")


# --------------------------------------------------------------------------- compile time


def compile_seconds(dim: int) -> dict[str, float]:
    """numba compile seconds from an empty cache, then load-from-cache seconds (fresh
    processes sharing a temporary cache directory)."""
    code = ("import sys, time, numpy as np; sys.path.insert(0, sys.argv[1]);"
            "from plugins.hnsw import HNSWIndex;"
            "x = np.random.default_rng(0).random((64, int(sys.argv[2])), dtype=np.float32);"
            "t = time.perf_counter(); HNSWIndex('euclidean').warmup(x);"
            "print(time.perf_counter() - t)")
    out = {}
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for key in ("compile_seconds", "cached_load_seconds"):
            res = subprocess.run([sys.executable, "-c", code, str(ROOT), str(dim)], env=env,
                                 capture_output=True, text=True, check=True)
            out[key] = float(res.stdout.strip().splitlines()[-1])
    return out


# --------------------------------------------------------------------------- run


def timed(fn: Any, *args: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds) of ``fn(*args)``."""
    c0, t0 = time.process_time(), time.perf_counter_ns()
    out = fn(*args)
    return out, (time.perf_counter_ns() - t0) / 1e9, time.process_time() - c0


def run_dataset(name: str, args: argparse.Namespace) -> dict[str, Any]:
    train, queries = load_data(name, args.nq)
    _, gt_d = exact_knn(train, queries, "euclidean", args.k)
    kth = gt_d[:, -1]
    print(f"\n== {name}: {train.shape[0]} x {train.shape[1]}, {len(queries)} queries, "
          f"k={args.k}, M={args.M}, ef_construction={args.ef_construction}", flush=True)
    HNSWIndex("euclidean").warmup(train[:64])  # compile (or load) before any timing
    libs = {"hnsw": InHouse(args.M, args.ef_construction),
            "hnswlib": Hnswlib(args.M, args.ef_construction),
            "faiss": FaissHNSW(args.M, args.ef_construction)}
    libs = {k: v for k, v in libs.items() if k in args.libs}
    runs: list[dict[str, Any]] = []
    for s_i, seed in enumerate(args.seed_list):
        order = list(libs) if s_i % 2 == 0 else list(reversed(libs))
        built: dict[str, Any] = {}
        for lib in order:
            if lib == "faiss" and s_i > 0:
                continue  # deterministic: same graph for every seed
            _, wall, cpu = timed(libs[lib].build, train, seed)
            built[lib] = {"build_seconds": wall, "build_cpu_seconds": cpu,
                          "index_bytes": libs[lib].nbytes()}
            print(f"  seed {seed} {lib:8s} build {wall:7.1f} s (cpu {cpu:7.1f} s), "
                  f"{built[lib]['index_bytes'] / 2**20:7.1f} MiB", flush=True)
        for lib in built:
            built[lib]["points"] = []
        for ef in args.ef_list:
            samples: dict[str, list[tuple[float, float]]] = {lib: [] for lib in built}
            ids_of: dict[str, np.ndarray] = {}
            for rep in range(args.reps):
                for lib in (list(built) if rep % 2 == 0 else list(reversed(built))):
                    ids, wall, cpu = timed(libs[lib].search, queries, args.k, ef)
                    samples[lib].append((wall, cpu))
                    ids_of[lib] = ids
            for lib in built:
                wall = float(np.median([w for w, _ in samples[lib]]))
                cpu = float(np.median([c for _, c in samples[lib]]))
                point = {"ef": ef, "recall": recall_at_k(train, queries, ids_of[lib], kth),
                         "qps": len(queries) / wall, "qps_cpu": len(queries) / max(cpu, 1e-9)}
                built[lib]["points"].append(point)
            print(f"  seed {seed} ef={ef:4d} " + "  ".join(
                f"{lib} R={built[lib]['points'][-1]['recall']:.4f} "
                f"{built[lib]['points'][-1]['qps']:8.0f} qps" for lib in built), flush=True)
        for lib in built:
            pts = built[lib]["points"]
            built[lib]["qps_at_target"] = qps_at_recall(
                [p["recall"] for p in pts], [p["qps"] for p in pts], args.target)
            built[lib]["qps_cpu_at_target"] = qps_at_recall(
                [p["recall"] for p in pts], [p["qps_cpu"] for p in pts], args.target)
        runs.append({"seed": seed, "libs": built})
    return {"dataset": name, "n": int(train.shape[0]), "dim": int(train.shape[1]),
            "n_queries": len(queries), "runs": runs, "summary": summarise(runs, args)}


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.array([v for v in values if not math.isnan(v)], dtype=float)
    if arr.size == 0:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan")}
    return {"median": float(np.median(arr)), "min": float(arr.min()), "max": float(arr.max())}


def summarise(runs: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    """Medians over seeds, spreads and in-house / hnswlib ratios."""
    out: dict[str, Any] = {}
    keys = ("qps_at_target", "qps_cpu_at_target", "build_seconds", "build_cpu_seconds",
            "index_bytes")
    for lib in LIBS:
        per = [r["libs"][lib] for r in runs if lib in r["libs"]]
        if per:
            out[lib] = {key: _stats([p[key] for p in per]) for key in keys}
            out[lib]["recall_at_ef"] = {
                str(ef): _stats([p["points"][i]["recall"] for p in per])
                for i, ef in enumerate(args.ef_list)}
    if "hnsw" in out and "hnswlib" in out:
        ratio = {key: out["hnsw"][key]["median"] / out["hnswlib"][key]["median"] for key in keys}
        paired = {key: _stats([r["libs"]["hnsw"][key] / r["libs"]["hnswlib"][key]
                               for r in runs]) for key in keys}
        out["ratio_hnsw_over_hnswlib"] = ratio
        out["paired_ratio_hnsw_over_hnswlib"] = paired
    return out


def print_summary(result: dict[str, Any], target: float) -> None:
    s = result["summary"]
    print(f"\n-- {result['dataset']}: medians over {len(result['runs'])} build seeds "
          f"(min..max)")
    for lib in LIBS:
        if lib not in s:
            continue
        q, b, m = s[lib]["qps_at_target"], s[lib]["build_seconds"], s[lib]["index_bytes"]
        print(f"  {lib:8s} QPS@{target}: {q['median']:8.0f} ({q['min']:.0f}..{q['max']:.0f})"
              f"  build {b['median']:7.1f} s  index {m['median'] / 2**20:7.1f} MiB")
    if "ratio_hnsw_over_hnswlib" in s:
        r, p = s["ratio_hnsw_over_hnswlib"], s["paired_ratio_hnsw_over_hnswlib"]
        print(f"  hnsw / hnswlib: QPS@{target} {r['qps_at_target']:.2f}x "
              f"(same-seed pairs {p['qps_at_target']['min']:.2f}..{p['qps_at_target']['max']:.2f};"
              f" CPU-time QPS {r['qps_cpu_at_target']:.2f}x), "
              f"build {r['build_seconds']:.2f}x (CPU {r['build_cpu_seconds']:.2f}x), "
              f"memory {r['index_bytes']:.2f}x")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", default="gmm-100000x128,fashion-mnist")
    ap.add_argument("--seeds", type=int, default=5, help="number of build seeds (1, 2, ...)")
    ap.add_argument("--M", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--nq", type=int, default=1000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ef", default="10,20,40,80,120,200,400")
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--libs", default=",".join(LIBS))
    ap.add_argument("--no-compile-timing", action="store_true")
    ap.add_argument("--json", help="write every figure to this JSON file")
    args = ap.parse_args(argv)
    # Seeds start at 1: hnswlib seeds std::minstd_rand0, where seed 0 acts as seed 1.
    args.seed_list = list(range(1, args.seeds + 1))
    args.ef_list = [int(v) for v in args.ef.split(",")]
    args.libs = [v for v in args.libs.split(",") if v]

    import numba
    from threadpoolctl import threadpool_limits

    numba.set_num_threads(1)
    results: dict[str, Any] = {"settings": {k: v for k, v in vars(args).items()}}
    with threadpool_limits(1):
        for name in [v for v in args.datasets.split(",") if v]:
            try:
                res = run_dataset(name, args)
            except DatasetUnavailableError as exc:
                print(f"\n== {name}: skipped ({exc})", flush=True)
                continue
            if not args.no_compile_timing:
                res["jit"] = compile_seconds(res["dim"])
            results[name] = res
            print_summary(res, args.target)
            if "jit" in res:
                jit = res["jit"]
                print(f"  hnsw numba compile {jit['compile_seconds']:.1f} s from an empty "
                      f"cache, {jit['cached_load_seconds']:.1f} s from the cache", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
