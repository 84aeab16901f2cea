"""The plugin host with real installed packages and local modules.

The two example packages of ``examples/`` are pip-installed (``--no-deps --target``) into a
temporary directory put on ``sys.path``, so entry-point discovery sees them exactly as it sees
any installed distribution; the directory is removed from ``sys.path`` afterwards and the
process-wide plugin host is put back as it was. Also here: one ``test_hook_<name>`` per hook,
each registering a dummy through a local plugin file.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import plugins
from harness.errors import UnknownNameError
from harness.testing import run_checks

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
PACKAGES = ("vecbench-example-plugin", "vecbench-broken-plugin")
MODULES = ("vecbench_example_plugin", "vecbench_broken_plugin")


def _can_build_without_isolation() -> bool:
    """setuptools >= 61 reads pyproject metadata; below 70.1 it also needs ``wheel``."""
    try:
        major, minor = (int(p) for p in md.version("setuptools").split(".")[:2])
    except (md.PackageNotFoundError, ValueError):
        return False
    if (major, minor) < (61, 0):
        return False
    return (major, minor) >= (70, 1) or importlib.util.find_spec("wheel") is not None


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Install both example packages into a temporary site directory on sys.path."""
    site = tmp_path_factory.mktemp("site")
    sources = tmp_path_factory.mktemp("src")
    dirs = []
    for package in PACKAGES:  # build from copies: setuptools writes build/ and egg-info/
        shutil.copytree(EXAMPLES / package, sources / package,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
        dirs.append(str(sources / package))
    cmd = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-compile", "--quiet",
           "--disable-pip-version-check", "--target", str(site), *dirs]
    if _can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if done.returncode:
        pytest.fail(f"pip install of the example plugins failed:\n{done.stderr[-3000:]}")
    saved = (plugins._HOST, plugins._HOST_KEY)
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    yield site
    sys.path.remove(str(site))
    for name in [m for m in sys.modules if m.split(".")[0] in MODULES]:
        del sys.modules[name]
    importlib.invalidate_caches()
    plugins._HOST, plugins._HOST_KEY = saved


def _ok(host) -> set[str]:
    return {name for name, status in host.status.items() if status.error is None}


def test_installed_plugin_is_discovered_through_its_entry_point(installed, vecbench_plugin_host):
    host = vecbench_plugin_host()
    status = host.status["example"]
    assert status.error is None
    assert (status.distribution, status.version) == ("vecbench-example-plugin", "0.1.0")
    assert status.module == "vecbench_example_plugin"
    assert status.hooks == ["register_indexes", "register_metrics"]
    assert status.provides == {"index": ["sorted-norm"], "metric": ["braycurtis"]}
    assert host.registry.indexes.get_entry("sorted-norm").provider == "example"
    assert host.registry.metrics.get_entry("braycurtis").provider == "example"
    module_file = Path(sys.modules["vecbench_example_plugin"].__file__)
    assert installed in module_file.parents


def test_broken_plugin_is_isolated_and_its_error_shown(installed, vecbench_plugin_host,
                                                        monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, "broken,example")
    without = _ok(vecbench_plugin_host())
    monkeypatch.delenv(plugins.DISABLE_ENV)
    host = vecbench_plugin_host()
    broken = host.status["broken"]
    assert broken.distribution == "vecbench-broken-plugin"
    assert broken.error.startswith("RuntimeError: vecbench-broken-plugin fails on import")
    assert "__init__.py" in broken.error
    assert broken.hooks == [] and broken.provides == {}
    assert _ok(host) == without | {"example"}
    assert "sorted-norm" in host.registry.indexes


def test_disable_plugins_environment_variable(installed, vecbench_plugin_host, monkeypatch):
    monkeypatch.setenv(plugins.DISABLE_ENV, " example , broken ")
    host = vecbench_plugin_host()
    assert "example" not in host.status and "broken" not in host.status
    assert "sorted-norm" not in host.registry.indexes
    with pytest.raises(UnknownNameError):
        host.registry.indexes.get("sorted-norm")


