"""Tests of harness.regress and the baseline / compare commands.

Oracles: hand-written expectations on synthetic records (which values move and by how much),
an exact Mann-Whitney p-value computed here by enumerating every split of the pooled samples,
recorded timing samples drawn with known shifts (no clock is read), and a throw-away git
repository whose two revisions differ in a known way.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import InvalidInputError, UnknownNameError
from harness.regress import (
    EXIT_OK,
    EXIT_REBASELINE,
    EXIT_REGRESSION,
    CrossMachineError,
    Side,
    Tolerance,
    ab_runs,
    check_timing_measures,
    compare_baseline,
    compare_timings,
    describe_point,
    folder_reference,
    git_reference,
    judge,
    latest_records,
    load_ab_runs,
    load_baseline,
    make_baseline,
    mann_whitney_p,
    measure_directions,
    min_p_value,
    point_key,
    sample_value,
    save_baseline,
    update_baseline,
)
from harness.results import write_record

DETERMINISTIC = {"recall": True, "recall_ids": True, "distance_computations": False}

# --------------------------------------------------------------------------- records


def machine(host: str = "box", cpu: str = "EPYC", cores: int = 2) -> dict:
    return {"hostname": host, "machine": {"cpu": {"model": cpu, "flags": []}, "cores": cores,
                                          "memory_bytes": 8 * 2**30},
            "harness_version": "0.1.0", "git_commit": "abc"}


def rec(index: str = "hnsw", query: dict | None = None, *, seed: int = 0,
        status: str = "ok", suite: str = "quick", version: str = "1.0",
        checksum: str = "c0ffee", finished: str = "2025-01-01T00:00:00+00:00",
        host: str = "box", **measures) -> dict:
    spec = {"task": "search", "dataset": "gmm-100x4", "index": index, "build": {"M": 8},
            "query": query or {}, "k": 10, "seed": seed, "metric": None, "threads": 1,
            "label": ""}
    sid = f"{index}-{json.dumps(query or {}, sort_keys=True)}-{seed}-{version}-{checksum}"
    return {"spec_id": sid, "suite": suite, "spec": spec, "status": status,
            "error": None if status == "ok" else "Traceback\nRuntimeError: boom",
            "measures": measures if status == "ok" else {},
            "dataset": {"name": "gmm-100x4", "checksum": checksum},
            "plugin": {"name": index, "version": version},
            "provenance": machine(host), "finished_at": finished}


def base_records() -> list[dict]:
    return [
        rec("hnsw", {"ef": 10}, recall=0.8, recall_ids=0.79, distance_computations=1000.0,
            qps=5000.0),
        rec("hnsw", {"ef": 20}, recall=0.9, recall_ids=0.89, distance_computations=2000.0,
            qps=3000.0),
        rec("brute", recall=1.0, recall_ids=1.0, distance_computations=None, qps=900.0),
    ]


def baseline_of(records, **kw) -> dict:
    return make_baseline(records, measures=DETERMINISTIC, now="2025-01-02T00:00:00+00:00",
                         **kw)


def modified(records, index, query, **changes) -> list[dict]:
    out = copy.deepcopy(records)
    for r in out:
        if r["spec"]["index"] == index and r["spec"]["query"] == (query or {}):
            for k, v in changes.items():
                if k in ("status", "version", "checksum"):
                    if k == "status":
                        r["status"] = v
                        r["measures"] = {} if v != "ok" else r["measures"]
                        r["error"] = "Traceback\nRuntimeError: boom"
                    elif k == "version":
                        r["plugin"]["version"] = v
                    else:
                        r["dataset"]["checksum"] = v
                else:
                    r["measures"][k] = v
    return out


def statuses(report) -> dict:
    return {(f.describe.split()[2], f.describe.split("] [")[1].split("]")[0], f.measure):
            f.status for f in report.findings}


# --------------------------------------------------------------------------- baseline


def test_baseline_keeps_deterministic_measures_of_the_latest_record():
    old = rec("hnsw", {"ef": 10}, recall=0.5, recall_ids=0.5, distance_computations=1.0,
              finished="2024-12-31T00:00:00+00:00")
    base = baseline_of([old, *base_records()])
    assert base["suite"] == "quick" and base["kind"] == "vecbench-baseline"
    points = {p["describe"]: p for p in base["points"]}
    assert len(points) == 3
    ef10 = points[describe_point(base_records()[0]["spec"])]
    assert ef10["measures"] == {"recall": 0.8, "recall_ids": 0.79,
                                "distance_computations": 1000.0}
    assert "qps" not in json.dumps(base)  # a timing never enters a baseline
    brute = next(p for p in base["points"] if p["spec"]["index"] == "brute")
    assert brute["measures"]["distance_computations"] is None
    assert ef10["plugin_version"] == "1.0" and ef10["dataset_checksum"] == "c0ffee"
    assert base["recorded_with"]["machine"]["hostname"] == "box"
    json.dumps(base, allow_nan=False)


def test_point_key_ignores_label_and_default_parameters_but_not_values():
    a = base_records()[0]["spec"]
    b = dict(a, label="renamed")
    c = dict(a, query={"ef": 11})
    d = dict(a, query={"ef": 10, "probe": None}, build={"M": 8, "mL": None})
    assert point_key(a) == point_key(b) == point_key(d) != point_key(c)
    assert describe_point(a) == "search gmm-100x4 hnsw [M=8] [ef=10] k=10 seed=0"


def test_identical_run_passes():
    recs = base_records()
    rep = compare_baseline(baseline_of(recs), recs)
    assert rep.exit_code == EXIT_OK and rep.verdict == "passed"
    assert rep.points == 3 and rep.values == 9
    assert {f.status for f in rep.findings} == {"ok"}
    assert "matches the baseline" in rep.markdown()


def test_drop_beyond_tolerance_is_a_regression_and_within_is_not():
    recs = base_records()
    base = baseline_of(recs)  # default tolerance 1e-3
    rep = compare_baseline(base, modified(recs, "hnsw", {"ef": 10}, recall=0.8 - 0.0009))
    assert rep.exit_code == EXIT_OK
    rep = compare_baseline(base, modified(recs, "hnsw", {"ef": 10}, recall=0.8 - 0.0011))
    assert rep.exit_code == EXIT_REGRESSION
    assert statuses(rep)[("hnsw", "ef=10", "recall")] == "regressed"
    bad = rep.failing[0]
    assert (bad.baseline, bad.current) == (0.8, 0.8 - 0.0011)
    md = rep.markdown()
    assert "FAILED" in md and "| regressed | search gmm-100x4 hnsw [M=8] [ef=10]" in md
    assert "-0.0011" in md


def test_tolerance_is_relative_above_one_and_direction_follows_the_measure():
    recs = base_records()
    base = baseline_of(recs)
    # distance_computations 1000: tolerance 1e-3 * 1000 = 1 (lower is better)
    assert compare_baseline(base, modified(recs, "hnsw", {"ef": 10},
                                           distance_computations=1000.9)).exit_code == 0
    rep = compare_baseline(base, modified(recs, "hnsw", {"ef": 10},
                                          distance_computations=1001.5))
    assert statuses(rep)[("hnsw", "ef=10", "distance_computations")] == "regressed"
    rep = compare_baseline(base, modified(recs, "hnsw", {"ef": 10},
                                          distance_computations=990.0))
    assert statuses(rep)[("hnsw", "ef=10", "distance_computations")] == "improved"
    assert rep.exit_code == EXIT_OK
    assert compare_baseline(base, modified(recs, "hnsw", {"ef": 10},
                                           distance_computations=990.0),
                            strict=True).exit_code == EXIT_REGRESSION


def test_tolerance_overrides_and_their_errors():
    recs = base_records()
    base = baseline_of(recs, tolerance=Tolerance(0.0))
    moved = modified(recs, "hnsw", {"ef": 20}, recall=0.9 - 1e-9)
    assert compare_baseline(base, moved).exit_code == EXIT_REGRESSION
    loose = Tolerance(0.0).with_overrides(["recall=1e-6"])
    assert loose.of("recall") == 1e-6 and loose.of("recall_ids") == 0.0
    assert compare_baseline(base, moved, tolerance=loose).exit_code == EXIT_OK
    assert Tolerance().with_overrides(["0.01"]).default == 0.01
    for bad in ("x", "recall=", "-1", "recall=-0.1", "nan"):
        with pytest.raises(InvalidInputError, match="--tolerance"):
            Tolerance().with_overrides([bad])
    with pytest.raises(InvalidInputError, match="tolerance of recall"):
        Tolerance(0.1, {"recall": -1})


def test_changed_plugin_version_or_dataset_means_rebaseline_not_regression():
    recs = base_records()
    base = baseline_of(recs)
    moved = modified(recs, "hnsw", {"ef": 10}, version="2.0", recall=0.1)
    rep = compare_baseline(base, moved)
    assert rep.exit_code == EXIT_REBASELINE and rep.verdict == "re-baseline needed"
    (finding,) = [f for f in rep.findings if f.status == "rebaseline"]
    assert "plugin version 1.0 -> 2.0" in finding.note
    assert not [f for f in rep.findings if f.status == "regressed"]
    rep = compare_baseline(base, modified(recs, "brute", None, checksum="beef"))
    assert rep.exit_code == EXIT_REBASELINE
    assert "dataset checksum c0ffee -> beef" in rep.rows()[0].note
    # a real regression elsewhere still fails the gate
    both = modified(moved, "hnsw", {"ef": 20}, recall=0.5)
    assert compare_baseline(base, both).exit_code == EXIT_REGRESSION


def test_missing_failed_fixed_new_and_changed_points():
    recs = base_records()
    base = baseline_of(recs)
    rep = compare_baseline(base, recs[1:])  # the suite lost a point
    assert [f.status for f in rep.rows()] == ["missing"] and rep.exit_code == EXIT_REBASELINE
    rep = compare_baseline(base, modified(recs, "brute", None, status="timeout"))
    (f,) = rep.rows()
    assert f.status == "failed" and "timeout: RuntimeError: boom" in f.note
    failed_base = baseline_of(modified(recs, "brute", None, status="failed"))
    rep = compare_baseline(failed_base, recs)
    assert [f.status for f in rep.rows()] == ["fixed"] and rep.exit_code == EXIT_OK
    extra = [*recs, rec("ivf", {"nprobe": 1}, recall=0.7, recall_ids=0.7,
                        distance_computations=10.0)]
    rep = compare_baseline(base, extra)  # the suite gained a point
    assert [f.status for f in rep.rows()] == ["new"] and rep.exit_code == EXIT_REBASELINE
    rep = compare_baseline(base, modified(recs, "hnsw", {"ef": 10}, recall=None))
    assert statuses(rep)[("hnsw", "ef=10", "recall")] == "changed" and rep.exit_code == 1
    # a later record of another suite is not mixed in
    other = rec("hnsw", {"ef": 10}, suite="standard", recall=0.1, recall_ids=0.1,
                distance_computations=1.0, finished="2030-01-01T00:00:00+00:00")
    assert compare_baseline(base, [*recs, other]).exit_code == EXIT_OK


def test_latest_record_wins_and_several_suites_need_a_name():
    recs = base_records()
    newer = modified(recs[:1], "hnsw", {"ef": 10}, recall=0.3)[0]
    newer["finished_at"] = "2025-06-01T00:00:00+00:00"
    newer["spec_id"] += "-again"
    latest = latest_records([*recs, newer])
    assert latest[point_key(recs[0]["spec"])]["measures"]["recall"] == 0.3
    mixed = [*recs, rec("x", suite="standard", recall=1.0)]
    with pytest.raises(InvalidInputError, match=r"several suites.*quick, standard"):
        latest_records(mixed)
    assert len(latest_records(mixed, "standard")) == 1
    with pytest.raises(InvalidInputError, match="no records of suite 'nope'"):
        baseline_of(recs, suite="nope")


def test_update_accepts_changes_keeps_or_prunes_points():
    recs = base_records()
    base = baseline_of(recs)
    moved = modified(recs[1:], "hnsw", {"ef": 20}, recall=0.95, version="2.0")
    new, rep = update_baseline(base, moved, now="2025-02-01T00:00:00+00:00")
    assert [f.status for f in rep.rows()] == ["rebaseline", "missing"]
    assert new["created_at"] == base["created_at"] and new["updated_at"].startswith("2025-02")
    assert len(new["points"]) == 3  # the point the run lacks is kept
    assert compare_baseline(new, [recs[0], *moved]).exit_code == EXIT_OK
    pruned, _ = update_baseline(base, moved, prune=True)
    assert len(pruned["points"]) == 2
    ef20 = next(p for p in pruned["points"] if p["spec"]["query"] == {"ef": 20})
    assert ef20["measures"]["recall"] == 0.95 and ef20["plugin_version"] == "2.0"


def test_baseline_file_round_trip_and_bad_files(tmp_path):
    base = baseline_of(base_records())
    path = save_baseline(base, tmp_path / "sub" / "quick.json")
    assert load_baseline(path) == base
    assert path.read_text().endswith("}\n")
    with pytest.raises(InvalidInputError, match="baseline file not found"):
        load_baseline(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(InvalidInputError, match="not JSON"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"points": []}))
    with pytest.raises(InvalidInputError, match="not a vecbench baseline"):
        load_baseline(tmp_path / "other.json")
    (tmp_path / "v9.json").write_text(json.dumps({**base, "schema_version": 9}))
    with pytest.raises(InvalidInputError, match="schema_version 9"):
        load_baseline(tmp_path / "v9.json")


def test_measure_directions_come_from_the_registry():
    det = measure_directions(deterministic=True)
    timing = measure_directions(deterministic=False)
    assert det["recall"] is True and det["rel"] is False
    assert "qps" not in det and timing["qps"] is True and timing["build_seconds"] is False
    assert not set(det) & set(timing)


# --------------------------------------------------------------------------- statistics


def exact_two_sided_p(a, b) -> float:
    """Enumerate every way to split the pooled values into groups of len(a) and len(b)."""
    pooled = list(a) + list(b)
    n, m = len(a), len(b)

    def u(x, y):
        return sum((xi > yj) + 0.5 * (xi == yj) for xi in x for yj in y)

    centre = n * m / 2
    observed = abs(u(a, b) - centre)
    hits = total = 0
    for chosen in itertools.combinations(range(n + m), n):
        x = [pooled[i] for i in chosen]
        y = [pooled[i] for i in range(n + m) if i not in chosen]
        total += 1
        hits += abs(u(x, y) - centre) >= observed - 1e-12
    return hits / total


def test_mann_whitney_matches_exhaustive_enumeration():
    rng = np.random.default_rng(3)
    for n, m in ((3, 3), (4, 5), (5, 5), (2, 6)):
        for shift in (0.0, 0.5, 3.0):
            a = rng.normal(0, 1, n)
            b = rng.normal(shift, 1, m)
            assert mann_whitney_p(a, b) == pytest.approx(exact_two_sided_p(a, b), rel=1e-9)
    assert mann_whitney_p([1.0, 1.0], [1.0, 1.0, 1.0]) == 1.0
    assert min_p_value(5, 5) == pytest.approx(2 / 252)
    assert min_p_value(5, 5) == pytest.approx(exact_two_sided_p(range(5), range(5, 10)))
    with pytest.raises(InvalidInputError, match="at least one sample"):
        mann_whitney_p([], [1.0])


def lognormal(rng, median, n, sigma=0.03):
    return list(median * np.exp(rng.normal(0.0, sigma, n)))


def test_judge_flags_a_2x_slowdown_in_both_directions_of_measure():
    rng = np.random.default_rng(5)
    ref, slow = lognormal(rng, 0.010, 5), lognormal(rng, 0.020, 5)
    status, ratio, p = judge(ref, slow, higher_is_better=False)
    assert status == "slower" and ratio == pytest.approx(2.0, rel=0.1) and p < 0.05
    qps_ref, qps_slow = [1 / x for x in ref], [1 / x for x in slow]
    status, ratio, _ = judge(qps_ref, qps_slow, higher_is_better=True)
    assert status == "slower" and ratio == pytest.approx(2.0, rel=0.1)
    status, ratio, _ = judge(slow, ref, higher_is_better=False)
    assert status == "faster" and ratio == pytest.approx(0.5, rel=0.1)


def test_judge_needs_both_significance_and_factor():
    rng = np.random.default_rng(8)
    ref = lognormal(rng, 1.0, 8, sigma=0.002)
    small = lognormal(rng, 1.05, 8, sigma=0.002)  # clearly significant, below the factor
    status, ratio, p = judge(ref, small, higher_is_better=False, factor=1.1)
    assert status == "same" and p < 0.01 and 1.04 < ratio < 1.06
    assert judge(ref, small, higher_is_better=False, factor=1.02)[0] == "slower"
    # beyond the factor but three samples a side cannot reach p < 0.05 (min p = 0.1)
    status, ratio, p = judge([1.0, 1.01, 0.99], [2.0, 2.02, 1.98], higher_is_better=False)
    assert status == "same" and ratio == pytest.approx(2.0) and p == pytest.approx(0.1)
    for bad in ({"factor": 0.9}, {"alpha": 0.0}, {"alpha": 1.5}):
        with pytest.raises(InvalidInputError):
            judge([1.0], [2.0], higher_is_better=False, **bad)


def test_a_a_recorded_samples_raise_few_alarms():
    """Equal distributions: p < alpha about alpha of the time, and never beyond the factor
    with a noise of a few percent."""
    rng = np.random.default_rng(13)
    trials = 400
    significant = alarms = 0
    for _ in range(trials):
        a, b = lognormal(rng, 1.0, 5, 0.05), lognormal(rng, 1.0, 5, 0.05)
        status, _, p = judge(a, b, higher_is_better=False, factor=1.1)
        significant += p < 0.05
        alarms += status != "same"
    assert significant / trials < 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert alarms / trials < 0.02


# --------------------------------------------------------------------------- timing reports


def timing_runs(host: str, qps_by_index: dict, n: int, rng) -> list[list[dict]]:
    runs = []
    for _ in range(n):
        runs.append([rec(index, {"ef": 10}, host=host,
                         qps=float(q * math.exp(rng.normal(0, 0.02))),
                         build_seconds=float(2.0 * math.exp(rng.normal(0, 0.02))))
                     for index, q in qps_by_index.items()])
    return runs


def test_compare_timings_flags_the_slowed_point_only():
    rng = np.random.default_rng(21)
    ref = timing_runs("box", {"fast": 1000.0, "same": 500.0}, 5, rng)
    cur = timing_runs("box", {"fast": 500.0, "same": 500.0}, 5, rng)
    rep = compare_timings(ref, cur, {"qps": True, "build_seconds": False})
    got = {(f.describe.split()[2], f.measure): f.status for f in rep.findings}
    assert got == {("fast", "qps"): "slower", ("fast", "build_seconds"): "same",
                   ("same", "qps"): "same", ("same", "build_seconds"): "same"}
    assert rep.exit_code == EXIT_REGRESSION and rep.verdict == "FAILED"
    slow = next(f for f in rep.findings if f.status == "slower")
    assert slow.ratio == pytest.approx(2.0, rel=0.05) and slow.n_reference == 5
    md = rep.markdown()
    assert md.index("| slower |") < md.index("| same |")
    assert "box (EPYC, 2 cores, 8.0 GiB)" in md


def test_compare_timings_refuses_samples_from_two_machines():
    rng = np.random.default_rng(1)
    ref = timing_runs("ci-runner-1", {"a": 100.0}, 3, rng)
    cur = timing_runs("laptop", {"a": 100.0}, 3, rng)
    with pytest.raises(CrossMachineError, match=r"one machine.*ci-runner-1.*laptop"):
        compare_timings(ref, cur, {"qps": True})
    cur[0][0]["provenance"] = machine("ci-runner-1", cores=4)
    with pytest.raises(CrossMachineError, match="4 cores"):
        compare_timings(ref, ref + cur[:1], {"qps": True})


def test_compare_timings_reports_points_without_samples_and_weak_designs():
    rng = np.random.default_rng(2)
    ref = timing_runs("box", {"a": 100.0, "b": 10.0}, 2, rng)
    cur = timing_runs("box", {"a": 100.0}, 2, rng)
    cur[1][0] = rec("a", {"ef": 10}, status="failed")
    rep = compare_timings(ref, cur, {"qps": True})
    got = {f.describe.split()[2]: f for f in rep.findings}
    assert got["b"].status == "failed" and "current side" in got["b"].note
    assert rep.exit_code == EXIT_REGRESSION  # a point that cannot be compared fails
    assert got["a"].n_current == 1
    assert any("smallest attainable p-value" in n for n in rep.notes)
    with pytest.raises(InvalidInputError, match="at least one timing measure"):
        compare_timings(ref, cur, {})


def test_cpu_seconds_come_from_the_record_timing_and_resist_time_slicing():
    """Wall time shared with other jobs swings 3x run to run; process CPU seconds do not.
    A 2x slowdown hidden in the wall-clock noise is still caught on CPU seconds."""
    rng = np.random.default_rng(4)

    def runs(cpu_per_batch: float, n: int) -> list[list[dict]]:
        out = []
        for _ in range(n):
            share = rng.uniform(0.3, 1.0)  # fraction of a core the process got
            cpu = [cpu_per_batch * math.exp(rng.normal(0, 0.03)) for _ in range(3)]
            r = rec("x", {"ef": 10}, qps=1000 / (cpu_per_batch / share))
            r["timing"] = {"batch_cpu_seconds": cpu, "build_cpu_seconds": 0.5}
            attack = rec("pgd", robust_accuracy=0.5)
            attack["spec"]["task"] = "attack"
            out.append([r, attack])
        return out

    ref, cur = runs(0.1, 5), runs(0.2, 5)
    assert sample_value(ref[0][0], "search_cpu_seconds") == pytest.approx(
        statistics.median(ref[0][0]["timing"]["batch_cpu_seconds"]))
    assert sample_value(ref[0][0], "build_cpu_seconds") == 0.5
    assert sample_value(ref[0][1], "search_cpu_seconds") is None
    rep = compare_timings(ref, cur, check_timing_measures(["search_cpu_seconds", "qps"]))
    got = {(f.describe.split()[2], f.measure): f for f in rep.findings}
    assert set(got) == {("x", "search_cpu_seconds"), ("x", "qps")}  # attack: not applicable
    cpu = got[("x", "search_cpu_seconds")]
    assert cpu.status == "slower" and cpu.ratio == pytest.approx(2.0, rel=0.1)
    assert cpu.p_value == pytest.approx(min_p_value(5, 5))
    with pytest.raises(UnknownNameError, match="search_cpu_seconds"):
        check_timing_measures(["search_cpu_second"])


# --------------------------------------------------------------------------- A/B machinery


def test_ab_runs_interleave_the_sides_and_keep_each_run(tmp_path):
    calls = []

    def fake(side: Side, out: Path) -> list[dict]:
        calls.append((side.name, out.relative_to(tmp_path).as_posix()))
        out.mkdir(parents=True)
        write_record(out, rec(side.name, qps=1.0))
        return [rec(side.name, qps=1.0)]

    cur, ref = Side("current", "now"), Side("reference", "then")
    ref_runs, cur_runs = ab_runs(cur, ref, fake, tmp_path, samples=4)
    assert [c[0] for c in calls] == ["current", "reference", "reference", "current",
                                     "current", "reference", "reference", "current"]
    assert calls[0][1] == "current/run-01" and calls[-1][1] == "current/run-04"
    assert len(ref_runs) == len(cur_runs) == 4
    again_ref, again_cur = load_ab_runs(tmp_path)
    assert len(again_ref) == 4 and again_cur[0][0]["spec"]["index"] == "current"
    with pytest.raises(InvalidInputError, match="no reference runs"):
        load_ab_runs(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="samples must be >= 1"):
        ab_runs(cur, ref, fake, tmp_path, samples=0)


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t",
                    *args], check=True, capture_output=True)


PLUGIN = '''"""A tiny index plugin whose reported size tells which revision ran."""
import numpy as np
from harness import BaseIndex, IndexCapabilities, IndexInfo, hookimpl

REVISION = {revision}


class Demo(BaseIndex):
    def _build(self, data):
        self.data = np.asarray(data, dtype=np.float64)

    def _search(self, queries, k):
        d = ((np.asarray(queries)[:, None, :] - self.data[None]) ** 2).sum(-1)
        return np.argsort(d, axis=1, kind="stable")[:, :k], None

    def index_bytes(self):
        return REVISION


@hookimpl
def register_indexes(register):
    register(IndexInfo(name="abdemo", factory=Demo, version="{revision}.0",
                       capabilities=IndexCapabilities(metrics={{"euclidean"}})))
'''


@pytest.fixture(scope="module")
def demo_repo(tmp_path_factory) -> Path:
    repo = tmp_path_factory.mktemp("plugin-repo")
    git(repo, "init", "-q")
    (repo / "abdemo.py").write_text(PLUGIN.format(revision=1))
    (repo / "suite.toml").write_text(
        'name = "ab"\n[[run]]\ndataset = "gmm-300x4"\nindex = "abdemo"\n'
        "k = 5\nrepetitions = 1\nlatency_queries = 5\n")
    git(repo, "add", "abdemo.py", "suite.toml")
    git(repo, "commit", "-q", "-m", "v1")
    (repo / "abdemo.py").write_text(PLUGIN.format(revision=2))
    git(repo, "commit", "-q", "-am", "v2")
    (repo / "abdemo.py").write_text(PLUGIN.format(revision=3))  # uncommitted work
    return repo


def test_git_reference_exports_the_revision_and_cleans_up(demo_repo):
    with git_reference("HEAD~1", demo_repo) as side:
        folder = Path(side.pythonpath[0])
        assert "REVISION = 1" in (folder / "abdemo.py").read_text()
        assert side.label.startswith("HEAD~1 (")
    assert not folder.exists()
    with git_reference("HEAD", demo_repo) as side:
        assert "REVISION = 2" in (Path(side.pythonpath[0]) / "abdemo.py").read_text()
    with pytest.raises(InvalidInputError, match="unknown git revision 'nope'"), \
            git_reference("nope", demo_repo):
        pass


def test_folder_reference_puts_the_folder_first(tmp_path):
    side = folder_reference(tmp_path)
    assert side.name == "reference" and side.pythonpath == (str(tmp_path.resolve()),)
    with pytest.raises(InvalidInputError, match="reference folder not found"):
        folder_reference(tmp_path / "nope")


def test_compare_ab_runs_each_side_with_its_own_code(demo_repo, tmp_path, monkeypatch):
    """Both sides for real (one sample each, so no verdict is possible): the records of the
    reference side come from revision 1 and those of the current side from the work tree."""
    import importlib.metadata as md

    needed = {"metrics", "datasets", "measures", "tasks", "executors"}
    others = sorted(e.name for e in md.entry_points(group="vecbench") if e.name not in needed)
    monkeypatch.setenv("VECBENCH_DISABLE_PLUGINS", ",".join(others))  # faster start-up
    work = tmp_path / "work"
    result = CliRunner().invoke(main, [
        "compare", "--ab", "HEAD~1", "--repo", str(demo_repo), "--suite",
        str(demo_repo / "suite.toml"), "-p", "abdemo", "--samples", "1", "--work", str(work),
        "--data", str(tmp_path / "data"), "--measure", "qps"])
    assert result.exit_code == EXIT_OK, result.output
    assert "smallest attainable p-value" in result.output
    ref_runs, cur_runs = load_ab_runs(work)
    (ref_rec,), (cur_rec,) = ref_runs[0], cur_runs[0]
    assert ref_rec["status"] == cur_rec["status"] == "ok", (ref_rec["error"], cur_rec["error"])
    assert ref_rec["measures"]["index_bytes"] == 1 and ref_rec["plugin"]["version"] == "1.0"
    assert cur_rec["measures"]["index_bytes"] == 3 and cur_rec["plugin"]["version"] == "3.0"
    result = CliRunner().invoke(main, ["compare", "--ab-dir", str(work), "--measure", "qps",
                                       "--json"])
    assert result.exit_code == EXIT_OK
    assert json.loads(result.output)["findings"][0]["n_reference"] == 1


# --------------------------------------------------------------------------- commands


@pytest.fixture()
def results(tmp_path) -> Path:
    folder = tmp_path / "results"
    for r in base_records():
        write_record(folder, r)
    return folder


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_save_compare_and_exit_statuses(results, tmp_path):
    path = tmp_path / "baselines" / "quick.json"
    out = invoke("baseline", "save", path, "--results", results, "--tolerance", "0.002")
    assert out.exit_code == 0, out.output
    assert "3 point(s)" in out.output
    saved = load_baseline(path)
    assert saved["tolerance"]["default"] == 0.002
    assert {p["measures"]["recall"] for p in saved["points"]} == {0.8, 0.9, 1.0}
    assert invoke("baseline", "save", path, "--results", results).exit_code == 2
    out = invoke("compare", path, "--results", results)
    assert out.exit_code == EXIT_OK and "passed" in out.output

    worse = modified(base_records(), "hnsw", {"ef": 20}, recall=0.85)
    for r in worse:
        write_record(results, r)
    out = invoke("compare", path, "--results", results, "--markdown", "-")
    assert out.exit_code == EXIT_REGRESSION
    assert "| regressed | search gmm-100x4 hnsw [M=8] [ef=20]" in out.stdout
    assert "regression gate FAILED" in out.stderr
    out = invoke("compare", path, "--results", results, "--tolerance", "recall=0.1")
    assert out.exit_code == EXIT_OK

    bumped = modified(worse, "brute", None, version="9.9")
    for r in bumped:
        write_record(results, r)
    md = tmp_path / "gate.md"
    out = invoke("compare", path, "--results", results, "--markdown", md)
    assert out.exit_code == EXIT_REGRESSION and "rebaseline" in md.read_text()

    out = invoke("baseline", "update", path, "--results", results)
    assert out.exit_code == 0, out.output
    assert "1 regressed" in out.output and "1 rebaseline" in out.output
    assert invoke("compare", path, "--results", results).exit_code == EXIT_OK


def test_cli_rebaseline_exit_status_and_refusals(results, tmp_path):
    path = tmp_path / "b.json"
    assert invoke("baseline", "save", path, "--results", results).exit_code == 0
    for r in modified(base_records(), "brute", None, checksum="new"):
        write_record(results, r)
    out = invoke("compare", path, "--results", results, "--json")
    assert out.exit_code == EXIT_REBASELINE
    assert json.loads(out.output)["verdict"] == "re-baseline needed"
    out = invoke("compare", path, "--results", results, "--measure", "qps")
    assert out.exit_code == 2 and "timing measure" in out.output
    assert "--ab REF" in out.output
    out = invoke("compare", "--results", results)
    assert out.exit_code == 2 and "exactly one of" in out.output
    out = invoke("compare", path, "--ab", "HEAD")
    assert out.exit_code == 2 and "exactly one of" in out.output
    out = invoke("compare", "--ab-dir", tmp_path, "--measure", "recall")
    assert out.exit_code == 2 and "deterministic measure" in out.output
    out = invoke("compare", "--ab-dir", tmp_path, "--measure", "qsp")
    assert out.exit_code == 2 and "did you mean 'qps'" in out.output
    out = invoke("baseline", "save", tmp_path / "x.json", "--results", tmp_path / "none")
    assert out.exit_code == 2 and "no records" in out.output
    out = invoke("baseline", "update", tmp_path / "missing.json", "--results", results)
    assert out.exit_code == 2 and "baseline file not found" in out.output


def test_unknown_baseline_measure_is_named():
    base = baseline_of(base_records())
    with pytest.raises(UnknownNameError, match="did you mean 'recall'"):
        compare_baseline(base, base_records(), measures=["recal"])
    rep = compare_baseline(base, modified(base_records(), "hnsw", {"ef": 10}, recall_ids=0.1),
                           measures=["recall"])
    assert rep.exit_code == EXIT_OK and rep.values == 3


def test_committed_quick_baseline_is_current():
    """The baseline CI compares against is well formed and covers the quick suite's points
    with the deterministic measures registered today."""
    from harness.config import expand, load_suite
    from harness.plugins import get_registry

    path = Path(__file__).resolve().parent.parent / "results" / "baselines" / "quick.json"
    base = load_baseline(path)
    assert base["suite"] == "quick"
    registry = get_registry()
    specs = [s for g in expand(load_suite("quick", registry), registry) for s in g.specs]
    assert {point_key({**s.identity(), "label": s.label}) for s in specs} == {
        p["point"] for p in base["points"]}
    search = {name for name, entry in registry.measures
              if entry.info.deterministic and "search" in entry.info.tasks}
    assert search <= set(base["measures"]), "re-baseline: vecbench baseline update"
    for p in base["points"]:
        assert p["status"] == "ok" and p["measures"]["recall"] is not None
