"""Layers (cifarflow.nn.layers): forward values against their definitions, backward passes against
centred differences in float64, shapes, caches, dtypes and stability.

Shapes are drawn from the seed (N, D, M in [2, 6]), so each seed is a different small problem.
"""

import contextlib
import warnings

import numpy as np
import pytest

from cifarflow.nn.gradcheck import numerical_gradient, rel_error
from cifarflow.nn.layers import (
    ACTIVATIONS,
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    softplus_backward,
    softplus_forward,
)

SEEDS = range(4)
ACTIVATION_PAIRS = [(relu_forward, relu_backward), (softplus_forward, softplus_backward)]


@contextlib.contextmanager
def strict_numpy():
    """Warnings, overflow, divide-by-zero and invalid operations are errors (underflow to 0 stays
    ignored: it is the correctly rounded result)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def _affine_problem(seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    n, d, m = (int(v) for v in rng.integers(2, 7, size=3))
    x, w, b = rng.normal(size=(n, d)), rng.normal(size=(m, d)), rng.normal(size=m)
    return rng, x.astype(dtype), w.astype(dtype), b.astype(dtype)


# --- affine --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_forward_is_x_times_w_transposed_plus_b(seed):
    _, x, w, b = _affine_problem(seed)
    out, _ = affine_forward(x, w, b)
    n, m = x.shape[0], w.shape[0]
    by_hand = np.array([[sum(x[i, j] * w[k, j] for j in range(x.shape[1])) + b[k] for k in range(m)] for i in range(n)])
    assert out.shape == (n, m)
    np.testing.assert_allclose(out, by_hand, rtol=1e-12, atol=1e-12)


def test_affine_rows_of_w_are_output_units():
    """w: (M, D) holds one row per output unit: a one-hot input picks column j of w."""
    w = np.arange(6.0).reshape(3, 2)  # 3 output units, 2 features
    out, _ = affine_forward(np.array([[1.0, 0.0], [0.0, 1.0]]), w, np.zeros(3))
    np.testing.assert_array_equal(out, [[0.0, 2.0, 4.0], [1.0, 3.0, 5.0]])


def test_affine_cache_is_the_input_and_the_weights_only():
    _, x, w, b = _affine_problem(0)
    _, cache = affine_forward(x, w, b)
    assert len(cache) == 2 and cache[0] is x and cache[1] is w


def test_affine_forward_leaves_its_inputs_unchanged():
    _, x, w, b = _affine_problem(1)
    before = [a.copy() for a in (x, w, b)]
    affine_forward(x, w, b)
    for a, kept in zip((x, w, b), before):
        np.testing.assert_array_equal(a, kept)


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_backward_matches_centred_differences(seed):
    rng, x, w, b = _affine_problem(seed)
    out, cache = affine_forward(x, w, b)
    dout = rng.normal(size=out.shape)
    dx, dw, db = affine_backward(dout, cache)

    def f(_):
        return np.sum(affine_forward(x, w, b)[0] * dout)

    assert rel_error(dx, numerical_gradient(f, x)) < 1e-7
    assert rel_error(dw, numerical_gradient(f, w)) < 1e-7
    assert rel_error(db, numerical_gradient(f, b)) < 1e-7


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_backward_gradients_have_the_shapes_of_x_w_and_b(seed):
    rng, x, w, b = _affine_problem(seed)
    out, cache = affine_forward(x, w, b)
    dx, dw, db = affine_backward(rng.normal(size=out.shape), cache)
    assert (dx.shape, dw.shape, db.shape) == (x.shape, w.shape, b.shape)


def test_affine_backward_without_dx_returns_none_and_the_same_dw_and_db():
    rng, x, w, b = _affine_problem(2, np.float32)
    out, cache = affine_forward(x, w, b)
    dout = rng.normal(size=out.shape).astype(np.float32)
    _, dw, db = affine_backward(dout, cache)
    none, dw2, db2 = affine_backward(dout, cache, need_dx=False)
    assert none is None
    assert dw.tobytes() == dw2.tobytes() and db.tobytes() == db2.tobytes()


def test_affine_bias_gradient_sums_dout_over_the_batch():
    x, w = np.ones((3, 2)), np.ones((2, 2))
    _, cache = affine_forward(x, w, np.zeros(2))
    dout = np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])
    _, _, db = affine_backward(dout, cache)
    np.testing.assert_array_equal(db, [6.0, 60.0])


def test_affine_keeps_float32_forward_and_backward():
    rng, x, w, b = _affine_problem(3, np.float32)
    out, cache = affine_forward(x, w, b)
    grads = affine_backward(rng.normal(size=out.shape).astype(np.float32), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_affine_of_a_single_row_and_a_single_unit_keeps_two_dimensions():
    out, cache = affine_forward(np.ones((1, 3)), np.ones((1, 3)), np.zeros(1))
    dx, dw, db = affine_backward(np.ones((1, 1)), cache)
    assert out.shape == (1, 1) and dx.shape == (1, 3) and dw.shape == (1, 3) and db.shape == (1,)


# --- activations -------------------------------------------------------------------------------


def test_relu_forward_zeroes_negatives_and_keeps_the_rest():
    x = np.array([[-2.0, -0.0, 0.0, 0.5, 3.0]])
    out, cache = relu_forward(x)
    np.testing.assert_array_equal(out, [[0.0, 0.0, 0.0, 0.5, 3.0]])
    assert cache is x


def test_relu_backward_passes_dout_where_x_is_positive_and_zero_at_the_kink():
    x = np.array([-1.0, 0.0, 2.0])
    dx = relu_backward(np.array([5.0, 6.0, 7.0]), x)
    np.testing.assert_array_equal(dx, [0.0, 0.0, 7.0])


def test_softplus_forward_is_log_one_plus_exp():
    x = np.linspace(-20, 20, 41)
    out, cache = softplus_forward(x)
    np.testing.assert_allclose(out, np.log1p(np.exp(x)), rtol=1e-14)
    assert cache is x


def test_softplus_backward_is_dout_times_sigmoid():
    x = np.array([-3.0, 0.0, 2.0])
    dout = np.array([2.0, 4.0, -1.0])
    np.testing.assert_allclose(softplus_backward(dout, x), dout / (1 + np.exp(-x)), rtol=1e-14)
    assert softplus_backward(np.ones(1), np.zeros(1))[0] == 0.5


def test_softplus_is_finite_and_exact_for_huge_inputs():
    x = np.array([-1e4, -50.0, 50.0, 1e4], dtype=np.float32)
    with strict_numpy():
        out, cache = softplus_forward(x)
        dx = softplus_backward(np.ones_like(x), cache)
    assert out[-1] == 1e4 and out[0] == 0.0  # log(1 + e^x) = x, and e^-1e4 underflows to 0
    assert 0 < out[1] < 1e-21
    np.testing.assert_array_equal(dx[[0, -1]], [0.0, 1.0])


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("forward, backward", ACTIVATION_PAIRS)
def test_activation_layer_backward_matches_centred_differences(forward, backward, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, 5))
    x[np.abs(x) < 1e-3] = 0.5  # away from the ReLU kink
    dout = rng.normal(size=x.shape)
    out, cache = forward(x)
    dx = backward(dout, cache)
    assert rel_error(dx, numerical_gradient(lambda z: np.sum(forward(z)[0] * dout), x)) < 1e-7


@pytest.mark.parametrize("forward, backward", ACTIVATION_PAIRS)
def test_activations_keep_float32_and_shape(forward, backward):
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    out, cache = forward(x)
    dx = backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == np.float32
    assert out.shape == dx.shape == x.shape


@pytest.mark.parametrize("forward", [relu_forward, softplus_forward])
def test_activation_forward_leaves_its_input_unchanged(forward):
    x = np.array([-1.0, 0.0, 2.0])
    forward(x)
    np.testing.assert_array_equal(x, [-1.0, 0.0, 2.0])


def test_activations_table_names_each_forward_backward_pair():
    assert ACTIVATIONS == {"relu": (relu_forward, relu_backward), "softplus": (softplus_forward, softplus_backward)}


# --- a chain of layers -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("forward, backward", ACTIVATION_PAIRS)
def test_affine_activation_affine_chain_backward_matches_centred_differences(forward, backward, seed):
    """The caches compose: backpropagating through affine - activation - affine gives the
    gradients of the chain for the input and both layers' parameters."""
    rng, x, w1, b1 = _affine_problem(seed)
    w2, b2 = rng.normal(size=(3, w1.shape[0])), rng.normal(size=3)
    dout = rng.normal(size=(x.shape[0], 3))
    if forward is relu_forward:
        assert np.min(np.abs(affine_forward(x, w1, b1)[0])) > 1e-3  # h cannot cross the kink

    def chain(_):
        a, _ = affine_forward(x, w1, b1)
        h, _ = forward(a)
        return np.sum(affine_forward(h, w2, b2)[0] * dout)

    a, c1 = affine_forward(x, w1, b1)
    h, ca = forward(a)
    _, c2 = affine_forward(h, w2, b2)
    dh, dw2, db2 = affine_backward(dout, c2)
    dx, dw1, db1 = affine_backward(backward(dh, ca), c1)
    for analytic, p in ((dx, x), (dw1, w1), (db1, b1), (dw2, w2), (db2, b2)):
        assert rel_error(analytic, numerical_gradient(chain, p)) < 1e-7
