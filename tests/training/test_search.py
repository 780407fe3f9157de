"""Hyperparameter search core: spaces, methods, replay, choice on validation, one-line errors.

The methods run on synthetic objectives whose best setting is known (no training): a round's
trials are scored by a function of their settings, and the next round is computed from the scores.
"""

import copy
import itertools
import json
import math
import time
import zlib
from pathlib import Path

import jsonschema
import numpy as np
import pytest
import yaml

from cifarflow.errors import ConfigError
from cifarflow.training import search as S

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"
WHERE = "experiments.s.search"

# The proposed block for the linear softmax (the README/config example).
SOFTMAX_BLOCK = yaml.safe_load(
    """
name: lam-eta
method: coarse_to_fine
seed: 0
space:
  lambda: {log_uniform: [1.0e-5, 1.0e-1]}
  eta: {log_uniform: [1.0e-3, 3.0e-1]}
n: 8
rounds: 3
top_k: 3
final: {seeds: [101, 102, 103]}
"""
)


def block(**kw):
    return S.check_search({"method": "random", "space": {"lambda": {"log_uniform": [1.0e-6, 1.0]}}, **kw}, WHERE)


def run(search, objective, set_name="s"):
    """Play every round: score each trial with `objective(trial)`, as the workflow's checkpoints would."""
    scores, rounds = {}, {}
    for r in range(1, S.n_rounds(search) + 1):
        rounds[r] = S.trials_for_round(set_name, search, r, scores)
        for t in rounds[r]:
            scores[t.name] = objective(t)
    return rounds, scores


def noise(name, sd):
    return sd * np.random.default_rng(zlib.crc32(name.encode())).standard_normal()


# ----------------------------------------------------------------------------- successive halving


@pytest.mark.parametrize(
    "n, reduction, lo, hi, table",
    [
        (27, 3, 1, 27, [(27, 1), (9, 3), (3, 9), (1, 27)]),
        (27, 3, 1, 20, [(27, 1), (9, 3), (3, 9), (1, 20)]),
        (16, 2, 2, 100, [(16, 2), (8, 4), (4, 8), (2, 16), (1, 32)]),
        (10, 3, 2, 12, [(10, 2), (3, 6), (1, 12)]),
        (8, 3, 1, 5, [(8, 1), (2, 3), (1, 5)]),
        (9, 3, 4, 4, [(9, 4)]),
        (1, 3, 2, 30, [(1, 2)]),
        (100, 4, 1, 8, [(100, 1), (25, 4), (6, 8)]),
    ],
)
def test_halving_schedule_matches_hand_worked_table(n, reduction, lo, hi, table):
    assert S.halving_schedule(n, reduction, lo, hi) == table


@pytest.mark.parametrize("args", [(0, 3, 1, 9), (9, 1, 1, 9), (9, 3, 0, 9), (9, 3, 5, 4)])
def test_halving_schedule_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        S.halving_schedule(*args)


def quality(settings):
    """Noiseless, peaked at eta = 1e-2 on the log scale; more epochs help every arm alike."""
    return 1.0 / (1.0 + (math.log10(settings["eta"]) + 2.0) ** 2)


def test_successive_halving_keeps_the_true_best_arm_and_follows_the_schedule():
    search = S.check_search(
        {
            "method": "successive_halving",
            "space": {"eta": {"log_uniform": [1.0e-4, 1.0]}, "batch_size": {"choice": [50, 100]}},
            "n": 27,
            "reduction": 3,
            "min_epochs": 1,
            "max_epochs": 20,
        },
        WHERE,
    )
    rounds, scores = run(search, lambda t: quality(t.settings) * (1 - 0.5 ** t.settings["epochs"]))
    schedule = S.halving_schedule(27, 3, 1, 20)
    assert all(len({t.settings["epochs"] for t in rounds[r]}) == 1 for r in rounds)
    assert [(len(rounds[r]), rounds[r][0].settings["epochs"]) for r in rounds] == schedule
    for r in range(2, len(schedule) + 1):
        prev = sorted(rounds[r - 1], key=lambda t: -scores[t.name])
        assert sorted(t.index for t in rounds[r]) == sorted(t.index for t in prev[: schedule[r - 1][0]])
        for t in rounds[r]:
            arm = next(a for a in rounds[1] if a.index == t.index)
            assert t.name == f"s-search-r{r}-t{t.index}"
            assert {k: v for k, v in t.settings.items() if k != "epochs"} == {
                k: v for k, v in arm.settings.items() if k != "epochs"
            }
    true_best = max(rounds[1], key=lambda t: quality(t.settings))
    chosen = S.choose("s", search, scores)
    assert chosen.index == true_best.index
    assert chosen.round == len(schedule) and chosen.settings["epochs"] == 20


