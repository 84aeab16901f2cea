"""The ``cluster`` task, its clusterer plugins and datasets, end to end and piece by piece."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits, make_blobs, make_circles, make_moons
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.preprocessing import StandardScaler

from harness import DatasetUnavailableError, InvalidInputError, plugins
from harness.config import Spec, expand, load_suite
from harness.data import load_dataset, write_idx
from harness.results import load_results
from harness.runner import GroupJob
from harness.session import Session
from harness.types import resolve_params
from plugins.cluster_task import cluster_table, cluster_worker, plot_cluster


def test_hook_register_clusterers(tmp_path, vecbench_plugin_host):
    path = tmp_path / "vb_hook_clusterers.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from harness import ClustererInfo, Param, hookimpl

        class Halves:
            def __init__(self, n_clusters=2):
                self.n_clusters = n_clusters

            def fit_predict(self, x):
                return (np.arange(len(x)) * self.n_clusters // len(x)).astype(np.int64)

        @hookimpl
        def register_clusterers(register):
            register(ClustererInfo("hook-test-clusterer", factory=Halves,
                                   build_params=(Param("n_clusters", 2, int),),
                                   build_grid={"n_clusters": [2, 3]}))
    """))
    host = vecbench_plugin_host(str(path))
    status = host.status["vb_hook_clusterers"]
    assert status.error is None, status.error
    assert status.hooks == ["register_clusterers"]
    entry = host.registry.clusterers.get_entry("hook-test-clusterer")
    assert entry.provider == "vb_hook_clusterers"
    assert status.provides == {"clusterer": ["hook-test-clusterer"]}
    labels = entry.info.factory(n_clusters=3).fit_predict([[0.0]] * 6)
    assert labels.tolist() == [0, 0, 1, 1, 2, 2]


# --------------------------------------------------------------------------- helpers


def _job(dataset, clusterer, build=None, extra_modules=(), data_dir="", metric="euclidean",
         seeds=(0,)):
    """A GroupJob of one build configuration, resolved like a suite's run."""
    registry = plugins.get_registry(list(extra_modules))
    info = registry.clusterers.get(clusterer)
    resolved = resolve_params(info.build_params, dict(build or {}), clusterer)
    specs = [Spec(task="cluster", dataset=dataset, index=clusterer,
                  build={**resolved, **({"seed": s} if "seed" in resolved else {})},
                  query={}, k=10, seed=s) for s in seeds]
    return GroupJob(specs=specs, dataset=dataset, metric=metric, data_dir=str(data_dir),
                    extra_modules=list(extra_modules), index_name=clusterer, task="cluster")


def _points(job):
    out = list(cluster_worker(job))
    assert out[0][0] == "built"
    return out[0][1], out[1:]


# --------------------------------------------------------------------------- datasets


@pytest.mark.parametrize("name,maker,kwargs", [
    ("moons", make_moons, {"noise": 0.05}),
    ("circles", make_circles, {"factor": 0.5, "noise": 0.05}),
    ("blobs", make_blobs, {"centers": 4, "cluster_std": 1.0}),
])
def test_toy_datasets_are_sklearns_standardised(tmp_path, name, maker, kwargs):
    ds = load_dataset(name, tmp_path)
    x, y = maker(n_samples=1500, random_state=0, **kwargs)
    np.testing.assert_allclose(ds.train, StandardScaler().fit_transform(x), atol=1e-6)
    np.testing.assert_array_equal(ds.train_labels, y)
    assert ds.test.shape == (100, 2) and ds.metric == "euclidean"


def test_digits_and_the_mixture_family(tmp_path):
    digits = load_dataset("digits-cluster", tmp_path)
    assert digits.train.shape == (1797, 64)
    np.testing.assert_array_equal(digits.train_labels, load_digits().target)
    mix = load_dataset("blobs-2000x8-c5", tmp_path)
    again = load_dataset("blobs-2000x8-c5", tmp_path)
    np.testing.assert_array_equal(mix.train, again.train)
    assert mix.train.shape == (2000, 8) and set(np.unique(mix.train_labels)) == set(range(5))
    means = np.array([mix.train[mix.train_labels == c].mean(axis=0) for c in range(5)])
    spread = mix.train - means[mix.train_labels]
    assert abs(float(spread.std()) - 1.0) < 0.05  # unit-variance clusters
    with pytest.raises(InvalidInputError, match="1 <= k <= n"):
        load_dataset("blobs-10x2-c20", tmp_path)


