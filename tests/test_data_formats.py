"""File formats: round trips, files written independently (struct / h5py / json), corrupt files."""

from __future__ import annotations

import gzip
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from harness.data import (
    dataset_checksum,
    default_data_dir,
    read_bin,
    read_bvecs,
    read_fvecs,
    read_hdf5,
    read_idx,
    read_ivecs,
    read_npy,
    read_vectors,
    write_bin,
    write_bvecs,
    write_fvecs,
    write_hdf5,
    write_idx,
    write_ivecs,
    write_npy,
)
from harness.errors import InvalidInputError
from harness.types import DataKind, Dataset, SetData
from plugins.datasets import read_safetensors_tensor

RNG = np.random.default_rng(0)


# --------------------------------------------------------------------------- fvecs & co


def texmex_bytes(rows: np.ndarray, fmt: str) -> bytes:
    """TEXMEX layout written with struct, independently of harness.data."""
    out = b""
    for row in rows:
        out += struct.pack("<i", len(row)) + struct.pack(f"<{len(row)}{fmt}", *row)
    return out


@pytest.mark.parametrize(("write", "read", "values", "fmt"), [
    (write_fvecs, read_fvecs, RNG.standard_normal((7, 5)).astype(np.float32), "f"),
    (write_ivecs, read_ivecs, RNG.integers(-2**31, 2**31 - 1, (6, 3)).astype(np.int32), "i"),
    (write_bvecs, read_bvecs, RNG.integers(0, 256, (9, 4)).astype(np.uint8), "B"),
])
def test_vecs_round_trip_and_layout(tmp_path, write, read, values, fmt):
    path = tmp_path / "x.vecs"
    write(path, values)
    assert path.read_bytes() == texmex_bytes(values, fmt)
    back = read(path)
    assert back.dtype == values.dtype and back.shape == values.shape
    np.testing.assert_array_equal(back, values)
    np.testing.assert_array_equal(read(path, max_rows=2), values[:2])


def test_fvecs_written_elsewhere_is_read(tmp_path):
    values = RNG.standard_normal((4, 3)).astype(np.float32)
    path = tmp_path / "base.fvecs"
    path.write_bytes(texmex_bytes(values, "f"))
    np.testing.assert_array_equal(read_fvecs(path), values)
    np.testing.assert_array_equal(read_vectors(path), values)


def test_truncated_fvecs_names_file_and_offset(tmp_path):
    path = tmp_path / "cut.fvecs"
    path.write_bytes(texmex_bytes(np.ones((3, 4), np.float32), "f")[:-5])
    with pytest.raises(InvalidInputError) as err:
        read_fvecs(path)
    msg = str(err.value)
    assert str(path) in msg and "truncated" in msg and "byte offset 40" in msg  # rows of 20 B


def test_inconsistent_dimension_header_names_row_and_offset(tmp_path):
    data = (texmex_bytes(np.ones((2, 4), np.float32), "f")
            + texmex_bytes(np.ones((1, 3), np.float32), "f")
            + texmex_bytes(np.ones((1, 5), np.float32), "f"))
    path = tmp_path / "mixed.fvecs"
    path.write_bytes(data)
    with pytest.raises(InvalidInputError, match=r"row 2 at byte offset 40 has dimension "
                                                r"header 3, expected 4"):
        read_fvecs(path)


@pytest.mark.parametrize(("payload", "match"), [
    (b"", "empty file"),
    (b"\x01\x00", "byte offset 0"),
    (struct.pack("<i", -3) + b"\x00" * 12, "invalid dimension header -3"),
])
def test_bad_vecs_headers(tmp_path, payload, match):
    path = tmp_path / "bad.ivecs"
    path.write_bytes(payload)
    with pytest.raises(InvalidInputError, match=match):
        read_ivecs(path)


def test_vecs_writers_reject_bad_values(tmp_path):
    with pytest.raises(InvalidInputError, match=r"\[0, 255\]"):
        write_bvecs(tmp_path / "b.bvecs", np.array([[0, 256]]))
    with pytest.raises(InvalidInputError, match="integer"):
        write_ivecs(tmp_path / "i.ivecs", np.array([[0.5, 1.0]]))
    with pytest.raises(InvalidInputError, match="2-D"):
        write_fvecs(tmp_path / "f.fvecs", np.zeros(4))
    with pytest.raises(InvalidInputError, match="not found"):
        read_fvecs(tmp_path / "missing.fvecs")


