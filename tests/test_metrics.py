"""Built-in metrics and the metric resolver, checked against external oracles.

Oracles: the golden cases of ann-benchmarks' distance tests (literal numbers), scipy's
``cdist`` (dense metrics, hamming on unpacked bits, jaccard on indicator vectors), plain Python
sets, closed forms, central finite differences, and the metric axioms.
"""

from __future__ import annotations

import math
from decimal import Decimal, localcontext

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from harness import DataKind, InvalidInputError, MetricInfo, Param, SetData, UnknownNameError
from harness.metrics import (
    BoundMetric,
    check_metric_inputs,
    get_metric,
    metric_names,
    parse_metric_spec,
)
from harness.plugins import get_registry
from harness.registry import Registry

DENSE_SPECS = ["euclidean", "sqeuclidean", "angular", "ip", "manhattan", "chebyshev",
               "minkowski:p=0.5", "minkowski:p=1", "minkowski:p=1.5", "minkowski",
               "minkowski:p=3", "minkowski:p=inf", "correlation"]
ALL_SPECS = [*DENSE_SPECS, "hamming", "hamming-normalized", "jaccard"]

# spec -> (scipy cdist metric, its keyword arguments)
SCIPY = {
    "euclidean": ("euclidean", {}),
    "sqeuclidean": ("sqeuclidean", {}),
    "angular": ("cosine", {}),
    "ip": (lambda u, v: -float(np.dot(u, v)), {}),
    "manhattan": ("cityblock", {}),
    "chebyshev": ("chebyshev", {}),
    "minkowski:p=0.5": ("minkowski", {"p": 0.5}),
    "minkowski:p=1": ("minkowski", {"p": 1.0}),
    "minkowski:p=1.5": ("minkowski", {"p": 1.5}),
    "minkowski": ("minkowski", {"p": 2.0}),
    "minkowski:p=3": ("minkowski", {"p": 3.0}),
    "minkowski:p=inf": ("chebyshev", {}),
    "correlation": ("correlation", {}),
}
TRANSLATION_INVARIANT = ["euclidean", "sqeuclidean", "manhattan", "chebyshev",
                         "minkowski:p=0.5", "minkowski:p=1.5", "minkowski", "minkowski:p=3"]


def pack(bits: list[list[int]] | np.ndarray) -> np.ndarray:
    """Bit-pack rows of 0/1, least significant bit first (the vecbench binary layout)."""
    return np.packbits(np.asarray(bits, dtype=np.uint8), axis=1, bitorder="little")


def random_sets(rng: np.random.Generator, n: int, vocab: int, max_size: int) -> list[list[int]]:
    return [sorted(rng.choice(vocab, size=int(rng.integers(0, max_size + 1)), replace=False)
                   .tolist()) for _ in range(n)]


def sample_points(spec: str, rng: np.random.Generator, n: int) -> object:
    """Random inputs of the metric's data kind, with duplicates and degenerate rows mixed in."""
    kind = get_metric(spec).data_kind
    if kind is DataKind.DENSE:
        z = rng.normal(size=(n, 5))
        z[1] = 0.0                 # zero vector (angular convention)
        z[2] = 3.0                 # constant row (correlation convention)
        z[3] = z[4]                # duplicate
        z[5] = 2.5 * z[6]          # same direction
        return z
    if kind is DataKind.BINARY:
        b = pack(rng.integers(0, 2, size=(n, 24)))
        b[1] = 0
        b[3] = b[4]
        return b
    sets = random_sets(rng, n, vocab=12, max_size=6)
    sets[1] = []
    sets[2] = []
    sets[3] = sets[4]
    return SetData.from_lists(sets)


# --------------------------------------------------------------------------- golden cases


def test_golden_euclidean() -> None:
    m = get_metric("euclidean")
    assert m.pairwise([[0, 1, 0]], [[2, 0, 0]])[0, 0] == pytest.approx(math.sqrt(5), rel=1e-15)
    assert m.rowwise([[0, 1, 0]], [[2, 0, 0]])[0] == pytest.approx(math.sqrt(5), rel=1e-15)


