"""What a person reads of a search (issue 17): the trials table, the figures, the chosen setting
and its final models' test accuracy (the `search-report` and `search-summary` commands).

The trials and the choice come from the rounds' records only (validation numbers); the only test
numbers read are the final models' metrics.json, retrained from the chosen setting with fresh seeds.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import finite_or_none, read_json, write_json, write_text
from ..training import search as S
from .stats import PM_FOOTNOTE, format_pm, summarize
from .tables import write_table

FIGURES = ("settings", "parallel")


def trials_frame(records: Sequence[Mapping]) -> pd.DataFrame:
    """One row per trial of every round record: trial, round, index, the settings (one column
    each, lists as text; a re-evaluation trial's `seed`), val_acc (at the kept epoch), kept_epoch,
    epochs_run, keep (which epoch the run keeps), rank (within its round), cpu_seconds."""
    rows = []
    for rec in sorted(records, key=lambda r: r["round"]):
        for t in sorted(rec["trials"], key=lambda t: t["index"]):
            row = {"trial": t["name"], "round": t["round"], "index": t["index"]}
            row.update(t["settings"])
            row.update(
                {
                    "val_acc": t["val_acc"],
                    "kept_epoch": t["epoch"],
                    "epochs_run": t["epochs_run"],
                    "keep": t.get("keep", "last"),
                    "rank": t["rank"],
                    "cpu_seconds": t.get("cpu_seconds"),
                }
            )
            rows.append(row)
    return pd.DataFrame(rows)


def axis_scales(search: Mapping) -> tuple[dict[str, str], dict[str, list]]:
    """Each searched key's axis ('log', 'linear' or 'category') and a choice's values in config order."""
    dims = S.parse_space(search["space"], search_points=search["points"])
    scales = {k: "category" if d.kind == "choice" else "log" if d.log else "linear" for k, d in dims.items()}
    choices = {k: [S.thaw(c) for c in d.choices] for k, d in dims.items() if d.kind == "choice"}
    return scales, choices


def importance_trials(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials whose scores say how each setting matters: round 1's (every setting drawn over
    the whole space, independently of any score; later rounds narrow the ranges or promote the
    best, and re-evaluation trials repeat a candidate), and of those the ones trained for the
    most common number of epochs (successive halving's first rung, hyperband's largest bracket;
    a tie goes to the longer training), so that their scores are comparable."""
    first = trials[trials["round"] == 1]
    if first.empty:
        return first
    counts = first["epochs_run"].value_counts()
    epochs = max(counts.index[counts == counts.max()])
    return first[first["epochs_run"] == epochs]


def parameter_importance(trials: pd.DataFrame, scales: Mapping[str, str], bins: int = 3) -> pd.DataFrame:
    """How much of the spread of validation accuracy each searched setting accounts for, from the
    trials `importance_trials` picks (finite scores only).

    Per setting the trials are grouped: a choice by its value; a range into `bins` groups of about
    equal count by value (quantiles; equal values stay together). `eta_squared` is the share of
    the scores' variance that lies between the groups' means (a one-way ANOVA's R^2: 1 when the
    setting alone decides the score, 0 when the groups' means are equal). With few trials it is
    large by chance too: `chance` is its expected value when the setting does not matter, (groups
    - 1) / (trials - 1). `p_value` is the Kruskal-Wallis test (scipy.stats.kruskal) that the
    groups' scores come from one distribution: a small value says the setting matters here. One
    row per setting, the largest eta_squared first (ties in config order)."""
    from scipy import stats  # deferred: only the search report needs it

    picked = importance_trials(trials)
    picked = picked[np.isfinite(picked["val_acc"].astype(float))] if len(picked) else picked
    y = picked["val_acc"].to_numpy(dtype=float) if len(picked) else np.array([])
    rows = []
    for key, scale in scales.items():
        row = {"setting": key, "trials": len(y), "groups": 0, "eta_squared": None, "chance": None, "p_value": None}
        if len(y) >= 2 and key in picked.columns:
            values = picked[key]
            if scale == "category":
                groups = values.map(_text).to_numpy()
            else:
                groups = pd.qcut(values.astype(float), q=bins, labels=False, duplicates="drop").to_numpy()
            labels = list(dict.fromkeys(groups.tolist()))
            parts = [y[groups == g] for g in labels]
            row["groups"] = len(parts)
            total = float(np.sum((y - y.mean()) ** 2))
            if len(parts) >= 2 and total > 0:
                between = math.fsum(len(p) * (p.mean() - y.mean()) ** 2 for p in parts)
                row["eta_squared"] = between / total
                row["chance"] = (len(parts) - 1) / (len(y) - 1)
                row["p_value"] = float(stats.kruskal(*parts).pvalue)
        rows.append(row)
    out = pd.DataFrame(rows, columns=["setting", "trials", "groups", "eta_squared", "chance", "p_value"])
    order = out["eta_squared"].astype(float).fillna(-1.0)
    return out.iloc[np.argsort(-order.to_numpy(), kind="stable")].reset_index(drop=True)


def _text(value) -> str:
    return json.dumps(value) if isinstance(value, (list, dict)) else str(value)


def final_rows(final_metrics: Sequence[Mapping]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "run": m.get("variant"),
                "seed": (m.get("config") or {}).get("seed"),
                "test_acc": m.get("test_acc"),
                "test_loss": m.get("test_loss"),
                "best_val_acc": m.get("best_val_acc"),
            }
            for m in final_metrics
        ]
    )


