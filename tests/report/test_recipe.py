"""recipe: the recipe-level comparison over seeds and test images (issue 24), checked against
independent computations (two-level bootstraps whose variance has a known expectation, Gaussian
crossed random-effects data with a known variance, the spread of the difference over simulated
replications, scipy.stats.mannwhitneyu, Student t quantiles) and by simulation on synthetic
seeds x images correctness with a known recipe effect (coverage, error rates, power).

The simulation model (:class:`Scenario`, probit scale): run s of recipe R gets image i right when
U_si < Phi(mu_R + u_Rs + d_i + w_Ri), with d_i ~ N(0, image_sd^2) the image's difficulty (shared
by both recipes), w_Ri ~ N(0, disagree_sd^2) the recipe's own per-image effect (the images on which
the recipes disagree), u_Rs ~ N(0, seed_sd^2) the run's seed shift and U uniform. Paired: A and B
on the same seed share half their seed shift's variance (correlation ``seed_corr``) and the same
uniforms U (the same random streams); unpaired: independent. The true accuracy of R over seeds and
images is exactly Phi(mu_R / sqrt(1 + seed_sd^2 + image_sd^2 + disagree_sd^2)), so mu_A is set to
give the wanted true effect exactly. Every simulation uses numpy's default_rng with a fixed seed.
"""

import dataclasses
import math

import numpy as np
import pytest
from scipy.special import ndtr, ndtri, stdtrit

from cifarflow.report import recipe as R

# ---------------------------------------------------------------------------------------------
# the simulation model


