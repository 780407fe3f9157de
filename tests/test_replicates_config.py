"""Replicate seeds and the write-ups' questions in the config: resolution and one-line errors."""

import copy

import pytest

from cifarflow.config import (
    check_config,
    plan_id,
    plan_spec,
    resolve_comparisons,
    resolve_paired,
    resolve_variants,
    training_settings,
    validate_config,
)
from cifarflow.errors import ConfigError


def config(**extra):
    cfg = {
        "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
        "augmentations": {"none": {}, "f2": {"flip": 0.2}, "f5": {"flip": 0.5}},
        "defaults": {"epochs": 3, "seed": 4},
        "experiments": {
            "s": {
                "variants": [
                    {"name": "a"},
                    {"name": "b", "model": "sigmoid"},
                    {"name": "g", "grid": {"lambda": [0, 0.1, 1]}},
                ],
                "comparisons": [{"name": "ab", "type": "per_class", "variants": ["a", "b"]}],
            }
        },
    }
    for k, v in extra.items():
        cfg[k] = v
    return cfg


def with_set(cfg, **keys):
    cfg = copy.deepcopy(cfg)
    cfg["experiments"]["s"].update(keys)
    return cfg


def test_without_replicates_every_variant_has_its_one_seed():
    v = resolve_variants(config())
    assert {n: x["seeds"] for n, x in v.items()} == {n: [4] for n in v}
    assert "replicates" not in v["a"]


def test_seeds_and_replicates_resolve_most_specific_layer_first():
    cfg = config()
    cfg["defaults"]["replicates"] = 2  # 4, 5
    cfg["experiments"]["s"]["defaults"] = {"seeds": [7, 3]}
    cfg["experiments"]["s"]["variants"][0]["replicates"] = 3
    cfg["experiments"]["s"]["variants"][0]["seed"] = 10
    v = resolve_variants(cfg)
    assert v["a"]["seeds"] == [10, 11, 12]  # the variant's replicates, from its own seed
    assert v["b"]["seeds"] == [7, 3]  # the set's seeds beat the top-level replicates
    cfg["experiments"]["s"].pop("defaults")
    assert resolve_variants(cfg)["b"]["seeds"] == [4, 5]


def test_overrides_seeds_win():
    cfg = config(overrides={"seeds": [1]})
    cfg["experiments"]["s"]["variants"][0]["replicates"] = 3
    assert resolve_variants(cfg)["a"]["seeds"] == [1]


@pytest.mark.parametrize(
    "value, message",
    [
        ([1, 1], "non-unique"),
        ([-1], "seeds"),
        (list(range(101)), "seeds"),
        ([], "seeds"),
        (["x"], "seeds"),
    ],
)
def test_bad_seeds_are_one_line_errors_naming_the_key(value, message):
    cfg = config()
    cfg["experiments"]["s"]["variants"][0]["seeds"] = value
    with pytest.raises(ConfigError, match=message) as exc:
        check_config(cfg)
        resolve_variants(cfg)
    text = str(exc.value)
    assert "\n" not in text and "experiments.s.variants[0]" in text


def test_seeds_and_replicates_in_one_place_is_an_error():
    cfg = config()
    cfg["experiments"]["s"]["variants"][0].update(seeds=[1, 2], replicates=2)
    with pytest.raises(ConfigError, match=r"experiments.s.variants\[0\].seeds .*not both"):
        resolve_variants(cfg)


def test_replicates_above_the_limit_fail_the_schema():
    cfg = config()
    cfg["defaults"]["replicates"] = 101
    with pytest.raises(ConfigError, match="defaults.replicates"):
        check_config(cfg)


def test_training_settings_leave_out_seeds_and_group_and_keep_today_s_variant():
    cfg = config()
    one = resolve_variants(cfg)["a"]
    cfg["defaults"]["seeds"] = [4, 5, 6]
    cfg["defaults"]["group"] = "short"
    three = resolve_variants(cfg)["a"]
    # seed 4 of three replicates trains exactly what the single-seed config trains
    assert training_settings(three, 4) == training_settings(one, 4)
    assert "seeds" not in training_settings(three, 5) and "group" not in training_settings(three, 5)
    assert training_settings(three, 5)["seed"] == 5
    ids = {plan_id(plan_spec(training_settings(three, s), cfg)) for s in three["seeds"]}
    assert len(ids) == 3  # its own epoch plan per seed


def test_comparisons_of_two_or_more_variants_get_paired_tables():
    cfg = config()
    cfg["experiments"]["s"]["comparisons"].append({"name": "lam", "type": "vs_lambda", "grid": "g"})
    cfg["experiments"]["s"]["comparisons"].append(
        {"name": "off", "type": "curves", "variants": ["a", "b"], "paired": False}
    )
    _, variants, comps = validate_config(cfg)
    tables, questions = resolve_paired(cfg, variants, comps)
    assert set(tables) == {"ab", "lam"} and not questions
    assert tables["lam"]["pairs"] == [
        ["g-lambda0", "g-lambda0.1"],
        ["g-lambda0", "g-lambda1"],
        ["g-lambda0.1", "g-lambda1"],
    ]