# ----------------------------------------------------------------------------- coarse to fine


def test_coarse_to_fine_narrows_around_the_optimum():
    search = S.check_search(
        {
            "method": "coarse_to_fine",
            "space": {
                "lambda": {"log_uniform": [1.0e-6, 1.0]},
                "momentum": {"uniform": [0.0, 0.95]},
                "batch_size": {"int": [16, 512], "log": True},
                "hidden": {"choice": [[50], [100], [200]]},
            },
            "n": 16,
            "rounds": 4,
            "top_k": 3,
            "seed": 7,
        },
        WHERE,
    )

    def objective(t):
        s = t.settings
        return -((math.log10(s["lambda"]) + 3) ** 2) - 4 * (s["momentum"] - 0.5) ** 2 + noise(t.name, 0.05)

    rounds, scores = run(search, objective)
    original = S.parse_space(search["space"])
    spaces = {r: S.space_for_round(search, r, rounds, scores) for r in range(1, 5)}
    widths = [spaces[r]["lambda"].width() for r in range(1, 5)]
    assert all(b <= a + 1e-12 for a, b in itertools.pairwise(widths))
    assert widths[-1] < 0.5 * widths[0]
    assert spaces[4]["lambda"].lo <= 1e-3 <= spaces[4]["lambda"].hi
    assert spaces[4]["momentum"].lo <= 0.5 <= spaces[4]["momentum"].hi
    for r in range(1, 5):
        for key in ("lambda", "momentum", "batch_size"):
            assert original[key].lo <= spaces[r][key].lo <= spaces[r][key].hi <= original[key].hi
        for t in rounds[r]:  # every trial inside its round's space
            d = spaces[r]["lambda"]
            assert d.lo <= t.settings["lambda"] <= d.hi
            assert isinstance(t.settings["batch_size"], int)
    for r in range(2, 5):  # a choice keeps exactly the values seen in the previous round's top_k
        top = sorted(rounds[r - 1], key=lambda t: (-scores[t.name], t.index))[:3]
        assert sorted(map(list, spaces[r]["hidden"].choices)) == sorted(
            map(list, {tuple(t.settings["hidden"]) for t in top})
        )
    best = S.choose("s", search, scores)
    assert abs(math.log10(best.settings["lambda"]) + 3) < 0.5


def test_narrow_space_widens_by_margin_on_the_log_scale_and_never_grows():
    original = S.parse_space({"lambda": {"log_uniform": [1.0e-6, 1.0]}, "k": {"int": [1, 10]}})
    out = S.narrow_space(original, [{"lambda": 1e-4, "k": 3}, {"lambda": 1e-2, "k": 4}], margin=0.1)
    assert math.isclose(math.log10(out["lambda"].lo), -4 - 0.6) and math.isclose(math.log10(out["lambda"].hi), -2 + 0.6)
    assert (out["k"].lo, out["k"].hi) == (2, 5)  # 3 - 0.9 -> 2, 4 + 0.9 -> 5
    edge = S.narrow_space(original, [{"lambda": 1.0, "k": 10}], margin=0.5)
    assert edge["lambda"].hi == 1.0 and edge["k"].hi == 10 and edge["lambda"].lo < 1.0
    again = S.narrow_space(out, [{"lambda": 10**-4.6, "k": 2}, {"lambda": 10**-1.4, "k": 5}], margin=0.5)
    assert (again["lambda"].lo, again["lambda"].hi, again["k"].lo, again["k"].hi) == (
        out["lambda"].lo,
        out["lambda"].hi,
        2,
        5,
    )
    same = S.narrow_space(original, [{"lambda": 1e-3, "k": 4}] * 3, margin=0.0)
    assert same["lambda"].lo == same["lambda"].hi and (same["k"].lo, same["k"].hi) == (4, 4)


# ----------------------------------------------------------------------------- grid and random


