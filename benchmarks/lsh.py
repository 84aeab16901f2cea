"""Benchmark: the in-house LSH indexes against their peers, one thread, one process.

    python benchmarks/lsh.py                 # both parts (about 15 minutes on 2 cores)
    python benchmarks/lsh.py minhash         # MinHash LSH against datasketch MinHashLSH
    python benchmarks/lsh.py dense --quick   # hyperplane / p-stable, a smaller grid

MinHash part. ``lsh-minhash`` against datasketch ``MinHash`` + ``MinHashLSH`` at the same
``num_perm`` and threshold (so the same optimal (b, r)), end to end: MinHash of the base sets,
insertion, MinHash of the queries, query. Both then re-rank their candidates by exact Jaccard
and cut them to k (datasketch: a Python-set wrapper, as a vecbench plugin would do). Tokens
are given to datasketch as pre-encoded bytes (the encoding is not timed) and Python sets for
re-ranking are built beforehand (not timed). Data: seeded synthetic sets with controlled
overlap (topics of 100 tokens, each set a random 40-90 token subset of its topic plus noise),
and character 3-grams of ``/usr/share/dict/american-english`` (apt package ``wamerican``) if
present, 1,000 held-out words as queries. Reported: seconds per phase (medians over
repetitions, interleaved), the end-to-end ratio, candidate recall and precision against all
items with Jaccard >= threshold, and recall@k of the re-ranked answers against brute force.

Dense part. A seeded 100,000 x 128 Gaussian mixture (the recipe of vecbench's ``gmm-{n}x{d}``:
round(sqrt(n) / 10) clusters clipped to 10-50, centres N(0, 9 I), spreads U(0.5, 1.5),
Dirichlet(2) weights), 1,000 queries from the same mixture. ``lsh-hyperplane`` is measured under
the angular metric, ``lsh-pstable`` under euclidean, each against faiss ``IndexLSH`` (sign
bits after a random rotation, exhaustive Hamming scan, no re-ranking) over a sweep of nbits,
annoy over trees x search_k, and a numpy BLAS brute force. QPS is the median over repetitions
of a batch search of all queries (annoy: a Python loop of single queries, as it has no batch
call); recall@k counts returned ids whose true distance is within the k-th true distance.
The script prints every point, each method's Pareto frontier, the QPS ratio of the in-house
frontier over faiss's at faiss's recalls, and the best QPS at recall >= 0.9 of each method.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.types import SetData
from plugins.lsh import HyperplaneLSHIndex, PStableLSHIndex
from plugins.minhash import MinHashLSHIndex

WORDS = Path("/usr/share/dict/american-english")


def pin_one_thread() -> None:
    """BLAS, OpenMP (faiss) and numba pools to one thread."""
    import faiss
    import numba
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    faiss.omp_set_num_threads(1)
    numba.set_num_threads(1)


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of one call."""
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, time.process_time() - c0, out


# =========================================================================== sets


def synthetic_sets(n: int, nq: int, seed: int) -> tuple[list[list[int]], list[list[int]]]:
    """Sets with controlled overlap: each is a random 40-90 token subset of one of n/10
    topics of 100 tokens, plus 0-5 noise tokens. Sets of one topic have Jaccard ~0.2-0.8."""
    rng = np.random.default_rng(seed)
    n_topics = max(1, n // 10)
    vocab = 1 << 24
    topics = rng.integers(0, vocab, size=(n_topics, 100))

    def draw(count: int) -> list[list[int]]:
        out = []
        for topic in rng.integers(0, n_topics, size=count):
            size = int(rng.integers(40, 91))
            row = rng.choice(topics[topic], size, replace=False)
            noise = rng.integers(0, vocab, size=int(rng.integers(0, 6)))
            out.append(np.unique(np.concatenate([row, noise])).tolist())
        return out

    return draw(n), draw(nq)


def word_trigrams(nq: int, seed: int) -> tuple[list[str], list[str]] | None:
    """Lower-cased distinct words split into base words and ``nq`` held-out query words."""
    if not WORDS.exists():
        return None
    words = sorted({w.strip().lower() for w in WORDS.read_text(encoding="utf-8").split()
                    if w.strip()})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(len(words), nq, replace=False).tolist())
    base = [w for i, w in enumerate(words) if i not in held]
    queries = [w for i, w in enumerate(words) if i in held]
    return base, queries


