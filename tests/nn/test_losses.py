"""Losses: values against their definitions, the closed-form gradients, stability and dtypes."""

import contextlib
import warnings

import numpy as np
import pytest

from cifarflow.errors import ConfigError
from cifarflow.nn.activations import sigmoid, softmax
from cifarflow.nn.gradcheck import numerical_gradient, rel_error
from cifarflow.nn.losses import bce, cross_entropy, get_loss, mse_sigmoid, mse_softmax, multi_bce

MULTICLASS = [cross_entropy, multi_bce, mse_softmax, mse_sigmoid]
ALL_LOSSES = MULTICLASS + [bce]


@contextlib.contextmanager
def strict_numpy():
    """Warnings, overflow, divide-by-zero and invalid operations are errors (underflow to 0 is
    the correct result and stays ignored, as NumPy's default)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def onehot(y, k):
    return np.eye(k)[y]


def problem(seed, loss):
    """Random scores (N, K) and labels; K = 1 with y in {0, 1} for bce."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    k = 1 if loss is bce else int(rng.integers(2, 7))
    scores = rng.normal(scale=2.0, size=(n, k))
    y = rng.integers(0, 2 if k == 1 else k, size=n)
    return scores, y


def test_cross_entropy_matches_minus_mean_log_softmax():
    s, y = problem(0, cross_entropy)
    loss, _ = cross_entropy(s, y)
    assert loss == pytest.approx(-np.mean(np.log(softmax(s)[np.arange(len(y)), y])), rel=1e-12)


def test_cross_entropy_gradient_is_p_minus_onehot_over_n():
    s, y = problem(1, cross_entropy)
    _, ds = cross_entropy(s, y)
    np.testing.assert_allclose(ds, (softmax(s) - onehot(y, s.shape[1])) / len(y), atol=1e-15)


def test_multi_bce_matches_its_definition_with_one_over_k():
    s, y = problem(2, multi_bce)
    t, p = onehot(y, s.shape[1]), sigmoid(s)
    per_sample = -np.mean((1 - t) * np.log(1 - p) + t * np.log(p), axis=1)
    assert multi_bce(s, y)[0] == pytest.approx(per_sample.mean(), rel=1e-12)


def test_multi_bce_gradient_is_minus_y_minus_p_over_k_n():
    s, y = problem(3, multi_bce)
    n, k = s.shape
    _, ds = multi_bce(s, y)
    np.testing.assert_allclose(ds, -(onehot(y, k) - sigmoid(s)) / (k * n), atol=1e-15)


def test_bce_matches_its_definition():
    s, y = problem(4, bce)
    p = sigmoid(s[:, 0])
    expected = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert bce(s, y)[0] == pytest.approx(expected, rel=1e-12)


def test_bce_gradient_is_p_minus_y_over_n():
    s, y = problem(5, bce)
    _, ds = bce(s, y)
    assert ds.shape == s.shape
    np.testing.assert_allclose(ds[:, 0], (sigmoid(s[:, 0]) - y) / len(y), atol=1e-15)


def test_bce_on_one_unit_equals_two_class_cross_entropy_on_scores_0_and_s():
    s, y = problem(6, bce)
    two_class = np.concatenate([np.zeros_like(s), s], axis=1)
    assert bce(s, y)[0] == pytest.approx(cross_entropy(two_class, y)[0], rel=1e-12)


@pytest.mark.parametrize("k", [1, 4])
def test_mse_sigmoid_gradient_is_2_p_minus_y_p_one_minus_p_over_n(k):
    rng = np.random.default_rng(7)
    s = rng.normal(size=(5, k))
    y = rng.integers(0, 2 if k == 1 else k, size=5)
    t = y[:, None].astype(float) if k == 1 else onehot(y, k)
    p = sigmoid(s)
    loss, ds = mse_sigmoid(s, y)
    assert loss == pytest.approx(np.mean(np.sum((p - t) ** 2, axis=1)), rel=1e-12)
    np.testing.assert_allclose(ds, 2 * (p - t) * p * (1 - p) / 5, atol=1e-15)


