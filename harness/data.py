"""Datasets: file formats, the data directory, checksums, loading with exact ground truth.

Formats (all readers give clear errors naming the file and, for binary layouts, the byte
offset of the problem):

- ``.npy`` (:func:`read_npy`, :func:`write_npy`), never with pickles;
- TEXMEX ``fvecs`` / ``ivecs`` / ``bvecs``: every row is a little-endian int32 dimension
  followed by that many float32 / int32 / uint8 values;
- big-ann ``fbin`` / ``ibin`` / ``u8bin`` / ``i8bin``: uint32 rows, uint32 dim, then the
  row-major values (:func:`read_bin`, :func:`write_bin`);
- idx (MNIST, Fashion-MNIST; gzip or plain): :func:`read_idx`, :func:`write_idx`;
- ann-benchmarks HDF5 (:func:`read_hdf5`, :func:`write_hdf5`): datasets ``train``, ``test``,
  ``neighbors``, ``distances`` and the attribute ``distance``. Hamming files hold one bool
  (or 0/1 byte) per bit and ``point_type = "bit"``; Jaccard files have ``type = "sparse"``, the
  sets flattened into 1-D ``train`` / ``test`` with their lengths in ``size_train`` /
  ``size_test`` (the layout of ann-benchmarks' ``write_sparse_output``).

The data directory is ``$VECBENCH_DATA`` or ``./datasets``. Ground truth computed here is
cached in ``<data_dir>/groundtruth/<checksum>-<metric>-<depth>.npz``.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from harness import groundtruth
from harness.errors import DatasetUnavailableError, InvalidInputError, UnknownNameError
from harness.types import DataKind, Dataset, DatasetInfo, SetData, n_items
from harness.validation import check_binary, check_dense, check_sets

DATA_ENV = "VECBENCH_DATA"
GT_DIR = "groundtruth"
HDF5_SUFFIXES = (".hdf5", ".h5")


def default_data_dir() -> Path:
    """``$VECBENCH_DATA`` or ``./datasets``."""
    return Path(os.environ.get(DATA_ENV) or "datasets")


# --------------------------------------------------------------------------- atomic writes


@contextlib.contextmanager
def _atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_bytes(path: str | os.PathLike[str], payload: bytes) -> None:
    with _atomic_path(path) as tmp:
        tmp.write_bytes(payload)


def _read_bytes(path: str | os.PathLike[str]) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: file not found") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{path}: is a directory, expected a file") from None


# --------------------------------------------------------------------------- npy


def read_npy(path: str | os.PathLike[str], *, mmap: bool = False) -> np.ndarray:
    """Read a ``.npy`` array (no pickles); ``mmap`` maps it read-only instead of reading."""
    if not Path(path).is_file():
        raise InvalidInputError(f"{path}: file not found")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InvalidInputError(f"{path}: not a readable .npy file ({exc})") from None


def write_npy(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` to ``path`` as ``.npy``, atomically."""
    arr = np.asarray(array)
    if arr.dtype == object:
        raise InvalidInputError(f"{path}: cannot write an object array without pickles")
    with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, arr, allow_pickle=False)


# --------------------------------------------------------------------------- fvecs & co

_VECS_DTYPES: dict[str, np.dtype[Any]] = {
    "fvecs": np.dtype("<f4"), "ivecs": np.dtype("<i4"), "bvecs": np.dtype("u1")}


