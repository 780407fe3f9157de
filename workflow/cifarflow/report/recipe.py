"""Is training recipe A better than recipe B? A comparison over seeds and test images (issue 24).

Pure functions: correctness arrays in, numbers and verdicts out; nothing here opens a file.

**The question.** A training recipe is a procedure whose result changes from seed to seed
(initialisation, data order, augmentation draws). "Is A better than B?" asks about the expected
test accuracy over seeds *and* over the distribution the test images are drawn from. The estimate
is the difference of grand means of the two seeds x images correctness matrices; its interval has
to carry both the seed-to-seed spread and the sampling of the test images. Whether two *trained
networks* differ on *this* test set is a narrower question (McNemar, a bootstrap over images in
:mod:`cifarflow.report.stats`); it never decides a recipe verdict.

**Variance: a two-way crossed random-effects decomposition.** A seeds x images matrix X (n x N)
with grand mean m is split into seed (row) effects r_s = rowmean_s - m, image (column) effects
c_i = colmean_i - m and the residual e = X - m - r - c. With seeds drawn independently, images
drawn independently and X_si any function of the seed, the image and independent noise (a
crossed exchangeable array; no normality or additivity needed), the mean squares
MS_row = N sum(r^2)/(n-1), MS_col = n sum(c^2)/(N-1), MS_e = sum(e^2)/((n-1)(N-1)) give the
unbiased estimate of the variance of the grand mean

    V = (MS_row + MS_col - MS_e)/(nN) = sum(r^2)/(n(n-1)) + sum(c^2)/(N(N-1)) - sum(e^2)/(nN(n-1)(N-1)).

The row term also holds the seed-by-image noise once (E MS_row = sigma_e^2 + N sigma_seed^2), and so
does the column term; subtracting the residual term leaves it counted once. *Paired* (both recipes
ran the same seeds with the same random streams, row s of A matches row s of B): V of
D = A - B, so what the seeds share cancels. *Unpaired*: the seed terms of A and of B from their own
rows, the image term from the per-image difference of column effects c_A - c_B (the images are
shared, so their common difficulty cancels), minus each variant's own residual term.

**Interval.** The seed terms rest on n-1 degrees of freedom (2 with 3 seeds), the image and
residual terms on thousands. A Student t interval with Welch-Satterthwaite degrees of freedom over
all the terms puts the estimated seed share into the df; with 3 paired seeds it under-covers
(computed exactly for a normal seed term: 92.2-94.9% at 95%, 96.5-98.9% at 99%, depending on the
image share), because the df come out large exactly when the seed term is drawn small. The
interval is instead the generalised pivotal (fiducial) one for a variance with one noisy part:
given the seed terms S with k degrees of freedom (k = n-1 paired; unpaired, the
Welch-Satterthwaite df of the two seed terms), the seed part's value is S k / U with U ~ chi^2_k,
never below the residual terms (the seed part holds the seed-by-image noise sigma_e^2/(nN), which
the residual terms estimate with (n-1)(N-1) df); the image part is taken as known (a negative
estimate counts as 0). The half-width q solves E_U[2 Phi(-q / sqrt(max(S k/U, resid) + image))] =
1 - level (:func:`half_width`). Without an image part this is the Student t interval with k df,
without a seed part the normal one; in between it is conservative (3 paired seeds, normal seed
term, computed exactly: 95.3-97.6% at 95%, 99.06-99.8% at 99%; the simulations in
tests/report/test_recipe.py measure 95.5-97% on correctness data). With fewer than 2 seeds on
either side no seed spread can be estimated: the interval is NaN and the verdict "undecided".
V itself can fall below the residual terms (with 2-3 seeds, a small seed spread and small
per-image differences); ``se`` then reports the residual terms and ``clipped`` is set.

**Verdicts.** "A better" when the interval lies above 0, "B better" below 0, "equivalent" inside
(-min_effect, +min_effect), the smallest effect of interest, else "undecided". Bounds within
:data:`ZERO_TOL` of 0 are 0 (0 up to rounding does not exclude 0).

**Seeds added until decided.** A question looks at planned seed counts (:func:`planned_looks`) and
stops at the first look whose verdict is not "undecided". Each look uses the level of
:func:`look_level`: Bonferroni over the planned looks and over the pairs of the question that
decide a verdict, so the chance that any look of any pair misses its true difference is at most
1 - level under any dependence between them (simple and valid; conservative, since the looks share
seeds). A false verdict needs such a miss: "A better" when A is not better, or "equivalent" when
the true difference is min_effect or more.

**P(A>B).** Bouthillier et al. (2021)'s probability of outperforming: the chance that a run of A
reaches a higher test accuracy than a run of B (ties count 1/2). Paired: the fraction of seeds on
which A beats B; unpaired: the Mann-Whitney U / (n_A n_B) over all pairs of runs. Its interval is a
percentile bootstrap over seeds (scipy.stats.bootstrap). It describes seed-to-seed consistency on
this test set; the verdict comes from the interval of the difference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import gammainccinv, gammaincinv, ndtr, ndtri, stdtrit  # scipy.stats imports slowly

from cifarflow.schema import statistics_settings

_DEFAULTS = statistics_settings({})  # the schema's defaults of the config's `statistics`
LEVEL = _DEFAULTS["confidence"]
MIN_EFFECT = _DEFAULTS["min_effect"]  # smallest effect of interest, accuracy fraction (0.5 points)
N_RESAMPLES = _DEFAULTS["n_resamples"]
ZERO_TOL = 1e-12  # bounds this close to 0 are 0

VERDICT_A = "A better"
VERDICT_B = "B better"
VERDICT_EQUIV = "equivalent"
VERDICT_UNDECIDED = "undecided"

STOP_DECIDED = "decided"
STOP_MAX = "max_seeds reached"
STOP_MORE = "more seeds needed"

RECIPE_FOOTNOTE = (
    "diff = test accuracy of recipe A minus recipe B (grand means over seeds and test images); its "
    "interval carries seed-to-seed and test-image variation (two-way crossed random-effects variance; "
    "a fiducial interval for the seed part's few degrees of freedom), paired by seed where both recipes drew the "
    "same random streams. P(A>B): share of seed pairs where A's run beats B's (ties 1/2), with a "
    "percentile bootstrap interval over seeds. Verdicts: better when the interval excludes 0, "
    "equivalent when it lies inside +-min_effect, otherwise undecided; the level is Bonferroni-split "
    "over the planned looks and the pairs of a question."
)


def _fail(msg: str):
    raise ValueError(f"cifarflow: error: {msg}")


# ---------------------------------------------------------------------------------------------
# variance decomposition


@dataclass(frozen=True)
class VarianceTerms:
    """The terms of V, the estimated variance of diff, each with its degrees of freedom.

    V = seed_a + seed_b + image - resid_a - resid_b. Paired: the terms of D = A - B sit in the
    ``_a`` slots and the ``_b`` terms are 0 (df inf). Each term is a mean square divided by a
    constant (see the module docstring) and has that mean square's degrees of freedom.
    """

    seed_a: float  # sum(rA^2)/(nA(nA-1)), df nA-1
    seed_b: float  # sum(rB^2)/(nB(nB-1)), df nB-1
    image: float  # sum(c^2)/(N(N-1)) (unpaired: c = cA - cB), df N-1
    resid_a: float  # sum(eA^2)/(nA N (nA-1)(N-1)), df (nA-1)(N-1)
    resid_b: float
    df_seed_a: float
    df_seed_b: float
    df_image: float
    df_resid_a: float
    df_resid_b: float

    @property
    def total(self) -> float:
        return self.seed_a + self.seed_b + self.image - self.resid_a - self.resid_b

    def seed_df(self) -> float:
        """Degrees of freedom of the seed part: Welch-Satterthwaite over the two seed terms,
        (seed_a + seed_b)^2 / (seed_a^2/df_a + seed_b^2/df_b) (paired: n-1); inf when both are 0."""
        den = self.seed_a**2 / self.df_seed_a + self.seed_b**2 / self.df_seed_b
        return math.inf if den == 0 else (self.seed_a + self.seed_b) ** 2 / den


def _effects(x: np.ndarray):
    """Grand mean, row effects, column effects and residual of a float (n, N) matrix."""
    m = x.mean()
    rm = x.mean(axis=1)
    cm = x.mean(axis=0)
    e = x - rm[:, None] - cm[None, :] + m
    return m, rm - m, cm - m, e


def _seed_resid(r, e, n: int, N: int) -> tuple[float, float]:
    return float(r @ r) / (n * (n - 1)), float(np.sum(e * e)) / (n * N * (n - 1) * (N - 1))


def variance_terms(a, b, paired: bool) -> VarianceTerms:
    """The terms of the variance of mean(a) - mean(b) for real (n, N) arrays with n >= 2, N >= 2.

    ``a``, ``b``: seeds x images (any real values; :func:`recipe_diff` passes 0/1 correctness).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    N = a.shape[1]
    if min(a.shape[0], b.shape[0], N) < 2 or b.shape[1] != N:
        _fail(f"variance terms need at least 2 seeds and 2 shared images, got shapes {a.shape} and {b.shape}")
    if paired:
        n = a.shape[0]
        _, r, c, e = _effects(a - b)
        seed, resid = _seed_resid(r, e, n, N)
        image = float(c @ c) / (N * (N - 1))
        return VarianceTerms(seed, 0.0, image, resid, 0.0, n - 1, math.inf, N - 1, (n - 1) * (N - 1), math.inf)
    na, nb = a.shape[0], b.shape[0]
    _, ra, ca, ea = _effects(a)
    _, rb, cb, eb = _effects(b)
    seed_a, resid_a = _seed_resid(ra, ea, na, N)
    seed_b, resid_b = _seed_resid(rb, eb, nb, N)
    dc = ca - cb
    image = float(dc @ dc) / (N * (N - 1))
    return VarianceTerms(
        seed_a, seed_b, image, resid_a, resid_b, na - 1, nb - 1, N - 1, (na - 1) * (N - 1), (nb - 1) * (N - 1)
    )


