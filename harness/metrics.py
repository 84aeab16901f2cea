"""Resolve a metric spec (``"euclidean"``, ``"l2"``, ``"minkowski:p=3"``) to a bound metric.

The host side of the metric contract. It knows no particular metric: names, aliases and
parameters come from the registry (:func:`harness.plugins.get_registry`). A spec is a name or
alias, optionally followed by ``:`` and comma-separated ``name=value`` parameters, which are
coerced with the metric's :class:`~harness.types.Param`\\ s. The returned :class:`BoundMetric`
checks its inputs (shape, dtype, NaN, dimension mismatch, data kind) and passes the bound
parameters to the plugin's functions as keyword arguments.

Also here: the input checks metric plugins share (float64 dense data, sorted set rows), and
``MetricInfo.bind``, for metrics whose flags depend on their parameters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.errors import InvalidInputError, UnknownNameError, VecbenchError
from harness.registry import Registry
from harness.types import DataKind, MetricInfo, SetData, resolve_params
from harness.validation import check_binary, check_dense, check_sets

#: Flags that :attr:`MetricInfo.bind` may override.
BINDABLE_FLAGS = ("triangle_inequality", "symmetric", "signed", "blas")


# --------------------------------------------------------------------------- input checks


def check_dense_float64(x: Any, name: str = "data", *, dim: int | None = None) -> np.ndarray:
    """Return ``x`` as a C-contiguous float64 2-D array, or raise a clear error.

    :func:`harness.validation.check_dense` with ``dtype=float64``: distances are computed in
    float64, and data beyond float32's range stays valid.
    """
    return check_dense(x, name, dim=dim, dtype=np.float64)


def check_set_rows(x: Any, name: str = "data") -> SetData:
    """Check CSR set data (:func:`harness.validation.check_sets`)."""
    return check_sets(x, name)


def _is_vector(x: Any) -> bool:
    try:
        return not isinstance(x, SetData) and np.ndim(x) == 1
    except (TypeError, ValueError):  # ragged input: check_dense_float64 reports it
        return False


def check_metric_inputs(x: Any, y: Any, kind: DataKind, *, same_rows: bool = False,
                        owner: str = "metric", names: tuple[str, str] = ("X", "Y"),
                        ) -> tuple[Any, Any]:
    """Check a pair of inputs of a metric of data kind ``kind``; return them converted.

    Dense data comes back as float64 arrays, binary data as uint8 arrays, sets as
    :class:`SetData`. Both operands must have the same dimension (bytes per vector for
    binary data) and, if ``same_rows``, the same number of rows.
    """
    kind = DataKind(kind)
    nx, ny = (f"{n} of {owner}" for n in names)
    if kind is DataKind.DENSE:
        if _is_vector(x) and not _is_vector(y):
            b = check_dense_float64(y, ny)
            a = check_dense_float64(x, nx, dim=b.shape[1])
        else:
            a = check_dense_float64(x, nx)
            b = check_dense_float64(y, ny, dim=a.shape[1] if _is_vector(y) else None)
        if a.shape[1] != b.shape[1]:
            raise InvalidInputError(
                f"{owner}: dimension mismatch: {names[0]} has {a.shape[1]} columns, "
                f"{names[1]} has {b.shape[1]}")
    elif kind is DataKind.BINARY:
        a = check_binary(x, nx)
        b = check_binary(y, ny)
        if a.shape[1] != b.shape[1]:
            raise InvalidInputError(
                f"{owner}: dimension mismatch: {names[0]} has {a.shape[1]} bytes per vector "
                f"({8 * a.shape[1]} bits), {names[1]} has {b.shape[1]}")
    else:
        a = check_set_rows(x, nx)
        b = check_set_rows(y, ny)
    if same_rows:
        la, lb = len(a), len(b)
        if la != lb:
            raise InvalidInputError(
                f"{owner}: {names[0]} and {names[1]} must have the same number of rows "
                f"(row i is compared with row i), got {la} and {lb}")
    return a, b


# --------------------------------------------------------------------------- bound metrics


@dataclass(frozen=True)
class BoundMetric:
    """A metric with its parameters bound; what indexes, ground truth and measures call.

    :param name: canonical name with parameters (``"minkowski:p=3"``); aliases resolved.
    :param info: the registered :class:`MetricInfo`.
    :param params: the coerced parameter values passed to the plugin functions.
    :param blas: ``"l2"``, ``"ip"``, ``"cos"`` or None (see :class:`MetricInfo`).
    :param signed: distances may be negative.
    :param data_kind: the kind of data the metric takes.
    :param triangle_inequality: holds for these parameter values.
    :param symmetric: d(x, y) == d(y, x).
    """

    name: str
    info: MetricInfo = field(repr=False)
    params: Mapping[str, Any]
    blas: str | None
    signed: bool
    data_kind: DataKind
    triangle_inequality: bool
    symmetric: bool

    @property
    def has_gradient(self) -> bool:
        """Whether :meth:`gradient` is available."""
        return self.info.gradient is not None

    def pairwise(self, X: Any, Y: Any) -> np.ndarray:
        """Distances of every row of ``X`` to every row of ``Y``: float64 (len(X), len(Y))."""
        a, b = check_metric_inputs(X, Y, self.data_kind, owner=f"metric {self.name!r}")
        out = self.info.pairwise(a, b, **self.params)
        return self._checked(out, (len(a), len(b)), "pairwise")

    def rowwise(self, X: Any, Y: Any) -> np.ndarray:
        """Distance of ``X[i]`` to ``Y[i]`` for every i: float64 (n,)."""
        a, b = check_metric_inputs(X, Y, self.data_kind, same_rows=True,
                                   owner=f"metric {self.name!r}")
        out = self.info.rowwise(a, b, **self.params)
        return self._checked(out, (len(a),), "rowwise")

    def gradient(self, Q: Any, X: Any) -> np.ndarray:
        """Gradient with respect to ``Q[i]`` of the distance of ``Q[i]`` to ``X[i]``: (n, d).

        Raises :class:`~harness.errors.InvalidInputError` if the metric has no gradient
        (binary and set metrics have none).
        """
        if self.info.gradient is None:
            raise InvalidInputError(
                f"metric {self.name!r} has no gradient ({self.data_kind.value} data); "
                "gradient-based attacks need a dense metric that provides one")
        a, b = check_metric_inputs(Q, X, self.data_kind, same_rows=True,
                                   owner=f"metric {self.name!r}", names=("Q", "X"))
        out = self.info.gradient(a, b, **self.params)
        return self._checked(out, a.shape, "gradient")

    def _checked(self, out: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
        arr = np.asarray(out, dtype=np.float64)
        if arr.shape != shape:
            raise VecbenchError(
                f"metric {self.name!r}: the plugin's {what} returned shape {arr.shape}, "
                f"expected {shape}")
        return arr


def parse_metric_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"name:a=1,b=2"`` into ``("name", {"a": "1", "b": "2"})`` (values unparsed)."""
    if not isinstance(spec, str):
        raise InvalidInputError(f"a metric spec must be a string such as 'euclidean' or "
                                f"'minkowski:p=3', got {type(spec).__name__} {spec!r}")
    name, sep, rest = spec.partition(":")
    name = name.strip()
    if not name:
        raise InvalidInputError(f"metric spec {spec!r} has no metric name")
    params: dict[str, str] = {}
    if sep and not rest.strip():
        raise InvalidInputError(f"metric spec {spec!r}: nothing after ':'; write "
                                "'name:param=value[,param=value...]'")
    for item in rest.split(",") if sep else ():
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise InvalidInputError(
                f"metric spec {spec!r}: cannot read parameter {item.strip()!r}; write "
                "'name:param=value[,param=value...]'")
        if key in params:
            raise InvalidInputError(f"metric spec {spec!r}: parameter {key!r} given twice")
        params[key] = value
    return name, params


