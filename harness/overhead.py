"""How much the harness itself costs: its reported figures against the same library timed bare.

``vecbench bench overhead`` builds a real index (faiss ``IndexFlatL2`` or hnswlib) and the
null index in one process, then interleaves, repetition by repetition:

- the library called bare in a plain loop (``perf_counter_ns`` around its own search call);
- the same library through its vecbench plugin, timed by the runner's own measuring code
  (:func:`harness.runner._measure_point`, exactly what a record holds);
- the null index through the runner's measuring code, and the same null calls in a bare
  loop (the harness's floor).

It prints the median batch throughput of both paths and their ratio, and what the harness
adds to each single-query latency it reports (null index as recorded, minus bare calls).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.config import RunSettings, Spec


@dataclass
class OverheadReport:
    """Medians over interleaved repetitions."""

    library: str
    n_queries: int
    bare_qps: float
    harness_qps: float
    bare_latency_us: float
    harness_latency_us: float
    null_latency_us: float
    null_bare_us: float

    @property
    def throughput_ratio(self) -> float:
        """Harness-reported QPS / bare QPS (1.0 = no overhead)."""
        return self.harness_qps / self.bare_qps

    @property
    def added_latency_us(self) -> float:
        """What the harness adds to each single-query latency it reports: the null index's
        latency as the harness records it, minus the same calls timed bare in a plain loop."""
        return self.null_latency_us - self.null_bare_us

    def lines(self) -> list[str]:
        added = self.harness_latency_us - self.bare_latency_us
        return [
            f"library: {self.library}, {self.n_queries} queries, medians of interleaved runs",
            f"batch QPS  bare {self.bare_qps:,.0f}  through harness {self.harness_qps:,.0f}  "
            f"ratio {self.throughput_ratio:.3f}",
            f"single-query mean latency  bare {self.bare_latency_us:.2f} us  through harness "
            f"{self.harness_latency_us:.2f} us  (+{added:.2f} us, plugin wrapper included)",
            f"null index: latency the harness reports {self.null_latency_us:.2f} us per query; "
            f"the same calls in a bare loop {self.null_bare_us:.2f} us; the harness adds "
            f"{self.added_latency_us:.2f} us per query",
        ]


def _bare_library(library: str, train: np.ndarray, params: dict[str, Any]) -> Any:
    if library == "faiss":
        import faiss

        faiss.omp_set_num_threads(1)
        index = faiss.IndexFlatL2(train.shape[1])
        index.add(train)
        return lambda q, k: index.search(q, k)
    import hnswlib

    index = hnswlib.Index(space="l2", dim=train.shape[1])
    index.init_index(max_elements=len(train), M=params.get("M", 16),
                     ef_construction=params.get("ef_construction", 100),
                     random_seed=params.get("seed", 0))
    index.add_items(train, num_threads=1)
    index.set_ef(params.get("ef", 40))
    index.set_num_threads(1)
    return lambda q, k: index.knn_query(q, k=k, num_threads=1)


def measure(library: str = "faiss", dataset: str = "gmm-100000x128", *, k: int = 10,
            repetitions: int = 5, data_dir: Any = None) -> OverheadReport:
    """Interleave bare and harness timings; return the medians."""
    from threadpoolctl import threadpool_limits

    from harness.data import load_dataset
    from harness.metrics import get_metric
    from harness.plugins import get_registry
    from harness.runner import _measure_point

    threadpool_limits(1)
    registry = get_registry()
    ds = load_dataset(dataset, data_dir)
    train, test = ds.train, ds.test
    metric = get_metric(ds.metric)
    plugin = "faiss" if library == "faiss" else "hnswlib"
    build = {} if library == "faiss" else {"M": 16, "ef_construction": 100}
    query = {} if library == "faiss" else {"ef": 40}
    info = registry.indexes.get(plugin)
    wrapped = info.factory(metric="euclidean", **build)
    wrapped.build(train)
    null = registry.indexes.get("null").factory(metric="euclidean")
    null.build(train)
    # the same graph as the wrapper's (hnswlib is deterministic on one thread for one seed)
    bare = _bare_library(library, train, {**wrapped.params, **build, **query})
    singles = [test[i:i + 1] for i in range(len(test))]
    settings = RunSettings(repetitions=1, latency_queries=-1, latency_repetitions=1)

    def spec(q: dict[str, Any], name: str) -> Spec:
        return Spec("search", dataset, name, {}, q, k, 0, settings=settings)

    bare_qps, harness_qps, bare_lat, harness_lat, null_lat, null_bare = [], [], [], [], [], []
    for _ in range(repetitions):
        bare(test, k)
        t0 = time.perf_counter_ns()
        bare(test, k)
        bare_qps.append(len(test) / ((time.perf_counter_ns() - t0) / 1e9))

        out = _measure_point(wrapped, spec(query, plugin), test, singles, train, metric, 1)
        harness_qps.append(len(test) / out["timing"]["batch_seconds"][0])
        harness_lat.append(float(np.mean(out["arrays"]["latencies"])) * 1e6)

        clock = time.perf_counter_ns
        lat = []
        for q in singles:
            t0 = clock()
            bare(q, k)
            lat.append(clock() - t0)
        bare_lat.append(float(np.mean(lat)) / 1e3)

        out = _measure_point(null, spec({}, "null"), test, singles, train, metric, 1)
        null_lat.append(float(np.mean(out["arrays"]["latencies"])) * 1e6)

        search = null.search
        t0 = clock()
        for q in singles:
            search(q, k)
        null_bare.append((clock() - t0) / 1e3 / len(singles))

    med = lambda xs: float(np.median(xs))  # noqa: E731
    return OverheadReport(library, len(test), med(bare_qps), med(harness_qps), med(bare_lat),
                          med(harness_lat), med(null_lat), med(null_bare))
