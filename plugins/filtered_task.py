"""The ``filtered-search`` task: k-NN among the items that match each query's filter, and
search after deletions.

A suite's ``[[run]]`` with ``task = "filtered-search"`` names indexes (``index = ...``), a
dataset with labels (``tagged-*`` from ``plugins.filter_datasets`` or any classed dataset:
``fashion-mnist``, ``digits``, ``gmm-*``) and the run keys of :data:`RUN_KEYS`. Per build
configuration the worker:

1. turns the labels into one in-house :class:`~plugins.bitmap.Bitmap` per label and lists
   the candidate filters: every label, every pair of labels combined with AND and with OR,
   and "everything" (``*``), each with its exact number of matching live items;
2. gives each query a filter whose selectivity is closest to ``selectivity`` (drawn at
   random among those within a factor 1.5 of it, seeded by the spec; at least k matching
   items; ``selectivity = 1`` is the filter ``*`` itself, i.e. no filter), compiles each
   distinct filter to a bitmap (AND / OR of label bitmaps) and computes the exact ground
   truth of each query over the matching live items only
   (``harness.groundtruth.exact_knn`` on the subset, ids mapped back);
3. builds the index, deletes ``delete_fraction`` of the base (seeded) when asked, then for
   each query point searches query group by query group (one group per distinct filter):
   **native** for indexes that declare ``capabilities.filter`` (the filter is passed as the
   boolean mask they take, converted by :func:`plugins.bitmap.as_mask`; deleted ids stay in
   it, hiding them is the index's job), **post-filter** otherwise (or with
   ``filter_mode = "post"``): search k' neighbours, keep the matching ones, and while a
   query has fewer than k, search it again with twice k'. The first k' is k over the
   filter's selectivity (times 1.5), so a 0.1% filter starts at 1000 k, not at a fixed
   factor; the record keeps how far it went. The filter ``*`` is a plain search.

Returned ids are checked like the search task's (``harness.runner.validate_ids``), and
also against the filter and the deleted ids: an id outside the filter or a deleted id makes
the record ``invalid-result``. Distances are recomputed by the harness
(``harness.runner.recompute_distances``) and every measure of ``plugins.measures`` is
computed against the filtered ground truth and stored in the record's measures, beside:
``selectivity`` (mean fraction of the live base matching a query's filter),
``selectivity_target``, ``selectivity_min`` / ``selectivity_max``, ``native_filter`` (1 or
0), ``overfetch_k_mean`` / ``overfetch_k_max`` (k' of the last round per query),
``overfetch_rounds_max``, ``overfetch_exhaustive_fraction`` (queries that reached k' = n),
``n_filters``, ``filter_compile_ms`` (per distinct filter), ``delete_fraction`` and
``deleted``. :func:`plot_filtered` draws QPS at recall >= 0.9 against selectivity.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from harness import InvalidInputError, TaskInfo, hookimpl
from plugins.bitmap import Bitmap, as_mask

RUN_KEYS: dict[str, str] = {
    "selectivity": "target fraction of the live base matching each query's filter, in "
                   "(0, 1] (default 0.1)",
    "combine": "filters: 'any' (default: labels, pairs with AND and OR, everything), "
               "'single', 'and' or 'or'",
    "anchor": "'none' (default) or 'query': each filter includes a label of its query "
              "(needs query labels)",
    "delete_fraction": "fraction of the base deleted before searching, in [0, 1) (default "
                       "0); needs an index that declares delete",
    "filter_mode": "'auto' (default: native when the index filters, else post-filter) or "
                   "'post' (post-filter even when the index filters)",
    "n_queries": "use the first n queries of the dataset only (default 0: all)",
}
DEFAULTS: dict[str, Any] = {"selectivity": 0.1, "combine": "any", "anchor": "none",
                            "delete_fraction": 0.0, "filter_mode": "auto", "n_queries": 0}
COMBINE = ("any", "single", "and", "or")
#: candidate filters within this factor of the target selectivity are drawn from at random
TOLERANCE = 1.5
#: post-filter: first k' = k / selectivity * OVERFETCH_MARGIN; k' doubles each later round
OVERFETCH_MARGIN = 1.5
OVERFETCH_GROWTH = 2
GT_DEPTH = 100
ALL = "*"


class InvalidFilteredResult(Exception):
    """An index returned an id outside the query's filter, or a deleted id."""


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Options:
    """The run keys of one build configuration, checked."""

    selectivity: float
    combine: str
    anchor: str
    delete_fraction: float
    filter_mode: str
    n_queries: int = 0


