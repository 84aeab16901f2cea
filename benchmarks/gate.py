"""End to end: the timing A/B gate catches a plugin slowed 2x by design, and repeated A/A
comparisons of an unchanged plugin raise no alarm (the false alarm rate is measured).

A throw-away git repository holds a small exact-search index plugin, ``gatedemo``. Its
first commit does the work once; its second commit does the same work twice (build and
search), a 2x slowdown by design. The script runs ``vecbench compare --ab REF`` exactly as
a CI job would (a subprocess per comparison, ``--json`` output):

1. current = the slowed commit, reference = the first one: the gate must fail, with the
   timing measures flagged ``slower`` at a ratio near 2;
2. ``--aa`` times, current = reference = the first commit's code: every flagged measure is a
   false alarm. The rate is reported per comparison (point x measure) and per gate run,
   with a one-sided 95% upper bound (exact binomial: rule of three when there is none).

Usage::

    python benchmarks/gate.py [--samples 5] [--aa 6] [--factor 1.1] [--alpha 0.05]
                              [--dataset gmm-10000x32] [--data DIR] [--keep DIR]

On this 2-core machine one comparison of 2 x 5 runs takes about a minute.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLUGIN = '''"""gatedemo: exact k-NN by blocked matrix products; PASSES times the work by design."""
import numpy as np

from harness import BaseIndex, IndexCapabilities, IndexInfo, hookimpl

PASSES = {passes}


class GateDemo(BaseIndex):
    def _build(self, data):
        x = np.ascontiguousarray(data, dtype=np.float32)
        for _ in range(PASSES):
            norms = np.einsum("ij,ij->i", x, x)
            order = np.argsort(norms, kind="stable")
        self.x, self.norms, self.order = x, norms, order

    def _search(self, queries, k):
        q = np.ascontiguousarray(queries, dtype=np.float32)
        for _ in range(PASSES):
            d = self.norms[None, :] - 2.0 * (q @ self.x.T)
            part = np.argpartition(d, k - 1, axis=1)[:, :k]
            rows = np.arange(len(q))[:, None]
            ids = part[rows, np.argsort(d[rows, part], axis=1, kind="stable")]
        return ids.astype(np.int64), None

    def _owned_arrays(self):
        return [self.x, self.norms, self.order]


@hookimpl
def register_indexes(register):
    register(IndexInfo(name="gatedemo", factory=GateDemo, version="{passes}.0",
                       description="exact search doing its work PASSES times",
                       capabilities=IndexCapabilities(metrics={{"euclidean"}})))
'''

SUITE = """name = "gate-demo"
description = "one exact index on one dataset: timing A/B demonstration"
[[run]]
dataset = "{dataset}"
index = "gatedemo"
k = 10
repetitions = 3
latency_queries = 300
"""


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=gate", "-c",
                    "user.email=gate@example.invalid", *args], check=True,
                   capture_output=True)


def make_repo(root: Path, dataset: str) -> Path:
    repo = root / "plugin-repo"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "suite.toml").write_text(SUITE.format(dataset=dataset))
    (repo / "gatedemo.py").write_text(PLUGIN.format(passes=1))
    git(repo, "add", "suite.toml", "gatedemo.py")
    git(repo, "commit", "-q", "-m", "gatedemo: one pass")
    (repo / "gatedemo.py").write_text(PLUGIN.format(passes=2))
    git(repo, "commit", "-q", "-am", "gatedemo: two passes (2x slower by design)")
    return repo


def compare(repo: Path, ref: str, args: argparse.Namespace, work: Path) -> dict:
    cmd = [sys.executable, "-m", "harness.cli", "compare", "--ab", ref, "--repo", str(repo),
           "--suite", str(repo / "suite.toml"), "-p", "gatedemo", "--samples",
           str(args.samples), "--factor", str(args.factor), "--alpha", str(args.alpha),
           "--data", str(args.data), "--work", str(work), "--json"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=repo)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"compare failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout)
    report["seconds"] = seconds
    report["returncode"] = proc.returncode
    return report


def show(report: dict) -> None:
    for f in report["findings"]:
        ratio = "-" if f["ratio"] is None else f"{f['ratio']:.3f}"
        p = "-" if f["p_value"] is None else f"{f['p_value']:.4f}"
        print(f"    {f['measure']:<14} {f['status']:<7} ratio {ratio:>6}  p {p:>7}  "
              f"medians ref {f['reference_median']:.6g} cur {f['current_median']:.6g}  "
              f"n {f['n_reference']}+{f['n_current']}")


def upper95(alarms: int, n: int) -> float:
    """One-sided 95% upper bound of a binomial rate (exact, Clopper-Pearson)."""
    if n == 0:
        return 1.0
    if alarms == n:
        return 1.0
    from scipy.stats import beta

    return float(beta.ppf(0.95, alarms + 1, n - alarms))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--aa", type=int, default=6, help="A/A gate runs")
    parser.add_argument("--factor", type=float, default=1.1)
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--dataset", default="gmm-10000x32")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("VECBENCH_DATA", "datasets")).resolve())
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the repository and the runs' records here")
    args = parser.parse_args()
    args.data = args.data.resolve()

    with tempfile.TemporaryDirectory(prefix="vecbench-gate-") as tmp:
        root = args.keep.resolve() if args.keep else Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        repo = make_repo(root, args.dataset)
        print(f"gate benchmark: {args.dataset}, {args.samples} samples a side, factor "
              f"{args.factor:g}, alpha {args.alpha:g}; load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")

        print("\n1. plugin slowed 2x by design (current: 2 passes, reference HEAD~1: 1 pass)")
        slow = compare(repo, "HEAD~1", args, root / "ab-2x")
        print(f"  verdict {slow['verdict']} (exit {slow['returncode']}), "
              f"{slow['seconds']:.0f} s")
        show(slow)
        caught = {f["measure"] for f in slow["findings"] if f["status"] == "slower"}

        print(f"\n2. A/A: the unchanged plugin against itself, {args.aa} gate runs")
        git(repo, "checkout", "-q", "HEAD~1")  # the work tree = the reference commit
        comparisons = alarms = failed_runs = 0
        ratios: dict[str, list[float]] = {}
        for i in range(args.aa):
            rep = compare(repo, "HEAD", args, root / f"aa-{i + 1:02d}")
            flagged = [f for f in rep["findings"] if f["status"] != "same"]
            comparisons += len(rep["findings"])
            alarms += len(flagged)
            failed_runs += rep["returncode"] != 0
            for f in rep["findings"]:
                if f["ratio"] is not None:
                    ratios.setdefault(f["measure"], []).append(f["ratio"])
            print(f"  run {i + 1}: verdict {rep['verdict']}, {len(flagged)} flagged, "
                  f"{rep['seconds']:.0f} s")
            if flagged:
                show(rep)

        print("\nsummary")
        print(f"  2x slowdown caught on: {', '.join(sorted(caught)) or 'nothing'} "
              f"(gate exit {slow['returncode']})")
        for measure, values in sorted(ratios.items()):
            print(f"  A/A ratio {measure:<14} min {min(values):.3f}  max {max(values):.3f}")
        rate = alarms / comparisons if comparisons else math.nan
        print(f"  A/A false alarms: {alarms} of {comparisons} comparisons ({rate:.1%}; 95% "
              f"upper bound {upper95(alarms, comparisons):.1%}); {failed_runs} of {args.aa} "
              f"gate runs failed (95% upper bound {upper95(failed_runs, args.aa):.0%})")


if __name__ == "__main__":
    main()
