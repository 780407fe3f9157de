"""Config resolution: defaults, grids, names, and one-line errors naming the key."""

import copy
from pathlib import Path

import pytest
import yaml

from cifarflow.config import (
    check_config,
    expand_grid,
    plan_id,
    plan_spec,
    resolve_comparisons,
    resolve_variants,
)
from cifarflow.errors import ConfigError

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"


def base_config(**extra):
    cfg = {
        "splits": {"full": {"type": "holdout", "val_size": 100, "seed": 0}},
        "augmentations": {"none": {}, "flip": {"flip": 0.5}},
        "defaults": {"epochs": 3},
        "experiments": {
            "s1": {
                "defaults": {"eta": 0.01},
                "variants": [
                    {"name": "a", "lambda": 0.1},
                    {"name": "g", "grid": {"lambda": [0, 0.01], "augmentation": ["none", "flip"]}},
                ],
            }
        },
    }
    cfg.update(extra)
    return cfg


def test_shipped_config_validates_and_resolves():
    cfg = yaml.safe_load(CONFIG.read_text())
    check_config(cfg)
    variants = resolve_variants(cfg)
    assert len(variants) >= 20
    assert all(v["loss"] for v in variants.values())


def test_settings_resolve_defaults_then_set_then_variant_then_overrides():
    cfg = base_config(overrides={"epochs": 1})
    v = resolve_variants(cfg)
    assert v["a"]["eta"] == 0.01  # set default beats global default
    assert v["a"]["lambda"] == 0.1  # variant beats set default
    assert v["a"]["epochs"] == 1  # overrides beat everything
    assert v["a"]["batch_size"] == 100  # schema default
    assert v["a"]["loss"] == "cross_entropy"  # the model's natural loss


def test_grid_expands_to_stable_readable_names():
    names = [n for n, _ in expand_grid({"name": "g", "grid": {"lambda": [0, 0.01], "augmentation": ["none", "flip"]}})]
    assert names == [
        "g-lambda0-augmentationnone",
        "g-lambda0-augmentationflip",
        "g-lambda0.01-augmentationnone",
        "g-lambda0.01-augmentationflip",
    ]
    v = resolve_variants(base_config())
    assert v["g-lambda0.01-augmentationflip"]["lambda"] == 0.01
    assert v["g-lambda0.01-augmentationflip"]["augmentation"] == "flip"


@pytest.mark.parametrize(
    "patch, key",
    [
        ({"lamda": 1}, "variants[0]"),
        ({"model": "svm"}, "variants[0].model"),
        ({"eta": -0.1}, "variants[0].eta"),
        ({"eta": 0}, "variants[0].eta"),
        ({"batch_size": 0}, "variants[0].batch_size"),
        ({"epochs": 0}, "variants[0].epochs"),
        ({"lambda": -1}, "variants[0].lambda"),
        ({"split": "nosuch"}, "variants[0].split"),
        ({"augmentation": "nosuch"}, "variants[0].augmentation"),
        ({"loss": "multi_bce"}, "variants[0].loss"),
        ({"loss": "hinge"}, "variants[0].loss"),
        ({"model": "logistic"}, "variants[0].classes"),
        ({"eval_train": 0}, "variants[0].eval_train"),
        ({"eval_train": "half"}, "variants[0].eval_train"),
    ],
)
def test_bad_variant_setting_is_a_one_line_error_naming_the_key(patch, key):
    cfg = base_config()
    cfg["experiments"]["s1"]["variants"][0].update(patch)
    with pytest.raises(ConfigError) as exc:
        check_config(cfg)
        resolve_variants(cfg)
    msg = str(exc.value)
    assert "\n" not in msg
    assert f"experiments.s1.{key}" in msg


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match="lokal_archive"):
        check_config(base_config(lokal_archive="x"))


def test_two_variants_with_the_same_name_are_rejected():
    cfg = base_config()
    cfg["experiments"]["s2"] = {"variants": [{"name": "a"}]}
    with pytest.raises(ConfigError, match="second variant named 'a'"):
        resolve_variants(cfg)


def test_grid_that_expands_to_a_name_clash_is_rejected():
    cfg = base_config()
    cfg["experiments"]["s1"]["variants"].append({"name": "g-lambda0", "grid": {"augmentation": ["none"]}})
    with pytest.raises(ConfigError, match="grid that expands to 'g-lambda0-augmentationnone'"):
        resolve_variants(cfg)


