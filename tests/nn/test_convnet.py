"""The ConvNet model: building from a spec, the Model contract, gradients, and config errors."""

import re

import numpy as np
import pytest

from cifarflow.errors import ConfigError
from cifarflow.nn import convnet as convnet_module
from cifarflow.nn.conv import conv2d_forward, maxpool_forward, relu_forward
from cifarflow.nn.convnet import build_convnet, patchify_layers, small_convnet_layers
from cifarflow.nn.gradcheck import check_model_gradients
from cifarflow.nn.losses import get_loss
from cifarflow.nn.models import build_model

TINY_SHAPE = (6, 6, 2)
TINY_LAYERS = [
    {"conv": {"filters": 3, "size": 3, "stride": 1, "pad": 1}},
    {"relu": {}},
    {"pool": {"size": 2}},
    {"conv": {"filters": 4, "size": 2, "stride": 1, "pad": 0}},
    {"relu": {}},
    {"flatten": {}},
    {"fc": {"units": 5}},
    {"relu": {}},
    {"fc": {"units": 3}},
]


def tiny_net(dtype=np.float64, seed=0, **spec):
    return build_convnet({"layers": TINY_LAYERS, **spec}, TINY_SHAPE, 3, np.random.default_rng(seed), dtype)


def tiny_batch(n=4, dtype=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, int(np.prod(TINY_SHAPE)))).astype(dtype)
    return x, rng.integers(0, 3, n)


def config_error(spec, input_shape=(8, 8, 3), n_classes=10):
    with pytest.raises(ConfigError) as err:
        build_convnet(spec, input_shape, n_classes, np.random.default_rng(0))
    assert "\n" not in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------ building


def test_patchify_preset_has_the_documented_parameters():
    net = build_convnet({"preset": "patchify"}, (32, 32, 3), 10, np.random.default_rng(0))
    shapes = {k: v.shape for k, v in net.params.items()}
    assert shapes == {
        "W1": (40, 4, 4, 3),
        "b1": (40,),
        "W2": (300, 8 * 8 * 40),
        "b2": (300,),
        "W3": (10, 300),
        "b3": (10,),
    }
    assert net.weight_keys == ("W1", "W2", "W3")
    assert net.n_params == sum(int(np.prod(s)) for s in shapes.values())
    assert (net.name, net.output, net.loss_name, net.n_classes) == (
        "convnet",
        "softmax",
        "cross_entropy",
        10,
    )


def test_small_preset_is_conv_relu_pool_blocks_then_fc():
    assert [next(iter(layer)) for layer in small_convnet_layers()] == [
        "conv", "relu", "pool", "conv", "relu", "pool", "flatten", "fc", "relu", "fc",
    ]  # fmt: skip
    net = build_convnet({"preset": "small"}, (32, 32, 3), 10, np.random.default_rng(0))
    assert net.params["W3"].shape == (128, 8 * 8 * 64)


def test_preset_options_pass_through_a_one_key_mapping():
    spec = {"preset": {"patchify": {"filters": 8, "size": 8, "hidden": 20}}}
    net = build_convnet(spec, (32, 32, 3), 4, np.random.default_rng(0))
    assert net.params["W1"].shape == (8, 8, 8, 3)
    assert net.params["W2"].shape == (20, 4 * 4 * 8)
    assert net.params["W3"].shape == (4, 20)


def test_patchify_layers_is_conv_with_stride_equal_to_size():
    conv = patchify_layers(filters=16, size=2)[0]["conv"]
    assert conv == {"filters": 16, "size": 2, "stride": 2, "pad": 0}


def test_final_fc_units_default_to_n_classes():
    layers = [{"conv": {"filters": 2, "size": 3}}, {"fc": {}}]
    net = build_convnet({"layers": layers}, (5, 5, 1), 7, np.random.default_rng(0))
    assert net.params["W2"].shape == (7, 3 * 3 * 2)


def test_he_init_draws_weights_with_std_sqrt_2_over_fan_in_and_zero_biases():
    net = build_convnet({"preset": "small"}, (32, 32, 3), 10, np.random.default_rng(0))
    w = net.params["W2"]  # fan_in = 3 * 3 * 32
    assert abs(w.std() / np.sqrt(2 / 288) - 1) < 0.02
    assert not net.params["b2"].any()


