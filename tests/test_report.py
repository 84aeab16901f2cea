"""Tests of harness.report: Pareto frontier, seed aggregation, leaderboard, tables and plots.

Oracles: a brute-force dominance check and the ann-benchmarks frontier rule written out here,
hand-computed medians (``statistics.median``), closed-form interpolations, and numpy's
``interp`` in log space on a brute-force frontier.
"""

from __future__ import annotations

import io
import json
import math
import statistics

import numpy as np
import pandas as pd
import pytest

from harness.errors import InvalidInputError, UnknownNameError
from harness.report import (
    aggregate_seeds,
    export_frame,
    format_table,
    interpolate_qps,
    leaderboard,
    leaderboard_records,
    markdown_summary,
    pareto_frontier,
    plot_latency,
    plot_recall_measure,
    plot_recall_qps,
    summary_table,
)
from harness.results import flatten, load_results, write_record

# --------------------------------------------------------------------------- helpers


def rec(index: str = "hnsw", dataset: str = "d", seed: int = 0, build: dict | None = None,
        query: dict | None = None, status: str = "ok", k: int = 10, task: str = "search",
        **measures: float) -> dict:
    """A record as the runner writes it (see harness/results.py)."""
    spec = {"task": task, "dataset": dataset, "index": index, "k": k, "seed": seed,
            "build": build or {}, "query": query or {}}
    spec_id = "-".join(str(v) for v in (task, dataset, index, k, seed,
                                        json.dumps(spec["build"], sort_keys=True),
                                        json.dumps(spec["query"], sort_keys=True)))
    return {"spec_id": spec_id, "build_id": spec_id, "spec": spec, "status": status,
            "error": None if status == "ok" else "boom", "measures": measures}


def frame(*records: dict) -> pd.DataFrame:
    return pd.DataFrame([flatten(r) for r in records])


def xy_frame(points, labels=None) -> pd.DataFrame:
    x, y = zip(*points, strict=True) if points else ((), ())
    return pd.DataFrame({"recall": x, "qps": y}, index=labels)


def brute_force_frontier(points, hx: bool = True, hy: bool = True) -> set:
    """Distinct (x, y) pairs that no other point dominates."""
    sx, sy = (1 if hx else -1), (1 if hy else -1)
    pts = [(x, y) for x, y in points if not (math.isnan(x) or math.isnan(y))]
    out = set()
    for x, y in pts:
        if not any(sx * a >= sx * x and sy * b >= sy * y and (a, b) != (x, y) for a, b in pts):
            out.add((x, y))
    return out


def ann_benchmarks_frontier(points) -> list:
    """The ann-benchmarks rule (plotting/utils.py create_pointset), for recall vs qps: sort by
    y then x, both descending; skip points with a zero coordinate; keep a point iff its x is
    strictly above every x kept so far."""
    kept, last_x = [], -math.inf
    for x, y in sorted(points, key=lambda p: (-p[1], -p[0])):
        if not x or not y:
            continue
        if x > last_x:
            kept.append((x, y))
            last_x = x
    return kept


def log_interp_oracle(fx, fy, r) -> float:
    if r > fx[-1]:
        return math.nan
    return float(np.exp(np.interp(r, fx, np.log(fy))))


# --------------------------------------------------------------------------- pareto


GOLDEN = [  # label: (recall, qps) -> on the frontier?
    (0.5, 100),        # 0 on
    (0.5, 80),         # 1 same x, lower y
    (0.7, 50),         # 2 on
    (0.7, 50),         # 3 exact duplicate of 2: the first (2) stays
    (0.6, 50),         # 4 same y as 2, lower x
    (0.9, 10),         # 5 same y as 7, lower x
    (0.8, 5),          # 6 dominated by 5
    (1.0, 10),         # 7 on
    (math.nan, 1000),  # 8 NaN dropped
    (0.95, math.nan),  # 9 NaN dropped
    (0.3, 100),        # 10 same y as 0, lower x
    (0.2, 400),        # 11 on
]


