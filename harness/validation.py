"""Input checks shared by the host and plugins: clear errors for shape, dtype, NaN, empty, k > n."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.errors import InvalidInputError
from harness.types import DataKind, SetData

_FAST_CHECK_MAX = 1 << 14  # entries: a batch this small takes the fast path of check_dense


def check_dense(x: Any, name: str = "data", *, dim: int | None = None,
                allow_empty: bool = False, dtype: Any = np.float32) -> np.ndarray:
    """Return ``x`` as a C-contiguous 2-D array of ``dtype`` (float32), or raise a clear error.

    Rejects non-numeric dtypes, wrong rank, a dimension other than ``dim``, NaN/inf (checked
    before the cast, so float64 values beyond float32's range are reported as such) and
    (unless ``allow_empty``) zero rows. A 1-D array of length ``dim`` is taken as one row.
    Never modifies the caller's array.
    """
    if (type(x) is np.ndarray and x.dtype == dtype == np.float32 and x.ndim == 2
            and x.flags.c_contiguous and 0 < x.size <= _FAST_CHECK_MAX
            and (dim is None or x.shape[1] == dim)):
        # the common case of single-query loops, where the general checks below cost more
        # than some searches: in float64, x . x is finite exactly when no entry of the
        # float32 x is NaN or inf (squares cannot cancel nor overflow)
        flat = x.reshape(-1).astype(np.float64)
        if math.isfinite(float(np.dot(flat, flat))):
            return x
    if isinstance(x, SetData):
        raise InvalidInputError(f"{name}: got set data (CSR), expected a dense 2-D float array")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: cannot be read as an array ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidInputError(f"{name}: dtype {arr.dtype} is not numeric; pass a float array")
    if np.iscomplexobj(arr):
        raise InvalidInputError(f"{name}: complex dtype {arr.dtype} is not supported")
    if arr.ndim == 1 and dim is not None and arr.shape[0] == dim:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name}: expected a 2-D array (n, d), got shape {arr.shape}"
            + ("; use x.reshape(1, -1) for a single vector" if arr.ndim == 1 else "")
        )
    if arr.shape[0] == 0 and not allow_empty:
        raise InvalidInputError(f"{name}: is empty (0 rows)")
    if arr.shape[1] == 0:
        raise InvalidInputError(f"{name}: has 0 columns")
    if dim is not None and arr.shape[1] != dim:
        raise InvalidInputError(f"{name}: expected dimension {dim}, got {arr.shape[1]}")
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            bad = int(np.flatnonzero(~finite.all(axis=1))[0])
            raise InvalidInputError(f"{name}: contains NaN or inf (first at row {bad})")
    out = np.ascontiguousarray(arr, dtype=dtype)
    if out.dtype.kind == "f" and arr.dtype.itemsize > out.dtype.itemsize:
        top = float(np.abs(arr).max()) if arr.size else 0.0
        if top > np.finfo(out.dtype).max:
            raise InvalidInputError(f"{name}: values up to {top:g} overflow {out.dtype}; "
                                    "rescale the data")
    return out


def check_binary(x: Any, name: str = "data", *, nbytes: int | None = None) -> np.ndarray:
    """Return bit-packed binary vectors as a C-contiguous uint8 (n, nbytes) array."""
    arr = np.asarray(x)
    if arr.dtype != np.uint8:
        raise InvalidInputError(
            f"{name}: binary vectors must be bit-packed uint8 (n, d/8), got dtype {arr.dtype}; "
            "use numpy.packbits(bits, axis=1, bitorder='little')"
        )
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInputError(f"{name}: expected a non-empty 2-D uint8 array, got {arr.shape}")
    if nbytes is not None and arr.shape[1] != nbytes:
        raise InvalidInputError(f"{name}: expected {nbytes} bytes per vector, got {arr.shape[1]}")
    return np.ascontiguousarray(arr)


def check_sets(x: Any, name: str = "data") -> SetData:
    """Check CSR set data: integer arrays, monotone indptr, sorted unique tokens per row.

    Set kernels count shared tokens by merging or through an inverted index, so a repeated
    or out-of-order token would be miscounted silently; build set data with
    :meth:`SetData.from_lists`.
    """
    if not isinstance(x, SetData):
        raise InvalidInputError(f"{name}: expected SetData (CSR indptr/indices), got {type(x)}")
    for part in ("indptr", "indices"):
        arr = np.asarray(getattr(x, part))
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer):
            raise InvalidInputError(f"{name}: {part} must be a 1-D integer array, got "
                                    f"dtype {arr.dtype} and shape {arr.shape}")
    if len(x) == 0:
        raise InvalidInputError(f"{name}: is empty (0 sets)")
    indptr = np.asarray(x.indptr)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0) or indptr[-1] != len(x.indices):
        raise InvalidInputError(f"{name}: indptr must start at 0, be non-decreasing and end at "
                                "len(indices)")
    idx = np.asarray(x.indices)
    if len(idx) > 1:
        step_ok = np.diff(idx.astype(np.int64)) > 0
        starts = indptr[1:-1]
        starts = starts[(starts > 0) & (starts < len(idx))]
        step_ok[starts - 1] = True  # a row boundary may step down
        if not step_ok.all():
            at = int(np.flatnonzero(~step_ok)[0]) + 1
            row = int(np.searchsorted(indptr, at, side="right") - 1)
            raise InvalidInputError(
                f"{name}: the tokens of set {row} are not sorted and unique; build set data "
                "with SetData.from_lists")
    return x


def check_data(x: Any, kind: DataKind, name: str = "data", *, dim: int | None = None) -> Any:
    """Dispatch to the check for ``kind``."""
    if kind is DataKind.DENSE:
        return check_dense(x, name, dim=dim)
    if kind is DataKind.BINARY:
        return check_binary(x, name, nbytes=dim)
    return check_sets(x, name)


def check_k(k: Any, n: int) -> int:
    """``k`` must be a positive int no larger than the number of indexed items ``n``."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InvalidInputError(f"k must be an integer, got {k!r}")
    if k < 1:
        raise InvalidInputError(f"k must be >= 1, got {k}")
    if k > n:
        raise InvalidInputError(f"k={k} is larger than the number of indexed items ({n})")
    return int(k)
