"""Tests of the static report site (harness.report_site) and ``vecbench report``.

Oracles: the records written here (known values), leaderboard winners and interpolations
computed here by brute force (medians with ``statistics.median``, the frontier by pairwise
dominance, log-linear interpolation in closed form), the standard library's HTML parser for
links and tables, and pandas reading the exported files back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.util
import itertools
import json
import math
import statistics
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.errors import InvalidInputError
from harness.report import ExportDependencyError, markdown_summary
from harness.report_site import records_frame, write_site
from harness.results import write_record

NOW = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
EVIL = "<script>alert(1)</script>"


def record(task: str, dataset: str, index: str, *, seed: int = 0, query: dict | None = None,
           build: dict | None = None, status: str = "ok", host: str = "alpha",
           finished: str = "2025-02-01T10:00:00+00:00", extra: dict | None = None,
           **measures) -> dict:
    spec = {"task": task, "dataset": dataset, "index": index, "k": 10, "seed": seed,
            "build": build or {}, "query": query or {}, "metric": None, "threads": 1,
            "label": ""}
    if extra:
        spec["extra"] = extra
    sid = "-".join(str(x) for x in (task, dataset, index, seed, sorted((query or {}).items()),
                                    sorted((build or {}).items()), host))
    sid = "r" + hashlib.sha256(sid.encode()).hexdigest()[:16]
    return {
        "spec_id": sid, "build_id": sid, "suite": "site-test", "spec": spec,
        "status": status, "error": None if status == "ok" else "Traceback\nValueError: bad",
        "measures": measures if status == "ok" else {},
        "dataset": {"name": dataset, "checksum": f"sum-{dataset}", "metric": "euclidean",
                    "kind": "dense", "n_train": 1000, "n_test": 100, "dim": 8},
        "plugin": {"name": index, "provider": "tests", "version": f"{index}-1.2",
                   "library": None, "library_version": None},
        "provenance": {"hostname": host, "harness_version": "0.1.0", "git_commit": "deadbeef",
                       "python": "3.11.7", "numpy": "2.0",
                       "machine": {"cpu": {"model": f"cpu-of-{host}", "flags": ["avx2"]},
                                   "cores": 2, "memory_bytes": 2**34},
                       "packages": ["numpy==2.0", "pandas==2.2"], "platform": "Linux"},
        "threads": {"threadpools": [{"user_api": "blas", "internal_api": "openblas",
                                     "num_threads": 1, "version": "0.3"}]},
        "finished_at": finished,
    }


#: per (index, ef): recall and qps of seeds 0, 1, 2 (the medians decide)
SWEEP = {
    ("graph", 10): ((0.80, 0.86, 0.95), (900.0, 1000.0, 1100.0)),
    ("graph", 20): ((0.91, 0.93, 0.97), (500.0, 450.0, 550.0)),
    ("graph", 40): ((0.985, 0.99, 0.995), (200.0, 210.0, 190.0)),
    ("tree", 10): ((0.92, 0.92, 0.92), (300.0, 320.0, 310.0)),
    ("tree", 20): ((0.999, 0.999, 0.999), (100.0, 90.0, 95.0)),
}


def search_records(dataset: str) -> list[dict]:
    out = []
    for (index, ef), (recalls, qpss) in SWEEP.items():
        for seed, (r, q) in enumerate(zip(recalls, qpss, strict=True)):
            out.append(record("search", dataset, index, seed=seed, query={"ef": ef},
                              build={"M": 8}, recall=r, qps=q, p50_ms=1000 / q,
                              p95_ms=1500 / q, p99_ms=2000 / q, build_seconds=1.5 + seed,
                              index_bytes=4096 * (2 if index == "graph" else 1),
                              finished=f"2025-02-0{seed + 1}T10:00:00+00:00"))
    out.append(record("search", dataset, "exact", recall=1.0, qps=50.0, p50_ms=20.0,
                      p95_ms=21.0, p99_ms=22.0, build_seconds=0.01, index_bytes=1000))
    out.append(record("search", dataset, "broken", status="failed"))
    return out


def all_records() -> list[dict]:
    recs = search_records("gmm-1000x8") + search_records("uniform-500x8")
    recs.append(record("attack", "digits", "pgd", query={"eps_rel": 0.1},
                       extra={"target": "softmax", "norm": "linf"}, host="beta",
                       robust_accuracy=0.42, clean_accuracy=0.97, attack_seconds=1.5))
    recs.append(record("attack", "digits", "fgsm", query={"eps_rel": 0.1},
                       extra={"target": "softmax", "norm": "linf"}, host="beta",
                       robust_accuracy=0.61, clean_accuracy=0.97, attack_seconds=0.2))
    recs.append(record("cluster", "digits", EVIL, ari=0.73, nmi=0.81))
    return recs


def expected_leaderboard(r: float) -> list[tuple[str, float]]:
    """(index, qps) of the rows reaching r, best first, from the medians over seeds."""
    points: dict[str, list[tuple[float, float]]] = {}
    for (index, _ef), (recalls, qpss) in SWEEP.items():
        points.setdefault(index, []).append((statistics.median(recalls),
                                             statistics.median(qpss)))
    points["exact"] = [(1.0, 50.0)]
    rows = [(index, max(q for x, q in pts if x >= r)) for index, pts in points.items()
            if any(x >= r for x, _ in pts)]
    return sorted(rows, key=lambda t: -t[1])


def expected_interpolation(index: str, r: float) -> float:
    pts = [(statistics.median(rs), statistics.median(qs))
           for (i, _), (rs, qs) in SWEEP.items() if i == index]
    front = sorted(p for p in pts if not any(o != p and o[0] >= p[0] and o[1] >= p[1]
                                             for o in pts))
    for (x0, y0), (x1, y1) in itertools.pairwise(front):
        if x0 <= r <= x1:
            t = (r - x0) / (x1 - x0)
            return math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0)))
    if r < front[0][0]:
        return front[0][1]
    return math.nan


class Page(HTMLParser):
    """Links, images, scripts and tables (with their cells) of one page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.tables: dict[str, list[list[tuple[str, str | None]]]] = {}
        self.headers: dict[str, list[str]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._value: str | None = None
        self._row: list[tuple[str, str | None]] | None = None
        self._in_head = False
        self.count = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])
        if tag == "table":
            self.count += 1
            self._table = a.get("id") or f"table-{self.count}"
            self.tables[self._table] = []
            self.headers[self._table] = []
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and self._table and not self._in_head:
            self._row = []
        elif tag in ("td", "th"):
            self._cell, self._value = [], a.get("data-value")

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            if tag == "th" and self._in_head:
                self.headers[self._table].append(text)
            elif self._row is not None:
                self._row.append((text, self._value))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def column(self, table: str, name: str) -> list[tuple[str, str | None]]:
        j = self.headers[table].index(name)
        return [row[j] for row in self.tables[table]]


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text())
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    return write_site(all_records(), out, now=NOW, title="Site test")


