"""vecbench: a plugin-based benchmark harness for vector retrieval.

The public API for plugin authors: ``hookimpl``, the info records and protocols, the base
index class and the errors.
"""

from __future__ import annotations

import pluggy

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
    DataKind,
    Dataset,
    DatasetInfo,
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

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("vecbench")

__all__ = [
    "AttackInfo", "AttackTarget", "BaseIndex", "DataKind", "Dataset", "DatasetInfo",
    "DatasetUnavailableError", "DuplicateNameError", "Index", "IndexCapabilities", "IndexInfo",
    "InvalidInputError", "MeasureContext", "MeasureInfo", "MetricInfo", "Param",
    "PluginUnavailableError", "SetData", "SuiteError", "TaskInfo", "UnknownNameError",
    "VecbenchError", "__version__", "hookimpl",
]