def parse_options(extra: Mapping[str, Any]) -> Options:
    """Fill defaults into the run keys and check them; errors name the key."""
    unknown = sorted(set(extra) - set(RUN_KEYS))
    if unknown:
        raise InvalidInputError(f"filtered-search task: unknown run key {unknown[0]!r}; "
                                f"known: {sorted(RUN_KEYS)}")
    opts = {**DEFAULTS, **extra}

    def fraction(key: str, zero_ok: bool) -> float:
        value = opts[key]
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            ok = (0.0 <= value < 1.0) if zero_ok else (0.0 < value <= 1.0)
        if not ok:
            span = "[0, 1)" if zero_ok else "(0, 1]"
            raise InvalidInputError(f"filtered-search task: {key} must be a number in {span}, "
                                    f"got {value!r}")
        return float(value)

    def choice(key: str, allowed: Sequence[str]) -> str:
        if opts[key] not in allowed:
            raise InvalidInputError(f"filtered-search task: {key} must be one of "
                                    f"{list(allowed)}, got {opts[key]!r}")
        return str(opts[key])

    n_queries = opts["n_queries"]
    if isinstance(n_queries, bool) or not isinstance(n_queries, int) or n_queries < 0:
        raise InvalidInputError(f"filtered-search task: n_queries must be an integer >= 0, "
                                f"got {n_queries!r}")
    return Options(selectivity=fraction("selectivity", zero_ok=False),
                   combine=choice("combine", COMBINE),
                   anchor=choice("anchor", ("none", "query")),
                   delete_fraction=fraction("delete_fraction", zero_ok=True),
                   filter_mode=choice("filter_mode", ("auto", "post")), n_queries=n_queries)


# --------------------------------------------------------------------------- labels and filters


@dataclass
class Labels:
    """One bitmap per label of the base, and each query's own labels (None: unknown)."""

    names: list[str]
    bitmaps: list[Bitmap]
    query_labels: list[set[int]] | None


def labels_of(ds: Any) -> Labels:
    """Label bitmaps from 1-D class labels (one label per class) or a 2-D boolean tag
    matrix (one label per column)."""
    if ds.train_labels is None:
        raise InvalidInputError(f"filtered-search task: dataset {ds.name!r} has no labels; "
                                "use a tagged-* dataset or one with class labels")
    train = np.asarray(ds.train_labels)
    test = None if ds.test_labels is None else np.asarray(ds.test_labels)
    n = len(train)
    if train.ndim == 2:
        if train.dtype != bool:
            raise InvalidInputError(f"filtered-search task: 2-D labels of {ds.name!r} must be "
                                    f"boolean (items x tags), got {train.dtype}")
        names = list((ds.meta or {}).get("tag_names") or [f"t{j}" for j in
                                                            range(train.shape[1])])
        bitmaps = [Bitmap(n, np.flatnonzero(train[:, j])) for j in range(train.shape[1])]
        queries = None
        if test is not None and test.ndim == 2 and test.shape[1] == train.shape[1]:
            queries = [set(np.flatnonzero(row).tolist()) for row in test]
        return Labels(names, bitmaps, queries)
    if train.ndim != 1 or not np.issubdtype(train.dtype, np.integer):
        raise InvalidInputError(f"filtered-search task: labels of {ds.name!r} must be 1-D "
                                f"integer classes or a 2-D boolean tag matrix")
    classes = np.unique(train)
    order = np.argsort(train, kind="stable")
    bounds = np.searchsorted(train[order], classes)
    ends = np.append(bounds[1:], n)
    bitmaps = [Bitmap(n, np.sort(order[b:e])) for b, e in zip(bounds, ends, strict=True)]
    queries = None
    if test is not None and test.ndim == 1:
        where = {int(c): i for i, c in enumerate(classes)}
        queries = [{where[int(c)]} if int(c) in where else set() for c in test]
    return Labels([str(int(c)) for c in classes], bitmaps, queries)


