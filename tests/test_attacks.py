"""Attack plugins and targets against independent oracles.

Oracles: central finite differences (gradients), closed forms on linear models (FGSM flip
threshold |f| / ||w||_dual, DeepFool's one-step exactness), the exact Voronoi-bisector radius of
1-NN (no attack may succeed below it; DeepFool should come close), scikit-learn's
LogisticRegression (the softmax target), scipy's KS test (random starts), and the reference
sanity figure of FGSM on logistic regression over digits.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats
from threadpoolctl import threadpool_limits

from harness import AttackTarget, InvalidInputError
from harness.metrics import get_metric
from harness.plugins import get_registry
from plugins import _attack_norms as norms
from plugins._attack_targets import (
    CountingTarget,
    RetrievalTarget,
    SoftKNNClassifier,
    SoftmaxClassifier,
    knn_vote,
    softmax,
    train_softmax,
)
from plugins.attacks import FGSM, PGD, DeepFool, MinimisationAttack, Noise

ALL_ATTACKS = (FGSM, PGD, DeepFool, Noise)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


# --------------------------------------------------------------------------- fixtures


def _linear(d: int = 6, c: int = 4, seed: int = 0) -> SoftmaxClassifier:
    rng = np.random.default_rng(seed)
    return SoftmaxClassifier(rng.standard_normal((d, c)), rng.standard_normal(c))


def _binary(seed: int = 1, d: int = 5) -> tuple[SoftmaxClassifier, np.ndarray, np.ndarray]:
    """Logits (0, w.x + b): a binary linear model written as a two-class softmax."""
    rng = np.random.default_rng(seed)
    w, b = rng.standard_normal(d), 0.3
    model = SoftmaxClassifier(np.stack([np.zeros(d), w], axis=1), np.array([0.0, b]))
    return model, w, np.array(b)


def _clusters(n: int = 240, d: int = 5, classes: int = 3, seed: int = 3, spread: float = 3.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(classes, d))
    labels = rng.integers(0, classes, n)
    x = centres[labels] + rng.standard_normal((n, d))
    return x, labels


def _index(metric: str, x: np.ndarray):
    index = get_registry().indexes.get("bruteforce").factory(metric=metric)
    index.build(x.astype(np.float32))
    return index


def _fd(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Central finite differences of a per-row scalar function: (n, d)."""
    out = np.zeros_like(x)
    for j in range(x.shape[1]):
        e = np.zeros_like(x)
        e[:, j] = h
        out[:, j] = (fn(x + e) - fn(x - e)) / (2 * h)
    return out


def _ce(logits: np.ndarray, y: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    zz = np.where(np.isfinite(z), z, -np.inf)
    return np.log(np.exp(zz).sum(axis=1)) - zz[np.arange(len(y)), y]


def _assert_close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5) -> None:
    scale = np.abs(b).max()
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * scale)


# --------------------------------------------------------------------------- gradients