def grams(word: str) -> list[str]:
    padded = f"${word}$"
    return sorted({padded[i:i + 3] for i in range(len(padded) - 2)})


def encode_words(base: list[str], queries: list[str]
                 ) -> tuple[list[list[int]], list[list[int]], list[list[bytes]], list[list[bytes]]]:
    vocab: dict[str, int] = {}
    as_ids = [[vocab.setdefault(g, len(vocab)) for g in grams(w)] for w in base]
    q_ids = [[vocab.setdefault(g, len(vocab)) for g in grams(w)] for w in queries]
    return (as_ids, q_ids, [[g.encode() for g in grams(w)] for w in base],
            [[g.encode() for g in grams(w)] for w in queries])


def to_csr(rows: list[list[int]], width: int) -> Any:
    from scipy.sparse import csr_matrix

    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r) for r in rows], out=indptr[1:])
    indices = np.concatenate([np.asarray(r, dtype=np.int64) for r in rows]) if rows else []
    return csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                      shape=(len(rows), width))


def jaccard_truth(base: list[list[int]], queries: list[list[int]], threshold: float, k: int
                  ) -> tuple[list[set[int]], np.ndarray]:
    """Brute force over all pairs (sparse products): the items with Jaccard >= threshold of
    each query, and each query's k-th smallest Jaccard distance."""
    width = 1 + max(max((max(r) for r in base if r), default=0),
                    max((max(r) for r in queries if r), default=0))
    X = to_csr(base, width)
    Q = to_csr(queries, width)
    xs = np.asarray(X.sum(axis=1)).ravel()
    above, kth = [], np.empty(len(queries))
    for s in range(0, len(queries), 100):
        inter = (Q[s:s + 100] @ X.T).toarray()
        qs = np.asarray(Q[s:s + 100].sum(axis=1)).ravel()
        union = qs[:, None] + xs[None, :] - inter
        sim = np.where(union > 0, inter / np.where(union > 0, union, 1), 1.0)
        for row in range(len(sim)):
            above.append(set(np.flatnonzero(sim[row] >= threshold).tolist()))
        dist = 1.0 - sim
        kth[s:s + len(sim)] = np.partition(dist, k - 1, axis=1)[:, k - 1]
    return above, kth


def set_recall(ids: list[list[int]], base: list[set], queries: list[set], kth: np.ndarray,
               k: int) -> float:
    """recall@k: returned ids whose exact Jaccard distance is within the k-th true one."""
    hits = 0
    for qi, row in enumerate(ids):
        for i in row[:k]:
            if i < 0:
                continue
            q, x = queries[qi], base[i]
            union = len(q | x)
            dist = 1.0 - (len(q & x) / union if union else 1.0)
            hits += dist <= kth[qi] + 1e-6 * abs(kth[qi]) + 1e-12
    return hits / (k * len(ids))


def candidate_scores(candidates: list[set[int]], above: list[set[int]]
                     ) -> tuple[float, float, int, int]:
    """Candidate recall and precision against the items with Jaccard >= threshold."""
    found = sum(len(c & a) for c, a in zip(candidates, above, strict=True))
    total_true = sum(len(a) for a in above)
    total_cand = sum(len(c) for c in candidates)
    return (found / total_true if total_true else float("nan"),
            found / total_cand if total_cand else float("nan"), total_true, total_cand)


