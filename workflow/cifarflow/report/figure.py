"""The figure toolkit that every plot module of the report builds on: new figures, variant colours,
shared axis labels, text that fits, axes helpers, and `save`.

Figures are built without pyplot (no global figure registry, no backend needed) at `DEFAULT_DPI`
with constrained layout, and grown by `fit_to_text`, if needed, until no text sticks out of the
canvas. `save(fig, stem)` writes `stem.png` and `stem.pdf`.

Long labels (generated variant names run to 64 characters) are laid out so that no two texts
collide: they are measured with the Agg renderer's font metrics (`text_width`) and, where they
would not fit, wrapped at their separators (`wrap`: after "-", "_", ",", "/" and at spaces, never
inside a number); legends get as many columns as fit the figure's width (`fig_legend`).
tests/report/test_figure_layout.py checks every figure type with the renderer's extents.

Variant colours come from `variant_colors`; pass the same `colors` mapping (computed once from all
variant names, in config order) to every figure so that a variant keeps its colour everywhere.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import matplotlib.colors as mcolors
import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from cifarflow.io import atomic_output

__all__ = [
    "DEFAULT_DPI",
    "DEFAULT_WIDTH",
    "NORM_LABEL",
    "PALETTE",
    "PARAM_LABELS",
    "axes_title",
    "colors_for",
    "fig_legend",
    "finite",
    "fit_to_text",
    "image_axis",
    "integer_ticks",
    "line_count",
    "literal",
    "maybe_log_y",
    "new_figure",
    "no_data",
    "param_scale",
    "save",
    "text_width",
    "variant_colors",
    "wrap",
]

DEFAULT_WIDTH = 6.4  # inches, matplotlib's single-panel default; `figures.width` scales from it
# `figures.dpi`'s default (the schema's; a test checks they agree): figures are built at it, so the
# fit's text layout serves the PNG
DEFAULT_DPI = 150

# ---------------------------------------------------------------------------------------------
# axis labels shared by several figures

PARAM_LABELS = {
    "lambda": r"L2 penalty $\lambda$",
    "eta": r"learning rate $\eta$",
    "batch_size": "batch size (images)",
    "epochs": "epochs",
    "momentum": "momentum",
}
"""A swept or searched setting's axis label (a setting not listed is labelled by its key)."""

NORM_LABEL = r"$\|W\|^2$ (sum of squared weights)"
"""The axis label of `weight_norm2`."""


# ---------------------------------------------------------------------------------------------
# colours

# tab10 reordered so that the eight most distinct hues come first (olive and grey, which are
# easily confused with green and with "no data", come 9th and 10th), then the light halves of
# tab20 for sets larger than ten.
_TAB10_ORDER = (0, 1, 2, 3, 4, 5, 6, 9, 8, 7)
PALETTE = tuple(mcolors.to_hex(matplotlib.colormaps["tab10"].colors[i]) for i in _TAB10_ORDER) + tuple(
    mcolors.to_hex(matplotlib.colormaps["tab20"].colors[2 * i + 1]) for i in _TAB10_ORDER
)
_N_FIRST = 8  # a name's hash picks its first choice among these; clashes probe the rest in order


def _stable_hash(name: str) -> int:
    return int.from_bytes(hashlib.md5(str(name).encode("utf-8")).digest()[:8], "big")


def _preferences(name: str) -> list[int]:
    start = _stable_hash(name) % _N_FIRST
    return [(start + j) % _N_FIRST for j in range(_N_FIRST)] + list(range(_N_FIRST, len(PALETTE)))


def variant_colors(names: Sequence[str], order: Sequence[str] | None = None) -> dict[str, str]:
    """Colour (hex string) for each variant name; deterministic across calls and processes.

    With `order` (e.g. all variant names in config order), a name in `order` gets
    `PALETTE[order.index(name) % 20]`: stable across every figure that is given the same order.
    Other names get a colour from a stable hash of the name (MD5, not Python's salted `hash`);
    clashes inside one call are resolved by probing, so up to 20 names always get distinct
    colours, and a name keeps its hash colour in every figure where it does not clash.
    """
    names = list(dict.fromkeys(str(n) for n in names))
    colors: dict[str, str] = {}
    taken: set[int] = set()
    if order is not None:
        position = {n: i for i, n in enumerate(dict.fromkeys(str(n) for n in order))}
        for n in names:
            if n in position:
                i = position[n] % len(PALETTE)
                colors[n] = PALETTE[i]
                taken.add(i)
    for n in sorted((n for n in names if n not in colors), key=lambda n: (_stable_hash(n), n)):
        prefs = _preferences(n)
        i = next((p for p in prefs if p not in taken), prefs[0])
        colors[n] = PALETTE[i]
        taken.add(i)
    return {n: colors[n] for n in names}


