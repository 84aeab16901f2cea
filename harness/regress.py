"""The CI regression gate: deterministic measures against a baseline, timings A/B.

Two kinds of figures need two kinds of comparison (``docs/ci-gate.md``):

- **Deterministic measures** (recall and the other seeded figures: the measures registered
  with ``MeasureInfo.deterministic``) do not depend on the machine. A baseline file (JSON,
  committed under ``results/baselines/``) keeps them per point of a suite; a new run is
  compared with a tolerance. A point is matched by its spec; when its dataset checksum or
  plugin version differs from the baseline's, the point needs a new baseline
  (``rebaseline``) instead of a verdict.
- **Timing measures** are comparable only on one machine in one job: the current code and
  a reference run interleaved, several samples each, and a change is flagged only when it
  is both statistically significant (two-sided Mann-Whitney U) and beyond a factor, in the
  manner of asv. Samples from different machines are refused.

Exit statuses of the gate: :data:`EXIT_OK`, :data:`EXIT_REGRESSION`, :data:`EXIT_REBASELINE`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InvalidInputError, UnknownNameError, VecbenchError

BASELINE_KIND = "vecbench-baseline"
BASELINE_SCHEMA = 1
#: default tolerance of a deterministic measure: ``|new - old| <= t * max(1, |old|)``
DEFAULT_TOLERANCE = 1e-3
#: asv's default factor and the usual significance level
DEFAULT_FACTOR = 1.1
DEFAULT_ALPHA = 0.05
DEFAULT_SAMPLES = 5
#: timings the A/B gate reads from a record's ``timing`` section (name -> (field, higher is
#: better)): process CPU seconds, which time-slicing by other jobs on the machine does not
#: inflate the way it inflates wall seconds; a list (one value per timed repetition) gives
#: its median
RECORD_TIMINGS: dict[str, tuple[str, bool]] = {
    "search_cpu_seconds": ("batch_cpu_seconds", False),
    "build_cpu_seconds": ("build_cpu_seconds", False),
}
#: timing measures compared by ``compare --ab`` unless others are named
DEFAULT_TIMING_MEASURES = ("qps", "search_cpu_seconds", "p50_ms", "build_seconds",
                           "build_cpu_seconds")

EXIT_OK = 0
EXIT_REGRESSION = 1
EXIT_REBASELINE = 3

#: finding statuses that fail the deterministic gate (``strict`` adds :data:`CHANGES`)
FAILING = ("regressed", "changed", "failed")
#: differences that pass unless the gate is strict
CHANGES = ("improved", "fixed")
#: the baseline no longer describes the run: a point's key changed (dataset checksum,
#: plugin version), or the suite's points changed (a baseline point not run, a new one)
REBASELINE = ("rebaseline", "missing", "new")
_ORDER = {s: i for i, s in enumerate((*FAILING, *REBASELINE, *CHANGES, "ok"))}


class CrossMachineError(InvalidInputError):
    """Timing figures from different machines put side by side."""


# --------------------------------------------------------------------------- points


def point_identity(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a record's spec that define what was measured: its label dropped, and
    build and query parameters left at None (the plugin's "derive the default", the same
    as not giving them) left out."""
    out = {k: v for k, v in spec.items() if k != "label"}
    for part in ("build", "query"):
        if isinstance(out.get(part), Mapping):
            out[part] = {k: v for k, v in out[part].items() if v is not None}
    return out