def test_grid_sizes_log_spacing_bounds_and_reuse_of_shared_points():
    search = S.check_search(
        {
            "method": "grid",
            "points": 3,
            "space": {
                "lambda": {"log_uniform": [1.0e-4, 1.0e-2]},
                "batch_size": {"int": [10, 1000], "log": True},
                "augmentation": {"choice": ["none", "flip_p05"]},
            },
        },
        WHERE,
    )
    trials = S.trials_for_round("s", search, 1, {})
    assert len(trials) == 3 * 3 * 2 and S.n_rounds(search) == 1
    assert sorted({t.settings["lambda"] for t in trials}) == [1e-4, 1e-3, 1e-2]
    assert sorted({t.settings["batch_size"] for t in trials}) == [10, 100, 1000]
    assert len({t.name for t in trials}) == len(trials)
    assert "s-search-lambda0.001-batch_size100-augmentationflip_p05" in {t.name for t in trials}
    finer = S.check_search(
        {**search, "space": {**search["space"], "lambda": {"log_uniform": [1.0e-4, 1.0e-2], "points": 5}}}, WHERE
    )
    finer_trials = S.trials_for_round("s", finer, 1, {})
    assert len(finer_trials) == 5 * 3 * 2
    assert {t.name: t.settings for t in trials}.items() <= {t.name: t.settings for t in finer_trials}.items()
    lin = S.grid_values(S.parse_space({"m": {"uniform": [0.0, 0.9]}})["m"], 4)
    assert lin == [0.0, 0.3, 0.6, 0.9]


def test_random_trials_count_bounds_and_log_scale():
    search = S.check_search(
        {
            "method": "random",
            "n": 400,
            "space": {
                "lambda": {"log_uniform": [1.0e-6, 1.0e-2]},
                "momentum": {"uniform": [0.5, 0.99]},
                "step_every": {"int": [2, 9]},
                "hidden": {"choice": [[50], [512, 256]]},
            },
        },
        WHERE,
    )
    trials = S.trials_for_round("s", search, 1, {})
    assert len(trials) == 400 and [t.index for t in trials] == list(range(400))
    lam = np.array([t.settings["lambda"] for t in trials])
    assert lam.min() >= 1e-6 and lam.max() <= 1e-2
    # uniform on the log scale: about half below the geometric middle 1e-4 (a linear draw would give ~1%)
    assert 0.4 < np.mean(lam < 1e-4) < 0.6
    assert all(0.5 <= t.settings["momentum"] <= 0.99 for t in trials)
    steps = {t.settings["step_every"] for t in trials}
    assert steps == set(range(2, 10)) and all(isinstance(s, int) for s in steps)
    assert {tuple(t.settings["hidden"]) for t in trials} == {(50,), (512, 256)}
    assert all(float(f"{t.settings['lambda']:.3e}") == t.settings["lambda"] for t in trials)  # 4 significant digits


# ----------------------------------------------------------------------------- determinism and reuse


def test_same_seed_same_trials_and_another_seed_other_trials():
    a = S.trials_for_round("s", block(n=12), 1, {})
    b = S.trials_for_round("s", block(n=12), 1, {})
    c = S.trials_for_round("s", block(n=12, seed=1), 1, {})
    assert a == b
    assert [t.name for t in a] == [t.name for t in c] and [t.settings for t in a] != [t.settings for t in c]


@pytest.mark.parametrize("method", ["random", "coarse_to_fine", "successive_halving"])
def test_a_larger_n_keeps_the_first_trials(method):
    extra = {"max_epochs": 9} if method == "successive_halving" else {}
    small = S.trials_for_round("s", block(method=method, n=10, **extra), 1, {})
    large = S.trials_for_round("s", block(method=method, n=20, **extra), 1, {})
    assert small == large[:10]


def test_adding_a_key_keeps_the_other_keys_draws():
    one = S.trials_for_round("s", block(n=5), 1, {})
    two = S.trials_for_round(
        "s", block(n=5, space={"lambda": {"log_uniform": [1.0e-6, 1.0]}, "eta": {"uniform": [0.1, 0.2]}}), 1, {}
    )
    assert [t.settings["lambda"] for t in one] == [t.settings["lambda"] for t in two]


