"""Paired tests between variants and the answers to the write-ups' questions, from run files.

The numbers come from :mod:`cifarflow.report.stats` (pure); this module reads the runs'
predictions and metrics, and writes the tables, the figure and results/answers.md. Only `paired`
draws: matplotlib is imported there, not by `decide` and `answers` (jobs of their own).
"""

from __future__ import annotations

from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from cifarflow.errors import DataError
from cifarflow.io import group_runs, read_run, write_json, write_text
from cifarflow.names import unique_labels
from cifarflow.report import stats
from cifarflow.report.stats import correctness
from cifarflow.report.tables import write_table
from cifarflow.report.verdicts import (
    PRESETS,
    RECIPE_FOOTNOTE,
    STOP_DECIDED,
    STOP_FUTILE,
    STOP_MAX,
    STOP_OWN,
    decided,
    epochs_phrase,
    futile,
    pair_answer,
    recipe_display,
    recipe_pairs_table,
    sweep_answer,
)
from cifarflow.schema import block_settings


def correctness_of_runs(runs: dict[str, list[Path]]) -> dict[str, np.ndarray]:
    """Variant -> seeds x test images bool correctness, checking every run has the same test labels."""
    out, labels0, first = {}, None, None
    for name, dirs in runs.items():
        rows = []
        for d in dirs:
            probs, labels = read_run(d).predictions()  # checked: finite probabilities, this run's file
            if labels0 is None:
                labels0, first = labels, d
            elif labels.shape != labels0.shape or not np.array_equal(labels, labels0):
                raise DataError(
                    f"{d}/predictions.h5: its test labels differ from {first}'s; paired tests need the same test images"
                )
            rows.append(correctness(probs, labels))
        out[name] = np.stack(rows)
    return out


def _seeds_of_runs(runs: dict[str, list[Path]]) -> dict[str, list[int]]:
    """Variant -> the seed of each of its runs, in order (from each run's metrics.json)."""
    return {n: [int(read_run(d).metrics["config"]["seed"]) for d in dirs] for n, dirs in runs.items()}


def _paired_flags(spec: dict, seeds: dict[str, list[int]]) -> list[bool]:
    """Each pair's pairing: as the workflow declares it (same seeds, same epoch plans and initial
    draws), checked against the seeds the runs record (rows must match seed by seed)."""
    flags = []
    for (a, b), declared in zip(spec["pairs"], spec.get("paired") or [False] * len(spec["pairs"])):
        if declared and seeds[a] != seeds[b]:
            raise DataError(f"pair ({a}, {b}) is declared paired, but its runs have seeds {seeds[a]} and {seeds[b]}")
        flags.append(bool(declared))
    return flags


def recipe_table_of_runs(spec: dict, run_dirs, statistics: dict, image_level: bool = True) -> pd.DataFrame:
    """The recipe pairs table (:func:`cifarflow.report.verdicts.recipe_pairs_table`) of the pairs
    in `spec` ({name, pairs, paired, min_effect, n_looks, look, stop_reason}) over `run_dirs`."""
    statistics = block_settings("statistics", statistics)  # the schema's defaults under it
    runs = group_runs(run_dirs)
    correct = correctness_of_runs(runs)
    return recipe_pairs_table(
        correct,
        [tuple(p) for p in spec["pairs"]],
        _paired_flags(spec, _seeds_of_runs(runs)),
        alpha=float(statistics["alpha"]),
        min_effect=float(spec.get("min_effect", statistics["min_effect"])),
        n_looks=int(spec.get("n_looks", 1)),
        look=int(spec.get("look", 1)),
        stop_reason=spec.get("stop_reason", STOP_OWN),
        confidence=float(statistics["confidence"]),
        seed=int(statistics["seed"]),
        n_resamples=int(statistics["n_resamples"]),
        image_level=image_level,
    )