@dataclass(frozen=True)
class Filter:
    """A filter: ``*`` (everything), one label, or two labels combined with ``&`` / ``|``."""

    op: str  # "all", "label", "and", "or"
    labels: tuple[int, ...] = ()

    def key(self, names: Sequence[str]) -> str:
        if self.op == "all":
            return ALL
        if self.op == "label":
            return names[self.labels[0]]
        sep = "&" if self.op == "and" else "|"
        return sep.join(names[j] for j in self.labels)

    def compile(self, labels: Labels) -> Bitmap | None:
        """The bitmap of the items matching the filter (None for ``*``: no filter)."""
        if self.op == "all":
            return None
        first = labels.bitmaps[self.labels[0]]
        if self.op == "label":
            return first
        if self.op == "and":
            return first & labels.bitmaps[self.labels[1]]
        return first | labels.bitmaps[self.labels[1]]


def candidate_filters(labels: Labels, alive: Bitmap, combine: str
                      ) -> list[tuple[Filter, int]]:
    """Every filter of the ``combine`` kind with its exact count of live matching items."""
    out: list[tuple[Filter, int]] = [(Filter("all"), len(alive))]
    live = [b.intersection_cardinality(alive) for b in labels.bitmaps]
    if combine in ("any", "single"):
        out += [(Filter("label", (j,)), c) for j, c in enumerate(live)]
    if combine in ("any", "and", "or"):
        n_labels = len(labels.bitmaps)
        for i in range(n_labels):
            for j in range(i + 1, n_labels):
                both = (labels.bitmaps[i] & labels.bitmaps[j]).intersection_cardinality(alive)
                if combine in ("any", "and"):
                    out.append((Filter("and", (i, j)), both))
                if combine in ("any", "or"):
                    out.append((Filter("or", (i, j)), live[i] + live[j] - both))
    return out


def choose_filters(candidates: list[tuple[Filter, int]], n_live: int, n_queries: int,
                   opts: Options, k: int, query_labels: list[set[int]] | None,
                   rng: np.random.Generator) -> list[Filter]:
    """One filter per query: at random among those within a factor :data:`TOLERANCE` of the
    target selectivity (else the closest ones), with at least ``k`` matching items."""
    target = opts.selectivity * n_live
    usable = [(f, c) for f, c in candidates if c >= k]
    if opts.selectivity == 1.0 and opts.anchor == "none":
        usable = [(f, c) for f, c in usable if f.op == "all"]  # 100%: no filter at all
    if not usable:
        raise InvalidInputError(f"filtered-search task: no filter matches k={k} live items")
    if opts.anchor == "query" and query_labels is None:
        raise InvalidInputError("filtered-search task: anchor='query' needs query labels")
    ratio = np.array([abs(math.log(c / target)) for _, c in usable])
    everyone = np.arange(len(usable))
    chosen: list[Filter] = []
    for q in range(n_queries):
        pool = everyone
        if opts.anchor == "query":
            own = query_labels[q]  # type: ignore[index]
            pool = np.array([i for i in everyone if set(usable[i][0].labels) & own],
                            dtype=np.int64)
            if not len(pool):
                raise InvalidInputError(f"filtered-search task: query {q} has no label that "
                                        f"a filter of at least k={k} items can include")
        r = ratio[pool]
        near = pool[r <= math.log(TOLERANCE) + 1e-12]
        if len(near) == 0:
            near = pool[r <= r.min() + 1e-12]
        chosen.append(usable[int(rng.choice(near))][0])
    return chosen


@dataclass
class FilterPlan:
    """The filters of a build configuration and their exact ground truth."""

    keys: list[str]  # distinct filter keys
    groups: list[np.ndarray]  # query rows of each distinct filter
    masks: list[np.ndarray | None]  # the filter given to the index (None: ``*``, no filter)
    counts: np.ndarray  # matching live items per query
    query_keys: np.ndarray  # filter key per query (str)
    gt_ids: np.ndarray
    gt_distances: np.ndarray
    compile_seconds: float
    gt_seconds: float
    alive: np.ndarray  # boolean mask of live items
    deleted: np.ndarray  # deleted ids
    info: dict[str, Any] = field(default_factory=dict)