def colors_for(names: Sequence[str], colors: Mapping[str, object] | None) -> dict[str, object]:
    """Each name's colour: from `colors` (a figure's caller's mapping) where it has the name, else
    `variant_colors` of `names`."""
    out: dict[str, object] = variant_colors(names)
    if colors:
        out.update({n: colors[n] for n in names if n in colors})
    return out


# ---------------------------------------------------------------------------------------------
# building, fitting and saving a figure


def new_figure(figsize) -> Figure:
    """An empty figure of `figsize` inches with constrained layout, at DEFAULT_DPI (no pyplot)."""
    return Figure(figsize=figsize, layout="constrained", dpi=DEFAULT_DPI)


def fit_to_text(fig: Figure, max_rounds: int = 4) -> Figure:
    """Grow `fig` until every drawn artist (titles, tick labels, legends) lies inside it; a
    suptitle wider than the figure is first wrapped to its width."""
    title = fig._suptitle  # set by the figure or, after it was built, by a caller
    if title is not None and title.get_text():
        title.set_text(wrap(title.get_text(), fig.get_size_inches()[0] - 0.3, title.get_fontsize()))
    for _ in range(max_rounds):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _render(fig)
        layout = [m for m in caught if "constrained_layout" in str(m.message).lower()]
        for m in caught:
            if m not in layout:  # pass on anything that is not about the layout we fix here
                warnings.warn_explicit(m.message, m.category, m.filename, m.lineno)
        collapsed = bool(layout)
        bb = fig.get_tightbbox()
        w, h = fig.get_size_inches()
        over_x = max(0.0, -bb.x0) + max(0.0, bb.x1 - w)
        over_y = max(0.0, -bb.y0) + max(0.0, bb.y1 - h)
        if not collapsed and over_x < 0.01 and over_y < 0.01:
            # fitted: mark the figure clean (get_tightbbox marks it stale) so that `save` fits it
            # again only if something changes it after this (any change marks it stale)
            fig.stale = False
            break
        grow = 1.25 if collapsed else 1.0
        fig.set_size_inches(
            w * grow + (2 * over_x + 0.1 if over_x >= 0.01 else 0.0),
            h * grow + (2 * over_y + 0.1 if over_y >= 0.01 else 0.0),
        )
    return fig


def _render(fig: Figure) -> None:
    """One layout and drawing pass into the figure's Agg pixel buffer. The fit measures with it,
    and `save` writes those pixels as the PNG when nothing changed since (`_rendered`), instead of
    drawing the whole figure again inside savefig."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()


def _rendered(fig: Figure, dpi) -> bool:
    """Whether the figure's Agg buffer holds it as savefig would draw it at `dpi`: drawn by
    `_render`, unchanged since (not stale), at that dpi and at the figure's current size."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = fig.canvas
    renderer = getattr(canvas, "renderer", None)
    return (
        isinstance(canvas, FigureCanvasAgg)
        and renderer is not None
        and not fig.stale
        and float(dpi) == float(fig.dpi)
        and canvas.get_width_height(physical=True) == (int(renderer.width), int(renderer.height))
    )


