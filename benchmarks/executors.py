"""Parallel speed-up of the executors on a CPU-bound suite, and the harness's cost per group.

    python benchmarks/executors.py [--groups 8] [--n 40000] [--d 64]

Runs the same suite (in-house brute force, several build seeds: independent CPU-bound build
groups) three times into fresh record folders: sequentially, with ``--jobs 2`` (local, one
core per group) and on a local Dask cluster of 2 worker processes. Prints wall seconds,
speed-ups against sequential, and the per-group overhead of the harness (wall time minus the
build and search seconds the records hold, divided by the number of groups).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from harness import results as records
from harness.executors import DaskExecutor, LocalExecutor
from harness.session import Session


def _suite(path: Path, groups: int, n: int, d: int) -> Path:
    path.write_text(
        'name = "executor-bench"\n[defaults]\nk = 10\nrepetitions = 5\nlatency_queries = 200\n'
        f"seeds = {json.dumps(list(range(groups)))}\n"
        f'[[run]]\ndataset = "gmm-{n}x{d}"\nindex = "faiss"\n'
        'build = { factory = "Flat" }\n')
    return path


def _measured_seconds(report) -> float:
    total = 0.0
    seen_builds = set()
    for rec in report.written:
        timing = rec.get("timing") or {}
        if rec["build_id"] not in seen_builds:
            seen_builds.add(rec["build_id"])
            total += (timing.get("build_seconds") or 0) + (timing.get("jit_seconds") or 0)
        total += sum(timing.get("batch_seconds") or [])
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--d", type=int, default=64)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecbench-exec-"))
    suite = _suite(work / "suite.toml", args.groups, args.n, args.d)
    data = work / "data"
    Session(suite, results_dir=work / "warm", data_dir=data).plan()  # data + ground truth

    def timed(name, executor):
        t0 = time.perf_counter()
        report = Session(suite, results_dir=work / name, data_dir=data).run(executor)
        wall = time.perf_counter() - t0
        assert all(r["status"] == "ok" for r in report.written), name
        return wall, report

    seq, seq_rep = timed("sequential", LocalExecutor(jobs=1))
    par, _ = timed("jobs2", LocalExecutor(jobs=2))
    import distributed

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        dsk, _ = timed("dask2", DaskExecutor(client=client))
    per_group = (seq - _measured_seconds(seq_rep)) / args.groups
    print(f"suite: {args.groups} build groups of faiss Flat on gmm-{args.n}x{args.d}, "
          "5 timed repetitions + 200 single queries each")
    print(f"sequential      {seq:7.1f} s")
    print(f"--jobs 2        {par:7.1f} s   speed-up {seq / par:.2f}x")
    print(f"dask, 2 workers {dsk:7.1f} s   speed-up {seq / dsk:.2f}x")
    print(f"harness overhead per build group (sequential): {per_group:.2f} s "
          "(process start, imports, dataset load, record writing)")
    print(f"records: {len(records.load_all(work / 'sequential'))} per run, in {work}")


if __name__ == "__main__":
    main()
