"""An example third-party vecbench plugin.

It provides one index, ``sorted-norm`` (exact euclidean k-NN that prunes by vector norms),
and one metric, ``braycurtis``. vecbench finds this module through the entry point declared
in ``pyproject.toml`` and calls the two hooks below; nothing else is needed.
"""

from __future__ import annotations

from collections.abc import Callable

from harness import IndexInfo, MetricInfo, hookimpl
from vecbench_example_plugin.braycurtis import BRAYCURTIS
from vecbench_example_plugin.sorted_norm import SORTED_NORM

__version__ = "0.1.0"


@hookimpl
def register_indexes(register: Callable[[IndexInfo], None]) -> None:
    register(SORTED_NORM)


@hookimpl
def register_metrics(register: Callable[[MetricInfo], None]) -> None:
    register(BRAYCURTIS)