def test_pareto_golden_ties_duplicates_and_nan():
    df = xy_frame(GOLDEN)
    front = pareto_frontier(df)
    assert list(front.index) == [11, 0, 2, 7]
    assert list(zip(front["recall"], front["qps"], strict=True)) == [
        (0.2, 400), (0.5, 100), (0.7, 50), (1.0, 10)]
    assert set(zip(front["recall"], front["qps"], strict=True)) == brute_force_frontier(GOLDEN)


def test_pareto_duplicates_keep_the_first_row_in_input_order():
    df = xy_frame([(0.7, 50), (0.7, 50), (0.9, 10)], labels=["b", "a", "c"])
    assert list(pareto_frontier(df).index) == ["b", "c"]
    df = xy_frame([(0.7, 50), (0.7, 50), (0.9, 10)], labels=["a", "b", "c"])
    assert list(pareto_frontier(df).index) == ["a", "c"]


def test_pareto_keeps_other_columns_and_does_not_modify_input():
    df = xy_frame([(0.5, 10), (0.9, 5), (0.4, 1)])
    df["index"] = ["x", "y", "z"]
    before = df.copy()
    front = pareto_frontier(df)
    assert list(front["index"]) == ["x", "y"]
    pd.testing.assert_frame_equal(df, before)


def test_pareto_matches_brute_force_and_ann_benchmarks_on_random_ties():
    rng = np.random.default_rng(7)
    for _ in range(40):
        n = int(rng.integers(1, 40))
        pts = [(float(a), float(b)) for a, b in rng.integers(1, 6, size=(n, 2))]
        front = pareto_frontier(xy_frame(pts))
        got = list(zip(front["recall"], front["qps"], strict=True))
        assert set(got) == brute_force_frontier(pts)
        assert len(got) == len(set(got))  # duplicates collapsed
        assert [x for x, _ in got] == sorted(x for x, _ in got)
        assert sorted(got) == sorted(ann_benchmarks_frontier(pts))


def test_pareto_keeps_zeros_where_ann_benchmarks_drops_them():
    pts = [(0.0, 5000.0), (0.5, 100.0), (0.9, 0.0)]
    front = pareto_frontier(xy_frame(pts))
    assert list(zip(front["recall"], front["qps"], strict=True)) == pts
    assert ann_benchmarks_frontier(pts) == [(0.5, 100.0)]


def test_pareto_lower_is_better_direction():
    pts = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (2.0, 0.95), (0.5, 0.5)]
    df = pd.DataFrame({"build_seconds": [p[0] for p in pts], "recall": [p[1] for p in pts]})
    front = pareto_frontier(df, x="build_seconds", y="recall", x_higher_is_better=False)
    got = list(zip(front["build_seconds"], front["recall"], strict=True))
    assert got == [(0.5, 0.5), (2.0, 0.95)]
    assert set(got) == brute_force_frontier(pts, hx=False)


def test_pareto_empty_and_bad_input():
    assert pareto_frontier(xy_frame([])).empty
    assert pareto_frontier(xy_frame([(math.nan, 1.0)])).empty
    with pytest.raises(UnknownNameError, match=r"'recal'.*did you mean 'recall'"):
        pareto_frontier(xy_frame([(0.5, 1.0)]), x="recal")
    with pytest.raises(InvalidInputError, match="DataFrame"):
        pareto_frontier([(0.5, 1.0)])
    with pytest.raises(InvalidInputError, match="'qps' must be numeric"):
        pareto_frontier(pd.DataFrame({"recall": [0.5], "qps": ["fast"]}))


# --------------------------------------------------------------------------- interpolation


def test_interpolation_closed_forms():
    assert interpolate_qps([0.8, 1.0], [1000, 10], 0.9) == pytest.approx(100.0, rel=1e-12)
    assert interpolate_qps([0.8, 1.0], [1000, 10], 0.8) == 1000
    assert interpolate_qps([0.8, 1.0], [1000, 10], 1.0) == 10
    # every frontier point above r: the frontier extends flat to the left
    assert interpolate_qps([0.8, 1.0], [1000, 10], 0.5) == 1000
    assert math.isnan(interpolate_qps([0.8, 1.0], [1000, 10], 1.0 + 1e-6))
    assert math.isnan(interpolate_qps([], [], 0.9))
    fx, fy = [0.5, 0.8, 1.0], [1e4, 1e3, 10]
    assert interpolate_qps(fx, fy, 0.65) == pytest.approx(math.sqrt(1e7), rel=1e-12)
    assert interpolate_qps(fx, fy, 0.85) == pytest.approx(1e3 * 0.01 ** 0.25, rel=1e-12)
    # a zero QPS cannot be interpolated in log space: linear
    assert interpolate_qps([0.8, 1.0], [10, 0], 0.9) == pytest.approx(5.0)


