"""Suite files -> specs.

A suite is a TOML file (data only; nothing in it is evaluated)::

    name = "quick"                      # optional; defaults to the file name
    description = "what it shows"
    [defaults]                          # optional; every [[run]] inherits these
    k = 10
    seeds = [0]
    [[run]]
    task = "search"                     # default "search"
    dataset = ["gmm-10000x32"]          # a name or a list of names
    index = "hnswlib"                   # the plugin under test: a name or a list of names
                                        # (its key depends on the task: index, attack, ...)
    build = { M = [8, 16] }             # values or lists (grid); omitted -> the plugin's grid
    query = { ef = [10, 20, 40] }       # same, for query parameters

Keys of ``[defaults]`` and ``[[run]]``: see :data:`RUN_KEYS`. A build configuration (dataset,
index, build parameters, seed) runs in one isolated process which sweeps its query points;
each (build configuration, query point) is one :class:`Spec` and one record.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import SuiteError, UnknownNameError, VecbenchError
from harness.registry import Registry
from harness.types import resolve_params

TOP_KEYS = {"name", "description", "defaults", "run"}
#: key -> (type check, description); shared by [defaults] and [[run]]
RUN_KEYS: dict[str, tuple[tuple[type, ...], str]] = {
    "task": ((str,), "task name (default 'search')"),
    "dataset": ((str, list), "dataset name(s)"),
    "build": ((dict,), "build parameters: value or list of values each"),
    "query": ((dict,), "query parameters: value or list of values each"),
    "k": ((int,), "number of neighbours (default 10)"),
    "seeds": ((list, int), "build seeds (default [0])"),
    "metric": ((str,), "override the dataset's metric (e.g. 'angular')"),
    "timeout": ((int, float), "seconds allowed per build configuration (default 1800)"),
    "repetitions": ((int,), "timed batch repetitions per query point (default 3)"),
    "latency_queries": ((int,), "queries timed one by one; 0 = none, -1 = all (default -1)"),
    "latency_repetitions": ((int,), "passes of the single-query loop (default 1)"),
    "memory_limit_mb": ((int, float), "peak RSS allowed per build process (default 16384)"),
    "plugin_budget": ((int, float), "seconds one plugin may spend on one dataset over all its "
                      "build configurations; configurations not yet started when it is spent "
                      "are recorded with status 'cut' (default 0: no budget)"),
    "threads": ((int,), "threads for BLAS/OpenMP/numba and the library (default 1)"),
    "label": ((str,), "free text shown in listings"),
}
RUN_DEFAULTS: dict[str, Any] = {
    "task": "search", "k": 10, "seeds": [0], "metric": None, "timeout": 1800.0,
    "repetitions": 3, "latency_queries": -1, "latency_repetitions": 1,
    "memory_limit_mb": 16384, "threads": 1, "label": "", "plugin_budget": 0,
}


@dataclass(frozen=True)
class RunSettings:
    """How a spec is measured; not part of its identity (changing them does not re-run)."""

    timeout: float = 1800.0
    repetitions: int = 3
    latency_queries: int = -1
    latency_repetitions: int = 1
    memory_limit_mb: float = 16384
    #: seconds per (plugin, dataset) over all build configurations; 0: no budget
    plugin_budget: float = 0.0


@dataclass(frozen=True)
class Spec:
    """One point of a sweep: a build configuration plus one query point."""

    task: str
    dataset: str
    index: str
    build: dict[str, Any]
    query: dict[str, Any]
    k: int
    seed: int
    metric: str | None = None
    threads: int = 1
    suite: str = ""
    label: str = ""
    settings: RunSettings = field(default_factory=RunSettings)
    extra: dict[str, Any] = field(default_factory=dict)

    def identity(self) -> dict[str, Any]:
        """The fields that define what is measured (hashed into the spec id).

        ``index`` names the plugin under test, whatever its kind (for the ``attack`` task
        an attack, for ``cluster`` a clusterer); ``extra`` holds task-specific run keys.
        """
        ident = {"task": self.task, "dataset": self.dataset, "index": self.index,
                 "build": self.build, "query": self.query, "k": self.k, "seed": self.seed,
                 "metric": self.metric, "threads": self.threads}
        if self.extra:
            ident["extra"] = self.extra
        return ident

    def build_identity(self) -> dict[str, Any]:
        ident = self.identity()
        ident.pop("query")
        return ident

    def spec_id(self, dataset_checksum: str = "", plugin_version: str = "") -> str:
        """Hash of the spec, the dataset checksum and the plugin version."""
        return _digest({**self.identity(), "dataset_checksum": dataset_checksum,
                        "plugin_version": plugin_version})

    def build_id(self, dataset_checksum: str = "", plugin_version: str = "") -> str:
        return _digest({**self.build_identity(), "dataset_checksum": dataset_checksum,
                        "plugin_version": plugin_version})

    def describe(self) -> str:
        """A one-line label, also the text that ``-k`` expressions match against."""
        b = ",".join(f"{k}={v}" for k, v in sorted(self.build.items()))
        q = ",".join(f"{k}={v}" for k, v in sorted(self.query.items()))
        metric = f" metric={self.metric}" if self.metric else ""
        extra = "".join(f" {k}={v}" for k, v in sorted(self.extra.items()))
        return (f"{self.task} {self.dataset} {self.index} [{b}] [{q}] k={self.k} "
                f"seed={self.seed}{metric}{extra}")

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["settings"] = asdict(self.settings)
        return out


@dataclass
class BuildGroup:
    """Specs sharing one build configuration: they run in one process."""

    specs: list[Spec]

    @property
    def first(self) -> Spec:
        return self.specs[0]


def _digest(obj: Any) -> str:
    text = json.dumps(obj, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def builtin_suites() -> dict[str, Path]:
    """name -> path of the suites shipped with vecbench."""
    folder = resources.files("harness") / "suites"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith(".toml"):
            out[entry.name[:-5]] = Path(str(entry))
    return dict(sorted(out.items()))


@dataclass
class Suite:
    """A parsed and validated suite file."""

    name: str
    description: str
    runs: list[dict[str, Any]]
    path: Path | None = None


def load_suite(name_or_path: str | Path, registry: Registry | None = None) -> Suite:
    """Read a built-in suite by name, or a suite file by path, and validate its shape."""
    path = Path(name_or_path)
    builtins = builtin_suites()
    if not path.suffix and str(name_or_path) in builtins:
        path = builtins[str(name_or_path)]
    elif not path.is_file():
        if not path.suffix:
            raise UnknownNameError("suite", str(name_or_path), builtins,
                                   hint="or give the path of a .toml suite file")
        raise SuiteError(f"suite file not found: {path}")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SuiteError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise SuiteError(f"{path}: not a text file") from None
    return parse_suite(data, default_name=path.stem, source=str(path), path=path,
                       registry=registry)


def _tasks(registry: Registry | None) -> Any:
    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    return registry.tasks


def parse_suite(data: Mapping[str, Any], default_name: str = "suite", source: str = "suite",
                path: Path | None = None, registry: Registry | None = None) -> Suite:
    """Validate a suite mapping (as read from TOML) and merge defaults into each run.

    Task-specific keys (the plugin key of each task, and its ``run_keys``) are accepted in
    ``[defaults]`` and in the runs of that task.
    """
    tasks = _tasks(registry)
    for key in data:
        if key not in TOP_KEYS:
            raise SuiteError(f"{source}: unknown top-level key {key!r}" + _did_you_mean(
                key, TOP_KEYS))
    name = data.get("name", default_name)
    if not isinstance(name, str) or not name:
        raise SuiteError(f"{source}: 'name' must be a non-empty string")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise SuiteError(f"{source}: 'description' must be a string")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SuiteError(f"{source}: [defaults] must be a table")
    task_keys = {k for _, e in tasks for k in (e.info.key, *e.info.run_keys)}
    _check_run_keys(defaults, f"{source} [defaults]", task_keys)
    runs = data.get("run")
    if not isinstance(runs, list) or not runs:
        raise SuiteError(f"{source}: needs at least one [[run]] table")
    merged = []
    for i, run in enumerate(runs, 1):
        where = f"{source} [[run]] #{i}"
        if not isinstance(run, dict):
            raise SuiteError(f"{where}: must be a table")
        full = {**RUN_DEFAULTS, **defaults, **run}
        if not isinstance(full["task"], str) or full["task"] not in tasks:
            raise SuiteError(f"{where}: unknown task {full['task']!r}"
                             + _did_you_mean(str(full["task"]), tasks.names()))
        task = tasks.get(full["task"])
        own = {task.key, *task.run_keys}
        _check_run_keys(run, where, own)
        stray = [k for k in full if k in task_keys and k not in own and k in run]
        if stray:
            raise SuiteError(f"{where}: key {stray[0]!r} does not apply to task {task.name!r}")
        for required in ("dataset", task.key):
            if required not in full:
                raise SuiteError(f"{where}: missing {required!r}")
        full["_plugins"] = full[task.key]
        full["_extra"] = {k: full[k] for k in task.run_keys if k in full}
        for key in ("dataset", "_plugins"):
            values = _as_list(full[key])
            if not values or not all(isinstance(v, str) and v for v in values):
                name = task.key if key == "_plugins" else key
                raise SuiteError(f"{where}: {name!r} must be a name or a list of names")
            full[key] = values
        seeds = _as_list(full["seeds"])
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise SuiteError(f"{where}: 'seeds' must be an integer or a list of integers")
        full["seeds"] = seeds
        if full["k"] < 1:
            raise SuiteError(f"{where}: 'k' must be >= 1, got {full['k']}")
        if full["plugin_budget"] < 0:
            raise SuiteError(f"{where}: 'plugin_budget' must be >= 0 seconds (0: no budget), "
                             f"got {full['plugin_budget']}")
        for key in ("build", "query"):
            params = full.get(key)
            if params is not None:
                for pname, value in params.items():
                    if isinstance(value, dict):
                        raise SuiteError(f"{where}: {key}.{pname} must be a value or a list")
        full["_where"] = where
        merged.append(full)
    return Suite(name=name, description=description, runs=merged, path=path)


def _check_run_keys(table: Mapping[str, Any], where: str, also: set[str]) -> None:
    for key, value in table.items():
        if key in also and key not in RUN_KEYS:
            continue
        if key not in RUN_KEYS:
            raise SuiteError(f"{where}: unknown key {key!r}"
                             + _did_you_mean(key, [*RUN_KEYS, *also]))
        types, what = RUN_KEYS[key]
        if isinstance(value, bool) or not isinstance(value, types):
            raise SuiteError(f"{where}: {key!r} should be {what}; got {value!r}")


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=2, cutoff=0.5)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


# --------------------------------------------------------------------------- expansion


def grid(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Cartesian product of a parameter mapping whose values are values or lists."""
    if not params:
        return [{}]
    names = sorted(params)
    axes = [_as_list(params[n]) for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)]