def test_one_more_round_keeps_earlier_rounds_and_the_replay_is_exact():
    def objective(t):
        return -abs(math.log10(t.settings["lambda"]) + 3) + noise(t.name, 0.1)

    three = block(method="coarse_to_fine", n=6, rounds=3)
    four = block(method="coarse_to_fine", n=6, rounds=4)
    r3, s3 = run(three, objective)
    r4, s4 = run(four, objective)
    assert [r3[r] for r in (1, 2, 3)] == [r4[r] for r in (1, 2, 3)]
    assert len(r4[4]) == 6 and {t.name for t in r4[4]}.isdisjoint(s3)
    # replay from the scores alone (what a rerun of the workflow does) gives the same trials
    assert S.all_trials("s", four, s4) == [t for r in (1, 2, 3, 4) for t in r4[r]]
    assert S.all_trials("s", four, {k: v for k, v in s4.items() if "-r1-" in k}) == r4[1] + r4[2]


# ----------------------------------------------------------------------------- choice on validation


def test_rank_ties_go_to_the_earlier_trial_nan_ranks_last_missing_is_an_error():
    t = [S.Trial(f"x{i}", r, i, {}) for r, i in ((2, 0), (1, 3), (1, 1), (1, 2))]
    ranked = S.rank_trials(t, {"x0": 0.5, "x3": 0.5, "x1": float("nan"), "x2": {"val_acc": 0.5, "epoch": 3}})
    assert [x.name for x in ranked] == ["x2", "x3", "x0", "x1"]
    with pytest.raises(ValueError, match="x1"):
        S.rank_trials(t, {"x0": 0.5, "x3": 0.4, "x2": 0.1})


def test_validation_summary_reads_only_the_validation_column():
    history = [
        {"epoch": 0, "val_acc": 0.10, "test_acc": 0.5},
        {"epoch": 1, "val_acc": 0.30, "test_acc": 0.9},
        {"epoch": 2, "val_acc": 0.41, "test_acc": 0.1},
        {"epoch": 3, "val_acc": 0.41, "test_acc": 0.2},
        {"epoch": 4, "val_acc": 0.38, "test_acc": 1.0},
    ]
    kept = {"val_acc": 0.38, "epoch": 4, "epochs_run": 4, "keep": "last"}
    assert S.validation_summary(history) == kept
    best = {"val_acc": 0.41, "epoch": 2, "epochs_run": 4, "keep": "val_acc"}
    assert S.validation_summary(history, "val_acc") == best
    without_test = [{k: v for k, v in row.items() if k != "test_acc"} for row in history]
    assert S.validation_summary(without_test) == S.validation_summary(history)


def test_choose_takes_the_best_validation_score_once_every_round_is_scored():
    search = block(n=4, base={"model": "softmax", "schedule": "step"}, final={"seeds": [11, 12]})
    trials = S.trials_for_round("s", search, 1, {})
    scores = {t.name: 0.1 * t.index for t in trials}
    assert S.choose("s", search, scores) == trials[3]
    with pytest.raises(ValueError):
        S.choose("s", search, {trials[0].name: 0.5})


