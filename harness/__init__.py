"""vecbench: a plugin-based benchmark harness for vector retrieval.

The public API for plugin authors: ``hookimpl``, the info records and protocols, the base
index class and the errors. Names other than ``hookimpl`` and ``__version__`` are loaded on
first use, so importing ``harness`` (as the pytest plugin does in every pytest session) does
not import numpy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("vecbench")

_LAZY = {
    "BaseIndex": "harness.base",
    **{name: "harness.errors" for name in (
        "DatasetUnavailableError", "DuplicateNameError", "InvalidInputError",
        "PluginUnavailableError", "SuiteError", "UnknownNameError", "VecbenchError")},
    **{name: "harness.types" for name in (
        "AttackInfo", "AttackTarget", "BitmapInfo", "ClustererInfo", "DataKind", "Dataset",
        "DatasetInfo", "ExecutorInfo",
        "Index", "IndexCapabilities", "IndexInfo", "MeasureContext", "MeasureInfo", "MetricInfo",
        "Param", "SetData", "TaskInfo")},
}

__all__ = [
    "AttackInfo", "AttackTarget", "BaseIndex", "BitmapInfo", "ClustererInfo", "DataKind",
    "Dataset",
    "DatasetInfo", "DatasetUnavailableError", "DuplicateNameError", "ExecutorInfo", "Index",
    "IndexCapabilities",
    "IndexInfo", "InvalidInputError", "MeasureContext", "MeasureInfo", "MetricInfo", "Param",
    "PluginUnavailableError", "SetData", "SuiteError", "TaskInfo", "UnknownNameError",
    "VecbenchError", "__version__", "hookimpl",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'harness' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from harness.base import BaseIndex
    from harness.errors import (
        DatasetUnavailableError,
        DuplicateNameError,
        InvalidInputError,
        PluginUnavailableError,
        SuiteError,
        UnknownNameError,
        VecbenchError,
    )
    from harness.types import (
        AttackInfo,
        AttackTarget,
        BitmapInfo,
        ClustererInfo,
        DataKind,
        Dataset,
        DatasetInfo,
        ExecutorInfo,
        Index,
        IndexCapabilities,
        IndexInfo,
        MeasureContext,
        MeasureInfo,
        MetricInfo,
        Param,
        SetData,
        TaskInfo,
    )
