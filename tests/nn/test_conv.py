"""Convolution, max-pool and flatten layers, their shape arithmetic, and 1-D convolution."""

import numpy as np
import pytest

from cifarflow.errors import ConfigError
from cifarflow.nn.conv import (
    LayerShape,
    conv1d,
    conv2d_backward,
    conv2d_forward,
    conv_output_shape,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    flatten_backward,
    flatten_forward,
    layer_shapes,
    maxpool_backward,
    maxpool_forward,
    parse_layers,
    relu_backward,
    relu_forward,
    writeup_example,
)
from cifarflow.nn.gradcheck import numerical_gradient, rel_error

# (N, H, W, C, F, k, stride, pad): overlapping, strided, patchify (stride == k, also with a
# remainder that is dropped), gaps between windows (stride > k), a kernel as large as the input.
CONV_CASES = [
    (2, 5, 5, 3, 4, 3, 1, 1),
    (2, 7, 6, 2, 3, 3, 2, 1),
    (2, 8, 8, 3, 5, 4, 4, 0),
    (2, 9, 10, 2, 3, 4, 4, 0),
    (2, 7, 8, 2, 3, 2, 3, 0),
    (1, 5, 5, 1, 2, 5, 1, 2),
    (2, 7, 7, 3, 2, 3, 2, 0),
]


