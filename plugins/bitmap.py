"""The in-house bitmap (registered as ``bitmap``): a set of ids in ``[0, n_bits)``.

Two representations, chosen by the ``form`` build parameter:

- ``dense``: one bit per id in uint64 words, least significant bit first. Viewed as bytes
  (:meth:`Bitmap.to_bytes`) this is faiss' ``IDSelectorBitmap`` layout and
  ``numpy.packbits(mask, bitorder='little')``. Operations run over words in numba kernels
  (``plugins._bitmap_kernels``) and return the result's cardinality in the same pass.
- ``containers``: Roaring-style array / bitset containers for sparse sets
  (``plugins._roaring``).
- ``auto`` (the default): dense when the set holds at least 1/256 of the universe,
  containers below 1/1024, and whichever it already is in between (so a set hovering near
  one threshold does not convert back and forth). The thresholds are where the two forms'
  set algebra costs cross on 10^7 bits (``benchmarks/bitmap.py``): the dense form's cost is
  fixed by the universe, the containers' grows with the ids. The form is reconsidered after
  every bulk operation (construction, set algebra, batch and range updates), never after a
  single ``add`` or ``discard``.

The bitmap protocol of the ``register_bitmaps`` hook (``docs/bitmaps.md``) is what
:class:`Bitmap` implements; :func:`as_mask` and :func:`as_bitmap` convert between bitmaps,
boolean masks and id arrays for the indexes' ``filter=`` argument.
"""

from __future__ import annotations

import operator
import struct
from collections.abc import Iterator
from typing import Any

import numpy as np

from harness import BitmapInfo, InvalidInputError, Param, hookimpl
from plugins import _bitmap_kernels as kern
from plugins._roaring import Containers

FORMS = ("auto", "dense", "containers")
#: auto form: dense at or above this density, containers below SPARSE_BELOW
DENSE_ABOVE = 1 / 256
SPARSE_BELOW = 1 / 1024
#: ids are stored in 32 bits by the containers (as in Roaring)
MAX_BITS = 1 << 32
MAGIC = b"VBBM"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<4sBBBxQ")  # magic, version, form, representation, pad, n_bits
_REP_DENSE, _REP_CONTAINERS = 0, 1
_OPS = kern.OPS


def check_n_bits(n_bits: Any) -> int:
    """The universe size as an int in ``[0, 2**32]``, or a clear error."""
    try:
        n = operator.index(n_bits)
    except TypeError:
        raise InvalidInputError(f"n_bits must be an integer, got {n_bits!r}") from None
    if isinstance(n_bits, bool) or n < 0 or n > MAX_BITS:
        raise InvalidInputError(f"n_bits must be in [0, 2**32], got {n_bits!r}")
    return int(n)