def search_result(set_name: str, search: Mapping, records: Sequence[Mapping], final_metrics: Sequence[Mapping]) -> dict:
    """The chosen trial (from the records' validation scores) and its final runs' test accuracy."""
    scores = {}
    for rec in records:
        scores.update(S.scores_from_record(rec))
    chosen = S.choose(set_name, search, scores)
    acc = summarize([float("nan") if m.get("test_acc") is None else m["test_acc"] for m in final_metrics])
    reevaluation = next((rec["reevaluation"] for rec in records if "reevaluation" in rec), None)
    chosen_json = {**chosen.to_json(), "val_acc": scores[chosen.name]}
    if reevaluation:
        chosen_json["val_acc_mean"] = next(c["mean"] for c in reevaluation if c["chosen"])
    return {
        "set": set_name,
        "search": search["name"],
        "method": search["method"],
        "trials": len(scores),
        "rounds": S.n_rounds(search),
        "chosen": chosen_json,
        "reevaluation": reevaluation,
        "budget": budget_summary(search, records, final_metrics),
        "final": {
            "seeds": [(m.get("config") or {}).get("seed") for m in final_metrics],
            "test_acc": [m.get("test_acc") for m in final_metrics],
            "test_acc_mean": acc.mean,
            "test_acc_half": acc.half,
            "test_acc_lo": acc.lo,
            "test_acc_hi": acc.hi,
            "n": acc.n,
            "text": format_pm(acc),
        },
    }


def budget_summary(search: Mapping, records: Sequence[Mapping], final_metrics: Sequence[Mapping]) -> dict:
    """CPU-minutes: the budget (null without one), the estimate check-config printed, and what was
    spent: every trial's and final run's core-seconds (wall x threads of the training call, from
    their metrics.json `timing`; a trial's as its round record holds it). `unknown`: runs without
    a timing, not counted."""
    seconds, unknown = [], 0
    for rec in records:
        for t in rec["trials"]:
            if t.get("cpu_seconds") is None:
                unknown += 1
            else:
                seconds.append(float(t["cpu_seconds"]))
    for m in final_metrics:
        timing = m.get("timing") or {}
        if timing.get("total_seconds") is None:
            unknown += 1
        else:
            seconds.append(float(timing["total_seconds"]) * int(timing.get("threads") or 1))
    est = search.get("estimate") or {}
    return {
        "budget_minutes": search.get("budget_cpu_minutes"),
        "estimate_minutes": est.get("total_minutes"),
        "spent_minutes": round(math.fsum(seconds) / 60, 2),
        "unknown": unknown,
    }


