"""A convolutional network built from a layer list, a `cifarflow.nn.base.Model`.

Spec keys (others are ignored):

- `layers`: list of one-key mappings, `{'conv': {'filters', 'size', 'stride'=1, 'pad'=0}}`,
  `{'relu': {}}`, `{'pool': {'size'=2, 'stride'=size}}`, `{'flatten': {}}`, `{'fc': {'units'}}`
  (a bare name such as `'relu'` also works). The list must end with an fc layer; its `units`
  may be omitted (it becomes `n_classes`) and, if given, must equal `n_classes`.
- `preset`: used when `layers` is missing or null: `'patchify'` (the default) or `'small'`, or
  `{'patchify': {'filters': 40, 'size': 4, 'hidden': 300}}` / `{'small': {'filters': [32, 64],
  'hidden': 128}}` to pass options. The top-level keys `filters` and `size` (as in the config
  schema) also set the patchify preset's options; the mapping form wins over them.
- `init`: `'he'` (default, N(0, 2/fan_in)), `'xavier'` (N(0, 1/fan_in)) or `'normal'`
  (N(0, init_sigma^2), `init_sigma` default 0.01): `cifarflow.nn.base.init_weight`.
- `loss`: `'cross_entropy'` (default) or `'mse'` (the loss and its L2 term: `Model.loss`).

Parameters are `W1, b1, W2, b2, ...`, numbered over the conv and fc layers in order; conv
weights are `(F, k, k, C)`, fc weights `(units, D)` (as `cifarflow.nn.layers`: out = x @ W.T + b).
Images are NHWC (see `cifarflow.nn.conv`). A key set to None (YAML null) means its default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cifarflow.errors import ConfigError
from cifarflow.nn.base import Model, init_settings, init_weight, spec_value
from cifarflow.nn.conv import (
    conv2d_backward,
    conv2d_forward,
    conv_relu_pool_backward,
    conv_relu_pool_forward,
    flatten_backward,
    flatten_forward,
    infer_shapes,
    maxpool_backward,
    maxpool_forward,
    parse_layers,
    relu_backward,
    relu_forward,
)
from cifarflow.nn.layers import affine_backward, affine_forward
from cifarflow.nn.registry import MODEL_LOSSES

__all__ = ["ConvNet", "PRESETS", "build_convnet", "patchify_layers", "small_convnet_layers"]

LOSSES = MODEL_LOSSES["convnet"]
PREDICT_BATCH = 500  # rows per chunk in scores(): bounds im2col memory on large inputs


def patchify_layers(filters: int = 40, size: int = 4, hidden: int = 300, n_classes: int = 10) -> list:
    """conv (filters, size x size, stride size, no pad) - ReLU - flatten - fc hidden - ReLU - fc."""
    return [
        {"conv": {"filters": filters, "size": size, "stride": size, "pad": 0}},
        {"relu": {}},
        {"flatten": {}},
        {"fc": {"units": hidden}},
        {"relu": {}},
        {"fc": {"units": n_classes}},
    ]


def small_convnet_layers(
    filters: tuple[int, ...] | list[int] = (32, 64), hidden: int = 128, n_classes: int = 10
) -> list:
    """One [conv 3x3 pad 1 - ReLU - 2x2 max-pool] block per entry of `filters`, then
    flatten - fc hidden - ReLU - fc."""
    layers: list = []
    for f in filters:
        layers += [
            {"conv": {"filters": f, "size": 3, "stride": 1, "pad": 1}},
            {"relu": {}},
            {"pool": {"size": 2, "stride": 2}},
        ]
    return layers + [
        {"flatten": {}},
        {"fc": {"units": hidden}},
        {"relu": {}},
        {"fc": {"units": n_classes}},
    ]


PRESETS = {"patchify": patchify_layers, "small": small_convnet_layers}
DEFAULT_PRESET = "patchify"


def layers_from_spec(spec: dict, n_classes: int) -> tuple[list, str]:
    """The raw layer list (and where it came from, for messages): `layers` if set, else the
    preset (default 'patchify'; its `filters` and `size` may also be top-level spec keys)."""
    if spec.get("layers") is not None:
        return spec["layers"], "layers"
    preset = spec_value(spec, "preset", DEFAULT_PRESET)
    opts: Any = {}
    if isinstance(preset, dict) and len(preset) == 1:
        ((preset, opts),) = preset.items()
        opts = {} if opts is None else opts
    if not isinstance(preset, str) or preset not in PRESETS or not isinstance(opts, dict):
        raise ConfigError(
            f"preset is {spec['preset']!r}; use one of {', '.join(PRESETS)} "
            "or a one-key mapping such as {'patchify': {'filters': 40}}."
        )
    if preset == "patchify":
        opts = {**{k: spec[k] for k in ("filters", "size") if spec.get(k) is not None}, **opts}
    try:
        layers = PRESETS[preset](**opts, n_classes=n_classes)
    except TypeError:
        raise ConfigError(
            f"preset {preset!r} got options {sorted(opts)}; see "
            f"cifarflow.nn.convnet.{PRESETS[preset].__name__} for the allowed ones."
        ) from None
    return layers, f"preset {preset}"


def build_convnet(
    spec: dict,
    input_shape: tuple[int, int, int],
    n_classes: int,
    rng: np.random.Generator,
    dtype=np.float32,
) -> ConvNet:
    """Build a ConvNet from `spec` (see the module docstring) for `(H, W, C)` images.

    Weights are drawn from `rng` (He by default), biases are zero, everything in `dtype`.
    Raises ConfigError with a one-line message for an invalid spec.
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"the convnet spec must be a mapping, not {type(spec).__name__}.")
    if len(tuple(input_shape)) != 3:
        raise ConfigError(f"input_shape {tuple(input_shape)} must be (height, width, channels) for a convnet.")
    loss_name = spec_value(spec, "loss", "cross_entropy")
    if loss_name not in LOSSES:
        raise ConfigError(f"loss is {loss_name!r}; use one of {', '.join(LOSSES)}.")
    raw, where = layers_from_spec(spec, n_classes)
    layers = parse_layers(raw, where=where)
    shapes = infer_shapes(tuple(input_shape), layers, n_classes=n_classes, where=where)
    init, init_sigma = init_settings(spec, "he")

    params: dict[str, np.ndarray] = {}
    plan = []  # (kind, options, param index or None)
    idx = 0
    for (kind, opts), (_, _, wshape) in zip(layers, shapes):
        if wshape is None:
            plan.append((kind, opts, None))
            continue
        idx += 1
        params[f"W{idx}"] = init_weight(rng, wshape, init, init_sigma, dtype)
        params[f"b{idx}"] = np.zeros(wshape[0], dtype=dtype)
        plan.append((kind, opts, idx))
    return ConvNet(params, plan, tuple(int(s) for s in input_shape), n_classes, loss_name)


