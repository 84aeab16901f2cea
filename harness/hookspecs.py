"""Every hook of vecbench: the plugin contract in one file.

Each hook receives a ``register`` callback and calls it once per thing it provides, so the
host never merges return values and knows which plugin provided what. Implement a hook with
``@harness.hookimpl`` in a module registered under the ``vecbench`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from harness.types import (
    AttackInfo,
    BitmapInfo,
    ClustererInfo,
    DatasetInfo,
    ExecutorInfo,
    IndexInfo,
    MeasureInfo,
    MetricInfo,
    TaskInfo,
)

hookspec = pluggy.HookspecMarker("vecbench")


@hookspec
def register_indexes(register: Callable[[IndexInfo], None]) -> None:
    """Register index plugins.

    :param register: call ``register(IndexInfo(...))`` once per index. The name must be
        unique across all plugins; a duplicate is an error naming both providers.
    """


@hookspec
def register_metrics(register: Callable[[MetricInfo], None]) -> None:
    """Register metrics (distances, smaller is nearer; float64; optional gradient).

    :param register: call ``register(MetricInfo(...))`` once per metric. Aliases share the
        namespace of names.
    """


@hookspec
def register_datasets(register: Callable[[DatasetInfo], None]) -> None:
    """Register datasets and dataset families.

    :param register: call ``register(DatasetInfo(...))`` once per dataset; a family has a
        ``pattern`` and a ``make(name)`` that returns the DatasetInfo of a matching name.
    """


@hookspec
def register_measures(register: Callable[[MeasureInfo], None]) -> None:
    """Register measures: figures computed from a record's per-query arrays and timings.

    :param register: call ``register(MeasureInfo(...))`` once per measure. Measures are
        computed when a record is written and again whenever records are re-scored.
    """


@hookspec
def register_attacks(register: Callable[[AttackInfo], None]) -> None:
    """Register attack plugins (perturb inputs within a budget using gradients).

    :param register: call ``register(AttackInfo(...))`` once per attack.
    """


@hookspec
def register_clusterers(register: Callable[[ClustererInfo], None]) -> None:
    """Register clusterers (benchmarked by the ``cluster`` task).

    :param register: call ``register(ClustererInfo(...))`` once per clusterer. Its
        ``factory(**build_params)`` returns an object whose ``fit_predict(X)`` gives one
        integer label per row of ``X``.
    """


@hookspec
def register_bitmaps(register: Callable[[BitmapInfo], None]) -> None:
    """Register bitmap implementations (benchmarked by the ``bitmap-ops`` task).

    :param register: call ``register(BitmapInfo(...))`` once per implementation. Its
        ``factory(n_bits, ids=None, **build_params)`` returns a set of ids in ``[0, n_bits)``
        with the operations of the bitmap protocol (``docs/bitmaps.md``).
    """


@hookspec
def register_tasks(register: Callable[[TaskInfo], None]) -> None:
    """Register tasks: what a suite can benchmark (``search``, ``attack``, ``cluster``, ...).

    :param register: call ``register(TaskInfo(...))`` once per task. The task's worker runs
        in the isolated process of each build configuration.
    """


@hookspec
def register_executors(register: Callable[[ExecutorInfo], None]) -> None:
    """Register executors: where build groups run (``local``, ``dask``, ...).

    :param register: call ``register(ExecutorInfo(...))`` once per executor; ``vecbench run
        --executor NAME`` picks one.
    """
