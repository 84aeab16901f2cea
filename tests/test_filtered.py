"""The ``filtered-search`` task and its datasets: filters against numpy boolean algebra,
ground truth against numpy brute force over the matching items, post-filtering against an
exact search, native and post-filtered indexes end to end, deletions, invalid answers,
records and plots."""

from __future__ import annotations

import json
import math
import textwrap
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from harness import InvalidInputError
from harness.config import expand, load_suite, parse_suite
from harness.data import load_dataset, resolve_dataset
from harness.metrics import get_metric
from harness.plugins import get_registry
from harness.runner import GroupJob
from plugins.bitmap import Bitmap
from plugins.filter_datasets import TAG_FREQUENCIES, load_tagged
from plugins.filtered_task import (
    OVERFETCH_MARGIN,
    TOLERANCE,
    Options,
    candidate_filters,
    choose_filters,
    filtered_worker,
    labels_of,
    parse_options,
    plan_filters,
    plot_filtered,
    postfilter_search,
    qps_at_recall,
)

DATASET = "tagged-gmm-2000x8"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("filtered-data")


@pytest.fixture(scope="module")
def tagged(data_dir):
    return load_dataset(DATASET, data_dir)


def _opts(**kw) -> Options:
    return parse_options(kw)


def _brute(train, queries, allowed, k):
    """numpy float64 brute force over the allowed rows: (ids, distances), -1 / inf padded."""
    rows = np.flatnonzero(allowed)
    d = np.sqrt(((queries[:, None, :].astype(np.float64) - train[rows][None]) ** 2).sum(-1))
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    ids = np.full((len(queries), k), -1, dtype=np.int64)
    dist = np.full((len(queries), k), np.inf)
    ids[:, :order.shape[1]] = rows[order]
    dist[:, :order.shape[1]] = np.take_along_axis(d, order, axis=1)
    return ids, dist


# --------------------------------------------------------------------------- datasets and filters


def test_tagged_dataset_has_exact_tag_counts_seeded_by_its_name(tagged, data_dir):
    base = load_dataset("gmm-2000x8", data_dir)
    assert np.array_equal(tagged.train, base.train) and np.array_equal(tagged.test, base.test)
    tags = tagged.train_labels
    assert tags.shape == (2000, len(TAG_FREQUENCIES)) and tags.dtype == bool
    assert tags.sum(axis=0).tolist() == [max(1, round(f * 2000)) for f in TAG_FREQUENCIES]
    again = load_dataset(DATASET, data_dir)
    assert np.array_equal(again.train_labels, tags)
    other = resolve_dataset("tagged-gmm-2000x8-angular").load(data_dir)
    assert not np.array_equal(other.train_labels, tags)
    with pytest.raises(InvalidInputError, match="tagged"):
        load_tagged("tagged-digits", data_dir)


def test_labels_become_one_bitmap_per_class_or_tag(tagged):
    labels = labels_of(tagged)
    assert len(labels.bitmaps) == tagged.train_labels.shape[1]
    for j, bm in enumerate(labels.bitmaps):
        assert bm.to_array().tolist() == np.flatnonzero(tagged.train_labels[:, j]).tolist()
    assert labels.query_labels[0] == set(np.flatnonzero(tagged.test_labels[0]).tolist())

    classed = SimpleNamespace(name="classed", train_labels=np.array([3, 1, 3, 7, 1]),
                              test_labels=np.array([7, 3]), meta={})
    classes = labels_of(classed)
    assert classes.names == ["1", "3", "7"]
    assert [b.to_array().tolist() for b in classes.bitmaps] == [[1, 4], [0, 2], [3]]
    assert classes.query_labels == [{2}, {1}]