def test_fashion_subset_reads_idx_files(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion"
    folder.mkdir()
    images = rng.integers(0, 256, (60, 28, 28)).astype(np.uint8)
    labels = (np.arange(60) % 10).astype(np.uint8)
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:20])
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:20])
    monkeypatch.setenv("VECBENCH_FASHION_MNIST_DIR", str(folder))
    ds = load_dataset("fashion-mnist-10k", tmp_path / "data")
    assert ds.train.shape == (60, 784)  # fewer images than the subset size: all of them
    order = np.argsort([row.tobytes() for row in ds.train.astype(np.uint8)])
    ref = np.argsort([row.tobytes() for row in images.reshape(60, -1)])
    np.testing.assert_array_equal(ds.train.astype(np.uint8)[order],
                                  images.reshape(60, -1)[ref])
    np.testing.assert_array_equal(np.sort(ds.train_labels), np.sort(labels))
    monkeypatch.setenv("VECBENCH_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DatasetUnavailableError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist-10k", tmp_path / "data")


# --------------------------------------------------------------------------- the worker


def test_worker_measures_agree_with_sklearn_metrics(tmp_path):
    built, points = _points(_job("moons", "spectral", data_dir=tmp_path))
    assert built["n_points"] == 1500 and built["n_classes"] == 2 and built["jit_seconds"] >= 0
    kind, payload = points[0]
    assert kind == "point"
    m, labels = payload["measures"], payload["arrays"]["labels"]
    truth = load_dataset("moons", tmp_path).train_labels
    assert m["ari"] == pytest.approx(adjusted_rand_score(truth, labels), abs=1e-12)
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(truth, labels), abs=1e-12)
    assert m["ari"] >= 0.99  # the issue's check, through the task
    assert m["n_clusters"] == 2 and m["n_clusters_found"] == len(np.unique(labels))
    assert m["seconds"] > 0 and m["peak_memory_bytes"] >= 0 and m["peak_rss_bytes"] > 0
    assert payload["timing"]["params"] == {"n_clusters": 2, "metric": "euclidean"}


@pytest.mark.parametrize("clusterer", ["kmeans", "sklearn-kmeans", "faiss-kmeans",
                                       "sklearn-spectral"])
def test_every_builtin_clusterer_runs_through_the_task(tmp_path, clusterer):
    _, points = _points(_job("blobs", clusterer, data_dir=tmp_path))
    kind, payload = points[0]
    assert kind == "point", payload
    truth = load_dataset("blobs", tmp_path).train_labels
    labels = payload["arrays"]["labels"]
    assert payload["measures"]["ari"] == pytest.approx(adjusted_rand_score(truth, labels))
    reference = KMeans(4, n_init=10, random_state=0).fit_predict(load_dataset("blobs",
                                                                              tmp_path).train)
    assert adjusted_rand_score(reference, labels) >= 0.9


def test_seeds_and_parameters_reach_the_clusterer(tmp_path):
    _, points = _points(_job("circles", "kmeans", {"n_clusters": 3}, data_dir=tmp_path,
                             seeds=(0, 1)))
    assert [p["measures"]["n_clusters"] for _, p in points] == [3, 3]
    data = load_dataset("circles", tmp_path).train
    for (_, payload), seed in zip(points, (0, 1), strict=True):
        from plugins._cluster_kmeans import kmeans

        expected = kmeans(data, 3, seed=seed).labels
        np.testing.assert_array_equal(payload["arrays"]["labels"], expected)


def test_dataset_without_labels_is_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="has no labels"):
        list(cluster_worker(_job("uniform-500x4", "kmeans", data_dir=tmp_path)))


