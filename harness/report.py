"""Tables, Pareto frontiers, the leaderboard and recall-QPS plots, from the results DataFrame.

Every function takes the tidy frame of :func:`harness.results.load_results` (one row per
record) or a frame derived from it, and returns a new frame, text or files; inputs are never
modified. pandas and matplotlib are imported inside the functions so that importing this
module (and starting the ``vecbench`` command) stays fast. The rules implemented here (tie
rule of the frontier, seed aggregation, leaderboard choice and interpolation) are written
out in ``docs/measures.md``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.errors import InvalidInputError, UnknownNameError, VecbenchError

if TYPE_CHECKING:
    import pandas as pd

#: columns that identify a point of a sweep (besides its build and query parameters), in the
#: order used for grouping and sorting; those absent from a frame are ignored
POINT_KEYS = ("task", "dataset", "metric", "k", "threads", "index")
#: columns of a record that are not measures
META_COLUMNS = frozenset({
    "spec_id", "build_id", "suite", "task", "dataset", "metric", "index", "k", "threads",
    "seed", "status", "error", "build", "query", "dataset_checksum", "dataset_metric",
    "plugin_version",
    "library_version", "finished_at", "label", "n_seeds", "n_records",
})
#: tasks the leaderboard ranks by default
LEADERBOARD_TASKS = ("search", "filtered-search")
#: slack of the ``recall >= r`` test: recalls are means of fractions, so a value meant to
#: be exactly r can come out one ulp below it; distinct recalls of any realistic run
#: (denominator n_queries * k < 1e11) differ by far more than this
RECALL_SLACK = 1e-12
SUMMARY_MEASURES = ("recall", "qps", "p50_ms", "p99_ms", "build_seconds", "index_bytes")
FORMATS = ("table", "csv", "json", "markdown")
#: leaderboard thresholds of the report and the Markdown summary
THRESHOLDS = (0.9, 0.95, 0.99)


# --------------------------------------------------------------------------- helpers


def _pandas():
    import pandas

    return pandas


def _require_frame(df: Any, name: str = "df") -> None:
    pd = _pandas()
    if not isinstance(df, pd.DataFrame):
        raise InvalidInputError(f"{name}: expected a pandas DataFrame (e.g. from "
                                f"harness.results.load_results()), got {type(df).__name__}")


def _require_columns(df: pd.DataFrame, columns: Iterable[str], what: str = "column") -> None:
    for col in columns:
        if col not in df.columns:
            raise UnknownNameError(what, col, [str(c) for c in df.columns],
                                   "not in the results frame")


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, (str, int, Mapping, list, tuple)):
        return False
    if isinstance(value, np.floating):
        return bool(np.isnan(value))
    pd = _pandas()
    return value is pd.NA or value is pd.NaT


def _py(value: Any) -> Any:
    """numpy scalars -> Python; missing -> None; integral floats stay floats."""
    if _is_missing(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _key_value(value: Any) -> Any:
    """A hashable, normalised grouping value (NaN -> None, 10.0 -> 10)."""
    value = _py(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_number(value: Any) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating))
            and not isinstance(value, (bool, np.bool_)))


def _natural(value: Any) -> tuple:
    """Sort key that orders None, numbers and text without comparing across types."""
    if _is_missing(value):
        return (2, 0, "")
    if _is_number(value):
        return (0, float(value), "")
    if isinstance(value, Mapping):
        return (1, 0, "", *((str(k), *_natural(v)) for k, v in sorted(value.items())))
    return (1, 0, str(value))


def _dumps(params: Mapping[str, Any]) -> str:
    return json.dumps({str(k): _py(v) for k, v in params.items()}, sort_keys=True)


def _parse_params(value: Any, column: str, row: int) -> dict[str, Any]:
    if _is_missing(value):
        return {}
    if isinstance(value, Mapping):
        return {str(k): _py(v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            parsed = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError as exc:
            raise InvalidInputError(
                f"column {column!r}, row {row}: not JSON parameters ({exc.msg}): {value!r}"
            ) from None
        if isinstance(parsed, dict):
            return parsed
    raise InvalidInputError(f"column {column!r}, row {row}: expected a dict of parameters or "
                            f"its JSON text, got {value!r}")


def _param_dicts(df: pd.DataFrame, prefix: str) -> list[dict[str, Any]]:
    """Per row, the parameters under ``prefix`` (``build`` or ``query``).

    From the JSON column when present, else from the ``prefix.NAME`` columns.
    """
    if prefix in df.columns:
        return [_parse_params(v, prefix, i) for i, v in enumerate(df[prefix].tolist())]
    cols = [c for c in df.columns if isinstance(c, str) and c.startswith(prefix + ".")]
    out: list[dict[str, Any]] = [{} for _ in range(len(df))]
    for col in cols:
        name = col[len(prefix) + 1:]
        for i, value in enumerate(df[col].tolist()):
            if not _is_missing(value):
                out[i][name] = _py(value)
    return out


def _without_seed(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k != "seed"}


def _ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows with status ``ok`` (every row when the frame has no ``status`` column)."""
    if "status" not in df.columns:
        return df.reset_index(drop=True)
    return df[df["status"] == "ok"].reset_index(drop=True)


def _measure_columns(df: pd.DataFrame) -> list[str]:
    """Non-meta columns whose values are numbers (or missing)."""
    pd = _pandas()
    out = []
    for col in df.columns:
        if not isinstance(col, str) or col in META_COLUMNS or col.startswith(
                ("build.", "query.")):
            continue
        series = df[col]
        if pd.api.types.is_bool_dtype(series):
            continue
        numeric = pd.api.types.is_numeric_dtype(series) or (
            series.dtype == object and all(_is_number(v) or _is_missing(v) for v in series))
        if numeric:
            out.append(col)
    return out


