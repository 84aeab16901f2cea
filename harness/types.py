"""The plugin contracts: what an index, metric, attack, dataset and measure provide.

A plugin registers *info* objects (``IndexInfo``, ``MetricInfo``, ...) through the hooks in
``harness.hookspecs``. An info object is plain data: a name, what the plugin can do
(capabilities), its named parameters with defaults, its default sweep grid, and a factory or
function. The host never probes objects with ``hasattr``; it reads what the info declares.
"""

from __future__ import annotations

import enum
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

# --------------------------------------------------------------------------- data kinds


class DataKind(enum.StrEnum):
    """How a dataset's vectors are stored.

    - ``dense``: float32 array (n, d).
    - ``binary``: bit-packed uint8 array (n, d / 8), least significant bit first
      (``numpy.packbits(bits, axis=1, bitorder='little')``).
    - ``sets``: :class:`SetData` (CSR ``indptr``/``indices``), one set of int tokens per row.
    """

    DENSE = "dense"
    BINARY = "binary"
    SETS = "sets"


@dataclass(frozen=True)
class SetData:
    """A collection of sets in CSR form: row i holds ``indices[indptr[i]:indptr[i+1]]``.

    Tokens of a row are sorted and unique (use :meth:`from_lists` to build one safely).
    """

    indptr: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return int(len(self.indptr) - 1)

    @property
    def shape(self) -> tuple[int, int]:
        """(number of sets, largest token + 1), for symmetry with dense arrays."""
        top = int(self.indices.max()) + 1 if len(self.indices) else 0
        return (len(self), top)

    def row(self, i: int) -> np.ndarray:
        """The sorted tokens of set ``i``."""
        return self.indices[self.indptr[i]:self.indptr[i + 1]]

    def __getitem__(self, rows: Any) -> SetData:
        """Select rows (int array, slice or list) into a new SetData."""
        idx = np.arange(len(self))[rows]
        idx = np.atleast_1d(idx)
        lens = self.indptr[idx + 1] - self.indptr[idx]
        indptr = np.zeros(len(idx) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        indices = (np.concatenate([self.row(int(i)) for i in idx]) if len(idx)
                   else np.zeros(0, np.int32))
        return SetData(indptr, indices.astype(np.int32, copy=False))

    @classmethod
    def from_lists(cls, sets: Sequence[Sequence[int]]) -> SetData:
        """Build from Python sequences of ints (deduplicated and sorted per row)."""
        rows = [np.unique(np.asarray(s, dtype=np.int64)) for s in sets]
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(r) for r in rows], out=indptr[1:])
        indices = np.concatenate(rows).astype(np.int32) if rows else np.zeros(0, np.int32)
        return cls(indptr, indices)

    @property
    def nbytes(self) -> int:
        return int(self.indptr.nbytes + self.indices.nbytes)


VectorData = np.ndarray | SetData


def n_items(data: VectorData) -> int:
    """Number of vectors (rows) in dense, binary or set data."""
    return len(data) if isinstance(data, SetData) else int(data.shape[0])


# --------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Param:
    """A named plugin parameter.

    :param name: the name used in suite files and ``--param`` options.
    :param default: value used when a suite does not set it.
    :param type: ``int``, ``float``, ``str`` or ``bool``; values are coerced and checked.
    :param help: one line shown by ``vecbench plugins``.
    :param choices: allowed values, if the set is finite.
    :param low: smallest allowed value (numbers only), inclusive.
    :param high: largest allowed value (numbers only), inclusive.
    """

    name: str
    default: Any
    type: type = float
    help: str = ""
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None

    def coerce(self, value: Any, owner: str = "") -> Any:
        """Convert ``value`` to this parameter's type, or raise a clear error."""
        from harness.errors import InvalidInputError

        where = f"{owner} parameter {self.name!r}" if owner else f"parameter {self.name!r}"
        if value is None and self.default is None:
            return None
        try:
            if self.type is bool:
                if isinstance(value, str):
                    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                        raise ValueError(value)
                    out: Any = value.lower() in ("true", "1", "yes")
                else:
                    out = bool(value)
            elif self.type is int:
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(value)
                if isinstance(value, bool):
                    raise ValueError(value)
                out = int(value)
            else:
                out = self.type(value)
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"{where}: expected {self.type.__name__}, got {value!r}") from None
        if self.choices is not None and out not in self.choices:
            raise InvalidInputError(f"{where}: {out!r} is not one of {list(self.choices)}")
        if self.low is not None and out < self.low:
            raise InvalidInputError(f"{where}: {out!r} is below the minimum {self.low}")
        if self.high is not None and out > self.high:
            raise InvalidInputError(f"{where}: {out!r} is above the maximum {self.high}")
        return out


