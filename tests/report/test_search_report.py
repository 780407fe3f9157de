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


def _trials(n=30, seed=0, epochs=None):
    """Round-1 trials over a log range `a`, a range `b` and a choice `c`; the score depends on `a` only."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    a = 10 ** rng.uniform(-4, -1, n)
    b = rng.uniform(0, 1, n)
    c = ([[50], [100]] * n)[:n]
    acc = 0.4 + 0.03 * np.log10(a) + rng.normal(0, 0.002, n)
    return pd.DataFrame(
        {"round": 1, "index": range(n), "a": a, "b": b, "c": c, "val_acc": acc, "epochs_run": epochs or [4] * n}
    )


def _eta_squared_by_regression(y, groups):
    """R^2 of least squares on the groups' indicator columns: an independent computation of eta^2."""
    import numpy as np

    labels = sorted(set(groups))
    x = np.array([[g == lab for lab in labels] for g in groups], dtype=float)
    fit = x @ np.linalg.lstsq(x, y, rcond=None)[0]
    return 1 - np.sum((y - fit) ** 2) / np.sum((y - y.mean()) ** 2)


def _kruskal_by_hand(parts):
    """H from the pooled ranks (no ties) and its chi-square tail: an independent Kruskal-Wallis."""
    import numpy as np

    pooled = np.concatenate(parts)
    ranks = stats.rankdata(pooled)
    n, start, h = len(pooled), 0, 0.0
    for p in parts:
        r = ranks[start : start + len(p)]
        h += r.sum() ** 2 / len(p)
        start += len(p)
    h = 12 / (n * (n + 1)) * h - 3 * (n + 1)
    return stats.chi2.sf(h, len(parts) - 1)


def test_parameter_importance_matches_an_independent_anova_and_kruskal_wallis():
    import numpy as np

    df = _trials()
    out = R.parameter_importance(df, {"a": "log", "b": "linear", "c": "category"}).set_index("setting")
    assert list(out.index)[0] == "a" and out.loc["a", "eta_squared"] > 0.7  # the setting that decides the score
    y = df["val_acc"].to_numpy()
    for key in ("a", "b"):  # terciles by value
        edges = np.quantile(df[key], [1 / 3, 2 / 3])
        groups = np.searchsorted(edges, df[key], side="left")
        assert out.loc[key, "groups"] == 3 and out.loc[key, "trials"] == 30
        assert out.loc[key, "eta_squared"] == pytest.approx(_eta_squared_by_regression(y, groups.tolist()))
        parts = [y[groups == g] for g in range(3)]
        assert out.loc[key, "p_value"] == pytest.approx(_kruskal_by_hand(parts))
        assert out.loc[key, "chance"] == pytest.approx(2 / 29)
    groups = [str(v) for v in df["c"]]
    assert out.loc["c", "eta_squared"] == pytest.approx(_eta_squared_by_regression(y, groups))
    assert out.loc["a", "p_value"] < 0.001 < out.loc["b", "p_value"]


def test_parameter_importance_uses_round_one_at_its_most_common_epochs_only():
    df = _trials(epochs=[1] * 20 + [4] * 10)
    later = _trials(seed=1).assign(round=2, val_acc=0.9)  # a promoted round: never counted
    out = R.parameter_importance(__import__("pandas").concat([df, later]), {"a": "log"})
    assert out.loc[0, "trials"] == 20
    same = R.parameter_importance(df[df["epochs_run"] == 1], {"a": "log"})
    assert out.loc[0, "eta_squared"] == pytest.approx(same.loc[0, "eta_squared"])


def test_parameter_importance_without_spread_or_groups_is_empty_not_an_error():
    df = _trials(n=4).assign(val_acc=0.5)
    out = R.parameter_importance(df, {"a": "log", "c": "category"})
    assert out["eta_squared"].isna().all() and out["p_value"].isna().all()
    one = R.parameter_importance(_trials(n=1), {"a": "log"})
    assert one.loc[0, "groups"] == 0 and one["eta_squared"].isna().all()