def test_site_files_and_relative_links_that_resolve(site):
    out = site.out_dir
    names = sorted(p.name for p in site.pages)
    assert names == ["dataset-gmm-1000x8.html", "dataset-uniform-500x8.html", "index.html",
                     "provenance.html", "task-attack.html", "task-cluster.html"]
    for name in ("records.csv", "summary.md", "style.css", "site.js"):
        assert (out / name).is_file()
    assert len(site.images) == 8  # four figures per dataset
    for img in site.images:
        assert img.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") and img.stat().st_size > 5000
    for page_path in site.pages:
        text = page_path.read_text()
        for remote in ("http:", "https:", 'src="//', 'href="//'):
            assert remote not in text, (page_path.name, remote)
        page = parse(page_path)
        assert "style.css" in page.links and "site.js" in page.links
        for link in page.links:
            if link.startswith("data:"):
                continue
            assert not link.startswith("/") and "://" not in link, link
            assert (out / link.split("#")[0]).is_file(), (page_path.name, link)
    dataset_page = parse(out / "dataset-gmm-1000x8.html")
    shown = [link for link in dataset_page.links if link.endswith(".png")]
    assert len(shown) == 4 and all(link.startswith("img/") for link in shown)


@pytest.mark.parametrize("r", [0.9, 0.95, 0.99])
def test_leaderboards_match_brute_force(site, r):
    tag = f"{r:g}".replace(".", "_")  # table ids are CSS-safe
    for page_name, table in (("index.html", f"dataset-gmm-1000x8-leaderboard-{tag}"),
                             ("dataset-uniform-500x8.html", f"lb-leaderboard-{tag}")):
        page = parse(site.out_dir / page_name)
        indexes = [t for t, _ in page.column(table, "index")]
        qps = [v for _, v in page.column(table, "qps")]
        expected = expected_leaderboard(r)
        assert [(i, float(q)) for i, q in zip(indexes, qps, strict=False)
                if q] == expected, (page_name, r)
        # indexes that never reach r and the failed one are listed after, without qps
        assert set(indexes[len(expected):]) == {"graph", "tree", "exact", "broken"} - {
            i for i, _ in expected}
        interp = dict(zip(indexes, (v for _, v in page.column(table, "qps_interpolated")),
                          strict=True))
        for index in ("graph", "tree"):
            want = expected_interpolation(index, r)
            if math.isnan(want):
                assert interp[index] == ""
            else:
                assert float(interp[index]) == pytest.approx(want, rel=1e-12)


