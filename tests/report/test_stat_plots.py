"""stat_plots: figures with uncertainty draw the intervals of the numbers they are given, with the
right extents, colours and labels, and keep their text inside (same checks as test_plots)."""

import functools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_utils import CLASSES, draw, history, legend_texts, plot_axes, visible_texts  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from scipy import stats as st  # noqa: E402

from cifarflow.report import stat_plots as SP  # noqa: E402
from cifarflow.report import stats as S  # noqa: E402

SEEDS = {"softmax": [0.412, 0.418, 0.421], "sigmoid": [0.401, 0.409, 0.399], "one-seed": [0.405]}


def t_interval(values):
    """The 95% t interval written with scipy's t distribution object, independently of stats.py."""
    v = np.asarray(values, float)
    return st.t.interval(0.95, v.size - 1, loc=v.mean(), scale=v.std(ddof=1) / np.sqrt(v.size))


def pairs():
    rng = np.random.default_rng(3)
    base = rng.random(800) < 0.4
    good = base | (rng.random(800) < 0.15)
    bad = base & (rng.random(800) < 0.7)
    correct = {
        "good": np.tile(good, (3, 1)),
        "base": np.tile(base, (3, 1)),
        "same": np.tile(base, (3, 1)),
        "bad": np.tile(bad, (3, 1)),
    }
    return S.pairs_table(correct, pairs=[("good", "base"), ("bad", "base"), ("base", "same")], seed=0)


def seed_histories(n_seeds=3, lengths=(8, 8, 5)):
    out = []
    for k in range(n_seeds):
        h = history(lengths[k])
        h["val_acc"] = h["val_acc"] + 0.01 * k
        out.append(h)
    return out


def aggregate_rows():
    rows = {}
    for v, shift in (("softmax", 0.0), ("sigmoid", -0.05)):
        runs = [
            {
                "variant": v,
                "test_acc": 0.4 + shift,
                "class_names": CLASSES,
                "per_class_acc": {c: 0.3 + 0.03 * i + shift + 0.01 * k for i, c in enumerate(CLASSES)},
                "config": {"seed": k},
            }
            for k in range(3)
        ]
        rows[v] = S.aggregate_runs(runs)
    return rows


def lambda_rows():
    out = []
    for lam in (0.0, 0.001, 0.1, 1.0):
        runs = [
            {
                "variant": f"l{lam:g}",
                "selected_val_acc": 0.4 - lam / 10 + 0.004 * k,
                "weight_norm2": 10 / (1 + 100 * lam) + k,
                "config": {"seed": k},
            }
            for k in range(3)
        ]
        out.append({"variant": f"l{lam:g}", "value": lam, **S.aggregate_runs(runs)})
    return out


FIGURES = {
    "strip": lambda: SP.plot_seed_strip(SEEDS, figsize=(4, 3)),
    "diffs": lambda: SP.plot_pair_diffs(pairs(), figsize=(6, 2.5)),
    "band": lambda: SP.plot_curves_band(
        {"shuffle": seed_histories(), "no-shuffle": seed_histories(2, (6, 6))},
        ("val_acc", "train_loss"),
        figsize=(7, 3),
    ),
    "per_class": lambda: SP.plot_per_class_ci(aggregate_rows(), CLASSES, figsize=(6, 3.5)),
    "vs_param": lambda: SP.plot_vs_param_ci(lambda_rows(), figsize=(7, 3)),
}


@functools.cache
def built(kind):
    return FIGURES[kind]()


def bar_extents(container):
    """(x, y) segments of an errorbar container's bar lines."""
    return [np.asarray(seg) for seg in container.lines[2][0].get_segments()]


@pytest.mark.parametrize("kind", sorted(FIGURES))
def test_figure_has_labelled_axes_and_keeps_text_inside(kind):
    fig = built(kind)
    assert isinstance(fig, Figure)
    renderer = draw(fig)
    for ax in plot_axes(fig):
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), (kind, ax)
    box = fig.bbox
    for t in visible_texts(fig):
        bb = t.get_window_extent(renderer)
        assert box.x0 - 1 <= bb.x0 and bb.x1 <= box.x1 + 1 and box.y0 - 1 <= bb.y0 and bb.y1 <= box.y1 + 1, (kind, t)


