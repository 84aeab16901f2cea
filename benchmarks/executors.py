"""Parallel speed-up of the executors on a CPU-bound suite, and the harness's cost per group.

    python benchmarks/executors.py [--index faiss|hnswlib] [--groups 8] [--n 40000] [--d 64]
                                   [--rounds 1]

Runs the same suite (several build seeds: independent build groups) into fresh record
folders: sequentially, with ``--jobs 2`` (local, one core per group) and on a local Dask
cluster of 2 worker processes; ``--rounds`` repeats the three, interleaved (the order
flips every round), and reports medians. ``--index faiss`` is faiss Flat (each query scans
the base: bound by memory bandwidth, which the two cores share); ``--index hnswlib`` builds
an HNSW graph per group (bound by the cores). Prints wall seconds, speed-ups against
sequential, and the per-group overhead of the harness (wall time minus the build and search
seconds the records hold, divided by the number of groups).

The driver's one-time costs (its fork server: ``harness.runner``; the provenance of the
installed packages) and the Dask workers' fork servers are paid before anything is timed: a
``vecbench run`` pays them once, not per group, and timing them in the first run only would
favour the runs after it. The Dask cluster runs only while it is measured, with the workers'
profiler and GIL monitor off (``harness.executors.QUIET_WORKERS``). The build CPU / wall line
shows whether the groups had their cores to themselves.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness import provenance
from harness import results as records
from harness.executors import QUIET_WORKERS, DaskExecutor, LocalExecutor
from harness.runner import start_fork_server
from harness.session import Session

INDEXES = {
    "faiss": ('index = "faiss"\nbuild = { factory = "Flat" }\n', "faiss Flat"),
    "hnswlib": ('index = "hnswlib"\nbuild = { M = 16, ef_construction = 200 }\n'
                "query = { ef = [40] }\n", "hnswlib M=16 ef_construction=200"),
}


MODES = ("sequential", "jobs2", "dask2")


def _suite(path: Path, index: str, groups: int, n: int, d: int) -> Path:
    path.write_text(
        'name = "executor-bench"\n[defaults]\nk = 10\nrepetitions = 5\nlatency_queries = 200\n'
        f"seeds = {json.dumps(list(range(groups)))}\n"
        f'[[run]]\ndataset = "gmm-{n}x{d}"\n' + INDEXES[index][0])
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


@contextlib.contextmanager
def _quiet_dask_cluster() -> Iterator[Any]:
    """A local cluster of 2 single-threaded worker processes, their fork servers started,
    with the workers' sampling profiler and GIL monitor off: they wake every 10 ms and 1 ms
    and would take their share of the two cores from the measured builds (see
    docs/scale-out.md)."""
    import dask
    import distributed

    with dask.config.set(QUIET_WORKERS), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                     dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        client.run(start_fork_server)
        yield client


def _cpu_share(report) -> float:
    """Build CPU seconds / build wall seconds over a run's groups: below 1 when something
    else took the groups' cores."""
    builds = {rec["build_id"]: rec.get("timing") or {} for rec in report.written}
    wall = sum(t.get("build_seconds") or 0 for t in builds.values())
    cpu = sum(t.get("build_cpu_seconds") or 0 for t in builds.values())
    return cpu / wall if wall else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--n", type=int, default=40000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--index", choices=sorted(INDEXES), default="faiss")
    ap.add_argument("--rounds", type=int, default=1, help="repeat the three runs (medians)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecbench-exec-"))
    suite = _suite(work / "suite.toml", args.index, args.groups, args.n, args.d)
    data = work / "data"
    Session(suite, results_dir=work / "warm", data_dir=data).plan()  # data + ground truth

    def timed(name, executor):
        t0 = time.perf_counter()
        report = Session(suite, results_dir=work / name, data_dir=data).run(executor)
        wall = time.perf_counter() - t0
        assert all(r["status"] == "ok" for r in report.written), name
        return wall, report

    walls: dict[str, list[float]] = {mode: [] for mode in MODES}
    shares: dict[str, list[float]] = {k: [] for k in walls}
    overheads = []
    # the driver's one-time costs (its warm fork server, the provenance of the installed
    # packages) are paid before anything is timed: a run pays them once, not per group
    start_fork_server()
    provenance.collect()
    for r in range(args.rounds):
        # the order flips every round, so that a machine drifting during a round favours
        # neither side of the ratios
        for mode in (MODES if r % 2 == 0 else MODES[::-1]):
            if mode == "dask2":
                with _quiet_dask_cluster() as client:  # alive only while it is measured
                    wall, rep = timed(f"{mode}-{r}", DaskExecutor(client=client))
            else:
                wall, rep = timed(f"{mode}-{r}", LocalExecutor(jobs=2 if mode == "jobs2" else 1))
            walls[mode].append(wall)
            shares[mode].append(_cpu_share(rep))
            if mode == "sequential":
                overheads.append((wall - _measured_seconds(rep)) / args.groups)
    seq, par, dsk = (statistics.median(walls[k]) for k in ("sequential", "jobs2", "dask2"))
    ratios = {k: [a / b for a, b in zip(walls["sequential"], walls[k], strict=True)]
              for k in ("jobs2", "dask2")}
    print(f"suite: {args.groups} build groups of {INDEXES[args.index][1]} on "
          f"gmm-{args.n}x{args.d}, 5 timed repetitions + 200 single queries each; "
          f"{args.rounds} round(s), medians")
    print(f"sequential      {seq:7.1f} s")
    print(f"--jobs 2        {par:7.1f} s   speed-up {seq / par:.2f}x "
          f"(per round {', '.join(f'{x:.2f}' for x in ratios['jobs2'])})")
    print(f"dask, 2 workers {dsk:7.1f} s   speed-up {seq / dsk:.2f}x "
          f"(per round {', '.join(f'{x:.2f}' for x in ratios['dask2'])})")
    print("build CPU / wall (1: the groups had their cores to themselves): " + ", ".join(
        f"{k} {statistics.median(v):.3f}" for k, v in shares.items()))
    print(f"harness overhead per build group (sequential): {statistics.median(overheads):.2f} s "
          "(process start, imports, dataset load, record writing)")
    print(f"records: {len(records.load_all(work / 'sequential-0'))} per run, in {work}")


if __name__ == "__main__":
    main()
