"""Executors, shards, merging, and a driver killed mid-suite: no record lost, duplicated or torn."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import jsonschema
import psutil
import pytest

from harness import results as records
from harness.config import expand, load_suite
from harness.executors import DaskExecutor, LocalExecutor
from harness.plugins import get_registry
from harness.session import Session, in_shard

SUITE = """
name = "exec"
[defaults]
k = 5
repetitions = 1
latency_queries = 5
timeout = 120
[[run]]
dataset = "gmm-600x8"
index = "hnswlib"
build = { M = [4, 8, 12], ef_construction = 40 }
query = { ef = [10, 40] }
[[run]]
dataset = "gmm-600x8"
index = "bruteforce"
"""


@pytest.fixture()
def suite_file(tmp_path):
    path = tmp_path / "suite.toml"
    path.write_text(SUITE)
    return path


def _session(suite_file, results, data, **kw):
    return Session(suite_file, results_dir=results, data_dir=data, **kw)


def _by_spec(report):
    return {r["spec_id"]: r for r in report.written}


def test_parallel_local_run_matches_sequential_run(suite_file, tmp_path):
    seq = _session(suite_file, tmp_path / "seq", tmp_path / "data").run(LocalExecutor(jobs=1))
    par = _session(suite_file, tmp_path / "par", tmp_path / "data").run(LocalExecutor(jobs=2))
    a, b = _by_spec(seq), _by_spec(par)
    assert set(a) == set(b) and len(a) == 7
    for sid in a:
        assert b[sid]["status"] == "ok"
        # recall is seeded and single-threaded: bit-identical whatever the executor
        assert a[sid]["measures"]["recall"] == b[sid]["measures"]["recall"]
    assert len(list(records.iter_record_dirs(tmp_path / "par"))) == 7


def test_dask_in_process_cluster_runs_the_suite_and_records_on_the_driver(suite_file, tmp_path):
    distributed = pytest.importorskip("distributed")  # declared in the dask extra
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        report = _session(suite_file, tmp_path / "dask", tmp_path / "data").run(
            DaskExecutor(client=client))
    seq = _session(suite_file, tmp_path / "seq", tmp_path / "data").run()
    a, b = _by_spec(seq), _by_spec(report)
    assert set(a) == set(b)
    assert all(r["status"] == "ok" for r in b.values())
    assert all(a[s]["measures"]["recall"] == b[s]["measures"]["recall"] for s in a)


def test_dask_lost_worker_is_retried_then_recorded_as_failed(suite_file, tmp_path, monkeypatch):
    distributed = pytest.importorskip("distributed")  # declared in the dask extra
    import harness.executors as ex

    log = tmp_path / "calls.txt"  # the task runs on a copy of this closure: count in a file
    real = ex._run_remote

    def flaky(job):
        with open(log, "a") as fh:
            fh.write(job.index_name + "\n")
        if job.index_name == "bruteforce":
            raise ConnectionResetError("simulated: the worker running this group was lost")
        return real(job)

    monkeypatch.setattr(ex, "_run_remote", flaky)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        report = _session(suite_file, tmp_path / "r", tmp_path / "data").run(
            DaskExecutor(client=client, retries=1))
    failed = [r for r in report.written if r["status"] != "ok"]
    assert [r["spec"]["index"] for r in failed] == ["bruteforce"]
    assert "after 1 retry" in failed[0]["error"] and "worker" in failed[0]["error"]
    assert log.read_text().split().count("bruteforce") == 2  # first try and one retry
    assert sum(r["status"] == "ok" for r in report.written) == 6


def test_shards_partition_the_suite(suite_file):
    groups = expand(load_suite(suite_file), get_registry())
    n = 3
    owners = [[i for i in range(1, n + 1) if in_shard(g, i, n)] for g in groups]
    assert all(len(o) == 1 for o in owners)  # every build group in exactly one share


def test_sharded_runs_merge_into_the_full_run(suite_file, tmp_path):
    full = _session(suite_file, tmp_path / "full", tmp_path / "data").run()
    for i in (1, 2):
        _session(suite_file, tmp_path / f"s{i}", tmp_path / "data", shard=(i, 2)).run()
    summary = records.merge_results([tmp_path / "s1", tmp_path / "s2"], tmp_path / "merged")
    assert summary["copied"] == 7 and not summary["conflicts"]
    merged = {r["spec_id"] for r in records.load_all(tmp_path / "merged")}
    assert merged == set(_by_spec(full))
    again = records.merge_results([tmp_path / "s1"], tmp_path / "merged")
    assert again["copied"] == 0 and again["identical"] > 0
    # a conflicting duplicate: an ok record beats a failed copy of the same spec
    sid = next(iter(merged))
    bad = tmp_path / "bad"
    bad.mkdir()
    rec = records.read_record(tmp_path / "merged" / sid)
    rec.update(status="failed", error="injected", measures={})
    records.write_record(bad, rec)
    clash = records.merge_results([bad], tmp_path / "merged")
    assert clash["copied"] == 0 and len(clash["conflicts"]) == 1
    assert records.read_record(tmp_path / "merged" / sid)["status"] == "ok"
    assert (tmp_path / "merged" / "merge-log.jsonl").read_text().count("\n") == 3


def test_driver_killed_mid_suite_then_rerun_loses_and_duplicates_nothing(suite_file, tmp_path):
    results, data = tmp_path / "results", tmp_path / "data"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(suite_file), "--results",
           str(results), "--data", str(data), "--quiet", "--no-plot"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if len(list(records.iter_record_dirs(results))) >= 2:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    helpers = psutil.Process(proc.pid).children(recursive=True)  # fork server, group, ...
    assert helpers, "a group must be running when the driver is killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    partial = {d.name for d in records.iter_record_dirs(results)}
    assert 2 <= len(partial) < 7, "the kill must land mid-suite"
    # no orphan: the driver's helper processes and the running group die with it
    _, alive = psutil.wait_procs(helpers, timeout=15)
    assert not alive, [p.cmdline()[:3] for p in alive]
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    dirs = list(records.iter_record_dirs(results))
    assert len(dirs) == 7
    names = [d.name for d in dirs]
    assert len(set(names)) == len(names)
    validator = jsonschema.Draft202012Validator(records.schema())
    for d in dirs:
        rec = records.read_record(d)
        validator.validate(rec)
        assert rec["status"] == "ok"
        assert rec["spec_id"] == d.name
        arrays = records.read_arrays(d)
        assert arrays["ids"].shape[1] == 5
    # records written before the kill were kept, not re-run
    for name in partial:
        assert (results / name / "record.json").is_file()
    catalog = [json.loads(x) for x in (results / "catalog.jsonl").read_text().splitlines()]
    assert {c["spec_id"] for c in catalog} == set(names)


def test_hook_register_executors(tmp_path):
    from harness.plugins import get_host

    plugin = tmp_path / "vb_hook_executors.py"
    plugin.write_text(
        "from harness import ExecutorInfo, hookimpl\n"
        "from harness.executors import LocalExecutor\n"
        "@hookimpl\n"
        "def register_executors(register):\n"
        "    register(ExecutorInfo('hook-test-executor', factory=LocalExecutor,\n"
        "                          description='sequential, for the hook test'))\n")
    try:
        host = get_host([str(plugin)], reload=True)
        status = host.status["vb_hook_executors"]
        assert status.error is None and status.hooks == ["register_executors"]
        entry = host.registry.executors.get_entry("hook-test-executor")
        assert entry.provider == "vb_hook_executors"
        assert isinstance(entry.info.factory(jobs=1), LocalExecutor)
        assert {"local", "dask"} <= set(host.registry.executors.names())
    finally:
        get_host(reload=True)


def test_quiet_worker_environment_sets_the_dask_settings(monkeypatch):
    dask_config = pytest.importorskip("dask.config")
    pytest.importorskip("distributed")  # its defaults are part of dask's configuration
    from harness.executors import QUIET_WORKERS, quiet_worker_env

    for var, value in quiet_worker_env().items():
        monkeypatch.setenv(var, value)
    dask_config.refresh()
    try:
        assert {k: str(dask_config.get(k)) for k in QUIET_WORKERS} == \
            {k: str(v) for k, v in QUIET_WORKERS.items()}
    finally:
        monkeypatch.undo()
        dask_config.refresh()
    assert dask_config.get("distributed.worker.profile.enabled") is True  # the default again
