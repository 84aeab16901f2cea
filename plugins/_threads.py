"""Thread pinning shared by the index plugins: BLAS and OpenMP pools set to ``n`` threads.

Benchmarks run single-threaded unless threads are an explicit sweep dimension, so wrappers of
multi-threaded libraries pin their pools when they build and before they search. Pinning is a
process-wide setting (the runner gives each build its own process). The last value pinned is
remembered, so calling :func:`pin_threads` before every search costs a comparison; with
``refresh=True`` (at build time) every pool is looked up and checked again, which also
catches pools resized by someone else since.
"""

from __future__ import annotations

from typing import Any

from harness import InvalidInputError

_controller: Any = None
_pinned: int | None = None


def check_threads(threads: Any, owner: str) -> int:
    """``threads`` as a positive int, or a clear error naming ``owner``."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise InvalidInputError(f"{owner}: threads must be a positive integer, got {threads!r}")
    return threads


def pin_threads(threads: int, *, refresh: bool = False) -> None:
    """Set every BLAS/OpenMP pool that threadpoolctl sees to ``threads`` threads.

    :param refresh: look for libraries loaded since the last call (use after importing a
        library that brings its own BLAS or OpenMP, e.g. at build time).
    """
    global _controller, _pinned
    if threads == _pinned and not refresh:
        return
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # threadpoolctl is a dependency; without it leave pools alone
        return
    if _controller is None or refresh:
        _controller = ThreadpoolController()
    for lib in _controller.lib_controllers:
        if lib.num_threads != threads:
            lib.set_num_threads(threads)
    _pinned = threads
