"""The base class every model derives from, and what the model builders share.

`Model` is the contract the solver, the training job and the tests rely on: a subclass sets
`params`, `weight_keys`, `name`, `loss_name`, `output` and `n_classes` and implements `forward`,
`backward` and `scores`; the base gives the regularised loss, `weight_norm2`, `probabilities`,
`predict`, `n_params` and `dtype`. Builders read spec keys with `spec_value`, validate the
initialisation with `init_settings` and draw weights with `init_weight`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

from cifarflow.errors import ConfigError
from cifarflow.nn.activations import sigmoid, softmax
from cifarflow.nn.losses import get_loss

INITS = ("he", "xavier", "normal")
DEFAULT_INIT_SIGMA = 0.01


def spec_value(spec: dict, key: str, default):
    """spec[key], with a missing key or a None (YAML null) meaning the default."""
    value = spec.get(key)
    return default if value is None else value


def init_settings(spec: dict, default_init: str) -> tuple[str, float]:
    """The validated (init, init_sigma) of a spec: `init` one of INITS (default `default_init`),
    `init_sigma` a positive finite number (default 0.01; used by init 'normal').
    Raises ConfigError for a bad value."""
    init = spec_value(spec, "init", default_init)
    if init not in INITS:
        raise ConfigError(f"init {init!r} is not supported; use 'he', 'xavier' or 'normal'.")
    init_sigma = spec_value(spec, "init_sigma", DEFAULT_INIT_SIGMA)
    if (
        isinstance(init_sigma, bool)
        or not isinstance(init_sigma, (int, float, np.number))
        or not math.isfinite(init_sigma)
        or init_sigma <= 0
    ):
        raise ConfigError(f"init_sigma {init_sigma!r} is not a positive number, e.g. 0.01.")
    return init, float(init_sigma)


def init_weight(rng: np.random.Generator, shape: tuple, init: str, init_sigma: float, dtype) -> np.ndarray:
    """Weights of `shape` (fan_out, *fan_in dims): 'he' N(0, 2/fan_in), 'xavier' N(0, 1/fan_in),
    'normal' N(0, init_sigma^2), fan_in = prod(shape[1:]) (D for an fc layer, k*k*C for a conv).
    Drawn in float64 from `rng`, then cast, so both dtypes start from the same numbers."""
    fan_in = math.prod(shape[1:])
    if init == "he":
        std = math.sqrt(2.0 / fan_in)
    elif init == "xavier":
        std = math.sqrt(1.0 / fan_in)
    else:
        std = init_sigma
    return (std * rng.standard_normal(shape)).astype(dtype)


def predict_from_scores(s: np.ndarray) -> np.ndarray:
    """(N,) int64 labels from scores (N, K_out): argmax, or score > 0 for a single output unit."""
    if s.shape[1] == 1:
        return (s[:, 0] > 0).astype(np.int64)
    return np.argmax(s, axis=1).astype(np.int64)


def probabilities_from_scores(s: np.ndarray, output: str) -> np.ndarray:
    """s: (N, K_out) scores. Returns (N, n_classes): softmax rows, per-class sigmoids, or
    [1 - p, p] for a single sigmoid output."""
    if output == "softmax":
        return softmax(s, axis=1)
    if s.shape[1] == 1:
        return np.concatenate([sigmoid(-s), sigmoid(s)], axis=1)
    return sigmoid(s)


class Model(ABC):
    """A classifier on float rows x: (N, D) (normalised, flattened HWC images), labels y: (N,) int.

    Subclasses set:
        params: name -> array ('W1', 'b1', ...), updated in place by the optimiser.
        weight_keys: the L2-regularised parameters (weights, not biases).
        name: the registry's model name; loss_name: one of the registry's losses of the model;
        output: 'softmax' | 'sigmoid' (applied inside the loss and by `probabilities`);
        n_classes: number of classes.
    and implement `forward`, `backward` and `scores`.
    """

    name: str
    output: str
    loss_name: str
    params: dict
    weight_keys: tuple
    n_classes: int

    # The dtype `weight_norm2` sums the squared weights in: None sums them in the parameters'
    # own dtype (np.vdot), a dtype such as np.float64 accumulates in it (np.sum(w ** 2, dtype)).
    # Which one a model uses is part of its reported numbers (the cost, weight_norm2).
    norm2_dtype = None

    @abstractmethod
    def forward(self, x: np.ndarray) -> tuple[np.ndarray, object]:
        """x: (N, D). Returns scores: (N, K_out), the cache for `backward`."""

    @abstractmethod
    def backward(self, dscores: np.ndarray, cache: object) -> dict:
        """dscores: (N, K_out). Returns the gradient of every parameter, keyed like `params`
        (no regularisation term)."""

    @abstractmethod
    def scores(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D). Returns scores: (N, K_out), without keeping a cache."""

    @property
    def n_params(self) -> int:
        """Total number of scalar parameters."""
        return int(sum(p.size for p in self.params.values()))

    @property
    def dtype(self) -> np.dtype:
        """The parameters' dtype; inputs are cast to it."""
        return self.params["W1"].dtype

    def loss(self, x: np.ndarray, y: np.ndarray, lam: float = 0.0) -> tuple[float, float, dict]:
        """Loss, regularised cost J = loss + lam * weight_norm2(), and dJ/dparams.

        x: (N, D); y: (N,) int labels. Returns loss: float (the batch mean), cost: float, grads:
        dict keyed like `params` (the weights' gradients include 2 * lam * W).
        """
        lam = float(lam)  # a Python float keeps float32 arrays float32
        scores, cache = self.forward(x)
        loss, dscores = get_loss(self.loss_name, self.output)(scores, y)
        grads = self.backward(dscores, cache)
        cost = loss
        if lam:
            cost += lam * self.weight_norm2()
            for k in self.weight_keys:
                grads[k] += (2 * lam) * self.params[k]
        return loss, cost, grads

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D). Returns (N, n_classes) (`probabilities_from_scores` of the scores)."""
        return probabilities_from_scores(self.scores(x), self.output)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D). Returns (N,) int64 labels (`predict_from_scores` of the scores)."""
        return predict_from_scores(self.scores(x))

    def weight_norm2(self) -> float:
        """Sum of squared weights over `weight_keys` (biases excluded), summed in `norm2_dtype`."""
        weights = (self.params[k] for k in self.weight_keys)
        if self.norm2_dtype is None:
            return float(sum(np.vdot(w, w) for w in weights))
        return float(sum(np.sum(w**2, dtype=self.norm2_dtype) for w in weights))