def _read_vecs(path: str | os.PathLike[str], fmt: str, max_rows: int | None) -> np.ndarray:
    dtype = _VECS_DTYPES[fmt]
    raw = np.frombuffer(_read_bytes(path), dtype=np.uint8)
    if raw.size == 0:
        raise InvalidInputError(f"{path}: empty file, expected at least one vector")
    if raw.size < 4:
        raise InvalidInputError(
            f"{path}: truncated at byte offset 0: {raw.size} bytes cannot hold a dimension header")
    dim = int(raw[:4].view("<i4")[0])
    if dim <= 0 or dim > (1 << 24):
        raise InvalidInputError(
            f"{path}: invalid dimension header {dim} at byte offset 0 (is this really a "
            f"{fmt} file?)")
    row_bytes = 4 + dim * dtype.itemsize
    n_full = raw.size // row_bytes
    if max_rows is not None:
        n_full = min(n_full, int(max_rows))
    rows = raw[:n_full * row_bytes].reshape(n_full, row_bytes)
    headers = np.ascontiguousarray(rows[:, :4]).view("<i4").ravel()
    bad = np.flatnonzero(headers != dim)
    if len(bad):
        row = int(bad[0])
        raise InvalidInputError(
            f"{path}: row {row} at byte offset {row * row_bytes} has dimension header "
            f"{int(headers[row])}, expected {dim} (from the header at byte offset 0); "
            "rows of different dimensions are not supported")
    if (max_rows is None or n_full < max_rows) and raw.size % row_bytes:
        offset = n_full * row_bytes
        raise InvalidInputError(
            f"{path}: truncated: the row starting at byte offset {offset} has "
            f"{raw.size - offset} of {row_bytes} bytes (dimension {dim}); the file holds "
            f"{n_full} whole rows")
    return np.ascontiguousarray(rows[:, 4:]).view(dtype).reshape(n_full, dim).astype(
        dtype.newbyteorder("="), copy=False)


def _write_vecs(path: str | os.PathLike[str], array: Any, dtype: np.dtype[Any]) -> None:
    arr = np.asarray(array)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{path}: expected a non-empty 2-D array, got shape {arr.shape}")
    if dtype.kind in "iu":
        if not np.issubdtype(arr.dtype, np.integer) and not (
                np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr))):
            raise InvalidInputError(f"{path}: expected integer values, got dtype {arr.dtype}")
        info = np.iinfo(dtype)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise InvalidInputError(
                f"{path}: values must be in [{info.min}, {info.max}] for {dtype}")
    out = np.empty((arr.shape[0], 4 + arr.shape[1] * dtype.itemsize), dtype=np.uint8)
    out[:, :4] = np.full((arr.shape[0], 1), arr.shape[1], dtype="<i4").view(np.uint8)
    out[:, 4:] = np.ascontiguousarray(arr.astype(dtype)).view(np.uint8)
    _write_bytes(path, out.tobytes())


def read_fvecs(path: str | os.PathLike[str], *, max_rows: int | None = None) -> np.ndarray:
    """Read a TEXMEX ``.fvecs`` file -> float32 (n, d). ``max_rows`` reads only the first rows."""
    return _read_vecs(path, "fvecs", max_rows)


def read_ivecs(path: str | os.PathLike[str], *, max_rows: int | None = None) -> np.ndarray:
    """Read a TEXMEX ``.ivecs`` file -> int32 (n, d) (e.g. ground-truth ids)."""
    return _read_vecs(path, "ivecs", max_rows)


def read_bvecs(path: str | os.PathLike[str], *, max_rows: int | None = None) -> np.ndarray:
    """Read a TEXMEX ``.bvecs`` file -> uint8 (n, d)."""
    return _read_vecs(path, "bvecs", max_rows)


def write_fvecs(path: str | os.PathLike[str], array: Any) -> None:
    """Write (n, d) values as float32 ``.fvecs``, atomically."""
    _write_vecs(path, array, _VECS_DTYPES["fvecs"])


def write_ivecs(path: str | os.PathLike[str], array: Any) -> None:
    """Write (n, d) integers as int32 ``.ivecs``, atomically."""
    _write_vecs(path, array, _VECS_DTYPES["ivecs"])


def write_bvecs(path: str | os.PathLike[str], array: Any) -> None:
    """Write (n, d) integers in [0, 255] as ``.bvecs``, atomically."""
    _write_vecs(path, array, _VECS_DTYPES["bvecs"])


_BIN_DTYPES: dict[str, np.dtype[Any]] = {
    ".fbin": np.dtype("<f4"), ".ibin": np.dtype("<i4"), ".u8bin": np.dtype("u1"),
    ".i8bin": np.dtype("i1")}


def _bin_dtype(path: str | os.PathLike[str], dtype: Any) -> np.dtype[Any]:
    if dtype is not None:
        return np.dtype(dtype).newbyteorder("<")
    suffix = Path(path).suffix
    if suffix not in _BIN_DTYPES:
        raise InvalidInputError(
            f"{path}: cannot tell the value type from the suffix {suffix!r}; use one of "
            f"{sorted(_BIN_DTYPES)} or pass dtype=")
    return _BIN_DTYPES[suffix]


