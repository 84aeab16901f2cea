"""The ``bitmap-ops`` task: throughput of every bitmap operation, implementation by
implementation, over universe sizes and densities.

A suite's ``[[run]]`` with ``task = "bitmap-ops"`` names the bitmap plugins under test
(``bitmap = ["bitmap", "pyroaring"]``) and one of the operand datasets registered here:

- ``bitmap-uniform``: each operand holds every id independently with probability
  ``density`` (a Bernoulli process drawn through geometric gaps, so the cost is proportional
  to the ids, not to the universe);
- ``bitmap-clustered``: ids come in runs (mean length 64) separated by gaps whose mean
  makes the expected density ``density``: what a filter over sorted or grouped data looks
  like.

They hold no vectors of their own (a 2 x 1 placeholder: every dataset goes through the
harness' loader); they name how operands are drawn. Each query point (the plugin's query
parameters ``n_bits`` and ``density``) draws two operands A and B (seeded by the spec's
seed and the point), checks every operation once against a numpy oracle on the sorted id
arrays (a wrong answer makes the record ``invalid-result``), then times each operation.

Measures (defined in ``docs/bitmaps.md``): ``<op>_seconds`` (median wall seconds of one
call) for the whole-bitmap operations, ``<op>_ns`` (nanoseconds per id) for the single and
batch id operations, ``memcpy_gbps`` (a plain copy of ``n_bits / 8`` bytes in the same
process, the bandwidth yardstick), ``intersection_cardinality_gbps`` (the two operands'
dense size over the seconds of ``intersection_cardinality``), ``card_a``, ``card_b``,
``density_a`` and ``bytes_a`` (what operand A holds, the implementation's own report).

:func:`bitmap_table` and :func:`plot_bitmap_ops` turn records into a side-by-side table
and one figure per operation.
"""

from __future__ import annotations

import time
import traceback
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from harness import DataKind, Dataset, DatasetInfo, InvalidInputError, TaskInfo, hookimpl

#: operations on whole bitmaps: name -> what is timed (one call)
BULK_OPS = ("from_ids", "copy", "and", "or", "xor", "andnot", "iand", "ior", "ixor",
            "iandnot", "complement", "intersection_cardinality", "union_cardinality",
            "cardinality", "to_array", "serialize", "deserialize")
#: operations on ids, timed per id
ID_OPS = ("add", "discard", "contains", "update", "difference_update", "contains_many",
          "rank")
ALL_OPS = BULK_OPS + ID_OPS
WORKLOADS = ("uniform", "clustered")
RUN_LENGTH = 64

RUN_KEYS: dict[str, str] = {
    "ops": "operations to time (default: all of them; see docs/bitmaps.md)",
    "min_seconds": "time spent measuring each operation, at least (default 0.05)",
    "batch": "ids per single and batch id operation (default 10000)",
}
DEFAULTS: dict[str, Any] = {"ops": list(ALL_OPS), "min_seconds": 0.05, "batch": 10_000}


class InvalidBitmapResult(Exception):
    """An implementation's answer differs from the numpy oracle."""


# --------------------------------------------------------------------------- datasets


def _placeholder(name: str, workload: str) -> Dataset:
    return Dataset(name=name, metric="euclidean", kind=DataKind.DENSE,
                   train=np.zeros((2, 1), dtype=np.float32),
                   test=np.zeros((1, 1), dtype=np.float32),
                   meta={"bitmap_workload": workload})


def workload_of(ds: Dataset) -> str:
    """The operand distribution a dataset names, or a clear error."""
    workload = (ds.meta or {}).get("bitmap_workload")
    if workload not in WORKLOADS:
        raise InvalidInputError(f"bitmap-ops task: dataset {ds.name!r} is not an operand "
                                f"dataset; use one of "
                                f"{[f'bitmap-{w}' for w in WORKLOADS]}")
    return str(workload)


