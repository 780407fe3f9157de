"""stats: replicate summaries, paired tests, Holm, verdicts and sentences, each checked against an
independent computation (printed t tables, numeric integration, exact binomial sums with
math.comb, a loop-based bootstrap, a hand-worked Holm example) or a constructed case."""

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from cifarflow.report import stats as S

# ---------------------------------------------------------------------------------------------
# helpers


def t_pdf(x, nu):
    c = math.gamma((nu + 1) / 2) / (math.sqrt(nu * math.pi) * math.gamma(nu / 2))
    return c * (1 + x * x / nu) ** (-(nu + 1) / 2)


def t_cdf_numeric(q, nu, steps=200_000):
    """P(T <= q) for q > 0 by Simpson's rule on [0, q] (the density is symmetric)."""
    x = np.linspace(0.0, q, steps + 1)
    y = t_pdf(x, nu)
    h = q / steps
    integral = h / 3 * (y[0] + y[-1] + 4 * y[1:-1:2].sum() + 2 * y[2:-1:2].sum())
    return 0.5 + integral


def exact_mcnemar(b, c):
    """Two-sided exact McNemar p: twice the smaller binomial tail of Bin(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(n_images, a_only, b_only, both=0, seeds=1):
    """Correctness of A and B (seeds x images): ``both`` images right for both, ``a_only`` right only
    for A, ``b_only`` only for B, the rest wrong for both; every seed the same."""
    a = np.zeros(n_images, bool)
    b = np.zeros(n_images, bool)
    a[:both] = b[:both] = True
    a[both : both + a_only] = True
    b[both + a_only : both + a_only + b_only] = True
    return np.tile(a, (seeds, 1)), np.tile(b, (seeds, 1))


def run(seed, acc, loss=1.5, best=10, stopped=None, epochs_run=20, per_class=(0.3, 0.5), diverged=False):
    return {
        "variant": "v",
        "test_acc": acc,
        "test_loss": loss,
        "best_val_acc": acc + 0.01,
        "selected_val_acc": acc + 0.005,
        "best_epoch": best,
        "stopped_early": stopped is not None,
        "stopped_epoch": stopped,
        "epochs_run": epochs_run,
        "weight_norm2": 100.0 * (1 + seed),
        "diverged": diverged,
        "class_names": ["cat", "dog"],
        "per_class_acc": {"cat": per_class[0], "dog": per_class[1]},
        "config": {"seed": seed},
    }


# ---------------------------------------------------------------------------------------------
# replicate summaries

# two-sided 95% t quantiles from a printed table (degrees of freedom -> t_0.975)
T_TABLE = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 9: 2.262, 29: 2.045}


@pytest.mark.parametrize("df", sorted(T_TABLE))
def test_t_half_width_matches_the_printed_table(df):
    n, std = df + 1, 0.3
    assert S.t_half_width(std, n) == pytest.approx(T_TABLE[df] * std / math.sqrt(n), abs=0.0005 * std)


@pytest.mark.parametrize("n", [2, 3, 5, 10])
def test_t_quantile_has_97_5_percent_below_it_by_numeric_integration(n):
    q = S.t_half_width(1.0, n) * math.sqrt(n)  # the quantile itself
    assert t_cdf_numeric(q, n - 1) == pytest.approx(0.975, abs=1e-7)


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_t_half_width_is_scipy_stats_t_ppf_bit_for_bit(confidence):
    """The figure and table jobs use scipy.special.stdtrit to skip importing scipy.stats; the
    intervals must be the very numbers scipy.stats.t.ppf gives."""
    from scipy import stats as st

    for n in (2, 3, 4, 5, 10, 30, 1000):
        want = float(st.t.ppf(0.5 + confidence / 2, n - 1) * 0.37 / math.sqrt(n))
        assert S.t_half_width(0.37, n, confidence) == want


def test_summarize_by_hand():
    s = S.summarize([0.40, 0.42, 0.44])
    assert s.n == 3 and s.mean == pytest.approx(0.42)
    assert s.std == pytest.approx(0.02)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t_{0.975, 2}
    assert s.half == pytest.approx(half, rel=1e-9)
    assert (s.lo, s.hi) == (pytest.approx(0.42 - half), pytest.approx(0.42 + half))


def test_summarize_other_confidence_is_narrower():
    assert S.summarize([1.0, 2.0, 4.0], confidence=0.9).half < S.summarize([1.0, 2.0, 4.0]).half


def test_one_seed_has_no_interval_and_no_spread():
    s = S.summarize([0.42])
    assert s.n == 1 and s.mean == 0.42
    assert all(math.isnan(v) for v in (s.std, s.lo, s.hi, s.half))
    assert S.format_pm(s) == "42.00 (n=1)"


def test_zero_spread_gives_zero_width_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = S.summarize([0.1, 0.1, 0.1])
    assert s.std == 0.0 and s.half == 0.0 and s.lo == s.hi == s.mean == 0.1


def test_nan_values_are_left_out_and_counted():
    s = S.summarize([0.4, float("nan"), 0.5])
    assert s.n == 2 and s.n_missing == 1 and s.mean == pytest.approx(0.45)
    empty = S.summarize([])
    assert empty.n == 0 and math.isnan(empty.mean) and S.format_pm(empty) == "n/a (n=0)"


def test_bad_confidence_is_refused():
    with pytest.raises(ValueError, match="cifarflow: error: confidence"):
        S.summarize([1.0, 2.0], confidence=95)


def test_format_pm_writes_mean_and_half_width():
    s = S.Summary(mean=0.42312, std=0.001, n=3, lo=0.42192, hi=0.42432, half=0.0012)
    assert S.format_pm(s) == "42.31 ± 0.12 (n=3)"
    assert S.format_ci(s) == "42.31 [42.19, 42.43]"
    assert S.format_pm(S.summarize([10, 12, 14]), scale=1, digits=1) == f"12.0 ± {S.t_half_width(2.0, 3):.1f} (n=3)"
    assert "half-width of the 95% Student t" in S.PM_FOOTNOTE


def test_aggregate_runs_summarises_every_number():
    runs = [
        run(0, 0.40, best=8, stopped=13, per_class=(0.2, 0.6)),
        run(1, 0.42, best=10, stopped=None, epochs_run=20, per_class=(0.3, 0.5)),
        run(2, 0.44, loss=None, best=12, stopped=17, per_class=(0.4, 0.4), diverged=True),
    ]
    row = S.aggregate_runs(runs)
    assert row["variant"] == "v" and row["n_seeds"] == 3 and row["seeds"] == "0,1,2" and row["n_diverged"] == 1
    ref = S.summarize([0.40, 0.42, 0.44])
    assert row["test_acc_mean"] == pytest.approx(ref.mean) and row["test_acc_half"] == pytest.approx(ref.half)
    assert row["test_acc_lo"] == pytest.approx(ref.lo) and row["test_acc_n"] == 3
    assert row["test_loss_n"] == 2 and row["test_loss_mean"] == 1.5  # the missing loss is left out
    assert row["best_epoch_mean"] == 10 and row["best_epoch_std"] == pytest.approx(2.0)
    assert row["stop_epoch_mean"] == pytest.approx((13 + 20 + 17) / 3)  # not stopped: epochs_run
    assert row["acc_cat_mean"] == pytest.approx(0.3) and row["acc_dog_mean"] == pytest.approx(0.5)
    assert row["best_val_acc_mean"] == pytest.approx(0.43)
    assert row["weight_norm2_mean"] == pytest.approx(200.0) and row["weight_norm2_std"] == pytest.approx(100.0)
    back = S.summary_from_row(row, "test_acc")
    assert back.n == 3 and back.half == pytest.approx(ref.half)
    with pytest.raises(ValueError, match="at least one run"):
        S.aggregate_runs([])


# ---------------------------------------------------------------------------------------------
# McNemar


@pytest.mark.parametrize("b,c", [(10, 3), (3, 10), (0, 5), (7, 7), (50, 30), (1, 0), (120, 95)])
def test_mcnemar_matches_exact_binomial_sum(b, c):
    a, bb = paired(400, b, c, both=100)
    n10, n01, p = S.mcnemar_exact(a[0], bb[0])
    assert (n10, n01) == (b, c)
    assert p == pytest.approx(exact_mcnemar(b, c), rel=1e-9, abs=1e-15)


def test_mcnemar_without_discordant_images_is_one():
    a, b = paired(50, 0, 0, both=20)
    assert S.mcnemar_exact(a[0], b[0]) == (0, 0, 1.0)


def test_majority_vote_over_seeds():
    c = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0]], bool)
    assert S.majority_correct(c).tolist() == [True, True, False, False]
    even = np.array([[1, 1, 0], [0, 1, 0]], bool)  # a tie is not a majority
    assert S.majority_correct(even).tolist() == [False, True, False]
    assert S.majority_correct(np.array([True, False])).tolist() == [True, False]


# ---------------------------------------------------------------------------------------------
# paired bootstrap


def loop_bootstrap(a, b, seed, n_resamples, batch):
    """Percentile bootstrap written out: draw the index rows batch by batch from the same generator
    (as scipy.stats.bootstrap does), one resample at a time, then the 2.5% and 97.5% quantiles."""
    a = a.mean(axis=0)
    b = b.mean(axis=0)
    n = a.size
    rng = np.random.default_rng(seed)
    stats = []
    for k in range(0, n_resamples, batch):
        idx = rng.integers(0, n, (min(batch, n_resamples - k), n))
        for row in idx:
            stats.append(sum(a[i] for i in row) / n - sum(b[i] for i in row) / n)
    return np.quantile(np.array(stats), [0.025, 0.975])


def test_bootstrap_matches_a_loop_with_the_same_indices():
    rng = np.random.default_rng(5)
    a = rng.random((3, 300)) < 0.5
    b = rng.random((2, 300)) < 0.4  # different seed counts are fine: each is averaged per image
    diff, lo, hi = S.paired_bootstrap_diff(a, b, seed=11, n_resamples=999, batch=100)
    assert diff == pytest.approx(a.mean() - b.mean())
    ref = loop_bootstrap(a, b, seed=11, n_resamples=999, batch=100)
    assert (lo, hi) == (pytest.approx(ref[0], abs=1e-12), pytest.approx(ref[1], abs=1e-12))


def test_bootstrap_interval_of_a_known_difference():
    """2,000 images, A alone right on 60, B alone on 20: the difference is exactly 40/2000; the
    interval holds it and its width is the normal one, 2 * 1.96 * sd(d) / sqrt(n), within 10%."""
    a, b = paired(2000, 60, 20, both=800, seeds=3)
    diff, lo, hi = S.paired_bootstrap_diff(a, b, seed=0)
    assert diff == pytest.approx(0.02)
    assert lo < 0.02 < hi
    d = np.r_[np.ones(60), -np.ones(20), np.zeros(1920)]
    assert hi - lo == pytest.approx(2 * 1.959964 * d.std() / math.sqrt(2000), rel=0.1)


def test_bootstrap_coverage_on_simulated_classifiers():
    """200 simulated test sets where A is right with probability 0.6 and B with 0.5 (independent
    per image): the 95% interval holds the true 0.1 in about 95% of them."""
    rng = np.random.default_rng(123)
    hits = 0
    for i in range(200):
        a = rng.random((1, 400)) < 0.6
        b = rng.random((1, 400)) < 0.5
        _, lo, hi = S.paired_bootstrap_diff(a, b, seed=i, n_resamples=999)
        hits += lo <= 0.1 <= hi
    assert 0.90 <= hits / 200 <= 0.99


def test_identical_predictions_give_a_point_interval():
    a, _ = paired(100, 30, 0, both=10, seeds=2)
    assert S.paired_bootstrap_diff(a, a.copy()) == (0.0, 0.0, 0.0)


def test_bootstrap_is_deterministic_per_seed():
    rng = np.random.default_rng(2)
    a, b = rng.random((2, 500)) < 0.5, rng.random((2, 500)) < 0.45
    first = S.paired_bootstrap_diff(a, b, seed=3)
    assert S.paired_bootstrap_diff(a, b, seed=3) == first
    # another seed draws other resamples (the bounds are quantiles of a discrete statistic, so a
    # single other seed may land on the same ones)
    assert any(S.paired_bootstrap_diff(a, b, seed=k) != first for k in range(4, 9))


def test_bad_correctness_is_refused():
    with pytest.raises(ValueError, match="same test images"):
        S.paired_bootstrap_diff(np.ones((1, 5), bool), np.ones((1, 6), bool))
    with pytest.raises(ValueError, match="boolean"):
        S.paired_bootstrap_diff(np.full((1, 5), 0.5), np.ones((1, 5), bool))
    with pytest.raises(ValueError, match="seeds x images"):
        S.majority_correct(np.ones((2, 2, 2), bool))


# ---------------------------------------------------------------------------------------------
# Holm and verdicts


def test_holm_hand_worked_example():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    assert S.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert S.holm([0.5, 0.4]) == pytest.approx([0.8, 0.8])  # capped by the running max, not above 1
    assert S.holm([0.9, 0.6, 0.7]) == pytest.approx([1.0, 1.0, 1.0])
    assert S.holm([0.02]) == pytest.approx([0.02])
    assert S.holm([]).size == 0
    with pytest.raises(ValueError, match="p-values"):
        S.holm([0.1, 1.5])


def test_verdict_needs_test_and_interval_to_agree():
    assert S.verdict(0.01, 0.03, 40, 10, 0.001) == S.VERDICT_A
    assert S.verdict(-0.03, -0.01, 10, 40, 0.001) == S.VERDICT_B
    assert S.verdict(-0.001, 0.03, 40, 10, 0.001) == S.VERDICT_NONE  # interval holds 0
    assert S.verdict(0.01, 0.03, 40, 10, 0.2) == S.VERDICT_NONE  # p not small enough
    assert S.verdict(0.01, 0.03, 10, 40, 0.001) == S.VERDICT_NONE  # majority votes disagree in sign
    assert S.verdict(0.01, 0.03, 40, 10, 0.06, alpha=0.1) == S.VERDICT_A


def test_constructed_pairs_get_the_right_verdicts():
    a, b = paired(1000, 80, 20, both=300, seeds=3)
    assert S.compare_pair(a, b)["verdict"] == S.VERDICT_A
    assert S.compare_pair(b, a)["verdict"] == S.VERDICT_B
    assert S.compare_pair(a, a.copy())["verdict"] == S.VERDICT_NONE
    close_a, close_b = paired(1000, 22, 20, both=300, seeds=3)
    r = S.compare_pair(close_a, close_b)
    assert r["verdict"] == S.VERDICT_NONE and r["diff_lo"] < 0 < r["diff_hi"]
    assert r["p"] == pytest.approx(exact_mcnemar(22, 20))


def test_compare_pair_reports_seed_accuracies_with_t_intervals():
    rng = np.random.default_rng(0)
    a = rng.random((3, 800)) < 0.5
    b = rng.random((3, 800)) < 0.5
    r = S.compare_pair(a, b)
    per_seed = a.mean(axis=1)
    ref = S.summarize(per_seed)
    assert r["acc_a"] == pytest.approx(per_seed.mean()) and r["acc_a_lo"] == pytest.approx(ref.lo)
    assert r["n_seeds_a"] == 3 and r["n_images"] == 800
    n10, n01, _ = S.mcnemar_exact(S.majority_correct(a), S.majority_correct(b))
    assert (r["n_a_only"], r["n_b_only"]) == (n10, n01)


def test_pairs_table_adjusts_across_pairs_and_is_deterministic():
    base = np.zeros(600, bool)
    base[:200] = True
    x = base.copy()
    x[200:260] = True  # x: 60 more images right than z
    y = base.copy()
    y[200:215] = True  # y: 15 more
    z = base
    correct = {"x": np.tile(x, (3, 1)), "y": np.tile(y, (3, 1)), "z": np.tile(z, (3, 1))}
    t = S.pairs_table(correct, seed=7)
    assert list(t.columns) == S.PAIR_COLUMNS
    assert list(zip(t.variant_a, t.variant_b)) == [("x", "y"), ("x", "z"), ("y", "z")]
    assert t["p"].tolist() == pytest.approx([exact_mcnemar(45, 0), exact_mcnemar(60, 0), exact_mcnemar(15, 0)])
    assert t["p_adj"].to_numpy() == pytest.approx(S.holm(t["p"]))
    assert t["verdict"].tolist() == [S.VERDICT_A, S.VERDICT_A, S.VERDICT_A]
    pd.testing.assert_frame_equal(t, S.pairs_table(correct, seed=7))
    raw = S.pairs_table(correct, seed=7, correction="none")
    assert (raw["p_adj"] == raw["p"]).all()
    one = S.pairs_table(correct, pairs=[("z", "x")], seed=7)
    assert one["verdict"].tolist() == [S.VERDICT_B] and one["diff"].iloc[0] == pytest.approx(-0.1)
    # a pair's interval does not depend on which other pairs are in the table
    assert one["diff_lo"].iloc[0] == S.pairs_table(correct, pairs=[("z", "x"), ("x", "y")], seed=7)["diff_lo"].iloc[0]
    with pytest.raises(ValueError, match="'w', which has no predictions"):
        S.pairs_table(correct, pairs=[("x", "w")])


def test_holm_can_turn_a_verdict_into_no_detectable_difference():
    """Four pairs with p just under 0.05 each: unadjusted each would be 'better', Holm keeps none."""
    a, b = paired(400, 20, 8, both=100)
    p = S.mcnemar_exact(a[0], b[0])[2]
    assert 0.0125 < p < 0.05
    correct = {"a": a, "b": b}
    table = S.pairs_table(correct, pairs=[("a", "b")] * 4, correction="holm")
    assert (table["verdict"] == S.VERDICT_NONE).all()
    assert (S.pairs_table(correct, pairs=[("a", "b")] * 4, correction="none")["verdict"] == S.VERDICT_A).all()


def test_indistinguishable_groups_and_distinguishable_pairs():
    t = pd.DataFrame(
        {
            "variant_a": ["l0", "l0", "l0", "l1", "l1", "l2"],
            "variant_b": ["l1", "l2", "l3", "l2", "l3", "l3"],
            "verdict": [S.VERDICT_NONE, S.VERDICT_A, S.VERDICT_A, S.VERDICT_A, S.VERDICT_A, S.VERDICT_NONE],
        }
    )
    assert S.indistinguishable_groups(t) == [["l0", "l1"], ["l2", "l3"]]
    assert len(S.distinguishable_pairs(t)) == 4
    chain = pd.DataFrame(
        {
            "variant_a": ["a", "a", "b"],
            "variant_b": ["b", "c", "c"],
            "verdict": [S.VERDICT_NONE, S.VERDICT_A, S.VERDICT_NONE],
        }
    )
    assert S.indistinguishable_groups(chain) == [["a", "b"], ["b", "c"]]  # not transitive: sets overlap
    alone = pd.DataFrame(
        {
            "variant_a": ["a", "a", "b"],
            "variant_b": ["b", "c", "c"],
            "verdict": [S.VERDICT_NONE, S.VERDICT_A, S.VERDICT_B],
        }
    )
    assert S.indistinguishable_groups(alone, names=["c", "a", "b"]) == [["c"], ["a", "b"]]


def test_display_table_writes_pm_strings():
    runs = [
        run(k, acc, best=b, stopped=st)
        for k, (acc, b, st) in enumerate([(0.40, 8, 13), (0.42, 10, 15), (0.44, 12, 17)])
    ]
    row = S.aggregate_runs(runs)
    t = S.display_table([row])
    half = S.summarize([40.0, 42.0, 44.0]).half
    assert t.loc[0, "test accuracy (%)"] == f"42.00 ± {half:.2f} (n=3)"
    assert t.loc[0, "kept epoch"] == f"10.0 ± {S.t_half_width(2.0, 3):.1f} (n=3)"
    assert t.loc[0, "last epoch"] == f"15.0 ± {S.t_half_width(2.0, 3):.1f} (n=3)"
    assert t.loc[0, "test loss"] == "1.500 ± 0.000 (n=3)"
    single = S.display_table([S.aggregate_runs(runs[:1])], stems=("test_acc", "acc_cat"))
    assert single.loc[0].tolist() == ["v", "40.00 (n=1)", "n/a (one seed)", "30.00 (n=1)"]


def test_interval_with_test_sampling_equals_an_independent_satterthwaite_t_interval():
    from scipy import stats as st

    accs, n_test = [0.40, 0.401, 0.403], 10_000  # test-set sampling dominates
    lo, hi, half = S.with_test_sampling(accs, n_test, confidence=0.9)
    x = np.array(accs)
    a, b = x.var(ddof=1) / 3, x.mean() * (1 - x.mean()) / n_test
    df = (a + b) ** 2 / (a**2 / 2 + b**2 / (n_test - 1))
    expect = st.t.ppf(0.95, df) * np.sqrt(a + b)
    assert half == pytest.approx(expect, rel=1e-12) and lo == pytest.approx(x.mean() - expect)
    assert half > S.summarize(accs, 0.9).half  # wider than the seeds-only interval
    # seed spread dominating: Satterthwaite's df alone would give less than the seeds-only interval
    wide = [0.40, 0.42, 0.45]
    assert S.with_test_sampling(wide, n_test, 0.9)[2] == pytest.approx(S.summarize(wide, 0.9).half)
    assert all(np.isnan(S.with_test_sampling(accs[:1], n_test)))  # one seed: no spread known
    # identical seeds: only the test set's sampling remains, close to the normal binomial interval
    _, _, alone = S.with_test_sampling([0.5, 0.5, 0.5], n_test)
    assert alone == pytest.approx(1.96 * np.sqrt(0.25 / n_test), rel=1e-3)


def test_aggregate_rows_carry_the_test_set_size_from_the_confusion_matrix():
    runs = [dict(run(k, acc), confusion=[[30, 20], [10, 40]]) for k, acc in enumerate([0.7, 0.72])]
    row = S.aggregate_runs(runs)
    assert row["n_test"] == 100 and row["test_acc_total_lo"] <= row["test_acc_lo"]


def test_footnote_states_the_configured_level():
    assert "90% Student t" in S.pm_footnote(0.9) and "95% Student t" in S.PM_FOOTNOTE
