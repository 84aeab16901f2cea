"""Meta-tests of the plugin author guide (docs/plugin-guide.md), in the style of datasette's.

Every hook of harness/hookspecs.py appears in the guide with its full signature and has a
``test_hook_<name>`` test in tests/; the guide's tables name every capability, every
conformance check and every pytest fixture vecbench offers; its code compiles and its
walk-through quotes the example package as it is.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from harness import hookspecs, plugins
from harness.testing import index_checks, metric_checks
from harness.types import IndexCapabilities, IndexInfo, MetricInfo

ROOT = Path(__file__).resolve().parents[1]
GUIDE = (ROOT / "docs" / "plugin-guide.md").read_text()
EXAMPLE = ROOT / "examples" / "vecbench-example-plugin"

HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if callable(fn) and hasattr(fn, "vecbench_spec"))


def _signatures() -> dict[str, tuple[str, str]]:
    """hook name -> (short form ``name(register)``, full annotated signature)."""
    tree = ast.parse((ROOT / "harness" / "hookspecs.py").read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name in HOOKS:
            short = f"{node.name}({', '.join(a.arg for a in node.args.args)})"
            returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
            out[node.name] = (short, f"{node.name}({ast.unparse(node.args)}){returns}")
    return out


SIGNATURES = _signatures()


def test_hookspecs_are_found():
    assert len(HOOKS) >= 6 and "register_indexes" in HOOKS
    assert set(SIGNATURES) == set(HOOKS)


def test_the_host_calls_every_hook():
    assert set(plugins.HOOKS) == set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented_with_its_signature(hook):
    short, full = SIGNATURES[hook]
    assert f"### `{short}`" in GUIDE, f"no section '### `{short}`' in docs/plugin-guide.md"
    assert full in GUIDE, f"the signature {full!r} is not in docs/plugin-guide.md"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_has_a_test(hook):
    pattern = re.compile(rf"^def test_hook_{hook}\(", re.MULTILINE)
    assert any(pattern.search(path.read_text()) for path in (ROOT / "tests").glob("*.py")), (
        f"no test_hook_{hook} test in tests/")


def test_every_capability_is_documented():
    for capability in (f.name for f in dataclasses.fields(IndexCapabilities)):
        assert f"| `{capability}` |" in GUIDE, capability


def _all_check_names() -> set[str]:
    caps = IndexCapabilities(metrics=frozenset({"euclidean"}), exact=True, filter=True,
                             add=True, delete=True, save_load=True, threads=True)
    exact = IndexInfo("x", factory=dict, capabilities=caps)
    approximate = dataclasses.replace(exact, capabilities=dataclasses.replace(caps, exact=False))
    metric = MetricInfo("m", pairwise=dict, rowwise=dict, gradient=dict, blas="l2")
    loose = dataclasses.replace(metric, triangle_inequality=False, signed=True, blas=None)
    names = {n for info in (exact, approximate) for n, _ in index_checks(info)}
    names |= {n for info in (metric, loose) for n, _ in metric_checks(info)}
    return names | {"check_requirements"}


def test_every_conformance_check_is_documented():
    names = _all_check_names()
    assert len(names) > 25
    missing = sorted(n for n in names if f"| `{n}` |" not in GUIDE)
    assert missing == []


def test_every_pytest_fixture_is_documented():
    tree = ast.parse((ROOT / "harness" / "pytest_plugin.py").read_text())
    fixtures = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)
                and any("fixture" in ast.unparse(d) for d in node.decorator_list)]
    assert fixtures
    for name in fixtures:
        assert f"| `{name}` |" in GUIDE, name


def test_python_code_in_the_guide_compiles():
    blocks = re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL)
    assert len(blocks) >= 5
    for block in blocks:
        compile(block, "<docs/plugin-guide.md>", "exec")


def test_walkthrough_quotes_the_example_package_as_it_is():
    pyproject = (EXAMPLE / "pyproject.toml").read_text()
    entry_point = re.search(r"\[project\.entry-points\.vecbench\]\n(.+)\n", pyproject).group(1)
    assert entry_point in GUIDE
    layout = re.search(r"```\nexamples/vecbench-example-plugin/\n(.*?)```", GUIDE, re.DOTALL)
    for line in layout.group(1).splitlines():
        assert (EXAMPLE / line.split()[0]).is_file(), line
    source = (EXAMPLE / "vecbench_example_plugin" / "sorted_norm.py").read_text()
    info = re.search(r"```python\n(SORTED_NORM = IndexInfo\(.*?)```", GUIDE, re.DOTALL)
    assert info is not None and info.group(1) in source
