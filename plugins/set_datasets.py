"""Set datasets for the Jaccard metric: 3-gram sets of English words and seeded synthetic sets.

- ``words-3grams``: each word of the Debian ``wamerican`` list
  (``/usr/share/dict/american-english``; words with an apostrophe left out: 74,744 words)
  becomes the set of its character 3-grams, with ``^`` and ``$`` marking the start and the
  end (``cat`` -> {``^ca``, ``cat``, ``at$``}; a one-letter word still has one 3-gram). Tokens
  are the 3-grams' ranks in sorted order. 1,000 words drawn with a fixed seed are the queries.
  Ground truth: exact Jaccard (computed by the harness).
- ``sets-{n}x{v}``: ``n`` sets over the tokens ``0..v-1`` with controlled overlap, seeded by
  the name. Sets come from clusters: a cluster has a prototype (10 to 40 distinct tokens) and
  a keep probability q drawn from [0.55, 0.95]; a member keeps each prototype token with
  probability q and adds about ``(1 - q) x |prototype|`` random tokens, so two members of one
  cluster share a Jaccard similarity around ``q^2 / (2 - q^2)`` (about 0.2 to 0.8 over the
  clusters: thresholds across the whole range have neighbours to find). The queries are
  ``min(1000, n // 10)`` further members of the same clusters; ``meta`` keeps each cluster's
  q and size.
"""

from __future__ import annotations

import math
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
from harness.types import SetData

WORDS_ENV = "VECBENCH_WORDS_FILE"
WORDS_DEFAULT = "/usr/share/dict/american-english"
WORDS_PACKAGE = "wamerican"
WORDS_HINT = f"apt-get install -y {WORDS_PACKAGE}"
WORDS_QUERIES = 1000
WORDS_SEED = 3
#: sha256 of the word list of Debian's wamerican 2020.12.07-2 (the release it was tested on)
WORDS_SHA256 = "9f513f1ceadb6a01c5485b7dbdfd5118dc66cd70b59cae2851292112d4066a32"
MAX_SET_VALUES = 200_000_000


# --------------------------------------------------------------------------- word 3-grams


def words_file() -> Path:
    """``$VECBENCH_WORDS_FILE`` or the Debian word list."""
    return Path(os.environ.get(WORDS_ENV) or WORDS_DEFAULT)


def words_available(_data_dir: Any = None) -> str | None:
    """None when the word list is here, else how to get it."""
    path = words_file()
    if path.is_file():
        return None
    return (f"{path} not found; install it with: {WORDS_HINT} (or set {WORDS_ENV} to a word "
            "list, one word per line)")


def trigrams(word: str) -> list[str]:
    """The character 3-grams of ``^word$`` (start and end marked), in order, with repeats."""
    padded = f"^{word}$"
    return [padded[i:i + 3] for i in range(len(padded) - 2)]


def word_sets(words: list[str]) -> tuple[SetData, list[str]]:
    """3-gram sets of ``words`` as SetData (tokens: ranks of the sorted 3-grams), and the
    sorted 3-gram vocabulary."""
    grams = [trigrams(w) for w in words]
    vocab = sorted({g for gs in grams for g in gs})
    rank = {g: i for i, g in enumerate(vocab)}
    return SetData.from_lists([[rank[g] for g in gs] for gs in grams]), vocab


def load_words_3grams(_data_dir: Any = None, n_queries: int = WORDS_QUERIES,
                      seed: int = WORDS_SEED) -> Dataset:
    """The ``words-3grams`` dataset (see the module docstring)."""
    reason = words_available()
    if reason:
        raise DatasetUnavailableError(f"words-3grams: {reason}")
    path = words_file()
    text = path.read_text(encoding="utf-8", errors="strict")
    words = [w for w in (line.strip() for line in text.splitlines()) if w and "'" not in w]
    if len(words) <= n_queries:
        raise InvalidInputError(f"words-3grams: {path} holds only {len(words)} usable words")
    sets, vocab = word_sets(words)
    picked = np.zeros(len(words), dtype=bool)
    picked[np.random.default_rng(seed).choice(len(words), n_queries, replace=False)] = True
    train_rows, test_rows = np.flatnonzero(~picked), np.flatnonzero(picked)
    return Dataset(
        name="words-3grams", metric="jaccard", kind=DataKind.SETS,
        train=sets[train_rows], test=sets[test_rows],
        meta={"source": str(path), "vocabulary": len(vocab), "split_seed": seed,
              "train_words": [words[i] for i in train_rows],
              "test_words": [words[i] for i in test_rows]})


def fetch_words(_data_dir: Any = None) -> None:
    """Install the word list (Debian ``wamerican``) and compare its checksum with the tested
    release (a different release is reported, not refused: it is still a word list)."""
    import warnings

    from harness import fetch

    if words_available() is not None:
        fetch.apt_install(WORDS_PACKAGE)
    if fetch.planned(f"compare: sha256 of {words_file()} with the tested release "
                     f"({WORDS_SHA256})"):
        return
    actual = fetch.sha256_of(words_file())
    if actual != WORDS_SHA256:
        warnings.warn(f"{words_file()}: sha256 {actual} differs from the tested wamerican "
                      f"release ({WORDS_SHA256}); records keep the dataset checksum",
                      stacklevel=2)


# --------------------------------------------------------------------------- synthetic sets

_SETS = r"sets-(?P<n>\d+)x(?P<v>\d+)"


