"""The one registry of models: their losses (the first is the default), their output and whether
they are linear (one weight matrix whose rows are class templates).

Config checks (`cifarflow.config`), model construction (`nn.models.build_model`,
`nn.convnet.build_convnet`) and the report (class templates) read it; the config schema's enums
are tested against it. To add a model, add an entry here (see README, "Adding a model").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelEntry:
    losses: tuple  # allowed losses, the default first
    output: str  # 'softmax' | 'sigmoid': the nonlinearity the loss and the probabilities apply
    linear: bool  # a single affine layer: W1's rows are class templates


MODELS = {
    "softmax": ModelEntry(("cross_entropy", "mse"), "softmax", True),
    "sigmoid": ModelEntry(("multi_bce", "mse"), "sigmoid", True),
    "logistic": ModelEntry(("bce", "mse"), "sigmoid", True),
    "mlp": ModelEntry(("cross_entropy", "mse"), "softmax", False),
    "convnet": ModelEntry(("cross_entropy", "mse"), "softmax", False),
}

MODEL_NAMES = tuple(MODELS)
MODEL_LOSSES = {name: m.losses for name, m in MODELS.items()}
DEFAULT_LOSS = {name: m.losses[0] for name, m in MODELS.items()}
ALLOWED_LOSSES = MODEL_LOSSES
OUTPUT = {name: m.output for name, m in MODELS.items()}
LINEAR_MODELS = tuple(name for name, m in MODELS.items() if m.linear)
