"""Layers as forward/backward pairs (CS231n style).

`*_forward(...) -> (out, cache)`; `*_backward(dout, cache) -> gradients`. The cache holds what the
backward pass needs and nothing more. Weights follow the write-ups' convention: `w` has shape
(M, D) (one row per output unit) and `out = x @ w.T + b`.
"""

import numpy as np

from cifarflow.nn.activations import sigmoid


def affine_forward(x, w, b):
    """out = x @ w.T + b.

    x: (N, D); w: (M, D); b: (M,). Returns out: (N, M), cache: (x, w).
    """
    out = x @ w.T
    out += b  # in place: the same sums as `x @ w.T + b`, without a second (N, M) array
    return out, (x, w)


def affine_backward(dout, cache, need_dx=True):
    """Gradients of an affine layer.

    dout: (N, M); cache: (x (N, D), w (M, D)).
    Returns dx: (N, D) (None when `need_dx` is False, which saves the largest matrix product for
    a network's first layer), dw: (M, D), db: (M,).
    """
    x, w = cache
    dx = dout @ w if need_dx else None
    dw = dout.T @ x
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    """out = max(x, 0).

    x: any shape. Returns out: same shape, cache: x.
    """
    return np.maximum(x, 0), x


def relu_backward(dout, cache):
    """dx = dout where x > 0, else 0 (the subgradient 0 is used at x == 0).

    dout: same shape as the cached x. Returns dx: same shape.
    """
    x = cache
    return dout * (x > 0)


def softplus_forward(x):
    """out = log(1 + exp(x)), stable (np.logaddexp(0, x)).

    x: any shape. Returns out: same shape, cache: x.
    """
    return np.logaddexp(0, x), x


def softplus_backward(dout, cache):
    """dx = dout * sigmoid(x), since softplus'(x) = sigmoid(x).

    dout: same shape as the cached x. Returns dx: same shape.
    """
    x = cache
    return dout * sigmoid(x)


ACTIVATIONS = {
    "relu": (relu_forward, relu_backward),
    "softplus": (softplus_forward, softplus_backward),
}
