"""Result tables: one row per variant (summary, per-class accuracy) or per job (benchmarks).

Builders take the in-memory objects the training jobs write (metrics dicts, benchmark tables)
and return pandas DataFrames; `write_table` writes a DataFrame as CSV, Markdown and LaTeX.
Variant names appear in a `variant` column (the identifier, as in the paths), and the tables the
workflow writes add each variant's display `label` (as in the figures' legends): after `variant`
in CSV files, first in the Markdown and LaTeX tables a reader reads.
"""

from __future__ import annotations

import io
import math
import os
import stat
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from cifarflow.errors import DataError
from cifarflow.io import read_run_metrics, write_text

__all__ = [
    "SETTINGS",
    "aggregate_tables",
    "per_seed_table",
    "summary_table",
    "with_labels",
    "per_class_table",
    "benchmark_table",
    "write_table",
]

SETTINGS = (
    "model",
    "loss",
    "split",
    "classes",
    "batch_size",
    "epochs",
    "eta",
    "schedule",
    "lambda",
    "flip",
    "translate",
    "shuffle",
    "early_stopping",
    "hidden",
    "momentum",
)
"""Config keys that summary_table shows when they differ between the listed variants."""

BENCHMARK_COLUMNS = ("rule", "job", "seconds", "max RSS (MB)", "cpu seconds", "mean load (%)")
_BENCHMARK_NA = ("NA", "-", "")


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _setting(metrics: Mapping, key: str):
    """One setting of a variant as a hashable cell value ("" when it does not apply)."""
    cfg = metrics.get("config") or {}
    if key in ("flip", "translate"):  # what the augmentation plan actually applied
        value = (metrics.get("plan") or {}).get(key, cfg.get(key, 0))
    elif key in ("model", "loss"):
        value = cfg.get(key, metrics.get(key))
    else:
        value = cfg.get(key)
    if key == "eta" and cfg.get("schedule") == "cyclic":
        value = f"{cfg['eta_min']:g}-{cfg['eta_max']:g}"
    if key == "schedule" and value == "step":
        value = f"step x{cfg['step_factor']:g}/{cfg['step_every']}"
    if key == "hidden" and cfg.get("model") != "mlp":
        value = None
    if key == "early_stopping" and value:
        value = f"{value.get('monitor', 'val_loss')}, patience {value['patience']}"
    if isinstance(value, (list, tuple)):
        value = "x".join(map(str, value)) if key == "hidden" else "/".join(map(str, value))
    if isinstance(value, Mapping):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    return "" if _is_missing(value) else value


def _timing(metrics: Mapping, key: str) -> float:
    t = metrics.get("timing") or {}
    value = t.get(key, metrics.get(key))
    return math.nan if _is_missing(value) else float(value)


def _percent(value) -> float:
    return math.nan if _is_missing(value) else round(100 * float(value), 2)


def summary_table(metrics_list: Iterable[Mapping]) -> pd.DataFrame:
    """One row per variant: variant, set, the settings that differ, then the results.

    Settings are the SETTINGS keys of each metrics' `config` (flip and translate from its
    `plan`); a setting with the same value in every row is dropped, except `model`. `set` is
    dropped when all rows share it (and there are several rows); `diverged` ("epoch N") when no
    run diverged. Results: best val acc (%), test acc (%) (2 decimals), epochs run, stopped at
    (early-stopped runs only), train s (1 decimal), peak MB (0 decimals) from `timing`.
    """
    rows = []
    for m in metrics_list:
        row = {"variant": m["variant"], "set": m.get("set", "")}
        row.update({k: _setting(m, k) for k in SETTINGS})
        row.update(
            {
                "best val acc (%)": _percent(m.get("best_val_acc")),
                "test acc (%)": _percent(m.get("test_acc")),
                "epochs run": m.get("epochs_run"),
                "stopped at": m.get("stopped_epoch") if m.get("stopped_early") else "",
                "diverged": f"epoch {m.get('diverged_epoch')}" if m.get("diverged") else "",
                "train s": round(_timing(m, "train_seconds"), 1),
                "peak MB": round(_timing(m, "peak_rss_mb"), 0),
            }
        )
        rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    drop = [k for k in SETTINGS if k != "model" and df[k].astype(str).nunique() <= 1]
    if df["set"].nunique() <= 1 and len(df) > 1:
        drop.append("set")
    if not (df["diverged"] != "").any():
        drop.append("diverged")
    return df.drop(columns=drop)