def test_softmax_gradients_match_finite_differences():
    model = _linear()
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((7, 6)), rng.integers(0, 4, 7)
    _assert_close(model.loss_gradient(x, y), _fd(lambda v: _ce(model.predict(v), y), x))
    lab = rng.integers(0, 4, 7)
    _assert_close(model.class_gradient(x, lab),
                  _fd(lambda v: model.predict(v)[np.arange(7), lab], x))


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "angular"])
@pytest.mark.parametrize("candidates", [20, 10_000])
def test_soft_knn_gradients_match_finite_differences(metric, candidates):
    x, labels = _clusters(spread=0.7)  # overlapping classes: several among the candidates
    m = get_metric(metric)
    target = SoftKNNClassifier(_index(metric, x), x, labels, m, k=3,
                               temperature=0.7 if metric != "angular" else 0.05,
                               candidates=candidates)
    rng = np.random.default_rng(2)
    pool = x[:60] + 0.4 * rng.standard_normal((60, 5))
    mixed = np.isfinite(target.predict(pool)).sum(axis=1) >= 2  # several classes nearby
    q = pool[mixed][:6]
    assert len(q) == 6
    z = target.predict(q)
    order = np.argsort(-z, axis=1)
    y, other = order[:, 0], order[:, 1]  # classes with finite logits
    _assert_close(target.loss_gradient(q, y), _fd(lambda v: _ce(target.predict(v), y), q))
    _assert_close(target.loss_gradient(q, other),
                  _fd(lambda v: _ce(target.predict(v), other), q))
    _assert_close(target.class_gradient(q, other),
                  _fd(lambda v: target.predict(v)[np.arange(6), other], q))


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
def test_retrieval_gradients_match_finite_differences(metric):
    x, _ = _clusters(n=150)
    target = RetrievalTarget(_index(metric, x), x, get_metric(metric), temperature=0.5,
                             candidates=150)
    rng = np.random.default_rng(4)
    q = x[:5] + 0.3 * rng.standard_normal((5, 5))
    sets = np.argsort(get_metric(metric).pairwise(q, x), axis=1)[:, 1:4]  # top-2..4 items

    def loss(v: np.ndarray) -> np.ndarray:
        z = target.predict(v)  # every item is a candidate here: full logits
        lse = np.log(np.exp(z - z.max(1, keepdims=True)).sum(1)) + z.max(1)
        zs = np.take_along_axis(z, sets, axis=1)
        return lse - (np.log(np.exp(zs - zs.max(1, keepdims=True)).sum(1)) + zs.max(1))

    _assert_close(target.loss_gradient(q, sets), _fd(loss, q))
    item = sets[:, 0]
    _assert_close(target.class_gradient(q, item),
                  _fd(lambda v: target.predict(v)[np.arange(5), item], q))


def test_retrieval_loss_counts_label_items_outside_the_candidates():
    """The clean top-k may leave the index's candidates; the loss still includes it."""
    x, _ = _clusters(n=150)
    m = get_metric("sqeuclidean")
    narrow = RetrievalTarget(_index("sqeuclidean", x), x, m, temperature=2.0, candidates=3)
    q = x[:4] + 0.1
    far = np.argsort(m.pairwise(q, x), axis=1)[:, -2:]  # the two farthest items

    def loss(v: np.ndarray) -> np.ndarray:  # over the 3 nearest items plus the label set
        d = m.pairwise(v, x)
        ids = np.concatenate([np.argsort(d, axis=1)[:, :3], far], axis=1)
        s = -np.take_along_axis(d, ids, axis=1) / 2.0
        lse = np.log(np.exp(s).sum(1))
        return lse - np.log(np.exp(s[:, 3:]).sum(1))

    _assert_close(narrow.loss_gradient(q, far), _fd(loss, q))


def test_soft_knn_logits_tend_to_the_nearest_member_margin_as_t_goes_to_zero():
    x, labels = _clusters()
    m = get_metric("euclidean")
    target = SoftKNNClassifier(_index("euclidean", x), x, labels, m, k=1, temperature=1e-4,
                               candidates=len(x))
    q = x[:20] + 0.5
    d = m.pairwise(q, x)
    nearest = np.stack([np.where(labels == c, d, np.inf).min(axis=1) for c in range(3)], 1)
    np.testing.assert_allclose(target.predict(q) * 1e-4, -nearest, rtol=0, atol=1e-3)
    assert (target.predict(q).argmax(1) == labels[d.argmin(1)]).all()


def test_knn_vote_majority_and_tie_rule():
    labels = np.array([0, 1, 2, 1, 0, 2])
    ids = np.array([[0, 1, 3], [1, 0, 4], [2, 0, 1], [5, -1, -1], [-1, -1, -1]])
    # row 1: classes 1, 0, 0 -> 0; row 2: 2, 0, 1 all tied -> the first met, 2
    assert knn_vote(ids, labels, 3).tolist() == [1, 0, 2, 2, -1]


# --------------------------------------------------------------------------- softmax training


