"""Fault isolation: every injected failure becomes a record with its cause; the sweep goes on."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from harness import results as records
from harness.results import schema
from harness.session import Session

FAULT_MODULE = str(Path(__file__).with_name("fault_plugins.py"))


def _write_suite(path: Path, faults: list[str], **defaults) -> Path:
    settings = {"k": 5, "timeout": 20, "repetitions": 2, "latency_queries": 10, **defaults}
    lines = ['name = "faults"', "[defaults]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in settings.items()]
    lines += ["[[run]]", 'dataset = "gmm-400x8"', 'index = "faulty"',
              f"build = {{ fault = {json.dumps(faults)} }}", "query = { point = [0, 1, 2] }"]
    path.write_text("\n".join(lines) + "\n")
    return path


def _run(tmp_path, faults, **defaults):
    suite = _write_suite(tmp_path / "suite.toml", faults, **defaults)
    session = Session(suite, results_dir=tmp_path / "results", data_dir=tmp_path / "data",
                      extra_modules=(FAULT_MODULE,))
    report = session.run()
    by = {}
    for rec in report.written:
        by[(rec["spec"]["build"]["fault"], rec["spec"]["query"]["point"])] = rec
    return report, by


def test_healthy_index_records_are_valid_and_exact(tmp_path):
    report, by = _run(tmp_path, ["none"])
    assert report.exit_code == 0
    assert len(by) == 3
    validator = jsonschema.Draft202012Validator(schema())
    for rec in by.values():
        validator.validate(rec)
        assert rec["status"] == "ok"
        assert rec["measures"]["recall"] == 1.0
        assert rec["measures"]["qps"] > 0
        assert rec["measures"]["build_seconds"] >= 0
        assert rec["measures"]["p50_ms"] > 0
    arrays = records.read_arrays(tmp_path / "results" / by[("none", 0)]["spec_id"])
    assert arrays["ids"].shape == (arrays["distances"].shape[0], 5)
    assert arrays["latencies"].size == 10


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_a_group_sees_the_drivers_environment_and_its_thread_count(
        tmp_path, monkeypatch, start_method):
    # the warm fork server is started once; the environment a group sees must still be the
    # driver's at the group's start (set here after earlier tests started the server)
    monkeypatch.setenv("VECBENCH_START_METHOD", start_method)
    monkeypatch.setenv("VECBENCH_TEST_PROBE", "7")
    # "jit" compiles with numba in the group: numba re-reads its environment then, and
    # refuses a thread count other than the one its pool was started with
    _, by = _run(tmp_path, ["jit"], threads=2)
    for rec in by.values():
        assert rec["status"] == "ok"
        assert rec["timing"]["query_stats"] == {"env_omp_threads": 2.0, "env_probe": 7.0,
                                                "numba_threads": 2.0}
        assert rec["threads"]["threads"] == 2
        blas = [p for p in rec["threads"]["threadpools"] if p["user_api"] == "blas"]
        assert blas and all(p["num_threads"] == 2 for p in blas)


@pytest.mark.parametrize(
    ("fault", "status", "cause", "points_ok"),
    [
        ("build-error", "failed", "injected failure at build", []),
        ("query-error", "failed", "injected failure at query", [0, 2]),
        ("hang", "timeout", "timeout", [0]),
        ("abort", "failed", "killed by signal SIGABRT", [0]),
        ("bad-shape", "invalid-result", "shape", [0, 2]),
        ("out-of-range", "invalid-result", "out of range", [0, 2]),
        ("duplicates", "invalid-result", "duplicate ids", [0, 2]),
        ("float-ids", "invalid-result", "integers", [0, 2]),
    ],
)
def test_each_fault_is_recorded_with_its_cause_and_the_sweep_goes_on(
        tmp_path, fault, status, cause, points_ok):
    report, by = _run(tmp_path, [fault, "none"], timeout=8)
    assert report.exit_code == 1
    for point in (0, 1, 2):
        rec = by[(fault, point)]
        if point in points_ok:
            assert rec["status"] == "ok", rec["error"]
        else:
            assert rec["status"] in (status, "timeout", "failed")
            assert rec["error"]
    struck = by[(fault, 1)]
    assert struck["status"] == status
    assert cause in struck["error"]
    # the healthy build after the faulty one still ran completely
    assert all(by[("none", p)]["status"] == "ok" for p in (0, 1, 2))


def test_memory_blow_up_is_killed_at_the_limit(tmp_path):
    _report, by = _run(tmp_path, ["memory", "none"], memory_limit_mb=700, timeout=60)
    rec = by[("memory", 1)]
    assert rec["status"] == "failed"
    assert "memory limit exceeded" in rec["error"]
    assert by[("memory", 0)]["status"] == "ok"
    assert all(by[("none", p)]["status"] == "ok" for p in (0, 1, 2))


def test_resume_skips_recorded_specs_and_retry_failed_reruns_failures(tmp_path):
    report, _by = _run(tmp_path, ["query-error"])
    assert len(report.written) == 3
    suite = tmp_path / "suite.toml"
    again = Session(suite, results_dir=tmp_path / "results", data_dir=tmp_path / "data",
                    extra_modules=(FAULT_MODULE,)).run()
    assert again.written == [] and again.skipped == 3
    retry = Session(suite, results_dir=tmp_path / "results", data_dir=tmp_path / "data",
                    extra_modules=(FAULT_MODULE,), retry_failed=True).run()
    assert [r["spec"]["query"]["point"] for r in retry.written] == [1]
    assert retry.skipped == 2
    # nothing was lost or duplicated: one record per spec on disk
    assert len(list(records.iter_record_dirs(tmp_path / "results"))) == 3
    assert len(records.load_all(tmp_path / "results")) == 3


def test_plugin_budget_cuts_later_configurations_and_records_them(tmp_path):
    """A spent budget cuts the configurations that have not started: each of their specs
    is recorded with status 'cut' and the reason; the run is not a failure."""
    faults = ["none", "duplicates", "build-error", "query-error"]
    report, by = _run(tmp_path, faults, plugin_budget=0.001)
    assert len(report.written) == 12, "every spec has a record, run or cut"
    ran = {f for (f, _), rec in by.items() if rec["status"] != "cut"}
    assert ran == {"none"}, "the first configuration runs (nothing spent yet), no other"
    for (fault, _), rec in by.items():
        jsonschema.validate(rec, schema())
        if fault != "none":
            assert rec["status"] == "cut"
            assert "plugin_budget of 0.001 s for 'faulty' on 'gmm-400x8'" in rec["error"]
            assert rec["settings"]["plugin_budget"] == 0.001
    assert report.failures == [] and report.exit_code == 0
    again = Session(tmp_path / "suite.toml", results_dir=tmp_path / "results",
                    data_dir=tmp_path / "data", extra_modules=(FAULT_MODULE,),
                    retry_failed=True).run()
    # a retry runs the cut configurations again under a fresh budget: one more runs
    assert sum(r["status"] != "cut" for r in again.written) == 3
    assert len(records.load_all(tmp_path / "results")) == 12


def test_no_budget_runs_everything(tmp_path):
    _report, by = _run(tmp_path, ["none", "duplicates"], plugin_budget=0)
    assert {rec["status"] for rec in by.values()} == {"ok", "invalid-result"}


def test_a_suite_metric_override_is_scored_against_ground_truth_under_that_metric(tmp_path):
    """metric = "manhattan" on a euclidean dataset: exact search under manhattan has recall 1
    against manhattan ground truth (scipy), which differs from the euclidean one."""
    import numpy as np
    from scipy.spatial.distance import cdist

    from harness.data import load_dataset

    suite = tmp_path / "override.toml"
    suite.write_text('name = "override"\n[defaults]\nk = 10\nrepetitions = 1\n'
                     'latency_queries = 0\n[[run]]\ndataset = "gmm-2000x8"\n'
                     'index = "bruteforce"\nmetric = "manhattan"\n')
    report = Session(suite, results_dir=tmp_path / "results", data_dir=tmp_path / "data").run()
    (rec,) = report.written
    assert rec["status"] == "ok", rec["error"]
    assert rec["measures"]["recall"] == 1.0
    ds = load_dataset("gmm-2000x8", tmp_path / "data")
    manhattan = np.argsort(cdist(ds.test, ds.train, "cityblock"), axis=1)[:, :10]
    (record_dir,) = records.iter_record_dirs(tmp_path / "results")
    ids = records.read_arrays(record_dir)["ids"]
    assert not np.array_equal(np.sort(manhattan, 1), np.sort(ds.neighbors[:, :10], 1))
    np.testing.assert_array_equal(np.sort(ids, 1), np.sort(manhattan, 1))
    # the leaderboard names the metric the suite searched under
    from click.testing import CliRunner

    from harness.cli import main

    out = CliRunner().invoke(main, ["leaderboard", "--results", str(tmp_path / "results")])
    assert out.exit_code == 0, out.output
    header, _rule, row = out.output.splitlines()[:3]
    assert header.split()[:2] == ["dataset", "metric"] and row.split()[:2] == [
        "gmm-2000x8", "manhattan"]