def per_class_table(metrics_list: Iterable[Mapping]) -> pd.DataFrame:
    """Test accuracy (%) per class: a `variant` column, then one column per class, 2 decimals.

    Keys of `per_class_acc` may be class names or indices into `class_names`. Columns follow
    the first variant's classes, then any other class seen; a class a variant lacks (class
    pairs) is left empty (NaN).
    """
    rows, columns = [], ["variant"]
    for m in metrics_list:
        class_names = [str(c) for c in (m.get("class_names") or [])]
        row = {"variant": m["variant"]}
        for key, acc in (m.get("per_class_acc") or {}).items():
            key = str(key)
            if key not in class_names and key.isdigit() and int(key) < len(class_names):
                key = class_names[int(key)]
            row[key] = _percent(acc)
        columns += [c for c in row if c not in columns]
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def _benchmark_frame(bench) -> pd.DataFrame:
    if isinstance(bench, pd.DataFrame):
        return bench
    if isinstance(bench, str) and ("\t" in bench or "\n" in bench):
        return pd.read_csv(io.StringIO(bench), sep="\t", na_values=list(_BENCHMARK_NA))
    if isinstance(bench, (str, os.PathLike)):
        return pd.read_csv(bench, sep="\t", na_values=list(_BENCHMARK_NA))
    raise TypeError(f"benchmark is a {type(bench).__name__}; give a DataFrame, the TSV text or its path")


def benchmark_table(records: Iterable[Mapping]) -> pd.DataFrame:
    """One row per Snakemake job from its benchmark TSV, in the order given.

    records: {rule, job, path} (the TSV file), or {rule, job, benchmark} where benchmark is the
    parsed TSV (DataFrame) or its text; `wildcards` is accepted for `job`. "NA" and "-" (jobs
    too short to sample) are missing values. With `repeat()` (several rows) seconds, CPU time
    and load are means and max RSS the maximum.
    """
    rows = []
    for r in records:
        df = _benchmark_frame(r["benchmark"] if "benchmark" in r else r["path"])
        job = r.get("job", r.get("wildcards", ""))
        if "s" not in df.columns:
            raise ValueError(
                f"benchmark of rule {r.get('rule')} job {job} has no 's' column; pass a Snakemake benchmark TSV"
            )

        def column(name, df=df):
            return pd.to_numeric(df[name], errors="coerce") if name in df else pd.Series(dtype="float64")

        rows.append(
            {
                "rule": r.get("rule", ""),
                "job": job,
                "seconds": round(float(column("s").mean()), 2),
                "max RSS (MB)": round(float(column("max_rss").max()), 1),
                "cpu seconds": round(float(column("cpu_time").mean()), 2),
                "mean load (%)": round(float(column("mean_load").mean()), 1),
            }
        )
    return pd.DataFrame(rows, columns=list(BENCHMARK_COLUMNS))


def _float_format(x: float) -> str:
    return format(x, ".10g")


def _render(df: pd.DataFrame, fmt: str, index: bool) -> str:
    if fmt == "csv":
        return df.to_csv(index=index, lineterminator="\n")
    if fmt == "md":
        cells = df.astype(object).where(df.notna(), None)
        # a "|" in a cell (free text: a label) would end the cell: escaped, as GitHub's tables read it
        for col in range(cells.shape[1]):  # by position: a column name may repeat
            cells.iloc[:, col] = [x.replace("|", "\\|") if isinstance(x, str) else x for x in cells.iloc[:, col]]
        return cells.to_markdown(index=index, floatfmt=".10g", missingval="") + "\n"
    if fmt == "tex":
        text = df.to_latex(index=index, escape=True, na_rep="", float_format=_float_format)
        if "\\toprule" not in text:
            raise RuntimeError("pandas wrote LaTeX without booktabs rules; check the pandas version")
        # the Greek letters of derived labels ("λ 0.01") as math, which any LaTeX engine prints
        return text.replace("λ", "$\\lambda$").replace("η", "$\\eta$")
    raise ValueError(f"table format {fmt!r} is unknown; use 'csv', 'md' or 'tex'")