def test_train_softmax_matches_scikit_learn():
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression

    data = load_digits()
    x, y = data.data[:400] / 16.0, data.target[:400]
    ours = train_softmax(x, y, C=0.5)
    peer = LogisticRegression(C=0.5, tol=1e-8, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(softmax(ours.predict(x)), peer.predict_proba(x), atol=1e-4)
    assert (ours.decide(x) == peer.predict(x)).all()


def test_train_softmax_rejects_bad_labels():
    x = np.zeros((4, 2))
    with pytest.raises(InvalidInputError, match="labels"):
        train_softmax(x, np.array([0, 2, 2, 0]))
    with pytest.raises(InvalidInputError, match="C must be"):
        train_softmax(x, np.array([0, 1, 1, 0]), C=0)


def test_fgsm_sanity_figure_on_digits():
    """Reference: FGSM on logistic regression over digits in [0, 1] takes accuracy from about
    0.97 to about 0.64 at eps = 0.1."""
    from plugins.datasets import load_digits_dataset

    ds = load_digits_dataset()
    train, test = ds.train / 16.0, ds.test / 16.0
    model = train_softmax(train, ds.train_labels)
    clean = (model.decide(test) == ds.test_labels).mean()
    adv = FGSM("linf", (0.0, 1.0)).generate(model, test, ds.test_labels, 0.1)
    robust = (model.decide(adv) == ds.test_labels).mean()
    assert abs(clean - 0.97) <= 0.02
    assert abs(robust - 0.64) <= 0.05


# --------------------------------------------------------------------------- linear oracles


@pytest.mark.parametrize(("norm", "dual"), [("linf", 1), ("l2", 2)])
def test_fgsm_flips_a_linear_model_exactly_at_the_dual_norm_threshold(norm, dual):
    model, w, b = _binary()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((25, 5))
    f = x @ w + b
    y = (f > 0).astype(np.int64)
    threshold = np.abs(f) / np.linalg.norm(w, ord=dual)
    attack = FGSM(norm)
    for i in range(len(x)):
        above = attack.generate(model, x[i:i + 1], y[i:i + 1], threshold[i] * (1 + 1e-3))
        below = attack.generate(model, x[i:i + 1], y[i:i + 1], threshold[i] * (1 - 1e-3))
        assert model.decide(above)[0] != y[i]
        assert model.decide(below)[0] == y[i]


@pytest.mark.parametrize(("norm", "dual"), [("l2", 2), ("linf", 1)])
def test_deepfool_is_exact_after_one_step_on_a_linear_model(norm, dual):
    model = _linear(d=6, c=4, seed=11)
    rng = np.random.default_rng(12)
    x = rng.standard_normal((30, 6))
    z = model.predict(x)
    top = z.argmax(1)
    w = model.weights
    expected = np.empty(len(x))
    for i in range(len(x)):
        dist = [abs(z[i, k] - z[i, top[i]]) / np.linalg.norm(w[:, k] - w[:, top[i]], ord=dual)
                for k in range(4) if k != top[i]]
        expected[i] = 1.02 * min(dist)
    attack = DeepFool(norm, steps=1, stability=0.0)
    adv = attack.generate(model, x, top, eps=np.inf)
    size = norms.row_norms(adv - x, norm)
    np.testing.assert_allclose(size, expected, rtol=1e-9)
    assert (model.decide(adv) != top).all()


def test_deepfool_targeted_reaches_the_target_class():
    model = _linear(d=6, c=4, seed=13)
    x = np.random.default_rng(14).standard_normal((20, 6))
    goal = (model.decide(x) + 2) % 4
    adv = DeepFool("l2", targeted=True).generate(model, x, goal, eps=np.inf)
    assert (model.decide(adv) == goal).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_untargeted_steps_increase_and_targeted_steps_decrease_the_loss(norm):
    model = _linear(seed=21)
    rng = np.random.default_rng(22)
    x, y = rng.standard_normal((15, 6)), rng.integers(0, 4, 15)
    up = FGSM(norm).generate(model, x, y, 1e-4)
    assert (_ce(model.predict(up), y) > _ce(model.predict(x), y)).all()
    down = FGSM(norm, targeted=True).generate(model, x, y, 1e-4)
    assert (_ce(model.predict(down), y) < _ce(model.predict(x), y)).all()


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_robustness_on_a_linear_model_does_not_rise_with_eps(norm):
    model = _binary(seed=31)[0]
    x = np.random.default_rng(32).standard_normal((60, 5))
    y = model.decide(x)
    correct = []
    for eps in np.linspace(0, 2.0, 9):
        correct.append((model.decide(FGSM(norm).generate(model, x, y, eps)) == y).mean())
    assert correct[0] == 1.0
    assert all(a >= b for a, b in itertools.pairwise(correct))
    assert correct[-1] < 0.5


# --------------------------------------------------------------------------- k-NN oracle


def _bisector_radius(q, x, labels, norm, same_label_only):
    """Exact L2 / linf distance from q to the nearest bisector of its 1-NN a and any b
    (with a different label when ``same_label_only``): a lower bound on the flip radius."""
    d2 = ((q[:, None, :] - x[None]) ** 2).sum(-1)
    a = d2.argmin(1)
    out = np.empty(len(q))
    for i in range(len(q)):
        diff = x[a[i]] - x
        gap = (d2[i] - d2[i, a[i]]) / 2.0
        dual = np.abs(diff).sum(1) if norm == "linf" else np.sqrt((diff ** 2).sum(1))
        mask = np.arange(len(x)) != a[i]
        if same_label_only:
            mask &= labels != labels[a[i]]
        out[i] = (gap[mask] / dual[mask]).min()
    return out, a


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_no_attack_fools_1nn_below_the_exact_bisector_radius(norm):
    x, labels = _clusters(n=200, d=4, seed=41)
    rng = np.random.default_rng(42)
    q = x[rng.choice(len(x), 12, replace=False)] + 0.3 * rng.standard_normal((12, 4))
    target = SoftKNNClassifier(_index("euclidean", x), x, labels, get_metric("euclidean"),
                               k=1, temperature=0.05, candidates=40)
    radius, a = _bisector_radius(q, x, labels, norm, same_label_only=True)
    y = labels[a]
    for cls in ALL_ATTACKS:
        attack = cls(norm) if cls is not Noise else Noise(norm, samples=20)
        for i in range(len(q)):
            adv = attack.generate(target, q[i:i + 1], y[i:i + 1], radius[i] * (1 - 1e-6), rng=i)
            assert target.decide(adv)[0] == y[i], (cls.name, i)


def test_deepfool_on_the_ranking_is_tight_to_the_voronoi_radius():
    x, _ = _clusters(n=300, d=6, seed=51)
    rng = np.random.default_rng(52)
    q = rng.normal(scale=3.0, size=(40, 6))
    target = RetrievalTarget(_index("sqeuclidean", x), x, get_metric("sqeuclidean"),
                             temperature=1.0, candidates=30)
    radius, a = _bisector_radius(q, x, None, "l2", same_label_only=False)
    assert (target.decide(q) == a).all()
    adv = DeepFool("l2", stability=0.0).generate(target, q, a, eps=np.inf)
    size = norms.row_norms(adv - q, "l2")
    assert (target.decide(adv) != a).all()
    assert (size >= radius * (1 - 1e-9)).all()  # sound: nothing below the exact radius
    tight = size <= 1.02 * radius * (1 + 1e-6)
    assert tight.mean() >= 0.95


# --------------------------------------------------------------------------- geometry


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_projection_lands_in_the_ball_and_on_its_surface_when_clipped(norm):
    rng = np.random.default_rng(61)
    delta = rng.standard_normal((50, 7)) * rng.uniform(0.01, 3.0, (50, 1))
    eps = 0.8
    p = norms.project(delta, eps, norm)
    size = norms.row_norms(p, norm)
    before = norms.row_norms(delta, norm)
    assert (size <= eps * (1 + 1e-12)).all()
    inside = before <= eps
    np.testing.assert_array_equal(p[inside], delta[inside])
    np.testing.assert_allclose(size[~inside], eps, rtol=1e-12)
    np.testing.assert_allclose(norms.project(p, eps, norm), p, rtol=0, atol=1e-15)
    if norm == "l2":  # l2 projection keeps the direction
        cos = (p * delta).sum(1) / (size * before)
        np.testing.assert_allclose(cos, 1.0, rtol=1e-12)


def test_l2_random_start_is_uniform_in_the_ball():
    d = 8
    u = norms.random_in_ball(np.random.default_rng(71), 4000, d, "l2")
    r = norms.row_norms(u, "l2")
    assert r.max() <= 1.0
    assert stats.kstest(r ** d, "uniform").pvalue > 0.01
    directions = u / r[:, None]
    assert np.abs(directions.mean(axis=0)).max() < 0.05


def test_linf_random_start_is_uniform_in_the_cube_and_surfaces_have_unit_norm():
    u = norms.random_in_ball(np.random.default_rng(72), 3000, 5, "linf")
    assert np.abs(u).max() <= 1.0
    assert stats.kstest(u.ravel(), "uniform", args=(-1, 2)).pvalue > 0.01
    for norm in ("linf", "l2"):
        s = norms.random_on_sphere(np.random.default_rng(73), 100, 5, norm)
        np.testing.assert_allclose(norms.row_norms(s, norm), 1.0, rtol=1e-12)


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("cls", ALL_ATTACKS)
def test_every_output_stays_in_the_ball_and_the_box(cls, norm):
    model = _linear(d=6, c=4, seed=81)
    x = np.random.default_rng(82).uniform(0.0, 1.0, (40, 6))
    y = model.decide(x)
    eps = 0.3
    adv = cls(norm, (0.0, 1.0)).generate(model, x, y, eps, rng=3)
    assert (norms.row_norms(adv - x, norm) <= eps * (1 + 1e-12)).all()
    assert adv.min() >= 0.0 and adv.max() <= 1.0


# --------------------------------------------------------------------------- behaviour


def _kwargs(cls):
    if cls is PGD:
        return {"steps": 5, "restarts": 3}
    if cls is Noise:
        return {"samples": 4}
    return {}


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("cls", ALL_ATTACKS)
def test_results_do_not_depend_on_batch_size(cls, norm):
    x, labels = _clusters(n=150, d=5, seed=91)
    target = SoftKNNClassifier(_index("euclidean", x), x, labels, get_metric("euclidean"),
                               k=3, temperature=0.5, candidates=20)
    q = x[:23] + 0.2
    y = labels[:23]
    runs = [cls(norm, batch_size=b, **_kwargs(cls)).generate(target, q, y, 1.5, rng=7)
            for b in (0, 1, 5)]
    for other in runs[1:]:
        np.testing.assert_allclose(other, runs[0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", ALL_ATTACKS)
def test_inputs_are_never_modified(cls):
    model = _linear(seed=101)
    x = np.random.default_rng(102).standard_normal((10, 6))
    y = model.decide(x)
    x.flags.writeable = False
    y.flags.writeable = False
    keep_x, keep_y = x.copy(), y.copy()
    out = cls("l2", **_kwargs(cls)).generate(model, x, y, 0.5, rng=1)
    assert out is not x
    np.testing.assert_array_equal(x, keep_x)
    np.testing.assert_array_equal(y, keep_y)


@pytest.mark.parametrize("cls", [PGD, Noise])
def test_random_attacks_are_seeded(cls):
    model = _linear(seed=111)
    x = np.random.default_rng(112).standard_normal((10, 6))
    y = model.decide(x)
    attack = cls("linf", **({"steps": 2} if cls is PGD else {}))  # the start still shows
    a = attack.generate(model, x, y, 0.2, rng=5)
    b = attack.generate(model, x, y, 0.2, rng=np.random.default_rng(5))
    c = attack.generate(model, x, y, 0.2, rng=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("cls", ALL_ATTACKS)
def test_eps_zero_returns_the_inputs(cls):
    model = _linear(seed=121)
    x = np.random.default_rng(122).standard_normal((8, 6))
    np.testing.assert_array_equal(cls("linf").generate(model, x, None, 0.0), x)


def test_pgd_restarts_keep_successes_and_beat_fgsm_on_average():
    model = _linear(d=6, c=4, seed=131)
    x = np.random.default_rng(132).standard_normal((200, 6))
    y = model.decide(x)
    fgsm = (model.decide(FGSM("l2").generate(model, x, y, 0.3)) != y).mean()
    one = (model.decide(PGD("l2").generate(model, x, y, 0.3, rng=1)) != y).mean()
    three = (model.decide(PGD("l2", restarts=3).generate(model, x, y, 0.3, rng=1)) != y).mean()
    assert one >= fgsm
    assert three >= one


def test_counting_target_counts_gradient_rows():
    model = _linear(seed=141)
    x = np.random.default_rng(142).standard_normal((9, 6))
    counting = CountingTarget(model)
    assert isinstance(counting, AttackTarget)
    PGD("linf", steps=7, random_start=False).generate(counting, x, model.decide(x), 0.1)
    assert counting.gradient_rows == 7 * 9


def test_deepfool_is_a_minimisation_attack_and_others_are_not():
    assert isinstance(DeepFool(), MinimisationAttack)
    assert not isinstance(PGD(), MinimisationAttack)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: FGSM("l1"), "norm must be one of"),
        (lambda: FGSM("linf", (1.0, 0.0)), "bounds"),
        (lambda: PGD(steps=0), "steps"),
        (lambda: PGD(rel_stepsize=-1.0), "rel_stepsize"),
        (lambda: DeepFool(candidates=1), "candidates"),
        (lambda: Noise(distribution="gauss"), "distribution"),
        (lambda: FGSM(batch_size=-1), "batch_size"),
    ],
)
def test_invalid_parameters_raise_clear_errors(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_invalid_inputs_raise_clear_errors():
    model = _linear(seed=151)
    x = np.random.default_rng(152).uniform(0, 1, (5, 6))
    y = model.decide(x)
    with pytest.raises(InvalidInputError, match="eps"):
        FGSM().generate(model, x, y, -0.1)
    with pytest.raises(InvalidInputError, match="eps"):
        PGD().generate(model, x, y, np.inf)
    with pytest.raises(InvalidInputError, match="eps"):
        FGSM().generate(model, x, y, float("nan"))
    with pytest.raises(InvalidInputError, match="y must hold"):
        FGSM().generate(model, x, y[:3], 0.1)
    with pytest.raises(InvalidInputError, match="targeted attack needs"):
        FGSM(targeted=True).generate(model, x, None, 0.1)
    with pytest.raises(InvalidInputError, match="outside the bounds"):
        FGSM("linf", (0.2, 1.0)).generate(model, x, y, 0.1)
    with pytest.raises(InvalidInputError, match="NaN"):
        FGSM().generate(model, np.where(x > 0.5, np.nan, x), y, 0.1)
    with pytest.raises(InvalidInputError, match="rng"):
        PGD().generate(model, x, y, 0.1, rng="seed")


def test_attacks_are_registered_with_budget_parameters():
    table = get_registry().attacks
    assert {"fgsm", "pgd", "deepfool", "noise"} <= set(table.names())
    for name in ("fgsm", "pgd", "deepfool", "noise"):
        info = table.get(name)
        assert {p.name for p in info.query_params} == {"eps_rel", "eps_abs"}
        assert set(info.norms) == {"linf", "l2"}
        defaults = {p.name: p.default for p in info.build_params}
        attack = info.factory(norm="l2", bounds=None, **defaults)
        assert attack.norm == "l2"