def _floats(df: pd.DataFrame, col: str) -> np.ndarray:
    """A column as float64 (missing -> NaN); a clear error for non-numeric values."""
    pd = _pandas()
    if col not in df.columns:
        return np.full(len(df), np.nan)
    try:
        return pd.to_numeric(df[col], errors="raise").to_numpy(dtype=np.float64,
                                                               na_value=np.nan)
    except (TypeError, ValueError):
        bad = next(v for v in df[col] if not (_is_number(v) or _is_missing(v)))
        raise InvalidInputError(f"column {col!r} must be numeric; found {bad!r}") from None


def _seed_of(df: pd.DataFrame, builds: Sequence[Mapping[str, Any]]) -> list[tuple]:
    seeds = df["seed"].tolist() if "seed" in df.columns else [None] * len(df)
    return [(_key_value(s), _key_value(b.get("seed"))) for s, b in zip(seeds, builds, strict=True)]


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


# --------------------------------------------------------------------------- frontier


def pareto_frontier(df: pd.DataFrame, x: str = "recall", y: str = "qps", *,
                    x_higher_is_better: bool = True,
                    y_higher_is_better: bool = True) -> pd.DataFrame:
    """Rows of ``df`` on the Pareto frontier of (``x``, ``y``), sorted by ``x`` ascending.

    With both directions "higher is better" (the default: recall and QPS), a row is on the
    frontier iff no other row has ``x' >= x`` and ``y' >= y`` with one inequality strict.
    Hence among rows of equal ``x`` only the largest ``y`` can stay, and among rows of equal
    ``y`` only the largest ``x``. Exact duplicates keep the first of them in ``df``'s order.
    Rows where ``x`` or ``y`` is NaN are dropped; zeros are kept (ann-benchmarks drops them).
    The result keeps ``df``'s columns and index labels.
    """
    _require_frame(df)
    _require_columns(df, (x, y))
    vx, vy = _floats(df, x), _floats(df, y)
    pos = np.flatnonzero(~(np.isnan(vx) | np.isnan(vy)))
    sx = vx[pos] if x_higher_is_better else -vx[pos]
    sy = vy[pos] if y_higher_is_better else -vy[pos]
    # best x first, then best y, then input order: the first row of a group of equal x is its
    # best, and a row stays iff its y beats every row with a better-or-equal x seen before
    order = np.lexsort((pos, -sy, -sx))
    kept: list[int] = []
    best = -math.inf
    for i in order:
        if sy[i] > best:
            kept.append(int(pos[i]))
            best = sy[i]
    kept.sort(key=lambda p: vx[p])
    return df.iloc[kept]


