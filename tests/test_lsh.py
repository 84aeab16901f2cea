"""The in-house LSH indexes (plugins.lsh, plugins.minhash) against independent oracles.

Oracles: closed-form collision probabilities and the reference's golden values, numerical
quadrature, Python big integers, datasketch's own band optimiser, numpy brute force for
distances and Jaccard similarities, and numpy re-implementations of band matching.
Empirical rates are compared within about 4 binomial standard errors.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate
from scipy.spatial.distance import cdist
from scipy.stats import norm

from harness import InvalidInputError, SetData, UnknownNameError
from harness.types import DataKind
from plugins import _lsh_kernels as kern
from plugins import lsh, minhash

MERSENNE61 = (1 << 61) - 1


# --------------------------------------------------------------------------- helpers


def gmm(n: int, d: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded Gaussian mixture: base vectors and queries from the same distribution."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, d)) * 3.0
    spreads = rng.uniform(0.5, 1.5, 12)

    def draw(m: int) -> np.ndarray:
        lab = rng.integers(0, 12, m)
        return (centres[lab] + rng.standard_normal((m, d)) * spreads[lab, None]).astype(
            np.float32)

    return draw(n), draw(n_queries)


def brute_angular(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    xn = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    qn = q.astype(np.float64) / np.linalg.norm(q.astype(np.float64), axis=1, keepdims=True)
    return 1.0 - qn @ xn.T


def brute_euclidean(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    return cdist(q.astype(np.float64), x.astype(np.float64))


def recall_at_k(D: np.ndarray, ids: np.ndarray, k: int) -> float:
    """Distance-based recall: returned ids whose true distance is within the k-th true one."""
    kth = np.sort(D, axis=1)[:, k - 1:k]
    got = np.take_along_axis(D, np.maximum(ids, 0), axis=1)
    got[ids < 0] = np.inf
    return float(np.mean((got <= kth + 1e-9 + 1e-7 * np.abs(kth)).sum(axis=1) / k))


def exact_jaccard(a: list[int], b: list[int]) -> float:
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def rows_of(sets: SetData) -> list[list[int]]:
    return [sets.row(i).tolist() for i in range(len(sets))]


def within(measured: float, p: float, trials: int, sigmas: float = 4.0) -> bool:
    return abs(measured - p) <= sigmas * math.sqrt(max(p * (1 - p), 1e-4) / trials)


# --------------------------------------------------------------------------- integer hashing


def test_splitmix64_matches_reference_outputs() -> None:
    # the first two outputs of Vigna's splitmix64 seeded with 0
    assert int(kern.splitmix64(np.uint64(0))) == 0xE220A8397B1DCDAF
    assert int(kern.splitmix64(np.uint64(0x9E3779B97F4A7C15))) == 0x6E789E6AA1B965F4


def test_mulmod61_matches_python_integers() -> None:
    rng = np.random.default_rng(3)
    a = rng.integers(0, MERSENNE61, 5000, dtype=np.uint64)
    h = rng.integers(0, MERSENNE61, 5000, dtype=np.uint64)
    edge = np.array([0, 1, 2, MERSENNE61 - 1, MERSENNE61 - 2, 1 << 32, (1 << 32) - 1,
                     1 << 60, (1 << 61) - 3], dtype=np.uint64)
    a = np.concatenate([a, np.repeat(edge, len(edge))])
    h = np.concatenate([h, np.tile(edge, len(edge))])
    got = kern.mulmod61_array(a, h)
    want = [(int(x) * int(y)) % MERSENNE61 for x, y in zip(a, h, strict=True)]
    assert [int(v) for v in got] == want


def test_minhash_slots_follow_the_universal_hash_definition() -> None:
    """Each slot is min over tokens of ((a h(t) + b) mod p) & (2^32 - 1), h the salted
    splitmix64 pre-hash reduced mod p, recomputed here with Python integers."""
    hasher = minhash.MinHasher(num_perm=16, seed=5)
    tokens = [3, 17, 200, 4096, 123456]
    sig = hasher.signatures(SetData.from_lists([tokens]))[0]
    mask = (1 << 64) - 1

    def mix(x: int) -> int:
        z = (x + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        return z ^ (z >> 31)

    salt = int(hasher.salt)
    pre = [mix(t ^ salt) % MERSENNE61 for t in tokens]
    want = [min(((int(a) * h + int(b)) % MERSENNE61) & 0xFFFFFFFF for h in pre)
            for a, b in zip(hasher.a, hasher.b, strict=True)]
    assert sig.tolist() == want


# --------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize(("theta", "golden"), [(0.5, 0.8408), (1.0, 0.6817), (2.5, 0.2042)])
def test_simhash_formula_golden(theta: float, golden: float) -> None:
    assert lsh.hyperplane_collision_probability(theta) == pytest.approx(golden, abs=5e-5)


@pytest.mark.parametrize(("c", "golden"),
                         [(0.5, 0.9003), (1.0, 0.8005), (2.0, 0.6095), (4.0, 0.3687),
                          (8.0, 0.1954)])
def test_pstable_formula_golden(c: float, golden: float) -> None:
    assert lsh.pstable_collision_probability(c, 4.0) == pytest.approx(golden, abs=5e-5)


@pytest.mark.parametrize(("c", "w"), [(0.3, 1.0), (2.5, 4.0), (7.0, 2.0)])
def test_pstable_formula_matches_quadrature(c: float, w: float) -> None:
    # Pr = int_0^w (2/c) phi(t/c) (1 - t/w) dt (Datar et al., eq. for Gaussian p-stable)
    value, _ = integrate.quad(lambda t: 2.0 / c * norm.pdf(t / c) * (1.0 - t / w), 0.0, w)
    assert lsh.pstable_collision_probability(c, w) == pytest.approx(value, abs=1e-10)


def test_formula_input_errors() -> None:
    with pytest.raises(InvalidInputError, match="theta"):
        lsh.hyperplane_collision_probability(4.0)
    with pytest.raises(InvalidInputError, match="width"):
        lsh.pstable_collision_probability(1.0, 0.0)


# --------------------------------------------------------------------------- measured collisions


@pytest.mark.parametrize("theta", [0.5, 1.0, 2.5])
def test_hyperplane_collisions_match_one_minus_theta_over_pi(theta: float) -> None:
    n_hashes = 40000
    x = np.zeros(8)
    y = np.zeros(8)
    x[0] = 1.0
    y[0], y[1] = math.cos(theta), math.sin(theta)
    rot, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((8, 8)))
    hasher = lsh.DenseHasher("hyperplane", 8, n_hashes, seed=11)
    bits = hasher.hash_values(np.stack([x, y]) @ rot)
    measured = float(np.mean(bits[0] == bits[1]))
    assert within(measured, 1.0 - theta / math.pi, n_hashes), measured


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0, 4.0, 8.0])
def test_pstable_collisions_match_the_formula(c: float) -> None:
    n_hashes = 40000
    rng = np.random.default_rng(2)
    x = rng.standard_normal(8) * 5.0
    u = rng.standard_normal(8)
    y = x + c * u / np.linalg.norm(u)
    hasher = lsh.DenseHasher("pstable", 8, n_hashes, w=4.0, seed=12)
    codes = hasher.hash_values(np.stack([x, y]))
    measured = float(np.mean(codes[0] == codes[1]))
    assert within(measured, float(lsh.pstable_collision_probability(c, 4.0)), n_hashes)


def test_pstable_offsets_are_uniform_over_the_bucket_width() -> None:
    hasher = lsh.DenseHasher("pstable", 4, 20000, w=3.0, seed=0)
    assert hasher.offsets.min() >= 0.0 and hasher.offsets.max() < 3.0
    # a point at the origin gets code floor(b / w) = 0 for every function
    assert not hasher.hash_values(np.zeros((1, 4))).any()
    assert np.mean(hasher.offsets < 1.5) == pytest.approx(0.5, abs=0.02)


@pytest.mark.parametrize(("a", "b"), [((0, 1000), (330, 1330)), ((0, 1000), (820, 1820))])
def test_minhash_is_unbiased_on_consecutive_integers(a: tuple, b: tuple) -> None:
    """The reference's pitfall: a linear hash of raw small integers is biased low (J = 0.504
    read as 0.436, J = 0.099 as 0.074); the pre-hash removes the bias."""
    sa, sb = list(range(*a)), list(range(*b))
    truth = exact_jaccard(sa, sb)
    num_perm = 8192
    sig = minhash.MinHasher(num_perm, seed=0).signatures(SetData.from_lists([sa, sb]))
    est = float(minhash.estimate_jaccard(sig[0], sig[1])[0])
    assert within(est, truth, num_perm), (est, truth)


def test_minhash_estimates_jaccard_of_random_sets() -> None:
    rng = np.random.default_rng(4)
    pairs, truths = [], []
    for overlap in (0.1, 0.3, 0.6, 0.9):
        base = rng.choice(10**6, 400, replace=False)
        keep = int(overlap * 400)
        other = np.concatenate([base[:keep], rng.choice(10**6, 400 - keep) + 10**6])
        pairs += [base.tolist(), other.tolist()]
        truths.append(exact_jaccard(base.tolist(), other.tolist()))
    num_perm = 4096
    sig = minhash.MinHasher(num_perm, seed=9).signatures(SetData.from_lists(pairs))
    est = minhash.estimate_jaccard(sig[0::2], sig[1::2])
    for e, t in zip(est, truths, strict=True):
        assert within(float(e), t, num_perm), (e, t)


# --------------------------------------------------------------------------- banding


@pytest.mark.parametrize(("threshold", "golden"),
                         [(0.5, (25, 5)), (0.7, (14, 9)), (0.8, (9, 13)), (0.9, (5, 25))])
def test_optimal_bands_golden(threshold: float, golden: tuple[int, int]) -> None:
    assert minhash.optimal_bands(threshold, 128) == golden


def test_band_areas_golden() -> None:
    # the reference's table: threshold 0.5 -> (25, 5), FP 0.0537, FN 0.0338
    assert minhash.false_positive_area(0.5, 25, 5) == pytest.approx(0.0537, abs=1e-4)
    assert minhash.false_negative_area(0.5, 25, 5) == pytest.approx(0.0338, abs=1e-4)
    assert minhash.false_positive_area(0.9, 5, 25) == pytest.approx(0.0116, abs=1e-4)
    assert minhash.false_negative_area(0.9, 5, 25) == pytest.approx(0.0253, abs=1e-4)


@pytest.mark.parametrize(("threshold", "num_perm", "fp_weight"),
                         [(0.3, 64, 0.5), (0.6, 100, 0.5), (0.75, 128, 0.3), (0.45, 48, 0.8)])
def test_optimal_bands_agree_with_datasketch(threshold: float, num_perm: int,
                                             fp_weight: float) -> None:
    from datasketch.lsh import _optimal_param

    want = _optimal_param(threshold, num_perm, fp_weight, 1.0 - fp_weight)
    assert minhash.optimal_bands(threshold, num_perm, fp_weight) == want


@pytest.mark.parametrize(("b", "r", "t"), [(7, 3, 0.4), (20, 6, 0.65)])
def test_band_areas_match_quadrature(b: int, r: int, t: float) -> None:
    fp, _ = integrate.quad(lambda s: 1 - (1 - s**r) ** b, 0.0, t)
    fn, _ = integrate.quad(lambda s: (1 - s**r) ** b, t, 1.0)
    assert minhash.false_positive_area(t, b, r) == pytest.approx(fp, abs=1e-10)
    assert minhash.false_negative_area(t, b, r) == pytest.approx(fn, abs=1e-10)


def test_optimal_bands_errors() -> None:
    with pytest.raises(InvalidInputError, match="threshold"):
        minhash.optimal_bands(1.5, 128)
    with pytest.raises(InvalidInputError, match="num_perm"):
        minhash.optimal_bands(0.5, 1)
    with pytest.raises(InvalidInputError, match="sum to 1"):
        minhash.optimal_bands(0.5, 128, 0.5, 0.7)


def test_band_candidate_rate_matches_the_s_curve() -> None:
    """Over independent seeds, a pair of similarity s becomes a candidate of a one-item
    index with probability 1 - (1 - s^r)^b."""
    a = list(range(0, 300))
    b = list(range(60, 360))  # J = 240 / 360
    s = exact_jaccard(a, b)
    bands, rows = 6, 5
    trials = 400
    found = 0
    for seed in range(trials):
        index = minhash.MinHashLSHIndex("jaccard", bands=bands, rows=rows, num_perm=30,
                                        seed=seed)
        index.build(SetData.from_lists([b]))
        index.set_query_params()
        ids, _ = index.search(SetData.from_lists([a]), 1)
        found += int(ids[0, 0] == 0)
    p = float(minhash.band_candidate_probability(s, bands, rows))
    assert within(found / trials, p, trials), (found / trials, p)


# --------------------------------------------------------------------------- dense indexes


@pytest.fixture(scope="module")
def mixture() -> tuple[np.ndarray, np.ndarray]:
    return gmm(3000, 16, 60, seed=21)


@pytest.mark.parametrize(("cls", "brute"), [(lsh.HyperplaneLSHIndex, brute_angular),
                                            (lsh.PStableLSHIndex, brute_euclidean)])
def test_dense_results_against_brute_force(cls: type, brute, mixture) -> None:
    x, q = mixture
    D = brute(x, q)
    index = cls(tables=12, seed=3)
    index.build(x)
    previous_kth = np.full(len(q), np.inf)
    previous_candidates = -1.0
    recalls = []
    for probes in (1, 4, 16):
        index.set_query_params(probes=probes)
        ids, dists = index.search(q, 10)
        assert ids.dtype == np.int64 and ids.shape == (len(q), 10)
        found = ids >= 0
        for row in range(len(q)):  # ids unique, -1 only at the end
            got = ids[row][found[row]]
            assert len(set(got.tolist())) == len(got)
            assert found[row].tolist() == sorted(found[row].tolist(), reverse=True)
        # exact verification: every distance is the true distance of its id, ascending
        true = np.take_along_axis(D, np.maximum(ids, 0), axis=1)
        np.testing.assert_allclose(dists[found], true[found], rtol=1e-4, atol=1e-5)
        assert np.all(np.isinf(dists[~found]))
        assert np.all(np.diff(np.where(found, dists, np.inf), axis=1) >= -1e-6)
        # more probes: a superset of candidates, so no k-th distance gets worse
        kth = np.where(found[:, -1], true[:, -1], np.inf)
        assert np.all(kth <= previous_kth + 1e-9)
        previous_kth = kth
        stats = index.query_stats()
        assert stats["candidates"] >= previous_candidates
        previous_candidates = stats["candidates"]
        assert stats["distance_computations"] == stats["candidates"]
        assert stats["buckets_probed"] == len(q) * 12 * probes
        recalls.append(recall_at_k(D, ids, 10))
    assert recalls[-1] >= 0.95, recalls
    assert recalls[0] <= recalls[-1]


def test_hyperplane_finds_pairs_at_the_amplified_rate() -> None:
    """A planted neighbour at angle theta is found with probability 1 - (1 - p^k)^L."""
    rng = np.random.default_rng(5)
    n, d, theta, k_hash, tables = 2000, 64, 0.5, 8, 4
    x = rng.standard_normal((n, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    u = rng.standard_normal((n, d))
    u -= (u * x).sum(axis=1, keepdims=True) * x
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    q = math.cos(theta) * x + math.sin(theta) * u
    assert np.all(np.argmin(brute_angular(x, q), axis=1) == np.arange(n))
    rates = []
    for seed in (0, 1):
        index = lsh.HyperplaneLSHIndex(hashes_per_table=k_hash, tables=tables, seed=seed)
        index.build(x)
        index.set_query_params(probes=1)
        ids, _ = index.search(q, 1)
        rates.append(float(np.mean(ids[:, 0] == np.arange(n))))
    p = float(lsh.amplified_probability(1 - theta / math.pi, k_hash, tables))
    assert within(float(np.mean(rates)), p, 2 * n, sigmas=5.0), (rates, p)


def test_pstable_finds_pairs_at_the_amplified_rate() -> None:
    rng = np.random.default_rng(6)
    n, d, c, w, k_hash, tables = 2000, 32, 2.0, 4.0, 3, 4
    x = rng.standard_normal((n, d)) * 100.0
    u = rng.standard_normal((n, d))
    q = x + c * u / np.linalg.norm(u, axis=1, keepdims=True)
    assert np.all(np.argmin(brute_euclidean(x, q), axis=1) == np.arange(n))
    rates = []
    for seed in (0, 1):
        index = lsh.PStableLSHIndex(hashes_per_table=k_hash, tables=tables, bucket_width=w,
                                    seed=seed)
        index.build(x)
        assert index.bucket_width == w
        index.set_query_params(probes=1)
        ids, _ = index.search(q, 1)
        rates.append(float(np.mean(ids[:, 0] == np.arange(n))))
    p = float(lsh.amplified_probability(lsh.pstable_collision_probability(c, w), k_hash,
                                        tables))
    assert within(float(np.mean(rates)), p, 2 * n, sigmas=5.0), (rates, p)


def test_multiprobe_reaches_the_neighbouring_bucket() -> None:
    """With one table of k bits, probe 2 is the home key with the query's least confident bit
    flipped: an item differing from the query in that bit only is found with 2 probes."""
    index = lsh.HyperplaneLSHIndex(hashes_per_table=6, tables=1, seed=0)
    x = np.random.default_rng(8).standard_normal((2, 12)).astype(np.float32)
    index.build(x)  # the hyperplanes depend on the seed only, not on the data
    assert index.hasher is not None
    normals = index.hasher.proj_t.astype(np.float64)
    query = x[0].astype(np.float64)
    margins = normals @ query
    j = int(np.argmin(np.abs(margins)))
    # the item: the query reflected across hyperplane j (unit normal)
    item = query - 2.0 * margins[j] * normals[j]
    bits = index.hasher.hash_values(np.stack([query, item]))
    assert np.flatnonzero(bits[0] != bits[1]).tolist() == [j]  # precondition of the test
    far = -query  # every bit differs: never probed with 2 probes
    index.build(np.stack([item, far]).astype(np.float32))
    index.set_query_params(probes=1)
    assert index.search(query[None].astype(np.float32), 1)[0][0, 0] == -1
    index.set_query_params(probes=2)
    assert index.search(query[None].astype(np.float32), 1)[0][0, 0] == 0


def test_dense_determinism_and_seed(mixture) -> None:
    x, q = mixture
    runs = []
    for seed in (7, 7, 8):
        index = lsh.PStableLSHIndex(tables=4, seed=seed)
        index.build(x)
        index.set_query_params(probes=2)
        runs.append(index.search(q, 5)[0])
    np.testing.assert_array_equal(runs[0], runs[1])
    single = lsh.PStableLSHIndex(tables=4, seed=7)
    single.build(x)
    single.set_query_params(probes=2)
    np.testing.assert_array_equal(single.search(q[3:4], 5)[0][0], runs[0][3])
    assert not np.array_equal(runs[0], runs[2])


def test_automatic_k_follows_the_target_rule() -> None:
    # largest k with 1 - (1 - p^k)^L >= 0.9
    for p, tables in ((0.9, 16), (0.6, 8), (0.95, 1)):
        k = lsh.auto_hashes(p, tables, 64)
        assert lsh.amplified_probability(p, k, tables) >= 0.9
        assert lsh.amplified_probability(p, k + 1, tables) < 0.9
    assert lsh.auto_hashes(1.0, 4, 32) == 32
    assert lsh.auto_hashes(0.01, 4, 32) == 1  # no k reaches the target: the fewest hashes
    assert lsh.auto_hashes(0.8, 1, 32) == 1


def test_pstable_width_scales_with_the_data(mixture) -> None:
    x, _ = mixture
    small = lsh.PStableLSHIndex(tables=2, seed=1)
    small.build(x)
    large = lsh.PStableLSHIndex(tables=2, seed=1)
    large.build(x * 10.0)
    assert large.bucket_width == pytest.approx(10.0 * small.bucket_width, rel=1e-3)
    assert large.k_hash == small.k_hash
    # width = 4 x the median distance to the 10th neighbour (sample of 100 points)
    D = brute_euclidean(x, x[:300])
    D[np.arange(300), np.arange(300)] = np.inf
    r10 = float(np.median(np.sort(D, axis=1)[:, 9]))
    assert small.bucket_width == pytest.approx(4.0 * r10, rel=0.15)


def test_angular_zero_vectors() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    x[7] = 0.0
    index = lsh.HyperplaneLSHIndex(hashes_per_table=2, tables=4)
    index.build(x)
    index.set_query_params(probes=4)
    ids, dists = index.search(np.zeros((1, 8), np.float32), 1)
    assert ids[0, 0] == 7 and dists[0, 0] == 0.0


def test_dense_bad_input() -> None:
    with pytest.raises(InvalidInputError, match="angular"):
        lsh.HyperplaneLSHIndex("euclidean")
    with pytest.raises(InvalidInputError, match="euclidean"):
        lsh.PStableLSHIndex("angular")
    with pytest.raises(UnknownNameError, match="tables"):
        lsh.PStableLSHIndex(table=3)
    with pytest.raises(InvalidInputError, match="above the maximum"):
        lsh.PStableLSHIndex(hashes_per_table=33)
    index = lsh.HyperplaneLSHIndex(tables=2)
    x = np.random.default_rng(0).standard_normal((20, 4)).astype(np.float32)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        index.build(bad)
    index.build(x)
    with pytest.raises(InvalidInputError, match="probes"):
        index.set_query_params(probes=0)
    with pytest.raises(InvalidInputError, match="dimension"):
        index.search(np.zeros((1, 5), np.float32), 1)


# --------------------------------------------------------------------------- MinHash index


@pytest.fixture(scope="module")
def set_data() -> tuple[SetData, SetData]:
    """Random sets with planted near-duplicates (queries are perturbed base sets), and an
    empty set on both sides."""
    rng = np.random.default_rng(31)
    base = [rng.choice(3000, int(rng.integers(8, 60)), replace=False).tolist()
            for _ in range(600)]
    base[5] = []
    queries = []
    for i in rng.choice(600, 40, replace=False):
        row = list(base[int(i)])
        keep = rng.random(len(row)) > rng.uniform(0.0, 0.5)
        extra = rng.choice(3000, int(rng.integers(0, 6)), replace=False).tolist()
        queries.append([t for t, kp in zip(row, keep, strict=True) if kp] + extra)
    queries.append([])
    return SetData.from_lists(base), SetData.from_lists(queries)


def band_oracle(index: minhash.MinHashLSHIndex, base: SetData, queries: SetData,
                min_candidates: int) -> list[set[int]]:
    """Candidates by brute force over signatures: items whose band prefix equals the query's,
    the prefix shortened from r to 1 while fewer than min_candidates are found."""
    xs = index.hasher.signatures(base)
    qs = index.hasher.signatures(queries)
    b, r = index.bands, index.rows
    out = []
    for q in qs:
        width = r
        while True:
            match = np.zeros(len(xs), dtype=bool)
            for band in range(b):
                cols = slice(band * r, band * r + width)
                match |= (xs[:, cols] == q[cols]).all(axis=1)
            if match.sum() >= min_candidates or width == 1:
                break
            width -= 1
        out.append(set(np.flatnonzero(match).tolist()))
    return out


@pytest.mark.parametrize("min_candidates", [0, 30])
def test_minhash_candidates_and_exact_reranking(set_data, min_candidates: int) -> None:
    base, queries = set_data
    index = minhash.MinHashLSHIndex("jaccard", threshold=0.5, seed=2)
    assert (index.bands, index.rows) == (25, 5)
    index.build(base)
    index.set_query_params(min_candidates=min_candidates)
    n = len(base)
    ids, dists = index.search(queries, n)  # k = n: every candidate comes back
    oracle = band_oracle(index, base, queries, min_candidates)
    base_rows, query_rows = rows_of(base), rows_of(queries)
    threshold_hits = 0
    for qi, cands in enumerate(oracle):
        got = ids[qi][ids[qi] >= 0]
        assert set(got.tolist()) == cands
        sims = np.array([exact_jaccard(query_rows[qi], base_rows[i]) for i in got])
        np.testing.assert_allclose(dists[qi, :len(got)], 1.0 - sims, atol=1e-12)
        order = np.lexsort((got, 1.0 - sims))
        np.testing.assert_array_equal(got, got[order])  # by distance, ties by id
        threshold_hits += int((sims >= 0.5).sum())
    stats = index.query_stats()
    assert stats["candidates"] == sum(len(c) for c in oracle)
    assert stats["candidates_above_threshold"] == threshold_hits
    true_above = sum(exact_jaccard(qr, br) >= 0.5 for qr in query_rows for br in base_rows)
    assert stats["true_above_threshold"] == true_above
    if min_candidates == 0:  # planted near-duplicates are found (recall at the threshold)
        assert threshold_hits >= 0.8 * true_above


def test_minhash_knn_recall_against_brute_force(set_data) -> None:
    """Each query is a perturbed copy of a base set: its nearest neighbour. Plain banding
    misses the copies below the threshold; prefix shortening (min_candidates) finds them."""
    base, queries = set_data
    base_rows, query_rows = rows_of(base), rows_of(queries)
    D = np.array([[1.0 - exact_jaccard(q, b) for b in base_rows] for q in query_rows])
    index = minhash.MinHashLSHIndex("jaccard", threshold=0.5, seed=4)
    index.build(base)
    recalls = []
    for min_candidates in (0, 100):
        index.set_query_params(min_candidates=min_candidates)
        ids, dists = index.search(queries, 3)
        recalls.append(recall_at_k(D, ids, 1))
        true = np.take_along_axis(D, np.maximum(ids, 0), axis=1)
        np.testing.assert_allclose(dists[ids >= 0], true[ids >= 0], atol=1e-12)
        # the empty query finds the empty set at distance 0
        assert ids[-1, 0] == 5 and dists[-1, 0] == 0.0
    assert recalls[1] >= 0.95 and recalls[1] >= recalls[0], recalls


def test_minhash_counters_reset_with_query_params(set_data) -> None:
    base, queries = set_data
    index = minhash.MinHashLSHIndex("jaccard", seed=1)
    index.build(base)
    index.set_query_params()
    index.search(queries, 3)
    first = index.query_stats()
    index.search(queries, 3)
    assert index.query_stats()["true_above_threshold"] == 2 * first["true_above_threshold"]
    index.set_query_params()
    assert index.query_stats()["candidates"] == 0.0
    assert index.query_stats()["true_above_threshold"] == 0.0


def test_minhash_bad_input(set_data) -> None:
    base, _ = set_data
    with pytest.raises(InvalidInputError, match="jaccard"):
        minhash.MinHashLSHIndex("angular")
    with pytest.raises(InvalidInputError, match="both 'bands' and 'rows'"):
        minhash.MinHashLSHIndex("jaccard", bands=4)
    with pytest.raises(InvalidInputError, match="exceeds num_perm"):
        minhash.MinHashLSHIndex("jaccard", bands=20, rows=10, num_perm=128)
    with pytest.raises(InvalidInputError, match="threshold"):
        minhash.MinHashLSHIndex("jaccard", threshold=1.5)
    unsorted = SetData(np.array([0, 3], dtype=np.int64), np.array([5, 2, 9], dtype=np.int32))
    index = minhash.MinHashLSHIndex("jaccard")
    with pytest.raises(InvalidInputError, match="not sorted and unique"):
        index.build(unsorted)
    with pytest.raises(InvalidInputError, match="SetData"):
        index.build(np.zeros((3, 4), np.float32))
    index.build(base)
    with pytest.raises(InvalidInputError, match="k=601"):
        index.search(base[np.arange(2)], 601)


# --------------------------------------------------------------------------- registration


def test_register_indexes_declares_the_three_families() -> None:
    infos = []
    lsh.register_indexes(infos.append)
    table = {info.name: info for info in infos}
    assert set(table) == {"lsh-hyperplane", "lsh-pstable", "lsh-minhash"}
    assert table["lsh-hyperplane"].capabilities.metrics == {"angular"}
    assert table["lsh-pstable"].capabilities.metrics == {"euclidean"}
    assert table["lsh-minhash"].capabilities.metrics == {"jaccard"}
    assert table["lsh-minhash"].capabilities.data_kinds == {DataKind.SETS}
    for info in infos:
        assert info.capabilities.jit and not info.capabilities.exact
        declared = {p.name for p in info.build_params}
        assert set(info.build_grid) <= declared
        assert set(info.query_grid) <= {p.name for p in info.query_params}
        index = info.factory(metric=next(iter(info.capabilities.metrics)))
        assert index.index_bytes() == 0
