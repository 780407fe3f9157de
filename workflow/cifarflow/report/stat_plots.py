"""Figures with uncertainty: per-seed strips, paired differences, curves with bands, per-class
bars and vs-lambda points with error bars.

Every function takes in-memory objects and returns a ``matplotlib.figure.Figure`` built with the
toolkit of :mod:`cifarflow.report.figure` (new figures, colours, labels that fit, ``save``), like
:mod:`cifarflow.report.plots`. Every interval drawn is one that :mod:`cifarflow.report.stats` or
:mod:`cifarflow.report.verdicts` computes: error bars and bands are the Student t interval of the
mean over seeds at ``confidence`` (95% unless given; the "±" of the tables), and a paired
difference's bar is its recipe interval or its 95% paired bootstrap interval over test images.
Accuracies are drawn in percent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from cifarflow.report.figure import (
    NORM_LABEL,
    PARAM_LABELS,
    axes_title,
    colors_for,
    fig_legend,
    finite,
    fit_to_text,
    integer_ticks,
    line_count,
    literal,
    new_figure,
    no_data,
    param_scale,
    text_width,
    wrap,
)
from cifarflow.report.plots import plot_per_class
from cifarflow.report.stats import CONFIDENCE, VERDICT_A, VERDICT_B, VERDICT_NONE, summarize

__all__ = [
    "VERDICT_COLORS",
    "mean_band",
    "plot_curves_band",
    "plot_pair_diffs",
    "plot_per_class_ci",
    "plot_seed_strip",
    "plot_vs_param_ci",
]

VERDICT_COLORS = {
    VERDICT_A: "#1f77b4",
    VERDICT_B: "#d62728",
    VERDICT_NONE: "0.55",
    "equivalent": "#2ca02c",  # the recipe verdicts of cifarflow.report.recipe
    "undecided": "0.55",
}

_STEM_LABELS = {
    "test_acc": "test accuracy (%)",
    "best_val_acc": "best validation accuracy (%)",
    "selected_val_acc": "validation accuracy at the kept epoch (%)",
    "test_loss": "test loss (per image)",
    "best_epoch": "kept epoch",
    "stop_epoch": "last epoch trained",
    "weight_norm2": NORM_LABEL,
}


_EPOCH_STEMS = ("best_epoch", "stop_epoch")  # whole epochs: their value axes get integer ticks

_LABEL_WIDTH = 2.6  # inches: a category name on a horizontal plot's y axis wraps to this width
_LINE = 0.17  # inches per line of 10-point text


def _is_acc(name: str) -> bool:
    return name.endswith("acc") or name.startswith("acc_")


def _ci_label(confidence: float) -> str:
    return f"mean ± {100 * confidence:g}% t interval"


def plot_seed_strip(
    values: Mapping[str, Sequence[float]],
    *,
    metric: str = "test_acc",
    colors=None,
    confidence: float = CONFIDENCE,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """One column per variant: its per-seed values as dots, the mean as a bar with the t interval.

    values: variant -> per-seed values (fractions for accuracies, drawn in %). The dots are spread
    sideways by a fixed, evenly spaced offset (no random jitter, so the figure is reproducible).
    A variant with one seed shows its dot and mean without an interval; its tick says n=1.
    When the variants' names do not fit under their columns, the plot turns horizontal: one row
    per variant (the first on top), its name wrapped at its separators on the left.
    """
    names = [str(v) for v in values]
    cols = colors_for(names, colors)
    scale = 100.0 if _is_acc(metric) else 1.0
    summaries = [summarize(np.asarray(vals, dtype=float) * scale, confidence) for vals in values.values()]
    ticks = [f"{v}\n(n={s.n})" for v, s in zip(names, summaries)]
    size = figsize or (max(4.0, 0.9 * len(names) + 1.5), 3.6)
    column = (size[0] - 1.1) / max(1, len(names))  # less the y tick labels and label
    horizontal = bool(names) and max(text_width(t) for t in ticks) > 0.9 * column
    if horizontal:
        ticks = [wrap(f"{v} (n={s.n})", _LABEL_WIDTH) for v, s in zip(names, summaries)]
        row = max(0.45, _LINE * max(line_count(t) for t in ticks) + 0.16)
        size = (figsize[0] if figsize else 6.4, max(size[1] if figsize else 0.0, 1.6 + row * len(names)))
    fig = new_figure(size)
    ax = fig.subplots()
    value_axis = ax.xaxis if horizontal else ax.yaxis
    _draw_seeds(ax, values, summaries, scale, cols, horizontal)
    positions = range(len(names) - 1, -1, -1) if horizontal else range(len(names))
    category_axis = ax.yaxis if horizontal else ax.xaxis
    category_axis.set_ticks(list(positions), labels=ticks)
    (ax.set_ylim if horizontal else ax.set_xlim)(-0.6, len(names) - 0.4)
    category_axis.set_label_text("variant (n = number of seeds)")
    value_axis.set_label_text(_STEM_LABELS.get(metric, metric))
    if metric in _EPOCH_STEMS:
        integer_ticks(value_axis)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    handles = [
        Line2D([], [], marker="o", linestyle="", color="0.3", label="one seed"),
        Line2D([], [], marker="s", linestyle="-", color="0.3", label=_ci_label(confidence)),
    ]
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
    title = literal(title) if title else f"{_STEM_LABELS.get(metric, metric)} over seeds"
    # horizontal: wrapped to the axes' width (it is centred over them, right of the names)
    ax.set_title(axes_title(title, fig, max(text_width(t) for t in ticks) + 0.9) if horizontal else title)
    return fit_to_text(fig)


def _draw_seeds(ax, values: Mapping[str, Sequence[float]], summaries, scale: float, cols, horizontal: bool) -> None:
    """Each variant's seeds as dots beside its mean with its interval (a square alone for one
    seed), at its position: left to right, or top to bottom when `horizontal`."""
    names = [str(v) for v in values]
    for i, (v, vals) in enumerate(values.items()):
        v = str(v)
        x = np.asarray(vals, dtype=float) * scale
        s = summaries[i]
        k = x.size
        offsets = np.linspace(-0.15, 0.15, k) if k > 1 else np.zeros(k)
        at = len(names) - 1 - i if horizontal else i  # horizontal: the first variant on top
        dots = (x, at - 0.25 - offsets) if horizontal else (at + 0.25 + offsets, x)
        ax.plot(*dots, "o", color=cols[v], alpha=0.8, markersize=5, linestyle="", gid=f"seeds:{v}")
        centre = ([s.mean], [at + 0.1]) if horizontal else ([at - 0.1], [s.mean])
        if s.n >= 2:
            err = {"xerr" if horizontal else "yerr": [[s.half], [s.half]]}
            ax.errorbar(*centre, **err, fmt="s", color=cols[v], markersize=6, capsize=4, linewidth=1.5, gid=f"ci:{v}")
        elif s.n == 1:
            ax.plot(*centre, "s", color=cols[v], markersize=6, gid=f"ci:{v}")


def plot_pair_diffs(
    pairs: pd.DataFrame,
    *,
    alpha: float = 0.05,
    title: str = "paired differences",
    labels: Mapping[str, str] | None = None,
    figsize=None,
) -> Figure:
    """Forest plot: one row per pair, the accuracy difference A - B (percentage points) with its
    interval, coloured by verdict (:data:`VERDICT_COLORS`), a line at 0. ``pairs``: a recipe table
    (:func:`cifarflow.report.verdicts.recipe_pairs_table`: the recipe interval at its family-wise
    level, the ±min_effect band shaded, P(A>B) at the right) or an image-level
    :func:`cifarflow.report.stats.pairs_table` (95% paired bootstrap interval, Holm-adjusted p).
    A pair's name wider than the label column is drawn as "A" over "− B", each name wrapped at its
    separators, and the rows are made tall enough for the lines. ``labels``: variant -> its display
    label (default: the name)."""
    n = len(pairs)
    recipe = "p_better" in pairs.columns
    shown = {str(k): literal(v) for k, v in (labels or {}).items()}
    labels = [
        _pair_label(shown.get(r.variant_a, r.variant_a), shown.get(r.variant_b, r.variant_b))
        for r in pairs.itertuples()
    ]
    lines = max((line_count(t) for t in labels), default=1)
    row = max(0.4, _LINE * lines + (0.3 if lines > 1 else 0.12))  # a gap between two pairs' names
    height = 1.2 + row * max(n, 1)
    fig = new_figure((figsize[0], max(figsize[1], height)) if figsize else (7.0, height))
    ax = fig.subplots()
    if n == 0:
        no_data(ax, "no pairs")
        ax.set_title(literal(title))
        return fit_to_text(fig)
    y = np.arange(n)[::-1]  # first pair on top
    _draw_pairs(ax, pairs, y, recipe)
    ax.set_yticks(y, labels=labels)
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_ylabel("pair (A − B)")
    if recipe:
        level = f"{100 * float(pairs['level'].iloc[0]):.4g}%" if n else ""
        xlabel = f"difference in test accuracy, A − B (percentage points; {level} interval over seeds and test images)"
        title_legend = "verdict (recipe interval; shaded: ±min_effect, where equivalent lies)"
    else:
        xlabel = "difference in test accuracy, A − B (percentage points; 95% paired bootstrap interval)"
        title_legend = f"verdict (McNemar, Holm-adjusted p < {alpha:g}, interval excludes 0)"
    ax.set_xlabel(_axis_label(xlabel, fig, labels))
    ax.grid(axis="x", alpha=0.3)
    order = (VERDICT_A, VERDICT_B, "equivalent", "undecided", VERDICT_NONE)
    present = [v for v in order if v in set(pairs["verdict"])]
    handles = [Patch(color=VERDICT_COLORS[v], label=v) for v in present]
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncols=len(handles),
        frameon=False,
        title=wrap(title_legend, fig.get_size_inches()[0] - 0.3),
    )
    ax.set_title(axes_title(literal(title), fig, _LABEL_WIDTH + 1.4 if lines > 1 else 0.6))
    return fit_to_text(fig)


def _draw_pairs(ax, pairs: pd.DataFrame, y: np.ndarray, recipe: bool) -> None:
    """Each pair's difference (percentage points) at its row `y` with its interval, coloured by
    verdict, and its P(A>B) (a recipe table) or Holm-adjusted p right of the axes; a recipe
    table's ±min_effect band shaded; a line at 0."""
    for yi, r in zip(y, pairs.itertuples()):
        d, lo, hi = 100 * r.diff, 100 * r.diff_lo, 100 * r.diff_hi
        ax.errorbar(
            [d],
            [yi],
            xerr=[[d - lo], [hi - d]],
            fmt="o",
            color=VERDICT_COLORS[r.verdict],
            capsize=3,
            gid=f"pair:{r.variant_a}|{r.variant_b}",
        )
        if recipe:
            p = f"P(A>B)={r.p_better:.2f}" if np.isfinite(r.p_better) else "P(A>B) n/a"
        else:
            p = "p<0.001" if r.p_adj < 0.001 else f"p={r.p_adj:.3f}"
        ax.annotate(p, xy=(1.01, yi), xycoords=("axes fraction", "data"), va="center", fontsize=8, color="0.3")
    if recipe and len(pairs):
        delta = 100 * float(pairs["min_effect"].iloc[0])
        ax.axvspan(-delta, delta, color="#2ca02c", alpha=0.12, zorder=0, label=f"±{delta:g} points")
    ax.axvline(0.0, color="0.3", linewidth=0.8, zorder=0)