_GRID = 400  # quadrature points over log U
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)


def _chi2_grid(k: float) -> tuple[np.ndarray, np.ndarray]:
    """Points U and weights for E[g(U)], U ~ chi^2_k: :data:`_GRID` points evenly spaced in log U
    between chi^2_k's 1e-13 and 1 - 1e-16 quantiles, weights the density times U, summing to 1.
    In log U the integrand is smooth and decays at both ends, where such a sum converges fast."""
    t = np.linspace(math.log(2 * gammaincinv(k / 2, 1e-13)), math.log(2 * gammainccinv(k / 2, 1e-16)), _GRID)
    logw = 0.5 * k * t - 0.5 * np.exp(t)  # log of the chi^2_k density times U, up to a constant
    w = np.exp(logw - logw.max())
    return np.exp(t), w / w.sum()


def half_width(seed: float, k: float, resid: float, image: float, level: float) -> float:
    """Half-width q of the fiducial interval: P(|W| > q) = 1 - level for W given U normal with mean
    0 and variance max(seed * k / U, resid) + max(image, 0), U ~ chi^2_k (module docstring).

    ``seed``: the seed terms S, ``k`` their degrees of freedom, ``resid``: the residual terms (the
    floor of the seed part), ``image``: the image part. The expectation over U is a weighted sum
    (:func:`_chi2_grid`); with ``image`` and ``resid`` 0 it reproduces Student t quantiles to about
    1e-9 (relative) for k from 1 to 1e5 and levels up to 0.9999. q by Newton's method kept inside a
    bisection bracket. No seed part (S = 0, or k infinite): the normal quantile times
    sqrt(max(S, resid) + image).
    """
    alpha = 1 - level
    z = float(ndtri(1 - alpha / 2))
    image = max(image, 0.0)
    if seed <= 0 or not math.isfinite(k):
        return z * math.sqrt(max(seed, resid) + image)
    u, w = _chi2_grid(k)
    sd = np.sqrt(np.maximum(seed * k / u, resid) + image)
    lo, hi = z * sd.min(), z * sd.max()  # the tail at lo is >= alpha, at hi <= alpha
    q = min(max(float(stdtrit(k, 1 - alpha / 2)) * math.sqrt(seed + image), lo), hi)
    for _ in range(200):
        x = q / sd
        f = w @ (2 * ndtr(-x)) - alpha  # decreasing in q
        lo, hi = (q, hi) if f > 0 else (lo, q)
        slope = w @ (2 * _INV_SQRT_2PI * np.exp(-0.5 * x * x) / sd)  # -f'(q)
        new = q + f / slope if slope > 0 else hi
        new = new if lo < new < hi else math.sqrt(lo * hi)  # Newton's step, else bisection
        if abs(new - q) <= 1e-12 * q:
            return float(new)
        q = new
    return float(q)


