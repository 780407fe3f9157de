"""Shared helpers of the figure tests: a synthetic history, a run folder, and functions that read a
drawn figure."""

import matplotlib

matplotlib.use("Agg")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from cifarflow import CIFAR10_CLASSES  # noqa: E402
from cifarflow.io import write_weights  # noqa: E402

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


def write_run(
    root,
    variant,
    seed=0,
    *,
    model="softmax",
    classes=("cat", "dog", "ship"),
    acc=0.5,
    lam=0.01,
    epochs=4,
    W=None,
    probs=None,
    labels=None,
):
    """A run folder root/<variant>/seed<seed> with the four files a train job writes, as
    `cifarflow.io.read_run` checks them: metrics.json (test accuracy `acc` + 0.01 * seed, per-class
    accuracies, a confusion matrix of 10 images per cell on the diagonal and 1 elsewhere),
    history.csv (`history(epochs)`), weights.h5 (W1: `W`, default (K, 3072) from the seed) and
    predictions.h5 (`probs`, `labels`: default 12 images, the same labels for every seed)."""
    run = Path(root) / variant / f"seed{seed}"
    run.mkdir(parents=True)
    k = len(classes)
    config = {"name": variant, "seed": seed, "model": model, "lambda": lam}
    confusion = np.ones((k, k), dtype=int) + 9 * np.eye(k, dtype=int)
    metrics = {
        "variant": variant,
        "model": model,
        "loss": "cross_entropy",
        "config": config,
        "class_names": list(classes),
        "test_acc": acc + 0.01 * seed,
        "per_class_acc": {c: acc - 0.05 * i + 0.01 * seed for i, c in enumerate(classes)},
        "confusion": confusion.tolist(),
        "selected_val_acc": acc,
        "best_val_acc": acc,
        "weight_norm2": 2.0 + seed,
        "best_epoch": 2,
        "stopped_epoch": None,
        "diverged_epoch": None,
    }
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    history(epochs).to_csv(run / "history.csv", index=False)
    rng = np.random.default_rng(seed)
    record = {"config": config, "class_names": list(classes)}
    W = rng.standard_normal((k, 3072)).astype(np.float32) if W is None else W
    write_weights(run / "weights.h5", {"W1": W}, record)
    labels = np.arange(12) % k if labels is None else labels
    probs = (
        np.random.default_rng(99).dirichlet(np.ones(k), size=len(labels)).astype(np.float32) if probs is None else probs
    )
    write_weights(run / "predictions.h5", {"probs": probs}, record, {"labels": labels})
    return run


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


def text_corners(t, renderer):
    """The four corners (pixels) of a drawn text's box, turned with the text: a rotated label's
    window extent is the upright box around it, which overlaps its neighbours' boxes even where
    the turned labels do not touch."""
    bb = t.get_window_extent(renderer)
    angle = t.get_rotation()
    if angle % 90 == 0:
        return np.array([[bb.x0, bb.y0], [bb.x1, bb.y0], [bb.x1, bb.y1], [bb.x0, bb.y1]])
    t.set_rotation(0)
    try:
        upright = t.get_window_extent(renderer)
    finally:
        t.set_rotation(angle)
    w, h = upright.width, upright.height
    a = np.radians(angle)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]]) @ rot.T
    return corners - corners.min(axis=0) + [bb.x0, bb.y0]


def overlap_depth(p, q):
    """How far (pixels) two convex quadrilaterals overlap: the least overlap of their projections
    on the normals of their edges (separating axis theorem); <= 0 when they do not overlap."""
    depth = np.inf
    for poly in (p, q):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            norm = np.hypot(*edge)
            if norm == 0:
                continue
            axis = np.array([-edge[1], edge[0]]) / norm
            a, b = p @ axis, q @ axis
            depth = min(depth, min(a.max(), b.max()) - max(a.min(), b.min()))
    return depth


def text_collisions(fig, tolerance=1.0):
    """Pairs of drawn texts that overlap by more than `tolerance` pixels, and drawn texts that
    stick out of the figure by more than `tolerance` pixels: ([(text, text, depth)], [text])."""
    renderer = draw(fig)
    texts = visible_texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    corners = [text_corners(t, renderer) for t in texts]
    box = fig.bbox
    clipped = [
        t.get_text()
        for t, bb in zip(texts, boxes)
        if bb.x0 < box.x0 - tolerance
        or bb.y0 < box.y0 - tolerance
        or bb.x1 > box.x1 + tolerance
        or bb.y1 > box.y1 + tolerance
    ]
    overlaps = []
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if not boxes[i].overlaps(boxes[j]):
                continue
            depth = overlap_depth(corners[i], corners[j])
            if depth > tolerance:
                overlaps.append((texts[i].get_text(), texts[j].get_text(), round(float(depth), 1)))
    return overlaps, clipped
