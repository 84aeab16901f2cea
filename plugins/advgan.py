"""The ``advgan`` attack plugin: a GAN that learns to produce adversarial perturbations.

AdvGAN (Xiao et al., IJCAI 2018) in numpy. A generator ``G`` (an :class:`plugins._mlp.MLP`
with an output ``u`` in [-1, 1]^d) maps an input ``x`` to a raw perturbation ``r``:
``r = eps * u`` for l2; for linf, ``u`` is mapped linearly onto the interval each coordinate
may move in, ``[max(-eps, low - x), min(eps, high - x)]`` (``[-eps, eps]`` with no box), so
the box never clips a gradient away. In l2, ``u`` is the MLP's tanh output; in linf it is
the smooth sign ``tanh(gain * a / rms(a))`` of the MLP's linear output ``a``
(:func:`smooth_sign`), the gain rising over the epochs from ``sharpness_start`` to
``sharpness``: the network learns a direction with no saturation in its way first, and the
output is then pushed towards the vertices of the allowed box, where a locally linear
target's linf optimum lies. ``r`` is projected onto the ``eps``-ball of the
attack's norm and the result clipped to the box: ``x' = clip(x + P_eps(r))``. A
discriminator ``D`` (an MLP with one logit) tells clean inputs from perturbed ones. ``G``
minimises

    L_G = gan_weight * L_gan + target_weight * L_target + hinge_weight * L_hinge

- ``L_gan``: the GAN loss of the perturbed inputs, non-saturating ``-log sigmoid(D(x'))``
  or least squares ``(D(x') - 1)^2 / 2`` (``gan_loss``); ``D`` minimises
  ``-log sigmoid(D(x)) - log(1 - sigmoid(D(x')))`` or ``((D(x) - 1)^2 + D(x')^2) / 2``.
- ``L_target`` (``target_loss``): ``"margin"``, the C&W margin ``max(z_y - max_{i != y}
  z_i, -kappa)`` (targeted: ``max(max_{i != t} z_i - z_t, -kappa)``), gradients from the
  target's ``class_gradient``; ``"probability"``, the softmax probability of the label
  (targeted: ``1 - p_t``); ``"ce"``, minus the cross-entropy (plus it, targeted). The last
  two take gradients from ``loss_gradient`` and work for id-set labels (the retrieval
  target; the curves then show the reference item's value).
- ``L_hinge``: AdvGAN's hinge ``max(0, ||r||_p / eps - 1)`` on the raw perturbation (it
  keeps the generator inside the budget, so the projection rarely binds), plus a floor
  ``max(0, floor - ||x' - x||_p / eps)`` (the perturbation may not shrink to nothing to
  look clean).

Every term is averaged over the mini-batch; :meth:`AdvGAN.generator_objective` returns
``L_G`` and its exact gradient. Training is per budget: ``fit(target, x, y, eps, rng)``
trains a generator for ``eps`` on ``(x, y)`` and keeps it; ``generate`` at a budget with no
generator trains one on the inputs it is given (transductive: the ``attack`` task trains on
the inputs it attacks, timed apart as ``training_seconds``) and then attacks in one forward
pass. Model selection: after each epoch the generator attacks its *selection inputs* (a
seeded share ``validation_fraction`` of ``fit``'s inputs, held out of the training; in
transductive training, the inputs to be attacked) and the weights of the epoch with the best
success there are kept (``selection``; ``patience`` stops early); :attr:`AdvGAN.selected`
records the choice. ``training_seconds`` (eps -> seconds) and ``curves`` (eps -> per-epoch
curves, see ``CURVE_KEYS``, plus ``selection_success``) record the training;
:func:`plot_curves` draws them. ``save(path)`` /
``load(path)`` store the trained generators in an ``.npz`` file (no pickle); the build
parameter ``generator_file`` loads one at construction (or, when the file does not exist
yet, saves there after training).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import AttackInfo, InvalidInputError, Param, hookimpl
from plugins._attack_norms import NORMS, clip_box, project, row_norms
from plugins._attack_targets import is_adversarial, reference_labels
from plugins._mlp import MLP, Adam, minibatches
from plugins.attacks import EPS_ABS, EPS_REL, Attack, _as_rng, _check_float, _check_int

GAN_LOSSES = ("nonsaturating", "least_squares")
LR_DECAYS = ("cosine", "none")
GENERATOR_ACTIVATIONS = ("leaky_relu", "softmax")
TARGET_LOSSES = ("margin", "probability", "ce")
SELECTIONS = ("best", "last")
CURVE_KEYS = ("d_loss", "g_gan_loss", "target_loss", "hinge_loss", "d_accuracy",
              "success_rate", "norm_mean_rel")
FILE_VERSION = 1


def _softplus(a: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, a)


def _sigmoid(a: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def gan_losses(kind: str, s_real: np.ndarray, s_fake: np.ndarray
               ) -> tuple[float, np.ndarray, np.ndarray, float, np.ndarray]:
    """Mean losses of a batch and their gradients with respect to the logits ``s``.

    Returns ``(d_loss, d d_loss / d s_real, d d_loss / d s_fake, g_loss, d g_loss / d
    s_fake)`` for ``kind`` ``"nonsaturating"`` or ``"least_squares"``.
    """
    n_r, n_f = len(s_real), len(s_fake)
    if kind == "nonsaturating":
        d_loss = float(_softplus(-s_real).mean() + _softplus(s_fake).mean())
        g_real = -_sigmoid(-s_real) / n_r
        g_fake = _sigmoid(s_fake) / n_f
        g_loss = float(_softplus(-s_fake).mean())
        g_gen = -_sigmoid(-s_fake) / n_f
    else:
        d_loss = float(0.5 * ((s_real - 1.0) ** 2).mean() + 0.5 * (s_fake ** 2).mean())
        g_real = (s_real - 1.0) / n_r
        g_fake = s_fake / n_f
        g_loss = float(0.5 * ((s_fake - 1.0) ** 2).mean())
        g_gen = (s_fake - 1.0) / n_f
    return d_loss, g_real, g_fake, g_loss, g_gen


def _norm_grad(delta: np.ndarray, norm: str) -> np.ndarray:
    """A (sub)gradient of ``||delta_i||_p`` for each row (zero rows get zero)."""
    if norm == "l2":
        n = np.linalg.norm(delta, axis=1)
        return delta / np.where(n > 0, n, 1.0)[:, None]
    out = np.zeros_like(delta)
    j = np.argmax(np.abs(delta), axis=1)
    rows = np.arange(len(delta))
    out[rows, j] = np.sign(delta[rows, j])
    return out


def project_backward(raw: np.ndarray, grad: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """Gradient with respect to ``raw`` of a loss whose gradient at ``project(raw, eps)`` is
    ``grad`` (the Jacobian of the exact projection: a mask for linf; for l2 rows outside the
    ball, ``eps / ||r|| (g - r (r.g) / ||r||^2)``)."""
    if norm == "linf":
        return np.where(np.abs(raw) <= eps, grad, 0.0)
    n = np.linalg.norm(raw, axis=1)
    out = grad.copy()
    out_ = n > eps
    if out_.any():
        r, g, nn = raw[out_], grad[out_], n[out_][:, None]
        out[out_] = eps / nn * (g - r * (r * g).sum(axis=1, keepdims=True) / nn ** 2)
    return out


def smooth_sign(a: np.ndarray, gain: float) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """``tanh(gain * a / rms(a))`` per row (``rms(a) = sqrt(mean(a^2))`` over the row): a
    sign of ``a`` whose sharpness is ``gain`` and does not depend on ``a``'s scale. Returns
    the output and the cache :func:`smooth_sign_backward` needs."""
    r = np.sqrt((a * a).mean(axis=1, keepdims=True) + 1e-12)
    s = a / r
    u = np.tanh(gain * s)
    return u, (s, r, u, np.asarray(gain, dtype=np.float64))


def smooth_sign_backward(cache: tuple[np.ndarray, ...], grad: np.ndarray) -> np.ndarray:
    """Gradient with respect to ``a`` of a loss whose gradient at ``smooth_sign(a, gain)``
    is ``grad`` (``d s / d a = (I - s s^T / d) / rms(a)`` for ``s = a / rms(a)``)."""
    s, r, u, gain = cache
    gs = gain * (1.0 - u * u) * grad
    return (gs - s * (gs * s).mean(axis=1, keepdims=True)) / r


class _Generator:
    """A trained generator for one budget: standardisation, the MLP, the budget and, for a
    linf generator, the sharpness of its output (0: the MLP's own tanh output)."""

    def __init__(self, mlp: MLP, shift: np.ndarray, scale: float, eps: float,
                 norm: str, sharpness: float = 0.0) -> None:
        self.mlp, self.shift, self.scale, self.eps, self.norm = mlp, shift, scale, eps, norm
        self.sharpness = float(sharpness)

    def raw(self, x: np.ndarray, bounds: tuple[float, float] | None
            ) -> tuple[np.ndarray, Any, Any]:
        """Raw perturbation, the cache :meth:`backward` needs and ``d raw / d u``
        (elementwise).

        ``u`` in [-1, 1]^d is the MLP's tanh output, or, with a sharpness, the smooth sign
        of its linear output (:func:`smooth_sign`). l2: ``eps * u``. linf: ``u`` is mapped
        linearly onto the interval of each coordinate that both the ball and the box allow,
        ``[max(-eps, low - x), min(eps, high - x)]`` (``[-eps, eps]`` with no box), so no
        output is clipped away.
        """
        out, cache = self.mlp.forward((x - self.shift) / self.scale)
        sign_cache = None
        if self.sharpness > 0:
            out, sign_cache = smooth_sign(out, self.sharpness)
        cache = (cache, sign_cache)
        if self.norm == "l2" or bounds is None:
            return self.eps * out, cache, self.eps
        lo = np.maximum(-self.eps, bounds[0] - x)
        hi = np.minimum(self.eps, bounds[1] - x)
        half = 0.5 * (hi - lo)
        return lo + half * (out + 1.0), cache, half

    def backward(self, cache: Any, grad_u: np.ndarray) -> list[np.ndarray]:
        """Gradients of the MLP's parameters from the gradient with respect to ``u``."""
        mlp_cache, sign_cache = cache
        if sign_cache is not None:
            grad_u = smooth_sign_backward(sign_cache, grad_u)
        return self.mlp.backward(mlp_cache, grad_u)[0]

    def perturb(self, x: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
        """``clip(x + P_eps(raw))``: the adversarial inputs."""
        raw = self.raw(x, bounds)[0]
        return clip_box(x + project(raw, self.eps, self.norm), bounds)


class AdvGAN(Attack):
    """AdvGAN: a generator trained against a discriminator and the target (module docstring).

    :param gan_loss: ``"nonsaturating"`` or ``"least_squares"``.
    :param target_loss: ``"margin"`` (C&W margin, class gradients), ``"probability"`` or
        ``"ce"``.
    :param epochs: passes over the training inputs.
    :param minibatch: rows per training step.
    :param hidden: width of every hidden layer of G and D.
    :param layers: hidden layers of G and of D.
    :param lr_generator, lr_discriminator: Adam step sizes.
    :param lr_decay: ``"cosine"`` (both step sizes decay per epoch along a half cosine
        from their initial values towards 0, so the game stays balanced) or ``"none"``.
    :param generator_activation: hidden activation of G, ``"leaky_relu"`` or ``"softmax"``
        (a gated mixture of learned perturbation templates).
    :param sharpness, sharpness_start: linf only: G's output is ``tanh(gain * a / rms(a))``
        of its linear output ``a``, the gain rising linearly over the epochs from
        ``sharpness_start`` to ``sharpness``; ``sharpness = 0``: a plain tanh output.
    :param gan_weight, target_weight, hinge_weight: weights of the three terms of ``L_G``.
    :param floor: smallest perturbation norm, relative to eps, before the floor hinge acts.
    :param kappa: margin confidence of the margin loss (logit units).
    :param generator_file: ``.npz`` to load trained generators from (or to save to after
        training, when it does not exist yet); ``""``: none.
    :param selection: ``"best"``: keep G's weights of the epoch with the highest attack
        success on the selection inputs (see :meth:`fit`); ``"last"``: those of the last
        epoch.
    :param validation_fraction: share of the inputs given to :meth:`fit` held out (a seeded
        split) as its selection inputs, in [0, 1); 0: select on the training inputs
        themselves. Not used when the generator is trained on the inputs it attacks
        (``transductive``), which are then the selection inputs.
    :param patience: stop training when the success on the selection inputs has not
        improved for this many epochs; 0: train every epoch.
    """

    name = "advgan"

    def __init__(self, norm: str = "linf", bounds: tuple[float, float] | None = None, *,
                 targeted: bool = False, batch_size: int = 0,
                 gan_loss: str = "nonsaturating", target_loss: str = "margin",
                 epochs: int = 60, minibatch: int = 32, hidden: int = 64, layers: int = 1,
                 lr_generator: float = 2e-2, lr_discriminator: float = 3e-3,
                 lr_decay: str = "cosine", generator_activation: str = "leaky_relu",
                 sharpness: float = 5.0, sharpness_start: float = 0.25,
                 gan_weight: float = 1.0, target_weight: float = 10.0,
                 hinge_weight: float = 1.0, floor: float = 0.5, kappa: float = 0.0,
                 generator_file: str = "", selection: str = "best",
                 validation_fraction: float = 0.2, patience: int = 0) -> None:
        super().__init__(norm, bounds, targeted=targeted, batch_size=batch_size)
        if gan_loss not in GAN_LOSSES:
            raise InvalidInputError(f"advgan: gan_loss must be one of {list(GAN_LOSSES)}, got "
                                    f"{gan_loss!r}")
        if target_loss not in TARGET_LOSSES:
            raise InvalidInputError(f"advgan: target_loss must be one of "
                                    f"{list(TARGET_LOSSES)}, got {target_loss!r}")
        if lr_decay not in LR_DECAYS:
            raise InvalidInputError(f"advgan: lr_decay must be one of {list(LR_DECAYS)}, got "
                                    f"{lr_decay!r}")
        if generator_activation not in GENERATOR_ACTIVATIONS:
            raise InvalidInputError(f"advgan: generator_activation must be one of "
                                    f"{list(GENERATOR_ACTIVATIONS)}, got "
                                    f"{generator_activation!r}")
        if selection not in SELECTIONS:
            raise InvalidInputError(f"advgan: selection must be one of {list(SELECTIONS)}, "
                                    f"got {selection!r}")
        self.gan_loss, self.target_loss = gan_loss, target_loss
        self.selection = selection
        self.lr_decay, self.generator_activation = lr_decay, generator_activation
        self.epochs = _check_int(epochs, "epochs", 1)
        self.minibatch = _check_int(minibatch, "minibatch", 1)
        self.hidden = _check_int(hidden, "hidden", 1)
        self.layers = _check_int(layers, "layers", 1)
        self.lr_generator = _check_float(lr_generator, "lr_generator")
        self.lr_discriminator = _check_float(lr_discriminator, "lr_discriminator")
        for name in ("lr_generator", "lr_discriminator"):
            if getattr(self, name) <= 0:
                raise InvalidInputError(f"advgan: {name} must be > 0")
        self.sharpness = _check_float(sharpness, "sharpness")
        self.sharpness_start = _check_float(sharpness_start, "sharpness_start")
        if self.sharpness > 0 and self.sharpness_start <= 0:
            raise InvalidInputError("advgan: sharpness_start must be > 0")
        self.gan_weight = _check_float(gan_weight, "gan_weight")
        self.target_weight = _check_float(target_weight, "target_weight")
        self.hinge_weight = _check_float(hinge_weight, "hinge_weight")
        self.floor = _check_float(floor, "floor")
        if self.floor > 1:
            raise InvalidInputError(f"advgan: floor must lie in [0, 1], got {floor!r}")
        self.kappa = _check_float(kappa, "kappa")
        self.validation_fraction = _check_float(validation_fraction, "validation_fraction")
        if self.validation_fraction >= 1:
            raise InvalidInputError(f"advgan: validation_fraction must lie in [0, 1), got "
                                    f"{validation_fraction!r}")
        self.patience = _check_int(patience, "patience", 0)
        self.generator_file = str(generator_file or "")
        self.generators: dict[float, _Generator] = {}
        #: eps -> seconds spent training its generator
        self.training_seconds: dict[float, float] = {}
        #: eps -> {curve name -> one value per epoch} (see ``CURVE_KEYS``)
        self.curves: dict[float, dict[str, list[float]]] = {}
        #: eps -> how its generator was selected: ``epoch`` (0-based epoch whose weights were
        #: kept), ``success`` (its success on the selection inputs), ``epochs_run`` (fewer than
        #: ``epochs`` after early stopping), ``transductive``, ``validation_fraction`` (the
        #: share held out, 0 when the selection inputs are the training inputs) and, after
        #: training in this process, ``rows`` (indices of the selection inputs among those
        #: given to :meth:`fit`)
        self.selected: dict[float, dict[str, Any]] = {}
        if self.generator_file and Path(self.generator_file).exists():
            self.load(self.generator_file)

    @staticmethod
    def _key(eps: float) -> float:
        return round(float(eps), 12)

    def is_trained(self, eps: float) -> bool:
        """Whether a generator for budget ``eps`` exists."""
        return self._key(eps) in self.generators

    # ------------------------------------------------------------------ target loss
    def _target_term(self, target: Any, x: np.ndarray, y: np.ndarray
                     ) -> tuple[float, np.ndarray]:
        """Mean target loss at ``x`` and its gradient with respect to ``x`` (per row / n)."""
        n = len(x)
        if self.target_loss == "ce":
            z = np.asarray(target.predict(x), dtype=np.float64)
            ref = reference_labels(y)
            top = np.max(z, axis=1)
            lse = np.log(np.exp(z - top[:, None]).sum(axis=1)) + top
            ce = lse - z[np.arange(n), ref]
            ce = np.where(np.isfinite(ce), ce, 0.0)
            sign = 1.0 if self.targeted else -1.0
            g = np.asarray(target.loss_gradient(x, y), dtype=np.float64)
            return float(sign * ce.mean()), sign * g / n
        if self.target_loss == "probability":
            z = np.asarray(target.predict(x), dtype=np.float64)
            ref = reference_labels(y)
            top = np.max(z, axis=1)
            lse = np.log(np.exp(z - top[:, None]).sum(axis=1)) + top
            p = np.exp(z[np.arange(n), ref] - lse)
            p = np.where(np.isfinite(p), p, 0.0)
            g = np.asarray(target.loss_gradient(x, y), dtype=np.float64)
            if self.targeted:
                return float((1.0 - p).mean()), p[:, None] * g / n
            return float(p.mean()), -p[:, None] * g / n
        z = np.asarray(target.predict(x), dtype=np.float64)
        rows = np.arange(n)
        label = reference_labels(y).astype(np.int64)
        others = z.copy()
        others[rows, label] = -np.inf
        rival = np.argmax(others, axis=1)
        z_lab, z_riv = z[rows, label], z[rows, rival]
        margin = z_riv - z_lab if self.targeted else z_lab - z_riv
        active = np.isfinite(margin) & (margin > -self.kappa)
        loss = np.where(np.isfinite(margin), np.maximum(margin, -self.kappa), -self.kappa)
        grad = np.zeros_like(x)
        if active.any():
            idx = np.flatnonzero(active)
            g_lab = np.asarray(target.class_gradient(x[idx], label[idx]), dtype=np.float64)
            g_riv = np.asarray(target.class_gradient(x[idx], rival[idx]), dtype=np.float64)
            grad[idx] = (g_riv - g_lab) if self.targeted else (g_lab - g_riv)
        return float(loss.mean()), grad / n

    # ------------------------------------------------------------------ training
    def _decay(self, epoch: int) -> float:
        """Factor on both step sizes in ``epoch`` (0-based): 1, or a half cosine from 1
        towards 0 (``(1 + cos(pi * epoch / epochs)) / 2``)."""
        if self.lr_decay == "none":
            return 1.0
        return 0.5 * (1.0 + float(np.cos(np.pi * epoch / self.epochs)))

    def _sharpness(self, epoch: int) -> float:
        """Gain of the linf generator's smooth sign in ``epoch`` (0-based): linear from
        ``sharpness_start`` at the first epoch to ``sharpness`` at the last."""
        t = epoch / max(self.epochs - 1, 1)
        return self.sharpness_start + t * (self.sharpness - self.sharpness_start)

    def _split(self, n: int, rng: np.random.Generator, transductive: bool
               ) -> tuple[np.ndarray, np.ndarray, float]:
        """Rows of ``n`` inputs to train on and rows to select the epoch on, and the share
        held out. Transductive training, or ``validation_fraction = 0``: all rows for both
        (no random draw). Else a seeded permutation: ``round(fraction * n)`` rows held out."""
        rows = np.arange(n)
        if transductive or self.validation_fraction == 0:
            return rows, rows, 0.0
        n_val = round(self.validation_fraction * n)
        if not 1 <= n_val <= n - 1:
            raise InvalidInputError(
                f"advgan: validation_fraction {self.validation_fraction:g} of {n} inputs "
                f"holds out {n_val}; at least one input must be held out and one left to "
                f"train on (give more inputs, or validation_fraction = 0 to select on the "
                f"training inputs)")
        perm = rng.permutation(n)
        return np.sort(perm[n_val:]), np.sort(perm[:n_val]), self.validation_fraction

    def _selection_score(self, target: Any, x_adv: np.ndarray, labels: np.ndarray,
                         movable: np.ndarray) -> float:
        """Attack success on the selection inputs: the share of adversarial outputs among
        the inputs that were not adversarial before the attack (``movable``)."""
        return float(np.mean(is_adversarial(target, x_adv, labels, self.targeted)[movable]))

    def fit(self, target: Any, x: Any, y: Any = None, eps: float = 0.0,
            rng: Any = None, *, transductive: bool = False) -> dict[str, list[float]]:
        """Train a generator for budget ``eps`` on inputs ``x`` (labels ``y`` as in
        :meth:`generate`); returns the training curves (also kept in :attr:`curves`).

        Model selection: after every epoch the generator attacks the *selection inputs*
        and its success there (the share of those not adversarial before the attack that
        are after it) is recorded as the curve ``selection_success``. With
        ``selection = "best"`` the weights of the epoch with the highest value are kept
        (the later epoch on a tie); ``patience`` stops the training early. The selection
        inputs are a seeded share ``validation_fraction`` of ``x``, held out of the
        training; with ``validation_fraction = 0``, or ``transductive=True`` (``x`` are the
        inputs that will be attacked, as in :meth:`generate` and the ``attack`` task), they
        are the training inputs themselves. :attr:`selected` records the choice.

        Set ``target_weight=0`` to train the GAN alone.
        """
        eps = self._eps(eps)
        if eps == 0:
            raise InvalidInputError("advgan: cannot train a generator for eps = 0")
        x_given, labels_given = self._inputs(target, x, y)
        rng = _as_rng(rng)
        t0 = time.perf_counter()
        fit_rows, sel_rows, held_out = self._split(len(x_given), rng, bool(transductive))
        x0, labels = x_given[fit_rows], labels_given[fit_rows]
        x_sel, labels_sel = x_given[sel_rows], labels_given[sel_rows]
        movable = ~is_adversarial(target, x_sel, labels_sel, self.targeted)
        if not movable.any():
            movable = np.ones(len(x_sel), dtype=bool)
        n, d = x0.shape
        shift = x0.mean(axis=0)
        scale = float(x0.std()) or 1.0
        sizes_g = [d] + [self.hidden] * self.layers + [d]
        sizes_d = [d] + [self.hidden] * self.layers + [1]
        sharp = self.norm == "linf" and self.sharpness > 0
        gen = _Generator(MLP(sizes_g, self.generator_activation,
                             "linear" if sharp else "tanh", rng, output_scale=0.1),
                         shift, scale, eps, self.norm, self._sharpness(0) if sharp else 0.0)
        disc = MLP(sizes_d, "leaky_relu", "linear", rng)
        opt_g = Adam(gen.mlp.params, self.lr_generator)
        opt_d = Adam(disc.params, self.lr_discriminator)
        curves: dict[str, list[float]] = {k: [] for k in (*CURVE_KEYS, "selection_success")}
        threshold = 0.0 if self.gan_loss == "nonsaturating" else 0.5
        best = -1.0
        best_epoch = improved = 0
        best_params: list[np.ndarray] = []
        best_sharpness = gen.sharpness
        epochs_run = 0
        for epoch in range(self.epochs):
            decay = self._decay(epoch)
            opt_g.lr = self.lr_generator * decay
            opt_d.lr = self.lr_discriminator * decay
            if sharp:
                gen.sharpness = self._sharpness(epoch)
            sums = dict.fromkeys(CURVE_KEYS, 0.0)
            for batch in minibatches(n, self.minibatch, rng):
                xb, yb, m = x0[batch], labels[batch], len(batch)
                x_adv = gen.perturb(xb, self.bounds)
                # discriminator step on clean and (fixed) perturbed inputs
                s_real, cache_r = disc.forward((xb - shift) / scale)
                s_fake, cache_f = disc.forward((x_adv - shift) / scale)
                d_loss, g_real, g_fake, _, _ = gan_losses(self.gan_loss, s_real, s_fake)
                grads_r, _ = disc.backward(cache_r, g_real)
                grads_f, _ = disc.backward(cache_f, g_fake)
                opt_d.step([a + b for a, b in zip(grads_r, grads_f, strict=True)])
                # generator step: GAN term through the updated D, target term, hinges
                parts, grads_g, x_adv = self.generator_objective(gen, disc, target, xb, yb)
                opt_g.step(grads_g)
                g_loss, t_loss = parts["gan"], parts["target"]
                hinge = parts["hinge"]
                w = m / n
                sums["d_loss"] += w * d_loss
                sums["g_gan_loss"] += w * g_loss
                sums["target_loss"] += w * t_loss
                sums["hinge_loss"] += w * hinge
            # end of the epoch: D, success and norms on all inputs, G and D fixed
            x_all = gen.perturb(x0, self.bounds)
            s_real = disc((x0 - shift) / scale)
            s_fake = disc((x_all - shift) / scale)
            sums["d_accuracy"] = 0.5 * float(np.mean(s_real > threshold)
                                             + np.mean(s_fake <= threshold))
            sums["success_rate"] = float(np.mean(
                is_adversarial(target, x_all, labels, self.targeted)))
            sums["norm_mean_rel"] = float(np.mean(row_norms(x_all - x0, self.norm)) / eps)
            for k in CURVE_KEYS:
                curves[k].append(sums[k])
            # model selection on the selection inputs
            x_sel_adv = x_all if held_out == 0 else gen.perturb(x_sel, self.bounds)
            score = self._selection_score(target, x_sel_adv, labels_sel, movable)
            curves["selection_success"].append(score)
            epochs_run = epoch + 1
            if score > best:
                improved = epoch
            if score >= best:
                best, best_epoch = score, epoch
                if self.selection == "best":
                    best_params = [p.copy() for p in gen.mlp.params]
                    best_sharpness = gen.sharpness
            if self.patience and epoch - improved >= self.patience:
                break
        if self.selection == "best":
            for p, q in zip(gen.mlp.params, best_params, strict=True):
                p[...] = q
            gen.sharpness = best_sharpness
        else:
            best_epoch, best = epochs_run - 1, curves["selection_success"][-1]
        key = self._key(eps)
        self.generators[key] = gen
        self.curves[key] = curves
        self.selected[key] = {"epoch": best_epoch, "success": best, "epochs_run": epochs_run,
                              "transductive": bool(transductive),
                              "validation_fraction": held_out, "rows": sel_rows}
        self.training_seconds[key] = time.perf_counter() - t0
        if self.generator_file and not Path(self.generator_file).exists():
            self.save(self.generator_file)
        return curves

    def generator_objective(self, gen: _Generator, disc: MLP, target: Any, xb: np.ndarray,
                            yb: np.ndarray) -> tuple[dict[str, float], list[np.ndarray],
                                                     np.ndarray]:
        """The generator's loss ``L_G`` on a batch and its gradient.

        Returns ``(parts, grads, x_adv)``: ``parts`` holds ``total`` (``L_G``), ``gan``,
        ``target``, ``hinge`` (unweighted means) and ``norm`` (mean ``||x' - x|| / eps``);
        ``grads`` are the gradients of ``total`` with respect to ``gen.mlp.params``.
        """
        eps, shift, scale = gen.eps, gen.shift, gen.scale
        m = len(xb)
        raw, cache_g, slope = gen.raw(xb, self.bounds)
        moved = xb + project(raw, eps, self.norm)
        x_adv = clip_box(moved, self.bounds)
        s_real = disc((xb - shift) / scale)
        s_fake, cache_f = disc.forward((x_adv - shift) / scale)
        _, _, _, g_loss, g_gen = gan_losses(self.gan_loss, s_real, s_fake)
        _, grad_x = disc.backward(cache_f, g_gen)
        grad_adv = self.gan_weight * grad_x / scale
        t_loss = 0.0
        if self.target_weight > 0:
            t_loss, t_grad = self._target_term(target, x_adv, yb)
            grad_adv = grad_adv + self.target_weight * t_grad
        eff = x_adv - xb
        eff_norm = row_norms(eff, self.norm) / eps
        short = np.maximum(self.floor - eff_norm, 0.0)
        grad_adv = grad_adv - self.hinge_weight * (short > 0)[:, None] \
            * _norm_grad(eff, self.norm) / (eps * m)
        if self.bounds is not None:
            inside = (moved >= self.bounds[0]) & (moved <= self.bounds[1])
            grad_adv = np.where(inside, grad_adv, 0.0)
        grad_raw = project_backward(raw, grad_adv, eps, self.norm)
        over = np.maximum(row_norms(raw, self.norm) / eps - 1.0, 0.0)
        grad_raw = grad_raw + self.hinge_weight * (over > 0)[:, None] \
            * _norm_grad(raw, self.norm) / (eps * m)
        grads = gen.backward(cache_g, grad_raw * slope)
        hinge = float(over.mean() + short.mean())
        total = self.gan_weight * g_loss + self.target_weight * t_loss \
            + self.hinge_weight * hinge
        parts = {"total": total, "gan": g_loss, "target": t_loss, "hinge": hinge,
                 "norm": float(eff_norm.mean())}
        return parts, grads, x_adv

    # ------------------------------------------------------------------ attacking
    def generate(self, target: Any, x: Any, y: Any = None, eps: float = 0.0,
                 rng: Any = None) -> np.ndarray:
        """Adversarial versions of ``x`` within ``eps``: one forward pass of the generator
        trained for ``eps`` (trained first on ``x``, ``y`` when there is none)."""
        eps = self._eps(eps)
        x0, labels = self._inputs(target, x, y)
        if eps == 0:
            return x0
        key = self._key(eps)
        if key not in self.generators:
            self.fit(target, x0, labels, eps, rng, transductive=True)
        gen = self.generators[key]
        if gen.norm != self.norm or len(gen.shift) != x0.shape[1]:
            raise InvalidInputError(f"advgan: the generator for eps {eps:g} was trained for "
                                    f"norm {gen.norm!r} and dimension {len(gen.shift)}, not "
                                    f"{self.norm!r} and {x0.shape[1]}")
        out = np.empty_like(x0)
        for sl in self._batches(len(x0)):
            out[sl] = gen.perturb(x0[sl], self.bounds)
        return out

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write every trained generator to ``path`` (``.npz``, no pickle)."""
        if not self.generators:
            raise InvalidInputError("advgan: no trained generator to save")
        arrays: dict[str, np.ndarray] = {}
        meta: dict[str, Any] = {"version": FILE_VERSION, "norm": self.norm, "generators": []}
        for i, (key, gen) in enumerate(sorted(self.generators.items())):
            prefix = f"g{i}_"
            arrays.update(gen.mlp.to_arrays(prefix))
            arrays[f"{prefix}shift"] = gen.shift
            meta["generators"].append({
                "eps": key, "sizes": gen.mlp.sizes, "hidden": gen.mlp.hidden,
                "output": gen.mlp.output, "scale": gen.scale, "sharpness": gen.sharpness,
                "training_seconds": self.training_seconds.get(key),
                "curves": self.curves.get(key),
                "selected": {k: v for k, v in self.selected.get(key, {}).items()
                             if k != "rows"} or None})
        arrays["meta"] = np.array(json.dumps(meta))
        path = Path(path)
        with path.open("wb") as fh:
            np.savez(fh, **arrays)
        return path

    def load(self, path: str | Path) -> None:
        """Read generators written by :meth:`save` (they must match this attack's norm)."""
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                files = {k: data[k] for k in data.files}
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"advgan: cannot read generator file {str(path)!r}: "
                                    f"{exc}") from None
        if "meta" not in files:
            raise InvalidInputError(f"advgan: {str(path)!r} is not an advgan generator file")
        meta = json.loads(str(files["meta"]))
        if meta.get("version") != FILE_VERSION:
            raise InvalidInputError(f"advgan: {str(path)!r} has version {meta.get('version')},"
                                    f" expected {FILE_VERSION}")
        if meta["norm"] != self.norm:
            raise InvalidInputError(f"advgan: {str(path)!r} holds generators for norm "
                                    f"{meta['norm']!r}, this attack uses {self.norm!r}")
        for i, g in enumerate(meta["generators"]):
            prefix = f"g{i}_"
            mlp = MLP(g["sizes"], g["hidden"], g["output"], 0)
            mlp.load_arrays(files, prefix)
            key = self._key(g["eps"])
            self.generators[key] = _Generator(mlp, np.asarray(files[f"{prefix}shift"]),
                                              float(g["scale"]), key, self.norm,
                                              float(g.get("sharpness") or 0.0))
            if g.get("training_seconds") is not None:
                self.training_seconds[key] = float(g["training_seconds"])
            if g.get("curves"):
                self.curves[key] = g["curves"]
            if g.get("selected"):  # files written before model selection have none
                self.selected[key] = dict(g["selected"])


# --------------------------------------------------------------------------- plots


def plot_curves(curves: dict[str, list[float]], path: str | Path,
                title: str = "AdvGAN training") -> Path:
    """Draw training curves (as in :attr:`AdvGAN.curves`) per epoch: the losses on the left,
    discriminator accuracy, success rate, the relative perturbation norm and (when the curves
    have it) the success on the selection inputs on the right. Writes ``path`` (its suffix
    picks the format) and returns it."""
    missing = [k for k in CURVE_KEYS if k not in curves]
    if missing:
        raise InvalidInputError(f"plot_curves: curves lack {missing}")
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    epochs = np.arange(1, len(curves["d_loss"]) + 1)
    for k, label in (("d_loss", "discriminator loss"), ("g_gan_loss", "generator GAN loss"),
                     ("target_loss", "target loss"), ("hinge_loss", "hinge loss")):
        left.plot(epochs, curves[k], label=label)
    left.set_xlabel("epoch")
    left.set_ylabel("loss (mean over the epoch)")
    left.legend(fontsize="small")
    for k, label in (("d_accuracy", "discriminator accuracy"),
                     ("success_rate", "attack success rate"),
                     ("norm_mean_rel", "mean perturbation norm / eps"),
                     ("selection_success", "success on the selection inputs")):
        if k in curves:  # selection_success: absent from curves saved before selection
            right.plot(epochs, curves[k], label=label)
    right.set_xlabel("epoch")
    right.set_ylim(-0.02, 1.05)
    right.legend(fontsize="small")
    fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path


# --------------------------------------------------------------------------- registration

ADVGAN = AttackInfo(
    name="advgan", factory=AdvGAN,
    build_params=(
        Param("targeted", False, bool, "labels are targets to reach (else true labels to leave)"),
        Param("batch_size", 0, int, "rows per generation batch, 0 for all", low=0),
        Param("gan_loss", "nonsaturating", str, "GAN loss", choices=GAN_LOSSES),
        Param("target_loss", "margin", str, "target's loss: C&W margin, probability of the "
              "label, or cross-entropy",
              choices=TARGET_LOSSES),
        Param("epochs", 60, int, "training passes over the inputs", low=1),
        Param("minibatch", 32, int, "rows per training step", low=1),
        Param("hidden", 64, int, "width of the hidden layers of G and D", low=1),
        Param("layers", 1, int, "hidden layers of G and D", low=1),
        Param("lr_generator", 2e-2, float, "Adam step size of G (at the first epoch)",
              low=0.0),
        Param("lr_discriminator", 3e-3, float, "Adam step size of D (at the first epoch)",
              low=0.0),
        Param("lr_decay", "cosine", str, "step-size schedule of G and D over the epochs",
              choices=LR_DECAYS),
        Param("generator_activation", "leaky_relu", str, "hidden activation of G (softmax: "
              "a gated mixture of perturbation templates)", choices=GENERATOR_ACTIVATIONS),
        Param("sharpness", 5.0, float, "linf: final gain of G's smooth-sign output (0: plain "
              "tanh)", low=0.0),
        Param("sharpness_start", 0.25, float, "linf: gain of G's smooth-sign output at the "
              "first epoch", low=0.0),
        Param("gan_weight", 1.0, float, "weight of the GAN loss in G's loss", low=0.0),
        Param("target_weight", 10.0, float, "weight of the target's loss (0: GAN only)",
              low=0.0),
        Param("hinge_weight", 1.0, float, "weight of the norm hinges", low=0.0),
        Param("floor", 0.5, float, "smallest perturbation norm / eps before the floor hinge",
              low=0.0, high=1.0),
        Param("kappa", 0.0, float, "margin confidence (logits)", low=0.0),
        Param("generator_file", "", str, ".npz of trained generators to load (or save to)"),
        Param("selection", "best", str, "G's weights kept: those of the epoch with the best "
              "success on the selection inputs, or of the last epoch", choices=SELECTIONS),
        Param("validation_fraction", 0.2, float, "share of fit's inputs held out (seeded) to "
              "select the epoch on, in [0, 1); 0: select on the training inputs; training on "
              "the attacked inputs selects on them", low=0.0, high=0.99),
        Param("patience", 0, int, "stop training after this many epochs without a better "
              "success on the selection inputs (0: never)", low=0),
    ),
    query_params=(EPS_REL, EPS_ABS),
    query_grid={"eps_rel": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]},
    norms=NORMS,
    description="AdvGAN: a generator trained against a discriminator and the target; one "
                "forward pass per attack (trained per budget)")


@hookimpl
def register_attacks(register: Any) -> None:
    """Register ``advgan``."""
    register(ADVGAN)


__all__ = ["ADVGAN", "AdvGAN", "gan_losses", "plot_curves", "project_backward", "smooth_sign",
           "smooth_sign_backward"]