def resolve_params(params: Sequence[Param], given: Mapping[str, Any], owner: str) -> dict:
    """Fill defaults, coerce types and reject unknown names (with a close-match suggestion)."""
    from harness.errors import UnknownNameError

    table = {p.name: p for p in params}
    for name in given:
        if name not in table:
            raise UnknownNameError(f"parameter of {owner}", name, table)
    return {p.name: p.coerce(given.get(p.name, p.default), owner) for p in params}


# --------------------------------------------------------------------------- indexes


@dataclass(frozen=True)
class IndexCapabilities:
    """What an index can do. The host relies on these claims and the kit checks them.

    :param metrics: metric names the index supports (``"euclidean"``, ``"angular"``, ...).
    :param data_kinds: data kinds it accepts.
    :param exact: results are the exact k-NN for every parameter setting.
    :param filter: ``search`` accepts ``filter=`` (a boolean mask or bitmap of allowed ids).
    :param add: ``add(data)`` appends vectors after ``build``.
    :param delete: ``delete(ids)`` removes ids from future results.
    :param save_load: ``save(path)`` / ``load(path)`` round trip.
    :param threads: the index honours ``set_threads(n)``.
    :param jit: the index compiles kernels on first use; ``warmup`` is timed as JIT seconds.
    """

    metrics: frozenset[str]
    data_kinds: frozenset[DataKind] = frozenset({DataKind.DENSE})
    exact: bool = False
    filter: bool = False
    add: bool = False
    delete: bool = False
    save_load: bool = False
    threads: bool = False
    jit: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", frozenset(self.metrics))
        object.__setattr__(self, "data_kinds", frozenset(DataKind(k) for k in self.data_kinds))

    def as_dict(self) -> dict[str, Any]:
        return {
            "metrics": sorted(self.metrics),
            "data_kinds": sorted(k.value for k in self.data_kinds),
            "exact": self.exact, "filter": self.filter, "add": self.add,
            "delete": self.delete, "save_load": self.save_load,
            "threads": self.threads, "jit": self.jit,
        }