def read_bin(path: str | os.PathLike[str], dtype: Any = None, *,
             max_rows: int | None = None) -> np.ndarray:
    """Read a big-ann-benchmarks ``.fbin/.ibin/.u8bin/.i8bin`` file -> (n, d)."""
    dt = _bin_dtype(path, dtype)
    raw = _read_bytes(path)
    if len(raw) < 8:
        raise InvalidInputError(f"{path}: truncated at byte offset 0: {len(raw)} bytes cannot "
                                "hold the 8-byte (rows, dim) header")
    n, dim = (int(v) for v in np.frombuffer(raw[:8], dtype="<u4"))
    if dim == 0:
        raise InvalidInputError(f"{path}: header says dimension 0 (byte offset 4)")
    want = 8 + n * dim * dt.itemsize
    if len(raw) < want:
        whole = (len(raw) - 8) // (dim * dt.itemsize)
        raise InvalidInputError(
            f"{path}: truncated: header says {n} x {dim} {dt} ({want} bytes) but the file has "
            f"{len(raw)} bytes; row {whole} starting at byte offset "
            f"{8 + whole * dim * dt.itemsize} is incomplete")
    if len(raw) > want:
        raise InvalidInputError(
            f"{path}: {len(raw) - want} unexpected bytes after byte offset {want} "
            f"(header says {n} x {dim} {dt})")
    if max_rows is not None:
        n = min(n, int(max_rows))
    return np.frombuffer(raw, dtype=dt, count=n * dim, offset=8).reshape(n, dim).astype(
        dt.newbyteorder("="))


def write_bin(path: str | os.PathLike[str], array: Any, dtype: Any = None) -> None:
    """Write (n, d) values as a big-ann ``.fbin``-style file, atomically."""
    dt = _bin_dtype(path, dtype)
    arr = np.asarray(array)
    if arr.ndim != 2:
        raise InvalidInputError(f"{path}: expected a 2-D array, got shape {arr.shape}")
    header = np.array(arr.shape, dtype="<u4").tobytes()
    _write_bytes(path, header + np.ascontiguousarray(arr.astype(dt)).tobytes())


# --------------------------------------------------------------------------- idx

