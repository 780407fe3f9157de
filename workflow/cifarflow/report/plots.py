"""Figures of one run and comparisons between variants: training curves, weight templates,
confusion matrices, per-class accuracy, against a swept parameter, true-class probabilities and
augmentation previews.

Every function takes in-memory objects (DataFrames, arrays, dicts) and returns a
`matplotlib.figure.Figure` built with the toolkit of `cifarflow.report.figure` (new figures,
variant colours, labels that fit, `save`). A plot whose names are long lays them out with it: a
legend gets the columns that fit, a title is wrapped at its separators.

Variant colours come from `variant_colors`; pass the same `colors` mapping (computed once from all
variant names, in config order) to every figure so that a variant keeps its colour everywhere.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from cifarflow.report.figure import (
    NORM_LABEL,
    PARAM_LABELS,
    axes_title,
    colors_for,
    fig_legend,
    finite,
    fit_to_text,
    image_axis,
    integer_ticks,
    line_count,
    literal,
    maybe_log_y,
    new_figure,
    no_data,
    param_scale,
    save,
    variant_colors,
    wrap,
)

__all__ = [
    "plot_curves",
    "plot_templates",
    "plot_confusion",
    "plot_per_class",
    "plot_vs_param",
    "plot_curves_overlay",
    "plot_templates_compare",
    "plot_true_class_prob",
    "plot_augment_preview",
    "save",  # the toolkit's, re-exported: a caller that draws a plot saves it with the same module
    "variant_colors",  # the toolkit's, re-exported likewise
]

IMAGE_SHAPE = (32, 32, 3)
IMAGE_DIM = 32 * 32 * 3

SPLIT_STYLE = {"train": "--", "val": "-"}
SPLIT_NAME = {"train": "training", "val": "validation"}

_LOSS_LABELS = {
    "cross_entropy": "cross-entropy loss (nats/image)",
    "cross-entropy": "cross-entropy loss (nats/image)",
    "ce": "cross-entropy loss (nats/image)",
    "xent": "cross-entropy loss (nats/image)",
    "bce": "binary cross-entropy (nats/image/class)",
    "binary_cross_entropy": "binary cross-entropy (nats/image/class)",
    "mse": "squared-error loss (per image)",
    "squared_error": "squared-error loss (per image)",
    "hinge": "hinge loss (per image)",
    "svm": "hinge loss (per image)",
}
_COST_LABEL = r"cost = loss + $\lambda\|W\|^2$ (per image)"


# --------------------------------------------------------------------------------------------
# pieces of the figures


def _loss_label(loss: str | None) -> str:
    if loss is None:
        return "loss (per image)"
    return _LOSS_LABELS.get(str(loss).lower(), f"{loss} loss (per image)")


def _as_templates(W, what: str = "W") -> np.ndarray:
    """W: (K, 3072) (or (3072, K)) -> (K, 32, 32, 3) float in [0, 1], each template min-max scaled."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim == 1:
        W = W[None, :]
    if W.ndim != 2 or IMAGE_DIM not in W.shape:
        raise ValueError(f"{what} has shape {W.shape}; expected (K, {IMAGE_DIM}) class templates")
    if W.shape[1] != IMAGE_DIM:
        W = W.T
    W = W.reshape(-1, *IMAGE_SHAPE)
    lo = W.min(axis=(1, 2, 3), keepdims=True)
    span = W.max(axis=(1, 2, 3), keepdims=True) - lo
    out = np.divide(W - lo, span, out=np.full_like(W, 0.5), where=span > 0)
    return np.nan_to_num(out, nan=0.5)


def _template_titles(K: int, class_names: Sequence[str]) -> list[str]:
    names = [literal(c) for c in class_names]
    if K == len(names):
        return names
    if K == 1 and len(names) == 2:  # logistic: one template, label 1 = class_names[1]
        return [f"{names[1]} (+) vs {names[0]} (\u2212)"]
    return [names[k] if k < len(names) else f"class {k}" for k in range(K)]


def _class_value(d: Mapping, name: str, index: int) -> float:
    for key in (name, index, str(index)):
        if key in d and d[key] is not None:
            return float(d[key])
    return math.nan


# --------------------------------------------------------------------------------------------
# one run