def naive_conv2d(x, w, b, stride, pad):
    """Loop reference: out[n, i, j, f] = sum over the window of xp * w[f] + b[f]."""
    n, h, wd, _ = x.shape
    f, kh, kw, _ = w.shape
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ho = (h + 2 * pad - kh) // stride + 1
    wo = (wd + 2 * pad - kw) // stride + 1
    out = np.zeros((n, ho, wo, f))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def naive_maxpool(x, size, stride):
    n, h, w, c = x.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((n, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            win = x[:, i * stride : i * stride + size, j * stride : j * stride + size, :]
            out[:, i, j, :] = win.max(axis=(1, 2))
    return out


def conv_inputs(case, dtype=np.float64, seed=0):
    n, h, w, c, f, k, _, _ = case
    rng = np.random.default_rng(seed)
    return (
        rng.standard_normal((n, h, w, c)).astype(dtype),
        rng.standard_normal((f, k, k, c)).astype(dtype),
        rng.standard_normal(f).astype(dtype),
    )


def distinct_values(shape, seed=0):
    """Values at least 0.01 apart (a shuffled ramp plus small noise): no max-pool ties, and no
    window maximum changes under a 1e-5 perturbation."""
    rng = np.random.default_rng(seed)
    ramp = rng.permutation(int(np.prod(shape))) * 0.01 + rng.uniform(0, 1e-3, int(np.prod(shape)))
    return ramp.reshape(shape) - ramp.mean()


# ------------------------------------------------------------------ conv2d


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_forward_matches_naive_loops(case):
    x, w, b = conv_inputs(case)
    stride, pad = case[6], case[7]
    out, _ = conv2d_forward(x, w, b, stride, pad)
    np.testing.assert_allclose(out, naive_conv2d(x, w, b, stride, pad), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_gradients_match_centred_differences(case):
    x, w, b = conv_inputs(case)
    stride, pad = case[6], case[7]
    out, cache = conv2d_forward(x, w, b, stride, pad)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx, dw, db = conv2d_backward(dout, cache)

    def f(_):
        return np.sum(conv2d_forward(x, w, b, stride, pad)[0] * dout)

    assert rel_error(dx, numerical_gradient(f, x)) < 1e-6
    assert rel_error(dw, numerical_gradient(f, w)) < 1e-6
    assert rel_error(db, numerical_gradient(f, b)) < 1e-6


def test_conv2d_backward_without_dx_returns_none_and_the_same_weight_gradients():
    x, w, b = conv_inputs(CONV_CASES[0])
    out, cache = conv2d_forward(x, w, b, 1, 1)
    dout = np.ones_like(out)
    dx, dw, db = conv2d_backward(dout, cache, need_dx=False)
    _, dw_full, db_full = conv2d_backward(dout, cache)
    assert dx is None
    np.testing.assert_array_equal(dw, dw_full)
    np.testing.assert_array_equal(db, db_full)


@pytest.mark.parametrize("case", CONV_CASES)
def test_conv2d_keeps_float32(case):
    x, w, b = conv_inputs(case, dtype=np.float32)
    out, cache = conv2d_forward(x, w, b, case[6], case[7])
    grads = conv2d_backward(np.ones_like(out), cache)
    assert out.dtype == np.float32
    assert all(g.dtype == np.float32 for g in grads)


def test_conv2d_patchify_is_the_matrix_product_of_flattened_patches():
    x, w, b = conv_inputs((2, 8, 8, 3, 5, 4, 4, 0))
    out, _ = conv2d_forward(x, w, b, 4, 0)
    patch = x[1, 4:8, 0:4, :].ravel()  # output position (1, 0) of image 1
    np.testing.assert_allclose(out[1, 1, 0], w.reshape(5, -1) @ patch + b)


def test_conv2d_rejects_a_channel_mismatch():
    x, w, b = conv_inputs(CONV_CASES[0])
    with pytest.raises(ValueError, match="channels"):
        conv2d_forward(x[..., :2], w, b, 1, 1)


# ------------------------------------------------------------------ conv - relu - pool block

# (N, H, W, C, F, k, stride, pad, pool): same-size 3x3 convs, conv outputs the pool's floor rule
# trims (7x9 -> a row and a column unused), strided and patchify convs, 3x3 pools
BLOCK_CASES = [
    (2, 6, 6, 3, 4, 3, 1, 1, 2),
    (2, 7, 9, 2, 3, 3, 1, 1, 2),
    (2, 9, 9, 2, 3, 3, 2, 1, 2),
    (2, 8, 8, 3, 2, 2, 2, 0, 2),
    (1, 9, 9, 2, 3, 3, 1, 1, 3),
    (2, 8, 7, 2, 3, 2, 1, 0, 3),
]


def chain(x, w, b, stride, pad, size):
    """The three layers one after the other, for reference."""
    z, c1 = conv2d_forward(x, w, b, stride, pad)
    r, c2 = relu_forward(z)
    out, c3 = maxpool_forward(r, size)

    def backward(dout):
        dx, dw, db = conv2d_backward(relu_backward(maxpool_backward(dout, c3), c2), c1)
        return dx, dw, db

    return out, backward


@pytest.mark.parametrize("window_major", [False, True])
@pytest.mark.parametrize("case", BLOCK_CASES)
def test_conv_relu_pool_block_equals_the_three_layers(case, window_major):
    n, h, w_, c, f, k, stride, pad, size = case
    x = distinct_values((n, h, w_, c))
    w = distinct_values((f, k, k, c), seed=1)
    b = np.random.default_rng(2).standard_normal(f)
    out, cache = conv_relu_pool_forward(x, w, b, stride, pad, size, window_major)
    ref, ref_backward = chain(x, w, b, stride, pad, size)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert (out == 0).any() and (out > 0).any()  # ReLU cuts some windows, not all
    dout = np.random.default_rng(3).standard_normal(out.shape)
    for got, want in zip(conv_relu_pool_backward(dout, cache), ref_backward(dout)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("window_major", [False, True])
@pytest.mark.parametrize("case", BLOCK_CASES[:3])
def test_conv_relu_pool_block_gradients_match_centred_differences(case, window_major):
    n, h, w_, c, f, k, stride, pad, size = case
    x = distinct_values((n, h, w_, c))
    w = distinct_values((f, k, k, c), seed=1) * 0.1
    b = np.random.default_rng(2).standard_normal(f)
    out, cache = conv_relu_pool_forward(x, w, b, stride, pad, size, window_major)
    dout = np.random.default_rng(3).standard_normal(out.shape)
    dx, dw, db = conv_relu_pool_backward(dout, cache)

    def f_(_):
        return np.sum(conv_relu_pool_forward(x, w, b, stride, pad, size, window_major)[0] * dout)

    assert rel_error(dx, numerical_gradient(f_, x)) < 1e-6
    assert rel_error(dw, numerical_gradient(f_, w)) < 1e-6
    assert rel_error(db, numerical_gradient(f_, b)) < 1e-6


@pytest.mark.parametrize("window_major", [False, True])
def test_conv_relu_pool_block_sends_a_tied_window_gradient_to_its_first_maximum(window_major):
    x = np.zeros((1, 4, 4, 2), dtype=np.float32)  # every conv output equals the bias: all tied
    w = np.ones((2, 3, 3, 2), dtype=np.float32)
    b = np.array([1.0, -1.0], dtype=np.float32)  # channel 1's windows are cut by the ReLU
    out, cache = conv_relu_pool_forward(x, w, b, 1, 1, 2, window_major)
    np.testing.assert_array_equal(out[..., 0], 1)
    np.testing.assert_array_equal(out[..., 1], 0)
    _, dw, db = conv_relu_pool_backward(np.ones_like(out), cache, need_dx=False)
    ref, ref_backward = chain(x, w, b, 1, 1, 2)
    _, dw_ref, db_ref = ref_backward(np.ones_like(ref))
    np.testing.assert_array_equal(db, [4, 0])  # one input per window, none through the ReLU
    np.testing.assert_array_equal(db, db_ref)
    np.testing.assert_array_equal(dw, dw_ref)


@pytest.mark.parametrize("window_major", [False, True])
def test_a_tie_made_by_adding_the_bias_in_float32_routes_the_fused_gradient_elsewhere(window_major):
    """The documented exception (README, conv_relu_pool_forward): z = 1 and z = 2 both become
    1e8 once the bias 1e8 is added in float32 (spacing 8 there). The three layers send the window's
    gradient to the first tied value, the fused block to the larger z; the outputs are equal."""
    x = np.array([1.0, 2.0, -5e8, -5e8], dtype=np.float32).reshape(1, 2, 2, 1)
    w = np.ones((1, 1, 1, 1), dtype=np.float32)
    b = np.array([1e8], dtype=np.float32)
    out, cache = conv_relu_pool_forward(x, w, b, 1, 0, 2, window_major)
    ref, ref_backward = chain(x, w, b, 1, 0, 2)
    np.testing.assert_array_equal(out, ref)
    dx, _, _ = conv_relu_pool_backward(np.ones_like(out), cache)
    dx_ref, _, _ = ref_backward(np.ones_like(ref))
    np.testing.assert_array_equal(dx_ref.reshape(-1), [1, 0, 0, 0])  # first of the tied (z + b)
    np.testing.assert_array_equal(dx.reshape(-1), [0, 1, 0, 0])  # the larger z


@pytest.mark.parametrize("window_major", [False, True])
def test_conv_relu_pool_block_keeps_float32_and_skips_dx_on_request(window_major):
    x, w, b = conv_inputs(BLOCK_CASES[0][:8], dtype=np.float32)
    out, cache = conv_relu_pool_forward(x, w, b, 1, 1, 2, window_major)
    dx, dw, db = conv_relu_pool_backward(np.ones_like(out), cache)
    assert out.dtype == dx.dtype == dw.dtype == db.dtype == np.float32
    none, dw2, db2 = conv_relu_pool_backward(np.ones_like(out), cache, need_dx=False)
    assert none is None
    np.testing.assert_array_equal(dw2, dw)
    np.testing.assert_array_equal(db2, db)


# ------------------------------------------------------------------ max-pool, flatten


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 3), (3, 2), (2, 1), (2, 3)])
def test_maxpool_forward_matches_naive_loops(size, stride):
    x = np.random.default_rng(0).standard_normal((2, 7, 8, 3))
    out, _ = maxpool_forward(x, size, stride)
    np.testing.assert_array_equal(out, naive_maxpool(x, size, stride))


@pytest.mark.parametrize("size,stride", [(2, 2), (3, 3), (3, 2), (2, 1), (2, 3)])
def test_maxpool_gradient_matches_centred_differences(size, stride):
    x = distinct_values((2, 7, 8, 3))
    out, cache = maxpool_forward(x, size, stride)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    dx = maxpool_backward(dout, cache)
    num = numerical_gradient(lambda _: np.sum(maxpool_forward(x, size, stride)[0] * dout), x)
    assert rel_error(dx, num) < 1e-6


def test_maxpool_stride_defaults_to_the_window_size():
    x = np.random.default_rng(0).standard_normal((1, 6, 6, 2))
    np.testing.assert_array_equal(maxpool_forward(x, 3)[0], naive_maxpool(x, 3, 3))


def test_maxpool_sends_a_tied_window_gradient_to_one_input_only():
    x = np.zeros((1, 4, 4, 2), dtype=np.float32)
    out, cache = maxpool_forward(x)
    dx = maxpool_backward(np.ones_like(out), cache)
    assert dx.sum() == out.size
    assert dx[0, 0::2, 0::2].min() == 1  # the first (top-left) maximum of each window


def test_maxpool_keeps_float32():
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    out, cache = maxpool_forward(x)
    assert out.dtype == np.float32
    assert maxpool_backward(np.ones_like(out), cache).dtype == np.float32


def test_flatten_keeps_hwc_row_order_and_backward_restores_the_shape():
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out, cache = flatten_forward(x)
    assert out.shape == (2, 60)
    np.testing.assert_array_equal(out[1], x[1].ravel())
    np.testing.assert_array_equal(flatten_backward(out, cache), x)


# ------------------------------------------------------------------ shape arithmetic


@pytest.mark.parametrize(
    "args,expected",
    [
        ((128, 128, 8, 2, 3), (64, 64)),
        ((32, 32, 3, 1, 1), (32, 32)),
        ((32, 32, 4, 4, 0), (8, 8)),
        ((7, 7, 3, 2, 0), (3, 3)),  # floor: the last column of 7 is dropped
        ((10, 6, (3, 1), (1, 2), (0, 1)), (8, 4)),
    ],
)
def test_conv_output_shape_follows_the_floor_formula(args, expected):
    assert conv_output_shape(*args) == expected


def test_conv_output_shape_rejects_a_window_larger_than_the_padded_input():
    with pytest.raises(ConfigError, match="does not fit"):
        conv_output_shape(4, 4, 7, 1, 1)


def test_writeup_example_reproduces_the_ift6390_shapes_and_weight_count():
    assert writeup_example() == [
        LayerShape("conv1", (32, 64, 64), 32 * 8 * 8 * 3),
        LayerShape("pool1", (32, 32, 32), 0),
        LayerShape("conv2", (64, 32, 32), 18_432),
    ]


def test_layer_shapes_reports_hwc_shapes_by_default():
    layers = [
        {"conv": {"filters": 32, "size": 8, "stride": 2, "pad": 3}},
        "relu",
        {"pool": {"size": 2}},
        {"conv": {"filters": 64, "size": 3, "pad": 1}},
        {"flatten": {}},
        {"fc": {"units": 10}},
    ]
    rows = layer_shapes((128, 128, 3), layers)
    assert [r.name for r in rows] == ["conv1", "relu1", "pool1", "conv2", "flatten1", "fc1"]
    assert [r.out_shape for r in rows] == [
        (64, 64, 32),
        (64, 64, 32),
        (32, 32, 32),
        (32, 32, 64),
        (65536,),
        (10,),
    ]
    assert rows[3].n_weights == 18_432
    assert rows[5].n_weights == 65536 * 10


def test_layer_shapes_names_the_layer_whose_window_does_not_fit():
    with pytest.raises(ConfigError, match=r"layers\[1\] \(pool\)"):
        layer_shapes((4, 4, 1), [{"conv": {"filters": 2, "size": 3}}, {"pool": {"size": 3}}])


@pytest.mark.parametrize(
    "layers,match",
    [
        ([{"conv3d": {}}], "unknown layer type 'conv3d'"),
        ([{"conv": {"filters": 4}}], "needs option 'size'"),
        ([{"conv": {"filters": 4, "size": 3, "padding": 1}}], "unknown option"),
        ([{"conv": {"filters": 0, "size": 3}}], "integer >= 1"),
        ([{"pool": {"size": 2.5}}], "integer >= 1"),
        ([{"relu": {}, "pool": {}}], "one-key mapping"),
        ([], "non-empty list"),
    ],
)
def test_parse_layers_rejects_bad_entries_with_one_line(layers, match):
    with pytest.raises(ConfigError, match=match) as err:
        parse_layers(layers)
    assert "\n" not in str(err.value)


def test_parse_layers_fills_defaults():
    assert parse_layers(["relu", {"pool": None}, {"conv": {"filters": 8, "size": 3}}]) == [
        ("relu", {}),
        ("pool", {"size": 2, "stride": 2}),
        ("conv", {"filters": 8, "size": 3, "stride": 1, "pad": 0}),
    ]


# ------------------------------------------------------------------ conv1d


@pytest.mark.parametrize("mode", ["full", "same", "valid"])
@pytest.mark.parametrize("n,m", [(7, 3), (8, 4), (5, 5), (1, 1), (6, 1), (3, 6), (2, 5)])
def test_conv1d_matches_np_convolve(mode, n, m):
    rng = np.random.default_rng(n * 10 + m)
    x, k = rng.standard_normal(n), rng.standard_normal(m)
    np.testing.assert_allclose(conv1d(x, k, mode), np.convolve(x, k, mode), atol=1e-12)


def test_conv1d_flips_the_kernel():
    # k = [0, 1, 0.5]: x delayed by one step plus half of x delayed by two (correlation would
    # give [0.5, 2, 3.5, 3, 0] instead)
    np.testing.assert_array_equal(conv1d([1.0, 2.0, 3.0], [0.0, 1.0, 0.5]), [0, 1, 2.5, 4, 1.5])


def test_conv1d_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="mode"):
        conv1d([1.0, 2.0], [1.0], "circular")
