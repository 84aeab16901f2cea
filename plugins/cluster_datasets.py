"""Datasets for the ``cluster`` task: labelled points whose classes are the clusters to find.

The points to cluster are a dataset's ``train`` vectors, their classes its ``train_labels``.
``test`` holds a few query vectors so that the datasets also serve the search task (and the
harness' ground truth stays cheap).

- ``moons``: scikit-learn's two interleaved half circles, 1,500 points, noise 0.05, seed 0,
  standardised (zero mean, unit variance per feature); 100 test points from seed 1,
  standardised with the training statistics.
- ``circles``: two concentric circles, 1,500 points, factor 0.5, noise 0.05, seed 0; as above.
- ``blobs``: four isotropic Gaussian blobs in 2-D, 1,500 points, standard deviation 1.0, seed
  0 (two of them overlap); as above.
- ``digits-cluster``: all 1,797 of scikit-learn's 8x8 digits (64-d, values 0-16), 10 classes;
  the test vectors are copies of the first 100 rows.
- ``fashion-mnist-10k``: 10,000 Fashion-MNIST training images (784-d pixels 0-255, 10
  classes), drawn without replacement by a fixed seed; test: the first 100 official test
  images. Needs the Debian package ``dataset-fashion-mnist`` (or ``$VECBENCH_FASHION_MNIST_DIR``).
- ``blobs-{n}x{d}-c{k}`` (family): a seeded mixture of k equally likely unit-variance Gaussian
  clusters in d dimensions whose centres are drawn from N(0, I); the seed comes from the name,
  and 100 test points from a second stream.
"""

from __future__ import annotations

import hashlib
import os
import re
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

N_TOY = 1500
N_TOY_TEST = 100
FASHION_SUBSET = 10_000
FASHION_SEED = 20240607
FASHION_ENV = "VECBENCH_FASHION_MNIST_DIR"
FASHION_DEFAULT = "/usr/share/datasets/fashion-mnist"
FASHION_HINT = "apt-get install -y dataset-fashion-mnist"
FAMILY = r"blobs-(?P<n>\d+)x(?P<d>\d+)-c(?P<k>\d+)"
MAX_FAMILY_VALUES = 2_000_000_000


def _standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def _toy(name: str, maker: Any, **kwargs: Any) -> Dataset:
    x, y = maker(n_samples=N_TOY, random_state=0, **kwargs)
    xq, yq = maker(n_samples=N_TOY_TEST, random_state=1, **kwargs)
    train, test = _standardised(np.asarray(x, np.float64), np.asarray(xq, np.float64))
    return Dataset(name=name, metric="euclidean", kind=DataKind.DENSE, train=train, test=test,
                   train_labels=np.asarray(y, np.int64), test_labels=np.asarray(yq, np.int64),
                   meta={"generator": f"sklearn.datasets.{maker.__name__}", "seed": 0,
                         "params": kwargs, "standardised": True,
                         "clusters": len(np.unique(y))})


def load_moons(_data_dir: Any = None) -> Dataset:
    """Two moons: 1,500 points, noise 0.05, seed 0, standardised."""
    from sklearn.datasets import make_moons

    return _toy("moons", make_moons, noise=0.05)


def load_circles(_data_dir: Any = None) -> Dataset:
    """Two circles: 1,500 points, factor 0.5, noise 0.05, seed 0, standardised."""
    from sklearn.datasets import make_circles

    return _toy("circles", make_circles, factor=0.5, noise=0.05)


def load_blobs(_data_dir: Any = None) -> Dataset:
    """Four 2-D Gaussian blobs: 1,500 points, standard deviation 1.0, seed 0, standardised."""
    from sklearn.datasets import make_blobs

    return _toy("blobs", make_blobs, centers=4, cluster_std=1.0)


