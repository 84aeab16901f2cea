"""Built-in executors: ``local`` (this machine) and ``dask`` (an optional extra)."""

from __future__ import annotations

from harness import ExecutorInfo, hookimpl


def _local(**kwargs):
    from harness.executors import LocalExecutor

    return LocalExecutor(**kwargs)


def _dask(**kwargs):
    from harness.executors import DaskExecutor

    return DaskExecutor(**kwargs)


@hookimpl
def register_executors(register) -> None:
    """Register ``local`` and ``dask``."""
    register(ExecutorInfo(
        name="local", factory=_local,
        description="this machine: sequential by default, --jobs N in parallel, one core each"))
    register(ExecutorInfo(
        name="dask", factory=_dask, requires=("distributed",),
        install_hint="pip install 'vecbench[dask]'",
        description="a Dask cluster (--scheduler ADDRESS or $DASK_SCHEDULER_ADDRESS); "
                    "each build group still runs in its own process on a worker"))
