"""Getting datasets: ``vecbench datasets fetch NAME``.

A dataset plugin that can get its own files sets ``DatasetInfo.fetch(data_dir)``; that
function uses the helpers here, which also give ``--dry-run`` for free:

- :func:`apt_install`: ``apt-get install -y PKG`` (as root; otherwise the error names the
  command to run). When the package is unknown, ``apt-get update`` runs once and the install
  is tried again.
- :func:`pip_install`: ``python -m pip install ...`` into the running interpreter.
- :func:`download`: a file from a canonical URL, written atomically, its sha256 verified.
- :func:`verify_sha256`: a file's sha256 (optionally of its gunzipped content) against the
  expected value; a mismatch is a :class:`ChecksumError`.

:func:`fetch_dataset` resolves the name, runs the plugin's fetch (or, with ``dry_run``, only
collects what it would do) and checks that the dataset is available afterwards.
"""

from __future__ import annotations

import contextlib
import contextvars
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from harness.errors import DatasetUnavailableError

DOWNLOAD_TIMEOUT = 60.0
_PLAN: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "vecbench_fetch_plan", default=None)


class ChecksumError(DatasetUnavailableError):
    """A fetched or installed file whose checksum is not the expected one."""


@contextlib.contextmanager
def planning() -> Iterator[list[str]]:
    """Within this block the helpers record what they would do instead of doing it."""
    steps: list[str] = []
    token = _PLAN.set(steps)
    try:
        yield steps
    finally:
        _PLAN.reset(token)


def _plan() -> list[str] | None:
    return _PLAN.get()


def planned(step: str) -> bool:
    """In a dry run, record ``step`` and return True; otherwise return False (do it)."""
    steps = _plan()
    if steps is None:
        return False
    steps.append(step)
    return True


def _run(cmd: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(cmd), capture_output=True, text=True, check=False)


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def apt_install(*packages: str) -> None:
    """Install Debian packages with ``apt-get install -y`` (root only).

    :raises DatasetUnavailableError: not root, no apt-get, or the install failed; the message
        holds the command to run by hand.
    """
    cmd = ["apt-get", "install", "-y", *packages]
    text = " ".join(cmd)
    steps = _plan()
    if steps is not None:
        steps.append(f"run: {text}")
        return
    if shutil.which("apt-get") is None:
        raise DatasetUnavailableError(
            f"apt-get is not available here (not a Debian or Ubuntu system); install the "
            f"package(s) {', '.join(packages)} with the system's package manager")
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        raise DatasetUnavailableError(f"installing a system package needs root; run: "
                                      f"sudo {text}")
    result = _run(cmd)
    if result.returncode != 0 and "Unable to locate package" in (result.stderr or ""):
        _run(["apt-get", "update"])
        result = _run(cmd)
    if result.returncode != 0:
        raise DatasetUnavailableError(f"{text} failed (exit {result.returncode}): "
                                      f"{_tail(result.stderr or result.stdout)}")


def pip_install(*requirements: str, no_deps: bool = True) -> None:
    """Install Python packages into the running interpreter with pip."""
    cmd = [sys.executable, "-m", "pip", "install", *(["--no-deps"] if no_deps else []),
           *requirements]
    text = " ".join(["pip", *cmd[3:]])
    steps = _plan()
    if steps is not None:
        steps.append(f"run: {text}")
        return
    result = _run(cmd)
    if result.returncode != 0:
        raise DatasetUnavailableError(f"{text} failed (exit {result.returncode}): "
                                      f"{_tail(result.stderr or result.stdout)}")


def sha256_of(path: str | os.PathLike[str], *, gunzip: bool = False) -> str:
    """Hex sha256 of a file, or of its decompressed content when ``gunzip``."""
    h = hashlib.sha256()
    opener: Any = gzip.open if gunzip else open
    with opener(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str, *,
                  gunzip: bool = False) -> None:
    """Check a file's sha256 (of its gunzipped content when ``gunzip``).

    :raises ChecksumError: naming the file, the expected and the actual value.
    """
    steps = _plan()
    if steps is not None:
        steps.append(f"verify: sha256 of {path}{' (gunzipped)' if gunzip else ''} = {expected}")
        return
    try:
        actual = sha256_of(path, gunzip=gunzip)
    except (OSError, EOFError) as exc:
        raise ChecksumError(f"{path}: cannot be read to verify its checksum ({exc})") from None
    if actual != expected:
        raise ChecksumError(f"{path}: sha256{' of the gunzipped content' if gunzip else ''} is "
                            f"{actual}, expected {expected}; the file is damaged or not the "
                            "published one")


def download(url: str, dest: str | os.PathLike[str], sha256: str | None = None, *,
             gunzip_checksum: bool = False, timeout: float = DOWNLOAD_TIMEOUT) -> Path:
    """Download ``url`` to ``dest`` atomically; verify its sha256 first when given.

    A file already at ``dest`` with the right checksum is kept (nothing is downloaded).
    """
    target = Path(dest)
    steps = _plan()
    if steps is not None:
        steps.append(f"download: {url} -> {target}" + (f" (sha256 {sha256})" if sha256 else ""))
        return target
    if target.is_file() and sha256 is not None:
        try:
            verify_sha256(target, sha256, gunzip=gunzip_checksum)
            return target
        except ChecksumError:
            pass  # damaged: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    os.close(fd)
    try:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, \
                    open(tmp, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
        except OSError as exc:
            raise DatasetUnavailableError(f"download of {url} failed: {exc}") from None
        if sha256 is not None:
            verify_sha256(tmp, sha256, gunzip=gunzip_checksum)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def fetch_dataset(name: str, data_dir: str | os.PathLike[str], *, dry_run: bool = False,
                  registry: Any = None) -> str:
    """Get the files of dataset ``name`` (install the package it names, or download them)
    and return a one-paragraph report.

    :param dry_run: only report what would be run, downloaded and verified.
    :raises DatasetUnavailableError: the dataset cannot be fetched here (the message says
        what to do instead), or is still unavailable afterwards.
    """
    from harness.data import resolve_dataset

    info = resolve_dataset(name, registry)
    root = Path(data_dir)
    reason = info.available(root) if info.available is not None else None
    if info.fetch is None:
        if reason is None:
            return f"dataset {name!r} is available here (nothing to fetch)"
        raise DatasetUnavailableError(
            f"dataset {name!r} cannot be fetched automatically: {reason}")
    if dry_run:
        with planning() as steps:
            info.fetch(root)
        now = "available here" if reason is None else f"not available here ({reason})"
        return f"dataset {name!r} is {now}; fetching it would:\n" + "\n".join(
            f"  {step}" for step in steps)
    info.fetch(root)
    after = info.available(root) if info.available is not None else None
    if after is not None:
        raise DatasetUnavailableError(f"dataset {name!r} is still unavailable after fetching: "
                                      f"{after}")
    return f"dataset {name!r} is available" + (" (fetched and verified)" if reason
                                              else " (verified)")