def parse_sets_name(name: str) -> tuple[int, int]:
    """``sets-10000x5000`` -> (10000, 5000); a clear error otherwise."""
    m = re.fullmatch(_SETS, name)
    if m is None:
        raise InvalidInputError(f"dataset name {name!r} does not match 'sets-{{n}}x{{v}}' "
                                "(n sets over v tokens), e.g. sets-10000x5000")
    n, v = int(m["n"]), int(m["v"])
    if n < 2:
        raise InvalidInputError(f"dataset {name!r}: need at least 2 sets, got n={n}")
    if v < 50:
        raise InvalidInputError(f"dataset {name!r}: need at least 50 tokens, got v={v}")
    if n * 60 > MAX_SET_VALUES:
        raise InvalidInputError(f"dataset {name!r}: n={n:,} sets is more than this generator "
                                f"allows ({MAX_SET_VALUES // 60:,})")
    return n, v


def _members(rng: np.random.Generator, labels: np.ndarray, protos: list[np.ndarray],
             keep: np.ndarray, v: int) -> SetData:
    """One set per label: its cluster's prototype thinned with probability keep, plus noise."""
    rows: list[np.ndarray] = []
    parts: list[np.ndarray] = []
    for c in range(len(protos)):
        members = np.flatnonzero(labels == c)
        if not len(members):
            continue
        proto = protos[c]
        kept = rng.random((len(members), len(proto))) < keep[c]
        n_noise = rng.poisson((1.0 - keep[c]) * len(proto), size=len(members))
        noise = rng.integers(0, v, size=int(n_noise.sum()))
        row_of_kept = np.repeat(members, kept.sum(axis=1))
        tokens_kept = np.broadcast_to(proto, kept.shape)[kept]
        rows += [row_of_kept, np.repeat(members, n_noise)]
        parts += [tokens_kept, noise]
        empty = members[(kept.sum(axis=1) + n_noise) == 0]
        if len(empty):  # no empty sets: give each a token of its prototype
            rows.append(empty)
            parts.append(proto[rng.integers(0, len(proto), size=len(empty))])
    row = np.concatenate(rows).astype(np.int64)
    tok = np.concatenate(parts).astype(np.int64)
    pairs = np.unique(row * v + tok)  # sorts by row then token, drops repeats
    row, tok = pairs // v, pairs % v
    indptr = np.zeros(len(labels) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(labels)), out=indptr[1:])
    return SetData(indptr, tok.astype(np.int32))


def make_sets(name: str) -> Dataset:
    """Generate the ``sets-{n}x{v}`` dataset (labels are the clusters)."""
    from plugins.datasets import n_queries_for, name_seed

    n, v = parse_sets_name(name)
    seq = np.random.SeedSequence(name_seed(name))
    shape_rng, base_rng, query_rng = (np.random.default_rng(s) for s in seq.spawn(3))
    n_clusters = int(min(500, max(5, round(math.sqrt(n)))))
    sizes = shape_rng.integers(10, 41, size=n_clusters)
    protos = [np.sort(shape_rng.choice(v, size=min(int(s), v // 2), replace=False))
              for s in sizes]
    keep = shape_rng.uniform(0.55, 0.95, size=n_clusters)
    weights = shape_rng.dirichlet(np.full(n_clusters, 2.0))
    train_labels = base_rng.choice(n_clusters, size=n, p=weights)
    test_labels = query_rng.choice(n_clusters, size=n_queries_for(n), p=weights)
    return Dataset(
        name=name, metric="jaccard", kind=DataKind.SETS,
        train=_members(base_rng, train_labels, protos, keep, v),
        test=_members(query_rng, test_labels, protos, keep, v),
        train_labels=train_labels.astype(np.int64), test_labels=test_labels.astype(np.int64),
        meta={"generator": "sets", "seed": name_seed(name), "clusters": n_clusters,
              "keep_probability": keep.round(6).tolist(),
              "prototype_sizes": [len(p) for p in protos]})


def _sets_info(name: str) -> DatasetInfo:
    from plugins.datasets import n_queries_for

    n, v = parse_sets_name(name)
    return DatasetInfo(
        name=name, load=partial(_load_sets, name), metric="jaccard", kind=DataKind.SETS,
        n_train=n, n_test=n_queries_for(n), dim=v, available=lambda _data_dir: None,
        description=f"synthetic sets with controlled overlap: {n} sets over {v} tokens",
        source="generated by vecbench", license="CC0-1.0")


def _load_sets(name: str, _data_dir: Any = None) -> Dataset:
    return make_sets(name)


# --------------------------------------------------------------------------- registration


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the set datasets."""
    register(DatasetInfo(
        name="words-3grams", load=load_words_3grams, metric="jaccard", kind=DataKind.SETS,
        n_train=74744 - WORDS_QUERIES, n_test=WORDS_QUERIES,
        dim=11363,  # distinct 3-grams of wamerican 2020.12.07 (the vocabulary)
        available=words_available,
        description="character 3-gram sets of the wamerican word list (Jaccard); 1,000 words "
                    "held out as queries",
        source=f"Debian package {WORDS_PACKAGE} ({WORDS_DEFAULT}, override with ${WORDS_ENV})",
        license="SCOWL (permissive)", fetch=fetch_words))
    register(DatasetInfo(
        name="sets-{n}x{v}", load=None, metric="jaccard", kind=DataKind.SETS,
        available=lambda _data_dir: None,
        description="synthetic family: sets with controlled overlap (clusters with keep "
                    "probability 0.55-0.95); e.g. sets-10000x5000; queries min(1000, n//10)",
        source="generated by vecbench", license="CC0-1.0",
        pattern=r"sets-\d+x\d+", make=_sets_info))