def _curve_panels(h: pd.DataFrame, loss: str | None) -> list[tuple[str, dict, str, float]]:
    """The panels of `plot_curves`: (quantity, split -> its values, y label, scale) for the loss,
    the cost when it differs from the loss (an L2 term), and the accuracy (in %)."""

    def pair(q):
        return {s: finite(h[f"{s}_{q}"]) for s in ("train", "val") if f"{s}_{q}" in h}

    panels = [("loss", pair("loss"), _loss_label(loss), 1.0)]
    cost = pair("cost")
    if cost and not all(
        np.allclose(cost[s], panels[0][1].get(s, cost[s] * np.nan), equal_nan=True, rtol=1e-6, atol=1e-9) for s in cost
    ):
        panels.append(("cost", cost, _COST_LABEL, 1.0))
    panels.append(("acc", pair("acc"), "accuracy (%)", 100.0))
    return panels


def _mark_events(axes, color, marker, best_epoch, stopped_epoch, diverged_epoch) -> list[Line2D]:
    """Vertical lines on every panel at the best epoch, the early stop and the divergence (those
    given); returns the legend's handles: the two splits, then each line drawn with its epoch."""
    events = [
        (best_epoch, "best epoch", ":", "black"),
        (stopped_epoch, "early stop", "-.", "0.45"),
        (diverged_epoch, "diverged", (0, (5, 2)), "tab:red"),
    ]
    handles = [
        Line2D([], [], color=color, linestyle=SPLIT_STYLE[s], marker=marker, markersize=3, label=SPLIT_NAME[s])
        for s in ("train", "val")
    ]
    for at, what, style, c in events:
        if at is None or (isinstance(at, float) and not math.isfinite(at)):
            continue
        for ax in axes:
            ax.axvline(at, linestyle=style, color=c, linewidth=1.2)
        handles.append(Line2D([], [], linestyle=style, color=c, label=f"{what} ({int(at)})"))
    return handles


def plot_curves(
    history: pd.DataFrame,
    name: str,
    best_epoch: int | None = None,
    stopped_epoch: int | None = None,
    diverged_epoch: int | None = None,
    *,
    loss: str | None = None,
    color=None,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """Training vs validation loss, cost (only if it differs from the loss) and accuracy (%).

    history: one row per epoch (epoch 0 = before training) with train_/val_ loss, cost, acc.
    Non-finite values (a diverged run) are drawn as gaps; a loss spanning more than two decades
    gets a log axis. Vertical lines mark the best epoch, the early stop and the divergence.
    `loss` (the metrics' loss name) only refines the y label; `color` defaults to the variant's.
    """
    h = history
    epoch = finite(h["epoch"]) if "epoch" in h else pd.Series(np.arange(len(h)), dtype=float)
    color = color if color is not None else variant_colors([name])[str(name)]
    panels = _curve_panels(h, loss)
    n = len(panels)
    fig = new_figure(figsize or (3.6 * n + 0.4, 3.4))
    axes = fig.subplots(1, n, squeeze=False)[0]
    marker = "o" if len(h) <= 30 else None
    for ax, (q, series, ylabel, scale) in zip(axes, panels):
        finite_any = False
        for split, y in series.items():
            y = y * scale
            finite_any |= bool(y.notna().any())
            ax.plot(
                epoch,
                y,
                linestyle=SPLIT_STYLE[split],
                marker=marker,
                markersize=3,
                color=color,
                label=SPLIT_NAME[split],
            )
        if not finite_any:
            no_data(ax)
        elif q != "acc":
            maybe_log_y(ax, pd.concat(list(series.values())))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)

    handles = _mark_events(axes, color, marker, best_epoch, stopped_epoch, diverged_epoch)
    fig_legend(fig, handles, max_cols=5)
    fig.suptitle(literal(name))
    return fit_to_text(fig)


def plot_templates(W, class_names: Sequence[str], title: str, *, ncols: int = 5, figsize=None) -> Figure:
    """Rows of W as 32x32 RGB images, one panel per class, each min-max rescaled to [0, 1].

    W: (K, 3072), flattened HWC (a (3072, K) matrix is transposed). K = 1 (logistic) shows one
    template titled "class_names[1] (+) vs class_names[0] (-)" when two class names are given.
    """
    imgs = _as_templates(W)
    K = len(imgs)
    titles = _template_titles(K, class_names)
    ncols = max(1, min(K, ncols))
    nrows = math.ceil(K / ncols)
    fig = new_figure(figsize or (1.6 * ncols + 0.3, 1.75 * nrows + 0.5))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i < K:
            ax.imshow(imgs[i], interpolation="nearest")
            ax.set_title(titles[i])
        ax.set_axis_off()
    fig.suptitle(literal(title))
    return fit_to_text(fig)


