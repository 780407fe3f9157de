"""Figures of a hyperparameter search: validation accuracy against each searched setting,
coloured by round, and a parallel-coordinates view of every trial.

Pure functions built with the toolkit of `cifarflow.report.figure`, like `cifarflow.report.plots`:
a DataFrame of trials in (one row per trial with its round, its searched settings and `val_acc`, a
fraction), a `Figure` out, no file opened; `figure.save` writes them. A setting's axis is given by
`scales`: ``"log"`` (the space is log-uniform or a log integer range), ``"linear"`` or
``"category"`` (a choice: one position per value, in the given order). Trials' test numbers are
never drawn: a search is judged on validation only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter

from cifarflow.report.figure import (
    PARAM_LABELS,
    fig_legend,
    fit_to_text,
    integer_ticks,
    literal,
    new_figure,
    text_width,
    wrap,
)

__all__ = ["round_colors", "plot_search_settings", "plot_search_parallel"]

SCALES = ("log", "linear", "category")


def _log_x(ax) -> None:
    """Log x scale with plain tick labels (0.005, 0.01, 0.02) that do not collide: the powers of
    ten always; between them every minor tick when at most 4 lie in view (a narrow range still
    gets numbers), else the 2s and 5s when the axis spans under 1.5 decades, else none."""
    ax.set_xscale("log")
    axis = ax.xaxis

    def minor(v, _pos):
        lo, hi = sorted(axis.get_view_interval())
        if v <= 0 or lo <= 0:
            return ""
        in_view = [t for t in axis.get_minorticklocs() if lo <= t <= hi]
        digit = round(v / 10 ** math.floor(math.log10(v)))
        if len(in_view) <= 4 or (math.log10(hi / lo) < 1.5 and digit in (2, 5)):
            return f"{v:g}"
        return ""

    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))
    axis.set_minor_formatter(FuncFormatter(minor))


def round_colors(rounds: Sequence[int]) -> dict[int, str]:
    """One colour per round, from viridis (light = late: the narrowed rounds stand out)."""
    rs = sorted(set(int(r) for r in rounds))
    cmap = matplotlib.colormaps["viridis"]
    return {r: matplotlib.colors.to_hex(cmap(0.15 + 0.7 * i / max(1, len(rs) - 1))) for i, r in enumerate(rs)}


def _label(key: str) -> str:
    return PARAM_LABELS.get(key, key)


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _check(trials: pd.DataFrame, scales: Mapping[str, str]) -> None:
    missing = {"trial", "round", "val_acc", *scales} - set(trials.columns)
    if missing:
        raise ValueError(f"search trials lack the column(s) {sorted(missing)}")
    bad = {k: s for k, s in scales.items() if s not in SCALES}
    if bad:
        raise ValueError(f"unknown axis scale(s) {bad}; use one of {SCALES}")
    if not scales:
        raise ValueError("no searched setting to draw")


def _categories(values: Sequence, order: Sequence | None) -> list:
    """Distinct values of a choice, in `order` (the space's) when given, else as first seen."""
    keyed = {json.dumps(v, sort_keys=True): v for v in (order or [])}
    for v in values:
        keyed.setdefault(json.dumps(v, sort_keys=True), v)
    return list(keyed.values())


def _positions(values: Sequence, cats: list) -> np.ndarray:
    index = {json.dumps(c, sort_keys=True): i for i, c in enumerate(cats)}
    return np.array([index[json.dumps(v, sort_keys=True)] for v in values], dtype=float)


def _category_ticks(ax, labels: list[str], width: float) -> None:
    """A choice's values under its positions: as they were (turned 30 degrees beyond three) when
    they fit their slots of the axes' `width` inches; else wrapped at their separators and turned
    45 degrees, anchored at their ends, with as many lines as the slots' spacing across them holds."""
    slot = width / max(1, len(labels))
    if max((text_width(t) for t in labels), default=0.0) <= 0.9 * slot:
        ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 3 else 0)
        return
    across = slot * math.sin(math.radians(45))  # the distance between two turned labels' baselines
    lines = max(1, int((across - 0.04) // 0.17))
    longest = max(text_width(t) for t in labels)
    wrapped = [wrap(t, max(1.0, longest / lines + 0.1)) for t in labels]
    ax.set_xticks(range(len(labels)), wrapped, rotation=45, ha="right", rotation_mode="anchor")


def plot_search_settings(
    trials: pd.DataFrame,
    scales: Mapping[str, str],
    *,
    chosen: str | None = None,
    choices: Mapping[str, Sequence] | None = None,
    title: str | None = None,
    ncols: int = 3,
) -> Figure:
    """Validation accuracy (%) against each searched setting, one panel per setting, each trial
    a dot coloured by its round; the chosen trial is ringed. Log settings get log axes; a choice
    gets one position per value (`choices`: the space's values in config order)."""
    _check(trials, scales)
    keys = list(scales)
    ncols = min(ncols, len(keys))
    nrows = math.ceil(len(keys) / ncols)
    fig = new_figure((3.2 * ncols + 0.6, 2.8 * nrows + 0.8))
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    colors = round_colors(trials["round"])
    acc = pd.to_numeric(trials["val_acc"], errors="coerce").astype(float) * 100
    for ax, key in zip(axes, keys):
        values = list(trials[key])
        if scales[key] == "category":
            cats = _categories(values, (choices or {}).get(key))
            x = _positions(values, cats)
            _category_ticks(ax, [_show(c) for c in cats], fig.get_size_inches()[0] / ncols - 0.9)
            ax.set_xlim(-0.5, len(cats) - 0.5)
        else:
            x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
            if scales[key] == "log":
                _log_x(ax)
            elif str(key).split(".")[-1] == "epochs":
                integer_ticks(ax.xaxis)
        for r, color in colors.items():
            sel = (trials["round"] == r).to_numpy()
            ax.scatter(x[sel], acc[sel], s=28, color=color, edgecolors="white", linewidths=0.5, zorder=2)
        if chosen is not None and chosen in set(trials["trial"]):
            sel = (trials["trial"] == chosen).to_numpy()
            ax.scatter(x[sel], acc[sel], s=130, facecolors="none", edgecolors="crimson", linewidths=1.6, zorder=3)
        ax.set_xlabel(_label(key) + (" (log scale)" if scales[key] == "log" else ""))
        ax.set_ylabel("validation accuracy (%)")
        ax.grid(alpha=0.3)
    for ax in axes[len(keys) :]:
        ax.set_visible(False)
    handles = [Line2D([], [], marker="o", linestyle="", color=c, label=f"round {r}") for r, c in colors.items()]
    if chosen is not None:
        handles.append(
            Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="crimson", label="chosen")
        )
    fig_legend(fig, handles, max_cols=6)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def _parallel_axes(trials: pd.DataFrame, scales: Mapping[str, str], choices: Mapping[str, Sequence] | None):
    """The axes of the parallel-coordinates view, one per searched setting and a last one for
    validation accuracy: (positions of the trials in [0, 1], tick positions, tick labels) each,
    and the accuracies (%). A numeric axis spans its values (log10 for a log setting), labelled
    with its smallest and largest; a choice gets one tick per value."""
    n = len(trials)
    cols = []
    for key in scales:
        values = list(trials[key])
        if scales[key] == "category":
            cats = _categories(values, (choices or {}).get(key))
            pos = _positions(values, cats)
            span = max(1, len(cats) - 1)
            cols.append((pos / span, [i / span for i in range(len(cats))], [_show(c) for c in cats]))
            continue
        x = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(float)
        y = np.log10(x) if scales[key] == "log" else x
        lo, hi = np.nanmin(y), np.nanmax(y)
        scaled = (y - lo) / (hi - lo) if hi > lo else np.full(n, 0.5)
        ticks = [0.0, 1.0] if hi > lo else [0.5]
        labels = [f"{np.nanmin(x):.3g}", f"{np.nanmax(x):.3g}"] if hi > lo else [f"{x[0]:.3g}"]
        cols.append((scaled, ticks, labels))
    acc = pd.to_numeric(trials["val_acc"], errors="coerce").to_numpy(float) * 100
    lo, hi = np.nanmin(acc), np.nanmax(acc)
    cols.append(
        (
            (acc - lo) / (hi - lo) if hi > lo else np.full(n, 0.5),
            [0.0, 1.0] if hi > lo else [0.5],
            [f"{lo:.1f}", f"{hi:.1f}"] if hi > lo else [f"{lo:.1f}"],
        )
    )
    return cols, acc


def plot_search_parallel(
    trials: pd.DataFrame,
    scales: Mapping[str, str],
    *,
    chosen: str | None = None,
    choices: Mapping[str, Sequence] | None = None,
    title: str | None = None,
) -> Figure:
    """Parallel coordinates: one vertical axis per searched setting and a last one for validation
    accuracy; each trial is a line coloured by its validation accuracy (colour bar), the chosen
    trial drawn thick. Each axis spans its values (on the log scale for log settings) and is
    labelled with its smallest and largest value (every value for a choice)."""
    _check(trials, scales)
    cols, acc = _parallel_axes(trials, scales, choices)
    lo, hi = np.nanmin(acc), np.nanmax(acc)
    names = [_label(k) + (" (log)" if scales[k] == "log" else "") for k in scales] + ["validation\naccuracy (%)"]

    fig = new_figure((max(4.5, 1.7 * len(names) + 1.5), 3.8))
    # the distance between two axes (inches), less the y label and the colour bar
    gap = (fig.get_size_inches()[0] - 1.6) / max(1.0, len(names) - 0.4)
    names = [wrap(t, gap - 0.15) for t in names]
    cols = [(pos, ticks, [wrap(t, 0.93 * gap - 0.15, 7) for t in labels]) for pos, ticks, labels in cols]
    ax = fig.subplots()
    norm = Normalize(vmin=lo, vmax=hi) if hi > lo else Normalize(vmin=lo - 0.5, vmax=lo + 0.5)
    cmap = matplotlib.colormaps["viridis"]
    _draw_trials(ax, trials, np.column_stack([c[0] for c in cols]), acc, chosen, lambda a: cmap(norm(a)))
    for j, (_, ticks, labels) in enumerate(cols):
        ax.axvline(j, color="0.3", linewidth=0.8, zorder=1)
        for t, text in zip(ticks, labels):
            ax.text(j + 0.04, t, text, fontsize=7, va="center", ha="left", color="0.2")
    ax.set_xticks(np.arange(len(names)), names)
    ax.set_xlim(-0.2, len(names) - 0.6)
    ax.set_ylim(-0.06, 1.06)
    ax.set_yticks([])
    ax.set_ylabel("position on each axis (low to high)")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    sm = matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label="validation accuracy (%)", shrink=0.85)
    if chosen is not None:
        ax.legend(
            handles=[Line2D([], [], color="crimson", linewidth=2.6, label="chosen")],
            loc="upper left",
            frameon=False,
            fontsize=8,
            bbox_to_anchor=(0, 1.12),
        )
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def _draw_trials(ax, trials: pd.DataFrame, ys: np.ndarray, acc: np.ndarray, chosen, color_of) -> None:
    """One line per trial across the axes (`ys`: trials x axes positions), coloured by its
    accuracy (`color_of`; grey without one), the best drawn last (on top), the chosen one thick."""
    xs = np.arange(ys.shape[1])
    order = np.argsort(np.nan_to_num(acc, nan=-np.inf), kind="stable")  # best drawn last (on top)
    for i in order:
        is_chosen = chosen is not None and trials["trial"].iloc[i] == chosen
        ax.plot(
            xs,
            ys[i],
            color="crimson" if is_chosen else color_of(acc[i]) if np.isfinite(acc[i]) else "0.7",
            linewidth=2.6 if is_chosen else 1.0,
            alpha=1.0 if is_chosen else 0.75,
            zorder=3 if is_chosen else 2,
        )
