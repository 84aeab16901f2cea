"""Norm geometry shared by the attack plugins: steepest directions, projections, random starts.

Perturbation budgets are balls ``{delta : ||delta||_p <= eps}`` with ``p`` one of
:data:`NORMS` (``"linf"``, ``"l2"``). Every function works on whole batches (one row per
input), returns new arrays and never modifies its arguments.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.errors import InvalidInputError

#: the perturbation norms the built-in attacks support
NORMS: tuple[str, ...] = ("linf", "l2")


def check_norm(norm: Any, allowed: tuple[str, ...] = NORMS) -> str:
    """Return ``norm`` if it is one of ``allowed``; otherwise raise a clear error."""
    if not isinstance(norm, str) or norm not in allowed:
        raise InvalidInputError(f"norm must be one of {list(allowed)}, got {norm!r}")
    return norm


def row_norms(delta: np.ndarray, norm: str) -> np.ndarray:
    """``||delta[i]||_p`` for every row: float64 (n,)."""
    delta = np.asarray(delta, dtype=np.float64)
    if norm == "linf":
        return np.abs(delta).max(axis=1) if delta.shape[1] else np.zeros(len(delta))
    if norm == "l2":
        return np.sqrt(np.einsum("ij,ij->i", delta, delta))
    raise InvalidInputError(f"unknown norm {norm!r}; known: {list(NORMS)}")


def steepest_direction(grad: np.ndarray, norm: str) -> np.ndarray:
    """The unit-norm direction ``v`` maximising ``<grad, v>``: sign for linf, grad/|grad| for l2.

    Rows with a zero gradient get a zero direction (the attack does not move them).
    """
    grad = np.asarray(grad, dtype=np.float64)
    if norm == "linf":
        return np.sign(grad)
    if norm == "l2":
        n = row_norms(grad, "l2")
        safe = np.where(n > 0, n, 1.0)
        return np.where((n > 0)[:, None], grad / safe[:, None], 0.0)
    raise InvalidInputError(f"unknown norm {norm!r}; known: {list(NORMS)}")


def project(delta: np.ndarray, eps: float | np.ndarray, norm: str) -> np.ndarray:
    """Project each row of ``delta`` onto the ball of radius ``eps`` (exact for linf and l2).

    linf clips every coordinate to ``[-eps, eps]``; l2 rescales rows longer than ``eps`` onto
    the sphere of radius ``eps`` and leaves shorter rows unchanged. ``eps`` is a scalar or one
    radius per row; ``inf`` leaves ``delta`` unchanged.
    """
    delta = np.array(delta, dtype=np.float64)
    eps_arr = np.broadcast_to(np.asarray(eps, dtype=np.float64), (len(delta),))
    if norm == "linf":
        lim = eps_arr[:, None]
        return np.clip(delta, -lim, lim)
    if norm == "l2":
        n = row_norms(delta, "l2")
        over = n > eps_arr
        if over.any():
            delta[over] *= (eps_arr[over] / n[over])[:, None]
        return delta
    raise InvalidInputError(f"unknown norm {norm!r}; known: {list(NORMS)}")


def random_in_ball(rng: np.random.Generator, n: int, d: int, norm: str) -> np.ndarray:
    """``n`` points drawn uniformly from the unit ball of ``norm`` in ``d`` dimensions.

    linf: uniform in the cube ``[-1, 1]^d``. l2: uniform in the ball (a Gaussian direction
    times a radius ``U^(1/d)``), so ``||delta||^d`` is uniform on [0, 1].
    """
    if norm == "linf":
        return rng.uniform(-1.0, 1.0, size=(n, d))
    if norm == "l2":
        direction = random_on_sphere(rng, n, d, "l2")
        radius = rng.uniform(0.0, 1.0, size=n) ** (1.0 / d)
        return direction * radius[:, None]
    raise InvalidInputError(f"unknown norm {norm!r}; known: {list(NORMS)}")


def random_on_sphere(rng: np.random.Generator, n: int, d: int, norm: str) -> np.ndarray:
    """``n`` points of unit ``norm``: random sign vectors (linf, the cube's corners, which
    also have the largest l2 length) or uniform directions on the l2 sphere."""
    if norm == "linf":
        return rng.choice(np.array([-1.0, 1.0]), size=(n, d))
    if norm == "l2":
        g = rng.standard_normal((n, d))
        lengths = row_norms(g, "l2")
        while (lengths == 0).any():  # probability zero; kept for total correctness
            bad = lengths == 0
            g[bad] = rng.standard_normal((int(bad.sum()), d))
            lengths = row_norms(g, "l2")
        return g / lengths[:, None]
    raise InvalidInputError(f"unknown norm {norm!r}; known: {list(NORMS)}")


def clip_box(x: np.ndarray, bounds: tuple[float, float] | None) -> np.ndarray:
    """Clip ``x`` to the box ``[low, high]`` (a new array); ``None`` means no box."""
    if bounds is None:
        return np.array(x, dtype=np.float64)
    return np.clip(x, bounds[0], bounds[1])


def check_bounds(bounds: Any) -> tuple[float, float] | None:
    """Validate optional box bounds ``(low, high)`` with ``low < high``, both finite."""
    if bounds is None:
        return None
    try:
        low, high = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise InvalidInputError(f"bounds must be None or a pair (low, high), got {bounds!r}"
                                ) from None
    if not (np.isfinite(low) and np.isfinite(high)) or not low < high:
        raise InvalidInputError(f"bounds must be finite with low < high, got {bounds!r}")
    return (low, high)


def to_budget(x0: np.ndarray, x: np.ndarray, eps: float, norm: str,
              bounds: tuple[float, float] | None) -> np.ndarray:
    """``x`` moved back into the ``eps``-ball around ``x0`` and the box.

    Used to clip the output of a minimisation attack to each budget of a sweep. When ``x0``
    lies in the box, the result stays in the ball: both sets are convex and clipping to the
    box only moves coordinates toward ``x0``.
    """
    return clip_box(x0 + project(np.asarray(x) - x0, eps, norm), bounds)