_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an idx file (MNIST / Fashion-MNIST), gzip-compressed or plain."""
    raw = _read_bytes(path)
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise InvalidInputError(f"{path}: corrupt gzip stream ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise InvalidInputError(
            f"{path}: not an idx file: the first two bytes at byte offset 0 must be zero")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_TYPES:
        raise InvalidInputError(f"{path}: unknown idx value type 0x{code:02x} at byte offset 2")
    if len(raw) < 4 + 4 * ndim:
        raise InvalidInputError(f"{path}: truncated in the header (byte offset {len(raw)})")
    shape = tuple(int(v) for v in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dt = _IDX_TYPES[code]
    start = 4 + 4 * ndim
    want = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if len(raw) - start != want:
        raise InvalidInputError(
            f"{path}: header says shape {shape} of {dt} ({want} bytes from byte offset {start}) "
            f"but the data has {len(raw) - start} bytes"
            + (" (truncated)" if len(raw) - start < want else ""))
    return np.frombuffer(raw, dtype=dt, offset=start).reshape(shape).astype(
        dt.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: Any, *, compress: bool | None = None) -> None:
    """Write an idx file (gzip-compressed when ``compress`` or the name ends in ``.gz``)."""
    arr = np.asarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in _IDX_TYPES.items()}
    key = arr.dtype.newbyteorder("=").str
    if key not in codes:
        raise InvalidInputError(f"{path}: idx cannot store dtype {arr.dtype}; use one of "
                                "uint8, int8, int16, int32, float32, float64")
    code = codes[key]
    header = bytes([0, 0, code, arr.ndim]) + np.array(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr.astype(_IDX_TYPES[code])).tobytes()
    if compress or (compress is None and str(path).endswith(".gz")):
        payload = gzip.compress(payload, mtime=0)
    _write_bytes(path, payload)


def read_vectors(path: str | os.PathLike[str]) -> np.ndarray:
    """Read vectors from a file, choosing the reader by its suffix."""
    name = str(path)
    for suffix, reader in ((".fvecs", read_fvecs), (".ivecs", read_ivecs),
                           (".bvecs", read_bvecs), (".npy", read_npy)):
        if name.endswith(suffix):
            return reader(path)
    if Path(name).suffix in _BIN_DTYPES:
        return read_bin(path)
    if "idx" in Path(name).name:
        return read_idx(path)
    raise InvalidInputError(f"{path}: unknown vector file type; expected .npy, .fvecs, .ivecs, "
                            ".bvecs, .fbin, .ibin, .u8bin, .i8bin or an idx file")


# --------------------------------------------------------------------------- HDF5

#: ann-benchmarks ``distance`` attribute -> vecbench metric name.
ANN_METRICS = {"euclidean": "euclidean", "angular": "angular", "cosine": "angular",
               "hamming": "hamming", "jaccard": "jaccard", "dot": "ip", "ip": "ip",
               "inner_product": "ip"}
#: vecbench metric name -> ann-benchmarks ``distance`` attribute.
_TO_ANN = {"euclidean": "euclidean", "angular": "angular", "hamming": "hamming",
           "hamming-normalized": "hamming", "jaccard": "jaccard", "ip": "dot"}


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise InvalidInputError("reading HDF5 files needs h5py: pip install h5py") from None
    return h5py


def _attr_str(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


def _open_hdf5(path: str | os.PathLike[str]) -> Any:
    h5py = _h5py()
    if not Path(path).is_file():
        raise InvalidInputError(f"{path}: file not found")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InvalidInputError(f"{path}: not a readable HDF5 file ({exc})") from None


def _hdf5_read(f: Any, path: Any, key: str) -> np.ndarray:
    if key not in f:
        raise InvalidInputError(f"{path}: no dataset {key!r} (has: {sorted(f.keys())})")
    try:
        return np.asarray(f[key][()])
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{path}: cannot read dataset {key!r} ({exc})") from None


def _hdf5_metric(f: Any, path: Any) -> str:
    if "vecbench_metric" in f.attrs:
        return _attr_str(f.attrs["vecbench_metric"])
    if "distance" not in f.attrs:
        raise InvalidInputError(f"{path}: no 'distance' attribute; cannot tell the metric")
    distance = _attr_str(f.attrs["distance"])
    if distance not in ANN_METRICS:
        raise InvalidInputError(
            f"{path}: unknown distance {distance!r}; known: {sorted(ANN_METRICS)}")
    metric = ANN_METRICS[distance]
    if metric == "hamming" and "distances" in f:
        # ann-benchmarks' hosted hamming files store the *fraction* of differing bits
        # (ann-benchmarks PR #508); counts are whole numbers.
        stored = np.asarray(f["distances"][: min(16, f["distances"].shape[0])])
        if stored.size and stored.max() <= 1.0 and np.any(stored != np.round(stored)):
            metric = "hamming-normalized"
    return metric


def _shape_2d(f: Any, path: Any, key: str) -> tuple[int, int]:
    """Shape of a 2-D HDF5 dataset, or a clear error naming the file and key."""
    shape = tuple(f[key].shape)
    if len(shape) != 2:
        raise InvalidInputError(f"{path}: dataset {key!r} must be 2-D, got shape {shape}")
    return int(shape[0]), int(shape[1])


def _sets_from_flat(flat: np.ndarray, sizes: np.ndarray, path: Any, key: str) -> SetData:
    sizes = np.asarray(sizes, dtype=np.int64).ravel()
    if sizes.size == 0 or sizes.min() < 0 or int(sizes.sum()) != flat.size:
        raise InvalidInputError(
            f"{path}: size_{key} sums to {int(sizes.sum()) if sizes.size else 0} but {key!r} "
            f"holds {flat.size} items")
    indptr = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=indptr[1:])
    flat = np.asarray(flat).ravel()
    if flat.size and not np.issubdtype(flat.dtype, np.integer):
        raise InvalidInputError(f"{path}: {key!r} must hold integer tokens, got {flat.dtype}")
    if flat.size and flat.min() < 0:
        raise InvalidInputError(f"{path}: {key!r} holds negative tokens")
    steps = np.diff(flat.astype(np.int64))
    row_start = np.zeros(flat.size, dtype=bool)
    row_start[indptr[1:-1][indptr[1:-1] < flat.size]] = True
    if np.all((steps > 0) | row_start[1:]):  # already sorted and unique within rows
        return SetData(indptr, flat.astype(np.int32))
    return SetData.from_lists([flat[indptr[i]:indptr[i + 1]].tolist() for i in range(len(sizes))])


def _bits_to_packed(bits: np.ndarray, path: Any, key: str) -> np.ndarray:
    arr = np.asarray(bits)
    if arr.dtype != bool and (arr.size and (arr.min() < 0 or arr.max() > 1)):
        raise InvalidInputError(f"{path}: {key!r} has point_type 'bit' but values other than 0/1")
    return np.packbits(arr.astype(bool), axis=1, bitorder="little")


def hdf5_header(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Metric, kind and sizes of an ann-benchmarks HDF5 file, without reading the vectors."""
    with _open_hdf5(path) as f:
        metric = _hdf5_metric(f, path)
        sparse = _attr_str(f.attrs.get("type", "dense")) == "sparse"
        bits = _attr_str(f.attrs.get("point_type", "float")) == "bit"
        for key in ("train", "test"):
            if key not in f:
                raise InvalidInputError(f"{path}: no dataset {key!r} (has: {sorted(f.keys())})")
        if sparse:
            n_train = int(f["size_train"].shape[0]) if "size_train" in f else 0
            n_test = int(f["size_test"].shape[0]) if "size_test" in f else 0
            dim = int(f.attrs.get("dimension", 0))
            kind = DataKind.SETS
        else:
            n_train, dim = _shape_2d(f, path, "train")
            n_test = _shape_2d(f, path, "test")[0]
            kind = DataKind.BINARY if bits or f["train"].dtype == bool else DataKind.DENSE
        return {"metric": metric, "kind": kind, "n_train": n_train, "n_test": n_test,
                "dim": dim,
                "gt_depth": _shape_2d(f, path, "neighbors")[1] if "neighbors" in f else 0}


