"""Bitmaps: the in-house bitmap (dense, containers, auto) and the pyroaring wrapper against
a Python ``set`` (hypothesis state machine), numpy's bit packing, faiss' IDSelectorBitmap,
pyroaring's portable serialisation and CRoaring's container statistics; the hook and the
``bitmap-ops`` task."""

from __future__ import annotations

import struct
import textwrap

import numpy as np
import pyroaring
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from harness import InvalidInputError
from plugins import bitmap as bm_mod
from plugins._roaring import ARRAY_MAX, BLOCK
from plugins.bitmap import Bitmap, as_bitmap, as_mask, make_bitmap
from plugins.bitmap_wrappers import RoaringBitmap, make_pyroaring

CHUNK = 1 << 16
#: two full containers and a partial one, so ids cross container boundaries
N_BITS = 2 * CHUNK + 1234
EVERY_ID = frozenset(range(N_BITS))

IMPLS = {
    "auto": lambda n, ids=None: make_bitmap(n, ids, "auto"),
    "dense": lambda n, ids=None: make_bitmap(n, ids, "dense"),
    "containers": lambda n, ids=None: make_bitmap(n, ids, "containers"),
    "pyroaring": make_pyroaring,
}


def _ids(bm) -> list[int]:
    return np.asarray(bm.to_array(), dtype=np.int64).tolist()


def _sorted(ids: set[int]) -> np.ndarray:
    return np.sort(np.fromiter(ids, dtype=np.int64, count=len(ids)))


def check_containers(bm: Bitmap, ordered: np.ndarray) -> None:
    """Roaring's invariants against the sorted ids of the model: one row per non-empty 2**16
    chunk, in key order, with its cardinality; array containers (cardinality <= 4096) hold
    exactly the chunk's low bits, strictly increasing; bitset containers have that many bits
    set."""
    cont = bm._cont
    if cont is None:
        return
    rows = cont.rows()
    keys, counts = np.unique(ordered >> 16, return_counts=True)
    assert np.array_equal(rows[:, 0], keys) and np.array_equal(rows[:, 1], counts)
    starts = np.searchsorted(ordered, keys << 16)
    for (key, card, off), start in zip(rows.tolist(), starts.tolist(), strict=True):
        low = ordered[start:start + card] - (key << 16)
        if card <= ARRAY_MAX:
            assert np.array_equal(cont.values[off:off + card].astype(np.int64), low)
        else:
            block = cont.words[off * BLOCK:(off + 1) * BLOCK]
            assert int(np.bitwise_count(block).sum()) == card
            bits = np.unpackbits(block.view(np.uint8), bitorder="little")
            assert np.array_equal(np.flatnonzero(bits), low)


# --------------------------------------------------------------------------- the hook


def test_hook_register_bitmaps(tmp_path, vecbench_plugin_host):
    path = tmp_path / "vb_hook_bitmaps.py"
    path.write_text(textwrap.dedent("""
        from harness import BitmapInfo, Param, hookimpl

        class SetBitmap(set):
            def __init__(self, n_bits, ids=None):
                super().__init__(() if ids is None else ids)
                self.n_bits = n_bits

        @hookimpl
        def register_bitmaps(register):
            register(BitmapInfo("hook-test-bitmap", factory=SetBitmap,
                                description="a Python set with a universe",
                                query_params=(Param("n_bits", 100, int),
                                              Param("density", 0.1, float)),
                                query_grid={"n_bits": [100], "density": [0.1, 0.5]}))
    """))
    host = vecbench_plugin_host(str(path))
    status = host.status["vb_hook_bitmaps"]
    assert status.error is None, status.error
    assert status.hooks == ["register_bitmaps"]
    entry = host.registry.bitmaps.get_entry("hook-test-bitmap")
    assert entry.provider == "vb_hook_bitmaps"
    assert status.provides == {"bitmap": ["hook-test-bitmap"]}
    made = entry.info.factory(100, [3, 5, 3])
    assert sorted(made) == [3, 5] and made.n_bits == 100
    # the built-in ones are registered through the same hook
    assert {"bitmap", "pyroaring"} <= set(host.registry.bitmaps.names())


