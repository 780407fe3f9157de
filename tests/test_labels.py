"""Display labels of variants (issue 31): derived from the settings that tell a variant apart within
its set (and, for a grid member, its grid values), or given by `label:`; never a training setting."""

import copy
from pathlib import Path

import pytest
import yaml

from cifarflow.config import (
    LABEL_PATTERN,
    check_config,
    label_part,
    load_schema,
    plan_spec,
    resolve_comparisons,
    resolve_paired,
    resolve_variants,
    training_settings,
    unique_labels,
    validate_config,
    variant_labels,
)
from cifarflow.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def shipped():
    cfg = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    cfg["run"] = None  # every set, the searches' too
    return cfg


def labels_of(cfg):
    check_config(cfg)
    return variant_labels(cfg, resolve_variants(cfg))


def config(*variants, **extra):
    cfg = {
        "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
        "augmentations": {"none": {}, "flip_p05": {"flip": 0.5}},
        "defaults": {"epochs": 3},
        "experiments": {"s": {"variants": [copy.deepcopy(v) for v in variants]}},
    }
    cfg.update(extra)
    return cfg


def test_the_shipped_configs_labels_are_short_and_say_what_differs():
    labels = labels_of(shipped())
    assert labels["bonus-softmax-augmentationflip_p05-lambda0.01"] == "softmax, flip_p05, λ 0.01"
    assert labels["bonus-sigmoid-lambda0"] == "sigmoid, λ 0"
    assert labels["t-softmax-l2-lambda0.001"] == "softmax, λ 0.001"
    assert labels["t-softmax"] == "softmax"  # the grid's members add their lambda: no clash with lambda 0
    assert labels["t-logistic-noshuffle"] == "logistic, no shuffle"
    # an entry names a setting only where another entry needs it told apart
    assert labels["a1-lam0-eta0.1"] == "λ 0, η 0.1" and labels["a1-lam1-eta0.001"] == "λ 1"
    assert [labels[n] for n in ("h3-relu", "h3-softplus", "h3-relu-mse")] == [
        "relu, cross_entropy",
        "softplus",
        "relu, mse",
    ]
    assert [labels[n] for n in ("conv-patchify", "conv-small")] == ["patchify", "small"]
    cfg = shipped()
    variants = resolve_variants(cfg)
    for s in cfg["experiments"]:
        own = [labels[n] for n, v in variants.items() if v["set"] == s]
        assert len(set(own)) == len(own), s  # unique within every set
    assert all(len(t) <= 60 for t in labels.values())


def test_a_given_label_is_used_and_a_grids_label_heads_its_members():
    cfg = config(
        {"name": "a", "label": "Baseline (no L2)"},
        {"name": "g", "label": "Tuned", "grid": {"lambda": [0.001, 0.1]}},
        {"name": "h", "grid": {"lambda": [0, 0.1], "augmentation": ["none", "flip_p05"]}},
    )
    labels = labels_of(cfg)
    assert labels["a"] == "Baseline (no L2)"
    assert labels["g-lambda0.001"] == "Tuned, λ 0.001" and labels["g-lambda0.1"] == "Tuned, λ 0.1"
    # a grid alone among entries that share its fixed settings: its values tell its members apart
    assert labels["h-lambda0.1-augmentationflip_p05"] == "λ 0.1, flip_p05"


def test_a_label_is_no_training_setting_and_no_plan_setting():
    plain = resolve_variants(config({"name": "a", "lambda": 0.1}, {"name": "g", "grid": {"lambda": [0, 1]}}))
    named = resolve_variants(
        config({"name": "a", "lambda": 0.1, "label": "A"}, {"name": "g", "label": "G", "grid": {"lambda": [0, 1]}})
    )
    assert named["a"]["label"] == "A" and plain["a"]["label"] is None
    for n in ("a", "g-lambda0", "g-lambda1"):
        # the train job's params: identical, so a label never reruns (nor changes) a run
        assert training_settings(named[n], 0) == training_settings(plain[n], 0)
        assert "label" not in training_settings(named[n], 0)
        assert plan_spec(named[n], config()) == plan_spec(plain[n], config())


@pytest.mark.parametrize(
    "label",
    ["", " lead", "trail ", "a\nb", "tab\there", "x\n", "<b>", "a & b", "a > b", "x" * 61, "del\x7f", 3, ["x"]],
)
def test_a_bad_label_is_one_line_naming_the_key(label):
    cfg = config({"name": "a", "label": label})
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert str(err.value).startswith("config key experiments.s.variants[0].label"), str(err.value)


@pytest.mark.parametrize("label", ["softmax, λ = 0.01", "x" * 60, "a (b) [c] $d$ | e", "Ünïcode ✓"])
def test_a_good_label_is_accepted_as_written(label):
    cfg = config({"name": "a", "label": label}, {"name": "b", "lambda": 0.5})
    assert labels_of(cfg)["a"] == label


@pytest.mark.parametrize("where", ["defaults", "overrides"])
def test_a_label_belongs_to_a_variant_not_to_defaults_or_overrides(where):
    cfg = config({"name": "a"}, **{where: {"epochs": 3, "label": "everyone"}})
    with pytest.raises(ConfigError, match=rf"config key {where}"):
        check_config(cfg)