def test_duplicate_names_are_errors_naming_both_providers(installed, vecbench_plugin_host,
                                                          tmp_path):
    path = _plugin_file(tmp_path, "vb_duplicate", """
        from harness import hookimpl
        from vecbench_example_plugin import SORTED_NORM, BRAYCURTIS
        import dataclasses

        @hookimpl
        def register_indexes(register):
            register(SORTED_NORM)

        @hookimpl
        def register_metrics(register):
            register(dataclasses.replace(BRAYCURTIS, name="bray", aliases=("braycurtis",)))
    """)
    host = vecbench_plugin_host(str(path))
    error = host.status["vb_duplicate"].error
    assert "index 'sorted-norm' is registered twice" in error
    assert "plugin 'example'" in error and "plugin 'vb_duplicate'" in error
    assert "metric 'braycurtis' is registered twice" in error
    assert host.registry.indexes.get_entry("sorted-norm").provider == "example"
    assert "bray" not in host.registry.metrics
    assert host.status["example"].error is None


def test_unknown_names_suggest_close_ones(installed, vecbench_plugin_host):
    registry = vecbench_plugin_host().registry
    with pytest.raises(UnknownNameError, match="did you mean 'sorted-norm'"):
        registry.indexes.get("sorted-nrom")
    with pytest.raises(UnknownNameError, match="did you mean 'braycurtis'"):
        registry.metrics.get("braycurtsi")
    with pytest.raises(UnknownNameError, match="sorted-norm"):
        run_checks("sorted-nrom")


def test_local_plugin_by_module_name_file_path_and_environment(tmp_path, monkeypatch,
                                                               vecbench_plugin_host):
    _plugin_file(tmp_path, "vb_local_module", _INDEX_PLUGIN.format(name="local-module-index"))
    file_plugin = _plugin_file(tmp_path / "elsewhere", "vb_local_file",
                               _INDEX_PLUGIN.format(name="local-file-index"))
    monkeypatch.syspath_prepend(str(tmp_path))
    host = vecbench_plugin_host("vb_local_module", str(file_plugin))
    assert host.status["vb_local_module"].error is None
    assert host.registry.indexes.get_entry("local-module-index").provider == "vb_local_module"
    assert host.registry.indexes.get_entry("local-file-index").provider == "vb_local_file"
    monkeypatch.setenv(plugins.EXTRA_ENV, "vb_local_module")
    assert "local-module-index" in vecbench_plugin_host().registry.indexes
    monkeypatch.setenv(plugins.DISABLE_ENV, "vb_local_module")
    assert "local-module-index" not in vecbench_plugin_host().registry.indexes


def test_kit_passes_on_the_example_plugin(installed, vecbench_plugin_host):
    vecbench_plugin_host()
    results = run_checks("example")
    failed = [(r.plugin, r.metric, r.check, r.error) for r in results if not r.passed]
    assert failed == []
    assert {r.plugin for r in results} == {"sorted-norm", "braycurtis"}
    checks = {r.check for r in results}
    assert {"check_results_exact", "check_filter", "check_delete", "check_save_load",
            "check_gradient", "check_symmetric"} <= checks
    assert "check_add" not in checks  # not declared


