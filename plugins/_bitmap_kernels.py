"""numba kernels of the dense in-house bitmap: uint64 words, bit ``i`` of id ``i`` in word
``i >> 6`` at position ``i & 63`` (least significant bit first, so the words viewed as bytes on
a little-endian machine are faiss' ``IDSelectorBitmap`` layout and
``numpy.packbits(mask, bitorder='little')``).

Every kernel takes typed arrays and no Python objects. Binary operations write their result
and return its cardinality in the same pass, so a bitmap always knows its size. Popcount and
count-trailing-zeros are LLVM intrinsics (``ctpop``/``cttz``), which LLVM vectorises with AVX2
where the loop allows it.
"""

from __future__ import annotations

import numba
import numpy as np

from plugins import _ir, _popcount
from plugins._ir import ctz64, popcount64
from plugins._jit_cache import invalidate_stale

#: codes of the binary operations shared with ``plugins._roaring``
OP_AND, OP_OR, OP_XOR, OP_ANDNOT = 0, 1, 2, 3
OPS = {"and": OP_AND, "or": OP_OR, "xor": OP_XOR, "andnot": OP_ANDNOT}

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
# every module whose compiled code ends up in this one's cache (see _jit_cache)
invalidate_stale(__file__, _ir, _popcount)


@numba.njit(**_JIT)
def combine(op: int, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> int:
    """``out = a OP b`` word by word (``out`` may be ``a``); returns the result's cardinality."""
    total = np.uint64(0)
    n = a.shape[0]
    if op == OP_AND:
        for i in range(n):
            w = a[i] & b[i]
            out[i] = w
            total += popcount64(w)
    elif op == OP_OR:
        for i in range(n):
            w = a[i] | b[i]
            out[i] = w
            total += popcount64(w)
    elif op == OP_XOR:
        for i in range(n):
            w = a[i] ^ b[i]
            out[i] = w
            total += popcount64(w)
    else:
        for i in range(n):
            w = a[i] & ~b[i]
            out[i] = w
            total += popcount64(w)
    return np.int64(total)


@numba.njit(**_JIT)
def and_count(a: np.ndarray, b: np.ndarray) -> int:
    """|a AND b| without writing the intersection (Harley-Seal, ``plugins/_popcount.py``)."""
    return _popcount.and_count(a, b)


@numba.njit(**_JIT)
def count(words: np.ndarray) -> int:
    """Number of set bits (Harley-Seal, ``plugins/_popcount.py``)."""
    return _popcount.count(words)


@numba.njit(**_JIT)
def set_ids(words: np.ndarray, ids: np.ndarray) -> int:
    """Set the bits of ``ids`` (in range); returns how many were not set before."""
    added = 0
    for j in range(ids.shape[0]):
        i = ids[j]
        w = i >> 6
        bit = np.uint64(1) << np.uint64(i & 63)
        if (words[w] & bit) == 0:
            words[w] |= bit
            added += 1
    return added


@numba.njit(**_JIT)
def clear_ids(words: np.ndarray, ids: np.ndarray) -> int:
    """Clear the bits of ``ids`` (in range); returns how many were set before."""
    removed = 0
    for j in range(ids.shape[0]):
        i = ids[j]
        w = i >> 6
        bit = np.uint64(1) << np.uint64(i & 63)
        if (words[w] & bit) != 0:
            words[w] &= ~bit
            removed += 1
    return removed


@numba.njit(**_JIT)
def test_ids(words: np.ndarray, ids: np.ndarray, out: np.ndarray) -> None:
    """``out[j] = ids[j] is set`` (ids in range)."""
    for j in range(ids.shape[0]):
        i = ids[j]
        out[j] = ((words[i >> 6] >> np.uint64(i & 63)) & np.uint64(1)) != 0


@numba.njit(**_JIT)
def to_ids(words: np.ndarray, card: int) -> np.ndarray:
    """The set ids in ascending order (``card`` of them), as int64."""
    out = np.empty(card, dtype=np.int64)
    j = 0
    for w in range(words.shape[0]):
        x = words[w]
        base = w << 6
        while x != 0:
            out[j] = base + np.int64(ctz64(x))
            j += 1
            x &= x - np.uint64(1)
    return out


@numba.njit(**_JIT)
def rank(words: np.ndarray, i: int) -> int:
    """Number of set ids <= ``i`` (``0 <= i < 64 * len(words)``)."""
    w = i >> 6
    total = np.uint64(0)
    for j in range(w):
        total += popcount64(words[j])
    shift = np.uint64(63 - (i & 63))
    total += popcount64(words[w] << shift)
    return np.int64(total)


@numba.njit(**_JIT)
def range_count(words: np.ndarray, start: int, stop: int) -> int:
    """Number of set ids in ``[start, stop)`` (``start < stop``)."""
    first, last = start >> 6, (stop - 1) >> 6
    lo_mask = ~np.uint64(0) << np.uint64(start & 63)
    hi_mask = ~np.uint64(0) >> np.uint64(63 - ((stop - 1) & 63))
    if first == last:
        return np.int64(popcount64(words[first] & lo_mask & hi_mask))
    total = popcount64(words[first] & lo_mask) + popcount64(words[last] & hi_mask)
    for j in range(first + 1, last):
        total += popcount64(words[j])
    return np.int64(total)


@numba.njit(**_JIT)
def fill_range(words: np.ndarray, start: int, stop: int, value: bool) -> None:
    """Set (``value``) or clear every bit of ``[start, stop)`` (``start < stop``)."""
    first, last = start >> 6, (stop - 1) >> 6
    lo_mask = ~np.uint64(0) << np.uint64(start & 63)
    hi_mask = ~np.uint64(0) >> np.uint64(63 - ((stop - 1) & 63))
    if first == last:
        m = lo_mask & hi_mask
        if value:
            words[first] |= m
        else:
            words[first] &= ~m
        return
    if value:
        words[first] |= lo_mask
        words[last] |= hi_mask
        for j in range(first + 1, last):
            words[j] = ~np.uint64(0)
    else:
        words[first] &= ~lo_mask
        words[last] &= ~hi_mask
        for j in range(first + 1, last):
            words[j] = np.uint64(0)


@numba.njit(**_JIT)
def first_set(words: np.ndarray) -> int:
    """Smallest set id, or -1 when empty."""
    for w in range(words.shape[0]):
        if words[w] != 0:
            return (w << 6) + np.int64(ctz64(words[w]))
    return -1


@numba.njit(**_JIT)
def last_set(words: np.ndarray) -> int:
    """Largest set id, or -1 when empty."""
    for w in range(words.shape[0] - 1, -1, -1):
        x = words[w]
        if x != 0:
            top = 63
            while (x >> np.uint64(top)) == 0:
                top -= 1
            return (w << 6) + top
    return -1


def words_for(n_bits: int) -> int:
    """uint64 words needed for ``n_bits`` bits."""
    return (int(n_bits) + 63) >> 6


def tail_mask(n_bits: int) -> np.uint64:
    """Mask of the valid bits of the last word of an ``n_bits`` bitmap."""
    rem = int(n_bits) & 63
    return np.uint64((1 << rem) - 1) if rem else np.uint64(0xFFFFFFFFFFFFFFFF)


def warm() -> None:
    """Compile (or load from the cache) every kernel with the types bitmaps use."""
    w = np.zeros(2, dtype=np.uint64)
    ids = np.array([1, 70], dtype=np.int64)
    for op in OPS.values():
        combine(op, w, w, w.copy())
    and_count(w, w)
    count(w)
    set_ids(w, ids)
    clear_ids(w, ids)
    test_ids(w, ids, np.empty(2, dtype=np.bool_))
    to_ids(w, 0)
    rank(w, 3)
    range_count(w, 1, 100)
    fill_range(w, 1, 100, True)
    first_set(w)
    last_set(w)
