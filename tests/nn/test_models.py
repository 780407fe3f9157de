"""Models built from a spec: shapes, dtypes, conventions, regularisation, identities and errors."""

import numpy as np
import pytest

from cifarflow.errors import ConfigError
from cifarflow.nn import models
from cifarflow.nn.activations import sigmoid, softplus
from cifarflow.nn.models import build_model
from cifarflow.nn.registry import ALLOWED_LOSSES, DEFAULT_LOSS, MODEL_NAMES

LINEAR_AND_MLP = ["softmax", "sigmoid", "logistic", "mlp"]
SPEC_FOR = {
    "softmax": {"model": "softmax"},
    "sigmoid": {"model": "sigmoid"},
    "logistic": {"model": "logistic"},
    "mlp": {"model": "mlp", "hidden": [6, 5], "activation": "relu"},
}


def classes_for(name):
    return 2 if name == "logistic" else 4


def build(spec, input_shape=(2, 2, 3), n_classes=None, seed=0, dtype=np.float32):
    n_classes = classes_for(spec["model"]) if n_classes is None else n_classes
    return build_model(spec, input_shape, n_classes, np.random.default_rng(seed), dtype)


def data(model, n=5, seed=1, dtype=np.float32):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, model.n_features)).astype(dtype)
    return x, rng.integers(0, model.n_classes, size=n)


# --- construction ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_weights_are_k_out_by_d_in_and_biases_start_at_zero(name):
    model = build(SPEC_FOR[name])
    sizes = [12, 6, 5, 4] if name == "mlp" else [12, 1 if name == "logistic" else 4]
    for i, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        assert model.params[f"W{i}"].shape == (d_out, d_in)
        np.testing.assert_array_equal(model.params[f"b{i}"], np.zeros(d_out))
    assert list(model.params) == [f"{p}{i}" for i in range(1, len(sizes)) for p in "Wb"]
    assert model.weight_keys == tuple(f"W{i}" for i in range(1, len(sizes)))


@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_default_loss_and_output_follow_the_model(name):
    model = build({"model": name})
    assert model.name == name
    assert model.loss_name == DEFAULT_LOSS[name]
    assert model.output == ("softmax" if name in ("softmax", "mlp") else "sigmoid")


@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_every_allowed_loss_builds(name):
    for loss in ALLOWED_LOSSES[name]:
        assert build({"model": name, "loss": loss}).loss_name == loss


def test_logistic_has_one_output_unit_but_two_classes():
    model = build({"model": "logistic"})
    assert model.params["W1"].shape == (1, 12)
    assert model.n_classes == 2


def test_mlp_defaults_are_one_hidden_layer_of_100_relu_with_he_init():
    model = build({"model": "mlp"})
    assert model.params["W1"].shape == (100, 12)
    assert model.activation == "relu"
    assert model.spec["init"] == "he"


def test_mlp_accepts_a_single_int_as_hidden():
    assert build({"model": "mlp", "hidden": 7}).params["W1"].shape == (7, 12)


def test_unknown_and_null_spec_keys_are_ignored_or_defaulted():
    spec = {"model": "softmax", "loss": None, "lr": 0.1, "epochs": 3, "hidden": [50]}
    model = build(spec)
    assert model.loss_name == "cross_entropy"
    assert list(model.params) == ["W1", "b1"]


def test_n_params_counts_every_scalar():
    model = build(SPEC_FOR["mlp"])
    assert model.n_params == 12 * 6 + 6 + 6 * 5 + 5 + 5 * 4 + 4


@pytest.mark.parametrize(
    "init, std",
    [("he", np.sqrt(2 / 400)), ("xavier", np.sqrt(1 / 400)), ("normal", 0.03)],
)
def test_init_draws_weights_with_the_documented_standard_deviation(init, std):
    spec = {"model": "softmax", "init": init, "init_sigma": 0.03}
    model = build(spec, input_shape=(400,), n_classes=50)
    w = model.params["W1"]
    assert abs(w.mean()) < 0.05 * std
    assert w.std() == pytest.approx(std, rel=0.03)


def test_linear_models_default_to_xavier_init():
    assert build({"model": "softmax"}).spec["init"] == "xavier"


def test_same_seed_gives_the_same_weights_in_both_dtypes():
    a = build(SPEC_FOR["mlp"], seed=3, dtype=np.float32)
    b = build(SPEC_FOR["mlp"], seed=3, dtype=np.float64)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=1e-6)


# --- forward, probabilities, predictions -----------------------------------------------------


def test_linear_scores_are_x_dot_class_template_plus_bias():
    model = build({"model": "softmax"})
    model.params["b1"][:] = [0.1, -0.2, 0.3, 0.0]
    x, _ = data(model)
    w, b = model.params["W1"], model.params["b1"]
    expected = np.stack([x @ w[k] + b[k] for k in range(4)], axis=1)
    np.testing.assert_allclose(model.scores(x), expected, rtol=1e-5)


