"""MIPS reductions: maximum inner-product search answered by any euclidean or angular index.

Two index plugins wrap a *base* index (any registered index, named by the build parameter
``base``) and serve the ``ip`` metric (distance ``-q·y``):

- ``mips-xbox`` (Bachrach et al., RecSys 2014): items ``y -> [y; sqrt(phi² - |y|²)]`` with
  ``phi = max |y|`` over the indexed items, queries ``q -> [q; 0]``. Then
  ``|q' - y'|² = |q|² + phi² - 2 q·y``: for a fixed query the euclidean order is the
  inner-product order, and so is the angular order (every item has norm ``phi``).
- ``mips-simple-lsh`` (Neyshabur & Srebro, ICML 2015): items scaled by ``1/phi`` then
  ``x -> [x; sqrt(1 - |x|²)]`` (unit norm), queries ``q -> [q/|q|; 0]``, so
  ``cos(P(x), Q(q)) = q·x / (phi |q|)``: again the inner-product order, under euclidean or
  angular search.

The reductions are asymmetric: queries are never augmented with the item formula. ``phi`` is
computed over the built data, so ``add`` is not offered (a longer item would break it).

The base index's build parameters come from ``base_params`` (``"M=16,ef_construction=100"``)
and its query parameters from the common names ``ef``, ``nprobe``, ``search_k``, ``efSearch``
(left unset: not passed) or ``base_query`` (``"name=value,..."``); they are coerced with the
base index's own :class:`~harness.types.Param` declarations, so a typo is reported by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness import (
    BaseIndex,
    IndexCapabilities,
    IndexInfo,
    InvalidInputError,
    Param,
    hookimpl,
)
from harness.types import VectorData, resolve_params

#: Metrics a base index may be asked to serve the reduced problem under.
BASE_METRICS = ("euclidean", "angular")
#: Query parameters passed through to the base index when set.
PASS_THROUGH = ("ef", "nprobe", "search_k", "efSearch")


def parse_param_string(text: str, owner: str) -> dict[str, str]:
    """Split ``"a=1,b=2"`` into ``{"a": "1", "b": "2"}`` (values are coerced later)."""
    out: dict[str, str] = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, eq, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not eq or not key or not value:
            raise InvalidInputError(
                f"{owner}: cannot read {item.strip()!r}; write 'name=value[,name=value...]'")
        if key in out:
            raise InvalidInputError(f"{owner}: parameter {key!r} given twice")
        out[key] = value
    return out


def xbox_items(y: np.ndarray, phi: float | None = None) -> tuple[np.ndarray, float]:
    """Bachrach et al.'s item transform ``[y; sqrt(phi² - |y|²)]`` (float64) and ``phi``."""
    y = np.asarray(y, dtype=np.float64)
    sq = np.einsum("ij,ij->i", y, y)
    top = float(np.sqrt(sq.max())) if phi is None else float(phi)
    extra = np.sqrt(np.clip(top * top - sq, 0.0, None))  # clip: rounding near |y| = phi
    return np.hstack([y, extra[:, None]]), top


def xbox_queries(q: np.ndarray) -> np.ndarray:
    """Bachrach et al.'s query transform ``[q; 0]`` (float64)."""
    q = np.asarray(q, dtype=np.float64)
    return np.hstack([q, np.zeros((len(q), 1))])


def simple_lsh_items(y: np.ndarray, phi: float | None = None) -> tuple[np.ndarray, float]:
    """SIMPLE-LSH item transform: scale by ``1/phi``, append ``sqrt(1 - |x|²)`` (unit rows)."""
    y = np.asarray(y, dtype=np.float64)
    top = float(np.sqrt(np.einsum("ij,ij->i", y, y).max())) if phi is None else float(phi)
    x = y / top if top > 0 else y.copy()
    sq = np.einsum("ij,ij->i", x, x)
    return np.hstack([x, np.sqrt(np.clip(1.0 - sq, 0.0, None))[:, None]]), top