def save(
    fig: Figure, stem: str | os.PathLike, dpi: int = DEFAULT_DPI, width: float | None = None, pdf: bool = True
) -> list[Path]:
    """Write `stem.png` (at `dpi`) and, unless `pdf` is false, `stem.pdf`, each via a temporary
    file; close `fig`.

    `width` (the config's `figures.width`, inches) scales the figure, its proportions kept, by
    width / 6.4; None or 6.4 leaves it as built.

    `stem` has no extension (a trailing `.png`/`.pdf` is dropped); parent folders are created.
    The figure is first grown, if needed, so that text added after it was built is not clipped:
    again only when matplotlib marked it stale since it was fitted (a new artist, a title, a size);
    a change that does not mark it (for example editing a legend's text object in place) is not
    refitted, so build such text before the figure's last `fit_to_text`.
    The PDF carries no creation date, so reruns give identical files. Returns the paths written.
    """
    stem = str(stem)
    for ext in (".png", ".pdf"):
        if stem.endswith(ext):
            stem = stem[: -len(ext)]
    Path(stem).parent.mkdir(parents=True, exist_ok=True)
    scale = float(width) / DEFAULT_WIDTH if width else 1.0
    if scale != 1.0:
        fig.set_size_inches(fig.get_size_inches() * scale)
    metadata = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Creator": None}}
    paths = []
    try:
        if fig.stale:  # fitted when built; again only if something (a long suptitle, width) changed it since
            fit_to_text(fig)
        # The fit left every axes where the constrained layout put it for this size: keep those
        # positions for both files instead of solving the layout again inside each savefig. No
        # layout engine at all ("none" would leave a placeholder engine, for which savefig makes a
        # whole extra draw pass before the real one: about a third of a figure's saving time).
        with matplotlib.rc_context({"figure.autolayout": False, "figure.constrained_layout.use": False}):
            fig.set_layout_engine(None)
        for fmt in ("png", "pdf") if pdf else ("png",):
            final = Path(f"{stem}.{fmt}")
            with atomic_output(final) as tmp:
                if fmt == "png" and _rendered(fig, dpi):  # the fit's pixels: what savefig would draw again
                    matplotlib.image.imsave(
                        tmp, fig.canvas.buffer_rgba(), format="png", origin="upper", dpi=fig.dpi, metadata=metadata[fmt]
                    )
                else:
                    fig.savefig(tmp, format=fmt, dpi=dpi, metadata=metadata[fmt])
            paths.append(final)
    finally:
        import matplotlib.pyplot as plt  # only to release figures that pyplot may be tracking

        plt.close(fig)
    return paths


# ---------------------------------------------------------------------------------------------
# text: shown as written, measured, wrapped at its separators; legends in the columns that fit

# a line may break after "-", "_", "/", ",", "=", ":", at a space, and after a "." that a letter
# follows ("augmentation.flip"), never inside a number ("0.001", "1e-05" aside)
_BREAK = re.compile(r"(?<=[-_/,=:])|(?<=\s)|(?<=\.)(?=[A-Za-z])")
_MATH = re.compile(r"(?<!\\)\$")


def literal(text) -> str:
    """`text` shown as written: a `$` in a class name or a title would otherwise start matplotlib's
    mathtext (and an unbalanced one fail the figure); escaped, it is drawn as a dollar sign."""
    return str(text).replace("$", "\\$")


@functools.cache
def _measure_renderer():
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, DEFAULT_DPI)


def _points(fontsize) -> float:
    """A font size in points; names ("medium", "large") are relative to rcParams["font.size"]."""
    return FontProperties(size=fontsize).get_size_in_points()


@functools.lru_cache(maxsize=8192)
def text_width(text: str, fontsize=10.0) -> float:
    """Width in inches of `text` (its widest line) in the default font at `fontsize`, as the Agg
    renderer draws it at DEFAULT_DPI (mathtext when it holds an unescaped `$`)."""
    math_text = bool(_MATH.search(text))
    prop = FontProperties(size=fontsize)
    renderer = _measure_renderer()
    widths = [
        renderer.get_text_width_height_descent(line if math_text else line.replace("\\$", "$"), prop, math_text)[0]
        for line in str(text).split("\n")
        if line
    ]
    return max(widths, default=0.0) / DEFAULT_DPI


def wrap(text, width: float, fontsize=10.0) -> str:
    """`text` broken into lines no wider than `width` inches at `fontsize`, at its separators (see
    _BREAK; the break keeps a "-" or "_" at the line's end, drops a space). Text that fits, and
    mathtext, is returned unchanged; a piece without a separator wider than `width` stays whole."""
    text = str(text)
    if _MATH.search(text) or text_width(text, fontsize) <= width:
        return text
    lines = []
    for line in text.split("\n"):
        current = ""
        for piece in (p for p in _BREAK.split(line) if p):
            if current.strip() and text_width((current + piece).rstrip(), fontsize) > width:
                lines.append(current.rstrip())
                current = piece.lstrip()
            else:
                current += piece
        lines.append(current.rstrip())
    return "\n".join(lines)


def line_count(text: str) -> int:
    """How many lines `text` takes."""
    return str(text).count("\n") + 1


