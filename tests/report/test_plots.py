"""plots: every figure is labelled, names its variants and classes, keeps its text inside."""

import functools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_utils import (  # noqa: E402
    CLASSES,
    draw,
    history,
    is_colorbar,
    legend_texts,
    main_axes,
    plot_axes,
    tick_texts,
    visible_texts,
)
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from cifarflow.report import plots  # noqa: E402
from cifarflow.report.figure import save, variant_colors  # noqa: E402

SMALL = (4.0, 3.0)
WIDE = (7.5, 3.0)  # room for two or three panels and a one-row legend


# ---------------------------------------------------------------------------------------------
# synthetic inputs


def diverged_history():
    h = history(6)
    h.loc[3, "train_loss"] = np.inf
    h.loc[4:, ["train_loss", "val_loss", "train_cost", "val_cost", "train_acc", "val_acc"]] = np.nan
    return h


def weights(k=10, seed=0):
    return np.random.default_rng(seed).standard_normal((k, 3072)).astype(np.float32)


def per_class():
    rng = np.random.default_rng(1)
    return {v: dict(zip(CLASSES, rng.uniform(0.2, 0.6, 10))) for v in ("softmax", "sigmoid")}


def lambda_rows():
    return [
        {"variant": f"lambda-{v:g}", "value": v, "val_acc": 0.4 - v / 10, "weight_norm2": 10 / (1 + 100 * v)}
        for v in (0.0, 0.001, 0.01, 0.1, 1.0)
    ]


def probs_and_labels(seed=2, n=200, k=10):
    rng = np.random.default_rng(seed)
    return rng.dirichlet(np.ones(k), size=n).astype(np.float32), rng.integers(0, k, size=n)


def images(shape, seed=3):
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


FIGURES = {
    "curves": lambda: plots.plot_curves(history(), "softmax-l2", best_epoch=3, stopped_epoch=4, figsize=WIDE),
    "templates": lambda: plots.plot_templates(weights(), CLASSES, "softmax: class templates"),
    "confusion": lambda: plots.plot_confusion(
        np.random.default_rng(4).integers(0, 100, (10, 10)), CLASSES, "softmax: test confusion", figsize=SMALL
    ),
    "per_class": lambda: plots.plot_per_class(per_class(), CLASSES, figsize=SMALL),
    "vs_param": lambda: plots.plot_vs_param(lambda_rows(), figsize=WIDE),
    "overlay": lambda: plots.plot_curves_overlay(
        {"shuffle": history(), "no-shuffle": history(4)}, ("train_loss", "val_loss"), figsize=(6, 3)
    ),
    "templates_compare": lambda: plots.plot_templates_compare(
        {"softmax": weights(seed=0), "sigmoid": weights(seed=1)}, CLASSES, figsize=SMALL
    ),
    "true_class_prob": lambda: plots.plot_true_class_prob(
        {"softmax": probs_and_labels(), "sigmoid": probs_and_labels(5)}, figsize=SMALL
    ),
    "augment_preview": lambda: plots.plot_augment_preview(
        images((4, 32, 32, 3)), images((2, 4, 32, 32, 3), seed=4), CLASSES[:4], title="flip 0.5", figsize=SMALL
    ),
}


@functools.cache
def built(kind):
    """Each figure of FIGURES built once per session; the tests below only read it."""
    return FIGURES[kind]()


# ---------------------------------------------------------------------------------------------
# helpers that read a drawn figure


# ---------------------------------------------------------------------------------------------
# every figure


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_has_labelled_axes(kind):
    fig = built(kind)
    assert isinstance(fig, Figure)
    draw(fig)
    for ax in plot_axes(fig):
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (kind, ax)
    for ax in fig.axes:
        if is_colorbar(ax):
            assert ax.get_ylabel().strip() or ax.get_xlabel().strip()


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_no_text_is_clipped(kind):
    fig = built(kind)
    renderer = draw(fig)
    box = fig.bbox
    texts = visible_texts(fig)
    assert texts
    for t in texts:
        bb = t.get_window_extent(renderer)
        assert bb.x0 >= box.x0 - 1 and bb.y0 >= box.y0 - 1, (kind, t.get_text(), bb)
        assert bb.x1 <= box.x1 + 1 and bb.y1 <= box.y1 + 1, (kind, t.get_text(), bb)