def write_table(
    df: pd.DataFrame,
    stem: str | os.PathLike,
    formats: Sequence[str] = ("csv", "md", "tex"),
    *,
    index: bool | None = None,
) -> list[Path]:
    """Write `stem.csv`, `stem.md` (pipe table) and/or `stem.tex` (booktabs tabular, escaped).

    `stem` is the path without extension (dots in it are kept: "lambda0.1" -> "lambda0.1.csv";
    a trailing .csv/.md/.tex is dropped).
    Each file is written atomically (`cifarflow.io.write_text`). Missing
    values are empty cells; floats print in their shortest form (31.29, not 31.290000). `index`
    defaults to writing the index only when it is named or not a plain 0..n-1 range.
    Returns the paths written.
    """
    if index is None:
        index = df.index.name is not None or not isinstance(df.index, pd.RangeIndex)
    stem = Path(stem)
    if stem.suffix in (".csv", ".md", ".tex"):  # given a file name rather than a stem
        stem = stem.with_suffix("")
    stem.parent.mkdir(parents=True, exist_ok=True)
    texts = {fmt: _render(df, fmt, index) for fmt in formats}  # render all before writing any
    paths = []
    for fmt, text in texts.items():
        final = stem.with_name(f"{stem.name}.{fmt}")
        write_text(final, text)
        paths.append(final)
    return paths


AGG_STEMS = ("test_acc", "best_val_acc", "selected_val_acc", "test_loss", "best_epoch", "stop_epoch")
"""Numbers aggregated over replicate seeds in summary.csv (`<stem>_mean/_std/_lo/_hi/_n`)."""

SELECTION_NOTE = (
    "Selection uses validation numbers only: the kept epoch is the best validation epoch (early "
    "stopping's monitor, val_loss or val_acc, or val_acc with select_best), else the last epoch; the "
    "test set is evaluated once, on the kept weights. Test numbers never choose an epoch or a variant."
)


def selected_by(metrics: Mapping) -> str:
    """Which number chose a run's kept epoch (always a validation number, or none)."""
    cfg = metrics.get("config") or {}
    es = cfg.get("early_stopping")
    if es:
        return f"{es.get('monitor', 'val_loss')} (early stopping)"
    if cfg.get("select_best"):
        return "val_acc (select_best)"
    return "none (last epoch)"


def _by_variant(metrics: list[Mapping]) -> dict[str, list[Mapping]]:
    out: dict[str, list[Mapping]] = {}
    for m in metrics:
        out.setdefault(m["variant"], []).append(m)
    for runs in out.values():
        runs.sort(key=lambda m: (m.get("config") or {}).get("seed", 0))
    return out


def per_seed_table(metrics_list: Iterable[Mapping]) -> pd.DataFrame:
    """Every run: the summary_table of the runs with a `seed` column after `variant`."""
    metrics = list(metrics_list)
    df = summary_table(metrics)
    if df.empty:
        return df
    df.insert(1, "seed", [(m.get("config") or {}).get("seed") for m in metrics])
    return df


def with_labels(df: pd.DataFrame, labels: Mapping[str, str] | None, first: bool = False) -> pd.DataFrame:
    """`df` with a `label` column: each row's variant's display label from `labels` (a variant not
    in it: its name), after the `variant` column, or (`first`, for the tables a reader reads) as
    the first column."""
    if df.empty or "variant" not in df.columns:
        return df
    out = df.copy()
    at = 0 if first else list(out.columns).index("variant") + 1
    out.insert(at, "label", [str((labels or {}).get(v) or v) for v in out["variant"]], allow_duplicates=True)
    return out


