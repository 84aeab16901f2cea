"""Built-in attack plugins: ``fgsm``, ``pgd``, ``deepfool`` and the ``noise`` baseline.

An attack is built as ``factory(norm=..., bounds=..., **build_params)`` and run as
``attack.generate(target, x, y, eps, rng) -> x_adv``. The target follows
:class:`harness.AttackTarget`; the attack is judged by the target's decision
(:func:`plugins._attack_targets.decisions`). Conventions (written out in ``docs/attacks.md``):

- ``norm`` is ``"linf"`` or ``"l2"``; every output satisfies ``||x_adv - x||_p <= eps`` and
  lies in the optional box ``bounds = (low, high)``, which must contain ``x``.
- Untargeted attacks ascend the loss at the true label ``y``; with ``targeted=True`` the
  labels ``y`` are the targets and the attack descends the loss at them. ``y=None`` takes
  the target's own decisions as labels (untargeted only).
- Whole batches are vectorised; ``batch_size`` (0: everything at once) only bounds memory:
  random draws are made for all rows before batching, so results do not depend on it.
- Inputs are never modified; every random choice comes from ``rng`` (a seed or a
  ``numpy.random.Generator``; ``None`` means seed 0).
- ``deepfool`` is a minimisation attack (:class:`MinimisationAttack`): it finds one
  perturbation per input, with no budget, and ``generate`` clips it to each ``eps``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from harness import AttackInfo, InvalidInputError, Param, hookimpl
from plugins._attack_norms import (
    NORMS,
    check_bounds,
    check_norm,
    clip_box,
    random_in_ball,
    random_on_sphere,
    row_norms,
    steepest_direction,
    to_budget,
)
from plugins._attack_targets import decisions, is_adversarial, reference_labels

# --------------------------------------------------------------------------- base


@runtime_checkable
class MinimisationAttack(Protocol):
    """An attack that looks for the smallest adversarial perturbation, with no budget.

    A sweep runs it once and clips the result to every budget (the foolbox convention).
    """

    def minimal_perturbation(self, target: Any, x: np.ndarray, y: np.ndarray | None = None,
                             rng: Any = None) -> np.ndarray:
        """Adversarial inputs, as close to ``x`` as the attack can find (in the box)."""


def _as_rng(rng: Any) -> np.random.Generator:
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise InvalidInputError(f"rng must be None, an integer seed or a numpy Generator, got "
                            f"{type(rng).__name__}")


def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _check_float(value: Any, name: str, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) \
            or not np.isfinite(value) or value < low:
        raise InvalidInputError(f"{name} must be a finite number >= {low}, got {value!r}")
    return float(value)


class Attack:
    """Common validation, batching and labels of the built-in attacks.

    :param norm: ``"linf"`` or ``"l2"``: the norm of the budget.
    :param bounds: optional box ``(low, high)`` that inputs and outputs stay in.
    :param targeted: labels given to ``generate`` are targets to reach.
    :param batch_size: rows per batch (0: the whole input at once).
    """

    name = "attack"

    def __init__(self, norm: str = "linf", bounds: tuple[float, float] | None = None, *,
                 targeted: bool = False, batch_size: int = 0) -> None:
        self.norm = check_norm(norm)
        self.bounds = check_bounds(bounds)
        if not isinstance(targeted, (bool, np.bool_)):
            raise InvalidInputError(f"targeted must be True or False, got {targeted!r}")
        self.targeted = bool(targeted)
        self.batch_size = _check_int(batch_size, "batch_size", 0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(norm={self.norm!r}, targeted={self.targeted})"

    # ------------------------------------------------------------------ inputs
    def _inputs(self, target: Any, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        arr = np.asarray(x)
        if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
            raise InvalidInputError(f"{self.name}: x must be a non-empty 2-D array (n, d), got "
                                    f"shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.number) or np.iscomplexobj(arr):
            raise InvalidInputError(f"{self.name}: x must be real numbers, got {arr.dtype}")
        x0 = np.array(arr, dtype=np.float64)  # a private copy: the caller's array is untouched
        if not np.isfinite(x0).all():
            row = int(np.flatnonzero(~np.isfinite(x0).all(axis=1))[0])
            raise InvalidInputError(f"{self.name}: x contains NaN or inf (first at row {row})")
        if self.bounds is not None and (x0.min() < self.bounds[0] or x0.max() > self.bounds[1]):
            raise InvalidInputError(
                f"{self.name}: x lies outside the bounds {self.bounds} (min {x0.min():g}, "
                f"max {x0.max():g}); widen the bounds or clip the inputs")
        if y is None:
            if self.targeted:
                raise InvalidInputError(f"{self.name}: a targeted attack needs target labels y")
            labels = np.array(decisions(target, x0))
        else:
            labels = np.array(y)
        if labels.ndim not in (1, 2) or len(labels) != len(x0) \
                or not np.issubdtype(labels.dtype, np.integer):
            raise InvalidInputError(f"{self.name}: y must hold one integer label (or one row of "
                                    f"integer ids) per input: {len(x0)} rows, got shape "
                                    f"{labels.shape} and dtype {labels.dtype}")
        return x0, labels

    def _eps(self, eps: Any, allow_inf: bool = False) -> float:
        if isinstance(eps, bool) or not isinstance(eps, (int, float, np.floating, np.integer)):
            raise InvalidInputError(f"{self.name}: eps must be a number >= 0, got {eps!r}")
        value = float(eps)
        if np.isnan(value) or value < 0 or (np.isinf(value) and not allow_inf):
            raise InvalidInputError(f"{self.name}: eps must be a finite number >= 0, got {eps!r}")
        return value

    def _batches(self, n: int) -> list[slice]:
        size = self.batch_size or n
        return [slice(s, min(s + size, n)) for s in range(0, n, size)]

    @property
    def _sign(self) -> float:
        return -1.0 if self.targeted else 1.0

    # ------------------------------------------------------------------ running
    def generate(self, target: Any, x: Any, y: Any = None, eps: float = 0.0,
                 rng: Any = None) -> np.ndarray:
        """Adversarial versions of ``x`` within ``eps`` (float64, same shape as ``x``).

        :param target: an :class:`harness.AttackTarget`.
        :param x: inputs (n, d); never modified.
        :param y: true labels (untargeted) or target labels (targeted); ``None``: the
            target's own decisions.
        :param eps: the budget in this attack's norm.
        :param rng: seed or ``numpy.random.Generator`` of every random choice.
        """
        eps = self._eps(eps)
        x0, labels = self._inputs(target, x, y)
        rng = _as_rng(rng)
        draws = self._draw(rng, *x0.shape)
        out = np.empty_like(x0)
        for sl in self._batches(len(x0)):
            part = None if draws is None else draws[:, sl]
            out[sl] = self._run(target, x0[sl], labels[sl], eps, part)
        return out

    def _draw(self, rng: np.random.Generator, n: int, d: int) -> np.ndarray | None:
        """Random numbers for every row, drawn before batching: (draws, n, d) or None."""
        return None

    def _run(self, target: Any, x0: np.ndarray, y: np.ndarray, eps: float,
             draws: np.ndarray | None) -> np.ndarray:
        raise NotImplementedError


# --------------------------------------------------------------------------- FGSM


class FGSM(Attack):
    """Fast gradient sign method: one step of size ``eps`` along the steepest direction of
    the loss gradient (its sign for linf, the normalised gradient for l2, i.e. FGM)."""

    name = "fgsm"

    def _run(self, target: Any, x0: np.ndarray, y: np.ndarray, eps: float,
             draws: np.ndarray | None) -> np.ndarray:
        if eps == 0:
            return x0.copy()
        g = np.asarray(target.loss_gradient(x0, y), dtype=np.float64)
        return clip_box(x0 + self._sign * eps * steepest_direction(g, self.norm), self.bounds)


# --------------------------------------------------------------------------- PGD


class PGD(Attack):
    """Projected gradient descent (Madry et al.): ``steps`` steps of size
    ``rel_stepsize * eps``, each projected back onto the ball and clipped to the box.

    :param steps: iterations per restart.
    :param rel_stepsize: step size relative to ``eps`` (default 2.5 / 40: path 2.5 eps).
    :param random_start: start each restart at a uniform point of the ball.
    :param restarts: runs per input; a later run replaces an earlier one only where the
        earlier one failed and the later one succeeds (inputs already fooled are not re-run).
    """

    name = "pgd"

    def __init__(self, norm: str = "linf", bounds: tuple[float, float] | None = None, *,
                 targeted: bool = False, batch_size: int = 0, steps: int = 40,
                 rel_stepsize: float = 2.5 / 40, random_start: bool = True,
                 restarts: int = 1) -> None:
        super().__init__(norm, bounds, targeted=targeted, batch_size=batch_size)
        self.steps = _check_int(steps, "steps", 1)
        self.rel_stepsize = _check_float(rel_stepsize, "rel_stepsize")
        self.random_start = bool(random_start)
        self.restarts = _check_int(restarts, "restarts", 1)

    def _draw(self, rng: np.random.Generator, n: int, d: int) -> np.ndarray | None:
        if not self.random_start:
            return None
        return np.stack([random_in_ball(rng, n, d, self.norm) for _ in range(self.restarts)])

    def _run(self, target: Any, x0: np.ndarray, y: np.ndarray, eps: float,
             draws: np.ndarray | None) -> np.ndarray:
        if eps == 0:
            return x0.copy()
        alpha = self.rel_stepsize * eps
        out = x0.copy()
        done = np.zeros(len(x0), dtype=bool)
        for r in range(self.restarts):
            rows = np.flatnonzero(~done)
            if len(rows) == 0:
                break
            start, labels = x0[rows], y[rows]
            x = start.copy() if draws is None else clip_box(start + eps * draws[r, rows],
                                                            self.bounds)
            for _ in range(self.steps):
                g = np.asarray(target.loss_gradient(x, labels), dtype=np.float64)
                moved = x + self._sign * alpha * steepest_direction(g, self.norm)
                x = to_budget(start, moved, eps, self.norm, self.bounds)
            if r == 0:
                out[rows] = x
                done[rows] = is_adversarial(target, x, labels, self.targeted)
            else:
                success = is_adversarial(target, x, labels, self.targeted)
                out[rows[success]] = x[success]
                done[rows[success]] = True
        return out


# --------------------------------------------------------------------------- DeepFool


class DeepFool(Attack):
    """DeepFool (Moosavi-Dezfooli et al., 2016), multi-class, with the LTS4 / foolbox rules.

    At each iteration the logits are linearised around the current point; among the
    ``candidates`` classes with the largest logits at the input, the nearest linearised
    boundary ``|f'_k| / ||w'_k||_q`` (``q`` the dual norm: 2 for l2, 1 for linf) is taken, the
    step ``(dist + stability) * dir(w')`` (``w'/||w'||_2`` or ``sign(w')``) is added to the
    total and the iterate is ``x0 + (1 + overshoot) * total``, clipped to the box. The
    reference class is the label ``y`` (the decision when ``y`` is None); iterations stop
    once the target's decision differs from it, or after ``steps``. Targeted: the class is
    the target and the competitor the strongest other class.

    :param steps: most iterations (50).
    :param overshoot: ``eta`` (0.02).
    :param candidates: classes considered (10).
    :param stability: added to each step length (LTS4's 1e-4); 0 lands exactly on the
        linearised boundary before the overshoot.
    """

    name = "deepfool"

    def __init__(self, norm: str = "l2", bounds: tuple[float, float] | None = None, *,
                 targeted: bool = False, batch_size: int = 0, steps: int = 50,
                 overshoot: float = 0.02, candidates: int = 10,
                 stability: float = 1e-4) -> None:
        super().__init__(norm, bounds, targeted=targeted, batch_size=batch_size)
        self.steps = _check_int(steps, "steps", 1)
        self.overshoot = _check_float(overshoot, "overshoot")
        self.candidates = _check_int(candidates, "candidates", 2)
        self.stability = _check_float(stability, "stability")

    def generate(self, target: Any, x: Any, y: Any = None, eps: float = 0.0,
                 rng: Any = None) -> np.ndarray:
        """The minimal perturbation (:meth:`minimal_perturbation`) clipped to ``eps``."""
        eps = self._eps(eps, allow_inf=True)
        x0, labels = self._inputs(target, x, y)
        if eps == 0:
            return x0
        return to_budget(x0, self.minimal_perturbation(target, x0, labels, rng), eps,
                         self.norm, self.bounds)

    def minimal_perturbation(self, target: Any, x: Any, y: Any = None,
                             rng: Any = None) -> np.ndarray:
        """Adversarial inputs with no budget (DeepFool uses no randomness; ``rng`` is
        accepted for the protocol)."""
        x0, labels = self._inputs(target, x, y)
        out = np.empty_like(x0)
        for sl in self._batches(len(x0)):
            out[sl] = self._deepfool(target, x0[sl], labels[sl])
        return out

    def _direction(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dual norms of ``w`` and the unit step direction for this attack's norm."""
        if self.norm == "l2":
            n = row_norms(w, "l2")
            safe = np.where(n > 0, n, 1.0)
            return n, w / safe[:, None]
        return np.abs(w).sum(axis=1), np.sign(w)

    def _deepfool(self, target: Any, x0: np.ndarray, y: np.ndarray) -> np.ndarray:
        ref = reference_labels(y).astype(np.int64)
        z0 = np.asarray(target.predict(x0), dtype=np.float64)
        n_classes = z0.shape[1]
        kk = min(self.candidates, n_classes)
        cand = np.argsort(-z0, axis=1, kind="stable")[:, :kk]
        has_ref = (cand == ref[:, None]).any(axis=1)
        cand[~has_ref, kk - 1] = ref[~has_ref]
        total = np.zeros_like(x0)
        x = x0.copy()
        active = ~is_adversarial(target, x0, y, self.targeted)
        for _ in range(self.steps):
            idx = np.flatnonzero(active)
            if len(idx) == 0:
                break
            xa = x[idx]
            z = np.asarray(target.predict(xa), dtype=np.float64)
            if self.targeted:
                w, f = self._targeted_linearisation(target, xa, z, ref[idx])
                dual, direction = self._direction(w)
                with np.errstate(divide="ignore", invalid="ignore"):
                    dist = np.where(dual > 0, np.abs(f) / dual, np.inf)
            else:
                dist, direction = self._nearest_boundary(target, xa, z, ref[idx], cand[idx])
            usable = np.isfinite(dist)
            step = np.where(usable[:, None], (np.where(usable, dist, 0.0)
                                              + self.stability)[:, None] * direction, 0.0)
            total[idx] += step
            x[idx] = clip_box(x0[idx] + (1.0 + self.overshoot) * total[idx], self.bounds)
            still = ~is_adversarial(target, x[idx], y[idx], self.targeted)
            active[idx] = still & usable
        return x

    def _nearest_boundary(self, target: Any, xa: np.ndarray, z: np.ndarray, ref: np.ndarray,
                          cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = len(xa)
        rows = np.arange(m)
        g_ref = np.asarray(target.class_gradient(xa, ref), dtype=np.float64)
        z_ref = z[rows, ref]
        best = np.full(m, np.inf)
        best_dir = np.zeros_like(xa)
        for j in range(cand.shape[1]):
            lab = cand[:, j]
            f_all = z[rows, lab] - z_ref
            ok = (lab != ref) & np.isfinite(f_all)
            if not ok.any():
                continue
            g = np.asarray(target.class_gradient(xa[ok], lab[ok]), dtype=np.float64)
            dual, direction = self._direction(g - g_ref[ok])
            with np.errstate(divide="ignore", invalid="ignore"):
                dist = np.where(dual > 0, np.abs(f_all[ok]) / dual, np.inf)
            better = dist < best[ok]
            sel = np.flatnonzero(ok)[better]
            best[sel] = dist[better]
            best_dir[sel] = direction[better]
        return best, best_dir

    def _targeted_linearisation(self, target: Any, xa: np.ndarray, z: np.ndarray,
                                goal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = np.arange(len(xa))
        others = z.copy()
        others[rows, goal] = -np.inf
        rival = np.argmax(others, axis=1)
        f = z[rows, goal] - z[rows, rival]
        w = (np.asarray(target.class_gradient(xa, goal), dtype=np.float64)
             - np.asarray(target.class_gradient(xa, rival), dtype=np.float64))
        f = np.where(np.isfinite(f), f, np.inf)
        return w, f


# --------------------------------------------------------------------------- noise


class Noise(Attack):
    """Random-noise baseline with the same budget: ``x + eps * u``, clipped to the box.

    :param samples: draws per input; the first that fools the target is kept (else the first).
    :param distribution: ``"surface"``: u on the unit sphere of the norm (random signs for
        linf, which also gives the largest l2 length; a uniform direction for l2), so the
        noise uses the whole budget; ``"ball"``: uniform in the unit ball.
    """

    name = "noise"

    def __init__(self, norm: str = "linf", bounds: tuple[float, float] | None = None, *,
                 targeted: bool = False, batch_size: int = 0, samples: int = 1,
                 distribution: str = "surface") -> None:
        super().__init__(norm, bounds, targeted=targeted, batch_size=batch_size)
        self.samples = _check_int(samples, "samples", 1)
        if distribution not in ("surface", "ball"):
            raise InvalidInputError(f"distribution must be 'surface' or 'ball', got "
                                    f"{distribution!r}")
        self.distribution = distribution

    def _draw(self, rng: np.random.Generator, n: int, d: int) -> np.ndarray | None:
        sampler = random_on_sphere if self.distribution == "surface" else random_in_ball
        return np.stack([sampler(rng, n, d, self.norm) for _ in range(self.samples)])

    def _run(self, target: Any, x0: np.ndarray, y: np.ndarray, eps: float,
             draws: np.ndarray | None) -> np.ndarray:
        assert draws is not None
        if eps == 0:
            return x0.copy()
        out = clip_box(x0 + eps * draws[0], self.bounds)
        if self.samples == 1:
            return out
        done = is_adversarial(target, out, y, self.targeted)
        for s in range(1, self.samples):
            rows = np.flatnonzero(~done)
            if len(rows) == 0:
                break
            x = clip_box(x0[rows] + eps * draws[s, rows], self.bounds)
            success = is_adversarial(target, x, y[rows], self.targeted)
            out[rows[success]] = x[success]
            done[rows[success]] = True
        return out


# --------------------------------------------------------------------------- registration

#: the budget of every built-in attack, relative to the median 1-NN distance of the inputs
EPS_REL = Param("eps_rel", 0.1, float, "budget relative to the median 1-NN distance of the "
                "attacked inputs, in the attack's norm", low=0.0)
EPS_ABS = Param("eps_abs", None, float, "absolute budget; when set it overrides eps_rel",
                low=0.0)
#: the default budget grid (alpha of the reference: 0 to 1 times the median 1-NN distance)
EPS_GRID: dict[str, list[float]] = {"eps_rel": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0]}
COMMON: tuple[Param, ...] = (
    Param("targeted", False, bool, "labels are targets to reach (else true labels to leave)"),
    Param("batch_size", 0, int, "rows per batch, 0 for all (results do not depend on it)",
          low=0),
)

ATTACKS: tuple[AttackInfo, ...] = (
    AttackInfo(
        name="fgsm", factory=FGSM, build_params=COMMON, query_params=(EPS_REL, EPS_ABS),
        query_grid=EPS_GRID, norms=NORMS,
        description="fast gradient sign method: one step of size eps (FGM for l2)"),
    AttackInfo(
        name="pgd", factory=PGD,
        build_params=(*COMMON,
                      Param("steps", 40, int, "iterations per restart", low=1),
                      Param("rel_stepsize", 2.5 / 40, float, "step size / eps", low=0.0),
                      Param("random_start", True, bool, "start uniformly in the ball"),
                      Param("restarts", 1, int, "runs per input (failures re-run)", low=1)),
        query_params=(EPS_REL, EPS_ABS), query_grid=EPS_GRID, norms=NORMS,
        description="projected gradient descent, random start, restarts (Madry et al.)"),
    AttackInfo(
        name="deepfool", factory=DeepFool,
        build_params=(*COMMON,
                      Param("steps", 50, int, "most iterations", low=1),
                      Param("overshoot", 0.02, float, "overshoot eta", low=0.0),
                      Param("candidates", 10, int, "classes with the top logits tried", low=2),
                      Param("stability", 1e-4, float, "added to every step length", low=0.0)),
        query_params=(EPS_REL, EPS_ABS), query_grid=EPS_GRID, norms=NORMS,
        description="DeepFool, multi-class (minimal perturbation, clipped to each budget)"),
    AttackInfo(
        name="noise", factory=Noise,
        build_params=(*COMMON,
                      Param("samples", 1, int, "draws per input; the first success is kept",
                            low=1),
                      Param("distribution", "surface", str, "where the noise is drawn",
                            choices=("surface", "ball"))),
        query_params=(EPS_REL, EPS_ABS), query_grid=EPS_GRID, norms=NORMS,
        description="random noise of the same budget (baseline for the gradient attacks)"),
)


@hookimpl
def register_attacks(register: Any) -> None:
    """Register ``fgsm``, ``pgd``, ``deepfool`` and ``noise``."""
    for info in ATTACKS:
        register(info)


__all__ = ["ATTACKS", "FGSM", "PGD", "Attack", "DeepFool", "MinimisationAttack", "Noise"]
