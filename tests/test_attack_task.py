"""The ``attack`` task: measures recomputed independently from the per-input arrays, budgets
scaled by an independent nearest-neighbour search (scikit-learn), search measures and k-NN
votes against numpy brute force, the worst case over budgets, records and plots. (The
softmax target itself is checked against scikit-learn in test_attacks.py.)"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from harness import InvalidInputError, UnknownNameError
from harness.config import expand, load_suite, parse_suite
from harness.data import load_dataset, resolve_dataset
from harness.plugins import get_registry
from harness.results import schema
from harness.runner import GroupJob, run_group
from plugins.attack_task import attack_worker, parse_options, plot_attack


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("attack-data")


def _sweep(data_dir: Path, run: dict) -> list[tuple[dict, dict]]:
    """Run one [[run]] in this process; (spec query, payload) per point, in spec order."""
    registry = get_registry()
    suite = parse_suite({"run": [{"task": "attack", **run}]}, registry=registry)
    out = []
    for group in expand(suite, registry):
        first = group.first
        job = GroupJob(specs=group.specs, dataset=first.dataset,
                       metric=first.metric or resolve_dataset(first.dataset).metric,
                       data_dir=str(data_dir), extra_modules=[], index_name=first.index,
                       task="attack")
        points = {}
        for kind, payload in attack_worker(job):
            assert kind != "point_error", payload["error"]
            if kind == "point":
                points[payload["i"]] = payload
        out += [(group.specs[i].query, points[i]) for i in range(len(group.specs))]
    return out


def _by_eps(points):
    return sorted(points, key=lambda p: p[1]["measures"]["eps_abs"])


def _unit_digits(data_dir, n):
    ds = load_dataset("digits", data_dir)
    lo, hi = ds.train.min(), ds.train.max()
    scale = lambda v: (np.asarray(v, np.float64) - lo) / (hi - lo)  # noqa: E731
    return scale(ds.train), ds.train_labels, scale(ds.test)[:n], ds.test_labels[:n]


# --------------------------------------------------------------------------- options


def test_options_take_defaults_and_reject_bad_values():
    opts = parse_options({})
    assert (opts.target, opts.norm, opts.target_index) == ("softmax", "linf", "bruteforce")
    for extra, message in [({"target": "svm"}, "target must be one of"),
                           ({"norm": "l1"}, "norm must be one of"),
                           ({"n_inputs": -1}, "n_inputs"),
                           ({"temperature": 0}, "temperature"),
                           ({"target_index_build": 3}, "table of parameters"),
                           ({"colour": "red"}, "unknown run key")]:
        with pytest.raises(InvalidInputError, match=message):
            parse_options(extra)


# --------------------------------------------------------------------------- classifiers


def test_softmax_sweep_measures_match_independent_recomputation(data_dir):
    from sklearn.neighbors import NearestNeighbors

    n = 80
    points = _by_eps(_sweep(data_dir, {
        "dataset": "digits", "attack": "fgsm", "rescale": "unit", "bounds": "data",
        "n_inputs": n, "query": {"eps_rel": [0.3, 0.0, 0.1, 0.2]}}))
    train, _, x, y = _unit_digits(data_dir, n)
    nn = NearestNeighbors(n_neighbors=1, metric="chebyshev").fit(train)
    median = np.median(nn.kneighbors(x)[0][:, 0])

    clean = points[0][1]["arrays"]["decision"] == y
    assert points[0][1]["measures"]["clean_accuracy"] == pytest.approx(clean.mean())
    np.testing.assert_array_equal(points[0][1]["arrays"]["adversarial"], x)
    ever_wrong = np.zeros(n, dtype=bool)
    previous = 1.0
    for query, p in points:
        m, a = p["measures"], p["arrays"]
        assert m["eps_rel"] == query["eps_rel"]
        assert m["median_nn_distance"] == pytest.approx(median, rel=1e-12)
        assert m["eps_abs"] == pytest.approx(query["eps_rel"] * median, rel=1e-12)
        size = np.abs(a["adversarial"] - x).max(axis=1)
        assert size.max() <= m["eps_abs"] * (1 + 1e-12)
        assert a["adversarial"].min() >= 0 and a["adversarial"].max() <= 1
        wrong = a["decision"] != y
        ever_wrong |= wrong
        assert m["robust_accuracy"] == pytest.approx((clean & ~ever_wrong).mean())
        assert m["robust_accuracy_at_eps"] == pytest.approx((clean & ~wrong).mean())
        assert m["success_rate_at_eps"] == pytest.approx(wrong[clean].mean())
        assert m["robust_accuracy"] <= previous
        previous = m["robust_accuracy"]
        fooled = clean & wrong
        if fooled.any():
            assert m["perturbation_linf_median"] == pytest.approx(np.median(size[fooled]))
            l2 = np.linalg.norm(a["adversarial"] - x, axis=1)[fooled]
            assert m["perturbation_l2_mean"] == pytest.approx(l2.mean())
            assert m["perturbation_linf_mean_rel"] == pytest.approx(size[fooled].mean() / median)
        assert m["gradient_evaluations"] == (0 if query["eps_rel"] == 0 else 1)
    first = points[0][1]["measures"]
    assert first["eps_abs"] == 0
    assert first["robust_accuracy"] == first["clean_accuracy"]
    assert points[-1][1]["measures"]["robust_accuracy"] < first["clean_accuracy"]


def test_worst_case_never_rises_even_when_an_attack_does(data_dir):
    n = 60
    points = _by_eps(_sweep(data_dir, {
        "dataset": "digits", "attack": "noise", "rescale": "unit", "n_inputs": n,
        "build": {"distribution": "ball"},
        "query": {"eps_rel": [0.0, 0.4, 0.8, 1.2, 1.6, 2.0]}}))
    y = _unit_digits(data_dir, n)[3]
    clean = points[0][1]["arrays"]["decision"] == y
    ever = np.zeros(n, dtype=bool)
    raw, worst = [], []
    for _, p in points:
        wrong = p["arrays"]["decision"] != y
        ever |= wrong
        raw.append(p["measures"]["robust_accuracy_at_eps"])
        worst.append(p["measures"]["robust_accuracy"])
        assert worst[-1] == pytest.approx((clean & ~ever).mean())
        np.testing.assert_array_equal(p["arrays"]["robust"].astype(bool), clean & ~ever)
        assert p["measures"]["n_budgets_worst_case"] == len(worst)
    assert all(a >= b for a, b in itertools.pairwise(worst))
    assert all(w <= r for w, r in zip(worst, raw, strict=True))


def test_targeted_success_means_reaching_the_next_class(data_dir):
    n = 60
    points = _by_eps(_sweep(data_dir, {
        "dataset": "digits", "attack": "pgd", "rescale": "unit", "n_inputs": n,
        "build": {"targeted": True, "steps": 10}, "query": {"eps_rel": [0.0, 1.0]}}))
    y = _unit_digits(data_dir, n)[3]
    clean = points[0][1]["arrays"]["decision"] == y
    m, a = points[1][1]["measures"], points[1][1]["arrays"]
    hit = a["decision"] == (y + 1) % 10
    assert hit[clean].mean() > 0.3
    assert m["success_rate_at_eps"] == pytest.approx(hit[clean].mean())
    np.testing.assert_array_equal(a["success"].astype(bool), hit)


def test_soft_knn_target_is_judged_by_the_hard_vote_of_the_index(data_dir):
    n, k = 40, 5
    points = _by_eps(_sweep(data_dir, {
        "dataset": "gmm-2000x8", "attack": "pgd", "target": "soft-knn", "k": k,
        "n_inputs": n, "build": {"steps": 10}, "query": {"eps_rel": [0.0, 0.6]}}))
    ds = load_dataset("gmm-2000x8", data_dir)
    train = np.asarray(ds.train, np.float64)
    for _, p in points:
        adv = p["arrays"]["adversarial"]
        d = ((adv[:, None, :] - train[None]) ** 2).sum(-1)
        top = np.argsort(d, axis=1, kind="stable")[:, :k]
        votes = np.array([np.bincount(ds.train_labels[t], minlength=ds.train_labels.max() + 1)
                          for t in top])
        assert (votes.max(1) > k // 2).mean() > 0.9  # clear majorities: no tie rule needed
        clear = votes.max(1) > k // 2
        np.testing.assert_array_equal(p["arrays"]["decision"][clear], votes.argmax(1)[clear])
        assert p["measures"]["recall_fidelity"] == 1.0  # the index is exact


# --------------------------------------------------------------------------- search


def test_retrieval_measures_match_brute_force(data_dir):
    n, k = 40, 10
    points = _by_eps(_sweep(data_dir, {
        "dataset": "gmm-2000x8", "attack": "deepfool", "target": "retrieval", "k": k,
        "norm": "l2", "n_inputs": n, "query": {"eps_rel": [0.0, 0.1, 0.3, 1.0]}}))
    ds = load_dataset("gmm-2000x8", data_dir)
    train = np.asarray(ds.train, np.float64)
    x = np.asarray(ds.test, np.float64)[:n]
    clean_d = np.sqrt(((x[:, None] - train[None]) ** 2).sum(-1))
    clean_top = np.argsort(clean_d, axis=1, kind="stable")
    grads = set()
    for query, p in points:
        m, a = p["measures"], p["arrays"]
        adv = a["adversarial"]
        d = np.sqrt(((adv[:, None] - train[None]) ** 2).sum(-1))
        own = np.argsort(d, axis=1, kind="stable")[:, :k]
        rank = (d < d[np.arange(n), clean_top[:, 0]][:, None]).sum(1)
        np.testing.assert_array_equal(a["rank_top1"], rank)
        assert m["rank_shift_top1_mean"] == pytest.approx(rank.mean())
        semantic = np.mean([len(set(a["ids"][i]) & set(clean_top[i, :k])) / k
                            for i in range(n)])
        assert m["recall_semantic"] == pytest.approx(semantic)
        assert m["recall_semantic_exact"] == pytest.approx(np.mean(
            [len(set(own[i]) & set(clean_top[i, :k])) / k for i in range(n)]))
        assert m["recall_clean"] == 1.0 and m["recall_fidelity"] == 1.0
        assert m["recall_gap"] == 0.0
        assert m["success_rate_at_eps"] == pytest.approx((a["ids"][:, 0] != clean_top[:, 0])
                                                         .mean())
        grads.add(m["gradient_evaluations"])
        if query["eps_rel"] == 0:
            assert m["recall_semantic"] == 1.0 and m["rank_shift_top1_mean"] == 0
    assert len(grads) == 1  # deepfool ran once and was clipped to every budget
    assert points[-1][1]["measures"]["success_rate"] > 0.9


def test_a_point_does_not_depend_on_the_other_points_of_its_group(data_dir):
    run = {"dataset": "digits", "attack": "pgd", "rescale": "unit", "n_inputs": 30,
           "build": {"steps": 3}}
    alone = _sweep(data_dir, {**run, "query": {"eps_rel": [0.2]}})
    group = _sweep(data_dir, {**run, "query": {"eps_rel": [0.1, 0.2]}})
    mine = next(p for q, p in group if q["eps_rel"] == 0.2)
    np.testing.assert_array_equal(alone[0][1]["arrays"]["adversarial"],
                                  mine["arrays"]["adversarial"])


def test_bad_run_keys_fail_with_a_message_naming_them(data_dir):
    with pytest.raises(InvalidInputError, match="needs labels"):
        _sweep(data_dir, {"dataset": "uniform-300x4", "attack": "fgsm"})
    with pytest.raises(InvalidInputError, match="does not support metric"):
        _sweep(data_dir, {"dataset": "gmm-300x4", "attack": "fgsm", "target": "retrieval",
                          "target_index": "faiss", "metric": "manhattan"})
    with pytest.raises(UnknownNameError, match="did you mean 'hnswlib'"):
        _sweep(data_dir, {"dataset": "gmm-300x4", "attack": "fgsm", "target": "retrieval",
                          "target_index": "hnswlibb"})


# --------------------------------------------------------------------------- end to end


def test_isolated_worker_process_yields_valid_points_and_plots(tmp_path, data_dir):
    """The task runs in the runner's spawned process; its measures fit the record schema."""
    import pandas as pd

    registry = get_registry()
    suite = parse_suite({"defaults": {"task": "attack", "n_inputs": 30, "k": 5},
                         "run": [{"dataset": "gmm-1000x8", "attack": "fgsm",
                                  "target": "retrieval", "norm": "l2",
                                  "query": {"eps_rel": [0.0, 0.5]}}]}, registry=registry)
    (group,) = expand(suite, registry)
    load_dataset("gmm-1000x8", data_dir)  # the driver fills the ground-truth cache
    job = GroupJob(specs=group.specs, dataset="gmm-1000x8", metric="euclidean",
                   data_dir=str(data_dir), extra_modules=[], index_name="fgsm", task="attack")
    outcomes = list(run_group(job))
    measures_schema = schema()["properties"]["measures"]
    rows = []
    for outcome in outcomes:
        assert outcome.status == "ok", outcome.error
        jsonschema.validate(outcome.measures, measures_schema)
        assert outcome.build["index_bytes"] > 0
        rows.append({"task": "attack", "status": "ok", "dataset": "gmm-1000x8",
                     "index": "fgsm", "build": "{}", **outcome.spec.extra,
                     **outcome.measures})
    files = plot_attack(pd.DataFrame(rows), tmp_path / "plots")
    names = sorted(f.name for f in files)
    assert names == ["attack-recall-gmm-1000x8-retrieval-l2-fgsm.png",
                     "attack-recall-gmm-1000x8-retrieval-l2-fgsm.svg",
                     "attack-robust-gmm-1000x8-retrieval-l2-bruteforce.png",
                     "attack-robust-gmm-1000x8-retrieval-l2-bruteforce.svg"]
    assert files[0].read_bytes()[:4] == b"\x89PNG"