def plan_filters(ds: Any, metric: Any, opts: Options, k: int, seed: int,
                 gt_depth: int = GT_DEPTH) -> FilterPlan:
    """Deletions, one filter per query, their bitmaps and the ground truth over each."""
    from harness.groundtruth import exact_knn

    labels = labels_of(ds)
    n = ds.n_train
    rng = np.random.default_rng([int(seed) % 2**63, zlib.crc32(
        f"{opts.selectivity}|{opts.combine}|{opts.anchor}|{opts.delete_fraction}".encode())])
    n_deleted = round(opts.delete_fraction * n)
    deleted = np.sort(rng.choice(n, size=n_deleted, replace=False)) if n_deleted else (
        np.zeros(0, dtype=np.int64))
    alive = Bitmap(n, np.arange(n)) - Bitmap(n, deleted)
    candidates = candidate_filters(labels, alive, opts.combine)
    chosen = choose_filters(candidates, len(alive), ds.n_test, opts, k, labels.query_labels,
                            rng)
    keys = [f.key(labels.names) for f in chosen]
    distinct = sorted(set(keys), key=keys.index)
    by_key = {f.key(labels.names): f for f in chosen}
    t0 = time.perf_counter()
    bitmaps = [by_key[key].compile(labels) for key in distinct]
    compile_seconds = time.perf_counter() - t0
    query_keys = np.array(keys)
    groups = [np.flatnonzero(query_keys == key) for key in distinct]
    # the index gets the filter itself: the deleted ids are the index's own business
    masks = [None if b is None else as_mask(b, n) for b in bitmaps]
    live = [alive if b is None else (b & alive if n_deleted else b) for b in bitmaps]
    depth = max(k, gt_depth)
    gt_ids = np.full((ds.n_test, depth), -1, dtype=np.int64)
    gt_d = np.full((ds.n_test, depth), np.inf)
    counts = np.zeros(ds.n_test, dtype=np.int64)
    t0 = time.perf_counter()
    for bitmap, rows in zip(live, groups, strict=True):
        items = bitmap.to_array()
        counts[rows] = len(items)
        d = min(depth, len(items))
        ids, dists = exact_knn(ds.train[items], ds.test[rows], metric, d)
        gt_ids[rows, :d] = items[ids]
        gt_d[rows, :d] = dists
    gt_seconds = time.perf_counter() - t0
    return FilterPlan(keys=distinct, groups=groups, masks=masks, counts=counts,
                      query_keys=query_keys, gt_ids=gt_ids, gt_distances=gt_d,
                      compile_seconds=compile_seconds, gt_seconds=gt_seconds,
                      alive=alive.to_mask(), deleted=deleted,
                      info={"n_live": len(alive), "candidates": len(candidates)})


# --------------------------------------------------------------------------- searching


@dataclass
class OverfetchStats:
    """How far the post-filter search went, per query."""

    final_k: np.ndarray
    rounds: np.ndarray

    @classmethod
    def empty(cls, nq: int) -> OverfetchStats:
        return cls(np.zeros(nq, dtype=np.int64), np.zeros(nq, dtype=np.int64))


def first_matches(ids: np.ndarray, allowed: np.ndarray, k: int) -> np.ndarray:
    """The first ``k`` allowed ids of each row, in order, -1 padded."""
    order = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
    out = np.take_along_axis(ids, order, axis=1)
    ok = np.take_along_axis(allowed, order, axis=1)
    out[~ok] = -1
    if out.shape[1] < k:
        out = np.concatenate([out, np.full((len(out), k - out.shape[1]), -1, np.int64)], 1)
    return out


