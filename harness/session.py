"""A benchmark session: suite -> specs -> build groups -> records.

Resuming is the default: specs whose record already exists are skipped (failed ones are run
again only with ``retry_failed``). Every outcome is written as a record the moment it is
known, so an interrupted session loses nothing already measured.
"""

from __future__ import annotations

import datetime as dt
import inspect
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import results as records
from harness.config import BuildGroup, Spec, expand, load_suite, select
from harness.errors import VecbenchError
from harness.plugins import get_host
from harness.provenance import collect as collect_provenance
from harness.provenance import library_version
from harness.results import SCHEMA_VERSION
from harness.runner import GroupJob, PointOutcome
from harness.types import MeasureContext

FAILED_STATUSES = ("failed", "timeout", "invalid-result")


@dataclass
class PlannedGroup:
    """A build group with its resolved ids and what will be done with it."""

    group: BuildGroup
    dataset_checksum: str = ""
    plugin_version: str = ""
    spec_ids: list[str] = field(default_factory=list)
    todo: list[int] = field(default_factory=list)
    skip_reason: str = ""
    estimate_seconds: float = 0.0


@dataclass
class SessionReport:
    """What a session did."""

    suite: str
    results_dir: Path
    written: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0
    incompatible: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[dict[str, Any]]:
        return [r for r in self.written if r["status"] in FAILED_STATUSES]

    @property
    def exit_code(self) -> int:
        """0 when nothing failed; 1 when a spec failed, timed out or returned invalid ids."""
        return 1 if self.failures else 0


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Session:
    """Plan and run a suite.

    :param suite: built-in suite name or path of a suite file.
    :param results_dir: where records go.
    :param data_dir: dataset cache.
    :param select_expr: ``-k`` expression selecting specs.
    :param retry_failed: run again specs whose record is failed / timeout / invalid.
    :param extra_modules: local plugin modules (``-p``).
    :param shard: ``(i, N)``: run only the i-th of N deterministic shares of the build groups
        (1 <= i <= N), so a suite can be split across machines and merged afterwards.
    :param progress: called with one line of text per event (None: silent).
    """

    def __init__(self, suite: str | Path, *, results_dir: Path, data_dir: Path,
                 select_expr: str | None = None, retry_failed: bool = False,
                 extra_modules: tuple[str, ...] = (), shard: tuple[int, int] | None = None,
                 progress: Callable[[str], None] | None = None) -> None:
        self.host = get_host(extra_modules)
        self.registry = self.host.registry
        self.suite = load_suite(suite)
        self.results_dir = Path(results_dir)
        self.data_dir = Path(data_dir)
        self.select_expr = select_expr
        self.retry_failed = retry_failed
        self.extra_modules = list(extra_modules)
        if shard is not None and not (shard[1] >= 1 and 1 <= shard[0] <= shard[1]):
            raise VecbenchError(f"--shard i/N needs 1 <= i <= N, got {shard[0]}/{shard[1]}")
        self.shard = shard
        self.progress = progress or (lambda _msg: None)
        self._datasets: dict[str, Any] = {}
        self._override_gt: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
        self.report = SessionReport(self.suite.name, self.results_dir)

    # ------------------------------------------------------------------ planning
    def groups(self) -> list[BuildGroup]:
        """Build groups after ``-k`` selection and metric compatibility."""
        out = []
        for group in expand(self.suite, self.registry):
            if self.shard is not None and not in_shard(group, *self.shard):
                continue
            specs = select(group.specs, self.select_expr)
            if not specs:
                continue
            first = specs[0]
            info = self._plugin_info(first)
            caps = getattr(info, "capabilities", None)
            metric = self._metric_name(first) if caps is not None else None
            if metric is not None and metric not in caps.metrics:
                note = (f"skipped: index {first.index!r} does not support metric {metric!r} "
                        f"of dataset {first.dataset!r} (it supports "
                        f"{', '.join(sorted(info.capabilities.metrics))})")
                if note not in self.report.incompatible:
                    self.report.incompatible.append(note)
                    self.progress(note)
                continue
            out.append(BuildGroup(specs))
        return out

    def _plugin_table(self, spec: Spec) -> Any:
        return self.registry.table(self.registry.tasks.get(spec.task).plugin_kind)

    def _plugin_info(self, spec: Spec) -> Any:
        return self._plugin_table(spec).get(spec.index)

    def _metric_name(self, spec: Spec) -> str | None:
        from harness.metrics import get_metric

        if spec.metric:
            return get_metric(spec.metric).info.name
        info = self._dataset_info(spec.dataset)
        if info is None:
            return None
        return get_metric(info.metric).info.name

    def _dataset_info(self, name: str) -> Any:
        from harness.data import resolve_dataset

        try:
            return resolve_dataset(name, self.registry)
        except VecbenchError:
            return None

    def plan(self) -> list[PlannedGroup]:
        """Resolve ids and decide what runs (dataset checksums are computed here)."""
        existing = {r["spec_id"]: r.get("status") for r in records.load_all(self.results_dir)}
        planned = []
        for group in self.groups():
            first = group.first
            pg = PlannedGroup(group, plugin_version=self._plugin_version(first))
            ds = self._dataset(first.dataset)
            pg.dataset_checksum = getattr(ds, "checksum", "") if ds is not None else ""
            pg.spec_ids = [s.spec_id(pg.dataset_checksum, pg.plugin_version)
                           for s in group.specs]
            for i, sid in enumerate(pg.spec_ids):
                status = existing.get(sid)
                if status is None or (self.retry_failed and status != "ok"):
                    pg.todo.append(i)
                else:
                    self.report.skipped += 1
            planned.append(pg)
        return planned

    def dry_run(self) -> list[dict[str, Any]]:
        """The specs that would run, with a time estimate each (no dataset is loaded)."""
        history = _history(self.results_dir)
        rows = []
        for group in self.groups():
            n_points = len(group.specs)
            build_est = history.get(("build", group.first.dataset, group.first.index))
            for spec in group.specs:
                point_est = history.get(("point", spec.dataset, spec.index))
                est = (build_est if build_est is not None else 10.0) / n_points + (
                    point_est if point_est is not None else 2.0)
                rows.append({"spec": spec.describe(), "estimate_seconds": round(est, 2),
                             "estimate_from": "history" if point_est is not None else "guess"})
        return rows

    def _plugin_version(self, spec: Spec) -> str:
        entry = self._plugin_table(spec).get_entry(spec.index)
        own = getattr(entry.info, "version", None)
        if own:
            return own
        status = self.host.status.get(entry.provider)
        return (status.version if status and status.version else "") or ""

    def _dataset(self, name: str) -> Any:
        """Load (and cache) a dataset in the driver so that ground truth is computed once."""
        from harness.data import load_dataset

        if name not in self._datasets:
            try:
                self._datasets[name] = load_dataset(name, self.data_dir)
            except VecbenchError as exc:
                self._datasets[name] = exc
        value = self._datasets[name]
        return None if isinstance(value, Exception) else value

    # ------------------------------------------------------------------ running
    def run(self, executor: Any = None) -> SessionReport:
        """Run what :meth:`plan` left to do, through ``executor`` (default: local, sequential).

        Outcomes are written as records the moment they reach the driver.
        """
        from harness.executors import LocalExecutor

        executor = executor or LocalExecutor()
        planned = self.plan()
        total = sum(len(p.todo) for p in planned)
        if self.report.skipped:
            self.progress(f"{self.report.skipped} spec(s) already recorded: skipped "
                          "(--retry-failed re-runs failed ones)")
        jobs: list[GroupJob] = []
        owners: list[tuple[PlannedGroup, list[str]]] = []
        for pg in planned:
            if not pg.todo:
                continue
            specs = [pg.group.specs[i] for i in pg.todo]
            ids = [pg.spec_ids[i] for i in pg.todo]
            immediate = self._unrunnable(specs)
            if immediate is not None:
                for outcome in immediate:
                    self._report_line(self._write(outcome, ids[outcome.i], pg), outcome)
                continue
            first = specs[0]
            dataset = self._datasets[first.dataset]
            jobs.append(GroupJob(
                specs=specs, dataset=first.dataset, metric=first.metric or dataset.metric,
                data_dir=str(self.data_dir), extra_modules=self.extra_modules,
                index_name=first.index, task=first.task,
                dataset_checksum=pg.dataset_checksum))
            owners.append((pg, ids))
        budget = PluginBudget(jobs)
        started: set[int] = set()
        enforce = budget.active and "admit" in inspect.signature(executor.run).parameters
        if budget.active and not enforce:
            self.progress(f"note: executor {getattr(executor, 'name', executor)!r} does not "
                          "enforce plugin_budget (it starts every group at once)")
        run = executor.run(jobs, admit=budget.admit) if enforce else executor.run(jobs)
        for done, (pos, outcome) in enumerate(run):
            budget.charge(pos)
            pg, ids = owners[pos]
            if pos not in started:
                started.add(pos)
                first = jobs[pos].specs[0]
                self.progress(f"[{done + 1}/{total}] {first.index} on {first.dataset} "
                              f"build {first.build} seed {first.seed}")
            self._report_line(self._write(outcome, ids[outcome.i], pg), outcome)
        return self.report

    def _report_line(self, rec: dict[str, Any], outcome: PointOutcome) -> None:
        m = rec.get("measures") or {}
        task = self.registry.tasks.get(outcome.spec.task)
        shown = task.summary_measures or ("recall", "qps")
        figures = " ".join(f"{name}={_fmt(m.get(name), 0 if name == 'qps' else 3)}"
                           for name in shown)
        line = (f"    {rec['status']:<14} {rec['spec']['index']} query {outcome.spec.query} "
                f"{figures}")
        if rec["status"] != "ok" and rec.get("error"):
            line += f"  ({rec['error'].strip().splitlines()[-1][:160]})"
        self.progress(line)

    def _unrunnable(self, specs: list[Spec]) -> list[PointOutcome] | None:
        """Outcomes for a group that cannot run here (library or dataset missing), else None."""
        first = specs[0]
        info = self._plugin_info(first)
        missing = info.missing_requirements() if hasattr(info, "missing_requirements") else []
        if missing:
            hint = info.install_hint or f"pip install {' '.join(missing)}"
            msg = f"library not installed ({', '.join(missing)}); install with: {hint}"
            return [PointOutcome(spec, "unavailable", msg, i=i) for i, spec in enumerate(specs)]
        dataset = self._datasets.get(first.dataset)
        if isinstance(dataset, Exception) or dataset is None:
            return [PointOutcome(spec, "unavailable", f"dataset: {dataset}", i=i)
                    for i, spec in enumerate(specs)]
        return None

    def _write(self, outcome: PointOutcome, spec_id: str, pg: PlannedGroup) -> dict[str, Any]:
        spec = outcome.spec
        ds = self._datasets.get(spec.dataset)
        ds = None if isinstance(ds, Exception) else ds
        entry = self._plugin_table(spec).get_entry(spec.index)
        info = entry.info
        measures: dict[str, Any] = dict(outcome.measures or {})
        status, error = outcome.status, outcome.error
        if status == "ok" and ds is not None and spec.task == "search":
            try:
                measures = self.compute_measures(outcome, ds, spec)
            except Exception as exc:  # a broken measure plugin must not lose the record
                status, error = "failed", f"computing measures: {type(exc).__name__}: {exc}"
        record = {
            "schema_version": SCHEMA_VERSION,
            "spec_id": spec_id,
            "build_id": spec.build_id(pg.dataset_checksum, pg.plugin_version),
            "suite": spec.suite,
            "spec": {**spec.identity(), "label": spec.label},
            "settings": spec.as_dict()["settings"],
            "status": status,
            "error": error,
            "stderr": outcome.stderr,
            "warnings": outcome.warnings,
            "measures": measures,
            "timing": {**outcome.timing, **{k: v for k, v in outcome.build.items()
                                           if k != "thread_info"}},
            "threads": outcome.build.get("thread_info"),
            "dataset": _dataset_meta(ds, spec.dataset),
            "plugin": {"name": spec.index, "provider": entry.provider,
                       "version": pg.plugin_version, "library": getattr(info, "library", None),
                       "library_version": library_version(getattr(info, "library", None))},
            "provenance": collect_provenance(),
            "finished_at": _utcnow(),
        }
        records.write_record(self.results_dir, record, outcome.arrays or None)
        self.report.written.append(record)
        return record

    def _groundtruth_under(self, ds: Any, name: str, metric: Any
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Ground truth of a dataset under a suite's metric override (computed once)."""
        from harness.data import groundtruth_under

        key = (name, metric.name)
        if key not in self._override_gt:
            self._override_gt[key] = groundtruth_under(ds, metric, ds.distances.shape[1],
                                                       self.data_dir)
        return self._override_gt[key]

    def compute_measures(self, outcome: PointOutcome, ds: Any, spec: Spec) -> dict[str, Any]:
        """Run every registered search measure over an outcome."""
        from harness.metrics import get_metric

        arrays = outcome.arrays
        metric = get_metric(spec.metric or ds.metric)
        k = spec.k
        if ds.distances is None or ds.distances.shape[1] < k:
            raise VecbenchError(f"ground truth of {spec.dataset} is shallower than k={k}")
        gt_ids, gt_distances = ds.neighbors, ds.distances
        if metric.name != get_metric(ds.metric).name:
            gt_ids, gt_distances = self._groundtruth_under(ds, spec.dataset, metric)
        build = outcome.build
        ctx = MeasureContext(
            k=k, result_ids=arrays["ids"], result_distances=arrays["distances"],
            gt_ids=gt_ids, gt_distances=gt_distances, signed=metric.signed,
            batch_seconds=np.asarray(arrays.get("batch_seconds", [])),
            latencies_seconds=np.asarray(arrays.get("latencies", [])),
            n_queries=int(arrays["ids"].shape[0]),
            build_seconds=build.get("build_seconds", float("nan")),
            index_bytes=build.get("index_bytes", float("nan")),
            extra={**build, **outcome.timing},
        )
        out: dict[str, Any] = {}
        for name, entry in self.registry.measures:
            if "search" not in entry.info.tasks:
                continue
            value = entry.info.compute(ctx)
            out[name] = None if value is None or not np.isfinite(value) else float(value)
        return out


class PluginBudget:
    """The suite's ``plugin_budget``: wall seconds one plugin may spend on one dataset.

    Each job is charged the wall time from its admission to its latest outcome; a job is
    admitted while its (plugin, dataset) has spent less than the budget of its first spec,
    else it is cut with the reason (its specs are recorded with status ``cut``). Jobs
    already running are never interrupted: the per-group ``timeout`` does that.
    """

    def __init__(self, jobs: Sequence[GroupJob]) -> None:
        self.jobs = jobs
        self.active = any(j.specs[0].settings.plugin_budget > 0 for j in jobs)
        self.spent: dict[tuple[str, str], float] = {}
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def _key(self, pos: int) -> tuple[str, str]:
        first = self.jobs[pos].specs[0]
        return first.index, first.dataset

    def admit(self, pos: int) -> str | None:
        """None to run job ``pos``, or why it is cut."""
        limit = self.jobs[pos].specs[0].settings.plugin_budget
        with self._lock:
            spent = self.spent.get(self._key(pos), 0.0)
            if limit > 0 and spent >= limit:
                index, dataset = self._key(pos)
                return (f"cut: plugin_budget of {limit:g} s for {index!r} on {dataset!r} was "
                        f"spent ({spent:.1f} s) before this build configuration started")
            self._last[pos] = time.perf_counter()
        return None

    def charge(self, pos: int) -> None:
        """Add the wall time since job ``pos``'s last charge to its (plugin, dataset)."""
        with self._lock:
            last = self._last.get(pos)
            if last is None:
                return
            now = time.perf_counter()
            key = self._key(pos)
            self.spent[key] = self.spent.get(key, 0.0) + (now - last)
            self._last[pos] = now


def in_shard(group: BuildGroup, i: int, n: int) -> bool:
    """Whether a build group belongs to share ``i`` of ``n`` (stable: hashed build id)."""
    return int(group.first.build_id(), 16) % n == i - 1


def _dataset_meta(ds: Any, name: str) -> dict[str, Any]:
    if ds is None:
        return {"name": name}
    return {"name": name, "checksum": ds.checksum, "metric": ds.metric, "kind": ds.kind.value,
            "n_train": ds.n_train, "n_test": ds.n_test, "dim": ds.dim}


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}"


