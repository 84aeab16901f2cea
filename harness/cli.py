"""The ``vecbench`` command.

Exit codes (also in the README):

- 0: success;
- 1: ``run``: a spec failed, timed out or returned an invalid result (everything is recorded
  first); ``check``: a conformance check failed;
- 2: bad usage or bad input (unknown suite, plugin, dataset or parameter; malformed suite
  file; no records to read).

A plugin whose library is not installed is recorded as ``unavailable``: not a failure.
Heavy libraries (pandas, matplotlib) are imported inside the commands that need them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from harness.errors import VecbenchError

DATA_ENV = "VECBENCH_DATA"


def _results_dir(value: str | None) -> Path:
    from harness.results import default_results_dir

    return Path(value) if value else default_results_dir()


def _data_dir(value: str | None) -> Path:
    return Path(value) if value else Path(os.environ.get(DATA_ENV, "datasets"))


results_option = click.option(
    "--results", "results", metavar="DIR", default=None,
    help="Record folder (default: $VECBENCH_RESULTS or ./results).")
data_option = click.option(
    "--data", "data", metavar="DIR", default=None,
    help="Dataset cache (default: $VECBENCH_DATA or ./datasets).")
plugin_option = click.option(
    "-p", "--plugin", "plugins", multiple=True, metavar="MODULE",
    help="Load a local plugin module (dotted name or .py file); repeatable.")


class _Group(click.Group):
    """Turns vecbench's own errors into one clear line and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except VecbenchError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="vecbench")
def main() -> None:
    """vecbench: benchmark vector retrieval (indexes, metrics, attacks) through plugins."""


# --------------------------------------------------------------------------- plugins