def read_hdf5(path: str | os.PathLike[str]) -> Dataset:
    """Read an ann-benchmarks HDF5 file into a Dataset (see the module docstring)."""
    with _open_hdf5(path) as f:
        metric = _hdf5_metric(f, path)
        sparse = _attr_str(f.attrs.get("type", "dense")) == "sparse"
        bits = _attr_str(f.attrs.get("point_type", "float")) == "bit"
        train_raw = _hdf5_read(f, path, "train")
        test_raw = _hdf5_read(f, path, "test")
        train: Any
        test: Any
        if sparse:
            kind = DataKind.SETS
            train = _sets_from_flat(train_raw, _hdf5_read(f, path, "size_train"), path, "train")
            test = _sets_from_flat(test_raw, _hdf5_read(f, path, "size_test"), path, "test")
        elif bits or train_raw.dtype == bool:
            kind = DataKind.BINARY
            train = _bits_to_packed(train_raw, path, "train")
            test = _bits_to_packed(test_raw, path, "test")
        else:
            kind = DataKind.DENSE
            train, test = train_raw, test_raw
        gt = {}
        for key in ("neighbors", "distances"):
            if key in f:
                rows, _ = _shape_2d(f, path, key)
                if rows != len(test):
                    raise InvalidInputError(f"{path}: {key!r} has {rows} rows for "
                                            f"{len(test)} test queries")
                gt[key] = _hdf5_read(f, path, key)
        neighbors, distances = gt.get("neighbors"), gt.get("distances")
        labels = {key: _hdf5_read(f, path, key) for key in ("train_labels", "test_labels")
                  if key in f}
        name = _attr_str(f.attrs.get("name", Path(path).stem))
    if neighbors is not None:
        neighbors = neighbors.astype(np.int64)
    if distances is not None:
        distances = distances.astype(np.float64)
    return Dataset(name=name, metric=metric, kind=kind, train=train, test=test,
                   neighbors=neighbors, distances=distances,
                   train_labels=labels.get("train_labels"), test_labels=labels.get("test_labels"),
                   meta={"source": str(path), "gt_from_file": neighbors is not None})