def draw_ids(n_bits: int, density: float, workload: str, rng: np.random.Generator,
             ) -> np.ndarray:
    """Sorted unique int64 ids in ``[0, n_bits)``: each id independently with probability
    ``density`` (``uniform``) or runs of mean length 64 (``clustered``)."""
    if density <= 0 or n_bits == 0:
        return np.zeros(0, dtype=np.int64)
    if density >= 1:
        return np.arange(n_bits, dtype=np.int64)
    expect = n_bits * density
    chunk = int(expect + 6 * np.sqrt(expect) + 64)
    if workload == "uniform":
        parts, pos = [], -1
        while pos < n_bits:
            gaps = rng.geometric(density, size=chunk)
            ids = pos + np.cumsum(gaps)
            parts.append(ids)
            pos = int(ids[-1])
        ids = np.concatenate(parts)
        return ids[ids < n_bits].astype(np.int64)
    # clustered: alternating runs (mean RUN_LENGTH) and gaps (mean RUN_LENGTH (1-d)/d)
    run_p = 1.0 / RUN_LENGTH
    gap_p = min(1.0, density / (RUN_LENGTH * (1.0 - density)))
    starts, lengths, pos = [], [], 0
    n_runs = max(16, int(expect / RUN_LENGTH * 1.2) + 16)
    while pos < n_bits:
        gaps = rng.geometric(gap_p, size=n_runs) - 1
        runs = rng.geometric(run_p, size=n_runs)
        begin = pos + np.cumsum(gaps + np.concatenate([[0], runs[:-1]]))
        starts.append(begin)
        lengths.append(runs)
        pos = int(begin[-1] + runs[-1])
    start = np.concatenate(starts)
    length = np.concatenate(lengths)
    keep = start < n_bits
    start, length = start[keep], np.minimum(length[keep], n_bits - start[keep])
    offsets = np.repeat(start - np.concatenate([[0], np.cumsum(length)[:-1]]), length)
    return (np.arange(int(length.sum()), dtype=np.int64) + offsets).astype(np.int64)


# --------------------------------------------------------------------------- options


def parse_options(extra: Mapping[str, Any]) -> dict[str, Any]:
    """Run keys with defaults filled in and checked."""
    unknown = sorted(set(extra) - set(RUN_KEYS))
    if unknown:
        raise InvalidInputError(f"bitmap-ops task: unknown run key {unknown[0]!r}; known: "
                                f"{sorted(RUN_KEYS)}")
    opts = {**DEFAULTS, **extra}
    ops = opts["ops"]
    if isinstance(ops, str):
        ops = [ops]
    if not isinstance(ops, list) or not ops:
        raise InvalidInputError("bitmap-ops task: ops must be a non-empty list of names")
    for op in ops:
        if op not in ALL_OPS:
            raise InvalidInputError(f"bitmap-ops task: unknown operation {op!r}; known: "
                                    f"{list(ALL_OPS)}")
    for key, kind, low in (("min_seconds", float, 0.0), ("batch", int, 1)):
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low or (
                kind is int and not float(value).is_integer()):
            raise InvalidInputError(f"bitmap-ops task: {key} must be a {kind.__name__} >= "
                                    f"{low}, got {value!r}")
    return {"ops": list(dict.fromkeys(ops)), "min_seconds": float(opts["min_seconds"]),
            "batch": int(opts["batch"])}


# --------------------------------------------------------------------------- timing


def time_call(fn: Callable[[], Any], min_seconds: float, setup: Callable[[], Any] | None = None,
              max_calls: int = 10_000) -> float:
    """Median wall seconds of ``fn()`` over repeated calls (at least 3, until
    ``min_seconds`` is spent). ``setup()``, untimed, runs before each call and its result
    is passed to ``fn``."""
    times: list[int] = []
    spent = 0
    clock = time.perf_counter_ns
    while len(times) < 3 or (spent < min_seconds * 1e9 and len(times) < max_calls):
        arg = setup() if setup is not None else None
        t0 = clock()
        if setup is None:
            fn()
        else:
            fn(arg)  # type: ignore[call-arg]
        dt = clock() - t0
        times.append(dt)
        spent += dt
    return float(np.median(times)) / 1e9


def memcpy_gbps(n_bytes: int, min_seconds: float) -> float:
    """GB/s of a plain copy of ``n_bytes`` (numpy ``copyto``) in this process."""
    src = np.ones(max(n_bytes, 8), dtype=np.uint8)
    dst = np.empty_like(src)
    seconds = time_call(lambda: np.copyto(dst, src), min_seconds)
    return len(src) / seconds / 1e9


# --------------------------------------------------------------------------- one point


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise InvalidBitmapResult(f"{what} differs from the numpy oracle")


def _same(bm: Any, ids: np.ndarray, what: str) -> None:
    got = np.asarray(bm.to_array(), dtype=np.int64)
    _check(len(bm) == len(ids) and got.shape == ids.shape and bool(np.array_equal(got, ids)),
           what)


