"""Run one build configuration in an isolated process and sweep its query points.

The driver starts a fresh process per build group, which loads the plugin, the dataset
(ground truth comes from the cache the driver filled), compiles (timed apart), builds, and
then for each query point runs a warm-up batch, timed batch repetitions and a single-query
latency loop. On Linux the fresh process is forked from a warm fork server (multiprocessing's
``forkserver``, started once per driver with the interpreter, numpy and the plugin registry
already imported, see :mod:`harness._warm`): a group starts in milliseconds instead of paying
a second of imports, and still shares nothing with other groups or with the driver but the
environment, which the driver hands over per group. ``VECBENCH_START_METHOD=spawn`` (or a
platform without ``forkserver``) starts every group from a fresh interpreter instead.

Each query point's raw results go back to the driver over a pipe as soon as they exist, so a
later crash, hang or memory blow-up loses nothing already measured: the driver records what it
received and marks the rest failed / timeout with the cause and the captured stderr.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness.config import Spec

THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                   "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
                   "NUMBA_NUM_THREADS")
STDERR_TAIL = 4000
POLL_SECONDS = 0.2
START_METHOD_ENV = "VECBENCH_START_METHOD"
_START_LOCK = threading.Lock()  # the thread env of a child is set around its start
_WARM_MODULES = ["harness._warm"]


@dataclass
class PointOutcome:
    """What the driver learned about one spec (query point) of a build group."""

    spec: Spec
    status: str
    error: str | None = None
    i: int = 0
    measures: dict[str, Any] | None = None
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    timing: dict[str, Any] = field(default_factory=dict)
    build: dict[str, Any] = field(default_factory=dict)
    stderr: str = ""
    warnings: list[str] = field(default_factory=list)


@dataclass
class GroupJob:
    """Everything a task's worker needs, as plain data (picklable).

    ``index_name`` names the plugin under test (an index for ``search``, an attack for
    ``attack``, ...); ``metric`` is the dataset's metric unless the suite overrides it.
    Datasets travel by name and data folder, with the checksum the driver saw
    (``dataset_checksum``): a worker whose copy differs refuses to run. ``cpu`` pins the
    child process to one core (parallel local runs).
    """

    specs: list[Spec]
    dataset: str
    metric: str
    data_dir: str
    extra_modules: list[str]
    index_name: str
    task: str = "search"
    dataset_checksum: str = ""
    cpu: int | None = None


# =========================================================================== driver side


def run_group(job: GroupJob, *, poll: Callable[[], None] | None = None) -> Iterator[PointOutcome]:
    """Run a build group in a child process; yield one outcome per spec, as they arrive."""
    first = job.specs[0]
    settings = first.settings
    ctx = _context()
    log_fd, log_path = tempfile.mkstemp(prefix="vecbench-worker-", suffix=".log")
    os.close(log_fd)
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    with _START_LOCK:
        env_backup = {v: os.environ.get(v) for v in THREAD_ENV_VARS}
        for var in THREAD_ENV_VARS:
            os.environ[var] = str(first.threads)
        try:
            proc = ctx.Process(target=worker_main,
                               args=(child_conn, job, log_path, dict(os.environ)),
                               daemon=True)
            proc.start()
        finally:
            for var, value in env_backup.items():
                if value is None:
                    os.environ.pop(var, None)
                else:
                    os.environ[var] = value
    child_conn.close()
    pending = list(range(len(job.specs)))
    build_info: dict[str, Any] = {}
    deadline = time.monotonic() + settings.timeout
    limit_bytes = settings.memory_limit_mb * 2**20
    try:
        import psutil

        ps = psutil.Process(proc.pid)
    except Exception:
        ps = None
    try:
        while pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _kill(proc)
                msg = (f"timeout: build configuration exceeded {settings.timeout:g} s "
                       f"(setting 'timeout'); {len(job.specs) - len(pending)} of "
                       f"{len(job.specs)} query points finished before it")
                yield from _fail_pending(job, pending, "timeout", msg, log_path, build_info)
                return
            if parent_conn.poll(min(POLL_SECONDS, remaining)):
                try:
                    kind, payload = parent_conn.recv()
                except (EOFError, OSError):
                    yield from _died(proc, job, pending, log_path, build_info)
                    return
                if kind == "built":
                    build_info = payload
                elif kind == "build_error":
                    _kill(proc)
                    yield from _fail_pending(job, pending, "failed", payload, log_path,
                                             build_info)
                    return
                elif kind in ("point", "point_error"):
                    i = payload["i"]
                    pending.remove(i)
                    yield _outcome(job.specs[i], i, kind, payload, build_info, log_path)
                continue
            if not proc.is_alive():
                while parent_conn.poll(0):  # drain what it sent before dying
                    try:
                        kind, payload = parent_conn.recv()
                    except (EOFError, OSError):
                        break
                    if kind == "built":
                        build_info = payload
                    elif kind in ("point", "point_error"):
                        pending.remove(payload["i"])
                        yield _outcome(job.specs[payload["i"]], payload["i"], kind, payload,
                                       build_info, log_path)
                if pending:
                    yield from _died(proc, job, pending, log_path, build_info)
                return
            if ps is not None:
                try:
                    rss = ps.memory_info().rss
                except Exception:
                    rss = 0
                if rss > limit_bytes:
                    _kill(proc)
                    msg = (f"memory limit exceeded: RSS {rss / 2**20:.0f} MiB > "
                           f"{settings.memory_limit_mb:g} MiB (setting 'memory_limit_mb')")
                    yield from _fail_pending(job, pending, "failed", msg, log_path, build_info)
                    return
            if poll is not None:
                poll()
    finally:
        _kill(proc)
        parent_conn.close()
        with contextlib.suppress(OSError):
            os.unlink(log_path)


def _context() -> Any:
    """The multiprocessing context that starts build groups (see the module docstring).

    The fork server is started here, once, from an environment without the thread
    variables (BLAS and OpenMP keep their defaults; numba's pool, whose size is fixed at
    import, gets one thread per CPU of the machine); each child then applies the driver's
    environment and the group's thread count itself.
    """
    method = os.environ.get(START_METHOD_ENV, "").strip() or "forkserver"
    if method not in ("forkserver", "spawn"):
        from harness.errors import InvalidInputError

        raise InvalidInputError(
            f"{START_METHOD_ENV}={method!r}: use 'forkserver' (default) or 'spawn'")
    if method == "spawn" or "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    from multiprocessing import forkserver

    ctx = mp.get_context("forkserver")
    with _START_LOCK:
        ctx.set_forkserver_preload(_WARM_MODULES)
        saved = {v: os.environ.pop(v) for v in THREAD_ENV_VARS if v in os.environ}
        # numba sizes its pool at import, by default to the CPUs this process may use; the
        # server's pool must allow any group's count, whatever the driver is pinned to
        os.environ["NUMBA_NUM_THREADS"] = str(os.cpu_count() or 1)
        try:
            forkserver.ensure_running()
        finally:
            os.environ.pop("NUMBA_NUM_THREADS", None)
            os.environ.update(saved)
    return ctx


def start_fork_server() -> None:
    """Start this process's warm fork server now, and wait until it has loaded its modules
    (about a second), rather than at the first build group."""
    allow_children()
    ctx = _context()
    probe = ctx.Process(target=_ready, daemon=True)
    probe.start()
    probe.join()


def allow_children() -> None:
    """Let this process start build groups even if it is a daemon (a Dask worker).

    Dask's nanny starts worker processes as daemons, and Python refuses to let a daemon
    start children; a group's child is killed with its parent anyway (``PR_SET_PDEATHSIG``),
    so the flag is lifted for this process.
    """
    proc = mp.current_process()
    if proc._config.get("daemon"):  # type: ignore[attr-defined]
        proc._config["daemon"] = False  # type: ignore[attr-defined]


def _ready() -> None:
    """A child that does nothing: started by :func:`start_fork_server` to wait for the server."""


def _kill(proc: Any) -> None:
    if proc.is_alive():
        proc.kill()
    proc.join(timeout=10)


def _tail(log_path: str) -> str:
    try:
        with open(log_path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - STDERR_TAIL))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _outcome(spec: Spec, i: int, kind: str, payload: dict[str, Any],
             build_info: dict[str, Any], log_path: str) -> PointOutcome:
    if kind == "point_error":
        return PointOutcome(spec, payload.get("status", "failed"), payload["error"], i=i,
                            build=build_info, stderr=_tail(log_path))
    return PointOutcome(spec, "ok", None, i=i, measures=payload.get("measures"),
                        arrays=payload.get("arrays") or {}, timing=payload.get("timing") or {},
                        build=build_info, stderr=_tail(log_path),
                        warnings=payload.get("warnings", []))


def _fail_pending(job: GroupJob, pending: Sequence[int], status: str, error: str,
                  log_path: str, build_info: dict[str, Any]) -> Iterator[PointOutcome]:
    stderr = _tail(log_path)
    for i in list(pending):
        yield PointOutcome(job.specs[i], status, error, i=i, build=build_info, stderr=stderr)


def _died(proc: Any, job: GroupJob, pending: Sequence[int], log_path: str,
          build_info: dict[str, Any]) -> Iterator[PointOutcome]:
    proc.join(timeout=10)
    code = proc.exitcode
    if code is not None and code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        why = f"killed by signal {name}"
    else:
        why = f"exited with code {code}"
    phase = "during build" if not build_info else "during the query sweep"
    msg = f"worker process crashed {phase}: {why}"
    yield from _fail_pending(job, pending, "failed", msg, log_path, build_info)


# =========================================================================== worker side


def _reload_numba_config() -> None:
    """Make a preloaded numba read the environment the child just took over.

    numba reads ``NUMBA_NUM_THREADS`` (and the rest of its configuration) at import, and again
    before every compilation, where it refuses a thread count other than the one its pool
    was started with; the fork server imported it under the server's environment. Reloading
    now, before the group starts numba's threads, makes both readings the group's.
    """
    import sys

    if "numba" in sys.modules:
        from numba.core import config

        config.reload_config()


def _die_with_parent() -> None:
    """Ask Linux to kill this child when the driver dies (even by SIGKILL): no orphans."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def worker_main(conn: Any, job: GroupJob, log_path: str,
                env: dict[str, str] | None = None) -> None:
    """Entry point of the child process.

    :param env: the driver's environment at the group's start (with the group's thread
        count); a child forked from the warm fork server takes it over, so it sees what a
        freshly spawned child would.
    """
    if env is not None and env != os.environ:
        os.environ.clear()
        os.environ.update(env)
        _reload_numba_config()
    if mp.get_start_method(allow_none=True) != "spawn":
        # as in a spawned child: libraries that guard against later forks (numba's threading
        # layer takes a process lock, a semaphore that a killed child would leak) and any
        # processes a plugin starts see the spawn method
        mp.set_start_method("spawn", force=True)
    _die_with_parent()
    if job.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {job.cpu})
    log = os.open(log_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(log)
    try:
        _worker(conn, job)
    except BaseException:
        conn.send(("build_error", traceback.format_exc(limit=20)))
    finally:
        conn.close()


def _pin_threads(threads: int) -> dict[str, Any]:
    info: dict[str, Any] = {"threads": threads}
    try:
        from threadpoolctl import threadpool_info, threadpool_limits

        threadpool_limits(threads)
        info["threadpools"] = [
            {k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                   "architecture")}
            for p in threadpool_info()
        ]
    except Exception as exc:
        info["threadpools_error"] = repr(exc)
    try:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    except Exception:
        pass
    return info


