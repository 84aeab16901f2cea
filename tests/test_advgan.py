"""The ``advgan`` attack and its MLPs: every layer's gradient and the generator's whole loss
against central finite differences, Adam against its closed-form first step, the GAN losses
against their formulas, budgets and boxes always respected, save and reload, the GAN alone
driving the discriminator towards chance without shrinking the perturbation, and the attack
on digits against the noise baseline and FGSM (plugins.attacks) at the same budget."""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from harness import InvalidInputError
from harness.data import load_dataset
from harness.plugins import get_registry
from plugins._attack_norms import row_norms
from plugins._attack_targets import SoftKNNClassifier, SoftmaxClassifier, decisions, train_softmax
from plugins._mlp import MLP, Adam, minibatches
from plugins.advgan import (
    AdvGAN,
    _Generator,
    gan_losses,
    plot_curves,
    project_backward,
    smooth_sign,
    smooth_sign_backward,
)
from plugins.attacks import FGSM, Noise


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    ds = load_dataset("digits", tmp_path_factory.mktemp("advgan-data"))
    lo, hi = float(ds.train.min()), float(ds.train.max())
    train = (np.asarray(ds.train, np.float64) - lo) / (hi - lo)
    test = (np.asarray(ds.test, np.float64) - lo) / (hi - lo)
    ytr, yte = np.asarray(ds.train_labels), np.asarray(ds.test_labels)
    return train, ytr, test, yte, train_softmax(train, ytr)


def _numeric_grad(f, p, h=1e-6):
    out = np.zeros_like(p)
    for idx in np.ndindex(p.shape):
        old = p[idx]
        p[idx] = old + h
        up = f()
        p[idx] = old - h
        down = f()
        p[idx] = old
        out[idx] = (up - down) / (2 * h)
    return out


def _linear_target(rng, d=6, c=4):
    return SoftmaxClassifier(rng.normal(size=(d, c)), rng.normal(size=c))


# --------------------------------------------------------------------------- MLP


@pytest.mark.parametrize("hidden", ["relu", "leaky_relu", "tanh", "linear", "softmax"])
@pytest.mark.parametrize("output", ["linear", "tanh"])
def test_every_layer_gradient_matches_finite_differences(hidden, output):
    rng = np.random.default_rng(3)
    net = MLP([5, 7, 6, 3], hidden, output, rng=1)
    x = rng.normal(size=(8, 5))
    weights = rng.normal(size=(8, 3))

    def loss():
        return float((net(x) * weights).sum())

    _, cache = net.forward(x)
    grads, grad_x = net.backward(cache, weights)
    for p, g in zip(net.params, grads, strict=True):
        np.testing.assert_allclose(g, _numeric_grad(loss, p), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(grad_x, _numeric_grad(loss, x), rtol=1e-6, atol=1e-7)


def test_mlp_seeded_init_and_bad_input():
    a, b = MLP([4, 8, 2], rng=5), MLP([4, 8, 2], rng=5)
    for p, q in zip(a.params, b.params, strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(MLP([4, 8, 2], rng=6).params[0], a.params[0])
    # He initialisation: weight variance 2 / fan_in
    big = MLP([400, 300, 2], "relu", rng=0)
    assert big.params[0].var() == pytest.approx(2 / 400, rel=0.05)
    with pytest.raises(InvalidInputError, match="shape"):
        a.forward(np.zeros((3, 5)))
    with pytest.raises(InvalidInputError, match="activation"):
        MLP([2, 2], "swish")


def test_adam_first_step_and_convergence():
    # the first bias-corrected step moves every coordinate by lr * sign(g)
    p = np.array([1.0, -2.0, 3.0])
    opt = Adam([p], lr=0.1)
    opt.step([np.array([0.5, -3.0, 1e-3])])
    np.testing.assert_allclose(p, [0.9, -1.9, 2.9], atol=1e-4)
    # minimises a convex quadratic to its closed-form minimiser
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])
    w = np.zeros(2)
    opt = Adam([w], lr=0.05)
    for _ in range(3000):
        opt.step([a @ w - b])
    np.testing.assert_allclose(w, np.linalg.solve(a, b), atol=1e-4)