def verify(make: Callable[..., Any], n_bits: int, ia: np.ndarray, ib: np.ndarray,
           probe: np.ndarray) -> None:
    """Every operation once against numpy on sorted id arrays; raises on a difference."""
    a, b = make(n_bits, ia), make(n_bits, ib)
    _same(a, ia, "from_ids")
    ma = np.zeros(n_bits, dtype=bool)
    mb = np.zeros(n_bits, dtype=bool)
    ma[ia] = True
    mb[ib] = True
    expect = {"and": np.flatnonzero(ma & mb), "or": np.flatnonzero(ma | mb),
              "xor": np.flatnonzero(ma ^ mb), "andnot": np.flatnonzero(ma & ~mb)}
    ops = {"and": lambda x, y: x & y, "or": lambda x, y: x | y, "xor": lambda x, y: x ^ y,
           "andnot": lambda x, y: x - y}
    for name, op in ops.items():
        _same(op(a, b), expect[name], name)
        c = a.copy()
        if name == "and":
            c &= b
        elif name == "or":
            c |= b
        elif name == "xor":
            c ^= b
        else:
            c -= b
        _same(c, expect[name], f"i{name}")
    _same(a, ia, "an operand after the operations")
    _same(a.complement(), np.flatnonzero(~ma), "complement")
    _check(a.intersection_cardinality(b) == len(expect["and"]), "intersection_cardinality")
    _check(a.union_cardinality(b) == len(expect["or"]), "union_cardinality")
    member = ma[probe]
    _check(bool(np.array_equal(np.asarray(a.contains_many(probe), dtype=bool), member)),
           "contains_many")
    _check(all((int(x) in a) == m for x, m in zip(probe[:64].tolist(), member[:64].tolist(),
                                                  strict=True)), "contains")
    ranks = np.searchsorted(ia, probe[:64], side="right")
    _check([a.rank(int(x)) for x in probe[:64]] == ranks.tolist(), "rank")
    _same(type(a).deserialize(a.serialize()), ia, "serialize / deserialize")
    c = a.copy()
    c.update(probe)
    _same(c, np.union1d(ia, probe), "update")
    c.difference_update(probe)
    _same(c, np.setdiff1d(ia, probe), "difference_update")
    for x in probe[:64].tolist():
        c.add(x)
    _same(c, np.union1d(np.setdiff1d(ia, probe), probe[:64]), "add")
    for x in probe[:64].tolist():
        c.discard(x)
    _same(c, np.setdiff1d(ia, probe), "discard")