@runtime_checkable
class Index(Protocol):
    """An index instance, as created by ``IndexInfo.factory(metric=..., **build_params)``.

    Required methods are below; optional ones (``add``, ``delete``, ``save``, ``load``,
    ``set_threads``, and ``search(..., filter=...)``) exist exactly when the capability says so.
    Subclass :class:`harness.BaseIndex` for sensible defaults.
    """

    def build(self, data: VectorData) -> None:
        """Index ``data`` (rows are items with ids 0..n-1)."""

    def set_query_params(self, **params: Any) -> None:
        """Set query-time parameters (e.g. ``ef``) before the next ``search``."""

    def search(self, queries: VectorData, k: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Return ``(ids, distances)``: int64 (nq, k) with -1 where fewer than k were found,
        and the index's own distances (or None). The harness recomputes distances itself."""

    def index_bytes(self) -> int:
        """Bytes the index owns: its arrays, vectors included (or its saved file's size)."""

    def warmup(self, sample: VectorData) -> None:
        """Compile or load lazily-built kernels using a small sample (timed as JIT seconds)."""

    def query_stats(self) -> dict[str, float]:
        """Counters accumulated since the last ``set_query_params`` (e.g.
        ``distance_computations``); the harness divides them by the number of queries."""


IndexFactory = Callable[..., Index]


@dataclass(frozen=True)
class IndexInfo:
    """Registration record of an index plugin.

    :param name: unique name used in suites (``"hnswlib"``, ``"bruteforce"``).
    :param factory: ``factory(metric=str, **build_params) -> Index``.
    :param capabilities: what the index can do.
    :param build_params: named build parameters with defaults.
    :param query_params: named query parameters with defaults.
    :param build_grid: default sweep over build parameters (name -> list of values).
    :param query_grid: default sweep over query parameters.
    :param description: one line for ``vecbench plugins``.
    :param library: distribution name of the wrapped library, for version provenance.
    :param requires: importable module names; if one is missing the index is *unavailable*.
    :param install_hint: what to run to make it available.
    :param version: version of the plugin's own code (defaults to its distribution's).
    :param expected_check_failures: conformance checks the index fails on purpose
        (``{check: reason}``, or ``{"check[metric]": reason}``); the kit reports them as
        expected failures (xfail) wherever it runs.
    """

    name: str
    factory: IndexFactory
    capabilities: IndexCapabilities
    build_params: tuple[Param, ...] = ()
    query_params: tuple[Param, ...] = ()
    build_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    query_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    description: str = ""
    library: str | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    version: str | None = None
    expected_check_failures: Mapping[str, str] = field(default_factory=dict)

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


# --------------------------------------------------------------------------- metrics

PairwiseFn = Callable[[Any, Any], np.ndarray]


@dataclass(frozen=True)
class MetricInfo:
    """Registration record of a metric (a distance: smaller is nearer).

    Similarities are turned into distances (inner product -> ``-dot``), so every index and
    measure can sort ascending. Distances are computed in float64.

    :param name: unique name (``"euclidean"``, ``"angular"``, ``"ip"``, ...).
    :param pairwise: ``pairwise(X, Y) -> float64 (len(X), len(Y))``.
    :param rowwise: ``rowwise(X, Y) -> float64 (n,)``: distance of X[i] to Y[i].
    :param gradient: ``gradient(Q, X) -> (n, d)``: d/dq of the distance of Q[i] to X[i]
        (dense metrics only; None otherwise).
    :param data_kind: the kind of data the metric takes.
    :param triangle_inequality: the metric satisfies it (pruning indexes may rely on it).
    :param symmetric: d(x, y) == d(y, x).
    :param signed: distances may be negative (inner product); ``rel`` is undefined then.
    :param aliases: other accepted names.
    :param blas: ``"l2"``, ``"ip"`` or ``"cos"`` when the metric ranks like that BLAS form
        (lets the ground-truth code pre-select candidates with matrix products).
    :param params: named parameters (e.g. ``p`` of minkowski).
    :param bind: ``bind(**params) -> {flag: value}``, called with the coerced parameters when
        the metric is resolved; returns overrides of ``triangle_inequality``, ``symmetric``,
        ``signed`` or ``blas`` (minkowski keeps the triangle inequality only for p >= 1) and
        raises :class:`~harness.errors.InvalidInputError` for values ``Param`` bounds cannot
        express.
    :param domain: the inputs it is defined on: ``"real"`` (any finite vectors) or
        ``"probability"`` (non-negative rows summing to 1, e.g. KL); the conformance kit
        draws its test data from that domain.
    """

    name: str
    pairwise: PairwiseFn
    rowwise: PairwiseFn
    data_kind: DataKind = DataKind.DENSE
    gradient: PairwiseFn | None = None
    triangle_inequality: bool = True
    symmetric: bool = True
    signed: bool = False
    aliases: tuple[str, ...] = ()
    blas: str | None = None
    description: str = ""
    params: tuple[Param, ...] = ()
    bind: Callable[..., Mapping[str, Any]] | None = None
    domain: str = "real"


# --------------------------------------------------------------------------- datasets


@dataclass
class Dataset:
    """Base vectors, queries, exact ground truth and metric of one dataset.

    ``neighbors``/``distances`` are the exact top-G ground truth (G >= k), distances in
    float64 under ``metric``; they are filled by :mod:`harness.groundtruth` when absent.
    """

    name: str
    metric: str
    kind: DataKind
    train: VectorData
    test: VectorData
    neighbors: np.ndarray | None = None
    distances: np.ndarray | None = None
    train_labels: np.ndarray | None = None
    test_labels: np.ndarray | None = None
    checksum: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_train(self) -> int:
        return n_items(self.train)

    @property
    def n_test(self) -> int:
        return n_items(self.test)

    @property
    def dim(self) -> int:
        if isinstance(self.train, SetData):
            return self.train.shape[1]
        width = int(self.train.shape[1])
        return width * 8 if self.kind is DataKind.BINARY else width


@dataclass(frozen=True)
class DatasetInfo:
    """Registration record of a dataset.

    :param name: unique name; for families see ``pattern``.
    :param load: ``load(data_dir: Path) -> Dataset``; raises
        :class:`harness.errors.DatasetUnavailableError` with a how-to when files are absent.
    :param metric: metric name of its ground truth.
    :param kind: data kind.
    :param n_train: number of base vectors (approximate is fine before loading).
    :param n_test: number of queries.
    :param dim: dimension (bits for binary data; vocabulary size for sets, or 0).
    :param available: ``available(data_dir) -> None`` when loadable here, else a reason/hint.
    :param description: one line for ``vecbench datasets``.
    :param source: where the data comes from; ``license``: its licence.
    :param pattern: a regular expression; when set this is a *family* and ``make(name)``
        returns the DatasetInfo for a matching name (e.g. ``gmm-100000x128``).
    :param fetch: ``fetch(data_dir) -> None`` gets the files when possible.
    """

    name: str
    load: Callable[[Any], Dataset] | None
    metric: str
    kind: DataKind = DataKind.DENSE
    n_train: int = 0
    n_test: int = 0
    dim: int = 0
    available: Callable[[Any], str | None] | None = None
    description: str = ""
    source: str = ""
    license: str = ""
    pattern: str | None = None
    make: Callable[[str], DatasetInfo] | None = None
    fetch: Callable[[Any], None] | None = None


# --------------------------------------------------------------------------- measures


@dataclass
class MeasureContext:
    """What a measure sees of one record (one build and query point).

    ``result_distances`` are recomputed by the harness in float64 (inf where no id was
    returned); ``gt_*`` are the exact ground truth (top-G, ascending).
    """

    k: int
    result_ids: np.ndarray
    result_distances: np.ndarray
    gt_ids: np.ndarray
    gt_distances: np.ndarray
    signed: bool
    batch_seconds: np.ndarray
    latencies_seconds: np.ndarray
    n_queries: int
    build_seconds: float = float("nan")
    index_bytes: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureInfo:
    """Registration record of a measure: a figure computed from a record.

    :param name: unique column name in results (``recall``, ``qps``, ``p99_ms``).
    :param compute: ``compute(ctx: MeasureContext) -> float | None``.
    :param description: what it means, precisely.
    :param higher_is_better: direction, for leaderboards and regression gates.
    :param unit: unit shown in tables.
    :param deterministic: independent of the machine (seeded); the CI gate compares these.
    :param tasks: tasks whose records it applies to.
    """

    name: str
    compute: Callable[[MeasureContext], float | None]
    description: str = ""
    higher_is_better: bool = True
    unit: str = ""
    deterministic: bool = False
    tasks: tuple[str, ...] = ("search",)


# --------------------------------------------------------------------------- attacks


@runtime_checkable
class AttackTarget(Protocol):
    """What an attack needs of its victim (an ART-like protocol)."""

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class scores (logits) of ``x``, shape (n, n_classes)."""

    def loss_gradient(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Gradient of the loss at ``x`` for labels ``y`` with respect to ``x``."""

    def class_gradient(self, x: np.ndarray, label: np.ndarray) -> np.ndarray:
        """Gradient of the logit of class ``label[i]`` at ``x[i]`` with respect to ``x``."""


@dataclass(frozen=True)
class AttackInfo:
    """Registration record of an attack plugin.

    :param name: unique name (``"fgsm"``, ``"pgd"``).
    :param factory: ``factory(norm=..., bounds=..., **build_params) -> attack`` with
        ``attack.generate(target, x, y, eps, rng) -> x_adv``; ``norm`` and ``bounds`` come
        from the ``attack`` task's run keys.
    :param build_params: named parameters of the attack (steps, step size, ...).
    :param query_params: named per-point parameters; the ``attack`` task reads the budget
        from ``eps_rel`` (relative to the median 1-NN distance) or ``eps_abs``.
    :param build_grid: default sweep over ``build_params``.
    :param query_grid: default sweep over ``query_params``.
    :param norms: norms it supports (``"linf"``, ``"l2"``).
    :param description: one line.
    """

    name: str
    factory: Callable[..., Any]
    build_params: tuple[Param, ...] = ()
    query_params: tuple[Param, ...] = ()
    build_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    query_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    norms: tuple[str, ...] = ("linf", "l2")
    description: str = ""


# --------------------------------------------------------------------------- clusterers


@dataclass(frozen=True)
class ClustererInfo:
    """Registration record of a clusterer plugin (benchmarked by the ``cluster`` task).

    :param name: unique name (``"spectral"``, ``"kmeans"``).
    :param factory: ``factory(**build_params) -> clusterer`` with
        ``clusterer.fit_predict(X) -> labels``: one int label per row of the dense float
        array ``X`` (``-1`` marks noise).
    :param build_params: named parameters of the clusterer (number of clusters, graph, ...).
    :param query_params: named per-point parameters (usually none).
    :param build_grid: default sweep over ``build_params``.
    :param query_grid: default sweep over ``query_params``.
    :param description: one line for ``vecbench plugins``.
    :param library: distribution name of the wrapped library, for version provenance.
    :param requires: importable module names; if one is missing the clusterer is
        *unavailable*.
    :param install_hint: what to run to make it available.
    :param version: version of the plugin's own code (defaults to its distribution's).
    """

    name: str
    factory: Callable[..., Any]
    build_params: tuple[Param, ...] = ()
    query_params: tuple[Param, ...] = ()
    build_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    query_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    description: str = ""
    library: str | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    version: str | None = None

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


# --------------------------------------------------------------------------- bitmaps


@dataclass(frozen=True)
class BitmapInfo:
    """Registration record of a bitmap implementation (benchmarked by the ``bitmap-ops`` task).

    :param name: unique name (``"bitmap"``, ``"pyroaring"``).
    :param factory: ``factory(n_bits, ids=None, **build_params) -> bitmap``: a set of ids in
        ``[0, n_bits)`` holding ``ids``, with set / test / clear (single and batch), ``&``,
        ``|``, ``^``, ``-`` and their in-place forms, ``len``, ``rank``, iteration,
        cardinality-only operations and ``serialize`` / ``deserialize`` (the protocol is in
        ``docs/bitmaps.md``).
    :param description: one line for ``vecbench plugins``.
    :param library: distribution name of the wrapped library, for version provenance.
    :param requires: importable module names; if one is missing the bitmap is *unavailable*.
    :param install_hint: what to run to make it available.
    :param build_params: named parameters of the implementation (representation, ...).
    :param query_params: named per-point parameters (the ``bitmap-ops`` task sweeps
        ``n_bits`` and ``density``).
    :param build_grid: default sweep over ``build_params``.
    :param query_grid: default sweep over ``query_params``.
    :param version: version of the plugin's own code (defaults to its distribution's).
    """

    name: str
    factory: Callable[..., Any]
    description: str
    library: str | None = None
    requires: tuple[str, ...] = ()
    install_hint: str = ""
    build_params: tuple[Param, ...] = ()
    query_params: tuple[Param, ...] = ()
    build_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    query_grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    version: str | None = None

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class TaskInfo:
    """Registration record of a task: what is benchmarked (``search``, ``attack``, ...).

    A suite's ``[[run]]`` names the task, a dataset and the plugin under test (by the key
    ``plugin_key``, e.g. ``index = "hnswlib"``, ``attack = "pgd"``); the plugin's
    ``build_params``/``query_params``/``build_grid``/``query_grid`` define the sweep as for
    indexes. One build configuration runs in one isolated process, which calls ``worker``.

    :param name: unique task name.
    :param worker: ``worker(job: harness.runner.GroupJob) -> Iterator[(kind, payload)]``,
        run inside the isolated process. It yields ``("built", dict)`` once the plugin is
        built (build timings, memory), then per spec ``i`` of ``job.specs`` either
        ``("point", {"i": i, "measures": {...}, "arrays": {...}, "timing": {...},
        "warnings": [...]})`` or ``("point_error", {"i": i, "status": "failed" or
        "invalid-result", "error": text})``. For the ``search`` task the host computes the
        measures from the arrays; other tasks put their own figures in ``measures``.
    :param plugin_kind: registry kind of the plugin under test (``index``, ``attack``, ...).
    :param plugin_key: the ``[[run]]`` key naming it (defaults to ``plugin_kind``).
    :param run_keys: further ``[[run]]`` keys the task accepts (name -> description); their
        values are kept in ``Spec.extra`` and are part of the spec's identity.
    :param description: one line for ``vecbench suites``.
    :param plot: ``plot(df, out_dir) -> list[Path]``: the task's figures from the tidy
        results frame (only its own records); ``vecbench plot`` and ``vecbench run`` call it.
    :param summary_measures: measures shown in the progress line of ``vecbench run``.
    """

    name: str
    worker: Callable[[Any], Any]
    plugin_kind: str = "index"
    plugin_key: str | None = None
    run_keys: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    plot: Callable[[Any, Any], list[Any]] | None = None
    summary_measures: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return self.plugin_key or self.plugin_kind


# --------------------------------------------------------------------------- executors


@dataclass(frozen=True)
class ExecutorInfo:
    """Registration record of an executor: where build groups run.

    :param name: unique name used by ``vecbench run --executor NAME``.
    :param factory: ``factory(jobs=int, scheduler=str | None) -> executor`` with
        ``executor.run(jobs: Sequence[GroupJob]) -> Iterator[(job position, PointOutcome)]``
        (see :mod:`harness.executors`). Each build group must still run isolated in its own
        process, and outcomes must come back to the driver, which writes the records.
    :param description: one line for ``vecbench plugins``.
    :param requires: importable modules needed; missing ones make it unavailable.
    :param install_hint: what to run to make it available.
    """

    name: str
    factory: Callable[..., Any]
    description: str = ""
    requires: tuple[str, ...] = ()
    install_hint: str = ""

    def missing_requirements(self) -> list[str]:
        """Modules in ``requires`` that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]
