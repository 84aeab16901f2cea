"""The vector kernels on sorted uint16 runs (``plugins/_sorted16.py``, ``plugins/_union16.py``)
against numpy.

Runs sit inside a larger pool between random values, as array containers do, so a kernel
that reads or writes past its run, or takes a neighbour's values, fails. Lengths cover
the block edges (7, 8, 9, 15, 16, 17), runs shorter than a block, skewed pairs (one side
over 64 times longer), identical and disjoint runs, and the largest value 65535, which is
also the padding value of the union.
"""

from __future__ import annotations

import numpy as np
import pytest

from plugins import _sorted16 as S
from plugins import _union16 as U

EDGE_LENGTHS = [1, 2, 7, 8, 9, 15, 16, 17, 31, 64, 65, 100, 600, 4000]


def _draw(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    na, nb = (int(x) for x in rng.choice(EDGE_LENGTHS, 2))
    if rng.random() < 0.4:
        na = int(rng.integers(1, 200))
    universe = int(rng.choice([20, 100, 300, 2000, 65536]))
    na, nb = min(na, universe), min(nb, universe)
    a = np.sort(rng.choice(universe, na, replace=False))
    kind = rng.random()
    if kind < 0.3:  # shares part of a
        b = np.union1d(rng.choice(a, na // 2 + 1), rng.choice(universe, nb // 2 + 1, replace=False))
    elif kind < 0.35:
        b = a.copy()
    else:
        b = np.sort(rng.choice(universe, nb, replace=False))
    if universe == 65536 and rng.random() < 0.3:  # the top value, in one or both runs
        a = np.union1d(a, [65535])
        if rng.random() < 0.5:
            b = np.union1d(b, [65534, 65535])
    return a.astype(np.uint16), b.astype(np.uint16)


def _pool(rng, a, b):
    """Both runs inside one pool, with random values around them; their offsets."""
    def noise(n):
        return rng.integers(0, 65536, n).astype(np.uint16)

    pool = np.concatenate([noise(5), a, noise(3), b, noise(2)])
    return pool, 5, 5 + len(a) + 3


@pytest.mark.parametrize("seed", range(4))
def test_runs_combine_like_numpy(seed):
    rng = np.random.default_rng(seed)
    scratch = np.empty(U.SCRATCH, dtype=np.uint16)
    for _ in range(1500):
        a, b = _draw(rng)
        pool, ao, bo = _pool(rng, a, b)
        room = len(a) + len(b) + U.SLACK + 4
        guard = rng.integers(0, 65536, 4).astype(np.uint16)
        out = np.concatenate([guard, np.full(room, 7, np.uint16)])
        args = (pool, ao, len(a), pool, bo, len(b))

        assert S.intersect_count(*args) == len(np.intersect1d(a, b))
        n = S.intersect(*args, out, 4)
        assert np.array_equal(out[4:4 + n], np.intersect1d(a, b))
        n = S.difference(*args, out, 4)
        assert np.array_equal(out[4:4 + n], np.setdiff1d(a, b))
        for xor, want in ((False, np.union1d(a, b)), (True, np.setxor1d(a, b))):
            n = U.union(*args, out, 4, xor, scratch)
            assert np.array_equal(out[4:4 + n], want), (xor, len(a), len(b))
        assert np.array_equal(out[:4], guard)  # nothing written before the position
        assert np.array_equal(pool[ao:ao + len(a)], a)  # the inputs are left alone
        assert np.array_equal(pool[bo:bo + len(b)], b)


def test_writes_stay_within_the_documented_room():
    # intersect / difference write at most the result's room (A's length for the
    # difference, the shorter run's for the intersection); union at most na + nb + SLACK
    rng = np.random.default_rng(11)
    scratch = np.empty(U.SCRATCH, dtype=np.uint16)
    for _ in range(500):
        a, b = _draw(rng)
        pool, ao, bo = _pool(rng, a, b)
        args = (pool, ao, len(a), pool, bo, len(b))
        for kernel, room in ((S.intersect, min(len(a), len(b))), (S.difference, len(a))):
            out = np.full(room + 8, 7, np.uint16)
            out[room:] = 12345
            kernel(*args, out, 0)
            assert np.all(out[room:] == 12345), kernel.__name__
        out = np.full(len(a) + len(b) + U.SLACK + 8, 7, np.uint16)
        out[len(a) + len(b) + U.SLACK:] = 12345
        U.union(*args, out, 0, False, scratch)
        assert np.all(out[len(a) + len(b) + U.SLACK:] == 12345)


def test_kernels_refuse_arrays_they_cannot_address():
    # the intrinsics address elements by pointer arithmetic: any other dtype, or a strided
    # view, must fail to compile rather than read the wrong bytes
    from numba.core.errors import TypingError

    from plugins import _popcount as P

    wide = np.arange(40, dtype=np.int64)
    with pytest.raises(TypingError):
        S.intersect_count(wide, 0, 10, wide, 10, 10)
    strided = np.arange(80, dtype=np.uint16)[::2]
    with pytest.raises(TypingError):
        S.intersect_count(strided, 0, 10, strided, 10, 10)
    with pytest.raises(TypingError):
        P.count(np.arange(10, dtype=np.uint32))