def test_bad_grid_value_names_the_variant():
    cfg = base_config()
    cfg["experiments"]["s1"]["variants"][1]["grid"] = {"lambda": [0, -1]}
    with pytest.raises(ConfigError, match=r"variants\[1\]\.lambda \(variant g-lambda-1\)"):
        resolve_variants(cfg)


def test_run_selects_sets_and_rejects_unknown_ones():
    cfg = base_config()
    cfg["experiments"]["s2"] = {"variants": [{"name": "b"}]}
    assert set(resolve_variants(dict(cfg, run=["s2"]))) == {"b"}
    with pytest.raises(ConfigError, match="unknown experiment set 'nope'"):
        resolve_variants(dict(cfg, run=["nope"]))


def test_comparisons_resolve_grids_and_reject_unknown_variants():
    cfg = base_config()
    cfg["experiments"]["s1"]["comparisons"] = [{"name": "c", "type": "vs_lambda", "grid": "g"}]
    variants = resolve_variants(cfg)
    comps = resolve_comparisons(cfg, variants)
    assert len(comps["c"]["variants"]) == 4
    cfg["experiments"]["s1"]["comparisons"] = [{"name": "c", "type": "per_class", "variants": ["zzz"]}]
    with pytest.raises(ConfigError, match="unknown variant 'zzz'"):
        resolve_comparisons(cfg, variants)


def test_plans_are_shared_exactly_when_their_inputs_agree():
    cfg = base_config()
    v = resolve_variants(cfg)
    ids = {n: plan_id(plan_spec(x, cfg)) for n, x in v.items()}
    # lambda does not change the plan, the augmentation does
    assert ids["g-lambda0-augmentationflip"] == ids["g-lambda0.01-augmentationflip"]
    assert ids["g-lambda0-augmentationflip"] != ids["g-lambda0-augmentationnone"]
    other = copy.deepcopy(v["a"])
    other["seed"] = 1
    assert plan_id(plan_spec(other, cfg)) != ids["a"]


def test_a_translation_fill_enters_the_plan_spec_only_when_it_is_not_zero():
    cfg = base_config(
        augmentations={
            "z": {"translate": 2},
            "e": {"translate": 2, "fill": "edge"},
            "f": {"flip": 0.5, "fill": "reflect"},
        }
    )
    cfg["experiments"]["s1"]["variants"] = [{"name": n, "augmentation": n} for n in ("z", "e", "f")]
    check_config(cfg)
    variants = resolve_variants(cfg)
    specs = {n: plan_spec(variants[n], cfg) for n in ("z", "e", "f")}
    assert "fill" not in specs["z"] and "fill" not in specs["f"]  # no shift: nothing to fill
    assert specs["e"]["fill"] == "edge"


def test_an_unknown_fill_is_a_one_line_error_naming_the_key():
    with pytest.raises(ConfigError) as exc:
        check_config(base_config(augmentations={"none": {}, "t": {"translate": 1, "fill": "wrap"}}))
    assert "augmentations.t.fill" in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("value", [1, 10000, "all", None])
def test_eval_train_takes_a_count_all_or_null(value):
    cfg = base_config()
    cfg["experiments"]["s1"]["variants"][0]["eval_train"] = value
    check_config(cfg)
    assert resolve_variants(cfg)["a"]["eval_train"] == value


# ---- search blocks (issue 17) -------------------------------------------------------------------


def search_block(**changes):
    block = {
        "name": "lam",
        "method": "coarse_to_fine",
        "n": 3,
        "rounds": 2,
        "top_k": 2,
        "base": {"model": "softmax"},
        "space": {"lambda": {"log_uniform": [1.0e-4, 1.0]}, "eta": {"log_uniform": [1.0e-3, 1.0e-1]}},
        "final": {"seeds": [101, 102]},
    }
    block.update(changes)
    return block


def search_config(block=None, **extra):
    cfg = base_config(**extra)
    cfg["experiments"]["srch"] = {"search": block or search_block()}
    return cfg


def test_a_set_with_a_search_needs_no_variants_and_resolves_its_search():
    from cifarflow.config import resolve_searches

    cfg = search_config(run=["srch"])
    check_config(cfg)
    assert resolve_variants(cfg) == {}
    (search,) = resolve_searches(cfg).values()
    assert search["name"] == "lam" and search["margin"] == 0.1  # defaults filled in