def test_strip_draws_every_seed_and_the_t_interval():
    fig = built("strip")
    ax = fig.axes[0]
    for v, vals in SEEDS.items():
        (dots,) = [ln for ln in ax.lines if ln.get_gid() == f"seeds:{v}"]
        assert np.allclose(sorted(dots.get_ydata()), sorted(100 * np.array(vals)))
    containers = ax.containers
    assert len(containers) == 2  # the one-seed variant has no interval
    for c, v in zip(containers, ("softmax", "sigmoid")):
        (seg,) = bar_extents(c)
        lo, hi = t_interval(100 * np.array(SEEDS[v]))
        assert seg[:, 1] == pytest.approx([lo, hi])
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["softmax\n(n=3)", "sigmoid\n(n=3)", "one-seed\n(n=1)"]
    assert "mean ± 95% t interval" in legend_texts(fig)
    assert ax.get_ylabel() == "test accuracy (%)"


def test_strip_turns_horizontal_when_the_names_do_not_fit_their_columns():
    """Three grid names of the default run (issue 31) printed over each other on the x axis; now
    they are the rows of a horizontal strip plot, first on top, the values on the x axis."""
    names = ["t-softmax-l2-lambda0", "t-softmax-l2-lambda0.001", "t-softmax-l2-lambda0.01"]
    values = {n: SEEDS["softmax"] for n in names}
    fig = SP.plot_seed_strip(values)
    ax = fig.axes[0]
    draw(fig)
    at = dict(zip(ax.yaxis.get_majorticklocs(), (t.get_text() for t in ax.get_yticklabels())))
    assert [at[y] for y in sorted(at, reverse=True)] == [f"{n} (n=3)" for n in names]
    assert ax.get_xlabel() == "test accuracy (%)" and ax.get_ylabel() == "variant (n = number of seeds)"
    for n in names:
        (dots,) = [ln for ln in ax.lines if ln.get_gid() == f"seeds:{n}"]
        assert np.allclose(sorted(dots.get_xdata()), sorted(100 * np.array(SEEDS["softmax"])))
    (seg,) = bar_extents(ax.containers[0])
    assert seg[:, 0] == pytest.approx(t_interval(100 * np.array(SEEDS["softmax"])))


def test_pair_diffs_draw_bootstrap_intervals_in_verdict_colours():
    table = pairs()
    assert table["verdict"].tolist() == [S.VERDICT_A, S.VERDICT_B, S.VERDICT_NONE]
    fig = built("diffs")
    ax = fig.axes[0]
    assert len(ax.containers) == 3
    for c, r in zip(ax.containers, table.itertuples()):
        (seg,) = bar_extents(c)
        assert seg[:, 0] == pytest.approx([100 * r.diff_lo, 100 * r.diff_hi])
        assert c.lines[0].get_xdata()[0] == pytest.approx(100 * r.diff)
        assert to_rgba(c.lines[0].get_color()) == to_rgba(SP.VERDICT_COLORS[r.verdict])
    at = dict(zip(ax.yaxis.get_majorticklocs(), (t.get_text() for t in ax.get_yticklabels())))
    assert [at[y] for y in sorted(at, reverse=True)] == ["good − base", "bad − base", "base − same"]  # top down
    assert {S.VERDICT_A, S.VERDICT_B, S.VERDICT_NONE} <= set(legend_texts(fig))
    notes = [t.get_text() for t in ax.texts]
    assert "p=1.000" in notes and sum(n.startswith("p") for n in notes) == 3
    assert any(line.get_xdata()[0] == 0 for line in ax.lines)  # the zero line


def test_pair_diffs_of_an_empty_table_say_so():
    fig = SP.plot_pair_diffs(pairs().iloc[:0])
    assert "no pairs" in [t.get_text() for t in fig.axes[0].texts]