def aggregate_tables(metrics_list: Iterable[Mapping], confidence: float = 0.95):
    """(summary CSV frame, summary display frame, per-class CSV frame, per-class display frame).

    One row per variant over its replicate seeds. CSV: the settings that differ (as in
    summary_table), `n_seeds`, `seeds`, `selected by`, and `<stem>_mean/_std/_lo/_hi/_n` for
    AGG_STEMS (accuracies as fractions, lo/hi the 95% Student t interval of the mean). Display:
    "42.31 ± 0.12 (n=3)" strings (stats.format_pm)."""
    from cifarflow.report.stats import aggregate_runs, display_table, format_pm, summarize  # deferred: scipy

    groups = _by_variant(list(metrics_list))
    if not groups:
        empty = pd.DataFrame()
        return empty, empty, empty, empty
    first = summary_table([runs[0] for runs in groups.values()])
    settings = first[[c for c in first.columns if c in ("variant", "set", *SETTINGS)]]
    rows = [aggregate_runs(runs, name, confidence) for name, runs in groups.items()]
    numeric = pd.DataFrame(rows)
    cols = ["n_seeds", "seeds"] + [f"{st}_{k}" for st in AGG_STEMS for k in ("mean", "std", "lo", "hi", "n")]
    cols += ["n_test", "test_acc_total_lo", "test_acc_total_hi"]
    csv = settings.reset_index(drop=True).copy()
    csv["selected by"] = [selected_by(runs[0]) for runs in groups.values()]
    csv = pd.concat([csv, numeric[cols]], axis=1)
    shown = display_table(rows, stems=("test_acc", "best_val_acc", "test_loss", "best_epoch", "stop_epoch"))
    display = pd.concat([settings.reset_index(drop=True), shown.drop(columns=["variant"])], axis=1)
    display["selected by"] = csv["selected by"]
    # per class: accuracy of every class over the seeds
    class_names: list[str] = []
    for runs in groups.values():
        for c in runs[0].get("class_names") or []:
            if c not in class_names:
                class_names.append(c)
    pc_csv, pc_disp = [], []
    for name, runs in groups.items():
        r_csv, r_disp = {"variant": name}, {"variant": name}
        for c in class_names:
            vals = [(m.get("per_class_acc") or {}).get(c) for m in runs]
            if all(v is None for v in vals):
                continue
            s = summarize([math.nan if v is None else float(v) for v in vals], confidence)
            r_csv.update({f"{c}_mean": s.mean, f"{c}_std": s.std, f"{c}_lo": s.lo, f"{c}_hi": s.hi, f"{c}_n": s.n})
            r_disp[c] = format_pm(s)
        pc_csv.append(r_csv)
        pc_disp.append(r_disp)
    return csv, display, pd.DataFrame(pc_csv), pd.DataFrame(pc_disp)


def _with_note(path: Path, note: str) -> None:
    write_text(path, path.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + note + "\n")


def _tex_note(path: Path, note: str) -> None:
    tex_note = note
    for char, escaped in (("\\", r"\textbackslash{}"), ("%", r"\%"), ("&", r"\&"), ("_", r"\_"), ("#", r"\#")):
        tex_note = tex_note.replace(char, escaped)
    tex_note = tex_note.replace("±", r"$\pm$").replace("−", "-")
    # a paragraph after the tabular, so that it prints when the table is compiled (not a % comment)
    text = path.read_text(encoding="utf-8").rstrip("\n")
    write_text(path, text + "\n\n\\par\\smallskip\\noindent{\\footnotesize " + tex_note + "}\n")