def _axis_label(text: str, fig: Figure, labels: Sequence[str]) -> str:
    """The forest plot's x label; beside wrapped pair names (which leave the axes narrower than
    the label) it breaks before its parenthesis, each part wrapped to the axes' width."""
    if all(line_count(t) == 1 for t in labels):
        return text
    room = fig.get_size_inches()[0] - _LABEL_WIDTH - 1.4  # less the pair names and the P(A>B) notes
    if text_width(text) <= room:
        return text
    head, _, rest = text.partition(" (")
    return "\n".join(wrap(part, room) for part in (head, "(" + rest if rest else "") if part)


def _pair_label(a, b) -> str:
    """ "A − B" on one line when it fits the label column, else A over "− B", each wrapped."""
    label = f"{a} − {b}"
    if text_width(label) <= _LABEL_WIDTH:
        return label
    return wrap(str(a), _LABEL_WIDTH) + "\n" + wrap(f"− {b}", _LABEL_WIDTH)


def mean_band(histories: Sequence[pd.DataFrame], column: str, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per epoch over the seeds' histories: ``epoch``, ``mean``, ``lo``, ``hi``, ``n``.

    Histories are aligned on ``epoch``. After early stopping has ended some seeds, an epoch's mean
    is over the seeds still running (``n`` says how many); the interval needs n >= 2 (else NaN).
    """
    frames = []
    for k, h in enumerate(histories):
        if column in h and "epoch" in h:
            frames.append(pd.DataFrame({"epoch": h["epoch"].to_numpy(), "seed": k, "v": finite(h[column]).to_numpy()}))
    if not frames:
        return pd.DataFrame(columns=["epoch", "mean", "lo", "hi", "n"])
    long = pd.concat(frames, ignore_index=True)
    rows = []
    for e, g in long.groupby("epoch", sort=True):
        s = summarize(g["v"].to_numpy(), confidence)
        rows.append({"epoch": e, "mean": s.mean, "lo": s.lo, "hi": s.hi, "n": s.n})
    return pd.DataFrame(rows)


def plot_curves_band(
    histories: Mapping[str, Sequence[pd.DataFrame]],
    metrics: Sequence[str] = ("val_acc",),
    *,
    colors=None,
    confidence: float = CONFIDENCE,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Curves over epochs as the mean over seeds with a shaded t interval, one panel per metric.

    histories: variant -> its seeds' history DataFrames (history.csv). Accuracies are in percent.
    The solid line and its band cover the epochs where every seed has a value; where fewer remain
    (seeds stopped early at different epochs, or diverged), the mean of those still running goes
    on as a thin dotted line without a band, an open circle marks each epoch where the count
    drops, and the variant's legend entry says from which epoch how many seeds remain.
    """
    names = [str(v) for v in histories]
    cols = colors_for(names, colors)
    metrics = list(metrics)
    fig = new_figure(figsize or (max(4.2, 3.6 * len(metrics)), 3.4))
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    counts: dict[str, pd.DataFrame] = {}  # variant -> epoch and n of the first panel it is drawn in
    for ax, m in zip(axes, metrics):
        scale = 100.0 if _is_acc(m) else 1.0
        drew = False
        for v, hs in histories.items():
            v = str(v)
            b = mean_band(list(hs), m, confidence)
            if b.empty or not np.isfinite(b["mean"]).any():
                continue
            counts.setdefault(v, b[["epoch", "n"]])
            _draw_band(ax, b, len(hs), scale, cols[v], v)
            drew = True
        if not drew:
            no_data(ax)
        ax.set_xlabel("epoch")
        ax.set_ylabel(m.replace("val_", "validation ").replace("train_", "training ").replace("acc", "accuracy (%)"))
        integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
    handles = _band_handles(histories, names, cols, counts, confidence)
    fig_legend(fig, handles)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def _band_handles(histories, names, cols, counts, confidence: float) -> list:
    """The legend of `plot_curves_band`: each variant with its seeds (`_seed_counts`), the band,
    and, when some variant's seeds drop out, the dotted line of the seeds left."""
    n_seeds = {str(v): len(hs) for v, hs in histories.items()}
    labels = {v: f"{v} ({_seed_counts(counts.get(v), n_seeds[v])})" for v in names}
    handles = [Line2D([], [], color=cols[v], label=labels[v]) for v in names]
    handles.append(Patch(color="0.6", alpha=0.4, label=f"{100 * confidence:g}% t interval over seeds"))
    if any(";" in t for t in labels.values()):
        handles.append(
            Line2D(
                [],
                [],
                color="0.3",
                linestyle=":",
                marker="o",
                markerfacecolor="none",
                markersize=4,
                label="from ○: mean of the seeds left (no band)",
            )
        )
    return handles


def _draw_band(ax, b: pd.DataFrame, n_seeds: int, scale: float, color, v: str) -> None:
    """One variant's mean over its `n_seeds` seeds (`mean_band` frame `b`) and its band where
    every seed has a value; where fewer remain, `_plot_fewer_seeds`."""
    full = (b["n"] == n_seeds).to_numpy()
    if full.all():
        ax.plot(b["epoch"], b["mean"] * scale, color=color, linewidth=1.5, gid=f"mean:{v}")
    else:
        _plot_fewer_seeds(ax, b, full, scale, color, v)
    ok = np.isfinite(b["lo"]).to_numpy() & full
    if ok.any():
        ax.fill_between(
            b["epoch"],
            b["lo"] * scale,
            b["hi"] * scale,
            where=ok,
            color=color,
            alpha=0.2,
            linewidth=0,
            gid=f"band:{v}",
        )


def _plot_fewer_seeds(ax, band: pd.DataFrame, full: np.ndarray, scale: float, color, v: str) -> None:
    """The mean solid where every seed has a value; elsewhere dotted and thin (joined to the last
    epoch with every seed), with an open circle where the number of seeds drops."""
    epoch = band["epoch"].to_numpy(dtype=float)
    mean = band["mean"].to_numpy(dtype=float) * scale
    n = band["n"].to_numpy()
    ax.plot(epoch, np.where(full, mean, np.nan), color=color, linewidth=1.5, gid=f"mean:{v}")
    fewer = ~full
    joined = fewer | np.append(fewer[1:], False)
    ax.plot(epoch, np.where(joined, mean, np.nan), color=color, linewidth=1.0, linestyle=":", gid=f"fewer:{v}")
    drops = np.flatnonzero(np.diff(n) < 0) + 1
    ax.plot(
        epoch[drops],
        mean[drops],
        "o",
        markerfacecolor="none",
        markeredgecolor=color,
        markersize=4,
        linestyle="",
        gid=f"drops:{v}",
    )


def _seed_counts(counts: pd.DataFrame | None, n_all: int) -> str:
    """ "n=3" when every epoch has every seed, else "n=3; 2 from epoch 6, 1 from epoch 8"."""
    if counts is None or (counts["n"] == n_all).all():
        return f"n={n_all}"
    parts = []
    previous = n_all
    for e, k in zip(counts["epoch"], counts["n"]):
        if k != previous:
            parts.append(f"{int(k)} from epoch {e:g}")
            previous = k
    return f"n={n_all}; " + ", ".join(parts)


def plot_per_class_ci(
    rows: Mapping[str, Mapping],
    class_names: Sequence[str],
    *,
    colors=None,
    title: str = "per-class test accuracy (mean over seeds, 95% t interval)",
    figsize=None,
) -> Figure:
    """Grouped bars of per-class test accuracy (%) with error bars, one bar per variant.

    rows: variant -> its :func:`cifarflow.report.stats.aggregate_runs` row (``acc_<class>_mean``/``_half``).
    A class without an interval (one seed) gets a bar without an error bar. The bars are
    :func:`cifarflow.report.plots.plot_per_class`'s, given the means, the half-widths and ``n``.
    """

    def per_class(row, stat):
        return {str(c): float(row.get(f"acc_{c}_{stat}", math.nan)) for c in class_names}

    return plot_per_class(
        {v: per_class(row, "mean") for v, row in rows.items()},
        class_names,
        errors={v: per_class(row, "half") for v, row in rows.items()},
        labels={v: f"{v} (n={int(row.get('n_seeds', 0))})" for v, row in rows.items()},
        colors=colors,
        title=title,
        figsize=figsize,
    )


def plot_vs_param_ci(
    rows: Sequence[Mapping],
    param: str = "lambda",
    stems: Sequence[str] = ("selected_val_acc", "weight_norm2"),
    *,
    colors=None,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Points with t-interval error bars against a swept parameter, one panel per stem.

    rows: [{"variant", "value", **aggregate_runs row}, ...]; each panel draws ``<stem>_mean`` with
    ``<stem>_half`` (accuracies in %). The x axis is logarithmic, symmetric-log when 0 is a value.
    """
    df = pd.DataFrame(list(rows))
    need = {"variant", "value"} | {f"{s}_{k}" for s in stems for k in ("mean", "half")}
    missing = need - set(df.columns)
    if missing:
        raise ValueError(f"cifarflow: error: plot_vs_param_ci rows lack {sorted(missing)}")
    df["value"] = pd.to_numeric(df["value"], errors="raise").astype(float)
    df = df.sort_values("value", kind="stable").reset_index(drop=True)
    df["variant"] = df["variant"].astype(str)
    cols = colors_for(list(df["variant"]), colors)
    fig = new_figure(figsize or (max(4.2, 4.0 * len(stems)), 3.6))
    axes = np.atleast_1d(fig.subplots(1, len(stems)))
    for ax, stem in zip(axes, stems):
        scale = 100.0 if _is_acc(stem) else 1.0
        param_scale(ax, df["value"].to_numpy())
        mean = df[f"{stem}_mean"].astype(float).to_numpy() * scale
        half = df[f"{stem}_half"].astype(float).to_numpy() * scale
        ax.plot(df["value"], mean, color="0.6", linewidth=1, zorder=1)
        for v, xv, m, h in zip(df["variant"], df["value"], mean, half):
            if np.isfinite(h):
                ax.errorbar([xv], [m], yerr=[[h], [h]], fmt="o", color=cols[v], capsize=3, zorder=2, gid=f"{stem}:{v}")
            else:
                ax.plot([xv], [m], "o", color=cols[v], zorder=2, gid=f"{stem}:{v}")
        ax.set_xlabel(PARAM_LABELS.get(param, str(param)))
        ax.set_ylabel(_STEM_LABELS.get(stem, stem))
        if stem in _EPOCH_STEMS:
            integer_ticks(ax.yaxis)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], marker="o", linestyle="", color=cols[v], label=v) for v in dict.fromkeys(df["variant"])]
    fig_legend(fig, handles, max_cols=5)
    fig.suptitle(literal(title) if title else f"mean over seeds with 95% t intervals against {param}")
    return fit_to_text(fig)