def plot_confusion(confusion, class_names: Sequence[str], title: str, *, figsize=None) -> Figure:
    """Confusion counts (rows = true class, columns = predicted) coloured by share of the true class.

    confusion: (K, K) counts. Colour = row-normalised share (%); each cell prints its count.
    """
    C = np.asarray(confusion, dtype=float)
    if C.ndim != 2 or C.shape[0] != C.shape[1]:
        raise ValueError(f"confusion has shape {C.shape}; expected a square (K, K) matrix of counts")
    K = C.shape[0]
    names = [literal(c) for c in class_names] if len(class_names) == K else [f"class {k}" for k in range(K)]
    totals = C.sum(axis=1, keepdims=True)
    share = np.divide(C, totals, out=np.zeros_like(C), where=totals > 0) * 100

    cell = 0.55 if K > 4 else 0.9
    fig = new_figure(figsize or (cell * K + 2.6, cell * K + 1.6))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, label="share of true class (%)", shrink=0.9)
    fontsize = 8 if K > 4 else 10
    for i in range(K):
        for j in range(K):
            ax.text(
                j,
                i,
                f"{C[i, j]:.0f}",
                ha="center",
                va="center",
                fontsize=fontsize,
                color="white" if share[i, j] > 55 else "black",
            )
    ax.set_xticks(range(K), labels=names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(K), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(axes_title(literal(title), fig))
    return fit_to_text(fig)


# --------------------------------------------------------------------------------------------
# comparisons between variants


def plot_per_class(
    per_class: Mapping[str, Mapping],
    class_names: Sequence[str],
    *,
    errors: Mapping[str, Mapping] | None = None,
    labels: Mapping[str, str] | None = None,
    colors=None,
    title: str = "per-class test accuracy",
    figsize=None,
) -> Figure:
    """Grouped bars: test accuracy (%) per class, one bar per variant, error bars optional.

    per_class: variant -> {class name (or index): accuracy fraction}.
    errors: variant -> {class: half-width of its interval (fraction)}; a variant listed here gets
    error bars (a class without a finite half-width gets one of length 0), the others plain bars.
    labels: variant -> legend label (default: the variant's name).
    """
    variants = [str(v) for v in per_class]
    cols = colors_for(variants, colors)
    errors = {str(v): e for v, e in (errors or {}).items()}
    labels = {str(v): str(t) for v, t in (labels or {}).items()}
    K = len(class_names)
    x = np.arange(K)
    width = 0.8 / max(1, len(variants))
    fig = new_figure(figsize or (min(16.0, max(6.0, 0.25 * K * len(variants) + 2.5)), 3.8))
    ax = fig.subplots()
    for i, (v, d) in enumerate(per_class.items()):
        v = str(v)
        acc = [100 * _class_value(d, str(c), k) for k, c in enumerate(class_names)]
        bar_kw = {}
        if v in errors:
            half = np.array([100 * _class_value(errors[v], str(c), k) for k, c in enumerate(class_names)])
            bar_kw = {
                "yerr": np.where(np.isfinite(half), half, 0.0),
                "capsize": 2,
                "error_kw": {"linewidth": 1, "gid": f"err:{v}"},
            }
        ax.bar(
            x + (i - (len(variants) - 1) / 2) * width,
            acc,
            width,
            label=labels.get(v, v),
            color=cols[v],
            gid=f"bars:{v}",
            **bar_kw,
        )
    ax.set_xticks(x, labels=[literal(c) for c in class_names], rotation=30, ha="right", rotation_mode="anchor")
    ax.set_xlabel("class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    fig_legend(fig, *ax.get_legend_handles_labels())
    ax.set_title(axes_title(literal(title), fig))
    return fit_to_text(fig)


def plot_vs_param(
    rows: Sequence[Mapping],
    param: str = "lambda",
    *,
    colors=None,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Validation accuracy (%) and ||W||^2 against a swept parameter (default lambda).

    rows: [{variant, value, val_acc, weight_norm2}, ...]. The x axis is logarithmic; when a value
    is 0 it is symmetric-log (linear below the smallest positive value), so 0 stays on the plot.
    """
    df = pd.DataFrame(list(rows))
    missing = {"variant", "value", "val_acc", "weight_norm2"} - set(df.columns)
    if missing:
        raise ValueError(
            f"plot_vs_param rows lack {sorted(missing)}; give each row variant, value, val_acc, weight_norm2"
        )
    df["value"] = pd.to_numeric(df["value"], errors="raise").astype(float)
    df = df.sort_values("value", kind="stable").reset_index(drop=True)
    df["variant"] = df["variant"].astype(str)
    cols = colors_for(list(df["variant"]), colors)

    fig = new_figure(figsize or (8.0, 3.6))
    axes = fig.subplots(1, 2)
    label = PARAM_LABELS.get(param, str(param))
    panels = [
        (axes[0], finite(df["val_acc"]) * 100, "validation accuracy (%)"),
        (axes[1], finite(df["weight_norm2"]), NORM_LABEL),
    ]
    for ax, y, ylabel in panels:
        scale = param_scale(ax, df["value"].to_numpy())
        ax.plot(df["value"], y, color="0.6", linewidth=1, zorder=1)
        for v, xv, yv in zip(df["variant"], df["value"], y):
            ax.plot([xv], [yv], "o", markersize=7, color=cols[v], label=v, zorder=2)
        if ylabel == NORM_LABEL:
            maybe_log_y(ax, y)
        suffix = {"symlog": " (log scale; linear near 0)", "log": " (log scale)"}.get(scale, "")
        ax.set_xlabel(label + suffix)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    handles = [Line2D([], [], marker="o", linestyle="", color=cols[v], label=v) for v in dict.fromkeys(df["variant"])]
    fig_legend(fig, handles, max_cols=5)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def _split_metric(metric: str) -> tuple[str | None, str]:
    for split in ("train", "val"):
        if metric.startswith(split + "_"):
            return split, metric[len(split) + 1 :]
    return None, metric


def _quantity_label(q: str, splits: set, loss: str | None) -> str:
    which = ""
    if splits == {"train"}:
        which = "training "
    elif splits == {"val"}:
        which = "validation "
    if q == "acc":
        return f"{which}accuracy (%)"
    if q == "loss":
        return which + _loss_label(loss)
    if q == "cost":
        return which + _COST_LABEL
    return {
        "lr": r"learning rate $\eta$",
        "weight_norm2": NORM_LABEL,
        "seconds": "training time (s, cumulative)",
    }.get(q, q)


def _loss_groups(histories, cols, q, loss_names) -> list[tuple[str | None, list[str]]]:
    """Variants whose loss values are comparable share a panel: same loss name, similar scale."""
    names = list(histories)
    if loss_names:
        groups: dict = {}
        for v in names:
            groups.setdefault(loss_names.get(v), []).append(v)
        return list(groups.items())
    medians = []
    for v in names:
        vals = pd.concat([finite(histories[v][c]) for c in cols if c in histories[v]])
        medians.append(float(np.nanmedian(vals)) if vals.notna().any() else math.nan)
    m = np.array(medians)
    good = m[np.isfinite(m) & (m > 0)]
    if good.size > 1 and good.max() / good.min() > 5:
        return [(None, [v]) for v in names]
    return [(None, names)]


def _panel_title(names: str, loss: str | None, count: int, width: float) -> str:
    """The title of a panel that shows some of the variants: their names, wrapped to the panel's
    width; when that takes more than three lines, the count (the legend names them by colour)."""
    size = matplotlib.rcParams["axes.titlesize"]
    wrapped = wrap(names, width, size)
    if line_count(wrapped) <= 3:
        return wrapped
    return wrap(f"{count} variants" + (f" ({loss} loss)" if loss else ""), width, size)


def _overlay_panels(histories, metrics, variants, loss_names) -> list[tuple]:
    """The panels of `plot_curves_overlay`: (quantity, its metric columns, the variants drawn,
    their loss name, a title naming them or None). One panel per quantity; loss and cost are split
    into groups of comparable variants (`_loss_groups`)."""
    quantities: dict[str, list[str]] = {}
    for m in metrics:
        _, q = _split_metric(m)
        quantities.setdefault(q, []).append(m)

    panels = []  # (quantity, metric columns, variants, loss name, title)
    for q, ms in quantities.items():
        if q in ("loss", "cost") and len(variants) > 1:
            groups = _loss_groups(histories, ms, q, loss_names)
            for loss, vs in groups:
                sub = None if len(groups) == 1 else ", ".join(vs)
                panels.append((q, ms, vs, loss, sub))
        else:
            loss = next(iter(loss_names.values()), None) if loss_names and q == "loss" else None
            panels.append((q, ms, variants, loss, None))
    return panels


def plot_curves_overlay(
    histories: Mapping[str, pd.DataFrame],
    metrics: Sequence[str] = ("val_acc",),
    *,
    colors=None,
    loss_names: Mapping[str, str] | None = None,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Several variants' curves on shared axes; colour = variant, dashed = training, solid = validation.

    metrics: history columns; train_X and val_X share one panel per quantity X (accuracy in %).
    Loss and cost panels are split by `loss_names` (variant -> loss name, e.g. cross-entropy vs
    MSE, which are on different scales); without it, variants whose losses differ more than
    5x in scale get a panel each. Every panel has its own y axis.
    """
    variants = [str(v) for v in histories]
    histories = {str(k): v for k, v in histories.items()}
    cols = colors_for(variants, colors)
    panels = _overlay_panels(histories, metrics, variants, loss_names)

    n = len(panels)
    fig = new_figure(figsize or (3.8 * n + 0.4, 3.5))
    panel_width = fig.get_size_inches()[0] / n - 0.8  # less the y tick labels and label
    axes = fig.subplots(1, n, squeeze=False)[0]
    used_splits: set = set()
    for ax, (q, ms, vs, loss, sub) in zip(axes, panels):
        scale = 100.0 if q == "acc" else 1.0
        splits = {_split_metric(m)[0] for m in ms}
        used_splits |= splits
        values = []
        for v in vs:
            h = histories[v]
            x = finite(h["epoch"]) if "epoch" in h else pd.Series(np.arange(len(h)), dtype=float)
            for m in ms:
                if m not in h:
                    continue
                split, _ = _split_metric(m)
                y = finite(h[m]) * scale
                values.append(y)
                ax.plot(x, y, color=cols[v], linestyle=SPLIT_STYLE.get(split, "-"), label=v)
        if not values or not pd.concat(values).notna().any():
            no_data(ax)
        elif q != "acc":
            maybe_log_y(ax, pd.concat(values))
        ax.set_xlabel("epoch")
        ax.set_ylabel(_quantity_label(q, splits, loss))
        integer_ticks(ax.xaxis)
        ax.grid(alpha=0.3)
        if sub:
            ax.set_title(_panel_title(sub, loss, len(vs), panel_width))
    handles = [Line2D([], [], color=cols[v], linewidth=2, label=v) for v in variants]
    if len(used_splits - {None}) > 1:
        handles += [
            Line2D([], [], color="0.3", linestyle=SPLIT_STYLE[s], label=SPLIT_NAME[s]) for s in ("train", "val")
        ]
    fig_legend(fig, handles, max_cols=5)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def plot_templates_compare(
    Ws: Mapping[str, np.ndarray],
    class_names: Sequence[str] | Mapping[str, Sequence[str]],
    *,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Templates of several variants: rows = variants (named on the left), columns = classes.

    Ws: variant -> W (K, 3072). Each template is min-max rescaled on its own.
    class_names: the class names of all variants, or variant -> its own class names. A variant
    whose templates differ from the first row's (fewer of them, e.g. a logistic model's one
    template, titled by its class pair, or other classes) titles its own panels.
    """
    variants = [str(v) for v in Ws]
    imgs = {str(v): _as_templates(W, what=f"W of {v}") for v, W in Ws.items()}
    own_names = (
        {str(v): list(class_names[v]) for v in Ws}
        if isinstance(class_names, Mapping)
        else {v: list(class_names) for v in variants}
    )
    first = variants[0] if variants else None
    ncols = max(max((len(n) for n in own_names.values()), default=1), max((len(t) for t in imgs.values()), default=1))
    nrows = len(variants)
    fig = new_figure(figsize or (1.25 * ncols + 1.6, 1.2 * nrows + 0.45))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    header = _template_titles(len(imgs[first]), own_names[first]) if first else []
    for r, v in enumerate(variants):
        titles = _template_titles(len(imgs[v]), own_names[v])
        own = r > 0 and titles != header
        for c, ax in enumerate(axes[r]):
            if c >= len(imgs[v]):
                ax.set_axis_off()
                continue
            ax.imshow(imgs[v][c], interpolation="nearest")
            image_axis(ax)
            if r == 0 or own:
                ax.set_title(titles[c] if own else header[c], fontsize=9)
        axes[r, 0].set_ylabel(wrap(v, 2.0, 10), rotation=0, ha="right", va="center", fontsize=10)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def _true_class_prob(probs, labels, variant: str) -> tuple[np.ndarray, np.ndarray]:
    """probs (N, K) or (N,)/(N, 1) for one sigmoid output; labels (N,) -> (p_true, correct)."""
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64).ravel()
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if p.shape[0] != y.shape[0]:
        raise ValueError(
            f"{variant}: {p.shape[0]} probability rows but {y.shape[0]} labels; "
            "pass the test probabilities and labels of the same images"
        )
    if p.ndim == 1:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(
                f"{variant}: one output per image needs labels 0/1 (label 1 = positive class); "
                "map the two classes to 0 and 1"
            )
        p_true = np.where(y == 1, p, 1 - p)
        correct = (p >= 0.5) == (y == 1)
        return p_true, correct
    p_true = p[np.arange(len(y)), y]
    correct = p.argmax(axis=1) == y
    return p_true, correct


def plot_true_class_prob(
    probs_by_variant: Mapping[str, tuple],
    *,
    colors=None,
    bins: int = 20,
    ncols: int = 3,
    figsize=None,
    title: str | None = "probability given to the true class (test set)",
) -> Figure:
    """Histograms of p(true class) per variant, correct (filled) vs misclassified (outline).

    probs_by_variant: variant -> (probs (N, K), labels (N,)). Correct = argmax equals the label
    (for a single sigmoid output: p >= 0.5 for label 1). Panels share both axes.
    """
    variants = [str(v) for v in probs_by_variant]
    cols = colors_for(variants, colors)
    n = len(variants)
    ncols = max(1, min(n, ncols))
    nrows = math.ceil(n / ncols)
    fig = new_figure(figsize or (3.6 * ncols + 0.3, 3.0 * nrows + 0.6))
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    edges = np.linspace(0, 1, bins + 1)
    for i, ax in enumerate(axes.flat):
        if i >= n:
            ax.set_axis_off()
            continue
        v = variants[i]
        probs, labels = probs_by_variant[list(probs_by_variant)[i]]
        p_true, correct = _true_class_prob(probs, labels, v)
        ax.hist(p_true[correct], bins=edges, color=cols[v], alpha=0.75, label=f"correct (n = {int(correct.sum())})")
        ax.hist(
            p_true[~correct],
            bins=edges,
            histtype="step",
            color="black",
            linewidth=1.4,
            label=f"misclassified (n = {int((~correct).sum())})",
        )
        ax.set_title(wrap(v, fig.get_size_inches()[0] / ncols - 0.7, matplotlib.rcParams["axes.titlesize"]))
        ax.set_xlim(0, 1)
        ax.set_xlabel("p(true class)")
        ax.set_ylabel("test images (count)")
        ax.tick_params(labelleft=True, labelbottom=True)
        ax.legend(fontsize=8, frameon=False, loc="upper center")
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)


def plot_augment_preview(
    originals,
    augmented,
    titles: Sequence[str] | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
    figsize=None,
) -> Figure:
    """Grid: first row the originals, then one row per augmented copy; one column per image.

    originals: (n, 32, 32, 3) uint8; augmented: (m, n, 32, 32, 3) uint8 (copy j of image i at
    [j, i]). titles: one per column (e.g. the images' class names); row_labels: 1 + m names,
    default "original", "augmented 1", ...
    """
    orig = np.asarray(originals)
    aug = np.asarray(augmented)
    if aug.ndim == orig.ndim:  # a single augmented copy given as (n, 32, 32, 3)
        aug = aug[None]
    if orig.ndim != 4 or aug.ndim != 5 or aug.shape[1:] != orig.shape:
        raise ValueError(
            f"augmented has shape {aug.shape} but originals {orig.shape}; expected (m, n, H, W, 3) for (n, H, W, 3)"
        )
    n, m = orig.shape[0], aug.shape[0]
    if titles is not None and len(titles) != n:
        raise ValueError(f"{len(titles)} titles for {n} images; give one title per original image")
    rows = [orig] + list(aug)
    labels = list(row_labels) if row_labels is not None else ["original"] + [f"augmented {j + 1}" for j in range(m)]
    if len(labels) != m + 1:
        raise ValueError(f"{len(labels)} row labels for {m + 1} rows; give one for the originals and one per copy")
    fig = new_figure(figsize or (1.15 * n + 1.4, 1.2 * (m + 1) + 0.5))
    axes = fig.subplots(m + 1, n, squeeze=False)
    for r, imgs in enumerate(rows):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(imgs[c], interpolation="nearest")
            image_axis(ax)
            if r == 0 and titles is not None:
                ax.set_title(literal(titles[c]), fontsize=9)
        axes[r, 0].set_ylabel(labels[r], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(literal(title))
    return fit_to_text(fig)