def test_a_set_with_neither_variants_nor_search_is_named():
    cfg = base_config()
    cfg["experiments"]["empty"] = {"title": "nothing"}
    with pytest.raises(ConfigError, match=r"^config key experiments\.empty: a set needs `variants`, a `search`"):
        check_config(cfg)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"method": "bayes"}, r"experiments\.srch\.search\.method"),
        ({"space": {"lamda": {"uniform": [0, 1]}}}, r"experiments\.srch\.search\.space\.lamda: not a variant setting"),
        (
            {"space": {"eta": {"log_uniform": [0.1, 0.01]}}},
            r"experiments\.srch\.search\.space\.eta\.log_uniform: lo must",
        ),
        ({"top_k": 5}, r"experiments\.srch\.search\.top_k"),
        ({"base": {"model": "softmx"}}, r"experiments\.srch\.search\.base\.model"),
        ({"final": {"seeds": [0]}}, r"experiments\.srch\.search\.final\.seeds: seed 0 is the trials' own seed"),
        ({"space": {"eta": {"uniform": [-1.0, 1.0]}}}, r"experiments\.srch\.search\.space\.eta\.uniform: -1\.0 is not"),
        ({"space": {"epochs": {"uniform": [1.0, 3.0]}}}, r"experiments\.srch\.search"),
    ],
)
def test_bad_search_blocks_are_one_line_errors_naming_the_key(change, key):
    from cifarflow.config import validate_config

    cfg = search_config(search_block(**change))
    with pytest.raises(ConfigError, match=key) as exc:
        validate_config(cfg)
    assert "\n" not in str(exc.value)


def test_search_plans_cover_every_plan_a_search_can_ask_for():
    from cifarflow.config import resolve_searches, search_plans, search_variant
    from cifarflow.training import search as S

    block = search_block(
        method="successive_halving",
        n=4,
        reduction=2,
        min_epochs=1,
        max_epochs=4,
        base={"model": "softmax", "batch_size": 10},
        space={"train_limit": {"int": [50, 52]}},
    )
    cfg = search_config(block, run=["srch"])
    search = resolve_searches(cfg)["srch"]
    plans = search_plans(cfg, "srch", search)
    # rungs 1, 2, 4 epochs x 3 training limits x the trials' seed and the two final seeds
    assert len(plans) == 3 * 3 * 3
    scores = {}
    for r in range(1, S.n_rounds(search) + 1):
        for t in S.trials_for_round("srch", search, r, scores):
            v = search_variant(cfg, "srch", search, t.settings, t.name)
            assert plan_id(plan_spec(v, cfg)) in plans
            scores[t.name] = t.index / 10
    assert {spec["epochs"] for spec in plans.values()} == {1, 2, 4}


def test_overrides_reach_search_runs_except_what_the_search_sets():
    from cifarflow.config import final_search_variant, resolve_searches, search_variant

    cfg = search_config(search_block(), overrides={"epochs": 1, "lambda": 0.5, "seed": 7}, run=["srch"])
    search = resolve_searches(cfg)["srch"]
    v = search_variant(cfg, "srch", search, {"lambda": 0.01, "eta": 0.02}, "t")
    assert (v["epochs"], v["lambda"], v["eta"], v["seed"]) == (1, 0.01, 0.02, 7)
    final = final_search_variant(cfg, "srch", search, {"lambda": 0.01, "eta": 0.02}, 101)
    assert final["seed"] == 101 and final["name"] == "srch-lam-final-s101"


def test_shipped_search_sets_are_opt_in_and_valid():
    from cifarflow.config import resolve_searches, selected_sets

    cfg = yaml.safe_load(CONFIG.read_text())
    searched = [s for s, exp in cfg["experiments"].items() if exp.get("search")]
    assert {"search-softmax", "search-sigmoid", "search-mlp"} <= set(searched)
    assert not set(searched) & set(selected_sets(cfg))  # not in the default run
    check_config(cfg)
    assert set(resolve_searches(dict(cfg, run=searched))) == set(searched)


