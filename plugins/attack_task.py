"""The ``attack`` task: robustness of classifiers and of k-NN search under attack plugins.

A suite's ``[[run]]`` with ``task = "attack"`` names the attack plugin(s) under test
(``attack = "pgd"``), a dataset and these run keys (:data:`RUN_KEYS`): the ``target``
(``softmax``, ``soft-knn`` or ``retrieval``), the ``target_index`` of the index-backed
targets, the ``norm`` of the budget, and a few options. One build configuration (attack,
its build parameters, seed and run keys) runs in one process: it loads the data, builds the
target, then sweeps the budgets (query parameter ``eps_rel``, relative to the median 1-NN
distance of the attacked inputs in the attack's norm, or ``eps_abs``) in increasing order,
so that robust accuracy can be reported as the worst case over every budget up to eps.

Every measure is defined in ``docs/attacks.md``. :func:`plot_attack` draws robust accuracy
against the budget per attack, and recall against the budget per index.
"""

from __future__ import annotations

import inspect
import json
import time
import traceback
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness import InvalidInputError, TaskInfo, hookimpl
from plugins._attack_measures import (
    WorstCase,
    as_float,
    distances_of,
    exact_knn,
    fraction,
    median_nn_distance,
    perturbation_stats,
)
from plugins._attack_norms import NORMS, row_norms, to_budget
from plugins._attack_targets import (
    CountingTarget,
    RetrievalTarget,
    SoftKNNClassifier,
    decisions,
    train_softmax,
)

TARGETS = ("softmax", "soft-knn", "retrieval")
#: run keys of the attack task -> description (kept in ``Spec.extra``)
RUN_KEYS: dict[str, str] = {
    "target": "what is attacked: 'softmax' (default), 'soft-knn' or 'retrieval'",
    "target_index": "index plugin of the soft-knn and retrieval targets (default 'bruteforce')",
    "target_index_build": "build parameters of target_index (a table)",
    "target_index_query": "query parameters of target_index (a table)",
    "norm": "norm of the budget: 'linf' (default) or 'l2'",
    "bounds": "'none' (default) or 'data': inputs stay within the data's [min, max]",
    "rescale": "'none' (default) or 'unit': map the data's [min, max] to [0, 1] first",
    "n_inputs": "attack the first n test vectors only (default: all)",
    "temperature": "temperature of the soft targets, relative to the median 1-NN distance "
                   "under the metric (default 0.1)",
    "candidates": "neighbours the soft targets' logits are taken over (default 50)",
    "regularization": "inverse L2 strength C of the softmax target (default 1.0)",
}
DEFAULTS: dict[str, Any] = {
    "target": "softmax", "target_index": "bruteforce", "target_index_build": {},
    "target_index_query": {}, "norm": "linf", "bounds": "none", "rescale": "none",
    "n_inputs": 0, "temperature": 0.1, "candidates": 50, "regularization": 1.0,
}


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    """The run keys of one build configuration, checked."""

    target: str
    target_index: str
    target_index_build: dict[str, Any]
    target_index_query: dict[str, Any]
    norm: str
    bounds: str
    rescale: str
    n_inputs: int
    temperature: float
    candidates: int
    regularization: float