def test_candidate_counts_match_numpy_boolean_algebra(tagged):
    labels = labels_of(tagged)
    tags = tagged.train_labels
    alive = np.ones(2000, dtype=bool)
    alive[::7] = False
    cands = candidate_filters(labels, Bitmap.from_mask(alive), "any")
    assert len(cands) == 1 + 24 + 2 * (24 * 23 // 2)
    for f, count in cands:
        if f.op == "all":
            expect = alive
        elif f.op == "label":
            expect = tags[:, f.labels[0]] & alive
        elif f.op == "and":
            expect = tags[:, f.labels[0]] & tags[:, f.labels[1]] & alive
        else:
            expect = (tags[:, f.labels[0]] | tags[:, f.labels[1]]) & alive
        assert count == int(expect.sum()), f
        compiled = f.compile(labels)
        if f.op == "all":
            assert compiled is None
        else:
            assert (compiled.to_mask() & alive).tolist() == expect.tolist()


@pytest.mark.parametrize("target", [0.002, 0.01, 0.05, 0.3])
def test_filters_are_drawn_within_the_tolerance_of_the_target(tagged, target):
    labels = labels_of(tagged)
    alive = Bitmap(2000, np.arange(2000))
    cands = candidate_filters(labels, alive, "any")
    counts = {f: c for f, c in cands}
    rng = np.random.default_rng(0)
    chosen = choose_filters(cands, 2000, 200, _opts(selectivity=target), 4, None, rng)
    sel = np.array([counts[f] / 2000 for f in chosen])
    assert np.all(np.abs(np.log(sel / target)) <= math.log(TOLERANCE) + 1e-9)
    assert all(counts[f] >= 4 for f in chosen)
    assert len({f for f in chosen}) > 1  # several filters reach the target: drawn at random
    again = choose_filters(cands, 2000, 200, _opts(selectivity=target), 4, None,
                           np.random.default_rng(0))
    assert again == chosen
    everything = choose_filters(cands, 2000, 5, _opts(selectivity=1.0), 4, None, rng)
    assert {f.op for f in everything} == {"all"}


def test_anchored_filters_include_a_label_of_their_query(tagged):
    labels = labels_of(tagged)
    cands = candidate_filters(labels, Bitmap(2000, np.arange(2000)), "or")
    chosen = choose_filters(cands, 2000, 100, _opts(selectivity=0.1, anchor="query",
                                                    combine="or"), 4,
                            labels.query_labels, np.random.default_rng(1))
    for q, f in enumerate(chosen):
        assert set(f.labels) & labels.query_labels[q]


def test_ground_truth_is_exact_over_the_matching_live_items(tagged):
    metric = get_metric("euclidean")
    plan = plan_filters(tagged, metric, _opts(selectivity=0.05, delete_fraction=0.1), 5, 7)
    assert len(plan.deleted) == 200 and not plan.alive[plan.deleted].any()
    tags = tagged.train_labels
    for mask, rows in zip(plan.masks, plan.groups, strict=True):
        key = plan.query_keys[rows[0]]
        sep = "&" if "&" in key else "|"
        cols = [int(t[1:]) for t in key.split(sep)]
        expect = tags[:, cols[0]] if len(cols) == 1 else (
            tags[:, cols[0]] & tags[:, cols[1]] if sep == "&" else tags[:, cols[0]] |
            tags[:, cols[1]])
        assert np.array_equal(mask, expect)  # the index gets the filter, deleted ids included
        mask = mask & plan.alive
        ids, dist = _brute(tagged.train, tagged.test[rows], mask, 20)
        assert np.array_equal(plan.gt_ids[rows, :20], ids)
        assert np.allclose(plan.gt_distances[rows, :20], dist, rtol=1e-9, atol=1e-9)
        assert (plan.counts[rows] == mask.sum()).all()


# --------------------------------------------------------------------------- post-filtering


def test_postfilter_search_finds_the_exact_filtered_neighbours(tagged):
    train, queries, k = tagged.train, tagged.test[:30], 5
    calls = []

    def search(q, kp):
        calls.append(kp)
        return _brute(train, q, np.ones(len(train), dtype=bool), kp)

    mask = tagged.train_labels[:, 8]  # 1%: 20 items
    sel = mask.mean()
    ids, final_k, rounds = postfilter_search(search, queries, k, mask, len(train), sel)
    expect, _ = _brute(train, queries, mask, k)
    assert np.array_equal(ids, expect)
    first = math.ceil(k / sel * OVERFETCH_MARGIN)
    assert calls[0] == first and final_k.min() >= first
    assert np.all(final_k[rounds == 1] == first)
    assert np.all(final_k == np.minimum(len(train), first * 2 ** (rounds - 1)))


def test_postfilter_stops_when_the_index_cannot_give_more(tagged):
    train, queries = tagged.train, tagged.test[:10]

    def shallow(q, kp):  # an approximate index that never returns more than 50 ids
        ids, d = _brute(train, q, np.ones(len(train), dtype=bool), min(kp, 50))
        pad = kp - ids.shape[1]
        return (np.concatenate([ids, np.full((len(q), pad), -1)], 1),
                np.concatenate([d, np.full((len(q), pad), np.inf)], 1))

    mask = tagged.train_labels[:, 4]  # 0.5%: usually none among the 50 nearest
    ids, final_k, rounds = postfilter_search(shallow, queries, 5, mask, len(train), 0.005)
    assert np.all(rounds == 1) and np.all(final_k == math.ceil(5 / 0.005 * OVERFETCH_MARGIN))
    expect, _ = _brute(train, queries, np.ones(len(train), dtype=bool), 50)
    for row, near in zip(ids, expect, strict=True):
        assert [int(x) for x in row if x >= 0] == [int(x) for x in near if mask[x]][:5]


# --------------------------------------------------------------------------- the worker


def _sweep(data_dir, run, extra_modules=(), dataset=DATASET):
    registry = get_registry(extra_modules)
    suite = parse_suite({"defaults": {"k": 5, "repetitions": 1, "latency_queries": 10},
                         "run": [{"task": "filtered-search", "dataset": dataset, **run}]},
                        registry=registry)
    out = []
    for group in expand(suite, registry):
        first = group.first
        job = GroupJob(specs=group.specs, dataset=dataset,
                       metric=resolve_dataset(dataset, registry).metric,
                       data_dir=str(data_dir), extra_modules=list(extra_modules),
                       index_name=first.index, task="filtered-search")
        for kind, payload in filtered_worker(job):
            if kind in ("point", "point_error"):
                out.append((group.specs[payload["i"]], kind, payload))
    return out


def _recall(payload) -> float:
    """Distance-based recall@k recomputed from the record's own arrays."""
    arrays = payload["arrays"]
    k = arrays["ids"].shape[1]
    thr = arrays["gt_distances"][:, k - 1]
    thr = thr + np.abs(thr) * 1e-6 + 1e-12
    return float((arrays["distances"] <= thr[:, None]).sum(axis=1).mean() / k)


@pytest.mark.parametrize("selectivity", [0.003, 0.05, 1.0])
def test_exact_index_native_and_post_filtered_is_exact(data_dir, selectivity):
    points = _sweep(data_dir, {"index": "bruteforce", "selectivity": selectivity})
    points += _sweep(data_dir, {"index": "bruteforce", "selectivity": selectivity,
                                "filter_mode": "post"})
    assert [kind for _, kind, _ in points] == ["point", "point"]
    (_, _, native), (_, _, post) = points
    for payload in (native, post):
        m = payload["measures"]
        assert m["recall"] == 1.0 == _recall(payload)
        assert m["recall_ids"] == 1.0
        assert m["selectivity_target"] == selectivity
        assert abs(math.log(m["selectivity"] / selectivity)) <= math.log(TOLERANCE) + 1e-9
        mask_ok = payload["arrays"]["filter_count"] >= 5
        assert mask_ok.all()
    assert native["measures"]["native_filter"] == 1.0
    assert native["measures"]["overfetch_k_max"] is None
    assert post["measures"]["native_filter"] == 0.0
    if selectivity == 1.0:  # the filter '*': a plain search of k
        assert post["measures"]["overfetch_k_max"] == 5
    else:  # the first round already asks for k / selectivity * margin
        assert post["measures"]["overfetch_k_max"] >= math.ceil(
            5 / post["measures"]["selectivity_max"] * OVERFETCH_MARGIN) - 1
    assert post["timing"]["filter"]["mode"] == "post-filter"
    assert np.array_equal(native["arrays"]["ids"], post["arrays"]["ids"])


def test_approximate_indexes_filter_natively_or_after_the_fact(data_dir):
    points = _sweep(data_dir, {"index": "hnswlib", "selectivity": 0.05,
                               "build": {"M": 16, "ef_construction": 100},
                               "query": {"ef": [10, 200]}})
    points += _sweep(data_dir, {"index": "faiss-pq", "selectivity": 0.05,
                                "build": {"m": 4, "nbits": 6, "refine": True},
                                "query": {"rerank": 1000}})
    by = {(s.index, json.dumps(s.query) if s.index == "hnswlib" else ""): p
          for s, kind, p in points if kind == "point"}
    assert len(by) == 3
    low, high = by[("hnswlib", '{"ef": 10}')], by[("hnswlib", '{"ef": 200}')]
    assert high["measures"]["native_filter"] == 1.0
    assert high["measures"]["recall"] >= low["measures"]["recall"]
    assert high["measures"]["recall"] > 0.95
    flat = by[("faiss-pq", "")]  # faiss's IndexPQ takes no id selector: post-filtered
    assert flat["measures"]["native_filter"] == 0.0
    assert flat["measures"]["recall"] > 0.95
    for payload in by.values():
        assert payload["measures"]["recall"] == pytest.approx(_recall(payload))


@pytest.mark.parametrize("index", ["bruteforce", "hnswlib"])
def test_deleted_ids_never_come_back(data_dir, tagged, index):
    build = {} if index == "bruteforce" else {"M": 16, "ef_construction": 100}
    query = {} if index == "bruteforce" else {"ef": 100}
    points = _sweep(data_dir, {"index": index, "selectivity": 1.0, "delete_fraction": 0.25,
                               "build": build, "query": query})
    ((spec, kind, payload),) = points
    assert kind == "point", payload
    m = payload["measures"]
    assert m["deleted"] == 500 and m["delete_fraction"] == 0.25
    plan = plan_filters(tagged, get_metric("euclidean"), parse_options(spec.extra), 5,
                        spec.seed)
    ids = payload["arrays"]["ids"]
    assert not np.isin(ids[ids >= 0], plan.deleted).any()
    expect, _ = _brute(tagged.train, tagged.test, plan.alive, 5)
    assert np.array_equal(payload["arrays"]["gt_ids"][:, :5], expect)
    assert m["recall"] == pytest.approx(_recall(payload))
    assert m["recall"] >= (1.0 if index == "bruteforce" else 0.95)


def test_answers_outside_the_filter_or_deleted_are_invalid(data_dir, tmp_path,
                                                           vecbench_plugin_host):
    path = tmp_path / "vb_careless_index.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from harness import IndexCapabilities, IndexInfo, hookimpl
        from plugins.bruteforce import BruteForceIndex

        class Careless(BruteForceIndex):
            def search(self, queries, k, filter=None):
                return super().search(queries, k)  # ignores the filter

        class Forgetful(BruteForceIndex):
            def delete(self, ids):
                pass  # ignores deletions

        @hookimpl
        def register_indexes(register):
            caps = IndexCapabilities(metrics={"euclidean"}, filter=True, delete=True)
            register(IndexInfo("careless", factory=Careless, capabilities=caps))
            register(IndexInfo("forgetful", factory=Forgetful, capabilities=caps))
    """))
    vecbench_plugin_host(str(path))
    modules = [str(path)]
    ((_, kind, payload),) = _sweep(data_dir, {"index": "careless", "selectivity": 0.05},
                                   modules)
    assert kind == "point_error" and payload["status"] == "invalid-result"
    assert "outside its filter" in payload["error"]
    ((_, kind, payload),) = _sweep(data_dir, {"index": "forgetful", "selectivity": 1.0,
                                              "delete_fraction": 0.5}, modules)
    assert kind == "point_error" and payload["status"] == "invalid-result"
    assert "deleted id" in payload["error"]


def test_bad_run_keys_and_impossible_runs_fail_clearly(data_dir):
    with pytest.raises(InvalidInputError, match="selectivity"):
        parse_options({"selectivity": 0})
    with pytest.raises(InvalidInputError, match="delete_fraction"):
        parse_options({"delete_fraction": 1.0})
    with pytest.raises(InvalidInputError, match="combine"):
        parse_options({"combine": "xor"})
    with pytest.raises(InvalidInputError, match="unknown run key"):
        parse_options({"selectivities": [0.1]})
    with pytest.raises(InvalidInputError, match="does not declare delete"):
        _sweep(data_dir, {"index": "faiss", "delete_fraction": 0.1})
    with pytest.raises(InvalidInputError, match="has no labels"):
        _sweep(data_dir, {"index": "bruteforce"}, dataset="uniform-500x4")


# --------------------------------------------------------------------------- records and plots


def test_isolated_worker_records_fit_the_schema_and_plot(data_dir, tmp_path):
    import jsonschema

    from harness.results import schema
    from harness.runner import run_group

    registry = get_registry()
    suite = parse_suite({"defaults": {"task": "filtered-search", "k": 5, "repetitions": 1,
                                      "latency_queries": 5},
                         "run": [{"dataset": DATASET, "index": "bruteforce",
                                  "selectivity": 0.01, "n_queries": 50}]}, registry=registry)
    (group,) = expand(suite, registry)
    ds = load_dataset(DATASET, data_dir)
    job = GroupJob(specs=group.specs, dataset=DATASET, metric="euclidean",
                   data_dir=str(data_dir), extra_modules=[], index_name="bruteforce",
                   task="filtered-search", dataset_checksum=ds.checksum)
    (outcome,) = list(run_group(job))
    assert outcome.status == "ok", outcome.error
    jsonschema.validate(outcome.measures, schema()["properties"]["measures"])
    assert outcome.arrays["ids"].shape == (50, 5)
    assert outcome.build["filter_gt_seconds"] >= 0
    row = {"task": "filtered-search", "status": "ok", "dataset": DATASET,
           "index": "bruteforce", "build": "{}", "query": "{}", **outcome.measures}
    files = plot_filtered(pd.DataFrame([row]), tmp_path / "plots")
    assert [f.name for f in files] == [f"filtered-{DATASET}.png", f"filtered-{DATASET}.svg"]


def test_qps_at_recall_takes_the_fastest_point_that_reaches_it():
    rows = []
    for sel in (0.01, 0.1):
        for ef, recall, qps in ((10, 0.8, 900.0), (40, 0.92, 500.0), (80, 0.99, 300.0)):
            for seed, noise in ((0, 1.0), (1, 1.1), (2, 0.9)):
                rows.append({"task": "filtered-search", "status": "ok", "dataset": "d",
                             "index": "hnswlib", "build": '{"M": 16}',
                             "query": json.dumps({"ef": ef}), "seed": seed,
                             "selectivity_target": sel, "selectivity": sel * 1.1,
                             "native_filter": 1.0, "delete_fraction": 0.0,
                             "recall": recall, "qps": qps * noise})
    rows.append({**rows[0], "index": "faiss", "native_filter": 0.0, "recall": 0.5})
    table = qps_at_recall(pd.DataFrame(rows))
    assert table["index"].tolist() == ["hnswlib [M=16] (native)"] * 2
    assert table["qps"].tolist() == [500.0, 500.0]
    assert table["selectivity"].tolist() == pytest.approx([0.011, 0.11])
    assert len(qps_at_recall(pd.DataFrame(rows), min_recall=0.999)) == 0


def test_builtin_filtered_suite_sweeps_selectivity_deletions_and_real_labels():
    registry = get_registry()
    groups = expand(load_suite("filtered", registry), registry)
    opts = [(g.first.index, g.first.dataset, parse_options(g.first.extra)) for g in groups]
    sels = {o.selectivity for _, d, o in opts if d.startswith("tagged-")}
    assert min(sels) == 0.001 and max(sels) == 1.0 and len(sels) >= 6
    native = {i for i, _, o in opts
              if registry.indexes.get(i).capabilities.filter and o.filter_mode == "auto"}
    post = {i for i, _, o in opts
            if not registry.indexes.get(i).capabilities.filter or o.filter_mode == "post"}
    assert native >= {"bruteforce", "hnswlib", "hnsw", "faiss-hnsw"} and post
    deleting = {i for i, _, o in opts if o.delete_fraction > 0}
    assert deleting and all(registry.indexes.get(i).capabilities.delete for i in deleting)
    assert any(d == "fashion-mnist" and o.anchor == "query" for _, d, o in opts)