def check_ids(ids: Any, n_bits: int, what: str = "ids") -> np.ndarray:
    """Ids as a 1-D int64 array, all in ``[0, n_bits)``; a clear error otherwise."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what}: expected a 1-D array of ids, got shape {arr.shape}")
    if arr.size and (arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer)):
        raise InvalidInputError(
            f"{what}: ids must be integers, got dtype {arr.dtype}"
            + ("; for a boolean mask use Bitmap.from_mask" if arr.dtype == bool else ""))
    arr = arr.astype(np.int64, copy=False)
    if arr.size:
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi >= n_bits:
            bad = lo if lo < 0 else hi
            raise InvalidInputError(f"{what}: id {bad} is outside [0, {n_bits})")
    return arr


def _check_id(i: Any, n_bits: int) -> int:
    try:
        x = operator.index(i)
    except TypeError:
        raise InvalidInputError(f"id must be an integer, got {i!r}") from None
    if isinstance(i, bool) or not 0 <= x < n_bits:
        raise InvalidInputError(f"id {i!r} is outside [0, {n_bits})")
    return int(x)


def _check_range(start: Any, stop: Any, n_bits: int) -> tuple[int, int]:
    a, b = operator.index(start), operator.index(stop)
    if not 0 <= a <= b <= n_bits:
        raise InvalidInputError(f"range [{a}, {b}) must satisfy 0 <= start <= stop <= {n_bits}")
    return int(a), int(b)


def _sorted_unique(ids: np.ndarray) -> np.ndarray:
    if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids
    return np.unique(ids)


class Bitmap:
    """A set of ids in ``[0, n_bits)`` (see the module docstring).

    :param n_bits: size of the universe (ids are ``0 .. n_bits - 1``), at most ``2**32``.
    :param ids: initial ids (any order, duplicates allowed).
    :param form: ``"auto"``, ``"dense"`` or ``"containers"``.
    """

    __slots__ = ("_card", "_cont", "_words", "form", "n_bits")

    def __init__(self, n_bits: int, ids: Any = None, form: str = "auto") -> None:
        self.n_bits = check_n_bits(n_bits)
        if form not in FORMS:
            raise InvalidInputError(f"form must be one of {list(FORMS)}, got {form!r}")
        self.form = form
        self._words: np.ndarray | None = None
        self._cont: Containers | None = None
        self._card = 0
        arr = np.zeros(0, np.int64) if ids is None else check_ids(ids, self.n_bits)
        if self._prefer_dense(len(arr)):
            words = np.zeros(kern.words_for(self.n_bits), dtype=np.uint64)
            self._set_dense(words, int(kern.set_ids(words, arr)) if len(arr) else 0)
        else:
            self._set_cont(Containers.from_sorted(_sorted_unique(arr)))

    # ------------------------------------------------------------------ representation
    @property
    def representation(self) -> str:
        """``"dense"`` or ``"containers"``: how the set is stored now."""
        return "dense" if self._words is not None else "containers"

    def _prefer_dense(self, card: int) -> bool:
        if self.form != "auto":
            return self.form == "dense"
        density = card / self.n_bits if self.n_bits else 0.0
        if density >= DENSE_ABOVE:
            return True
        if density < SPARSE_BELOW:
            return False
        return self._words is not None

    def _set_dense(self, words: np.ndarray, card: int) -> None:
        self._words, self._cont, self._card = words, None, int(card)

    def _set_cont(self, cont: Containers) -> None:
        self._words, self._cont, self._card = None, cont, cont.card

    def _settle(self) -> Bitmap:
        """Switch representation if the auto form asks for it; returns self."""
        dense = self._prefer_dense(self._card)
        if dense and self._words is None:
            assert self._cont is not None
            self._set_dense(self._cont.to_dense(kern.words_for(self.n_bits)), self._card)
        elif not dense and self._cont is None:
            assert self._words is not None
            self._set_cont(Containers.from_dense(self._words))
        return self

    def _dense_words(self) -> np.ndarray:
        """The ids as dense words (the bitmap's own array when dense: do not modify)."""
        if self._words is not None:
            return self._words
        assert self._cont is not None
        return self._cont.to_dense(kern.words_for(self.n_bits))

    def _new(self, words: np.ndarray | None = None, card: int = 0,
             cont: Containers | None = None) -> Bitmap:
        out = Bitmap.__new__(Bitmap)
        out.n_bits, out.form = self.n_bits, self.form
        if cont is not None:
            out._set_cont(cont)
        else:
            assert words is not None
            out._set_dense(words, card)
        return out._settle()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_mask(cls, mask: Any, form: str = "auto") -> Bitmap:
        """The ids where a boolean mask is True (universe ``len(mask)``)."""
        arr = np.asarray(mask)
        if arr.dtype != bool or arr.ndim != 1:
            raise InvalidInputError(f"mask must be a 1-D boolean array, got dtype {arr.dtype} "
                                    f"and shape {arr.shape}")
        out = cls(len(arr), form=form)
        packed = np.packbits(arr, bitorder="little")
        words = np.zeros(kern.words_for(len(arr)), dtype=np.uint64)
        words.view(np.uint8)[:len(packed)] = packed
        return out._new(words, kern.count(words))

    @classmethod
    def from_bytes(cls, data: Any, n_bits: int, form: str = "auto") -> Bitmap:
        """From LSB-first packed bytes (faiss ``IDSelectorBitmap`` / ``packbits(...,
        bitorder='little')``): bit ``i % 8`` of byte ``i // 8`` is id ``i``."""
        n = check_n_bits(n_bits)
        raw = np.frombuffer(bytes(data), dtype=np.uint8)
        need = (n + 7) // 8
        if len(raw) != need:
            raise InvalidInputError(f"from_bytes: {n} bits need {need} bytes, got {len(raw)}")
        words = np.zeros(kern.words_for(n), dtype=np.uint64)
        words.view(np.uint8)[:need] = raw
        if n % 64 and words[-1] & ~kern.tail_mask(n):
            raise InvalidInputError(f"from_bytes: bits at or beyond n_bits={n} are set")
        return cls(n, form=form)._new(words, kern.count(words))

    @classmethod
    def from_range(cls, n_bits: int, start: int, stop: int, form: str = "auto") -> Bitmap:
        """Every id in ``[start, stop)``."""
        out = cls(n_bits, form=form)
        out.add_range(start, stop)
        return out

    def copy(self) -> Bitmap:
        """An independent copy (same form and representation)."""
        out = Bitmap.__new__(Bitmap)
        out.n_bits, out.form, out._card = self.n_bits, self.form, self._card
        out._words = None if self._words is None else self._words.copy()
        out._cont = None if self._cont is None else self._cont.copy()
        return out

    # ------------------------------------------------------------------ single ids
    def add(self, i: int) -> None:
        """Set id ``i``."""
        x = _check_id(i, self.n_bits)
        if self._words is not None:
            w, bit = x >> 6, np.uint64(1 << (x & 63))
            if not self._words[w] & bit:
                self._words[w] |= bit
                self._card += 1
        else:
            assert self._cont is not None
            self._card += self._cont.add(x)

    def discard(self, i: int) -> None:
        """Clear id ``i`` (nothing happens when it is not set)."""
        x = _check_id(i, self.n_bits)
        if self._words is not None:
            w, bit = x >> 6, np.uint64(1 << (x & 63))
            if self._words[w] & bit:
                self._words[w] &= ~bit
                self._card -= 1
        else:
            assert self._cont is not None
            self._card -= self._cont.discard(x)

    def remove(self, i: int) -> None:
        """Clear id ``i``; KeyError when it is not set."""
        if i not in self:
            raise KeyError(i)
        self.discard(i)

    def __contains__(self, i: object) -> bool:
        try:
            x = operator.index(i)  # type: ignore[arg-type]
        except TypeError:
            return False
        if isinstance(i, bool) or not 0 <= x < self.n_bits:
            return False
        if self._words is not None:
            return bool((int(self._words[x >> 6]) >> (x & 63)) & 1)
        assert self._cont is not None
        return self._cont.contains(x)

    # ------------------------------------------------------------------ batches and ranges
    def update(self, ids: Any) -> None:
        """Set every id of ``ids`` (batch set)."""
        arr = check_ids(ids, self.n_bits)
        if self._words is not None:
            self._card += int(kern.set_ids(self._words, arr))
        else:
            assert self._cont is not None
            self._set_cont(self._cont.binop(_OPS["or"],
                                            Containers.from_sorted(_sorted_unique(arr))))
        self._settle()

    def difference_update(self, ids: Any) -> None:
        """Clear every id of ``ids`` (batch clear)."""
        arr = check_ids(ids, self.n_bits)
        if self._words is not None:
            self._card -= int(kern.clear_ids(self._words, arr))
        else:
            assert self._cont is not None
            self._set_cont(self._cont.binop(_OPS["andnot"],
                                            Containers.from_sorted(_sorted_unique(arr))))
        self._settle()

    def contains_many(self, ids: Any) -> np.ndarray:
        """Boolean array: which of ``ids`` are set (batch test)."""
        arr = check_ids(ids, self.n_bits)
        if self._words is not None:
            out = np.empty(len(arr), dtype=np.bool_)
            kern.test_ids(self._words, arr, out)
            return out
        assert self._cont is not None
        return self._cont.contains_many(arr)

    def add_range(self, start: int, stop: int) -> None:
        """Set every id in ``[start, stop)``."""
        a, b = _check_range(start, stop, self.n_bits)
        if a == b:
            return
        if self._words is not None:
            self._card += (b - a) - int(kern.range_count(self._words, a, b))
            kern.fill_range(self._words, a, b, True)
        else:
            assert self._cont is not None
            self._set_cont(self._cont.binop(_OPS["or"], Containers.from_range(a, b)))
        self._settle()

    def remove_range(self, start: int, stop: int) -> None:
        """Clear every id in ``[start, stop)``."""
        a, b = _check_range(start, stop, self.n_bits)
        if a == b:
            return
        if self._words is not None:
            self._card -= int(kern.range_count(self._words, a, b))
            kern.fill_range(self._words, a, b, False)
        else:
            assert self._cont is not None
            self._set_cont(self._cont.binop(_OPS["andnot"], Containers.from_range(a, b)))
        self._settle()

    # ------------------------------------------------------------------ set algebra
    def _other(self, other: Any) -> Bitmap:
        if not isinstance(other, Bitmap):
            raise TypeError(f"expected a Bitmap, got {type(other).__name__}")
        if other.n_bits != self.n_bits:
            raise InvalidInputError(f"bitmaps of different universes: n_bits {self.n_bits} "
                                    f"and {other.n_bits}")
        return other

    def _combine(self, name: str, other: Bitmap, inplace: bool) -> Bitmap:
        op = _OPS[name]
        a_dense, b_dense = self._words is not None, other._words is not None
        target = self if inplace else None
        if a_dense and b_dense:
            assert self._words is not None and other._words is not None
            if name == "and" and self._expect_sparse_and(other):
                cont = Containers.and_dense(self._words, other._words,
                                            min(self._card, other._card))
                if cont.card >= SPARSE_BELOW * self.n_bits:  # the guess was wrong: keep
                    # the form the dense AND gives (the auto form's hysteresis band)
                    return self._finish(target, words=cont.to_dense(len(self._words)),
                                        card=cont.card)
                return self._finish(target, cont=cont)
            out = self._words if inplace else np.empty_like(self._words)
            card = kern.combine(op, self._words, other._words, out)
            return self._finish(target, words=out, card=card)
        if not a_dense and not b_dense:
            assert self._cont is not None and other._cont is not None
            return self._finish(target, cont=self._cont.binop(op, other._cont))
        sparse = self._cont if not a_dense else other._cont
        dense = self._words if a_dense else other._words
        assert sparse is not None and dense is not None
        if name == "and" or (name == "andnot" and not a_dense):
            return self._finish(target, cont=sparse.filter_dense(dense, name == "and"))
        # the result holds the dense operand: start from a copy of it (or it, in place)
        if a_dense:
            words = dense if inplace else dense.copy()
            card = self._card + sparse.apply_to_dense(op, words)
        else:  # sparse OR / XOR dense: commutative
            words = dense.copy()
            card = other._card + sparse.apply_to_dense(op, words)
        return self._finish(target, words=words, card=card)

    def _expect_sparse_and(self, other: Bitmap) -> bool:
        """Whether the auto form will keep ``self AND other`` as containers: the expected
        size of the intersection of independent sets, ``|A| |B| / n``, is well below the
        sparse threshold. Only the speed depends on this guess (a wrong one costs a
        conversion): 1 % operands on 10^7 bits, whose AND holds 0.01 %, go from a dense AND
        plus a scan of the whole universe to one pass that builds the containers."""
        if self.form != "auto" or not self.n_bits:
            return False
        expected = self._card * other._card / self.n_bits
        return expected < SPARSE_BELOW * self.n_bits / 4

    def _finish(self, target: Bitmap | None, words: np.ndarray | None = None, card: int = 0,
                cont: Containers | None = None) -> Bitmap:
        if target is None:
            return self._new(words, card, cont)
        if cont is not None:
            target._set_cont(cont)
        else:
            assert words is not None
            target._set_dense(words, card)
        return target._settle()

    def __and__(self, other: Any) -> Bitmap:
        return self._combine("and", self._other(other), False)

    def __or__(self, other: Any) -> Bitmap:
        return self._combine("or", self._other(other), False)

    def __xor__(self, other: Any) -> Bitmap:
        return self._combine("xor", self._other(other), False)

    def __sub__(self, other: Any) -> Bitmap:
        return self._combine("andnot", self._other(other), False)

    def __iand__(self, other: Any) -> Bitmap:
        return self._combine("and", self._other(other), True)

    def __ior__(self, other: Any) -> Bitmap:
        return self._combine("or", self._other(other), True)

    def __ixor__(self, other: Any) -> Bitmap:
        return self._combine("xor", self._other(other), True)

    def __isub__(self, other: Any) -> Bitmap:
        return self._combine("andnot", self._other(other), True)

    def andnot(self, other: Bitmap) -> Bitmap:
        """``self AND NOT other`` (same as ``self - other``)."""
        return self - other

    def complement(self) -> Bitmap:
        """Every id of the universe that is not in the set (NOT within ``[0, n_bits)``)."""
        words = np.invert(self._dense_words())
        if len(words):
            words[-1] &= kern.tail_mask(self.n_bits)
        return self._new(words, self.n_bits - self._card)

    # ------------------------------------------------------------------ counting
    def __len__(self) -> int:
        return self._card

    def __bool__(self) -> bool:
        return self._card > 0

    def intersection_cardinality(self, other: Bitmap) -> int:
        """|self AND other| without building it."""
        other = self._other(other)
        if self._words is not None and other._words is not None:
            return int(kern.and_count(self._words, other._words))
        if self._cont is not None and other._cont is not None:
            return self._cont.and_count(other._cont)
        sparse = self._cont if self._cont is not None else other._cont
        dense = self._words if self._words is not None else other._words
        assert sparse is not None and dense is not None
        return sparse.filter_dense(dense, True).card

    def union_cardinality(self, other: Bitmap) -> int:
        """|self OR other|."""
        return self._card + len(other) - self.intersection_cardinality(other)

    def difference_cardinality(self, other: Bitmap) -> int:
        """|self AND NOT other|."""
        return self._card - self.intersection_cardinality(other)

    def symmetric_difference_cardinality(self, other: Bitmap) -> int:
        """|self XOR other|."""
        return self._card + len(other) - 2 * self.intersection_cardinality(other)

    def jaccard_index(self, other: Bitmap) -> float:
        """|self AND other| / |self OR other| (1.0 for two empty sets)."""
        union = self.union_cardinality(other)
        return 1.0 if union == 0 else self.intersection_cardinality(other) / union

    def rank(self, i: int) -> int:
        """Number of ids <= ``i``."""
        x = _check_id(i, self.n_bits)
        if self._words is not None:
            return int(kern.rank(self._words, x))
        assert self._cont is not None
        return self._cont.rank(x)

    def min(self) -> int:
        """Smallest id; ValueError when empty."""
        if not self._card:
            raise ValueError("min() of an empty bitmap")
        if self._words is not None:
            return int(kern.first_set(self._words))
        assert self._cont is not None
        return self._cont.min()

    def max(self) -> int:
        """Largest id; ValueError when empty."""
        if not self._card:
            raise ValueError("max() of an empty bitmap")
        if self._words is not None:
            return int(kern.last_set(self._words))
        assert self._cont is not None
        return self._cont.max()

    # ------------------------------------------------------------------ export
    def to_array(self) -> np.ndarray:
        """The ids in ascending order (int64)."""
        if self._words is not None:
            return kern.to_ids(self._words, self._card)
        assert self._cont is not None
        return self._cont.to_ids()

    def __iter__(self) -> Iterator[int]:
        return iter(self.to_array().tolist())

    def to_bytes(self) -> bytes:
        """LSB-first packed bytes, ``ceil(n_bits / 8)`` of them: faiss'
        ``IDSelectorBitmap(n_bits, bytes)`` selects exactly this set."""
        return self._dense_words().view(np.uint8)[:(self.n_bits + 7) // 8].tobytes()

    def to_mask(self) -> np.ndarray:
        """Boolean mask of length ``n_bits`` (True = in the set)."""
        raw = self._dense_words().view(np.uint8)
        return np.unpackbits(raw, bitorder="little", count=self.n_bits).astype(bool)

    def nbytes(self) -> int:
        """Bytes of the arrays the bitmap holds."""
        if self._words is not None:
            return int(self._words.nbytes)
        assert self._cont is not None
        return self._cont.nbytes()

    # ------------------------------------------------------------------ serialisation
    def serialize(self) -> bytes:
        """Bytes :meth:`deserialize` reads back: a 16-byte header (``VBBM``, format version,
        form, representation, n_bits) and the words (dense) or RoaringFormatSpec bytes."""
        rep = _REP_DENSE if self._words is not None else _REP_CONTAINERS
        head = _HEADER.pack(MAGIC, FORMAT_VERSION, FORMS.index(self.form), rep, self.n_bits)
        if self._words is not None:
            return head + self._words.astype("<u8", copy=False).tobytes()
        assert self._cont is not None
        return head + self._cont.portable()

    @classmethod
    def deserialize(cls, data: Any) -> Bitmap:
        """The bitmap :meth:`serialize` wrote; InvalidInputError for anything else."""
        raw = bytes(data)
        if len(raw) < _HEADER.size:
            raise InvalidInputError("deserialize: too short for a vecbench bitmap header")
        magic, version, form_code, rep, n_bits = _HEADER.unpack_from(raw)
        if magic != MAGIC:
            raise InvalidInputError("deserialize: not a vecbench bitmap (bad magic)")
        if version != FORMAT_VERSION:
            raise InvalidInputError(f"deserialize: format version {version} is not "
                                    f"{FORMAT_VERSION}")
        if form_code >= len(FORMS) or rep not in (_REP_DENSE, _REP_CONTAINERS):
            raise InvalidInputError("deserialize: unknown form or representation code")
        n = check_n_bits(n_bits)
        out = cls.__new__(cls)
        out.n_bits, out.form = n, FORMS[form_code]
        body = raw[_HEADER.size:]
        if rep == _REP_DENSE:
            nw = kern.words_for(n)
            if len(body) != 8 * nw:
                raise InvalidInputError(f"deserialize: {n} bits need {8 * nw} bytes of "
                                        f"words, got {len(body)}")
            words = np.frombuffer(body, dtype="<u8").astype(np.uint64)
            if nw and words[-1] & ~kern.tail_mask(n):
                raise InvalidInputError(f"deserialize: bits at or beyond n_bits={n} are set")
            out._set_dense(words, kern.count(words))
            return out
        cont = containers_from_portable(body, n)
        out._set_cont(cont)
        return out

    def to_portable(self) -> bytes:
        """RoaringFormatSpec bytes of the set (readable by pyroaring ``BitMap.deserialize``
        and every Roaring library); the universe is not part of them."""
        cont = self._cont if self._cont is not None else Containers.from_dense(self._words)
        return cont.portable()

    @classmethod
    def from_portable(cls, data: Any, n_bits: int, form: str = "auto") -> Bitmap:
        """Read RoaringFormatSpec bytes (e.g. pyroaring's ``serialize()``)."""
        n = check_n_bits(n_bits)
        out = cls(n, form=form)
        return out._new(cont=containers_from_portable(bytes(data), n))

    # ------------------------------------------------------------------ comparison
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Bitmap):
            return NotImplemented
        if other.n_bits != self.n_bits or other._card != self._card:
            return False
        return self.intersection_cardinality(other) == self._card

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return (f"Bitmap(n_bits={self.n_bits}, len={self._card}, form={self.form!r}, "
                f"representation={self.representation!r})")


def containers_from_portable(data: bytes, n_bits: int) -> Containers:
    """Parse RoaringFormatSpec bytes that must hold exactly one bitmap within ``n_bits``."""
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        cont, used = Containers.from_portable(buf)
    except ValueError as exc:
        raise InvalidInputError(f"deserialize: {exc}") from None
    if used != len(buf):
        raise InvalidInputError(f"deserialize: {len(buf) - used} bytes follow the bitmap")
    if cont.card and cont.max() >= n_bits:
        raise InvalidInputError(f"deserialize: id {cont.max()} is outside [0, {n_bits})")
    return cont


# --------------------------------------------------------------------------- filters


def as_mask(filt: Any, n: int) -> np.ndarray:
    """A boolean mask of length ``n`` (what the indexes' ``filter=`` takes) from a
    :class:`Bitmap`, a pyroaring ``BitMap``, a boolean mask or an array of ids."""
    if isinstance(filt, Bitmap):
        if filt.n_bits != n:
            raise InvalidInputError(f"filter bitmap has n_bits={filt.n_bits}, the index {n}")
        return filt.to_mask()
    if type(filt).__name__ in ("BitMap", "FrozenBitMap"):
        ids = np.asarray(filt.to_array(), dtype=np.int64)
    else:
        arr = np.asarray(filt)
        if arr.dtype == bool:
            if arr.shape != (n,):
                raise InvalidInputError(f"filter mask must have shape ({n},), got {arr.shape}")
            return arr
        ids = arr
    ids = check_ids(ids, n, "filter")
    mask = np.zeros(n, dtype=bool)
    mask[ids] = True
    return mask


def as_bitmap(filt: Any, n: int, form: str = "auto") -> Bitmap:
    """A :class:`Bitmap` over ``[0, n)`` from a boolean mask, an array of ids, a pyroaring
    ``BitMap`` or a Bitmap (returned as is when its universe is ``n``)."""
    if isinstance(filt, Bitmap):
        if filt.n_bits != n:
            raise InvalidInputError(f"filter bitmap has n_bits={filt.n_bits}, expected {n}")
        return filt
    if type(filt).__name__ in ("BitMap", "FrozenBitMap"):
        return Bitmap(n, np.asarray(filt.to_array(), dtype=np.int64), form=form)
    arr = np.asarray(filt)
    if arr.dtype == bool:
        if arr.shape != (n,):
            raise InvalidInputError(f"filter mask must have shape ({n},), got {arr.shape}")
        return Bitmap.from_mask(arr, form=form)
    return Bitmap(n, arr, form=form)


# --------------------------------------------------------------------------- registration

#: The workload of the ``bitmap-ops`` task, shared by every bitmap plugin.
WORKLOAD_PARAMS: tuple[Param, ...] = (
    Param("n_bits", 10_000_000, int, "size of the universe of the operands (bits)",
          low=1, high=MAX_BITS),
    Param("density", 0.01, float, "fraction of the universe set in each operand",
          low=0.0, high=1.0),
)
WORKLOAD_GRID: dict[str, list[Any]] = {
    "n_bits": [10_000, 1_000_000, 10_000_000, 100_000_000],
    "density": [0.0001, 0.001, 0.01, 0.1, 0.5],
}


def make_bitmap(n_bits: int, ids: Any = None, form: str = "auto") -> Bitmap:
    """Factory of the ``bitmap`` plugin: ``Bitmap(n_bits, ids, form)``."""
    return Bitmap(n_bits, ids, form=form)


def warmup() -> None:
    """Compile (or load from numba's cache) every kernel of the in-house bitmap."""
    from plugins import _roaring

    kern.warm()
    _roaring.warm()


INFO = BitmapInfo(
    name="bitmap",
    factory=make_bitmap,
    description="in-house bitmap: dense uint64 words (LSB first) or Roaring-style "
                "containers, numba kernels",
    requires=("numba",),
    install_hint="pip install numba",
    build_params=(Param("form", "auto", str, "representation: auto (by density), dense or "
                        "containers", choices=FORMS),),
    query_params=WORKLOAD_PARAMS,
    build_grid={"form": list(FORMS)},
    query_grid=WORKLOAD_GRID,
)


@hookimpl
def register_bitmaps(register: Any) -> None:
    """Register the in-house bitmap."""
    register(INFO)
