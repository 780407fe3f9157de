"""Figure layout (issue 31): with long variant names (40-64 characters, the generated grid names),
many variants and ten classes, no two drawn texts of any figure overlap and none is cut off at the
figure's edge. Measured with matplotlib's own text extents: the figure is drawn on an Agg canvas
and every drawn text's window extent (tick labels, legend entries and titles, axis labels,
titles, annotations) is taken from the renderer; a rotated text is compared by its turned box."""

import functools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_utils import CLASSES, history, text_collisions  # noqa: E402

from cifarflow.report import plots  # noqa: E402
from cifarflow.report import search_plots as Q  # noqa: E402
from cifarflow.report import stat_plots as SP  # noqa: E402
from cifarflow.report import stats as S  # noqa: E402
from cifarflow.report.figure import text_width, wrap  # noqa: E402

LONG = [
    "bonus-softmax-augmentationflip_p05-lambda0.01",
    "bonus-softmax-augmentationflip_p05-lambda0.001",
    "bonus-sigmoid-augmentationflip_p05_translate4-lambda0.01",
    "t-softmax-l2-lambda0-shuffle-batch_size32-eta0.01",
    "bonus-softmax-augmentationflip_p05_translate4_fill_zero-lambda0",
    "tdt4265-a1-softmax-momentum0.9-eta0.005-batch64-lambda0.1",
    "bonus-mlp-hidden200_100-eta0.01-lambda0.0001-augmentationflip_p5",
    "t-softmax-l2-lambda0.001-no-shuffle-early-stop-patience3",
]
SHORT = ["softmax", "sigmoid", "one-seed"]
SETS = {"long": LONG, "short": SHORT}
LAMBDAS = [0.0, 0.0001, 0.001, 0.01, 0.03, 0.1, 0.3, 1.0]


def test_the_long_names_are_long():
    assert len(LONG) == 8 and all(40 <= len(n) <= 64 for n in LONG) and len(CLASSES) == 10


# ---------------------------------------------------------------------------------------------
# inputs


def seeds(names):
    return {n: [0.40 + 0.01 * i + 0.004 * k for k in range(3)] for i, n in enumerate(names)}


def per_class(names):
    rng = np.random.default_rng(1)
    return {n: dict(zip(CLASSES, rng.uniform(0.2, 0.6, len(CLASSES)))) for n in names}


def aggregate_rows(names):
    rows = {}
    for i, n in enumerate(names):
        runs = [
            {
                "variant": n,
                "test_acc": 0.4,
                "class_names": CLASSES,
                "per_class_acc": {c: 0.3 + 0.03 * j - 0.01 * i + 0.01 * k for j, c in enumerate(CLASSES)},
                "config": {"seed": k},
            }
            for k in range(3)
        ]
        rows[n] = S.aggregate_runs(runs)
    return rows


def histories(names, epochs=3):
    return {n: history(epochs, lam=0.01 * i) for i, n in enumerate(names)}


def seed_histories(names, epochs=8):
    """Three seeds per variant; in every other variant the seeds stop early at different epochs."""
    out = {}
    for i, n in enumerate(names):
        lengths = (epochs, epochs, epochs) if i % 2 else (epochs, epochs - 2, epochs - 4)
        out[n] = []
        for k, length in enumerate(lengths):
            h = history(length)
            h["val_acc"] = h["val_acc"] + 0.01 * k + 0.005 * i
            out[n].append(h)
    return out


def weights(k=10, seed=0):
    return np.random.default_rng(seed).standard_normal((k, 3072)).astype(np.float32)


def probs_and_labels(seed, n=200, k=10):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(k), size=n).astype(np.float32), rng.integers(0, k, size=n)


def images(shape, seed=3):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def pairs(names):
    """Image-level pairs table: every variant against the first."""
    rng = np.random.default_rng(3)
    base = rng.random(600) < 0.4
    correct = {n: np.tile(base ^ (rng.random(600) < 0.02 * i), (3, 1)) for i, n in enumerate(names)}
    return S.pairs_table(correct, pairs=[(n, names[0]) for n in names[1:]], seed=0)


def recipe_pairs(names):
    """A recipe table (the columns plot_pair_diffs reads), every verdict once."""
    verdicts = [S.VERDICT_A, S.VERDICT_B, "equivalent", "undecided"]
    return pd.DataFrame(
        [
            {
                "variant_a": n,
                "variant_b": names[0],
                "diff": 0.004 * (i - 3),
                "diff_lo": 0.004 * (i - 3) - 0.006,
                "diff_hi": 0.004 * (i - 3) + 0.006,
                "verdict": verdicts[i % len(verdicts)],
                "p_better": 0.1 * i,
                "min_effect": 0.005,
                "level": 0.9929,
            }
            for i, n in enumerate(names[1:], start=1)
        ]
    )


