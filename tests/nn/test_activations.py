"""Activations: the write-ups' identities, stability for huge logits, dtype preservation."""

import contextlib
import warnings

import numpy as np
import pytest

from cifarflow.nn.activations import log_sigmoid, log_softmax, sigmoid, softmax, softplus

ELEMENTWISE = [sigmoid, softplus, log_sigmoid]
ROWWISE = [softmax, log_softmax]


@contextlib.contextmanager
def strict_numpy():
    """Any warning is an error, and so are overflow, divide-by-zero and invalid operations.

    Underflow stays ignored (NumPy's default): exp(-1e4) rounding to 0 is the correct result.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(scale=3.0, size=(7, 5))


def test_sigmoid_matches_its_definition(x):
    np.testing.assert_allclose(sigmoid(x), 1 / (1 + np.exp(-x)), rtol=1e-14)


def test_sigmoid_derivative_is_sigma_times_one_minus_sigma(x):
    h = 1e-6
    numerical = (sigmoid(x + h) - sigmoid(x - h)) / (2 * h)
    s = sigmoid(x)
    np.testing.assert_allclose(s * (1 - s), numerical, rtol=1e-7, atol=1e-12)


def test_softplus_derivative_is_sigmoid(x):
    h = 1e-6
    numerical = (softplus(x + h) - softplus(x - h)) / (2 * h)
    np.testing.assert_allclose(sigmoid(x), numerical, rtol=1e-7, atol=1e-12)


def test_log_sigmoid_equals_minus_softplus_of_minus_x(x):
    np.testing.assert_allclose(log_sigmoid(x), np.log(sigmoid(x)), rtol=1e-12)
    np.testing.assert_array_equal(log_sigmoid(x), -softplus(-x))


def test_softplus_of_x_minus_softplus_of_minus_x_is_x(x):
    np.testing.assert_allclose(softplus(x) - softplus(-x), x, rtol=1e-12, atol=1e-12)


def test_softplus_matches_log_one_plus_exp(x):
    np.testing.assert_allclose(softplus(x), np.log1p(np.exp(x)), rtol=1e-12)


@pytest.mark.parametrize("c", [-1e3, -2.5, 0.0, 7.0, 1e3])
def test_softmax_is_invariant_to_adding_a_constant(x, c):
    np.testing.assert_allclose(softmax(x + c), softmax(x), rtol=1e-10, atol=1e-15)


def test_softmax_rows_sum_to_one(x):
    np.testing.assert_allclose(softmax(x).sum(axis=1), 1.0, rtol=1e-12)


def test_log_softmax_is_log_of_softmax(x):
    np.testing.assert_allclose(log_softmax(x), np.log(softmax(x)), rtol=1e-12, atol=1e-12)


def test_softmax_jacobian_is_diag_s_minus_s_outer_s():
    """ds_i/dx_j = s_i (delta_ij - s_j), i.e. J = diag(s) - s s^T, against centred differences."""
    z = np.random.default_rng(1).normal(size=6)
    h = 1e-6
    numerical = np.empty((6, 6))
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        numerical[:, j] = (softmax(z + e) - softmax(z - e)) / (2 * h)
    s = softmax(z)
    np.testing.assert_allclose(np.diag(s) - np.outer(s, s), numerical, atol=1e-9)


def test_sigmoid_of_kx_tends_to_heaviside_step_for_large_k():
    """sigmoid(k x) -> H(x) as k -> inf (H(0) = 1/2); the gap shrinks like exp(-k |x|)."""
    x = np.array([-1.0, -0.1, -0.01, 0.0, 0.01, 0.1, 1.0])
    heaviside = np.heaviside(x, 0.5)
    gaps = [np.max(np.abs(sigmoid(k * x) - heaviside)) for k in (1e1, 1e2, 1e3, 1e4)]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    np.testing.assert_allclose(sigmoid(1e4 * x), heaviside, atol=1e-40)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_is_exact_at_huge_logits(dtype):
    z = np.array([-1e4, 1e4], dtype=dtype)
    with strict_numpy():
        np.testing.assert_array_equal(sigmoid(z), [0.0, 1.0])
        np.testing.assert_array_equal(log_sigmoid(z), [-1e4, 0.0])
        np.testing.assert_array_equal(softplus(z), [0.0, 1e4])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", ELEMENTWISE + ROWWISE, ids=lambda f: f.__name__)
def test_activation_is_finite_and_silent_for_logits_of_1e4(f, dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, 1e4]], dtype=dtype)
    with strict_numpy():
        out = f(z)
    assert np.all(np.isfinite(out))


def test_softmax_of_huge_logits_is_one_hot_and_log_softmax_is_exact():
    z = np.array([[1e4, -1e4, 0.0]])
    with strict_numpy():
        np.testing.assert_array_equal(softmax(z), [[1.0, 0.0, 0.0]])
        np.testing.assert_array_equal(log_softmax(z), [[0.0, -2e4, -1e4]])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("f", ELEMENTWISE + ROWWISE, ids=lambda f: f.__name__)
def test_activation_preserves_dtype_and_shape(f, dtype):
    z = np.random.default_rng(2).normal(size=(4, 3)).astype(dtype)
    out = f(z)
    assert out.dtype == dtype
    assert out.shape == z.shape
