"""Elementwise and row-wise nonlinearities, numerically stable and dtype-preserving.

Every function takes an array `x` of any shape (row-wise ones reduce over `axis`, the class axis)
and returns an array of the same shape and floating dtype: float32 in, float32 out.

Stability: no overflow for |x| up to 1e4 and beyond. Results that are smaller than the dtype's
tiniest number underflow to 0, which is the correctly rounded answer; NumPy ignores underflow by
default (`np.seterr(under='ignore')`), so nothing is printed or raised.
"""

import numpy as np


def _float(x):
    """x as a floating array; float32 and float64 pass through without a copy."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow.

    Uses e = exp(-|x|) <= 1 in both branches: sigmoid(x) = 1 / (1 + e) for x >= 0 and
    e / (1 + e) for x < 0.

    x: any shape. Returns: same shape and dtype, values in [0, 1].
    """
    x = _float(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1, e) / (1 + e)


def softplus(x):
    """log(1 + exp(x)) = np.logaddexp(0, x), exact for large |x|.

    x: any shape. Returns: same shape and dtype, values >= 0.
    """
    x = _float(x)
    return np.logaddexp(0, x)


def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x); finite (about x) for very negative x.

    x: any shape. Returns: same shape and dtype, values <= 0.
    """
    x = _float(x)
    return -np.logaddexp(0, -x)


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, with the row maximum subtracted first.

    x: (N, K) scores (any shape; `axis` is the class axis). Returns: same shape and dtype; rows
    sum to 1.
    """
    x = _float(x)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`, computed as (x - max) - log(sum(exp(x - max))).

    x: (N, K) scores (any shape; `axis` is the class axis). Returns: same shape and dtype,
    values <= 0.
    """
    x = _float(x)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))
