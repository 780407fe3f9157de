"""Selection that sees through validation noise, Hyperband and CPU budgets (issue 26), on synthetic
objectives (no training): ranking by the epoch the run keeps, the re-evaluation of the top
candidates with extra seeds (the choice is the best mean, the others compared by a paired t
interval), Hyperband's brackets as Li et al. (2018) publish them, replay (the same config gives the
same trials and choice; more rounds or budget train only new trials), and the budget's estimate.
"""

import math
import zlib

import numpy as np
import pytest
from scipy import stats

from cifarflow.config import resolve_searches
from cifarflow.errors import ConfigError
from cifarflow.training import cost as C
from cifarflow.training import search as S
from cifarflow.training.solver import _track_best
from cifarflow.training.state import TrainSettings, TrainState

WHERE = "experiments.s.search"
SPACE = {"eta": {"log_uniform": [1.0e-3, 1.0e-1]}, "lambda": {"log_uniform": [1.0e-4, 1.0e-1]}}


def block(**kw):
    return S.check_search({"name": "x", "space": SPACE, **kw}, WHERE)


def noise(name: str, sd: float) -> float:
    return sd * np.random.default_rng(zlib.crc32(name.encode())).standard_normal()


def objective(t: S.Trial, sd: float = 0.0) -> float:
    """A known optimum at eta 0.01, lambda 0.001; more epochs help; `sd`: validation noise."""
    d = (math.log10(t.settings["eta"]) + 2) ** 2 + (math.log10(t.settings["lambda"]) + 3) ** 2
    return 0.5 - 0.05 * d - 0.1 / t.settings.get("epochs", 10) + noise(t.name, sd)


def play(search, score=objective, set_name="s"):
    """Every round, each trial scored by `score(trial)` as the workflow's checkpoints would."""
    scores, rounds = {}, {}
    for r in range(1, S.n_rounds(search) + 1):
        rounds[r] = S.trials_for_round(set_name, search, r, scores)
        for t in rounds[r]:
            scores[t.name] = score(t)
    return rounds, scores


# ----------------------------------------------------------------------------- the kept epoch


HISTORY = [
    {"epoch": 0, "val_acc": 0.10, "val_loss": 2.30},
    {"epoch": 1, "val_acc": 0.44, "val_loss": 1.70},
    {"epoch": 2, "val_acc": 0.43, "val_loss": 1.60},
    {"epoch": 3, "val_acc": 0.41, "val_loss": 1.65},
]


@pytest.mark.parametrize("keep, epoch, acc", [("last", 3, 0.41), ("val_acc", 1, 0.44), ("val_loss", 2, 0.43)])
def test_a_trial_is_scored_at_the_epoch_its_run_keeps(keep, epoch, acc):
    assert S.validation_summary(HISTORY, keep) == {"val_acc": acc, "epoch": epoch, "epochs_run": 3, "keep": keep}


def test_ranking_uses_the_kept_epoch_not_the_best_one():
    # a trial that peaks early and ends lower ranks below a steady one when the runs keep the last epoch
    peaky = [*HISTORY]
    steady = [{"epoch": e, "val_acc": a, "val_loss": 1.0} for e, a in enumerate([0.1, 0.40, 0.42, 0.425])]
    trials = [S.Trial("peaky", 1, 0, {}), S.Trial("steady", 1, 1, {})]
    for keep, first in (("last", "steady"), ("val_acc", "peaky")):
        summaries = {"peaky": S.validation_summary(peaky, keep), "steady": S.validation_summary(steady, keep)}
        rec = S.scored_round_record("s", "x", "random", 1, trials, summaries, {t.name: keep for t in trials})
        assert rec["trials"][0]["name"] == first
        assert {t["keep"] for t in rec["trials"]} == {keep}


@pytest.mark.parametrize(
    "variant, keep",
    [
        ({}, "last"),
        ({"select_best": True}, "val_acc"),
        ({"early_stopping": {"patience": 3}}, "val_loss"),
        ({"early_stopping": {"patience": 3, "monitor": "val_acc"}, "select_best": False}, "val_acc"),
        ({"early_stopping": None, "select_best": False}, "last"),
    ],
)
def test_the_keep_rule_is_the_solvers_monitor(variant, keep):
    v = {"lambda": 0.0, "batch_size": 10, "epochs": 2, **variant}
    assert S.keep_rule(v) == keep
    assert (TrainSettings.from_variant(v).monitor or "last") == keep


