"""Comparison figures across finished runs: one function per comparison type, one dispatch table.

A run is its folder (results/runs/<variant>/seed<s>/ with metrics.json, history.csv, weights.h5,
predictions.h5); a variant has one run per replicate seed. Each type function gets `runs`: variant
name -> its run folders and `metrics`: variant name -> its runs' metrics (lists, seeds in order).
Run files are read through `cifarflow.io.read_run`, which checks each against its folder (variant,
seed), its size and its numbers before use. To add a comparison type: write
`_<type>(spec, names, runs, metrics)` returning a figure, add it to COMPARISONS, and add the type to
the schema's enum (a test checks they agree); `config.resolve_comparisons` checks what the type
needs of its variants.

Figures name variants by their display labels (`spec["labels"]`: variant -> label, made unique
among the figure's variants, a missing one is the name) and colour them by their names, so a
variant keeps its colour whatever its label.
"""

from __future__ import annotations

import numpy as np

from cifarflow.errors import ConfigError
from cifarflow.io import group_runs, read_run
from cifarflow.names import unique_labels
from cifarflow.report import plots
from cifarflow.report.figure import DEFAULT_DPI, literal, save, variant_colors
from cifarflow.report.stat_plots import plot_curves_band, plot_per_class_ci, plot_seed_strip, plot_vs_param_ci
from cifarflow.report.stats import CONFIDENCE, aggregate_runs


def _confidence(spec) -> float:
    """The level of the figure's intervals: `statistics.confidence`, passed in the spec."""
    return float(spec.get("confidence", CONFIDENCE))


def shown_labels(spec, names) -> dict[str, str]:
    """Variant name -> the text a figure shows for it: its display label from `spec["labels"]`
    (unique among `names`: a shared one falls back to the name), escaped for matplotlib."""
    return {n: literal(t) for n, t in unique_labels(list(names), spec.get("labels") or {}).items()}


def _shown(spec, names):
    """(name -> shown label, shown label -> the name's colour): figures key their variants by the
    shown labels and get the colours of the names."""
    shown = shown_labels(spec, names)
    colors = variant_colors(names)
    return shown, {shown[n]: colors[n] for n in names}


def _per_class(spec, names, runs, metrics):
    class_names = metrics[names[0]][0]["class_names"]
    shown, colors = _shown(spec, names)
    if all(len(metrics[n]) == 1 for n in names):
        return plots.plot_per_class(
            {shown[n]: metrics[n][0]["per_class_acc"] for n in names}, class_names, colors=colors
        )
    level = _confidence(spec)
    return plot_per_class_ci(
        {shown[n]: aggregate_runs(metrics[n], shown[n], level) for n in names},
        class_names,
        colors=colors,
        title=f"per-class test accuracy (mean over seeds, {100 * level:.4g}% t interval)",
    )


def _vs_lambda(spec, names, runs, metrics):
    shown, colors = _shown(spec, names)
    if all(len(metrics[n]) == 1 for n in names):
        rows = [
            {
                "variant": shown[n],
                "value": metrics[n][0]["config"]["lambda"],
                "val_acc": metrics[n][0]["selected_val_acc"],
                "weight_norm2": metrics[n][0]["weight_norm2"],
            }
            for n in names
        ]
        return plots.plot_vs_param(rows, param="lambda", colors=colors)

    level = _confidence(spec)
    rows = [{"value": metrics[n][0]["config"]["lambda"], **aggregate_runs(metrics[n], shown[n], level)} for n in names]
    return plot_vs_param_ci(
        rows,
        param="lambda",
        stems=("selected_val_acc", "weight_norm2"),
        colors=colors,
        title=f"mean over seeds with {100 * level:.4g}% t intervals against lambda",
    )


def _curves(spec, names, runs, metrics):
    cols = tuple(spec.get("metrics") or ("val_acc",))
    shown, colors = _shown(spec, names)
    if all(len(runs[n]) == 1 for n in names):
        hists = {shown[n]: read_run(runs[n][0]).history() for n in names}
        return plots.plot_curves_overlay(
            hists, metrics=cols, colors=colors, loss_names={shown[n]: metrics[n][0]["loss"] for n in names}
        )

    hists = {shown[n]: [read_run(r).history() for r in runs[n]] for n in names}
    level = _confidence(spec)
    return plot_curves_band(
        hists, metrics=cols, colors=colors, title=f"mean over seeds with {100 * level:.4g}% t band", confidence=level
    )


def _templates(spec, names, runs, metrics):
    """Templates of each variant's first seed."""
    shown = shown_labels(spec, names)
    return plots.plot_templates_compare(
        {shown[n]: read_run(runs[n][0]).weights("W1")["W1"] for n in names},
        {shown[n]: metrics[n][0]["class_names"] for n in names},
    )


def _true_class_prob(spec, names, runs, metrics):
    """Pooled over the seeds: every seed's test probabilities, one after the other."""
    shown, colors = _shown(spec, names)
    probs = {}
    for n in names:
        ps, ls = [], []
        for r in runs[n]:
            p, labels = read_run(r).predictions()
            ps.append(p)
            ls.append(labels)
        probs[shown[n]] = (np.concatenate(ps), np.concatenate(ls))
    return plots.plot_true_class_prob(probs, colors=colors)


COMPARISONS = {
    "per_class": _per_class,
    "vs_lambda": _vs_lambda,
    "curves": _curves,
    "templates": _templates,
    "true_class_prob": _true_class_prob,
}


def comparison_figure(spec: dict, run_dirs):
    """The figure of the comparison `spec` (type, optional metrics and title) over `run_dirs`."""
    runs = group_runs(run_dirs)
    names = list(runs)
    metrics = {n: [read_run(r).metrics for r in rs] for n, rs in runs.items()}
    kind = spec["type"]
    if kind not in COMPARISONS:
        raise ConfigError(f"comparison {spec['name']}: unknown type {kind!r}")
    fig = COMPARISONS[kind](spec, names, runs, metrics)
    if spec.get("title"):
        fig.suptitle(literal(spec["title"]))
    return fig


def seed_strip_figure(spec: dict, run_dirs):
    """Per-seed test accuracies of the comparison's variants (dots) with mean and t interval."""
    runs = group_runs(run_dirs)
    shown, colors = _shown(spec, list(runs))
    values = {shown[n]: [read_run(r).metrics["test_acc"] for r in rs] for n, rs in runs.items()}
    return plot_seed_strip(
        values,
        colors=colors,
        metric="test_acc",
        title=f"{spec['name']}: test accuracy of every seed",
        confidence=_confidence(spec),
    )


def comparison_file(
    spec: dict, run_dirs, out, dpi: int = DEFAULT_DPI, width: float | None = None, seeds_out=None, pdf: bool = True
) -> None:
    """Write the `comparison_figure` of `spec` over `run_dirs` to `out` (png, and pdf unless `pdf`
    is false), and the per-seed strip plot to `seeds_out` when given."""
    save(comparison_figure(spec, run_dirs), out, dpi=dpi, width=width, pdf=pdf)
    if seeds_out:
        save(seed_strip_figure(spec, run_dirs), seeds_out, dpi=dpi, width=width, pdf=pdf)
