"""Malformed inputs (fvecs, HDF5, suite files) fuzzed with hypothesis: clear errors, never a crash.

"Clear error" means one of vecbench's own errors (a ``VecbenchError``), whose message names
the file or key at fault; anything else escaping is a bug.
"""

from __future__ import annotations

import struct
import tomllib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.config import parse_suite
from harness.data import load_dataset, read_bvecs, read_fvecs, read_ivecs
from harness.errors import VecbenchError

FUZZ = settings(max_examples=60, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(payload=st.binary(max_size=600), reader=st.sampled_from([read_fvecs, read_ivecs,
                                                                read_bvecs]))
def test_random_bytes_as_vecs_files(tmp_path, payload, reader):
    path = tmp_path / "x.vecs"
    path.write_bytes(payload)
    try:
        out = reader(path)
    except VecbenchError as exc:
        assert str(path) in str(exc)
        return
    assert out.ndim == 2 and out.shape[0] >= 1


@FUZZ
@given(rows=st.integers(1, 5), dim=st.integers(1, 6), cut=st.integers(0, 40),
       bad_header=st.one_of(st.none(), st.integers(-5, 10)), bad_row=st.integers(0, 4))
@example(rows=2, dim=1, cut=0, bad_header=3, bad_row=0)  # well-formed again: one row of 3
def test_corrupted_fvecs_files(tmp_path, rows, dim, cut, bad_header, bad_row):
    data = np.arange(rows * dim, dtype="<f4").reshape(rows, dim)
    blob = bytearray(b"".join(struct.pack("<i", dim) + r.tobytes() for r in data))
    if bad_header is not None and bad_row < rows:
        struct.pack_into("<i", blob, bad_row * (4 + 4 * dim), bad_header)
    blob = blob[: max(0, len(blob) - cut)]
    path = tmp_path / "x.fvecs"
    path.write_bytes(bytes(blob))
    intact = cut == 0 and (bad_header is None or bad_row >= rows or bad_header == dim)
    parsed = _parse_fvecs(bytes(blob))
    try:
        out = read_fvecs(path)
    except VecbenchError as exc:
        assert not intact, f"an intact file was refused: {exc}"
        assert parsed is None, f"a well-formed file was refused: {exc}"
        assert str(path) in str(exc)
        return
    # a damaged header can leave a file that is well-formed with other rows (two rows of
    # dimension 1 read as one row of dimension 3): the reader must return exactly what the
    # bytes say then, and refuse everything else
    assert parsed is not None, "a malformed file was read"
    np.testing.assert_array_equal(out, parsed)
    if intact:
        np.testing.assert_array_equal(out, data)


def _parse_fvecs(blob: bytes) -> np.ndarray | None:
    """The rows of a well-formed fvecs file (every row's header the same positive
    dimension, whole rows only), read with struct; None when it is not well-formed."""
    if len(blob) < 4:
        return None
    (dim,) = struct.unpack_from("<i", blob, 0)
    row = 4 + 4 * dim
    if dim <= 0 or len(blob) % row:
        return None
    rows = []
    for start in range(0, len(blob), row):
        if struct.unpack_from("<i", blob, start)[0] != dim:
            return None
        rows.append(struct.unpack_from(f"<{dim}f", blob, start + 4))
    return np.array(rows, dtype="<f4")


@FUZZ
@given(payload=st.binary(max_size=400))
def test_random_bytes_as_hdf5(tmp_path, payload):
    path = tmp_path / "x.hdf5"
    path.write_bytes(payload)
    with pytest.raises(VecbenchError):
        load_dataset(str(path), tmp_path / "data")


_arrays = st.one_of(
    st.tuples(st.integers(0, 6), st.integers(0, 5)).map(
        lambda s: np.random.default_rng(s[0]).normal(size=s).astype(np.float32)),
    st.integers(0, 6).map(lambda n: np.arange(n, dtype=np.int64)),
    st.tuples(st.integers(1, 4), st.integers(1, 4)).map(
        lambda s: np.ones(s, dtype=bool)),
    st.just(np.array([[np.nan, 1.0], [2.0, 3.0]], dtype=np.float32)),
    st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)).map(
        lambda s: np.zeros(s, dtype=np.float32)),
)


@FUZZ
@given(keys=st.dictionaries(st.sampled_from(["train", "test", "neighbors", "distances",
                                             "size_train", "size_test"]), _arrays, max_size=6),
       distance=st.one_of(st.none(), st.sampled_from(["euclidean", "angular", "hamming",
                                                      "jaccard", "cosine?", ""])),
       kind=st.sampled_from([None, "dense", "sparse"]))
def test_structurally_odd_hdf5_files(tmp_path, keys, distance, kind):
    import h5py

    path = tmp_path / "odd.hdf5"
    with h5py.File(path, "w") as f:
        for key, value in keys.items():
            f.create_dataset(key, data=value)
        if distance is not None:
            f.attrs["distance"] = distance
        if kind is not None:
            f.attrs["type"] = kind
    try:
        ds = load_dataset(str(path), tmp_path / "data")
    except VecbenchError:
        return
    assert ds.n_train >= 1 and ds.n_test >= 1
    assert ds.neighbors is not None and ds.neighbors.shape[0] == ds.n_test


_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-3, 20), st.floats(allow_nan=True),
              st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
_run_keys = st.sampled_from(["task", "dataset", "index", "build", "query", "k", "seeds",
                             "timeout", "repetitions", "metric", "label", "threads", "bogus"])


@FUZZ
@given(top=st.dictionaries(st.sampled_from(["name", "description", "defaults", "run", "x"]),
                           _values, max_size=4),
       runs=st.lists(st.dictionaries(_run_keys, _values, max_size=6), max_size=3))
def test_malformed_suite_mappings(top, runs):
    data = dict(top)
    if runs:
        data["run"] = runs
    try:
        parse_suite(data)
    except VecbenchError:
        return


@FUZZ
@given(text=st.text(max_size=200))
def test_random_text_as_suite_file(tmp_path, text):
    from harness.config import load_suite

    path = tmp_path / "s.toml"
    path.write_text(text)
    try:
        tomllib.loads(path.read_text())  # as read back (newlines normalised)
    except tomllib.TOMLDecodeError:
        with pytest.raises(VecbenchError, match="not valid TOML"):
            load_suite(path)
        return
    try:
        load_suite(path)
    except VecbenchError:
        return