def run_minhash_case(name: str, base: list[list[int]], queries: list[list[int]],
                     base_tokens: list[list[bytes]], query_tokens: list[list[bytes]],
                     threshold: float, num_perm: int, k: int, reps: int) -> None:
    from datasketch import MinHash, MinHashLSH

    base_sd, query_sd = SetData.from_lists(base), SetData.from_lists(queries)
    base_sets = [set(r) for r in base]
    query_sets = [set(r) for r in queries]
    above, kth = jaccard_truth(base, queries, threshold, k)

    def ours() -> dict[str, Any]:
        index = MinHashLSHIndex("jaccard", num_perm=num_perm, threshold=threshold)
        t_build, c_build, _ = timed(lambda: index.build(base_sd))
        index.set_query_params(min_candidates=0)
        t_query, c_query, out = timed(lambda: index.search(query_sd, k))
        return {"build": t_build, "query": t_query, "total": t_build + t_query,
                "cpu": c_build + c_query, "ids": out[0], "index": index}

    def datasketch() -> dict[str, Any]:
        lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        t_mh, c_mh, hashes = timed(lambda: MinHash.bulk(base_tokens, num_perm=num_perm))

        def insert() -> None:
            with lsh.insertion_session() as session:
                for i, m in enumerate(hashes):
                    session.insert(i, m, check_duplication=False)

        t_ins, c_ins, _ = timed(insert)
        t_qmh, c_qmh, q_hashes = timed(lambda: MinHash.bulk(query_tokens, num_perm=num_perm))
        t_q, c_q, cands = timed(lambda: [lsh.query(m) for m in q_hashes])

        def rerank() -> list[list[int]]:
            out = []
            for q, cand in zip(query_sets, cands, strict=True):
                scored = []
                for i in cand:
                    x = base_sets[i]
                    union = len(q | x)
                    scored.append((1.0 - (len(q & x) / union if union else 1.0), i))
                scored.sort()
                out.append([i for _, i in scored[:k]] + [-1] * max(0, k - len(scored)))
            return out

        t_rr, c_rr, ids = timed(rerank)
        return {"minhash": t_mh + t_qmh, "insert": t_ins, "query": t_q, "rerank": t_rr,
                "total": t_mh + t_ins + t_qmh + t_q + t_rr,
                "cpu": c_mh + c_ins + c_qmh + c_q + c_rr,
                "ids": ids, "candidates": [set(c) for c in cands], "b": lsh.b, "r": lsh.r}

    ours()  # compile the kernels (loaded from numba's cache after the first run)
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "datasketch": []}
    for rep in range(reps):
        order = ("ours", "datasketch") if rep % 2 == 0 else ("datasketch", "ours")
        for who in order:
            runs[who].append(ours() if who == "ours" else datasketch())

    def med(who: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[who])

    mine, peer = runs["ours"][0], runs["datasketch"][0]
    index = mine["index"]
    # in-house candidates, re-derived from k = n searches (plain banding, same index)
    index.set_query_params(min_candidates=0)
    all_ids, _ = index.search(query_sd, len(base))
    stats = index.query_stats()
    our_cands = [set(r[r >= 0].tolist()) for r in all_ids]
    o_rec, o_prec, n_true, o_n = candidate_scores(our_cands, above)
    d_rec, d_prec, _, d_n = candidate_scores(peer["candidates"], above)
    assert stats["true_above_threshold"] == n_true  # the index's own counter agrees
    print(f"\n[minhash] {name}: {len(base):,} sets, {len(queries):,} queries, "
          f"threshold {threshold}, num_perm {num_perm}, k {k}, reps {reps}")
    print(f"  bands x rows: ours {index.bands} x {index.rows}, datasketch {peer['b']} x "
          f"{peer['r']}")
    print(f"  ours       end-to-end {med('ours', 'total'):8.3f} s  (build = minhash + tables "
          f"{med('ours', 'build'):.3f} s, search = minhash + query + re-rank "
          f"{med('ours', 'query'):.3f} s), CPU {med('ours', 'cpu'):.3f} s")
    print(f"  datasketch end-to-end {med('datasketch', 'total'):8.3f} s  (minhash "
          f"{med('datasketch', 'minhash'):.3f} s, insert {med('datasketch', 'insert'):.3f} s, "
          f"query {med('datasketch', 'query'):.3f} s, re-rank "
          f"{med('datasketch', 'rerank'):.3f} s), CPU {med('datasketch', 'cpu'):.3f} s")
    no_rerank = (med("datasketch", "total") - med("datasketch", "rerank"))
    print(f"  speed-up: end to end {med('datasketch', 'total') / med('ours', 'total'):.1f}x "
          f"(CPU {med('datasketch', 'cpu') / med('ours', 'cpu'):.1f}x); datasketch without its "
          f"re-rank vs ours with it {no_rerank / med('ours', 'total'):.1f}x")
    print(f"  candidates >= threshold: {n_true:,} true pairs; candidate recall ours "
          f"{o_rec:.4f} datasketch {d_rec:.4f}; precision ours {o_prec:.4f} datasketch "
          f"{d_prec:.4f}; candidates per query ours {o_n / len(queries):.1f} datasketch "
          f"{d_n / len(queries):.1f}")
    r_ours = set_recall(mine["ids"].tolist(), base_sets, query_sets, kth, k)
    r_peer = set_recall(peer["ids"], base_sets, query_sets, kth, k)
    print(f"  recall@{k} after re-ranking: ours {r_ours:.4f} datasketch {r_peer:.4f}")
    for m in (10 * k, 100 * k):  # LSH-Forest style prefix shortening, same index
        index.set_query_params(min_candidates=m)
        wall, _, out = timed(lambda: index.search(query_sd, k))
        print(f"  ours with min_candidates={m}: recall@{k} "
              f"{set_recall(out[0].tolist(), base_sets, query_sets, kth, k):.4f}, search "
              f"{wall:.3f} s, candidates per query "
              f"{index.query_stats()['candidates'] / len(queries):.0f}")