def test_dataset_page_lists_points_and_failures(site):
    page = parse(site.out_dir / "dataset-gmm-1000x8.html")
    points = page.tables["points"]
    assert len(points) == len(SWEEP) + 1  # seeds aggregated; the failed record is apart
    recall = [float(v) for _, v in page.column("points", "recall")]
    expected = sorted([statistics.median(rs) for rs, _ in SWEEP.values()] + [1.0])
    assert sorted(recall) == pytest.approx(expected)
    assert [t for t, _ in page.column("failed", "status")] == ["failed"]
    assert [t for t, _ in page.column("failed", "error")] == ["ValueError: bad"]


def test_other_tasks_show_their_own_measures(site):
    page = parse(site.out_dir / "task-attack.html")
    (table,) = page.tables
    assert {"robust_accuracy", "clean_accuracy", "attack_seconds"} <= set(page.headers[table])
    got = dict(zip([t for t, _ in page.column(table, "plugin")],
                   [float(v) for _, v in page.column(table, "robust_accuracy")], strict=True))
    assert got == {"fgsm": 0.61, "pgd": 0.42}
    assert "target=softmax" in page.column(table, "settings")[0][0]
    cluster = (site.out_dir / "task-cluster.html").read_text()
    assert EVIL not in cluster and "&lt;script&gt;alert(1)&lt;/script&gt;" in cluster
    page = parse(site.out_dir / "task-cluster.html")
    (table,) = page.tables
    assert page.headers[table][-2:] == ["ari", "nmi"]
    for path in site.pages:
        assert EVIL not in path.read_text()


def test_provenance_page(site):
    page = parse(site.out_dir / "provenance.html")
    hosts = {t for t, _ in page.column("machines", "hostname")}
    assert hosts == {"alpha", "beta"}
    checksums = {t for t, _ in page.column("datasets", "checksum")}
    assert checksums == {"sum-gmm-1000x8", "sum-uniform-500x8", "sum-digits"}
    assert {t for t, _ in page.column("plugins", "version")} >= {"graph-1.2", "pgd-1.2"}
    (dates,) = page.tables["dates"]
    assert dates[1][0] == "2025-02-01T10:00:00+00:00"
    assert dates[2][0] == "2025-02-03T10:00:00+00:00"
    assert "git_commit" in page.headers["software"]
    text = (site.out_dir / "provenance.html").read_text()
    assert "numpy==2.0" in text and "2025-03-01T12:00:00+00:00" in text


def test_records_csv_holds_every_record(site):
    recs = all_records()
    back = pd.read_csv(site.out_dir / "records.csv")
    assert len(back) == len(recs)
    assert set(back["spec_id"]) == {r["spec_id"] for r in recs}
    by_id = back.set_index("spec_id")
    for r in recs:
        for name, value in r["measures"].items():
            assert by_id.loc[r["spec_id"], name] == value
        assert by_id.loc[r["spec_id"], "hostname"] == r["provenance"]["hostname"]
        assert json.loads(by_id.loc[r["spec_id"], "query"]) == r["spec"]["query"]


def test_summary_markdown(site):
    text = (site.out_dir / "summary.md").read_text()
    assert text.startswith("## Site test")
    assert "`attack` (2)" in text and "`cluster` (1)" in text
    section = text.split("### recall ≥ 0.95: dataset gmm-1000x8")[1].split("###")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and
            not line.startswith("| index")]
    assert [row.split("|")[1].strip() for row in rows][:len(expected_leaderboard(0.95))] == [
        i for i, _ in expected_leaderboard(0.95)]
    assert "|---|---:|" in section


