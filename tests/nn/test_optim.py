"""Optimisers and schedules (cifarflow.nn.optim): update rules against step-by-step hand
computations in float64, in-place updates and state, dtypes, and the schedules' formulas."""

import numpy as np
import pytest

from cifarflow.nn.optim import learning_rate, sgd_update


def _gradients(seed, n_steps, shape=(3, 4)):
    rng = np.random.default_rng(seed)
    return rng.normal(size=shape), [rng.normal(size=shape) for _ in range(n_steps)]


# --- sgd_update --------------------------------------------------------------------------------


def test_plain_sgd_step_is_w_minus_lr_dw():
    w, dw = np.array([1.0, -2.0, 0.5]), np.array([4.0, 2.0, -8.0])
    w, state = sgd_update(w, dw, {}, 0.25)
    np.testing.assert_array_equal(w, [0.0, -2.5, 2.5])  # powers of two: exact
    assert state == {}  # plain SGD keeps no velocity


def test_sgd_updates_w_in_place_and_returns_the_same_array():
    w = np.ones(4)
    out, _ = sgd_update(w, np.ones(4), {}, 0.5)
    assert out is w
    np.testing.assert_array_equal(w, 0.5)


def test_sgd_leaves_dw_alone_unless_told_to_overwrite_it():
    w, dw = np.ones(3), np.array([1.0, 2.0, 3.0])
    sgd_update(w, dw, {}, 0.5)
    np.testing.assert_array_equal(dw, [1.0, 2.0, 3.0])
    sgd_update(w, dw, {}, 0.5, overwrite_dw=True)
    np.testing.assert_array_equal(dw, [0.5, 1.0, 1.5])  # dw now holds lr * dw