def _candidates_markdown(reevaluation: Sequence[Mapping]) -> list[str]:
    """The re-evaluated candidates: mean validation accuracy over their seeds, and the chosen one's
    lead with its paired t interval (`search.compare_candidates`)."""
    level = f"{reevaluation[0]['confidence'] * 100:g}%"
    lines = [
        f"Re-evaluated candidates (validation accuracy per seed, the trials' seed first; chosen minus"
        f" candidate with its {level} paired Student t interval over the seeds):",
        "",
        "| candidate | settings | per seed (%) | mean (%) | chosen - candidate (points) | verdict |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in reevaluation:
        settings = ", ".join(f"{k} {_text(v)}" for k, v in c["settings"].items())
        per_seed = ", ".join("n/a" if v is None else f"{v * 100:.2f}" for v in c["val_acc"])
        mean = "n/a" if c["mean"] is None else f"{c['mean'] * 100:.2f}"
        if c["chosen"]:
            diff, verdict = "", "**chosen**"
        elif c["diff_lo"] is None:
            diff, verdict = "n/a", "indistinguishable (a score is missing)"
        else:
            diff = f"{c['diff'] * 100:+.2f} [{c['diff_lo'] * 100:+.2f}, {c['diff_hi'] * 100:+.2f}]"
            verdict = "indistinguishable" if c["indistinguishable"] else "worse"
        lines.append(f"| {c['name']} | {settings} | {per_seed} | {mean} | {diff} | {verdict} |")
    same = [c["name"] for c in reevaluation if c["indistinguishable"] and not c["chosen"]]
    lines += [
        "",
        (
            f"Statistically indistinguishable from the chosen one on validation: {', '.join(same)}."
            if same
            else "Every other candidate is worse than the chosen one on validation (interval above 0)."
        ),
        "",
    ]
    return lines


def _budget_line(b: Mapping) -> str:
    def minutes(v):
        return "n/a" if v is None else f"{v:.1f}"

    budget = "no budget" if b["budget_minutes"] is None else f"budget {b['budget_minutes']:g}"
    note = f" ({b['unknown']} runs without timing not counted)" if b["unknown"] else ""
    return (
        f"- CPU-minutes: spent {minutes(b['spent_minutes'])}{note}, estimated {minutes(b['estimate_minutes'])},"
        f" {budget} (trials, re-evaluation and final runs; core-seconds of their training jobs)"
    )


def section_markdown(result: Mapping, trials: pd.DataFrame, heading: str = "##") -> str:
    """The search's section of results/summary.md; links are relative to the section's own folder."""
    c = result["chosen"]
    settings = ", ".join(f"`{k}` = {_text(v)}" for k, v in c["settings"].items())
    val = _percent(c["val_acc"])
    if c.get("val_acc_mean") is not None:
        val = f"{_percent(c['val_acc_mean'])} (mean of its re-evaluation seeds; its own trial {val})"
    lines = [
        f"{heading} Search {result['set']} / {result['search']}",
        "",
        f"{result['method']}: {result['trials']} trials in {result['rounds']} round(s), chosen on validation accuracy only.",
        "",
        f"- chosen: **{c['name']}** (round {c['round']}): {settings}; validation accuracy {val}",
        f"- its final models (fresh seeds {', '.join(str(s) for s in result['final']['seeds'])}):"
        f" test accuracy **{result['final']['text']}** (%)",
    ]
    if result.get("budget"):
        lines.append(_budget_line(result["budget"]))
    lines += ["", PM_FOOTNOTE, ""]
    if result.get("reevaluation"):
        lines += _candidates_markdown(result["reevaluation"])
    lines += [
        "Best trials (validation accuracy at the epoch each run keeps; [every trial](trials.md)):",
        "",
    ]
    best = trials.sort_values(["val_acc", "round", "index"], ascending=[False, True, True], kind="stable").head(5)
    show = best.drop(columns=["index", "cpu_seconds"], errors="ignore")
    show = show.assign(val_acc=lambda d: (d["val_acc"] * 100).round(2))
    lines += [_markdown(show), ""]
    lines += _importance_markdown(result.get("importance"))
    lines += ["![settings](settings.png)", "", "![parallel coordinates](parallel.png)", ""]
    return "\n".join(lines)


def _importance_markdown(rows) -> list[str]:
    """The summary's lines on parameter importance (`parameter_importance`'s rows)."""
    rows = [r for r in rows or [] if r.get("eta_squared") is not None]
    if not rows:
        return []
    n = rows[0]["trials"]
    cells = [
        f"`{r['setting']}` {r['eta_squared']:.2f} (chance {r['chance']:.2f}, Kruskal-Wallis p = {r['p_value']:.2g})"
        for r in rows
    ]
    return [
        f"Parameter importance (share of the validation accuracy's variance between groups of each setting's"
        f" values, over round 1's {n} comparable trials; [table](importance.md)): " + "; ".join(cells) + ".",
        "",
    ]


def _percent(value) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value * 100:.2f}%"