def test_a_round_record_ranks_its_trials_and_the_next_round_samples_inside_the_narrowed_space():
    search = block(method="coarse_to_fine", n=5, rounds=2, top_k=2)
    rounds, scores = run(search, lambda t: -abs(math.log10(t.settings["lambda"]) + 3))
    summaries = {t.name: {"val_acc": scores[t.name], "epoch": 1, "epochs_run": 1} for t in rounds[1]}
    rec1 = json.loads(json.dumps(S.scored_round_record("s", "search", "coarse_to_fine", 1, rounds[1], summaries)))
    assert [x["rank"] for x in rec1["trials"]] == [1, 2, 3, 4, 5]
    assert rec1["trials"][0]["val_acc"] == max(scores[t.name] for t in rounds[1])
    assert S.trials_for_round("s", search, 2, S.scores_from_record(rec1)) == rounds[2]
    narrowed = S.space_for_round(search, 2, rounds, scores)["lambda"]
    assert 1.0e-6 <= narrowed.lo <= narrowed.hi <= 1.0 and (narrowed.lo, narrowed.hi) != (1.0e-6, 1.0)
    assert all(narrowed.lo <= t.settings["lambda"] <= narrowed.hi for t in rounds[2])
    best = max((t for r in rounds.values() for t in r), key=lambda t: scores[t.name])
    assert S.choose("s", search, scores) == best


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "change, key",
    [
        ({"space": {"lambda": {"log_uniform": [1.0e-2, 1.0e-3]}}}, "space.lambda.log_uniform"),
        ({"space": {"lambda": {"uniform": [0.5, 0.5]}}}, "space.lambda.uniform"),
        ({"space": {"lambda": {"log_uniform": [0, 1.0]}}}, "space.lambda.log_uniform"),
        ({"space": {"lambda": {"log_uniform": ["1e-5", 1.0]}}}, "space.lambda.log_uniform"),
        ({"space": {"hidden": {"choice": []}}}, "space.hidden.choice"),
        ({"space": {"hidden": {"choice": [[50], [50]]}}}, "space.hidden.choice"),
        ({"space": {"batch_size": {"int": [10.5, 100]}}}, "space.batch_size.int"),
        ({"space": {"batch_size": {"int": [0, 100], "log": True}}}, "space.batch_size.int"),
        ({"space": {"eta": {"normal": [0, 1]}}}, "space.eta.normal"),
        ({"space": {"eta": {"uniform": [0.1, 1], "choice": [1]}}}, "space.eta"),
        ({"space": {"seed": {"choice": [1, 2]}}}, "space.seed"),
        ({"space": {}}, "space"),
        ({"method": "bayes"}, "method"),
        ({"method": "coarse_to_fine", "n": 2, "top_k": 3}, "top_k"),
        ({"method": "successive_halving"}, "max_epochs"),
        ({"method": "successive_halving", "max_epochs": 9, "space": {"epochs": {"int": [1, 9]}}}, "space.epochs"),
        ({"final": {"seeds": [1, 1]}}, "final.seeds"),
        ({"rounds": 0}, "rounds"),
        ({"nn": 3}, "nn"),
        ({"name": "a b"}, "name"),
    ],
)
def test_bad_search_blocks_give_one_line_errors_naming_the_key(change, key):
    raw = {"method": "random", "space": {"lambda": {"log_uniform": [1.0e-6, 1.0]}}, **change}
    with pytest.raises(ConfigError) as err:
        S.check_search(raw, WHERE)
    msg = str(err.value)
    assert msg.startswith(f"config key {WHERE}.{key}") and "\n" not in msg
    if change.get("space", {}).get("lambda", {}).get("log_uniform", [0])[0] == "1e-5":
        assert "1.0e-3" in msg  # the YAML hint


def test_space_keys_can_be_restricted_to_variant_settings():
    with pytest.raises(ConfigError, match=r"experiments\.s\.search\.space\.lamda: not a variant setting"):
        S.check_search(
            {"method": "random", "space": {"lamda": {"uniform": [0, 1]}}}, WHERE, setting_keys={"lambda", "eta"}
        )


# ----------------------------------------------------------------------------- schema fragment


def search_schema():
    """The main schema's `search` definition on its own (it was merged into config.schema.yaml)."""
    defs = yaml.safe_load(SCHEMA.read_text())["$defs"]
    return {"$defs": defs, "$ref": "#/$defs/search"}


def test_schema_fragment_accepts_the_softmax_example_and_its_defaults_match_the_code():
    schema = search_schema()
    jsonschema.Draft202012Validator(schema).validate(SOFTMAX_BLOCK)
    props = schema["$defs"]["search"]["properties"]
    assert {k: props[k]["default"] for k in props if "default" in props[k]} == S.SEARCH_DEFAULTS
    checked = S.check_search(SOFTMAX_BLOCK, WHERE)
    assert checked["method"] == "coarse_to_fine" and S.n_rounds(checked) == 3
    first = S.trials_for_round("best", checked, 1, {})
    assert [t.name for t in first][:2] == ["best-lam-eta-r1-t0", "best-lam-eta-r1-t1"]


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "grid"},
        {"method": "grid", "space": {"lambda": {"log_uniform": [1.0e-5, 1.0e-1], "uniform": [0, 1]}}},
        {"method": "nope", "space": {"lambda": {"uniform": [0, 1]}}},
        {"method": "grid", "space": {"lambda": {"choice": []}}},
    ],
)
def test_schema_fragment_rejects_bad_blocks(bad):
    schema = search_schema()
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(copy.deepcopy(bad)))