def expand(suite: Suite, registry: Registry) -> list[BuildGroup]:
    """Every build group of ``suite``, with parameters resolved against the plugins.

    Unknown datasets, indexes and parameter names are errors with close-match suggestions.
    """
    groups: dict[str, BuildGroup] = {}
    for run in suite.runs:
        where = run["_where"]
        task = registry.tasks.get(run["task"])
        table = registry.table(task.plugin_kind)
        for dataset in run["dataset"]:
            _check_dataset_name(registry, dataset, where)
            for index in run["_plugins"]:
                try:
                    info = table.get(index)
                except UnknownNameError as exc:
                    raise SuiteError(f"{where}: {exc}") from None
                build_params = tuple(getattr(info, "build_params", ()))
                query_params = tuple(getattr(info, "query_params", ()))
                build_axes = run.get("build")
                if build_axes is None:
                    build_axes = dict(getattr(info, "build_grid", {}))
                query_axes = run.get("query")
                if query_axes is None:
                    query_axes = dict(getattr(info, "query_grid", {}))
                kind = task.plugin_kind
                has_seed = any(p.name == "seed" for p in build_params)
                for raw_build in grid(build_axes):
                    for seed in run["seeds"]:
                        given = dict(raw_build)
                        if has_seed and "seed" not in given:
                            given["seed"] = seed
                        try:
                            build = resolve_params(build_params, given,
                                                   f"{kind} {info.name!r} (build)")
                        except VecbenchError as exc:
                            raise SuiteError(f"{where}: {exc}") from None
                        specs = []
                        for raw_query in grid(query_axes):
                            try:
                                query = resolve_params(query_params, raw_query,
                                                       f"{kind} {info.name!r} (query)")
                            except VecbenchError as exc:
                                raise SuiteError(f"{where}: {exc}") from None
                            specs.append(Spec(
                                task=run["task"], dataset=dataset, index=info.name,
                                build=build, query=query, k=int(run["k"]), seed=int(seed),
                                metric=run.get("metric"), threads=int(run["threads"]),
                                suite=suite.name, label=run.get("label", ""),
                                extra=dict(run["_extra"]),
                                settings=RunSettings(
                                    timeout=float(run["timeout"]),
                                    repetitions=int(run["repetitions"]),
                                    latency_queries=int(run["latency_queries"]),
                                    latency_repetitions=int(run["latency_repetitions"]),
                                    memory_limit_mb=float(run["memory_limit_mb"]),
                                    plugin_budget=float(run["plugin_budget"]))))
                        key = specs[0].build_id()
                        if key in groups:
                            known = {s.spec_id() for s in groups[key].specs}
                            groups[key].specs.extend(
                                s for s in specs if s.spec_id() not in known)
                        else:
                            groups[key] = BuildGroup(specs)
    return list(groups.values())