def run_tables(metrics_paths, outdir, confidence: float = 0.95, labels: Mapping[str, str] | None = None) -> None:
    """From the runs' metrics.json files (every replicate seed of every variant), in `outdir`:
    summary.{csv,md,tex} and per_class.{csv,md} (one row per variant over its seeds: numeric mean,
    std, t interval and n in CSV, "mean ± half-width (n=...)" in Markdown/LaTeX with the footnote
    saying what ± is), and per_seed.{csv,md} (every run's own numbers). Each table has the
    variants' display `labels` (variant -> label; default: the names) in a `label` column
    (`with_labels`). Each metrics.json is checked against its run folder first
    (`cifarflow.io.read_run_metrics`)."""
    from cifarflow.report.stats import TOTAL_FOOTNOTE, pm_footnote  # deferred: scipy, which other tables do not need

    metrics = [read_run_metrics(p) for p in metrics_paths]
    outdir = Path(outdir)
    csv, display, pc_csv, pc_disp = aggregate_tables(metrics, confidence)
    pm_note = pm_footnote(confidence)
    note = pm_note + " " + TOTAL_FOOTNOTE + " " + SELECTION_NOTE
    write_table(with_labels(csv, labels), str(outdir / "summary"), formats=("csv",))
    write_table(with_labels(display, labels, first=True), str(outdir / "summary"), formats=("md", "tex"))
    _with_note(outdir / "summary.md", note)
    _tex_note(outdir / "summary.tex", note)
    write_table(with_labels(pc_csv, labels), str(outdir / "per_class"), formats=("csv",))
    write_table(with_labels(pc_disp, labels, first=True), str(outdir / "per_class"), formats=("md",))
    _with_note(outdir / "per_class.md", "Per-class test accuracy (%). " + pm_note)
    per_seed = per_seed_table(metrics)
    write_table(with_labels(per_seed, labels), str(outdir / "per_seed"), formats=("csv",))
    write_table(with_labels(per_seed, labels, first=True), str(outdir / "per_seed"), formats=("md",))
    _with_note(outdir / "per_seed.md", "One row per run (variant and replicate seed). " + SELECTION_NOTE)


def benchmark_files_table(files, out) -> None:
    """`out`.{csv,md}: one row per Snakemake benchmark file (rule = the folder under benchmarks/, job =
    the rest of its path without .tsv, e.g. train, soft/seed0)."""
    rows = []
    for f in map(Path, files):
        parts = f.with_suffix("").parts
        # benchmarks/<rule>/<job...>.tsv (a train job: benchmarks/train/<variant>/seed<s>.tsv)
        i = parts.index("benchmarks") + 1 if "benchmarks" in parts[:-2] else len(parts) - 2
        record = {"benchmark": _read_benchmark(f), "rule": parts[i], "job": "/".join(parts[i + 1 :])}
        try:
            rows.append(benchmark_table([record]))
        except ValueError as exc:
            raise DataError(f"{f}: not a Snakemake benchmark TSV ({exc})") from None
    table = pd.concat(rows, ignore_index=True) if rows else benchmark_table([])
    write_table(table, out, formats=("csv", "md"))


MAX_BENCHMARK_BYTES = 1_000_000  # one header and a line per repeat: a few hundred bytes


def _read_benchmark(path: Path) -> pd.DataFrame:
    """A benchmark TSV Snakemake wrote, as a DataFrame: a regular file of bounded size, UTF-8, tab
    separated. Anything else is a DataError naming the file (the job's own result is unaffected)."""
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"{path}: not a regular file, not a Snakemake benchmark TSV")
        if st.st_size > MAX_BENCHMARK_BYTES:
            raise DataError(f"{path}: {st.st_size:,} bytes, not a Snakemake benchmark TSV")
        with open(path, "rb") as fh:
            text = fh.read(MAX_BENCHMARK_BYTES + 1).decode("utf-8")
        df = _benchmark_frame(text if "\t" in text or "\n" in text else text + "\n")
        if "s" not in df.columns or df.empty or pd.to_numeric(df["s"], errors="coerce").isna().any():
            raise DataError(f"{path}: not a Snakemake benchmark TSV (no 's' column of seconds)")
        return df
    except OSError as exc:
        raise DataError(f"{path}: cannot read the benchmark ({exc.strerror})") from None
    except (ValueError, pd.errors.ParserError) as exc:  # UnicodeDecodeError, EmptyDataError too
        reason = " ".join(str(exc).split())[:160]
        raise DataError(f"{path}: not a Snakemake benchmark TSV ({reason})") from None