def simple_lsh_queries(q: np.ndarray) -> np.ndarray:
    """SIMPLE-LSH query transform ``[q/|q|; 0]`` (zero queries stay zero)."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=1, keepdims=True)
    unit = np.divide(q, norm, out=np.zeros_like(q), where=norm > 0)
    return np.hstack([unit, np.zeros((len(q), 1))])


_TRANSFORMS = {
    "xbox": (xbox_items, xbox_queries),
    "simple-lsh": (simple_lsh_items, simple_lsh_queries),
}


class MipsReductionIndex(BaseIndex):
    """An ``ip`` index made of a MIPS-to-NN transform and any euclidean/angular base index."""

    reduction = "xbox"

    def __init__(self, metric: str = "ip", *, base: str = "bruteforce", base_params: str = "",
                 base_metric: str = "euclidean", registry: Any = None, **params: Any) -> None:
        owner = f"index 'mips-{self.reduction}'"
        if metric not in ("ip", "inner_product", "dot"):
            raise InvalidInputError(
                f"{owner} serves the inner-product metric 'ip' only, not {metric!r}")
        if base_metric not in BASE_METRICS:
            raise InvalidInputError(
                f"{owner}: base_metric must be one of {list(BASE_METRICS)}, got {base_metric!r}")
        if registry is None:
            from harness.plugins import get_registry

            registry = get_registry()
        info = registry.indexes.get(base)
        if info.name.startswith("mips-"):
            raise InvalidInputError(f"{owner}: the base index cannot itself be a MIPS reduction")
        if base_metric not in info.capabilities.metrics:
            raise InvalidInputError(
                f"{owner}: base index {info.name!r} does not serve {base_metric!r} "
                f"(it serves {sorted(info.capabilities.metrics)})")
        missing = info.missing_requirements()
        if missing:
            from harness.errors import PluginUnavailableError

            raise PluginUnavailableError(
                f"{owner}: base index {info.name!r} needs {missing}; {info.install_hint}")
        build = resolve_params(info.build_params,
                               parse_param_string(base_params, f"{owner} base_params"),
                               f"index {info.name!r} (build, via {owner})")
        super().__init__("ip", base=base, base_params=base_params, base_metric=base_metric,
                         **params)
        self.base_info = info
        self.base_metric = base_metric
        self.base_build = build
        self.base_index = info.factory(metric=base_metric, **build)
        self.phi = 0.0

    # ---- contract
    def warmup(self, sample: VectorData) -> None:
        items, _ = _TRANSFORMS[self.reduction][0](np.asarray(sample))
        self.base_index.warmup(items.astype(np.float32))

    def _build(self, data: VectorData) -> None:
        items, self.phi = _TRANSFORMS[self.reduction][0](data)
        self.base_index.build(items.astype(np.float32))

    def set_query_params(self, **params: Any) -> None:
        super().set_query_params(**params)
        owner = f"index 'mips-{self.reduction}'"
        given = parse_param_string(params.get("base_query") or "", f"{owner} base_query")
        for name in PASS_THROUGH:
            if params.get(name) is not None:
                if name in given:
                    raise InvalidInputError(
                        f"{owner}: query parameter {name!r} given both directly and in "
                        "base_query")
                given[name] = params[name]
        declared = {p.name for p in self.base_info.query_params}
        unknown = sorted(set(given) - declared)
        if unknown:
            raise InvalidInputError(
                f"{owner}: base index {self.base_info.name!r} has no query parameter "
                f"{unknown[0]!r} (it has {sorted(declared)})")
        table = [p for p in self.base_info.query_params if p.name in given]
        self.base_index.set_query_params(**resolve_params(
            table, given, f"index {self.base_info.name!r} (query, via {owner})"))

    def _search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        q = _TRANSFORMS[self.reduction][1](queries).astype(np.float32)
        ids, _ = self.base_index.search(q, k)
        # the base distances are in the transformed space; the harness recomputes -q·y
        return np.asarray(ids, dtype=np.int64), None

    def index_bytes(self) -> int:
        return int(self.base_index.index_bytes())

    def query_stats(self) -> dict[str, float]:
        return dict(self.base_index.query_stats())


class XboxIndex(MipsReductionIndex):
    """MIPS through Bachrach et al.'s euclidean transform (see the module docstring)."""

    reduction = "xbox"


class SimpleLshIndex(MipsReductionIndex):
    """MIPS through Neyshabur & Srebro's SIMPLE-LSH normalisation (see the module docstring)."""

    reduction = "simple-lsh"


_BUILD_PARAMS = (
    Param("base", "bruteforce", str, help="name of the wrapped euclidean/angular index"),
    Param("base_params", "", str,
          help="build parameters of the base index, 'name=value,...' (e.g. 'M=16')"),
    Param("base_metric", "euclidean", str, choices=BASE_METRICS,
          help="metric the base index searches the transformed vectors under"),
)
_QUERY_PARAMS = (
    Param("ef", None, int, low=1, help="passed to the base index when set (HNSW)"),
    Param("nprobe", None, int, low=1, help="passed to the base index when set (IVF)"),
    Param("search_k", None, int, low=-1, help="passed to the base index when set (annoy)"),
    Param("efSearch", None, int, low=1, help="passed to the base index when set (faiss HNSW)"),
    Param("base_query", "", str, help="other base query parameters, 'name=value,...'"),
)


def _info(cls: type[MipsReductionIndex], what: str) -> IndexInfo:
    return IndexInfo(
        name=f"mips-{cls.reduction}", factory=cls,
        capabilities=IndexCapabilities(metrics=frozenset({"ip"})),
        build_params=_BUILD_PARAMS, query_params=_QUERY_PARAMS,
        build_grid={"base": ["bruteforce"]}, query_grid={},
        description=f"MIPS via {what} over any euclidean/angular index (build param 'base')")


@hookimpl
def register_indexes(register: Any) -> None:
    """Register ``mips-xbox`` and ``mips-simple-lsh``."""
    register(_info(XboxIndex, "Bachrach et al.'s transform [y; sqrt(phi²-|y|²)]"))
    register(_info(SimpleLshIndex, "SIMPLE-LSH normalisation [y/phi; sqrt(1-|y/phi|²)]"))