def parse_options(extra: Mapping[str, Any]) -> Options:
    """Fill defaults into the run keys and check them; errors name the key and the choices."""
    unknown = sorted(set(extra) - set(RUN_KEYS))
    if unknown:
        raise InvalidInputError(f"attack task: unknown run key {unknown[0]!r}; known: "
                                f"{sorted(RUN_KEYS)}")
    opts = {**DEFAULTS, **extra}

    def choice(key: str, allowed: tuple[str, ...]) -> str:
        if opts[key] not in allowed:
            raise InvalidInputError(f"attack task: {key} must be one of {list(allowed)}, got "
                                    f"{opts[key]!r}")
        return str(opts[key])

    def number(key: str, kind: type, low: float, strict: bool) -> Any:
        value = opts[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int:
            ok = ok and float(value).is_integer()
        if not ok or (value <= low if strict else value < low) or not np.isfinite(value):
            rel = ">" if strict else ">="
            raise InvalidInputError(f"attack task: {key} must be a {kind.__name__} {rel} {low}, "
                                    f"got {value!r}")
        return kind(value)

    for key in ("target_index_build", "target_index_query"):
        if not isinstance(opts[key], dict):
            raise InvalidInputError(f"attack task: {key} must be a table of parameters, got "
                                    f"{opts[key]!r}")
    if not isinstance(opts["target_index"], str) or not opts["target_index"]:
        raise InvalidInputError("attack task: target_index must be an index plugin name")
    return Options(
        target=choice("target", TARGETS), target_index=opts["target_index"],
        target_index_build=dict(opts["target_index_build"]),
        target_index_query=dict(opts["target_index_query"]),
        norm=choice("norm", NORMS), bounds=choice("bounds", ("none", "data")),
        rescale=choice("rescale", ("none", "unit")),
        n_inputs=number("n_inputs", int, 0, False),
        temperature=number("temperature", float, 0, True),
        candidates=number("candidates", int, 1, False),
        regularization=number("regularization", float, 0, True))


# --------------------------------------------------------------------------- setting up


@dataclass
class Setup:
    """Everything shared by the budgets of one build configuration."""

    target: Any
    x: np.ndarray
    labels: np.ndarray
    truth: np.ndarray
    clean_decision: np.ndarray
    scale: dict[str, float]
    bounds: tuple[float, float] | None
    index_target: bool
    train: np.ndarray
    metric: Any
    k: int
    build_info: dict[str, Any]
    clean_ids: np.ndarray | None = None
    clean_gt: Any = None


def _dense(data: Any, name: str) -> np.ndarray:
    arr = np.asarray(data)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.floating):
        raise InvalidInputError(f"attack task: the dataset's {name} vectors must be dense "
                                f"floats; gradient attacks do not apply to {arr.dtype} data")
    return np.asarray(arr, dtype=np.float64)


def _build_index(opts: Options, metric: Any, train: np.ndarray, registry: Any) -> Any:
    from harness.types import resolve_params

    info = registry.indexes.get(opts.target_index)
    if metric.info.name not in info.capabilities.metrics:
        raise InvalidInputError(
            f"attack task: index {info.name!r} does not support metric {metric.name!r} (it "
            f"supports {', '.join(sorted(info.capabilities.metrics))})")
    missing = info.missing_requirements()
    if missing:
        raise InvalidInputError(f"attack task: index {info.name!r} needs {', '.join(missing)}")
    build = resolve_params(info.build_params, opts.target_index_build,
                           f"index {info.name!r} (build)")
    query = resolve_params(info.query_params, opts.target_index_query,
                           f"index {info.name!r} (query)")
    index = info.factory(metric=metric.name, **build)
    index.build(train.astype(np.float32))
    index.set_query_params(**query)
    return index


