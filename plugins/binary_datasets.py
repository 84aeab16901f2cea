"""Binary datasets for the hamming metric (bit-packed uint8 rows, least significant bit first).

- ``minilm-tokens-bits``: the sign bits (x > 0) of the all-MiniLM-L6-v2 token table, with the
  split of ``minilm-tokens`` (384 bits, 48 bytes per row).
- ``fashion-mnist-bits``: Fashion-MNIST pixels thresholded at 128 (bit = pixel >= 128), the
  60,000 / 10,000 split, labels kept (784 bits, 98 bytes per row).
- ``bits-{n}x{d}``: ``n`` seeded synthetic vectors of ``d`` bits (a multiple of 8) from
  clusters: a random prototype per cluster, each bit flipped with the cluster's probability
  (drawn from [0.05, 0.25]); queries are ``min(1000, n // 10)`` further members.

Packing: ``numpy.packbits(bits, axis=1, bitorder="little")`` (vecbench's convention and
faiss's), so bit j of a vector is bit ``j % 8`` of byte ``j // 8``.
"""

from __future__ import annotations

import math
import re
from functools import partial
from typing import Any

import numpy as np

from harness import DataKind, Dataset, DatasetInfo, InvalidInputError, hookimpl

MAX_BITS = 4_000_000_000


def pack_bits(bits: np.ndarray) -> np.ndarray:
    """(n, d) booleans -> (n, ceil(d / 8)) uint8, least significant bit first."""
    return np.packbits(np.asarray(bits, dtype=bool), axis=1, bitorder="little")


def sign_bits(ds: Dataset, name: str) -> Dataset:
    """A dense dataset's sign bits (x > 0) as a hamming dataset with the same split."""
    return Dataset(
        name=name, metric="hamming", kind=DataKind.BINARY,
        train=pack_bits(np.asarray(ds.train) > 0), test=pack_bits(np.asarray(ds.test) > 0),
        train_labels=ds.train_labels, test_labels=ds.test_labels,
        meta={"derived_from": ds.name, "bits": "x > 0", "bitorder": "little"})


def threshold_bits(ds: Dataset, name: str, threshold: float) -> Dataset:
    """A dense dataset thresholded (bit = value >= threshold) as a hamming dataset."""
    return Dataset(
        name=name, metric="hamming", kind=DataKind.BINARY,
        train=pack_bits(np.asarray(ds.train) >= threshold),
        test=pack_bits(np.asarray(ds.test) >= threshold),
        train_labels=ds.train_labels, test_labels=ds.test_labels,
        meta={"derived_from": ds.name, "bits": f"x >= {threshold:g}", "bitorder": "little"})


def load_minilm_bits(data_dir: Any = None) -> Dataset:
    """``minilm-tokens-bits``: sign bits of the MiniLM token table."""
    from plugins.datasets import load_minilm_tokens

    return sign_bits(load_minilm_tokens(data_dir), "minilm-tokens-bits")


def load_fashion_bits(data_dir: Any = None) -> Dataset:
    """``fashion-mnist-bits``: Fashion-MNIST pixels >= 128."""
    from plugins.datasets import load_fashion_mnist

    return threshold_bits(load_fashion_mnist(data_dir), "fashion-mnist-bits", 128.0)


# --------------------------------------------------------------------------- synthetic bits

_BITS = r"bits-(?P<n>\d+)x(?P<d>\d+)"


def parse_bits_name(name: str) -> tuple[int, int]:
    """``bits-10000x256`` -> (10000, 256); a clear error otherwise."""
    m = re.fullmatch(_BITS, name)
    if m is None:
        raise InvalidInputError(f"dataset name {name!r} does not match 'bits-{{n}}x{{d}}' "
                                "(n vectors of d bits), e.g. bits-10000x256")
    n, d = int(m["n"]), int(m["d"])
    if n < 2:
        raise InvalidInputError(f"dataset {name!r}: need at least 2 vectors, got n={n}")
    if d < 8 or d % 8:
        raise InvalidInputError(f"dataset {name!r}: d={d} bits must be a positive multiple "
                                "of 8 (vectors are bit-packed into bytes)")
    if n * d > MAX_BITS:
        raise InvalidInputError(f"dataset {name!r}: n x d = {n * d:,} bits is more than the "
                                f"limit {MAX_BITS:,}")
    return n, d


