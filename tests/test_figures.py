"""Figures: labelled axes, legends naming the variants, class names, nothing clipped, files written."""

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from cifarflow import CIFAR10_CLASSES, plots

CLASSES = list(CIFAR10_CLASSES)


def history(n=6, diverge_at=None):
    e = np.arange(n + 1)
    h = pd.DataFrame(
        {
            "epoch": e,
            "lr": np.r_[np.nan, np.full(n, 0.01)],
            "train_loss": 2.3 / (1 + e),
            "train_cost": 2.4 / (1 + e),
            "train_acc": 0.1 + 0.05 * e,
            "val_loss": 2.3 / (1 + 0.8 * e),
            "val_cost": 2.4 / (1 + 0.8 * e),
            "val_acc": 0.1 + 0.04 * e,
            "weight_norm2": 1.0 + e,
            "seconds": 0.5 * e,
        }
    )
    if diverge_at is not None:
        h.loc[diverge_at:, ["train_loss", "val_loss", "train_cost", "val_cost"]] = np.nan
    return h


def agg(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def data_axes(fig):
    return [ax for ax in fig.axes if ax.has_data() or ax.images]


def assert_readable(fig):
    """Every data axis is labelled (image panels excepted) and no text sticks out of the figure."""
    agg(fig)
    for ax in data_axes(fig):
        if ax.get_label() == "<colorbar>":
            assert ax.get_ylabel() or ax.get_xlabel(), ax
        elif not ax.images:
            assert ax.get_xlabel() and ax.get_ylabel(), ax
    bb = fig.get_tightbbox()  # inches: everything drawn, titles, tick labels and legends included
    w, h = fig.get_size_inches()
    assert bb.x0 >= -0.02 and bb.y0 >= -0.02 and bb.x1 <= w + 0.02 and bb.y1 <= h + 0.02, (bb, w, h)


def legend_texts(fig):
    out = []
    for leg in [ax.get_legend() for ax in fig.axes] + list(fig.legends):
        if leg:
            out += [t.get_text() for t in leg.get_texts()]
    return out


def tick_texts(fig):
    agg(fig)
    return {t.get_text() for ax in fig.axes for t in ax.get_xticklabels() + ax.get_yticklabels()}


def test_curves_are_labelled_and_mark_the_best_epoch():
    fig = plots.plot_curves(history(), "v1", best_epoch=4, stopped_epoch=5)
    assert_readable(fig)
    assert any("best" in t for t in legend_texts(fig))


def test_curves_of_a_diverged_run_do_not_fail():
    fig = plots.plot_curves(history(diverge_at=3), "boom", diverged_epoch=3)
    assert_readable(fig)


def test_templates_show_one_panel_per_class_with_its_name():
    W = np.random.default_rng(0).standard_normal((10, 3072)).astype(np.float32)
    fig = plots.plot_templates(W, CLASSES, "templates")
    titles = {ax.get_title() for ax in fig.axes}
    assert set(CLASSES) <= titles
    assert_readable(fig)


def test_confusion_matrix_names_the_classes_on_both_axes():
    conf = np.random.default_rng(1).integers(0, 100, size=(10, 10))
    fig = plots.plot_confusion(conf, CLASSES, "confusion")
    assert set(CLASSES) <= tick_texts(fig)
    assert_readable(fig)


def test_per_class_comparison_names_variants_and_classes():
    per = {v: {c: float(i) / 10 for i, c in enumerate(CLASSES)} for v in ("softmax-a", "sigmoid-b")}
    fig = plots.plot_per_class(per, CLASSES)
    assert {"softmax-a", "sigmoid-b"} <= set(legend_texts(fig))
    assert set(CLASSES) <= tick_texts(fig)
    assert_readable(fig)


def test_lambda_sweep_keeps_lambda_zero_on_the_plot():
    rows = [{"variant": f"l{v}", "value": v, "val_acc": 0.4 - v / 10, "weight_norm2": 10 / (1 + v)} for v in (0, 0.001, 0.01, 0.1, 1)]
    fig = plots.plot_vs_param(rows, param="lambda")
    xs = np.concatenate([line.get_xdata() for ax in fig.axes for line in ax.get_lines()])
    assert 0 in xs
    assert_readable(fig)


def test_overlay_names_every_variant():
    fig = plots.plot_curves_overlay({"shuffle": history(), "no-shuffle": history(4)}, metrics=("val_acc", "train_loss"))
    assert {"shuffle", "no-shuffle"} <= set(" ".join(legend_texts(fig)).split()) | set(legend_texts(fig))
    assert_readable(fig)


def test_true_class_probability_histograms_one_panel_per_variant():
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(10), size=200).astype(np.float32)
    labels = rng.integers(0, 10, size=200)
    fig = plots.plot_true_class_prob({"a": (probs, labels), "b": (probs, labels)})
    assert len(data_axes(fig)) == 2
    assert_readable(fig)


def test_variant_colours_are_stable_and_distinct():
    names = [f"variant-{i}" for i in range(10)]
    a, b = plots.variant_colors(names), plots.variant_colors(list(reversed(names)))
    assert a == b
    assert len(set(a.values())) == 10


def test_save_writes_png_and_pdf(tmp_path):
    fig = plots.plot_curves(history(), "v")
    paths = plots.save(fig, tmp_path / "curves", dpi=60)
    assert {p.suffix for p in paths} == {".png", ".pdf"}
    assert all(p.stat().st_size > 1000 for p in paths)
    with open(tmp_path / "curves.png", "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
