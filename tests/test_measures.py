"""Measures against the golden cases of ann-benchmarks / big-ann-benchmarks (reference doc)."""

from __future__ import annotations

import numpy as np
import pytest

from plugins import measures as m


def _pad(rows, k):
    out = np.full((len(rows), k), np.inf)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


@pytest.mark.parametrize(
    ("run", "expected"),
    [([], 0.0), ([0.2, 0.3], 0.5), ([0.2], 0.5), ([0.2, 0.25], 1.0)],
)
def test_recall_golden_cases_of_ann_benchmarks(run, expected):
    exact = np.array([[0.1, 0.25]])
    got = m.recall_per_query(_pad([run], 2), exact, 2)
    assert got[0] == pytest.approx(expected)


@pytest.mark.parametrize(("eps", "expected"), [(1e-4, 0.5), (1.0, 0.75), (2.0, 1.0)])
def test_epsilon_recall_golden_cases(eps, expected):
    exact = np.array([[0.05, 0.08, 0.24, 0.3]])
    run = np.array([[0.1, 0.2, 0.55, 0.7]])
    assert m.epsilon_recall_per_query(run, exact, 4, eps)[0] == pytest.approx(expected)


def test_rel_golden_cases():
    exact = np.array([[0.1, 0.2, 0.25, 0.3]])
    assert m.rel(np.array([[0.1, 0.2, 0.55, 0.9]]), exact, 4) == pytest.approx(1.75 / 0.85)
    assert m.rel(_pad([[]], 4), exact, 4) == float("inf")
    assert m.rel(exact.copy(), exact, 4) == pytest.approx(1.0)


def test_rel_truncates_ground_truth_to_k():
    # ann-benchmarks sums the whole GT row; vecbench truncates both sides to k
    exact = np.array([[1.0, 2.0, 3.0, 100.0]])
    assert m.rel(np.array([[1.0, 2.0]]), exact, 2) == pytest.approx(1.0)


def test_distance_recall_credits_ties_not_in_ground_truth_ids():
    # k=2, GT distances 1, 2, 2: returning the third item (a tie) is a hit
    gt_d = np.array([[1.0, 2.0, 2.0]])
    assert m.recall_per_query(np.array([[1.0, 2.0]]), gt_d, 2)[0] == 1.0


def test_distance_recall_tolerance_is_relative_for_negative_inner_products():
    gt_d = np.array([[-10.0, -5.0]])
    # just inside the relative slack, and clearly outside it
    inside = -5.0 + 5.0 * 1e-7
    outside = -5.0 + 5.0 * 1e-5
    assert m.recall_per_query(np.array([[-10.0, inside]]), gt_d, 2)[0] == 1.0
    assert m.recall_per_query(np.array([[-10.0, outside]]), gt_d, 2)[0] == 0.5


def test_id_recall_with_ties_extends_ground_truth_like_big_ann():
    gt_ids = np.array([[0, 1, 2, 3]])
    gt_d = np.array([[0.1, 0.5, 0.5, 0.9]])
    # k=2: id 2 ties the 2nd neighbour, so it counts; id 3 does not
    assert m.recall_ids_ties_per_query(np.array([[0, 2]]), gt_ids, gt_d, 2)[0] == 1.0
    assert m.recall_ids_ties_per_query(np.array([[0, 3]]), gt_ids, gt_d, 2)[0] == 0.5
    # without ties the tie is a miss
    assert m.recall_ids_per_query(np.array([[0, 2]]), gt_ids, 2)[0] == 0.5
    assert m.queries_with_ties(gt_d, 2) == 1


def test_id_recalls_match_their_set_definitions_on_random_answers_with_ties():
    # the measures are vectorised; the oracle is the definition with Python sets
    rng = np.random.default_rng(3)
    nq, k, depth, n = 300, 10, 25, 60
    gt_ids = np.array([rng.permutation(n)[:depth] for _ in range(nq)])
    gt_d = np.sort(rng.integers(0, 6, (nq, depth)).astype(np.float64), axis=1)  # many ties
    res = np.array([rng.permutation(n)[:k] for _ in range(nq)])
    res[rng.random((nq, k)) < 0.1] = -1
    res[::7, :4] = gt_ids[::7, :4]  # some queries answer partly right
    for q in range(nq):
        end = k
        while end < depth and abs(gt_d[q, end] - gt_d[q, k - 1]) < m.TIE_EPS:
            end += 1
        got = {int(i) for i in res[q] if i >= 0}
        assert m.recall_ids_ties_per_query(res[q:q + 1], gt_ids[q:q + 1], gt_d[q:q + 1],
                                           k)[0] == len(got & set(gt_ids[q, :end])) / k
        assert m.recall_ids_per_query(res[q:q + 1], gt_ids[q:q + 1], k)[0] == \
            len(got & set(gt_ids[q, :k])) / k
    whole = m.recall_ids_ties_per_query(res, gt_ids, gt_d, k)
    assert np.array_equal(whole, np.concatenate([
        m.recall_ids_ties_per_query(res[q:q + 1], gt_ids[q:q + 1], gt_d[q:q + 1], k)
        for q in range(nq)]))
    assert 0 < whole.mean() < 1


def test_id_recall_ignores_missing_results():
    gt_ids = np.array([[4, 5]])
    assert m.recall_ids_per_query(np.array([[4, -1]]), gt_ids, 2)[0] == 0.5


def test_latency_percentiles_and_p999_needs_ten_thousand_calls():
    from harness import MeasureContext

    lat = np.linspace(0.001, 0.002, 101)
    ctx = MeasureContext(k=1, result_ids=np.zeros((1, 1), int), result_distances=np.zeros((1, 1)),
                         gt_ids=np.zeros((1, 1), int), gt_distances=np.zeros((1, 1)), signed=False,
                         batch_seconds=np.array([2.0, 1.0, 4.0]), latencies_seconds=lat,
                         n_queries=100)
    by_name = {info.name: info for info in m.MEASURES}
    assert by_name["p50_ms"].compute(ctx) == pytest.approx(np.percentile(lat, 50) * 1e3)
    assert by_name["p99_ms"].compute(ctx) == pytest.approx(np.percentile(lat, 99) * 1e3)
    assert by_name["p999_ms"].compute(ctx) is None
    # qps is the median of per-repetition throughputs: 100 / median(2, 1, 4) = 50
    assert by_name["qps"].compute(ctx) == pytest.approx(50.0)
    assert by_name["qps_mean_latency"].compute(ctx) == pytest.approx(1 / lat.mean())