def test_text_added_by_the_caller_is_not_clipped_when_saved(tmp_path):
    fig = plots.plot_per_class({"a": {"cat": 0.5}}, ["cat"], figsize=(2, 2))
    fig.suptitle("a title wider than the figure, set by the caller")
    save(fig, tmp_path / "pc", dpi=40)
    renderer = draw(fig)
    (title,) = [t for t in fig.findobj(Text) if t.get_text() == fig.get_suptitle()]
    bb = title.get_window_extent(renderer)
    assert bb.x0 >= -1 and bb.x1 <= fig.bbox.x1 + 1


# ---------------------------------------------------------------------------------------------
# single-variant figures


def test_curves_show_cost_only_when_it_differs_from_loss():
    with_cost = plots.plot_curves(history(lam=0.1), "v", figsize=WIDE)
    without = plots.plot_curves(history(lam=0.0), "v", figsize=WIDE)
    assert len(plot_axes(with_cost)) == 3 and len(plot_axes(without)) == 2


def test_curves_plot_accuracy_in_percent():
    fig = plots.plot_curves(history(), "v", figsize=WIDE)
    acc = plot_axes(fig)[-1]
    assert "%" in acc.get_ylabel()
    assert max(line.get_ydata().max() for line in acc.get_lines() if len(line.get_ydata()) > 2) > 1.0


def test_curves_mark_best_epoch_and_early_stop():
    fig = plots.plot_curves(history(), "v", best_epoch=3, stopped_epoch=4, figsize=WIDE)
    texts = legend_texts(fig)
    assert "best epoch (3)" in texts and "early stop (4)" in texts


def test_curves_of_a_diverged_run_plot_the_finite_part():
    fig = plots.plot_curves(diverged_history(), "boom", diverged_epoch=4, figsize=WIDE)
    draw(fig)
    assert "diverged (4)" in legend_texts(fig)
    for ax in plot_axes(fig):
        lo, hi = ax.get_ylim()
        assert np.isfinite([lo, hi]).all()


def test_curves_of_an_all_nan_history_do_not_raise():
    h = history()
    h.loc[:, ["train_loss", "val_loss", "train_cost", "val_cost", "train_acc", "val_acc"]] = np.nan
    draw(plots.plot_curves(h, "nothing", diverged_epoch=0, figsize=WIDE))


def test_templates_are_titled_with_class_names():
    fig = plots.plot_templates(weights(), CLASSES, "t")
    assert [ax.get_title() for ax in fig.axes if ax.images] == CLASSES


def test_templates_are_rescaled_to_the_unit_range():
    fig = plots.plot_templates(weights() * 50 - 7, CLASSES, "t")
    for ax in fig.axes:
        for im in ax.images:
            a = np.asarray(im.get_array())
            assert a.shape == (32, 32, 3) and a.min() == pytest.approx(0) and a.max() == pytest.approx(1)


def test_templates_of_a_logistic_model_show_one_panel():
    fig = plots.plot_templates(weights(1), ["cat", "dog"], "logistic: template")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 1 and "dog" in panels[0].get_title() and "cat" in panels[0].get_title()


def test_templates_accept_a_d_by_k_matrix():
    fig = plots.plot_templates(weights().T, CLASSES, "t")
    assert len([ax for ax in fig.axes if ax.images]) == 10