def point_key(spec: Mapping[str, Any]) -> str:
    """A short stable hash of :func:`point_identity` (dataset checksum and plugin version
    left out: they are checked apart)."""
    text = json.dumps(point_identity(spec), sort_keys=True, default=str,
                      separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe_point(spec: Mapping[str, Any]) -> str:
    """One readable line naming a point: task, dataset, plugin, parameters, k, seed."""
    def params(d: Any) -> str:
        return ",".join(f"{k}={v}" for k, v in sorted((d or {}).items()) if v is not None)

    extra = "".join(f" {k}={v}" for k, v in sorted((spec.get("extra") or {}).items()))
    metric = f" metric={spec['metric']}" if spec.get("metric") else ""
    threads = spec.get("threads")
    thr = f" threads={threads}" if threads not in (None, 1) else ""
    return (f"{spec.get('task', 'search')} {spec.get('dataset')} {spec.get('index')} "
            f"[{params(spec.get('build'))}] [{params(spec.get('query'))}] k={spec.get('k')} "
            f"seed={spec.get('seed')}{metric}{thr}{extra}")


def _number(value: Any) -> float | None:
    """A finite float, or None (missing, NaN, infinite, not a number)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def latest_records(records: Iterable[Mapping[str, Any]],
                   suite: str | None = None) -> dict[str, dict[str, Any]]:
    """Per point key, the last finished record (of ``suite`` when given).

    Without ``suite``, the records must all come from one suite (a clear error otherwise).
    """
    recs = [dict(r) for r in records]
    suites = sorted({str(r.get("suite")) for r in recs})
    if suite is None and len(suites) > 1:
        raise InvalidInputError(f"the records come from several suites ({', '.join(suites)}); "
                                "name one with --suite")
    out: dict[str, dict[str, Any]] = {}
    for rec in recs:
        if suite is not None and rec.get("suite") != suite:
            continue
        spec = rec.get("spec")
        if not isinstance(spec, Mapping):
            raise InvalidInputError(f"record {rec.get('spec_id')!r} has no spec")
        key = point_key(spec)
        known = out.get(key)
        if known is None or str(rec.get("finished_at") or "") >= str(
                known.get("finished_at") or ""):
            out[key] = rec
    return out


# --------------------------------------------------------------------------- measures


def measure_directions(registry: Any = None, *,
                       deterministic: bool | None = None) -> dict[str, bool]:
    """Registered measures -> ``higher_is_better``; only the deterministic ones (or only the
    others) when ``deterministic`` is True (False)."""
    if registry is None:
        from harness.plugins import get_registry

        registry = get_registry()
    out = {}
    for name, entry in registry.measures:
        info = entry.info
        if deterministic is None or bool(info.deterministic) == deterministic:
            out[name] = bool(info.higher_is_better)
    return out


def check_timing_measures(names: Sequence[str], registry: Any = None) -> dict[str, bool]:
    """The named measures with their direction; each must be a registered measure that is
    not deterministic (a deterministic one belongs to the baseline gate), or one of the
    :data:`RECORD_TIMINGS`."""
    every = measure_directions(registry)
    timing = measure_directions(registry, deterministic=False)
    timing.update({k: higher for k, (_, higher) in RECORD_TIMINGS.items()})
    out = {}
    for name in names:
        if name not in every and name not in timing:
            raise UnknownNameError("measure", name, [*every, *RECORD_TIMINGS])
        if name not in timing:
            raise InvalidInputError(f"{name!r} is a deterministic measure: compare it against "
                                    "a baseline (vecbench compare PATH), not by timing A/B")
        out[name] = timing[name]
    return out


# --------------------------------------------------------------------------- tolerance


@dataclass(frozen=True)
class Tolerance:
    """How far a deterministic measure may move: ``|new - old| <= t * max(1, |old|)``.

    Absolute for values up to 1 (recalls and other fractions), relative above (counts such
    as distance computations). ``measures`` overrides ``default`` per measure.
    """

    default: float = DEFAULT_TOLERANCE
    measures: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, value in [("default", self.default), *self.measures.items()]:
            f = _number(value)
            if f is None or f < 0:
                raise InvalidInputError(f"tolerance of {name}: must be a number >= 0, "
                                        f"got {value!r}")

    def of(self, measure: str) -> float:
        return float(self.measures.get(measure, self.default))

    def allows(self, measure: str, old: float, new: float) -> bool:
        return abs(new - old) <= self.of(measure) * max(1.0, abs(old))

    def as_dict(self) -> dict[str, Any]:
        return {"default": self.default, "measures": dict(sorted(self.measures.items()))}

    @classmethod
    def from_dict(cls, data: Any) -> Tolerance:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise InvalidInputError(f"baseline tolerance must be a table, got {data!r}")
        return cls(float(data.get("default", DEFAULT_TOLERANCE)),
                   dict(data.get("measures") or {}))

    def with_overrides(self, items: Sequence[str]) -> Tolerance:
        """Apply ``--tolerance`` values: ``T`` sets the default, ``NAME=T`` one measure."""
        default, measures = self.default, dict(self.measures)
        for item in items:
            name, sep, value = str(item).partition("=")
            text = value if sep else name
            f = _number(text.strip()) if text.strip() else None
            if f is None or f < 0:
                raise InvalidInputError(f"--tolerance {item!r}: give T or NAME=T with T a "
                                        "number >= 0 (e.g. 0.001 or recall=0.002)")
            if sep:
                measures[name.strip()] = f
            else:
                default = f
        return Tolerance(default, measures)


# --------------------------------------------------------------------------- baselines


def _utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _machine(rec: Mapping[str, Any]) -> dict[str, Any]:
    prov = rec.get("provenance") or {}
    machine = prov.get("machine") or {}
    return {"hostname": prov.get("hostname"),
            "cpu": (machine.get("cpu") or {}).get("model"),
            "cores": machine.get("cores"), "memory_bytes": machine.get("memory_bytes")}


def _entry(rec: Mapping[str, Any], measures: Mapping[str, bool]) -> dict[str, Any]:
    spec = rec["spec"]
    values = rec.get("measures") or {}
    ok = rec.get("status") == "ok"
    return {
        "point": point_key(spec),
        "describe": describe_point(spec),
        "spec": point_identity(spec),
        "dataset_checksum": (rec.get("dataset") or {}).get("checksum"),
        "plugin_version": (rec.get("plugin") or {}).get("version"),
        "status": rec.get("status"),
        "measures": ({m: _number(values[m]) for m in sorted(measures) if m in values}
                     if ok else {}),
    }


def make_baseline(records: Iterable[Mapping[str, Any]], *, measures: Mapping[str, bool],
                  suite: str | None = None, tolerance: Tolerance | None = None,
                  now: str | None = None) -> dict[str, Any]:
    """A baseline of the deterministic ``measures`` (name -> higher is better) of the last
    record of every point (of ``suite``; see :func:`latest_records`)."""
    latest = latest_records(records, suite)
    if not latest:
        where = f" of suite {suite!r}" if suite else ""
        raise InvalidInputError(f"no records{where} to make a baseline from; run the suite "
                                "first (vecbench run SUITE --results DIR)")
    recs = list(latest.values())
    suite_name = suite or str(recs[0].get("suite"))
    first = recs[0]
    prov = first.get("provenance") or {}
    stamp = now or _utcnow()
    points = sorted((_entry(r, measures) for r in recs), key=lambda e: e["describe"])
    return {
        "kind": BASELINE_KIND,
        "schema_version": BASELINE_SCHEMA,
        "suite": suite_name,
        "created_at": stamp,
        "updated_at": stamp,
        "tolerance": (tolerance or Tolerance()).as_dict(),
        "measures": {m: {"higher_is_better": measures[m]} for m in sorted(measures)},
        "recorded_with": {"harness_version": prov.get("harness_version"),
                          "git_commit": prov.get("git_commit"), "machine": _machine(first)},
        "points": points,
    }


def load_baseline(path: str | Path) -> dict[str, Any]:
    """Read and check a baseline file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"baseline file not found: {path} (make one with "
                                "vecbench baseline save PATH)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        raise InvalidInputError(f"{path}: not a vecbench baseline (no kind "
                                f"{BASELINE_KIND!r})")
    if data.get("schema_version") != BASELINE_SCHEMA:
        raise InvalidInputError(f"{path}: baseline schema_version "
                                f"{data.get('schema_version')!r} is not {BASELINE_SCHEMA}")
    for i, point in enumerate(data.get("points") or []):
        if not isinstance(point, dict) or "point" not in point or "spec" not in point:
            raise InvalidInputError(f"{path}: point {i} lacks 'point' or 'spec'")
    Tolerance.from_dict(data.get("tolerance"))
    return data


def save_baseline(baseline: Mapping[str, Any], path: str | Path) -> Path:
    """Write a baseline as stable, diff-friendly JSON (atomic)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(baseline, indent=1, sort_keys=True, allow_nan=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


# --------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Finding:
    """One line of a gate report."""

    status: str
    point: str
    describe: str
    measure: str = ""
    baseline: float | None = None
    current: float | None = None
    tolerance: float | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "point": self.point, "describe": self.describe,
                "measure": self.measure, "baseline": self.baseline, "current": self.current,
                "tolerance": self.tolerance, "note": self.note}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.6g}"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


@dataclass
class GateReport:
    """The verdict of the deterministic gate."""

    suite: str
    findings: list[Finding]
    points: int
    values: int
    tolerance: Tolerance
    strict: bool = False
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)

    @property
    def failing(self) -> list[Finding]:
        bad = FAILING + (CHANGES if self.strict else ())
        return [f for f in self.findings if f.status in bad]

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_REGRESSION` when something failed, else :data:`EXIT_REBASELINE` when
        the baseline no longer describes the run (:data:`REBASELINE`), else :data:`EXIT_OK`."""
        if self.failing:
            return EXIT_REGRESSION
        if any(self.count(s) for s in REBASELINE):
            return EXIT_REBASELINE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: "passed", EXIT_REGRESSION: "FAILED",
                EXIT_REBASELINE: "re-baseline needed"}[self.exit_code]

    def summary(self) -> str:
        counts = {s: self.count(s) for s in _ORDER if s != "ok" and self.count(s)}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no change"
        return (f"regression gate {self.verdict}: suite {self.suite!r}, {self.points} "
                f"point(s), {self.values} value(s) compared; {shown}")

    def rows(self) -> list[Finding]:
        """Findings other than ``ok``, most severe first."""
        return sorted((f for f in self.findings if f.status != "ok"),
                      key=lambda f: (_ORDER.get(f.status, 99), f.describe, f.measure))

    def markdown(self, max_rows: int = 200) -> str:
        """A Markdown section for a CI job summary: the verdict and a table of changes."""
        tol = self.tolerance
        per = ", ".join(f"{k} {v:g}" for k, v in sorted(tol.measures.items()))
        lines = [f"### vecbench regression gate: {self.verdict}", "",
                 f"Suite `{self.suite}`: {self.points} point(s), {self.values} deterministic "
                 f"value(s) compared with tolerance {tol.default:g} × max(1, |baseline|)"
                 + (f" ({per})" if per else "") + (", strict" if self.strict else "") + ".",
                 ""]
        lines += [f"- {n}" for n in self.notes]
        if self.notes:
            lines.append("")
        rows = self.rows()
        if not rows:
            lines += ["Every deterministic measure matches the baseline.", ""]
            return "\n".join(lines)
        lines += ["| status | point | measure | baseline | current | change | note |",
                  "|---|---|---|---:|---:|---:|---|"]
        for f in rows[:max_rows]:
            change = ("-" if f.baseline is None or f.current is None
                      else f"{f.current - f.baseline:+.6g}")
            lines.append(f"| {f.status} | {_md(f.describe)} | {_md(f.measure or '-')} | "
                         f"{_fmt(f.baseline)} | {_fmt(f.current)} | {change} | "
                         f"{_md(f.note)} |")
        if len(rows) > max_rows:
            lines.append(f"\n… and {len(rows) - max_rows} more.")
        lines.append("")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"suite": self.suite, "verdict": self.verdict, "exit_code": self.exit_code,
                "points": self.points, "values": self.values, "strict": self.strict,
                "tolerance": self.tolerance.as_dict(), "notes": self.notes,
                "findings": [f.as_dict() for f in self.rows()]}


