"""Shared helpers of the figure tests: a synthetic history and functions that read a drawn figure."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from cifarflow import CIFAR10_CLASSES  # noqa: E402

CLASSES = list(CIFAR10_CLASSES)


def history(n=5, scale=1.0, lam=0.1):
    e = np.arange(n + 1, dtype=float)
    loss = scale * (2.3 / (1 + e))
    return pd.DataFrame(
        {
            "epoch": e.astype(int),
            "lr": 0.01,
            "train_loss": loss,
            "train_cost": loss + lam,
            "train_acc": 0.1 + 0.05 * e,
            "val_loss": loss * 1.1,
            "val_cost": loss * 1.1 + lam,
            "val_acc": 0.1 + 0.04 * e,
            "weight_norm2": 1.0 + e,
            "seconds": 0.5 * e,
        }
    )


def draw(fig):
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def is_colorbar(ax):
    return ax.get_label() == "<colorbar>"


def main_axes(fig):
    """The axes of a one-panel figure (colour bars aside)."""
    (ax,) = [ax for ax in fig.axes if not is_colorbar(ax)]
    return ax


def plot_axes(fig):
    """Axes that plot data (not image panels, colour bars or empty grid cells)."""
    return [ax for ax in fig.axes if ax.axison and not ax.images and not is_colorbar(ax)]


def legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes] + list(fig.legends)
    return [t.get_text() for leg in legends if leg for t in leg.get_texts()]


def drawn_tick_labels(axis):
    lo, hi = sorted(axis.get_view_interval())
    eps = 1e-9 * max(1.0, abs(hi - lo))
    return [
        t.label1
        for t in axis.get_major_ticks()
        if t.get_loc() is not None and lo - eps <= t.get_loc() <= hi + eps and t.label1.get_visible()
    ]


def tick_texts(fig):
    draw(fig)
    return {t.get_text() for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) for t in drawn_tick_labels(axis)}


def visible_texts(fig):
    """Text artists that are drawn: skips empty texts and tick labels outside the view limits."""
    undrawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            shown = {id(t) for t in drawn_tick_labels(axis)} if ax.axison else set()
            if not ax.axison:  # set_axis_off(): neither ticks nor axis labels are drawn
                undrawn.add(id(axis.label))
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                for label in (tick.label1, tick.label2):
                    if id(label) not in shown:
                        undrawn.add(id(label))
    return [
        t
        for t in fig.findobj(Text)
        if t.get_visible()
        and t.get_text().strip()
        and id(t) not in undrawn
        and (t.axes is None or t.axes.get_visible())
    ]