def _draw_bits(rng: np.random.Generator, labels: np.ndarray, protos: np.ndarray,
               flips: np.ndarray) -> np.ndarray:
    out = np.empty((len(labels), protos.shape[1] // 8), dtype=np.uint8)
    step = max(1, (1 << 22) // protos.shape[1])
    for s in range(0, len(labels), step):
        lab = labels[s:s + step]
        flip = rng.random((len(lab), protos.shape[1])) < flips[lab, None]
        out[s:s + step] = pack_bits(protos[lab] ^ flip)
    return out


def make_bits(name: str) -> Dataset:
    """Generate the ``bits-{n}x{d}`` dataset (labels are the clusters)."""
    from plugins.datasets import n_queries_for, name_seed

    n, d = parse_bits_name(name)
    seq = np.random.SeedSequence(name_seed(name))
    shape_rng, base_rng, query_rng = (np.random.default_rng(s) for s in seq.spawn(3))
    n_clusters = int(min(100, max(5, round(math.sqrt(n) / 2))))
    protos = shape_rng.random((n_clusters, d)) < 0.5
    flips = shape_rng.uniform(0.05, 0.25, size=n_clusters)
    weights = shape_rng.dirichlet(np.full(n_clusters, 2.0))
    train_labels = base_rng.choice(n_clusters, size=n, p=weights)
    test_labels = query_rng.choice(n_clusters, size=n_queries_for(n), p=weights)
    return Dataset(
        name=name, metric="hamming", kind=DataKind.BINARY,
        train=_draw_bits(base_rng, train_labels, protos, flips),
        test=_draw_bits(query_rng, test_labels, protos, flips),
        train_labels=train_labels.astype(np.int64), test_labels=test_labels.astype(np.int64),
        meta={"generator": "bits", "seed": name_seed(name), "clusters": n_clusters,
              "flip_probability": flips.round(6).tolist(), "bitorder": "little"})


def _bits_info(name: str) -> DatasetInfo:
    from plugins.datasets import n_queries_for

    n, d = parse_bits_name(name)
    return DatasetInfo(
        name=name, load=partial(_load_bits, name), metric="hamming", kind=DataKind.BINARY,
        n_train=n, n_test=n_queries_for(n), dim=d, available=lambda _data_dir: None,
        description=f"synthetic bits: {n} x {d} bits from clusters (flip 0.05-0.25)",
        source="generated by vecbench", license="CC0-1.0")


def _load_bits(name: str, _data_dir: Any = None) -> Dataset:
    return make_bits(name)


# --------------------------------------------------------------------------- registration


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the binary datasets."""
    from plugins.datasets import (
        MINILM_QUERIES,
        fashion_available,
        fetch_fashion_mnist,
        fetch_minilm,
        minilm_available,
    )

    register(DatasetInfo(
        name="minilm-tokens-bits", load=load_minilm_bits, metric="hamming",
        kind=DataKind.BINARY, n_train=29528 - MINILM_QUERIES, n_test=MINILM_QUERIES, dim=384,
        available=minilm_available,
        description="sign bits of the all-MiniLM-L6-v2 token table (hamming), the "
                    "minilm-tokens split",
        source="derived from minilm-tokens", license="Apache-2.0", fetch=fetch_minilm))
    register(DatasetInfo(
        name="fashion-mnist-bits", load=load_fashion_bits, metric="hamming",
        kind=DataKind.BINARY, n_train=60000, n_test=10000, dim=784,
        available=fashion_available,
        description="Fashion-MNIST pixels thresholded at 128 (hamming), labels kept",
        source="derived from fashion-mnist", license="MIT", fetch=fetch_fashion_mnist))
    register(DatasetInfo(
        name="bits-{n}x{d}", load=None, metric="hamming", kind=DataKind.BINARY,
        available=lambda _data_dir: None,
        description="synthetic family: clustered bit vectors (d a multiple of 8); e.g. "
                    "bits-10000x256; queries min(1000, n//10)",
        source="generated by vecbench", license="CC0-1.0",
        pattern=r"bits-\d+x\d+", make=_bits_info))
