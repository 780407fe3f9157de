"""The model base class and the builders' shared helpers (cifarflow.nn.base): what a subclass
gets from the base, the L2 term, the two ways weight_norm2 sums, initialisation and spec values."""

import math

import numpy as np
import pytest

from cifarflow.errors import ConfigError
from cifarflow.nn.base import (
    Model,
    init_settings,
    init_weight,
    predict_from_scores,
    probabilities_from_scores,
    spec_value,
)
from cifarflow.nn.convnet import ConvNet
from cifarflow.nn.gradcheck import check_model_gradients
from cifarflow.nn.layers import affine_backward, affine_forward
from cifarflow.nn.losses import cross_entropy
from cifarflow.nn.models import MLP, build_model


class Linear(Model):
    """The smallest model: one affine layer, softmax output; only what a subclass must write."""

    name = "softmax"
    output = "softmax"
    loss_name = "cross_entropy"

    def __init__(self, w, b):
        self.params = {"W1": w, "b1": b}
        self.weight_keys = ("W1",)
        self.n_classes = w.shape[0]

    def forward(self, x):
        return affine_forward(x, self.params["W1"], self.params["b1"])

    def backward(self, dscores, cache):
        _, dw, db = affine_backward(dscores, cache)
        return {"W1": dw, "b1": db}

    def scores(self, x):
        return self.forward(x)[0]


def linear(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return Linear(rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=3).astype(dtype))


def batch(seed=1, n=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)), rng.integers(0, 3, size=n)


# --- the base class ----------------------------------------------------------------------------


def test_a_model_must_implement_forward_backward_and_scores():
    class Incomplete(Model):
        def forward(self, x):
            return x, None

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


def test_the_mlp_family_and_the_convnet_derive_from_the_base():
    assert issubclass(MLP, Model) and issubclass(ConvNet, Model)


def test_a_subclass_gets_n_params_dtype_predict_and_probabilities():
    model = linear(dtype=np.float32)
    x, _ = batch()
    assert model.n_params == 15 and model.dtype == np.float32
    s = model.scores(x.astype(np.float32))
    np.testing.assert_array_equal(model.predict(x.astype(np.float32)), np.argmax(s, axis=1))
    np.testing.assert_allclose(model.probabilities(x.astype(np.float32)).sum(axis=1), 1, rtol=1e-6)


def test_loss_is_the_mean_loss_and_cost_adds_lambda_times_squared_weights_not_biases():
    model = linear()
    x, y = batch()
    s = model.scores(x)
    by_hand = np.mean(np.log(np.sum(np.exp(s), axis=1)) - s[np.arange(5), y])
    loss, cost, _ = model.loss(x, y, 0.25)
    assert loss == pytest.approx(by_hand, rel=1e-12)
    assert cost == pytest.approx(by_hand + 0.25 * np.sum(model.params["W1"] ** 2), rel=1e-12)


@pytest.mark.parametrize("lam", [0.0, 0.5])
def test_loss_gradients_of_a_subclass_match_centred_differences(lam):
    model = linear(seed=2)
    x, y = batch(seed=3)
    errors = check_model_gradients(model, x, y, lam)
    assert max(errors.values()) < 1e-7, errors


def test_loss_without_lambda_leaves_cost_equal_to_loss_and_gradients_unregularised():
    model = linear()
    x, y = batch()
    loss, cost, grads = model.loss(x, y, 0)
    assert cost == loss
    _, dw, db = affine_backward(*_dscores_and_cache(model, x, y))
    np.testing.assert_array_equal(grads["W1"], dw)
    np.testing.assert_array_equal(grads["b1"], db)


def _dscores_and_cache(model, x, y):
    scores, cache = model.forward(x)
    return cross_entropy(scores, y)[1], cache


def test_float32_loss_keeps_float32_gradients_for_a_float_lambda():
    model = linear(dtype=np.float32)
    x, y = batch()
    _, _, grads = model.loss(x.astype(np.float32), y, np.float64(0.1))
    assert all(g.dtype == np.float32 for g in grads.values())


# --- weight_norm2 ------------------------------------------------------------------------------


def test_weight_norm2_sums_in_the_parameters_dtype_with_vdot_by_default():
    model = linear(seed=4, dtype=np.float32)
    w = model.params["W1"]
    assert model.weight_norm2() == float(np.vdot(w, w))


def test_weight_norm2_accumulates_in_norm2_dtype_when_set():
    model = linear(seed=4, dtype=np.float32)
    model.norm2_dtype = np.float64
    w = model.params["W1"]
    assert model.weight_norm2() == float(np.sum(w**2, dtype=np.float64))