def vs_rows(names):
    return [
        {"variant": n, "value": lam, "val_acc": 0.4 - lam / 10, "weight_norm2": 10 / (1 + 100 * lam)}
        for n, lam in zip(names, LAMBDAS)
    ]


def vs_ci_rows(names):
    out = []
    for n, lam in zip(names, LAMBDAS):
        runs = [
            {
                "variant": n,
                "selected_val_acc": 0.4 - lam / 10 + 0.004 * k,
                "weight_norm2": 10 / (1 + 100 * lam) + k,
                "config": {"seed": k},
            }
            for k in range(3)
        ]
        out.append({"variant": n, "value": lam, **S.aggregate_runs(runs)})
    return out


SEARCH_SCALES = {
    "lambda": "log",
    "augmentation.flip_probability": "linear",
    "hidden": "category",
    "learning_rate_schedule": "category",
}
SEARCH_CHOICES = {
    "hidden": [[50], [100], [200, 100], [400, 200, 100]],
    "learning_rate_schedule": ["constant", "step-decay-every-10-epochs-by-0.5", "cosine-with-5-epochs-of-warmup"],
}


def trials(n_rounds=4, per_round=6):
    rng = np.random.default_rng(0)
    rows = []
    for r in range(1, n_rounds + 1):
        for i in range(per_round):
            rows.append(
                {
                    "trial": f"search-{LONG[0]}-r{r}-t{i}",
                    "round": r,
                    "lambda": float(10 ** rng.uniform(-5, -1)),
                    "augmentation.flip_probability": float(rng.uniform(0, 1)),
                    "hidden": SEARCH_CHOICES["hidden"][int(rng.integers(0, 4))],
                    "learning_rate_schedule": SEARCH_CHOICES["learning_rate_schedule"][int(rng.integers(0, 3))],
                    "val_acc": float(rng.uniform(0.3, 0.5)),
                }
            )
    return pd.DataFrame(rows)


def search(kind, names):
    """Long: four settings, one with long names as values; short: lambda and one short choice."""
    df = trials()
    scales, choices = SEARCH_SCALES, SEARCH_CHOICES
    if names is SHORT:
        scales, choices = {"lambda": "log", "hidden": "category"}, {"hidden": SEARCH_CHOICES["hidden"]}
    chosen = df.loc[df["val_acc"].idxmax(), "trial"]
    plot = Q.plot_search_settings if kind == "settings" else Q.plot_search_parallel
    return plot(df, scales, chosen=chosen, choices=choices, title=f"search {names[0]} (coarse_to_fine)")


# every figure type, as the report builds it (default sizes), given the variant names
FIGURES = {
    "strip": lambda ns: SP.plot_seed_strip(seeds(ns), title=f"{ns[0]}-sweep: test accuracy of every seed"),
    "strip_epochs": lambda ns: SP.plot_seed_strip(
        {n: [3, 5, 8] for n in ns}, metric="best_epoch", title="kept epoch of every seed"
    ),
    "per_class": lambda ns: plots.plot_per_class(per_class(ns), CLASSES),
    "per_class_ci": lambda ns: SP.plot_per_class_ci(aggregate_rows(ns), CLASSES),
    "curves": lambda ns: plots.plot_curves(history(3), ns[-1], best_epoch=2, stopped_epoch=3),
    "curves_overlay": lambda ns: plots.plot_curves_overlay(
        histories(ns),
        ("val_acc", "train_loss", "val_loss"),
        loss_names={n: ("cross_entropy", "mse")[i % 2] for i, n in enumerate(ns)},
        title=f"{ns[0]} against the others",
    ),
    "curves_band": lambda ns: SP.plot_curves_band(
        seed_histories(ns), ("val_acc", "train_loss"), title="mean over seeds with 95% t band"
    ),
    "curves_band_one_variant": lambda ns: SP.plot_curves_band(
        {ns[-1]: seed_histories(ns)[ns[0]]},
        ("train_loss", "val_loss", "train_acc", "val_acc"),
        title=f"{ns[-1]}: mean over seeds 0, 1, 2 with 95% t band",
    ),
    "confusion": lambda ns: plots.plot_confusion(
        np.random.default_rng(4).integers(0, 1000, (10, 10)), CLASSES, f"{ns[-1]}: test confusion matrix"
    ),
    "templates": lambda ns: plots.plot_templates(weights(), CLASSES, f"{ns[-1]}: weight templates (seed 0)"),
    "templates_logistic": lambda ns: plots.plot_templates(weights(1), ["automobile", "truck"], f"{ns[0]}: template"),
    "templates_compare": lambda ns: plots.plot_templates_compare(
        {n: weights(seed=i) for i, n in enumerate(ns)}, CLASSES
    ),
    "true_class_prob": lambda ns: plots.plot_true_class_prob({n: probs_and_labels(i) for i, n in enumerate(ns)}),
    "augment_preview": lambda ns: plots.plot_augment_preview(
        images((8, 32, 32, 3)), images((3, 8, 32, 32, 3), seed=4), CLASSES[:8], title=f"{ns[0]}: augmentation"
    ),
    "pair_diffs": lambda ns: SP.plot_pair_diffs(pairs(ns), title=f"{ns[0]}: paired differences"),
    "pair_diffs_recipe": lambda ns: SP.plot_pair_diffs(recipe_pairs(ns), title=f"{ns[0]}: recipe differences A - B"),
    "search_settings": lambda ns: search("settings", ns),
    "search_parallel": lambda ns: search("parallel", ns),
    "vs_lambda": lambda ns: plots.plot_vs_param(vs_rows(ns), title=f"{ns[0]} against lambda"),
    "vs_lambda_ci": lambda ns: SP.plot_vs_param_ci(vs_ci_rows(ns)),
}