@dataclasses.dataclass(frozen=True)
class Scenario:
    effect: float  # true accuracy of A minus B over seeds and images (fraction)
    seed_sd: float  # probit sd of a run's seed shift
    paired: bool = True
    n_images: int = 2000
    image_sd: float = 1.5  # probit sd of image difficulty, shared by A and B
    disagree_sd: float = 0.5  # probit sd of each recipe's own per-image effect
    seed_corr: float = 0.5  # paired: correlation of A's and B's seed shifts on the same seed
    mu_b: float = 0.0  # B's probit intercept (true accuracy 50%)

    @property
    def scale(self) -> float:
        return math.sqrt(1 + self.seed_sd**2 + self.image_sd**2 + self.disagree_sd**2)

    @property
    def mu_a(self) -> float:
        return self.scale * float(ndtri(ndtr(self.mu_b / self.scale) + self.effect))

    def true_acc(self, mu: float) -> float:
        return float(ndtr(mu / self.scale))

    def draw(self, rng, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(A, B): n seeds x n_images correctness of each recipe."""
        N, s = self.n_images, self.seed_sd
        d = self.image_sd * rng.standard_normal(N)
        wa, wb = self.disagree_sd * rng.standard_normal((2, N))
        if self.paired:
            common = math.sqrt(self.seed_corr) * rng.standard_normal(n)
            own = math.sqrt(1 - self.seed_corr)
            ua, ub = s * (common + own * rng.standard_normal(n)), s * (common + own * rng.standard_normal(n))
            ua_u = ub_u = rng.random((n, N))
        else:
            ua, ub = s * rng.standard_normal(n), s * rng.standard_normal(n)
            ua_u, ub_u = rng.random((n, N)), rng.random((n, N))
        a = ua_u < ndtr(self.mu_a + ua[:, None] + d + wa)
        b = ub_u < ndtr(self.mu_b + ub[:, None] + d + wb)
        return a, b


def test_scenario_true_effect_is_exact():
    sc = Scenario(effect=0.01, seed_sd=0.1)
    assert sc.true_acc(sc.mu_a) - sc.true_acc(sc.mu_b) == pytest.approx(0.01, abs=1e-12)
    # and the closed form agrees with a large-sample average over seeds and images
    rng = np.random.default_rng(0)
    u = sc.seed_sd * rng.standard_normal(400)[:, None]
    x = sc.image_sd * rng.standard_normal(20_000) + sc.disagree_sd * rng.standard_normal(20_000)
    assert ndtr(sc.mu_a + u + x).mean() == pytest.approx(sc.true_acc(sc.mu_a), abs=0.003)


# ---------------------------------------------------------------------------------------------
# the variance decomposition against independent computations


def _bootstrap_diffs(a, b, paired, scheme, rng, reps=20_000):
    """Grand-mean differences of ``reps`` two-level bootstrap resamples, by counts: seeds (rows)
    resampled with replacement (the same rows for A and B when paired, independently otherwise),
    images (columns) resampled with replacement and shared by A and B; ``scheme`` says which."""
    a, b = a.astype(float), b.astype(float)
    (na, N), nb = a.shape, b.shape[0]
    ones = np.ones

    def rows(n):
        return rng.multinomial(n, np.full(n, 1 / n), size=reps) if scheme in ("seeds", "both") else ones((reps, n))

    ca = rows(na)
    cb = ca if paired else rows(nb)
    cc = rng.multinomial(N, np.full(N, 1 / N), size=reps) if scheme in ("images", "both") else ones((reps, N))
    return ((ca @ a) * cc).sum(1) / (na * N) - ((cb @ b) * cc).sum(1) / (nb * N)


def _bootstrap_expectation(t: R.VarianceTerms, na, nb, N, scheme):
    """The exact bootstrap variance from the terms. Resampling seeds: sum(r^2)/n^2 per variant;
    images: sum(c^2)/N^2; both: those plus sum(e^2)/(nN)^2 per variant (the residual's row and
    column sums are 0, so only the same (seed, image) cell correlates with itself). In the terms'
    units: seed_x (n-1)/n, image (N-1)/N and resid_x (n-1)(N-1)/(nN)."""
    seeds = t.seed_a * (na - 1) / na + t.seed_b * (nb - 1) / nb
    images = t.image * (N - 1) / N
    resid = t.resid_a * (na - 1) * (N - 1) / (na * N) + t.resid_b * (nb - 1) * (N - 1) / (nb * N)
    return {"seeds": seeds, "images": images, "both": seeds + images + resid}[scheme]


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("scheme", ["seeds", "images", "both"])
def test_variance_terms_match_two_level_bootstrap(paired, scheme):
    """Each term of V against a brute-force bootstrap whose variance it determines exactly."""
    rng = np.random.default_rng(11)
    sc = Scenario(effect=0.05, seed_sd=0.4, paired=paired, n_images=60)
    a, b = sc.draw(rng, 4)
    if not paired:
        b = np.vstack([b, sc.draw(rng, 2)[1]])  # 4 seeds of A, 6 of B
    t = R.variance_terms(a, b, paired)
    expected = _bootstrap_expectation(t, a.shape[0], b.shape[0], a.shape[1], scheme)
    boot = _bootstrap_diffs(a, b, paired, scheme, rng)
    assert boot.var(ddof=1) == pytest.approx(expected, rel=0.05)  # MC error about 1%


def test_recipe_diff_reports_the_variance_terms():
    rng = np.random.default_rng(2)
    a, b = Scenario(effect=0.02, seed_sd=0.2, paired=False).draw(rng, 3)
    t = R.variance_terms(a, b, paired=False)
    d = R.recipe_diff(a, b, paired=False, n_resamples=0)
    assert (d.seed_var_a, d.seed_var_b) == (t.seed_a, t.seed_b)
    assert d.seed_var == t.seed_a + t.seed_b
    assert d.resid_var == t.resid_a + t.resid_b
    assert d.image_var == pytest.approx(t.image - t.resid_a - t.resid_b, abs=1e-18)
    assert d.se == pytest.approx(math.sqrt(t.total), rel=1e-12) and not d.clipped
    assert d.diff == pytest.approx(a.mean() - b.mean(), abs=1e-15)
    assert d.df == pytest.approx(t.seed_df()) and 2 <= d.df <= 4


def _mean_within(values, truth, k=4.0):
    values = np.asarray(values)
    se = values.std(ddof=1) / math.sqrt(values.size)
    assert abs(values.mean() - truth) < k * se, (values.mean(), truth, se)


def test_variance_estimate_is_unbiased_on_gaussian_crossed_model():
    """X = u_s + v_i + e_si with known sigmas: the mean of V over many draws is the true variance of
    the grand mean, sigma_u^2/n + sigma_v^2/N + sigma_e^2/(nN) (paired: V of D = X - 0)."""
    rng = np.random.default_rng(3)
    n, N, su, sv, se = 3, 40, 0.5, 2.0, 3.0
    zeros = np.zeros((n, N))
    vs = [
        R.variance_terms(
            su * rng.standard_normal((n, 1)) + sv * rng.standard_normal(N) + se * rng.standard_normal((n, N)),
            zeros,
            True,
        ).total
        for _ in range(4000)
    ]
    _mean_within(vs, su**2 / n + sv**2 / N + se**2 / (n * N))


def test_unpaired_variance_estimate_is_unbiased_on_gaussian_crossed_model():
    """A = uA_s + v_i + eA, B = uB_s + g v_i + w_i + eB (shared images, own seeds): the mean of V is
    sA^2/nA + sB^2/nB + ((1-g)^2 sv^2 + sw^2)/N + eA^2/(nA N) + eB^2/(nB N)."""
    rng = np.random.default_rng(4)
    na, nb, N = 3, 5, 40
    sa, sb, sv, g, sw, ea, eb = 0.5, 0.8, 2.0, 0.7, 0.6, 3.0, 1.5
    vs = []
    for _ in range(4000):
        v, w = sv * rng.standard_normal(N), sw * rng.standard_normal(N)
        a = sa * rng.standard_normal((na, 1)) + v + ea * rng.standard_normal((na, N))
        b = sb * rng.standard_normal((nb, 1)) + g * v + w + eb * rng.standard_normal((nb, N))
        vs.append(R.variance_terms(a, b, False).total)
    truth = sa**2 / na + sb**2 / nb + ((1 - g) ** 2 * sv**2 + sw**2) / N + ea**2 / (na * N) + eb**2 / (nb * N)
    _mean_within(vs, truth)


@pytest.mark.parametrize("paired", [True, False])
def test_variance_estimate_matches_spread_of_difference_on_correctness(paired):
    """On simulated correctness (Bernoulli outcomes, not additive), the mean of V over 2,000
    replications equals the variance of the difference across them, within Monte Carlo error."""
    rng = np.random.default_rng(5)
    sc = Scenario(effect=0.02, seed_sd=0.1, paired=paired, n_images=500)
    diffs, vs = [], []
    for _ in range(2000):
        a, b = sc.draw(rng, 3)
        diffs.append(a.mean() - b.mean())
        vs.append(R.variance_terms(a, b, paired).total)
    diffs, vs = np.array(diffs), np.array(vs)
    var = diffs.var(ddof=1)
    se = math.sqrt(vs.var(ddof=1) / vs.size + 2 * var**2 / (diffs.size - 1))
    assert abs(vs.mean() - var) < 4 * se, (vs.mean(), var, se)


# ---------------------------------------------------------------------------------------------
# the half-width


@pytest.mark.parametrize("k", [1, 2, 3.5, 9, 200])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99, 0.999])
def test_half_width_is_student_t_without_image_part(k, level):
    assert R.half_width(2.0, k, 0.0, 0.0, level) == pytest.approx(
        stdtrit(k, 0.5 + level / 2) * math.sqrt(2.0), rel=1e-8
    )


def test_half_width_is_normal_without_seed_part():
    z = ndtri(0.975)
    assert R.half_width(0.0, 2, 0.3, 0.7, 0.95) == pytest.approx(z * 1.0, rel=1e-12)
    assert R.half_width(0.5, math.inf, 0.1, 0.5, 0.95) == pytest.approx(z * 1.0, rel=1e-12)


def test_half_width_lies_between_normal_and_student_t():
    for image in (0.01, 0.3, 1.0, 30.0):
        q = R.half_width(1.0, 2, 0.0, image, 0.95)
        sd = math.sqrt(1.0 + image)
        assert ndtri(0.975) * sd < q < stdtrit(2, 0.975) * sd


# ---------------------------------------------------------------------------------------------
# simulations: coverage, error rates, power


def _coverage(sc: Scenario, n: int, sims: int, seed: int):
    rng = np.random.default_rng(seed)
    misses_lo = misses_hi = 0
    for _ in range(sims):
        a, b = sc.draw(rng, n)
        d = R.recipe_diff(a, b, sc.paired, n_resamples=0)
        misses_lo += d.lo > sc.effect
        misses_hi += d.hi < sc.effect
    return 1 - (misses_lo + misses_hi) / sims, misses_lo / sims, misses_hi / sims


# the seed spread of the shipped questions (issue 24: seed-level vs image-level standard error of a
# difference 1.7-1.9 : 1 with 3 seeds); here seed_sd 0.08 over 2,000 images: per-seed accuracy
# differences vary by about 1.6 points paired, 2.5 unpaired, standard errors with 3 seeds about 1.0
# (seeds) vs 0.55 (images) points paired
SEED_SD = 0.08

# upper bounds of the coverage: the interval is conservative by design (module docstring), most
# with 3 unpaired seeds, where Welch's df of two equal 2-df seed terms also under-state the df
# (10,000 simulations: 96.7% paired and 97.1% unpaired with 3 seeds, 95.9% both with 5)
COVERAGE_MAX = {(3, True): 0.97, (5, True): 0.97, (3, False): 0.98, (5, False): 0.97}


@pytest.mark.slow  # a simulation of many recipes
@pytest.mark.parametrize("n", [3, 5])
@pytest.mark.parametrize("paired", [True, False])
def test_interval_covers_true_effect(n, paired):
    """3,000 comparisons with a true effect of 1 point and the seed spread of :data:`SEED_SD`, 95%
    intervals: they cover the true effect in 93-97% (unpaired, 3 seeds: 93-98%) of the
    comparisons, missing on either side alike."""
    sc = Scenario(effect=0.01, seed_sd=SEED_SD, paired=paired)
    cov, lo, hi = _coverage(sc, n, 3000, seed=100 + n + 10 * paired)
    assert 0.93 <= cov <= COVERAGE_MAX[n, paired], (cov, lo, hi)
    assert max(lo, hi) <= 0.035 and abs(lo - hi) < 0.015, (cov, lo, hi)


LOOKS = R.planned_looks(3, 10, 2)  # [3, 5, 7, 9, 10]


@pytest.fixture(scope="module", params=[True, False], ids=["paired", "unpaired"])
def null_runs(request):
    """1,000 simulated questions with no effect, 10 seeds each (2,000 images, seed_sd SEED_SD):
    the verdict at 3 and at 5 seeds at 95%, and the sequential decision over LOOKS."""
    paired = request.param
    sc = Scenario(effect=0.0, seed_sd=SEED_SD, paired=paired)
    rng = np.random.default_rng(200 + paired)
    single = {3: [], 5: []}
    seq = []
    for _ in range(1000):
        a, b = sc.draw(rng, LOOKS[-1])
        for n in single:
            single[n].append(R.verdict(R.recipe_diff(a[:n], b[:n], paired, n_resamples=0)))
        seq.append(R.sequential_decision(a, b, paired, LOOKS, n_resamples=0))
    return single, seq


def _rate(verdicts, v):
    return sum(x == v for x in verdicts) / len(verdicts)


@pytest.mark.slow
def test_no_effect_better_verdicts_at_most_nominal_rate(null_runs):
    """One look at 95%: each "better" at most 2.5% and both at most 5% (+ Monte Carlo slack of
    about 2 standard errors on 1,000 simulations)."""
    single, _ = null_runs
    for n, verdicts in single.items():
        a, b = _rate(verdicts, R.VERDICT_A), _rate(verdicts, R.VERDICT_B)
        assert a <= 0.035 and b <= 0.035 and a + b <= 0.06, (n, a, b)


@pytest.mark.slow
def test_no_effect_better_verdicts_at_most_nominal_with_sequential_seeds(null_runs):
    """Seeds added until decided, looking at 3, 5, 7, 9 and 10 seeds, each look at
    look_level(0.95, 5) = 99%: a false "better" at any look in at most 5% of the questions."""
    _, seq = null_runs
    verdicts = [s.verdict for s in seq]
    a, b = _rate(verdicts, R.VERDICT_A), _rate(verdicts, R.VERDICT_B)
    assert a + b <= 0.06 and max(a, b) <= 0.035, (a, b)
    assert all(s.level == pytest.approx(0.99) for s in seq)


@pytest.mark.slow  # a simulation of many recipes
def test_effect_of_twice_min_effect_is_found_by_max_seeds():
    """A true effect of 1 point (2 x min_effect), paired seeds, 5,000 test images, seed_sd 0.02 and
    disagree_sd 0.3 (per-seed accuracy differences vary by about 0.55 points; with 10 seeds the
    standard errors are about 0.18 (seeds) and 0.19 (images) points): "A better" by 10 seeds in
    >= 80% of 500 questions (looks at 3, 5, 7, 9, 10 at 99% each), and never "B better"."""
    sc = Scenario(effect=0.01, seed_sd=0.02, disagree_sd=0.3, n_images=5000)
    rng = np.random.default_rng(300)
    seq = [R.sequential_decision(*sc.draw(rng, 10), True, LOOKS, n_resamples=0) for _ in range(500)]
    verdicts = [s.verdict for s in seq]
    assert _rate(verdicts, R.VERDICT_A) >= 0.8 and _rate(verdicts, R.VERDICT_B) == 0
    assert all(s.reason == R.STOP_DECIDED for s in seq if s.verdict == R.VERDICT_A)


def test_no_effect_small_seed_spread_reaches_equivalent():
    """No effect, paired seeds, 5,000 test images, small seed spread (seed_sd 0.01, disagree_sd 0.1:
    per-seed accuracy differences vary by about 0.3 points; with 10 seeds the standard errors are
    about 0.10 (seeds) and 0.09 (images) points): "equivalent" within +-0.5 points by 10 seeds in
    most (>= 75%) of 300 questions."""
    sc = Scenario(effect=0.0, seed_sd=0.01, disagree_sd=0.1, n_images=5000)
    rng = np.random.default_rng(400)
    seq = [R.sequential_decision(*sc.draw(rng, 10), True, LOOKS, n_resamples=0) for _ in range(300)]
    assert _rate([s.verdict for s in seq], R.VERDICT_EQUIV) >= 0.75


@pytest.mark.slow  # a simulation of many recipes
def test_effect_of_min_effect_is_rarely_called_equivalent():
    """The same favourable noise with a true effect of exactly min_effect (0.5 points): a false
    "equivalent" needs an interval that misses the true effect, so at most 5% of 500 questions."""
    sc = Scenario(effect=0.005, seed_sd=0.01, disagree_sd=0.1, n_images=5000)
    rng = np.random.default_rng(500)
    seq = [R.sequential_decision(*sc.draw(rng, 10), True, LOOKS, n_resamples=0) for _ in range(500)]
    assert _rate([s.verdict for s in seq], R.VERDICT_EQUIV) <= 0.05


# ---------------------------------------------------------------------------------------------
# P(A>B)


def test_p_better_unpaired_is_mann_whitney_u1_over_pairs():
    from scipy.stats import mannwhitneyu

    rng = np.random.default_rng(6)
    for na, nb in ((3, 3), (4, 7), (10, 2)):
        x, y = rng.integers(0, 4, na).astype(float), rng.integers(0, 4, nb).astype(float)  # many ties
        p, _, _ = R.p_better(x, y, paired=False, n_resamples=0)
        assert p == pytest.approx(mannwhitneyu(x, y).statistic / (na * nb), abs=1e-12)


def test_p_better_paired_counts_seeds_won_ties_half():
    x = np.array([0.50, 0.52, 0.49, 0.51, 0.50])
    y = np.array([0.48, 0.52, 0.50, 0.47, 0.49])
    p, _, _ = R.p_better(x, y, paired=True, n_resamples=0)
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in zip(x, y))
    assert p == wins / 5 == 0.7


def test_recipe_diff_p_better_compares_per_seed_accuracies():
    rng = np.random.default_rng(7)
    a, b = Scenario(effect=0.01, seed_sd=0.1, n_images=300).draw(rng, 6)
    for paired in (True, False):
        d = R.recipe_diff(a, b, paired, seed=1, n_resamples=999)
        expected = R.p_better(a.mean(1), b.mean(1), paired, seed=1, n_resamples=999)
        assert (d.p_better, d.p_better_lo, d.p_better_hi) == pytest.approx(expected)


def _loop_bootstrap(x, y, paired, rng, reps=4000, level=0.95):
    stats = []
    for _ in range(reps):
        if paired:
            i = rng.integers(0, x.size, x.size)
            xs, ys = x[i], y[i]
            stats.append(np.mean((xs > ys) + 0.5 * (xs == ys)))
        else:
            xs, ys = x[rng.integers(0, x.size, x.size)], y[rng.integers(0, y.size, y.size)]
            stats.append(np.mean((xs[:, None] > ys[None, :]) + 0.5 * (xs[:, None] == ys[None, :])))
    return np.quantile(stats, [(1 - level) / 2, (1 + level) / 2])


@pytest.mark.parametrize("paired", [True, False])
def test_p_better_interval_is_a_percentile_bootstrap_over_seeds(paired):
    rng = np.random.default_rng(8)
    x = 0.50 + 0.01 * rng.standard_normal(8)
    y = 0.497 + 0.01 * rng.standard_normal(8)
    p, lo, hi = R.p_better(x, y, paired, seed=3)
    ref_lo, ref_hi = _loop_bootstrap(x, y, paired, rng)
    assert lo <= p <= hi
    assert lo == pytest.approx(ref_lo, abs=0.07) and hi == pytest.approx(ref_hi, abs=0.07)
    assert R.p_better(x, y, paired, seed=3) == (p, lo, hi)  # deterministic from its seed


def test_p_better_interval_degenerate_and_too_few_seeds():
    assert R.p_better([0.6, 0.7], [0.5, 0.4], paired=True) == (1.0, 1.0, 1.0)  # A wins every seed
    assert R.p_better([0.6, 0.7, 0.8], [0.5, 0.4], paired=False) == (1.0, 1.0, 1.0)
    assert R.p_better([0.5, 0.5], [0.5, 0.5, 0.5], paired=False) == (0.5, 0.5, 0.5)  # all equal
    p, lo, hi = R.p_better([0.6], [0.5], paired=True)
    assert p == 1.0 and math.isnan(lo) and math.isnan(hi)  # one seed: no interval
    p, lo, hi = R.p_better([0.6, 0.4], [0.5, 0.5], paired=True, n_resamples=0)
    assert p == 0.5 and math.isnan(lo) and math.isnan(hi)


# ---------------------------------------------------------------------------------------------
# verdicts


@pytest.fixture(scope="module")
def base_diff() -> R.RecipeDiff:
    rng = np.random.default_rng(9)
    a, b = Scenario(effect=0.0, seed_sd=0.05).draw(rng, 4)
    return R.recipe_diff(a, b, True, n_resamples=0)


def _with(d, lo, hi, **kw):
    return dataclasses.replace(d, lo=lo, hi=hi, diff=(lo + hi) / 2, **kw)


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0.001, 0.02, R.VERDICT_A),
        (-0.02, -0.001, R.VERDICT_B),
        (-0.004, 0.004, R.VERDICT_EQUIV),
        (-0.004, 0.006, R.VERDICT_UNDECIDED),
        (-0.005, 0.004, R.VERDICT_UNDECIDED),  # the band is open: touching -min_effect is not inside
        (0.001, 0.004, R.VERDICT_A),  # better, by less than min_effect: "better" comes first
        (-0.02, 4.4e-20, R.VERDICT_UNDECIDED),  # 0 up to rounding does not exclude 0
        (-4.4e-20, 0.02, R.VERDICT_UNDECIDED),
        (-0.02, -4.4e-20, R.VERDICT_UNDECIDED),  # lambda0 vs lambda0.001's bound (issue 24)
        (4.4e-20, 0.004, R.VERDICT_EQUIV),
        (math.nan, math.nan, R.VERDICT_UNDECIDED),
    ],
)
def test_verdict(base_diff, lo, hi, expected):
    assert R.verdict(_with(base_diff, lo, hi), min_effect=0.005) == expected


def test_recipe_diff_sets_bounds_near_zero_to_zero():
    a = np.array([[1, 1, 0, 0], [1, 0, 1, 0]], bool)
    d = R.recipe_diff(a, a, paired=True)  # identical recipes: no variance at all
    assert (d.diff, d.lo, d.hi, d.se) == (0.0, 0.0, 0.0, 0.0)
    assert R.verdict(d) == R.VERDICT_EQUIV
    assert R._snap(-4.4e-20) == 0.0 and R._snap(1e-12) == 0.0 and R._snap(2e-12) == 2e-12


@pytest.mark.parametrize(("na", "nb", "paired"), [(1, 1, True), (1, 3, False), (4, 1, False)])
def test_one_seed_is_undecided(na, nb, paired):
    a = np.ones((na, 50), bool)  # A right on every image, B on none: still nothing from one seed
    b = np.zeros((nb, 50), bool)
    d = R.recipe_diff(a, b, paired)
    assert d.diff == 1.0 and all(math.isnan(x) for x in (d.se, d.lo, d.hi, d.df, d.seed_var, d.image_var))
    assert R.verdict(d) == R.VERDICT_UNDECIDED
    assert R.seeds_to_decide(d) is None


# ---------------------------------------------------------------------------------------------
# seeds to decide


def test_seeds_to_decide_is_the_first_powered_seed_count(base_diff):
    d = dataclasses.replace(base_diff, diff=0.006, seed_var_a=1.6e-5, seed_var_b=0.0, seed_var=1.6e-5, image_var=1e-7)
    n = R.seeds_to_decide(d, 0.005, 0.95)
    k = ndtri(0.975) + ndtri(0.8)

    def se(m):
        return math.sqrt(1.6e-5 * d.n_a / m + 1e-7)

    assert n > d.n_a and 0.006 > k * se(n) and not 0.006 > k * se(n - 1)


def test_seeds_to_decide_grows_with_seed_spread(base_diff):
    counts = []
    for seed_var in (1e-6, 4e-6, 1.6e-5):
        d = dataclasses.replace(base_diff, diff=0.006, seed_var_a=seed_var, seed_var_b=0.0, image_var=1e-7)
        counts.append(R.seeds_to_decide(d, 0.005, 0.95))
    assert counts == sorted(counts) and counts[0] < counts[-1]


def test_seeds_to_decide_none_when_test_set_variance_blocks(base_diff):
    # the image part alone: se 0.003, (1.96 + 0.84) * 0.003 = 0.0084 > |diff| = 0.006, and the
    # band +-0.005 cannot hold the interval either: no number of seeds decides
    d = dataclasses.replace(base_diff, diff=0.006, seed_var_a=1e-5, seed_var_b=0.0, image_var=9e-6)
    assert R.seeds_to_decide(d, 0.005, 0.95) is None
    assert R.seeds_to_decide(dataclasses.replace(d, image_var=1e-7), 0.005, 0.95) is not None


def test_seeds_to_decide_equivalence_and_current_count(base_diff):
    d = dataclasses.replace(base_diff, diff=0.0, seed_var_a=1e-6, seed_var_b=0.0, image_var=1e-7)
    assert R.seeds_to_decide(d, 0.005, 0.95) == d.n_a  # already powered for "equivalent"
    unpaired = dataclasses.replace(d, n_a=3, n_b=5, seed_var_a=2e-6, seed_var_b=2e-6, seed_var=4e-6)
    assert R.seeds_to_decide(unpaired, 0.005, 0.95) >= 5


# ---------------------------------------------------------------------------------------------
# looks


def test_look_level_is_bonferroni_over_looks_and_pairs():
    assert R.look_level(0.95, 5) == pytest.approx(0.99)
    assert R.look_level(0.95, 5, n_pairs=3) == pytest.approx(1 - 0.05 / 15)
    assert R.look_level(0.95, 1) == pytest.approx(0.95)


@pytest.mark.parametrize(
    ("args", "looks"),
    [((3, 10, 2), [3, 5, 7, 9, 10]), ((3, 9, 2), [3, 5, 7, 9]), ((3, 3, 2), [3]), ((2, 10, 4), [2, 6, 10])],
)
def test_planned_looks(args, looks):
    assert R.planned_looks(*args) == looks


def _question(effect_from: int, n: int = 10, n_images: int = 400):
    """Paired seeds where A equals B on the first ``effect_from`` seeds (a spread-out undecided
    start) and then wins clearly."""
    rng = np.random.default_rng(10)
    b = rng.random((n, n_images)) < 0.5
    a = b.copy()
    a[:2, :40] = ~a[:2, :40]  # seed-to-seed spread among the equal seeds
    a[effect_from:] |= rng.random((n - effect_from, n_images)) < 0.5
    return a, b


def test_sequential_decision_stops_at_first_decided_look():
    a, b = _question(effect_from=3)
    s = R.sequential_decision(a, b, True, [3, 5, 7, 9, 10], n_resamples=0)
    assert s.reason == R.STOP_DECIDED and s.verdict == R.VERDICT_A and s.next_n is None
    assert (s.n_seeds, s.looks_used, s.n_looks) == (s.result.n_a, s.looks_used, 5)
    assert s.n_seeds > 3 and s.level == pytest.approx(0.99)
    earlier = R.recipe_diff(a[:3], b[:3], True, s.level, n_resamples=0)
    assert R.verdict(earlier) == R.VERDICT_UNDECIDED


def test_sequential_decision_max_seeds_and_more_seeds():
    rng = np.random.default_rng(12)
    a, b = Scenario(effect=0.0, seed_sd=0.3, n_images=300).draw(rng, 10)
    s = R.sequential_decision(a, b, True, [3, 5, 7, 9, 10], n_resamples=0)
    assert (s.verdict, s.reason, s.n_seeds, s.looks_used, s.next_n) == (R.VERDICT_UNDECIDED, R.STOP_MAX, 10, 5, None)
    s = R.sequential_decision(a[:6], b[:6], True, [3, 5, 7, 9, 10], n_resamples=0)
    assert (s.verdict, s.reason, s.n_seeds, s.looks_used, s.next_n) == (R.VERDICT_UNDECIDED, R.STOP_MORE, 5, 2, 7)
    assert s.result.n_a == 5 and s.level == pytest.approx(0.99)


@pytest.mark.parametrize("looks", [[], [3, 3], [5, 3], [0, 2]])
def test_sequential_decision_rejects_bad_looks(looks):
    a = np.ones((5, 10), bool)
    with pytest.raises(ValueError, match="^cifarflow: error: looks must"):
        R.sequential_decision(a, a, True, looks)


def test_sequential_decision_needs_the_first_look():
    a = np.ones((2, 10), bool)
    with pytest.raises(ValueError, match="first look needs 3 seeds"):
        R.sequential_decision(a, a, True, [3, 5])


# ---------------------------------------------------------------------------------------------
# input checks


@pytest.mark.parametrize(
    ("a", "b", "paired", "level", "match"),
    [
        (np.full((2, 5), 0.5), np.ones((2, 5)), True, 0.95, "boolean"),
        (np.ones((2, 5)), np.full((2, 5), np.nan), True, 0.95, "boolean"),
        (np.ones((2, 5), bool), np.ones((2, 6), bool), False, 0.95, "same test images"),
        (np.ones((2, 5), bool), np.ones((3, 5), bool), True, 0.95, "same seeds"),
        (np.ones((2, 1), bool), np.ones((2, 1), bool), True, 0.95, "at least 2 test images"),
        (np.ones((2, 5), bool), np.ones((2, 5), bool), True, 1.0, "level"),
        (np.ones((2, 3, 4), bool), np.ones((2, 5), bool), True, 0.95, "seeds x images"),
    ],
)
def test_recipe_diff_rejects_bad_input(a, b, paired, level, match):
    with pytest.raises(ValueError, match=match) as err:
        R.recipe_diff(a, b, paired, level)
    assert str(err.value).startswith("cifarflow: error: ") and "\n" not in str(err.value)


def test_recipe_diff_accepts_zero_one_integers_and_one_seed_vectors():
    a = np.array([[1, 0, 1, 1], [1, 1, 0, 1]])
    b = np.array([[0, 0, 1, 1], [1, 0, 0, 1]])
    d = R.recipe_diff(a, b, True, n_resamples=0)
    assert d.diff == pytest.approx(0.25) and d.n_images == 4
    assert R.recipe_diff(a[0], b[0], True).n_a == 1


def test_recipe_diff_is_deterministic():
    rng = np.random.default_rng(13)
    a, b = Scenario(effect=0.01, seed_sd=0.1, n_images=200).draw(rng, 4)
    assert R.recipe_diff(a, b, False, seed=5) == R.recipe_diff(a, b, False, seed=5)
