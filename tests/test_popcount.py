"""Harley-Seal population counts (``plugins/_popcount.py``) against numpy.bitwise_count."""

from __future__ import annotations

import numpy as np
import pytest

from plugins import _popcount as P

LENGTHS = [0, 1, 63, 64, 65, 127, 128, 129, 1000, 4096 + 17]


@pytest.mark.parametrize("n", LENGTHS)
def test_counts_match_numpy_on_random_words(n):
    rng = np.random.default_rng(n)
    a = rng.integers(0, 2**64, n, dtype=np.uint64)
    b = rng.integers(0, 2**64, n, dtype=np.uint64)
    assert P.count(a) == int(np.bitwise_count(a).sum())
    assert P.and_count(a, b) == int(np.bitwise_count(a & b).sum())


@pytest.mark.parametrize("n", [64, 640, 64 * 16 + 5])
def test_counts_are_exact_when_every_carry_fires(n):
    # all bits set: every carry-save adder carries at every weight
    full = np.full(n, np.iinfo(np.uint64).max, dtype=np.uint64)
    assert P.count(full) == 64 * n
    assert P.and_count(full, full) == 64 * n
    sparse = np.zeros(n, dtype=np.uint64)
    sparse[::7] = 1 << 63
    assert P.count(sparse) == len(range(0, n, 7))
    assert P.and_count(full, sparse) == len(range(0, n, 7))