# --------------------------------------------------------------------------- aggregation


def test_aggregate_seeds_medians_spread_and_ok_only():
    recalls, qps = [0.8, 0.95, 0.9], [100.0, 300.0, 200.0]
    records = [rec(seed=s, build={"M": 16}, query={"ef": 10}, recall=r, qps=q,
                   build_seconds=1.0 + s, index_bytes=1000 + s)
               for s, (r, q) in enumerate(zip(recalls, qps, strict=True))]
    records.append(rec(seed=3, build={"M": 16}, query={"ef": 10}, status="failed",
                       recall=1.0, qps=1e6))
    records.append(rec(seed=0, build={"M": 16}, query={"ef": 20}, recall=0.99, qps=50.0))
    agg = aggregate_seeds(frame(*records))
    assert len(agg) == 2
    row = agg[agg["query.ef"] == 10].iloc[0]
    assert row["recall"] == statistics.median(recalls)
    assert row["qps"] == statistics.median(qps)
    assert row["build_seconds"] == statistics.median([1.0, 2.0, 3.0])
    assert row["index_bytes"] == statistics.median([1000, 1001, 1002])
    assert (row["recall_min"], row["recall_max"]) == (0.8, 0.95)
    assert (row["qps_min"], row["qps_max"]) == (100.0, 300.0)
    assert row["n_seeds"] == 3 and row["n_records"] == 3
    assert json.loads(row["build"]) == {"M": 16}
    other = agg[agg["query.ef"] == 20].iloc[0]
    assert other["n_seeds"] == 1 and other["recall"] == 0.99


def test_aggregate_seeds_seed_as_build_parameter_and_even_count():
    records = [rec(seed=0, build={"M": 8, "seed": s}, recall=0.5, qps=q)
               for s, q in ((11, 100.0), (12, 300.0))]
    agg = aggregate_seeds(frame(*records))
    assert len(agg) == 1
    row = agg.iloc[0]
    assert row["n_seeds"] == 2
    assert row["qps"] == statistics.median([100.0, 300.0]) == 200.0
    assert json.loads(row["build"]) == {"M": 8}
    assert "build.seed" not in agg.columns


def test_aggregate_seeds_counts_distinct_seeds_apart_from_records():
    again = rec(seed=0, recall=0.7, qps=30.0)
    again["spec_id"] += "-plugin-v2"  # same spec and seed recorded twice (another version)
    records = [rec(seed=0, recall=0.5, qps=10.0), again, rec(seed=1, recall=0.6, qps=20.0)]
    row = aggregate_seeds(frame(*records)).iloc[0]
    assert (row["n_seeds"], row["n_records"]) == (2, 3)
    assert row["recall"] == statistics.median([0.5, 0.7, 0.6])


def test_aggregate_seeds_ignores_missing_values_in_a_median():
    records = [rec(seed=s, recall=0.5, qps=1.0, rel=v)
               for s, v in enumerate((1.1, None, 1.3))]
    row = aggregate_seeds(frame(*records)).iloc[0]
    assert row["rel"] == pytest.approx(statistics.median([1.1, 1.3]))
    assert row["n_seeds"] == 3


def test_aggregate_seeds_keeps_datasets_k_and_indexes_apart():
    records = [rec(dataset=d, index=i, k=k, seed=s, recall=0.5, qps=1.0)
               for d in ("a", "b") for i in ("x", "y") for k in (10, 100) for s in (0, 1)]
    agg = aggregate_seeds(frame(*records))
    assert len(agg) == 8
    assert set(agg["n_seeds"]) == {2}
    assert list(agg["dataset"]) == sorted(agg["dataset"])


# --------------------------------------------------------------------------- leaderboard


