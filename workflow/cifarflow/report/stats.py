"""Statistics over replicate seeds and paired tests between variants (issue 16).

Pure functions: numbers and arrays in, numbers, tables and sentences out; nothing here opens a
file. The library does the statistics (scipy: Student t quantiles through ``scipy.special.stdtrit``, the
function ``scipy.stats.t.ppf`` evaluates; ``scipy.stats.binomtest``,
``bootstrap``); the few lines written here are the bookkeeping around it and Holm's step-down
correction, which scipy does not have.

Three layers:

* **Replicates** -- :func:`summarize` gives mean, standard deviation (ddof=1), n and a 95% Student
  t confidence interval of the mean for the per-seed values of one variant;
  :func:`aggregate_runs` does that for every number in a variant's ``metrics.json`` records (one
  per seed) and returns one flat row; :func:`format_pm` writes ``"42.31 ± 0.12 (n=3)"`` where
  ``±`` is the **half-width of the 95% t interval** (not the standard deviation; see
  :data:`PM_FOOTNOTE`).
* **Paired comparisons** -- :func:`compare_pair` compares two variants on the same test images from
  their per-seed per-image correctness (seeds x images, bool): the accuracy difference A - B with a
  95% paired bootstrap interval over test images, McNemar's exact test, and a verdict;
  :func:`pairs_table` does every pair of a comparison with Holm's correction across its pairs.
The answers' sentences, and the recipe-level comparison that decides their verdicts, are in
:mod:`cifarflow.report.verdicts` and :mod:`cifarflow.report.recipe`: the paired comparison here
holds the trained networks fixed and stays a secondary, image-level statement.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # the Student t quantile that scipy.stats.t.ppf evaluates

from cifarflow.schema import statistics_settings

_DEFAULTS = statistics_settings({})  # the schema's defaults of the config's `statistics`
CONFIDENCE = _DEFAULTS["confidence"]
ALPHA = _DEFAULTS["alpha"]
N_RESAMPLES = _DEFAULTS["n_resamples"]
VERDICT_A = "A better"
VERDICT_B = "B better"
VERDICT_NONE = "no detectable difference"


def pm_footnote(confidence: float = CONFIDENCE) -> str:
    """What "±" means in the tables, at the configured confidence level."""
    return (
        f"Values are the mean over replicate seeds ± the half-width of the {100 * confidence:.4g}% Student t "
        "confidence interval of that mean (t quantile with n-1 degrees of freedom times std/sqrt(n), std with "
        "ddof=1): how precisely these seeds pin down the recipe's mean on this test set. n is the number of "
        "seeds. With n=1 no interval exists and only the value is shown."
    )


PM_FOOTNOTE = pm_footnote(CONFIDENCE)

TOTAL_FOOTNOTE = (
    "The test accuracy column 'incl. test-set sampling' widens that interval by the test set's own "
    "sampling error (the binomial variance p(1-p)/N of an accuracy on N test images, added to the "
    "seed-to-seed variance of the mean; Welch-Satterthwaite degrees of freedom): the interval for the "
    "recipe's accuracy on new images of the same distribution."
)

# ---------------------------------------------------------------------------------------------
# replicate summaries


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation (ddof=1), count and confidence interval of per-seed values.

    ``lo``/``hi`` are the bounds of the Student t interval of the mean at ``confidence`` and
    ``half`` its half-width. With n=1 the standard deviation and the interval are NaN (one seed
    says nothing about seed-to-seed spread); with n=0 everything but n is NaN. ``n_missing``
    counts values that were NaN (for example a diverged run's test loss) and were left out.
    """

    mean: float
    std: float
    n: int
    lo: float
    hi: float
    half: float
    confidence: float = CONFIDENCE
    n_missing: int = 0


