"""Built-in tasks. ``search``: k-nearest-neighbour search over an index plugin."""

from __future__ import annotations

from harness import TaskInfo, hookimpl
from harness.runner import search_worker


@hookimpl
def register_tasks(register) -> None:
    """Register the ``search`` task (the runner's own measuring loop)."""
    register(TaskInfo(
        name="search",
        worker=search_worker,
        plugin_kind="index",
        description="k-NN search: recall against exact ground truth, QPS, latency, build, memory",
    ))