def luckiest_seed_records() -> list[dict]:
    out = []
    for s, (r10, r20, q20) in enumerate([(0.85, 0.91, 500.0), (0.88, 0.92, 600.0),
                                         (0.93, 0.95, 700.0)]):
        out.append(rec(index="graph", seed=s, build={"M": 16}, query={"ef": 10},
                       recall=r10, qps=1000.0, build_seconds=2.0, index_bytes=4096))
        out.append(rec(index="graph", seed=s, build={"M": 16}, query={"ef": 20},
                       recall=r20, qps=q20, build_seconds=2.0, index_bytes=4096))
    return out


def test_leaderboard_aggregates_seeds_before_choosing():
    lb = leaderboard(frame(*luckiest_seed_records()), recall=0.9)
    row = lb.iloc[0]
    # seed 2 alone reaches 0.93 at 1000 qps with ef=10, but the median recall there is 0.88
    assert row["query"] == {"ef": 20}
    assert row["build"] == {"M": 16}
    assert row["qps"] == statistics.median([500.0, 600.0, 700.0])
    assert row["recall"] == statistics.median([0.91, 0.92, 0.95])
    assert (row["qps_min"], row["qps_max"]) == (500.0, 700.0)
    assert row["n_seeds"] == 3 and bool(row["reached"])
    assert (row["build_seconds"], row["index_bytes"]) == (2.0, 4096)


def test_leaderboard_lists_indexes_that_never_reach_or_never_succeed():
    records = [
        rec(index="fast", query={"ef": 1}, recall=0.95, qps=900.0),
        rec(index="slow", query={"ef": 1}, recall=0.99, qps=90.0),
        rec(index="lsh", query={"probes": 1}, recall=0.5, qps=5000.0),
        rec(index="lsh", query={"probes": 4}, recall=0.7, qps=2000.0),
        rec(index="broken", status="failed"),
        rec(index="broken", seed=1, status="timeout"),
    ]
    lb = leaderboard(frame(*records), recall=0.9)
    assert list(lb["index"]) == ["fast", "slow", "lsh", "broken"]
    lsh = lb.set_index("index").loc["lsh"]
    assert math.isnan(lsh["qps"]) and math.isnan(lsh["qps_interpolated"])
    assert lsh["recall"] == 0.7 and lsh["query"] == {"probes": 4}
    assert not lsh["reached"] and "0.7000 < 0.9" in lsh["note"]
    broken = lb.set_index("index").loc["broken"]
    assert math.isnan(broken["recall"]) and math.isnan(broken["qps"])
    assert broken["n_seeds"] == 0
    assert "failed: 1" in broken["note"] and "timeout: 1" in broken["note"]


def test_leaderboard_interpolates_on_the_frontier():
    records = [rec(index="ivf", query={"nprobe": n}, recall=r, qps=q)
               for n, (r, q) in enumerate([(0.8, 1000.0), (1.0, 10.0), (0.75, 500.0)])]
    row = leaderboard(frame(*records), recall=0.9).iloc[0]
    assert row["qps_interpolated"] == pytest.approx(100.0, rel=1e-12)
    assert row["qps"] == 10.0  # best observed at recall >= 0.9
    assert row["query"] == {"nprobe": 1}
    # a point off the frontier does not move the interpolation; one on it does
    records.append(rec(index="ivf", query={"nprobe": 3}, recall=0.85, qps=20.0))
    row = leaderboard(frame(*records), recall=0.9).iloc[0]
    assert row["qps_interpolated"] == pytest.approx(20.0 * (10 / 20.0) ** (1 / 3), rel=1e-12)