def test_golden_hamming() -> None:
    # ann-benchmarks: hamming([1,1,0,0], [1,0,0,1]) = 0.5 (normalised). Repeating the 4-bit
    # pattern fills one byte without changing the fraction; zero padding keeps the count (2).
    a, b = [1, 1, 0, 0], [1, 0, 0, 1]
    m = get_metric("hamming-normalized")
    assert m.pairwise(pack([a + a]), pack([b + b]))[0, 0] == 0.5
    assert m.rowwise(pack([a + a]), pack([b + b]))[0] == 0.5
    count = get_metric("hamming")
    assert count.pairwise(pack([a + [0] * 4]), pack([b + [0] * 4]))[0, 0] == 0.5 * 4
    assert count.rowwise(pack([a + [0] * 4]), pack([b + [0] * 4]))[0] == 0.5 * 4


@pytest.mark.parametrize(("x", "y", "expected"), [
    ([5, 0], [0, 3], 1.0), ([5, 0], [1, 0], 0.0), ([7, 0], [-8, 0], 2.0)])
def test_golden_angular(x: list[float], y: list[float], expected: float) -> None:
    m = get_metric("angular")
    assert m.pairwise([x], [y])[0, 0] == pytest.approx(expected, abs=1e-15)
    assert m.rowwise([x], [y])[0] == pytest.approx(expected, abs=1e-15)
    assert get_metric("cosine").pairwise([x], [y])[0, 0] == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("a", "b", "similarity"), [
    ([1, 2, 3, 4], [], 0.0), ([1, 2, 3, 4], [1, 2, 3, 4], 1.0), ([1, 2, 3, 4], [1, 2], 0.5),
    ([1, 2], [5, 6], 0.0)])
def test_golden_jaccard(a: list[int], b: list[int], similarity: float) -> None:
    m = get_metric("jaccard")
    x, y = SetData.from_lists([a]), SetData.from_lists([b])
    assert m.pairwise(x, y)[0, 0] == 1.0 - similarity
    assert m.pairwise(y, x)[0, 0] == 1.0 - similarity
    assert m.rowwise(x, y)[0] == 1.0 - similarity


# --------------------------------------------------------------------------- peers


@pytest.mark.parametrize("spec", DENSE_SPECS)
@pytest.mark.parametrize(("nx", "ny", "d"), [(1, 1, 1), (5, 7, 3), (40, 30, 17), (64, 50, 128)])
def test_dense_matches_scipy_cdist(spec: str, nx: int, ny: int, d: int) -> None:
    rng = np.random.default_rng(nx * 1000 + d)
    x, y = rng.normal(size=(nx, d)), rng.normal(size=(ny, d))
    if spec == "correlation" and d == 1:
        # 1-D rows are constant and 2-D rows have correlation ±1 exactly
        x, y = rng.normal(size=(nx, 3)), rng.normal(size=(ny, 3))
    scipy_metric, kwargs = SCIPY[spec]
    expected = cdist(x, y, scipy_metric, **kwargs)
    got = get_metric(spec).pairwise(x, y)
    assert got.dtype == np.float64 and got.shape == (nx, ny)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    rows = min(nx, ny)
    np.testing.assert_allclose(get_metric(spec).rowwise(x[:rows], y[:rows]),
                               np.diag(expected[:rows, :rows]), rtol=1e-12, atol=0)


@pytest.mark.parametrize("spec", TRANSLATION_INVARIANT)
def test_far_from_origin_and_near_duplicates(spec: str) -> None:
    # a common offset and tiny differences: the |x|² + |y|² − 2x·y form would cancel badly
    rng = np.random.default_rng(7)
    base = 1e4 + rng.normal(size=(30, 16))
    x = base[:10] + 1e-7 * rng.normal(size=(10, 16))
    y = np.vstack([base[:10], base[10:] + rng.normal(size=(20, 16))])
    scipy_metric, kwargs = SCIPY[spec]
    np.testing.assert_allclose(get_metric(spec).pairwise(x, y), cdist(x, y, scipy_metric,
                                                                      **kwargs),
                               rtol=1e-12, atol=0)