@pytest.mark.parametrize("seed", range(3))
def test_momentum_follows_v_equals_mu_v_minus_lr_dw_then_w_plus_v(seed):
    """Reference, step by step: v <- mu v - lr dw; w <- w + v (v starts at 0), with a different
    learning rate and gradient at every step."""
    w0, grads = _gradients(seed, 5)
    mu = 0.9
    w, state = w0.copy(), {}
    ref_w, ref_v = w0.copy(), np.zeros_like(w0)
    for t, g in enumerate(grads):
        lr = 0.1 / (t + 1)
        ref_v = mu * ref_v - lr * g
        ref_w = ref_w + ref_v
        w, state = sgd_update(w, g.copy(), state, lr, momentum=mu)
        np.testing.assert_allclose(w, ref_w, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(state["v"], ref_v, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("seed", range(3))
def test_nesterov_follows_w_plus_mu_v_minus_lr_dw(seed):
    """Reference, step by step: v <- mu v - lr dw; w <- w + mu v - lr dw (the update of the
    look-ahead point, Bengio et al. 2013)."""
    w0, grads = _gradients(seed, 5)
    mu = 0.8
    w, state = w0.copy(), {}
    ref_w, ref_v = w0.copy(), np.zeros_like(w0)
    for t, g in enumerate(grads):
        lr = 0.05 * (t + 1)
        ref_v = mu * ref_v - lr * g
        ref_w = ref_w + mu * ref_v - lr * g
        w, state = sgd_update(w, g.copy(), state, lr, momentum=mu, nesterov=True)
        np.testing.assert_allclose(w, ref_w, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(state["v"], ref_v, rtol=1e-13, atol=1e-15)


def test_constant_gradient_momentum_velocity_is_a_geometric_sum():
    """With dw = g every step, v_k = -lr g (1 - mu^k) / (1 - mu)."""
    w, state, g, lr, mu = np.zeros(2), {}, np.array([1.0, -3.0]), 0.1, 0.5
    for k in range(1, 7):
        w, state = sgd_update(w, g, state, lr, momentum=mu)
        np.testing.assert_allclose(state["v"], -lr * g * (1 - mu**k) / (1 - mu), rtol=1e-14)


def test_nesterov_without_momentum_is_plain_sgd():
    w0, grads = _gradients(4, 3)
    a, b = w0.copy(), w0.copy()
    for g in grads:
        a, state_a = sgd_update(a, g, {}, 0.1)
        b, state_b = sgd_update(b, g, {}, 0.1, momentum=0.0, nesterov=True)
    assert a.tobytes() == b.tobytes() and state_b == {}


def test_velocity_is_one_array_kept_in_the_state_and_updated_in_place():
    w, state = np.zeros(3), {}
    sgd_update(w, np.ones(3), state, 0.1, momentum=0.9)
    v = state["v"]
    assert v.shape == w.shape and v.dtype == w.dtype
    sgd_update(w, np.ones(3), state, 0.1, momentum=0.9)
    assert state["v"] is v


def test_each_parameter_keeps_its_own_velocity():
    """One state dict per parameter name, as the training loop keeps them: a step on one
    parameter does not move the other's velocity."""
    params = {"W1": np.zeros(2), "b1": np.zeros(3)}
    states = {k: {} for k in params}
    for _ in range(2):
        params["W1"], states["W1"] = sgd_update(params["W1"], np.ones(2), states["W1"], 0.1, momentum=0.9)
    params["b1"], states["b1"] = sgd_update(params["b1"], np.ones(3), states["b1"], 0.1, momentum=0.9)
    np.testing.assert_allclose(states["W1"]["v"], -0.19)
    np.testing.assert_allclose(states["b1"]["v"], -0.1)


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_float32_weights_stay_float32_and_use_the_float32_learning_rate(momentum, nesterov):
    """lr and momentum are cast to the weights' dtype: the step is computed in float32, bit for
    bit the same as a float32 reference, even for NumPy float64 scalars (which would otherwise
    promote lr * dw to float64)."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=10).astype(np.float32)
    grads = [rng.normal(size=10).astype(np.float32) for _ in range(3)]
    lr, f32 = np.float64(0.1), np.float32
    ref_w, ref_v = w.copy(), np.zeros_like(w)
    state = {}
    for g in grads:
        w, state = sgd_update(w, g, state, lr, np.float64(momentum), nesterov)
        step = f32(lr) * g
        if momentum:
            ref_v = f32(momentum) * ref_v - step
            ref_w = ref_w + (f32(momentum) * ref_v - step if nesterov else ref_v)
        else:
            ref_w = ref_w - step
        assert w.dtype == np.float32
        assert w.tobytes() == ref_w.tobytes()
    if momentum:
        assert state["v"].dtype == np.float32


# --- learning_rate -----------------------------------------------------------------------------


def test_constant_schedule_is_eta_at_every_step_and_epoch():
    s = {"schedule": "constant", "eta": 0.03}
    assert {learning_rate(s, step, epoch) for step in (0, 7, 10_000) for epoch in (1, 5, 50)} == {0.03}
    assert type(learning_rate(s, 0, 1)) is float


@pytest.mark.parametrize("epoch", range(1, 26))
def test_step_schedule_multiplies_eta_by_the_factor_every_step_every_epochs(epoch):
    s = {"schedule": "step", "eta": 0.2, "step_factor": 0.5, "step_every": 8}
    drops = (epoch - 1) // 8  # epochs 1-8: none, 9-16: one, 17-24: two, 25: three
    assert learning_rate(s, 0, epoch) == 0.2 * 0.5**drops
    assert learning_rate(s, 12_345, epoch) == learning_rate(s, 0, epoch)  # the step plays no part


def test_cyclic_schedule_corners_are_eta_min_and_eta_max():
    s = {"schedule": "cyclic", "eta_min": 1e-5, "eta_max": 0.1, "n_s": 10}
    assert learning_rate(s, 0, 1) == 1e-5
    assert learning_rate(s, 10, 1) == pytest.approx(0.1, rel=1e-15)
    assert learning_rate(s, 20, 1) == 1e-5
    assert learning_rate(s, 30, 1) == pytest.approx(0.1, rel=1e-15)


def test_cyclic_schedule_rises_and_falls_linearly_by_hand():
    """n_s = 4, eta from 0 to 1: steps 0..8 give 0, 1/4, 1/2, 3/4, 1, 3/4, 1/2, 1/4, 0."""
    s = {"schedule": "cyclic", "eta_min": 0.0, "eta_max": 1.0, "n_s": 4}
    assert [learning_rate(s, t, 1) for t in range(9)] == [0, 0.25, 0.5, 0.75, 1, 0.75, 0.5, 0.25, 0]


def test_cyclic_schedule_has_period_two_n_s_is_symmetric_and_stays_in_its_range():
    s = {"schedule": "cyclic", "eta_min": 0.001, "eta_max": 0.05, "n_s": 7}
    rates = np.array([learning_rate(s, t, 1 + t // 5) for t in range(60)])
    np.testing.assert_allclose(rates[14:], rates[:-14], rtol=1e-14)  # period 2 n_s, any epoch
    for t in range(8):
        assert learning_rate(s, 7 - t, 1) == pytest.approx(learning_rate(s, 7 + t, 1), rel=1e-14)
    assert np.all((rates >= 0.001) & (rates <= 0.05 * (1 + 1e-15)))


def test_unknown_schedule_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'warmup'"):
        learning_rate({"schedule": "warmup"}, 0, 1)