# ---------------------------------------------------------------------------------------------
# probability of outperforming


def _u_stat(x, y, axis=-1):
    """Mann-Whitney U1 / (n_x n_y) along ``axis`` (vectorised for scipy.stats.bootstrap)."""
    x = np.moveaxis(np.asarray(x), axis, -1)[..., :, None]
    y = np.moveaxis(np.asarray(y), axis, -1)[..., None, :]
    return ((x > y) + 0.5 * (x == y)).mean(axis=(-2, -1))


def _mean(x, axis=-1):
    return np.mean(x, axis=axis)


def p_better(acc_a, acc_b, paired: bool, level: float = LEVEL, seed: int = 0, n_resamples: int = N_RESAMPLES):
    """P(A>B) from per-seed test accuracies, with a percentile bootstrap interval over seeds.

    Paired (``acc_a[s]`` and ``acc_b[s]`` from the same seed): the fraction of seeds on which A's
    accuracy is higher, ties 1/2; its interval resamples the seeds (the pairs together). Unpaired:
    U1 / (n_A n_B) of the Mann-Whitney test (scipy.stats.mannwhitneyu's U1); the interval
    resamples A's and B's seeds independently. ``numpy.random.default_rng(seed)`` drives the
    bootstrap, so the same inputs give the same bounds. Returns ``(p, lo, hi)``. The bounds are
    NaN with fewer than 2 seeds on either side or ``n_resamples=0`` (no interval, e.g. in
    simulations); when every resample gives the same value (A beats B on every pair, or all
    accuracies are equal) both bounds are that value.
    """
    x = np.asarray(acc_a, dtype=float).ravel()
    y = np.asarray(acc_b, dtype=float).ravel()
    if x.size == 0 or y.size == 0:
        _fail("P(A>B) needs at least one seed of each recipe")
    if paired:
        if x.size != y.size:
            _fail(f"paired P(A>B) needs as many seeds for A as for B ({x.size} vs {y.size})")
        w = (x > y) + 0.5 * (x == y)
        p, data = float(w.mean()), (w,)
        degenerate = np.all(w == w[0])
    else:
        p, data = float(_u_stat(x, y)), (x, y)
        degenerate = x.min() > y.max() or x.max() < y.min() or np.all(np.concatenate([x, y]) == x[0])
    if min(x.size, y.size) < 2 or n_resamples == 0:
        return p, math.nan, math.nan
    if degenerate:
        return p, p, p
    from scipy import stats as _st  # slow import, only here

    res = _st.bootstrap(
        data,
        _mean if paired else _u_stat,
        vectorized=True,
        n_resamples=n_resamples,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (p, p, p) if not (np.isfinite(lo) and np.isfinite(hi)) else (p, lo, hi)


# ---------------------------------------------------------------------------------------------
# the comparison


@dataclass(frozen=True)
class RecipeDiff:
    """Recipe A minus recipe B in test accuracy (fractions), with its interval at ``level``.

    ``se`` = sqrt(V) = sqrt(seed_var + image_var), or sqrt(resid_var) when that is larger (then
    ``clipped``; module docstring). ``df``: the degrees of freedom of the seed part (n-1 paired);
    ``crit`` = half-width / se, the critical value used: between the normal quantile and Student
    t's with ``df`` (a little above when ``image_var`` < 0 or ``clipped``). ``seed_var`` =
    ``seed_var_a + seed_var_b``: the seed part of V (the row terms; paired: all in ``seed_var_a``),
    which shrinks as 1/seeds; ``image_var``: the image part (the column term minus the residual
    terms), which only more test images shrink; ``resid_var``: the residual (seed-by-image noise)
    terms, counted in ``seed_var`` and subtracted in ``image_var``, V's lower bound.
    ``sd_seed``: the seed-to-seed standard deviation of one seed's accuracy difference; paired: the
    sd (ddof=1) of the per-seed differences; unpaired: sqrt(sd_A^2 + sd_B^2) of the per-seed
    accuracies (A's run minus an independent B run). ``p_better``: P(A>B) with its bootstrap
    interval at ``level`` (:func:`p_better`). With fewer than 2 seeds on either side se, df, crit,
    lo, hi and the variance parts are NaN (``diff``, ``sd_seed`` of a side with 2 seeds and
    ``p_better`` are still given).
    """

    diff: float
    lo: float
    hi: float
    se: float
    df: float
    crit: float
    level: float
    paired: bool
    n_a: int
    n_b: int
    n_images: int
    acc_a: float
    acc_b: float
    seed_var: float
    seed_var_a: float
    seed_var_b: float
    image_var: float
    resid_var: float
    clipped: bool
    sd_seed: float
    p_better: float
    p_better_lo: float
    p_better_hi: float


def _correctness(x, name: str) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim == 1:
        a = a[None, :]
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        _fail(f"{name}: correctness must be a seeds x images array, got shape {a.shape}")
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        _fail(f"{name}: correctness must be boolean (0/1)")
    return a.astype(bool)


def _check(a, b, paired: bool, level: float) -> tuple[np.ndarray, np.ndarray]:
    if not 0 < level < 1:
        _fail(f"level must be in (0, 1), got {level}")
    A, B = _correctness(a, "A"), _correctness(b, "B")
    if A.shape[1] != B.shape[1]:
        _fail(f"A and B must be scored on the same test images ({A.shape[1]} vs {B.shape[1]} images)")
    if A.shape[1] < 2:
        _fail("a recipe comparison needs at least 2 test images")
    if paired and A.shape[0] != B.shape[0]:
        _fail(f"a paired comparison needs the same seeds for A and B ({A.shape[0]} vs {B.shape[0]} seeds)")
    return A, B


def _snap(x: float) -> float:
    """0.0 for a bound within :data:`ZERO_TOL` of 0 (0 up to rounding), else the bound."""
    return 0.0 if abs(x) <= ZERO_TOL else x


def _sd_seed(counts_a, counts_b, N: int, paired: bool) -> float:
    if min(counts_a.size, counts_b.size) < 2:
        return math.nan
    if paired:
        return float(np.std((counts_a - counts_b) / N, ddof=1))
    return math.hypot(float(np.std(counts_a / N, ddof=1)), float(np.std(counts_b / N, ddof=1)))


def recipe_diff(
    a, b, paired: bool, level: float = LEVEL, *, seed: int = 0, n_resamples: int = N_RESAMPLES
) -> RecipeDiff:
    """Compare recipe A with recipe B from their seeds x images correctness (bool or 0/1).

    ``a``: (n_A, N), ``b``: (n_B, N), the same test images in the same order (a 1-D array is one
    seed). ``paired=True`` when both recipes ran the same seeds with the same random streams, row
    s of ``a`` matching row s of ``b`` (then n_A = n_B). Method: module docstring. ``seed`` and
    ``n_resamples`` drive the P(A>B) bootstrap (:func:`p_better`; 0 resamples: no interval).
    """
    A, B = _check(a, b, paired, level)
    (na, N), nb = A.shape, B.shape[0]
    ca, cb = A.sum(axis=1), B.sum(axis=1)  # per-seed counts of correct images
    acc_a, acc_b = float(ca.sum() / (na * N)), float(cb.sum() / (nb * N))
    diff = acc_a - acc_b
    p, p_lo, p_hi = p_better(ca, cb, paired, level, seed, n_resamples)
    nan = math.nan
    se = df = crit = lo = hi = seed_a = seed_b = image_var = resid = nan
    clipped = False
    if min(na, nb) >= 2:
        t = variance_terms(A, B, paired)
        resid, df = t.resid_a + t.resid_b, t.seed_df()
        seed_a, seed_b, image_var = t.seed_a, t.seed_b, t.image - resid
        V, clipped = max(t.total, resid), t.total < resid
        se = math.sqrt(V)
        half = half_width(seed_a + seed_b, df, resid, image_var, level)
        crit = half / se if se > 0 else math.nan
        lo, hi = _snap(diff - half), _snap(diff + half)
    return RecipeDiff(
        diff=diff,
        lo=lo,
        hi=hi,
        se=se,
        df=df,
        crit=crit,
        level=level,
        paired=paired,
        n_a=na,
        n_b=nb,
        n_images=N,
        acc_a=acc_a,
        acc_b=acc_b,
        seed_var=seed_a + seed_b,
        seed_var_a=seed_a,
        seed_var_b=seed_b,
        image_var=image_var,
        resid_var=resid,
        clipped=clipped,
        sd_seed=_sd_seed(ca, cb, N, paired),
        p_better=p,
        p_better_lo=p_lo,
        p_better_hi=p_hi,
    )


def verdict(d: RecipeDiff, min_effect: float = MIN_EFFECT) -> str:
    """One of :data:`VERDICT_A`, :data:`VERDICT_B`, :data:`VERDICT_EQUIV`, :data:`VERDICT_UNDECIDED`.

    A better: lo > 0; B better: hi < 0; equivalent: -min_effect < lo and hi < min_effect (in that
    order: an interval above 0 but inside the band is "A better", by less than min_effect);
    otherwise, and whenever the interval is NaN (fewer than 2 seeds), undecided. Bounds within
    :data:`ZERO_TOL` of 0 count as 0. ``min_effect``: accuracy fraction (0.005 = 0.5 points).
    """
    if min_effect < 0:
        _fail(f"min_effect must be >= 0, got {min_effect}")
    lo, hi = _snap(d.lo), _snap(d.hi)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return VERDICT_UNDECIDED
    if lo > 0:
        return VERDICT_A
    if hi < 0:
        return VERDICT_B
    if -min_effect < lo and hi < min_effect:
        return VERDICT_EQUIV
    return VERDICT_UNDECIDED


def seeds_to_decide(
    d: RecipeDiff, min_effect: float = MIN_EFFECT, level: float | None = None, power: float = 0.8, max_n: int = 1000
) -> int | None:
    """A plug-in estimate of the seeds per variant that would decide the question.

    Takes the observed diff and the observed variance parts as the truth: with n seeds per variant
    the seed part becomes sum_x seed_var_x * n_x / n (it shrinks as 1/seeds) and the image part
    stays (only more test images would shrink it; a negative estimate counts as 0), so
    se(n) = sqrt(seed part + image part). Returns the smallest n >= max(n_A, n_B), n <= ``max_n``,
    at which a normal-theory test at ``level`` (default ``d.level``; pass :func:`look_level`'s for
    sequential looks) has power ``power``: |diff| > (z_{(1+level)/2} + z_power) se(n) for
    "better", or |diff| + (z_{(1+level)/2} + z_power) se(n) < min_effect for "equivalent". None
    when no such n exists (the test set's own sampling error, or an effect near the edge of the
    band, keeps the question open at any number of seeds) or when fewer than 2 seeds leave the
    seed spread unknown. A rough guide, optimistic with few seeds (the observed diff is noisy; z
    instead of the interval's wider critical value), not a guarantee.
    """
    level = d.level if level is None else level
    if not (0 < level < 1 and 0 < power < 1):
        _fail(f"level and power must be in (0, 1), got {level} and {power}")
    n_now = max(d.n_a, d.n_b)
    if not np.isfinite(d.seed_var) or n_now > max_n:
        return None
    n = np.arange(n_now, max_n + 1)
    seed_part = (d.seed_var_a * d.n_a + d.seed_var_b * d.n_b) / n
    se = np.sqrt(seed_part + max(d.image_var, 0.0))
    k = float(ndtri(0.5 + level / 2) + ndtri(power))
    ok = (abs(d.diff) > k * se) | (abs(d.diff) + k * se < min_effect)
    return int(n[np.argmax(ok)]) if ok.any() else None


# ---------------------------------------------------------------------------------------------
# seeds added until decided


def look_level(level: float, n_looks: int, n_pairs: int = 1) -> float:
    """The level of each look's interval: 1 - (1 - level) / (n_looks * n_pairs).

    Bonferroni over the planned looks and over the pairs of a question that decide a verdict: the
    chance of any false verdict over all of them is at most the sum of the per-look chances,
    (1 - level), whatever their dependence. Conservative (the looks share their first seeds).
    """
    if not 0 < level < 1 or n_looks < 1 or n_pairs < 1:
        _fail(f"look_level needs level in (0, 1), n_looks >= 1 and n_pairs >= 1, got {level}, {n_looks}, {n_pairs}")
    return 1 - (1 - level) / (n_looks * n_pairs)


def planned_looks(n_first: int, max_seeds: int, batch: int) -> list[int]:
    """Seeds per variant at each look: n_first, n_first + batch, ..., with max_seeds the last.

    >>> planned_looks(3, 10, 2)
    [3, 5, 7, 9, 10]
    """
    if n_first < 1 or batch < 1 or max_seeds < n_first:
        _fail(f"planned looks need 1 <= n_first <= max_seeds and batch >= 1, got {n_first}, {max_seeds}, {batch}")
    looks = list(range(n_first, max_seeds + 1, batch))
    return looks if looks[-1] == max_seeds else looks + [max_seeds]


@dataclass(frozen=True)
class Sequential:
    """The state of a question decided by looks at planned seed counts.

    ``result``/``verdict``: the comparison at the last look made (``n_seeds`` per variant, look
    ``looks_used`` of ``n_looks``), each at the per-look ``level``. ``reason``: :data:`STOP_DECIDED`
    (a verdict other than undecided), :data:`STOP_MAX` (the last planned look is undecided) or
    :data:`STOP_MORE` (the data end before the next planned look: run ``next_n`` seeds per
    variant, then call again with them all).
    """

    result: RecipeDiff
    verdict: str
    n_seeds: int
    looks_used: int
    n_looks: int
    level: float
    reason: str
    next_n: int | None


def sequential_decision(
    a,
    b,
    paired: bool,
    looks: list[int],
    min_effect: float = MIN_EFFECT,
    level: float = LEVEL,
    n_pairs: int = 1,
    *,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> Sequential:
    """Look at the first ``looks[k]`` seeds (rows) of ``a`` and ``b`` for k = 0, 1, ... and stop at
    the first verdict other than "undecided", or at the last look.

    Every look uses :func:`look_level` (``level``, len(looks), ``n_pairs``), so the chance of a
    false "better" over all looks is at most 1 - ``level`` (per pair; over the question's
    ``n_pairs`` pairs together). Seeds beyond the last look made are ignored. Raises when a or b
    has fewer seeds than the first look.
    """
    looks = [int(n) for n in looks]
    if not looks or any(x >= y for x, y in zip(looks, looks[1:])) or looks[0] < 1:
        _fail(f"looks must be increasing seed counts >= 1, got {looks}")
    A, B = _check(a, b, paired, level)
    have = min(A.shape[0], B.shape[0])
    if have < looks[0]:
        _fail(f"the first look needs {looks[0]} seeds per variant, got {have}")
    lv = look_level(level, len(looks), n_pairs)
    made = [n for n in looks if n <= have]
    for k, n in enumerate(made, start=1):
        d = recipe_diff(A[:n], B[:n], paired, lv, seed=seed, n_resamples=n_resamples)
        v = verdict(d, min_effect)
        if v != VERDICT_UNDECIDED:
            return Sequential(d, v, n, k, len(looks), lv, STOP_DECIDED, None)
    if len(made) == len(looks):
        return Sequential(d, v, n, k, len(looks), lv, STOP_MAX, None)
    return Sequential(d, v, n, k, len(looks), lv, STOP_MORE, looks[k])