@pytest.mark.parametrize("activation, f", [("relu", lambda a: np.maximum(a, 0)), ("softplus", softplus)])
def test_mlp_scores_follow_affine_activation_affine(activation, f):
    model = build({"model": "mlp", "hidden": [6], "activation": activation}, dtype=np.float64)
    x, _ = data(model, dtype=np.float64)
    p = model.params
    expected = f(x @ p["W1"].T + p["b1"]) @ p["W2"].T + p["b2"]
    np.testing.assert_allclose(model.scores(x), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.forward(x)[0], model.scores(x))


def test_forward_accepts_unflattened_hwc_images():
    model = build({"model": "softmax"})
    x, _ = data(model)
    np.testing.assert_array_equal(model.scores(x.reshape(5, 2, 2, 3)), model.scores(x))


def test_forward_rejects_the_wrong_number_of_features():
    with pytest.raises(ValueError, match="features"):
        build({"model": "softmax"}).scores(np.zeros((2, 5), np.float32))


@pytest.mark.parametrize("name", ["softmax", "mlp"])
def test_softmax_probabilities_are_rows_summing_to_one(name):
    model = build(SPEC_FOR[name], dtype=np.float64)
    x, _ = data(model, dtype=np.float64)
    probs = model.probabilities(x)
    assert probs.shape == (5, 4)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(x), probs.argmax(axis=1))


def test_sigmoid_model_probabilities_are_per_class_sigmoids():
    model = build({"model": "sigmoid"}, dtype=np.float64)
    x, _ = data(model, dtype=np.float64)
    np.testing.assert_allclose(model.probabilities(x), sigmoid(model.scores(x)))
    np.testing.assert_array_equal(model.predict(x), model.scores(x).argmax(axis=1))


def test_logistic_probabilities_are_one_minus_p_and_p():
    model = build({"model": "logistic"}, dtype=np.float64)
    x, _ = data(model, dtype=np.float64)
    p = sigmoid(model.scores(x)[:, 0])
    np.testing.assert_allclose(model.probabilities(x), np.stack([1 - p, p], axis=1))


def test_logistic_predicts_the_second_class_exactly_when_the_score_is_positive():
    model = build({"model": "logistic"}, dtype=np.float64)
    x, _ = data(model, n=50, dtype=np.float64)
    pred = model.predict(x)
    assert pred.dtype == np.int64
    np.testing.assert_array_equal(pred, (model.scores(x)[:, 0] > 0).astype(int))
    assert set(pred) == {0, 1}


def test_two_class_softmax_equals_logistic_with_weight_difference():
    """Sign convention: with softmax rows (w1, b1) for class 0 and (w2, b2) for class 1,
    P(class 0) = sigmoid((w1 - w2).x + b1 - b2), so the logistic model whose positive class (y = 1)
    is the second class has w = w2 - w1 and b = b2 - b1; probabilities and predictions agree."""
    soft = build({"model": "softmax"}, n_classes=2, dtype=np.float64)
    soft.params["b1"][:] = [0.3, -0.4]
    logi = build({"model": "logistic"}, dtype=np.float64)
    (w1, w2), (b1, b2) = soft.params["W1"], soft.params["b1"]
    logi.params["W1"][0] = w2 - w1
    logi.params["b1"][0] = b2 - b1
    x, _ = data(soft, n=40, dtype=np.float64)
    p0 = sigmoid(x @ (w1 - w2) + b1 - b2)
    np.testing.assert_allclose(soft.probabilities(x)[:, 0], p0, rtol=1e-12)
    np.testing.assert_allclose(logi.probabilities(x), soft.probabilities(x), rtol=1e-12)
    np.testing.assert_array_equal(logi.predict(x), soft.predict(x))


def test_two_class_cross_entropy_equals_bce_of_the_equivalent_logistic_model():
    soft = build({"model": "softmax"}, n_classes=2, dtype=np.float64)
    logi = build({"model": "logistic"}, dtype=np.float64)
    logi.params["W1"][0] = soft.params["W1"][1] - soft.params["W1"][0]
    x, y = data(soft, n=20, dtype=np.float64)
    assert logi.loss(x, y)[0] == pytest.approx(soft.loss(x, y)[0], rel=1e-12)


# --- loss, regularisation ---------------------------------------------------------------------


