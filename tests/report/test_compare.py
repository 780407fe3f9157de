"""compare: the comparison figures over finished run folders, one per comparison type, each drawn
from the runs' own files, over one seed or several, and written as the rule asks."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_utils import legend_texts, plot_axes, tick_texts, write_run  # noqa: E402

from cifarflow.errors import ConfigError  # noqa: E402
from cifarflow.io import read_run  # noqa: E402
from cifarflow.report import compare  # noqa: E402
from cifarflow.report.figure import variant_colors  # noqa: E402

A, B = "softmax-lambda0.01", "softmax-lambda0.1"
LABELS = {A: "λ 0.01", B: "λ 0.1"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """seeds -> the run folders of A (test accuracy 0.5 + 0.01 * seed) and B (0.4 + ...), A first."""
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for seeds in (1, 3):
        base = root / f"seeds{seeds}"
        out[seeds] = [write_run(base, A, s, acc=0.5, lam=0.01) for s in range(seeds)] + [
            write_run(base, B, s, acc=0.4, lam=0.1) for s in range(seeds)
        ]
    return out


def spec(kind, **more):
    return {"name": f"cmp-{kind}", "type": kind, "labels": LABELS, **more}


# ---------------------------------------------------------------------------------------------
# runs and labels


def test_group_runs_keeps_each_variants_runs_in_the_order_given(runs):
    dirs = runs[3]
    grouped = compare.group_runs([dirs[4], dirs[0], dirs[3], dirs[2]])
    assert list(grouped) == [B, A]
    assert grouped[B] == [dirs[4], dirs[3]] and grouped[A] == [dirs[0], dirs[2]]


def test_shown_labels_are_the_display_labels_escaped_for_matplotlib():
    shown = compare.shown_labels({"labels": {A: "cost $5"}}, [A, B])
    assert shown == {A: "cost \\$5", B: B}  # a variant without a label is shown by its name


def test_a_label_two_variants_share_falls_back_to_their_names():
    assert compare.shown_labels({"labels": {A: "same", B: "same"}}, [A, B]) == {A: A, B: B}


# ---------------------------------------------------------------------------------------------
# one figure per type


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("kind", sorted(compare.COMPARISONS))
def test_every_type_labels_its_axes_and_names_its_variants_by_label(runs, kind, seeds):
    fig = compare.comparison_figure(spec(kind), runs[seeds])
    axes = plot_axes(fig) or fig.axes
    if kind != "templates":  # image panels: the rows are named instead
        assert all(ax.get_xlabel() and ax.get_ylabel() for ax in axes), kind
    drawn = " ".join(legend_texts(fig) + sorted(tick_texts(fig)) + [t.get_text() for ax in fig.axes for t in ax.texts])
    drawn += " ".join(ax.get_title() + ax.get_ylabel() for ax in fig.axes)
    for name, label in LABELS.items():
        assert label in drawn, (kind, label)
        assert name not in drawn, (kind, name)


def test_an_unknown_type_is_a_config_error_naming_the_comparison(runs):
    with pytest.raises(ConfigError, match="comparison cmp-x: unknown type 'x'"):
        compare.comparison_figure({"name": "cmp-x", "type": "x"}, runs[1])


def test_the_specs_title_heads_the_figure_as_written(runs):
    fig = compare.comparison_figure(spec("per_class", title="costs in $"), runs[1])
    assert fig.get_suptitle() == "costs in \\$"


def test_per_class_bars_are_the_runs_accuracies_with_intervals_over_several_seeds(runs):
    one = compare.comparison_figure(spec("per_class"), runs[1])
    (ax,) = plot_axes(one)
    bars = next(c for c in ax.containers if c.get_label() == LABELS[A])
    assert [b.get_height() for b in bars] == pytest.approx([50.0, 45.0, 40.0])
    assert bars.errorbar is None  # one seed: no interval

    three = compare.comparison_figure(spec("per_class"), runs[3])
    (ax,) = plot_axes(three)
    bars = next(c for c in ax.containers if c.get_label().startswith(LABELS[A]))
    assert [b.get_height() for b in bars] == pytest.approx([51.0, 46.0, 41.0])  # the mean over seeds 0, 1, 2
    assert bars.errorbar is not None
    assert LABELS[A] + " (n=3)" in legend_texts(three)


def test_vs_lambda_puts_each_variant_at_its_configured_lambda(runs):
    fig = compare.comparison_figure(spec("vs_lambda"), runs[1])
    acc_ax = plot_axes(fig)[0]
    points = {tuple(line.get_xdata()): tuple(line.get_ydata()) for line in acc_ax.lines if line.get_marker() == "o"}
    assert points == {(0.01,): (50.0,), (0.1,): (40.0,)}
    assert "L2 penalty" in acc_ax.get_xlabel()


def test_the_intervals_are_at_the_configured_confidence(runs):
    fig = compare.comparison_figure(spec("vs_lambda", confidence=0.9), runs[3])
    assert "90% t intervals" in fig.get_suptitle()
    fig = compare.comparison_figure(spec("curves", confidence=0.9), runs[3])
    assert "90% t band" in fig.get_suptitle()


def test_true_class_probabilities_pool_every_seeds_test_images(runs):
    fig = compare.comparison_figure(spec("true_class_prob"), runs[3])
    for ax in plot_axes(fig):
        counted = sum(p.get_height() for p in ax.patches if p.get_fill())  # the correct ones' bars
        correct, wrong = (int(t.get_text().split("= ")[1].rstrip(")")) for t in ax.get_legend().texts)
        assert correct + wrong == 3 * 12  # 12 test images, three seeds
        assert counted == correct


def test_templates_show_the_first_seeds_weights(runs):
    fig = compare.comparison_figure(spec("templates"), runs[3])
    images = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(images) == 2 * 3  # two variants, three classes
    assert all(img.shape == (32, 32, 3) for img in images)
    W = read_run(runs[3][0]).weights("W1")["W1"][0].astype(np.float64).reshape(32, 32, 3)
    assert np.allclose(images[0], (W - W.min()) / (W.max() - W.min()))


def test_every_variant_keeps_its_names_colour_whatever_its_label(runs):
    fig = compare.comparison_figure(spec("vs_lambda"), runs[1])
    colours = {h.get_label(): h.get_color() for h in fig.legends[0].legend_handles}
    assert colours == {LABELS[n]: c for n, c in variant_colors([A, B]).items()}


def test_the_seed_strip_shows_every_seeds_test_accuracy(runs):
    fig = compare.seed_strip_figure(spec("per_class"), runs[3])
    (ax,) = plot_axes(fig)
    seeds = {line.get_gid(): sorted(line.get_ydata()) for line in ax.lines if str(line.get_gid()).startswith("seeds:")}
    assert seeds["seeds:" + LABELS[A]] == pytest.approx([50.0, 51.0, 52.0])
    assert seeds["seeds:" + LABELS[B]] == pytest.approx([40.0, 41.0, 42.0])
    assert ax.get_ylabel() == "test accuracy (%)"
    assert f"{LABELS[A]}\n(n=3)" in {t.get_text() for t in ax.get_xticklabels()}


# ---------------------------------------------------------------------------------------------
# files


def test_comparison_file_writes_the_figure_and_the_seed_strip(runs, tmp_path):
    compare.comparison_file(spec("per_class"), runs[3], tmp_path / "cmp", dpi=30, seeds_out=tmp_path / "cmp_seeds")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmp.pdf", "cmp.png", "cmp_seeds.pdf", "cmp_seeds.png"]
    assert all(p.stat().st_size > 0 for p in tmp_path.iterdir())


def test_comparison_file_without_pdf_or_strip_writes_one_png(runs, tmp_path):
    compare.comparison_file(spec("curves"), runs[1], tmp_path / "cmp", dpi=30, pdf=False)
    assert [p.name for p in tmp_path.iterdir()] == ["cmp.png"]