def _history(results_dir: Path) -> dict[tuple[str, str, str], float]:
    """Median past seconds per (build|point, dataset, index), for dry-run estimates."""
    acc: dict[tuple[str, str, str], list[float]] = {}
    for rec in records.load_all(results_dir):
        if rec.get("status") != "ok":
            continue
        spec = rec.get("spec", {})
        timing = rec.get("timing", {})
        key = (spec.get("dataset", ""), spec.get("index", ""))
        build = (timing.get("build_seconds") or 0) + (timing.get("jit_seconds") or 0)
        acc.setdefault(("build", *key), []).append(build)
        point = sum(timing.get("batch_seconds") or []) * 4 / 3 + (
            (rec.get("measures") or {}).get("p50_ms") or 0) * (
            (rec.get("dataset") or {}).get("n_test") or 0) / 1e3
        acc.setdefault(("point", *key), []).append(point)
    return {k: float(np.median(v)) for k, v in acc.items()}


def run_suite(suite: str | Path, **kwargs: Any) -> SessionReport:
    """Convenience wrapper: ``Session(suite, **kwargs).run()``."""
    t0 = time.monotonic()
    report = Session(suite, **kwargs).run()
    report.elapsed_seconds = time.monotonic() - t0  # type: ignore[attr-defined]
    return report
