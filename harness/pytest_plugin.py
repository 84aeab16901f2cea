"""pytest plugin of vecbench (entry point ``pytest11``): helpers for plugin authors' tests.

Kept cheap to import: it is loaded in every pytest session where vecbench is installed, so it
imports nothing of vecbench (nor numpy) until a fixture is used.

- marker ``vecbench_check``: set on every case of :func:`harness.testing.parametrize_with_checks`
  (``pytest -m vecbench_check`` runs the conformance checks only);
- fixture ``vecbench_data``: the kit's seeded data factory, :func:`harness.testing.make_data`;
- fixture ``vecbench_registry``: the registry of every installed plugin;
- fixture ``vecbench_plugin_host``: load local plugin modules for one test, and forget them
  afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "vecbench_check: a vecbench conformance check (harness.testing.parametrize_with_checks)")


@pytest.fixture
def vecbench_data() -> Callable[..., Any]:
    """The kit's data factory: ``vecbench_data(kind="dense", n=500, dim=16, n_queries=30,
    seed=0, ties=False) -> KitData`` with ``train`` and ``queries`` (seeded, so the same
    arguments always give the same arrays)."""
    from harness.testing import make_data

    return make_data


@pytest.fixture
def vecbench_registry() -> Any:
    """The registry of every installed plugin (``registry.indexes.get(name)``, ...)."""
    from harness.plugins import get_registry

    return get_registry()


@pytest.fixture
def vecbench_plugin_host() -> Iterator[Callable[..., Any]]:
    """Load local plugins for one test: ``host = vecbench_plugin_host("my_plugin",
    "path/to/other.py")`` returns a freshly loaded :class:`harness.plugins.PluginHost` (its
    ``registry`` and ``status``) with these modules besides the installed plugins.

    The process-wide host (what ``get_registry()`` returns) is put back as it was after the
    test, whatever the test loaded, so later tests do not see its plugins.
    """
    from harness import plugins

    saved = (plugins._HOST, plugins._HOST_KEY)

    def load(*modules: str) -> Any:
        return plugins.get_host(list(modules), reload=True)

    yield load
    plugins._HOST, plugins._HOST_KEY = saved