@pytest.mark.parametrize("monitor", ["val_acc", "val_loss"])
def test_the_kept_epoch_is_the_one_the_solver_keeps(monitor):
    """The solver's own bookkeeping (`_track_best`, epoch 0 as the first best) on random histories."""
    rng = np.random.default_rng(0)

    class Model:
        params: dict = {}

    for _ in range(200):
        n = int(rng.integers(1, 8))
        rows = [
            {"epoch": e, "val_acc": float(rng.choice([0.3, 0.4, 0.5])), "val_loss": float(rng.choice([1, 2, 3]))}
            for e in range(n)
        ]
        state = TrainState(0, 0, {}, {}, [rows[0]], {"epoch": 0, "score": rows[0][monitor], "bad_epochs": 0}, {}, 0.0)
        for row in rows[1:]:
            _track_best(Model(), state, monitor, row, row["epoch"])
        assert S.kept_epoch(rows, monitor) == state.best["epoch"]


# ----------------------------------------------------------------------------- re-evaluation


def test_the_choice_is_the_best_mean_among_the_reevaluated_candidates():
    search = block(method="random", n=6, reevaluate={"top": 3, "seeds": 2})
    trials = S.trials_for_round("s", search, 1, {})
    # trial 0 is lucky on its own seed; trial 2 is better on average over three seeds
    own = {t.name: 0.40 for t in trials} | {trials[0].name: 0.47, trials[1].name: 0.45, trials[2].name: 0.44}
    extra = {trials[0].name: [0.40, 0.41], trials[1].name: [0.43, 0.42], trials[2].name: [0.45, 0.46]}
    reeval = S.trials_for_round("s", search, 2, own)
    assert [t.name for t in reeval] == [f"{trials[i].name}-s{s}" for i in range(3) for s in (1, 2)]
    assert all(
        t.settings == {**trials[int(t.name.split("-t")[1].split("-")[0])].settings, "seed": s}
        for t, s in zip(reeval, [1, 2] * 3)
    )
    scores = dict(own)
    for t in reeval:
        cand, seed = t.name.rsplit("-s", 1)
        scores[t.name] = extra[cand][int(seed) - 1]
    chosen = S.choose("s", search, scores)
    means = {c: np.mean([own[c], *extra[c]]) for c in extra}
    assert chosen.name == max(means, key=means.get) == trials[2].name
    assert chosen.settings == trials[2].settings  # the final runs retrain the candidate's own settings
    summary = S.reevaluation_summary("s", search, scores, 0.95)
    assert [c["name"] for c in summary] == sorted(means, key=means.get, reverse=True)
    assert summary[0]["chosen"] and summary[0]["mean"] == pytest.approx(means[trials[2].name])


def test_a_tie_in_the_mean_goes_to_the_better_ranked_candidate():
    search = block(method="random", n=3, reevaluate={"top": 2, "seeds": [5]})
    trials = S.trials_for_round("s", search, 1, {})
    scores = {trials[0].name: 0.5, trials[1].name: 0.6, trials[2].name: 0.1}
    scores |= {f"{trials[1].name}-s5": 0.4, f"{trials[0].name}-s5": 0.5}
    assert S.choose("s", search, scores).name == trials[1].name


