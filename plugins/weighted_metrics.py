"""Hadamard-weighted metrics: weighted euclidean, diagonal Mahalanobis and feature gating.

All three are the euclidean distance after an element-wise (Hadamard) product with a fixed
vector, so ``transform(X)`` maps data to a space where *any* euclidean index serves them:

- ``weighted-euclidean:w=...``: ``|w ∘ (x − y)|₂``; transform ``X ∘ w``.
- ``diag-mahalanobis:v=...``: ``sqrt(Σ v_i (x_i − y_i)²)`` with ``v >= 0`` the diagonal of
  the inverse covariance (scipy's ``VI``); transform ``X ∘ sqrt(v)``.
- ``gated-euclidean:g=...``: ``|g ∘ (x − y)|₂`` with a 0/1 gate; transform keeps the open
  columns only (a smaller index).

Vectors are written in a metric spec as numbers separated by ``;`` (``w=1;0.5;2``), or as
``@path`` to a ``.npy`` file; left out, they are all ones (plain euclidean). Shapes are
checked strictly: the vector must be 1-D and as long as the data is wide; nothing is
broadcast. Zero weights make these pseudometrics (distinct points at distance 0); the
triangle inequality and symmetry still hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import DataKind, InvalidInputError, MetricInfo, Param, hookimpl
from harness.metrics import check_metric_inputs
from plugins.metrics import euclidean_pairwise


def parse_vector(text: Any, name: str, owner: str) -> np.ndarray:
    """A 1-D float64 vector from ``"1;2;3"``, ``"@file.npy"`` or an array-like; strict."""
    if isinstance(text, str):
        text = text.strip()
        if not text:
            raise InvalidInputError(
                f"{owner}: parameter {name!r} is required, e.g. '{name}=1;0.5;2' or "
                f"'{name}=@weights.npy'")
        if text.startswith("@"):
            try:
                vec = np.load(text[1:], allow_pickle=False)
            except (OSError, ValueError) as exc:
                raise InvalidInputError(f"{owner}: cannot read {name!r} from {text[1:]!r}: "
                                        f"{exc}") from None
        else:
            try:
                vec = np.array([float(v) for v in text.replace(" ", ";").split(";") if v],
                               dtype=np.float64)
            except ValueError:
                raise InvalidInputError(
                    f"{owner}: parameter {name!r}: expected numbers separated by ';', got "
                    f"{text!r}") from None
    else:
        vec = np.asarray(text)
    if vec.dtype.kind not in "biuf":
        raise InvalidInputError(f"{owner}: {name!r} must be numeric, got dtype {vec.dtype}")
    if vec.ndim != 1:
        raise InvalidInputError(
            f"{owner}: {name!r} must be a 1-D vector, got shape {vec.shape} (no broadcasting)")
    if vec.size == 0:
        raise InvalidInputError(f"{owner}: {name!r} is empty")
    vec = vec.astype(np.float64)
    if not np.all(np.isfinite(vec)):
        raise InvalidInputError(f"{owner}: {name!r} has NaN or infinite entries")
    return vec


@dataclass(frozen=True)
class HadamardMetric:
    """Euclidean distance after the Hadamard product with ``scale`` (zero entries may drop).

    :param name: metric name, for messages.
    :param scale: the per-feature factor (1-D float64).
    :param drop_zeros: ``transform`` removes columns whose factor is 0 (feature gating).
    """

    name: str
    scale: np.ndarray
    drop_zeros: bool = False

    @property
    def dim(self) -> int:
        return int(self.scale.size)

    def _check(self, X: Any, Y: Any, same_rows: bool = False) -> tuple[np.ndarray, np.ndarray]:
        a, b = check_metric_inputs(X, Y, DataKind.DENSE, same_rows=same_rows,
                                   owner=f"metric {self.name!r}")
        self._check_width(a, "X")
        return a, b

    def _check_width(self, a: np.ndarray, what: str) -> None:
        if a.shape[1] != self.dim:
            raise InvalidInputError(
                f"metric {self.name!r}: {what} has {a.shape[1]} columns but the weight "
                f"vector has {self.dim} entries (no broadcasting)")

    def transform(self, X: Any) -> np.ndarray:
        """Map rows to the space where this metric is euclidean (float64)."""
        from harness.metrics import check_dense_float64

        a = check_dense_float64(X, f"X of metric {self.name!r}")
        self._check_width(a, "X")
        out = a * self.scale[None, :]
        if self.drop_zeros:
            out = out[:, self.scale != 0]
        return out

    def pairwise(self, X: Any, Y: Any) -> np.ndarray:
        a, b = self._check(X, Y)
        ta, tb = a * self.scale, b * self.scale
        if self.drop_zeros:
            keep = self.scale != 0
            if not keep.any():
                return np.zeros((len(a), len(b)))
            ta, tb = ta[:, keep], tb[:, keep]
        return euclidean_pairwise(ta, tb)

    def rowwise(self, X: Any, Y: Any) -> np.ndarray:
        a, b = self._check(X, Y, True)
        u = (a - b) * self.scale
        return np.sqrt(np.einsum("ij,ij->i", u, u))

    def gradient(self, Q: Any, X: Any) -> np.ndarray:
        """``scale² ∘ (q − x) / d``; 0 where d = 0."""
        q, x = self._check(Q, X, True)
        u = (q - x) * self.scale
        dist = np.sqrt(np.einsum("ij,ij->i", u, u))
        safe = np.where(dist > 0, dist, 1.0)[:, None]
        return np.where((dist > 0)[:, None], u * self.scale / safe, 0.0)


def weighted_euclidean(w: Any) -> HadamardMetric:
    """``|w ∘ (x − y)|₂`` for a 1-D weight vector ``w``."""
    return HadamardMetric("weighted-euclidean",
                          parse_vector(w, "w", "metric 'weighted-euclidean'"))


def diag_mahalanobis(v: Any) -> HadamardMetric:
    """``sqrt(Σ v_i (x_i − y_i)²)``; ``v >= 0`` is the diagonal of the inverse covariance."""
    vec = parse_vector(v, "v", "metric 'diag-mahalanobis'")
    if np.any(vec < 0):
        raise InvalidInputError(
            "metric 'diag-mahalanobis': 'v' (inverse variances) must be >= 0, got a minimum "
            f"of {vec.min()!r}")
    return HadamardMetric("diag-mahalanobis", np.sqrt(vec))


def gated_euclidean(g: Any) -> HadamardMetric:
    """``|g ∘ (x − y)|₂`` for a 0/1 gate ``g``; ``transform`` keeps the open columns."""
    vec = parse_vector(g, "g", "metric 'gated-euclidean'")
    if not np.all((vec == 0) | (vec == 1)):
        raise InvalidInputError("metric 'gated-euclidean': 'g' must hold only 0 and 1 (use "
                                "weighted-euclidean for real weights)")
    return HadamardMetric("gated-euclidean", vec, drop_zeros=True)


_MAKERS = {"weighted-euclidean": (weighted_euclidean, "w"),
           "diag-mahalanobis": (diag_mahalanobis, "v"),
           "gated-euclidean": (gated_euclidean, "g")}


def make(name: str, value: Any) -> HadamardMetric:
    """The :class:`HadamardMetric` of a registered name and its vector parameter."""
    return _MAKERS[name][0](value)


def transform(spec: str, X: Any) -> np.ndarray:
    """Map ``X`` for the metric spec (``"weighted-euclidean:w=1;2"``) to euclidean space.

    A spec without its vector (``"weighted-euclidean"``) means unit weights: plain euclidean.
    """
    from harness.metrics import get_metric

    bound = get_metric(spec)
    if bound.info.name not in _MAKERS:
        raise InvalidInputError(f"{spec!r} is not a Hadamard-weighted metric "
                                f"({sorted(_MAKERS)})")
    return _resolve(bound.info.name, bound.params[_MAKERS[bound.info.name][1]], X).transform(X)


def _resolve(name: str, value: Any, X: Any) -> HadamardMetric:
    """The metric of a spec value; an empty value means unit weights (plain euclidean)."""
    if isinstance(value, str) and not value.strip():
        width = int(np.shape(X)[-1]) if np.ndim(X) else 1
        return make(name, np.ones(max(width, 1)))
    return make(name, value)


def _functions(name: str) -> dict[str, Any]:
    key = _MAKERS[name][1]

    def pairwise(X: Any, Y: Any, **params: Any) -> np.ndarray:
        return _resolve(name, params[key], X).pairwise(X, Y)

    def rowwise(X: Any, Y: Any, **params: Any) -> np.ndarray:
        return _resolve(name, params[key], X).rowwise(X, Y)

    def gradient(Q: Any, X: Any, **params: Any) -> np.ndarray:
        return _resolve(name, params[key], Q).gradient(Q, X)

    def bind(**params: Any) -> dict[str, Any]:
        if str(params[key]).strip():
            make(name, params[key])  # a clear error for a bad vector, when resolved
        return {}

    return {"pairwise": pairwise, "rowwise": rowwise, "gradient": gradient, "bind": bind}


_HELP = {"w": "weights, ';'-separated or @file.npy", "v": "inverse variances >= 0, "
         "';'-separated or @file.npy", "g": "0/1 gate, ';'-separated or @file.npy"}
_DESCRIPTIONS = {"weighted-euclidean": "|w ∘ (x − y)|₂ (Hadamard-weighted euclidean)",
                 "diag-mahalanobis": "sqrt(Σ v (x − y)²): Mahalanobis with diagonal VI",
                 "gated-euclidean": "|g ∘ (x − y)|₂ with a 0/1 feature gate"}


@hookimpl
def register_metrics(register: Any) -> None:
    """Register the three Hadamard-weighted metrics."""
    for name, (_, key) in _MAKERS.items():
        fns = _functions(name)
        register(MetricInfo(
            name, fns["pairwise"], fns["rowwise"], gradient=fns["gradient"],
            params=(Param(key, "", str, help=_HELP[key]),), bind=fns["bind"],
            description=_DESCRIPTIONS[name]))