def test_mean_band_against_a_direct_computation():
    hs = seed_histories()
    b = SP.mean_band(hs, "val_acc")
    for e in (0, 3, 5):  # every seed ran
        vals = [h.loc[h.epoch == e, "val_acc"].iloc[0] for h in hs]
        lo, hi = t_interval(vals)
        row = b[b.epoch == e].iloc[0]
        assert row["n"] == 3 and row["mean"] == pytest.approx(np.mean(vals))
        assert (row["lo"], row["hi"]) == (pytest.approx(lo), pytest.approx(hi))
    late = b[b.epoch == 7].iloc[0]  # the third seed stopped at epoch 5
    assert late["n"] == 2 and late["mean"] == pytest.approx((hs[0].val_acc[7] + hs[1].val_acc[7]) / 2)
    assert SP.mean_band([history(3)], "val_acc")["lo"].isna().all()  # one seed: no band


def test_curves_band_fills_the_interval():
    """Every seed of no-shuffle runs to the end: one solid line and its band over every epoch."""
    fig = built("band")
    ax = fig.axes[0]
    b = SP.mean_band(seed_histories(2, (6, 6)), "val_acc")
    (band,) = [c for c in ax.collections if c.get_gid() == "band:no-shuffle"]
    ys = np.concatenate([p.vertices[:, 1] for p in band.get_paths()])
    assert ys.min() == pytest.approx(100 * b["lo"].min()) and ys.max() == pytest.approx(100 * b["hi"].max())
    (mean,) = [ln for ln in ax.lines if ln.get_gid() == "mean:no-shuffle"]
    assert np.allclose(mean.get_ydata(), 100 * b["mean"])
    assert not [ln for ln in ax.lines if ln.get_gid() == "fewer:no-shuffle"]
    assert "no-shuffle (n=2)" in legend_texts(fig)
    assert ax.get_ylabel() == "validation accuracy (%)"


def test_curves_band_stop_where_a_seed_stopped_and_say_how_many_remain():
    """shuffle's third seed stopped after epoch 5: the solid line and the band end at epoch 5,
    the mean of the two seeds left goes on dotted from there, a circle marks epoch 6 (the first
    with fewer seeds), and the legend says n=3, 2 from epoch 6 instead of a bare n=3."""
    fig = built("band")
    ax = fig.axes[0]
    b = SP.mean_band(seed_histories(), "val_acc")
    all_seeds = (b["n"] == 3).to_numpy()
    assert b["epoch"][all_seeds].max() == 5
    (mean,) = [ln for ln in ax.lines if ln.get_gid() == "mean:shuffle"]
    y = np.asarray(mean.get_ydata(), float)
    assert np.allclose(y[all_seeds], 100 * b["mean"][all_seeds]) and np.isnan(y[~all_seeds]).all()
    (fewer,) = [ln for ln in ax.lines if ln.get_gid() == "fewer:shuffle"]
    assert fewer.get_linestyle() == ":"
    yf = np.asarray(fewer.get_ydata(), float)
    drawn = ~np.isnan(yf)
    assert list(b["epoch"][drawn]) == [5, 6, 7, 8]  # joined to the last epoch with every seed
    assert np.allclose(yf[drawn], 100 * b["mean"][drawn])
    (drops,) = [ln for ln in ax.lines if ln.get_gid() == "drops:shuffle"]
    assert list(drops.get_xdata()) == [6]
    (band,) = [c for c in ax.collections if c.get_gid() == "band:shuffle"]
    xs = np.concatenate([p.vertices[:, 0] for p in band.get_paths()])
    assert xs.max() == 5  # no band where fewer seeds remain
    texts = legend_texts(fig)
    assert "shuffle (n=3; 2 from epoch 6)" in texts and "shuffle (n=3)" not in texts
    assert any(t.startswith("from ○") for t in texts)


def test_seed_counts_name_every_drop():
    hs = seed_histories(3, (8, 6, 4))
    fig = SP.plot_curves_band({"v": hs}, ("val_acc",), figsize=(5, 3))
    assert "v (n=3; 2 from epoch 5, 1 from epoch 7)" in legend_texts(fig)
    (drops,) = [ln for ln in fig.axes[0].lines if ln.get_gid() == "drops:v"]
    assert list(drops.get_xdata()) == [5, 7]