def paired_file(
    spec: dict,
    run_dirs,
    statistics: dict,
    table,
    figure,
    dpi: int | None = None,
    width=None,
    pdf: bool = True,
    labels: dict | None = None,
) -> pd.DataFrame:
    """`table`.{csv,md} (the recipe pairs table with its footnote) and the forest figure `figure`
    (png, and pdf unless `pdf` is false) of the pairs in `spec` over the runs in `run_dirs`.

    The CSV names A and B by name (`variant_a`, `variant_b`) and by display label (`label_a`,
    `label_b`, from `labels`: variant -> label, made unique among the table's variants; default:
    the names); the Markdown table and the figure by label. `dpi` None: the figure toolkit's
    DEFAULT_DPI."""
    from cifarflow.report.figure import DEFAULT_DPI, save  # deferred: matplotlib, which decide and answers do not load
    from cifarflow.report.stat_plots import plot_pair_diffs  # deferred: matplotlib

    pairs = recipe_table_of_runs(spec, run_dirs, statistics)
    names = list(dict.fromkeys(n for p in spec["pairs"] for n in p))
    labels = unique_labels(names, labels or {})
    pairs.insert(2, "label_a", [labels.get(a, a) for a in pairs["variant_a"]])
    pairs.insert(3, "label_b", [labels.get(b, b) for b in pairs["variant_b"]])
    write_table(pairs, table, formats=("csv",))
    write_table(recipe_display(pairs), table, formats=("md",))
    md = Path(f"{table}.md")
    write_text(md, md.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + RECIPE_FOOTNOTE + "\n")
    fig = plot_pair_diffs(pairs, labels=labels, title=f"{spec['name']}: recipe differences A - B")
    save(fig, figure, dpi=DEFAULT_DPI if dpi is None else dpi, width=width, pdf=pdf)
    return pairs


def decide_file(spec: dict, run_dirs, statistics: dict, out) -> dict:
    """One look of a question that adds seeds: its recipe verdicts at this look's level, and whether
    the question stops here (decided, or the last look). Written as JSON to `out`."""
    table = recipe_table_of_runs(spec, run_dirs, statistics, image_level=False)
    look, n_looks = int(spec["look"]), int(spec["n_looks"])
    is_decided = decided(table)
    is_futile = not is_decided and look < n_looks and futile(table, int(spec["max_seeds"]))
    reason = STOP_DECIDED if is_decided else STOP_FUTILE if is_futile else STOP_MAX if look >= n_looks else None
    record = {
        "question": spec["name"],
        "look": look,
        "n_looks": n_looks,
        "n_seeds": {r.variant_a: int(r.n_seeds_a) for r in table.itertuples()}
        | {r.variant_b: int(r.n_seeds_b) for r in table.itertuples()},
        "level": float(table["level"].iloc[0]) if len(table) else None,
        "verdicts": [[r.variant_a, r.variant_b, r.verdict] for r in table.itertuples()],
        "stop": reason is not None,
        "stop_reason": reason,
    }
    write_json(out, record)
    return record


def _row(pairs: pd.DataFrame, a: str, b: str):
    hit = pairs[(pairs["variant_a"] == a) & (pairs["variant_b"] == b)]
    if hit.empty:
        raise DataError(f"no paired result for ({a}, {b}) in its table")
    return hit.iloc[0]


def answer(question: dict, pairs: pd.DataFrame, metrics: dict[str, list[dict]], confidence: float) -> str:
    """The answer to `question` ({kind, variants, labels, setting}) from its recipe table and the
    variants' per-seed metrics."""
    kind, names = question["kind"], question["variants"]
    labels = dict(zip(names, question.get("labels") or names))
    if kind in ("sweep", "lambda"):
        head = question.get("title") or (
            "Lambda sweep (TDT4265 4c/4e)" if kind == "lambda" else f"{question['setting']} sweep"
        )
        return sweep_answer(pairs, labels, head, confidence)
    row = _row(pairs, names[0], names[1])
    head, label_a, label_b = PRESETS.get(kind, (question.get("title"), None, None))
    if kind not in PRESETS:  # the write-up presets keep their own wording
        label_a, label_b = labels[names[0]], labels[names[1]]
        head = head or f"{label_a} vs {label_b}"
    text = pair_answer(row, label_a, label_b, head, confidence)
    if kind == "shuffle":
        phrases = []
        for n, label in ((names[0], label_a), (names[1], label_b)):
            runs = metrics[n][: int(row["n_seeds_a" if n == names[0] else "n_seeds_b"])]
            ends = epochs_phrase(
                [stats.stop_epoch(m) for m in runs],
                [m.get("stopped_early") for m in runs],
                [m.get("best_epoch") for m in runs],
            )
            phrases.append(f"with {label} training ends at {ends}")
        text = text[:-1] + "; " + "; ".join(phrases) + "."
    return text


