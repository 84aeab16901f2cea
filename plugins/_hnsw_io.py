"""One-file persistence of the in-house HNSW index: an ``.npz`` read without pickle.

The file holds the index's arrays plus a ``meta`` entry: UTF-8 JSON (format name, format
version, metric, build parameters, entry point) stored as a uint8 array. Files are written
under a temporary name and renamed into place, so a file is either whole or absent.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import InvalidInputError

FORMAT_NAME = "vecbench-hnsw"
FORMAT_VERSION = 1


def save_index_file(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray],
                    meta: Mapping[str, Any]) -> None:
    """Write ``arrays`` and ``meta`` to exactly ``path`` (no ``.npz`` suffix is added)."""
    path = Path(path)
    header = dict(meta, format=FORMAT_NAME, format_version=FORMAT_VERSION)
    payload = dict(arrays)
    payload["meta"] = np.frombuffer(json.dumps(header, sort_keys=True).encode(), np.uint8)
    directory = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_index_file(path: str | os.PathLike[str],
                    required: tuple[str, ...]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`save_index_file`; returns (arrays, meta).

    Arrays come back writable and C-contiguous. Raises :class:`InvalidInputError` when the
    file is missing, not an HNSW index file, of another format version, or incomplete.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"HNSW index file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.ascontiguousarray(npz[name]).copy() for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(
            f"{str(path)!r} is not an HNSW index file (cannot read it as .npz: {exc})") from None
    if "meta" not in arrays:
        raise InvalidInputError(f"{str(path)!r} is not an HNSW index file (no 'meta' entry)")
    try:
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError(f"{str(path)!r}: unreadable 'meta' entry") from None
    if meta.get("format") != FORMAT_NAME:
        raise InvalidInputError(f"{str(path)!r} is not an HNSW index file "
                                f"(format {meta.get('format')!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InvalidInputError(
            f"{str(path)!r} has HNSW format version {meta.get('format_version')!r}; this "
            f"vecbench reads version {FORMAT_VERSION}: rebuild the index")
    missing = [name for name in required if name not in arrays]
    if missing:
        raise InvalidInputError(f"{str(path)!r} lacks arrays {missing}: the file is damaged")
    return arrays, meta