# --------------------------------------------------------------------------- state machine

_point = st.one_of(st.integers(0, N_BITS - 1),
                   st.integers(CHUNK - 50, CHUNK + 50),  # around a container boundary
                   st.integers(CHUNK, CHUNK + 8000))  # a chunk that fills up


@st.composite
def _id_batches(draw) -> np.ndarray:
    """Sorted unique ids: scattered points plus, often, a run long enough to cross 4096."""
    points = draw(st.lists(_point, max_size=60))
    if draw(st.booleans()):
        start = draw(st.integers(0, N_BITS - 1))
        length = draw(st.sampled_from([1, 100, 4000, 4097, 6000]))
        points += range(start, min(N_BITS, start + length))
    return np.unique(np.asarray(points, dtype=np.int64))


class BitmapMachine(RuleBasedStateMachine):
    """Every implementation and a Python set go through the same operations."""

    def __init__(self) -> None:
        super().__init__()
        self.model: set[int] = set()
        self.bms = {name: make(N_BITS) for name, make in IMPLS.items()}

    def _replace(self, fn) -> None:
        for name in self.bms:
            self.bms[name] = fn(self.bms[name])

    @rule(i=_point)
    def add(self, i):
        for bm in self.bms.values():
            bm.add(i)
        self.model.add(i)

    @rule(i=_point)
    def discard(self, i):
        for bm in self.bms.values():
            bm.discard(i)
        self.model.discard(i)

    @rule(ids=_id_batches())
    def update(self, ids):
        for bm in self.bms.values():
            bm.update(ids)
        self.model |= set(ids.tolist())

    @rule(ids=_id_batches())
    def difference_update(self, ids):
        for bm in self.bms.values():
            bm.difference_update(ids)
        self.model -= set(ids.tolist())

    @rule(start=st.integers(0, N_BITS), length=st.sampled_from([0, 1, 63, 4096, 9000, CHUNK]),
          remove=st.booleans())
    def ranges(self, start, length, remove):
        stop = min(N_BITS, start + length)
        for bm in self.bms.values():
            (bm.remove_range if remove else bm.add_range)(start, stop)
        if remove:
            self.model -= set(range(start, stop))
        else:
            self.model |= set(range(start, stop))

    @rule(ids=_id_batches(), op=st.sampled_from(["and", "or", "xor", "andnot"]),
          in_place=st.booleans())
    def combine(self, ids, op, in_place):
        other = set(ids.tolist())
        for name, make in IMPLS.items():
            bm, b = self.bms[name], make(N_BITS, ids)
            if in_place:
                if op == "and":
                    bm &= b
                elif op == "or":
                    bm |= b
                elif op == "xor":
                    bm ^= b
                else:
                    bm -= b
                result = bm
            else:
                before = np.asarray(bm.to_array(), dtype=np.int64)
                if op == "and":
                    result = bm & b
                elif op == "or":
                    result = bm | b
                elif op == "xor":
                    result = bm ^ b
                else:
                    result = bm - b
                assert np.array_equal(bm.to_array(), before), f"{name}: {op} changed its left"
            assert np.array_equal(b.to_array(), ids), f"{name}: {op} changed its right operand"
            self.bms[name] = result
        self.model = {"and": self.model & other, "or": self.model | other,
                      "xor": self.model ^ other, "andnot": self.model - other}[op]

    @rule()
    def complement(self):
        self._replace(lambda bm: bm.complement())
        self.model = set(EVERY_ID - self.model)

    @rule()
    def serialize_round_trip(self):
        self._replace(lambda bm: type(bm).deserialize(bm.serialize()))

    @rule()
    def copy_is_independent(self):
        last = N_BITS - 1
        for name in self.bms:
            copy = self.bms[name].copy()
            if last in self.model:
                copy.discard(last)
            else:
                copy.add(last)
            assert len(self.bms[name]) == len(self.model), name

    @precondition(lambda self: len(self.model) > 0)
    @rule(probes=st.lists(st.integers(0, N_BITS - 1), min_size=1, max_size=20))
    def queries(self, probes):
        ordered = _sorted(self.model)
        ranks = np.searchsorted(ordered, probes[:5], side="right").tolist()
        for name, bm in self.bms.items():
            assert bm.min() == ordered[0] and bm.max() == ordered[-1], name
            got = np.asarray(bm.contains_many(np.asarray(probes)), dtype=bool).tolist()
            assert got == [p in self.model for p in probes], name
            for p, rank in zip(probes[:5], ranks, strict=False):
                assert (p in bm) == (p in self.model), name
                assert bm.rank(p) == rank, name

    @invariant()
    def same_contents(self):
        ordered = _sorted(self.model)
        for name, bm in self.bms.items():
            assert len(bm) == len(self.model), name
            assert np.array_equal(np.asarray(bm.to_array(), dtype=np.int64), ordered), name
            if isinstance(bm, Bitmap):
                check_containers(bm, ordered)


