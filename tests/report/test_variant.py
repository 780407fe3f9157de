"""variant: the figures of one variant's runs (curves, confusion matrix, first-layer weights as
images) over one seed or several, the files they are written to, and the augmentation preview."""

import types

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from figure_utils import legend_texts, main_axes, plot_axes, write_run  # noqa: E402

from cifarflow.errors import DataError  # noqa: E402
from cifarflow.io import read_run  # noqa: E402
from cifarflow.report import variant  # noqa: E402
from cifarflow.report.figure import variant_colors  # noqa: E402

NAME = "softmax-lambda0.01"


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    """The three seeds' run folders of NAME."""
    root = tmp_path_factory.mktemp("runs")
    return [write_run(root, NAME, s) for s in range(3)]


def files(dirs):
    return [[d / f for d in dirs] for f in ("metrics.json", "history.csv", "weights.h5")]


# ---------------------------------------------------------------------------------------------
# what the weight images show


def metrics(model, classes=("cat", "dog", "ship")):
    return {"variant": NAME, "model": model, "class_names": list(classes)}


def test_a_linear_model_shows_one_template_per_class():
    W = np.zeros((3, 3072))
    shown, labels, title = variant.weight_images({"W1": W}, metrics("softmax"))
    assert shown is W and labels == ["cat", "dog", "ship"]
    assert title == f"{NAME}: class templates (rows of W)"


def test_a_logistic_model_shows_its_one_template_as_the_class_pair():
    _, labels, _ = variant.weight_images({"W1": np.zeros((1, 3072))}, metrics("logistic", ("cat", "dog")))
    assert labels == ["dog vs cat"]


def test_an_mlp_shows_the_first_ten_hidden_units():
    W = np.arange(20 * 3072, dtype=float).reshape(20, 3072)
    shown, labels, title = variant.weight_images({"W1": W}, metrics("mlp"), label="my label")
    assert np.array_equal(shown, W[:10])
    assert labels == [f"unit {i}" for i in range(1, 11)]
    assert title == "my label: input weights of the first 10 hidden units"


def test_a_convnet_shows_its_first_layer_filters_enlarged_to_32_pixels():
    W = np.random.default_rng(0).standard_normal((12, 5, 5, 3))
    shown, labels, title = variant.weight_images({"W1": W}, metrics("convnet"))
    assert shown.shape == (10, 32 * 32 * 3) and labels[-1] == "filter 10"
    first = shown[0].reshape(32, 32, 3)
    assert np.array_equal(first[:7, :7], np.broadcast_to(W[0, 0, 0], (7, 7, 3)))  # 32 / 5 -> 7x pixels
    assert np.array_equal(first[7, 7], W[0, 1, 1])
    assert title == f"{NAME}: first-layer filters"


# ---------------------------------------------------------------------------------------------
# figures of one seed and of several


def runs_of(dirs):
    return [read_run(d) for d in dirs]


def test_one_seeds_curves_mark_its_kept_epoch_in_the_names_colour(seeds):
    fig = variant.curves_figure(runs_of(seeds[:1]), "a label")
    assert fig.get_suptitle() == "a label"
    assert "best epoch (2)" in legend_texts(fig)
    colour = variant_colors([NAME])[NAME]
    assert all(matplotlib.colors.same_color(line.get_color(), colour) for line in plot_axes(fig)[0].lines[:2])
    assert all(ax.get_xlabel() == "epoch" and ax.get_ylabel() for ax in plot_axes(fig))


def test_several_seeds_curves_are_their_mean_with_a_band(seeds):
    fig = variant.curves_figure(runs_of(seeds), "a label")
    assert fig.get_suptitle() == "a label: mean over seeds 0, 1, 2 with 95% t band"
    axes = plot_axes(fig)
    assert [ax.get_ylabel() for ax in axes] == [
        "training loss",
        "validation loss",
        "training accuracy (%)",
        "validation accuracy (%)",
    ]
    assert all(any(str(c.get_gid()).startswith("band:") for c in ax.collections) for ax in axes)


def cell_counts(fig):
    ax = main_axes(fig)
    return sorted(int(t.get_text()) for t in ax.texts)


def test_one_seeds_confusion_matrix_is_its_own(seeds):
    fig = variant.confusion_figure(runs_of(seeds[:1]))
    ax = main_axes(fig)
    assert ax.get_title() == f"{NAME}: test confusion matrix"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert cell_counts(fig) == [1] * 6 + [10] * 3


def test_several_seeds_confusion_matrices_are_summed(seeds):
    fig = variant.confusion_figure(runs_of(seeds), "a label")
    assert main_axes(fig).get_title() == "a label: test confusion matrix, summed over 3 seeds"
    assert cell_counts(fig) == [3] * 6 + [30] * 3


