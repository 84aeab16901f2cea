"""Records on disk -> pandas.

A record is one directory ``<results>/<spec_id>/`` holding ``record.json`` (plain data,
``schema_version``, validated against ``harness/schema/record.schema.json``) and
``arrays.npz`` (per-query ids, recomputed distances, latencies; read with
``allow_pickle=False``). Both are written under a temporary name and renamed into place, so
a record is either whole or absent. ``catalog.jsonl`` at the top is a cache of every
record's JSON, rebuilt from the records whenever it disagrees with them.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"
ARRAYS_FILE = "arrays.npz"
CATALOG_FILE = "catalog.jsonl"
RESULTS_ENV = "VECBENCH_RESULTS"
STATUSES = ("ok", "failed", "timeout", "invalid-result", "unavailable", "cut")


def default_results_dir() -> Path:
    """``$VECBENCH_RESULTS`` or ``./results``."""
    return Path(os.environ.get(RESULTS_ENV, "results"))


def schema() -> dict[str, Any]:
    """The JSON Schema of ``record.json``."""
    path = Path(__file__).with_name("schema") / "record.schema.json"
    return json.loads(path.read_text())


def _atomic_write_bytes(path: Path, payload: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_record(results_dir: Path, record: Mapping[str, Any],
                 arrays: Mapping[str, np.ndarray] | None = None) -> Path:
    """Write one record atomically; returns its directory.

    The arrays are written first and the JSON last, so a directory whose ``record.json``
    exists is complete. A record with the same ``spec_id`` is replaced whole.
    """
    results_dir = Path(results_dir)
    spec_id = record["spec_id"]
    final = results_dir / spec_id
    results_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=results_dir, prefix=f".{spec_id}.", suffix=".tmp"))
    try:
        if arrays:
            tmp_npz = staging / ARRAYS_FILE
            with open(tmp_npz, "wb") as fh:
                np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})
        payload = json.dumps(record, indent=1, sort_keys=True, default=_json_default)
        (staging / RECORD_FILE).write_text(payload)
        if final.exists():
            trash = results_dir / f".{spec_id}.old.{os.getpid()}"
            os.replace(final, trash)
            os.replace(staging, final)
            _rmtree(trash)
        else:
            os.replace(staging, final)
    except BaseException:
        _rmtree(staging)
        raise
    _append_catalog(results_dir, record)
    return final


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj)}")


def _append_catalog(results_dir: Path, record: Mapping[str, Any]) -> None:
    line = json.dumps(record, sort_keys=True, default=_json_default) + "\n"
    with open(results_dir / CATALOG_FILE, "a") as fh:
        fh.write(line)


def iter_record_dirs(results_dir: Path) -> Iterator[Path]:
    """Directories holding a complete record (temporary ones are skipped)."""
    results_dir = Path(results_dir)
    if not results_dir.is_dir():
        return
    for child in sorted(results_dir.iterdir()):
        if child.name.startswith(".") or not child.is_dir():
            continue
        if (child / RECORD_FILE).is_file():
            yield child


def read_record(record_dir: Path) -> dict[str, Any]:
    """The JSON of one record."""
    return json.loads((Path(record_dir) / RECORD_FILE).read_text())


def read_arrays(record_dir: Path) -> dict[str, np.ndarray]:
    """The per-query arrays of one record ({} when it has none)."""
    path = Path(record_dir) / ARRAYS_FILE
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def load_all(results_dir: Path | None = None) -> list[dict[str, Any]]:
    """Every record's JSON, through the catalog when it is current.

    The catalog is current when it holds exactly the spec ids of the record directories
    (its last line per spec id wins); otherwise it is rebuilt from the records.
    """
    results_dir = Path(results_dir or default_results_dir())
    dirs = {d.name: d for d in iter_record_dirs(results_dir)}
    catalog = results_dir / CATALOG_FILE
    if catalog.is_file():
        latest: dict[str, dict[str, Any]] = {}
        try:
            for line in catalog.read_text().splitlines():
                if line.strip():
                    rec = json.loads(line)
                    latest[rec["spec_id"]] = rec
        except (json.JSONDecodeError, KeyError):
            latest = {}
        if set(latest) == set(dirs):
            return [latest[k] for k in sorted(latest)]
    records = []
    for name in sorted(dirs):
        try:
            records.append(read_record(dirs[name]))
        except (OSError, json.JSONDecodeError):
            continue
    rebuild_catalog(results_dir, records)
    return records


def rebuild_catalog(results_dir: Path, records: list[dict[str, Any]] | None = None) -> None:
    """Rewrite ``catalog.jsonl`` from the record directories (atomic)."""
    results_dir = Path(results_dir)
    if records is None:
        records = [read_record(d) for d in iter_record_dirs(results_dir)]
    if not results_dir.is_dir():
        return
    payload = "".join(json.dumps(r, sort_keys=True, default=_json_default) + "\n"
                      for r in records)
    _atomic_write_bytes(results_dir / CATALOG_FILE, payload.encode())


def load_results(results_dir: Path | None = None):  # -> pandas.DataFrame
    """All records as a tidy DataFrame: one row per record.

    Columns: ``spec_id``, ``build_id``, ``suite``, ``task``, ``dataset``, ``index``, ``k``,
    ``seed``, ``status``, ``error``, ``build`` and ``query`` (parameter dicts as JSON text),
    one ``build.NAME`` / ``query.NAME`` column per parameter, one column per measure,
    ``dataset_checksum``, ``plugin_version``, ``library_version``, ``finished_at``.
    """
    import pandas as pd

    rows = [flatten(r) for r in load_all(results_dir)]
    base = ["spec_id", "build_id", "suite", "task", "dataset", "index", "k", "seed",
            "status", "error", "build", "query"]
    if not rows:
        return pd.DataFrame(columns=base)
    df = pd.DataFrame(rows)
    ordered = [c for c in base if c in df.columns] + [c for c in df.columns if c not in base]
    return df[ordered]


def flatten(record: Mapping[str, Any]) -> dict[str, Any]:
    """One record -> one flat row (see :func:`load_results`)."""
    spec = record.get("spec", {})
    row: dict[str, Any] = {
        "spec_id": record.get("spec_id"),
        "build_id": record.get("build_id"),
        "suite": record.get("suite"),
        "task": spec.get("task"),
        "dataset": spec.get("dataset"),
        "index": spec.get("index"),
        "k": spec.get("k"),
        "seed": spec.get("seed"),
        "metric": spec.get("metric"),
        "threads": spec.get("threads", 1),
        "status": record.get("status"),
        "error": record.get("error"),
        "build": json.dumps(spec.get("build", {}), sort_keys=True),
        "query": json.dumps(spec.get("query", {}), sort_keys=True),
    }
    for name, value in spec.get("build", {}).items():
        row[f"build.{name}"] = value
    for name, value in spec.get("query", {}).items():
        row[f"query.{name}"] = value
    for name, value in (spec.get("extra") or {}).items():
        row[f"extra.{name}"] = value
    for name, value in (record.get("measures") or {}).items():
        row[name] = value
    ds = record.get("dataset") or {}
    plugin = record.get("plugin") or {}
    row["dataset_checksum"] = ds.get("checksum")
    row["dataset_metric"] = ds.get("metric")
    row["plugin_version"] = plugin.get("version")
    row["library_version"] = plugin.get("library_version")
    row["finished_at"] = record.get("finished_at")
    return row


def merge_results(sources: list[Path], into: Path) -> dict[str, Any]:
    """Combine record folders into ``into`` (e.g. the shares of a ``--shard`` run).

    Records are copied whole and unchanged (their provenance stays with them). A spec id
    present twice is a duplicate: identical copies are skipped; differing copies are a
    conflict, resolved by keeping an ``ok`` record over a failed one, else the one already
    in ``into`` (or the first source), and reported. Every merge is logged in
    ``<into>/merge-log.jsonl``.
    """
    import datetime as dt
    import shutil

    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"copied": 0, "identical": 0, "conflicts": [],
                               "sources": [str(s) for s in sources]}
    for source in sources:
        source = Path(source)
        if not source.is_dir():
            from harness.errors import VecbenchError

            raise VecbenchError(f"not a record folder: {source}")
        if source.resolve() == into.resolve():
            continue
        for rec_dir in iter_record_dirs(source):
            incoming = read_record(rec_dir)
            target = into / rec_dir.name
            if (target / RECORD_FILE).is_file():
                existing = read_record(target)
                if _same(existing, incoming):
                    summary["identical"] += 1
                    continue
                take = incoming.get("status") == "ok" and existing.get("status") != "ok"
                summary["conflicts"].append({
                    "spec_id": rec_dir.name,
                    "kept": str(rec_dir if take else target),
                    "other": str(target if take else rec_dir),
                    "why": "ok beats " + str(existing.get("status")) if take else
                           "kept the copy merged first",
                })
                if not take:
                    continue
            staging = into / f".{rec_dir.name}.merge.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(rec_dir, staging)
            if target.exists():
                trash = into / f".{rec_dir.name}.old.merge"
                os.replace(target, trash)
                os.replace(staging, target)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.replace(staging, target)
            summary["copied"] += 1
    rebuild_catalog(into)
    entry = {**summary, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    with open(into / "merge-log.jsonl", "a") as fh:
        fh.write(json.dumps(entry, sort_keys=True) + "\n")
    return summary


def _same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    keys = ("status", "measures", "finished_at", "error")
    return all(a.get(k) == b.get(k) for k in keys)
