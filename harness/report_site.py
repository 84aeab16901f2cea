"""The static report site: one folder of HTML pages, figures and data files, read from disk.

``write_site(records, out_dir)`` writes ``index.html`` (leaderboards of every dataset at
each recall threshold, best observed and interpolated), one page per dataset (recall-QPS
frontiers on a log scale, recall against build time and index bytes, latency percentiles,
every seed-aggregated point, the records that failed), one page per other task (``attack``,
``cluster``, ...: their own measures as tables), a provenance page (machines, versions,
plugins, dataset checksums, dates, thread pools, packages), ``records.csv`` (every record),
``summary.md`` (the Markdown summary) and optionally ``records.parquet``. Links are
relative, figures are PNG files beside the pages, the stylesheet and the small table-sorting
script are local files: the folder opens from disk with no server and no network.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import InvalidInputError, VecbenchError

if TYPE_CHECKING:
    import pandas as pd

SITE_CSS = "style.css"
SITE_JS = "site.js"
#: figures of a dataset page: (file suffix, title, alt text)
FIGURES = (
    ("qps", "Recall against throughput (log scale)", "recall-QPS Pareto frontiers"),
    ("build_seconds", "Recall against build time", "recall against build seconds"),
    ("index_bytes", "Recall against index size", "recall against index bytes"),
    ("latency", "Latency percentiles (p50 solid, p95 dash-dot, p99 dashed)",
     "single-query latency percentiles against recall"),
)
#: columns of the table of seed-aggregated points on a dataset page
POINT_COLUMNS = ("k", "index", "build", "query", "n_seeds", "recall", "recall_min",
                 "recall_max", "qps", "qps_min", "qps_max", "p50_ms", "p95_ms", "p99_ms",
                 "build_seconds", "index_bytes")
LEADERBOARD_COLUMNS = ("index", "recall", "qps", "qps_interpolated", "qps_min", "qps_max",
                       "n_seeds", "build_seconds", "index_bytes", "build", "query", "note")


# --------------------------------------------------------------------------- html helpers


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _stem(name: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "page"
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate


def _data_value(value: Any) -> str:
    """The sort key of a numeric cell ('' when missing)."""
    from harness.report import _is_missing

    if _is_missing(value):
        return ""
    try:
        f = float(value)
    except (TypeError, ValueError):
        return ""
    return repr(f) if math.isfinite(f) else ""


def html_table(df: pd.DataFrame, columns: Sequence[str] | None = None, *,
               caption: str | None = None, table_id: str | None = None) -> str:
    """A sortable HTML table of ``df`` (the cells :func:`harness.report.format_table` shows).

    Numeric cells carry their full-precision value in ``data-value`` so that sorting is
    numeric; missing values sort last either way. Columns absent from ``df`` are skipped.
    """
    from harness.report import cell_texts

    cols = [c for c in (columns if columns is not None else df.columns) if c in df.columns]
    if not cols:
        return "<p class=\"empty\">(no columns)</p>"
    rendered = []
    for col in cols:
        values = df[col].tolist()
        cells, numeric = cell_texts(values, params=col in ("build", "query", "settings"))
        raw = [_data_value(v) for v in values] if numeric else None
        rendered.append((cells, numeric, raw))
    attrs = f' id="{_e(table_id)}"' if table_id else ""
    out = [f'<table class="sortable"{attrs}>']
    if caption:
        out.append(f"<caption>{_e(caption)}</caption>")
    head = "".join(
        f'<th scope="col" aria-sort="none" class="{"num" if numeric else "text"}">'
        f"{_e(col)}</th>" for col, (_, numeric, _) in zip(cols, rendered, strict=True))
    out.append(f"<thead><tr>{head}</tr></thead>")
    out.append("<tbody>")
    for i in range(len(df)):
        tds = []
        for cells, _, raw in rendered:
            if raw is not None:
                tds.append(f'<td class="num" data-value="{raw[i]}">{_e(cells[i])}</td>')
            else:
                tds.append(f"<td>{_e(cells[i])}</td>")
        out.append("<tr>" + "".join(tds) + "</tr>")
    out.append("</tbody></table>")
    if len(df) == 0:
        out.append('<p class="empty">(no rows)</p>')
    return "\n".join(out)


def _page(title: str, body: str, nav: Sequence[tuple[str, str]], current: str,
          generated: str) -> str:
    mark = ' aria-current="page"'
    links = " ".join(f'<a href="{_e(href)}"{mark if href == current else ""}>{_e(text)}</a>'
                     for text, href in nav)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="{SITE_CSS}">
</head>
<body>
<nav>{links}</nav>
<main>
<h1>{_e(title)}</h1>
{body}
</main>
<footer>Written by vecbench on {_e(generated)}. Click a column header to sort a table.
</footer>
<script src="{SITE_JS}"></script>
</body>
</html>
"""