def load_digits_cluster(_data_dir: Any = None) -> Dataset:
    """All of scikit-learn's digits (1,797 x 64, 10 classes) to cluster."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data.astype(np.float32)
    y = bunch.target.astype(np.int64)
    return Dataset(name="digits-cluster", metric="euclidean", kind=DataKind.DENSE, train=x,
                   test=x[:N_TOY_TEST].copy(), train_labels=y, test_labels=y[:N_TOY_TEST].copy(),
                   meta={"source": "sklearn.datasets.load_digits", "clusters": 10,
                         "test": "copies of the first 100 rows"})


# --------------------------------------------------------------------------- Fashion-MNIST

_FASHION_FILES = {"train_images": "train-images-idx3-ubyte",
                  "train_labels": "train-labels-idx1-ubyte",
                  "test_images": "t10k-images-idx3-ubyte",
                  "test_labels": "t10k-labels-idx1-ubyte"}


def _fashion_files() -> dict[str, Path] | str:
    folder = Path(os.environ.get(FASHION_ENV) or FASHION_DEFAULT)
    found: dict[str, Path] = {}
    for key, stem in _FASHION_FILES.items():
        for candidate in (folder / f"{stem}.gz", folder / stem):
            if candidate.is_file():
                found[key] = candidate
                break
        else:
            return (f"{folder / stem}.gz not found; install with: {FASHION_HINT} (or set "
                    f"{FASHION_ENV} to a folder with the four idx files)")
    return found


def fashion_available(_data_dir: Any = None) -> str | None:
    """None when the Fashion-MNIST idx files are here, else how to get them."""
    files = _fashion_files()
    return files if isinstance(files, str) else None


def load_fashion_subset(_data_dir: Any = None) -> Dataset:
    """10,000 seeded Fashion-MNIST training images with labels; 100 official test images."""
    from harness.data import read_idx

    files = _fashion_files()
    if isinstance(files, str):
        raise DatasetUnavailableError(f"fashion-mnist-10k: {files}")
    images = read_idx(files["train_images"])
    labels = read_idx(files["train_labels"])
    test_images = read_idx(files["test_images"])[:N_TOY_TEST]
    test_labels = read_idx(files["test_labels"])[:N_TOY_TEST]
    if images.ndim != 3 or labels.shape != (len(images),):
        raise InvalidInputError(f"fashion-mnist-10k: images {images.shape} and labels "
                                f"{labels.shape} do not match (expected (n, 28, 28), (n,))")
    pick = np.sort(np.random.default_rng(FASHION_SEED).choice(
        len(images), size=min(FASHION_SUBSET, len(images)), replace=False))
    return Dataset(name="fashion-mnist-10k", metric="euclidean", kind=DataKind.DENSE,
                   train=images[pick].reshape(len(pick), -1).astype(np.float32),
                   test=test_images.reshape(len(test_images), -1).astype(np.float32),
                   train_labels=labels[pick].astype(np.int64),
                   test_labels=test_labels.astype(np.int64),
                   meta={"subset_seed": FASHION_SEED, "clusters": 10,
                         "files": {k: str(v) for k, v in files.items()}})


# --------------------------------------------------------------------------- mixture family


def family_seed(name: str) -> int:
    """The seed of a ``blobs-*`` dataset: the first 8 bytes of sha256(name)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def parse_family_name(name: str) -> tuple[int, int, int]:
    """``blobs-20000x50-c10`` -> (20000, 50, 10), or a clear error."""
    m = re.fullmatch(FAMILY, name)
    if m is None:
        raise InvalidInputError(f"dataset name {name!r} does not match 'blobs-{{n}}x{{d}}-c{{k}}'"
                                ", e.g. blobs-20000x50-c10")
    n, d, k = int(m["n"]), int(m["d"]), int(m["k"])
    if not 1 <= k <= n:
        raise InvalidInputError(f"dataset {name!r}: need 1 <= k <= n clusters, got k={k}")
    if d < 1:
        raise InvalidInputError(f"dataset {name!r}: dimension must be >= 1")
    if n * d > MAX_FAMILY_VALUES:
        raise InvalidInputError(f"dataset {name!r}: n x d = {n * d:,} values is more than the "
                                f"limit {MAX_FAMILY_VALUES:,}")
    return n, d, k