def test_the_convnet_sums_squared_weights_in_float64_and_the_mlp_family_in_its_dtype():
    """The two families' reported numbers (cost, weight_norm2) rest on these; both are close to
    the exact sum."""
    rng = np.random.default_rng(0)
    mlp = build_model({"model": "mlp", "hidden": [30]}, (6, 6, 3), 10, rng)
    conv = build_model({"model": "convnet", "preset": "small"}, (8, 8, 3), 10, rng)
    assert MLP.norm2_dtype is None and ConvNet.norm2_dtype is np.float64
    for model in (mlp, conv):
        exact = math.fsum(float(v) ** 2 for k in model.weight_keys for v in model.params[k].ravel())
        assert model.weight_norm2() == pytest.approx(exact, rel=1e-6)


def test_weight_norm2_leaves_out_the_biases():
    model = linear()
    model.params["b1"][:] = 100.0
    assert model.weight_norm2() == pytest.approx(np.sum(model.params["W1"] ** 2), rel=1e-14)


# --- predictions from scores -------------------------------------------------------------------


def test_one_output_unit_predicts_class_1_only_for_a_positive_score():
    s = np.array([[-1.0], [0.0], [1e-30], [3.0]])
    np.testing.assert_array_equal(predict_from_scores(s), [0, 0, 1, 1])
    assert predict_from_scores(s).dtype == np.int64


def test_several_output_units_predict_the_argmax_and_the_first_of_a_tie():
    s = np.array([[0.0, 2.0, 1.0], [5.0, 5.0, -1.0]])
    np.testing.assert_array_equal(predict_from_scores(s), [1, 0])


def test_one_sigmoid_output_gives_the_probabilities_of_both_classes():
    p = probabilities_from_scores(np.array([[0.0], [2.0]]), "sigmoid")
    np.testing.assert_allclose(p, [[0.5, 0.5], [1 / (1 + np.exp(2.0)), 1 / (1 + np.exp(-2.0))]], rtol=1e-14)


def test_softmax_and_per_class_sigmoid_probabilities():
    s = np.array([[1.0, 2.0, 3.0]])
    np.testing.assert_allclose(probabilities_from_scores(s, "softmax"), np.exp(s) / np.exp(s).sum(), rtol=1e-14)
    np.testing.assert_allclose(probabilities_from_scores(s, "sigmoid"), 1 / (1 + np.exp(-s)), rtol=1e-14)


# --- initialisation and spec values ------------------------------------------------------------


@pytest.mark.parametrize("shape", [(200, 50), (64, 3, 3, 8)])
@pytest.mark.parametrize("init, std", [("he", lambda f: math.sqrt(2 / f)), ("xavier", lambda f: math.sqrt(1 / f))])
def test_init_weight_scales_by_fan_in_the_product_of_all_but_the_first_dimension(shape, init, std):
    w = init_weight(np.random.default_rng(0), shape, init, 0.01, np.float64)
    fan_in = math.prod(shape[1:])  # D for an fc layer, k * k * C for a conv
    assert w.shape == shape
    assert w.std() == pytest.approx(std(fan_in), rel=0.05)


def test_init_weight_normal_uses_init_sigma_and_draws_the_same_numbers_in_both_dtypes():
    w64 = init_weight(np.random.default_rng(1), (100, 40), "normal", 0.5, np.float64)
    w32 = init_weight(np.random.default_rng(1), (100, 40), "normal", 0.5, np.float32)
    assert w64.std() == pytest.approx(0.5, rel=0.05)
    assert w32.dtype == np.float32
    np.testing.assert_array_equal(w32, w64.astype(np.float32))


def test_init_settings_defaults_and_nulls():
    assert init_settings({}, "he") == ("he", 0.01)
    assert init_settings({"init": None, "init_sigma": None}, "xavier") == ("xavier", 0.01)
    assert init_settings({"init": "normal", "init_sigma": 1}, "he") == ("normal", 1.0)


@pytest.mark.parametrize(
    "spec, match",
    [
        ({"init": "orthogonal"}, "init 'orthogonal' is not supported"),
        ({"init_sigma": 0}, "init_sigma 0 is not a positive number"),
        ({"init_sigma": -0.1}, "init_sigma -0.1"),
        ({"init_sigma": float("inf")}, "init_sigma inf"),
        ({"init_sigma": float("nan")}, "init_sigma nan"),
        ({"init_sigma": True}, "init_sigma True"),
        ({"init_sigma": "0.1"}, "init_sigma '0.1'"),
    ],
)
def test_init_settings_rejects_bad_values_in_one_sentence(spec, match):
    with pytest.raises(ConfigError, match=match):
        init_settings(spec, "he")


def test_spec_value_treats_only_missing_and_none_as_the_default():
    spec = {"a": None, "b": 0, "c": False, "d": []}
    assert spec_value(spec, "a", 7) == 7 and spec_value(spec, "missing", 7) == 7
    assert spec_value(spec, "b", 7) == 0 and spec_value(spec, "c", 7) is False and spec_value(spec, "d", 7) == []
