"""Losses on raw scores: each returns (loss, dscores), the loss being the MEAN over the batch.

scores: (N, K) float32 or float64; y: (N,) integer class labels in [0, K) (for `bce`, and
`mse_sigmoid` with K == 1: y in {0, 1}). dscores has the shape and dtype of scores. No one-hot
matrix is built: the label entries are indexed with `[arange(N), y]`.

Regularisation is not applied here (see `cifarflow.nn.base.Model.loss`).
"""

import numpy as np

from cifarflow.errors import ConfigError
from cifarflow.nn.activations import sigmoid

LOSS_NAMES = ("cross_entropy", "multi_bce", "bce", "mse")
OUTPUTS = ("softmax", "sigmoid")


def _check(scores, y):
    """Shape checks shared by all losses; returns (N, K, row index array)."""
    if scores.ndim != 2:
        raise ValueError(f"scores must be 2-D (N, K), got shape {scores.shape}")
    n, k = scores.shape
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},) to match scores {scores.shape}, got {y.shape}")
    return n, k, np.arange(n)


def cross_entropy(scores, y):
    """Softmax cross-entropy: l = -mean_n log softmax(s_n)[y_n].

    scores: (N, K); y: (N,) int in [0, K).
    Returns loss: float, dscores: (N, K) = (softmax(s) - onehot(y)) / N.
    """
    n, _, rows = _check(scores, y)
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    e = np.exp(shifted)
    sum_e = np.sum(e, axis=1, keepdims=True)
    # log softmax(s)[y] = shifted[y] - log(sum exp(shifted)); the sum is >= 1, so the log is finite.
    loss = float(np.mean(np.log(sum_e[:, 0]) - shifted[rows, y]))
    dscores = e / sum_e
    dscores[rows, y] -= 1
    dscores /= n
    return loss, dscores


def multi_bce(scores, y):
    """Multiple binary cross-entropy: one sigmoid per class, target onehot(y).

    l_n = -(1/K) sum_k [(1 - t_k) log(1 - p_k) + t_k log p_k], p = sigmoid(s), t = onehot(y_n),
    computed stably as (1/K) sum_k [softplus(s_k) - t_k s_k].
    scores: (N, K); y: (N,) int in [0, K).
    Returns loss: float (mean over N), dscores: (N, K) = (sigmoid(s) - onehot(y)) / (N K).
    """
    n, k, rows = _check(scores, y)
    total = np.sum(np.logaddexp(0, scores)) - np.sum(scores[rows, y])
    loss = float(total) / (n * k)
    dscores = sigmoid(scores)
    dscores[rows, y] -= 1
    dscores /= n * k
    return loss, dscores


def _binary_targets(y, dtype):
    y = np.asarray(y)
    if y.size and not np.all((y == 0) | (y == 1)):
        raise ValueError("binary labels y must be 0 or 1")
    return y.astype(dtype, copy=False)


def bce(scores, y):
    """Binary cross-entropy with one output unit: p = sigmoid(s), y = 1 is the positive class.

    l = -mean_n [y log p + (1 - y) log(1 - p)] = mean_n [softplus(s) - y s].
    scores: (N, 1); y: (N,) in {0, 1}.
    Returns loss: float, dscores: (N, 1) = (sigmoid(s) - y) / N.
    """
    n, k, _ = _check(scores, y)
    if k != 1:
        raise ValueError(f"bce needs scores of shape (N, 1), got {scores.shape}")
    s = scores[:, 0]
    t = _binary_targets(y, scores.dtype)
    loss = float(np.mean(np.logaddexp(0, s) - t * s))
    dscores = ((sigmoid(s) - t) / n)[:, None]
    return loss, dscores


def mse_softmax(scores, y):
    """Squared error on softmax probabilities: l = mean_n sum_k (p_nk - onehot(y_n)_k)^2.

    The gradient goes through the softmax Jacobian J = diag(p) - p p^T without forming it:
    with g = dl/dp = 2 (p - onehot) / N, dl/ds = J g = p * (g - sum_k p_k g_k).
    scores: (N, K); y: (N,) int in [0, K).
    Returns loss: float, dscores: (N, K).
    """
    n, _, rows = _check(scores, y)
    e = np.exp(scores - np.max(scores, axis=1, keepdims=True))
    p = e / np.sum(e, axis=1, keepdims=True)
    d = p.copy()
    d[rows, y] -= 1
    loss = float(np.sum(d * d)) / n
    g = d
    g *= 2 / n
    dscores = p * (g - np.sum(p * g, axis=1, keepdims=True))
    return loss, dscores


def mse_sigmoid(scores, y):
    """Squared error on sigmoid outputs: l = mean_n sum_k (p_nk - t_nk)^2, p = sigmoid(s).

    Targets: for K == 1, t = y with y in {0, 1}; for K > 1, t = onehot(y).
    dl/ds = 2 (p - t) p (1 - p) / N.
    scores: (N, K); y: (N,).
    Returns loss: float, dscores: (N, K).
    """
    n, k, rows = _check(scores, y)
    p = sigmoid(scores)
    if k == 1:
        d = p - _binary_targets(y, scores.dtype)[:, None]
    else:
        d = p.copy()
        d[rows, y] -= 1
    loss = float(np.sum(d * d)) / n
    dscores = d * (p * (1 - p))
    dscores *= 2 / n
    return loss, dscores


_BY_OUTPUT = {
    ("cross_entropy", "softmax"): cross_entropy,
    ("mse", "softmax"): mse_softmax,
    ("multi_bce", "sigmoid"): multi_bce,
    ("bce", "sigmoid"): bce,
    ("mse", "sigmoid"): mse_sigmoid,
}


def get_loss(name, output):
    """The loss function for a loss name and an output nonlinearity.

    name: 'cross_entropy' | 'multi_bce' | 'bce' | 'mse'; output: 'softmax' | 'sigmoid'.
    cross_entropy needs softmax, multi_bce and bce need sigmoid, mse works with both.
    Returns a callable (scores, y) -> (loss, dscores). Raises ConfigError otherwise.
    """
    if name not in LOSS_NAMES:
        raise ConfigError(f"loss {name!r} is not a known loss; use one of {', '.join(map(repr, LOSS_NAMES))}.")
    if output not in OUTPUTS:
        raise ConfigError(f"output {output!r} is not a known output; use 'softmax' or 'sigmoid'.")
    try:
        return _BY_OUTPUT[(name, output)]
    except KeyError:
        allowed = sorted(n for (n, o) in _BY_OUTPUT if o == output)
        raise ConfigError(
            f"loss {name!r} does not fit a {output} output; use one of {', '.join(map(repr, allowed))}."
        ) from None