def measure_point(make: Callable[..., Any], n_bits: int, ia: np.ndarray, ib: np.ndarray,
                  probe: np.ndarray, ops: list[str], min_seconds: float) -> dict[str, float]:
    """Time each operation of ``ops`` on operands built from ``ia`` and ``ib``."""
    a, b = make(n_bits, ia), make(n_bits, ib)
    out: dict[str, float] = {}
    blob = a.serialize()
    plist = probe.tolist()
    k = max(len(probe), 1)

    def per_id(fn: Callable[[Any], Any], setup: Callable[[], Any] | None = None) -> float:
        return time_call(fn, min_seconds, setup) / k * 1e9

    def fresh() -> Any:
        return a.copy()

    def add_all(c: Any) -> None:
        for x in plist:
            c.add(x)

    def discard_all(c: Any) -> None:
        for x in plist:
            c.discard(x)

    def contains_all() -> None:
        for x in plist:
            x in a  # noqa: B015 - the membership test is what is timed

    def rank_all() -> None:
        for x in plist:
            a.rank(x)

    def in_place(name: str) -> Callable[[Any], Any]:
        def run(c: Any) -> None:
            if name == "iand":
                c &= b
            elif name == "ior":
                c |= b
            elif name == "ixor":
                c ^= b
            else:
                c -= b
        return run

    bulk: dict[str, tuple[Callable[..., Any], Callable[[], Any] | None]] = {
        "from_ids": (lambda: make(n_bits, ia), None),
        "copy": (lambda: a.copy(), None),
        "and": (lambda: a & b, None),
        "or": (lambda: a | b, None),
        "xor": (lambda: a ^ b, None),
        "andnot": (lambda: a - b, None),
        "complement": (lambda: a.complement(), None),
        "intersection_cardinality": (lambda: a.intersection_cardinality(b), None),
        "union_cardinality": (lambda: a.union_cardinality(b), None),
        "cardinality": (lambda: len(a), None),
        "to_array": (lambda: a.to_array(), None),
        "serialize": (lambda: a.serialize(), None),
        "deserialize": (lambda: type(a).deserialize(blob), None),
        **{name: (in_place(name), fresh) for name in ("iand", "ior", "ixor", "iandnot")},
    }
    ids: dict[str, tuple[Callable[..., Any], Callable[[], Any] | None]] = {
        "add": (add_all, fresh),
        "discard": (discard_all, fresh),
        "contains": (contains_all, None),
        "update": (lambda c: c.update(probe), fresh),
        "difference_update": (lambda c: c.difference_update(probe), fresh),
        "contains_many": (lambda: a.contains_many(probe), None),
        "rank": (rank_all, None),
    }
    for op in ops:
        if op in bulk:
            fn, setup = bulk[op]
            out[f"{op}_seconds"] = time_call(fn, min_seconds, setup)
        else:
            fn, setup = ids[op]
            out[f"{op}_ns"] = per_id(fn, setup)
    if "intersection_cardinality_seconds" in out:
        dense_bytes = 2 * ((n_bits + 7) // 8)
        out["intersection_cardinality_gbps"] = dense_bytes / out[
            "intersection_cardinality_seconds"] / 1e9
    out["bytes_a"] = float(a.nbytes())
    return out


def _point_rng(spec: Any) -> np.random.Generator:
    text = f"{spec.query.get('n_bits')}|{spec.query.get('density')}"
    return np.random.default_rng([int(spec.seed) % 2**63, zlib.crc32(text.encode())])


def bitmap_ops_worker(job: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Worker of the ``bitmap-ops`` task (see the module docstring)."""
    from harness.data import load_dataset
    from harness.plugins import get_registry

    registry = get_registry(job.extra_modules)
    info = registry.bitmaps.get(job.index_name)
    opts = parse_options(job.specs[0].extra)
    ds = load_dataset(job.dataset, Path(job.data_dir))
    workload = workload_of(ds)
    build = dict(job.specs[0].build)

    def make(n_bits: int, ids: Any = None) -> Any:
        return info.factory(n_bits, ids, **build)

    t0 = time.perf_counter()
    warm = np.arange(0, 5000, 3, dtype=np.int64)
    verify(make, 5000, warm, warm[::2] + 1, np.arange(0, 5000, 7, dtype=np.int64))
    jit_seconds = time.perf_counter() - t0
    yield "built", {"build_seconds": 0.0, "jit_seconds": jit_seconds, "index_bytes": 0,
                    "workload": workload}

    for i, spec in enumerate(job.specs):
        try:
            payload = _run_point(make, spec, workload, opts)
        except InvalidBitmapResult as exc:
            yield "point_error", {"i": i, "status": "invalid-result", "error": str(exc)}
            continue
        except Exception:
            yield "point_error", {"i": i, "status": "failed",
                                  "error": traceback.format_exc(limit=20)}
            continue
        payload["i"] = i
        yield "point", payload


def _run_point(make: Callable[..., Any], spec: Any, workload: str,
               opts: dict[str, Any]) -> dict[str, Any]:
    for key in ("n_bits", "density"):
        if key not in spec.query:
            raise InvalidInputError(f"bitmap {spec.index!r} declares no query parameter "
                                    f"{key!r}: the bitmap-ops task cannot set its workload")
    n_bits, density = int(spec.query["n_bits"]), float(spec.query["density"])
    rng = _point_rng(spec)
    t0 = time.perf_counter()
    ia = draw_ids(n_bits, density, workload, rng)
    ib = draw_ids(n_bits, density, workload, rng)
    probe = np.unique(rng.integers(0, n_bits, size=min(opts["batch"], n_bits)))
    draw_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    verify(make, n_bits, ia, ib, probe)
    verify_seconds = time.perf_counter() - t0
    measures = measure_point(make, n_bits, ia, ib, probe, opts["ops"], opts["min_seconds"])
    measures.update({
        "n_bits": float(n_bits), "density": density,
        "card_a": float(len(ia)), "card_b": float(len(ib)),
        "density_a": len(ia) / n_bits,
        "memcpy_gbps": memcpy_gbps((n_bits + 7) // 8, opts["min_seconds"]),
    })
    return {"measures": measures, "arrays": {},
            "timing": {"draw_seconds": draw_seconds, "verify_seconds": verify_seconds,
                       "workload": workload, "batch_ids": len(probe)},
            "warnings": []}


# --------------------------------------------------------------------------- reporting


def _label(index: Any, build: Any) -> str:
    import json

    try:
        params = json.loads(build) if isinstance(build, str) else dict(build or {})
    except (TypeError, ValueError):
        params = {}
    shown = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
    return f"{index} [{shown}]" if shown else str(index)


def bitmap_table(df: Any, op: str = "and") -> Any:
    """One row per (dataset, n_bits, density), one column per implementation: the median
    over seeds of ``<op>_seconds`` (or ``<op>_ns`` for id operations)."""
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"bitmap_table: expected a pandas DataFrame, got "
                                f"{type(df).__name__}")
    column = f"{op}_ns" if op in ID_OPS else f"{op}_seconds"
    if op not in ALL_OPS:
        raise InvalidInputError(f"bitmap_table: unknown operation {op!r}")
    if len(df) == 0 or "task" not in df.columns or column not in df.columns:
        return pd.DataFrame()
    rows = df[(df["task"] == "bitmap-ops") & (df["status"] == "ok")]
    if len(rows) == 0:
        return pd.DataFrame()
    rows = rows.assign(implementation=[_label(i, b) for i, b in
                                       zip(rows["index"], rows["build"], strict=True)])
    return rows.pivot_table(index=["dataset", "n_bits", "density"], columns="implementation",
                            values=column, aggfunc="median")


def plot_bitmap_ops(df: Any, out_dir: str | Path, ops: tuple[str, ...] = ("and", "or", "xor",
                    "intersection_cardinality")) -> list[Path]:
    """One figure per (dataset, operation): seconds per call against density, one line per
    (implementation, n_bits), log-log. Files ``bitmap-<dataset>-<op>.png`` and ``.svg``."""
    import re

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    out = Path(out_dir)
    written: list[Path] = []
    for op in ops:
        table = bitmap_table(df, op)
        if len(table) == 0:
            continue
        out.mkdir(parents=True, exist_ok=True)
        for dataset, part in table.groupby(level="dataset"):
            fig = Figure(figsize=(7.5, 4.8), layout="constrained")
            ax = fig.add_subplot()
            for impl in part.columns:
                for n_bits, sub in part[impl].groupby(level="n_bits"):
                    sub = sub.dropna()
                    if len(sub) == 0:
                        continue
                    dens = sub.index.get_level_values("density").to_numpy(float)
                    order = np.argsort(dens)
                    ax.plot(dens[order], sub.to_numpy(float)[order], marker="o",
                            markersize=3, label=f"{impl}, n={int(n_bits):.0e}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("density (fraction of the universe set)")
            ax.set_ylabel("ns per id" if op in ID_OPS else "seconds per call")
            ax.set_title(f"bitmap {op} ({dataset}; lower is better)")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend(fontsize="x-small", ncol=2)
            stem = "bitmap-" + re.sub(r"[^A-Za-z0-9._-]+", "_", f"{dataset}-{op}")
            png, svg = out / f"{stem}.png", out / f"{stem}.svg"
            fig.savefig(png, dpi=120)
            fig.savefig(svg, metadata={"Date": None})
            written.extend([png, svg])
    return written


# --------------------------------------------------------------------------- registration


@hookimpl
def register_tasks(register: Any) -> None:
    """Register the ``bitmap-ops`` task."""
    register(TaskInfo(
        name="bitmap-ops", worker=bitmap_ops_worker, plugin_kind="bitmap", plugin_key="bitmap",
        run_keys=RUN_KEYS,
        description="bitmap implementations side by side: seconds per operation over "
                    "universe sizes and densities"))


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the operand datasets of the ``bitmap-ops`` task."""
    for workload, what in (("uniform", "ids set independently with probability density"),
                           ("clustered", "runs of mean length 64 at the given density")):
        name = f"bitmap-{workload}"
        register(DatasetInfo(
            name=name, load=lambda _dir, name=name, w=workload: _placeholder(name, w),
            metric="euclidean", kind=DataKind.DENSE, n_train=2, n_test=1, dim=1,
            available=lambda _dir: None,
            description=f"operands of the bitmap-ops task: {what} (no vectors)",
            source="generated by vecbench", license="CC0-1.0"))