def test_parquet_round_trip_and_missing_pyarrow(tmp_path, monkeypatch):
    recs = [r for r in all_records() if r["spec"]["task"] != "search"]  # no figures: fast
    recs.append(record("search", "d", "x", status="failed"))
    site = write_site(recs, tmp_path / "s", parquet=True, now=NOW)
    assert (tmp_path / "s" / "records.parquet") in site.files
    back = pd.read_parquet(tmp_path / "s" / "records.parquet")
    frame = records_frame(recs)
    assert list(back["spec_id"]) == list(frame["spec_id"])
    assert back["robust_accuracy"].tolist()[:2] == [0.61, 0.42]
    assert back["ari"].tolist()[2] == 0.73 and back["status"].tolist()[-1] == "failed"
    assert json.loads(back["query"].tolist()[0]) == {"eps_rel": 0.1}
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(ExportDependencyError, match=r"pip install 'vecbench\[parquet\]'"):
        write_site(recs, tmp_path / "t", parquet=True)


def test_empty_and_bad_input(tmp_path):
    site = write_site([], tmp_path / "empty", now=NOW)
    assert [p.name for p in site.pages] == ["index.html", "provenance.html"]
    assert "No records yet" in (tmp_path / "empty" / "index.html").read_text()
    with pytest.raises(InvalidInputError, match="results folder not found"):
        write_site(tmp_path / "nope", tmp_path / "x")
    with pytest.raises(InvalidInputError, match="record 0: expected a dict"):
        write_site(["x"], tmp_path / "x")
    with pytest.raises(InvalidInputError, match="recall threshold"):
        write_site([], tmp_path / "x", thresholds=[90])
    assert markdown_summary(records_frame([])).endswith("No records.\n")


def test_report_command(tmp_path):
    results = tmp_path / "results"
    for r in search_records("gmm-1000x8")[:6]:
        write_record(results, r)
    runner = CliRunner()
    out = runner.invoke(main, ["report", "--results", str(results), "--no-site",
                               "--recall", "0.9", "--markdown", "-",
                               "--csv", str(tmp_path / "all.csv")])
    assert out.exit_code == 0, out.output
    assert out.stdout.startswith("## vecbench report")
    assert "### recall ≥ 0.9: dataset gmm-1000x8" in out.stdout
    assert "| graph | 0.9300 | 500 |" in out.stdout
    assert "wrote" in out.stderr and not (tmp_path / "report").exists()
    assert len(pd.read_csv(tmp_path / "all.csv")) == 6
    others = tmp_path / "others"
    for r in all_records()[-3:]:
        write_record(others, r)
    out = runner.invoke(main, ["report", "--results", str(others), "--out",
                               str(tmp_path / "site")])
    assert out.exit_code == 0, out.output
    assert "wrote" in out.output and (tmp_path / "site" / "task-attack.html").is_file()
    out = runner.invoke(main, ["report", "--results", str(tmp_path / "none")])
    assert out.exit_code == 2 and "no records" in out.output
    out = runner.invoke(main, ["report", "--results", str(results), "--recall", "95"])
    assert out.exit_code == 2 and "within [0, 1]" in out.output


def test_results_under_a_non_metric_measure_are_marked(tmp_path):
    """Datasets searched under a divergence (the dataset's own measure or a suite's
    override) carry a visible non-metric note; euclidean datasets do not."""
    recs = search_records("plain")
    topics = search_records("topics")
    for rec in topics:
        rec["dataset"]["metric"] = "js"
    kl = record("search", "override", "exact", recall=1.0, qps=10.0)
    kl["spec"]["metric"] = "kl"
    site = write_site([*recs, *topics, kl], tmp_path / "site")
    pages = {p.name: p.read_text() for p in site.pages}
    plain = next(t for n, t in pages.items() if "plain" in n)
    js = next(t for n, t in pages.items() if "topics" in n)
    override = next(t for n, t in pages.items() if "override" in n)
    assert "Non-metric measure" not in plain
    assert "Non-metric measure" in js and "<code>js</code> (no triangle inequality)" in js
    assert "<code>kl</code> (no triangle inequality, not symmetric)" in override
    assert pages["index.html"].count("Non-metric measure") == 2
