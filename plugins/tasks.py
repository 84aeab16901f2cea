"""Built-in tasks. ``search``: k-nearest-neighbour search over an index plugin."""

from __future__ import annotations

from harness import TaskInfo, hookimpl
from harness.runner import search_worker


def _plot_search(df, out_dir):
    from harness.report import plot_recall_qps

    return plot_recall_qps(df, out_dir)


@hookimpl
def register_tasks(register) -> None:
    """Register the ``search`` task (the runner's own measuring loop)."""
    register(TaskInfo(
        name="search",
        worker=search_worker,
        plugin_kind="index",
        plot=_plot_search,
        summary_measures=("recall", "qps"),
        description="k-NN search: recall against exact ground truth, QPS, latency, build, memory",
    ))