# ---- every value a search can give is checked before round 1 (issue 25) ----------------------------


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        # a later round draws inside the range: both ends must be valid values of the setting
        ({"space": {"momentum": {"uniform": [0.0, 1.5]}}}, "space.momentum.uniform", "1.5 is not a valid momentum"),
        ({"space": {"lambda": {"uniform": [-0.5, 1.0]}}}, "space.lambda.uniform", "-0.5 is not a valid lambda"),
        ({"space": {"n_s": {"int": [10, 20_000_000]}}}, "space.n_s.int", "20000000 is not a valid n_s"),
        ({"space": {"batch_size": {"uniform": [10.0, 100.0]}}}, "space.batch_size.uniform", "takes whole values"),
        # every choice, though round 1 may never draw it
        (
            {"method": "random", "n": 1, "space": {"momentum": {"choice": [0.5, 0.9, 0.95, 1.5]}}},
            "space.momentum.choice[3]",
            "1.5 is not a valid momentum",
        ),
        (
            {"method": "random", "n": 1, "space": {"augmentation": {"choice": ["none", "flip", "nope"]}}},
            "space.augmentation",  # .choice[2], or the round-1 trial that drew it
            "unknown augmentation 'nope'",
        ),
        # settings checked together: the largest batch against the smallest train_limit
        (
            {"base": {"model": "softmax", "batch_size": 100}, "space": {"train_limit": {"int": [50, 300]}}},
            "space.train_limit.int",
            "100 is more than the 50 images",
        ),
        # successive halving: every rung's epochs (here 10, 110 and 1210) is a valid `epochs`
        (
            {"method": "successive_halving", "n": 200, "reduction": 11, "min_epochs": 10, "max_epochs": 5000},
            "max_epochs (rung 3)",
            "1210 is not a valid epochs",
        ),
        (
            {"method": "successive_halving", "n": 20, "min_epochs": 2000, "max_epochs": 5000},
            "min_epochs (rung 1)",
            "2000 is not a valid epochs",
        ),
        # a final seed out of range is named as final.seeds, not as the search's own seed
        ({"final": {"seeds": [101, 2**32]}}, "final.seeds[1]", "4294967296"),
    ],
)
def test_every_value_a_search_can_give_is_checked_before_round_one(change, key, words):
    from cifarflow.config import validate_config

    with pytest.raises(ConfigError) as exc:
        validate_config(search_config(search_block(**change), run=["srch"]))
    msg = str(exc.value)
    assert msg.startswith(f"config key experiments.srch.search.{key}") and words in msg and "\n" not in msg, msg


def test_a_final_seed_out_of_range_is_named_as_final_seeds():
    from cifarflow.config import final_search_variant, resolve_searches

    cfg = search_config(search_block(), run=["srch"])
    search = resolve_searches(cfg)["srch"]
    with pytest.raises(
        ConfigError, match=r"^config key experiments\.srch\.search\.final\.seeds: seed 4294967296 is not"
    ):
        final_search_variant(cfg, "srch", search, {"lambda": 0.01, "eta": 0.02}, 2**32)


def test_a_trials_bad_value_names_the_search_key_it_came_from():
    from cifarflow.config import resolve_searches, search_variant

    cfg = search_config(search_block(), run=["srch"])
    search = resolve_searches(cfg)["srch"]
    with pytest.raises(ConfigError, match=r"^config key experiments\.srch\.search\.space\.eta \(variant t\): "):
        search_variant(cfg, "srch", search, {"lambda": 0.01, "eta": -1.0}, "t")
    base = {"model": "softmax", "batch_size": 100, "train_limit": 50}
    with pytest.raises(ConfigError, match=r"^config key experiments\.srch\.search\.base\.batch_size \(variant t\): "):
        search_variant(cfg, "srch", dict(search, base=base), {"lambda": 0.01, "eta": 0.1}, "t")


def test_a_halving_search_that_ends_before_max_epochs_is_valid_and_trains_its_last_rung():
    from cifarflow.config import final_search_variant, resolve_searches
    from cifarflow.training import search as S

    block = search_block(method="successive_halving", n=4, reduction=2, max_epochs=5000)
    cfg = search_config(block, run=["srch"])
    search = resolve_searches(cfg)["srch"]  # rungs of 1, 2 and 4 epochs: max_epochs is never reached
    assert S.halving_schedule(4, 2, 1, 5000)[-1] == (1, 4)
    scores = {}
    for r in range(1, S.n_rounds(search) + 1):
        scores |= {t.name: t.index / 10 for t in S.trials_for_round("srch", search, r, scores)}
    chosen = S.choose("srch", search, scores)
    assert final_search_variant(cfg, "srch", search, chosen.settings, 101)["epochs"] == 4