def axes_title(text: str, fig: Figure, margin: float = 0.6) -> str:
    """An axes title wrapped to the figure's width less `margin` inches when it is wider."""
    return wrap(text, fig.get_size_inches()[0] - margin, matplotlib.rcParams["axes.titlesize"])


def _legend_columns(n: int, max_cols: int = 4) -> int:
    """Columns for a legend of n entries, at most max_cols, with rows as evenly filled as possible."""
    rows = math.ceil(max(1, n) / max_cols)
    return max(1, math.ceil(n / rows))


def _legend_width(labels: Sequence[str], ncols: int, fontsize) -> float:
    """Width (inches) of a frameless legend of `labels` in `ncols` columns, filled as matplotlib
    fills them (np.array_split: the first columns get the extra entries)."""
    em = _points(fontsize) / 72
    rc = matplotlib.rcParams
    handle = (rc["legend.handlelength"] + rc["legend.handletextpad"]) * em
    columns = [c for c in np.array_split(np.array(list(labels), dtype=object), ncols) if len(c)]
    body = sum(max(text_width(str(t), fontsize) for t in c) + handle for c in columns)
    return body + (len(columns) - 1) * rc["legend.columnspacing"] * em + 2 * rc["legend.borderpad"] * em


def fig_legend(fig: Figure, handles, labels=None, max_cols: int = 4, **kwargs):
    """The figure's legend below its panels, frameless, in as many columns as fit the figure's
    width (at most `max_cols`, rows evenly filled); a label wider than the figure is wrapped."""
    labels = [h.get_label() for h in handles] if labels is None else list(labels)
    fontsize = kwargs.get("fontsize", matplotlib.rcParams["legend.fontsize"])
    room = fig.get_size_inches()[0] - 0.2
    em = _points(fontsize) / 72
    rc = matplotlib.rcParams
    pad = (rc["legend.handlelength"] + rc["legend.handletextpad"] + 2 * rc["legend.borderpad"]) * em
    labels = [wrap(t, room - pad, fontsize) for t in labels]
    ncols = _legend_columns(len(labels), max_cols)
    while ncols > 1 and _legend_width(labels, ncols, fontsize) > room:
        ncols = _legend_columns(len(labels), ncols - 1)
    # a legend of more than two lines makes the figure taller by its extra lines, so that it does
    # not squeeze the panels (which would make the fit grow the figure's width as well)
    columns = np.array_split(np.array([line_count(t) for t in labels]), ncols)
    extra = max(int(c.sum()) for c in columns) - 2
    if extra > 0:
        w, h = fig.get_size_inches()
        fig.set_size_inches(w, h + extra * 1.7 * em)
    return fig.legend(handles=handles, labels=labels, loc="outside lower center", ncols=ncols, frameon=False, **kwargs)


# ---------------------------------------------------------------------------------------------
# axes helpers


def integer_ticks(axis) -> None:
    """Whole-number ticks (epochs): a 3-epoch run is ticked 0, 1, 2, 3, never 0.5, 1.5."""
    axis.set_major_locator(MaxNLocator(integer=True))


def finite(series: pd.Series) -> pd.Series:
    """Float copy with +-inf turned into NaN (drawn as gaps)."""
    values = pd.to_numeric(series, errors="coerce").astype(float)
    return values.where(np.isfinite(values))


def maybe_log_y(ax, values, ratio: float = 100.0) -> None:
    """Log y axis when all finite values are positive and span more than `ratio`."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size and (v > 0).all() and v.max() / v.min() > ratio:
        ax.set_yscale("log")


def param_scale(ax, values: np.ndarray) -> str:
    """Log x axis for a positive parameter spanning a decade; symlog when 0 is among the values.
    Returns the scale set: "log", "symlog" or "linear"."""
    v = values[np.isfinite(values)]
    pos = v[v > 0]
    if pos.size and (v <= 0).any():
        ax.set_xscale("symlog", linthresh=float(pos.min()), linscale=0.6)
        return "symlog"
    if pos.size == v.size and pos.size and pos.max() / pos.min() >= 10:
        ax.set_xscale("log")
        return "log"
    return "linear"


def no_data(ax, what: str = "no finite values") -> None:
    """Say in the middle of an empty panel why it is empty."""
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", color="0.4")


def image_axis(ax) -> None:
    """An axis that shows an image: no ticks or frame, but labels (row names) stay visible."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
