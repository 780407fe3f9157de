"""Models: linear softmax, linear sigmoid, binary logistic regression and MLPs (the class `MLP`),
and `build_model`, which builds every model of the registry from a spec (a 'convnet' through
`cifarflow.nn.convnet.build_convnet`). Every model is a `cifarflow.nn.base.Model`.

All of them are feed-forward stacks `x -> [affine -> activation] * L -> affine -> scores` with an
output nonlinearity (softmax or sigmoid) applied inside the loss. Weights follow the write-ups'
convention: `W` has shape (K_out, D_in) and `scores = x @ W.T + b`; x is (N, D) flattened in HWC
order, so the rows of a linear model's `W1` are the class templates.

| model      | layers              | output  | outputs | default loss  | other losses |
|------------|---------------------|---------|---------|---------------|--------------|
| 'softmax'  | affine              | softmax | K       | cross_entropy | mse          |
| 'sigmoid'  | affine              | sigmoid | K       | multi_bce     | mse          |
| 'logistic' | affine              | sigmoid | 1       | bce           | mse          |
| 'mlp'      | (affine, act)+, aff | softmax | K       | cross_entropy | mse          |
| 'convnet'  | nn.convnet          | softmax | K       | cross_entropy | mse          |

Logistic regression works on a pair of classes: labels y in {0, 1}, y = 1 is the second class of
the pair, and it predicts 1 when the score is > 0.

Default initialisation: 'he' for 'mlp', 'xavier' for the linear models (see `build_model`).
"""

import numpy as np

from cifarflow.errors import ConfigError
from cifarflow.nn.base import Model, init_settings, init_weight, spec_value
from cifarflow.nn.convnet import build_convnet
from cifarflow.nn.layers import ACTIVATIONS, affine_backward, affine_forward
from cifarflow.nn.registry import ALLOWED_LOSSES, DEFAULT_LOSS, MODEL_NAMES, OUTPUT

DEFAULT_INIT = {"softmax": "xavier", "sigmoid": "xavier", "logistic": "xavier", "mlp": "he"}
DEFAULT_HIDDEN = (100,)
DEFAULT_ACTIVATION = "relu"


class MLP(Model):
    """A feed-forward classifier: affine layers, a hidden activation, an output nonlinearity;
    without hidden layers, a linear model ('softmax', 'sigmoid', 'logistic').

    Attributes (those of `cifarflow.nn.base.Model`, and n_features, activation, spec):
        name: the spec's model name; output: 'softmax' | 'sigmoid'; loss_name: the loss's name.
        params: {'W1': (H1, D), 'b1': (H1,), ..., 'WL': (K_out, H_{L-1}), 'bL': (K_out,)}.
        weight_keys: ('W1', ..., 'WL'), the L2-regularised parameters.
        n_classes: number of classes (2 for 'logistic', which has K_out = 1 output unit).
        n_features: D; activation: the hidden activation name (None without hidden layers).
        spec: the normalised spec the model was built from (model, loss, hidden, activation,
            init, init_sigma).
    """

    def __init__(self, name, params, n_classes, loss_name, activation=None, spec=None):
        self.name = name
        self.output = OUTPUT[name]
        self.loss_name = loss_name
        self.params = params
        self.n_layers = sum(1 for k in params if k.startswith("W"))
        self.weight_keys = tuple(f"W{i}" for i in range(1, self.n_layers + 1))
        self.n_classes = n_classes
        self.n_features = params["W1"].shape[1]
        self.activation = activation if self.n_layers > 1 else None
        if self.activation is not None:
            self._act_forward, self._act_backward = ACTIVATIONS[self.activation]
        self.spec = dict(spec or {})

    def __repr__(self):
        sizes = [self.n_features] + [self.params[k].shape[0] for k in self.weight_keys]
        return (
            f"MLP({self.name!r}, layers={sizes}, activation={self.activation!r}, "
            f"output={self.output!r}, loss={self.loss_name!r}, dtype={self.dtype})"
        )

    def _input(self, x):
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.n_features:
            raise ValueError(f"x has {x.shape[1]} features, the model expects {self.n_features}")
        return x

    def forward(self, x):
        """x: (N, D) (or (N, *input_shape), flattened). Returns scores: (N, K_out), cache."""
        x = self._input(x)
        caches = []
        h = x
        for i in range(1, self.n_layers):
            a, c_aff = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
            if self.activation == "relu":  # in place; its gradient's mask h > 0 equals a > 0
                h = c_act = np.maximum(a, 0, out=a)
            else:
                h, c_act = self._act_forward(a)
            caches.append((c_aff, c_act))
        L = self.n_layers
        scores, c_aff = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
        caches.append((c_aff, None))
        return scores, caches

    def backward(self, dscores, cache):
        """dscores: (N, K_out); cache from `forward`. Returns grads with the keys of `params`
        (no regularisation term)."""
        grads = {}
        dout = dscores
        for i in range(self.n_layers, 0, -1):
            c_aff, c_act = cache[i - 1]
            if c_act is not None:
                if self.activation == "relu":  # dout is this step's own array: mask it in place
                    dout = np.multiply(dout, c_act > 0, out=dout)
                else:
                    dout = self._act_backward(dout, c_act)
            dout, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dout, c_aff, need_dx=i > 1)
        return grads

    def scores(self, x):
        """x: (N, D). Returns scores: (N, K_out), without keeping a cache."""
        h = self._input(x)
        for i in range(1, self.n_layers):
            a = h @ self.params[f"W{i}"].T
            a += self.params[f"b{i}"]
            h = np.maximum(a, 0, out=a) if self.activation == "relu" else self._act_forward(a)[0]
        L = self.n_layers
        out = h @ self.params[f"W{L}"].T
        out += self.params[f"b{L}"]
        return out


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _normalise_spec(spec, n_classes):
    """Validated (model, loss, hidden, activation, init, init_sigma) for the non-conv models."""
    name = spec["model"]
    loss = spec_value(spec, "loss", DEFAULT_LOSS[name])
    if name == "logistic" and n_classes != 2:
        raise ConfigError(
            f"n_classes {n_classes!r} does not fit model 'logistic', which needs exactly 2 "
            "classes; choose a pair of classes or another model."
        )
    hidden = ()
    activation = None
    if name == "mlp":
        hidden = spec_value(spec, "hidden", DEFAULT_HIDDEN)
        if _is_int(hidden):
            hidden = (hidden,)
        if not isinstance(hidden, (list, tuple)) or not hidden or not all(_is_int(h) and h > 0 for h in hidden):
            raise ConfigError(f"hidden {hidden!r} is not a non-empty list of positive layer sizes, e.g. hidden: [100].")
        hidden = tuple(int(h) for h in hidden)
        activation = spec_value(spec, "activation", DEFAULT_ACTIVATION)
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation {activation!r} is not supported; use 'relu' or 'softplus'.")
    init, init_sigma = init_settings(spec, DEFAULT_INIT[name])
    return {
        "model": name,
        "loss": loss,
        "hidden": list(hidden),
        "activation": activation,
        "init": init,
        "init_sigma": init_sigma,
    }


