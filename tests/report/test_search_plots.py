"""search_plots: validation accuracy against each searched setting and parallel coordinates."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_utils import draw, is_colorbar, legend_texts, plot_axes, tick_texts, visible_texts  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402

from cifarflow.report import search_plots  # noqa: E402
from cifarflow.report.figure import save  # noqa: E402

SCALES = {"lambda": "log", "momentum": "linear", "hidden": "category"}
CHOICES = {"hidden": [[50], [100], [200, 100]]}


def trials(n_rounds=2, per_round=4, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(1, n_rounds + 1):
        for i in range(per_round):
            rows.append(
                {
                    "trial": f"s-x-r{r}-t{i}",
                    "round": r,
                    "index": i,
                    "lambda": float(10 ** rng.uniform(-5, -1)),
                    "momentum": float(rng.uniform(0, 0.9)),
                    "hidden": CHOICES["hidden"][int(rng.integers(0, 2))],  # [200, 100] never drawn
                    "val_acc": float(rng.uniform(0.3, 0.5)),
                }
            )
    return pd.DataFrame(rows)


def both(df=None, **kw):
    df = trials() if df is None else df
    chosen = df.loc[df["val_acc"].idxmax(), "trial"]
    return {
        "settings": search_plots.plot_search_settings(df, SCALES, chosen=chosen, choices=CHOICES, **kw),
        "parallel": search_plots.plot_search_parallel(df, SCALES, chosen=chosen, choices=CHOICES, **kw),
    }


def test_one_panel_per_setting_with_log_axes_where_the_space_is_log():
    fig = both()["settings"]
    axes = plot_axes(fig)
    assert len(axes) == 3
    assert [ax.get_xscale() for ax in axes] == ["log", "linear", "linear"]
    assert "log scale" in axes[0].get_xlabel() and "log" not in axes[1].get_xlabel()
    assert all(ax.get_ylabel() == "validation accuracy (%)" for ax in axes)


def test_a_choice_shows_every_configured_value_in_config_order():
    fig = both()["settings"]
    hidden = plot_axes(fig)[2]
    draw(fig)
    assert [t.get_text() for t in hidden.get_xticklabels()] == ["[50]", "[100]", "[200, 100]"]


def test_dots_are_coloured_by_round_and_the_legend_names_rounds_and_the_choice():
    df = trials(n_rounds=3)
    fig = both(df)["settings"]
    assert legend_texts(fig) == ["round 1", "round 2", "round 3", "chosen"]
    ax = plot_axes(fig)[0]
    colors = search_plots.round_colors(df["round"])
    assert len(set(colors.values())) == 3
    dots = ax.collections[:3]  # one scatter per round, then the ring of the choice
    for r, coll in zip((1, 2, 3), dots):
        assert {to_hex(c) for c in coll.get_facecolors()} == {colors[r]}
        xs = sorted(coll.get_offsets()[:, 0])
        assert xs == pytest.approx(sorted(df.loc[df["round"] == r, "lambda"]))


def test_the_chosen_trial_is_ringed_at_its_own_values():
    df = trials()
    best = df.loc[df["val_acc"].idxmax()]
    ax = plot_axes(both(df)["settings"])[0]
    ring = ax.collections[-1]
    (x, y) = ring.get_offsets()[0]
    assert (x, y) == pytest.approx((best["lambda"], best["val_acc"] * 100))


def test_parallel_coordinates_have_one_axis_per_setting_and_one_for_accuracy():
    df = trials()
    fig = both(df)["parallel"]
    (ax,) = plot_axes(fig)
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert len(labels) == 4 and "(log)" in labels[0] and "accuracy" in labels[-1]
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
    assert len(lines) == len(df)
    assert any(is_colorbar(a) for a in fig.axes)


def test_parallel_coordinates_draw_the_choice_thick_at_the_top_of_the_accuracy_axis():
    df = trials()
    (ax,) = plot_axes(both(df)["parallel"])
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) == 4]
    thick = max(lines, key=lambda line: line.get_linewidth())
    assert thick.get_ydata()[-1] == pytest.approx(1.0)  # the best validation accuracy
    # its log-lambda position, from the values alone
    lam = np.log10(df["lambda"])
    best = df.loc[df["val_acc"].idxmax(), "lambda"]
    assert thick.get_ydata()[0] == pytest.approx((np.log10(best) - lam.min()) / (lam.max() - lam.min()))
    assert f"{df['lambda'].min():.3g}" in axis_texts(ax)


def axis_texts(ax):
    return {t.get_text() for t in ax.texts}


@pytest.mark.parametrize("kind", ["settings", "parallel"])
def test_no_text_is_clipped_and_figures_save(kind, tmp_path):
    fig = both(title="search s / x (coarse_to_fine)")[kind]
    renderer = draw(fig)
    for t in visible_texts(fig):
        bb = t.get_window_extent(renderer)
        assert bb.x0 >= -1 and bb.y0 >= -1 and bb.x1 <= fig.bbox.x1 + 1 and bb.y1 <= fig.bbox.y1 + 1, t.get_text()
    paths = save(fig, tmp_path / kind, dpi=40)
    assert all(p.stat().st_size > 0 for p in paths)


def test_equal_accuracies_and_a_single_trial_still_draw():
    df = trials(n_rounds=1, per_round=1)
    figs = both(df)
    assert tick_texts(figs["settings"]) and plot_axes(figs["parallel"])


def test_missing_columns_and_unknown_scales_are_errors():
    df = trials().drop(columns=["momentum"])
    with pytest.raises(ValueError, match="momentum"):
        search_plots.plot_search_settings(df, SCALES)
    with pytest.raises(ValueError, match="scale"):
        search_plots.plot_search_parallel(trials(), {"lambda": "logit"})


@pytest.mark.parametrize(
    "lo, hi, want",
    [
        (1e-4, 3e-2, {"0.0001", "0.001", "0.01"}),  # 2.5 decades: the powers of ten only
        (5e-3, 5e-2, {"0.005", "0.01", "0.02", "0.05"}),  # one decade: and the 2s and 5s
        (5.5e-3, 8.5e-3, {"0.006", "0.007", "0.008"}),  # at most 4 minor ticks in view: every one
        (3e-4, 8e-4, {"0.0005"}),  # 6 minor ticks in view: the 2s and 5s only (once: 0.0003 to 0.0008)
    ],
)
def test_log_axes_label_plain_numbers_that_do_not_collide(lo, hi, want):
    """A learning-rate axis over 0.005-0.05 once showed "2x10^-2 3x10^-2 4x10^-2" written over
    each other; the labels are plain numbers and never the minor ticks of a wide axis."""
    df = trials(n_rounds=1, per_round=5)
    df["lambda"] = np.geomspace(lo, hi, len(df))
    fig = search_plots.plot_search_settings(df, {"lambda": "log"})
    (ax,) = plot_axes(fig)
    draw(fig)
    lo_view, hi_view = sorted(ax.get_xlim())
    ticks = ax.xaxis.get_major_ticks() + ax.xaxis.get_minor_ticks()
    shown = {t.label1.get_text() for t in ticks if lo_view <= t.get_loc() <= hi_view and t.label1.get_text()}
    assert shown == want
