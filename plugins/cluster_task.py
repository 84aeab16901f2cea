"""The ``cluster`` task: clusterer plugins against the classes of labelled datasets.

A suite's ``[[run]]`` with ``task = "cluster"`` names the clusterer(s) under test
(``clusterer = "spectral"``) and datasets with labels. One build configuration (clusterer,
build parameters, seed) runs in one isolated process: it loads the dataset, warms the
clusterer up on a small sample (one-off compilation and imports, reported as
``jit_seconds``), then for each query point creates a fresh clusterer, times
``fit_predict`` on the dataset's ``train`` vectors and compares its labels with
``train_labels``.

Two build parameters are filled in by the task when a suite leaves them at their "unset"
value: ``n_clusters = 0`` becomes the number of classes of the dataset, and ``metric = ""``
becomes the dataset's metric (or the suite's ``metric`` override).

Measures of every record (defined in ``docs/clustering.md``): ``ari``, ``nmi``,
``seconds`` (wall time of ``fit_predict``), ``cpu_seconds``, ``peak_memory_bytes`` (largest
RSS growth over the process' RSS before ``fit_predict``, sampled every few milliseconds),
``peak_rss_bytes`` (the process' high-water mark), ``n_points``, ``n_classes``,
``n_clusters`` (asked), ``n_clusters_found`` and ``noise_fraction`` (share of label -1).
The labels are kept as the array ``labels``.

:func:`cluster_table` and :func:`plot_cluster` turn records (``harness.results``' frame)
into one table and one figure per dataset; ``vecbench plot`` and ``vecbench run`` call
:func:`plot_cluster` through the task's ``plot``.
"""

from __future__ import annotations

import json
import resource
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import InvalidInputError, TaskInfo, hookimpl
from plugins._spectral_scores import adjusted_rand_index, normalized_mutual_information

WARMUP_POINTS = 300
SAMPLE_SECONDS = 0.005
#: parameters the table and plot leave out of a configuration's label
_QUIET_PARAMS = ("n_clusters", "seed", "metric")


# --------------------------------------------------------------------------- measuring


class PeakRSS:
    """Samples the process' RSS in a thread; ``peak`` is the largest value seen."""

    def __init__(self, interval: float = SAMPLE_SECONDS) -> None:
        import psutil

        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.start_rss = self._proc.memory_info().rss
        self.peak = self.start_rss
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth(self) -> int:
        """Largest RSS seen minus the RSS at the start (bytes)."""
        return int(self.peak - self.start_rss)