@functools.cache
def built(kind, names):
    return FIGURES[kind](SETS[names])


@pytest.mark.parametrize("names", sorted(SETS))
@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_no_two_texts_overlap_and_none_is_cut_off(kind, names):
    fig = built(kind, names)
    overlaps, clipped = text_collisions(fig)
    assert not overlaps, f"{kind}: texts overlap (a, b, depth in pixels): {overlaps[:6]}"
    assert not clipped, f"{kind}: texts cut off at the figure's edge: {clipped[:6]}"


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_every_variant_name_is_drawn_whole(kind):
    """However a long name is laid out (wrapped at its separators, rotated, on a horizontal
    axis), every character of it is drawn: nothing is shortened or dropped."""
    fig = built(kind, "long")
    drawn = "".join(t.get_text() for t in fig.findobj(matplotlib.text.Text)).replace("\n", "")
    expected = {
        "strip": LONG,
        "strip_epochs": LONG,
        "per_class": LONG,
        "per_class_ci": LONG,
        "curves": LONG[-1:],
        "curves_overlay": LONG,
        "curves_band": LONG,
        "curves_band_one_variant": LONG[-1:],
        "templates_compare": LONG,
        "true_class_prob": LONG,
        "pair_diffs": LONG,
        "pair_diffs_recipe": LONG,
        "vs_lambda": LONG,
        "vs_lambda_ci": LONG,
    }.get(kind, [])
    for n in expected:
        assert n in drawn, (kind, n)


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_sizes_stay_readable(kind):
    """Long names are laid out, not answered by a figure so wide that a report shrinks its text:
    no figure is more than 16 inches wide or tall."""
    w, h = built(kind, "long").get_size_inches()
    assert w <= 16 and h <= 16, (kind, w, h)


def test_the_collision_check_sees_overlaps_and_turned_boxes():
    """The check itself: two texts drawn over each other collide, one cut off at the edge is
    reported, and two turned labels side by side do not collide although their upright window
    extents overlap."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4, 3), dpi=150)
    fig.text(0.3, 0.5, "bonus-softmax-lambda0.01")
    fig.text(0.35, 0.5, "bonus-sigmoid-lambda0")
    fig.text(0.9, 0.9, "cut off at the right edge")
    overlaps, clipped = text_collisions(fig)
    assert [(a, b) for a, b, _ in overlaps] == [("bonus-softmax-lambda0.01", "bonus-sigmoid-lambda0")]
    assert clipped == ["cut off at the right edge"]

    fig = Figure(figsize=(4, 3), dpi=150)
    texts = [fig.text(0.3 + 0.08 * i, 0.2, f"turned label {i}", rotation=45) for i in range(2)]
    overlaps, clipped = text_collisions(fig)
    renderer = fig.canvas.get_renderer()
    assert texts[0].get_window_extent(renderer).overlaps(texts[1].get_window_extent(renderer))
    assert not overlaps and not clipped


@pytest.mark.parametrize(
    "text, width, lines",
    [
        (
            "bonus-softmax-augmentationflip_p05-lambda0.01",
            2.0,
            ["bonus-softmax-", "augmentationflip_p05-", "lambda0.01"],
        ),
        ("t-softmax-l2-lambda0.001", 1.0, ["t-softmax-l2-", "lambda0.001"]),  # never inside 0.001
        ("augmentation.flip_probability (log)", 1.6, ["augmentation.flip_", "probability (log)"]),
        ("softmax", 0.2, ["softmax"]),  # a piece without a separator stays whole
        ("fits on one line", 5.0, ["fits on one line"]),
        (r"cost = loss + $\lambda\|W\|^2$ (per image)", 0.5, [r"cost = loss + $\lambda\|W\|^2$ (per image)"]),
    ],
)
def test_wrap_breaks_names_at_their_separators(text, width, lines):
    wrapped = wrap(text, width)
    assert wrapped.split("\n") == lines
    assert wrapped.replace("\n", "").replace(" ", "") == text.replace(" ", "")
    if "$" not in text:
        assert all(text_width(line) <= width or "-" not in line for line in lines)
