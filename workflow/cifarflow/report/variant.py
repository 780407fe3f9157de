"""The figures of one variant's finished runs (curves, confusion matrix, first-layer weights as
images; over one seed or several) and the preview of an augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cifarflow.data.augment import augment_batch
from cifarflow.data.splits import load_split
from cifarflow.errors import DataError
from cifarflow.io import read_run
from cifarflow.nn.registry import LINEAR_MODELS
from cifarflow.report import plots
from cifarflow.report.figure import DEFAULT_DPI, literal, save, variant_colors


def weight_images(params: dict, metrics: dict, label: str | None = None):
    """What to show as images of a variant's first layer: (W rows as (K, 32*32*3), labels, title).

    Linear models: one template per class. MLPs: the first 10 hidden units' input weights.
    ConvNets: the first-layer filters (each (f, f, C), shown enlarged). The title names the
    variant by `label` (its display label), else by its name.
    """
    name, model = label or metrics["variant"], metrics["model"]
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


def _as_list(x) -> list:
    return [x] if isinstance(x, (str, bytes)) or not hasattr(x, "__iter__") else list(x)


def _runs_of(metrics_paths, history_paths, weights_paths) -> list:
    """The runs (`cifarflow.io.Run`) whose files the three lists name, one run per position: each
    position's files must be metrics.json, history.csv and weights.h5 of one folder, of one variant."""
    runs = []
    for i, path in enumerate(metrics_paths):
        run = read_run(Path(path).parent)
        for given, name in (
            (path, "metrics.json"),
            (history_paths[i], "history.csv"),
            (weights_paths[i], "weights.h5"),
        ):
            if Path(given) != run.folder / name:
                raise DataError(
                    f"{given}: not the {name} of the run {run.folder} (the files of a run are read together)"
                )
        if runs and run.variant != runs[0].variant:
            raise DataError(f"{run.folder}: a run of {run.variant!r}, not of {runs[0].variant!r} like {runs[0].folder}")
        runs.append(run)
    return runs


def curves_figure(runs: list, label: str | None = None):
    """The training curves of a variant's runs (`cifarflow.io.Run`, one per seed), titled with its
    display `label` (default: its name) and coloured by its name. One run: its curves with its kept,
    stop and divergence epochs. Several: the mean over the seeds with a 95% t band."""
    m = runs[0].metrics
    shown = label or m["variant"]
    color = variant_colors([m["variant"]])[m["variant"]]  # the name's colour, as in every other figure
    if len(runs) == 1:
        return plots.plot_curves(
            runs[0].history(),
            shown,
            best_epoch=m["best_epoch"],
            stopped_epoch=m["stopped_epoch"],
            diverged_epoch=m["diverged_epoch"],
            color=color,
        )
    from cifarflow.report.stat_plots import plot_curves_band  # deferred: scipy (stats), for seeds > 1 only

    seeds = [str((r.metrics.get("config") or {}).get("seed", "")) for r in runs]
    hists = [r.history() for r in runs]
    cols = [c for c in ("train_loss", "val_loss", "train_acc", "val_acc") if c in hists[0]]
    return plot_curves_band(
        {literal(shown): hists},
        metrics=cols,
        colors={literal(shown): color},
        title=f"{shown}: mean over seeds {', '.join(seeds)} with 95% t band",
    )


def confusion_figure(runs: list, label: str | None = None):
    """The test confusion matrix of a variant's runs: one run's, or the sum over several seeds (the
    title says so)."""
    ms = [r.metrics for r in runs]
    shown = label or ms[0]["variant"]
    if len(ms) == 1:
        return plots.plot_confusion(ms[0]["confusion"], ms[0]["class_names"], f"{shown}: test confusion matrix")
    conf = np.sum([np.asarray(x["confusion"]) for x in ms], axis=0).tolist()
    return plots.plot_confusion(
        conf, ms[0]["class_names"], f"{shown}: test confusion matrix, summed over {len(ms)} seeds"
    )


def weights_figure(runs: list, label: str | None = None):
    """The first layer's weights of a variant's first run as images (`weight_images`); with
    several seeds the title says which seed they are."""
    m = runs[0].metrics
    W, labels, title = weight_images(runs[0].weights("W1"), m, label)  # the one array shown, nothing else read
    if len(runs) > 1:
        title += f" (seed {(m.get('config') or {}).get('seed')})"
    return plots.plot_templates(W, labels, title)


def variant_figures(
    metrics_path,
    history_path,
    weights_path,
    curves,
    confusion,
    templates,
    dpi: int = DEFAULT_DPI,
    width: float | None = None,
    pdf: bool = True,
    label: str | None = None,
) -> None:
    """Write the curves, confusion-matrix and weight-image figures of one variant (png, and pdf
    unless `pdf` is false), titled with its display `label` (default: its name).

    Each path argument may be one file or a list, one per replicate seed (in the same order); the
    files of each position must be one run folder's, all of one variant. One seed: the run's
    curves with its kept and stop epochs and its confusion matrix. Several: the curves are the
    mean over the seeds with a 95% t band, the confusion matrix is the sum over the seeds (the
    title says so). The weight images are those of the first seed."""
    metrics_paths, history_paths, weights_paths = map(_as_list, (metrics_path, history_path, weights_path))
    if not len(metrics_paths) == len(history_paths) == len(weights_paths) >= 1:
        raise DataError(
            f"{len(metrics_paths)} metrics, {len(history_paths)} history and {len(weights_paths)} weights files"
        )
    runs = _runs_of(metrics_paths, history_paths, weights_paths)  # each file checked against its run folder
    save(curves_figure(runs, label), curves, dpi=dpi, width=width, pdf=pdf)
    save(confusion_figure(runs, label), confusion, dpi=dpi, width=width, pdf=pdf)
    save(weights_figure(runs, label), templates, dpi=dpi, width=width, pdf=pdf)


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
    split_path, aug: dict, seed: int, out, dpi: int = DEFAULT_DPI, width: float | None = None, pdf: bool = True
) -> None:
    """Write the `augmentation_preview` of the split file's training images to `out` (png, and pdf
    unless `pdf` is false)."""
    save(augmentation_preview(load_split(split_path), aug, seed), out, dpi=dpi, width=width, pdf=pdf)