def points_and_classes(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    """The dataset's train vectors and their labels, or a clear error."""
    from harness.types import DataKind

    if ds.kind is not DataKind.DENSE:
        raise InvalidInputError(f"cluster task: dataset {ds.name!r} holds {ds.kind.value} data; "
                                "clusterers take dense vectors")
    if ds.train_labels is None:
        raise InvalidInputError(f"cluster task: dataset {ds.name!r} has no labels to compare "
                                "the clusters with")
    labels = np.asarray(ds.train_labels)
    if labels.shape != (len(ds.train),):
        raise InvalidInputError(f"cluster task: dataset {ds.name!r} has {labels.shape} labels "
                                f"for {len(ds.train)} points")
    return np.asarray(ds.train), labels


def effective_params(info: Any, build: dict[str, Any], n_classes: int,
                     metric: str) -> dict[str, Any]:
    """The build parameters with ``n_clusters = 0`` and ``metric = ""`` filled in."""
    names = {p.name for p in info.build_params}
    params = dict(build)
    if "n_clusters" in names and params.get("n_clusters", 0) == 0:
        params["n_clusters"] = n_classes
    if "metric" in names and not params.get("metric"):
        params["metric"] = metric
    return params


class InvalidLabels(InvalidInputError):
    """A clusterer's answer is not one integer label (>= -1) per point."""


def check_labels(raw: Any, n: int, who: str) -> np.ndarray:
    """A clusterer's answer as int64 (n,), or :class:`InvalidLabels`."""
    labels = np.asarray(raw)
    if labels.shape != (n,):
        raise InvalidLabels(f"clusterer {who!r} returned labels of shape {labels.shape} "
                            f"for {n} points")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidLabels(f"clusterer {who!r} returned labels of dtype {labels.dtype}, "
                            "expected integers")
    labels = labels.astype(np.int64)
    if (labels < -1).any():
        raise InvalidLabels(f"clusterer {who!r} returned labels below -1 (the noise label)")
    return labels


def score(labels: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """ARI, NMI, clusters found and the noise share of ``labels`` against ``truth``."""
    found = np.unique(labels[labels >= 0])
    return {"ari": adjusted_rand_index(truth, labels),
            "nmi": normalized_mutual_information(truth, labels),
            "n_clusters_found": float(len(found)),
            "noise_fraction": float(np.mean(labels < 0))}


def _warmup_sample(x: np.ndarray) -> np.ndarray:
    step = max(1, len(x) // WARMUP_POINTS)
    return x[::step][:WARMUP_POINTS]


def cluster_worker(job: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``cluster`` task (see the module docstring)."""
    from harness.data import load_dataset
    from harness.plugins import get_registry

    registry = get_registry(job.extra_modules)
    info = registry.clusterers.get(job.index_name)
    t0 = time.perf_counter()
    ds = load_dataset(job.dataset, Path(job.data_dir))
    x, truth = points_and_classes(ds)
    load_seconds = time.perf_counter() - t0
    n_classes = len(np.unique(truth))
    first = effective_params(info, job.specs[0].build, n_classes, job.metric)
    warm_error = None
    t0 = time.perf_counter()
    try:
        info.factory(**first).fit_predict(_warmup_sample(x))
    except Exception as exc:  # a sample too small for these parameters only skips warm-up
        warm_error = f"{type(exc).__name__}: {exc}"
    jit_seconds = time.perf_counter() - t0
    built: dict[str, Any] = {"load_seconds": load_seconds, "jit_seconds": jit_seconds,
                             "n_points": len(x), "n_classes": n_classes}
    if warm_error:
        built["warmup_error"] = warm_error
    yield "built", built

    for i, spec in enumerate(job.specs):
        try:
            payload = _fit_point(info, spec, x, truth, n_classes, job.metric)
        except InvalidLabels as exc:
            yield "point_error", {"i": i, "status": "invalid-result", "error": str(exc)}
            continue
        except InvalidInputError as exc:
            yield "point_error", {"i": i, "status": "failed", "error": str(exc)}
            continue
        except Exception:
            yield "point_error", {"i": i, "status": "failed",
                                  "error": traceback.format_exc(limit=20)}
            continue
        payload["i"] = i
        yield "point", payload


def _fit_point(info: Any, spec: Any, x: np.ndarray, truth: np.ndarray, n_classes: int,
               metric: str) -> dict[str, Any]:
    params = effective_params(info, {**spec.build, **spec.query}, n_classes, metric)
    clusterer = info.factory(**params)
    with PeakRSS() as memory:
        c0, w0 = time.process_time_ns(), time.perf_counter_ns()
        raw = clusterer.fit_predict(x)
        wall = (time.perf_counter_ns() - w0) / 1e9
        cpu = (time.process_time_ns() - c0) / 1e9
    labels = check_labels(raw, len(x), info.name)
    measures: dict[str, Any] = {
        **score(labels, truth),
        "seconds": wall, "cpu_seconds": cpu,
        "peak_memory_bytes": float(memory.growth),
        "peak_rss_bytes": float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
        "n_points": float(len(x)), "n_classes": float(n_classes),
        "n_clusters": float(params.get("n_clusters", 0) or 0),
    }
    warnings = []
    threads = int(spec.threads)
    if wall > 0.05 and cpu / wall < 0.8 * threads:
        warnings.append(f"fit CPU/wall ratio {cpu / wall:.2f} is below the {threads} "
                        "thread(s) pinned: the machine interfered with the timing")
    return {"measures": measures, "arrays": {"labels": labels},
            "timing": {"fit_seconds": wall, "fit_cpu_seconds": cpu,
                       "cpu_wall_ratio_fit": cpu / wall if wall > 0 else None,
                       "params": {k: v for k, v in params.items() if k in ("n_clusters",
                                                                           "metric")}},
            "warnings": warnings}


# --------------------------------------------------------------------------- reporting


def _params(build: Any) -> dict[str, Any]:
    try:
        return dict(json.loads(build) if isinstance(build, str) else (build or {}))
    except (TypeError, ValueError):
        return {}


def _config_labels(index: list[Any], build: list[Any]) -> list[str]:
    """``name [p=v,...]`` naming only the parameters that vary among a clusterer's rows
    (seed, n_clusters and metric left out)."""
    params = [_params(b) for b in build]
    varying: dict[str, set[str]] = {}
    for name in set(map(str, index)):
        rows = [p for i, p in zip(index, params, strict=True) if str(i) == name]
        keys = {k for p in rows for k in p} - set(_QUIET_PARAMS)
        varying[name] = {k for k in keys
                         if len({json.dumps(p.get(k), sort_keys=True) for p in rows}) > 1}
    out = []
    for i, p in zip(index, params, strict=True):
        shown = ",".join(f"{k}={p.get(k)}" for k in sorted(varying[str(i)]))
        out.append(f"{i} [{shown}]" if shown else str(i))
    return out


def cluster_table(df: Any) -> Any:
    """One row per (dataset, clusterer configuration): medians over seeds of ``ari``, ``nmi``,
    ``seconds`` and ``peak_memory_bytes``, and the number of seeds; best ARI first. A
    configuration is labelled by the clusterer's name and the parameters that vary among
    its records (seed, n_clusters and metric aside)."""
    import pandas as pd

    columns = ["dataset", "clusterer", "ari", "nmi", "seconds", "peak_memory_bytes", "seeds"]
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"cluster_table: expected a pandas DataFrame, got "
                                f"{type(df).__name__}")
    if len(df) == 0 or "task" not in df.columns:
        return pd.DataFrame(columns=columns)
    rows = df[(df["task"] == "cluster") & (df["status"] == "ok")]
    if len(rows) == 0:
        return pd.DataFrame(columns=columns)
    rows = rows.assign(clusterer=_config_labels(rows["index"].tolist(),
                                                rows["build"].tolist()))
    for col in ("ari", "nmi", "seconds", "peak_memory_bytes"):
        if col not in rows.columns:
            rows = rows.assign(**{col: np.nan})
    out = (rows.groupby(["dataset", "clusterer"], sort=True)
           .agg(ari=("ari", "median"), nmi=("nmi", "median"), seconds=("seconds", "median"),
                peak_memory_bytes=("peak_memory_bytes", "median"), seeds=("seed", "nunique"))
           .reset_index())
    return out.sort_values(["dataset", "ari"], ascending=[True, False],
                           kind="stable").reset_index(drop=True)[columns]


def plot_cluster(df: Any, out_dir: str | Path) -> list[Path]:
    """One figure per dataset (``cluster-<dataset>.png`` and ``.svg``): ARI and NMI per
    clusterer configuration (bars, medians over seeds) beside its seconds (log scale).
    Returns the files written; nothing when there is no successful cluster record."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import NullFormatter

    table = cluster_table(df)
    out = Path(out_dir)
    written: list[Path] = []
    if len(table) == 0:
        return written
    out.mkdir(parents=True, exist_ok=True)
    for dataset, part in table.groupby("dataset", sort=True):
        part = part.reset_index(drop=True)
        names = part["clusterer"].tolist()
        pos = np.arange(len(names))
        height = 1.2 + 0.45 * len(names)
        fig = Figure(figsize=(10.0, height), layout="constrained")
        left, right = fig.subplots(1, 2, sharey=True, width_ratios=[2, 1])
        for offset, col, label in ((-0.2, "ari", "ARI"), (0.2, "nmi", "NMI")):
            values = part[col].astype(float).to_numpy()
            left.barh(pos + offset, values, height=0.4, label=label)
            for y, v in zip(pos + offset, values, strict=True):
                if np.isfinite(v):
                    left.text(max(v, 0.0) + 0.01, y, f"{v:.3f}", va="center",
                              fontsize="x-small")
        left.set_yticks(pos, names, fontsize="small")
        left.invert_yaxis()
        left.set_xlim(min(0.0, float(np.nanmin(part[["ari", "nmi"]].to_numpy(float)))), 1.12)
        left.set_xlabel("agreement with the classes (higher is better)")
        left.legend(loc="lower right", fontsize="small")
        left.grid(True, axis="x", alpha=0.3)
        seconds = part["seconds"].astype(float).to_numpy()
        right.barh(pos, np.where(seconds > 0, seconds, np.nan), height=0.6, color="0.5")
        for y, v in zip(pos, seconds, strict=True):
            if np.isfinite(v) and v > 0:
                right.text(v, y, f" {v:.3g} s", va="center", fontsize="x-small")
        finite = seconds[np.isfinite(seconds) & (seconds > 0)]
        if len(finite):
            right.set_xlim(float(finite.min()) / 3, float(finite.max()) * 6)
        right.set_xscale("log")
        right.xaxis.set_minor_formatter(NullFormatter())
        right.set_xlabel("seconds, log scale (lower is better)")
        right.grid(True, axis="x", which="both", alpha=0.3)
        fig.suptitle(f"clustering: {dataset}")
        stem = "cluster-" + (re.sub(r"[^A-Za-z0-9._-]+", "_", str(dataset)).strip("._")
                             or "dataset")
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        fig.savefig(png, dpi=120)
        fig.savefig(svg, metadata={"Date": None})
        written.extend([png, svg])
    return written


# --------------------------------------------------------------------------- registration


@hookimpl
def register_tasks(register: Any) -> None:
    """Register the ``cluster`` task."""
    register(TaskInfo(
        name="cluster", worker=cluster_worker, plugin_kind="clusterer", plugin_key="clusterer",
        description="clustering quality against labels: ARI, NMI, seconds, peak memory",
        plot=plot_cluster, summary_measures=("ari", "nmi", "seconds")))
