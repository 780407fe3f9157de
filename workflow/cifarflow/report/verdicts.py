"""Recipe verdicts for pairs of variants: the paired tables and the answers' sentences.

A user's question ("does shuffling help?", "softmax or sigmoid?") is about a training recipe,
whose result changes from seed to seed. Each pair's verdict therefore comes from
:func:`cifarflow.report.recipe.recipe_diff`: the difference in test accuracy with an interval that
carries both the seed-to-seed spread and the test set's sampling, P(A>B) over seeds, and one of
four verdicts (A better, B better, equivalent within ±min_effect, undecided). Every interval that
decides a verdict is at one family-wise level: Bonferroni over the pairs of the table and over the
looks of a question that adds seeds (:func:`cifarflow.report.recipe.look_level`).

The image-level analysis of :mod:`cifarflow.report.stats` (a bootstrap over test images of the
seed-averaged correctness, McNemar on the majority vote, Holm) stays in the table as a secondary,
labelled statement about *these trained networks on this test set*; it never decides a verdict.

Pure functions: arrays in, DataFrames and sentences out; nothing here opens a file.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from . import recipe, stats

RECIPE_COLUMNS = [
    "variant_a",
    "variant_b",
    "n_seeds_a",
    "acc_a",
    "acc_a_lo",
    "acc_a_hi",
    "n_seeds_b",
    "acc_b",
    "acc_b_lo",
    "acc_b_hi",
    "n_images",
    "paired",
    "level",
    "diff",
    "diff_lo",
    "diff_hi",
    "se",
    "df",
    "seed_var",
    "image_var",
    "resid_var",
    "sd_seed",
    "p_better",
    "p_better_lo",
    "p_better_hi",
    "min_effect",
    "verdict",
    "seeds_needed",
    "look",
    "n_looks",
    "stop_reason",
]
IMAGE_COLUMNS = ["img_diff_lo", "img_diff_hi", "n_a_only", "n_b_only", "p_img", "p_img_adj", "img_verdict"]

STOP_OWN = "own seeds"  # a question without `decide` (or a comparison's table): the variants' own seeds
STOP_DECIDED = "decided"
STOP_MAX = "max_seeds reached"
STOP_FUTILE = "futile"  # no undecided pair would likely be decided within max_seeds

RECIPE_FOOTNOTE = (
    "diff = test accuracy of recipe A minus recipe B (mean over seeds and test images). Its interval "
    "carries the seed-to-seed spread and the test set's sampling: a t interval (Welch-Satterthwaite "
    "degrees of freedom) around a two-way (seeds x images) variance-components standard error, paired "
    "by seed when both recipes ran the same seeds with the same epoch plans and initial draws. The "
    "level is family-wise: 1 - alpha split (Bonferroni) over the pairs of the table and over the looks "
    "of a question that adds seeds. P(A>B) is the probability that a seed of A beats a seed of B on this "
    "test set, with a percentile bootstrap interval over seeds. Verdicts: A better / B better when the "
    "interval excludes 0, equivalent when it lies inside ±min_effect, else undecided (with the seeds per "
    "variant that would likely decide it). Image-level columns (img_*, p_img) hold the trained networks "
    "fixed (bootstrap over test images, McNemar on majority votes, Holm): they describe these networks "
    "on this test set and decide nothing."
)


def _acc_summary(c: np.ndarray, confidence: float):
    return stats.summarize(c.mean(axis=1), confidence)


def recipe_pairs_table(
    correct: dict,
    pairs,
    paired,
    *,
    alpha: float = stats.ALPHA,
    min_effect: float = 0.005,
    n_looks: int = 1,
    look: int = 1,
    stop_reason: str = STOP_OWN,
    confidence: float = stats.CONFIDENCE,
    seed: int = 0,
    n_resamples: int = stats.N_RESAMPLES,
    image_level: bool = True,
) -> pd.DataFrame:
    """Every pair's recipe comparison (and, with ``image_level``, the image-level columns).

    ``correct``: variant -> seeds x images bool (rows in seed order, the same test images);
    ``pairs``: [(A, B)]; ``paired``: one bool per pair (rows of A and B match seed by seed).
    The verdict intervals are at ``recipe.look_level(1 - alpha, n_looks, len(pairs))``.
    """
    pairs = [tuple(p) for p in pairs]
    paired = list(paired)
    if len(paired) != len(pairs):
        raise ValueError("cifarflow: error: recipe_pairs_table needs one paired flag per pair")
    for a, b in pairs:
        for v in (a, b):
            if v not in correct:
                raise ValueError(f"cifarflow: error: pair ({a}, {b}) names {v!r}, which has no predictions")
    level = recipe.look_level(1 - alpha, n_looks, max(len(pairs), 1))
    rows = []
    for (a, b), is_paired in zip(pairs, paired):
        ca, cb = np.asarray(correct[a], dtype=bool), np.asarray(correct[b], dtype=bool)
        d = recipe.recipe_diff(
            ca, cb, paired=is_paired, level=level, seed=stats.pair_seed(seed, a, b), n_resamples=n_resamples
        )
        v = recipe.verdict(d, min_effect)
        need = recipe.seeds_to_decide(d, min_effect, level) if v == recipe.VERDICT_UNDECIDED else None
        if need is not None:  # undecided now: the normal-theory estimate can name the current count
            need = max(need, max(d.n_a, d.n_b) + 1)
        sa, sb = _acc_summary(ca, confidence), _acc_summary(cb, confidence)
        rows.append(
            {
                "variant_a": a,
                "variant_b": b,
                "n_seeds_a": sa.n,
                "acc_a": sa.mean,
                "acc_a_lo": sa.lo,
                "acc_a_hi": sa.hi,
                "n_seeds_b": sb.n,
                "acc_b": sb.mean,
                "acc_b_lo": sb.lo,
                "acc_b_hi": sb.hi,
                "n_images": int(ca.shape[1]),
                "paired": bool(is_paired),
                "level": level,
                "diff": d.diff,
                "diff_lo": d.lo,
                "diff_hi": d.hi,
                "se": d.se,
                "df": d.df,
                "seed_var": d.seed_var,
                "image_var": d.image_var,
                "resid_var": d.resid_var,
                "sd_seed": d.sd_seed,
                "p_better": d.p_better,
                "p_better_lo": d.p_better_lo,
                "p_better_hi": d.p_better_hi,
                "min_effect": float(min_effect),
                "verdict": v,
                "seeds_needed": math.nan if need is None else float(need),
                "look": int(look),
                "n_looks": int(n_looks),
                "stop_reason": stop_reason,
            }
        )
    table = pd.DataFrame(rows, columns=RECIPE_COLUMNS)
    if image_level:
        table = pd.concat([table, _image_columns(correct, pairs, alpha, confidence, seed, n_resamples)], axis=1)
    return table


def _image_columns(correct, pairs, alpha, confidence, seed, n_resamples) -> pd.DataFrame:
    """The image-level analysis of the same pairs (stats.pairs_table), renamed as secondary columns."""
    if not pairs:
        return pd.DataFrame(columns=IMAGE_COLUMNS)
    img = stats.pairs_table(
        correct, pairs=pairs, seed=seed, alpha=alpha, n_resamples=n_resamples, confidence=confidence
    )
    return pd.DataFrame(
        {
            "img_diff_lo": img["diff_lo"].to_numpy(),
            "img_diff_hi": img["diff_hi"].to_numpy(),
            "n_a_only": img["n_a_only"].to_numpy(),
            "n_b_only": img["n_b_only"].to_numpy(),
            "p_img": img["p"].to_numpy(),
            "p_img_adj": img["p_adj"].to_numpy(),
            "img_verdict": img["verdict"].to_numpy(),
        }
    )


def decided(table: pd.DataFrame) -> bool:
    """A look decides a question when no pair of it is undecided."""
    return bool(len(table)) and not (table["verdict"] == recipe.VERDICT_UNDECIDED).any()


def futile(table: pd.DataFrame, max_seeds: int) -> bool:
    """More seeds would likely not decide the question: every undecided pair would need more than
    `max_seeds` seeds per variant by the plug-in power estimate (or no number would do, because the
    test set's own sampling error is larger than the effect). Stopping for futility never makes a
    false "better" more likely: it only gives up chances to conclude."""
    open_pairs = table[table["verdict"] == recipe.VERDICT_UNDECIDED]
    if open_pairs.empty:
        return False
    if (open_pairs[["n_seeds_a", "n_seeds_b"]].min(axis=1) < 2).any():
        return False  # one seed: no spread to judge by yet
    need = open_pairs["seeds_needed"].to_numpy(dtype=float)
    return bool(np.all(~np.isfinite(need) | (need > max_seeds)))


# ---------------------------------------------------------------------------------------------
# display


def _pct_level(level: float) -> str:
    return f"{100 * level:.4g}%"


def _interval(lo: float, hi: float) -> str:
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "no interval"
    return f"{100 * lo:+.2f} to {100 * hi:+.2f}"


def _prob(row) -> str:
    p = row["p_better"]
    if not np.isfinite(p):
        return "n/a"
    lo, hi = row["p_better_lo"], row["p_better_hi"]
    return f"{p:.2f}" if not (np.isfinite(lo) and np.isfinite(hi)) else f"{p:.2f} [{lo:.2f}, {hi:.2f}]"


def recipe_display(table: pd.DataFrame) -> pd.DataFrame:
    """The Markdown form of a :func:`recipe_pairs_table`: A and B (their display labels when the
    table has `label_a`/`label_b`, else their names), accuracies, the recipe difference with its
    interval and level, P(A>B), the verdict, seeds, and the image-level p. Print
    :data:`RECIPE_FOOTNOTE` under it."""

    def acc(r, side):
        lo, hi = r[f"acc_{side}_lo"], r[f"acc_{side}_hi"]
        half = (hi - lo) / 2 if np.isfinite(lo) and np.isfinite(hi) else math.nan
        return stats.format_ci(stats.Summary(r[f"acc_{side}"], math.nan, int(r[f"n_seeds_{side}"]), lo, hi, half))

    out = []
    for _, r in table.iterrows():
        d = {
            "A": r["label_a"] if "label_a" in table.columns else r["variant_a"],
            "B": r["label_b"] if "label_b" in table.columns else r["variant_b"],
            "A acc. (%)": acc(r, "a"),
            "B acc. (%)": acc(r, "b"),
            "A − B (points)": f"{100 * r['diff']:+.2f} [{_interval(r['diff_lo'], r['diff_hi'])}]",
            "level": _pct_level(r["level"]),
            "P(A>B)": _prob(r),
            "verdict": verdict_words(r),
            "seeds": f"{int(r['n_seeds_a'])} / {int(r['n_seeds_b'])}" + (" (paired)" if r["paired"] else ""),
        }
        if "p_img_adj" in table.columns:
            d["networks: McNemar p (Holm)"] = "< 0.001" if r["p_img_adj"] < 0.001 else f"{r['p_img_adj']:.3f}"
        out.append(d)
    return pd.DataFrame(out)


def verdict_words(row) -> str:
    """The verdict with its qualifier: "equivalent (±0.50)", "undecided (~12 seeds)"."""
    v = row["verdict"]
    if v == recipe.VERDICT_EQUIV:
        return f"equivalent (±{100 * row['min_effect']:.2f})"
    if v == recipe.VERDICT_UNDECIDED:
        need = row.get("seeds_needed", math.nan)
        if min(int(row["n_seeds_a"]), int(row["n_seeds_b"])) < 2:
            return "undecided (one seed)"
        return f"undecided (~{int(need)} seeds)" if np.isfinite(need) else "undecided (test set too small)"
    return v


# ---------------------------------------------------------------------------------------------
# sentences

# preset kind -> (the question as the answer heads it, label of A, label of B)
PRESETS = {
    "softmax_vs_sigmoid": (
        "Softmax vs sigmoid (DD2424 bonus part II)",
        "softmax with cross-entropy",
        "sigmoid with multiple binary cross-entropy",
    ),
    "flip": ("Flip probability (DD2424 bonus part I)", "flips with p = 0.2", "flips with p = 0.5"),
    "shuffle": ("Shuffling vs not (TDT4265)", "shuffling", "no shuffling"),
    "relu_vs_softplus": ("ReLU vs softplus (IFT6390)", "the ReLU MLP", "the softplus MLP"),
    "ce_vs_mse": ("Cross-entropy vs MSE (IFT6390)", "cross-entropy", "the mean squared error"),
}


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def _acc_clause(mean: float, lo: float, hi: float, n: int, confidence: float) -> str:
    if n < 2 or not (np.isfinite(lo) and np.isfinite(hi)):
        return f"{_pct(mean)} (one seed, no interval)"
    lo, hi = max(lo, 0.0), min(hi, 1.0)  # an accuracy lies in [0, 1]; the t interval does not know
    return f"{_pct(mean)} ({100 * confidence:.4g}% CI over seeds {_pct(lo)} to {_pct(hi)}, {n} seeds)"


def _diff_clause(row) -> str:
    how = "paired by seed" if row["paired"] else "unpaired"
    if not (np.isfinite(row["diff_lo"]) and np.isfinite(row["diff_hi"])):
        return f"the recipe difference is {100 * row['diff']:+.2f} points (no interval: one seed)"
    return (
        f"the recipe difference is {100 * row['diff']:+.2f} points ({_pct_level(row['level'])} CI "
        f"{_interval(row['diff_lo'], row['diff_hi'])} over seeds and test images, {how}), P(A>B) = {_prob(row)}"
    )


def verdict_phrase(row, label_a: str, label_b: str) -> str:
    v = row["verdict"]
    if v == recipe.VERDICT_A:
        return f"{label_a} is better"
    if v == recipe.VERDICT_B:
        return f"{label_b} is better"
    delta = f"±{100 * row['min_effect']:.2f} points"
    if v == recipe.VERDICT_EQUIV:
        return f"{label_a} and {label_b} are equivalent within {delta}"
    if min(int(row["n_seeds_a"]), int(row["n_seeds_b"])) < 2:
        return "undecided: one seed gives no seed-to-seed spread to judge by"
    need = row.get("seeds_needed", math.nan)
    tail = (
        f"about {int(need)} seeds per variant would likely decide it"
        if np.isfinite(need)
        else "more seeds would not decide it: the test set's own sampling error is too large for this effect"
    )
    return f"undecided (the interval holds 0 and differences beyond {delta}); {tail}"


def seeds_phrase(row) -> str:
    n = max(int(row["n_seeds_a"]), int(row["n_seeds_b"]))
    reason = row.get("stop_reason", STOP_OWN)
    if reason == STOP_DECIDED:
        return f"decided with {n} seeds per variant (look {int(row['look'])} of at most {int(row['n_looks'])})"
    if reason == STOP_MAX:
        return f"stopped at the maximum of {n} seeds per variant ({int(row['n_looks'])} looks)"
    if reason == STOP_FUTILE:
        return (
            f"stopped with {n} seeds per variant (look {int(row['look'])} of at most {int(row['n_looks'])}):"
            " more seeds up to the maximum would likely not decide it"
        )
    return f"{n} seeds per variant (the variants' own seeds)"


def pair_answer(row, label_a: str, label_b: str, head: str, confidence: float = stats.CONFIDENCE) -> str:
    """One answer for one pair: both accuracies, the recipe difference with its interval, P(A>B),
    the verdict, and the seeds it took."""
    acc_a = _acc_clause(row["acc_a"], row["acc_a_lo"], row["acc_a_hi"], int(row["n_seeds_a"]), confidence)
    acc_b = _acc_clause(row["acc_b"], row["acc_b_lo"], row["acc_b_hi"], int(row["n_seeds_b"]), confidence)
    return (
        f"{head}: {label_a} reaches {acc_a} and {label_b} {acc_b}; {_diff_clause(row)}; "
        f"verdict: {verdict_phrase(row, label_a, label_b)}; {seeds_phrase(row)}."
    )


def epochs_phrase(stop_epochs, stopped_early, kept=None) -> str:
    """Where training ended over the seeds: the mean and range of the last epoch, how many seeds
    early stopping ended, and the mean of the kept (validation-chosen) epochs."""
    x = np.asarray([e for e in stop_epochs if e is not None and np.isfinite(e)], dtype=float)
    if x.size == 0:
        return "n/a"
    where = (
        f"{x[0]:.0f}" if x.size == 1 or np.all(x == x[0]) else f"{x.mean():.1f} (range {x.min():.0f} to {x.max():.0f})"
    )
    early = sum(bool(s) for s in stopped_early)
    text = f"epoch {where}, early stopping ending {early} of {len(stopped_early)} seeds"
    k = np.asarray([e for e in (kept or []) if e is not None and np.isfinite(e)], dtype=float)
    if k.size:
        text += f", keeping epoch {k.mean():.1f} on average"
    return text


def sweep_answer(table: pd.DataFrame, labels: dict, head: str, confidence: float = stats.CONFIDENCE) -> str:
    """One answer for a sweep (every pair of 2+ variants): each value's accuracy, which pairs are
    decided (better / equivalent) at the family-wise level, the best values, and the seeds."""
    acc = {}
    for _, r in table.iterrows():
        for side in ("a", "b"):
            name = r[f"variant_{side}"]
            acc.setdefault(
                name,
                (r[f"acc_{side}"], r[f"acc_{side}_lo"], r[f"acc_{side}_hi"], int(r[f"n_seeds_{side}"])),
            )
    means = "; ".join(f"{labels.get(n, n)}: {_acc_clause(*acc[n], confidence)}" for n in labels if n in acc)
    better, equiv, undecided = [], [], 0
    beaten = set()
    for _, r in table.iterrows():
        a, b = labels.get(r["variant_a"], r["variant_a"]), labels.get(r["variant_b"], r["variant_b"])
        if r["verdict"] in (recipe.VERDICT_A, recipe.VERDICT_B):
            win, lose = (a, b) if r["verdict"] == recipe.VERDICT_A else (b, a)
            beaten.add(r["variant_b"] if r["verdict"] == recipe.VERDICT_A else r["variant_a"])
            sign = 1 if r["verdict"] == recipe.VERDICT_A else -1
            lo, hi = sorted((sign * r["diff_lo"], sign * r["diff_hi"]))
            better.append(f"{win} beats {lose} by {100 * sign * r['diff']:.2f} points ({_interval(lo, hi)})")
        elif r["verdict"] == recipe.VERDICT_EQUIV:
            equiv.append(f"{a} ≈ {b}")
        else:
            undecided += 1
    n = len(table)
    level = _pct_level(table["level"].iloc[0]) if n else "n/a"
    over = "its one pair" if n == 1 else f"the {n} pairs"
    parts = [f"{head}: test accuracy {means}", f"at the family-wise {level} level over {over}"]
    parts.append("better: " + "; ".join(better) if better else "no pair differs")
    if equiv:
        parts.append(f"equivalent within ±{100 * table['min_effect'].iloc[0]:.2f} points: " + ", ".join(equiv))
    if undecided:
        parts.append(f"{undecided} of {n} pairs undecided")
    unbeaten = [labels.get(x, x) for x in labels if x in acc and x not in beaten]
    if better and unbeaten:
        parts.append("not beaten by any other value: " + ", ".join(unbeaten))
    return "; ".join(parts) + f"; {seeds_phrase(table.iloc[0]) if n else ''}."