def interpolate_qps(frontier_x: Sequence[float] | np.ndarray,
                    frontier_y: Sequence[float] | np.ndarray, at: float) -> float:
    """``y`` of a Pareto frontier at exactly ``x == at``.

    The frontier is given by its points sorted by ``x`` ascending (so ``y`` descending).
    Between the two points that bracket ``at``, ``y`` is interpolated linearly in ``x`` and
    geometrically in ``y`` (a straight line on a log-``y`` plot); linearly when one of the
    two ``y`` is not positive. A point within :data:`RECALL_SLACK` of ``at`` gives its own
    ``y``; when every point lies above ``at`` the lowest one's ``y`` is returned (the frontier
    extends flat to the left); NaN when no point reaches ``at``.
    """
    xs = np.asarray(frontier_x, dtype=np.float64)
    ys = np.asarray(frontier_y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise InvalidInputError("frontier_x and frontier_y must be 1-D and of equal length")
    if xs.size == 0 or xs[-1] < at - RECALL_SLACK:
        return math.nan
    hit = np.flatnonzero(np.abs(xs - at) <= RECALL_SLACK)
    if hit.size:
        return float(ys[hit].max())
    if xs[0] > at:
        return float(ys[0])
    j = int(np.searchsorted(xs, at))  # xs[j - 1] < at < xs[j]
    x0, x1, y0, y1 = xs[j - 1], xs[j], ys[j - 1], ys[j]
    t = (at - x0) / (x1 - x0)
    if y0 > 0 and y1 > 0:
        return float(math.exp(math.log(y0) + t * (math.log(y1) - math.log(y0))))
    return float(y0 + t * (y1 - y0))


# --------------------------------------------------------------------------- aggregation


def aggregate_seeds(df: pd.DataFrame, *,
                    spread: Sequence[str] = ("recall", "qps")) -> pd.DataFrame:
    """Records that differ only by their seed, reduced to the median of every measure.

    Only rows with status ``ok`` are used. Rows are grouped by the columns of
    :data:`POINT_KEYS` present in ``df`` (task, dataset, metric, k, threads, index), the build
    parameters without ``seed`` and the query parameters. The seed may be the ``seed`` column,
    a build parameter named ``seed``, or both. Each group gives one row: its key columns,
    ``build`` and ``query`` as canonical JSON text (``seed`` removed) with one
    ``build.NAME`` / ``query.NAME`` column per parameter, ``n_seeds`` (distinct seeds),
    ``n_records`` (rows), the median of every numeric measure (NaN values ignored; NaN when
    all are), and ``NAME_min`` / ``NAME_max`` over the group for each measure in ``spread``.
    Rows are sorted by their key, build and query parameters.
    """
    pd = _pandas()
    _require_frame(df)
    _require_columns(df, ("dataset", "index"))
    spread = [spread] if isinstance(spread, str) else _unique(spread)
    ok = _ok_rows(df)
    keys = [c for c in POINT_KEYS if c in df.columns]
    measures = _measure_columns(ok)
    builds = [_without_seed(b) for b in _param_dicts(ok, "build")]
    queries = _param_dicts(ok, "query")
    seeds = _seed_of(ok, _param_dicts(ok, "build"))
    values = {m: _floats(ok, m) for m in _unique([*measures, *spread])}
    key_values = {c: [_key_value(v) for v in ok[c].tolist()] for c in keys}

    groups: dict[tuple, list[int]] = {}
    for pos in range(len(ok)):
        key = (*(key_values[c][pos] for c in keys), _dumps(builds[pos]), _dumps(queries[pos]))
        groups.setdefault(key, []).append(pos)

    # medians, minima and maxima per group in one vectorised pass (NaN skipped, as documented)
    group_of = np.empty(len(ok), dtype=np.int64)
    for g, members in enumerate(groups.values()):
        group_of[members] = g
    table = pd.DataFrame({m: values[m] for m in values}, index=group_of)
    grouped = table.groupby(level=0, sort=True)
    medians = grouped.median()[measures].to_numpy() if measures else None
    lows = grouped[list(spread)].min().to_numpy() if spread else None
    highs = grouped[list(spread)].max().to_numpy() if spread else None

    rows = []
    for g, (key, members) in enumerate(groups.items()):
        first = members[0]
        row: dict[str, Any] = dict(zip(keys, key[:len(keys)], strict=True))
        row["build"], row["query"] = key[-2], key[-1]
        row.update({f"build.{n}": v for n, v in builds[first].items()})
        row.update({f"query.{n}": v for n, v in queries[first].items()})
        row["n_seeds"] = len({seeds[m] for m in members})
        row["n_records"] = len(members)
        if medians is not None:
            row.update({m: float(v) for m, v in zip(measures, medians[g], strict=True)})
        if lows is not None and highs is not None:
            for j, m in enumerate(spread):
                row[f"{m}_min"] = float(lows[g, j])
                row[f"{m}_max"] = float(highs[g, j])
        rows.append(row)

    lead = [*keys, "build", "query"]
    tail = ["n_seeds", "n_records", *measures,
            *(f"{m}_{s}" for m in spread for s in ("min", "max"))]
    if not rows:
        return pd.DataFrame(columns=_unique([*lead, *tail]))
    rows.sort(key=lambda r: (*(_natural(r[c]) for c in keys),
                             _natural(json.loads(r["build"])), _natural(json.loads(r["query"]))))
    out = pd.DataFrame(rows)
    params = sorted(c for c in out.columns if c.startswith(("build.", "query.")))
    return out[_unique([*lead, *params, *tail])]


# --------------------------------------------------------------------------- leaderboard


def _check_threshold(recall: Any) -> float:
    if not _is_number(recall) or not math.isfinite(float(recall)):
        raise InvalidInputError(f"recall threshold must be a number in [0, 1], got {recall!r}")
    r = float(recall)
    if not 0.0 <= r <= 1.0:
        raise InvalidInputError(f"recall threshold must be in [0, 1], got {r}"
                                + ("; give a fraction, e.g. 0.9 for 90%" if r > 1 else ""))
    return r


def _status_note(statuses: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for s in statuses:
        label = "unknown" if _is_missing(s) else str(s)
        counts[label] = counts.get(label, 0) + 1
    return "no successful record (" + ", ".join(
        f"{k}: {v}" for k, v in sorted(counts.items())) + ")"


def leaderboard(df: pd.DataFrame, recall: float = 0.9, recall_col: str = "recall", *,
                tasks: Sequence[str] | None = LEADERBOARD_TASKS) -> pd.DataFrame:
    """Per (dataset, index): the fastest point whose recall reaches ``recall``.

    Records are first aggregated over seeds (:func:`aggregate_seeds`, medians), so the
    luckiest seed never stands for an index. Among an index's aggregated points with
    ``recall_col >= recall`` (within :data:`RECALL_SLACK`) the one of maximum ``qps`` is
    chosen (ties: higher recall, then the first in parameter order). An index that never
    reaches the threshold is listed with NaN ``qps`` and the point of its best recall; an
    index with no successful record is listed with NaN recall and a note of its statuses.

    ``qps_interpolated`` is the QPS of the index's Pareto frontier (over its aggregated
    points) at exactly ``recall``: see :func:`interpolate_qps`.

    Groups are the :data:`POINT_KEYS` columns present (task, dataset, metric, k, threads,
    index); with one task, metric, k and thread count that is one row per (dataset, index).
    Only rows whose ``task`` is in ``tasks`` count (all rows when ``tasks`` is None or there
    is no ``task`` column). Rows are sorted by their group columns, then ``qps`` descending
    (unreached last, by best recall descending), then index name.

    Columns: the group columns, ``recall_col`` (and ``recall`` when ``recall_col`` differs),
    ``qps``, ``qps_interpolated``, ``build_seconds``, ``index_bytes``, ``n_seeds``,
    ``<recall_col>_min``, ``<recall_col>_max``, ``qps_min``, ``qps_max`` (spread over seeds),
    ``build`` and ``query`` (dicts, without ``seed``), ``reached`` and ``note``.
    ``attrs["recall"]`` and ``attrs["recall_col"]`` record the threshold.
    """
    pd = _pandas()
    _require_frame(df)
    r = _check_threshold(recall)
    if not isinstance(recall_col, str):
        raise InvalidInputError(f"recall_col must be a column name, got {recall_col!r}")
    _require_columns(df, ("dataset", "index"))
    frame = df
    if tasks is not None and "task" in df.columns:
        frame = df[df["task"].isin(list(tasks)) | df["task"].isna()]
    if len(_ok_rows(frame)):
        for col in (recall_col, "qps"):
            if col not in frame.columns:
                raise UnknownNameError("measure", col, _measure_columns(frame),
                                       "not in the results frame")
    spread_cols = _unique(["recall", recall_col, "qps"])
    agg = aggregate_seeds(frame, spread=spread_cols)
    keys = [c for c in POINT_KEYS if c in frame.columns]

    points: dict[tuple, list[int]] = {}
    for pos, key in enumerate(zip(*(agg[c].tolist() for c in keys), strict=True)):
        points.setdefault(tuple(_key_value(v) for v in key), []).append(pos)
    statuses: dict[tuple, list[Any]] = {}
    status_list = (frame["status"].tolist() if "status" in frame.columns
                   else ["ok"] * len(frame))
    for key, status in zip(zip(*(frame[c].tolist() for c in keys), strict=True), status_list,
                           strict=True):
        statuses.setdefault(tuple(_key_value(v) for v in key), []).append(status)

    rec = _floats(agg, recall_col)
    qps = _floats(agg, "qps")
    shown = _unique([recall_col, "recall", "qps", "build_seconds", "index_bytes",
                     f"{recall_col}_min", f"{recall_col}_max", "qps_min", "qps_max"])
    table = {n: _floats(agg, n) for n in shown}
    table["n_seeds"] = agg["n_seeds"].tolist()
    table["build"], table["query"] = agg["build"].tolist(), agg["query"].tolist()
    rows = []
    for key, status in statuses.items():
        members = points.get(key, [])
        row: dict[str, Any] = dict(zip(keys, key, strict=True))
        measured = [m for m in members if not np.isnan(rec[m])]
        eligible = [m for m in measured if rec[m] >= r - RECALL_SLACK and not np.isnan(qps[m])]
        # members are in parameter order, so the first of equal (qps, recall) wins
        if eligible:
            pick = min(eligible, key=lambda m: (-qps[m], -rec[m]))
            note = ""
        elif measured:
            pick = min(measured, key=lambda m: (-rec[m], -np.nan_to_num(qps[m], nan=-1.0)))
            note = f"best {recall_col} {rec[pick]:.4f} < {r:g}"
        else:
            pick = None
            note = (f"no {recall_col} measured" if members else _status_note(status))
        row.update(_leaderboard_point(table, shown, pick, reached=bool(eligible)))
        frontier = pareto_frontier(agg.iloc[measured], recall_col, "qps")
        row["qps_interpolated"] = interpolate_qps(_floats(frontier, recall_col),
                                                  _floats(frontier, "qps"), r)
        row["reached"] = bool(eligible)
        row["note"] = note
        rows.append(row)

    recall_cols = _unique([recall_col, "recall"])
    columns = [*keys, *recall_cols, "qps", "qps_interpolated", "build_seconds",
               "index_bytes", "n_seeds", f"{recall_col}_min", f"{recall_col}_max",
               "qps_min", "qps_max", "build", "query", "reached", "note"]

    def order(row: dict[str, Any]) -> tuple:
        q, x = row["qps"], row[recall_col]
        return (*(_natural(row[c]) for c in keys if c != "index"),
                0 if row["reached"] else 1,
                -q if not math.isnan(q) else math.inf,
                -x if not math.isnan(x) else math.inf,
                _natural(row.get("index")))

    rows.sort(key=order)
    out = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    out.attrs["recall"] = r
    out.attrs["recall_col"] = recall_col
    return out


def _leaderboard_point(table: Mapping[str, Any], names: Sequence[str], pick: int | None,
                       reached: bool) -> dict[str, Any]:
    """The shown columns of aggregated point ``pick`` (None: an index with no point)."""
    if pick is None:
        out: dict[str, Any] = {n: math.nan for n in names}
        out.update(n_seeds=0, build={}, query={})
        return out
    out = {n: float(table[n][pick]) for n in names}
    if not reached:
        out.update(qps=math.nan, qps_min=math.nan, qps_max=math.nan)
    out["n_seeds"] = int(table["n_seeds"][pick])
    out["build"] = json.loads(table["build"][pick])
    out["query"] = json.loads(table["query"][pick])
    return out


def _jsonable(value: Any) -> Any:
    """A JSON-ready copy: numpy -> Python, non-finite floats and missing -> None."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if _is_missing(value):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def leaderboard_records(lb: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a frame (e.g. a :func:`leaderboard`) as JSON-ready dicts.

    numpy scalars become Python numbers, NaN, infinities and missing values become None,
    nested dicts (``build``, ``query``) are converted the same way, so ``json.dumps(...,
    allow_nan=False)`` accepts the result.
    """
    _require_frame(lb, "lb")
    cols = [str(c) for c in lb.columns]
    return [{c: _jsonable(v) for c, v in zip(cols, row, strict=True)}
            for row in lb.itertuples(index=False, name=None)]


# --------------------------------------------------------------------------- tables


def summary_table(df: pd.DataFrame, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """The closing table of ``vecbench run``: one row per record with its key measures.

    Columns: ``dataset``, ``index``, ``k`` and ``seed`` (when present), ``build`` and
    ``query`` (dicts), the ``measures`` (default: ``recall``, ``qps``, ``p50_ms``, ``p99_ms``,
    ``build_seconds``, ``index_bytes``; NaN when not measured) and ``status``. Every record
    is listed, failed ones included; rows are sorted by dataset, index, k, build, query and
    seed.
    """
    pd = _pandas()
    _require_frame(df)
    _require_columns(df, ("dataset", "index"))
    shown = tuple(measures) if measures else SUMMARY_MEASURES
    keys = [c for c in ("dataset", "index", "k", "seed") if c in df.columns]
    columns = [*keys, "build", "query", *shown, "status"]
    builds, queries = _param_dicts(df, "build"), _param_dicts(df, "query")
    values = {m: _floats(df, m) for m in shown}
    status = df["status"].tolist() if "status" in df.columns else ["ok"] * len(df)
    key_values = {c: df[c].tolist() for c in keys}
    rows = []
    for pos in range(len(df)):
        row: dict[str, Any] = {c: _key_value(key_values[c][pos]) for c in keys}
        row["build"], row["query"] = builds[pos], queries[pos]
        row.update({m: float(values[m][pos]) for m in shown})
        row["status"] = _py(status[pos])
        rows.append(row)
    rows.sort(key=lambda r: (_natural(r["dataset"]), _natural(r["index"]),
                             _natural(r.get("k")), _natural(r["build"]),
                             _natural(r["query"]), _natural(r.get("seed"))))
    return pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)


def _format_params(params: Mapping[str, Any]) -> str:
    """``name=value, ...``; parameters left at None (a plugin's "derive the default") are
    not shown."""
    return ", ".join(f"{k}={_jsonable(v)}" for k, v in params.items()
                     if not _is_missing(v)) or "-"


def _as_params(value: Any) -> Any:
    """JSON text of a parameter dict (as in ``load_results``'s build/query columns) -> dict."""
    if isinstance(value, str) and value.startswith("{"):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            return value
        return parsed if isinstance(parsed, dict) else value
    return value


def _column_cells(values: list[Any]) -> tuple[list[str], bool]:
    """Cell texts of one column and whether it is numeric (right-aligned)."""
    present = [v for v in values if not _is_missing(v)]
    numeric = bool(present) and all(_is_number(v) for v in present)
    if not numeric:
        cells = []
        for v in values:
            if isinstance(v, Mapping):
                cells.append(_format_params(v))
            elif isinstance(v, (list, tuple)):
                cells.append(", ".join(str(_jsonable(x)) for x in v))
            elif _is_missing(v):
                cells.append("-")
            elif isinstance(v, (bool, np.bool_)):
                cells.append("yes" if v else "no")
            else:
                cells.append(str(v))
        return cells, False
    finite = [float(v) for v in present if math.isfinite(float(v))]
    if finite and all(f.is_integer() and abs(f) < 1e15 for f in finite):
        decimals = 0
    elif finite and all(0.0 <= f <= 1.0 for f in finite):
        decimals = 4
    else:
        top = max((abs(f) for f in finite), default=0.0)
        decimals = _decimals(top) if top else 4
    return [_number_cell(v, decimals) for v in values], True


def cell_texts(values: Sequence[Any], params: bool = False) -> tuple[list[str], bool]:
    """The texts :func:`format_table` shows for one column's values, and whether the column
    is numeric (right-aligned). With ``params``, JSON text of a parameter dict is shown as
    ``name=value, ...`` like a dict."""
    values = list(values)
    if params:
        values = [_as_params(v) for v in values]
    return _column_cells(values)


def _decimals(magnitude: float) -> int:
    """Decimals that show about four significant digits of ``magnitude`` (0 to 6)."""
    return min(6, max(0, 3 - math.floor(math.log10(magnitude))))


def _number_cell(value: Any, decimals: int) -> str:
    """One number of a column printed with the column's decimals; a value too small to show
    that way (or too large) gets four significant digits of its own."""
    if _is_missing(value):
        return "-"
    f = float(value)
    if not math.isfinite(f):
        return str(f)
    text = f"{f:.{decimals}f}"
    if (f != 0 and float(text) == 0) or abs(f) >= 1e15:
        return f"{f:.3e}"
    return text


def _text_table(df: pd.DataFrame) -> str:
    headers = [str(c) for c in df.columns]
    if not headers:
        return "(no rows)"
    columns = [_column_cells([_as_params(v) for v in df[c].tolist()] if c in ("build", "query")
                             else df[c].tolist()) for c in df.columns]
    widths = [max([len(h), *(len(s) for s in cells)])
              for h, (cells, _) in zip(headers, columns, strict=True)]

    def line(texts: Sequence[str]) -> str:
        parts = [t.rjust(w) if columns[i][1] else t.ljust(w)
                 for i, (t, w) in enumerate(zip(texts, widths, strict=True))]
        return "  ".join(parts).rstrip()

    out = [line(headers), "  ".join("-" * w for w in widths)]
    out.extend(line([cells[i] for cells, _ in columns]) for i in range(len(df)))
    if len(df) == 0:
        out.append("(no rows)")
    return "\n".join(out)


def _markdown_cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _markdown_table(df: pd.DataFrame) -> str:
    headers = [_markdown_cell(str(c)) for c in df.columns]
    if not headers:
        return "(no rows)"
    columns = [_column_cells([_as_params(v) for v in df[c].tolist()] if c in ("build", "query")
                             else df[c].tolist()) for c in df.columns]
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join("---:" if numeric else "---" for _, numeric in columns) + "|"]
    out.extend("| " + " | ".join(_markdown_cell(cells[i]) for cells, _ in columns) + " |"
               for i in range(len(df)))
    return "\n".join(out)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (Mapping, list, tuple)):
        return json.dumps(_jsonable(value), sort_keys=True)
    value = _jsonable(value)
    return "" if value is None else value