@pytest.mark.parametrize("epochs", [1, 3, 5])
def test_epoch_axes_have_integer_ticks(epochs):
    """A quick run of 3 epochs is ticked 0, 1, 2, 3 (not 0.5, 1.5) on every epoch axis."""
    from cifarflow.report import plots

    band = SP.plot_curves_band({"v": [history(epochs), history(epochs)]}, ("val_acc", "train_loss"))
    overlay = plots.plot_curves_overlay({"v": history(epochs)}, ("val_acc",))
    curves = plots.plot_curves(history(epochs), "v")
    strip = SP.plot_seed_strip({"v": [1, 2, 3], "w": [2, 2, 3]}, metric="best_epoch")
    axes = [*band.axes, *plot_axes(overlay), *plot_axes(curves)]
    for fig in (band, overlay, curves, strip):
        draw(fig)
    ticks = [t for ax in axes for t in ax.xaxis.get_majorticklocs() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ticks += [t for t in strip.axes[0].yaxis.get_majorticklocs()]
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_per_class_bars_carry_t_interval_error_bars():
    rows = aggregate_rows()
    fig = built("per_class")
    ax = fig.axes[0]
    assert len(ax.containers) == 4  # per variant: the bars and their error bars
    errs = [c for c in ax.containers if hasattr(c, "has_yerr")]
    for c, (v, _row) in zip(errs, rows.items()):
        segs = bar_extents(c)
        assert len(segs) == len(CLASSES)
        for seg, cls in zip(segs, CLASSES):
            lo, hi = t_interval(
                [0.3 + 0.03 * CLASSES.index(cls) + (0 if v == "softmax" else -0.05) + 0.01 * k for k in range(3)]
            )
            assert seg[:, 1] == pytest.approx([100 * lo, 100 * hi])
    assert {"softmax (n=3)", "sigmoid (n=3)"} <= set(legend_texts(fig))


def test_vs_param_error_bars_and_zero_lambda():
    fig = built("vs_param")
    acc_ax, norm_ax = fig.axes[:2]
    assert acc_ax.get_xscale() == "symlog"
    for c, lam in zip(acc_ax.containers, (0.0, 0.001, 0.1, 1.0)):
        (seg,) = bar_extents(c)
        lo, hi = t_interval([100 * (0.4 - lam / 10 + 0.004 * k) for k in range(3)])
        assert seg[:, 0] == pytest.approx([lam, lam]) and seg[:, 1] == pytest.approx([lo, hi])
    for c, lam in zip(norm_ax.containers, (0.0, 0.001, 0.1, 1.0)):
        (seg,) = bar_extents(c)
        assert seg[:, 1] == pytest.approx(t_interval([10 / (1 + 100 * lam) + k for k in range(3)]))
    assert {"l0", "l0.001", "l0.1", "l1"} <= set(legend_texts(fig))
    with pytest.raises(ValueError, match="lack"):
        SP.plot_vs_param_ci([{"variant": "a", "value": 0.1}])


def test_one_seed_rows_draw_points_without_error_bars():
    runs = [{"variant": "x", "selected_val_acc": 0.4, "weight_norm2": 3.0, "config": {"seed": 0}}]
    rows = [{"variant": "x", "value": 0.1, **S.aggregate_runs(runs)}]
    fig = SP.plot_vs_param_ci(rows)
    assert not fig.axes[0].containers
    assert any(ln.get_gid() == "selected_val_acc:x" for ln in fig.axes[0].lines)


def test_titles_and_class_names_with_dollar_signs_are_drawn_literally():
    """A `$` in a configured title or a class name is text, not matplotlib mathtext (an
    unbalanced expression would make drawing the figure fail)."""
    title = r"cost in $ and $\frac{$"
    fig = SP.plot_seed_strip(SEEDS, title=title, figsize=(4, 3))
    draw(fig)
    assert fig.axes[0].get_title() == title.replace("$", r"\$")