@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_cost_adds_lambda_times_squared_weights_but_not_biases(name):
    model = build(SPEC_FOR[name], dtype=np.float64)
    for k in model.params:
        model.params[k] += 0.1  # nonzero biases, which must not be regularised
    x, y = data(model, dtype=np.float64)
    loss0, cost0, g0 = model.loss(x, y, 0.0)
    loss, cost, g = model.loss(x, y, 0.25)
    assert loss == loss0 == cost0
    expected_norm = sum(np.sum(model.params[k] ** 2) for k in model.params if k.startswith("W"))
    assert model.weight_norm2() == pytest.approx(expected_norm, rel=1e-12)
    assert cost == pytest.approx(loss + 0.25 * expected_norm, rel=1e-12)
    for k in model.params:
        extra = 2 * 0.25 * model.params[k] if k.startswith("W") else 0
        np.testing.assert_allclose(g[k], g0[k] + extra, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_backward_returns_gradients_with_the_params_keys_and_shapes(name):
    model = build(SPEC_FOR[name])
    x, y = data(model)
    scores, cache = model.forward(x)
    grads = model.backward(np.ones_like(scores), cache)
    assert grads.keys() == model.params.keys()
    for k in grads:
        assert grads[k].shape == model.params[k].shape


# --- dtypes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", LINEAR_AND_MLP)
def test_model_keeps_its_dtype_through_forward_loss_and_gradients(name, dtype):
    spec = dict(SPEC_FOR[name])
    for loss in ALLOWED_LOSSES[name]:
        spec["loss"] = loss
        model = build(spec, dtype=dtype)
        x, y = data(model, dtype=dtype)
        assert all(p.dtype == dtype for p in model.params.values())
        assert model.forward(x)[0].dtype == dtype
        assert model.scores(x).dtype == dtype
        assert model.probabilities(x).dtype == dtype
        loss_value, cost, grads = model.loss(x, y, np.float64(0.1))  # a NumPy float64 lambda too
        assert isinstance(loss_value, float) and isinstance(cost, float)
        assert all(g.dtype == dtype for g in grads.values()), loss


def test_float32_model_casts_float64_inputs_to_float32():
    model = build({"model": "softmax"})
    x, _ = data(model, dtype=np.float64)
    assert model.scores(x).dtype == np.float32


def test_float32_mlp_stays_finite_for_huge_inputs():
    model = build({"model": "mlp", "hidden": [8], "activation": "softplus", "loss": "mse"})
    x = np.full((3, 12), 1e4, dtype=np.float32)
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        loss, cost, grads = model.loss(x, np.array([0, 1, 2]), 0.1)
    assert np.isfinite(cost)
    assert all(np.all(np.isfinite(g)) for g in grads.values())


# --- convnet dispatch -------------------------------------------------------------------------


def test_convnet_is_built_by_build_convnet_with_the_checked_arguments(monkeypatch):
    calls = []
    monkeypatch.setattr(models, "build_convnet", lambda *args: calls.append(args) or "convnet-model")
    rng = np.random.default_rng(0)
    spec = {"model": "convnet"}
    assert build_model(spec, (32, 32, 3), 10, rng, np.float64) == "convnet-model"
    assert calls == [(spec, (32, 32, 3), 10, rng, np.dtype(np.float64))]


def test_convnet_loss_is_checked_before_dispatch():
    with pytest.raises(ConfigError, match="loss 'bce'"):
        build({"model": "convnet", "loss": "bce"})


# --- errors ------------------------------------------------------------------------------------


def test_model_names_cover_the_documented_set():
    assert MODEL_NAMES == ("softmax", "sigmoid", "logistic", "mlp", "convnet")


def test_unknown_model_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match="model 'resnet'"):
        build_model({"model": "resnet"}, (12,), 4, np.random.default_rng(0))


def test_missing_model_key_is_a_config_error():
    with pytest.raises(ConfigError, match="model None"):
        build_model({"loss": "mse"}, (12,), 4, np.random.default_rng(0))


@pytest.mark.parametrize(
    "name, loss", [("softmax", "multi_bce"), ("sigmoid", "cross_entropy"), ("logistic", "multi_bce"), ("mlp", "bce")]
)
def test_loss_not_allowed_for_the_model_is_a_config_error(name, loss):
    with pytest.raises(ConfigError, match=rf"loss '{loss}' is not allowed for model '{name}'"):
        build({"model": name, "loss": loss})


@pytest.mark.parametrize("n_classes", [3, 10])
def test_logistic_with_other_than_two_classes_is_a_config_error(n_classes):
    with pytest.raises(ConfigError, match=rf"n_classes {n_classes}.*'logistic'"):
        build({"model": "logistic"}, n_classes=n_classes)


@pytest.mark.parametrize(
    "key, value",
    [
        ("hidden", []),
        ("hidden", [10, 0]),
        ("hidden", "100"),
        ("activation", "tanh"),
        ("init", "orthogonal"),
        ("init_sigma", -0.1),
        ("init_sigma", "small"),
    ],
)
def test_bad_mlp_option_is_a_config_error_naming_key_and_value(key, value):
    with pytest.raises(ConfigError, match=rf"^{key} {value!r}".replace("[", r"\[")):
        build({"model": "mlp", key: value})