def run_minhash(args: argparse.Namespace) -> None:
    base, queries = synthetic_sets(args.sets_n, args.nq, seed=1)
    for threshold in args.thresholds:
        run_minhash_case("synthetic topic sets", base, queries,
                         [[t.to_bytes(8, "little") for t in r] for r in base],
                         [[t.to_bytes(8, "little") for t in r] for r in queries],
                         threshold, args.num_perm, args.k, args.reps)
    words = word_trigrams(args.nq, seed=2)
    if words is None:
        print(f"\n[minhash] {WORDS} is absent (apt-get install wamerican): words skipped")
        return
    b_ids, q_ids, b_tok, q_tok = encode_words(*words)
    for threshold in args.thresholds:
        run_minhash_case("character 3-grams of words", b_ids, q_ids, b_tok, q_tok,
                         threshold, args.num_perm, args.k, args.reps)


# =========================================================================== dense


def gmm(n: int, d: int, nq: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Base vectors and queries of a seeded Gaussian mixture (the gmm-{n}x{d} recipe)."""
    rng = np.random.default_rng(seed)
    clusters = int(min(50, max(10, round(np.sqrt(n) / 10))))
    centres = rng.standard_normal((clusters, d)) * 3.0
    spreads = rng.uniform(0.5, 1.5, clusters)
    weights = rng.dirichlet(np.full(clusters, 2.0))

    def draw(m: int) -> np.ndarray:
        lab = rng.choice(clusters, size=m, p=weights)
        noise = rng.standard_normal((m, d)) * spreads[lab, None]
        return (centres[lab] + noise).astype(np.float32)

    return draw(n), draw(nq)


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def true_distances(base: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Exact float64 distances of every query to every base vector (blocks of queries)."""
    x = base.astype(np.float64)
    out = np.empty((len(queries), len(base)))
    if metric == "angular":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    xx = np.einsum("ij,ij->i", x, x)
    for s in range(0, len(queries), 100):
        q = queries[s:s + 100].astype(np.float64)
        if metric == "angular":
            q = q / np.linalg.norm(q, axis=1, keepdims=True)
            out[s:s + 100] = 1.0 - q @ x.T
        else:
            sq = np.einsum("ij,ij->i", q, q)[:, None] + xx[None, :] - 2.0 * q @ x.T
            out[s:s + 100] = np.sqrt(np.maximum(sq, 0.0))
    return out


def dense_recall(D: np.ndarray, kth: np.ndarray, ids: np.ndarray, k: int) -> float:
    got = np.take_along_axis(D, np.maximum(ids[:, :k], 0), axis=1)
    got[ids[:, :k] < 0] = np.inf
    ok = got <= kth[:, None] + 1e-6 * np.abs(kth[:, None]) + 1e-12  # as the harness
    return float(ok.sum() / (k * len(D)))


class Sweep:
    """Collects (method, config, recall, QPS) points of one metric."""

    def __init__(self, metric: str, D: np.ndarray, k: int, reps: int) -> None:
        self.metric, self.D, self.k, self.reps = metric, D, k, reps
        self.kth = np.partition(D, k - 1, axis=1)[:, k - 1]
        self.points: list[dict[str, Any]] = []

    def measure(self, method: str, config: str, search: Callable[[], np.ndarray],
                build_s: float = float("nan"),
                extra: Callable[[int], str] | None = None) -> float:
        """Time ``search`` (a warm-up pass, then ``reps`` timed ones) and record the point;
        ``extra(passes)`` is printed after the passes (e.g. per-query counters)."""
        ids = search()  # warm-up pass, scored
        recall = dense_recall(self.D, self.kth, ids, self.k)
        walls, cpus = [], []
        for _ in range(self.reps):
            wall, cpu, _ = timed(search)
            walls.append(wall)
            cpus.append(cpu)
        nq = len(self.D)
        qps = nq / statistics.median(walls)
        point = {"method": method, "config": config, "recall": recall, "qps": qps,
                 "cpu_qps": nq / statistics.median(cpus), "build_s": build_s}
        self.points.append(point)
        print(f"  {self.metric:9s} {method:14s} {config:34s} recall {recall:.3f}  QPS "
              f"{qps:8.0f} (CPU {point['cpu_qps']:8.0f})  build {build_s:6.2f} s "
              f"{extra(1 + self.reps) if extra else ''}", flush=True)
        return recall

    def frontier(self, method: str) -> list[tuple[float, float]]:
        pts = sorted(((p["recall"], p["qps"]) for p in self.points if p["method"] == method),
                     key=lambda t: (-t[0], -t[1]))
        out: list[tuple[float, float]] = []
        for r, q in pts:
            if not out or q > out[-1][1]:
                out.append((r, q))
        return out[::-1]

    def best_qps(self, method: str, recall: float) -> float:
        qs = [p["qps"] for p in self.points if p["method"] == method and p["recall"] >= recall]
        return max(qs) if qs else float("nan")

    def report(self, ours: str) -> None:
        print(f"\n  {self.metric}: Pareto frontiers (recall, QPS)")
        methods = sorted({p["method"] for p in self.points})
        for m in methods:
            pts = ", ".join(f"({r:.3f}, {q:.0f})" for r, q in self.frontier(m))
            print(f"    {m:14s} {pts}")
        print(f"  {self.metric}: in-house frontier against faiss IndexLSH at faiss's points "
              "(best in-house QPS at recall >= faiss's recall / faiss's QPS)")
        worst = float("inf")
        for r, q in self.frontier("faiss-IndexLSH"):
            mine = self.best_qps(ours, r)
            worst = min(worst, mine / q)
            print(f"    faiss recall {r:.3f} QPS {q:8.0f} -> {ours} {mine:8.0f}  "
                  f"ratio {mine / q:6.2f}")
        print(f"    smallest ratio {worst:.2f} ({'above' if worst > 1 else 'NOT above'} "
              "faiss's frontier everywhere)")
        for level in (0.5, 0.9, 0.95):
            cells = ", ".join(f"{m} {self.best_qps(m, level):.0f}" for m in methods)
            print(f"    best QPS at recall >= {level}: {cells}")
        a, o = self.best_qps("annoy", 0.9), self.best_qps(ours, 0.9)
        print(f"    at recall >= 0.9: {ours} / annoy QPS ratio {o / a:.2f}")


def run_dense_family(family: str, base: np.ndarray, queries: np.ndarray, args: argparse.Namespace
                     ) -> None:
    import faiss
    from annoy import AnnoyIndex

    metric = "angular" if family == "hyperplane" else "euclidean"
    D = true_distances(base, queries, metric)
    sweep = Sweep(metric, D, args.k, args.reps)
    k = args.k
    cls = HyperplaneLSHIndex if family == "hyperplane" else PStableLSHIndex
    ours = f"lsh-{family}"
    print(f"\n[dense] {ours} ({metric}), {len(base):,} x {base.shape[1]}, "
          f"{len(queries):,} queries, k={k}, reps {args.reps}")
    # automatic k at three table counts, then larger k for the fast, low-recall end
    configs = ([(0, 8), (0, 16), (24, 16)] if args.quick
               else [(0, 8), (0, 16), (0, 32), (24, 16), (32, 8), (48, 4)])
    if family == "pstable":
        configs = ([(0, 8), (0, 16), (14, 16)] if args.quick
                   else [(0, 8), (0, 16), (0, 32), (14, 16), (20, 8), (28, 4)])
    warm = cls(tables=2)
    t0 = time.perf_counter()
    warm.warmup(base[:64])
    print(f"  jit / cache load {time.perf_counter() - t0:.2f} s (not counted in build)")
    for k_hash, tables in configs:
        index = cls(hashes_per_table=k_hash, tables=tables, seed=0)
        build_s, _, _ = timed(lambda: index.build(base))  # noqa: B023
        for probes in (1, 2, 4, 8, 16, 32):
            index.set_query_params(probes=probes)
            recall = sweep.measure(
                ours, f"k={index.k_hash} L={tables} probes={probes}",
                lambda: index.search(queries, k)[0], build_s,  # noqa: B023
                lambda passes, ix=index: "cand/q {:7.0f}".format(
                    ix.query_stats()["candidates"] / passes / len(queries)))
            if recall >= 0.995:
                break
    # faiss IndexLSH: sign bits after a random rotation, Hamming scan of every code
    xs, qs = (unit(base), unit(queries)) if metric == "angular" else (base, queries)
    for nbits in ((64, 256, 1024) if args.quick else (32, 64, 128, 256, 512, 1024, 2048)):
        index = faiss.IndexLSH(base.shape[1], nbits, True, metric == "euclidean")
        build_s, _, _ = timed(lambda: (index.train(xs), index.add(xs)))  # noqa: B023
        sweep.measure("faiss-IndexLSH", f"nbits={nbits}",
                      lambda: index.search(qs, k)[1], build_s)  # noqa: B023
    # annoy: trees x search_k, single queries in a loop
    for n_trees in ((16,) if args.quick else (16, 64)):
        ann = AnnoyIndex(base.shape[1], metric)
        for i, row in enumerate(base):
            ann.add_item(i, row)
        ann.set_seed(0)
        build_s, _, _ = timed(lambda: ann.build(n_trees, n_jobs=1))  # noqa: B023
        qlist = [q.tolist() for q in queries]
        for search_k in (500, 2000, 8000, 32000, 128000):
            sweep.measure(
                "annoy", f"trees={n_trees} search_k={search_k}",
                lambda: np.array([(ann.get_nns_by_vector(q, k, search_k)  # noqa: B023
                                   + [-1] * k)[:k] for q in qlist]), build_s)  # noqa: B023
    # numpy BLAS brute force, for scale
    xb = xs.astype(np.float32)
    xb_sq = np.einsum("ij,ij->i", xb, xb)

    def brute() -> np.ndarray:
        out = np.empty((len(qs), k), dtype=np.int64)
        for s in range(0, len(qs), 128):
            scores = qs[s:s + 128] @ xb.T
            scores *= -2.0
            scores += xb_sq
            out[s:s + 128] = np.argpartition(scores, k - 1, axis=1)[:, :k]
        return out

    sweep.measure("numpy-brute", "BLAS, blocks of 128", brute)
    sweep.report(ours)


def run_dense(args: argparse.Namespace) -> None:
    base, queries = gmm(args.n, args.d, args.nq, seed=0)
    for family in ("hyperplane", "pstable"):
        run_dense_family(family, base, queries, args)


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", nargs="?", choices=("all", "dense", "minhash"), default="all")
    ap.add_argument("--n", type=int, default=100_000, help="dense base vectors")
    ap.add_argument("--d", type=int, default=128, help="dense dimension")
    ap.add_argument("--nq", type=int, default=1000, help="queries (both parts)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3, help="timed repetitions per point")
    ap.add_argument("--sets-n", type=int, default=50_000, help="synthetic base sets")
    ap.add_argument("--num-perm", type=int, default=128)
    ap.add_argument("--thresholds", type=float, nargs="+", default=[0.5])
    ap.add_argument("--quick", action="store_true", help="smaller dense grids")
    args = ap.parse_args(argv)
    pin_one_thread()
    if args.part in ("all", "minhash"):
        run_minhash(args)
    if args.part in ("all", "dense"):
        run_dense(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