def write_hdf5(path: str | os.PathLike[str], ds: Dataset) -> None:
    """Write ``ds`` in the ann-benchmarks HDF5 layout, atomically.

    Binary vectors are written unpacked (one bool per bit, ``point_type = "bit"``), sets in
    the sparse layout; ``vecbench_metric`` keeps the exact metric name for reading back.
    """
    h5py = _h5py()
    with _atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["distance"] = _TO_ANN.get(ds.metric, ds.metric)
        f.attrs["vecbench_metric"] = ds.metric
        f.attrs["name"] = ds.name
        if ds.kind is DataKind.SETS:
            if not isinstance(ds.train, SetData) or not isinstance(ds.test, SetData):
                raise InvalidInputError(f"{path}: dataset kind 'sets' needs SetData train/test")
            f.attrs["type"] = "sparse"
            f.attrs["point_type"] = "bit"
            f.attrs["dimension"] = max(ds.train.shape[1], ds.test.shape[1])
            for key, sets in (("train", ds.train), ("test", ds.test)):
                f.create_dataset(key, data=sets.indices.astype(np.int32))
                f.create_dataset(f"size_{key}", data=np.diff(sets.indptr).astype(np.int32))
        elif ds.kind is DataKind.BINARY:
            f.attrs["type"] = "dense"
            f.attrs["point_type"] = "bit"
            f.attrs["dimension"] = ds.dim
            for key, data in (("train", ds.train), ("test", ds.test)):
                packed = check_binary(data, key)
                f.create_dataset(key, data=np.unpackbits(packed, axis=1,
                                                         bitorder="little").astype(bool))
        else:
            f.attrs["type"] = "dense"
            f.attrs["point_type"] = "float"
            f.attrs["dimension"] = ds.dim
            f.create_dataset("train", data=np.asarray(ds.train))
            f.create_dataset("test", data=np.asarray(ds.test))
        if ds.neighbors is not None:
            f.create_dataset("neighbors", data=np.asarray(ds.neighbors, dtype=np.int64))
        if ds.distances is not None:
            f.create_dataset("distances", data=np.asarray(ds.distances, dtype=np.float64))
        for key in ("train_labels", "test_labels"):
            value = getattr(ds, key)
            if value is not None:
                f.create_dataset(key, data=np.asarray(value))


# --------------------------------------------------------------------------- checksum


def dataset_checksum(ds: Dataset) -> str:
    """sha256 fingerprint (hex) of the dataset's train/test bytes, dtypes, shapes and metric.

    The name, labels and ground truth are not part of it: two datasets with the same vectors
    and metric have the same exact ground truth, and it is cached under this fingerprint.
    """
    h = hashlib.sha256()
    h.update(f"vecbench-dataset-v1|metric={ds.metric}|kind={ds.kind.value}|".encode())
    for part, data in (("train", ds.train), ("test", ds.test)):
        arrays = ([("indptr", np.asarray(data.indptr, np.int64)),
                   ("indices", np.asarray(data.indices, np.int64))]
                  if isinstance(data, SetData) else [("values", np.asarray(data))])
        for label, arr in arrays:
            arr = np.ascontiguousarray(arr)
            h.update(f"{part}.{label}|{arr.dtype.str}|{arr.shape}|".encode())
            h.update(arr.reshape(-1).view(np.uint8).data)
    return h.hexdigest()


# --------------------------------------------------------------------------- resolving


def _hdf5_info(name: str) -> DatasetInfo:
    path = Path(name).expanduser()
    if not path.is_file():
        raise DatasetUnavailableError(f"dataset file {name} not found")
    head = hdf5_header(path)
    return DatasetInfo(
        name=name, load=lambda _data_dir: read_hdf5(path), metric=head["metric"],
        kind=head["kind"], n_train=head["n_train"], n_test=head["n_test"], dim=head["dim"],
        available=lambda _data_dir: None if path.is_file() else f"file {path} not found",
        description=f"ann-benchmarks HDF5 file {path.name}", source=str(path))


def _family_label(pattern: str, info: DatasetInfo) -> str:
    return info.name or pattern