def test_bin_round_trip_and_truncation(tmp_path):
    values = RNG.standard_normal((5, 3)).astype(np.float32)
    path = tmp_path / "base.fbin"
    write_bin(path, values)
    raw = path.read_bytes()
    assert raw[:8] == struct.pack("<II", 5, 3)
    np.testing.assert_array_equal(read_bin(path), values)
    np.testing.assert_array_equal(read_vectors(path), values)
    path.write_bytes(raw[:-4])
    with pytest.raises(InvalidInputError, match=r"truncated.*row 4 starting at byte offset 56"):
        read_bin(path)
    ids = RNG.integers(0, 100, (2, 6)).astype(np.uint8)
    write_bin(tmp_path / "q.u8bin", ids)
    np.testing.assert_array_equal(read_bin(tmp_path / "q.u8bin"), ids)


# --------------------------------------------------------------------------- npy, idx


def test_npy_round_trip_and_errors(tmp_path):
    values = RNG.standard_normal((3, 4))
    write_npy(tmp_path / "a.npy", values)
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy"), values)
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy", mmap=True), values)
    assert not list(tmp_path.glob(".*tmp"))  # atomic write leaves no temporary file
    (tmp_path / "bad.npy").write_bytes(b"not numpy at all")
    with pytest.raises(InvalidInputError, match=r"bad\.npy"):
        read_npy(tmp_path / "bad.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInputError, match=r"obj\.npy"):
        read_npy(tmp_path / "obj.npy")
    with pytest.raises(InvalidInputError, match="pickles"):
        write_npy(tmp_path / "o.npy", np.array([None], dtype=object))


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """The idx layout (MNIST) written with struct, independently of harness.data."""
    head = struct.pack(">BBBB", 0, 0, code, array.ndim)
    head += struct.pack(f">{array.ndim}I", *array.shape)
    return head + array.astype(array.dtype.newbyteorder(">")).tobytes()


def test_idx_reads_mnist_layout_gzip_and_plain(tmp_path):
    images = RNG.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    (tmp_path / "imgs-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images, 0x08)))
    np.testing.assert_array_equal(read_idx(tmp_path / "imgs-idx3-ubyte.gz"), images)
    floats = RNG.standard_normal((3, 2)).astype(np.float32)
    (tmp_path / "f-idx2").write_bytes(idx_bytes(floats, 0x0D))
    np.testing.assert_array_equal(read_idx(tmp_path / "f-idx2"), floats)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
def test_idx_round_trip(tmp_path, dtype):
    values = (RNG.standard_normal((4, 3, 2)) * 50).astype(dtype)
    write_idx(tmp_path / "v-idx3.gz", values)
    back = read_idx(tmp_path / "v-idx3.gz")
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, values)


def test_idx_corrupt_files(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    (tmp_path / "cut-idx1").write_bytes(idx_bytes(labels, 0x08)[:-3])
    with pytest.raises(InvalidInputError, match=r"cut-idx1.*shape \(10,\).*7 bytes.*truncated"):
        read_idx(tmp_path / "cut-idx1")
    (tmp_path / "magic-idx1").write_bytes(b"\x01\x02\x08\x01" + b"\x00" * 8)
    with pytest.raises(InvalidInputError, match="not an idx file"):
        read_idx(tmp_path / "magic-idx1")
    (tmp_path / "type-idx1").write_bytes(b"\x00\x00\x07\x01\x00\x00\x00\x01\x00")
    with pytest.raises(InvalidInputError, match="0x07"):
        read_idx(tmp_path / "type-idx1")
    (tmp_path / "gz-idx1.gz").write_bytes(gzip.compress(idx_bytes(labels, 0x08))[:-6])
    with pytest.raises(InvalidInputError, match="gzip"):
        read_idx(tmp_path / "gz-idx1.gz")


# --------------------------------------------------------------------------- safetensors


def safetensors_bytes(tensors: dict[str, np.ndarray]) -> bytes:
    """The safetensors layout built by hand from its spec (header length, JSON, data)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, b"", 0
    for name, arr in tensors.items():
        code = {"float32": "F32", "float16": "F16", "int64": "I64"}[arr.dtype.name]
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs += raw
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + blobs


def test_safetensors_tensor_is_read_without_torch(tmp_path):
    table = RNG.standard_normal((6, 4)).astype(np.float32)
    other = np.arange(3, dtype=np.int64)
    path = tmp_path / "model.safetensors"
    path.write_bytes(safetensors_bytes({"other": other, "emb": table}))
    np.testing.assert_array_equal(read_safetensors_tensor(path, "emb"), table)
    np.testing.assert_array_equal(read_safetensors_tensor(path, "other"), other)
    with pytest.raises(InvalidInputError, match="no tensor 'missing'"):
        read_safetensors_tensor(path, "missing")
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(InvalidInputError, match="truncated"):
        read_safetensors_tensor(path, "emb")
    path.write_bytes(struct.pack("<Q", 10 ** 9) + b"{}")
    with pytest.raises(InvalidInputError, match="header length"):
        read_safetensors_tensor(path, "emb")


# --------------------------------------------------------------------------- HDF5


def test_reads_an_ann_benchmarks_dense_file(tmp_path):
    train = RNG.standard_normal((50, 6)).astype(np.float32)
    test = RNG.standard_normal((4, 6)).astype(np.float32)
    path = tmp_path / "toy-6-euclidean.hdf5"
    with h5py.File(path, "w") as f:  # as ann-benchmarks' write_output lays it out
        f.attrs["distance"] = "euclidean"
        f.attrs["point_type"] = "float"
        f.create_dataset("train", data=train)
        f.create_dataset("test", data=test)
        f.create_dataset("neighbors", data=np.zeros((4, 10), dtype="i"))
        f.create_dataset("distances", data=np.zeros((4, 10), dtype="f"))
    ds = read_hdf5(path)
    assert ds.metric == "euclidean" and ds.kind is DataKind.DENSE
    assert ds.name == "toy-6-euclidean"
    np.testing.assert_array_equal(ds.train, train)
    np.testing.assert_array_equal(ds.test, test)
    assert ds.neighbors.dtype == np.int64 and ds.neighbors.shape == (4, 10)
    assert ds.distances.dtype == np.float64


def test_reads_ann_benchmarks_hamming_bits_and_normalised_distances(tmp_path):
    bits = RNG.random((30, 20)) < 0.5
    qbits = RNG.random((3, 20)) < 0.5
    path = tmp_path / "bits-20-hamming.hdf5"
    with h5py.File(path, "w") as f:
        f.attrs["distance"] = "hamming"
        f.attrs["point_type"] = "bit"
        f.create_dataset("train", data=bits)
        f.create_dataset("test", data=qbits)
        f.create_dataset("neighbors", data=np.zeros((3, 5), dtype="i"))
        f.create_dataset("distances", data=np.full((3, 5), 0.35, dtype="f"))
    ds = read_hdf5(path)
    assert ds.kind is DataKind.BINARY
    assert ds.metric == "hamming-normalized"  # ann-benchmarks #508: fractions, not counts
    np.testing.assert_array_equal(np.unpackbits(ds.train, axis=1, bitorder="little")[:, :20],
                                  bits)
    assert ds.train.shape == (30, 3)


def test_reads_ann_benchmarks_sparse_jaccard_layout(tmp_path):
    sets = [[1, 5, 9], [2], [0, 3, 4, 8], [7, 9]]
    queries = [[5, 9], [0, 2, 4]]
    path = tmp_path / "sets-jaccard.hdf5"
    with h5py.File(path, "w") as f:  # as ann-benchmarks' write_sparse_output lays it out
        f.attrs["type"] = "sparse"
        f.attrs["distance"] = "jaccard"
        f.attrs["dimension"] = 10
        f.attrs["point_type"] = "bit"
        f.create_dataset("train", data=np.concatenate(sets))
        f.create_dataset("test", data=np.concatenate(queries))
        f.create_dataset("size_train", data=[len(s) for s in sets])
        f.create_dataset("size_test", data=[len(s) for s in queries])
    ds = read_hdf5(path)
    assert ds.kind is DataKind.SETS and ds.metric == "jaccard"
    assert [list(ds.train.row(i)) for i in range(4)] == sets
    assert [list(ds.test.row(i)) for i in range(2)] == queries
    with h5py.File(path, "a") as f:
        del f["size_train"]
        f.create_dataset("size_train", data=[3, 1, 4, 3])
    with pytest.raises(InvalidInputError, match="size_train sums to 11"):
        read_hdf5(path)


def make_dataset(kind: DataKind) -> Dataset:
    rng = np.random.default_rng(1)
    if kind is DataKind.DENSE:
        train, test, metric = (rng.standard_normal((20, 3)).astype(np.float32),
                               rng.standard_normal((4, 3)).astype(np.float32), "angular")
    elif kind is DataKind.BINARY:
        train = rng.integers(0, 256, (20, 2)).astype(np.uint8)
        test = rng.integers(0, 256, (4, 2)).astype(np.uint8)
        metric = "hamming"
    else:
        train = SetData.from_lists([rng.choice(30, 4, replace=False) for _ in range(20)])
        test = SetData.from_lists([rng.choice(30, 3, replace=False) for _ in range(4)])
        metric = "jaccard"
    return Dataset(name="toy", metric=metric, kind=kind, train=train, test=test,
                   neighbors=rng.integers(0, 20, (4, 5)), distances=rng.random((4, 5)),
                   train_labels=np.arange(20), test_labels=np.arange(4))


@pytest.mark.parametrize("kind", list(DataKind))
def test_hdf5_round_trip(tmp_path, kind):
    ds = make_dataset(kind)
    write_hdf5(tmp_path / "toy.hdf5", ds)
    back = read_hdf5(tmp_path / "toy.hdf5")
    assert (back.name, back.metric, back.kind) == (ds.name, ds.metric, ds.kind)
    if kind is DataKind.SETS:
        for a, b in ((back.train, ds.train), (back.test, ds.test)):
            np.testing.assert_array_equal(a.indptr, b.indptr)
            np.testing.assert_array_equal(a.indices, b.indices)
    else:
        np.testing.assert_array_equal(back.train, ds.train)
        np.testing.assert_array_equal(back.test, ds.test)
    np.testing.assert_array_equal(back.neighbors, ds.neighbors)
    np.testing.assert_array_equal(back.distances, ds.distances)
    np.testing.assert_array_equal(back.train_labels, ds.train_labels)
    assert dataset_checksum(back) == dataset_checksum(ds)
    with h5py.File(tmp_path / "toy.hdf5", "r") as f:  # readable as ann-benchmarks expects
        assert f.attrs["distance"] in ("angular", "hamming", "jaccard")


def test_hdf5_errors(tmp_path):
    (tmp_path / "junk.hdf5").write_bytes(b"\x00" * 100)
    with pytest.raises(InvalidInputError, match="not a readable HDF5 file"):
        read_hdf5(tmp_path / "junk.hdf5")
    with h5py.File(tmp_path / "notrain.hdf5", "w") as f:
        f.attrs["distance"] = "euclidean"
        f.create_dataset("test", data=np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="no dataset 'train'"):
        read_hdf5(tmp_path / "notrain.hdf5")
    with h5py.File(tmp_path / "nodist.hdf5", "w") as f:
        f.create_dataset("train", data=np.zeros((2, 2)))
    with pytest.raises(InvalidInputError, match="'distance' attribute"):
        read_hdf5(tmp_path / "nodist.hdf5")
    with h5py.File(tmp_path / "weird.hdf5", "w") as f:
        f.attrs["distance"] = "wasserstein"
    with pytest.raises(InvalidInputError, match="unknown distance 'wasserstein'"):
        read_hdf5(tmp_path / "weird.hdf5")
    with pytest.raises(InvalidInputError, match="not found"):
        read_hdf5(tmp_path / "absent.hdf5")


# --------------------------------------------------------------------------- checksum & dirs


def test_checksum_tracks_content_dtype_shape_and_metric():
    base = make_dataset(DataKind.DENSE)
    ref = dataset_checksum(base)
    assert len(ref) == 64 and int(ref, 16) >= 0

    def variant(**changes):
        fields = {"name": "other", "metric": base.metric, "kind": base.kind,
                  "train": base.train.copy(), "test": base.test.copy()}
        fields.update(changes)
        return dataset_checksum(Dataset(**fields))

    assert variant() == ref  # name, labels and ground truth are not part of it
    assert variant(train=np.asfortranarray(base.train)) == ref  # memory layout is not
    changed = base.train.copy()
    changed[3, 1] = np.nextafter(changed[3, 1], np.float32(np.inf))
    assert variant(train=changed) != ref
    assert variant(metric="euclidean") != ref
    assert variant(train=base.train.astype(np.float64)) != ref
    assert variant(train=base.train.reshape(30, 2)) != ref
    assert variant(train=base.test.copy(), test=base.train.copy()) != ref


def test_checksum_is_stable_across_processes():
    code = ("import numpy as np; from harness.data import dataset_checksum;"
            "from harness.types import Dataset, DataKind;"
            "x = np.arange(60, dtype=np.float32).reshape(20, 3);"
            "print(dataset_checksum(Dataset('a', 'euclidean', DataKind.DENSE, x, x[:4])))")
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True).stdout.strip() for _ in range(2)}
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    assert runs == {dataset_checksum(Dataset("b", "euclidean", DataKind.DENSE, x, x[:4]))}


def test_default_data_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("VECBENCH_DATA", raising=False)
    assert default_data_dir() == Path("datasets")
    monkeypatch.setenv("VECBENCH_DATA", str(tmp_path))
    assert default_data_dir() == tmp_path
    assert os.environ["VECBENCH_DATA"] == str(tmp_path)
