"""``pyroaring``: the bitmap protocol over pyroaring's ``BitMap`` (CRoaring), registered as
the peer of the in-house ``bitmap``.

The wrapper adds what ``BitMap`` lacks for the protocol: a universe ``[0, n_bits)`` (ids are
checked against it, ``complement`` flips within it) and the vecbench names of the batch
operations. Everything else is one call into ``BitMap``; the operands of binary operations
are the wrapped ``BitMap`` objects themselves, so the figures are CRoaring's plus one Python
attribute access. pyroaring is imported when a bitmap is created, so this module loads
without it.
"""

from __future__ import annotations

import array
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness import BitmapInfo, InvalidInputError, PluginUnavailableError, hookimpl
from plugins.bitmap import WORKLOAD_GRID, WORKLOAD_PARAMS, check_ids, check_n_bits

INSTALL_HINT = "pip install pyroaring"
MAGIC = b"VBPR"
_HEADER = struct.Struct("<4sQ")


def _bitmap_class() -> Any:
    try:
        from pyroaring import BitMap
    except ImportError:
        raise PluginUnavailableError(
            f"bitmap 'pyroaring' needs the pyroaring library; install it with: {INSTALL_HINT}",
        ) from None
    return BitMap


def _u32(ids: np.ndarray) -> array.array:
    """Ids as an ``array.array('I')``: pyroaring copies those in one C call, whereas it
    iterates a numpy array element by element (ten times slower)."""
    out = array.array("I")
    out.frombytes(np.ascontiguousarray(ids, dtype=np.uint32).tobytes())
    return out


def _check_id(i: Any, n_bits: int) -> int:
    if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
        raise InvalidInputError(f"id must be an integer, got {i!r}")
    if not 0 <= i < n_bits:
        raise InvalidInputError(f"id {i!r} is outside [0, {n_bits})")
    return int(i)