_ANSWERS_HEAD = (
    "Generated from the runs of every replicate seed (results/tables/<set>/paired_<question>.csv). Each answer is"
    " about the training recipes: its interval carries the seed-to-seed spread and the test set's sampling,"
    " and accuracies are test accuracies of the weights kept by validation-only selection."
)
_QUICK_HEAD = (
    "QUICK RUN (the config is marked `quick`: few epochs on a subset of the training images): these verdicts"
    " are about the quick recipes, not about the write-ups' settings."
)


def answers_by_set(questions: dict, tables: dict[str, pd.DataFrame], metrics: dict, statistics: dict) -> dict:
    """Set -> [(question name, sentence)], in config order."""
    confidence = float(block_settings("statistics", statistics)["confidence"])
    by_set: dict[str, list[tuple[str, str]]] = {}
    for name, q in questions.items():
        q = dict(q, name=name)
        by_set.setdefault(q["set"], []).append((name, answer(q, tables[q["table"]], metrics, confidence)))
    return by_set


def _heads(quick: bool) -> list[str]:
    return ([_QUICK_HEAD] if quick else []) + [_ANSWERS_HEAD]


def set_texts(questions: dict) -> dict:
    """Set -> (title, description) of the experiment sets that ask the questions (from the config)."""
    return {q["set"]: (q.get("set_title") or "", q.get("set_description") or "") for q in questions.values()}


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def answers_markdown(by_set: dict, quick: bool = False, sets: dict | None = None) -> str:
    """results/answers.md: one answer per question, grouped by experiment set (headed by the set's
    title, with its description, when the config gives them)."""
    lines = ["## Answers to the questions", ""]
    for head in _heads(quick):
        lines += [head, ""]
    for set_name, items in by_set.items():
        title, description = (sets or {}).get(set_name, ("", ""))
        lines += [f"### {set_name}" + (f": {_one_line(title)}" if title else ""), ""]
        lines += [_one_line(description), ""] if description else []
        lines += [*(f"- **{n}**: {text}" for n, text in items), ""]
    return "\n".join(lines).rstrip() + "\n"


def answers_html(by_set: dict, quick: bool = False, sets: dict | None = None) -> str:
    """The same as a small HTML page: Snakemake's report shows HTML results inline (Markdown and
    CSV results only as downloads)."""
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8"><title>Answers</title></head><body>',
        "<h2>Answers to the questions</h2>",
        *(f"<p>{escape(h)}</p>" for h in _heads(quick)),
    ]
    for set_name, items in by_set.items():
        title, description = (sets or {}).get(set_name, ("", ""))
        parts.append(f"<h3>{escape(set_name)}" + (f": {escape(_one_line(title))}" if title else "") + "</h3>")
        if description:
            parts.append(f"<p>{escape(_one_line(description))}</p>")
        parts.append("<ul>")
        parts += [f"<li><b>{escape(n)}</b>: {escape(text)}</li>" for n, text in items]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def answers_file(questions: dict, table_paths, run_dirs, statistics: dict, out, html=None, quick: bool = False) -> None:
    """Write the answers as Markdown to `out` (and as HTML to `html`) from the question tables' CSV
    files and the runs."""
    tables = {Path(p).name.removesuffix(".csv").removeprefix("paired_"): pd.read_csv(p) for p in table_paths}
    metrics = {n: [read_run(d).metrics for d in dirs] for n, dirs in group_runs(run_dirs).items()}
    by_set = answers_by_set(questions, tables, metrics, statistics)
    sets = set_texts(questions)
    write_text(out, answers_markdown(by_set, quick, sets))
    if html:
        write_text(html, answers_html(by_set, quick, sets))
