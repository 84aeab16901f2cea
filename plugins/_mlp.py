"""Small multilayer perceptrons in numpy: hand-written forward and backward passes, Adam.

Used by the ``advgan`` attack for its generator and discriminator. A network is a stack of
affine layers ``h_{l+1} = act_l(h_l @ W_l + b_l)``; hidden layers share one activation, the
last layer has its own. ``softmax`` (over each row) is the one activation that is not
elementwise: a softmax hidden layer makes a gated mixture of the next layer's rows.
Everything is float64 and seeded; nothing here is specific to GANs.

- :class:`MLP`: ``forward(x) -> (out, cache)`` and ``backward(cache, grad_out) ->
  (param_grads, grad_x)`` (the gradient of a scalar loss whose gradient with respect to the
  output is ``grad_out``), parameters as a flat list ``[W_0, b_0, W_1, b_1, ...]``,
  ``to_arrays`` / ``from_arrays`` for saving without pickle.
- :class:`Adam`: the Adam update (Kingma and Ba, 2015) with bias correction, in place.
- :func:`minibatches`: a seeded shuffle cut into batches.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from harness.errors import InvalidInputError

#: activations known to :class:`MLP`
ACTIVATIONS = ("linear", "relu", "leaky_relu", "tanh", "softmax")
LEAKY_SLOPE = 0.2


def _activate(a: np.ndarray, kind: str) -> np.ndarray:
    if kind == "linear":
        return a
    if kind == "relu":
        return np.maximum(a, 0.0)
    if kind == "leaky_relu":
        return np.where(a > 0, a, LEAKY_SLOPE * a)
    if kind == "softmax":
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    return np.tanh(a)


def _activation_backward(g: np.ndarray, a: np.ndarray, h: np.ndarray, kind: str
                         ) -> np.ndarray:
    """Gradient with respect to the pre-activation ``a`` (output ``h``) of a loss whose
    gradient with respect to ``h`` is ``g``: elementwise ``g * act'(a)``; for the softmax
    (over each row), ``h * (g - sum(g * h))``."""
    if kind == "linear":
        return g
    if kind == "relu":
        return g * (a > 0)
    if kind == "leaky_relu":
        return g * np.where(a > 0, 1.0, LEAKY_SLOPE)
    if kind == "softmax":
        return h * (g - (g * h).sum(axis=1, keepdims=True))
    return g * (1.0 - h * h)


class MLP:
    """A fully connected network with seeded initialisation.

    :param sizes: layer widths ``[d_in, hidden..., d_out]`` (at least two entries).
    :param hidden: activation of the hidden layers.
    :param output: activation of the last layer.
    :param rng: seed or ``numpy.random.Generator`` of the initial weights.
    :param output_scale: factor on the initial weights of the last layer (a small value
        starts the network near a zero output).

    Weights start from He initialisation (normal, variance ``2 / fan_in``) for ReLU-like
    layers and Glorot (variance ``1 / fan_in``) otherwise; biases start at zero.
    """

    def __init__(self, sizes: Sequence[int], hidden: str = "leaky_relu",
                 output: str = "linear", rng: Any = 0, output_scale: float = 1.0) -> None:
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise InvalidInputError(f"MLP: sizes must hold at least 2 positive widths, got "
                                    f"{sizes}")
        for name, kind in (("hidden", hidden), ("output", output)):
            if kind not in ACTIVATIONS:
                raise InvalidInputError(f"MLP: {name} activation must be one of "
                                        f"{list(ACTIVATIONS)}, got {kind!r}")
        self.sizes = sizes
        self.hidden = hidden
        self.output = output
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.params: list[np.ndarray] = []
        for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            last = i == len(sizes) - 2
            kind = output if last else hidden
            var = (2.0 if kind in ("relu", "leaky_relu") else 1.0) / fan_in
            w = gen.normal(0.0, np.sqrt(var), size=(fan_in, fan_out))
            if last:
                w *= output_scale
            self.params += [w, np.zeros(fan_out)]

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def _kind(self, layer: int) -> str:
        return self.output if layer == self.n_layers - 1 else self.hidden

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """Output (n, d_out) and the cache :meth:`backward` needs."""
        h = np.asarray(x, dtype=np.float64)
        if h.ndim != 2 or h.shape[1] != self.sizes[0]:
            raise InvalidInputError(f"MLP: input must have shape (n, {self.sizes[0]}), got "
                                    f"{h.shape}")
        cache = []
        for layer in range(self.n_layers):
            w, b = self.params[2 * layer], self.params[2 * layer + 1]
            a = h @ w + b
            out = _activate(a, self._kind(layer))
            cache.append((h, a, out))
            h = out
        return h, cache

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)[0]

    def backward(self, cache: list[tuple[np.ndarray, ...]],
                 grad_out: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Gradients of the parameters (same order as :attr:`params`) and of the input."""
        g = np.asarray(grad_out, dtype=np.float64)
        grads: list[np.ndarray] = [np.empty(0)] * len(self.params)
        for layer in reversed(range(self.n_layers)):
            h_in, a, out = cache[layer]
            ga = _activation_backward(g, a, out, self._kind(layer))
            grads[2 * layer] = h_in.T @ ga
            grads[2 * layer + 1] = ga.sum(axis=0)
            g = ga @ self.params[2 * layer].T
        return grads, g

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Parameters as named arrays (``<prefix>p0``, ``<prefix>p1``, ...)."""
        return {f"{prefix}p{i}": p for i, p in enumerate(self.params)}

    def load_arrays(self, arrays: Any, prefix: str) -> None:
        """Replace the parameters by those saved with :meth:`to_arrays` (shapes checked)."""
        for i, p in enumerate(self.params):
            key = f"{prefix}p{i}"
            if key not in arrays:
                raise InvalidInputError(f"MLP: saved parameters lack {key!r}")
            new = np.asarray(arrays[key], dtype=np.float64)
            if new.shape != p.shape:
                raise InvalidInputError(f"MLP: saved {key!r} has shape {new.shape}, expected "
                                        f"{p.shape}")
            self.params[i] = new.copy()


class Adam:
    """Adam on a list of parameter arrays, updated in place.

    :param params: the arrays to update (e.g. ``MLP.params``; the list is kept).
    :param lr: step size.
    :param betas: decay rates of the first and second moment estimates.
    :param eps: added to the root of the second moment.
    """

    def __init__(self, params: list[np.ndarray], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        if not (np.isfinite(lr) and lr > 0):
            raise InvalidInputError(f"Adam: lr must be > 0, got {lr!r}")
        self.params = params
        self.lr = float(lr)
        self.beta1, self.beta2 = (float(b) for b in betas)
        self.eps = float(eps)
        self.t = 0
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """One update from the gradients (same order and shapes as the parameters)."""
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            v *= self.beta2
            v += (1.0 - self.beta2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)


def minibatches(n: int, size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A random permutation of ``range(n)`` cut into batches of ``size`` (the last may be
    smaller); ``size`` 0 means one batch."""
    order = rng.permutation(n)
    size = size or n
    return [order[s:s + size] for s in range(0, n, size)]


__all__ = ["ACTIVATIONS", "MLP", "Adam", "minibatches"]