CSS = """\
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fff; }
p.non-metric { border-left: 4px solid #b35900; background: #fff4e5; padding: 0.4em 0.8em; }
nav { background: #20364f; padding: 0.5em 1em; }
nav a { color: #fff; margin-right: 1em; text-decoration: none; }
nav a[aria-current="page"] { text-decoration: underline; font-weight: bold; }
main { padding: 0 1.5em 1.5em 1.5em; max-width: 110em; }
footer { padding: 1em 1.5em; color: #666; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em 0; font-size: 0.9em; }
caption { text-align: left; font-weight: bold; padding: 0.3em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; vertical-align: top; }
th { background: #eef2f6; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { display: inline-block; margin: 0 1em 1em 0; width: min(40em, 100%);
         vertical-align: top; }
figure img { width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { font-size: 0.9em; color: #444; }
.empty, .note { color: #666; }
details { margin: 0.5em 0; }
pre { background: #f6f6f6; padding: 0.5em; overflow-x: auto; }
"""

JS = """\
// Sort a table by the clicked column: numbers by their data-value, text by its content;
// missing values stay last in both directions. No library, no network.
(function () {
  "use strict";
  function key(cell) {
    if (cell.hasAttribute("data-value")) {
      var v = cell.getAttribute("data-value");
      return v === "" ? null : parseFloat(v);
    }
    var t = cell.textContent.trim();
    return t === "" || t === "-" ? null : t;
  }
  function compare(a, b) {
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return String(a).localeCompare(String(b), undefined, {numeric: true});
  }
  function sortTable(table, col, th) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var headers = table.tHead.rows[0].cells;
    for (var i = 0; i < headers.length; i++) { headers[i].setAttribute("aria-sort", "none"); }
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var indexed = rows.map(function (row, i) { return [key(row.cells[col]), i, row]; });
    indexed.sort(function (x, y) {
      if (x[0] === null && y[0] === null) { return x[1] - y[1]; }
      if (x[0] === null) { return 1; }
      if (y[0] === null) { return -1; }
      var c = compare(x[0], y[0]);
      if (c === 0) { return x[1] - y[1]; }
      return ascending ? c : -c;
    });
    indexed.forEach(function (item) { body.appendChild(item[2]); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (ev) {
        if (ev.key === "Enter" || ev.key === " ") {
          ev.preventDefault();
          sortTable(table, col, th);
        }
      });
    });
  });
}());
"""


# --------------------------------------------------------------------------- records


