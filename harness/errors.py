"""Errors raised by vecbench. Every message names the problem and, where it helps, the fix."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class VecbenchError(Exception):
    """Base class of every error vecbench raises on purpose."""


class InvalidInputError(VecbenchError, ValueError):
    """Data, parameters or arguments that cannot be used (shape, dtype, NaN, k > n, ...)."""


class UnknownNameError(VecbenchError, KeyError):
    """A plugin, dataset, metric, measure or parameter name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str], hint: str = "") -> None:
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        msg = f"unknown {kind} {name!r}"
        if close:
            msg += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        elif known:
            shown = ", ".join(known[:12]) + (", ..." if len(known) > 12 else "")
            msg += f"; known: {shown}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
        self.kind = kind
        self.name = name
        self.suggestions = close

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateNameError(VecbenchError):
    """Two plugins registered the same name for the same kind."""


class SuiteError(VecbenchError):
    """A suite file that cannot be read or validated."""


class PluginUnavailableError(VecbenchError):
    """A plugin whose third-party library is not installed."""


class DatasetUnavailableError(VecbenchError):
    """A dataset whose files are not present locally; the message says how to get them."""