def _format_value(value: Any) -> str:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() \
            and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _metric_table(registry: Registry | None) -> Any:
    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    return registry.metrics


def get_metric(spec: str | BoundMetric, registry: Registry | None = None, *,
               params: Mapping[str, Any] | None = None) -> BoundMetric:
    """Resolve a metric spec to a :class:`BoundMetric`.

    :param spec: a registered name or alias, optionally with parameters:
        ``"euclidean"``, ``"cosine"``, ``"minkowski:p=3"``. A BoundMetric is returned as is.
    :param registry: where to look the name up (default: every loaded plugin).
    :param params: further parameter values (e.g. build parameters that name ``p``); a
        parameter given both here and in the spec is an error.
    :raises UnknownNameError: unknown metric or parameter (with a close-match suggestion).
    :raises InvalidInputError: unreadable spec or invalid parameter value.
    """
    if isinstance(spec, BoundMetric):
        if params:
            spec = spec.info.name + (":" + ",".join(f"{k}={v}" for k, v in spec.params.items())
                                     if spec.params else "")
        else:
            return spec
    name, given = parse_metric_spec(spec)
    for key, value in (params or {}).items():
        if key in given:
            raise InvalidInputError(
                f"metric {name!r}: parameter {key!r} is given both in the spec {spec!r} and "
                "separately")
        given[key] = value
    table = _metric_table(registry)
    if name not in table:
        known = [*table.names(), *table.aliases]
        raise UnknownNameError("metric", name, known,
                               hint="`vecbench plugins` lists the loaded metrics")
    info: MetricInfo = table.get(name)
    owner = f"metric {info.name!r}"
    if given and not info.params:
        raise UnknownNameError(f"parameter of {owner}", next(iter(given)), (),
                               hint=f"{info.name!r} takes no parameters")
    values = resolve_params(info.params, given, owner)
    flags: dict[str, Any] = {f: getattr(info, f) for f in BINDABLE_FLAGS}
    if info.bind is not None:
        overrides = dict(info.bind(**values))
        unknown = sorted(set(overrides) - set(BINDABLE_FLAGS))
        if unknown:
            raise VecbenchError(f"{owner}: bind() returned unknown flags {unknown}; allowed: "
                                f"{list(BINDABLE_FLAGS)}")
        flags.update(overrides)
    canonical = info.name
    if info.params:
        canonical += ":" + ",".join(f"{p.name}={_format_value(values[p.name])}"
                                    for p in info.params)
    return BoundMetric(
        name=canonical, info=info, params=values, blas=flags["blas"],
        signed=bool(flags["signed"]), data_kind=DataKind(info.data_kind),
        triangle_inequality=bool(flags["triangle_inequality"]),
        symmetric=bool(flags["symmetric"]))


def metric_names(registry: Registry | None = None) -> list[str]:
    """Canonical names of every registered metric, sorted (aliases not included)."""
    return list(_metric_table(registry).names())
