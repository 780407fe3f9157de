"""The model registry and the model contract: one table that the schema, config checks, model
construction and the report agree with, and one base class (`cifarflow.nn.base.Model`) every
registered model derives from and follows."""

import numpy as np
import pytest

from cifarflow import config
from cifarflow.config import questions, variants
from cifarflow.nn import registry
from cifarflow.nn.base import Model, predict_from_scores
from cifarflow.nn.losses import LOSS_NAMES, get_loss
from cifarflow.nn.models import build_model
from cifarflow.report.compare import COMPARISONS

SCHEMA = config.load_schema()


def _schema_objects(node):
    """Every dict (schema object) in `node`, depth first, each before the ones it holds."""
    if isinstance(node, dict):
        yield node
        children = node.values()
    elif isinstance(node, list):
        children = node
    else:
        return
    for v in children:
        yield from _schema_objects(v)


def _settings_properties():
    """The `model`/`loss` properties of the schema, wherever the schema keeps them."""
    found = {}
    for node in _schema_objects(SCHEMA):
        props = node.get("properties")
        if isinstance(props, dict) and "model" in props and "loss" in props:
            found.update(props)
    return found


def _comparison_types():
    types = []
    for node in _schema_objects(SCHEMA):
        t = node.get("properties", {}).get("type") if isinstance(node.get("properties"), dict) else None
        if isinstance(t, dict) and "enum" in t and "per_class" in t["enum"]:
            types.extend(t["enum"])
    return types


def test_schema_model_and_loss_enums_are_the_registry():
    props = _settings_properties()
    assert props["model"]["enum"] == list(registry.MODEL_NAMES)
    schema_losses = {x for x in props["loss"]["enum"] if x is not None}
    assert schema_losses == {loss for m in registry.MODELS.values() for loss in m.losses} == set(LOSS_NAMES)


def test_schema_comparison_types_are_the_report_dispatch_table():
    assert sorted(_comparison_types()) == sorted(COMPARISONS)


def test_config_reads_the_registry():
    assert variants.MODEL_LOSSES is registry.MODEL_LOSSES
    assert questions.LINEAR_MODELS is registry.LINEAR_MODELS == ("softmax", "sigmoid", "logistic")


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_every_loss_of_a_model_fits_its_output(name):
    entry = registry.MODELS[name]
    for loss in entry.losses:
        assert callable(get_loss(loss, entry.output))


def _spec(name, loss):
    spec = {"model": name, "loss": loss}
    if name == "mlp":
        spec["hidden"] = [5]
    if name == "convnet":
        spec["layers"] = [
            {"conv": {"filters": 2, "size": 3, "pad": 1}},
            "relu",
            {"pool": {"size": 2}},
            {"fc": {}},
        ]
    return spec


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_every_registered_model_follows_the_contract(name):
    n_classes = 2 if name == "logistic" else 4
    rng = np.random.default_rng(0)
    for loss in registry.MODELS[name].losses:
        model = build_model(
            _spec(name, loss),
            (4, 4, 3),
            n_classes,
            np.random.default_rng(1),
            np.float64,
        )
        assert isinstance(model, Model)
        assert model.loss_name == loss and model.output == registry.OUTPUT[name]
        assert model.n_params == sum(v.size for v in model.params.values())
        x = rng.standard_normal((6, 48))
        y = rng.integers(0, n_classes, 6)
        scores, cache = model.forward(x)
        np.testing.assert_array_equal(model.scores(x), scores)
        assert set(model.backward(np.ones_like(scores), cache)) == set(model.params)
        loss_value, cost, grads = model.loss(x, y, 0.1)
        assert cost == pytest.approx(loss_value + 0.1 * model.weight_norm2(), rel=1e-12)
        assert set(grads) == set(model.params)
        assert model.probabilities(x).shape == (6, n_classes)
        np.testing.assert_array_equal(model.predict(x), predict_from_scores(scores))
        assert model.weight_norm2() == pytest.approx(
            sum(float(np.sum(model.params[k] ** 2)) for k in model.weight_keys)
        )
        assert all(k.startswith("W") for k in model.weight_keys)
