"""Where a figure came from: machine, versions, git commit, CPU flags, installed packages."""

from __future__ import annotations

import functools
import importlib.metadata as md
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any


def _cpu_info() -> dict[str, Any]:
    info: dict[str, Any] = {"model": platform.processor() or platform.machine(), "flags": []}
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return info
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and info["model"] in ("", platform.machine()):
            info["model"] = value.strip()
        elif key == "flags" and not info["flags"]:
            wanted = ("avx", "avx2", "avx512f", "avx512bw", "avx512vl", "fma", "sse4_2",
                      "popcnt", "bmi2", "neon", "asimd")
            present = set(value.split())
            info["flags"] = [f for f in wanted if f in present]
    return info


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True, text=True, timeout=5)
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def library_version(dist: str | None) -> str | None:
    """Installed version of a distribution, or None."""
    if not dist:
        return None
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def collect() -> dict[str, Any]:
    """Provenance of this process (cached: it does not change during a run)."""
    from harness import __version__

    try:
        import psutil

        memory = int(psutil.virtual_memory().total)
    except Exception:
        memory = None
    packages = sorted(
        f"{d.metadata['Name']}=={d.version}" for d in md.distributions()
        if d.metadata and d.metadata["Name"]
    )
    return {
        "harness_version": __version__,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "numpy": library_version("numpy"),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "machine": {"cpu": _cpu_info(), "cores": os.cpu_count(), "memory_bytes": memory},
        "git_commit": _git_commit(),
        "packages": packages,
        "env": {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
                if k in os.environ},
    }