def resolve_dataset(name: str, registry: Any = None) -> DatasetInfo:
    """The DatasetInfo for ``name``: a registered name, a family member, or an HDF5 path.

    :raises UnknownNameError: with close matches among names and family patterns.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInputError(f"dataset name must be a non-empty string, got {name!r}")
    if name.lower().endswith(HDF5_SUFFIXES):
        return _hdf5_info(name)
    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    table = registry.datasets
    if name in table:
        return table.get(name)
    entry = table.find_family(name)
    if entry is not None:
        make = entry.info.make
        if make is None:
            raise InvalidInputError(f"dataset family {entry.info.name!r} has no make()")
        return make(name)
    labels = [_family_label(rx.pattern, e.info) for rx, e in table.families]
    hint = "or give the path of an ann-benchmarks .hdf5 file"
    near = [lab for lab in labels if "{" in lab and name.startswith(lab.split("{")[0])]
    if near:
        hint = (f"{name!r} does not match the family {near[0]!r}; write the sizes as "
                f"numbers, e.g. {near[0].split('{')[0]}10000x32")
    raise UnknownNameError("dataset", name, list(table.names()) + labels, hint=hint)


# --------------------------------------------------------------------------- loading


def _check_dataset(ds: Dataset, info: DatasetInfo) -> Dataset:
    """Validate kinds, shapes, dtypes and NaN; convert dense data to float32."""
    who = f"dataset {info.name!r}"
    if not isinstance(ds, Dataset):
        raise InvalidInputError(f"{who}: load() returned {type(ds).__name__}, not a Dataset")
    if ds.kind is DataKind.DENSE:
        ds.train = check_dense(ds.train, f"{who} train")
        ds.test = check_dense(ds.test, f"{who} test", dim=ds.train.shape[1])
    elif ds.kind is DataKind.BINARY:
        ds.train = check_binary(ds.train, f"{who} train")
        ds.test = check_binary(ds.test, f"{who} test", nbytes=ds.train.shape[1])
    else:
        ds.train = check_sets(ds.train, f"{who} train")
        ds.test = check_sets(ds.test, f"{who} test")
    for key, data in (("train_labels", ds.train), ("test_labels", ds.test)):
        labels = getattr(ds, key)
        if labels is not None and len(labels) != n_items(data):
            raise InvalidInputError(
                f"{who}: {key} has {len(labels)} entries for {n_items(data)} vectors")
    return ds


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def groundtruth_path(data_dir: str | os.PathLike[str], checksum: str, metric: str,
                     depth: int) -> Path:
    """Where the cached ground truth of (checksum, metric, depth) lives."""
    return Path(data_dir) / GT_DIR / f"{checksum}-{_safe(metric)}-{depth}.npz"


def _read_gt_cache(path: Path, n_test: int, depth: int) -> tuple[np.ndarray, np.ndarray] | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            ids, dists = z["ids"], z["distances"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if ids.shape != (n_test, depth) or dists.shape != (n_test, depth):
        return None
    return ids.astype(np.int64, copy=False), dists.astype(np.float64, copy=False)


def _write_gt_cache(path: Path, ids: np.ndarray, dists: np.ndarray, checksum: str,
                    metric: str) -> None:
    with _atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, ids=ids, distances=dists, checksum=np.array(checksum),
                 metric=np.array(metric))


def groundtruth_under(ds: Dataset, metric: Any, depth: int,
                      data_dir: str | os.PathLike[str], meta: dict[str, Any] | None = None,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Exact (ids, float64 distances) of depth ``depth`` under ``metric`` (the dataset's, or
    a suite's ``metric`` override), read from the cache in ``<data_dir>/groundtruth/`` or
    computed and written there. ``meta``, when given, gets ``gt_cache`` (hit / computed),
    ``gt_path`` and any ``gt_cache_error``: the cache only saves time."""
    meta = {} if meta is None else meta
    depth = min(depth, n_items(ds.train))
    cache = groundtruth_path(data_dir, ds.checksum, metric.name, depth)
    meta["gt_path"] = str(cache)
    cached = _read_gt_cache(cache, ds.n_test, depth) if cache.is_file() else None
    if cached is not None:
        meta["gt_cache"] = "hit"
        return cached
    ids, dists = groundtruth.exact_knn(ds.train, ds.test, metric, depth)
    try:
        _write_gt_cache(cache, ids, dists, ds.checksum, metric.name)
    except OSError as exc:
        meta["gt_cache_error"] = str(exc)
    meta["gt_cache"] = "computed"
    return ids, dists


