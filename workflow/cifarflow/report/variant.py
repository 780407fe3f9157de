"""The figures of one finished run (curves, confusion matrix, first-layer weights as images) and
the preview of an augmentation."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cifarflow.data.augment import augment_batch
from cifarflow.io import read_json, read_weights
from cifarflow.nn.registry import LINEAR_MODELS
from cifarflow.report import plots


def weight_images(params: dict, metrics: dict):
    """What to show as images of a variant's first layer: (W rows as (K, 32*32*3), labels, title).

    Linear models: one template per class. MLPs: the first 10 hidden units' input weights.
    ConvNets: the first-layer filters (each (f, f, C), shown enlarged).
    """
    name, model = metrics["variant"], metrics["model"]
    W = params["W1"]
    if model in LINEAR_MODELS:
        labels = (
            metrics["class_names"]
            if W.shape[0] == len(metrics["class_names"])
            else [f"{metrics['class_names'][1]} vs {metrics['class_names'][0]}"]
        )
        return W, labels, f"{name}: class templates (rows of W)"
    if W.ndim == 2:
        k = min(10, W.shape[0])
        return (
            W[:k],
            [f"unit {i + 1}" for i in range(k)],
            f"{name}: input weights of the first {k} hidden units",
        )
    k = min(10, W.shape[0])
    f = W[:k]
    reps = int(np.ceil(32 / f.shape[1]))
    big = np.repeat(np.repeat(f, reps, axis=1), reps, axis=2)[:, :32, :32, :]
    return (
        big.reshape(k, -1),
        [f"filter {i + 1}" for i in range(k)],
        f"{name}: first-layer filters",
    )


def variant_figures(
    metrics_path,
    history_path,
    weights_path,
    curves,
    confusion,
    templates,
    dpi: int = 150,
    width: float | None = None,
) -> None:
    """Write the curves, confusion-matrix and weight-image figures of one run (png + pdf each)."""
    m = read_json(metrics_path)
    hist = pd.read_csv(history_path)
    fig = plots.plot_curves(
        hist,
        m["variant"],
        best_epoch=m["best_epoch"],
        stopped_epoch=m["stopped_epoch"],
        diverged_epoch=m["diverged_epoch"],
    )
    plots.save(fig, curves, dpi=dpi, width=width)
    fig = plots.plot_confusion(m["confusion"], m["class_names"], f"{m['variant']}: test confusion matrix")
    plots.save(fig, confusion, dpi=dpi, width=width)
    params, _, _ = read_weights(weights_path)
    W, labels, title = weight_images(params, m)
    fig = plots.plot_templates(W, labels, title)
    plots.save(fig, templates, dpi=dpi, width=width)


def augmentation_preview(split, aug: dict, seed: int):
    """Figure of 8 random training images and 3 augmented copies of each (flips and shifts drawn
    from `aug` with a generator seeded by `seed`)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(split.train_labels), size=8, replace=False)
    originals = split.train_images[pick]
    copies = []
    for _ in range(3):
        flips = rng.random(8) < float(aug.get("flip", 0.0))
        t = int(aug.get("translate", 0))
        shifts = rng.integers(-t, t + 1, size=(8, 2)) if t else np.zeros((8, 2), dtype=int)
        copies.append(augment_batch(originals, flips, shifts, fill=aug.get("fill", "zero")))
    return plots.plot_augment_preview(
        originals,
        np.stack(copies),
        [split.class_names[i] for i in split.train_labels[pick]],
    )


def augmentation_preview_file(
    split_path, aug: dict, seed: int, out, dpi: int = 150, width: float | None = None
) -> None:
    """Write the `augmentation_preview` of the split file's training images to `out` (png + pdf)."""
    from cifarflow.data.splits import load_split

    plots.save(augmentation_preview(load_split(split_path), aug, seed), out, dpi=dpi, width=width)
