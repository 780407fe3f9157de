"""Gradient checks by centred differences (run them in float64)."""

import numpy as np


def numerical_gradient(f, x, h=1e-5):
    """Centred-difference gradient (f(x + h e_i) - f(x - h e_i)) / 2h of a scalar function.

    f: callable taking x and returning a scalar; it must read x's current values.
    x: array of any shape, perturbed IN PLACE one entry at a time and restored afterwards (also
    when f raises). Returns: float64 array of x's shape.
    """
    grad = np.zeros(x.shape, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        try:
            x[i] = old + h
            fp = float(f(x))
            x[i] = old - h
            fm = float(f(x))
        finally:
            x[i] = old
        grad[i] = (fp - fm) / (2 * h)
    return grad


def rel_error(a, n, eps=1e-12):
    """max over entries of |a - n| / max(eps, |a| + |n|); 0.0 for empty arrays.

    a, n: arrays of the same shape (analytic and numerical gradients). Returns: float.
    """
    a = np.asarray(a, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    if a.shape != n.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {n.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - n) / np.maximum(eps, np.abs(a) + np.abs(n))))


def check_model_gradients(model, x, y, lam, h=1e-5):
    """Compare `model.loss`'s gradients of the cost J = loss + lam * sum ||W||^2 with centred
    differences, parameter by parameter.

    model: any object with `params` and `loss(x, y, lam) -> (loss, cost, grads)`, best in
    float64. x: (N, D); y: (N,). Returns {param name: max relative error}.
    """
    _, _, grads = model.loss(x, y, lam)
    grads = {k: np.array(g, copy=True) for k, g in grads.items()}

    def cost(_):
        return model.loss(x, y, lam)[1]

    return {name: rel_error(grads[name], numerical_gradient(cost, p, h)) for name, p in model.params.items()}