def _ensure_groundtruth(ds: Dataset, metric: Any, depth: int, data_dir: Path) -> None:
    if ds.neighbors is not None:
        have = np.asarray(ds.neighbors)
        if have.ndim == 2 and have.shape[1] >= depth:
            _adopt_file_groundtruth(ds, metric, depth)
            return
        ds.meta["gt_from_file_too_shallow"] = int(have.shape[1]) if have.ndim == 2 else 0
    ds.neighbors, ds.distances = groundtruth_under(ds, metric, depth, data_dir, ds.meta)


def _adopt_file_groundtruth(ds: Dataset, metric: Any, depth: int) -> None:
    """Check ground truth that came with the data; keep it with float64 distances."""
    assert ds.neighbors is not None
    report = groundtruth.check_groundtruth(ds.train, ds.test, ds.neighbors, ds.distances,
                                           metric)
    ids = np.asarray(ds.neighbors, dtype=np.int64)
    dists = groundtruth.recompute_distances(ds.train, ds.test, ids, metric)
    # Files store float32 distances and may order near-ties either way: sort in float64,
    # ties by id, then cut to the requested depth.
    order = np.lexsort((ids, dists), axis=1)[:, :depth]
    ds.neighbors = np.take_along_axis(ids, order, axis=1)
    ds.distances = np.take_along_axis(dists, order, axis=1)
    ds.meta["gt_cache"] = "file"
    ds.meta["gt_check"] = report


def load_dataset(name: str, data_dir: str | os.PathLike[str] | None = None, *,
                 gt_depth: int = 100, registry: Any = None) -> Dataset:
    """Load a dataset by name (or HDF5 path), validated, fingerprinted, with exact ground truth.

    Ground truth of depth ``min(gt_depth, n_train)`` is taken from the file when it comes
    with one (after a spot check against the metric), else read from the cache in
    ``<data_dir>/groundtruth/`` or computed with :func:`harness.groundtruth.exact_knn` and
    cached.

    :raises DatasetUnavailableError: when the data is not here, with how to get it.
    :raises InvalidInputError: bad shapes, dtypes, NaN, or ground truth that disagrees.
    """
    from harness.metrics import get_metric

    if isinstance(gt_depth, bool) or not isinstance(gt_depth, (int, np.integer)) or gt_depth < 1:
        raise InvalidInputError(f"gt_depth must be a positive integer, got {gt_depth!r}")
    info = resolve_dataset(name, registry)
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    if info.available is not None:
        reason = info.available(root)
        if reason:
            raise DatasetUnavailableError(f"dataset {name!r} is not available here: {reason}")
    if info.load is None:
        raise DatasetUnavailableError(f"dataset {name!r} has no loader")
    ds = _check_dataset(info.load(root), info)
    metric = get_metric(ds.metric)
    metric_kind = getattr(metric, "data_kind", ds.kind)
    if DataKind(metric_kind) is not ds.kind:
        raise InvalidInputError(
            f"dataset {name!r} holds {ds.kind.value} data but its metric {ds.metric!r} "
            f"takes {DataKind(metric_kind).value} data")
    ds.checksum = dataset_checksum(ds)
    _ensure_groundtruth(ds, metric, min(int(gt_depth), ds.n_train), root)
    return ds


# --------------------------------------------------------------------------- listing


def dataset_table(data_dir: str | os.PathLike[str] | None = None,
                  registry: Any = None) -> list[dict[str, Any]]:
    """One row per registered dataset (and family) for ``vecbench datasets``.

    Keys: name, metric, kind, n_train, n_test, dim, available (bool), reason (why not and how
    to get it, or None), description, source, license, family (bool), provider.
    """
    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    table = registry.datasets
    rows = []
    entries = [(e, False) for _, e in table] + [(e, True) for _, e in table.families]
    for entry, family in entries:
        info = entry.info
        reason: str | None = None
        if info.available is not None and not family:
            try:
                reason = info.available(root)
            except Exception as exc:  # a broken probe must not hide the other datasets
                reason = f"availability check failed: {type(exc).__name__}: {exc}"
        rows.append({
            "name": info.name, "metric": info.metric, "kind": DataKind(info.kind).value,
            "n_train": info.n_train, "n_test": info.n_test, "dim": info.dim,
            "available": reason is None, "reason": reason, "description": info.description,
            "source": info.source, "license": info.license, "family": family,
            "provider": entry.provider,
        })
    return rows