def test_a_grid_cannot_vary_the_label():
    cfg = config({"name": "g", "grid": {"label": ["x", "y"]}})
    with pytest.raises(ConfigError, match=r"variants\[0\]\.grid\.label"):
        validate_config(cfg)


def test_two_variants_of_a_set_given_one_label_is_an_error_but_two_sets_may_share_it():
    cfg = config({"name": "a", "label": "same"}, {"name": "b", "lambda": 0.1, "label": "same"})
    with pytest.raises(ConfigError, match=r"variants\[1\]\.label: label 'same' is also the label of .*variants\[0\]"):
        labels_of(cfg)
    cfg = config({"name": "a", "label": "same"})
    cfg["experiments"]["t"] = {"variants": [{"name": "b", "label": "same"}]}
    assert labels_of(cfg) == {"a": "same", "b": "same"}


def test_labels_that_would_be_shared_fall_back_to_the_names():
    # identical settings: nothing tells them apart, so their derived labels match -> names
    labels = labels_of(config({"name": "a"}, {"name": "b"}, {"name": "c", "lambda": 0.5}))
    assert labels == {"a": "a", "b": "b", "c": "λ 0.5"}
    # a given label that another variant's derived label matches: the given one is kept
    labels = labels_of(config({"name": "a", "lambda": 0.5}, {"name": "b", "label": "λ 0.5"}))
    assert labels == {"a": "a", "b": "λ 0.5"}
    # a single variant: nothing to tell apart, its name
    assert labels_of(config({"name": "only", "lambda": 0.5})) == {"only": "only"}


def test_a_derived_label_longer_than_60_characters_is_the_name():
    many = {"lambda": 0.123456, "eta": 0.0123456, "momentum": 0.987654, "batch_size": 7, "init_sigma": 0.0777}
    # `a` differs from each other variant in one setting: its label would name all five
    others = [{"name": f"b{i}", **many, k: 0.5 if k != "batch_size" else 9} for i, k in enumerate(many)]
    labels = labels_of(config({"name": "a", **many}, *others))
    assert labels["a"] == "a"
    assert all(len(labels[o["name"]]) <= 60 for o in others) and len(set(labels.values())) == len(labels)


def test_unique_labels_keeps_unique_ones_and_names_the_rest():
    names = ["a", "b", "c", "d"]
    assert unique_labels(names, {"a": "x", "b": "x", "c": "y"}) == {"a": "a", "b": "b", "c": "y", "d": "d"}
    assert unique_labels(names, {"a": "x", "b": "x"}, keep={"b"}) == {"a": "a", "b": "x", "c": "c", "d": "d"}
    # a label equal to another variant's name: both end up as names, still unique
    assert unique_labels(["a", "b"], {"a": "b"}) == {"a": "a", "b": "b"}


@pytest.mark.parametrize(
    ("key", "value", "text"),
    [
        ("lambda", 0.01, "λ 0.01"),
        ("lambda", 0, "λ 0"),
        ("eta", 1e-05, "η 1e-05"),
        ("model", "softmax", "softmax"),
        ("augmentation", "flip_p05", "flip_p05"),
        ("shuffle", False, "no shuffle"),
        ("test_flip", True, "test flip"),
        ("hidden", [512, 256], "hidden 512x256"),
        ("classes", ["cat", "dog"], "cat/dog"),
        ("classes", None, "all classes"),
        ("epochs", 40, "40 epochs"),
        ("batch_size", 100, "batch 100"),
        ("early_stopping", {"monitor": "val_loss", "patience": 5}, "early stopping (val_loss, patience 5)"),
        ("early_stopping", None, "no early stopping"),
        ("momentum", 0.9, "momentum 0.9"),
    ],
)
def test_label_parts_read_as_a_person_writes_them(key, value, text):
    assert label_part(key, value) == text


def test_the_schema_and_the_code_share_the_label_pattern():
    assert load_schema()["$defs"]["variant"]["properties"]["label"]["pattern"] == LABEL_PATTERN


def test_questions_keep_their_derived_labels_and_take_given_ones():
    def questions(cfg):
        variants = resolve_variants(cfg)
        return resolve_paired(cfg, variants, resolve_comparisons(cfg, variants))[1]

    q = {"name": "q", "kind": "compare", "variants": ["a", "b"]}
    cfg = config({"name": "a", "momentum": 0.9}, {"name": "b"})
    cfg["experiments"]["s"]["questions"] = [q]
    assert questions(cfg)["q"]["labels"] == ["momentum = 0.9", "momentum = 0"]  # as before labels existed
    cfg = config({"name": "a", "momentum": 0.9, "label": "with momentum"}, {"name": "b"})
    cfg["experiments"]["s"]["questions"] = [q]
    assert questions(cfg)["q"]["labels"] == ["with momentum", "momentum = 0"]
    cfg["experiments"]["s"]["questions"] = [dict(q, labels=["A", "B"])]  # the question's own labels win
    assert questions(cfg)["q"]["labels"] == ["A", "B"]


def test_check_config_accepts_labels(tmp_path):
    from cifarflow.cli import main

    cfg = config({"name": "a", "label": "softmax, λ 0.01"}, {"name": "b", "lambda": 0.1})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