def _check_dataset_name(registry: Registry, name: str, where: str) -> None:
    if name in registry.datasets or registry.datasets.find_family(name) is not None:
        return
    if name.endswith((".hdf5", ".h5")):
        return
    patterns = [getattr(e.info, "name", rx.pattern) for rx, e in registry.datasets.families]
    hint = f"families: {', '.join(patterns)}" if patterns else ""
    try:
        registry.datasets.get(name)
    except UnknownNameError as exc:
        msg = str(exc) + (f"; {hint}" if hint else "")
        raise SuiteError(f"{where}: {msg}") from None


# --------------------------------------------------------------------------- selection


def select(specs: Sequence[Spec], expr: str | None) -> list[Spec]:
    """Keep specs whose :meth:`Spec.describe` text matches a ``-k`` expression.

    The expression language is pytest's: words (substring match, case-insensitive) combined
    with ``and``, ``or``, ``not`` and parentheses. Nothing is evaluated as Python.
    """
    if not expr:
        return list(specs)
    matcher = _KeywordExpr(expr)
    return [s for s in specs if matcher.matches(s.describe())]


class _KeywordExpr:
    _TOKEN = re.compile(r"\s*(\(|\)|[^\s()]+)")

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = [t for t in self._TOKEN.findall(text) if t]
        if not self.tokens:
            raise SuiteError("-k: empty expression")
        self.pos = 0
        self.tree = self._or()
        if self.pos != len(self.tokens):
            raise SuiteError(f"-k: unexpected {self.tokens[self.pos]!r} in {text!r}")

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _take(self) -> str:
        tok = self._peek()
        if tok is None:
            raise SuiteError(f"-k: expression ends too early: {self.text!r}")
        self.pos += 1
        return tok

    def _or(self) -> Any:
        node = self._and()
        while self._peek() == "or":
            self._take()
            node = ("or", node, self._and())
        return node

    def _and(self) -> Any:
        node = self._not()
        while self._peek() == "and":
            self._take()
            node = ("and", node, self._not())
        return node

    def _not(self) -> Any:
        if self._peek() == "not":
            self._take()
            return ("not", self._not())
        tok = self._take()
        if tok == "(":
            node = self._or()
            if self._take() != ")":
                raise SuiteError(f"-k: missing ')' in {self.text!r}")
            return node
        if tok in (")", "and", "or"):
            raise SuiteError(f"-k: unexpected {tok!r} in {self.text!r}")
        return ("word", tok.lower())

    def matches(self, text: str) -> bool:
        return self._eval(self.tree, text.lower())

    def _eval(self, node: Any, text: str) -> bool:
        op = node[0]
        if op == "word":
            return node[1] in text
        if op == "not":
            return not self._eval(node[1], text)
        if op == "and":
            return self._eval(node[1], text) and self._eval(node[2], text)
        return self._eval(node[1], text) or self._eval(node[2], text)