class RoaringBitmap:
    """A pyroaring ``BitMap`` over the universe ``[0, n_bits)`` (``n_bits <= 2**32``)."""

    __slots__ = ("bm", "n_bits")

    def __init__(self, n_bits: int, ids: Any = None, bm: Any = None) -> None:
        self.n_bits = check_n_bits(n_bits)
        if bm is not None:
            self.bm = bm
            return
        cls = _bitmap_class()
        if ids is None:
            self.bm = cls()
        else:
            self.bm = cls(_u32(check_ids(ids, self.n_bits)))

    def _wrap(self, bm: Any) -> RoaringBitmap:
        return RoaringBitmap(self.n_bits, bm=bm)

    def _other(self, other: Any) -> Any:
        if not isinstance(other, RoaringBitmap):
            raise TypeError(f"expected a RoaringBitmap, got {type(other).__name__}")
        if other.n_bits != self.n_bits:
            raise InvalidInputError(f"bitmaps of different universes: n_bits {self.n_bits} "
                                    f"and {other.n_bits}")
        return other.bm

    # ---- single ids
    def add(self, i: int) -> None:
        """Set id ``i``."""
        self.bm.add(_check_id(i, self.n_bits))

    def discard(self, i: int) -> None:
        """Clear id ``i`` if set."""
        self.bm.discard(_check_id(i, self.n_bits))

    def remove(self, i: int) -> None:
        """Clear id ``i``; KeyError when it is not set."""
        self.bm.remove(_check_id(i, self.n_bits))

    def __contains__(self, i: object) -> bool:
        if isinstance(i, bool) or not isinstance(i, (int, np.integer)):
            return False
        return 0 <= i < self.n_bits and int(i) in self.bm

    # ---- batches and ranges
    def update(self, ids: Any) -> None:
        """Set every id of ``ids``."""
        self.bm.update(_u32(check_ids(ids, self.n_bits)))

    def difference_update(self, ids: Any) -> None:
        """Clear every id of ``ids``."""
        self.bm.difference_update(_bitmap_class()(_u32(check_ids(ids, self.n_bits))))

    def contains_many(self, ids: Any) -> np.ndarray:
        """Boolean array: which of ``ids`` are set."""
        arr = check_ids(ids, self.n_bits)
        bm = self.bm
        return np.fromiter((x in bm for x in arr.tolist()), dtype=bool, count=len(arr))

    def add_range(self, start: int, stop: int) -> None:
        """Set every id in ``[start, stop)``."""
        a, b = self._range(start, stop)
        if a < b:
            self.bm.add_range(a, b)

    def remove_range(self, start: int, stop: int) -> None:
        """Clear every id in ``[start, stop)``."""
        a, b = self._range(start, stop)
        if a < b:
            self.bm.remove_range(a, b)

    def _range(self, start: int, stop: int) -> tuple[int, int]:
        if not 0 <= start <= stop <= self.n_bits:
            raise InvalidInputError(f"range [{start}, {stop}) must satisfy 0 <= start <= "
                                    f"stop <= {self.n_bits}")
        return int(start), int(stop)

    # ---- set algebra
    def __and__(self, other: Any) -> RoaringBitmap:
        return self._wrap(self.bm & self._other(other))

    def __or__(self, other: Any) -> RoaringBitmap:
        return self._wrap(self.bm | self._other(other))

    def __xor__(self, other: Any) -> RoaringBitmap:
        return self._wrap(self.bm ^ self._other(other))

    def __sub__(self, other: Any) -> RoaringBitmap:
        return self._wrap(self.bm - self._other(other))

    def __iand__(self, other: Any) -> RoaringBitmap:
        self.bm &= self._other(other)
        return self

    def __ior__(self, other: Any) -> RoaringBitmap:
        self.bm |= self._other(other)
        return self

    def __ixor__(self, other: Any) -> RoaringBitmap:
        self.bm ^= self._other(other)
        return self

    def __isub__(self, other: Any) -> RoaringBitmap:
        self.bm -= self._other(other)
        return self

    def andnot(self, other: RoaringBitmap) -> RoaringBitmap:
        """``self AND NOT other``."""
        return self - other

    def complement(self) -> RoaringBitmap:
        """Every id of ``[0, n_bits)`` not in the set."""
        return self._wrap(self.bm.flip(0, self.n_bits))

    # ---- counting
    def __len__(self) -> int:
        return len(self.bm)

    def __bool__(self) -> bool:
        return bool(self.bm)

    def intersection_cardinality(self, other: RoaringBitmap) -> int:
        return int(self.bm.intersection_cardinality(self._other(other)))

    def union_cardinality(self, other: RoaringBitmap) -> int:
        return int(self.bm.union_cardinality(self._other(other)))

    def difference_cardinality(self, other: RoaringBitmap) -> int:
        return int(self.bm.difference_cardinality(self._other(other)))

    def symmetric_difference_cardinality(self, other: RoaringBitmap) -> int:
        return int(self.bm.symmetric_difference_cardinality(self._other(other)))

    def jaccard_index(self, other: RoaringBitmap) -> float:
        if not self.bm and not other.bm:
            return 1.0
        return float(self.bm.jaccard_index(self._other(other)))

    def rank(self, i: int) -> int:
        """Number of ids <= ``i``."""
        return int(self.bm.rank(_check_id(i, self.n_bits)))

    def min(self) -> int:
        if not self.bm:
            raise ValueError("min() of an empty bitmap")
        return int(self.bm.min())

    def max(self) -> int:
        if not self.bm:
            raise ValueError("max() of an empty bitmap")
        return int(self.bm.max())

    # ---- export
    def to_array(self) -> np.ndarray:
        """The ids in ascending order (int64)."""
        return np.frombuffer(self.bm.to_array(), dtype=np.uint32).astype(np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self.bm)

    def to_mask(self) -> np.ndarray:
        mask = np.zeros(self.n_bits, dtype=bool)
        mask[self.to_array()] = True
        return mask

    def nbytes(self) -> int:
        """Bytes of CRoaring's containers (``get_statistics``), headers excluded."""
        stats = self.bm.get_statistics()
        return int(sum(v for k, v in stats.items() if k.startswith("n_bytes_")))

    def copy(self) -> RoaringBitmap:
        return self._wrap(self.bm.copy())

    def serialize(self) -> bytes:
        """A header (``VBPR``, n_bits) and CRoaring's portable serialisation."""
        return _HEADER.pack(MAGIC, self.n_bits) + self.bm.serialize()

    @classmethod
    def deserialize(cls, data: Any) -> RoaringBitmap:
        raw = bytes(data)
        if len(raw) < _HEADER.size or raw[:4] != MAGIC:
            raise InvalidInputError("deserialize: not a vecbench pyroaring bitmap")
        _, n_bits = _HEADER.unpack_from(raw)
        try:
            bm = _bitmap_class().deserialize(raw[_HEADER.size:])
        except (ValueError, RuntimeError) as exc:
            raise InvalidInputError(f"deserialize: {exc}") from None
        out = cls(n_bits, bm=bm)
        if bm and bm.max() >= out.n_bits:
            raise InvalidInputError(f"deserialize: id {bm.max()} is outside [0, {n_bits})")
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RoaringBitmap):
            return NotImplemented
        return self.n_bits == other.n_bits and self.bm == other.bm

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"RoaringBitmap(n_bits={self.n_bits}, len={len(self.bm)})"


def make_pyroaring(n_bits: int, ids: Any = None, run_optimize: bool = False) -> RoaringBitmap:
    """Factory of the ``pyroaring`` plugin; ``run_optimize`` converts to run containers where
    they are smaller (CRoaring's ``run_optimize``) after construction."""
    out = RoaringBitmap(n_bits, ids)
    if run_optimize:
        out.bm.run_optimize()
    return out


@hookimpl
def register_bitmaps(register: Any) -> None:
    """Register the pyroaring wrapper."""
    from harness import Param

    register(BitmapInfo(
        name="pyroaring",
        factory=make_pyroaring,
        description="pyroaring BitMap (CRoaring: array, bitset and run containers, SIMD)",
        library="pyroaring",
        requires=("pyroaring",),
        install_hint=INSTALL_HINT,
        build_params=(Param("run_optimize", False, bool,
                            "convert to run containers where smaller, after construction"),),
        query_params=WORKLOAD_PARAMS,
        query_grid=WORKLOAD_GRID,
    ))