@main.command()
@plugin_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per plugin.")
def plugins(plugins: tuple[str, ...], as_json: bool) -> None:
    """What is installed, from which package, what each provides, load errors."""
    from harness.plugins import get_host

    host = get_host(plugins)
    rows = [s.as_dict() for s in sorted(host.status.values(), key=lambda s: s.name)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        origin = row["distribution"] or "local module"
        version = row["version"] or "?"
        click.echo(f"{row['name']}  ({origin} {version}; module {row['module']})")
        if row["error"]:
            click.echo(f"    ERROR: {row['error']}")
        for kind, names in row["provides"].items():
            click.echo(f"    {kind}: {', '.join(names)}")
        for name, why in row["unavailable"].items():
            click.echo(f"    unavailable: {name}: {why}")


# --------------------------------------------------------------------------- datasets


@main.group(invoke_without_command=True)
@data_option
@plugin_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.pass_context
def datasets(ctx: click.Context, data: str | None, plugins: tuple[str, ...],
             as_json: bool) -> None:
    """What datasets exist, their size and metric, and whether they are available here."""
    if ctx.invoked_subcommand is not None:
        return
    from harness.data import dataset_table
    from harness.plugins import get_host

    get_host(plugins)
    rows = dataset_table(_data_dir(data))
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    for row in rows:
        avail = row.get("available")
        mark = "yes" if avail is True else "no"
        if row.get("family"):
            click.echo(f"{row['name']:<26} {row.get('metric', ''):<12} {row.get('kind', ''):<7} "
                       f"{row.get('description', '')}")
            continue
        size = f"{row.get('n_train', '?')} x {row.get('dim', '?')}"
        click.echo(f"{row['name']:<26} {row.get('metric', ''):<12} {row.get('kind', ''):<7} "
                   f"{size:<18} queries {row.get('n_test', '?'):<6} available: {mark}")
        if avail is not True and row.get("reason"):
            click.echo(f"    {row['reason']}")


@datasets.command("fetch")
@click.argument("name")
@data_option
@plugin_option
@click.option("--dry-run", is_flag=True, help="Only print what would be run or downloaded.")
def datasets_fetch(name: str, data: str | None, plugins: tuple[str, ...], dry_run: bool) -> None:
    """Get dataset NAME: install the package it names or download it; verify checksums."""
    from harness.fetch import fetch_dataset
    from harness.plugins import get_host

    get_host(plugins)
    click.echo(fetch_dataset(name, _data_dir(data), dry_run=dry_run))


# --------------------------------------------------------------------------- suites


@main.command()
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def suites(as_json: bool) -> None:
    """The built-in suites and what each runs."""
    from harness.config import builtin_suites, load_suite

    out = []
    for name, path in builtin_suites().items():
        suite = load_suite(path)
        runs = [{"datasets": r["dataset"], "indexes": r["index"], "task": r["task"]}
                for r in suite.runs]
        out.append({"name": name, "description": suite.description, "runs": runs,
                    "path": str(path)})
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    for row in out:
        click.echo(f"{row['name']}: {row['description']}")
        for run in row["runs"]:
            click.echo(f"    {run['task']}: {', '.join(run['indexes'])} on "
                       f"{', '.join(run['datasets'])}")


# --------------------------------------------------------------------------- run


@main.command()
@click.argument("suite")
@results_option
@data_option
@plugin_option
@click.option("-k", "select_expr", metavar="EXPR", default=None,
              help="Run only specs matching EXPR (words with and/or/not, as pytest -k).")
@click.option("--dry-run", is_flag=True, help="List the specs with a time estimate; run none.")
@click.option("--retry-failed", is_flag=True, help="Run again specs recorded as failed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the records written, as JSON (implies --quiet).")
@click.option("--plot/--no-plot", default=True, help="Write recall-QPS plots at the end.")
@click.option("--jobs", "-j", type=int, default=1, show_default=True,
              help="Build groups run at once (local executor), each pinned to its own core.")
@click.option("--executor", default="local", show_default=True,
              help="Where build groups run: local, dask, or a plugin's executor.")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Dask scheduler address (default: $DASK_SCHEDULER_ADDRESS).")
@click.option("--shard", metavar="I/N", default=None,
              help="Run only the I-th of N deterministic shares of the suite (1 <= I <= N); "
                   "combine record folders with `vecbench results merge`.")
def run(suite: str, results: str | None, data: str | None, plugins: tuple[str, ...],
        select_expr: str | None, dry_run: bool, retry_failed: bool, quiet: bool,
        as_json: bool, plot: bool, jobs: int, executor: str, scheduler: str | None,
        shard: str | None) -> None:
    """Run SUITE (a built-in suite name or a suite file) and record every spec."""
    from harness.session import Session

    results_dir = _results_dir(results)
    quiet = quiet or as_json
    session = Session(suite, results_dir=results_dir, data_dir=_data_dir(data),
                      select_expr=select_expr, retry_failed=retry_failed,
                      extra_modules=plugins, shard=_parse_shard(shard),
                      progress=None if quiet else lambda m: click.echo(m, err=True))
    if dry_run:
        rows = session.dry_run()
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        for row in rows:
            click.echo(f"{row['estimate_seconds']:>8.1f}s  {row['spec']}")
        total = sum(r["estimate_seconds"] for r in rows)
        click.echo(f"{len(rows)} spec(s), estimated {total / 60:.1f} min "
                   "(from past records where available, else a rough guess)")
        return
    report = session.run(_executor(session.registry, executor, jobs, scheduler))
    if as_json:
        click.echo(json.dumps([_brief(r) for r in report.written], indent=2))
    else:
        _print_summary(results_dir, report)
        if plot and report.written:
            _plot(results_dir, results_dir / "plots", quiet=False)
    sys.exit(report.exit_code)


def _parse_shard(value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        i, n = (int(part) for part in value.split("/"))
    except ValueError:
        raise VecbenchError(f"--shard takes I/N (e.g. 2/4), got {value!r}") from None
    return i, n


def _executor(registry: Any, name: str, jobs: int, scheduler: str | None) -> Any:
    info = registry.executors.get(name)
    missing = info.missing_requirements()
    if missing:
        raise VecbenchError(f"executor {name!r} needs {', '.join(missing)}: "
                            f"{info.install_hint or 'pip install ' + ' '.join(missing)}")
    if name != "local" and jobs != 1:
        raise VecbenchError("--jobs applies to the local executor; a cluster's parallelism "
                            "is its number of workers")
    return info.factory(jobs=jobs, scheduler=scheduler)


def _brief(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record.get(k) for k in ("spec_id", "suite", "spec", "status", "error",
                                       "measures", "warnings")}


def _summary_measures(df: Any) -> list[str] | None:
    """The measures the closing table shows: the search defaults, unless every record comes
    from other tasks, whose declared ``summary_measures`` are shown instead."""
    from harness.errors import UnknownNameError
    from harness.plugins import get_registry

    tasks = [t for t in dict.fromkeys(df["task"].dropna()) if t] if "task" in df else []
    if not tasks or "search" in tasks:
        return None
    shown: list[str] = []
    for name in tasks:
        try:
            declared = get_registry().tasks.get(name).summary_measures
        except UnknownNameError:  # records of a task whose plugin is not installed here
            continue
        shown += [m for m in declared if m not in shown]
    return shown or None


def _print_summary(results_dir: Path, report: Any) -> None:
    from harness.report import format_table, summary_table
    from harness.results import load_results

    df = load_results(results_dir)
    ids = {r["spec_id"] for r in report.written}
    df = df[df["spec_id"].isin(ids)] if ids else df.iloc[0:0]
    if len(df):
        click.echo(format_table(summary_table(df, _summary_measures(df)), "table"))
    failed = report.failures
    click.echo(f"\n{len(report.written)} record(s) written to {results_dir}, "
               f"{report.skipped} skipped as already recorded, {len(failed)} failed.")
    for rec in failed:
        last = (rec.get("error") or "").strip().splitlines()[-1:] or [""]
        click.echo(f"  {rec['status']}: {rec['spec']['index']} on {rec['spec']['dataset']} "
                   f"{rec['spec']['build']} {rec['spec']['query']}: {last[0][:200]}")


# --------------------------------------------------------------------------- check


@main.command()
@click.argument("target")
@plugin_option
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def check(target: str, plugins: tuple[str, ...], as_json: bool) -> None:
    """Run the conformance kit on a plugin (registered name, module or .py file)."""
    from harness.testing import run_checks

    results = run_checks(target, extra_modules=plugins)
    rows = [{"plugin": r.plugin, "kind": r.kind, "metric": r.metric, "check": r.check,
             "status": r.status, "passed": r.passed, "error": r.error, "seconds": r.seconds,
             "expected_failure": r.expected_failure} for r in results]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        for row in rows:
            metric = f" [{row['metric']}]" if row["metric"] else ""
            click.echo(f"{row['status'].upper():<6} {row['kind']} {row['plugin']}{metric}: "
                       f"{row['check']}  ({row['seconds']:.2f}s)")
            if row["status"] == "xfail":
                click.echo(f"      expected: {row['expected_failure']}")
            elif not row["passed"] and row["error"]:
                click.echo(f"      {row['error'].strip().splitlines()[-1][:300]}")
        n_fail = sum(not r["passed"] for r in rows)
        n_xfail = sum(r["status"] == "xfail" for r in rows)
        click.echo(f"{len(rows) - n_fail - n_xfail} passed, {n_fail} failed, "
                   f"{n_xfail} expected failures")
    if not rows:
        raise VecbenchError(f"no index or metric to check in {target!r}")
    sys.exit(1 if any(not r["passed"] for r in rows) else 0)


# --------------------------------------------------------------------------- results


def _load(results: str | None):
    from harness.results import load_results

    results_dir = _results_dir(results)
    df = load_results(results_dir)
    if df.empty:
        raise VecbenchError(f"no records in {results_dir}; run a suite first "
                            "(vecbench run quick) or pass --results DIR")
    return df


@main.group(name="results", invoke_without_command=True)
@results_option
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True)
@click.option("--all-columns", is_flag=True, help="Every column, not only the main ones.")
@click.pass_context
def results_cmd(ctx: click.Context, results: str | None, fmt: str, all_columns: bool) -> None:
    """Tidy table of every record (subcommand: merge)."""
    if ctx.invoked_subcommand is not None:
        return
    from harness.report import format_table

    df = _load(results).sort_values(["dataset", "index", "build", "query", "seed"],
                                    kind="stable")
    columns = None
    if not all_columns and fmt == "table":
        wanted = ["dataset", "index", "build", "query", "k", "seed", "status", "recall",
                  "qps", "p50_ms", "build_seconds", "index_bytes"]
        columns = [c for c in wanted if c in df.columns]
    click.echo(format_table(df, fmt, columns=columns))


@results_cmd.command(name="merge")
@click.argument("sources", nargs=-1, required=True, metavar="DIR...")
@click.option("--into", "into", metavar="DIR", required=True, help="Record folder to merge into.")
@click.option("--json", "as_json", is_flag=True, help="JSON summary.")
def results_merge(sources: tuple[str, ...], into: str, as_json: bool) -> None:
    """Combine record folders (e.g. from --shard runs); duplicates are detected and reported."""
    from harness.results import merge_results

    summary = merge_results([Path(s) for s in sources], Path(into))
    if as_json:
        click.echo(json.dumps(summary, indent=2))
        return
    click.echo(f"merged into {into}: {summary['copied']} copied, {summary['identical']} "
               f"identical duplicates skipped, {len(summary['conflicts'])} conflicting "
               f"duplicates")
    for conflict in summary["conflicts"]:
        click.echo(f"  {conflict['spec_id']}: kept {conflict['kept']} ({conflict['why']}); "
                   f"other copy in {conflict['other']}")


@main.command()
@results_option
@click.option("--recall", "recall", type=float, default=0.9, show_default=True,
              help="Recall threshold r.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per (dataset, index).")
def leaderboard(results: str | None, recall: float, as_json: bool) -> None:
    """Per dataset and index: max QPS at recall >= r (seeds aggregated first)."""
    from harness.report import format_table, leaderboard_records
    from harness.report import leaderboard as make_leaderboard

    if not 0.0 <= recall <= 1.0:
        raise VecbenchError(f"--recall must be within [0, 1], got {recall}")
    lb = make_leaderboard(_load(results), recall=recall)
    if as_json:
        click.echo(json.dumps(leaderboard_records(lb), indent=2))
    else:
        wanted = ["dataset", "metric", "k", "index", "recall", "qps", "qps_interpolated",
                  "n_seeds", "build_seconds", "index_bytes", "build", "query", "note"]
        if "metric" in lb.columns and not lb["metric"].notna().any():
            wanted.remove("metric")  # no suite overrode a dataset's metric
        click.echo(format_table(lb, "table", columns=[c for c in wanted if c in lb.columns]))


@main.command()
@results_option
@click.option("--out", "out", metavar="DIR", default="plots", show_default=True,
              help="Folder for the figures.")
def plot(results: str | None, out: str) -> None:
    """Each task's figures: recall vs QPS (log scale) per dataset for search, robustness
    against budget for attacks, ...; PNG and SVG."""
    _plot(_results_dir(results), Path(out), quiet=False)


def _plot(results_dir: Path, out: Path, quiet: bool) -> None:
    from harness.plugins import get_registry
    from harness.results import load_results

    df = load_results(results_dir)
    if df.empty:
        raise VecbenchError(f"no records in {results_dir} to plot")
    registry = get_registry()
    paths = []
    for task_name in sorted(set(df["task"].dropna())):
        if task_name not in registry.tasks:
            continue
        task = registry.tasks.get(task_name)
        if task.plot is not None:
            paths += task.plot(df[df["task"] == task_name], out)
    if not quiet:
        for path in paths:
            click.echo(f"wrote {path}")


# --------------------------------------------------------------------------- bench


@main.group()
def bench() -> None:
    """Benchmarks of vecbench itself."""


@bench.command()
@data_option
@click.option("--library", type=click.Choice(["faiss", "hnswlib"]), default="faiss",
              show_default=True, help="The real index timed bare and through the harness.")
@click.option("--dataset", default="gmm-100000x128", show_default=True)
@click.option("--repetitions", type=int, default=5, show_default=True)
def overhead(data: str | None, library: str, dataset: str, repetitions: int) -> None:
    """Harness overhead: reported QPS vs the library timed bare; per-query cost (null index)."""
    from harness.overhead import measure

    report = measure(library, dataset, repetitions=repetitions, data_dir=_data_dir(data))
    for line in report.lines():
        click.echo(line)


from harness.cli_report import install as _install_report  # noqa: E402

_install_report(main)


if __name__ == "__main__":
    main()