def test_float32_and_integer_inputs_are_upcast() -> None:
    rng = np.random.default_rng(3)
    x32 = rng.normal(size=(6, 9)).astype(np.float32)
    xi = rng.integers(-5, 5, size=(6, 9))
    for spec in ("euclidean", "angular", "manhattan"):
        scipy_metric, kwargs = SCIPY[spec]
        m = get_metric(spec)
        np.testing.assert_allclose(m.pairwise(x32, x32[::-1]),
                                   cdist(x32.astype(np.float64), x32[::-1].astype(np.float64),
                                         scipy_metric, **kwargs), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(m.pairwise(xi, xi[::-1]),
                                   cdist(xi.astype(np.float64), xi[::-1].astype(np.float64),
                                         scipy_metric, **kwargs), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("nbits", [8, 24, 64, 72, 256])
def test_hamming_matches_scipy_on_unpacked_bits(nbits: int) -> None:
    rng = np.random.default_rng(nbits)
    bx, by = rng.integers(0, 2, size=(23, nbits)), rng.integers(0, 2, size=(31, nbits))
    expected = cdist(bx.astype(bool), by.astype(bool), "hamming")  # a fraction
    x, y = pack(bx), pack(by)
    np.testing.assert_allclose(get_metric("hamming").pairwise(x, y), expected * nbits,
                               rtol=1e-12)
    np.testing.assert_allclose(get_metric("hamming-normalized").pairwise(x, y), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(get_metric("hamming").rowwise(x[:20], y[:20]),
                               np.diag(expected[:20, :20]) * nbits, rtol=1e-12)


def test_jaccard_matches_python_sets_and_scipy() -> None:
    rng = np.random.default_rng(11)
    a_lists = [*random_sets(rng, 40, vocab=30, max_size=12), []]
    b_lists = [*random_sets(rng, 35, vocab=30, max_size=12), [], [7]]
    a_lists[5] = b_lists[5]

    def jaccard(p: list[int], q: list[int]) -> float:
        union = set(p) | set(q)
        return 1.0 - len(set(p) & set(q)) / len(union) if union else 0.0

    expected = np.array([[jaccard(p, q) for q in b_lists] for p in a_lists])
    m = get_metric("jaccard")
    x, y = SetData.from_lists(a_lists), SetData.from_lists(b_lists)
    np.testing.assert_allclose(m.pairwise(x, y), expected, rtol=1e-15, atol=0)
    n = min(len(a_lists), len(b_lists))
    np.testing.assert_allclose(m.rowwise(x[:n], y[:n]), np.diag(expected[:n, :n]),
                               rtol=1e-15, atol=0)

    def indicator(lists: list[list[int]]) -> np.ndarray:
        out = np.zeros((len(lists), 30), dtype=bool)
        for i, s in enumerate(lists):
            out[i, s] = True
        return out

    # scipy's boolean jaccard: both-empty -> 0, the convention vecbench documents
    np.testing.assert_allclose(m.pairwise(x, y),
                               cdist(indicator(a_lists), indicator(b_lists), "jaccard"),
                               rtol=1e-15, atol=0)


def test_jaccard_with_large_and_negative_tokens() -> None:
    x = SetData.from_lists([[-5, 0, 2_000_000_000], [3], []])
    y = SetData.from_lists([[-5, 2_000_000_000], [-7], [3, 4]])
    expected = np.array([[1 - 2 / 3, 1.0, 1.0], [1.0, 1.0, 0.5], [1.0, 1.0, 1.0]])
    np.testing.assert_allclose(get_metric("jaccard").pairwise(x, y), expected, rtol=1e-15)


# --------------------------------------------------------------------------- axioms and flags


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_rowwise_equals_diagonal_of_pairwise(spec: str) -> None:
    rng = np.random.default_rng(5)
    x, y = sample_points(spec, rng, 25), sample_points(spec, rng, 25)
    m = get_metric(spec)
    np.testing.assert_allclose(m.rowwise(x, y), np.diag(m.pairwise(x, y)), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_metric_axioms_on_random_triples(spec: str) -> None:
    m = get_metric(spec)
    z = sample_points(spec, np.random.default_rng(17), 30)
    dist = m.pairwise(z, z)
    assert not np.isnan(dist).any()
    if m.symmetric:
        np.testing.assert_allclose(dist, dist.T, rtol=1e-12, atol=1e-15)
    if not m.signed:
        assert (dist >= 0).all()
        # identity: exactly zero, in pairwise (diagonal) and rowwise forms
        assert (np.diag(dist) == 0).all()
        assert (m.rowwise(z, z) == 0).all()
    if m.triangle_inequality:
        lhs = dist[:, None, :]                       # d(a, c)
        rhs = dist[:, :, None] + dist[None, :, :]    # d(a, b) + d(b, c)
        assert (lhs <= rhs * (1 + 1e-12) + 1e-12).all()


# Counter-examples for every metric that does not declare the triangle inequality.
TRIANGLE_COUNTER_EXAMPLES = {
    "ip": ([[1.0]], [[1.0]], [[1.0]]),                           # -1 > -1 + -1
    "minkowski:p=0.5": ([[0.0, 0.0]], [[1.0, 0.0]], [[1.0, 1.0]]),  # 4 > 1 + 1
    "sqeuclidean": ([[0.0]], [[1.0]], [[2.0]]),                  # 4 > 1 + 1
    "angular": ([[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 1.0]]),       # 1 > 2 (1 − 1/√2)
    "correlation": ([[1.0, 0.0, 0.0]], [[1.0, 1.0, 0.0]], [[0.0, 1.0, 0.0]]),
}


@pytest.mark.parametrize("spec", ALL_SPECS)
def test_triangle_flag_is_honest(spec: str) -> None:
    m = get_metric(spec)
    if m.triangle_inequality:
        assert spec not in TRIANGLE_COUNTER_EXAMPLES
        return
    a, b, c = TRIANGLE_COUNTER_EXAMPLES[spec]
    assert m.pairwise(a, c)[0, 0] > m.pairwise(a, b)[0, 0] + m.pairwise(b, c)[0, 0]


def test_declared_flags() -> None:
    expected = {  # name: (triangle, symmetric, signed, blas, data kind)
        "euclidean": (True, True, False, "l2", DataKind.DENSE),
        "sqeuclidean": (False, True, False, "l2", DataKind.DENSE),
        "angular": (False, True, False, "cos", DataKind.DENSE),
        "ip": (False, True, True, "ip", DataKind.DENSE),
        "manhattan": (True, True, False, None, DataKind.DENSE),
        "chebyshev": (True, True, False, None, DataKind.DENSE),
        "minkowski": (True, True, False, "l2", DataKind.DENSE),
        "minkowski:p=3": (True, True, False, None, DataKind.DENSE),
        "minkowski:p=0.5": (False, True, False, None, DataKind.DENSE),
        "correlation": (False, True, False, None, DataKind.DENSE),
        "hamming": (True, True, False, None, DataKind.BINARY),
        "hamming-normalized": (True, True, False, None, DataKind.BINARY),
        "jaccard": (True, True, False, None, DataKind.SETS),
    }
    for spec, flags in expected.items():
        m = get_metric(spec)
        assert (m.triangle_inequality, m.symmetric, m.signed, m.blas, m.data_kind) == flags, spec
    assert set(metric_names()) >= {s.split(":")[0] for s in expected}


def test_ip_distance_is_negative_dot() -> None:
    m = get_metric("dot")
    assert m.name == "ip"
    assert m.pairwise([[1.0, 2.0]], [[3.0, -4.0], [1.0, 1.0]]).tolist() == [[5.0, -3.0]]


def test_blas_forms_rank_like_their_metric() -> None:
    rng = np.random.default_rng(23)
    x, y = rng.normal(size=(8, 10)), rng.normal(size=(200, 10))
    forms = {
        "l2": lambda: (x * x).sum(1)[:, None] + (y * y).sum(1)[None, :] - 2 * x @ y.T,
        "ip": lambda: -x @ y.T,
        "cos": lambda: -(x / np.linalg.norm(x, axis=1, keepdims=True))
        @ (y / np.linalg.norm(y, axis=1, keepdims=True)).T,
    }
    for spec in ("euclidean", "sqeuclidean", "ip", "angular", "minkowski:p=2"):
        m = get_metric(spec)
        assert m.blas is not None
        order = np.argsort(m.pairwise(x, y), axis=1)
        np.testing.assert_array_equal(order, np.argsort(forms[m.blas](), axis=1))


# --------------------------------------------------------------------------- conventions


def test_zero_vectors_under_angular_and_constant_rows_under_correlation() -> None:
    ang = get_metric("angular")
    z = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_array_equal(ang.pairwise(z, z), [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    np.testing.assert_array_equal(ang.rowwise(z, z[::-1]), [0, 0, 0])
    np.testing.assert_array_equal(ang.rowwise(z, [[1, 1], [0, 0], [1, 0]]), [1, 1, 1])
    np.testing.assert_array_equal(ang.gradient(z[:2], [[1.0, 2.0], [0.0, 0.0]]), 0.0)
    corr = get_metric("correlation")
    c = np.array([[0.1, 0.1, 0.1], [2.0, 2.0, 2.0], [1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(corr.pairwise(c, c), [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    np.testing.assert_array_equal(corr.gradient(c[:2], c[1:]), 0.0)


def test_angular_is_half_squared_euclidean_on_unit_vectors() -> None:
    rng = np.random.default_rng(29)
    u = rng.normal(size=(12, 6))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = u[::-1] + 1e-9 * rng.normal(size=(12, 6))  # includes nearly parallel pairs
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    expected = cdist(u, v, "sqeuclidean") / 2
    np.testing.assert_allclose(get_metric("angular").pairwise(u, v), expected, rtol=1e-6,
                               atol=1e-15)


def _one_minus_cos_decimal(x: np.ndarray, y: np.ndarray, centre: bool) -> float:
    """1 − cos (or 1 − Pearson correlation) at 60 significant digits."""
    with localcontext() as ctx:
        ctx.prec = 60
        dx, dy = [Decimal(float(v)) for v in x], [Decimal(float(v)) for v in y]
        if centre:
            mx, my = sum(dx) / len(dx), sum(dy) / len(dy)
            dx, dy = [v - mx for v in dx], [v - my for v in dy]
        dot = sum(a * b for a, b in zip(dx, dy, strict=True))
        norms = sum(a * a for a in dx).sqrt() * sum(b * b for b in dy).sqrt()
        return float(1 - dot / norms)


@pytest.mark.parametrize(("spec", "centre"), [("angular", False), ("correlation", True)])
def test_nearly_parallel_vectors_keep_their_digits(spec: str, centre: bool) -> None:
    # 1 − cos of nearly parallel vectors is ~1e-14: the form 1 − x·y/(|x||y|) keeps no
    # significant digit of it, the |x̂ − ŷ|²/2 refinement keeps most of them
    rng = np.random.default_rng(37)
    x = rng.normal(size=(6, 8)) + 5.0
    y = x + 1e-7 * rng.normal(size=(6, 8))
    expected = np.array([[_one_minus_cos_decimal(a, b, centre) for b in y] for a in x])
    m = get_metric(spec)
    np.testing.assert_allclose(m.pairwise(x, y), expected, rtol=1e-6)
    np.testing.assert_allclose(m.rowwise(x, y), np.diag(expected), rtol=1e-6)


def test_minkowski_closed_forms_and_no_overflow() -> None:
    m = get_metric("minkowski:p=50")
    # (a, a, 0) vs 0: (2 a^50)^(1/50) = a * 2^(1/50), with a^50 far beyond float64's range
    a = 1e10
    got = m.pairwise([[a, a, 0.0]], [[0.0, 0.0, 0.0]])[0, 0]
    assert got == pytest.approx(a * 2 ** (1 / 50), rel=1e-13)
    assert m.rowwise([[a, a, 0.0]], [[0.0, 0.0, 0.0]])[0] == pytest.approx(a * 2 ** (1 / 50),
                                                                            rel=1e-13)
    tiny = get_metric("minkowski:p=0.25").pairwise([[1e-300, 1e-300]], [[0.0, 0.0]])[0, 0]
    assert tiny == pytest.approx(1e-300 * 2 ** 4, rel=1e-12)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("spec", DENSE_SPECS)
def test_gradient_matches_central_differences(spec: str) -> None:
    rng = np.random.default_rng(31)
    q, x = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    m = get_metric(spec)
    grad = m.gradient(q, x)
    assert grad.shape == q.shape and grad.dtype == np.float64
    h = 1e-6
    numeric = np.empty_like(q)
    for k in range(q.shape[1]):
        step = np.zeros_like(q)
        step[:, k] = h
        numeric[:, k] = (m.rowwise(q + step, x) - m.rowwise(q - step, x)) / (2 * h)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-7)


def test_gradient_subgradient_conventions() -> None:
    q = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_array_equal(get_metric("euclidean").gradient(q, q), [[0, 0, 0]])
    np.testing.assert_array_equal(get_metric("minkowski:p=3").gradient(q, q), [[0, 0, 0]])
    np.testing.assert_array_equal(get_metric("manhattan").gradient(q, [[1.0, 0.0, 5.0]]),
                                  [[0, 1, -1]])
    np.testing.assert_array_equal(get_metric("minkowski:p=0.5").gradient(q, [[1.0, 0.0, 5.0]])
                                  [0, 0], 0.0)
    # chebyshev: the first coordinate of largest |q − x|
    np.testing.assert_array_equal(get_metric("chebyshev").gradient(q, [[0.0, 4.0, 3.0]]),
                                  [[0, -1, 0]])
    np.testing.assert_array_equal(get_metric("ip").gradient(q, [[4.0, 5.0, 6.0]]),
                                  [[-4, -5, -6]])


def test_gradient_of_a_metric_without_one_is_a_clear_error() -> None:
    with pytest.raises(InvalidInputError, match="no gradient"):
        get_metric("hamming").gradient(pack([[1] * 8]), pack([[0] * 8]))
    assert not get_metric("jaccard").has_gradient and get_metric("angular").has_gradient


# --------------------------------------------------------------------------- resolver


def test_aliases_and_canonical_names() -> None:
    for alias, name in [("l2", "euclidean"), ("cosine", "angular"), ("inner_product", "ip"),
                        ("dot", "ip"), ("cityblock", "manhattan"), ("l1", "manhattan"),
                        ("linf", "chebyshev")]:
        assert get_metric(alias).name == name
    assert get_metric("minkowski").name == "minkowski:p=2"
    assert get_metric("minkowski: p = 3 ").name == "minkowski:p=3"
    assert get_metric("minkowski:p=1.5").params == {"p": 1.5}
    assert get_metric("minkowski:p=inf").name == "minkowski:p=inf"
    assert get_metric("minkowski", params={"p": 4}).name == "minkowski:p=4"
    bound = get_metric("euclidean")
    assert get_metric(bound) is bound
    assert isinstance(bound, BoundMetric) and bound.info.name == "euclidean"
    assert parse_metric_spec("a:x=1,y=2") == ("a", {"x": "1", "y": "2"})
    assert metric_names(get_registry()) == sorted(metric_names())


def test_minkowski_p_binds_to_the_functions() -> None:
    x, y = [[0.0, 0.0]], [[3.0, 4.0]]
    assert get_metric("minkowski:p=1").pairwise(x, y)[0, 0] == 7.0
    assert get_metric("minkowski:p=2").pairwise(x, y)[0, 0] == 5.0
    assert get_metric("minkowski:p=inf").pairwise(x, y)[0, 0] == 4.0
    assert get_metric("minkowski:p=3").rowwise(x, y)[0] == pytest.approx(91 ** (1 / 3),
                                                                          rel=1e-14)


@pytest.mark.parametrize(("spec", "error", "text"), [
    ("euclidian", UnknownNameError, "did you mean 'euclidean'"),
    ("cosin", UnknownNameError, "did you mean 'cosine'"),
    ("minkowski:pp=3", UnknownNameError, "did you mean 'p'"),
    ("minkowski:q=3", UnknownNameError, "known: p"),
    ("euclidean:p=3", UnknownNameError, "takes no parameters"),
    ("minkowski:p=abc", InvalidInputError, "expected float"),
    ("minkowski:p=0", InvalidInputError, "must be > 0"),
    ("minkowski:p=-1", InvalidInputError, "below the minimum"),
    ("minkowski:p=nan", InvalidInputError, "must be > 0"),
    ("minkowski:p", InvalidInputError, "cannot read parameter"),
    ("minkowski:", InvalidInputError, "nothing after"),
    ("minkowski:p=1,p=2", InvalidInputError, "given twice"),
    (":p=1", InvalidInputError, "no metric name"),
])
def test_bad_specs(spec: str, error: type, text: str) -> None:
    with pytest.raises(error, match=text):
        get_metric(spec)


def test_spec_must_be_a_string_and_params_not_doubled() -> None:
    with pytest.raises(InvalidInputError, match="must be a string"):
        get_metric(3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="both in the spec"):
        get_metric("minkowski:p=3", params={"p": 3})


def test_resolver_is_generic_over_a_custom_registry() -> None:
    def scaled(x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> np.ndarray:
        return scale * np.abs(x[:, None, 0] - y[None, :, 0])

    def rows(x: np.ndarray, y: np.ndarray, scale: float = 1.0) -> np.ndarray:
        return scale * np.abs(x[:, 0] - y[:, 0])

    registry = Registry()
    registry.metrics.add("first-coordinate", MetricInfo(
        "first-coordinate", scaled, rows, params=(Param("scale", 1.0, float),),
        bind=lambda scale: {"signed": scale < 0, "triangle_inequality": scale >= 0}),
        provider="test", aliases=("fc",))
    registry.metrics.add("broken", MetricInfo(
        "broken", scaled, rows, bind=lambda: {"fast": True}), provider="test")
    registry.metrics.add("wrong-shape", MetricInfo(
        "wrong-shape", lambda x, y: np.zeros(3), rows), provider="test")
    m = get_metric("fc:scale=-2", registry)
    assert (m.name, m.signed, m.triangle_inequality) == ("first-coordinate:scale=-2", True,
                                                         False)
    assert m.pairwise([[1.0, 9.0]], [[4.0, 0.0]]).tolist() == [[-6.0]]
    assert metric_names(registry) == ["broken", "first-coordinate", "wrong-shape"]
    with pytest.raises(Exception, match="unknown flags"):
        get_metric("broken", registry)
    with pytest.raises(Exception, match="returned shape"):
        get_metric("wrong-shape", registry).pairwise([[1.0]], [[2.0]])
    with pytest.raises(UnknownNameError, match="euclidean"):
        get_metric("euclidean", registry)


# --------------------------------------------------------------------------- bad input


def test_dense_bad_inputs() -> None:
    m = get_metric("euclidean")
    x = np.ones((3, 4))
    with pytest.raises(InvalidInputError, match="dimension mismatch"):
        m.pairwise(x, np.ones((2, 5)))
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        m.pairwise(x, np.array([[1.0, np.nan, 0.0, 0.0]]))
    with pytest.raises(InvalidInputError, match="NaN or inf"):
        m.rowwise(np.full((1, 4), np.inf), np.ones((1, 4)))
    with pytest.raises(InvalidInputError, match="same number of rows"):
        m.rowwise(x, np.ones((2, 4)))
    with pytest.raises(InvalidInputError, match="same number of rows"):
        m.gradient(x, np.ones((2, 4)))
    with pytest.raises(InvalidInputError, match="not numeric"):
        m.pairwise(np.array([["a"]]), [[1.0]])
    with pytest.raises(InvalidInputError, match="2-D"):
        m.rowwise(np.ones(4), np.ones(4))
    with pytest.raises(InvalidInputError, match="empty"):
        m.pairwise(np.ones((0, 4)), x)
    with pytest.raises(InvalidInputError, match="cannot be read"):
        m.pairwise([[1.0, 2.0], [3.0]], x)
    # a single vector against a matrix is accepted as one row
    assert m.pairwise(np.zeros(4), x).shape == (1, 3)
    assert m.pairwise(x, np.zeros(4)).shape == (3, 1)


def test_wrong_data_kind_is_a_clear_error() -> None:
    sets = SetData.from_lists([[1, 2]])
    with pytest.raises(InvalidInputError, match="set data"):
        get_metric("euclidean").pairwise(sets, [[1.0]])
    with pytest.raises(InvalidInputError, match="bit-packed uint8"):
        get_metric("hamming").pairwise(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(InvalidInputError, match="SetData"):
        get_metric("jaccard").pairwise(np.ones((2, 3)), sets)


def test_binary_and_set_bad_inputs() -> None:
    with pytest.raises(InvalidInputError, match="dimension mismatch"):
        get_metric("hamming").pairwise(np.zeros((2, 3), np.uint8), np.zeros((2, 4), np.uint8))
    unsorted = SetData(np.array([0, 2, 4]), np.array([1, 2, 5, 3], dtype=np.int32))
    with pytest.raises(InvalidInputError, match="set 1 are not sorted and unique"):
        get_metric("jaccard").pairwise(unsorted, unsorted)
    repeated = SetData(np.array([0, 2]), np.array([4, 4], dtype=np.int32))
    with pytest.raises(InvalidInputError, match="sorted and unique"):
        get_metric("jaccard").rowwise(repeated, repeated)
    broken = SetData(np.array([0, 3]), np.array([1], dtype=np.int32))
    with pytest.raises(InvalidInputError, match="indptr"):
        get_metric("jaccard").pairwise(broken, broken)
    floats = SetData(np.array([0, 1]), np.array([1.5]))
    with pytest.raises(InvalidInputError, match="integer"):
        get_metric("jaccard").pairwise(floats, floats)
    with pytest.raises(InvalidInputError, match="same number of rows"):
        get_metric("jaccard").rowwise(SetData.from_lists([[1]]), SetData.from_lists([[1], [2]]))


@pytest.mark.parametrize("spec", ["euclidean", "angular", "minkowski", "hamming", "jaccard"])
def test_plugin_functions_check_their_inputs_too(spec: str) -> None:
    # the registered functions are called directly by plugins and the conformance kit
    info = get_metric(spec).info
    good = sample_points(spec, np.random.default_rng(1), 8)
    bad = {DataKind.DENSE: np.full((2, 5), np.nan), DataKind.BINARY: np.ones((2, 3)),
           DataKind.SETS: np.ones((2, 3))}[info.data_kind]
    with pytest.raises(InvalidInputError):
        info.pairwise(good, bad)
    with pytest.raises(InvalidInputError):
        info.rowwise(bad, good)
    with pytest.raises(InvalidInputError, match="must be > 0"):
        get_metric("minkowski").info.pairwise([[1.0]], [[2.0]], p=0.0)


def test_inputs_are_not_modified() -> None:
    rng = np.random.default_rng(41)
    x, y = rng.normal(size=(5, 4)), rng.normal(size=(6, 4))
    x0, y0 = x.copy(), y.copy()
    for spec in DENSE_SPECS:
        m = get_metric(spec)
        m.pairwise(x, y)
        m.rowwise(x, y[:5])
        m.gradient(x, y[:5])
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)
    a, b = check_metric_inputs(x.astype(np.float32), y, DataKind.DENSE)
    assert a.dtype == np.float64 and b.dtype == np.float64