def test_confusion_names_classes_on_both_axes():
    fig = built("confusion")
    ax = main_axes(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert set(CLASSES) <= tick_texts(fig)


def test_confusion_colour_is_row_normalised_and_cells_show_counts():
    conf = np.array([[8, 2], [1, 9]])
    fig = plots.plot_confusion(conf, ["cat", "dog"], "c", figsize=SMALL)
    ax = main_axes(fig)
    np.testing.assert_allclose(ax.images[0].get_array(), [[80, 20], [10, 90]])
    assert {"8", "2", "1", "9"} <= {t.get_text() for t in ax.texts}


# ---------------------------------------------------------------------------------------------
# comparisons


def test_per_class_bars_name_variants_and_classes():
    fig = built("per_class")
    assert {"softmax", "sigmoid"} <= set(legend_texts(fig))
    assert set(CLASSES) <= tick_texts(fig)


def test_vs_param_keeps_lambda_zero_visible():
    fig = plots.plot_vs_param(lambda_rows(), figsize=WIDE)
    draw(fig)
    for ax in plot_axes(fig):
        xs = np.concatenate([line.get_xdata() for line in ax.get_lines()])
        lo, hi = ax.get_xlim()
        assert 0 in xs and lo < 0 <= hi
        assert ax.get_xscale() == "symlog"


def test_vs_param_without_zero_uses_a_log_axis():
    rows = [r for r in lambda_rows() if r["value"] > 0]
    fig = plots.plot_vs_param(rows, figsize=WIDE)
    assert {ax.get_xscale() for ax in plot_axes(fig)} == {"log"}


def test_vs_param_legend_names_every_variant():
    fig = plots.plot_vs_param(lambda_rows(), figsize=WIDE)
    assert [r["variant"] for r in lambda_rows()] == legend_texts(fig)


def test_overlay_names_every_variant():
    fig = built("overlay")
    assert {"shuffle", "no-shuffle"} <= set(legend_texts(fig))


def test_overlay_gives_losses_of_different_kinds_their_own_panels():
    hists = {"ce": history(), "mse": history(scale=0.04)}
    fig = plots.plot_curves_overlay(
        hists, ("val_acc", "val_loss"), loss_names={"ce": "cross_entropy", "mse": "mse"}, figsize=(8, 3)
    )
    axes = plot_axes(fig)
    assert len(axes) == 3  # accuracy shared, one loss panel per loss
    assert "cross-entropy" in axes[1].get_ylabel() and "squared-error" in axes[2].get_ylabel()


def test_overlay_splits_losses_on_very_different_scales_without_loss_names():
    fig = plots.plot_curves_overlay({"a": history(), "b": history(scale=0.01)}, ("val_loss",), figsize=SMALL)
    assert len(plot_axes(fig)) == 2


def test_templates_compare_has_a_row_per_variant_and_a_column_per_class():
    fig = built("templates_compare")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 20
    assert [ax.get_title() for ax in panels[:10]] == CLASSES
    assert {"softmax", "sigmoid"} <= {ax.get_ylabel() for ax in panels}


def test_true_class_prob_counts_every_test_image_once():
    probs, labels = probs_and_labels(n=300)
    fig = plots.plot_true_class_prob({"softmax": (probs, labels)}, figsize=SMALL)
    ax = plot_axes(fig)[0]
    heights = [p.get_height() for p in ax.patches if hasattr(p, "get_height") and p.get_width() < 1]
    correct = int((probs.argmax(1) == labels).sum())
    assert sum(heights) == correct
    assert any(f"(n = {300 - correct})" in t for t in legend_texts(fig))


def test_true_class_prob_handles_a_single_sigmoid_output():
    p = np.array([0.9, 0.2, 0.6, 0.4], dtype=np.float32)
    fig = plots.plot_true_class_prob({"logistic": (p[:, None], np.array([1, 0, 0, 1]))}, figsize=SMALL)
    texts = legend_texts(fig)
    assert "correct (n = 2)" in texts and "misclassified (n = 2)" in texts


def test_augment_preview_shows_originals_and_every_copy():
    fig = built("augment_preview")
    panels = [ax for ax in fig.axes if ax.images]
    assert len(panels) == 3 * 4
    assert [ax.get_title() for ax in panels[:4]] == CLASSES[:4]
    assert panels[0].get_ylabel() == "original"


def test_augment_preview_rejects_copies_of_other_images():
    with pytest.raises(ValueError, match="augmented has shape"):
        plots.plot_augment_preview(images((4, 32, 32, 3)), images((2, 3, 32, 32, 3)))


# ---------------------------------------------------------------------------------------------
# colours


def test_a_variant_keeps_its_colour_across_figures():
    colors = variant_colors(["shuffle", "no-shuffle", "other"])
    per = per_class() | {"shuffle": per_class()["softmax"]}
    bars = plots.plot_per_class(per, CLASSES, colors=colors, figsize=SMALL)
    lines = plots.plot_curves_overlay({"shuffle": history()}, colors=colors, figsize=SMALL)
    bar = next(c for c in plot_axes(bars)[0].containers if c.get_label() == "shuffle")
    line = plot_axes(lines)[0].get_lines()[0]
    assert matplotlib.colors.same_color(bar.patches[0].get_facecolor(), colors["shuffle"])
    assert matplotlib.colors.same_color(line.get_color(), colors["shuffle"])