def test_init_normal_uses_init_sigma():
    net = tiny_net(init="normal", init_sigma=0.5, seed=3)
    assert abs(net.params["W1"].std() / 0.5 - 1) < 0.5
    assert abs(tiny_net(init="xavier").params["W3"].std() * np.sqrt(16) - 1) < 0.2


def test_same_seed_gives_the_same_parameters():
    a, b = tiny_net(seed=5), tiny_net(seed=5)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)


def test_without_layers_or_preset_the_patchify_preset_is_used():
    net = build_convnet({"model": "convnet"}, (32, 32, 3), 10, np.random.default_rng(0))
    assert net.params["W1"].shape == (40, 4, 4, 3)


def test_top_level_filters_and_size_set_the_patchify_preset():
    spec = {"preset": "patchify", "filters": 12, "size": 8, "hidden": [50]}  # hidden: mlp's
    net = build_convnet(spec, (32, 32, 3), 10, np.random.default_rng(0))
    assert net.params["W1"].shape == (12, 8, 8, 3)
    assert net.params["W2"].shape == (300, 4 * 4 * 12)


def test_layers_take_precedence_over_the_preset():
    spec = {"layers": [{"conv": {"filters": 2, "size": 3}}, {"fc": {}}], "preset": "small"}
    net = build_convnet(spec, (5, 5, 1), 3, np.random.default_rng(0))
    assert net.params["W1"].shape == (2, 3, 3, 1)


def test_unknown_spec_keys_and_nulls_are_ignored():
    net = build_convnet(
        {"model": "convnet", "preset": "patchify", "layers": None, "eta": 0.1, "init": None},
        (32, 32, 3),
        10,
        np.random.default_rng(0),
    )
    assert net.params["W1"].shape == (40, 4, 4, 3)


def test_build_model_dispatches_convnet_specs():
    spec = {"model": "convnet", "preset": "small"}
    net = build_model(spec, (32, 32, 3), 10, np.random.default_rng(0))
    assert net.name == "convnet"


# ------------------------------------------------------------------ forward and the protocol


def test_forward_reshapes_flattened_rows_in_hwc_order():
    layers = [{"conv": {"filters": 2, "size": 3, "pad": 1}}, {"pool": {}}, {"fc": {}}]
    net = build_convnet({"layers": layers}, (4, 4, 3), 3, np.random.default_rng(0), np.float64)
    images = np.random.default_rng(1).standard_normal((2, 4, 4, 3))
    p = net.params
    h = maxpool_forward(conv2d_forward(images, p["W1"], p["b1"], 1, 1)[0])[0]
    expected = h.reshape(2, -1) @ p["W2"].T + p["b2"]
    scores, _ = net.forward(images.reshape(2, -1))
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    np.testing.assert_allclose(net.forward(images)[0], expected, rtol=1e-12)


def test_scores_in_chunks_equal_one_forward(monkeypatch):
    net = tiny_net()
    x, _ = tiny_batch(n=7)
    monkeypatch.setattr(convnet_module, "PREDICT_BATCH", 3)
    np.testing.assert_allclose(net.scores(x), net.forward(x)[0], rtol=1e-12)


def test_probabilities_and_predict_follow_the_scores():
    net = tiny_net()
    x, _ = tiny_batch(n=5)
    probs = net.probabilities(x)
    assert probs.shape == (5, 3)
    np.testing.assert_allclose(probs.sum(axis=1), 1)
    pred = net.predict(x)
    assert pred.dtype == np.int64 and pred.shape == (5,)
    np.testing.assert_array_equal(pred, net.scores(x).argmax(axis=1))


def test_loss_is_the_cross_entropy_of_the_scores_and_cost_adds_the_l2_term():
    net = tiny_net()
    x, y = tiny_batch()
    loss, cost, _ = net.loss(x, y, lam=0.1)
    assert loss == pytest.approx(get_loss("cross_entropy", "softmax")(net.scores(x), y)[0])
    assert cost == pytest.approx(loss + 0.1 * net.weight_norm2())
    weights = ("W1", "W2", "W3", "W4")
    assert net.weight_norm2() == pytest.approx(sum(np.sum(net.params[k] ** 2) for k in weights))


