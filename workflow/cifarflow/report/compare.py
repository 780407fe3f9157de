"""Comparison figures across finished runs: one function per comparison type, one dispatch table.

A run is its folder (results/runs/<variant>/ with metrics.json, history.csv, weights.h5,
predictions.h5). To add a comparison type: write `_<type>(spec, names, runs, metrics)` returning
a figure, add it to COMPARISONS, and add the type to the schema's enum (a test checks they
agree); `config.resolve_comparisons` checks what the type needs of its variants.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cifarflow.errors import ConfigError
from cifarflow.io import read_json, read_weights
from cifarflow.report import plots


def _per_class(spec, names, runs, metrics):
    class_names = metrics[names[0]]["class_names"]
    return plots.plot_per_class({n: metrics[n]["per_class_acc"] for n in names}, class_names)


def _vs_lambda(spec, names, runs, metrics):
    rows = [
        {
            "variant": n,
            "value": metrics[n]["config"]["lambda"],
            "val_acc": metrics[n]["selected_val_acc"],
            "weight_norm2": metrics[n]["weight_norm2"],
        }
        for n in names
    ]
    return plots.plot_vs_param(rows, param="lambda")


def _curves(spec, names, runs, metrics):
    hists = {n: pd.read_csv(r / "history.csv") for n, r in zip(names, runs)}
    return plots.plot_curves_overlay(
        hists,
        metrics=tuple(spec.get("metrics") or ("val_acc",)),
        loss_names={n: metrics[n]["loss"] for n in names},
    )


def _templates(spec, names, runs, metrics):
    return plots.plot_templates_compare(
        {n: read_weights(r / "weights.h5")[0]["W1"] for n, r in zip(names, runs)},
        {n: metrics[n]["class_names"] for n in names},
    )


def _true_class_prob(spec, names, runs, metrics):
    probs = {}
    for n, r in zip(names, runs):
        p, _, extra = read_weights(r / "predictions.h5")
        probs[n] = (p["probs"], extra["labels"])
    return plots.plot_true_class_prob(probs)


COMPARISONS = {
    "per_class": _per_class,
    "vs_lambda": _vs_lambda,
    "curves": _curves,
    "templates": _templates,
    "true_class_prob": _true_class_prob,
}


def comparison_figure(spec: dict, run_dirs):
    """The figure of the comparison `spec` (type, optional metrics and title) over `run_dirs`."""
    runs = [Path(r) for r in run_dirs]
    names = [r.name for r in runs]
    metrics = {r.name: read_json(r / "metrics.json") for r in runs}
    kind = spec["type"]
    if kind not in COMPARISONS:
        raise ConfigError(f"comparison {spec['name']}: unknown type {kind!r}")
    fig = COMPARISONS[kind](spec, names, runs, metrics)
    if spec.get("title"):
        fig.suptitle(plots.literal(spec["title"]))
    return fig


def comparison_file(spec: dict, run_dirs, out, dpi: int = 150, width: float | None = None) -> None:
    """Write the `comparison_figure` of `spec` over `run_dirs` to `out` (png + pdf)."""
    plots.save(comparison_figure(spec, run_dirs), out, dpi=dpi, width=width)