def test_plot_attack_draws_one_line_per_attack_and_index(tmp_path):
    import pandas as pd

    rows = []
    for attack in ("fgsm", "pgd"):
        for index in ("bruteforce", "hnsw"):
            for eps in (0.0, 0.5, 1.0):
                rows.append({"task": "attack", "status": "ok", "dataset": "d", "index": attack,
                             "build": json.dumps({}), "eps_rel": eps, "target": "retrieval",
                             "target_index": index, "norm": "linf",
                             "robust_accuracy": 1 - eps / 2, "recall_semantic": 1 - eps / 3,
                             "recall_fidelity": 1.0})
    df = pd.DataFrame(rows)
    files = plot_attack(df, tmp_path)
    stems = sorted({f.stem for f in files})
    assert stems == ["attack-recall-d-retrieval-linf-fgsm", "attack-recall-d-retrieval-linf-pgd",
                     "attack-robust-d-retrieval-linf-bruteforce",
                     "attack-robust-d-retrieval-linf-hnsw"]
    assert plot_attack(df.iloc[:0], tmp_path / "none") == []
    with pytest.raises(InvalidInputError, match="DataFrame"):
        plot_attack([], tmp_path)


def test_builtin_attack_suite_expands_and_its_run_keys_are_valid():
    registry = get_registry()
    suite = load_suite("attack", registry)
    groups = expand(suite, registry)
    assert groups
    for group in groups:
        spec = group.first
        assert spec.task == "attack"
        opts = parse_options(spec.extra)
        if opts.target != "softmax":
            assert opts.target_index in registry.indexes
        assert all("eps_rel" in s.query for s in group.specs)


def test_a_trained_attack_is_told_it_fits_on_the_inputs_it_attacks_only_if_it_can_hear_it():
    # the documented protocol for attacks that learn is fit(target, x, y, eps, rng) plus
    # is_trained; advgan also takes transductive=True, and a plugin's fit without that
    # keyword must still be called
    from plugins.attack_task import _fit_on_attacked

    calls = []

    class Plain:
        def fit(self, target, x, y, eps, rng):
            calls.append(("plain", eps))

    class Keyword:
        def fit(self, target, x, y, eps, rng, *, transductive=False):
            calls.append(("keyword", transductive))

    class Kwargs:
        def fit(self, target, x, y, eps, rng, **options):
            calls.append(("kwargs", options))

    x = np.zeros((2, 3))
    for attack in (Plain(), Keyword(), Kwargs()):
        _fit_on_attacked(attack, None, x, None, 0.5, 7)
    assert calls == [("plain", 0.5), ("keyword", True), ("kwargs", {"transductive": True})]
