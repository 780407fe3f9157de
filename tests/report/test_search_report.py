"""search_report: the trials table, the choice and the final test interval from round records."""

import json

import pytest
from scipy import stats

from cifarflow.report import search_report as R
from cifarflow.training import search as S

SEARCH = S.check_search(
    {
        "name": "x",
        "method": "coarse_to_fine",
        "n": 3,
        "rounds": 2,
        "top_k": 2,
        "space": {"lambda": {"log_uniform": [1.0e-5, 1.0e-1]}, "hidden": {"choice": [[50], [100]]}},
    },
    "experiments.s.search",
)


def records(acc=lambda t: 0.3 + 0.01 * t.index + 0.05 * t.round):
    out, scores = [], {}
    for r in (1, 2):
        trials = S.trials_for_round("s", SEARCH, r, scores)
        summaries = {t.name: {"val_acc": acc(t), "epoch": 2, "epochs_run": 3} for t in trials}
        out.append(json.loads(json.dumps(S.scored_round_record("s", "x", "coarse_to_fine", r, trials, summaries))))
        scores.update({n: s["val_acc"] for n, s in summaries.items()})
    return out


def finals(values=(0.41, 0.43, 0.44)):
    return [
        {"variant": f"s-x-final-s{101 + i}", "config": {"seed": 101 + i}, "test_acc": v} for i, v in enumerate(values)
    ]


def test_trials_frame_has_one_row_per_trial_with_its_settings():
    df = R.trials_frame(records())
    assert len(df) == 6 and list(df["round"]) == [1, 1, 1, 2, 2, 2]
    assert {"lambda", "hidden", "val_acc", "kept_epoch", "epochs_run"} <= set(df.columns)


def test_the_result_chooses_on_validation_and_gives_the_t_interval_of_the_final_seeds():
    result = R.search_result("s", SEARCH, records(), finals())
    assert result["chosen"]["name"] == "s-x-r2-t2"  # best validation accuracy
    x = [0.41, 0.43, 0.44]
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=sum(x) / 3, scale=stats.sem(x))
    assert (result["final"]["test_acc_lo"], result["final"]["test_acc_hi"]) == pytest.approx((lo, hi))
    assert result["final"]["text"].startswith(f"{100 * sum(x) / 3:.2f} ± ")


def test_axis_scales_follow_the_space():
    scales, choices = R.axis_scales(SEARCH)
    assert scales == {"lambda": "log", "hidden": "category"} and choices == {"hidden": [[50], [100]]}


def test_links_are_rebased_and_external_ones_kept():
    text = "![a](settings.png) [t](trials.md) [w](https://example.org/x) [h](#top)"
    out = R.rebase_links(text, "results/search/s/x", "results")
    assert out == "![a](search/s/x/settings.png) [t](search/s/x/trials.md) [w](https://example.org/x) [h](#top)"