def test_the_candidates_interval_is_the_paired_t_interval_over_seeds():
    cands = [("a", {}, [0.41, 0.43, 0.42]), ("b", {}, [0.44, 0.45, 0.46]), ("c", {}, [0.30, 0.31, 0.315])]
    out = S.compare_candidates(cands, 0.9)
    assert [c["name"] for c in out] == ["b", "a", "c"] and out[0]["chosen"]
    for c, (_, _, vals) in zip(out[1:], [cands[0], cands[2]]):
        d = np.array(cands[1][2]) - np.array(vals)
        lo, hi = stats.t.interval(0.9, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        assert (c["diff_lo"], c["diff_hi"]) == pytest.approx((lo, hi))
        assert c["indistinguishable"] == (lo <= 0)
    assert not out[2]["indistinguishable"]  # c is far below on every seed


def test_candidates_within_the_seed_noise_are_named_indistinguishable():
    cands = [("a", {}, [0.42, 0.45, 0.40]), ("b", {}, [0.44, 0.41, 0.43])]
    a, b = S.compare_candidates(cands, 0.95)
    assert b["indistinguishable"] and b["diff_lo"] < 0 < b["diff_hi"]


def test_reevaluation_is_one_more_round_after_the_methods_own():
    c2f = block(method="coarse_to_fine", n=4, rounds=2, top_k=2, reevaluate={"top": 2, "seeds": 3})
    assert S.n_rounds(c2f) == 3 and S.reevaluation_round(c2f) == 3
    rounds, scores = play(c2f, lambda t: objective(t, 0.01))
    assert len(rounds[3]) == 6 and all(t.round == 3 for t in rounds[3])
    pool = S.rank_trials(rounds[1] + rounds[2], scores)
    assert {t.name.rsplit("-s", 1)[0] for t in rounds[3]} == {t.name for t in pool[:2]}
    assert S.search_cost(c2f, 10) == {"rounds": 3, "trials": 8 + 6, "epochs": (8 + 6) * 10}


def test_halving_and_hyperband_reevaluate_among_the_full_budget_trials_only():
    sh = block(method="successive_halving", n=9, min_epochs=1, max_epochs=9, reevaluate={"top": 3})
    rounds, _ = play(sh)
    last = {t.name for t in rounds[3]}  # the last rung: one trial at 9 epochs
    assert {t.name.rsplit("-s", 1)[0] for t in rounds[4]} == last and len(rounds[4]) == 2
    hb = block(method="hyperband", min_epochs=1, max_epochs=9, reevaluate={"top": 10, "seeds": 1})
    rounds, scores = play(hb)
    full = [t for r in range(1, 4) for t in rounds[r] if t.settings["epochs"] == 9]
    assert len(full) == S.pool_size(hb) == 3 + 1 + 1
    assert sorted(t.name.rsplit("-s", 1)[0] for t in rounds[4]) == sorted(t.name for t in full)
    assert all(t.settings["epochs"] == 9 for t in rounds[4])


def test_reevaluation_settings_are_refused_with_the_key_named():
    for value, key in [
        ({"top": 0}, "reevaluate.top"),
        ({"seeds": 0}, "reevaluate.seeds"),
        ({"seeds": [101]}, "reevaluate.seeds"),
        ({"confidence": 1.5}, "reevaluate.confidence"),
        ({"tops": 2}, "reevaluate.tops"),
        ([3], "reevaluate"),
    ]:
        with pytest.raises(ConfigError, match=rf"^config key {WHERE}\.{key}"):
            block(method="random", reevaluate=value)


# ----------------------------------------------------------------------------- hyperband

# Li et al. (2018), Table 1: R = 81, eta = 3; bracket s: (n_i, r_i) of each rung i
PAPER_TABLE = {
    4: [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
    3: [(34, 3), (11, 9), (3, 27), (1, 81)],
    2: [(15, 9), (5, 27), (1, 81)],
    1: [(8, 27), (2, 81)],
    0: [(5, 81)],
}


def test_hyperbands_brackets_follow_the_published_schedule():
    brackets = S.hyperband_brackets(3, 1, 81)
    assert {b["s"]: b["rungs"] for b in brackets} == PAPER_TABLE
    assert [b["rungs"][0] for b in sorted(brackets, key=lambda b: -b["s"])] == [
        (81, 1),
        (34, 3),
        (15, 9),
        (8, 27),
        (5, 81),
    ]
    assert [b["start"] for b in brackets] == [81, 27, 9, 3, 1]


@pytest.mark.parametrize("eta, r_min, R", [(3, 1, 81), (2, 1, 16), (3, 4, 36), (4, 1, 30), (3, 2, 5), (3, 5, 5)])
def test_hyperband_schedule_formulas(eta, r_min, R):
    s_max = int(math.floor(math.log(R / r_min, eta) + 1e-9))
    brackets = S.hyperband_brackets(eta, r_min, R)
    assert sorted(b["s"] for b in brackets) == list(range(s_max + 1))
    for b in brackets:
        s = b["s"]
        n = math.ceil((s_max + 1) / (s + 1) * eta**s - 1e-9)
        assert b["rungs"][0] == (n, R // eta**s) and b["rungs"][0][1] >= r_min
        assert b["rungs"] == [(max(1, n // eta**i), R // eta ** (s - i)) for i in range(s + 1)]
        assert b["rungs"][-1][1] == R


def test_hyperband_rounds_run_every_bracket_and_promote_the_best_of_each():
    search = block(method="hyperband", reduction=3, min_epochs=1, max_epochs=27)
    rounds, scores = play(search, lambda t: objective(t, 0.02))
    brackets = {b["start"]: b for b in S.hyperband_brackets(3, 1, 27)}
    assert S.n_rounds(search) == len(rounds) == 4
    for r, trials in rounds.items():
        for start, b in brackets.items():
            mine = [t for t in trials if t.bracket == start]
            if r > len(b["rungs"]):
                assert not mine
                continue
            count, epochs = b["rungs"][r - 1]
            assert len(mine) == count and {t.settings["epochs"] for t in mine} == {epochs}
            assert all(t.name == f"s-x-b{start}-r{r}-t{t.index}" for t in mine)
            if r > 1:  # the best of the bracket's rung before, by the kept epoch's score
                before = [t for t in rounds[r - 1] if t.bracket == start]
                best = S.rank_trials(before, scores)[:count]
                assert sorted(t.index for t in mine) == sorted(t.index for t in best)
    chosen = S.choose("s", search, scores)
    full = [t for ts in rounds.values() for t in ts if t.settings["epochs"] == 27]
    assert chosen == S.rank_trials(full, scores)[0]
    assert S.count_trials(search) == sum(len(ts) for ts in rounds.values())
    cost = S.search_cost(search)
    assert cost["epochs"] == sum(t.settings["epochs"] for ts in rounds.values() for t in ts)


def test_hyperband_is_refused_without_max_epochs_or_with_searched_epochs():
    with pytest.raises(ConfigError, match=rf"^config key {WHERE}\.max_epochs: hyperband needs"):
        block(method="hyperband")
    with pytest.raises(ConfigError, match=rf"^config key {WHERE}\.space\.epochs: hyperband sets"):
        S.check_search({"method": "hyperband", "max_epochs": 9, "space": {"epochs": {"int": [1, 9]}}}, WHERE)


# ----------------------------------------------------------------------------- replay


@pytest.mark.parametrize(
    "kw",
    [
        {"method": "hyperband", "min_epochs": 1, "max_epochs": 27, "reevaluate": {"top": 3, "seeds": 2}},
        {"method": "coarse_to_fine", "n": 6, "rounds": 3, "reevaluate": {"top": 2, "seeds": 2}},
        {"method": "successive_halving", "n": 9, "max_epochs": 9, "reevaluate": {"top": 1, "seeds": 3}},
    ],
)
def test_the_same_config_gives_the_same_trials_and_choice_twice(kw):
    first = play(block(seed=3, **kw), lambda t: objective(t, 0.02))
    again = play(block(seed=3, **kw), lambda t: objective(t, 0.02))
    assert first == again
    assert S.choose("s", block(seed=3, **kw), first[1]) == S.choose("s", block(seed=3, **kw), again[1])
    other = play(block(seed=4, **kw), lambda t: objective(t, 0.02))
    assert other[0][1] != first[0][1]  # another seed draws other trials


def _trained(rounds):
    return {t.name: t.settings for ts in rounds.values() for t in ts}


def test_one_more_coarse_to_fine_round_trains_only_new_trials():
    """Re-evaluation trials are named after their candidate, so a candidate that stays in the top
    keeps its extra seeds' runs when the search gets one more round."""
    small = play(block(method="coarse_to_fine", n=6, rounds=2, reevaluate={"top": 2, "seeds": 2}), objective)
    big = play(block(method="coarse_to_fine", n=6, rounds=3, reevaluate={"top": 2, "seeds": 2}), objective)
    old, new = _trained(small[0]), _trained(big[0])
    for r in (1, 2):  # the method's rounds: the same trials, names and settings
        assert _trained({r: small[0][r]}) == _trained({r: big[0][r]})
    shared = set(old) & set(new)
    assert all(old[n] == new[n] for n in shared)  # a shared name is the same run
    assert set(new) - set(old) >= {t.name for t in big[0][3]}


def test_adding_reevaluation_trains_only_its_own_trials():
    plain = play(block(method="coarse_to_fine", n=5, rounds=2), objective)
    more = play(block(method="coarse_to_fine", n=5, rounds=2, reevaluate={"top": 2, "seeds": 2}), objective)
    old, new = _trained(plain[0]), _trained(more[0])
    assert all(new[n] == s for n, s in old.items())
    assert set(new) - set(old) == {t.name for t in more[0][3]} and len(more[0][3]) == 4


def test_a_larger_hyperband_budget_keeps_every_first_rung_trial():
    small = S.trials_for_round("s", block(method="hyperband", max_epochs=27), 1, {})
    big = S.trials_for_round("s", block(method="hyperband", max_epochs=81), 1, {})
    big_by_name = {t.name: t.settings for t in big}
    assert all(big_by_name[t.name] == t.settings for t in small)  # same names, same draws, same epochs
    assert len(big) - len(small) == (81 + 34 + 15 + 8 + 5) - (27 + 12 + 6 + 4)


# ----------------------------------------------------------------------------- budget


def search_config(block, **extra):
    return {
        "splits": {"full": {"type": "holdout", "val_size": 1000, "seed": 0}},
        "augmentations": {"none": {}},
        "defaults": {"epochs": 10, "eval_train": 10000},
        "experiments": {"srch": {"search": {"name": "b", "base": {"model": "softmax"}, "space": SPACE, **block}}},
        "run": ["srch"],
        **extra,
    }


def test_the_estimate_is_trials_epochs_times_the_measured_epoch_cost():
    cfg = search_config({"method": "random", "n": 4, "final": {"seeds": [101]}})
    (search,) = resolve_searches(cfg).values()
    v = {"model": "softmax", "split": "full", "eval_train": 10000}
    epoch = C.epoch_seconds(v, cfg["splits"])
    job = C.job_seconds(v, cfg["splits"])
    assert epoch == pytest.approx(C.seconds_per_10k(v) * (49000 + (10000 + 1000) / 3) / 10000)
    est = search["estimate"]
    assert est["total_minutes"] == pytest.approx(5 * (10 * epoch + job) / 60, abs=0.01)
    assert "estimated" in S.estimate_text(search)


def test_a_wider_mlp_costs_more_per_epoch():
    splits = {"full": {"type": "holdout", "val_size": 1000}}
    costs = [
        C.epoch_seconds({"model": "mlp", "hidden": h, "split": "full"}, splits) for h in ([50], [256], [1024, 512])
    ]
    assert costs == sorted(costs)
    assert C.n_weights({"model": "mlp", "hidden": [50]}) == 3073 * 50 + 51 * 10


def test_without_n_the_budget_sets_it_to_the_largest_that_fits():
    cfg = search_config({"method": "random", "budget_cpu_minutes": 3, "final": {"seeds": [101]}})
    (search,) = resolve_searches(cfg).values()
    assert search["estimate"]["total_minutes"] <= 3
    bigger = resolve_searches(search_config({"method": "random", "n": search["n"] + 1, "final": {"seeds": [101]}}))
    assert bigger["srch"]["estimate"]["total_minutes"] > 3


def test_a_search_over_its_budget_stops_before_any_job_naming_the_key():
    cfg = search_config({"method": "hyperband", "max_epochs": 27, "budget_cpu_minutes": 1})
    with pytest.raises(
        ConfigError, match=r"^config key experiments\.srch\.search\.budget_cpu_minutes: .* estimated at"
    ):
        resolve_searches(cfg)


def test_reevaluation_seeds_follow_the_trials_seed_and_must_be_fresh():
    cfg = search_config({"method": "random", "n": 2, "reevaluate": {"seeds": 2}})
    cfg["defaults"]["seed"] = 7
    (search,) = resolve_searches(cfg).values()
    assert search["reevaluate"]["seeds"] == [8, 9] and search["reevaluate"]["confidence"] == 0.95
    cfg["defaults"]["seed"] = 100
    with pytest.raises(ConfigError, match=r"reevaluate\.seeds: seed 101 is also a final seed"):
        resolve_searches(cfg)


def test_a_search_may_choose_on_its_own_larger_validation_split():
    cfg = search_config({"method": "random", "n": 2, "base": {"model": "softmax", "split": "val5k"}})
    cfg["splits"]["val5k"] = {"type": "holdout", "val_size": 5000, "seed": 0}
    (search,) = resolve_searches(cfg).values()
    v = {"model": "softmax", "split": "val5k", "eval_train": 10000}
    assert C.image_counts(v, cfg["splits"]) == (45000, 5000, 10000)
    assert search["estimate"]["epoch_seconds"] == pytest.approx(C.epoch_seconds(v, cfg["splits"]), abs=1e-3)
