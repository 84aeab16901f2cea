"""Preloaded by the runner's fork server (see :mod:`harness.runner`).

Every build group's process is forked from a server that imported this module once: the
interpreter, numpy, the runner and the plugin registry (entry points and their modules) are
then already loaded, so a group starts without paying for them again. Nothing here may
fail the server: an import error only means the child imports the module itself.
"""

from __future__ import annotations

import contextlib

with contextlib.suppress(Exception):
    import numpy  # noqa: F401

    import harness.runner  # noqa: F401
    from harness.plugins import get_host

    get_host()
