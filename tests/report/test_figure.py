"""figure, the toolkit of every plot module: colours, saving, the dpi default, labels that fit."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
import yaml  # noqa: E402
from figure_utils import draw  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from cifarflow.report import figure  # noqa: E402
from cifarflow.report.figure import (  # noqa: E402
    DEFAULT_DPI,
    PALETTE,
    axes_title,
    colors_for,
    fig_legend,
    line_count,
    literal,
    new_figure,
    save,
    text_width,
    variant_colors,
    wrap,
)

SCHEMA = Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml"

# ---------------------------------------------------------------------------------------------
# colours


def test_variant_colours_are_stable_across_calls():
    names = ["softmax", "sigmoid", "mlp"]
    assert variant_colors(names) == variant_colors(list(reversed(names)))


@pytest.mark.parametrize("n", [2, 5, 10, 20])
def test_variant_colours_differ_within_a_set(n):
    names = [f"variant-{i}" for i in range(n)]
    assert len(set(variant_colors(names).values())) == n


def test_variant_colours_follow_a_given_order():
    order = ["c", "a", "b"]
    colors = variant_colors(["a", "b"], order=order)
    assert colors == {"a": PALETTE[1], "b": PALETTE[2]}


def test_a_callers_colours_win_and_the_rest_get_their_own():
    colors = colors_for(["a", "b"], {"a": "#000000", "z": "#ffffff"})
    assert colors == {"a": "#000000", "b": variant_colors(["a", "b"])["b"]}


# ---------------------------------------------------------------------------------------------
# saving


def small_figure():
    fig = new_figure((2, 2))
    fig.subplots().plot([0, 1])
    return fig


def test_save_writes_non_empty_png_and_pdf(tmp_path):
    paths = save(small_figure(), tmp_path / "sub" / "curves", dpi=40)
    assert [p.name for p in paths] == ["curves.png", "curves.pdf"]
    assert (tmp_path / "sub" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "sub" / "curves.pdf").read_bytes()[:5] == b"%PDF-"
    assert not [p for p in (tmp_path / "sub").iterdir() if p.name.startswith(".")]


def test_save_without_pdf_writes_the_png_only(tmp_path):
    paths = save(small_figure(), tmp_path / "curves", dpi=40, pdf=False)
    assert [p.name for p in paths] == ["curves.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves.png"]


def test_save_drops_an_extension_given_with_the_stem(tmp_path):
    paths = save(small_figure(), tmp_path / "curves.png", dpi=40, pdf=False)
    assert [p.name for p in paths] == ["curves.png"]


def test_save_scales_the_figure_to_the_configured_width(tmp_path):
    fig = new_figure((figure.DEFAULT_WIDTH, 3.0))
    fig.subplots().plot([0, 1])
    save(fig, tmp_path / "wide", dpi=50, width=2 * figure.DEFAULT_WIDTH, pdf=False)
    assert tuple(fig.get_size_inches()) == pytest.approx((2 * figure.DEFAULT_WIDTH, 6.0))
    png = (tmp_path / "wide.png").read_bytes()
    width_px = int.from_bytes(png[16:20], "big")  # the IHDR chunk's width
    assert width_px == round(2 * figure.DEFAULT_WIDTH * 50)


def test_saving_twice_gives_identical_files(tmp_path):
    for name in ("a", "b"):
        save(small_figure(), tmp_path / name, dpi=40)
    for ext in ("png", "pdf"):
        assert (tmp_path / f"a.{ext}").read_bytes() == (tmp_path / f"b.{ext}").read_bytes()


def _titled_figure(title="loss"):
    fig = new_figure((3, 2))
    ax = fig.subplots()
    ax.plot([0, 1, 4], label="a")
    ax.set_title(title)
    ax.legend()
    return figure.fit_to_text(fig)


def _savefig_png(fig, path):
    """The PNG as matplotlib's savefig draws it (the layout the fit found, drawn again)."""
    fig.set_layout_engine(None)
    fig.savefig(path, format="png", dpi=DEFAULT_DPI, metadata={"Software": None})


def test_a_fitted_figure_is_saved_from_the_fits_pixels_with_savefigs_bytes(tmp_path, monkeypatch):
    fig = _titled_figure()
    calls = []
    monkeypatch.setattr(fig, "savefig", lambda *a, **k: calls.append(k["format"]) or Figure.savefig(fig, *a, **k))
    save(fig, tmp_path / "fit", dpi=DEFAULT_DPI)
    assert calls == ["pdf"]  # the PNG is not drawn again
    _savefig_png(_titled_figure(), tmp_path / "drawn.png")
    assert (tmp_path / "fit.png").read_bytes() == (tmp_path / "drawn.png").read_bytes()


def test_a_figure_changed_after_its_fit_or_saved_at_another_dpi_is_drawn_again(tmp_path):
    fig = _titled_figure()
    fig.axes[0].set_title("a new title")  # marks the figure stale: the fit's pixels are old
    save(fig, tmp_path / "changed", dpi=DEFAULT_DPI, pdf=False)
    _savefig_png(_titled_figure("a new title"), tmp_path / "drawn.png")
    assert (tmp_path / "changed.png").read_bytes() == (tmp_path / "drawn.png").read_bytes()
    save(_titled_figure(), tmp_path / "low", dpi=40, pdf=False)
    assert int.from_bytes((tmp_path / "low.png").read_bytes()[16:20], "big") == round(3 * 40)


def test_save_closes_a_pyplot_figure(tmp_path):
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1])
    save(fig, tmp_path / "x", dpi=30)
    assert not plt.fignum_exists(fig.number)


def test_the_default_dpi_and_width_are_the_schemas():
    """Figures are built and measured at DEFAULT_DPI and scaled from DEFAULT_WIDTH: they must be
    what the config's `figures` means when it leaves them out."""
    schema = yaml.safe_load(SCHEMA.read_text(encoding="utf-8"))
    assert schema["properties"]["figures"]["default"]["dpi"] == DEFAULT_DPI
    assert schema["properties"]["figures"]["default"]["width"] == figure.DEFAULT_WIDTH
    assert new_figure((2, 2)).dpi == DEFAULT_DPI


# ---------------------------------------------------------------------------------------------
# text


def test_literal_escapes_dollars_so_they_are_drawn_as_written():
    assert literal("cost $5") == "cost \\$5"
    fig = new_figure((3, 2))
    fig.suptitle(literal("a $ b"))
    draw(fig)  # an unbalanced $ would fail mathtext


def test_wrap_keeps_text_that_fits_and_breaks_what_does_not():
    assert wrap("short", 5.0) == "short"
    long = "bonus-softmax-augmentationflip_p05-lambda0.01"
    wrapped = wrap(long, 1.5)
    assert line_count(wrapped) > 1 and wrapped.replace("\n", "") == long
    assert all(text_width(line) <= 1.5 for line in wrapped.split("\n"))


def test_axes_title_wraps_to_the_figures_width():
    fig = Figure(figsize=(3, 2))
    title = axes_title("a title of many words, far wider than three inches of figure", fig)
    assert line_count(title) > 1
    assert axes_title("short", fig) == "short"


def test_a_legend_gets_the_columns_that_fit():
    fig = new_figure((8, 3))
    ax = fig.subplots()
    handles = [ax.plot([0, 1], label=f"v{i}")[0] for i in range(4)]
    assert fig_legend(fig, handles)._ncols == 4
    narrow = new_figure((2, 3))
    ax = narrow.subplots()
    handles = [ax.plot([0, 1], label=f"a long variant name {i}")[0] for i in range(4)]
    assert fig_legend(narrow, handles)._ncols < 4