BitmapMachine.TestCase.settings = settings(
    max_examples=30, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
test_every_implementation_behaves_like_a_python_set = BitmapMachine.TestCase


# --------------------------------------------------------------------------- closed forms

_small_sets = st.sets(st.integers(0, 9999), max_size=300)


@settings(max_examples=40, deadline=None)
@given(a=_small_sets, b=_small_sets, impl=st.sampled_from(sorted(IMPLS)))
def test_set_algebra_identities(a, b, impl):
    n = 10_000
    make = IMPLS[impl]
    A, B = make(n, sorted(a)), make(n, sorted(b))
    inter = A.intersection_cardinality(B)
    assert len(A | B) == len(A) + len(B) - inter == A.union_cardinality(B)
    assert _ids(A ^ B) == _ids((A | B) - (A & B))
    assert _ids(A - B) == _ids(A & B.complement())
    assert _ids((A | B).complement()) == _ids(A.complement() & B.complement())  # De Morgan
    assert _ids(A & B) == _ids(B & A) and _ids(A | A) == _ids(A)
    assert A.difference_cardinality(B) == len(a - b)
    assert A.symmetric_difference_cardinality(B) == len(a ^ b)
    union = a | b
    assert A.jaccard_index(B) == pytest.approx(len(a & b) / len(union) if union else 1.0)


# --------------------------------------------------------------------------- bit layout


def test_bytes_are_numpy_little_bit_order_and_select_the_set_in_faiss():
    import faiss

    rng = np.random.default_rng(3)
    n, d, k = 1003, 8, 7  # n not a multiple of 8 or 64
    mask = rng.random(n) < 0.3
    for form in ("dense", "containers", "auto"):
        bm = Bitmap.from_mask(mask, form=form)
        assert bm.to_bytes() == np.packbits(mask, bitorder="little").tobytes()
        assert np.array_equal(bm.to_mask(), mask)
        assert _ids(Bitmap.from_bytes(bm.to_bytes(), n, form=form)) == np.flatnonzero(
            mask).tolist()
    x = rng.standard_normal((n, d)).astype(np.float32)
    q = rng.standard_normal((5, d)).astype(np.float32)
    index = faiss.IndexFlatL2(d)
    index.add(x)
    packed = np.frombuffer(Bitmap.from_mask(mask).to_bytes(), dtype=np.uint8).copy()
    sel = faiss.IDSelectorBitmap(n, faiss.swig_ptr(packed))
    _, ids = index.search(q, k, params=faiss.SearchParameters(sel=sel))
    allowed = np.flatnonzero(mask)
    dist = ((q[:, None, :].astype(np.float64) - x[allowed][None]) ** 2).sum(-1)
    expect = allowed[np.argsort(dist, axis=1, kind="stable")[:, :k]]
    assert np.array_equal(np.sort(ids, axis=1), np.sort(expect, axis=1))


def test_portable_bytes_interoperate_with_pyroaring_both_ways():
    rng = np.random.default_rng(5)
    n = 5 * CHUNK
    ids = np.unique(np.concatenate([rng.integers(0, n, 3000),  # arrays
                                    np.arange(CHUNK + 10, CHUNK + 9000),  # a bitset
                                    rng.integers(3 * CHUNK, 4 * CHUNK, 20000)]))
    for form in ("dense", "containers", "auto"):
        mine = Bitmap(n, ids, form=form)
        theirs = pyroaring.BitMap.deserialize(mine.to_portable())
        assert np.array_equal(np.asarray(theirs.to_array(), dtype=np.int64), ids)
    for run_optimize in (False, True):
        theirs = pyroaring.BitMap(ids.astype(np.uint32).tolist())
        theirs.add_range(4 * CHUNK + 5, 4 * CHUNK + 70000 - CHUNK)  # run containers
        if run_optimize:
            theirs.run_optimize()
        back = Bitmap.from_portable(theirs.serialize(), n, form="containers")
        assert _ids(back) == list(theirs)
        check_containers(back, np.asarray(theirs.to_array(), dtype=np.int64))


def test_many_array_container_pairs_combine_exactly():
    # 600 chunks of array containers (about 90 and 75 ids each, some shared) through every
    # set operation of the vector kernels; numpy's set operations are the oracle
    rng = np.random.default_rng(7)
    n_bits = 600 * 2**16
    for _ in range(3):
        a = np.unique(rng.integers(0, n_bits, 60_000))
        b = np.unique(np.concatenate([rng.integers(0, n_bits, 50_000), a[::7]]))
        x, y = Bitmap(n_bits, a, form="containers"), Bitmap(n_bits, b, form="containers")
        both = np.intersect1d(a, b)
        assert x.intersection_cardinality(y) == len(both)
        assert np.array_equal((x & y).to_array(), both)
        assert np.array_equal((x - y).to_array(), np.setdiff1d(a, b))
        assert np.array_equal((y - x).to_array(), np.setdiff1d(b, a))
        assert np.array_equal((x | y).to_array(), np.union1d(a, b))
        assert np.array_equal((x ^ y).to_array(), np.setxor1d(a, b))


def test_container_type_flips_exactly_at_4096_as_in_croaring():
    base = list(range(0, 2 * ARRAY_MAX, 2))[:ARRAY_MAX]  # 4096 ids in chunk 0
    bm = Bitmap(2 * CHUNK, base, form="containers")
    theirs = pyroaring.BitMap(base)
    for step in ("start", "add", "discard"):
        if step == "add":
            bm.add(1)
            theirs.add(1)
        elif step == "discard":
            bm.discard(1)
            theirs.discard(1)
        stats = theirs.get_statistics()
        rows = bm._cont.rows()
        arrays = int((rows[:, 1] <= ARRAY_MAX).sum())
        assert (arrays, len(rows) - arrays) == (stats["n_array_containers"],
                                                 stats["n_bitset_containers"]), step
        check_containers(bm, np.asarray(theirs.to_array(), dtype=np.int64))


def test_auto_form_follows_density_with_hysteresis():
    n = 1 << 20
    low, high = bm_mod.SPARSE_BELOW, bm_mod.DENSE_ABOVE
    step = lambda density: max(1, round(1 / density))  # noqa: E731
    sparse = Bitmap(n, np.arange(0, n, step(low / 2)))
    dense = Bitmap(n, np.arange(0, n, step(high * 2)))
    assert sparse.representation == "containers" and dense.representation == "dense"
    middle = np.arange(0, n, step((low * high) ** 0.5))  # between the thresholds
    assert (dense & Bitmap(n, middle, form="dense")).representation == "dense"
    assert (sparse | Bitmap(n, middle, form="containers")).representation == "containers"
    assert Bitmap(n, middle).representation == "containers"  # built: starts compressed
    assert (dense & sparse).representation == "containers"
    assert (dense | sparse).representation == "dense"


# --------------------------------------------------------------------------- bad input


def test_bad_input_fails_with_messages_naming_the_problem():
    bm = Bitmap(100, [1, 2])
    with pytest.raises(InvalidInputError, match="outside"):
        bm.add(100)
    with pytest.raises(InvalidInputError, match="outside"):
        Bitmap(100, [5, -1])
    with pytest.raises(InvalidInputError, match=r"integers.*from_mask"):
        Bitmap(100, np.ones(100, dtype=bool))
    with pytest.raises(InvalidInputError, match="integers"):
        Bitmap(100, [1.5])
    with pytest.raises(InvalidInputError, match="1-D"):
        Bitmap(100, [[1, 2]])
    with pytest.raises(InvalidInputError, match="n_bits"):
        Bitmap(2**32 + 1)
    with pytest.raises(InvalidInputError, match="form"):
        Bitmap(10, form="sparse")
    with pytest.raises(InvalidInputError, match="different universes"):
        bm & Bitmap(101)
    with pytest.raises(TypeError):
        bm & {1, 2}
    with pytest.raises(InvalidInputError, match="range"):
        bm.add_range(5, 101)
    with pytest.raises(KeyError):
        bm.remove(50)
    with pytest.raises(ValueError, match="empty"):
        Bitmap(10).min()
    with pytest.raises(InvalidInputError, match="bytes"):
        Bitmap.from_bytes(b"\x00", 100)
    with pytest.raises(InvalidInputError, match="beyond"):
        Bitmap.from_bytes(b"\xff", 3)
    pr = make_pyroaring(100, [1])
    with pytest.raises(InvalidInputError, match="outside"):
        pr.add(100)
    with pytest.raises(InvalidInputError, match="different universes"):
        pr | make_pyroaring(50)
    assert len(pr.complement()) == 99


def test_deserialize_rejects_damaged_bytes():
    good = Bitmap(5 * CHUNK, [1, 2, CHUNK + 7], form="containers").serialize()
    with pytest.raises(InvalidInputError, match="magic"):
        Bitmap.deserialize(b"XXXX" + good[4:])
    with pytest.raises(InvalidInputError, match="truncated"):
        Bitmap.deserialize(good[:-1])
    with pytest.raises(InvalidInputError, match="follow"):
        Bitmap.deserialize(good + b"\x00\x00")
    with pytest.raises(InvalidInputError, match="short"):
        Bitmap.deserialize(good[:5])
    # the same ids declared in a universe that is too small
    head = struct.pack("<4sBBBxQ", b"VBBM", 1, 2, 1, 10)
    with pytest.raises(InvalidInputError, match="outside"):
        Bitmap.deserialize(head + good[16:])
    # RoaringFormatSpec bytes of one array container declaring 3 values: 1, 2, 2
    repeated = (struct.pack("<II", 12346, 1) + struct.pack("<HH", 0, 2) + struct.pack("<I", 16)
                + struct.pack("<HHH", 1, 2, 2))
    with pytest.raises(InvalidInputError, match="cardinality"):
        Bitmap.from_portable(repeated, CHUNK)
    assert _ids(Bitmap.from_portable(repeated[:-2] + struct.pack("<H", 3), CHUNK)) == [1, 2, 3]
    # dense words with a bit set beyond n_bits = 70
    head = struct.pack("<4sBBBxQ", b"VBBM", 1, 1, 0, 70)
    assert _ids(Bitmap.deserialize(head + struct.pack("<QQ", 1, 1 << 5))) == [0, 69]
    with pytest.raises(InvalidInputError, match="beyond"):
        Bitmap.deserialize(head + struct.pack("<QQ", 0, 1 << 63))
    with pytest.raises(InvalidInputError, match="pyroaring"):
        RoaringBitmap.deserialize(good)


def test_filter_conversions_between_masks_ids_and_bitmaps():
    mask = np.zeros(50, dtype=bool)
    mask[[0, 7, 49]] = True
    bm = as_bitmap(mask, 50)
    assert _ids(bm) == [0, 7, 49] and as_bitmap(bm, 50) is bm
    assert np.array_equal(as_mask(bm, 50), mask)
    assert np.array_equal(as_mask(np.array([0, 7, 49]), 50), mask)
    assert np.array_equal(as_mask(pyroaring.BitMap([0, 7, 49]), 50), mask)
    assert _ids(as_bitmap(pyroaring.BitMap([0, 7, 49]), 50)) == [0, 7, 49]
    assert as_mask(mask, 50) is mask
    with pytest.raises(InvalidInputError, match="n_bits=50"):
        as_mask(bm, 60)
    with pytest.raises(InvalidInputError, match="shape"):
        as_mask(np.ones(10, dtype=bool), 50)
    with pytest.raises(InvalidInputError, match="outside"):
        as_mask(np.array([50]), 50)


# --------------------------------------------------------------------------- the bitmap-ops task

from plugins.bitmap_task import (  # noqa: E402 - grouped with the task's tests
    InvalidBitmapResult,
    bitmap_ops_worker,
    bitmap_table,
    draw_ids,
    parse_options,
    plot_bitmap_ops,
    verify,
)


def test_operands_follow_their_distribution():
    rng = np.random.default_rng(11)
    n, p = 2_000_000, 0.01
    ids = draw_ids(n, p, "uniform", rng)
    assert np.all(np.diff(ids) > 0) and ids[0] >= 0 and ids[-1] < n
    sigma = np.sqrt(n * p * (1 - p))
    assert abs(len(ids) - n * p) < 6 * sigma
    # gaps of a Bernoulli process are geometric: mean 1/p
    assert np.mean(np.diff(ids)) == pytest.approx(1 / p, rel=0.05)
    runs_ids = draw_ids(n, 0.05, "clustered", rng)
    assert np.all(np.diff(runs_ids) > 0) and runs_ids[-1] < n
    breaks = np.count_nonzero(np.diff(runs_ids) > 1) + 1
    assert len(runs_ids) / breaks == pytest.approx(64 * (1 - 0.05), rel=0.2)
    assert len(runs_ids) / n == pytest.approx(0.05, rel=0.2)
    assert len(draw_ids(1000, 0.0, "uniform", rng)) == 0
    assert len(draw_ids(1000, 1.0, "clustered", rng)) == 1000


def test_verify_catches_a_wrong_answer():
    class Broken(Bitmap):
        def __and__(self, other):
            out = Bitmap.__and__(self, other)
            out.discard(out.max())
            return out

    def make_broken(n, ids=None):
        return Broken(n, ids)

    ia, ib = np.arange(0, 500, 2), np.arange(0, 500, 3)
    verify(make_bitmap, 500, ia, ib, np.arange(0, 500, 7))
    with pytest.raises(InvalidBitmapResult, match="and differs"):
        verify(make_broken, 500, ia, ib, np.arange(0, 500, 7))


def test_options_are_checked():
    assert parse_options({})["batch"] == 10_000
    with pytest.raises(InvalidInputError, match="unknown operation"):
        parse_options({"ops": ["and", "nand"]})
    with pytest.raises(InvalidInputError, match="unknown run key"):
        parse_options({"densities": [0.1]})
    with pytest.raises(InvalidInputError, match="batch"):
        parse_options({"batch": 0})


def _bitmap_sweep(data_dir, bitmap, build, query, extra):
    from harness.config import expand, parse_suite
    from harness.plugins import get_registry
    from harness.runner import GroupJob

    registry = get_registry()
    run = {"task": "bitmap-ops", "dataset": "bitmap-uniform", "bitmap": bitmap,
           "query": query, **extra}
    if build is not None:
        run["build"] = build
    suite = parse_suite({"run": [run]}, registry=registry)
    out = []
    for group in expand(suite, registry):
        job = GroupJob(specs=group.specs, dataset="bitmap-uniform", metric="euclidean",
                       data_dir=str(data_dir), extra_modules=[], index_name=group.first.index,
                       task="bitmap-ops")
        for kind, payload in bitmap_ops_worker(job):
            assert kind != "point_error", payload["error"]
            if kind == "point":
                out.append((group.first, group.specs[payload["i"]], payload))
    return out


def test_bitmap_ops_sweep_times_every_operation_and_plots(tmp_path):
    import jsonschema
    import pandas as pd

    from harness.results import schema

    points = _bitmap_sweep(tmp_path, ["bitmap", "pyroaring"], None,
                           {"n_bits": [5000], "density": [0.01, 0.4]},
                           {"min_seconds": 0.0, "batch": 200,
                            "ops": ["from_ids", "and", "iand", "deserialize", "add", "contains",
                                    "update", "rank", "intersection_cardinality"]})
    assert len(points) == (3 + 1) * 2  # three forms of the in-house bitmap, pyroaring
    measures_schema = schema()["properties"]["measures"]
    rows = []
    for first, spec, payload in points:
        m = payload["measures"]
        jsonschema.validate(m, measures_schema)
        for op in ("and", "iand", "from_ids", "deserialize", "intersection_cardinality"):
            assert m[f"{op}_seconds"] > 0
        for op in ("add", "contains", "update", "rank"):
            assert m[f"{op}_ns"] > 0
        assert m["card_a"] == pytest.approx(5000 * spec.query["density"], abs=6 * np.sqrt(
            5000 * spec.query["density"]))
        assert m["memcpy_gbps"] > 0 and m["bytes_a"] > 0
        assert "xor_seconds" not in m
        rows.append({"task": "bitmap-ops", "status": "ok", "dataset": "bitmap-uniform",
                     "index": first.index, "build": str(first.build).replace("'", '"'),
                     "seed": 0, **m})
    df = pd.DataFrame(rows)
    table = bitmap_table(df, "and")
    assert table.shape == (2, 4)
    assert bitmap_table(df, "add").shape == (2, 4)
    files = plot_bitmap_ops(df, tmp_path / "plots", ops=("and",))
    assert sorted(f.name for f in files) == ["bitmap-bitmap-uniform-and.png",
                                             "bitmap-bitmap-uniform-and.svg"]
    assert files[0].read_bytes()[:4] == b"\x89PNG"


def test_bitmap_ops_in_the_runners_isolated_process(tmp_path):
    from harness.config import expand, parse_suite
    from harness.data import load_dataset
    from harness.plugins import get_registry
    from harness.runner import GroupJob, run_group

    registry = get_registry()
    suite = parse_suite({"run": [{"task": "bitmap-ops", "dataset": "bitmap-clustered",
                                  "bitmap": "bitmap", "build": {"form": "auto"},
                                  "query": {"n_bits": 3000, "density": [0.02, 0.5]},
                                  "ops": ["and", "contains"], "min_seconds": 0.0}]},
                        registry=registry)
    (group,) = expand(suite, registry)
    ds = load_dataset("bitmap-clustered", tmp_path)
    job = GroupJob(specs=group.specs, dataset="bitmap-clustered", metric="euclidean",
                   data_dir=str(tmp_path), extra_modules=[], index_name="bitmap",
                   task="bitmap-ops", dataset_checksum=ds.checksum)
    outcomes = list(run_group(job))
    assert [o.status for o in outcomes] == ["ok", "ok"], [o.error for o in outcomes]
    assert set(outcomes[0].measures) >= {"and_seconds", "contains_ns", "card_a"}
    assert "xor_seconds" not in outcomes[0].measures


def test_builtin_bitmap_suite_covers_the_issue_grid():
    from harness.config import expand, load_suite
    from harness.plugins import get_registry

    registry = get_registry()
    groups = expand(load_suite("bitmap-ops", registry), registry)
    points = {(g.first.index, s.query["n_bits"], s.query["density"]) for g in groups
              for s in g.specs}
    sizes = {p[1] for p in points}
    densities = {p[2] for p in points}
    assert min(sizes) == 10**4 and max(sizes) == 10**8
    assert min(densities) == 0.0001 and max(densities) == 0.5
    assert {p[0] for p in points} == {"bitmap", "pyroaring"}
    forms = {g.first.build.get("form") for g in groups if g.first.index == "bitmap"}
    assert forms == {"auto", "dense", "containers"}
    for g in groups:
        parse_options(g.first.extra)


def test_dense_and_with_a_sparse_result_builds_containers_in_one_pass():
    # two auto-form dense operands whose AND is expected (|A||B|/n) far below the sparse
    # threshold: the containers are built straight from the words. Three cases: random
    # operands (array containers), a shared block of 5,000 ids (a bitset container), and
    # correlated operands whose AND is not sparse after all (the result goes back to the
    # dense form, as a dense AND would have left it)
    chunk = 2**16
    n = 400 * chunk
    rng = np.random.default_rng(3)

    def draw(extra):
        return np.union1d(np.flatnonzero(rng.random(n) < 1 / 200), extra)

    shared_block = np.arange(7 * chunk + 100, 7 * chunk + 5100)
    shared_chunk = np.arange(9 * chunk, 10 * chunk)
    for extra, form in ((np.zeros(0, np.int64), "containers"), (shared_block, "containers"),
                        (shared_chunk, "dense")):
        a, b = draw(extra), draw(extra)
        x, y = Bitmap(n, a), Bitmap(n, b)
        assert x.representation == y.representation == "dense"
        got = x & y
        assert got.representation == form
        if len(extra) == len(shared_block):  # the block became a bitset container
            assert got._cont is not None and got._cont.meta[:, 1].max() > ARRAY_MAX
        assert np.array_equal(got.to_array(), np.intersect1d(a, b))
        assert len(got) == len(np.intersect1d(a, b))
        x &= y
        assert x.representation == form and np.array_equal(x.to_array(), got.to_array())


def test_mixed_forms_with_bitset_containers_in_a_partial_last_chunk():
    # one operand dense, the other containers holding bitset containers, in a universe that
    # ends inside its last chunk: every operation both ways, against numpy
    chunk = 2**16
    n = 3 * chunk + 12_345
    rng = np.random.default_rng(21)
    full = np.arange(2 * chunk, n)  # the partial last chunk, densely filled
    a = np.union1d(rng.choice(n, 3000, replace=False), full[rng.random(len(full)) < 0.6])
    b = np.flatnonzero(rng.random(n) < 0.3)
    x, y = Bitmap(n, a, form="containers"), Bitmap(n, b, form="dense")
    want = {"and": np.intersect1d(a, b), "or": np.union1d(a, b), "xor": np.setxor1d(a, b),
            "andnot": np.setdiff1d(a, b), "andnot_r": np.setdiff1d(b, a)}
    for p, q in ((x, y), (y, x)):
        assert np.array_equal((p & q).to_array(), want["and"])
        assert np.array_equal((p | q).to_array(), want["or"])
        assert np.array_equal((p ^ q).to_array(), want["xor"])
        assert p.intersection_cardinality(q) == len(want["and"])
    assert np.array_equal((x - y).to_array(), want["andnot"])
    assert np.array_equal((y - x).to_array(), want["andnot_r"])
    for name, op in (("or", "__ior__"), ("xor", "__ixor__"), ("andnot_r", "__isub__")):
        z = Bitmap(n, b, form="dense")
        z = getattr(z, op)(x)
        assert np.array_equal(z.to_array(), want[name]), name