def test_regularised_gradients_add_2_lambda_w_to_weights_only():
    net = tiny_net()
    x, y = tiny_batch()
    g0 = net.loss(x, y, 0.0)[2]
    g1 = net.loss(x, y, 0.3)[2]
    for k in net.params:
        extra = 2 * 0.3 * net.params[k] if k.startswith("W") else 0
        np.testing.assert_allclose(g1[k], g0[k] + extra, rtol=1e-12, atol=1e-15)


def test_float32_model_keeps_float32_scores_and_gradients():
    net = tiny_net(dtype=np.float32)
    x, y = tiny_batch(dtype=np.float64)  # inputs are cast to the model's dtype
    assert net.scores(x).dtype == np.float32
    assert net.probabilities(x).dtype == np.float32
    _, _, grads = net.loss(x, y, np.float64(1e-3))
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(p.dtype == np.float32 for p in net.params.values())


# ------------------------------------------------------------------ gradient checks (float64)


def with_random_biases(net, seed):
    """Non-zero biases (the builder starts them at zero), so the checks also cover bias paths,
    e.g. the fused block adding the bias after the pool."""
    rng = np.random.default_rng(seed)
    for k, v in net.params.items():
        if k.startswith("b"):
            v[:] = 0.3 * rng.standard_normal(v.shape)
    return net


SEEDS = [0, 1, 2]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lam", [0.0, 0.01])
@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
def test_whole_net_gradients_match_centred_differences(lam, loss, seed):
    net = with_random_biases(tiny_net(loss=loss, seed=seed), 100 + seed)
    x, y = tiny_batch(seed=10 + seed)
    errors = check_model_gradients(net, x, y, lam)
    assert set(errors) == set(net.params)
    assert max(errors.values()) < 1e-6, errors


TWO_BLOCKS = [
    {"conv": {"filters": 3, "size": 3, "pad": 1}},
    "relu",
    {"pool": {"size": 2}},
    {"conv": {"filters": 4, "size": 3, "pad": 1}},
    "relu",
    {"pool": {"size": 2}},
    {"fc": {"units": 5}},
    "relu",
    {"fc": {}},
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [(8, 8, 2), (7, 9, 2)])
def test_net_of_two_fused_blocks_gradients_match_centred_differences(shape, seed):
    net = build_convnet({"layers": TWO_BLOCKS}, shape, 3, np.random.default_rng(seed), np.float64)
    with_random_biases(net, 100 + seed)
    assert [kind for kind, _, _ in net.steps][:2] == ["conv_relu_pool", "conv_relu_pool"]
    rng = np.random.default_rng(10 + seed)
    x = rng.standard_normal((3, int(np.prod(shape))))
    errors = check_model_gradients(net, x, rng.integers(0, 3, 3), 0.01)
    assert max(errors.values()) < 1e-6, errors


def test_conv_relu_pool_runs_are_fused_and_other_layers_are_not():
    small = build_convnet({"preset": "small"}, (32, 32, 3), 10, np.random.default_rng(0))
    assert [kind for kind, _, _ in small.steps] == [
        "conv_relu_pool",
        "conv_relu_pool",
        "flatten",
        "fc",
        "relu",
        "fc",
    ]
    assert [i for _, _, i in small.steps] == [1, 2, None, 3, None, 4]
    overlapping = [
        {"conv": {"filters": 2, "size": 3, "pad": 1}},
        "relu",
        {"pool": {"size": 3, "stride": 2}},
        {"fc": {}},
    ]
    no_relu = [{"conv": {"filters": 2, "size": 3, "pad": 1}}, {"pool": {"size": 2}}, {"fc": {}}]
    for layers in (overlapping, no_relu):
        net = build_convnet({"layers": layers}, (8, 8, 3), 10, np.random.default_rng(0))
        assert [kind for kind, _, _ in net.steps] == [kind for kind, _, _ in net.plan]


