"""Suite files: schema validation with clear errors, grid expansion, -k selection, spec ids."""

from __future__ import annotations

import pytest

from harness.config import builtin_suites, expand, grid, load_suite, parse_suite, select
from harness.errors import SuiteError, UnknownNameError
from harness.plugins import get_registry


def _suite(**run):
    return {"name": "t", "run": [{"dataset": "gmm-1000x8", "index": "hnswlib", **run}]}


def test_grid_is_the_cartesian_product():
    g = grid({"M": [8, 16], "ef_construction": 100, "x": [1, 2, 3]})
    assert len(g) == 6
    assert {(p["M"], p["x"]) for p in g} == {(m, x) for m in (8, 16) for x in (1, 2, 3)}
    assert all(p["ef_construction"] == 100 for p in g)
    assert grid({}) == [{}]


def test_expansion_groups_query_points_under_one_build():
    suite = parse_suite(_suite(build={"M": [8, 16]}, query={"ef": [10, 20, 40]}, seeds=[0, 1]))
    groups = expand(suite, get_registry())
    assert len(groups) == 4  # 2 M values x 2 seeds
    for group in groups:
        assert [s.query["ef"] for s in group.specs] == [10, 20, 40]
        assert len({s.build_id() for s in group.specs}) == 1
        assert len({s.spec_id() for s in group.specs}) == 3


def test_missing_build_and_query_fall_back_to_the_plugins_default_grid():
    reg = get_registry()
    info = reg.indexes.get("hnswlib")
    suite = parse_suite(_suite())
    specs = [s for g in expand(suite, reg) for s in g.specs]
    n_build = len(grid(dict(info.build_grid)))
    n_query = len(grid(dict(info.query_grid)))
    assert len(specs) == n_build * n_query


def test_spec_id_changes_with_dataset_checksum_and_plugin_version():
    suite = parse_suite(_suite(build={"M": 8}, query={"ef": 10}))
    spec = expand(suite, get_registry())[0].specs[0]
    ids = {spec.spec_id("a", "1"), spec.spec_id("b", "1"), spec.spec_id("a", "2")}
    assert len(ids) == 3
    assert spec.spec_id("a", "1") == spec.spec_id("a", "1")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"run": [{"dataset": "x", "index": "y"}], "nmae": "t"}, "did you mean 'name'"),
        ({"name": "t"}, "at least one [[run]]"),
        ({"run": [{"dataset": "x"}]}, "missing 'index'"),
        ({"run": [{"dataset": "x", "index": "y", "k": "ten"}]}, "'k' should be"),
        ({"run": [{"dataset": "x", "index": "y", "seeds": ["a"]}]}, "'seeds' must be"),
        ({"run": [{"dataset": "x", "index": "y", "querry": {}}]}, "did you mean 'query'"),
        ({"run": [{"dataset": "x", "index": "y", "task": "serch"}]}, "did you mean 'search'"),
        ({"run": [{"dataset": "x", "index": "y", "build": {"M": {"a": 1}}}]}, "value or a list"),
        ({"run": [{"dataset": "x", "index": "y", "k": 0}]}, "'k' must be >= 1"),
    ],
)
def test_malformed_suites_get_clear_errors(data, message):
    with pytest.raises(SuiteError, match=".*" + message.replace("[", r"\[").replace("]", r"\]")):
        parse_suite(data)


def test_unknown_index_dataset_and_parameter_suggest_close_matches():
    reg = get_registry()
    with pytest.raises(SuiteError, match="did you mean 'hnswlib'"):
        expand(parse_suite({"run": [{"dataset": "gmm-1000x8", "index": "hnswlb"}]}), reg)
    with pytest.raises(SuiteError, match="did you mean 'ef_construction'"):
        expand(parse_suite(_suite(build={"ef_constrution": 10})), reg)
    with pytest.raises(SuiteError, match="unknown dataset 'digts'"):
        expand(parse_suite({"run": [{"dataset": "digts", "index": "hnswlib"}]}), reg)


def test_bad_parameter_value_is_a_clear_error():
    with pytest.raises(SuiteError, match=r"parameter .M.*expected int"):
        expand(parse_suite(_suite(build={"M": "many"})), get_registry())


def test_suite_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [unclosed")
    with pytest.raises(SuiteError, match="not valid TOML"):
        load_suite(bad)
    with pytest.raises(SuiteError, match="not found"):
        load_suite(tmp_path / "missing.toml")
    with pytest.raises(UnknownNameError, match="did you mean 'quick'"):
        load_suite("quik")


def test_every_builtin_suite_parses_and_expands():
    reg = get_registry()
    suites = builtin_suites()
    assert {"quick", "peers-brute-force"} <= set(suites)
    for name in suites:
        suite = load_suite(name)
        assert suite.description, f"suite {name} has no description"
        assert expand(suite, reg), f"suite {name} expands to nothing"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("hnswlib", {"a", "b"}),
        ("ef=10", {"a"}),
        ("not ef=10", {"b", "c"}),
        ("faiss or ef=20", {"b", "c"}),
        ("(hnswlib and not ef=20) or faiss", {"a", "c"}),
    ],
)
def test_keyword_selection(expr, expected):
    class S:
        def __init__(self, name, text):
            self.name, self.text = name, text

        def describe(self):
            return self.text

    specs = [S("a", "search gmm hnswlib [M=8] [ef=10]"), S("b", "search gmm hnswlib [M=8] [ef=20]"),
             S("c", "search gmm faiss [] []")]
    assert {s.name for s in select(specs, expr)} == expected


@pytest.mark.parametrize("expr", ["and", "(hnswlib", "hnswlib or", "a b"])
def test_bad_keyword_expressions(expr):
    with pytest.raises(SuiteError):
        select([], expr)