def _markdown(df: pd.DataFrame) -> str:
    cells = df.astype(object).map(_text).where(df.notna(), "")
    return cells.to_markdown(index=False)


def write_search_report(
    set_name: str, search: Mapping, round_files: Sequence[str], final_metrics: Sequence[str], outdir, **figures
) -> dict:
    """trials.{csv,md}, final.{csv,md}, importance.{csv,md}, chosen.json, settings and parallel
    figures (.png, .pdf) and summary.md in `outdir`."""
    from . import search_plots  # deferred: matplotlib, which the search summary and summary.md do not need
    from .figure import DEFAULT_DPI, save  # deferred with search_plots: matplotlib

    outdir = Path(outdir)
    records = [read_json(f) for f in round_files]
    finals = [read_json(f) for f in final_metrics]
    trials = trials_frame(records)
    result = search_result(set_name, search, records, finals)
    table = trials.copy()
    for col in table.columns:
        if table[col].map(lambda v: isinstance(v, (list, dict))).any():
            table[col] = table[col].map(_text)
    write_table(table, outdir / "trials", formats=("csv", "md"))
    write_table(final_rows(finals), outdir / "final", formats=("csv", "md"))
    scales, choices = axis_scales(search)
    importance = parameter_importance(trials, scales)
    write_table(importance, outdir / "importance", formats=("csv", "md"))
    result["importance"] = importance.to_dict(orient="records")
    write_json(outdir / "chosen.json", finite_or_none(result))  # no interval (one seed): null, not NaN
    title = f"search {set_name} / {search['name']} ({search['method']})"
    chosen = result["chosen"]["name"]
    dpi, width, pdf = figures.get("dpi", DEFAULT_DPI), figures.get("width"), figures.get("pdf", True)
    fig = search_plots.plot_search_settings(trials, scales, chosen=chosen, choices=choices, title=title)
    save(fig, outdir / "settings", dpi=dpi, width=width, pdf=pdf)
    fig = search_plots.plot_search_parallel(trials, scales, chosen=chosen, choices=choices, title=title)
    save(fig, outdir / "parallel", dpi=dpi, width=width, pdf=pdf)
    write_text(outdir / "summary.md", section_markdown(result, trials) + "\n")
    return result


_LINK = re.compile(r"(\]\()([^)\s]+)(\))")


def rebase_links(text: str, from_dir, to_dir) -> str:
    """Markdown links and images relative to `from_dir` rewritten relative to `to_dir`."""

    def fix(m):
        target = m.group(2)
        if "://" in target or target.startswith(("/", "#")):
            return m.group(0)
        path = os.path.relpath(os.path.join(from_dir, target), to_dir)
        return m.group(1) + Path(path).as_posix() + m.group(3)

    return _LINK.sub(fix, text)


def write_search_summary(sections: Sequence[str], out) -> None:
    """`out` (results/search/summary.md): every search's section, links made relative to `out`'s folder."""
    parts = ["# Searches", ""]
    for f in sections:
        text = Path(f).read_text(encoding="utf-8")
        parts.append(rebase_links(text, Path(f).parent, Path(out).parent).rstrip() + "\n")
    write_text(out, "\n".join(parts))