def make_mixture(n: int, d: int, k: int, seed: int,
                 n_test: int = N_TOY_TEST) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                    np.ndarray]:
    """(train, train_labels, test, test_labels) of the ``blobs-*`` mixture (float32)."""
    centre_ss, base_ss, query_ss = np.random.SeedSequence(seed).spawn(3)
    centres = np.random.default_rng(centre_ss).standard_normal((k, d))

    def draw(ss: np.random.SeedSequence, count: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(ss)
        labels = rng.integers(0, k, size=count)
        points = rng.standard_normal((count, d), dtype=np.float32)
        points += centres[labels].astype(np.float32)
        return points, labels.astype(np.int64)

    train, train_labels = draw(base_ss, n)
    test, test_labels = draw(query_ss, n_test)
    return train, train_labels, test, test_labels


def load_mixture(name: str, _data_dir: Any = None) -> Dataset:
    """Generate a ``blobs-{n}x{d}-c{k}`` dataset."""
    n, d, k = parse_family_name(name)
    seed = family_seed(name)
    train, train_labels, test, test_labels = make_mixture(n, d, k, seed, min(N_TOY_TEST, n))
    return Dataset(name=name, metric="euclidean", kind=DataKind.DENSE, train=train, test=test,
                   train_labels=train_labels, test_labels=test_labels,
                   meta={"generator": "blobs mixture", "seed": seed, "clusters": k})


def _family_member(name: str) -> DatasetInfo:
    n, d, k = parse_family_name(name)
    return DatasetInfo(
        name=name, load=partial(load_mixture, name), metric="euclidean", kind=DataKind.DENSE,
        n_train=n, n_test=min(N_TOY_TEST, n), dim=d, available=lambda _data_dir: None,
        description=f"clustering: {k} unit Gaussian clusters, centres N(0, I), {n} x {d}",
        source="generated by vecbench", license="CC0-1.0")


def _toy_info(name: str, load: Any, dim: int, what: str, n: int = N_TOY) -> DatasetInfo:
    return DatasetInfo(name=name, load=load, metric="euclidean", kind=DataKind.DENSE,
                       n_train=n, n_test=N_TOY_TEST, dim=dim,
                       available=lambda _data_dir: None, description=f"clustering: {what}",
                       source="scikit-learn", license="BSD-3-Clause")


DATASETS = (
    _toy_info("moons", load_moons, 2, "two moons, noise 0.05, standardised"),
    _toy_info("circles", load_circles, 2, "two circles, factor 0.5, noise 0.05, standardised"),
    _toy_info("blobs", load_blobs, 2, "four 2-D Gaussian blobs, std 1.0, standardised"),
    _toy_info("digits-cluster", load_digits_cluster, 64, "all 1,797 8x8 digits, 10 classes",
              n=1797),
    DatasetInfo(name="fashion-mnist-10k", load=load_fashion_subset, metric="euclidean",
                kind=DataKind.DENSE, n_train=FASHION_SUBSET, n_test=N_TOY_TEST, dim=784,
                available=fashion_available,
                description="clustering: 10,000 seeded Fashion-MNIST training images, 10 "
                            "classes",
                source="zalandoresearch/fashion-mnist (Debian dataset-fashion-mnist)",
                license="MIT"),
    DatasetInfo(name="blobs-{n}x{d}-c{k}", load=None, metric="euclidean", kind=DataKind.DENSE,
                available=lambda _data_dir: None,
                description="clustering family: k unit Gaussian clusters in d dimensions, e.g. "
                            "blobs-20000x50-c10",
                source="generated by vecbench", license="CC0-1.0",
                pattern=r"blobs-\d+x\d+-c\d+", make=_family_member),
)


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the clustering datasets."""
    for info in DATASETS:
        register(info)