def test_fused_small_preset_scores_equal_the_layers_one_by_one():
    net = build_convnet(
        {"preset": {"small": {"filters": [4, 6], "hidden": 8}}}, (8, 8, 3), 10, np.random.default_rng(0), np.float64
    )
    images = np.random.default_rng(1).standard_normal((3, 8, 8, 3))
    p = net.params
    h = images
    for i in (1, 2):
        h = maxpool_forward(relu_forward(conv2d_forward(h, p[f"W{i}"], p[f"b{i}"], 1, 1)[0])[0])[0]
    h = relu_forward(h.reshape(3, -1) @ p["W3"].T + p["b3"])[0]
    np.testing.assert_allclose(net.forward(images)[0], h @ p["W4"].T + p["b4"], rtol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_patchify_net_gradients_match_centred_differences(seed):
    spec = {"preset": {"patchify": {"filters": 3, "size": 2, "hidden": 4}}}
    net = build_convnet(spec, (4, 4, 2), 3, np.random.default_rng(seed), np.float64)
    with_random_biases(net, 100 + seed)
    rng = np.random.default_rng(10 + seed)
    x = rng.standard_normal((3, 32))
    errors = check_model_gradients(net, x, rng.integers(0, 3, 3), 0.01)
    assert max(errors.values()) < 1e-6, errors


def test_a_few_gradient_steps_lower_the_loss():
    net = tiny_net(dtype=np.float32)
    x, y = tiny_batch(n=8, dtype=np.float32)
    first = net.loss(x, y)[0]
    for _ in range(30):
        _, _, grads = net.loss(x, y)
        for k in net.params:
            net.params[k] -= 0.1 * grads[k]
    assert net.loss(x, y)[0] < 0.5 * first


# ------------------------------------------------------------------ config errors


def test_unknown_layer_type_is_a_config_error():
    assert "layers[1] has unknown layer type 'dropout'" in config_error(
        {"layers": [{"conv": {"filters": 2, "size": 3}}, {"dropout": {}}, {"fc": {}}]}
    )


def test_final_fc_units_must_equal_n_classes():
    msg = config_error({"layers": [{"flatten": {}}, {"fc": {"units": 5}}]})
    assert "layers[1]" in msg and "5 units" in msg and "10 classes" in msg


def test_preset_built_for_other_classes_is_a_units_mismatch():
    msg = config_error({"layers": patchify_layers(size=2)}, n_classes=4)
    assert "10 units" in msg


@pytest.mark.parametrize(
    "spec,match",
    [
        ({"layers": [{"conv": {"filters": 2, "size": 3}}, "relu"]}, "must end with an fc"),
        (
            {"layers": [{"flatten": {}}, {"conv": {"filters": 2, "size": 3}}, {"fc": {}}]},
            "put conv and pool",
        ),
        ({"layers": [{"fc": {}}, {"fc": {}}]}, r"layers\[0\] \(fc\) needs option 'units'"),
        ({"layers": [{"conv": {"filters": 2, "size": 9}}, {"fc": {}}]}, "does not fit"),
        ({"preset": "resnet"}, "preset is 'resnet'"),
        ({"preset": {"patchify": {"kernel": 3}}}, "preset 'patchify' got options"),
        ({"preset": "patchify", "filters": 0}, r"preset patchify\[0\] \(conv\) option 'filters'"),
        ({"preset": "patchify", "init": "glorot"}, "init 'glorot'"),
        ({"preset": "patchify", "init": "normal", "init_sigma": 0}, "init_sigma 0 is not a positive"),
        ({"preset": "patchify", "loss": "hinge"}, "loss is 'hinge'"),
        ("patchify", "must be a mapping"),
    ],
)
def test_invalid_specs_raise_one_line_config_errors(spec, match):
    assert re.search(match, config_error(spec, input_shape=(8, 8, 3)))


def test_input_shape_must_be_height_width_channels():
    assert "(height, width, channels)" in config_error({"preset": "small"}, input_shape=(3072,))


def test_forward_rejects_rows_of_the_wrong_length():
    with pytest.raises(ValueError, match="expects"):
        tiny_net().forward(np.zeros((2, 10)))