def test_bad_labels_are_an_invalid_result(tmp_path, vecbench_plugin_host):
    path = tmp_path / "vb_bad_clusterer.py"
    path.write_text(textwrap.dedent("""
        import numpy as np
        from harness import ClustererInfo, Param, hookimpl

        class Bad:
            def __init__(self, n_clusters=0, shape="short"):
                self.shape = shape

            def fit_predict(self, x):
                if self.shape == "short":
                    return np.zeros(len(x) - 1, dtype=int)
                if self.shape == "float":
                    return np.zeros(len(x)) + 0.5
                raise RuntimeError("boom")

        @hookimpl
        def register_clusterers(register):
            register(ClustererInfo("bad-clusterer", factory=Bad,
                                   build_params=(Param("n_clusters", 0, int),
                                                 Param("shape", "short", str))))
    """))
    vecbench_plugin_host(str(path))
    for shape, status, text in (("short", "invalid-result", "shape (1499,)"),
                                ("float", "invalid-result", "dtype float64"),
                                ("raise", "failed", "RuntimeError: boom")):
        job = _job("moons", "bad-clusterer", {"shape": shape}, [str(path)], tmp_path)
        built, points = _points(job)
        assert ("warmup_error" in built) == (shape == "raise")
        kind, payload = points[0]
        assert (kind, payload["status"]) == ("point_error", status)
        assert text in payload["error"]


# --------------------------------------------------------------------------- suites and reports


def test_builtin_cluster_suite_covers_the_issue():
    registry = plugins.get_registry()
    groups = expand(load_suite("cluster", registry), registry)
    pairs = {(g.first.dataset, g.first.index) for g in groups}
    for dataset in ("moons", "circles", "blobs", "digits-cluster", "fashion-mnist-10k"):
        for clusterer in ("spectral", "kmeans", "sklearn-spectral", "sklearn-kmeans",
                          "faiss-kmeans"):
            assert (dataset, clusterer) in pairs
    assert all(g.first.task == "cluster" for g in groups)


def test_session_records_and_plots(tmp_path):
    suite = tmp_path / "mini.toml"
    suite.write_text(textwrap.dedent("""
        name = "mini-cluster"
        [defaults]
        task = "cluster"
        [[run]]
        dataset = "circles"
        clusterer = ["spectral", "kmeans"]
    """))
    report = Session(suite, results_dir=tmp_path / "results",
                     data_dir=tmp_path / "data").run()
    assert report.exit_code == 0
    df = load_results(tmp_path / "results")
    assert sorted(df["status"]) == ["ok"] * 2
    table = cluster_table(df)
    assert list(table["clusterer"]) == ["spectral", "kmeans"]
    assert table["ari"].iloc[0] >= 0.99 > 0.6 > table["ari"].iloc[1]
    files = plot_cluster(df, tmp_path / "plots")
    assert [f.name for f in files] == ["cluster-circles.png", "cluster-circles.svg"]
    assert all(f.stat().st_size > 1000 for f in files)
    assert plot_cluster(df.iloc[0:0], tmp_path / "none") == []


def test_cluster_table_takes_medians_over_seeds_and_names_varying_parameters():
    rows = []
    for seed, ari in enumerate((0.2, 0.9, 0.5)):
        for laplacian, shift in (("symmetric", 0.0), ("unnormalized", -0.1)):
            rows.append({"task": "cluster", "status": "ok", "dataset": "d", "index": "spectral",
                         "seed": seed, "ari": ari + shift, "nmi": ari / 2, "seconds": seed + 1,
                         "peak_memory_bytes": 100 * seed,
                         "build": json.dumps({"laplacian": laplacian, "seed": seed,
                                              "n_clusters": 3})})
    rows.append({"task": "search", "status": "ok", "dataset": "d", "index": "hnsw", "seed": 0,
                 "build": "{}"})
    rows.append({"task": "cluster", "status": "failed", "dataset": "d", "index": "kmeans",
                 "seed": 0, "build": "{}"})
    table = cluster_table(pd.DataFrame(rows))
    assert table.to_dict("records") == [
        {"dataset": "d", "clusterer": "spectral [laplacian=symmetric]", "ari": 0.5,
         "nmi": 0.25, "seconds": 2.0, "peak_memory_bytes": 100.0, "seeds": 3},
        {"dataset": "d", "clusterer": "spectral [laplacian=unnormalized]",
         "ari": pytest.approx(0.4), "nmi": 0.25, "seconds": 2.0, "peak_memory_bytes": 100.0,
         "seeds": 3}]
    with pytest.raises(InvalidInputError, match="DataFrame"):
        cluster_table([1, 2])


def test_factories_refuse_an_unset_number_of_clusters():
    registry = plugins.get_registry()
    for name in ("spectral", "kmeans", "sklearn-spectral", "sklearn-kmeans", "faiss-kmeans"):
        info = registry.clusterers.get(name)
        params = resolve_params(info.build_params, {}, name)
        with pytest.raises(InvalidInputError, match="n_clusters"):
            info.factory(**params)
