"""The report site in a real headless browser: Debian's ``chromium`` driven through
``chromium-driver`` by selenium.

Every page is opened from disk (file:// URLs, no server): it renders, every image loads
(``naturalWidth > 0``), clicking a column header sorts the table (checked against Python's
own sort of the cell values), nothing is fetched from the network, and the console shows no
error. CI installs the browser (``apt-get install -y chromium chromium-driver``); without it
this test fails and says so.
"""

from __future__ import annotations

import datetime as dt
import shutil

import pytest

from harness.report_site import write_site

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
DRIVER = ("/usr/bin/chromedriver", "chromedriver")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--window-size=1400,1000")


def _which(candidates: tuple[str, ...]) -> str:
    for name in candidates:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"{candidates[0]} not found: install Debian's browser with "
                         "`apt-get install -y chromium chromium-driver` (as .ci/run does)")


def _records() -> list[dict]:
    out = []
    for index, base, gap in (("graph", 2000.0, 0.0), ("tree", 700.0, 0.0), ("lsh", 9e3, 0.3)):
        for seed in (0, 1):
            for ef, top in ((10, 0.82), (20, 0.91), (40, 0.97), (80, 0.995)):
                recall = top - gap
                spec = {"task": "search", "dataset": "gmm-1000x8", "index": index, "k": 10,
                        "seed": seed, "build": {"M": 8}, "query": {"ef": ef}}
                qps = base / ef * (1 + 0.05 * seed)
                out.append({
                    "spec_id": f"{index}-{seed}-{ef}", "suite": "browser", "spec": spec,
                    "status": "ok", "error": None, "finished_at": "2025-01-01T00:00:00+00:00",
                    "measures": {"recall": recall - 0.01 * seed, "qps": qps,
                                 "p50_ms": 1e3 / qps, "p95_ms": 1.4e3 / qps,
                                 "p99_ms": 2e3 / qps, "build_seconds": 1.0 + seed,
                                 "index_bytes": 1e6 * (2 if index == "graph" else 1)},
                    "dataset": {"name": "gmm-1000x8", "checksum": "abc123"},
                    "plugin": {"name": index, "version": "1.0"},
                    "provenance": {"hostname": "ci", "machine": {"cpu": {"model": "x"}}},
                })
    out.append({"spec_id": "atk", "suite": "browser", "status": "ok", "error": None,
                "spec": {"task": "attack", "dataset": "digits", "index": "pgd", "k": 10,
                         "seed": 0, "build": {}, "query": {"eps_rel": 0.1}},
                "measures": {"robust_accuracy": 0.4, "clean_accuracy": 0.95}})
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _which(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=_which(DRIVER)),
                              options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return write_site(_records(), tmp_path_factory.mktemp("site"),
                      now=dt.datetime(2025, 1, 2, tzinfo=dt.UTC))


def _severe(driver) -> list[dict]:
    return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]


def test_every_page_renders_with_its_images_and_no_console_error(browser, site):
    assert len(site.pages) == 4
    for page in site.pages:
        browser.get(page.as_uri())
        assert browser.execute_script("return document.readyState") == "complete"
        assert browser.title and browser.find_element("tag name", "h1").text
        images = browser.execute_script(
            "return Array.from(document.images).map("
            "i => [i.getAttribute('src'), i.complete, i.naturalWidth])")
        expected = 4 if page.name.startswith("dataset-") else 0
        assert len(images) == expected, page.name
        for src, complete, width in images:
            assert complete and width > 0, (page.name, src)
        urls = browser.execute_script(
            "return Array.from(document.querySelectorAll('[src], [href]'))"
            ".map(e => e.src || e.href)")
        assert urls and all(u.startswith(("file://", "data:")) for u in urls), urls
        # the local stylesheet and script were applied
        nav = browser.execute_script(
            "return getComputedStyle(document.querySelector('nav')).backgroundColor")
        assert nav == "rgb(32, 54, 79)"
        tabbable = browser.execute_script(
            "return Array.from(document.querySelectorAll('table.sortable th'))"
            ".every(th => th.tabIndex === 0)")
        assert tabbable
        assert _severe(browser) == [], page.name


def _column(browser, table_id: str, col: int) -> list[str]:
    return browser.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tBodies[0].rows)"
        ".map(r => r.cells[arguments[1]].getAttribute('data-value') ?? "
        "r.cells[arguments[1]].textContent.trim())", table_id, col)


def test_tables_sort_when_a_header_is_clicked(browser, site):
    page = next(p for p in site.pages if p.name.startswith("dataset-"))
    browser.get(page.as_uri())
    headers = browser.execute_script(
        "return Array.from(document.getElementById('points').tHead.rows[0].cells)"
        ".map(c => c.textContent.trim())")
    qps_col, index_col = headers.index("qps"), headers.index("index")
    before = [float(v) for v in _column(browser, "points", qps_col)]
    assert before != sorted(before)  # the click has something to do
    th = browser.find_elements("css selector", "#points thead th")[qps_col]
    th.click()
    after = [float(v) for v in _column(browser, "points", qps_col)]
    assert after == sorted(before) and th.get_attribute("aria-sort") == "ascending"
    th.click()
    assert [float(v) for v in _column(browser, "points", qps_col)] == sorted(before,
                                                                           reverse=True)
    assert th.get_attribute("aria-sort") == "descending"
    # rows move whole: each row's index name stays with its qps
    pairs = list(zip(_column(browser, "points", index_col),
                     _column(browser, "points", qps_col), strict=True))
    th_index = browser.find_elements("css selector", "#points thead th")[index_col]
    th_index.click()
    assert th.get_attribute("aria-sort") == "none"
    moved = list(zip(_column(browser, "points", index_col),
                     _column(browser, "points", qps_col), strict=True))
    assert sorted(moved) == sorted(pairs)
    assert [n for n, _ in moved] == sorted(n for n, _ in pairs)
    assert _severe(browser) == []


def test_text_columns_sort_and_missing_values_stay_last(browser, site):
    page = next(p for p in site.pages if p.name == "index.html")
    browser.get(page.as_uri())
    table = browser.execute_script(
        "return document.querySelector('table.sortable').id")
    headers = browser.execute_script(
        "return Array.from(document.getElementById(arguments[0]).tHead.rows[0].cells)"
        ".map(c => c.textContent.trim())", table)
    col = headers.index("qps_interpolated")
    assert table == "dataset-gmm-1000x8-leaderboard-0_9"
    cells = browser.find_elements("css selector", f"#{table} thead th")
    for _ in range(2):
        cells[col].click()
        values = _column(browser, table, col)
        present = [v for v in values if v != ""]
        assert 0 < len(present) < len(values)  # lsh never reaches 0.9: no qps
        assert values[:len(present)] == present  # missing ones last in both directions
    assert _severe(browser) == []