def _last_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[-1][:200] if lines else ""


def compare_baseline(baseline: Mapping[str, Any], records: Iterable[Mapping[str, Any]], *,
                     tolerance: Tolerance | None = None, strict: bool = False,
                     measures: Sequence[str] | None = None) -> GateReport:
    """Compare the latest record of each point of the baseline's suite with the baseline.

    Per baseline point: ``missing`` (no record: the suite changed, or the point was not
    run), ``rebaseline`` (dataset checksum or plugin version changed), ``failed`` (the
    record is not ok though the baseline was), ``fixed`` (the reverse), else per measure of
    the baseline ``ok`` (within tolerance), ``regressed`` / ``improved`` (beyond it, in the
    measure's bad / good direction) or ``changed`` (measured in one and not the other).
    Records of points the baseline lacks are ``new``. ``missing``, ``new`` and
    ``rebaseline`` ask for a new baseline rather than fail (:data:`REBASELINE`).
    ``measures`` restricts the comparison to some of the baseline's measures.
    """
    tol = tolerance or Tolerance.from_dict(baseline.get("tolerance"))
    suite = str(baseline.get("suite"))
    directions = {m: bool((v or {}).get("higher_is_better", True))
                  for m, v in (baseline.get("measures") or {}).items()}
    if measures is not None:
        unknown = [m for m in measures if m not in directions]
        if unknown:
            raise UnknownNameError("baseline measure", unknown[0], directions)
        directions = {m: directions[m] for m in measures}
    current = latest_records(records, suite)
    findings: list[Finding] = []
    values = 0
    notes: list[str] = []
    seen = set()
    for point in baseline.get("points") or []:
        key, desc = point["point"], point.get("describe") or describe_point(point["spec"])
        seen.add(key)
        rec = current.get(key)
        if rec is None:
            findings.append(Finding("missing", key, desc,
                                    note="no record of this point in the run (suite changed, "
                                         "or the point was not run)"))
            continue
        checksum = (rec.get("dataset") or {}).get("checksum")
        version = (rec.get("plugin") or {}).get("version")
        why = []
        if checksum != point.get("dataset_checksum"):
            why.append(f"dataset checksum {str(point.get('dataset_checksum'))[:12]} -> "
                       f"{str(checksum)[:12]}")
        if version != point.get("plugin_version"):
            why.append(f"plugin version {point.get('plugin_version')} -> {version}")
        if why:
            findings.append(Finding("rebaseline", key, desc, note="; ".join(why)))
            continue
        was_ok, is_ok = point.get("status") == "ok", rec.get("status") == "ok"
        if not is_ok:
            status = "failed" if was_ok else "ok"
            findings.append(Finding(status, key, desc, note=f"{rec.get('status')}: "
                                    f"{_last_line(rec.get('error'))}"))
            continue
        if not was_ok:
            findings.append(Finding("fixed", key, desc,
                                    note=f"was {point.get('status')} in the baseline"))
            continue
        got = rec.get("measures") or {}
        for name, higher in directions.items():
            if name not in point.get("measures", {}):
                continue
            old, new = _number(point["measures"][name]), _number(got.get(name))
            values += 1
            t = tol.of(name)
            if old is None and new is None:
                findings.append(Finding("ok", key, desc, name, None, None, t))
            elif old is None or new is None:
                findings.append(Finding("changed", key, desc, name, old, new, t,
                                        "measured in only one of baseline and run"))
            elif tol.allows(name, old, new):
                findings.append(Finding("ok", key, desc, name, old, new, t))
            else:
                worse = new < old if higher else new > old
                findings.append(Finding("regressed" if worse else "improved", key, desc, name,
                                        old, new, t,
                                        f"beyond tolerance {t:g} ({'higher' if higher else 'lower'}"
                                        " is better)"))
    for key, rec in sorted(current.items(), key=lambda kv: describe_point(kv[1]["spec"])):
        if key not in seen:
            findings.append(Finding("new", key, describe_point(rec["spec"]),
                                    note="not in the baseline (baseline update adds it)"))
    base_machine = (baseline.get("recorded_with") or {}).get("machine") or {}
    if current and base_machine:
        now_machine = _machine(next(iter(current.values())))
        if now_machine != base_machine:
            notes.append(f"baseline recorded on {_machine_text(base_machine)}, this run on "
                         f"{_machine_text(now_machine)}: deterministic measures do not depend "
                         "on the machine, timings would (they are not compared here)")
    return GateReport(suite, findings, len(baseline.get("points") or []), values, tol,
                      strict, notes)


