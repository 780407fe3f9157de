"""Optimisers and learning-rate schedules.

An optimiser step is `update(w, dw, state, lr) -> (w, state)`, applied once per parameter name;
state is a dict of arrays with the parameter's shape (empty for plain SGD).
"""

from __future__ import annotations

import numpy as np


def sgd_update(
    w: np.ndarray,
    dw: np.ndarray,
    state: dict,
    lr: float,
    momentum: float = 0.0,
    nesterov: bool = False,
    overwrite_dw: bool = False,
):
    """One SGD step, in place. With momentum: v = mu v - lr dw; w += v (Nesterov: w += mu v - lr dw).

    overwrite_dw: the caller has no further use for dw, so lr * dw is computed into it (dw then
    holds lr * dw) instead of a new array; the same float operations, the same numbers. A
    training loop whose gradients are new arrays every step passes True.
    """
    lr = w.dtype.type(lr)
    step = np.multiply(dw, lr, out=dw) if overwrite_dw else lr * dw  # lr * dw, computed once
    if momentum == 0.0:
        w -= step
        return w, state
    mu = w.dtype.type(momentum)
    v = state.get("v")
    if v is None:
        v = state["v"] = np.zeros_like(w)
    v *= mu
    v -= step
    if nesterov:
        w += mu * v - step
    else:
        w += v
    return w, state


def learning_rate(settings: dict, step: int, epoch: int) -> float:
    """Learning rate of the gradient step `step` (0-based, counted over the whole run) in `epoch` (1-based).

    constant: eta; step: eta * step_factor ** ((epoch - 1) // step_every);
    cyclic: triangular between eta_min and eta_max with half-cycle n_s steps (Smith 2015).
    """
    kind = settings["schedule"]
    if kind == "constant":
        return float(settings["eta"])
    if kind == "step":
        return float(settings["eta"]) * float(settings["step_factor"]) ** ((epoch - 1) // int(settings["step_every"]))
    if kind == "cyclic":
        n_s = int(settings["n_s"])
        lo, hi = float(settings["eta_min"]), float(settings["eta_max"])
        cycle_pos = step % (2 * n_s)
        frac = cycle_pos / n_s if cycle_pos <= n_s else 2.0 - cycle_pos / n_s
        return lo + frac * (hi - lo)
    raise ValueError(f"unknown schedule {kind!r}")