def test_leaderboard_against_brute_force_on_random_sweeps():
    rng = np.random.default_rng(11)
    for trial in range(25):
        n = int(rng.integers(1, 12))
        recalls = np.round(rng.uniform(0.6, 1.0, n), 2)
        qps = np.round(10 ** rng.uniform(1, 4, n))
        r = float(np.round(rng.uniform(0.6, 1.0), 2))
        records = [rec(index="idx", query={"ef": i}, recall=float(a), qps=float(b))
                   for i, (a, b) in enumerate(zip(recalls, qps, strict=True))]
        row = leaderboard(frame(*records), recall=r).iloc[0]
        reach = recalls >= r
        if reach.any():
            assert row["qps"] == qps[reach].max(), trial
            assert row["qps_interpolated"] >= row["qps"] * (1 - 1e-12)
        else:
            assert math.isnan(row["qps"]) and row["recall"] == recalls.max()
        front = sorted(brute_force_frontier(list(zip(recalls, qps, strict=True))))
        fx, fy = [p[0] for p in front], [p[1] for p in front]
        expected = log_interp_oracle(fx, fy, r)
        if math.isnan(expected):
            assert math.isnan(row["qps_interpolated"])
        else:
            assert row["qps_interpolated"] == pytest.approx(expected, rel=1e-9)


def test_leaderboard_sorts_by_dataset_then_qps_and_keeps_k_apart():
    records = [
        rec(dataset="b", index="x", recall=0.95, qps=10.0),
        rec(dataset="a", index="x", recall=0.95, qps=10.0),
        rec(dataset="a", index="y", recall=0.95, qps=30.0),
        rec(dataset="a", index="z", recall=0.99, qps=20.0),
        rec(dataset="a", index="y", k=100, recall=0.95, qps=3.0),
    ]
    lb = leaderboard(frame(*records), recall=0.9)
    got = list(zip(lb["dataset"], lb["k"], lb["index"], strict=True))
    assert got == [("a", 10, "y"), ("a", 10, "z"), ("a", 10, "x"), ("a", 100, "y"),
                   ("b", 10, "x")]


def test_leaderboard_other_recall_column_slack_and_task_filter():
    just_below = float(np.nextafter(0.9, 0.0))  # a mean of fractions meant to be 0.9
    records = [
        rec(index="a", recall=0.99, recall_ids_ties=0.85, qps=100.0),
        rec(index="b", recall=0.91, recall_ids_ties=just_below, qps=50.0),
        rec(index="km", task="cluster", ari=0.5),
    ]
    lb = leaderboard(frame(*records), recall=0.9, recall_col="recall_ids_ties")
    assert list(lb["index"]) == ["b", "a"]
    assert list(lb["reached"]) == [True, False]
    assert lb["recall_ids_ties"].iloc[0] == just_below
    assert lb["recall"].iloc[0] == 0.91  # the distance recall of the chosen point, beside
    assert lb.attrs == {"recall": 0.9, "recall_col": "recall_ids_ties"}


def test_leaderboard_bad_input():
    df = frame(rec(recall=0.9, qps=1.0))
    for bad in (90, -0.1, math.nan, "0.9", None):
        with pytest.raises(InvalidInputError, match="recall threshold"):
            leaderboard(df, recall=bad)
    with pytest.raises(UnknownNameError, match="did you mean 'recall'"):
        leaderboard(df, recall_col="recal")
    with pytest.raises(InvalidInputError, match="DataFrame"):
        leaderboard({"recall": [0.9]})


def test_leaderboard_from_records_on_disk(tmp_path):
    for r in [*luckiest_seed_records(), rec(index="bad", status="failed")]:
        write_record(tmp_path, r)
    lb = leaderboard(load_results(tmp_path))
    assert list(lb["index"]) == ["graph", "bad"]
    assert lb["qps"].iloc[0] == 600.0
    records = leaderboard_records(lb)
    text = json.dumps(records, allow_nan=False)
    back = json.loads(text)
    assert back[0]["query"] == {"ef": 20} and back[0]["n_seeds"] == 3
    assert back[1]["qps"] is None and back[1]["recall"] is None


def test_leaderboard_records_are_plain_python():
    lb = leaderboard(frame(*luckiest_seed_records(), rec(index="lsh", recall=0.1, qps=1.0)))
    records = leaderboard_records(lb)
    assert len(records) == 2
    first, second = records
    assert type(first["n_seeds"]) is int and type(first["qps"]) is float
    assert type(first["reached"]) is bool and type(first["k"]) is int
    assert second["qps"] is None and second["qps_interpolated"] is None
    assert second["recall"] == 0.1
    json.dumps(records, allow_nan=False)
    odd = pd.DataFrame({"a": [np.int64(3)], "b": [np.float32(math.inf)],
                        "c": [{"x": np.float64(math.nan), "y": [np.int32(1)]}]})
    assert leaderboard_records(odd) == [{"a": 3, "b": None, "c": {"x": None, "y": [1]}}]