def test_softmax_activation_rows_sum_to_one():
    net = MLP([5, 7, 3], "softmax", "linear", rng=0)
    _, cache = net.forward(np.random.default_rng(0).normal(size=(4, 5)) * 50)
    h = cache[0][2]
    assert np.isfinite(h).all() and (h >= 0).all()
    np.testing.assert_allclose(h.sum(axis=1), 1.0)


def test_step_size_schedule():
    cosine = AdvGAN("linf", epochs=4)
    assert [cosine._decay(e) for e in range(4)] == pytest.approx(
        [1.0, (1 + np.cos(np.pi / 4)) / 2, 0.5, (1 + np.cos(3 * np.pi / 4)) / 2])
    flat = AdvGAN("linf", epochs=4, lr_decay="none")
    assert [flat._decay(e) for e in range(4)] == [1.0] * 4


def test_minibatches_cover_every_row_once():
    rng = np.random.default_rng(0)
    parts = minibatches(10, 4, rng)
    assert [len(p) for p in parts] == [4, 4, 2]
    assert sorted(np.concatenate(parts).tolist()) == list(range(10))


# --------------------------------------------------------------------------- losses


def test_gan_losses_match_their_formulas_and_gradients():
    rng = np.random.default_rng(0)
    sr, sf = rng.normal(size=5), rng.normal(size=7)
    sig = lambda a: 1 / (1 + np.exp(-a))  # noqa: E731
    d, _, _, g, _ = gan_losses("nonsaturating", sr, sf)
    assert d == pytest.approx(-np.log(sig(sr)).mean() - np.log(1 - sig(sf)).mean())
    assert g == pytest.approx(-np.log(sig(sf)).mean())
    d2, _, _, g2, _ = gan_losses("least_squares", sr, sf)
    assert d2 == pytest.approx(0.5 * ((sr - 1) ** 2).mean() + 0.5 * (sf ** 2).mean())
    assert g2 == pytest.approx(0.5 * ((sf - 1) ** 2).mean())
    for kind in ("nonsaturating", "least_squares"):
        _, gr, gf, _, gg = gan_losses(kind, sr, sf)

        def part(i, k=kind):
            return lambda: gan_losses(k, sr, sf)[i]

        np.testing.assert_allclose(gr, _numeric_grad(part(0), sr), atol=1e-7)
        np.testing.assert_allclose(gf, _numeric_grad(part(0), sf), atol=1e-7)
        np.testing.assert_allclose(gg, _numeric_grad(part(3), sf), atol=1e-7)


def test_projection_backward_matches_finite_differences():
    from plugins._attack_norms import project

    rng = np.random.default_rng(1)
    raw = rng.normal(size=(6, 5))
    weights = rng.normal(size=(6, 5))
    for norm, eps in (("l2", 1.2), ("linf", 0.7)):
        def loss():
            return float((project(raw, eps, norm) * weights).sum())  # noqa: B023

        g = project_backward(raw, weights, eps, norm)
        np.testing.assert_allclose(g, _numeric_grad(loss, raw), atol=1e-6)


def test_smooth_sign_gradient_and_limits():
    rng = np.random.default_rng(7)
    a = rng.normal(size=(5, 6)) * 3
    weights = rng.normal(size=(5, 6))
    for gain in (0.25, 2.0):
        def loss():
            return float((smooth_sign(a, gain)[0] * weights).sum())  # noqa: B023

        g = smooth_sign_backward(smooth_sign(a, gain)[1], weights)
        np.testing.assert_allclose(g, _numeric_grad(loss, a), rtol=1e-6, atol=1e-8)
    # scale-free; a large gain gives the sign, a small one a scaled copy
    np.testing.assert_allclose(smooth_sign(a, 2.0)[0], smooth_sign(10 * a, 2.0)[0])
    np.testing.assert_allclose(smooth_sign(a, 1e4)[0], np.sign(a))
    rms = np.sqrt((a * a).mean(axis=1, keepdims=True))
    np.testing.assert_allclose(smooth_sign(a, 1e-4)[0], 1e-4 * a / rms, rtol=1e-6)