def test_a_block_without_method_or_space_names_the_missing_key():
    with pytest.raises(ConfigError, match=r"^config key experiments\.s\.search\.method: missing"):
        S.check_search({"space": {"eta": {"uniform": [0.1, 0.2]}}}, WHERE)
    with pytest.raises(ConfigError, match=r"^config key experiments\.s\.search\.space: missing"):
        S.check_search({"method": "random"}, WHERE)


def test_search_cost_counts_trials_and_epochs():
    sh = S.check_search(
        {"method": "successive_halving", "space": {"eta": {"uniform": [0.1, 0.2]}}, "n": 27, "max_epochs": 20}, WHERE
    )
    assert S.search_cost(sh) == {"rounds": 4, "trials": 27 + 9 + 3 + 1, "epochs": 27 * 1 + 9 * 3 + 3 * 9 + 1 * 20}
    c2f = S.check_search(SOFTMAX_BLOCK, WHERE)
    assert S.search_cost(c2f, epochs=10) == {"rounds": 3, "trials": 24, "epochs": 240}
    grid = S.check_search(
        {"method": "grid", "points": 4, "space": {"eta": {"uniform": [0.1, 0.2]}, "k": {"choice": [1, 2, 3]}}}, WHERE
    )
    assert S.search_cost(grid, epochs=2)["trials"] == 12


def test_round_digest_follows_the_trials_and_records_round_trip_their_scores():
    search = block(method="coarse_to_fine", n=4, rounds=2, top_k=2)
    first = S.trials_for_round("s", search, 1, {})
    assert S.round_digest(first) == S.round_digest(S.trials_for_round("s", search, 1, {}))
    assert S.round_digest(first) != S.round_digest(
        S.trials_for_round("s", block(method="coarse_to_fine", n=5, rounds=2, top_k=2), 1, {})
    )
    assert S.round_digest(first) != S.round_digest(
        S.trials_for_round("s", block(method="coarse_to_fine", n=4, rounds=2, top_k=2, seed=1), 1, {})
    )
    scores = {t.name: 0.1 * (i % 3) for i, t in enumerate(first)}
    summaries = {name: {"val_acc": score, "epoch": 1, "epochs_run": 1} for name, score in scores.items()}
    rec = json.loads(json.dumps(S.scored_round_record("s", "search", "coarse_to_fine", 1, first, summaries)))
    assert S.scores_from_record(rec) == scores and rec["digest"] == S.round_digest(first)


# ----------------------------------------------------------------------------- sizes bounded before any job (issue 25)


@pytest.mark.parametrize(
    "change, key",
    [
        ({"n": 1_000_000_000}, "n"),
        ({"method": "grid", "points": 10_000_000}, "points"),
        ({"method": "grid", "space": {"lambda": {"log_uniform": [1.0e-6, 1.0], "points": 10_000_000}}}, "space.lambda"),
        ({"method": "coarse_to_fine", "rounds": 100_000}, "rounds"),
        ({"method": "coarse_to_fine", "margin": 1.0e300}, "margin"),
        ({"digits": 1_000_000_000}, "digits"),
        ({"final": {"seeds": list(range(101))}}, "final.seeds"),
        ({"final": {"seeds": [2**32]}}, "final.seeds"),
        # each size within its bound, the whole search not: n x rounds, a grid's product, halving's rungs
        ({"method": "coarse_to_fine", "n": 100, "rounds": 11}, "n"),
        (
            {
                "method": "grid",
                "points": 40,
                "space": {"lambda": {"log_uniform": [1.0e-6, 1.0]}, "eta": {"uniform": [0.01, 0.1]}},
            },
            "space",
        ),
        ({"method": "successive_halving", "n": 1000, "reduction": 2, "max_epochs": 64}, "n"),
    ],
)
def test_every_search_size_is_bounded_and_checked_at_once(change, key):
    start = time.monotonic()
    with pytest.raises(ConfigError) as err:
        S.check_search({"method": "random", "space": {"lambda": {"log_uniform": [1.0e-6, 1.0]}}, **change}, WHERE)
    msg = str(err.value)
    assert msg.startswith(f"config key {WHERE}.{key}") and "\n" not in msg, msg
    assert time.monotonic() - start < 5  # nothing is listed before the bound is checked