# ---- a config without experiment sets; duplicate YAML keys (issue 25) -------------------------------


@pytest.mark.parametrize("config", [{}, {"run": None}, {"defaults": {"epochs": 2}}])
def test_a_config_without_experiments_is_one_line_naming_the_key(config):
    from cifarflow.config import validate_config

    with pytest.raises(ConfigError, match=r"^config key experiments: missing") as exc:
        validate_config(config)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("text", "key", "lines"),
    [
        ("run: null\nrun: [a]\n", "run", (1, 2)),
        ("defaults:\n  eta: 0.1\n  epochs: 3\n  eta: 0.5\n", "defaults.eta", (2, 4)),
        (
            "experiments:\n  s:\n    variants:\n      - {name: a, lambda: 0, lambda: 1}\n",
            "experiments.s.variants[0].lambda",
            (4, 4),
        ),
        ('{"run": null, "defaults": {"seed": 1, "seed": 2}}', "defaults.seed", (1, 1)),  # JSON, which YAML reads
        ("a: &x {k: 1, k: 2}\nb: *x\nc: *x\n", "a.k", (1, 1)),  # an aliased mapping is reported once
    ],
)
def test_a_key_given_twice_is_one_line_naming_file_key_and_lines(tmp_path, text, key, lines):
    from cifarflow.config import load_config_files, refuse_duplicate_keys

    path = tmp_path / "dup.yaml"
    path.write_text(text, encoding="utf-8")
    for check in (load_config_files, refuse_duplicate_keys):
        with pytest.raises(ConfigError) as exc:
            check([path])
        msg = str(exc.value)
        assert msg.startswith(f"{path}: config key {key} is given twice (lines {lines[0]} and {lines[1]})"), msg
        assert "\n" not in msg


def test_keys_that_only_look_alike_and_merge_keys_are_not_duplicates(tmp_path):
    from cifarflow.config import load_config_files, refuse_duplicate_keys

    path = tmp_path / "ok.yaml"
    path.write_text("base: &b {eta: 0.1, epochs: 2}\ndefaults:\n  <<: *b\n  eta: 0.2\n1: a\n'1': b\n", encoding="utf-8")
    assert load_config_files([path])["defaults"] == {"eta": 0.2, "epochs": 2}
    refuse_duplicate_keys([path, tmp_path / "absent.yaml", tmp_path])  # what Snakemake read is its own to refuse


def test_the_shipped_configs_have_no_key_twice():
    from cifarflow.config import refuse_duplicate_keys

    refuse_duplicate_keys(sorted(CONFIG.parent.glob("*.yaml")))


def test_a_question_name_is_unique_among_questions_comparisons_and_paired_tables():
    from cifarflow.config import validate_config

    cfg = base_config()
    exp = cfg["experiments"]["s1"]
    exp["variants"].append({"name": "b", "lambda": 0.2})
    question = {"name": "q1", "kind": "compare", "variants": ["a", "b"]}
    exp["questions"] = [question, dict(question)]
    with pytest.raises(ConfigError, match=r"questions\[1\]\.name: question name 'q1' is used twice"):
        validate_config(cfg)
    exp["questions"] = [dict(question, name="cmp")]
    exp["comparisons"] = [{"name": "cmp", "type": "curves", "variants": ["a", "b"]}]
    with pytest.raises(ConfigError, match=r"questions\[0\]\.name: 'cmp' is also the name of a comparison"):
        validate_config(cfg)


def test_the_schema_reads_the_same_with_libyaml_and_with_pure_python():
    from cifarflow.schema import SCHEMA_PATH, load_schema

    assert load_schema() == yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_the_statistics_defaults_are_the_schemas_whether_the_block_is_given_or_not():
    from cifarflow.schema import load_schema, statistics_settings

    schema = load_schema()
    assert statistics_settings({}) == schema["properties"]["statistics"]["default"]
    assert statistics_settings({"statistics": {"alpha": 0.01}}) == {**statistics_settings({}), "alpha": 0.01}