def test_the_weight_images_are_the_first_seeds_and_say_so(seeds):
    fig = variant.weights_figure(runs_of(seeds))
    assert " ".join(fig.get_suptitle().split()) == f"{NAME}: class templates (rows of W) (seed 0)"  # wrapped to fit
    W = read_run(seeds[0]).weights("W1")["W1"][1].astype(np.float64).reshape(32, 32, 3)
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in fig.axes if ax.images] == ["cat", "dog", "ship"]
    assert np.allclose(shown[1], (W - W.min()) / (W.max() - W.min()))
    one = variant.weights_figure(runs_of(seeds[:1])).get_suptitle()
    assert " ".join(one.split()) == f"{NAME}: class templates (rows of W)"


# ---------------------------------------------------------------------------------------------
# files


@pytest.mark.parametrize("n", [1, 3])
def test_variant_figures_write_three_figures(seeds, tmp_path, n):
    paths = files(seeds[:n]) if n > 1 else [f[0] for f in files(seeds[:1])]  # one seed: plain paths
    outs = [tmp_path / "curves", tmp_path / "confusion", tmp_path / "templates"]
    variant.variant_figures(*paths, *outs, dpi=30)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{o.name}.{e}" for o in outs for e in ("png", "pdf"))
    assert all(p.stat().st_size > 0 for p in tmp_path.iterdir())


def test_variant_figures_without_pdf_write_pngs_only(seeds, tmp_path):
    outs = [tmp_path / "curves", tmp_path / "confusion", tmp_path / "templates"]
    variant.variant_figures(*files(seeds[:1]), *outs, dpi=30, pdf=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["confusion.png", "curves.png", "templates.png"]


def test_the_lists_of_files_must_have_one_entry_per_seed(seeds, tmp_path):
    metrics_paths, history_paths, weights_paths = files(seeds)
    with pytest.raises(DataError, match="3 metrics, 2 history and 3 weights files"):
        variant.variant_figures(metrics_paths, history_paths[:2], weights_paths, *[tmp_path / "x"] * 3)


def test_a_runs_files_must_come_from_one_folder(seeds, tmp_path):
    metrics_paths, history_paths, weights_paths = files(seeds)
    history_paths[1] = seeds[2] / "history.csv"
    with pytest.raises(DataError, match="not the history.csv of the run"):
        variant.variant_figures(metrics_paths, history_paths, weights_paths, *[tmp_path / "x"] * 3)
    assert not list(tmp_path.iterdir())


def test_the_runs_must_be_of_one_variant(seeds, tmp_path):
    other = write_run(tmp_path / "other", "softmax-lambda0.1", 1)
    metrics_paths, history_paths, weights_paths = files([seeds[0], other])
    with pytest.raises(DataError, match="a run of 'softmax-lambda0.1', not of 'softmax-lambda0.01'"):
        variant.variant_figures(metrics_paths, history_paths, weights_paths, *[tmp_path / "x"] * 3)


# ---------------------------------------------------------------------------------------------
# augmentation preview


def split(n=40):
    images = np.random.default_rng(5).integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
    return types.SimpleNamespace(train_images=images, train_labels=np.arange(n) % 3, class_names=["cat", "dog", "ship"])


def preview_images(fig):
    """Rows of the preview grid: the images drawn, row by row."""
    rows = {}
    for ax in fig.axes:
        row = ax.get_subplotspec().rowspan.start
        rows.setdefault(row, []).append(np.asarray(ax.images[0].get_array()))
    return [rows[r] for r in sorted(rows)]


def test_the_preview_shows_eight_images_and_three_copies_named_by_class():
    fig = variant.augmentation_preview(split(), {"flip": 0.5, "translate": 4}, seed=3)
    rows = preview_images(fig)
    assert [len(r) for r in rows] == [8, 8, 8, 8]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 8 and set(titles) <= {"cat", "dog", "ship"}
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == [
        "original",
        "augmented 1",
        "augmented 2",
        "augmented 3",
    ]


def test_the_preview_is_the_same_for_the_same_seed():
    a = preview_images(variant.augmentation_preview(split(), {"flip": 0.5, "translate": 4}, seed=3))
    b = preview_images(variant.augmentation_preview(split(), {"flip": 0.5, "translate": 4}, seed=3))
    assert all(np.array_equal(x, y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))


def test_the_preview_draws_its_copies_with_the_augmentation_given():
    rows = preview_images(variant.augmentation_preview(split(), {"flip": 1.0}, seed=0))
    originals = rows[0]
    for copies in rows[1:]:
        assert all(np.array_equal(c, o[:, ::-1]) for c, o in zip(copies, originals))  # every copy flipped
    rows = preview_images(variant.augmentation_preview(split(), {}, seed=0))
    assert all(np.array_equal(c, o) for copies in rows[1:] for c, o in zip(copies, rows[0]))  # none changed


def test_the_preview_file_is_written_from_the_split_file(tmp_path, monkeypatch):
    read = []
    monkeypatch.setattr(variant, "load_split", lambda path: read.append(path) or split())
    variant.augmentation_preview_file(tmp_path / "split.h5", {"flip": 0.5}, 0, tmp_path / "preview", dpi=30)
    assert read == [tmp_path / "split.h5"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.pdf", "preview.png"]