def update_baseline(baseline: Mapping[str, Any], records: Iterable[Mapping[str, Any]], *,
                    measures: Mapping[str, bool] | None = None, prune: bool = False,
                    tolerance: Tolerance | None = None,
                    now: str | None = None) -> tuple[dict[str, Any], GateReport]:
    """Accept the run: its points replace the baseline's (new points are added; points the
    run lacks are kept, or dropped with ``prune``). Returns the new baseline and the report
    of what changed (as :func:`compare_baseline` saw it before the update)."""
    records = list(records)
    report = compare_baseline(baseline, records, tolerance=tolerance)
    if measures is None:
        measures = {m: bool((v or {}).get("higher_is_better", True))
                    for m, v in (baseline.get("measures") or {}).items()}
    fresh = make_baseline(records, measures=measures, suite=str(baseline.get("suite")),
                          tolerance=tolerance or Tolerance.from_dict(baseline.get("tolerance")),
                          now=now)
    points = {p["point"]: p for p in fresh["points"]}
    if not prune:
        for p in baseline.get("points") or []:
            points.setdefault(p["point"], p)
    out = dict(fresh)
    out["created_at"] = baseline.get("created_at", fresh["created_at"])
    out["points"] = sorted(points.values(), key=lambda e: e["describe"])
    return out, report