def prepare(job: Any, opts: Options, k: int) -> Setup:
    """Load the data, build the target and the clean reference answers."""
    from harness.data import load_dataset
    from harness.metrics import get_metric
    from harness.plugins import get_registry

    registry = get_registry(job.extra_modules)
    ds = load_dataset(job.dataset, Path(job.data_dir))
    metric = get_metric(job.metric)
    train, test = _dense(ds.train, "base"), _dense(ds.test, "query")
    if opts.n_inputs:
        test = test[: opts.n_inputs]
    if opts.rescale == "unit":
        low, high = float(train.min()), float(train.max())
        if not high > low:
            raise InvalidInputError("attack task: rescale='unit' needs data that is not "
                                    "constant")
        train, test = (train - low) / (high - low), (test - low) / (high - low)
    bounds = None
    if opts.bounds == "data":
        low = float(min(train.min(), test.min()))
        high = float(max(train.max(), test.max()))
        bounds = (low, high) if high > low else None
    scale = {norm: median_nn_distance(test, train, norm) for norm in NORMS}
    info: dict[str, Any] = {"median_nn_l2": scale["l2"], "median_nn_linf": scale["linf"],
                            "n_inputs": len(test), "bounds": bounds}
    t0 = time.perf_counter()
    clean_ids = clean_gt = None
    if opts.target == "softmax":
        if ds.train_labels is None or ds.test_labels is None:
            raise InvalidInputError(f"attack task: target 'softmax' needs labels; dataset "
                                    f"{job.dataset!r} has none")
        target: Any = train_softmax(train, np.asarray(ds.train_labels),
                                    C=opts.regularization)
        labels = np.asarray(ds.test_labels)[: len(test)].astype(np.int64)
        index_target = False
    else:
        index = _build_index(opts, metric, train, registry)
        info["index_bytes"] = int(index.index_bytes())
        gt = exact_knn(metric, test, train, max(k + 1, 2))
        nn_scale = float(np.median(np.abs(gt.distances[:, 0])))
        if not nn_scale > 0:
            raise InvalidInputError("attack task: the median 1-NN distance under the metric is "
                                    "0; the soft targets' temperature cannot be scaled by it")
        temperature = opts.temperature * nn_scale
        info["temperature_abs"] = temperature
        if opts.target == "soft-knn":
            if ds.train_labels is None or ds.test_labels is None:
                raise InvalidInputError(f"attack task: target 'soft-knn' needs labels; dataset "
                                        f"{job.dataset!r} has none")
            target = SoftKNNClassifier(index, train, np.asarray(ds.train_labels), metric, k=k,
                                       temperature=temperature, candidates=opts.candidates)
            labels = np.asarray(ds.test_labels)[: len(test)].astype(np.int64)
        else:
            target = RetrievalTarget(index, train, metric, temperature=temperature,
                                     candidates=opts.candidates)
            labels = gt.ids[:, :k]
        clean_ids = target.search(test, k)
        clean_gt = gt
        index_target = True
    info["target_seconds"] = time.perf_counter() - t0
    n_classes = int(target.n_classes)
    truth = labels if labels.ndim == 1 else labels[:, 0]
    if opts.target != "retrieval" and (truth.min() < 0 or truth.max() >= n_classes):
        raise InvalidInputError("attack task: test labels must be classes seen in training")
    return Setup(target=target, x=test, labels=labels, truth=truth,
                 clean_decision=decisions(target, test), scale=scale, bounds=bounds,
                 index_target=index_target, train=train, metric=metric, k=k,
                 build_info=info, clean_ids=clean_ids, clean_gt=clean_gt)


def target_labels(setup: Setup, opts: Options) -> np.ndarray:
    """Labels a targeted attack aims at: class ``(y + 1) mod C`` for classifiers; for the
    retrieval target the clean (k+1)-th exact neighbour, to be promoted to the top-1."""
    if opts.target == "retrieval":
        return setup.clean_gt.ids[:, min(setup.k, setup.clean_gt.ids.shape[1] - 1)]
    return (setup.truth + 1) % int(setup.target.n_classes)


# --------------------------------------------------------------------------- the worker


def _budget(spec: Any, scale: float) -> tuple[float, float]:
    """(eps_rel, eps_abs) of a spec: ``eps_abs`` when given, else ``eps_rel * scale``."""
    query = spec.query
    if query.get("eps_abs") is not None:
        eps_abs = float(query["eps_abs"])
        return eps_abs / scale, eps_abs
    if "eps_rel" not in query:
        raise InvalidInputError(f"attack {spec.index!r} declares no query parameter 'eps_rel' "
                                "or 'eps_abs': the attack task cannot set its budget")
    return float(query["eps_rel"]), float(query["eps_rel"]) * scale