# --------------------------------------------------------------------------- tables


def sample_table() -> pd.DataFrame:
    return pd.DataFrame({
        "index": ["hnsw", "bruteforce"],
        "recall": [0.91234, 1.0],
        "qps": [12345.6, math.nan],
        "index_bytes": [1024.0, 2048.0],
        "build": [{"M": 16, "ef_construction": 200}, {}],
        "reached": [True, False],
    })


def test_format_table_text():
    text = format_table(sample_table())
    lines = text.splitlines()
    assert len(lines) == 4 and not text.endswith("\n")
    header, rule, first, second = lines
    assert header.split() == ["index", "recall", "qps", "index_bytes", "build", "reached"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert "0.9123" in first and "12346" in first and "M=16, ef_construction=200" in first
    assert "1.0000" in second and "yes" in first and "no" in second
    # numbers are right-aligned under their header, text left-aligned
    end = header.index("index_bytes") + len("index_bytes")
    assert first[:end].endswith("1024") and second[:end].endswith("2048")
    assert second.index("bruteforce") == header.index("index") == 0
    assert second[:header.index("qps") + 3].endswith("-")


def test_format_table_shows_parameters_compactly():
    df = pd.DataFrame({"build": ['{"M": 16, "mL": null}', "{}"],
                       "query": [{"ef": 10, "probe": None}, {}]})
    first, second = format_table(df).splitlines()[2:]
    assert first.split() == ["M=16", "ef=10"]
    assert second.split() == ["-", "-"]


def test_format_table_csv_round_trips_full_precision():
    df = sample_table()
    back = pd.read_csv(io.StringIO(format_table(df, "csv")))
    assert list(back.columns) == list(df.columns)
    assert back["recall"].tolist() == df["recall"].tolist()
    assert back["qps"].iloc[0] == 12345.6 and math.isnan(back["qps"].iloc[1])
    assert [json.loads(b) for b in back["build"]] == df["build"].tolist()


def test_format_table_json_and_column_selection():
    back = json.loads(format_table(sample_table(), "json", columns=["qps", "index"]))
    assert back == [{"qps": 12345.6, "index": "hnsw"}, {"qps": None, "index": "bruteforce"}]
    assert list(back[0]) == ["qps", "index"]
    with pytest.raises(UnknownNameError, match=r"'qsp'.*did you mean 'qps'"):
        format_table(sample_table(), columns=["qsp"])
    with pytest.raises(InvalidInputError, match="format 'html'"):
        format_table(sample_table(), "html")
    empty = pd.DataFrame(columns=["index", "qps"])
    assert format_table(empty).endswith("(no rows)")
    assert json.loads(format_table(empty, "json")) == []
    assert format_table(empty, "csv") == "index,qps"


def test_summary_table_lists_every_record():
    records = [
        rec(index="hnsw", seed=1, build={"M": 16}, query={"ef": 20}, recall=0.9, qps=10.0,
            p50_ms=0.5, p99_ms=1.5, build_seconds=3.0, index_bytes=100),
        rec(index="hnsw", seed=0, build={"M": 16}, query={"ef": 20}, recall=0.8, qps=20.0),
        rec(index="hnsw", seed=0, build={"M": 16}, query={"ef": 10}, recall=0.7, qps=30.0),
        rec(index="bad", status="failed"),
    ]
    table = summary_table(frame(*records))
    assert list(table.columns) == ["dataset", "index", "k", "seed", "build", "query", "recall",
                                   "qps", "p50_ms", "p99_ms", "build_seconds", "index_bytes",
                                   "status"]
    assert list(zip(table["index"], table["query"], table["seed"], strict=True)) == [
        ("bad", {}, 0), ("hnsw", {"ef": 10}, 0), ("hnsw", {"ef": 20}, 0),
        ("hnsw", {"ef": 20}, 1)]
    last = table.iloc[3]
    assert (last["recall"], last["qps"], last["p50_ms"], last["p99_ms"]) == (0.9, 10, 0.5, 1.5)
    assert table["status"].tolist() == ["failed", "ok", "ok", "ok"]
    assert math.isnan(table["p50_ms"].iloc[1]) and math.isnan(table["recall"].iloc[0])


def test_summary_of_other_tasks_shows_their_declared_measures():
    from harness.cli import _summary_measures
    from harness.plugins import get_registry

    attacks = frame(rec(index="fgsm", task="attack", success_rate=0.4, robust_accuracy=0.6),
                    rec(index="pgd", task="attack", success_rate=0.5, robust_accuracy=0.5))
    declared = list(get_registry().tasks.get("attack").summary_measures)
    assert _summary_measures(attacks) == declared
    table = summary_table(attacks, declared)
    assert list(table.columns)[-len(declared) - 1:] == [*declared, "status"]
    assert "recall" not in table.columns
    assert table.set_index("index")["success_rate"].to_dict() == {"fgsm": 0.4, "pgd": 0.5}
    # any search record among them keeps the search columns
    mixed = pd.concat([attacks, frame(rec(recall=0.9, qps=5.0))])
    assert _summary_measures(mixed) is None
    # records of a task not installed here: the search columns, no error
    assert _summary_measures(frame(rec(index="x", task="no-such-task"))) is None


# --------------------------------------------------------------------------- plots


def plot_frame() -> pd.DataFrame:
    records = []
    for dataset in ("gmm-1000x8", "ann/glove-25"):
        for index, scale in (("hnsw", 1.0), ("ivf", 0.5)):
            for seed in (0, 1):
                for ef, r in ((10, 0.7), (20, 0.85), (40, 0.95)):
                    records.append(rec(dataset=dataset, index=index, seed=seed,
                                       query={"ef": ef}, recall=r - 0.01 * seed,
                                       qps=scale * 1e4 / ef))
    records.append(rec(dataset="gmm-1000x8", index="zero", recall=0.5, qps=0.0))
    records.append(rec(dataset="gmm-1000x8", index="bad", status="failed"))
    return frame(*records)


def check_image(path):
    data = path.read_bytes()
    if path.suffix == ".png":
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    else:
        assert b"<svg" in data[:2000]
    assert len(data) > 1000


def test_plot_writes_png_and_svg_per_dataset(tmp_path):
    paths = plot_recall_qps(plot_frame(), tmp_path / "plots")
    assert [p.name for p in paths] == ["ann_glove-25.png", "ann_glove-25.svg",
                                       "gmm-1000x8.png", "gmm-1000x8.svg"]
    for p in paths:
        assert p.parent == tmp_path / "plots"
        check_image(p)


def test_plot_one_figure_per_k_and_nothing_without_points(tmp_path):
    df = frame(rec(k=10, recall=0.9, qps=10.0), rec(k=100, recall=0.8, qps=5.0))
    paths = plot_recall_qps(df, tmp_path)
    assert [p.name for p in paths] == ["d-k10.png", "d-k10.svg", "d-k100.png", "d-k100.svg"]
    for p in paths:
        check_image(p)
    assert plot_recall_qps(frame(rec(status="failed")), tmp_path / "none") == []
    assert plot_recall_qps(pd.DataFrame(columns=["dataset", "index"]), tmp_path / "x") == []
    assert not (tmp_path / "none").exists()
    with pytest.raises(UnknownNameError, match="recall_nope"):
        plot_recall_qps(df, tmp_path, recall_col="recall_nope")


# --------------------------------------------------------------------------- markdown, export


def test_format_table_markdown():
    df = sample_table()
    df.loc[1, "index"] = "brute|force"
    lines = format_table(df, "markdown").splitlines()
    assert lines[0] == "| index | recall | qps | index_bytes | build | reached |"
    assert lines[1] == "|---|---:|---:|---:|---|---|"
    assert lines[2] == "| hnsw | 0.9123 | 12346 | 1024 | M=16, ef_construction=200 | yes |"
    assert lines[3] == "| brute\\|force | 1.0000 | - | 2048 | - | no |"
    assert format_table(pd.DataFrame(columns=["a"]), "markdown").splitlines() == [
        "| a |", "|---|"]


def test_export_frame_csv_and_parquet_round_trip(tmp_path):
    df = pd.DataFrame({
        "index": ["hnsw", "ivf", "bad"],
        "recall": [0.91234567890123, 1.0, math.nan],
        "build": [{"M": 16}, {"nlist": 4}, {}],
        "mixed": [1, "text", None],
        "flag": [True, None, False],
        "count": [np.int64(3), np.int64(4), np.int64(5)],
    })
    csv_path = export_frame(df, tmp_path / "out" / "r.csv")
    back = pd.read_csv(csv_path)
    assert back["recall"].tolist()[:2] == df["recall"].tolist()[:2]
    assert math.isnan(back["recall"].iloc[2])
    assert [json.loads(b) for b in back["build"]] == df["build"].tolist()
    pq_path = export_frame(df, tmp_path / "r.parquet")
    back = pd.read_parquet(pq_path)
    assert back["recall"].tolist()[:2] == df["recall"].tolist()[:2]
    assert [json.loads(b) for b in back["build"]] == df["build"].tolist()
    assert back["mixed"].tolist()[:2] == ["1", "text"] and pd.isna(back["mixed"].iloc[2])
    assert back["flag"].tolist()[0] is True and back["flag"].isna().tolist()[1]
    assert back["count"].tolist() == [3, 4, 5]
    export_frame(df, tmp_path / "data.bin", fmt="csv")
    with pytest.raises(InvalidInputError, match=r"use \.csv or \.parquet"):
        export_frame(df, tmp_path / "data.xlsx")
    with pytest.raises(InvalidInputError, match="export format 'xml'"):
        export_frame(df, tmp_path / "x", fmt="xml")


def test_markdown_summary_ranks_like_the_leaderboard():
    records = [rec(index="graph", query={"ef": e}, recall=r, qps=q)
               for e, r, q in ((10, 0.85, 900.0), (20, 0.93, 400.0), (40, 0.99, 100.0))]
    records += [rec(index="flat", recall=1.0, qps=50.0), rec(index="bad", status="failed"),
                rec(index="km", task="cluster", ari=0.5)]
    text = markdown_summary(frame(*records), [0.9, 0.99])
    assert "6 record(s): 1 failed, 5 ok." in text and "`cluster` (1)" in text
    part = text.split("### recall ≥ 0.9: dataset d, k 10")[1].split("###")[0]
    rows = [ln for ln in part.splitlines() if ln.startswith("| ") and "index" not in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["graph", "flat", "bad"]
    assert "| graph | 0.9300 | 400 |" in rows[0]
    part = text.split("### recall ≥ 0.99: dataset d, k 10")[1]
    assert part.splitlines()[4].startswith("| graph | 0.9900 | 100 |")
    assert markdown_summary(frame(rec(status="failed"))).rstrip().endswith("to rank.")


def test_plot_recall_measure_and_latency(tmp_path):
    records = [rec(index=i, seed=s, query={"ef": e}, recall=r, qps=1e4 / e,
                   build_seconds=b, index_bytes=1e6 * (s + 1), p50_ms=e / 10,
                   p95_ms=e / 5, p99_ms=e / 2)
               for i, b in (("hnsw", 2.0), ("ivf", 0.5)) for s in (0, 1)
               for e, r in ((10, 0.7), (40, 0.95))]
    df = frame(*records)
    paths = plot_recall_measure(df, tmp_path, "build_seconds", formats=("png",))
    assert [p.name for p in paths] == ["d-build_seconds.png"]
    paths = plot_latency(df, tmp_path, formats=["svg"])
    assert [p.name for p in paths] == ["d-latency.svg"]
    for p in (tmp_path / "d-build_seconds.png", tmp_path / "d-latency.svg"):
        check_image(p)
    with pytest.raises(UnknownNameError, match="p999_ms"):
        plot_latency(df, tmp_path, percentiles=["p999_ms"])
    with pytest.raises(InvalidInputError, match="image formats"):
        plot_recall_measure(df, tmp_path, "build_seconds", formats=("gif",))
    with pytest.raises(InvalidInputError, match="percentiles"):
        plot_latency(df, tmp_path, percentiles="p50_ms")