def postfilter_search(search: Any, queries: np.ndarray, k: int, mask: np.ndarray, n: int,
                      selectivity: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Search with over-fetch and keep the matching ids (see the module docstring).

    Returns ``(ids (nq, k), final k' per query, rounds per query)``.
    """
    from harness.runner import validate_ids

    nq = len(queries)
    out = np.full((nq, k), -1, dtype=np.int64)
    final_k = np.zeros(nq, dtype=np.int64)
    rounds = np.zeros(nq, dtype=np.int64)
    kp = min(n, max(k, math.ceil(k / max(selectivity, 1.0 / n) * OVERFETCH_MARGIN)))
    pending = np.arange(nq)
    while len(pending):
        raw = search(queries[pending], kp)
        ids = validate_ids(raw, len(pending), kp, n)
        valid = ids >= 0
        allowed = valid & mask[np.where(valid, ids, 0)]
        found = allowed.sum(axis=1)
        done = (found >= k) | (kp >= n) | (valid.sum(axis=1) < kp)
        rows = pending[done]
        out[rows] = first_matches(ids[done], allowed[done], k)
        final_k[pending] = kp
        rounds[pending] += 1
        pending = pending[~done]
        kp = min(n, kp * OVERFETCH_GROWTH)
    return out, final_k, rounds


@dataclass
class Searcher:
    """Runs one query group the way the spec asks (native or post-filter)."""

    index: Any
    native: bool
    n: int

    def run(self, queries: np.ndarray, k: int, mask: np.ndarray | None, selectivity: float,
            ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Ids (nq, k) and, for post-filtering, k' and rounds per query. ``mask`` None is
        the filter ``*``: a plain search."""
        from harness.runner import validate_ids

        if mask is None:
            raw = self.index.search(queries, k)
            return validate_ids(raw, len(queries), k, self.n), None, None
        if self.native:
            raw = self.index.search(queries, k, filter=mask)
            return validate_ids(raw, len(queries), k, self.n), None, None
        return postfilter_search(self.index.search, queries, k, mask, self.n, selectivity)


def check_answers(ids: np.ndarray, plan: FilterPlan) -> None:
    """Every returned id is live and matches its query's filter."""
    deleted = ~plan.alive
    for mask, rows in zip(plan.masks, plan.groups, strict=True):
        got = ids[rows]
        valid = got >= 0
        safe = np.where(valid, got, 0)
        if (valid & deleted[safe]).any():
            q = int(rows[np.flatnonzero((valid & deleted[safe]).any(axis=1))[0]])
            bad = [int(x) for x in ids[q] if x >= 0 and deleted[x]]
            raise InvalidFilteredResult(f"query {q}: the index returned deleted id(s) {bad[:5]}")
        if mask is None:
            continue
        outside = valid & ~mask[safe]
        if outside.any():
            q = int(rows[np.flatnonzero(outside.any(axis=1))[0]])
            bad = [int(x) for x in ids[q] if x >= 0 and not mask[x]]
            raise InvalidFilteredResult(f"query {q}: the index returned id(s) {bad[:5]} outside "
                                        f"its filter {plan.query_keys[q]!r}")


# --------------------------------------------------------------------------- the worker


def filtered_worker(job: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``filtered-search`` task (see the module docstring)."""
    import resource

    import psutil

    from harness.data import load_dataset
    from harness.metrics import get_metric
    from harness.plugins import get_registry
    from harness.types import n_items

    first = job.specs[0]
    opts = parse_options(first.extra)
    registry = get_registry(job.extra_modules)
    info = registry.indexes.get(job.index_name)
    caps = info.capabilities
    if opts.delete_fraction > 0 and not caps.delete:
        raise InvalidInputError(f"filtered-search task: index {info.name!r} does not declare "
                                f"delete, so delete_fraction={opts.delete_fraction} cannot run")
    ds = load_dataset(job.dataset, Path(job.data_dir))
    if job.dataset_checksum and ds.checksum != job.dataset_checksum:
        raise RuntimeError(f"dataset {job.dataset!r} here has checksum {ds.checksum}, but the "
                           f"driver has {job.dataset_checksum}; refusing to measure it")
    if opts.n_queries and opts.n_queries < ds.n_test:
        ds = dataclasses.replace(ds, test=ds.test[:opts.n_queries], test_labels=None if (
            ds.test_labels is None) else ds.test_labels[:opts.n_queries])
    metric = get_metric(job.metric)
    plan = plan_filters(ds, metric, opts, first.k, first.seed)
    native = caps.filter and opts.filter_mode == "auto"

    index = info.factory(metric=metric.name, **first.build)
    if caps.threads and hasattr(index, "set_threads"):
        index.set_threads(first.threads)
    t0 = time.perf_counter()
    index.warmup(ds.train[: min(64, n_items(ds.train))])
    jit_seconds = time.perf_counter() - t0
    proc = psutil.Process()
    rss_before = proc.memory_info().rss
    w0, c0 = time.perf_counter_ns(), time.process_time_ns()
    index.build(ds.train)
    build_wall = (time.perf_counter_ns() - w0) / 1e9
    build_cpu = (time.process_time_ns() - c0) / 1e9
    rss_after = proc.memory_info().rss
    t0 = time.perf_counter()
    if len(plan.deleted):
        index.delete(plan.deleted)
    delete_seconds = time.perf_counter() - t0
    built = {
        "build_seconds": build_wall, "build_cpu_seconds": build_cpu,
        "jit_seconds": jit_seconds, "index_bytes": int(index.index_bytes()),
        "rss_growth_bytes": int(rss_after - rss_before),
        "peak_rss_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024),
        "cpu_wall_ratio_build": build_cpu / build_wall if build_wall > 0 else None,
        "delete_seconds": delete_seconds, "filter_compile_seconds": plan.compile_seconds,
        "filter_gt_seconds": plan.gt_seconds,
    }
    yield "built", built
    searcher = Searcher(index, native, ds.n_train)
    for i, spec in enumerate(job.specs):
        try:
            payload = measure_point(searcher, spec, ds, metric, plan, opts, registry, built)
        except InvalidFilteredResult as exc:
            yield "point_error", {"i": i, "status": "invalid-result", "error": str(exc)}
            continue
        except Exception as exc:
            from harness.runner import InvalidResult

            if isinstance(exc, InvalidResult):
                yield "point_error", {"i": i, "status": "invalid-result", "error": str(exc)}
                continue
            yield "point_error", {"i": i, "status": "failed",
                                  "error": traceback.format_exc(limit=20)}
            continue
        payload["i"] = i
        yield "point", payload


def _pass(searcher: Searcher, test: np.ndarray, k: int, plan: FilterPlan,
          selectivities: np.ndarray) -> tuple[np.ndarray, OverfetchStats]:
    """One batch pass over every query group."""
    ids = np.full((len(test), k), -1, dtype=np.int64)
    stats = OverfetchStats.empty(len(test))
    for g, (mask, rows) in enumerate(zip(plan.masks, plan.groups, strict=True)):
        got, final_k, rounds = searcher.run(test[rows], k, mask, float(selectivities[g]))
        ids[rows] = got
        if final_k is not None:
            stats.final_k[rows] = final_k
            stats.rounds[rows] = rounds  # type: ignore[assignment]
        elif not searcher.native:  # the filter '*': one plain search of k
            stats.final_k[rows] = k
            stats.rounds[rows] = 1
    return ids, stats


def measure_point(searcher: Searcher, spec: Any, ds: Any, metric: Any, plan: FilterPlan,
                  opts: Options, registry: Any, build: dict[str, Any]) -> dict[str, Any]:
    """Warm-up pass (scored), timed batch passes, single-query latencies, measures."""
    from harness.runner import recompute_distances
    from harness.types import MeasureContext

    settings = spec.settings
    k = spec.k
    index = searcher.index
    index.set_query_params(**spec.query)
    test = ds.test
    n_live = int(plan.alive.sum())
    group_sel = np.array([plan.counts[rows[0]] / max(n_live, 1) for rows in plan.groups])
    ids, stats = _pass(searcher, test, k, plan, group_sel)
    query_stats = dict(index.query_stats() or {})
    check_answers(ids, plan)
    distances = recompute_distances(ids, test, ds.train, metric)

    batch_wall, batch_cpu = [], []
    for _ in range(max(settings.repetitions, 1)):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        _pass(searcher, test, k, plan, group_sel)
        batch_wall.append((time.perf_counter_ns() - t0) / 1e9)
        batch_cpu.append((time.process_time_ns() - c0) / 1e9)

    nq = len(test)
    n_lat = nq if settings.latency_queries < 0 else min(settings.latency_queries, nq)
    group_of = np.empty(nq, dtype=np.int64)
    for g, rows in enumerate(plan.groups):
        group_of[rows] = g
    singles = [test[q:q + 1] for q in range(n_lat)]
    lat: list[int] = []
    clock = time.perf_counter_ns
    repeats = max(settings.latency_repetitions, 1) if n_lat else 0
    for _ in range(repeats):
        for q, single in enumerate(singles):
            g = group_of[q]
            mask, sel = plan.masks[g], float(group_sel[g])
            t0 = clock()
            searcher.run(single, k, mask, sel)
            lat.append(clock() - t0)

    ctx = MeasureContext(
        k=k, result_ids=ids, result_distances=distances, gt_ids=plan.gt_ids,
        gt_distances=plan.gt_distances, signed=metric.signed,
        batch_seconds=np.asarray(batch_wall), latencies_seconds=np.asarray(lat) / 1e9,
        n_queries=nq, build_seconds=build["build_seconds"], index_bytes=build["index_bytes"],
        extra={**build, "cpu_wall_ratio_search": None, "query_stats": query_stats})
    measures: dict[str, Any] = {}
    for name, entry in registry.measures:
        if "search" not in entry.info.tasks:
            continue
        value = entry.info.compute(ctx)
        measures[name] = None if value is None or not np.isfinite(value) else float(value)
    per_query = plan.counts / max(n_live, 1)
    measures.update({
        "selectivity": float(per_query.mean()), "selectivity_target": opts.selectivity,
        "selectivity_min": float(per_query.min()), "selectivity_max": float(per_query.max()),
        "native_filter": 1.0 if searcher.native else 0.0,
        "n_filters": float(len(plan.keys)),
        "filter_compile_ms": plan.compile_seconds / max(len(plan.keys), 1) * 1e3,
        "delete_fraction": opts.delete_fraction, "deleted": float(len(plan.deleted)),
        "overfetch_k_mean": None, "overfetch_k_max": None, "overfetch_rounds_max": None,
        "overfetch_exhaustive_fraction": None,
    })
    if not searcher.native:
        measures.update({
            "overfetch_k_mean": float(stats.final_k.mean()),
            "overfetch_k_max": float(stats.final_k.max()),
            "overfetch_rounds_max": float(stats.rounds.max()),
            "overfetch_exhaustive_fraction": float((stats.final_k >= searcher.n).mean()),
        })
    warnings = []
    wall, cpu = float(np.sum(batch_wall)), float(np.sum(batch_cpu))
    threads = int(spec.threads)
    if wall > 0.05 and cpu / wall < 0.8 * min(threads, os.cpu_count() or 1):
        warnings.append(f"search CPU/wall ratio {cpu / wall:.2f} is below the {threads} "
                        "thread(s) pinned: the machine interfered with the timing")
    mode = "native" if searcher.native else "post-filter"
    return {
        "measures": measures,
        "arrays": {"ids": ids, "distances": distances,
                   "latencies": np.asarray(lat, dtype=np.float64) / 1e9,
                   "batch_seconds": np.asarray(batch_wall), "gt_ids": plan.gt_ids,
                   "gt_distances": plan.gt_distances, "filter_count": plan.counts,
                   "filter": plan.query_keys.astype(str),
                   "overfetch_k": stats.final_k, "overfetch_rounds": stats.rounds},
        "timing": {"batch_seconds": batch_wall, "batch_cpu_seconds": batch_cpu,
                   "cpu_wall_ratio_search": cpu / wall if wall > 0 else None,
                   "latency_calls": len(lat), "query_stats": query_stats,
                   "filter": {"mode": mode, "selectivity_target": opts.selectivity,
                              "combine": opts.combine, "anchor": opts.anchor,
                              "n_filters": len(plan.keys), "n_live": n_live,
                              "overfetch_margin": OVERFETCH_MARGIN,
                              "overfetch_growth": OVERFETCH_GROWTH}},
        "warnings": warnings,
    }


# --------------------------------------------------------------------------- plots


def _label(index: Any, build: Any, native: Any) -> str:
    import json

    try:
        params = json.loads(build) if isinstance(build, str) else dict(build or {})
    except (TypeError, ValueError):
        params = {}
    shown = ",".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in ("seed",))
    mode = "" if native is None or (isinstance(native, float) and np.isnan(native)) else (
        " (native)" if native else " (post-filter)")
    return (f"{index} [{shown}]" if shown else str(index)) + mode


def qps_at_recall(df: Any, min_recall: float = 0.9) -> Any:
    """Per (dataset, delete_fraction, index configuration, target selectivity): the highest
    median-over-seeds QPS among query points with median recall >= ``min_recall``, and the
    mean measured selectivity. Configurations that never reach it are left out."""
    import pandas as pd

    cols = ["dataset", "delete_fraction", "index", "selectivity_target", "selectivity", "qps",
            "recall"]
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"qps_at_recall: expected a pandas DataFrame, got "
                                f"{type(df).__name__}")
    need = {"task", "status", "index", "build", "query", "selectivity_target", "qps", "recall"}
    if len(df) == 0 or not need <= set(df.columns):
        return pd.DataFrame(columns=cols)
    rows = df[(df["task"] == "filtered-search") & (df["status"] == "ok")].copy()
    if len(rows) == 0:
        return pd.DataFrame(columns=cols)
    if "delete_fraction" not in rows.columns:
        rows["delete_fraction"] = 0.0
    native = rows["native_filter"] if "native_filter" in rows.columns else [None] * len(rows)
    rows["config"] = [_label(i, b, m) for i, b, m in zip(rows["index"], rows["build"], native,
                                                          strict=True)]
    keys = ["dataset", "delete_fraction", "config", "selectivity_target", "query"]
    point = rows.groupby(keys, sort=True).agg(qps=("qps", "median"),
                                             recall=("recall", "median"),
                                             selectivity=("selectivity", "mean")).reset_index()
    ok = point[point["recall"] >= min_recall]
    if len(ok) == 0:
        return pd.DataFrame(columns=cols)
    best = ok.loc[ok.groupby(keys[:-1])["qps"].idxmax()]
    best = best.rename(columns={"config": "index"})
    return best[cols].sort_values(cols[:4]).reset_index(drop=True)


def plot_filtered(df: Any, out_dir: str | Path, min_recall: float = 0.9) -> list[Path]:
    """One figure per (dataset, delete fraction): QPS at recall >= ``min_recall`` against the
    measured selectivity (log-log), one line per index configuration (native or
    post-filter). Files ``filtered-<dataset>[-del<f>].png`` and ``.svg``."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    table = qps_at_recall(df, min_recall)
    out = Path(out_dir)
    written: list[Path] = []
    if len(table) == 0:
        return written
    out.mkdir(parents=True, exist_ok=True)
    for (dataset, deleted), part in table.groupby(["dataset", "delete_fraction"], sort=True):
        fig = Figure(figsize=(7.5, 4.8), layout="constrained")
        ax = fig.add_subplot()
        for name, line in part.groupby("index", sort=True):
            line = line.sort_values("selectivity")
            ax.plot(line["selectivity"].astype(float), line["qps"].astype(float), marker="o",
                    markersize=4, label=name)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("selectivity (fraction of the base matching the filter)")
        ax.set_ylabel(f"queries per second at recall >= {min_recall:g}")
        extra = f", {float(deleted):g} deleted" if float(deleted) else ""
        ax.set_title(f"filtered search: {dataset}{extra}")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize="small")
        stem = "filtered-" + re.sub(r"[^A-Za-z0-9._-]+", "_", str(dataset))
        if float(deleted):
            stem += f"-del{float(deleted):g}"
        png, svg = out / f"{stem}.png", out / f"{stem}.svg"
        fig.savefig(png, dpi=120)
        fig.savefig(svg, metadata={"Date": None})
        written.extend([png, svg])
    return written


# --------------------------------------------------------------------------- registration


@hookimpl
def register_tasks(register: Any) -> None:
    """Register the ``filtered-search`` task."""
    register(TaskInfo(
        name="filtered-search", worker=filtered_worker, plugin_kind="index",
        run_keys=RUN_KEYS,
        description="k-NN among the items matching each query's filter (native or "
                    "post-filter with adaptive over-fetch), and search after deletions"))