def test_the_largest_allowed_search_is_accepted_and_counted_without_listing_it():
    space = {"batch_size": {"int": [1, 3], "points": 1000}, "lambda": {"uniform": [0, 1], "points": 300}}
    grid = S.check_search({"method": "grid", "space": space}, WHERE)  # an integer range of 3 gives 3 values
    assert S.count_trials(grid) == len(S.grid_trials("s", grid)) == 900
    with pytest.raises(ConfigError, match=r"space: the search trains 1,800 trials"):
        S.check_search({**grid, "space": {**space, "eta": {"choice": [1, 2]}}}, WHERE)
    grid = S.check_search({"method": "grid", "points": 1000, "space": {"lambda": {"uniform": [0, 1]}}}, WHERE)
    assert S.count_trials(grid) == len(S.grid_trials("s", grid)) == S.MAX_TRIALS
    c2f = S.check_search(
        {"method": "coarse_to_fine", "n": 50, "rounds": 20, "margin": 1, "space": {"lambda": {"uniform": [0, 1]}}},
        WHERE,
    )
    assert S.count_trials(c2f) == S.MAX_TRIALS


def test_the_schema_holds_the_same_bounds_as_the_code():
    defs = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))["$defs"]
    props = defs["search"]["properties"]
    assert props["n"]["maximum"] == S.MAX_N
    assert props["points"]["maximum"] == defs["search_range"]["properties"]["points"]["maximum"] == S.MAX_POINTS
    assert props["rounds"]["maximum"] == S.MAX_ROUNDS
    assert props["margin"]["maximum"] == S.MAX_MARGIN
    assert props["digits"]["maximum"] == S.MAX_DIGITS
    seeds = props["final"]["properties"]["seeds"]
    assert (seeds["maxItems"], seeds["items"]["maximum"]) == (S.MAX_FINAL_SEEDS, S.MAX_SEED)


def test_a_huge_margin_on_a_wide_log_range_narrows_without_overflow():
    dims = S.parse_space({"eta": {"log_uniform": [1.0e-300, 1.0e300]}, "k": {"int": [1, 10**15], "log": True}})
    best = [{"eta": 1.0, "k": 1000}]
    for margin in (1.0, 1.0e300):  # a direct caller's margin is capped at MAX_MARGIN
        out = S.narrow_space(dims, best, margin)
        assert (out["eta"].lo, out["eta"].hi) == (1.0e-300, 1.0e300)
        assert (out["k"].lo, out["k"].hi) == (1, 10**15)
    assert S.narrow_space(dims, best, 0.0)["eta"].lo == pytest.approx(1.0)


@pytest.mark.parametrize("key", ["seeds", "replicates", "threads", "group", "mem_mb", "runtime"])
def test_settings_a_search_cannot_vary_are_refused_in_its_space(key):
    with pytest.raises(ConfigError) as err:
        S.check_search({"method": "random", "space": {key: {"choice": [[1], [2]] if key == "seeds" else [1, 2]}}})
    msg = str(err.value)
    assert msg.startswith(f"config key search.space.{key}: '{key}' cannot be searched") and "\n" not in msg


@pytest.mark.parametrize("key", ["seeds", "replicates"])
def test_replicate_seeds_are_refused_in_a_search_base(key):
    with pytest.raises(ConfigError, match=rf"^config key {WHERE}\.base\.{key}: a search trains each trial once"):
        block(base={key: [1, 2] if key == "seeds" else 2})
    assert block(base={"threads": 2, "group": "g"})["base"] == {"threads": 2, "group": "g"}  # resources: base only


def test_a_record_of_a_trial_without_a_finite_score_is_strict_json_with_null():
    trials = S.trials_for_round("s", block(n=2), 1, {})
    summaries = {trials[0].name: {"val_acc": float("nan"), "epoch": 1, "epochs_run": 1}}
    summaries[trials[1].name] = {"val_acc": 0.5, "epoch": 1, "epochs_run": 1}
    rec = S.scored_round_record("s", "search", "random", 1, trials, summaries)
    text = json.dumps(rec, allow_nan=False)
    assert [t["val_acc"] for t in json.loads(text)["trials"]] == [0.5, None]  # null ranks last
    assert S.rank_trials(trials, S.scores_from_record(rec))[0].name == trials[1].name
