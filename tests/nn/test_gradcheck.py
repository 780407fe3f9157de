"""Gradient checks: the checker itself, and every model x loss x lambda in float64 (the layers'
own checks are in test_layers.py).

Shapes are drawn from the seed (N in [2, 6], D in [2, 8], K in [2, 5], one or two hidden layers of
2 to 6 units), so each seed is a different small problem. Biases are set to random values so that
no ReLU pre-activation sits exactly at the kink (with zero biases, a sample whose hidden units are
all off gives pre-activations of exactly 0 in the next layer); each ReLU case also asserts a margin
that the perturbation h cannot cross. The bound 1e-6 on the elementwise relative error is above
the centred-difference noise floor (about 1e-11 absolute in float64) for gradient entries down to
about 1e-5.
"""

import numpy as np
import pytest

from cifarflow.nn.gradcheck import check_model_gradients, numerical_gradient, rel_error
from cifarflow.nn.models import build_model

SEEDS = range(4)
H = 1e-5
CASES = [
    ("softmax", "cross_entropy", None),
    ("softmax", "mse", None),
    ("sigmoid", "multi_bce", None),
    ("sigmoid", "mse", None),
    ("logistic", "bce", None),
    ("logistic", "mse", None),
    ("mlp", "cross_entropy", "relu"),
    ("mlp", "mse", "relu"),
    ("mlp", "cross_entropy", "softplus"),
    ("mlp", "mse", "softplus"),
]


# --- the checker -------------------------------------------------------------------------------


def test_numerical_gradient_of_a_quadratic_matches_the_analytic_gradient():
    a = np.random.default_rng(0).normal(size=(3, 4))
    x = np.random.default_rng(1).normal(size=(3, 4))
    num = numerical_gradient(lambda z: np.sum(a * z**2), x)
    np.testing.assert_allclose(num, 2 * a * x, rtol=1e-8)


def test_numerical_gradient_restores_x_after_perturbing_it_in_place():
    x = np.random.default_rng(2).normal(size=(2, 3))
    before = x.copy()
    seen = []
    numerical_gradient(lambda z: seen.append(z is x) or np.sum(z), x)
    assert all(seen)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_restores_x_when_f_raises():
    x = np.ones(3)

    def f(z):
        if z[0] != 1:
            raise RuntimeError("boom")
        return 0.0

    with pytest.raises(RuntimeError):
        numerical_gradient(f, x)
    np.testing.assert_array_equal(x, np.ones(3))


def test_rel_error_is_the_largest_elementwise_relative_difference():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(np.array([1.0, 3.0]), np.array([1.0, 1.0])) == pytest.approx(0.5)
    assert rel_error(np.array([1.0]), np.array([-1.0])) == 1.0


def test_rel_error_of_two_zeros_is_zero_thanks_to_eps():
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(np.array([1e-13]), np.array([0.0]), eps=1e-12) == pytest.approx(0.1)


# --- models ------------------------------------------------------------------------------------


def _model_problem(model_name, loss, activation, seed):
    """A float64 model with random biases and a batch, all drawn from the seed."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 7))
    d = int(rng.integers(2, 9))
    k = 2 if model_name == "logistic" else int(rng.integers(2, 6))
    hidden = [int(h) for h in rng.integers(2, 7, size=int(rng.integers(1, 3)))]
    spec = {"model": model_name, "loss": loss, "hidden": hidden, "activation": activation}
    model = build_model(spec, (d,), k, rng, np.float64)
    for name, p in model.params.items():
        if name.startswith("b"):
            p[...] = rng.uniform(-0.5, 0.5, size=p.shape)
    x = rng.normal(size=(n, d))
    y = rng.integers(0, k, size=n)
    return model, x, y


def _relu_margin(model, x):
    """Smallest |pre-activation| over the hidden layers of an MLP (inf for linear models)."""
    margin = np.inf
    h = x
    for i in range(1, len(model.weight_keys)):
        a = h @ model.params[f"W{i}"].T + model.params[f"b{i}"]
        margin = min(margin, float(np.min(np.abs(a))))
        h = np.maximum(a, 0)
    return margin


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam", [0.0, 0.3])
@pytest.mark.parametrize(
    "model_name, loss, activation", CASES, ids=[f"{m}-{loss}-{a or 'linear'}" for m, loss, a in CASES]
)
def test_model_gradients_match_centred_differences(model_name, loss, activation, lam, seed):
    model, x, y = _model_problem(model_name, loss, activation, seed)
    if activation == "relu":
        # h moves a pre-activation by at most about h * (sum |inputs| + 1) per layer: far below.
        assert _relu_margin(model, x) > 1e-3
    errors = check_model_gradients(model, x, y, lam, h=H)
    assert errors.keys() == model.params.keys()
    assert max(errors.values()) < 1e-6, errors


def test_check_model_gradients_leaves_the_parameters_unchanged():
    model, x, y = _model_problem("mlp", "cross_entropy", "softplus", 0)
    before = {k: v.copy() for k, v in model.params.items()}
    check_model_gradients(model, x, y, 0.1)
    for k in before:
        np.testing.assert_array_equal(model.params[k], before[k])


def test_check_model_gradients_detects_a_wrong_gradient():
    """A backward pass that forgets the bias gradient is caught, and only for that parameter."""
    model, x, y = _model_problem("softmax", "cross_entropy", None, 1)
    right_backward = model.backward

    def wrong_backward(dscores, cache):
        grads = right_backward(dscores, cache)
        grads["b1"] = np.zeros_like(grads["b1"])
        return grads

    model.backward = wrong_backward
    errors = check_model_gradients(model, x, y, 0.0)
    assert errors["W1"] < 1e-6
    assert errors["b1"] == 1.0


def test_check_model_gradients_detects_a_missing_regularisation_term():
    model, x, y = _model_problem("sigmoid", "multi_bce", None, 2)
    _, _, grads0 = model.loss(x, y, 0.0)
    original_loss = model.loss

    def loss_without_reg_gradient(x_, y_, lam=0.0):
        loss, cost, _ = original_loss(x_, y_, lam)
        return loss, cost, grads0

    model.loss = loss_without_reg_gradient
    assert check_model_gradients(model, x, y, 0.5)["W1"] > 1e-3