def format_table(df: pd.DataFrame, fmt: str = "table",
                 columns: Sequence[str] | None = None) -> str:
    """Render a frame as text.

    - ``table``: fixed-width columns with a header and a rule; numbers right-aligned with
      about four significant digits (fractions in [0, 1] with four decimals, whole numbers
      as integers), missing values as ``-``, parameter dicts (and the JSON text of the
      ``build`` / ``query`` columns) as ``name=value, ...`` without the None-valued ones.
    - ``csv``: comma-separated with a header, full precision, dicts as JSON text, missing
      values empty.
    - ``json``: a JSON array of :func:`leaderboard_records` (strict JSON: NaN -> null).
    - ``markdown``: a GitHub-flavoured pipe table with the cells of ``table`` (numbers
      right-aligned, ``|`` in a cell escaped), for CI job summaries.

    ``columns`` selects and orders columns. The text has no trailing newline.
    """
    _require_frame(df)
    if fmt not in FORMATS:
        raise InvalidInputError(f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    if columns is not None:
        if isinstance(columns, str):
            columns = [columns]
        _require_columns(df, columns)
        df = df[list(columns)]
    if fmt == "json":
        return json.dumps(leaderboard_records(df), indent=1, allow_nan=False)
    if fmt == "markdown":
        return _markdown_table(df)
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow([str(c) for c in df.columns])
        for row in df.itertuples(index=False, name=None):
            writer.writerow([_csv_cell(v) for v in row])
        return buf.getvalue().rstrip("\n")
    return _text_table(df)


# --------------------------------------------------------------------------- markdown


def markdown_summary(df: pd.DataFrame, thresholds: Sequence[float] = THRESHOLDS, *,
                     recall_col: str = "recall", title: str = "vecbench results") -> str:
    """A Markdown page for a CI job summary: record counts and the leaderboards.

    One line counts the records by status; then, per dataset (and k), a leaderboard table
    (:func:`leaderboard`) per threshold in ``thresholds`` with the index, the chosen point's
    recall, ``qps`` (best observed), ``qps_interpolated``, ``build_seconds``,
    ``index_bytes``, the parameters and the note. Records of other tasks (``attack``,
    ``cluster``, ...) are counted, not ranked. The text ends with a newline.
    """
    _require_frame(df)
    thresholds = [_check_threshold(t) for t in thresholds]
    lines = [f"## {title}", ""]
    if len(df) == 0:
        return "\n".join([*lines, "No records.", ""])
    statuses = df["status"].tolist() if "status" in df.columns else ["ok"] * len(df)
    counts: dict[str, int] = {}
    for st in statuses:
        counts[str(_py(st))] = counts.get(str(_py(st)), 0) + 1
    shown = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    lines += [f"{len(df)} record(s): {shown}.", ""]
    if "task" in df.columns:
        tasks = sorted({str(t) for t in df["task"].dropna().tolist()})
        other = [t for t in tasks if t not in LEADERBOARD_TASKS]
        if other:
            lines += ["Other tasks recorded: " + ", ".join(
                f"`{t}` ({int((df['task'] == t).sum())})" for t in other) + ".", ""]
    search = df
    if "task" in df.columns:
        search = df[df["task"].isin(list(LEADERBOARD_TASKS)) | df["task"].isna()]
    if len(_ok_rows(search)) == 0 or recall_col not in search.columns:
        return "\n".join([*lines, "No successful search record to rank.", ""])
    wanted = ["index", recall_col, "qps", "qps_interpolated", "build_seconds", "index_bytes",
              "build", "query", "note"]
    for r in thresholds:
        lb = leaderboard(search, recall=r, recall_col=recall_col)
        keys = [c for c in POINT_KEYS if c in lb.columns and c != "index"]
        groups: dict[tuple, list[int]] = {}
        for pos, key in enumerate(zip(*(lb[c].tolist() for c in keys), strict=True)):
            groups.setdefault(tuple(_key_value(v) for v in key), []).append(pos)
        for key, members in groups.items():
            label = ", ".join(f"{c} {v}" for c, v in zip(keys, key, strict=True)
                              if v is not None and c != "task")
            lines += [f"### {recall_col} ≥ {r:g}: {label}", ""]
            part = lb.iloc[members]
            lines += [format_table(part, "markdown",
                                   columns=[c for c in wanted if c in part.columns]), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------- export


class ExportDependencyError(VecbenchError, ImportError):
    """An export format whose library is not installed."""


EXPORT_FORMATS = ("csv", "parquet")


def export_frame(df: pd.DataFrame, path: str | Path, fmt: str | None = None) -> Path:
    """Write a frame (e.g. :func:`harness.results.load_results`) as CSV or Parquet.

    The format is ``fmt``, or else the file's suffix (``.csv``, ``.parquet``). Cells holding
    dicts or lists (parameters) become JSON text; in Parquet, a column mixing kinds of values
    (numbers and text) is stored as text, and missing values stay missing. Parquet needs
    pyarrow (the ``parquet`` extra); without it an :class:`ExportDependencyError` says how to
    install it. Returns the path written.
    """
    _require_frame(df)
    path = Path(path)
    if fmt is None:
        fmt = path.suffix.lstrip(".").lower()
        if fmt not in EXPORT_FORMATS:
            raise InvalidInputError(f"cannot tell the export format of {str(path)!r} from its "
                                    f"suffix; use .csv or .parquet (or pass fmt=)")
    if fmt not in EXPORT_FORMATS:
        raise InvalidInputError(f"export format {fmt!r} is not one of "
                                f"{', '.join(EXPORT_FORMATS)}")
    if fmt == "parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ExportDependencyError(
                "Parquet export needs pyarrow, which is not installed; install it with "
                "`pip install 'vecbench[parquet]'` (or `pip install pyarrow`), or export CSV")
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        path.write_text(format_table(df, "csv") + "\n")
        return path
    _parquet_ready(df).to_parquet(path, engine="pyarrow", index=False)
    return path


def _parquet_ready(df: pd.DataFrame) -> pd.DataFrame:
    """A copy whose object columns hold one kind of value each (Parquet is typed)."""
    pd = _pandas()
    out = {}
    for col in df.columns:
        series = df[col]
        name = str(col)
        if series.dtype != object:
            out[name] = series.to_numpy()
            continue
        values = [None if _is_missing(v) else _py(v) for v in series.tolist()]
        present = [v for v in values if v is not None]
        if all(isinstance(v, str) for v in present):
            out[name] = values
        elif all(isinstance(v, (bool, np.bool_)) for v in present):
            out[name] = pd.array(values, dtype="boolean")
        elif all(_is_number(v) for v in present):
            out[name] = np.array([math.nan if v is None else float(v) for v in values])
        else:
            out[name] = [None if v is None else v if isinstance(v, str) else json.dumps(
                _jsonable(v), sort_keys=True) for v in values]
    return pd.DataFrame(out)


# --------------------------------------------------------------------------- plots


def _file_stem(name: str, used: set[str]) -> str:
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "dataset"
    candidate, n = stem, 2
    while candidate in used:
        candidate, n = f"{stem}-{n}", n + 1
    used.add(candidate)
    return candidate


#: image formats matplotlib writes for the plots
IMAGE_FORMATS = ("png", "svg")


def _check_formats(formats: Sequence[str]) -> list[str]:
    formats = [formats] if isinstance(formats, str) else list(formats)
    bad = [f for f in formats if f not in IMAGE_FORMATS]
    if bad or not formats:
        raise InvalidInputError(f"image formats must be among {', '.join(IMAGE_FORMATS)}; "
                                f"got {formats!r}")
    return formats


def _plot_sweeps(df: pd.DataFrame, out_dir: str | Path, recall_col: str,
                 lines: Sequence[tuple[str, str]], *, y_higher_is_better: bool,
                 y_label: str, suffix: str, formats: Sequence[str],
                 log_scale: bool = True) -> list[Path]:
    """The common engine of the recall-vs-measure figures.

    ``lines`` is ``[(measure, linestyle), ...]``: the first measure defines the frontier of
    each index (seed-aggregated points, ``y_higher_is_better`` giving its direction); the
    others are drawn through the same points with their own line style.
    """
    _require_frame(df)
    if not isinstance(recall_col, str):
        raise InvalidInputError(f"recall_col must be a column name, got {recall_col!r}")
    formats = _check_formats(formats)
    out_dir = Path(out_dir)
    if len(df) == 0:
        return []
    _require_columns(df, ("dataset", "index"))
    ok = _ok_rows(df)
    if len(ok) == 0:
        return []
    measures = [m for m, _ in lines]
    for col in (recall_col, *measures):
        if col not in ok.columns:
            raise UnknownNameError("measure", col, _measure_columns(ok),
                                   "not in the results frame")
    head = measures[0]
    agg = aggregate_seeds(df, spread=_unique([recall_col, head]))
    if "task" in df.columns:
        agg = agg[agg["task"].isin(list(LEADERBOARD_TASKS)) | agg["task"].isna()]
        ok = ok[ok["task"].isin(list(LEADERBOARD_TASKS)) | ok["task"].isna()]

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    def drawable(frame: pd.DataFrame) -> pd.DataFrame:
        x, y = _floats(frame, recall_col), _floats(frame, head)
        keep = ~np.isnan(x) & np.isfinite(y)
        if log_scale:
            keep &= y > 0
        return frame[keep]

    ok, agg = drawable(ok), drawable(agg)
    if len(ok) == 0:
        return []
    indexes = sorted({str(v) for v in ok["index"].tolist()})
    colors = matplotlib.colormaps["tab10"].colors  # type: ignore[attr-defined]
    markers = "os^Dvp*hX<>"
    style = {name: (colors[i % len(colors)], markers[i % len(markers)])
             for i, name in enumerate(indexes)}

    has_k = "k" in ok.columns
    panels: dict[str, list[Any]] = {}
    for dataset, k in zip(ok["dataset"].tolist(),
                          ok["k"].tolist() if has_k else [None] * len(ok), strict=True):
        ks = panels.setdefault(str(dataset), [])
        if _key_value(k) not in ks:
            ks.append(_key_value(k))

    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()
    for dataset in sorted(panels):
        ks = sorted(panels[dataset], key=_natural)
        for k in ks:
            stem = dataset if len(ks) == 1 else f"{dataset}-k{k}"
            stem = _file_stem(stem + suffix, used)

            def select(frame: pd.DataFrame, dataset: str = dataset, k: Any = k) -> pd.DataFrame:
                mask = frame["dataset"].astype(str) == dataset
                if has_k:
                    mask &= np.array([_key_value(v) == k for v in frame["k"].tolist()],
                                     dtype=bool)
                return frame[mask]

            raw, points = select(ok), select(agg)
            # fixed margins: a constrained layout costs a third of the drawing time
            fig = Figure(figsize=(7.5, 5.0))
            fig.subplots_adjust(left=0.11, right=0.97, bottom=0.1, top=0.93)
            ax = fig.add_subplot()
            for name in indexes:
                color, marker = style[name]
                mine = raw[raw["index"].astype(str) == name]
                if len(mine) == 0:
                    continue
                ax.scatter(_floats(mine, recall_col), _floats(mine, head), s=16,
                           color=color, marker=marker, alpha=0.3, linewidths=0)
                front = pareto_frontier(points[points["index"].astype(str) == name],
                                        recall_col, head,
                                        y_higher_is_better=y_higher_is_better)
                for j, (measure, linestyle) in enumerate(lines):
                    ax.plot(_floats(front, recall_col), _floats(front, measure),
                            color=color, marker=marker if j == 0 else None, markersize=5,
                            linewidth=1.5 if j == 0 else 1.0, linestyle=linestyle,
                            label=name if j == 0 else None)
            if len(lines) > 1:
                from matplotlib.lines import Line2D

                handles, names = ax.get_legend_handles_labels()
                for measure, linestyle in lines:
                    handles.append(Line2D([], [], color="0.3",
                                          linestyle=linestyle))  # type: ignore[arg-type]
                    names.append(measure)
                ax.legend(handles, names, loc="best", fontsize="small")
            else:
                ax.legend(loc="best", fontsize="small")
            if log_scale:
                ax.set_yscale("log")
            ax.set_xlabel(f"{recall_col} (higher is better)")
            better = "higher" if y_higher_is_better else "lower"
            ax.set_ylabel(f"{y_label}{', log scale' if log_scale else ''} ({better} is better)")
            ax.set_title(dataset if k is None else f"{dataset}  (k={k})")
            ax.grid(True, which="both", alpha=0.3)
            for fmt in formats:
                path = out_dir / f"{stem}.{fmt}"
                if fmt == "svg":
                    fig.savefig(path, metadata={"Date": None})
                else:
                    fig.savefig(path, dpi=120)
                written.append(path)
    return written


def plot_recall_qps(df: pd.DataFrame, out_dir: str | Path, *,
                    recall_col: str = "recall",
                    formats: Sequence[str] = IMAGE_FORMATS) -> list[Path]:
    """One recall-vs-QPS figure per dataset, as ``<dataset>.png`` and ``<dataset>.svg``.

    x is ``recall_col``, y is ``qps`` on a log scale. Each index gets one line through the
    Pareto frontier of its seed-aggregated points (:func:`aggregate_seeds`), drawn over all of
    its successful records shown faint. The title names the dataset and k. When a dataset was
    run with several k, each k gets its own figure ``<dataset>-k<k>``. Points with a
    non-positive QPS (not drawable on a log scale) and datasets without any drawable point
    are left out. Characters other than letters, digits, ``.``, ``_`` and ``-`` in file names
    become ``_``. ``formats`` picks the image files (``png``, ``svg``). Returns the files
    written (in the order of ``formats`` per figure).
    """
    return _plot_sweeps(df, out_dir, recall_col, [("qps", "-")], y_higher_is_better=True,
                        y_label="queries per second", suffix="", formats=formats)


def plot_recall_measure(df: pd.DataFrame, out_dir: str | Path, measure: str, *,
                        recall_col: str = "recall", higher_is_better: bool = False,
                        log_scale: bool = True, label: str | None = None,
                        formats: Sequence[str] = IMAGE_FORMATS) -> list[Path]:
    """Recall against another measure (build seconds, index bytes, ...), one figure per
    dataset (and k), as ``<dataset>-<measure>.<fmt>``.

    Drawn like :func:`plot_recall_qps`: every successful record faint, and per index a line
    through the Pareto frontier of its seed-aggregated points, where ``higher_is_better``
    gives the direction of ``measure`` (build seconds and bytes: lower is better). On a log
    scale, non-positive values are left out.
    """
    if not isinstance(measure, str):
        raise InvalidInputError(f"measure must be a column name, got {measure!r}")
    return _plot_sweeps(df, out_dir, recall_col, [(measure, "-")],
                        y_higher_is_better=higher_is_better, y_label=label or measure,
                        suffix=f"-{measure}", formats=formats, log_scale=log_scale)


def plot_latency(df: pd.DataFrame, out_dir: str | Path, *, recall_col: str = "recall",
                 percentiles: Sequence[str] = ("p50_ms", "p95_ms", "p99_ms"),
                 formats: Sequence[str] = IMAGE_FORMATS) -> list[Path]:
    """Latency percentiles against recall, one figure per dataset (and k), as
    ``<dataset>-latency.<fmt>``.

    Per index, the points on the recall / first-percentile frontier (lower latency is
    better) are joined by one line per percentile: solid, dash-dot, dashed, dotted in the
    order of ``percentiles``. Log scale in milliseconds.
    """
    if isinstance(percentiles, str) or not percentiles:
        raise InvalidInputError("percentiles must be a non-empty list of measure names")
    styles = ["-", "-.", "--", ":"]
    lines = [(p, styles[i % len(styles)]) for i, p in enumerate(percentiles)]
    return _plot_sweeps(df, out_dir, recall_col, lines, y_higher_is_better=False,
                        y_label="single-query latency, ms", suffix="-latency",
                        formats=formats)