def _worker(conn: Any, job: GroupJob) -> None:
    import random

    from harness.plugins import get_registry

    first = job.specs[0]
    thread_info = _pin_threads(first.threads)
    random.seed(first.seed)
    np.random.seed(first.seed % 2**32)
    registry = get_registry(job.extra_modules)
    task = registry.tasks.get(job.task)
    for kind, payload in task.worker(job):
        if kind == "built":
            payload = {**payload, "thread_info": thread_info}
        conn.send((kind, payload))


def search_worker(job: GroupJob) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``search`` task: build the index once, then measure each query point."""
    import resource

    import psutil

    from harness.data import load_dataset
    from harness.metrics import get_metric
    from harness.plugins import get_registry
    from harness.types import n_items

    first = job.specs[0]
    registry = get_registry(job.extra_modules)
    info = registry.indexes.get(job.index_name)
    ds = load_dataset(job.dataset, Path(job.data_dir))
    if job.dataset_checksum and ds.checksum != job.dataset_checksum:
        raise RuntimeError(
            f"dataset {job.dataset!r} here has checksum {ds.checksum}, but the driver has "
            f"{job.dataset_checksum}: the worker's copy differs; refusing to measure it")
    metric = get_metric(job.metric)
    train, test = ds.train, ds.test
    proc = psutil.Process()

    index = info.factory(metric=metric.name, **first.build)
    if info.capabilities.threads and hasattr(index, "set_threads"):
        index.set_threads(first.threads)
    sample = train[: min(64, n_items(train))]
    t0 = time.perf_counter()
    index.warmup(sample)
    jit_seconds = time.perf_counter() - t0

    rss_before = proc.memory_info().rss
    w0, c0 = time.perf_counter_ns(), time.process_time_ns()
    index.build(train)
    build_wall = (time.perf_counter_ns() - w0) / 1e9
    build_cpu = (time.process_time_ns() - c0) / 1e9
    rss_after = proc.memory_info().rss
    build_info = {
        "build_seconds": build_wall,
        "build_cpu_seconds": build_cpu,
        "jit_seconds": jit_seconds,
        "index_bytes": int(index.index_bytes()),
        "rss_growth_bytes": int(rss_after - rss_before),
        "peak_rss_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
        "cpu_wall_ratio_build": build_cpu / build_wall if build_wall > 0 else None,
    }
    yield "built", build_info

    nq = n_items(test)
    singles = [test[i:i + 1] for i in range(nq)]  # sliced before any timing
    for i, spec in enumerate(job.specs):
        try:
            payload = _measure_point(index, spec, test, singles, train, metric, first.threads)
        except BaseException as exc:
            status = "invalid-result" if isinstance(exc, InvalidResult) else "failed"
            error = (str(exc) if isinstance(exc, InvalidResult)
                     else traceback.format_exc(limit=20))
            yield "point_error", {"i": i, "status": status, "error": error}
            continue
        payload["i"] = i
        yield "point", payload


class InvalidResult(Exception):
    """The index returned something that is not a valid k-NN answer."""


def _measure_point(index: Any, spec: Spec, test: Any, singles: list[Any], train: Any,
                   metric: Any, threads: int) -> dict[str, Any]:
    settings = spec.settings
    k = spec.k
    index.set_query_params(**spec.query)
    search = index.search
    # warm-up pass: its answers are scored and its counters read (one pass, nq queries)
    raw = search(test, k)
    stats = dict(index.query_stats() or {})
    ids = validate_ids(raw, len(singles), k, _n(train))
    distances = recompute_distances(ids, test, train, metric)

    batch_wall, batch_cpu = [], []
    for _ in range(max(settings.repetitions, 1)):
        c0 = time.process_time_ns()
        t0 = time.perf_counter_ns()
        search(test, k)
        t1 = time.perf_counter_ns()
        batch_cpu.append((time.process_time_ns() - c0) / 1e9)
        batch_wall.append((t1 - t0) / 1e9)

    n_lat = len(singles) if settings.latency_queries < 0 else min(settings.latency_queries,
                                                                     len(singles))
    lat: list[int] = []
    if n_lat:
        chosen = singles[:n_lat]
        clock = time.perf_counter_ns
        append = lat.append
        for _ in range(max(settings.latency_repetitions, 1)):
            for q in chosen:
                t0 = clock()
                search(q, k)
                append(clock() - t0)
    warnings = []
    wall = float(np.sum(batch_wall))
    cpu = float(np.sum(batch_cpu))
    ratio = cpu / wall if wall > 0 else None
    if ratio is not None and wall > 0.05:
        if ratio < 0.8 * min(threads, os.cpu_count() or 1):
            warnings.append(f"search CPU/wall ratio {ratio:.2f} is below the {threads} "
                            "thread(s) pinned: the machine interfered with the timing")
        elif ratio > threads * 1.25 + 0.1:
            warnings.append(f"search CPU/wall ratio {ratio:.2f} exceeds the {threads} "
                            "thread(s) pinned: the index used more threads than asked")
    return {
        "arrays": {
            "ids": ids,
            "distances": distances,
            "latencies": np.asarray(lat, dtype=np.float64) / 1e9,
            "batch_seconds": np.asarray(batch_wall),
        },
        "timing": {
            "batch_seconds": batch_wall,
            "batch_cpu_seconds": batch_cpu,
            "cpu_wall_ratio_search": ratio,
            "latency_calls": len(lat),
            "query_stats": stats,
        },
        "warnings": warnings,
    }


def _n(data: Any) -> int:
    from harness.types import n_items

    return n_items(data)


def validate_ids(raw: Any, nq: int, k: int, n: int) -> np.ndarray:
    """Check an index's answer and return ids as int64 (nq, k), -1 padded.

    Raises :class:`InvalidResult` for a wrong shape, non-integer ids, ids out of range or
    duplicated within a query, or more than k results.
    """
    ids = raw[0] if isinstance(raw, tuple) else raw
    ids = np.asarray(ids)
    if ids.ndim == 1 and nq == 1:
        ids = ids[None, :]
    if ids.ndim != 2 or ids.shape[0] != nq:
        raise InvalidResult(f"ids must have shape ({nq}, {k}); got {ids.shape}")
    if ids.shape[1] > k:
        raise InvalidResult(f"index returned {ids.shape[1]} ids per query for k={k}")
    if not np.issubdtype(ids.dtype, np.integer):
        raise InvalidResult(f"ids must be integers; got dtype {ids.dtype}")
    ids = ids.astype(np.int64, copy=False)
    if ids.shape[1] < k:
        ids = np.concatenate([ids, np.full((nq, k - ids.shape[1]), -1, np.int64)], axis=1)
    bad = (ids < -1) | (ids >= n)
    if bad.any():
        q = int(np.flatnonzero(bad.any(axis=1))[0])
        raise InvalidResult(f"query {q}: id out of range [0, {n}): {ids[q][bad[q]][:5]}")
    s = np.sort(np.where(ids < 0, -1 - np.arange(k)[None, :], ids), axis=1)
    dup = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    if dup.any():
        q = int(np.flatnonzero(dup.any(axis=1))[0])
        raise InvalidResult(f"query {q}: duplicate ids in one answer: {ids[q].tolist()}")
    return ids


def recompute_distances(ids: np.ndarray, test: Any, train: Any, metric: Any) -> np.ndarray:
    """True float64 distances of the returned ids under the dataset's metric (inf if missing)."""
    nq, k = ids.shape
    out = np.full((nq, k), np.inf)
    valid = ids >= 0
    if not valid.any():
        return out
    qrows, cols = np.nonzero(valid)
    out[qrows, cols] = metric.rowwise(test[qrows], train[ids[qrows, cols]])
    return out