@pytest.mark.parametrize("norm", ["linf", "linf-sharp", "l2"])
@pytest.mark.parametrize("gan_loss", ["nonsaturating", "least_squares"])
@pytest.mark.parametrize("target_loss", ["margin", "probability", "ce"])
def test_generator_loss_gradient_matches_finite_differences(norm, gan_loss, target_loss):
    rng = np.random.default_rng(2)
    d, n = 6, 5
    target = _linear_target(rng, d)
    x = rng.uniform(0.0, 1.0, size=(n, d))
    y = rng.integers(0, 4, n)
    sharpness = 1.5 if norm == "linf-sharp" else 0.0
    norm = norm.removesuffix("-sharp")
    attack = AdvGAN(norm, (0.0, 1.0), gan_loss=gan_loss, target_loss=target_loss, floor=0.9,
                    kappa=5.0)
    eps = 0.3 if norm == "linf" else 0.6
    output = "linear" if sharpness else "tanh"
    gen = _Generator(MLP([d, 7, d], "leaky_relu", output, 2, output_scale=3.0),
                     x.mean(axis=0), 0.3, eps, norm, sharpness)
    disc = MLP([d, 5, 1], "leaky_relu", "linear", 3)
    parts, grads, x_adv = attack.generator_objective(gen, disc, target, x, y)
    assert parts["target"] != 0 and parts["gan"] > 0
    if norm == "l2":
        assert parts["hinge"] > 0  # both hinges are exercised
        assert (x_adv == 0).any() or (x_adv == 1).any()  # and the box clips some coordinates

    def total():
        return attack.generator_objective(gen, disc, target, x, y)[0]["total"]

    for p, g in zip(gen.mlp.params, grads, strict=True):
        np.testing.assert_allclose(g, _numeric_grad(total, p), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- budgets, files


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_trained_generator_respects_budget_and_box_and_keeps_inputs(norm):
    rng = np.random.default_rng(4)
    target = _linear_target(rng, d=8, c=3)
    x = rng.uniform(0, 1, size=(60, 8))
    before = x.copy()
    attack = AdvGAN(norm, (0.0, 1.0), epochs=5, hidden=16)
    for eps in (0.05, 0.4, 2.0):
        out = attack.generate(target, x, None, eps, rng=0)
        assert row_norms(out - x, norm).max() <= eps * (1 + 1e-12)
        assert out.min() >= 0 and out.max() <= 1
        assert attack.is_trained(eps) and attack.training_seconds[round(eps, 12)] > 0
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(attack.generate(target, x, None, 0.0), x)
    # no box: still inside the ball
    free = AdvGAN(norm, None, epochs=3, hidden=16).generate(target, x * 5, None, 0.3, rng=1)
    assert row_norms(free - x * 5, norm).max() <= 0.3 * (1 + 1e-12)


def test_training_is_seeded():
    rng = np.random.default_rng(5)
    target = _linear_target(rng)
    x = rng.uniform(0, 1, size=(40, 6))
    a = AdvGAN("linf", epochs=3, hidden=8).generate(target, x, None, 0.2, rng=7)
    b = AdvGAN("linf", epochs=3, hidden=8).generate(target, x, None, 0.2, rng=7)
    c = AdvGAN("linf", epochs=3, hidden=8).generate(target, x, None, 0.2, rng=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_save_and_reload_give_the_same_attack(tmp_path):
    rng = np.random.default_rng(6)
    target = _linear_target(rng)
    x = rng.uniform(0, 1, size=(40, 6))
    trained = AdvGAN("l2", (0.0, 1.0), epochs=3, hidden=8)
    first = trained.generate(target, x, None, 0.5, rng=0)
    trained.generate(target, x, None, 0.25, rng=0)
    path = trained.save(tmp_path / "gen.npz")
    with np.load(path, allow_pickle=False) as data:  # readable without pickle
        assert "meta" in data.files
    again = AdvGAN("l2", (0.0, 1.0), generator_file=str(path))
    assert again.is_trained(0.5) and again.is_trained(0.25)
    assert again.curves[0.5] == trained.curves[0.5]
    np.testing.assert_array_equal(again.generate(target, x, None, 0.5), first)
    # a file given before training is written after it, and read by the next attack
    fresh = tmp_path / "fresh.npz"
    out = AdvGAN("linf", epochs=2, hidden=8, generator_file=str(fresh)).generate(
        target, x, None, 0.1, rng=0)
    assert fresh.exists()
    np.testing.assert_array_equal(
        AdvGAN("linf", generator_file=str(fresh)).generate(target, x, None, 0.1), out)
    with pytest.raises(InvalidInputError, match="norm"):
        AdvGAN("linf", generator_file=str(path))
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InvalidInputError, match="cannot read"):
        AdvGAN("linf", generator_file=str(bad))
    with pytest.raises(InvalidInputError, match="no trained generator"):
        AdvGAN("linf").save(tmp_path / "none.npz")


def test_bad_parameters_are_named():
    for kwargs, message in [({"gan_loss": "wgan"}, "gan_loss"),
                            ({"target_loss": "hinge"}, "target_loss"),
                            ({"epochs": 0}, "epochs"),
                            ({"floor": 1.5}, "floor"),
                            ({"lr_generator": 0}, "lr_generator"),
                            ({"lr_decay": "step"}, "lr_decay"),
                            ({"sharpness_start": 0.0}, "sharpness_start"),
                            ({"sharpness": -1.0}, "sharpness"),
                            ({"generator_activation": "relu"}, "generator_activation"),
                            ({"selection": "first"}, "selection"),
                            ({"validation_fraction": 1.0}, r"validation_fraction must lie "
                                                           r"in \[0, 1\), got 1\.0"),
                            ({"validation_fraction": -0.1}, "validation_fraction"),
                            ({"validation_fraction": float("nan")}, "validation_fraction"),
                            ({"patience": -1}, "patience"),
                            ({"patience": 2.5}, "patience")]:
        with pytest.raises(InvalidInputError, match=message):
            AdvGAN("linf", **kwargs)
    target = _linear_target(np.random.default_rng(0))
    with pytest.raises(InvalidInputError, match="eps = 0"):
        AdvGAN("linf").fit(target, np.zeros((3, 6)), None, 0.0)
    with pytest.raises(InvalidInputError, match="eps"):
        AdvGAN("linf").generate(target, np.zeros((3, 6)), None, -1.0)
    # a split that leaves no input on one side is refused, naming the fraction and the count
    with pytest.raises(InvalidInputError, match=r"validation_fraction 0\.1 of 3 inputs "
                                                r"holds out 0"):
        AdvGAN("linf", validation_fraction=0.1).fit(target, np.zeros((3, 6)), None, 0.1)
    with pytest.raises(InvalidInputError, match="holds out 2"):
        AdvGAN("linf", validation_fraction=0.9).fit(target, np.zeros((2, 6)), None, 0.1)


def test_registered_with_the_attack_contract():
    info = get_registry().attacks.get("advgan")
    assert set(info.norms) == {"linf", "l2"}
    assert {p.name for p in info.query_params} >= {"eps_rel", "eps_abs"}
    attack = info.factory(norm="l2", bounds=(0.0, 1.0), epochs=2)
    assert isinstance(attack, AdvGAN) and attack.norm == "l2"
    params = {p.name: p for p in info.build_params}
    assert params["selection"].default == attack.selection == "best"
    assert params["selection"].choices == ("best", "last")
    assert params["validation_fraction"].default == attack.validation_fraction == 0.2
    assert (params["validation_fraction"].low, params["validation_fraction"].high) == (0, 0.99)
    assert params["patience"].default == attack.patience == 0
    with pytest.raises(InvalidInputError, match="validation_fraction"):
        params["validation_fraction"].coerce(1.0, "advgan")


# --------------------------------------------------------------------------- behaviour


def test_gan_alone_drives_discriminator_towards_chance_keeping_the_budget(digits, tmp_path):
    train, ytr, *_, target = digits
    eps = 0.1
    # the GAN's dynamics on all 400 inputs, to the last epoch: no split, no selection
    attack = AdvGAN("linf", (0.0, 1.0), target_weight=0.0, epochs=20, validation_fraction=0.0,
                    selection="last")
    curves = attack.fit(target, train[:400], ytr[:400], eps, rng=0)
    acc = np.array(curves["d_accuracy"])
    peak = int(np.argmax(acc[:10]))
    late = acc[-5:].mean()
    # the discriminator first learns to tell perturbed inputs apart, then loses that edge
    assert acc[peak] >= 0.65
    assert late <= acc[peak] - 0.1 and abs(late - 0.5) < 0.15
    # ... not because the perturbations vanished
    assert min(curves["norm_mean_rel"][-5:]) > 0.5
    out = attack.generate(target, train[:400], ytr[:400], eps)
    assert row_norms(out - train[:400], "linf").mean() > 0.5 * eps
    files = [plot_curves(curves, tmp_path / "curves.png"),
             plot_curves(curves, tmp_path / "curves.svg")]
    assert all(f.stat().st_size > 1000 for f in files)
    with pytest.raises(InvalidInputError, match="lack"):
        plot_curves({"d_loss": [1.0]}, tmp_path / "x.png")


@pytest.mark.parametrize("eps", [0.05, 0.1, 0.2])
def test_on_digits_linf_beats_noise_and_reaches_fgsm_at_the_same_budget(digits, eps):
    _, _, test, yte, target = digits
    clean = decisions(target, test) == yte

    def success(x_adv):
        return float((decisions(target, x_adv) != yte)[clean].mean())

    # as in the attack task: the generator is trained on the inputs it attacks
    attack = AdvGAN("linf", (0.0, 1.0))
    advgan = success(attack.generate(target, test, yte, eps, rng=0))
    fgsm = success(FGSM("linf", (0.0, 1.0)).generate(target, test, yte, eps))
    noise = success(Noise("linf", (0.0, 1.0)).generate(target, test, yte, eps, rng=0))
    assert fgsm > 0.1
    assert advgan >= 3 * max(noise, 0.02)
    assert advgan >= fgsm


def test_on_digits_l2_reaches_fgsm_at_the_same_budget(digits):
    _, _, test, yte, target = digits
    eps = 0.5  # about half the median l2 1-NN distance of the digits test inputs
    clean = decisions(target, test) == yte

    def success(x_adv):
        return float((decisions(target, x_adv) != yte)[clean].mean())

    advgan = success(AdvGAN("l2", (0.0, 1.0)).generate(target, test, yte, eps, rng=0))
    fgsm = success(FGSM("l2", (0.0, 1.0)).generate(target, test, yte, eps))
    assert fgsm > 0.1
    assert advgan >= fgsm


def test_attacks_a_soft_knn_target(digits):
    from harness.metrics import get_metric
    from plugins.bruteforce import BruteForceIndex

    train, ytr, test, yte, _ = digits
    metric = get_metric("sqeuclidean")
    index = BruteForceIndex(metric="sqeuclidean")
    index.build(train.astype(np.float32))
    target = SoftKNNClassifier(index, train, ytr, metric, k=5, temperature=0.5)
    x, y = test[:60], yte[:60]
    out = AdvGAN("l2", (0.0, 1.0), epochs=8).generate(target, x, y, 1.5, rng=0)
    assert row_norms(out - x, "l2").max() <= 1.5 * (1 + 1e-12)
    noise = Noise("l2", (0.0, 1.0)).generate(target, x, y, 1.5, rng=0)
    fooled = (decisions(target, out) != y).mean()
    assert fooled > (decisions(target, noise) != y).mean()


def test_attack_task_times_training_apart(tmp_path, monkeypatch):
    from harness.config import expand, parse_suite
    from harness.data import resolve_dataset
    from harness.runner import GroupJob
    from plugins.attack_task import attack_worker

    trainings = []
    fit = AdvGAN.fit

    def recording_fit(self, *args, **kwargs):
        curves = fit(self, *args, **kwargs)
        trainings.append(dict(self.selected[self._key(args[3])]))
        return curves

    monkeypatch.setattr(AdvGAN, "fit", recording_fit)
    registry = get_registry()
    run = {"task": "attack", "dataset": "digits", "attack": "advgan", "rescale": "unit",
           "bounds": "data", "n_inputs": 40, "build": {"epochs": 3, "hidden": 16},
           "query": {"eps_rel": [0.0, 0.3, 0.6]}}
    suite = parse_suite({"run": [run]}, registry=registry)
    (group,) = list(expand(suite, registry))
    job = GroupJob(specs=group.specs, dataset="digits", metric=resolve_dataset("digits").metric,
                   data_dir=str(tmp_path), extra_modules=[], index_name="advgan", task="attack")
    points = [p for kind, p in attack_worker(job) if kind == "point"]
    assert len(points) == 3
    by_eps = {p["measures"]["eps_rel"]: p["measures"] for p in points}
    assert "training_seconds" not in by_eps[0.0]
    for eps_rel in (0.3, 0.6):
        m = by_eps[eps_rel]
        assert m["training_seconds"] > 0 and m["attack_seconds"] > 0
        assert m["attacks_per_second"] == pytest.approx(40 / m["attack_seconds"])
        assert m["gradient_evaluations"] == 0  # the trained generator needs no gradient
        assert m["max_perturbation_ratio"] <= 1 + 1e-9
    # trained on the 40 attacked inputs, with the model selected on them (no split)
    assert len(trainings) == 2
    for info in trainings:
        assert info["transductive"] and info["validation_fraction"] == 0.0
        np.testing.assert_array_equal(info["rows"], np.arange(40))


# --------------------------------------------------------------------------- model selection


def _success_over_movable(target, x, y, x_adv):
    """Share of adversarial outputs among the inputs the target classifies correctly."""
    movable = decisions(target, x) == y
    return float((decisions(target, x_adv) != y)[movable].mean())


def test_selection_on_a_held_out_split_keeps_the_best_epoch(digits):
    train, ytr, test, yte, target = digits
    x, y, eps = train[:300], ytr[:300], 1.0
    kw = {"epochs": 30, "validation_fraction": 0.25}
    best = AdvGAN("l2", (0.0, 1.0), **kw)
    curves = best.fit(target, x, y, eps, rng=0)
    info = best.selected[eps]
    rows = info["rows"]
    # a seeded split of round(0.25 * 300) inputs, all distinct
    assert len(rows) == 75 and len(np.unique(rows)) == 75 and rows.max() < 300
    assert info["validation_fraction"] == 0.25 and not info["transductive"]
    history = curves["selection_success"]
    assert len(history) == info["epochs_run"] == 30
    # the kept epoch is the (last) best of the recorded history ...
    assert info["success"] == max(history)
    assert info["epoch"] == max(e for e, v in enumerate(history) if v == max(history))
    assert info["epoch"] < 29  # (not trivially the last epoch here)
    # ... and the returned generator, run afresh on the held-out rows, has that success
    out = best.generate(target, x[rows], y[rows], eps)
    assert _success_over_movable(target, x[rows], y[rows], out) == pytest.approx(
        info["success"], abs=1e-12)
    # the same seed and data without selection: same split, same training, last epoch kept
    last = AdvGAN("l2", (0.0, 1.0), selection="last", **kw)
    last.fit(target, x, y, eps, rng=0)
    np.testing.assert_array_equal(last.selected[eps]["rows"], rows)
    assert last.curves[eps]["selection_success"] == history
    assert last.selected[eps]["epoch"] == 29
    out_last = last.generate(target, x[rows], y[rows], eps)
    assert _success_over_movable(target, x[rows], y[rows], out_last) == pytest.approx(
        history[-1], abs=1e-12)
    # on inputs seen by neither, the selected generator does at least as well
    held_out_best = _success_over_movable(target, test, yte, best.generate(target, test, yte,
                                                                           eps))
    held_out_last = _success_over_movable(target, test, yte, last.generate(target, test, yte,
                                                                           eps))
    assert held_out_best >= held_out_last
    # another seed draws another split
    other = AdvGAN("l2", (0.0, 1.0), **kw | {"epochs": 1})
    other.fit(target, x, y, eps, rng=1)
    assert not np.array_equal(other.selected[eps]["rows"], rows)


def test_transductive_training_selects_on_the_attacked_inputs(digits):
    _, _, test, yte, target = digits
    x, y, eps = test[:120], yte[:120], 0.1
    kw = {"epochs": 12, "hidden": 32, "validation_fraction": 0.5}  # the fraction is not used
    best = AdvGAN("linf", (0.0, 1.0), **kw)
    out = best.generate(target, x, y, eps, rng=3)
    info, history = best.selected[eps], best.curves[eps]["selection_success"]
    assert info["transductive"] and info["validation_fraction"] == 0.0
    np.testing.assert_array_equal(info["rows"], np.arange(120))
    assert info["success"] == max(history)
    assert _success_over_movable(target, x, y, out) == pytest.approx(max(history), abs=1e-12)
    # the attacked inputs' success is at least the last epoch's, which selection = "last"
    # returns from the same training (no split: same random draws as before selection)
    last = AdvGAN("linf", (0.0, 1.0), selection="last", **kw)
    out_last = last.generate(target, x, y, eps, rng=3)
    assert last.curves[eps]["selection_success"] == history
    assert _success_over_movable(target, x, y, out_last) == pytest.approx(history[-1],
                                                                          abs=1e-12)
    assert _success_over_movable(target, x, y, out) >= _success_over_movable(target, x, y,
                                                                             out_last)
    # fit(..., transductive=True), as the attack task calls it, is the same training
    same = AdvGAN("linf", (0.0, 1.0), **kw)
    same.fit(target, x, y, eps, rng=3, transductive=True)
    np.testing.assert_array_equal(same.generate(target, x, y, eps), out)


def test_patience_stops_training_and_keeps_a_prefix_of_the_full_run(digits):
    train, ytr, *_, target = digits
    x, y, eps = train[:200], ytr[:200], 0.2
    kw = {"epochs": 25, "hidden": 32}
    full = AdvGAN("linf", (0.0, 1.0), **kw).fit(target, x, y, eps, rng=0)
    history = full["selection_success"]
    patience = 3
    stopped = AdvGAN("linf", (0.0, 1.0), patience=patience, **kw)
    curves = stopped.fit(target, x, y, eps, rng=0)
    run = stopped.selected[eps]["epochs_run"]
    # oracle: the first epoch at which the best so far is `patience` epochs old
    expected = len(history)
    for e in range(len(history)):
        if e - int(np.argmax(history[:e + 1])) >= patience:
            expected = e + 1
            break
    assert run == expected < 25
    # the same training as the full run, cut short
    assert curves["selection_success"] == history[:run]
    assert curves["d_loss"] == full["d_loss"][:run]
    assert stopped.selected[eps]["success"] == max(history[:run])


def test_selection_is_saved_and_files_without_it_still_load(digits, tmp_path):
    import json

    train, ytr, *_, target = digits
    x, y = train[:80], ytr[:80]
    attack = AdvGAN("linf", (0.0, 1.0), epochs=3, hidden=8)
    attack.fit(target, x, y, 0.1, rng=0)
    out = attack.generate(target, x, y, 0.1)
    path = attack.save(tmp_path / "gen.npz")
    again = AdvGAN("linf", (0.0, 1.0), generator_file=str(path))
    saved = {k: v for k, v in attack.selected[0.1].items() if k != "rows"}
    assert again.selected[0.1] == saved
    np.testing.assert_array_equal(again.generate(target, x, y, 0.1), out)
    # a file as written before model selection: no "selected", no selection curve
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(str(arrays["meta"]))
    for g in meta["generators"]:
        del g["selected"]
        del g["curves"]["selection_success"]
    arrays["meta"] = np.array(json.dumps(meta))
    old = tmp_path / "old.npz"
    with old.open("wb") as fh:
        np.savez(fh, **arrays)
    loaded = AdvGAN("linf", (0.0, 1.0), generator_file=str(old))
    assert loaded.is_trained(0.1) and 0.1 not in loaded.selected
    np.testing.assert_array_equal(loaded.generate(target, x, y, 0.1), out)
    assert plot_curves(loaded.curves[0.1], tmp_path / "old.png").stat().st_size > 1000