def t_half_width(std: float, n: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the Student t interval of a mean: t_{(1+c)/2, n-1} * std / sqrt(n).

    NaN for n < 2; exactly 0.0 when ``std`` is 0 (no spread, no warning).
    """
    if n < 2 or not np.isfinite(std):
        return math.nan
    if std == 0:
        return 0.0
    # scipy.special.stdtrit(df, q) is scipy.stats.t.ppf(q, df) (the same function, bit for bit);
    # importing scipy.stats costs every figure and table job about 0.7 s more
    return float(stdtrit(n - 1, 0.5 + confidence / 2) * std / math.sqrt(n))


def summarize(values, confidence: float = CONFIDENCE) -> Summary:
    """Summarise one variant's per-seed values (a sequence of numbers; NaN values are left out).

    >>> s = summarize([0.40, 0.42, 0.44]); round(s.mean, 4), round(s.half, 4), s.n
    (0.42, 0.0497, 3)
    """
    if not 0 < confidence < 1:
        raise ValueError(f"cifarflow: error: confidence must be in (0, 1), got {confidence}")
    x = np.asarray(values, dtype=float).ravel()
    finite = x[~np.isnan(x)]
    n = int(finite.size)
    missing = int(x.size - n)
    if n == 0:
        nan = math.nan
        return Summary(nan, nan, 0, nan, nan, nan, confidence, missing)
    mean = float(finite.mean())
    if n == 1:
        return Summary(mean, math.nan, 1, math.nan, math.nan, math.nan, confidence, missing)
    std = float(finite.std(ddof=1))
    if std == 0 or np.all(finite == finite[0]):
        std = 0.0
        mean = float(finite[0])  # the exact value, not a rounded average of equal numbers
    half = t_half_width(std, n, confidence)
    return Summary(mean, std, n, mean - half, mean + half, half, confidence, missing)


def format_pm(s: Summary, scale: float = 100.0, digits: int = 2) -> str:
    """``"42.31 ± 0.12 (n=3)"``: the mean times ``scale`` ± the 95% t half-width (see PM_FOOTNOTE).

    ``scale=100`` turns fractions into percentage points; use ``scale=1, digits=1`` for epochs.
    With n=1: ``"42.31 (n=1)"``; with no values: ``"n/a (n=0)"``.
    """
    if s.n == 0 or not np.isfinite(s.mean):
        return f"n/a (n={s.n})"
    m = f"{s.mean * scale:.{digits}f}"
    if s.n == 1 or not np.isfinite(s.half):
        return f"{m} (n={s.n})"
    return f"{m} ± {s.half * scale:.{digits}f} (n={s.n})"


def format_ci(s: Summary, scale: float = 100.0, digits: int = 2) -> str:
    """``"42.31 [42.19, 42.43]"``: the mean with its interval written as bounds (n=1: the mean)."""
    if s.n == 0 or not np.isfinite(s.mean):
        return "n/a"
    if not np.isfinite(s.half):
        return f"{s.mean * scale:.{digits}f}"
    return f"{s.mean * scale:.{digits}f} [{s.lo * scale:.{digits}f}, {s.hi * scale:.{digits}f}]"


def stop_epoch(metrics: dict) -> float:
    """The epoch training ended at: early stopping's epoch when it stopped, else the epochs run."""
    if metrics.get("stopped_early") and metrics.get("stopped_epoch") is not None:
        return float(metrics["stopped_epoch"])
    return float(metrics.get("epochs_run", math.nan))


# (column stem, how to read it from one metrics.json record)
_RUN_FIELDS = (
    ("test_acc", lambda m: m.get("test_acc")),
    ("test_loss", lambda m: m.get("test_loss")),
    ("best_val_acc", lambda m: m.get("best_val_acc")),
    ("selected_val_acc", lambda m: m.get("selected_val_acc")),
    ("best_epoch", lambda m: m.get("best_epoch")),
    ("stop_epoch", stop_epoch),
    ("weight_norm2", lambda m: m.get("weight_norm2")),
)


def _num(v) -> float:
    return math.nan if v is None else float(v)


def aggregate_runs(runs: list[dict], variant: str | None = None, confidence: float = CONFIDENCE) -> dict:
    """One row of numbers for one variant from its per-seed ``metrics.json`` records.

    For each of test_acc, test_loss, best_val_acc, selected_val_acc, best_epoch (the epoch whose
    weights were kept, chosen on validation), stop_epoch (see :func:`stop_epoch`), weight_norm2 and
    every class's per-class test accuracy (``acc_<class>``) the row holds ``<stem>_mean``, ``_std``, ``_lo``,
    ``_hi``, ``_half`` and ``_n``; also ``variant``, ``n_seeds``, ``seeds`` (from each record's
    ``config.seed``, comma-separated) and ``n_diverged``. A missing value (None, for example a
    diverged run's numbers) is left out of its column's n.
    """
    if not runs:
        raise ValueError("cifarflow: error: aggregate_runs needs at least one run")
    name = variant if variant is not None else runs[0].get("variant", "")
    row: dict = {"variant": name, "n_seeds": len(runs)}
    n_test = int(np.asarray(runs[0].get("confusion") or [[0]]).sum())
    lo, hi, half = with_test_sampling([_num(r.get("test_acc")) for r in runs], n_test, confidence)
    row.update({"n_test": n_test, "test_acc_total_lo": lo, "test_acc_total_hi": hi, "test_acc_total_half": half})
    row["seeds"] = ",".join(str((r.get("config") or {}).get("seed", "")) for r in runs)
    row["n_diverged"] = int(sum(bool(r.get("diverged")) for r in runs))
    fields = list(_RUN_FIELDS)
    classes = list(runs[0].get("class_names") or (runs[0].get("per_class_acc") or {}).keys())
    for c in classes:
        fields.append((f"acc_{c}", lambda m, c=c: (m.get("per_class_acc") or {}).get(c)))
    for stem, get in fields:
        s = summarize([_num(get(r)) for r in runs], confidence)
        row.update(
            {
                f"{stem}_mean": s.mean,
                f"{stem}_std": s.std,
                f"{stem}_lo": s.lo,
                f"{stem}_hi": s.hi,
                f"{stem}_half": s.half,
                f"{stem}_n": s.n,
            }
        )
    return row


def with_test_sampling(values, n_test: int, confidence: float = CONFIDENCE) -> tuple[float, float, float]:
    """(lo, hi, half) of a variant's mean test accuracy over seeds, with the test set's sampling
    error added to the seed-to-seed error: V = s^2/n + p(1-p)/N (p the mean accuracy, N the test
    images; the binomial term bounds the image part of the mean over seeds, which share the
    images), t quantile with Welch-Satterthwaite degrees of freedom, and never narrower than the
    seeds-only t interval (Satterthwaite's larger df could make it so). NaN with fewer than 2 seeds
    (no seed-to-seed spread is known) or no test images."""
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    n = x.size
    if n < 2 or not n_test or n_test < 2:
        return math.nan, math.nan, math.nan
    p = float(x.mean())
    seed_part = float(x.var(ddof=1)) / n
    image_part = p * (1 - p) / n_test
    total = seed_part + image_part
    if total <= 0:
        return p, p, 0.0
    df = total**2 / (seed_part**2 / (n - 1) + image_part**2 / (n_test - 1))
    half = float(stdtrit(df, 0.5 + confidence / 2) * math.sqrt(total))
    # Satterthwaite's larger df can make the combined interval narrower than the seeds-only one
    # although its variance is larger: never report less than the seeds alone give.
    half = max(half, t_half_width(math.sqrt(seed_part * n), n, confidence))
    return p - half, p + half, half


def summary_from_row(row, stem: str, confidence: float = CONFIDENCE) -> Summary:
    """Rebuild the :class:`Summary` of column ``stem`` from an :func:`aggregate_runs` row."""
    return Summary(
        float(row[f"{stem}_mean"]),
        float(row[f"{stem}_std"]),
        int(row[f"{stem}_n"]),
        float(row[f"{stem}_lo"]),
        float(row[f"{stem}_hi"]),
        float(row[f"{stem}_half"]),
        confidence,
    )


_DISPLAY = {
    "test_acc": ("test accuracy (%)", 100.0, 2),
    "best_val_acc": ("best validation accuracy (%)", 100.0, 2),
    "selected_val_acc": ("validation accuracy at the kept epoch (%)", 100.0, 2),
    "test_loss": ("test loss", 1.0, 3),
    "best_epoch": ("kept epoch", 1.0, 1),
    "stop_epoch": ("last epoch", 1.0, 1),
    "weight_norm2": ("||W||^2", 1.0, 2),
}


def display_table(rows, stems=("test_acc", "best_val_acc", "test_loss", "best_epoch", "stop_epoch")) -> pd.DataFrame:
    """The Markdown/LaTeX form of :func:`aggregate_runs` rows: one string column per stem,
    ``"42.31 ± 0.12 (n=3)"`` (:func:`format_pm`; accuracies in percent), headed by a readable
    name. Print :data:`PM_FOOTNOTE` under it. The CSV keeps the numeric rows instead."""
    out = []
    for row in rows:
        d = {"variant": row["variant"]}
        for stem in stems:
            label, scale, digits = _DISPLAY.get(stem, (stem, 100.0 if stem.startswith("acc_") else 1.0, 2))
            d[label] = format_pm(summary_from_row(row, stem), scale=scale, digits=digits)
            if stem == "test_acc" and "test_acc_total_half" in row:
                half = row["test_acc_total_half"]
                d["test accuracy incl. test-set sampling (%)"] = (
                    f"{100 * row['test_acc_mean']:.2f} ± {100 * half:.2f}" if np.isfinite(half) else "n/a (one seed)"
                )
        out.append(d)
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# paired comparisons


def _correctness(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ValueError(f"cifarflow: error: {name}: correctness must be a seeds x images array, got shape {a.shape}")
    if a.dtype != bool:
        if not np.isin(a, (0, 1)).all():
            raise ValueError(f"cifarflow: error: {name}: correctness must be boolean (0/1)")
        a = a.astype(bool)
    return a


def correctness(probs, labels) -> np.ndarray:
    """Per-image correctness (bool, images) of one run from its test probabilities (images x
    classes, as in predictions.h5) and the true labels; stack the seeds' arrays for the paired
    functions. A one-column output (a logistic model) counts p >= 0.5 as class 1."""
    p = np.asarray(probs)
    y = np.asarray(labels).ravel()
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ValueError(f"cifarflow: error: probabilities of shape {p.shape} do not match {y.size} labels")
    pred = (p[:, 0] >= 0.5).astype(np.int64) if p.shape[1] == 1 else p.argmax(axis=1)
    return pred == y


def majority_correct(correct) -> np.ndarray:
    """Per image: True when a strict majority of the seeds classify it correctly.

    With an even number of seeds a tie counts as not correct (the same rule for both variants, so
    it favours neither). With one seed it is that seed's correctness.
    """
    c = _correctness(correct, "correctness")
    return 2 * c.sum(axis=0) > c.shape[0]


def mcnemar_exact(a_correct, b_correct) -> tuple[int, int, float]:
    """McNemar's exact test on paired per-image correctness (1-D bool arrays of equal length).

    Returns ``(n_a_only, n_b_only, p)``: the images only A gets right, only B gets right, and the
    two-sided exact p-value, ``scipy.stats.binomtest(n_a_only, n_a_only + n_b_only, 0.5)``. With no
    discordant image p is 1.
    """
    a = np.asarray(a_correct, dtype=bool).ravel()
    b = np.asarray(b_correct, dtype=bool).ravel()
    if a.shape != b.shape:
        raise ValueError(
            f"cifarflow: error: McNemar needs the same test images for both variants ({a.size} vs {b.size})"
        )
    n10 = int(np.count_nonzero(a & ~b))
    n01 = int(np.count_nonzero(~a & b))
    if n10 + n01 == 0:
        return n10, n01, 1.0
    from scipy import stats as _st

    return n10, n01, float(_st.binomtest(n10, n10 + n01, 0.5, alternative="two-sided").pvalue)


def pair_seed(seed: int, name_a: str, name_b: str) -> int:
    """The bootstrap seed of one pair: from the configured seed and the two names (stable across
    runs and Python versions, and unchanged when other pairs are added to the comparison)."""
    h = hashlib.sha256(f"{int(seed)}\0{name_a}\0{name_b}".encode()).digest()
    return int.from_bytes(h[:8], "little")


def paired_bootstrap_diff(
    a_correct,
    b_correct,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    batch: int = 256,
) -> tuple[float, float, float]:
    """Accuracy difference A - B and its paired percentile bootstrap interval over test images.

    ``a_correct``/``b_correct``: seeds x images bool arrays (the seed counts may differ; the images
    must be the same, in the same order). Each image's correctness is averaged over the seeds of
    each variant, and ``scipy.stats.bootstrap(..., method="percentile")`` resamples the test
    images (the same images for A and B: the per-image differences) ``n_resamples`` times from
    ``numpy.random.default_rng(seed)`` in batches of ``batch`` rows (bounded memory); the same
    inputs and seed give the same interval. When every image has the same difference (for example
    identical predictions) the interval is that value, without resampling.

    The percentile method: the statistic is a mean of bounded per-image values over thousands of
    images, where its bootstrap distribution is close to symmetric and BCa would move the bounds by
    far less than their Monte Carlo error.
    """
    a = _correctness(a_correct, "A").mean(axis=0)
    b = _correctness(b_correct, "B").mean(axis=0)
    if a.shape != b.shape:
        raise ValueError(f"cifarflow: error: paired bootstrap needs the same test images ({a.size} vs {b.size})")
    d = a - b
    diff = float(d.mean())
    if np.all(d == d[0]):
        return diff, float(d[0]), float(d[0])
    # The paired bootstrap resamples images, carrying A's and B's outcomes on each image along; the
    # statistic mean(a) - mean(b) of such a resample is the mean of the per-image differences d, so
    # resampling d alone gives the same distribution (and the same interval) at half the cost.
    from scipy import stats as _st

    res = _st.bootstrap(
        (d,),
        lambda x, axis=-1: np.mean(x, axis=axis),
        vectorized=True,
        n_resamples=n_resamples,
        batch=batch,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return diff, float(res.confidence_interval.low), float(res.confidence_interval.high)


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (family-wise error rate), in the input order.

    Sort p ascending, multiply the i-th smallest (i from 0) by (m - i), take the running maximum
    and cap at 1. A hypothesis is rejected at level alpha when its adjusted p is below alpha; this
    controls the chance of any false "better" among the m pairs, under any dependence between the
    tests (which share variants), and never rejects less than Bonferroni.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    m = p.size
    if m == 0:
        return p
    if np.any((p < 0) | (p > 1) | np.isnan(p)):
        raise ValueError("cifarflow: error: p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.maximum.accumulate(scaled)
    return out


def verdict(diff_lo: float, diff_hi: float, n_a_only: int, n_b_only: int, p_adj: float, alpha: float = ALPHA) -> str:
    """ "A better", "B better" or "no detectable difference".

    A winner is named only when both analyses agree: the (adjusted) McNemar p is below ``alpha``,
    the discordant images favour that variant, and the bootstrap interval of A - B excludes 0 on
    the same side. Otherwise: no detectable difference.
    """
    if not (p_adj < alpha):
        return VERDICT_NONE
    if n_a_only > n_b_only and diff_lo > 0:
        return VERDICT_A
    if n_b_only > n_a_only and diff_hi < 0:
        return VERDICT_B
    return VERDICT_NONE


def compare_pair(
    a_correct,
    b_correct,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    alpha: float = ALPHA,
) -> dict:
    """Everything about one pair, unadjusted: accuracies (mean over seeds, t interval), the
    difference with its bootstrap interval, the discordant counts, McNemar's p and the verdict at
    ``alpha`` from the unadjusted p (:func:`pairs_table` recomputes it from Holm's p).

    How the replicates enter: the accuracy difference averages each image's correctness over the
    seeds (all replicate information is used, the images are the resampling unit). McNemar's test
    needs one correct/incorrect outcome per image and variant: a strict majority vote over the
    seeds (:func:`majority_correct`). Pooling the seed-matched pairs instead would count each image
    once per seed as if the seeds' outcomes on it were independent, which they are not (the same
    image tends to be right or wrong across seeds), so its p-values would be too small; the vote
    keeps one independent pair per image, as McNemar assumes, and is the ordinary McNemar test when
    there is one seed.
    """
    A = _correctness(a_correct, "A")
    B = _correctness(b_correct, "B")
    sa = summarize(A.mean(axis=1), confidence)
    sb = summarize(B.mean(axis=1), confidence)
    diff, lo, hi = paired_bootstrap_diff(A, B, seed=seed, n_resamples=n_resamples, confidence=confidence)
    n10, n01, p = mcnemar_exact(majority_correct(A), majority_correct(B))
    return {
        "n_seeds_a": sa.n,
        "acc_a": sa.mean,
        "acc_a_lo": sa.lo,
        "acc_a_hi": sa.hi,
        "n_seeds_b": sb.n,
        "acc_b": sb.mean,
        "acc_b_lo": sb.lo,
        "acc_b_hi": sb.hi,
        "n_images": int(A.shape[1]),
        "diff": diff,
        "diff_lo": lo,
        "diff_hi": hi,
        "n_a_only": n10,
        "n_b_only": n01,
        "p": p,
        "verdict": verdict(lo, hi, n10, n01, p, alpha),
    }


PAIR_COLUMNS = [
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
    "diff",
    "diff_lo",
    "diff_hi",
    "n_a_only",
    "n_b_only",
    "p",
    "p_adj",
    "verdict",
]


def pairs_table(
    correct: dict,
    pairs=None,
    seed: int = 0,
    alpha: float = ALPHA,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
    correction: str = "holm",
) -> pd.DataFrame:
    """The paired comparison of every pair of variants (or of the given ``pairs``) as a DataFrame.

    ``correct`` maps variant name -> seeds x images bool array (the same test images, same order).
    ``pairs``: a list of (A, B) names; default every unordered pair in the mapping's order, the
    earlier name as A. Columns: :data:`PAIR_COLUMNS` (accuracies as fractions; ``n_a_only`` are the
    images only A gets right by majority vote; ``p_adj`` is Holm-adjusted across the pairs of this
    table, or equal to ``p`` with ``correction="none"``; the verdict uses ``p_adj``). Holm because
    one comparison asks one question of several pairs, and a reader takes any "better" in it as a
    finding; Holm controls the chance of any false one without assuming independence between
    pairs that share a variant. Each pair's bootstrap seed is :func:`pair_seed` of ``seed``.
    """
    if correction not in ("holm", "none"):
        raise ValueError(f"cifarflow: error: correction must be 'holm' or 'none', got {correction!r}")
    names = list(correct)
    pairs = list(itertools.combinations(names, 2)) if pairs is None else [tuple(p) for p in pairs]
    rows = []
    for a, b in pairs:
        for v in (a, b):
            if v not in correct:
                raise ValueError(f"cifarflow: error: pair ({a}, {b}) names {v!r}, which has no predictions")
        r = compare_pair(
            correct[a],
            correct[b],
            seed=pair_seed(seed, a, b),
            n_resamples=n_resamples,
            confidence=confidence,
            alpha=alpha,
        )
        rows.append({"variant_a": a, "variant_b": b, **r})
    df = pd.DataFrame(rows, columns=[c for c in PAIR_COLUMNS if c != "p_adj"] + ["p_adj"])
    if df.empty:
        return df[PAIR_COLUMNS]
    df["p_adj"] = holm(df["p"].to_numpy()) if correction == "holm" else df["p"].to_numpy()
    df["verdict"] = [verdict(r.diff_lo, r.diff_hi, r.n_a_only, r.n_b_only, r.p_adj, alpha) for r in df.itertuples()]
    return df[PAIR_COLUMNS]


def indistinguishable_groups(pairs: pd.DataFrame, names=None) -> list[list[str]]:
    """The maximal sets of variants in which every pair got "no detectable difference".

    Not detecting a difference is not transitive (a ~ b and b ~ c while a differs from c), so the
    sets may overlap, like a compact letter display: here {a, b} and {b, c}. A variant that differs
    from all others forms a set of its own. Members keep the order of ``names`` (default: first
    appearance in the table); sets are ordered by their first member. A pair missing from the
    table counts as not compared, so not as indistinguishable.
    """
    if names is None:
        names = list(dict.fromkeys(list(pairs["variant_a"]) + list(pairs["variant_b"])))
    names = list(names)
    pos = {n: i for i, n in enumerate(names)}
    near: dict = {n: set() for n in names}
    for r in pairs.itertuples():
        if r.verdict == VERDICT_NONE and r.variant_a in near and r.variant_b in near and r.variant_a != r.variant_b:
            near[r.variant_a].add(r.variant_b)
            near[r.variant_b].add(r.variant_a)
    cliques: list = []

    def grow(current: set, candidates: set, excluded: set) -> None:  # Bron-Kerbosch
        if not candidates and not excluded:
            cliques.append(sorted(current, key=pos.get))
            return
        for v in sorted(candidates, key=pos.get):
            grow(current | {v}, candidates & near[v], excluded & near[v])
            candidates = candidates - {v}
            excluded = excluded | {v}

    grow(set(), set(names), set())
    return sorted(cliques, key=lambda g: [pos[n] for n in g])


def distinguishable_pairs(pairs: pd.DataFrame) -> pd.DataFrame:
    """The rows of a pairs table with a verdict other than "no detectable difference"."""
    return pairs[pairs["verdict"] != VERDICT_NONE]
