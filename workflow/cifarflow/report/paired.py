"""Paired tests between variants and the answers to the write-ups' questions, from run files.

The numbers come from :mod:`cifarflow.report.stats` (pure); this module reads the runs'
predictions and metrics, and writes the tables, the figure and results/answers.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cifarflow.errors import DataError
from cifarflow.io import read_json, read_weights, write_text
from cifarflow.report import plots
from cifarflow.report.compare import group_runs


def correctness_of_runs(runs: dict[str, list[Path]]) -> dict[str, np.ndarray]:
    """Variant -> seeds x test images bool correctness, checking every run has the same test labels."""
    from cifarflow.report.stats import correctness

    out, labels0, first = {}, None, None
    for name, dirs in runs.items():
        rows = []
        for d in dirs:
            p, _, extra = read_weights(Path(d) / "predictions.h5")
            labels = np.asarray(extra["labels"])
            if labels0 is None:
                labels0, first = labels, d
            elif labels.shape != labels0.shape or not np.array_equal(labels, labels0):
                raise DataError(
                    f"{d}/predictions.h5: its test labels differ from {first}'s; paired tests need the same test images"
                )
            rows.append(correctness(p["probs"], labels))
        out[name] = np.stack(rows)
    return out


def paired_file(
    spec: dict, run_dirs, statistics: dict, table, figure, dpi: int = 150, width=None, pdf: bool = True
) -> pd.DataFrame:
    """`table`.{csv,md} (pairs_table numbers; pairs_display with its footnote) and the forest
    figure `figure` (png, and pdf unless `pdf` is false) of the pairs in `spec` ({name, pairs})
    over the runs in `run_dirs`."""
    from cifarflow.report.stat_plots import plot_pair_diffs
    from cifarflow.report.stats import PAIRS_FOOTNOTE, pairs_display, pairs_table
    from cifarflow.report.tables import write_table

    runs = group_runs(run_dirs)
    correct = correctness_of_runs(runs)
    pairs = pairs_table(
        correct,
        pairs=[tuple(p) for p in spec["pairs"]],
        seed=int(statistics.get("seed", 0)),
        alpha=float(statistics.get("alpha", 0.05)),
        n_resamples=int(statistics.get("n_resamples", 9999)),
        confidence=float(statistics.get("confidence", 0.95)),
    )
    write_table(pairs, table, formats=("csv",))
    write_table(pairs_display(pairs), table, formats=("md",))
    md = Path(f"{table}.md")
    write_text(md, md.read_text().rstrip("\n") + "\n\n" + PAIRS_FOOTNOTE + "\n")
    fig = plot_pair_diffs(
        pairs, alpha=float(statistics.get("alpha", 0.05)), title=f"{spec['name']}: paired differences A - B"
    )
    plots.save(fig, figure, dpi=dpi, width=width, pdf=pdf)
    return pairs


def _row(pairs: pd.DataFrame, a: str, b: str):
    hit = pairs[(pairs["variant_a"] == a) & (pairs["variant_b"] == b)]
    if hit.empty:
        raise DataError(f"no paired result for ({a}, {b}) in its table")
    return hit.iloc[0]


def answer(question: dict, pairs: pd.DataFrame, metrics: dict[str, list[dict]], alpha: float, confidence: float) -> str:
    """The one sentence answering `question` ({kind, variants}) from its pairs table and the
    variants' per-seed metrics."""
    from cifarflow.report import stats

    kind, names = question["kind"], question["variants"]
    if kind == "lambda":
        values = {n: metrics[n][0]["config"]["lambda"] for n in names}
        return stats.lambda_sentence(pairs, values, alpha)
    row = _row(pairs, names[0], names[1])
    if kind == "shuffle":
        stops = [[stats.stop_epoch(m) for m in metrics[n]] for n in names]
        kept = [[m.get("best_epoch") for m in metrics[n]] for n in names]
        return stats.shuffle_sentence(row, stops[0], stops[1], kept[0], kept[1], alpha)
    fn = {
        "softmax_vs_sigmoid": stats.softmax_vs_sigmoid_sentence,
        "flip": stats.flip_sentence,
        "relu_vs_softplus": stats.relu_vs_softplus_sentence,
        "ce_vs_mse": stats.ce_vs_mse_sentence,
    }[kind]
    return fn(row, alpha)


_ANSWERS_HEAD = (
    "Generated from the runs of every replicate seed and the paired tests (results/tables/<set>/paired_*.csv);"
    " accuracies are test accuracies of the weights kept by validation-only selection."
)


def answers_by_set(questions: dict, tables: dict[str, pd.DataFrame], metrics: dict, statistics: dict) -> dict:
    """Set -> [(question name, sentence)], in config order."""
    alpha = float(statistics.get("alpha", 0.05))
    confidence = float(statistics.get("confidence", 0.95))
    by_set: dict[str, list[tuple[str, str]]] = {}
    for name, q in questions.items():
        by_set.setdefault(q["set"], []).append((name, answer(q, tables[q["table"]], metrics, alpha, confidence)))
    return by_set


def answers_markdown(by_set: dict) -> str:
    """results/answers.md: one sentence per question, grouped by experiment set."""
    lines = ["## Answers to the write-ups' questions", "", _ANSWERS_HEAD, ""]
    for set_name, items in by_set.items():
        lines += [f"### {set_name}", "", *(f"- **{n}**: {text}" for n, text in items), ""]
    return "\n".join(lines).rstrip() + "\n"


def answers_html(by_set: dict) -> str:
    """The same as a small HTML page: Snakemake's report shows HTML results inline (Markdown and
    CSV results only as downloads)."""
    from html import escape

    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Answers</title></head><body>',
        "<h2>Answers to the write-ups' questions</h2>",
        f"<p>{escape(_ANSWERS_HEAD)}</p>",
    ]
    for set_name, items in by_set.items():
        parts.append(f"<h3>{escape(set_name)}</h3><ul>")
        parts += [f"<li><b>{escape(n)}</b>: {escape(text)}</li>" for n, text in items]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def answers_file(questions: dict, table_paths, run_dirs, statistics: dict, out, html=None) -> None:
    """Write the answers as Markdown to `out` (and as HTML to `html`) from the paired tables' CSV
    files and the runs."""
    tables = {Path(p).name.removesuffix(".csv").removeprefix("paired_"): pd.read_csv(p) for p in table_paths}
    metrics = {n: [read_json(Path(d) / "metrics.json") for d in dirs] for n, dirs in group_runs(run_dirs).items()}
    by_set = answers_by_set(questions, tables, metrics, statistics)
    text, page = answers_markdown(by_set), answers_html(by_set)
    write_text(out, text)
    if html:
        write_text(html, page)