# --------------------------------------------------------------------------- timing


def _machine_text(m: Mapping[str, Any]) -> str:
    mem = m.get("memory_bytes")
    mem_text = f", {mem / 2**30:.1f} GiB" if isinstance(mem, (int, float)) else ""
    return f"{m.get('hostname')} ({m.get('cpu')}, {m.get('cores')} cores{mem_text})"


def mann_whitney_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided p-value of the Mann-Whitney U test (scipy; exact for small samples without
    ties). 1.0 when every value is equal."""
    from scipy.stats import mannwhitneyu

    a, b = list(map(float, a)), list(map(float, b))
    if not a or not b:
        raise InvalidInputError("Mann-Whitney U needs at least one sample on each side")
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(mannwhitneyu(a, b, alternative="two-sided").pvalue)


def min_p_value(n: int, m: int) -> float:
    """The smallest two-sided p-value an exact Mann-Whitney test can give for n and m
    samples: 2 / C(n + m, n). No change can be called significant below it."""
    return min(1.0, 2.0 / math.comb(n + m, n))


def judge(reference: Sequence[float], current: Sequence[float], *, higher_is_better: bool,
          factor: float = DEFAULT_FACTOR,
          alpha: float = DEFAULT_ALPHA) -> tuple[str, float, float]:
    """``(status, ratio, p)`` for one timing measure's samples.

    ``ratio`` is the slowdown of the medians (> 1 is worse): current / reference for a
    measure where lower is better (seconds), reference / current where higher is better
    (QPS). ``status`` is ``slower`` when ``ratio >= factor`` and ``p < alpha``, ``faster``
    when ``ratio <= 1 / factor`` and ``p < alpha``, else ``same``.
    """
    import numpy as np

    if factor < 1:
        raise InvalidInputError(f"factor must be >= 1, got {factor}")
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be in (0, 1), got {alpha}")
    ref, cur = float(np.median(reference)), float(np.median(current))
    if higher_is_better:
        ratio = ref / cur if cur > 0 else math.inf
    else:
        ratio = cur / ref if ref > 0 else math.inf
    p = mann_whitney_p(reference, current)
    if p < alpha and ratio >= factor:
        return "slower", ratio, p
    if p < alpha and ratio <= 1 / factor:
        return "faster", ratio, p
    return "same", ratio, p


@dataclass(frozen=True)
class TimingFinding:
    """The verdict on one timing measure of one point."""

    status: str
    point: str
    describe: str
    measure: str
    reference_median: float | None
    current_median: float | None
    ratio: float | None
    p_value: float | None
    n_reference: int
    n_current: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class TimingReport:
    """The verdict of an A/B timing comparison."""

    findings: list[TimingFinding]
    factor: float
    alpha: float
    machine: str
    reference_label: str = "reference"
    current_label: str = "current"
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(f.status == status for f in self.findings)

    @property
    def exit_code(self) -> int:
        """:data:`EXIT_REGRESSION` when a measure is slower, or could not be compared
        (``failed``: no sample on a side); else :data:`EXIT_OK`."""
        return EXIT_REGRESSION if self.count("slower") or self.count("failed") else EXIT_OK

    @property
    def verdict(self) -> str:
        return "FAILED" if self.exit_code else "passed"

    def summary(self) -> str:
        return (f"timing A/B {self.verdict}: {len(self.findings)} comparison(s), "
                f"{self.count('slower')} slower, {self.count('faster')} faster, "
                f"{self.count('failed')} without samples "
                f"(factor {self.factor:g}, alpha {self.alpha:g})")

    def markdown(self) -> str:
        lines = [f"### vecbench timing A/B: {self.verdict}", "",
                 f"`{_md(self.current_label)}` against `{_md(self.reference_label)}` on "
                 f"{_md(self.machine)}. A change is flagged when the medians differ by at "
                 f"least ×{self.factor:g} and the two-sided Mann-Whitney U test gives "
                 f"p < {self.alpha:g}; ratio > 1 means slower.", ""]
        lines += [f"- {n}" for n in self.notes]
        if self.notes:
            lines.append("")
        lines += ["| status | point | measure | reference | current | ratio | p | n |",
                  "|---|---|---|---:|---:|---:|---:|---:|"]
        order = {"slower": 0, "failed": 1, "faster": 2, "same": 3}
        for f in sorted(self.findings, key=lambda f: (order.get(f.status, 9), f.describe,
                                                      f.measure)):
            ratio = "-" if f.ratio is None else f"{f.ratio:.3f}"
            p = "-" if f.p_value is None else f"{f.p_value:.3g}"
            lines.append(f"| {f.status} | {_md(f.describe)} | {f.measure} | "
                         f"{_fmt(f.reference_median)} | {_fmt(f.current_median)} | {ratio} | "
                         f"{p} | {f.n_reference}+{f.n_current} |")
        lines.append("")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "exit_code": self.exit_code, "factor": self.factor,
                "alpha": self.alpha, "machine": self.machine,
                "reference": self.reference_label, "current": self.current_label,
                "notes": self.notes, "findings": [f.as_dict() for f in self.findings]}


def same_machine(runs: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]]) -> str:
    """The one machine every record of ``runs`` (side -> runs -> records) was measured on,
    as text; :class:`CrossMachineError` when there are several."""
    seen: dict[str, str] = {}
    for side, side_runs in runs.items():
        for run in side_runs:
            for rec in run:
                text = _machine_text(_machine(rec))
                seen.setdefault(text, side)
    if len(seen) > 1:
        listed = "; ".join(f"{m} ({side})" for m, side in seen.items())
        raise CrossMachineError(
            f"timing measures are comparable only on one machine in one job, and these "
            f"samples come from several: {listed}. Run both sides here, interleaved "
            "(vecbench compare --ab REF); deterministic measures can be compared across "
            "machines (vecbench compare BASELINE)")
    return next(iter(seen), "unknown machine")


def compare_timings(reference_runs: Sequence[Sequence[Mapping[str, Any]]],
                    current_runs: Sequence[Sequence[Mapping[str, Any]]],
                    measures: Mapping[str, bool], *, factor: float = DEFAULT_FACTOR,
                    alpha: float = DEFAULT_ALPHA, reference_label: str = "reference",
                    current_label: str = "current") -> TimingReport:
    """Compare timing ``measures`` (name -> higher is better) of two sets of runs.

    Each run is the list of records one suite run wrote; a point's samples on a side are
    its ``ok`` values over that side's runs (:func:`sample_value`). Every record must come
    from one machine (:func:`same_machine`). A point with samples on one side only is
    reported ``failed``; a measure with no sample on either side (it does not apply to the
    point's task) is left out.
    """
    if not measures:
        raise InvalidInputError("name at least one timing measure to compare")
    machine = same_machine({"reference": reference_runs, "current": current_runs})

    def samples(runs: Sequence[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for run in runs:
            for rec in run:
                key = point_key(rec["spec"])
                slot = out.setdefault(key, {"describe": describe_point(rec["spec"]),
                                            "values": {m: [] for m in measures},
                                            "statuses": []})
                slot["statuses"].append(rec.get("status"))
                if rec.get("status") == "ok":
                    for m in measures:
                        v = sample_value(rec, m)
                        if v is not None:
                            slot["values"][m].append(v)
        return out

    ref, cur = samples(reference_runs), samples(current_runs)
    findings = []
    notes = []
    smallest = None
    for key in sorted(set(ref) | set(cur), key=lambda k: (ref.get(k) or cur[k])["describe"]):
        desc = (ref.get(key) or cur[key])["describe"]
        for m, higher in measures.items():
            a = ref[key]["values"][m] if key in ref else []
            b = cur[key]["values"][m] if key in cur else []
            if not a and not b and key in ref and key in cur:
                continue  # the measure does not apply to this point (another task)
            if not a or not b:
                side = "reference" if not a else "current"
                statuses = (ref.get(key) if not a else cur.get(key)) or {"statuses": []}
                findings.append(TimingFinding(
                    "failed", key, desc, m, _median(a), _median(b), None, None, len(a), len(b),
                    f"no {m} sample on the {side} side (statuses: "
                    f"{', '.join(sorted(set(map(str, statuses['statuses'])))) or 'none'})"))
                continue
            status, ratio, p = judge(a, b, higher_is_better=higher, factor=factor, alpha=alpha)
            floor = min_p_value(len(a), len(b))
            smallest = floor if smallest is None else min(smallest, floor)
            findings.append(TimingFinding(status, key, desc, m, _median(a), _median(b), ratio,
                                          p, len(a), len(b)))
    if smallest is not None and smallest >= alpha:
        notes.append(f"with these sample counts the smallest attainable p-value is "
                     f"{smallest:.3g} >= alpha {alpha:g}: no change can be flagged; take more "
                     "samples (--samples)")
    return TimingReport(findings, factor, alpha, machine, reference_label, current_label,
                        notes)


def sample_value(record: Mapping[str, Any], measure: str) -> float | None:
    """One run's value of a timing measure: from the record's measures, or for the
    :data:`RECORD_TIMINGS` from its ``timing`` section (median of a list)."""
    if measure in RECORD_TIMINGS:
        value = (record.get("timing") or {}).get(RECORD_TIMINGS[measure][0])
        if isinstance(value, (list, tuple)):
            values = [v for v in map(_number, value) if v is not None]
            return _median(values)
        return _number(value)
    return _number((record.get("measures") or {}).get(measure))


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    import numpy as np

    return float(np.median(values))


# --------------------------------------------------------------------------- A/B runs


@dataclass(frozen=True)
class Side:
    """One side of an A/B run: a label and the folders put first on PYTHONPATH."""

    name: str
    label: str
    pythonpath: tuple[str, ...] = ()


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True,
                              timeout=120)
    except FileNotFoundError:
        raise VecbenchError("git is not installed; give --ab a folder instead of a "
                            "revision") from None


def git_toplevel(path: str | Path) -> Path:
    """The top folder of the git work tree holding ``path``."""
    out = _git(Path(path), "rev-parse", "--show-toplevel")
    if out.returncode != 0:
        raise InvalidInputError(f"{path} is not inside a git repository (give --repo DIR, "
                                "or a folder as the reference)")
    return Path(out.stdout.decode().strip())


@contextlib.contextmanager
def git_reference(ref: str, repo: str | Path, src: str = ".") -> Iterator[Side]:
    """The tree of git revision ``ref`` of ``repo``, exported into a temporary folder
    (``git archive``: the repository itself is not touched) and removed afterwards. The
    side's PYTHONPATH is that folder's ``src`` subfolder."""
    repo = git_toplevel(repo)
    resolved = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        raise InvalidInputError(f"unknown git revision {ref!r} in {repo}")
    commit = resolved.stdout.decode().strip()
    tmp = Path(tempfile.mkdtemp(prefix="vecbench-ref-"))
    try:
        archive = _git(repo, "archive", "--format=tar", commit)
        if archive.returncode != 0:
            raise VecbenchError(f"git archive {ref} failed: "
                                f"{archive.stderr.decode(errors='replace').strip()}")
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(tmp, filter="data")
            else:  # Python < 3.10.12: the archive is our own repository's
                tar.extractall(tmp)
        root = (tmp / src).resolve()
        yield Side("reference", f"{ref} ({commit[:12]})", (str(root),))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def folder_reference(path: str | Path) -> Side:
    """A folder put first on PYTHONPATH for the reference side: a checkout, or a plugin
    version installed apart (``pip install --target DIR 'plugin==1.2'``)."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise InvalidInputError(f"reference folder not found: {path}")
    return Side("reference", str(path), (str(path),))


RunSide = Callable[[Side, Path], list[dict[str, Any]]]


def suite_runner(suite: str, *, data_dir: str | Path, plugins: Sequence[str] = (),
                 select_expr: str | None = None, python: str | None = None,
                 timeout: float | None = None) -> RunSide:
    """A function that runs ``suite`` for a side in a fresh ``python -m harness.cli run``
    (PYTHONPATH set to the side's folders, working folder neutral) into a results folder
    and returns the records written."""
    from harness.results import load_all

    suite_arg = str(Path(suite).resolve()) if Path(suite).suffix else suite
    plugin_args = []
    for p in plugins:
        plugin_args += ["-p", str(Path(p).resolve()) if p.endswith(".py") else p]
    data = str(Path(data_dir).resolve())

    def run(side: Side, out_dir: Path) -> list[dict[str, Any]]:
        out_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [*side.pythonpath, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        cmd = [python or sys.executable, "-m", "harness.cli", "run", suite_arg,
               "--results", str(out_dir), "--data", data, "--quiet", "--no-plot",
               *plugin_args, *(["-k", select_expr] if select_expr else [])]
        proc = subprocess.run(cmd, env=env, cwd=out_dir, capture_output=True, text=True,
                              timeout=timeout)
        if proc.returncode not in (0, 1):
            raise VecbenchError(f"the {side.name} side ({side.label}) could not run "
                                f"{suite}: exit {proc.returncode}: "
                                f"{proc.stderr.strip()[-2000:]}")
        return load_all(out_dir)

    return run


def ab_runs(current: Side, reference: Side, run: RunSide, work_dir: str | Path, *,
            samples: int = DEFAULT_SAMPLES,
            progress: Callable[[str], None] | None = None
            ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """Run both sides ``samples`` times, interleaved (current first in even rounds,
    reference first in odd ones, so a drift of the machine hits both alike), each run into
    its own folder ``work_dir/<side>/run-NN``. Returns (reference runs, current runs)."""
    if samples < 1:
        raise InvalidInputError(f"samples must be >= 1, got {samples}")
    work = Path(work_dir)
    runs: dict[str, list[list[dict[str, Any]]]] = {"reference": [], "current": []}
    for i in range(samples):
        order = (current, reference) if i % 2 == 0 else (reference, current)
        for side in order:
            if progress:
                progress(f"[{i + 1}/{samples}] {side.name}: {side.label}")
            runs[side.name].append(run(side, work / side.name / f"run-{i + 1:02d}"))
    return runs["reference"], runs["current"]


def load_ab_runs(work_dir: str | Path
                 ) -> tuple[list[list[dict[str, Any]]], list[list[dict[str, Any]]]]:
    """The runs an earlier :func:`ab_runs` left in ``work_dir`` (reference, current)."""
    from harness.results import load_all

    work = Path(work_dir)
    out = []
    for side in ("reference", "current"):
        folder = work / side
        runs = sorted(p for p in folder.glob("run-*") if p.is_dir()) if folder.is_dir() else []
        if not runs:
            raise InvalidInputError(f"no {side} runs in {work} (expected {folder}/run-NN "
                                    "folders written by vecbench compare --ab)")
        out.append([load_all(p) for p in runs])
    return out[0], out[1]