def test_every_question_gets_its_own_table_with_derived_labels_and_looks():
    cfg = with_set(
        config(),
        questions=[
            {"name": "q-sm", "kind": "softmax_vs_sigmoid", "variants": ["a", "b"]},
            {"name": "q-lam", "kind": "lambda", "grid": "g"},
        ],
        pairs=[["a", "g-lambda1"]],
    )
    _, variants, comps = validate_config(cfg)
    tables, questions = resolve_paired(cfg, variants, comps)
    # a question reads its own runs (seeds it may add), so it never shares a comparison's table
    assert questions["q-sm"]["table"] == "q-sm" and tables["q-sm"]["pairs"] == [["a", "b"]]
    assert tables["ab"]["pairs"] == [["a", "b"]]
    assert questions["q-lam"]["table"] == "q-lam" and len(tables["q-lam"]["pairs"]) == 3
    assert questions["q-lam"]["labels"] == ["lambda = 0", "lambda = 0.1", "lambda = 1"]
    assert questions["q-sm"]["decide"] is None and questions["q-sm"]["min_effect"] == 0.005
    assert tables["s-pairs"]["pairs"] == [["a", "g-lambda1"]]


@pytest.mark.parametrize(
    "question, key, message",
    [
        ({"name": "q", "kind": "softmax_vs_sigmoid", "variants": ["b", "a"]}, "questions[0].variants", "softmax"),
        ({"name": "q", "kind": "flip", "variants": ["a", "b"]}, "questions[0].variants", "p = 0.2"),
        ({"name": "q", "kind": "shuffle", "variants": ["a", "nope"]}, "questions[0].variants", "unknown variant"),
        ({"name": "q", "kind": "ce_vs_mse", "variants": ["a", "b", "g-lambda0"]}, "questions[0].variants", "two"),
        ({"name": "q", "kind": "lambda", "variants": ["a", "g-lambda0"]}, "questions[0].variants", "different lambda"),
        ({"name": "q", "kind": "flip", "grid": "g"}, "questions[0].grid", "only a sweep"),
        ({"name": "q", "kind": "sweep", "grid": "g"}, "questions[0].setting", "names the setting"),
        ({"name": "q", "kind": "sweep", "grid": "g", "setting": "eta"}, "questions[0].variants", "different eta"),
        (
            {"name": "q", "kind": "compare", "variants": ["a", "b"], "setting": "eta"},
            "questions[0].setting",
            "only a sweep",
        ),
        ({"name": "q", "kind": "compare", "variants": ["a", "b"], "labels": ["x"]}, "questions[0].labels", "one label"),
        (
            {"name": "q", "kind": "compare", "variants": ["a", "b"], "decide": {"max_seeds": 1}},
            "questions[0].decide.max_seeds",
            "minimum",
        ),
        (
            {"name": "q", "kind": "compare", "variants": ["a", "b"], "decide": {"max_seeds": 99}},
            "questions[0].decide.max_seeds",
            "maximum",
        ),
        ({"name": "q", "kind": "why", "variants": ["a", "b"]}, "questions[0].kind", "why"),
        ({"name": "ab", "kind": "lambda", "grid": "g"}, "questions[0].name", "also the name"),
    ],
)
def test_bad_questions_are_refused_before_any_job(question, key, message):
    cfg = with_set(config(), questions=[question])
    with pytest.raises(ConfigError, match=message) as exc:
        _, variants, comps = validate_config(cfg)
        resolve_paired(cfg, variants, comps)
    assert f"experiments.s.{key}" in str(exc.value) and "\n" not in str(exc.value)


def test_pairs_naming_an_unknown_variant_are_refused():
    cfg = with_set(config(), pairs=[["a", "zz"]])
    variants = resolve_variants(cfg)
    with pytest.raises(ConfigError, match=r"experiments.s.pairs\[0\]: unknown variant 'zz'"):
        resolve_paired(cfg, variants, resolve_comparisons(cfg, variants))


def test_paired_tests_need_the_same_test_images():
    cfg = with_set(
        config(),
        variants=[{"name": "a"}, {"name": "cd", "model": "logistic", "classes": ["cat", "dog"]}],
        comparisons=[{"name": "x", "type": "curves", "variants": ["a", "cd"]}],
    )
    variants = resolve_variants(cfg)
    with pytest.raises(ConfigError, match="paired: false"):
        resolve_paired(cfg, variants, resolve_comparisons(cfg, variants))


def test_decide_plans_its_looks_and_statistics_max_seeds_caps_them():
    q = {"name": "q", "kind": "compare", "variants": ["a", "b"], "decide": {"max_seeds": 10, "batch": 3}}
    cfg = with_set(config(), questions=[q])
    _, variants, comps = validate_config(cfg)
    n_own = len(variants["a"]["seeds"])
    decide = resolve_paired(cfg, variants, comps)[1]["q"]["decide"]
    looks = [n_own + e for e in decide["extra"]]
    assert looks[0] == n_own and looks[-1] == 10 and all(b - a <= 3 for a, b in zip(looks, looks[1:]))
    cfg["statistics"] = {"max_seeds": n_own + 1}
    assert resolve_paired(cfg, variants, comps)[1]["q"]["decide"]["extra"] == [0, 1]
    cfg["statistics"] = {"max_seeds": n_own}  # at or below the own seeds: one look, no added seeds
    assert resolve_paired(cfg, variants, comps)[1]["q"]["decide"] is None