class ConvNet(Model):
    """Convolutional network on flattened HWC images; scores go through a softmax output.

    params: `W{i}`, `b{i}` per conv/fc layer; weight_keys: the `W{i}`. Inputs to forward, loss,
    scores, probabilities and predict are `x: (N, H*W*C)` rows in HWC order (or `(N, H, W, C)`).
    """

    name = "convnet"
    output = "softmax"
    norm2_dtype = np.float64  # weight_norm2 accumulates in float64

    def __init__(self, params, plan, input_shape, n_classes, loss_name):
        self.params = params
        self.plan = plan
        self.input_shape = input_shape
        self.n_classes = n_classes
        self.loss_name = loss_name
        self.weight_keys = tuple(k for k in params if k.startswith("W"))
        self._steps = self.steps

    def __repr__(self) -> str:
        layers = "-".join(kind for kind, _, _ in self.plan)
        return (
            f"ConvNet(input_shape={self.input_shape}, layers={layers}, "
            f"n_params={self.n_params}, loss={self.loss_name!r}, dtype={self.dtype})"
        )

    @property
    def steps(self) -> list:
        """The plan as executed: each conv - relu - pool(stride == size) run becomes one
        `conv_relu_pool` step (the same numbers, see `cifarflow.nn.conv.conv_relu_pool_forward`);
        every other layer is its own step. Entries: (kind, options, param index or None)."""
        steps, plan, k = [], self.plan, 0
        while k < len(plan):
            kind, o, i = plan[k]
            if (
                kind == "conv"
                and k + 2 < len(plan)
                and plan[k + 1][0] == "relu"
                and plan[k + 2][0] == "pool"
                and plan[k + 2][1]["stride"] == plan[k + 2][1]["size"]
            ):
                steps.append(("conv_relu_pool", {**o, "pool": plan[k + 2][1]["size"]}, i))
                k += 3
            else:
                steps.append((kind, o, i))
                k += 1
        return steps

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, list]:
        """x: (N, H*W*C) -> scores: (N, K) and the cache for `backward`."""
        x = np.asarray(x)
        if x[0].size != int(np.prod(self.input_shape)):
            raise ValueError(f"x rows have {x[0].size} values, the model expects {self.input_shape} (HWC)")
        h = x.reshape((x.shape[0],) + self.input_shape).astype(self.dtype, copy=False)
        p = self.params
        caches = []
        for step, (kind, o, i) in enumerate(self._steps):
            if kind == "conv_relu_pool":  # window-major im2col where no dx is needed
                h, c = conv_relu_pool_forward(h, p[f"W{i}"], p[f"b{i}"], o["stride"], o["pad"], o["pool"], step == 0)
            elif kind == "conv":
                h, c = conv2d_forward(h, p[f"W{i}"], p[f"b{i}"], o["stride"], o["pad"])
            elif kind == "relu":
                h, c = relu_forward(h)
            elif kind == "pool":
                h, c = maxpool_forward(h, o["size"], o["stride"])
            elif kind == "flatten":
                h, c = flatten_forward(h)
            else:  # fc, flattening its input if needed
                shape = h.shape
                h, c = affine_forward(h.reshape(shape[0], -1), p[f"W{i}"], p[f"b{i}"])
                c = (c, shape)
            caches.append(c)
        return h, caches

    def backward(self, dscores: np.ndarray, cache: list) -> dict[str, np.ndarray]:
        """dscores: (N, K) -> gradients of every parameter (no regularisation), same keys."""
        grads: dict[str, np.ndarray] = {}
        d = dscores
        for step, (kind, _, i) in reversed(list(enumerate(self._steps))):
            c = cache[step]
            first = step == 0  # the input needs no gradient
            if kind == "conv_relu_pool":
                d, grads[f"W{i}"], grads[f"b{i}"] = conv_relu_pool_backward(d, c, need_dx=not first)
            elif kind == "conv":
                d, grads[f"W{i}"], grads[f"b{i}"] = conv2d_backward(d, c, need_dx=not first)
            elif kind == "fc":
                c, shape = c
                d, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(d, c, need_dx=not first)
                d = None if first else d.reshape(shape)
            elif first:
                break
            elif kind == "relu":
                d = relu_backward(d, c)
            elif kind == "pool":
                d = maxpool_backward(d, c)
            else:  # flatten
                d = flatten_backward(d, c)
        return {k: grads[k] for k in self.params}

    def scores(self, x: np.ndarray) -> np.ndarray:
        """x: (N, D) -> scores: (N, K), computed in chunks of PREDICT_BATCH rows."""
        n = x.shape[0]
        if n <= PREDICT_BATCH:
            return self.forward(x)[0]
        out = np.empty((n, self.n_classes), dtype=self.dtype)
        for s in range(0, n, PREDICT_BATCH):
            out[s : s + PREDICT_BATCH] = self.forward(x[s : s + PREDICT_BATCH])[0]
        return out