def test_mse_softmax_gradient_equals_explicit_jacobian_product():
    s, y = problem(8, mse_softmax)
    n, k = s.shape
    p = softmax(s)
    loss, ds = mse_softmax(s, y)
    assert loss == pytest.approx(np.mean(np.sum((p - onehot(y, k)) ** 2, axis=1)), rel=1e-12)
    g = 2 * (p - onehot(y, k)) / n
    expected = np.stack([(np.diag(p[i]) - np.outer(p[i], p[i])) @ g[i] for i in range(n)])
    np.testing.assert_allclose(ds, expected, atol=1e-15)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda f: f.__name__)
def test_loss_gradient_matches_centred_differences(loss, seed):
    s, y = problem(10 + seed, loss)
    _, ds = loss(s, y)
    numerical = numerical_gradient(lambda z: loss(z, y)[0], s)
    assert rel_error(ds, numerical) < 1e-6


@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda f: f.__name__)
def test_loss_is_the_mean_over_the_batch(loss):
    s, y = problem(20, loss)
    per_sample = [loss(s[i : i + 1], y[i : i + 1])[0] for i in range(len(y))]
    assert loss(s, y)[0] == pytest.approx(np.mean(per_sample), rel=1e-12)
    doubled = loss(np.concatenate([s, s]), np.concatenate([y, y]))[0]
    assert doubled == pytest.approx(loss(s, y)[0], rel=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", MULTICLASS, ids=lambda f: f.__name__)
def test_multiclass_loss_is_finite_and_silent_for_logits_of_1e4(loss, dtype):
    s = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([0, 2, 1])
    with strict_numpy():
        value, ds = loss(s, y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(ds))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", [bce, mse_sigmoid], ids=lambda f: f.__name__)
def test_binary_loss_is_finite_and_silent_for_logits_of_1e4(loss, dtype):
    s = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype=dtype)
    y = np.array([1, 0, 0, 1])
    with strict_numpy():
        value, ds = loss(s, y)
    assert np.isfinite(value)
    assert np.all(np.isfinite(ds))


def test_cross_entropy_of_huge_logits_is_exact():
    s = np.array([[1e4, -1e4], [1e4, -1e4]])
    loss, ds = cross_entropy(s, np.array([0, 1]))
    assert loss == pytest.approx(1e4)  # (0 + 2e4) / 2
    np.testing.assert_allclose(ds, [[0.0, 0.0], [0.5, -0.5]])


def test_bce_of_huge_logits_is_exact():
    s = np.array([[1e4], [-1e4]])
    assert bce(s, np.array([1, 1]))[0] == pytest.approx(5e3)  # (0 + 1e4) / 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss", ALL_LOSSES, ids=lambda f: f.__name__)
def test_loss_gradient_keeps_the_scores_dtype(loss, dtype):
    s, y = problem(30, loss)
    value, ds = loss(s.astype(dtype), y)
    assert isinstance(value, float)
    assert ds.dtype == dtype
    assert ds.shape == s.shape


@pytest.mark.parametrize(
    "name, output, expected",
    [
        ("cross_entropy", "softmax", cross_entropy),
        ("mse", "softmax", mse_softmax),
        ("multi_bce", "sigmoid", multi_bce),
        ("bce", "sigmoid", bce),
        ("mse", "sigmoid", mse_sigmoid),
    ],
)
def test_get_loss_returns_the_matching_function(name, output, expected):
    assert get_loss(name, output) is expected


@pytest.mark.parametrize("name, output", [("cross_entropy", "sigmoid"), ("multi_bce", "softmax"), ("bce", "softmax")])
def test_get_loss_rejects_a_loss_that_does_not_fit_the_output(name, output):
    with pytest.raises(ConfigError, match=rf"loss '{name}'.*{output}"):
        get_loss(name, output)


def test_get_loss_rejects_an_unknown_loss():
    with pytest.raises(ConfigError, match="loss 'hinge'"):
        get_loss("hinge", "softmax")


def test_get_loss_rejects_an_unknown_output():
    with pytest.raises(ConfigError, match="output 'tanh'"):
        get_loss("mse", "tanh")


def test_bce_rejects_labels_other_than_0_and_1():
    with pytest.raises(ValueError, match="0 or 1"):
        bce(np.zeros((2, 1)), np.array([0, 2]))


def test_loss_rejects_labels_of_the_wrong_length():
    with pytest.raises(ValueError, match="y must have shape"):
        cross_entropy(np.zeros((3, 2)), np.array([0, 1]))
