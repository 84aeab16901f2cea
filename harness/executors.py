"""Executors: where build groups run. ``local`` (this machine) and ``dask`` (a cluster).

Every executor keeps the runner's isolation: each build group still runs in its own fresh
process (on the driver's machine, or on a Dask worker), and every outcome comes back to the
driver, which alone writes records (atomically). Executors are plugins
(``register_executors``); the built-in ones are registered by ``plugins/executors.py``.
"""

from __future__ import annotations

import os
import queue
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import Any

from harness.errors import InvalidInputError, PluginUnavailableError
from harness.runner import GroupJob, PointOutcome, allow_children, run_group

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
#: Dask settings for the workers that run vecbench groups: each worker process waits beside
#: its group's process, on the same core, so its own periodic work (a sampling profiler every
#: 10 ms, a GIL monitor every 1 ms, event-loop ticks every 20 ms, memory and system monitors)
#: is taken from the measured group. These turn the monitors off or slow them down. vecbench
#: cannot change a running cluster: start the workers with them (as environment variables,
#: see :func:`quiet_worker_env` and docs/scale-out.md).
QUIET_WORKERS = {"distributed.worker.profile.enabled": False,
                 "distributed.admin.system-monitor.gil.enabled": False,
                 "distributed.admin.tick.interval": "1s",
                 "distributed.admin.system-monitor.interval": "2s",
                 "distributed.worker.memory.monitor-interval": "1s"}


def quiet_worker_env() -> dict[str, str]:
    """:data:`QUIET_WORKERS` as Dask's environment variables (``DASK_A__B__C=value``)."""
    return {"DASK_" + key.upper().replace(".", "__").replace("-", "_"): str(value)
            for key, value in QUIET_WORKERS.items()}


#: ``admit(position)``: None to run the job, or the reason it is cut (see :func:`cut_outcomes`)
Admit = Callable[[int], "str | None"]


def cut_outcomes(job: GroupJob, reason: str) -> Iterator[PointOutcome]:
    """Outcomes (status ``cut``) of a job that is not run, one per spec."""
    for i, spec in enumerate(job.specs):
        yield PointOutcome(spec, "cut", reason, i=i)


class LocalExecutor:
    """Build groups on this machine: one at a time, or ``jobs`` at once, each pinned to a core.

    Sequential (``jobs=1``) is the default so that timings are undisturbed. With ``jobs=N``
    each concurrently running group is pinned to its own core (``sched_setaffinity`` in the
    child) and keeps the suite's thread count (1 by default).
    """

    name = "local"

    def __init__(self, jobs: int = 1, **_: Any) -> None:
        if jobs < 1:
            raise InvalidInputError(f"--jobs must be >= 1, got {jobs}")
        self.jobs = jobs

    def run(self, jobs: Sequence[GroupJob], admit: Admit | None = None,
            ) -> Iterator[tuple[int, PointOutcome]]:
        """Yield ``(job position, outcome)`` as outcomes arrive.

        :param admit: asked just before each job starts; a returned reason cuts the job
            (its specs come back with status ``cut`` and that reason, nothing runs).
        """
        if self.jobs == 1 or len(jobs) <= 1:
            for pos, job in enumerate(jobs):
                reason = admit(pos) if admit is not None else None
                outcomes = cut_outcomes(job, reason) if reason else run_group(job)
                for outcome in outcomes:
                    yield pos, outcome
            return
        cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
        todo: queue.Queue[int] = queue.Queue()
        for pos in range(len(jobs)):
            todo.put(pos)
        out: queue.Queue[tuple[int, PointOutcome] | None] = queue.Queue()
        n_threads = min(self.jobs, len(jobs))

        def worker(slot: int) -> None:
            core = cores[slot % len(cores)] if cores else None
            try:
                while True:
                    try:
                        pos = todo.get_nowait()
                    except queue.Empty:
                        return
                    job = replace(jobs[pos], cpu=core)
                    reason = admit(pos) if admit is not None else None
                    outcomes = cut_outcomes(job, reason) if reason else run_group(job)
                    for outcome in outcomes:
                        out.put((pos, outcome))
            finally:
                out.put(None)

        threads = [threading.Thread(target=worker, args=(slot,), daemon=True)
                   for slot in range(n_threads)]
        for t in threads:
            t.start()
        finished = 0
        while finished < n_threads:
            item = out.get()
            if item is None:
                finished += 1
                continue
            yield item
        for t in threads:
            t.join()


def _run_remote(job: GroupJob) -> list[PointOutcome]:
    """Run one build group on a Dask worker (still in its own child process there)."""
    allow_children()
    return list(run_group(job))


class DaskExecutor:
    """Build groups on a Dask cluster; the driver writes every record.

    :param scheduler: scheduler address (default ``$DASK_SCHEDULER_ADDRESS``).
    :param client: an existing ``distributed.Client`` (tests use an in-process cluster).
    :param retries: how often a group whose worker was lost is retried before its specs are
        recorded as failed.
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, client: Any = None, retries: int = 1,
                 **_: Any) -> None:
        try:
            import distributed
        except ImportError:
            raise PluginUnavailableError(
                "the dask executor needs dask.distributed: pip install 'vecbench[dask]'"
            ) from None
        self.retries = retries
        self._own_client = client is None
        if client is None:
            address = scheduler or os.environ.get(SCHEDULER_ENV)
            if not address:
                raise InvalidInputError(
                    "the dask executor needs a scheduler: pass --scheduler ADDRESS or set "
                    f"{SCHEDULER_ENV}")
            client = distributed.Client(address)
        self.client = client

    def run(self, jobs: Sequence[GroupJob]) -> Iterator[tuple[int, PointOutcome]]:
        from distributed import as_completed

        futures = {}
        for pos, job in enumerate(jobs):
            fut = self.client.submit(_run_remote, job, pure=False, retries=self.retries,
                                     key=f"vecbench-{job.specs[0].index}-{pos}-{os.getpid()}")
            futures[fut] = pos
        try:
            for fut in as_completed(list(futures)):
                pos = futures[fut]
                try:
                    outcomes = fut.result()
                except Exception as exc:
                    why = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                    msg = (f"dask: the build group failed on the cluster after "
                           f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}: {why}")
                    outcomes = [PointOutcome(spec, "failed", msg, i=i)
                                for i, spec in enumerate(jobs[pos].specs)]
                for outcome in outcomes:
                    yield pos, outcome
        finally:
            if self._own_client:
                self.client.close()
