"""The ``metric-learning`` task: learn a Mahalanobis metric from labels, mining hard negatives
with the index plugin under test.

A suite's ``[[run]]`` with ``task = "metric-learning"`` names a labelled dense dataset and the
mining index (``index = "hnswlib"``; ``bruteforce`` is the exact reference); its build and
query parameters are the index's. Further run keys: ``loss`` (``triplet`` or ``hcl``),
``epochs``, ``fit_samples`` (a seeded subsample of ``train`` the metric is learned on, so
Fashion-MNIST stays affordable), ``pca_dims`` (the standardised data are projected on their
first principal axes first; 0: none) and ``knn_k``.

Per query point, in the isolated worker process: the data are standardised (per-feature
mean and deviation of the subsample); negatives are mined once exactly and once with the
index (``mining_fidelity`` = mean overlap, ``mining_seconds`` vs ``exact_mining_seconds``);
then :class:`plugins.metric_learning.MahalanobisLearner` fits ``L`` with the index as its
miner. Measures: ``knn_accuracy_before`` / ``knn_accuracy_after`` (majority vote of the
``knn_k`` exact nearest training rows, test queries) and ``same_class_recall_before`` /
``_after`` (share of those neighbours of the query's class), ``fit_seconds``,
``final_loss``, ``n_points``.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import InvalidInputError, TaskInfo, hookimpl

DEFAULTS = {"loss": "triplet", "epochs": 40, "fit_samples": 2000, "knn_k": 5, "pca_dims": 64}


def knn_scores(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray,
               test_labels: np.ndarray, k: int) -> tuple[float, float]:
    """(kNN accuracy by majority vote, same-class recall@k) under exact euclidean search."""
    from harness.groundtruth import exact_knn

    ids, _ = exact_knn(train.astype(np.float32), test.astype(np.float32), "euclidean", k)
    neigh = train_labels[ids]
    same = neigh == test_labels[:, None]
    votes = np.array([np.bincount(row).argmax() for row in neigh])
    return float(np.mean(votes == test_labels)), float(same.mean())


def _option(spec: Any, key: str) -> Any:
    value = (spec.extra or {}).get(key, DEFAULTS[key])
    default = DEFAULTS[key]
    if isinstance(default, int) and not isinstance(value, int):
        raise InvalidInputError(f"metric-learning task: {key!r} must be an integer, got "
                                f"{value!r}")
    if key == "loss" and value not in ("triplet", "hcl"):
        raise InvalidInputError(f"metric-learning task: loss must be 'triplet' or 'hcl', got "
                                f"{value!r}")
    return value


def _learn_point(index_name: str, spec: Any, x: np.ndarray, y: np.ndarray,
                 test: np.ndarray, test_y: np.ndarray) -> dict[str, Any]:
    from plugins.metric_learning import MahalanobisLearner, mine_hard_negatives, mining_fidelity

    k = int(_option(spec, "knn_k"))
    before = knn_scores(x, y, test, test_y, k)
    t0 = time.perf_counter()
    exact = mine_hard_negatives(x, y, 5)
    exact_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    mined = mine_hard_negatives(x, y, 5, index=index_name, build_params=dict(spec.build),
                                query_params=dict(spec.query))
    mining_seconds = time.perf_counter() - t0
    learner = MahalanobisLearner(loss=_option(spec, "loss"), epochs=int(_option(spec, "epochs")),
                                 learning_rate=0.02, mining_index=index_name,
                                 mining_build=dict(spec.build), mining_query=dict(spec.query))
    t0 = time.perf_counter()
    learner.fit(x, y)
    fit_seconds = time.perf_counter() - t0
    after = knn_scores(learner.transform(x), y, learner.transform(test), test_y, k)
    measures = {
        "knn_accuracy_before": before[0], "knn_accuracy_after": after[0],
        "same_class_recall_before": before[1], "same_class_recall_after": after[1],
        "mining_fidelity": mining_fidelity(mined, exact),
        "mining_seconds": mining_seconds, "exact_mining_seconds": exact_seconds,
        "fit_seconds": fit_seconds, "final_loss": float(learner.history[-1]),
        "n_points": float(len(x)),
    }
    assert learner.L is not None
    return {"measures": measures, "arrays": {"L": learner.L.astype(np.float32)},
            "timing": {"fit_seconds": fit_seconds}, "warnings": []}


def metric_learning_worker(job: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``metric-learning`` task (see the module docstring)."""
    from harness.data import load_dataset
    from harness.plugins import get_registry

    registry = get_registry(job.extra_modules)
    registry.indexes.get(job.index_name)  # a clear error for an unknown index
    t0 = time.perf_counter()
    ds = load_dataset(job.dataset, Path(job.data_dir))
    if ds.train_labels is None or ds.test_labels is None:
        raise InvalidInputError(f"metric-learning task: dataset {ds.name!r} has no labels")
    first = job.specs[0]
    n_fit = min(int(_option(first, "fit_samples")), len(ds.train))
    rng = np.random.default_rng(int(first.seed))
    rows = np.sort(rng.choice(len(ds.train), size=n_fit, replace=False))
    x = np.asarray(ds.train, dtype=np.float64)[rows]
    mean, std = x.mean(axis=0), x.std(axis=0)
    std[std == 0] = 1.0
    x = (x - mean) / std
    test = (np.asarray(ds.test, dtype=np.float64) - mean) / std
    dims = int(_option(first, "pca_dims"))
    if 0 < dims < x.shape[1]:
        # principal axes of the subsample: L is learned on (dims x dims), not (d x d)
        axes = np.linalg.svd(x, full_matrices=False)[2][:dims]
        x, test = x @ axes.T, test @ axes.T
    y, test_y = np.asarray(ds.train_labels)[rows], np.asarray(ds.test_labels)
    yield "built", {"load_seconds": time.perf_counter() - t0, "n_points": n_fit}
    for i, spec in enumerate(job.specs):
        try:
            payload = _learn_point(job.index_name, spec, x, y, test, test_y)
        except InvalidInputError as exc:
            yield "point_error", {"i": i, "status": "failed", "error": str(exc)}
            continue
        except Exception:
            yield "point_error", {"i": i, "status": "failed",
                                  "error": traceback.format_exc(limit=20)}
            continue
        payload["i"] = i
        yield "point", payload


@hookimpl
def register_tasks(register: Any) -> None:
    """Register the ``metric-learning`` task."""
    register(TaskInfo(
        name="metric-learning", worker=metric_learning_worker, plugin_kind="index",
        plugin_key="index",
        run_keys={"loss": "triplet or hcl (default triplet)",
                  "epochs": "Adam epochs (default 40)",
                  "fit_samples": "training rows the metric is learned on (default 2000)",
                  "knn_k": "neighbours of the kNN measures (default 5)",
                  "pca_dims": "principal axes kept before learning (default 64; 0: all)"},
        description="learned Mahalanobis metric with hard negatives mined by the index: kNN "
                    "accuracy before/after, mining fidelity vs time",
        summary_measures=("knn_accuracy_before", "knn_accuracy_after", "mining_fidelity")))