def build_model(spec, input_shape, n_classes, rng, dtype=np.float32):
    """Build a model from a config spec.

    spec: dict with 'model' (required, one of MODEL_NAMES) and optional 'loss' (default
        DEFAULT_LOSS[model], must be in ALLOWED_LOSSES[model]), 'hidden' (mlp: list of layer
        sizes, default [100]), 'activation' (mlp: 'relu' (default) | 'softplus'), 'init'
        ('he': N(0, 2/fan_in), 'xavier': N(0, 1/fan_in), 'normal': N(0, init_sigma^2);
        default 'he' for mlp, 'xavier' for the linear models), 'init_sigma' (standard deviation
        for init 'normal', default 0.01). Other keys are ignored; None means the default.
        Biases start at zero.
    input_shape: e.g. (32, 32, 3); inputs arrive flattened as (N, prod(input_shape)).
    n_classes: K (must be 2 for 'logistic', which has one output unit).
    rng: np.random.Generator. dtype: np.float32 (default) or np.float64.
    Returns an MLP (for 'convnet', a cifarflow.nn.convnet.ConvNet), a cifarflow.nn.base.Model.
    Raises ConfigError for a bad key value.
    """
    if not isinstance(spec, dict):
        raise ConfigError(f"model spec {spec!r} is not a mapping with at least a 'model' key.")
    name = spec.get("model")
    if name not in MODEL_NAMES:
        raise ConfigError(f"model {name!r} is not a known model; use one of {', '.join(map(repr, MODEL_NAMES))}.")
    loss = spec_value(spec, "loss", DEFAULT_LOSS[name])
    if loss not in ALLOWED_LOSSES[name]:
        allowed = ", ".join(map(repr, sorted(ALLOWED_LOSSES[name])))
        raise ConfigError(f"loss {loss!r} is not allowed for model {name!r}; use one of {allowed}.")
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ConfigError(f"dtype {dtype.name!r} is not supported; use 'float32' or 'float64'.")
    if not _is_int(n_classes) or n_classes < 2:
        raise ConfigError(f"n_classes {n_classes!r} is not an integer >= 2.")
    if name == "convnet":
        return build_convnet(spec, input_shape, n_classes, rng, dtype)

    norm = _normalise_spec(spec, n_classes)
    n_features = int(np.prod(input_shape))
    if n_features < 1:
        raise ConfigError(f"input_shape {tuple(input_shape)!r} has no features.")
    n_out = 1 if name == "logistic" else n_classes
    sizes = [n_features, *norm["hidden"], n_out]
    params = {}
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        params[f"W{i}"] = init_weight(rng, (fan_out, fan_in), norm["init"], norm["init_sigma"], dtype)
        params[f"b{i}"] = np.zeros(fan_out, dtype=dtype)
    return MLP(name, params, int(n_classes), loss, norm["activation"], norm)