def _records(source: Path | str | Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    from harness.results import load_all

    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_dir():
            raise InvalidInputError(f"results folder not found: {path}")
        return load_all(path)
    out = []
    for i, rec in enumerate(source):
        if not isinstance(rec, Mapping):
            raise InvalidInputError(f"record {i}: expected a dict (a record.json), got "
                                    f"{type(rec).__name__}")
        out.append(dict(rec))
    return out


def records_frame(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Every record as one flat row (:func:`harness.results.flatten`) plus where it ran:
    ``harness_version``, ``git_commit``, ``hostname``, ``cpu``."""
    import pandas as pd

    from harness.results import flatten

    rows = []
    for rec in records:
        row = flatten(rec)
        prov = rec.get("provenance") or {}
        cpu = ((prov.get("machine") or {}).get("cpu") or {}).get("model")
        row.update(harness_version=prov.get("harness_version"),
                   git_commit=prov.get("git_commit"), hostname=prov.get("hostname"), cpu=cpu)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["spec_id", "task", "dataset", "index", "status"])
    df = pd.DataFrame(rows)
    return df.sort_values(["task", "dataset", "index", "spec_id"], kind="stable",
                          na_position="last").reset_index(drop=True)


# --------------------------------------------------------------------------- site


@dataclass
class Site:
    """What :func:`write_site` wrote."""

    out_dir: Path
    pages: list[Path] = field(default_factory=list)
    images: list[Path] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


def write_site(records: Path | str | Iterable[Mapping[str, Any]], out_dir: Path | str, *,
               thresholds: Sequence[float] = (0.9, 0.95, 0.99), recall_col: str = "recall",
               title: str = "vecbench report", parquet: bool = False,
               now: dt.datetime | None = None) -> Site:
    """Write the report site for ``records`` (a results folder or record dicts) to ``out_dir``.

    Files already in ``out_dir`` that the site does not write are left alone; the site's
    own files are replaced. ``parquet`` also writes ``records.parquet`` (needs pyarrow).
    ``now`` fixes the time stamp shown on the pages (for reproducible output).
    """
    from harness.report import _check_threshold, export_frame, markdown_summary

    recs = _records(records)
    thresholds = [_check_threshold(t) for t in thresholds]
    if not thresholds:
        raise InvalidInputError("give at least one recall threshold")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    site = Site(out)
    generated = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    df = records_frame(recs)

    (out / SITE_CSS).write_text(CSS)
    (out / SITE_JS).write_text(JS)
    site.files += [out / SITE_CSS, out / SITE_JS]
    site.files.append(export_frame(df, out / "records.csv"))
    if parquet:
        site.files.append(export_frame(df, out / "records.parquet"))
    summary = markdown_summary(df, thresholds, recall_col=recall_col, title=title)
    (out / "summary.md").write_text(summary)
    site.files.append(out / "summary.md")

    used = {"index", "provenance"}
    search_mask = _search_mask(df)
    search = df[search_mask]
    datasets = sorted({str(d) for d in search["dataset"].dropna().tolist()})
    dataset_pages = {d: f"dataset-{_stem(d, used)}.html" for d in datasets}
    other_tasks = sorted({str(t) for t in df.loc[~search_mask, "task"].dropna().tolist()})
    task_pages = {t: f"task-{_stem(t, used)}.html" for t in other_tasks}

    nav = [("Overview", "index.html"),
           *((f"{d}", page) for d, page in dataset_pages.items()),
           *((f"{t} task", page) for t, page in task_pages.items()),
           ("Provenance", "provenance.html"), ("records.csv", "records.csv")]

    def emit(name: str, page_title: str, body: str) -> None:
        path = out / name
        path.write_text(_page(page_title, body, nav, name, generated))
        site.pages.append(path)

    emit("index.html", title, _overview(df, search, dataset_pages, task_pages, thresholds,
                                        recall_col, parquet))
    for dataset, page in dataset_pages.items():
        part = search[search["dataset"].astype(str) == dataset]
        img_dir = out / "img" / page[:-len(".html")]
        body, images = _dataset_body(part, img_dir, out, thresholds, recall_col)
        site.images += images
        emit(page, f"{dataset}", body)
    for task, page in task_pages.items():
        emit(page, f"Task {task}", _task_body(recs, task))
    emit("provenance.html", "Provenance", _provenance_body(recs))
    return site


def _search_mask(df: pd.DataFrame) -> Any:
    from harness.report import LEADERBOARD_TASKS

    if "task" not in df.columns:
        return [True] * len(df)
    return df["task"].isin(list(LEADERBOARD_TASKS)) | df["task"].isna()


def _counts(values: Iterable[Any]) -> str:
    counts: dict[str, int] = {}
    for v in values:
        key = "unknown" if v is None or v != v else str(v)
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "none"


def _leaderboard_tables(search: pd.DataFrame, thresholds: Sequence[float], recall_col: str,
                        prefix: str) -> str:
    from harness.report import leaderboard

    parts = []
    ok = search[search["status"] == "ok"] if "status" in search.columns else search
    if len(ok) == 0 or recall_col not in search.columns:
        return '<p class="empty">No successful search record to rank.</p>'
    for r in thresholds:
        lb = leaderboard(search, recall=r, recall_col=recall_col)
        cols = list(LEADERBOARD_COLUMNS)
        if recall_col != "recall":
            cols.insert(1, recall_col)
        if "k" in lb.columns and lb["k"].nunique(dropna=False) > 1:
            cols.insert(0, "k")
        parts.append(html_table(
            lb, cols, table_id=f"{prefix}-leaderboard-{r:g}".replace(".", "_"),
            caption=f"{recall_col} ≥ {r:g}: qps is the best observed at or above the "
                    f"threshold, qps_interpolated the frontier's value at exactly {r:g}"))
    return "\n".join(parts)


def non_metric_note(part: pd.DataFrame) -> str:
    """An HTML warning when results were measured under a measure that is not a metric
    (no triangle inequality: divergences, inner product), else ''.

    The measure of a row is the suite's ``metric`` override, else the dataset's metric.
    """
    from harness.metrics import get_metric

    def column(name: str) -> list[Any]:
        return part[name].tolist() if name in part.columns else [None] * len(part)

    measures = (o if isinstance(o, str) and o else d
                for o, d in zip(column("metric"), column("dataset_metric"), strict=True))
    names = {m for m in measures if isinstance(m, str) and m}
    flagged = []
    for name in sorted(names):
        try:
            info = get_metric(name).info
        except VecbenchError:
            continue
        if not info.triangle_inequality:
            what = "no triangle inequality" + ("" if info.symmetric else ", not symmetric")
            flagged.append(f"<code>{_e(name)}</code> ({what})")
    if not flagged:
        return ""
    return ('<p class="non-metric"><strong>Non-metric measure:</strong> '
            + ", ".join(flagged) + ". Recall is exact k-NN under this measure; indexes whose "
            "pruning relies on the triangle inequality do not apply to it.</p>")


def _overview(df: pd.DataFrame, search: pd.DataFrame, dataset_pages: Mapping[str, str],
              task_pages: Mapping[str, str], thresholds: Sequence[float], recall_col: str,
              parquet: bool) -> str:
    status = df["status"].tolist() if "status" in df.columns else []
    body = [f"<p>{len(df)} record(s): {_e(_counts(status))}.</p>"]
    downloads = ['<a href="records.csv">records.csv</a> (every record, one row each)',
                 '<a href="summary.md">summary.md</a> (Markdown summary for CI)']
    if parquet:
        downloads.insert(1, '<a href="records.parquet">records.parquet</a>')
    body.append("<p>Downloads: " + "; ".join(downloads) + ".</p>")
    if not dataset_pages and not task_pages:
        body.append('<p class="empty">No records yet: run a suite (vecbench run quick).</p>')
    if task_pages:
        items = "".join(f'<li><a href="{_e(page)}">{_e(task)}</a></li>'
                        for task, page in task_pages.items())
        body.append(f"<h2>Other tasks</h2><ul>{items}</ul>")
    for dataset, page in dataset_pages.items():
        part = search[search["dataset"].astype(str) == dataset]
        body.append(f'<h2 id="{_e(page[:-5])}"><a href="{_e(page)}">{_e(dataset)}</a></h2>')
        body.append(non_metric_note(part))
        body.append(f"<p>{len(part)} search record(s): "
                    f"{_e(_counts(part['status'].tolist()))}.</p>")
        body.append(_leaderboard_tables(part, thresholds, recall_col, page[:-5]))
    return "\n".join(body)


def _dataset_body(part: pd.DataFrame, img_dir: Path, out: Path, thresholds: Sequence[float],
                  recall_col: str) -> tuple[str, list[Path]]:
    from harness.report import (
        aggregate_seeds,
        plot_latency,
        plot_recall_measure,
        plot_recall_qps,
    )

    body = []
    images: list[Path] = []
    ok = part[part["status"] == "ok"] if "status" in part.columns else part
    meta = []
    for col in ("metric", "dataset_checksum"):
        if col in part.columns:
            values = sorted({str(v) for v in part[col].dropna().tolist()})
            if values:
                meta.append(f"{col}: " + ", ".join(f"<code>{_e(v)}</code>" for v in values))
    if meta:
        body.append("<p>" + "; ".join(meta) + "</p>")
    body.append(non_metric_note(part))
    body.append(f"<p>{len(part)} record(s): {_e(_counts(part['status'].tolist()))}.</p>")
    if len(ok) and recall_col in ok.columns:
        for suffix, caption, alt in FIGURES:
            if suffix == "qps":
                if "qps" not in ok.columns:
                    continue
                paths = plot_recall_qps(part, img_dir, recall_col=recall_col,
                                        formats=("png",))
            elif suffix == "latency":
                have = [p for p in ("p50_ms", "p95_ms", "p99_ms") if p in ok.columns]
                if not have:
                    continue
                paths = plot_latency(part, img_dir, recall_col=recall_col, percentiles=have,
                                     formats=("png",))
            else:
                if suffix not in ok.columns:
                    continue
                paths = plot_recall_measure(part, img_dir, suffix, recall_col=recall_col,
                                            higher_is_better=False, formats=("png",))
            for path in paths:
                images.append(path)
                rel = path.relative_to(out).as_posix()
                body.append(f'<figure><img src="{_e(rel)}" alt="{_e(alt)}">'
                            f"<figcaption>{_e(caption)}: {_e(path.stem)}</figcaption>"
                            "</figure>")
    body.append("<h2>Leaderboards</h2>")
    body.append(_leaderboard_tables(part, thresholds, recall_col, "lb"))
    if len(ok):
        agg = aggregate_seeds(part)
        cols = [c for c in POINT_COLUMNS if c in agg.columns]
        body.append("<h2>Every point (seeds aggregated: medians, with the spread)</h2>")
        body.append(html_table(agg, cols, table_id="points"))
    bad = part[part["status"] != "ok"] if "status" in part.columns else part.iloc[0:0]
    if len(bad):
        bad = bad.copy()
        bad["error"] = [(str(e).strip().splitlines() or [""])[-1][:300]
                        if isinstance(e, str) else "" for e in bad["error"].tolist()]
        body.append("<h2>Records that did not succeed</h2>")
        body.append(html_table(bad, ["index", "build", "query", "seed", "status", "error"],
                               table_id="failed"))
    return "\n".join(body), images


def _task_body(recs: Sequence[Mapping[str, Any]], task: str) -> str:
    """Records of a task the host knows nothing about: its measures as they are."""
    import pandas as pd

    mine = [r for r in recs if (r.get("spec") or {}).get("task") == task]
    measures: list[str] = []
    rows = []
    for rec in mine:
        spec = rec.get("spec") or {}
        m = rec.get("measures") or {}
        for name in m:
            if name not in measures:
                measures.append(name)
        row = {"dataset": spec.get("dataset"), "plugin": spec.get("index"),
               "build": spec.get("build") or {}, "query": spec.get("query") or {},
               "settings": spec.get("extra") or {}, "seed": spec.get("seed"),
               "status": rec.get("status")}
        row.update({f"measure:{k}": v for k, v in m.items()})
        rows.append(row)
    body = [f"<p>{len(mine)} record(s) of task <code>{_e(task)}</code>: "
            f"{_e(_counts(r.get('status') for r in mine))}. Each record carries the measures "
            "its task computed; they are shown as recorded.</p>"]
    if not rows:
        return "\n".join(body)
    frame = pd.DataFrame(rows)
    frame = frame.sort_values(["dataset", "plugin"], kind="stable").reset_index(drop=True)
    frame.columns = [c[len("measure:"):] if c.startswith("measure:") else c
                     for c in frame.columns]
    keys = ["plugin", "build", "settings", "query", "seed", "status"]
    keys = [k for k in keys if k not in measures]
    for dataset in sorted({str(d) for d in frame["dataset"].tolist()}):
        part = frame[frame["dataset"].astype(str) == dataset]
        shown = [m for m in measures if part[m].notna().any()] if len(part) else []
        body.append(f"<h2>{_e(dataset)}</h2>")
        body.append(html_table(part, [*keys, *shown],
                               table_id=f"task-{re.sub(r'[^A-Za-z0-9_-]', '_', dataset)}"))
    return "\n".join(body)


def _provenance_body(recs: Sequence[Mapping[str, Any]]) -> str:
    import pandas as pd

    def table(rows: list[dict[str, Any]], caption: str, tid: str) -> str:
        if not rows:
            return f'<p class="empty">{_e(caption)}: nothing recorded.</p>'
        counted: dict[str, dict[str, Any]] = {}
        for row in rows:
            key = json.dumps(row, sort_keys=True, default=str)
            if key not in counted:
                counted[key] = {**row, "records": 0}
            counted[key]["records"] += 1
        return html_table(pd.DataFrame(list(counted.values())), caption=caption, table_id=tid)

    machines, software, plugins, datasets, dates, pools = [], [], [], [], [], []
    package_sets: dict[str, list[str]] = {}
    package_counts: dict[str, int] = {}
    for rec in recs:
        prov = rec.get("provenance") or {}
        machine = prov.get("machine") or {}
        cpu = machine.get("cpu") or {}
        memory = machine.get("memory_bytes")
        machines.append({"hostname": prov.get("hostname"), "cpu": cpu.get("model"),
                         "cores": machine.get("cores"),
                         "memory_GiB": round(memory / 2**30, 1) if memory else None,
                         "cpu_flags": " ".join(cpu.get("flags") or []),
                         "platform": prov.get("platform")})
        software.append({"harness_version": prov.get("harness_version"),
                         "git_commit": prov.get("git_commit"), "python": prov.get("python"),
                         "numpy": prov.get("numpy")})
        plugin = rec.get("plugin") or {}
        spec = rec.get("spec") or {}
        plugins.append({"plugin": plugin.get("name", spec.get("index")),
                        "provider": plugin.get("provider"), "version": plugin.get("version"),
                        "library": plugin.get("library"),
                        "library_version": plugin.get("library_version")})
        ds = rec.get("dataset") or {}
        datasets.append({"dataset": ds.get("name", spec.get("dataset")),
                         "checksum": ds.get("checksum"), "metric": ds.get("metric"),
                         "kind": ds.get("kind"), "n_train": ds.get("n_train"),
                         "n_test": ds.get("n_test"), "dim": ds.get("dim")})
        dates.append({"suite": rec.get("suite"), "finished_at": rec.get("finished_at")})
        for pool in (rec.get("threads") or {}).get("threadpools") or []:
            pools.append({k: pool.get(k) for k in ("user_api", "internal_api", "num_threads",
                                                    "version", "architecture")})
        packages = prov.get("packages") or []
        if packages:
            key = "\n".join(packages)
            package_sets.setdefault(key, packages)
            package_counts[key] = package_counts.get(key, 0) + 1

    by_suite: dict[str, list[str]] = {}
    for row in dates:
        if row["finished_at"]:
            by_suite.setdefault(str(row["suite"]), []).append(str(row["finished_at"]))
    date_rows = [{"suite": s, "first": min(v), "last": max(v), "records": len(v)}
                 for s, v in sorted(by_suite.items())]
    body = [f"<p>Where and with what the {len(recs)} record(s) were measured. Timings are "
            "comparable only between records of one machine.</p>",
            "<h2>Machines</h2>", table(machines, "machines", "machines"),
            "<h2>Software</h2>", table(software, "harness, Python and numpy", "software"),
            "<h2>Plugins</h2>", table(plugins, "plugin versions", "plugins"),
            "<h2>Datasets</h2>", table(datasets, "dataset checksums", "datasets"),
            "<h2>Dates</h2>",
            html_table(pd.DataFrame(date_rows), caption="when records were finished",
                       table_id="dates") if date_rows
            else '<p class="empty">No dates recorded.</p>',
            "<h2>Thread pools</h2>", table(pools, "BLAS and OpenMP pools (threadpoolctl)",
                                           "threadpools")]
    if package_sets:
        body.append("<h2>Installed packages</h2>")
        for i, (key, packages) in enumerate(package_sets.items(), 1):
            body.append(f"<details><summary>package set {i}: {len(packages)} packages, "
                        f"{package_counts[key]} record(s)</summary><pre>"
                        f"{_e(chr(10).join(packages))}</pre></details>")
    return "\n".join(body)