def attack_worker(job: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``attack`` task (see the module docstring and docs/attacks.md)."""
    from harness.plugins import get_registry
    from plugins.attacks import MinimisationAttack

    first = job.specs[0]
    opts = parse_options(first.extra)
    registry = get_registry(job.extra_modules)
    info = registry.attacks.get(job.index_name)
    if opts.norm not in info.norms:
        raise InvalidInputError(f"attack {info.name!r} supports norms {list(info.norms)}, not "
                                f"{opts.norm!r}")
    setup = prepare(job, opts, first.k)
    attack = info.factory(norm=opts.norm, bounds=setup.bounds, **first.build)
    targeted = bool(getattr(attack, "targeted", False))
    y_attack = target_labels(setup, opts) if targeted else setup.labels
    clean_correct = setup.clean_decision == setup.truth
    grad0 = np.asarray(setup.target.loss_gradient(setup.x, y_attack))
    zero_grad = fraction(~np.any(grad0 != 0, axis=1))
    yield "built", {"build_seconds": setup.build_info["target_seconds"], "jit_seconds": 0.0,
                    "index_bytes": setup.build_info.get("index_bytes", 0),
                    "attack_setup": setup.build_info}

    scale = setup.scale[opts.norm]
    budgets = []
    for i, spec in enumerate(job.specs):
        try:
            budgets.append((_budget(spec, scale), i))
        except Exception as exc:
            yield "point_error", {"i": i, "status": "failed", "error": str(exc)}
    budgets.sort(key=lambda item: (item[0][1], item[1]))
    worst = WorstCase(clean_correct)
    minimal: dict[str, Any] = {}
    for (eps_rel, eps_abs), i in budgets:
        spec = job.specs[i]
        try:
            payload = _point(spec, attack, setup, opts, y_attack, targeted, eps_rel, eps_abs,
                             worst, minimal, isinstance(attack, MinimisationAttack))
        except Exception:
            yield "point_error", {"i": i, "status": "failed",
                                  "error": traceback.format_exc(limit=20)}
            continue
        payload["measures"]["zero_gradient_fraction"] = zero_grad
        payload["i"] = i
        yield "point", payload


def _seed(spec: Any, per_point: bool = True) -> np.random.Generator:
    """One stream per (seed, query point): a point's result does not depend on which other
    points run in the same process (a resumed sweep draws the same numbers)."""
    words = [int(spec.seed) % 2**63]
    if per_point:
        text = json.dumps(spec.query, sort_keys=True, default=str)
        words.append(zlib.crc32(text.encode()))
    return np.random.default_rng(words)


def _point(spec: Any, attack: Any, setup: Setup, opts: Options, y_attack: np.ndarray,
           targeted: bool, eps_rel: float, eps_abs: float, worst: WorstCase,
           minimal: dict[str, Any], is_minimal: bool) -> dict[str, Any]:
    x = setup.x
    training_seconds = None
    counting = CountingTarget(setup.target)
    index_before = getattr(setup.target, "index_queries", 0)
    t0 = time.perf_counter()
    if is_minimal:
        if "x" not in minimal:  # run once, then clip to every budget (foolbox convention)
            m0 = time.perf_counter()
            minimal["x"] = attack.minimal_perturbation(counting, x, y_attack,
                                                       _seed(spec, per_point=False))
            minimal["seconds"] = time.perf_counter() - m0
            minimal["gradient_rows"] = counting.gradient_rows
            minimal["index_queries"] = getattr(setup.target, "index_queries", 0) - index_before
        x_adv = to_budget(x, minimal["x"], eps_abs, opts.norm, setup.bounds)
        seconds, grad_rows = minimal["seconds"], minimal["gradient_rows"]
        index_queries = minimal["index_queries"]
    else:
        if _needs_training(attack, eps_abs):  # trained attacks (advgan): timed apart
            t1 = time.perf_counter()
            _fit_on_attacked(attack, setup.target, x, y_attack, eps_abs, _seed(spec))
            training_seconds = time.perf_counter() - t1
            t0 = time.perf_counter()
        x_adv = np.asarray(attack.generate(counting, x, y_attack, eps_abs, _seed(spec)),
                           dtype=np.float64)
        seconds = time.perf_counter() - t0
        grad_rows = counting.gradient_rows
        index_queries = getattr(setup.target, "index_queries", 0) - index_before
    if x_adv.shape != x.shape or not np.isfinite(x_adv).all():
        raise InvalidInputError(f"attack {spec.index!r} returned shape {x_adv.shape} or "
                                "non-finite values")
    delta = x_adv - x
    size = row_norms(delta, opts.norm)
    decision = decisions(setup.target, x_adv)
    flipped = decision != setup.truth
    success = decision == y_attack if targeted else flipped
    robust = worst.update(flipped, success)
    clean_correct = worst.clean_correct
    success_now = success & clean_correct
    n = len(x)
    measures: dict[str, Any] = {
        "eps_rel": eps_rel, "eps_abs": eps_abs,
        "median_nn_distance": setup.scale[opts.norm],
        "n_inputs": n, "n_budgets_worst_case": worst.budgets,
        "clean_accuracy": fraction(clean_correct),
        "robust_accuracy": fraction(robust),
        "robust_accuracy_at_eps": fraction(clean_correct & ~flipped),
        "success_rate": fraction(worst.ever_success, clean_correct),
        "success_rate_at_eps": fraction(success, clean_correct),
        "attack_seconds": seconds,
        "attacks_per_second": n / seconds if seconds > 0 else None,
        "gradient_evaluations": grad_rows / n,
        "index_queries": index_queries / n,
        "max_perturbation_ratio": (as_float(size.max() / eps_abs) if eps_abs > 0 else
                                   (0.0 if size.max() == 0 else None)),
        **perturbation_stats(delta, success_now, setup.scale),
    }
    arrays: dict[str, np.ndarray] = {
        "decision": decision.astype(np.int64),
        "success": success.astype(np.int8),
        "robust": robust.astype(np.int8),
        "perturbation_l2": row_norms(delta, "l2"),
        "perturbation_linf": row_norms(delta, "linf"),
        "adversarial": x_adv,
    }
    if training_seconds is not None:
        measures["training_seconds"] = training_seconds
    warnings = []
    if eps_abs > 0 and size.max() > eps_abs * (1 + 1e-9):
        warnings.append(f"largest perturbation {size.max():.6g} exceeds the budget "
                        f"{eps_abs:.6g}")
    if setup.index_target:
        search, search_arrays = _search_measures(setup, x_adv)
        measures.update(search)
        arrays.update(search_arrays)
    return {"measures": {k: (as_float(v) if v is not None else None)
                         for k, v in measures.items()},
            "arrays": arrays, "timing": {"attack_seconds": seconds}, "warnings": warnings}


def _fit_on_attacked(attack: Any, target: Any, x: np.ndarray, y: Any, eps: float,
                     seed: int) -> None:
    """``attack.fit(target, x, y, eps, seed)`` on the inputs it will attack, telling it so
    (``transductive=True``: ``advgan`` then selects its model on them) when its ``fit``
    takes that keyword; a plugin's ``fit`` without it is called as before."""
    try:
        params = inspect.signature(attack.fit).parameters.values()
    except (TypeError, ValueError):  # no signature to read (a builtin): call it plainly
        params = ()
    takes = any(p.name == "transductive" or p.kind is inspect.Parameter.VAR_KEYWORD
                for p in params)
    if takes:
        attack.fit(target, x, y, eps, seed, transductive=True)
    else:
        attack.fit(target, x, y, eps, seed)


def _needs_training(attack: Any, eps: float) -> bool:
    """Whether ``attack`` learns per budget (``fit`` and ``is_trained``, as ``advgan``) and
    has not learnt ``eps`` yet: its training is then run and timed before ``generate``, as
    ``fit(target, x, y, eps, rng, transductive=True)`` on the inputs it will attack."""
    fit, trained = getattr(attack, "fit", None), getattr(attack, "is_trained", None)
    return eps > 0 and callable(fit) and callable(trained) and not trained(eps)


def _search_measures(setup: Setup, x_adv: np.ndarray) -> tuple[dict[str, Any], dict]:
    """Recall of the attacked queries against clean and own exact neighbours; rank shift."""
    from plugins.measures import recall_per_query

    k, metric, train, x = setup.k, setup.metric, setup.train, setup.x
    gt = setup.clean_gt
    assert gt is not None and setup.clean_ids is not None
    gt_d = gt.distances[:, :k]
    target = setup.target
    ids_adv = target.search(x_adv, k)
    own = exact_knn(metric, x_adv, train, k, items=gt.ids[:, 0])
    clean = recall_per_query(distances_of(metric, x, train, setup.clean_ids), gt_d, k)
    semantic = recall_per_query(distances_of(metric, x, train, ids_adv), gt_d, k)
    semantic_exact = recall_per_query(distances_of(metric, x, train, own.ids), gt_d, k)
    fidelity = recall_per_query(distances_of(metric, x_adv, train, ids_adv), own.distances, k)
    assert own.ranks is not None
    measures = {
        "recall_clean": float(clean.mean()),
        "recall_semantic": float(semantic.mean()),
        "recall_semantic_exact": float(semantic_exact.mean()),
        "recall_fidelity": float(fidelity.mean()),
        "recall_gap": float(clean.mean() - fidelity.mean()),
        "rank_shift_top1_mean": float(own.ranks.mean()),
        "rank_shift_top1_median": float(np.median(own.ranks)),
    }
    arrays = {"ids": ids_adv, "recall_semantic": semantic, "recall_fidelity": fidelity,
              "rank_top1": own.ranks}
    return measures, arrays


# --------------------------------------------------------------------------- registration


@hookimpl
def register_tasks(register: Any) -> None:
    """Register the ``attack`` task."""
    register(TaskInfo(
        name="attack", worker=attack_worker, plugin_kind="attack", plugin_key="attack",
        run_keys=RUN_KEYS, plot=plot_attack,
        summary_measures=("robust_accuracy", "success_rate", "recall_semantic"),
        description="robustness under attack: robust accuracy of classifiers and recall of "
                    "k-NN search over budgets"))


# --------------------------------------------------------------------------- plots

#: run keys that split the robustness figures, as columns of the results frame
PANEL_KEYS = ("target", "norm", "target_index")


def _column(df: Any, key: str) -> list[Any]:
    """Values of run key ``key``: column ``key`` or ``extra.key`` (default when absent)."""
    for name in (key, f"extra.{key}"):
        if name in df.columns:
            return [DEFAULTS[key] if _missing(v) else v for v in df[name].tolist()]
    return [DEFAULTS[key]] * len(df)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _stem(text: str, used: set[str]) -> str:
    import re

    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "attack"
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate


def _curves(frame: Any, by: str, y: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """label -> (eps_rel, median over seeds of ``y``), one curve per value of ``by`` (and
    per build configuration, when a label has several)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    labels = frame[by].astype(str).tolist()
    builds = frame["build"].astype(str).tolist() if "build" in frame.columns else [""] * len(
        frame)
    eps = frame["eps_rel"].astype(float).to_numpy()
    vals = frame[y].astype(float).to_numpy()
    per_label: dict[str, set[str]] = {}
    for lab, b in zip(labels, builds, strict=True):
        per_label.setdefault(lab, set()).add(b)
    groups: dict[str, dict[float, list[float]]] = {}
    for lab, b, e, v in zip(labels, builds, eps, vals, strict=True):
        if np.isnan(e) or np.isnan(v):
            continue
        name = lab if len(per_label[lab]) == 1 else f"{lab} {b}"
        groups.setdefault(name, {}).setdefault(round(float(e), 12), []).append(float(v))
    for name in sorted(groups):
        xs = np.array(sorted(groups[name]))
        out[name] = (xs, np.array([np.median(groups[name][x]) for x in xs]))
    return out


def plot_attack(df: Any, out_dir: str | Path) -> list[Path]:
    """Robustness figures from the results frame (records of task ``attack``, status ok).

    - ``attack-robust-<dataset>-<target>-<norm>[-<index>]``: robust accuracy (worst case over
      budgets up to eps) against the relative budget ``eps_rel``, one line per attack.
    - ``attack-recall-<dataset>-<target>-<norm>-<attack>``: for the index-backed targets,
      semantic recall (solid) and index-fidelity recall (dashed) against ``eps_rel``, one
      colour per target index.

    Run keys are read from columns ``target``, ``norm``, ``target_index`` (or ``extra.*``);
    absent columns take the task's defaults. Values of several seeds are combined by their
    median. Each figure is written as PNG and SVG; returns the files written.
    """
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"plot_attack: df must be a pandas DataFrame, got "
                                f"{type(df).__name__}")
    out_dir = Path(out_dir)
    if len(df) == 0 or "task" not in df.columns:
        return []
    frame = df[df["task"] == "attack"]
    if "status" in frame.columns:
        frame = frame[frame["status"] == "ok"]
    if len(frame) == 0:
        return []
    for col in ("dataset", "index", "eps_rel", "robust_accuracy"):
        if col not in frame.columns:
            raise InvalidInputError(f"plot_attack: the results frame has no column {col!r}")
    frame = frame.copy()
    for key in PANEL_KEYS:
        frame[f"_{key}"] = _column(frame, key)
    frame.loc[frame["_target"] == "softmax", "_target_index"] = ""

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()

    def save(fig: Any, stem: str) -> None:
        png, svg = out_dir / f"{stem}.png", out_dir / f"{stem}.svg"
        fig.savefig(png, dpi=120)
        fig.savefig(svg, metadata={"Date": None})
        written.extend([png, svg])

    keys = ["dataset", "_target", "_norm", "_target_index"]
    for (dataset, target, norm, index), panel in frame.groupby(keys, sort=True):
        fig = Figure(figsize=(7.0, 4.8), layout="constrained")
        ax = fig.add_subplot()
        for name, (xs, ys) in _curves(panel, "index", "robust_accuracy").items():
            ax.plot(xs, ys, marker="o", markersize=4, label=name)
        where = f" over {index}" if index else ""
        ax.set_title(f"{dataset}: {target}{where}, {norm} budget")
        ax.set_xlabel("budget eps / median 1-NN distance")
        ax.set_ylabel("robust accuracy (worst case up to eps)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best", fontsize="small")
        save(fig, _stem(f"attack-robust-{dataset}-{target}-{norm}"
                        + (f"-{index}" if index else ""), used))

    search = frame[frame["_target"] != "softmax"]
    if len(search) and {"recall_semantic", "recall_fidelity"} <= set(search.columns):
        for (dataset, target, norm, attack), panel in search.groupby(
                ["dataset", "_target", "_norm", "index"], sort=True):
            fig = Figure(figsize=(7.0, 4.8), layout="constrained")
            ax = fig.add_subplot()
            palette = matplotlib.colormaps["tab10"]
            sem = _curves(panel, "_target_index", "recall_semantic")
            fid = _curves(panel, "_target_index", "recall_fidelity")
            for j, name in enumerate(sorted(set(sem) | set(fid))):
                colour = palette(j % 10)
                if name in sem:
                    ax.plot(*sem[name], color=colour, marker="o", markersize=4,
                            label=f"{name}: vs clean neighbours")
                if name in fid:
                    ax.plot(*fid[name], color=colour, linestyle="--", marker="s",
                            markersize=3, label=f"{name}: vs own exact neighbours")
            ax.set_title(f"{dataset}: recall under {attack} ({target} surrogate), {norm} "
                         "budget")
            ax.set_xlabel("budget eps / median 1-NN distance")
            ax.set_ylabel("recall@k of the attacked queries")
            ax.set_ylim(-0.02, 1.02)
            ax.grid(True, alpha=0.3)
            ax.legend(loc="best", fontsize="small")
            save(fig, _stem(f"attack-recall-{dataset}-{target}-{norm}-{attack}", used))
    return written
