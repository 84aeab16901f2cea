"""The report and regression-gate commands of ``vecbench``: ``report``, ``baseline``,
``compare``.

``install(main)`` adds them to the ``vecbench`` click group. Exit statuses of ``compare``:
0 nothing changed beyond tolerance; 1 a regression (a deterministic measure worse beyond
tolerance, a point failing, or a timing significantly slower beyond the factor); 3 only
"re-baseline needed" (a dataset checksum or plugin version changed, or the suite's points
did); 2 bad usage or bad input, as every ``vecbench`` command.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

from harness.errors import VecbenchError

results_option = click.option(
    "--results", "results", metavar="DIR", default=None,
    help="Record folder (default: $VECBENCH_RESULTS or ./results).")
data_option = click.option(
    "--data", "data", metavar="DIR", default=None,
    help="Dataset cache (default: $VECBENCH_DATA or ./datasets).")
plugin_option = click.option(
    "-p", "--plugin", "plugins", multiple=True, metavar="MODULE",
    help="Load a local plugin module (dotted name or .py file); repeatable.")
markdown_option = click.option(
    "--markdown", "markdown", metavar="FILE", default=None,
    help="Also write the Markdown table of changes to FILE ('-': print it instead of the "
         "text summary, e.g. >> $GITHUB_STEP_SUMMARY).")
tolerance_option = click.option(
    "--tolerance", "tolerance", multiple=True, metavar="T|NAME=T",
    help="Tolerance of the deterministic measures: |new - old| <= T * max(1, |old|); "
         "NAME=T for one measure; repeatable.")


def _results_dir(value: str | None) -> Path:
    from harness.results import default_results_dir

    return Path(value) if value else default_results_dir()


def _data_dir(value: str | None) -> Path:
    import os

    return Path(value) if value else Path(os.environ.get("VECBENCH_DATA", "datasets"))


def _records(results: str | None) -> list[dict[str, Any]]:
    from harness.results import load_all

    folder = _results_dir(results)
    recs = load_all(folder)
    if not recs:
        raise VecbenchError(f"no records in {folder}; run a suite first (vecbench run quick) "
                            "or pass --results DIR")
    return recs


def _emit_markdown(markdown: str | None, text: str) -> None:
    if markdown is None:
        return
    if markdown == "-":
        click.echo(text)
    else:
        Path(markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(markdown).write_text(text)


def _say(markdown: str | None, text: str) -> None:
    """The text summary: on stdout, or on stderr when stdout carries the Markdown."""
    click.echo(text, err=markdown == "-")


# --------------------------------------------------------------------------- report


@click.command()
@results_option
@click.option("--out", "out", metavar="DIR", default="report", show_default=True,
              help="Folder of the static site.")
@click.option("--recall", "recalls", type=float, multiple=True, metavar="R",
              help="Leaderboard threshold; repeatable (default: 0.9, 0.95 and 0.99).")
@click.option("--recall-col", default="recall", show_default=True,
              help="Recall measure that ranks the leaderboards.")
@click.option("--title", default="vecbench report", show_default=True)
@click.option("--no-site", is_flag=True, help="Write no site (only the files asked for).")
@click.option("--csv", "csv_path", metavar="FILE", default=None,
              help="Write every record as CSV to FILE.")
@click.option("--parquet", "parquet_path", metavar="FILE", default=None,
              help="Write every record as Parquet to FILE (needs pyarrow: the 'parquet' "
                   "extra); the site gets records.parquet too.")
@markdown_option
def report(results: str | None, out: str, recalls: tuple[float, ...], recall_col: str,
           title: str, no_site: bool, csv_path: str | None, parquet_path: str | None,
           markdown: str | None) -> None:
    """Static report site (opens from disk), Markdown summary, CSV / Parquet export."""
    from harness.report import THRESHOLDS, export_frame, markdown_summary
    from harness.report_site import records_frame, write_site

    thresholds = recalls or THRESHOLDS
    for r in thresholds:
        if not 0.0 <= r <= 1.0:
            raise VecbenchError(f"--recall must be within [0, 1], got {r}")
    recs = _records(results)
    frame = records_frame(recs)
    if parquet_path:
        export_frame(frame, parquet_path, "parquet")
        _say(markdown, f"wrote {parquet_path}")
    if csv_path:
        export_frame(frame, csv_path, "csv")
        _say(markdown, f"wrote {csv_path}")
    if not no_site:
        site = write_site(recs, out, thresholds=thresholds, recall_col=recall_col,
                          title=title, parquet=parquet_path is not None)
        _say(markdown, f"wrote {site.index} ({len(site.pages)} pages, {len(site.images)} "
                       "figures)")
    if markdown is not None:
        _emit_markdown(markdown, markdown_summary(frame, thresholds, recall_col=recall_col,
                                                  title=title))


# --------------------------------------------------------------------------- baseline


@click.group()
def baseline() -> None:
    """Baselines of the deterministic measures (recall, ...) for the CI gate."""


@baseline.command("save")
@click.argument("path")
@results_option
@plugin_option
@click.option("--suite", default=None, help="Suite whose records to keep (needed when the "
                                             "results hold several).")
@tolerance_option
@click.option("--force", is_flag=True, help="Replace an existing baseline file.")
def baseline_save(path: str, results: str | None, plugins: tuple[str, ...],
                  suite: str | None, tolerance: tuple[str, ...], force: bool) -> None:
    """Keep the deterministic measures of the last run of a suite in PATH (JSON)."""
    from harness.plugins import get_registry
    from harness.regress import Tolerance, make_baseline, measure_directions, save_baseline

    target = Path(path)
    if target.exists() and not force:
        raise VecbenchError(f"{target} exists; accept changes with `vecbench baseline update "
                            f"{target}`, or replace it with --force")
    measures = measure_directions(get_registry(plugins), deterministic=True)
    data = make_baseline(_records(results), measures=measures, suite=suite,
                         tolerance=Tolerance().with_overrides(tolerance))
    save_baseline(data, target)
    n_values = sum(len(p["measures"]) for p in data["points"])
    click.echo(f"wrote {target}: suite {data['suite']!r}, {len(data['points'])} point(s), "
               f"{n_values} deterministic value(s)")


@baseline.command("update")
@click.argument("path")
@results_option
@plugin_option
@click.option("--prune", is_flag=True, help="Drop baseline points the run does not have.")
@tolerance_option
@markdown_option
def baseline_update(path: str, results: str | None, plugins: tuple[str, ...], prune: bool,
                    tolerance: tuple[str, ...], markdown: str | None) -> None:
    """Accept the last run as the new baseline in PATH, listing what changed."""
    from harness.plugins import get_registry
    from harness.regress import (
        Tolerance,
        load_baseline,
        measure_directions,
        save_baseline,
        update_baseline,
    )

    old = load_baseline(path)
    tol = Tolerance.from_dict(old.get("tolerance")).with_overrides(tolerance)
    measures = measure_directions(get_registry(plugins), deterministic=True)
    new, rep = update_baseline(old, _records(results), measures=measures, prune=prune,
                               tolerance=tol)
    save_baseline(new, path)
    _emit_markdown(markdown, rep.markdown())
    _say(markdown, f"accepted: {rep.summary()}")
    _say(markdown, f"wrote {path}: {len(new['points'])} point(s)")


# --------------------------------------------------------------------------- compare


@click.command()
@click.argument("path", required=False)
@results_option
@data_option
@plugin_option
@tolerance_option
@click.option("--strict", is_flag=True,
              help="Deterministic gate: fail on improvements and fixed points too.")
@click.option("--ab", "ab", metavar="REF", default=None,
              help="Timing A/B against REF: a git revision of --repo, or a folder put first "
                   "on PYTHONPATH (a checkout, or a plugin version installed with pip "
                   "--target).")
@click.option("--ab-dir", "ab_dir", metavar="DIR", default=None,
              help="Analyse the A/B samples an earlier --ab run left in DIR (--work).")
@click.option("--suite", default="quick", show_default=True,
              help="Suite the A/B runs (name or file).")
@click.option("-k", "select_expr", metavar="EXPR", default=None,
              help="A/B: run only specs matching EXPR.")
@click.option("--samples", type=int, default=5, show_default=True,
              help="A/B: runs per side, interleaved.")
@click.option("--factor", type=float, default=1.1, show_default=True,
              help="A/B: smallest slowdown of the medians that is flagged.")
@click.option("--alpha", type=float, default=0.05, show_default=True,
              help="A/B: significance level of the Mann-Whitney U test.")
@click.option("--measure", "measures", multiple=True, metavar="NAME",
              help="Measures to compare (A/B default: qps, search_cpu_seconds, p50_ms, "
                   "build_seconds, build_cpu_seconds; baseline default: all of the "
                   "baseline's); repeatable.")
@click.option("--repo", metavar="DIR", default=".", show_default=True,
              help="A/B: git repository of the code under test.")
@click.option("--src", metavar="SUBDIR", default=".", show_default=True,
              help="A/B: folder of the repository to put on PYTHONPATH (e.g. src).")
@click.option("--work", metavar="DIR", default=None,
              help="A/B: keep the runs' records in DIR (default: a temporary folder).")
@markdown_option
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
def compare(path: str | None, results: str | None, data: str | None,
            plugins: tuple[str, ...], tolerance: tuple[str, ...], strict: bool,
            ab: str | None, ab_dir: str | None, suite: str, select_expr: str | None,
            samples: int, factor: float, alpha: float, measures: tuple[str, ...], repo: str,
            src: str, work: str | None, markdown: str | None, as_json: bool) -> None:
    """Regression gate: a run against a baseline at PATH (deterministic measures), or the
    current code against a reference (--ab REF: timings, same machine, interleaved)."""
    given = [x for x in (path, ab, ab_dir) if x is not None]
    if len(given) != 1:
        raise VecbenchError("give exactly one of: a baseline PATH (deterministic gate), "
                            "--ab REF (timing A/B) or --ab-dir DIR (re-analyse A/B samples)")
    if path is not None:
        rep = _compare_baseline(path, results, plugins, tolerance, strict, measures)
    else:
        rep = _compare_timing(ab, ab_dir, suite, data, plugins, select_expr, samples, factor,
                              alpha, measures, repo, src, work)
    _emit_markdown(markdown, rep.markdown())
    if as_json:
        click.echo(json.dumps(rep.as_dict(), indent=1), err=markdown == "-")
    else:
        _say(markdown, rep.summary())
        if markdown != "-":
            for line in _text_lines(rep):
                click.echo(line)
    sys.exit(rep.exit_code)


def _text_lines(rep: Any) -> list[str]:
    from harness.regress import GateReport

    out = []
    if isinstance(rep, GateReport):
        out += [f"  note: {n}" for n in rep.notes]
        for f in rep.rows()[:50]:
            values = ("" if not f.measure else
                      f" {f.measure}: {f.baseline} -> {f.current}")
            out.append(f"  {f.status:<10} {f.describe}{values}"
                       + (f"  ({f.note})" if f.note else ""))
        if len(rep.rows()) > 50:
            out.append(f"  ... and {len(rep.rows()) - 50} more (see --markdown or --json)")
    else:
        out += [f"  note: {n}" for n in rep.notes]
        for f in rep.findings:
            if f.status != "same":
                ratio = "-" if f.ratio is None else f"{f.ratio:.3f}"
                p = "-" if f.p_value is None else f"{f.p_value:.3g}"
                out.append(f"  {f.status:<7} {f.describe} {f.measure}: ratio {ratio}, "
                           f"p {p}" + (f" ({f.note})" if f.note else ""))
    return out


def _compare_baseline(path: str, results: str | None, plugins: tuple[str, ...],
                      tolerance: tuple[str, ...], strict: bool,
                      measures: tuple[str, ...]) -> Any:
    from harness.plugins import get_registry
    from harness.regress import Tolerance, compare_baseline, load_baseline, measure_directions

    base = load_baseline(path)
    if measures:
        timing = measure_directions(get_registry(plugins), deterministic=False)
        for name in measures:
            if name in timing:
                raise VecbenchError(
                    f"{name!r} is a timing measure: timings are comparable only on one "
                    "machine in one job, never against a stored baseline; compare them "
                    "with vecbench compare --ab REF")
    tol = Tolerance.from_dict(base.get("tolerance")).with_overrides(tolerance)
    return compare_baseline(base, _records(results), tolerance=tol, strict=strict,
                            measures=list(measures) or None)


def _compare_timing(ab: str | None, ab_dir: str | None, suite: str, data: str | None,
                    plugins: tuple[str, ...], select_expr: str | None, samples: int,
                    factor: float, alpha: float, measures: tuple[str, ...], repo: str,
                    src: str, work: str | None) -> Any:
    import contextlib

    from harness.plugins import get_registry
    from harness.regress import (
        DEFAULT_TIMING_MEASURES,
        Side,
        ab_runs,
        check_timing_measures,
        compare_timings,
        folder_reference,
        git_reference,
        git_toplevel,
        load_ab_runs,
        suite_runner,
    )

    directions = check_timing_measures(list(measures) or list(DEFAULT_TIMING_MEASURES),
                                       get_registry(plugins))
    if ab_dir is not None:
        ref_runs, cur_runs = load_ab_runs(ab_dir)
        return compare_timings(ref_runs, cur_runs, directions, factor=factor, alpha=alpha,
                               reference_label=f"reference runs in {ab_dir}",
                               current_label=f"current runs in {ab_dir}")
    assert ab is not None

    def progress(msg: str) -> None:
        click.echo(msg, err=True)

    run = suite_runner(suite, data_dir=_data_dir(data), plugins=plugins,
                       select_expr=select_expr)
    with contextlib.ExitStack() as stack:
        if Path(ab).is_dir():
            reference = folder_reference(ab)
            current = Side("current", "installed code")
        else:
            top = git_toplevel(repo)
            reference = stack.enter_context(git_reference(ab, top, src))
            current = Side("current", f"working tree of {top}", (str((top / src).resolve()),))
        work_dir = Path(work) if work else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="vecbench-ab-")))
        ref_runs, cur_runs = ab_runs(current, reference, run, work_dir, samples=samples,
                                     progress=progress)
    return compare_timings(ref_runs, cur_runs, directions, factor=factor, alpha=alpha,
                           reference_label=reference.label, current_label=current.label)


def install(main_group: click.Group) -> None:
    """Add ``report``, ``baseline`` and ``compare`` to the ``vecbench`` command group."""
    for command in (report, baseline, compare):
        main_group.add_command(command)