def test_example_package_own_tests_pass_in_a_fresh_process(installed, tmp_path):
    # A plugin author's CI: pytest in the package, with vecbench's pytest plugin loaded.
    package = tmp_path / "vecbench-example-plugin"
    shutil.copytree(EXAMPLES / "vecbench-example-plugin", package,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed),
                                                       os.environ.get("PYTHONPATH", "")])}
    env.pop(plugins.DISABLE_ENV, None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=package, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


# --------------------------------------------------------------------------- one per hook

_INDEX_PLUGIN = """
    from harness import IndexCapabilities, IndexInfo, hookimpl

    @hookimpl
    def register_indexes(register):
        register(IndexInfo("{name}", factory=lambda metric: None,
                           capabilities=IndexCapabilities(metrics={{"euclidean"}})))
"""


def _plugin_file(folder: Path, stem: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(source))
    return path


def _load_one(tmp_path: Path, load, stem: str, source: str):
    host = load(str(_plugin_file(tmp_path, stem, source)))
    status = host.status[stem]
    assert status.error is None, status.error
    return host, status


def test_hook_register_indexes(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_indexes",
                             _INDEX_PLUGIN.format(name="hook-test-index"))
    assert status.hooks == ["register_indexes"]
    entry = host.registry.indexes.get_entry("hook-test-index")
    assert entry.provider == "vb_hook_indexes"
    assert entry.info.capabilities.metrics == frozenset({"euclidean"})
    assert status.provides == {"index": ["hook-test-index"]}


def test_hook_register_metrics(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_metrics", """
        import numpy as np
        from harness import MetricInfo, hookimpl

        def pairwise(x, y):
            return np.zeros((len(x), len(y)))

        def rowwise(x, y):
            return np.zeros(len(x))

        @hookimpl
        def register_metrics(register):
            register(MetricInfo("hook-test-metric", pairwise, rowwise,
                                aliases=("hook-alias",)))
    """)
    assert status.hooks == ["register_metrics"]
    metrics = host.registry.metrics
    assert metrics.get_entry("hook-test-metric").provider == "vb_hook_metrics"
    assert metrics.get("hook-alias") is metrics.get("hook-test-metric")


def test_hook_register_datasets(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_datasets", """
        import dataclasses
        from harness import DatasetInfo, hookimpl

        ONE = DatasetInfo("hook-test-dataset", load=None, metric="euclidean", n_train=10)
        FAMILY = DatasetInfo("hook-family", load=None, metric="euclidean",
                             pattern=r"hookfam-(\\d+)",
                             make=lambda name: dataclasses.replace(
                                 ONE, name=name, n_train=int(name.split("-")[1])))

        @hookimpl
        def register_datasets(register):
            register(ONE)
            register(FAMILY)
    """)
    assert status.hooks == ["register_datasets"]
    datasets = host.registry.datasets
    assert datasets.get_entry("hook-test-dataset").provider == "vb_hook_datasets"
    family = datasets.find_family("hookfam-123")
    assert family is not None and family.provider == "vb_hook_datasets"
    assert family.info.make("hookfam-123").n_train == 123
    assert datasets.find_family("hookfam-x") is None


def test_hook_register_measures(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_measures", """
        from harness import MeasureInfo, hookimpl

        @hookimpl
        def register_measures(register):
            register(MeasureInfo("hook_test_measure", compute=lambda ctx: float(ctx.k),
                                 higher_is_better=False, unit="items"))
    """)
    assert status.hooks == ["register_measures"]
    entry = host.registry.measures.get_entry("hook_test_measure")
    assert entry.provider == "vb_hook_measures"
    assert (entry.info.higher_is_better, entry.info.unit) == (False, "items")


def test_hook_register_attacks(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_attacks", """
        from harness import AttackInfo, Param, hookimpl

        @hookimpl
        def register_attacks(register):
            register(AttackInfo("hook-test-attack", factory=dict,
                                build_params=(Param("steps", 10, int),),
                                query_grid={"eps": [0.1, 0.3]}, norms=("linf",)))
    """)
    assert status.hooks == ["register_attacks"]
    entry = host.registry.attacks.get_entry("hook-test-attack")
    assert entry.provider == "vb_hook_attacks"
    assert entry.info.norms == ("linf",)
    assert [p.name for p in entry.info.build_params] == ["steps"]


def test_hook_register_tasks(tmp_path, vecbench_plugin_host):
    host, status = _load_one(tmp_path, vecbench_plugin_host, "vb_hook_tasks", """
        from harness import TaskInfo, hookimpl

        def worker(job):
            yield "built", {}

        @hookimpl
        def register_tasks(register):
            register(TaskInfo("hook-test-task", worker=worker, plugin_kind="attack",
                              run_keys={"target": "the model under attack"}))
    """)
    assert status.hooks == ["register_tasks"]
    entry = host.registry.tasks.get_entry("hook-test-task")
    assert entry.provider == "vb_hook_tasks"
    assert (entry.info.plugin_kind, entry.info.key) == ("attack", "attack")
    assert list(entry.info.worker(None)) == [("built", {})]
